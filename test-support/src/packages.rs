//! Test packages: [`PackageBuilder`] and its [`Slot`]s, written by `pspf::write_package` with
//! the launcher `build.rs` built and signed with the key of [`TEST_SEED`]; [`sh`] scripts as
//! commands, [`policy`] for `runtime.env`.

use super::launcher;
use pspf::encode::{Compression, compress};
use pspf::keys::SigningKey;
use pspf::metadata::{Metadata, Runtime, RuntimeEnv, Workenv, WorkenvDirectory};
use pspf::{Codec, Lifecycle, PackageSpec, Purpose, SlotInput, flavor_metadata, write_package};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Seed of the key the test packages are signed with.
pub const TEST_SEED: &str = "flavor-launcher-e2e";

/// The signing key of the test packages.
pub fn test_key() -> SigningKey {
    pspf::keys::signing_key_from_seed(TEST_SEED)
}

/// A `#!/bin/sh` script with `body`.
pub fn sh(body: &str) -> Vec<u8> {
    format!("#!/bin/sh\n{body}").into_bytes()
}

/// The decoded content of a slot.
pub enum Content {
    Bytes(Vec<u8>),
    /// A (large) file holding the decoded content.
    File(PathBuf),
}

/// One slot of a test package.
pub struct Slot {
    pub id: String,
    pub target: String,
    pub codec: Codec,
    pub content: Content,
    pub lifecycle: Lifecycle,
    pub mode: u32,
}

impl Slot {
    /// A single-file slot landing at `target` (e.g. `{workenv}/bin/app`).
    pub fn file(id: &str, target: &str, content: impl Into<Vec<u8>>, mode: u32) -> Slot {
        Slot {
            id: id.into(),
            target: target.into(),
            codec: Codec::Raw,
            content: Content::Bytes(content.into()),
            lifecycle: Lifecycle::Runtime,
            mode,
        }
    }

    /// A tar slot unpacked at the workenv root.
    pub fn tar(id: &str, archive: Vec<u8>) -> Slot {
        Slot {
            id: id.into(),
            target: "{workenv}".into(),
            codec: Codec::Tar,
            content: Content::Bytes(archive),
            lifecycle: Lifecycle::Runtime,
            mode: 0o644,
        }
    }

    /// Store with another codec (`Gzip`/`Zstd` for file slots, `TarGz`/`TarZst` for tar).
    pub fn codec(mut self, codec: Codec) -> Slot {
        self.codec = codec;
        self
    }

    /// Set the lifecycle by name (`"volatile"`, `"init"`, …).
    pub fn lifecycle(mut self, lifecycle: &str) -> Slot {
        self.lifecycle = Lifecycle::from_name(lifecycle)
            .unwrap_or_else(|| panic!("{lifecycle:?} is not a lifecycle"));
        self
    }
}

/// A package under construction: metadata from `pspf::flavor_metadata`, slots, signing key.
pub struct PackageBuilder {
    pub metadata: Metadata,
    pub slots: Vec<Slot>,
    pub seed: String,
}

impl PackageBuilder {
    pub fn new(name: &str, version: &str, command: &str) -> PackageBuilder {
        PackageBuilder {
            metadata: flavor_metadata(name, version, command, 0),
            slots: Vec::new(),
            seed: TEST_SEED.into(),
        }
    }

    /// A package whose command is the shell script `body`, installed as `{workenv}/bin/app`.
    pub fn app(name: &str, version: &str, body: &str) -> PackageBuilder {
        PackageBuilder::new(name, version, "{workenv}/bin/app").slot(Slot::file(
            "app",
            "{workenv}/bin/app",
            sh(body),
            0o755,
        ))
    }

    pub fn slot(mut self, slot: Slot) -> PackageBuilder {
        self.slots.push(slot);
        self
    }

    pub fn setup(mut self, command: Value) -> PackageBuilder {
        self.metadata
            .setup_commands
            .push(pspf::SetupEntry::from_json(command));
        self
    }

    pub fn exec_env(mut self, key: &str, value: &str) -> PackageBuilder {
        self.metadata.execution.env.insert(key.into(), value.into());
        self
    }

    pub fn workenv_env(mut self, key: &str, value: &str) -> PackageBuilder {
        self.workenv_mut().env.insert(key.into(), value.into());
        self
    }

    pub fn workenv_dir(mut self, path: &str, mode: &str) -> PackageBuilder {
        self.workenv_mut().directories.push(WorkenvDirectory {
            path: path.into(),
            mode: Some(mode.into()),
        });
        self
    }

    fn workenv_mut(&mut self) -> &mut Workenv {
        self.metadata.workenv.get_or_insert_with(Workenv::default)
    }

    pub fn runtime_env(mut self, policy: RuntimeEnv) -> PackageBuilder {
        self.metadata
            .runtime
            .get_or_insert_with(Runtime::default)
            .env = Some(policy);
        self
    }

    /// Record `runtime.min_glibc` (the oldest glibc the package runs on).
    pub fn min_glibc(mut self, version: &str) -> PackageBuilder {
        self.metadata
            .runtime
            .get_or_insert_with(Runtime::default)
            .min_glibc = Some(version.into());
        self
    }

    /// Write the package to `out` (atomically, as `flavor build` would) and return `out`.
    pub fn build(&self, out: &Path) -> PathBuf {
        let work = tempfile::tempdir().expect("a directory for encoded slots");
        let mut inputs = Vec::new();
        for (i, slot) in self.slots.iter().enumerate() {
            let (stored, decoded_size) = match (&slot.content, slot.codec) {
                (Content::File(path), Codec::Raw | Codec::Tar) => {
                    (path.clone(), fs::metadata(path).expect("slot file").len())
                }
                (content, codec) => {
                    let stored = work.path().join(format!("slot{i}"));
                    let output = File::create(&stored).expect("create an encoded slot");
                    let input: Box<dyn Read> = match content {
                        Content::Bytes(b) => Box::new(&b[..]),
                        Content::File(p) => Box::new(File::open(p).expect("slot file")),
                    };
                    let n = compress(codec, input, output, Compression::default())
                        .expect("encode a slot");
                    (stored, n)
                }
            };
            inputs.push(SlotInput {
                id: slot.id.clone(),
                source: slot.id.clone(),
                target: slot.target.clone(),
                codec: slot.codec,
                stored,
                stored_sha256: None,
                decoded_size,
                purpose: Purpose::Payload,
                lifecycle: slot.lifecycle,
                permissions: slot.mode,
            });
        }
        let key = pspf::keys::signing_key_from_seed(&self.seed);
        let spec = PackageSpec {
            launcher: &launcher(),
            metadata: self.metadata.clone(),
            slots: inputs,
            key: &key,
        };
        write_package(spec, out).expect("write a package");
        out.to_path_buf()
    }
}

/// A `runtime.env` policy.
pub fn policy(
    unset: &[&str],
    pass: &[&str],
    map: &[(&str, &str)],
    set: &[(&str, &str)],
) -> RuntimeEnv {
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let pairs = |v: &[(&str, &str)]| {
        v.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>()
    };
    RuntimeEnv {
        unset: strings(unset),
        pass: strings(pass),
        map: pairs(map),
        set: pairs(set),
    }
}

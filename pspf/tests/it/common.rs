//! Helpers of the pspf integration tests: the conformance kit (from `flavor-test-support`), a
//! deterministic byte generator, a sample tar tree, and a package builder that goes through the
//! real encoder and writer.
#![allow(dead_code)]

pub use flavor_test_support::kit::*;

use pspf::encode::{Compression, compress};
use pspf::{Codec, PackageSpec, SlotInput, flavor_metadata, write_package};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// splitmix64: a tiny deterministic generator, so test data is the same on every run.
pub struct Prng(u64);

impl Prng {
    pub fn new(seed: u64) -> Prng {
        Prng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Fill `buf` with bytes that compress somewhat: random 64-byte blocks mixed with repeats.
    pub fn fill_mixed(&mut self, buf: &mut [u8]) {
        const PHRASE: &[u8; 64] =
            b"PSPF/2025 test data: the quick brown fox jumps over 01234567890\n";
        for block in buf.chunks_mut(64) {
            if self.next_u64().is_multiple_of(3) {
                block.copy_from_slice(&PHRASE[..block.len()]);
            } else {
                for chunk in block.chunks_mut(8) {
                    let v = self.next_u64().to_le_bytes();
                    chunk.copy_from_slice(&v[..chunk.len()]);
                }
            }
        }
    }
}

/// `len` deterministic, partly compressible bytes.
pub fn sample_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut out = vec![0u8; len];
    Prng::new(seed).fill_mixed(&mut out);
    out
}

/// One entry of a sample tar tree.
#[derive(Debug, Clone)]
pub enum TreeEntry {
    Dir {
        path: &'static str,
        mode: u32,
    },
    File {
        path: &'static str,
        mode: u32,
        content: Vec<u8>,
    },
    Symlink {
        path: &'static str,
        target: &'static str,
    },
}

/// A small tree: a directory, files (one executable, one a few hundred KiB) and a symlink.
pub fn sample_tree() -> Vec<TreeEntry> {
    vec![
        TreeEntry::Dir {
            path: "bin",
            mode: 0o755,
        },
        TreeEntry::File {
            path: "bin/run.sh",
            mode: 0o755,
            content: b"#!/bin/sh\necho \"run $*\"\n".to_vec(),
        },
        TreeEntry::Dir {
            path: "share",
            mode: 0o755,
        },
        TreeEntry::File {
            path: "share/data.bin",
            mode: 0o644,
            content: sample_bytes(300_000, 7),
        },
        TreeEntry::File {
            path: "share/empty.txt",
            mode: 0o600,
            content: Vec::new(),
        },
        TreeEntry::Symlink {
            path: "bin/run",
            target: "run.sh",
        },
    ]
}

/// A ustar archive of `entries` (owner 0, mtime [`EPOCH`]) made with the `tar` crate.
pub fn make_tar(entries: &[TreeEntry]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_ustar();
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(EPOCH);
        match e {
            TreeEntry::Dir { path, mode } => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(*mode);
                h.set_size(0);
                h.set_path(format!("{path}/")).unwrap();
                h.set_cksum();
                builder.append(&h, io::empty()).unwrap();
            }
            TreeEntry::File {
                path,
                mode,
                content,
            } => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(*mode);
                h.set_size(content.len() as u64);
                h.set_path(path).unwrap();
                h.set_cksum();
                builder.append(&h, &content[..]).unwrap();
            }
            TreeEntry::Symlink { path, target } => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                h.set_size(0);
                h.set_path(path).unwrap();
                h.set_link_name(target).unwrap();
                h.set_cksum();
                builder.append(&h, io::empty()).unwrap();
            }
        }
    }
    builder.into_inner().unwrap()
}

/// What one slot of a test package is made from.
pub struct SlotSource {
    pub id: String,
    pub codec: Codec,
    /// The decoded content (a tar archive for tar codecs).
    pub input: Vec<u8>,
    pub target: String,
    pub permissions: u32,
}

impl SlotSource {
    /// A slot with a conventional target: `{workenv}` for tar codecs, `{workenv}/bin/<id>`
    /// otherwise.
    pub fn new(id: &str, codec: Codec, input: Vec<u8>) -> SlotSource {
        let target = if codec.is_tar() {
            "{workenv}".to_string()
        } else {
            format!("{{workenv}}/bin/{id}")
        };
        SlotSource {
            id: id.to_string(),
            codec,
            input,
            target,
            permissions: 0o755,
        }
    }
}

/// A package written by [`build_package`].
pub struct Built {
    pub path: PathBuf,
    /// The slot inputs handed to the writer (stored bytes in `stored`).
    pub slots: Vec<SlotInput>,
    pub summary: pspf::WriteSummary,
}

/// Encode every slot with [`compress`] (default level, one worker) into `dir`, then write
/// `dir/<name>.psp` with the kit's stub launcher and the seed-`conformance` key.
pub fn build_package(dir: &Path, name: &str, sources: &[SlotSource]) -> Built {
    let mut slots = Vec::new();
    for s in sources {
        let stored = dir.join(format!("{name}.{}.{}", s.id, s.codec.name()));
        let out = fs::File::create(&stored).unwrap();
        let decoded_size = compress(s.codec, &s.input[..], out, Compression::default()).unwrap();
        assert_eq!(decoded_size, s.input.len() as u64);
        slots.push(SlotInput {
            id: s.id.clone(),
            source: format!("inputs/{}", s.id),
            target: s.target.clone(),
            codec: s.codec,
            stored,
            stored_sha256: None,
            decoded_size,
            purpose: pspf::Purpose::Payload,
            lifecycle: pspf::Lifecycle::Runtime,
            permissions: s.permissions,
        });
    }
    let path = dir.join(format!("{name}.psp"));
    let summary = write_spec(&path, name, slots.clone());
    Built {
        path,
        slots,
        summary,
    }
}

/// Write a package from ready slot inputs (stub launcher, seed-`conformance` key).
pub fn write_spec(out: &Path, name: &str, slots: Vec<SlotInput>) -> pspf::WriteSummary {
    let launcher = stub_launcher();
    let key = seed_key();
    let spec = PackageSpec {
        launcher: &launcher,
        metadata: flavor_metadata(name, "1.2.3", "{workenv}/bin/run.sh", EPOCH),
        slots,
        key: &key,
    };
    write_package(spec, out).unwrap()
}

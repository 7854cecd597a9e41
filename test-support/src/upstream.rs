//! FlavorPack's own launchers (Rust and Go, version 0.5.4) for every platform upstream ships,
//! taken from the `flavorpack==0.5.4` wheels on PyPI — one wheel per platform, each holding
//! that platform's four helpers in `flavor/helpers/bin/` (`flavor-{rs,go}-{launcher,builder}-
//! 0.5.4-<os>_<arch>[.exe]`).
//!
//! [`launcher`] downloads the platform's wheel once (pinned by sha256), unpacks its helpers
//! into `target/flavor-fixtures/upstream/flavorpack-0.5.4/<platform>/` under a lock, and checks
//! that the executable header (ELF machine, Mach-O cputype, PE machine, read with `object`)
//! is the platform asked for before handing the path out. [`platform_of`] is that check, for
//! any file.

use crate::fixture_cache::{kind_dir, locked, sha256_file, staging};
use crate::need;
use object::{Architecture, BinaryFormat, Object};
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The upstream release these launchers come from.
pub const VERSION: &str = "0.5.4";

/// One platform's wheel: our platform name, the wheel's platform tag, its file name and
/// sha256, and the `<os>_<arch>` suffix of the helpers inside.
struct Wheel {
    platform: &'static str,
    tag: &'static str,
    file: &'static str,
    sha256: &'static str,
    suffix: &'static str,
}

/// Every platform `flavorpack==0.5.4` has a wheel for (all five, as of that release).
const WHEELS: [Wheel; 5] = [
    Wheel {
        platform: "linux-x86_64",
        tag: "manylinux2014_x86_64",
        file: "flavorpack-0.5.4-py3-none-manylinux2014_x86_64.whl",
        sha256: "a3efa7299d8e9d974ad5586c37b7805b24b1dbc29db9b1c7074ad21440acbd94",
        suffix: "linux_amd64",
    },
    Wheel {
        platform: "linux-aarch64",
        tag: "manylinux2014_aarch64",
        file: "flavorpack-0.5.4-py3-none-manylinux2014_aarch64.whl",
        sha256: "d37dbea137f10c0831e6f7c9d300e51df09407e4773dc36e536eb97fde6041b0",
        suffix: "linux_arm64",
    },
    Wheel {
        platform: "darwin-x86_64",
        tag: "macosx_10_9_x86_64",
        file: "flavorpack-0.5.4-py3-none-macosx_10_9_x86_64.whl",
        sha256: "44c1fc39f00845c80993f8e80bdd818f6a2151491f6fe30e61e7653bae62943e",
        suffix: "darwin_amd64",
    },
    Wheel {
        platform: "darwin-arm64",
        tag: "macosx_11_0_arm64",
        file: "flavorpack-0.5.4-py3-none-macosx_11_0_arm64.whl",
        sha256: "3b697457416028f07be12ad5410c4e1735b9da1fc5831641464bf521e0c8c611",
        suffix: "darwin_arm64",
    },
    Wheel {
        platform: "windows-x86_64",
        tag: "win_amd64",
        file: "flavorpack-0.5.4-py3-none-win_amd64.whl",
        sha256: "908b5ad7a668c998bf9188050d346ee7e480efdee959ae09b7ae3263aea1e8a1",
        suffix: "windows_amd64",
    },
];

/// The platforms upstream launchers exist for (`<os>-<arch>`).
pub fn platforms() -> impl Iterator<Item = &'static str> {
    WHEELS.iter().map(|w| w.platform)
}

/// Which upstream implementation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `flavor-rs-launcher` (reads raw, gzip, tar and tar.gz slots).
    Rust,
    /// `flavor-go-launcher`.
    Go,
}

impl Kind {
    fn short(self) -> &'static str {
        match self {
            Kind::Rust => "rs",
            Kind::Go => "go",
        }
    }
}

/// An upstream launcher on disk, checked to be for [`UpstreamLauncher::platform`].
#[derive(Debug, Clone)]
pub struct UpstreamLauncher {
    /// `linux-aarch64`, `darwin-arm64`, …
    pub platform: &'static str,
    /// Rust or Go.
    pub kind: Kind,
    /// The executable, mode 0755.
    pub path: PathBuf,
    /// Where it came from: `flavorpack 0.5.4 <wheel file> (sha256 …): flavor/helpers/bin/<name>`.
    pub origin: String,
}

/// The upstream `kind` launcher for `platform` (one of [`platforms`]), fetched and unpacked on
/// first use; `None` (the [`need`] rule) when PyPI or pip cannot be reached.
///
/// Panics on a platform upstream has no launcher for, or when the unpacked file's header is
/// not that platform's.
pub fn launcher(platform: &str, kind: Kind) -> Option<UpstreamLauncher> {
    helper(platform, kind, "launcher")
}

/// The upstream `kind` *builder* for `platform` (`flavor-{rs,go}-builder`), like [`launcher`].
pub fn builder(platform: &str, kind: Kind) -> Option<UpstreamLauncher> {
    helper(platform, kind, "builder")
}

fn helper(platform: &str, kind: Kind, role: &str) -> Option<UpstreamLauncher> {
    let wheel = WHEELS
        .iter()
        .find(|w| w.platform == platform)
        .unwrap_or_else(|| {
            panic!(
                "no upstream launcher for platform {platform:?}; FlavorPack {VERSION} has: {}",
                platforms().collect::<Vec<_>>().join(", ")
            )
        });
    let dir = unpacked(wheel)?;
    let exe = if wheel.platform.starts_with("windows") {
        ".exe"
    } else {
        ""
    };
    let name = format!(
        "flavor-{}-{role}-{VERSION}-{}{exe}",
        kind.short(),
        wheel.suffix
    );
    let path = dir.join(&name);
    let found = platform_of(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        found,
        platform,
        "{} from {} is a {found} executable, not {platform}",
        path.display(),
        wheel.file
    );
    Some(UpstreamLauncher {
        platform: wheel.platform,
        kind,
        path,
        origin: format!(
            "flavorpack {VERSION} {} (sha256 {}): flavor/helpers/bin/{name}",
            wheel.file, wheel.sha256
        ),
    })
}

/// The directory holding `wheel`'s helpers, unpacked once.
fn unpacked(wheel: &Wheel) -> Option<PathBuf> {
    let root = kind_dir(&format!("upstream/flavorpack-{VERSION}"));
    let dir = root.join(wheel.platform);
    if dir.is_dir() {
        return Some(dir);
    }
    locked(&root, wheel.platform, || {
        if dir.is_dir() {
            return Some(dir.clone());
        }
        let file = fetch_wheel(wheel)?;
        let stage = staging(&root);
        let names = unzip_helpers(&file, stage.path())
            .unwrap_or_else(|e| panic!("cannot unpack {}: {e}", file.display()));
        assert_eq!(names, 4, "{} holds {names} helpers, expected 4", wheel.file);
        fs::rename(stage.keep(), &dir)
            .unwrap_or_else(|e| panic!("cannot publish {}: {e}", dir.display()));
        Some(dir.clone())
    })
}

/// The wheel file, downloaded with pip once (its sha256 checked) into
/// `target/flavor-fixtures/upstream/wheels/`.
fn fetch_wheel(wheel: &Wheel) -> Option<PathBuf> {
    let dir = kind_dir("upstream/wheels");
    let path = dir.join(wheel.file);
    if sha256_file(&path).is_ok_and(|h| h == wheel.sha256) {
        return Some(path);
    }
    let stage = staging(&dir);
    let mut pip = crate::ci_tools::pip()?;
    pip.args(["download", "--quiet", "--no-deps", "--only-binary=:all:"])
        .args(["--python-version", "3.12", "--platform", wheel.tag])
        .arg(format!("flavorpack=={VERSION}"))
        .arg("--dest")
        .arg(stage.path());
    if let Err(e) = crate::fixture_cache::run_checked(&mut pip) {
        return need::missing(
            format_args!("cannot download {} from PyPI: {e}", wheel.file),
            "CI reaches PyPI; elsewhere check the network",
        );
    }
    let got = stage.path().join(wheel.file);
    let sha = sha256_file(&got).unwrap_or_else(|e| panic!("pip left no {}: {e}", wheel.file));
    assert_eq!(
        sha, wheel.sha256,
        "{} from PyPI has sha256 {sha}, pinned {}: refusing it",
        wheel.file, wheel.sha256
    );
    fs::rename(&got, &path).unwrap_or_else(|e| panic!("publish {}: {e}", path.display()));
    Some(path)
}

/// Unpack `flavor/helpers/bin/*` of a wheel into `dest` (flat, mode 0755); how many.
fn unzip_helpers(wheel: &Path, dest: &Path) -> io::Result<usize> {
    let mut zip = zip::ZipArchive::new(fs::File::open(wheel)?).map_err(io::Error::other)?;
    let mut count = 0;
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(io::Error::other)?;
        let full = entry.name().map_err(io::Error::other)?.into_owned();
        let Some(name) = full.strip_prefix("flavor/helpers/bin/") else {
            continue;
        };
        if name.is_empty() || name.contains('/') || name.starts_with('.') {
            continue;
        }
        let out = dest.join(name);
        io::copy(&mut entry, &mut fs::File::create(&out)?)?;
        fs::set_permissions(&out, fs::Permissions::from_mode(0o755))?;
        count += 1;
    }
    Ok(count)
}

/// The `<os>-<arch>` platform an executable's header says it is for: ELF x86-64 / AArch64 →
/// `linux-x86_64` / `linux-aarch64`, Mach-O → `darwin-…`, PE → `windows-…`; an error naming
/// the file for anything else.
pub fn platform_of(path: &Path) -> Result<String, String> {
    let data = fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let file = object::File::parse(&*data)
        .map_err(|e| format!("{} is not an executable: {e}", path.display()))?;
    let os = match file.format() {
        BinaryFormat::Elf => "linux",
        BinaryFormat::MachO => "darwin",
        BinaryFormat::Pe => "windows",
        other => return Err(format!("{}: unexpected format {other:?}", path.display())),
    };
    let arch = match (file.architecture(), file.is_64()) {
        (Architecture::X86_64, true) => "x86_64",
        (Architecture::Aarch64, true) if os == "darwin" => "arm64",
        (Architecture::Aarch64, true) => "aarch64",
        (arch, is_64) => {
            return Err(format!(
                "{}: unexpected architecture {arch:?} (64-bit: {is_64})",
                path.display()
            ));
        }
    };
    Ok(format!("{os}-{arch}"))
}

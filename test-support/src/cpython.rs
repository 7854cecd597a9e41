//! A relocatable CPython 3.12 made at test time from the machine's pyenv CPython 3.12, packed
//! as python-build-standalone's "install_only" archive (`python/bin/python3`, `python/lib/…`):
//! the interpreter input for `[python]` tests.
//!
//! pyenv builds with `--enable-shared` and an absolute RUNPATH, so a plain copy *appears* to
//! run elsewhere while it silently loads the host's libpython and standard library. The
//! recipe (`build`) therefore: copies `bin/python3.12` (+ the `python3`/`python` links),
//! `lib/libpython3*`, `include/` and the standard library without `test`/`tests`, `idlelib`,
//! `tkinter` (+ `_tkinter`), `turtledemo`, `ensurepip`, `config-3.12-*`, `__pycache__` and the
//! host's site-packages; strips the ELF files; sets RUNPATH `$ORIGIN/../lib` on the
//! executable, `$ORIGIN` on libpython and `$ORIGIN/../..` on `lib-dynload/*.so` with
//! patchelf; checks that no RUNPATH names the source; and writes a deterministic tar.gz
//! with GNU tar (sorted, mtime [`EPOCH`], owner 0).
//!
//! The archive is cached as `target/flavor-fixtures/cpython/cpython-<version>+<key>-x86_64-
//! unknown-linux-gnu-install_only.tar.gz`, `<key>` hashing the recipe and the identity of the
//! source's executable and libpython, built once per machine under a lock.

use crate::fixture_cache::{kind_dir, locked, run_checked, sha256_bytes, staging};
use crate::need;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The mtime of every archive entry.
pub const EPOCH: u64 = 1_700_000_000;

/// Bump when the recipe changes: it is part of the cache key.
const RECIPE: &str = "flavor cpython fixture recipe 2";

/// The pbs-style target triple in the archive name.
const TRIPLE: &str = "x86_64-unknown-linux-gnu";

/// A built fixture archive.
#[derive(Debug, Clone)]
pub struct RelocatablePython {
    /// `…-install_only.tar.gz`: one top directory `python/`.
    pub archive: PathBuf,
    /// `3.12.1`.
    pub version: String,
    /// The pyenv prefix it was made from.
    pub source: PathBuf,
}

/// The fixture made from pyenv's CPython 3.12 (`$FLAVOR_FIXTURE_CPYTHON` may name another
/// 3.12 prefix), built on first use; `None` by the [`need`] rule when there is no such
/// interpreter or no patchelf/strip.
pub fn cpython312() -> Option<&'static RelocatablePython> {
    static BUILT: OnceLock<Option<RelocatablePython>> = OnceLock::new();
    BUILT.get_or_init(prepare).as_ref()
}

fn prepare() -> Option<RelocatablePython> {
    let source = source_prefix()?;
    let patchelf = need::command("patchelf", "patchelf")?;
    let strip = need::command("strip", "binutils")?;
    let version = run_checked(Command::new(source.join("bin/python3.12")).args([
        "-I",
        "-c",
        "import platform; print(platform.python_version())",
    ]))
    .unwrap_or_else(|e| panic!("the source interpreter does not run: {e}"))
    .trim()
    .to_string();
    let key = cache_key(&source);
    let dir = kind_dir("cpython");
    let archive = dir.join(format!(
        "cpython-{version}+{key}-{TRIPLE}-install_only.tar.gz"
    ));
    if !archive.is_file() {
        locked(&dir, "build", || {
            if !archive.is_file() {
                let tools = Tools { patchelf, strip };
                build(&source, &archive, &tools)
                    .unwrap_or_else(|e| panic!("building {}: {e}", archive.display()));
            }
        });
    }
    Some(RelocatablePython {
        archive,
        version,
        source,
    })
}

/// `$FLAVOR_FIXTURE_CPYTHON`, else the newest `<pyenv root>/versions/3.12.*` with a shared
/// libpython.
fn source_prefix() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("FLAVOR_FIXTURE_CPYTHON") {
        return Some(PathBuf::from(p));
    }
    let root = std::env::var_os("PYENV_ROOT")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".pyenv")))?;
    let mut found: Vec<(u32, PathBuf)> = fs::read_dir(root.join("versions"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let patch = name.strip_prefix("3.12.")?.parse::<u32>().ok()?;
            let p = e.path();
            p.join("lib/libpython3.12.so.1.0")
                .is_file()
                .then_some((patch, p))
        })
        .collect();
    found.sort();
    match found.pop() {
        Some((_, p)) => Some(p),
        None => need::missing(
            format_args!(
                "no pyenv CPython 3.12 with a shared libpython under {}",
                root.display()
            ),
            "machines of this kind have one; or set FLAVOR_FIXTURE_CPYTHON to a 3.12 prefix",
        ),
    }
}

/// The cache key: the recipe, the source path, and the identity of its executable and
/// libpython (size, mtime, inode — a rebuilt or replaced interpreter gets a new key; hashing
/// 30 MB in an unoptimised test build would cost seconds on every run).
fn cache_key(source: &Path) -> String {
    use std::os::unix::fs::MetadataExt;
    let mut text = format!("{RECIPE}\n{}\n", source.display());
    for f in ["bin/python3.12", "lib/libpython3.12.so.1.0"] {
        let m = fs::metadata(source.join(f))
            .unwrap_or_else(|e| panic!("{}: {e}", source.join(f).display()));
        let (size, mtime, nsec, ino) = (m.size(), m.mtime(), m.mtime_nsec(), m.ino());
        text.push_str(&format!("{f} {size} {mtime}.{nsec:09} {ino}\n"));
    }
    sha256_bytes(text.as_bytes())[..16].to_string()
}

/// The host tools the recipe runs.
struct Tools {
    patchelf: PathBuf,
    strip: PathBuf,
}

/// Make the archive at `archive` from `source` (see the module documentation).
fn build(source: &Path, archive: &Path, tools: &Tools) -> Result<(), String> {
    let dir = archive.parent().expect("the archive has a directory");
    let stage = staging(dir);
    let root = stage.path().join("python");
    copy_pruned(source, &root, Path::new("")).map_err(|e| format!("copy: {e}"))?;
    let stdlib = root.join("lib/python3.12");
    fs::create_dir_all(stdlib.join("site-packages")).map_err(|e| e.to_string())?;
    let mut dynload: Vec<PathBuf> = fs::read_dir(stdlib.join("lib-dynload"))
        .map_err(|e| e.to_string())?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "so"))
        .collect();
    dynload.sort();
    let exe = root.join("bin/python3.12");
    let libs = [
        root.join("lib/libpython3.12.so.1.0"),
        root.join("lib/libpython3.so"),
    ];
    let libs: Vec<&PathBuf> = libs.iter().filter(|p| p.is_file()).collect();
    let all: Vec<&Path> = std::iter::once(exe.as_path())
        .chain(libs.iter().map(|p| p.as_path()))
        .chain(dynload.iter().map(PathBuf::as_path))
        .collect();
    for f in &all {
        run_checked(Command::new(&tools.strip).arg("--strip-unneeded").arg(f))?;
    }
    set_rpath(&tools.patchelf, "$ORIGIN/../lib", &[&exe])?;
    set_rpath(&tools.patchelf, "$ORIGIN", &libs)?;
    set_rpath(&tools.patchelf, "$ORIGIN/../..", &dynload)?;
    for f in &all {
        let rpath = run_checked(Command::new(&tools.patchelf).arg("--print-rpath").arg(f))?;
        if rpath.contains(&*source.to_string_lossy()) {
            return Err(format!("{} still has RUNPATH {rpath}", f.display()));
        }
    }
    let tmp = stage.path().join("archive.tar.gz");
    write_archive(stage.path(), "python", &tmp)?;
    fs::rename(&tmp, archive).map_err(|e| format!("publish: {e}"))
}

fn set_rpath(patchelf: &Path, rpath: &str, files: &[impl AsRef<Path>]) -> Result<(), String> {
    for f in files {
        run_checked(
            Command::new(patchelf)
                .args(["--set-rpath", rpath])
                .arg(f.as_ref()),
        )?;
    }
    Ok(())
}

/// Whether the entry at `rel` (relative to the source prefix) is part of the fixture.
fn keep(rel: &Path, is_dir: bool) -> bool {
    let parts: Vec<&str> = rel.iter().filter_map(|c| c.to_str()).collect();
    let name = parts.last().copied().unwrap_or("");
    match parts.as_slice() {
        [_] => ["bin", "lib", "include"].contains(&name),
        ["bin", _] => ["python3.12", "python3", "python"].contains(&name),
        ["lib", _] => {
            (name.starts_with("libpython3") && !name.ends_with(".a")) || name == "python3.12"
        }
        ["lib", "python3.12", "site-packages", ..] => false,
        ["lib", "python3.12", "lib-dynload", _] => !name.starts_with("_tkinter"),
        ["lib", "python3.12", _] if is_dir => {
            ![
                "idlelib",
                "tkinter",
                "turtledemo",
                "ensurepip",
                "__pycache__",
                "test",
            ]
            .contains(&name)
                && !name.starts_with("config-")
        }
        ["lib", "python3.12", ..] if is_dir => !["__pycache__", "test", "tests"].contains(&name),
        _ => true,
    }
}

/// Copy the kept part of `from/rel` into `to/rel`: directories, regular files (mode kept) and
/// relative symlinks; an absolute symlink is an error (it would point at the host).
fn copy_pruned(from: &Path, to: &Path, rel: &Path) -> io::Result<()> {
    fs::create_dir_all(to.join(rel))?;
    let mut entries: Vec<_> = fs::read_dir(from.join(rel))?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let rel = rel.join(e.file_name());
        let ty = e.file_type()?;
        if !keep(&rel, ty.is_dir()) {
            continue;
        }
        let (src, dst) = (from.join(&rel), to.join(&rel));
        if ty.is_symlink() {
            let target = fs::read_link(&src)?;
            if target.is_absolute() {
                return Err(io::Error::other(format!(
                    "{} is an absolute symlink to {}",
                    src.display(),
                    target.display()
                )));
            }
            std::os::unix::fs::symlink(target, dst)?;
        } else if ty.is_dir() {
            copy_pruned(from, to, &rel)?;
        } else if ty.is_file() {
            fs::copy(&src, &dst)?;
        }
    }
    Ok(())
}

/// Write `<base>/<top>` as a deterministic tar.gz at `out` with GNU tar and gzip (sorted
/// names, fixed mtime, owner 0, no extended attributes, no name or time in the gzip header).
fn write_archive(base: &Path, top: &str, out: &Path) -> Result<(), String> {
    run_checked(
        Command::new("tar")
            .args(["--create", "--format=gnu", "--sort=name"])
            .arg(format!("--mtime=@{EPOCH}"))
            .args(["--owner=0", "--group=0", "--numeric-owner"])
            .args(["--no-acls", "--no-xattrs", "--no-selinux"])
            .args(["--use-compress-program", "gzip -6 -n", "--file"])
            .arg(out)
            .arg("--directory")
            .arg(base)
            .arg(top),
    )
    .map(drop)
}

impl RelocatablePython {
    /// Unpack the archive into `dir` (symlinks and modes kept); returns `dir/python`.
    pub fn unpack_into(&self, dir: &Path) -> PathBuf {
        run_checked(
            Command::new("tar")
                .args(["--extract", "--gzip", "--preserve-permissions", "--file"])
                .arg(&self.archive)
                .arg("--directory")
                .arg(dir),
        )
        .unwrap_or_else(|e| panic!("unpack {}: {e}", self.archive.display()));
        dir.join("python")
    }

    /// `<root>/bin/python3` of an unpacked fixture.
    pub fn python3(root: &Path) -> PathBuf {
        root.join("bin/python3")
    }
}

//! The interpreter tree: a python-build-standalone `install_only` archive (`python/bin/python3`,
//! `python/lib/python3.N/…`) unpacked with pspf's safe unpacker, normalised, and its standard
//! library precompiled.
//!
//! Normalising drops what a packaged application must not carry: `EXTERNALLY-MANAGED` (it
//! would stop installs into the tree), whatever the archive has in `site-packages` (pip),
//! scripts in `bin/` whose shebang names a program by an absolute path outside `/bin` and
//! `/usr/bin` (the machine the archive was built on), the
//! test suites, IDLE, tkinter and turtledemo, and every `__pycache__` (the stdlib is compiled
//! again, hash-based: flavor's fixed mtimes would make timestamp `.pyc` stale, so the first
//! run would rewrite them).

use super::model_bytecode_mode;
use crate::manifest::Bytecode;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Why an interpreter archive cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum InterpreterError {
    /// Reading or unpacking failed.
    #[error("{}: {why}", path.display())]
    Unpack {
        /// The archive (or the file being changed).
        path: PathBuf,
        /// Why.
        why: String,
    },
    /// The archive does not have python-build-standalone's `install_only` layout.
    #[error(
        "{}: not a python-build-standalone \"install_only\" archive: {why}",
        archive.display()
    )]
    Layout {
        /// The archive.
        archive: PathBuf,
        /// What is missing.
        why: String,
    },
    /// Precompiling the standard library failed.
    #[error("precompiling the standard library with {}: {why}", python.display())]
    Compile {
        /// The interpreter that ran compileall.
        python: PathBuf,
        /// Its output.
        why: String,
    },
}

/// An unpacked, normalised interpreter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterpreterTree {
    /// `<dest>/python`.
    pub root: PathBuf,
    /// `12` for CPython 3.12.
    pub minor: u32,
}

impl InterpreterTree {
    /// `<root>/lib/python3.N`.
    pub fn stdlib(&self) -> PathBuf {
        self.root.join(format!("lib/python3.{}", self.minor))
    }

    /// `<root>/bin/python3`.
    pub fn python3(&self) -> PathBuf {
        self.root.join("bin/python3")
    }
}

/// Directories of the standard library never shipped.
const PRUNED: [&str; 5] = ["test", "idlelib", "tkinter", "turtledemo", "__pycache__"];

/// Unpack `archive` (a tar, gzip- or zstd-compressed or not, told apart by content) into the empty directory `dest`,
/// check its layout and normalise it (see the module documentation). Compiles nothing.
pub fn unpack(archive: &Path, dest: &Path) -> Result<InterpreterTree, InterpreterError> {
    let failed = |why: String| InterpreterError::Unpack {
        path: archive.to_path_buf(),
        why,
    };
    let reader = open(archive)?;
    pspf::extract::unpack_tar(reader, dest).map_err(|e| failed(e.to_string()))?;
    let root = dest.join("python");
    let layout = |why: &str| InterpreterError::Layout {
        archive: archive.to_path_buf(),
        why: why.into(),
    };
    if fs::symlink_metadata(root.join("bin/python3")).is_err() {
        return Err(layout("it has no python/bin/python3"));
    }
    let minors: Vec<u32> = fs::read_dir(root.join("lib"))
        .map_err(|_| layout("it has no python/lib"))?
        .flatten()
        .filter(|e| e.path().join("os.py").is_file())
        .filter_map(|e| {
            e.file_name()
                .to_str()?
                .strip_prefix("python3.")?
                .parse()
                .ok()
        })
        .collect();
    let [minor] = minors[..] else {
        return Err(layout(
            "expected exactly one python/lib/python3.N with os.py",
        ));
    };
    let tree = InterpreterTree { root, minor };
    normalise(&tree).map_err(|(path, e)| InterpreterError::Unpack {
        path,
        why: e.to_string(),
    })?;
    Ok(tree)
}

/// `archive` decoded: gzip, zstd or plain tar, told apart by content (not by name: the
/// archive may be a blob of the build cache).
fn open(archive: &Path) -> Result<Box<dyn Read>, InterpreterError> {
    let failed = |why: String| InterpreterError::Unpack {
        path: archive.to_path_buf(),
        why,
    };
    let mut file = fs::File::open(archive).map_err(|e| failed(e.to_string()))?;
    let mut magic = [0u8; 4];
    let n = file.read(&mut magic).map_err(|e| failed(e.to_string()))?;
    let file = std::io::Cursor::new(magic[..n].to_vec()).chain(file);
    Ok(match magic {
        [0x1f, 0x8b, ..] => Box::new(flate2::read::GzDecoder::new(file)),
        [0x28, 0xb5, 0x2f, 0xfd] => {
            Box::new(zstd::Decoder::new(file).map_err(|e| failed(e.to_string()))?)
        }
        _ => Box::new(file),
    })
}

/// The minor version (`12` for CPython 3.12) of the interpreter in `archive`, to choose
/// wheels when planning: from a python-build-standalone file name (`cpython-3.12.…`), else
/// from the first `python/lib/python3.N/` or `python/include/python3.N/` entry of the archive
/// (near its start in the layout).
pub fn minor_of(archive: &Path) -> Result<u32, InterpreterError> {
    let name = archive
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    if let Some(minor) = name.strip_prefix("cpython-3.").and_then(leading_number) {
        return Ok(minor);
    }
    let failed = |why: String| InterpreterError::Unpack {
        path: archive.to_path_buf(),
        why,
    };
    let mut tar = tar::Archive::new(open(archive)?);
    for entry in tar.entries().map_err(|e| failed(e.to_string()))? {
        let entry = entry.map_err(|e| failed(e.to_string()))?;
        let path = entry.path_bytes();
        let path = String::from_utf8_lossy(&path);
        let found = ["python/lib/python3.", "python/include/python3."]
            .iter()
            .find_map(|p| path.strip_prefix(p).and_then(leading_number));
        if let Some(minor) = found {
            return Ok(minor);
        }
    }
    Err(InterpreterError::Layout {
        archive: archive.to_path_buf(),
        why: "it has no python/lib/python3.N".into(),
    })
}

/// The number `text` starts with, if it is followed by `.`, `/` or `-` (or nothing).
fn leading_number(text: &str) -> Option<u32> {
    let digits: String = text.chars().take_while(char::is_ascii_digit).collect();
    let rest = &text[digits.len()..];
    (rest.is_empty() || rest.starts_with(['.', '/', '-', '+']))
        .then(|| digits.parse().ok())
        .flatten()
}

type IoAt = (PathBuf, std::io::Error);

fn normalise(tree: &InterpreterTree) -> Result<(), IoAt> {
    let at = |p: &Path| {
        let p = p.to_path_buf();
        move |e| (p, e)
    };
    let stdlib = tree.stdlib();
    let managed = stdlib.join("EXTERNALLY-MANAGED");
    if managed.exists() {
        fs::remove_file(&managed).map_err(at(&managed))?;
    }
    prune(&stdlib)?;
    // The archive's own site-packages (pip, in python-build-standalone's builds): the
    // application's packages live in its `site` tree, and pip is never run from a package.
    let site = stdlib.join("site-packages");
    if site.is_dir() {
        fs::remove_dir_all(&site).map_err(at(&site))?;
        fs::create_dir(&site).map_err(at(&site))?;
    }
    let dynload = stdlib.join("lib-dynload");
    for e in fs::read_dir(&dynload).into_iter().flatten().flatten() {
        if e.file_name().to_string_lossy().starts_with("_tkinter") {
            fs::remove_file(e.path()).map_err(at(&e.path()))?;
        }
    }
    let bin = tree.root.join("bin");
    for e in fs::read_dir(&bin).map_err(at(&bin))?.flatten() {
        let path = e.path();
        if e.file_type().is_ok_and(|t| t.is_file()) && foreign_shebang(&path) {
            fs::remove_file(&path).map_err(at(&path))?;
        }
    }
    Ok(())
}

/// Remove [`PRUNED`] directories (and `tests`) anywhere below `dir`.
fn prune(dir: &Path) -> Result<(), IoAt> {
    let entries = fs::read_dir(dir).map_err(|e| (dir.to_path_buf(), e))?;
    for e in entries.flatten() {
        if !e.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let name = e.file_name();
        let name = name.to_string_lossy();
        if PRUNED.contains(&&*name) || name == "tests" {
            fs::remove_dir_all(e.path()).map_err(|err| (e.path(), err))?;
        } else {
            prune(&e.path())?;
        }
    }
    Ok(())
}

/// A `#!` script whose interpreter is an absolute path outside `/bin` and `/usr/bin`.
fn foreign_shebang(path: &Path) -> bool {
    let mut head = [0u8; 256];
    let n = fs::File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .unwrap_or(0);
    let Some(line) = head[..n].strip_prefix(b"#!") else {
        return false;
    };
    let line = String::from_utf8_lossy(line);
    let program = line.split_whitespace().next().unwrap_or("");
    program.starts_with('/') && !program.starts_with("/bin/") && !program.starts_with("/usr/bin/")
}

/// Precompile `dirs` (inside `base`) with the tree's own interpreter, hash-based as `mode`
/// says, every file (`-f`: imports made by the compiling interpreter itself leave
/// timestamp `.pyc` behind otherwise), with `base` stripped from the recorded source paths so
/// that no build path ends up in the package. Does nothing for [`Bytecode::None`].
pub fn precompile(
    tree: &InterpreterTree,
    base: &Path,
    dirs: &[&Path],
    mode: Bytecode,
) -> Result<(), InterpreterError> {
    let Some(mode) = model_bytecode_mode(mode) else {
        return Ok(());
    };
    let python = tree.python3();
    let out = Command::new(&python)
        .args(["-I", "-m", "compileall", "-q", "-f", "-j", "0"])
        .args(["--invalidation-mode", mode, "-s"])
        .arg(base)
        .args(["-p", "/"])
        .args(dirs)
        .env_clear()
        .env("PYTHONHASHSEED", "0")
        .env("LC_ALL", "C.UTF-8")
        .output()
        .map_err(|e| InterpreterError::Compile {
            python: python.clone(),
            why: e.to_string(),
        })?;
    if out.status.success() {
        Ok(())
    } else {
        let mut why = String::from_utf8_lossy(&out.stdout).into_owned();
        why.push_str(&String::from_utf8_lossy(&out.stderr));
        Err(InterpreterError::Compile {
            python,
            why: format!("{}: {}", out.status, why.trim()),
        })
    }
}

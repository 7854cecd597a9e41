//! The directory a sandboxed build step runs in, and moving outputs in and out of steps.
//!
//! A [`Sandbox`] is laid out like the project (paths relative to the workspace root) but
//! holds only the step's declared inputs — copies, read-only — and the outputs of the steps
//! it needs; `HOME` and `TMPDIR` are private directories beside it. It lives in the action's
//! scratch directory, which the engine removes afterwards. It is a directory, not a security
//! boundary: a command that names an absolute path outside it can still read there.

use flavor_engine::ResolvedTree;
use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

/// A step's private directory.
#[derive(Debug)]
pub(crate) struct Sandbox {
    /// The project's layout: the root of the step's paths.
    pub(crate) root: PathBuf,
    /// The command's working directory (inside `root`).
    pub(crate) cwd: PathBuf,
    /// The private `HOME`.
    pub(crate) home: PathBuf,
    /// The private `TMPDIR`.
    pub(crate) tmp: PathBuf,
}

/// `rel` (relative, no `..`) under `base`; `Err` for anything else.
fn inside(base: &Path, rel: &str) -> io::Result<PathBuf> {
    let path = Path::new(rel);
    if path
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
    {
        Ok(base.join(path))
    } else {
        Err(io::Error::other(format!(
            "`{rel}` is not a relative path inside the project"
        )))
    }
}

impl Sandbox {
    /// Creates the sandbox in `scratch`: `sources` (file, path relative to the root) copied
    /// read-only, `needed` outputs (blob or tree, path) written in place, the working
    /// directory `cwd` created.
    pub(crate) fn create(
        scratch: &Path,
        sources: &[(PathBuf, &str)],
        needed: &[(PathBuf, Option<ResolvedTree>, &str)],
        cwd: &str,
    ) -> io::Result<Sandbox> {
        let root = scratch.join("sandbox");
        let home = scratch.join("home");
        let tmp = scratch.join("tmp");
        for dir in [&root, &home, &tmp] {
            fs::create_dir_all(dir)?;
        }
        let mut made = BTreeSet::new();
        for (from, rel) in sources {
            let to = inside(&root, rel)?;
            make_parent(&to, &mut made)?;
            fs::copy(from, &to)?;
            let exec = fs::metadata(from)?.permissions().mode() & 0o111 != 0;
            fs::set_permissions(
                &to,
                fs::Permissions::from_mode(if exec { 0o555 } else { 0o444 }),
            )?;
        }
        for (blob, tree, rel) in needed {
            let to = inside(&root, rel)?;
            make_parent(&to, &mut made)?;
            place_output(blob, tree.as_ref(), &to, false)?;
        }
        let cwd = inside(&root, cwd)?;
        fs::create_dir_all(&cwd)?;
        Ok(Sandbox {
            root,
            cwd,
            home,
            tmp,
        })
    }
}

fn make_parent(to: &Path, made: &mut BTreeSet<PathBuf>) -> io::Result<()> {
    if let Some(parent) = to.parent()
        && made.insert(parent.to_path_buf())
    {
        fs::create_dir_all(parent)?;
    }
    Ok(())
}

/// Writes an output of another step at `dest`: the file `blob` (mode 0755, as step outputs
/// are shipped), or the tree. With `replace`, whatever is at `dest` is removed first (a
/// step run in the source tree finds the previous run's copy there).
pub(crate) fn place_output(
    blob: &Path,
    tree: Option<&ResolvedTree>,
    dest: &Path,
    replace: bool,
) -> io::Result<()> {
    if replace {
        match fs::symlink_metadata(dest) {
            Ok(m) if m.is_dir() => fs::remove_dir_all(dest)?,
            Ok(_) => fs::remove_file(dest)?,
            Err(_) => {}
        }
    }
    if let Some(parent) = dest.parent() {
        fs::create_dir_all(parent)?;
    }
    match tree {
        Some(tree) => tree.materialize(dest, false),
        None => {
            fs::copy(blob, dest)?;
            fs::set_permissions(dest, fs::Permissions::from_mode(0o755))
        }
    }
}

/// Moves a sandboxed step's output to `out` (a file, or a directory made writable so its
/// contents can move into the store); `Err` says what is wrong with it.
pub(crate) fn take_output(produced: &Path, out: &Path) -> Result<(), String> {
    match fs::symlink_metadata(produced) {
        Ok(m) if m.is_dir() => {
            make_writable(produced).map_err(|e| format!("cannot be read ({e})"))?;
            fs::rename(produced, out).map_err(|e| format!("cannot be moved ({e})"))
        }
        Ok(m) if m.is_file() => {
            fs::rename(produced, out).map_err(|e| format!("cannot be moved ({e})"))
        }
        Ok(m) if m.is_symlink() => copy_output(produced, out),
        Ok(_) => Err("is neither a file nor a directory".into()),
        Err(_) => Err("does not exist".into()),
    }
}

/// Copies a step's output to `out`: a file (a link to a file is followed), or a directory
/// with its files, directories and links; `Err` says what is wrong with it.
pub(crate) fn copy_output(produced: &Path, out: &Path) -> Result<(), String> {
    let meta = fs::metadata(produced).map_err(|_| "does not exist".to_string())?;
    if meta.is_file() {
        fs::copy(produced, out).map_err(|e| format!("cannot be copied ({e})"))?;
        return Ok(());
    }
    if fs::symlink_metadata(produced).is_ok_and(|m| m.is_symlink()) {
        return Err("is a symbolic link to a directory; declare the directory itself".into());
    }
    if !meta.is_dir() {
        return Err("is neither a file nor a directory".into());
    }
    copy_dir(produced, out).map_err(|e| format!("cannot be copied ({e})"))
}

fn copy_dir(from: &Path, to: &Path) -> io::Result<()> {
    fs::create_dir(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let src = entry.path();
        let dst = to.join(entry.file_name());
        let kind = entry.file_type()?;
        if kind.is_dir() {
            copy_dir(&src, &dst)?;
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&src)?, &dst)?;
        } else {
            // Anything else (a FIFO, …) is refused when the tree is stored.
            fs::copy(&src, &dst)?;
        }
    }
    Ok(())
}

/// Gives the owner write and search permission on every directory under `dir` (tools such
/// as Go make their caches read-only), so its contents can be moved and removed.
pub(crate) fn make_writable(dir: &Path) -> io::Result<()> {
    let meta = fs::symlink_metadata(dir)?;
    if !meta.is_dir() {
        return Ok(());
    }
    let mode = meta.permissions().mode();
    if mode & 0o700 != 0o700 {
        fs::set_permissions(dir, fs::Permissions::from_mode(mode | 0o700))?;
    }
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            make_writable(&entry.path())?;
        }
    }
    Ok(())
}

/// What to tell the user when a sandboxed step failed: files its output names that exist in
/// the project but were not in the sandbox (undeclared inputs), and the rule.
pub(crate) fn undeclared_hint(log: &str, root: &Path, cwd: &str, sandbox: &Sandbox) -> String {
    let mut missing = BTreeSet::new();
    let words = log.split(|c: char| c.is_whitespace() || "'\"`:;,()[]{}<>".contains(c));
    for word in words {
        let word = word.trim_end_matches('.');
        if word.is_empty() || word.starts_with('-') || word.len() > 4096 {
            continue;
        }
        let Ok(in_project) = inside(&root.join(cwd), word) else {
            continue;
        };
        let in_sandbox = sandbox.cwd.join(word);
        if in_project.is_file() && !in_sandbox.exists() {
            let rel = in_project.strip_prefix(root).unwrap_or(&in_project);
            missing.insert(rel.display().to_string());
        }
        if missing.len() >= 5 {
            break;
        }
    }
    let rule = "the step ran in a sandbox holding only its declared `inputs` and the outputs \
                of the steps it `needs`";
    let fix = "add what it reads to the step's `inputs` (paths relative to its flavor.toml), \
               or set `sandbox = false` to run it in the source tree (its results are then \
               not shared through a remote cache)";
    if missing.is_empty() {
        format!("note: {rule}; if it reads a file that is not there, {fix}")
    } else {
        let list: Vec<String> = missing.iter().map(|m| format!("`{m}`")).collect();
        format!(
            "note: {rule}; it names {}, which the project has but the step does not declare: \
             {fix}",
            list.join(", ")
        )
    }
}

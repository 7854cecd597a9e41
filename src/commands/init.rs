//! `flavor init [--template sh|python]`: start a package in the current directory.
//!
//! `sh`: a commented `flavor.toml` and a runnable hello script in `src/`. `python`: a Python
//! application — `pyproject.toml` (a hatchling project with one console script), its package
//! in `src/<module>/`, and a `flavor.toml` whose `[python]` table ships it with a uv-managed
//! CPython; `uv lock` is run when uv is found (else the next step says to). Both add a
//! `.gitignore` for `dist/` and `.flavor/` when there is none. Refuses to overwrite anything:
//! `flavor build` then works at once.

use crate::messages::{InitOutcome, print_document};
use crate::stdout::outln;
use anyhow::{Context, bail};
use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Clone, Copy, clap::ValueEnum)]
enum Template {
    /// A POSIX shell script.
    Sh,
    /// A Python application: pyproject.toml + a `[python]` table (interpreter and dependencies shipped).
    Python,
}

#[derive(clap::Args)]
pub struct Args {
    /// What the hello program is written in.
    #[arg(long, value_enum, default_value = "sh")]
    template: Template,
    /// Package name (default: the directory's name).
    #[arg(long)]
    name: Option<String>,
    /// Print the files written as JSON.
    #[arg(long)]
    json: bool,
}

/// A package name from a directory name: letters, digits, `-`, `_` and `.` kept, anything
/// else turned into `-`.
fn package_name(dir: &Path) -> String {
    let raw = dir
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let cleaned: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    let trimmed = cleaned.trim_matches(|c| c == '-' || c == '.');
    if trimmed.is_empty() {
        "hello".into()
    } else {
        trimmed.to_string()
    }
}

fn manifest(name: &str, template: Template) -> String {
    if let Template::Python = template {
        return python_manifest(name);
    }
    let (command, program, comment) = match template {
        Template::Sh => (
            "{workenv}/app/hello.sh",
            "hello.sh",
            "# The program runs from the work environment the package unpacks into on its first\n\
             # run; {workenv} is that directory.",
        ),
        Template::Python => unreachable!("python_manifest"),
    };
    format!(
        r#"# flavor.toml — one self-contained executable. Every key, with its default, is listed in
# flavor.toml.example in the flavor repository.
#
#   flavor build              → dist/{name}.psp (signed with your per-user key)
#   ./dist/{name}.psp world   → Hello, world!
#   flavor run -- world       → both at once

[package]
name = "{name}"
version = "0.1.0"
description = "Says hello"

[execution]
{comment}
command = "{command}"
env = {{ GREETING = "Hello" }}

# A slot is a file or directory shipped in the package. This one archives src/ (tar.zst by
# default) and unpacks it under app/ in the work environment: app/{program}.
[[slot]]
id = "app"
source = "src"
target = "app"
exclude = ["**/__pycache__"]

# Optional: sign with a key file instead of your per-user key (create one with
# `flavor keygen --out-dir keys`, and keep it out of version control).
# [signing]
# private_key = "keys/flavor-private.key"
"#
    )
}

/// The `[python]` manifest of the python template.
fn python_manifest(name: &str) -> String {
    format!(
        r#"# flavor.toml — a Python application as one self-contained executable: the interpreter,
# the locked dependencies (uv.lock) and the project, precompiled. Every key, with its
# default, is listed in flavor.toml.example in the flavor repository.
#
#   uv lock                   → after changing dependencies in pyproject.toml
#   flavor build              → dist/debug/{name}.psp (signed with your per-user key)
#   flavor run -- world       → Hello, world!

# name and version come from pyproject.toml.
[package]
description = "Says hello"

[python]
entry = "{name}"                     # a [project.scripts] name, "module:function" or "-m module"
interpreter = {{ uv = "3.12" }}        # a CPython uv manages (`uv python install`, once), or a
                                     # python-build-standalone "install_only" archive path,
                                     # or {{ url = "https://…", sha256 = "…" }}
exclude = ["**/tests/**"]            # trimmed from the installed packages
"#
    )
}

/// A Python module name for package `name` (`my-app` → `my_app`).
fn module_name(name: &str) -> String {
    let m: String = (name.chars())
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if m.starts_with(|c: char| c.is_ascii_alphabetic()) {
        m
    } else {
        format!("app_{m}")
    }
}

/// The files of `template` besides `flavor.toml`: path and text (executable when `.sh`).
fn program(name: &str, template: Template) -> Vec<(String, String)> {
    match template {
        Template::Sh => vec![(
            "src/hello.sh".into(),
            r#"#!/bin/sh
# The packaged program: edit it, then `flavor build` again.
echo "${GREETING:-Hello}, ${1:-world}!"
"#
            .into(),
        )],
        Template::Python => {
            let module = module_name(name);
            vec![
                (
                    "pyproject.toml".into(),
                    format!(
                        r#"[project]
name = "{name}"
version = "0.1.0"
description = "Says hello"
requires-python = ">=3.12"
dependencies = []

[project.scripts]
{name} = "{module}.cli:main"

[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"
"#
                    ),
                ),
                (format!("src/{module}/__init__.py"), String::new()),
                (
                    format!("src/{module}/cli.py"),
                    r#""""The packaged program: edit it, then `flavor build` again."""
import sys


def main() -> int:
    name = sys.argv[1] if len(sys.argv) > 1 else "world"
    print(f"Hello, {name}!")
    return 0
"#
                    .into(),
                ),
            ]
        }
    }
}

/// `uv lock` in `dir` if uv is found; why not otherwise.
fn uv_lock(dir: &Path) -> Result<(), String> {
    let env = std::env::vars().collect();
    let uv = flavor_rules::python::uv::UvTool::find(&env)?;
    let out = uv
        .command(0)
        .args(["lock", "--quiet"])
        .env_remove("UV_PYTHON_DOWNLOADS")
        .current_dir(dir)
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

/// Create `path` with `text` and `mode`, failing if it exists.
fn create(path: &Path, text: &str, mode: u32) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let dir = std::env::current_dir()?;
    let name = match &args.name {
        Some(n) => {
            if n.is_empty() || n.contains(['/', '\0']) || n.starts_with('.') {
                bail!(
                    "--name {n:?}: a package name is a file name (no `/`, not starting with `.`)"
                );
            }
            n.clone()
        }
        None => package_name(&dir),
    };
    let mut files: Vec<(PathBuf, String, u32)> = vec![(
        dir.join("flavor.toml"),
        manifest(&name, args.template),
        0o644,
    )];
    for (path, text) in program(&name, args.template) {
        let mode = if path.ends_with(".sh") { 0o755 } else { 0o644 };
        files.push((dir.join(path), text, mode));
    }
    let existing: Vec<String> = files
        .iter()
        .filter(|(p, _, _)| fs::symlink_metadata(p).is_ok())
        .map(|(p, _, _)| p.display().to_string())
        .collect();
    if !existing.is_empty() {
        bail!(
            "{} already exist{}; flavor init never overwrites (run it in an empty directory)",
            existing.join(" and "),
            if existing.len() == 1 { "s" } else { "" }
        );
    }
    let mut written = Vec::new();
    for (path, text, mode) in &files {
        create(path, text, *mode)?;
        written.push(path.clone());
    }
    let gitignore = dir.join(".gitignore");
    if fs::symlink_metadata(&gitignore).is_err() {
        create(&gitignore, "/dist/\n/.flavor/\n", 0o644)?;
        written.push(gitignore);
    }
    let locked = match args.template {
        Template::Python => Some(uv_lock(&dir)),
        Template::Sh => None,
    };
    if let Some(Ok(())) = &locked {
        written.push(dir.join("uv.lock"));
    }
    if args.json {
        print_document(&InitOutcome {
            package: name,
            files: written,
        })?;
        return Ok(ExitCode::SUCCESS);
    }
    for p in &written {
        let rel = p.strip_prefix(&dir).unwrap_or(p);
        outln!("created {}", rel.display())?;
    }
    if let Some(Err(why)) = &locked {
        outln!("uv lock did not run ({why}); run `uv lock` here first")?;
    }
    outln!(
        "next: flavor run -- world (a debug build, in dist/debug/{name}.psp); \
         flavor build --release writes dist/{name}.psp"
    )?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_the_directory() {
        assert_eq!(package_name(Path::new("/x/my-app")), "my-app");
        assert_eq!(package_name(Path::new("/x/My App!")), "My-App");
        assert_eq!(package_name(Path::new("/")), "hello");
        assert_eq!(module_name("My-App.2"), "my_app_2");
        assert_eq!(module_name("2fa"), "app_2fa");
    }

    #[test]
    fn the_sh_template_is_a_valid_manifest() {
        // (The python template needs its pyproject and lock: tests/it/python_build.rs.)
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("src")).unwrap();
        let path = dir.path().join("flavor.toml");
        let m = flavor_rules::Manifest::parse(&path, &manifest("demo", Template::Sh))
            .unwrap_or_else(|e| panic!("{:?}", e.messages()));
        assert_eq!(m.package.unwrap().name.value, "demo");
    }
}

//! `flavor init [--template sh|python]`: start a package in the current directory.
//!
//! Writes a commented `flavor.toml` and a runnable hello program in `src/` (a shell script, or
//! a Python script run by the host's `python3`), plus a `.gitignore` for `dist/` and `.flavor/`
//! when there is none. Refuses to overwrite anything: `flavor build` then works at once.

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
    /// A Python 3 script (runs with the python3 on the user's PATH).
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
    let (command, program, comment) = match template {
        Template::Sh => (
            "{workenv}/app/hello.sh",
            "hello.sh",
            "# The program runs from the work environment the package unpacks into on its first\n\
             # run; {workenv} is that directory.",
        ),
        Template::Python => (
            "python3 {workenv}/app/hello.py",
            "hello.py",
            "# The program runs from the work environment the package unpacks into on its first\n\
             # run; {workenv} is that directory. python3 is found on the user's PATH.",
        ),
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

fn program(template: Template) -> (&'static str, &'static str) {
    match template {
        Template::Sh => (
            "src/hello.sh",
            r#"#!/bin/sh
# The packaged program: edit it, then `flavor build` again.
echo "${GREETING:-Hello}, ${1:-world}!"
"#,
        ),
        Template::Python => (
            "src/hello.py",
            r#"#!/usr/bin/env python3
"""The packaged program: edit it, then `flavor build` again."""
import os
import sys

name = sys.argv[1] if len(sys.argv) > 1 else "world"
print(f"{os.environ.get('GREETING', 'Hello')}, {name}!")
"#,
        ),
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
    let (program_path, program_text) = program(args.template);
    let files: Vec<(PathBuf, String, u32)> = vec![
        (
            dir.join("flavor.toml"),
            manifest(&name, args.template),
            0o644,
        ),
        (dir.join(program_path), program_text.to_string(), 0o755),
    ];
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
    }

    #[test]
    fn both_templates_are_valid_manifests() {
        for t in [Template::Sh, Template::Python] {
            let dir = tempfile::tempdir().unwrap();
            fs::create_dir(dir.path().join("src")).unwrap();
            let path = dir.path().join("flavor.toml");
            let m = flavor_rules::Manifest::parse(&path, &manifest("demo", t))
                .unwrap_or_else(|e| panic!("{:?}", e.messages()));
            assert_eq!(m.package.unwrap().name.value, "demo");
        }
    }
}

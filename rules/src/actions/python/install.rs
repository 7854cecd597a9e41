//! `python-install`: the `site` tree — the locked wheels (and the project's own wheel)
//! installed offline by `uv pip install --no-index --find-links` into a staged directory with
//! the package's interpreter, then made fit to ship: console scripts (whose shebangs name the
//! build's interpreter) and uv's cache notes dropped and `python.exclude` trimmed, each `RECORD` kept consistent;
//! `.py` files precompiled hash-based with no build path inside. Its second output is what the
//! package needs to know about the native code of both trees ([`RuntimeFacts`]).

use super::{run_tool, tree_input};
use crate::manifest::Bytecode;
use crate::python::audit::{audit, regular_files};
use crate::python::model_bytecode_mode;
use crate::python::uv::UvTool;
use flavor_engine::{Action, ActionError, Input, RunContext};
use globset::GlobSet;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What the native code of a Python package needs of the system it runs on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeFacts {
    /// The oldest glibc every shared library runs on (`2.17`); `None`: no glibc symbol asked.
    pub min_glibc: Option<String>,
    /// Libraries needed but neither shipped nor on every manylinux system.
    pub warnings: Vec<String>,
}

/// Install the wheels into the `site` tree.
pub struct InstallAction {
    /// The project's name (for messages).
    pub project: String,
    /// The interpreter tree.
    pub interpreter: Input,
    /// The project's wheel (a directory holding it), when the project is a package.
    pub project_wheel: Option<Input>,
    /// The locked wheels: file name and bytes.
    pub wheels: Vec<(String, Input)>,
    /// What to install (`httpie`, or the project's dependencies when it is not a package).
    pub requirements: Vec<String>,
    /// `python.exclude` globs, relative to the site tree.
    pub exclude: Vec<String>,
    /// How `.py` files are precompiled.
    pub bytecode: Bytecode,
    /// The uv that installs.
    pub uv: UvTool,
}

impl Action for InstallAction {
    fn kind(&self) -> &'static str {
        "python-install"
    }
    fn version(&self) -> u32 {
        1
    }
    fn label(&self) -> String {
        format!("install site-packages {}", self.project)
    }
    fn params(&self) -> Vec<u8> {
        let wheels: Vec<&str> = self.wheels.iter().map(|(n, _)| n.as_str()).collect();
        super::super::canonical(&json!({
            "wheels": wheels, "project_wheel": self.project_wheel.is_some(),
            "requirements": self.requirements, "exclude": self.exclude,
            "bytecode": self.bytecode.name(), "uv": self.uv.version,
        }))
    }
    fn inputs(&self) -> Vec<Input> {
        let mut inputs = vec![self.interpreter.clone()];
        inputs.extend(self.project_wheel.clone());
        inputs.extend(self.wheels.iter().map(|(_, i)| i.clone()));
        inputs
    }
    fn output_count(&self) -> usize {
        2
    }
    fn accepts_tree(&self, i: usize) -> bool {
        i == 0 || (i == 1 && self.project_wheel.is_some())
    }
    fn threads(&self) -> usize {
        2
    }
    fn run(&self, ctx: &mut RunContext<'_>) -> Result<(), ActionError> {
        let label = self.label();
        let scratch = ctx.scratch_dir().to_path_buf();
        let interp = scratch.join("interpreter");
        tree_input(ctx, 0, &interp, &label)?;
        let links = scratch.join("wheels");
        std::fs::create_dir_all(&links)?;
        let first = match self.project_wheel {
            Some(_) => {
                tree_input(ctx, 1, &links, &label)?;
                2
            }
            None => 1,
        };
        for (i, (name, _)) in self.wheels.iter().enumerate() {
            std::os::unix::fs::symlink(ctx.input(first + i), links.join(name))?;
        }
        let site = ctx.output(0).to_path_buf();
        std::fs::create_dir_all(&site)?;
        let python = interp.join("python/bin/python3");
        let mut cmd = self.uv.command(0);
        cmd.args([
            "pip",
            "install",
            "--no-config",
            "--no-cache",
            "--offline",
            "--no-index",
        ])
        .args([
            "--no-build",
            "--link-mode",
            "copy",
            "--quiet",
            "--find-links",
        ])
        .arg(&links)
        .arg("--target")
        .arg(&site)
        .arg("--python")
        .arg(&python)
        .args(&self.requirements)
        .current_dir(&scratch);
        run_tool(ctx, cmd, &format!("{label}: uv pip install"))?;
        // Console scripts name the build's interpreter; uv's cache note records the mtime of
        // the wheel it installed from (a different one on every machine).
        let mut drop: Vec<String> = vec!["bin/**".into(), "*.dist-info/uv_cache.json".into()];
        drop.extend(self.exclude.iter().cloned());
        let globs = crate::collect::globset("python.exclude", &drop)
            .map_err(|e| ActionError::new(format!("{label}: {e}")))?;
        if let Some(globs) = globs {
            trim(&site, &globs).map_err(|e| ActionError::new(format!("{label}: {e}")))?;
        }
        compile(ctx, &python, &site, self.bytecode)?;
        let report = audit(&[&interp, &site]).map_err(|e| ActionError::new(e.to_string()))?;
        let facts = RuntimeFacts {
            min_glibc: report.min_glibc.map(|v| v.to_string()),
            warnings: report.warnings(),
        };
        for w in &facts.warnings {
            ctx.output_line(&format!("warning: {w}"));
        }
        let text = serde_json::to_vec(&facts).map_err(|e| ActionError::new(e.to_string()))?;
        std::fs::write(ctx.output(1), text)?;
        Ok(())
    }
}

/// Remove the files under `site` that `globs` match (then directories left empty), and their
/// lines from every `*.dist-info/RECORD`.
fn trim(site: &Path, globs: &GlobSet) -> Result<(), String> {
    let removed: Vec<PathBuf> = regular_files(site)
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter_map(|p| p.strip_prefix(site).ok().map(Path::to_path_buf))
        .filter(|rel| globs.is_match(rel))
        .collect();
    trim_files(site, &removed).map_err(|e| format!("{}: {e}", site.display()))
}

fn trim_files(site: &Path, removed: &[PathBuf]) -> std::io::Result<()> {
    for rel in removed {
        std::fs::remove_file(site.join(rel))?;
    }
    remove_empty_dirs(site, site)?;
    for entry in std::fs::read_dir(site)?.flatten() {
        let record = entry.path().join("RECORD");
        if entry.file_name().to_string_lossy().ends_with(".dist-info") && record.is_file() {
            let text = std::fs::read_to_string(&record)?;
            let kept: String = text
                .lines()
                .filter(|line| {
                    let path = line.split(',').next().unwrap_or("");
                    !removed.iter().any(|r| Path::new(path) == r)
                })
                .map(|l| format!("{l}\n"))
                .collect();
            if kept != text {
                std::fs::write(&record, kept)?;
            }
        }
    }
    Ok(())
}

/// Remove the empty directories below `dir` (not `root` itself).
fn remove_empty_dirs(dir: &Path, root: &Path) -> std::io::Result<bool> {
    let mut empty = true;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            if !remove_empty_dirs(&entry.path(), root)? {
                empty = false;
            }
        } else {
            empty = false;
        }
    }
    if empty && dir != root {
        std::fs::remove_dir(dir)?;
    }
    Ok(empty)
}

/// Precompile `site` hash-based with the package's interpreter. A file that does not compile
/// (some packages ship Python 2 or template `.py` files) is reported, not fatal: it is also
/// what an installer does.
fn compile(
    ctx: &mut RunContext<'_>,
    python: &PathBuf,
    site: &Path,
    mode: Bytecode,
) -> Result<(), ActionError> {
    let Some(mode) = model_bytecode_mode(mode) else {
        return Ok(());
    };
    let out = Command::new(python)
        .args(["-I", "-m", "compileall", "-q", "-f", "-j", "0"])
        .args(["--invalidation-mode", mode, "-s"])
        .arg(site)
        .args(["-p", "/site"])
        .arg(site)
        .env_clear()
        .env("PYTHONHASHSEED", "0")
        .env("LC_ALL", "C.UTF-8")
        .output()
        .map_err(|e| ActionError::new(format!("{}: {e}", python.display())))?;
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    match out.status.code() {
        Some(0) => Ok(()),
        Some(1) => {
            ctx.output_line("warning: some files of site-packages do not compile:");
            for line in text.lines().filter(|l| !l.trim().is_empty()).take(20) {
                ctx.output_line(line);
            }
            Ok(())
        }
        _ => Err(ActionError::new(format!(
            "precompiling site-packages failed ({})",
            out.status
        ))
        .with_output(text)),
    }
}

/// Read a [`RuntimeFacts`] output.
pub(crate) fn read_facts(path: &Path) -> Result<RuntimeFacts, ActionError> {
    let text = std::fs::read(path)?;
    serde_json::from_slice(&text).map_err(|e| ActionError::new(format!("{}: {e}", path.display())))
}

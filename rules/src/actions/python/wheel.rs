//! `python-wheel`: the project's own wheel, built by `uv build --wheel` from a copy of the
//! project's files (those a slot would collect: `.gitignore`d files, `.git` and `dist/` are
//! left out) with the package's interpreter and `SOURCE_DATE_EPOCH` set, into a directory
//! holding that one wheel (its file name says what it is, which the install needs).

use super::{run_tool, tree_input};
use crate::python::uv::UvTool;
use flavor_engine::{Action, ActionError, Input, RunContext};
use serde_json::json;
use std::path::Path;

/// Build the project's wheel.
pub struct ProjectWheelAction {
    /// The project's name (for messages).
    pub project: String,
    /// The interpreter tree (input 0).
    pub interpreter: Input,
    /// The project's files: path relative to the project, and where its bytes are.
    pub sources: Vec<(String, Input)>,
    /// The uv that builds it.
    pub uv: UvTool,
    /// `SOURCE_DATE_EPOCH`.
    pub timestamp: u64,
}

impl Action for ProjectWheelAction {
    fn kind(&self) -> &'static str {
        "python-wheel"
    }
    fn version(&self) -> u32 {
        1
    }
    fn label(&self) -> String {
        format!("build wheel {}", self.project)
    }
    fn params(&self) -> Vec<u8> {
        let files: Vec<&str> = self.sources.iter().map(|(rel, _)| rel.as_str()).collect();
        super::super::canonical(&json!({
            "files": files, "uv": self.uv.version, "timestamp": self.timestamp,
        }))
    }
    fn inputs(&self) -> Vec<Input> {
        let mut inputs = vec![self.interpreter.clone()];
        inputs.extend(self.sources.iter().map(|(_, i)| i.clone()));
        inputs
    }
    fn output_count(&self) -> usize {
        1
    }
    fn accepts_tree(&self, i: usize) -> bool {
        i == 0
    }
    fn run(&self, ctx: &mut RunContext<'_>) -> Result<(), ActionError> {
        let label = self.label();
        let scratch = ctx.scratch_dir().to_path_buf();
        let interp = scratch.join("interpreter");
        tree_input(ctx, 0, &interp, &label)?;
        let src = scratch.join("project");
        for (i, (rel, _)) in self.sources.iter().enumerate() {
            copy_source(ctx.input(i + 1), &src.join(rel))?;
        }
        let out = ctx.output(0).to_path_buf();
        std::fs::create_dir_all(&out)?;
        let mut cmd = self.uv.command(self.timestamp);
        cmd.args(["build", "--wheel", "--no-config", "--quiet", "--out-dir"])
            .arg(&out)
            .arg("--python")
            .arg(interp.join("python/bin/python3"))
            .arg(&src)
            .current_dir(&scratch);
        run_tool(ctx, cmd, &label)?;
        let wheels: Vec<_> = std::fs::read_dir(&out)?
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".whl"))
            .collect();
        if wheels.len() != 1 {
            return Err(ActionError::new(format!(
                "{label}: uv build wrote {} wheels, expected one",
                wheels.len()
            )));
        }
        // Only the wheel: build logs or a .gitignore uv adds are not part of the output.
        for e in std::fs::read_dir(&out)?.flatten() {
            if !e.file_name().to_string_lossy().ends_with(".whl") {
                let _ = std::fs::remove_file(e.path());
            }
        }
        Ok(())
    }
}

/// Copy a source file to `dest`, keeping its executable bit.
fn copy_source(from: &Path, dest: &Path) -> Result<(), ActionError> {
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::copy(from, dest).map_err(|e| ActionError::new(format!("{}: {e}", dest.display())))?;
    Ok(())
}

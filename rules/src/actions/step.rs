//! `step`: run a user's build command and capture its declared outputs.
//!
//! The command runs as `sh -c COMMAND` in its working directory with a clean environment
//! (`PATH`, `HOME`, the step's `env` and the `pass_env` variables — all part of the key).
//! Outputs of steps it `needs` are put back in place first, so a step works the same
//! whether its dependencies ran now or came from the cache. Every declared output must exist
//! afterwards; it is copied into the store. Runs in one working directory take turns (a lock
//! on the directory), also across concurrent `flavor build` processes.
//!
//! With remote execution the same command runs on a worker instead
//! ([`Action::remote_command`]): its input root is the workspace's declared inputs and the
//! needed outputs at their places, its working directory the step's, so a step that reads
//! only what it declares gives the same outputs there.

use flavor_engine::{Action, ActionError, Input, RemoteCommand, RemoteInput, RunContext};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Run a build step's command and capture its declared outputs.
pub struct StepAction {
    /// The step id.
    pub id: String,
    /// The target it runs for, when it runs once per target (its label says so).
    pub target: Option<String>,
    /// The command, run with `sh -c`.
    pub command: String,
    /// Absolute working directory.
    pub cwd: PathBuf,
    /// The workspace root (absolute): the root of a remote input root.
    pub root: PathBuf,
    /// Working directory relative to the workspace root (what enters the key).
    pub cwd_label: String,
    /// The whole environment it runs with.
    pub env: BTreeMap<String, String>,
    /// Declared outputs, relative to `cwd`.
    pub outputs: Vec<String>,
    /// Source files matched by the step's `inputs` globs.
    pub sources: Vec<Input>,
    /// Outputs of needed steps and where they belong on disk.
    pub needed: Vec<(Input, PathBuf)>,
}

impl Action for StepAction {
    fn kind(&self) -> &'static str {
        "step"
    }
    fn version(&self) -> u32 {
        1
    }
    fn label(&self) -> String {
        match &self.target {
            Some(t) => format!("step {} ({t})", self.id),
            None => format!("step {}", self.id),
        }
    }
    fn params(&self) -> Vec<u8> {
        let needed: Vec<String> = self
            .needed
            .iter()
            .map(|(_, p)| p.strip_prefix(&self.cwd).unwrap_or(p).display().to_string())
            .collect();
        super::canonical(&json!({
            "command": self.command,
            "cwd": self.cwd_label,
            "env": self.env,
            "outputs": self.outputs,
            "needed": needed,
        }))
    }
    fn inputs(&self) -> Vec<Input> {
        self.sources
            .iter()
            .cloned()
            .chain(self.needed.iter().map(|(i, _)| i.clone()))
            .collect()
    }
    fn output_count(&self) -> usize {
        self.outputs.len()
    }
    fn remote_command(&self, inputs: &[PathBuf]) -> Option<RemoteCommand> {
        let mut files = Vec::with_capacity(inputs.len());
        for (i, file) in inputs.iter().enumerate() {
            let place = match i.checked_sub(self.sources.len()) {
                None => match self.sources.get(i)? {
                    Input::File(path) => path.as_path(),
                    Input::Output { .. } => return None,
                },
                Some(n) => self.needed.get(n)?.1.as_path(),
            };
            files.push(RemoteInput {
                path: self.relative(place)?,
                file: file.clone(),
            });
        }
        Some(RemoteCommand {
            argv: vec!["sh".into(), "-c".into(), self.command.clone()],
            env: self.env.clone(),
            working_directory: self.relative(&self.cwd).unwrap_or_default(),
            inputs: files,
            outputs: self.outputs.clone(),
        })
    }
    fn run(&self, ctx: &mut RunContext<'_>) -> Result<(), ActionError> {
        // Two builds of one repository may run this step at the same time, and in one
        // directory their commands would overwrite each other's outputs while the other copies
        // them. An exclusive lock on the working directory (released when `_lock` drops)
        // makes them take turns.
        let _lock = std::fs::File::open(&self.cwd)
            .and_then(|dir| dir.lock().map(|()| dir))
            .map_err(|e| {
                ActionError::new(format!(
                    "step {}: cannot lock {}: {e}",
                    self.id,
                    self.cwd.display()
                ))
            })?;
        for (n, (_, dest)) in self.needed.iter().enumerate() {
            let from = ctx.input(self.sources.len() + n).to_path_buf();
            if from != *dest {
                if let Some(parent) = dest.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                std::fs::copy(&from, dest)?;
            }
        }
        let output = Command::new("sh")
            .arg("-c")
            .arg(&self.command)
            .current_dir(&self.cwd)
            .env_clear()
            .envs(&self.env)
            .output()
            .map_err(|e| ActionError::new(format!("step {}: cannot run sh: {e}", self.id)))?;
        let log = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        // The engine attaches what was logged to a failure's output: log it once, here.
        ctx.log(&log);
        if !output.status.success() {
            let how = match output.status.code() {
                Some(code) => format!("exited with code {code}"),
                None => format!("ended abnormally ({})", output.status),
            };
            return Err(ActionError::new(format!("`{}` {how}", self.command)));
        }
        for (i, rel) in self.outputs.iter().enumerate() {
            let produced = self.cwd.join(rel);
            if !produced.is_file() {
                return Err(ActionError::new(format!(
                    "declared output `{rel}` does not exist after `{}` ran (in {})",
                    self.command,
                    self.cwd.display()
                )));
            }
            std::fs::copy(&produced, ctx.output(i))?;
        }
        Ok(())
    }
}

impl StepAction {
    /// `path` relative to the workspace root, `/`-separated; `None` outside it (or not
    /// UTF-8), which keeps the step local.
    fn relative(&self, path: &Path) -> Option<String> {
        let rel = path.strip_prefix(&self.root).ok()?;
        let parts: Option<Vec<&str>> = rel.components().map(|c| c.as_os_str().to_str()).collect();
        Some(parts?.join("/"))
    }
}

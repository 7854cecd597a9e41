//! `step`: run a user's build command and capture its declared outputs.
//!
//! Every path of a step (its inputs, outputs, working directory and the outputs of the steps
//! it needs) is kept relative to the workspace root. By default the command runs in a
//! **sandbox** ([`super::sandbox`]): a private directory under the store's temporary
//! directory (inside `.flavor/`) laid out like the project but holding only the step's
//! declared inputs (read-only copies) and the outputs of the steps it needs, with a private
//! `HOME` and `TMPDIR`. Its declared outputs — files or whole directories — are taken from
//! there, so nothing is ever written into the source tree and a file the step did not
//! declare cannot change its result. `sandbox = false` runs it in the source tree instead
//! (its outputs are then copied out); such a step's results are never shared through a
//! remote cache, as they may depend on more than its inputs.
//!
//! The environment is deterministic: the step's `env`, the `pass_env` variables, and a fixed
//! `PATH` unless one is configured — all part of the key. The directories of the step's
//! `tools` are put in front of `PATH` (their contents, not their places, are in the key).
//! Its output is streamed line by line as it runs ([`RunContext::output_line`]).
//!
//! With remote execution the same command runs on a worker instead
//! ([`Action::remote_command`]): its input root is the step's declared inputs and the needed
//! outputs at their places, its working directory the step's, so a sandboxed step gives the
//! same outputs there. Steps that run unsandboxed, declare `tools` (programs of this machine)
//! or take a directory from a needed step stay local.

use super::sandbox::{self, Sandbox};
use super::stream::run_streaming;
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
    /// The workspace root (absolute; every path below is relative to it).
    pub root: PathBuf,
    /// Working directory, relative to the root (`""` for the root).
    pub cwd: String,
    /// The environment it runs with (besides `HOME`, `TMPDIR` and the tools' directories).
    pub env: BTreeMap<String, String>,
    /// Declared outputs, relative to the root.
    pub outputs: Vec<String>,
    /// The same outputs as the manifest writes them (for messages).
    pub declared: Vec<String>,
    /// Source files matched by the step's `inputs` globs, with their paths relative to the
    /// root.
    pub sources: Vec<(Input, String)>,
    /// Outputs of needed steps and where they belong, relative to the root.
    pub needed: Vec<(Input, String)>,
    /// Programs it declared in `tools`: name and the file it resolved to (an input, so its
    /// contents are in the key).
    pub tools: Vec<(String, PathBuf)>,
    /// Run in a sandbox (the default) or in the source tree.
    pub sandbox: bool,
}

impl Action for StepAction {
    fn kind(&self) -> &'static str {
        "step"
    }
    fn version(&self) -> u32 {
        2
    }
    fn label(&self) -> String {
        match &self.target {
            Some(t) => format!("step {} ({t})", self.id),
            None => format!("step {}", self.id),
        }
    }
    fn params(&self) -> Vec<u8> {
        let sources: Vec<&str> = self.sources.iter().map(|(_, p)| p.as_str()).collect();
        let needed: Vec<&str> = self.needed.iter().map(|(_, p)| p.as_str()).collect();
        let tools: Vec<&str> = self.tools.iter().map(|(n, _)| n.as_str()).collect();
        super::canonical(&json!({
            "command": self.command,
            "cwd": self.cwd,
            "env": self.env,
            "outputs": self.outputs,
            "sources": sources,
            "needed": needed,
            "tools": tools,
            "sandbox": self.sandbox,
        }))
    }
    fn inputs(&self) -> Vec<Input> {
        let sources = self.sources.iter().map(|(i, _)| i.clone());
        let needed = self.needed.iter().map(|(i, _)| i.clone());
        let tools = self.tools.iter().map(|(_, p)| Input::File(p.clone()));
        sources.chain(needed).chain(tools).collect()
    }
    fn output_count(&self) -> usize {
        self.outputs.len()
    }
    fn describe_output(&self, i: usize) -> String {
        match self.declared.get(i) {
            Some(path) => format!("declared output `{path}`"),
            None => format!("output {i}"),
        }
    }
    fn accepts_tree(&self, i: usize) -> bool {
        let first = self.sources.len();
        (first..first + self.needed.len()).contains(&i)
    }
    fn shareable(&self) -> bool {
        self.sandbox
    }
    fn remote_command(&self, inputs: &[PathBuf]) -> Option<RemoteCommand> {
        if !self.sandbox || !self.tools.is_empty() {
            return None;
        }
        let places = (self.sources.iter())
            .chain(&self.needed)
            .map(|(_, rel)| rel);
        let mut files = Vec::with_capacity(inputs.len());
        for (file, place) in inputs.iter().zip(places) {
            if file.is_dir() {
                return None;
            }
            files.push(RemoteInput {
                path: place.clone(),
                file: file.clone(),
            });
        }
        let under_cwd = |rel: &String| -> Option<String> {
            if self.cwd.is_empty() {
                return Some(rel.clone());
            }
            Some(rel.strip_prefix(&self.cwd)?.strip_prefix('/')?.to_string())
        };
        let mut env = self.env.clone();
        env.entry("PATH".into()).or_insert_with(|| self.path_var());
        Some(RemoteCommand {
            argv: vec!["sh".into(), "-c".into(), self.command.clone()],
            env,
            working_directory: self.cwd.clone(),
            inputs: files,
            outputs: self.outputs.iter().map(under_cwd).collect::<Option<_>>()?,
        })
    }
    fn run(&self, ctx: &mut RunContext<'_>) -> Result<(), ActionError> {
        if self.sandbox {
            self.run_sandboxed(ctx)
        } else {
            self.run_in_tree(ctx)
        }
    }
}

impl StepAction {
    fn error(&self, message: impl std::fmt::Display) -> ActionError {
        ActionError::new(format!("step {}: {message}", self.id))
    }

    /// `PATH` for the command: the tools' directories, then the configured `PATH`.
    fn path_var(&self) -> String {
        let mut dirs: Vec<String> = Vec::new();
        for (_, path) in &self.tools {
            if let Some(dir) = path.parent().map(|d| d.display().to_string())
                && !dirs.contains(&dir)
            {
                dirs.push(dir);
            }
        }
        dirs.extend(self.env.get("PATH").cloned());
        dirs.join(":")
    }

    fn command(&self, dir: &Path) -> Command {
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(&self.command)
            .current_dir(dir)
            .env_clear()
            .envs(&self.env)
            .env("PATH", self.path_var());
        cmd
    }

    /// Runs `cmd`, streaming its output; `Err` if it cannot start or fails.
    fn execute(&self, ctx: &mut RunContext<'_>, cmd: Command) -> Result<(), ActionError> {
        let status = run_streaming(cmd, &mut |line| ctx.output_line(line))
            .map_err(|e| self.error(format!("cannot run sh: {e}")))?;
        if status.success() {
            return Ok(());
        }
        let how = match status.code() {
            Some(code) => format!("exited with code {code}"),
            None => format!("ended abnormally ({status})"),
        };
        Err(ActionError::new(format!("`{}` {how}", self.command)))
    }

    fn run_sandboxed(&self, ctx: &mut RunContext<'_>) -> Result<(), ActionError> {
        let scratch = ctx.scratch_dir().to_path_buf();
        let result = self.run_in_sandbox(ctx, &scratch);
        // The command may have left read-only directories: let the engine remove them.
        let _ = sandbox::make_writable(&scratch);
        result
    }

    fn run_in_sandbox(&self, ctx: &mut RunContext<'_>, scratch: &Path) -> Result<(), ActionError> {
        let first_needed = self.sources.len();
        let needed: Vec<(PathBuf, Option<flavor_engine::ResolvedTree>, &str)> = (self.needed)
            .iter()
            .enumerate()
            .map(|(n, (_, rel))| {
                let i = first_needed + n;
                (
                    ctx.input(i).to_path_buf(),
                    ctx.input_tree(i).cloned(),
                    rel.as_str(),
                )
            })
            .collect();
        let sources: Vec<(PathBuf, &str)> = (self.sources)
            .iter()
            .enumerate()
            .map(|(i, (_, rel))| (ctx.input(i).to_path_buf(), rel.as_str()))
            .collect();
        let sandbox = Sandbox::create(scratch, &sources, &needed, &self.cwd)
            .map_err(|e| self.error(format!("cannot set up its sandbox: {e}")))?;
        let mut cmd = self.command(&sandbox.cwd);
        cmd.env("HOME", &sandbox.home).env("TMPDIR", &sandbox.tmp);
        if let Err(mut error) = self.execute(ctx, cmd) {
            let hint = sandbox::undeclared_hint(ctx.logged(), &self.root, &self.cwd, &sandbox);
            error.message = format!("{}\n{hint}", error.message);
            return Err(error);
        }
        for (i, rel) in self.outputs.iter().enumerate() {
            let produced = sandbox.root.join(rel);
            sandbox::take_output(&produced, ctx.output(i)).map_err(|why| {
                ActionError::new(format!(
                    "{} {why} after `{}` ran (in its sandbox, where the command's working \
                     directory is `{}`)",
                    self.describe_output(i),
                    self.command,
                    if self.cwd.is_empty() { "." } else { &self.cwd }
                ))
            })?;
        }
        Ok(())
    }

    fn run_in_tree(&self, ctx: &mut RunContext<'_>) -> Result<(), ActionError> {
        let cwd = self.root.join(&self.cwd);
        // Two builds of one repository may run this step at the same time, and in one
        // directory their commands would overwrite each other's outputs while the other copies
        // them. An exclusive lock on the working directory (released when `_lock` drops)
        // makes them take turns.
        let _lock = std::fs::File::open(&cwd)
            .and_then(|dir| dir.lock().map(|()| dir))
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => self.error(format!(
                    "its cwd `{}` does not exist (no earlier step created {}); set `cwd` in its \
                     [[step]] to an existing directory",
                    self.cwd,
                    cwd.display()
                )),
                _ => self.error(format!("cannot lock {}: {e}", cwd.display())),
            })?;
        let first_needed = self.sources.len();
        for (n, (_, rel)) in self.needed.iter().enumerate() {
            let dest = self.root.join(rel);
            let i = first_needed + n;
            sandbox::place_output(ctx.input(i), ctx.input_tree(i), &dest, true)
                .map_err(|e| self.error(format!("cannot put `{rel}` in place: {e}")))?;
        }
        let cmd = self.command(&cwd);
        self.execute(ctx, cmd)?;
        for (i, rel) in self.outputs.iter().enumerate() {
            sandbox::copy_output(&self.root.join(rel), ctx.output(i)).map_err(|why| {
                ActionError::new(format!(
                    "{} {why} after `{}` ran (in {})",
                    self.describe_output(i),
                    self.command,
                    cwd.display()
                ))
            })?;
        }
        Ok(())
    }
}

//! The actions a `[python]` package expands to: `fetch` a locked file by its sha256,
//! unpack and precompile the `python-interpreter`, build the project's wheel
//! (`python-wheel`), and install everything offline into the `site` tree
//! (`python-install`, which also audits the shared libraries of both trees).

mod fetch;
mod install;
mod interpreter;
mod wheel;

pub use fetch::FetchAction;
pub(crate) use install::read_facts;
pub use install::{InstallAction, RuntimeFacts};
pub use interpreter::InterpreterAction;
pub use wheel::ProjectWheelAction;

use flavor_engine::{ActionError, RunContext};
use std::process::Command;

/// Run `cmd` (what it is: `what`), its output logged; an error with the output if it fails.
fn run_tool(ctx: &mut RunContext<'_>, mut cmd: Command, what: &str) -> Result<(), ActionError> {
    let out = cmd.output().map_err(|e| {
        ActionError::new(format!("{what}: cannot run {:?}: {e}", cmd.get_program()))
    })?;
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    ctx.log(&text);
    if out.status.success() {
        Ok(())
    } else {
        Err(ActionError::new(format!("{what} failed ({})", out.status)).with_output(text))
    }
}

/// Materialize tree input `i` into `dest` (writable), or say which input was not a tree.
fn tree_input(
    ctx: &RunContext<'_>,
    i: usize,
    dest: &std::path::Path,
    label: &str,
) -> Result<(), ActionError> {
    let tree = ctx
        .input_tree(i)
        .ok_or_else(|| ActionError::new(format!("{label}: input {i} is not a directory")))?;
    tree.materialize(dest, false)
        .map_err(|e| ActionError::new(format!("{label}: {}: {e}", dest.display())))
}

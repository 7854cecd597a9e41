//! `python-interpreter`: a python-build-standalone archive unpacked, normalised and its
//! standard library precompiled (see [`crate::python::interpreter`]), plus the one file that
//! puts the package's `site` tree on `sys.path`. One tree per archive and bytecode mode, so
//! every application using that interpreter shares it (and its compressed slot).

use crate::manifest::Bytecode;
use crate::python::interpreter::{precompile, unpack};
use flavor_engine::{Action, ActionError, Input, RunContext};
use serde_json::json;

/// `lib/python3.N/site-packages/<SITE_PTH>` in the interpreter tree: it makes `{workenv}/site`
/// (the `site` slot, beside `{workenv}/python`) a site directory wherever the workenv is —
/// on `sys.path`, its own `.pth` files processed — since site-packages' `.pth` files are read
/// even under `-I`.
pub const SITE_PTH: &str = "flavor-site.pth";

/// The line of [`SITE_PTH`].
const SITE_PTH_LINE: &str =
    "import os, site, sys; site.addsitedir(os.path.join(os.path.dirname(sys.prefix), 'site'))\n";

/// Unpack, normalise and precompile an interpreter archive into a tree (`python/…`).
pub struct InterpreterAction {
    /// The archive (a source file or a fetched blob).
    pub archive: Input,
    /// How the standard library is precompiled.
    pub bytecode: Bytecode,
}

impl Action for InterpreterAction {
    fn kind(&self) -> &'static str {
        "python-interpreter"
    }
    fn version(&self) -> u32 {
        1
    }
    fn label(&self) -> String {
        "python interpreter".into()
    }
    fn params(&self) -> Vec<u8> {
        super::super::canonical(&json!({"bytecode": self.bytecode.name(), "pth": SITE_PTH_LINE}))
    }
    fn inputs(&self) -> Vec<Input> {
        vec![self.archive.clone()]
    }
    fn output_count(&self) -> usize {
        1
    }
    fn threads(&self) -> usize {
        // compileall -j 0 uses every core it is given.
        2
    }
    fn run(&self, ctx: &mut RunContext<'_>) -> Result<(), ActionError> {
        let dest = ctx.output(0).to_path_buf();
        std::fs::create_dir_all(&dest)?;
        let failed = |e: crate::python::interpreter::InterpreterError| {
            ActionError::new(format!("python interpreter: {e}"))
        };
        let tree = unpack(ctx.input(0), &dest).map_err(failed)?;
        precompile(&tree, &dest, &[&tree.stdlib()], self.bytecode).map_err(failed)?;
        let site_packages = tree.stdlib().join("site-packages");
        std::fs::create_dir_all(&site_packages)?;
        std::fs::write(site_packages.join(SITE_PTH), SITE_PTH_LINE)?;
        Ok(())
    }
}

//! The whole manifest: nested values preferred over flat ones for the package and execution,
//! then the runtime, workenv, slot and setup tables, leftover keys, and the warnings written
//! as a comment at the top.

use super::{Importer, text};
use crate::Error;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use toml_edit::{Array, ArrayOfTables, DocumentMut, InlineTable, Item, Table, value};

/// A TOML inline table of strings.
pub(super) fn inline_map(m: &BTreeMap<String, String>) -> InlineTable {
    m.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

fn array(v: &[String]) -> Array {
    v.iter().map(String::as_str).collect()
}

/// Keys of the flat and nested forms that the conversion reads.
const READ_KEYS: &[&str] = &[
    "name",
    "version",
    "description",
    "command",
    "environment",
    "package",
    "execution",
    "runtime",
    "workenv",
    "slots",
    "setup_commands",
    "format",
    "format_version",
];

impl Importer {
    /// The `flavor.toml` text for the upstream manifest `doc`.
    pub(super) fn convert(&mut self, doc: &Value, source_name: &str) -> Result<String, Error> {
        let top = doc.as_object().ok_or(Error::ImportNotAnObject)?;
        let mut out = DocumentMut::new();
        self.package_and_execution(top, &mut out)?;
        if let Some(runtime) = top.get("runtime").and_then(Value::as_object) {
            self.runtime(runtime, &mut out);
        }
        if let Some(w) = top.get("workenv").and_then(Value::as_object) {
            self.workenv(w, &mut out);
        }
        self.slots(top, &mut out);
        self.setups(top, &mut out);
        self.leftovers(top);
        let mut header = format!(
            "# flavor.toml imported from {source_name} by `flavor import`.\n\
             # Paths are relative to this file's directory.\n"
        );
        if !self.warnings.is_empty() {
            header.push_str("# Not carried over unchanged — check before building:\n");
            for w in &self.warnings {
                header.push_str(&format!("#   - {}\n", w.replace('\n', " ")));
            }
        }
        header.push('\n');
        if let Some(package) = out.get_mut("package").and_then(Item::as_table_mut) {
            package.decor_mut().set_prefix(header);
        }
        Ok(out.to_string())
    }

    /// A value given both nested and flat: the nested one, with a warning when they differ.
    fn pick(
        &mut self,
        field: &str,
        nested: Option<String>,
        flat: Option<String>,
    ) -> Option<String> {
        if let (Some(n), Some(f)) = (&nested, &flat)
            && n != f
        {
            self.warn(format!(
                "flat `{field}` {f:?} differs from the nested one {n:?}; the nested one is used"
            ));
        }
        nested.or(flat)
    }

    fn package_and_execution(
        &mut self,
        top: &Map<String, Value>,
        out: &mut DocumentMut,
    ) -> Result<(), Error> {
        let empty = Map::new();
        let object = |k: &str| top.get(k).and_then(Value::as_object).unwrap_or(&empty);
        let (package, execution) = (object("package"), object("execution"));
        let nested = |m: &Map<String, Value>, k: &str| text(m.get(k));
        let name = self
            .pick("name", nested(package, "name"), text(top.get("name")))
            .filter(|n| !n.is_empty())
            .ok_or(Error::ImportMissing {
                what: "package name (package.name or name)",
            })?;
        let version = self.pick(
            "version",
            nested(package, "version"),
            text(top.get("version")),
        );
        let description = self.pick(
            "description",
            nested(package, "description"),
            text(top.get("description")),
        );
        let command = self
            .pick(
                "command",
                nested(execution, "command"),
                text(top.get("command")),
            )
            .filter(|c| !c.is_empty())
            .ok_or(Error::ImportMissing {
                what: "command (execution.command or command)",
            })?;
        let version = version.unwrap_or_else(|| {
            self.warn("no version; using 0.1.0");
            "0.1.0".into()
        });
        let mut t = Table::new();
        t.insert("name", value(name));
        t.insert("version", value(version));
        if let Some(d) = description.filter(|d| !d.is_empty()) {
            t.insert("description", value(d));
        }
        out.insert("package", Item::Table(t));
        let command = self.command(execution, command);
        let env = self.environment(top, execution);
        let mut t = Table::new();
        t.insert("command", value(command));
        if !env.is_empty() {
            t.insert("env", value(inline_map(&env)));
        }
        out.insert("execution", Item::Table(t));
        self.unknown_keys(
            execution,
            &["command", "args", "env", "environment", "primary_slot"],
            "execution: ",
        );
        self.unknown_keys(package, &["name", "version", "description"], "package: ");
        Ok(())
    }

    /// The command with `execution.args` appended (quoted for the launcher's shell-like
    /// splitting), warning about host paths it relies on.
    fn command(&mut self, execution: &Map<String, Value>, command: String) -> String {
        let mut command = command;
        let args = self.strings(execution.get("args"), "execution.args");
        if !args.is_empty() {
            match shlex::try_join(args.iter().map(String::as_str)) {
                Ok(words) => {
                    command = format!("{command} {words}");
                    self.warn(
                        "execution.args were appended to the command (flavor has no args list)",
                    );
                }
                Err(e) => self.warn(format!("execution.args: {e}; left out")),
            }
        }
        let host_paths: Vec<&str> = command
            .split_whitespace()
            .filter(|w| w.starts_with('/'))
            .filter(|w| !["/bin/", "/usr/bin/"].iter().any(|d| w.starts_with(d)))
            .collect();
        if !host_paths.is_empty() {
            let w = format!(
                "the command uses {}, outside the package: it must exist on every machine the \
                 package runs on",
                host_paths.join(", ")
            );
            self.warn(w);
        }
        if let Some(n) = execution.get("primary_slot").and_then(Value::as_u64)
            && n != 0
        {
            self.warn(format!(
                "execution.primary_slot {n}: flavor records no primary slot; left out"
            ));
        }
        command
    }

    /// The flat `environment` with the nested `execution.env` (or `.environment`) over it.
    fn environment(
        &mut self,
        top: &Map<String, Value>,
        execution: &Map<String, Value>,
    ) -> BTreeMap<String, String> {
        let flat = self.string_map(top.get("environment"), "environment");
        let nested = match (execution.get("env"), execution.get("environment")) {
            (Some(e), _) => self.string_map(Some(e), "execution.env"),
            (None, e) => self.string_map(e, "execution.environment"),
        };
        let mut env = flat;
        for (k, v) in nested {
            if let Some(old) = env.get(&k)
                && *old != v
            {
                self.warn(format!(
                    "environment {k}={old:?} differs from execution.env {k}={v:?}; the nested \
                     one is used"
                ));
            }
            env.insert(k, v);
        }
        env
    }

    fn runtime(&mut self, runtime: &Map<String, Value>, out: &mut DocumentMut) {
        self.unknown_keys(runtime, &["env"], "runtime: ");
        let Some(renv) = runtime.get("env").and_then(Value::as_object) else {
            return;
        };
        let unset = self.strings(renv.get("unset"), "runtime.env.unset");
        let pass = self.strings(renv.get("pass"), "runtime.env.pass");
        let set = self.string_map(renv.get("set"), "runtime.env.set");
        let map = self.string_map(renv.get("map"), "runtime.env.map");
        for (k, v) in &set {
            if v.contains("{workenv}") {
                self.warn(format!(
                    "runtime.env.set {k}: upstream launchers pass {{workenv}} through \
                     literally, flavor's launcher expands it"
                ));
            }
        }
        self.unknown_keys(renv, &["unset", "pass", "set", "map"], "runtime.env: ");
        let mut env = Table::new();
        if !unset.is_empty() {
            env.insert("unset", value(array(&unset)));
        }
        if !pass.is_empty() {
            env.insert("pass", value(array(&pass)));
        }
        if !map.is_empty() {
            env.insert("map", value(inline_map(&map)));
        }
        if !set.is_empty() {
            env.insert("set", value(inline_map(&set)));
        }
        let mut t = Table::new();
        t.set_implicit(true);
        t.insert("env", Item::Table(env));
        out.insert("runtime", Item::Table(t));
    }

    fn workenv(&mut self, w: &Map<String, Value>, out: &mut DocumentMut) {
        let mut dirs = Array::new();
        if let Some(Value::Array(items)) = w.get("directories") {
            for d in items {
                if let Some(dir) = self.workenv_dir(d) {
                    dirs.push(dir);
                }
            }
        }
        let env = self.string_map(w.get("env"), "workenv.env");
        self.unknown_keys(w, &["directories", "env"], "workenv: ");
        if dirs.is_empty() && env.is_empty() {
            return;
        }
        let mut t = Table::new();
        if !dirs.is_empty() {
            t.insert("directories", value(dirs));
        }
        if !env.is_empty() {
            t.insert("env", value(inline_map(&env)));
        }
        out.insert("workenv", Item::Table(t));
    }

    /// One `workenv.directories` entry (a path, or `{path, mode}`) as an inline table.
    fn workenv_dir(&mut self, d: &Value) -> Option<InlineTable> {
        let (path, mode) = match d {
            Value::String(p) => (Some(p.clone()), None),
            Value::Object(o) => (text(o.get("path")), text(o.get("mode"))),
            _ => (None, None),
        };
        let Some(path) = path else {
            self.warn(format!("workenv.directories: {d} has no path; left out"));
            return None;
        };
        let mode = mode.filter(|m| {
            let ok = pspf::metadata::parse_mode(m).is_some();
            if !ok {
                self.warn(format!(
                    "workenv directory {path}: mode {m:?} is not octal; left out"
                ));
            }
            ok
        });
        let mut t = InlineTable::new();
        t.insert("path", path.into());
        if let Some(m) = mode {
            t.insert("mode", m.into());
        }
        Some(t)
    }

    fn slots(&mut self, top: &Map<String, Value>, out: &mut DocumentMut) {
        let slots: Vec<Value> = match top.get("slots") {
            Some(Value::Array(s)) => s.clone(),
            None | Some(Value::Null) => Vec::new(),
            Some(_) => {
                self.warn("`slots` is not a list; left out");
                Vec::new()
            }
        };
        let mut ids = BTreeSet::new();
        let mut tables = ArrayOfTables::new();
        for (i, v) in slots.iter().enumerate() {
            if let Some(t) = self.slot(i, v, &mut ids) {
                tables.push(t);
            }
        }
        if self.workenv_sources {
            self.warn(
                "sources starting with {workenv} were taken relative to the manifest's directory \
                 (upstream builders use $FLAVOR_WORKENV_BASE or the current directory)",
            );
        }
        if !tables.is_empty() {
            out.insert("slot", Item::ArrayOfTables(tables));
        }
    }

    fn setups(&mut self, top: &Map<String, Value>, out: &mut DocumentMut) {
        let Some(Value::Array(cmds)) = top.get("setup_commands") else {
            return;
        };
        let mut tables = ArrayOfTables::new();
        for (i, c) in cmds.iter().enumerate() {
            if let Some(t) = self.setup(i, c) {
                tables.push(t);
            }
        }
        if !tables.is_empty() {
            out.insert("setup", Item::ArrayOfTables(tables));
        }
    }

    /// Warn about every top-level key the conversion does not read.
    fn leftovers(&mut self, top: &Map<String, Value>) {
        for (k, v) in top {
            if READ_KEYS.contains(&k.as_str()) {
                continue;
            }
            let why = match k.as_str() {
                "dependencies" => "flavor installs nothing by itself: fetch them in a [[step]] \
                                   whose outputs feed a slot"
                    .to_string(),
                "signing" | "key_seed" | "private_key" | "public_key" => {
                    "flavor never reads a key from the manifest's JSON: use [signing] private_key \
                     or key_seed_env"
                        .to_string()
                }
                "manifest" => format!("{v} is not read"),
                _ => "has no flavor.toml equivalent".to_string(),
            };
            self.warn(format!("`{k}`: {why}; left out"));
        }
    }
}

//! The whole manifest: nested values preferred over flat ones for the package and execution,
//! then the runtime, workenv, slot and setup tables, leftover keys, and the warnings written
//! as a comment at the top.

use super::importer::{Importer, text};
use super::setup::shell_word;
use super::toml_out::{array, inline_map, q};
use anyhow::{Context, bail};
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::fmt::Write as _;

impl Importer {
    pub(super) fn convert(&mut self, doc: &Value, source_name: &str) -> anyhow::Result<String> {
        let Some(top) = doc.as_object() else {
            bail!("not a JSON object: an upstream manifest is one");
        };
        let empty = Map::new();
        let package = top
            .get("package")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let execution = top
            .get("execution")
            .and_then(Value::as_object)
            .unwrap_or(&empty);

        // Nested values win; the flat ones fill in.
        let mut pick = |field: &str, nested: Option<String>, flat: Option<String>| {
            if let (Some(n), Some(f)) = (&nested, &flat)
                && n != f
            {
                self.warn(format!(
                    "flat `{field}` {f:?} differs from the nested one {n:?}; the nested one is used"
                ));
            }
            nested.or(flat)
        };
        let name = pick("name", text(package.get("name")), text(top.get("name")))
            .filter(|n| !n.is_empty())
            .context("no package name (package.name or name)")?;
        let version = pick(
            "version",
            text(package.get("version")),
            text(top.get("version")),
        );
        let description = pick(
            "description",
            text(package.get("description")),
            text(top.get("description")),
        );
        let command = pick(
            "command",
            text(execution.get("command")),
            text(top.get("command")),
        )
        .filter(|c| !c.is_empty())
        .context("no command (execution.command or command)")?;
        let version = version.unwrap_or_else(|| {
            self.warn("no version; using 0.1.0");
            "0.1.0".into()
        });

        let mut command = command;
        let args = self.strings(execution.get("args"), "execution.args");
        if !args.is_empty() {
            let words: Vec<String> = args.iter().map(|a| shell_word(a)).collect();
            command = format!("{command} {}", words.join(" "));
            self.warn("execution.args were appended to the command (flavor has no args list)");
        }
        let host_paths: Vec<&str> = command
            .split_whitespace()
            .filter(|w| w.starts_with('/'))
            .filter(|w| !["/bin/", "/usr/bin/"].iter().any(|d| w.starts_with(d)))
            .collect();
        if !host_paths.is_empty() {
            self.warn(format!(
                "the command uses {}, outside the package: it must exist on every machine the \
                 package runs on",
                host_paths.join(", ")
            ));
        }
        let flat_env = self.string_map(top.get("environment"), "environment");
        let nested_env = match (execution.get("env"), execution.get("environment")) {
            (Some(e), _) => self.string_map(Some(e), "execution.env"),
            (None, e) => self.string_map(e, "execution.environment"),
        };
        let mut env = flat_env;
        for (k, v) in nested_env {
            if let Some(old) = env.get(&k)
                && *old != v
            {
                self.warn(format!(
                    "environment {k}={old:?} differs from execution.env {k}={v:?}; the nested one is used"
                ));
            }
            env.insert(k, v);
        }
        if let Some(n) = execution.get("primary_slot").and_then(Value::as_u64)
            && n != 0
        {
            self.warn(format!(
                "execution.primary_slot {n}: flavor records no primary slot; left out"
            ));
        }
        self.unknown_keys(
            execution,
            &["command", "args", "env", "environment", "primary_slot"],
            "execution: ",
        );
        self.unknown_keys(package, &["name", "version", "description"], "package: ");

        let mut t = format!(
            "# flavor.toml imported from {source_name} by `flavor import`.\n\
             # Paths are relative to this file's directory.\n"
        );
        let body_start = t.len();
        let _ = write!(
            t,
            "\n[package]\nname = {}\nversion = {}\n",
            q(&name),
            q(&version)
        );
        if let Some(d) = description.filter(|d| !d.is_empty()) {
            let _ = writeln!(t, "description = {}", q(&d));
        }
        let _ = write!(t, "\n[execution]\ncommand = {}\n", q(&command));
        if !env.is_empty() {
            let _ = writeln!(t, "env = {}", inline_map(&env));
        }

        if let Some(runtime) = top.get("runtime").and_then(Value::as_object) {
            if let Some(renv) = runtime.get("env").and_then(Value::as_object) {
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
                t.push_str("\n[runtime.env]\n");
                if !unset.is_empty() {
                    let _ = writeln!(t, "unset = {}", array(&unset));
                }
                if !pass.is_empty() {
                    let _ = writeln!(t, "pass = {}", array(&pass));
                }
                if !map.is_empty() {
                    let _ = writeln!(t, "map = {}", inline_map(&map));
                }
                if !set.is_empty() {
                    let _ = writeln!(t, "set = {}", inline_map(&set));
                }
            }
            self.unknown_keys(runtime, &["env"], "runtime: ");
        }

        if let Some(w) = top.get("workenv").and_then(Value::as_object) {
            let mut dirs = Vec::new();
            if let Some(Value::Array(items)) = w.get("directories") {
                for d in items {
                    let (path, mode) = match d {
                        Value::String(p) => (Some(p.clone()), None),
                        Value::Object(o) => (text(o.get("path")), text(o.get("mode"))),
                        _ => (None, None),
                    };
                    match path {
                        Some(p) => {
                            let mode = mode.filter(|m| {
                                let ok = pspf::metadata::parse_mode(m).is_some();
                                if !ok {
                                    self.warn(format!(
                                        "workenv directory {p}: mode {m:?} is not octal; left out"
                                    ));
                                }
                                ok
                            });
                            dirs.push(match mode {
                                Some(m) => format!("{{ path = {}, mode = {} }}", q(&p), q(&m)),
                                None => format!("{{ path = {} }}", q(&p)),
                            });
                        }
                        None => {
                            self.warn(format!("workenv.directories: {d} has no path; left out"))
                        }
                    }
                }
            }
            let wenv = self.string_map(w.get("env"), "workenv.env");
            self.unknown_keys(w, &["directories", "env"], "workenv: ");
            if !dirs.is_empty() || !wenv.is_empty() {
                t.push_str("\n[workenv]\n");
                if !dirs.is_empty() {
                    let _ = writeln!(t, "directories = [{}]", dirs.join(", "));
                }
                if !wenv.is_empty() {
                    let _ = writeln!(t, "env = {}", inline_map(&wenv));
                }
            }
        }

        let mut ids = BTreeSet::new();
        let slots: Vec<Value> = match top.get("slots") {
            Some(Value::Array(s)) => s.clone(),
            None | Some(Value::Null) => Vec::new(),
            Some(_) => {
                self.warn("`slots` is not a list; left out");
                Vec::new()
            }
        };
        for (i, v) in slots.iter().enumerate() {
            let Some(s) = self.slot(i, v, &mut ids) else {
                continue;
            };
            let _ = write!(
                t,
                "\n[[slot]]\nid = {}\nsource = {}\n",
                q(&s.id),
                q(&s.source)
            );
            if let Some(x) = &s.target {
                let _ = writeln!(t, "target = {}", q(x));
            }
            for (k, v) in [
                ("codec", &s.codec),
                ("lifecycle", &s.lifecycle),
                ("permissions", &s.permissions),
                ("purpose", &s.purpose),
            ] {
                if let Some(v) = v {
                    let _ = writeln!(t, "{k} = {}", q(v));
                }
            }
        }
        if self.workenv_sources {
            self.warn(
                "sources starting with {workenv} were taken relative to the manifest's directory \
                 (upstream builders use $FLAVOR_WORKENV_BASE or the current directory)",
            );
        }

        if let Some(Value::Array(cmds)) = top.get("setup_commands") {
            for (i, c) in cmds.iter().enumerate() {
                if let Some(s) = self.setup(i, c) {
                    t.push_str(&s);
                }
            }
        }

        for (k, v) in top {
            let why = match k.as_str() {
                "name" | "version" | "description" | "command" | "environment" | "package"
                | "execution" | "runtime" | "workenv" | "slots" | "setup_commands" | "format"
                | "format_version" => continue,
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

        if !self.warnings.is_empty() {
            let mut notes = String::from("# Not carried over unchanged — check before building:\n");
            for w in &self.warnings {
                let _ = writeln!(notes, "#   - {}", w.replace('\n', " "));
            }
            t.insert_str(body_start, &notes);
        }
        Ok(t)
    }
}

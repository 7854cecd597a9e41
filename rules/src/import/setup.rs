//! Upstream `setup_commands` → `[[setup]]` tables. A `shell` command (Go's) becomes `execute`
//! of `sh -c …`; types flavor does not know are left out with a warning.

use super::document::inline_map;
use super::{Importer, text};
use pspf::Term;
use pspf::setup::SetupKind;
use serde_json::{Map, Value};
use toml_edit::{Table, value};

impl Importer {
    /// One `[[setup]]` table, or `None` when it cannot be carried over.
    pub(super) fn setup(&mut self, i: usize, v: &Value) -> Option<Table> {
        let m = v.as_object()?;
        let what = format!("setup_commands[{i}]: ");
        let kind = text(m.get("type")).unwrap_or_default();
        if kind == "shell" {
            return self.shell(m, &what);
        }
        let Some(known) = SetupKind::from_name(&kind) else {
            self.warn(format!(
                "{what}type {kind:?} is not one flavor knows ({}); left out",
                SetupKind::names().join(", ")
            ));
            return None;
        };
        let mut t = Table::new();
        t.insert("type", value(known.name()));
        for field in known.fields() {
            if let Some(v) = m.get(*field).filter(|v| !v.is_null()) {
                self.setup_field(field, v, &what, &mut t);
            }
        }
        if let Some(f) = (known.required_fields().iter()).find(|f| !t.contains_key(f)) {
            self.warn(format!(
                "{what}a `{known}` command without a usable {f}; left out"
            ));
            return None;
        }
        let mut known_keys = vec!["type"];
        known_keys.extend(known.fields());
        self.unknown_keys(m, &known_keys, &what);
        Some(t)
    }

    /// Go's `shell` type: `execute` of `sh -c COMMAND`.
    fn shell(&mut self, m: &Map<String, Value>, what: &str) -> Option<Table> {
        let command = text(m.get("command")).unwrap_or_default();
        let Ok(quoted) = shlex::try_quote(&command) else {
            self.warn(format!("{what}a `shell` command with a NUL; left out"));
            return None;
        };
        self.warn(format!(
            "{what}type `shell` (not every launcher knows it) became `execute` of `sh -c …`"
        ));
        let mut t = Table::new();
        t.insert("type", value(SetupKind::Execute.name()));
        t.insert("command", value(format!("sh -c {quoted}")));
        self.unknown_keys(m, &["type", "command"], what);
        Some(t)
    }

    /// Copy one field a setup type takes, if its value is usable.
    fn setup_field(&mut self, field: &str, v: &Value, what: &str, t: &mut Table) {
        match (field, v) {
            ("mode", Value::Number(n)) if n.as_u64().is_some_and(|m| m <= 0o7777) => {
                t.insert("mode", value(n.as_i64().unwrap_or_default()));
            }
            ("mode", v) => {
                match text(Some(v)).filter(|s| pspf::metadata::parse_mode(s).is_some()) {
                    Some(s) => {
                        t.insert("mode", value(s));
                    }
                    None => self.warn(format!("{what}mode {v} is not an octal mode; left out")),
                }
            }
            ("enumerate", v) => {
                let mut e = self.string_map(Some(v), &format!("{what}enumerate"));
                e.retain(|k, _| {
                    let known = k == "path" || k == "pattern";
                    if !known {
                        self.warnings.push(format!(
                            "{what}enumerate.{k} has no flavor.toml equivalent; left out"
                        ));
                    }
                    known
                });
                if e.contains_key("path") {
                    t.insert("enumerate", value(inline_map(&e)));
                }
            }
            (field, v) => match text(Some(v)) {
                Some(s) => {
                    t.insert(field, value(s));
                }
                None => self.warn(format!("{what}{field} is not a string; left out")),
            },
        }
    }
}

//! The conversion state (`Importer`) and its helpers for reading loosely typed JSON values,
//! each turning what it cannot use into a warning.

use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// A JSON scalar as text (`1.0` → "1.0"); `None` for null, arrays and objects.
pub(super) fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

pub(super) struct Importer {
    /// Directory of the JSON manifest: relative sources are relative to it.
    pub(super) base: PathBuf,
    /// Directory of the flavor.toml being written.
    pub(super) out_dir: PathBuf,
    pub(super) warnings: Vec<String>,
    pub(super) workenv_sources: bool,
}

impl Importer {
    pub(super) fn warn(&mut self, w: impl Into<String>) {
        self.warnings.push(w.into());
    }

    pub(super) fn string_map(&mut self, v: Option<&Value>, what: &str) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        match v {
            None | Some(Value::Null) => {}
            Some(Value::Object(m)) => {
                for (k, v) in m {
                    match text(Some(v)) {
                        Some(s) => {
                            out.insert(k.clone(), s);
                        }
                        None => self.warn(format!("{what}.{k}: not a string; left out")),
                    }
                }
            }
            Some(_) => self.warn(format!("{what}: not an object; left out")),
        }
        out
    }

    pub(super) fn strings(&mut self, v: Option<&Value>, what: &str) -> Vec<String> {
        match v {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(|i| {
                    let s = text(Some(i));
                    if s.is_none() {
                        self.warn(format!("{what}: {i} is not a string; left out"));
                    }
                    s
                })
                .collect(),
            Some(Value::String(s)) => vec![s.clone()],
            Some(_) => {
                self.warn(format!("{what}: not a list; left out"));
                Vec::new()
            }
        }
    }

    pub(super) fn unknown_keys(&mut self, m: &Map<String, Value>, known: &[&str], what: &str) {
        for k in m.keys().filter(|k| !known.contains(&k.as_str())) {
            self.warn(format!(
                "{what}`{k}` has no flavor.toml equivalent; left out"
            ));
        }
    }
}

//! An upstream FlavorPack JSON manifest → `flavor.toml` (`flavor import`).
//!
//! Reads both forms the upstream builders accept — flat (`name`, `version`, `command`,
//! `environment` at the top) and nested (`package`, `execution`, `slots`), preferring the nested
//! values where both are given — and writes the equivalent `flavor.toml` (with `toml_edit`;
//! command words quoted with `shlex`). Everything it cannot carry over unchanged is said twice:
//! as a warning and as a comment at the top of the result. Among those:
//!
//! - the Rust and Go builders store a slot file as given, so an `operations = "tgz"` slot
//!   names a ready-made `.tgz`; flavor archives and compresses a *source* itself, so the slot
//!   now names the directory the archive unpacks to (the warning says how to make it);
//! - `{workenv}` at the start of a source path is the builder's base directory; here it
//!   becomes the manifest's directory, and every source is made relative to the output file;
//! - values flavor has no key for (`execution.args` folded into the command, a `shell` setup
//!   command run through `sh -c`, unknown purposes, `dependencies`, …).
//!
//! The result is checked with the manifest loader: apart from sources that do not exist yet, it
//! always loads.

mod document;
mod setup;
mod slot;

use crate::Error;
use crate::manifest::Manifest;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A converted manifest.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The `flavor.toml` text.
    pub toml: String,
    /// What was not carried over unchanged (also in a comment at the top of `toml`), and
    /// sources that do not exist yet.
    pub warnings: Vec<String>,
}

/// Convert the upstream manifest `doc` (read from a file named `source_name` in the directory
/// `base`) into a `flavor.toml` to be written at `out_path`: sources are made relative to its
/// directory. `base` and `out_path` are absolute.
pub fn import(
    doc: &Value,
    source_name: &str,
    base: &Path,
    out_path: &Path,
) -> Result<Imported, Error> {
    let out_dir = out_path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut importer = Importer {
        base: base.to_path_buf(),
        out_dir: out_dir.clone(),
        warnings: Vec::new(),
        workenv_sources: false,
    };
    let toml = importer.convert(doc, source_name)?;
    // The result must load; only sources that do not exist yet may be missing.
    if let Err(errors) = Manifest::parse(out_path, &toml) {
        for m in errors.messages() {
            if !m.contains("does not exist") {
                return Err(Error::ImportDoesNotLoad { problem: m });
            }
            importer.warn(format!("{m} (relative to {})", out_dir.display()));
        }
    }
    Ok(Imported {
        toml,
        warnings: importer.warnings,
    })
}

/// A JSON scalar as text (`1.0` → "1.0"); `None` for null, arrays and objects.
fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The conversion state: where paths are relative to, and what to warn about.
struct Importer {
    /// Directory of the JSON manifest: relative sources are relative to it.
    base: PathBuf,
    /// Directory of the flavor.toml being written.
    out_dir: PathBuf,
    warnings: Vec<String>,
    /// A source started with `{workenv}`.
    workenv_sources: bool,
}

impl Importer {
    fn warn(&mut self, w: impl Into<String>) {
        self.warnings.push(w.into());
    }

    /// An object of scalars as strings; anything else left out with a warning.
    fn string_map(&mut self, v: Option<&Value>, what: &str) -> BTreeMap<String, String> {
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

    /// A list of scalars (or one string) as strings; anything else left out with a warning.
    fn strings(&mut self, v: Option<&Value>, what: &str) -> Vec<String> {
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

    /// Warn about every key of `m` not in `known`.
    fn unknown_keys(&mut self, m: &Map<String, Value>, known: &[&str], what: &str) {
        for k in m.keys().filter(|k| !known.contains(&k.as_str())) {
            self.warn(format!(
                "{what}`{k}` has no flavor.toml equivalent; left out"
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn convert(doc: Value) -> Imported {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("app/flavor.toml");
        import(&doc, "manifest.json", dir.path(), &out).unwrap()
    }

    fn words(toml: &str, pick: impl Fn(&toml_edit::DocumentMut) -> Option<&str>) -> Vec<String> {
        let doc: toml_edit::DocumentMut = toml.parse().unwrap();
        shlex::split(pick(&doc).unwrap()).unwrap()
    }

    #[test]
    fn shell_words_survive_the_launchers_splitting() {
        let script = r#"echo 'it''s "quoted"' $HOME `x` && ls {workenv}"#;
        let args = ["a b", "it's", "{workenv}/x", "$y"];
        let got = convert(json!({
            "name": "n", "version": "1",
            "execution": {"command": "{workenv}/bin/app", "args": args},
            "setup_commands": [{"type": "shell", "command": script}],
        }));
        let command = words(&got.toml, |d| d["execution"]["command"].as_str());
        assert_eq!(command[0], "{workenv}/bin/app");
        assert_eq!(command[1..], args);
        let setup = words(&got.toml, |d| {
            d["setup"].as_array_of_tables()?.get(0)?["command"].as_str()
        });
        assert_eq!(setup, ["sh", "-c", script]);
    }

    #[test]
    fn setup_commands_keep_only_what_their_type_takes() {
        let got = convert(json!({
            "name": "n", "version": "1", "command": "x",
            "setup_commands": [
                {"type": "write_file", "path": "{workenv}/a", "content": "b", "command": "c"},
                {"type": "chmod", "mode": "755"},
                {"type": "chmod", "path": "p", "mode": "rwx"},
            ],
        }));
        let doc: toml_edit::DocumentMut = got.toml.parse().unwrap();
        let setup = doc["setup"].as_array_of_tables().unwrap();
        assert_eq!(setup.len(), 2, "{}", got.toml);
        assert!(setup.get(0).unwrap().get("command").is_none());
        assert!(setup.get(1).unwrap().get("mode").is_none());
        let warnings = got.warnings.join("\n");
        for w in [
            "setup_commands[0]: `command` has no flavor.toml equivalent",
            "setup_commands[1]: a `chmod` command without a usable path; left out",
            "setup_commands[2]: mode \"rwx\" is not an octal mode",
        ] {
            assert!(warnings.contains(w), "no {w:?} in {warnings}");
        }
    }

    #[test]
    fn sources_outside_the_output_directory_are_pointed_out() {
        let got = convert(json!({
            "name": "n", "version": "1", "command": "x",
            "slots": [{"id": "lib", "source": "vendor/lib.sh", "target": "lib.sh"},
                      {"id": "a/b", "source": "app/run.sh"}],
        }));
        let warnings = got.warnings.join("\n");
        assert!(
            warnings.contains("slot `lib`: source ../vendor/lib.sh is outside this directory")
                && warnings.contains("allow_sources_outside lists \"../vendor\""),
            "{warnings}"
        );
        assert!(
            warnings.contains("slot id \"a/b\" contains a path separator"),
            "{warnings}"
        );
        assert!(got.toml.contains("id = \"a-b\""), "{}", got.toml);
    }
}

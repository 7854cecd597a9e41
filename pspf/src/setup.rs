//! Setup commands: what the first launch runs in the new workenv (`setup_commands[]` in the
//! metadata, `[[setup]]` in a manifest).
//!
//! JSON form (PSPF.md §5): an object with `type` and the fields of that type —
//! `execute {command}`, `enumerate_and_execute {command, enumerate{path, pattern}}`,
//! `write_file {path, content, mode?}` and `chmod {path, mode?}`; `mode` is an octal string
//! (`"0755"`) or a number. Reading is lenient ([`SetupEntry`]): an entry of an unknown type or
//! with a missing or malformed field is kept with the reason, so the package still opens,
//! `inspect` can show it and the launcher refuses to run it with that reason.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

crate::vocabulary! {
    /// The types of setup command.
    pub enum SetupKind("setup type") {
        /// Run a command.
        Execute = "execute",
        /// Run a command once per file matching a pattern in a directory.
        EnumerateAndExecute = "enumerate_and_execute",
        /// Write a file.
        WriteFile = "write_file",
        /// Change a file's mode.
        Chmod = "chmod",
    }
}

impl SetupKind {
    /// The fields (besides `type`) a command of this type takes.
    pub fn fields(self) -> &'static [&'static str] {
        match self {
            SetupKind::Execute => &["command"],
            SetupKind::EnumerateAndExecute => &["command", "enumerate"],
            SetupKind::WriteFile => &["path", "content", "mode"],
            SetupKind::Chmod => &["path", "mode"],
        }
    }

    /// The fields a command of this type must have.
    pub fn required_fields(self) -> &'static [&'static str] {
        match self {
            SetupKind::Execute => &["command"],
            SetupKind::EnumerateAndExecute => &["command", "enumerate"],
            SetupKind::WriteFile | SetupKind::Chmod => &["path"],
        }
    }
}

/// A file mode as written: an octal string (`"0755"`) or a number (its value is the mode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetupMode {
    /// An octal string such as `"0755"`.
    Octal(String),
    /// A number, taken as the mode bits.
    Number(u32),
}

impl SetupMode {
    /// The mode bits; `None` when the octal string is not one or the number is over 0o7777.
    pub fn bits(&self) -> Option<u32> {
        match self {
            SetupMode::Octal(s) => crate::metadata::parse_mode(s),
            SetupMode::Number(n) => Some(*n).filter(|m| *m <= 0o7777),
        }
    }

    fn to_json(&self) -> Value {
        match self {
            SetupMode::Octal(s) => Value::String(s.clone()),
            SetupMode::Number(n) => Value::from(*n),
        }
    }
}

/// One setup command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetupCommand {
    /// Run `command` (placeholders expanded, split like a shell would, no shell).
    Execute {
        /// The command line.
        command: String,
    },
    /// Run `command FILE` for every file in `path` whose name matches `pattern` (default `*`).
    EnumerateAndExecute {
        /// The command line the file name is appended to.
        command: String,
        /// The directory to list.
        path: String,
        /// A glob over file names (`*`, `?`).
        pattern: Option<String>,
    },
    /// Write `content` to `path` (parents created), then `chmod` it to `mode` when given.
    WriteFile {
        /// Where to write.
        path: String,
        /// What to write (placeholders expanded).
        content: String,
        /// The file's mode.
        mode: Option<SetupMode>,
    },
    /// Change the mode of `path` (`*` as its last component: every file in that directory)
    /// to `mode` (default 0700).
    Chmod {
        /// The file, or `dir/*`.
        path: String,
        /// The mode.
        mode: Option<SetupMode>,
    },
}

/// One `setup_commands[]` entry as read: a command, or the JSON as stored with why it is not
/// one (the launcher refuses to run such a package and says why).
#[derive(Debug, Clone, PartialEq)]
pub enum SetupEntry {
    /// A well-formed command.
    Command(SetupCommand),
    /// Anything else, kept verbatim.
    Invalid {
        /// The entry as stored.
        json: Value,
        /// What is wrong with it.
        problem: String,
    },
}

impl SetupCommand {
    /// Its type.
    pub fn kind(&self) -> SetupKind {
        match self {
            SetupCommand::Execute { .. } => SetupKind::Execute,
            SetupCommand::EnumerateAndExecute { .. } => SetupKind::EnumerateAndExecute,
            SetupCommand::WriteFile { .. } => SetupKind::WriteFile,
            SetupCommand::Chmod { .. } => SetupKind::Chmod,
        }
    }

    /// The JSON object stored in the metadata.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("type".into(), self.kind().name().into());
        let mut put = |k: &str, v: Value| {
            m.insert(k.to_string(), v);
        };
        match self {
            SetupCommand::Execute { command } => put("command", command.as_str().into()),
            SetupCommand::EnumerateAndExecute {
                command,
                path,
                pattern,
            } => {
                put("command", command.as_str().into());
                let mut e = Map::new();
                e.insert("path".into(), path.as_str().into());
                if let Some(p) = pattern {
                    e.insert("pattern".into(), p.as_str().into());
                }
                put("enumerate", Value::Object(e));
            }
            SetupCommand::WriteFile {
                path,
                content,
                mode,
            } => {
                put("path", path.as_str().into());
                put("content", content.as_str().into());
                if let Some(mode) = mode {
                    put("mode", mode.to_json());
                }
            }
            SetupCommand::Chmod { path, mode } => {
                put("path", path.as_str().into());
                if let Some(mode) = mode {
                    put("mode", mode.to_json());
                }
            }
        }
        Value::Object(m)
    }

    /// Read a JSON entry; the error says what is wrong with it.
    pub fn from_json(v: &Value) -> Result<SetupCommand, String> {
        let kind = match v.get("type") {
            Some(Value::String(t)) => SetupKind::from_name(t).ok_or_else(|| {
                format!(
                    "unknown type {t:?} (known: {})",
                    <SetupKind as crate::Term>::names().join(", ")
                )
            })?,
            _ => return Err(format!("no string field \"type\" in {v}")),
        };
        let text = |obj: &Value, name: &str| -> Result<String, String> {
            match obj.get(name) {
                Some(Value::String(s)) => Ok(s.clone()),
                _ => Err(format!("missing string field {name:?} in {v}")),
            }
        };
        let optional = |name: &str| -> Result<Option<String>, String> {
            match v.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(other) => Err(format!("field {name:?} must be a string, found {other}")),
            }
        };
        Ok(match kind {
            SetupKind::Execute => SetupCommand::Execute {
                command: text(v, "command")?,
            },
            SetupKind::EnumerateAndExecute => {
                let spec = v.get("enumerate").unwrap_or(&Value::Null);
                SetupCommand::EnumerateAndExecute {
                    command: text(v, "command")?,
                    path: text(spec, "path")?,
                    pattern: match spec.get("pattern") {
                        None | Some(Value::Null) => None,
                        Some(Value::String(p)) => Some(p.clone()),
                        Some(other) => return Err(format!("bad pattern {other} in {v}")),
                    },
                }
            }
            SetupKind::WriteFile => SetupCommand::WriteFile {
                path: text(v, "path")?,
                content: optional("content")?.unwrap_or_default(),
                mode: mode_of(v)?,
            },
            SetupKind::Chmod => SetupCommand::Chmod {
                path: text(v, "path")?,
                mode: mode_of(v)?,
            },
        })
    }
}

/// The `mode` field: absent, null, a number or an octal string; anything else is an error.
fn mode_of(v: &Value) -> Result<Option<SetupMode>, String> {
    let mode = match v.get("mode") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|m| u32::try_from(m).ok())
            .map(SetupMode::Number),
        Some(Value::String(s)) => Some(SetupMode::Octal(s.clone())),
        Some(_) => None,
    };
    match mode {
        Some(m) if m.bits().is_some() => Ok(Some(m)),
        _ => Err(format!("bad mode in {v}")),
    }
}

impl SetupEntry {
    /// Read an entry, keeping a malformed one with its problem.
    pub fn from_json(json: Value) -> SetupEntry {
        match SetupCommand::from_json(&json) {
            Ok(c) => SetupEntry::Command(c),
            Err(problem) => SetupEntry::Invalid { json, problem },
        }
    }

    /// The entry as stored.
    pub fn to_json(&self) -> Value {
        match self {
            SetupEntry::Command(c) => c.to_json(),
            SetupEntry::Invalid { json, .. } => json.clone(),
        }
    }
}

impl From<SetupCommand> for SetupEntry {
    fn from(c: SetupCommand) -> Self {
        SetupEntry::Command(c)
    }
}

impl Serialize for SetupEntry {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

impl<'de> Deserialize<'de> for SetupEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(SetupEntry::from_json(Value::deserialize(d)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_kind_round_trips_through_json() {
        for cmd in [
            SetupCommand::Execute {
                command: "{workenv}/bin/init --fast".into(),
            },
            SetupCommand::EnumerateAndExecute {
                command: "chmod +x".into(),
                path: "{workenv}/bin".into(),
                pattern: Some("*.sh".into()),
            },
            SetupCommand::WriteFile {
                path: "{workenv}/a".into(),
                content: "b".into(),
                mode: Some(SetupMode::Octal("0600".into())),
            },
            SetupCommand::Chmod {
                path: "{workenv}/bin/*".into(),
                mode: Some(SetupMode::Number(0o755)),
            },
        ] {
            let json = cmd.to_json();
            assert_eq!(json["type"], cmd.kind().name());
            assert_eq!(SetupCommand::from_json(&json), Ok(cmd));
        }
    }

    #[test]
    fn malformed_entries_are_kept_with_the_reason() {
        for (json, why) in [
            (
                json!({"type": "download", "url": "x"}),
                "unknown type \"download\"",
            ),
            (json!({"type": "write_file", "content": "x"}), "\"path\""),
            (
                json!({"type": "chmod", "path": "p", "mode": "rwx"}),
                "bad mode",
            ),
            (json!("echo hi"), "no string field \"type\""),
        ] {
            let entry: SetupEntry = serde_json::from_value(json.clone()).unwrap();
            match &entry {
                SetupEntry::Invalid { problem, .. } => assert!(problem.contains(why), "{problem}"),
                other => panic!("{json} read as {other:?}"),
            }
            assert_eq!(serde_json::to_value(&entry).unwrap(), json, "kept verbatim");
        }
    }
}

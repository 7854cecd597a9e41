//! Upstream `setup_commands` → `[[setup]]` tables (a `shell` command becomes `execute` of
//! `sh -c …`), and quoting words for a shell command line.

use super::importer::{Importer, text};
use super::toml_out::{inline_map, q};
use serde_json::Value;
use std::fmt::Write as _;

/// A word for a shell command line, quoted when needed.
pub(super) fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%{}".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

impl Importer {
    /// One `[[setup]]` table (already formatted), or `None` when it cannot be carried over.
    pub(super) fn setup(&mut self, i: usize, v: &Value) -> Option<String> {
        let m = v.as_object()?;
        let kind = text(m.get("type")).unwrap_or_default();
        let mut out = String::from("\n[[setup]]\n");
        let known = ["execute", "enumerate_and_execute", "write_file", "chmod"];
        if kind == "shell" {
            let command = text(m.get("command")).unwrap_or_default();
            self.warn(format!(
                "setup_commands[{i}]: type `shell` (not every launcher knows it) became `execute` \
                 of `sh -c …`"
            ));
            let _ = writeln!(out, "type = \"execute\"");
            let _ = writeln!(
                out,
                "command = {}",
                q(&format!("sh -c {}", shell_word(&command)))
            );
            self.unknown_keys(m, &["type", "command"], &format!("setup_commands[{i}]: "));
            return Some(out);
        }
        if !known.contains(&kind.as_str()) {
            self.warn(format!(
                "setup_commands[{i}]: type {kind:?} is not one flavor knows ({}); left out",
                known.join(", ")
            ));
            return None;
        }
        let _ = writeln!(out, "type = {}", q(&kind));
        for field in ["command", "path", "content"] {
            if let Some(s) = text(m.get(field)) {
                let _ = writeln!(out, "{field} = {}", q(&s));
            }
        }
        match m.get("mode") {
            Some(Value::Number(n)) if n.is_i64() => {
                let _ = writeln!(out, "mode = {n}");
            }
            Some(v) => {
                if let Some(s) = text(Some(v)) {
                    let _ = writeln!(out, "mode = {}", q(&s));
                }
            }
            None => {}
        }
        if m.get("enumerate").is_some() {
            let e = self.string_map(
                m.get("enumerate"),
                &format!("setup_commands[{i}].enumerate"),
            );
            let _ = writeln!(out, "enumerate = {}", inline_map(&e));
        }
        self.unknown_keys(
            m,
            &["type", "command", "path", "content", "mode", "enumerate"],
            &format!("setup_commands[{i}]: "),
        );
        Some(out)
    }
}

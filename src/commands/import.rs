//! `flavor import manifest.json`: an upstream FlavorPack JSON manifest → `flavor.toml`.
//!
//! Reads both forms the upstream builders accept — flat (`name`, `version`, `command`,
//! `environment` at the top) and nested (`package`, `execution`, `slots`), preferring the nested
//! values where both are given — and writes the equivalent `flavor.toml`, printed or written
//! with `-o`. Everything it cannot carry over unchanged is said twice: as a warning on stderr
//! and as a comment at the top of the result. Among those:
//!
//! - the Rust and Go builders store a slot file as given, so an `operations = "tgz"` slot
//!   names a ready-made `.tgz`; flavor archives and compresses a *source* itself, so the slot
//!   now names the directory the archive unpacks to (the warning says how to make it);
//! - `{workenv}` at the start of a source path is the builder's base directory; here it
//!   becomes the manifest's directory, and every source is made relative to the output file;
//! - values flavor has no key for (`execution.args` folded into the command, a `shell` setup
//!   command run through `sh -c`, unknown purposes, `dependencies`, …).
//!
//! The result is checked with the manifest loader before it is printed: apart from sources
//! that do not exist yet, it always loads.

use crate::report::print_json;
use anyhow::{Context, bail};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs;
use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// The upstream FlavorPack manifest (JSON, flat or nested form).
    manifest: PathBuf,
    /// Write the flavor.toml to FILE instead of printing it (sources are made relative to
    /// FILE's directory).
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Replace FILE if it exists.
    #[arg(long)]
    force: bool,
    /// Print the result and the warnings as JSON.
    #[arg(long)]
    json: bool,
}

/// A TOML basic string.
fn q(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A TOML key: bare when it can be, quoted otherwise.
fn key(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        s.to_string()
    } else {
        q(s)
    }
}

fn inline_map(m: &BTreeMap<String, String>) -> String {
    if m.is_empty() {
        return "{}".into();
    }
    let items: Vec<String> = m
        .iter()
        .map(|(k, v)| format!("{} = {}", key(k), q(v)))
        .collect();
    format!("{{ {} }}", items.join(", "))
}

fn array(v: &[String]) -> String {
    let items: Vec<String> = v.iter().map(|s| q(s)).collect();
    format!("[{}]", items.join(", "))
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

/// A word for a shell command line, quoted when needed.
fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%{}".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Resolve `.` and `..` without touching the filesystem.
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// `path` relative to the directory `from` (both absolute and normalized).
fn relative_to(path: &Path, from: &Path) -> PathBuf {
    let p: Vec<Component> = path.components().collect();
    let f: Vec<Component> = from.components().collect();
    let common = p.iter().zip(&f).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..f.len() {
        out.push("..");
    }
    for c in &p[common..] {
        out.push(c.as_os_str());
    }
    if out.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        out
    }
}

fn absolute(p: &Path) -> PathBuf {
    let abs = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(p)
    };
    abs.canonicalize().unwrap_or_else(|_| normalize(&abs))
}

/// Strip a leading `{workenv}` (and the `/` after it).
fn strip_workenv(s: &str) -> Option<&str> {
    s.strip_prefix("{workenv}")
        .map(|r| r.trim_start_matches('/'))
}

/// The flavor codec for upstream `operations`, and the suffixes a ready-made file of that
/// encoding carries.
fn codec_of(ops: &str) -> Option<(&'static str, &'static [&'static str])> {
    let words: Vec<String> = ops
        .to_ascii_lowercase()
        .split(['|', '+', ',', ' '])
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect();
    let joined = words.join("+");
    Some(match joined.as_str() {
        "" | "none" | "raw" => ("raw", &[]),
        "gzip" | "gz" => ("gzip", &[".gz"]),
        "zstd" | "zst" => ("zstd", &[".zst"]),
        "tar" => ("tar", &[".tar"]),
        "tgz" | "tar.gz" | "tar+gzip" | "tar+gz" => ("tar.gz", &[".tar.gz", ".tgz"]),
        "tar.zst" | "tzst" | "tar+zstd" | "tar+zst" => ("tar.zst", &[".tar.zst", ".tzst"]),
        _ => return None,
    })
}

/// Lifecycles upstream writes that flavor spells differently.
fn lifecycle_of(l: &str) -> Option<&'static str> {
    let l = match l {
        "cached" => "cache",
        other => other,
    };
    flavor_rules::manifest::LIFECYCLES
        .iter()
        .find(|k| **k == l)
        .copied()
}

struct Slot {
    id: String,
    source: String,
    target: Option<String>,
    codec: Option<String>,
    lifecycle: Option<String>,
    permissions: Option<String>,
    purpose: Option<String>,
}

struct Importer {
    /// Directory of the JSON manifest: relative sources are relative to it.
    base: PathBuf,
    /// Directory of the flavor.toml being written.
    out_dir: PathBuf,
    warnings: Vec<String>,
    workenv_sources: bool,
}

impl Importer {
    fn warn(&mut self, w: impl Into<String>) {
        self.warnings.push(w.into());
    }

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

    fn unknown_keys(&mut self, m: &Map<String, Value>, known: &[&str], what: &str) {
        for k in m.keys().filter(|k| !known.contains(&k.as_str())) {
            self.warn(format!(
                "{what}`{k}` has no flavor.toml equivalent; left out"
            ));
        }
    }

    /// A source path relative to the output directory.
    fn source(&mut self, id: &str, raw: &str) -> String {
        let s = match strip_workenv(raw) {
            Some(rest) => {
                self.workenv_sources = true;
                if rest.is_empty() { "." } else { rest }
            }
            None => raw,
        };
        if s.contains('{') {
            self.warn(format!(
                "slot `{id}`: source {raw:?} has a placeholder flavor does not expand"
            ));
        }
        let path = Path::new(s);
        if path.is_absolute() {
            if path.exists() {
                return relative_to(&normalize(path), &self.out_dir)
                    .display()
                    .to_string();
            }
            let file = path
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_else(|| id.to_string());
            self.warn(format!(
                "slot `{id}`: absolute source {s} does not exist here; now `{file}` beside \
                 flavor.toml (copy the file there or fix the path)"
            ));
            return file;
        }
        relative_to(&normalize(&self.base.join(path)), &self.out_dir)
            .display()
            .to_string()
    }

    fn slot(&mut self, i: usize, v: &Value, ids: &mut BTreeSet<String>) -> Option<Slot> {
        let Some(m) = v.as_object() else {
            self.warn(format!("slots[{i}] is not an object; left out"));
            return None;
        };
        let mut id = match (text(m.get("id")), text(m.get("name"))) {
            (Some(id), _) if !id.is_empty() => id,
            (_, Some(name)) if !name.is_empty() => {
                self.warn(format!(
                    "slots[{i}] has `name` instead of `id` (upstream builders reject this); \
                     used as the id `{name}`"
                ));
                name
            }
            _ => {
                self.warn(format!("slots[{i}] has no id; named `slot{i}`"));
                format!("slot{i}")
            }
        };
        if !ids.insert(id.clone()) {
            let renamed = format!("{id}-{i}");
            self.warn(format!(
                "slot id `{id}` appears twice; the second is `{renamed}`"
            ));
            id = renamed;
            ids.insert(id.clone());
        }
        if let Some(n) = m.get("slot").and_then(Value::as_u64)
            && n != i as u64
        {
            self.warn(format!(
                "slot `{id}` declares \"slot\": {n} at position {i} (upstream builders reject \
                 this); flavor numbers slots in list order"
            ));
        }
        if m.get("self_ref").and_then(Value::as_bool) == Some(true) {
            self.warn(format!(
                "slot `{id}` refers to the package itself (self_ref); flavor has no such slot; \
                 left out"
            ));
            return None;
        }
        let raw_source = match (text(m.get("source")), text(m.get("path"))) {
            (Some(s), _) if !s.is_empty() => s,
            (_, Some(p)) if !p.is_empty() => {
                self.warn(format!(
                    "slot `{id}` has `path` instead of `source` (upstream builders reject this); \
                     used as its source"
                ));
                p
            }
            _ => {
                self.warn(format!("slot `{id}` has no source; left out"));
                return None;
            }
        };
        let mut source = self.source(&id, &raw_source);
        let ops = text(m.get("operations")).unwrap_or_default();
        let codec = match codec_of(&ops) {
            Some(c) => Some(c),
            None => {
                self.warn(format!(
                    "slot `{id}`: operations {ops:?} have no flavor codec; the default codec is used"
                ));
                None
            }
        };
        if let Some((name, suffixes)) = codec {
            let is_dir = self.out_dir.join(&source).is_dir();
            let pre = suffixes
                .iter()
                .find(|s| source.len() > s.len() && source.ends_with(*s));
            if let (false, Some(suffix)) = (is_dir, pre) {
                let decoded = source[..source.len() - suffix.len()].to_string();
                let how = match name {
                    "gzip" => format!("gunzip -k {source}"),
                    "zstd" => format!("zstd -d {source}"),
                    "tar" => format!("mkdir -p {decoded} && tar -xf {source} -C {decoded}"),
                    "tar.gz" => format!("mkdir -p {decoded} && tar -xzf {source} -C {decoded}"),
                    _ => format!("mkdir -p {decoded} && tar --zstd -xf {source} -C {decoded}"),
                };
                self.warn(format!(
                    "slot `{id}`: upstream stores the ready-made {source} as given, while flavor \
                     encodes ({name}) the source itself; the source is now `{decoded}` — make it \
                     with `{how}`"
                ));
                source = decoded;
            }
        }
        let target = match text(m.get("target")) {
            None => None,
            Some(t) => {
                let t = match strip_workenv(&t) {
                    Some("") => ".".to_string(),
                    Some(rest) => rest.to_string(),
                    None => t,
                };
                let p = Path::new(&t);
                if t.is_empty() {
                    None
                } else if p.is_absolute() || p.components().any(|c| c == Component::ParentDir) {
                    self.warn(format!(
                        "slot `{id}`: target {t:?} leaves the work environment; left out"
                    ));
                    None
                } else {
                    Some(t)
                }
            }
        };
        // A source outside this directory cannot be its own target.
        let target = target.or_else(|| {
            let p = Path::new(&source);
            (p.is_absolute() || p.components().any(|c| c == Component::ParentDir))
                .then(|| p.file_name().map(|f| f.to_string_lossy().into_owned()))
                .flatten()
        });
        let lifecycle = text(m.get("lifecycle")).and_then(|l| match lifecycle_of(&l) {
            Some(k) => Some(k.to_string()),
            None => {
                self.warn(format!(
                    "slot `{id}`: lifecycle {l:?} is not one flavor knows; left out (default: cache)"
                ));
                None
            }
        });
        let purpose = text(m.get("purpose")).and_then(|p| {
            if flavor_rules::manifest::PURPOSES.contains(&p.as_str()) {
                Some(p)
            } else {
                self.warn(format!(
                    "slot `{id}`: purpose {p:?} is not one flavor knows ({}); left out",
                    flavor_rules::manifest::PURPOSES.join(", ")
                ));
                None
            }
        });
        let permissions = text(m.get("permissions")).and_then(|p| {
            if pspf::metadata::parse_mode(&p).is_some() {
                Some(p)
            } else {
                self.warn(format!(
                    "slot `{id}`: permissions {p:?} are not an octal mode; left out"
                ));
                None
            }
        });
        if let Some(r) = text(m.get("resolution")).filter(|r| r != "build") {
            self.warn(format!(
                "slot `{id}`: resolution {r:?} is not supported; flavor resolves every slot at build time"
            ));
        }
        self.unknown_keys(
            m,
            &[
                "slot",
                "id",
                "name",
                "source",
                "path",
                "target",
                "operations",
                "purpose",
                "lifecycle",
                "permissions",
                "resolution",
                "self_ref",
                "size",
                "checksum",
            ],
            &format!("slot `{id}`: "),
        );
        Some(Slot {
            id,
            source,
            target,
            codec: codec.map(|(c, _)| c.to_string()),
            lifecycle,
            permissions,
            purpose,
        })
    }

    /// One `[[setup]]` table (already formatted), or `None` when it cannot be carried over.
    fn setup(&mut self, i: usize, v: &Value) -> Option<String> {
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

    fn convert(&mut self, doc: &Value, source_name: &str) -> anyhow::Result<String> {
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

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let bytes =
        fs::read(&args.manifest).with_context(|| format!("reading {}", args.manifest.display()))?;
    let doc: Value = serde_json::from_slice(&bytes)
        .with_context(|| format!("{}: not JSON", args.manifest.display()))?;
    let base = absolute(args.manifest.parent().unwrap_or(Path::new("")));
    let out_path = match &args.output {
        Some(o) => {
            if fs::symlink_metadata(o).is_ok() && !args.force {
                bail!("{} already exists; use --force to replace it", o.display());
            }
            absolute(o)
        }
        None => base.join("flavor.toml"),
    };
    let out_dir = out_path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut importer = Importer {
        base,
        out_dir: out_dir.clone(),
        warnings: Vec::new(),
        workenv_sources: false,
    };
    let name = args
        .manifest
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let toml = importer
        .convert(&doc, &name)
        .with_context(|| args.manifest.display().to_string())?;

    // The result must load; only sources that do not exist yet may be missing.
    if let Err(errors) = flavor_rules::Manifest::parse(&out_path, &toml) {
        let mut missing = Vec::new();
        for m in errors.messages() {
            if m.contains("does not exist") {
                missing.push(m);
            } else {
                bail!(
                    "flavor import wrote a manifest that does not load ({m}); please report this"
                );
            }
        }
        for m in missing {
            importer.warn(format!("{m} (relative to {})", out_dir.display()));
        }
    }

    if let Some(o) = &args.output {
        let dir = o.parent().filter(|p| !p.as_os_str().is_empty());
        if let Some(d) = dir {
            fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
        }
        let tmp = tempfile::NamedTempFile::new_in(dir.unwrap_or(Path::new(".")))?;
        fs::write(tmp.path(), &toml)?;
        tmp.persist(o)
            .with_context(|| format!("writing {}", o.display()))?;
    }
    if args.json {
        print_json(&json!({
            "manifest": args.manifest.display().to_string(),
            "output": args.output.as_ref().map(|o| o.display().to_string()),
            "toml": toml,
            "warnings": importer.warnings,
        }));
        return Ok(ExitCode::SUCCESS);
    }
    for w in &importer.warnings {
        eprintln!("warning: {w}");
    }
    match &args.output {
        Some(o) => eprintln!(
            "wrote {} ({} warning{})",
            o.display(),
            importer.warnings.len(),
            if importer.warnings.len() == 1 {
                ""
            } else {
                "s"
            }
        ),
        None => print!("{toml}"),
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_and_keys_are_valid_toml() {
        assert_eq!(q("a\"b\\c\n"), r#""a\"b\\c\n""#);
        assert_eq!(key("PATH"), "PATH");
        assert_eq!(key("a.b"), "\"a.b\"");
    }

    #[test]
    fn codecs_map_from_upstream_operations() {
        assert_eq!(codec_of("none").unwrap().0, "raw");
        assert_eq!(codec_of("tgz").unwrap().0, "tar.gz");
        assert_eq!(codec_of("TAR|GZIP").unwrap().0, "tar.gz");
        assert!(codec_of("bzip2").is_none());
    }

    #[test]
    fn paths_are_made_relative() {
        assert_eq!(
            relative_to(Path::new("/a/b/c"), Path::new("/a/x")),
            PathBuf::from("../b/c")
        );
        assert_eq!(
            relative_to(Path::new("/a"), Path::new("/a")),
            PathBuf::from(".")
        );
        assert_eq!(normalize(Path::new("/a/./b/../c")), PathBuf::from("/a/c"));
    }
}

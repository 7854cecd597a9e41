//! Reading `flavor.toml` with spans: TOML → [`Manifest`], collecting every problem.
//!
//! Unknown keys (with a did-you-mean), wrong types and missing required fields are all
//! reported in one pass; semantic checks (codecs, references, cycles, paths) follow in
//! `check`.

use super::schema::*;
use crate::diagnostic::{Problem, did_you_mean};
use std::collections::BTreeMap;
use std::ops::Range;
use toml_edit::{Item, TableLike, Value};

pub(crate) struct Reader {
    pub problems: Vec<Problem>,
}

fn type_name(item: &Item) -> &'static str {
    match item {
        Item::None => "nothing",
        Item::Value(v) => v.type_name(),
        Item::Table(_) => "table",
        Item::ArrayOfTables(_) => "array of tables",
    }
}

fn key_span(t: &dyn TableLike, key: &str) -> Option<Range<usize>> {
    t.get_key_value(key).and_then(|(k, _)| k.span())
}

impl Reader {
    fn wrong_type(&mut self, item: &Item, where_: &str, expected: &str) {
        self.problems.push(
            Problem::new(
                format!("{where_} must be {expected}, found {}", type_name(item)),
                item.span(),
            )
            .label(format!("expected {expected}")),
        );
    }

    /// Report keys of `t` that are not in `allowed`.
    pub fn check_keys(&mut self, t: &dyn TableLike, where_: &str, allowed: &[&str]) {
        for (key, _) in t.iter() {
            if allowed.contains(&key) {
                continue;
            }
            let full = if where_.is_empty() {
                key.to_string()
            } else {
                format!("{where_}.{key}")
            };
            let mut p = Problem::new(format!("unknown key `{full}`"), key_span(t, key))
                .label("not a flavor.toml key");
            p = match did_you_mean(key, allowed) {
                Some(s) => p.help(format!("did you mean `{s}`?")),
                None => p.help(format!("keys allowed here: {}", allowed.join(", "))),
            };
            self.problems.push(p);
        }
    }

    pub fn table<'t>(&mut self, item: &'t Item, where_: &str) -> Option<&'t dyn TableLike> {
        let t = item.as_table_like();
        if t.is_none() {
            self.wrong_type(item, where_, "a table");
        }
        t
    }

    /// `[[x]]` or an inline array of inline tables.
    pub fn tables<'t>(&mut self, item: &'t Item, where_: &str) -> Vec<&'t dyn TableLike> {
        match item {
            Item::ArrayOfTables(a) => a.iter().map(|t| t as &dyn TableLike).collect(),
            Item::Value(Value::Array(a)) => {
                let mut out = Vec::new();
                for v in a.iter() {
                    match v.as_inline_table() {
                        Some(t) => out.push(t as &dyn TableLike),
                        None => self.problems.push(
                            Problem::new(format!("each {where_} must be a table"), v.span())
                                .label("expected a table"),
                        ),
                    }
                }
                out
            }
            other => {
                self.wrong_type(other, where_, &format!("an array of tables ([[{where_}]])"));
                Vec::new()
            }
        }
    }

    pub fn string(
        &mut self,
        t: &dyn TableLike,
        key: &str,
        where_: &str,
    ) -> Option<Spanned<String>> {
        let item = t.get(key)?;
        match item.as_str() {
            Some(s) => Some(Spanned::new(s.to_string(), item.span())),
            None => {
                self.wrong_type(item, &format!("{where_}.{key}"), "a string");
                None
            }
        }
    }

    pub fn required_string(
        &mut self,
        t: &dyn TableLike,
        key: &str,
        where_: &str,
        at: Option<Range<usize>>,
    ) -> Spanned<String> {
        if t.get(key).is_none() {
            self.problems.push(
                Problem::new(format!("{where_} is missing the required key `{key}`"), at)
                    .label(format!("`{key}` missing here"))
                    .help(format!("add `{key} = \"…\"` to {where_}")),
            );
            return Spanned::new(String::new(), None);
        }
        self.string(t, key, where_)
            .unwrap_or_else(|| Spanned::new(String::new(), None))
    }

    pub fn integer(&mut self, t: &dyn TableLike, key: &str, where_: &str) -> Option<Spanned<i64>> {
        let item = t.get(key)?;
        match item.as_integer() {
            Some(i) => Some(Spanned::new(i, item.span())),
            None => {
                self.wrong_type(item, &format!("{where_}.{key}"), "an integer");
                None
            }
        }
    }

    pub fn boolean(&mut self, t: &dyn TableLike, key: &str, where_: &str) -> Option<bool> {
        let item = t.get(key)?;
        let b = item.as_bool();
        if b.is_none() {
            self.wrong_type(item, &format!("{where_}.{key}"), "true or false");
        }
        b
    }

    pub fn strings(&mut self, t: &dyn TableLike, key: &str, where_: &str) -> Vec<Spanned<String>> {
        let Some(item) = t.get(key) else {
            return Vec::new();
        };
        let Some(array) = item.as_array() else {
            self.wrong_type(item, &format!("{where_}.{key}"), "an array of strings");
            return Vec::new();
        };
        let mut out = Vec::new();
        for v in array.iter() {
            match v.as_str() {
                Some(s) => out.push(Spanned::new(s.to_string(), v.span())),
                None => self.problems.push(
                    Problem::new(
                        format!(
                            "{where_}.{key} must hold only strings, found {}",
                            v.type_name()
                        ),
                        v.span(),
                    )
                    .label("expected a string"),
                ),
            }
        }
        out
    }

    pub fn string_map(
        &mut self,
        t: &dyn TableLike,
        key: &str,
        where_: &str,
    ) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let Some(item) = t.get(key) else {
            return out;
        };
        let Some(table) = self.table(item, &format!("{where_}.{key}")) else {
            return out;
        };
        for (k, v) in table.iter() {
            match v.as_str() {
                Some(s) => {
                    out.insert(k.to_string(), s.to_string());
                }
                None => self.wrong_type(v, &format!("{where_}.{key}.{k}"), "a string"),
            }
        }
        out
    }
}

const TOP: &[&str] = &[
    "package",
    "execution",
    "runtime",
    "workenv",
    "slot",
    "step",
    "setup",
    "signing",
    "target",
    "workspace",
    "cache",
];

/// Read a parsed document into a manifest, recording problems in `r`.
pub(crate) fn read(doc: &toml_edit::Document<String>, r: &mut Reader, m: &mut Manifest) {
    let root = doc.as_table() as &dyn TableLike;
    r.check_keys(root, "", TOP);

    if let Some(ws) = root
        .get("workspace")
        .and_then(|i| r.table(i, "[workspace]"))
    {
        r.check_keys(ws, "workspace", &["members"]);
        m.workspace = Some(Workspace {
            members: r.strings(ws, "members", "workspace"),
        });
    }
    if let Some(c) = root.get("cache").and_then(|i| r.table(i, "[cache]")) {
        r.check_keys(c, "cache", &["remote", "token_env", "read_only"]);
        let remote = r.string(c, "remote", "cache");
        if let Some(url) = &remote
            && !(url.value.starts_with("http://") || url.value.starts_with("https://"))
        {
            r.problems.push(
                Problem::new(
                    "cache.remote must be an http:// or https:// URL",
                    url.span.clone(),
                )
                .label("not an http(s) URL")
                .help(
                    "the base URL of a Bazel HTTP cache, e.g. \"http://cache.example:8080/flavor\"",
                ),
            );
        }
        let token_env = r.string(c, "token_env", "cache");
        if let Some(name) = &token_env
            && (name.value.is_empty()
                || name.value.starts_with(|c: char| c.is_ascii_digit())
                || !name
                    .value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_'))
        {
            r.problems.push(
                Problem::new(
                    "cache.token_env must name an environment variable",
                    name.span.clone(),
                )
                .label("not a variable name")
                .help("put the token in an environment variable and name it here, e.g. token_env = \"FLAVOR_CACHE_TOKEN\"; never put the token itself in the manifest"),
            );
        }
        m.cache = Some(CacheConfig {
            remote: remote.map(|s| s.value),
            token_env: token_env.map(|s| s.value),
            read_only: r.boolean(c, "read_only", "cache").unwrap_or(false),
        });
    }

    let has_package_content = TOP
        .iter()
        .any(|k| !matches!(*k, "workspace" | "cache") && root.get(k).is_some());
    if !has_package_content {
        if m.workspace.is_none() {
            r.problems.push(
                Problem::new(
                    "the manifest declares neither a [package] nor a [workspace]",
                    Some(0..0),
                )
                .help("start with [package] name = \"…\" version = \"…\" (flavor init writes one)"),
            );
        }
        return;
    }
    m.package = Some(read_package(root, r));
}

fn read_package(root: &dyn TableLike, r: &mut Reader) -> Package {
    let mut p = Package::default();
    match root.get("package").and_then(|i| r.table(i, "[package]")) {
        Some(t) => {
            r.check_keys(t, "package", &["name", "version", "description"]);
            let at = key_span(root, "package");
            p.name = r.required_string(t, "name", "[package]", at.clone());
            p.version = r.required_string(t, "version", "[package]", at).value;
            p.description = r.string(t, "description", "package").map(|s| s.value);
        }
        None if root.get("package").is_none() => r.problems.push(
            Problem::new("the manifest has no [package] section", Some(0..0))
                .help("add [package] with name = \"…\" and version = \"…\""),
        ),
        None => {}
    }
    match root
        .get("execution")
        .and_then(|i| r.table(i, "[execution]"))
    {
        Some(t) => {
            r.check_keys(t, "execution", &["command", "env"]);
            p.command = r.required_string(t, "command", "[execution]", key_span(root, "execution"));
            p.env = r.string_map(t, "env", "execution");
        }
        None if root.get("execution").is_none() => r.problems.push(
            Problem::new("the manifest has no [execution] section", Some(0..0))
                .help("add [execution] command = \"{workenv}/bin/yourapp\""),
        ),
        None => {}
    }
    if let Some(rt) = root.get("runtime").and_then(|i| r.table(i, "[runtime]")) {
        r.check_keys(rt, "runtime", &["env"]);
        if let Some(t) = rt.get("env").and_then(|i| r.table(i, "[runtime.env]")) {
            r.check_keys(t, "runtime.env", &["unset", "pass", "set", "map"]);
            let plain = |v: Vec<Spanned<String>>| v.into_iter().map(|s| s.value).collect();
            p.runtime_env = Some(RuntimeEnv {
                unset: plain(r.strings(t, "unset", "runtime.env")),
                pass: plain(r.strings(t, "pass", "runtime.env")),
                set: r.string_map(t, "set", "runtime.env"),
                map: r.string_map(t, "map", "runtime.env"),
            });
        }
    }
    if let Some(w) = root.get("workenv").and_then(|i| r.table(i, "[workenv]")) {
        r.check_keys(w, "workenv", &["directories", "env"]);
        p.workenv_env = r.string_map(w, "env", "workenv");
        if let Some(item) = w.get("directories") {
            for d in r.tables(item, "workenv.directories") {
                r.check_keys(d, "workenv.directories", &["path", "mode"]);
                let path = r.required_string(d, "path", "a workenv.directories entry", None);
                let mode = r.string(d, "mode", "workenv.directories");
                p.workenv_dirs.push((path.value, mode));
            }
        }
    }
    if let Some(item) = root.get("slot") {
        for t in r.tables(item, "slot") {
            if let Some(slot) = read_slot(t, r) {
                p.slots.push(slot);
            }
        }
    }
    if let Some(item) = root.get("step") {
        for t in r.tables(item, "step") {
            p.steps.push(read_step(t, r));
        }
    }
    if let Some(item) = root.get("setup") {
        for t in r.tables(item, "setup") {
            p.setup.push(read_setup(t, r));
        }
    }
    if let Some(t) = root.get("signing").and_then(|i| r.table(i, "[signing]")) {
        r.check_keys(t, "signing", &["private_key", "key_seed_env"]);
        p.signing = Signing {
            private_key: r.string(t, "private_key", "signing"),
            key_seed_env: r.string(t, "key_seed_env", "signing"),
        };
    }
    if let Some(item) = root.get("target") {
        for t in r.tables(item, "target") {
            r.check_keys(t, "target", &["name", "output", "launcher"]);
            p.targets.push(Target {
                name: r.required_string(t, "name", "a [[target]]", None),
                output: r.string(t, "output", "target"),
                launcher: r.string(t, "launcher", "target"),
            });
        }
    }
    p
}

const SLOT_KEYS: &[&str] = &[
    "id",
    "source",
    "step",
    "target",
    "codec",
    "level",
    "include",
    "exclude",
    "lifecycle",
    "permissions",
    "purpose",
];

fn table_span(t: &dyn TableLike) -> Option<Range<usize>> {
    t.iter()
        .filter_map(|(k, _)| key_span(t, k))
        .reduce(|a, b| a.start.min(b.start)..a.end.max(b.end))
}

fn read_slot(t: &dyn TableLike, r: &mut Reader) -> Option<Slot> {
    r.check_keys(t, "slot", SLOT_KEYS);
    let span = table_span(t);
    let id = r.required_string(t, "id", "a [[slot]]", span.clone());
    let source = match (r.string(t, "source", "slot"), r.string(t, "step", "slot")) {
        (Some(path), None) => SlotSource::Path(path),
        (None, Some(step)) => SlotSource::Step(step),
        (Some(_), Some(step)) => {
            r.problems.push(
                Problem::new(
                    format!("slot `{}` has both `source` and `step`", id.value),
                    step.span.clone(),
                )
                .label("pick one")
                .help("a slot ships either a path (`source`) or a build step's outputs (`step`)"),
            );
            return None;
        }
        (None, None) => {
            r.problems.push(
                Problem::new(
                    format!("slot `{}` has neither `source` nor `step`", id.value),
                    span,
                )
                .help("add source = \"path/relative/to/flavor.toml\" or step = \"<step id>\""),
            );
            return None;
        }
    };
    Some(Slot {
        source,
        target: r.string(t, "target", "slot"),
        codec: r.string(t, "codec", "slot"),
        level: r.integer(t, "level", "slot"),
        include: r.strings(t, "include", "slot"),
        exclude: r.strings(t, "exclude", "slot"),
        lifecycle: r.string(t, "lifecycle", "slot"),
        permissions: r.string(t, "permissions", "slot"),
        purpose: r.string(t, "purpose", "slot"),
        span,
        id,
    })
}

fn read_step(t: &dyn TableLike, r: &mut Reader) -> Step {
    r.check_keys(
        t,
        "step",
        &[
            "id", "command", "inputs", "outputs", "env", "pass_env", "cwd", "needs",
        ],
    );
    let span = table_span(t);
    Step {
        id: r.required_string(t, "id", "a [[step]]", span.clone()),
        command: r.required_string(t, "command", "a [[step]]", span),
        inputs: r.strings(t, "inputs", "step"),
        outputs: r.strings(t, "outputs", "step"),
        env: r.string_map(t, "env", "step"),
        pass_env: r
            .strings(t, "pass_env", "step")
            .into_iter()
            .map(|s| s.value)
            .collect(),
        cwd: r.string(t, "cwd", "step"),
        needs: r.strings(t, "needs", "step"),
    }
}

fn read_setup(t: &dyn TableLike, r: &mut Reader) -> SetupCommand {
    r.check_keys(
        t,
        "setup",
        &["type", "command", "path", "content", "mode", "enumerate"],
    );
    let kind = r.required_string(t, "type", "a [[setup]]", table_span(t));
    let mut fields = BTreeMap::new();
    for key in ["command", "path", "content", "mode"] {
        if let Some(item) = t.get(key) {
            if let Some(s) = item.as_str() {
                fields.insert(key.to_string(), SetupValue::String(s.to_string()));
            } else if let Some(i) = item.as_integer() {
                fields.insert(key.to_string(), SetupValue::Integer(i));
            } else {
                r.wrong_type(item, &format!("setup.{key}"), "a string");
            }
        }
    }
    if t.get("enumerate").is_some() {
        let map = r.string_map(t, "enumerate", "setup");
        fields.insert("enumerate".into(), SetupValue::Table(map));
    }
    SetupCommand { kind, fields }
}

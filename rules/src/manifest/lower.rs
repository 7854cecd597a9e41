//! From the schema's tables to the [model](super::model): required keys (every missing one is
//! reported), `source` or `step`, vocabulary values (an unknown one is reported with the
//! allowed ones), octal modes, the fields each setup command type needs, and `[cache]` values.

use super::de::{Doc, Seg, allowed_keys};
use super::model::*;
use super::schema::*;
use crate::diagnostic::{Problem, did_you_mean};
use pspf::setup::{SetupKind, SetupMode};
use pspf::{Codec, Lenient, Platform, SetupCommand, Term};
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;

/// Lowers one manifest, collecting problems.
pub(super) struct Lower<'a, 'i> {
    /// The document as parsed (before entries of the wrong type were dropped).
    pub doc: &'a Doc<'i>,
    pub problems: &'a mut Vec<Problem>,
}

/// Where a table is, for messages: its path in the document, its name in messages and span.
struct At<'p> {
    path: &'p [Seg],
    name: &'p str,
    span: Option<Range<usize>>,
}

fn key(k: &str) -> Seg {
    Seg::Key(k.to_string())
}

impl Lower<'_, '_> {
    /// Fill `m` from `raw`.
    pub fn manifest(&mut self, mut raw: ManifestToml, m: &mut Manifest) {
        m.workspace = raw.workspace.take();
        m.cache = raw.cache.take().map(|c| self.cache(c));
        m.remote = raw.remote.take().map(|r| self.remote(r));
        let package_keys: Vec<&str> = allowed_keys::<ManifestToml>(&[])
            .unwrap_or_default()
            .iter()
            .copied()
            .filter(|k| !matches!(*k, "workspace" | "cache" | "remote"))
            .collect();
        if !package_keys
            .iter()
            .any(|k| self.doc.get_ref().contains_key(*k))
        {
            if m.workspace.is_none() {
                self.problems.push(
                    Problem::new(
                        "the manifest declares neither a [package] nor a [workspace]",
                        Some(0..0),
                    )
                    .help(
                        "start with [package] name = \"…\" version = \"…\" (flavor init writes one)",
                    ),
                );
            }
            return;
        }
        m.package = Some(self.package(raw));
    }

    /// Was the key at `path` in the document? (A key dropped for its type is not "missing".)
    fn present(&self, path: &[Seg]) -> bool {
        let mut value: Option<&toml::de::DeValue<'_>> = None;
        for seg in path {
            let next = match (seg, value) {
                (Seg::Key(k), None) => self.doc.get_ref().get(k.as_str()),
                (Seg::Key(k), Some(toml::de::DeValue::Table(t))) => t.get(k.as_str()),
                (Seg::Index(i), Some(toml::de::DeValue::Array(a))) => a.get(*i),
                _ => None,
            };
            match next {
                Some(v) => value = Some(v.get_ref()),
                None => return false,
            }
        }
        true
    }

    /// A required key: reported when missing, an empty placeholder returned.
    fn required(&mut self, v: Option<Spanned<String>>, k: &str, at: &At<'_>) -> Spanned<String> {
        if let Some(v) = v {
            return v;
        }
        let path: Vec<Seg> = at.path.iter().cloned().chain([key(k)]).collect();
        if !self.present(&path) {
            self.problems.push(
                Problem::new(
                    format!("{} is missing the required key `{k}`", at.name),
                    at.span.clone(),
                )
                .label(format!("`{k}` missing here"))
                .help(format!("add `{k} = \"…\"` to {}", at.name)),
            );
        }
        Spanned::new(String::new(), None)
    }

    /// A vocabulary value: the known value, or `None` after reporting the unknown spelling.
    fn term<T: Term>(&mut self, v: Option<Spanned<Lenient<T>>>) -> Option<T> {
        let v = v?;
        match &v.value {
            Lenient::Known(t) => Some(*t),
            Lenient::Unknown(s) => {
                self.problems.push(unknown_term::<T>(s, v.span.clone()));
                None
            }
        }
    }

    fn package(&mut self, raw: ManifestToml) -> Package {
        let mut p = Package::default();
        // With [python], name, version and command default to what the pyproject says.
        let python = raw.python.is_some() || self.present(&[key("python")]);
        p.python = raw.python.and_then(|t| self.python(t));
        self.package_table(raw.package, python, &mut p);
        self.execution(raw.execution, python, &mut p);
        p.runtime_env = raw.runtime.and_then(|r| r.env);
        if let Some(w) = raw.workenv {
            p.workenv_env = w.env;
            p.workenv_dirs = (w.directories.into_iter().enumerate())
                .map(|(i, d)| self.workenv_dir(i, d))
                .collect();
        }
        p.slots = (raw.slot.into_iter().enumerate())
            .filter_map(|(i, s)| self.slot(i, s))
            .collect();
        p.steps = (raw.step.into_iter().enumerate())
            .map(|(i, s)| self.step(i, s))
            .collect();
        p.setup = (raw.setup.into_iter().enumerate())
            .filter_map(|(i, s)| self.setup(i, s))
            .collect();
        p.signing = raw.signing.unwrap_or_default();
        p.targets = (raw.target.into_iter().enumerate())
            .map(|(i, t)| self.target(i, t))
            .collect();
        p
    }

    /// A top-level table's name in messages, and its key's span.
    fn top(&self, k: &str) -> Option<Range<usize>> {
        self.doc.get_ref().get_key_value(k).map(|(k, _)| k.span())
    }

    /// Reports a missing top-level section (not one dropped for its type).
    fn missing_section(&mut self, k: &str, help: &str) {
        if !self.present(&[key(k)]) {
            self.problems.push(
                Problem::new(format!("the manifest has no [{k}] section"), Some(0..0)).help(help),
            );
        }
    }

    fn package_table(&mut self, t: Option<Spanned<PackageToml>>, python: bool, p: &mut Package) {
        let Some(t) = t else {
            if python {
                return;
            }
            return self.missing_section(
                "package",
                "add [package] with name = \"…\" and version = \"…\"",
            );
        };
        let at = At {
            path: &[key("package")],
            name: "[package]",
            span: self.top("package"),
        };
        let t = t.value;
        if python {
            p.name = t.name.unwrap_or_default();
            p.version = t.version.map(|v| v.value).unwrap_or_default();
        } else {
            p.name = self.required(t.name, "name", &at);
            p.version = self.required(t.version, "version", &at).value;
        }
        p.description = t.description;
        p.allow_sources_outside = t.allow_sources_outside;
    }

    fn execution(&mut self, t: Option<Spanned<ExecutionToml>>, python: bool, p: &mut Package) {
        let Some(t) = t else {
            if python {
                return;
            }
            return self.missing_section(
                "execution",
                "add [execution] command = \"{workenv}/bin/yourapp\"",
            );
        };
        let at = At {
            path: &[key("execution")],
            name: "[execution]",
            span: self.top("execution"),
        };
        p.command = match (python, t.value.command) {
            (true, command) => command.unwrap_or_default(),
            (false, command) => self.required(command, "command", &at),
        };
        p.env = t.value.env;
    }

    fn python(&mut self, raw: Spanned<PythonToml>) -> Option<PythonApp> {
        let at = At {
            path: &[key("python")],
            name: "[python]",
            span: self.top("python"),
        };
        let t = raw.value;
        let bytecode = self.term(t.bytecode).unwrap_or_default();
        let Some(interp) = t.interpreter else {
            self.required(None, "interpreter", &at);
            return None;
        };
        let span = interp.span.clone();
        let interpreter = match interp.value {
            InterpreterToml::Archive(path) => Interpreter::Archive(path),
            InterpreterToml::Table { url, sha256, uv } => match (url, sha256, uv) {
                (Some(url), Some(sha256), None) => {
                    let sha256 = sha256.to_ascii_lowercase();
                    if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                        self.problems.push(
                            Problem::new("python.interpreter.sha256 is not a sha256", span)
                                .label("expected 64 hex digits")
                                .help("write the archive's sha256 (`sha256sum <archive>`)"),
                        );
                        return None;
                    }
                    Interpreter::Url { url, sha256 }
                }
                (None, None, Some(request)) => Interpreter::Uv(request),
                _ => {
                    self.problems.push(
                        Problem::new(
                            "python.interpreter needs either `url` and `sha256`, or `uv` alone",
                            span,
                        )
                        .label("not a known interpreter source")
                        .help(
                            "interpreter = \"vendor/cpython-…-install_only.tar.gz\", or \
                             { url = \"https://…\", sha256 = \"…\" }, or { uv = \"3.12\" }",
                        ),
                    );
                    return None;
                }
            },
        };
        Some(PythonApp {
            project: t.project.unwrap_or_else(|| Spanned::new(".".into(), None)),
            entry: t.entry,
            lock: t.lock,
            interpreter: Spanned::new(interpreter, span),
            bytecode,
            exclude: t.exclude,
            span: at.span,
            resolved: None,
        })
    }

    fn workenv_dir(&mut self, i: usize, d: Spanned<WorkenvDirToml>) -> WorkenvDir {
        let at = At {
            path: &[key("workenv"), key("directories"), Seg::Index(i)],
            name: "a workenv.directories entry",
            span: d.span,
        };
        WorkenvDir {
            path: self.required(d.value.path, "path", &at),
            mode: d.value.mode,
        }
    }

    fn target(&mut self, i: usize, t: Spanned<TargetToml>) -> Target {
        let at = At {
            path: &[key("target"), Seg::Index(i)],
            name: "a [[target]]",
            span: t.span.clone(),
        };
        let name = self.required(t.value.name, "name", &at);
        let platform = self.target_platform(&name, t.value.platform);
        let mut codecs = BTreeMap::new();
        for (slot, codec) in t.value.codecs {
            let word = Spanned::new(Lenient::parse_flavor(&codec.value), codec.span.clone());
            if let Some(c) = self.term::<Codec>(Some(word)) {
                codecs.insert(slot, Spanned::new(c, codec.span));
            }
        }
        Target {
            name,
            platform,
            output: t.value.output,
            launcher: t.value.launcher,
            codecs,
            span: t.span,
        }
    }

    /// A target's platform: `platform`, else the one its name is. A name that is another
    /// platform than `platform` is a mistake waiting to ship the wrong binary: reported.
    fn target_platform(
        &mut self,
        name: &Spanned<String>,
        given: Option<Spanned<Lenient<Platform>>>,
    ) -> Option<Spanned<Platform>> {
        let named = Platform::from_flavor_name(&name.value);
        let Some(given) = given else {
            return named.map(|p| Spanned::new(p, name.span.clone()));
        };
        let span = given.span.clone();
        let platform = self.term(Some(given))?;
        if let Some(named) = named.filter(|n| *n != platform) {
            self.problems.push(
                Problem::new(
                    format!(
                        "target `{}` is named after platform {named} but is for {platform}",
                        name.value
                    ),
                    span.clone(),
                )
                .label(format!("not {named}"))
                .help(format!(
                    "rename the target, or set platform = \"{named}\" (a target named after a \
                     platform is for that platform without a `platform` key)"
                )),
            );
        }
        Some(Spanned::new(platform, span))
    }

    fn slot(&mut self, i: usize, raw: Spanned<SlotToml>) -> Option<Slot> {
        let path = [key("slot"), Seg::Index(i)];
        let at = At {
            path: &path,
            name: "a [[slot]]",
            span: raw.span.clone(),
        };
        let t = raw.value;
        let id = self.required(t.id, "id", &at);
        let source = match (t.source, t.step) {
            (Some(path), None) => SlotSource::Path(path),
            (None, Some(step)) => SlotSource::Step(step),
            (Some(_), Some(step)) => {
                self.problems.push(
                    Problem::new(
                        format!("slot `{}` has both `source` and `step`", id.value),
                        step.span.clone(),
                    )
                    .label("pick one")
                    .help(
                        "a slot ships either a path (`source`) or a build step's outputs (`step`)",
                    ),
                );
                return None;
            }
            (None, None) => {
                let gone = ["source", "step"]
                    .iter()
                    .any(|k| self.present(&[key("slot"), Seg::Index(i), key(k)]));
                if !gone {
                    self.problems.push(
                        Problem::new(
                            format!("slot `{}` has neither `source` nor `step`", id.value),
                            raw.span,
                        )
                        .help(
                            "add source = \"path/relative/to/flavor.toml\" or step = \"<step id>\"",
                        ),
                    );
                }
                return None;
            }
        };
        let codec_span = t.codec.as_ref().and_then(|c| c.span.clone());
        let codec = self.term(t.codec);
        let lifecycle = self.term(t.lifecycle).unwrap_or(pspf::Lifecycle::Cache);
        let purpose = self.term(t.purpose).unwrap_or(pspf::Purpose::Payload);
        let permissions = t.permissions.and_then(|m| self.mode("permissions", &m));
        Some(Slot {
            id,
            source,
            target: t.target,
            codec,
            codec_span,
            level: t.level,
            include: t.include,
            exclude: t.exclude,
            lifecycle,
            permissions,
            purpose,
            span: raw.span,
        })
    }

    /// An octal mode string's bits, or `None` after reporting it.
    fn mode(&mut self, what: &str, v: &Spanned<String>) -> Option<u32> {
        let bits = pspf::metadata::parse_mode(&v.value);
        if bits.is_none() {
            self.problems.push(not_octal(what, v));
        }
        bits
    }

    fn step(&mut self, i: usize, raw: Spanned<StepToml>) -> Step {
        let path = [key("step"), Seg::Index(i)];
        let at = At {
            path: &path,
            name: "a [[step]]",
            span: raw.span,
        };
        let t = raw.value;
        let mut outputs = Vec::with_capacity(t.outputs.len());
        for (n, out) in t.outputs.into_iter().enumerate() {
            let path = [key("step"), Seg::Index(i), key("outputs"), Seg::Index(n)];
            let at = At {
                path: &path,
                name: "a step output table",
                span: out.span.clone(),
            };
            outputs.extend(self.step_output(out, &at));
        }
        Step {
            id: self.required(t.id, "id", &at),
            command: self.required(t.command, "command", &at),
            inputs: t.inputs,
            outputs,
            env: t.env,
            pass_env: t.pass_env.into_iter().map(|s| s.value).collect(),
            cwd: t.cwd,
            needs: t.needs,
            sandbox: t.sandbox.unwrap_or(true),
            tools: t.tools,
        }
    }

    /// One of a step's outputs, with where it lands in a slot; `None` after reporting a
    /// table without `path`, with both `to` and `strip_prefix`, or with a `strip_prefix`
    /// that does not start its path.
    fn step_output(&mut self, out: Spanned<OutputToml>, at: &At<'_>) -> Option<StepOutput> {
        let (path, to, strip) = match out.value {
            OutputToml::Path(p) => (Spanned::new(p, out.span), None, None),
            OutputToml::Table(t) => match t.path {
                Some(p) => (p, t.to, t.strip_prefix),
                None => {
                    self.required(None, "path", at);
                    return None;
                }
            },
        };
        let path = Spanned::new(output_path(&path.value), path.span);
        let dest = match (to, strip) {
            (Some(to), None) => clean(&to.value),
            (None, None) => clean(&path.value),
            (None, Some(strip)) => {
                let prefix = clean(&strip.value);
                let rest = Path::new(&*clean(&path.value))
                    .strip_prefix(&prefix)
                    .ok()
                    .map(|r| r.display().to_string());
                let Some(rest) = rest else {
                    self.problems.push(
                        Problem::new(
                            format!(
                                "strip_prefix `{}` does not start the output path `{}`",
                                strip.value, path.value
                            ),
                            strip.span,
                        )
                        .label("not a leading part of `path`")
                        .help("name leading directories of `path`, e.g. strip_prefix = \"out\""),
                    );
                    return None;
                };
                rest
            }
            (Some(to), Some(_)) => {
                self.problems.push(
                    Problem::new("a step output has both `to` and `strip_prefix`", to.span)
                        .label("`to` here")
                        .help("`to` names where the output lands; drop `strip_prefix`"),
                );
                return None;
            }
        };
        Some(StepOutput { path, dest })
    }

    fn setup(&mut self, i: usize, raw: Spanned<SetupToml>) -> Option<SetupCommand> {
        let path = [key("setup"), Seg::Index(i)];
        let at = At {
            path: &path,
            name: "a [[setup]]",
            span: raw.span,
        };
        let mut t = raw.value;
        let kind = match t.kind.take() {
            Some(k) => self.term(Some(k))?,
            None => {
                self.required(None, "type", &at);
                return None;
            }
        };
        let extra = unused_setup_fields(kind, &t);
        if !extra.is_empty() {
            self.problems.push(
                Problem::new(
                    format!(
                        "a `{kind}` setup command has no {}",
                        extra
                            .iter()
                            .map(|k| format!("`{k}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    at.span.clone(),
                )
                .label("in this [[setup]]")
                .help(format!("`{kind}` takes {}", kind.fields().join(", "))),
            );
        }
        let mode = t.mode.and_then(|m| self.setup_mode(m));
        let command = match kind {
            SetupKind::Execute => SetupCommand::Execute {
                command: self.required(t.command, "command", &at).value,
            },
            SetupKind::EnumerateAndExecute => {
                let command = self.required(t.command, "command", &at).value;
                let (path, pattern) = match t.enumerate {
                    Some(e) => {
                        let path = self.required(
                            e.value.path.map(|p| Spanned::new(p, None)),
                            "path",
                            &At {
                                path: &[key("setup"), Seg::Index(i), key("enumerate")],
                                name: "setup.enumerate",
                                span: e.span,
                            },
                        );
                        (path.value, e.value.pattern)
                    }
                    None => {
                        self.required(None, "enumerate", &at);
                        (String::new(), None)
                    }
                };
                SetupCommand::EnumerateAndExecute {
                    command,
                    path,
                    pattern,
                }
            }
            SetupKind::WriteFile => SetupCommand::WriteFile {
                path: self.required(t.path, "path", &at).value,
                content: t.content.unwrap_or_default(),
                mode,
            },
            SetupKind::Chmod => SetupCommand::Chmod {
                path: self.required(t.path, "path", &at).value,
                mode,
            },
        };
        Some(command)
    }

    fn setup_mode(&mut self, m: Spanned<ModeToml>) -> Option<SetupMode> {
        match m.value {
            ModeToml::Number(n) => Some(SetupMode::Number(n)),
            ModeToml::Octal(s) => {
                let s = Spanned::new(s, m.span);
                self.mode("setup mode", &s)?;
                Some(SetupMode::Octal(s.value))
            }
        }
    }

    fn cache(&mut self, c: CacheToml) -> CacheConfig {
        if let Some(url) = &c.remote
            && !["http://", "https://", "grpc://", "grpcs://"]
                .iter()
                .any(|s| url.value.starts_with(s))
        {
            self.problems.push(
                Problem::new(
                    "cache.remote must be an http://, https://, grpc:// or grpcs:// URL",
                    url.span.clone(),
                )
                .label("not a cache URL")
                .help(
                    "the base URL of a Bazel HTTP cache, e.g. \"http://cache.example:8080/flavor\", \
                     or a REAPI gRPC endpoint, e.g. \"grpc://cache.example:8980\"",
                ),
            );
        }
        if let Some(name) = &c.token_env
            && !is_variable_name(&name.value)
        {
            self.problems.push(
                Problem::new(
                    "cache.token_env must name an environment variable",
                    name.span.clone(),
                )
                .label("not a variable name")
                .help(
                    "put the token in an environment variable and name it here, e.g. \
                     token_env = \"FLAVOR_CACHE_TOKEN\"; never put the token itself in the \
                     manifest",
                ),
            );
        }
        CacheConfig {
            remote: c.remote.map(|s| s.value),
            token_env: c.token_env.map(|s| s.value),
            read_only: c.read_only,
        }
    }
}

/// A step output's path without a trailing `/` or `/**` (a directory is found by looking).
fn output_path(path: &str) -> String {
    let trimmed = path
        .strip_suffix("/**")
        .unwrap_or(path)
        .trim_end_matches('/');
    if trimmed.is_empty() {
        path.to_string()
    } else {
        trimmed.to_string()
    }
}

/// A relative path inside a slot without leading `./` or trailing `/` (`"."` is `""`).
fn clean(path: &str) -> String {
    let mut p = path.trim_end_matches('/');
    while let Some(rest) = p.strip_prefix("./") {
        p = rest.trim_start_matches('/');
    }
    if p == "." {
        String::new()
    } else {
        p.to_string()
    }
}

impl Lower<'_, '_> {
    fn remote(&mut self, r: RemoteToml) -> RemoteExecConfig {
        if let Some(url) = &r.execution
            && !(url.value.starts_with("grpc://") || url.value.starts_with("grpcs://"))
        {
            self.problems.push(
                Problem::new(
                    "remote.execution must be a grpc:// or grpcs:// URL",
                    url.span.clone(),
                )
                .label("not a gRPC URL")
                .help("a Remote Execution API endpoint, e.g. \"grpc://buildgrid.example:50051\""),
            );
        }
        let mut positive = |what: &str, n: &Option<Spanned<i64>>| -> Option<u64> {
            let n = n.as_ref()?;
            match u64::try_from(n.value) {
                Ok(v) if v > 0 => Some(v),
                _ => {
                    self.problems.push(
                        Problem::new(format!("remote.{what} must be at least 1"), n.span.clone())
                            .label("not a positive number"),
                    );
                    None
                }
            }
        };
        let jobs = positive("jobs", &r.jobs).and_then(|n| usize::try_from(n).ok());
        let timeout = positive("timeout", &r.timeout);
        if let Some(name) = &r.token_env
            && !is_variable_name(&name.value)
        {
            self.problems.push(
                Problem::new(
                    "remote.token_env must name an environment variable",
                    name.span.clone(),
                )
                .label("not a variable name")
                .help("never put the token itself in the manifest"),
            );
        }
        RemoteExecConfig {
            execution: r.execution.map(|s| s.value),
            instance: r.instance.unwrap_or_default(),
            jobs,
            platform: r.platform,
            timeout,
            token_env: r.token_env.map(|s| s.value),
        }
    }
}

fn is_variable_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Fields a `[[setup]]` of `kind` was given but has no use for.
fn unused_setup_fields(kind: SetupKind, t: &SetupToml) -> Vec<&'static str> {
    let given = [
        ("command", t.command.is_some()),
        ("path", t.path.is_some()),
        ("content", t.content.is_some()),
        ("mode", t.mode.is_some()),
        ("enumerate", t.enumerate.is_some()),
    ];
    given
        .into_iter()
        .filter(|(name, is_given)| *is_given && !kind.fields().contains(name))
        .map(|(name, _)| name)
        .collect()
}

/// An unknown vocabulary value, with a did-you-mean and the allowed values.
pub(super) fn unknown_term<T: Term>(given: &str, span: Option<Range<usize>>) -> Problem {
    let names = T::flavor_names();
    let p = Problem::new(format!("unknown {} `{given}`", T::WHAT), span)
        .label(format!("not a {}", T::WHAT));
    let list = names.join(", ");
    match (T::from_name(given), did_you_mean(given, &names)) {
        (Some(t), _) => p.help(format!(
            "`{given}` is an upstream spelling; flavor.toml writes `{}` (one of: {list})",
            t.name()
        )),
        (None, Some(s)) => p.help(format!("did you mean `{s}`? (one of: {list})")),
        (None, None) => p.help(format!("use one of: {list}")),
    }
}

/// A mode that is not octal.
pub(super) fn not_octal(what: &str, v: &Spanned<String>) -> Problem {
    Problem::new(
        format!("{what} `{}` is not an octal file mode", v.value),
        v.span.clone(),
    )
    .label("expected octal digits")
    .help("write it as a string of octal digits, e.g. \"0755\" or \"644\"")
}

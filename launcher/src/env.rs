//! Placeholders and the environment the command runs with (PSPF.md §7).
//!
//! Layering: parent environment → `runtime.env` (`unset` with `*`/globs, honouring `pass`;
//! then `map`; then `set`) → `workenv.env` → `execution.env` → `FLAVOR_WORKENV`,
//! `FLAVOR_CACHE`, `FLAVOR_COMMAND_NAME`, `FLAVOR_ORIGINAL_COMMAND` → `PATH=<workenv>/bin:$PATH`.
//! Placeholders `{workenv}`, `{package_name}`, `{version}` are expanded in the command,
//! `workenv.env`, setup commands and (beyond upstream) `execution.env` and `runtime.env.set`.

use flavor_workenv::ExecPlan;
use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Values for the placeholders.
pub struct Placeholders<'a> {
    pub workenv: &'a Path,
    pub package_name: &'a str,
    pub version: &'a str,
}

impl Placeholders<'_> {
    pub fn expand(&self, s: &str) -> String {
        if !s.contains('{') {
            return s.to_string();
        }
        s.replace("{workenv}", &self.workenv.to_string_lossy())
            .replace("{package_name}", self.package_name)
            .replace("{version}", self.version)
    }

    pub fn expand_map(&self, m: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        m.iter().map(|(k, v)| (k.clone(), self.expand(v))).collect()
    }
}

/// Shell-style glob match of `*` and `?` against a variable name.
pub fn glob_match(pattern: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n) = (0usize, 0usize);
    let (mut star, mut mark) = (None, 0usize);
    while n < name.len() {
        if p < pattern.len() && (pattern[p] == b'?' || pattern[p] == name[n]) {
            p += 1;
            n += 1;
        } else if p < pattern.len() && pattern[p] == b'*' {
            star = Some(p);
            mark = n;
            p += 1;
        } else if let Some(s) = star {
            p = s + 1;
            mark += 1;
            n = mark;
        } else {
            return false;
        }
    }
    while p < pattern.len() && pattern[p] == b'*' {
        p += 1;
    }
    p == pattern.len()
}

fn matches_any(patterns: &[String], name: &OsStr) -> bool {
    patterns
        .iter()
        .any(|p| glob_match(p.as_bytes(), name.as_bytes()))
}

/// Runtime facts that are not in the plan.
pub struct LaunchContext<'a> {
    pub cache_root: &'a Path,
    pub package_path: &'a Path,
}

/// The complete environment for the command, from the launcher's own environment.
pub fn build_env(
    parent: impl Iterator<Item = (OsString, OsString)>,
    plan: &ExecPlan,
    ctx: &LaunchContext<'_>,
) -> Vec<(OsString, OsString)> {
    let mut env: BTreeMap<OsString, OsString> = parent.collect();
    if let Some(policy) = &plan.runtime_env {
        let passed = |k: &OsStr| matches_any(&policy.pass, k);
        for pattern in &policy.unset {
            env.retain(|k, _| passed(k) || !glob_match(pattern.as_bytes(), k.as_bytes()));
        }
        for (old, new) in &policy.map {
            if passed(OsStr::new(old)) {
                continue;
            }
            if let Some(v) = env.remove(OsStr::new(old)) {
                env.insert(new.into(), v);
            }
        }
        for (k, v) in &policy.set {
            env.insert(k.into(), v.into());
        }
    }
    for (k, v) in plan.workenv_env.iter().chain(&plan.execution_env) {
        env.insert(k.into(), v.into());
    }
    env.insert("FLAVOR_WORKENV".into(), plan.workenv.clone().into());
    env.insert("FLAVOR_CACHE".into(), ctx.cache_root.into());
    let name = ctx
        .package_path
        .file_name()
        .map(OsString::from)
        .unwrap_or_default();
    env.insert("FLAVOR_COMMAND_NAME".into(), name);
    env.insert("FLAVOR_ORIGINAL_COMMAND".into(), ctx.package_path.into());
    let mut path = plan.workenv.join("bin").into_os_string();
    if let Some(old) = env.get(OsStr::new("PATH")).filter(|p| !p.is_empty()) {
        path.push(":");
        path.push(old);
    }
    env.insert("PATH".into(), path);
    env.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use pspf::metadata::RuntimeEnv;
    use std::path::PathBuf;

    #[test]
    fn globs() {
        assert!(glob_match(b"*", b"ANY"));
        assert!(glob_match(b"LC_*", b"LC_ALL"));
        assert!(!glob_match(b"LC_*", b"LANG"));
        assert!(glob_match(b"H?ME", b"HOME"));
        assert!(glob_match(b"*_KEY", b"AWS_SECRET_KEY"));
        assert!(!glob_match(b"HOME", b"HOMEX"));
    }

    fn plan(policy: Option<RuntimeEnv>) -> ExecPlan {
        ExecPlan {
            plan_version: 1,
            index_sha256: String::new(),
            package: "p".into(),
            version: "1".into(),
            workenv: PathBuf::from("/w"),
            program: "x".into(),
            args: vec![],
            check: None,
            runtime_env: policy,
            workenv_env: BTreeMap::from([("W".into(), "w".into())]),
            execution_env: BTreeMap::from([("E".into(), "e".into())]),
            volatile: vec![],
            validation: flavor_workenv::Validation::Standard,
            key_trusted: false,
        }
    }

    #[test]
    fn layering_follows_the_contract() {
        let policy = RuntimeEnv {
            unset: vec!["*".into()],
            pass: vec!["PATH".into(), "KEEP_*".into(), "OLD".into()],
            map: BTreeMap::from([("OLD".into(), "NEW".into())]),
            set: BTreeMap::from([("S".into(), "s".into())]),
        };
        let parent = [
            ("PATH", "/usr/bin"),
            ("SECRET", "x"),
            ("KEEP_ME", "1"),
            ("OLD", "o"),
        ]
        .map(|(k, v)| (OsString::from(k), OsString::from(v)));
        let ctx = LaunchContext {
            cache_root: Path::new("/root"),
            package_path: Path::new("/pkgs/app.psp"),
        };
        let env: BTreeMap<_, _> = build_env(parent.into_iter(), &plan(Some(policy)), &ctx)
            .into_iter()
            .collect();
        let get = |k: &str| {
            env.get(OsStr::new(k))
                .map(|v| v.to_string_lossy().into_owned())
        };
        assert_eq!(get("SECRET"), None);
        assert_eq!(get("KEEP_ME").as_deref(), Some("1"));
        // OLD is passed, so map leaves it alone.
        assert_eq!(get("OLD").as_deref(), Some("o"));
        assert_eq!(get("NEW"), None);
        assert_eq!(get("S").as_deref(), Some("s"));
        assert_eq!(get("W").as_deref(), Some("w"));
        assert_eq!(get("E").as_deref(), Some("e"));
        assert_eq!(get("PATH").as_deref(), Some("/w/bin:/usr/bin"));
        assert_eq!(get("FLAVOR_WORKENV").as_deref(), Some("/w"));
        assert_eq!(get("FLAVOR_CACHE").as_deref(), Some("/root"));
        assert_eq!(get("FLAVOR_COMMAND_NAME").as_deref(), Some("app.psp"));
        assert_eq!(
            get("FLAVOR_ORIGINAL_COMMAND").as_deref(),
            Some("/pkgs/app.psp")
        );
    }

    #[test]
    fn map_renames_unpassed_variables() {
        let policy = RuntimeEnv {
            map: BTreeMap::from([("OLD".into(), "NEW".into())]),
            ..Default::default()
        };
        let parent = [(OsString::from("OLD"), OsString::from("o"))];
        let ctx = LaunchContext {
            cache_root: Path::new("/r"),
            package_path: Path::new("/p.psp"),
        };
        let env: BTreeMap<_, _> = build_env(parent.into_iter(), &plan(Some(policy)), &ctx)
            .into_iter()
            .collect();
        assert_eq!(env.get(OsStr::new("NEW")).unwrap(), "o");
        assert!(!env.contains_key(OsStr::new("OLD")));
    }
}

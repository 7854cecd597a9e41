//! `python.entry` → the package's command: `-m module`, or `module:function` called the way a
//! console script would (`sys.argv[0]` set to the script's name, the return value the exit
//! status) — without a console script, whose shebang would name the build machine.

use std::collections::BTreeMap;

/// Where the interpreter is in the work environment.
pub const PYTHON3: &str = "{workenv}/python/bin/python3";

/// What the package runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// `python -m <module>`.
    Module(String),
    /// `from <module> import <object>; sys.exit(<object>())`, with `argv[0]` = `name`.
    Function {
        /// `httpie.__main__`.
        module: String,
        /// `main`, or a dotted attribute path `App.run`.
        object: String,
        /// The console script's name (`http`), or the module's last part.
        name: String,
    },
}

impl Entry {
    /// Read `python.entry` (`None`: the only `[project.scripts]` entry).
    pub fn parse(entry: Option<&str>, scripts: &BTreeMap<String, String>) -> Result<Entry, String> {
        let listed = || {
            if scripts.is_empty() {
                "the pyproject has no [project.scripts]".to_string()
            } else {
                let names: Vec<&str> = scripts.keys().map(String::as_str).collect();
                format!("its [project.scripts] are {}", names.join(", "))
            }
        };
        let Some(entry) = entry.map(str::trim) else {
            return match scripts.iter().next() {
                Some((name, target)) if scripts.len() == 1 => Entry::script(name, target),
                _ => Err(format!(
                    "python.entry is not set and {}; set entry = \"<script name>\", \
                     \"module:function\" or \"-m module\"",
                    listed()
                )),
            };
        };
        if let Some(module) = entry.strip_prefix("-m ") {
            let module = module.trim();
            return if is_dotted(module) {
                Ok(Entry::Module(module.to_string()))
            } else {
                Err(format!("`{module}` is not a module name"))
            };
        }
        if let Some(target) = scripts.get(entry) {
            return Entry::script(entry, target);
        }
        if entry.contains(':') {
            let module = entry.split(':').next().unwrap_or("");
            // `sys.argv[0]`, as a console script would have it: the module's last part, or
            // its package's for a `__main__` module (`cowsay.__main__:cli` → `cowsay`).
            let mut parts = module.rsplit('.').filter(|p| *p != "__main__");
            let name = parts.next().unwrap_or(module).to_string();
            return Entry::function(entry, name);
        }
        Err(format!(
            "python.entry `{entry}` is not a [project.scripts] name, `module:function` or \
             `-m module`: {}",
            listed()
        ))
    }

    fn script(name: &str, target: &str) -> Result<Entry, String> {
        let ok = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !ok {
            return Err(format!(
                "the script name `{name}` has characters flavor does not pass"
            ));
        }
        Entry::function(target, name.to_string())
    }

    /// `module:object [extras]`.
    fn function(spec: &str, name: String) -> Result<Entry, String> {
        let spec = spec.split('[').next().unwrap_or(spec).trim();
        match spec.split_once(':') {
            Some((module, object)) if is_dotted(module.trim()) && is_dotted(object.trim()) => {
                Ok(Entry::Function {
                    module: module.trim().to_string(),
                    object: object.trim().to_string(),
                    name,
                })
            }
            _ => Err(format!("`{spec}` is not `module:function`")),
        }
    }

    /// The `[execution] command`: `python3 -I -B -m …` or `python3 -I -B -c "…"`.
    pub fn command(&self) -> String {
        match self {
            Entry::Module(m) => format!("{PYTHON3} -I -B -m {m}"),
            Entry::Function {
                module,
                object,
                name,
            } => {
                let first = object.split('.').next().unwrap_or(object);
                format!(
                    "{PYTHON3} -I -B -c \"import sys; from {module} import {first}; \
                     sys.argv[0] = '{name}'; sys.exit({object}())\""
                )
            }
        }
    }
}

/// `a.b_c.d`: dotted Python identifiers (ASCII).
fn is_dotted(s: &str) -> bool {
    !s.is_empty()
        && s.split('.').all(|part| {
            part.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scripts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn entries_become_commands() {
        let one = scripts(&[("http", "httpie.__main__:main")]);
        assert_eq!(
            Entry::parse(None, &one).unwrap().command(),
            "{workenv}/python/bin/python3 -I -B -c \"import sys; from httpie.__main__ import \
             main; sys.argv[0] = 'http'; sys.exit(main())\""
        );
        assert_eq!(
            Entry::parse(Some("-m cowsay"), &one).unwrap(),
            Entry::Module("cowsay".into())
        );
        let f = Entry::parse(Some("tabulate:_main"), &one).unwrap();
        assert!(
            f.command().contains("from tabulate import _main;"),
            "{}",
            f.command()
        );
        let main = Entry::parse(Some("cowsay.__main__:cli"), &one).unwrap();
        assert!(
            main.command().contains("sys.argv[0] = 'cowsay'"),
            "{}",
            main.command()
        );
        let two = scripts(&[("a", "m:a"), ("b", "m:b")]);
        let e = Entry::parse(None, &two).unwrap_err();
        assert!(e.contains("a, b"), "{e}");
        assert!(
            Entry::parse(Some("nope"), &two)
                .unwrap_err()
                .contains("a, b")
        );
        assert!(Entry::parse(Some("m:f; rm -rf /"), &two).is_err());
        assert!(Entry::parse(Some("-m os;x"), &two).is_err());
    }
}

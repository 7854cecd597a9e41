//! Semantic checks of a parsed manifest: names that must come from a fixed set, references
//! between slots and steps, step cycles, paths that must exist, duplicate ids, octal modes.

use super::schema::*;
use crate::diagnostic::{Problem, did_you_mean};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

fn one_of(p: &mut Vec<Problem>, what: &str, v: &Spanned<String>, allowed: &[&str]) {
    if allowed.contains(&v.value.as_str()) {
        return;
    }
    let mut problem = Problem::new(format!("unknown {what} `{}`", v.value), v.span.clone())
        .label(format!("not a {what}"));
    problem = match did_you_mean(&v.value, allowed) {
        Some(s) => problem.help(format!(
            "did you mean `{s}`? (one of: {})",
            allowed.join(", ")
        )),
        None => problem.help(format!("use one of: {}", allowed.join(", "))),
    };
    p.push(problem);
}

fn mode(p: &mut Vec<Problem>, what: &str, v: &Spanned<String>) {
    if pspf::metadata::parse_mode(&v.value).is_none() {
        p.push(
            Problem::new(
                format!("{what} `{}` is not an octal file mode", v.value),
                v.span.clone(),
            )
            .label("expected octal digits")
            .help("write it as a string of octal digits, e.g. \"0755\" or \"644\""),
        );
    }
}

fn relative_inside(p: &mut Vec<Problem>, what: &str, v: &Spanned<String>) {
    let path = Path::new(&v.value);
    if path.is_absolute()
        || path
            .components()
            .any(|c| c == std::path::Component::ParentDir)
    {
        p.push(
            Problem::new(
                format!("{what} `{}` leaves the work environment", v.value),
                v.span.clone(),
            )
            .label("absolute or contains `..`")
            .help("slot targets are paths inside the workenv, such as \"bin\" or \"lib/app\""),
        );
    }
}

fn duplicates<'a>(
    p: &mut Vec<Problem>,
    what: &str,
    ids: impl Iterator<Item = &'a Spanned<String>>,
) {
    let mut seen: HashMap<&str, &Spanned<String>> = HashMap::new();
    for id in ids {
        if id.value.is_empty() {
            continue;
        }
        if let Some(first) = seen.get(id.value.as_str()) {
            let line_hint = first
                .span
                .as_ref()
                .map(|s| format!(" (first defined at byte {})", s.start))
                .unwrap_or_default();
            p.push(
                Problem::new(
                    format!("two {what}s have the id `{}`", id.value),
                    id.span.clone(),
                )
                .label("duplicate id")
                .help(format!("{what} ids must be unique{line_hint}; rename one")),
            );
        } else {
            seen.insert(&id.value, id);
        }
    }
}

fn step_ref(p: &mut Vec<Problem>, what: &str, r: &Spanned<String>, steps: &[&str]) {
    if steps.contains(&r.value.as_str()) {
        return;
    }
    let mut problem = Problem::new(
        format!("{what} names an unknown step `{}`", r.value),
        r.span.clone(),
    )
    .label("no [[step]] has this id");
    problem = match did_you_mean(&r.value, steps) {
        Some(s) => problem.help(format!("did you mean `{s}`?")),
        None if steps.is_empty() => {
            problem.help("declare it with [[step]] id = \"…\" command = \"…\"")
        }
        None => problem.help(format!("known steps: {}", steps.join(", "))),
    };
    p.push(problem);
}

/// Find a cycle among steps' `needs`, as the list of ids along it (first repeated at the end).
fn find_cycle(steps: &[Step]) -> Option<(Vec<String>, Option<std::ops::Range<usize>>)> {
    let index: BTreeMap<&str, &Step> = steps.iter().map(|s| (s.id.value.as_str(), s)).collect();
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Active,
        Done,
    }
    fn visit<'a>(
        id: &'a str,
        index: &BTreeMap<&'a str, &'a Step>,
        marks: &mut HashMap<&'a str, Mark>,
        path: &mut Vec<&'a str>,
    ) -> Option<Vec<String>> {
        match marks.get(id) {
            Some(Mark::Done) => return None,
            Some(Mark::Active) => {
                let start = path.iter().position(|p| *p == id).unwrap_or(0);
                let mut cycle: Vec<String> = path[start..].iter().map(|s| s.to_string()).collect();
                cycle.push(id.to_string());
                return Some(cycle);
            }
            None => {}
        }
        marks.insert(id, Mark::Active);
        path.push(id);
        if let Some(step) = index.get(id) {
            for need in &step.needs {
                if index.contains_key(need.value.as_str())
                    && let Some(c) = visit(&need.value, index, marks, path)
                {
                    return Some(c);
                }
            }
        }
        path.pop();
        marks.insert(id, Mark::Done);
        None
    }
    let mut marks = HashMap::new();
    for s in steps {
        let mut path = Vec::new();
        if let Some(cycle) = visit(&s.id.value, &index, &mut marks, &mut path) {
            let span = index
                .get(cycle[0].as_str())
                .and_then(|s| s.needs.first())
                .and_then(|n| n.span.clone());
            return Some((cycle, span));
        }
    }
    None
}

/// Check a package against the manifest directory `dir`.
pub(crate) fn check_package(pkg: &Package, dir: &Path, p: &mut Vec<Problem>) {
    let step_ids: Vec<&str> = pkg.steps.iter().map(|s| s.id.value.as_str()).collect();
    duplicates(p, "slot", pkg.slots.iter().map(|s| &s.id));
    duplicates(p, "step", pkg.steps.iter().map(|s| &s.id));
    duplicates(p, "target", pkg.targets.iter().map(|t| &t.name));

    for slot in &pkg.slots {
        match &slot.source {
            SlotSource::Path(src) => {
                if !src.value.is_empty() && !dir.join(&src.value).exists() {
                    p.push(
                        Problem::new(
                            format!(
                                "slot `{}`: source `{}` does not exist",
                                slot.id.value, src.value
                            ),
                            src.span.clone(),
                        )
                        .label("no such file or directory")
                        .help(format!(
                            "paths are relative to the manifest's directory ({})",
                            dir.display()
                        )),
                    );
                }
            }
            SlotSource::Step(step) => {
                step_ref(p, &format!("slot `{}`", slot.id.value), step, &step_ids)
            }
        }
        if let (SlotSource::Path(src), None) = (&slot.source, &slot.target) {
            let path = Path::new(&src.value);
            if path.is_absolute()
                || path
                    .components()
                    .any(|c| c == std::path::Component::ParentDir)
            {
                p.push(
                    Problem::new(
                        format!(
                            "slot `{}`: source `{}` is absolute or uses `..`, so it needs a `target`",
                            slot.id.value, src.value
                        ),
                        src.span.clone(),
                    )
                    .label("absolute or contains `..`")
                    .help("the default target is the source path, which must stay inside the workenv; add e.g. target = \"lib\""),
                );
            }
        }
        if let Some(c) = &slot.codec {
            one_of(p, "codec", c, CODECS);
        }
        if let Some(l) = &slot.lifecycle {
            one_of(p, "lifecycle", l, LIFECYCLES);
        }
        if let Some(purpose) = &slot.purpose {
            one_of(p, "purpose", purpose, PURPOSES);
        }
        if let Some(m) = &slot.permissions {
            mode(p, "permissions", m);
        }
        if let Some(t) = &slot.target {
            relative_inside(p, "target", t);
        }
        if let Some(level) = &slot.level {
            let codec = slot.codec.as_ref().map(|c| c.value.as_str()).unwrap_or("");
            let range = if codec.contains("gz") { 1..=9 } else { 1..=19 };
            if !range.contains(&level.value) {
                p.push(
                    Problem::new(
                        format!("level {} is out of range", level.value),
                        level.span.clone(),
                    )
                    .label(format!("expected {}..={}", range.start(), range.end()))
                    .help("gzip levels are 1–9, zstd levels 1–19"),
                );
            }
        }
        for g in slot.include.iter().chain(&slot.exclude) {
            if let Err(e) = globset::Glob::new(&g.value) {
                p.push(
                    Problem::new(
                        format!("bad glob `{}`: {}", g.value, e.kind()),
                        g.span.clone(),
                    )
                    .label("invalid glob"),
                );
            }
        }
    }
    for step in &pkg.steps {
        for need in &step.needs {
            step_ref(
                p,
                &format!("step `{}` needs", step.id.value),
                need,
                &step_ids,
            );
        }
        if step.outputs.is_empty() {
            p.push(
                Problem::new(
                    format!("step `{}` declares no outputs", step.id.value),
                    step.id.span.clone(),
                )
                .help("list the files the command writes: outputs = [\"target/release/app\"]"),
            );
        }
        for out in &step.outputs {
            relative_inside(p, "step output", out);
        }
    }
    if let Some((cycle, span)) = find_cycle(&pkg.steps) {
        p.push(
            Problem::new(format!("steps form a cycle: {}", cycle.join(" → ")), span)
                .label("this dependency closes the cycle")
                .help("remove one of the `needs` entries along the cycle"),
        );
    }
    for s in &pkg.setup {
        one_of(p, "setup type", &s.kind, SETUP_TYPES);
    }
    for (_, m) in &pkg.workenv_dirs {
        if let Some(m) = m {
            mode(p, "workenv directory mode", m);
        }
    }
    if let Some(key) = &pkg.signing.private_key
        && !dir.join(&key.value).is_file()
    {
        p.push(
            Problem::new(
                format!("signing key `{}` does not exist", key.value),
                key.span.clone(),
            )
            .label("no such file")
            .help("create one with `flavor keygen --out-dir keys`, or use key_seed_env"),
        );
    }
    if pkg.signing.private_key.is_some() && pkg.signing.key_seed_env.is_some() {
        p.push(
            Problem::new(
                "[signing] has both private_key and key_seed_env",
                pkg.signing
                    .key_seed_env
                    .as_ref()
                    .and_then(|k| k.span.clone()),
            )
            .help("keep one: a key file for local builds or a seed variable for CI"),
        );
    }
    for t in &pkg.targets {
        if let Some(l) = &t.launcher
            && l.value != "builtin"
            && !dir.join(&l.value).is_file()
        {
            p.push(
                Problem::new(
                    format!(
                        "target `{}`: launcher `{}` does not exist",
                        t.name.value, l.value
                    ),
                    l.span.clone(),
                )
                .label("no such file")
                .help("use \"builtin\" or the path of a launcher binary"),
            );
        }
    }
}

//! Checks of a package that need more than one key: names that become file names, NUL
//! characters, references between slots and steps, step cycles (petgraph), paths that must
//! exist or stay inside the workenv, duplicate ids, compression levels and globs.

use super::lower::not_octal;
use super::model::*;
use crate::diagnostic::{Problem, did_you_mean};
use petgraph::algo::tarjan_scc;
use petgraph::graph::DiGraph;
use petgraph::visit::EdgeRef;
use std::collections::HashMap;
use std::path::{Component, Path};

/// Check a package whose manifest is in `dir`.
pub(crate) fn check_package(pkg: &Package, dir: &Path, p: &mut Vec<Problem>) {
    names(pkg, p);
    nul_characters(pkg, p);
    duplicates(p, "slot", pkg.slots.iter().map(|s| &s.id));
    duplicates(p, "step", pkg.steps.iter().map(|s| &s.id));
    duplicates(p, "target", pkg.targets.iter().map(|t| &t.name));
    let step_ids: Vec<&str> = pkg.steps.iter().map(|s| s.id.value.as_str()).collect();
    for slot in &pkg.slots {
        slot_source(slot, dir, &step_ids, p);
        slot_values(slot, p);
    }
    if let Some(py) = &pkg.python {
        globs(py.exclude.iter(), p);
    }
    steps(pkg, dir, &step_ids, p);
    if let Some(problem) = cycle(&pkg.steps) {
        p.push(problem);
    }
    for d in &pkg.workenv_dirs {
        // `{workenv}/var` or `var`: a directory inside the workenv, never one beside it.
        let rel = match d.path.value.strip_prefix("{workenv}") {
            Some(rest) => rest.trim_start_matches('/'),
            None => d.path.value.as_str(),
        };
        if leaves(rel) {
            p.push(
                Problem::new(
                    format!(
                        "workenv directory `{}` leaves the work environment",
                        d.path.value
                    ),
                    d.path.span.clone(),
                )
                .label("absolute or contains `..`")
                .help("workenv directories are inside the workenv: \"{workenv}/var\" or \"var\""),
            );
        }
        if let Some(m) = &d.mode
            && pspf::metadata::parse_mode(&m.value).is_none()
        {
            p.push(not_octal("workenv directory mode", m));
        }
    }
    signing_and_targets(pkg, dir, p);
}

/// Why `name` cannot become (part of) a file name, if it cannot.
pub fn bad_name(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("is empty")
    } else if name == "." || name == ".." {
        Some("is a directory reference")
    } else if name.contains(['/', '\\']) {
        Some("contains a path separator")
    } else if name.contains(char::is_control) {
        Some("contains a control character")
    } else {
        None
    }
}

/// Package names, slot ids and target names end up in file names (`dist/<name>.psp`,
/// `dist/<name>-<target>.psp`, the workenv): nothing that could leave a directory.
fn names(pkg: &Package, p: &mut Vec<Problem>) {
    let mut named = vec![("package name", &pkg.name)];
    named.extend(pkg.slots.iter().map(|s| ("slot id", &s.id)));
    named.extend(pkg.targets.iter().map(|t| ("target name", &t.name)));
    for (what, v) in named {
        // A missing name was reported already (it has no span).
        if v.span.is_none() {
            continue;
        }
        if let Some(why) = bad_name(&v.value) {
            p.push(
                Problem::new(
                    format!("{what} `{}` {why}", v.value.escape_debug()),
                    v.span.clone(),
                )
                .label(format!("not a valid {what}"))
                .help(format!(
                    "a {what} becomes part of a file name: use letters, digits, `.`, `-` \
                         and `_`, without `/` and not `..`"
                )),
            );
        }
    }
}

/// Strings that become paths or command lines may not hold a NUL (no file or argument can).
fn nul_characters(pkg: &Package, p: &mut Vec<Problem>) {
    let mut fields: Vec<(&str, &Spanned<String>)> = vec![("execution.command", &pkg.command)];
    for s in &pkg.slots {
        if let SlotSource::Path(src) = &s.source {
            fields.push(("slot source", src));
        }
        fields.extend(s.target.iter().map(|t| ("slot target", t)));
    }
    for s in &pkg.steps {
        fields.push(("step command", &s.command));
        fields.extend(s.cwd.iter().map(|c| ("step cwd", c)));
        fields.extend(s.outputs.iter().map(|o| ("step output", &o.path)));
        fields.extend(s.tools.iter().map(|t| ("step tool", t)));
    }
    for t in &pkg.targets {
        fields.extend(t.output.iter().map(|o| ("target output", o)));
        fields.extend(t.launcher.iter().map(|l| ("target launcher", l)));
    }
    fields.extend(
        pkg.workenv_dirs
            .iter()
            .map(|d| ("workenv directory", &d.path)),
    );
    for (what, v) in fields {
        if let Some(at) = v.value.find('\0') {
            p.push(
                Problem::new(
                    format!(
                        "{what} `{}` contains a NUL character (at character {})",
                        v.value.escape_debug(),
                        v.value[..at].chars().count() + 1
                    ),
                    v.span.clone(),
                )
                .label("NUL here")
                .help("remove the \\u0000: no path or command line can hold one"),
            );
        }
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
            let mut problem = Problem::new(
                format!("two {what}s have the id `{}`", id.value),
                id.span.clone(),
            )
            .label("duplicate id")
            .help(format!("{what} ids must be unique; rename one"));
            if let Some(span) = &first.span {
                problem = problem.also(span.clone(), "first defined");
            }
            p.push(problem);
        } else {
            seen.insert(&id.value, id);
        }
    }
}

fn leaves(path: &str) -> bool {
    let path = Path::new(path);
    path.is_absolute() || path.components().any(|c| c == Component::ParentDir)
}

fn relative_inside(p: &mut Vec<Problem>, what: &str, v: &Spanned<String>) {
    if leaves(&v.value) {
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

fn slot_source(slot: &Slot, dir: &Path, step_ids: &[&str], p: &mut Vec<Problem>) {
    let src = match &slot.source {
        SlotSource::Step(step) => {
            return step_ref(p, &format!("slot `{}`", slot.id.value), step, step_ids);
        }
        SlotSource::Path(src) => src,
        SlotSource::Python(_) => return,
    };
    if !src.value.is_empty() && !src.value.contains('\0') && !dir.join(&src.value).exists() {
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
    if slot.target.is_none() && leaves(&src.value) {
        p.push(
            Problem::new(
                format!(
                    "slot `{}`: source `{}` is absolute or uses `..`, so it needs a `target`",
                    slot.id.value, src.value
                ),
                src.span.clone(),
            )
            .label("absolute or contains `..`")
            .help(
                "the default target is the source path, which must stay inside the workenv; \
                 add e.g. target = \"lib\"",
            ),
        );
    }
}

fn slot_values(slot: &Slot, p: &mut Vec<Problem>) {
    if let Some(t) = &slot.target {
        relative_inside(p, "target", t);
    }
    if let Some(level) = &slot.level {
        let gzip = matches!(slot.codec, Some(pspf::Codec::Gzip | pspf::Codec::TarGz));
        let range = if gzip { 1..=9 } else { 1..=19 };
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
    globs(slot.include.iter().chain(&slot.exclude), p);
}

/// Each of `globs` must parse.
fn globs<'a>(globs: impl Iterator<Item = &'a Spanned<String>>, p: &mut Vec<Problem>) {
    for g in globs {
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

fn steps(pkg: &Package, dir: &Path, step_ids: &[&str], p: &mut Vec<Problem>) {
    for step in &pkg.steps {
        // A step that needs others may run in a directory they create; one that needs none
        // has nothing to create it.
        if let Some(cwd) = &step.cwd
            && step.needs.is_empty()
            && !dir.join(&cwd.value).is_dir()
        {
            p.push(
                Problem::new(
                    format!(
                        "step `{}`: cwd `{}` is not a directory",
                        step.id.value, cwd.value
                    ),
                    cwd.span.clone(),
                )
                .label("no such directory")
                .help(
                    "create it, or set `cwd` to a directory relative to this manifest (default: \
                     the manifest's own directory)",
                ),
            );
        }
        for need in &step.needs {
            step_ref(
                p,
                &format!("step `{}` needs", step.id.value),
                need,
                step_ids,
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
            relative_inside(p, "step output", &out.path);
            let dest = Spanned::new(out.dest.clone(), out.path.span.clone());
            relative_inside(p, "step output destination", &dest);
        }
        for tool in &step.tools {
            if tool.value.is_empty() || tool.value.contains('/') {
                p.push(
                    Problem::new(
                        format!("step tool `{}` is not a program name", tool.value),
                        tool.span.clone(),
                    )
                    .label("a name looked up on PATH")
                    .help("name programs as you would type them: tools = [\"cc\", \"make\"]"),
                );
            }
        }
    }
}

/// A cycle among the steps' `needs`, reported at the `needs` entry of its first step, with the
/// path around it (`a → b → c → a`).
fn cycle(steps: &[Step]) -> Option<Problem> {
    let mut graph = DiGraph::<usize, usize>::new();
    let nodes: Vec<_> = (0..steps.len()).map(|i| graph.add_node(i)).collect();
    let index: HashMap<&str, usize> = steps
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.value.as_str(), i))
        .collect();
    for (i, s) in steps.iter().enumerate() {
        for (n, need) in s.needs.iter().enumerate() {
            if let Some(&j) = index.get(need.value.as_str()) {
                graph.add_edge(nodes[i], nodes[j], n);
            }
        }
    }
    // The first strongly connected component (in manifest order) with a cycle in it.
    let mut components = tarjan_scc(&graph);
    components.retain(|c| c.len() > 1 || graph.contains_edge(c[0], c[0]));
    let component = components
        .into_iter()
        .min_by_key(|c| c.iter().map(|n| graph[*n]).min())?;
    let start = component.iter().map(|n| graph[*n]).min()?;
    // Walk from the first step along needs that stay in the component until a step repeats.
    let mut path = vec![start];
    let mut at = start;
    loop {
        let edge = graph
            .edges(nodes[at])
            .filter(|e| component.contains(&e.target()))
            .min_by_key(|e| *e.weight())?;
        at = graph[edge.target()];
        if let Some(pos) = path.iter().position(|s| *s == at) {
            path.drain(..pos);
            path.push(at);
            break;
        }
        path.push(at);
    }
    let ids: Vec<&str> = path.iter().map(|i| steps[*i].id.value.as_str()).collect();
    let next = ids.get(1).copied().unwrap_or_default();
    let closing = (steps[path[0]].needs.iter())
        .find(|n| n.value == next)
        .and_then(|n| n.span.clone());
    Some(
        Problem::new(format!("steps form a cycle: {}", ids.join(" → ")), closing)
            .label("this dependency closes the cycle")
            .help("remove one of the `needs` entries along the cycle"),
    )
}

fn signing_and_targets(pkg: &Package, dir: &Path, p: &mut Vec<Problem>) {
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
    let slot_ids: Vec<&str> = pkg.slots.iter().map(|s| s.id.value.as_str()).collect();
    for t in &pkg.targets {
        for (slot, codec) in &t.codecs {
            if slot_ids.contains(&slot.as_str()) {
                continue;
            }
            let problem = Problem::new(
                format!("target `{}`: codecs names no slot `{slot}`", t.name.value),
                codec.span.clone(),
            )
            .label("no [[slot]] has this id");
            p.push(match did_you_mean(slot, &slot_ids) {
                Some(s) => problem.help(format!("did you mean `{s}`?")),
                None => problem.help(format!(
                    "codecs maps slot ids to codecs; the slots are: {}",
                    slot_ids.join(", ")
                )),
            });
        }
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

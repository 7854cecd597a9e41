//! Shell completion of package and target names. `flavor completions SHELL` prints a script
//! that makes the shell ask `flavor` itself (with `COMPLETE=SHELL` set, handled first thing in
//! `main` by clap_complete) as the user types; for the names of `build`, `graph` and `list` and
//! for `--target`, the candidates come from the workspace around the current directory.

use clap_complete::engine::{ArgValueCandidates, CompletionCandidate};
use flavor_rules::workspace::load;
use std::collections::BTreeSet;

/// Candidates for positional names: packages, targets, `package:target`, platforms.
pub fn names() -> ArgValueCandidates {
    ArgValueCandidates::new(|| candidates(true))
}

/// Candidates for `--target`: target names and platforms.
pub fn targets() -> ArgValueCandidates {
    ArgValueCandidates::new(|| candidates(false))
}

fn candidates(with_packages: bool) -> Vec<CompletionCandidate> {
    let Ok(dir) = std::env::current_dir() else {
        return Vec::new();
    };
    let Ok(ws) = load(&dir) else {
        return Vec::new();
    };
    let host = pspf::Platform::host();
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    let mut platforms = BTreeSet::new();
    for pkg in ws.packages.iter().filter_map(|m| m.package.as_ref()) {
        let name = &pkg.name.value;
        if with_packages && seen.insert(name.clone()) {
            out.push(CompletionCandidate::new(name).help(Some("package".into())));
        }
        if pkg.targets.is_empty() {
            platforms.extend(host);
        }
        for t in &pkg.targets {
            let platform = t.platform.as_ref().map(|p| p.value).or(host);
            platforms.extend(platform);
            let on = platform.map(|p| format!(" ({p})")).unwrap_or_default();
            if seen.insert(t.name.value.clone()) {
                let help = format!("target of {name}{on}");
                out.push(CompletionCandidate::new(&t.name.value).help(Some(help.into())));
            }
            if with_packages {
                let both = format!("{name}:{}", t.name.value);
                out.push(CompletionCandidate::new(both).help(Some(format!("target{on}").into())));
            }
        }
    }
    for p in platforms {
        if seen.insert(p.to_string()) {
            out.push(CompletionCandidate::new(p.name()).help(Some("platform".into())));
        }
    }
    out
}

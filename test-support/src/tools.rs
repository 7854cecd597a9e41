//! Helpers of the package and cache tool tests (`tests/tools_*.rs`): `flavor` run as a process
//! in a [`Sandbox`] (its own `HOME`, XDG directories and launcher cache), JSON output parsed,
//! and the conformance kit's packages with the facts their `*.expect.json` records.

use super::{Run, Sandbox, flavor_bin, run};
use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// `flavor ARGS` in `dir`, with the sandbox's environment, not yet started.
pub fn flavor_cmd(sb: &Sandbox, dir: &Path, args: &[&str]) -> Command {
    let mut cmd = sb.command(&flavor_bin());
    cmd.args(args).current_dir(dir);
    cmd
}

/// Run `flavor ARGS` in `dir`.
pub fn flavor_in(sb: &Sandbox, dir: &Path, args: &[&str]) -> Run {
    run(&mut flavor_cmd(sb, dir, args))
}

/// Run `flavor ARGS` at the sandbox root.
pub fn flavor(sb: &Sandbox, args: &[&str]) -> Run {
    flavor_in(sb, sb.root(), args)
}

/// The stdout of a successful run, parsed as JSON.
pub fn json_of(out: &Run) -> Value {
    out.ok();
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\nstderr:\n{}", out.stdout, out.stderr))
}

/// A path as `&str` (every test path is UTF-8).
pub fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 test path")
}

/// `<sandbox>/<name>`: a fresh directory holding a copy of `examples/hello`, without build
/// products. Returns its path.
pub fn hello_project(sb: &Sandbox, name: &str) -> PathBuf {
    let dir = sb.path(name);
    super::project::copy_tree(&super::project::example("hello"), &dir);
    dir
}

/// One slot of a conformance package as its `*.expect.json` describes it.
pub struct KitSlot {
    pub index: usize,
    /// SHA-256 of the decoded bytes.
    pub decoded_sha256: String,
    /// For a tar slot: `(name, type, sha256 of a file's content)` of every entry.
    pub tar_entries: Option<Vec<(String, String, Option<String>)>>,
}

/// The slots of a conformance package, from its facts.
pub fn kit_slots(expect: &Value) -> Vec<KitSlot> {
    expect["descriptors"]
        .as_array()
        .expect("descriptors")
        .iter()
        .enumerate()
        .map(|(index, d)| KitSlot {
            index,
            decoded_sha256: d["decoded_sha256"]
                .as_str()
                .expect("decoded_sha256")
                .to_string(),
            tar_entries: d["tar_entries"].as_array().map(|entries| {
                entries
                    .iter()
                    .map(|e| {
                        (
                            e["name"].as_str().expect("entry name").to_string(),
                            e["type"].as_str().expect("entry type").to_string(),
                            e["sha256"].as_str().map(str::to_string),
                        )
                    })
                    .collect()
            }),
        })
        .collect()
}

/// Every directory entry under `dir`, relative, sorted (`a`, `a/b`, …).
pub fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in fs::read_dir(&d).into_iter().flatten().flatten() {
            let rel = e.path().strip_prefix(dir).expect("inside").to_owned();
            out.push(rel.to_string_lossy().into_owned());
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                todo.push(e.path());
            }
        }
    }
    out.sort();
    out
}

/// Lowercase hex SHA-256 of a file's content.
pub fn sha256_file(path: &Path) -> String {
    let file = fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let (digest, _) = pspf::stream::sha256_reader(file).expect("hash a file");
    hex::encode(digest)
}

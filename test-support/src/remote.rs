//! Helpers of the remote cache tests (`tests/remote_*.rs`): `flavor build --json` against a
//! remote cache with extra environment, the packages a build installed (path → bytes), and
//! a server's `/ac/` entries decoded as REAPI `ActionResult`s (what bazel-remote would read).

use super::project::{Build, Project};
use super::start;
use bazel_remote_apis::build::bazel::remote::execution::v2::ActionResult;
use prost::Message;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// `flavor build --json ARGS` at the project's root with extra environment variables;
/// whatever its exit code.
pub fn build_with_env(project: &Project, args: &[&str], env: &[(&str, &str)]) -> Build {
    let mut all = vec!["build", "--json"];
    all.extend_from_slice(args);
    let mut cmd = project.command("", &all);
    for (k, v) in env {
        cmd.env(k, v);
    }
    Build::wait(start(&mut cmd))
}

/// `flavor build --json --remote-cache URL ARGS`; panics unless it succeeds.
pub fn build_remote(project: &Project, url: &str, args: &[&str]) -> Build {
    let mut all = vec!["--remote-cache", url];
    all.extend_from_slice(args);
    let build = build_with_env(project, &all, &[]);
    build.run.ok();
    build
}

/// Every `*.psp` under the project (relative path → bytes).
pub fn packages(project: &Project) -> BTreeMap<String, Vec<u8>> {
    super::files_under(&project.root)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "psp"))
        .map(|p| {
            let rel = p
                .strip_prefix(&project.root)
                .expect("under the root")
                .display()
                .to_string();
            (rel, fs::read(&p).expect("read a package"))
        })
        .collect()
}

/// Asserts that two projects installed the same packages, byte for byte.
pub fn assert_same_packages(a: &Project, b: &Project) {
    let (pa, pb) = (packages(a), packages(b));
    assert!(!pa.is_empty(), "no package was built");
    assert_eq!(
        pa.keys().collect::<Vec<_>>(),
        pb.keys().collect::<Vec<_>>(),
        "different package sets"
    );
    for (rel, bytes) in &pa {
        assert!(pb[rel] == *bytes, "{rel} differs between the two builds");
    }
}

/// SHA-256 as 64 lowercase hex digits.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The server's `/ac/` entries: file path → decoded `ActionResult`.
pub fn ac_entries(data_dir: &Path) -> BTreeMap<PathBuf, ActionResult> {
    let dir = data_dir.join("ac");
    let Ok(entries) = fs::read_dir(&dir) else {
        return BTreeMap::new();
    };
    entries
        .map(|e| e.expect("read ac/").path())
        .map(|p| {
            let bytes = fs::read(&p).expect("read an ac entry");
            let result = ActionResult::decode(&bytes[..])
                .unwrap_or_else(|e| panic!("{} is not an ActionResult: {e}", p.display()));
            (p, result)
        })
        .collect()
}

/// The SHA-256 the remote cache recorded for the local blob `blake3` (64 hex digits) in the
/// build cache `cache_dir` (its index: `sha256/<2 hex>/<blake3>`), if any.
pub fn recorded_sha256(cache_dir: &Path, blake3: &str) -> Option<String> {
    fs::read_to_string(cache_dir.join("sha256").join(&blake3[..2]).join(blake3)).ok()
}

/// The `/ac/` entry (path) whose single output is the blob with SHA-256 `sha256`.
pub fn ac_entry_for_output(data_dir: &Path, sha256: &str) -> PathBuf {
    let found: Vec<PathBuf> = ac_entries(data_dir)
        .into_iter()
        .filter(|(_, r)| {
            r.output_files.len() == 1
                && r.output_files[0].digest.as_ref().map(|d| d.hash.as_str()) == Some(sha256)
        })
        .map(|(p, _)| p)
        .collect();
    assert_eq!(found.len(), 1, "entries with output {sha256}: {found:?}");
    found.into_iter().next().expect("one entry")
}

/// The `summary.remote` object of a build.
pub fn remote_stats(build: &Build) -> &serde_json::Value {
    let stats = &build.summary["remote"];
    assert!(stats.is_object(), "no remote stats in {}", build.summary);
    stats
}

/// The `warning` events of a build (their messages).
pub fn warnings(build: &Build) -> Vec<String> {
    build
        .events
        .iter()
        .filter(|e| e["event"] == "warning")
        .filter_map(|e| e["message"].as_str().map(str::to_string))
        .collect()
}

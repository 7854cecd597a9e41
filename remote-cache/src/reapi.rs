//! What the server holds, in REAPI terms: the remote action key (a SHA-256 derived from the
//! local blake3 action key) and action results as REAPI `ActionResult` messages (types from
//! the `bazel-remote-apis` crate), so bazel-remote and other Bazel caches accept them as
//! their own — over HTTP or gRPC alike.
//!
//! An action's outputs are recorded under the names the engine gives them, `out-0`, `out-1`,
//! …: a file output as an output file (its SHA-256 digest and size), a tree output as an
//! output directory whose `tree_digest` names a REAPI `Tree` blob (see `trees`); exit code 0.

use bazel_remote_apis::build::bazel::remote::execution::v2 as re;
use sha2::{Digest as _, Sha256};

use flavor_engine::Digest;

use crate::index::is_sha256_hex;

/// Versions the mapping from local keys to remote ones: bump it when what an `/ac/` entry
/// means changes, so old entries are simply never looked up again.
const REMOTE_KEY_DOMAIN: &[u8] = b"flavor remote cache key v1\0";

/// The `/ac/` key (64 hex digits) for a local action key.
pub(crate) fn remote_key(local: &Digest) -> String {
    let mut sha = Sha256::new();
    sha.update(REMOTE_KEY_DOMAIN);
    sha.update(local.as_bytes());
    hex::encode(sha.finalize())
}

/// One output as an `/ac/` entry describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RemoteOutput {
    /// SHA-256, 64 lowercase hex digits: of the file, or of the `Tree` blob.
    pub(crate) sha256: String,
    /// Size in bytes (of the file, or of the `Tree` blob).
    pub(crate) size: u64,
    /// The bytes themselves, when the server inlined them.
    pub(crate) inline: Option<Vec<u8>>,
    /// True for an output directory (the blob is a REAPI `Tree`).
    pub(crate) tree: bool,
}

/// One output to record in an `/ac/` entry: `(sha256 hex, size)` of the file, or of the
/// `Tree` blob of a directory with the digest of its root `Directory`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Recorded {
    File(String, u64),
    Tree {
        tree: (String, u64),
        root: (String, u64),
    },
}

fn digest(sha256: &str, size: u64) -> Option<re::Digest> {
    Some(re::Digest {
        hash: sha256.to_string(),
        size_bytes: i64::try_from(size).unwrap_or(i64::MAX),
    })
}

/// The output file name of output `i`.
fn output_path(i: usize) -> String {
    format!("out-{i}")
}

/// The action result recording `outputs`.
pub(crate) fn encode(outputs: &[Recorded]) -> re::ActionResult {
    let mut result = re::ActionResult {
        exit_code: 0,
        ..Default::default()
    };
    for (i, output) in outputs.iter().enumerate() {
        match output {
            Recorded::File(sha256, size) => result.output_files.push(re::OutputFile {
                path: output_path(i),
                digest: digest(sha256, *size),
                ..Default::default()
            }),
            Recorded::Tree { tree, root } => result.output_directories.push(re::OutputDirectory {
                path: output_path(i),
                tree_digest: digest(&tree.0, tree.1),
                root_directory_digest: digest(&root.0, root.1),
                ..Default::default()
            }),
        }
    }
    result
}

/// `(sha256, size)` of a digest an entry names; `Err` if it is missing or malformed.
fn checked(what: &str, digest: Option<re::Digest>) -> Result<(String, u64), String> {
    let digest = digest.ok_or_else(|| format!("{what} has no digest"))?;
    if !is_sha256_hex(&digest.hash) {
        return Err(format!("{what} has a malformed SHA-256"));
    }
    let size =
        u64::try_from(digest.size_bytes).map_err(|_| format!("{what} has a negative size"))?;
    Ok((digest.hash, size))
}

/// The outputs of an action result that should describe `expected` outputs. `Err` says what
/// is wrong with it (a failed action, other outputs, a malformed digest).
pub(crate) fn decode(
    result: re::ActionResult,
    expected: usize,
) -> Result<Vec<RemoteOutput>, String> {
    if result.exit_code != 0 {
        return Err(format!(
            "records a failed action (exit {})",
            result.exit_code
        ));
    }
    let found = result.output_files.len() + result.output_directories.len();
    if found != expected {
        return Err(format!(
            "names {found} output files and directories, the action has {expected}"
        ));
    }
    let mut outputs: Vec<Option<RemoteOutput>> = vec![None; expected];
    let mut place = |path: &str, output: RemoteOutput| -> Result<(), String> {
        let slot = path
            .strip_prefix("out-")
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|i| output_path(*i) == path)
            .and_then(|i| outputs.get_mut(i))
            .ok_or_else(|| format!("names an output `{path}` the action does not have"))?;
        if slot.is_some() {
            return Err(format!("names output `{path}` twice"));
        }
        *slot = Some(output);
        Ok(())
    };
    for file in result.output_files {
        let (sha256, size) = checked(&format!("output `{}`", file.path), file.digest)?;
        let inline = (!file.contents.is_empty()).then_some(file.contents);
        place(
            &file.path,
            RemoteOutput {
                sha256,
                size,
                inline,
                tree: false,
            },
        )?;
    }
    for dir in result.output_directories {
        let (sha256, size) = checked(&format!("output `{}`", dir.path), dir.tree_digest)?;
        place(
            &dir.path,
            RemoteOutput {
                sha256,
                size,
                inline: None,
                tree: true,
            },
        )?;
    }
    // Every slot is filled: `expected` entries were placed, none twice.
    Ok(outputs.into_iter().flatten().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    fn hex64(c: char) -> String {
        std::iter::repeat_n(c, 64).collect()
    }

    #[test]
    fn remote_keys_are_stable_sha256_of_the_local_key() {
        let local = Digest::of_bytes(b"an action");
        let key = remote_key(&local);
        assert_eq!(key.len(), 64);
        assert_eq!(key, remote_key(&local));
        assert_ne!(key, remote_key(&Digest::of_bytes(b"another action")));
        assert_ne!(key, local.to_hex(), "not the local key itself");
        // Pinned: changing the derivation silently orphans every remote entry.
        assert_eq!(
            remote_key(&Digest([0; 32])),
            hex::encode(Sha256::digest([REMOTE_KEY_DOMAIN, &[0u8; 32][..]].concat()))
        );
    }

    #[test]
    fn action_results_round_trip() {
        let outputs = vec![Recorded::File(hex64('a'), 5), Recorded::File(hex64('0'), 0)];
        let body = encode(&outputs).encode_to_vec();
        let decoded = decode(re::ActionResult::decode(&body[..]).unwrap(), 2).unwrap();
        assert_eq!(
            decoded,
            vec![
                RemoteOutput {
                    sha256: hex64('a'),
                    size: 5,
                    inline: None,
                    tree: false,
                },
                RemoteOutput {
                    sha256: hex64('0'),
                    size: 0,
                    inline: None,
                    tree: false,
                },
            ]
        );
        // What bazel-remote reads back is the standard message.
        let parsed = re::ActionResult::decode(&body[..]).unwrap();
        assert_eq!(parsed.output_files[0].path, "out-0");
        assert_eq!(
            parsed.output_files[1].digest.as_ref().unwrap().size_bytes,
            0
        );
    }

    #[test]
    fn tree_outputs_are_output_directories() {
        let outputs = vec![
            Recorded::Tree {
                tree: (hex64('b'), 40),
                root: (hex64('c'), 12),
            },
            Recorded::File(hex64('a'), 5),
        ];
        let result = encode(&outputs);
        assert_eq!(result.output_directories[0].path, "out-0");
        assert_eq!(result.output_files[0].path, "out-1");
        let decoded = decode(result, 2).unwrap();
        assert!(decoded[0].tree && !decoded[1].tree);
        assert_eq!(
            (decoded[0].sha256.as_str(), decoded[0].size),
            (&*hex64('b'), 40)
        );
        // The same output named twice is refused.
        let mut twice = encode(&[Recorded::File(hex64('a'), 5)]);
        twice.output_directories.push(re::OutputDirectory {
            path: "out-0".into(),
            tree_digest: digest(&hex64('b'), 1),
            ..Default::default()
        });
        assert!(decode(twice, 2).unwrap_err().contains("twice"));
    }

    #[test]
    fn bad_entries_are_refused_with_a_reason() {
        let body = encode(&[Recorded::File(hex64('a'), 5)]);
        assert!(decode(body, 2).unwrap_err().contains("1 output files"));
        let failed = re::ActionResult {
            exit_code: 1,
            ..Default::default()
        };
        assert!(decode(failed, 0).unwrap_err().contains("failed"));
        let upper = encode(&[Recorded::File(hex64('A'), 5)]);
        assert!(decode(upper, 1).unwrap_err().contains("malformed"));
        let renamed = re::ActionResult {
            output_files: vec![re::OutputFile {
                path: "../etc/passwd".into(),
                digest: Some(re::Digest {
                    hash: hex64('a'),
                    size_bytes: 1,
                }),
                ..Default::default()
            }],
            ..Default::default()
        };
        assert!(
            decode(renamed, 1)
                .unwrap_err()
                .contains("`../etc/passwd` the action does not have")
        );
    }

    #[test]
    fn inlined_contents_are_kept() {
        let result = re::ActionResult {
            output_files: vec![re::OutputFile {
                path: "out-0".into(),
                digest: Some(re::Digest {
                    hash: hex64('b'),
                    size_bytes: 3,
                }),
                contents: b"abc".to_vec(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let decoded = decode(result, 1).unwrap();
        assert_eq!(decoded[0].inline.as_deref(), Some(&b"abc"[..]));
    }
}

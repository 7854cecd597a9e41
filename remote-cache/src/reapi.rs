//! What the server holds, in REAPI terms: the remote action key (a SHA-256 derived from the
//! local blake3 action key) and action results as REAPI `ActionResult` messages (types from
//! the `bazel-remote-apis` crate), so bazel-remote and other Bazel caches accept them as
//! their own — over HTTP or gRPC alike.
//!
//! An action's outputs are recorded as output files `out-0`, `out-1`, … (the names the engine
//! gives them), each with its SHA-256 digest and size, exit code 0.

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
    /// SHA-256, 64 lowercase hex digits.
    pub(crate) sha256: String,
    /// Size in bytes.
    pub(crate) size: u64,
    /// The bytes themselves, when the server inlined them.
    pub(crate) inline: Option<Vec<u8>>,
}

/// The output file name of output `i`.
fn output_path(i: usize) -> String {
    format!("out-{i}")
}

/// The action result for outputs `(sha256 hex, size)`.
pub(crate) fn encode(outputs: &[(String, u64)]) -> re::ActionResult {
    re::ActionResult {
        output_files: outputs
            .iter()
            .enumerate()
            .map(|(i, (sha256, size))| re::OutputFile {
                path: output_path(i),
                digest: Some(re::Digest {
                    hash: sha256.clone(),
                    size_bytes: i64::try_from(*size).unwrap_or(i64::MAX),
                }),
                ..Default::default()
            })
            .collect(),
        exit_code: 0,
        ..Default::default()
    }
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
    if result.output_files.len() != expected {
        return Err(format!(
            "names {} output files, the action has {expected}",
            result.output_files.len()
        ));
    }
    result
        .output_files
        .into_iter()
        .enumerate()
        .map(|(i, file)| {
            if file.path != output_path(i) {
                return Err(format!(
                    "output {i} is `{}`, expected `{}`",
                    file.path,
                    output_path(i)
                ));
            }
            let digest = file
                .digest
                .ok_or_else(|| format!("output {i} has no digest"))?;
            if !is_sha256_hex(&digest.hash) {
                return Err(format!("output {i} has a malformed SHA-256"));
            }
            let size = u64::try_from(digest.size_bytes)
                .map_err(|_| format!("output {i} has a negative size"))?;
            let inline = (!file.contents.is_empty()).then_some(file.contents);
            Ok(RemoteOutput {
                sha256: digest.hash,
                size,
                inline,
            })
        })
        .collect()
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
        let outputs = vec![(hex64('a'), 5), (hex64('0'), 0)];
        let body = encode(&outputs).encode_to_vec();
        let decoded = decode(re::ActionResult::decode(&body[..]).unwrap(), 2).unwrap();
        assert_eq!(
            decoded,
            vec![
                RemoteOutput {
                    sha256: hex64('a'),
                    size: 5,
                    inline: None
                },
                RemoteOutput {
                    sha256: hex64('0'),
                    size: 0,
                    inline: None
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
    fn bad_entries_are_refused_with_a_reason() {
        let body = encode(&[(hex64('a'), 5)]);
        assert!(decode(body, 2).unwrap_err().contains("1 output files"));
        let failed = re::ActionResult {
            exit_code: 1,
            ..Default::default()
        };
        assert!(decode(failed, 0).unwrap_err().contains("failed"));
        let upper = encode(&[(hex64('A'), 5)]);
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
        assert!(decode(renamed, 1).unwrap_err().contains("expected `out-0`"));
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

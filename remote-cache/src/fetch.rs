//! Lookups: on a local miss, find the action's entry on the server, download every output
//! into the local store — checking each against its SHA-256 and size as it streams — and let
//! the action accept them ([`Action::vet_remote_outputs`]) before they are used.

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use bazel_remote_apis::build::bazel::remote::execution::v2 as re;
use flavor_engine::{Action, ActionResult, Digest, Output, Store};
use prost::Message;
use sha2::{Digest as _, Sha256};

use crate::reapi::{self, RemoteOutput};
use crate::shared::{Shared, bump};
use crate::transport::Failure;
use crate::trees;

/// Looks `key` up for `action`; see [`RemoteCache::fetch`](flavor_engine::RemoteCache::fetch).
pub(crate) fn fetch(
    shared: &Shared,
    key: &Digest,
    action: &dyn Action,
    inputs: &[PathBuf],
    store: &dyn Store,
) -> Option<ActionResult> {
    if shared.offline() {
        return None;
    }
    let remote_key = reapi::remote_key(key);
    let entry = match shared.transport.get_action_result(&remote_key) {
        Ok(Some(entry)) => entry,
        Ok(None) => {
            bump(&shared.counters.misses, 1);
            return None;
        }
        Err(Failure::Malformed(why)) => {
            shared.reject(&format!("entry ac/{remote_key} {why}"));
            return None;
        }
        Err(failure) => {
            shared.failed("looking up an action", &failure);
            return None;
        }
    };
    let outputs = match reapi::decode(entry, action.output_count()) {
        Ok(outputs) => outputs,
        Err(why) => {
            shared.reject(&format!("entry ac/{remote_key} {why}"));
            return None;
        }
    };
    let mut result = ActionResult::default();
    let mut paths = Vec::with_capacity(outputs.len());
    for (i, output) in outputs.iter().enumerate() {
        let stored = if output.tree {
            download_tree(shared, output, store, &remote_key, i)?
        } else {
            let (digest, size) = download(shared, output, store)?;
            Output::file(digest, size)
        };
        paths.push(store.blob_path(&stored.digest)?);
        result.outputs.push(stored);
    }
    if let Err(why) = action.vet_remote_outputs(inputs, &paths) {
        shared.reject(&format!(
            "the result for {} was refused: {why}",
            action.label()
        ));
        return None;
    }
    bump(&shared.counters.hits, 1);
    Some(result)
}

/// Downloads an output directory: its REAPI `Tree` blob (into memory, bounded), then every
/// file into `store`, checked; writes the tree's directory blobs. `None` on a miss or a tree
/// that is refused (said as a rejection).
fn download_tree(
    shared: &Shared,
    output: &RemoteOutput,
    store: &dyn Store,
    remote_key: &str,
    index: usize,
) -> Option<Output> {
    if output.size > trees::MAX_TREE_BLOB {
        shared.reject(&format!(
            "entry ac/{remote_key} names a tree of {} bytes (at most {} accepted)",
            output.size,
            trees::MAX_TREE_BLOB
        ));
        return None;
    }
    let mut body = Vec::new();
    let mut sink = HashingWriter {
        inner: &mut body,
        sha: Sha256::new(),
    };
    match shared
        .transport
        .get_blob(&output.sha256, output.size, &mut sink)
    {
        Ok(Some(_)) => {}
        Ok(None) => {
            bump(&shared.counters.misses, 1);
            return None;
        }
        Err(Failure::Body(why)) => {
            shared.reject(&format!("blob cas/{} {why}", output.sha256));
            return None;
        }
        Err(failure) => {
            shared.failed("downloading a tree", &failure);
            return None;
        }
    }
    let sha = hex::encode(sink.sha.finalize());
    if body.len() as u64 != output.size || sha != output.sha256 {
        shared.mark_damaged(&output.sha256);
        shared.reject(&format!(
            "tree blob cas/{} does not match its digest",
            output.sha256
        ));
        return None;
    }
    bump(&shared.counters.downloaded_bytes, output.size);
    let message = match re::Tree::decode(&body[..]) {
        Ok(message) => message,
        Err(e) => {
            shared.reject(&format!(
                "tree blob cas/{} is not a Tree ({e})",
                output.sha256
            ));
            return None;
        }
    };
    let mut fetch = |sha256: &str, size: u64| {
        let file = RemoteOutput {
            sha256: sha256.to_string(),
            size,
            inline: None,
            tree: false,
        };
        download(shared, &file, store).map(|(digest, _)| digest)
    };
    let tree = match trees::from_reapi(message, &mut fetch) {
        Ok(Some(tree)) => tree,
        Ok(None) => return None,
        Err(why) => {
            shared.reject(&format!(
                "the tree of output {index} in entry ac/{remote_key} {why}"
            ));
            return None;
        }
    };
    match tree.write(store) {
        Ok((digest, size)) => Some(Output::tree(digest, size)),
        Err(e) => {
            shared.warn(format!(
                "cannot store a download from remote cache {}: {e}; building locally",
                shared.url()
            ));
            None
        }
    }
}

/// Downloads one blob into `store`, checking its SHA-256 and size, and records its SHA-256
/// in the index.
fn download(shared: &Shared, output: &RemoteOutput, store: &dyn Store) -> Option<(Digest, u64)> {
    let local_error = |e: std::io::Error| {
        shared.warn(format!(
            "cannot store a download from remote cache {}: {e}; building locally",
            shared.url()
        ));
    };
    let tmp = tempfile::NamedTempFile::new_in(store.tmp_dir())
        .map_err(local_error)
        .ok()?;
    let file = tmp.as_file().try_clone().map_err(local_error).ok()?;
    let mut sink = HashingWriter {
        inner: BufWriter::new(file),
        sha: Sha256::new(),
    };
    let got = match &output.inline {
        Some(bytes) => sink.write_all(bytes).map(|()| bytes.len() as u64),
        None => match shared
            .transport
            .get_blob(&output.sha256, output.size, &mut sink)
        {
            Ok(Some(n)) => Ok(n),
            Ok(None) => {
                // Evicted since the entry was written: a plain miss.
                bump(&shared.counters.misses, 1);
                return None;
            }
            Err(Failure::Body(why)) => {
                shared.reject(&format!("blob cas/{} {why}", output.sha256));
                return None;
            }
            Err(failure) => {
                shared.failed("downloading a blob", &failure);
                return None;
            }
        },
    };
    let got = got.and_then(|n| sink.inner.flush().map(|()| n));
    let got = got.map_err(local_error).ok()?;
    let HashingWriter { inner, sha } = sink;
    drop(inner);
    let sha = hex::encode(sha.finalize());
    if got != output.size || sha != output.sha256 {
        shared.mark_damaged(&output.sha256);
        shared.reject(&format!(
            "blob cas/{} does not match its digest ({got} bytes with SHA-256 {sha}, \
             expected {} bytes)",
            output.sha256, output.size
        ));
        return None;
    }
    bump(&shared.counters.downloaded_bytes, got);
    let path = tmp.into_temp_path();
    let stored = store.put_blob(&path).map_err(local_error).ok()?;
    // put_blob moved the file away; nothing left for the guard to delete.
    let _ = path.keep();
    // Best effort: without the entry, an upload of this blob hashes it again.
    let _ = shared.index.record(&stored.0, &sha);
    Some(stored)
}

/// Writes through to `inner` while hashing with SHA-256.
struct HashingWriter<W: Write> {
    inner: W,
    sha: Sha256,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.sha.update(buf.get(..n).unwrap_or_default());
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

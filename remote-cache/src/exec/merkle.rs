//! The REAPI messages of one remote action: the input root as a canonical Merkle tree of
//! `Directory` protos (one path segment per node, names sorted, the executable bit on each
//! file), the `Command` (environment sorted, outputs sorted, platform sorted by name then
//! value) and the `Action` naming both — with every blob the server may need.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;

use bazel_remote_apis::build::bazel::remote::execution::v2 as re;
use flavor_engine::RemoteCommand;
use prost::Message;
use sha2::{Digest as _, Sha256};

#[cfg(test)]
use crate::grpc::cas::digest_of;
use crate::grpc::cas::{Blob, Content};

/// An action ready to send: its digest and every blob it names.
#[derive(Debug)]
pub(crate) struct Prepared {
    /// The `Action` message's digest.
    pub(crate) action: re::Digest,
    /// File contents, `Directory` protos, the `Command` and the `Action`.
    pub(crate) blobs: Vec<Blob>,
}

/// One input file: where its bytes are, its digest, its executable bit.
struct Leaf {
    blob: Blob,
    executable: bool,
}

/// Builds the messages of `command`. `output_paths`: the server speaks REAPI ≥ 2.1 (else
/// outputs go in `output_files`). `Err` names an input that cannot be read or placed.
pub(crate) fn prepare(
    command: &RemoteCommand,
    platform: &BTreeMap<String, String>,
    output_paths: bool,
) -> Result<Prepared, String> {
    let mut files: BTreeMap<String, Leaf> = BTreeMap::new();
    for input in &command.inputs {
        check_path(&input.path).map_err(|why| format!("input `{}` {why}", input.path))?;
        let (digest, executable) = hash_file(&input.file)?;
        let leaf = Leaf {
            blob: Blob {
                digest,
                content: Content::File(input.file.clone()),
            },
            executable,
        };
        if let Some(old) = files.insert(input.path.clone(), leaf)
            && old.blob.digest != files[&input.path].blob.digest
        {
            return Err(format!(
                "input `{}` is given twice with different contents",
                input.path
            ));
        }
    }
    // The working directory exists in the input root even if no input is in it.
    let wd = command.working_directory.trim_end_matches('/');
    let mut extra = BTreeSet::new();
    if !wd.is_empty() {
        check_path(wd).map_err(|why| format!("working directory `{wd}` {why}"))?;
        extra.insert(format!("{wd}/"));
    }
    let dirs: BTreeSet<&str> = files
        .keys()
        .chain(extra.iter())
        .flat_map(|p| p.match_indices('/').map(move |(i, _)| &p[..i]))
        .collect();
    if let Some(clash) = files.keys().find(|p| dirs.contains(p.as_str())) {
        return Err(format!("input `{clash}` is both a file and a directory"));
    }
    let mut blobs = Vec::new();
    let root = directory(&files, &extra, "", &mut blobs);
    let root = push_message(&root, &mut blobs);

    let platform = re::Platform {
        properties: platform
            .iter()
            .map(|(name, value)| re::platform::Property {
                name: name.clone(),
                value: value.clone(),
            })
            .collect(),
    };
    let outputs: Vec<String> = command
        .outputs
        .iter()
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    for out in &outputs {
        check_path(out).map_err(|why| format!("output `{out}` {why}"))?;
    }
    #[allow(deprecated)]
    let cmd = re::Command {
        arguments: command.argv.clone(),
        environment_variables: command
            .env
            .iter()
            .map(|(name, value)| re::command::EnvironmentVariable {
                name: name.clone(),
                value: value.clone(),
            })
            .collect(),
        output_paths: if output_paths {
            outputs.clone()
        } else {
            Vec::new()
        },
        output_files: if output_paths { Vec::new() } else { outputs },
        working_directory: wd.to_string(),
        platform: Some(platform.clone()),
        ..Default::default()
    };
    let cmd = push_message(&cmd, &mut blobs);
    let action = re::Action {
        command_digest: Some(cmd),
        input_root_digest: Some(root),
        platform: Some(platform),
        ..Default::default()
    };
    let action = push_message(&action, &mut blobs);
    blobs.extend(files.into_values().map(|leaf| leaf.blob));
    Ok(Prepared { action, blobs })
}

/// `Ok` for a relative `/`-separated path without empty, `.` or `..` segments.
fn check_path(path: &str) -> Result<(), &'static str> {
    if path.is_empty() || path.starts_with('/') {
        return Err("is not a relative path");
    }
    if path
        .split('/')
        .any(|s| s.is_empty() || s == "." || s == "..")
    {
        return Err("has an empty, `.` or `..` segment");
    }
    Ok(())
}

/// The SHA-256 digest of a file and whether it is executable.
fn hash_file(path: &std::path::Path) -> Result<(re::Digest, bool), String> {
    let cannot = |e: std::io::Error| format!("cannot read input {}: {e}", path.display());
    let mut file = File::open(path).map_err(cannot)?;
    let executable = file.metadata().map_err(cannot)?.permissions().mode() & 0o111 != 0;
    let mut sha = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf).map_err(cannot)?;
        if n == 0 {
            break;
        }
        sha.update(&buf[..n]);
        size += n as u64;
    }
    let digest = re::Digest {
        hash: hex::encode(sha.finalize()),
        size_bytes: i64::try_from(size).unwrap_or(i64::MAX),
    };
    Ok((digest, executable))
}

/// Encodes `message` as a blob; its digest.
fn push_message<M: Message>(message: &M, blobs: &mut Vec<Blob>) -> re::Digest {
    let blob = Blob::bytes(message.encode_to_vec());
    let digest = blob.digest.clone();
    blobs.push(blob);
    digest
}

/// The `Directory` for `prefix` (`""` or `a/b/`), with the (possibly empty) directories
/// `extra` (`a/b/`); subdirectories' protos go into `blobs`.
fn directory(
    files: &BTreeMap<String, Leaf>,
    extra: &BTreeSet<String>,
    prefix: &str,
    blobs: &mut Vec<Blob>,
) -> re::Directory {
    let mut dir = re::Directory::default();
    let mut subdirs = BTreeSet::new();
    for path in extra {
        if let Some((sub, _)) = path.strip_prefix(prefix).and_then(|r| r.split_once('/')) {
            subdirs.insert(sub.to_string());
        }
    }
    for (path, leaf) in files.range(prefix.to_string()..) {
        let Some(rest) = path.strip_prefix(prefix) else {
            break;
        };
        match rest.split_once('/') {
            Some((sub, _)) => {
                subdirs.insert(sub.to_string());
            }
            None => dir.files.push(re::FileNode {
                name: rest.to_string(),
                digest: Some(leaf.blob.digest.clone()),
                is_executable: leaf.executable,
                node_properties: None,
            }),
        }
    }
    for sub in subdirs {
        let child = directory(files, extra, &format!("{prefix}{sub}/"), blobs);
        dir.directories.push(re::DirectoryNode {
            name: sub,
            digest: Some(push_message(&child, blobs)),
        });
    }
    dir
}

/// The digest an empty input root has (for tests and messages).
#[cfg(test)]
fn empty_root() -> re::Digest {
    digest_of(&re::Directory::default().encode_to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use flavor_engine::RemoteInput;

    fn write(dir: &std::path::Path, name: &str, data: &[u8], mode: u32) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, data).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    fn command(inputs: Vec<(&str, std::path::PathBuf)>) -> RemoteCommand {
        RemoteCommand {
            argv: vec!["sh".into(), "-c".into(), "true".into()],
            inputs: inputs
                .into_iter()
                .map(|(path, file)| RemoteInput {
                    path: path.into(),
                    file,
                })
                .collect(),
            outputs: vec!["b".into(), "a".into()],
            ..Default::default()
        }
    }

    #[test]
    fn the_input_root_is_canonical_whatever_the_input_order() {
        let dir = tempfile::tempdir().unwrap();
        let x = write(dir.path(), "x", b"x", 0o644);
        let y = write(dir.path(), "y", b"y", 0o755);
        let one = prepare(
            &command(vec![
                ("src/b.txt", x.clone()),
                ("src/a/tool", y.clone()),
                ("z", x.clone()),
            ]),
            &BTreeMap::new(),
            true,
        )
        .unwrap();
        let two = prepare(
            &command(vec![("z", x.clone()), ("src/a/tool", y), ("src/b.txt", x)]),
            &BTreeMap::new(),
            true,
        )
        .unwrap();
        assert_eq!(one.action, two.action);
        // Root: file z and directory src; src: file b.txt and directory a; a: tool, executable.
        let dirs: Vec<re::Directory> = one
            .blobs
            .iter()
            .filter_map(|b| match &b.content {
                Content::Bytes(bytes) => re::Directory::decode(bytes.as_slice()).ok(),
                Content::File(_) => None,
            })
            .filter(|d| !d.files.is_empty() || !d.directories.is_empty())
            .collect();
        let tool = dirs
            .iter()
            .flat_map(|d| &d.files)
            .find(|f| f.name == "tool")
            .unwrap();
        assert!(tool.is_executable);
        let root = dirs
            .iter()
            .find(|d| d.files.iter().any(|f| f.name == "z"))
            .unwrap();
        assert_eq!(root.directories[0].name, "src");
        assert_ne!(empty_root(), one.action);
    }

    #[test]
    fn changing_an_input_mode_or_output_changes_the_action() {
        let dir = tempfile::tempdir().unwrap();
        let x = write(dir.path(), "x", b"x", 0o644);
        let base = prepare(&command(vec![("x", x.clone())]), &BTreeMap::new(), true).unwrap();
        std::fs::set_permissions(&x, std::fs::Permissions::from_mode(0o755)).unwrap();
        let exec = prepare(&command(vec![("x", x.clone())]), &BTreeMap::new(), true).unwrap();
        assert_ne!(
            base.action, exec.action,
            "the executable bit is part of the root"
        );
        let mut other = command(vec![("x", x.clone())]);
        other.outputs.push("c".into());
        assert_ne!(
            prepare(&other, &BTreeMap::new(), true).unwrap().action,
            exec.action
        );
        let platform = BTreeMap::from([("OSFamily".to_string(), "linux".to_string())]);
        assert_ne!(
            prepare(&command(vec![("x", x)]), &platform, true)
                .unwrap()
                .action,
            exec.action
        );
    }

    #[test]
    fn bad_inputs_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let x = write(dir.path(), "x", b"x", 0o644);
        let err = prepare(&command(vec![("../x", x.clone())]), &BTreeMap::new(), true).unwrap_err();
        assert!(err.contains("`../x`"), "{err}");
        let err = prepare(
            &command(vec![("a", x.clone()), ("a/b", x.clone())]),
            &BTreeMap::new(),
            true,
        )
        .unwrap_err();
        assert!(err.contains("both a file and a directory"), "{err}");
        let err = prepare(
            &command(vec![("a", dir.path().join("missing"))]),
            &BTreeMap::new(),
            true,
        )
        .unwrap_err();
        assert!(err.contains("cannot read input"), "{err}");
    }
}

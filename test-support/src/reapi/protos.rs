//! Canonical REAPI messages for the tests: digests, an input root's `Directory` tree
//! ([`InputRoot`]), a `Command` and `Action` ([`ActionSpec`]), and the
//! `google.rpc.PreconditionFailure` that `bazel-remote-apis` lacks.

use bazel_remote_apis::build::bazel::remote::execution::v2::{
    Action, Command, Digest, Directory, DirectoryNode, FileNode, Platform,
    command::EnvironmentVariable, platform::Property,
};
use bazel_remote_apis::google::protobuf::Duration as ProtoDuration;
use prost::Message;
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::time::Duration;

/// The SHA-256 digest of `data`.
pub fn digest(data: &[u8]) -> Digest {
    Digest {
        hash: hex::encode(Sha256::digest(data)),
        size_bytes: data.len() as i64,
    }
}

/// `hash/size`, as the worker's log and BuildGrid's messages write digests.
pub fn digest_string(d: &Digest) -> String {
    format!("{}/{}", d.hash, d.size_bytes)
}

/// A message's encoding and its digest.
pub fn encode<M: Message>(message: &M) -> (Digest, Vec<u8>) {
    let bytes = message.encode_to_vec();
    (digest(&bytes), bytes)
}

/// `google.rpc.PreconditionFailure` (error_details.proto, not in `bazel-remote-apis`): what
/// a `FAILED_PRECONDITION` status carries in its details.
#[derive(Clone, PartialEq, Message)]
pub struct PreconditionFailure {
    /// What failed.
    #[prost(message, repeated, tag = "1")]
    pub violations: Vec<Violation>,
}

/// One `PreconditionFailure.Violation`: REAPI uses type `MISSING`, subject
/// `blobs/<hash>/<size>`.
#[derive(Clone, PartialEq, Message)]
pub struct Violation {
    /// The kind (`MISSING`).
    #[prost(string, tag = "1")]
    pub r#type: String,
    /// What (`blobs/<hash>/<size>`).
    #[prost(string, tag = "2")]
    pub subject: String,
    /// Free text.
    #[prost(string, tag = "3")]
    pub description: String,
}

/// An input root under construction: files by path (`a/b/c`), each with its bytes and
/// executable bit.
#[derive(Clone, Default)]
pub struct InputRoot {
    files: BTreeMap<String, (Vec<u8>, bool)>,
}

impl InputRoot {
    /// An empty input root.
    pub fn new() -> InputRoot {
        InputRoot::default()
    }

    /// Add a file at `path` (relative, `/`-separated).
    pub fn file(mut self, path: &str, data: impl Into<Vec<u8>>, executable: bool) -> InputRoot {
        self.files
            .insert(path.to_string(), (data.into(), executable));
        self
    }

    /// The root `Directory`'s digest and every blob (file contents, `Directory` protos).
    pub fn build(&self) -> (Digest, Vec<Vec<u8>>) {
        let mut blobs = Vec::new();
        let root = self.directory("", &mut blobs);
        let (d, bytes) = encode(&root);
        blobs.push(bytes);
        (d, blobs)
    }

    /// The `Directory` for `prefix` (`""` or `a/b/`), its subdirectories' blobs into `blobs`.
    fn directory(&self, prefix: &str, blobs: &mut Vec<Vec<u8>>) -> Directory {
        let mut dir = Directory::default();
        let mut subdirs = std::collections::BTreeSet::new();
        for (path, (data, executable)) in self.files.range(prefix.to_string()..) {
            let Some(rest) = path.strip_prefix(prefix) else {
                break;
            };
            match rest.split_once('/') {
                Some((sub, _)) => {
                    subdirs.insert(sub.to_string());
                }
                None => {
                    blobs.push(data.clone());
                    dir.files.push(FileNode {
                        name: rest.to_string(),
                        digest: Some(digest(data)),
                        is_executable: *executable,
                        node_properties: None,
                    });
                }
            }
        }
        for sub in subdirs {
            let child = self.directory(&format!("{prefix}{sub}/"), blobs);
            let (d, bytes) = encode(&child);
            blobs.push(bytes);
            dir.directories.push(DirectoryNode {
                name: sub,
                digest: Some(d),
            });
        }
        dir
    }
}

/// A `Command` and `Action` under construction. Defaults: `sh -c SCRIPT`,
/// `PATH=/usr/bin:/bin`, platform `ISA=x86-64`, `OSFamily=linux` in both messages (what the
/// test worker offers), outputs as `output_paths` (REAPI ≥ 2.1).
#[derive(Clone)]
pub struct ActionSpec {
    /// `Command.arguments`.
    pub argv: Vec<String>,
    /// `Command.environment_variables` (sent sorted by name).
    pub env: BTreeMap<String, String>,
    /// `Command.output_paths`.
    pub output_paths: Vec<String>,
    /// `Command.output_files` (REAPI 2.0 style).
    pub output_files: Vec<String>,
    /// `Command.output_directories` (REAPI 2.0 style).
    pub output_directories: Vec<String>,
    /// `Command.working_directory`.
    pub working_directory: String,
    /// Platform properties (sent sorted), in both `Command` and `Action`.
    pub platform: BTreeMap<String, String>,
    /// `Action.salt`: a distinct salt gives a distinct action (and cache entry).
    pub salt: Vec<u8>,
    /// `Action.timeout`.
    pub timeout: Option<Duration>,
    /// `Action.do_not_cache`.
    pub do_not_cache: bool,
}

impl ActionSpec {
    /// `sh -c SCRIPT` with the defaults above.
    pub fn sh(script: &str) -> ActionSpec {
        ActionSpec {
            argv: vec!["sh".into(), "-c".into(), script.into()],
            env: BTreeMap::from([("PATH".into(), "/usr/bin:/bin".into())]),
            output_paths: Vec::new(),
            output_files: Vec::new(),
            output_directories: Vec::new(),
            working_directory: String::new(),
            platform: BTreeMap::from([
                ("ISA".into(), "x86-64".into()),
                ("OSFamily".into(), "linux".into()),
            ]),
            salt: Vec::new(),
            timeout: None,
            do_not_cache: false,
        }
    }

    /// Set `output_paths`.
    pub fn outputs(mut self, paths: &[&str]) -> ActionSpec {
        self.output_paths = paths.iter().map(|p| p.to_string()).collect();
        self
    }

    /// Set `Action.salt`.
    pub fn salt(mut self, salt: impl Into<Vec<u8>>) -> ActionSpec {
        self.salt = salt.into();
        self
    }

    /// The `Command`.
    // `output_files`, `output_directories` and `Command.platform` are deprecated in REAPI 2.1+
    // but still what 2.0 servers and clients use; the tests exercise both.
    #[allow(deprecated)]
    pub fn command(&self) -> Command {
        let sorted = |v: &[String]| {
            let mut v = v.to_vec();
            v.sort();
            v.dedup();
            v
        };
        Command {
            arguments: self.argv.clone(),
            environment_variables: self
                .env
                .iter()
                .map(|(name, value)| EnvironmentVariable {
                    name: name.clone(),
                    value: value.clone(),
                })
                .collect(),
            output_files: sorted(&self.output_files),
            output_directories: sorted(&self.output_directories),
            output_paths: sorted(&self.output_paths),
            platform: Some(self.platform()),
            working_directory: self.working_directory.clone(),
            ..Default::default()
        }
    }

    fn platform(&self) -> Platform {
        Platform {
            properties: self
                .platform
                .iter()
                .map(|(name, value)| Property {
                    name: name.clone(),
                    value: value.clone(),
                })
                .collect(),
        }
    }

    /// The `Action` for `input_root`, its digest, and the blobs to upload (Command, Action).
    pub fn build(&self, input_root: &Digest) -> (Digest, Vec<Vec<u8>>) {
        let (command_digest, command) = encode(&self.command());
        let action = Action {
            command_digest: Some(command_digest),
            input_root_digest: Some(input_root.clone()),
            timeout: self.timeout.map(|t| ProtoDuration {
                seconds: t.as_secs() as i64,
                nanos: t.subsec_nanos() as i32,
            }),
            do_not_cache: self.do_not_cache,
            salt: self.salt.clone(),
            platform: Some(self.platform()),
        };
        let (action_digest, action) = encode(&action);
        (action_digest, vec![command, action])
    }
}

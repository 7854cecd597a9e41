//! Feeds arbitrary bytes as a whole package file: they are written to a temporary file and
//! opened with `pspf::Package::open`; every slot is then streamed with `slot_reader` to its
//! end and extracted with `extract_slot`, all slots into one fresh destination directory, the
//! way a launcher fills its work environment. `verify` and `upstream_compatibility` run on the
//! package too. Independently, the raw bytes go straight to `pspf::extract::unpack_tar` (the
//! whole input as a tar stream) into another fresh destination, and are walked member by
//! member with `pspf::archive::for_each_member`.
//!
//! Each run works in its own directory `<run>/` holding `dest/` plus one file beside it (the
//! package file, or a canary for the raw tar case), inside a per-process root directory.
//!
//! Asserts: nothing panics; a verification whose signature check fails never parses the
//! metadata (its `metadata` check is skipped); every member `for_each_member` yields names a
//! path and link of at most `MAX_PATH` bytes without NULs, its data is all there, and the
//! headers and data of an accepted archive fit in the input (no header is ever expanded
//! beyond what the bytes hold); and nothing is written outside `dest/`: afterwards `<run>/` holds
//! exactly `dest/` (still a real directory) and the file beside it, that file still has its
//! contents and a link count of 1, `<run>/` keeps its mode, and once `<run>/` is removed the
//! per-process root is empty again.
//!
//! Decoded slots are read at most `DECODED_LIMIT` bytes far, and a slot that decodes to more is
//! not extracted: a zstd slot can expand by four orders of magnitude, and writing such output
//! to disk on every run would only slow the fuzzer down.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pspf::archive::{MAX_PATH, for_each_member};
use pspf::verify::Outcome;
use pspf::{Package, VerifyOptions};
use std::collections::BTreeSet;
use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const DECODED_LIMIT: u64 = 8 * 1024 * 1024;
const PACKAGE_FILE: &str = "package.psp";
const CANARY_FILE: &str = "canary";
const CANARY: &[u8] = b"nothing may touch this file\n";

/// A directory of this process's own under the system temp dir, holding one run at a time
/// (created by [`Run::new`], removed again by [`Run::finish`]).
fn root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("pspf-fuzz-tar-slot-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    })
}

/// Remove a tree even when an archive left directories without write or search permission.
fn force_remove(path: &Path) {
    fn open_up(path: &Path) {
        let Ok(meta) = fs::symlink_metadata(path) else {
            return;
        };
        if meta.is_dir() {
            let _ = fs::set_permissions(path, fs::Permissions::from_mode(0o700));
            if let Ok(entries) = fs::read_dir(path) {
                for entry in entries.flatten() {
                    open_up(&entry.path());
                }
            }
        }
    }
    if fs::remove_dir_all(path).is_err() {
        open_up(path);
        fs::remove_dir_all(path).expect("remove the run directory");
    }
}

/// One run: `<root>/run/` with `dest/` and one file beside it.
struct Run {
    dir: PathBuf,
    dest: PathBuf,
    file_name: &'static str,
    file_contents: Vec<u8>,
    mode: u32,
}

impl Run {
    fn new(file_name: &'static str, file_contents: &[u8]) -> Run {
        let dir = root().join("run");
        let dest = dir.join("dest");
        fs::create_dir_all(root()).expect("create the fuzz root directory");
        fs::create_dir(&dir).expect("create the run directory");
        fs::create_dir(&dest).expect("create the destination");
        fs::write(dir.join(file_name), file_contents).expect("write the file beside dest");
        let mode = fs::symlink_metadata(&dir).expect("stat run").mode();
        Run {
            dir,
            dest,
            file_name,
            file_contents: file_contents.to_vec(),
            mode,
        }
    }

    fn file(&self) -> PathBuf {
        self.dir.join(self.file_name)
    }

    /// Check that nothing happened outside `dest/`, then remove the run.
    fn finish(self, what: &str) {
        let names: BTreeSet<String> = fs::read_dir(&self.dir)
            .expect("list the run directory")
            .map(|e| {
                e.expect("read a run directory entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        let expected: BTreeSet<String> = ["dest", self.file_name]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            names, expected,
            "{what}: something was written beside dest/"
        );
        let dest_meta = fs::symlink_metadata(&self.dest).expect("stat dest");
        assert!(
            dest_meta.is_dir(),
            "{what}: dest/ was replaced by a non-directory"
        );
        let file_meta = fs::symlink_metadata(self.file()).expect("stat the file beside dest");
        assert!(
            file_meta.is_file(),
            "{what}: {} is no longer a plain file",
            self.file_name
        );
        assert_eq!(
            file_meta.nlink(),
            1,
            "{what}: a hard link to {} was made",
            self.file_name
        );
        assert!(
            fs::read(self.file()).expect("read the file beside dest") == self.file_contents,
            "{what}: {} was modified",
            self.file_name
        );
        let mode = fs::symlink_metadata(&self.dir).expect("stat run").mode();
        assert_eq!(
            mode, self.mode,
            "{what}: the mode of the directory around dest/ changed"
        );
        force_remove(&self.dir);
        let leftovers: Vec<_> = fs::read_dir(root())
            .expect("list the fuzz root")
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert!(
            leftovers.is_empty(),
            "{what}: written outside the run directory: {leftovers:?}"
        );
        fs::remove_dir(root()).expect("remove the fuzz root directory");
    }
}

fn exercise_package(data: &[u8]) {
    let run = Run::new(PACKAGE_FILE, data);
    if let Ok(pkg) = Package::open(run.file()) {
        let _ = format!("{pkg:?}");
        let _ = pkg.metadata().map(|m| m.package.name.len());
        let _ = pkg.find_slot("0");
        let report = pkg.verify(&VerifyOptions::default());
        let signature_failed = report
            .checks
            .iter()
            .any(|c| c.name == "signature" && !c.passed());
        if signature_failed {
            let metadata = report.checks.iter().find(|c| c.name == "metadata");
            assert!(
                matches!(metadata.map(|c| &c.outcome), Some(Outcome::Skipped(_))),
                "metadata was parsed although its signature failed"
            );
        }
        let _ = pspf::compat::upstream_compatibility(&pkg);
        if let Ok(mut launcher) = pkg.launcher_reader() {
            let _ = io::copy(&mut launcher, &mut io::sink());
        }
        for i in 0..pkg.slot_count() {
            let _ = pkg.slot_codec(i);
            let _ = pkg.slot_metadata(i);
            let decoded = match pkg.slot_reader(i) {
                Ok(reader) => {
                    let mut limited = reader.take(DECODED_LIMIT + 1);
                    let n = io::copy(&mut limited, &mut io::sink());
                    if let Err(e) = &n {
                        let _ = pspf::Error::from_io(io::Error::new(e.kind(), e.to_string()));
                    }
                    let mut reader = limited.into_inner();
                    let _ = reader.stored_digest();
                    let _ = reader.decoded_len();
                    n.unwrap_or(0)
                }
                Err(e) => {
                    let _ = e.to_string();
                    0
                }
            };
            if decoded > DECODED_LIMIT {
                continue;
            }
            if let Err(e) = pkg.extract_slot(i, &run.dest) {
                let _ = (e.kind(), e.to_string());
            }
        }
    }
    run.finish("package");
}

fn exercise_raw_tar(data: &[u8]) {
    let run = Run::new(CANARY_FILE, CANARY);
    if let Err(e) = pspf::extract::unpack_tar(data, &run.dest) {
        let _ = (e.kind(), e.to_string());
    }
    run.finish("raw tar");
}

fn exercise_members(data: &[u8]) {
    let mut footprint = 0u64;
    let walked = for_each_member(data, |member, content| {
        for name in std::iter::once(&member.path).chain(member.link.as_ref()) {
            let bytes = name.as_os_str().as_encoded_bytes();
            assert!(bytes.len() as u64 <= MAX_PATH, "a {}-byte name", bytes.len());
            assert!(!bytes.contains(&0), "a name with a NUL");
        }
        let n = io::copy(content, &mut io::sink())?;
        assert_eq!(n, member.size, "{}: short member data", member.label());
        footprint += 512 + member.size.div_ceil(512) * 512;
        Ok(())
    });
    if walked.is_ok() {
        assert!(
            footprint <= data.len() as u64,
            "members take {footprint} bytes of a {}-byte archive",
            data.len()
        );
    }
}

fuzz_target!(|data: &[u8]| {
    exercise_package(data);
    exercise_raw_tar(data);
    exercise_members(data);
});

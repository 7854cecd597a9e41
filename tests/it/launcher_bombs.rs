//! Bombs: slots and metadata crafted to make the launcher spend unbounded memory or disk
//! before it refuses them. Every test mounts the attack on a real package and runs the real
//! launcher as a process under GNU `time`, which reports the launcher's own peak resident
//! memory (`ru_maxrss` of the process it forks, so nothing of this test process counts); it
//! must stay within 16 MiB — a resource bound, not a timing. Each launch runs with a 64 MiB
//! file-size limit (`RLIMIT_FSIZE`): a launcher that writes a bomb out is killed by `SIGXFSZ`
//! instead of filling the disk.
//!
//! - Tar header bombs: a GNU long-name or PAX header declaring 1 GiB (a few dozen KB of
//!   zstd) is refused on its header, as a format error (102) in a signed package and as
//!   tampering (107) when swapped into a genuine package's slot.
//! - Decoded-size bombs: a slot swapped for one that decodes to gigabytes is refused before
//!   it fills anything (107); a signed slot that decodes past the size its metadata declares
//!   is stopped at that size; an upstream slot (no declared size) is verified before it is
//!   decoded at all.
//! - Framed zstd slots: a slot in frames with a seek table, unpacked on several threads, is
//!   refused as tampering when a frame is flipped, and as malformed when a signed table lies.
//! - Metadata bombs: metadata whose signature does not verify is refused before it is parsed,
//!   and metadata over the size limit is refused with a message saying so.

use pspf::descriptor::checksum_from_digest;
use pspf::encode::{Compression, compress};
use pspf::index::{INDEX_SIZE, MAGIC_END, MAGIC_START, TRAILER_SIZE, compute_index_checksum};
use pspf::{Codec, PackageSpec, SlotInput, flavor_metadata, write_package};
use sha2::{Digest, Sha256};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use support::*;

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;
/// Peak resident memory allowed to a launch that meets a bomb.
const RSS_LIMIT_KIB: u64 = 16 * 1024;
/// Largest file a launch may write (`RLIMIT_FSIZE`).
const FSIZE_LIMIT: u64 = 64 * MIB;
/// GNU time (Debian package `time`), which reports the peak RSS of the command it runs.
const GNU_TIME: &str = "/usr/bin/time";

/// A finished launch and its peak resident memory.
struct Measured {
    run: Run,
    peak_kib: u64,
}

/// Launch `pkg` in the sandbox (cold) under GNU time and the file-size limit.
fn launch(sb: &Sandbox, pkg: &Path) -> Measured {
    assert!(
        Path::new(GNU_TIME).is_file(),
        "{GNU_TIME} is missing: install GNU time (Debian package `time`; .ci/run does)"
    );
    let report = tempfile::NamedTempFile::new_in(sb.root()).expect("a report file");
    let mut cmd = sb.command(Path::new(GNU_TIME));
    cmd.arg("--format=%M")
        .arg(format!("--output={}", report.path().display()))
        .arg(pkg);
    // SAFETY: only setrlimit, which is async-signal-safe, runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: FSIZE_LIMIT,
                rlim_max: FSIZE_LIMIT,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    let mut done = run(&mut cmd);
    // The last line is the peak RSS in KiB; a line before it names a fatal signal.
    let text = fs::read_to_string(report.path()).expect("GNU time's report");
    let peak_kib = text
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("no peak RSS in {text:?}"));
    if let Some(sig) = text
        .lines()
        .find_map(|l| l.strip_prefix("Command terminated by signal "))
    {
        done.code = None;
        done.signal = sig.trim().parse().ok();
    }
    eprintln!(
        "{}: exit {:?} signal {:?}, peak RSS {peak_kib} KiB: {}",
        pkg.file_name().unwrap().to_string_lossy(),
        done.code,
        done.signal,
        done.stderr.trim(),
    );
    Measured {
        run: done,
        peak_kib,
    }
}

/// The launch was refused with `code`, one stderr line naming every one of `words`, within
/// the memory bound, and left nothing behind that a later launch could trust.
fn assert_refused(sb: &Sandbox, pkg: &Path, m: &Measured, code: i32, words: &[&str]) {
    m.run.expect_code(code);
    assert_eq!(m.run.stdout, "", "the app must not run");
    let lines = m.run.stderr_lines();
    assert_eq!(lines.len(), 1, "one line expected:\n{}", m.run.stderr);
    for w in words {
        assert!(lines[0].contains(w), "{w:?} not named in {:?}", lines[0]);
    }
    assert!(
        m.peak_kib <= RSS_LIMIT_KIB,
        "peak RSS {} KiB exceeds {RSS_LIMIT_KIB} KiB",
        m.peak_kib
    );
    let name = pkg.file_stem().unwrap().to_string_lossy();
    assert!(sb.ready_markers(&name).is_empty(), "marked ready");
    assert!(sb.workenvs(&name).is_empty(), "left a workenv");
    assert!(sb.staging_dirs(&name).is_empty(), "left staging behind");
}

/// `bytes` as one zstd frame.
fn zstd(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    compress(Codec::Zstd, bytes, &mut out, Compression::default()).expect("zstd");
    out
}

/// `bytes` as one gzip member.
fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    compress(Codec::Gzip, bytes, &mut out, Compression::default()).expect("gzip");
    out
}

/// Concatenated frames (zstd) or members (gzip) decoding to `head`, `len` bytes of `fill`,
/// then `tail`: one compressed MiB repeated, so a GiB costs a few dozen KB.
fn bomb(encode: fn(&[u8]) -> Vec<u8>, head: &[u8], fill: u8, len: u64, tail: &[u8]) -> Vec<u8> {
    assert_eq!(len % MIB, 0);
    let one_mib = encode(&vec![fill; MIB as usize]);
    let mut out = encode(head);
    for _ in 0..len / MIB {
        out.extend_from_slice(&one_mib);
    }
    out.extend(encode(tail));
    out
}

/// A zstd skippable frame of `len` pseudo-random bytes: decoders pass over it, the digest
/// covers it. Appended to a bomb, it makes the stored slot large.
fn skippable(len: usize) -> Vec<u8> {
    let mut out = 0x184D_2A50u32.to_le_bytes().to_vec();
    out.extend((len as u32).to_le_bytes());
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    out.extend((0..len).map(|_| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x as u8
    }));
    out
}

/// A slot of [`package`]: id, codec, stored (already encoded) bytes, declared decoded size.
struct Encoded {
    id: &'static str,
    target: &'static str,
    codec: Codec,
    stored: Vec<u8>,
    decoded_size: u64,
}

/// A tar.zst slot unpacked at the workenv root.
fn tar_zst(id: &'static str, stored: Vec<u8>, decoded_size: u64) -> Encoded {
    Encoded {
        id,
        target: "{workenv}",
        codec: Codec::TarZst,
        stored,
        decoded_size,
    }
}

/// A signed package: slot 0 is the app (`echo ran`), then `slots` exactly as given.
fn package(sb: &Sandbox, file: &str, slots: Vec<Encoded>) -> PathBuf {
    let work = tempfile::tempdir_in(sb.root()).expect("a work directory");
    let app = sh("echo ran\n");
    let mut all = vec![Encoded {
        id: "app",
        target: "{workenv}/bin/app",
        codec: Codec::Raw,
        decoded_size: app.len() as u64,
        stored: app,
    }];
    all.extend(slots);
    let inputs = all
        .into_iter()
        .map(|s| {
            let stored = work.path().join(s.id);
            fs::write(&stored, &s.stored).expect("write a stored slot");
            SlotInput {
                id: s.id.into(),
                source: s.id.into(),
                target: s.target.into(),
                codec: s.codec,
                stored,
                stored_sha256: None,
                decoded_size: s.decoded_size,
                purpose: pspf::vocabulary::Purpose::Payload,
                lifecycle: pspf::vocabulary::Lifecycle::Runtime,
                permissions: 0o755,
            }
        })
        .collect();
    let out = sb.pkg(file);
    let spec = PackageSpec {
        launcher: &launcher(),
        metadata: flavor_metadata("bombed", "1.0", "{workenv}/bin/app", 0),
        slots: inputs,
        key: &test_key(),
    };
    write_package(spec, &out).expect("write the package");
    out
}

/// Tamper as an attacker without the key would: slot `i`'s stored bytes become `bytes`
/// (placed after the last slot; the descriptor points there with a matching checksum, and
/// the index's package size and Adler-32 are fixed), so only the signed digest can tell.
fn swap_slot(pkg: &Path, i: usize, bytes: &[u8]) {
    let opened = pspf::Package::open(pkg).expect("open the package");
    let trailer_at = opened.trailer_offset() as usize;
    let table_at = opened.index().slot_table_offset() as usize;
    let mut desc = opened.descriptors()[i].clone();
    let mut index = *opened.index().raw();
    drop(opened);
    let mut file = fs::read(pkg).expect("read the package");
    file.truncate(trailer_at);
    desc.offset = trailer_at as u64;
    desc.size = bytes.len() as u64;
    desc.checksum = checksum_from_digest(&Sha256::digest(bytes).into());
    file[table_at + 64 * i..table_at + 64 * (i + 1)].copy_from_slice(&desc.to_bytes());
    file.extend_from_slice(bytes);
    let package_size = (file.len() + TRAILER_SIZE) as u64;
    index[8..16].copy_from_slice(&package_size.to_le_bytes());
    let sum = compute_index_checksum(&index);
    index[4..8].copy_from_slice(&sum.to_le_bytes());
    file.extend_from_slice(&MAGIC_START);
    file.extend_from_slice(&index);
    file.extend_from_slice(&MAGIC_END);
    assert_eq!(index.len(), INDEX_SIZE);
    fs::write(pkg, file).expect("write the tampered package");
}

/// A tar whose first header declares `len` bytes of extension data (GNU long name `L` or
/// PAX `x`), the data itself (`a`s), then a regular file `bin/app2`.
fn header_bomb(kind: u8, len: u64) -> (Vec<u8>, Vec<u8>, u64) {
    let head = Tar::new().declare("././@LongLink", kind, len).into_bytes();
    let tail = Tar::new().file("bin/app2", b"echo two\n", 0o755).finish();
    let decoded = head.len() as u64 + len + tail.len() as u64;
    (head, tail, decoded)
}

#[test]
fn a_gnu_long_name_bomb_is_refused_on_its_header() {
    let sb = Sandbox::new();
    let (head, tail, decoded) = header_bomb(b'L', GIB);
    let stored = bomb(zstd, &head, b'a', GIB, &tail);
    let pkg = package(&sb, "longname.psp", vec![tar_zst("tree", stored, decoded)]);
    let m = launch(&sb, &pkg);
    assert_refused(
        &sb,
        &pkg,
        &m,
        102,
        &["slot 1 (tree)", "GNU long name", "1073741824", "4096"],
    );
}

#[test]
fn a_pax_header_bomb_is_refused_and_the_app_does_not_run() {
    let sb = Sandbox::new();
    let (head, tail, decoded) = header_bomb(b'x', GIB);
    let stored = bomb(zstd, &head, b'a', GIB, &tail);
    let pkg = package(&sb, "pax.psp", vec![tar_zst("tree", stored, decoded)]);
    let m = launch(&sb, &pkg);
    assert_refused(&sb, &pkg, &m, 102, &["slot 1 (tree)", "PAX", "1073741824"]);
}

/// A genuine package: the app and a small tar.zst tree.
fn genuine(sb: &Sandbox, file: &str) -> PathBuf {
    let tree = Tar::new()
        .dir("share/")
        .file("share/readme", b"hello\n", 0o644)
        .finish();
    let decoded = tree.len() as u64;
    package(sb, file, vec![tar_zst("tree", zstd(&tree), decoded)])
}

#[test]
fn a_header_bomb_swapped_into_a_genuine_slot_is_reported_as_tampering() {
    let sb = Sandbox::new();
    let (head, tail, _) = header_bomb(b'L', GIB);
    let small = bomb(zstd, &head, b'a', GIB, &tail);
    // Stored bytes too large to be hashed before decoding: the digest is checked as they
    // stream, and the header bound stops the tar reader long before the end.
    let mut large = small.clone();
    large.extend(skippable(24 * MIB as usize));
    for (file, bytes) in [("swapped.psp", small), ("swapped-large.psp", large)] {
        let pkg = genuine(&sb, file);
        swap_slot(&pkg, 1, &bytes);
        let m = launch(&sb, &pkg);
        assert_refused(
            &sb,
            &pkg,
            &m,
            107,
            &["slot 1 (tree)", "sha256", "FLAVOR_VALIDATION"],
        );
    }
}

#[test]
fn a_slot_swapped_for_a_decompression_bomb_is_refused_before_it_fills_the_disk() {
    let sb = Sandbox::new();
    let blob = vec![7u8; MIB as usize];
    let file_bomb = bomb(zstd, b"", 0, 4 * GIB, b"");
    let big_file = Tar::new().declare("big", b'0', 4 * GIB).into_bytes();
    let tar_bomb = bomb(zstd, &big_file, 0, 4 * GIB, &[0u8; 1024]);
    let mut file_bomb_large = file_bomb.clone();
    file_bomb_large.extend(skippable(24 * MIB as usize));
    let cases = [
        ("file.psp", Codec::Zstd, file_bomb),
        ("file-large.psp", Codec::Zstd, file_bomb_large),
        ("tree.psp", Codec::TarZst, tar_bomb),
    ];
    for (file, codec, bytes) in cases {
        let (target, content) = if codec.is_tar() {
            let t = Tar::new().file("blob", &blob, 0o644).finish();
            ("{workenv}", t)
        } else {
            ("{workenv}/blob", blob.clone())
        };
        let slot = Encoded {
            id: "blob",
            target,
            codec,
            decoded_size: content.len() as u64,
            stored: zstd(&content),
        };
        let pkg = package(&sb, file, vec![slot]);
        swap_slot(&pkg, 1, &bytes);
        let m = launch(&sb, &pkg);
        assert_eq!(m.run.signal, None, "{file}: killed writing the bomb out");
        assert_refused(&sb, &pkg, &m, 107, &["slot 1 (blob)", "sha256"]);
    }
}

#[test]
fn a_signed_slot_is_never_decoded_past_the_size_its_metadata_declares() {
    let sb = Sandbox::new();
    let slot = Encoded {
        id: "blob",
        target: "{workenv}/blob",
        codec: Codec::Zstd,
        stored: bomb(zstd, b"", 0, 4 * GIB, b""),
        decoded_size: MIB,
    };
    let pkg = package(&sb, "liar.psp", vec![slot]);
    let m = launch(&sb, &pkg);
    assert_eq!(m.run.signal, None, "killed writing the bomb out");
    assert_refused(
        &sb,
        &pkg,
        &m,
        107,
        &["slot 1 (blob)", "more than 1048576 bytes", "declares"],
    );
}

/// An upstream package (its metadata declares no decoded size) with a slot swapped for a
/// gzip bomb: verified before decoding, so nothing is decoded or written.
#[test]
fn an_upstream_slot_is_verified_before_it_is_decoded() {
    let sb = Sandbox::new();
    let pkg = sb.pkg("rs030-tgz.psp");
    let mut cmd = Command::new(flavor_bin());
    cmd.arg("repack")
        .arg(kit_dir().join("packages/rs030-tgz.psp"))
        .arg("--launcher")
        .arg(launcher())
        .arg("-o")
        .arg(&pkg);
    run(&mut cmd).ok();
    let opened = pspf::Package::open(&pkg).unwrap();
    let slot = (0..opened.slot_count())
        .find(|&i| opened.slot_codec(i).unwrap() == Codec::TarGz)
        .expect("a tar.gz slot");
    let id = opened.metadata().unwrap().slots[slot].id.clone();
    assert!(
        opened
            .metadata_json()
            .unwrap()
            .windows(12)
            .all(|w| w != b"decoded_size"),
        "an upstream package declares no decoded size"
    );
    drop(opened);
    let big = Tar::new().declare("big", b'0', 256 * MIB).into_bytes();
    swap_slot(&pkg, slot, &bomb(gzip, &big, 0, 256 * MIB, &[0u8; 1024]));
    let m = launch(&sb, &pkg);
    assert_eq!(m.run.signal, None, "killed writing the bomb out");
    assert_refused(
        &sb,
        &pkg,
        &m,
        107,
        &[&format!("slot {slot} ({id})"), "sha256"],
    );
}

/// A package whose `execution.env` holds `entries` variables (about 20 bytes of JSON each).
fn env_heavy(sb: &Sandbox, file: &str, entries: usize) -> PathBuf {
    let mut b = PackageBuilder::app("bombed", "1.0", "echo ran\n");
    for n in 0..entries {
        b.metadata
            .execution
            .env
            .insert(format!("K{n:07}"), "v".into());
    }
    b.build(&sb.pkg(file))
}

#[test]
fn metadata_whose_signature_fails_is_refused_before_it_is_parsed() {
    let sb = Sandbox::new();
    // About 3.5 MB of JSON: under the size limit, but its parsed form alone would outgrow
    // the memory bound.
    let pkg = env_heavy(&sb, "unsigned.psp", 170_000);
    let opened = pspf::Package::open(&pkg).unwrap();
    let json_len = opened.metadata_json().unwrap().len();
    assert!(json_len > 3_000_000 && json_len < 4 << 20, "{json_len}");
    drop(opened);
    // Break the signature (and fix the index's own checksum, as an attacker would).
    let mut bytes = fs::read(&pkg).unwrap();
    let index_at = bytes.len() - TRAILER_SIZE + 4;
    bytes[index_at + 128] ^= 0x01;
    let raw: &mut [u8; INDEX_SIZE] = (&mut bytes[index_at..index_at + INDEX_SIZE])
        .try_into()
        .unwrap();
    let sum = compute_index_checksum(raw);
    raw[4..8].copy_from_slice(&sum.to_le_bytes());
    fs::write(&pkg, bytes).unwrap();
    let m = launch(&sb, &pkg);
    assert_refused(&sb, &pkg, &m, 107, &["signature", "FLAVOR_VALIDATION"]);

    let out = tools::flavor(&sb, &["verify", pkg.to_str().unwrap()]);
    out.expect_code(1);
    assert!(out.stdout.contains("✗ signature"), "{}", out.stdout);
    assert!(
        out.stdout
            .contains("- metadata: skipped (not parsed: its signature does not verify)"),
        "{}",
        out.stdout
    );
}

#[test]
fn metadata_over_the_size_limit_is_refused_with_a_clear_error() {
    let sb = Sandbox::new();
    // About 6 MB of JSON, validly signed.
    let pkg = env_heavy(&sb, "huge.psp", 300_000);
    let m = launch(&sb, &pkg);
    assert_refused(&sb, &pkg, &m, 102, &["metadata", "more than 4194304 bytes"]);
    assert!(
        !m.run.stderr.contains("relaxed"),
        "no validation level runs it: {}",
        m.run.stderr
    );
    for cmd in ["verify", "inspect"] {
        let out = tools::flavor(&sb, &[cmd, pkg.to_str().unwrap()]);
        assert_ne!(out.code, Some(0), "flavor {cmd} accepted it");
        assert!(
            out.stderr.contains("more than 4194304 bytes"),
            "flavor {cmd}: {}",
            out.stderr
        );
    }
}

/// `len` deterministic bytes that compress about 3:1 (so a few MiB make several frames).
fn payload(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if i % 4 == 0 {
                x as u8
            } else {
                b'a' + (i % 7) as u8
            }
        })
        .collect()
}

/// Paths and contents of the files in a tree.
type Files = Vec<(String, Vec<u8>)>;

/// A tree of 24 files (≈ 9 MiB) as flavor's encoder writes it (frames and a seek table), the
/// files, and the tar's size.
fn framed_tree() -> (Vec<u8>, Files, u64) {
    let files: Files = (0..24u64)
        .map(|i| {
            let len = [0, 3_000, 300_000, 1_100_000][i as usize % 4];
            (format!("lib/m{i}.py"), payload(len, i))
        })
        .collect();
    let mut tar = Tar::new().dir("lib/");
    for (name, bytes) in &files {
        tar = tar.file(name, bytes, 0o644);
    }
    let tar = tar.finish();
    let mut stored = Vec::new();
    let settings = Compression {
        level: None,
        workers: 2,
    };
    compress(Codec::TarZst, &tar[..], &mut stored, settings).expect("zstd");
    (stored, files, tar.len() as u64)
}

/// The frames of slot `i` of `pkg`: where its stored bytes start, and the seek table.
fn frames_of(pkg: &Path, i: usize) -> (usize, pspf::seekable::SeekTable) {
    let opened = pspf::Package::open(pkg).expect("open the package");
    let d = &opened.descriptors()[i];
    let file = fs::File::open(pkg).expect("open the package file");
    let table = pspf::seekable::SeekTable::read_at(&file, d.offset, d.size).expect("a seek table");
    (d.offset as usize, table)
}

#[test]
fn a_framed_slot_unpacks_on_threads_and_a_flipped_frame_is_tampering() {
    let sb = Sandbox::new();
    let (stored, files, decoded) = framed_tree();
    let pkg = package(
        &sb,
        "framed.psp",
        vec![tar_zst("tree", stored.clone(), decoded)],
    );
    let (offset, table) = frames_of(&pkg, 1);
    assert!(table.frames.len() >= 4, "{} frames", table.frames.len());
    let m = launch(&sb, &pkg);
    m.run.expect_code(0);
    assert_eq!(m.run.stdout, "ran\n");
    assert!(m.peak_kib <= RSS_LIMIT_KIB, "peak RSS {} KiB", m.peak_kib);
    let workenv = &sb.workenvs("framed")[0];
    for (name, bytes) in &files {
        assert!(fs::read(workenv.join(name)).unwrap() == *bytes, "{name}");
    }
    // A byte of the third frame flipped in a copy: refused as tampering, nothing published.
    let third: usize = table.frames[..2]
        .iter()
        .map(|f| f.compressed as usize)
        .sum();
    let copy = sb.pkg("flipped.psp");
    let mut bytes = fs::read(&pkg).unwrap();
    bytes[offset + third + 700] ^= 0x10;
    fs::write(&copy, bytes).unwrap();
    fs::set_permissions(&copy, fs::Permissions::from_mode(0o755)).unwrap();
    let m = launch(&sb, &copy);
    assert_refused(&sb, &copy, &m, 107, &["slot 1 (tree)", "FLAVOR_VALIDATION"]);
}

#[test]
fn a_signed_slot_whose_seek_table_lies_is_refused_on_threads() {
    let sb = Sandbox::new();
    let (mut stored, _, decoded) = framed_tree();
    let file = tempfile::NamedTempFile::new_in(sb.root()).unwrap();
    fs::write(file.path(), &stored).unwrap();
    let mut table = pspf::seekable::SeekTable::read_at(file.as_file(), 0, stored.len() as u64)
        .expect("a seek table");
    // Decoded sizes moved between two frames: every sum still adds up.
    let n = table.frames.len();
    table.frames[0].decoded -= 1000;
    table.frames[n - 1].decoded += 1000;
    stored.truncate(stored.len() - table.encoded_len() as usize);
    stored.extend(table.to_bytes());
    let pkg = package(&sb, "lying.psp", vec![tar_zst("tree", stored, decoded)]);
    let m = launch(&sb, &pkg);
    if std::thread::available_parallelism().map_or(1, |n| n.get()) > 1 {
        assert_refused(&sb, &pkg, &m, 102, &["slot 1 (tree)", "seek table"]);
    } else {
        // One CPU: the slot is decoded as one stream, where the table is a skippable frame.
        m.run.expect_code(0);
    }
}

//! zstd slots in independent frames with a seek table: the encoder's output does not depend on
//! its worker count and any zstd decoder reads it; the launcher's several-thread decoding
//! extracts exactly what one stream does, and refuses tampered and lying slots.

use crate::common::{SlotSource, build_package, sample_bytes, write_spec};
use pspf::encode::{Compression, compress};
use pspf::seekable::{FRAME_BYTES, FrameSize, SeekTable};
use pspf::{Codec, ErrorKind, Package, SlotInput};
use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

fn encode(input: &[u8], workers: u32) -> Vec<u8> {
    let mut out = Vec::new();
    let settings = Compression {
        level: None,
        workers,
    };
    compress(Codec::TarZst, input, &mut out, settings).unwrap();
    out
}

fn table_of(stored: &[u8]) -> Option<SeekTable> {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(stored).unwrap();
    SeekTable::read_at(f.as_file(), 0, stored.len() as u64)
}

/// A tar of `files` files of a few sizes (some spanning frames), ≈ 11 MiB for 60.
fn many_files_tar(files: usize) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for i in 0..files {
        let len = [0, 100, 5_000, 70_000, 900_000, 200_000][i % 6];
        let mut h = tar::Header::new_gnu();
        h.set_path(format!("lib/pkg{}/m{i}.py", i % 9)).unwrap();
        h.set_size(len as u64);
        h.set_mode([0o644, 0o755, 0o600][i % 3]);
        h.set_mtime(1_000 + i as u64);
        h.set_cksum();
        b.append(&h, &sample_bytes(len, i as u64)[..]).unwrap();
    }
    b.into_inner().unwrap()
}

/// Every path under `dir`: mode and contents.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (u32, Vec<u8>)> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let path = e.unwrap().path();
            let meta = fs::symlink_metadata(&path).unwrap();
            let rel = path.strip_prefix(dir).unwrap().to_path_buf();
            let mode = meta.permissions().mode() & 0o7777;
            if meta.is_dir() {
                todo.push(path);
                out.insert(rel, (mode, Vec::new()));
            } else {
                out.insert(rel, (mode, fs::read(&path).unwrap()));
            }
        }
    }
    out
}

#[test]
fn the_encoder_writes_the_same_frames_for_any_worker_count_and_zstd_reads_them() {
    let input = sample_bytes(3 * FRAME_BYTES + 12_345, 1);
    let one = encode(&input, 1);
    for workers in [2, 5] {
        assert!(encode(&input, workers) == one, "{workers} workers");
    }
    // An ordinary zstd decoder skips the table.
    assert!(zstd::stream::decode_all(&one[..]).unwrap() == input);
    let table = table_of(&one).expect("a seek table");
    let sizes: Vec<u32> = table.frames.iter().map(|f| f.decoded).collect();
    let full = FRAME_BYTES as u32;
    assert_eq!(sizes, [full, full, full, 12_345]);
    // Empty input: one empty frame, still a valid stream with a table.
    let empty = encode(&[], 3);
    assert!(zstd::stream::decode_all(&empty[..]).unwrap().is_empty());
    assert_eq!(table_of(&empty).unwrap().frames.len(), 1);
}

#[test]
fn a_framed_tar_slot_extracts_on_several_threads_exactly_as_one_stream() {
    let dir = tempfile::tempdir().unwrap();
    let tar = many_files_tar(60);
    let built = build_package(
        dir.path(),
        "framed",
        &[SlotSource::new("tree", Codec::TarZst, tar.clone())],
    );
    let pkg = Package::open(&built.path).unwrap();
    let frames = table_of(&fs::read(&built.slots[0].stored).unwrap())
        .unwrap()
        .frames
        .len();
    assert!(frames >= 4, "{frames} frames");
    // Files of every kind meet a frame boundary: small ones (copied across it), large ones
    // (written from both frames).
    let mut archive = tar::Archive::new(&tar[..]);
    let straddling: Vec<u64> = archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap())
        .map(|e| (e.raw_file_position(), e.size()))
        .filter(|(at, len)| at / FRAME_BYTES as u64 != (at + len) / FRAME_BYTES as u64)
        .map(|(_, len)| len)
        .collect();
    assert!(straddling.contains(&900_000), "{straddling:?}");
    assert!(
        straddling.iter().any(|&len| len < 256 * 1024),
        "{straddling:?}"
    );
    let reference = dir.path().join("reference");
    fs::create_dir(&reference).unwrap();
    pspf::extract::unpack_tar(&tar[..], &reference).unwrap();
    let expected = snapshot(&reference);
    assert_eq!(expected.len(), 60 + 9 + 1);
    for threads in [0, 1, 2, 4] {
        let dest = dir.path().join(format!("t{threads}"));
        pkg.extract_slot_using(0, &dest, true, threads).unwrap();
        assert!(snapshot(&dest) == expected, "{threads} threads");
    }
}

/// A package whose one tar.zst slot is stored as `stored` (signed as it is).
fn signed_slot(dir: &Path, name: &str, stored: &[u8], decoded_size: u64) -> Package {
    let path = dir.join(format!("{name}.stored"));
    fs::write(&path, stored).unwrap();
    let slot = SlotInput {
        id: "tree".into(),
        source: "tree".into(),
        target: "{workenv}".into(),
        codec: Codec::TarZst,
        stored: path,
        stored_sha256: None,
        decoded_size,
        purpose: pspf::Purpose::Payload,
        lifecycle: pspf::Lifecycle::Runtime,
        permissions: 0o755,
    };
    let out = dir.join(format!("{name}.psp"));
    write_spec(&out, name, vec![slot]);
    Package::open(&out).unwrap()
}

/// `input` as zstd frames of the given decoded sizes (then of [`FRAME_BYTES`]) and a
/// seek table: what another seekable-zstd writer might produce.
fn frames_of(input: &[u8], sizes: &[usize]) -> Vec<u8> {
    let (mut out, mut frames, mut rest) = (Vec::new(), Vec::new(), input);
    for size in sizes.iter().copied().chain(std::iter::repeat(FRAME_BYTES)) {
        let (frame, after) = rest.split_at(size.min(rest.len()));
        let stored = zstd::bulk::compress(frame, 3).unwrap();
        frames.push(FrameSize {
            compressed: stored.len() as u32,
            decoded: frame.len() as u32,
        });
        out.extend(stored);
        rest = after;
        if rest.is_empty() {
            break;
        }
    }
    out.extend(SeekTable { frames }.to_bytes());
    out
}

#[test]
fn frames_of_any_size_extract_exactly_and_small_ones_never_stall_the_writers() {
    // Files straddle frames, and frames smaller than a writers' batch come one after another
    // (their bytes are copied: shared, dozens of them would pin every frame buffer while the
    // reader waits for the next frame).
    let dir = tempfile::tempdir().unwrap();
    let tar = many_files_tar(40);
    let mut sizes = vec![1_000; 300];
    sizes.extend([3 * 1024 * 1024 / 2, 4_096, 300_000, 700_001, 1_000_000]);
    sizes.extend(vec![7_777; 100]);
    let stored = frames_of(&tar, &sizes);
    assert!(table_of(&stored).unwrap().frames.len() > 400);
    let pkg = signed_slot(dir.path(), "small-frames", &stored, tar.len() as u64);
    let reference = dir.path().join("reference");
    fs::create_dir(&reference).unwrap();
    pspf::extract::unpack_tar(&tar[..], &reference).unwrap();
    let expected = snapshot(&reference);
    let (done, finished) = std::sync::mpsc::channel();
    let out = dir.path().to_path_buf();
    std::thread::spawn(move || {
        for threads in [1, 2] {
            let dest = out.join(format!("t{threads}"));
            pkg.extract_slot_using(0, &dest, true, threads).unwrap();
            done.send(snapshot(&dest)).unwrap();
        }
    });
    for threads in [1, 2] {
        let got = finished
            .recv_timeout(std::time::Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("{threads} threads: no result in 60 s ({e})"));
        assert!(got == expected, "{threads} threads");
    }
}

#[test]
fn a_flipped_byte_in_any_frame_or_in_the_table_fails_as_tampered() {
    let dir = tempfile::tempdir().unwrap();
    let tar = many_files_tar(40);
    let built = build_package(
        dir.path(),
        "tampered",
        &[SlotSource::new("tree", Codec::TarZst, tar)],
    );
    let clean = fs::read(&built.path).unwrap();
    let offset = Package::open(&built.path).unwrap().descriptors()[0].offset as usize;
    let stored = fs::read(&built.slots[0].stored).unwrap();
    let table = table_of(&stored).unwrap();
    let third = offset
        + table.frames[..2]
            .iter()
            .map(|f| f.compressed as usize)
            .sum::<usize>();
    let end = offset + stored.len();
    // Inside the first frame, the third one, a table entry, the footer's frame count.
    for at in [offset + 100, third + 5_000, end - 9 - 8 - 4, end - 9] {
        let mut bytes = clean.clone();
        bytes[at] ^= 0x20;
        let path = dir.path().join("flipped.psp");
        fs::write(&path, &bytes).unwrap();
        let pkg = Package::open(&path).unwrap();
        for threads in [0, 2] {
            let dest = dir.path().join(format!("out-{at}-{threads}"));
            let err = pkg.extract_slot_using(0, &dest, true, threads).unwrap_err();
            assert!(
                err.kind().is_integrity(),
                "byte {at}, {threads} threads: {err}"
            );
        }
    }
}

#[test]
fn a_signed_slot_whose_table_lies_is_refused_not_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let tar = many_files_tar(40);
    let mut stored = encode(&tar, 2);
    let mut table = table_of(&stored).unwrap();
    let n = table.frames.len();
    assert!(n >= 3 && table.frames[n - 1].decoded < table.frames[0].decoded);
    // Same total, same stored sizes, wrong decoded sizes: the sums still add up.
    let moved = 1000;
    table.frames[0].decoded -= moved;
    table.frames[n - 1].decoded += moved;
    let len = stored.len() - table.encoded_len() as usize;
    stored.truncate(len);
    stored.extend(table.to_bytes());
    let pkg = signed_slot(dir.path(), "lying", &stored, tar.len() as u64);
    // As one stream the table is a skippable frame like any other, and the slot is fine.
    pkg.extract_slot_using(0, &dir.path().join("one"), true, 0)
        .unwrap();
    for threads in [1, 2] {
        let dest = dir.path().join(format!("out{threads}"));
        let err = pkg.extract_slot_using(0, &dest, true, threads).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Malformed, "{threads} threads: {err}");
        assert!(err.to_string().contains("seek table says"), "{err}");
    }
}

#[test]
fn a_framed_file_slot_is_written_whole_on_several_threads() {
    let dir = tempfile::tempdir().unwrap();
    let blob = sample_bytes(2 * FRAME_BYTES + 777, 3);
    let built = build_package(
        dir.path(),
        "file",
        &[SlotSource::new("blob", Codec::Zstd, blob.clone())],
    );
    let pkg = Package::open(&built.path).unwrap();
    for threads in [0, 2] {
        let dest = dir.path().join(format!("t{threads}"));
        let written = pkg.extract_slot_using(0, &dest, true, threads).unwrap();
        assert_eq!(written, dest.join("bin/blob"));
        assert!(fs::read(&written).unwrap() == blob, "{threads} threads");
        let mode = fs::metadata(&written).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o755);
    }
}

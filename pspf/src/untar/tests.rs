//! Tests of the unpacker: safety against links and replaced paths, and the same result
//! whatever the number of writer threads.

use super::*;
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;

/// Writer threads every test runs with: none (all on the calling thread), one, several.
const THREADS: [usize; 3] = [0, 1, 3];

fn header(name: &str, kind: tar::EntryType, size: u64, link: Option<&str>) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_path(name).unwrap();
    h.set_entry_type(kind);
    h.set_mode(if kind.is_dir() { 0o755 } else { 0o644 });
    h.set_size(size);
    if let Some(l) = link {
        h.set_link_name(l).unwrap();
    }
    h.set_cksum();
    h
}

fn unpack(dest: &Path, threads: usize, bytes: &[u8]) -> Result<u64> {
    Unpacker::with_writers(dest, threads)?.unpack(&mut crate::pieces::Plain(bytes))
}

#[test]
fn a_directory_replaced_by_an_outward_link_is_not_written_through() {
    for threads in THREADS {
        let root = tempfile::tempdir().unwrap();
        let (dest, outside) = (root.path().join("dest"), root.path().join("outside"));
        fs::create_dir(&dest).unwrap();
        fs::create_dir(&outside).unwrap();
        let mut b = tar::Builder::new(Vec::new());
        b.append(&header("a/", tar::EntryType::Directory, 0, None), &[][..])
            .unwrap();
        b.append(
            &header("a/one", tar::EntryType::Regular, 1, None),
            &b"1"[..],
        )
        .unwrap();
        let out = outside.to_str().unwrap();
        b.append(&header("a", tar::EntryType::Symlink, 0, Some(out)), &[][..])
            .unwrap();
        b.append(
            &header("a/two", tar::EntryType::Regular, 1, None),
            &b"2"[..],
        )
        .unwrap();
        let bytes = b.into_inner().unwrap();
        let err = unpack(&dest, threads, &bytes).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::UnsafePath, "{err}");
        assert_eq!(fs::read_dir(&outside).unwrap().count(), 0);
    }
}

/// Regression (found while writing the `tar_slot` fuzz target, whose checks flag it): `b`
/// was remembered as a safe directory through the link `b -> a`, then `a` was replaced by
/// an outward link, and `b/pwned` was written outside through the stale entry.
#[test]
fn a_remembered_directory_reached_through_a_replaced_link_is_checked_again() {
    for threads in THREADS {
        let root = tempfile::tempdir().unwrap();
        let dest = root.path().join("dest");
        fs::create_dir(&dest).unwrap();
        let mut b = tar::Builder::new(Vec::new());
        b.append(&header("a/", tar::EntryType::Directory, 0, None), &[][..])
            .unwrap();
        b.append(&header("b", tar::EntryType::Symlink, 0, Some("a")), &[][..])
            .unwrap();
        b.append(&header("b/x", tar::EntryType::Regular, 1, None), &b"x"[..])
            .unwrap();
        b.append(
            &header("a", tar::EntryType::Symlink, 0, Some("..")),
            &[][..],
        )
        .unwrap();
        b.append(
            &header("b/pwned", tar::EntryType::Regular, 1, None),
            &b"p"[..],
        )
        .unwrap();
        let bytes = b.into_inner().unwrap();
        let err = unpack(&dest, threads, &bytes).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::UnsafePath, "{err}");
        assert!(!root.path().join("pwned").exists());
    }
}

/// Regression (same origin): the mode of directory `a/` was applied at the end through the
/// link `a -> ..` that had replaced it, changing the mode of the directory around `dest`.
#[test]
fn a_directory_mode_is_not_applied_through_a_link_that_replaced_it() {
    for threads in THREADS {
        let root = tempfile::tempdir().unwrap();
        let dest = root.path().join("dest");
        fs::create_dir(&dest).unwrap();
        fs::set_permissions(root.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let mut b = tar::Builder::new(Vec::new());
        let mut dir = header("a/", tar::EntryType::Directory, 0, None);
        dir.set_mode(0o700);
        dir.set_cksum();
        b.append(&dir, &[][..]).unwrap();
        b.append(
            &header("a", tar::EntryType::Symlink, 0, Some("..")),
            &[][..],
        )
        .unwrap();
        let bytes = b.into_inner().unwrap();
        unpack(&dest, threads, &bytes).unwrap();
        let mode = fs::metadata(root.path()).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o755);
    }
}

#[test]
fn modes_links_and_read_only_directories_unpack() {
    for threads in THREADS {
        let root = tempfile::tempdir().unwrap();
        let mut b = tar::Builder::new(Vec::new());
        let mut ro = header("ro/", tar::EntryType::Directory, 0, None);
        ro.set_mode(0o555);
        ro.set_cksum();
        b.append(&ro, &[][..]).unwrap();
        let mut exe = header("ro/run", tar::EntryType::Regular, 3, None);
        exe.set_mode(0o755);
        exe.set_cksum();
        b.append(&exe, &b"abc"[..]).unwrap();
        b.append(
            &header("ln", tar::EntryType::Symlink, 0, Some("ro/run")),
            &[][..],
        )
        .unwrap();
        b.append(
            &header("hard", tar::EntryType::Link, 0, Some("ro/run")),
            &[][..],
        )
        .unwrap();
        let bytes = b.into_inner().unwrap();
        assert_eq!(unpack(root.path(), threads, &bytes).unwrap(), 4);
        let run = root.path().join("ro/run");
        assert_eq!(
            fs::metadata(&run).unwrap().permissions().mode() & 0o777,
            0o755
        );
        assert_eq!(
            fs::metadata(root.path().join("ro"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o555
        );
        assert_eq!(fs::read(root.path().join("ln")).unwrap(), b"abc");
        assert_eq!(fs::read(root.path().join("hard")).unwrap(), b"abc");
        fs::set_permissions(root.path().join("ro"), fs::Permissions::from_mode(0o755)).unwrap();
    }
}

/// Everything under `dir`: kind, mode, mtime and contents (or link target) of each path.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (String, u32, i64, Vec<u8>)> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, (String, u32, i64, Vec<u8>)>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = fs::symlink_metadata(&path).unwrap();
            let rel = path.strip_prefix(root).unwrap().to_path_buf();
            let mode = meta.mode() & 0o7777;
            if meta.is_dir() {
                out.insert(rel, ("dir".into(), mode, 0, Vec::new()));
                walk(root, &path, out);
            } else if meta.file_type().is_symlink() {
                let target = fs::read_link(&path).unwrap();
                let bytes = target.into_os_string().into_encoded_bytes();
                out.insert(rel, ("link".into(), 0, 0, bytes));
            } else {
                let bytes = fs::read(&path).unwrap();
                out.insert(rel, ("file".into(), mode, meta.mtime(), bytes));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Deterministic bytes, different for every `seed`.
fn bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn file(b: &mut tar::Builder<Vec<u8>>, name: &str, data: &[u8], mode: u32, mtime: u64) {
    let mut h = header(name, tar::EntryType::Regular, data.len() as u64, None);
    h.set_mode(mode);
    h.set_mtime(mtime);
    h.set_cksum();
    b.append(&h, data).unwrap();
}

/// An archive with what a packaged app has (many small files, empty ones, files several
/// buffers long, nested directories, links, odd modes) and what only a strange one has
/// (paths used twice, a file replaced by a directory and the other way round).
fn mixed_archive() -> Vec<u8> {
    use crate::writers::CHUNK;
    let mut b = tar::Builder::new(Vec::new());
    b.append(&header("app/", tar::EntryType::Directory, 0, None), &[][..])
        .unwrap();
    for i in 0..300u64 {
        let dir = format!("app/pkg{}/sub{}", i % 7, i % 3);
        let len = match i % 5 {
            0 => 0,
            1 => 1,
            2 => 700,
            3 => 9_000,
            _ => 40_000,
        };
        let mode = [0o644, 0o755, 0o600, 0o444, 0o664][(i % 5) as usize];
        file(
            &mut b,
            &format!("{dir}/f{i}.py"),
            &bytes(len, i),
            mode,
            1_000 + i,
        );
    }
    // Exactly one buffer, one byte more, several buffers and a bit.
    for (i, len) in [CHUNK, CHUNK + 1, 3 * CHUNK + 123, 5 * CHUNK]
        .into_iter()
        .enumerate()
    {
        file(
            &mut b,
            &format!("app/big{i}.bin"),
            &bytes(len, 900 + i as u64),
            0o755,
            7,
        );
    }
    b.append(
        &header("app/lib.so", tar::EntryType::Symlink, 0, Some("big0.bin")),
        &[][..],
    )
    .unwrap();
    // Used twice: the last one wins, whatever was queued before it.
    file(&mut b, "app/pkg1/sub1/f1.py", b"second version", 0o640, 99);
    file(&mut b, "app/big2.bin", &bytes(2 * CHUNK, 5), 0o700, 98);
    // A file replaced by a directory (with contents), a directory replaced by a file.
    b.append(
        &header("app/big3.bin/", tar::EntryType::Directory, 0, None),
        &[][..],
    )
    .unwrap();
    file(&mut b, "app/big3.bin/inside", b"in", 0o644, 3);
    file(&mut b, "app/pkg2", b"no longer a directory", 0o644, 4);
    file(&mut b, "app/zz/last", &bytes(CHUNK / 2, 77), 0o644, 5);
    b.into_inner().unwrap()
}

#[test]
fn writer_threads_unpack_exactly_what_the_calling_thread_does() {
    let archive = mixed_archive();
    let base = tempfile::tempdir().unwrap();
    let mut snapshots = Vec::new();
    for threads in THREADS {
        let dest = base.path().join(format!("t{threads}"));
        fs::create_dir(&dest).unwrap();
        unpack(&dest, threads, &archive).unwrap();
        snapshots.push(snapshot(&dest));
    }
    let first = &snapshots[0];
    let file = |rel: &str| &first[Path::new(rel)];
    assert_eq!(file("app/pkg1/sub1/f1.py").3, b"second version");
    assert_eq!(file("app/pkg1/sub1/f1.py").1, 0o640);
    assert_eq!(file("app/big2.bin").3, bytes(2 * crate::writers::CHUNK, 5));
    assert_eq!(file("app/big3.bin").0, "dir");
    assert_eq!(file("app/big3.bin/inside").3, b"in");
    assert_eq!(file("app/pkg2").0, "file");
    assert_eq!(file("app/pkg3/sub0/f3.py").2, 1_003);
    assert_eq!(file("app/pkg3/sub0/f3.py").3, bytes(9_000, 3));
    assert_eq!(file("app/lib.so").3, b"big0.bin");
    for (threads, other) in THREADS.iter().zip(&snapshots).skip(1) {
        assert_eq!(other.len(), first.len(), "{threads} writer threads");
        for (path, entry) in first {
            assert_eq!(other.get(path), Some(entry), "{threads} threads: {path:?}");
        }
    }
}

/// A second archive into the same directory (another slot into the same workenv): what is
/// there is checked on disk, replaced where the archive says so, kept elsewhere.
#[test]
fn a_second_archive_replaces_and_keeps_what_the_first_left() {
    for threads in THREADS {
        let dest = tempfile::tempdir().unwrap();
        let mut b = tar::Builder::new(Vec::new());
        file(&mut b, "lib/a.txt", b"first a", 0o644, 1);
        file(&mut b, "lib/b.txt", b"first b", 0o644, 1);
        unpack(dest.path(), threads, &b.into_inner().unwrap()).unwrap();
        let mut b = tar::Builder::new(Vec::new());
        file(&mut b, "lib/a.txt", b"second a", 0o600, 2);
        file(&mut b, "lib/new/c.txt", b"c", 0o644, 2);
        file(&mut b, "top.txt", b"top", 0o644, 2);
        unpack(dest.path(), threads, &b.into_inner().unwrap()).unwrap();
        let snap = snapshot(dest.path());
        assert_eq!(snap[Path::new("lib/a.txt")].3, b"second a");
        assert_eq!(snap[Path::new("lib/a.txt")].1, 0o600);
        assert_eq!(snap[Path::new("lib/b.txt")].3, b"first b");
        assert_eq!(snap[Path::new("lib/new/c.txt")].3, b"c");
        assert_eq!(snap[Path::new("top.txt")].3, b"top");
    }
}

/// A stream that ends inside a file queued for a writer is refused as a short member, and
/// when the unpacker returns nothing is being written any more.
#[test]
fn a_truncated_archive_is_refused_and_the_writers_stop() {
    for threads in THREADS {
        let dest = tempfile::tempdir().unwrap();
        let mut b = tar::Builder::new(Vec::new());
        for i in 0..50 {
            file(&mut b, &format!("d/f{i}"), &bytes(5_000, i), 0o644, 1);
        }
        file(
            &mut b,
            "d/big",
            &bytes(4 * crate::writers::CHUNK, 9),
            0o644,
            1,
        );
        let archive = b.into_inner().unwrap();
        let cut = &archive[..archive.len() - 1024 - 3 * crate::writers::CHUNK];
        let err = unpack(dest.path(), threads, cut).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Archive, "{err}");
        assert!(err.to_string().contains("ends inside"), "{err}");
        let before = snapshot(dest.path());
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert_eq!(
            snapshot(dest.path()),
            before,
            "still writing after the error"
        );
    }
}

/// A directory whose archive mode is what `mkdir` gives is left alone at the end (no `chmod`);
/// where `mkdir` gives something else — here the set-group-ID bit inherited from the
/// destination — every directory still ends with exactly its archive mode.
#[test]
fn directory_modes_are_exact_whatever_mkdir_gives() {
    for setgid in [false, true] {
        let root = tempfile::tempdir().unwrap();
        let dest = root.path().join("dest");
        fs::create_dir(&dest).unwrap();
        let dest_mode = if setgid { 0o2755 } else { 0o755 };
        fs::set_permissions(&dest, fs::Permissions::from_mode(dest_mode)).unwrap();
        let mut b = tar::Builder::new(Vec::new());
        for (name, mode) in [
            ("a/", 0o755),
            ("a/b/", 0o755),
            ("c/", 0o700),
            ("a/b/d/", 0o755),
        ] {
            let mut h = header(name, tar::EntryType::Directory, 0, None);
            h.set_mode(mode);
            h.set_cksum();
            b.append(&h, &[][..]).unwrap();
        }
        let bytes = b.into_inner().unwrap();
        let umask = current_umask().unwrap_or(0o022);
        unpack(&dest, 0, &bytes).unwrap();
        for (rel, mode) in [("a", 0o755), ("a/b", 0o755), ("c", 0o700), ("a/b/d", 0o755)] {
            let got = fs::metadata(dest.join(rel)).unwrap().permissions().mode() & 0o7777;
            assert_eq!(
                got, mode,
                "{rel} (set-group-ID destination: {setgid}, umask {umask:o})"
            );
        }
    }
}

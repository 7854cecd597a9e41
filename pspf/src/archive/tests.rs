//! Tests of the bounded tar reader.

use super::*;

/// A ustar header of `kind` declaring `size` bytes.
fn header(name: &str, kind: tar::EntryType, size: u64) -> Vec<u8> {
    let mut h = tar::Header::new_ustar();
    h.set_path(name).unwrap();
    h.set_entry_type(kind);
    h.set_mode(0o644);
    h.set_size(size);
    h.set_mtime(1);
    h.set_cksum();
    h.as_bytes().to_vec()
}

fn padded(data: &[u8]) -> Vec<u8> {
    let mut v = data.to_vec();
    v.resize(data.len().div_ceil(512) * 512, 0);
    v
}

fn pax(records: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, v) in records {
        let body = format!(" {k}={v}\n");
        let mut len = body.len() + 1;
        while format!("{len}{body}").len() != len {
            len += 1;
        }
        out.extend(format!("{len}{body}").bytes());
    }
    out
}

fn members(archive: &[u8]) -> Result<Vec<(PathBuf, Option<PathBuf>, u64)>> {
    let mut out = Vec::new();
    for_each_member(archive, |m, data| {
        let mut v = Vec::new();
        data.read_to_end(&mut v)?;
        out.push((m.path.clone(), m.link.clone(), m.mtime));
        Ok(())
    })?;
    Ok(out)
}

fn archive(parts: &[Vec<u8>]) -> Vec<u8> {
    let mut out: Vec<u8> = parts.concat();
    out.extend([0u8; 1024]);
    out
}

#[test]
fn long_names_links_and_pax_records_are_applied() {
    let long = "d/".repeat(150) + "file";
    let mut link = tar::Header::new_ustar();
    link.set_path("ln").unwrap();
    link.set_entry_type(tar::EntryType::Symlink);
    link.set_link_name("old").unwrap();
    link.set_size(0);
    link.set_mtime(1);
    link.set_cksum();
    let x = pax(&[
        ("path", "pax/name"),
        ("mtime", "1700000000.5"),
        ("uid", "7"),
    ]);
    let bytes = archive(&[
        header(
            "././@LongLink",
            tar::EntryType::GNULongName,
            long.len() as u64 + 1,
        ),
        padded(format!("{long}\0").as_bytes()),
        header("short", tar::EntryType::Regular, 2),
        padded(b"hi"),
        header("././@LongLink", tar::EntryType::GNULongLink, 9),
        padded(b"new/link\0"),
        link.as_bytes().to_vec(),
        header("pax", tar::EntryType::XHeader, x.len() as u64),
        padded(&x),
        header("ustar-name", tar::EntryType::Regular, 0),
    ]);
    let got = members(&bytes).unwrap();
    assert_eq!(got[0].0, PathBuf::from(&long));
    assert_eq!(
        got[1],
        (PathBuf::from("ln"), Some(PathBuf::from("new/link")), 1)
    );
    assert_eq!(got[2], (PathBuf::from("pax/name"), None, 1_700_000_000));
}

#[test]
fn oversized_extension_headers_are_refused_before_they_are_read() {
    // The declared sizes are huge, the data is absent: refusing must not need it.
    for (kind, size, says) in [
        (
            tar::EntryType::GNULongName,
            MAX_PATH + 1,
            "GNU long name header declares 4097",
        ),
        (tar::EntryType::GNULongLink, 1 << 40, "GNU long link header"),
        (
            tar::EntryType::XHeader,
            MAX_PAX_HEADER + 1,
            "PAX extended header declares 65537",
        ),
        (tar::EntryType::XGlobalHeader, 1 << 30, "PAX global header"),
    ] {
        let err = members(&header("x", kind, size)).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Archive, "{err}");
        assert!(err.to_string().contains(says), "{err}");
    }
}

#[test]
fn ambiguous_and_unsupported_members_are_refused() {
    let big_path = pax(&[("path", &"p".repeat(MAX_PATH as usize))]);
    let size = pax(&[("size", "99")]);
    let sparse = pax(&[("GNU.sparse.major", "1")]);
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            archive(&[
                header("x", tar::EntryType::XHeader, big_path.len() as u64),
                padded(&big_path),
                header("f", tar::EntryType::Regular, 0),
            ]),
            "PATH_MAX",
        ),
        (
            archive(&[
                header("x", tar::EntryType::XHeader, size.len() as u64),
                padded(&size),
                header("f", tar::EntryType::Regular, 0),
            ]),
            "PAX size record (99)",
        ),
        (
            archive(&[
                header("x", tar::EntryType::XHeader, sparse.len() as u64),
                padded(&sparse),
                header("f", tar::EntryType::Regular, 0),
            ]),
            "sparse",
        ),
        (
            archive(&[header("s", tar::EntryType::GNUSparse, 0)]),
            "sparse",
        ),
        (
            archive(&[
                header("L", tar::EntryType::GNULongName, 2),
                padded(b"a\0"),
                header("L", tar::EntryType::GNULongName, 2),
                padded(b"b\0"),
            ]),
            "two GNU long name headers",
        ),
        (
            archive(&[
                header("L", tar::EntryType::GNULongName, 4),
                padded(b"a\0b\0"),
            ]),
            "describes no member",
        ),
        (
            archive(&[
                header("L", tar::EntryType::GNULongName, 4),
                padded(b"a\0b\0"),
                header("f", tar::EntryType::Regular, 0),
            ]),
            "NUL",
        ),
        (
            [header("f", tar::EntryType::Regular, 5000), vec![1u8; 512]].concat(),
            "ends inside this member",
        ),
        (
            archive(&[
                header("x", tar::EntryType::XHeader, 11),
                padded(b"99 path=ab\n"),
            ]),
            "malformed PAX record",
        ),
    ];
    for (bytes, says) in cases {
        let err = members(&bytes).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Archive, "{err}");
        assert!(err.to_string().contains(says), "{says:?} not in {err}");
    }
    let mut bad = header("f", tar::EntryType::Regular, 0);
    bad[0] ^= 1;
    let err = members(&archive(&[bad])).unwrap_err();
    assert_eq!(err.kind(), crate::ErrorKind::Archive, "{err}");
    assert!(err.to_string().contains("checksum"), "{err}");
}

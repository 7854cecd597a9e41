//! Reading a tar stream member by member, with every header bounded before it is read.
//!
//! The `tar` crate reads a GNU long name, long link or PAX extended header into memory whole,
//! however large its header says it is: a slot of a few dozen kilobytes that decodes to a
//! 1 GiB long name costs gigabytes before anything can refuse it. Here the `tar` crate only
//! splits the stream into raw headers; the extension headers are applied by hand, and each is
//! refused on its declared size, before a byte of it is read: a long name or link over
//! [`MAX_PATH`] (Linux `PATH_MAX`), a PAX header over [`MAX_PAX_HEADER`]. Anything this
//! reader would interpret differently from other tar readers is refused rather than guessed:
//! GNU sparse members, a PAX `size` that differs from the header's, a member named both by a
//! long name and a PAX `path`, a NUL inside a name, extension headers describing no member.

use crate::error::{Error, Result};
use std::ffi::OsStr;
use std::fmt::Write as _;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// Longest path (or link target) a member may name, in bytes: Linux `PATH_MAX`, whose 4096
/// include the terminating NUL that GNU tar writes after a long name.
pub const MAX_PATH: u64 = 4096;

/// Largest PAX extended header (every record of one `x` or `g` member together). Real ones
/// hold a path, a link target, times and a few extended attributes: a few hundred bytes.
pub const MAX_PAX_HEADER: u64 = 64 * 1024;

/// One archive member with its long name, long link and PAX records applied.
#[derive(Debug)]
pub struct Member {
    /// 1-based position in the archive, extension headers included.
    pub number: u64,
    /// The member's path as recorded (long name, PAX `path` or header), not yet checked
    /// for `..` or absolute components.
    pub path: PathBuf,
    /// The link target of a symbolic or hard link.
    pub link: Option<PathBuf>,
    /// The header's type flag.
    pub kind: tar::EntryType,
    /// Permission bits from the header (0o644 when unreadable).
    pub mode: u32,
    /// Modification time in seconds (a PAX `mtime` wins over the header's).
    pub mtime: u64,
    /// Bytes of data that follow the header.
    pub size: u64,
}

impl Member {
    /// How messages name this member: `#3 (bin/app)`.
    pub fn label(&self) -> String {
        format!("#{} ({})", self.number, self.path.display())
    }
}

fn refuse(member: impl Into<String>, reason: impl Into<String>) -> Error {
    Error::Archive {
        member: member.into(),
        reason: reason.into(),
    }
}

/// An error out of the `tar` crate or the stream under it: one of this crate's errors (an
/// integrity failure found by a verifying reader) or an OS error stays what it is; anything
/// else is the `tar` crate refusing the bytes, a format error.
fn from_tar(e: io::Error, member: &str) -> Error {
    if e.raw_os_error().is_some() {
        return Error::Io(e);
    }
    match Error::from_io(e) {
        Error::Io(e) => refuse(member, format!("malformed tar stream: {e}")),
        inner => inner,
    }
}

/// Extension data waiting for the member it describes.
#[derive(Default)]
struct Pending {
    long_name: Option<Vec<u8>>,
    long_link: Option<Vec<u8>>,
    pax_path: Option<Vec<u8>>,
    pax_link: Option<Vec<u8>>,
    pax_size: Option<u64>,
    pax_mtime: Option<u64>,
    pax: bool,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.long_name.is_none() && self.long_link.is_none() && !self.pax
    }

    /// Apply one PAX extended header's records (POSIX `"<len> <key>=<value>\n"`).
    fn apply_pax(&mut self, data: &[u8], at: &str) -> Result<()> {
        if self.pax {
            return Err(refuse(
                at,
                "two PAX extended headers describe the same member",
            ));
        }
        self.pax = true;
        for (key, value) in pax_records(data).map_err(|why| refuse(at, why))? {
            let path_value = |what: &str| -> Result<Option<Vec<u8>>> {
                if value.len() as u64 >= MAX_PATH {
                    return Err(refuse(
                        at,
                        format!(
                            "the PAX {what} record is {} bytes; a path is at most {MAX_PATH} bytes (PATH_MAX)",
                            value.len()
                        ),
                    ));
                }
                Ok((!value.is_empty()).then(|| value.to_vec()))
            };
            match key {
                b"path" => self.pax_path = path_value("path")?,
                b"linkpath" => self.pax_link = path_value("linkpath")?,
                b"size" => self.pax_size = Some(pax_number(value, "size", at)?),
                b"mtime" => {
                    // Seconds, possibly with a fraction; a negative time becomes 0.
                    let whole = value.split(|&b| b == b'.').next().unwrap_or_default();
                    self.pax_mtime = Some(if whole.starts_with(b"-") {
                        0
                    } else {
                        pax_number(whole, "mtime", at)?
                    });
                }
                k if k.starts_with(b"GNU.sparse.") => {
                    return Err(refuse(
                        at,
                        "GNU sparse members are not allowed in a package",
                    ));
                }
                // Owners, other times, extended attributes, comments: nothing a package uses.
                _ => {}
            }
        }
        Ok(())
    }

    /// The member described by `header` and the extension data before it.
    fn member(self, header: &tar::Header, number: u64, at: &str) -> Result<Member> {
        let path = match (self.long_name, self.pax_path) {
            (Some(_), Some(_)) => {
                return Err(refuse(
                    at,
                    "named both by a GNU long name and a PAX path record",
                ));
            }
            (Some(name), None) | (None, Some(name)) => name,
            (None, None) => header.path_bytes().into_owned(),
        };
        let link = match (self.long_link, self.pax_link) {
            (Some(_), Some(_)) => {
                return Err(refuse(
                    at,
                    "its link is named both by a GNU long link and a PAX linkpath record",
                ));
            }
            (Some(link), None) | (None, Some(link)) => Some(link),
            (None, None) => header.link_name_bytes().map(|l| l.into_owned()),
        };
        let size = header
            .entry_size()
            .map_err(|e| refuse(at, format!("unreadable size field: {e}")))?;
        if let Some(pax_size) = self.pax_size.filter(|s| *s != size) {
            return Err(refuse(
                at,
                format!(
                    "a PAX size record ({pax_size}) overrides the header's size ({size}); members that need one (over 8 GiB) are not supported"
                ),
            ));
        }
        for name in std::iter::once(&path).chain(link.as_ref()) {
            if name.contains(&0) {
                return Err(refuse(at, "a name contains a NUL byte"));
            }
        }
        Ok(Member {
            number,
            path: PathBuf::from(OsStr::from_bytes(&path)),
            link: link.map(|l| PathBuf::from(OsStr::from_bytes(&l))),
            kind: header.entry_type(),
            mode: header.mode().unwrap_or(0o644) & 0o7777,
            mtime: self
                .pax_mtime
                .unwrap_or_else(|| header.mtime().unwrap_or(0)),
            size,
        })
    }
}

/// One PAX record: key and value.
type PaxRecord<'a> = (&'a [u8], &'a [u8]);

/// The records of a PAX extended header.
fn pax_records(mut data: &[u8]) -> std::result::Result<Vec<PaxRecord<'_>>, String> {
    let mut out = Vec::new();
    // Some writers pad the header's data with NULs.
    while !data.is_empty() && data[0] != 0 {
        let bad = || "malformed PAX record".to_string();
        let space = data.iter().position(|&b| b == b' ').ok_or_else(bad)?;
        let len: usize = std::str::from_utf8(&data[..space])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(bad)?;
        if len <= space + 1 || len > data.len() || data[len - 1] != b'\n' {
            return Err(bad());
        }
        let record = &data[space + 1..len - 1];
        let eq = record.iter().position(|&b| b == b'=').ok_or_else(bad)?;
        out.push((&record[..eq], &record[eq + 1..]));
        data = &data[len..];
    }
    Ok(out)
}

fn pax_number(value: &[u8], what: &str, at: &str) -> Result<u64> {
    std::str::from_utf8(value)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| refuse(at, format!("the PAX {what} record is not a number")))
}

/// Read an extension header's data after checking its declared size against `limit`.
fn read_bounded(
    entry: &mut impl Read,
    declared: u64,
    limit: u64,
    what: &str,
    at: &str,
) -> Result<Vec<u8>> {
    if declared > limit {
        let bound = if limit == MAX_PATH {
            format!("but a path is at most {MAX_PATH} bytes (PATH_MAX)")
        } else {
            format!("more than the {limit} a reader accepts")
        };
        return Err(refuse(
            at,
            format!("a {what} header declares {declared} bytes, {bound}"),
        ));
    }
    let mut data = Vec::with_capacity(declared as usize);
    entry
        .take(limit)
        .read_to_end(&mut data)
        .map_err(|e| from_tar(e, at))?;
    Ok(data)
}

/// Walk the tar stream `reader`, calling `visit` with each member and a reader of its data
/// (which `visit` may leave unread), then read the stream to its end, so a verifying reader
/// underneath gets to check its digest. Returns the number of members.
pub fn for_each_member<R: Read>(
    reader: R,
    mut visit: impl FnMut(&Member, &mut dyn Read) -> Result<()>,
) -> Result<u64> {
    let mut archive = tar::Archive::new(Forward::new(reader));
    let mut entries = archive
        .entries_with_seek()
        .map_err(|e| from_tar(e, "#1"))?
        .raw(true);
    let mut pending = Pending::default();
    let (mut number, mut count) = (0u64, 0u64);
    let mut at = String::new();
    loop {
        at.clear();
        write!(at, "#{}", number + 1).expect("writing to a String");
        let Some(entry) = entries.next() else { break };
        let mut entry = entry.map_err(|e| from_tar(e, &at))?;
        number += 1;
        let kind = entry.header().entry_type();
        let declared = entry.size();
        match kind {
            tar::EntryType::GNULongName | tar::EntryType::GNULongLink => {
                let long_name = kind == tar::EntryType::GNULongName;
                let what = if long_name {
                    "GNU long name"
                } else {
                    "GNU long link"
                };
                let mut data = read_bounded(&mut entry, declared, MAX_PATH, what, &at)?;
                while data.last() == Some(&0) {
                    data.pop();
                }
                let slot = if long_name {
                    &mut pending.long_name
                } else {
                    &mut pending.long_link
                };
                if slot.replace(data).is_some() {
                    return Err(refuse(
                        at,
                        format!("two {what} headers describe the same member"),
                    ));
                }
            }
            tar::EntryType::XHeader => {
                let data = read_bounded(&mut entry, declared, MAX_PAX_HEADER, "PAX extended", &at)?;
                pending.apply_pax(&data, &at)?;
            }
            tar::EntryType::XGlobalHeader => {
                // Defaults for the rest of the archive (`git archive` writes its commit id
                // here); like other readers, nothing of it is applied.
                read_bounded(&mut entry, declared, MAX_PAX_HEADER, "PAX global", &at)?;
            }
            tar::EntryType::GNUSparse => {
                return Err(refuse(
                    at,
                    "GNU sparse members are not allowed in a package",
                ));
            }
            _ => {
                let member = std::mem::take(&mut pending).member(entry.header(), number, &at)?;
                let mut counted = CountingReader {
                    inner: &mut entry,
                    read: 0,
                };
                visit(&member, &mut counted)?;
                // Whatever `visit` left unread is skipped by the `tar` crate; a short member
                // means the stream ended inside it.
                let read = counted.read;
                let rest = if read < member.size {
                    io::copy(&mut entry, &mut io::sink()).map_err(|e| from_tar(e, &at))?
                } else {
                    0
                };
                if read + rest != member.size {
                    return Err(refuse(
                        member.label(),
                        format!(
                            "the archive ends inside this member ({} of {} bytes)",
                            read + rest,
                            member.size
                        ),
                    ));
                }
                count += 1;
            }
        }
    }
    if !pending.is_empty() {
        return Err(refuse(
            format!("#{number}"),
            "an extension header describes no member (the archive ends after it)",
        ));
    }
    let mut rest = archive.into_inner().inner;
    io::copy(&mut rest, &mut io::sink()).map_err(|e| from_tar(e, "end"))?;
    Ok(count)
}

/// A stream that can seek forward, by reading and dropping bytes. Given one, the `tar` crate
/// skips a member's padding (and whatever of its data was left unread) by seeking; without,
/// it zeroes a 32 KiB buffer to skip into for every member.
struct Forward<R> {
    inner: R,
    pos: u64,
    scratch: Vec<u8>,
}

impl<R: Read> Forward<R> {
    fn new(inner: R) -> Forward<R> {
        Forward {
            inner,
            pos: 0,
            scratch: Vec::new(),
        }
    }

    fn discard(&mut self, mut n: u64) -> io::Result<u64> {
        if n > 0 && self.scratch.is_empty() {
            self.scratch = vec![0; 8192];
        }
        while n > 0 {
            let want = usize::try_from(n)
                .unwrap_or(usize::MAX)
                .min(self.scratch.len());
            let got = match self.inner.read(&mut self.scratch[..want]) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the archive ends before the next header",
                    ));
                }
                Ok(got) => got,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            self.pos += got as u64;
            n -= got as u64;
        }
        Ok(self.pos)
    }
}

impl<R: Read> Read for Forward<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl<R: Read> Seek for Forward<R> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let ahead = match to {
            SeekFrom::Current(d) => u64::try_from(d).ok(),
            SeekFrom::Start(p) => p.checked_sub(self.pos),
            SeekFrom::End(_) => None,
        };
        match ahead {
            Some(n) => self.discard(n),
            None => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "a tar stream is only read forwards",
            )),
        }
    }
}

/// Counts the bytes `visit` reads of a member's data; read errors keep their meaning.
struct CountingReader<'a, R: Read> {
    inner: &'a mut R,
    read: u64,
}

impl<R: Read> Read for CountingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
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
}

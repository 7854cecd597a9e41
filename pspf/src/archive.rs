//! Reading a tar stream member by member, with every header bounded before it is read.
//!
//! The `tar` crate reads a GNU long name, long link or PAX extended header into memory whole,
//! however large its header says it is: a slot of a few dozen kilobytes that decodes to a
//! 1 GiB long name costs gigabytes before anything can refuse it. Here the stream is split
//! into headers and data by hand (the `tar` crate only reads a header's fields), and the
//! extension headers are applied by hand, each refused on its declared size before a byte of
//! it is read: a long name or link over
//! [`MAX_PATH`] (Linux `PATH_MAX`), a PAX header over [`MAX_PAX_HEADER`]. Anything this
//! reader would interpret differently from other tar readers is refused rather than guessed:
//! GNU sparse members, a PAX `size` that differs from the header's, a member named both by a
//! long name and a PAX `path`, a NUL inside a name, extension headers describing no member.
//!
//! A member's data is read, or taken as pieces of the decoded frames where the stream can
//! share them ([`MemberData::piece`]), so a file's bytes reach its writer without a copy.

use crate::error::{Error, Result};
use crate::pieces::{Piece, Plain, Stream};
use std::ffi::OsStr;
use std::fmt::Write as _;
use std::io::{self, Read};
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

    /// Record the data of a GNU long name or long link header.
    fn long(
        &mut self,
        kind: tar::EntryType,
        data: &mut MemberData<'_>,
        declared: u64,
        at: &str,
    ) -> Result<()> {
        let long_name = kind == tar::EntryType::GNULongName;
        let what = if long_name {
            "GNU long name"
        } else {
            "GNU long link"
        };
        let mut bytes = read_bounded(data, declared, MAX_PATH, what, at)?;
        while bytes.last() == Some(&0) {
            bytes.pop();
        }
        let slot = if long_name {
            &mut self.long_name
        } else {
            &mut self.long_link
        };
        if slot.replace(bytes).is_some() {
            return Err(refuse(
                at,
                format!("two {what} headers describe the same member"),
            ));
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

/// Walk the tar stream `reader`, calling `visit` with each member and its data (which `visit`
/// may leave unread), then read the stream to its end, so a verifying reader underneath gets
/// to check its digest. Returns the number of members.
pub fn for_each_member<R: Read>(
    reader: R,
    visit: impl FnMut(&Member, &mut MemberData<'_>) -> Result<()>,
) -> Result<u64> {
    for_each_member_in(&mut Plain(reader), visit)
}

/// [`for_each_member`] over a [`Stream`], whose members' data `visit` may take as pieces.
pub(crate) fn for_each_member_in(
    stream: &mut dyn Stream,
    mut visit: impl FnMut(&Member, &mut MemberData<'_>) -> Result<()>,
) -> Result<u64> {
    let mut header = tar::Header::new_old();
    let mut pending = Pending::default();
    let (mut number, mut count) = (0u64, 0u64);
    let mut at = String::new();
    loop {
        at.clear();
        write!(at, "#{}", number + 1).expect("writing to a String");
        if !read_header(stream, &mut header, &at)? {
            break;
        }
        number += 1;
        let declared = header
            .entry_size()
            .map_err(|e| refuse(&at, format!("unreadable size field: {e}")))?;
        let mut data = MemberData {
            stream: &mut *stream,
            left: declared,
        };
        let member = match header.entry_type() {
            kind @ (tar::EntryType::GNULongName | tar::EntryType::GNULongLink) => {
                pending.long(kind, &mut data, declared, &at)?;
                None
            }
            tar::EntryType::XHeader => {
                let bytes = read_bounded(&mut data, declared, MAX_PAX_HEADER, "PAX extended", &at)?;
                pending.apply_pax(&bytes, &at)?;
                None
            }
            tar::EntryType::XGlobalHeader => {
                // Defaults for the rest of the archive (`git archive` writes its commit id
                // here); like other readers, nothing of it is applied.
                read_bounded(&mut data, declared, MAX_PAX_HEADER, "PAX global", &at)?;
                None
            }
            tar::EntryType::GNUSparse => {
                return Err(refuse(
                    at,
                    "GNU sparse members are not allowed in a package",
                ));
            }
            _ => {
                let member = std::mem::take(&mut pending).member(&header, number, &at)?;
                visit(&member, &mut data)?;
                count += 1;
                Some(member)
            }
        };
        // Whatever was left unread, then the padding to the next 512-byte block.
        let left = data.left;
        let unread = skip(stream, left).map_err(|e| from_tar(e, &at))?;
        if unread < left {
            let label = member.map_or_else(|| at.clone(), |m| m.label());
            return Err(refuse(
                label,
                format!(
                    "the archive ends inside this member ({} of {declared} bytes)",
                    declared - left + unread
                ),
            ));
        }
        let padding = declared.next_multiple_of(BLOCK) - declared;
        if skip(stream, padding).map_err(|e| from_tar(e, &at))? < padding {
            return Err(refuse(
                at,
                "malformed tar stream: the archive ends before the next header",
            ));
        }
    }
    if !pending.is_empty() {
        return Err(refuse(
            format!("#{number}"),
            "an extension header describes no member (the archive ends after it)",
        ));
    }
    // The end-of-archive blocks, and whatever follows them.
    while skip(stream, 1 << 20).map_err(|e| from_tar(e, "end"))? > 0 {}
    Ok(count)
}

/// Bytes in a tar block: headers and member data start on a multiple of it.
const BLOCK: u64 = 512;

/// Read the next header into `header`; false at the end of the archive (the stream's end, or
/// a block of zeros). Its checksum is checked.
fn read_header(stream: &mut dyn Stream, header: &mut tar::Header, at: &str) -> Result<bool> {
    let bytes = header.as_mut_bytes();
    let got = read_full(stream, bytes).map_err(|e| from_tar(e, at))?;
    if got == 0 || bytes.iter().all(|&b| b == 0) {
        return Ok(false);
    }
    if got < bytes.len() {
        return Err(refuse(
            at,
            "malformed tar stream: the archive ends inside a header",
        ));
    }
    // The sum of the header's bytes, its checksum field counted as spaces.
    let sum = bytes[..148]
        .iter()
        .chain(&bytes[156..])
        .map(|&b| u32::from(b))
        .sum::<u32>()
        + 8 * u32::from(b' ');
    let recorded = header
        .cksum()
        .map_err(|e| refuse(at, format!("malformed tar stream: {e}")))?;
    if sum != recorded {
        return Err(refuse(
            at,
            "malformed tar stream: archive header checksum mismatch",
        ));
    }
    Ok(true)
}

/// Read until `buf` is full or the stream ends; the number of bytes read.
fn read_full(stream: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match stream.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Drop the next `n` bytes of the stream (as pieces where it can, without copying them); the
/// number dropped, less than `n` only when the stream ended.
fn skip(stream: &mut dyn Stream, n: u64) -> io::Result<u64> {
    let mut done = 0;
    while done < n {
        let want = usize::try_from(n - done).unwrap_or(usize::MAX);
        let got = match stream.piece(want)? {
            Some(piece) => piece.len() as u64,
            None => return Ok(done + skip_by_reading(stream, n - done)?),
        };
        if got == 0 {
            break;
        }
        done += got;
    }
    Ok(done)
}

/// [`skip`] for a stream that only reads: into a small buffer for padding, a larger one for
/// whole members.
fn skip_by_reading(stream: &mut dyn Stream, n: u64) -> io::Result<u64> {
    if n <= BLOCK {
        let mut block = [0u8; BLOCK as usize];
        return read_full(stream, &mut block[..n as usize]).map(|got| got as u64);
    }
    io::copy(&mut stream.take(n), &mut io::sink())
}

/// The data of one member: read it, or take it as pieces; whatever is left is skipped.
pub struct MemberData<'a> {
    stream: &'a mut dyn Stream,
    left: u64,
}

impl MemberData<'_> {
    /// Up to `max` of the next bytes as a piece that needs no copying (at least one unless
    /// the member's data ran out or the stream ended). `None`: the stream cannot share its
    /// bytes; read them instead.
    pub fn piece(&mut self, max: usize) -> io::Result<Option<Piece>> {
        let max = usize::try_from(self.left).map_or(max, |left| max.min(left));
        let piece = self.stream.piece(max)?;
        if let Some(piece) = &piece {
            self.left -= piece.len() as u64;
        }
        Ok(piece)
    }
}

impl Read for MemberData<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let max = usize::try_from(self.left).map_or(buf.len(), |left| buf.len().min(left));
        let n = self.stream.read(&mut buf[..max])?;
        self.left -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests;

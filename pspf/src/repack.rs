//! Swapping the launcher of an existing package, leaving metadata and signature untouched.
//!
//! Everything from the first byte after the launcher that the index points at (metadata, slot
//! table, slots) is copied as-is, shifted by a multiple of 4096 so page-aligned slots stay
//! aligned; descriptor offsets and the index's size and offset fields are rewritten and the
//! index checksum recomputed. The signature covers only the metadata, so it stays valid. The
//! metadata's informational `launcher{…}` object becomes stale, as PSPF.md §5 allows.

use crate::descriptor::DESCRIPTOR_SIZE;
use crate::error::{Error, Result};
use crate::index::{INDEX_SIZE, MAGIC_END, MAGIC_START, compute_index_checksum, offsets};
use crate::reader::{Package, PositionedReader};
use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Write `package` with its launcher replaced by the file `launcher` to `out` (atomically,
/// mode 0755). Returns the new package size.
pub fn repack(package: &Path, launcher: &Path, out: &Path) -> Result<u64> {
    let pkg = Package::open(package)?;
    let index = pkg.index();
    let mut start = index.metadata_offset().min(index.slot_table_offset());
    for d in pkg.descriptors() {
        if d.size > 0 {
            start = start.min(d.offset);
        }
    }
    let end = pkg.trailer_offset();
    let new_launcher_len = fs::metadata(launcher)?.len();
    let pad = (i128::from(start) - i128::from(new_launcher_len)).rem_euclid(4096) as u64;
    let new_start = new_launcher_len + pad;
    let shift = |x: u64| -> Result<u64> {
        (x.checked_sub(start))
            .and_then(|rel| rel.checked_add(new_start))
            .ok_or_else(|| {
                Error::malformed(format!("offset {x} lies before the payload start {start}"))
            })
    };

    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".flavor-repack-")
        .tempfile_in(dir)?;
    let file = tmp.as_file_mut();
    io::copy(&mut File::open(launcher)?, file)?;
    io::copy(&mut io::repeat(0).take(pad), file)?;
    let mut region = PositionedReader {
        file: pkg.file(),
        pos: start,
    }
    .take(end - start);
    io::copy(&mut region, file)?;

    // Rewrite the descriptor offsets in place.
    let table_at = shift(index.slot_table_offset())?;
    for (i, d) in pkg.descriptors().iter().enumerate() {
        let mut moved = d.clone();
        if d.size > 0 || d.offset != 0 {
            moved.offset = shift(d.offset)?;
        }
        file.seek(SeekFrom::Start(table_at + (i * DESCRIPTOR_SIZE) as u64))?;
        file.write_all(&moved.to_bytes())?;
    }

    let new_end = new_start + (end - start);
    let package_size = new_end + crate::index::TRAILER_SIZE as u64;
    let mut raw: Box<[u8; INDEX_SIZE]> = Box::new(*index.raw());
    let mut put = |at: usize, v: u64| raw[at..at + 8].copy_from_slice(&v.to_le_bytes());
    put(offsets::PACKAGE_SIZE, package_size);
    put(offsets::LAUNCHER_SIZE, new_launcher_len);
    put(offsets::METADATA_OFFSET, shift(index.metadata_offset())?);
    put(offsets::SLOT_TABLE_OFFSET, table_at);
    let checksum = compute_index_checksum(&raw);
    raw[offsets::INDEX_CHECKSUM..offsets::INDEX_CHECKSUM + 4]
        .copy_from_slice(&checksum.to_le_bytes());
    file.seek(SeekFrom::Start(new_end))?;
    file.write_all(&MAGIC_START)?;
    file.write_all(&raw[..])?;
    file.write_all(&MAGIC_END)?;
    file.set_len(package_size)?;
    file.set_permissions(fs::Permissions::from_mode(0o755))?;
    file.sync_all()?;
    tmp.persist(out).map_err(|e| Error::Io(e.error))?;
    Ok(package_size)
}

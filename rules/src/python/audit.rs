//! The shared-library audit of a tree (an interpreter, a site-packages): for every ELF file,
//! the libraries it needs (`DT_NEEDED`) and the newest `GLIBC_x.y` symbol version it asks for.
//! The tree's highest is the oldest glibc the package can run on (recorded in the package;
//! the launcher refuses an older system). A needed library that neither the tree holds nor
//! the manylinux policy (PEP 600) lets a wheel assume is on every system is a build warning:
//! the package will fail wherever that library is missing.

use object::Endianness;
use object::elf::{DT_NEEDED, FileHeader64};
use object::read::elf::{Dyn, FileHeader};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

/// Libraries the manylinux policy lets a wheel assume are on every system (auditwheel's
/// allowlist), plus the dynamic loader.
pub const MANYLINUX_LIBS: [&str; 20] = [
    "libgcc_s.so.1",
    "libstdc++.so.6",
    "libm.so.6",
    "libdl.so.2",
    "librt.so.1",
    "libc.so.6",
    "libnsl.so.1",
    "libutil.so.1",
    "libpthread.so.0",
    "libresolv.so.2",
    "libX11.so.6",
    "libXext.so.6",
    "libXrender.so.1",
    "libICE.so.6",
    "libSM.so.6",
    "libGL.so.1",
    "libgobject-2.0.so.0",
    "libgthread-2.0.so.0",
    "libglib-2.0.so.0",
    "ld-linux-x86-64.so.2",
];

/// A glibc version (`2.17`, `2.2.5`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GlibcVersion(pub u32, pub u32, pub u32);

impl GlibcVersion {
    /// `GLIBC_2.17` → 2.17; anything else (`GLIBC_PRIVATE`, `GCC_3.0`) → `None`.
    pub fn from_symbol_version(name: &str) -> Option<GlibcVersion> {
        GlibcVersion::parse(name.strip_prefix("GLIBC_")?)
    }

    /// `2.17` or `2.2.5`.
    pub fn parse(text: &str) -> Option<GlibcVersion> {
        let mut parts = text.split('.').map(|p| p.parse::<u32>().ok());
        let major = parts.next()??;
        let minor = parts.next()??;
        let patch = parts.next().unwrap_or(Some(0))?;
        parts
            .next()
            .is_none()
            .then_some(GlibcVersion(major, minor, patch))
    }
}

impl fmt::Display for GlibcVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.2 {
            0 => write!(f, "{}.{}", self.0, self.1),
            p => write!(f, "{}.{}.{p}", self.0, self.1),
        }
    }
}

/// What one ELF file needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElfNeeds {
    /// `DT_NEEDED`, in file order.
    pub needed: Vec<String>,
    /// The newest `GLIBC_*` version among its version needs.
    pub glibc: Option<GlibcVersion>,
}

/// Read what the ELF file `data` needs; `Ok(None)` when it is not a 64-bit ELF file.
pub fn elf_needs(data: &[u8]) -> Result<Option<ElfNeeds>, object::Error> {
    if data.get(..4) != Some(b"\x7fELF") || data.get(4) != Some(&2) {
        return Ok(None);
    }
    let header = FileHeader64::<Endianness>::parse(data)?;
    let endian = header.endian()?;
    let sections = header.sections(endian, data)?;
    let mut needed = Vec::new();
    if let Some((dyns, link)) = sections.dynamic(endian, data)? {
        let strings = sections.strings(endian, data, link)?;
        for d in dyns {
            if d.tag(endian) == DT_NEEDED {
                needed.push(String::from_utf8_lossy(d.string(endian, strings)?).into_owned());
            }
        }
    }
    let mut glibc = None;
    if let Some((mut verneeds, link)) = sections.gnu_verneed(endian, data)? {
        let strings = sections.strings(endian, data, link)?;
        while let Some((_, mut aux)) = verneeds.next()? {
            while let Some(a) = aux.next()? {
                let name = String::from_utf8_lossy(a.name(endian, strings)?).into_owned();
                glibc = glibc.max(GlibcVersion::from_symbol_version(&name));
            }
        }
    }
    Ok(Some(ElfNeeds { needed, glibc }))
}

/// The audit of a tree.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TreeAudit {
    /// Every ELF file (relative path) and what it needs.
    pub files: BTreeMap<PathBuf, ElfNeeds>,
    /// The oldest glibc every file runs on (the newest version any file asks for).
    pub min_glibc: Option<GlibcVersion>,
    /// Needed libraries neither in the tree nor in [`MANYLINUX_LIBS`] → the files needing them.
    pub outside: BTreeMap<String, Vec<PathBuf>>,
}

impl TreeAudit {
    /// One warning line per library outside the manylinux set (empty when there is none).
    pub fn warnings(&self) -> Vec<String> {
        (self.outside.iter())
            .map(|(lib, users)| {
                let first = users[0].display();
                let more = match users.len() {
                    1 => String::new(),
                    n => format!(" and {} more", n - 1),
                };
                format!(
                    "{first}{more} needs {lib}, which is neither in the package nor on every \
                     manylinux system: the package fails where it is missing"
                )
            })
            .collect()
    }
}

/// Audit every regular ELF file under `roots` (several trees that run together, such as the
/// interpreter and site-packages; paths are reported relative to their root).
pub fn audit(roots: &[&Path]) -> Result<TreeAudit, crate::Error> {
    let mut out = TreeAudit::default();
    let mut held = BTreeSet::new();
    for root in roots {
        for entry in regular_files(root)? {
            let path = entry;
            let rel = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
            if let Some(name) = path.file_name().and_then(|n| n.to_str()) {
                held.insert(name.to_string());
            }
            let data = std::fs::read(&path).map_err(|source| crate::Error::Read {
                what: "python audit".into(),
                path: path.clone(),
                source,
            })?;
            let needs = elf_needs(&data).map_err(|e| crate::Error::Read {
                what: "python audit".into(),
                path: path.clone(),
                source: std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()),
            })?;
            if let Some(needs) = needs {
                out.min_glibc = out.min_glibc.max(needs.glibc);
                out.files.insert(rel, needs);
            }
        }
    }
    for (file, needs) in &out.files {
        for lib in &needs.needed {
            if !held.contains(lib) && !MANYLINUX_LIBS.contains(&lib.as_str()) {
                out.outside
                    .entry(lib.clone())
                    .or_default()
                    .push(file.clone());
            }
        }
    }
    Ok(out)
}

/// Every regular file under `root` (symbolic links are not followed), sorted.
pub(crate) fn regular_files(root: &Path) -> Result<Vec<PathBuf>, crate::Error> {
    let mut files = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let read = std::fs::read_dir(&dir).map_err(|source| crate::Error::Read {
            what: "python audit".into(),
            path: dir.clone(),
            source,
        })?;
        for entry in read.flatten() {
            match entry.file_type() {
                Ok(t) if t.is_dir() => dirs.push(entry.path()),
                Ok(t) if t.is_file() => files.push(entry.path()),
                _ => {}
            }
        }
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glibc_versions_order_and_print() {
        let v = |s| GlibcVersion::from_symbol_version(s);
        assert!(v("GLIBC_2.2.5") < v("GLIBC_2.3"));
        assert!(v("GLIBC_2.17") < v("GLIBC_2.34"));
        assert_eq!(v("GLIBC_PRIVATE"), None);
        assert_eq!(v("GCC_3.0"), None);
        assert_eq!(v("GLIBC_2.2.5").unwrap().to_string(), "2.2.5");
        assert_eq!(v("GLIBC_2.35").unwrap().to_string(), "2.35");
    }

    #[test]
    fn the_test_binary_itself_needs_libc() {
        let exe = std::env::current_exe().unwrap();
        let needs = elf_needs(&std::fs::read(exe).unwrap()).unwrap().unwrap();
        assert!(needs.needed.iter().any(|n| n == "libc.so.6"), "{needs:?}");
        assert!(needs.glibc.unwrap() >= GlibcVersion(2, 2, 5));
        assert_eq!(elf_needs(b"#!/bin/sh\n").unwrap(), None);
    }
}

//! What a launcher binary is, read from its bytes, never guessed from its name: the platform
//! from the executable header (ELF machine and class, Mach-O cputype, PE machine, with the
//! `object` crate), whether it is static, and which launcher it is — flavor's own (its
//! identity line, [`pspf::identity`], lists the codecs it decodes), FlavorPack's Rust launcher
//! or FlavorPack's Go launcher (both decode raw, gzip, tar and tar.gz only).

use crate::Error;
use object::{Architecture, BinaryFormat, Object};
use pspf::{Codec, Platform};
use std::path::{Path, PathBuf};

/// The largest file taken for a launcher (upstream's Go launchers are about 9 MB).
const MAX_LAUNCHER: u64 = 256 * 1024 * 1024;

/// Which launcher a binary is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// flavor's own launcher (`flavor-launcher`).
    Flavor,
    /// FlavorPack's Rust launcher (`flavor-rs-launcher`).
    UpstreamRust,
    /// FlavorPack's Go launcher (`flavor-go-launcher`).
    UpstreamGo,
    /// An executable that is none of those.
    Unknown,
}

impl Kind {
    /// Its name in messages and `--json`: `flavor`, `upstream-rust`, `upstream-go`, `unknown`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Flavor => "flavor",
            Kind::UpstreamRust => "upstream-rust",
            Kind::UpstreamGo => "upstream-go",
            Kind::Unknown => "unknown",
        }
    }

    /// What it is, in a sentence: `FlavorPack's Rust launcher`.
    pub fn describe(self) -> &'static str {
        match self {
            Kind::Flavor => "flavor's launcher",
            Kind::UpstreamRust => "FlavorPack's Rust launcher",
            Kind::UpstreamGo => "FlavorPack's Go launcher",
            Kind::Unknown => "an unrecognised launcher",
        }
    }
}

/// The codecs every PSPF/2025 launcher decodes: FlavorPack's (upstream) launchers read only
/// these.
pub const UPSTREAM_CODECS: [Codec; 4] = [Codec::Raw, Codec::Gzip, Codec::Tar, Codec::TarGz];

/// What a launcher binary is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The platform its header says it runs on.
    pub platform: Platform,
    /// Which launcher it is.
    pub kind: Kind,
    /// Whether it needs no shared libraries: `Some(true)` for an ELF without an interpreter
    /// or a PE without the C runtime DLLs, `None` for Mach-O (every macOS program links the
    /// system's libraries).
    pub is_static: Option<bool>,
    /// The codecs it decodes (for an unrecognised launcher: those every launcher decodes).
    pub codecs: Vec<Codec>,
    /// Its size in bytes.
    pub size: u64,
}

impl Identity {
    /// Whether it decodes slots stored with `codec`.
    pub fn decodes(&self, codec: Codec) -> bool {
        self.codecs.contains(&codec)
    }
}

/// Identify the launcher binary at `path`.
pub fn identify_file(path: &Path) -> Result<Identity, Error> {
    let unreadable = |source| Error::LauncherUnreadable {
        path: path.to_path_buf(),
        source,
    };
    let size = std::fs::metadata(path).map_err(unreadable)?.len();
    if size > MAX_LAUNCHER {
        return Err(not_a_launcher(
            path,
            format!("it is {size} bytes, more than any launcher"),
        ));
    }
    let bytes = std::fs::read(path).map_err(unreadable)?;
    identify(path, &bytes)
}

/// Identify the launcher binary `bytes` (read from `path`, named in errors).
pub fn identify(path: &Path, bytes: &[u8]) -> Result<Identity, Error> {
    let file = object::File::parse(bytes)
        .map_err(|e| not_a_launcher(path, format!("it is not an executable ({e})")))?;
    let platform = platform_of(path, &file)?;
    let (kind, codecs) = kind_of(bytes);
    Ok(Identity {
        platform,
        kind,
        is_static: is_static(&file),
        codecs,
        size: bytes.len() as u64,
    })
}

fn not_a_launcher(path: &Path, reason: String) -> Error {
    Error::NotALauncher {
        path: path.to_path_buf(),
        reason,
    }
}

/// The platform of a parsed executable: ELF → linux, Mach-O → darwin, PE → windows; x86-64
/// or 64-bit ARM.
fn platform_of(path: &Path, file: &object::File<'_>) -> Result<Platform, Error> {
    let os = match file.format() {
        BinaryFormat::Elf => "linux",
        BinaryFormat::MachO => "darwin",
        BinaryFormat::Pe => "windows",
        other => return Err(unsupported(path, format!("{other:?}"), file)),
    };
    let arch = match (file.architecture(), file.is_64()) {
        (Architecture::X86_64, true) => "x86_64",
        (Architecture::Aarch64, true) => "aarch64",
        _ => return Err(unsupported(path, os.to_string(), file)),
    };
    Platform::from_os_arch(os, arch).ok_or_else(|| unsupported(path, os.to_string(), file))
}

fn unsupported(path: &Path, format: String, file: &object::File<'_>) -> Error {
    Error::UnsupportedLauncherPlatform {
        path: PathBuf::from(path),
        found: format!(
            "{format} {:?}{}",
            file.architecture(),
            if file.is_64() { "" } else { " (32-bit)" }
        ),
    }
}

/// Which launcher `bytes` is, and the codecs it decodes.
fn kind_of(bytes: &[u8]) -> (Kind, Vec<Codec>) {
    if let Some(codecs) = pspf::identity::launcher_codecs(bytes) {
        return (Kind::Flavor, codecs);
    }
    let kind = if contains(bytes, b"Go buildinf:") && contains(bytes, b"flavor-go-launcher") {
        Kind::UpstreamGo
    } else if contains(bytes, b"flavor_rs_launcher") {
        Kind::UpstreamRust
    } else {
        Kind::Unknown
    };
    (kind, UPSTREAM_CODECS.to_vec())
}

/// Whether `needle` occurs in `haystack`.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(haystack, needle).is_some()
}

/// Whether the executable needs no shared library (see [`Identity::is_static`]).
fn is_static(file: &object::File<'_>) -> Option<bool> {
    match file {
        object::File::Elf64(elf) => {
            let endian = elf.endian();
            let interp = elf.elf_program_headers().iter().any(|h| {
                object::read::elf::ProgramHeader::p_type(h, endian) == object::elf::PT_INTERP
            });
            Some(!interp)
        }
        object::File::Pe64(_) => {
            let imports = file.imports().ok()?;
            let c_runtime = imports.flatten().any(|i| {
                let lib = String::from_utf8_lossy(i.library()).to_ascii_lowercase();
                [
                    "vcruntime",
                    "msvcp",
                    "ucrtbase",
                    "api-ms-win-crt-",
                    "libgcc",
                    "libstdc++",
                ]
                .iter()
                .any(|p| lib.starts_with(p))
            });
            Some(!c_runtime)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_that_is_no_executable_is_named() {
        let err = identify(Path::new("notes.txt"), b"hello").unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("notes.txt") && msg.contains("not an executable"),
            "{msg}"
        );
    }

    #[test]
    fn kinds_are_told_apart_by_what_the_binary_holds() {
        let flavor = format!("\0{}\0", pspf::identity::LAUNCHER_IDENTITY);
        assert_eq!(kind_of(flavor.as_bytes()).0, Kind::Flavor);
        assert_eq!(kind_of(flavor.as_bytes()).1, Codec::ALL);
        let go = b"..Go buildinf:..src/flavor-go/cmd/flavor-go-launcher/main.go..";
        assert_eq!(kind_of(go), (Kind::UpstreamGo, UPSTREAM_CODECS.to_vec()));
        assert_eq!(kind_of(b"..flavor_rs_launcher..").0, Kind::UpstreamRust);
        assert_eq!(kind_of(b"\x7fELF").0, Kind::Unknown);
    }
}

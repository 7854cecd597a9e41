//! How flavor's launcher says what it is: a line kept in its binary (its CLI-mode `help`
//! prints it, so it is never optimised away) naming the format and every codec it decodes.
//! A builder that is handed a launcher binary finds the line to know, rather than guess, which
//! slots that launcher can unpack; a launcher of another flavor version lists its own codecs.

use crate::ops::Codec;

/// The start of the identity line.
pub const LAUNCHER_IDENTITY_PREFIX: &str = "flavor-launcher: PSPF/2025; decodes ";

/// The identity line of this version's launcher: the prefix, the codecs it decodes separated
/// by spaces, and `;`.
pub const LAUNCHER_IDENTITY: &str =
    "flavor-launcher: PSPF/2025; decodes raw gzip zstd tar tar.gz tar.zst;";

/// The codecs a flavor launcher binary says it decodes, when `binary` holds an identity line
/// (the first one found). Unknown codec names in it are skipped.
pub fn launcher_codecs(binary: &[u8]) -> Option<Vec<Codec>> {
    let prefix = LAUNCHER_IDENTITY_PREFIX.as_bytes();
    let start = find(binary, prefix)? + prefix.len();
    let rest = binary.get(start..)?;
    let end = rest.iter().take(256).position(|&b| b == b';')?;
    let list = std::str::from_utf8(&rest[..end]).ok()?;
    Some(
        list.split(' ')
            .filter_map(Codec::from_flavor_name)
            .collect(),
    )
}

/// The offset of the first `needle` in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let first = *needle.first()?;
    let mut from = 0;
    while let Some(i) = haystack.get(from..)?.iter().position(|&b| b == first) {
        let at = from + i;
        if haystack.get(at..at + needle.len()) == Some(needle) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_identity_names_every_codec() {
        assert!(LAUNCHER_IDENTITY.starts_with(LAUNCHER_IDENTITY_PREFIX));
        let mut binary = b"\x7fELF....".to_vec();
        binary.extend_from_slice(LAUNCHER_IDENTITY.as_bytes());
        binary.extend_from_slice(b"\0more");
        assert_eq!(launcher_codecs(&binary).unwrap(), Codec::ALL);
    }

    #[test]
    fn no_identity_no_codecs() {
        assert_eq!(
            launcher_codecs(b"flavor-launcher: PSPF/2025; decodes raw"),
            None
        );
        assert_eq!(launcher_codecs(b"nothing here"), None);
        assert_eq!(launcher_codecs(b""), None);
        let partial = format!("flavor-launcher: PSPF/2{LAUNCHER_IDENTITY}");
        assert_eq!(launcher_codecs(partial.as_bytes()).unwrap(), Codec::ALL);
    }
}

//! [`Tar`]: a tar archive assembled byte by byte (ustar headers, no name sanitising), so
//! hostile entry names (`../x`, absolute paths, links leading outside) reach the launcher
//! exactly as written.

/// A tar archive assembled byte by byte (ustar headers, no name sanitising).
#[derive(Default)]
pub struct Tar {
    bytes: Vec<u8>,
}

impl Tar {
    pub fn new() -> Tar {
        Tar::default()
    }

    fn header(&mut self, name: &[u8], kind: u8, mode: u32, size: u64, link: &[u8]) {
        assert!(
            name.len() <= 100 && link.len() <= 100,
            "names over 100 bytes"
        );
        let mut h = [0u8; 512];
        h[..name.len()].copy_from_slice(name);
        let octal = |h: &mut [u8; 512], at: usize, width: usize, v: u64| {
            let s = format!("{v:0w$o}\0", w = width - 1);
            h[at..at + width].copy_from_slice(s.as_bytes());
        };
        octal(&mut h, 100, 8, u64::from(mode));
        octal(&mut h, 108, 8, 0);
        octal(&mut h, 116, 8, 0);
        octal(&mut h, 124, 12, size);
        octal(&mut h, 136, 12, 1_700_000_000);
        h[156] = kind;
        h[157..157 + link.len()].copy_from_slice(link);
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
        h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        self.bytes.extend_from_slice(&h);
    }

    /// A regular file.
    pub fn file(mut self, name: impl AsRef<[u8]>, content: &[u8], mode: u32) -> Tar {
        self.header(name.as_ref(), b'0', mode, content.len() as u64, b"");
        self.bytes.extend_from_slice(content);
        let pad = (512 - content.len() % 512) % 512;
        self.bytes.extend(std::iter::repeat_n(0u8, pad));
        self
    }

    /// A directory (`name` should end with `/`).
    pub fn dir(mut self, name: impl AsRef<[u8]>) -> Tar {
        self.header(name.as_ref(), b'5', 0o755, 0, b"");
        self
    }

    /// A symbolic link `name` → `target`.
    pub fn symlink(mut self, name: impl AsRef<[u8]>, target: impl AsRef<[u8]>) -> Tar {
        self.header(name.as_ref(), b'2', 0o777, 0, target.as_ref());
        self
    }

    /// A header of type `kind` (`b'L'` GNU long name, `b'x'` PAX, …) declaring `size` bytes of
    /// content that the caller supplies separately (e.g. as a compressed run, for a bomb).
    pub fn declare(mut self, name: impl AsRef<[u8]>, kind: u8, size: u64) -> Tar {
        self.header(name.as_ref(), kind, 0o644, size, b"");
        self
    }

    /// The archive with its two end-of-archive blocks.
    pub fn finish(mut self) -> Vec<u8> {
        self.bytes.extend_from_slice(&[0u8; 1024]);
        self.bytes
    }

    /// The bytes so far, without end-of-archive blocks (a prefix of a larger archive).
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

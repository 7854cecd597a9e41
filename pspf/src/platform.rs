//! Platforms a package is built for (`<os>-<arch>`): the five FlavorPack ships launchers for.
//!
//! A package's platform is the platform of the launcher in front of it; the metadata records
//! it in `build.platform` (`{"os": "linux", "arch": "aarch64", "host": ""}`, PSPF.md §5), so
//! `os-arch` of that object is the platform's name. Upstream writers record their own
//! spellings there (`amd64`, `arm64`, Rust's `aarch64` on macOS): [`Platform::from_os_arch`]
//! reads them all.

crate::vocabulary! {
    /// A platform packages are built for, named `<os>-<arch>`.
    pub enum Platform("platform") {
        /// Linux on x86-64.
        LinuxX86_64 = "linux-x86_64" | "linux-amd64" (upstream "linux_amd64"),
        /// Linux on 64-bit ARM.
        LinuxAarch64 = "linux-aarch64" | "linux-arm64" (upstream "linux_arm64"),
        /// macOS on x86-64.
        DarwinX86_64 = "darwin-x86_64" | "darwin-amd64" | "macos-x86_64" (upstream "darwin_amd64"),
        /// macOS on Apple silicon.
        DarwinArm64 = "darwin-arm64" | "darwin-aarch64" | "macos-arm64" (upstream "darwin_arm64"),
        /// Windows on x86-64.
        WindowsX86_64 = "windows-x86_64" | "windows-amd64" (upstream "windows_amd64"),
    }
}

impl Platform {
    /// The operating system part of the name: `linux`, `darwin` or `windows`.
    pub fn os(self) -> &'static str {
        match self {
            Platform::LinuxX86_64 | Platform::LinuxAarch64 => "linux",
            Platform::DarwinX86_64 | Platform::DarwinArm64 => "darwin",
            Platform::WindowsX86_64 => "windows",
        }
    }

    /// The architecture part of the name: `x86_64`, `aarch64` (Linux) or `arm64` (macOS).
    pub fn arch(self) -> &'static str {
        match self {
            Platform::LinuxX86_64 | Platform::DarwinX86_64 | Platform::WindowsX86_64 => "x86_64",
            Platform::LinuxAarch64 => "aarch64",
            Platform::DarwinArm64 => "arm64",
        }
    }

    /// The Rust target triple of this platform (`aarch64-unknown-linux-gnu`): what
    /// `cargo build --target` takes, and `FLAVOR_TARGET_TRIPLE` in a per-target build step.
    pub fn triple(self) -> &'static str {
        match self {
            Platform::LinuxX86_64 => "x86_64-unknown-linux-gnu",
            Platform::LinuxAarch64 => "aarch64-unknown-linux-gnu",
            Platform::DarwinX86_64 => "x86_64-apple-darwin",
            Platform::DarwinArm64 => "aarch64-apple-darwin",
            Platform::WindowsX86_64 => "x86_64-pc-windows-msvc",
        }
    }

    /// The platform this program was compiled for, if it is one of the five.
    pub fn host() -> Option<Platform> {
        Platform::from_os_arch(std::env::consts::OS, std::env::consts::ARCH)
    }

    /// The platform of an `os` and `arch` as any writer spells them (`macos`/`darwin`,
    /// `amd64`/`x86_64`, `arm64`/`aarch64`).
    pub fn from_os_arch(os: &str, arch: &str) -> Option<Platform> {
        let os = match os.to_ascii_lowercase().as_str() {
            "linux" => "linux",
            "darwin" | "macos" | "osx" => "darwin",
            "windows" | "win32" => "windows",
            _ => return None,
        };
        let arm = match arch.to_ascii_lowercase().as_str() {
            "x86_64" | "amd64" | "x64" => false,
            "aarch64" | "arm64" => true,
            _ => return None,
        };
        Some(match (os, arm) {
            ("linux", false) => Platform::LinuxX86_64,
            ("linux", true) => Platform::LinuxAarch64,
            ("darwin", false) => Platform::DarwinX86_64,
            ("darwin", true) => Platform::DarwinArm64,
            ("windows", false) => Platform::WindowsX86_64,
            _ => return None,
        })
    }

    /// The file name suffix executables of this platform carry (`.exe` on Windows).
    pub fn exe_suffix(self) -> &'static str {
        match self {
            Platform::WindowsX86_64 => ".exe",
            _ => "",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_os_dash_arch_and_read_back_from_any_spelling() {
        for p in Platform::ALL {
            assert_eq!(p.name(), format!("{}-{}", p.os(), p.arch()));
            assert_eq!(Platform::from_os_arch(p.os(), p.arch()), Some(*p));
            assert_eq!(p.name().parse::<Platform>(), Ok(*p));
        }
        assert_eq!(
            Platform::from_os_arch("macos", "aarch64"),
            Some(Platform::DarwinArm64)
        );
        assert_eq!(
            Platform::from_os_arch("linux", "amd64"),
            Some(Platform::LinuxX86_64)
        );
        assert_eq!(Platform::from_os_arch("windows", "arm64"), None);
        assert_eq!(Platform::from_os_arch("freebsd", "x86_64"), None);
        assert_eq!(
            Platform::from_flavor_name("linux-arm64"),
            Some(Platform::LinuxAarch64)
        );
        assert_eq!(Platform::from_flavor_name("linux_arm64"), None);
        assert_eq!(
            Platform::from_name("linux_arm64"),
            Some(Platform::LinuxAarch64)
        );
    }

    #[test]
    fn this_host_is_a_platform() {
        #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
        assert_eq!(Platform::host(), Some(Platform::LinuxX86_64));
        #[cfg(all(target_os = "linux", target_arch = "aarch64"))]
        assert_eq!(Platform::host(), Some(Platform::LinuxAarch64));
    }
}

//! The words a package's metadata and a manifest share: slot lifecycles and purposes (the
//! codecs live in [`ops`](crate::ops), the setup command types in [`setup`](crate::setup)).
//!
//! Each vocabulary is a closed enum with one canonical spelling per value and the spellings
//! upstream writers use as aliases (`cached` for `cache`, `tgz` for `tar.gz`, …), defined once
//! by the [`vocabulary!`](crate::vocabulary!) macro: adding a value is a change the compiler
//! walks you through (every `match` on the enum, the descriptor byte, the launcher).
//!
//! Reading is lenient where upstream packages are read: a field of type [`Lenient<T>`] keeps a
//! value no vocabulary knows ([`Lenient::Unknown`]) instead of failing or mapping it silently,
//! so `inspect` and `verify` can report it ([`Metadata::unrecognised`](crate::Metadata::unrecognised)).
//! Manifests are strict: the manifest checker reports an unknown value with the allowed ones.

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::fmt;

/// A closed vocabulary of names (implemented by [`vocabulary!`](crate::vocabulary!)).
///
/// Each value has a canonical name (what flavor writes), aliases flavor also accepts in a
/// manifest, and upstream spellings it accepts only when reading packages.
pub trait Term: Copy + Eq + fmt::Debug + 'static {
    /// What a value of this vocabulary is called in messages (`"lifecycle"`).
    const WHAT: &'static str;
    /// Every value, in documentation order.
    const ALL: &'static [Self];
    /// The canonical spelling (what flavor writes).
    fn name(self) -> &'static str;
    /// Other spellings flavor accepts everywhere (`tgz` for `tar.gz`).
    fn aliases(self) -> &'static [&'static str];
    /// Spellings upstream writers put into packages (`cached`, `tar,gzip`), read but never
    /// written, and not accepted in a manifest.
    fn upstream_spellings(self) -> &'static [&'static str];

    /// The value spelled `name` in any known way (for reading packages), compared exactly.
    fn from_name(name: &str) -> Option<Self> {
        Self::from_flavor_name(name).or_else(|| {
            Self::ALL
                .iter()
                .copied()
                .find(|t| t.upstream_spellings().contains(&name))
        })
    }

    /// The value spelled `name` as a manifest may spell it: canonically or by an alias.
    fn from_flavor_name(name: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|t| t.name() == name || t.aliases().contains(&name))
    }

    /// Every canonical spelling, in documentation order.
    fn names() -> Vec<&'static str> {
        Self::ALL.iter().map(|t| t.name()).collect()
    }

    /// Every spelling a manifest may use, in documentation order (for "one of: …" messages).
    fn flavor_names() -> Vec<&'static str> {
        Self::ALL
            .iter()
            .flat_map(|t| std::iter::once(t.name()).chain(t.aliases().iter().copied()))
            .collect()
    }
}

/// Defines a vocabulary: a `Copy` enum with its canonical spellings, aliases and upstream
/// spellings, [`Term`], `Display`, `FromStr`, and serde (written canonically; read by any
/// spelling, an unknown one being an error — wrap the field in [`Lenient`] to keep unknown
/// values instead).
///
/// ```
/// pspf::vocabulary! {
///     /// How hot a thing is.
///     pub enum Heat("heat") {
///         /// Not hot.
///         Cold = "cold" | "chilly" (upstream "frozen" | "icy"),
///         /// Hot.
///         Hot = "hot",
///     }
/// }
/// use pspf::vocabulary::Term;
/// assert_eq!(Heat::from_name("icy"), Some(Heat::Cold));
/// assert_eq!(Heat::from_flavor_name("icy"), None);
/// assert_eq!(Heat::from_flavor_name("chilly"), Some(Heat::Cold));
/// assert_eq!(Heat::Hot.to_string(), "hot");
/// ```
#[macro_export]
macro_rules! vocabulary {
    (
        $(#[$meta:meta])*
        pub enum $name:ident ($what:literal) {
            $(
                $(#[$vmeta:meta])*
                $variant:ident = $canonical:literal $(| $alias:literal)*
                    $((upstream $($upstream:literal)|+))?
            ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $crate::vocabulary::Term for $name {
            const WHAT: &'static str = $what;
            const ALL: &'static [Self] = &[$($name::$variant),+];
            fn name(self) -> &'static str {
                match self { $($name::$variant => $canonical,)+ }
            }
            fn aliases(self) -> &'static [&'static str] {
                match self { $($name::$variant => &[$($alias),*],)+ }
            }
            fn upstream_spellings(self) -> &'static [&'static str] {
                match self { $($name::$variant => &[$($($upstream),+)?],)+ }
            }
        }

        impl $name {
            /// Every value, in documentation order.
            pub const ALL: &'static [Self] = &[$($name::$variant),+];
            /// The canonical spelling (what flavor writes).
            pub fn name(self) -> &'static str {
                <Self as $crate::vocabulary::Term>::name(self)
            }
            /// The value spelled `name` in any known way (upstream spellings included).
            pub fn from_name(name: &str) -> Option<Self> {
                <Self as $crate::vocabulary::Term>::from_name(name)
            }
            /// The value spelled `name` as a manifest may: canonically or by an alias.
            pub fn from_flavor_name(name: &str) -> Option<Self> {
                <Self as $crate::vocabulary::Term>::from_flavor_name(name)
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::vocabulary::UnknownTerm;
            fn from_str(s: &str) -> ::std::result::Result<Self, Self::Err> {
                Self::from_name(s).ok_or_else(|| $crate::vocabulary::UnknownTerm::new::<Self>(s))
            }
        }

        impl $crate::__serde::Serialize for $name {
            fn serialize<S: $crate::__serde::Serializer>(&self, s: S) -> ::std::result::Result<S::Ok, S::Error> {
                s.serialize_str(self.name())
            }
        }

        impl<'de> $crate::__serde::Deserialize<'de> for $name {
            fn deserialize<D: $crate::__serde::Deserializer<'de>>(d: D) -> ::std::result::Result<Self, D::Error> {
                match <$crate::vocabulary::Lenient<$name> as $crate::__serde::Deserialize>::deserialize(d)? {
                    $crate::vocabulary::Lenient::Known(t) => Ok(t),
                    $crate::vocabulary::Lenient::Unknown(s) => Err(<D::Error as $crate::__serde::de::Error>::custom(
                        $crate::vocabulary::UnknownTerm::new::<Self>(&s),
                    )),
                }
            }
        }
    };
}

/// A spelling no vocabulary value has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownTerm {
    /// What was looked up (`"lifecycle"`).
    pub what: &'static str,
    /// The spelling that was given.
    pub given: String,
    /// The canonical spellings that exist.
    pub known: Vec<&'static str>,
}

impl UnknownTerm {
    /// The error for `given` not being a `T`.
    pub fn new<T: Term>(given: &str) -> UnknownTerm {
        UnknownTerm {
            what: T::WHAT,
            given: given.to_string(),
            known: T::names(),
        }
    }
}

impl fmt::Display for UnknownTerm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown {} `{}` (one of: {})",
            self.what,
            self.given,
            self.known.join(", ")
        )
    }
}

impl std::error::Error for UnknownTerm {}

/// A value of vocabulary `T` as read from a package or manifest: a known value, or the spelling
/// as given when no value has it (kept, so it can be reported, never silently mapped).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Lenient<T> {
    /// A spelling of a value of `T`.
    Known(T),
    /// Any other spelling, as given (empty when the field was absent).
    Unknown(String),
}

impl<T: Term> Lenient<T> {
    /// `s` as a value of `T` (any known spelling), or kept as unknown.
    pub fn parse(s: &str) -> Lenient<T> {
        match T::from_name(s) {
            Some(t) => Lenient::Known(t),
            None => Lenient::Unknown(s.to_string()),
        }
    }

    /// `s` as a manifest may spell a value of `T` (no upstream-only spelling), or unknown.
    pub fn parse_flavor(s: &str) -> Lenient<T> {
        match T::from_flavor_name(s) {
            Some(t) => Lenient::Known(t),
            None => Lenient::Unknown(s.to_string()),
        }
    }

    /// The value, when the spelling is known.
    pub fn known(&self) -> Option<T> {
        match self {
            Lenient::Known(t) => Some(*t),
            Lenient::Unknown(_) => None,
        }
    }

    /// The canonical spelling of a known value, or the unknown spelling as given.
    pub fn as_str(&self) -> &str {
        match self {
            Lenient::Known(t) => t.name(),
            Lenient::Unknown(s) => s,
        }
    }

    /// True when the value is `t`.
    pub fn is(&self, t: T) -> bool {
        self.known() == Some(t)
    }

    /// The error to report for an unknown, non-empty spelling; `None` when known or absent.
    pub fn unrecognised(&self) -> Option<UnknownTerm> {
        match self {
            Lenient::Unknown(s) if !s.is_empty() => Some(UnknownTerm::new::<T>(s)),
            _ => None,
        }
    }
}

impl<T> Default for Lenient<T> {
    fn default() -> Self {
        Lenient::Unknown(String::new())
    }
}

impl<T> From<T> for Lenient<T> {
    fn from(t: T) -> Self {
        Lenient::Known(t)
    }
}

impl<T: Term> fmt::Display for Lenient<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<T: Term> Serialize for Lenient<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Reads a string (only a string: anything else is a type error).
impl<'de, T: Term> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Words<T>(std::marker::PhantomData<T>);
        impl<T: Term> Visitor<'_> for Words<T> {
            type Value = Lenient<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a {} name (a string)", T::WHAT)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Lenient<T>, E> {
                Ok(Lenient::parse(v))
            }
        }
        d.deserialize_str(Words(std::marker::PhantomData))
    }
}

crate::vocabulary! {
    /// When a slot is needed, as recorded in the metadata (PSPF.md §3). Launchers act on the
    /// metadata string; the descriptor byte ([`Lifecycle::descriptor_byte`]) is a hint.
    pub enum Lifecycle("lifecycle") {
        /// Extracted for setup, removed once setup has run.
        Init = "init" (upstream "initialization"),
        /// Needed at startup.
        Startup = "startup",
        /// Needed while running (upstream's default).
        Runtime = "runtime",
        /// Needed at shutdown.
        Shutdown = "shutdown",
        /// Extracted once and kept (flavor's default).
        Cache = "cache" (upstream "cached"),
        /// Temporary.
        Temp = "temp" (upstream "temporary"),
        /// Loaded on demand (no launcher does this yet).
        Lazy = "lazy",
        /// Loaded eagerly.
        Eager = "eager",
        /// Development only.
        Dev = "dev" (upstream "development"),
        /// Configuration.
        Config = "config",
        /// Platform specific.
        Platform = "platform",
        /// Re-extracted into the workenv on every launch (metadata only: no descriptor byte of
        /// its own).
        Volatile = "volatile",
        /// Provenance/SBOM data (upstream 0.5.4's `_attestation` slot).
        Attestation = "attestation",
    }
}

impl Lifecycle {
    /// The descriptor's lifecycle byte (PSPF.md §3). `volatile` has no byte of its own and is
    /// written as `runtime` (2), as upstream writers do for any lifecycle outside their enum.
    pub fn descriptor_byte(self) -> u8 {
        match self {
            Lifecycle::Init => 0,
            Lifecycle::Startup => 1,
            Lifecycle::Runtime | Lifecycle::Volatile => 2,
            Lifecycle::Shutdown => 3,
            Lifecycle::Cache => 4,
            Lifecycle::Temp => 5,
            Lifecycle::Lazy => 6,
            Lifecycle::Eager => 7,
            Lifecycle::Dev => 8,
            Lifecycle::Config => 9,
            Lifecycle::Platform => 10,
            Lifecycle::Attestation => 11,
        }
    }
}

crate::vocabulary! {
    /// What a slot holds, as recorded in the metadata. Informational: no launcher acts on it.
    pub enum Purpose("purpose") {
        /// The application (flavor's default).
        Payload = "payload",
        /// A language runtime.
        Runtime = "runtime",
        /// A helper tool.
        Tool = "tool",
        /// Data files.
        Data = "data",
        /// Configuration.
        Config = "config",
        /// Code (the Python writer's word).
        Code = "code",
        /// Media (the Python writer's word).
        Media = "media",
    }
}

impl Purpose {
    /// The descriptor's purpose byte, as the Rust and Go builders write it (PSPF.md §3):
    /// payload 0, runtime 1, tool 2, everything else 0.
    pub fn descriptor_byte(self) -> u8 {
        match self {
            Purpose::Runtime => 1,
            Purpose::Tool => 2,
            Purpose::Payload | Purpose::Data | Purpose::Config | Purpose::Code | Purpose::Media => {
                0
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifecycle_bytes_follow_the_format() {
        let bytes: Vec<(&str, u8)> = Lifecycle::ALL
            .iter()
            .map(|l| (l.name(), l.descriptor_byte()))
            .collect();
        assert_eq!(
            bytes,
            [
                ("init", 0),
                ("startup", 1),
                ("runtime", 2),
                ("shutdown", 3),
                ("cache", 4),
                ("temp", 5),
                ("lazy", 6),
                ("eager", 7),
                ("dev", 8),
                ("config", 9),
                ("platform", 10),
                ("volatile", 2),
                ("attestation", 11),
            ]
        );
    }

    #[test]
    fn upstream_spellings_are_aliases_and_unknown_ones_are_kept() {
        assert_eq!(Lifecycle::from_name("cached"), Some(Lifecycle::Cache));
        assert_eq!(Lifecycle::from_flavor_name("cached"), None, "upstream only");
        assert_eq!(Lifecycle::from_name("development"), Some(Lifecycle::Dev));
        assert_eq!(Lifecycle::from_name("Cache"), None);
        let kept: Lenient<Lifecycle> = serde_json::from_str("\"hibernate\"").unwrap();
        assert_eq!(kept, Lenient::Unknown("hibernate".into()));
        assert_eq!(serde_json::to_string(&kept).unwrap(), "\"hibernate\"");
        assert_eq!(
            kept.unrecognised().unwrap().to_string(),
            "unknown lifecycle `hibernate` (one of: init, startup, runtime, shutdown, cache, \
             temp, lazy, eager, dev, config, platform, volatile, attestation)"
        );
        let known: Lenient<Lifecycle> = serde_json::from_str("\"temporary\"").unwrap();
        assert_eq!(known, Lenient::Known(Lifecycle::Temp));
        assert_eq!(serde_json::to_string(&known).unwrap(), "\"temp\"");
        assert!(Lenient::<Lifecycle>::default().unrecognised().is_none());
        // The strict form refuses what the lenient one keeps.
        assert!(serde_json::from_str::<Lifecycle>("\"hibernate\"").is_err());
        assert!(serde_json::from_str::<Lenient<Lifecycle>>("3").is_err());
    }

    #[test]
    fn purpose_bytes_follow_the_rust_and_go_builders() {
        assert_eq!(Purpose::Payload.descriptor_byte(), 0);
        assert_eq!(Purpose::Runtime.descriptor_byte(), 1);
        assert_eq!(Purpose::Tool.descriptor_byte(), 2);
        assert_eq!(Purpose::Media.descriptor_byte(), 0);
    }
}

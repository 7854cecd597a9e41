//! Ordering versions as Semantic Versioning 2.0 orders them, for the rollback rule: `1.10.0`
//! is newer than `1.9.0`, `1.0.0-rc.1` older than `1.0.0`, build metadata (`+…`) ignored.
//! A string that is not `MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]` has no order.

use std::cmp::Ordering;

/// A parsed semantic version (build metadata dropped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    core: [u64; 3],
    pre: Vec<Identifier>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Identifier {
    Numeric(u64),
    Alpha(String),
}

/// A numeric identifier: digits without a leading zero.
fn number(s: &str) -> Option<u64> {
    let digits = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (digits && (s == "0" || !s.starts_with('0')))
        .then(|| s.parse().ok())
        .flatten()
}

fn identifier(s: &str) -> Option<Identifier> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return None;
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return number(s).map(Identifier::Numeric);
    }
    Some(Identifier::Alpha(s.to_string()))
}

impl Version {
    /// Parse `MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]`; `None` for anything else.
    pub fn parse(text: &str) -> Option<Version> {
        let (rest, build) = match text.split_once('+') {
            Some((r, b)) => (r, Some(b)),
            None => (text, None),
        };
        if build.is_some_and(|b| b.split('.').any(|i| identifier(i).is_none())) {
            return None;
        }
        let (core, pre) = match rest.split_once('-') {
            Some((c, p)) => (c, Some(p)),
            None => (rest, None),
        };
        let mut parts = core.split('.').map(number);
        let core = [parts.next()??, parts.next()??, parts.next()??];
        if parts.next().is_some() {
            return None;
        }
        let pre = match pre {
            None => Vec::new(),
            Some(p) => p.split('.').map(identifier).collect::<Option<Vec<_>>>()?,
        };
        Some(Version { core, pre })
    }
}

impl Ord for Identifier {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Identifier::Numeric(a), Identifier::Numeric(b)) => a.cmp(b),
            (Identifier::Numeric(_), Identifier::Alpha(_)) => Ordering::Less,
            (Identifier::Alpha(_), Identifier::Numeric(_)) => Ordering::Greater,
            (Identifier::Alpha(a), Identifier::Alpha(b)) => a.cmp(b),
        }
    }
}

impl PartialOrd for Identifier {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.core
            .cmp(&other.core)
            .then_with(|| match (self.pre.is_empty(), other.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => self.pre.cmp(&other.pre),
            })
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// How version `a` compares with `b`; `None` unless both are semantic versions.
pub fn compare(a: &str, b: &str) -> Option<Ordering> {
    Some(Version::parse(a)?.cmp(&Version::parse(b)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_specifications_precedence_example_holds() {
        let chain = [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
            "1.9.0",
            "1.10.0",
            "2.0.0",
        ];
        for w in chain.windows(2) {
            assert_eq!(compare(w[0], w[1]), Some(Ordering::Less), "{w:?}");
            assert_eq!(compare(w[1], w[0]), Some(Ordering::Greater), "{w:?}");
        }
        assert_eq!(compare("1.0.0+build.7", "1.0.0"), Some(Ordering::Equal));
    }

    #[test]
    fn what_is_not_semver_has_no_order() {
        for bad in [
            "1.0",
            "2020.1",
            "v1.0.0",
            "1.0.0.0",
            "01.0.0",
            "1.0.0-",
            "1.0.0-a..b",
            "1.0.0+",
            "1.0.0-01",
            "",
            "1.x.0",
            "99999999999999999999.0.0",
        ] {
            assert_eq!(Version::parse(bad), None, "{bad}");
            assert_eq!(compare(bad, "1.0.0"), None, "{bad}");
        }
    }
}

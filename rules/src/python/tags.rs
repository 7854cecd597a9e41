//! Which wheel of a locked package fits the interpreter: wheel file name tags
//! (`{name}-{version}(-{build})?-{python}-{abi}-{platform}.whl`, each tag possibly a
//! `.`-separated set) against CPython `3.N` on x86_64 Linux with glibc.

/// The interpreter wheels are chosen for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WheelTarget {
    /// `12` for CPython 3.12.
    pub minor: u32,
}

/// How well a wheel fits: higher is better; `None` when it does not fit.
/// Platform-specific beats pure, CPython-specific ABI beats `abi3`, and among manylinux
/// wheels the *oldest* glibc wins (the package then runs on more systems).
pub fn fit(file_name: &str, target: WheelTarget) -> Option<(u8, u8, i64)> {
    let stem = file_name.strip_suffix(".whl")?;
    let parts: Vec<&str> = stem.split('-').collect();
    if !(5..=6).contains(&parts.len()) {
        return None;
    }
    let [python, abi, platform] = [
        parts[parts.len() - 3],
        parts[parts.len() - 2],
        parts[parts.len() - 1],
    ];
    let cp = format!("cp3{}", target.minor);
    let py_ok = |p: &str| match p {
        "py3" => true,
        p if p == cp => true,
        p => (p.strip_prefix("py3").or_else(|| p.strip_prefix("cp3")))
            .and_then(|m| m.parse::<u32>().ok())
            .is_some_and(|m| m <= target.minor),
    };
    let abi_rank = abi
        .split('.')
        .filter_map(|a| match a {
            "none" => Some(0),
            "abi3" => Some(1),
            a if a == cp => Some(2),
            _ => None,
        })
        .max()?;
    let python_ok = python
        .split('.')
        .any(|p| py_ok(p) && (abi_rank != 2 || p == cp) && (abi_rank != 1 || p.starts_with("cp3")));
    if !python_ok {
        return None;
    }
    let platform_rank = platform
        .split('.')
        .filter_map(platform_glibc)
        .max_by_key(|g| {
            // `any` ranks below every manylinux tag; among manylinux, lower glibc ranks higher.
            g.map_or(i64::MIN, |(major, minor)| {
                -((major as i64) * 1000 + minor as i64)
            })
        })?;
    let (specific, glibc_rank) = match platform_rank {
        None => (0, 0),
        Some((major, minor)) => (1, -((major as i64) * 1000 + minor as i64)),
    };
    Some((specific, abi_rank, glibc_rank))
}

/// `any` → `Some(None)`; a manylinux x86_64 tag → `Some(Some((2, 17)))`; anything else
/// (other platforms, musllinux, plain `linux_x86_64`) → `None`.
fn platform_glibc(tag: &str) -> Option<Option<(u32, u32)>> {
    match tag {
        "any" => return Some(None),
        "manylinux1_x86_64" => return Some(Some((2, 5))),
        "manylinux2010_x86_64" => return Some(Some((2, 12))),
        "manylinux2014_x86_64" => return Some(Some((2, 17))),
        _ => {}
    }
    let rest = tag.strip_prefix("manylinux_")?.strip_suffix("_x86_64")?;
    let (major, minor) = rest.split_once('_')?;
    Some(Some((major.parse().ok()?, minor.parse().ok()?)))
}

#[cfg(test)]
mod tests {
    use super::*;
    const T: WheelTarget = WheelTarget { minor: 12 };

    #[test]
    fn wheels_fit_cpython_312_on_manylinux_x86_64() {
        assert_eq!(fit("cowsay-6.1-py3-none-any.whl", T), Some((0, 0, 0)));
        assert!(fit("colorama-0.4.6-py2.py3-none-any.whl", T).is_some());
        let m = "multidict-6.1.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl";
        assert_eq!(fit(m, T), Some((1, 2, -2017)));
        assert!(fit("x-1-cp38-abi3-manylinux_2_28_x86_64.whl", T).is_some());
        assert!(fit("x-1-cp313-cp313-manylinux_2_28_x86_64.whl", T).is_none());
        assert!(fit("x-1-cp312-cp312-musllinux_1_2_x86_64.whl", T).is_none());
        assert!(fit("x-1-cp312-cp312-manylinux_2_28_aarch64.whl", T).is_none());
        assert!(fit("x-1-cp312-cp312-win_amd64.whl", T).is_none());
        assert!(fit("x-1-cp311-cp311-manylinux_2_28_x86_64.whl", T).is_none());
        // Specific beats pure; the older glibc wins among manylinux wheels.
        let old = fit("x-1-cp312-cp312-manylinux_2_17_x86_64.whl", T);
        let new = fit("x-1-cp312-cp312-manylinux_2_28_x86_64.whl", T);
        assert!(old > new && new > fit("x-1-py3-none-any.whl", T));
    }
}

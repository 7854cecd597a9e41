//! Can the upstream FlavorPack launchers run this package? (PSPF.md, promise 1.)
//!
//! The measured upstream launchers (Rust 0.3.0, Rust 0.5.4, Go 0.5.4) run a package only when
//! it uses what they know: codecs raw, gzip, tar, tar.gz; no symbolic links inside archives
//! (0.5.4); no self-referential (`$SELF`) slot (0.5.4); no placeholders in `execution.env`
//! (Rust 0.3.0 and Go 0.5.4 pass them literally; Rust 0.5.4 expands them); a command whose
//! program is found through `{workenv}/bin` or `PATH`; and, for Rust 0.3.0, the metadata
//! fields its strict parser requires. [`upstream_compatibility`] lists every rule a package
//! breaks.

use crate::archive::for_each_member;
use crate::error::Result;
use crate::reader::Package;
use crate::verify::is_self_reference;

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incompatibility {
    /// Which upstream launchers are affected (`"all"`, `"rust-0.3.0"`, …).
    pub launchers: &'static str,
    /// Short rule name (`codec`, `symlink`, `self-ref`, `env-placeholder`, `command`,
    /// `metadata`).
    pub rule: &'static str,
    /// What exactly breaks it.
    pub detail: String,
}

fn has_placeholder(s: &str) -> bool {
    ["{workenv}", "{package_name}", "{version}"]
        .iter()
        .any(|p| s.contains(p))
}

/// Every rule of promise 1 this package breaks (empty = upstream launchers can run it).
/// Reads tar slots to look for symbolic links, so it costs one pass over their data.
pub fn upstream_compatibility(pkg: &Package) -> Result<Vec<Incompatibility>> {
    let meta = pkg.metadata()?;
    let mut out = Vec::new();
    for i in 0..pkg.slot_count() {
        let id = meta.slots.get(i).map(|s| s.id.as_str()).unwrap_or("?");
        if let Some(m) = meta.slots.get(i)
            && is_self_reference(m, &pkg.descriptors()[i])
        {
            out.push(Incompatibility {
                launchers: "rust-0.5.4, go-0.5.4",
                rule: "self-ref",
                detail: format!(
                    "slot {i} ({id}) refers to the package itself ($SELF); 0.5.4 launchers check its all-zero checksum and refuse the package"
                ),
            });
            continue;
        }
        let codec = match pkg.slot_codec(i) {
            Ok(c) => c,
            Err(e) => {
                out.push(Incompatibility {
                    launchers: "all",
                    rule: "codec",
                    detail: format!("slot {i} ({id}): {e}"),
                });
                continue;
            }
        };
        if !codec.upstream_readable() {
            out.push(Incompatibility {
                launchers: "all",
                rule: "codec",
                detail: format!(
                    "slot {i} ({id}) uses {codec}; upstream launchers decode only raw, gzip, tar and tar.gz"
                ),
            });
        } else if codec.is_tar() {
            let mut links = Vec::new();
            for_each_member(pkg.slot_reader(i)?, |member, _| {
                if member.kind.is_symlink() {
                    links.push(member.path.display().to_string());
                }
                Ok(())
            })?;
            if !links.is_empty() {
                out.push(Incompatibility {
                    launchers: "rust-0.5.4, go-0.5.4",
                    rule: "symlink",
                    detail: format!(
                        "slot {i} ({id}) contains symbolic links ({}), which 0.5.4 launchers refuse",
                        links.join(", ")
                    ),
                });
            }
        }
    }
    for (k, v) in &meta.execution.env {
        if has_placeholder(v) {
            out.push(Incompatibility {
                launchers: "rust-0.3.0, go-0.5.4",
                rule: "env-placeholder",
                detail: format!(
                    "execution.env {k}={v:?} uses a placeholder; Rust 0.3.0 and Go 0.5.4 pass it literally (Rust 0.5.4 expands it)"
                ),
            });
        }
    }
    let program = meta
        .execution
        .command
        .split_whitespace()
        .next()
        .unwrap_or("");
    let directly_in = |dir: &str| {
        program
            .strip_prefix(dir)
            .is_some_and(|rest| !rest.is_empty() && !rest.contains('/'))
    };
    // Rust 0.3.0 looks an absolute program up by its basename in PATH: that finds
    // `{workenv}/bin/x` (the workenv's bin is first on PATH) and `/bin/x`, `/usr/bin/x` (on
    // every PATH) again, so those run (measured: the kit's `/bin/echo` package runs there).
    let found_by_basename = ["{workenv}/bin/", "/bin/", "/usr/bin/"]
        .into_iter()
        .any(directly_in);
    if !found_by_basename && program.contains('/') {
        out.push(Incompatibility {
            launchers: "rust-0.3.0",
            rule: "command",
            detail: format!(
                "program {program:?} is neither a bare name nor in {{workenv}}/bin, /bin or /usr/bin; Rust 0.3.0 looks up only its basename in PATH"
            ),
        });
    }
    if meta.execution.primary_slot.is_none() {
        out.push(Incompatibility {
            launchers: "rust-0.3.0",
            rule: "metadata",
            detail: "execution.primary_slot is missing (Rust 0.3.0 exits 104)".into(),
        });
    }
    if let Some(build) = &meta.build
        && build.pointer("/platform/host").is_none()
    {
        out.push(Incompatibility {
            launchers: "rust-0.3.0",
            rule: "metadata",
            detail: "build.platform.host is missing (Rust 0.3.0 exits 104)".into(),
        });
    }
    Ok(out)
}

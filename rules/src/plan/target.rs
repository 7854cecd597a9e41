//! A package's outputs: one per selected `[[target]]` (or the one output of a package without
//! targets), each with its platform, its path, the launcher chosen for it
//! ([`crate::launcher::choose`]) and the codec each slot gets there. Every problem of every
//! target (no launcher, one of another platform, a codec the launcher cannot decode) is
//! reported together, at its place in the manifest.

use super::Planner;
use crate::Error;
use crate::diagnostic::{ManifestErrors, Problem};
use crate::launcher::choose::how_to_get;
use crate::launcher::{Asked, Chosen, Launchers, Refusal, Source};
use crate::manifest::{Manifest, Package, Slot, Target};
use crate::select::Selected;
use pspf::{Codec, Platform};
use std::ops::Range;
use std::path::PathBuf;

/// One output of a package, as planned.
pub(super) struct TargetPlan {
    /// The `[[target]]` it is for (none for a package without targets).
    pub name: Option<String>,
    /// Its platform.
    pub platform: Platform,
    /// Where it is written.
    pub path: PathBuf,
    /// The launcher in front.
    pub launcher: Chosen,
    /// Per slot, in order: the codec this target gives it.
    pub codecs: Vec<SlotCodec>,
}

/// One output of a package as the manifest describes it, with the launcher a build would
/// choose for it or why none can be (for `flavor list`).
#[derive(Debug, Clone)]
pub struct OutputInfo {
    /// The `[[target]]` it is for (none for a package without targets).
    pub target: Option<String>,
    /// Its platform.
    pub platform: Platform,
    /// Where it is written.
    pub path: PathBuf,
    /// The launcher a build would put in front, or the problem that stops it.
    pub launcher: Result<Chosen, Problem>,
}

/// Every output of the package of `m` (all targets), with its launcher (`launchers`).
pub fn outputs_of(m: &Manifest, launchers: &Launchers) -> Result<Vec<OutputInfo>, Error> {
    let Some(pkg) = &m.package else {
        return Ok(Vec::new());
    };
    let all = Selected {
        manifest: m,
        targets: None,
    };
    Ok(described(m, pkg, &all, launchers)?
        .into_iter()
        .map(|d| OutputInfo {
            target: d.name,
            platform: d.platform,
            path: d.path,
            launcher: d.launcher,
        })
        .collect())
}

/// Where every output of the package of `m` is written (all targets), as `flavor build`
/// writes them — for commands that find or remove them (`flavor clean`).
pub fn output_paths(m: &Manifest) -> Result<Vec<PathBuf>, Error> {
    let Some(pkg) = &m.package else {
        return Ok(Vec::new());
    };
    let host = Platform::host();
    if pkg.targets.is_empty() {
        let platform = host.ok_or_else(no_host)?;
        return Ok(vec![output_path(m, &pkg.name.value, None, platform)]);
    }
    (pkg.targets.iter())
        .map(|t| {
            Ok(output_path(
                m,
                &pkg.name.value,
                Some(t),
                target_platform(t, host)?,
            ))
        })
        .collect()
}

/// The platform a target builds for: its `platform`, else the host's.
fn target_platform(t: &Target, host: Option<Platform>) -> Result<Platform, Error> {
    match (&t.platform, host) {
        (Some(p), _) => Ok(p.value),
        (None, Some(h)) => Ok(h),
        (None, None) => Err(no_host()),
    }
}

/// Where one output is written: the target's `output`, else `dist/` and the default name.
fn output_path(m: &Manifest, package: &str, t: Option<&Target>, platform: Platform) -> PathBuf {
    let dist = m.dir.join("dist");
    match t {
        None => dist.join(format!("{package}.psp")),
        Some(t) => match &t.output {
            Some(o) => m.dir.join(&o.value),
            None => dist.join(default_file(package, t, platform)),
        },
    }
}

/// An output before its problems are gathered.
struct Described {
    name: Option<String>,
    platform: Platform,
    path: PathBuf,
    launcher: Result<Chosen, Problem>,
    target: Option<usize>,
}

fn no_host() -> Error {
    Error::NoHostPlatform {
        os: std::env::consts::OS,
        arch: std::env::consts::ARCH,
    }
}

/// The outputs of `pkg` that `selected` asks for, each with its launcher or the problem.
fn described(
    m: &Manifest,
    pkg: &Package,
    selected: &Selected<'_>,
    launchers: &Launchers,
) -> Result<Vec<Described>, Error> {
    let host = Platform::host();
    let name = &pkg.name.value;
    let mut out = Vec::new();
    if pkg.targets.is_empty() {
        let platform = host.ok_or_else(no_host)?;
        let what = format!("package `{name}` ({platform})");
        out.push(Described {
            name: None,
            platform,
            path: output_path(m, name, None, platform),
            launcher: launcher(launchers, platform, None, &what, None),
            target: None,
        });
    }
    for (i, t) in pkg.targets.iter().enumerate() {
        if !selected.builds_target(i) {
            continue;
        }
        let platform = target_platform(t, host)?;
        let what = format!("target `{}` of package `{name}` ({platform})", t.name.value);
        let place =
            (t.platform.as_ref().and_then(|p| p.span.clone())).or_else(|| t.name.span.clone());
        out.push(Described {
            name: Some(t.name.value.clone()),
            platform,
            path: output_path(m, name, Some(t), platform),
            launcher: launcher(launchers, platform, Some((m, t)), &what, place),
            target: Some(i),
        });
    }
    Ok(out)
}

/// The codec a slot gets in one target's package.
#[derive(Debug, Clone)]
pub(super) struct SlotCodec {
    /// The codec the manifest gives it for this target (the target's `codecs`, else the
    /// slot's `codec`); `None`: the default for its contents.
    pub given: Option<Codec>,
    /// Whether the slot's `level` applies (the codec is the slot's own).
    pub own_level: bool,
    /// What the target's launcher decodes (a default codec it cannot is replaced).
    pub decodes: Vec<Codec>,
}

impl SlotCodec {
    /// The codec for contents whose default is `default`: the given one, else the default,
    /// else — when the launcher cannot decode that — its gzip counterpart.
    pub fn pick(&self, default: Codec) -> Codec {
        if let Some(c) = self.given {
            return c;
        }
        if self.decodes.contains(&default) {
            return default;
        }
        let fallback = decodable_counterpart(default);
        if self.decodes.contains(&fallback) {
            fallback
        } else {
            default
        }
    }
}

/// The codec every launcher decodes that stores what `codec` does: gzip for zstd.
fn decodable_counterpart(codec: Codec) -> Codec {
    match codec {
        Codec::Zstd => Codec::Gzip,
        Codec::TarZst => Codec::TarGz,
        other => other,
    }
}

/// `tar.gz` for `tar.zst`, `gzip` for `zstd`, `tar.gz` for anything else with a tar.
fn suggestion(codec: Codec) -> Codec {
    match codec {
        Codec::Zstd | Codec::Gzip | Codec::Raw => Codec::Gzip,
        _ => Codec::TarGz,
    }
}

impl Planner<'_> {
    /// The outputs of `pkg` that `selected` asks for, or every problem they have.
    pub(super) fn targets(
        &self,
        m: &Manifest,
        pkg: &Package,
        selected: &Selected<'_>,
    ) -> Result<Vec<TargetPlan>, Error> {
        let mut problems = Vec::new();
        let mut plans = Vec::new();
        for d in described(m, pkg, selected, &self.opts.launchers)? {
            let launcher = match d.launcher {
                Ok(l) => l,
                Err(problem) => {
                    problems.push(problem);
                    continue;
                }
            };
            let what = match &d.name {
                Some(t) => format!(
                    "target `{t}` of package `{}` ({})",
                    pkg.name.value, d.platform
                ),
                None => format!("package `{}` ({})", pkg.name.value, d.platform),
            };
            let target = d.target.map(|i| &pkg.targets[i]);
            let codecs = slot_codecs(pkg, target, &launcher, &what, &mut problems);
            plans.push(TargetPlan {
                name: d.name,
                platform: d.platform,
                path: d.path,
                launcher,
                codecs,
            });
        }
        if problems.is_empty() {
            Ok(plans)
        } else {
            let file = m.path.display().to_string();
            Err(Error::Manifest(ManifestErrors::new(
                &file, &m.text, problems,
            )))
        }
    }
}

/// The launcher for `platform`, or the problem that stops every launcher.
fn launcher(
    launchers: &Launchers,
    platform: Platform,
    target: Option<(&Manifest, &Target)>,
    what: &str,
    place: Option<Range<usize>>,
) -> Result<Chosen, Problem> {
    let key = target.and_then(|(m, t)| t.launcher.as_ref().map(|l| (m, l)));
    let key_path = key.map(|(m, l)| m.dir.join(&l.value));
    let asked = match (key, &key_path) {
        (Some((_, l)), _) if l.value == "builtin" => Asked::Builtin,
        (Some(_), Some(path)) => Asked::Path(path, Source::Key),
        _ => Asked::Nothing,
    };
    let key_span = key.and_then(|(_, l)| l.span.clone());
    match launchers.choose(platform, asked) {
        Ok(chosen) => Ok(chosen),
        Err(Refusal::WrongPlatform { path, identity }) => {
            let from_key = key_path.as_ref() == Some(&path);
            let problem = Problem::new(
                format!(
                    "{what}: launcher {} is {} for {}, not for {platform}",
                    path.display(),
                    identity.kind.describe(),
                    identity.platform
                ),
                if from_key { key_span } else { place },
            )
            .label(format!("a {} launcher", identity.platform));
            Err(if from_key {
                problem.help(format!(
                    "point `launcher` at a {platform} launcher, or leave it out to use \
                     flavor's own or one added with `flavor launcher add` (`flavor launcher \
                     list` shows them)"
                ))
            } else {
                problem.help(format!(
                    "--launcher is used for every target built: build only the {p} targets \
                     (--target {p}), or give a {platform} launcher",
                    p = identity.platform
                ))
            })
        }
        Err(Refusal::NoneFound { looked }) => Err(Problem::new(
            format!("{what}: no launcher for {platform}"),
            place,
        )
        .label(format!("no {platform} launcher"))
        .help(format!(
            "looked at: {}. To get one: {}",
            looked.join("; "),
            how_to_get(platform)
        ))),
        Err(Refusal::Failed(e)) => Err(Problem::new(format!("{what}: {e}"), key_span.or(place))),
    }
}

/// The codec of every slot of `pkg` in the package of `target`, reporting codecs the
/// launcher cannot decode.
fn slot_codecs(
    pkg: &Package,
    target: Option<&Target>,
    launcher: &Chosen,
    what: &str,
    problems: &mut Vec<Problem>,
) -> Vec<SlotCodec> {
    let decodes = launcher.identity.codecs.clone();
    pkg.slots
        .iter()
        .map(|slot| {
            let per_target = target.and_then(|t| t.codecs.get(&slot.id.value));
            let (given, span) = match per_target {
                Some(c) => (Some(c.value), c.span.clone()),
                None => (slot.codec, slot.codec_span.clone()),
            };
            if let Some(codec) = given
                && !decodes.contains(&codec)
            {
                problems.push(codec_problem(slot, codec, span, target, launcher, what));
            }
            SlotCodec {
                given,
                own_level: per_target.is_none_or(|c| Some(c.value) == slot.codec),
                decodes: decodes.clone(),
            }
        })
        .collect()
}

/// A slot stored with a codec the target's launcher cannot decode.
fn codec_problem(
    slot: &Slot,
    codec: Codec,
    span: Option<Range<usize>>,
    target: Option<&Target>,
    launcher: &Chosen,
    what: &str,
) -> Problem {
    let id = &slot.id.value;
    let decodes: Vec<&str> = launcher.identity.codecs.iter().map(|c| c.name()).collect();
    let fix = suggestion(codec);
    let per_target = match target {
        Some(t) => format!(
            "give target `{}` codecs = {{ {id} = \"{fix}\" }}, or leave `codec` out of the slot \
             so that each target gets the best codec its launcher decodes",
            t.name.value
        ),
        None => format!("set codec = \"{fix}\" on the slot"),
    };
    Problem::new(
        format!(
            "{what}: slot `{id}` is stored as {codec}, which its launcher, {}, cannot decode",
            launcher.describe()
        ),
        span,
    )
    .label(format!("{codec}: not decodable by that launcher"))
    .help(format!(
        "that launcher decodes {}: {per_target}",
        decodes.join(", ")
    ))
}

/// `<package>-<target>.psp`, with `-<platform>` when the target is not named after its
/// platform, and `.exe` instead of `.psp` for Windows.
fn default_file(package: &str, t: &Target, platform: Platform) -> String {
    let ext = match platform {
        Platform::WindowsX86_64 => "exe",
        _ => "psp",
    };
    if Platform::from_flavor_name(&t.name.value) == Some(platform) {
        format!("{package}-{}.{ext}", t.name.value)
    } else {
        format!("{package}-{}-{platform}.{ext}", t.name.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_the_launcher_cannot_decode_become_their_gzip_counterparts() {
        let upstream = SlotCodec {
            given: None,
            own_level: true,
            decodes: crate::launcher::UPSTREAM_CODECS.to_vec(),
        };
        assert_eq!(upstream.pick(Codec::TarZst), Codec::TarGz);
        assert_eq!(upstream.pick(Codec::Zstd), Codec::Gzip);
        assert_eq!(upstream.pick(Codec::Raw), Codec::Raw);
        let ours = SlotCodec {
            decodes: Codec::ALL.to_vec(),
            ..upstream.clone()
        };
        assert_eq!(ours.pick(Codec::TarZst), Codec::TarZst);
        let given = SlotCodec {
            given: Some(Codec::Tar),
            ..upstream
        };
        assert_eq!(given.pick(Codec::TarZst), Codec::Tar);
    }
}

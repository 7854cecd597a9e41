//! One upstream `slots[]` entry → one `[[slot]]` table: id, source path, codec (from
//! `operations`), target, lifecycle, purpose and permissions.

use super::importer::{Importer, text};
use super::paths::{normalize, relative_to, strip_workenv};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Component, Path};

/// The flavor codec for upstream `operations`, and the suffixes a ready-made file of that
/// encoding carries.
fn codec_of(ops: &str) -> Option<(&'static str, &'static [&'static str])> {
    let words: Vec<String> = ops
        .to_ascii_lowercase()
        .split(['|', '+', ',', ' '])
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect();
    let joined = words.join("+");
    Some(match joined.as_str() {
        "" | "none" | "raw" => ("raw", &[]),
        "gzip" | "gz" => ("gzip", &[".gz"]),
        "zstd" | "zst" => ("zstd", &[".zst"]),
        "tar" => ("tar", &[".tar"]),
        "tgz" | "tar.gz" | "tar+gzip" | "tar+gz" => ("tar.gz", &[".tar.gz", ".tgz"]),
        "tar.zst" | "tzst" | "tar+zstd" | "tar+zst" => ("tar.zst", &[".tar.zst", ".tzst"]),
        _ => return None,
    })
}

/// The lifecycle upstream's spelling names, as flavor spells it.
fn lifecycle_of(l: &str) -> Option<&'static str> {
    pspf::Lifecycle::from_name(l).map(|l| l.name())
}

pub(super) struct Slot {
    pub(super) id: String,
    pub(super) source: String,
    pub(super) target: Option<String>,
    pub(super) codec: Option<String>,
    pub(super) lifecycle: Option<String>,
    pub(super) permissions: Option<String>,
    pub(super) purpose: Option<String>,
}

impl Importer {
    /// A source path relative to the output directory.
    fn source(&mut self, id: &str, raw: &str) -> String {
        let s = match strip_workenv(raw) {
            Some(rest) => {
                self.workenv_sources = true;
                if rest.is_empty() { "." } else { rest }
            }
            None => raw,
        };
        if s.contains('{') {
            self.warn(format!(
                "slot `{id}`: source {raw:?} has a placeholder flavor does not expand"
            ));
        }
        let path = Path::new(s);
        if path.is_absolute() {
            if path.exists() {
                return relative_to(&normalize(path), &self.out_dir)
                    .display()
                    .to_string();
            }
            let file = path
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_else(|| id.to_string());
            self.warn(format!(
                "slot `{id}`: absolute source {s} does not exist here; now `{file}` beside \
                 flavor.toml (copy the file there or fix the path)"
            ));
            return file;
        }
        relative_to(&normalize(&self.base.join(path)), &self.out_dir)
            .display()
            .to_string()
    }

    pub(super) fn slot(&mut self, i: usize, v: &Value, ids: &mut BTreeSet<String>) -> Option<Slot> {
        let Some(m) = v.as_object() else {
            self.warn(format!("slots[{i}] is not an object; left out"));
            return None;
        };
        let mut id = match (text(m.get("id")), text(m.get("name"))) {
            (Some(id), _) if !id.is_empty() => id,
            (_, Some(name)) if !name.is_empty() => {
                self.warn(format!(
                    "slots[{i}] has `name` instead of `id` (upstream builders reject this); \
                     used as the id `{name}`"
                ));
                name
            }
            _ => {
                self.warn(format!("slots[{i}] has no id; named `slot{i}`"));
                format!("slot{i}")
            }
        };
        if let Some(why) = flavor_rules::manifest::bad_name(&id) {
            let fixed: String = id
                .chars()
                .filter(|c| !c.is_control())
                .map(|c| if c == '/' || c == '\\' { '-' } else { c })
                .collect();
            let fixed = match fixed.as_str() {
                "" | "." | ".." => format!("slot{i}"),
                _ => fixed,
            };
            self.warn(format!(
                "slot id {id:?} {why} (flavor uses slot ids in file names); now `{fixed}`"
            ));
            id = fixed;
        }
        if !ids.insert(id.clone()) {
            let renamed = format!("{id}-{i}");
            self.warn(format!(
                "slot id `{id}` appears twice; the second is `{renamed}`"
            ));
            id = renamed;
            ids.insert(id.clone());
        }
        if let Some(n) = m.get("slot").and_then(Value::as_u64)
            && n != i as u64
        {
            self.warn(format!(
                "slot `{id}` declares \"slot\": {n} at position {i} (upstream builders reject \
                 this); flavor numbers slots in list order"
            ));
        }
        if m.get("self_ref").and_then(Value::as_bool) == Some(true) {
            self.warn(format!(
                "slot `{id}` refers to the package itself (self_ref); flavor has no such slot; \
                 left out"
            ));
            return None;
        }
        let raw_source = match (text(m.get("source")), text(m.get("path"))) {
            (Some(s), _) if !s.is_empty() => s,
            (_, Some(p)) if !p.is_empty() => {
                self.warn(format!(
                    "slot `{id}` has `path` instead of `source` (upstream builders reject this); \
                     used as its source"
                ));
                p
            }
            _ => {
                self.warn(format!("slot `{id}` has no source; left out"));
                return None;
            }
        };
        let mut source = self.source(&id, &raw_source);
        let ops = text(m.get("operations")).unwrap_or_default();
        let codec = match codec_of(&ops) {
            Some(c) => Some(c),
            None => {
                self.warn(format!(
                    "slot `{id}`: operations {ops:?} have no flavor codec; the default codec is used"
                ));
                None
            }
        };
        if let Some((name, suffixes)) = codec {
            let is_dir = self.out_dir.join(&source).is_dir();
            let pre = suffixes
                .iter()
                .find(|s| source.len() > s.len() && source.ends_with(*s));
            if let (false, Some(suffix)) = (is_dir, pre) {
                let decoded = source[..source.len() - suffix.len()].to_string();
                let how = match name {
                    "gzip" => format!("gunzip -k {source}"),
                    "zstd" => format!("zstd -d {source}"),
                    "tar" => format!("mkdir -p {decoded} && tar -xf {source} -C {decoded}"),
                    "tar.gz" => format!("mkdir -p {decoded} && tar -xzf {source} -C {decoded}"),
                    _ => format!("mkdir -p {decoded} && tar --zstd -xf {source} -C {decoded}"),
                };
                self.warn(format!(
                    "slot `{id}`: upstream stores the ready-made {source} as given, while flavor \
                     encodes ({name}) the source itself; the source is now `{decoded}` — make it \
                     with `{how}`"
                ));
                source = decoded;
            }
        }
        let target = match text(m.get("target")) {
            None => None,
            Some(t) => {
                let t = match strip_workenv(&t) {
                    Some("") => ".".to_string(),
                    Some(rest) => rest.to_string(),
                    None => t,
                };
                let p = Path::new(&t);
                if t.is_empty() {
                    None
                } else if p.is_absolute() || p.components().any(|c| c == Component::ParentDir) {
                    self.warn(format!(
                        "slot `{id}`: target {t:?} leaves the work environment; left out"
                    ));
                    None
                } else {
                    Some(t)
                }
            }
        };
        // A source outside this directory cannot be its own target.
        let target = target.or_else(|| {
            let p = Path::new(&source);
            (p.is_absolute() || p.components().any(|c| c == Component::ParentDir))
                .then(|| p.file_name().map(|f| f.to_string_lossy().into_owned()))
                .flatten()
        });
        let lifecycle = text(m.get("lifecycle")).and_then(|l| match lifecycle_of(&l) {
            Some(k) => Some(k.to_string()),
            None => {
                self.warn(format!(
                    "slot `{id}`: lifecycle {l:?} is not one flavor knows; left out (default: cache)"
                ));
                None
            }
        });
        let purpose = text(m.get("purpose")).and_then(|p| {
            if let Some(known) = pspf::Purpose::from_name(&p) {
                Some(known.name().to_string())
            } else {
                self.warn(format!(
                    "slot `{id}`: purpose {p:?} is not one flavor knows ({}); left out",
                    <pspf::Purpose as pspf::Term>::names().join(", ")
                ));
                None
            }
        });
        let permissions = text(m.get("permissions")).and_then(|p| {
            if pspf::metadata::parse_mode(&p).is_some() {
                Some(p)
            } else {
                self.warn(format!(
                    "slot `{id}`: permissions {p:?} are not an octal mode; left out"
                ));
                None
            }
        });
        if let Some(r) = text(m.get("resolution")).filter(|r| r != "build") {
            self.warn(format!(
                "slot `{id}`: resolution {r:?} is not supported; flavor resolves every slot at build time"
            ));
        }
        self.unknown_keys(
            m,
            &[
                "slot",
                "id",
                "name",
                "source",
                "path",
                "target",
                "operations",
                "purpose",
                "lifecycle",
                "permissions",
                "resolution",
                "self_ref",
                "size",
                "checksum",
            ],
            &format!("slot `{id}`: "),
        );
        Some(Slot {
            id,
            source,
            target,
            codec: codec.map(|(c, _)| c.to_string()),
            lifecycle,
            permissions,
            purpose,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codecs_map_from_upstream_operations() {
        assert_eq!(codec_of("none").unwrap().0, "raw");
        assert_eq!(codec_of("tgz").unwrap().0, "tar.gz");
        assert_eq!(codec_of("TAR|GZIP").unwrap().0, "tar.gz");
        assert!(codec_of("bzip2").is_none());
    }
}

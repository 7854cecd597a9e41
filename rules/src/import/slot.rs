//! One upstream `slots[]` entry → one `[[slot]]` table: id, source path, codec (from
//! `operations`), target, lifecycle, purpose and permissions.

use super::{Importer, text};
use crate::manifest::bad_name;
use crate::paths::{lexical, relative_to};
use pspf::{Codec, Lifecycle, Purpose, Term};
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::path::{Component, Path};
use toml_edit::{Table, value};

/// Keys of an upstream slot the conversion reads (or knows it may drop).
const SLOT_KEYS: &[&str] = &[
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
];

/// The codec upstream `operations` name (any case, any of `| + , space` between words, `gz`
/// and `zst` for `gzip` and `zstd`).
fn codec_of(ops: &str) -> Option<Codec> {
    let lower = ops.to_ascii_lowercase();
    let words: Vec<&str> = (lower.split(['|', '+', ',', ' ']))
        .filter(|w| !w.is_empty())
        .map(|w| match w {
            "gz" => "gzip",
            "zst" => "zstd",
            w => w,
        })
        .collect();
    Codec::from_name(&words.join(","))
}

/// The suffixes a ready-made file encoded with `codec` carries.
fn suffixes(codec: Codec) -> &'static [&'static str] {
    match codec {
        Codec::Raw => &[],
        Codec::Gzip => &[".gz"],
        Codec::Zstd => &[".zst"],
        Codec::Tar => &[".tar"],
        Codec::TarGz => &[".tar.gz", ".tgz"],
        Codec::TarZst => &[".tar.zst", ".tzst"],
    }
}

/// The command that decodes the ready-made `file` into `decoded`.
fn decode_command(codec: Codec, file: &str, decoded: &str) -> String {
    match codec {
        Codec::Raw => String::new(),
        Codec::Gzip => format!("gunzip -k {file}"),
        Codec::Zstd => format!("zstd -d {file}"),
        Codec::Tar => format!("mkdir -p {decoded} && tar -xf {file} -C {decoded}"),
        Codec::TarGz => format!("mkdir -p {decoded} && tar -xzf {file} -C {decoded}"),
        Codec::TarZst => format!("mkdir -p {decoded} && tar --zstd -xf {file} -C {decoded}"),
    }
}

fn leaves(p: &Path) -> bool {
    p.is_absolute() || p.components().any(|c| c == Component::ParentDir)
}

/// Strip a leading `{workenv}` (and the `/` after it).
fn strip_workenv(s: &str) -> Option<&str> {
    s.strip_prefix("{workenv}")
        .map(|r| r.trim_start_matches('/'))
}

impl Importer {
    /// The `[[slot]]` table for `slots[i]`, or `None` when it cannot be carried over.
    pub(super) fn slot(
        &mut self,
        i: usize,
        v: &Value,
        ids: &mut BTreeSet<String>,
    ) -> Option<Table> {
        let Some(m) = v.as_object() else {
            self.warn(format!("slots[{i}] is not an object; left out"));
            return None;
        };
        let id = self.slot_id(i, m, ids);
        if m.get("self_ref").and_then(Value::as_bool) == Some(true) {
            self.warn(format!(
                "slot `{id}` refers to the package itself (self_ref); flavor has no such slot; \
                 left out"
            ));
            return None;
        }
        let raw_source = self.raw_source(&id, m)?;
        let mut source = self.source(&id, &raw_source);
        let ops = text(m.get("operations")).unwrap_or_default();
        let codec = codec_of(&ops);
        match codec {
            Some(codec) => source = self.ready_made(&id, codec, source),
            None => self.warn(format!(
                "slot `{id}`: operations {ops:?} have no flavor codec; the default codec is used"
            )),
        }
        let target = self.target(&id, m).or_else(|| {
            // A source outside this directory cannot be its own target.
            let p = Path::new(&source);
            leaves(p)
                .then(|| p.file_name().map(|f| f.to_string_lossy().into_owned()))
                .flatten()
        });
        let mut t = Table::new();
        t.insert("id", value(&id));
        t.insert("source", value(&source));
        if let Some(x) = target {
            t.insert("target", value(x));
        }
        if let Some(c) = codec {
            t.insert("codec", value(c.name()));
        }
        self.vocabulary(&id, m, &mut t);
        self.unknown_keys(m, SLOT_KEYS, &format!("slot `{id}`: "));
        Some(t)
    }

    /// The slot's id: `id`, else `name`, made a valid, unused name.
    fn slot_id(&mut self, i: usize, m: &Map<String, Value>, ids: &mut BTreeSet<String>) -> String {
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
        if let Some(why) = bad_name(&id) {
            let fixed: String = (id.chars())
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
        id
    }

    /// `source`, else `path`; `None` (warned) when there is neither.
    fn raw_source(&mut self, id: &str, m: &Map<String, Value>) -> Option<String> {
        match (text(m.get("source")), text(m.get("path"))) {
            (Some(s), _) if !s.is_empty() => Some(s),
            (_, Some(p)) if !p.is_empty() => {
                self.warn(format!(
                    "slot `{id}` has `path` instead of `source` (upstream builders reject this); \
                     used as its source"
                ));
                Some(p)
            }
            _ => {
                self.warn(format!("slot `{id}` has no source; left out"));
                None
            }
        }
    }

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
        if path.is_absolute() && !path.exists() {
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
        let absolute = lexical(&self.base.join(path));
        let relative = relative_to(&absolute, &self.out_dir);
        if leaves(&relative) {
            let dir = relative.parent().unwrap_or(&relative).display().to_string();
            self.warn(format!(
                "slot `{id}`: source {} is outside this directory; `flavor build` reads it only \
                 if it is inside the workspace or [package] allow_sources_outside lists {dir:?}",
                relative.display()
            ));
        }
        relative.display().to_string()
    }

    /// For a codec the source is a ready-made encoded file of (`lib.tgz`): the directory or
    /// file it decodes to, which flavor encodes itself, with a warning saying how to make it.
    fn ready_made(&mut self, id: &str, codec: Codec, source: String) -> String {
        if self.out_dir.join(&source).is_dir() {
            return source;
        }
        let Some(suffix) =
            (suffixes(codec).iter()).find(|s| source.len() > s.len() && source.ends_with(*s))
        else {
            return source;
        };
        let decoded = source[..source.len() - suffix.len()].to_string();
        self.warn(format!(
            "slot `{id}`: upstream stores the ready-made {source} as given, while flavor encodes \
             ({codec}) the source itself; the source is now `{decoded}` — make it with `{}`",
            decode_command(codec, &source, &decoded)
        ));
        decoded
    }

    /// `target`, without a leading `{workenv}`; `None` when absent or leaving the workenv.
    fn target(&mut self, id: &str, m: &Map<String, Value>) -> Option<String> {
        let t = text(m.get("target"))?;
        let t = match strip_workenv(&t) {
            Some("") => ".".to_string(),
            Some(rest) => rest.to_string(),
            None => t,
        };
        if t.is_empty() {
            None
        } else if leaves(Path::new(&t)) {
            self.warn(format!(
                "slot `{id}`: target {t:?} leaves the work environment; left out"
            ));
            None
        } else {
            Some(t)
        }
    }

    /// `lifecycle`, `permissions` and `purpose`, each as flavor spells it, or left out.
    fn vocabulary(&mut self, id: &str, m: &Map<String, Value>, t: &mut Table) {
        if let Some(l) = text(m.get("lifecycle")) {
            match Lifecycle::from_name(&l) {
                Some(k) => {
                    t.insert("lifecycle", value(k.name()));
                }
                None => self.warn(format!(
                    "slot `{id}`: lifecycle {l:?} is not one flavor knows; left out (default: \
                     cache)"
                )),
            }
        }
        if let Some(p) = text(m.get("permissions")) {
            if pspf::metadata::parse_mode(&p).is_some() {
                t.insert("permissions", value(p));
            } else {
                self.warn(format!(
                    "slot `{id}`: permissions {p:?} are not an octal mode; left out"
                ));
            }
        }
        if let Some(p) = text(m.get("purpose")) {
            match Purpose::from_name(&p) {
                Some(k) => {
                    t.insert("purpose", value(k.name()));
                }
                None => self.warn(format!(
                    "slot `{id}`: purpose {p:?} is not one flavor knows ({}); left out",
                    Purpose::names().join(", ")
                )),
            }
        }
        if let Some(r) = text(m.get("resolution")).filter(|r| r != "build") {
            self.warn(format!(
                "slot `{id}`: resolution {r:?} is not supported; flavor resolves every slot at \
                 build time"
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codecs_map_from_upstream_operations() {
        assert_eq!(codec_of("none"), Some(Codec::Raw));
        assert_eq!(codec_of(""), Some(Codec::Raw));
        assert_eq!(codec_of("tgz"), Some(Codec::TarGz));
        assert_eq!(codec_of("TAR|GZIP"), Some(Codec::TarGz));
        assert_eq!(codec_of("tar + zst"), Some(Codec::TarZst));
        assert_eq!(codec_of("tar.zst"), Some(Codec::TarZst));
        assert_eq!(codec_of("gz"), Some(Codec::Gzip));
        assert_eq!(codec_of("bzip2"), None);
    }
}

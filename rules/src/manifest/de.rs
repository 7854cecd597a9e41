//! Reading TOML into the schema types with every problem reported, not just the first.
//!
//! serde stops at the first error, so [`read`] deserializes in rounds: after a value of the
//! wrong type, the entry holding it is reported (with the key path, what was expected and what
//! was found), removed from the parsed document, and the document is read again, until it
//! reads. Keys the schema does not have are collected from the last round with
//! `serde_ignored`, and each gets a did-you-mean from the keys its table allows, which
//! [`allowed_keys`] asks the schema type itself for.

use crate::diagnostic::{Problem, did_you_mean};
use serde::de::value::{MapDeserializer, SeqDeserializer};
use serde::de::{self, DeserializeOwned, IntoDeserializer, Visitor};
use std::cell::Cell;
use std::ops::Range;
use toml::de::{DeTable, DeValue};

/// A parsed document with its spans.
pub(super) type Doc<'i> = toml::Spanned<DeTable<'i>>;

/// One step of a path into the document: a table key or an array index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Seg {
    Key(String),
    Index(usize),
}

/// Parse `text`, or the problem with its syntax.
pub(super) fn parse(text: &str) -> Result<Doc<'_>, Problem> {
    DeTable::parse(text).map_err(|e| {
        Problem::new(format!("TOML syntax error: {}", e.message()), e.span())
            .label("here")
            .help("fix the syntax; flavor.toml.example shows every key")
    })
}

/// Deserialize `doc` into `T`, collecting type errors and unknown keys into `problems`.
/// `None` only when an error could not be tied to an entry of the document.
pub(super) fn read<T: DeserializeOwned>(doc: &Doc<'_>, problems: &mut Vec<Problem>) -> Option<T> {
    let mut doc = doc.clone();
    loop {
        let mut ignored = Vec::new();
        let de = toml::de::Deserializer::from(doc.clone());
        match serde_ignored::deserialize(de, |path| ignored.push(segments(&path))) {
            Ok(value) => {
                for path in ignored {
                    problems.push(unknown_key::<T>(&doc, &path));
                }
                return Some(value);
            }
            Err(e) => {
                let span = e.span();
                let found = span.as_ref().and_then(|s| locate(doc.get_ref(), s));
                match found {
                    Some(found) if remove(doc.get_mut(), &found.entry) => {
                        problems.push(type_problem(e.message(), &found, span));
                    }
                    // Not tied to an entry that can be dropped: report it and stop reading.
                    found => {
                        problems.push(match found {
                            Some(found) => type_problem(e.message(), &found, span),
                            None => Problem::new(e.message().to_string(), span),
                        });
                        return None;
                    }
                }
            }
        }
    }
}

/// `serde_ignored`'s path as segments, without the steps serde adds for `Option`s, newtypes
/// and spans.
fn segments(path: &serde_ignored::Path<'_>) -> Vec<Seg> {
    use serde_ignored::Path;
    let mut out = match path {
        Path::Root => return Vec::new(),
        Path::Seq { parent, .. }
        | Path::Map { parent, .. }
        | Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => segments(parent),
    };
    match path {
        Path::Seq { index, .. } => out.push(Seg::Index(*index)),
        Path::Map { key, .. } if !key.starts_with("$__serde_spanned_private") => {
            out.push(Seg::Key(key.clone()));
        }
        _ => {}
    }
    out
}

/// `a.b.c` for the keys of `path` (array indices left out, as TOML writes `[[slot]]`).
fn dotted(path: &[Seg]) -> String {
    let keys: Vec<&str> = path
        .iter()
        .filter_map(|s| match s {
            Seg::Key(k) => Some(k.as_str()),
            Seg::Index(_) => None,
        })
        .collect();
    keys.join(".")
}

fn unknown_key<T: DeserializeOwned>(doc: &Doc<'_>, path: &[Seg]) -> Problem {
    let (parent, last) = match path.split_last() {
        Some((Seg::Key(k), parent)) => (parent, k.as_str()),
        _ => (path, ""),
    };
    let mut p = Problem::new(
        format!("unknown key `{}`", dotted(path)),
        key_span(doc, path),
    )
    .label("not a flavor.toml key");
    let allowed = allowed_keys::<T>(parent).unwrap_or_default();
    p = match did_you_mean(last, allowed) {
        Some(s) => p.help(format!("did you mean `{s}`?")),
        None if allowed.is_empty() => p,
        None => p.help(format!("keys allowed here: {}", allowed.join(", "))),
    };
    p
}

/// The span of the last key of `path`.
fn key_span(doc: &Doc<'_>, path: &[Seg]) -> Option<Range<usize>> {
    key_span_in(doc.get_ref(), path)
}

fn key_span_in(table: &DeTable<'_>, path: &[Seg]) -> Option<Range<usize>> {
    let (Seg::Key(k), rest) = path.split_first()? else {
        return None;
    };
    let (key, value) = table.get_key_value(k.as_str())?;
    if rest.is_empty() {
        return Some(key.span());
    }
    key_span_below(value.get_ref(), rest)
}

fn key_span_below(value: &DeValue<'_>, path: &[Seg]) -> Option<Range<usize>> {
    match (value, path.first()?) {
        (DeValue::Table(t), Seg::Key(_)) => key_span_in(t, path),
        (DeValue::Array(a), Seg::Index(i)) => key_span_below(a.get(*i)?.get_ref(), &path[1..]),
        _ => None,
    }
}

/// Where a deserialization error is: the path to the innermost value whose span holds it,
/// that value's TOML type, and the table entry to remove to read on.
struct Found {
    path: Vec<Seg>,
    found: &'static str,
    scalar_in_array: bool,
    entry: Vec<Seg>,
}

fn locate(table: &DeTable<'_>, span: &Range<usize>) -> Option<Found> {
    let mut best: Option<Found> = None;
    let mut path = Vec::new();
    visit_table(table, span, &mut path, &mut best);
    best
}

fn holds(outer: &Range<usize>, inner: &Range<usize>) -> bool {
    outer.start <= inner.start && inner.end <= outer.end
}

fn visit_table(
    t: &DeTable<'_>,
    span: &Range<usize>,
    path: &mut Vec<Seg>,
    best: &mut Option<Found>,
) {
    for (k, v) in t.iter() {
        path.push(Seg::Key(k.get_ref().to_string()));
        visit_value(v, span, path, best);
        path.pop();
    }
}

/// Records `v` when it holds `span` and is deeper than the best so far, then looks inside.
/// Standard tables' spans are only their headers, so every child is looked at.
fn visit_value(
    v: &toml::Spanned<DeValue<'_>>,
    span: &Range<usize>,
    path: &mut Vec<Seg>,
    best: &mut Option<Found>,
) {
    if holds(&v.span(), span) && best.as_ref().is_none_or(|b| path.len() >= b.path.len()) {
        let entry_len = path
            .iter()
            .rposition(|s| matches!(s, Seg::Key(_)))
            .map_or(0, |i| i + 1);
        *best = Some(Found {
            path: path.clone(),
            found: v.get_ref().type_str(),
            scalar_in_array: matches!(path.last(), Some(Seg::Index(_)))
                && !matches!(v.get_ref(), DeValue::Table(_)),
            entry: path[..entry_len].to_vec(),
        });
    }
    match v.get_ref() {
        DeValue::Table(t) => visit_table(t, span, path, best),
        DeValue::Array(a) => {
            for (i, item) in a.iter().enumerate() {
                path.push(Seg::Index(i));
                visit_value(item, span, path, best);
                path.pop();
            }
        }
        _ => {}
    }
}

/// Remove the table entry at `path` (its last segment is a key); false if there is none.
fn remove(table: &mut DeTable<'_>, path: &[Seg]) -> bool {
    match path {
        [Seg::Key(k)] => table.remove(k.as_str()).is_some(),
        [Seg::Key(k), rest @ ..] => table
            .get_mut(k.as_str())
            .is_some_and(|v| remove_below(v.get_mut(), rest)),
        _ => false,
    }
}

fn remove_below(value: &mut DeValue<'_>, path: &[Seg]) -> bool {
    match (value, path) {
        (DeValue::Table(t), _) => remove(t, path),
        (DeValue::Array(a), [Seg::Index(i), rest @ ..]) => a
            .get_mut(*i)
            .is_some_and(|item| remove_below(item.get_mut(), rest)),
        _ => false,
    }
}

/// The problem for a value serde refused: `slot.include must be an array of strings, found
/// string`.
fn type_problem(message: &str, at: &Found, span: Option<Range<usize>>) -> Problem {
    let mut place = dotted(&at.path);
    if at.scalar_in_array
        && let Some(Seg::Index(i)) = at.path.last()
    {
        place = format!("{place}[{i}]");
    }
    if place.is_empty() {
        place = "the manifest".into();
    }
    let split = |prefix: &str| {
        message
            .strip_prefix(prefix)
            .and_then(|m| m.rsplit_once(", expected "))
    };
    let (what, label) = if let Some((given, expected)) = split("invalid type: ") {
        let expected = toml_words(expected);
        if given.starts_with("integer ") && expected.ends_with("integer") {
            (format!("{place} is out of range"), "too large".to_string())
        } else {
            let label = format!("expected {expected}");
            (
                format!("{place} must be {expected}, found {}", at.found),
                label,
            )
        }
    } else if let Some((given, expected)) = split("invalid value: ") {
        let expected = toml_words(expected);
        let label = format!("expected {expected}");
        (format!("{place} must be {expected}, found {given}"), label)
    } else {
        (
            format!("{place}: {message}"),
            "not accepted here".to_string(),
        )
    };
    Problem::new(what, span).label(label)
}

/// serde's words for a type, in TOML's.
fn toml_words(expected: &str) -> String {
    match expected {
        "a sequence" => "an array".into(),
        "a map" => "a table".into(),
        "a boolean" => "true or false".into(),
        "i64" | "i32" => "an integer".into(),
        "u32" | "u64" | "usize" => "a non-negative integer".into(),
        e if e.starts_with("struct ") => "a table".into(),
        e => e.into(),
    }
}

/// The keys the table at `path` of `T` allows, asked of `T`'s `Deserialize` itself: a
/// deserializer that follows `path` and, at its end, records the field names serde passes to
/// `deserialize_struct`. `None` for a path that does not lead to a struct.
pub(super) fn allowed_keys<T: DeserializeOwned>(path: &[Seg]) -> Option<&'static [&'static str]> {
    let found = Cell::new(None);
    let _ = T::deserialize(Probe {
        path,
        found: &found,
    });
    found.get()
}

/// See [`allowed_keys`].
#[derive(Clone, Copy)]
struct Probe<'a> {
    path: &'a [Seg],
    found: &'a Cell<Option<&'static [&'static str]>>,
}

type ProbeError = de::value::Error;

impl<'a> Probe<'a> {
    fn rest(self) -> Probe<'a> {
        Probe {
            path: self.path.get(1..).unwrap_or_default(),
            found: self.found,
        }
    }
}

impl<'de> IntoDeserializer<'de, ProbeError> for Probe<'_> {
    type Deserializer = Self;
    fn into_deserializer(self) -> Self {
        self
    }
}

impl<'de> de::Deserializer<'de> for Probe<'_> {
    type Error = ProbeError;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, ProbeError> {
        Err(de::Error::custom("not a table"))
    }
    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ProbeError> {
        v.visit_some(self)
    }
    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        v: V,
    ) -> Result<V::Value, ProbeError> {
        v.visit_newtype_struct(self)
    }
    fn deserialize_seq<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ProbeError> {
        match self.path.first() {
            Some(Seg::Index(_)) => v.visit_seq(SeqDeserializer::new(std::iter::once(self.rest()))),
            _ => Err(de::Error::custom("not a table")),
        }
    }
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, ProbeError> {
        if serde_spanned::de::is_spanned(name) {
            return v.visit_map(serde_spanned::de::SpannedDeserializer::new(self, 0..0));
        }
        match self.path.first() {
            None => {
                self.found.set(Some(fields));
                Err(de::Error::custom("found"))
            }
            Some(Seg::Key(k)) => v.visit_map(MapDeserializer::new(std::iter::once((
                k.as_str(),
                self.rest(),
            )))),
            Some(Seg::Index(_)) => Err(de::Error::custom("not an array")),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct tuple tuple_struct map enum identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::schema::ManifestToml;

    fn seg(path: &str) -> Vec<Seg> {
        path.split('.')
            .map(|p| match p.parse() {
                Ok(i) => Seg::Index(i),
                Err(_) => Seg::Key(p.to_string()),
            })
            .collect()
    }

    #[test]
    fn the_schema_names_the_keys_of_each_table() {
        let top = allowed_keys::<ManifestToml>(&[]).unwrap();
        assert!(top.contains(&"package") && top.contains(&"slot"), "{top:?}");
        let slot = allowed_keys::<ManifestToml>(&seg("slot.0")).unwrap();
        assert!(
            slot.contains(&"codec") && slot.contains(&"lifecycle"),
            "{slot:?}"
        );
        let env = allowed_keys::<ManifestToml>(&seg("runtime.env")).unwrap();
        assert_eq!(env, ["unset", "pass", "set", "map"]);
        assert!(allowed_keys::<ManifestToml>(&seg("execution.env")).is_none());
    }

    #[test]
    fn every_wrong_type_is_reported_in_one_read() {
        let text = "[package]\nname = 1\nversion = \"1\"\n[execution]\nenv = { A = 2 }\n\
                    [[slot]]\ninclude = [\"a\", 3]\nid = \"x\"\n";
        let doc = parse(text).unwrap();
        let mut problems = Vec::new();
        let m: Option<ManifestToml> = read(&doc, &mut problems);
        let messages: Vec<&str> = problems.iter().map(|p| p.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "execution.env.A must be a string, found integer",
                "package.name must be a string, found integer",
                "slot.include[1] must be a string, found integer",
            ]
        );
        let m = m.unwrap();
        assert_eq!(m.slot.len(), 1);
        assert!(m.slot[0].value.include.is_empty());
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use crate::manifest::schema::ManifestToml;
    use proptest::prelude::*;

    /// A value of any TOML type, small.
    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z./]{0,6}".prop_map(|s| format!("{s:?}")),
            any::<i32>().prop_map(|i| i.to_string()),
            any::<bool>().prop_map(|b| b.to_string()),
            Just("[\"a\", 1, true]".to_string()),
            Just("{ A = 1, B = \"x\" }".to_string()),
            Just("[{ path = 1 }]".to_string()),
        ]
    }

    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::sample::select(vec![
                "id",
                "source",
                "step",
                "target",
                "codec",
                "level",
                "include",
                "name",
                "version",
                "command",
                "env",
                "type",
                "mode",
                "path",
                "needs",
                "outputs",
                "unset",
                "set",
                "members",
                "remote",
                "read_only",
                "directories",
                "lifecycle",
            ])
            .prop_map(str::to_string),
            "[a-z]{1,5}",
        ]
    }

    fn table() -> impl Strategy<Value = String> {
        let header = prop::sample::select(vec![
            "[package]",
            "[execution]",
            "[runtime.env]",
            "[workenv]",
            "[[slot]]",
            "[[step]]",
            "[[setup]]",
            "[signing]",
            "[[target]]",
            "[workspace]",
            "[cache]",
            "[[workenv.directories]]",
        ]);
        (header, prop::collection::btree_map(key(), value(), 0..5)).prop_map(|(h, kv)| {
            let body: Vec<String> = kv.iter().map(|(k, v)| format!("{k} = {v}")).collect();
            format!("{h}\n{}\n", body.join("\n"))
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// Whatever the document, reading ends (no endless re-reading), never panics, and
        /// every problem points into the text.
        #[test]
        fn any_document_reads_to_an_end(tables in prop::collection::vec(table(), 0..6)) {
            let text = tables.concat();
            let Ok(doc) = parse(&text) else { return Ok(()) };
            let mut problems = Vec::new();
            let _ = read::<ManifestToml>(&doc, &mut problems);
            for p in &problems {
                if let Some(span) = &p.span {
                    prop_assert!(span.end <= text.len(), "{p:?} in {text}");
                }
            }
            let _ = crate::Manifest::parse(std::path::Path::new("/nonexistent/flavor.toml"), &text);
        }
    }
}

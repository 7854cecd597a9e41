//! Conformance: every package of the kit (`conformance/packages/*.expect.json`) must read,
//! verify and decode exactly as its expect file says (the kit's keys are checked in
//! `keys.rs`). Facts are compared table-driven against the expect JSON, and every mismatch of
//! a run is reported together.

use crate::common::{
    KitPackage, kit_dir, kit_packages, sha256_file, sha256_hex, sha256_hex_reader,
};
use pspf::index::INDEX_SIZE;
use pspf::keys::{Signature, VerifyingKey, fingerprint};
use pspf::verify::{Outcome, VerifyOptions};
use pspf::{Package, Report};
use serde_json::{Value, json};
use std::fmt::Debug;
use std::fs;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// Collects every mismatch so one run shows all of them.
#[derive(Default)]
struct Mismatches(Vec<String>);

impl Mismatches {
    fn eq<T: PartialEq + Debug>(&mut self, ctx: &str, what: &str, got: T, want: T) {
        if got != want {
            self.0
                .push(format!("{ctx}: {what}: got {got:?}, expected {want:?}"));
        }
    }

    /// Compare each computed `(key, value)` with `want[key]`.
    fn facts(&mut self, ctx: &str, want: &Value, got: Vec<(&str, Value)>) {
        for (key, value) in got {
            match want.get(key) {
                Some(w) => self.eq(ctx, key, &value, w),
                None => self.0.push(format!("{ctx}: the expect file has no {key}")),
            }
        }
    }

    fn finish(self) {
        let n = self.0.len();
        assert!(n == 0, "{n} mismatch(es):\n{}", self.0.join("\n"));
    }
}

/// `same!(m, ctx; "what" => got, want)`: record a mismatch when `got != want`.
macro_rules! same {
    ($m:expr, $ctx:expr; $what:literal => $got:expr, $want:expr) => {
        $m.eq(&$ctx, $what, $got, $want)
    };
}

/// `facts!(m, ctx, want; "key" => value, …)`: compare each `json!(value)` with `want["key"]`.
macro_rules! facts {
    ($m:expr, $ctx:expr, $want:expr; $($key:literal => $value:expr),+ $(,)?) => {
        $m.facts(&$ctx, $want, vec![$(($key, json!($value))),+])
    };
}

fn read_at(path: &Path, offset: u64, len: u64) -> Vec<u8> {
    let mut buf = vec![0u8; len as usize];
    let file = fs::File::open(path).unwrap();
    file.read_exact_at(&mut buf, offset).unwrap();
    buf
}

/// zlib Adler-32, written out here so the library's own implementation is not trusted.
fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &x in data {
        a = (a + u32::from(x)) % 65521;
        b = (b + a) % 65521;
    }
    (b << 16) | a
}

/// `[start, end)` ranges of non-zero bytes; zero gaps shorter than 4 bytes are merged.
fn nonzero_ranges(raw: &[u8]) -> Vec<[usize; 2]> {
    let mut out: Vec<[usize; 2]> = Vec::new();
    for (i, _) in raw.iter().enumerate().filter(|(_, b)| **b != 0) {
        match out.last_mut() {
            Some(last) if i - last[1] < 4 => last[1] = i + 1,
            _ => out.push([i, i + 1]),
        }
    }
    out
}

fn open_and_verify(p: &KitPackage) -> (Package, Report) {
    let pkg = Package::open(&p.psp).unwrap_or_else(|e| panic!("{}: open: {e}", p.name));
    let report = pkg.verify(&VerifyOptions::default());
    (pkg, report)
}

/// Whether check `name` (of slot `slot`, if given) passed.
fn passed(report: &Report, name: &str, slot: Option<usize>) -> bool {
    report.checks.iter().any(|c| {
        c.name == name && c.slot.as_ref().map(|s| s.0) == slot && matches!(c.outcome, Outcome::Pass)
    })
}

/// Every fact the expect files hold; a new one in the kit fails here until it is checked.
#[test]
fn every_expect_field_is_known_to_these_tests() {
    const TOP: &str = "file file_size file_sha256 format_version index_checksum
        index_checksum_valid package_size package_size_equals_file_size launcher_size
        metadata_offset metadata_size slot_table_offset slot_table_size slot_count flags
        public_key metadata_checksum signature signature_area_tail_zero capabilities
        index_fields attestation_key_fp attestation_sbom_digest attestation_policy_hash
        index_nonzero_ranges layout metadata_checksum_valid metadata_json_size
        metadata_json_sha256 signature_valid public_key_sha256 descriptors metadata_slot_ids";
    const DESCRIPTOR: &str = "raw_hex id name_hash offset size original_size operations
        operations_list checksum purpose lifecycle priority platform reserved1 reserved2
        permissions name_hash_is_sha256_of_metadata_field data_sha256 checksum_valid
        metadata_checksum_matches_data decoded_size decoded_sha256 tar_format_magic tar_entries";
    for p in kit_packages() {
        let unknown = |v: &Value, known: &str| -> Vec<String> {
            let keys = v.as_object().unwrap().keys();
            keys.filter(|k| !known.split_whitespace().any(|w| w == k.as_str()))
                .cloned()
                .collect()
        };
        assert_eq!(unknown(&p.expect, TOP), Vec::<String>::new(), "{}", p.name);
        for d in p.expect["descriptors"].as_array().unwrap() {
            assert_eq!(unknown(d, DESCRIPTOR), Vec::<String>::new(), "{}", p.name);
        }
    }
}

#[test]
fn kit_files_are_the_ones_described() {
    let mut m = Mismatches::default();
    let packages = kit_packages();
    for p in &packages {
        facts!(m, p.name, &p.expect;
            "file" => format!("{}.psp", p.name),
            "file_size" => fs::metadata(&p.psp).unwrap().len(),
            "file_sha256" => sha256_file(&p.psp),
        );
    }
    // Every .psp of the kit has facts (nothing is silently left untested).
    for entry in fs::read_dir(kit_dir().join("packages")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_suffix(".psp") {
            same!(m, stem; "has facts" => packages.iter().any(|p| p.name == stem), true);
        }
    }
    m.finish();
}

#[test]
fn index_header_matches() {
    let mut m = Mismatches::default();
    for p in kit_packages() {
        let (pkg, report) = open_and_verify(&p);
        let (e, n, idx) = (&p.expect, p.name.as_str(), pkg.index());
        let mut zeroed = *idx.raw();
        zeroed[4..8].fill(0);
        let valid = adler32(&zeroed) == idx.index_checksum();
        facts!(m, n, e;
            "format_version" => format!("{:#010x}", idx.format_version()),
            "index_checksum" => format!("{:08x}", idx.index_checksum()),
            "index_checksum_valid" => valid,
            "package_size" => idx.package_size(),
            "package_size_equals_file_size" => idx.package_size() == pkg.file_len(),
            "launcher_size" => idx.launcher_size(),
            "metadata_offset" => idx.metadata_offset(),
            "metadata_size" => idx.metadata_size(),
            "slot_table_offset" => idx.slot_table_offset(),
            "slot_table_size" => idx.slot_table_size(),
            "slot_count" => idx.slot_count(),
            "flags" => idx.flags(),
            "public_key" => hex::encode(idx.public_key()),
            "public_key_sha256" => fingerprint(&idx.public_key()),
            "metadata_checksum" => hex::encode(idx.metadata_checksum()),
            "signature" => hex::encode(idx.signature()),
            "signature_area_tail_zero" => idx.signature_area_tail_zero(),
            "capabilities" => format!("{:#x}", idx.capabilities()),
            "attestation_key_fp" => idx.key_fingerprint(),
            "attestation_sbom_digest" => idx.sbom_digest(),
            "attestation_policy_hash" => idx.policy_hash(),
        );
        same!(m, n; "computed_checksum()" => idx.computed_checksum(), adler32(&zeroed));
        same!(m, n; "index_checksum check" => passed(&report, "index_checksum", None), valid);
        same!(m, n; "descriptors parsed" => json!(pkg.slot_count()), e["slot_count"].clone());
        let tail_zero = idx.raw()[192..640].iter().all(|&b| b == 0);
        same!(m, n;
            "bytes 192..640 zero" => json!(tail_zero), e["signature_area_tail_zero"].clone()
        );
        // The index is exactly the 8192 bytes between the two magics at the end of the file.
        let trailer = read_at(&p.psp, pkg.file_len() - 8200, 8200);
        same!(m, n; "start magic" => &trailer[..4], &[0xF0, 0x9F, 0x93, 0xA6][..]);
        same!(m, n; "end magic" => &trailer[8196..], &[0xF0, 0x9F, 0xAA, 0x84][..]);
        m.eq(n, "index bytes", trailer[4..8196] == idx.raw()[..], true);
    }
    m.finish();
}

#[test]
fn index_hint_fields_and_nonzero_ranges_match() {
    // name → (offset, width); width 0 means "u32 printed as 0x%08x".
    const FIELDS: [(&str, usize, usize); 16] = [
        ("access_mode", 640, 1),
        ("cache_strategy", 641, 1),
        ("byte_642", 642, 1),
        ("byte_643", 643, 1),
        ("page_size", 644, 4),
        ("max_memory", 648, 8),
        ("min_memory", 656, 8),
        ("cpu_features", 664, 8),
        ("gpu_requirements", 672, 8),
        ("numa_hints", 680, 8),
        ("stream_chunk_size", 688, 4),
        ("build_timestamp", 704, 8),
        ("requirements", 840, 8),
        ("extensions", 848, 8),
        ("compatibility", 856, 0),
        ("protocol_version", 860, 4),
    ];
    let mut m = Mismatches::default();
    for p in kit_packages() {
        let pkg = Package::open(&p.psp).unwrap();
        let (e, n, idx) = (&p.expect, p.name.as_str(), pkg.index());
        let fields = &e["index_fields"];
        same!(m, n; "index_fields count" => fields.as_object().unwrap().len(), FIELDS.len());
        let got = FIELDS.iter().map(|&(name, at, width)| {
            let v = match width {
                1 => json!(idx.raw()[at]),
                4 => json!(idx.u32_at(at).unwrap()),
                8 => json!(idx.u64_at(at).unwrap()),
                _ => json!(format!("{:#010x}", idx.u32_at(at).unwrap())),
            };
            (name, v)
        });
        m.facts(&format!("{n} index_fields"), fields, got.collect());
        facts!(m, format!("{n} accessors"), fields;
            "page_size" => idx.page_size(),
            "compatibility" => format!("{:#010x}", idx.compatibility()),
            "protocol_version" => idx.protocol_version(),
        );

        let want: Vec<[usize; 2]> =
            serde_json::from_value(e["index_nonzero_ranges"].clone()).unwrap();
        same!(m, n; "index_nonzero_ranges" => &nonzero_ranges(&idx.raw()[..]), &want);
        // Outside the expected ranges everything is zero (guards the merge rule itself).
        let mut covered = vec![false; INDEX_SIZE];
        for [start, end] in &want {
            covered[*start..*end].fill(true);
        }
        let stray = idx
            .raw()
            .iter()
            .zip(&covered)
            .filter(|(b, c)| **b != 0 && !**c);
        m.eq(n, "non-zero bytes outside the ranges", stray.count(), 0);
    }
    m.finish();
}

#[test]
fn layout_matches() {
    let mut m = Mismatches::default();
    let stub = sha256_file(&kit_dir().join("stub-launcher.bin"));
    for p in kit_packages() {
        let pkg = Package::open(&p.psp).unwrap();
        let (n, idx) = (p.name.as_str(), pkg.index());
        let (launcher_sha, launcher_len) = sha256_hex_reader(pkg.launcher_reader().unwrap());
        m.eq(n, "launcher is the stub", &launcher_sha, &stub);
        m.eq(n, "launcher bytes read", launcher_len, idx.launcher_size());
        let gap = idx.metadata_offset() - idx.launcher_size();
        let gap_zero = read_at(&p.psp, idx.launcher_size(), gap)
            .iter()
            .all(|&b| b == 0);
        let table_end = idx.slot_table_offset() + idx.slot_table_size();
        let descs = pkg.descriptors();
        let last = descs
            .iter()
            .map(|d| d.offset + d.size)
            .fold(table_end, u64::max);
        facts!(m, format!("{n} layout"), &p.expect["layout"];
            "launcher_sha256" => launcher_sha,
            "gap_after_launcher" => gap,
            "gap_all_zero" => gap_zero,
            "metadata_gzip_header" => hex::encode(&pkg.metadata_gzip()[..10]),
            "metadata_end" => idx.metadata_offset() + idx.metadata_size(),
            "trailer_offset" => pkg.trailer_offset(),
            "slot_table_aligned_8" => idx.slot_table_offset() % 8 == 0,
            "slot_offsets_mod_4096" => descs.iter().map(|d| d.offset % 4096).collect::<Vec<_>>(),
            "trailer_follows_last_slot_immediately" => last == pkg.trailer_offset(),
        );
        same!(m, n; "trailer_offset = size - 8200" => pkg.trailer_offset(), pkg.file_len() - 8200);
        let layout_keys = p.expect["layout"].as_object().unwrap().len();
        same!(m, n; "layout facts checked" => layout_keys, 9);
    }
    m.finish();
}

#[test]
fn metadata_and_signature_match() {
    let mut m = Mismatches::default();
    for p in kit_packages() {
        let (pkg, report) = open_and_verify(&p);
        let (e, n, idx) = (&p.expect, p.name.as_str(), pkg.index());
        let want_json = fs::read(&p.metadata_json).unwrap();
        let json = pkg.metadata_json().unwrap();
        let gz_sha = sha256_hex(pkg.metadata_gzip());
        // The signature, checked independently over the kit's .metadata.json bytes.
        let key = VerifyingKey::from_bytes(&idx.public_key()).unwrap();
        let signature = Signature::from_bytes(&idx.signature());
        let ids: Vec<&str> = pkg
            .metadata()
            .unwrap()
            .slots
            .iter()
            .map(|s| s.id.as_str())
            .collect();
        facts!(m, n, e;
            "metadata_checksum" => gz_sha,
            "metadata_checksum_valid" => gz_sha == hex::encode(idx.metadata_checksum()),
            "metadata_json_size" => json.len(),
            "metadata_json_sha256" => sha256_hex(json),
            "signature_valid" => key.verify_strict(&want_json, &signature).is_ok(),
            "metadata_slot_ids" => ids,
        );
        // Byte for byte (compared by length and hash so a mismatch prints readably).
        let file = (want_json.len(), sha256_hex(&want_json));
        same!(m, n; "metadata JSON == .metadata.json" => (json.len(), sha256_hex(json)), file);
        // Package::verify agrees: everything passes, the fingerprint is checked when present.
        same!(m, n; "metadata_checksum check" => passed(&report, "metadata_checksum", None), true);
        same!(m, n; "signature check" => passed(&report, "signature", None), true);
        let failures: Vec<String> = report.failures().map(ToString::to_string).collect();
        m.eq(n, "verify failures", failures, Vec::new());
        m.eq(n, "report.is_ok()", report.is_ok(), true);
        let fp = !e["attestation_key_fp"].is_null();
        same!(m, n; "key_fingerprint check" => passed(&report, "key_fingerprint", None), fp);
    }
    m.finish();
}

/// A decoded tar's entries as expect.json describes them (link target under `link`).
fn tar_entries(decoded: &[u8]) -> Vec<Value> {
    let mut out = Vec::new();
    for entry in tar::Archive::new(decoded).entries().unwrap() {
        let mut entry = entry.unwrap();
        let h = entry.header().clone();
        let kind = match h.entry_type() {
            t if t.is_file() => "file".to_string(),
            t if t.is_dir() => "dir".to_string(),
            t if t.is_symlink() => "symlink".to_string(),
            t if t.is_hard_link() => "hardlink".to_string(),
            t => format!("{t:?}"),
        };
        let mut v = json!({
            "name": entry.path().unwrap().to_string_lossy().trim_end_matches('/'),
            "type": kind,
            "mode": format!("{:04o}", h.mode().unwrap() & 0o7777),
            "size": h.size().unwrap(),
            "uid": h.uid().unwrap(),
            "gid": h.gid().unwrap(),
            "mtime": h.mtime().unwrap(),
        });
        if let Some(link) = entry.link_name().unwrap() {
            v["link"] = json!(link.to_string_lossy());
        }
        if h.entry_type().is_file() {
            let mut content = Vec::new();
            entry.read_to_end(&mut content).unwrap();
            v["sha256"] = json!(sha256_hex(&content));
        }
        out.push(v);
    }
    out
}

/// An expected tar entry with its link target (whatever the kit calls it) under `link`.
fn normalise_entry(want: &Value) -> Value {
    let mut w = want.as_object().unwrap().clone();
    for key in ["link_target", "linkname", "link_name", "target"] {
        if let Some(v) = w.remove(key) {
            w.insert("link".into(), v);
        }
    }
    Value::Object(w)
}

#[test]
fn descriptors_and_decoded_slots_match() {
    let mut m = Mismatches::default();
    let mut tar_slots = 0;
    for p in kit_packages() {
        let (pkg, report) = open_and_verify(&p);
        let want_descs = p.expect["descriptors"].as_array().unwrap();
        same!(m, p.name; "descriptor count" => pkg.slot_count(), want_descs.len());
        let meta: Value = serde_json::from_slice(&fs::read(&p.metadata_json).unwrap()).unwrap();
        for (i, (d, w)) in pkg.descriptors().iter().zip(want_descs).enumerate() {
            let ctx = format!("{} slot {i}", p.name);
            let raw = read_at(&p.psp, pkg.index().slot_table_offset() + 64 * i as u64, 64);
            let ops = d.operations.ops().into_iter();
            let ops: Vec<String> = ops
                .map(|op| format!("{op:#04x}/{}", pspf::ops::op_name(op)))
                .collect();
            let hashed: Vec<&str> = ["id", "source", "target"]
                .into_iter()
                .filter(|f| {
                    let field = meta["slots"][i][*f].as_str();
                    field.is_some_and(|v| pspf::descriptor::name_hash(v) == d.name_hash)
                })
                .collect();
            // Stored bytes straight from the file, not through the library.
            let stored = read_at(&p.psp, d.offset, d.size);
            let data_sha = sha256_hex(&stored);
            let digest: [u8; 32] = hex::decode(&data_sha).unwrap().try_into().unwrap();
            let first8 = u64::from_le_bytes(digest[..8].try_into().unwrap());
            let meta_ok = pkg.slot_metadata(i).and_then(|s| s.digest_matches(&digest));
            // Decoded through the verifying stream.
            let mut reader = pkg.slot_reader(i).unwrap();
            let mut decoded = Vec::new();
            reader.read_to_end(&mut decoded).unwrap();
            facts!(m, ctx, w;
                "raw_hex" => hex::encode(&raw),
                "id" => d.id,
                "name_hash" => format!("{:#018x}", d.name_hash),
                "offset" => d.offset,
                "size" => d.size,
                "original_size" => d.original_size,
                "operations" => format!("{:#x}", d.operations.0),
                "operations_list" => ops,
                "checksum" => format!("{:#018x}", d.checksum),
                "purpose" => d.purpose,
                "lifecycle" => d.lifecycle,
                "priority" => d.priority,
                "platform" => d.platform,
                "reserved1" => d.reserved[0],
                "reserved2" => d.reserved[1],
                "permissions" => format!("{:04o}", d.permissions),
                "name_hash_is_sha256_of_metadata_field" => hashed,
                "data_sha256" => data_sha,
                "checksum_valid" => first8 == d.checksum,
                "metadata_checksum_matches_data" => meta_ok,
                "decoded_size" => decoded.len(),
                "decoded_sha256" => sha256_hex(&decoded),
            );
            m.eq(&ctx, "to_bytes()", &d.to_bytes()[..], &raw[..]);
            same!(m, ctx; "stored digest of slot_reader" => reader.stored_digest(), Some(digest));
            same!(m, ctx; "decoded_len()" => reader.decoded_len(), decoded.len() as u64);
            for check in ["slot_operations", "slot_checksum", "slot_digest"] {
                m.eq(&ctx, check, passed(&report, check, Some(i)), true);
            }
            let is_tar = pkg.slot_codec(i).unwrap().is_tar();
            same!(m, ctx; "has tar facts" => is_tar, w.get("tar_entries").is_some());
            if is_tar {
                tar_slots += 1;
                let magic = hex::encode(&decoded[257..263]);
                facts!(m, ctx, w;
                    "tar_format_magic" => magic,
                );
                let want = w["tar_entries"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(normalise_entry);
                same!(m, ctx; "tar_entries" => tar_entries(&decoded), want.collect::<Vec<_>>());
            }
        }
    }
    assert!(tar_slots > 0, "the kit has tar slots; none were checked");
    m.finish();
}

/// The kit README's table of real launcher runs: every package runs under the 0.5.4 launchers;
/// Rust 0.3.0 runs only the rs030 ones (rs054/go054 lack `execution.primary_slot`, py054 lacks
/// `build.platform.host`).
#[test]
fn upstream_compatibility_matches_the_observed_launcher_runs() {
    let mut m = Mismatches::default();
    for p in kit_packages() {
        let pkg = Package::open(&p.psp).unwrap();
        let found = pspf::compat::upstream_compatibility(&pkg).unwrap();
        let rules: Vec<(&str, &str, bool, bool)> = found
            .iter()
            .map(|c| {
                let d = &c.detail;
                (
                    c.launchers,
                    c.rule,
                    d.contains("primary_slot"),
                    d.contains("platform.host"),
                )
            })
            .collect();
        let want = match &p.name[..5] {
            "rs030" => vec![],
            "rs054" | "go054" => vec![("rust-0.3.0", "metadata", true, false)],
            "py054" => vec![("rust-0.3.0", "metadata", false, true)],
            other => panic!("unknown writer prefix {other}"),
        };
        m.eq(&p.name, "upstream incompatibilities", rules, want);
    }
    m.finish();
}

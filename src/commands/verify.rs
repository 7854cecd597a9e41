//! `flavor verify PKG [--trusted-key PUB]…`: every integrity check, each with ✓/✗.

use crate::report::print_json;
use anyhow::Context;
use pspf::verify::{Outcome, VerifyOptions, verify_file};
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// The package to verify.
    package: PathBuf,
    /// Require the package to be signed by this public key (PEM file or 64 hex digits).
    /// Repeat to accept any of several keys.
    #[arg(long = "trusted-key", value_name = "PUB")]
    trusted_keys: Vec<String>,
    /// Print the checks as JSON.
    #[arg(long)]
    json: bool,
}

fn load_key(spec: &str) -> anyhow::Result<pspf::keys::VerifyingKey> {
    let path = std::path::Path::new(spec);
    let text = if path.exists() {
        std::fs::read_to_string(path).with_context(|| format!("reading {spec}"))?
    } else {
        spec.to_string()
    };
    pspf::keys::public_key_from_pem(&text)
        .with_context(|| format!("--trusted-key {spec}: not a readable public key file or hex key"))
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let options = VerifyOptions {
        trusted_keys: args
            .trusted_keys
            .iter()
            .map(|k| load_key(k))
            .collect::<anyhow::Result<_>>()?,
        skip_slots: false,
    };
    if !args.package.exists() {
        anyhow::bail!("{}: no such file", args.package.display());
    }
    let report = verify_file(&args.package, &options);
    if args.json {
        let checks: Vec<_> = report
            .checks
            .iter()
            .map(|c| {
                let (status, detail, kind) = match &c.outcome {
                    Outcome::Pass => ("pass", None, None),
                    Outcome::Fail(e) => {
                        ("fail", Some(e.to_string()), Some(format!("{:?}", e.kind())))
                    }
                    Outcome::Skipped(why) => ("skip", Some(why.clone()), None),
                };
                json!({
                    "check": c.name,
                    "slot": c.slot.as_ref().map(|s| s.0),
                    "slot_id": c.slot.as_ref().map(|s| s.1.clone()),
                    "status": status,
                    "detail": detail,
                    "kind": kind,
                })
            })
            .collect();
        print_json(&json!({
            "package": args.package.display().to_string(),
            "ok": report.is_ok(),
            "checks": checks,
        }));
    } else {
        println!("{}", args.package.display());
        for c in &report.checks {
            let what = match &c.slot {
                Some((n, id)) => format!("{} [slot {n} {id}]", c.name),
                None => c.name.to_string(),
            };
            match &c.outcome {
                Outcome::Pass => println!("  ✓ {what}"),
                Outcome::Fail(e) => println!("  ✗ {what}: {e}"),
                Outcome::Skipped(why) => println!("  - {what}: skipped ({why})"),
            }
        }
        let failed = report.failures().count();
        if failed == 0 {
            println!("ok: all checks passed");
        } else {
            println!("FAILED: {failed} check(s) failed");
        }
    }
    // The report goes to stdout; a failure is also named on stderr, where scripts look.
    let failed: Vec<(&str, &pspf::Error)> = report
        .checks
        .iter()
        .filter_map(|c| match &c.outcome {
            Outcome::Fail(e) => Some((c.name, e)),
            _ => None,
        })
        .collect();
    if let Some((name, e)) = failed.first() {
        let more = match failed.len() {
            1 => String::new(),
            n => format!(" (and {} more failed check(s))", n - 1),
        };
        eprintln!(
            "error: {}: {name} failed: {e}{more}",
            args.package.display()
        );
    }
    Ok(if report.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

//! `flavor verify PKG [--trusted-key KEY]…`: every integrity check, each with ✓/✗.

use crate::messages::{VerifyCheck, VerifyReport, print_document};
use crate::stdout::outln;
use anyhow::Context;
use pspf::keys::TrustedKey;
use pspf::verify::{Outcome, VerifyOptions, verify_file};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// The package to verify.
    package: PathBuf,
    /// Require the package to be signed by this key: its public key file (PEM), the key's 64
    /// hex digits, or its fingerprint (all 64 hex digits, or the 16 that flavor prints).
    /// Repeat to accept any of several keys.
    #[arg(long = "trusted-key", value_name = "KEY")]
    trusted_keys: Vec<String>,
    /// Print the checks as JSON.
    #[arg(long)]
    json: bool,
}

/// A `--trusted-key`: a key file, or the key or its fingerprint in hex.
fn trusted_key(spec: &str) -> anyhow::Result<TrustedKey> {
    let path = std::path::Path::new(spec);
    let text = if path.is_file() {
        std::fs::read_to_string(path).with_context(|| format!("reading {spec}"))?
    } else {
        spec.to_string()
    };
    TrustedKey::parse(&text).with_context(|| {
        format!(
            "--trusted-key {spec}: not a public key file, a 64-digit hex key, nor a key \
             fingerprint"
        )
    })
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let options = VerifyOptions {
        trusted_keys: args
            .trusted_keys
            .iter()
            .map(|k| trusted_key(k))
            .collect::<anyhow::Result<_>>()?,
        skip_slots: false,
    };
    if !args.package.exists() {
        anyhow::bail!("{}: no such file", args.package.display());
    }
    let report = verify_file(&args.package, &options);
    // A failure is also named on stderr, where scripts look (the report is on stdout).
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
        crate::style::error(&format!(
            "{}: {name} failed: {e}{more}",
            args.package.display()
        ));
    }
    if args.json {
        print_document(&VerifyReport {
            package: args.package.clone(),
            ok: report.is_ok(),
            checks: report.checks.iter().map(VerifyCheck::of).collect(),
        })?;
    } else {
        print_human(&args.package, &report)?;
    }
    Ok(if report.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn print_human(package: &std::path::Path, report: &pspf::Report) -> anyhow::Result<()> {
    outln!("{}", package.display())?;
    for c in &report.checks {
        let what = match &c.slot {
            Some((n, id)) => format!("{} [slot {n} {id}]", c.name),
            None => c.name.to_string(),
        };
        match &c.outcome {
            Outcome::Pass => outln!("  ✓ {what}")?,
            Outcome::Fail(e) => outln!("  ✗ {what}: {e}")?,
            Outcome::Skipped(why) => outln!("  - {what}: skipped ({why})")?,
        }
    }
    let failed = report.failures().count();
    if failed == 0 {
        outln!("ok: all checks passed")?;
    } else {
        outln!("FAILED: {failed} check(s) failed")?;
    }
    Ok(())
}

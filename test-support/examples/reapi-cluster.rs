//! Start a REAPI cluster (BuildGrid, PostgreSQL, test workers; see `flavor_test_support::reapi`)
//! and keep it up until standard input closes or the process is interrupted: for benchmarks
//! (`bench/`) and experiments by hand.
//!
//! ```sh
//! cargo run -q -p flavor-test-support --example reapi-cluster -- --workers 2 --capacity 4
//! ```
//!
//! Prints `url grpc://127.0.0.1:PORT`, `dir PATH` (the workers' logs are
//! `PATH/worker-<i>.jsonl`) and `startup …`, then `ready`. Options: `--workers N` (default 1),
//! `--capacity N` (default 2), `--disk` (CAS on disk instead of memory), `--keepalive SECS`.
//! Exit code 2 if BuildGrid is not installed.

use flavor_test_support::reapi::{CasStorage, Cluster, ClusterOptions};
use std::io::Write;
use std::time::Duration;

fn main() {
    let mut opts = ClusterOptions::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut number = |name: &str| -> u64 {
            let value = args.next().unwrap_or_default();
            value
                .parse()
                .unwrap_or_else(|_| usage(&format!("{name} needs a number")))
        };
        match arg.as_str() {
            "--workers" => opts.workers = number("--workers") as usize,
            "--capacity" => opts.capacity = number("--capacity") as u32,
            "--keepalive" => opts.bot_keepalive = Duration::from_secs(number("--keepalive")),
            "--disk" => opts.cas = CasStorage::Disk,
            "-h" | "--help" => usage(""),
            other => usage(&format!("unknown argument {other}")),
        }
    }
    let Some(cluster) = Cluster::start_with(opts) else {
        std::process::exit(2);
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "url {}", cluster.url());
    let _ = writeln!(out, "dir {}", cluster.dir().display());
    let _ = writeln!(out, "startup {}", cluster.startup_report());
    let _ = writeln!(out, "ready");
    let _ = out.flush();
    drop(out);
    let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
}

fn usage(problem: &str) -> ! {
    if !problem.is_empty() {
        eprintln!("reapi-cluster: {problem}");
    }
    eprintln!(
        "usage: reapi-cluster [--workers N] [--capacity N] [--disk] [--keepalive SECS]\n\
         starts a REAPI cluster on loopback; stops when stdin closes"
    );
    std::process::exit(if problem.is_empty() { 0 } else { 2 });
}

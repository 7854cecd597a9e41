//! BuildGrid's server configuration, tuned for tests.
//!
//! Against BuildGrid 0.9.1's defaults (measured in the study of this machine kind):
//!
//! - one priority-age assigner polling every 20 ms with 2 % jitter, instead of sleeping 1–2 s
//!   between assignments (≈1 s of queueing per action), and a 50 ms failure backoff instead
//!   of 5 s (a job that meets its bot's row locked waited 5 s);
//! - `bot-session-keepalive-timeout` [`ClusterOptions::bot_keepalive`] (default 10 s, BuildGrid's
//!   600 s) with a 1 s expiry timer: a lost worker's job is requeued ≈ keepalive + 1 s after
//!   its last contact;
//! - `operation-stream-keepalive-timeout` 5 s: an `Execute` stream hears from the server at
//!   least that often;
//! - CAS in memory (an LRU, lost on restart) or on disk ([`CasStorage`]); the action cache is
//!   always an in-memory LRU (lost on restart); failed actions are not cached unless
//!   [`ClusterOptions::cache_failed_actions`];
//! - scheduler state in the cluster's own PostgreSQL database (survives a server restart);
//! - platform matching on `OSFamily` and `ISA` only (BuildGrid always matches those two;
//!   other keys are rejected as unregistered);
//! - instance name `""`, plaintext gRPC on 127.0.0.1, without `SO_REUSEPORT` (gRPC's default):
//!   a port another server holds is a bind error, never two servers sharing one port.

use super::cluster::{CasStorage, ClusterOptions};
use std::path::Path;

/// The YAML for a server on `port` using database `db_url`, with its files under `dir`.
pub fn server_config(opts: &ClusterOptions, port: u16, db_url: &str, dir: &Path) -> String {
    let storage = match opts.cas {
        CasStorage::Memory => "!lru-storage &cas-storage\n    size: 1024MB".to_string(),
        CasStorage::Disk => format!(
            "!disk-storage &cas-storage\n    path: {}",
            yaml_string(&dir.join("cas").display().to_string())
        ),
    };
    let keepalive = opts.bot_keepalive.as_secs().max(5);
    let cache_failed = opts.cache_failed_actions;
    let db = yaml_string(db_url);
    format!(
        r#"server:
  - !channel
    address: "127.0.0.1:{port}"
    insecure-mode: true
authorization:
  method: none
connections:
  - !sql-connection &sql
    connection-string: {db}
    pool-size: 3
    pool-timeout: 30
    max-overflow: 7
storages:
  - {storage}
caches:
  - !lru-action-cache &action-cache
    storage: *cas-storage
    max-cached-refs: 100000
    allow-updates: true
    cache-failed-actions: {cache_failed}
schedulers:
  - !sql-scheduler &scheduler
    sql: *sql
    storage: *cas-storage
    action-cache: *action-cache
    bot-session-keepalive-timeout: {keepalive}
    session-expiry-timer-interval: 1
    max-execution-timeout: 600
    poll-interval: 0.05
    bot-poll-interval: 0.05
    property-set: !dynamic-property-set
      match-property-keys: []
      wildcard-property-keys: []
    assigners:
      - !priority-age-assigner
        count: 1
        interval: 0.02
        jitter-factor: 0.02
        failure-backoff: 0.05
instances:
  - name: ""
    services:
      - !action-cache
        cache: *action-cache
      - !execution
        scheduler: *scheduler
        operation-stream-keepalive-timeout: 5
      - !cas
        storage: *cas-storage
      - !bytestream
        storage: *cas-storage
thread-pool-size: 40
maximum-concurrent-rpcs: 60
grpc-server-options:
  grpc.so_reuseport: 0
"#
    )
}

/// A double-quoted YAML scalar.
fn yaml_string(s: &str) -> String {
    serde_json::to_string(s).expect("a string serializes")
}

//! End-to-end tests of the `flavor` command and the launcher: real packages built and run as
//! processes, real servers. One test binary (as ripgrep and cargo do), one module per area;
//! the helpers live in the `flavor-test-support` crate.

extern crate flavor_test_support as support;

mod build_cross;
mod build_examples;
mod build_failures;
mod build_incremental;
mod build_profiles;
mod build_races;
mod build_reproducible;
mod build_steps;
mod build_workspace;
mod cli;
mod cli_global;
mod fixtures;
mod launcher_attacks;
mod launcher_bombs;
mod launcher_cache;
mod launcher_cli;
mod launcher_conformance;
mod launcher_crash;
mod launcher_disk_full;
mod launcher_env;
mod launcher_run;
mod launcher_security;
mod launcher_setup;
mod launcher_size;
mod launcher_trust;
mod manifest_security;
mod python_apps;
mod python_build;
mod reapi_harness;
mod remote_cache;
mod remote_exec;
mod remote_faults;
mod remote_nginx_harness;
mod tools_cache;
mod tools_extract;
mod tools_init_import;
mod tools_keys;
mod tools_verify;
mod tools_workenv;
mod watch;

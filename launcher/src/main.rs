//! `flavor-launcher`: the program at the front of every flavor package.
//!
//! It reads the package it is part of from the end of its own file, verifies it, unpacks it
//! once into a per-user cache and replaces itself with the packaged command. Every argument is
//! passed to that command untouched; the launcher's own commands exist only in CLI mode
//! (`FLAVOR_LAUNCHER_CLI=1`). The runtime contract is PSPF.md §7.
//!
//! `main` is the C entry point (`no_main`): std's runtime set-up (stack-guard discovery through
//! `/proc/self/maps`, SIGPIPE and stdio probing) costs a warm launch tens of microseconds and
//! buys the launcher nothing; arguments and environment still come through std, which reads
//! them from glibc's start-up.

#![cfg_attr(not(test), no_main)]

mod checks;
mod cli;
mod config;
mod directories;
mod env;
mod error;
mod firstrun;
mod glibc;
#[cfg(all(
    not(test),
    target_arch = "x86_64",
    target_env = "gnu",
    target_feature = "crt-static"
))]
mod glibc_stubs;
mod launch;
mod log;
mod rollback;
mod run;
mod setup;
mod slots;

#[cfg(not(test))]
#[unsafe(no_mangle)]
extern "C" fn main(_argc: libc::c_int, _argv: *const *const libc::c_char) -> libc::c_int {
    let code = launcher_main();
    let _ = std::io::Write::flush(&mut std::io::stdout());
    libc::c_int::from(code)
}

#[cfg_attr(test, allow(dead_code))]
fn launcher_main() -> u8 {
    let args = std::env::args_os().skip(1).collect();
    let result = if config::cli_mode() {
        cli::run(args)
    } else {
        launch::launch(args)
    };
    match result {
        Ok(code) => code,
        Err(failure) => {
            if log::enabled(config::LogLevel::Error) {
                eprintln!("flavor: {failure}");
            }
            failure.code
        }
    }
}

//! One module per `flavor` subcommand.

pub mod build;
pub mod cache;
pub mod cache_push;
pub mod clean;
pub mod completions;
pub mod extract;
pub mod graph;
pub mod import;
pub mod init;
pub mod inspect;
pub mod key;
pub mod keygen;
pub mod repack;
pub mod run;
pub mod verify;
pub mod watch;
pub mod workenv;

//! One module per `flavor` subcommand. A command uses the shared modules beside `commands/`
//! (session, diagnostics, messages, …), never another command.

pub mod build;
pub mod cache;
pub mod clean;
pub mod completions;
pub mod extract;
pub mod graph;
pub mod import;
pub mod init;
pub mod inspect;
pub mod key;
pub mod keygen;
pub mod launcher;
pub mod list;
pub mod repack;
pub mod run;
pub mod verify;
pub mod watch;
pub mod workenv;

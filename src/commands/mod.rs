//! One module per `flavor` subcommand.

pub mod build;
pub mod graph;
pub mod inspect;
pub mod repack;
pub mod run;
pub mod verify;

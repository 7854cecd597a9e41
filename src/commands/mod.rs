//! One module per `flavor` subcommand.

pub mod build;
pub mod inspect;
pub mod repack;
pub mod verify;

//! One module per `flavor` subcommand.

pub mod inspect;
pub mod verify;

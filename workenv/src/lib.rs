//! # flavor-workenv — where flavor keeps per-user state
//!
//! One home for what the launcher, `flavor workenv`, `flavor key` and signing must agree on:
//!
//! - [`dirs`]: the cache root, the config directory, the trusted-keys directory and the
//!   per-user signing key directory, found from the environment;
//! - [`layout`]: the on-disk layout of work environments under the cache root
//!   ([`WorkenvLayout`], [`BuildLayout`]);
//! - [`plan`]: the exec plan a first run stores for warm launches ([`ExecPlan`], its
//!   [`EXEC_PLAN_VERSION`]) and the [`Validation`] levels;
//! - [`files`]: atomic writes, and removal, creation and moves that never follow a link;
//! - [`usage`]: whether a package build is in use (its lock) and when it was last used;
//! - [`prune`]: keeping only the newest few builds of a package that are not in use;
//! - [`ownership`]: nothing another user owns or may write is trusted;
//! - [`seen`]: the newest version of each package seen per signing key (the rollback rule),
//!   ordered by [`semver`].
//!
//! The static launcher links this crate, so it depends only on what the launcher links
//! anyway (`pspf` without its writer, `serde`, `sha2`, `libc`).
//!
//! ```
//! use flavor_workenv::BuildLayout;
//! let build = BuildLayout::for_index("/cache".into(), "hello".into(), &[0u8; 32]);
//! assert!(build.ready().ends_with("workenv/.hello.pspf/versions/0000000000000000.ready"));
//! ```

#![deny(missing_docs)]

pub mod dirs;
mod error;
pub mod files;
pub mod layout;
pub mod ownership;
pub mod plan;
pub mod prune;
pub mod seen;
pub mod semver;
pub mod usage;

pub use error::{Error, Result};
pub use layout::{BuildLayout, WorkenvLayout};
pub use plan::{EXEC_PLAN_VERSION, ExecPlan, Validation};

//! Integration tests of the build engine: caching, failures and parallel scheduling. One test
//! binary, one module per area.

mod cache;
mod changes;
mod common;
mod failures;
mod gc;
mod parallel;
mod speculation;
mod trees;

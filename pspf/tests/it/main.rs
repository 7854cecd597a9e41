//! Integration tests of the pspf crate: the conformance kit, keys, round trips of every codec
//! and tampering. One test binary, one module per area.

mod bounds;
mod common;
mod conformance;
mod frames;
mod keys;
mod roundtrip;
mod tamper;

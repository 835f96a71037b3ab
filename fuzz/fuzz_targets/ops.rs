//! Fuzzes the pool with the operation language of `tests/model.rs`: the
//! input bytes decode into a pool configuration and a sequence of
//! operations (see `fuzz/src/model.rs`), each checked against the reference
//! model (contents, storage identity, `in_use` accounting, cache bounds, no
//! overlapping mutable buffers).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../src/model.rs"]
mod model;

fuzz_target!(|data: &[u8]| {
    model::run(&model::decode(data));
});

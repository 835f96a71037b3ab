//! Fuzzes the pool with the operation language of `tests/model/`: the
//! input bytes decode into a pool configuration and a sequence of
//! operations (see `tests/model/ops/`, which this target shares with the
//! integration tests), each checked against the reference model (contents,
//! storage identity, `in_use` accounting, cache bounds, no overlapping
//! mutable buffers).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../tests/model/ops/mod.rs"]
mod ops;

fuzz_target!(|data: &[u8]| {
    ops::run(&ops::decode(data));
});

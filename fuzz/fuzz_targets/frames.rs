//! Fuzzes the frame path against the reference parser of
//! `tests/frame_path.rs` (this target includes that file, as the proptest
//! there uses it): the input bytes decode into a maximum frame length, a
//! memory limit, the chunks the stream arrives in (a `Pending` before
//! each), how each frame is asked for (`read_frame`, `read_frame` futures
//! polled once and dropped first, or the `Stream` impl) and the stream
//! itself (`frame_path::decode` says how; fuzz/README.md too).
//! `FrameReader` and `read_chain` must give the reference's frames and
//! error, never wait for memory that nothing will free, and leave nothing
//! in use once everything is dropped; any difference panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../tests/frame_path.rs"]
mod frame_path;

fuzz_target!(|data: &[u8]| {
    frame_path::check(&frame_path::decode(data));
});

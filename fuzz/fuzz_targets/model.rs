//! `cargo +nightly fuzz run model`: see `tests/fuzz_harness/mod.rs` for what it checks.
#![no_main]

#[path = "../../tests/fuzz_harness/mod.rs"]
#[allow(dead_code)]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = harness::model(data);
});

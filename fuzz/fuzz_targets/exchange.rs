//! The whole exchange state machine, sans-IO with a virtual clock, driven
//! by arbitrary server bytes; see `exchange` in src/fuzzing.rs for the
//! input format and the invariants.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| roundtrip_fuzz::exchange(data));

//! Arbitrary requests from the caller through the exchange's request
//! writer; see `h1_writer` in src/fuzzing.rs for the input format and the
//! invariants.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| roundtrip_fuzz::h1_writer(data));

//! The response head parser on arbitrary bytes, whole and in pieces; see
//! `h1_head` in fuzz/src/h1.rs for the input format and the invariants.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| roundtrip_fuzz::h1_head(data));

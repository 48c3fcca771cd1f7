//! Arbitrary bytes into the TLS adapter as the server's records; see
//! fuzz/src/tls_records.rs for the input format and the invariants checked.
#![no_main]
#![forbid(unsafe_code)]

libfuzzer_sys::fuzz_target!(|data: &[u8]| roundtrip_fuzz::tls_records(data));

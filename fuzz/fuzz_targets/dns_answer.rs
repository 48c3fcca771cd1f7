//! Bytes from the network into the DNS resolver's state machine; see
//! `dns_answer` in fuzz/src/targets.rs for the input format and the
//! invariants checked.
#![no_main]
#![forbid(unsafe_code)]

libfuzzer_sys::fuzz_target!(|data: &[u8]| roundtrip_fuzz::dns_answer(data));

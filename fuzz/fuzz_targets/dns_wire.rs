//! `roundtrip::dns::wire::parse_answer` and `build_query` on arbitrary
//! bytes; see `dns_wire` in fuzz/src/targets.rs.
#![no_main]
#![forbid(unsafe_code)]

libfuzzer_sys::fuzz_target!(|data: &[u8]| roundtrip_fuzz::dns_wire(data));

//! The body decoders (Content-Length, chunked with trailers, close
//! delimited) on arbitrary bytes in arbitrary splits; see `h1_body` in
//! fuzz/src/h1.rs for the input format and the invariants.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| roundtrip_fuzz::h1_body(data));

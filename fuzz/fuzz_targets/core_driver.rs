//! The whole client's sans-IO core (`roundtrip::core::Core`) driven with
//! arbitrary IO results and clock jumps; see fuzz/src/core_driver.rs for
//! the input format and the invariants checked.
#![no_main]
#![forbid(unsafe_code)]

libfuzzer_sys::fuzz_target!(|data: &[u8]| roundtrip_fuzz::core_driver(data));

//! The fuzz targets' bodies, in `targets.rs` so that the root crate's
//! `tests/fuzz_replay.rs` can compile the same file and replay the corpus.

// `deny`, not `forbid`: `unchecked` below needs one `allow` (see there).
#![deny(unsafe_code)]

mod targets;

pub use targets::{dns_answer, dns_wire, question_of, splice, MAX_PAYLOAD, NAMES};

// The TLS adapter's target, in its own file (compiled twice the same way).
mod tls_records;

pub use tls_records::tls_records;

// The whole client's sans-IO core, driven by arbitrary IO results.
mod core_driver;

pub use core_driver::core_driver;

// The HTTP/1.1 head parser's and body decoders' targets (compiled twice).
mod h1;

pub use h1::{h1_body, h1_head};

// The exchange and request-writer targets live in the library itself
// (src/fuzzing.rs, behind the `fuzzing` feature): they drive the private
// exchange state machine.
pub use roundtrip::fuzzing::exchange;

/// The request writer's target: arbitrary caller requests. Values with
/// CR, LF or NUL are built with `http`'s unchecked constructor (as a
/// careless caller could) only when debug assertions are off (`cargo fuzz
/// run -O h1_writer`): with them, `http` panics on such values itself.
pub fn h1_writer(data: &[u8]) {
    if cfg!(debug_assertions) {
        roundtrip::fuzzing::h1_writer(data, None);
    } else {
        roundtrip::fuzzing::h1_writer(data, Some(unchecked));
    }
}

// The owned copy is needed: the constructor takes `'static` data.
#[allow(clippy::unnecessary_to_owned, unsafe_code)]
fn unchecked(bytes: &[u8]) -> http::HeaderValue {
    // SAFETY: `from_maybe_shared_unchecked` requires nothing for memory
    // safety; it only skips the check for CR, LF and other bytes that
    // are not allowed in a value, which is what the target wants to feed
    // the writer.
    unsafe { http::HeaderValue::from_maybe_shared_unchecked(bytes.to_vec()) }
}

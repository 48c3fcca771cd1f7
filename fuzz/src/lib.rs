//! The fuzz targets' bodies, in `targets.rs` so that the root crate's
//! `tests/fuzz_replay.rs` can compile the same file and replay the corpus.

#![forbid(unsafe_code)]

mod targets;

pub use targets::{dns_answer, dns_wire, question_of, splice, MAX_PAYLOAD, NAMES};

// The TLS adapter's target, in its own file (compiled twice the same way).
mod tls_records;

pub use tls_records::tls_records;

// The whole client's sans-IO core, driven by arbitrary IO results.
mod core_driver;

pub use core_driver::core_driver;

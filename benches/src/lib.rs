//! # roundtrip-bench
//!
//! Scaffolding for the keep-alive benchmarks of `roundtrip` (issue #2): a
//! local nginx to talk to, a counting global allocator, process CPU time,
//! medians, and a parser for `strace -c` summaries. The `keepalive` binary
//! puts them together; `run.sh` runs it and `docs/benchmarks.md` explains
//! what the figures mean.
//!
//! Nothing here is run by `cargo test`: this crate is its own workspace and
//! is only ever run by hand, in release mode.

// Unsafe code is refused everywhere but in the counting allocator, which
// must implement the unsafe `GlobalAlloc` trait (see its module docs).
#![deny(unsafe_code)]

#[allow(unsafe_code)]
pub mod alloc;
pub mod cpu;
pub mod nginx;
pub mod proc;
pub mod stats;
pub mod strace;

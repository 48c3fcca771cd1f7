//! The teaching version: one GET driven through the sans-IO
//! `roundtrip::core::Core` over a simulated network on a virtual clock.
//! Every hop takes 10 ms one way, the DNS server and the web server answer
//! at once, and no real socket or clock is involved, so the timeline it
//! prints is the same on every run: the core's requests for IO (`io`) and
//! the trace events (`event`), each at its virtual instant.
//!
//! The loop is in examples/support/simulated.rs, which
//! tests/drivers_agree.rs runs too.
//!
//! `cargo run --example drive_simulated` (see docs/embedding.md).

#![forbid(unsafe_code)]

mod support;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (timeline, outcome) = support::simulated::run(roundtrip::Trace::new())?;
    for line in timeline {
        println!("{line}");
    }
    println!("{outcome}");
    Ok(())
}

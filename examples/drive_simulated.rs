//! The teaching version: one GET driven through the sans-IO
//! `roundtrip::core::Core` over a simulated network on a virtual clock.
//! Every hop takes 10 ms one way, the DNS server and the web server answer
//! at once, and no real socket or clock is involved, so the timeline it
//! prints is the same on every run: the core's requests for IO (`io`) and
//! the trace events (`event`), each at its virtual instant.
//!
//! An optional argument picks another scenario: `pooled` (a second GET on
//! the pooled connection), `https` (the web server is an in-memory rustls
//! server with a freshly minted certificate; byte counts may differ from
//! run to run) or `dns-retry` (the first A query is lost, and asked again
//! after a 100 ms DNS timeout).
//!
//! The loop is in examples/support/simulated.rs, which
//! tests/drivers_agree.rs runs too.
//!
//! `cargo run --example drive_simulated [plain|pooled|https|dns-retry]`
//! (see docs/embedding.md).

#![forbid(unsafe_code)]

mod support;

use support::simulated::{run, Scenario};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let scenario = match std::env::args().nth(1) {
        None => Scenario::Plain,
        Some(name) => Scenario::from_name(&name).ok_or_else(|| {
            let names: Vec<_> = Scenario::ALL.iter().map(|s| s.name()).collect();
            format!("unknown scenario {name:?}: one of {}", names.join(", "))
        })?,
    };
    let (timeline, outcomes) = run(scenario, roundtrip::Trace::new())?;
    for line in timeline {
        println!("{line}");
    }
    for outcome in outcomes {
        println!("{outcome}");
    }
    Ok(())
}

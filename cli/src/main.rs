//! The `roundtrip` command: fetch URLs with curl's option names and show
//! every phase of each round trip (`--events`), or, run without arguments,
//! a self-contained demo on loopback.
//!
//! - `args` — parsing the command line.
//! - `fetch` — sending the requests and writing the responses.
//! - `events` — printing trace events (JSON lines, readable lines).
//! - `demo` — the loopback server and the guided tour.

#![forbid(unsafe_code)]

mod args;
mod demo;
mod events;
mod fetch;
mod har;
mod report;
mod stats;
mod svg;
#[cfg(test)]
mod timelines;
mod waterfall;
mod writeout;

use std::io::{self, Write};
use std::process::ExitCode;
use std::time::Instant;

use args::{Command, UsageError};

/// Prints a usage error on one line of stderr.
fn usage_error(e: &UsageError) {
    let _ = writeln!(io::stderr(), "roundtrip: {e} (see roundtrip --help)");
}

fn main() -> ExitCode {
    let start = Instant::now();
    match args::parse(std::env::args_os().skip(1)) {
        Ok(Command::Help) => {
            let _ = io::stdout().write_all(args::HELP.as_bytes());
            ExitCode::SUCCESS
        }
        Ok(Command::Version) => {
            let _ = writeln!(io::stdout(), "roundtrip {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Ok(Command::Demo { events }) => demo::run(events, start),
        Ok(Command::Fetch(opts)) => fetch::run(&opts, start),
        Err(e) => {
            usage_error(&e);
            ExitCode::from(fetch::EXIT_USAGE)
        }
    }
}

//! # roundtrip
//!
//! An HTTP/1.1 client in which one single-threaded event loop drives every
//! stage of a request's journey — name lookup, connect, request writer,
//! response parser, connection pool — and every state transition fires the
//! trace hooks attached to that request.
//!
//! ```no_run
//! use roundtrip::{Client, Trace};
//!
//! let client = Client::new();
//! let trace = Trace::new()
//!     .on_got_conn(|at, conn, reused, _, _, _, remote| {
//!         println!("{at:?} got conn {conn} to {remote} (reused: {reused})")
//!     })
//!     .on_event(|e| println!("{}", e.kind.name()));
//! let req = http::Request::get("http://127.0.0.1:8080/").body(())?;
//! let resp = client.send_traced(req, trace)?;
//! println!("{}", resp.status());
//! let body = resp.into_body().text()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## The round trip on one page
//!
//! ```text
//! send(request, trace)
//!   └─ exchange: get_conn ─┬─ pool hit ─────────────────────────┐
//!                          └─ dns ─ connect (each address) ─────┤
//!                                                            got_conn
//!      write head (wrote_header_field…, wrote_headers) ─ [wait_100_continue] ─ body ─ wrote_request
//!      read: got_first_response_byte ─ [1xx…] ─ got_response_headers ─ body ─ response_body_done
//!      done: put_idle_conn ─ request_done
//! ```
//!
//! - [`exchange`](crate::Client) — one request's state machine, the one
//!   place hooks fire ([`trace`] documents the order contract).
//! - [`h1`] — RFC 9112: request writer, head parser, framing, decoders.
//! - [`dns`] — name resolution (hosts file today), sans-IO.
//! - [`pool`] — idle connections and why one was not kept.
//! - The runtime — the mio loop, the only code that does IO.
//!
//! Protocol cores take bytes and the current `Instant` and say what should
//! happen next; only the runtime owns sockets and reads the clock.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod client;
mod config;
pub mod conn;
pub mod dial;
pub mod dns;
mod error;
mod exchange;
pub mod h1;
pub mod pool;
pub mod proxy;
mod runtime;
mod send_body;
pub mod timings;
pub mod tls;
pub mod trace;
pub mod x509;

pub use client::{Batch, Body, Client, ClientBuilder};
pub use config::{Config, IpFamily, RequestOptions};
pub use error::{AttemptError, DnsAttempt, Error, ErrorKind, Limit, Phase, Result, TlsError};
pub use send_body::SendBody;
pub use timings::{PhaseTime, Skipped, Timings};
pub use trace::{CloseReason, ConnId, Event, EventKind, RequestId, Trace};

pub use http;

/// `now + d`, saturating a century ahead: a caller's "huge" timeout (even
/// `Duration::MAX`) means "never", not a panic on `Instant` overflow.
pub(crate) fn after(now: std::time::Instant, d: std::time::Duration) -> std::time::Instant {
    now.checked_add(d)
        .or_else(|| now.checked_add(std::time::Duration::from_secs(100 * 365 * 86_400)))
        .unwrap_or(now)
}

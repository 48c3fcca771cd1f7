//! # roundtrip
//!
//! An HTTP/1.1 client in which one single-threaded event loop drives every
//! stage of a request's journey — name lookup, connect, proxy tunnel, TLS
//! handshake, request writer, response parser, connection pool — and every
//! state transition fires the trace hooks attached to that request.
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
//!   └─ exchange: get_conn ─┬─ pool hit ──────────────────────────────────────────────┐
//!                          └─ dns ─ connect (each address) ─ [proxy CONNECT] ─ [TLS] ┤
//!                                                                                got_conn
//!      write head (wrote_header_field…, wrote_headers) ─ [wait_100_continue] ─ body ─ wrote_request
//!      read: got_first_response_byte ─ [1xx…] ─ got_response_headers ─ body ─ response_body_done
//!      done: put_idle_conn ─ request_done
//! ```
//!
//! `[proxy CONNECT]` (`proxy_connect_start`/`proxy_connect_done`) is the
//! tunnel an `https` request opens through an HTTP proxy; `[TLS]`
//! (`tls_handshake_start`/`tls_handshake_done`) is the handshake of every
//! new `https` connection, through the tunnel if there is one. A plain
//! `http` request through a proxy needs neither: it is sent to the proxy
//! with the absolute URL.
//!
//! - The exchange (`src/exchange/`, private) — one request's state
//!   machine, the one place hooks fire ([`trace`] documents the order
//!   contract); [`core::Core`] holds one per request in flight, and
//!   [`Client`] drives the core.
//! - [`dns`] — the stub resolver (RFC 1035): hosts file, resolv.conf, UDP
//!   queries with TCP fallback, a TTL cache; sans-IO.
//! - [`dial`] — the Happy Eyeballs v2 race (RFC 8305); sans-IO.
//! - [`tls`] — rustls driven without IO; [`x509`] describes certificates.
//! - [`proxy`] — which proxy a request goes through.
//! - [`h1`] — RFC 9112: request writer, head parser, framing, decoders.
//! - [`pool`] and [`conn`] — idle connections, and why one was not kept.
//! - [`timings`] — curl's `-w` times and each phase's own duration.
//! - The runtime — the mio loop, the only code that does IO.
//!
//! Protocol cores take bytes and the current `Instant` and say what should
//! happen next; only the runtime owns sockets and reads the clock. Their
//! doc examples run them by hand, without a socket (see
//! [`dns::Resolver`], [`dial::Schedule`], [`tls::Tls`]).
//!
//! ## Examples
//!
//! `examples/` holds programs that each start their own server on
//! 127.0.0.1, so they need no network (`cargo run --example NAME`): `get`,
//! `post_json`, `trace_to_stdout`, `batch` (many requests on one loop),
//! `custom_resolver` (DNS servers, hosts and pinned addresses), `timings`
//! (curl `-w` style) and `har` (a HAR 1.2 file from the trace).

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod client;
mod config;
pub mod conn;
pub mod core;
pub mod dial;
pub mod dns;
mod erased;
mod error;
mod exchange;
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
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
pub use error::{
    io_kind_name, AttemptError, DnsAttempt, Error, ErrorKind, Limit, Phase, Result, TlsError,
};
pub use send_body::SendBody;
pub use timings::{PhaseTime, Skipped, Timings};
pub use trace::{CloseReason, ConnId, Event, EventKind, RequestId, Trace};

/// The `bytes` crate, whose [`Bytes`](bytes::Bytes) [`Body::raw_head`]
/// returns.
pub use bytes;
pub use http;

/// `now + d`, saturating a century ahead: a caller's "huge" timeout (even
/// `Duration::MAX`) means "never", not a panic on `Instant` overflow.
pub(crate) fn after(now: std::time::Instant, d: std::time::Duration) -> std::time::Instant {
    now.checked_add(d)
        .or_else(|| now.checked_add(std::time::Duration::from_secs(100 * 365 * 86_400)))
        .unwrap_or(now)
}

/// The earlier of two optional deadlines. Folding deadlines with this
/// compiles to a fraction of what `[..].into_iter().flatten().min()` does,
/// and the event loop asks for its deadlines several times per request.
#[inline]
pub(crate) fn earliest(
    a: Option<std::time::Instant>,
    b: Option<std::time::Instant>,
) -> Option<std::time::Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

//! Trace events: one vocabulary for the Rust API, the CLI's `--events`
//! output and the docs (DESIGN.md, "Trace events").
//!
//! The hook names follow Go's `net/http/httptrace.ClientTrace`, renamed to
//! snake_case, and go further (`got_response_headers`, `response_body_done`,
//! `retry`, `request_done`, `connect_cancelled`, `conn_closed`). Events are
//! fired from one place only, the per-request exchange, in order, each
//! stamped with the `Instant` of its transition; no hook is ever called from
//! inside a parser. Events borrow what they describe, so attaching hooks
//! costs no allocation per event.
//!
//! # The contract (tested in `tests/trace_order.rs`)
//!
//! For one request, in this order:
//!
//! 1. `get_conn` — exactly once per resend, before the pool is consulted.
//! 2. On a pool miss: `dns_start`/`dns_done` once each when the host is a
//!    name (never for IP literals), with a `dns_query_start`/
//!    `dns_query_done` pair between them for every query sent (none for
//!    answers from the hosts file or the cache, or for a lookup that joined
//!    one in flight, `coalesced`). Then the Happy Eyeballs race (RFC 8305):
//!    `connect_start` per attempt, each ended by one `connect_done` (with
//!    the error for a failed attempt); an attempt that lost the race gets
//!    `connect_done` with a cancellation error, as in Go, then
//!    `connect_cancelled`. Because connecting starts as soon as the first
//!    address family answers, `connect_start` may come before `dns_done`;
//!    if the request ends before its lookup, `dns_done` still comes before
//!    `request_done`. Then, through a proxy for an `https` URL,
//!    `proxy_connect_start`/`proxy_connect_done` around the CONNECT
//!    tunnel, and for `https` `tls_handshake_start`/`tls_handshake_done`.
//! 3. `got_conn` — exactly once per resend, on a hit or after connecting.
//! 4. `wrote_header_field` once per header name, in the order written, then
//!    `wrote_headers` once.
//! 5. With `Expect: 100-continue`: `wait_100_continue` once the head is
//!    sent; `got_100_continue` (then `got_1xx_response`) when the server
//!    answers 100.
//! 6. `wrote_request` once per resend, when the whole request has been
//!    handed to the socket (or the body was skipped after a final status),
//!    or with the write error.
//! 7. `got_first_response_byte` once per resend; `got_1xx_response` once per
//!    informational head; `got_response_headers` once for the final head.
//! 8. `response_body_done` once the body ends (or fails, or is cancelled),
//!    then `put_idle_conn` once, saying whether the connection was pooled.
//! 9. `request_done` — the last event, exactly once whatever happened.
//!
//! `retry` may appear after a failure on a reused connection, or after a
//! 417 to an `Expect: 100-continue` request (RFC 9110 §10.1.1); every event
//! after it carries `resend` one higher and steps 1–8 start over. When a
//! redirect is followed, `redirect` comes after the hop's `put_idle_conn`
//! and steps 1–8 start over for the next hop. Phases that did not happen
//! are absent, never reported as zero.
//!
//! `conn_closed` belongs to the client, not to a request: only client-wide
//! hooks see it, right after the `put_idle_conn` of the request that closed
//! the connection, or later, between other requests' events, when an idle
//! connection is closed.

mod json;
#[cfg(feature = "tracing")]
pub(crate) mod spans;

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use http::{HeaderMap, HeaderValue, StatusCode, Version};

use crate::error::Error;

pub use json::write_json;

/// Identifies one request submitted to a client (unique per client).
///
/// ```no_run
/// let client = roundtrip::Client::new();
/// let mut batch = client.batch();
/// let id = batch.submit(http::Request::get("http://127.0.0.1:8080/").body(())?);
/// let (done, _result) = batch.wait().expect("one request pending");
/// assert_eq!(done, id);
/// println!("request {id} done"); // trace events carry the same id in `req`
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

/// Identifies one TCP connection for the lifetime of a client.
///
/// ```
/// use roundtrip::Trace;
///
/// // Two requests with the same `conn` in `got_conn` shared a connection.
/// let trace = Trace::new().on_got_conn(|_, conn, reused, _, _, _, _| {
///     println!("connection {conn} (reused: {reused})");
/// });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// Identifies one connection attempt (one address tried).
///
/// ```
/// use roundtrip::{trace::EventKind, Trace};
///
/// // Pair each connect_start with its connect_done by attempt.
/// let trace = Trace::new().on_event(|e| match &e.kind {
///     EventKind::ConnectStart { attempt, addr, .. } => println!("#{attempt} to {addr}"),
///     EventKind::ConnectDone { attempt, error, .. } => println!("#{attempt}: {error:?}"),
///     _ => {}
/// });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AttemptId(pub u64);

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
impl fmt::Display for AttemptId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Why a connection was closed instead of being kept for reuse.
///
/// ```
/// use roundtrip::{CloseReason, Trace};
///
/// let trace = Trace::new().on_put_idle_conn(|_, conn, not_pooled| match not_pooled {
///     None => println!("connection {conn} kept for reuse"),
///     Some(why) => println!("connection {conn} closed: {why}"),
/// });
/// assert_eq!(CloseReason::IdleTimeout.as_str(), "idle_timeout");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CloseReason {
    /// The server closed it (EOF or reset), or sent bytes while it was idle.
    ServerClosed,
    /// It stayed idle longer than `Config::idle_timeout`.
    IdleTimeout,
    /// The pool already held `max_idle_per_host` (or `max_idle`) connections.
    PoolFull,
    /// `Connection: close` from either side, or HTTP/1.0 without keep-alive.
    ConnectionClose,
    /// The body was delimited by the connection closing.
    CloseDelimited,
    /// The framing was ambiguous (RFC 9112 §6.3: Transfer-Encoding with
    /// Content-Length, or on HTTP/1.0).
    AmbiguousFraming,
    /// Bytes followed the end of the response.
    ExtraBytes,
    /// The request body was not (fully) sent, e.g. after a final status in
    /// answer to `Expect: 100-continue`.
    RequestBodyUnsent,
    /// The exchange failed with an error (IO or protocol).
    Error,
    /// The caller stopped before the body's end (dropped or cancelled).
    Cancelled,
    /// The client was dropped.
    ClientDropped,
}

impl CloseReason {
    /// snake_case name used in traces and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::ServerClosed => "server_closed",
            CloseReason::IdleTimeout => "idle_timeout",
            CloseReason::PoolFull => "pool_full",
            CloseReason::ConnectionClose => "connection_close",
            CloseReason::CloseDelimited => "close_delimited",
            CloseReason::AmbiguousFraming => "ambiguous_framing",
            CloseReason::ExtraBytes => "extra_bytes",
            CloseReason::RequestBodyUnsent => "request_body_unsent",
            CloseReason::Error => "error",
            CloseReason::Cancelled => "cancelled",
            CloseReason::ClientDropped => "client_dropped",
        }
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The values written for one header name.
///
/// ```
/// use roundtrip::Trace;
///
/// let trace = Trace::new().on_wrote_header_field(|_, name, values| {
///     for value in values.iter() {
///         println!("{name}: {}", value.to_str().unwrap_or("<not ASCII>"));
///     }
/// });
/// ```
#[derive(Debug, Clone)]
pub struct FieldValues<'a>(FieldValuesInner<'a>);

#[derive(Debug, Clone)]
enum FieldValuesInner<'a> {
    One(&'a HeaderValue),
    All(&'a HeaderMap, &'a http::HeaderName),
}

impl<'a> FieldValues<'a> {
    pub(crate) fn one(v: &'a HeaderValue) -> Self {
        FieldValues(FieldValuesInner::One(v))
    }
    pub(crate) fn all(map: &'a HeaderMap, name: &'a http::HeaderName) -> Self {
        FieldValues(FieldValuesInner::All(map, name))
    }
    /// The values, in the order written.
    pub fn iter(&self) -> impl Iterator<Item = &'a HeaderValue> + 'a {
        let (one, all) = match self.0 {
            FieldValuesInner::One(v) => (Some(v), None),
            FieldValuesInner::All(map, name) => (None, Some(map.get_all(name).iter())),
        };
        one.into_iter().chain(all.into_iter().flatten())
    }
}

/// The transport used for a connection attempt (Go's `network`).
///
/// ```
/// use roundtrip::trace::Network;
///
/// assert_eq!(Network::Tcp6.as_str(), "tcp6");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    /// TCP over IPv4.
    Tcp4,
    /// TCP over IPv6.
    Tcp6,
}

impl Network {
    /// `"tcp4"` or `"tcp6"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Network::Tcp4 => "tcp4",
            Network::Tcp6 => "tcp6",
        }
    }
    pub(crate) fn of(addr: &SocketAddr) -> Network {
        if addr.is_ipv4() {
            Network::Tcp4
        } else {
            Network::Tcp6
        }
    }
}

/// What one event reports; the variant names are the trace vocabulary.
///
/// ```
/// use roundtrip::{EventKind, Trace};
///
/// let trace = Trace::new().on_event(|e| match &e.kind {
///     EventKind::DnsDone { addrs, .. } => println!("resolved: {addrs:?}"),
///     EventKind::ConnectDone { addr, error: Some(err), .. } => println!("{addr} failed: {err}"),
///     EventKind::GotResponseHeaders { status, .. } => println!("status {status}"),
///     EventKind::RequestDone { error: Some(err) } => println!("failed: {err}"),
///     other => println!("{}", other.name()),
/// });
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum EventKind<'a> {
    /// Before a connection is taken from the pool or created.
    GetConn {
        /// `host:port` of the target.
        host_port: &'a str,
    },
    /// A name lookup starts (not fired for IP literals).
    DnsStart {
        /// The name looked up.
        host: &'a str,
    },
    /// A name lookup ended.
    DnsDone {
        /// The addresses found, in the order of RFC 6724 destination
        /// selection. The dialer may still start with the other family,
        /// when it remembers that family winning the last race to this
        /// host (RFC 8305 §4).
        addrs: &'a [IpAddr],
        /// True when this request shared a lookup already in flight.
        coalesced: bool,
        /// Why the lookup failed, if it did.
        error: Option<&'a Error>,
    },
    /// One DNS query was sent (beyond Go): each family, each retry and
    /// each TCP fallback is its own query.
    DnsQueryStart {
        /// The server asked.
        server: SocketAddr,
        /// `"A"` or `"AAAA"`.
        qtype: &'static str,
        /// `"udp"` or `"tcp"`.
        transport: &'static str,
    },
    /// One DNS query ended.
    DnsQueryDone {
        /// The server asked.
        server: SocketAddr,
        /// `"A"` or `"AAAA"`.
        qtype: &'static str,
        /// `"udp"` or `"tcp"`.
        transport: &'static str,
        /// The response code (`"NOERROR"`, `"NXDOMAIN"`, …) if an answer came.
        rcode: Option<&'static str>,
        /// Why no answer came (timed out, refused, …).
        error: Option<&'a str>,
        /// Records in the answer section.
        answers: usize,
        /// The answer had the TC bit: it is asked again over TCP.
        truncated: bool,
    },
    /// A connection attempt starts.
    ConnectStart {
        /// The attempt's id.
        attempt: AttemptId,
        /// tcp4 or tcp6.
        network: Network,
        /// The address being connected to.
        addr: SocketAddr,
    },
    /// A connection attempt ended.
    ConnectDone {
        /// The attempt's id.
        attempt: AttemptId,
        /// tcp4 or tcp6.
        network: Network,
        /// The address that was connected to.
        addr: SocketAddr,
        /// Why it failed, if it did.
        error: Option<&'a std::io::Error>,
    },
    /// A connection attempt was abandoned because another one won.
    ConnectCancelled {
        /// The attempt's id.
        attempt: AttemptId,
        /// tcp4 or tcp6.
        network: Network,
        /// The address of the abandoned attempt.
        addr: SocketAddr,
    },
    /// A CONNECT tunnel through a proxy starts (after the TCP connection
    /// to the proxy, before TLS to the origin).
    ProxyConnectStart {
        /// The proxy (credentials removed).
        proxy: &'a str,
        /// `host:port` of the origin.
        target: &'a str,
    },
    /// The proxy answered CONNECT, or the CONNECT failed (closed, reset,
    /// timed out): once per `ProxyConnectStart`.
    ProxyConnectDone {
        /// Its status, if a head came.
        status: Option<StatusCode>,
        /// Why the tunnel was not opened, if it was not.
        error: Option<&'a Error>,
        /// The proxy's final head as it came off the wire, from the status
        /// line to the empty line that ends it; empty when none came.
        raw_head: &'a [u8],
    },
    /// A TLS handshake starts.
    TlsHandshakeStart,
    /// A TLS handshake ended.
    TlsHandshakeDone {
        /// What it agreed on, when it succeeded.
        info: Option<&'a crate::tls::TlsInfo>,
        /// Why it failed, if it did.
        error: Option<&'a Error>,
    },
    /// A connection was obtained for the request.
    GotConn {
        /// The connection's id.
        conn: ConnId,
        /// True if it carried an earlier request.
        reused: bool,
        /// True if it came from the idle pool.
        was_idle: bool,
        /// How long it was idle (zero when not idle).
        idle_time: Duration,
        /// Local socket address.
        local_addr: SocketAddr,
        /// Remote socket address.
        remote_addr: SocketAddr,
    },
    /// One header name (with all its values) was written.
    WroteHeaderField {
        /// The field name as written.
        name: &'a str,
        /// Its values, one field line each.
        values: FieldValues<'a>,
    },
    /// The whole head was written.
    WroteHeaders,
    /// The head with `Expect: 100-continue` is sent; waiting for 100.
    Wait100Continue,
    /// The server answered 100 Continue.
    Got100Continue,
    /// An informational (1xx) head arrived, 100 included.
    Got1xxResponse {
        /// The 1xx code.
        code: StatusCode,
        /// Its fields.
        headers: &'a HeaderMap,
        /// The head as it came off the wire, from the status line to the
        /// empty line that ends it (the reason phrase and the case of the
        /// field names as sent).
        raw_head: &'a [u8],
    },
    /// The whole request (head and body) was handed to the socket.
    WroteRequest {
        /// Why writing failed, if it did.
        error: Option<&'a Error>,
    },
    /// The first byte of the response arrived.
    GotFirstResponseByte,
    /// The final response head was parsed.
    GotResponseHeaders {
        /// Its status.
        status: StatusCode,
        /// HTTP/1.0 or HTTP/1.1.
        version: Version,
        /// Its fields.
        headers: &'a HeaderMap,
        /// The head as it came off the wire, from the status line to the
        /// empty line that ends it: what `Body::raw_head` returns for the
        /// final hop, here for every hop.
        raw_head: &'a [u8],
    },
    /// The response body ended, failed or was cancelled.
    ResponseBodyDone {
        /// Body bytes received (after transfer decoding).
        bytes: u64,
        /// The chunked trailer section, if there was one.
        trailers: Option<&'a HeaderMap>,
        /// Why the body did not complete, if it did not.
        error: Option<&'a Error>,
    },
    /// The connection was offered back to the pool.
    PutIdleConn {
        /// The connection.
        conn: ConnId,
        /// Why it was closed instead of pooled; `None` when pooled.
        error: Option<CloseReason>,
    },
    /// The request is being sent again on a new connection.
    Retry {
        /// The failure that caused the retry.
        reason: &'a Error,
    },
    /// A redirect is being followed: the next hop starts after this.
    Redirect {
        /// The URL that answered with the redirect.
        from: &'a str,
        /// The URL of the next hop (the `Location`, resolved).
        to: &'a str,
        /// The 3xx status.
        status: StatusCode,
    },
    /// The last event of every request, exactly once.
    RequestDone {
        /// Why the request failed, if it did.
        error: Option<&'a Error>,
    },
    /// A connection was closed (client-wide trace only).
    ConnClosed {
        /// The connection.
        conn: ConnId,
        /// Why.
        reason: CloseReason,
    },
}

impl EventKind<'_> {
    /// The event's snake_case name.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::GetConn { .. } => "get_conn",
            EventKind::DnsStart { .. } => "dns_start",
            EventKind::DnsDone { .. } => "dns_done",
            EventKind::DnsQueryStart { .. } => "dns_query_start",
            EventKind::DnsQueryDone { .. } => "dns_query_done",
            EventKind::ConnectStart { .. } => "connect_start",
            EventKind::ConnectDone { .. } => "connect_done",
            EventKind::ConnectCancelled { .. } => "connect_cancelled",
            EventKind::ProxyConnectStart { .. } => "proxy_connect_start",
            EventKind::ProxyConnectDone { .. } => "proxy_connect_done",
            EventKind::TlsHandshakeStart => "tls_handshake_start",
            EventKind::TlsHandshakeDone { .. } => "tls_handshake_done",
            EventKind::GotConn { .. } => "got_conn",
            EventKind::WroteHeaderField { .. } => "wrote_header_field",
            EventKind::WroteHeaders => "wrote_headers",
            EventKind::Wait100Continue => "wait_100_continue",
            EventKind::Got100Continue => "got_100_continue",
            EventKind::Got1xxResponse { .. } => "got_1xx_response",
            EventKind::WroteRequest { .. } => "wrote_request",
            EventKind::GotFirstResponseByte => "got_first_response_byte",
            EventKind::GotResponseHeaders { .. } => "got_response_headers",
            EventKind::ResponseBodyDone { .. } => "response_body_done",
            EventKind::PutIdleConn { .. } => "put_idle_conn",
            EventKind::Retry { .. } => "retry",
            EventKind::Redirect { .. } => "redirect",
            EventKind::RequestDone { .. } => "request_done",
            EventKind::ConnClosed { .. } => "conn_closed",
        }
    }
}

/// One trace event: what happened, when, and to which request.
///
/// Hooks can be tried without a client by emitting events by hand:
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use std::time::Instant;
/// use roundtrip::{Event, EventKind, RequestId, Trace};
///
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let log = seen.clone();
/// let mut trace = Trace::new().on_event(move |e| {
///     log.lock().unwrap().push((e.req, e.kind.name()));
/// });
/// trace.emit(&Event {
///     at: Instant::now(),
///     req: Some(RequestId(1)),
///     resend: 0,
///     hop: 0,
///     kind: EventKind::GetConn { host_port: "example.com:80" },
/// });
/// assert_eq!(*seen.lock().unwrap(), [(Some(RequestId(1)), "get_conn")]);
/// ```
#[derive(Debug, Clone)]
pub struct Event<'a> {
    /// When the transition happened.
    pub at: Instant,
    /// The request it belongs to (`None` for client-level events such as
    /// `conn_closed` of an idle connection).
    pub req: Option<RequestId>,
    /// How many times the request had been re-sent when this happened.
    pub resend: u32,
    /// Which hop of a redirect chain (0 for the first request).
    pub hop: u32,
    /// What happened.
    pub kind: EventKind<'a>,
}

type Hook = Box<dyn FnMut(&Event<'_>) + Send>;

/// A set of hooks attached to one request, or to a whole client.
///
/// Build it from closures, either one per event in Go's shape
/// (`on_got_conn`, …) or one for every event (`on_event`). Hooks must be
/// `Send` because the client is.
///
/// ```no_run
/// use std::sync::{Arc, Mutex};
/// use roundtrip::{Client, Trace};
///
/// let names = Arc::new(Mutex::new(Vec::new()));
/// let seen = names.clone();
/// let trace = Trace::new()
///     // Go's shape: one closure per hook, called with the event's instant.
///     .on_dns_done(|_at, addrs, _coalesced, error| println!("dns: {addrs:?} {error:?}"))
///     // Or one closure for every event.
///     .on_event(move |e| seen.lock().unwrap().push(e.kind.name()));
/// let request = http::Request::get("http://localhost:8080/").body(())?;
/// Client::new().send_traced(request, trace)?.into_body().bytes()?;
/// assert_eq!(names.lock().unwrap().last(), Some(&"request_done"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// `examples/trace_to_stdout.rs` prints every event of two requests.
#[derive(Default)]
pub struct Trace {
    hooks: Vec<Hook>,
}

impl fmt::Debug for Trace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Trace")
            .field("hooks", &self.hooks.len())
            .finish()
    }
}

macro_rules! go_hooks {
    ($( $(#[$doc:meta])* $method:ident => $variant:ident { $($field:ident),* } ($($ty:ty),*); )*) => {
        $(
            $(#[$doc])*
            pub fn $method(self, mut f: impl FnMut(Instant, $($ty),*) + Send + 'static) -> Self {
                self.on_event(move |e| {
                    #[allow(unused_variables)]
                    if let EventKind::$variant { $($field,)* .. } = &e.kind {
                        f(e.at, $($field.clone()),*)
                    }
                })
            }
        )*
    };
}

impl Trace {
    /// An empty hook set.
    pub fn new() -> Trace {
        Trace::default()
    }

    /// True when no hook is attached.
    pub fn is_empty(&self) -> bool {
        self.hooks.is_empty()
    }

    /// Adds a hook that sees every event (the generic stream).
    pub fn on_event(mut self, f: impl FnMut(&Event<'_>) + Send + 'static) -> Self {
        self.hooks.push(Box::new(f));
        self
    }

    /// Composes: the hooks of `newer` run first, then the ones already here
    /// (Go's rule for `WithClientTrace` on a context that has a trace).
    pub fn add(&mut self, mut newer: Trace) {
        newer.hooks.append(&mut self.hooks);
        self.hooks = newer.hooks;
    }

    /// Delivers one event to every hook in order.
    pub fn emit(&mut self, event: &Event<'_>) {
        for hook in &mut self.hooks {
            hook(event);
        }
    }

    go_hooks! {
        /// `get_conn`: called with `host:port`.
        on_get_conn => GetConn { host_port } (&str);
        /// `dns_start`: called with the host.
        on_dns_start => DnsStart { host } (&str);
        /// `dns_done`: addresses, coalesced, error.
        on_dns_done => DnsDone { addrs, coalesced, error } (&[IpAddr], bool, Option<&Error>);
        /// `dns_query_start`: server, qtype, transport.
        on_dns_query_start => DnsQueryStart { server, qtype, transport } (SocketAddr, &str, &str);
        /// `dns_query_done`: server, qtype, transport, rcode, error, answers, truncated.
        on_dns_query_done => DnsQueryDone { server, qtype, transport, rcode, error, answers, truncated } (SocketAddr, &str, &str, Option<&str>, Option<&str>, usize, bool);
        /// `connect_start`: attempt, network, address.
        on_connect_start => ConnectStart { attempt, network, addr } (AttemptId, Network, SocketAddr);
        /// `connect_done`: attempt, network, address, error.
        on_connect_done => ConnectDone { attempt, network, addr, error } (AttemptId, Network, SocketAddr, Option<&std::io::Error>);
        /// `proxy_connect_start`: proxy, target.
        on_proxy_connect_start => ProxyConnectStart { proxy, target } (&str, &str);
        /// `proxy_connect_done`: status, error.
        on_proxy_connect_done => ProxyConnectDone { status, error } (Option<StatusCode>, Option<&Error>);
        /// `tls_handshake_start`.
        on_tls_handshake_start => TlsHandshakeStart {} ();
        /// `tls_handshake_done`: what was agreed, or the error.
        on_tls_handshake_done => TlsHandshakeDone { info, error } (Option<&crate::tls::TlsInfo>, Option<&Error>);
        /// `got_conn`: connection, reused, was_idle, idle_time, local and remote address.
        on_got_conn => GotConn { conn, reused, was_idle, idle_time, local_addr, remote_addr } (ConnId, bool, bool, Duration, SocketAddr, SocketAddr);
        /// `wrote_header_field`: name and values.
        on_wrote_header_field => WroteHeaderField { name, values } (&str, FieldValues<'_>);
        /// `wrote_headers`.
        on_wrote_headers => WroteHeaders {} ();
        /// `wait_100_continue`.
        on_wait_100_continue => Wait100Continue {} ();
        /// `got_100_continue`.
        on_got_100_continue => Got100Continue {} ();
        /// `got_1xx_response`: code and fields.
        on_got_1xx_response => Got1xxResponse { code, headers } (StatusCode, &HeaderMap);
        /// `wrote_request`: error.
        on_wrote_request => WroteRequest { error } (Option<&Error>);
        /// `got_first_response_byte`.
        on_got_first_response_byte => GotFirstResponseByte {} ();
        /// `got_response_headers`: status, version and fields.
        on_got_response_headers => GotResponseHeaders { status, version, headers } (StatusCode, Version, &HeaderMap);
        /// `response_body_done`: bytes, trailers, error.
        on_response_body_done => ResponseBodyDone { bytes, trailers, error } (u64, Option<&HeaderMap>, Option<&Error>);
        /// `put_idle_conn`: connection and the reason it was not pooled.
        on_put_idle_conn => PutIdleConn { conn, error } (ConnId, Option<CloseReason>);
        /// `retry`: the failure that caused it.
        on_retry => Retry { reason } (&Error);
        /// `redirect`: from, to, status.
        on_redirect => Redirect { from, to, status } (&str, &str, StatusCode);
        /// `request_done`: error.
        on_request_done => RequestDone { error } (Option<&Error>);
        /// `conn_closed`: connection and reason.
        on_conn_closed => ConnClosed { conn, reason } (ConnId, CloseReason);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[test]
    fn newer_hooks_run_first() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let (a, b) = (log.clone(), log.clone());
        let mut trace = Trace::new().on_wrote_headers(move |_| a.lock().unwrap().push("old"));
        trace.add(Trace::new().on_wrote_headers(move |_| b.lock().unwrap().push("new")));
        trace.emit(&Event {
            at: Instant::now(),
            req: None,
            resend: 0,
            hop: 0,
            kind: EventKind::WroteHeaders,
        });
        assert_eq!(*log.lock().unwrap(), ["new", "old"]);
    }

    #[test]
    fn go_shaped_hooks_only_see_their_event() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let mut trace =
            Trace::new().on_get_conn(move |_, hp| s.lock().unwrap().push(hp.to_owned()));
        let at = Instant::now();
        for kind in [
            EventKind::WroteHeaders,
            EventKind::GetConn { host_port: "h:80" },
        ] {
            trace.emit(&Event {
                at,
                req: None,
                resend: 0,
                hop: 0,
                kind,
            });
        }
        assert_eq!(*seen.lock().unwrap(), ["h:80"]);
    }
}

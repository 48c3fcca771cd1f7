//! One request's journey as a state machine, and the one place trace hooks
//! fire (DESIGN.md principles 1 and 3).
//!
//! The exchange takes inputs from the runtime — connect results, bytes
//! read, bytes written, EOF, IO errors, the time — routes them to the sans-IO
//! cores (resolver, pool, request writer, head parser, body decoder) and
//! turns what those report into trace events, in order, each stamped with
//! the `now` it was given. What the runtime must do comes out of
//! [`Exchange::poll_action`] and the `pending_send`/`recv_space` getters;
//! when to call back comes out of [`Exchange::poll_timeout`].
//!
//! Sending and receiving run side by side once a connection is attached: a
//! server may answer before the body is sent (RFC 9110 §15, the 100-continue
//! rules of RFC 9110 §10.1.1). The receive side follows RFC 9112 §4–§7 and
//! the reuse rules of §9.3; a request that failed on a reused connection
//! before any response byte is retried once when its body can be replayed
//! (issue 2's rule, as curl does; see `can_retry`).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, EXPECT, HOST, TRANSFER_ENCODING, USER_AGENT};
use http::Uri;
use http::{HeaderMap, HeaderValue, Method};

mod connect;
mod proxied;
mod recv;
pub(crate) mod redirect;
mod secure;
mod send;

use crate::config::{Config, RequestOptions, Timeouts};
use crate::conn::{Conn, RecvBuf, Scheme, SockId};
use crate::dial::{FamilyMemory, Schedule};
use crate::dns::{QueryId, Resolver};
use crate::error::{Error, ErrorKind, Phase, Result};
use crate::h1::framing::{self};
use crate::h1::{self, writer, BodyDecoder, ResponseHead};
use crate::pool::Pool;
use crate::send_body::SendBody;
use crate::timings::Timings;
use crate::trace::{AttemptId, CloseReason, ConnId, Event, EventKind, RequestId, Trace};

/// The size a connection's new receive buffer starts at; it doubles up to
/// `Config::recv_buffer_size` (or `max_head_size`) as reads fill it.
const INITIAL_RECV_BUFFER: usize = 16 * 1024;

/// The largest receive buffer kept for reuse once its connection is done
/// with it, but for one: larger ones are cut down to this.
const RECYCLED_RECV_BUFFER: usize = 64 * 1024;

/// Id counters shared by every exchange of a client.
#[derive(Debug, Default)]
pub(crate) struct Ids {
    conn: u64,
    attempt: u64,
}

/// Buffers of finished connections, kept for the next ones: a new
/// connection then neither allocates nor zeroes them.
#[derive(Debug, Default)]
pub(crate) struct Spares {
    /// Receive buffers (plaintext), each at most `RECYCLED_RECV_BUFFER`
    /// but the last, which may have any size (`Ctx::recycle_conn`).
    pub recv: Vec<Vec<u8>>,
    /// TLS ciphertext buffers (zeroing a fresh 18 KiB one was the largest
    /// cost of the library's own code in a new HTTPS connection).
    pub cipher: Vec<Vec<u8>>,
    /// Where response heads are copied to be shared by their field values
    /// (`h1::head::parse_response_head_into`).
    pub heads: crate::h1::head::HeadStore,
    /// Room for the text of an event field that has to be built (`GetConn`'s
    /// `host:port`), kept so that a traced request allocates none for it.
    pub text: String,
}

/// Room the shared head store takes at a time: a few dozen typical heads.
pub(crate) const HEAD_STORE_CHUNK: usize = 4096;

/// Borrows a [`Ctx`] from a struct that holds its parts under the same
/// field names: the core, and the test and fuzz harnesses that drive an
/// exchange without one. A macro, not a method, so that the borrow is of
/// those fields only and the caller may hold an exchange of its own at the
/// same time.
macro_rules! ctx_from {
    ($s:expr) => {
        $crate::exchange::Ctx {
            config: &$s.config,
            pool: &mut $s.pool,
            resolver: &mut $s.resolver,
            client_trace: &mut $s.client_trace,
            ids: &mut $s.ids,
            spare_bufs: &mut $s.spare_bufs,
            families: &mut $s.families,
            tls: &mut $s.tls,
            proxies: &$s.proxies,
        }
    };
}
pub(crate) use ctx_from;

/// What an exchange borrows from the runtime for one call.
pub(crate) struct Ctx<'a> {
    pub config: &'a Config,
    pub pool: &'a mut Pool,
    pub resolver: &'a mut Resolver,
    pub client_trace: &'a mut Trace,
    pub ids: &'a mut Ids,
    pub spare_bufs: &'a mut Spares,
    pub families: &'a mut FamilyMemory,
    pub tls: &'a mut crate::tls::TlsSetup,
    pub proxies: &'a std::result::Result<crate::proxy::Proxies, Error>,
}

impl Ctx<'_> {
    /// Fires a client-level event that belongs to no request.
    pub fn emit_client(&mut self, at: Instant, kind: EventKind<'_>) {
        if !self.client_trace.is_empty() {
            self.client_trace.emit(&Event {
                at,
                req: None,
                resend: 0,
                hop: 0,
                kind,
            });
        }
    }

    /// Gives a connection's receive buffer its storage (a spare one when
    /// there is one: keep-alive requests then allocate nothing).
    pub fn attach_recv_storage(&mut self, recv: &mut RecvBuf) {
        if recv.has_storage() {
            return;
        }
        let size = self.config.recv_storage_size();
        // A new buffer starts small and grows as reads fill it (zeroing
        // 64 KiB for every connection was most of the CPU of many
        // concurrent small GETs); a spare one keeps the size it grew to.
        let storage = match self.spare_bufs.recv.pop() {
            Some(b) if !b.is_empty() => b,
            _ => vec![0; size.min(INITIAL_RECV_BUFFER)],
        };
        recv.attach_growable(storage, size);
    }

    /// Gives a connection's buffers back for reuse: its receive storage
    /// (when nothing is buffered), and its TLS ciphertext buffer when
    /// nothing is left in it.
    pub fn recycle_conn(&mut self, conn: &mut crate::conn::Conn) {
        let spares = &mut *self.spare_bufs;
        if let Some(mut buf) = conn.recv.detach() {
            if spares.recv.len() < 4 {
                // One buffer that grew for a large body is kept as it is,
                // last, so that the next connection to attach one (on a
                // kept-alive connection, the same one's next response)
                // takes it: cutting it down and growing it again zeroed up
                // to `recv_buffer_size` per response of a series of large
                // ones. Any other goes back to the size small responses
                // need, so idle spares pin at most one large buffer.
                let large = |b: &Vec<u8>| b.len() > RECYCLED_RECV_BUFFER;
                if large(&buf) && spares.recv.last().is_some_and(large) {
                    buf.truncate(RECYCLED_RECV_BUFFER);
                    buf.shrink_to_fit();
                }
                if large(&buf) || !spares.recv.last().is_some_and(large) {
                    spares.recv.push(buf);
                } else {
                    let at = spares.recv.len() - 1;
                    spares.recv.insert(at, buf);
                }
            }
        }
        if conn.cipher_len == 0 && !conn.cipher_in.is_empty() && spares.cipher.len() < 4 {
            spares.cipher.push(std::mem::take(&mut conn.cipher_in));
        }
    }
}

/// What the runtime must do for an exchange.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Action {
    /// Open a non-blocking TCP connection and report back with
    /// `handle_connected` or `handle_connect_failed`.
    Connect {
        attempt: AttemptId,
        addr: SocketAddr,
    },
    /// Abandon a connection attempt still in progress.
    CancelAttempt { attempt: AttemptId },
    /// A pooled connection's socket now belongs to this exchange.
    Attach { sock: SockId },
    /// The socket went back to the pool as idle connection `conn`.
    Pooled { sock: SockId, conn: ConnId },
    /// Write these last bytes (a TLS close_notify), best effort, before the
    /// `Close` that follows.
    Farewell { sock: SockId, bytes: Vec<u8> },
    /// Close the socket.
    Close { sock: SockId },
}

/// The request's identity and hooks: the one emission point.
pub(crate) struct Tracer {
    id: RequestId,
    resend: u32,
    hop: u32,
    trace: Trace,
    /// The timeline, recorded from every event whether or not a hook sees
    /// it.
    timings: Timings,
    /// The `tracing` spans of this request (cargo feature `tracing`).
    #[cfg(feature = "tracing")]
    pub(super) spans: crate::trace::spans::Spans,
}

impl Tracer {
    /// True when some hook (the request's or the client's) will see events;
    /// callers skip building event data otherwise.
    fn on(&self, ctx: &Ctx<'_>) -> bool {
        #[cfg(feature = "tracing")]
        if crate::trace::spans::Spans::enabled() {
            return true;
        }
        !self.trace.is_empty() || !ctx.client_trace.is_empty()
    }

    /// Records one event in the timeline and, when some hook listens,
    /// delivers it.
    fn emit(&mut self, ctx: &mut Ctx<'_>, at: Instant, kind: EventKind<'_>) {
        self.timings.record(at, &kind);
        if self.on(ctx) {
            self.deliver(ctx, at, kind);
        }
    }

    /// Delivers one event to the request's hooks, then the client's.
    ///
    /// Out of line: `emit` is called from some forty places, and inlined
    /// there building the event and both hook loops cost 12 KiB of the
    /// minimal binary (docs/benchmarks.md, "Binary size").
    #[inline(never)]
    fn deliver(&mut self, ctx: &mut Ctx<'_>, at: Instant, kind: EventKind<'_>) {
        let event = Event {
            at,
            req: Some(self.id),
            resend: self.resend,
            hop: self.hop,
            kind,
        };
        #[cfg(feature = "tracing")]
        self.spans.on_event(&event);
        self.trace.emit(&event);
        ctx.client_trace.emit(&event);
    }
}

/// A FIFO of actions, inline for the usual handful (a heap queue would
/// cost an allocation per request), spilling to the heap when a race with
/// many attempts cancels them all at once.
#[derive(Debug, Default)]
struct Actions {
    slots: [Option<Action>; 8],
    head: usize,
    len: usize,
    /// Newer than everything in `slots`, used only once `slots` is full.
    overflow: VecDeque<Action>,
}

impl Actions {
    fn push(&mut self, action: Action) {
        if self.len == self.slots.len() || !self.overflow.is_empty() {
            self.overflow.push_back(action);
            return;
        }
        let i = (self.head + self.len) % self.slots.len();
        self.slots[i] = Some(action);
        self.len += 1;
    }

    fn pop(&mut self) -> Option<Action> {
        if self.len == 0 {
            return self.overflow.pop_front();
        }
        let action = self.slots[self.head].take();
        self.head = (self.head + 1) % self.slots.len();
        self.len -= 1;
        action
    }
}

/// The host of `uri` without IPv6 brackets.
fn host_of(uri: &Uri) -> &str {
    uri.host()
        .unwrap_or("")
        .trim_start_matches('[')
        .trim_end_matches(']')
}

/// Where the host sits in an authority that has no userinfo, without the
/// brackets of an IPv6 literal: one pass over bytes the `http` crate has
/// already validated. (`Authority::host` walks the authority char by char:
/// 800 instructions of each keep-alive GET, twice over, by callgrind.)
fn host_span(authority: &[u8]) -> (usize, usize) {
    if authority.first() == Some(&b'[') {
        let end = authority.iter().position(|&b| b == b']');
        (1, end.unwrap_or(authority.len()))
    } else {
        // Only a bracketed literal may hold a colon (RFC 3986 §3.2.2).
        let end = authority.iter().position(|&b| b == b':');
        (0, end.unwrap_or(authority.len()))
    }
}

/// What the caller gets from [`Exchange::read_body`].
#[derive(Debug)]
pub(crate) enum BodyRead {
    Data(usize),
    Pending,
    End,
}

/// The Happy Eyeballs race of one request.
#[derive(Debug)]
struct Dialing {
    schedule: Schedule,
    /// `Config::connect_timeout` from the first address.
    deadline: Instant,
    /// (the race's id, the client-wide id, address) of every attempt.
    attempts: Vec<(AttemptId, AttemptId, SocketAddr)>,
}

/// A lookup in flight and the addresses it has delivered so far.
#[derive(Debug)]
struct Lookup {
    query: QueryId,
    addrs: Vec<std::net::IpAddr>,
    /// Queries sent and not yet answered: (server, type, transport).
    pending: Vec<(SocketAddr, crate::dns::QType, crate::dns::Transport)>,
}

#[derive(Debug)]
enum State {
    New,
    Resolving,
    Connecting(Box<Dialing>),
    /// TCP to the proxy is up; CONNECT is under way until the deadline.
    ProxyConnecting {
        deadline: Instant,
    },
    /// TCP is up; the TLS handshake runs until the deadline.
    Handshaking {
        deadline: Instant,
    },
    Connected,
    Finished,
}

#[derive(Debug)]
enum Sending {
    /// Head queued (and maybe in-memory body after it).
    Head,
    /// Head sent; waiting for 100 Continue until the deadline.
    WaitContinue { until: Instant },
    /// Streaming the body.
    Body,
    /// Everything sent, `wrote_request` fired.
    Done,
}

#[derive(Debug)]
enum Receiving {
    Head,
    Body(BodyDecoder),
    /// The body is complete in the buffer.
    Done,
    /// The body failed after the bytes still buffered.
    Failed(Error),
}

/// One request's state machine.
pub(crate) struct Exchange {
    tr: Tracer,

    method: Method,
    uri: Uri,
    /// Where the host (without IPv6 brackets) sits in `uri`'s authority:
    /// `Uri::host` scans the authority each time, and the host is asked
    /// for several times per request.
    host_at: (usize, usize),
    scheme: Scheme,
    port: u16,
    headers: HeaderMap,
    /// The final response head as it came off the wire (empty until it
    /// has): `Body::raw_head`.
    pub(crate) raw_head: bytes::Bytes,
    /// The caller's `Host` value, written instead of the URI's authority.
    host_header: Option<HeaderValue>,
    /// The client's `User-Agent`, when the caller set none.
    user_agent: Option<HeaderValue>,
    body: Option<SendBody>,
    body_len: Option<u64>,
    chunked: bool,
    expect_continue: bool,

    state: State,
    conn: Option<Box<Conn>>,
    reused: bool,
    sending: Sending,
    /// In-memory body bytes queued after the head, and how much was sent.
    body_bytes: Option<(Bytes, usize)>,
    body_sent: u64,
    head_begun: bool,
    receiving: Receiving,
    first_byte: bool,
    informational: usize,
    keep_alive: bool,
    must_close: Option<CloseReason>,

    actions: Actions,
    new_query: Option<QueryId>,
    lookup: Option<Lookup>,
    /// The limits in force (Config, then RequestOptions).
    timeouts: Timeouts,
    /// When the whole request must be over.
    total_deadline: Option<Instant>,
    /// When the final head must have arrived (armed once the request is
    /// written).
    header_deadline: Option<Instant>,
    /// When the next body byte must have arrived (while the caller reads).
    idle_deadline: Option<Instant>,
    /// The TLS stream ended: `Some(true)` with close_notify.
    tls_closed: Option<bool>,
    /// A TLS error to raise once the plaintext before it is parsed.
    tls_error_after: Option<Error>,
    /// The caller's per-request options, passed on to redirect hops.
    options: Option<RequestOptions>,
    /// The body can be sent again (decided before sending consumes it).
    replayable: bool,
    /// The proxy this request goes through, if any (decided at start).
    via: Option<crate::proxy::Proxy>,
    via_decided: bool,
    /// This hop ends in a redirect: finishing it is not the end of the
    /// request (no `request_done`).
    chained: bool,
    /// How the final response's body is framed.
    body_framing: Option<crate::h1::BodyFraming>,
    response: Option<ResponseHead>,
    trailers: Option<HeaderMap>,
    error: Option<Error>,
    head_produced: bool,
    body_bytes_received: u64,
    body_done_fired: bool,
}

impl Exchange {
    /// The URI's host without IPv6 brackets.
    fn host(&self) -> &str {
        host_in(&self.uri, self.host_at)
    }
}

/// The host found once at `at` in `uri`'s authority (`Exchange::host_at`).
fn host_in(uri: &Uri, (start, end): (usize, usize)) -> &str {
    uri.authority()
        .and_then(|a| a.as_str().get(start..end))
        .unwrap_or("")
}

/// The origin-form request target (RFC 9112 §3.2.1): path and query; an
/// empty path is sent as `/` (by the writer).
fn target_of(uri: &Uri) -> &str {
    uri.path_and_query().map_or("", |pq| pq.as_str())
}

fn request_error(kind: ErrorKind) -> Error {
    Error::new(Phase::Request, kind)
}

impl Exchange {
    /// Checks the request and prepares the exchange. Invalid requests fail
    /// here, before anything is sent; the trace comes back with the error so
    /// that `request_done` can still fire.
    pub fn new(
        id: RequestId,
        parts: http::request::Parts,
        body: SendBody,
        trace: Trace,
        user_agent: Option<&HeaderValue>,
        config: &Config,
        now: Instant,
    ) -> Result<Box<Exchange>, (Error, Trace)> {
        match Exchange::prepare(id, parts, body, user_agent, config, now) {
            Ok(mut ex) => {
                ex.tr.trace = trace;
                Ok(ex)
            }
            Err(e) => Err((e, trace)),
        }
    }

    fn prepare(
        id: RequestId,
        parts: http::request::Parts,
        body: SendBody,
        user_agent: Option<&HeaderValue>,
        config: &Config,
        now: Instant,
    ) -> Result<Box<Exchange>> {
        let timeouts = Timeouts::resolve(config, parts.extensions.get::<RequestOptions>());
        let replayable = body.is_replayable();
        let uri = &parts.uri;
        let scheme = match uri.scheme_str() {
            Some("http") => Scheme::Http,
            Some("https") => Scheme::Https,
            Some(other) => return Err(request_error(ErrorKind::UnsupportedScheme(other.into()))),
            None => {
                return Err(request_error(ErrorKind::InvalidUri(format!(
                    "{uri} is not absolute (no scheme)"
                ))))
            }
        };
        let Some(authority) = uri.authority() else {
            return Err(request_error(ErrorKind::InvalidUri(format!(
                "{uri} has no host"
            ))));
        };
        if authority.as_str().as_bytes().contains(&b'@') {
            return Err(request_error(ErrorKind::InvalidUri(
                "credentials in the URI are not supported; set an Authorization header".into(),
            )));
        }
        let host_at = host_span(authority.as_str().as_bytes());
        debug_assert_eq!(
            &authority.as_str()[host_at.0..host_at.1],
            host_of(uri),
            "{authority:?}"
        );
        if host_at.0 == host_at.1 {
            return Err(request_error(ErrorKind::InvalidUri(format!(
                "{uri} has no host"
            ))));
        }
        let default_port = match scheme {
            Scheme::Http => 80,
            Scheme::Https => 443,
        };
        // What follows the host is `]` for an IPv6 literal, then `:port`
        // or nothing (userinfo was refused above). The same answer as
        // `Authority::port_u16`, without scanning the authority again.
        let after = authority.as_str()[host_at.1..].trim_start_matches(']');
        let port = after
            .strip_prefix(':')
            .filter(|p| p.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|p| p.parse::<u16>().ok())
            .unwrap_or(default_port);
        debug_assert_eq!(port, authority.port_u16().unwrap_or(default_port));
        let mut headers = parts.headers;
        writer::validate_request(&parts.method, target_of(uri), &headers)?;
        let host_header = headers.remove(HOST);

        // Framing comes from the body; a caller's framing fields must agree.
        let mut body_len = body.len();
        let mut chunked = false;
        if let Some(te) = headers.remove(TRANSFER_ENCODING) {
            if !te.as_bytes().eq_ignore_ascii_case(b"chunked")
                || headers.contains_key(TRANSFER_ENCODING)
            {
                return Err(request_error(ErrorKind::InvalidHeaderValue {
                    name: "transfer-encoding".into(),
                    reason: "only a single `chunked` coding is supported",
                }));
            }
            // An empty body is sent without the coding: a chunked head
            // with no chunks after it would leave the server waiting for
            // them and read our next request as chunk data.
            chunked = !body.is_empty();
            if chunked {
                body_len = None;
            }
        }
        if headers.contains_key(CONTENT_LENGTH) {
            let announced = framing::content_length(&headers)
                .map_err(|_| {
                    request_error(ErrorKind::InvalidHeaderValue {
                        name: "content-length".into(),
                        reason: "not a single decimal number",
                    })
                })?
                .unwrap_or(0);
            headers.remove(CONTENT_LENGTH);
            match body.len() {
                Some(n) if n != announced => {
                    return Err(request_error(ErrorKind::BodyLengthMismatch {
                        expected: announced,
                        actual: n,
                    }))
                }
                _ => body_len = Some(announced),
            }
            if chunked {
                return Err(request_error(ErrorKind::InvalidHeaderValue {
                    name: "content-length".into(),
                    reason: "cannot be combined with Transfer-Encoding",
                }));
            }
        }
        if body_len.is_none() {
            chunked = true;
        }
        let user_agent = user_agent
            .filter(|_| !headers.contains_key(USER_AGENT))
            .cloned();
        let expect_continue = headers
            .get_all(EXPECT)
            .iter()
            .any(|v| h1::list_contains(v.as_bytes(), "100-continue"))
            && !body.is_empty();

        // Boxed where it is built: an exchange is 2.6 KB, and moving it by
        // value from here into the core's table cost three copies of it
        // per request (callgrind).
        Ok(Box::new(Exchange {
            tr: Tracer {
                id,
                resend: 0,
                hop: 0,
                trace: Trace::new(),
                timings: Timings::new(now, scheme == Scheme::Https),
                #[cfg(feature = "tracing")]
                spans: crate::trace::spans::Spans::new(),
            },
            method: parts.method,
            uri: parts.uri,
            raw_head: bytes::Bytes::new(),
            host_at,
            scheme,
            port,
            headers,
            host_header,
            user_agent,
            body: Some(body),
            body_len,
            chunked,
            expect_continue,
            state: State::New,
            conn: None,
            reused: false,
            sending: Sending::Head,
            body_bytes: None,
            body_sent: 0,
            head_begun: false,
            receiving: Receiving::Head,
            first_byte: false,
            informational: 0,
            keep_alive: true,
            must_close: None,
            actions: Actions::default(),
            new_query: None,
            lookup: None,
            timeouts,
            total_deadline: None,
            header_deadline: None,
            idle_deadline: None,
            tls_closed: None,
            tls_error_after: None,
            options: parts.extensions.get::<RequestOptions>().cloned(),
            chained: false,
            replayable,
            via: None,
            via_decided: false,
            body_framing: None,
            response: None,
            trailers: None,
            error: None,
            head_produced: false,
            body_bytes_received: 0,
            body_done_fired: false,
        }))
    }

    // ----- getters for the runtime -------------------------------------

    /// The next thing the runtime must do.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop()
    }

    /// A lookup started since the last call, for the runtime to route its
    /// answer back here.
    pub fn take_new_query(&mut self) -> Option<QueryId> {
        self.new_query.take()
    }

    /// The earliest instant at which `handle_timeout` must be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let connect = match &self.state {
            State::Connecting(d) => Some(
                d.schedule
                    .poll_timeout()
                    .map_or(d.deadline, |t| t.min(d.deadline)),
            ),
            State::Handshaking { deadline } | State::ProxyConnecting { deadline } => {
                Some(*deadline)
            }
            _ => None,
        };
        let expect = match self.sending {
            Sending::WaitContinue { until } if self.conn.is_some() => Some(until),
            _ => None,
        };
        let waiting =
            !self.is_finished() && matches!(self.receiving, Receiving::Head | Receiving::Body(_));
        let total = self.total_deadline.filter(|_| waiting);
        let header = self
            .header_deadline
            .filter(|_| matches!(self.receiving, Receiving::Head));
        let idle = self.idle_deadline.filter(|_| {
            matches!(self.receiving, Receiving::Body(_))
                && self
                    .conn
                    .as_ref()
                    .is_some_and(|c| c.recv.has_room() && !c.tls_backlog)
        });
        [expect, total, header, idle]
            .into_iter()
            .fold(connect, crate::earliest)
    }

    /// The phase the request is in now (for errors that can strike in
    /// any, such as the total timeout).
    fn current_phase(&self) -> Phase {
        match self.state {
            State::New | State::Resolving => Phase::Dns,
            State::Connecting(_) | State::ProxyConnecting { .. } => Phase::Connect,
            State::Handshaking { .. } => Phase::Tls,
            State::Connected | State::Finished => match self.receiving {
                Receiving::Head if !matches!(self.sending, Sending::Done) => Phase::WriteRequest,
                Receiving::Head => Phase::ReadResponseHead,
                _ => Phase::ReadResponseBody,
            },
        }
    }

    /// The socket of the attached connection.
    pub fn sock(&self) -> Option<SockId> {
        self.conn.as_ref().map(|c| c.sock)
    }

    /// Bytes waiting to be written: queued head/chunk bytes, then in-memory
    /// body bytes (written together with one vectored write).
    pub fn pending_send(&mut self) -> Option<(SockId, &[u8], &[u8])> {
        if self.conn.as_ref().is_some_and(|c| c.tls.is_some()) {
            return self.tls_pending_send();
        }
        let conn = self.conn.as_ref()?;
        let head = &conn.send[conn.sent..];
        let body = match (&self.body_bytes, &self.sending) {
            (Some((b, off)), Sending::Head | Sending::Body) => &b[*off..],
            _ => &[][..],
        };
        if head.is_empty() && body.is_empty() {
            None
        } else {
            Some((conn.sock, head, body))
        }
    }

    /// Where to read into, while the response still needs bytes and the
    /// receive buffer has room (back-pressure otherwise).
    pub fn recv_space(&mut self, ctx: &mut Ctx<'_>) -> Option<(SockId, &mut [u8])> {
        if self.conn.as_ref().is_some_and(|c| c.tls.is_some()) {
            return self.tls_recv_space(ctx);
        }
        if !matches!(self.receiving, Receiving::Head | Receiving::Body(_)) {
            return None;
        }
        let conn = self.conn.as_mut()?;
        ctx.attach_recv_storage(&mut conn.recv);
        let sock = conn.sock;
        let spare = conn.recv.spare();
        if spare.is_empty() {
            None
        } else {
            Some((sock, spare))
        }
    }

    /// The final response head once parsed, or the error that ended the
    /// request before it; each is handed out once.
    pub fn take_outcome(&mut self) -> Option<Result<ResponseHead>> {
        if let Some(head) = self.response.take() {
            return Some(Ok(head));
        }
        if !self.head_produced {
            if let Some(e) = &self.error {
                self.head_produced = true;
                return Some(Err(e.clone()));
            }
        }
        None
    }

    /// The request's timeline so far.
    pub fn timings(&self) -> &Timings {
        &self.tr.timings
    }

    /// True once `request_done` has fired.
    pub fn is_finished(&self) -> bool {
        matches!(self.state, State::Finished)
    }

    /// Finished without an error: nothing is left to read but the end.
    pub fn ended_cleanly(&self) -> bool {
        self.is_finished() && self.error.is_none()
    }

    /// For the fuzz targets (src/fuzzing.rs): the attached connection's
    /// receive storage size and queued send bytes.
    #[cfg(any(test, feature = "fuzzing"))]
    pub fn buffered(&self) -> Option<(usize, usize)> {
        self.conn
            .as_ref()
            .map(|c| (c.recv.storage_len(), c.send.len()))
    }

    /// The trailer section, once the body is complete.
    pub fn take_trailers(&mut self) -> Option<HeaderMap> {
        self.trailers.take()
    }

    // ----- inputs --------------------------------------------------------

    /// Issue 2's rule, and curl's: a request whose reused connection died
    /// before any response byte is sent again once, whatever its method,
    /// as long as its body can be sent again. Go also demands an idempotent
    /// method once bytes were written; a reused connection that dies before
    /// any response byte was most likely closed by the server as idle, and
    /// the issue sides with curl.
    fn can_retry(&self, err: &Error) -> bool {
        let transport = matches!(err.kind(), ErrorKind::Io(_) | ErrorKind::ConnectionClosed);
        self.tr.resend == 0 && self.reused && !self.first_byte && transport && self.replayable
    }

    fn retry(&mut self, err: Error, ctx: &mut Ctx<'_>, now: Instant) {
        self.retry_with(err, CloseReason::ServerClosed, ctx, now);
    }

    /// Sends the request again on another connection, after `err`; the
    /// one it was on is closed for `reason`.
    fn retry_with(&mut self, err: Error, reason: CloseReason, ctx: &mut Ctx<'_>, now: Instant) {
        if !matches!(self.sending, Sending::Done) && self.head_begun {
            self.finish_sending(Some(&err), ctx, now);
        }
        self.release_conn(Some(reason), ctx, now);
        self.tr.emit(ctx, now, EventKind::Retry { reason: &err });
        self.tr.resend += 1;
        self.sending = Sending::Head;
        self.receiving = Receiving::Head;
        self.body_bytes = None;
        self.body_sent = 0;
        self.head_begun = false;
        self.first_byte = false;
        self.informational = 0;
        self.keep_alive = true;
        self.must_close = None;
        self.reused = false;
        self.expect_continue = self
            .headers
            .get_all(EXPECT)
            .iter()
            .any(|v| h1::list_contains(v.as_bytes(), "100-continue"))
            && self.body.as_ref().is_some_and(|b| !b.is_empty());
        self.state = State::New;
        self.start(ctx, now);
    }

    /// Time passed: the connect deadline or the 100-continue wait.
    pub fn handle_timeout(&mut self, ctx: &mut Ctx<'_>, now: Instant) {
        if let Some(t) = self.total_deadline {
            let waiting = matches!(self.receiving, Receiving::Head | Receiving::Body(_));
            if now >= t && waiting && !self.is_finished() {
                let limit = self.timeouts.total.unwrap_or_default();
                let err = Error::new(self.current_phase(), ErrorKind::TotalTimeout { limit });
                if matches!(self.receiving, Receiving::Body(_)) {
                    self.fail_recv(err, ctx, now);
                } else {
                    self.fail(err, ctx, now);
                }
                return;
            }
        }
        if let (Some(t), Receiving::Head) = (self.header_deadline, &self.receiving) {
            if now >= t {
                let limit = self.timeouts.response_header.unwrap_or_default();
                let err = Error::new(Phase::ReadResponseHead, ErrorKind::Timeout { limit });
                self.fail(err, ctx, now);
                return;
            }
        }
        if let (Some(t), Receiving::Body(_)) = (self.idle_deadline, &self.receiving) {
            if now >= t {
                let limit = self.timeouts.body_idle.unwrap_or_default();
                let err = Error::new(Phase::ReadResponseBody, ErrorKind::Timeout { limit });
                self.fail_recv(err, ctx, now);
                return;
            }
        }
        if let State::ProxyConnecting { deadline } = self.state {
            if now >= deadline {
                let err = Error::new(
                    Phase::Connect,
                    ErrorKind::Timeout {
                        limit: self.timeouts.connect,
                    },
                );
                self.fail(err, ctx, now);
                return;
            }
        }
        if let State::Handshaking { deadline } = self.state {
            if now >= deadline {
                let err = Error::new(
                    Phase::Tls,
                    ErrorKind::Timeout {
                        limit: self.timeouts.tls_handshake,
                    },
                );
                self.fail(err, ctx, now);
                return;
            }
        }
        if let State::Connecting(d) = &mut self.state {
            if now >= d.deadline {
                self.connect_timed_out(ctx, now);
                return;
            }
            d.schedule.handle_timeout(now);
            self.drive_dial(ctx, now);
        }
        if let Sending::WaitContinue { until } = self.sending {
            if now >= until {
                self.start_body_after_continue(ctx, now);
            }
        }
    }

    /// The caller gave up on the response (dropped its body or handle).
    pub fn cancel(&mut self, ctx: &mut Ctx<'_>, now: Instant) {
        if self.is_finished() {
            return;
        }
        if matches!(self.receiving, Receiving::Done) {
            // The whole body is already buffered: discard it and keep the
            // connection, as if it had been read.
            if let Some(conn) = self.conn.as_mut() {
                conn.recv.discard_body();
            }
            self.try_finish(ctx, now);
            if self.is_finished() {
                return;
            }
        }
        let phase = if self.head_produced {
            Phase::ReadResponseBody
        } else {
            Phase::ReadResponseHead
        };
        self.fail_with_reason(
            Error::new(phase, ErrorKind::Cancelled),
            CloseReason::Cancelled,
            ctx,
            now,
        );
    }

    /// Ends the request with `err`: closes what is open, fires the closing
    /// events in order.
    fn fail(&mut self, err: Error, ctx: &mut Ctx<'_>, now: Instant) {
        self.fail_with_reason(err, CloseReason::Error, ctx, now);
    }

    fn fail_with_reason(
        &mut self,
        err: Error,
        reason: CloseReason,
        ctx: &mut Ctx<'_>,
        now: Instant,
    ) {
        if self.is_finished() {
            return;
        }
        if let State::Handshaking { .. } = self.state {
            self.state = State::Connected;
            let kind = EventKind::TlsHandshakeDone {
                info: None,
                error: Some(&err),
            };
            self.tr.emit(ctx, now, kind);
        }
        if let State::ProxyConnecting { .. } = self.state {
            // A reset or the connect deadline during CONNECT.
            self.state = State::Connected;
            let kind = EventKind::ProxyConnectDone {
                status: None,
                error: Some(&err),
                raw_head: &[],
            };
            self.tr.emit(ctx, now, kind);
        }
        self.abandon_race(std::io::ErrorKind::Interrupted, "request ended", ctx, now);
        if self.head_begun && !matches!(self.sending, Sending::Done) {
            self.finish_sending(Some(&err), ctx, now);
        }
        if self.head_produced && !self.body_done_fired {
            let bytes = match &self.receiving {
                Receiving::Body(d) => d.received(),
                _ => self.body_bytes_received,
            };
            self.tr.emit(
                ctx,
                now,
                EventKind::ResponseBodyDone {
                    bytes,
                    trailers: None,
                    error: Some(&err),
                },
            );
            self.body_done_fired = true;
        }
        self.receiving = Receiving::Done;
        self.release_conn(Some(reason), ctx, now);
        self.finish(Some(err), ctx, now);
    }

    fn release_conn(&mut self, reason: Option<CloseReason>, ctx: &mut Ctx<'_>, now: Instant) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        let (id, sock) = (conn.id, conn.sock);
        let refused = reason.or_else(|| ctx.pool.refusal(&conn.key));
        if refused.is_none() {
            ctx.recycle_conn(&mut conn);
            ctx.pool.checkin(conn, now);
            self.actions.push(Action::Pooled { sock, conn: id });
            self.tr.emit(
                ctx,
                now,
                EventKind::PutIdleConn {
                    conn: id,
                    error: None,
                },
            );
            return;
        }
        let r = refused.unwrap_or(CloseReason::Error);
        if let Some(tls) = conn.tls.as_mut() {
            let bytes = tls.close_notify();
            if !bytes.is_empty() {
                self.actions.push(Action::Farewell { sock, bytes });
            }
        }
        conn.recv.clear();
        ctx.recycle_conn(&mut conn);
        self.actions.push(Action::Close { sock });
        self.tr.emit(
            ctx,
            now,
            EventKind::PutIdleConn {
                conn: id,
                error: Some(r),
            },
        );
        ctx.emit_client(
            now,
            EventKind::ConnClosed {
                conn: id,
                reason: r,
            },
        );
    }

    fn finish(&mut self, error: Option<Error>, ctx: &mut Ctx<'_>, now: Instant) {
        if let Some(lookup) = self.lookup.take() {
            // The request ended before its lookup. The lookup goes on, so
            // its answer is cached, but this request's trace closes now:
            // every query sent gets its dns_query_done, then dns_done with
            // what was found by then, all before request_done.
            for (server, qtype, transport) in &lookup.pending {
                let kind = EventKind::DnsQueryDone {
                    server: *server,
                    qtype: qtype.as_str(),
                    transport: transport.as_str(),
                    rcode: None,
                    error: Some("abandoned: the request ended first"),
                    answers: 0,
                    truncated: false,
                };
                self.tr.emit(ctx, now, kind);
            }
            let kind = EventKind::DnsDone {
                addrs: &lookup.addrs,
                coalesced: false,
                error: error.as_ref().filter(|_| lookup.addrs.is_empty()),
            };
            self.tr.emit(ctx, now, kind);
        }
        self.state = State::Finished;
        if self.chained {
            return;
        }
        self.tr.emit(
            ctx,
            now,
            EventKind::RequestDone {
                error: error.as_ref(),
            },
        );
        if error.is_some() {
            self.error = error;
        }
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod action_queue {
    use super::*;

    #[test]
    fn many_actions_keep_their_order() {
        let mut q = Actions::default();
        for i in 0..20 {
            q.push(Action::Close { sock: SockId(i) });
            if i % 7 == 3 {
                // Interleaved pops move the ring while the overflow holds more.
                assert!(q.pop().is_some());
            }
        }
        let mut rest = Vec::new();
        while let Some(Action::Close { sock }) = q.pop() {
            rest.push(sock.0);
        }
        let popped = [3usize, 10, 17].len();
        assert_eq!(rest.len(), 20 - popped);
        assert!(rest.windows(2).all(|w| w[0] < w[1]), "FIFO: {rest:?}");
    }
}

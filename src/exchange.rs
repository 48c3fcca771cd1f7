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
//! the reuse rules of §9.3; the retry of a request that failed on a reused
//! connection follows RFC 9110 §9.2.2 (idempotent methods) and Go's
//! "nothing was written" rule.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, EXPECT, HOST, TRANSFER_ENCODING, USER_AGENT};
use http::{HeaderMap, HeaderValue, Method, StatusCode};

use crate::config::Config;
use crate::conn::{Conn, PoolKey, RecvBuf, Scheme, SockId};
use crate::dns::{QueryId, Resolver};
use crate::error::{AttemptError, Error, ErrorKind, Limit, Phase, Result};
use crate::h1::body::ChunkLimits;
use crate::h1::framing::{self, BodyFraming};
use crate::h1::{self, writer, BodyDecoder, ResponseHead};
use crate::pool::Pool;
use crate::send_body::{Inner as BodyInner, SendBody};
use crate::trace::{
    AttemptId, CloseReason, ConnId, Event, EventKind, FieldValues, Network, RequestId, Trace,
};

/// Id counters shared by every exchange of a client.
#[derive(Debug, Default)]
pub(crate) struct Ids {
    conn: u64,
    attempt: u64,
}

/// What an exchange borrows from the runtime for one call.
pub(crate) struct Ctx<'a> {
    pub config: &'a Config,
    pub pool: &'a mut Pool,
    pub resolver: &'a mut Resolver,
    pub client_trace: &'a mut Trace,
    pub ids: &'a mut Ids,
    pub spare_bufs: &'a mut Vec<Vec<u8>>,
}

impl Ctx<'_> {
    /// Fires a client-level event that belongs to no request.
    pub fn emit_client(&mut self, at: Instant, kind: EventKind<'_>) {
        if !self.client_trace.is_empty() {
            self.client_trace.emit(&Event {
                at,
                req: None,
                resend: 0,
                kind,
            });
        }
    }

    /// Gives a connection's receive storage back for reuse.
    pub fn recycle(&mut self, recv: &mut RecvBuf) {
        if let Some(buf) = recv.detach() {
            if self.spare_bufs.len() < 4 {
                self.spare_bufs.push(buf);
            }
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
    /// Close the socket.
    Close { sock: SockId },
}

/// What the caller gets from [`Exchange::read_body`].
#[derive(Debug)]
pub(crate) enum BodyRead {
    Data(usize),
    Pending,
    End,
}

#[derive(Debug)]
struct Connecting {
    addrs: Vec<SocketAddr>,
    next: usize,
    current: Option<(AttemptId, SocketAddr)>,
    errors: Vec<AttemptError>,
    deadline: Instant,
}

#[derive(Debug)]
enum State {
    New,
    Resolving { query: QueryId },
    Connecting(Connecting),
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
    pub id: RequestId,
    resend: u32,
    trace: Trace,

    method: Method,
    headers: HeaderMap,
    target: String,
    host: String,
    port: u16,
    host_port: String,
    host_value: HeaderValue,
    body: Option<SendBody>,
    body_len: Option<u64>,
    chunked: bool,
    expect_continue: bool,

    state: State,
    conn: Option<Conn>,
    reused: bool,
    sending: Sending,
    /// In-memory body bytes queued after the head, and how much was sent.
    body_bytes: Option<(Bytes, usize)>,
    body_sent: u64,
    wrote_any: bool,
    head_begun: bool,
    receiving: Receiving,
    first_byte: bool,
    informational: usize,
    keep_alive: bool,
    must_close: Option<CloseReason>,

    actions: VecDeque<Action>,
    new_query: Option<QueryId>,
    response: Option<ResponseHead>,
    trailers: Option<HeaderMap>,
    error: Option<Error>,
    head_produced: bool,
    body_bytes_received: u64,
    body_done_fired: bool,
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
        config: &Config,
    ) -> Result<Exchange, (Error, Trace)> {
        match Exchange::prepare(id, parts, body, config) {
            Ok(mut ex) => {
                ex.trace = trace;
                Ok(ex)
            }
            Err(e) => Err((e, trace)),
        }
    }

    fn prepare(
        id: RequestId,
        parts: http::request::Parts,
        body: SendBody,
        config: &Config,
    ) -> Result<Exchange> {
        let uri = &parts.uri;
        match uri.scheme_str() {
            Some("http") => {}
            Some(other) => return Err(request_error(ErrorKind::UnsupportedScheme(other.into()))),
            None => {
                return Err(request_error(ErrorKind::InvalidUri(format!(
                    "{uri} is not absolute (no scheme)"
                ))))
            }
        }
        let Some(authority) = uri.authority() else {
            return Err(request_error(ErrorKind::InvalidUri(format!(
                "{uri} has no host"
            ))));
        };
        if authority.as_str().contains('@') {
            return Err(request_error(ErrorKind::InvalidUri(
                "credentials in the URI are not supported; set an Authorization header".into(),
            )));
        }
        let raw_host = authority.host();
        if raw_host.is_empty() {
            return Err(request_error(ErrorKind::InvalidUri(format!(
                "{uri} has no host"
            ))));
        }
        let host = raw_host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        let port = authority.port_u16().unwrap_or(80);
        let target = match uri.path_and_query() {
            Some(pq) if !pq.as_str().is_empty() => {
                if pq.as_str().starts_with('/') {
                    pq.as_str().to_owned()
                } else {
                    format!("/{}", pq.as_str())
                }
            }
            _ => "/".to_owned(),
        };
        let mut headers = parts.headers;
        writer::validate_request(&parts.method, &target, &headers)?;

        let host_value = match headers.remove(HOST) {
            Some(v) => v,
            None => {
                let mut s = String::new();
                writer::host_value(raw_host, port, 80, &mut s);
                HeaderValue::from_str(&s).map_err(|_| {
                    request_error(ErrorKind::InvalidUri(format!("bad host {raw_host:?}")))
                })?
            }
        };

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
            chunked = !body.is_empty();
            body_len = None;
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
        if let (Some(ua), false) = (&config.user_agent, headers.contains_key(USER_AGENT)) {
            if let Ok(v) = HeaderValue::from_str(ua) {
                headers.insert(USER_AGENT, v);
            }
        }
        let expect_continue = headers
            .get_all(EXPECT)
            .iter()
            .any(|v| h1::list_contains(v.as_bytes(), "100-continue"))
            && !body.is_empty();

        let host_port = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        Ok(Exchange {
            id,
            resend: 0,
            trace: Trace::new(),
            method: parts.method,
            headers,
            target,
            host,
            port,
            host_port,
            host_value,
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
            wrote_any: false,
            head_begun: false,
            receiving: Receiving::Head,
            first_byte: false,
            informational: 0,
            keep_alive: true,
            must_close: None,
            actions: VecDeque::new(),
            new_query: None,
            response: None,
            trailers: None,
            error: None,
            head_produced: false,
            body_bytes_received: 0,
            body_done_fired: false,
        })
    }

    fn emit(&mut self, ctx: &mut Ctx<'_>, at: Instant, kind: EventKind<'_>) {
        if self.trace.is_empty() && ctx.client_trace.is_empty() {
            return;
        }
        let event = Event {
            at,
            req: Some(self.id),
            resend: self.resend,
            kind,
        };
        self.trace.emit(&event);
        ctx.client_trace.emit(&event);
    }

    // ----- getters for the runtime -------------------------------------

    /// The next thing the runtime must do.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// A lookup started since the last call, for the runtime to route its
    /// answer back here.
    pub fn take_new_query(&mut self) -> Option<QueryId> {
        self.new_query.take()
    }

    /// The earliest instant at which `handle_timeout` must be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let connect = match &self.state {
            State::Connecting(c) => Some(c.deadline),
            _ => None,
        };
        let expect = match self.sending {
            Sending::WaitContinue { until } if self.conn.is_some() => Some(until),
            _ => None,
        };
        match (connect, expect) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The socket of the attached connection.
    pub fn sock(&self) -> Option<SockId> {
        self.conn.as_ref().map(|c| c.sock)
    }

    /// Bytes waiting to be written: queued head/chunk bytes, then in-memory
    /// body bytes (written together with one vectored write).
    pub fn pending_send(&self) -> Option<(SockId, &[u8], &[u8])> {
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
        if !matches!(self.receiving, Receiving::Head | Receiving::Body(_)) {
            return None;
        }
        let conn = self.conn.as_mut()?;
        if !conn.recv.has_storage() {
            let size = ctx
                .config
                .recv_buffer_size
                .max(ctx.config.max_head_size)
                .max(1024);
            let storage = match ctx.spare_bufs.pop() {
                Some(b) if b.len() >= size => b,
                _ => vec![0; size],
            };
            conn.recv.attach(storage);
        }
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

    /// True once `request_done` has fired.
    pub fn is_finished(&self) -> bool {
        matches!(self.state, State::Finished)
    }

    /// The trailer section, once the body is complete.
    pub fn take_trailers(&mut self) -> Option<HeaderMap> {
        self.trailers.take()
    }

    // ----- inputs --------------------------------------------------------

    /// Starts (or, after a retry, restarts) the journey: `get_conn`, then a
    /// pooled connection or a lookup and connect.
    pub fn start(&mut self, ctx: &mut Ctx<'_>, now: Instant) {
        let host_port = std::mem::take(&mut self.host_port);
        self.emit(
            ctx,
            now,
            EventKind::GetConn {
                host_port: &host_port,
            },
        );
        self.host_port = host_port;
        if self.resend == 0 {
            if let Some(conn) = ctx.pool.checkout(Scheme::Http, &self.host, self.port, now) {
                let idle = conn
                    .idle_since
                    .map(|t| now.saturating_duration_since(t))
                    .unwrap_or_default();
                self.actions.push_back(Action::Attach { sock: conn.sock });
                self.attach(conn, true, idle, ctx, now);
                return;
            }
        }
        if let Ok(ip) = self.host.parse::<IpAddr>() {
            self.begin_connect(vec![SocketAddr::new(ip, self.port)], ctx, now);
            return;
        }
        let host = std::mem::take(&mut self.host);
        self.emit(ctx, now, EventKind::DnsStart { host: &host });
        let query = ctx.resolver.start_query(&host, now);
        self.host = host;
        self.state = State::Resolving { query };
        self.new_query = Some(query);
    }

    /// A lookup finished.
    pub fn handle_resolved(
        &mut self,
        query: QueryId,
        result: Result<Vec<IpAddr>>,
        ctx: &mut Ctx<'_>,
        now: Instant,
    ) {
        if !matches!(self.state, State::Resolving { query: q } if q == query) {
            return;
        }
        match result {
            Ok(ips) => {
                self.emit(
                    ctx,
                    now,
                    EventKind::DnsDone {
                        addrs: &ips,
                        coalesced: false,
                        error: None,
                    },
                );
                let addrs = ips
                    .iter()
                    .map(|ip| SocketAddr::new(*ip, self.port))
                    .collect();
                self.begin_connect(addrs, ctx, now);
            }
            Err(e) => {
                self.emit(
                    ctx,
                    now,
                    EventKind::DnsDone {
                        addrs: &[],
                        coalesced: false,
                        error: Some(&e),
                    },
                );
                self.fail(e, ctx, now);
            }
        }
    }

    fn begin_connect(&mut self, addrs: Vec<SocketAddr>, ctx: &mut Ctx<'_>, now: Instant) {
        self.state = State::Connecting(Connecting {
            addrs,
            next: 0,
            current: None,
            errors: Vec::new(),
            deadline: now + ctx.config.connect_timeout,
        });
        self.next_attempt(ctx, now);
    }

    fn next_attempt(&mut self, ctx: &mut Ctx<'_>, now: Instant) {
        let State::Connecting(c) = &mut self.state else {
            return;
        };
        let Some(&addr) = c.addrs.get(c.next) else {
            let errors = std::mem::take(&mut c.errors);
            let err = Error::new(Phase::Connect, ErrorKind::ConnectFailed(errors));
            self.fail(err, ctx, now);
            return;
        };
        c.next += 1;
        ctx.ids.attempt += 1;
        let attempt = AttemptId(ctx.ids.attempt);
        c.current = Some((attempt, addr));
        self.actions.push_back(Action::Connect { attempt, addr });
        self.emit(
            ctx,
            now,
            EventKind::ConnectStart {
                attempt,
                network: Network::of(&addr),
                addr,
            },
        );
    }

    /// An attempt connected; the runtime has made `sock` this exchange's.
    pub fn handle_connected(
        &mut self,
        attempt: AttemptId,
        sock: SockId,
        local: SocketAddr,
        ctx: &mut Ctx<'_>,
        now: Instant,
    ) {
        let addr = match &self.state {
            State::Connecting(c) if c.current.map(|(a, _)| a) == Some(attempt) => {
                c.current.unwrap().1
            }
            _ => {
                self.actions.push_back(Action::Close { sock });
                return;
            }
        };
        self.emit(
            ctx,
            now,
            EventKind::ConnectDone {
                attempt,
                network: Network::of(&addr),
                addr,
                error: None,
            },
        );
        ctx.ids.conn += 1;
        let conn = Conn {
            id: ConnId(ctx.ids.conn),
            sock,
            key: PoolKey {
                scheme: Scheme::Http,
                host: self.host.clone(),
                port: self.port,
            },
            local,
            remote: addr,
            recv: RecvBuf::default(),
            send: Vec::new(),
            sent: 0,
            requests: 0,
            idle_since: None,
        };
        self.attach(conn, false, Default::default(), ctx, now);
    }

    /// An attempt failed.
    pub fn handle_connect_failed(
        &mut self,
        attempt: AttemptId,
        error: std::io::Error,
        ctx: &mut Ctx<'_>,
        now: Instant,
    ) {
        let addr = match &self.state {
            State::Connecting(c) if c.current.map(|(a, _)| a) == Some(attempt) => {
                c.current.unwrap().1
            }
            _ => return,
        };
        self.emit(
            ctx,
            now,
            EventKind::ConnectDone {
                attempt,
                network: Network::of(&addr),
                addr,
                error: Some(&error),
            },
        );
        if let State::Connecting(c) = &mut self.state {
            c.current = None;
            c.errors.push(AttemptError {
                addr,
                error: Arc::new(error),
            });
        }
        self.next_attempt(ctx, now);
    }

    fn attach(
        &mut self,
        mut conn: Conn,
        reused: bool,
        idle: std::time::Duration,
        ctx: &mut Ctx<'_>,
        now: Instant,
    ) {
        conn.idle_since = None;
        conn.requests += 1;
        conn.send.clear();
        conn.sent = 0;
        self.emit(
            ctx,
            now,
            EventKind::GotConn {
                conn: conn.id,
                reused,
                was_idle: reused,
                idle_time: idle,
                local_addr: conn.local,
                remote_addr: conn.remote,
            },
        );
        self.reused = reused;
        self.conn = Some(conn);
        self.state = State::Connected;
        self.write_head(ctx, now);
    }

    fn write_head(&mut self, ctx: &mut Ctx<'_>, now: Instant) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        self.head_begun = true;
        let out = &mut conn.send;
        writer::write_request_line(&self.method, &self.target, out);
        writer::write_field("Host", self.host_value.as_bytes(), out);
        let host_value = self.host_value.clone();
        self.emit(
            ctx,
            now,
            EventKind::WroteHeaderField {
                name: "Host",
                values: FieldValues::one(&host_value),
            },
        );
        let headers = std::mem::take(&mut self.headers);
        for name in headers.keys() {
            for value in headers.get_all(name) {
                writer::write_field(name.as_str(), value.as_bytes(), &mut conn.send);
            }
            self.emit(
                ctx,
                now,
                EventKind::WroteHeaderField {
                    name: name.as_str(),
                    values: FieldValues::all(&headers, name),
                },
            );
        }
        self.headers = headers;
        let method_has_body = !matches!(
            self.method,
            Method::GET | Method::HEAD | Method::DELETE | Method::OPTIONS | Method::TRACE
        );
        if self.chunked {
            let te = HeaderValue::from_static("chunked");
            writer::write_field("Transfer-Encoding", te.as_bytes(), &mut conn.send);
            self.emit(
                ctx,
                now,
                EventKind::WroteHeaderField {
                    name: "Transfer-Encoding",
                    values: FieldValues::one(&te),
                },
            );
        } else if let Some(len) = self.body_len.filter(|&n| n > 0 || method_has_body) {
            let mut digits = [0u8; 20];
            let cl = HeaderValue::from_bytes(decimal(len, &mut digits))
                .expect("digits are a valid value");
            writer::write_field("Content-Length", cl.as_bytes(), &mut conn.send);
            self.emit(
                ctx,
                now,
                EventKind::WroteHeaderField {
                    name: "Content-Length",
                    values: FieldValues::one(&cl),
                },
            );
        }
        writer::end_head(&mut conn.send);
        self.conn = Some(conn);
        self.emit(ctx, now, EventKind::WroteHeaders);
        self.sending = Sending::Head;
        self.body_sent = 0;
        if !self.expect_continue {
            self.queue_in_memory_body();
        }
        self.after_send_progress(ctx, now);
    }

    fn queue_in_memory_body(&mut self) {
        if let Some(SendBody(BodyInner::Bytes(b))) = &self.body {
            let conn = self.conn.as_mut().expect("attached");
            if self.chunked {
                writer::write_chunk_header(b.len(), &mut conn.send);
                conn.send.extend_from_slice(b);
                writer::write_chunk_end(&mut conn.send);
                writer::write_last_chunk(&mut conn.send);
                self.body_sent = b.len() as u64;
            } else if b.len() <= 16 * 1024 {
                conn.send.extend_from_slice(b);
                self.body_sent = b.len() as u64;
            } else {
                self.body_bytes = Some((b.clone(), 0));
            }
        }
    }

    /// The runtime wrote `n` bytes of [`pending_send`](Self::pending_send).
    pub fn handle_written(&mut self, mut n: usize, ctx: &mut Ctx<'_>, now: Instant) {
        if n > 0 {
            self.wrote_any = true;
        }
        if let Some(conn) = self.conn.as_mut() {
            let head = (conn.send.len() - conn.sent).min(n);
            conn.sent += head;
            n -= head;
            if conn.sent == conn.send.len() {
                conn.send.clear();
                conn.sent = 0;
                if conn.send.capacity() > 64 * 1024 {
                    conn.send.shrink_to(4096);
                }
            }
        }
        if n > 0 {
            if let Some((b, off)) = &mut self.body_bytes {
                *off += n;
                self.body_sent += n as u64;
                if *off == b.len() {
                    self.body_bytes = None;
                }
            }
        }
        self.after_send_progress(ctx, now);
    }

    /// Moves the send side on once queued bytes are gone.
    fn after_send_progress(&mut self, ctx: &mut Ctx<'_>, now: Instant) {
        loop {
            if self.pending_send().is_some() || self.conn.is_none() {
                return;
            }
            match self.sending {
                Sending::Head => {
                    if self.expect_continue && matches!(self.receiving, Receiving::Head) {
                        self.emit(ctx, now, EventKind::Wait100Continue);
                        self.sending = Sending::WaitContinue {
                            until: now + ctx.config.expect_continue_timeout,
                        };
                        return;
                    }
                    if self.expect_continue {
                        // A final answer came before we asked for the body.
                        self.skip_body(ctx, now);
                        return;
                    }
                    self.sending = Sending::Body;
                }
                Sending::WaitContinue { .. } => return,
                Sending::Body => {
                    if !self.fill_streaming_body(ctx, now) {
                        return;
                    }
                }
                Sending::Done => return,
            }
        }
    }

    /// Queues the next piece of a streaming body; true when the body is
    /// finished (and `wrote_request` has fired).
    fn fill_streaming_body(&mut self, ctx: &mut Ctx<'_>, now: Instant) -> bool {
        let reader_body = matches!(&self.body, Some(SendBody(BodyInner::Reader { .. })));
        if !reader_body {
            self.finish_sending(None, ctx, now);
            return true;
        }
        let Some(SendBody(BodyInner::Reader { reader, .. })) = self.body.as_mut() else {
            unreachable!()
        };
        let conn = self.conn.as_mut().expect("attached");
        let step = ctx.config.send_chunk_size.max(1);
        let want = match self.body_len {
            Some(len) => (len - self.body_sent).min(step as u64) as usize,
            None => step,
        };
        let frame_room = if self.chunked { 18 } else { 0 };
        let start = conn.send.len();
        conn.send.resize(start + frame_room + want, 0);
        let read = if want == 0 {
            Ok(0)
        } else {
            loop {
                match reader.read(&mut conn.send[start + frame_room..]) {
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    other => break other,
                }
            }
        };
        match read {
            Err(e) => {
                conn.send.truncate(start);
                let err = Error::new(Phase::WriteRequest, ErrorKind::RequestBody(Arc::new(e)));
                self.fail(err, ctx, now);
                true
            }
            Ok(0) => {
                conn.send.truncate(start);
                if let Some(len) = self.body_len {
                    if self.body_sent != len {
                        let err = Error::new(
                            Phase::WriteRequest,
                            ErrorKind::BodyLengthMismatch {
                                expected: len,
                                actual: self.body_sent,
                            },
                        );
                        self.fail(err, ctx, now);
                        return true;
                    }
                }
                if self.chunked {
                    writer::write_last_chunk(&mut conn.send);
                    // Wait for the last chunk to be written.
                    self.body = Some(SendBody::empty());
                    return false;
                }
                self.finish_sending(None, ctx, now);
                true
            }
            Ok(n) => {
                if self
                    .body_len
                    .is_some_and(|len| self.body_sent + n as u64 > len)
                {
                    // Only read what was asked, so this cannot happen; keep
                    // the guard for readers that misreport.
                    conn.send.truncate(start);
                    let err = Error::new(
                        Phase::WriteRequest,
                        ErrorKind::BodyLengthMismatch {
                            expected: self.body_len.unwrap_or(0),
                            actual: self.body_sent + n as u64,
                        },
                    );
                    self.fail(err, ctx, now);
                    return true;
                }
                self.body_sent += n as u64;
                if self.chunked {
                    let mut header = Vec::with_capacity(18);
                    writer::write_chunk_header(n, &mut header);
                    let data_at = start + frame_room;
                    let header_at = data_at - header.len();
                    conn.send[header_at..data_at].copy_from_slice(&header);
                    conn.send.truncate(data_at + n);
                    writer::write_chunk_end(&mut conn.send);
                    // Remove the unused framing room in front.
                    conn.send.drain(start..header_at);
                } else {
                    conn.send.truncate(start + n);
                }
                false
            }
        }
    }

    fn finish_sending(&mut self, error: Option<&Error>, ctx: &mut Ctx<'_>, now: Instant) {
        if matches!(self.sending, Sending::Done) {
            return;
        }
        self.sending = Sending::Done;
        self.body_bytes = None;
        self.emit(ctx, now, EventKind::WroteRequest { error });
    }

    /// The body will not be sent (final status before 100 Continue): the
    /// server would read our next request as this body, so the connection
    /// cannot be reused.
    fn skip_body(&mut self, ctx: &mut Ctx<'_>, now: Instant) {
        if self.body_len != Some(0) {
            self.must_close
                .get_or_insert(CloseReason::RequestBodyUnsent);
        }
        self.finish_sending(None, ctx, now);
    }

    fn start_body_after_continue(&mut self, ctx: &mut Ctx<'_>, now: Instant) {
        match self.sending {
            Sending::WaitContinue { .. } => self.sending = Sending::Head,
            // 100 arrived before the head was fully written: the body simply
            // follows the head.
            Sending::Head if self.expect_continue => {}
            _ => return,
        }
        self.expect_continue = false;
        self.queue_in_memory_body();
        self.after_send_progress(ctx, now);
    }

    /// The runtime read `n` bytes into [`recv_space`](Self::recv_space).
    pub fn handle_read(&mut self, n: usize, ctx: &mut Ctx<'_>, now: Instant) {
        if let Some(conn) = self.conn.as_mut() {
            conn.recv.filled(n);
        }
        if let Err(e) = self.process_recv(ctx, now) {
            self.fail_recv(e, ctx, now);
        }
    }

    fn process_recv(&mut self, ctx: &mut Ctx<'_>, now: Instant) -> Result<()> {
        loop {
            let Some(conn) = self.conn.as_mut() else {
                return Ok(());
            };
            match &mut self.receiving {
                Receiving::Head => {
                    if conn.recv.raw().is_empty() {
                        return Ok(());
                    }
                    if !self.first_byte {
                        self.first_byte = true;
                        self.emit(ctx, now, EventKind::GotFirstResponseByte);
                    }
                    let conn = self.conn.as_mut().expect("attached");
                    let parsed = h1::parse_response_head(
                        conn.recv.raw(),
                        ctx.config.max_head_size,
                        ctx.config.max_headers,
                    )?;
                    let Some((len, head)) = parsed else {
                        return Ok(());
                    };
                    conn.recv.skip_raw(len);
                    self.handle_head(head, ctx, now)?;
                }
                Receiving::Body(decoder) => {
                    let raw = conn.recv.raw();
                    if raw.is_empty() {
                        return Ok(());
                    }
                    let step = decoder.decode(raw)?;
                    conn.recv.accept_body(step.data, step.consumed);
                    if step.done {
                        self.body_complete();
                    } else if step.consumed == 0 {
                        return Ok(());
                    }
                }
                Receiving::Done | Receiving::Failed(_) => return Ok(()),
            }
        }
    }

    fn handle_head(&mut self, head: ResponseHead, ctx: &mut Ctx<'_>, now: Instant) -> Result<()> {
        let status = head.status;
        if status.is_informational() {
            if status == StatusCode::SWITCHING_PROTOCOLS {
                return Err(Error::new(
                    Phase::ReadResponseHead,
                    ErrorKind::UnexpectedSwitchingProtocols,
                ));
            }
            self.informational += 1;
            if self.informational > ctx.config.max_1xx_responses {
                return Err(Error::new(
                    Phase::ReadResponseHead,
                    ErrorKind::LimitExceeded {
                        limit: Limit::InformationalResponses,
                        max: ctx.config.max_1xx_responses,
                    },
                ));
            }
            // Go fires got_100_continue only when it asked for one.
            let awaited = status == StatusCode::CONTINUE && self.expect_continue;
            if awaited {
                self.emit(ctx, now, EventKind::Got100Continue);
            }
            self.emit(
                ctx,
                now,
                EventKind::Got1xxResponse {
                    code: status,
                    headers: &head.headers,
                },
            );
            if awaited {
                self.start_body_after_continue(ctx, now);
            }
            return Ok(());
        }
        let framing = framing::response_framing(&self.method, status, head.version, &head.headers)?;
        self.keep_alive = framing::keep_alive(&self.headers, head.version, &head.headers);
        if framing.must_close {
            let reason = if framing.body == BodyFraming::Close {
                CloseReason::CloseDelimited
            } else {
                CloseReason::AmbiguousFraming
            };
            self.must_close.get_or_insert(reason);
        }
        if !self.keep_alive {
            self.must_close.get_or_insert(CloseReason::ConnectionClose);
        }
        self.emit(
            ctx,
            now,
            EventKind::GotResponseHeaders {
                status,
                version: head.version,
                headers: &head.headers,
            },
        );
        if matches!(self.sending, Sending::WaitContinue { .. }) {
            self.skip_body(ctx, now);
        }
        let limits = ChunkLimits {
            max_chunk_line: ctx.config.max_chunk_line,
            max_trailer_size: ctx.config.max_trailer_size,
            max_trailer_fields: ctx.config.max_headers,
        };
        let decoder = BodyDecoder::new(framing.body, limits);
        self.response = Some(head);
        self.head_produced = true;
        if decoder.is_done() {
            self.body_complete();
        } else {
            self.receiving = Receiving::Body(decoder);
        }
        Ok(())
    }

    fn body_complete(&mut self) {
        if let Receiving::Body(decoder) = &mut self.receiving {
            self.trailers = decoder.take_trailers();
            self.body_bytes_received = decoder.received();
        }
        self.receiving = Receiving::Done;
    }

    /// The connection reached EOF.
    pub fn handle_eof(&mut self, ctx: &mut Ctx<'_>, now: Instant) {
        match &mut self.receiving {
            Receiving::Head => {
                let err = Error::new(Phase::ReadResponseHead, ErrorKind::ConnectionClosed);
                self.fail_recv(err, ctx, now);
            }
            Receiving::Body(decoder) => {
                self.must_close.get_or_insert(CloseReason::ServerClosed);
                match decoder.finish_eof() {
                    Ok(()) => self.body_complete(),
                    Err(e) => self.fail_recv(e, ctx, now),
                }
            }
            Receiving::Done | Receiving::Failed(_) => {
                self.must_close.get_or_insert(CloseReason::ServerClosed);
            }
        }
        // Nothing more can be sent on a closed connection.
        if !matches!(self.sending, Sending::Done)
            && self.error.is_none()
            && !matches!(self.receiving, Receiving::Head)
        {
            self.must_close
                .get_or_insert(CloseReason::RequestBodyUnsent);
            self.finish_sending(None, ctx, now);
        }
    }

    /// Reading or writing the socket failed.
    pub fn handle_io_error(
        &mut self,
        error: std::io::Error,
        writing: bool,
        ctx: &mut Ctx<'_>,
        now: Instant,
    ) {
        if writing && !matches!(self.receiving, Receiving::Head) {
            // The server answered and stopped reading: keep the answer.
            self.must_close
                .get_or_insert(CloseReason::RequestBodyUnsent);
            self.body_bytes = None;
            if let Some(c) = self.conn.as_mut() {
                c.send.clear();
                c.sent = 0;
            }
            self.finish_sending(None, ctx, now);
            return;
        }
        let phase = if writing {
            Phase::WriteRequest
        } else if matches!(self.receiving, Receiving::Head) {
            Phase::ReadResponseHead
        } else {
            Phase::ReadResponseBody
        };
        self.fail_recv(Error::io(phase, error), ctx, now);
    }

    /// A failure while the response was being received (or written).
    fn fail_recv(&mut self, err: Error, ctx: &mut Ctx<'_>, now: Instant) {
        if matches!(self.receiving, Receiving::Head) && self.can_retry(&err) {
            self.retry(err, ctx, now);
            return;
        }
        if let Receiving::Body(decoder) = &self.receiving {
            // Bytes already decoded are delivered first, then the error.
            self.body_bytes_received = decoder.received();
            self.must_close = Some(CloseReason::Error);
            self.receiving = Receiving::Failed(err);
            if self.conn.as_ref().is_some_and(|c| c.recv.body().is_empty()) {
                self.try_finish(ctx, now);
            }
            return;
        }
        self.fail(err, ctx, now);
    }

    fn can_retry(&self, err: &Error) -> bool {
        let replayable = self.body.as_ref().is_some_and(|b| b.is_replayable());
        let idempotent = matches!(
            self.method,
            Method::GET
                | Method::HEAD
                | Method::OPTIONS
                | Method::TRACE
                | Method::PUT
                | Method::DELETE
        ) || self.headers.contains_key("idempotency-key");
        let transport = matches!(err.kind(), ErrorKind::Io(_) | ErrorKind::ConnectionClosed);
        self.resend == 0
            && self.reused
            && !self.first_byte
            && transport
            && replayable
            && (idempotent || !self.wrote_any)
    }

    fn retry(&mut self, err: Error, ctx: &mut Ctx<'_>, now: Instant) {
        if !matches!(self.sending, Sending::Done) && self.head_begun {
            self.finish_sending(Some(&err), ctx, now);
        }
        self.release_conn(Some(CloseReason::ServerClosed), ctx, now);
        self.emit(ctx, now, EventKind::Retry { reason: &err });
        self.resend += 1;
        self.sending = Sending::Head;
        self.receiving = Receiving::Head;
        self.body_bytes = None;
        self.body_sent = 0;
        self.wrote_any = false;
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
        if let State::Connecting(c) = &mut self.state {
            if now >= c.deadline {
                if let Some((attempt, addr)) = c.current.take() {
                    self.actions.push_back(Action::CancelAttempt { attempt });
                    let timeout =
                        std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out");
                    self.emit(
                        ctx,
                        now,
                        EventKind::ConnectDone {
                            attempt,
                            network: Network::of(&addr),
                            addr,
                            error: Some(&timeout),
                        },
                    );
                    if let State::Connecting(c) = &mut self.state {
                        c.errors.push(AttemptError {
                            addr,
                            error: Arc::new(timeout),
                        });
                    }
                }
                let err = Error::new(
                    Phase::Connect,
                    ErrorKind::Timeout {
                        limit: ctx.config.connect_timeout,
                    },
                );
                self.fail(err, ctx, now);
                return;
            }
        }
        if let Sending::WaitContinue { until } = self.sending {
            if now >= until {
                self.start_body_after_continue(ctx, now);
            }
        }
    }

    /// Copies decoded body bytes into `out`.
    pub fn read_body(
        &mut self,
        out: &mut [u8],
        ctx: &mut Ctx<'_>,
        now: Instant,
    ) -> Result<BodyRead> {
        if let Some(conn) = self.conn.as_mut() {
            let avail = conn.recv.body();
            if !avail.is_empty() {
                let n = avail.len().min(out.len());
                out[..n].copy_from_slice(&avail[..n]);
                conn.recv.take_body(n);
                if conn.recv.body().is_empty() {
                    self.try_finish(ctx, now);
                }
                return Ok(BodyRead::Data(n));
            }
        }
        self.try_finish(ctx, now);
        if self.is_finished() {
            return match &self.error {
                Some(e) => Err(e.clone()),
                None => Ok(BodyRead::End),
            };
        }
        Ok(BodyRead::Pending)
    }

    /// Ends the request once the body is complete (or failed) and every
    /// decoded byte has been taken.
    fn try_finish(&mut self, ctx: &mut Ctx<'_>, now: Instant) {
        if self.is_finished()
            || self
                .conn
                .as_ref()
                .is_some_and(|c| !c.recv.body().is_empty())
        {
            return;
        }
        match std::mem::replace(&mut self.receiving, Receiving::Done) {
            Receiving::Done => {
                if !matches!(self.sending, Sending::Done) {
                    self.abandon_send(ctx, now);
                }
                let trailers = self.trailers.take();
                let bytes = self.body_bytes_received;
                self.emit(
                    ctx,
                    now,
                    EventKind::ResponseBodyDone {
                        bytes,
                        trailers: trailers.as_ref(),
                        error: None,
                    },
                );
                self.trailers = trailers;
                self.body_done_fired = true;
                if self.conn.as_ref().is_some_and(|c| !c.recv.raw().is_empty()) {
                    self.must_close.get_or_insert(CloseReason::ExtraBytes);
                }
                let reason = self.must_close;
                self.release_conn(reason, ctx, now);
                self.finish(None, ctx, now);
            }
            Receiving::Failed(err) => self.fail(err, ctx, now),
            other => self.receiving = other,
        }
    }

    /// The response is complete while the request is still going out: stop
    /// sending. The server has not read the rest, so the connection cannot
    /// be reused (unless nothing was left to send).
    fn abandon_send(&mut self, ctx: &mut Ctx<'_>, now: Instant) {
        if let Sending::WaitContinue { .. } = self.sending {
            self.skip_body(ctx, now);
            return;
        }
        if self.pending_send().is_some() || matches!(self.sending, Sending::Body) {
            self.must_close
                .get_or_insert(CloseReason::RequestBodyUnsent);
        }
        self.body_bytes = None;
        if let Some(c) = self.conn.as_mut() {
            c.send.clear();
            c.sent = 0;
        }
        self.finish_sending(None, ctx, now);
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
                let n = conn.recv.body().len();
                conn.recv.take_body(n);
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
        if let State::Connecting(c) = &mut self.state {
            if let Some((attempt, _)) = c.current.take() {
                self.actions.push_back(Action::CancelAttempt { attempt });
            }
        }
        if self.head_begun && !matches!(self.sending, Sending::Done) {
            self.finish_sending(Some(&err), ctx, now);
        }
        if self.head_produced && !self.body_done_fired {
            let bytes = match &self.receiving {
                Receiving::Body(d) => d.received(),
                _ => self.body_bytes_received,
            };
            self.emit(
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
            ctx.recycle(&mut conn.recv);
            ctx.pool.checkin(conn, now);
            self.actions.push_back(Action::Pooled { sock, conn: id });
            self.emit(
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
        conn.recv.clear();
        ctx.recycle(&mut conn.recv);
        self.actions.push_back(Action::Close { sock });
        self.emit(
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
        self.state = State::Finished;
        self.emit(
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

/// `n` in decimal, written into `buf` without allocating.
fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

//! Bodies of the fuzz targets that need the private exchange state machine
//! (DESIGN.md, "Testing layers", 5): `exchange`, the whole request/response
//! state machine (RFC 9112 §4–§9, the 100-continue rules of RFC 9110
//! §10.1.1) driven sans-IO by arbitrary server bytes on a virtual clock;
//! and `h1_writer`, arbitrary caller requests through the request writer
//! (RFC 9112 §3, §5, §6.1–§6.2, §7.1; one Host, RFC 9112 §3.2).
//!
//! Compiled only for the crate's own tests and with the non-default
//! `fuzzing` feature, which `fuzz/` enables; not part of the API. The unit
//! test at the end replays `fuzz/corpus/exchange/` and
//! `fuzz/corpus/h1_writer/` in a plain `cargo test`.

use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::{HeaderName, HeaderValue, Method, Uri};

use crate::conn::SockId;
use crate::dns::{Hosts, Resolver};
use crate::error::{ErrorKind, Phase};
use crate::exchange::{Action, BodyRead, Exchange, Ids};
use crate::h1::body::{BodyDecoder, ChunkLimits};
use crate::h1::framing::{response_framing, BodyFraming};
use crate::h1::ResponseHead;
use crate::pool::Pool;
use crate::send_body::SendBody;
use crate::trace::{EventKind, RequestId, Trace};
use crate::Config;

/// Reads the fuzz input front to back; missing bytes read as zero.
struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        head
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// What the trace saw, one entry per event.
#[derive(Debug, Clone)]
struct Seen {
    name: &'static str,
    /// `put_idle_conn`: pooled (`Some(true)`) or closed.
    pooled: Option<bool>,
    /// `response_body_done`: bytes, and whether it carried an error.
    body_done: Option<(u64, bool)>,
    /// `request_done`: whether it carried an error.
    failed: bool,
    /// `retry`: whether its reason is a 417 to a 100-continue request.
    expectation_failed: bool,
}

/// The runtime's part, played in memory: the pieces an exchange borrows,
/// the bytes it wrote, the actions it asked for, the events it fired.
struct Sim {
    config: Config,
    pool: Pool,
    resolver: Resolver,
    client_trace: Trace,
    ids: Ids,
    spare_bufs: crate::exchange::Spares,
    families: crate::dial::FamilyMemory,
    tls: crate::tls::TlsSetup,
    proxies: std::result::Result<crate::proxy::Proxies, crate::Error>,
    sent: Vec<u8>,
    actions: Vec<Action>,
    events: Arc<Mutex<Vec<Seen>>>,
    /// Bytes the "socket" takes per write (`usize::MAX`: all).
    write_size: usize,
    /// Writes happen only on explicit write ops.
    write_held: bool,
}

macro_rules! ctx {
    ($s:expr) => {
        &mut crate::exchange::ctx_from!($s)
    };
}

impl Sim {
    fn new(config: Config) -> Sim {
        let mut settings = config.dns_settings();
        // Never contacted: the only name used is in the hosts table.
        settings.nameservers = vec!["192.0.2.53:53".parse().expect("address")];
        Sim {
            pool: Pool::new(8, 100, config.idle_timeout),
            resolver: Resolver::new(settings, Hosts::parse("127.0.0.1 origin.test\n"), 1),
            client_trace: Trace::new(),
            ids: Ids::default(),
            spare_bufs: crate::exchange::Spares::default(),
            families: crate::dial::FamilyMemory::new(16, Duration::from_secs(600)),
            tls: crate::tls::TlsSetup::default(),
            proxies: Ok(crate::proxy::Proxies::default()),
            config,
            sent: Vec::new(),
            actions: Vec::new(),
            events: Arc::default(),
            write_size: usize::MAX,
            write_held: false,
        }
    }

    fn trace(&self) -> Trace {
        let events = self.events.clone();
        Trace::new().on_event(move |e| {
            let mut seen = Seen {
                name: e.kind.name(),
                pooled: None,
                body_done: None,
                failed: false,
                expectation_failed: false,
            };
            match &e.kind {
                EventKind::PutIdleConn { error, .. } => seen.pooled = Some(error.is_none()),
                EventKind::ResponseBodyDone { bytes, error, .. } => {
                    seen.body_done = Some((*bytes, error.is_some()))
                }
                EventKind::RequestDone { error } => seen.failed = error.is_some(),
                EventKind::Retry { reason } => {
                    seen.expectation_failed = matches!(reason.kind(), ErrorKind::ExpectationFailed)
                }
                _ => {}
            }
            events.lock().expect("not poisoned").push(seen);
        })
    }

    fn events(&self) -> Vec<Seen> {
        self.events.lock().expect("not poisoned").clone()
    }

    fn retried(&self) -> bool {
        let events = self.events.lock().expect("not poisoned");
        events.iter().any(|e| e.name == "retry")
    }

    /// Writes what is pending, `write_size` bytes per write; true if any.
    fn write(&mut self, ex: &mut Exchange, now: Instant, limit: usize) -> bool {
        let mut any = false;
        let mut budget = limit;
        while budget > 0 {
            let Some((_, head, body)) = ex.pending_send() else {
                break;
            };
            let n = (head.len() + body.len()).min(self.write_size).min(budget);
            let from_head = n.min(head.len());
            self.sent.extend_from_slice(&head[..from_head]);
            self.sent.extend_from_slice(&body[..n - from_head]);
            ex.handle_written(n, ctx!(self), now);
            budget -= n;
            any = true;
        }
        any
    }

    /// Plays the runtime until nothing moves: actions, lookups, writes.
    fn step(&mut self, ex: &mut Exchange, now: Instant) {
        for _ in 0..10_000 {
            let mut progress = false;
            while let Some(a) = ex.poll_action() {
                self.actions.push(a);
                progress = true;
            }
            if let Some(q) = ex.take_new_query() {
                while let Some(event) = self.resolver.poll_event() {
                    assert_eq!(event.lookup(), q);
                    ex.handle_dns_event(event, ctx!(self), now);
                }
                progress = true;
            }
            if !self.write_held && self.write(ex, now, usize::MAX) {
                progress = true;
            }
            if !progress {
                return;
            }
        }
        panic!("the runtime loop never settles");
    }

    /// Accepts the newest connect attempt as socket 7.
    fn connect(&mut self, ex: &mut Exchange, now: Instant) {
        let attempt = self.actions.iter().rev().find_map(|a| match a {
            Action::Connect { attempt, .. } => Some(*attempt),
            _ => None,
        });
        if let Some(attempt) = attempt {
            let local = "127.0.0.1:40000".parse().expect("address");
            ex.handle_connected(attempt, SockId(7), local, ctx!(self), now);
            self.step(ex, now);
        }
    }

    fn closed(&self) -> bool {
        self.actions
            .iter()
            .any(|a| matches!(a, Action::Close { sock } if sock.0 == 7))
    }

    fn pooled(&self) -> bool {
        self.actions
            .iter()
            .any(|a| matches!(a, Action::Pooled { sock, .. } if sock.0 == 7))
    }
}

/// The largest receive storage an exchange may hold (`attach_recv_storage`).
fn recv_limit(config: &Config) -> usize {
    config.recv_buffer_size.max(config.max_head_size).max(1024)
}

/// The `exchange` target. Input:
///
/// ```text
/// byte 0   the request: bits 0-1: 0 GET, 1 POST "payload" with
///          `Expect: 100-continue`, 2 HEAD, 3 POST of a 40000-byte
///          streamed body (sized reader) with `Expect: 100-continue`;
///          bit 2: small limits (max_head_size 256, 4 fields,
///          recv_buffer_size 1024, 2 × 1xx, chunk line 16, trailers 64 bytes);
///          bit 3: short timeouts (header 2 s, body idle 1 s, total 30 s);
///          bit 4: the caller reads the body only when told (else after
///          every step); bit 5: writes happen only on write ops;
///          bit 6: the host is a name from the hosts table (else an IP);
///          bit 7: the request says `Connection: close`
/// byte 1   socket write size: 0 all, else that many bytes per write
/// then ops op & 7 = 0 server bytes: len = next byte + 256 * (op >> 3 & 1),
///            delivered in reads of (op >> 4) + 1 bytes (15 → all);
///          1 the server closes (EOF after the bytes before it);
///          2 time passes: [1 ms, 50 ms, 999 ms, 1 s, 2 s, 30 s, 301 s,
///            1 h][op >> 3 & 7]; due timeouts fire;
///          3 a read error (while the exchange reads); 4 a write error
///            (while it has bytes to write);
///          5 the caller reads the body, (op >> 3) * 7 + 1 bytes a call;
///          6 the caller cancels; 7 the socket writes next byte × 16 bytes
/// ```
///
/// When the input ends, the server's remaining bytes arrive, it closes,
/// the caller reads everything and time runs on; the request must then be
/// over.
///
/// Checks: body bytes never exceed the framing of the final head
/// (Content-Length, nothing for HEAD/204/304/1xx) nor the bytes the server
/// sent after it; a connection is pooled only after a clean, complete,
/// unambiguous response (no framing error, no close-delimited body, no
/// Transfer-Encoding with Content-Length or on HTTP/1.0, no
/// `Connection: close`, no EOF, error or cancel, no byte after the end,
/// the request body fully sent) and then nothing is left in its buffers; the
/// connection is closed or pooled exactly once; the receive storage never
/// grows past `max(recv_buffer_size, max_head_size, 1024)`; exactly one
/// `request_done`, and it is the last event; at most one
/// `got_response_headers` and one `response_body_done` (whose byte count
/// is what the caller got when there was no error); a failed request
/// reports an error to the caller; the machine ends.
pub fn exchange(data: &[u8]) {
    let mut input = Input(data);
    let cfg = input.byte();
    let write_size = input.byte();
    let mut config = Config {
        hosts_file: None,
        ..Config::default()
    };
    if cfg & 4 != 0 {
        config.max_head_size = 256;
        config.max_headers = 4;
        config.recv_buffer_size = 1024;
        config.max_1xx_responses = 2;
        config.max_chunk_line = 16;
        config.max_trailer_size = 64;
    }
    if cfg & 8 != 0 {
        config.response_header_timeout = Some(Duration::from_secs(2));
        config.body_idle_timeout = Some(Duration::from_secs(1));
        config.total_timeout = Some(Duration::from_secs(30));
    }
    let lazy_reader = cfg & 16 != 0;
    let host = if cfg & 64 != 0 {
        "origin.test"
    } else {
        "127.0.0.1"
    };
    let url = format!("http://{host}:8080/fuzz");
    let mut builder = http::Request::builder().uri(&url);
    let (method, body) = match cfg & 3 {
        0 => (Method::GET, SendBody::empty()),
        1 => (Method::POST, SendBody::from("payload")),
        2 => (Method::HEAD, SendBody::empty()),
        _ => (
            Method::POST,
            SendBody::sized_reader(std::io::repeat(b'z').take(40_000), 40_000),
        ),
    };
    if cfg & 1 != 0 {
        builder = builder.header("expect", "100-continue");
    }
    if cfg & 128 != 0 {
        builder = builder.header("connection", "close");
    }
    let req = builder
        .method(method.clone())
        .body(body)
        .expect("a valid request");

    let mut sim = Sim::new(config);
    sim.write_held = cfg & 32 != 0;
    if write_size != 0 {
        sim.write_size = usize::from(write_size);
    }
    let limit = recv_limit(&sim.config);
    let t0 = Instant::now();
    let mut now = t0;
    let (parts, body) = req.into_parts();
    let trace = sim.trace();
    let mut ex = Exchange::new(RequestId(1), parts, body, trace, None, &sim.config, now)
        .map_err(|(e, _)| e)
        .expect("the request is valid");
    ex.start(ctx!(sim), now);
    sim.step(&mut ex, now);
    sim.connect(&mut ex, now);

    // Server bytes not yet read by the "runtime", and whether EOF follows.
    let mut inbound: std::collections::VecDeque<u8> = Default::default();
    let mut read_size = usize::MAX;
    let mut eof_pending = false;
    let mut eof_delivered = false;
    let mut body: Vec<u8> = Vec::new();
    let mut head: Option<ResponseHead> = None;
    let mut failed_to_caller = false;
    let mut trouble = false; // an IO error, cancel or EOF: never pooled
    let mut cancelled = false;
    let mut fed = 0usize;

    // One turn of the runtime's loop after an op.
    #[allow(clippy::too_many_arguments)]
    fn turn(
        sim: &mut Sim,
        ex: &mut Exchange,
        now: Instant,
        inbound: &mut std::collections::VecDeque<u8>,
        read_size: usize,
        eof_pending: &mut bool,
        eof_delivered: &mut bool,
        fed: &mut usize,
        limit: usize,
    ) {
        for _ in 0..100_000 {
            sim.step(ex, now);
            if ex.is_finished() {
                return;
            }
            if inbound.is_empty() {
                if *eof_pending && !*eof_delivered && ex.recv_space(ctx!(sim)).is_some() {
                    *eof_delivered = true;
                    ex.handle_eof(ctx!(sim), now);
                    continue;
                }
                return;
            }
            let Some((_, space)) = ex.recv_space(ctx!(sim)) else {
                return;
            };
            assert!(space.len() <= limit, "read space {} > {limit}", space.len());
            let n = space.len().min(inbound.len()).min(read_size);
            for (dst, src) in space[..n].iter_mut().zip(inbound.drain(..n)) {
                *dst = src;
            }
            *fed += n;
            ex.handle_read(n, ctx!(sim), now);
            if let Some((recv, _)) = ex.buffered() {
                assert!(recv <= limit, "receive storage {recv} > {limit}");
            }
        }
        panic!("the read loop never settles");
    }

    fn read_all(
        sim: &mut Sim,
        ex: &mut Exchange,
        now: Instant,
        chunk: usize,
        body: &mut Vec<u8>,
        failed: &mut bool,
    ) {
        let mut buf = vec![0u8; chunk.max(1)];
        for _ in 0..1_000_000 {
            match ex.read_body(&mut buf, ctx!(sim), now) {
                Ok(BodyRead::Data(n)) => {
                    assert!(n > 0 && n <= buf.len());
                    body.extend_from_slice(&buf[..n]);
                }
                Ok(BodyRead::Pending) | Ok(BodyRead::End) => return,
                Err(_) => {
                    *failed = true;
                    return;
                }
            }
        }
        panic!("read_body never runs dry");
    }

    let mut ops = 0;
    while !input.is_empty() && ops < 4096 {
        ops += 1;
        let op = input.byte();
        match op & 7 {
            0 => {
                let len = usize::from(input.byte()) + 256 * usize::from(op >> 3 & 1);
                let bytes = input.take(len);
                if !eof_pending {
                    inbound.extend(bytes);
                }
                let r = usize::from(op >> 4);
                read_size = if r == 15 { usize::MAX } else { r + 1 };
            }
            1 => eof_pending = true,
            2 => {
                let ms = [1, 50, 999, 1000, 2000, 30_000, 301_000, 3_600_000];
                now += Duration::from_millis(ms[usize::from(op >> 3 & 7)]);
                for _ in 0..64 {
                    match ex.poll_timeout() {
                        Some(t) if t <= now => {
                            ex.handle_timeout(ctx!(sim), now);
                            sim.step(&mut ex, now);
                        }
                        _ => break,
                    }
                }
                // An early wake-up must change nothing harmful either.
                ex.handle_timeout(ctx!(sim), now);
            }
            3 => {
                // The runtime sees a reset only on a socket it reads.
                if ex.recv_space(ctx!(sim)).is_some() {
                    trouble = true;
                    let e = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
                    ex.handle_io_error(e, false, ctx!(sim), now);
                }
            }
            4 => {
                // ...and a broken pipe only when it has bytes to write.
                if ex.pending_send().is_some() {
                    trouble = true;
                    let e = std::io::Error::from(std::io::ErrorKind::BrokenPipe);
                    ex.handle_io_error(e, true, ctx!(sim), now);
                }
            }
            5 => {
                if head.is_some() {
                    let chunk = usize::from(op >> 3) * 7 + 1;
                    read_all(
                        &mut sim,
                        &mut ex,
                        now,
                        chunk,
                        &mut body,
                        &mut failed_to_caller,
                    );
                }
            }
            6 => {
                if !ex.is_finished() {
                    cancelled = true;
                }
                ex.cancel(ctx!(sim), now);
            }
            _ => {
                let n = usize::from(input.byte()) * 16;
                sim.write(&mut ex, now, n);
            }
        }
        turn(
            &mut sim,
            &mut ex,
            now,
            &mut inbound,
            read_size,
            &mut eof_pending,
            &mut eof_delivered,
            &mut fed,
            limit,
        );
        if sim.retried() {
            return after_expectation_failed(&mut sim, &mut ex, now);
        }
        match ex.take_outcome() {
            Some(Ok(h)) => {
                assert!(head.is_none(), "two final heads");
                head = Some(h);
            }
            Some(Err(_)) => failed_to_caller = true,
            None => {}
        }
        if head.is_some() && !lazy_reader {
            read_all(
                &mut sim,
                &mut ex,
                now,
                4096,
                &mut body,
                &mut failed_to_caller,
            );
        }
        check_running(&sim, &ex, limit);
    }

    // The input is over: the server sends what is left and closes, the
    // socket takes every write, the caller reads everything, time runs.
    sim.write_held = false;
    eof_pending = true;
    for round in 0..64 {
        if ex.is_finished() {
            break;
        }
        turn(
            &mut sim,
            &mut ex,
            now,
            &mut inbound,
            usize::MAX,
            &mut eof_pending,
            &mut eof_delivered,
            &mut fed,
            limit,
        );
        if sim.retried() {
            return after_expectation_failed(&mut sim, &mut ex, now);
        }
        match ex.take_outcome() {
            Some(Ok(h)) => {
                assert!(head.is_none(), "two final heads");
                head = Some(h);
            }
            Some(Err(_)) => failed_to_caller = true,
            None => {}
        }
        if head.is_some() {
            read_all(
                &mut sim,
                &mut ex,
                now,
                4096,
                &mut body,
                &mut failed_to_caller,
            );
        }
        if round > 2 {
            now += Duration::from_secs(400);
            ex.handle_timeout(ctx!(sim), now);
        }
        check_running(&sim, &ex, limit);
    }
    sim.step(&mut ex, now);
    assert!(ex.is_finished(), "the exchange never ended");
    if let Some(Err(_)) = ex.take_outcome() {
        failed_to_caller = true;
    }
    if head.is_some() && !failed_to_caller {
        // The end (or the error) is reported to a caller still reading.
        read_all(
            &mut sim,
            &mut ex,
            now,
            4096,
            &mut body,
            &mut failed_to_caller,
        );
    }

    // ----- the invariants ---------------------------------------------
    let events = sim.events();
    let done: Vec<usize> = events
        .iter()
        .enumerate()
        .filter(|(_, e)| e.name == "request_done")
        .map(|(i, _)| i)
        .collect();
    assert_eq!(done.len(), 1, "request_done count: {events:?}");
    assert_eq!(done[0], events.len() - 1, "request_done is not last");
    let failed = events[done[0]].failed;
    let count = |name: &str| events.iter().filter(|e| e.name == name).count();
    assert!(count("got_response_headers") <= 1);
    assert!(count("response_body_done") <= 1);
    assert!(count("put_idle_conn") <= 1, "{events:?}");
    assert_eq!(count("retry"), 0, "retried without a 417");
    if failed {
        assert!(failed_to_caller, "a failed request must report its error");
    }

    let pooled = sim.pooled();
    let closed = sim.closed();
    assert!(!(pooled && closed), "pooled and closed");
    assert_eq!(pooled, sim.pool.len() == 1, "pool and actions disagree");
    let put = events.iter().find_map(|e| e.pooled);
    if let Some(p) = put {
        assert_eq!(p, pooled, "put_idle_conn disagrees with the action");
        assert!(pooled || closed, "released but neither pooled nor closed");
    }

    if let Some(h) = &head {
        let framing = response_framing(&method, h.status, h.version, &h.headers)
            .expect("a head handed out has valid framing");
        match framing.body {
            BodyFraming::None => assert!(body.is_empty(), "body where none is allowed"),
            BodyFraming::Length(n) => {
                assert!(
                    body.len() as u64 <= n,
                    "{} > Content-Length {n}",
                    body.len()
                )
            }
            BodyFraming::Chunked | BodyFraming::Close => {}
        }
        assert!(body.len() <= fed, "more body than bytes received");
        let body_done = events.iter().find_map(|e| e.body_done);
        if let Some((bytes, false)) = body_done {
            if !cancelled {
                assert_eq!(bytes, body.len() as u64, "response_body_done bytes");
            }
        }
        if pooled {
            assert!(
                !framing.must_close,
                "ambiguous or close-delimited framing pooled"
            );
            assert!(
                !failed && !failed_to_caller && !trouble,
                "pooled after an error"
            );
            assert!(!eof_delivered, "pooled after EOF");
            assert!(
                !h.headers
                    .get_all(http::header::CONNECTION)
                    .iter()
                    .any(|v| crate::h1::list_contains(v.as_bytes(), "close")),
                "pooled after Connection: close"
            );
            assert!(
                h.version == http::Version::HTTP_11
                    || h.headers
                        .get_all(http::header::CONNECTION)
                        .iter()
                        .any(|v| crate::h1::list_contains(v.as_bytes(), "keep-alive")),
                "HTTP/1.0 pooled without keep-alive"
            );
            assert!(cfg & 128 == 0, "pooled after the request said close");
            // (A cancel once the whole body is buffered discards it and
            // keeps the connection.)
            if let (BodyFraming::Length(n), false) = (framing.body, cancelled) {
                assert_eq!(body.len() as u64, n, "pooled before the body ended");
            }
            let conns: Vec<_> = sim.pool.drain().collect();
            for c in &conns {
                assert!(c.recv.is_empty(), "pooled with bytes buffered");
                assert!(c.send.len() == c.sent, "pooled with bytes unsent");
            }
        }
    } else {
        assert!(!pooled, "pooled without a final response");
        assert!(body.is_empty());
    }
}

/// The one retry a single fresh connection can see: a 417 to a
/// 100-continue request whose body can be sent again (RFC 9110 §10.1.1).
/// The run's one connection is then behind it, so the run ends here: the
/// retry is checked, then the request cancelled on its way out again.
fn after_expectation_failed(sim: &mut Sim, ex: &mut Exchange, now: Instant) {
    let events = sim.events();
    let retry = events
        .iter()
        .position(|e| e.name == "retry")
        .expect("a retry");
    assert!(
        events[retry].expectation_failed,
        "a fresh connection retried for another reason: {events:?}"
    );
    let before = &events[..retry];
    assert!(before.iter().any(|e| e.name == "wait_100_continue"));
    assert!(
        !events.iter().any(|e| e.name == "got_response_headers"),
        "the 417 is not handed out"
    );
    assert_eq!(
        before.iter().filter_map(|e| e.pooled).collect::<Vec<_>>(),
        [false],
        "the first connection is closed, once"
    );
    assert!(
        sim.closed() && !sim.pooled(),
        "the connection still waits for the body"
    );
    assert!(!ex.is_finished(), "the request goes out again");
    assert!(ex.take_outcome().is_none(), "the 417 is not the outcome");
    ex.cancel(ctx!(sim), now);
    sim.step(ex, now);
    assert!(ex.is_finished());
    let events = sim.events();
    assert_eq!(
        events.iter().filter(|e| e.name == "request_done").count(),
        1
    );
    assert_eq!(events.last().map(|e| e.name), Some("request_done"));
    assert_eq!(events.iter().filter(|e| e.name == "retry").count(), 1);
}

/// Checks that hold after every step.
fn check_running(sim: &Sim, ex: &Exchange, limit: usize) {
    if let Some((recv, _send)) = ex.buffered() {
        assert!(recv <= limit, "receive storage {recv} > {limit}");
    }
    for b in &sim.spare_bufs.recv {
        assert!(b.len() <= limit, "spare buffer {} > {limit}", b.len());
    }
    // The exchange target speaks plain HTTP: no ciphertext buffer.
    assert!(sim.spare_bufs.cipher.is_empty());
    assert!(sim.pool.len() <= 1);
    let events = sim.events();
    if let Some(i) = events.iter().position(|e| e.name == "request_done") {
        assert_eq!(i, events.len() - 1, "an event after request_done");
        assert!(ex.is_finished());
    }
}

/// The `h1_writer` target. Input:
///
/// ```text
/// byte 0   bits 0-2 method: GET HEAD POST PUT DELETE OPTIONS PATCH, or 7:
///          a method from the input (len byte, bytes); bits 3-4 body: none,
///          in memory (len byte, bytes), sized reader of the next byte's
///          length, unsized reader of the next byte's length; bit 5: the
///          client has a User-Agent; bit 6: values may be built unchecked
///          (only where `http` allows it: see below)
/// then     authority (len byte, bytes), path and query (len byte, bytes)
/// then     fields while input lasts: flags byte (bit 0: unchecked value),
///          name (len byte, bytes), value (len byte, bytes)
/// ```
///
/// The URI is `http://AUTHORITY` + the path; inputs `http` itself refuses
/// (URI, method, field name) end there, since no caller can build them.
/// Values with CR, LF or NUL can be built only through `http`'s unsafe
/// unchecked constructor, which this crate cannot call
/// (`forbid(unsafe_code)`): `unchecked` makes such a value, and the fuzz
/// target passes one when `http` has no debug assertions (with them it
/// panics instead; `cargo fuzz run -O h1_writer`). Without it, bit 6 and
/// the field flag are ignored (the replay in `cargo test`).
///
/// Checks: the request is refused with a `Phase::Request` error of a
/// request kind, or written; a request with a control character (other
/// than HTAB) in a value, or two Host fields, is always refused; a written
/// head parses back with httparse, completely, as exactly the request:
/// the method, the origin-form target, one Host (the caller's or the
/// authority), the User-Agent when the caller had none, the caller's
/// fields with each name's values in order (values compared without
/// surrounding whitespace, which HTTP does not carry; the order between
/// different names carries no meaning, RFC 9110 §5.3), and one framing
/// field agreeing with the body;
/// the body after the head decodes to the caller's bytes.
pub fn h1_writer(data: &[u8], unchecked: Option<fn(&[u8]) -> HeaderValue>) {
    let mut input = Input(data);
    let cfg = input.byte();
    let unchecked = unchecked.filter(|_| cfg & 0x40 != 0);
    let method = match cfg & 7 {
        0 => Method::GET,
        1 => Method::HEAD,
        2 => Method::POST,
        3 => Method::PUT,
        4 => Method::DELETE,
        5 => Method::OPTIONS,
        6 => Method::PATCH,
        _ => {
            let len = usize::from(input.byte());
            match Method::from_bytes(input.take(len)) {
                Ok(m) => m,
                Err(_) => return,
            }
        }
    };
    let body_kind = (cfg >> 3) & 3;
    let body_bytes: Vec<u8> = match body_kind {
        0 => Vec::new(),
        1 => {
            let len = usize::from(input.byte());
            input.take(len).to_vec()
        }
        _ => vec![b'b'; usize::from(input.byte())],
    };
    let len = usize::from(input.byte());
    let authority = input.take(len).to_vec();
    let len = usize::from(input.byte());
    let path = input.take(len).to_vec();
    let mut uri_bytes = b"http://".to_vec();
    uri_bytes.extend_from_slice(&authority);
    uri_bytes.extend_from_slice(&path);
    let Ok(uri) = Uri::try_from(uri_bytes) else {
        return;
    };

    let mut fields: Vec<(HeaderName, HeaderValue)> = Vec::new();
    let mut ctl_in_value = false;
    while !input.is_empty() && fields.len() < 32 {
        let flags = input.byte();
        let len = usize::from(input.byte());
        let name = input.take(len);
        let len = usize::from(input.byte());
        let value = input.take(len);
        let Ok(name) = HeaderName::from_bytes(name) else {
            continue;
        };
        let value = if let Some(make) = unchecked.filter(|_| flags & 1 != 0) {
            // What a careless caller can build; the writer must refuse it.
            make(value)
        } else {
            match HeaderValue::from_bytes(value) {
                Ok(v) => v,
                Err(_) => continue,
            }
        };
        ctl_in_value |= value
            .as_bytes()
            .iter()
            .any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f);
        fields.push((name, value));
    }

    let mut builder = http::Request::builder()
        .method(method.clone())
        .uri(uri.clone());
    for (n, v) in &fields {
        builder = builder.header(n, v.clone());
    }
    let body = match body_kind {
        0 => SendBody::empty(),
        1 => SendBody::from(body_bytes.clone()),
        2 => SendBody::sized_reader(
            std::io::Cursor::new(body_bytes.clone()),
            body_bytes.len() as u64,
        ),
        _ => SendBody::from_reader(std::io::Cursor::new(body_bytes.clone())),
    };
    let Ok(req) = builder.body(body) else {
        return;
    };
    let (parts, body) = req.into_parts();
    let host = uri.host().unwrap_or("").to_owned();
    let port = uri.port_u16().unwrap_or(80);
    let mut config = Config {
        hosts_file: None,
        ..Config::default()
    };
    config.send_chunk_size = 7;
    if !host.is_empty() {
        // Pinned, so that any host name connects without DNS.
        let h = host.trim_start_matches('[').trim_end_matches(']');
        config.resolve = vec![(h.to_owned(), port, vec!["127.0.0.1".parse().expect("ip")])];
    }
    let user_agent = HeaderValue::from_static("fuzz/1");
    let ua = (cfg & 0x20 != 0).then_some(&user_agent);
    let mut sim = Sim::new(config);
    let now = Instant::now();
    // Copy for the comparison: the exchange takes the parts.
    let want_headers = parts.headers.clone();
    let trace = sim.trace();
    let hosts = want_headers.get_all(http::header::HOST).iter().count();
    let mut ex = match Exchange::new(RequestId(1), parts, body, trace, ua, &sim.config, now) {
        Err((e, _)) => {
            assert_eq!(e.phase(), Phase::Request, "{e}");
            assert!(
                matches!(
                    e.kind(),
                    ErrorKind::InvalidMethod
                        | ErrorKind::InvalidUri(_)
                        | ErrorKind::UnsupportedScheme(_)
                        | ErrorKind::InvalidHeaderName(_)
                        | ErrorKind::InvalidHeaderValue { .. }
                        | ErrorKind::BodyLengthMismatch { .. }
                ),
                "{e}"
            );
            return;
        }
        Ok(ex) => ex,
    };
    assert!(
        !ctl_in_value,
        "a value with a control character was accepted"
    );
    assert!(hosts <= 1, "two Host fields accepted");
    ex.start(ctx!(sim), now);
    sim.step(&mut ex, now);
    sim.connect(&mut ex, now);
    let expect_continue = sim.events().iter().any(|e| e.name == "wait_100_continue");
    if expect_continue {
        // Let the body go.
        if let Some((_, space)) = ex.recv_space(ctx!(sim)) {
            let cont = b"HTTP/1.1 100 Continue\r\n\r\n";
            space[..cont.len()].copy_from_slice(cont);
            ex.handle_read(cont.len(), ctx!(sim), now);
        }
        sim.step(&mut ex, now);
    }
    if ex.is_finished() {
        // A reader that yields more or fewer bytes than the caller's
        // Content-Length fails the request while sending; the connection
        // is closed, never reused.
        let err = ex.take_outcome().and_then(|o| o.err());
        assert!(
            matches!(
                err.as_ref().map(|e| e.kind()),
                Some(ErrorKind::BodyLengthMismatch { .. })
            ),
            "the request ended before it was written: {err:?}"
        );
        assert!(body_kind == 3 && sim.closed() && !sim.pooled());
        return;
    }
    assert!(
        sim.events().iter().any(|e| e.name == "wrote_request"),
        "not written: {:?}",
        sim.events()
    );

    // ----- parse it back ----------------------------------------------
    let sent = &sim.sent;
    let mut slots = vec![httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Request::new(&mut slots);
    let head_len = match parsed.parse(sent) {
        Ok(httparse::Status::Complete(n)) => n,
        other => panic!(
            "written head does not parse: {other:?} {:?}",
            String::from_utf8_lossy(sent)
        ),
    };
    assert_eq!(parsed.method, Some(method.as_str()));
    assert_eq!(parsed.version, Some(1));
    let pq = uri.path_and_query().map_or("", |p| p.as_str());
    let target = if pq.starts_with('/') {
        pq.to_owned()
    } else {
        format!("/{pq}")
    };
    assert_eq!(parsed.path, Some(target.as_str()), "request target");

    let mut want: Vec<(String, Vec<u8>)> = Vec::new();
    let host_value = want_headers
        .get(http::header::HOST)
        .map(|v| v.as_bytes().to_vec())
        .unwrap_or_else(|| {
            uri.authority()
                .map_or(vec![], |a| a.as_str().as_bytes().to_vec())
        });
    want.push(("host".into(), host_value));
    if let (Some(ua), false) = (ua, want_headers.contains_key(http::header::USER_AGENT)) {
        want.push(("user-agent".into(), ua.as_bytes().to_vec()));
    }
    for name in want_headers.keys() {
        if [
            http::header::HOST,
            http::header::CONTENT_LENGTH,
            http::header::TRANSFER_ENCODING,
        ]
        .contains(name)
        {
            continue;
        }
        for v in want_headers.get_all(name) {
            want.push((name.as_str().to_owned(), v.as_bytes().to_vec()));
        }
    }
    let got: Vec<(String, Vec<u8>)> = parsed
        .headers
        .iter()
        .map(|h| (h.name.to_ascii_lowercase(), h.value.to_vec()))
        .collect();
    let framing_fields: Vec<&(String, Vec<u8>)> = got
        .iter()
        .filter(|(n, _)| n == "content-length" || n == "transfer-encoding")
        .collect();
    assert!(framing_fields.len() <= 1, "two framing fields: {got:?}");
    let rest: Vec<(String, Vec<u8>)> = got
        .iter()
        .filter(|(n, _)| n != "content-length" && n != "transfer-encoding")
        .cloned()
        .collect();
    let trim = |v: &[u8]| crate::h1::trim_ows(v).to_vec();
    let mut rest: Vec<(String, Vec<u8>)> = rest.into_iter().map(|(n, v)| (n, trim(&v))).collect();
    let mut want: Vec<(String, Vec<u8>)> = want.into_iter().map(|(n, v)| (n, trim(&v))).collect();
    // The order of fields with different names carries no meaning (RFC
    // 9110 §5.3) and `HeaderMap::remove` (of Host, Content-Length,
    // Transfer-Encoding) moves the last name into the hole; the order of
    // one name's values does, and is kept. A stable sort by name compares
    // exactly that.
    rest.sort_by(|a, b| a.0.cmp(&b.0));
    want.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(rest, want, "fields differ");
    assert_eq!(
        got.iter().filter(|(n, _)| n == "host").count(),
        1,
        "exactly one Host"
    );

    // The body, framed as announced.
    let body_wire = &sent[head_len..];
    let framing = match framing_fields.first() {
        None => BodyFraming::None,
        Some((n, v)) if n == "transfer-encoding" => {
            assert_eq!(v, b"chunked");
            BodyFraming::Chunked
        }
        Some((_, v)) => {
            let n: u64 = std::str::from_utf8(v)
                .ok()
                .and_then(|s| s.parse().ok())
                .expect("a decimal Content-Length");
            BodyFraming::Length(n)
        }
    };
    let limits = ChunkLimits {
        max_chunk_line: 64,
        max_trailer_size: 64,
        max_trailer_fields: 0,
    };
    let mut dec = BodyDecoder::new(framing, limits);
    let mut got_body = Vec::new();
    let mut at = 0;
    while !dec.is_done() {
        let step = dec
            .decode(&body_wire[at..])
            .expect("our own framing decodes");
        got_body.extend_from_slice(&body_wire[at..][step.data.clone()]);
        at += step.consumed;
        assert!(
            step.consumed > 0 || step.done,
            "body ends early: {body_wire:?}"
        );
    }
    assert_eq!(at, body_wire.len(), "bytes after the body");
    let announced_empty = matches!(framing, BodyFraming::None | BodyFraming::Length(0));
    if !(announced_empty && body_bytes.is_empty()) {
        assert_eq!(got_body, body_bytes, "body differs");
    }
}

#[cfg(test)]
mod replay {
    //! `cargo test` replays the checked-in corpora of the two targets above
    //! (the other targets' corpora: tests/fuzz_replay.rs).

    use std::path::{Path, PathBuf};

    fn corpus(target: &str) -> Vec<PathBuf> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/corpus")
            .join(target);
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("corpus {} missing: {e}", dir.display()));
        let mut files: Vec<PathBuf> = entries
            .map(|e| e.expect("readable corpus directory").path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "corpus {} is empty", dir.display());
        files
    }

    fn replay(target: &str, run: fn(&[u8])) {
        for path in corpus(target) {
            let data = std::fs::read(&path).expect("readable corpus file");
            if let Err(panic) = std::panic::catch_unwind(|| run(&data)) {
                eprintln!("{target}: {} failed", path.display());
                std::panic::resume_unwind(panic);
            }
        }
    }

    #[test]
    fn exchange_corpus() {
        replay("exchange", super::exchange);
    }

    #[test]
    fn h1_writer_corpus() {
        replay("h1_writer", |data| super::h1_writer(data, None));
    }
}

//! The fault table of issue 8: one row per misbehaving peer (an HTTP
//! server, a TLS server, a DNS server, a proxy) and what the client must
//! make of it. Every row is checked the same way:
//!
//! 1. the request fails with the row's `ErrorKind` in the row's `Phase`
//!    (or, for the rows where a correct client recovers, succeeds with the
//!    good response);
//! 2. the trace reports the error in the row's event — `dns_done`,
//!    `proxy_connect_done`, `tls_handshake_done`, `wrote_request`,
//!    `response_body_done`, or for a bad head only `request_done`, with
//!    `got_response_headers` absent — and the events after that point are
//!    absent; `request_done` comes exactly once, last, with the same error;
//!    no `retry` (every faulty connection here is fresh);
//! 3. the connection is closed: the request's `put_idle_conn` says why it
//!    was not pooled, the client-wide `conn_closed` names the same
//!    connection, and the server sees the client close it (EOF or reset)
//!    where the server is still there to see it;
//! 4. nothing is pooled: `Client::idle_connections()` is 0, and a follow-up
//!    request to the same server opens a new connection (`got_conn` with
//!    `reused: false`, one more accept) and gets the good response;
//! 5. no descriptor leaks: with the client still alive the process has
//!    exactly the descriptors it had before the row plus the event loop's
//!    epoll instance; after the client is dropped and the row's servers
//!    are stopped, exactly those it had before the row.
//!
//! Why the descriptor count is sound: /proc/self/fd counts the whole
//! process, and libtest runs tests on parallel threads. So this file holds
//! ONE `#[test]`, which runs the rows one after another on its own thread:
//! no other test of this binary can open or close a descriptor meanwhile.
//! The servers of a row live in this process too, so every count is taken
//! at a point where their descriptors are known (listeners open, the faulty
//! connection's socket dropped before the server reports the client's
//! close) or, for helper threads the row cannot join (the DNS server
//! answers each query on a thread of its own), after waiting for the count
//! to settle: a leaked descriptor never settles, so the wait cannot hide
//! one; a bound of several seconds only keeps a failure from hanging.
//!
//! The faults follow the RFCs the client implements: RFC 9112 §2.2 and §4
//! (status line, bare CR/NUL), §5 (field lines, a folded framing field), §6.3 and §9.3
//! (framing and reuse), §7.1 (chunked); RFC 1035 §4 and RFC 7766 (DNS over
//! UDP and TCP); RFC 9110 §9.3.6 (CONNECT); RFC 8446 (the handshake).
//! Single-case tests of many of these faults, with more variants, are in
//! `faults.rs`, `tls_faults.rs`, `proxy.rs`, `dns_loopback.rs` and
//! `timeouts.rs`; this table checks all of them uniformly.

#![forbid(unsafe_code)]

mod support;

use std::io::Write;
use std::net::{Shutdown, TcpStream};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use http::Request;
use roundtrip::proxy::ProxyConfig;
use roundtrip::{
    Client, CloseReason, Config, Error, ErrorKind, Event, EventKind, Limit, Phase, SendBody, Trace,
};
use support::dns::{Act, DnsServer, Query};
use support::lo::{drain, one, read_req, wait_client_close, within, ConnScript, Srv, IO_TIMEOUT};

/// The follow-up response every row's server gives on a new connection.
const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

/// Descriptors the client keeps open for itself once it has run a request:
/// mio's epoll instance (nothing is opened before the first request). The
/// table's first row checks this against a clean request.
const EVENT_LOOP_FDS: usize = 1;

/// Bound on waiting for the descriptor count to settle, and on a server's
/// report that the client closed its connection (generous: the machine is
/// shared; a correct client takes milliseconds).
const SETTLE: Duration = Duration::from_secs(10);

// ----- the recorder ----------------------------------------------------------

/// One event, owned, with the fields the checks look at.
#[derive(Debug, Clone)]
struct Seen {
    name: &'static str,
    /// The error an event carries (`retry`'s reason included).
    error: Option<Error>,
    /// `got_conn`, `put_idle_conn`, `conn_closed`: the connection.
    conn: Option<u64>,
    /// `got_conn`: reused.
    reused: bool,
    /// `put_idle_conn`'s error, `conn_closed`'s reason.
    close: Option<CloseReason>,
    /// `proxy_connect_done`'s status.
    status: Option<u16>,
}

/// Records every event; optionally tells a server when the first response
/// byte arrived (so it can reset the connection in the middle of a head).
#[derive(Clone, Default)]
struct Rec {
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Rec {
    fn trace(&self, first_byte: Option<mpsc::Sender<()>>) -> Trace {
        let seen = self.seen.clone();
        Trace::new().on_event(move |e: &Event<'_>| {
            let mut s = Seen {
                name: e.kind.name(),
                error: None,
                conn: None,
                reused: false,
                close: None,
                status: None,
            };
            match &e.kind {
                EventKind::DnsDone { error, .. }
                | EventKind::TlsHandshakeDone { error, .. }
                | EventKind::WroteRequest { error }
                | EventKind::ResponseBodyDone { error, .. }
                | EventKind::RequestDone { error } => s.error = error.cloned(),
                EventKind::ProxyConnectDone { status, error, .. } => {
                    s.error = error.cloned();
                    s.status = status.map(|c| c.as_u16());
                }
                EventKind::Retry { reason } => s.error = Some((*reason).clone()),
                EventKind::GotConn { conn, reused, .. } => {
                    s.conn = Some(conn.0);
                    s.reused = *reused;
                }
                EventKind::PutIdleConn { conn, error } => {
                    s.conn = Some(conn.0);
                    s.close = *error;
                }
                EventKind::ConnClosed { conn, reason } => {
                    s.conn = Some(conn.0);
                    s.close = Some(*reason);
                }
                EventKind::GotFirstResponseByte => {
                    if let Some(tx) = &first_byte {
                        let _ = tx.send(());
                    }
                }
                _ => {}
            }
            seen.lock().unwrap().push(s);
        })
    }

    fn all(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn names(&self) -> Vec<&'static str> {
        self.all().iter().map(|s| s.name).collect()
    }

    fn named(&self, name: &str) -> Vec<Seen> {
        self.all().into_iter().filter(|s| s.name == name).collect()
    }

    fn count(&self, name: &str) -> usize {
        self.named(name).len()
    }
}

// ----- descriptors ------------------------------------------------------------

fn fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// What the process's descriptors point at, for a failure message.
fn fd_listing() -> String {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc/self/fd").unwrap().flatten() {
        let target = std::fs::read_link(e.path())
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        out.push(format!("{}→{target}", e.file_name().to_string_lossy()));
    }
    out.join(" ")
}

/// Waits until the process has `want` descriptors (see the module docs).
#[track_caller]
fn settle(want: usize, what: &str) {
    let deadline = Instant::now() + SETTLE;
    loop {
        let n = fds();
        if n == want {
            return;
        }
        if Instant::now() > deadline {
            panic!(
                "{what}: {n} descriptors open, expected {want}: {}",
                fd_listing()
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

// ----- peers ------------------------------------------------------------------

/// A change to the client's configuration.
type ConfigFn = Box<dyn FnOnce(&mut Config)>;

/// A row's misbehaving peer and how to drive the client against it.
#[derive(Default)]
struct Peer {
    /// The URL requested.
    url: String,
    /// Changes to the client's configuration (after proxies are turned
    /// off and the hosts file and resolv.conf left unread).
    config: Option<ConfigFn>,
    /// A request body (the request is then a POST).
    body: Option<SendBody>,
    /// The faulty connection reports here whether it saw the client close
    /// it, after dropping its own socket. `None` when the peer cannot see
    /// it (it reset the connection itself; DNS over UDP).
    closed: Option<mpsc::Receiver<bool>>,
    /// Told when the client saw the first response byte.
    first_byte: Option<mpsc::Sender<()>>,
    /// Called when the response head is back, before its body is read.
    on_head: Option<Box<dyn FnOnce()>>,
    /// Called when the error surfaced.
    on_error: Option<Box<dyn FnOnce()>>,
    /// For faults on an idle connection: a first request to `url` is made
    /// (and its connection pooled), then this is called.
    after_pooled: Option<Box<dyn FnOnce()>>,
    /// The HTTP server, joined at the end of the row.
    srv: Option<Srv>,
    /// Whether `srv` serves a follow-up request (on a new connection).
    follow_up: bool,
    /// Other servers to stop at the end of the row (dropped).
    others: Vec<DnsServer>,
}

impl Peer {
    /// Adds a change to the client's configuration (after earlier ones).
    fn with(mut self, f: impl FnOnce(&mut Config) + 'static) -> Peer {
        let earlier = self.config.take();
        self.config = Some(Box::new(move |c| {
            if let Some(e) = earlier {
                e(c);
            }
            f(c);
        }));
        self
    }
}

/// The faulty connection's script: `fault` runs with the socket, owns it,
/// and says whether it saw the client close the connection; the result is
/// reported after the socket is dropped.
fn reporting(
    tx: mpsc::Sender<bool>,
    fault: impl FnOnce(TcpStream) -> bool + Send + 'static,
) -> ConnScript {
    Box::new(move |s| {
        let seen = fault(s);
        let _ = tx.send(seen);
    })
}

/// A plain HTTP server: the first connection runs `fault`, the second
/// serves the follow-up request.
fn http(fault: impl FnOnce(TcpStream) -> bool + Send + 'static) -> Peer {
    let (tx, rx) = mpsc::channel();
    let srv = Srv::new(vec![reporting(tx, fault), one(OK.to_vec())]);
    Peer {
        url: srv.url("/"),
        closed: Some(rx),
        srv: Some(srv),
        follow_up: true,
        ..Peer::default()
    }
}

/// Reads the request, answers with `wire`, waits for the client to close.
fn answers(wire: impl Into<Vec<u8>>) -> Peer {
    let wire = wire.into();
    http(move |mut s| {
        if read_req(&mut s).is_none() {
            return false;
        }
        let _ = s.write_all(&wire);
        wait_client_close(&mut s, IO_TIMEOUT)
    })
}

/// Closes with a reset (RST) instead of a FIN.
fn reset(s: TcpStream) -> bool {
    let _ = socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO));
    drop(s);
    false
}

/// Sends `head`, then the body one byte a second: the read timeout doubles
/// as the pause, and a read that returns tells that the client closed.
fn slowloris(head: &'static [u8], drip: &'static [u8]) -> Peer {
    http(move |mut s| {
        if read_req(&mut s).is_none() {
            return false;
        }
        if s.write_all(head).is_err() {
            return true;
        }
        s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
        let mut sink = [0u8; 64];
        for b in drip {
            match std::io::Read::read(&mut s, &mut sink) {
                Ok(_) => return true, // EOF (or bytes the client must not send)
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(_) => return true,
            }
            if s.write_all(std::slice::from_ref(b)).is_err() {
                return true;
            }
        }
        wait_client_close(&mut s, IO_TIMEOUT)
    })
}

/// A fault on an idle pooled connection: the first connection answers a
/// first request with `first`, then, once the client has pooled it, sends
/// `stray`; the row's request must get its answer on a second connection
/// (which closes after it, so that nothing is pooled), and the follow-up
/// on a third.
fn stray_after(first: &'static [u8], stray: &'static [u8]) -> Peer {
    let (tx, rx) = mpsc::channel();
    let (go, wait) = mpsc::channel::<()>();
    let (sent, was_sent) = mpsc::channel::<()>();
    let srv = Srv::new(vec![
        reporting(tx, move |mut s| {
            if read_req(&mut s).is_none() {
                return false;
            }
            let _ = s.write_all(first);
            let _ = wait.recv_timeout(IO_TIMEOUT);
            let _ = s.write_all(stray);
            let _ = sent.send(());
            wait_client_close(&mut s, IO_TIMEOUT)
        }),
        one(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok".to_vec()),
        one(OK.to_vec()),
    ]);
    Peer {
        url: srv.url("/"),
        closed: Some(rx),
        after_pooled: Some(Box::new(move || {
            go.send(()).unwrap();
            was_sent.recv_timeout(IO_TIMEOUT).unwrap();
            // Let the stray bytes reach the client's socket before the next
            // request (a gap, not a timed assertion): the client must see
            // them before it writes, since after that nothing tells them
            // from a response (faults.rs has 10 ms and 100 ms variants).
            std::thread::sleep(Duration::from_millis(100));
        })),
        srv: Some(srv),
        follow_up: true,
        ..Peer::default()
    }
}

/// A TLS peer: `fault` runs on the raw TCP connection of an `https` URL.
fn tls(fault: impl FnOnce(TcpStream) -> bool + Send + 'static) -> Peer {
    let (tx, rx) = mpsc::channel();
    let srv = Srv::new(vec![reporting(tx, fault)]);
    Peer {
        url: format!("https://127.0.0.1:{}/", srv.addr.port()),
        closed: Some(rx),
        srv: Some(srv),
        ..Peer::default()
    }
}

/// A proxy for `https://origin.test/` whose connection runs `fault`.
fn proxy_with(fault: impl FnOnce(TcpStream) -> bool + Send + 'static) -> Peer {
    let (tx, rx) = mpsc::channel();
    let srv = Srv::new(vec![reporting(tx, fault)]);
    let proxy = format!("http://{}", srv.addr);
    Peer {
        url: "https://origin.test/".into(),
        closed: Some(rx),
        srv: Some(srv),
        ..Peer::default()
    }
    .with(move |c| {
        c.proxy = ProxyConfig::Manual {
            http: None,
            https: Some(proxy),
            no_proxy: String::new(),
        }
    })
}

/// A proxy whose answer to `CONNECT origin.test:443` is `reply`.
fn proxy(reply: &'static [u8]) -> Peer {
    proxy_with(move |mut s| {
        let Some(connect) = read_req(&mut s) else {
            return false;
        };
        if !connect.head.starts_with("CONNECT origin.test:443 ") {
            return false;
        }
        let _ = s.write_all(reply);
        wait_client_close(&mut s, IO_TIMEOUT)
    })
}

/// A DNS server answering every query with `script`; the URL's name is
/// looked up there only, one try of 300 ms per query.
fn dns(script: impl Fn(&Query) -> Vec<Act> + Send + Sync + 'static) -> Peer {
    let server = DnsServer::start(script);
    let addr = server.addr;
    Peer {
        url: "http://fault.test:9/".into(),
        others: vec![server],
        ..Peer::default()
    }
    .with(move |c| {
        c.dns_servers = Some(vec![addr]);
        c.dns_search = Some(Vec::new());
        c.dns_ndots = Some(1);
        c.dns_timeout = Some(Duration::from_millis(300));
        c.dns_attempts = Some(1);
    })
}

/// A reply to `q` that has its id and question but announces 65535
/// answers and then holds `junk_len` bytes that are no records.
fn junk_answer(q: &Query, junk_len: usize) -> Vec<u8> {
    let mut msg = q.reply().bytes();
    msg[6] = 0xff;
    msg[7] = 0xff;
    msg.extend((0..junk_len).map(|i| (i % 7) as u8 + 0xc0));
    msg
}

/// A UDP answer with the TC bit: the client asks again over TCP.
fn tc(q: &Query) -> Vec<Act> {
    vec![Act::Send(q.reply().tc().bytes())]
}

// ----- the rows -----------------------------------------------------------------

/// Where the error must show in the trace (besides `request_done`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    /// `dns_done.error`; nothing connected.
    Dns,
    /// `proxy_connect_done.error`; no TLS.
    ProxyConnect,
    /// `tls_handshake_done.error`; no `got_conn`.
    TlsHandshake,
    /// `wrote_request.error`; no response head.
    WroteRequest,
    /// Only `request_done`: no `got_response_headers`, no body.
    Head,
    /// `response_body_done.error`, after `got_response_headers`.
    Body,
}

enum Expect {
    /// The request fails.
    Fails {
        phase: Phase,
        kind: fn(&ErrorKind) -> bool,
        at: At,
    },
    /// The caller gets the good response; the connection that carried the
    /// fault is closed for `reason` (client-wide `conn_closed`), never
    /// pooled, and its bytes are never taken for a response.
    Recovers { reason: CloseReason },
}

struct Row {
    name: &'static str,
    peer: fn() -> Peer,
    expect: Expect,
}

fn is_reset(k: &ErrorKind) -> bool {
    matches!(k, ErrorKind::Io(e) if e.kind() == std::io::ErrorKind::ConnectionReset)
}

fn malformed(k: &ErrorKind) -> bool {
    matches!(k, ErrorKind::MalformedHead(_))
}

fn dns_failed(k: &ErrorKind) -> bool {
    matches!(k, ErrorKind::DnsFailed { attempts, .. } if !attempts.is_empty())
}

/// A fault in the response head: only `request_done` reports it.
fn head(kind: fn(&ErrorKind) -> bool) -> Expect {
    Expect::Fails {
        phase: Phase::ReadResponseHead,
        kind,
        at: At::Head,
    }
}

/// A fault in the response body: `response_body_done` reports it.
fn body(kind: fn(&ErrorKind) -> bool) -> Expect {
    Expect::Fails {
        phase: Phase::ReadResponseBody,
        kind,
        at: At::Body,
    }
}

const DNS_FAULT: Expect = Expect::Fails {
    phase: Phase::Dns,
    kind: dns_failed,
    at: At::Dns,
};

fn big_head(field_bytes: usize) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nX-Big: {}\r\nContent-Length: 2\r\n\r\nok",
        "b".repeat(field_bytes)
    )
    .into_bytes()
}

fn rows() -> Vec<Row> {
    vec![
        // --- resets -------------------------------------------------------
        Row {
            name: "server resets during the head",
            peer: || {
                let (tx, first_byte) = mpsc::channel();
                let mut p = http(move |mut s| {
                    if read_req(&mut s).is_none() {
                        return false;
                    }
                    let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Le");
                    let _ = first_byte.recv_timeout(IO_TIMEOUT);
                    reset(s)
                });
                p.first_byte = Some(tx);
                p.closed = None;
                p
            },
            expect: head(is_reset),
        },
        Row {
            name: "server resets during the body",
            peer: || {
                let (tx, got_head) = mpsc::channel::<()>();
                let mut p = http(move |mut s| {
                    if read_req(&mut s).is_none() {
                        return false;
                    }
                    let _ =
                        s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
                    let _ = got_head.recv_timeout(IO_TIMEOUT);
                    reset(s)
                });
                p.on_head = Some(Box::new(move || tx.send(()).unwrap()));
                p.closed = None;
                p
            },
            expect: body(is_reset),
        },
        Row {
            name: "server closes during the body (FIN before Content-Length)",
            peer: || {
                http(|mut s| {
                    if read_req(&mut s).is_none() {
                        return false;
                    }
                    let _ =
                        s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
                    let _ = s.shutdown(Shutdown::Write);
                    wait_client_close(&mut s, IO_TIMEOUT)
                })
            },
            expect: body(|k| {
                matches!(
                    k,
                    ErrorKind::BodyTruncated {
                        received: 10,
                        expected: Some(100)
                    }
                )
            }),
        },
        Row {
            name: "server resets during the TLS handshake",
            peer: || {
                let mut p = tls(|mut s| {
                    if support::tls::read_record(&mut s).is_none() {
                        return false;
                    }
                    reset(s)
                });
                p.closed = None;
                p
            },
            expect: Expect::Fails {
                phase: Phase::Tls,
                kind: is_reset,
                at: At::TlsHandshake,
            },
        },
        // --- bytes the client did not ask for ------------------------------
        Row {
            name: "server sends bytes before the request (a banner on accept)",
            peer: || {
                http(|mut s| {
                    let _ = s.write_all(b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n");
                    wait_client_close(&mut s, IO_TIMEOUT)
                })
            },
            expect: head(malformed),
        },
        Row {
            name: "server sends a response on an idle pooled connection, before the next request",
            peer: || stray_after(OK, b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nWRONG"),
            expect: Expect::Recovers {
                reason: CloseReason::ServerClosed,
            },
        },
        Row {
            name: "server sends two responses to one request",
            peer: || {
                answers(
                    &b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok\
                           HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nWRONG"[..],
                )
            },
            expect: Expect::Recovers {
                reason: CloseReason::ExtraBytes,
            },
        },
        Row {
            name: "body longer than Content-Length on a keep-alive connection",
            peer: || answers(&b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok, and more"[..]),
            expect: Expect::Recovers {
                reason: CloseReason::ExtraBytes,
            },
        },
        Row {
            name: "body longer than Content-Length, the excess after the connection was pooled",
            peer: || stray_after(OK, b", and more than Content-Length said"),
            expect: Expect::Recovers {
                reason: CloseReason::ServerClosed,
            },
        },
        // --- malformed heads -------------------------------------------------
        Row {
            name: "response head larger than max_head_size",
            peer: || answers(big_head(2000)).with(|c| c.max_head_size = 1024),
            expect: head(|k| {
                matches!(
                    k,
                    ErrorKind::LimitExceeded {
                        limit: Limit::HeadSize,
                        max: 1024
                    }
                )
            }),
        },
        Row {
            name: "response head larger than the default max_head_size (64 KiB)",
            peer: || answers(big_head(70 * 1024)),
            expect: head(|k| {
                matches!(
                    k,
                    ErrorKind::LimitExceeded {
                        limit: Limit::HeadSize,
                        max: 65536
                    }
                )
            }),
        },
        Row {
            name: "more header fields than max_headers",
            peer: || {
                let mut wire = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n".to_vec();
                for i in 0..10 {
                    wire.extend_from_slice(format!("X-H{i}: {i}\r\n").as_bytes());
                }
                wire.extend_from_slice(b"\r\nok");
                answers(wire).with(|c| c.max_headers = 5)
            },
            expect: head(|k| {
                matches!(
                    k,
                    ErrorKind::LimitExceeded {
                        limit: Limit::HeaderCount,
                        max: 5
                    }
                )
            }),
        },
        Row {
            name: "more 1xx responses than max_1xx_responses",
            peer: || {
                answers(&b"HTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 102 Processing\r\n\r\n\
                           HTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"[..])
                .with(|c| c.max_1xx_responses = 2)
            },
            expect: head(|k| {
                matches!(
                    k,
                    ErrorKind::LimitExceeded {
                        limit: Limit::InformationalResponses,
                        max: 2
                    }
                )
            }),
        },
        Row {
            name: "header line without a colon",
            peer: || {
                answers(&b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nno colon here\r\n\r\nok"[..])
            },
            expect: head(malformed),
        },
        Row {
            name: "obs-fold in Content-Length (unfolded, then no number)",
            peer: || answers(&b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n 0\r\n\r\nok"[..]),
            expect: head(|k| matches!(k, ErrorKind::InvalidContentLength)),
        },
        Row {
            name: "NUL in a header value",
            peer: || answers(&b"HTTP/1.1 200 OK\r\nX-A: a\0b\r\nContent-Length: 2\r\n\r\nok"[..]),
            expect: head(malformed),
        },
        Row {
            name: "status code below 100",
            peer: || answers(&b"HTTP/1.1 99 Low\r\nContent-Length: 2\r\n\r\nok"[..]),
            expect: head(malformed),
        },
        Row {
            name: "status code above 999",
            peer: || answers(&b"HTTP/1.1 1000 High\r\nContent-Length: 2\r\n\r\nok"[..]),
            expect: head(malformed),
        },
        // --- malformed chunked bodies ---------------------------------------
        Row {
            name: "huge chunk size (over 64 bits)",
            peer: || {
                answers(
                    &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
                           ffffffffffffffffff\r\nhello\r\n"[..],
                )
            },
            expect: body(|k| matches!(k, ErrorKind::ChunkSizeOverflow)),
        },
        Row {
            name: "chunk size with trailing garbage",
            peer: || {
                answers(
                    &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
                           5 junk\r\nhello\r\n0\r\n\r\n"[..],
                )
            },
            expect: body(|k| matches!(k, ErrorKind::InvalidChunkSize)),
        },
        Row {
            name: "chunk-size line longer than max_chunk_line",
            peer: || {
                let line = format!(
                    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext={}\r\nhello\r\n0\r\n\r\n",
                    "e".repeat(100)
                );
                answers(line).with(|c| c.max_chunk_line = 32)
            },
            expect: body(|k| {
                matches!(
                    k,
                    ErrorKind::LimitExceeded {
                        limit: Limit::ChunkLine,
                        max: 32
                    }
                )
            }),
        },
        Row {
            name: "trailer section larger than max_trailer_size",
            peer: || {
                let wire = format!(
                    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Big: {}\r\n\r\n",
                    "t".repeat(100)
                );
                answers(wire).with(|c| c.max_trailer_size = 32)
            },
            expect: body(|k| {
                matches!(
                    k,
                    ErrorKind::LimitExceeded {
                        limit: Limit::TrailerSize,
                        max: 32
                    }
                )
            }),
        },
        // --- slow and stuck peers --------------------------------------------
        Row {
            name: "slowloris body (a byte a second) against body_idle_timeout",
            peer: || {
                slowloris(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", b"abcde")
                    .with(|c| c.body_idle_timeout = Some(Duration::from_millis(400)))
            },
            expect: body(
                |k| matches!(k, ErrorKind::Timeout { limit } if *limit == Duration::from_millis(400)),
            ),
        },
        Row {
            name: "slowloris body (a byte a second) against total_timeout",
            peer: || {
                slowloris(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n",
                    b"abcdefghij",
                )
                .with(|c| {
                    c.body_idle_timeout = Some(Duration::from_secs(30));
                    c.total_timeout = Some(Duration::from_millis(2500));
                })
            },
            expect: body(
                |k| matches!(k, ErrorKind::TotalTimeout { limit } if *limit == Duration::from_millis(2500)),
            ),
        },
        Row {
            name: "slowloris head (a byte a second) against response_header_timeout",
            peer: || {
                slowloris(b"", b"HTTP/1.1 200 OK\r\n\r\n")
                    .with(|c| c.response_header_timeout = Some(Duration::from_millis(2500)))
            },
            expect: head(
                |k| matches!(k, ErrorKind::Timeout { limit } if *limit == Duration::from_millis(2500)),
            ),
        },
        Row {
            name: "server accepts and never reads: the request write blocks until total_timeout",
            peer: || {
                let (go, wait) = mpsc::channel::<()>();
                let mut p = http(move |mut s| {
                    // Not a byte is read until the client has given up.
                    let _ = wait.recv_timeout(Duration::from_secs(30));
                    wait_client_close(&mut s, IO_TIMEOUT)
                })
                .with(|c| c.total_timeout = Some(Duration::from_secs(1)));
                p.body = Some(SendBody::from_reader(std::io::Read::take(
                    std::io::repeat(b'u'),
                    1 << 34,
                )));
                p.on_error = Some(Box::new(move || go.send(()).unwrap()));
                p
            },
            expect: Expect::Fails {
                phase: Phase::WriteRequest,
                kind: |k| matches!(k, ErrorKind::TotalTimeout { limit } if *limit == Duration::from_secs(1)),
                at: At::WroteRequest,
            },
        },
        // --- DNS ---------------------------------------------------------------
        Row {
            name: "DNS server answers with garbage (UDP)",
            peer: || {
                dns(|q| {
                    let mut right_id = q.raw[..2].to_vec();
                    right_id.extend_from_slice(b"\x81\x80garbage, not DNS");
                    vec![
                        Act::Send(b"\x00\x01garbage, not DNS".to_vec()),
                        Act::Send(right_id),
                    ]
                })
            },
            expect: DNS_FAULT,
        },
        Row {
            name: "DNS server answers with garbage (TCP, after a truncated UDP answer)",
            peer: || {
                dns(|q| {
                    if q.tcp {
                        vec![Act::Send(b"garbage, not DNS at all".to_vec())]
                    } else {
                        tc(q)
                    }
                })
            },
            expect: DNS_FAULT,
        },
        Row {
            name: "DNS server sends a truncated answer (cut inside a record, UDP)",
            peer: || {
                dns(|q| {
                    let full = q.reply().a(&q.name, "127.0.0.1", 60).bytes();
                    vec![Act::Send(full[..full.len() - 6].to_vec())]
                })
            },
            expect: DNS_FAULT,
        },
        Row {
            name: "DNS server sends a truncated answer (TCP: shorter than its length, then close)",
            peer: || {
                dns(|q| {
                    if q.tcp {
                        let full = q.reply().a(&q.name, "127.0.0.1", 60).bytes();
                        let mut framed = (full.len() as u16).to_be_bytes().to_vec();
                        framed.extend_from_slice(&full[..full.len() - 6]);
                        vec![Act::Raw(framed), Act::Close]
                    } else {
                        tc(q)
                    }
                })
            },
            expect: DNS_FAULT,
        },
        Row {
            name: "DNS server sends an oversized answer (a 64000-byte datagram)",
            peer: || dns(|q| vec![Act::Send(junk_answer(q, 64_000))]),
            expect: DNS_FAULT,
        },
        Row {
            name: "DNS server sends an oversized answer (a 65535-byte TCP message)",
            peer: || {
                dns(|q| {
                    if q.tcp {
                        let n = 65_535 - q.reply().bytes().len();
                        vec![Act::Send(junk_answer(q, n))]
                    } else {
                        tc(q)
                    }
                })
            },
            expect: DNS_FAULT,
        },
        // --- proxies ------------------------------------------------------------
        Row {
            name: "proxy answers CONNECT with 200, then garbage",
            peer: || {
                proxy(b"HTTP/1.1 200 Connection established\r\n\r\nthis is not TLS at all\r\n\r\n")
            },
            expect: Expect::Fails {
                phase: Phase::Tls,
                kind: |k| matches!(k, ErrorKind::Tls(_)),
                at: At::TlsHandshake,
            },
        },
        Row {
            name: "proxy resets the connection during CONNECT",
            peer: || {
                let mut p = proxy_with(|mut s| {
                    if read_req(&mut s).is_none() {
                        return false;
                    }
                    reset(s)
                });
                p.closed = None;
                p
            },
            expect: Expect::Fails {
                phase: Phase::Connect,
                kind: is_reset,
                at: At::ProxyConnect,
            },
        },
        Row {
            name: "proxy never answers CONNECT: connect_timeout",
            peer: || proxy(b"").with(|c| c.connect_timeout = Duration::from_millis(500)),
            expect: Expect::Fails {
                phase: Phase::Connect,
                kind: |k| matches!(k, ErrorKind::Timeout { limit } if *limit == Duration::from_millis(500)),
                at: At::ProxyConnect,
            },
        },
        Row {
            name: "proxy answers CONNECT with garbage",
            peer: || proxy(b"SSH-2.0-OpenSSH_9.2p1\r\n"),
            expect: Expect::Fails {
                phase: Phase::Connect,
                kind: malformed,
                at: At::ProxyConnect,
            },
        },
    ]
}

// ----- running a row ------------------------------------------------------------

/// Runs one row and checks everything the module docs list.
fn run(row: &Row) {
    let fds_at_start = fds();
    let mut peer = (row.peer)();
    let fds_servers_up = fds();
    let wide = Rec::default();
    let row_config = peer.config.take();
    let client = Client::builder()
        .configure(|c| {
            c.proxy = ProxyConfig::Off;
            c.hosts_file = None;
            c.resolv_conf = None;
            if let Some(f) = row_config {
                f(c);
            }
        })
        .trace(wide.trace(None))
        .build();

    let mut prelude_conns = Vec::new();
    if let Some(then) = peer.after_pooled.take() {
        let pre = Rec::default();
        let req = Request::get(&peer.url).body(()).unwrap();
        let body = client.send_traced(req, pre.trace(None)).unwrap();
        assert_eq!(body.into_body().bytes().unwrap(), b"ok");
        assert_eq!(
            client.idle_connections(),
            1,
            "the first connection is pooled"
        );
        prelude_conns = pre
            .named("got_conn")
            .iter()
            .filter_map(|s| s.conn)
            .collect();
        then();
    }

    let rec = Rec::default();
    let req = match peer.body.take() {
        Some(body) => Request::post(&peer.url).body(body).unwrap(),
        None => Request::get(&peer.url).body(SendBody::empty()).unwrap(),
    };
    let mut head_returned = false;
    let outcome = match client.send_traced(req, rec.trace(peer.first_byte.take())) {
        Ok(resp) => {
            head_returned = true;
            if let Some(f) = peer.on_head.take() {
                f();
            }
            let mut body = resp.into_body();
            let (bytes, err) = drain(&mut body);
            drop(body);
            match err {
                Some(e) => Err(e),
                None => Ok(bytes),
            }
        }
        Err(e) => Err(e),
    };
    if outcome.is_err() {
        if let Some(f) = peer.on_error.take() {
            f();
        }
    }
    let names = rec.names();

    // 2. request_done: once, last.
    let dones = rec.named("request_done");
    assert_eq!(dones.len(), 1, "request_done count: {names:?}");
    assert_eq!(names.last(), Some(&"request_done"), "{names:?}");
    assert_eq!(
        rec.count("retry"),
        0,
        "a fresh connection is never retried: {names:?}"
    );
    let conns: Vec<u64> = rec
        .named("got_conn")
        .iter()
        .filter_map(|s| s.conn)
        .collect();
    let put_idle = rec.named("put_idle_conn");
    // 3. Whatever connection the request got is not pooled.
    assert!(
        put_idle.iter().all(|p| p.close.is_some()),
        "a connection was pooled: {:?}",
        rec.all()
    );

    match &row.expect {
        Expect::Fails { phase, kind, at } => {
            let err = match outcome {
                Ok(body) => panic!(
                    "expected an error, got a response ({:?}); trace {names:?}",
                    String::from_utf8_lossy(&body)
                ),
                Err(e) => e,
            };
            // 1. The typed error.
            assert_eq!(err.phase(), *phase, "phase of {err} ({err:?})");
            assert!(kind(err.kind()), "unexpected kind: {err} ({err:?})");
            assert_eq!(
                head_returned,
                *at == At::Body,
                "the head came back although the error is in {at:?} (or not): {err}"
            );
            let same = |e: &Option<Error>, what: &str| {
                let e = e
                    .as_ref()
                    .unwrap_or_else(|| panic!("{what} carries no error: {names:?}"));
                assert_eq!(e.phase(), *phase, "{what}: {e:?}");
                assert!(kind(e.kind()), "{what}: {e:?}");
            };
            same(&dones[0].error, "request_done");
            // 2. The event that reports it, and nothing after that point.
            let carrier = match at {
                At::Dns => Some("dns_done"),
                At::ProxyConnect => Some("proxy_connect_done"),
                At::TlsHandshake => Some("tls_handshake_done"),
                At::WroteRequest => Some("wrote_request"),
                At::Body => Some("response_body_done"),
                At::Head => None,
            };
            if let Some(c) = carrier {
                let evs = rec.named(c);
                assert_eq!(evs.len(), 1, "{c} count: {names:?}");
                same(&evs[0].error, c);
            }
            let absent: &[&str] = match at {
                At::Dns => &["connect_start", "got_conn", "wrote_headers"],
                At::ProxyConnect => &["tls_handshake_start", "got_conn", "wrote_headers"],
                At::TlsHandshake => &["got_conn", "wrote_headers"],
                At::WroteRequest => &["got_first_response_byte", "got_response_headers"],
                At::Head => &["got_response_headers", "response_body_done"],
                At::Body => &[],
            };
            for a in absent {
                assert_eq!(rec.count(a), 0, "{a} after a failure in {at:?}: {names:?}");
            }
            if *at == At::Body {
                assert_eq!(rec.count("got_response_headers"), 1, "{names:?}");
            }
            if matches!(at, At::WroteRequest | At::Head | At::Body) {
                assert_eq!(conns.len(), 1, "got_conn: {names:?}");
                assert_eq!(put_idle.len(), 1, "put_idle_conn: {names:?}");
                assert_eq!(put_idle[0].conn, Some(conns[0]));
            }
            // Every connection the request held was closed, client-wide.
            let mut held = conns.clone();
            held.extend(put_idle.iter().filter_map(|p| p.conn));
            for c in &held {
                assert!(
                    wide.named("conn_closed").iter().any(|s| s.conn == Some(*c)),
                    "no conn_closed for conn {c}: {:?}",
                    wide.all()
                );
            }
        }
        Expect::Recovers { reason } => {
            match outcome {
                Ok(body) => assert_eq!(
                    String::from_utf8_lossy(&body),
                    "ok",
                    "the stray bytes were taken for the response; trace {names:?}"
                ),
                Err(e) => panic!("the client did not recover: {e} ({e:?}); trace {names:?}"),
            }
            assert!(dones[0].error.is_none());
            let faulty: Vec<u64> = if prelude_conns.is_empty() {
                conns.clone()
            } else {
                prelude_conns.clone()
            };
            assert_eq!(faulty.len(), 1, "{names:?}");
            assert!(
                wide.named("conn_closed")
                    .iter()
                    .any(|s| s.conn == Some(faulty[0]) && s.close == Some(*reason)),
                "conn {} not closed for {reason:?}: {:?}",
                faulty[0],
                wide.all()
            );
            if !prelude_conns.is_empty() {
                assert!(
                    !conns.contains(&faulty[0]),
                    "the request went out on the connection with the stray bytes"
                );
            }
        }
    }

    // 3. The server saw the client close the faulty connection.
    if let Some(closed) = peer.closed.take() {
        assert_eq!(
            closed.recv_timeout(SETTLE),
            Ok(true),
            "the server did not see the client close the connection"
        );
    }
    // 4. Nothing pooled.
    assert_eq!(client.idle_connections(), 0, "a connection was pooled");
    // 5. With the client alive: only its event loop's descriptor is left.
    settle(
        fds_servers_up + EVENT_LOOP_FDS,
        "after the fault, with the client alive",
    );
    // 4. A follow-up request opens a new connection.
    if peer.follow_up {
        let srv = peer.srv.as_ref().unwrap();
        let before = srv.accepted();
        let rec2 = Rec::default();
        let req = Request::get(&peer.url).body(()).unwrap();
        let body = client
            .send_traced(req, rec2.trace(None))
            .and_then(|r| r.into_body().bytes())
            .unwrap_or_else(|e| panic!("follow-up: {e} ({e:?}): {:?}", rec2.names()));
        assert_eq!(body, b"ok");
        let got: Vec<bool> = rec2.named("got_conn").iter().map(|s| s.reused).collect();
        assert_eq!(got, [false], "the follow-up reused a connection");
        assert_eq!(srv.accepted(), before + 1);
    }
    drop(client);
    if let Some(srv) = peer.srv.take() {
        srv.join();
    }
    for dns in peer.others.drain(..) {
        drop(dns);
    }
    drop(peer);
    // 5. Everything closed.
    settle(fds_at_start, "after the row, its client and servers gone");
}

/// The fd accounting's premise: a client that ran one clean request on a
/// connection the server closed keeps only [`EVENT_LOOP_FDS`] descriptors.
fn check_event_loop_fds() {
    let srv = Srv::new(vec![one(
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok".to_vec(),
    )]);
    let before = fds();
    let client = Client::builder()
        .configure(|c| c.proxy = ProxyConfig::Off)
        .build();
    let body = client.get(&srv.url("/")).unwrap().into_body().bytes();
    assert_eq!(body.unwrap(), b"ok");
    srv.join();
    settle(
        before - 1 + EVENT_LOOP_FDS,
        "a clean request (listener closed)",
    );
    drop(client);
    settle(before - 1, "a clean request, client dropped");
}

#[test]
fn fault_table() {
    // Rows run one at a time on this test's thread (see the module docs);
    // every row runs even when an earlier one failed, and the failures are
    // reported together.
    within(Duration::from_secs(30), check_event_loop_fds);
    let mut failed = Vec::new();
    let rows = rows();
    let n = rows.len();
    for (i, row) in rows.into_iter().enumerate() {
        let name = row.name;
        let row = Arc::new(row);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let row = row.clone();
            within(Duration::from_secs(60), move || run(&row))
        }));
        match r {
            Ok(()) => eprintln!("fault table: ok   {}/{n} {name}", i + 1),
            Err(p) => {
                let msg = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                eprintln!("fault table: FAIL {}/{n} {name}: {msg}", i + 1);
                failed.push(format!("{name}: {msg}"));
                // A failed row may leave server threads behind, which
                // close their sockets within IO_TIMEOUT: wait for them, so
                // that the next row's descriptor counts start clean.
                std::thread::sleep(IO_TIMEOUT + Duration::from_secs(1));
                if msg.contains("did not finish within") {
                    // The hung row's thread still runs: the descriptor
                    // counts of later rows would mean nothing.
                    failed.push("(later rows not run: a row hung)".into());
                    break;
                }
            }
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {n} rows failed:\n{}",
        failed.len(),
        failed.join("\n")
    );
}

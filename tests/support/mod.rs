//! Shared helpers for the loopback tests: a scripted TCP server on
//! 127.0.0.1 and a trace recorder. The interop harnesses for real servers
//! live in `interop` (the `ROUNDTRIP_INTEROP` policy), `nginx`,
//! `lighttpd` and `apache` (with `cgi`, what the last two share).
#![allow(dead_code)]

pub mod interop;
pub mod nginx;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use roundtrip::trace::write_json;
use roundtrip::{Event, EventKind, Trace};

/// A server that runs `script` once per accepted connection, in order.
pub struct Server {
    pub addr: SocketAddr,
    pub handle: Option<JoinHandle<()>>,
    pub requests: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
    pub fn join(mut self) {
        if let Some(h) = self.handle.take() {
            h.join().expect("server thread panicked");
        }
    }
}

pub type Script = Box<dyn FnOnce(TcpStream, &Mutex<Vec<Vec<u8>>>) + Send>;

/// Starts a server that serves one connection per script.
pub fn serve(scripts: Vec<Script>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let requests = Arc::new(Mutex::new(Vec::new()));
    let reqs = requests.clone();
    let handle = std::thread::spawn(move || {
        for script in scripts {
            let (stream, _) = listener.accept().unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            script(stream, &reqs);
        }
    });
    Server {
        addr,
        handle: Some(handle),
        requests,
    }
}

/// Reads one request head (up to the blank line) and, if it announces a
/// Content-Length, its body. Returns the raw bytes, empty at EOF.
pub fn read_request(stream: &mut TcpStream) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(0) | Err(_) => return buf,
            Ok(_) => buf.push(byte[0]),
        }
    }
    let head = String::from_utf8_lossy(&buf).to_ascii_lowercase();
    if let Some(line) = head.lines().find(|l| l.starts_with("content-length:")) {
        let n: usize = line["content-length:".len()..].trim().parse().unwrap();
        let mut body = vec![0u8; n];
        stream.read_exact(&mut body).unwrap();
        buf.extend_from_slice(&body);
    }
    buf
}

/// A script: for each canned response, read a request and write it.
pub fn respond(responses: Vec<&'static [u8]>) -> Script {
    Box::new(move |mut s, reqs| {
        for r in responses {
            let req = read_request(&mut s);
            if req.is_empty() {
                return;
            }
            reqs.lock().unwrap().push(req);
            s.write_all(r).unwrap();
        }
        // Hold the connection open until the client closes it.
        let mut sink = [0u8; 64];
        while matches!(s.read(&mut sink), Ok(n) if n > 0) {}
    })
}

/// Records every event as (name, JSON line).
#[derive(Clone, Default)]
pub struct Recorder {
    pub events: Arc<Mutex<Vec<(String, String)>>>,
}

impl Recorder {
    pub fn trace(&self) -> Trace {
        let events = self.events.clone();
        let start = std::time::Instant::now();
        Trace::new().on_event(move |e: &Event<'_>| {
            let mut line = String::new();
            write_json(e, start, &mut line);
            events
                .lock()
                .unwrap()
                .push((e.kind.name().to_owned(), line));
            let _ = matches!(e.kind, EventKind::WroteHeaders);
        })
    }
    pub fn names(&self) -> Vec<String> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .map(|(n, _)| n.clone())
            .collect()
    }
    pub fn lines(&self) -> Vec<String> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .map(|(_, l)| l.clone())
            .collect()
    }
    pub fn clear(&self) {
        self.events.lock().unwrap().clear();
    }
}

/// Fault-injection helpers for `tests/framing.rs` and `tests/faults.rs`:
/// a loopback server that runs one script per accepted connection, each on
/// its own thread, and closes any connection it has no script for (so a
/// client that opens an unexpected connection fails fast instead of
/// hanging); a typed event log; and a watchdog for the client side.
pub mod lo {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::mpsc;
    use std::time::Instant;

    use http::HeaderMap;
    use roundtrip::{CloseReason, Error, ErrorKind, Phase};

    /// Read and write timeout of every server-side socket: no server thread
    /// waits longer than this for the client.
    pub const IO_TIMEOUT: Duration = Duration::from_secs(5);

    /// What the server does with one accepted connection.
    pub type ConnScript = Box<dyn FnOnce(TcpStream) + Send>;

    /// A loopback server; see the module docs.
    pub struct Srv {
        pub addr: SocketAddr,
        stop: Arc<AtomicBool>,
        accepted: Arc<AtomicUsize>,
        acceptor: Option<JoinHandle<Vec<JoinHandle<()>>>>,
    }

    impl Srv {
        pub fn new(scripts: Vec<ConnScript>) -> Srv {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            listener.set_nonblocking(true).unwrap();
            let addr = listener.local_addr().unwrap();
            let stop = Arc::new(AtomicBool::new(false));
            let accepted = Arc::new(AtomicUsize::new(0));
            let (stop2, accepted2) = (stop.clone(), accepted.clone());
            let acceptor = std::thread::spawn(move || {
                let mut scripts = scripts.into_iter();
                let mut handles = Vec::new();
                let give_up = Instant::now() + Duration::from_secs(60);
                while !stop2.load(Ordering::SeqCst) && Instant::now() < give_up {
                    match listener.accept() {
                        Ok((s, _)) => {
                            accepted2.fetch_add(1, Ordering::SeqCst);
                            s.set_nonblocking(false).unwrap();
                            s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
                            s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
                            s.set_nodelay(true).unwrap();
                            match scripts.next() {
                                Some(script) => handles.push(std::thread::spawn(move || script(s))),
                                // Unexpected connection: close it at once.
                                None => drop(s),
                            }
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(1))
                        }
                        Err(e) => panic!("accept failed: {e}"),
                    }
                }
                handles
            });
            Srv {
                addr,
                stop,
                accepted,
                acceptor: Some(acceptor),
            }
        }

        pub fn url(&self, path: &str) -> String {
            format!("http://{}{}", self.addr, path)
        }

        /// Connections accepted so far.
        pub fn accepted(&self) -> usize {
            self.accepted.load(Ordering::SeqCst)
        }

        /// Stops accepting and waits for every script, re-raising a panic
        /// from any of them (server-side assertions).
        pub fn join(mut self) {
            self.stop.store(true, Ordering::SeqCst);
            let handles = self.acceptor.take().unwrap().join().unwrap();
            for h in handles {
                if let Err(p) = h.join() {
                    std::panic::resume_unwind(p);
                }
            }
        }
    }

    impl Drop for Srv {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::SeqCst);
        }
    }

    /// A request as the server saw it.
    #[derive(Debug, Clone, Default)]
    pub struct SeenRequest {
        /// Request line and fields, CRLFs included.
        pub head: String,
        /// The body after transfer decoding.
        pub body: Vec<u8>,
        /// The raw body bytes as they came off the wire.
        pub raw_body: Vec<u8>,
        /// True when the body was chunked.
        pub chunked: bool,
        /// True when the body ended early (EOF or timeout).
        pub truncated: bool,
    }

    impl SeenRequest {
        /// Values of a field (case-insensitive name), in order.
        pub fn header(&self, name: &str) -> Vec<String> {
            self.head
                .split("\r\n")
                .skip(1)
                .filter_map(|l| l.split_once(':'))
                .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.trim().to_owned())
                .collect()
        }
    }

    fn read_line(s: &mut TcpStream, raw: &mut Vec<u8>) -> Option<Vec<u8>> {
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        while !line.ends_with(b"\r\n") {
            match s.read(&mut byte) {
                Ok(1) => line.push(byte[0]),
                _ => return None,
            }
        }
        raw.extend_from_slice(&line);
        Some(line)
    }

    /// Reads one request: head, then a Content-Length or chunked body
    /// (decoded). `None` when the connection ended before a whole head.
    pub fn read_req(s: &mut TcpStream) -> Option<SeenRequest> {
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            match s.read(&mut byte) {
                Ok(1) => head.push(byte[0]),
                _ => return None,
            }
        }
        let mut req = SeenRequest {
            head: String::from_utf8_lossy(&head).into_owned(),
            ..SeenRequest::default()
        };
        let te = req.header("transfer-encoding");
        if te.iter().any(|v| v.eq_ignore_ascii_case("chunked")) {
            req.chunked = true;
            loop {
                let Some(line) = read_line(s, &mut req.raw_body) else {
                    req.truncated = true;
                    return Some(req);
                };
                let text = String::from_utf8_lossy(&line);
                let size_text = text.trim_end().split(';').next().unwrap().trim();
                let size = usize::from_str_radix(size_text, 16)
                    .unwrap_or_else(|_| panic!("bad chunk-size line from client: {text:?}"));
                if size == 0 {
                    // Trailer section up to the empty line.
                    loop {
                        match read_line(s, &mut req.raw_body) {
                            Some(l) if l == b"\r\n" => return Some(req),
                            Some(_) => {}
                            None => {
                                req.truncated = true;
                                return Some(req);
                            }
                        }
                    }
                }
                let mut data = vec![0u8; size + 2];
                if s.read_exact(&mut data).is_err() {
                    req.truncated = true;
                    return Some(req);
                }
                req.raw_body.extend_from_slice(&data);
                assert_eq!(&data[size..], b"\r\n", "chunk data not followed by CRLF");
                req.body.extend_from_slice(&data[..size]);
            }
        }
        if let Some(cl) = req.header("content-length").first() {
            let n: usize = cl.parse().expect("client sent a bad Content-Length");
            let mut got = 0;
            let mut body = vec![0u8; n];
            while got < n {
                match s.read(&mut body[got..]) {
                    Ok(0) | Err(_) => break,
                    Ok(k) => got += k,
                }
            }
            body.truncate(got);
            req.truncated = got < n;
            req.raw_body = body.clone();
            req.body = body;
        }
        Some(req)
    }

    /// Waits until the client closes the connection (EOF or reset) and
    /// says whether it did within `limit`. Discards whatever it reads.
    pub fn wait_client_close(s: &mut TcpStream, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        let mut sink = [0u8; 4096];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            s.set_read_timeout(Some(left.min(IO_TIMEOUT))).unwrap();
            match s.read(&mut sink) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(_) => return true,
            }
        }
    }

    /// Reads one request, writes `response`, then keeps the connection
    /// open until the client closes it (at most [`IO_TIMEOUT`]).
    pub fn one(response: impl Into<Vec<u8>>) -> ConnScript {
        replies(vec![response.into()])
    }

    /// For each response: read a request and write it; then hold the
    /// connection until the client closes it.
    pub fn replies(responses: Vec<Vec<u8>>) -> ConnScript {
        Box::new(move |mut s| {
            for r in responses {
                if read_req(&mut s).is_none() {
                    return;
                }
                let _ = s.write_all(&r);
            }
            wait_client_close(&mut s, IO_TIMEOUT);
        })
    }

    /// Reads one request, writes `response`, and closes the connection.
    pub fn one_then_close(response: impl Into<Vec<u8>>) -> ConnScript {
        let response = response.into();
        Box::new(move |mut s| {
            if read_req(&mut s).is_none() {
                return;
            }
            let _ = s.write_all(&response);
            let _ = s.shutdown(std::net::Shutdown::Write);
            // Let the client read everything before the socket goes away
            // (closing with unread input would send a reset).
            wait_client_close(&mut s, IO_TIMEOUT);
        })
    }

    /// Like [`one`], and reports on `seen` whether the client closed the
    /// connection within `limit` after the response.
    pub fn one_report_close(
        response: impl Into<Vec<u8>>,
        limit: Duration,
        seen: mpsc::Sender<bool>,
    ) -> ConnScript {
        let response = response.into();
        Box::new(move |mut s| {
            if read_req(&mut s).is_none() {
                let _ = seen.send(true);
                return;
            }
            let _ = s.write_all(&response);
            let _ = seen.send(wait_client_close(&mut s, limit));
        })
    }

    /// One owned trace event with the fields the tests look at.
    #[derive(Debug, Clone)]
    pub enum Ev {
        GotConn {
            conn: u64,
            reused: bool,
        },
        Got1xx {
            code: u16,
            headers: HeaderMap,
        },
        GotResponseHeaders {
            status: u16,
        },
        WroteRequest {
            error: Option<Error>,
        },
        BodyDone {
            bytes: u64,
            trailers: Option<HeaderMap>,
            error: Option<Error>,
        },
        PutIdle {
            conn: u64,
            error: Option<CloseReason>,
        },
        Retry {
            reason: Error,
        },
        RequestDone {
            error: Option<Error>,
        },
        ConnClosed {
            conn: u64,
            reason: CloseReason,
        },
        Other(&'static str),
    }

    impl Ev {
        pub fn name(&self) -> &'static str {
            match self {
                Ev::GotConn { .. } => "got_conn",
                Ev::Got1xx { .. } => "got_1xx_response",
                Ev::GotResponseHeaders { .. } => "got_response_headers",
                Ev::WroteRequest { .. } => "wrote_request",
                Ev::BodyDone { .. } => "response_body_done",
                Ev::PutIdle { .. } => "put_idle_conn",
                Ev::Retry { .. } => "retry",
                Ev::RequestDone { .. } => "request_done",
                Ev::ConnClosed { .. } => "conn_closed",
                Ev::Other(n) => n,
            }
        }
    }

    /// Events with the id of the request they belong to.
    pub type Events = Arc<Mutex<Vec<(Option<u64>, Ev)>>>;

    /// Records events as owned [`Ev`] values, with their request id.
    #[derive(Clone, Default)]
    pub struct Log {
        pub evs: Events,
    }

    impl Log {
        pub fn trace(&self) -> Trace {
            let evs = self.evs.clone();
            Trace::new().on_event(move |e: &Event<'_>| {
                let ev = match &e.kind {
                    EventKind::GotConn { conn, reused, .. } => Ev::GotConn {
                        conn: conn.0,
                        reused: *reused,
                    },
                    EventKind::Got1xxResponse { code, headers, .. } => Ev::Got1xx {
                        code: code.as_u16(),
                        headers: (*headers).clone(),
                    },
                    EventKind::GotResponseHeaders { status, .. } => Ev::GotResponseHeaders {
                        status: status.as_u16(),
                    },
                    EventKind::WroteRequest { error } => Ev::WroteRequest {
                        error: error.cloned(),
                    },
                    EventKind::ResponseBodyDone {
                        bytes,
                        trailers,
                        error,
                    } => Ev::BodyDone {
                        bytes: *bytes,
                        trailers: trailers.cloned(),
                        error: error.cloned(),
                    },
                    EventKind::PutIdleConn { conn, error } => Ev::PutIdle {
                        conn: conn.0,
                        error: *error,
                    },
                    EventKind::Retry { reason } => Ev::Retry {
                        reason: (*reason).clone(),
                    },
                    EventKind::RequestDone { error } => Ev::RequestDone {
                        error: error.cloned(),
                    },
                    EventKind::ConnClosed { conn, reason } => Ev::ConnClosed {
                        conn: conn.0,
                        reason: *reason,
                    },
                    other => Ev::Other(other.name()),
                };
                evs.lock().unwrap().push((e.req.map(|r| r.0), ev));
            })
        }

        pub fn all(&self) -> Vec<Ev> {
            self.evs
                .lock()
                .unwrap()
                .iter()
                .map(|(_, e)| e.clone())
                .collect()
        }

        /// Events of one request (client-wide logs).
        pub fn of(&self, req: u64) -> Vec<Ev> {
            self.evs
                .lock()
                .unwrap()
                .iter()
                .filter(|(r, _)| *r == Some(req))
                .map(|(_, e)| e.clone())
                .collect()
        }

        pub fn names(&self) -> Vec<&'static str> {
            self.all().iter().map(Ev::name).collect()
        }

        pub fn count(&self, name: &str) -> usize {
            self.names().iter().filter(|n| **n == name).count()
        }

        pub fn clear(&self) {
            self.evs.lock().unwrap().clear();
        }

        /// `error` of every `put_idle_conn`, in order.
        pub fn put_idle(&self) -> Vec<Option<CloseReason>> {
            self.all()
                .into_iter()
                .filter_map(|e| match e {
                    Ev::PutIdle { error, .. } => Some(error),
                    _ => None,
                })
                .collect()
        }

        /// `reused` of every `got_conn`, in order.
        pub fn got_conn(&self) -> Vec<bool> {
            self.all()
                .into_iter()
                .filter_map(|e| match e {
                    Ev::GotConn { reused, .. } => Some(reused),
                    _ => None,
                })
                .collect()
        }

        /// Reasons of every `conn_closed`, in order.
        pub fn conn_closed(&self) -> Vec<CloseReason> {
            self.all()
                .into_iter()
                .filter_map(|e| match e {
                    Ev::ConnClosed { reason, .. } => Some(reason),
                    _ => None,
                })
                .collect()
        }

        /// The single `response_body_done`: (bytes, trailers, error).
        pub fn body_done(&self) -> (u64, Option<HeaderMap>, Option<Error>) {
            let all: Vec<_> = self
                .all()
                .into_iter()
                .filter_map(|e| match e {
                    Ev::BodyDone {
                        bytes,
                        trailers,
                        error,
                    } => Some((bytes, trailers, error)),
                    _ => None,
                })
                .collect();
            assert_eq!(all.len(), 1, "response_body_done count: {:?}", self.names());
            all.into_iter().next().unwrap()
        }

        /// Asserts that a per-request log has exactly one `request_done`,
        /// as its last event, and returns its error.
        pub fn done_once(&self) -> Option<Error> {
            let all = self.all();
            let dones: Vec<_> = all
                .iter()
                .filter_map(|e| match e {
                    Ev::RequestDone { error } => Some(error.clone()),
                    _ => None,
                })
                .collect();
            assert_eq!(dones.len(), 1, "request_done count in {:?}", self.names());
            assert!(
                matches!(all.last(), Some(Ev::RequestDone { .. })),
                "request_done is not the last event: {:?}",
                self.names()
            );
            dones.into_iter().next().unwrap()
        }

        /// The single `put_idle_conn` of a per-request log.
        pub fn put_idle_once(&self) -> Option<CloseReason> {
            let p = self.put_idle();
            assert_eq!(p.len(), 1, "put_idle_conn count in {:?}", self.names());
            p[0]
        }
    }

    /// Asserts that `r` failed in `phase` and returns the error's kind.
    #[track_caller]
    pub fn err_in<T: std::fmt::Debug>(r: roundtrip::Result<T>, phase: Phase) -> ErrorKind {
        match r {
            Ok(v) => panic!("expected an error in phase {phase:?}, got Ok({v:?})"),
            Err(e) => {
                assert_eq!(e.phase(), phase, "wrong phase for error {e} ({e:?})");
                e.kind().clone()
            }
        }
    }

    /// Reads a body to its end with `read_body`, returning the bytes read
    /// and the error that ended it (if any).
    pub fn drain(body: &mut roundtrip::Body) -> (Vec<u8>, Option<Error>) {
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match body.read_body(&mut buf) {
                Ok(0) => return (out, None),
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) => return (out, Some(e)),
            }
        }
    }

    /// Runs `f` on its own thread and fails the test if it has not
    /// finished within `limit` (the client has no read timeout, so a
    /// library bug could otherwise hang the test run).
    pub fn within(limit: Duration, f: impl FnOnce() + Send + 'static) {
        let (tx, rx) = mpsc::channel();
        let h = std::thread::spawn(move || {
            f();
            let _ = tx.send(());
        });
        match rx.recv_timeout(limit) {
            Ok(()) => h.join().unwrap(),
            Err(mpsc::RecvTimeoutError::Disconnected) => match h.join() {
                Err(p) => std::panic::resume_unwind(p),
                Ok(()) => unreachable!(),
            },
            Err(mpsc::RecvTimeoutError::Timeout) => {
                panic!("test did not finish within {limit:?}: the client hung")
            }
        }
    }

    /// A client whose client-wide trace goes to `log`.
    pub fn client_with(log: &Log, f: impl FnOnce(&mut roundtrip::Config)) -> roundtrip::Client {
        roundtrip::Client::builder()
            .configure(f)
            .trace(log.trace())
            .build()
    }
}

// The resolver's tests: a scriptable DNS server, DNS messages, a typed DNS
// trace log and a dual-stack HTTP server (`dns`), and the dnsmasq harness.
pub mod dns;
pub mod dnsmasq;

/// A real lighttpd, the second HTTP server of the interop layer.
pub mod lighttpd;

/// A real Apache httpd, the third.
pub mod apache;

/// The CGI programs lighttpd and Apache serve, and their tests' helpers.
pub mod cgi;

// Network namespaces with a silent IPv6 blackhole, for the Happy Eyeballs
// real-socket test (`happy_eyeballs_netns.rs`) and benchmark.
pub mod netns;

/// Scratch files under `target/tmp`, never `/tmp`.
pub mod scratch;
/// Certificates and a rustls server for HTTPS tests.
pub mod tls;

/// Comparing a request's trace through `Client` and through another driver
/// of the core (`core_driver.rs`, `socket_interest.rs`).
pub mod compare;

/// How many of this process's open sockets (TCP or UDP, v4 or v6) have
/// `port` as their peer's port: on loopback, the client's side of its
/// connections to an in-test server listening on `port` (the server's own
/// sockets have it as their local port instead).
///
/// Why not a count of `/proc/self/fd`: libtest runs the tests of a binary
/// on parallel threads, and their servers open and close descriptors at
/// any time; these sockets belong to one server's clients only. A socket
/// the client closed is either gone from the kernel's tables or left there
/// (TIME_WAIT, FIN_WAIT) without an inode in this process's descriptors,
/// so it does not count.
pub fn sockets_to(port: u16) -> usize {
    let mut ours = std::collections::HashSet::new();
    for e in std::fs::read_dir("/proc/self/fd").unwrap().flatten() {
        let Ok(target) = std::fs::read_link(e.path()) else {
            continue;
        };
        let inode = target
            .to_str()
            .and_then(|t| t.strip_prefix("socket:["))
            .and_then(|t| t.strip_suffix(']'))
            .and_then(|t| t.parse::<u64>().ok());
        ours.extend(inode);
    }
    let mut n = 0;
    for table in ["tcp", "tcp6", "udp", "udp6"] {
        let Ok(text) = std::fs::read_to_string(format!("/proc/self/net/{table}")) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 10 {
                continue;
            }
            let peer = f[2]
                .rsplit(':')
                .next()
                .and_then(|p| u16::from_str_radix(p, 16).ok());
            let inode: u64 = f[9].parse().unwrap_or(0);
            if peer == Some(port) && inode != 0 && ours.contains(&inode) {
                n += 1;
            }
        }
    }
    n
}

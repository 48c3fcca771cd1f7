//! Every timeout against a server that stalls in exactly that phase, over
//! real loopback sockets: the error names the phase and the limit, the
//! socket is closed (the server sees EOF) and no descriptor leaks: once the
//! error is back, with the client still alive, no socket of this process
//! has the stalling server as its peer (`support::sockets_to`). Each limit
//! set per request (`RequestOptions`) wins over the client's `Config`.

#![forbid(unsafe_code)]

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use roundtrip::{Client, ErrorKind, Phase, RequestOptions};
use support::sockets_to;

/// Tests run one at a time: the timings they assert are short.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Asserts the client holds no socket to `port` any more.
#[track_caller]
fn assert_closed(port: u16) {
    assert_eq!(sockets_to(port), 0, "the client still holds its socket");
}

/// [`assert_closed`] for a [`blackhole`]: its fillers are this process's
/// sockets to the port too.
#[track_caller]
fn assert_closed_but_fillers(port: u16, fillers: &[TcpStream]) {
    assert_eq!(
        sockets_to(port),
        fillers.len(),
        "the client still holds its socket"
    );
}

/// A listener whose accept queue is full, so a new connect never completes
/// (the SYN is dropped): the stall of the connect phase. Returns the port
/// and what must stay alive for the stall to last.
fn blackhole() -> (u16, socket2::Socket, Vec<TcpStream>) {
    use socket2::{Domain, Socket, Type};
    let listener = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    let addr: SocketAddr = ([127, 0, 0, 1], 0).into();
    listener.bind(&addr.into()).unwrap();
    listener.listen(0).unwrap();
    let addr = listener.local_addr().unwrap().as_socket().unwrap();
    // Fill the queue until a connect of our own stalls: then it is full.
    let mut fillers = Vec::new();
    loop {
        match TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            Ok(s) => fillers.push(s),
            Err(_) => break,
        }
        assert!(fillers.len() < 16, "the accept queue never filled");
    }
    (addr.port(), listener, fillers)
}

/// A server whose port accepts TCP, reads the ClientHello and never answers.
fn silent_tls_server() -> (u16, mpsc::Receiver<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut sink = [0u8; 1024];
        while matches!(s.read(&mut sink), Ok(n) if n > 0) {}
        let _ = tx.send(());
    });
    (port, rx)
}

/// A request with `options` attached.
fn with(url: String, options: RequestOptions) -> http::Request<()> {
    let mut req = http::Request::get(url).body(()).unwrap();
    req.extensions_mut().insert(options);
    req
}

/// A one-connection server: reads the request head, writes `reply` (maybe
/// in pieces with pauses), then waits for the client to close and reports
/// how long that took.
fn stalling_server(reply: Vec<(Vec<u8>, Duration)>) -> (u16, mpsc::Receiver<Duration>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        drop(listener);
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if s.read(&mut b).unwrap_or(0) == 0 {
                return;
            }
            head.push(b[0]);
        }
        for (bytes, pause) in reply {
            if s.write_all(&bytes).is_err() {
                break;
            }
            std::thread::sleep(pause);
        }
        let waited = Instant::now();
        let mut sink = [0u8; 64];
        while matches!(s.read(&mut sink), Ok(n) if n > 0) {}
        let waited = waited.elapsed();
        drop(s);
        let _ = tx.send(waited);
    });
    (port, rx)
}

fn client(configure: impl FnOnce(&mut roundtrip::Config)) -> Client {
    Client::builder().configure(configure).build()
}

#[test]
fn server_that_never_answers_hits_the_response_header_timeout() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let (port, closed) = stalling_server(vec![]);
    let c = client(|c| c.response_header_timeout = Some(Duration::from_millis(200)));
    let err = c.get(&format!("http://127.0.0.1:{port}/")).unwrap_err();
    assert_timeout(&err, Phase::ReadResponseHead, Duration::from_millis(200));
    assert_closed(port);
    assert!(
        closed.recv_timeout(Duration::from_secs(5)).unwrap() < Duration::from_secs(2),
        "socket closed"
    );
    drop(c);
}

#[test]
fn half_a_head_then_silence_is_a_response_header_timeout() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let (port, closed) = stalling_server(vec![(
        b"HTTP/1.1 200 OK\r\nContent-".to_vec(),
        Duration::ZERO,
    )]);
    let c = client(|c| c.response_header_timeout = Some(Duration::from_millis(200)));
    let err = c.get(&format!("http://127.0.0.1:{port}/")).unwrap_err();
    assert_timeout(&err, Phase::ReadResponseHead, Duration::from_millis(200));
    assert_closed(port);
    closed.recv_timeout(Duration::from_secs(5)).unwrap();
}

#[test]
fn part_of_a_body_then_silence_is_a_body_idle_timeout() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let (port, closed) = stalling_server(vec![(
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial".to_vec(),
        Duration::ZERO,
    )]);
    let c = client(|c| c.body_idle_timeout = Some(Duration::from_millis(200)));
    let mut body = c
        .get(&format!("http://127.0.0.1:{port}/"))
        .unwrap()
        .into_body();
    let mut got = Vec::new();
    let mut buf = [0u8; 64];
    let err = loop {
        match body.read_body(&mut buf) {
            Ok(0) => panic!("a cut body must not end cleanly"),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => break e,
        }
    };
    assert_eq!(got, b"partial", "the bytes that came are delivered first");
    assert_timeout(&err, Phase::ReadResponseBody, Duration::from_millis(200));
    assert_closed(port);
    closed.recv_timeout(Duration::from_secs(5)).unwrap();
}

#[test]
fn slow_drip_hits_the_total_timeout_set_per_request() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let drip: Vec<(Vec<u8>, Duration)> = std::iter::once((
        b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n".to_vec(),
        Duration::ZERO,
    ))
    .chain((0..40).map(|_| (b"x".to_vec(), Duration::from_millis(25))))
    .collect();
    let (port, closed) = stalling_server(drip);
    // Idle never fires (a byte every 25 ms); the request's own total does.
    let c = client(|c| c.body_idle_timeout = Some(Duration::from_secs(1)));
    let mut req = http::Request::get(format!("http://127.0.0.1:{port}/"))
        .body(())
        .unwrap();
    req.extensions_mut()
        .insert(RequestOptions::new().total_timeout(Some(Duration::from_millis(300))));
    let started = Instant::now();
    let body = c.send(req).unwrap().into_body();
    let err = body.bytes().unwrap_err();
    assert_eq!(err.phase(), Phase::ReadResponseBody);
    assert!(
        matches!(err.kind(), ErrorKind::TotalTimeout { limit } if *limit == Duration::from_millis(300)),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_closed(port);
    closed.recv_timeout(Duration::from_secs(5)).unwrap();
}

#[test]
fn a_connect_that_never_completes_hits_the_connect_timeout() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let (port, _listener, fillers) = blackhole();
    let limit = Duration::from_millis(200);
    let c = client(|c| c.connect_timeout = limit);
    let started = Instant::now();
    let err = c.get(&format!("http://127.0.0.1:{port}/")).unwrap_err();
    assert_eq!(err.phase(), Phase::Connect, "{err}");
    assert!(
        matches!(err.kind(), ErrorKind::ConnectTimeout { limit: l, .. } if *l == limit),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_closed_but_fillers(port, &fillers);
}

#[test]
fn a_silent_tls_server_hits_the_handshake_timeout_and_the_socket_closes() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let (port, closed) = silent_tls_server();
    let limit = Duration::from_millis(200);
    let c = client(|c| c.tls_handshake_timeout = limit);
    let err = c.get(&format!("https://127.0.0.1:{port}/")).unwrap_err();
    assert_timeout(&err, Phase::Tls, limit);
    assert_closed(port);
    closed.recv_timeout(Duration::from_secs(5)).unwrap();
}

/// The error is a `Timeout` of `limit` in `phase`.
fn assert_timeout(err: &roundtrip::Error, phase: Phase, limit: Duration) {
    assert_eq!(err.phase(), phase, "{err}");
    assert!(
        matches!(err.kind(), ErrorKind::Timeout { limit: l } if *l == limit),
        "{err}"
    );
}

// ----- per request: RequestOptions wins over Config --------------------------

/// The client's own limit: long enough that only the request's can fire.
const CLIENT_LIMIT: Duration = Duration::from_secs(30);
const REQUEST_LIMIT: Duration = Duration::from_millis(150);

#[test]
fn per_request_connect_timeout_wins() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let (port, _listener, fillers) = blackhole();
    let c = client(|c| c.connect_timeout = CLIENT_LIMIT);
    let options = RequestOptions::new().connect_timeout(REQUEST_LIMIT);
    let err = c
        .send(with(format!("http://127.0.0.1:{port}/"), options))
        .unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::ConnectTimeout { limit, .. } if *limit == REQUEST_LIMIT),
        "{err}"
    );
    assert_closed_but_fillers(port, &fillers);
}

#[test]
fn per_request_tls_handshake_timeout_wins() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let (port, closed) = silent_tls_server();
    let c = client(|c| c.tls_handshake_timeout = CLIENT_LIMIT);
    let options = RequestOptions::new().tls_handshake_timeout(REQUEST_LIMIT);
    let err = c
        .send(with(format!("https://127.0.0.1:{port}/"), options))
        .unwrap_err();
    assert_timeout(&err, Phase::Tls, REQUEST_LIMIT);
    assert_closed(port);
    closed.recv_timeout(Duration::from_secs(5)).unwrap();
}

#[test]
fn per_request_response_header_timeout_wins() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let (port, closed) = stalling_server(vec![]);
    let c = client(|c| c.response_header_timeout = Some(CLIENT_LIMIT));
    let options = RequestOptions::new().response_header_timeout(Some(REQUEST_LIMIT));
    let err = c
        .send(with(format!("http://127.0.0.1:{port}/"), options))
        .unwrap_err();
    assert_timeout(&err, Phase::ReadResponseHead, REQUEST_LIMIT);
    assert_closed(port);
    closed.recv_timeout(Duration::from_secs(5)).unwrap();
}

#[test]
fn per_request_body_idle_timeout_wins() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let (port, closed) = stalling_server(vec![(
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial".to_vec(),
        Duration::ZERO,
    )]);
    let c = client(|c| c.body_idle_timeout = Some(CLIENT_LIMIT));
    let options = RequestOptions::new().body_idle_timeout(Some(REQUEST_LIMIT));
    let body = c
        .send(with(format!("http://127.0.0.1:{port}/"), options))
        .unwrap()
        .into_body();
    // The check sees the client's socket while it is open.
    assert_eq!(sockets_to(port), 1);
    let err = body.bytes().unwrap_err();
    assert_timeout(&err, Phase::ReadResponseBody, REQUEST_LIMIT);
    assert_closed(port);
    closed.recv_timeout(Duration::from_secs(5)).unwrap();
}

#[test]
fn huge_limits_mean_never_not_a_panic() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let server = support::serve(vec![support::respond(vec![
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    ])]);
    let c = client(|c| {
        c.connect_timeout = Duration::MAX;
        c.response_header_timeout = Some(Duration::MAX);
        c.body_idle_timeout = Some(Duration::MAX);
        c.total_timeout = Some(Duration::MAX);
        c.idle_timeout = Duration::MAX;
        c.expect_continue_timeout = Duration::MAX;
        c.happy_eyeballs_delay = Duration::MAX;
        c.dns_cache_max_ttl = Duration::MAX;
        c.family_memory = Duration::MAX;
    });
    let body = c.get(&server.url("/")).unwrap().into_body().text().unwrap();
    assert_eq!(body, "ok");
}

// ----- cancellation ------------------------------------------------------------

#[test]
fn batch_cancel_mid_response_closes_that_socket_and_the_other_request_completes() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    // A: half a head at once, then silence until the client goes away.
    let (a_port, a_closed) = stalling_server(vec![(
        b"HTTP/1.1 200 OK\r\nContent-".to_vec(),
        Duration::ZERO,
    )]);
    // B: answers after a pause, long enough for A's bytes to be read.
    let b = support::serve(vec![Box::new(|mut s, _| {
        support::read_request(&mut s);
        std::thread::sleep(Duration::from_millis(150));
        s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            .unwrap();
        let _ = s.read(&mut [0u8; 1]);
    })]);
    let c = client(|_| {});
    let mut batch = c.batch();
    let rec = support::Recorder::default();
    let a_req = http::Request::get(format!("http://127.0.0.1:{a_port}/"))
        .body(())
        .unwrap();
    let a = batch.submit_traced(a_req, rec.trace());
    let b_id = batch.submit(http::Request::get(b.url("/")).body(()).unwrap());
    let (id, b_resp) = batch.wait().unwrap();
    assert_eq!(id, b_id, "A never completes its head");
    // A is mid-response: its first bytes came, its head is not complete.
    assert!(
        rec.names().iter().any(|n| n == "got_first_response_byte"),
        "{:?}",
        rec.names()
    );
    assert_eq!(sockets_to(a_port), 1);

    assert!(batch.cancel(a));
    assert_closed(a_port);
    assert!(
        a_closed.recv_timeout(Duration::from_secs(2)).unwrap() < Duration::from_secs(2),
        "the server saw EOF"
    );
    let names = rec.names();
    let lines = rec.lines();
    assert_eq!(names.last().map(String::as_str), Some("request_done"));
    assert!(
        lines.last().unwrap().contains("cancelled"),
        "{}",
        lines.last().unwrap()
    );
    // No head was handed out, so no body to end (docs/trace.md).
    assert!(
        !names.iter().any(|n| n == "response_body_done"),
        "{names:?}"
    );
    assert_eq!(names.iter().filter(|n| *n == "request_done").count(), 1);

    // The other request is untouched.
    let body = b_resp.unwrap().into_body().text().unwrap();
    assert_eq!(body, "ok");
    assert!(batch.is_empty());
}

#[test]
fn batch_cancel_after_the_head_came_but_before_it_was_taken() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    // A: after a pause, a whole head and part of the body, then silence.
    let (a_port, a_closed) = stalling_server(vec![
        (Vec::new(), Duration::from_millis(100)),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npart".to_vec(),
            Duration::ZERO,
        ),
    ]);
    // B: its head at once, its body later: reading it drives the loop
    // while A's head arrives.
    let b = support::serve(vec![Box::new(|mut s, _| {
        support::read_request(&mut s);
        s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n")
            .unwrap();
        std::thread::sleep(Duration::from_millis(300));
        s.write_all(b"ok").unwrap();
        let _ = s.read(&mut [0u8; 1]);
    })]);
    let c = client(|_| {});
    let mut batch = c.batch();
    let rec = support::Recorder::default();
    let a_req = http::Request::get(format!("http://127.0.0.1:{a_port}/"))
        .body(())
        .unwrap();
    let a = batch.submit_traced(a_req, rec.trace());
    let b_id = batch.submit(http::Request::get(b.url("/")).body(()).unwrap());
    let (id, b_resp) = batch.wait().unwrap();
    assert_eq!(id, b_id);
    let body = b_resp.unwrap().into_body().text().unwrap();
    assert_eq!(body, "ok");
    // A's head came while B's body was read; nobody took it.
    assert!(
        rec.names().iter().any(|n| n == "got_response_headers"),
        "{:?}",
        rec.names()
    );

    assert!(batch.cancel(a));
    assert_closed(a_port);
    a_closed.recv_timeout(Duration::from_secs(2)).unwrap();
    let names = rec.names();
    let lines = rec.lines();
    assert_eq!(names.last().map(String::as_str), Some("request_done"));
    assert!(lines.last().unwrap().contains("cancelled"), "{lines:?}");
    // The final head was produced (got_response_headers), so its body
    // ends, once, with the cancellation.
    let body_done: Vec<_> = lines
        .iter()
        .filter(|l| l.contains("\"response_body_done\""))
        .collect();
    assert_eq!(body_done.len(), 1, "{names:?}");
    assert!(body_done[0].contains("cancelled"), "{}", body_done[0]);
}

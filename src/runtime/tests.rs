//! The loop's own bookkeeping over many requests, against a loopback
//! server: nothing it keeps per request may outlive the request (the leaks
//! benches/src/bin/soak.rs found); and the read that is the wait
//! (`Runtime::turn`, `Sockets::settle`) on kept-alive connections: it
//! happens, and timeouts, early responses, other sockets, closed
//! connections and timings still come out as they do in `epoll_wait`.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::proxy::ProxyConfig;
use crate::{Client, ErrorKind, SendBody};

/// A server on 127.0.0.1 for `conns` connections, each answering every
/// request head it reads with `200 OK` until the client closes it.
fn server(conns: usize) -> (String, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let mut served = Vec::new();
        for _ in 0..conns {
            let (mut s, _) = listener.accept().unwrap();
            served.push(std::thread::spawn(move || {
                s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                let mut buf = [0u8; 4096];
                let mut pending = Vec::new();
                loop {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => pending.extend_from_slice(&buf[..n]),
                    }
                    while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                        pending.drain(..end + 4);
                        let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                        if s.write_all(ok).is_err() {
                            return;
                        }
                    }
                }
            }));
        }
        for h in served {
            let _ = h.join();
        }
    });
    (url, handle)
}

#[test]
fn sequential_requests_leave_no_stale_timers() {
    // Every request arms the response timeouts (5 min by default) and
    // re-arms them as it goes; the deadlines it leaves behind must not pile
    // up until they pass.
    let (url, srv) = server(1);
    let client = Client::builder()
        .configure(|c| c.proxy = ProxyConfig::Off)
        .build();
    for _ in 0..500 {
        let body = client.get(&url).unwrap().into_body().bytes().unwrap();
        assert_eq!(body, b"ok");
    }
    let timers = client.runtime().core.timer_entries();
    assert!(
        timers <= 2 + 64,
        "{timers} timer entries after 500 requests"
    );
    drop(client);
    srv.join().unwrap();
}

#[test]
fn a_burst_of_requests_leaves_no_room_for_it_behind() {
    let n = 100;
    let (url, srv) = server(n);
    let client = Client::builder()
        .configure(|c| {
            c.proxy = ProxyConfig::Off;
            c.max_idle_per_host = n;
            c.max_idle = n;
        })
        .build();
    let mut batch = client.batch();
    for _ in 0..n {
        batch.submit(http::Request::get(&url).body(()).unwrap());
    }
    let mut held = Vec::new();
    while let Some((_, r)) = batch.wait() {
        held.push(r.unwrap());
    }
    drop(batch);
    assert!(client.runtime().core.slot_capacity() >= n);
    for resp in held {
        assert_eq!(resp.into_body().bytes().unwrap(), b"ok");
    }
    let rt = client.runtime();
    assert!(rt.core.in_flight() == 0);
    assert!(
        rt.core.slot_capacity() <= 2 * crate::core::SLOTS_KEPT,
        "room for {} requests kept",
        rt.core.slot_capacity()
    );
    drop(rt);
    drop(client);
    srv.join().unwrap();
}

// ----- the read that is the wait (`Runtime::wait_in_read`) -------------------

/// What a scripted connection does with the request after the kept-alive
/// ones: it gets the stream and the request head.
type Then = Box<dyn FnOnce(&mut TcpStream, Vec<u8>) + Send>;

/// A server whose first connection answers `ok` small requests with
/// `200 OK`, then hands the next request head to `then`; each later
/// connection (up to `more`) answers every request with `200 OK`.
fn scripted(ok: usize, then: Then, more: usize) -> (String, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        for _ in 0..ok {
            read_head(&mut s).unwrap();
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                .unwrap();
        }
        if let Some(head) = read_head(&mut s) {
            then(&mut s, head);
        }
        drop(s);
        for _ in 0..more {
            let (mut s, _) = listener.accept().unwrap();
            while read_head(&mut s).is_some() {
                let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                if s.write_all(ok).is_err() {
                    break;
                }
            }
        }
    });
    (url, handle)
}

/// One request head, read a byte at a time so nothing after it is taken.
fn read_head(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return None,
        }
    }
    Some(head)
}

/// A [`Then`] that writes `answer` (possibly nothing) and then holds the
/// connection open, reading nothing, until the returned sender is used
/// (or 20 s pass).
fn answer_and_hold(answer: Vec<u8>) -> (Then, std::sync::mpsc::Sender<()>) {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let then: Then = Box::new(move |s, _| {
        s.write_all(&answer).unwrap();
        let _ = rx.recv_timeout(Duration::from_secs(20));
    });
    (then, tx)
}

/// A [`Then`] that answers `200 OK` with `body` after `delay`.
fn answer_after(delay: Duration, body: &'static [u8]) -> Then {
    Box::new(move |s, _| {
        std::thread::sleep(delay);
        let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
        let _ = s.write_all(&[head.as_bytes(), body].concat());
        let _ = read_head(s);
    })
}

fn plain_client(configure: impl FnOnce(&mut crate::Config)) -> Client {
    Client::builder()
        .configure(|c| {
            c.proxy = ProxyConfig::Off;
            configure(c);
        })
        .build()
}

/// Four GETs on one connection: from the third wait alone on it, the
/// socket is in blocking mode (the wait is its read).
fn settle(client: &Client, url: &str) {
    for i in 0..4 {
        let body = client.get(url).unwrap().into_body().bytes().unwrap();
        assert_eq!(body, b"ok");
        let blocking = client.runtime().net.blocking_sock();
        assert_eq!(blocking.is_some(), i >= 2, "after GET {}", i + 1);
    }
}

#[test]
fn a_settled_connection_still_times_out_on_a_silent_server() {
    // Read the request, never answer, until the test is done.
    let (then, tx) = answer_and_hold(Vec::new());
    let (url, srv) = scripted(4, then, 0);
    let client = plain_client(|c| c.response_header_timeout = Some(Duration::from_millis(300)));
    settle(&client, &url);
    let start = Instant::now();
    let err = client.get(&url).unwrap_err();
    let took = start.elapsed();
    assert!(
        matches!(err.kind(), ErrorKind::Timeout { .. }),
        "{err} ({err:?})"
    );
    // Not before the deadline (the receive timeout ends before it), and
    // not long after (no wait past it for the server).
    assert!(took >= Duration::from_millis(300), "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    tx.send(()).unwrap();
    drop(client);
    srv.join().unwrap();
}

#[test]
fn an_early_response_to_an_upload_on_a_settled_connection_is_read() {
    // The server refuses the upload after its head and stops reading, but
    // keeps the connection open: the client's send blocks on a full send
    // buffer, must give up within its short send timeout, and find the 413
    // in `epoll_wait`, long before the server lets go.
    let (then, tx) = answer_and_hold(
        b"HTTP/1.1 413 Content Too Large\r\nConnection: close\r\nContent-Length: 8\r\n\r\ntoo much"
            .to_vec(),
    );
    let (url, srv) = scripted(4, then, 0);
    let client = plain_client(|_| {});
    settle(&client, &url);
    let start = Instant::now();
    let body = SendBody::from_reader(std::io::repeat(b'u').take(64 * 1024 * 1024));
    let req = http::Request::post(&url).body(body).unwrap();
    let resp = client.send(req).unwrap();
    assert_eq!(resp.status(), 413);
    assert_eq!(resp.into_body().bytes().unwrap(), b"too much");
    assert!(start.elapsed() < Duration::from_secs(10));
    assert_eq!(client.runtime().net.blocking_sock(), None);
    tx.send(()).unwrap();
    drop(client);
    srv.join().unwrap();
}

#[test]
fn a_direct_body_read_on_a_settled_connection_meets_the_total_timeout() {
    // Half a body, then silence, on a connection settled in blocking mode:
    // the big reads straight from the socket go back to non-blocking mode
    // and `epoll_wait` (a body is not read as the wait), and the request's
    // whole deadline still ends the body.
    let mut half = b"HTTP/1.1 200 OK\r\nContent-Length: 4194304\r\n\r\n".to_vec();
    half.resize(half.len() + (2 << 20), b'b');
    let (then, tx) = answer_and_hold(half);
    let (url, srv) = scripted(4, then, 0);
    let client = plain_client(|c| c.total_timeout = Some(Duration::from_millis(800)));
    settle(&client, &url);
    let start = Instant::now();
    let mut body = client.get(&url).unwrap().into_body();
    let mut buf = vec![0u8; 1 << 20];
    let mut got = 0;
    let err = loop {
        match body.read(&mut buf) {
            Ok(0) => panic!("the body ended after {got} bytes"),
            Ok(n) => got += n,
            Err(e) => break e,
        }
    };
    let took = start.elapsed();
    assert_eq!(got, 2 << 20);
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut, "{err}");
    assert_eq!(client.runtime().net.blocking_sock(), None);
    assert!(took >= Duration::from_millis(800), "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    tx.send(()).unwrap();
    drop(body);
    drop(client);
    srv.join().unwrap();
}

#[test]
fn a_second_socket_ends_the_wait_in_the_read() {
    // After settling on A, a batch asks A for a slow answer and B for a
    // quick one. Waiting in A's read would hold B's answer back until A's
    // came; B must come first.
    let (a, srv_a) = scripted(4, answer_after(Duration::from_millis(500), b"slow"), 0);
    let (b, srv_b) = server(1);
    let client = plain_client(|_| {});
    settle(&client, &a);
    let mut batch = client.batch();
    let slow = batch.submit(http::Request::get(&a).body(()).unwrap());
    let quick = batch.submit(http::Request::get(&b).body(()).unwrap());
    let (first, resp) = batch.wait().unwrap();
    assert_eq!(first, quick);
    assert_eq!(resp.unwrap().into_body().bytes().unwrap(), b"ok");
    let (second, resp) = batch.wait().unwrap();
    assert_eq!(second, slow);
    assert_eq!(resp.unwrap().into_body().bytes().unwrap(), b"slow");
    drop(batch);
    drop(client);
    srv_a.join().unwrap();
    srv_b.join().unwrap();
}

#[test]
fn a_settled_connection_the_server_closed_is_replaced() {
    // The server closes the kept-alive connection instead of answering the
    // fifth GET: the loop learns it from the read that is the wait (end of
    // stream before any byte of a response) and, the GET being idempotent,
    // sends it again on a new connection.
    let then: Then = Box::new(|_, _| {});
    let (url, srv) = scripted(4, then, 1);
    let client = plain_client(|_| {});
    settle(&client, &url);
    let body = client.get(&url).unwrap().into_body().bytes().unwrap();
    assert_eq!(body, b"ok");
    drop(client);
    srv.join().unwrap();
}

#[test]
fn a_settled_connection_times_the_first_byte_after_the_wait() {
    // The clock is read after the read that was the wait, as after
    // `epoll_wait`: the server's 150 ms before it answers count as the
    // wait for the first byte, not as nothing.
    let (url, srv) = scripted(4, answer_after(Duration::from_millis(150), b"ok"), 0);
    let client = plain_client(|_| {});
    settle(&client, &url);
    let mut body = client.get(&url).unwrap().into_body();
    let mut got = Vec::new();
    body.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"ok");
    let t = body.timings().unwrap();
    let waited = t.starttransfer() - t.posttransfer();
    assert!(waited >= Duration::from_millis(150), "{t:?}");
    assert!(t.total().unwrap() >= t.starttransfer(), "{t:?}");
    drop(body);
    drop(client);
    srv.join().unwrap();
}

//! Loopback tests of every error case: servers that misbehave on purpose
//! (truncated and malformed bodies and heads, stray bytes, closed idle
//! connections), requests the client must refuse before sending, pool
//! limits, back-pressure on a large body, cancellation, and request bodies.
//! Each test checks the typed error and its phase, the trace (exactly one
//! `request_done`, last) and whether the connection was pooled.

// Unsafe only for `HeaderValue::from_maybe_shared_unchecked`, which builds
// the values with CR/LF that the client must refuse.
#![deny(unsafe_code)]

mod support;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use http::{HeaderValue, Method, Request};
use roundtrip::{Client, CloseReason, ErrorKind, Limit, Phase, SendBody};
use support::lo::*;

const LIMIT: Duration = Duration::from_secs(10);

fn get(
    client: &Client,
    url: &str,
    log: &Log,
) -> roundtrip::Result<http::Response<roundtrip::Body>> {
    client.send_traced(Request::get(url).body(()).unwrap(), log.trace())
}

/// Sleeps briefly, then asserts that the server saw no connection at all.
fn assert_no_connection(srv: &Srv) {
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(
        srv.accepted(),
        0,
        "the client connected although it must not"
    );
}

// ----- response body errors ------------------------------------------------

/// Serves `wire` as the response, then (when `close`) closes the
/// connection after `pause`. Returns the body bytes the caller read before
/// the error, the error, and the log.
fn body_fault(
    wire: &'static [u8],
    close: bool,
    pause: Duration,
    config: fn(&mut roundtrip::Config),
) -> (Vec<u8>, roundtrip::Error, Log, bool) {
    let (tx, closed) = mpsc::channel();
    let srv = Srv::new(vec![Box::new(move |mut s| {
        read_req(&mut s).unwrap();
        let _ = s.write_all(wire);
        if close {
            std::thread::sleep(pause);
            let _ = s.shutdown(Shutdown::Write);
        }
        let _ = tx.send(wait_client_close(&mut s, Duration::from_secs(3)));
    })]);
    let client = Client::builder().configure(config).build();
    let log = Log::default();
    let resp = get(&client, &srv.url("/"), &log).expect("the head is fine");
    assert_eq!(resp.status(), 200);
    let mut body = resp.into_body();
    let (bytes, err) = drain(&mut body);
    let err = err.expect("the body must fail");
    // Once failed, the body stays failed (or ended); it never yields data.
    let mut buf = [0u8; 16];
    assert!(!matches!(body.read_body(&mut buf), Ok(n) if n > 0));
    let client_closed = closed.recv_timeout(Duration::from_secs(5)) == Ok(true);
    drop(body);
    drop(client);
    srv.join();
    (bytes, err, log, client_closed)
}

/// The trace of a body that failed with `err`.
fn assert_body_failed_trace(log: &Log, bytes: u64, err: &roundtrip::Error) {
    let (n, trailers, error) = log.body_done();
    assert_eq!(n, bytes, "response_body_done bytes");
    assert!(trailers.is_none());
    let error = error.expect("response_body_done must carry the error");
    assert_eq!(
        std::mem::discriminant(error.kind()),
        std::mem::discriminant(err.kind())
    );
    let done = log.done_once().expect("request_done must carry the error");
    assert_eq!(
        std::mem::discriminant(done.kind()),
        std::mem::discriminant(err.kind())
    );
    assert_eq!(
        log.put_idle_once(),
        Some(CloseReason::Error),
        "{:?}",
        log.all()
    );
    let names = log.names();
    let pos = |n| names.iter().position(|x| *x == n).unwrap();
    assert!(pos("response_body_done") < pos("put_idle_conn"));
}

#[test]
fn truncated_content_length_body() {
    within(LIMIT, || {
        for pause in [Duration::ZERO, Duration::from_millis(30)] {
            let (bytes, err, log, _) = body_fault(
                b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello",
                true,
                pause,
                |_| {},
            );
            assert_eq!(bytes, b"hello", "bytes that arrived come before the error");
            assert_eq!(err.phase(), Phase::ReadResponseBody);
            assert!(
                matches!(
                    err.kind(),
                    ErrorKind::BodyTruncated {
                        received: 5,
                        expected: Some(10)
                    }
                ),
                "{err:?}"
            );
            assert_body_failed_trace(&log, 5, &err);
        }
    });
}

#[test]
fn content_length_body_with_no_bytes_before_close() {
    within(LIMIT, || {
        let (bytes, err, log, _) = body_fault(
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n",
            true,
            Duration::ZERO,
            |_| {},
        );
        assert!(bytes.is_empty());
        assert!(
            matches!(
                err.kind(),
                ErrorKind::BodyTruncated {
                    received: 0,
                    expected: Some(10)
                }
            ),
            "{err:?}"
        );
        assert_body_failed_trace(&log, 0, &err);
    });
}

#[test]
fn eof_before_last_chunk() {
    within(LIMIT, || {
        for (wire, want, received) in [
            (
                &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"[..],
                &b"hello"[..],
                5,
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
                b"hel",
                3,
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Trailer: 1\r\n",
                b"hello",
                5,
            ),
        ] {
            let (bytes, err, log, _) = body_fault(wire, true, Duration::from_millis(10), |_| {});
            assert_eq!(bytes, want);
            assert_eq!(err.phase(), Phase::ReadResponseBody);
            assert!(
                matches!(err.kind(), ErrorKind::BodyTruncated { received: r, expected: None } if *r == received),
                "{wire:?}: {err:?}"
            );
            assert_body_failed_trace(&log, received, &err);
        }
    });
}

/// A chunked body with a syntax error: the bytes before it are delivered,
/// then `check`'s error; the server keeps the connection open and the
/// client must close it.
fn bad_chunked(wire: &'static [u8], want: &[u8], check: fn(&ErrorKind) -> bool) {
    bad_chunked_with(wire, want, check, |_| {})
}

fn bad_chunked_with(
    wire: &'static [u8],
    want: &[u8],
    check: fn(&ErrorKind) -> bool,
    config: fn(&mut roundtrip::Config),
) {
    let (bytes, err, log, client_closed) = body_fault(wire, false, Duration::ZERO, config);
    assert_eq!(bytes, want, "{wire:?}");
    assert_eq!(err.phase(), Phase::ReadResponseBody, "{wire:?}");
    assert!(check(err.kind()), "{wire:?}: {err:?}");
    assert_body_failed_trace(&log, want.len() as u64, &err);
    assert!(
        client_closed,
        "{wire:?}: the client kept the connection open"
    );
}

#[test]
fn invalid_chunk_size_line() {
    within(LIMIT, || {
        for wire in [
            &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5x\r\nhello\r\n0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\nhello\r\n0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5 junk\r\nhello\r\n0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n",
        ] {
            bad_chunked(wire, b"", |k| matches!(k, ErrorKind::InvalidChunkSize));
        }
        // After a good chunk.
        bad_chunked(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n",
            b"hello",
            |k| matches!(k, ErrorKind::InvalidChunkSize),
        );
    });
}

#[test]
fn chunk_data_not_followed_by_crlf() {
    within(LIMIT, || {
        for wire in [
            &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello world\r\n0\r\n\r\n",
        ] {
            bad_chunked(wire, b"hello", |k| {
                matches!(k, ErrorKind::MissingChunkTerminator)
            });
        }
    });
}

#[test]
fn chunk_size_overflow() {
    within(LIMIT, || {
        for wire in [
            &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\nhello\r\n"[..],
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\nhello\r\n",
        ] {
            bad_chunked(wire, b"", |k| matches!(k, ErrorKind::ChunkSizeOverflow));
        }
    });
}

#[test]
fn chunk_line_and_trailer_limits() {
    within(LIMIT, || {
        bad_chunked_with(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\nhello\r\n0\r\n\r\n",
            b"",
            |k| {
                matches!(
                    k,
                    ErrorKind::LimitExceeded {
                        limit: Limit::ChunkLine,
                        max: 32
                    }
                )
            },
            |c| c.max_chunk_line = 32,
        );
        bad_chunked_with(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Big: bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\r\n\r\n",
            b"hello",
            |k| {
                matches!(
                    k,
                    ErrorKind::LimitExceeded {
                        limit: Limit::TrailerSize,
                        max: 32
                    }
                )
            },
            |c| c.max_trailer_size = 32,
        );
    });
}

#[test]
fn malformed_trailers() {
    within(LIMIT, || {
        bad_chunked(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nno colon here\r\n\r\n",
            b"hello",
            |k| matches!(k, ErrorKind::MalformedTrailers(_)),
        );
    });
}

// ----- response head errors -------------------------------------------------

/// Serves `wire` (then holds the connection open unless `close`) and
/// expects the request to fail in the head phase with `check`'s error, the
/// connection closed by the client.
fn head_fault(
    wire: Vec<u8>,
    close: bool,
    config: impl FnOnce(&mut roundtrip::Config),
    check: impl Fn(&ErrorKind) -> bool,
) {
    let (tx, closed) = mpsc::channel();
    let shown = String::from_utf8_lossy(&wire[..wire.len().min(80)]).into_owned();
    let srv = Srv::new(vec![Box::new(move |mut s| {
        read_req(&mut s).unwrap();
        let _ = s.write_all(&wire);
        if close {
            let _ = s.shutdown(Shutdown::Write);
        }
        let _ = tx.send(wait_client_close(&mut s, Duration::from_secs(3)));
    })]);
    let client = Client::builder().configure(config).build();
    let log = Log::default();
    let kind = err_in(get(&client, &srv.url("/"), &log), Phase::ReadResponseHead);
    assert!(check(&kind), "{shown:?}: unexpected {kind:?}");
    let done = log.done_once().expect("request_done must carry the error");
    assert!(check(done.kind()));
    assert_eq!(
        log.put_idle_once(),
        Some(CloseReason::Error),
        "{:?}",
        log.all()
    );
    assert_eq!(log.count("got_response_headers"), 0);
    assert_eq!(log.count("response_body_done"), 0);
    assert_eq!(log.count("retry"), 0, "a fresh connection is never retried");
    assert_eq!(client.idle_connections(), 0);
    assert_eq!(
        closed.recv_timeout(Duration::from_secs(5)),
        Ok(true),
        "{shown:?}: the client kept the connection open"
    );
    drop(client);
    srv.join();
}

fn big_head(field_bytes: usize) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nX-Big: {}\r\nContent-Length: 2\r\n\r\nok",
        "b".repeat(field_bytes)
    )
    .into_bytes()
}

#[test]
fn oversized_head_with_small_limit() {
    within(LIMIT, || {
        head_fault(
            big_head(2000),
            false,
            |c| c.max_head_size = 1024,
            |k| {
                matches!(
                    k,
                    ErrorKind::LimitExceeded {
                        limit: Limit::HeadSize,
                        max: 1024
                    }
                )
            },
        );
    });
}

#[test]
fn head_just_under_the_limit_is_fine() {
    within(LIMIT, || {
        let wire = big_head(900);
        assert!(wire.len() < 1024);
        let srv = Srv::new(vec![one(wire)]);
        let client = Client::builder()
            .configure(|c| c.max_head_size = 1024)
            .build();
        let log = Log::default();
        let resp = get(&client, &srv.url("/"), &log).unwrap();
        assert_eq!(resp.into_body().bytes().unwrap(), b"ok");
        assert!(log.done_once().is_none());
        drop(client);
        srv.join();
    });
}

#[test]
fn oversized_head_with_default_limit() {
    within(LIMIT, || {
        head_fault(
            big_head(70 * 1024),
            false,
            |_| {},
            |k| {
                matches!(
                    k,
                    ErrorKind::LimitExceeded {
                        limit: Limit::HeadSize,
                        max: 65536
                    }
                )
            },
        );
    });
}

#[test]
fn oversized_head_that_never_ends() {
    // A head that keeps coming without its empty line must fail at the
    // limit, not wait for more.
    within(LIMIT, || {
        let mut wire = b"HTTP/1.1 200 OK\r\n".to_vec();
        for i in 0..200 {
            wire.extend_from_slice(format!("X-F{i}: {}\r\n", "v".repeat(20)).as_bytes());
        }
        head_fault(
            wire,
            false,
            |c| {
                c.max_head_size = 2048;
                c.max_headers = 1000;
            },
            |k| {
                matches!(
                    k,
                    ErrorKind::LimitExceeded {
                        limit: Limit::HeadSize,
                        max: 2048
                    }
                )
            },
        );
    });
}

fn many_headers(n: usize) -> Vec<u8> {
    let mut wire = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n".to_vec();
    for i in 1..n {
        wire.extend_from_slice(format!("X-H{i}: {i}\r\n").as_bytes());
    }
    wire.extend_from_slice(b"\r\nok");
    wire
}

#[test]
fn too_many_headers() {
    within(LIMIT, || {
        head_fault(
            many_headers(6),
            false,
            |c| c.max_headers = 5,
            |k| {
                matches!(
                    k,
                    ErrorKind::LimitExceeded {
                        limit: Limit::HeaderCount,
                        max: 5
                    }
                )
            },
        );
        // Exactly at the limit is fine.
        let srv = Srv::new(vec![one(many_headers(5))]);
        let client = Client::builder().configure(|c| c.max_headers = 5).build();
        let resp = client.get(&srv.url("/")).unwrap();
        assert_eq!(resp.headers().len(), 5);
        assert_eq!(resp.into_body().bytes().unwrap(), b"ok");
        drop(client);
        srv.join();
    });
}

#[test]
fn server_closes_mid_headers() {
    within(LIMIT, || {
        head_fault(
            b"HTTP/1.1 200 OK\r\nContent-Le".to_vec(),
            true,
            |_| {},
            |k| matches!(k, ErrorKind::ConnectionClosed),
        );
        head_fault(
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n".to_vec(),
            true,
            |_| {},
            |k| matches!(k, ErrorKind::ConnectionClosed),
        );
    });
}

#[test]
fn server_closes_without_a_response_on_a_fresh_connection() {
    within(LIMIT, || {
        head_fault(
            Vec::new(),
            true,
            |_| {},
            |k| matches!(k, ErrorKind::ConnectionClosed),
        );
    });
}

#[test]
fn server_closes_without_reading_the_request() {
    // The server accepts and closes at once: whatever the client sees
    // first (EOF or a reset), the request fails without a retry (the
    // connection was fresh) and without a hang.
    within(LIMIT, || {
        let srv = Srv::new(vec![Box::new(drop)]);
        let client = Client::new();
        let log = Log::default();
        let err = get(&client, &srv.url("/"), &log).unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::ConnectionClosed | ErrorKind::Io(_)),
            "{err:?}"
        );
        assert!(
            matches!(err.phase(), Phase::ReadResponseHead | Phase::WriteRequest),
            "{err:?}"
        );
        assert!(log.done_once().is_some());
        assert_eq!(log.count("retry"), 0);
        assert_eq!(log.put_idle_once(), Some(CloseReason::Error));
        drop(client);
        srv.join();
    });
}

fn malformed(wire: &'static [u8]) {
    head_fault(
        wire.to_vec(),
        false,
        |_| {},
        |k| matches!(k, ErrorKind::MalformedHead(_)),
    );
}

#[test]
fn garbage_status_line() {
    // An SSH server sends its banner and waits: the client must fail at
    // once instead of waiting for a head that will never come.
    within(LIMIT, || {
        malformed(b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n");
        malformed(b"HTTP/2.0 200 OK\r\nContent-Length: 2\r\n\r\nok");
        malformed(b"HTTP/1.1 OK 200\r\nContent-Length: 2\r\n\r\nok");
    });
}

#[test]
fn header_line_without_colon() {
    within(LIMIT, || {
        malformed(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nno colon here\r\n\r\nok");
    });
}

#[test]
fn nul_in_a_header_value() {
    within(LIMIT, || {
        malformed(b"HTTP/1.1 200 OK\r\nX-A: a\0b\r\nContent-Length: 2\r\n\r\nok");
    });
}

/// RFC 9112 §5.2: a user agent MUST replace each obs-fold in a response
/// with spaces before interpreting the value. The response is otherwise
/// sound, so the connection goes back to the pool.
#[test]
fn obs_fold_is_unfolded_into_spaces() {
    within(LIMIT, || {
        let srv = Srv::new(vec![one(
            b"HTTP/1.1 200 OK\r\nX-A: one\r\n two\r\n\tthree\r\nContent-Length: 2\r\n\r\nok"
                .to_vec(),
        )]);
        let client = Client::new();
        let log = Log::default();
        let resp = get(&client, &srv.url("/"), &log).unwrap();
        assert_eq!(resp.headers()["x-a"], "one   two   three");
        assert_eq!(resp.into_body().bytes().unwrap(), b"ok");
        assert!(log.done_once().is_none());
        assert_eq!(client.idle_connections(), 1);
        drop(client);
        srv.join();
    });
}

/// A folded framing field is unfolded too, and then is no number: the
/// request fails instead of guessing the body's length.
#[test]
fn folded_content_length_is_an_error() {
    within(LIMIT, || {
        head_fault(
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n 0\r\n\r\nok".to_vec(),
            false,
            |_| {},
            |k| matches!(k, ErrorKind::InvalidContentLength),
        );
    });
}

#[test]
fn status_codes_outside_100_to_999() {
    within(LIMIT, || {
        malformed(b"HTTP/1.1 99 Low\r\nContent-Length: 2\r\n\r\nok");
        malformed(b"HTTP/1.1 099 Low\r\nContent-Length: 2\r\n\r\nok");
        malformed(b"HTTP/1.1 1000 High\r\nContent-Length: 2\r\n\r\nok");
    });
}

// ----- bytes after the end of a response -----------------------------------

#[test]
fn body_longer_than_content_length() {
    within(LIMIT, || {
        let (tx, closed) = mpsc::channel();
        let srv = Srv::new(vec![
            Box::new(move |mut s| {
                read_req(&mut s).unwrap();
                s.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello\
                      HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nWRONG",
                )
                .unwrap();
                let _ = tx.send(wait_client_close(&mut s, Duration::from_secs(3)));
            }),
            one(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nright".to_vec()),
        ]);
        let client = Client::new();
        let log = Log::default();
        let body = get(&client, &srv.url("/"), &log).unwrap().into_body();
        assert_eq!(body.bytes().unwrap(), b"hello");
        assert!(log.done_once().is_none());
        assert_eq!(log.put_idle_once(), Some(CloseReason::ExtraBytes));
        assert_eq!(client.idle_connections(), 0);
        assert_eq!(closed.recv_timeout(Duration::from_secs(5)), Ok(true));

        let log2 = Log::default();
        let body = get(&client, &srv.url("/"), &log2).unwrap().into_body();
        assert_eq!(body.bytes().unwrap(), b"right");
        assert_eq!(log2.got_conn(), [false]);
        assert_eq!(srv.accepted(), 2);
        drop(client);
        srv.join();
    });
}

/// The extra bytes arrive after the connection went back to the pool (a
/// stray `408` or a buggy server), `gap` before the next request: that
/// request must not take them as its response.
fn stray_then(gap: Duration) {
    let (go, wait) = mpsc::channel::<()>();
    let (sent, stray_sent) = mpsc::channel::<()>();
    let srv = Srv::new(vec![
        Box::new(move |mut s| {
            read_req(&mut s).unwrap();
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
                .unwrap();
            let _ = wait.recv_timeout(IO_TIMEOUT);
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nWRONG");
            let _ = sent.send(());
            wait_client_close(&mut s, Duration::from_secs(3));
        }),
        one(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nright".to_vec()),
    ]);
    let wide = Log::default();
    let client = client_with(&wide, |_| {});
    let log = Log::default();
    let body = get(&client, &srv.url("/"), &log).unwrap().into_body();
    assert_eq!(body.bytes().unwrap(), b"hello");
    assert_eq!(log.put_idle_once(), None);
    go.send(()).unwrap();
    stray_sent.recv_timeout(IO_TIMEOUT).unwrap();
    std::thread::sleep(gap);

    let log2 = Log::default();
    let result = get(&client, &srv.url("/"), &log2).and_then(|r| r.into_body().bytes());
    match result {
        Ok(body) => assert_eq!(
            String::from_utf8_lossy(&body),
            "right",
            "the stray bytes were read as the response ({gap:?} after they came); trace: {:?}",
            log2.names()
        ),
        Err(e) => panic!(
            "error surfaced to the caller ({gap:?} after the stray bytes came): {e} ({e:?}); trace: {:?}",
            log2.names()
        ),
    }
    assert!(log2.done_once().is_none());
    assert_eq!(srv.accepted(), 2);
    drop(client);
    srv.join();
}

#[test]
fn stray_response_on_an_idle_connection_is_never_read_as_the_next_response() {
    within(LIMIT, || stray_then(Duration::from_millis(100)));
}

#[test]
fn stray_response_shortly_before_reuse_is_never_read_as_the_next_response() {
    // Same, with the next request 10 ms after the stray bytes arrived:
    // still plenty of time for any liveness check to see them.
    within(LIMIT, || stray_then(Duration::from_millis(10)));
}

// ----- the pool -------------------------------------------------------------

/// Answers one request with keep-alive, then closes the connection once
/// told to (after the client has pooled it).
fn answer_then_close_when_told(
    response: &'static [u8],
    told: mpsc::Receiver<()>,
    done: mpsc::Sender<()>,
) -> ConnScript {
    Box::new(move |mut s| {
        read_req(&mut s).unwrap();
        s.write_all(response).unwrap();
        let _ = told.recv_timeout(IO_TIMEOUT);
        let _ = s.shutdown(Shutdown::Both);
        drop(s);
        let _ = done.send(());
    })
}

/// The server closes the pooled connection; `gap` later the client sends
/// `request`, which must succeed on a fresh connection.
fn idle_closed_then(request: Request<SendBody>, gap: Duration) {
    let (go, told) = mpsc::channel();
    let (closed, server_closed) = mpsc::channel();
    let (tx, seen) = mpsc::channel();
    let srv = Srv::new(vec![
        answer_then_close_when_told(
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst",
            told,
            closed,
        ),
        Box::new(move |mut s| {
            let req = read_req(&mut s).unwrap();
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond")
                .unwrap();
            let _ = tx.send(req);
            wait_client_close(&mut s, IO_TIMEOUT);
        }),
    ]);
    let wide = Log::default();
    let client = client_with(&wide, |_| {});
    let log = Log::default();
    assert_eq!(
        get(&client, &srv.url("/"), &log)
            .unwrap()
            .into_body()
            .bytes()
            .unwrap(),
        b"first"
    );
    assert_eq!(log.put_idle_once(), None);
    assert_eq!(client.idle_connections(), 1);
    go.send(()).unwrap();
    server_closed.recv_timeout(IO_TIMEOUT).unwrap();
    std::thread::sleep(gap);

    let (mut parts, body) = request.into_parts();
    parts.uri = srv.url("/again").parse().unwrap();
    let want_body = parts.method == Method::POST;
    let log2 = Log::default();
    let resp = client
        .send_traced(Request::from_parts(parts, body), log2.trace())
        .unwrap_or_else(|e| {
            panic!(
                "error surfaced to the caller ({gap:?} after the close): {e} ({e:?}); trace {:?}",
                log2.names()
            )
        });
    assert_eq!(resp.into_body().bytes().unwrap(), b"second");
    assert!(log2.done_once().is_none());
    let req = seen.recv_timeout(IO_TIMEOUT).unwrap();
    if want_body {
        assert_eq!(req.body, b"payload");
    }
    assert!(
        wide.conn_closed().contains(&CloseReason::ServerClosed),
        "conn_closed(server_closed) missing: {:?}",
        wide.all()
    );
    assert_eq!(srv.accepted(), 2);
    drop(client);
    srv.join();
}

fn get_x() -> Request<SendBody> {
    Request::get("http://x/").body(SendBody::empty()).unwrap()
}

fn post_x() -> Request<SendBody> {
    Request::post("http://x/").body("payload".into()).unwrap()
}

#[test]
fn server_closed_idle_connection_is_replaced() {
    within(LIMIT, || {
        idle_closed_then(get_x(), Duration::from_millis(100))
    });
}

#[test]
fn server_closed_idle_connection_is_replaced_shortly_after() {
    // 10 ms after the close: the GET may be retried (RFC 9110 §9.2.2).
    within(LIMIT, || {
        idle_closed_then(get_x(), Duration::from_millis(10))
    });
}

#[test]
fn server_closed_idle_connection_is_replaced_for_a_post() {
    // A POST is not retried once written (RFC 9110 §9.2.2), so a dead idle
    // connection must be noticed before it is used.
    within(LIMIT, || {
        idle_closed_then(post_x(), Duration::from_millis(100))
    });
}

#[test]
fn server_closed_idle_connection_is_replaced_for_a_post_shortly_after() {
    // Same, 10 ms after the server's FIN arrived.
    within(LIMIT, || {
        idle_closed_then(post_x(), Duration::from_millis(10))
    });
}

#[test]
fn idle_timeout_closes_the_pooled_connection() {
    within(LIMIT, || {
        let (tx, closed) = mpsc::channel();
        let srv = Srv::new(vec![
            one_report_close(
                b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na".to_vec(),
                Duration::from_secs(3),
                tx,
            ),
            one(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb".to_vec()),
        ]);
        let wide = Log::default();
        let client = client_with(&wide, |c| c.idle_timeout = Duration::from_millis(100));
        let log = Log::default();
        let body = get(&client, &srv.url("/"), &log).unwrap().into_body();
        assert_eq!(body.bytes().unwrap(), b"a");
        assert_eq!(log.put_idle_once(), None);
        std::thread::sleep(Duration::from_millis(250));

        let log2 = Log::default();
        let body = get(&client, &srv.url("/"), &log2).unwrap().into_body();
        assert_eq!(body.bytes().unwrap(), b"b");
        assert_eq!(log2.got_conn(), [false], "an expired connection was reused");
        assert!(log2.done_once().is_none());
        assert!(
            wide.conn_closed().contains(&CloseReason::IdleTimeout),
            "{:?}",
            wide.all()
        );
        assert_eq!(
            closed.recv_timeout(Duration::from_secs(5)),
            Ok(true),
            "the expired connection was not closed"
        );
        drop(client);
        srv.join();
    });
}

#[test]
fn dropping_the_client_closes_pooled_connections() {
    within(LIMIT, || {
        let (tx, closed) = mpsc::channel();
        let srv = Srv::new(vec![one_report_close(
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na".to_vec(),
            Duration::from_secs(3),
            tx,
        )]);
        let wide = Log::default();
        let client = client_with(&wide, |_| {});
        let body = client.get(&srv.url("/")).unwrap().into_body();
        assert_eq!(body.bytes().unwrap(), b"a");
        assert_eq!(client.idle_connections(), 1);
        drop(client);
        assert_eq!(closed.recv_timeout(Duration::from_secs(5)), Ok(true));
        assert_eq!(wide.conn_closed(), [CloseReason::ClientDropped]);
        srv.join();
    });
}

#[test]
fn pool_full_with_two_concurrent_requests() {
    within(LIMIT, || {
        let srv = Srv::new(vec![
            one(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na".to_vec()),
            one(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb".to_vec()),
        ]);
        let client = Client::builder()
            .configure(|c| c.max_idle_per_host = 1)
            .build();
        let (la, lb) = (Log::default(), Log::default());
        let mut batch = client.batch();
        batch.submit_traced(Request::get(srv.url("/a")).body(()).unwrap(), la.trace());
        batch.submit_traced(Request::get(srv.url("/b")).body(()).unwrap(), lb.trace());
        let mut bodies = Vec::new();
        while let Some((_, r)) = batch.wait() {
            bodies.push(r.unwrap().into_body());
        }
        drop(batch);
        let mut got: Vec<_> = bodies.into_iter().map(|b| b.bytes().unwrap()).collect();
        got.sort();
        assert_eq!(got, [b"a", b"b"]);
        assert_eq!(
            srv.accepted(),
            2,
            "two requests in flight need two connections"
        );
        let mut pooled = vec![la.put_idle_once(), lb.put_idle_once()];
        pooled.sort_by_key(|p| p.is_some());
        assert_eq!(pooled, [None, Some(CloseReason::PoolFull)]);
        assert!(la.done_once().is_none());
        assert!(lb.done_once().is_none());
        assert_eq!(client.idle_connections(), 1);
        drop(client);
        srv.join();
    });
}

// ----- requests refused before anything is sent -----------------------------

fn refused(request: Request<()>, phase: Phase, check: impl Fn(&ErrorKind) -> bool) {
    let srv = Srv::new(vec![]);
    let (mut parts, body) = request.into_parts();
    if parts.uri.host() == Some("srv") {
        let pq = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        parts.uri = format!("{}://{}{pq}", parts.uri.scheme_str().unwrap(), srv.addr)
            .parse()
            .unwrap();
    }
    let client = Client::new();
    let log = Log::default();
    let kind = err_in(
        client.send_traced(Request::from_parts(parts, body), log.trace()),
        phase,
    );
    assert!(check(&kind), "unexpected {kind:?}");
    let done = log.done_once().expect("request_done must carry the error");
    assert_eq!(done.phase(), phase);
    assert_eq!(log.count("got_conn"), 0);
    assert_eq!(log.count("wrote_headers"), 0);
    assert_no_connection(&srv);
    drop(client);
    srv.join();
}

#[test]
fn header_value_with_cr_lf_is_refused() {
    within(LIMIT, || {
        for bad in [
            &b"a\r\nInjected: 1"[..],
            b"a\nInjected: 1",
            b"a\rb",
            b"a\0b",
        ] {
            // HeaderValue refuses these bytes; a careless caller can still
            // get them in through the unchecked constructor.
            #[allow(unsafe_code)]
            let value =
                unsafe { HeaderValue::from_maybe_shared_unchecked(bytes::Bytes::from_static(bad)) };
            let req = Request::get("http://srv/")
                .header("x-test", value)
                .body(())
                .unwrap();
            refused(
                req,
                Phase::Request,
                |k| matches!(k, ErrorKind::InvalidHeaderValue { name, .. } if name == "x-test"),
            );
        }
    });
}

#[test]
fn two_host_headers_are_refused() {
    within(LIMIT, || {
        let req = Request::get("http://srv/")
            .header("host", "a.example")
            .header("host", "b.example")
            .body(())
            .unwrap();
        refused(
            req,
            Phase::Request,
            |k| matches!(k, ErrorKind::InvalidHeaderValue { name, .. } if name == "host"),
        );
    });
}

#[test]
fn host_with_two_hosts_in_one_value_is_refused() {
    // A list-splitting server or intermediary would read two Host values.
    within(LIMIT, || {
        for bad in ["a.example, b.example", "a.example b.example"] {
            let req = Request::get("http://srv/")
                .header("host", bad)
                .body(())
                .unwrap();
            refused(
                req,
                Phase::Request,
                |k| matches!(k, ErrorKind::InvalidHeaderValue { name, .. } if name == "host"),
            );
        }
    });
}

#[test]
fn caller_host_replaces_the_uri_authority_in_one_field_line() {
    within(LIMIT, || {
        let (tx, seen) = mpsc::channel();
        let srv = Srv::new(vec![Box::new(move |mut s| {
            let req = read_req(&mut s).unwrap();
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                .unwrap();
            let _ = tx.send(req);
            wait_client_close(&mut s, IO_TIMEOUT);
        })]);
        let client = Client::new();
        let req = Request::get(srv.url("/"))
            .header("HOST", "virtual.example:8080")
            .body(())
            .unwrap();
        assert_eq!(
            client.send(req).unwrap().into_body().bytes().unwrap(),
            b"ok"
        );
        let req = seen.recv_timeout(IO_TIMEOUT).unwrap();
        assert_eq!(req.header("host"), ["virtual.example:8080"], "{}", req.head);
        drop(client);
        srv.join();
    });
}

#[test]
fn cr_lf_nul_in_method_name_or_target_cannot_reach_the_wire() {
    // `http`'s types refuse these bytes when they are built (there is no
    // unchecked constructor for a method, a name or a URI), and the
    // request writer checks again (`h1::writer::validate_request`).
    for bad in [&b"GE\rT"[..], b"GE\nT", b"GE\0T", b"GE T"] {
        assert!(Method::from_bytes(bad).is_err(), "{bad:?}");
    }
    for bad in [&b"x-a\r"[..], b"x-a\n", b"x\0a", b"x a"] {
        assert!(http::HeaderName::from_bytes(bad).is_err(), "{bad:?}");
    }
    for bad in [
        "http://h/a\rb",
        "http://h/a\nb",
        "http://h/a\0b",
        "http://h/a b",
    ] {
        assert!(Request::get(bad).body(()).is_err(), "{bad:?}");
    }
    let headers = http::HeaderMap::new();
    for bad in ["/a\r\nX: 1", "/a\0b"] {
        let err = roundtrip::h1::writer::validate_request(&Method::GET, bad, &headers).unwrap_err();
        assert_eq!(err.phase(), Phase::Request);
    }
}

#[test]
fn unknown_scheme_is_unsupported() {
    within(LIMIT, || {
        let req = Request::get("ftp://srv/").body(()).unwrap();
        refused(
            req,
            Phase::Request,
            |k| matches!(k, ErrorKind::UnsupportedScheme(s) if s == "ftp"),
        );
    });
}

#[test]
fn relative_uri_is_refused() {
    within(LIMIT, || {
        let req = Request::get("/just/a/path").body(()).unwrap();
        refused(req, Phase::Request, |k| {
            matches!(k, ErrorKind::InvalidUri(_))
        });
        let client = Client::new();
        let kind = err_in(client.get("/just/a/path"), Phase::Request);
        assert!(matches!(kind, ErrorKind::InvalidUri(_)), "{kind:?}");
        let kind = err_in(client.get("not a uri at all"), Phase::Request);
        assert!(matches!(kind, ErrorKind::InvalidUri(_)), "{kind:?}");
    });
}

#[test]
fn unknown_host_fails_in_dns() {
    // `.invalid` names must be answered locally, with no query on the wire
    // (RFC 6761 §6.4). Keep it so when the DNS stub resolver lands: this
    // test must never send a query to the nameserver in resolv.conf.
    within(LIMIT, || {
        let client = Client::new();
        let log = Log::default();
        let r = get(&client, "http://no-such-host.invalid/", &log);
        let kind = err_in(r, Phase::Dns);
        assert!(
            matches!(&kind, ErrorKind::HostNotFound { host } if host == "no-such-host.invalid"),
            "{kind:?}"
        );
        assert_eq!(log.done_once().unwrap().phase(), Phase::Dns);
        assert_eq!(log.count("dns_start"), 1);
        assert_eq!(log.count("dns_done"), 1);
        assert_eq!(log.count("connect_start"), 0);
        assert_eq!(log.count("put_idle_conn"), 0);
    });
}

#[test]
fn connection_refused_lists_the_address() {
    within(LIMIT, || {
        let addr = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let client = Client::new();
        let log = Log::default();
        let r = get(&client, &format!("http://{addr}/"), &log);
        let kind = err_in(r, Phase::Connect);
        let ErrorKind::ConnectFailed(attempts) = &kind else {
            panic!("{kind:?}");
        };
        assert_eq!(attempts.len(), 1, "{attempts:?}");
        assert_eq!(attempts[0].addr, addr);
        assert_eq!(
            attempts[0].error.kind(),
            std::io::ErrorKind::ConnectionRefused
        );
        let shown = kind.to_string();
        assert!(shown.contains(&addr.to_string()), "{shown}");
        assert_eq!(log.done_once().unwrap().phase(), Phase::Connect);
        assert_eq!(log.count("connect_start"), 1);
        assert_eq!(log.count("connect_done"), 1);
        assert_eq!(log.count("got_conn"), 0);
    });
}

// ----- streaming and back-pressure ------------------------------------------

const BIG: u64 = 64 * 1024 * 1024;
const BLOCK: usize = 64 * 1024;

/// Block `k` of the big body: a fixed pseudo-random block, varied by `k`.
fn block(base: &[u8], k: u64, out: &mut [u8]) {
    let salt = (k as u8).wrapping_mul(151) ^ ((k >> 8) as u8);
    for (o, b) in out.iter_mut().zip(base) {
        *o = *b ^ salt;
    }
}

fn base_block() -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..BLOCK)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Fletcher-style checksum: order-sensitive, cheap.
#[derive(Default, Clone, Copy, PartialEq, Eq, Debug)]
struct Sum(u64, u64);

impl Sum {
    fn add(&mut self, data: &[u8]) {
        let (mut a, mut b) = (self.0, self.1);
        for &x in data {
            a = a.wrapping_add(x as u64);
            b = b.wrapping_add(a);
        }
        *self = Sum(a, b);
    }
}

#[test]
fn large_body_read_slowly_with_back_pressure() {
    within(Duration::from_secs(120), || {
        let written = Arc::new(AtomicU64::new(0));
        let w = written.clone();
        let (tx, server_sum) = mpsc::channel();
        let srv = Srv::new(vec![Box::new(move |mut s| {
            read_req(&mut s).unwrap();
            s.set_write_timeout(Some(Duration::from_secs(60))).unwrap();
            s.write_all(format!("HTTP/1.1 200 OK\r\nContent-Length: {BIG}\r\n\r\n").as_bytes())
                .unwrap();
            let base = base_block();
            let mut buf = vec![0u8; BLOCK];
            let mut sum = Sum::default();
            for k in 0..BIG / BLOCK as u64 {
                block(&base, k, &mut buf);
                sum.add(&buf);
                s.write_all(&buf).unwrap();
                w.fetch_add(BLOCK as u64, Ordering::SeqCst);
            }
            let _ = tx.send(sum);
            wait_client_close(&mut s, IO_TIMEOUT);
        })]);
        let client = Client::new();
        let log = Log::default();
        let mut body = get(&client, &srv.url("/big"), &log).unwrap().into_body();
        let mut buf = vec![0u8; 4096];
        let mut total: u64 = 0;
        let mut sum = Sum::default();
        let mut reads: u64 = 0;
        let mut paused = false;
        loop {
            let n = body.read_body(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            assert!(n <= 4096);
            sum.add(&buf[..n]);
            total += n as u64;
            reads += 1;
            if !paused && total >= 1024 * 1024 {
                // The reader stops: the client must stop reading the
                // socket too, so the server blocks long before the end.
                paused = true;
                std::thread::sleep(Duration::from_millis(300));
                let ahead = written.load(Ordering::SeqCst) - total;
                assert!(
                    ahead < 24 * 1024 * 1024,
                    "no back-pressure: the server got {ahead} bytes ahead of the reader"
                );
                assert_eq!(log.count("request_done"), 0);
            }
            if reads % 1024 == 0 {
                // Slow reader: a short nap every 4 MiB.
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        assert_eq!(total, BIG);
        let want = server_sum.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(sum, want, "checksum mismatch");
        let (bytes, _, error) = log.body_done();
        assert_eq!(bytes, BIG);
        assert!(error.is_none());
        assert!(log.done_once().is_none());
        assert_eq!(log.put_idle_once(), None);
        drop(body);
        drop(client);
        srv.join();
    });
}

#[test]
fn dropping_the_body_mid_stream_closes_the_connection() {
    within(LIMIT, || {
        let (tx, noticed) = mpsc::channel();
        let srv = Srv::new(vec![Box::new(move |mut s| {
            read_req(&mut s).unwrap();
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1073741824\r\n\r\n")
                .unwrap();
            let buf = vec![b'x'; 16 * 1024];
            // Write until the client goes away; report when it did.
            let started = Instant::now();
            loop {
                if let Err(e) = s.write_all(&buf) {
                    let _ = tx.send(Some((Instant::now(), e.kind())));
                    return;
                }
                if started.elapsed() > Duration::from_secs(8) {
                    let _ = tx.send(None);
                    return;
                }
            }
        })]);
        let client = Client::new();
        let log = Log::default();
        let mut body = get(&client, &srv.url("/endless"), &log)
            .unwrap()
            .into_body();
        let mut buf = vec![0u8; 64 * 1024];
        let mut got = 0;
        while got < 256 * 1024 {
            got += body.read_body(&mut buf).unwrap();
        }
        let dropped_at = Instant::now();
        drop(body);
        let (when, kind) = noticed
            .recv_timeout(Duration::from_secs(9))
            .unwrap()
            .expect("the server never noticed the client went away");
        let after = when.saturating_duration_since(dropped_at);
        assert!(
            after < Duration::from_secs(1),
            "noticed only after {after:?} ({kind:?})"
        );

        let (_, _, error) = log.body_done();
        let error = error.expect("response_body_done must carry the cancellation");
        assert!(matches!(error.kind(), ErrorKind::Cancelled), "{error:?}");
        assert_eq!(error.phase(), Phase::ReadResponseBody);
        assert_eq!(log.put_idle_once(), Some(CloseReason::Cancelled));
        let done = log
            .done_once()
            .expect("request_done must carry the cancellation");
        assert!(matches!(done.kind(), ErrorKind::Cancelled));
        let names = log.names();
        let pos = |n| names.iter().position(|x| *x == n).unwrap();
        assert!(pos("response_body_done") < pos("put_idle_conn"));
        assert!(pos("put_idle_conn") < pos("request_done"));
        assert_eq!(client.idle_connections(), 0);
        drop(client);
        srv.join();
    });
}

#[test]
fn early_final_response_while_the_body_is_still_uploading() {
    // The server refuses the upload after the head (413), closes its write
    // side and drains what the client still sends (a lingering close, as
    // nginx does). The caller gets the 413; the connection is not reused.
    within(LIMIT, || {
        let srv = Srv::new(vec![Box::new(|mut s| {
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                if !matches!(s.read(&mut byte), Ok(1)) {
                    return;
                }
                head.push(byte[0]);
            }
            s.write_all(
                b"HTTP/1.1 413 Content Too Large\r\nConnection: close\r\nContent-Length: 8\r\n\r\ntoo much",
            )
            .unwrap();
            let _ = s.shutdown(Shutdown::Write);
            wait_client_close(&mut s, Duration::from_secs(3));
        })]);
        let client = Client::new();
        let log = Log::default();
        let body = SendBody::from_reader(std::io::repeat(b'u').take(64 * 1024 * 1024));
        let req = Request::post(srv.url("/upload")).body(body).unwrap();
        let resp = client.send_traced(req, log.trace()).unwrap_or_else(|e| {
            panic!(
                "the early response was lost: {e} ({e:?}); trace {:?}",
                log.names()
            )
        });
        assert_eq!(resp.status(), 413);
        assert_eq!(resp.into_body().bytes().unwrap(), b"too much");
        assert!(log.done_once().is_none());
        assert!(log.put_idle_once().is_some(), "{:?}", log.all());
        assert_eq!(log.count("wrote_request"), 1);
        drop(client);
        srv.join();
    });
}

// ----- request bodies --------------------------------------------------------

/// A reader that yields `data` in pieces of at most `step` bytes, then
/// `fail` (an error) or EOF.
struct Dribble {
    data: Vec<u8>,
    at: usize,
    step: usize,
    fail: bool,
}

impl Read for Dribble {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.at == self.data.len() {
            if self.fail {
                return Err(std::io::Error::other("disk on fire"));
            }
            return Ok(0);
        }
        let n = buf.len().min(self.step).min(self.data.len() - self.at);
        buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

fn payload(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

fn dribble(n: usize, fail: bool) -> Dribble {
    Dribble {
        data: payload(n),
        at: 0,
        step: 7777,
        fail,
    }
}

/// Sends `body` as a POST; returns the result, what the server saw, the
/// log, and whether the server saw the connection closed (for a failed
/// request: by the client before it was dropped).
fn post(body: SendBody) -> (roundtrip::Result<Vec<u8>>, Option<SeenRequest>, Log, bool) {
    let (tx, seen) = mpsc::channel();
    let srv = Srv::new(vec![Box::new(move |mut s| {
        let req = read_req(&mut s);
        if req.as_ref().is_some_and(|r| !r.truncated) {
            let _ = s.write_all(b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok");
        }
        let closed = wait_client_close(&mut s, Duration::from_secs(3));
        let _ = tx.send((req, closed));
    })]);
    let client = Client::new();
    let log = Log::default();
    let req = Request::post(srv.url("/upload")).body(body).unwrap();
    let r = client
        .send_traced(req, log.trace())
        .and_then(|resp| resp.into_body().bytes());
    // A failed request must close its connection by itself; after a
    // successful one the pooled connection closes with the client.
    let client = if r.is_ok() {
        drop(client);
        None
    } else {
        Some(client)
    };
    let (req, closed) = seen.recv_timeout(LIMIT).unwrap();
    drop(client);
    srv.join();
    (r, req, log, closed)
}

#[test]
fn streamed_body_of_unknown_length_is_chunked() {
    within(LIMIT, || {
        let n = 40_000;
        let (r, seen, log, _) = post(SendBody::from_reader(dribble(n, false)));
        assert_eq!(r.unwrap(), b"ok");
        let seen = seen.unwrap();
        assert!(seen.chunked, "{}", seen.head);
        assert_eq!(seen.header("transfer-encoding"), ["chunked"]);
        assert!(seen.header("content-length").is_empty(), "{}", seen.head);
        assert!(!seen.truncated);
        assert_eq!(seen.body, payload(n));
        assert!(seen.raw_body.ends_with(b"0\r\n\r\n"));
        assert_eq!(log.count("wrote_request"), 1);
        assert!(log.done_once().is_none());
        assert_eq!(log.put_idle_once(), None);
    });
}

#[test]
fn empty_streamed_body_is_one_last_chunk() {
    within(LIMIT, || {
        let (r, seen, log, _) = post(SendBody::from_reader(std::io::empty()));
        assert_eq!(r.unwrap(), b"ok");
        let seen = seen.unwrap();
        assert!(seen.chunked);
        assert_eq!(seen.raw_body, b"0\r\n\r\n");
        assert!(log.done_once().is_none());
    });
}

#[test]
fn sized_reader_is_sent_with_content_length() {
    within(LIMIT, || {
        let n = 40_000;
        let (r, seen, log, _) = post(SendBody::sized_reader(dribble(n, false), n as u64));
        assert_eq!(r.unwrap(), b"ok");
        let seen = seen.unwrap();
        assert!(!seen.chunked, "{}", seen.head);
        assert_eq!(seen.header("content-length"), [n.to_string()]);
        assert!(seen.header("transfer-encoding").is_empty());
        assert_eq!(seen.body, payload(n));
        assert!(log.done_once().is_none());
        assert_eq!(log.put_idle_once(), None);
    });
}

#[test]
fn sized_reader_that_yields_fewer_bytes_fails() {
    within(LIMIT, || {
        let (r, seen, log, closed) = post(SendBody::sized_reader(dribble(100, false), 200));
        let kind = err_in(r, Phase::WriteRequest);
        assert!(
            matches!(
                kind,
                ErrorKind::BodyLengthMismatch {
                    expected: 200,
                    actual: 100
                }
            ),
            "{kind:?}"
        );
        let seen = seen.unwrap();
        assert!(seen.truncated, "the server got a whole request");
        assert!(closed, "the client must close the connection");
        let wrote: Vec<_> = log
            .all()
            .into_iter()
            .filter_map(|e| match e {
                Ev::WroteRequest { error } => Some(error),
                _ => None,
            })
            .collect();
        assert_eq!(wrote.len(), 1);
        assert!(wrote[0].is_some(), "wrote_request must carry the error");
        assert!(log.done_once().is_some());
        assert_eq!(log.put_idle_once(), Some(CloseReason::Error));
    });
}

#[test]
fn sized_reader_that_yields_more_bytes_fails() {
    // `SendBody::sized_reader`: "A reader that yields a different number
    // of bytes fails the request."
    within(LIMIT, || {
        let (r, _seen, log, _) = post(SendBody::sized_reader(dribble(300, false), 200));
        let kind = err_in(r, Phase::WriteRequest);
        assert!(
            matches!(kind, ErrorKind::BodyLengthMismatch { expected: 200, .. }),
            "{kind:?}"
        );
        assert!(log.done_once().is_some());
        assert_eq!(log.put_idle_once(), Some(CloseReason::Error));
    });
}

#[test]
fn request_body_reader_error() {
    within(LIMIT, || {
        let (r, seen, log, closed) = post(SendBody::from_reader(dribble(1000, true)));
        let kind = err_in(r, Phase::WriteRequest);
        assert!(
            matches!(&kind, ErrorKind::RequestBody(e) if e.to_string() == "disk on fire"),
            "{kind:?}"
        );
        let seen = seen.unwrap();
        assert!(seen.truncated, "the server must not see a complete body");
        assert!(closed);
        assert!(log.done_once().is_some());
        assert_eq!(log.put_idle_once(), Some(CloseReason::Error));
    });
}

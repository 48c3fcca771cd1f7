//! Loopback tests of response framing (RFC 9112 §6.3) and of the
//! keep-alive decision (§9.3), plus informational (1xx) responses
//! (RFC 9110 §15.2). Every test checks what the caller sees and what the
//! trace says about the connection: a connection whose framing is in doubt
//! is closed, never pooled (DESIGN.md principle 5).

#![forbid(unsafe_code)]

mod support;

use std::sync::mpsc;
use std::time::Duration;

use http::{Method, Request};
use roundtrip::{Client, CloseReason, ErrorKind, Limit, Phase};
use support::lo::*;

const LIMIT: Duration = Duration::from_secs(10);
const NEXT: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnext";

fn send(client: &Client, method: Method, url: &str, log: &Log) -> roundtrip::Result<Vec<u8>> {
    let req = Request::builder().method(method).uri(url).body(()).unwrap();
    client.send_traced(req, log.trace())?.into_body().bytes()
}

/// Serves `first` (to `method`) and then `NEXT` on the same connection.
/// Asserts the first body is `want`, that the connection was pooled, and
/// that the second request reused it (one connection in all).
fn framed_then_reused(method: Method, first: &'static [u8], want: &'static [u8]) {
    within(LIMIT, move || {
        let srv = Srv::new(vec![replies(vec![first.to_vec(), NEXT.to_vec()])]);
        let client = Client::new();
        let log = Log::default();
        let body = send(&client, method, &srv.url("/first"), &log).unwrap();
        assert_eq!(body, want);
        assert!(log.done_once().is_none());
        assert_eq!(log.put_idle_once(), None, "{:?}", log.all());
        assert_eq!(client.idle_connections(), 1);

        let log2 = Log::default();
        let body = send(&client, Method::GET, &srv.url("/next"), &log2).unwrap();
        assert_eq!(body, b"next");
        assert_eq!(log2.got_conn(), [true], "second request must reuse");
        assert!(log2.done_once().is_none());
        assert_eq!(srv.accepted(), 1);
        drop(client);
        srv.join();
    });
}

/// Serves `first` on one connection (closing it after the response when
/// `server_closes`) and `NEXT` on a second. Asserts the first body is
/// `want`, that the connection was not pooled for `reason`, that the
/// client really closed it, and that the next request got a fresh one.
fn framed_then_closed(
    request: Request<()>,
    first: &'static [u8],
    want: &'static [u8],
    reason: CloseReason,
    server_closes: bool,
) {
    within(LIMIT, move || {
        let (tx, closed) = mpsc::channel();
        let script = if server_closes {
            one_then_close(first)
        } else {
            one_report_close(first, Duration::from_secs(3), tx)
        };
        let srv = Srv::new(vec![script, one(NEXT)]);
        let client = Client::new();
        let log = Log::default();
        let (parts, ()) = request.into_parts();
        let mut parts = parts;
        parts.uri = srv.url("/first").parse().unwrap();
        let req = Request::from_parts(parts, ());
        let body = client
            .send_traced(req, log.trace())
            .unwrap()
            .into_body()
            .bytes()
            .unwrap();
        assert_eq!(body, want);
        assert!(log.done_once().is_none());
        assert_eq!(log.put_idle_once(), Some(reason), "{:?}", log.all());
        assert_eq!(client.idle_connections(), 0);
        if !server_closes {
            assert_eq!(
                closed.recv_timeout(Duration::from_secs(5)),
                Ok(true),
                "the client did not close the connection it refused to pool"
            );
        }

        let log2 = Log::default();
        let body = send(&client, Method::GET, &srv.url("/next"), &log2).unwrap();
        assert_eq!(body, b"next");
        assert_eq!(
            log2.got_conn(),
            [false],
            "next request must use a fresh conn"
        );
        assert_eq!(srv.accepted(), 2);
        drop(client);
        srv.join();
    });
}

fn get_req() -> Request<()> {
    Request::get("http://placeholder/").body(()).unwrap()
}

// ----- RFC 9112 §6.3 rule 1: responses without a body --------------------

#[test]
fn head_with_content_length_has_no_body_and_conn_is_reused() {
    framed_then_reused(
        Method::HEAD,
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nContent-Type: text/plain\r\n\r\n",
        b"",
    );
}

#[test]
fn head_with_chunked_has_no_body_and_conn_is_reused() {
    framed_then_reused(
        Method::HEAD,
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"",
    );
}

#[test]
fn status_204_has_no_body() {
    framed_then_reused(
        Method::GET,
        b"HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n",
        b"",
    );
}

#[test]
fn status_304_has_no_body_even_with_content_length() {
    framed_then_reused(
        Method::GET,
        b"HTTP/1.1 304 Not Modified\r\nContent-Length: 100\r\nETag: \"x\"\r\n\r\n",
        b"",
    );
}

// ----- rule 5: Content-Length ---------------------------------------------

#[test]
fn content_length_body() {
    framed_then_reused(
        Method::GET,
        b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world",
        b"hello world",
    );
}

#[test]
fn content_length_with_leading_zeros() {
    framed_then_reused(
        Method::GET,
        b"HTTP/1.1 200 OK\r\nContent-Length: 005\r\n\r\nhello",
        b"hello",
    );
    // Longer than u64's 20 digits, and still 5 (RFC 9110 §8.6).
    framed_then_reused(
        Method::GET,
        b"HTTP/1.1 200 OK\r\nContent-Length: 0000000000000000000000005\r\n\r\nhello",
        b"hello",
    );
}

#[test]
fn content_length_zero() {
    framed_then_reused(
        Method::GET,
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        b"",
    );
}

#[test]
fn several_equal_content_lengths_are_one() {
    framed_then_reused(
        Method::GET,
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
        b"hello",
    );
    framed_then_reused(
        Method::GET,
        b"HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\nhello",
        b"hello",
    );
}

/// A response whose head is a framing error: the caller gets `kind` in
/// the head phase and the connection is closed.
fn head_framing_error(response: &'static [u8], check: fn(&ErrorKind) -> bool) {
    within(LIMIT, move || {
        let (tx, closed) = mpsc::channel();
        let srv = Srv::new(vec![one_report_close(response, Duration::from_secs(3), tx)]);
        let client = Client::new();
        let log = Log::default();
        let r = send(&client, Method::GET, &srv.url("/"), &log);
        let kind = err_in(r, Phase::ReadResponseHead);
        assert!(check(&kind), "{response:?}: unexpected {kind:?}");
        let done = log.done_once().expect("request_done must carry the error");
        assert!(check(done.kind()));
        assert_eq!(log.put_idle_once(), Some(CloseReason::Error));
        assert_eq!(log.count("response_body_done"), 0);
        assert_eq!(client.idle_connections(), 0);
        assert_eq!(closed.recv_timeout(Duration::from_secs(5)), Ok(true));
        drop(client);
        srv.join();
    });
}

#[test]
fn differing_content_lengths_are_an_error() {
    for response in [
        &b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"[..],
        b"HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\nhello!",
    ] {
        head_framing_error(response, |k| {
            matches!(k, ErrorKind::ConflictingContentLength)
        });
    }
}

#[test]
fn content_length_that_is_not_a_number_is_an_error() {
    for response in [
        &b"HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\nhello"[..],
        b"HTTP/1.1 200 OK\r\nContent-Length: 5x\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\nContent-Length: 0x5\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\nhello",
    ] {
        head_framing_error(response, |k| matches!(k, ErrorKind::InvalidContentLength));
    }
}

// ----- rules 3 and 4: Transfer-Encoding ----------------------------------

#[test]
fn chunked_with_extensions_and_trailers() {
    within(LIMIT, || {
        let srv = Srv::new(vec![replies(vec![
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: Checksum\r\n\r\n\
              5;name=value\r\nhello\r\n\
              6 ; quoted=\"a b;c\" ; flag\r\n world\r\n\
              0;last\r\nChecksum: 42\r\nX-Two: b\r\n\r\n"
                .to_vec(),
            NEXT.to_vec(),
        ])]);
        let client = Client::new();
        let log = Log::default();
        let req = Request::get(srv.url("/")).body(()).unwrap();
        let mut body = client.send_traced(req, log.trace()).unwrap().into_body();
        assert!(body.trailers().is_none(), "no trailers before the end");
        let (bytes, err) = drain(&mut body);
        assert!(err.is_none(), "{err:?}");
        assert_eq!(bytes, b"hello world");
        let t = body.trailers().expect("trailers after the end");
        assert_eq!(t["checksum"], "42");
        assert_eq!(t["x-two"], "b");
        let (n, trailers, error) = log.body_done();
        assert_eq!(n, 11);
        assert!(error.is_none());
        assert_eq!(
            trailers.expect("trailers on response_body_done")["checksum"],
            "42"
        );
        assert!(log.done_once().is_none());
        assert_eq!(log.put_idle_once(), None);

        let log2 = Log::default();
        assert_eq!(
            send(&client, Method::GET, &srv.url("/"), &log2).unwrap(),
            b"next"
        );
        assert_eq!(log2.got_conn(), [true]);
        drop(body);
        drop(client);
        srv.join();
    });
}

/// Trailer field lines, and the empty line after them, may end in a bare
/// LF (RFC 9112 §2.2, §7.1.2): the body ends there and the connection
/// carries the next response.
#[test]
fn chunked_trailers_ending_in_bare_lf_end_the_body() {
    framed_then_reused(
        Method::GET,
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-T: 1\n\n",
        b"hello",
    );
}

#[test]
fn chunked_body_arriving_one_byte_at_a_time() {
    within(LIMIT, || {
        let wire: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
              3;x=y\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nT: 1\r\n\r\n";
        let srv = Srv::new(vec![Box::new(move |mut s| {
            read_req(&mut s).unwrap();
            for b in wire {
                use std::io::Write;
                if s.write_all(&[*b]).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_micros(300));
            }
            wait_client_close(&mut s, IO_TIMEOUT);
        })]);
        let client = Client::new();
        let log = Log::default();
        let req = Request::get(srv.url("/")).body(()).unwrap();
        let mut body = client.send_traced(req, log.trace()).unwrap().into_body();
        let (bytes, err) = drain(&mut body);
        assert!(err.is_none(), "{err:?}");
        assert_eq!(bytes, b"abc0123456789abcdef");
        assert_eq!(body.trailers().unwrap()["t"], "1");
        assert!(log.done_once().is_none());
        assert_eq!(log.put_idle_once(), None);
        drop(body);
        drop(client);
        srv.join();
    });
}

#[test]
fn transfer_encoding_not_ending_in_chunked_reads_until_close() {
    // RFC 9112 §6.3 rule 4: the body is whatever arrives until the close;
    // the coding is not the client's to undo.
    framed_then_closed(
        get_req(),
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n\x1f\x8b raw gzip bytes 0\r\n\r\n",
        b"\x1f\x8b raw gzip bytes 0\r\n\r\n",
        CloseReason::CloseDelimited,
        true,
    );
}

#[test]
fn chunked_then_gzip_reads_until_close() {
    framed_then_closed(
        get_req(),
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        b"5\r\nhello\r\n0\r\n\r\n",
        CloseReason::CloseDelimited,
        true,
    );
}

#[test]
fn chunked_and_content_length_chunked_wins_and_conn_is_closed() {
    // RFC 9112 §6.3 rule 3: Transfer-Encoding overrides Content-Length,
    // and such a message "ought to be handled as an error"; the client
    // reads it as chunked but must not reuse the connection.
    framed_then_closed(
        get_req(),
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        b"hello",
        CloseReason::AmbiguousFraming,
        false,
    );
}

#[test]
fn chunked_on_http10_is_ambiguous() {
    framed_then_closed(
        get_req(),
        b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        b"hello",
        CloseReason::AmbiguousFraming,
        false,
    );
}

// ----- rule 7 and keep-alive (§9.3) ---------------------------------------

#[test]
fn no_length_reads_until_close() {
    framed_then_closed(
        get_req(),
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of this, until the end",
        b"all of this, until the end",
        CloseReason::CloseDelimited,
        true,
    );
}

#[test]
fn http10_without_keep_alive_is_not_reused() {
    framed_then_closed(
        get_req(),
        b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
        b"ok",
        CloseReason::ConnectionClose,
        false,
    );
}

/// RFC 9110 §2.5: a higher minor version of HTTP/1 is processed as
/// HTTP/1.1, which persists by default.
#[test]
fn http12_is_read_as_http11_and_reused() {
    framed_then_reused(
        Method::GET,
        b"HTTP/1.2 200 OK\r\nContent-Length: 2\r\n\r\nok",
        b"ok",
    );
}

#[test]
fn http10_with_keep_alive_and_length_is_reused() {
    framed_then_reused(
        Method::GET,
        b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok",
        b"ok",
    );
}

#[test]
fn connection_close_from_server_is_not_reused() {
    framed_then_closed(
        get_req(),
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
        b"ok",
        CloseReason::ConnectionClose,
        false,
    );
}

#[test]
fn connection_close_in_a_token_list_is_not_reused() {
    framed_then_closed(
        get_req(),
        b"HTTP/1.1 200 OK\r\nConnection: x-foo, Close\r\nContent-Length: 2\r\n\r\nok",
        b"ok",
        CloseReason::ConnectionClose,
        false,
    );
}

#[test]
fn connection_close_in_the_request_is_not_reused() {
    let req = Request::get("http://placeholder/")
        .header("connection", "close")
        .body(())
        .unwrap();
    framed_then_closed(
        req,
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        b"ok",
        CloseReason::ConnectionClose,
        false,
    );
}

// ----- informational responses ---------------------------------------------

#[test]
fn early_hints_then_final_response() {
    within(LIMIT, || {
        let srv = Srv::new(vec![replies(vec![
            b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\nLink: </app.js>; rel=preload\r\n\r\n\
              HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal"
                .to_vec(),
            NEXT.to_vec(),
        ])]);
        let client = Client::new();
        let log = Log::default();
        let resp = client
            .send_traced(Request::get(srv.url("/")).body(()).unwrap(), log.trace())
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert!(resp.headers().get("link").is_none(), "1xx fields leaked");
        assert_eq!(resp.into_body().bytes().unwrap(), b"final");
        let hints: Vec<_> = log
            .all()
            .into_iter()
            .filter_map(|e| match e {
                Ev::Got1xx { code, headers } => Some((code, headers)),
                _ => None,
            })
            .collect();
        assert_eq!(hints.len(), 1);
        assert_eq!(hints[0].0, 103);
        let links: Vec<_> = hints[0].1.get_all("link").iter().collect();
        assert_eq!(
            links,
            [
                "</style.css>; rel=preload; as=style",
                "</app.js>; rel=preload"
            ]
        );
        let names = log.names();
        let pos = |n| names.iter().position(|x| *x == n).unwrap();
        assert!(pos("got_1xx_response") < pos("got_response_headers"));
        assert_eq!(log.count("got_100_continue"), 0);
        assert!(log.done_once().is_none());
        assert_eq!(log.put_idle_once(), None);

        let log2 = Log::default();
        assert_eq!(
            send(&client, Method::GET, &srv.url("/"), &log2).unwrap(),
            b"next"
        );
        assert_eq!(log2.got_conn(), [true]);
        drop(client);
        srv.join();
    });
}

#[test]
fn continue_to_a_get_without_expect_is_skipped() {
    within(LIMIT, || {
        let srv = Srv::new(vec![one(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec(),
        )]);
        let client = Client::new();
        let log = Log::default();
        assert_eq!(
            send(&client, Method::GET, &srv.url("/"), &log).unwrap(),
            b"ok"
        );
        let codes: Vec<_> = log
            .all()
            .into_iter()
            .filter_map(|e| match e {
                Ev::Got1xx { code, .. } => Some(code),
                _ => None,
            })
            .collect();
        assert_eq!(codes, [100]);
        assert!(log.done_once().is_none());
        assert_eq!(log.put_idle_once(), None);
        drop(client);
        srv.join();
    });
}

#[test]
fn switching_protocols_without_upgrade_is_an_error() {
    head_framing_error(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n\x81\x05hello",
        |k| matches!(k, ErrorKind::UnexpectedSwitchingProtocols),
    );
}

fn informational(count: usize) -> Vec<u8> {
    let mut wire = Vec::new();
    for i in 0..count {
        wire.extend_from_slice(format!("HTTP/1.1 102 Processing\r\nX-I: {i}\r\n\r\n").as_bytes());
    }
    wire.extend_from_slice(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    wire
}

fn informational_limit(max: Option<usize>, count: usize) -> (Log, roundtrip::Result<Vec<u8>>) {
    let srv = Srv::new(vec![one(informational(count))]);
    let log = Log::default();
    let client = Client::builder()
        .configure(|c| {
            if let Some(m) = max {
                c.max_1xx_responses = m;
            }
        })
        .build();
    let r = send(&client, Method::GET, &srv.url("/"), &log);
    drop(client);
    srv.join();
    (log, r)
}

#[test]
fn twenty_informational_responses_are_allowed() {
    within(LIMIT, || {
        let (log, r) = informational_limit(None, 20);
        assert_eq!(r.unwrap(), b"ok");
        assert_eq!(log.count("got_1xx_response"), 20);
        assert!(log.done_once().is_none());
    });
}

#[test]
fn twenty_one_informational_responses_exceed_the_limit() {
    within(LIMIT, || {
        let (log, r) = informational_limit(None, 21);
        let kind = err_in(r, Phase::ReadResponseHead);
        assert!(
            matches!(
                kind,
                ErrorKind::LimitExceeded {
                    limit: Limit::InformationalResponses,
                    max: 20
                }
            ),
            "{kind:?}"
        );
        assert_eq!(log.count("got_1xx_response"), 20);
        assert!(log.done_once().is_some());
        assert_eq!(log.put_idle_once(), Some(CloseReason::Error));
    });
}

#[test]
fn informational_limit_is_configurable() {
    within(LIMIT, || {
        let (log, r) = informational_limit(Some(2), 2);
        assert_eq!(r.unwrap(), b"ok");
        assert!(log.done_once().is_none());

        let (log, r) = informational_limit(Some(2), 3);
        let kind = err_in(r, Phase::ReadResponseHead);
        assert!(
            matches!(
                kind,
                ErrorKind::LimitExceeded {
                    limit: Limit::InformationalResponses,
                    max: 2
                }
            ),
            "{kind:?}"
        );
        assert!(log.done_once().is_some());
        assert_eq!(log.put_idle_once(), Some(CloseReason::Error));
    });
}

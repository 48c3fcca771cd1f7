//! The trace contract (src/trace/mod.rs): which events fire, how often and
//! in which order, checked against Go's `httptrace` order for the same
//! round trips, over real loopback sockets.

#![forbid(unsafe_code)]

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use roundtrip::{Client, CloseReason, Trace};
use support::*;

/// Event names with consecutive `wrote_header_field`s folded into one
/// `wrote_header_field*`, so sequences read like Go's documentation.
fn folded(names: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for n in names {
        if n == "wrote_header_field" {
            if out.last().map(String::as_str) != Some("wrote_header_field*") {
                out.push("wrote_header_field*".into());
            }
        } else {
            out.push(n.clone());
        }
    }
    out
}

fn client_with_host(name: &str) -> Client {
    Client::builder()
        .configure(|c| c.hosts.push((name.into(), "127.0.0.1".parse().unwrap())))
        .build()
}

fn count(names: &[String], name: &str) -> usize {
    names.iter().filter(|n| *n == name).count()
}

#[test]
fn fresh_connection_get_follows_go_order() {
    let server = serve(vec![respond(vec![
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    ])]);
    let client = client_with_host("origin.test");
    let rec = Recorder::default();
    let url = format!("http://origin.test:{}/", server.addr.port());
    let req = http::Request::get(url)
        .header("x-one", "1")
        .body(())
        .unwrap();
    let resp = client.send_traced(req, rec.trace()).unwrap();
    assert_eq!(resp.into_body().text().unwrap(), "ok");
    assert_eq!(
        folded(&rec.names()),
        [
            "get_conn",
            "dns_start",
            "dns_done",
            "connect_start",
            "connect_done",
            "got_conn",
            "wrote_header_field*",
            "wrote_headers",
            "wrote_request",
            "got_first_response_byte",
            "got_response_headers",
            "response_body_done",
            "put_idle_conn",
            "request_done",
        ]
    );
    let lines = rec.lines();
    assert!(
        lines[2].contains(r#""addrs":["127.0.0.1"]"#),
        "{}",
        lines[2]
    );
    assert!(lines[5].contains(r#""reused":false"#));
    // Host first, then the caller's headers in order.
    let fields: Vec<_> = lines
        .iter()
        .filter(|l| l.contains("wrote_header_field"))
        .collect();
    assert!(fields[0].contains(r#""name":"Host""#), "{}", fields[0]);
    assert!(fields
        .iter()
        .any(|l| l.contains(r#""name":"x-one","values":["1"]"#)));
    let put = lines.iter().find(|l| l.contains("put_idle_conn")).unwrap();
    assert!(put.contains(r#""error":null"#), "{put}");
}

#[test]
fn reused_connection_reports_idle_time() {
    let server = serve(vec![respond(vec![
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb",
    ])]);
    let client = Client::new();
    client
        .get(&server.url("/1"))
        .unwrap()
        .into_body()
        .bytes()
        .unwrap();
    std::thread::sleep(Duration::from_millis(30));

    let seen = Arc::new(Mutex::new(None));
    let s = seen.clone();
    let rec = Recorder::default();
    let mut trace = rec.trace();
    trace.add(
        Trace::new().on_got_conn(move |_, conn, reused, was_idle, idle, _, _| {
            *s.lock().unwrap() = Some((conn, reused, was_idle, idle));
        }),
    );
    let req = http::Request::get(server.url("/2")).body(()).unwrap();
    let body = client
        .send_traced(req, trace)
        .unwrap()
        .into_body()
        .text()
        .unwrap();
    assert_eq!(body, "b");
    assert_eq!(
        folded(&rec.names()),
        [
            "get_conn",
            "got_conn",
            "wrote_header_field*",
            "wrote_headers",
            "wrote_request",
            "got_first_response_byte",
            "got_response_headers",
            "response_body_done",
            "put_idle_conn",
            "request_done",
        ]
    );
    let (conn, reused, was_idle, idle) = seen.lock().unwrap().unwrap();
    assert_eq!(conn.0, 1, "the first connection is reused");
    assert!(reused && was_idle);
    assert!(idle >= Duration::from_millis(30), "idle_time {idle:?}");
    assert!(idle < Duration::from_secs(10), "idle_time {idle:?}");
}

fn expect_server(send_100: bool) -> Script {
    Box::new(move |mut s, reqs| {
        let head = read_head(&mut s);
        assert!(String::from_utf8_lossy(&head)
            .to_ascii_lowercase()
            .contains("expect: 100-continue"));
        if send_100 {
            s.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").unwrap();
        }
        body_then(
            &mut s,
            reqs,
            b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
        );
    })
}

/// Reads the 5-byte body, records it, answers `response`, then reads
/// until the client closes.
fn body_then(s: &mut TcpStream, reqs: &Mutex<Vec<Vec<u8>>>, response: &[u8]) {
    let mut body = [0u8; 5];
    s.read_exact(&mut body).unwrap();
    reqs.lock().unwrap().push(body.to_vec());
    s.write_all(response).unwrap();
    let mut sink = [0u8; 16];
    while matches!(s.read(&mut sink), Ok(n) if n > 0) {}
}

/// Reads up to the end of a head, not past it.
fn read_head(s: &mut TcpStream) -> Vec<u8> {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut b).unwrap() == 0 {
            break;
        }
        head.push(b[0]);
    }
    head
}

#[test]
fn expect_100_continue_follows_go_order() {
    let server = serve(vec![expect_server(true)]);
    let client = Client::new();
    let rec = Recorder::default();
    let req = http::Request::post(server.url("/up"))
        .header("expect", "100-continue")
        .body("hello")
        .unwrap();
    let resp = client.send_traced(req, rec.trace()).unwrap();
    assert_eq!(resp.status(), 201);
    drop(resp);
    assert_eq!(
        folded(&rec.names()),
        [
            "get_conn",
            "connect_start",
            "connect_done",
            "got_conn",
            "wrote_header_field*",
            "wrote_headers",
            "wait_100_continue",
            "got_first_response_byte",
            "got_100_continue",
            "got_1xx_response",
            "wrote_request",
            "got_response_headers",
            "response_body_done",
            "put_idle_conn",
            "request_done",
        ]
    );
    assert!(rec
        .lines()
        .iter()
        .any(|l| l.contains(r#""event":"got_1xx_response","resend":0,"hop":0,"code":100"#)));
    let received = server.requests.lock().unwrap().clone();
    assert_eq!(received, [b"hello".to_vec()]);
}

#[test]
fn expect_100_timeout_sends_the_body_anyway() {
    let server = serve(vec![expect_server(false)]);
    let client = Client::builder()
        .configure(|c| c.expect_continue_timeout = Duration::from_millis(50))
        .build();
    let rec = Recorder::default();
    let req = http::Request::put(server.url("/up"))
        .header("expect", "100-continue")
        .body("hello")
        .unwrap();
    let resp = client.send_traced(req, rec.trace()).unwrap();
    assert_eq!(resp.status(), 201);
    drop(resp);
    let names = folded(&rec.names());
    let wait = names.iter().position(|n| n == "wait_100_continue").unwrap();
    let wrote = names.iter().position(|n| n == "wrote_request").unwrap();
    assert!(wait < wrote);
    assert_eq!(count(&names, "got_100_continue"), 0);
    assert_eq!(server.requests.lock().unwrap().clone(), [b"hello".to_vec()]);
}

/// A server that answers the head of a 100-continue request with `final`
/// and checks that the body never comes: the client closes instead.
fn final_instead_of_100(final_head: &'static [u8]) -> Script {
    Box::new(move |mut s, _| {
        let head = read_head(&mut s);
        assert!(String::from_utf8_lossy(&head)
            .to_ascii_lowercase()
            .contains("expect: 100-continue"));
        s.write_all(final_head).unwrap();
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest);
        assert!(
            rest.is_empty(),
            "body was sent after a final status: {rest:?}"
        );
    })
}

#[test]
fn final_status_instead_of_100_skips_the_body_and_closes() {
    let server = serve(vec![final_instead_of_100(
        b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n",
    )]);
    let client = Client::new();
    let rec = Recorder::default();
    let req = http::Request::post(server.url("/up"))
        .header("expect", "100-continue")
        .body("hello")
        .unwrap();
    let resp = client.send_traced(req, rec.trace()).unwrap();
    assert_eq!(resp.status(), 403);
    drop(resp);
    let lines = rec.lines();
    let wrote = lines.iter().find(|l| l.contains("wrote_request")).unwrap();
    assert!(wrote.contains(r#""error":null"#));
    let put = lines.iter().find(|l| l.contains("put_idle_conn")).unwrap();
    assert!(put.contains(r#""error":"request_body_unsent""#), "{put}");
    assert_eq!(count(&rec.names(), "retry"), 0);
    drop(client);
    server.join();
}

/// RFC 9110 §10.1.1: a 417 to a 100-continue request is answered by
/// sending the request again without the expectation (as curl does), on a
/// new connection, since the first one still waits for the body.
#[test]
fn expectation_failed_is_retried_without_the_expectation() {
    let server = serve(vec![
        final_instead_of_100(b"HTTP/1.1 417 Expectation Failed\r\nContent-Length: 0\r\n\r\n"),
        Box::new(|mut s, reqs| {
            let head = String::from_utf8_lossy(&read_head(&mut s)).to_ascii_lowercase();
            assert!(!head.contains("expect"), "{head}");
            assert!(head.contains("content-length: 5"), "{head}");
            body_then(
                &mut s,
                reqs,
                b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
            );
        }),
    ]);
    let client = Client::new();
    let rec = Recorder::default();
    let req = http::Request::put(server.url("/up"))
        .header("expect", "100-continue")
        .body("hello")
        .unwrap();
    let resp = client.send_traced(req, rec.trace()).unwrap();
    assert_eq!(resp.status(), 201);
    drop(resp);
    assert_eq!(server.requests.lock().unwrap().clone(), [b"hello".to_vec()]);
    assert_eq!(
        folded(&rec.names()),
        [
            "get_conn",
            "connect_start",
            "connect_done",
            "got_conn",
            "wrote_header_field*",
            "wrote_headers",
            "wait_100_continue",
            "got_first_response_byte",
            "wrote_request",
            "put_idle_conn",
            "retry",
            "get_conn",
            "connect_start",
            "connect_done",
            "got_conn",
            "wrote_header_field*",
            "wrote_headers",
            "wrote_request",
            "got_first_response_byte",
            "got_response_headers",
            "response_body_done",
            "put_idle_conn",
            "request_done",
        ]
    );
    let lines = rec.lines();
    let retry = lines
        .iter()
        .find(|l| l.contains(r#""event":"retry""#))
        .unwrap();
    assert!(
        retry.contains("417 Expectation Failed to a 100-continue request"),
        "{retry}"
    );
    let put = lines.iter().find(|l| l.contains("put_idle_conn")).unwrap();
    assert!(put.contains(r#""error":"request_body_unsent""#), "{put}");
    // The first attempt's body never went out: its wrote_request says why.
    let wrote: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("wrote_request"))
        .collect();
    assert_eq!(wrote.len(), 2);
    assert!(
        wrote[0].contains("417 Expectation Failed to a 100-continue request"),
        "{}",
        wrote[0]
    );
    assert!(wrote[1].contains(r#""error":null"#), "{}", wrote[1]);
    drop(client);
    server.join();
}

/// The retry goes out without the expectation, so a second 417 is the
/// answer: one retry, never a loop.
#[test]
fn expectation_failed_is_retried_once() {
    let second: Script = Box::new(|mut s, reqs| {
        let head = String::from_utf8_lossy(&read_head(&mut s)).to_ascii_lowercase();
        assert!(!head.contains("expect"), "{head}");
        body_then(
            &mut s,
            reqs,
            b"HTTP/1.1 417 Expectation Failed\r\nContent-Length: 0\r\n\r\n",
        );
    });
    let server = serve(vec![
        final_instead_of_100(b"HTTP/1.1 417 Expectation Failed\r\nContent-Length: 0\r\n\r\n"),
        second,
    ]);
    let client = Client::new();
    let rec = Recorder::default();
    let req = http::Request::put(server.url("/up"))
        .header("expect", "100-continue")
        .body("hello")
        .unwrap();
    let resp = client.send_traced(req, rec.trace()).unwrap();
    assert_eq!(resp.status(), 417);
    drop(resp);
    assert_eq!(count(&rec.names(), "retry"), 1);
    assert_eq!(server.requests.lock().unwrap().clone(), [b"hello".to_vec()]);
    drop(client);
    server.join();
}

/// Once the wait for `100` timed out and the body went out, a 417 is the
/// answer: the body cannot be taken back.
#[test]
fn expectation_failed_after_the_body_is_the_answer() {
    let server = serve(vec![Box::new(|mut s, reqs| {
        read_head(&mut s);
        body_then(
            &mut s,
            reqs,
            b"HTTP/1.1 417 Expectation Failed\r\nContent-Length: 0\r\n\r\n",
        );
    })]);
    let client = Client::builder()
        .configure(|c| c.expect_continue_timeout = Duration::from_millis(50))
        .build();
    let rec = Recorder::default();
    let req = http::Request::put(server.url("/up"))
        .header("expect", "100-continue")
        .body("hello")
        .unwrap();
    let resp = client.send_traced(req, rec.trace()).unwrap();
    assert_eq!(resp.status(), 417);
    drop(resp);
    let names = rec.names();
    assert_eq!(count(&names, "retry"), 0);
    assert_eq!(count(&names, "wait_100_continue"), 1);
    assert_eq!(server.requests.lock().unwrap().clone(), [b"hello".to_vec()]);
    drop(client);
    server.join();
}

/// A body that cannot be sent twice cannot be retried: the caller gets
/// the 417.
#[test]
fn expectation_failed_with_a_one_shot_body_is_the_answer() {
    let server = serve(vec![final_instead_of_100(
        b"HTTP/1.1 417 Expectation Failed\r\nContent-Length: 0\r\n\r\n",
    )]);
    let client = Client::new();
    let rec = Recorder::default();
    let body = roundtrip::SendBody::sized_reader(std::io::Cursor::new(b"hello".to_vec()), 5);
    let req = http::Request::post(server.url("/up"))
        .header("expect", "100-continue")
        .body(body)
        .unwrap();
    let resp = client.send_traced(req, rec.trace()).unwrap();
    assert_eq!(resp.status(), 417);
    drop(resp);
    assert_eq!(count(&rec.names(), "retry"), 0);
    drop(client);
    server.join();
}

#[test]
fn server_closing_an_idle_connection_is_noticed_before_reuse() {
    let server = serve(vec![
        Box::new(|mut s, _| {
            read_request(&mut s);
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na")
                .unwrap();
            // Close while the client holds the connection idle.
        }),
        respond(vec![b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb"]),
    ]);
    let closed = Arc::new(Mutex::new(Vec::new()));
    let c2 = closed.clone();
    let client = Client::builder()
        .trace(
            Trace::new()
                .on_conn_closed(move |_, conn, reason| c2.lock().unwrap().push((conn, reason))),
        )
        .build();
    assert_eq!(
        client
            .get(&server.url("/1"))
            .unwrap()
            .into_body()
            .text()
            .unwrap(),
        "a"
    );
    std::thread::sleep(Duration::from_millis(100));
    let rec = Recorder::default();
    let req = http::Request::get(server.url("/2")).body(()).unwrap();
    let resp = client.send_traced(req, rec.trace()).unwrap();
    assert_eq!(resp.into_body().text().unwrap(), "b");
    let names = folded(&rec.names());
    assert_eq!(
        &names[..4],
        ["get_conn", "connect_start", "connect_done", "got_conn"]
    );
    assert_eq!(count(&names, "retry"), 0);
    let closed = closed.lock().unwrap().clone();
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0].1, CloseReason::ServerClosed);
}

#[test]
fn failure_on_a_reused_connection_is_retried_once_on_a_new_one() {
    let server = serve(vec![
        Box::new(|mut s, _| {
            read_request(&mut s);
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na")
                .unwrap();
            // Drain the second request, then close without answering.
            let _ = read_request(&mut s);
        }),
        respond(vec![b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb"]),
    ]);
    // Never probe before reuse, so the failure happens on the wire.
    let client = Client::builder()
        .configure(|c| c.idle_probe_after = Duration::from_secs(3600))
        .build();
    assert_eq!(
        client
            .get(&server.url("/1"))
            .unwrap()
            .into_body()
            .text()
            .unwrap(),
        "a"
    );
    let rec = Recorder::default();
    let req = http::Request::get(server.url("/2")).body(()).unwrap();
    let resp = client.send_traced(req, rec.trace()).unwrap();
    assert_eq!(resp.into_body().text().unwrap(), "b");
    let names = folded(&rec.names());
    assert_eq!(
        names,
        [
            "get_conn",
            "got_conn",
            "wrote_header_field*",
            "wrote_headers",
            "wrote_request",
            "put_idle_conn",
            "retry",
            "get_conn",
            "connect_start",
            "connect_done",
            "got_conn",
            "wrote_header_field*",
            "wrote_headers",
            "wrote_request",
            "got_first_response_byte",
            "got_response_headers",
            "response_body_done",
            "put_idle_conn",
            "request_done",
        ]
    );
    let lines = rec.lines();
    let retry = rec.names().iter().position(|n| n == "retry").unwrap();
    // The server read the request and closed: the reason is that close,
    // seen while waiting for the head.
    assert!(
        lines[retry].contains(
            r#""reason":"read_response_head: connection closed before a complete response head""#
        ),
        "{}",
        lines[retry]
    );
    for (i, l) in lines.iter().enumerate() {
        let want = if i <= retry {
            r#""resend":0"#
        } else {
            r#""resend":1"#
        };
        assert!(l.contains(want), "{l}");
    }
}

#[test]
fn post_with_a_byte_body_is_retried_once_after_a_reused_connection_died() {
    // Issue 2's rule and curl's: the method does not matter, only that the
    // body can be sent again (Go would give up: POST is not idempotent).
    let server = serve(vec![
        Box::new(|mut s, _| {
            read_request(&mut s);
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na")
                .unwrap();
            // Read the whole POST, body included, then close unanswered.
            let _ = read_request(&mut s);
        }),
        respond(vec![b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\ncreated"]),
    ]);
    let client = Client::builder()
        .configure(|c| c.idle_probe_after = Duration::from_secs(3600))
        .build();
    client
        .get(&server.url("/1"))
        .unwrap()
        .into_body()
        .bytes()
        .unwrap();
    let rec = Recorder::default();
    let req = http::Request::post(server.url("/2"))
        .body(roundtrip::SendBody::from(b"payload".to_vec()))
        .unwrap();
    let resp = client.send_traced(req, rec.trace()).unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.into_body().text().unwrap(), "created");
    let names = rec.names();
    assert_eq!(count(&names, "retry"), 1, "{names:?}");
    assert_eq!(count(&names, "wrote_request"), 2, "{names:?}");
    let lines = rec.lines();
    let retry = names.iter().position(|n| n == "retry").unwrap();
    assert!(
        lines[retry].contains(r#""resend":0"#) && lines[retry].contains("connection closed"),
        "{}",
        lines[retry]
    );
    assert!(lines.last().unwrap().contains(r#""resend":1"#));
    assert!(lines.last().unwrap().contains("request_done"));
    // The new connection got the whole POST again, body and all.
    let seen = server.requests.lock().unwrap().clone();
    let resent = String::from_utf8_lossy(seen.last().unwrap()).into_owned();
    assert!(resent.starts_with("POST /2 HTTP/1.1\r\n"), "{resent}");
    assert!(resent.ends_with("\r\n\r\npayload"), "{resent}");
}

#[test]
fn non_replayable_body_is_not_retried() {
    let server = serve(vec![Box::new(|mut s, _| {
        read_request(&mut s);
        s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na")
            .unwrap();
        let mut b = [0u8; 1];
        let _ = s.read(&mut b);
    })]);
    let client = Client::builder()
        .configure(|c| c.idle_probe_after = Duration::from_secs(3600))
        .build();
    client
        .get(&server.url("/1"))
        .unwrap()
        .into_body()
        .bytes()
        .unwrap();
    let rec = Recorder::default();
    let body = roundtrip::SendBody::from_reader(std::io::Cursor::new(b"stream".to_vec()));
    let req = http::Request::post(server.url("/2")).body(body).unwrap();
    let err = client.send_traced(req, rec.trace()).unwrap_err();
    // The reset may surface while writing or while waiting for the head.
    assert!(
        matches!(
            err.phase(),
            roundtrip::Phase::ReadResponseHead | roundtrip::Phase::WriteRequest
        ),
        "{err}"
    );
    let names = rec.names();
    assert_eq!(count(&names, "retry"), 0);
    assert_eq!(names.last().unwrap(), "request_done");
}

#[test]
fn failures_end_with_exactly_one_request_done() {
    // Connection refused: no got_conn, connect_done carries the error.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let client = client_with_host("origin.test");
    let rec = Recorder::default();
    let req = http::Request::get(format!("http://127.0.0.1:{port}/"))
        .body(())
        .unwrap();
    let err = client.send_traced(req, rec.trace()).unwrap_err();
    assert_eq!(err.phase(), roundtrip::Phase::Connect);
    assert_eq!(
        rec.names(),
        ["get_conn", "connect_start", "connect_done", "request_done"]
    );
    assert!(rec.lines()[2].contains("refused"), "{}", rec.lines()[2]);

    // Unknown name: dns_done carries the error.
    rec.clear();
    let req = http::Request::get("http://unknown-name.invalid/")
        .body(())
        .unwrap();
    let err = client.send_traced(req, rec.trace()).unwrap_err();
    assert_eq!(err.phase(), roundtrip::Phase::Dns);
    assert_eq!(
        rec.names(),
        ["get_conn", "dns_start", "dns_done", "request_done"]
    );

    // Invalid request: only request_done.
    rec.clear();
    let req = http::Request::get("/relative").body(()).unwrap();
    let err = client.send_traced(req, rec.trace()).unwrap_err();
    assert_eq!(err.phase(), roundtrip::Phase::Request);
    assert_eq!(rec.names(), ["request_done"]);
}

#[test]
fn request_hooks_run_before_client_hooks() {
    let server = serve(vec![respond(vec![b"HTTP/1.1 204 No Content\r\n\r\n"])]);
    let order = Arc::new(Mutex::new(Vec::new()));
    let o = order.clone();
    let client = Client::builder()
        .trace(Trace::new().on_request_done(move |_, _| o.lock().unwrap().push("client")))
        .build();
    let o = order.clone();
    let trace = Trace::new().on_request_done(move |_, _| o.lock().unwrap().push("request"));
    let req = http::Request::get(server.url("/")).body(()).unwrap();
    let resp = client.send_traced(req, trace).unwrap();
    assert_eq!(resp.status(), 204);
    drop(resp);
    assert_eq!(*order.lock().unwrap(), ["request", "client"]);
}

#[test]
fn every_got_conn_is_matched_by_one_put_idle_conn() {
    let server = serve(vec![respond(vec![
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none",
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 3\r\n\r\ntwo",
    ])]);
    let rec = Recorder::default();
    let client = Client::builder().trace(rec.trace()).build();
    for path in ["/1", "/2"] {
        client
            .get(&server.url(path))
            .unwrap()
            .into_body()
            .bytes()
            .unwrap();
    }
    let names = rec.names();
    assert_eq!(count(&names, "got_conn"), 2);
    assert_eq!(count(&names, "put_idle_conn"), 2);
    assert_eq!(count(&names, "request_done"), 2);
    let lines = rec.lines();
    let puts: Vec<_> = lines
        .iter()
        .filter(|l| l.contains("put_idle_conn"))
        .collect();
    assert!(puts[0].contains(r#""error":null"#));
    assert!(
        puts[1].contains(r#""error":"connection_close""#),
        "{}",
        puts[1]
    );
    assert!(lines
        .iter()
        .any(|l| l.contains(r#""event":"conn_closed""#) && l.contains("connection_close")));
    // The client-wide trace sees every request's own events too.
    assert_eq!(count(&names, "wrote_headers"), 2);
}

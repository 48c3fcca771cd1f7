//! Interop with a real Apache httpd 2.4 (DESIGN.md, "Testing layers", 4),
//! the third server beside nginx and lighttpd, with the event MPM and
//! mod_cgid as Debian runs it: static files byte-compared and a range,
//! CGI output of unknown length (chunked, RFC 9112 §7.1), bodiless CGI
//! answers (204, 304) and HEAD mixed on one connection (RFC 9110 §6.4.1),
//! request bodies echoed back by a CGI program (with a length, chunked,
//! after `Expect: 100-continue`), and Apache's own ends of a persistent
//! connection (RFC 9112 §9.3, §9.6): `Connection: close` once
//! `MaxKeepAliveRequests` is reached, and a close of an idle connection
//! after `KeepAliveTimeout`, both met with a new connection and no error.
//!
//! Each test starts its own Apache on two loopback ports
//! (tests/support/apache.rs). Without Apache they print `SKIPPED` and
//! pass, unless `ROUNDTRIP_INTEROP=require`, which makes them fail.

#![forbid(unsafe_code)]

mod support;

use std::time::Duration;

use http::{header, Method, Request, StatusCode};
use roundtrip::SendBody;
use support::apache::{apache_or_skip, random_1m, SMALL_TEXT};
use support::cgi::{client, fetch, get, lines_text, one_connection};
use support::interop::pseudo_random;

#[test]
fn static_files_and_a_range_share_one_connection() {
    let Some(server) = apache_or_skip() else {
        return;
    };
    let (client, reused) = client();
    let resp = client.get(&server.url("/small.txt")).unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let raw = String::from_utf8(resp.body().raw_head().to_vec()).unwrap();
    assert!(raw.starts_with("HTTP/1.1 200 OK\r\n"), "{raw:?}");
    assert!(raw.contains("\r\nServer: Apache/"), "{raw:?}");
    assert_eq!(resp.into_body().text().unwrap(), SMALL_TEXT);

    let big = fetch(&client, get(server.url("/random-1m.bin")), StatusCode::OK);
    assert!(big == random_1m(), "1 MiB file: {} bytes differ", big.len());

    let range = Request::get(server.url("/random-1m.bin"))
        .header(header::RANGE, "bytes=1000-1099")
        .body(SendBody::empty())
        .unwrap();
    let part = fetch(&client, range, StatusCode::PARTIAL_CONTENT);
    assert_eq!(part, random_1m()[1000..1100]);
    one_connection(&reused, 3);
}

#[test]
fn cgi_output_of_unknown_length_is_chunked_and_ends_where_it_should() {
    let Some(server) = apache_or_skip() else {
        return;
    };
    let (client, reused) = client();
    for _ in 0..3 {
        let resp = client.get(&server.url("/cgi/lines.sh")).unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()[header::TRANSFER_ENCODING], "chunked");
        assert!(!resp.headers().contains_key(header::CONTENT_LENGTH));
        assert_eq!(resp.into_body().text().unwrap(), lines_text());
    }
    assert_eq!(
        fetch(&client, get(server.url("/small.txt")), StatusCode::OK),
        SMALL_TEXT.as_bytes()
    );
    one_connection(&reused, 4);
}

#[test]
fn bodiless_answers_and_head_keep_the_connection() {
    let Some(server) = apache_or_skip() else {
        return;
    };
    let (client, reused) = client();
    let cases = [
        (Method::GET, "/cgi/status.sh?204", StatusCode::NO_CONTENT),
        (Method::GET, "/cgi/status.sh?304", StatusCode::NOT_MODIFIED),
        (Method::HEAD, "/random-1m.bin", StatusCode::OK),
        (Method::HEAD, "/cgi/lines.sh", StatusCode::OK),
        (Method::GET, "/small.txt", StatusCode::OK),
    ];
    for (method, path, status) in cases {
        let req = Request::builder()
            .method(method.clone())
            .uri(server.url(path))
            .body(SendBody::empty())
            .unwrap();
        let body = fetch(&client, req, status);
        let want: &[u8] = if path == "/small.txt" {
            SMALL_TEXT.as_bytes()
        } else {
            b""
        };
        assert_eq!(body, want, "{method} {path}");
    }
    one_connection(&reused, 5);
}

#[test]
fn request_bodies_are_echoed_back_by_a_cgi_program() {
    let Some(server) = apache_or_skip() else {
        return;
    };
    let (client, reused) = client();
    // Under the size of a pipe's buffer: mod_cgid writes the whole request
    // body to the program before it reads any of its output, so a larger
    // echo deadlocks Apache until its Timeout (a server-side limit, met by
    // curl too).
    let data = pseudo_random((48 << 10) + 3, 0xa9ec);
    let url = server.url("/cgi/echo.sh");
    let echoed = |length: &str| {
        let mut want = format!("method=POST length={length}\n").into_bytes();
        want.extend_from_slice(&data);
        want
    };
    let post = |body: SendBody, expect: bool| {
        let mut req = Request::post(url.clone());
        if expect {
            req = req.header(header::EXPECT, "100-continue");
        }
        req.body(body).unwrap()
    };
    let len = data.len().to_string();

    let got = fetch(&client, post(data.clone().into(), false), StatusCode::OK);
    assert!(got == echoed(&len), "with a length: {} bytes", got.len());
    // Apache answers 100 Continue once the program reads its input.
    let got = fetch(&client, post(data.clone().into(), true), StatusCode::OK);
    assert!(
        got == echoed(&len),
        "after 100-continue: {} bytes",
        got.len()
    );
    // Of unknown length, so sent chunked; Apache decodes it and gives the
    // program no length (it reads to the end).
    let reader = SendBody::from_reader(std::io::Cursor::new(data.clone()));
    let got = fetch(&client, post(reader, false), StatusCode::OK);
    assert!(got == echoed("none"), "chunked: {} bytes", got.len());
    one_connection(&reused, 3);
}

#[test]
fn apaches_ends_of_a_connection_are_met_with_a_new_one() {
    let Some(server) = apache_or_skip() else {
        return;
    };
    let (client, reused) = client();
    // MaxKeepAliveRequests 2: Apache counts the requests after the first,
    // so every third answer on a connection says Connection: close, and
    // the next request opens a new connection instead of failing on the
    // closed one.
    for i in 0..6 {
        let resp = client.get(&server.short_url("/small.txt")).unwrap();
        let close = resp
            .headers()
            .get(header::CONNECTION)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
        assert_eq!(close, i % 3 == 2, "answer {i}");
        assert_eq!(resp.into_body().text().unwrap(), SMALL_TEXT);
    }
    assert_eq!(
        *reused.lock().unwrap(),
        [false, true, true, false, true, true],
        "a new connection after each Connection: close"
    );
    // KeepAliveTimeout 1: the pooled connection is closed by Apache while
    // idle; the next request must still succeed, on a new connection.
    std::thread::sleep(Duration::from_millis(1_800));
    let body = fetch(&client, get(server.short_url("/small.txt")), StatusCode::OK);
    assert_eq!(body, SMALL_TEXT.as_bytes());
    assert_eq!(reused.lock().unwrap().last(), Some(&false), "{reused:?}");
}

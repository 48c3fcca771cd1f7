//! Interop with a real lighttpd (DESIGN.md, "Testing layers", 4), a second
//! server beside nginx whose answers are framed its own way: static files
//! byte-compared, a range, CGI output of unknown length (chunked), bodiless
//! CGI answers (204, 304) and HEAD mixed on one connection, and request
//! bodies echoed back by a CGI program (with a length, chunked, and after
//! `Expect: 100-continue`). Keep-alive reuse is counted through the trace;
//! a client that misjudged where a response ended would show it as a
//! second connection or as garbage in the next response.
//!
//! Each test starts its own lighttpd on a loopback port
//! (tests/support/lighttpd.rs). Without lighttpd they print `SKIPPED` and
//! pass, unless `ROUNDTRIP_INTEROP=require`, which makes them fail.

#![forbid(unsafe_code)]

mod support;

use http::{header, Method, Request, StatusCode};
use roundtrip::SendBody;
use support::cgi::{client, fetch, get, lines_text, one_connection};
use support::interop::pseudo_random;
use support::lighttpd::{lighttpd_or_skip, random_1m, SMALL_TEXT};

#[test]
fn static_files_and_a_range_share_one_connection() {
    let Some(server) = lighttpd_or_skip() else {
        return;
    };
    let (client, reused) = client();
    let resp = client.get(&server.url("/small.txt")).unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    // The head as sent: lighttpd's own spelling of its names.
    let raw = String::from_utf8(resp.body().raw_head().to_vec()).unwrap();
    assert!(raw.starts_with("HTTP/1.1 200 OK\r\n"), "{raw:?}");
    assert!(raw.contains("\r\nServer: lighttpd/"), "{raw:?}");
    assert!(raw.ends_with("\r\n\r\n"), "{raw:?}");
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
    let Some(server) = lighttpd_or_skip() else {
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
    let Some(server) = lighttpd_or_skip() else {
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
    let Some(server) = lighttpd_or_skip() else {
        return;
    };
    let (client, reused) = client();
    let data = pseudo_random((1 << 20) + 3, 0x0ec4);
    let url = server.url("/cgi/echo.sh");
    let echoed = |len: usize| {
        let mut want = format!("method=POST length={len}\n").into_bytes();
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

    let got = fetch(&client, post(data.clone().into(), false), StatusCode::OK);
    assert!(
        got == echoed(data.len()),
        "with a length: {} bytes",
        got.len()
    );
    let got = fetch(&client, post(data.clone().into(), true), StatusCode::OK);
    assert!(
        got == echoed(data.len()),
        "after 100-continue: {} bytes",
        got.len()
    );
    // Of unknown length, so sent chunked; lighttpd gathers it and gives
    // the program its length.
    let reader = SendBody::from_reader(std::io::Cursor::new(data.clone()));
    let got = fetch(&client, post(reader, false), StatusCode::OK);
    assert!(got == echoed(data.len()), "chunked: {} bytes", got.len());
    one_connection(&reused, 3);
}

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

use http::{header, StatusCode};
use support::apache::{apache_or_skip, random_1m, SMALL_TEXT};
use support::cgi::{self, client, fetch, get, Served};
use support::interop::pseudo_random;

/// Runs `f` against a fresh server (or skips).
fn served(f: impl FnOnce(&Served<'_>)) {
    if let Some(server) = apache_or_skip() {
        cgi::with_served(|path| server.url(path), SMALL_TEXT, &random_1m(), f);
    }
}

#[test]
fn static_files_and_a_range_share_one_connection() {
    served(|s| cgi::static_files_and_a_range(s, "Apache/"));
}

#[test]
fn cgi_output_of_unknown_length_is_chunked_and_ends_where_it_should() {
    served(cgi::chunked_cgi_output);
}

#[test]
fn bodiless_answers_and_head_keep_the_connection() {
    served(cgi::bodiless_answers_and_head);
}

#[test]
fn request_bodies_are_echoed_back_by_a_cgi_program() {
    // Under the size of a pipe's buffer: mod_cgid writes the whole request
    // body to the program before it reads any of its output, so a larger
    // echo deadlocks Apache until its Timeout (a server-side limit, met by
    // curl too).
    let data = pseudo_random((48 << 10) + 3, 0xa9ec);
    // Apache decodes a chunked body and gives the program no length.
    served(|s| cgi::echoed_bodies(s, &data, "none"));
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

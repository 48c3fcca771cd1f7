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

use support::cgi::{self, Served};
use support::interop::pseudo_random;
use support::lighttpd::{lighttpd_or_skip, random_1m, SMALL_TEXT};

/// Runs `f` against a fresh server (or skips).
fn served(f: impl FnOnce(&Served<'_>)) {
    if let Some(server) = lighttpd_or_skip() {
        cgi::with_served(|path| server.url(path), SMALL_TEXT, &random_1m(), f);
    }
}

#[test]
fn static_files_and_a_range_share_one_connection() {
    served(|s| cgi::static_files_and_a_range(s, "lighttpd/"));
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
    let data = pseudo_random((1 << 20) + 3, 0x0ec4);
    // lighttpd gathers a chunked body and gives the program its length.
    served(|s| cgi::echoed_bodies(s, &data, &data.len().to_string()));
}

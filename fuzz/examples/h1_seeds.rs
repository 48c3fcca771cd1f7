//! Writes the `seed_*` files of the HTTP/1.1 targets' corpora
//! (fuzz/corpus/h1_head, h1_body, h1_writer, exchange):
//! `cd fuzz && cargo run --example h1_seeds`.
//!
//! Every response the tests use — well-formed and malformed — becomes a
//! seed: the byte-string literals of tests/faults.rs, tests/framing.rs,
//! tests/timeouts.rs and src/h1/*.rs are read from the sources (so a new
//! malformed case in a test is picked up by running this again), then
//! encoded in each target's input format (documented in fuzz/src/h1.rs and
//! src/fuzzing.rs). A few cases the tests build at run time (big heads,
//! many fields, limits) and request-writer cases are added by hand.

use std::path::{Path, PathBuf};

/// The string and byte-string literals of a Rust source file (escapes
/// decoded; raw strings and `format!` arguments are not needed).
fn literals(src: &str) -> Vec<Vec<u8>> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'\'' if b.get(i + 2) == Some(&b'\'') => i += 3,
            b'\'' if b.get(i + 1) == Some(&b'\\') && b.get(i + 3) == Some(&b'\'') => i += 4,
            b'"' => {
                let raw = i > 0 && b[i - 1] == b'r';
                i += 1;
                let mut lit = Vec::new();
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' && !raw {
                        i += 1;
                        match b.get(i) {
                            Some(b'r') => lit.push(b'\r'),
                            Some(b'n') => lit.push(b'\n'),
                            Some(b't') => lit.push(b'\t'),
                            Some(b'0') => lit.push(0),
                            Some(b'x') => {
                                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("00");
                                lit.push(u8::from_str_radix(hex, 16).unwrap_or(0));
                                i += 2;
                            }
                            Some(b'\n') => {
                                while b.get(i + 1).is_some_and(|c| c.is_ascii_whitespace()) {
                                    i += 1;
                                }
                            }
                            Some(&c) => lit.push(c),
                            None => {}
                        }
                    } else {
                        lit.push(b[i]);
                    }
                    i += 1;
                }
                out.push(lit);
            }
            _ => {}
        }
        i += 1;
    }
    out
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every distinct literal that is (or starts) a response, and every one
/// that looks like a body (a chunk-size line first), from the tests.
fn from_tests() -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let files = [
        "tests/faults.rs",
        "tests/framing.rs",
        "tests/timeouts.rs",
        "src/h1/head.rs",
        "src/h1/body.rs",
        "src/h1/framing.rs",
        "src/exchange/tests.rs",
    ];
    let mut responses: Vec<Vec<u8>> = Vec::new();
    let mut bodies: Vec<Vec<u8>> = Vec::new();
    for f in files {
        let src = std::fs::read_to_string(root().join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        for lit in literals(&src) {
            if lit.starts_with(b"HTTP/") || lit.starts_with(b"SSH-") {
                if !responses.contains(&lit) {
                    responses.push(lit);
                }
            } else if lit.first().is_some_and(u8::is_ascii_hexdigit)
                && lit.windows(2).any(|w| w == b"\r\n")
                && !bodies.contains(&lit)
            {
                bodies.push(lit);
            }
        }
    }
    (responses, bodies)
}

/// Built at run time in tests/faults.rs.
fn built_responses() -> Vec<Vec<u8>> {
    let big = |n: usize| {
        format!(
            "HTTP/1.1 200 OK\r\nX-Big: {}\r\nContent-Length: 2\r\n\r\nok",
            "b".repeat(n)
        )
        .into_bytes()
    };
    let many = |n: usize| {
        let mut w = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n".to_vec();
        for i in 1..n {
            w.extend_from_slice(format!("X-H{i}: {i}\r\n").as_bytes());
        }
        w.extend_from_slice(b"\r\nok");
        w
    };
    let mut processing = Vec::new();
    for i in 0..3 {
        processing
            .extend_from_slice(format!("HTTP/1.1 102 Processing\r\nX-I: {i}\r\n\r\n").as_bytes());
    }
    processing.extend_from_slice(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    vec![big(200), big(1000), many(6), many(120), processing]
}

fn name_of(lit: &[u8]) -> String {
    let mut s: String = lit
        .iter()
        .take(40)
        .map(|&c| {
            if c.is_ascii_alphanumeric() {
                (c as char).to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    while s.contains("__") {
        s = s.replace("__", "_");
    }
    s.trim_matches('_').to_owned()
}

struct Out {
    dir: PathBuf,
    n: usize,
}

impl Out {
    fn new(target: &str) -> Out {
        let dir = root().join("fuzz/corpus").join(target);
        std::fs::create_dir_all(&dir).unwrap();
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("seed_")
            {
                std::fs::remove_file(p).unwrap();
            }
        }
        Out { dir, n: 0 }
    }

    fn write(&mut self, name: &str, data: &[u8]) {
        self.n += 1;
        let file = format!("seed_{:03}_{}", self.n, name);
        std::fs::write(self.dir.join(&file[..file.len().min(60)]), data).unwrap();
    }
}

/// `exchange` server bytes: op 0 records of at most 255 bytes, read in
/// pieces of `read` bytes (15: all).
fn server_bytes(wire: &[u8], read: u8) -> Vec<u8> {
    let mut out = Vec::new();
    for piece in wire.chunks(255) {
        out.push(read << 4);
        out.push(piece.len() as u8);
        out.extend_from_slice(piece);
    }
    out
}

fn h1_head(responses: &[Vec<u8>]) {
    let mut out = Out::new("h1_head");
    for (k, r) in responses.iter().enumerate() {
        // Default-like limits (65536, 100), whole; every third one byte at
        // a time; every fifth with small limits (256, 4) and trailers.
        let (cfg, sizes): (u8, &[u8]) = match k % 5 {
            0 => (2 | (4 << 3) | 0x40, &[7]),
            _ if k % 3 == 0 => (5 | (5 << 3), &[1]),
            _ => (5 | (5 << 3), &[]),
        };
        let mut d = vec![cfg, sizes.len() as u8];
        d.extend_from_slice(sizes);
        d.extend_from_slice(r);
        out.write(&name_of(r), &d);
    }
    println!("h1_head: {} seeds", out.n);
}

fn h1_body(responses: &[Vec<u8>], bodies: &[Vec<u8>]) {
    let mut out = Out::new("h1_body");
    let add = |out: &mut Out, framing: u8, len: u16, limits: u8, body: &[u8], name: &str| {
        let [hi, lo] = len.to_be_bytes();
        let mut d = vec![framing, hi, lo, limits, 2, 3, 1];
        d.extend_from_slice(body);
        out.write(name, &d);
    };
    // limits byte: chunk line 4096 (4), trailers 16384 (3 << 3), 100 fields (3 << 5).
    let roomy = 4 | (3 << 3) | (3 << 5);
    // chunk line 20 (6), trailers 16 (1 << 3), 1 field (1 << 5).
    let tight = 6 | (1 << 3) | (1 << 5);
    for b in bodies {
        add(
            &mut out,
            1 | 8,
            0,
            roomy,
            b,
            &format!("chunked_{}", name_of(b)),
        );
        add(
            &mut out,
            1,
            0,
            tight,
            b,
            &format!("chunked_tight_{}", name_of(b)),
        );
    }
    for r in responses {
        let Some(end) = r.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let (head, body) = (&r[..end], &r[end + 4..]);
        if body.is_empty() {
            continue;
        }
        let lower = head.to_ascii_lowercase();
        let text = String::from_utf8_lossy(&lower);
        let framing = if text.contains("chunked") {
            1
        } else if text.contains("content-length: ") {
            0
        } else {
            2 | 8
        };
        let len = body.len() as u16;
        add(&mut out, framing, len, roomy, body, &name_of(r));
    }
    // Content-Length shorter and longer than the bytes, and EOF; 2^40.
    add(&mut out, 0, 3, roomy, b"hello", "length_shorter_than_bytes");
    add(&mut out, 8, 10, roomy, b"short", "length_eof_truncated");
    add(&mut out, 4 | 8, 1, roomy, b"x", "length_huge_eof");
    add(&mut out, 2, 0, roomy, b"no eof yet", "close_without_eof");
    add(&mut out, 3, 0, roomy, b"ignored", "none");
    println!("h1_body: {} seeds", out.n);
}

fn exchange(responses: &[Vec<u8>]) {
    let mut out = Out::new("exchange");
    for (k, r) in responses.iter().enumerate() {
        // GET, whole, then EOF and a read; every other one read in
        // 1-byte pieces with small limits and short timeouts.
        let (cfg, read) = if k % 2 == 0 { (0u8, 15u8) } else { (4 | 8, 0) };
        let mut d = vec![cfg, 0];
        d.extend(server_bytes(r, read));
        d.push(5 | (3 << 3));
        out.write(&name_of(r), &d);
    }
    let continue_ok =
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    let early_final = b"HTTP/1.1 417 Expectation Failed\r\nContent-Length: 0\r\n\r\n";
    // POST with 100-continue: the continue, an early final answer, the
    // wait running out (1 s), and a streamed body with writes held.
    let mut d = vec![1, 0];
    d.extend(server_bytes(continue_ok, 15));
    out.write("post_continue_then_ok", &d);
    let mut d = vec![1, 0];
    d.extend(server_bytes(early_final, 15));
    out.write("post_final_before_continue", &d);
    let mut d = vec![1, 0, 2 | (3 << 3)];
    d.extend(server_bytes(
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        15,
    ));
    out.write("post_wait_expires", &d);
    let mut d = vec![3 | 32, 100, 7, 4, 7, 4];
    d.extend(server_bytes(continue_ok, 15));
    d.extend([7, 255, 7, 255, 7, 255]);
    out.write("post_stream_continue_held_writes", &d);
    let mut d = vec![3 | 32, 0, 7, 1];
    d.extend(server_bytes(early_final, 15));
    d.push(4);
    out.write("post_stream_early_final_write_error", &d);
    // Time, errors, cancel.
    let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc";
    let mut d = vec![8, 0];
    d.extend(server_bytes(ok, 15));
    d.extend([2 | (3 << 3), 2 | (4 << 3)]);
    out.write("body_idle_timeout", &d);
    let mut d = vec![8, 0, 2 | (4 << 3)];
    d.extend(server_bytes(b"HTTP/1.1 200 OK\r\nContent-", 15));
    d.push(2 | (4 << 3));
    out.write("header_timeout_mid_head", &d);
    let mut d = vec![16, 0];
    d.extend(server_bytes(ok, 15));
    d.extend([3]);
    out.write("read_error_mid_body", &d);
    let mut d = vec![16, 0];
    d.extend(server_bytes(ok, 15));
    d.push(6);
    out.write("cancel_mid_body", &d);
    let mut d = vec![16 | 64 | 128, 0];
    d.extend(server_bytes(
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        15,
    ));
    d.extend([6]);
    out.write("name_close_cancel_after_body", &d);
    // Back-pressure: a body bigger than the 1 KiB buffer, read late.
    let mut big = b"HTTP/1.1 200 OK\r\nContent-Length: 3000\r\n\r\n".to_vec();
    big.extend(std::iter::repeat_n(b'x', 3000));
    let mut d = vec![4 | 16, 0];
    d.extend(server_bytes(&big, 15));
    d.push(5 | (31 << 3));
    out.write("back_pressure", &d);
    println!("exchange: {} seeds", out.n);
}

/// `h1_writer` input (src/fuzzing.rs): cfg, [method], [body], authority,
/// path, fields (flags, name, value).
fn writer(
    cfg: u8,
    extra: &[u8],
    authority: &str,
    path: &str,
    fields: &[(u8, &str, &[u8])],
) -> Vec<u8> {
    let mut d = vec![cfg];
    d.extend_from_slice(extra);
    d.push(authority.len() as u8);
    d.extend_from_slice(authority.as_bytes());
    d.push(path.len() as u8);
    d.extend_from_slice(path.as_bytes());
    for (flags, name, value) in fields {
        d.push(*flags);
        d.push(name.len() as u8);
        d.extend_from_slice(name.as_bytes());
        d.push(value.len() as u8);
        d.extend_from_slice(value);
    }
    d
}

fn h1_writer() {
    let mut out = Out::new("h1_writer");
    let body = |n: u8| {
        let mut v = vec![n];
        v.extend(std::iter::repeat_n(b'p', usize::from(n)));
        v
    };
    let get = 0;
    let post_mem = 2 | (1 << 3);
    let put_sized = 3 | (2 << 3);
    let post_stream = 2 | (3 << 3);
    let unchecked = 0x40;
    let seeds: Vec<(&str, Vec<u8>)> = vec![
        (
            "get",
            writer(get, &[], "example.com", "/", &[(0, "accept", b"*/*")]),
        ),
        (
            "get_query_port",
            writer(get | 0x20, &[], "127.0.0.1:8080", "/a/b?c=d&e", &[]),
        ),
        ("get_no_path", writer(get, &[], "example.com", "", &[])),
        ("get_v6", writer(get, &[], "[::1]:81", "/x", &[])),
        ("head", writer(1, &[], "h.test", "/", &[])),
        (
            "custom_method",
            writer(7, &[5, b'P', b'U', b'R', b'G', b'E'], "h.test", "/", &[]),
        ),
        (
            "bad_method",
            writer(7, &[3, b'G', b' ', b'T'], "h.test", "/", &[]),
        ),
        (
            "post_mem",
            writer(
                post_mem,
                &body(12),
                "h.test",
                "/up",
                &[(0, "content-type", b"text/plain")],
            ),
        ),
        ("put_sized", writer(put_sized, &[40], "h.test", "/up", &[])),
        (
            "post_stream_chunked",
            writer(post_stream, &[20], "h.test", "/up", &[]),
        ),
        (
            "post_stream_empty",
            writer(post_stream, &[0], "h.test", "/up", &[]),
        ),
        (
            "host_override",
            writer(get, &[], "h.test", "/", &[(0, "host", b"other.test:99")]),
        ),
        (
            "two_hosts",
            writer(
                get,
                &[],
                "h.test",
                "/",
                &[(0, "host", b"a"), (0, "host", b"b")],
            ),
        ),
        (
            "user_agent_set",
            writer(
                get | 0x20,
                &[],
                "h.test",
                "/",
                &[(0, "user-agent", b"mine/2")],
            ),
        ),
        (
            "te_chunked_empty_get",
            writer(
                get,
                &[],
                "h.test",
                "/",
                &[(0, "transfer-encoding", b"chunked")],
            ),
        ),
        (
            "te_chunked_mem",
            writer(
                post_mem,
                &body(5),
                "h.test",
                "/",
                &[(0, "transfer-encoding", b"chunked")],
            ),
        ),
        (
            "te_gzip",
            writer(
                post_mem,
                &body(5),
                "h.test",
                "/",
                &[(0, "transfer-encoding", b"gzip")],
            ),
        ),
        (
            "cl_matches",
            writer(
                post_mem,
                &body(5),
                "h.test",
                "/",
                &[(0, "content-length", b"5")],
            ),
        ),
        (
            "cl_mismatch",
            writer(
                post_mem,
                &body(5),
                "h.test",
                "/",
                &[(0, "content-length", b"6")],
            ),
        ),
        (
            "cl_and_te",
            writer(
                post_stream,
                &[5],
                "h.test",
                "/",
                &[
                    (0, "content-length", b"5"),
                    (0, "transfer-encoding", b"chunked"),
                ],
            ),
        ),
        (
            "cl_stream_short",
            writer(
                post_stream,
                &[5],
                "h.test",
                "/",
                &[(0, "content-length", b"9")],
            ),
        ),
        (
            "cl_stream_long",
            writer(
                post_stream,
                &[9],
                "h.test",
                "/",
                &[(0, "content-length", b"5")],
            ),
        ),
        (
            "cl_list",
            writer(
                post_mem,
                &body(5),
                "h.test",
                "/",
                &[(0, "content-length", b"5, 5")],
            ),
        ),
        (
            "expect_continue",
            writer(
                post_mem,
                &body(7),
                "h.test",
                "/",
                &[(0, "expect", b"100-continue")],
            ),
        ),
        (
            "repeated_fields",
            writer(
                get,
                &[],
                "h.test",
                "/",
                &[(0, "x-a", b"1"), (0, "x-b", b"2"), (0, "x-a", b"3")],
            ),
        ),
        (
            "ows_and_tab_values",
            writer(
                get,
                &[],
                "h.test",
                "/",
                &[
                    (0, "x-a", b" padded\t"),
                    (0, "x-b", b"a\tb"),
                    (0, "x-c", b""),
                ],
            ),
        ),
        (
            "obs_text_value",
            writer(get, &[], "h.test", "/", &[(0, "x-a", b"caf\xc3\xa9")]),
        ),
        (
            "connection_close",
            writer(get, &[], "h.test", "/", &[(0, "connection", b"close")]),
        ),
        // tests/faults.rs: values a careless caller builds unchecked.
        (
            "crlf_injected",
            writer(
                get | unchecked,
                &[],
                "srv",
                "/",
                &[(1, "x-test", b"a\r\nInjected: 1")],
            ),
        ),
        (
            "lf_injected",
            writer(
                get | unchecked,
                &[],
                "srv",
                "/",
                &[(1, "x-test", b"a\nInjected: 1")],
            ),
        ),
        (
            "cr_value",
            writer(get | unchecked, &[], "srv", "/", &[(1, "x-test", b"a\rb")]),
        ),
        (
            "nul_value",
            writer(get | unchecked, &[], "srv", "/", &[(1, "x-test", b"a\0b")]),
        ),
        (
            "ctl_value",
            writer(
                get | unchecked,
                &[],
                "srv",
                "/",
                &[(1, "x-test", b"a\x01b")],
            ),
        ),
        (
            "del_value",
            writer(
                get | unchecked,
                &[],
                "srv",
                "/",
                &[(1, "x-test", b"a\x7fb")],
            ),
        ),
        (
            "crlf_host",
            writer(
                get | unchecked,
                &[],
                "srv",
                "/",
                &[(1, "host", b"srv\r\nX: 1")],
            ),
        ),
        ("space_in_path", writer(get, &[], "srv", "/a b", &[])),
        ("credentials", writer(get, &[], "user:pw@srv", "/", &[])),
    ];
    for (name, d) in seeds {
        out.write(name, &d);
    }
    println!("h1_writer: {} seeds", out.n);
}

fn main() {
    let (mut responses, bodies) = from_tests();
    responses.extend(built_responses());
    h1_head(&responses);
    h1_body(&responses, &bodies);
    exchange(&responses);
    h1_writer();
}

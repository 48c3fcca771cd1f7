//! Differential test against Debian's curl CLI: a table of scripted HTTP
//! responses, each served by its own loopback server to roundtrip and to
//! `curl`, and the expected comparison of the two outcomes.
//!
//! Why a second client: where two independent readers of RFC 9112 agree,
//! either could still be wrong, but where they disagree one of them
//! surely is, or the RFCs leave the choice open. Every disagreement is
//! therefore written down in the table with its reason — roundtrip
//! stricter where the RFC allows it, or curl lenient where the RFC says
//! otherwise — and the test fails when a case's observation no longer
//! matches its row in either direction: an agreement that turned into a
//! divergence is a behaviour change to look at, and a divergence that
//! turned into agreement leaves a stale reason in the table.
//!
//! The cases follow RFC 9112 §2.2 (line endings, bare CR, leading empty
//! lines), §4 (status line), §5 (field lines, obs-fold), §6.3 (every rule
//! of message body length), §7.1 (chunked coding, extensions, trailers)
//! and §8 (incomplete messages), §9.3 (persistence), and RFC 9110 §2.5
//! (versions), §5.5 (field values), §8.6 (Content-Length) and §15
//! (status codes, 1xx).
//!
//! Each outcome is reduced to one of three comparable forms: a response
//! (status and body bytes), a refusal (any error that is not a timeout),
//! or a hang (the client gave up at its own timeout). Waiting seconds for
//! bytes that never come is not the same behaviour as refusing at once,
//! so a refusal and a hang do not agree. The `again:` rows send a second
//! request on the same client and compare the connections used too: a
//! client that misjudged where a response ended shows it by reusing a
//! connection the other closed, or by reading leftovers as the next
//! response.
//!
//! The expectations are those of curl 7.88.1 (Debian bookworm), the curl
//! `.ci/run` installs. Without curl the test is skipped loudly, and fails
//! under `ROUNDTRIP_INTEROP=require` (tests/support/interop.rs). Only
//! 127.0.0.1 is contacted; curl reads no `.curlrc` (`-q`) and uses no
//! proxy.
//!
//! ```sh
//! ROUNDTRIP_INTEROP=require cargo test --test differential_curl -- --nocapture
//! ```

#![forbid(unsafe_code)]

mod support;

use std::fmt::{self, Write as _};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use roundtrip::proxy::ProxyConfig;
use roundtrip::{Client, ErrorKind};
use support::interop::{self, StartError, TempDir};

/// How long each client waits for bytes before it gives up. A case that
/// hangs costs this much on its worker, so it is short; it is a guard,
/// never measured: loopback answers arrive in milliseconds.
const CLIENT_WAIT: Duration = Duration::from_secs(3);
/// The whole fetch, both clients: `--max-time` for curl, `total_timeout`
/// for roundtrip.
const CLIENT_TOTAL: Duration = Duration::from_secs(4);
/// A roundtrip fetch still running this long after it started ignored its
/// own timeouts: reported as stuck instead of stalling the test.
const STUCK: Duration = Duration::from_secs(20);
/// How long a "keep open" server holds the connection for a client that
/// does not close it. Longer than the clients' timeouts, so that the
/// client always gives up first.
const HOLD: Duration = Duration::from_secs(8);
/// The pause between the writes of a split response: long enough that
/// each write reaches the client as its own read on loopback.
const PAUSE: Duration = Duration::from_millis(15);
/// Cases run concurrently: most wait on sockets and on curl's start.
const WORKERS: usize = 6;

// ----- the table ------------------------------------------------------------

/// What the server does after its last write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Then {
    /// Keeps the connection open until the client closes it (or `HOLD`):
    /// a client must find the end of the response from its framing.
    KeepOpen,
    /// Closes the connection: the close may end the body (RFC 9112 §6.3
    /// rule 8) or cut the message short (§8).
    Close,
}

/// The expected comparison of the two outcomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// The same response (status and body bytes), or both refuse, or
    /// both hang.
    Agree,
    /// A known difference, with the reason it is kept.
    Diverge { why: &'static str },
}

struct Case {
    name: &'static str,
    /// Written in order, with `PAUSE` between writes.
    writes: Vec<Vec<u8>>,
    then: Then,
    /// Requests each client sends, one after another on one client, so
    /// that connection reuse is compared too (RFC 9112 §9.3).
    requests: usize,
    expect: Expect,
}

/// A response sent in one write on a connection kept open, expected to
/// agree.
fn case(name: &'static str, wire: impl AsRef<[u8]>) -> Case {
    Case {
        name,
        writes: vec![wire.as_ref().to_vec()],
        then: Then::KeepOpen,
        requests: 1,
        expect: Expect::Agree,
    }
}

impl Case {
    /// A second request on the same client, answered with the same
    /// bytes: both responses and the number of connections are compared.
    fn and_again(mut self) -> Case {
        self.requests = 2;
        self
    }

    fn then_close(mut self) -> Case {
        self.then = Then::Close;
        self
    }

    /// Splits the response into writes at these offsets (ascending).
    fn split_at(mut self, offsets: &[usize]) -> Case {
        let wire = self.writes.concat();
        let mut writes = Vec::new();
        let mut start = 0;
        for &at in offsets {
            writes.push(wire[start..at].to_vec());
            start = at;
        }
        writes.push(wire[start..].to_vec());
        self.writes = writes;
        self
    }

    /// Splits the response before and after `needle`'s first occurrence,
    /// so that a reader sees that token arrive on its own.
    fn split_around(self, needle: &[u8]) -> Case {
        let wire = self.writes.concat();
        let at = wire
            .windows(needle.len())
            .position(|w| w == needle)
            .unwrap_or_else(|| panic!("{}: {needle:?} is not in the response", self.name));
        self.split_at(&[at, at + needle.len()])
    }

    /// One byte per write, all of it.
    fn bytewise(self) -> Case {
        let len = self.writes.concat().len();
        let offsets: Vec<usize> = (1..len).collect();
        self.split_at(&offsets)
    }

    fn diverge(mut self, why: &'static str) -> Case {
        self.expect = Expect::Diverge { why };
        self
    }
}

// Reasons shared by several rows.

const CTL_IN_REASON: &str = "roundtrip stricter, on purpose: reason-phrase is \
    *( HTAB / SP / VCHAR / obs-text ) (RFC 9112 §4), so a control byte makes the status line \
    invalid and the response is refused; curl ignores the phrase, as RFC 9112 §4 also allows";
const NEWER_MINOR: &str = "curl stricter, against a SHOULD: a higher minor version of a major \
    version the recipient implements is processed as its highest minor version (RFC 9110 §2.5), \
    which roundtrip does (HTTP/1.1); curl 7.88.1 refuses it (exit 1, Unsupported HTTP version)";
const MAJOR_2: &str = "curl lenient: a status line saying HTTP/2 in HTTP/1.1 syntax is no \
    HTTP/1.x message (RFC 9112 §2.3 is major version 1 only; RFC 9110 §2.5: the major version \
    names the syntax), and roundtrip refuses it; curl reads it as an HTTP/1.1 response";
const LEADING_EMPTY_LINE: &str = "roundtrip lenient: it skips empty lines before the status \
    line, the robustness RFC 9112 §2.2 asks of servers before a request-line (the RFC has no \
    rule for responses either way); curl takes the response for HTTP/0.9 and refuses it";
const CUT_HEAD: &str = "curl wrong: a head that ends before its empty line is an incomplete \
    message whose meaning the client cannot assume (RFC 9112 §8), and roundtrip refuses it \
    (ConnectionClosed); curl reports a complete response with an empty body";
const NOT_A_TOKEN: &str = "roundtrip stricter, on purpose: a field name is a token (RFC 9110 \
    §5.1) with no whitespace before the colon (RFC 9112 §5.1), and a response with a field line \
    that is not so is refused; curl keeps the line";
const CTL_IN_VALUE: &str = "roundtrip stricter: control bytes other than HTAB make a field \
    value invalid (RFC 9110 §5.5: field-vchar is VCHAR / obs-text; a recipient MAY keep them \
    only in a safe context), and the response is refused; curl keeps them";
const GZIP_TE: &str = "roundtrip on purpose: no transfer coding but chunked is undone, the \
    bytes reach the caller still gzip-coded with Transfer-Encoding visible (tests/framing.rs \
    says why); curl 7.88.1 gunzips them even without --compressed or --tr-encoding. The server \
    used a coding the request's TE did not offer (RFC 9110 §10.1.4): neither reading is wrong";
const CL_CONFLICT: &str = "curl wrong: differing Content-Length values are an unrecoverable \
    framing error, on which a user agent MUST close the connection and discard the response \
    (RFC 9112 §6.3 rule 5), as roundtrip does; curl frames the body by one of the values";
const CL_INVALID: &str = "curl wrong: Content-Length is 1*DIGIT (RFC 9110 §8.6) and any other \
    value is an unrecoverable framing error (RFC 9112 §6.3 rule 5), as roundtrip treats it; \
    curl takes the leading number (`+5`, `5x` and `5 5` as 5, `0x5` as 0)";
const BARE_LF_CHUNK: &str = "roundtrip stricter: RFC 9112 §2.2's bare-LF leniency is for the \
    start line and field lines (trailers included, which roundtrip accepts), not for chunk-size \
    lines or the CRLF after chunk data (§7.1), where readers that disagree on line ends are a \
    known desync vector; curl accepts the bare LF";
const UNSOLICITED_101: &str = "curl wrong: a server MUST NOT switch protocols unless the request \
    asked with Upgrade (RFC 9110 §7.8, §15.2.2), and roundtrip refuses the 101; curl takes it \
    for the final response and the new protocol's bytes for its body, until the close (or its \
    timeout)";

const EXTRA_BYTES: &str = "roundtrip on purpose: bytes after a complete response put the \
    framing in doubt, so the connection is closed, never pooled (DESIGN.md principle 5; the \
    extra_bytes close of docs/robustness.md); curl 7.88.1 drops them and reuses the connection \
    here (after a Content-Length body it closes too, see `again: a second response right after \
    the body`)";

const OK5: &str = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
const SWITCH_101: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
    Connection: upgrade\r\n\r\n\x81\x05hello";
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";
const CHUNKED: &str = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
/// "hello", gzip-compressed (`printf hello | gzip -n`).
const GZIP_HELLO: &[u8] = &[
    0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xcb, 0x48, 0xcd, 0xc9, 0xc9, 0x07,
    0x00, 0x86, 0xa6, 0x10, 0x36, 0x05, 0x00, 0x00, 0x00,
];

/// A response with this status line and `Content-Length: 5`, body "hello".
fn status(line: &str) -> Vec<u8> {
    format!("{line}\r\nContent-Length: 5\r\n\r\nhello").into_bytes()
}

/// `HTTP/1.1 200 OK`, these field lines (each given without its CRLF),
/// `Content-Length: 5` and the body "hello".
fn fields(lines: &[&[u8]]) -> Vec<u8> {
    let mut w = b"HTTP/1.1 200 OK\r\n".to_vec();
    for l in lines {
        w.extend_from_slice(l);
        w.extend_from_slice(b"\r\n");
    }
    w.extend_from_slice(b"Content-Length: 5\r\n\r\nhello");
    w
}

/// A response with these framing fields (each with its CRLF) and this
/// body, after `HTTP/1.1 200 OK`.
fn framed(head_fields: &str, body: impl AsRef<[u8]>) -> Vec<u8> {
    let mut w = format!("HTTP/1.1 200 OK\r\n{head_fields}\r\n").into_bytes();
    w.extend_from_slice(body.as_ref());
    w
}

/// A chunked response with this body (chunk lines and all).
fn chunked(body: impl AsRef<[u8]>) -> Vec<u8> {
    let mut w = CHUNKED.as_bytes().to_vec();
    w.extend_from_slice(body.as_ref());
    w
}

fn table() -> Vec<Case> {
    let long_value = |n: usize| [b"X-Long: ".as_slice(), &vec![b'v'; n]].concat();
    let many_fields = |n: usize| {
        let mut w = b"HTTP/1.1 200 OK\r\n".to_vec();
        for i in 0..n {
            w.extend_from_slice(format!("X-F{i}: {i}\r\n").as_bytes());
        }
        w.extend_from_slice(b"Content-Length: 5\r\n\r\nhello");
        w
    };
    let informational = |n: usize| {
        let mut w = Vec::new();
        for _ in 0..n {
            w.extend_from_slice(b"HTTP/1.1 102 Processing\r\n\r\n");
        }
        w.extend_from_slice(OK5.as_bytes());
        w
    };
    let cases = [
        // ----- status line: RFC 9112 §4, RFC 9110 §2.5, §15 ----------------
        case("baseline Content-Length", OK5),
        case("reason phrase empty", status("HTTP/1.1 200 ")),
        case(
            "reason phrase and its space missing",
            status("HTTP/1.1 200"),
        ),
        case(
            "reason phrase with spaces",
            status("HTTP/1.1 200 Very Much OK"),
        ),
        case("reason phrase with HTAB", status("HTTP/1.1 200 O\tK")),
        case(
            "reason phrase with obs-text",
            status("HTTP/1.1 200 Tr\u{e8}s bien"),
        ),
        case(
            "reason phrase of 8 KiB",
            status(&format!("HTTP/1.1 200 {}", "r".repeat(8192))),
        ),
        case(
            "trailing whitespace after the reason",
            status("HTTP/1.1 200 OK \t "),
        ),
        case(
            "reason phrase not matching the code",
            status("HTTP/1.1 200 Not Found"),
        ),
        case(
            "reason phrase with a control byte",
            status("HTTP/1.1 200 O\x01K"),
        )
        .diverge(CTL_IN_REASON),
        case("two spaces before the code", status("HTTP/1.1  200 OK")).diverge(
            "roundtrip stricter: a status line is HTTP-version SP status-code \
             (RFC 9112 §4, one SP; the MAY of §3 to split on any whitespace is \
             for request lines only), and roundtrip refuses it; curl skips the \
             extra space",
        ),
        case("HTAB before the code", status("HTTP/1.1\t200 OK")),
        case("HTTP/1.0 with Content-Length", status("HTTP/1.0 200 OK")),
        case(
            "HTTP/1.0 close-delimited",
            "HTTP/1.0 200 OK\r\n\r\nuntil the close",
        )
        .then_close(),
        case("HTTP/1.2", status("HTTP/1.2 200 OK")).diverge(NEWER_MINOR),
        case("HTTP/1.9", status("HTTP/1.9 200 OK")).diverge(NEWER_MINOR),
        case("HTTP/1.10", status("HTTP/1.10 200 OK")),
        case("HTTP/2.0", status("HTTP/2.0 200 OK")).diverge(MAJOR_2),
        case("HTTP/2", status("HTTP/2 200 OK")).diverge(MAJOR_2),
        case("HTTP/3.0", status("HTTP/3.0 200 OK")),
        case("HTTP/0.9 in the status line", status("HTTP/0.9 200 OK")),
        case("lowercase http/1.1", status("http/1.1 200 OK")).diverge(
            "curl lenient: HTTP-name is the case-sensitive %s\"HTTP\" (RFC 9112 \
             §2.3), and roundtrip refuses `http/1.1`; curl compares it without \
             case",
        ),
        case("version without minor", status("HTTP/1 200 OK")),
        case("no version", status("200 OK")),
        case("ICY status line", status("ICY 200 OK")),
        case("garbage status line", status("FOO 200 OK")),
        case(
            "leading CRLF before the status line",
            [b"\r\n".as_slice(), OK5.as_bytes()].concat(),
        )
        .diverge(LEADING_EMPTY_LINE),
        case(
            "leading LF before the status line",
            [b"\n".as_slice(), OK5.as_bytes()].concat(),
        )
        .diverge(LEADING_EMPTY_LINE),
        case(
            "leading space before the status line",
            [b" ".as_slice(), OK5.as_bytes()].concat(),
        ),
        case("code with two digits", status("HTTP/1.1 20 OK")),
        case("code with four digits", status("HTTP/1.1 2000 OK")),
        case("code not digits", status("HTTP/1.1 abc OK")),
        case("code 000", status("HTTP/1.1 000 Zero")),
        case("code 099", status("HTTP/1.1 099 Low")),
        case(
            "code 199 then 200",
            [b"HTTP/1.1 199 Odd\r\n\r\n".as_slice(), OK5.as_bytes()].concat(),
        ),
        // A 1xx has no body, so what follows its head must be a status line.
        case("1xx followed by a body", status("HTTP/1.1 199 Odd")),
        case("code 299 (unregistered 2xx)", status("HTTP/1.1 299 Fine")),
        case("code 418", status("HTTP/1.1 418 I'm a teapot")),
        case("code 599", status("HTTP/1.1 599 Odd")),
        case("code 600", status("HTTP/1.1 600 Odd")),
        case("code 999", status("HTTP/1.1 999 Odd")),
        case("status line only, then close", "HTTP/1.1 200 OK\r\n")
            .then_close()
            .diverge(CUT_HEAD),
        case("status line cut short, then close", "HTTP/1.1 20").then_close(),
        case("nothing at all, then close", "").then_close(),
        // ----- field lines: RFC 9112 §5, RFC 9110 §5.5 ----------------------
        case(
            "field names in any case",
            "HTTP/1.1 200 OK\r\ncOnTeNt-LeNgTh: 5\r\n\r\nhello",
        ),
        case("whitespace before the colon", fields(&[b"X-A : 1"])).diverge(NOT_A_TOKEN),
        case("HTAB before the colon", fields(&[b"X-A\t: 1"])).diverge(NOT_A_TOKEN),
        case("space inside a field name", fields(&[b"X A: 1"])).diverge(NOT_A_TOKEN),
        case("non-token byte in a field name", fields(&[b"X@A: 1"])).diverge(NOT_A_TOKEN),
        case("obs-text in a field name", fields(&[b"X-\xe9: 1"])).diverge(NOT_A_TOKEN),
        case("empty field name", fields(&[b": 1"])).diverge(NOT_A_TOKEN),
        case("field line without a colon", fields(&[b"X-A 1"])),
        case("empty field value", fields(&[b"X-A:"])),
        case("field value only whitespace", fields(&[b"X-A: \t "])),
        case("no space after the colon", fields(&[b"X-A:1"])),
        case("HTAB around the value", fields(&[b"X-A:\t1\t"])),
        case("obs-text in a field value", fields(&[b"X-A: caf\xe9 \xff"])),
        case("control byte in a field value", fields(&[b"X-A: 1\x01 2"])).diverge(CTL_IN_VALUE),
        case("DEL in a field value", fields(&[b"X-A: 1\x7f2"])).diverge(CTL_IN_VALUE),
        case("NUL in a field value", fields(&[b"X-A: 1\x002"])),
        case("NUL in a field name", fields(&[b"X-\x00A: 1"])),
        case("bare CR in a field value", fields(&[b"X-A: 1\r2"])).diverge(
            "both allowed by RFC 9112 §2.2 (a bare CR makes its element \
             invalid, or is replaced by SP): roundtrip refuses the response, \
             curl accepts it",
        ),
        case(
            "obs-fold in a field value",
            fields(&[b"X-A: 1", b" 2", b"\t3"]),
        ),
        case(
            "obs-fold right after the status line",
            "HTTP/1.1 200 OK\r\n X-A: 1\r\nContent-Length: 5\r\n\r\nhello",
        ),
        case("duplicate fields", fields(&[b"X-A: 1", b"X-A: 2"])),
        case("field value of 8 KiB", fields(&[&long_value(8 * 1024)])),
        case("field value of 60 KiB", fields(&[&long_value(60 * 1024)])),
        case("field value of 80 KiB", fields(&[&long_value(80 * 1024)])).diverge(
            "roundtrip's bound: a head over Config::max_head_size (64 KiB) is \
             refused (DESIGN.md principle 4; RFC 9110 §5.4 lets a recipient \
             limit field sizes); curl's limit is 100 KiB",
        ),
        case("100 fields", many_fields(99)),
        case("150 fields", many_fields(150)).diverge(
            "roundtrip's bound: more fields than Config::max_headers (100) are \
             refused (DESIGN.md principle 4); curl counts none",
        ),
        // ----- line endings: RFC 9112 §2.2 ---------------------------------
        case(
            "head in bare LF",
            "HTTP/1.1 200 OK\nContent-Length: 5\n\nhello",
        ),
        case(
            "head in mixed CRLF and LF",
            "HTTP/1.1 200 OK\r\nX-A: 1\nContent-Length: 5\r\n\nhello",
        ),
        case(
            "head ending in LF CRLF",
            "HTTP/1.1 200 OK\r\nContent-Length: 5\n\r\nhello",
        ),
        case(
            "bare CR ending the status line",
            "HTTP/1.1 200 OK\rContent-Length: 5\r\n\r\nhello",
        )
        .diverge(
            "both allowed by RFC 9112 §2.2 (a bare CR makes its element \
             invalid, or is replaced by SP): roundtrip refuses the response at \
             once; curl reads `OK\\rContent-Length: 5` as one reason phrase, so \
             the body has no length and it waits for a close that does not come",
        ),
        // ----- message body length: RFC 9112 §6.3 --------------------------
        // Rule 1: 1xx, 204 and 304 end at the head (205 does not).
        case(
            "204 with Content-Length and a body",
            "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello",
        ),
        case(
            "204 with chunked and a body",
            "HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        ),
        case(
            "304 with Content-Length and no body",
            "HTTP/1.1 304 Not Modified\r\nContent-Length: 100\r\n\r\n",
        ),
        case("204 without fields", "HTTP/1.1 204 No Content\r\n\r\n"),
        case(
            "205 with Content-Length 0",
            "HTTP/1.1 205 Reset Content\r\nContent-Length: 0\r\n\r\n",
        ),
        // Rule 3: Transfer-Encoding overrides Content-Length.
        case(
            "chunked and Content-Length",
            framed(
                "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n",
                "5\r\nhello\r\n0\r\n\r\n",
            ),
        ),
        case(
            "Content-Length after chunked",
            framed(
                "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n",
                "5\r\nhello\r\n0\r\n\r\n",
            ),
        ),
        // Rule 4: Transfer-Encoding, chunked last or not; §6.1 on HTTP/1.0.
        case(
            "Transfer-Encoding gzip, then close",
            framed("Transfer-Encoding: gzip\r\n", GZIP_HELLO),
        )
        .then_close()
        .diverge(GZIP_TE),
        case(
            "Transfer-Encoding gzip, chunked",
            framed(
                "Transfer-Encoding: gzip, chunked\r\n",
                [b"19\r\n".as_slice(), GZIP_HELLO, b"\r\n0\r\n\r\n"].concat(),
            ),
        )
        .diverge(GZIP_TE),
        case(
            "Transfer-Encoding chunked, gzip, then close",
            framed(
                "Transfer-Encoding: chunked, gzip\r\n",
                "5\r\nhello\r\n0\r\n\r\n",
            ),
        )
        .then_close()
        .diverge(
            "chunked not last: the body is close-delimited (RFC 9112 §6.3 rule \
             4) and roundtrip hands over the bytes as sent; curl tries to \
             gunzip them and fails (exit 61). roundtrip's reading is the RFC's",
        ),
        case(
            "Transfer-Encoding identity with Content-Length, then close",
            framed(
                "Transfer-Encoding: identity\r\nContent-Length: 5\r\n",
                "hello",
            ),
        )
        .then_close(),
        case(
            "Transfer-Encoding identity with Content-Length, kept open",
            framed(
                "Transfer-Encoding: identity\r\nContent-Length: 5\r\n",
                "hello",
            ),
        ),
        case(
            "Transfer-Encoding unknown coding, then close",
            framed("Transfer-Encoding: x-custom\r\n", "raw bytes"),
        )
        .then_close()
        .diverge(
            "a close-delimited body (RFC 9112 §6.3 rule 4): roundtrip hands \
             over the bytes as sent, the coding left to the caller with the \
             header visible; curl refuses a coding it cannot undo (exit 61). \
             Both defensible: RFC 9112 §6.1 asks only servers to refuse unknown \
             codings",
        ),
        case(
            "Transfer-Encoding Chunked in capitals",
            framed("Transfer-Encoding: CHUNKED\r\n", "5\r\nhello\r\n0\r\n\r\n"),
        ),
        case(
            "Transfer-Encoding chunked twice",
            framed(
                "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
                "5\r\nhello\r\n0\r\n\r\n",
            ),
        ),
        case(
            "Transfer-Encoding empty with Content-Length",
            framed("Transfer-Encoding:\r\nContent-Length: 5\r\n", "hello"),
        ),
        case(
            "chunked on HTTP/1.0",
            "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        ),
        // Rules 5 and 6: Content-Length, invalid and valid (RFC 9110 §8.6).
        case("Content-Length 0", framed("Content-Length: 0\r\n", "")),
        case(
            "Content-Length with leading zeros",
            framed("Content-Length: 005\r\n", "hello"),
        ),
        case(
            "Content-Length of 25 digits",
            framed("Content-Length: 0000000000000000000000005\r\n", "hello"),
        ),
        case(
            "Content-Length with trailing OWS",
            framed("Content-Length: 5 \t\r\n", "hello"),
        ),
        case(
            "Content-Length twice, equal",
            framed("Content-Length: 5\r\nContent-Length: 5\r\n", "hello"),
        ),
        case(
            "Content-Length list 5, 5",
            framed("Content-Length: 5, 5\r\n", "hello"),
        ),
        case(
            "Content-Length twice, different",
            framed("Content-Length: 5\r\nContent-Length: 6\r\n", "hello!"),
        )
        .diverge(CL_CONFLICT),
        case(
            "Content-Length list 5, 6",
            framed("Content-Length: 5, 6\r\n", "hello!"),
        )
        .diverge(CL_CONFLICT),
        case(
            "Content-Length +5",
            framed("Content-Length: +5\r\n", "hello"),
        )
        .diverge(CL_INVALID),
        case(
            "Content-Length -1",
            framed("Content-Length: -1\r\n", "hello"),
        )
        .then_close(),
        case(
            "Content-Length 0x5",
            framed("Content-Length: 0x5\r\n", "hello"),
        )
        .diverge(CL_INVALID),
        case(
            "Content-Length 5x",
            framed("Content-Length: 5x\r\n", "hello"),
        )
        .diverge(CL_INVALID),
        case(
            "Content-Length 5 5",
            framed("Content-Length: 5 5\r\n", "hello"),
        )
        .diverge(CL_INVALID),
        case(
            "Content-Length empty",
            framed("Content-Length:\r\n", "hello"),
        )
        .then_close(),
        case(
            "Content-Length over 64 bits",
            framed("Content-Length: 99999999999999999999\r\n", "hello"),
        )
        .diverge(
            "roundtrip refuses a length it cannot represent (RFC 9110 §8.6: a \
             recipient MUST prevent integer overflow errors; RFC 9112 §6.3 rule \
             5); curl drops the field and reads until the close, so it waits on \
             a connection kept open",
        ),
        case(
            "Content-Length longer than the body, then close",
            framed("Content-Length: 10\r\n", "hello"),
        )
        .then_close(),
        case(
            "Content-Length shorter than the body",
            framed("Content-Length: 3\r\n", "hello"),
        ),
        case(
            "Connection: close with Content-Length, kept open",
            framed("Connection: close\r\nContent-Length: 5\r\n", "hello"),
        ),
        // Rule 8: close-delimited.
        case("close-delimited", framed("", "until the close")).then_close(),
        case("close-delimited, empty", framed("", "")).then_close(),
        case(
            "close-delimited, never closed",
            framed("", "and more to come"),
        ),
        // §8: incomplete messages.
        case(
            "head cut off mid-field, then close",
            "HTTP/1.1 200 OK\r\nX-A: 1",
        )
        .then_close()
        .diverge(CUT_HEAD),
        case(
            "head cut off before the empty line, then close",
            "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n",
        )
        .then_close()
        .diverge(CUT_HEAD),
        // ----- chunked coding: RFC 9112 §7.1 ---------------------------------
        case(
            "chunked baseline",
            chunked("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"),
        ),
        case("chunked, empty body", chunked("0\r\n\r\n")),
        case(
            "chunk size in uppercase hex",
            chunked("A\r\n0123456789\r\n0\r\n\r\n"),
        ),
        case(
            "chunk size in lowercase hex",
            chunked("a\r\n0123456789\r\n0\r\n\r\n"),
        ),
        case(
            "chunk size with leading zeros",
            chunked("0005\r\nhello\r\n000\r\n\r\n"),
        ),
        case(
            "chunk size with 20 leading zeros",
            chunked("000000000000000000005\r\nhello\r\n0\r\n\r\n"),
        )
        .diverge(
            "curl stricter: chunk-size is 1*HEXDIG (RFC 9112 §7.1), read by \
             value by roundtrip as Content-Length is (RFC 9110 §8.6); curl \
             refuses more than 16 hex digits, leading zeros included (exit 56)",
        ),
        case(
            "chunk extension without value",
            chunked("5;ext\r\nhello\r\n0\r\n\r\n"),
        ),
        case(
            "chunk extension with value",
            chunked("5;a=b;c=d\r\nhello\r\n0;x=y\r\n\r\n"),
        ),
        case(
            "chunk extension with quoted value",
            chunked("5;a=\"x y;z\\\"\"\r\nhello\r\n0\r\n\r\n"),
        ),
        case(
            "chunk extension with an empty name",
            chunked("5;\r\nhello\r\n0\r\n\r\n"),
        ),
        case(
            "chunk extension with a bare CR",
            chunked("5;a=b\rc\r\nhello\r\n0\r\n\r\n"),
        )
        .diverge(
            "both allowed by RFC 9112 §2.2 (a bare CR makes its element \
             invalid, or is replaced by SP): roundtrip refuses the chunk-size \
             line, curl skips the extension",
        ),
        case(
            "chunk extension after BWS",
            chunked("5 \t; a = b\r\nhello\r\n0\r\n\r\n"),
        ),
        case(
            "whitespace after the chunk size",
            chunked("5 \r\nhello\r\n0\r\n\r\n"),
        )
        .diverge(
            "roundtrip stricter, on purpose: whitespace is allowed only before \
             `;` (BWS of chunk-ext, RFC 9112 §7.1.1), so `5 \\r\\n` is no \
             chunk-size line; curl ignores what follows the digits",
        ),
        case(
            "chunk extension of 5 KiB",
            chunked(format!(
                "5;x={}\r\nhello\r\n0\r\n\r\n",
                "e".repeat(5 * 1024)
            )),
        )
        .diverge(
            "roundtrip's bound: a chunk-size line over Config::max_chunk_line \
             (4 KiB) is refused (DESIGN.md principle 4; RFC 9112 §7.1.1 lets a \
             recipient limit extensions); curl skips extensions of any length",
        ),
        case("chunk lines in bare LF", chunked("5\nhello\n0\n\n")).diverge(BARE_LF_CHUNK),
        case(
            "chunk data ended by bare LF",
            chunked("5\r\nhello\n0\r\n\r\n"),
        )
        .diverge(BARE_LF_CHUNK),
        case(
            "chunk size over 64 bits",
            chunked("1FFFFFFFFFFFFFFFF\r\nhello\r\n0\r\n\r\n"),
        ),
        case(
            "chunk size of 16 hex digits, then close",
            chunked("FFFFFFFFFFFFFFFF\r\nhello"),
        )
        .then_close(),
        case("chunk size not hex", chunked("5g\r\nhello\r\n0\r\n\r\n")).diverge(
            "curl lenient: `5g` is no chunk-size line (1*HEXDIG [chunk-ext] \
             CRLF, RFC 9112 §7.1), and roundtrip refuses it; curl ignores what \
             follows the digits",
        ),
        case("chunk size negative", chunked("-5\r\nhello\r\n0\r\n\r\n")),
        case("chunk size 0x5", chunked("0x5\r\nhello\r\n0\r\n\r\n")),
        case(
            "chunk size line empty",
            chunked("\r\n5\r\nhello\r\n0\r\n\r\n"),
        ),
        case(
            "chunk data longer than its size",
            chunked("3\r\nhello\r\n0\r\n\r\n"),
        ),
        case("chunk data shorter, then close", chunked("5\r\nhel")).then_close(),
        case("no chunks at all, then close", chunked("")).then_close(),
        case("no final chunk, then close", chunked("5\r\nhello\r\n")).then_close(),
        case(
            "last chunk without its CRLF, then close",
            chunked("5\r\nhello\r\n0\r\n"),
        )
        .then_close(),
        case(
            "last chunk without its CRLF, kept open",
            chunked("5\r\nhello\r\n0\r\n"),
        ),
        case(
            "data after the last chunk",
            chunked("5\r\nhello\r\n0\r\n\r\nextra bytes"),
        ),
        case(
            "trailer fields",
            chunked("5\r\nhello\r\n0\r\nX-T: 1\r\nX-U: 2\r\n\r\n"),
        ),
        case(
            "trailer fields in bare LF",
            chunked("5\r\nhello\r\n0\r\nX-T: 1\n\n"),
        ),
        case(
            "trailer field without a colon",
            chunked("5\r\nhello\r\n0\r\nX-T 1\r\n\r\n"),
        ),
        case(
            "NUL in a trailer field",
            chunked("5\r\nhello\r\n0\r\nX-T: 1\x002\r\n\r\n"),
        ),
        case(
            "trailer line of 20 KiB",
            chunked(format!(
                "5\r\nhello\r\n0\r\nX-T: {}\r\n\r\n",
                "t".repeat(20 * 1024)
            )),
        ),
        case(
            "trailer with obs-fold",
            chunked("5\r\nhello\r\n0\r\nX-T: 1\r\n 2\r\n\r\n"),
        ),
        case(
            "Content-Length in the trailers",
            chunked("5\r\nhello\r\n0\r\nContent-Length: 9\r\n\r\n"),
        ),
        case(
            "many one-byte chunks",
            chunked(format!("{}0\r\n\r\n", "1\r\nx\r\n".repeat(200))),
        ),
        // ----- informational responses: RFC 9110 §15.2 ----------------------
        case("100 then 200", [CONTINUE, OK5.as_bytes()].concat()),
        case(
            "100 with fields then 200",
            [
                b"HTTP/1.1 100 Continue\r\nX-A: 1\r\n\r\n".as_slice(),
                OK5.as_bytes(),
            ]
            .concat(),
        ),
        case(
            "100, 102, 103 then 200",
            [
                b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\n".as_slice(),
                b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n",
                OK5.as_bytes(),
            ]
            .concat(),
        ),
        case(
            "103 with Link fields then 200",
            [
                b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\
                  Link: </b.js>; rel=preload\r\n\r\n"
                    .as_slice(),
                OK5.as_bytes(),
            ]
            .concat(),
        ),
        case(
            "100 with Content-Length then 200",
            [
                b"HTTP/1.1 100 Continue\r\nContent-Length: 5\r\n\r\n".as_slice(),
                OK5.as_bytes(),
            ]
            .concat(),
        ),
        case("20 informational responses", informational(20)),
        case("21 informational responses", informational(21)).diverge(
            "roundtrip's bound: more interim responses than \
             Config::max_1xx_responses (20) are refused (DESIGN.md principle 4; \
             RFC 9110 §15.2 sets no number); curl has no limit",
        ),
        case(
            "1xx and final response in bare LF",
            "HTTP/1.1 100 Continue\n\nHTTP/1.1 200 OK\nContent-Length: 5\n\nhello",
        ),
        case(
            "HTTP/1.0 100 then HTTP/1.0 200",
            "HTTP/1.0 100 Continue\r\n\r\nHTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello",
        ),
        case(
            "1xx with a different version than the final response",
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello",
        ),
        case("100 then close", "HTTP/1.1 100 Continue\r\n\r\n").then_close(),
        case("101 unsolicited, kept open", SWITCH_101).diverge(UNSOLICITED_101),
        case("101 unsolicited, then close", SWITCH_101)
            .then_close()
            .diverge(UNSOLICITED_101),
        // ----- not HTTP/1.x at all --------------------------------------------
        case("HTTP/0.9-style body, then close", "hello world\n").then_close(),
        case(
            "HTML without a head, then close",
            "<html><body>hi</body></html>\n",
        )
        .then_close(),
        case(
            "NUL bytes in the body",
            framed("Content-Length: 5\r\n", "a\0b\0c"),
        ),
        case(
            "NUL before the status line",
            [b"\0".as_slice(), OK5.as_bytes()].concat(),
        ),
        // ----- connection reuse: RFC 9112 §9.3, §6.3 -------------------------
        // Two requests on one client, the same bytes answering each: a client
        // that misjudged where the first response ended reads leftovers as
        // the second, or reuses a connection whose framing was in doubt.
        case("again: Content-Length", OK5).and_again(),
        case(
            "again: chunked with trailers",
            chunked("5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n"),
        )
        .and_again(),
        case("again: 100 then 200", [CONTINUE, OK5.as_bytes()].concat()).and_again(),
        case(
            "again: 304 with Content-Length",
            "HTTP/1.1 304 Not Modified\r\nContent-Length: 100\r\n\r\n",
        )
        .and_again(),
        case("again: HTTP/1.0", status("HTTP/1.0 200 OK")).and_again(),
        case(
            "again: HTTP/1.0 with keep-alive",
            "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 5\r\n\r\nhello",
        )
        .and_again(),
        case(
            "again: Connection: close",
            framed("Connection: close\r\nContent-Length: 5\r\n", "hello"),
        )
        .and_again(),
        case(
            "again: close-delimited, then close",
            framed("", "until the close"),
        )
        .then_close()
        .and_again(),
        case(
            "again: a second response right after the body",
            [
                OK5.as_bytes(),
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nextra",
            ]
            .concat(),
        )
        .and_again(),
        case(
            "again: Content-Length shorter than the body",
            framed("Content-Length: 3\r\n", "hello"),
        )
        .and_again(),
        case(
            "again: data after the last chunk",
            chunked("5\r\nhello\r\n0\r\n\r\nextra bytes"),
        )
        .and_again()
        .diverge(EXTRA_BYTES),
        case(
            "again: 204 with a body",
            "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello",
        )
        .and_again()
        .diverge(EXTRA_BYTES),
        case(
            "again: chunked and Content-Length",
            framed(
                "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n",
                "5\r\nhello\r\n0\r\n\r\n",
            ),
        )
        .and_again()
        .diverge(
            "roundtrip on purpose: a response with both Transfer-Encoding and \
             Content-Length is read as chunked but 'ought to be handled as an \
             error' (RFC 9112 §6.3 rule 3, a smuggling and splitting sign), so \
             its connection is closed; curl 7.88.1 reuses it",
        ),
        case(
            "again: chunked on HTTP/1.0 with keep-alive",
            "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n\
             5\r\nhello\r\n0\r\n\r\n",
        )
        .and_again()
        .diverge(
            "curl wrong: a client that receives an HTTP/1.0 message with \
             Transfer-Encoding MUST treat its framing as faulty and close the \
             connection after it (RFC 9112 §6.1), as roundtrip does; curl \
             7.88.1 reuses it",
        ),
        case(
            "again: Transfer-Encoding identity with Content-Length, then close",
            framed(
                "Transfer-Encoding: identity\r\nContent-Length: 5\r\n",
                "hello",
            ),
        )
        .then_close()
        .and_again(),
        // ----- split delivery ---------------------------------------------------
        case("head one byte per write", OK5).bytewise(),
        case(
            "chunked, one byte per write",
            chunked("5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n"),
        )
        .bytewise(),
        case("split between CR and LF", OK5).split_around(b"\r"),
        case(
            "split inside the Content-Length digits",
            framed("Content-Length: 12\r\n", "hello world!"),
        )
        .split_at(&[34]),
        case("split before the empty line", OK5).split_around(b"\r\n\r\n"),
        case(
            "split inside a chunk size line",
            chunked("10\r\n0123456789abcdef\r\n0\r\n\r\n"),
        )
        .split_at(&[CHUNKED.len() + 1]),
        case(
            "split inside the last chunk",
            chunked("5\r\nhello\r\n0\r\n\r\n"),
        )
        .split_at(&[CHUNKED.len() + 10, CHUNKED.len() + 12]),
        case(
            "1xx and final response in separate writes",
            [CONTINUE, OK5.as_bytes()].concat(),
        )
        .split_at(&[25]),
    ];
    cases.into()
}

// ----- outcomes ---------------------------------------------------------------

/// One client's fetch, reduced to what can be compared.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Response {
        status: u16,
        body: Vec<u8>,
    },
    /// Any error but a timeout; what the client said.
    Refused(String),
    /// The client gave up at its own timeout.
    Hung(String),
    /// roundtrip still running past `STUCK`: its timeouts failed.
    Stuck,
}

impl Outcome {
    fn same_as(&self, other: &Outcome) -> bool {
        match (self, other) {
            (Outcome::Response { .. }, Outcome::Response { .. }) => self == other,
            (Outcome::Refused(_), Outcome::Refused(_)) | (Outcome::Hung(_), Outcome::Hung(_)) => {
                true
            }
            _ => false,
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Response { status, body } => {
                write!(f, "{status}, {} body bytes ", body.len())?;
                let shown = &body[..body.len().min(48)];
                write!(f, "\"{}\"", shown.escape_ascii())?;
                if shown.len() < body.len() {
                    f.write_str("…")?;
                }
                Ok(())
            }
            Outcome::Refused(why) => write!(f, "refused: {why}"),
            Outcome::Hung(why) => write!(f, "hung: {why}"),
            Outcome::Stuck => write!(f, "STUCK past {STUCK:?}, its own timeouts did not fire"),
        }
    }
}

/// `requests` GETs of `url`, one after another on one client.
fn roundtrip_fetch(url: String, requests: usize) -> Vec<Outcome> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let client = Client::builder()
            .configure(|c| {
                c.proxy = ProxyConfig::Off;
                c.hosts_file = None;
                c.resolv_conf = None;
                c.connect_timeout = CLIENT_WAIT;
                c.response_header_timeout = Some(CLIENT_WAIT);
                c.body_idle_timeout = Some(CLIENT_WAIT);
                c.total_timeout = Some(CLIENT_TOTAL);
            })
            .build();
        for _ in 0..requests {
            let fetched = client.get(&url).and_then(|resp| {
                let status = resp.status().as_u16();
                resp.into_body().bytes().map(|body| (status, body))
            });
            let outcome = match fetched {
                Ok((status, body)) => Outcome::Response { status, body },
                Err(e) => {
                    let why = format!("{:?} in {}: {e}", e.kind(), e.phase().as_str());
                    match e.kind() {
                        ErrorKind::Timeout { .. } | ErrorKind::TotalTimeout { .. } => {
                            Outcome::Hung(why)
                        }
                        _ => Outcome::Refused(why),
                    }
                }
            };
            if tx.send(outcome).is_err() {
                return;
            }
        }
    });
    let deadline = Instant::now() + STUCK;
    (0..requests)
        .map(|_| {
            let left = deadline.saturating_duration_since(Instant::now());
            rx.recv_timeout(left).unwrap_or(Outcome::Stuck)
        })
        .collect()
}

/// curl's exit code for "operation timed out".
const CURL_TIMEOUT: i32 = 28;

/// `requests` GETs of `url` by one curl process, which reuses its
/// connection where it thinks it may; each transfer's body goes to its own
/// file in `dir`.
fn curl_fetch(curl: &Path, url: &str, requests: usize, dir: &Path, index: usize) -> Vec<Outcome> {
    let files: Vec<PathBuf> = (0..requests)
        .map(|r| dir.join(format!("case-{index}-{r}.body")))
        .collect();
    let mut cmd = Command::new(curl);
    // -q first: no .curlrc changes the comparison.
    cmd.arg("-q").args(["-sS", "--noproxy", "*"]);
    for f in &files {
        cmd.arg("-o").arg(f);
    }
    // One line per transfer, failed ones included; the exit code of the
    // process is only the last transfer's.
    cmd.args([
        "-w",
        "%{http_code} %{exitcode} %{errormsg}\\n",
        "--max-time",
    ])
    .arg(CLIENT_TOTAL.as_secs().to_string())
    .arg("--connect-timeout")
    .arg(CLIENT_WAIT.as_secs().to_string());
    for _ in 0..requests {
        cmd.arg(url);
    }
    let output = match cmd.output() {
        Ok(o) => o,
        Err(e) => return vec![Outcome::Refused(format!("could not run curl: {e}")); requests],
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut lines = stdout.lines();
    files
        .iter()
        .map(|file| {
            let Some(line) = lines.next() else {
                let said = String::from_utf8_lossy(&output.stderr);
                return Outcome::Refused(format!(
                    "no -w line ({}): {}",
                    output.status,
                    said.trim()
                ));
            };
            let mut parts = line.splitn(3, ' ');
            let code = parts.next().unwrap_or("");
            let exit: i32 = parts.next().and_then(|e| e.parse().ok()).unwrap_or(-1);
            let message = parts.next().unwrap_or("");
            match exit {
                // No body bytes, no file.
                0 => match code.parse() {
                    Ok(status) => Outcome::Response {
                        status,
                        body: std::fs::read(file).unwrap_or_default(),
                    },
                    Err(_) => Outcome::Refused(format!("exit 0 but http_code {code:?}")),
                },
                CURL_TIMEOUT => Outcome::Hung(format!("exit 28 (http_code {code}): {message}")),
                n => Outcome::Refused(format!("exit {n} (http_code {code}): {message}")),
            }
        })
        .collect()
}

// ----- the scripted server ------------------------------------------------------

/// A loopback server that answers every connection with the same script:
/// read the request head, write the case's bytes, then close or hold.
struct Peer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    accepted: Arc<AtomicUsize>,
    acceptor: Option<JoinHandle<()>>,
}

impl Peer {
    fn start(writes: Arc<Vec<Vec<u8>>>, then: Then) -> Peer {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("binding 127.0.0.1:0");
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicUsize::new(0));
        let (stop2, accepted2) = (stop.clone(), accepted.clone());
        let acceptor = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                accepted2.fetch_add(1, Ordering::SeqCst);
                let writes = writes.clone();
                std::thread::spawn(move || serve(conn, &writes, then));
            }
        });
        Peer {
            addr,
            stop,
            accepted,
            acceptor: Some(acceptor),
        }
    }

    fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the acceptor so that it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(2));
        if let Some(a) = self.acceptor.take() {
            let _ = a.join();
        }
    }
}

fn serve(mut conn: TcpStream, writes: &[Vec<u8>], then: Then) {
    let _ = conn.set_nodelay(true);
    let _ = conn.set_read_timeout(Some(HOLD));
    let _ = conn.set_write_timeout(Some(HOLD));
    // Every request on a connection kept open gets the same bytes; the
    // loop ends when the client closes (or after `HOLD` of silence).
    loop {
        // The request head of a GET, and nothing after it: a byte left
        // unread would turn a close into a reset, which can destroy
        // response bytes still on their way.
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            match conn.read(&mut byte) {
                Ok(1) => head.push(byte[0]),
                _ => return,
            }
        }
        for (i, w) in writes.iter().enumerate() {
            if i > 0 {
                std::thread::sleep(PAUSE);
            }
            if conn.write_all(w).is_err() {
                return;
            }
        }
        if then == Then::Close {
            return;
        }
    }
}

// ----- the run ----------------------------------------------------------------------

/// What one client made of a case: an outcome per request, and the
/// connections its server accepted.
struct Run {
    outcomes: Vec<Outcome>,
    connections: usize,
}

impl Run {
    /// With several requests the connections count too: one client
    /// reusing a connection the other would not is a difference in how
    /// the first response was framed.
    fn same_as(&self, other: &Run) -> bool {
        let outcomes = self.outcomes.len() == other.outcomes.len()
            && self
                .outcomes
                .iter()
                .zip(&other.outcomes)
                .all(|(a, b)| a.same_as(b));
        outcomes && (self.outcomes.len() == 1 || self.connections == other.connections)
    }

    fn stuck(&self) -> bool {
        self.outcomes.contains(&Outcome::Stuck)
    }
}

impl fmt::Display for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, o) in self.outcomes.iter().enumerate() {
            if i > 0 {
                f.write_str("; then ")?;
            }
            write!(f, "{o}")?;
        }
        write!(f, " [connections: {}]", self.connections)
    }
}

struct Observed {
    roundtrip: Run,
    curl: Run,
}

fn run_case(curl: &Path, dir: &Path, index: usize, case: &Case) -> Observed {
    // A server each, so that each client's connections are its own.
    let writes = Arc::new(case.writes.clone());
    let ours = Peer::start(writes.clone(), case.then);
    let theirs = Peer::start(writes, case.then);
    let outcomes = roundtrip_fetch(ours.url(), case.requests);
    let roundtrip = Run {
        outcomes,
        connections: ours.accepted.load(Ordering::SeqCst),
    };
    let outcomes = curl_fetch(curl, &theirs.url(), case.requests, dir, index);
    let curl = Run {
        outcomes,
        connections: theirs.accepted.load(Ordering::SeqCst),
    };
    Observed { roundtrip, curl }
}

fn find_curl() -> Result<PathBuf, StartError> {
    let curl = interop::find_binary("curl", &["/usr/bin/curl"]).ok_or_else(|| {
        StartError::Missing(
            "no /usr/bin/curl and no curl on PATH; the Debian package is curl".into(),
        )
    })?;
    // Installed but unusable is a broken setup, not a skip.
    match Command::new(&curl).arg("--version").output() {
        Ok(o) if o.status.success() => Ok(curl),
        Ok(o) => Err(StartError::Failed(format!(
            "`curl --version` exited with {}",
            o.status
        ))),
        Err(e) => Err(StartError::Failed(format!(
            "running {}: {e}",
            curl.display()
        ))),
    }
}

#[test]
fn roundtrip_and_curl_read_scripted_responses_as_the_table_says() {
    let Some(curl) = interop::or_skip("curl", find_curl) else {
        return;
    };
    let version = Command::new(&curl)
        .arg("--version")
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .unwrap_or("")
                .to_owned()
        })
        .unwrap_or_default();

    let cases = Arc::new(table());
    let mut names = std::collections::HashSet::new();
    for c in cases.iter() {
        assert!(names.insert(c.name), "two cases are named {:?}", c.name);
    }

    let dir = Arc::new(TempDir::new("differential-curl"));
    let next = Arc::new(AtomicUsize::new(0));
    let results: Arc<Mutex<Vec<Option<Observed>>>> =
        Arc::new(Mutex::new((0..cases.len()).map(|_| None).collect()));
    let started = Instant::now();
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let (cases, dir, next, results, curl) = (
                cases.clone(),
                dir.clone(),
                next.clone(),
                results.clone(),
                curl.clone(),
            );
            std::thread::spawn(move || loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(case) = cases.get(i) else { return };
                let observed = run_case(&curl, dir.path(), i, case);
                results.lock().unwrap()[i] = Some(observed);
            })
        })
        .collect();
    for w in workers {
        w.join().expect("a worker panicked");
    }
    let elapsed = started.elapsed();

    let results = std::mem::take(&mut *results.lock().unwrap());
    let mut report = String::new();
    let mut failures = Vec::new();
    let (mut agree, mut diverge) = (0, 0);
    for (case, observed) in cases.iter().zip(results) {
        let o = observed.expect("every case ran");
        let same = o.roundtrip.same_as(&o.curl);
        let stuck = o.roundtrip.stuck();
        let as_expected = !stuck
            && match case.expect {
                Expect::Agree => same,
                Expect::Diverge { .. } => !same,
            };
        if same {
            agree += 1;
        } else {
            diverge += 1;
        }
        let mark = if as_expected { "ok  " } else { "FAIL" };
        let seen = if same { "agree" } else { "diverge" };
        let _ = writeln!(
            report,
            "{mark} {}: expected {:?}, observed: {seen}",
            case.name, case.expect
        );
        let _ = writeln!(report, "       roundtrip: {}", o.roundtrip);
        let _ = writeln!(report, "       curl:      {}", o.curl);
        if !as_expected {
            failures.push(case.name);
        }
    }
    let _ = writeln!(
        report,
        "\n{} cases ({agree} agree, {diverge} diverge) against {version}, in {elapsed:.1?}",
        cases.len()
    );
    eprintln!("{report}");
    assert!(
        failures.is_empty(),
        "{} case(s) did not match the table (a changed agreement needs a look; a divergence \
         that now agrees needs its row updated): {failures:?}\n(the per-case report is above)",
        failures.len()
    );
}

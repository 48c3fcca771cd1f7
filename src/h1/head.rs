//! The response head parser (RFC 9112 §4 status line, §5 field lines) on
//! top of httparse, with the two limits every client needs: total head size
//! and field count.
//!
//! The head's bytes are copied once into a shared buffer and every field
//! value is a slice of it, so a parsed head costs a handful of allocations
//! whatever its field count. An obs-fold in a response head (RFC 9112
//! §5.2: a user agent MUST replace it with spaces before interpreting the
//! value) becomes spaces in a copy of that one value; a framing field
//! that was folded is then no number and no single coding, and fails as
//! any other malformed one. A status line of `HTTP/1.2` to `HTTP/1.9` is
//! read as HTTP/1.1 (RFC 9110 §2.5); field lines may end in a bare LF
//! (RFC 9112 §2.2, as httparse allows).

use std::mem::MaybeUninit;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Version};

use crate::error::{Error, ErrorKind, Limit, Phase, Result};

/// A parsed status line and field section.
///
/// ```
/// use roundtrip::{h1::parse_response_head, ErrorKind};
///
/// let (_, head) = parse_response_head(b"HTTP/1.0 404 Not Found\r\nA: 1\r\nA: 2\r\n\r\n", 1024, 10)?
///     .expect("a complete head");
/// assert_eq!(head.status, 404);
/// assert_eq!(head.version, http::Version::HTTP_10);
/// assert_eq!(head.headers.get_all("a").iter().count(), 2); // in the order received
///
/// // A folded field line (obs-fold, RFC 9112 §5.2) is unfolded into spaces.
/// let (_, folded) = parse_response_head(b"HTTP/1.1 200 OK\r\nA: 1\r\n\t2\r\n\r\n", 1024, 10)?
///     .expect("complete");
/// assert_eq!(folded.headers["a"], "1   2");
/// # Ok::<(), roundtrip::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ResponseHead {
    /// HTTP/1.0 or HTTP/1.1.
    pub version: Version,
    /// The status code, 100 to 999.
    pub status: StatusCode,
    /// The field section, in the order received.
    pub headers: HeaderMap,
}

/// A parsed head, its length in the buffer, and the head itself as it came
/// off the wire ([`parse_response_head_into`]).
pub(crate) type Parsed = (usize, ResponseHead, Bytes);

/// Header slots httparse gets on the stack; more than this (when
/// `max_headers` is raised) uses a heap array.
const STACK_HEADERS: usize = 100;

fn malformed(why: impl Into<String>) -> Error {
    Error::new(
        Phase::ReadResponseHead,
        ErrorKind::MalformedHead(why.into()),
    )
}

fn limit(limit: Limit, max: usize) -> Error {
    Error::new(
        Phase::ReadResponseHead,
        ErrorKind::LimitExceeded { limit, max },
    )
}

/// Parses one response head from the start of `buf`.
///
/// Returns `Ok(None)` while the head is incomplete and still within
/// `max_head_size`; `Ok(Some((len, head)))` once complete, where `len` is the
/// number of bytes the head occupied.
///
/// ```
/// use http::{StatusCode, Version};
/// use roundtrip::h1::parse_response_head;
///
/// let bytes = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
/// // Not all there yet: wait for more bytes.
/// assert!(parse_response_head(&bytes[..20], 64 * 1024, 100)?.is_none());
///
/// let (len, head) = parse_response_head(bytes, 64 * 1024, 100)?.expect("complete");
/// assert_eq!(head.status, StatusCode::OK);
/// assert_eq!(head.version, Version::HTTP_11);
/// assert_eq!(head.headers["content-length"], "5");
/// assert_eq!(&bytes[len..], b"hello"); // the body follows the head
/// # Ok::<(), roundtrip::Error>(())
/// ```
pub fn parse_response_head(
    buf: &[u8],
    max_head_size: usize,
    max_headers: usize,
) -> Result<Option<(usize, ResponseHead)>> {
    let store = &mut HeadStore::default();
    let parsed = parse_response_head_into(buf, max_head_size, max_headers, store, 0)?;
    Ok(parsed.map(|(len, head, _)| (len, head)))
}

/// Where a client's response heads are kept between parses
/// ([`parse_response_head_into`]): the byte store their field values share,
/// and the field names of the last head parsed.
#[derive(Debug, Default)]
pub(crate) struct HeadStore {
    /// The head's bytes are copied into this store instead of a new
    /// allocation. The exchanges of one client share one store: a head
    /// takes the next piece of it, and once every value cut from it has
    /// been dropped its storage is used again (`BytesMut::reserve`), so a
    /// keep-alive response head costs no allocation for its bytes. A value
    /// the caller keeps keeps the piece of storage it was cut from alive
    /// (at most `chunk` bytes, or the one head when it is larger); the
    /// store then takes fresh storage, at least `chunk` bytes at a time.
    bytes: BytesMut,
    /// The names of the last head's field lines, in order (at most
    /// [`KEPT_NAMES`]), each with the end of its spelling on the wire in
    /// `spelled`. Responses on one connection, from one server, nearly
    /// always repeat them byte for byte; a line spelled as the kept one at
    /// its place takes a copy of that name instead of being looked up
    /// again (`HeaderName::from_bytes`, with its case folding and search of
    /// the standard names, the largest part of a short head's parse).
    names: Vec<(HeaderName, usize)>,
    /// The kept names as they were spelled, one after another.
    spelled: Vec<u8>,
}

/// Field names a [`HeadStore`] keeps from one head for the next.
const KEPT_NAMES: usize = 32;

/// [`parse_response_head`], with the head's bytes and names kept in
/// `store` for the next head (see [`HeadStore`]), and with the head as it
/// came off the wire, from the status line to the empty line that ends it
/// (sharing its storage with the field values): the server's reason phrase
/// and the case of its field names, which `status` and `headers` do not
/// keep, and any obs-fold and higher HTTP/1 minor version as sent.
pub(crate) fn parse_response_head_into(
    buf: &[u8],
    max_head_size: usize,
    max_headers: usize,
    store: &mut HeadStore,
    chunk: usize,
) -> Result<Option<Parsed>> {
    let window = &buf[..buf.len().min(max_head_size)];
    // Decided on the version alone, not on the space after it: httparse
    // refuses `HTTP/1.7` as soon as it has the digit, so the verdict on a
    // head that arrives in pieces must not wait for more (found by the
    // h1_head fuzz target).
    // Parsed as HTTP/1.1; the raw head keeps the version sent.
    let as_11 = names_higher_http1_minor(window).then(|| as_http11(window));
    let parsed = as_11.as_deref().unwrap_or(window);
    parse_window(
        parsed,
        window,
        buf.len(),
        max_head_size,
        max_headers,
        store,
        chunk,
    )
}

/// Parses `window`; `wire` is what arrived, of which `window` is a copy
/// but for the version digit ([`as_http11`]), and is what the raw head
/// keeps.
fn parse_window(
    window: &[u8],
    wire: &[u8],
    available: usize,
    max_head_size: usize,
    max_headers: usize,
    store: &mut HeadStore,
    chunk: usize,
) -> Result<Option<Parsed>> {
    // Uninitialised: httparse writes each slot it fills, so a head of eight
    // fields does not pay for clearing a hundred.
    if max_headers <= STACK_HEADERS {
        let mut slots = [const { MaybeUninit::uninit() }; STACK_HEADERS];
        let slots = &mut slots[..max_headers];
        parse_into(window, wire, available, max_head_size, slots, store, chunk)
    } else {
        let mut slots = vec![MaybeUninit::uninit(); max_headers];
        parse_into(
            window,
            wire,
            available,
            max_head_size,
            &mut slots,
            store,
            chunk,
        )
    }
}

/// Whether a status line (or its start) names a higher minor version of
/// HTTP/1, `HTTP/1.2` to `HTTP/1.9`: RFC 9110 §2.5 says a recipient SHOULD
/// process such a message as the highest minor version it implements, and
/// httparse knows only 1.0 and 1.1.
fn names_higher_http1_minor(line: &[u8]) -> bool {
    matches!(
        line,
        [b'H', b'T', b'T', b'P', b'/', b'1', b'.', b'2'..=b'9', ..]
    )
}

/// A head of which [`names_higher_http1_minor`] holds, copied with the
/// version made `HTTP/1.1`. Every other head is parsed in place.
#[cold]
fn as_http11(window: &[u8]) -> Vec<u8> {
    let mut copy = window.to_vec();
    copy[7] = b'1';
    copy
}

fn parse_into<'b>(
    window: &'b [u8],
    wire: &[u8],
    available: usize,
    max_head_size: usize,
    slots: &mut [MaybeUninit<httparse::Header<'b>>],
    store: &mut HeadStore,
    chunk: usize,
) -> Result<Option<Parsed>> {
    let max_headers = slots.len();
    let mut resp = httparse::Response::new(&mut []);
    let len = match parser().parse_response_with_uninit_headers(&mut resp, window, slots) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => {
            if available >= max_head_size {
                return Err(limit(Limit::HeadSize, max_head_size));
            }
            return Ok(None);
        }
        Err(httparse::Error::TooManyHeaders) => {
            return Err(limit(Limit::HeaderCount, max_headers));
        }
        Err(e) => return Err(malformed(e.to_string())),
    };
    let version = match resp.version {
        Some(0) => Version::HTTP_10,
        Some(1) => Version::HTTP_11,
        _ => return Err(malformed("unsupported HTTP version")),
    };
    let code = resp.code.unwrap_or(0);
    let status = StatusCode::from_u16(code)
        .map_err(|_| malformed(format!("status code {code} outside 100-999")))?;

    let bytes = &mut store.bytes;
    if bytes.capacity() < len {
        bytes.reserve(len.max(chunk));
    }
    bytes.extend_from_slice(&wire[..len]);
    let shared: Bytes = bytes.split().freeze();
    let base = window.as_ptr() as usize;
    let mut headers = HeaderMap::with_capacity(resp.headers.len());
    for (i, h) in resp.headers.iter().enumerate() {
        let wire = h.name.as_bytes();
        // Where the kept name at this place is spelled: after the one
        // before it (every place before `i` holds one, or `i` is past
        // `KEPT_NAMES`, and then none is kept here either).
        let from = match i {
            0 => 0,
            _ => store.names.get(i - 1).map_or(usize::MAX, |&(_, end)| end),
        };
        let name = match store.names.get(i) {
            Some((kept, end)) if store.spelled[from..*end] == *wire => kept.clone(),
            _ => {
                let name = HeaderName::from_bytes(wire)
                    .map_err(|_| malformed(format!("invalid field name {:?}", h.name)))?;
                // From the first line that differs, the kept names are this
                // head's.
                if i < KEPT_NAMES {
                    store.names.truncate(i);
                    store.spelled.truncate(from);
                    store.spelled.extend_from_slice(wire);
                    store.names.push((name.clone(), store.spelled.len()));
                }
                name
            }
        };
        let start = h.value.as_ptr() as usize - base;
        // A value with an obs-fold keeps its line break (httparse allows
        // the fold but leaves it in), which `HeaderValue` refuses: only
        // then is the value looked at again, so heads without folds pay
        // nothing for them.
        let value = HeaderValue::from_maybe_shared(shared.slice(start..start + h.value.len()))
            .or_else(|e| unfolded(h.value).ok_or(e))
            .map_err(|_| malformed(format!("invalid value for field {:?}", h.name)))?;
        headers.append(name, value);
    }
    Ok(Some((
        len,
        ResponseHead {
            version,
            status,
            headers,
        },
        shared,
    )))
}

/// The value of a field line with an obs-fold, each fold (its line break
/// and the spaces and tabs after it) replaced with spaces and the value
/// trimmed; `None` when `value` has no fold or is invalid even so.
#[cold]
fn unfolded(value: &[u8]) -> Option<HeaderValue> {
    if !value.contains(&b'\n') {
        return None;
    }
    let mut value = value.to_vec();
    let mut in_fold = false;
    for b in value.iter_mut() {
        match *b {
            b'\r' | b'\n' => {
                *b = b' ';
                in_fold = true;
            }
            b'\t' if in_fold => *b = b' ',
            b' ' => {}
            _ => in_fold = false,
        }
    }
    HeaderValue::from_bytes(value.trim_ascii()).ok()
}

/// The reason phrase of a response head (`head` holds at least its
/// status line, as `Body::raw_head` or a trace event's `raw_head` give
/// it), as the server sent it: empty when absent, not UTF-8 or unparsable.
///
/// ```
/// use roundtrip::h1::head::reason_phrase;
///
/// assert_eq!(reason_phrase(b"HTTP/1.1 404 Gone Fishing\r\nA: 1\r\n\r\n"), "Gone Fishing");
/// assert_eq!(reason_phrase(b"HTTP/1.1 204\r\n\r\n"), "");
/// assert_eq!(reason_phrase(b"garbage"), "");
/// ```
pub fn reason_phrase(head: &[u8]) -> String {
    let line = head
        .split(|&b| b == b'\n')
        .next()
        .unwrap_or_default()
        .strip_suffix(b"\r")
        .unwrap_or_default();
    // Read as HTTP/1.1, as the head was.
    let mut line = if names_higher_http1_minor(line) {
        as_http11(line)
    } else {
        line.to_vec()
    };
    line.extend_from_slice(b"\r\n\r\n");
    // httparse checks the status line; no header slots are needed for it.
    let mut resp = httparse::Response::new(&mut []);
    match resp.parse(&line) {
        Ok(_) => resp.reason.unwrap_or_default().to_owned(),
        Err(_) => String::new(),
    }
}

/// Parses a trailer section (RFC 9112 §7.1.2): field lines ending with an
/// empty line. `buf` must hold the whole section including that line.
///
/// ```
/// let trailers = roundtrip::h1::head::parse_trailers(b"Digest: sha-256=abc\r\n\r\n", 100)?;
/// assert_eq!(trailers["digest"], "sha-256=abc");
/// # Ok::<(), roundtrip::Error>(())
/// ```
pub fn parse_trailers(buf: &[u8], max_fields: usize) -> Result<HeaderMap> {
    let err = |why: String| Error::new(Phase::ReadResponseBody, ErrorKind::MalformedTrailers(why));
    // httparse unfolds obs-fold (RFC 9112 §5.2, a MUST for a user agent,
    // trailers included) only behind a status line: the section is parsed
    // as the fields of a stand-in one, by the head's own parser. Trailers
    // are rare; the copy is too.
    let mut wire = Vec::with_capacity(TRAILER_STATUS_LINE.len() + buf.len());
    wire.extend_from_slice(TRAILER_STATUS_LINE);
    wire.extend_from_slice(buf);
    let max_fields = max_fields.min(1024);
    let store = &mut HeadStore::default();
    match parse_window(&wire, &wire, wire.len(), usize::MAX, max_fields, store, 0) {
        Ok(Some((_, head, _))) => Ok(head.headers),
        Ok(None) => Err(err("incomplete".into())),
        Err(e) => Err(err(match e.kind() {
            ErrorKind::MalformedHead(why) => why.clone(),
            ErrorKind::LimitExceeded { .. } => format!("more than {max_fields} fields"),
            other => other.to_string(),
        })),
    }
}

/// What [`parse_trailers`] puts before a trailer section to parse it.
const TRAILER_STATUS_LINE: &[u8] = b"HTTP/1.1 200 OK\r\n";

/// httparse as RFC 9112 §5.2 asks of a user agent: obs-fold accepted (and
/// then unfolded by [`unfolded`]).
fn parser() -> httparse::ParserConfig {
    let mut parser = httparse::ParserConfig::default();
    parser.allow_obsolete_multiline_headers_in_responses(true);
    parser
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Option<(usize, ResponseHead)>> {
        parse_response_head(s.as_bytes(), 1024, 8)
    }

    /// Heads parsed into one shared store: the values a caller keeps are
    /// never overwritten by later heads, whether the store is reused
    /// (every earlier value dropped) or has to take fresh storage (some
    /// kept), and heads larger than the store's chunk still fit.
    #[test]
    fn heads_sharing_one_store_keep_their_own_bytes() {
        let mut store = HeadStore::default();
        let mut kept = Vec::new();
        for i in 0..200 {
            let pad = "p".repeat(i * 7 % 300);
            let raw = format!("HTTP/1.1 200 OK\r\nX-N: {i}\r\nX-Pad: {pad}\r\n\r\nbody");
            let (len, head, wire) =
                parse_response_head_into(raw.as_bytes(), 64 * 1024, 8, &mut store, 256)
                    .unwrap()
                    .unwrap();
            assert_eq!(&raw.as_bytes()[len..], b"body");
            assert_eq!(wire, raw.as_bytes()[..len]);
            assert_eq!(head.headers["x-n"], i.to_string().as_str());
            if i % 3 == 0 {
                kept.push((i, pad, head)); // the others are dropped at once
            }
        }
        for (i, pad, head) in &kept {
            assert_eq!(head.headers["x-n"], i.to_string().as_str());
            assert_eq!(head.headers["x-pad"], pad.as_str());
        }
    }

    /// Once every value cut from the store is dropped, the next head reuses
    /// its storage rather than allocating (the keep-alive case).
    #[test]
    fn a_store_whose_heads_were_dropped_is_reused() {
        let raw = b"HTTP/1.1 204 No Content\r\nServer: t\r\n\r\n";
        let mut store = HeadStore::default();
        let first = parse_response_head_into(raw, 1024, 8, &mut store, 64)
            .unwrap()
            .unwrap()
            .1;
        let at = first.headers["server"].as_bytes().as_ptr() as usize;
        drop(first);
        for _ in 0..10 {
            let head = parse_response_head_into(raw, 1024, 8, &mut store, 64)
                .unwrap()
                .unwrap()
                .1;
            let p = head.headers["server"].as_bytes().as_ptr() as usize;
            assert!(p.abs_diff(at) < 64, "storage moved: {p:#x} vs {at:#x}");
        }
    }

    /// Heads parsed one after another into one store, each field name
    /// checked against the last head's at its place: the names come out
    /// the same whether they were looked up or taken from the last head,
    /// in whatever case the line spells them, when lines move, when a head
    /// has more or fewer of them, and a bad name is refused at a place
    /// whose last name was good.
    #[test]
    fn field_names_kept_from_the_last_head_are_the_names_sent() {
        let heads: &[(&str, &[&str])] = &[
            (
                "Server: a\r\nContent-Length: 0\r\nX-Custom: 1\r\n",
                &["server", "content-length", "x-custom"],
            ),
            (
                "SERVER: a\r\ncontent-LENGTH: 0\r\nx-CUSTOM: 1\r\n",
                &["server", "content-length", "x-custom"],
            ),
            (
                "Content-Length: 0\r\nServer: a\r\n",
                &["content-length", "server"],
            ),
            (
                "Content-Length: 0\r\nServer: a\r\nX-Custon: 1\r\nX-More: 2\r\n",
                &["content-length", "server", "x-custon", "x-more"],
            ),
            (
                "Content-Length: 0\r\nServer: a\r\nX-Custom: 1\r\nX-More: 2\r\n",
                &["content-length", "server", "x-custom", "x-more"],
            ),
        ];
        let mut store = HeadStore::default();
        for (fields, names) in heads {
            let raw = format!("HTTP/1.1 200 OK\r\n{fields}\r\n");
            let (_, head, _) = parse_response_head_into(raw.as_bytes(), 1024, 8, &mut store, 64)
                .unwrap()
                .unwrap();
            let got: Vec<&str> = head.headers.keys().map(|n| n.as_str()).collect();
            assert_eq!(&got, names, "{fields:?}");
            for name in *names {
                assert_eq!(head.headers[*name].len(), 1, "{name}");
            }
        }
        // A name that is no token, where the last head had a good one.
        let bad = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nSer\x01ver: a\r\n\r\n";
        assert!(parse_response_head_into(bad, 1024, 8, &mut store, 64).is_err());
        // More lines than the store keeps names for.
        let many: String = (0..KEPT_NAMES + 5)
            .map(|i| format!("X-{i}: v\r\n"))
            .collect();
        let raw = format!("HTTP/1.1 200 OK\r\n{many}\r\n");
        for _ in 0..2 {
            let (_, head, _) = parse_response_head_into(raw.as_bytes(), 4096, 64, &mut store, 64)
                .unwrap()
                .unwrap();
            assert_eq!(head.headers.len(), KEPT_NAMES + 5);
            assert_eq!(head.headers[format!("x-{}", KEPT_NAMES + 4).as_str()], "v");
        }
        assert_eq!(store.names.len(), KEPT_NAMES);
        assert_eq!(store.names[KEPT_NAMES - 1].1, store.spelled.len());
    }

    #[test]
    fn complete_head_with_fields_in_order() {
        let raw = "HTTP/1.1 200 OK\r\nA: 1\r\nb: two\r\na: 3\r\n\r\nbody";
        let (len, head) = parse(raw).unwrap().unwrap();
        assert_eq!(len, raw.len() - 4);
        assert_eq!(head.status, 200);
        assert_eq!(head.version, Version::HTTP_11);
        let a: Vec<_> = head.headers.get_all("a").iter().collect();
        assert_eq!(a, ["1", "3"]);
        assert_eq!(head.headers["b"], "two");
    }

    #[test]
    fn partial_head_waits() {
        assert!(parse("HTTP/1.1 200 OK\r\nA: 1\r\n").unwrap().is_none());
        assert!(parse("HTT").unwrap().is_none());
    }

    #[test]
    fn head_size_limit_is_named() {
        let raw = format!("HTTP/1.1 200 OK\r\nA: {}\r\n", "x".repeat(2000));
        let err = parse(&raw).unwrap_err();
        assert!(matches!(
            err.kind(),
            ErrorKind::LimitExceeded {
                limit: Limit::HeadSize,
                max: 1024
            }
        ));
    }

    #[test]
    fn header_count_limit_is_named() {
        let mut raw = String::from("HTTP/1.1 200 OK\r\n");
        for i in 0..9 {
            raw.push_str(&format!("h{i}: v\r\n"));
        }
        raw.push_str("\r\n");
        let err = parse(&raw).unwrap_err();
        assert!(matches!(
            err.kind(),
            ErrorKind::LimitExceeded {
                limit: Limit::HeaderCount,
                max: 8
            }
        ));
    }

    #[test]
    fn malformed_heads_are_errors() {
        for raw in [
            "HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
            // A continuation line before any field line is no fold.
            "HTTP/1.1 200 OK\r\n folded\r\n\r\n",
            "HTTP/1.1 200 OK\r\nA: a\0b\r\n\r\n",
            "HTTP/1.1 099 Low\r\n\r\n",
            "HTTP/2.0 200 OK\r\n\r\n",
            "SSH-2.0-OpenSSH\r\n\r\n",
            "HTTP/1.1 2000 OK\r\n\r\n",
        ] {
            let err = parse(raw).unwrap_err();
            assert_eq!(err.phase(), Phase::ReadResponseHead, "{raw:?}");
        }
    }

    #[test]
    fn obs_folds_become_spaces() {
        for (raw, want) in [
            ("A: 1\r\n 2", "1   2"),
            ("A: 1\r\n\t\t2", "1    2"),
            ("A: one\r\n two\r\n  three", "one   two    three"),
            ("A: 1\n 2", "1  2"),
            ("A:\r\n 1", "1"),
            ("A: 1 \r\n 2 ", "1    2"),
        ] {
            let wire = format!("HTTP/1.1 200 OK\r\nB: x\r\n{raw}\r\nC: y\r\n\r\nbody");
            let (len, head) = parse(&wire).unwrap().unwrap();
            assert_eq!(head.headers["a"], want, "{raw:?}");
            assert_eq!(head.headers["b"], "x", "{raw:?}");
            assert_eq!(head.headers["c"], "y", "{raw:?}");
            assert_eq!(&wire[len..], "body", "{raw:?}");
        }
        // The value is unfolded in a copy: the caller's buffer is left as
        // it was.
        let wire = b"HTTP/1.1 200 OK\r\nA: 1\r\n 2\r\n\r\n".to_vec();
        let (_, head) = parse_response_head(&wire, 1024, 10).unwrap().unwrap();
        assert_eq!(head.headers["a"], "1   2");
        assert_eq!(&wire[..], b"HTTP/1.1 200 OK\r\nA: 1\r\n 2\r\n\r\n");
    }

    /// RFC 9110 §2.5 (found by comparing with Go, which does the same):
    /// a higher minor version of HTTP/1 is read as HTTP/1.1; other
    /// versions are still refused.
    #[test]
    fn higher_minor_versions_of_http1_are_read_as_http11() {
        for v in ["1.2", "1.9"] {
            let head = format!("HTTP/{v} 200 OK\r\nContent-Length: 2\r\n\r\nok");
            let (len, head) = parse(&head).unwrap().expect("complete");
            assert_eq!(len, 38, "{v}");
            assert_eq!(head.version, Version::HTTP_11, "{v}");
            assert_eq!(head.headers["content-length"], "2", "{v}");
        }
        assert_eq!(
            reason_phrase(b"HTTP/1.2 407 Who Are You\r\n\r\n"),
            "Who Are You"
        );
        // Still incomplete, still waiting, however short.
        for partial in ["HTTP/1.2", "HTTP/1.2 ", "HTTP/1.2 200 OK\r\n"] {
            assert!(parse(partial).unwrap().is_none(), "{partial:?}");
        }
        for bad in [
            "HTTP/2.0 200 OK\r\n\r\n",
            "HTTP/1.10 200 OK\r\n\r\n",
            "HTTP/0.9 200 OK\r\n\r\n",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn http10_is_recognised() {
        let (_, head) = parse("HTTP/1.0 404 Not Found\r\n\r\n").unwrap().unwrap();
        assert_eq!(head.version, Version::HTTP_10);
        assert_eq!(head.status, 404);
    }

    #[test]
    fn trailers_parse() {
        let t = parse_trailers(b"Checksum: abc\r\nX-Done: 1\r\n\r\n", 10).unwrap();
        assert_eq!(t["checksum"], "abc");
        assert_eq!(t["x-done"], "1");
        assert!(parse_trailers(b"bad trailer\r\n\r\n", 10).is_err());
        assert!(parse_trailers(b" folded first\r\n\r\n", 10).is_err());
        assert!(parse_trailers(b"A: 1\r\n", 10).is_err()); // no empty line
        let t = parse_trailers(b"Digest: a\r\n b\r\nX: 1\r\n\r\n", 10).unwrap();
        assert_eq!(t["digest"], "a   b");
        assert_eq!(t["x"], "1");
        assert_eq!(parse_trailers(b"\r\n", 10).unwrap().len(), 0);
        // Every refusal is a malformed trailer section, in the body phase.
        for (bad, why) in [
            (&b"bad trailer\r\n\r\n"[..], "invalid"),
            (b"A: 1\r\n", "incomplete"),
            (b"A: 1\r\nB: 2\r\n\r\n", "more than 1 fields"),
            (b"A: \x01\r\n\r\n", "invalid"),
        ] {
            let e = parse_trailers(bad, 1).unwrap_err();
            assert_eq!(e.phase(), Phase::ReadResponseBody, "{bad:?}");
            match e.kind() {
                ErrorKind::MalformedTrailers(w) => assert!(w.contains(why), "{bad:?}: {w}"),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }
}

#[cfg(test)]
mod lenient_forms {
    use super::*;

    /// Forms real servers send that RFC 9112 allows: an empty reason
    /// phrase (§4: `reason-phrase` may be empty, the SP before it may not
    /// be omitted by a sender, but recipients see both), and OWS around
    /// field values (§5.1).
    #[test]
    fn empty_reason_and_ows_are_accepted() {
        for raw in [
            "HTTP/1.1 200 \r\n\r\n",
            "HTTP/1.1 200\r\n\r\n",
            "HTTP/1.1 204 No Content\r\nA:  x \r\n\r\n",
        ] {
            let (_, head) = parse_response_head(raw.as_bytes(), 1024, 8)
                .unwrap_or_else(|e| panic!("{raw:?}: {e}"))
                .unwrap();
            assert!(head.status.is_success());
            if let Some(a) = head.headers.get("a") {
                assert_eq!(a, "x", "OWS trimmed");
            }
        }
    }
}

//! The bodies of the `h1_head` and `h1_body` fuzz targets: the response
//! head parser (RFC 9112 §4, §5; trailer sections of §7.1.2) and the body
//! decoders (RFC 9112 §6.3, §7.1) on arbitrary bytes in arbitrary splits.
//!
//! Like `targets.rs`, this file is compiled twice: by the fuzz crate and by
//! the root crate's `tests/fuzz_replay.rs`, which replays
//! `fuzz/corpus/h1_head/` and `fuzz/corpus/h1_body/` through it. It uses
//! only `std`, `http` and `roundtrip`.

use http::HeaderMap;
use roundtrip::h1::body::{BodyDecoder, ChunkLimits};
use roundtrip::h1::{parse_response_head, BodyFraming, ResponseHead};

/// Piece sizes chosen by the input: a list of lengths, each at least 1,
/// the last one repeated until the bytes run out.
fn pieces(sizes: &[usize], len: usize) -> Vec<usize> {
    let mut ends = Vec::new();
    let mut at = 0;
    let mut i = 0;
    while at < len {
        let step = sizes.get(i).or(sizes.last()).copied().unwrap_or(len).max(1);
        at = (at + step).min(len);
        ends.push(at);
        i += 1;
    }
    ends
}

/// What one parse said, in a comparable form.
#[derive(Debug, PartialEq)]
enum HeadOutcome {
    Partial,
    Head {
        len: usize,
        status: u16,
        version: http::Version,
        headers: HeaderMap,
    },
    Error(String),
}

fn head_outcome(r: roundtrip::Result<Option<(usize, ResponseHead)>>) -> HeadOutcome {
    match r {
        Ok(None) => HeadOutcome::Partial,
        Ok(Some((len, h))) => HeadOutcome::Head {
            len,
            status: h.status.as_u16(),
            version: h.version,
            headers: h.headers,
        },
        // The kind (with its limit) is what the exchange acts on; messages
        // from httparse are part of it and must agree too.
        Err(e) => HeadOutcome::Error(format!("{:?}", e.kind())),
    }
}

fn no_ctl(v: &[u8]) -> bool {
    !v.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0)
}

/// `h1_head` input:
///
/// ```text
/// byte 0   max_head_size: [16, 64, 256, 1024, 4096, 65536, 3, 100][b & 7];
///          max_headers: [0, 1, 2, 4, 8, 100, 101, 300][(b >> 3) & 7]
///          (101 and up use the parser's heap slots); bit 6: also parse the
///          bytes as a trailer section
/// byte 1   n: how many piece sizes follow (n & 7)
/// n bytes  piece sizes (0 means 1); the last repeats
/// rest     the bytes from the server
/// ```
///
/// Checks: the head is the same (or the same error) whether parsed whole
/// or as the growing buffer of a connection that receives it in those
/// pieces; an accepted head is at most `max_head_size` bytes, has at most
/// `max_headers` fields, a status in 100..=999, version 1.0 or 1.1, values
/// without CR, LF or NUL, and ends with an empty line; a head-size error
/// comes only once `max_head_size` bytes are in, a field-count error only
/// with more field lines than allowed; trailers obey their field limit.
pub fn h1_head(data: &[u8]) {
    let (&cfg, rest) = data.split_first().unwrap_or((&0, &[]));
    let max_head = [16, 64, 256, 1024, 4096, 65536, 3, 100][usize::from(cfg & 7)];
    let max_headers = [0, 1, 2, 4, 8, 100, 101, 300][usize::from((cfg >> 3) & 7)];
    let (&n, rest) = rest.split_first().unwrap_or((&0, &[]));
    let n = usize::from(n & 7).min(rest.len());
    let sizes: Vec<usize> = rest[..n].iter().map(|&b| usize::from(b)).collect();
    let wire = &rest[n..];

    let whole = head_outcome(parse_response_head(wire, max_head, max_headers));
    // The exchange parses the whole receive buffer after every read.
    let mut split = HeadOutcome::Partial;
    for end in pieces(&sizes, wire.len()) {
        split = head_outcome(parse_response_head(&wire[..end], max_head, max_headers));
        if split != HeadOutcome::Partial {
            break;
        }
    }
    assert_eq!(split, whole, "split parse differs");

    match &whole {
        HeadOutcome::Partial => {
            assert!(wire.len() < max_head, "partial beyond max_head_size");
        }
        HeadOutcome::Head {
            len,
            status,
            version,
            headers,
        } => {
            assert!(*len <= max_head && *len <= wire.len(), "len {len}");
            assert!((100..=999).contains(status), "status {status}");
            assert!(
                *version == http::Version::HTTP_10 || *version == http::Version::HTTP_11,
                "{version:?}"
            );
            assert!(headers.len() <= max_headers, "{} fields", headers.len());
            assert!(wire[..*len].ends_with(b"\n\n") || wire[..*len].ends_with(b"\n\r\n"));
            for (name, value) in headers {
                assert!(no_ctl(value.as_bytes()), "{name}: {value:?}");
                assert!(!name.as_str().is_empty());
            }
            // The head alone parses the same: nothing after it was looked at.
            let alone = head_outcome(parse_response_head(&wire[..*len], max_head, max_headers));
            assert_eq!(alone, whole, "head alone differs");
        }
        HeadOutcome::Error(kind) => {
            if kind.contains("HeadSize") {
                assert!(wire.len() >= max_head, "head-size error below the limit");
            }
            if kind.contains("HeaderCount") {
                let lines = wire.iter().filter(|&&b| b == b'\n').count();
                assert!(lines > max_headers, "count error with {lines} lines");
            }
        }
    }

    if cfg & 0x40 != 0 {
        if let Ok(map) = roundtrip::h1::head::parse_trailers(wire, max_headers) {
            assert!(map.len() <= max_headers.min(1024));
            for (name, value) in &map {
                assert!(no_ctl(value.as_bytes()), "{name}: {value:?}");
            }
        }
    }
}

/// Everything one decoding run produced.
#[derive(Debug, PartialEq)]
struct BodyRun {
    body: Vec<u8>,
    /// Input bytes the decoder took.
    consumed: usize,
    done: bool,
    received: u64,
    trailers: Option<HeaderMap>,
    error: Option<String>,
}

/// Feeds `wire` to a fresh decoder as a connection's receive buffer would
/// get it: pieces ending at `ends`, unconsumed bytes kept, the decoder
/// stepped until it needs more; then EOF when `eof`.
fn decode_run(
    framing: BodyFraming,
    limits: ChunkLimits,
    wire: &[u8],
    ends: &[usize],
    eof: bool,
) -> BodyRun {
    let mut dec = BodyDecoder::new(framing, limits);
    let mut run = BodyRun {
        body: Vec::new(),
        consumed: 0,
        done: dec.is_done(),
        received: 0,
        trailers: None,
        error: None,
    };
    'pieces: for &end in ends {
        let avail = end;
        loop {
            if dec.is_done() {
                break 'pieces;
            }
            let buf = &wire[run.consumed..avail];
            match dec.decode(buf) {
                Ok(d) => {
                    assert!(
                        d.consumed <= buf.len(),
                        "consumed {} of {}",
                        d.consumed,
                        buf.len()
                    );
                    assert!(
                        d.data.start <= d.data.end && d.data.end <= d.consumed,
                        "data {:?} outside consumed {}",
                        d.data,
                        d.consumed
                    );
                    assert_eq!(d.done, dec.is_done());
                    run.body.extend_from_slice(&buf[d.data.clone()]);
                    run.consumed += d.consumed;
                    if d.done {
                        break 'pieces;
                    }
                    if d.consumed == 0 {
                        // Need more; an empty buffer always needs more.
                        break;
                    }
                }
                Err(e) => {
                    run.error = Some(format!("{:?}", e.kind()));
                    break 'pieces;
                }
            }
        }
    }
    if run.error.is_none() && eof && !dec.is_done() {
        if let Err(e) = dec.finish_eof() {
            run.error = Some(format!("{:?}", e.kind()));
        }
    }
    run.done = dec.is_done();
    run.received = dec.received();
    run.trailers = dec.take_trailers();
    run
}

/// An independent reading of a chunked body (RFC 9112 §7.1) once the
/// decoder said it is complete: the body and where the message ends.
fn reference_chunked(wire: &[u8]) -> Option<(Vec<u8>, usize)> {
    let mut at = 0;
    let mut body = Vec::new();
    loop {
        let nl = wire[at..].iter().position(|&b| b == b'\n')? + at;
        let line = &wire[at..nl];
        let hex: Vec<u8> = line
            .iter()
            .copied()
            .take_while(u8::is_ascii_hexdigit)
            .collect();
        let size = u64::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?;
        at = nl + 1;
        if size == 0 {
            break;
        }
        let size = usize::try_from(size).ok()?;
        body.extend_from_slice(wire.get(at..at.checked_add(size)?)?);
        at += size;
        if wire.get(at..at + 2)? != b"\r\n" {
            return None;
        }
        at += 2;
    }
    // The trailer section: field lines up to the first empty one, each
    // line ending in LF with or without a CR before it (RFC 9112 §2.2).
    loop {
        let nl = wire[at..].iter().position(|&b| b == b'\n')? + at;
        let line = &wire[at..nl];
        at = nl + 1;
        if line.is_empty() || line == b"\r" {
            return Some((body, at));
        }
    }
}

/// `h1_body` input:
///
/// ```text
/// byte 0   framing: b & 3 = 0 Content-Length (the length in bytes 1-2,
///          BE; bit 2 adds 2^40 so the length overflows any input), 1
///          chunked, 2 close-delimited, 3 none; bit 3: EOF after the input
/// byte 1-2 the length (present for every framing, used by the first)
/// byte 3   limits: max_chunk_line [1, 3, 8, 64, 4096, 2, 20, 200][b & 7],
///          max_trailer_size [2, 16, 256, 16384][(b >> 3) & 3],
///          max_trailer_fields [0, 1, 8, 100][(b >> 5) & 3]
/// byte 4   n: how many piece sizes follow (n & 15)
/// n bytes  piece sizes (0 means 1); the last repeats
/// rest     the bytes after the head
/// ```
///
/// Checks: the same body, end position, completion, trailers and error
/// whether the bytes come whole, in the input's pieces, or one at a time;
/// the body is never longer than Content-Length, is complete exactly at
/// Content-Length, and equals an independent reading of the chunks once a
/// chunked body completes; trailers respect their limits; bytes after the
/// end are never consumed (the same result with other bytes after it, and
/// with nothing after it); a close-delimited body is everything, and ends
/// only at EOF; `received()` is the body's length.
pub fn h1_body(data: &[u8]) {
    let byte = |i: usize| data.get(i).copied().unwrap_or(0);
    let cfg = byte(0);
    let declared =
        u64::from(u16::from_be_bytes([byte(1), byte(2)])) + if cfg & 4 != 0 { 1 << 40 } else { 0 };
    let framing = match cfg & 3 {
        0 if declared == 0 => BodyFraming::None,
        0 => BodyFraming::Length(declared),
        1 => BodyFraming::Chunked,
        2 => BodyFraming::Close,
        _ => BodyFraming::None,
    };
    let eof = cfg & 8 != 0;
    let lim = byte(3);
    let limits = ChunkLimits {
        max_chunk_line: [1, 3, 8, 64, 4096, 2, 20, 200][usize::from(lim & 7)],
        max_trailer_size: [2, 16, 256, 16384][usize::from((lim >> 3) & 3)],
        max_trailer_fields: [0, 1, 8, 100][usize::from((lim >> 5) & 3)],
    };
    let n = usize::from(byte(4) & 15);
    let rest = data.get(5..).unwrap_or(&[]);
    let n = n.min(rest.len());
    let sizes: Vec<usize> = rest[..n].iter().map(|&b| usize::from(b)).collect();
    let wire = &rest[n..];

    let whole_ends = if wire.is_empty() {
        vec![]
    } else {
        vec![wire.len()]
    };
    let whole = decode_run(framing, limits, wire, &whole_ends, eof);
    let split = decode_run(framing, limits, wire, &pieces(&sizes, wire.len()), eof);
    assert_eq!(split, whole, "split run differs");
    if wire.len() <= 2048 {
        let bytewise = decode_run(framing, limits, wire, &pieces(&[1], wire.len()), eof);
        assert_eq!(bytewise, whole, "byte-at-a-time run differs");
    }

    let r = &whole;
    assert_eq!(
        r.received,
        r.body.len() as u64,
        "received() is the body length"
    );
    assert!(r.consumed <= wire.len());
    match framing {
        BodyFraming::None => {
            assert!(r.done && r.body.is_empty() && r.consumed == 0 && r.error.is_none());
        }
        BodyFraming::Length(len) => {
            assert!(
                r.body.len() as u64 <= len,
                "{} > Content-Length {len}",
                r.body.len()
            );
            assert_eq!(r.done, r.body.len() as u64 == len);
            assert_eq!(r.consumed, r.body.len());
            assert_eq!(&r.body[..], &wire[..r.body.len()]);
            if r.error.is_some() {
                assert!(eof && !r.done, "only EOF ends a Content-Length body early");
            }
        }
        BodyFraming::Close => {
            assert_eq!(r.body, wire, "close-delimited: everything is body");
            assert_eq!(r.done, eof, "ends exactly at EOF");
            assert!(r.error.is_none());
        }
        BodyFraming::Chunked => {
            if r.done {
                let (body, end) = reference_chunked(wire).expect("complete chunked body");
                assert_eq!(r.body, body, "body differs from the declared chunks");
                assert_eq!(r.consumed, end, "end of message differs");
            }
            if let Some(t) = &r.trailers {
                assert!(t.len() <= limits.max_trailer_fields.min(1024));
                for (name, value) in t {
                    assert!(no_ctl(value.as_bytes()), "{name}: {value:?}");
                }
            }
            if let Some(e) = &r.error {
                if e.contains("TrailerSize") {
                    assert!(wire.len() - r.consumed >= limits.max_trailer_size);
                }
                if e.contains("ChunkLine") {
                    assert!(wire.len() - r.consumed >= limits.max_chunk_line);
                }
            }
        }
    }
    if r.trailers.is_some() {
        assert!(matches!(framing, BodyFraming::Chunked));
    }

    // Bytes after the end belong to the next message: the decoder must
    // neither need them nor take them.
    if r.done && r.error.is_none() && framing != BodyFraming::Close {
        let exact = &wire[..r.consumed];
        let ends = if exact.is_empty() {
            vec![]
        } else {
            vec![exact.len()]
        };
        let alone = decode_run(framing, limits, exact, &ends, false);
        assert_eq!(alone, alone_like(r), "needs bytes after its end");
        let mut junk = exact.to_vec();
        junk.extend_from_slice(b"HTTP/1.1 200 OK\r\n\r\n0\r\n\r\n");
        let ends = vec![junk.len()];
        let after = decode_run(framing, limits, &junk, &ends, false);
        assert_eq!(after, alone_like(r), "took bytes after its end");
    }
}

/// A copy of a run's outcome (HeaderMap is Clone, the run is not).
fn alone_like(r: &BodyRun) -> BodyRun {
    BodyRun {
        body: r.body.clone(),
        consumed: r.consumed,
        done: r.done,
        received: r.received,
        trailers: r.trailers.clone(),
        error: r.error.clone(),
    }
}

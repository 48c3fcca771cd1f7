//! Response body decoders (RFC 9112 §6.3, §7.1): Content-Length,
//! chunked with its trailer section, and read-until-close.
//!
//! A decoder never copies: each [`BodyDecoder::decode`] step says how much of
//! the input it consumed and which part of it is body data, so the caller can
//! move the data where it wants (the exchange compacts it in place in the
//! connection's receive buffer). EOF belongs to the decoder too: it ends a
//! close-delimited body and is an error inside any other.

use std::ops::Range;

use http::HeaderMap;

use super::framing::BodyFraming;
use super::head::parse_trailers;
use crate::error::{Error, ErrorKind, Limit, Phase, Result};

/// Bounds applied while decoding a chunked body.
///
/// ```
/// let config = roundtrip::Config::default();
/// let limits = roundtrip::h1::body::ChunkLimits {
///     max_chunk_line: config.max_chunk_line,
///     max_trailer_size: config.max_trailer_size,
///     max_trailer_fields: config.max_headers,
/// };
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ChunkLimits {
    /// Longest chunk-size line, extensions and CRLF included.
    pub max_chunk_line: usize,
    /// Largest trailer section, final CRLF included.
    pub max_trailer_size: usize,
    /// Most trailer fields.
    pub max_trailer_fields: usize,
}

/// One decoding step's result.
///
/// ```
/// use roundtrip::h1::body::{BodyDecoder, ChunkLimits, Decoded};
/// use roundtrip::h1::BodyFraming;
///
/// let limits = ChunkLimits { max_chunk_line: 4096, max_trailer_size: 16384, max_trailer_fields: 100 };
/// let mut decoder = BodyDecoder::new(BodyFraming::Chunked, limits);
/// let input = b"5\r\nhello\r\n";
/// // The chunk-size line: consumed, and no data in it.
/// let step = decoder.decode(input)?;
/// assert_eq!(step, Decoded { consumed: 3, data: 0..0, done: false });
/// // The chunk's data: `data` is its place in the input given.
/// let rest = &input[step.consumed..];
/// let step = decoder.decode(rest)?;
/// assert_eq!(&rest[step.data.clone()], b"hello");
/// assert!(!step.done);
/// # Ok::<(), roundtrip::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// Input bytes used by this step (framing and data).
    pub consumed: usize,
    /// The body data inside the consumed input (may be empty).
    pub data: Range<usize>,
    /// True once the body is complete; no later input belongs to it.
    pub done: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    Size,
    Data(u64),
    DataCrlf,
    Trailers,
}

#[derive(Debug, Clone)]
enum State {
    Length(u64),
    Chunked(Chunk),
    Close,
    Done,
}

/// A response body decoder in one of the three framings.
///
/// ```
/// use roundtrip::h1::body::{BodyDecoder, ChunkLimits};
/// use roundtrip::h1::BodyFraming;
///
/// let limits = ChunkLimits { max_chunk_line: 4096, max_trailer_size: 16384, max_trailer_fields: 100 };
/// let mut decoder = BodyDecoder::new(BodyFraming::Chunked, limits);
/// let mut input: &[u8] = b"5\r\nhello\r\n6\r\n world\r\n0\r\nExpires: never\r\n\r\n";
/// let mut body = Vec::new();
/// while !decoder.is_done() {
///     let step = decoder.decode(input)?;
///     body.extend_from_slice(&input[step.data.clone()]);
///     input = &input[step.consumed..];
/// }
/// assert_eq!(body, b"hello world");
/// assert_eq!(decoder.received(), 11);
/// assert_eq!(decoder.take_trailers().expect("trailers")["expires"], "never");
/// # Ok::<(), roundtrip::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct BodyDecoder {
    state: State,
    expected: Option<u64>,
    received: u64,
    limits: ChunkLimits,
    trailers: Option<HeaderMap>,
}

fn body_error(kind: ErrorKind) -> Error {
    Error::new(Phase::ReadResponseBody, kind)
}

impl BodyDecoder {
    /// A decoder for `framing`.
    pub fn new(framing: BodyFraming, limits: ChunkLimits) -> BodyDecoder {
        let (state, expected) = match framing {
            BodyFraming::None => (State::Done, None),
            BodyFraming::Length(n) => (State::Length(n), Some(n)),
            BodyFraming::Chunked => (State::Chunked(Chunk::Size), None),
            BodyFraming::Close => (State::Close, None),
        };
        BodyDecoder {
            state,
            expected,
            received: 0,
            limits,
            trailers: None,
        }
    }

    /// True once the body is complete.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// For a body whose bytes are its input as is (Content-Length or
    /// close-delimited), how many more may come: the caller can then read
    /// them straight from the connection into its own buffer and hand
    /// them to [`decode`](Self::decode) only to be counted. `None` for a
    /// chunked or finished body.
    pub fn identity_left(&self) -> Option<u64> {
        match self.state {
            State::Length(left) => Some(left),
            State::Close => Some(u64::MAX),
            State::Chunked(_) | State::Done => None,
        }
    }

    /// Body bytes decoded so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// The trailer fields of a chunked body, once it is complete.
    pub fn take_trailers(&mut self) -> Option<HeaderMap> {
        self.trailers.take()
    }

    /// Takes one step over `input`. `consumed == 0` with `done == false`
    /// means more input is needed before progress is possible.
    pub fn decode(&mut self, input: &[u8]) -> Result<Decoded> {
        let step = |consumed, data: Range<usize>, done| Decoded {
            consumed,
            data,
            done,
        };
        match self.state {
            State::Done => Ok(step(0, 0..0, true)),
            State::Close => {
                self.received += input.len() as u64;
                Ok(step(input.len(), 0..input.len(), false))
            }
            State::Length(remaining) => {
                let n = remaining.min(input.len() as u64) as usize;
                self.received += n as u64;
                let left = remaining - n as u64;
                self.state = if left == 0 {
                    State::Done
                } else {
                    State::Length(left)
                };
                Ok(step(n, 0..n, left == 0))
            }
            State::Chunked(chunk) => self.decode_chunked(chunk, input),
        }
    }

    fn decode_chunked(&mut self, chunk: Chunk, input: &[u8]) -> Result<Decoded> {
        let need_more = Decoded {
            consumed: 0,
            data: 0..0,
            done: false,
        };
        match chunk {
            Chunk::Size => {
                let Some(line_len) =
                    find_line(input, self.limits.max_chunk_line, Limit::ChunkLine)?
                else {
                    return Ok(need_more);
                };
                let size = parse_chunk_size(&input[..line_len])?;
                self.state = State::Chunked(if size == 0 {
                    Chunk::Trailers
                } else {
                    Chunk::Data(size)
                });
                Ok(Decoded {
                    consumed: line_len,
                    data: 0..0,
                    done: false,
                })
            }
            Chunk::Data(remaining) => {
                let n = remaining.min(input.len() as u64) as usize;
                self.received += n as u64;
                let left = remaining - n as u64;
                self.state = State::Chunked(if left == 0 {
                    Chunk::DataCrlf
                } else {
                    Chunk::Data(left)
                });
                Ok(Decoded {
                    consumed: n,
                    data: 0..n,
                    done: false,
                })
            }
            Chunk::DataCrlf => {
                if input.len() < 2 {
                    if input.first().is_some_and(|&b| b != b'\r') {
                        return Err(body_error(ErrorKind::MissingChunkTerminator));
                    }
                    return Ok(need_more);
                }
                if &input[..2] != b"\r\n" {
                    return Err(body_error(ErrorKind::MissingChunkTerminator));
                }
                self.state = State::Chunked(Chunk::Size);
                Ok(Decoded {
                    consumed: 2,
                    data: 0..0,
                    done: false,
                })
            }
            Chunk::Trailers => {
                let Some(len) = find_section_end(input, self.limits.max_trailer_size)? else {
                    return Ok(need_more);
                };
                // More than the empty line that ends the section.
                if !matches!(&input[..len], b"\n" | b"\r\n") {
                    self.trailers = Some(parse_trailers(
                        &input[..len],
                        self.limits.max_trailer_fields,
                    )?);
                }
                self.state = State::Done;
                Ok(Decoded {
                    consumed: len,
                    data: 0..0,
                    done: true,
                })
            }
        }
    }

    /// The connection reached EOF. Ends a close-delimited body; anywhere
    /// else before completion it is truncation (RFC 9112 §8).
    pub fn finish_eof(&mut self) -> Result<()> {
        match self.state {
            State::Done => Ok(()),
            State::Close => {
                self.state = State::Done;
                Ok(())
            }
            _ => Err(body_error(ErrorKind::BodyTruncated {
                received: self.received,
                expected: self.expected,
            })),
        }
    }
}

/// Length of the first CRLF-terminated line, if complete; bounded by `max`.
fn find_line(input: &[u8], max: usize, limit: Limit) -> Result<Option<usize>> {
    let window = &input[..input.len().min(max)];
    match window.iter().position(|&b| b == b'\n') {
        Some(i) => Ok(Some(i + 1)),
        None if input.len() >= max => Err(body_error(ErrorKind::LimitExceeded { limit, max })),
        None => Ok(None),
    }
}

/// Length of a trailer section ending with an empty line, if complete.
/// Its field lines end with CRLF or, as RFC 9112 §2.2 lets a recipient
/// accept for the head's (trailers are field lines too, §7.1.2), a bare
/// LF: the section ends at the first line that is empty either way. The
/// scan always starts at the section's first byte and looks no further
/// than `max`, so the verdict never depends on how the section was split
/// into reads.
fn find_section_end(input: &[u8], max: usize) -> Result<Option<usize>> {
    let window = &input[..input.len().min(max)];
    let mut line = 0;
    while let Some(lf) = window[line..].iter().position(|&b| b == b'\n') {
        let end = line + lf + 1;
        if matches!(&window[line..end], b"\n" | b"\r\n") {
            return Ok(Some(end));
        }
        line = end;
    }
    if input.len() >= max {
        return Err(body_error(ErrorKind::LimitExceeded {
            limit: Limit::TrailerSize,
            max,
        }));
    }
    Ok(None)
}

/// `chunk-size [ chunk-ext ] CRLF` where `chunk-ext` is
/// `*( BWS ";" BWS name [ BWS "=" BWS value ] )`; extensions are ignored
/// (RFC 9112 §7.1.1) but may not hide control characters.
fn parse_chunk_size(line: &[u8]) -> Result<u64> {
    let invalid = || body_error(ErrorKind::InvalidChunkSize);
    let Some(line) = line.strip_suffix(b"\r\n") else {
        return Err(invalid());
    };
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 {
        return Err(invalid());
    }
    let mut size: u64 = 0;
    for &b in &line[..digits] {
        let d = (b as char).to_digit(16).unwrap_or(0) as u64;
        size = size
            .checked_mul(16)
            .and_then(|s| s.checked_add(d))
            .ok_or_else(|| body_error(ErrorKind::ChunkSizeOverflow))?;
    }
    let rest = &line[digits..];
    let after_ws = rest
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .map_or(&rest[rest.len()..], |i| &rest[i..]);
    match after_ws.first() {
        None if rest.is_empty() => Ok(size),
        Some(b';')
            if after_ws
                .iter()
                .all(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f)) =>
        {
            Ok(size)
        }
        _ => Err(invalid()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: ChunkLimits = ChunkLimits {
        max_chunk_line: 64,
        max_trailer_size: 256,
        max_trailer_fields: 8,
    };

    /// Feeds `wire` to a decoder in pieces of `split` bytes (0 = all at
    /// once), keeping unconsumed bytes as a receive buffer would. Returns the
    /// body, whether it completed, and the bytes left after the end.
    fn run(
        framing: BodyFraming,
        wire: &[u8],
        split: usize,
        eof: bool,
    ) -> Result<(Vec<u8>, BodyDecoder, usize)> {
        let mut dec = BodyDecoder::new(framing, LIMITS);
        let mut buf = Vec::new();
        let mut body = Vec::new();
        let mut fed = 0;
        loop {
            loop {
                let d = dec.decode(&buf)?;
                body.extend_from_slice(&buf[d.data.clone()]);
                buf.drain(..d.consumed);
                if d.done || d.consumed == 0 {
                    break;
                }
            }
            if dec.is_done() || fed == wire.len() {
                break;
            }
            let n = if split == 0 {
                wire.len()
            } else {
                split.min(wire.len() - fed)
            };
            buf.extend_from_slice(&wire[fed..fed + n]);
            fed += n;
        }
        if eof && !dec.is_done() {
            dec.finish_eof()?;
        }
        let left = buf.len() + (wire.len() - fed);
        Ok((body, dec, left))
    }

    /// Every case is run three ways (h11's `t_body_reader`): all at once,
    /// one byte at a time, and with junk after the end.
    fn three_ways(framing: BodyFraming, wire: &[u8], want: &[u8]) -> Option<HeaderMap> {
        let mut trailers = None;
        for split in [0, 1] {
            let (body, mut dec, left) = run(framing, wire, split, false).unwrap();
            assert_eq!(body, want, "split {split}");
            assert!(dec.is_done());
            assert_eq!(left, 0);
            trailers = dec.take_trailers();
        }
        let mut junk = wire.to_vec();
        junk.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
        let (body, dec, left) = run(framing, &junk, 0, false).unwrap();
        assert_eq!(body, want);
        assert!(dec.is_done());
        assert_eq!(left, 17, "junk after the body must be left unread");
        trailers
    }

    #[test]
    fn content_length() {
        three_ways(BodyFraming::Length(5), b"hello", b"hello");
    }

    #[test]
    fn chunked_with_extensions_and_trailers() {
        let wire =
            b"5;name=value\r\nhello\r\n6 ; x\r\n world\r\n0\r\nChecksum: 42\r\nX-Two: b\r\n\r\n";
        let t = three_ways(BodyFraming::Chunked, wire, b"hello world").unwrap();
        assert_eq!(t["checksum"], "42");
        assert_eq!(t["x-two"], "b");
    }

    #[test]
    fn chunked_without_trailers() {
        assert!(three_ways(
            BodyFraming::Chunked,
            b"A\r\n0123456789\r\n0\r\n\r\n",
            b"0123456789"
        )
        .is_none());
        three_ways(BodyFraming::Chunked, b"000\r\n\r\n", b"");
    }

    #[test]
    fn close_delimited_ends_at_eof() {
        let (body, dec, _) = run(BodyFraming::Close, b"all of it", 1, true).unwrap();
        assert_eq!(body, b"all of it");
        assert!(dec.is_done());
    }

    #[test]
    fn eof_inside_framed_bodies_is_truncation() {
        for (framing, wire) in [
            (BodyFraming::Length(10), &b"short"[..]),
            (BodyFraming::Chunked, b"5\r\nhel"),
            (BodyFraming::Chunked, b"5\r\nhello\r\n"),
            (BodyFraming::Chunked, b"0\r\nTrailer: x\r\n"),
        ] {
            let err = run(framing, wire, 0, true).unwrap_err();
            assert!(
                matches!(err.kind(), ErrorKind::BodyTruncated { .. }),
                "{wire:?}: {err}"
            );
            assert_eq!(err.phase(), Phase::ReadResponseBody);
        }
    }

    #[test]
    fn bad_chunk_syntax_is_an_error() {
        for (wire, kind) in [
            (&b"zz\r\nhello\r\n"[..], "size"),
            (b"5x\r\nhello\r\n0\r\n\r\n", "size"),
            (b"5 junk\r\nhello\r\n0\r\n\r\n", "size"),
            (b"-5\r\n", "size"),
            (b"\r\n", "size"),
            (b"5\nhello\r\n", "size"),
            (b"5;a\rb\r\nhello\r\n", "size"),
            (b"5\r\nhelloXY0\r\n\r\n", "crlf"),
            (b"5\r\nhello\n0\r\n\r\n", "crlf"),
            (b"10000000000000000\r\n", "overflow"),
            (b"0\r\nno colon\r\n\r\n", "trailers"),
        ] {
            let err = run(BodyFraming::Chunked, wire, 0, true).unwrap_err();
            let ok = match kind {
                "size" => matches!(err.kind(), ErrorKind::InvalidChunkSize),
                "crlf" => matches!(err.kind(), ErrorKind::MissingChunkTerminator),
                "overflow" => matches!(err.kind(), ErrorKind::ChunkSizeOverflow),
                _ => matches!(err.kind(), ErrorKind::MalformedTrailers(_)),
            };
            assert!(ok, "{wire:?}: {err}");
            // Same verdict one byte at a time.
            let err1 = run(BodyFraming::Chunked, wire, 1, true).unwrap_err();
            assert_eq!(
                std::mem::discriminant(err.kind()),
                std::mem::discriminant(err1.kind()),
                "{wire:?}"
            );
        }
    }

    #[test]
    fn leading_zeros_do_not_overflow() {
        three_ways(
            BodyFraming::Chunked,
            b"00000000000000000001\r\nx\r\n0\r\n\r\n",
            b"x",
        );
    }

    #[test]
    fn chunk_line_and_trailer_limits() {
        let long = format!("1;{}\r\nx\r\n0\r\n\r\n", "e".repeat(100));
        let err = run(BodyFraming::Chunked, long.as_bytes(), 0, false).unwrap_err();
        assert!(matches!(
            err.kind(),
            ErrorKind::LimitExceeded {
                limit: Limit::ChunkLine,
                ..
            }
        ));
        let big = format!("0\r\nX: {}\r\n\r\n", "t".repeat(300));
        let err = run(BodyFraming::Chunked, big.as_bytes(), 0, false).unwrap_err();
        assert!(matches!(
            err.kind(),
            ErrorKind::LimitExceeded {
                limit: Limit::TrailerSize,
                ..
            }
        ));
    }

    /// Found by the h1_body fuzz target: a trailer section starting with a
    /// bare LF was refused as malformed when read in small pieces but as
    /// over the size limit when it arrived whole and long. A bare LF ends
    /// the section now (RFC 9112 §2.2), however the bytes are split, and
    /// what follows it is left alone.
    #[test]
    fn bare_lf_trailers_end_the_same_way_however_split() {
        let mut wire = b"1\r\nx\r\n0\r\n\n".to_vec();
        wire.extend_from_slice(&[b'd'; 300]);
        for split in [0, 1, 7] {
            let (body, dec, left) = run(BodyFraming::Chunked, &wire, split, false).unwrap();
            assert_eq!(body, b"x", "split {split}");
            assert!(dec.is_done(), "split {split}");
            assert_eq!(left, 300, "split {split}: the bytes after are not body");
        }
    }

    /// Field lines of a trailer section ending in bare LF, mixed with
    /// CRLF (RFC 9112 §2.2): found by comparing with curl, which accepts
    /// them where roundtrip waited for a CRLF CRLF that never came.
    #[test]
    fn trailer_lines_may_end_in_bare_lf() {
        for wire in [
            &b"5\r\nhello\r\n0\r\nX-T: 1\n\n"[..],
            b"5\r\nhello\r\n0\r\nX-T: 1\r\n\n",
            b"5\r\nhello\r\n0\r\nX-T: 1\nX-U: 2\r\n\r\n",
        ] {
            for split in [0, 1] {
                let (body, mut dec, left) = run(BodyFraming::Chunked, wire, split, false).unwrap();
                assert_eq!(body, b"hello", "{wire:?}");
                assert_eq!(left, 0, "{wire:?}");
                let trailers = dec.take_trailers().expect("trailers");
                assert_eq!(trailers["x-t"], "1", "{wire:?}");
            }
        }
        // A bare CR is still no line end.
        let err = run(
            BodyFraming::Chunked,
            b"0\r\nX-T: 1\r\rX: 2\r\n\r\n",
            0,
            false,
        )
        .unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::MalformedTrailers(_)),
            "{err}"
        );
    }

    #[test]
    fn length_never_delivers_more_than_announced() {
        let (body, dec, left) = run(BodyFraming::Length(3), b"abcdef", 0, false).unwrap();
        assert_eq!(body, b"abc");
        assert!(dec.is_done());
        assert_eq!(left, 3);
    }
}

//! The request writer (RFC 9112 §3, §5, §6, §7.1).
//!
//! Writing is split into small infallible steps (request line, one field,
//! end of head, chunk framing) after one validating pass, so the exchange can
//! report each field as it is written (`wrote_header_field`) without this
//! module ever calling user code. Validation happens before a single byte is
//! produced: a value carrying CR, LF or NUL would let a caller smuggle a
//! second header or request, so it is an error, never escaped.

use http::{HeaderMap, HeaderName, HeaderValue, Method};

use super::is_token;
use crate::error::{Error, ErrorKind, Phase, Result};

/// Checks the request line and every header field before anything is sent.
///
/// ```
/// use http::{HeaderMap, Method};
/// use roundtrip::h1::writer::validate_request;
///
/// let mut headers = HeaderMap::new();
/// headers.insert("accept", "*/*".parse()?);
/// assert!(validate_request(&Method::GET, "/index.html", &headers).is_ok());
/// // A space in the target would end the request line early.
/// assert!(validate_request(&Method::GET, "/a b", &headers).is_err());
/// // Two Host fields (RFC 9112 §3.2), or two hosts in one.
/// headers.insert("host", "a.example, b.example".parse()?);
/// assert!(validate_request(&Method::GET, "/", &headers).is_err());
/// headers.insert("host", "a.example".parse()?);
/// assert!(validate_request(&Method::GET, "/", &headers).is_ok());
/// headers.append("host", "b.example".parse()?);
/// assert!(validate_request(&Method::GET, "/", &headers).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn validate_request(method: &Method, target: &str, headers: &HeaderMap) -> Result<()> {
    if !is_token(method.as_str().as_bytes()) {
        return Err(Error::new(Phase::Request, ErrorKind::InvalidMethod));
    }
    if target.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(Error::new(
            Phase::Request,
            ErrorKind::InvalidUri(format!("request target {target:?} is not valid")),
        ));
    }
    let mut hosts = 0;
    for (name, value) in headers {
        validate_field(name, value)?;
        if name == http::header::HOST {
            hosts += 1;
            if !is_host_value(value.as_bytes()) {
                return Err(Error::new(
                    Phase::Request,
                    ErrorKind::InvalidHeaderValue {
                        name: "host".into(),
                        reason: "not a single `uri-host [\":\" port]` (RFC 9110 §7.2)",
                    },
                ));
            }
        }
    }
    if hosts > 1 {
        return Err(Error::new(
            Phase::Request,
            ErrorKind::InvalidHeaderValue {
                name: "host".into(),
                reason: "more than one Host value (RFC 9112 §3.2)",
            },
        ));
    }
    Ok(())
}

/// True for a `Host` value that is one `uri-host [ ":" port ]` (RFC 9110
/// §7.2, RFC 3986 §3.2.2): letters, digits, `-._~`, percent-encoding, the
/// sub-delims but the comma, `:` and the brackets of an IP literal. A comma
/// or whitespace would let one field line read as two values to a server
/// or intermediary that splits lists; `/?#@` would end the authority.
/// Empty is allowed (RFC 9112 §3.2: a target without a host).
fn is_host_value(v: &[u8]) -> bool {
    v.iter().all(|&b| {
        b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'%'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b';'
                    | b'='
                    | b':'
                    | b'['
                    | b']'
            )
    })
}

/// Checks one field line: a token name and a value without CR, LF or NUL
/// (RFC 9110 §5.5).
///
/// ```
/// use http::{HeaderName, HeaderValue};
/// use roundtrip::h1::writer::validate_field;
///
/// let name = HeaderName::from_static("x-note");
/// assert!(validate_field(&name, &HeaderValue::from_static("tabs\tare fine")).is_ok());
/// // So is obs-text, bytes above 0x7f (RFC 9110 §5.5).
/// assert!(validate_field(&name, &HeaderValue::from_bytes(b"caf\xc3\xa9")?).is_ok());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// `http`'s checked constructors already refuse CR, LF and NUL; this check
/// stops values made with its unchecked ones (`tests/faults.rs` does that).
pub fn validate_field(name: &HeaderName, value: &HeaderValue) -> Result<()> {
    if !is_token(name.as_str().as_bytes()) {
        return Err(Error::new(
            Phase::Request,
            ErrorKind::InvalidHeaderName(name.as_str().to_owned()),
        ));
    }
    let bad = |reason| {
        Err(Error::new(
            Phase::Request,
            ErrorKind::InvalidHeaderValue {
                name: name.as_str().to_owned(),
                reason,
            },
        ))
    };
    for &b in value.as_bytes() {
        match b {
            b'\r' | b'\n' => return bad("contains CR or LF"),
            0 => return bad("contains NUL"),
            b'\t' => {}
            0x01..=0x1f | 0x7f => return bad("contains a control character"),
            _ => {}
        }
    }
    Ok(())
}

/// `method SP request-target SP HTTP/1.1 CRLF` (RFC 9112 §3). An origin
/// form without a leading `/` (an empty path, or a bare `?query`) gets one
/// (RFC 9112 §3.2.1).
///
/// ```
/// use http::Method;
/// use roundtrip::h1::writer::{end_head, write_field, write_request_line};
///
/// let mut out = Vec::new();
/// write_request_line(&Method::GET, "/index.html", &mut out);
/// write_field("Host", b"example.com", &mut out);
/// end_head(&mut out);
/// assert_eq!(out, b"GET /index.html HTTP/1.1\r\nHost: example.com\r\n\r\n");
/// ```
pub fn write_request_line(method: &Method, target: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    // An absolute-form target (to a proxy) starts with its scheme.
    if !target.starts_with('/') && !target.starts_with("http") {
        out.push(b'/');
    }
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
}

/// `field-name ":" SP field-value CRLF` (RFC 9112 §5).
///
/// See [`write_request_line`] for an example.
pub fn write_field(name: &str, value: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// The empty line that ends the head.
///
/// See [`write_request_line`] for an example.
pub fn end_head(out: &mut Vec<u8>) {
    out.extend_from_slice(b"\r\n");
}

/// `chunk-size CRLF` before `len` bytes of chunk data (RFC 9112 §7.1).
/// `len` must not be zero: that is [`write_last_chunk`].
///
/// ```
/// use roundtrip::h1::writer::{write_chunk_end, write_chunk_header, write_last_chunk};
///
/// let mut out = Vec::new();
/// for chunk in [&b"hello, "[..], &b"chunked world"[..]] {
///     write_chunk_header(chunk.len(), &mut out);
///     out.extend_from_slice(chunk);
///     write_chunk_end(&mut out);
/// }
/// write_last_chunk(&mut out);
/// assert_eq!(out, b"7\r\nhello, \r\nd\r\nchunked world\r\n0\r\n\r\n");
/// ```
pub fn write_chunk_header(len: usize, out: &mut Vec<u8>) {
    debug_assert!(len > 0);
    let mut digits = [0u8; 16];
    let mut n = len;
    let mut i = digits.len();
    while n > 0 {
        i -= 1;
        digits[i] = b"0123456789abcdef"[n & 0xf];
        n >>= 4;
    }
    out.extend_from_slice(&digits[i..]);
    out.extend_from_slice(b"\r\n");
}

/// The CRLF that follows chunk data.
///
/// See [`write_chunk_header`] for an example.
pub fn write_chunk_end(out: &mut Vec<u8>) {
    out.extend_from_slice(b"\r\n");
}

/// `last-chunk` and an empty trailer section.
///
/// See [`write_chunk_header`] for an example.
pub fn write_last_chunk(out: &mut Vec<u8>) {
    out.extend_from_slice(b"0\r\n\r\n");
}

/// The `Host` field value for an authority: the port is left out when it is
/// the scheme's default (RFC 9110 §7.2).
///
/// ```
/// use roundtrip::h1::writer::host_value;
///
/// let mut host = String::new();
/// host_value("example.com", 443, 443, &mut host);
/// assert_eq!(host, "example.com");
/// host_value("::1", 8080, 80, &mut host);
/// assert_eq!(host, "[::1]:8080");
/// ```
pub fn host_value(host: &str, port: u16, default_port: u16, out: &mut String) {
    out.clear();
    let needs_brackets = host.contains(':') && !host.starts_with('[');
    if needs_brackets {
        out.push('[');
    }
    out.push_str(host);
    if needs_brackets {
        out.push(']');
    }
    if port != default_port {
        use std::fmt::Write;
        let _ = write!(out, ":{port}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_line_and_fields() {
        let mut out = Vec::new();
        write_request_line(&Method::GET, "/a?b=c", &mut out);
        write_field("Host", b"example.com", &mut out);
        end_head(&mut out);
        assert_eq!(out, b"GET /a?b=c HTTP/1.1\r\nHost: example.com\r\n\r\n");
        out.clear();
        write_request_line(&Method::GET, "?q", &mut out);
        write_request_line(&Method::GET, "", &mut out);
        assert_eq!(out, b"GET /?q HTTP/1.1\r\nGET / HTTP/1.1\r\n");
    }

    #[test]
    fn chunk_headers_are_lower_hex() {
        for (len, want) in [(1usize, "1\r\n"), (255, "ff\r\n"), (4096, "1000\r\n")] {
            let mut out = Vec::new();
            write_chunk_header(len, &mut out);
            assert_eq!(out, want.as_bytes());
        }
    }

    #[test]
    fn host_value_omits_default_port_and_brackets_v6() {
        let mut s = String::new();
        host_value("example.com", 80, 80, &mut s);
        assert_eq!(s, "example.com");
        host_value("example.com", 8080, 80, &mut s);
        assert_eq!(s, "example.com:8080");
        host_value("[::1]", 8080, 80, &mut s);
        assert_eq!(s, "[::1]:8080");
        host_value("::1", 80, 80, &mut s);
        assert_eq!(s, "[::1]");
    }

    #[test]
    fn values_with_cr_lf_nul_are_rejected() {
        let name = HeaderName::from_static("x-test");
        // HeaderValue refuses these bytes itself; build through the unchecked
        // path that a careless caller could reach via `from_maybe_shared`.
        for bad in [&b"a\rb"[..], b"a\nb", b"a\0b", b"a\x01b"] {
            let value = HeaderValue::from_bytes(bad);
            if let Ok(v) = value {
                let err = validate_field(&name, &v).unwrap_err();
                assert!(matches!(err.kind(), ErrorKind::InvalidHeaderValue { .. }));
            }
        }
        assert!(validate_field(&name, &HeaderValue::from_static("ok\tvalue")).is_ok());
    }

    #[test]
    fn two_host_values_are_rejected() {
        let mut h = HeaderMap::new();
        h.append("host", HeaderValue::from_static("a"));
        h.append("host", HeaderValue::from_static("b"));
        let err = validate_request(&Method::GET, "/", &h).unwrap_err();
        assert_eq!(err.phase(), Phase::Request);
    }

    #[test]
    fn bad_targets_are_rejected() {
        let h = HeaderMap::new();
        assert!(
            validate_request(&Method::GET, "", &h).is_ok(),
            "empty path is sent as /"
        );
        assert!(validate_request(&Method::GET, "/a b", &h).is_err());
        assert!(validate_request(&Method::GET, "/a\r\nX: y", &h).is_err());
        for bad in ["/a\rb", "/a\nb", "/a\0b", "/a\x7fb", "/a\tb"] {
            let err = validate_request(&Method::GET, bad, &h).unwrap_err();
            assert!(matches!(err.kind(), ErrorKind::InvalidUri(_)), "{bad:?}");
        }
        assert!(validate_request(&Method::GET, "/ok", &h).is_ok());
    }

    #[test]
    fn host_override_must_be_one_host_and_port() {
        for good in [
            "example.com",
            "example.com:8080",
            "[::1]:8080",
            "192.0.2.1",
            "xn--bcher-kva.example",
            "",
        ] {
            let mut h = HeaderMap::new();
            h.insert("host", HeaderValue::from_static(good));
            assert!(validate_request(&Method::GET, "/", &h).is_ok(), "{good:?}");
        }
        for bad in [
            "a.example, b.example",
            "a.example b.example",
            "a.example\tb",
            "a.example/path",
            "user@a.example",
            "a.example?q",
            "a.example#f",
            "b\u{fc}cher.example",
        ] {
            let mut h = HeaderMap::new();
            h.insert("host", HeaderValue::from_str(bad).unwrap());
            let err = validate_request(&Method::GET, "/", &h).unwrap_err();
            assert!(
                matches!(err.kind(), ErrorKind::InvalidHeaderValue { name, .. } if name == "host"),
                "{bad:?}: {err:?}"
            );
        }
    }
}

//! Response body framing as one pure function, following RFC 9112 §6.3
//! rule by rule, and the keep-alive decision of RFC 9112 §9.3.

use http::header::{CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING};
use http::{HeaderMap, Method, StatusCode, Version};

use super::{list_contains, trim_ows};
use crate::error::{Error, ErrorKind, Phase, Result};

/// How the end of a response body is found.
///
/// ```
/// use http::{HeaderMap, Method, StatusCode, Version};
/// use roundtrip::h1::{response_framing, BodyFraming};
///
/// let mut headers = HeaderMap::new();
/// headers.insert("content-length", "1234".parse()?);
/// let framing = response_framing(&Method::GET, StatusCode::OK, Version::HTTP_11, &headers)?;
/// assert_eq!(framing.body, BodyFraming::Length(1234));
/// // 304 Not Modified never has a body, whatever Content-Length says.
/// let framing = response_framing(&Method::GET, StatusCode::NOT_MODIFIED, Version::HTTP_11, &headers)?;
/// assert_eq!(framing.body, BodyFraming::None);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body at all (HEAD, 1xx, 204, 304, or `Content-Length: 0`).
    None,
    /// Exactly this many bytes (RFC 9112 §6.3 rule 5).
    Length(u64),
    /// The chunked transfer coding (RFC 9112 §7.1).
    Chunked,
    /// Everything until the server closes the connection (rule 7 and the
    /// non-chunked half of rule 4).
    Close,
}

/// The framing of one response and whether the connection must be closed
/// after it whatever the keep-alive fields say.
///
/// ```
/// use http::{HeaderMap, Method, StatusCode, Version};
/// use roundtrip::h1::{response_framing, BodyFraming};
///
/// // A body delimited by the connection's close cannot leave it reusable.
/// let framing = response_framing(&Method::GET, StatusCode::OK, Version::HTTP_11, &HeaderMap::new())?;
/// assert_eq!((framing.body, framing.must_close), (BodyFraming::Close, true));
/// # Ok::<(), roundtrip::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Framing {
    /// How the body ends.
    pub body: BodyFraming,
    /// True when the framing itself rules out reuse: a close-delimited body,
    /// or a message whose framing was ambiguous (both Transfer-Encoding and
    /// Content-Length, or Transfer-Encoding on HTTP/1.0).
    pub must_close: bool,
}

fn framing_error(kind: ErrorKind) -> Error {
    Error::new(Phase::ReadResponseHead, kind)
}

/// Decides the body framing of a final response to `method` (RFC 9112 §6.3).
///
/// ```
/// use http::{HeaderMap, Method, StatusCode, Version};
/// use roundtrip::h1::{response_framing, BodyFraming};
///
/// let mut headers = HeaderMap::new();
/// headers.insert("transfer-encoding", "chunked".parse()?);
/// let f = response_framing(&Method::GET, StatusCode::OK, Version::HTTP_11, &headers)?;
/// assert_eq!((f.body, f.must_close), (BodyFraming::Chunked, false));
///
/// // Rule 1: a response to HEAD ends at its head, whatever its fields say.
/// let f = response_framing(&Method::HEAD, StatusCode::OK, Version::HTTP_11, &headers)?;
/// assert_eq!(f.body, BodyFraming::None);
///
/// // Rule 3: Transfer-Encoding overrides Content-Length, and the connection
/// // is not reused after such a message (it smells of request smuggling).
/// headers.insert("content-length", "10".parse()?);
/// let f = response_framing(&Method::GET, StatusCode::OK, Version::HTTP_11, &headers)?;
/// assert_eq!((f.body, f.must_close), (BodyFraming::Chunked, true));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn response_framing(
    method: &Method,
    status: StatusCode,
    version: Version,
    headers: &HeaderMap,
) -> Result<Framing> {
    framing_of(method, status, version, &FramingFields::of(headers))
}

/// [`response_framing`] from the framing fields already gathered.
pub(crate) fn framing_of(
    method: &Method,
    status: StatusCode,
    version: Version,
    fields: &FramingFields,
) -> Result<Framing> {
    let framed = |body| Framing {
        body,
        must_close: body == BodyFraming::Close,
    };
    // Rule 1: HEAD, 1xx, 204 and 304 responses end at the head.
    if method == Method::HEAD
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        return Ok(framed(BodyFraming::None));
    }
    // Rule 2: a 2xx answer to CONNECT is a tunnel, not a body.
    if method == Method::CONNECT && status.is_success() {
        return Ok(framed(BodyFraming::None));
    }
    // Rules 3 and 4: Transfer-Encoding overrides Content-Length.
    if fields.transfer_encoding {
        let ambiguous = fields.content_length_fields || version == Version::HTTP_10;
        return Ok(if fields.chunked_last {
            Framing {
                body: BodyFraming::Chunked,
                must_close: ambiguous,
            }
        } else {
            framed(BodyFraming::Close)
        });
    }
    // Rule 5: Content-Length, with every value equal and a plain number.
    if let Some(len) = fields.content_length()? {
        return Ok(framed(if len == 0 {
            BodyFraming::None
        } else {
            BodyFraming::Length(len)
        }));
    }
    // Rule 7: read until the connection closes.
    Ok(framed(BodyFraming::Close))
}

/// What a field section's Transfer-Encoding, Content-Length and Connection
/// fields say, gathered in one pass over the section: a hashed lookup per
/// name, four of them per response, had cost more than the walk.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FramingFields {
    /// A Transfer-Encoding field is present.
    transfer_encoding: bool,
    /// The last coding listed, over every Transfer-Encoding field, is
    /// `chunked`.
    chunked_last: bool,
    /// A Content-Length field is present.
    content_length_fields: bool,
    /// The Content-Length fields' one value so far, or the first fault
    /// found in them (RFC 9110 §8.6).
    content_length: core::result::Result<Option<u64>, LengthFault>,
    /// Some Connection field lists `close`.
    pub(crate) close: bool,
    /// Some Connection field lists `keep-alive`.
    keep_alive: bool,
}

/// Why Content-Length fields give no length.
#[derive(Debug, Clone, Copy)]
enum LengthFault {
    Invalid,
    Conflicting,
}

impl FramingFields {
    /// Walks `headers` once.
    pub(crate) fn of(headers: &HeaderMap) -> FramingFields {
        let mut f = FramingFields {
            transfer_encoding: false,
            chunked_last: false,
            content_length_fields: false,
            content_length: Ok(None),
            close: false,
            keep_alive: false,
        };
        for (name, value) in headers {
            let value = value.as_bytes();
            if name == TRANSFER_ENCODING {
                f.transfer_encoding = true;
                let last = value
                    .split(|&b| b == b',')
                    .map(trim_ows)
                    .rfind(|c| !c.is_empty());
                if let Some(coding) = last {
                    f.chunked_last = coding.eq_ignore_ascii_case(b"chunked");
                }
            } else if name == CONTENT_LENGTH {
                f.content_length_fields = true;
                if let Ok(found) = f.content_length {
                    f.content_length = lengths_agree(found, value);
                }
            } else if name == CONNECTION {
                f.close |= list_contains(value, "close");
                f.keep_alive |= list_contains(value, "keep-alive");
            }
        }
        f
    }

    /// The single value of the Content-Length fields, if any.
    fn content_length(&self) -> Result<Option<u64>> {
        self.content_length.map_err(|fault| {
            framing_error(match fault {
                LengthFault::Invalid => ErrorKind::InvalidContentLength,
                LengthFault::Conflicting => ErrorKind::ConflictingContentLength,
            })
        })
    }
}

/// `found`, the length the Content-Length values before this one gave,
/// checked against every member of the list `value`.
fn lengths_agree(
    mut found: Option<u64>,
    value: &[u8],
) -> core::result::Result<Option<u64>, LengthFault> {
    for item in value.split(|&b| b == b',') {
        let n = parse_decimal(trim_ows(item)).ok_or(LengthFault::Invalid)?;
        match found {
            Some(prev) if prev != n => return Err(LengthFault::Conflicting),
            _ => found = Some(n),
        }
    }
    Ok(found)
}

/// The single value of the Content-Length fields, if any. Repeated fields
/// and comma-separated lists are accepted only when every member is the same
/// decimal number (RFC 9110 §8.6).
///
/// ```
/// use http::HeaderMap;
/// use roundtrip::h1::framing::content_length;
///
/// let mut headers = HeaderMap::new();
/// assert_eq!(content_length(&headers)?, None);
/// headers.append("content-length", "42".parse()?);
/// headers.append("content-length", "42, 42".parse()?);
/// assert_eq!(content_length(&headers)?, Some(42)); // repeated, but equal
/// headers.append("content-length", "43".parse()?);
/// assert!(content_length(&headers).is_err()); // conflicting
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn content_length(headers: &HeaderMap) -> Result<Option<u64>> {
    FramingFields::of(headers).content_length()
}

/// `1*DIGIT` (RFC 9110 §8.6) as a u64. Leading zeros are digits like any
/// other, so a long value can still be small: only the checked arithmetic
/// decides what overflows.
fn parse_decimal(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(n)
}

/// Whether the connection may carry another request after this response
/// (RFC 9112 §9.3): HTTP/1.1 persists unless either side said
/// `Connection: close`; HTTP/1.0 persists only with `Connection: keep-alive`.
///
/// ```
/// use http::{HeaderMap, Version};
/// use roundtrip::h1::keep_alive;
///
/// let none = HeaderMap::new();
/// let mut close = HeaderMap::new();
/// close.insert("connection", "close".parse()?);
/// let mut keep = HeaderMap::new();
/// keep.insert("connection", "keep-alive".parse()?);
///
/// assert!(keep_alive(&none, Version::HTTP_11, &none)); // HTTP/1.1 persists
/// assert!(!keep_alive(&none, Version::HTTP_11, &close)); // unless told not to
/// assert!(!keep_alive(&none, Version::HTTP_10, &none)); // HTTP/1.0 does not
/// assert!(keep_alive(&none, Version::HTTP_10, &keep)); // unless told to
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn keep_alive(request: &HeaderMap, version: Version, response: &HeaderMap) -> bool {
    keep_alive_of(
        FramingFields::of(request).close,
        version,
        &FramingFields::of(response),
    )
}

/// [`keep_alive`] from whether the request said `Connection: close` and
/// the response's framing fields.
pub(crate) fn keep_alive_of(
    request_close: bool,
    version: Version,
    response: &FramingFields,
) -> bool {
    if request_close || response.close {
        return false;
    }
    match version {
        Version::HTTP_11 => true,
        Version::HTTP_10 => response.keep_alive,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(fields: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in fields {
            h.append(
                http::HeaderName::from_bytes(n.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    /// One row per RFC 9112 §6.3 rule: (method, status, version, fields,
    /// expected framing, must_close).
    #[test]
    fn framing_table() {
        use BodyFraming::*;
        let v11 = Version::HTTP_11;
        let v10 = Version::HTTP_10;
        type Row<'a> = (
            Method,
            u16,
            Version,
            &'a [(&'a str, &'a str)],
            BodyFraming,
            bool,
        );
        let rows: &[Row] = &[
            // Rule 1.
            (
                Method::HEAD,
                200,
                v11,
                &[("content-length", "10")],
                None,
                false,
            ),
            (
                Method::GET,
                204,
                v11,
                &[("content-length", "10")],
                None,
                false,
            ),
            (
                Method::GET,
                304,
                v11,
                &[("transfer-encoding", "chunked")],
                None,
                false,
            ),
            (Method::GET, 103, v11, &[], None, false),
            // Rule 2.
            (
                Method::CONNECT,
                200,
                v11,
                &[("content-length", "5")],
                None,
                false,
            ),
            // Rules 3 and 4.
            (
                Method::GET,
                200,
                v11,
                &[("transfer-encoding", "chunked")],
                Chunked,
                false,
            ),
            (
                Method::GET,
                200,
                v11,
                &[("transfer-encoding", "gzip, chunked")],
                Chunked,
                false,
            ),
            (
                Method::GET,
                200,
                v11,
                &[
                    ("transfer-encoding", "gzip"),
                    ("transfer-encoding", "CHUNKED"),
                ],
                Chunked,
                false,
            ),
            (
                Method::GET,
                200,
                v11,
                &[("transfer-encoding", "chunked, gzip")],
                Close,
                true,
            ),
            // The last coding over every field decides; an empty list
            // member (or field) names none.
            (
                Method::GET,
                200,
                v11,
                &[
                    ("transfer-encoding", "chunked"),
                    ("transfer-encoding", "gzip"),
                ],
                Close,
                true,
            ),
            (
                Method::GET,
                200,
                v11,
                &[("transfer-encoding", "chunked"), ("transfer-encoding", ",")],
                Chunked,
                false,
            ),
            // Content-Length after Transfer-Encoding is just as ambiguous.
            (
                Method::GET,
                200,
                v11,
                &[("content-length", "4"), ("transfer-encoding", "chunked")],
                Chunked,
                true,
            ),
            (
                Method::GET,
                200,
                v11,
                &[("transfer-encoding", "gzip")],
                Close,
                true,
            ),
            (
                Method::GET,
                200,
                v11,
                &[("transfer-encoding", "chunked"), ("content-length", "4")],
                Chunked,
                true,
            ),
            (
                Method::GET,
                200,
                v10,
                &[("transfer-encoding", "chunked")],
                Chunked,
                true,
            ),
            // Rule 5.
            (
                Method::GET,
                200,
                v11,
                &[("content-length", "42")],
                Length(42),
                false,
            ),
            (
                Method::GET,
                200,
                v11,
                &[("content-length", "0")],
                None,
                false,
            ),
            (
                Method::GET,
                200,
                v11,
                &[("content-length", "7, 7")],
                Length(7),
                false,
            ),
            (
                Method::GET,
                200,
                v11,
                &[("content-length", "7"), ("content-length", "7")],
                Length(7),
                false,
            ),
            // Rule 7.
            (Method::GET, 200, v11, &[], Close, true),
            (Method::GET, 200, v10, &[], Close, true),
        ];
        for (method, status, version, fields, body, must_close) in rows {
            let got = response_framing(
                method,
                StatusCode::from_u16(*status).unwrap(),
                *version,
                &headers(fields),
            )
            .unwrap();
            assert_eq!(
                got,
                Framing {
                    body: *body,
                    must_close: *must_close
                },
                "{method} {status} {fields:?}"
            );
        }
    }

    /// `1*DIGIT` (RFC 9110 §8.6): leading zeros make a value long, not
    /// large; only a value past u64 overflows (found by comparing with
    /// curl and Go, which both take the 20-digit 5).
    #[test]
    fn long_content_lengths_are_read_by_value() {
        for (value, want) in [
            ("00000000000000000005", 5),
            ("0000000000000000000000000000000000000000", 0),
            ("18446744073709551615", u64::MAX),
            ("018446744073709551615", u64::MAX),
        ] {
            let fields = [("content-length", value)];
            assert_eq!(
                content_length(&headers(&fields)).unwrap(),
                Some(want),
                "{value}"
            );
        }
    }

    #[test]
    fn bad_content_lengths_are_errors() {
        for (fields, conflicting) in [
            (&[("content-length", "1, 2")][..], true),
            (
                &[("content-length", "1"), ("content-length", "2")][..],
                true,
            ),
            (&[("content-length", "-1")][..], false),
            (&[("content-length", "+1")][..], false),
            (&[("content-length", "0x10")][..], false),
            (&[("content-length", "")][..], false),
            (&[("content-length", "99999999999999999999")][..], false),
            (&[("content-length", "18446744073709551616")][..], false),
            (&[("content-length", "1 2")][..], false),
            // The first fault in field order is the one named.
            (
                &[
                    ("content-length", "1"),
                    ("content-length", "2"),
                    ("content-length", "x"),
                ][..],
                true,
            ),
            (
                &[
                    ("content-length", "x"),
                    ("content-length", "1"),
                    ("content-length", "2"),
                ][..],
                false,
            ),
        ] {
            let err = response_framing(
                &Method::GET,
                StatusCode::OK,
                Version::HTTP_11,
                &headers(fields),
            )
            .unwrap_err();
            let want_conflict = matches!(err.kind(), ErrorKind::ConflictingContentLength);
            let want_invalid = matches!(err.kind(), ErrorKind::InvalidContentLength);
            assert!(
                if conflicting {
                    want_conflict
                } else {
                    want_invalid
                },
                "{fields:?}: {err}"
            );
        }
    }

    #[test]
    fn keep_alive_rules() {
        let none = HeaderMap::new();
        let close = headers(&[("connection", "close")]);
        let ka = headers(&[("connection", "Keep-Alive")]);
        let upgrade_close = headers(&[("connection", "upgrade, Close")]);
        assert!(keep_alive(&none, Version::HTTP_11, &none));
        assert!(!keep_alive(&close, Version::HTTP_11, &none));
        assert!(!keep_alive(&none, Version::HTTP_11, &close));
        assert!(!keep_alive(&none, Version::HTTP_11, &upgrade_close));
        assert!(!keep_alive(&none, Version::HTTP_10, &none));
        assert!(keep_alive(&none, Version::HTTP_10, &ka));
        assert!(!keep_alive(&close, Version::HTTP_10, &ka));
    }
}

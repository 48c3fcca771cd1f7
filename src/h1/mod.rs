//! HTTP/1.1 message syntax for a client (RFC 9112): the request writer, the
//! response head parser, body framing and the body decoders.
//!
//! Every piece here is sans-IO: it takes bytes (and never a socket or a
//! clock) and says what it found. None of it calls user code; the exchange
//! turns what these functions report into trace events.

pub mod body;
pub mod framing;
pub mod head;
pub mod writer;

pub use body::{BodyDecoder, Decoded};
pub use framing::{keep_alive, response_framing, BodyFraming};
pub use head::{parse_response_head, ResponseHead};

/// RFC 9110 §5.6.2 `tchar`.
pub(crate) fn is_tchar(b: u8) -> bool {
    matches!(b,
        b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.'
        | b'^' | b'_' | b'`' | b'|' | b'~' | b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z')
}

/// True if `s` is a non-empty RFC 9110 token.
pub(crate) fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}

/// True if a comma-separated header value list (RFC 9110 §5.6.1) contains
/// `token`, compared case-insensitively.
pub(crate) fn list_contains(value: &[u8], token: &str) -> bool {
    value
        .split(|&b| b == b',')
        .any(|item| trim_ows(item).eq_ignore_ascii_case(token.as_bytes()))
}

/// Strips optional whitespace (SP / HTAB) from both ends.
pub(crate) fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

//! The crate's one error type: a [`Phase`] on top, an exact [`ErrorKind`]
//! underneath (the shape of rustls's `Error`).
//!
//! Every failure, whether caused by the caller's input (an invalid header),
//! by the network (a refused connection) or by the peer (a malformed
//! response, RFC 9112 §6.3 framing faults), ends in one of these. Errors are
//! cheap to clone so that trace events can carry them by reference and
//! recorders can keep them.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Result alias used across the crate.
///
/// ```
/// fn fetch(url: &str) -> roundtrip::Result<String> {
///     roundtrip::Client::new().get(url)?.into_body().text()
/// }
/// ```
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Where in the round trip an error happened.
///
/// ```
/// use roundtrip::{Client, Phase};
///
/// // Checked before anything is sent: only http and https are spoken.
/// let err = Client::new().get("ftp://example.com/").unwrap_err();
/// assert_eq!(err.phase(), Phase::Request);
/// assert_eq!(err.phase().as_str(), "request");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Phase {
    /// Checking the caller's request before anything was sent.
    Request,
    /// Looking up the host's addresses.
    Dns,
    /// Opening the TCP connection.
    Connect,
    /// The TLS handshake (and TLS records afterwards).
    Tls,
    /// Writing the request head or body.
    WriteRequest,
    /// Waiting for and parsing the response head (including 1xx heads).
    ReadResponseHead,
    /// Reading the response body and trailers.
    ReadResponseBody,
}

impl Phase {
    /// The phase's snake_case name, as used in traces and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Request => "request",
            Phase::Dns => "dns",
            Phase::Connect => "connect",
            Phase::Tls => "tls",
            Phase::WriteRequest => "write_request",
            Phase::ReadResponseHead => "read_response_head",
            Phase::ReadResponseBody => "read_response_body",
        }
    }
}

/// A configured limit that input exceeded.
///
/// ```
/// use roundtrip::{h1, ErrorKind, Limit};
///
/// // A head that does not end within `max_head_size` bytes (16 here).
/// let err = h1::parse_response_head(b"HTTP/1.1 200 OK\r\nX-Long: 12345", 16, 100).unwrap_err();
/// assert!(matches!(err.kind(), ErrorKind::LimitExceeded { limit: Limit::HeadSize, max: 16 }));
/// assert_eq!(Limit::HeadSize.config_field(), "max_head_size");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Limit {
    /// [`Config::max_head_size`](crate::Config::max_head_size).
    HeadSize,
    /// [`Config::max_headers`](crate::Config::max_headers).
    HeaderCount,
    /// [`Config::max_1xx_responses`](crate::Config::max_1xx_responses).
    InformationalResponses,
    /// [`Config::max_chunk_line`](crate::Config::max_chunk_line).
    ChunkLine,
    /// [`Config::max_trailer_size`](crate::Config::max_trailer_size).
    TrailerSize,
}

impl Limit {
    /// The name of the `Config` field that sets this limit.
    pub fn config_field(self) -> &'static str {
        match self {
            Limit::HeadSize => "max_head_size",
            Limit::HeaderCount => "max_headers",
            Limit::InformationalResponses => "max_1xx_responses",
            Limit::ChunkLine => "max_chunk_line",
            Limit::TrailerSize => "max_trailer_size",
        }
    }
}

/// One failed connection attempt: where to, and why it failed.
///
/// ```no_run
/// use roundtrip::{Client, ErrorKind};
///
/// // With nothing listening, every address of the name fails in turn.
/// if let Err(e) = Client::new().get("http://localhost:9/") {
///     if let ErrorKind::ConnectFailed(attempts) = e.kind() {
///         for a in attempts {
///             eprintln!("{}: {}", a.addr, a.error);
///         }
///     }
/// }
/// ```
#[derive(Debug, Clone)]
pub struct AttemptError {
    /// The address that was tried.
    pub addr: SocketAddr,
    /// Why that attempt failed.
    pub error: Arc<io::Error>,
}

/// One failed DNS query: which server, for which type, over which
/// transport, and what happened (a response code, a timeout, a socket
/// error).
///
/// ```no_run
/// use roundtrip::{Client, ErrorKind};
///
/// if let Err(e) = Client::new().get("http://unreachable-dns.example/") {
///     if let ErrorKind::DnsFailed { host, attempts } = e.kind() {
///         for a in attempts {
///             eprintln!("{host}: {} {} via {}: {}", a.qtype, a.transport, a.server, a.error);
///         }
///     }
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsAttempt {
    /// The server asked.
    pub server: SocketAddr,
    /// `"A"` or `"AAAA"`.
    pub qtype: &'static str,
    /// `"udp"` or `"tcp"`.
    pub transport: &'static str,
    /// What it said, or why there was no answer.
    pub error: String,
}

/// Why TLS failed.
///
/// ```no_run
/// use roundtrip::{Client, ErrorKind, TlsError};
///
/// let err = Client::new().get("https://self-signed.localhost:8443/").unwrap_err();
/// match err.kind() {
///     ErrorKind::Tls(TlsError::UnknownIssuer) => eprintln!("trust its CA with Config::tls_ca_files"),
///     ErrorKind::Tls(TlsError::WrongHost) => eprintln!("the certificate names another host"),
///     ErrorKind::Tls(other) => eprintln!("TLS: {other}"),
///     _ => eprintln!("{err}"),
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsError {
    /// The server's certificate has expired.
    CertificateExpired,
    /// The server's certificate is not valid yet.
    CertificateNotYetValid,
    /// The certificate is not for this host (name or IP address).
    WrongHost,
    /// The certificate does not chain to a trusted root.
    UnknownIssuer,
    /// Another certificate problem.
    BadCertificate(String),
    /// The server sent a fatal alert (named).
    AlertReceived(String),
    /// The server closed the connection during the handshake.
    ClosedDuringHandshake,
    /// The stream ended without `close_notify` where that matters.
    MissingCloseNotify,
    /// Another protocol failure.
    Protocol(String),
    /// The TLS configuration could not be built (bad PEM file, …).
    Config(String),
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::CertificateExpired => f.write_str("certificate expired"),
            TlsError::CertificateNotYetValid => f.write_str("certificate not valid yet"),
            TlsError::WrongHost => f.write_str("certificate is not valid for this host"),
            TlsError::UnknownIssuer => f.write_str("certificate issuer is not trusted"),
            TlsError::BadCertificate(w) => write!(f, "bad certificate: {w}"),
            TlsError::AlertReceived(a) => write!(f, "server sent alert {a}"),
            TlsError::ClosedDuringHandshake => {
                f.write_str("connection closed during the handshake")
            }
            TlsError::MissingCloseNotify => {
                f.write_str("connection closed without close_notify (possible truncation)")
            }
            TlsError::Protocol(w) => write!(f, "protocol error: {w}"),
            TlsError::Config(w) => write!(f, "configuration: {w}"),
        }
    }
}

/// What exactly went wrong.
///
/// ```no_run
/// use roundtrip::{Client, ErrorKind, TlsError};
///
/// match Client::new().get("https://example.com/") {
///     Ok(response) => println!("{}", response.status()),
///     Err(e) => match e.kind() {
///         ErrorKind::HostNotFound { host } => eprintln!("no such host: {host}"),
///         ErrorKind::ConnectFailed(attempts) => {
///             for a in attempts {
///                 eprintln!("{}: {}", a.addr, a.error);
///             }
///         }
///         ErrorKind::Tls(TlsError::CertificateExpired) => eprintln!("certificate expired"),
///         ErrorKind::Timeout { limit } => eprintln!("{} gave up after {limit:?}", e.phase().as_str()),
///         other => eprintln!("{other}"),
///     },
/// }
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The request URI is unusable (no host, relative, bad port...).
    InvalidUri(String),
    /// The URI scheme is neither `http` nor `https`.
    UnsupportedScheme(String),
    /// The method is not a valid token (RFC 9110 §9.1).
    InvalidMethod,
    /// A header name is not a valid token, or is one the client manages.
    InvalidHeaderName(String),
    /// A header value contains CR, LF or NUL, or is otherwise unusable.
    InvalidHeaderValue {
        /// The header whose value was rejected.
        name: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// The request body did not match the length the request announced.
    BodyLengthMismatch {
        /// Bytes announced by `Content-Length`.
        expected: u64,
        /// Bytes the body actually produced.
        actual: u64,
    },
    /// Reading the caller's request body failed.
    RequestBody(Arc<io::Error>),
    /// The name does not exist: NXDOMAIN for every name tried (RFC 1035
    /// §4.1.1), or a name under `.invalid` (RFC 6761 §6.4).
    HostNotFound {
        /// The name that was looked up.
        host: String,
    },
    /// The name exists but has no A or AAAA records (NODATA, RFC 2308 §2.2).
    NoAddresses {
        /// The name that was looked up.
        host: String,
    },
    /// No server gave a usable answer; each query's fate is listed.
    DnsFailed {
        /// The name that was looked up.
        host: String,
        /// Every query that failed, in order.
        attempts: Vec<DnsAttempt>,
    },
    /// The name cannot be looked up (an empty label, a label over 63 octets
    /// or a name over 253; RFC 1035 §2.3.4).
    InvalidHostName {
        /// The name as given.
        host: String,
    },
    /// Every connection attempt failed; each attempt's own error is kept.
    ConnectFailed(Vec<AttemptError>),
    /// The name has addresses, but none of the family the client may use
    /// (`Config::ip_family`).
    NoAddressOfFamily {
        /// The host.
        host: String,
        /// The family allowed.
        family: crate::config::IpFamily,
    },
    /// The connect deadline passed; every attempt is listed with its own
    /// error (those still running with a timeout).
    ConnectTimeout {
        /// `Config::connect_timeout`.
        limit: Duration,
        /// Every attempt, in the order they ended.
        attempts: Vec<AttemptError>,
    },
    /// TLS failed.
    Tls(TlsError),
    /// An IO error on an established connection.
    Io(Arc<io::Error>),
    /// The server closed the connection before a complete response head.
    ConnectionClosed,
    /// A configured limit was exceeded.
    LimitExceeded {
        /// Which limit.
        limit: Limit,
        /// Its configured value.
        max: usize,
    },
    /// The response head is not valid HTTP/1.x (RFC 9112 §4, §5).
    MalformedHead(String),
    /// A 101 response arrived although no upgrade was requested.
    UnexpectedSwitchingProtocols,
    /// The server answered a request that expected `100-continue` with 417
    /// Expectation Failed (RFC 9110 §10.1.1). Seen only as the reason of a
    /// `retry` event: the request is then sent again without the
    /// expectation (when its body can be sent again; otherwise the caller
    /// gets the 417 response).
    ExpectationFailed,
    /// A `Content-Length` value that is not a plain decimal number
    /// (RFC 9112 §6.3 rule 5).
    InvalidContentLength,
    /// Several `Content-Length` values that differ (RFC 9112 §6.3 rule 5).
    ConflictingContentLength,
    /// A chunk-size line that is not `1*HEXDIG [chunk-ext] CRLF`
    /// (RFC 9112 §7.1).
    InvalidChunkSize,
    /// A chunk size that does not fit in 64 bits.
    ChunkSizeOverflow,
    /// Chunk data not followed by CRLF (RFC 9112 §7.1).
    MissingChunkTerminator,
    /// A trailer section that is not valid field syntax (RFC 9112 §7.1.2).
    MalformedTrailers(String),
    /// The connection ended before the body's framing said it was complete.
    BodyTruncated {
        /// Body bytes received.
        received: u64,
        /// Bytes announced by `Content-Length`, if the body had one.
        expected: Option<u64>,
    },
    /// A wait took longer than its configured limit.
    Timeout {
        /// The limit that ran out.
        limit: Duration,
    },
    /// The whole request took longer than its total time limit
    /// (`Config::total_timeout`); the phase says where it was.
    TotalTimeout {
        /// The limit.
        limit: Duration,
    },
    /// The proxy configuration (or environment variable) is unusable.
    InvalidProxy(String),
    /// The proxy answered CONNECT with a non-2xx status; its status line
    /// is kept (and shown: `proxy refused CONNECT: 403 Blocked By Policy`),
    /// its body is never taken for the origin's.
    ProxyConnectRefused {
        /// The proxy's status code.
        status: u16,
        /// Its reason phrase, as the proxy sent it (empty if none).
        reason: String,
    },
    /// More redirects than `Config::max_redirects`.
    TooManyRedirects {
        /// The limit.
        max: usize,
    },
    /// A redirect that is not followed: https to http (unless allowed), a
    /// scheme other than http(s), or an unusable `Location`.
    RedirectRefused {
        /// The `Location` value.
        location: String,
        /// Why.
        reason: &'static str,
    },
    /// The caller cancelled the request (for example by dropping the body).
    Cancelled,
}

/// The error of a round trip: the phase it happened in and its cause.
///
/// ```
/// use roundtrip::{Client, ErrorKind};
///
/// let err = Client::new().get("ftp://example.com/").unwrap_err();
/// assert!(err.is_request_error()); // the caller's mistake: nothing was sent
/// assert!(matches!(err.kind(), ErrorKind::UnsupportedScheme(s) if s == "ftp"));
/// assert_eq!(err.to_string(), r#"request: unsupported URI scheme "ftp""#);
/// ```
///
/// An error from the network keeps the request's timeline up to the
/// failure:
///
/// ```no_run
/// if let Err(e) = roundtrip::Client::new().get("http://127.0.0.1:9/") {
///     eprintln!("{e}"); // "connect: ..."
///     if let Some(t) = e.timings() {
///         // The failed phase and those after it are `PhaseTime::Pending`.
///         eprintln!("{} connections, connect {:?}", t.num_connects(), t.tcp_connect());
///     }
/// }
/// ```
pub struct Error {
    /// Behind a trait object (`crate::erased`) so that dropping an error
    /// is one indirect call: a plain `Box<Inner>` (or the fields inline)
    /// has its drop glue, a match over every kind, compiled into each
    /// codegen unit that may drop an error, and errors travel through
    /// nearly all of them.
    inner: Box<dyn crate::erased::Erased<Inner> + Send + Sync>,
}

struct Inner {
    phase: Phase,
    kind: ErrorKind,
    timings: Option<crate::timings::Timings>,
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        f.debug_struct("Error")
            .field("phase", &inner.phase)
            .field("kind", &inner.kind)
            .field("timings", &inner.timings)
            .finish()
    }
}

impl Clone for Error {
    fn clone(&self) -> Error {
        let inner = &*self.inner;
        Error {
            inner: Box::new(Inner {
                phase: inner.phase,
                kind: inner.kind.clone(),
                timings: inner.timings.clone(),
            }),
        }
    }
}

impl Error {
    /// Builds an error in `phase`.
    pub fn new(phase: Phase, kind: ErrorKind) -> Error {
        Error {
            inner: Box::new(Inner {
                phase,
                kind,
                timings: None,
            }),
        }
    }

    pub(crate) fn io(phase: Phase, err: io::Error) -> Error {
        Error::new(phase, ErrorKind::Io(Arc::new(err)))
    }

    pub(crate) fn with_timings(mut self, t: crate::timings::Timings) -> Error {
        self.inner.timings = Some(t);
        self
    }

    /// The request's timeline up to the failure (phases after it are
    /// `PhaseTime::Pending`).
    pub fn timings(&self) -> Option<&crate::timings::Timings> {
        self.inner.timings.as_ref()
    }

    /// The phase in which the error happened.
    pub fn phase(&self) -> Phase {
        self.inner.phase
    }

    /// What exactly went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.inner.kind
    }

    /// True for errors caused by the caller's request rather than the
    /// network or the peer.
    pub fn is_request_error(&self) -> bool {
        self.phase() == Phase::Request
    }

    /// The closest `io::ErrorKind`, for callers that want one.
    pub fn io_kind(&self) -> io::ErrorKind {
        match self.kind() {
            ErrorKind::Io(e) | ErrorKind::RequestBody(e) => e.kind(),
            ErrorKind::ConnectFailed(a) => a
                .last()
                .map(|a| a.error.kind())
                .unwrap_or(io::ErrorKind::NotConnected),
            ErrorKind::Timeout { .. }
            | ErrorKind::ConnectTimeout { .. }
            | ErrorKind::TotalTimeout { .. } => io::ErrorKind::TimedOut,
            ErrorKind::ConnectionClosed | ErrorKind::BodyTruncated { .. } => {
                io::ErrorKind::UnexpectedEof
            }
            ErrorKind::HostNotFound { .. }
            | ErrorKind::NoAddresses { .. }
            | ErrorKind::NoAddressOfFamily { .. } => io::ErrorKind::NotFound,
            ErrorKind::DnsFailed { .. } => io::ErrorKind::TimedOut,
            ErrorKind::InvalidHostName { .. } => io::ErrorKind::InvalidInput,
            ErrorKind::Cancelled => io::ErrorKind::Interrupted,
            ErrorKind::InvalidUri(_)
            | ErrorKind::UnsupportedScheme(_)
            | ErrorKind::InvalidMethod
            | ErrorKind::InvalidHeaderName(_)
            | ErrorKind::InvalidHeaderValue { .. }
            | ErrorKind::BodyLengthMismatch { .. } => io::ErrorKind::InvalidInput,
            _ => io::ErrorKind::InvalidData,
        }
    }
}

impl ErrorKind {
    /// A short, stable snake_case name for the kind (`host_not_found`,
    /// `connect_failed`, `tls_unknown_issuer`, …): low-cardinality, for
    /// metrics and for OpenTelemetry's `error.type`.
    ///
    /// ```
    /// use roundtrip::{Error, ErrorKind, Phase, TlsError};
    ///
    /// assert_eq!(ErrorKind::ConnectionClosed.name(), "connection_closed");
    /// let e = Error::new(Phase::Tls, ErrorKind::Tls(TlsError::WrongHost));
    /// assert_eq!(e.kind().name(), "tls_wrong_host");
    /// ```
    pub fn name(&self) -> &'static str {
        match self {
            ErrorKind::InvalidUri(_) => "invalid_uri",
            ErrorKind::UnsupportedScheme(_) => "unsupported_scheme",
            ErrorKind::InvalidMethod => "invalid_method",
            ErrorKind::InvalidHeaderName(_) => "invalid_header_name",
            ErrorKind::InvalidHeaderValue { .. } => "invalid_header_value",
            ErrorKind::BodyLengthMismatch { .. } => "body_length_mismatch",
            ErrorKind::RequestBody(_) => "request_body",
            ErrorKind::HostNotFound { .. } => "host_not_found",
            ErrorKind::NoAddresses { .. } => "no_addresses",
            ErrorKind::DnsFailed { .. } => "dns_failed",
            ErrorKind::InvalidHostName { .. } => "invalid_host_name",
            ErrorKind::ConnectFailed(_) => "connect_failed",
            ErrorKind::NoAddressOfFamily { .. } => "no_address_of_family",
            ErrorKind::ConnectTimeout { .. } => "connect_timeout",
            ErrorKind::Tls(t) => match t {
                TlsError::CertificateExpired => "tls_certificate_expired",
                TlsError::CertificateNotYetValid => "tls_certificate_not_yet_valid",
                TlsError::WrongHost => "tls_wrong_host",
                TlsError::UnknownIssuer => "tls_unknown_issuer",
                TlsError::BadCertificate(_) => "tls_bad_certificate",
                TlsError::AlertReceived(_) => "tls_alert_received",
                TlsError::ClosedDuringHandshake => "tls_closed_during_handshake",
                TlsError::MissingCloseNotify => "tls_missing_close_notify",
                TlsError::Protocol(_) => "tls_protocol",
                TlsError::Config(_) => "tls_config",
            },
            ErrorKind::Io(_) => "io",
            ErrorKind::ConnectionClosed => "connection_closed",
            ErrorKind::LimitExceeded { .. } => "limit_exceeded",
            ErrorKind::MalformedHead(_) => "malformed_head",
            ErrorKind::UnexpectedSwitchingProtocols => "unexpected_switching_protocols",
            ErrorKind::ExpectationFailed => "expectation_failed",
            ErrorKind::InvalidContentLength => "invalid_content_length",
            ErrorKind::ConflictingContentLength => "conflicting_content_length",
            ErrorKind::InvalidChunkSize => "invalid_chunk_size",
            ErrorKind::ChunkSizeOverflow => "chunk_size_overflow",
            ErrorKind::MissingChunkTerminator => "missing_chunk_terminator",
            ErrorKind::MalformedTrailers(_) => "malformed_trailers",
            ErrorKind::BodyTruncated { .. } => "body_truncated",
            ErrorKind::Timeout { .. } => "timeout",
            ErrorKind::TotalTimeout { .. } => "total_timeout",
            ErrorKind::InvalidProxy(_) => "invalid_proxy",
            ErrorKind::ProxyConnectRefused { .. } => "proxy_connect_refused",
            ErrorKind::TooManyRedirects { .. } => "too_many_redirects",
            ErrorKind::RedirectRefused { .. } => "redirect_refused",
            ErrorKind::Cancelled => "cancelled",
        }
    }
}

/// An `io::ErrorKind` in snake_case (`connection_refused`, `timed_out`):
/// the kind's own name, so it needs no table to keep up with std.
///
/// ```
/// use std::io::ErrorKind;
///
/// assert_eq!(roundtrip::io_kind_name(ErrorKind::ConnectionReset), "connection_reset");
/// assert_eq!(roundtrip::io_kind_name(ErrorKind::TimedOut), "timed_out");
/// ```
pub fn io_kind_name(kind: io::ErrorKind) -> String {
    let mut out = String::new();
    for (i, c) in format!("{kind:?}").chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

impl ErrorKind {
    /// Like [`name`](Self::name), but an IO error is named by its
    /// `io::ErrorKind` (`connection_reset` rather than `io`), which says
    /// more and is still low-cardinality: OpenTelemetry's `error.type` and
    /// the CLI's notes on failed bars.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use roundtrip::ErrorKind;
    ///
    /// let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
    /// assert_eq!(ErrorKind::Io(Arc::new(reset)).error_type(), "connection_reset");
    /// assert_eq!(ErrorKind::ConnectionClosed.error_type(), "connection_closed");
    /// ```
    pub fn error_type(&self) -> std::borrow::Cow<'static, str> {
        match self {
            ErrorKind::Io(e) => io_kind_name(e.kind()).into(),
            other => other.name().into(),
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::InvalidUri(s) => write!(f, "invalid URI: {s}"),
            ErrorKind::UnsupportedScheme(s) => write!(f, "unsupported URI scheme {s:?}"),
            ErrorKind::InvalidMethod => f.write_str("method is not a valid token"),
            ErrorKind::InvalidHeaderName(n) => write!(f, "invalid header name {n:?}"),
            ErrorKind::InvalidHeaderValue { name, reason } => {
                write!(f, "invalid value for header {name:?}: {reason}")
            }
            ErrorKind::BodyLengthMismatch { expected, actual } => write!(
                f,
                "request body produced {actual} bytes but Content-Length is {expected}"
            ),
            ErrorKind::RequestBody(e) => write!(f, "reading the request body failed: {e}"),
            ErrorKind::HostNotFound { host } => write!(f, "host {host:?} not found (NXDOMAIN)"),
            ErrorKind::NoAddresses { host } => {
                write!(f, "host {host:?} has no A or AAAA records (NODATA)")
            }
            ErrorKind::DnsFailed { host, attempts } => {
                write!(f, "no DNS server answered for {host:?}")?;
                for (i, a) in attempts.iter().enumerate() {
                    let sep = if i == 0 { ": " } else { "; " };
                    write!(
                        f,
                        "{sep}{} {} {}: {}",
                        a.server, a.transport, a.qtype, a.error
                    )?;
                }
                Ok(())
            }
            ErrorKind::InvalidHostName { host } => write!(f, "invalid host name {host:?}"),
            ErrorKind::ConnectFailed(attempts) => {
                f.write_str("could not connect")?;
                for (i, a) in attempts.iter().enumerate() {
                    let sep = if i == 0 { ": " } else { "; " };
                    write!(f, "{sep}{} ({})", a.addr, a.error)?;
                }
                Ok(())
            }
            ErrorKind::NoAddressOfFamily { host, family } => {
                let fam = match family {
                    crate::config::IpFamily::V4Only => "IPv4",
                    crate::config::IpFamily::V6Only => "IPv6",
                    crate::config::IpFamily::Any => "any",
                };
                write!(f, "host {host:?} has no {fam} address")
            }
            ErrorKind::ConnectTimeout { limit, attempts } => {
                write!(f, "could not connect within {limit:?}")?;
                for (i, a) in attempts.iter().enumerate() {
                    let sep = if i == 0 { ": " } else { "; " };
                    write!(f, "{sep}{} ({})", a.addr, a.error)?;
                }
                Ok(())
            }
            ErrorKind::Tls(e) => write!(f, "{e}"),
            ErrorKind::Io(e) => write!(f, "{e}"),
            ErrorKind::ConnectionClosed => {
                f.write_str("connection closed before a complete response head")
            }
            ErrorKind::LimitExceeded { limit, max } => {
                write!(f, "limit {} ({max}) exceeded", limit.config_field())
            }
            ErrorKind::MalformedHead(why) => write!(f, "malformed response head: {why}"),
            ErrorKind::UnexpectedSwitchingProtocols => {
                f.write_str("101 Switching Protocols without an upgrade request")
            }
            ErrorKind::ExpectationFailed => {
                f.write_str("417 Expectation Failed to a 100-continue request")
            }
            ErrorKind::InvalidContentLength => {
                f.write_str("Content-Length is not a decimal number")
            }
            ErrorKind::ConflictingContentLength => {
                f.write_str("several Content-Length values that differ")
            }
            ErrorKind::InvalidChunkSize => f.write_str("invalid chunk-size line"),
            ErrorKind::ChunkSizeOverflow => f.write_str("chunk size does not fit in 64 bits"),
            ErrorKind::MissingChunkTerminator => f.write_str("chunk data not followed by CRLF"),
            ErrorKind::MalformedTrailers(why) => write!(f, "malformed trailer section: {why}"),
            ErrorKind::BodyTruncated { received, expected } => match expected {
                Some(n) => write!(f, "body truncated after {received} of {n} bytes"),
                None => write!(f, "body truncated after {received} bytes"),
            },
            ErrorKind::Timeout { limit } => write!(f, "timed out after {limit:?}"),
            ErrorKind::TotalTimeout { limit } => {
                write!(f, "total time limit of {limit:?} exceeded")
            }
            ErrorKind::Cancelled => f.write_str("request cancelled"),
            ErrorKind::TooManyRedirects { max } => write!(f, "more than {max} redirects"),
            ErrorKind::InvalidProxy(w) => write!(f, "invalid proxy: {w}"),
            ErrorKind::ProxyConnectRefused { status, reason } => {
                let line = format!("{status} {reason}");
                write!(f, "proxy refused CONNECT: {}", line.trim_end())
            }
            ErrorKind::RedirectRefused { location, reason } => {
                write!(f, "redirect to {location:?} not followed: {reason}")
            }
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.phase().as_str(), self.kind())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self.kind() {
            ErrorKind::Io(e) | ErrorKind::RequestBody(e) => Some(&**e),
            _ => None,
        }
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        io::Error::new(e.io_kind(), e)
    }
}

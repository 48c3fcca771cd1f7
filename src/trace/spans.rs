//! The bridge to the `tracing` ecosystem (cargo feature `tracing`, off by
//! default): every request attempt becomes a `tracing` span, and every trace
//! event a child `tracing` event with the same name and fields.
//!
//! Span shapes follow OpenTelemetry's semantic conventions for HTTP client
//! spans (`otel.kind = "client"`, `http.request.method`, `server.address`,
//! `server.port`, `url.full` with credentials redacted,
//! `http.response.status_code`, `network.peer.*`,
//! `network.protocol.version`, `http.request.resend_count`, `error.type`),
//! so `tracing-opentelemetry` exports them without a mapping. The
//! connection phases are child spans named as .NET 9 names its connection
//! spans: `DNS lookup {host}`, `socket connect {address}:{port}` (one per
//! Happy Eyeballs attempt, RFC 8305) and `TLS client handshake {host}`.
//! Names that carry a value are set through `otel.name`, which
//! `tracing-opentelemetry` uses as the exported span name, because a
//! `tracing` span's own name must be a constant.
//!
//! Everything is fed from the exchange's one emission point
//! (`Tracer::emit`), so spans and hooks can never disagree. Field values are
//! formatted lazily: with no subscriber interested, nothing is allocated.

use std::fmt;

use http::{HeaderMap, Method, Uri};
use tracing::field::{display, Empty};
use tracing::{debug, Level, Span};

use super::{AttemptId, Event, EventKind, FieldValues};
use crate::error::Error;

/// The target of every span and event, for subscriber filters.
const TARGET: &str = "roundtrip";

/// The open spans of one request.
pub(crate) struct Spans {
    /// The span that was current when the request was submitted: each
    /// attempt's parent, so a request sent from inside an application's
    /// span nests there even when a batch drives it later.
    parent: Span,
    /// How many attempts started before the current one (resends and
    /// redirect hops alike, as `http.request.resend_count` counts them).
    attempts: u32,
    attempt: Option<Span>,
    /// The host of the current attempt, for the TLS span's name.
    host: String,
    dns: Option<Span>,
    connects: Vec<(AttemptId, Span)>,
    tls: Option<Span>,
}

impl Spans {
    pub(crate) fn new() -> Spans {
        Spans {
            parent: Span::current(),
            attempts: 0,
            attempt: None,
            host: String::new(),
            dns: None,
            connects: Vec::new(),
            tls: None,
        }
    }

    /// True when some subscriber wants this crate's spans.
    pub(crate) fn enabled() -> bool {
        tracing::enabled!(target: TARGET, Level::INFO)
    }

    /// Opens the span of a new attempt (first send, resend or redirect
    /// hop), closing what is left of the previous one.
    pub(crate) fn begin_attempt(&mut self, method: &Method, uri: &Uri, port: u16) {
        self.close_all();
        let host = uri.host().unwrap_or("");
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let span = tracing::info_span!(
            target: TARGET,
            parent: &self.parent,
            "HTTP request",
            otel.name = %method,
            otel.kind = "client",
            otel.status_code = Empty,
            http.request.method = %method,
            server.address = host,
            server.port = port,
            url.full = %Redacted(uri),
            network.protocol.version = "1.1",
            http.request.resend_count = Empty,
            http.response.status_code = Empty,
            network.peer.address = Empty,
            network.peer.port = Empty,
            error.type = Empty,
        );
        if self.attempts > 0 {
            span.record("http.request.resend_count", self.attempts);
        }
        self.attempts += 1;
        if !span.is_disabled() {
            self.host.clear();
            self.host.push_str(host);
        }
        self.attempt = Some(span);
    }

    /// Closes every span still open.
    fn close_all(&mut self) {
        self.dns = None;
        self.connects.clear();
        self.tls = None;
        self.attempt = None;
    }

    /// Feeds one event: opens or closes child spans, records span fields
    /// and emits the matching `tracing` event.
    pub(crate) fn on_event(&mut self, event: &Event<'_>) {
        let Some(attempt) = self.attempt.clone() else {
            return;
        };
        if attempt.is_disabled() {
            return;
        }
        match &event.kind {
            EventKind::DnsStart { host } => {
                self.dns = Some(tracing::info_span!(
                    target: TARGET,
                    parent: &attempt,
                    "DNS lookup",
                    otel.name = %Named("DNS lookup ", host),
                    dns.question.name = *host,
                    error.type = Empty,
                ));
            }
            EventKind::ConnectStart {
                attempt: id, addr, ..
            } => {
                let span = tracing::info_span!(
                    target: TARGET,
                    parent: &attempt,
                    "socket connect",
                    otel.name = %Named("socket connect ", addr),
                    network.peer.address = %addr.ip(),
                    network.peer.port = addr.port(),
                    network.type = if addr.is_ipv4() { "ipv4" } else { "ipv6" },
                    network.transport = "tcp",
                    error.type = Empty,
                );
                self.connects.push((*id, span));
            }
            EventKind::TlsHandshakeStart => {
                self.tls = Some(tracing::info_span!(
                    target: TARGET,
                    parent: &attempt,
                    "TLS client handshake",
                    otel.name = %Named("TLS client handshake ", &self.host),
                    server.address = %self.host,
                    tls.protocol.name = "tls",
                    tls.protocol.version = Empty,
                    tls.cipher = Empty,
                    tls.next_protocol = Empty,
                    tls.resumed = Empty,
                    error.type = Empty,
                ));
            }
            _ => {}
        }

        let parent = self.parent_of(&event.kind).unwrap_or(&attempt).clone();
        emit(&parent, event);

        match &event.kind {
            EventKind::DnsDone { error, .. } => {
                if let (Some(span), Some(e)) = (&self.dns, error) {
                    span.record("error.type", display(e.kind().error_type()));
                }
                self.dns = None;
            }
            EventKind::ConnectDone {
                attempt: id, error, ..
            } => {
                if let Some(i) = self.connects.iter().position(|(a, _)| a == id) {
                    let (_, span) = self.connects.swap_remove(i);
                    if let Some(e) = error {
                        span.record("error.type", crate::error::io_kind_name(e.kind()));
                    }
                }
            }
            EventKind::TlsHandshakeDone { info, error } => {
                if let Some(span) = &self.tls {
                    if let Some(i) = info {
                        span.record("tls.protocol.version", i.version.trim_start_matches("TLSv"));
                        span.record("tls.cipher", i.cipher_suite);
                        if let Some(alpn) = &i.alpn {
                            span.record("tls.next_protocol", alpn.as_str());
                        }
                        span.record("tls.resumed", i.resumed);
                    }
                    if let Some(e) = error {
                        span.record("error.type", display(e.kind().error_type()));
                    }
                }
                self.tls = None;
            }
            EventKind::GotConn { remote_addr, .. } => {
                attempt.record("network.peer.address", display(remote_addr.ip()));
                attempt.record("network.peer.port", remote_addr.port());
            }
            EventKind::GotResponseHeaders { status, .. } => {
                attempt.record("http.response.status_code", status.as_u16());
                // OpenTelemetry: a 4xx or 5xx final status is a client
                // span's error, named by its code.
                if status.as_u16() >= 400 {
                    attempt.record("error.type", status.as_str());
                    attempt.record("otel.status_code", "ERROR");
                }
            }
            EventKind::ProxyConnectDone { error: Some(e), .. }
            | EventKind::WroteRequest { error: Some(e) }
            | EventKind::ResponseBodyDone { error: Some(e), .. }
            | EventKind::Retry { reason: e }
            | EventKind::RequestDone { error: Some(e) } => fail(&attempt, e),
            _ => {}
        }
        if let EventKind::RequestDone { .. } = event.kind {
            self.close_all();
        }
    }

    /// The open child span an event belongs to, if any.
    fn parent_of(&self, kind: &EventKind<'_>) -> Option<&Span> {
        match kind {
            EventKind::DnsStart { .. }
            | EventKind::DnsQueryStart { .. }
            | EventKind::DnsQueryDone { .. }
            | EventKind::DnsDone { .. } => self.dns.as_ref(),
            EventKind::ConnectStart { attempt, .. } | EventKind::ConnectDone { attempt, .. } => {
                self.connects
                    .iter()
                    .find(|(a, _)| a == attempt)
                    .map(|(_, s)| s)
            }
            EventKind::TlsHandshakeStart | EventKind::TlsHandshakeDone { .. } => self.tls.as_ref(),
            _ => None,
        }
    }
}

/// Records a failure on the attempt's span.
fn fail(span: &Span, e: &Error) {
    span.record("error.type", display(e.kind().error_type()));
    span.record("otel.status_code", "ERROR");
}

/// Emits the `tracing` event for one trace event, under `parent`, with the
/// event's own name and the fields of its JSON form (docs/trace.md).
fn emit(parent: &Span, event: &Event<'_>) {
    let (req, resend, hop) = (event.req.map(|r| r.0), event.resend, event.hop);
    macro_rules! ev {
        ($name:literal $(, $($field:tt)*)?) => {
            debug!(name: $name, target: TARGET, parent: parent, req, resend, hop $(, $($field)*)?)
        };
    }
    match &event.kind {
        EventKind::GetConn { host_port } => ev!("get_conn", host_port = *host_port),
        EventKind::DnsStart { host } => ev!("dns_start", host = *host),
        EventKind::DnsDone {
            addrs,
            coalesced,
            error,
        } => ev!(
            "dns_done",
            addrs = ?addrs,
            coalesced = *coalesced,
            error = error.map(display)
        ),
        EventKind::DnsQueryStart {
            server,
            qtype,
            transport,
        } => ev!(
            "dns_query_start",
            server = %server,
            qtype = *qtype,
            transport = *transport
        ),
        EventKind::DnsQueryDone {
            server,
            qtype,
            transport,
            rcode,
            error,
            answers,
            truncated,
        } => ev!(
            "dns_query_done",
            server = %server,
            qtype = *qtype,
            transport = *transport,
            rcode = *rcode,
            error = *error,
            answers = *answers,
            truncated = *truncated
        ),
        EventKind::ConnectStart {
            attempt,
            network,
            addr,
        } => ev!(
            "connect_start",
            attempt = attempt.0,
            network = network.as_str(),
            addr = %addr
        ),
        EventKind::ConnectDone {
            attempt,
            network,
            addr,
            error,
        } => ev!(
            "connect_done",
            attempt = attempt.0,
            network = network.as_str(),
            addr = %addr,
            error = error.map(display)
        ),
        EventKind::ConnectCancelled {
            attempt,
            network,
            addr,
        } => ev!(
            "connect_cancelled",
            attempt = attempt.0,
            network = network.as_str(),
            addr = %addr
        ),
        EventKind::ProxyConnectStart { proxy, target } => {
            ev!("proxy_connect_start", proxy = *proxy, target = *target)
        }
        EventKind::ProxyConnectDone { status, error, .. } => ev!(
            "proxy_connect_done",
            status = status.map(|s| s.as_u16()),
            error = error.map(display)
        ),
        EventKind::TlsHandshakeStart => ev!("tls_handshake_start"),
        EventKind::TlsHandshakeDone { info, error } => ev!(
            "tls_handshake_done",
            version = info.map(|i| i.version),
            cipher_suite = info.map(|i| i.cipher_suite),
            alpn = info.and_then(|i| i.alpn.as_deref()),
            sni = info.and_then(|i| i.sni.as_deref()),
            resumed = info.map(|i| i.resumed),
            peer_certificates = info.map(|i| i.peer_certificates.len()),
            leaf_subject = info
                .and_then(|i| i.leaf.as_ref())
                .map(|l| l.subject.as_str()),
            error = error.map(display)
        ),
        EventKind::GotConn {
            conn,
            reused,
            was_idle,
            idle_time,
            local_addr,
            remote_addr,
        } => ev!(
            "got_conn",
            conn = conn.0,
            reused = *reused,
            was_idle = *was_idle,
            idle_time_us = idle_time.as_micros() as u64,
            local_addr = %local_addr,
            remote_addr = %remote_addr
        ),
        EventKind::WroteHeaderField { name, values } => ev!(
            "wrote_header_field",
            name = *name,
            values = ?Values(values)
        ),
        EventKind::WroteHeaders => ev!("wrote_headers"),
        EventKind::Wait100Continue => ev!("wait_100_continue"),
        EventKind::Got100Continue => ev!("got_100_continue"),
        EventKind::Got1xxResponse { code, headers, .. } => ev!(
            "got_1xx_response",
            code = code.as_u16(),
            headers = ?Fields(headers)
        ),
        EventKind::WroteRequest { error } => ev!("wrote_request", error = error.map(display)),
        EventKind::GotFirstResponseByte => ev!("got_first_response_byte"),
        EventKind::GotResponseHeaders {
            status,
            version,
            headers,
            ..
        } => ev!(
            "got_response_headers",
            status = status.as_u16(),
            version = ?version,
            headers = ?Fields(headers)
        ),
        EventKind::ResponseBodyDone {
            bytes,
            trailers,
            error,
        } => ev!(
            "response_body_done",
            bytes = *bytes,
            trailers = trailers.map(|t| tracing::field::debug(Fields(t))),
            error = error.map(display)
        ),
        EventKind::PutIdleConn { conn, error } => ev!(
            "put_idle_conn",
            conn = conn.0,
            error = error.map(|e| e.as_str())
        ),
        EventKind::Retry { reason } => ev!("retry", reason = %reason),
        EventKind::Redirect { from, to, status } => {
            ev!("redirect", from = *from, to = *to, status = status.as_u16())
        }
        EventKind::RequestDone { error } => ev!("request_done", error = error.map(display)),
        EventKind::ConnClosed { conn, reason } => {
            ev!("conn_closed", conn = conn.0, reason = reason.as_str())
        }
    }
}

/// `prefix` then `value`, formatted only when a subscriber asks.
struct Named<'a, T: fmt::Display + ?Sized>(&'static str, &'a T);

impl<T: fmt::Display + ?Sized> fmt::Display for Named<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)?;
        self.1.fmt(f)
    }
}

/// A URI with its userinfo replaced by `REDACTED:REDACTED`, as the
/// OpenTelemetry conventions ask for `url.full`; and the values of query
/// parameters that commonly carry signatures redacted too.
struct Redacted<'a>(&'a Uri);

/// Query parameters whose values are credentials (the conventions' list).
const SECRET_PARAMS: [&str; 4] = ["AWSAccessKeyId", "Signature", "sig", "X-Goog-Signature"];

impl fmt::Display for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let uri = self.0;
        if let Some(scheme) = uri.scheme_str() {
            write!(f, "{scheme}://")?;
        }
        if let Some(authority) = uri.authority() {
            let a = authority.as_str();
            match a.rsplit_once('@') {
                Some((_, host)) => write!(f, "REDACTED:REDACTED@{host}")?,
                None => f.write_str(a)?,
            }
        }
        f.write_str(uri.path())?;
        if let Some(query) = uri.query() {
            f.write_str("?")?;
            for (i, pair) in query.split('&').enumerate() {
                if i > 0 {
                    f.write_str("&")?;
                }
                match pair.split_once('=') {
                    Some((k, _)) if SECRET_PARAMS.contains(&k) => write!(f, "{k}=REDACTED")?,
                    _ => f.write_str(pair)?,
                }
            }
        }
        Ok(())
    }
}

/// Header values as a list of strings.
struct Values<'a>(&'a FieldValues<'a>);

impl fmt::Debug for Values<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|v| String::from_utf8_lossy(v.as_bytes())))
            .finish()
    }
}

/// A field section as `{name: [values]}`.
struct Fields<'a>(&'a HeaderMap);

impl fmt::Debug for Fields<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for name in self.0.keys() {
            map.entry(&name.as_str(), &Values(&FieldValues::all(self.0, name)));
        }
        map.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_full_redacts_credentials_and_signatures() {
        let uri: Uri = "https://user:secret@example.com:8443/a/b?x=1&sig=abc&Signature=def"
            .parse()
            .unwrap();
        assert_eq!(
            Redacted(&uri).to_string(),
            "https://REDACTED:REDACTED@example.com:8443/a/b?x=1&sig=REDACTED&Signature=REDACTED"
        );
        let plain: Uri = "http://example.com/".parse().unwrap();
        assert_eq!(Redacted(&plain).to_string(), "http://example.com/");
    }
}

//! One event as one JSON object, the line format of the CLI's `--events`
//! (DESIGN.md): `{"t_us": …, "req": …, "event": "<name>", …fields}`.
//! Written by hand to keep serde out of the library's tree.

use std::fmt::Write;
use std::time::Instant;

use http::HeaderMap;

use super::{Event, EventKind};

fn string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn key(out: &mut String, k: &str) {
    out.push_str(",\"");
    out.push_str(k);
    out.push_str("\":");
}

fn opt_error(out: &mut String, e: Option<&dyn std::fmt::Display>) {
    key(out, "error");
    match e {
        Some(e) => string(out, &e.to_string()),
        None => out.push_str("null"),
    }
}

fn bytes_str(out: &mut String, b: &[u8]) {
    string(out, &String::from_utf8_lossy(b));
}

/// `"reason"`: the reason phrase of the head `raw_head` as the server
/// sent it, which the status code alone does not keep (`""` when there
/// was none, or it was not UTF-8).
fn reason(out: &mut String, raw_head: &[u8]) {
    key(out, "reason");
    string(out, &crate::h1::head::reason_phrase(raw_head));
}

fn headers(out: &mut String, map: &HeaderMap) {
    out.push('{');
    for (i, name) in map.keys().enumerate() {
        if i > 0 {
            out.push(',');
        }
        string(out, name.as_str());
        out.push_str(":[");
        for (j, v) in map.get_all(name).iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            bytes_str(out, v.as_bytes());
        }
        out.push(']');
    }
    out.push('}');
}

/// Appends `event` to `out` as one JSON object (no newline). `t_us` is
/// measured from `start`, normally the instant the request started.
///
/// ```
/// use std::time::{Duration, Instant};
/// use roundtrip::{trace::write_json, Event, EventKind, RequestId};
///
/// let start = Instant::now();
/// let event = Event {
///     at: start + Duration::from_micros(512),
///     req: Some(RequestId(1)),
///     resend: 0,
///     hop: 0,
///     kind: EventKind::GetConn { host_port: "example.com:80" },
/// };
/// let mut line = String::new();
/// write_json(&event, start, &mut line);
/// assert_eq!(
///     line,
///     r#"{"t_us":512,"req":1,"event":"get_conn","resend":0,"hop":0,"host_port":"example.com:80"}"#
/// );
/// ```
pub fn write_json(event: &Event<'_>, start: Instant, out: &mut String) {
    let t_us = event.at.saturating_duration_since(start).as_micros();
    let _ = write!(out, "{{\"t_us\":{t_us}");
    key(out, "req");
    match event.req {
        Some(r) => {
            let _ = write!(out, "{}", r.0);
        }
        None => out.push_str("null"),
    }
    key(out, "event");
    string(out, event.kind.name());
    key(out, "resend");
    let _ = write!(out, "{}", event.resend);
    // Every event of a request says its hop, 0 included (issue 6), so a
    // consumer never infers it from absence; a client-level event has none.
    if event.req.is_some() {
        let _ = write!(out, ",\"hop\":{}", event.hop);
    }
    match &event.kind {
        EventKind::GetConn { host_port } => {
            key(out, "host_port");
            string(out, host_port);
        }
        EventKind::DnsStart { host } => {
            key(out, "host");
            string(out, host);
        }
        EventKind::DnsDone {
            addrs,
            coalesced,
            error,
        } => {
            key(out, "addrs");
            out.push('[');
            for (i, a) in addrs.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                string(out, &a.to_string());
            }
            out.push(']');
            key(out, "coalesced");
            let _ = write!(out, "{coalesced}");
            opt_error(out, error.map(|e| e as _));
        }
        EventKind::DnsQueryStart {
            server,
            qtype,
            transport,
        } => {
            key(out, "server");
            string(out, &server.to_string());
            key(out, "qtype");
            string(out, qtype);
            key(out, "transport");
            string(out, transport);
        }
        EventKind::DnsQueryDone {
            server,
            qtype,
            transport,
            rcode,
            error,
            answers,
            truncated,
        } => {
            key(out, "server");
            string(out, &server.to_string());
            key(out, "qtype");
            string(out, qtype);
            key(out, "transport");
            string(out, transport);
            key(out, "rcode");
            match rcode {
                Some(r) => string(out, r),
                None => out.push_str("null"),
            }
            opt_error(out, error.as_ref().map(|e| e as _));
            let _ = write!(out, ",\"answers\":{answers},\"truncated\":{truncated}");
        }
        EventKind::ConnectStart {
            attempt,
            network,
            addr,
        }
        | EventKind::ConnectCancelled {
            attempt,
            network,
            addr,
        } => {
            let _ = write!(out, ",\"attempt\":{attempt}");
            key(out, "network");
            string(out, network.as_str());
            key(out, "addr");
            string(out, &addr.to_string());
        }
        EventKind::ConnectDone {
            attempt,
            network,
            addr,
            error,
        } => {
            let _ = write!(out, ",\"attempt\":{attempt}");
            key(out, "network");
            string(out, network.as_str());
            key(out, "addr");
            string(out, &addr.to_string());
            opt_error(out, error.map(|e| e as _));
        }
        EventKind::TlsHandshakeDone { info, error } => {
            if let Some(i) = info {
                key(out, "version");
                string(out, i.version);
                key(out, "cipher_suite");
                string(out, i.cipher_suite);
                key(out, "alpn");
                match &i.alpn {
                    Some(a) => string(out, a),
                    None => out.push_str("null"),
                }
                key(out, "sni");
                match &i.sni {
                    Some(a) => string(out, a),
                    None => out.push_str("null"),
                }
                let _ = write!(
                    out,
                    ",\"resumed\":{},\"peer_certificates\":{}",
                    i.resumed,
                    i.peer_certificates.len()
                );
                if let Some(leaf) = &i.leaf {
                    key(out, "leaf_subject");
                    string(out, &leaf.subject);
                    key(out, "leaf_sans");
                    out.push('[');
                    for (n, san) in leaf.sans.iter().enumerate() {
                        if n > 0 {
                            out.push(',');
                        }
                        string(out, san);
                    }
                    out.push(']');
                    key(out, "not_before");
                    string(out, &leaf.not_before);
                    key(out, "not_after");
                    string(out, &leaf.not_after);
                }
            }
            opt_error(out, error.map(|e| e as _));
        }
        EventKind::GotConn {
            conn,
            reused,
            was_idle,
            idle_time,
            local_addr,
            remote_addr,
        } => {
            let _ = write!(
                out,
                ",\"conn\":{conn},\"reused\":{reused},\"was_idle\":{was_idle},\"idle_time_us\":{}",
                idle_time.as_micros()
            );
            key(out, "local_addr");
            string(out, &local_addr.to_string());
            key(out, "remote_addr");
            string(out, &remote_addr.to_string());
        }
        EventKind::WroteHeaderField { name, values } => {
            key(out, "name");
            string(out, name);
            key(out, "values");
            out.push('[');
            for (i, v) in values.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                bytes_str(out, v.as_bytes());
            }
            out.push(']');
        }
        EventKind::Got1xxResponse {
            code,
            headers: h,
            raw_head,
        } => {
            let _ = write!(out, ",\"code\":{}", code.as_u16());
            reason(out, raw_head);
            key(out, "headers");
            headers(out, h);
        }
        EventKind::WroteRequest { error } => opt_error(out, error.map(|e| e as _)),
        EventKind::GotResponseHeaders {
            status,
            version,
            headers: h,
            raw_head,
        } => {
            let _ = write!(out, ",\"status\":{}", status.as_u16());
            reason(out, raw_head);
            key(out, "version");
            string(out, &format!("{version:?}"));
            key(out, "headers");
            headers(out, h);
        }
        EventKind::ResponseBodyDone {
            bytes,
            trailers,
            error,
        } => {
            let _ = write!(out, ",\"bytes\":{bytes}");
            key(out, "trailers");
            match trailers {
                Some(t) => headers(out, t),
                None => out.push_str("null"),
            }
            opt_error(out, error.map(|e| e as _));
        }
        EventKind::PutIdleConn { conn, error } => {
            let _ = write!(out, ",\"conn\":{conn}");
            opt_error(out, error.as_ref().map(|e| e as _));
        }
        EventKind::Retry { reason } => {
            key(out, "reason");
            string(out, &reason.to_string());
        }
        EventKind::ProxyConnectStart { proxy, target } => {
            key(out, "proxy");
            string(out, proxy);
            key(out, "target");
            string(out, target);
        }
        EventKind::ProxyConnectDone {
            status,
            error,
            raw_head,
        } => {
            // No head came: both are null.
            match status {
                Some(s) => {
                    let _ = write!(out, ",\"status\":{}", s.as_u16());
                    reason(out, raw_head);
                }
                None => out.push_str(",\"status\":null,\"reason\":null"),
            }
            opt_error(out, error.map(|e| e as _));
        }
        EventKind::Redirect { from, to, status } => {
            key(out, "from");
            string(out, from);
            key(out, "to");
            string(out, to);
            let _ = write!(out, ",\"status\":{}", status.as_u16());
        }
        EventKind::RequestDone { error } => opt_error(out, error.map(|e| e as _)),
        EventKind::ConnClosed { conn, reason } => {
            let _ = write!(out, ",\"conn\":{conn}");
            key(out, "reason");
            string(out, reason.as_str());
        }
        EventKind::TlsHandshakeStart
        | EventKind::WroteHeaders
        | EventKind::Wait100Continue
        | EventKind::Got100Continue
        | EventKind::GotFirstResponseByte => {}
    }
    out.push('}');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::RequestId;
    use std::net::IpAddr;
    use std::time::Duration;

    #[test]
    fn dns_done_has_the_documented_fields() {
        let start = Instant::now();
        let addrs: Vec<IpAddr> = vec!["127.0.0.1".parse().unwrap(), "::1".parse().unwrap()];
        let ev = Event {
            at: start + Duration::from_micros(1500),
            req: Some(RequestId(3)),
            resend: 0,
            hop: 0,
            kind: EventKind::DnsDone {
                addrs: &addrs,
                coalesced: false,
                error: None,
            },
        };
        let mut out = String::new();
        write_json(&ev, start, &mut out);
        assert_eq!(
            out,
            r#"{"t_us":1500,"req":3,"event":"dns_done","resend":0,"hop":0,"addrs":["127.0.0.1","::1"],"coalesced":false,"error":null}"#
        );
    }

    #[test]
    fn heads_carry_the_reason_phrase_sent() {
        let start = Instant::now();
        let line = |kind| {
            let ev = Event {
                at: start,
                req: Some(RequestId(1)),
                resend: 0,
                hop: 0,
                kind,
            };
            let mut out = String::new();
            write_json(&ev, start, &mut out);
            out
        };
        let mut h = HeaderMap::new();
        h.insert("content-length", "0".parse().unwrap());
        let got = line(EventKind::GotResponseHeaders {
            status: http::StatusCode::NOT_FOUND,
            version: http::Version::HTTP_11,
            headers: &h,
            raw_head: b"HTTP/1.1 404 Gone \"Fishing\"\r\nContent-Length: 0\r\n\r\n",
        });
        assert_eq!(
            got,
            r#"{"t_us":0,"req":1,"event":"got_response_headers","resend":0,"hop":0,"status":404,"reason":"Gone \"Fishing\"","version":"HTTP/1.1","headers":{"content-length":["0"]}}"#
        );
        let empty = HeaderMap::new();
        let got = line(EventKind::Got1xxResponse {
            code: http::StatusCode::CONTINUE,
            headers: &empty,
            raw_head: b"HTTP/1.1 100\r\n\r\n",
        });
        assert_eq!(
            got,
            r#"{"t_us":0,"req":1,"event":"got_1xx_response","resend":0,"hop":0,"code":100,"reason":"","headers":{}}"#
        );
        let refused = line(EventKind::ProxyConnectDone {
            status: Some(http::StatusCode::FORBIDDEN),
            error: None,
            raw_head: b"HTTP/1.0 403 Filtered\r\n\r\n",
        });
        assert!(
            refused.ends_with(r#""status":403,"reason":"Filtered","error":null}"#),
            "{refused}"
        );
        let none = line(EventKind::ProxyConnectDone {
            status: None,
            error: None,
            raw_head: b"",
        });
        assert!(
            none.ends_with(r#""status":null,"reason":null,"error":null}"#),
            "{none}"
        );
    }

    #[test]
    fn strings_are_escaped() {
        let mut out = String::new();
        string(&mut out, "a\"b\\c\n\u{1}");
        assert_eq!(out, r#""a\"b\\c\n\u0001""#);
    }
}

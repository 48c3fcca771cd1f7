//! `--json`: one JSON document per request, built from the same trace
//! events as `--events` (DESIGN.md, "Trace events") and the same timings
//! as `-w '%{json}'`, so a script gets the whole round trip in one object.
//!
//! ```text
//! {"url":"…","method":"GET","status":200,"error":null,
//!  "timings":{…as -w '%{json}'…},
//!  "connection":{"id":1,"reused":false,"local_addr":"…","remote_addr":"…",
//!                "tls":{"version":"TLSv1_3","cipher_suite":"…","alpn":"http/1.1","resumed":false}},
//!  "events":[{"t_us":0,"req":1,"event":"get_conn",…},…]}
//! ```
//!
//! `connection` is the one that carried the final response (the last
//! `got_conn`), `null` when none was obtained; its `tls` is `null` for
//! plain HTTP. TLS facts are remembered per connection, so a reused
//! connection still reports the handshake an earlier request made.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use roundtrip::{Event, EventKind, Trace};

use crate::writeout::Info;

/// The connection that carried a request, from its `got_conn`.
#[derive(Debug, Clone, Copy)]
struct ConnFacts {
    id: u64,
    reused: bool,
    local: SocketAddr,
    remote: SocketAddr,
}

/// What a connection's handshake agreed on.
#[derive(Debug, Clone)]
struct TlsFacts {
    version: &'static str,
    cipher_suite: &'static str,
    alpn: Option<String>,
    resumed: bool,
}

/// One request's events as JSON objects, and its connection.
#[derive(Debug, Default)]
pub struct Report {
    events: Vec<String>,
    conn: Option<ConnFacts>,
}

/// Everything recorded, shared between the trace and the printer.
#[derive(Debug, Default)]
pub struct Recorded {
    /// Per request, in the order of their first event.
    requests: Vec<(u64, Report)>,
    /// Per connection id.
    tls: HashMap<u64, TlsFacts>,
    /// Per request, from `tls_handshake_done` until its `got_conn` names
    /// the connection.
    handshaken: HashMap<u64, TlsFacts>,
}

/// The recorder's shared state.
pub type Reports = Arc<Mutex<Recorded>>;

/// A trace that records every request's events for [`render`].
pub fn recorder() -> (Trace, Reports) {
    let all: Reports = Arc::default();
    let sink = all.clone();
    let mut starts: HashMap<u64, Instant> = HashMap::new();
    let trace = Trace::new().on_event(move |e: &Event<'_>| {
        let Some(req) = e.req else { return };
        let start = *starts.entry(req.0).or_insert(e.at);
        let mut all = sink.lock().unwrap_or_else(|p| p.into_inner());
        if let EventKind::TlsHandshakeDone {
            info: Some(info), ..
        } = &e.kind
        {
            // The connection id is only known at got_conn.
            all.handshaken.insert(
                req.0,
                TlsFacts {
                    version: info.version,
                    cipher_suite: info.cipher_suite,
                    alpn: info.alpn.clone(),
                    resumed: info.resumed,
                },
            );
        }
        if let EventKind::GotConn { conn, .. } = &e.kind {
            if let Some(t) = all.handshaken.remove(&req.0) {
                all.tls.insert(conn.0, t);
            }
        }
        // From the end: events belong to the newest requests, so under
        // -n this is O(1) per event, not O(requests).
        let i = match all.requests.iter().rposition(|(r, _)| *r == req.0) {
            Some(i) => i,
            None => {
                all.requests.push((req.0, Report::default()));
                all.requests.len() - 1
            }
        };
        let report = &mut all.requests[i].1;
        if let EventKind::GotConn {
            conn,
            reused,
            local_addr,
            remote_addr,
            ..
        } = &e.kind
        {
            report.conn = Some(ConnFacts {
                id: conn.0,
                reused: *reused,
                local: *local_addr,
                remote: *remote_addr,
            });
        }
        let mut line = String::new();
        roundtrip::trace::write_json(e, start, &mut line);
        report.events.push(line);
    });
    (trace, all)
}

/// Appends `s` as a JSON string (the HAR writer's escaping).
fn string(out: &mut String, s: &str) {
    out.push_str(&crate::har::string(s));
}

/// The document for the `index`-th request recorded (one line, no newline).
pub fn render(
    url: &str,
    method: &str,
    info: &Info,
    error: Option<&str>,
    recorded: &Recorded,
    index: usize,
) -> String {
    let mut out = String::from("{\"url\":");
    string(&mut out, url);
    out.push_str(",\"method\":");
    string(&mut out, method);
    out.push_str(",\"status\":");
    match info.status {
        Some(s) => {
            let _ = write!(out, "{s}");
        }
        None => out.push_str("null"),
    }
    out.push_str(",\"error\":");
    match error {
        Some(e) => string(&mut out, e),
        None => out.push_str("null"),
    }
    out.push_str(",\"timings\":");
    let json = crate::writeout::parse("%{json}").unwrap_or_default();
    out.push_str(&crate::writeout::render(&json, info));
    let report = recorded.requests.get(index).map(|(_, r)| r);
    out.push_str(",\"connection\":");
    match report.and_then(|r| r.conn) {
        None => out.push_str("null"),
        Some(c) => {
            let _ = write!(
                out,
                "{{\"id\":{},\"reused\":{},\"local_addr\":\"{}\",\"remote_addr\":\"{}\",\"tls\":",
                c.id, c.reused, c.local, c.remote
            );
            match recorded.tls.get(&c.id) {
                None => out.push_str("null"),
                Some(t) => {
                    out.push_str("{\"version\":");
                    string(&mut out, t.version);
                    out.push_str(",\"cipher_suite\":");
                    string(&mut out, t.cipher_suite);
                    out.push_str(",\"alpn\":");
                    match &t.alpn {
                        Some(a) => string(&mut out, a),
                        None => out.push_str("null"),
                    }
                    let _ = write!(out, ",\"resumed\":{}}}", t.resumed);
                }
            }
            out.push('}');
        }
    }
    out.push_str(",\"events\":[");
    for (i, e) in report.map_or(&[][..], |r| &r.events[..]).iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(e);
    }
    out.push_str("]}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped_and_missing_parts_are_null() {
        let recorded = Recorded::default();
        let doc = render(
            "http://h/\"q\"",
            "GET",
            &Info::default(),
            Some("bad\nthing"),
            &recorded,
            0,
        );
        assert!(doc.starts_with(r#"{"url":"http://h/\"q\"","method":"GET","status":null,"error":"bad\u000athing","timings":{"#), "{doc}");
        assert!(doc.ends_with(r#","connection":null,"events":[]}"#), "{doc}");
        let mut s = String::new();
        string(&mut s, "\u{1}");
        assert_eq!(s, r#""\u0001""#);
    }
}

//! `--har FILE`: an HTTP Archive (HAR 1.2, W3C Web Performance WG draft)
//! of everything fetched, one entry per request and per redirect hop,
//! built from the trace events alone.
//!
//! HAR's `timings` follow its definitions: `blocked` until the first sign
//! of work (a lookup, a connect, or a pooled connection in hand), `dns`,
//! `connect` (the TLS handshake included, as the spec asks, and also given
//! alone as `ssl`), `send`, `wait`, `receive`; -1 marks a phase that did
//! not happen (a reused connection has no `dns`, `connect` or `ssl`);
//! `send`, `wait` and `receive`, which HAR requires, are 0 then. An
//! attempt that failed or lost the Happy Eyeballs race does not end
//! `connect`; after a `retry`, the entry describes the last attempt.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use http::HeaderValue;
use roundtrip::{Event, EventKind, Trace};

/// What one hop of one request said, kept for its HAR entry.
#[derive(Debug, Default)]
pub struct Entry {
    method: String,
    url: String,
    /// Every event's name and instant, in order.
    events: Vec<(&'static str, Instant)>,
    request_headers: Vec<(String, String)>,
    status: Option<u16>,
    /// The response's version as the server sent it ("HTTP/1.0" or
    /// "HTTP/1.1"), once its head came.
    response_version: Option<&'static str>,
    response_headers: Vec<(String, String)>,
    /// The reason phrase the server sent, once its head came.
    response_reason: String,
    /// The response head's size on the wire, status line to empty line.
    response_head_size: Option<usize>,
    body_bytes: u64,
    server: String,
    conn: Option<u64>,
    error: Option<String>,
    /// The status of this hop's redirect, when it was followed.
    redirected: Option<u16>,
}

/// Everything recorded: entries in the order their hops began.
#[derive(Debug, Default)]
pub struct Archive {
    entries: Vec<((u64, u32), Entry)>,
}

/// The recorder's shared state.
pub type Recorded = Arc<Mutex<Archive>>;

/// A trace that records every hop of every request for [`render`]. The
/// events do not carry the method or the first URL: give them with
/// [`Archive::name_request`].
pub fn recorder() -> (Trace, Recorded) {
    let all: Recorded = Arc::default();
    let sink = all.clone();
    let text = |v: &HeaderValue| String::from_utf8_lossy(v.as_bytes()).into_owned();
    // The URL of each request's next hop, from its redirect event.
    let mut next_url: HashMap<u64, String> = HashMap::new();
    let trace = Trace::new().on_event(move |e: &Event<'_>| {
        let Some(req) = e.req else { return };
        let key = (req.0, e.hop);
        let mut all = sink.lock().unwrap_or_else(|p| p.into_inner());
        // From the end: events belong to the newest requests, so under
        // -n this is O(1) per event, not O(requests).
        let i = match all.entries.iter().rposition(|(k, _)| *k == key) {
            Some(i) => i,
            None => {
                let entry = Entry {
                    url: next_url.remove(&req.0).unwrap_or_default(),
                    ..Entry::default()
                };
                all.entries.push((key, entry));
                all.entries.len() - 1
            }
        };
        let r = &mut all.entries[i].1;
        match &e.kind {
            EventKind::ConnectDone { error: Some(_), .. } => return,
            EventKind::Retry { .. } => {
                r.events.clear();
                r.request_headers.clear();
            }
            EventKind::GetConn { host_port } if r.url.is_empty() => {
                // A stand-in until `Archive::name_request` gives the URL
                // (the events name only `host:port` before a redirect).
                r.url = format!("//{host_port}");
            }
            EventKind::GotConn {
                conn, remote_addr, ..
            } => {
                r.conn = Some(conn.0);
                r.server = remote_addr.ip().to_string();
            }
            EventKind::WroteHeaderField { name, values } => {
                let fields = values.iter().map(|v| (name.to_string(), text(v)));
                r.request_headers.extend(fields);
            }
            EventKind::GotResponseHeaders {
                status,
                version,
                headers,
                raw_head,
            } => {
                r.status = Some(status.as_u16());
                r.response_reason = roundtrip::h1::head::reason_phrase(raw_head);
                r.response_head_size = Some(raw_head.len());
                r.response_version = Some(if *version == http::Version::HTTP_10 {
                    "HTTP/1.0"
                } else {
                    "HTTP/1.1"
                });
                r.response_headers = headers
                    .iter()
                    .map(|(n, v)| (n.to_string(), text(v)))
                    .collect();
            }
            EventKind::ResponseBodyDone { bytes, .. } => r.body_bytes = *bytes,
            EventKind::Redirect { from, to, status } => {
                r.url = from.to_string();
                r.redirected = Some(status.as_u16());
                next_url.insert(req.0, to.to_string());
            }
            EventKind::RequestDone { error: Some(err) } => r.error = Some(err.to_string()),
            _ => {}
        }
        r.events.push((e.kind.name(), e.at));
    });
    (trace, all)
}

impl Archive {
    /// Gives the `index`-th request (in the order requests began) its
    /// method and URL; the method of each later hop follows from the
    /// redirect statuses (RFC 9110 §15.4: 303 turns any method but HEAD
    /// into GET; 301 and 302 turn POST into GET, as browsers and curl do).
    pub fn name_request(&mut self, index: usize, method: &str, url: &str) {
        let Some(req) = self
            .entries
            .iter()
            .filter(|((_, hop), _)| *hop == 0)
            .nth(index)
            .map(|((req, _), _)| *req)
        else {
            return;
        };
        let mut method = method.to_owned();
        let mut hops: Vec<&mut ((u64, u32), Entry)> = self
            .entries
            .iter_mut()
            .filter(|((r, _), _)| *r == req)
            .collect();
        hops.sort_by_key(|((_, hop), _)| *hop);
        for ((_, hop), e) in hops {
            if *hop == 0 {
                e.url = url.to_owned();
            }
            e.method.clone_from(&method);
            method = match (e.redirected, method.as_str()) {
                (Some(303), m) if m != "HEAD" => "GET".to_owned(),
                (Some(301 | 302), "POST") => "GET".to_owned(),
                _ => method,
            };
        }
    }
}

/// The whole HAR document. `clock` pairs an `Instant` with the wall-clock
/// time it stands for (events carry `Instant`s; HAR wants dates).
pub fn render(archive: &Archive, clock: (Instant, SystemTime)) -> String {
    let entries: Vec<String> = archive
        .entries
        .iter()
        .map(|(_, e)| entry(e, clock))
        .collect();
    let creator = [
        ("name", string("roundtrip")),
        ("version", string(env!("CARGO_PKG_VERSION"))),
    ];
    let log = object(&[
        ("version", string("1.2")),
        ("creator", object(&creator)),
        ("pages", "[]".into()),
        ("entries", format!("[{}]", entries.join(",\n"))),
    ]);
    object(&[("log", log)]) + "\n"
}

/// One entry of the log.
fn entry(r: &Entry, (t0, wall0): (Instant, SystemTime)) -> String {
    let at = |event: &str| r.events.iter().find(|(n, _)| *n == event).map(|(_, t)| *t);
    let ms = |from: &str, to: &str| match (at(from), at(to)) {
        (Some(a), Some(b)) => b.saturating_duration_since(a).as_secs_f64() * 1e3,
        _ => -1.0,
    };
    let began = ["dns_start", "connect_start", "got_conn"]
        .into_iter()
        .find(|e| at(e).is_some());
    let blocked = began.map_or(-1.0, |e| ms("get_conn", e));
    let dns = ms("dns_start", "dns_done");
    let ssl = ms("tls_handshake_start", "tls_handshake_done");
    let connected = if ssl >= 0.0 {
        "tls_handshake_done"
    } else {
        "connect_done"
    };
    let connect = ms("connect_start", connected);
    // HAR requires send, wait and receive to be non-negative: a request
    // that failed before them spent no time in them.
    let send = ms("got_conn", "wrote_request").max(0.0);
    let wait = ms("wrote_request", "got_first_response_byte").max(0.0);
    let receive = ms("got_first_response_byte", "response_body_done").max(0.0);
    let phases = [blocked, dns, connect, send, wait, receive];
    // `ssl` is inside `connect`, so it is not added again.
    let time: f64 = phases.iter().filter(|t| **t >= 0.0).sum();

    let field = |name: &str| {
        r.response_headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let status = r.status.unwrap_or(0);
    let request = object(&[
        ("method", string(&r.method)),
        ("url", string(&r.url)),
        ("httpVersion", string("HTTP/1.1")),
        ("cookies", "[]".into()),
        ("headers", headers(&r.request_headers)),
        ("queryString", query_string(&r.url)),
        ("headersSize", "-1".into()),
        ("bodySize", "-1".into()),
    ]);
    let content = [
        ("size", r.body_bytes.to_string()),
        ("mimeType", string(field("content-type").unwrap_or(""))),
    ];
    let response = object(&[
        ("status", status.to_string()),
        // The server's own words, as a browser records them.
        ("statusText", string(&r.response_reason)),
        // What the server answered with, HTTP/1.0 included; "" before a
        // head came, as for the status.
        ("httpVersion", string(r.response_version.unwrap_or(""))),
        ("cookies", "[]".into()),
        ("headers", headers(&r.response_headers)),
        ("content", object(&content)),
        ("redirectURL", string(field("location").unwrap_or(""))),
        // HAR 1.2: from the status line up to and including the empty
        // line; -1 until a head came.
        (
            "headersSize",
            r.response_head_size
                .map_or_else(|| "-1".into(), |n| n.to_string()),
        ),
        ("bodySize", r.body_bytes.to_string()),
    ]);
    let names = [
        "blocked", "dns", "connect", "send", "wait", "receive", "ssl",
    ];
    let timings: Vec<(&str, String)> = names
        .into_iter()
        .zip(phases.into_iter().chain([ssl]))
        .map(|(n, t)| (n, format!("{t:.3}")))
        .collect();
    let started = wall0 + at("get_conn").map_or_else(Default::default, |t| t - t0);
    let mut fields = vec![
        ("startedDateTime", string(&iso8601(started))),
        ("time", format!("{time:.3}")),
        ("request", request),
        ("response", response),
        ("cache", "{}".into()),
        ("timings", object(&timings)),
    ];
    if !r.server.is_empty() {
        fields.push(("serverIPAddress", string(&r.server)));
    }
    if let Some(conn) = r.conn {
        fields.push(("connection", string(&conn.to_string())));
    }
    if let Some(err) = &r.error {
        // Custom fields start with an underscore (HAR 1.2).
        fields.push(("_error", string(err)));
    }
    object(&fields)
}

/// HAR's `queryString`: the URL's query, split but not decoded.
fn query_string(url: &str) -> String {
    let query = url.split_once('?').map_or("", |(_, q)| q);
    let query = query.split_once('#').map_or(query, |(q, _)| q);
    let items: Vec<String> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (n, v) = p.split_once('=').unwrap_or((p, ""));
            object(&[("name", string(n)), ("value", string(v))])
        })
        .collect();
    format!("[{}]", items.join(", "))
}

/// `{"key": value, …}` from keys and values already in JSON.
fn object(fields: &[(&str, String)]) -> String {
    let items: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{}: {v}", string(k)))
        .collect();
    format!("{{{}}}", items.join(", "))
}

/// HAR's header list: `[{"name": …, "value": …}, …]`.
fn headers(fields: &[(String, String)]) -> String {
    let items: Vec<String> = fields
        .iter()
        .map(|(n, v)| object(&[("name", string(n)), ("value", string(v))]))
        .collect();
    format!("[{}]", items.join(", "))
}

/// A JSON string (RFC 8259 §7).
pub fn string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' | '\\' => out.extend(['\\', c]),
            c if (c as u32) < 0x20 => out += &format!("\\u{:04x}", c as u32),
            c => out.push(c),
        }
    }
    out + "\""
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` (ISO 8601, UTC), from days since the epoch
/// by the proleptic Gregorian calendar's 400-year cycles.
fn iso8601(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let (days, secs) = (d.as_secs() / 86_400, d.as_secs() % 86_400);
    let z = days + 719_468;
    let (era, doe) = (z / 146_097, z % 146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = era * 400 + yoe + u64::from(month <= 2);
    let (h, m, s, ms) = (secs / 3600, secs / 60 % 60, secs % 60, d.subsec_millis());
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{ms:03}Z")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn dates_are_iso8601_utc() {
        let t = UNIX_EPOCH + Duration::from_millis(1_795_000_000_123);
        assert_eq!(iso8601(t), "2026-11-18T11:06:40.123Z");
        assert_eq!(iso8601(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        // A leap day.
        let t = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(iso8601(t), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn query_strings_and_escapes() {
        assert_eq!(
            query_string("http://h/p?a=1&b&c=x%20y#frag"),
            r#"[{"name": "a", "value": "1"}, {"name": "b", "value": ""}, {"name": "c", "value": "x%20y"}]"#
        );
        assert_eq!(query_string("http://h/p"), "[]");
        assert_eq!(string("a\"b\\c\n"), r#""a\"b\\c\u000a""#);
    }

    #[test]
    fn methods_of_later_hops_follow_the_redirect_statuses() {
        let hop = |req, hop, redirected| {
            let e = Entry {
                redirected,
                ..Entry::default()
            };
            ((req, hop), e)
        };
        let mut a = Archive {
            entries: vec![
                hop(1, 0, Some(307)),
                hop(2, 0, None),
                hop(1, 1, Some(302)),
                hop(1, 2, None),
            ],
        };
        a.name_request(0, "POST", "http://h/a");
        a.name_request(1, "PUT", "http://h/b");
        let got: Vec<(&str, &str)> = a
            .entries
            .iter()
            .map(|(_, e)| (e.method.as_str(), e.url.as_str()))
            .collect();
        // 307 keeps POST; 302 turns it into GET; request 2 is separate.
        assert_eq!(
            got,
            [
                ("POST", "http://h/a"),
                ("PUT", "http://h/b"),
                ("POST", ""),
                ("GET", "")
            ]
        );
        // An index with no request is ignored.
        a.name_request(5, "GET", "http://h/c");
    }

    #[test]
    fn phases_that_did_not_happen_are_minus_one() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let e = Entry {
            method: "GET".into(),
            url: "http://h/".into(),
            events: vec![
                ("get_conn", at(0)),
                ("got_conn", at(1)),
                ("wrote_request", at(2)),
                ("got_first_response_byte", at(5)),
                ("response_body_done", at(6)),
            ],
            status: Some(200),
            ..Entry::default()
        };
        let text = entry(&e, (t0, UNIX_EPOCH));
        for phase in ["dns", "connect", "ssl"] {
            assert!(text.contains(&format!("\"{phase}\": -1.000")), "{text}");
        }
        assert!(text.contains("\"blocked\": 1.000"), "{text}");
        assert!(text.contains("\"wait\": 3.000"), "{text}");
        assert!(text.contains("\"time\": 6.000"), "{text}");
    }
}

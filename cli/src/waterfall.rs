//! The waterfall: one request's phases on one time axis, like httpstat
//! but from every hook — each DNS query, each connect attempt of the Happy
//! Eyeballs race (winner and losers), proxy CONNECT, TLS, send, wait and
//! receive — with durations, bars scaled to the width, and a summary line.
//!
//! Rendering is a pure function from recorded events ([`Recording`]) to
//! text, so it is tested on fixed timelines. Phases that did not happen
//! (a reused connection has no DNS, connect or TLS; an address literal no
//! DNS; plain HTTP no TLS) are shown as skipped, with the reason, never as
//! zero-length work.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use roundtrip::{Event, EventKind, Trace};

/// One bar: a label, when it started and ended (µs from the request's
/// start), and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    /// What the bar is.
    pub label: String,
    /// Start, µs.
    pub from: u64,
    /// End, µs (`None` while open when the request ended).
    pub to: Option<u64>,
    /// Outcome note ("refused", "cancelled", "NOERROR", …).
    pub note: String,
    /// `Some(why)` for a phase that did not happen (a reused connection
    /// has no DNS, connect or TLS): drawn as skipped, never as a
    /// zero-length bar.
    pub skipped: Option<String>,
}

/// What one request's events say, kept for drawing.
#[derive(Debug, Clone, Default)]
pub struct Recording {
    /// Rows in the order their phases started (or, for skipped phases,
    /// would have started).
    pub spans: Vec<Span>,
    /// The summary line's parts.
    pub status: Option<u16>,
    /// Body bytes.
    pub bytes: u64,
    /// Whether the connection was reused.
    pub reused: Option<bool>,
    /// The remote address.
    pub remote: Option<String>,
    /// TLS version and suite, resumed.
    pub tls: Option<String>,
    /// The error that ended the request, if any.
    pub error: Option<String>,
    /// When the request ended, µs.
    pub end: Option<u64>,
    /// Redirect hops followed.
    pub redirects: u32,
    /// When the final head arrived, µs.
    pub final_head_at: Option<u64>,
    /// Where the current hop's rows start (its `get_conn`).
    pub hop_start: usize,
    /// The current hop's host is an IP address literal (no lookup).
    pub ip_literal: bool,
}

impl Recording {
    fn open(&mut self, label: String, at: u64) {
        self.spans.push(Span {
            label,
            from: at,
            to: None,
            note: String::new(),
            skipped: None,
        });
    }

    fn close(&mut self, label_prefix: &str, at: u64, note: String) {
        if let Some(s) = self
            .spans
            .iter_mut()
            .rev()
            .find(|s| s.to.is_none() && s.label.starts_with(label_prefix))
        {
            s.to = Some(at);
            s.note = note;
        }
    }

    /// Draws the server's own `Server-Timing` metrics (W3C Server Timing)
    /// as sub-bars under the wait they explain. The header gives
    /// durations, not offsets, so each bar starts where the wait starts,
    /// and is cut at its end (by the time the head arrives, the wait is
    /// over: the server's numbers cannot exceed what the client waited).
    fn add_server_timing(&mut self, headers: &http::HeaderMap, head_at: u64) {
        let Some(i) = self.spans.iter().rposition(|s| s.label == "wait") else {
            return;
        };
        let (from, to) = (self.spans[i].from, self.spans[i].to.unwrap_or(head_at));
        let values = headers.get_all("server-timing").iter();
        let metrics = values
            .filter_map(|v| v.to_str().ok())
            .flat_map(server_timing);
        let bars: Vec<Span> = metrics
            .take(MAX_SERVER_METRICS)
            .filter_map(|m| {
                let dur_us = (m.dur_ms? * 1000.0).round() as u64;
                let note = match m.desc {
                    Some(d) => format!("server-timing: {d}"),
                    None => "server-timing".to_owned(),
                };
                Some(Span {
                    label: format!("  server {}", m.name),
                    from,
                    to: Some(from.saturating_add(dur_us).min(to)),
                    note,
                    skipped: None,
                })
            })
            .collect();
        self.spans.splice(i + 1..i + 1, bars);
    }

    /// A new connection without a lookup (an address literal) or without
    /// TLS (plain HTTP) shows those phases as skipped, with the reason, as
    /// a reused one does: a missing row would read as "not traced".
    fn skipped_on_a_new_connection(&mut self, t: u64) {
        let hop = &self.spans[self.hop_start.min(self.spans.len())..];
        let looked_up = hop.iter().any(|s| s.label.starts_with("dns"));
        let tls = hop.iter().any(|s| s.label == "tls");
        let skipped = |label: &str, why: &str| Span {
            label: label.into(),
            from: t,
            to: Some(t),
            note: String::new(),
            skipped: Some(why.into()),
        };
        if !tls {
            self.spans.push(skipped("tls", "not TLS"));
        }
        if !looked_up {
            let why = if self.ip_literal {
                "IP literal"
            } else {
                "no lookup"
            };
            let at = self.hop_start.min(self.spans.len());
            self.spans.insert(at, skipped("dns", why));
        }
    }

    /// Takes one event into account; `t` is µs since the request started.
    pub fn record(&mut self, t: u64, kind: &EventKind<'_>) {
        match kind {
            EventKind::DnsQueryStart {
                server,
                qtype,
                transport,
            } => self.open(format!("dns {qtype:<4} {transport} {server}"), t),
            EventKind::DnsQueryDone {
                qtype,
                rcode,
                error,
                ..
            } => {
                let note = rcode.or(*error).unwrap_or("").to_owned();
                self.close(&format!("dns {qtype:<4}"), t, note);
            }
            EventKind::GetConn { host_port } => {
                self.hop_start = self.spans.len();
                let host = host_port.rsplit_once(':').map_or(*host_port, |(h, _)| h);
                let host = host.trim_start_matches('[').trim_end_matches(']');
                self.ip_literal = host.parse::<std::net::IpAddr>().is_ok();
            }
            EventKind::DnsStart { .. } => self.open("dns".into(), t),
            EventKind::DnsDone { addrs, error, .. } => {
                let note = match error {
                    Some(e) => failure_note(e),
                    None => format!(
                        "{} address{}",
                        addrs.len(),
                        if addrs.len() == 1 { "" } else { "es" }
                    ),
                };
                // The lookup as a whole; drawn only when no query was sent.
                if let Some(i) = self.spans.iter().rposition(|s| s.label == "dns") {
                    if self.spans.iter().any(|s| s.label.starts_with("dns ")) {
                        self.spans.remove(i);
                    } else {
                        self.spans[i].to = Some(t);
                        self.spans[i].note = note;
                        self.spans[i].label = "dns (cache/hosts)".into();
                    }
                }
            }
            EventKind::ConnectStart {
                attempt,
                network,
                addr,
            } => self.open(format!("connect #{attempt} {} {addr}", network.as_str()), t),
            EventKind::ConnectDone { attempt, error, .. } => {
                let note = match error {
                    None => "won".to_owned(),
                    Some(e) if e.kind() == std::io::ErrorKind::Interrupted => {
                        "cancelled".to_owned()
                    }
                    Some(e) => e.to_string(),
                };
                self.close(&format!("connect #{attempt} "), t, note);
            }
            EventKind::ProxyConnectStart { proxy, target } => {
                // The connection went to the proxy: its address is what
                // was (or was not) looked up.
                let host = proxy.split("://").last().unwrap_or(proxy);
                let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
                let host = host.split('/').next().unwrap_or(host);
                let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
                let host = host.trim_start_matches('[').trim_end_matches(']');
                self.ip_literal = host.parse::<std::net::IpAddr>().is_ok();
                self.open(format!("proxy CONNECT {target}"), t)
            }
            EventKind::ProxyConnectDone { status, error, .. } => {
                let note = match (status, error) {
                    (_, Some(e)) => failure_note(e),
                    (Some(s), None) => s.as_u16().to_string(),
                    _ => String::new(),
                };
                self.close("proxy CONNECT", t, note);
            }
            EventKind::TlsHandshakeStart => self.open("tls".into(), t),
            EventKind::TlsHandshakeDone { info, error } => {
                let note = match (info, error) {
                    (_, Some(e)) => failure_note(e),
                    (Some(i), None) => {
                        self.tls = Some(format!(
                            "{} {}{}",
                            i.version,
                            i.cipher_suite,
                            if i.resumed { " (resumed)" } else { "" }
                        ));
                        i.version.to_owned()
                    }
                    _ => String::new(),
                };
                self.close("tls", t, note);
            }
            EventKind::GotConn {
                reused,
                remote_addr,
                ..
            } => {
                self.reused = Some(*reused);
                self.remote = Some(remote_addr.to_string());
                if !*reused {
                    self.skipped_on_a_new_connection(t);
                }
                if *reused {
                    for phase in ["dns", "connect", "tls"] {
                        self.spans.push(Span {
                            label: phase.into(),
                            from: t,
                            to: Some(t),
                            note: String::new(),
                            skipped: Some("connection reused".into()),
                        });
                    }
                }
                self.open("send".into(), t);
            }
            EventKind::Wait100Continue => {
                self.close("send", t, "head".into());
                self.open("wait for 100".into(), t);
            }
            EventKind::Got100Continue => {
                self.close("wait for 100", t, "100".into());
                self.open("send body".into(), t);
            }
            EventKind::WroteRequest { error: Some(e) } => {
                self.close("send", t, failure_note(e));
            }
            EventKind::WroteRequest { error: None } => {
                self.close("send", t, String::new());
                if self.final_head_at.is_none() {
                    self.open("wait".into(), t);
                }
            }
            EventKind::Got1xxResponse { code, .. } => {
                self.spans.push(Span {
                    label: format!("  {} informational", code.as_u16()),
                    from: t,
                    to: Some(t),
                    note: String::new(),
                    skipped: None,
                });
            }
            EventKind::GotFirstResponseByte
                if self
                    .spans
                    .iter()
                    .any(|s| s.label == "wait" && s.to.is_none()) =>
            {
                self.close("wait", t, String::new());
                self.open("receive".into(), t);
            }
            EventKind::GotResponseHeaders {
                status, headers, ..
            } => {
                self.status = Some(status.as_u16());
                self.final_head_at = Some(t);
                self.add_server_timing(headers, t);
                // After a 1xx, the wait ends at the final head.
                if self
                    .spans
                    .iter()
                    .any(|s| s.label == "wait" && s.to.is_none())
                {
                    self.close("wait", t, String::new());
                    self.open("receive".into(), t);
                } else if !self.spans.iter().any(|s| s.label == "receive") {
                    self.open("receive".into(), t);
                }
            }
            EventKind::ResponseBodyDone { bytes, error, .. } => {
                self.bytes = *bytes;
                self.close("receive", t, error.map(failure_note).unwrap_or_default());
            }
            EventKind::Redirect { status, to, .. } => {
                self.redirects += 1;
                self.spans.push(Span {
                    label: format!("redirect {} → {to}", status.as_u16()),
                    from: t,
                    to: Some(t),
                    note: String::new(),
                    skipped: None,
                });
                // The next hop waits for its own final head.
                self.final_head_at = None;
            }
            EventKind::RequestDone { error } => {
                self.end = Some(t);
                self.error = error.map(|e| e.to_string());
                // A failure ends whatever was still under way, and says
                // why on that bar, not only in the summary.
                if let Some(e) = error {
                    for s in self.spans.iter_mut().filter(|s| s.to.is_none()) {
                        s.to = Some(t);
                        s.note = failure_note(e);
                    }
                }
            }
            _ => {}
        }
    }
}

/// The short note on a failed bar: the error's stable type name
/// (`tls_unknown_issuer`, or for an IO error `connection_reset`).
fn failure_note(e: &roundtrip::Error) -> String {
    e.kind().error_type().into_owned()
}

/// At most this many `Server-Timing` metrics are drawn per response.
const MAX_SERVER_METRICS: usize = 12;

/// One metric of a `Server-Timing` field.
#[derive(Debug, PartialEq)]
struct ServerMetric {
    name: String,
    dur_ms: Option<f64>,
    desc: Option<String>,
}

/// Splits `s` at `sep` outside double quotes (a quoted string may hold
/// `,` or `;`, and `\"` inside it).
fn split_outside_quotes(s: &str, sep: char) -> Vec<&str> {
    let (mut parts, mut start, mut quoted, mut escaped) = (Vec::new(), 0, false, false);
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == sep && !quoted => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

/// The metrics of one `Server-Timing` field value (W3C Server Timing §3:
/// `metric *( OWS ";" OWS param )`, params `dur` and `desc`, the first of
/// each counting). Metrics without a valid token name are skipped; a
/// `dur` that is not a non-negative finite number is ignored.
fn server_timing(value: &str) -> Vec<ServerMetric> {
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
    };
    let unquote = |v: &str| {
        let v = v.trim();
        match v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
            Some(inner) => inner.replace("\\\"", "\"").replace("\\\\", "\\"),
            None => v.to_owned(),
        }
    };
    let mut out = Vec::new();
    for metric in split_outside_quotes(value, ',') {
        let mut parts = split_outside_quotes(metric, ';').into_iter();
        let name = parts.next().unwrap_or("").trim();
        if !token(name) {
            continue;
        }
        let (mut dur_ms, mut desc) = (None, None);
        for param in parts {
            let (k, v) = param.split_once('=').unwrap_or((param, ""));
            match k.trim().to_ascii_lowercase().as_str() {
                "dur" if dur_ms.is_none() => {
                    dur_ms = Some(
                        unquote(v)
                            .parse::<f64>()
                            .ok()
                            .filter(|d| d.is_finite() && *d >= 0.0),
                    );
                }
                "desc" if desc.is_none() => desc = Some(unquote(v)),
                _ => {}
            }
        }
        out.push(ServerMetric {
            name: name.to_owned(),
            dur_ms: dur_ms.flatten(),
            desc: desc.filter(|d| !d.is_empty()),
        });
    }
    out
}

/// Each request's recording, keyed by request id, in order of first event.
pub type Recordings = Arc<Mutex<Vec<(u64, Recording)>>>;

/// A trace that records each request's events, keyed by request id.
pub fn recorder() -> (Trace, Recordings) {
    let all: Recordings = Arc::default();
    let sink = all.clone();
    let mut starts: std::collections::HashMap<u64, Instant> = Default::default();
    let trace = Trace::new().on_event(move |e: &Event<'_>| {
        let Some(req) = e.req else { return };
        let start = *starts.entry(req.0).or_insert(e.at);
        let t = e.at.saturating_duration_since(start).as_micros() as u64;
        let mut all = sink.lock().unwrap_or_else(|p| p.into_inner());
        // From the end: events belong to the newest requests, so under
        // -n this is O(1) per event, not O(requests).
        let i = match all.iter().rposition(|(r, _)| *r == req.0) {
            Some(i) => i,
            None => {
                all.push((req.0, Recording::default()));
                all.len() - 1
            }
        };
        all[i].1.record(t, &e.kind);
    });
    (trace, all)
}

/// How to draw.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    /// Total width in columns.
    pub width: usize,
    /// ANSI colours.
    pub color: bool,
    /// Unicode block characters (else ASCII).
    pub unicode: bool,
}

/// A duration in µs as milliseconds with one decimal ("12.3 ms").
pub fn ms(us: u64) -> String {
    format!("{:.1} ms", us as f64 / 1000.0)
}

/// How a bar ended, which decides its colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It worked (green).
    Success,
    /// It was called off, like a Happy Eyeballs loser (amber).
    Cancelled,
    /// It failed (red).
    Failure,
}

/// Classifies a span by its note: empty, "won", an rcode of NOERROR, a
/// TLS version, a status code or an address count is a success.
pub fn outcome(note: &str) -> Outcome {
    let counted = |n: &str| {
        n.split_once(' ').is_some_and(|(count, what)| {
            count.parse::<usize>().is_ok() && matches!(what, "address" | "addresses")
        })
    };
    match note {
        "won" | "" | "NOERROR" | "head" => Outcome::Success,
        n if n.starts_with("server-timing") => Outcome::Success,
        "cancelled" => Outcome::Cancelled,
        n if n.starts_with("TLS") || n.parse::<u16>().is_ok() || counted(n) => Outcome::Success,
        _ => Outcome::Failure,
    }
}

/// The end of a request's time axis, µs (at least 1): when it ended, or
/// else when its last bar closed.
pub fn axis_end(rec: &Recording) -> u64 {
    rec.end
        .or_else(|| rec.spans.iter().filter_map(|s| s.to).max())
        .unwrap_or(0)
        .max(1)
}

/// The summary line after the bars: "total 12.3 ms  200, 1234 bytes, new
/// connection to 192.0.2.1:443, …", or "failed: …" with the error.
pub fn summary(rec: &Recording) -> String {
    let mut summary = String::new();
    match (&rec.error, rec.status) {
        (Some(e), _) => {
            let _ = write!(summary, "failed: {e}");
        }
        (None, Some(s)) => {
            let _ = write!(summary, "{s}, {} bytes", rec.bytes);
        }
        _ => summary.push_str("no response"),
    }
    if let Some(reused) = rec.reused {
        summary.push_str(if reused {
            ", reused connection"
        } else {
            ", new connection"
        });
    }
    if let Some(remote) = &rec.remote {
        let _ = write!(summary, " to {remote}");
    }
    if let Some(tls) = &rec.tls {
        let _ = write!(summary, ", {tls}");
    }
    if rec.redirects > 0 {
        let _ = write!(summary, ", {} redirect(s)", rec.redirects);
    }
    format!("total {}  {summary}", ms(rec.end.unwrap_or(axis_end(rec))))
}

/// Draws one request's waterfall.
pub fn render(title: &str, rec: &Recording, style: Style) -> String {
    let mut out = String::new();
    let end = axis_end(rec);
    let label_w = rec
        .spans
        .iter()
        .map(|s| s.label.chars().count())
        .max()
        .unwrap_or(4)
        .clamp(8, 48);
    let tail_w = 30;
    let bar_w = style.width.saturating_sub(label_w + tail_w + 4).max(10);
    let (full, empty, l, r) = if style.unicode {
        ('█', ' ', '▕', '▏')
    } else {
        ('#', ' ', '|', '|')
    };
    let paint = |s: String, code: &str| {
        if style.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s
        }
    };
    let _ = writeln!(out, "{}", paint(title.to_owned(), "1"));
    for span in &rec.spans {
        if let Some(why) = &span.skipped {
            let label: String = span.label.chars().take(label_w).collect();
            // The reason goes where it fits: with long labels (a Happy
            // Eyeballs race's addresses) on a narrow terminal, the bar is
            // at its minimum and only "skipped" is left room.
            let room = style.width.saturating_sub(label_w + bar_w + 8);
            let text = format!("skipped  {why}");
            let text = if text.chars().count() <= room {
                text
            } else {
                "skipped".to_owned()
            };
            let _ = writeln!(out, "  {label:<label_w$} {l}{:bar_w$}{r}   {text}", "");
            continue;
        }
        let to = span.to.unwrap_or(end);
        // A bar that starts at (or, for a late event, past) the end of the
        // axis still gets its last cell, never an empty or inverted range.
        let a = ((span.from as u128 * bar_w as u128 / end as u128) as usize).min(bar_w - 1);
        let b = ((to as u128 * bar_w as u128).div_ceil(end as u128) as usize).clamp(a + 1, bar_w);
        let bar: String = (0..bar_w)
            .map(|i| if i >= a && i < b { full } else { empty })
            .collect();
        let color = match outcome(&span.note) {
            Outcome::Success => "32",
            Outcome::Cancelled => "33",
            Outcome::Failure => "31",
        };
        let dur = match span.to {
            Some(t) => ms(t.saturating_sub(span.from)),
            None => "open".into(),
        };
        let label: String = span.label.chars().take(label_w).collect();
        let note: String = span.note.chars().take(tail_w.saturating_sub(12)).collect();
        let sep = if note.is_empty() { "" } else { "  " };
        let _ = writeln!(
            out,
            "  {label:<label_w$} {l}{}{r} {dur:>9}{sep}{note}",
            paint(bar, color),
        );
    }
    let _ = writeln!(out, "  {}", summary(rec));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use roundtrip::trace::{AttemptId, ConnId, Network};
    use std::net::SocketAddr;

    fn plain() -> Style {
        Style {
            width: 80,
            color: false,
            unicode: false,
        }
    }

    #[test]
    fn server_timing_metrics_are_parsed_by_the_w3c_grammar() {
        let m = server_timing(
            r#"db;dur=53, app;desc="App, \"work\"";dur=47.2 , cache;desc=hit, bad name;dur=1, miss;dur=-3;dur=5, ;dur=1"#,
        );
        let got: Vec<(&str, Option<f64>, Option<&str>)> = m
            .iter()
            .map(|m| (m.name.as_str(), m.dur_ms, m.desc.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                ("db", Some(53.0), None),
                ("app", Some(47.2), Some(r#"App, "work""#)),
                ("cache", None, Some("hit")),
                // The first dur counts, and -3 is not a duration.
                ("miss", None, None),
            ]
        );
        assert!(server_timing("").is_empty());
        assert!(server_timing("\"unterminated, x;dur=1").is_empty());
    }

    #[test]
    fn server_timing_draws_sub_bars_inside_the_wait() {
        let mut r = Recording::default();
        let mut headers = http::HeaderMap::new();
        headers.append("server-timing", "db;dur=30;desc=query".parse().unwrap());
        headers.append("server-timing", "render;dur=500, total".parse().unwrap());
        r.record(0, &EventKind::WroteHeaders);
        r.record(0, &EventKind::WroteRequest { error: None });
        r.record(100_000, &EventKind::GotFirstResponseByte);
        r.record(
            100_000,
            &EventKind::GotResponseHeaders {
                status: http::StatusCode::OK,
                version: http::Version::HTTP_11,
                headers: &headers,
                raw_head: b"",
            },
        );
        r.record(100_000, &EventKind::RequestDone { error: None });
        let labels: Vec<&str> = r.spans.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(
            labels,
            ["wait", "  server db", "  server render", "receive"]
        );
        let db = &r.spans[1];
        assert_eq!((db.from, db.to), (0, Some(30_000)));
        assert_eq!(db.note, "server-timing: query");
        // 500 ms reported, but the client waited only 100: cut at the wait.
        assert_eq!(r.spans[2].to, Some(100_000));
        let text = render("GET http://h/", &r, plain());
        let row = text.lines().find(|l| l.contains("server db")).unwrap();
        assert!(
            row.contains("30.0 ms") && row.contains("server-timing"),
            "{row}"
        );
        assert_eq!(outcome(&db.note), Outcome::Success);
    }

    #[test]
    fn fresh_connection_with_a_cancelled_loser() {
        let v6: SocketAddr = "[2001:db8::1]:443".parse().unwrap();
        let v4: SocketAddr = "192.0.2.1:443".parse().unwrap();
        let dns: SocketAddr = "127.0.0.1:53".parse().unwrap();
        let cancelled = std::io::Error::new(std::io::ErrorKind::Interrupted, "cancelled");
        let mut r = Recording::default();
        let no_headers = http::HeaderMap::new();
        let steps: Vec<(u64, EventKind<'_>)> = vec![
            (0, EventKind::DnsStart { host: "h" }),
            (
                0,
                EventKind::DnsQueryStart {
                    server: dns,
                    qtype: "AAAA",
                    transport: "udp",
                },
            ),
            (
                0,
                EventKind::DnsQueryStart {
                    server: dns,
                    qtype: "A",
                    transport: "udp",
                },
            ),
            (
                1000,
                EventKind::DnsQueryDone {
                    server: dns,
                    qtype: "AAAA",
                    transport: "udp",
                    rcode: Some("NOERROR"),
                    error: None,
                    answers: 1,
                    truncated: false,
                },
            ),
            (
                1000,
                EventKind::ConnectStart {
                    attempt: AttemptId(1),
                    network: Network::Tcp6,
                    addr: v6,
                },
            ),
            (
                1200,
                EventKind::DnsQueryDone {
                    server: dns,
                    qtype: "A",
                    transport: "udp",
                    rcode: Some("NOERROR"),
                    error: None,
                    answers: 1,
                    truncated: false,
                },
            ),
            (
                1200,
                EventKind::DnsDone {
                    addrs: &[],
                    coalesced: false,
                    error: None,
                },
            ),
            (
                251000,
                EventKind::ConnectStart {
                    attempt: AttemptId(2),
                    network: Network::Tcp4,
                    addr: v4,
                },
            ),
            (
                252000,
                EventKind::ConnectDone {
                    attempt: AttemptId(2),
                    network: Network::Tcp4,
                    addr: v4,
                    error: None,
                },
            ),
            (
                252000,
                EventKind::ConnectDone {
                    attempt: AttemptId(1),
                    network: Network::Tcp6,
                    addr: v6,
                    error: Some(&cancelled),
                },
            ),
            (
                252000,
                EventKind::GotConn {
                    conn: ConnId(1),
                    reused: false,
                    was_idle: false,
                    idle_time: Default::default(),
                    local_addr: v4,
                    remote_addr: v4,
                },
            ),
            (252100, EventKind::WroteRequest { error: None }),
            (260000, EventKind::GotFirstResponseByte),
            (
                260000,
                EventKind::GotResponseHeaders {
                    status: http::StatusCode::OK,
                    version: http::Version::HTTP_11,
                    headers: &no_headers,
                    raw_head: b"",
                },
            ),
            (
                264000,
                EventKind::ResponseBodyDone {
                    bytes: 1234,
                    trailers: None,
                    error: None,
                },
            ),
            (264000, EventKind::RequestDone { error: None }),
        ];
        for (t, k) in &steps {
            r.record(*t, k);
        }
        let text = render("GET http://h:443/", &r, plain());
        let labels: Vec<&str> = text
            .lines()
            .skip(1)
            .map(|l| l.split_whitespace().next().unwrap_or(""))
            .collect();
        // No handshake in this trace: plain HTTP, shown as such.
        assert_eq!(
            labels,
            ["dns", "dns", "connect", "connect", "tls", "send", "wait", "receive", "total"]
        );
        assert!(text.contains("skipped  not TLS"), "{text}");
        assert!(text.contains("connect #1 tcp6 [2001:db8::1]:443"), "{text}");
        assert!(text.contains("cancelled"), "{text}");
        assert!(text.contains("won"), "{text}");
        assert!(
            text.contains("total 264.0 ms  200, 1234 bytes, new connection to 192.0.2.1:443"),
            "{text}"
        );
        // Every line fits the width.
        assert!(text.lines().all(|l| l.chars().count() <= 80 + 40), "{text}");
        // The loser's bar spans most of the axis; the send bar is short.
        let bar = |name: &str| {
            text.lines()
                .find(|l| l.contains(name))
                .unwrap()
                .matches('#')
                .count()
        };
        assert!(bar("connect #1") > 10 * bar("send"), "{text}");
    }

    #[test]
    fn reused_connection_shows_skipped_phases_not_zeros() {
        let a: SocketAddr = "127.0.0.1:80".parse().unwrap();
        let mut r = Recording::default();
        r.record(
            0,
            &EventKind::GotConn {
                conn: ConnId(1),
                reused: true,
                was_idle: true,
                idle_time: Default::default(),
                local_addr: a,
                remote_addr: a,
            },
        );
        r.record(10, &EventKind::WroteRequest { error: None });
        r.record(300, &EventKind::GotFirstResponseByte);
        r.record(320, &EventKind::RequestDone { error: None });
        let text = render(
            "GET /",
            &r,
            Style {
                unicode: true,
                ..plain()
            },
        );
        for phase in ["dns", "connect", "tls"] {
            let line = text
                .lines()
                .find(|l| l.trim_start().starts_with(phase))
                .unwrap();
            assert!(line.contains("skipped  connection reused"), "{line}");
        }
        assert!(text.contains('█'));
        assert!(text.contains("reused connection"), "{text}");
    }

    #[test]
    fn colour_only_when_asked() {
        let r = Recording::default();
        assert!(!render("t", &r, plain()).contains('\x1b'));
        assert!(render(
            "t",
            &r,
            Style {
                color: true,
                ..plain()
            }
        )
        .contains("\x1b[1m"));
    }
}

//! Record a HAR 1.2 file (the HTTP Archive format of browsers' developer
//! tools) from the trace events of two requests: the request headers as
//! `wrote_header_field` reported them, the response from
//! `got_response_headers`, and HAR's `timings` computed from the times of
//! the events by HAR's definitions (`ssl` is counted inside `connect` too,
//! as the HAR spec says; -1 marks a phase that did not happen, such as
//! `connect` on the second request, which reuses the connection).
//!
//! The JSON is built by hand, without serde. The example's server on
//! 127.0.0.1 means no network is needed:
//!
//! ```sh
//! cargo run --example har               # the HAR on stdout
//! cargo run --example har -- out.har    # written to out.har
//! ```

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use http::{HeaderValue, Request};
use roundtrip::proxy::ProxyConfig;
use roundtrip::trace::EventKind;
use roundtrip::{Client, Trace};

/// What one request's trace said, kept for its HAR entry.
#[derive(Default)]
struct Record {
    method: String,
    url: String,
    request_body: usize,
    /// Every event's name and instant, in order.
    events: Vec<(&'static str, Instant)>,
    request_headers: Vec<(String, String)>,
    status: u16,
    response_headers: Vec<(String, String)>,
    body_bytes: u64,
    server: String,
    conn: u64,
}

/// A trace that fills `record` from the request's events.
fn recorder(record: Arc<Mutex<Record>>) -> Trace {
    let text = |v: &HeaderValue| String::from_utf8_lossy(v.as_bytes()).into_owned();
    Trace::new().on_event(move |e| {
        let mut r = record.lock().unwrap();
        match &e.kind {
            // A failed or cancelled attempt does not end the connect phase.
            EventKind::ConnectDone { error: Some(_), .. } => return,
            // A retry starts the round trip over: keep the last attempt's.
            EventKind::Retry { .. } => {
                r.events.clear();
                r.request_headers.clear();
            }
            EventKind::GotConn {
                conn, remote_addr, ..
            } => {
                (r.conn, r.server) = (conn.0, remote_addr.ip().to_string());
            }
            EventKind::WroteHeaderField { name, values } => {
                let fields = values.iter().map(|v| (name.to_string(), text(v)));
                r.request_headers.extend(fields);
            }
            EventKind::GotResponseHeaders {
                status, headers, ..
            } => {
                r.status = status.as_u16();
                let fields = headers.iter().map(|(n, v)| (n.to_string(), text(v)));
                r.response_headers = fields.collect();
            }
            EventKind::ResponseBodyDone { bytes, .. } => r.body_bytes = *bytes,
            _ => {}
        }
        r.events.push((e.kind.name(), e.at));
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = start_server()?;
    // Trace events carry `Instant`s; HAR wants wall-clock start times.
    let clock = (Instant::now(), SystemTime::now());
    let client = Client::builder()
        .configure(|c| c.proxy = ProxyConfig::Off) // loopback only
        .build();

    let requests = [
        Request::get(format!("http://{addr}/index.html")).body(""),
        Request::post(format!("http://{addr}/api/search"))
            .header("content-type", "application/json")
            .body(r#"{"query": "round trip"}"#),
    ];
    let mut entries = Vec::new();
    for request in requests {
        let request = request?;
        let record = Arc::new(Mutex::new(Record {
            method: request.method().to_string(),
            url: request.uri().to_string(),
            request_body: request.body().len(),
            ..Record::default()
        }));
        let response = client.send_traced(request, recorder(record.clone()))?;
        response.into_body().bytes()?; // the body's end completes the record
        entries.push(entry(&record.lock().unwrap(), clock));
    }

    let creator = [
        ("name", string("roundtrip")),
        ("version", string(env!("CARGO_PKG_VERSION"))),
    ];
    let log = object(&[
        ("version", string("1.2")),
        ("creator", object(&creator)),
        ("entries", format!("[\n{}\n]", entries.join(",\n"))),
    ]);
    let har = object(&[("log", log)]) + "\n";
    match std::env::args().nth(1) {
        Some(path) => {
            std::fs::write(&path, har)?;
            println!("wrote {} entries to {path}", entries.len());
        }
        None => print!("{har}"),
    }
    Ok(())
}

/// One entry of the HAR log.
fn entry(r: &Record, (t0, wall0): (Instant, SystemTime)) -> String {
    let at = |event: &str| r.events.iter().find(|(n, _)| *n == event).map(|(_, t)| *t);
    // Milliseconds from one event to another; -1 if either did not happen.
    let ms = |from: &str, to: &str| match (at(from), at(to)) {
        (Some(a), Some(b)) => b.saturating_duration_since(a).as_secs_f64() * 1e3,
        _ => -1.0,
    };
    // blocked: from get_conn to the first sign of work (a lookup, a
    // connect, or a pooled connection in hand).
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
    let connect = ms("connect_start", connected); // ssl included
    let send = ms("got_conn", "wrote_request");
    let wait = ms("wrote_request", "got_first_response_byte");
    let receive = ms("got_first_response_byte", "response_body_done");
    let phases = [blocked, dns, connect, send, wait, receive];
    let time: f64 = phases.iter().filter(|t| **t >= 0.0).sum(); // ssl is inside connect

    let field = |name| {
        r.response_headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let reason = http::StatusCode::from_u16(r.status)
        .ok()
        .and_then(|s| s.canonical_reason());
    let request = object(&[
        ("method", string(&r.method)),
        ("url", string(&r.url)),
        ("httpVersion", string("HTTP/1.1")),
        ("cookies", "[]".into()),
        ("headers", headers(&r.request_headers)),
        ("queryString", "[]".into()),
        ("headersSize", "-1".into()),
        ("bodySize", r.request_body.to_string()),
    ]);
    let content = [
        ("size", r.body_bytes.to_string()),
        ("mimeType", string(field("content-type").unwrap_or(""))),
    ];
    let response = object(&[
        ("status", r.status.to_string()),
        ("statusText", string(reason.unwrap_or(""))),
        ("httpVersion", string("HTTP/1.1")),
        ("cookies", "[]".into()),
        ("headers", headers(&r.response_headers)),
        ("content", object(&content)),
        ("redirectURL", string(field("location").unwrap_or(""))),
        ("headersSize", "-1".into()),
        ("bodySize", "-1".into()),
    ]);
    let names = [
        "blocked", "dns", "connect", "send", "wait", "receive", "ssl",
    ];
    let times: Vec<_> = names
        .into_iter()
        .zip(phases.into_iter().chain([ssl]))
        .collect();
    let timings: Vec<_> = times
        .into_iter()
        .map(|(n, t)| (n, format!("{t:.3}")))
        .collect();
    let started = wall0 + at("get_conn").map_or_else(Default::default, |t| t - t0);
    object(&[
        ("startedDateTime", string(&iso8601(started))),
        ("time", format!("{time:.3}")),
        ("request", request),
        ("response", response),
        ("cache", "{}".into()),
        ("timings", object(&timings)),
        ("serverIPAddress", string(&r.server)),
        ("connection", string(&r.conn.to_string())),
    ])
}

/// `{"key": value, …}` from keys and values already in JSON.
fn object(fields: &[(&str, String)]) -> String {
    let items: Vec<_> = fields
        .iter()
        .map(|(k, v)| format!("{}: {v}", string(k)))
        .collect();
    format!("{{{}}}", items.join(", "))
}

/// HAR's header list: `[{"name": …, "value": …}, …]`.
fn headers(fields: &[(String, String)]) -> String {
    let items: Vec<_> = fields
        .iter()
        .map(|(n, v)| object(&[("name", string(n)), ("value", string(v))]))
        .collect();
    format!("[{}]", items.join(", "))
}

/// A JSON string (RFC 8259 §7).
fn string(s: &str) -> String {
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

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` (ISO 8601, UTC), by the civil-from-days
/// algorithm of Howard Hinnant's date library.
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

/// A keep-alive HTTP/1.1 server on 127.0.0.1: HTML for GET, JSON for POST.
fn start_server() -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || serve(stream));
        }
    });
    Ok(addr)
}

fn serve(stream: TcpStream) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    loop {
        let mut head = String::new();
        while !head.ends_with("\r\n\r\n") {
            if reader.read_line(&mut head)? == 0 {
                return Ok(());
            }
        }
        let length = head.lines().find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        });
        reader.read_exact(&mut vec![0; length.unwrap_or(0)])?; // the request body
        let (kind, body) = match head.starts_with("POST") {
            true => ("application/json", r#"{"results": []}"#),
            false => ("text/html", "<!doctype html><title>hello</title>"),
        };
        let len = body.len();
        let response = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: {kind}\r\ncontent-length: {len}\r\n\r\n{body}"
        );
        writer.write_all(response.as_bytes())?; // one write: one TCP segment
    }
}

//! Printing trace events, one line each: JSON lines for `--events`
//! (DESIGN.md, "Trace events") and readable lines for the demo.
//!
//! Times are relative to the start of the event's own request, i.e. the
//! instant of its first event; client-level events (no request, such as
//! `conn_closed` of an idle connection) are timed from the first request's
//! start, or from a fallback instant when no request was seen yet.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write;
use std::time::Instant;

use http::{HeaderMap, HeaderValue};
use roundtrip::{Event, EventKind, RequestId, Trace};

/// Remembers when each request started, to time its events from there.
#[derive(Debug)]
pub struct StartClock {
    starts: HashMap<RequestId, Instant>,
    first: Option<Instant>,
    fallback: Instant,
}

impl StartClock {
    /// A clock whose client-level events are timed from `fallback` until a
    /// first request has been seen.
    pub fn new(fallback: Instant) -> StartClock {
        StartClock {
            starts: HashMap::new(),
            first: None,
            fallback,
        }
    }

    /// The instant `event`'s times are measured from.
    pub fn start_of(&mut self, event: &Event<'_>) -> Instant {
        match event.req {
            Some(id) => {
                let start = *self.starts.entry(id).or_insert(event.at);
                self.first.get_or_insert(start);
                start
            }
            None => self.first.unwrap_or(self.fallback),
        }
    }
}

/// A line formatter: appends one event, timed from `start`, to `out`.
pub type Format = fn(&Event<'_>, Instant, &mut String);

/// A trace that writes every event to `out`, one line each, in `format`.
/// Write errors are ignored: tracing must never fail a request.
pub fn line_trace(
    mut out: impl Write + Send + 'static,
    fallback: Instant,
    format: Format,
) -> Trace {
    let mut clock = StartClock::new(fallback);
    let mut line = String::new();
    Trace::new().on_event(move |event| {
        line.clear();
        format(event, clock.start_of(event), &mut line);
        line.push('\n');
        let _ = out.write_all(line.as_bytes());
        let _ = out.flush();
    })
}

/// The `--events` format: one JSON object, as DESIGN.md specifies.
pub fn json_line(event: &Event<'_>, start: Instant, out: &mut String) {
    roundtrip::trace::write_json(event, start, out);
}

/// The demo's format: `  +0.123 ms  got_conn                 conn=1 …`.
pub fn human_line(event: &Event<'_>, start: Instant, out: &mut String) {
    let ms = event.at.saturating_duration_since(start).as_secs_f64() * 1000.0;
    let name = event.kind.name();
    let _ = write!(out, "  {:>9} ms  {name:<24} ", format!("+{ms:.3}"));
    describe(&event.kind, out);
    if event.resend > 0 {
        let _ = write!(out, " resend={}", event.resend);
    }
    let trimmed = out.trim_end().len();
    out.truncate(trimmed);
}

fn value_text(v: &HeaderValue) -> String {
    String::from_utf8_lossy(v.as_bytes()).into_owned()
}

fn fields(map: &HeaderMap, out: &mut String) {
    out.push('{');
    for (i, (name, value)) in map.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "{name}: {}", value_text(value));
    }
    out.push('}');
}

fn outcome(error: Option<&dyn std::fmt::Display>, out: &mut String) {
    match error {
        None => out.push_str("ok"),
        Some(e) => {
            let _ = write!(out, "error: {e}");
        }
    }
}

/// Appends a short readable summary of an event's fields.
pub fn describe(kind: &EventKind<'_>, out: &mut String) {
    match kind {
        EventKind::GetConn { host_port } => out.push_str(host_port),
        EventKind::DnsStart { host } => out.push_str(host),
        EventKind::DnsDone {
            addrs,
            coalesced,
            error,
        } => {
            let addrs: Vec<String> = addrs.iter().map(|a| a.to_string()).collect();
            let _ = write!(out, "addrs=[{}] coalesced={coalesced} ", addrs.join(", "));
            outcome(error.map(|e| e as _), out);
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
            let _ = write!(out, "attempt={attempt} {} {addr}", network.as_str());
        }
        EventKind::ConnectDone {
            attempt,
            network,
            addr,
            error,
        } => {
            let _ = write!(out, "attempt={attempt} {} {addr} ", network.as_str());
            outcome(error.map(|e| e as _), out);
        }
        EventKind::TlsHandshakeDone { info, error } => {
            if let Some(i) = info {
                let _ = write!(
                    out,
                    "{} {} alpn={} resumed={} ",
                    i.version,
                    i.cipher_suite,
                    i.alpn.as_deref().unwrap_or("-"),
                    i.resumed
                );
            }
            outcome(error.map(|e| e as _), out)
        }
        EventKind::WroteRequest { error } => outcome(error.map(|e| e as _), out),
        EventKind::RequestDone { error } => outcome(error.map(|e| e as _), out),
        EventKind::GotConn {
            conn,
            reused,
            was_idle,
            idle_time,
            local_addr,
            remote_addr,
        } => {
            let _ = write!(out, "conn={conn} reused={reused} was_idle={was_idle} ");
            if *was_idle {
                let _ = write!(out, "idle={:.3}ms ", idle_time.as_secs_f64() * 1000.0);
            }
            let _ = write!(out, "{local_addr} -> {remote_addr}");
        }
        EventKind::WroteHeaderField { name, values } => {
            let values: Vec<String> = values.iter().map(value_text).collect();
            let _ = write!(out, "{name}: {}", values.join(", "));
        }
        EventKind::Got1xxResponse { code, headers, .. } => {
            let _ = write!(out, "{code} ");
            fields(headers, out);
        }
        EventKind::GotResponseHeaders {
            status,
            version,
            headers,
            ..
        } => {
            let _ = write!(out, "{version:?} {status} ({} fields)", headers.len());
        }
        EventKind::ResponseBodyDone {
            bytes,
            trailers,
            error,
        } => {
            let _ = write!(out, "bytes={bytes} ");
            if let Some(t) = trailers {
                out.push_str("trailers=");
                fields(t, out);
                out.push(' ');
            }
            outcome(error.map(|e| e as _), out);
        }
        EventKind::PutIdleConn { conn, error } => match error {
            None => {
                let _ = write!(out, "conn={conn} pooled");
            }
            Some(reason) => {
                let _ = write!(out, "conn={conn} closed ({reason})");
            }
        },
        EventKind::Retry { reason } => {
            let _ = write!(out, "after: {reason}");
        }
        EventKind::ConnClosed { conn, reason } => {
            let _ = write!(out, "conn={conn} reason={reason}");
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use roundtrip::{CloseReason, ConnId};

    fn event(at: Instant, req: Option<u64>, kind: EventKind<'static>) -> Event<'static> {
        Event {
            at,
            req: req.map(RequestId),
            resend: 0,
            hop: 0,
            kind,
        }
    }

    #[test]
    fn each_request_is_timed_from_its_first_event() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut clock = StartClock::new(t0);
        let closed = EventKind::ConnClosed {
            conn: ConnId(1),
            reason: CloseReason::IdleTimeout,
        };
        // No request yet: the fallback.
        assert_eq!(clock.start_of(&event(ms(1), None, closed.clone())), t0);
        assert_eq!(
            clock.start_of(&event(ms(5), Some(1), EventKind::WroteHeaders)),
            ms(5)
        );
        assert_eq!(
            clock.start_of(&event(ms(7), Some(2), EventKind::WroteHeaders)),
            ms(7)
        );
        assert_eq!(
            clock.start_of(&event(ms(9), Some(1), EventKind::WroteHeaders)),
            ms(5)
        );
        // Client-level events: the first request's start.
        assert_eq!(clock.start_of(&event(ms(11), None, closed)), ms(5));
    }

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn json_lines_have_the_design_shape() {
        let t0 = Instant::now();
        let sink = Shared::default();
        let mut trace = line_trace(sink.clone(), t0, json_line);
        trace.emit(&event(
            t0 + Duration::from_micros(100),
            Some(4),
            EventKind::GotFirstResponseByte,
        ));
        trace.emit(&event(
            t0 + Duration::from_micros(350),
            Some(4),
            EventKind::WroteHeaders,
        ));
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with(
            r#"{"t_us":0,"req":4,"event":"got_first_response_byte","resend":0,"hop":0"#
        ));
        assert!(lines[1].starts_with(r#"{"t_us":250,"req":4,"event":"wrote_headers""#));
    }

    #[test]
    fn human_lines_are_aligned_and_readable() {
        let t0 = Instant::now();
        let mut line = String::new();
        let e = event(
            t0 + Duration::from_micros(1234),
            Some(1),
            EventKind::PutIdleConn {
                conn: ConnId(3),
                error: None,
            },
        );
        human_line(&e, t0, &mut line);
        assert_eq!(
            line,
            "     +1.234 ms  put_idle_conn            conn=3 pooled"
        );
        line.clear();
        human_line(
            &event(t0, Some(1), EventKind::GotFirstResponseByte),
            t0,
            &mut line,
        );
        assert_eq!(line, "     +0.000 ms  got_first_response_byte");
    }
}

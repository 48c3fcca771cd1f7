//! The `tracing` feature (issue #7, "Ecosystem bridge"): a subscriber
//! written here records every span and event the client emits, and the
//! tests check span names, parents, OpenTelemetry HTTP client fields
//! (`otel.kind`, `http.request.method`, `server.*`, `url.full`,
//! `network.*`, `http.response.status_code`, `http.request.resend_count`,
//! `error.type`), the .NET-style connection child spans, and one child
//! event per trace event with the trace vocabulary's names.
//!
//! The root manifest enables the feature for tests (a dev-dependency on
//! the crate itself), so a plain `cargo test` runs these.

#![forbid(unsafe_code)]

mod support;

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use roundtrip::{Client, Trace};
use support::lo::{one, read_req, Srv};
use support::tls::{server_config, Ca, TlsServer};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Metadata, Subscriber};

#[derive(Debug, Clone)]
struct SpanRec {
    id: u64,
    name: &'static str,
    meta: &'static Metadata<'static>,
    target: String,
    parent: Option<u64>,
    fields: BTreeMap<String, String>,
    refs: usize,
    closed: bool,
}

#[derive(Debug, Clone)]
struct EventRec {
    name: &'static str,
    parent: Option<u64>,
    fields: BTreeMap<String, String>,
}

#[derive(Default)]
struct Recorded {
    spans: Vec<SpanRec>,
    events: Vec<EventRec>,
    stack: Vec<u64>,
}

/// A subscriber that keeps everything, for assertions.
#[derive(Clone, Default)]
struct Rec {
    inner: Arc<Mutex<Recorded>>,
    next: Arc<AtomicU64>,
}

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl Subscriber for Rec {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let id = self.next.fetch_add(1, Ordering::SeqCst) + 1;
        let mut inner = self.inner.lock().unwrap();
        let parent = if attrs.is_contextual() {
            inner.stack.last().copied()
        } else {
            attrs.parent().map(|p| p.into_u64())
        };
        let mut fields = BTreeMap::new();
        attrs.record(&mut Fields(&mut fields));
        inner.spans.push(SpanRec {
            id,
            name: attrs.metadata().name(),
            meta: attrs.metadata(),
            target: attrs.metadata().target().to_owned(),
            parent,
            fields,
            refs: 1,
            closed: false,
        });
        Id::from_u64(id)
    }
    fn record(&self, span: &Id, values: &Record<'_>) {
        let mut inner = self.inner.lock().unwrap();
        let s = inner
            .spans
            .iter_mut()
            .find(|s| s.id == span.into_u64())
            .expect("record on a known span");
        assert!(!s.closed, "record on a closed span {}", s.name);
        values.record(&mut Fields(&mut s.fields));
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut inner = self.inner.lock().unwrap();
        let parent = if event.is_contextual() {
            inner.stack.last().copied()
        } else {
            event.parent().map(|p| p.into_u64())
        };
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        inner.events.push(EventRec {
            name: event.metadata().name(),
            parent,
            fields,
        });
    }
    fn enter(&self, span: &Id) {
        self.inner.lock().unwrap().stack.push(span.into_u64());
    }
    fn exit(&self, span: &Id) {
        let mut inner = self.inner.lock().unwrap();
        let at = inner.stack.iter().rposition(|s| *s == span.into_u64());
        if let Some(at) = at {
            inner.stack.remove(at);
        }
    }
    /// What `Span::current()` asks: the innermost entered span.
    fn current_span(&self) -> tracing_core::span::Current {
        let inner = self.inner.lock().unwrap();
        match inner.stack.last() {
            Some(id) => {
                let s = inner.spans.iter().find(|s| s.id == *id).unwrap();
                tracing_core::span::Current::new(Id::from_u64(*id), s.meta)
            }
            None => tracing_core::span::Current::none(),
        }
    }
    fn clone_span(&self, id: &Id) -> Id {
        let mut inner = self.inner.lock().unwrap();
        if let Some(s) = inner.spans.iter_mut().find(|s| s.id == id.into_u64()) {
            s.refs += 1;
        }
        id.clone()
    }
    fn try_close(&self, id: Id) -> bool {
        let mut inner = self.inner.lock().unwrap();
        let Some(s) = inner.spans.iter_mut().find(|s| s.id == id.into_u64()) else {
            return false;
        };
        s.refs -= 1;
        if s.refs == 0 {
            s.closed = true;
        }
        s.closed
    }
}

impl Rec {
    fn spans(&self) -> Vec<SpanRec> {
        self.inner.lock().unwrap().spans.clone()
    }
    fn events(&self) -> Vec<EventRec> {
        self.inner.lock().unwrap().events.clone()
    }
    /// The client's spans named `name`.
    fn named(&self, name: &str) -> Vec<SpanRec> {
        self.spans()
            .into_iter()
            .filter(|s| s.name == name && s.target == "roundtrip")
            .collect()
    }
    /// Everything recorded, for failure messages.
    fn dump(&self) -> String {
        let mut out = String::new();
        for s in self.spans() {
            out += &format!(
                "span #{} {:?} parent {:?} closed {} {:?}\n",
                s.id, s.name, s.parent, s.closed, s.fields
            );
        }
        for e in self.events() {
            out += &format!("  event {} parent {:?} {:?}\n", e.name, e.parent, e.fields);
        }
        out
    }
}

fn field<'a>(s: &'a SpanRec, name: &str) -> Option<&'a str> {
    s.fields.get(name).map(String::as_str)
}

/// Runs `f` with `rec` as the thread's default subscriber.
fn with<T>(rec: &Rec, f: impl FnOnce() -> T) -> T {
    tracing::subscriber::with_default(rec.clone(), f)
}

#[test]
fn a_plain_get_by_name_is_one_client_span_with_dns_and_connect_children() {
    let srv = Srv::new(vec![one(
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
    )]);
    let port = srv.addr.port();
    let url = format!("http://localhost:{port}/path?q=1&sig=secret");
    let rec = Rec::default();
    // The same request's trace events, through a hook, to compare with.
    let hook_names = Arc::new(Mutex::new(Vec::new()));
    let names = hook_names.clone();
    let app = with(&rec, || {
        let app = tracing::info_span!("app request");
        let _in = app.enter();
        let client = Client::new();
        let trace = Trace::new().on_event(move |e| names.lock().unwrap().push(e.kind.name()));
        let req = http::Request::get(&url).body(()).unwrap();
        let body = client.send_traced(req, trace).unwrap().into_body();
        assert_eq!(body.text().unwrap(), "ok");
        app.id().unwrap().into_u64()
    });
    let dump = rec.dump();
    let attempts = rec.named("HTTP request");
    assert_eq!(attempts.len(), 1, "{dump}");
    let a = &attempts[0];
    assert_eq!(a.parent, Some(app), "nested in the caller's span:\n{dump}");
    assert!(a.closed, "{dump}");
    let want = [
        ("otel.name", "GET"),
        ("otel.kind", "client"),
        ("http.request.method", "GET"),
        ("server.address", "localhost"),
        (
            "url.full",
            &*format!("http://localhost:{port}/path?q=1&sig=REDACTED"),
        ),
        ("network.protocol.version", "1.1"),
        ("network.peer.address", "127.0.0.1"),
        ("http.response.status_code", "200"),
    ];
    for (k, v) in want {
        assert_eq!(field(a, k), Some(v), "{k}:\n{dump}");
    }
    assert_eq!(field(a, "server.port"), Some(&*port.to_string()), "{dump}");
    assert_eq!(field(a, "network.peer.port"), Some(&*port.to_string()));
    assert_eq!(field(a, "error.type"), None, "no error on success:\n{dump}");
    assert_eq!(field(a, "http.request.resend_count"), None, "{dump}");

    let dns = rec.named("DNS lookup");
    assert_eq!(dns.len(), 1, "{dump}");
    assert_eq!(dns[0].parent, Some(a.id));
    assert_eq!(field(&dns[0], "otel.name"), Some("DNS lookup localhost"));
    assert_eq!(field(&dns[0], "dns.question.name"), Some("localhost"));
    assert!(dns[0].closed);

    // localhost may also have ::1, refused here: every attempt is its own
    // span, and the one to 127.0.0.1 succeeded.
    let connects = rec.named("socket connect");
    assert!(!connects.is_empty(), "{dump}");
    for c in &connects {
        assert_eq!(c.parent, Some(a.id));
        assert!(c.closed);
        let addr = field(c, "network.peer.address").unwrap();
        let ty = if addr.contains(':') { "ipv6" } else { "ipv4" };
        assert_eq!(field(c, "network.type"), Some(ty), "{dump}");
        assert_eq!(field(c, "network.transport"), Some("tcp"));
        let name = if ty == "ipv6" {
            format!("socket connect [{addr}]:{port}")
        } else {
            format!("socket connect {addr}:{port}")
        };
        assert_eq!(field(c, "otel.name"), Some(&*name));
    }
    let won = connects
        .iter()
        .find(|c| field(c, "network.peer.address") == Some("127.0.0.1"))
        .unwrap_or_else(|| panic!("no connect span to 127.0.0.1:\n{dump}"));
    assert_eq!(field(won, "error.type"), None, "{dump}");
    assert!(
        rec.named("TLS client handshake").is_empty(),
        "no TLS for http"
    );

    // One tracing event per trace event, same names, same order; DNS and
    // connect events sit in their own spans.
    let events: Vec<EventRec> = rec
        .events()
        .into_iter()
        .filter(|e| e.parent != Some(app))
        .collect();
    let names: Vec<&str> = events.iter().map(|e| e.name).collect();
    assert_eq!(names, *hook_names.lock().unwrap(), "{dump}");
    for e in &events {
        let want = match e.name {
            "dns_start" | "dns_done" | "dns_query_start" | "dns_query_done" => dns[0].id,
            "connect_start" | "connect_done" => {
                connects
                    .iter()
                    .find(|c| {
                        let addr = field(c, "network.peer.address").unwrap();
                        e.fields["addr"].contains(addr)
                    })
                    .unwrap()
                    .id
            }
            _ => a.id,
        };
        assert_eq!(
            e.parent,
            Some(want),
            "{} in the wrong span:\n{dump}",
            e.name
        );
        assert!(e.fields.contains_key("req"), "{e:?}");
    }
    let get_conn = events.iter().find(|e| e.name == "get_conn").unwrap();
    assert_eq!(get_conn.fields["host_port"], format!("localhost:{port}"));
    let headers = events
        .iter()
        .find(|e| e.name == "got_response_headers")
        .unwrap();
    assert_eq!(headers.fields["status"], "200");
    assert!(
        headers.fields["headers"].contains("content-length"),
        "{headers:?}"
    );
    srv.join();
}

#[test]
fn https_has_a_tls_handshake_span_with_what_was_agreed() {
    let ca = Ca::new("roundtrip tracing CA");
    let leaf = ca.leaf(&["localhost"], &[], None);
    let server = TlsServer::start(
        server_config(&leaf),
        1,
        b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecure",
    );
    let client = Client::builder()
        .configure(|c| {
            c.tls_ca_files = vec![ca.pem_path.clone()];
            c.tls_builtin_roots = false;
        })
        .build();
    let url = format!("https://localhost:{}/", server.addr.port());
    let rec = Rec::default();
    with(&rec, || {
        let body = client.get(&url).unwrap().into_body();
        assert_eq!(body.text().unwrap(), "secure");
    });
    let dump = rec.dump();
    let a = &rec.named("HTTP request")[0];
    assert_eq!(a.parent, None, "a root span without a caller's span");
    let tls = rec.named("TLS client handshake");
    assert_eq!(tls.len(), 1, "{dump}");
    let t = &tls[0];
    assert_eq!(t.parent, Some(a.id));
    assert!(t.closed);
    assert_eq!(
        field(t, "otel.name"),
        Some("TLS client handshake localhost")
    );
    assert_eq!(field(t, "server.address"), Some("localhost"));
    assert_eq!(field(t, "tls.protocol.name"), Some("tls"));
    assert_eq!(field(t, "tls.protocol.version"), Some("1.3"), "{dump}");
    assert_eq!(field(t, "tls.next_protocol"), Some("http/1.1"));
    assert_eq!(field(t, "tls.resumed"), Some("false"));
    assert!(field(t, "tls.cipher").is_some_and(|c| c.starts_with("TLS13_")));
    let done = rec
        .events()
        .into_iter()
        .find(|e| e.name == "tls_handshake_done")
        .unwrap();
    assert_eq!(done.parent, Some(t.id));
    assert_eq!(done.fields["leaf_subject"], "CN=localhost");
    drop(client);
    server.join();
}

#[test]
fn failures_set_error_type_on_the_span_that_failed() {
    // Nothing listens on this port once the listener is dropped.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let rec = Rec::default();
    let err = with(&rec, || {
        Client::new()
            .get(&format!("http://127.0.0.1:{port}/"))
            .unwrap_err()
    });
    let dump = rec.dump();
    let a = &rec.named("HTTP request")[0];
    assert_eq!(field(a, "error.type"), Some(err.kind().name()), "{dump}");
    assert_eq!(field(a, "error.type"), Some("connect_failed"));
    assert_eq!(field(a, "otel.status_code"), Some("ERROR"));
    assert!(
        rec.named("DNS lookup").is_empty(),
        "no lookup for an IP literal"
    );
    let c = &rec.named("socket connect")[0];
    assert_eq!(field(c, "error.type"), Some("connection_refused"), "{dump}");
    assert!(a.closed && c.closed);

    // A 404 is an error of a client span, named by its code.
    let srv = Srv::new(vec![one(
        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    )]);
    let rec = Rec::default();
    with(&rec, || {
        let resp = Client::new().get(&srv.url("/missing")).unwrap();
        assert_eq!(resp.status(), 404);
        resp.into_body().bytes().unwrap();
    });
    let a = &rec.named("HTTP request")[0];
    assert_eq!(field(a, "http.response.status_code"), Some("404"));
    assert_eq!(field(a, "error.type"), Some("404"), "{}", rec.dump());
    srv.join();
}

#[test]
fn each_redirect_hop_is_a_new_span_counting_resends() {
    let srv = Srv::new(vec![Box::new(|mut s| {
        for reply in [
            "HTTP/1.1 302 Found\r\nLocation: /two\r\nContent-Length: 0\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone",
        ] {
            read_req(&mut s).expect("a request");
            s.write_all(reply.as_bytes()).unwrap();
        }
    })]);
    let client = Client::builder()
        .configure(|c| c.follow_redirects = true)
        .build();
    let rec = Rec::default();
    with(&rec, || {
        let body = client.get(&srv.url("/one")).unwrap().into_body();
        assert_eq!(body.text().unwrap(), "done");
    });
    let dump = rec.dump();
    let attempts = rec.named("HTTP request");
    assert_eq!(attempts.len(), 2, "{dump}");
    assert_eq!(
        field(&attempts[0], "http.response.status_code"),
        Some("302")
    );
    assert_eq!(field(&attempts[0], "http.request.resend_count"), None);
    assert!(field(&attempts[0], "url.full").unwrap().ends_with("/one"));
    assert_eq!(field(&attempts[1], "http.request.resend_count"), Some("1"));
    assert!(field(&attempts[1], "url.full").unwrap().ends_with("/two"));
    assert_eq!(
        field(&attempts[1], "http.response.status_code"),
        Some("200")
    );
    // Both hops are siblings under the same (absent) parent, and closed.
    assert_eq!(attempts[0].parent, attempts[1].parent);
    assert!(attempts.iter().all(|a| a.closed), "{dump}");
    let redirect = rec
        .events()
        .into_iter()
        .find(|e| e.name == "redirect")
        .unwrap();
    assert_eq!(redirect.parent, Some(attempts[0].id));
    assert_eq!(redirect.fields["status"], "302");
    drop(client);
    srv.join();
}

#[test]
fn without_a_subscriber_nothing_is_recorded_and_requests_work() {
    // The feature is on, but no subscriber is installed on this thread:
    // hooks still see every event and the request is unaffected.
    let srv = Srv::new(vec![one(
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
    )]);
    let seen = Arc::new(Mutex::new(0usize));
    let count = seen.clone();
    let trace = Trace::new().on_event(move |_| *count.lock().unwrap() += 1);
    let req = http::Request::get(srv.url("/")).body(()).unwrap();
    let body = Client::new().send_traced(req, trace).unwrap().into_body();
    assert_eq!(body.text().unwrap(), "ok");
    assert!(*seen.lock().unwrap() >= 8);
    srv.join();
}

#[test]
fn tracing_is_not_in_the_default_dependency_tree() {
    let out = std::process::Command::new(env!("CARGO"))
        .args([
            "tree",
            "--offline",
            "-e",
            "normal",
            "-p",
            "roundtrip",
            "--prefix",
            "none",
            "--manifest-path",
            concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"),
        ])
        .output()
        .expect("running cargo tree");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8_lossy(&out.stdout);
    assert!(tree.contains("rustls"), "a real tree:\n{tree}");
    assert!(
        !tree.lines().any(|l| l.starts_with("tracing")),
        "tracing must stay optional:\n{tree}"
    );
}

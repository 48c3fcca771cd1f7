//! The Timings summary cross-checked against the same request's own event
//! timestamps, and its two views kept consistent (issue #6).

#![forbid(unsafe_code)]

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use roundtrip::proxy::ProxyConfig;
use roundtrip::{Client, PhaseTime, Skipped, Timings, Trace};
use support::tls::{client_trusting_with, server_config, Ca, TlsServer};
use support::{respond, serve};

const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";

/// curl's cumulative variables, in the order curl defines them.
fn cumulative(t: &Timings) -> [Duration; 6] {
    [
        t.namelookup(),
        t.connect(),
        t.appconnect(),
        t.pretransfer(),
        t.starttransfer(),
        t.total().expect("finished"),
    ]
}

/// The per-phase durations that happened, summed.
fn phase_sum(t: &Timings) -> Duration {
    t.phases().iter().filter_map(|(_, p)| p.duration()).sum()
}

/// A CONNECT proxy for one tunnel that takes `delay` to answer, so that
/// the tunnel phase is long enough to be missed if it were not counted.
fn slow_connect_proxy(delay: Duration) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let Ok((mut s, _)) = listener.accept() else {
            return;
        };
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if s.read(&mut b).unwrap_or(0) == 0 {
                return;
            }
            head.push(b[0]);
        }
        let head = String::from_utf8_lossy(&head).into_owned();
        let target = head.split_whitespace().nth(1).unwrap().to_owned();
        std::thread::sleep(delay);
        let up = TcpStream::connect(target).unwrap();
        s.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .unwrap();
        let (mut from_client, mut to_up) = (s.try_clone().unwrap(), up.try_clone().unwrap());
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut from_client, &mut to_up);
        });
        let mut up = up;
        let _ = std::io::copy(&mut up, &mut s);
    });
    addr
}

type Log = Arc<Mutex<Vec<(String, Instant)>>>;

fn recorder() -> (Trace, Log) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = log.clone();
    let trace =
        Trace::new().on_event(move |e| l.lock().unwrap().push((e.kind.name().to_owned(), e.at)));
    (trace, log)
}

fn at(log: &[(String, Instant)], name: &str) -> Instant {
    log.iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no {name}"))
        .1
}

#[test]
fn fresh_then_reused_request_match_their_events() {
    let server = serve(vec![respond(vec![
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi",
    ])]);
    let client = Client::builder()
        .configure(|c| {
            c.hosts
                .push(("timed.test".into(), "127.0.0.1".parse().unwrap()))
        })
        .build();
    let url = format!("http://timed.test:{}/", server.addr.port());
    let (trace, log) = recorder();
    let mut body = client
        .send_traced(http::Request::get(&url).body(()).unwrap(), trace)
        .unwrap()
        .into_body();
    assert!(body.timings().unwrap().total().is_none(), "still running");
    std::io::copy(&mut body, &mut std::io::sink()).unwrap();
    let t = body.timings().unwrap();
    let log = log.lock().unwrap().clone();
    let start = at(&log, "get_conn");
    // curl's cumulative view, from the same instants as the events.
    assert_eq!(t.connect(), at(&log, "connect_done") - start);
    assert_eq!(
        t.starttransfer(),
        at(&log, "got_first_response_byte") - start
    );
    assert_eq!(t.total(), Some(at(&log, "request_done") - start));
    let order = [
        t.namelookup(),
        t.connect(),
        t.pretransfer(),
        t.posttransfer(),
        t.starttransfer(),
        t.total().unwrap(),
    ];
    assert!(order.windows(2).all(|w| w[0] <= w[1]), "{order:?}");
    assert_eq!(
        t.appconnect(),
        std::time::Duration::ZERO,
        "curl reports 0 without TLS"
    );
    // The per-phase view.
    assert_eq!(
        t.dns(),
        PhaseTime::Skipped(Skipped::Cached),
        "hosts file: no query"
    );
    assert_eq!(t.tls(), PhaseTime::Skipped(Skipped::NotTls));
    assert_eq!(
        t.wait().duration(),
        Some(at(&log, "got_first_response_byte") - at(&log, "wrote_request"))
    );
    assert_eq!((t.num_connects(), t.size_download()), (1, 5));
    assert_eq!(t.remote_addr(), Some(server.addr));
    drop(body);

    let (trace, _) = recorder();
    let mut body = client
        .send_traced(http::Request::get(&url).body(()).unwrap(), trace)
        .unwrap()
        .into_body();
    std::io::copy(&mut body, &mut std::io::sink()).unwrap();
    let t = body.timings().unwrap();
    assert_eq!(t.dns(), PhaseTime::Skipped(Skipped::Reused));
    assert_eq!(t.tcp_connect(), PhaseTime::Skipped(Skipped::Reused));
    assert_eq!(t.num_connects(), 0);
    assert!(t.wait().duration().is_some() && t.receive().duration().is_some());
}

#[test]
fn a_failed_request_carries_its_timings_up_to_the_failure() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let err = Client::new()
        .get(&format!("http://127.0.0.1:{port}/"))
        .unwrap_err();
    let t = err.timings().expect("timings on the error");
    assert_eq!(t.dns(), PhaseTime::Skipped(Skipped::IpLiteral));
    assert_eq!(t.tcp_connect(), PhaseTime::Pending, "never connected");
    assert_eq!(t.wait(), PhaseTime::Pending);
    assert_eq!(
        t.num_connects(),
        0,
        "curl counts connections made, not tries"
    );
    assert!(t.total().is_some(), "the request is over");
}

#[test]
fn same_fields_as_curls_write_out_against_the_same_server() {
    let Some(curl) = support::interop::or_skip("curl", || {
        support::interop::find_binary("curl", &["/usr/bin/curl"])
            .ok_or_else(|| support::interop::StartError::Missing("curl not found".into()))
    }) else {
        return;
    };
    let server = serve(vec![
        respond(vec![b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"]),
        respond(vec![b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"]),
    ]);
    let fields = [
        "time_namelookup",
        "time_connect",
        "time_pretransfer",
        "time_starttransfer",
        "time_total",
    ];
    let fmt: String = fields.iter().map(|f| format!("%{{{f}}} ")).collect();
    let out = std::process::Command::new(curl)
        .args(["-s", "-o", "/dev/null", "-w", &fmt, &server.url("/")])
        .output()
        .unwrap();
    let theirs: Vec<f64> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(|v| v.parse().unwrap())
        .collect();
    let mut body = Client::new().get(&server.url("/")).unwrap().into_body();
    std::io::copy(&mut body, &mut std::io::sink()).unwrap();
    let t = body.timings().unwrap();
    let ours = [
        t.namelookup(),
        t.connect(),
        t.pretransfer(),
        t.starttransfer(),
        t.total().unwrap(),
    ]
    .map(|d| d.as_secs_f64());
    eprintln!("curl: {theirs:?}\nours: {ours:?}");
    assert_eq!(theirs.len(), fields.len(), "curl printed every field");
    // Both follow the same definitions, so both are ordered the same way.
    for w in theirs.windows(2).chain(ours.windows(2)) {
        assert!(w[0] <= w[1], "curl {theirs:?} / ours {ours:?}");
    }
}

#[test]
fn https_request_keeps_curls_order_and_has_a_tls_phase() {
    let ca = Ca::new("timings test CA");
    let leaf = ca.leaf(&["localhost"], &[], None);
    let server = TlsServer::start(server_config(&leaf), 1, OK);
    let client = client_trusting_with(&ca, |c| c.proxy = ProxyConfig::Off);
    let url = format!("https://localhost:{}/", server.addr.port());
    let mut body = client.get(&url).unwrap().into_body();
    std::io::copy(&mut body, &mut std::io::sink()).unwrap();
    let t = body.timings().unwrap();
    let order = cumulative(&t);
    assert!(order.windows(2).all(|w| w[0] <= w[1]), "{order:?}");
    assert!(t.appconnect() > Duration::ZERO, "{order:?}");
    assert!(t.appconnect() >= t.connect(), "{order:?}");
    assert!(
        matches!(t.tls(), PhaseTime::Took(d) if d > Duration::ZERO),
        "{:?}",
        t.tls()
    );
    assert_eq!(t.tunnel(), PhaseTime::Skipped(Skipped::NoTunnel));
    assert_eq!(t.num_connects(), 1);
    assert_eq!(Some(phase_sum(&t)), t.total(), "{t:?}");
}

#[test]
fn a_connect_tunnel_is_a_phase_and_the_phases_add_up() {
    let ca = Ca::new("timings tunnel CA");
    let leaf = ca.leaf(&["localhost"], &[], None);
    let server = TlsServer::start(server_config(&leaf), 1, OK);
    let delay = Duration::from_millis(40);
    let proxy = format!("http://{}", slow_connect_proxy(delay));
    let client = client_trusting_with(&ca, |c| {
        c.proxy = ProxyConfig::Manual {
            http: None,
            https: Some(proxy),
            no_proxy: String::new(),
        }
    });
    let url = format!("https://localhost:{}/", server.addr.port());
    let mut body = client.get(&url).unwrap().into_body();
    std::io::copy(&mut body, &mut std::io::sink()).unwrap();
    let t = body.timings().unwrap();
    assert!(
        matches!(t.tunnel(), PhaseTime::Took(d) if d >= delay),
        "{:?}",
        t.tunnel()
    );
    assert!(t.tls().duration().is_some());
    // Without the tunnel phase the sum would fall short by the delay.
    assert_eq!(Some(phase_sum(&t)), t.total(), "{t:?}");
    let order = cumulative(&t);
    assert!(order.windows(2).all(|w| w[0] <= w[1]), "{order:?}");
    // curl: CONNECT lies between time_connect and time_appconnect.
    assert!(t.appconnect() - t.connect() >= delay, "{order:?}");
    assert_eq!(t.num_connects(), 1);
}

#[test]
fn num_connects_counts_new_connections_over_the_whole_redirect_chain() {
    let second = serve(vec![respond(vec![OK])]);
    let location = format!(
        "HTTP/1.1 302 Found\r\nLocation: {}\r\nContent-Length: 0\r\n\r\n",
        second.url("/there")
    );
    let location: &'static [u8] = Box::leak(location.into_bytes().into_boxed_slice());
    // The first server redirects twice on one connection: hop 2 reuses it.
    let first = serve(vec![respond(vec![
        b"HTTP/1.1 302 Found\r\nLocation: /again\r\nContent-Length: 0\r\n\r\n",
        location,
    ])]);
    let client = Client::builder()
        .configure(|c| {
            c.follow_redirects = true;
            c.proxy = ProxyConfig::Off;
        })
        .build();
    let mut body = client.get(&first.url("/")).unwrap().into_body();
    let mut text = String::new();
    body.read_to_string(&mut text).unwrap();
    assert_eq!(text, "hello");
    let t = body.timings().unwrap();
    assert_eq!(t.num_redirects(), 2);
    assert_eq!(
        t.num_connects(),
        2,
        "one per server, the reused one not again"
    );
}

/// Through a proxy dialed at an IP literal no name is looked up, whatever
/// the origin's name: the DNS phase is skipped as for an IP literal, not
/// left pending on a finished request.
#[test]
fn a_proxy_at_an_ip_literal_skips_the_lookup_for_a_named_origin() {
    let proxy = serve(vec![respond(vec![OK])]);
    let client = Client::builder()
        .configure(|c| {
            c.proxy = ProxyConfig::Manual {
                http: Some(proxy.url("")),
                https: None,
                no_proxy: String::new(),
            }
        })
        .build();
    let mut body = client.get("http://origin.example/x").unwrap().into_body();
    std::io::copy(&mut body, &mut std::io::sink()).unwrap();
    let t = body.timings().unwrap();
    assert_eq!(t.dns(), PhaseTime::Skipped(Skipped::IpLiteral), "{t:?}");
    assert!(t.tcp_connect().duration().is_some());
    let seen = proxy.requests.lock().unwrap().clone();
    let first = String::from_utf8_lossy(&seen[0]).into_owned();
    assert!(
        first.starts_with("GET http://origin.example/x HTTP/1.1\r\n"),
        "{first:?}"
    );
}

/// A request retried on a new connection after its reused one died
/// unanswered reports the attempt that answered: a fresh connect to an IP
/// literal, so no lookup (`Skipped(IpLiteral)`), not a reused connection.
#[test]
fn a_retry_to_an_ip_literal_reports_its_new_connection_without_a_lookup() {
    let dies_unanswered: support::Script = Box::new(|mut s, reqs| {
        reqs.lock().unwrap().push(support::read_request(&mut s));
        s.write_all(OK).unwrap();
        // The second request is read and left unanswered: the connection
        // closes before any response byte.
        reqs.lock().unwrap().push(support::read_request(&mut s));
    });
    let server = serve(vec![dies_unanswered, respond(vec![OK])]);
    let client = Client::new();
    let first = client.get(&server.url("/1")).unwrap().into_body().bytes();
    assert_eq!(first.unwrap(), b"hello");
    let mut body = client.get(&server.url("/2")).unwrap().into_body();
    std::io::copy(&mut body, &mut std::io::sink()).unwrap();
    let t = body.timings().unwrap();
    assert_eq!(t.dns(), PhaseTime::Skipped(Skipped::IpLiteral), "{t:?}");
    assert!(t.tcp_connect().duration().is_some(), "{t:?}");
    assert_eq!(
        server.requests.lock().unwrap().len(),
        3,
        "the retry was sent"
    );
    drop(body);
    drop(client);
    server.join();
}

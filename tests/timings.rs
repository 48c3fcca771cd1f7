//! The Timings summary cross-checked against the same request's own event
//! timestamps, and its two views kept consistent (issue #6).

#![forbid(unsafe_code)]

mod support;

use std::sync::{Arc, Mutex};
use std::time::Instant;

use roundtrip::{Client, PhaseTime, Skipped, Trace};
use support::{respond, serve};

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
    assert_eq!(t.num_connects(), 1);
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

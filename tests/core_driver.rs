//! The same requests through `Client` and through the drivers of the
//! public sans-IO `roundtrip::core::Core` in the examples, run here as they
//! are there: the std-socket loop of examples/drive_blocking.rs
//! (examples/support/blocking.rs) and the tokio loop of
//! examples/drive_tokio.rs (examples/support/tokio_driver.rs). All three
//! must produce the same trace (event names and key fields, times and
//! ephemeral ports aside), since they run the same core and the events
//! come from one place. Plain HTTP with a DNS lookup, a pooled second
//! request, HTTPS, and a DNS query that times out and is asked again. Then
//! the core alone, driven by hand on a virtual clock: a round trip, a retry,
//! and a DNS query over TCP written in two pieces.

#![forbid(unsafe_code)]

#[path = "../examples/support/blocking.rs"]
mod blocking;
mod support;
#[allow(dead_code)] // `get`: drivers_agree.rs uses it
#[path = "../examples/support/tokio_driver.rs"]
mod tokio_driver;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use roundtrip::core::{BodyRead, Core, Io, Ready, SockId};
use roundtrip::proxy::ProxyConfig;
use roundtrip::{Config, Trace};
use support::compare::{config, http_server, recorder, starts, via_client};
use support::dns::{DnsServer, Zone};
use support::tls::{server_config, Ca, TlsServer};

/// A driver of the examples: (config, trace, urls) to (status, body) each.
type Driver =
    fn(Config, Trace, &[String]) -> Result<Vec<(u16, String)>, Box<dyn std::error::Error>>;

const DRIVERS: [(&str, Driver); 2] = [
    ("blocking", blocking::get_all),
    ("tokio", tokio_driver::get_all),
];

/// The requests through `Client`, then through each driver of the
/// examples: the same responses and the same trace. `before_each` runs
/// before every run (a server's script that counts queries starts over).
/// Returns `Client`'s trace.
fn assert_same(config: &Config, urls: &[String], before_each: impl Fn()) -> Vec<String> {
    before_each();
    let (client_events, client_out) = via_client(config, urls);
    assert_eq!(client_out.len(), urls.len());
    for (name, driver) in DRIVERS {
        before_each();
        let (log, trace) = recorder();
        let out = driver(config.clone(), trace, urls).unwrap_or_else(|e| panic!("{name}: {e}"));
        let events = log.lock().unwrap().clone();
        assert_eq!(client_out, out, "{name}");
        assert_eq!(
            client_events,
            events,
            "Client:\n{}\n\n{name}:\n{}",
            client_events.join("\n"),
            events.join("\n")
        );
    }
    client_events
}

#[test]
fn plain_get_then_a_pooled_second_traces_the_same() {
    let dns = DnsServer::start(Zone::new().a("origin.test", "127.0.0.1", 60).script());
    let port = http_server();
    let url = format!("http://origin.test:{port}/");
    let events = assert_same(&config(&dns), &[url.clone(), url], || {});
    assert_eq!(starts(&events, "request_done"), 2);
    assert_eq!(starts(&events, "connect_start"), 1, "{events:#?}");
    assert!(events
        .iter()
        .any(|e| e.starts_with("got_conn req=Some(RequestId(2))") && e.contains(" true ")));
    assert!(events.iter().any(|e| e.starts_with("conn_closed")));
}

#[test]
fn https_get_traces_the_same() {
    let dns = DnsServer::start(Zone::new().a("tls.test", "127.0.0.1", 60).script());
    let ca = Ca::new("core driver test CA");
    let leaf = ca.leaf(&["tls.test"], &[], None);
    let ok: &'static [u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    // One connection for the client's request, one for each driver's.
    let tls = TlsServer::start(server_config(&leaf), 1 + DRIVERS.len(), ok);
    let mut config = config(&dns);
    config.tls_ca_files = vec![ca.pem_path.clone()];
    config.tls_builtin_roots = false;
    let url = format!("https://tls.test:{}/", tls.addr.port());
    let events = assert_same(&config, &[url], || {});
    assert_eq!(starts(&events, "tls_handshake_done"), 1);
    assert!(events
        .iter()
        .any(|e| e == "tls_handshake_done req=Some(RequestId(1)) resend=0 hop=0 true false"));
    tls.join();
}

#[test]
fn a_dns_query_that_times_out_is_asked_again_the_same_way() {
    // The first A query of each run goes unanswered; the second gets the
    // address. One server for every run (its address is in the trace),
    // its count started over before each.
    let zone = Zone::new().a("retry.test", "127.0.0.1", 60);
    let a_queries = Arc::new(AtomicUsize::new(0));
    let counter = a_queries.clone();
    let dns = DnsServer::start(move |q| {
        if q.type_name() == "A" && counter.fetch_add(1, Ordering::SeqCst) == 0 {
            Vec::new()
        } else {
            vec![support::dns::Act::Send(zone.answer(q).bytes())]
        }
    });
    let port = http_server();
    let mut config = config(&dns);
    config.dns_timeout = Some(Duration::from_millis(200));
    config.dns_attempts = Some(2);
    let url = format!("http://retry.test:{port}/");
    let events = assert_same(&config, &[url], || a_queries.store(0, Ordering::SeqCst));
    assert_eq!(starts(&events, "dns_query_start"), 3, "{events:#?}");
    assert_eq!(starts(&events, "request_done"), 1);
}

/// The core alone, on a virtual clock, with no socket at all: the driver
/// here is the test itself, answering each `Io` by hand. Every event is
/// stamped with the instant passed in, never with a clock the core read.
#[test]
fn a_round_trip_in_memory_on_a_virtual_clock() {
    let t0 = Instant::now();
    let log: Arc<Mutex<Vec<(String, Duration)>>> = Arc::default();
    let l = log.clone();
    let trace = Trace::new().on_event(move |e| {
        l.lock()
            .unwrap()
            .push((e.kind.name().to_string(), e.at.duration_since(t0)))
    });
    let mut config = Config::default();
    config.proxy = ProxyConfig::Off;
    let mut core = Core::new(config, trace);
    let ms = Duration::from_millis;

    // An address literal: no lookup, straight to the connect.
    let req = http::Request::get("http://192.0.2.1:8080/x").body(().into());
    let id = core.submit(req.unwrap(), Trace::new(), t0);
    let sock = match core.poll_io() {
        Some(Io::Connect { sock, addr }) => {
            assert_eq!(addr, "192.0.2.1:8080".parse().unwrap());
            sock
        }
        other => panic!("expected a connect, got {other:?}"),
    };
    assert_eq!(core.poll_io(), None);
    assert!(core.is_connecting(sock));
    assert!(
        core.poll_timeout().is_some(),
        "the connect timeout is armed"
    );

    core.handle_connected(sock, "198.51.100.7:40000".parse().unwrap(), t0 + ms(10));
    assert_eq!(core.poll_io(), Some(Io::Send { sock }));
    let (head, body) = core.send_buf(sock).unwrap();
    let sent = [head, body].concat();
    assert!(sent.starts_with(b"GET /x HTTP/1.1\r\n"), "{sent:?}");
    core.handle_sent(sock, sent.len(), t0 + ms(11));
    assert_eq!(core.poll_io(), None, "nothing to read until readable");

    core.handle_ready(
        sock,
        Ready {
            readable: true,
            writable: true,
            hup: false,
        },
        t0 + ms(30),
    );
    assert_eq!(core.poll_io(), Some(Io::Recv { sock }));
    let response = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    let space = core.recv_buf(sock).unwrap();
    space[..response.len()].copy_from_slice(response);
    core.handle_received(sock, response.len(), t0 + ms(30));
    // A short read emptied the socket: no further read is asked for.
    assert_eq!(core.poll_io(), None);
    let head = core.take_outcome(id, t0 + ms(31)).unwrap().unwrap();
    assert_eq!(head.status, 200);
    let mut buf = [0u8; 16];
    assert_eq!(
        core.read_body(id, &mut buf, t0 + ms(32)).unwrap(),
        BodyRead::Data(2)
    );
    assert_eq!(&buf[..2], b"ok");
    assert_eq!(
        core.read_body(id, &mut buf, t0 + ms(32)).unwrap(),
        BodyRead::End
    );
    core.release(id, t0 + ms(33));
    assert_eq!(core.poll_io(), None, "the connection went to the pool");
    assert_eq!(core.idle_conns(), 1);

    // The idle timeout (counted from the end of the body, when the
    // connection went idle) closes it, when the caller's clock says so. A
    // deadline may be early (a request's timers are dropped lazily): then
    // the call is harmless and the next deadline is later.
    let idle_timeout = Config::default().idle_timeout;
    let mut woken = Vec::new();
    let close = loop {
        let t = core.poll_timeout().expect("the idle timeout is armed");
        assert!(
            woken.last().is_none_or(|&w| w < t),
            "deadlines move forward"
        );
        woken.push(t);
        core.handle_timeout(t);
        if let Some(io) = core.poll_io() {
            break (io, t);
        }
        assert!(woken.len() < 10, "{woken:?}");
    };
    assert_eq!(close, (Io::Close { sock }, t0 + ms(32) + idle_timeout));
    assert_eq!(core.poll_io(), None);
    assert_eq!((core.idle_conns(), core.open_sockets()), (0, 0));

    let events = log.lock().unwrap().clone();
    let at = |name: &str| {
        events
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no {name} in {events:?}"))
            .1
    };
    assert_eq!(at("get_conn"), Duration::ZERO);
    assert_eq!(at("connect_done"), ms(10));
    assert_eq!(at("wrote_request"), ms(11));
    assert_eq!(at("got_first_response_byte"), ms(30));
    assert_eq!(at("conn_closed"), ms(32) + idle_timeout);
    assert_eq!(events.last().unwrap().0, "conn_closed");
}

/// Every `Io` the core asks for right now.
fn ios(core: &mut Core) -> Vec<Io> {
    std::iter::from_fn(|| core.poll_io()).collect()
}

/// The core lets a caller read a body before taking its head. For a
/// redirect that means the 3xx was read whole and the request has ended:
/// taking the head afterwards must not start a hop (a second
/// `request_done`; found by the core_driver fuzz target).
#[test]
fn a_redirect_read_to_its_end_before_its_head_is_taken_is_final() {
    let t0 = Instant::now();
    let mut config = Config::default();
    config.proxy = ProxyConfig::Off;
    config.follow_redirects = true;
    let names: Arc<Mutex<Vec<&'static str>>> = Arc::default();
    let n = names.clone();
    let mut core = Core::new(
        config,
        Trace::new().on_event(move |e| n.lock().unwrap().push(e.kind.name())),
    );
    let req = http::Request::get("http://192.0.2.1/old").body(().into());
    let id = core.submit(req.unwrap(), Trace::new(), t0);
    let Some(Io::Connect { sock, .. }) = core.poll_io() else {
        panic!("expected a connect")
    };
    core.handle_connected(sock, "198.51.100.7:40000".parse().unwrap(), t0);
    let sent = core.send_buf(sock).map(|(h, b)| h.len() + b.len()).unwrap();
    core.handle_sent(sock, sent, t0);
    let moved = b"HTTP/1.1 301 Moved\r\nLocation: /new\r\nContent-Length: 2\r\n\r\nmv";
    core.handle_ready(sock, Ready::BOTH, t0);
    assert_eq!(core.poll_io(), Some(Io::Recv { sock }));
    core.recv_buf(sock).unwrap()[..moved.len()].copy_from_slice(moved);
    core.handle_received(sock, moved.len(), t0);
    let mut buf = [0u8; 8];
    assert_eq!(core.read_body(id, &mut buf, t0).unwrap(), BodyRead::Data(2));
    assert_eq!(core.read_body(id, &mut buf, t0).unwrap(), BodyRead::End);
    let head = core.take_outcome(id, t0).unwrap().unwrap();
    assert_eq!(head.status, 301);
    while core.poll_io().is_some() {}
    let names = names.lock().unwrap();
    assert_eq!(
        names.iter().filter(|n| **n == "request_done").count(),
        1,
        "{names:?}"
    );
    assert!(!names.contains(&"redirect"), "{names:?}");
    core.release(id, t0);
}

/// A request released while its lookup is still waiting for answers takes
/// the lookup with it: the DNS sockets are closed at once, not left until
/// the per-try timeouts run out.
#[test]
fn releasing_a_request_mid_lookup_closes_its_dns_sockets() {
    let t0 = Instant::now();
    let mut config = Config::default();
    config.proxy = ProxyConfig::Off;
    (config.resolv_conf, config.hosts_file) = (None, None);
    config.dns_servers = Some(vec!["192.0.2.53:53".parse().unwrap()]);
    config.dns_search = Some(Vec::new());
    let mut core = Core::new(config, Trace::new());
    let req = http::Request::get("http://slow.test/").body(().into());
    let id = core.submit(req.unwrap(), Trace::new(), t0);
    let queries: Vec<SockId> = ios(&mut core)
        .into_iter()
        .filter_map(|io| match io {
            Io::SendDatagram { sock, .. } => Some(sock),
            _ => None,
        })
        .collect();
    assert_eq!(queries.len(), 2, "AAAA and A asked");
    assert_eq!(core.open_sockets(), 2);

    core.release(id, t0 + Duration::from_millis(5));
    let mut closed: Vec<SockId> = ios(&mut core)
        .into_iter()
        .filter_map(|io| match io {
            Io::Close { sock } => Some(sock),
            _ => None,
        })
        .collect();
    closed.sort_by_key(|s| format!("{s:?}"));
    let mut want = queries.clone();
    want.sort_by_key(|s| format!("{s:?}"));
    assert_eq!(closed, want);
    assert_eq!(core.open_sockets(), 0);
    // Nothing is left to time out.
    assert_eq!(core.poll_timeout(), None);
}

/// A truncated UDP answer sends the query again over TCP; the driver writes
/// it in two pieces (a short write, as a full socket buffer gives), and the
/// core must send the rest, not the start again, before the answer is read.
#[test]
fn a_dns_query_over_tcp_written_in_two_pieces() {
    let t0 = Instant::now();
    let ms = Duration::from_millis;
    let server: std::net::SocketAddr = "192.0.2.53:53".parse().unwrap();
    let (log, trace) = recorder();
    let mut config = Config::default();
    config.proxy = ProxyConfig::Off;
    config.resolv_conf = None;
    config.hosts_file = None;
    config.dns_servers = Some(vec![server]);
    config.dns_search = Some(Vec::new());
    // No OPT record: the question is then the query's last bytes.
    config.dns_udp_payload = None;
    let mut core = Core::new(config, trace);
    let req = http::Request::get("http://big.test:8080/x").body(().into());
    core.submit(req.unwrap(), Trace::new(), t0);

    // QTYPE is the two bytes before QCLASS, at the end of the query.
    let qtype = |query: &[u8]| query[query.len() - 3];
    let datagrams: Vec<(SockId, Vec<u8>)> = ios(&mut core)
        .into_iter()
        .filter_map(|io| match io {
            Io::SendDatagram { sock, payload, .. } => Some((sock, payload)),
            _ => None,
        })
        .collect();
    assert_eq!(datagrams.len(), 2, "AAAA and A");
    for (sock, query) in &datagrams {
        let mut reply = query.clone();
        // QR; for A also TC: the answer did not fit.
        reply[2] |= if qtype(query) == 1 { 0x82 } else { 0x80 };
        core.handle_datagram(*sock, server, &reply, t0 + ms(1));
    }
    let tcp = ios(&mut core)
        .into_iter()
        .find_map(|io| match io {
            Io::Connect { sock, addr } if addr == server => Some(sock),
            _ => None,
        })
        .expect("the A query is asked again over TCP");
    core.handle_connected(tcp, "198.51.100.7:40000".parse().unwrap(), t0 + ms(2));
    assert_eq!(ios(&mut core), [Io::Send { sock: tcp }]);
    let whole = core.send_buf(tcp).unwrap().0.to_vec();
    let query = whole[2..].to_vec();
    assert_eq!(
        usize::from(u16::from_be_bytes([whole[0], whole[1]])),
        query.len()
    );
    assert_eq!(qtype(&query), 1);
    core.handle_sent(tcp, 5, t0 + ms(3));
    assert_eq!(
        ios(&mut core),
        [Io::Send { sock: tcp }],
        "the rest is asked for"
    );
    assert_eq!(core.send_buf(tcp).unwrap(), (&whole[5..], &[][..]));
    core.handle_sent(tcp, whole.len() - 5, t0 + ms(4));
    assert!(core.send_buf(tcp).is_none(), "all written");
    assert_eq!(ios(&mut core), [], "nothing to read until readable");

    // The answer: the query with QR set and one A record (a pointer to the
    // question's name, A, IN, TTL 60, 192.0.2.1).
    let mut answer = query.clone();
    answer[2] |= 0x80;
    answer[7] = 1;
    answer.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]);
    let mut framed = (answer.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&answer);
    let ready = Ready {
        readable: true,
        writable: true,
        hup: false,
    };
    core.handle_ready(tcp, ready, t0 + ms(5));
    assert_eq!(ios(&mut core), [Io::Recv { sock: tcp }]);
    core.recv_buf(tcp).unwrap()[..framed.len()].copy_from_slice(&framed);
    core.handle_received(tcp, framed.len(), t0 + ms(5));
    let connect = ios(&mut core).into_iter().find_map(|io| match io {
        Io::Connect { addr, .. } => Some(addr),
        _ => None,
    });
    assert_eq!(connect, Some("192.0.2.1:8080".parse().unwrap()));

    let events = log.lock().unwrap().clone();
    let dns: Vec<&String> = events.iter().filter(|e| e.starts_with("dns_")).collect();
    assert!(
        dns.iter()
            .any(|e| e.starts_with("dns_query_start") && e.contains("tcp")),
        "{dns:?}"
    );
    assert!(
        dns.last().is_some_and(|e| e.starts_with("dns_done")),
        "{dns:?}"
    );
}

/// A pooled connection that turns out closed when the request meets it is
/// retried on a new one, and the retry's lookup is answered at once by the
/// hosts table. The retry starts while the core hands the EOF to the
/// exchange, outside any pump: its lookup must still find its request
/// (a lost `Done` event left the request waiting forever; seen as a flaky
/// hang in tests/tls_faults.rs).
#[test]
fn a_retry_whose_lookup_answers_at_once_goes_on() {
    let t0 = Instant::now();
    let ms = Duration::from_millis;
    let mut config = Config::default();
    config.proxy = ProxyConfig::Off;
    config.hosts_file = None;
    config.hosts = vec![("pinned.test".into(), "192.0.2.1".parse().unwrap())];
    let names: Arc<Mutex<Vec<&'static str>>> = Arc::default();
    let n = names.clone();
    let mut core = Core::new(
        config,
        Trace::new().on_event(move |e| n.lock().unwrap().push(e.kind.name())),
    );
    let url = "http://pinned.test:8080/";
    let readable = Ready {
        readable: true,
        writable: true,
        hup: false,
    };
    let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

    // The first request: lookup, connect, send, receive, pooled.
    let id = core.submit(
        http::Request::get(url).body(().into()).unwrap(),
        Trace::new(),
        t0,
    );
    let Some(Io::Connect { sock, .. }) = core.poll_io() else {
        panic!("expected a connect: {:?}", names.lock().unwrap())
    };
    core.handle_connected(sock, "198.51.100.7:40000".parse().unwrap(), t0 + ms(1));
    assert_eq!(core.poll_io(), Some(Io::Send { sock }));
    let n = core.send_buf(sock).map(|(h, b)| h.len() + b.len()).unwrap();
    core.handle_sent(sock, n, t0 + ms(2));
    core.handle_ready(sock, readable, t0 + ms(3));
    assert_eq!(core.poll_io(), Some(Io::Recv { sock }));
    core.recv_buf(sock).unwrap()[..ok.len()].copy_from_slice(ok);
    core.handle_received(sock, ok.len(), t0 + ms(3));
    assert_eq!(core.poll_io(), None);
    assert_eq!(
        core.take_outcome(id, t0 + ms(4)).unwrap().unwrap().status,
        200
    );
    let mut buf = [0u8; 8];
    while core.read_body(id, &mut buf, t0 + ms(4)).unwrap() != BodyRead::End {}
    core.release(id, t0 + ms(4));
    assert_eq!(core.poll_io(), None);
    assert_eq!(core.idle_conns(), 1);

    // The second request is written to the pooled connection, which the
    // server had closed: EOF before any response byte.
    let id = core.submit(
        http::Request::get(url).body(().into()).unwrap(),
        Trace::new(),
        t0 + ms(10),
    );
    assert_eq!(core.poll_io(), Some(Io::Send { sock }));
    let n = core.send_buf(sock).map(|(h, b)| h.len() + b.len()).unwrap();
    core.handle_sent(sock, n, t0 + ms(10));
    core.handle_ready(sock, readable, t0 + ms(11));
    assert_eq!(core.poll_io(), Some(Io::Recv { sock }));
    core.recv_buf(sock).unwrap();
    core.handle_received(sock, 0, t0 + ms(11));
    // The retry: the old socket closes and a new connect starts.
    let mut ios = Vec::new();
    while let Some(io) = core.poll_io() {
        ios.push(io);
    }
    assert!(
        ios.iter().any(|io| matches!(io, Io::Connect { .. })),
        "the retry never connected: {ios:?}\n{:?}",
        names.lock().unwrap()
    );
    core.release(id, t0 + ms(12));
    let names = names.lock().unwrap();
    let retry = names.iter().position(|n| *n == "retry").expect("a retry");
    assert_eq!(
        names[retry..].iter().filter(|n| **n == "dns_done").count(),
        1,
        "{names:?}"
    );
}

/// tokio drives `examples/drive_tokio.rs` and is a dev-dependency for
/// that: it must never reach the library's users.
#[test]
fn tokio_is_not_in_the_library_dependency_tree() {
    let out = std::process::Command::new(env!("CARGO"))
        .args(["tree", "--offline", "-e", "normal", "-p", "roundtrip"])
        .args(["--prefix", "none", "--manifest-path"])
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
        .output()
        .expect("running cargo tree");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8_lossy(&out.stdout);
    assert!(tree.contains("rustls"), "a real tree:\n{tree}");
    assert!(!tree.lines().any(|l| l.starts_with("tokio")), "{tree}");
}

//! `roundtrip::core::SocketDriver`, the socket-interest mode after curl's
//! `multi_socket`, driven by the test's own `mio::Poll`: the driver owns
//! the sockets and reports which descriptors to watch; the test registers
//! them (`SourceFd`, edge-triggered, as the contract asks), waits, and
//! reports readiness and time. The trace must match `Client`'s event for
//! event, every descriptor watched must be unwatched, and the requests
//! must complete: plain HTTP through a lookup with a pooled second
//! request, HTTPS, a DNS retry on the caller's timer, a refused connect.

#![cfg(unix)]
#![forbid(unsafe_code)]

mod support;

use std::collections::{HashMap, HashSet};
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Poll, Token};
use roundtrip::core::{BodyRead, Interest, Ready, SocketDriver};
use roundtrip::{Config, Trace};
use support::compare::{config, http_server, recorder, starts, via_client};
use support::dns::{Act, DnsServer, Zone};
use support::tls::{server_config, Ca, TlsServer};

/// The caller's side: a poll and the descriptors it was asked to watch.
struct Watcher {
    poll: Poll,
    events: Events,
    watched: HashSet<RawFd>,
    /// Every change, in order, for the leak check.
    log: Vec<Interest>,
}

impl Watcher {
    fn new() -> Watcher {
        Watcher {
            poll: Poll::new().unwrap(),
            events: Events::with_capacity(64),
            watched: HashSet::new(),
            log: Vec::new(),
        }
    }

    /// Applies every interest change the driver has.
    fn apply(&mut self, driver: &mut SocketDriver) {
        while let Some(change) = driver.poll_interest() {
            self.log.push(change);
            let registry = self.poll.registry();
            match change {
                Interest::Watch {
                    fd,
                    readable,
                    writable,
                } => {
                    let interest = match (readable, writable) {
                        (true, true) => mio::Interest::READABLE | mio::Interest::WRITABLE,
                        (true, false) => mio::Interest::READABLE,
                        (false, true) => mio::Interest::WRITABLE,
                        (false, false) => panic!("a watch for nothing on {fd}"),
                    };
                    let token = Token(fd as usize);
                    if self.watched.insert(fd) {
                        registry.register(&mut SourceFd(&fd), token, interest)
                    } else {
                        registry.reregister(&mut SourceFd(&fd), token, interest)
                    }
                    .unwrap();
                }
                Interest::Unwatch { fd } => {
                    assert!(self.watched.remove(&fd), "unwatch of {fd}, never watched");
                    // The descriptor is still open: deregistering works.
                    registry.deregister(&mut SourceFd(&fd)).unwrap();
                }
            }
        }
    }

    /// One wait: until readiness or the driver's deadline, then the news.
    fn wait(&mut self, driver: &mut SocketDriver, timeout: Option<Duration>) {
        self.apply(driver);
        let timeout = timeout.or_else(|| {
            driver
                .poll_timeout()
                .map(|t| t.saturating_duration_since(Instant::now()))
        });
        assert!(
            timeout.is_some() || !self.watched.is_empty(),
            "nothing to wait for"
        );
        match self.poll.poll(&mut self.events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => panic!("poll: {e}"),
        }
        let now = Instant::now();
        let ready: Vec<(RawFd, Ready)> = self
            .events
            .iter()
            .map(|ev| {
                let ready = Ready {
                    readable: ev.is_readable() || ev.is_read_closed() || ev.is_error(),
                    writable: ev.is_writable() || ev.is_write_closed() || ev.is_error(),
                    hup: ev.is_read_closed() || ev.is_error(),
                };
                (ev.token().0 as RawFd, ready)
            })
            .collect();
        for (fd, ready) in ready {
            driver.handle_readiness(fd, ready, now);
            self.apply(driver);
        }
        driver.handle_timeout(now);
        self.apply(driver);
    }
}

/// The requests through a `SocketDriver` and the test's poll: the events,
/// (status, body) of each, and the interest changes.
fn via_socket_driver(
    config: &Config,
    urls: &[String],
) -> (Vec<String>, Vec<(u16, String)>, Vec<Interest>) {
    let (log, trace) = recorder();
    let mut driver = SocketDriver::new(config.clone(), trace);
    let mut w = Watcher::new();
    let mut out = Vec::new();
    for url in urls {
        if driver.core().idle_check_due(Instant::now()) {
            // As `Client` does: news of a closed idle connection first.
            w.wait(&mut driver, Some(Duration::ZERO));
        }
        let req = http::Request::get(url.as_str()).body(().into()).unwrap();
        let id = driver.submit(req, Trace::new(), Instant::now());
        let head = loop {
            w.apply(&mut driver);
            if let Some(outcome) = driver.take_outcome(id, Instant::now()) {
                break outcome.unwrap();
            }
            w.wait(&mut driver, None);
        };
        let mut body = Vec::new();
        let mut buf = [0u8; 1024];
        loop {
            match driver.read_body(id, &mut buf, Instant::now()).unwrap() {
                BodyRead::Data(n) => body.extend_from_slice(&buf[..n]),
                BodyRead::End => break,
                BodyRead::Pending => w.wait(&mut driver, None),
            }
        }
        driver.release(id, Instant::now());
        w.apply(&mut driver);
        out.push((head.status.as_u16(), String::from_utf8(body).unwrap()));
    }
    driver.shutdown(Instant::now());
    w.apply(&mut driver);
    assert_eq!(
        driver.core().open_sockets(),
        0,
        "sockets left after shutdown"
    );
    assert!(w.watched.is_empty(), "still watched: {:?}", w.watched);
    assert_eq!(driver.poll_interest(), None);
    drop(driver);
    let events = log.lock().unwrap().clone();
    (events, out, w.log)
}

/// Every `Watch` is followed, later, by an `Unwatch` of the same
/// descriptor before any new `Watch` of it: no leak, no confusion.
fn assert_balanced(log: &[Interest]) {
    let mut open: HashMap<RawFd, usize> = HashMap::new();
    for change in log {
        match *change {
            Interest::Watch { fd, .. } => {
                assert!(open.insert(fd, 1).is_none(), "{fd} watched twice: {log:?}")
            }
            Interest::Unwatch { fd } => {
                assert!(open.remove(&fd).is_some(), "{fd} unwatched twice: {log:?}")
            }
        }
    }
    assert!(open.is_empty(), "never unwatched: {open:?} in {log:?}");
}

fn assert_same(config: &Config, urls: &[String]) -> (Vec<String>, Vec<Interest>) {
    let (client_events, client_out) = via_client(config, urls);
    let (events, out, interest) = via_socket_driver(config, urls);
    assert_eq!(client_out, out);
    assert!(out
        .iter()
        .all(|(status, body)| *status == 200 && body == "ok"));
    assert_eq!(
        client_events,
        events,
        "Client:\n{}\n\nSocketDriver:\n{}",
        client_events.join("\n"),
        events.join("\n")
    );
    assert_balanced(&interest);
    (events, interest)
}

#[test]
fn plain_get_through_a_lookup_then_a_pooled_second_traces_like_client() {
    let dns = DnsServer::start(Zone::new().a("origin.test", "127.0.0.1", 60).script());
    let port = http_server();
    let url = format!("http://origin.test:{port}/");
    let (events, interest) = assert_same(&config(&dns), &[url.clone(), url]);
    assert_eq!(starts(&events, "request_done"), 2);
    assert_eq!(starts(&events, "connect_start"), 1, "{events:#?}");
    assert!(events
        .iter()
        .any(|e| e.starts_with("got_conn req=Some(RequestId(2))") && e.contains(" true ")));
    assert!(events.iter().any(|e| e.starts_with("conn_closed")));
    // The UDP sockets of the lookup (A and AAAA), watched for reading
    // only, and the one TCP connection, watched both ways.
    let watches: Vec<(bool, bool)> = interest
        .iter()
        .filter_map(|i| match *i {
            Interest::Watch {
                readable, writable, ..
            } => Some((readable, writable)),
            Interest::Unwatch { .. } => None,
        })
        .collect();
    assert_eq!(
        watches.iter().filter(|w| **w == (true, true)).count(),
        1,
        "{interest:?}"
    );
    assert!(watches.contains(&(true, false)), "{interest:?}");
}

#[test]
fn https_get_traces_like_client() {
    let dns = DnsServer::start(Zone::new().a("tls.test", "127.0.0.1", 60).script());
    let ca = Ca::new("socket interest test CA");
    let leaf = ca.leaf(&["tls.test"], &[], None);
    let ok: &'static [u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    // One connection for the client's request, one for the driver's.
    let tls = TlsServer::start(server_config(&leaf), 2, ok);
    let mut config = config(&dns);
    config.tls_ca_files = vec![ca.pem_path.clone()];
    config.tls_builtin_roots = false;
    let url = format!("https://tls.test:{}/", tls.addr.port());
    let (events, _) = assert_same(&config, &[url]);
    assert!(events
        .iter()
        .any(|e| e == "tls_handshake_done req=Some(RequestId(1)) resend=0 hop=0 true false"));
    tls.join();
}

#[test]
fn a_dns_query_that_times_out_is_asked_again_on_the_callers_timer() {
    // The first A query goes unanswered: only the driver's deadline
    // (poll_timeout, then handle_timeout) gets the lookup going again.
    let zone = Zone::new().a("retry.test", "127.0.0.1", 60);
    let a_queries = AtomicUsize::new(0);
    let dns = DnsServer::start(move |q| {
        if q.type_name() == "A" && a_queries.fetch_add(1, Ordering::SeqCst) % 2 == 0 {
            Vec::new()
        } else {
            vec![Act::Send(zone.answer(q).bytes())]
        }
    });
    let port = http_server();
    let mut config = config(&dns);
    config.dns_timeout = Some(Duration::from_millis(200));
    config.dns_attempts = Some(2);
    let url = format!("http://retry.test:{port}/");
    let (events, _) = assert_same(&config, &[url]);
    assert_eq!(starts(&events, "dns_query_start"), 3, "{events:#?}");
    assert_eq!(starts(&events, "request_done"), 1);
}

#[test]
fn a_refused_connect_is_reported_and_its_descriptor_unwatched() {
    // A port nobody listens on: the connect fails on readiness.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut c = Config::default();
    c.proxy = roundtrip::proxy::ProxyConfig::Off;
    let (_log, trace) = recorder();
    let mut driver = SocketDriver::new(c, trace);
    let mut w = Watcher::new();
    let url = format!("http://127.0.0.1:{port}/");
    let req = http::Request::get(url.as_str()).body(().into()).unwrap();
    let id = driver.submit(req, Trace::new(), Instant::now());
    let outcome = loop {
        w.apply(&mut driver);
        if let Some(outcome) = driver.take_outcome(id, Instant::now()) {
            break outcome;
        }
        w.wait(&mut driver, None);
    };
    let err = outcome.unwrap_err();
    assert!(
        matches!(err.kind(), roundtrip::ErrorKind::ConnectFailed(_)),
        "{err}"
    );
    driver.release(id, Instant::now());
    w.apply(&mut driver);
    assert!(w.watched.is_empty(), "still watched: {:?}", w.watched);
    assert_balanced(&w.log);
    assert_eq!(w.log.len(), 2, "{:?}", w.log);
}

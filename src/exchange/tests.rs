//! Simulation tests: an exchange driven with a virtual clock and a scripted
//! network, no sockets and no sleeping (DESIGN.md testing layer 2). The
//! `Net` below plays the runtime's part: it performs actions, "writes" all
//! pending bytes, and feeds scripted response bytes.

use std::time::{Duration, Instant};

use super::*;
use crate::dns::Hosts;
use crate::send_body::SendBody;

/// A resolver that only knows `hosts`: its DNS servers are never reached
/// (a loopback port nothing answers on), so a miss would fail the test.
fn resolver(hosts: Hosts) -> Resolver {
    let mut settings = Config::default().dns_settings();
    settings.nameservers = vec!["127.0.0.1:9".parse().unwrap()];
    Resolver::new(settings, hosts, 1)
}

struct Net {
    config: Config,
    pool: Pool,
    resolver: Resolver,
    client_trace: Trace,
    ids: Ids,
    spare_bufs: crate::exchange::Spares,
    families: crate::dial::FamilyMemory,
    tls: crate::tls::TlsSetup,
    proxies: std::result::Result<crate::proxy::Proxies, Error>,
    sent: Vec<u8>,
    actions: Vec<Action>,
    events: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

macro_rules! ctx {
    ($n:expr) => {
        &mut crate::exchange::ctx_from!($n)
    };
}

impl Net {
    fn new() -> Net {
        let config = Config {
            hosts_file: None,
            ..Config::default()
        };
        Net {
            pool: Pool::new(8, 100, config.idle_timeout),
            resolver: resolver(Hosts::parse("127.0.0.1 origin.test\n")),
            config,
            client_trace: Trace::new(),
            ids: Ids::default(),
            spare_bufs: crate::exchange::Spares::default(),
            families: crate::dial::FamilyMemory::new(16, Duration::from_secs(600)),
            tls: crate::tls::TlsSetup::default(),
            proxies: Ok(crate::proxy::Proxies::default()),
            sent: Vec::new(),
            actions: Vec::new(),
            events: Default::default(),
        }
    }

    fn exchange(&mut self, req: http::Request<SendBody>) -> Box<Exchange> {
        let events = self.events.clone();
        let trace =
            Trace::new().on_event(move |e| events.lock().unwrap().push(e.kind.name().to_owned()));
        let (parts, body) = req.into_parts();
        Exchange::new(
            RequestId(1),
            parts,
            body,
            trace,
            None,
            &self.config,
            Instant::now(),
        )
        .map_err(|(e, _)| e)
        .unwrap()
    }

    /// Plays the runtime: drain actions, route lookups, write everything.
    fn step(&mut self, ex: &mut Exchange, now: Instant) {
        loop {
            let mut progress = false;
            while let Some(a) = ex.poll_action() {
                self.actions.push(a);
                progress = true;
            }
            if let Some(q) = ex.take_new_query() {
                while let Some(event) = self.resolver.poll_event() {
                    assert_eq!(event.lookup(), q);
                    ex.handle_dns_event(event, ctx!(self), now);
                }
                progress = true;
            }
            if let Some((_, head, body)) = ex.pending_send() {
                let n = head.len() + body.len();
                self.sent.extend_from_slice(head);
                self.sent.extend_from_slice(body);
                ex.handle_written(n, ctx!(self), now);
                progress = true;
            }
            if !progress {
                return;
            }
        }
    }

    fn connect(&mut self, ex: &mut Exchange, now: Instant) {
        let attempt = self
            .actions
            .iter()
            .rev()
            .find_map(|a| match a {
                Action::Connect { attempt, .. } => Some(*attempt),
                _ => None,
            })
            .expect("a connect action");
        ex.handle_connected(
            attempt,
            SockId(7),
            "127.0.0.1:40000".parse().unwrap(),
            ctx!(self),
            now,
        );
        self.step(ex, now);
    }

    fn feed(&mut self, ex: &mut Exchange, bytes: &[u8], now: Instant) {
        let mut rest = bytes;
        while !rest.is_empty() {
            let (_, space) = ex.recv_space(ctx!(self)).expect("room to read");
            let n = space.len().min(rest.len());
            space[..n].copy_from_slice(&rest[..n]);
            ex.handle_read(n, ctx!(self), now);
            rest = &rest[n..];
        }
        self.step(ex, now);
    }

    fn body(&mut self, ex: &mut Exchange, now: Instant) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut buf = [0u8; 3];
        loop {
            match ex.read_body(&mut buf, ctx!(self), now)? {
                BodyRead::Data(n) => out.extend_from_slice(&buf[..n]),
                BodyRead::End => return Ok(out),
                BodyRead::Pending => panic!("body incomplete: {out:?}"),
            }
        }
    }

    fn names(&self) -> Vec<String> {
        self.events.lock().unwrap().clone()
    }
}

fn get(url: &str) -> http::Request<SendBody> {
    http::Request::get(url).body(SendBody::empty()).unwrap()
}

#[test]
fn whole_exchange_without_sockets() {
    let t0 = Instant::now();
    let mut net = Net::new();
    let mut ex = net.exchange(get("http://origin.test:8080/x"));
    ex.start(ctx!(net), t0);
    net.step(&mut ex, t0);
    assert!(
        matches!(net.actions[0], Action::Connect { addr, .. } if addr == "127.0.0.1:8080".parse().unwrap())
    );
    net.connect(&mut ex, t0 + Duration::from_millis(1));
    let sent = String::from_utf8(net.sent.clone()).unwrap();
    assert!(
        sent.starts_with("GET /x HTTP/1.1\r\nHost: origin.test:8080\r\n"),
        "{sent}"
    );
    // The response arrives one byte at a time.
    let wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nwiki\r\n0\r\n\r\n";
    for b in wire.iter() {
        net.feed(
            &mut ex,
            std::slice::from_ref(b),
            t0 + Duration::from_millis(2),
        );
    }
    let head = ex.take_outcome().unwrap().unwrap();
    assert_eq!(head.status, 200);
    assert_eq!(
        net.body(&mut ex, t0 + Duration::from_millis(3)).unwrap(),
        b"wiki"
    );
    assert!(ex.is_finished());
    net.step(&mut ex, t0 + Duration::from_millis(3));
    assert_eq!(net.pool.len(), 1, "clean framing: pooled");
    assert!(net
        .actions
        .iter()
        .any(|a| matches!(a, Action::Pooled { .. })));
    let names = net.names();
    assert_eq!(names.first().unwrap(), "get_conn");
    assert_eq!(names.last().unwrap(), "request_done");
}

#[test]
fn expect_continue_wait_runs_on_the_virtual_clock() {
    let t0 = Instant::now();
    let mut net = Net::new();
    let req = http::Request::post("http://127.0.0.1/up")
        .header("expect", "100-continue")
        .body(SendBody::from("payload"))
        .unwrap();
    let mut ex = net.exchange(req);
    ex.start(ctx!(net), t0);
    net.step(&mut ex, t0);
    net.connect(&mut ex, t0);
    assert!(!net.sent.ends_with(b"payload"), "body held back");
    let due = ex.poll_timeout().unwrap();
    assert_eq!(due, t0 + Duration::from_secs(1));
    // An early wake-up changes nothing.
    ex.handle_timeout(ctx!(net), t0 + Duration::from_millis(999));
    net.step(&mut ex, t0 + Duration::from_millis(999));
    assert!(!net.sent.ends_with(b"payload"));
    ex.handle_timeout(ctx!(net), due);
    net.step(&mut ex, due);
    assert!(net.sent.ends_with(b"\r\n\r\npayload"));
    // Only the response-header timeout remains, armed when the body went.
    assert_eq!(ex.poll_timeout(), Some(due + Duration::from_secs(300)));
    let names = net.names();
    let wait = names.iter().position(|n| n == "wait_100_continue").unwrap();
    let wrote = names.iter().position(|n| n == "wrote_request").unwrap();
    assert!(wait < wrote);
}

#[test]
fn connect_timeout_cancels_the_attempt() {
    let t0 = Instant::now();
    let mut net = Net::new();
    net.config.connect_timeout = Duration::from_secs(3);
    let mut ex = net.exchange(get("http://127.0.0.1:9/"));
    ex.start(ctx!(net), t0);
    net.step(&mut ex, t0);
    assert_eq!(ex.poll_timeout(), Some(t0 + Duration::from_secs(3)));
    ex.handle_timeout(ctx!(net), t0 + Duration::from_secs(3));
    net.step(&mut ex, t0 + Duration::from_secs(3));
    assert!(net
        .actions
        .iter()
        .any(|a| matches!(a, Action::CancelAttempt { .. })));
    let err = ex.take_outcome().unwrap().unwrap_err();
    assert_eq!(err.phase(), Phase::Connect);
    let ErrorKind::ConnectTimeout { limit, attempts } = err.kind() else {
        panic!("{err}")
    };
    assert_eq!(*limit, Duration::from_secs(3));
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].error.kind(), std::io::ErrorKind::TimedOut);
    assert_eq!(
        net.names(),
        ["get_conn", "connect_start", "connect_done", "request_done"]
    );
}

#[test]
fn failed_attempt_moves_to_the_next_address_and_all_errors_are_kept() {
    let t0 = Instant::now();
    let mut net = Net::new();
    net.resolver = resolver(Hosts::parse("::1 two.test\n127.0.0.1 two.test\n"));
    let mut ex = net.exchange(get("http://two.test/"));
    ex.start(ctx!(net), t0);
    net.step(&mut ex, t0);
    let refused = || std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
    for _ in 0..2 {
        let Some(Action::Connect { attempt, .. }) = net.actions.pop() else {
            panic!("no attempt")
        };
        ex.handle_connect_failed(attempt, refused(), ctx!(net), t0);
        net.step(&mut ex, t0);
    }
    let err = ex.take_outcome().unwrap().unwrap_err();
    let ErrorKind::ConnectFailed(attempts) = err.kind() else {
        panic!("{err}")
    };
    let addrs: Vec<String> = attempts.iter().map(|a| a.addr.to_string()).collect();
    assert_eq!(addrs, ["[::1]:80", "127.0.0.1:80"]);
    assert_eq!(
        net.names().iter().filter(|n| *n == "connect_done").count(),
        2
    );
}

#[test]
fn cancelling_mid_body_closes_instead_of_pooling() {
    let t0 = Instant::now();
    let mut net = Net::new();
    let mut ex = net.exchange(get("http://127.0.0.1/"));
    ex.start(ctx!(net), t0);
    net.step(&mut ex, t0);
    net.connect(&mut ex, t0);
    net.feed(
        &mut ex,
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
        t0,
    );
    assert!(ex.take_outcome().unwrap().is_ok());
    ex.cancel(ctx!(net), t0);
    net.step(&mut ex, t0);
    assert!(net
        .actions
        .iter()
        .any(|a| matches!(a, Action::Close { .. })));
    assert_eq!(net.pool.len(), 0);
    let names = net.names();
    assert_eq!(
        &names[names.len() - 3..],
        ["response_body_done", "put_idle_conn", "request_done"]
    );
}

#[test]
fn bytes_after_the_response_end_prevent_pooling() {
    let t0 = Instant::now();
    let mut net = Net::new();
    let mut ex = net.exchange(get("http://127.0.0.1/"));
    ex.start(ctx!(net), t0);
    net.step(&mut ex, t0);
    net.connect(&mut ex, t0);
    net.feed(
        &mut ex,
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n",
        t0,
    );
    ex.take_outcome().unwrap().unwrap();
    assert_eq!(net.body(&mut ex, t0).unwrap(), b"ok");
    assert_eq!(net.pool.len(), 0, "extra bytes: framing in doubt");
}

#[test]
fn response_header_timeout_starts_when_the_request_is_written() {
    let t0 = Instant::now();
    let mut net = Net::new();
    net.config.response_header_timeout = Some(Duration::from_secs(2));
    let mut ex = net.exchange(get("http://127.0.0.1/"));
    ex.start(ctx!(net), t0);
    net.step(&mut ex, t0);
    let t1 = t0 + Duration::from_secs(1);
    net.connect(&mut ex, t1);
    assert_eq!(ex.poll_timeout(), Some(t1 + Duration::from_secs(2)));
    // Half a head changes nothing: the final head is what counts.
    net.feed(&mut ex, b"HTTP/1.1 200 OK\r\nContent-", t1);
    ex.handle_timeout(ctx!(net), t1 + Duration::from_secs(2));
    net.step(&mut ex, t1 + Duration::from_secs(2));
    let err = ex.take_outcome().unwrap().unwrap_err();
    assert_eq!(err.phase(), Phase::ReadResponseHead);
    assert!(matches!(err.kind(), ErrorKind::Timeout { limit } if *limit == Duration::from_secs(2)));
    assert!(net
        .actions
        .iter()
        .any(|a| matches!(a, Action::Close { .. })));
}

#[test]
fn body_idle_timeout_pauses_while_the_caller_does_not_read() {
    let t0 = Instant::now();
    let mut net = Net::new();
    net.config.body_idle_timeout = Some(Duration::from_secs(5));
    net.config.recv_buffer_size = 1024;
    net.config.max_head_size = 1024;
    let mut ex = net.exchange(get("http://127.0.0.1/"));
    ex.start(ctx!(net), t0);
    net.step(&mut ex, t0);
    net.connect(&mut ex, t0);
    let mut wire = b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n".to_vec();
    wire.extend_from_slice(&[b'x'; 1200]);
    // Fill the 1 KiB buffer: the caller is not reading.
    let head_and_some = &wire[..1024];
    net.feed(&mut ex, head_and_some, t0);
    ex.take_outcome().unwrap().unwrap();
    let mut more = &wire[1024..];
    while let Some((_, space)) = ex.recv_space(ctx!(net)) {
        let n = space.len().min(more.len());
        if n == 0 {
            break;
        }
        space[..n].copy_from_slice(&more[..n]);
        ex.handle_read(n, ctx!(net), t0);
        more = &more[n..];
    }
    assert!(ex.recv_space(ctx!(net)).is_none(), "back-pressure");
    assert_eq!(
        ex.poll_timeout(),
        None,
        "no idle clock while the buffer is full"
    );
    // The caller reads after a long pause, until the buffer has room
    // again (much body still waiting is not moved down, so one small read
    // may not be enough); the clock restarts from there.
    let t1 = t0 + Duration::from_secs(60);
    let mut buf = [0u8; 256];
    for _ in 0..4 {
        assert!(matches!(
            ex.read_body(&mut buf, ctx!(net), t1).unwrap(),
            BodyRead::Data(_)
        ));
        if ex.recv_space(ctx!(net)).is_some() {
            break;
        }
        assert_eq!(ex.poll_timeout(), None, "still no room, still paused");
    }
    assert!(ex.recv_space(ctx!(net)).is_some());
    assert_eq!(ex.poll_timeout(), Some(t1 + Duration::from_secs(5)));
    ex.handle_timeout(ctx!(net), t1 + Duration::from_secs(5));
    net.step(&mut ex, t1 + Duration::from_secs(5));
    // Buffered bytes first, then the error.
    let mut total = 0;
    let err = loop {
        match ex.read_body(&mut buf, ctx!(net), t1) {
            Ok(BodyRead::Data(n)) => total += n,
            Ok(other) => panic!("{other:?}"),
            Err(e) => break e,
        }
    };
    assert!(total > 0);
    assert_eq!(err.phase(), Phase::ReadResponseBody);
    assert!(matches!(err.kind(), ErrorKind::Timeout { .. }), "{err}");
}

#[test]
fn total_timeout_names_the_phase_it_struck_in_and_options_override_config() {
    let t0 = Instant::now();
    let mut net = Net::new();
    net.config.total_timeout = Some(Duration::from_secs(100));
    let mut req = get("http://127.0.0.1/");
    req.extensions_mut()
        .insert(crate::RequestOptions::new().total_timeout(Some(Duration::from_secs(3))));
    let mut ex = net.exchange(req);
    ex.start(ctx!(net), t0);
    net.step(&mut ex, t0);
    net.connect(&mut ex, t0);
    net.feed(
        &mut ex,
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
        t0,
    );
    ex.take_outcome().unwrap().unwrap();
    ex.handle_timeout(ctx!(net), t0 + Duration::from_secs(3));
    net.step(&mut ex, t0 + Duration::from_secs(3));
    let mut buf = [0u8; 16];
    assert!(matches!(
        ex.read_body(&mut buf, ctx!(net), t0).unwrap(),
        BodyRead::Data(3)
    ));
    let err = ex.read_body(&mut buf, ctx!(net), t0).unwrap_err();
    assert_eq!(err.phase(), Phase::ReadResponseBody);
    assert!(
        matches!(err.kind(), ErrorKind::TotalTimeout { limit } if *limit == Duration::from_secs(3)),
        "{err}"
    );
}

#[test]
fn per_request_connect_timeout_overrides_the_config() {
    let t0 = Instant::now();
    let mut net = Net::new();
    net.config.connect_timeout = Duration::from_secs(30);
    let mut req = get("http://127.0.0.1:9/");
    req.extensions_mut()
        .insert(crate::RequestOptions::new().connect_timeout(Duration::from_millis(700)));
    let mut ex = net.exchange(req);
    ex.start(ctx!(net), t0);
    net.step(&mut ex, t0);
    assert_eq!(ex.poll_timeout(), Some(t0 + Duration::from_millis(700)));
    ex.handle_timeout(ctx!(net), t0 + Duration::from_millis(700));
    net.step(&mut ex, t0 + Duration::from_millis(700));
    let err = ex.take_outcome().unwrap().unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::ConnectTimeout { limit, .. } if *limit == Duration::from_millis(700)),
        "{err}"
    );
}

#[test]
fn a_race_with_many_attempts_cancels_every_loser() {
    let t0 = Instant::now();
    let mut net = Net::new();
    let hosts: String = (1..=12)
        .map(|i| format!("192.0.2.{i} many.test\n"))
        .collect();
    net.resolver = resolver(Hosts::parse(&hosts));
    let mut ex = net.exchange(get("http://many.test/"));
    ex.start(ctx!(net), t0);
    net.step(&mut ex, t0);
    // Nothing answers: a new attempt every 250 ms until all 12 run.
    let mut now = t0;
    for _ in 0..12 {
        now += Duration::from_millis(250);
        ex.handle_timeout(ctx!(net), now);
        net.step(&mut ex, now);
    }
    let starts = net
        .actions
        .iter()
        .filter(|a| matches!(a, Action::Connect { .. }))
        .count();
    assert_eq!(starts, 12);
    net.connect(&mut ex, now);
    let cancels = net
        .actions
        .iter()
        .filter(|a| matches!(a, Action::CancelAttempt { .. }))
        .count();
    assert_eq!(cancels, 11, "every loser cancelled");
    let names = net.names();
    assert_eq!(
        names.iter().filter(|n| *n == "connect_cancelled").count(),
        11
    );
    assert!(names.iter().any(|n| n == "got_conn"));
}

/// Found by the `h1_writer` fuzz target: a caller's `Transfer-Encoding:
/// chunked` on a request without a body made the head announce chunks that
/// never came (no last-chunk), so the server would read the next request
/// on the connection as chunk data.
#[test]
fn chunked_without_a_body_is_framed_by_the_body() {
    for (method, want) in [
        (Method::GET, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
        (
            Method::POST,
            "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n",
        ),
    ] {
        let t0 = Instant::now();
        let mut net = Net::new();
        let req = http::Request::builder()
            .method(method)
            .uri("http://127.0.0.1/")
            .header("transfer-encoding", "chunked")
            .body(SendBody::empty())
            .unwrap();
        let mut ex = net.exchange(req);
        ex.start(ctx!(net), t0);
        net.step(&mut ex, t0);
        net.connect(&mut ex, t0);
        assert_eq!(String::from_utf8(net.sent.clone()).unwrap(), want);
    }
}

/// The host and port an exchange dials, found once from the authority
/// (RFC 3986 §3.2.2-3.2.3): IPv6 literals lose their brackets, an absent
/// or empty port is the scheme's default (RFC 9110 §4.2), and the answer
/// agrees with `Authority::host`/`port_u16`.
#[test]
fn host_and_port_come_from_the_authority() {
    let mut net = Net::new();
    for (url, host, port) in [
        ("http://origin.test/", "origin.test", 80),
        ("https://origin.test/", "origin.test", 443),
        ("http://origin.test:8080/x", "origin.test", 8080),
        ("http://origin.test:/", "origin.test", 80),
        ("https://[::1]/", "::1", 443),
        ("http://[2001:db8::7]:8443/", "2001:db8::7", 8443),
        ("http://127.0.0.1:1/", "127.0.0.1", 1),
        ("http://ORIGIN.test:65535/", "ORIGIN.test", 65535),
    ] {
        let ex = net.exchange(get(url));
        assert_eq!((ex.host(), ex.port), (host, port), "{url}");
    }
}

/// A connection whose receive buffer grew to `len` bytes, with nothing in
/// it: what `recycle_conn` sees when a response has been read.
fn conn_with_recv(len: usize) -> crate::conn::Conn {
    let key = crate::conn::PoolKey {
        scheme: crate::conn::Scheme::Http,
        host: "origin.test".into(),
        port: 80,
        proxy: None,
    };
    let addr = "127.0.0.1:80".parse().unwrap();
    let mut conn = crate::conn::Conn::new(ConnId(1), crate::conn::SockId(0), key, addr, addr);
    conn.recv.attach_growable(vec![0; len], len);
    conn
}

#[test]
fn one_grown_receive_buffer_is_recycled_whole_and_handed_out_first() {
    let mut net = Net::new();
    let big = 512 * 1024;
    // A large body's buffer is kept as it grew: the next response on the
    // connection would otherwise zero its way back up to it.
    ctx!(net).recycle_conn(&mut conn_with_recv(big));
    assert_eq!(
        net.spare_bufs.recv.iter().map(Vec::len).collect::<Vec<_>>(),
        [big]
    );
    // Small ones go under it; a second large one is cut down, so that
    // idle spares pin one large buffer at most.
    ctx!(net).recycle_conn(&mut conn_with_recv(16 * 1024));
    ctx!(net).recycle_conn(&mut conn_with_recv(2 * big));
    let sizes: Vec<usize> = net.spare_bufs.recv.iter().map(Vec::len).collect();
    assert_eq!(sizes, [16 * 1024, RECYCLED_RECV_BUFFER, big]);
    // The next connection takes the large one.
    let mut recv = crate::conn::RecvBuf::default();
    ctx!(net).attach_recv_storage(&mut recv);
    assert_eq!(recv.spare().len(), big);
    // With it gone, a large buffer may be kept again; at four spares, none.
    ctx!(net).recycle_conn(&mut conn_with_recv(big));
    ctx!(net).recycle_conn(&mut conn_with_recv(big));
    let sizes: Vec<usize> = net.spare_bufs.recv.iter().map(Vec::len).collect();
    assert_eq!(
        sizes,
        [16 * 1024, RECYCLED_RECV_BUFFER, RECYCLED_RECV_BUFFER, big]
    );
    ctx!(net).recycle_conn(&mut conn_with_recv(big));
    assert_eq!(net.spare_bufs.recv.len(), 4);
}

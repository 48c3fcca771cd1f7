//! Happy Eyeballs (RFC 8305) against a real blackhole (issue 4): the
//! client runs inside a network namespace where SYNs to `2001:db8:dead::/48`
//! leave through a veth pair and vanish (see `support/netns.rs`), and the
//! server listens on 127.0.0.1 in that namespace. `he.test` is pinned with
//! `Config::resolve` (curl's `--resolve`), so no DNS is involved.
//!
//! Each test builds its own pair of namespaces and re-executes this test
//! binary inside the client's one (`ip netns exec`) to run just itself;
//! the parent checks the child's exit status and deletes the namespaces.
//! Nothing in the root namespace changes.
//!
//! Needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN) and iproute2. Without them
//! each test prints `SKIPPED: cannot create network namespaces: ...` and
//! passes, unless `ROUNDTRIP_INTEROP=require`, which makes it fail.
//!
//! Timing is asserted loosely (order, and "at least most of the attempt
//! delay"); the benchmark (`benches/src/bin/happy_eyeballs.rs`) measures it.

#![forbid(unsafe_code)]

mod support;

use std::io::ErrorKind as IoKind;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use roundtrip::{Client, ErrorKind, IpFamily, Phase};
use support::interop::{self, Mode};
use support::netns::{self, Blackhole, OkServer, RaceEvent, RaceLog, SetupError};

const HOST: &str = "he.test";
/// How long the child may run before it is killed (a hung client).
const CHILD_LIMIT: Duration = Duration::from_secs(60);

/// Runs `body` inside a fresh blackhole namespace: in the parent, builds
/// the namespaces and re-executes this binary for `test` only; in that
/// child, runs `body`.
fn in_blackhole(test: &str, body: fn()) {
    if let Some(ns) = netns::inside() {
        eprintln!("[{test}] inside network namespace {ns}");
        body();
        // The parent checks this line: a child that ran no test (a name
        // that does not match) also exits with success.
        println!("NETNS-CHILD-DONE {test}");
        return;
    }
    let bh = match Blackhole::create("he") {
        Ok(bh) => bh,
        Err(SetupError::Unavailable(why)) => {
            if interop::mode() == Mode::Require {
                panic!(
                    "{}=require but cannot create network namespaces: {why}",
                    interop::ENV
                );
            }
            interop::skipped(&format!(
                "cannot create network namespaces: {why} (needs root and iproute2; set {}=require \
                 to make this a failure)",
                interop::ENV
            ));
            return;
        }
        Err(SetupError::Failed(why)) => panic!("building the blackhole namespaces: {why}"),
    };
    let out = bh.run_self(
        &["--exact", test, "--nocapture", "--test-threads=1"],
        CHILD_LIMIT,
    );
    assert!(
        !out.timed_out,
        "the child in {} did not finish within {CHILD_LIMIT:?} (client hung?)",
        bh.inner
    );
    assert!(
        out.status.success(),
        "the child in {} failed ({}); its output is above",
        bh.inner,
        out.status
    );
    assert!(
        out.stdout.contains(&format!("NETNS-CHILD-DONE {test}")),
        "the child in {} ran no test named {test:?}; its output is above",
        bh.inner
    );
    drop(bh);
}

/// A client pinning `he.test:port` to `addrs`, with no DNS and no memory
/// of earlier races (a new client every time).
fn client(port: u16, addrs: &[IpAddr], delay: Duration, connect_timeout: Duration) -> Client {
    let addrs = addrs.to_vec();
    Client::builder()
        .configure(move |c: &mut roundtrip::Config| {
            c.resolve = vec![(HOST.into(), port, addrs)];
            c.happy_eyeballs_delay = delay;
            c.connect_timeout = connect_timeout;
            c.ip_family = IpFamily::Any;
            c.resolv_conf = None;
            c.hosts_file = None;
            c.dns_servers = Some(vec!["127.0.0.1:9".parse().unwrap()]);
        })
        .build()
}

fn v6(ip: std::net::Ipv6Addr) -> IpAddr {
    IpAddr::V6(ip)
}

const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// The precondition of every case: SYNs to the blackhole vanish.
fn require_blackhole(port: u16) {
    let addr = SocketAddr::new(v6(netns::BLACKHOLE_1), port);
    if let Err(why) = netns::check_blackhole(addr) {
        panic!("precondition failed, the blackhole does not work: {why}");
    }
}

fn named<'a>(events: &'a [RaceEvent], name: &str) -> Vec<&'a RaceEvent> {
    events.iter().filter(|e| e.name == name).collect()
}

fn position(events: &[RaceEvent], f: impl Fn(&RaceEvent) -> bool) -> usize {
    events.iter().position(f).expect("event not found")
}

/// IPv6 blackholed, IPv4 fine: v6 starts first, v4 one attempt delay
/// later, v4 wins and the v6 attempt is cancelled.
fn v6_blackholed_v4_wins(delay: Duration, min_gap: Duration) {
    let server = OkServer::start();
    let port = server.addr.port();
    require_blackhole(port);
    let v6_addr = SocketAddr::new(v6(netns::BLACKHOLE_1), port);
    let v4_addr = SocketAddr::new(LOCAL, port);

    let client = client(
        port,
        &[v6(netns::BLACKHOLE_1), LOCAL],
        delay,
        Duration::from_secs(10),
    );
    let log = RaceLog::default();
    let url = format!("http://{HOST}:{port}/");
    let started = Instant::now();
    let req = http::Request::get(&url).body(()).unwrap();
    let resp = client
        .send_traced(req, log.trace())
        .unwrap_or_else(|e| panic!("GET {url} failed: {e}\ntrace:\n{}", log.dump()));
    let status = resp.status();
    let body = resp.into_body().text().unwrap();
    let took = started.elapsed();
    let ev = log.events();
    let dump = log.dump();
    eprintln!("trace (took {took:?}):\n{dump}");
    // The cancelled attempt's socket is closed, not left in SYN_SENT
    // until the kernel gives up (the client is still alive here).
    let left = netns::wait_no_syn_sent(v6_addr, Duration::from_millis(100));
    assert_eq!(
        left, 0,
        "{left} socket(s) still in SYN_SENT to {v6_addr} after the v6 attempt was cancelled"
    );
    drop(client);

    assert_eq!(status, 200, "{dump}");
    assert_eq!(body, "ok", "{dump}");
    assert_eq!(server.served(), 1, "{dump}");

    // Two attempts: v6 to the blackhole first, then v4.
    let starts = named(&ev, "connect_start");
    assert_eq!(starts.len(), 2, "connect_start count:\n{dump}");
    assert_eq!(
        (starts[0].network, starts[0].addr),
        (Some("tcp6"), Some(v6_addr)),
        "the first attempt is IPv6 to the blackhole:\n{dump}"
    );
    assert_eq!(
        (starts[1].network, starts[1].addr),
        (Some("tcp4"), Some(v4_addr)),
        "the second attempt is IPv4:\n{dump}"
    );
    let gap = starts[1].at.duration_since(starts[0].at);
    assert!(
        gap >= min_gap,
        "the IPv4 attempt started {gap:?} after the IPv6 one; expected about {delay:?} \
         (at least {min_gap:?}):\n{dump}"
    );
    assert!(
        gap < delay + Duration::from_secs(2),
        "the IPv4 attempt started only {gap:?} after the IPv6 one (delay {delay:?}):\n{dump}"
    );
    let (v6_id, v4_id) = (starts[0].attempt, starts[1].attempt);
    assert_ne!(v6_id, v4_id, "attempt ids must differ:\n{dump}");

    // v4 connected.
    let done = named(&ev, "connect_done");
    let v4_done: Vec<_> = done.iter().filter(|e| e.attempt == v4_id).collect();
    assert_eq!(
        v4_done.len(),
        1,
        "one connect_done for the v4 attempt:\n{dump}"
    );
    assert_eq!(v4_done[0].network, Some("tcp4"), "{dump}");
    assert!(
        v4_done[0].error.is_none(),
        "v4 attempt failed: {:?}\n{dump}",
        v4_done[0].error
    );

    // v6 ended with connect_done carrying a cancellation, then
    // connect_cancelled.
    let v6_done: Vec<_> = done.iter().filter(|e| e.attempt == v6_id).collect();
    assert_eq!(
        v6_done.len(),
        1,
        "one connect_done for the v6 attempt:\n{dump}"
    );
    assert_eq!(v6_done[0].network, Some("tcp6"), "{dump}");
    assert_eq!(v6_done[0].addr, Some(v6_addr), "{dump}");
    let (kind, text) = v6_done[0]
        .error
        .clone()
        .unwrap_or_else(|| panic!("the v6 attempt's connect_done has no error:\n{dump}"));
    assert!(
        text.contains("cancel") || kind == IoKind::Interrupted,
        "the v6 attempt's error is not a cancellation: {kind:?} {text:?}\n{dump}"
    );
    let cancelled = named(&ev, "connect_cancelled");
    assert_eq!(cancelled.len(), 1, "connect_cancelled count:\n{dump}");
    assert_eq!(
        (
            cancelled[0].attempt,
            cancelled[0].network,
            cancelled[0].addr
        ),
        (v6_id, Some("tcp6"), Some(v6_addr)),
        "{dump}"
    );
    let i_v4_start = position(&ev, |e| e.name == "connect_start" && e.attempt == v4_id);
    let i_v4_done = position(&ev, |e| e.name == "connect_done" && e.attempt == v4_id);
    let i_v6_done = position(&ev, |e| e.name == "connect_done" && e.attempt == v6_id);
    let i_v6_cancel = position(&ev, |e| e.name == "connect_cancelled");
    let i_got_conn = position(&ev, |e| e.name == "got_conn");
    assert!(
        i_v4_start < i_v4_done && i_v4_done < i_v6_done && i_v6_done < i_v6_cancel,
        "order: v4 start, v4 done, v6 done (cancelled), v6 connect_cancelled:\n{dump}"
    );
    assert!(
        i_v6_cancel < i_got_conn,
        "the loser is cancelled before got_conn:\n{dump}"
    );

    // The request went over IPv4.
    let got = named(&ev, "got_conn");
    assert_eq!(got.len(), 1, "{dump}");
    assert_eq!(got[0].addr, Some(v4_addr), "got_conn remote_addr:\n{dump}");
    assert!(
        named(&ev, "got_first_response_byte").len() == 1,
        "got_first_response_byte:\n{dump}"
    );
}

/// Issue 4's scenario with the default attempt delay (250 ms).
#[test]
fn v6_blackholed_v4_wins_after_attempt_delay() {
    in_blackhole("v6_blackholed_v4_wins_after_attempt_delay", || {
        v6_blackholed_v4_wins(Duration::from_millis(250), Duration::from_millis(200))
    });
}

/// The same with a short attempt delay: v4 follows after about 50 ms.
#[test]
fn v6_blackholed_short_attempt_delay() {
    in_blackhole("v6_blackholed_short_attempt_delay", || {
        v6_blackholed_v4_wins(Duration::from_millis(50), Duration::from_millis(40))
    });
}

/// Both addresses blackholed: the connect timeout ends the race and the
/// error lists both attempts, each timed out.
#[test]
fn all_blackholed_connect_timeout_lists_every_attempt() {
    in_blackhole("all_blackholed_connect_timeout_lists_every_attempt", || {
        let port = 8080;
        require_blackhole(port);
        let limit = Duration::from_millis(600);
        let a1 = SocketAddr::new(v6(netns::BLACKHOLE_1), port);
        let a2 = SocketAddr::new(v6(netns::BLACKHOLE_2), port);
        let client = client(port, &[a1.ip(), a2.ip()], Duration::from_millis(250), limit);
        let log = RaceLog::default();
        let url = format!("http://{HOST}:{port}/");
        let started = Instant::now();
        let req = http::Request::get(&url).body(()).unwrap();
        let result = client.send_traced(req, log.trace());
        let took = started.elapsed();
        let dump = log.dump();
        eprintln!("trace (took {took:?}):\n{dump}");
        for a in [a1, a2] {
            let left = netns::wait_no_syn_sent(a, Duration::from_millis(100));
            assert_eq!(
                left, 0,
                "{left} socket(s) still in SYN_SENT to {a} after the timeout"
            );
        }
        let err = match result {
            Ok(r) => panic!(
                "GET {url} succeeded ({}) against two blackholes",
                r.status()
            ),
            Err(e) => e,
        };
        eprintln!("error: {err}");
        assert_eq!(err.phase(), Phase::Connect, "{err} ({err:?})");
        let ErrorKind::ConnectTimeout {
            limit: got_limit,
            attempts,
        } = err.kind()
        else {
            panic!("expected ConnectTimeout, got {err} ({:?})", err.kind());
        };
        assert_eq!(*got_limit, limit);
        let mut addrs: Vec<SocketAddr> = attempts.iter().map(|a| a.addr).collect();
        addrs.sort();
        assert_eq!(addrs, [a1, a2], "every attempt is listed: {err}");
        for a in attempts {
            assert_eq!(
                a.error.kind(),
                IoKind::TimedOut,
                "attempt to {} should have timed out: {}",
                a.addr,
                a.error
            );
        }
        assert!(
            took >= limit - Duration::from_millis(5),
            "failed after {took:?}, before the {limit:?} connect timeout"
        );
        assert!(
            took < limit + Duration::from_secs(2),
            "failed only after {took:?} (connect timeout {limit:?})"
        );

        // The trace: both attempts started 250 ms apart, both ended with a
        // timeout, none connected.
        let ev = log.events();
        let starts = named(&ev, "connect_start");
        assert_eq!(
            starts.iter().map(|e| e.addr).collect::<Vec<_>>(),
            [Some(a1), Some(a2)],
            "{dump}"
        );
        let gap = starts[1].at.duration_since(starts[0].at);
        assert!(gap >= Duration::from_millis(200), "gap {gap:?}:\n{dump}");
        let done = named(&ev, "connect_done");
        assert_eq!(done.len(), 2, "{dump}");
        for d in done {
            assert_eq!(
                d.error.as_ref().map(|(k, _)| *k),
                Some(IoKind::TimedOut),
                "{dump}"
            );
        }
        assert!(named(&ev, "got_conn").is_empty(), "{dump}");
    });
}

/// The IPv6 attempt fails at once (`fail`: ENETUNREACH from an
/// `unreachable` route, or a refusal): RFC 8305 §5 starts the IPv4 attempt
/// at once instead of waiting out the attempt delay, and nothing is
/// cancelled.
fn v6_fails_fast_v4_starts_at_once(v6_ip: IpAddr, want: &[IoKind]) {
    let server = OkServer::start();
    let port = server.addr.port();
    let v6_addr = SocketAddr::new(v6_ip, port);
    let v4_addr = SocketAddr::new(LOCAL, port);
    let delay = Duration::from_millis(250);
    let client = client(port, &[v6_ip, LOCAL], delay, Duration::from_secs(10));
    let log = RaceLog::default();
    let url = format!("http://{HOST}:{port}/");
    let req = http::Request::get(&url).body(()).unwrap();
    let resp = client
        .send_traced(req, log.trace())
        .unwrap_or_else(|e| panic!("GET {url} failed: {e}\ntrace:\n{}", log.dump()));
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.into_body().text().unwrap(), "ok");
    let ev = log.events();
    let dump = log.dump();
    eprintln!("trace:\n{dump}");

    let starts = named(&ev, "connect_start");
    assert_eq!(
        starts.iter().map(|e| e.addr).collect::<Vec<_>>(),
        [Some(v6_addr), Some(v4_addr)],
        "{dump}"
    );
    let gap = starts[1].at.duration_since(starts[0].at);
    assert!(
        gap < Duration::from_millis(100),
        "the IPv4 attempt started {gap:?} after the failed IPv6 one; it should start at \
         once, not after the {delay:?} attempt delay:\n{dump}"
    );
    let v6_done: Vec<_> = named(&ev, "connect_done")
        .into_iter()
        .filter(|e| e.attempt == starts[0].attempt)
        .collect();
    assert_eq!(v6_done.len(), 1, "{dump}");
    let (kind, text) = v6_done[0]
        .error
        .clone()
        .unwrap_or_else(|| panic!("the v6 attempt did not fail:\n{dump}"));
    assert!(
        want.contains(&kind),
        "the v6 attempt failed with {kind:?} ({text}), expected one of {want:?}:\n{dump}"
    );
    let i_v6_done = position(&ev, |e| {
        e.name == "connect_done" && e.attempt == starts[0].attempt
    });
    let i_v4_start = position(&ev, |e| {
        e.name == "connect_start" && e.attempt == starts[1].attempt
    });
    assert!(
        i_v6_done < i_v4_start,
        "the v6 failure comes before the v4 start:\n{dump}"
    );
    assert!(
        named(&ev, "connect_cancelled").is_empty(),
        "nothing to cancel:\n{dump}"
    );
    assert_eq!(named(&ev, "got_conn")[0].addr, Some(v4_addr), "{dump}");
}

/// IPv6 has an `unreachable` route: connect(2) itself fails.
#[test]
fn v6_unreachable_v4_starts_at_once() {
    in_blackhole("v6_unreachable_v4_starts_at_once", || {
        v6_fails_fast_v4_starts_at_once(
            v6(netns::UNREACHABLE_1),
            &[IoKind::NetworkUnreachable, IoKind::HostUnreachable],
        )
    });
}

/// Nothing listens on [::1]:port: the kernel answers the SYN with a reset.
#[test]
fn v6_refused_v4_starts_at_once() {
    in_blackhole("v6_refused_v4_starts_at_once", || {
        v6_fails_fast_v4_starts_at_once(
            IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
            &[IoKind::ConnectionRefused],
        )
    });
}

/// RFC 8305 §5 memory: after IPv4 won a race to he.test, the next request
/// of the same client starts with IPv4 and never waits for the blackhole.
#[test]
fn remembered_family_skips_the_blackhole() {
    in_blackhole("remembered_family_skips_the_blackhole", || {
        let server = OkServer::start();
        let port = server.addr.port();
        require_blackhole(port);
        let v4_addr = SocketAddr::new(LOCAL, port);
        let client = client(
            port,
            &[v6(netns::BLACKHOLE_1), LOCAL],
            Duration::from_millis(250),
            Duration::from_secs(10),
        );
        let url = format!("http://{HOST}:{port}/");
        let mut took = Vec::new();
        let mut logs = Vec::new();
        for _ in 0..2 {
            let log = RaceLog::default();
            let started = Instant::now();
            let req = http::Request::get(&url).body(()).unwrap();
            let resp = client
                .send_traced(req, log.trace())
                .unwrap_or_else(|e| panic!("GET {url} failed: {e}\ntrace:\n{}", log.dump()));
            assert_eq!(resp.into_body().text().unwrap(), "ok");
            took.push(started.elapsed());
            eprintln!("trace:\n{}", log.dump());
            logs.push(log);
        }
        let first = logs[0].events();
        assert_eq!(
            named(&first, "connect_start")[0].network,
            Some("tcp6"),
            "a new client starts with IPv6:\n{}",
            logs[0].dump()
        );
        let second = logs[1].events();
        let dump = logs[1].dump();
        let starts = named(&second, "connect_start");
        assert_eq!(
            starts.iter().map(|e| e.addr).collect::<Vec<_>>(),
            [Some(v4_addr)],
            "the second request starts with the remembered IPv4 and needs nothing else:\n{dump}"
        );
        assert!(
            named(&second, "got_conn")[0].addr == Some(v4_addr),
            "{dump}"
        );
        assert!(
            took[1] < Duration::from_millis(150),
            "the second request took {:?}: it waited for the blackhole",
            took[1]
        );
        assert_eq!(server.served(), 2);
    });
}

//! Loopback tests of the DNS stub resolver (issue #3; DESIGN.md, "Testing
//! layers", 3): real UDP and TCP sockets against a scriptable DNS server
//! inside the test (tests/support/dns.rs), for what a real server will not
//! do on demand — silence, late answers, SERVFAIL and REFUSED, truncation,
//! garbage, spoofed answers (wrong id, wrong question, wrong source port),
//! split TCP answers — and for the resolver's own rules: CNAME chains,
//! NXDOMAIN vs NODATA, positive and negative caching, coalescing, the
//! search list, absolute names, special names and pinned addresses.
//!
//! Each test fetches a URL whose host is resolved by the scripted server and
//! served by an HTTP server on 127.0.0.1 (or [::1]), and checks the
//! response or the typed error, the queries the server saw, and the trace:
//! `dns_start`, `dns_query_start`/`dns_query_done` (count, order,
//! transport, rcode or error, answers, TC) and `dns_done` (addresses,
//! `coalesced`, error).
//!
//! Network rule: every client here is given `dns_servers` (the in-test
//! servers on 127.0.0.1), no hosts file and no resolv.conf (one test reads
//! a temporary one for `rotate`, whose servers Config replaces), so no
//! query can leave loopback.

#![forbid(unsafe_code)]

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use http::Request;
use roundtrip::{Client, Config, ErrorKind, IpFamily, Phase};
use support::dns::{
    v4, v6, Act, Dns, DnsLog, DnsServer, Http, Query, Zone, A, AAAA, BODY, FORMERR, NXDOMAIN,
    REFUSED, SERVFAIL,
};
use support::lo::{err_in, within};

/// No test may take longer than this, whatever the client does.
const LIMIT: Duration = Duration::from_secs(15);

/// Per-try timeout for tests whose server answers promptly: long enough
/// never to fire on a loaded machine.
const PROMPT: Duration = Duration::from_secs(3);

/// Per-try timeout for tests that wait for a timeout.
const SHORT: Duration = Duration::from_millis(200);

/// A client that asks only `servers` (never resolv.conf's), reads no hosts
/// file, has no search list, one attempt and a [`PROMPT`] timeout; `f`
/// changes the rest.
fn client(servers: &[&DnsServer], log: &DnsLog, f: impl FnOnce(&mut Config)) -> Client {
    let servers: Vec<SocketAddr> = servers.iter().map(|s| s.addr).collect();
    Client::builder()
        .configure(move |c: &mut Config| {
            c.dns_servers = Some(servers);
            c.resolv_conf = None;
            c.hosts_file = None;
            c.dns_search = Some(Vec::new());
            c.dns_ndots = Some(1);
            c.dns_timeout = Some(PROMPT);
            c.dns_attempts = Some(1);
            // Bounds a request whose lookup never feeds the race, so that
            // such a bug fails the test with the error instead of hanging.
            c.connect_timeout = Duration::from_secs(2);
            f(c);
            assert!(
                c.dns_servers
                    .as_ref()
                    .is_some_and(|s| s.iter().all(|a| a.ip().is_loopback())),
                "tests may only ask DNS servers on loopback"
            );
        })
        .trace(log.trace())
        .build()
}

/// GET `url` and read the body.
fn fetch(client: &Client, url: &str) -> roundtrip::Result<String> {
    client.get(url)?.into_body().text()
}

/// The `connect_done` events of a log, in order.
fn connect_dones(log: &DnsLog) -> Vec<Dns> {
    log.all()
        .into_iter()
        .filter(|e| matches!(e, Dns::ConnectDone { .. }))
        .collect()
}

/// Runs a test body with a watchdog.
fn run(f: impl FnOnce() + Send + 'static) {
    within(LIMIT, f)
}

/// A query event of one family as a short string, servers named by
/// `names`: `start udp s1`, `done udp s1 NOERROR 1`, `done udp s1 NOERROR
/// 0 TC`, `done udp s1 error: timed out`.
fn describe(e: &Dns, names: &[(SocketAddr, &str)]) -> String {
    let label = |a: &SocketAddr| {
        names
            .iter()
            .find(|(s, _)| s == a)
            .map(|(_, n)| (*n).to_owned())
            .unwrap_or_else(|| a.to_string())
    };
    match e {
        Dns::QueryStart {
            server, transport, ..
        } => format!("start {transport} {}", label(server)),
        Dns::QueryDone {
            server,
            transport,
            rcode,
            error,
            answers,
            truncated,
            ..
        } => {
            let what = match (rcode, error) {
                (Some(r), None) => format!("{r} {answers}{}", if *truncated { " TC" } else { "" }),
                (None, Some(e)) => format!("error: {e}"),
                other => panic!("dns_query_done with rcode and error {other:?}"),
            };
            format!("done {transport} {} {what}", label(server))
        }
        other => panic!("not a query event: {other:?}"),
    }
}

/// The query events of `qtype`, described.
fn family(evs: &[Dns], qtype: &str, names: &[(SocketAddr, &str)]) -> Vec<String> {
    evs.iter()
        .filter(|e| match e {
            Dns::QueryStart { qtype: q, .. } | Dns::QueryDone { qtype: q, .. } => *q == qtype,
            _ => false,
        })
        .map(|e| describe(e, names))
        .collect()
}

/// Checks the shape of one request's DNS events: one `dns_start` for
/// `host` first, each query started before it ends and ended once, the
/// single `dns_done` after every query event, and any connection attempt
/// after `dns_start`.
#[track_caller]
fn assert_shape(evs: &[Dns], host: &str, dump: &str) {
    let names: Vec<&str> = evs.iter().map(Dns::name).collect();
    let first_dns = names.iter().position(|n| n.starts_with("dns_"));
    assert_eq!(
        first_dns.map(|i| &evs[i]),
        Some(&Dns::Start {
            host: host.to_owned()
        }),
        "dns_start for {host:?} is not the first DNS event:\n{dump}"
    );
    assert_eq!(
        names.iter().filter(|n| **n == "dns_start").count(),
        1,
        "{dump}"
    );
    assert_eq!(
        names.iter().filter(|n| **n == "dns_done").count(),
        1,
        "{dump}"
    );
    let done = names.iter().position(|n| *n == "dns_done").unwrap();
    let last_query = names.iter().rposition(|n| n.starts_with("dns_query"));
    assert!(
        last_query.is_none_or(|q| q < done),
        "a query event after dns_done:\n{dump}"
    );
    // Happy Eyeballs (RFC 8305 §3) may start connecting on the first
    // family's answer, before dns_done, but never before dns_start.
    if let Some(c) = names.iter().position(|n| *n == "connect_start") {
        assert!(
            c > first_dns.unwrap(),
            "connect_start before dns_start:\n{dump}"
        );
    }
    // Every query is started once and ended once, in that order.
    let mut open: Vec<(SocketAddr, &str, &str)> = Vec::new();
    for e in evs {
        match e {
            Dns::QueryStart {
                server,
                qtype,
                transport,
            } => open.push((*server, qtype, transport)),
            Dns::QueryDone {
                server,
                qtype,
                transport,
                ..
            } => {
                let i = open
                    .iter()
                    .position(|o| *o == (*server, *qtype, *transport))
                    .unwrap_or_else(|| panic!("dns_query_done without its start:\n{dump}"));
                open.remove(i);
            }
            _ => {}
        }
    }
    assert!(open.is_empty(), "queries never ended: {open:?}\n{dump}");
}

/// The queries a server saw, as (name, type, transport), sorted (the two
/// families race).
fn seen(server: &DnsServer) -> Vec<(String, String, &'static str)> {
    let mut s = server.summary();
    s.sort();
    s
}

fn q(name: &str, qtype: &str, transport: &'static str) -> (String, String, &'static str) {
    (name.to_owned(), qtype.to_owned(), transport)
}

/// What a server sees for one uncached lookup of `name` over UDP.
fn pair(name: &str) -> Vec<(String, String, &'static str)> {
    vec![q(name, "A", "udp"), q(name, "AAAA", "udp")]
}

// ----- answers -----------------------------------------------------------------

#[test]
fn a_only_name_resolves_and_connects() {
    run(|| {
        let server = DnsServer::start(Zone::new().a("v4.test", "127.0.0.1", 60).script());
        let http = Http::v4();
        let log = DnsLog::new();
        let c = client(&[&server], &log, |_| {});
        assert_eq!(fetch(&c, &http.url("v4.test", "/")).unwrap(), BODY);

        let evs = log.all();
        let dump = log.dump();
        assert_shape(&evs, "v4.test", &dump);
        let s = [(server.addr, "s1")];
        assert_eq!(
            family(&evs, "A", &s),
            ["start udp s1", "done udp s1 NOERROR 1"],
            "{dump}"
        );
        assert_eq!(
            family(&evs, "AAAA", &s),
            ["start udp s1", "done udp s1 NOERROR 0"],
            "{dump}"
        );
        // Both queries go out before either answer is handled.
        let names = log.names();
        let starts: Vec<usize> = (0..names.len())
            .filter(|&i| names[i] == "dns_query_start")
            .collect();
        let first_done = names.iter().position(|n| *n == "dns_query_done").unwrap();
        assert!(starts.iter().all(|&i| i < first_done), "{dump}");
        // AAAA is sent first, then A.
        let order: Vec<&str> = evs
            .iter()
            .filter_map(|e| match e {
                Dns::QueryStart { qtype, .. } => Some(*qtype),
                _ => None,
            })
            .collect();
        assert_eq!(order, ["AAAA", "A"], "{dump}");
        assert_eq!(log.done(), (vec![v4()], false, None), "{dump}");

        // What went on the wire: one query per family, recursion desired,
        // EDNS0 with a 1232-byte payload, each from its own source port.
        assert_eq!(seen(&server), pair("v4.test"));
        let qs = server.queries();
        assert!(qs.iter().all(|q| q.rd() && q.qclass == 1), "{qs:?}");
        assert!(qs.iter().all(|q| q.edns_payload == Some(1232)), "{qs:?}");
        assert_ne!(
            qs[0].from.port(),
            qs[1].from.port(),
            "a fresh port per query"
        );
        assert_eq!(http.accepted().len(), 1);
    });
}

#[test]
fn without_edns_the_query_has_no_opt_record() {
    run(|| {
        let server = DnsServer::start(Zone::new().a("plain.test", "127.0.0.1", 60).script());
        let http = Http::v4();
        let log = DnsLog::new();
        let c = client(&[&server], &log, |c| c.dns_udp_payload = None);
        assert_eq!(fetch(&c, &http.url("plain.test", "/")).unwrap(), BODY);
        let qs = server.queries();
        assert_eq!(qs.len(), 2);
        assert!(qs.iter().all(|q| q.edns_payload.is_none()), "{qs:?}");
    });
}

#[test]
fn aaaa_and_a_resolve_and_ipv6_is_tried_first() {
    run(|| {
        let server = DnsServer::start(
            Zone::new()
                .a("dual.test", "127.0.0.1", 60)
                .aaaa("dual.test", "::1", 60)
                .script(),
        );
        let http = Http::dual();
        let log = DnsLog::new();
        let c = client(&[&server], &log, |_| {});
        assert_eq!(fetch(&c, &http.url("dual.test", "/")).unwrap(), BODY);

        let evs = log.all();
        let dump = log.dump();
        assert_shape(&evs, "dual.test", &dump);
        let s = [(server.addr, "s1")];
        assert_eq!(
            family(&evs, "A", &s),
            ["start udp s1", "done udp s1 NOERROR 1"],
            "{dump}"
        );
        assert_eq!(
            family(&evs, "AAAA", &s),
            ["start udp s1", "done udp s1 NOERROR 1"],
            "{dump}"
        );
        assert_eq!(log.done(), (vec![v6(), v4()], false, None), "{dump}");
        let connects: Vec<&Dns> = evs
            .iter()
            .filter(|e| matches!(e, Dns::ConnectDone { .. }))
            .collect();
        assert_eq!(
            connects,
            [&Dns::ConnectDone {
                addr: SocketAddr::new(v6(), http.port),
                failed: false
            }],
            "{dump}"
        );
        assert_eq!(http.accepted(), [SocketAddr::new(v6(), http.port)]);
    });
}

#[test]
fn aaaa_address_refused_falls_back_to_the_a_address() {
    run(|| {
        let server = DnsServer::start(
            Zone::new()
                .a("fallback.test", "127.0.0.1", 60)
                .aaaa("fallback.test", "::1", 60)
                .script(),
        );
        // Only on 127.0.0.1: [::1] refuses.
        let http = Http::v4();
        let log = DnsLog::new();
        let c = client(&[&server], &log, |_| {});
        assert_eq!(fetch(&c, &http.url("fallback.test", "/")).unwrap(), BODY);
        let dump = log.dump();
        assert_eq!(log.done(), (vec![v6(), v4()], false, None), "{dump}");
        let connects = connect_dones(&log);
        assert_eq!(
            connects,
            [
                Dns::ConnectDone {
                    addr: SocketAddr::new(v6(), http.port),
                    failed: true
                },
                Dns::ConnectDone {
                    addr: SocketAddr::new(v4(), http.port),
                    failed: false
                }
            ],
            "{dump}"
        );
    });
}

/// The lookup's final answer repeats the addresses each family already
/// brought: every address must still be tried once, and the error must
/// list each attempt once.
#[test]
fn every_address_refuses_each_tried_once() {
    run(|| {
        let server = DnsServer::start(
            Zone::new()
                .a("refused.test", "127.0.0.1", 60)
                .aaaa("refused.test", "::1", 60)
                .script(),
        );
        // A port nothing listens on, on either family.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = DnsLog::new();
        let c = client(&[&server], &log, |_| {});
        let err = fetch(&c, &format!("http://refused.test:{port}/")).unwrap_err();
        let dump = log.dump();
        let ErrorKind::ConnectFailed(attempts) = err.kind() else {
            panic!("{err}\n{dump}")
        };
        let tried: Vec<SocketAddr> = attempts.iter().map(|a| a.addr).collect();
        assert_eq!(
            tried,
            [SocketAddr::new(v6(), port), SocketAddr::new(v4(), port)],
            "{dump}"
        );
        let connects = connect_dones(&log).len();
        assert_eq!(connects, 2, "{dump}");
    });
}

#[test]
fn ip_family_restricts_the_race_to_one_family() {
    run(|| {
        let server = DnsServer::start(
            Zone::new()
                .a("v4only.test", "127.0.0.1", 60)
                .a("dual.test", "127.0.0.1", 60)
                .aaaa("dual.test", "::1", 60)
                .script(),
        );
        let http = Http::v4();
        // IPv4 only: the AAAA answer of a dual-stack name is never dialled.
        let log = DnsLog::new();
        let c = client(&[&server], &log, |c| c.ip_family = IpFamily::V4Only);
        assert_eq!(fetch(&c, &http.url("dual.test", "/")).unwrap(), BODY);
        let dump = log.dump();
        let connects = connect_dones(&log);
        assert_eq!(
            connects,
            [Dns::ConnectDone {
                addr: SocketAddr::new(v4(), http.port),
                failed: false
            }],
            "{dump}"
        );
        // IPv6 only, and the name has no AAAA: a typed error, no connect.
        let log = DnsLog::new();
        let c = client(&[&server], &log, |c| c.ip_family = IpFamily::V6Only);
        let err = fetch(&c, &http.url("v4only.test", "/")).unwrap_err();
        let dump = log.dump();
        assert!(
            matches!(err.kind(), ErrorKind::NoAddressOfFamily { host, family: IpFamily::V6Only } if host == "v4only.test"),
            "{err:?}\n{dump}"
        );
        assert!(connect_dones(&log).is_empty(), "{dump}");
    });
}

#[test]
fn cname_chain_inside_one_answer_is_followed() {
    run(|| {
        let server = DnsServer::start(
            Zone::new()
                .cname("www.test", "edge.test", 60)
                .cname("edge.test", "origin.test", 60)
                .a("origin.test", "127.0.0.1", 60)
                .script(),
        );
        let http = Http::v4();
        let log = DnsLog::new();
        let c = client(&[&server], &log, |_| {});
        assert_eq!(fetch(&c, &http.url("www.test", "/")).unwrap(), BODY);
        let evs = log.all();
        let dump = log.dump();
        assert_shape(&evs, "www.test", &dump);
        let s = [(server.addr, "s1")];
        // Two CNAMEs and the address; AAAA: the two CNAMEs, then NODATA.
        assert_eq!(
            family(&evs, "A", &s),
            ["start udp s1", "done udp s1 NOERROR 3"],
            "{dump}"
        );
        assert_eq!(
            family(&evs, "AAAA", &s),
            ["start udp s1", "done udp s1 NOERROR 2"],
            "{dump}"
        );
        assert_eq!(log.done(), (vec![v4()], false, None), "{dump}");
        // The chain was in the answer: the target was never asked.
        assert_eq!(seen(&server), pair("www.test"));
    });
}

#[test]
fn cname_chain_longer_than_the_limit_is_a_failure() {
    run(|| {
        let server = DnsServer::start(
            Zone::new()
                .cname("long.test", "hop1.test", 60)
                .cname("hop1.test", "hop2.test", 60)
                .cname("hop2.test", "hop3.test", 60)
                .a("hop3.test", "127.0.0.1", 60)
                .script(),
        );
        let log = DnsLog::new();
        let c = client(&[&server], &log, |c| c.max_cname_chain = 2);
        let kind = err_in(fetch(&c, "http://long.test:9/"), Phase::Dns);
        let ErrorKind::DnsFailed { host, attempts } = &kind else {
            panic!("expected DnsFailed, got {kind:?}\n{}", log.dump())
        };
        assert_eq!(host, "long.test");
        assert_eq!(attempts.len(), 2, "{attempts:?}");
        assert!(
            attempts.iter().all(|a| a.error.contains("CNAME")),
            "{attempts:?}"
        );
    });
}

#[test]
fn nxdomain_is_host_not_found_and_cached_for_the_soa_minimum() {
    run(|| {
        let server = DnsServer::start(Zone::new().negative_ttl(30).script());
        let log = DnsLog::new();
        let c = client(&[&server], &log, |_| {});
        let kind = err_in(fetch(&c, "http://gone.test:9/"), Phase::Dns);
        assert!(
            matches!(&kind, ErrorKind::HostNotFound { host } if host == "gone.test"),
            "{kind:?}"
        );
        let evs = log.all();
        let dump = log.dump();
        assert_shape(&evs, "gone.test", &dump);
        let s = [(server.addr, "s1")];
        assert_eq!(
            family(&evs, "A", &s),
            ["start udp s1", "done udp s1 NXDOMAIN 0"],
            "{dump}"
        );
        assert_eq!(
            family(&evs, "AAAA", &s),
            ["start udp s1", "done udp s1 NXDOMAIN 0"],
            "{dump}"
        );
        let (addrs, coalesced, error) = log.done();
        assert!(addrs.is_empty() && !coalesced, "{dump}");
        assert!(error.unwrap().contains("HostNotFound"), "{dump}");
        assert_eq!(log.count("connect_start"), 0, "{dump}");
        assert_eq!(server.count(), 2);

        // Within the SOA minimum the answer comes from the cache: same
        // error, dns_start and dns_done, no query.
        log.clear();
        let kind = err_in(fetch(&c, "http://gone.test:9/"), Phase::Dns);
        assert!(matches!(kind, ErrorKind::HostNotFound { .. }), "{kind:?}");
        let dump = log.dump();
        assert_eq!(
            log.dns().iter().map(Dns::name).collect::<Vec<_>>(),
            ["dns_start", "dns_done"],
            "{dump}"
        );
        assert!(log.done().2.unwrap().contains("HostNotFound"), "{dump}");
        assert_eq!(server.count(), 2, "a cached NXDOMAIN was asked again");
    });
}

#[test]
fn nxdomain_is_final_and_the_next_server_is_not_asked() {
    run(|| {
        let s1 = DnsServer::start(Zone::new().script());
        let s2 = DnsServer::start(Zone::new().a("gone.test", "127.0.0.1", 60).script());
        let log = DnsLog::new();
        let c = client(&[&s1, &s2], &log, |_| {});
        let kind = err_in(fetch(&c, "http://gone.test:9/"), Phase::Dns);
        assert!(matches!(kind, ErrorKind::HostNotFound { .. }), "{kind:?}");
        assert_eq!(s1.count(), 2);
        assert_eq!(s2.count(), 0, "NXDOMAIN is an answer, not a failure");
    });
}

#[test]
fn nodata_is_no_addresses_and_cached() {
    run(|| {
        // The name exists (NOERROR) but has no A or AAAA: NODATA with an SOA.
        let server = DnsServer::start(|q: &Query| {
            vec![Act::Send(q.reply().aa().soa("test", 30, 30).bytes())]
        });
        let log = DnsLog::new();
        let c = client(&[&server], &log, |_| {});
        let kind = err_in(fetch(&c, "http://mx-only.test:9/"), Phase::Dns);
        assert!(
            matches!(&kind, ErrorKind::NoAddresses { host } if host == "mx-only.test"),
            "{kind:?}"
        );
        let evs = log.all();
        let dump = log.dump();
        assert_shape(&evs, "mx-only.test", &dump);
        let s = [(server.addr, "s1")];
        assert_eq!(
            family(&evs, "A", &s),
            ["start udp s1", "done udp s1 NOERROR 0"],
            "{dump}"
        );
        assert_eq!(
            family(&evs, "AAAA", &s),
            ["start udp s1", "done udp s1 NOERROR 0"],
            "{dump}"
        );
        assert!(log.done().2.unwrap().contains("NoAddresses"), "{dump}");

        log.clear();
        let kind = err_in(fetch(&c, "http://mx-only.test:9/"), Phase::Dns);
        assert!(matches!(kind, ErrorKind::NoAddresses { .. }), "{kind:?}");
        assert_eq!(log.count("dns_query_start"), 0, "{}", log.dump());
        assert_eq!(server.count(), 2, "a cached NODATA was asked again");
    });
}

// ----- failures and failover -------------------------------------------------

#[test]
fn silent_server_is_dns_failed_listing_each_timed_out_query() {
    run(|| {
        let server = DnsServer::start(|_: &Query| Vec::new());
        let log = DnsLog::new();
        let c = client(&[&server], &log, |c| c.dns_timeout = Some(SHORT));
        let t0 = Instant::now();
        let kind = err_in(fetch(&c, "http://silent.test:9/"), Phase::Dns);
        let took = t0.elapsed();
        assert!(
            took >= Duration::from_millis(150),
            "gave up early: {took:?}"
        );
        assert!(
            took < Duration::from_secs(3),
            "took {took:?} for a 200 ms timeout"
        );
        let ErrorKind::DnsFailed { host, attempts } = &kind else {
            panic!("expected DnsFailed, got {kind:?}")
        };
        assert_eq!(host, "silent.test");
        let mut got: Vec<(SocketAddr, &str, &str, &str)> = attempts
            .iter()
            .map(|a| (a.server, a.qtype, a.transport, a.error.as_str()))
            .collect();
        got.sort();
        assert_eq!(
            got,
            [
                (server.addr, "A", "udp", "timed out"),
                (server.addr, "AAAA", "udp", "timed out")
            ]
        );
        let evs = log.all();
        let dump = log.dump();
        assert_shape(&evs, "silent.test", &dump);
        let s = [(server.addr, "s1")];
        for fam in ["A", "AAAA"] {
            assert_eq!(
                family(&evs, fam, &s),
                ["start udp s1", "done udp s1 error: timed out"],
                "{dump}"
            );
        }
        assert!(log.done().2.unwrap().contains("DnsFailed"), "{dump}");
        assert_eq!(server.count(), 2, "attempts = 1: no retry");
        // Both queries' UDP sockets are closed once the error is back,
        // with the client still alive.
        assert_eq!(
            support::sockets_to(server.addr.port()),
            0,
            "UDP socket left open"
        );
        drop(c);
    });
}

#[test]
fn silent_first_server_then_the_second_answers() {
    run(|| {
        let s1 = DnsServer::start(|_: &Query| Vec::new());
        let s2 = DnsServer::start(Zone::new().a("two.test", "127.0.0.1", 60).script());
        let http = Http::v4();
        let log = DnsLog::new();
        let c = client(&[&s1, &s2], &log, |c| c.dns_timeout = Some(SHORT));
        assert_eq!(fetch(&c, &http.url("two.test", "/")).unwrap(), BODY);
        let evs = log.all();
        let dump = log.dump();
        assert_shape(&evs, "two.test", &dump);
        let s = [(s1.addr, "s1"), (s2.addr, "s2")];
        assert_eq!(
            family(&evs, "A", &s),
            [
                "start udp s1",
                "done udp s1 error: timed out",
                "start udp s2",
                "done udp s2 NOERROR 1"
            ],
            "{dump}"
        );
        assert_eq!(
            family(&evs, "AAAA", &s),
            [
                "start udp s1",
                "done udp s1 error: timed out",
                "start udp s2",
                "done udp s2 NOERROR 0"
            ],
            "{dump}"
        );
        assert_eq!(log.done(), (vec![v4()], false, None), "{dump}");
        assert_eq!(seen(&s1), pair("two.test"));
        assert_eq!(seen(&s2), pair("two.test"));
    });
}

/// The first server answers every query with `rcode`; the second answers.
fn bad_rcode_then_good_server(rcode: u8, rcode_name: &str) {
    let s1 = DnsServer::start(move |q: &Query| vec![Act::Send(q.reply().rcode(rcode).bytes())]);
    let s2 = DnsServer::start(Zone::new().a("next.test", "127.0.0.1", 60).script());
    let http = Http::v4();
    let log = DnsLog::new();
    let c = client(&[&s1, &s2], &log, |_| {});
    let t0 = Instant::now();
    assert_eq!(fetch(&c, &http.url("next.test", "/")).unwrap(), BODY);
    // At once, not after the (3 s) timeout.
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
    let evs = log.all();
    let dump = log.dump();
    assert_shape(&evs, "next.test", &dump);
    let s = [(s1.addr, "s1"), (s2.addr, "s2")];
    let bad = format!("done udp s1 {rcode_name} 0");
    assert_eq!(
        family(&evs, "A", &s),
        [
            "start udp s1",
            &bad,
            "start udp s2",
            "done udp s2 NOERROR 1"
        ],
        "{dump}"
    );
    assert_eq!(
        family(&evs, "AAAA", &s),
        [
            "start udp s1",
            &bad,
            "start udp s2",
            "done udp s2 NOERROR 0"
        ],
        "{dump}"
    );
    assert_eq!(log.done(), (vec![v4()], false, None), "{dump}");
}

#[test]
fn servfail_moves_to_the_next_server_at_once() {
    run(|| bad_rcode_then_good_server(SERVFAIL, "SERVFAIL"));
}

#[test]
fn refused_moves_to_the_next_server_at_once() {
    run(|| bad_rcode_then_good_server(REFUSED, "REFUSED"));
}

#[test]
fn server_without_edns_gets_the_query_again_without_the_opt_record() {
    run(|| {
        // A server from before RFC 6891: FORMERR to any OPT record.
        let server = DnsServer::start(|q: &Query| {
            if q.edns_payload.is_some() {
                vec![Act::Send(q.reply().rcode(FORMERR).bytes())]
            } else {
                vec![Act::Send(
                    Zone::new().a("old.test", "127.0.0.1", 60).answer(q).bytes(),
                )]
            }
        });
        let http = Http::v4();
        let log = DnsLog::new();
        let c = client(&[&server], &log, |_| {});
        let t0 = Instant::now();
        assert_eq!(fetch(&c, &http.url("old.test", "/")).unwrap(), BODY);
        // At once, not after the (3 s) timeout.
        assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
        let evs = log.all();
        let dump = log.dump();
        assert_shape(&evs, "old.test", &dump);
        let s = [(server.addr, "s1")];
        assert_eq!(
            family(&evs, "A", &s),
            [
                "start udp s1",
                "done udp s1 FORMERR 0",
                "start udp s1",
                "done udp s1 NOERROR 1"
            ],
            "{dump}"
        );
        assert_eq!(
            family(&evs, "AAAA", &s),
            [
                "start udp s1",
                "done udp s1 FORMERR 0",
                "start udp s1",
                "done udp s1 NOERROR 0"
            ],
            "{dump}"
        );
        assert_eq!(log.done(), (vec![v4()], false, None), "{dump}");
        let edns: Vec<Option<u16>> = server.queries().iter().map(|q| q.edns_payload).collect();
        assert_eq!(edns.len(), 4, "{edns:?}");
        assert_eq!(
            edns.iter().filter(|e| **e == Some(1232)).count(),
            2,
            "{edns:?}"
        );
        assert_eq!(edns.iter().filter(|e| e.is_none()).count(), 2, "{edns:?}");
    });
}

#[test]
fn servfail_from_every_server_is_dns_failed_naming_the_rcode() {
    run(|| {
        let s1 = DnsServer::start(|q: &Query| vec![Act::Send(q.reply().rcode(SERVFAIL).bytes())]);
        let s2 = DnsServer::start(|q: &Query| vec![Act::Send(q.reply().rcode(REFUSED).bytes())]);
        let log = DnsLog::new();
        let c = client(&[&s1, &s2], &log, |_| {});
        let kind = err_in(fetch(&c, "http://broken.test:9/"), Phase::Dns);
        let ErrorKind::DnsFailed { host, attempts } = &kind else {
            panic!("expected DnsFailed, got {kind:?}")
        };
        assert_eq!(host, "broken.test");
        let mut got: Vec<(SocketAddr, &str, &str)> = attempts
            .iter()
            .map(|a| (a.server, a.qtype, a.error.as_str()))
            .collect();
        got.sort();
        let mut want = vec![
            (s1.addr, "A", "SERVFAIL"),
            (s1.addr, "AAAA", "SERVFAIL"),
            (s2.addr, "A", "REFUSED"),
            (s2.addr, "AAAA", "REFUSED"),
        ];
        want.sort();
        assert_eq!(got, want);
    });
}

#[test]
fn unreachable_server_fails_over_without_waiting_for_the_timeout() {
    run(|| {
        // A port nobody listens on: the kernel answers with ICMP port
        // unreachable, which the connected UDP socket reports.
        let closed = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let dead = closed.local_addr().unwrap();
        drop(closed);
        let s2 = DnsServer::start(Zone::new().a("alive.test", "127.0.0.1", 60).script());
        let http = Http::v4();
        let log = DnsLog::new();
        let c = Client::builder()
            .configure(|c: &mut Config| {
                c.dns_servers = Some(vec![dead, s2.addr]);
                c.resolv_conf = None;
                c.hosts_file = None;
                c.dns_search = Some(Vec::new());
                c.dns_timeout = Some(PROMPT);
                c.dns_attempts = Some(1);
            })
            .trace(log.trace())
            .build();
        let t0 = Instant::now();
        assert_eq!(fetch(&c, &http.url("alive.test", "/")).unwrap(), BODY);
        assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
        let evs = log.all();
        let dump = log.dump();
        assert_shape(&evs, "alive.test", &dump);
        let s = [(dead, "dead"), (s2.addr, "s2")];
        for fam in ["A", "AAAA"] {
            let f = family(&evs, fam, &s);
            assert_eq!(f.len(), 4, "{dump}");
            assert_eq!(f[0], "start udp dead", "{dump}");
            assert!(f[1].starts_with("done udp dead error: "), "{dump}");
            assert!(!f[1].contains("timed out"), "{dump}");
            assert_eq!(f[2], "start udp s2", "{dump}");
        }
        assert_eq!(log.done(), (vec![v4()], false, None), "{dump}");
    });
}

/// A timed-out A query with a NODATA AAAA answer: nobody said the name has
/// no A address, so the lookup failed (Go: the timeout error; glibc:
/// EAI_AGAIN); reporting NODATA ("exists but has no addresses") would be
/// a definitive answer the servers never gave.
#[test]
fn a_timed_out_and_aaaa_nodata_is_dns_failed_not_no_addresses() {
    run(|| {
        let server = DnsServer::start(|q: &Query| {
            if q.qtype == A {
                Vec::new()
            } else {
                vec![Act::Send(q.reply().aa().soa("test", 30, 30).bytes())]
            }
        });
        let log = DnsLog::new();
        let c = client(&[&server], &log, |c| c.dns_timeout = Some(SHORT));
        let kind = err_in(fetch(&c, "http://half.test:9/"), Phase::Dns);
        let dump = log.dump();
        let s = [(server.addr, "s1")];
        let evs = log.all();
        assert_eq!(
            family(&evs, "A", &s),
            ["start udp s1", "done udp s1 error: timed out"],
            "{dump}"
        );
        assert_eq!(
            family(&evs, "AAAA", &s),
            ["start udp s1", "done udp s1 NOERROR 0"],
            "{dump}"
        );
        let ErrorKind::DnsFailed { host, attempts } = &kind else {
            panic!("expected DnsFailed (the A query timed out), got {kind:?}\n{dump}")
        };
        assert_eq!(host, "half.test");
        assert_eq!(attempts.len(), 1, "{attempts:?}");
        assert_eq!(
            (attempts[0].qtype, attempts[0].error.as_str()),
            ("A", "timed out")
        );
    });
}

#[test]
fn late_answer_after_the_timeout_is_ignored_and_the_retry_wins() {
    run(|| {
        let server = DnsServer::start(|q: &Query| {
            if q.qtype != A {
                return vec![Act::Send(q.reply().aa().soa("test", 30, 30).bytes())];
            }
            if q.nth == 0 {
                // The first try's answer comes 50 ms after its 300 ms
                // timeout, while the retry is in flight, and names another
                // address.
                vec![
                    Act::Sleep(Duration::from_millis(350)),
                    Act::Send(q.reply().a(&q.name, "127.0.0.9", 60).bytes()),
                ]
            } else {
                // The retry's answer, well within its own timeout.
                vec![
                    Act::Sleep(Duration::from_millis(150)),
                    Act::Send(q.reply().a(&q.name, "127.0.0.1", 60).bytes()),
                ]
            }
        });
        let http = Http::v4();
        let log = DnsLog::new();
        let c = client(&[&server], &log, |c| {
            c.dns_timeout = Some(Duration::from_millis(300));
            c.dns_attempts = Some(2);
        });
        let result = fetch(&c, &http.url("late.test", "/"));
        assert_eq!(result.unwrap(), BODY, "{}", log.dump());
        let evs = log.all();
        let dump = log.dump();
        assert_shape(&evs, "late.test", &dump);
        let s = [(server.addr, "s1")];
        assert_eq!(
            family(&evs, "A", &s),
            [
                "start udp s1",
                "done udp s1 error: timed out",
                "start udp s1",
                "done udp s1 NOERROR 1"
            ],
            "{dump}"
        );
        assert_eq!(log.done(), (vec![v4()], false, None), "{dump}");
        let a_queries: Vec<Query> = server
            .queries()
            .into_iter()
            .filter(|q| q.qtype == A)
            .collect();
        assert_eq!(a_queries.len(), 2);
        assert_ne!(
            a_queries[0].from.port(),
            a_queries[1].from.port(),
            "the retry comes from a fresh port"
        );
    });
}

/// Happy Eyeballs (RFC 8305 §3): a silent AAAA query does not hold up the
/// A answer; connecting starts after the resolution delay, long before the
/// AAAA timeout. `dns_done` still comes, before `request_done`.
#[test]
fn silent_aaaa_does_not_hold_up_the_a_answer() {
    run(|| {
        let zone = Zone::new().a("v4fast.test", "127.0.0.1", 60);
        let server = DnsServer::start(move |q: &Query| {
            if q.qtype == A {
                vec![Act::Send(zone.answer(q).bytes())]
            } else {
                Vec::new()
            }
        });
        let http = Http::v4();
        let log = DnsLog::new();
        let c = client(&[&server], &log, |_| {});
        let t0 = Instant::now();
        let result = fetch(&c, &http.url("v4fast.test", "/"));
        let took = t0.elapsed();
        let dump = log.dump();
        assert_eq!(result.unwrap(), BODY, "{dump}");
        assert!(
            took < Duration::from_millis(1500),
            "waited {took:?} for the silent AAAA\n{dump}"
        );
        let names = log.names();
        let done = names.iter().position(|n| *n == "dns_done");
        let request_done = names.iter().position(|n| *n == "request_done");
        assert!(
            done.is_some() && done < request_done,
            "dns_done missing or after request_done:\n{dump}"
        );
        let (addrs, coalesced, error) = log.done();
        assert_eq!(
            (addrs, coalesced, error),
            (vec![v4()], false, None),
            "{dump}"
        );
        let s = [(server.addr, "s1")];
        assert_eq!(
            family(&log.all(), "A", &s),
            ["start udp s1", "done udp s1 NOERROR 1"],
            "{dump}"
        );
    });
}

/// A request that ends before its lookup (a quick Happy Eyeballs win on
/// the AAAA answer while the A query is still out) still gets a
/// `dns_query_done` for that query: the trace vocabulary has a
/// `dns_query_start`/`dns_query_done` pair for every query sent (issue #3;
/// src/trace/mod.rs), as a cancelled connection attempt still gets its
/// `connect_done` with a cancellation error.
#[test]
fn query_still_out_when_the_request_ends_gets_its_dns_query_done() {
    run(|| {
        let zone = Zone::new()
            .a("quick.test", "127.0.0.1", 60)
            .aaaa("quick.test", "::1", 60);
        let server = DnsServer::start(move |q: &Query| {
            let mut acts = Vec::new();
            if q.qtype == A {
                acts.push(Act::Sleep(Duration::from_millis(500)));
            }
            acts.push(Act::Send(zone.answer(q).bytes()));
            acts
        });
        let http = Http::dual();
        let log = DnsLog::new();
        let c = client(&[&server], &log, |_| {});
        assert_eq!(fetch(&c, &http.url("quick.test", "/")).unwrap(), BODY);
        let dump = log.dump();
        assert_eq!(http.accepted(), [SocketAddr::new(v6(), http.port)]);
        let names = log.names();
        let done = names.iter().position(|n| *n == "dns_done");
        let request_done = names.iter().position(|n| *n == "request_done");
        assert!(done.is_some() && done < request_done, "{dump}");
        assert_eq!(log.done().0, vec![v6()], "{dump}");
        let s = [(server.addr, "s1")];
        let a = family(&log.all(), "A", &s);
        assert_eq!(a.len(), 2, "the A query has no dns_query_done:\n{dump}");
        assert_eq!(a[0], "start udp s1", "{dump}");
        // Whatever it says (cancelled, or the late answer), it comes before
        // request_done, the last event.
        assert_shape(&log.all(), "quick.test", &dump);
    });
}

// ----- truncation and TCP ----------------------------------------------------

/// A UDP answer with TC for A; over TCP, 100 A records (127.0.0.1 first),
/// sent in three pieces so the client reads partial messages first.
fn truncating_script(q: &Query) -> Vec<Act> {
    if q.qtype != A {
        return vec![Act::Send(q.reply().aa().soa("test", 30, 30).bytes())];
    }
    if !q.tcp {
        return vec![Act::Send(q.reply().aa().tc().bytes())];
    }
    let mut reply = q.reply().aa().a(&q.name, "127.0.0.1", 60);
    for i in 1..100 {
        reply = reply.a(&q.name, &format!("127.0.1.{i}"), 60);
    }
    let msg = reply.bytes();
    let mut framed = (msg.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&msg);
    // Three pieces: inside the length prefix, inside the message, the rest.
    vec![
        Act::Raw(framed[..1].to_vec()),
        Act::Sleep(Duration::from_millis(20)),
        Act::Raw(framed[1..700].to_vec()),
        Act::Sleep(Duration::from_millis(20)),
        Act::Raw(framed[700..].to_vec()),
    ]
}

#[test]
fn truncated_udp_answer_is_asked_again_over_tcp() {
    run(|| {
        let server = DnsServer::start(truncating_script);
        let http = Http::v4();
        let log = DnsLog::new();
        let c = client(&[&server], &log, |_| {});
        assert_eq!(fetch(&c, &http.url("big.test", "/")).unwrap(), BODY);
        let evs = log.all();
        let dump = log.dump();
        assert_shape(&evs, "big.test", &dump);
        let s = [(server.addr, "s1")];
        assert_eq!(
            family(&evs, "A", &s),
            [
                "start udp s1",
                "done udp s1 NOERROR 0 TC",
                "start tcp s1",
                "done tcp s1 NOERROR 100"
            ],
            "{dump}"
        );
        assert_eq!(
            family(&evs, "AAAA", &s),
            ["start udp s1", "done udp s1 NOERROR 0"],
            "{dump}"
        );
        let (addrs, coalesced, error) = log.done();
        assert_eq!(
            (addrs.len(), coalesced, error),
            (100, false, None),
            "{dump}"
        );
        assert_eq!(addrs[0], v4());
        let mut want = pair("big.test");
        want.push(q("big.test", "A", "tcp"));
        want.sort();
        assert_eq!(seen(&server), want);
        let tcp = server.queries().into_iter().find(|q| q.tcp).unwrap();
        assert!(tcp.rd());
    });
}

#[test]
fn truncated_answer_with_tcp_refused_is_dns_failed() {
    run(|| {
        // TC for both families, and nothing listens on TCP.
        let server = DnsServer::start_udp_only(|q: &Query| vec![Act::Send(q.reply().tc().bytes())]);
        let log = DnsLog::new();
        let c = client(&[&server], &log, |_| {});
        let t0 = Instant::now();
        let kind = err_in(fetch(&c, "http://tc.test:9/"), Phase::Dns);
        assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
        let dump = log.dump();
        let ErrorKind::DnsFailed { attempts, .. } = &kind else {
            panic!("expected DnsFailed, got {kind:?}\n{dump}")
        };
        assert_eq!(attempts.len(), 2, "{attempts:?}");
        assert!(
            attempts.iter().all(|a| a.transport == "tcp"),
            "{attempts:?}"
        );
        let evs = log.all();
        let s = [(server.addr, "s1")];
        for fam in ["A", "AAAA"] {
            let f = family(&evs, fam, &s);
            assert_eq!(
                f[..3],
                ["start udp s1", "done udp s1 NOERROR 0 TC", "start tcp s1"],
                "{dump}"
            );
            assert!(f[3].starts_with("done tcp s1 error: "), "{dump}");
        }
    });
}

/// RFC 7766 §7: on a TCP connection responses are matched by id; a message
/// that answers nothing is skipped, not taken as the answer, and the real
/// answer behind it on the same connection is read.
#[test]
fn tcp_message_with_a_wrong_id_is_skipped_and_the_answer_behind_it_read() {
    run(|| {
        // Both families are truncated on UDP; on TCP each gets a stray
        // message first (another id), then its answer.
        let server = DnsServer::start(|q: &Query| {
            if !q.tcp {
                return vec![Act::Send(q.reply().tc().bytes())];
            }
            let (stray, good) = if q.qtype == A {
                (
                    q.reply().id(q.id ^ 0x5555).a(&q.name, "127.0.0.9", 60),
                    q.reply().a(&q.name, "127.0.0.1", 60),
                )
            } else {
                (
                    q.reply().id(q.id ^ 0x5555),
                    q.reply().aa().soa("test", 30, 30),
                )
            };
            vec![Act::Send(stray.bytes()), Act::Send(good.bytes())]
        });
        let http = Http::v4();
        let log = DnsLog::new();
        let c = client(&[&server], &log, |c| {
            c.dns_timeout = Some(Duration::from_secs(1))
        });
        let result = fetch(&c, &http.url("tcpid.test", "/"));
        let dump = log.dump();
        assert_eq!(result.unwrap(), BODY, "{dump}");
        assert_eq!(log.done(), (vec![v4()], false, None), "{dump}");
        let s = [(server.addr, "s1")];
        for (fam, answers) in [("A", 1), ("AAAA", 0)] {
            assert_eq!(
                family(&log.all(), fam, &s),
                [
                    "start udp s1".to_owned(),
                    "done udp s1 NOERROR 0 TC".to_owned(),
                    "start tcp s1".to_owned(),
                    format!("done tcp s1 NOERROR {answers}")
                ],
                "{dump}"
            );
        }
    });
}

/// After a truncated UDP answer, a TCP connection that closes without an
/// answer (or stays silent) is a failed try: the next server is asked.
fn tcp_failure_moves_to_the_next_server(tcp: Vec<Act>, timeout: Duration) {
    let s1 = DnsServer::start(move |q: &Query| {
        if q.tcp {
            tcp.clone()
        } else {
            vec![Act::Send(q.reply().tc().bytes())]
        }
    });
    let s2 = DnsServer::start(Zone::new().a("tcpfail.test", "127.0.0.1", 60).script());
    let http = Http::v4();
    let log = DnsLog::new();
    let c = client(&[&s1, &s2], &log, |c| c.dns_timeout = Some(timeout));
    let result = fetch(&c, &http.url("tcpfail.test", "/"));
    let dump = log.dump();
    assert_eq!(result.unwrap(), BODY, "{dump}");
    let evs = log.all();
    assert_shape(&evs, "tcpfail.test", &dump);
    let s = [(s1.addr, "s1"), (s2.addr, "s2")];
    for (fam, answers) in [("A", 1), ("AAAA", 0)] {
        let f = family(&evs, fam, &s);
        assert_eq!(f.len(), 6, "{dump}");
        assert_eq!(
            f[..3],
            ["start udp s1", "done udp s1 NOERROR 0 TC", "start tcp s1"],
            "{dump}"
        );
        assert!(f[3].starts_with("done tcp s1 error: "), "{dump}");
        assert_eq!(f[4], "start udp s2", "{dump}");
        assert_eq!(f[5], format!("done udp s2 NOERROR {answers}"), "{dump}");
    }
    assert_eq!(log.done(), (vec![v4()], false, None), "{dump}");
}

#[test]
fn tcp_closed_without_an_answer_moves_to_the_next_server() {
    run(|| tcp_failure_moves_to_the_next_server(vec![Act::Close], PROMPT));
}

#[test]
fn silent_tcp_times_out_and_moves_to_the_next_server() {
    run(|| {
        tcp_failure_moves_to_the_next_server(
            vec![Act::Sleep(Duration::from_millis(800))],
            Duration::from_millis(300),
        )
    });
}

/// EDNS0 (RFC 6891): with a 1232-byte payload advertised, a UDP answer
/// over 512 bytes is taken as it is, without TCP.
#[test]
fn udp_answer_over_512_bytes_is_accepted_with_edns() {
    run(|| {
        let server = DnsServer::start(|q: &Query| {
            if q.qtype != A {
                return vec![Act::Send(q.reply().aa().soa("test", 30, 30).bytes())];
            }
            let mut r = q.reply().a(&q.name, "127.0.0.1", 60);
            for i in 1..45 {
                r = r.a(&q.name, &format!("127.0.2.{i}"), 60);
            }
            let bytes = r.bytes();
            assert!(bytes.len() > 512 && bytes.len() <= 1232, "{}", bytes.len());
            vec![Act::Send(bytes)]
        });
        let http = Http::v4();
        let log = DnsLog::new();
        let c = client(&[&server], &log, |_| {});
        assert_eq!(fetch(&c, &http.url("wide.test", "/")).unwrap(), BODY);
        let dump = log.dump();
        let s = [(server.addr, "s1")];
        assert_eq!(
            family(&log.all(), "A", &s),
            ["start udp s1", "done udp s1 NOERROR 45"],
            "{dump}"
        );
        assert_eq!(log.done().0.len(), 45, "{dump}");
        assert!(server.queries().iter().all(|q| !q.tcp));
    });
}

#[test]
fn attempts_go_round_every_server() {
    run(|| {
        let s1 = DnsServer::start(|_: &Query| Vec::new());
        let s2 = DnsServer::start(|_: &Query| Vec::new());
        let log = DnsLog::new();
        let c = client(&[&s1, &s2], &log, |c| {
            c.dns_timeout = Some(Duration::from_millis(150));
            c.dns_attempts = Some(2);
        });
        let kind = err_in(fetch(&c, "http://nowhere.test:9/"), Phase::Dns);
        let dump = log.dump();
        let ErrorKind::DnsFailed { attempts, .. } = &kind else {
            panic!("expected DnsFailed, got {kind:?}\n{dump}")
        };
        assert_eq!(attempts.len(), 8, "{attempts:?}");
        let s = [(s1.addr, "s1"), (s2.addr, "s2")];
        for fam in ["A", "AAAA"] {
            let starts: Vec<String> = family(&log.all(), fam, &s)
                .into_iter()
                .filter(|e| e.starts_with("start"))
                .collect();
            assert_eq!(
                starts,
                [
                    "start udp s1",
                    "start udp s2",
                    "start udp s1",
                    "start udp s2"
                ],
                "{dump}"
            );
        }
        assert_eq!((s1.count(), s2.count()), (4, 4));
    });
}

#[test]
fn rotate_starts_each_lookup_at_the_next_server() {
    run(|| {
        let names = ["r0.test", "r1.test", "r2.test", "r3.test", "r4.test"];
        let zone = || {
            names
                .iter()
                .fold(Zone::new(), |z, n| z.a(n, "127.0.0.1", 60))
                .script()
        };
        let s1 = DnsServer::start(zone());
        let s2 = DnsServer::start(zone());
        // `rotate` has no Config field: it comes from resolv.conf. This file
        // names no server (Config's loopback ones replace its default).
        let conf = std::env::temp_dir().join(format!(
            "roundtrip-dns-loopback-rotate-{}.conf",
            std::process::id()
        ));
        std::fs::write(&conf, "options rotate\n").unwrap();
        let http = Http::v4();
        let log = DnsLog::new();
        let path = conf.clone();
        let c = client(&[&s1, &s2], &log, move |c| c.resolv_conf = Some(path));
        for name in names {
            assert_eq!(fetch(&c, &http.url(name, "/")).unwrap(), BODY);
        }
        let _ = std::fs::remove_file(&conf);
        // Each lookup is answered by the first server it asks, so who saw a
        // name is who got its first query.
        let asked: Vec<&str> = names
            .iter()
            .map(|n| {
                let by = |s: &DnsServer| s.summary().iter().any(|(q, _, _)| q == n);
                match (by(&s1), by(&s2)) {
                    (true, false) => "s1",
                    (false, true) => "s2",
                    other => panic!("{n}: asked {other:?}\n{}", log.dump()),
                }
            })
            .collect();
        let alternating = asked.windows(2).all(|w| w[0] != w[1]);
        assert!(alternating, "{asked:?}\n{}", log.dump());
        assert_eq!((s1.count() + s2.count()), 2 * names.len());
    });
}

#[test]
fn dns_server_on_ipv6_loopback() {
    run(|| {
        let server = DnsServer::start_v6(truncating_script);
        assert!(server.addr.is_ipv6());
        let http = Http::v4();
        let log = DnsLog::new();
        let c = client(&[&server], &log, |_| {});
        assert_eq!(fetch(&c, &http.url("six.test", "/")).unwrap(), BODY);
        let dump = log.dump();
        let s = [(server.addr, "s1")];
        assert_eq!(
            family(&log.all(), "A", &s),
            [
                "start udp s1",
                "done udp s1 NOERROR 0 TC",
                "start tcp s1",
                "done tcp s1 NOERROR 100"
            ],
            "{dump}"
        );
        assert!(server.queries().iter().all(|q| q.from.is_ipv6()));
    });
}

#[test]
fn many_names_in_one_batch_all_resolve() {
    run(|| {
        let mut zone = Zone::new();
        for i in 0..20 {
            zone = zone.a(&format!("n{i}.test"), "127.0.0.1", 60);
        }
        let server = DnsServer::start(zone.script());
        let http = Http::v4();
        let log = DnsLog::new();
        let c = client(&[&server], &log, |_| {});
        let mut batch = c.batch();
        for i in 0..20 {
            let url = http.url(&format!("n{i}.test"), "/");
            batch.submit(Request::get(url).body(()).unwrap());
        }
        let mut ok = 0;
        while let Some((_, res)) = batch.wait() {
            assert_eq!(res.unwrap().into_body().text().unwrap(), BODY);
            ok += 1;
        }
        assert_eq!(ok, 20);
        drop(batch);
        assert_eq!(server.count(), 40);
        let dump = log.dump();
        assert_eq!(log.count("dns_done"), 20, "{dump}");
        assert_eq!(log.count("dns_query_done"), 40, "{dump}");
    });
}

/// Records in an answer for names other than the one asked are not used,
/// and not cached under their own names (RFC 5452 §6, bailiwick).
#[test]
fn records_for_other_names_in_an_answer_are_not_trusted() {
    run(|| {
        let server = DnsServer::start(|q: &Query| {
            let name = q.lname();
            let mut r = q.reply();
            if q.qtype == A && name == "first.test" {
                r = r
                    .a("victim.test", "127.0.0.9", 3600)
                    .a(&q.name, "127.0.0.1", 60);
            } else if q.qtype == A && name == "victim.test" {
                r = r.a(&q.name, "127.0.0.1", 60);
            } else {
                r = r.aa().soa("test", 30, 30);
            }
            vec![Act::Send(r.bytes())]
        });
        let http = Http::v4();
        let log = DnsLog::new();
        let c = client(&[&server], &log, |_| {});
        assert_eq!(fetch(&c, &http.url("first.test", "/")).unwrap(), BODY);
        assert_eq!(log.done().0, vec![v4()], "{}", log.dump());
        log.clear();
        assert_eq!(fetch(&c, &http.url("victim.test", "/")).unwrap(), BODY);
        assert_eq!(log.done().0, vec![v4()], "{}", log.dump());
        assert_eq!(
            seen(&server)
                .iter()
                .filter(|(n, _, _)| n == "victim.test")
                .count(),
            2,
            "victim.test was taken from the other answer"
        );
    });
}

// ----- answers that must not be trusted ----------------------------------------

/// The A query first gets `bad` (built from the query; it names 127.0.0.9
/// where it names an address at all), then, 30 ms later, the real answer.
/// The bad datagram must be dropped: no `dns_query_done` for it, no retry,
/// and the real answer used; the client's count of dropped answers must
/// then read `dropped`.
fn ignored_before_real_answer(name: &'static str, dropped: u64, bad: fn(&Query) -> Act) {
    let server = DnsServer::start(move |q: &Query| {
        let real = Zone::new().a(name, "127.0.0.1", 60).answer(q).bytes();
        if q.qtype == A {
            vec![
                bad(q),
                Act::Sleep(Duration::from_millis(30)),
                Act::Send(real),
            ]
        } else {
            vec![Act::Send(real)]
        }
    });
    let http = Http::v4();
    let log = DnsLog::new();
    let c = client(&[&server], &log, |_| {});
    let result = fetch(&c, &http.url(name, "/"));
    let dump = log.dump();
    assert_eq!(result.unwrap(), BODY, "{dump}");
    let evs = log.all();
    assert_shape(&evs, name, &dump);
    let s = [(server.addr, "s1")];
    assert_eq!(
        family(&evs, "A", &s),
        ["start udp s1", "done udp s1 NOERROR 1"],
        "{dump}"
    );
    assert_eq!(
        family(&evs, "AAAA", &s),
        ["start udp s1", "done udp s1 NOERROR 0"],
        "{dump}"
    );
    assert_eq!(log.done(), (vec![v4()], false, None), "{dump}");
    assert_eq!(seen(&server), pair(name), "no retry was needed");
    assert_eq!(c.dns_answers_dropped(), dropped, "{dump}");
}

#[test]
fn garbage_datagram_is_ignored() {
    run(|| {
        ignored_before_real_answer("garbage.test", 1, |_| {
            Act::Send(b"\x00\x01garbage, not DNS".to_vec())
        })
    });
}

#[test]
fn malformed_datagram_with_the_right_id_is_ignored() {
    run(|| {
        ignored_before_real_answer("malformed.test", 1, |q| {
            // A header announcing one answer record that is cut off.
            let full = q.reply().a(&q.name, "127.0.0.9", 60).bytes();
            Act::Send(full[..full.len() - 6].to_vec())
        })
    });
}

#[test]
fn empty_datagram_is_ignored() {
    run(|| ignored_before_real_answer("empty.test", 1, |_| Act::Send(Vec::new())));
}

#[test]
fn query_echoed_back_is_not_an_answer() {
    run(|| ignored_before_real_answer("echo.test", 1, |q| Act::Send(q.raw.clone())));
}

#[test]
fn answer_with_a_wrong_id_is_ignored() {
    run(|| {
        ignored_before_real_answer("wrongid.test", 1, |q| {
            Act::Send(
                q.reply()
                    .id(q.id.wrapping_add(1))
                    .a(&q.name, "127.0.0.9", 60)
                    .bytes(),
            )
        })
    });
}

#[test]
fn answer_to_another_name_is_ignored() {
    run(|| {
        ignored_before_real_answer("rightname.test", 1, |q| {
            Act::Send(
                q.reply()
                    .question("evil.test", A)
                    .a("evil.test", "127.0.0.9", 60)
                    .a(&q.name, "127.0.0.9", 60)
                    .bytes(),
            )
        })
    });
}

#[test]
fn answer_to_another_type_is_ignored() {
    run(|| {
        ignored_before_real_answer("righttype.test", 1, |q| {
            // The question says AAAA on the A query's socket.
            Act::Send(q.reply().question(&q.name, AAAA).bytes())
        })
    });
}

#[test]
fn answer_without_the_question_is_ignored() {
    run(|| {
        ignored_before_real_answer("noquestion.test", 1, |q| {
            let mut r = q.reply().a(&q.name, "127.0.0.9", 60);
            r.questions.clear();
            Act::Send(r.bytes())
        })
    });
}

#[test]
fn answer_from_another_port_is_ignored() {
    run(|| {
        // The client's UDP socket is connected to the server, so the kernel
        // discards the datagram from the other port: it never reaches the
        // resolver, and is not counted as dropped. (The resolver's own
        // source check, for drivers with unconnected sockets, is covered by
        // its unit tests.)
        ignored_before_real_answer("otherport.test", 0, |q| {
            Act::SendFromOtherPort(q.reply().a(&q.name, "127.0.0.9", 60).bytes())
        })
    });
}

#[test]
fn dropped_answers_are_counted_and_the_good_one_used() {
    run(|| {
        let server = DnsServer::start(|q: &Query| {
            let real = Zone::new()
                .a("counted.test", "127.0.0.1", 60)
                .answer(q)
                .bytes();
            if q.qtype == A {
                vec![
                    Act::Send(
                        q.reply()
                            .id(q.id.wrapping_add(1))
                            .a(&q.name, "127.0.0.9", 60)
                            .bytes(),
                    ),
                    Act::Send(
                        q.reply()
                            .question("evil.test", A)
                            .a("evil.test", "127.0.0.9", 60)
                            .bytes(),
                    ),
                    Act::Sleep(Duration::from_millis(30)),
                    Act::Send(real),
                ]
            } else {
                vec![Act::Send(real)]
            }
        });
        let http = Http::v4();
        let log = DnsLog::new();
        let c = client(&[&server], &log, |_| {});
        assert_eq!(c.dns_answers_dropped(), 0);
        assert_eq!(fetch(&c, &http.url("counted.test", "/")).unwrap(), BODY);
        let dump = log.dump();
        assert_eq!(log.done(), (vec![v4()], false, None), "{dump}");
        assert_eq!(c.dns_answers_dropped(), 2, "{dump}");
    });
}

#[test]
fn spoofed_nxdomain_with_a_wrong_id_does_not_end_the_lookup() {
    run(|| {
        ignored_before_real_answer("notgone.test", 1, |q| {
            Act::Send(
                q.reply()
                    .id(!q.id)
                    .rcode(NXDOMAIN)
                    .soa("test", 300, 300)
                    .bytes(),
            )
        })
    });
}

#[test]
fn question_echo_is_matched_case_insensitively() {
    run(|| {
        // A server may echo the name in another case (0x20 randomisation,
        // RFC 1035 §2.3.3: names compare case-insensitively).
        let server = DnsServer::start(|q: &Query| {
            let upper = q.name.to_ascii_uppercase();
            let mut r = q.reply().question(&upper, q.qtype);
            if q.qtype == A {
                r = r.a(&upper, "127.0.0.1", 60);
            }
            vec![Act::Send(r.bytes())]
        });
        let http = Http::v4();
        let log = DnsLog::new();
        let c = client(&[&server], &log, |_| {});
        assert_eq!(fetch(&c, &http.url("MiXeD.test", "/")).unwrap(), BODY);
        assert_eq!(log.done(), (vec![v4()], false, None), "{}", log.dump());
    });
}

// ----- the cache and coalescing --------------------------------------------------

#[test]
fn second_request_within_the_ttl_is_answered_from_the_cache() {
    run(|| {
        let server = DnsServer::start(Zone::new().a("cached.test", "127.0.0.1", 60).script());
        let http = Http::v4();
        let log = DnsLog::new();
        let c = client(&[&server], &log, |_| {});
        assert_eq!(fetch(&c, &http.url("cached.test", "/")).unwrap(), BODY);
        assert_eq!(server.count(), 2);

        log.clear();
        assert_eq!(fetch(&c, &http.url("cached.test", "/")).unwrap(), BODY);
        let dump = log.dump();
        assert_eq!(server.count(), 2, "a cached name was asked again");
        assert_eq!(
            log.dns(),
            [
                Dns::Start {
                    host: "cached.test".into()
                },
                Dns::Done {
                    addrs: vec![v4()],
                    coalesced: false,
                    error: None
                }
            ],
            "{dump}"
        );
        // The connection was new (the server closes each one): the cache,
        // not the pool, saved the lookup.
        assert_eq!(http.accepted().len(), 2);
    });
}

#[test]
fn answers_are_asked_again_once_their_ttl_has_passed() {
    run(|| {
        let server = DnsServer::start(
            Zone::new()
                .a("short.test", "127.0.0.1", 1)
                .negative_ttl(1)
                .script(),
        );
        let http = Http::v4();
        let log = DnsLog::new();
        let c = client(&[&server], &log, |_| {});
        let url = http.url("short.test", "/");
        assert_eq!(fetch(&c, &url).unwrap(), BODY);
        assert_eq!(fetch(&c, &url).unwrap(), BODY);
        assert_eq!(server.count(), 2, "within the TTL: cached");
        std::thread::sleep(Duration::from_millis(1200));
        log.clear();
        assert_eq!(fetch(&c, &url).unwrap(), BODY);
        assert_eq!(server.count(), 4, "after the TTL: asked again");
        let dump = log.dump();
        assert_eq!(log.count("dns_query_start"), 2, "{dump}");
        assert_eq!(log.done(), (vec![v4()], false, None), "{dump}");
    });
}

#[test]
fn zero_ttl_answers_are_not_cached() {
    run(|| {
        let server = DnsServer::start(
            Zone::new()
                .a("zero.test", "127.0.0.1", 0)
                .negative_ttl(0)
                .script(),
        );
        let http = Http::v4();
        let log = DnsLog::new();
        let c = client(&[&server], &log, |_| {});
        let url = http.url("zero.test", "/");
        assert_eq!(fetch(&c, &url).unwrap(), BODY);
        assert_eq!(fetch(&c, &url).unwrap(), BODY);
        assert_eq!(server.count(), 4, "TTL 0: use for this lookup only");
    });
}

#[test]
fn concurrent_requests_for_one_name_share_one_lookup() {
    run(|| {
        let zone = Zone::new().a("shared.test", "127.0.0.1", 60);
        // A little delay, so the second request surely finds the lookup in
        // flight.
        let server = DnsServer::start(move |q: &Query| {
            vec![
                Act::Sleep(Duration::from_millis(50)),
                Act::Send(zone.answer(q).bytes()),
            ]
        });
        let http = Http::v4();
        let log = DnsLog::new();
        let c = client(&[&server], &log, |_| {});
        let url = http.url("shared.test", "/");
        let mut batch = c.batch();
        let r1 = batch.submit(Request::get(&url).body(()).unwrap());
        let r2 = batch.submit(Request::get(&url).body(()).unwrap());
        let mut done = 0;
        while let Some((_, res)) = batch.wait() {
            assert_eq!(res.unwrap().into_body().text().unwrap(), BODY);
            done += 1;
        }
        assert_eq!(done, 2);
        drop(batch);
        let dump = log.dump();
        assert_eq!(seen(&server), pair("shared.test"), "one pair of queries");

        let first = log.of(r1.0);
        assert_shape(&first, "shared.test", &dump);
        let s = [(server.addr, "s1")];
        assert_eq!(
            family(&first, "A", &s),
            ["start udp s1", "done udp s1 NOERROR 1"],
            "{dump}"
        );
        let second = log.of(r2.0);
        let second_dns: Vec<&Dns> = second
            .iter()
            .filter(|e| e.name().starts_with("dns_"))
            .collect();
        assert_eq!(
            second_dns,
            [
                &Dns::Start {
                    host: "shared.test".into()
                },
                &Dns::Done {
                    addrs: vec![v4()],
                    coalesced: true,
                    error: None
                }
            ],
            "{dump}"
        );
        let first_done = first.iter().find(|e| e.name() == "dns_done").unwrap();
        assert_eq!(
            first_done,
            &Dns::Done {
                addrs: vec![v4()],
                coalesced: false,
                error: None
            },
            "{dump}"
        );
        assert_eq!(http.accepted().len(), 2);
    });
}

#[test]
fn concurrent_requests_for_a_missing_name_share_the_nxdomain() {
    run(|| {
        let server = DnsServer::start(move |q: &Query| {
            vec![
                Act::Sleep(Duration::from_millis(50)),
                Act::Send(Zone::new().answer(q).bytes()),
            ]
        });
        let log = DnsLog::new();
        let c = client(&[&server], &log, |_| {});
        let mut batch = c.batch();
        let r1 = batch.submit(Request::get("http://nobody.test:9/").body(()).unwrap());
        let r2 = batch.submit(Request::get("http://nobody.test:9/").body(()).unwrap());
        let mut errors = 0;
        while let Some((_, res)) = batch.wait() {
            let kind = err_in(res, Phase::Dns);
            assert!(matches!(kind, ErrorKind::HostNotFound { .. }), "{kind:?}");
            errors += 1;
        }
        assert_eq!(errors, 2);
        drop(batch);
        let dump = log.dump();
        assert_eq!(server.count(), 2, "one pair of queries");
        let coalesced = |r: u64| {
            log.of(r).into_iter().find_map(|e| match e {
                Dns::Done {
                    coalesced, error, ..
                } => Some((coalesced, error.is_some())),
                _ => None,
            })
        };
        assert_eq!(coalesced(r1.0), Some((false, true)), "{dump}");
        assert_eq!(coalesced(r2.0), Some((true, true)), "{dump}");
    });
}

#[test]
fn cancelling_the_first_of_two_coalesced_requests_still_resolves_the_second() {
    run(|| {
        let zone = Zone::new().a("heir.test", "127.0.0.1", 60);
        let server = DnsServer::start(move |q: &Query| {
            vec![
                Act::Sleep(Duration::from_millis(100)),
                Act::Send(zone.answer(q).bytes()),
            ]
        });
        let http = Http::v4();
        let log = DnsLog::new();
        let c = client(&[&server], &log, |_| {});
        let url = http.url("heir.test", "/");
        let mut batch = c.batch();
        let r1 = batch.submit(Request::get(&url).body(()).unwrap());
        let r2 = batch.submit(Request::get(&url).body(()).unwrap());
        assert!(batch.cancel(r1));
        let (id, res) = batch.wait().expect("the second request");
        assert_eq!(id, r2);
        assert_eq!(res.unwrap().into_body().text().unwrap(), BODY);
        assert!(batch.wait().is_none());
        drop(batch);
        let dump = log.dump();
        assert_eq!(server.count(), 2, "the lookup was not started again");
        let done: Vec<Dns> = log
            .of(r2.0)
            .into_iter()
            .filter(|e| e.name() == "dns_done")
            .collect();
        assert_eq!(done.len(), 1, "{dump}");
        let Dns::Done { addrs, error, .. } = &done[0] else {
            unreachable!()
        };
        assert_eq!((addrs.as_slice(), error), (&[v4()][..], &None), "{dump}");
    });
}

// ----- names -----------------------------------------------------------------------

#[test]
fn search_list_completes_a_single_label_name() {
    run(|| {
        let server = DnsServer::start(
            Zone::new()
                .a("intranet.corp.test", "127.0.0.1", 60)
                .script(),
        );
        let http = Http::v4();
        let log = DnsLog::new();
        let c = client(&[&server], &log, |c| {
            c.dns_search = Some(vec!["corp.test".into()]);
        });
        assert_eq!(fetch(&c, &http.url("intranet", "/")).unwrap(), BODY);
        let dump = log.dump();
        assert_shape(&log.all(), "intranet", &dump);
        assert_eq!(log.done(), (vec![v4()], false, None), "{dump}");
        // Found under the first domain: "intranet" alone is never asked.
        assert_eq!(seen(&server), pair("intranet.corp.test"));
    });
}

#[test]
fn search_list_moves_on_after_nxdomain_and_ndots_puts_dotted_names_first() {
    run(|| {
        let server = DnsServer::start(
            Zone::new()
                .a("app.lab.test", "127.0.0.1", 60)
                .a("db.internal.lab.test", "127.0.0.1", 60)
                .script(),
        );
        let http = Http::v4();
        let log = DnsLog::new();
        let c = client(&[&server], &log, |c| {
            c.dns_search = Some(vec!["corp.test".into(), "lab.test".into()]);
            c.dns_ndots = Some(1);
        });
        // No dot: the search list first, in order.
        assert_eq!(fetch(&c, &http.url("app", "/")).unwrap(), BODY);
        let names: Vec<String> = server.queries().iter().map(|q| q.lname()).collect();
        assert_eq!(
            names,
            [
                "app.corp.test",
                "app.corp.test",
                "app.lab.test",
                "app.lab.test"
            ]
        );
        let dump = log.dump();
        assert_eq!(log.count("dns_query_start"), 4, "{dump}");
        assert_eq!(log.done(), (vec![v4()], false, None), "{dump}");

        // One dot (= ndots): the name as it is first, then the search list.
        log.clear();
        assert_eq!(fetch(&c, &http.url("db.internal", "/")).unwrap(), BODY);
        let names: Vec<String> = server.queries()[4..].iter().map(|q| q.lname()).collect();
        assert_eq!(
            names,
            [
                "db.internal",
                "db.internal",
                "db.internal.corp.test",
                "db.internal.corp.test",
                "db.internal.lab.test",
                "db.internal.lab.test"
            ]
        );
    });
}

#[test]
fn trailing_dot_makes_a_name_absolute() {
    run(|| {
        let server = DnsServer::start(Zone::new().a("abs.test", "127.0.0.1", 60).script());
        let http = Http::v4();
        let log = DnsLog::new();
        let c = client(&[&server], &log, |c| {
            c.dns_search = Some(vec!["corp.test".into()]);
            c.dns_ndots = Some(5);
        });
        assert_eq!(fetch(&c, &http.url("abs.test.", "/")).unwrap(), BODY);
        assert_eq!(seen(&server), pair("abs.test"), "only the name itself");
        assert_eq!(log.done(), (vec![v4()], false, None), "{}", log.dump());
        // Without the dot, ndots 5 puts the search list first.
        let server2 = DnsServer::start(Zone::new().a("rel.test", "127.0.0.1", 60).script());
        let log2 = DnsLog::new();
        let c2 = client(&[&server2], &log2, |c| {
            c.dns_search = Some(vec!["corp.test".into()]);
            c.dns_ndots = Some(5);
        });
        assert_eq!(fetch(&c2, &http.url("rel.test", "/")).unwrap(), BODY);
        let names: Vec<String> = server2.queries().iter().map(|q| q.lname()).collect();
        assert_eq!(
            names,
            [
                "rel.test.corp.test",
                "rel.test.corp.test",
                "rel.test",
                "rel.test"
            ]
        );
    });
}

#[test]
fn invalid_names_never_reach_the_server() {
    run(|| {
        let server = DnsServer::start(Zone::new().a("x.invalid", "127.0.0.1", 60).script());
        let log = DnsLog::new();
        let c = client(&[&server], &log, |c| {
            c.dns_search = Some(vec!["corp.test".into()]);
        });
        let kind = err_in(fetch(&c, "http://no-such-host.invalid:9/"), Phase::Dns);
        assert!(
            matches!(&kind, ErrorKind::HostNotFound { host } if host == "no-such-host.invalid"),
            "{kind:?}"
        );
        let kind = err_in(fetch(&c, "http://x.invalid:9/"), Phase::Dns);
        assert!(matches!(kind, ErrorKind::HostNotFound { .. }), "{kind:?}");
        let dump = log.dump();
        assert_eq!(log.count("dns_query_start"), 0, "{dump}");
        assert_eq!(log.count("dns_start"), 2, "{dump}");
        assert_eq!(log.count("dns_done"), 2, "{dump}");
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(server.count(), 0, "a .invalid name was sent to DNS");
    });
}

#[test]
fn overlong_label_is_an_invalid_host_name_and_sends_nothing() {
    run(|| {
        let server = DnsServer::start(Zone::new().script());
        let log = DnsLog::new();
        let c = client(&[&server], &log, |_| {});
        let url = format!("http://{}.test:9/", "x".repeat(64));
        let kind = err_in(fetch(&c, &url), Phase::Dns);
        assert!(
            matches!(kind, ErrorKind::InvalidHostName { .. }),
            "{kind:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(server.count(), 0);
        assert_eq!(log.count("dns_query_start"), 0, "{}", log.dump());
    });
}

#[test]
fn localhost_and_config_hosts_never_reach_the_server() {
    run(|| {
        let server = DnsServer::start(Zone::new().script());
        let http = Http::dual();
        let log = DnsLog::new();
        let c = client(&[&server], &log, |c| {
            c.hosts = vec![("fromhosts.test".into(), v4())];
        });
        assert_eq!(fetch(&c, &http.url("localhost", "/")).unwrap(), BODY);
        assert_eq!(
            log.done(),
            (vec![v6(), v4()], false, None),
            "{}",
            log.dump()
        );
        log.clear();
        assert_eq!(fetch(&c, &http.url("fromhosts.test", "/")).unwrap(), BODY);
        assert_eq!(log.done(), (vec![v4()], false, None), "{}", log.dump());
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(server.count(), 0);
    });
}

#[test]
fn ip_literals_skip_name_resolution() {
    run(|| {
        let server = DnsServer::start(Zone::new().script());
        let http = Http::dual();
        let log = DnsLog::new();
        let c = client(&[&server], &log, |_| {});
        assert_eq!(fetch(&c, &http.url("127.0.0.1", "/")).unwrap(), BODY);
        assert_eq!(fetch(&c, &http.url("[::1]", "/")).unwrap(), BODY);
        let dump = log.dump();
        assert!(log.dns().is_empty(), "DNS events for IP literals:\n{dump}");
        assert_eq!(server.count(), 0);
    });
}

#[test]
fn pinned_host_and_port_send_no_query() {
    run(|| {
        let server = DnsServer::start(Zone::new().script());
        let http = Http::v4();
        let log = DnsLog::new();
        let port = http.port;
        let c = client(&[&server], &log, move |c| {
            c.resolve = vec![("pinned.test".into(), port, vec![v4()])];
        });
        assert_eq!(fetch(&c, &http.url("PINNED.test", "/")).unwrap(), BODY);
        let dump = log.dump();
        assert_eq!(
            log.dns(),
            [
                Dns::Start {
                    host: "PINNED.test".into()
                },
                Dns::Done {
                    addrs: vec![v4()],
                    coalesced: false,
                    error: None
                }
            ],
            "{dump}"
        );
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(server.count(), 0);

        // The pin is for that port only: another port is looked up.
        log.clear();
        let kind = err_in(fetch(&c, "http://pinned.test:9/"), Phase::Dns);
        assert!(matches!(kind, ErrorKind::HostNotFound { .. }), "{kind:?}");
        assert_eq!(seen(&server), pair("pinned.test"));
    });
}

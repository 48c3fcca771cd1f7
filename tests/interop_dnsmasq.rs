//! Interop of the DNS stub resolver with a real server, Debian's dnsmasq
//! (issue #3; DESIGN.md, "Testing layers", 4): A-only, A+AAAA and CNAME
//! names, an unknown name (NXDOMAIN), a name outside dnsmasq's domain
//! (REFUSED), a name without addresses (NODATA), a truncated answer fetched
//! again over TCP, TTLs and the cache, the search list and coalescing —
//! each fetched through the client from an HTTP server on loopback, with
//! the trace and what dnsmasq logged checked.
//!
//! Each test starts its own dnsmasq on a loopback port
//! (tests/support/dnsmasq.rs). Without dnsmasq (Debian package
//! `dnsmasq-base`) they print `SKIPPED` and pass, unless
//! `ROUNDTRIP_INTEROP=require`, which makes them fail.
//!
//! Network rule: every client here asks only the test's dnsmasq on
//! 127.0.0.1 (which has no upstream servers), reads no resolv.conf and no
//! hosts file.

#![forbid(unsafe_code)]

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use http::Request;
use roundtrip::{Client, Config, ErrorKind, Phase};
use support::dns::{v4, v6, Dns, DnsLog, Http, BODY};
use support::dnsmasq::{dnsmasq_or_skip, Dnsmasq, Options};
use support::lo::{err_in, within};

const LIMIT: Duration = Duration::from_secs(20);

/// The records most tests use.
fn records() -> Options {
    Options::default()
        .host_record("v4.test,127.0.0.1,60")
        .host_record("dual.test,127.0.0.1,::1,60")
        .cname("alias.test,v4.test,60")
        .arg("--txt-record=txt.test,no addresses here")
}

fn client(dnsmasq: &Dnsmasq, log: &DnsLog, f: impl FnOnce(&mut Config)) -> Client {
    let server = dnsmasq.addr;
    assert!(server.ip().is_loopback());
    Client::builder()
        .configure(move |c: &mut Config| {
            c.dns_servers = Some(vec![server]);
            c.resolv_conf = None;
            c.hosts_file = None;
            c.dns_search = Some(Vec::new());
            c.dns_ndots = Some(1);
            c.dns_timeout = Some(Duration::from_secs(3));
            c.dns_attempts = Some(1);
            c.connect_timeout = Duration::from_secs(3);
            f(c);
        })
        .trace(log.trace())
        .build()
}

fn fetch(client: &Client, url: &str) -> roundtrip::Result<String> {
    client.get(url)?.into_body().text()
}

/// Starts dnsmasq with `options` on the test's own thread (so a
/// `SKIPPED` line names the test), then runs `f` with a watchdog.
fn run(options: Options, f: impl FnOnce(Dnsmasq) + Send + 'static) {
    let Some(dm) = dnsmasq_or_skip(options) else {
        return;
    };
    within(LIMIT, move || f(dm))
}

/// The `dns_query_done` events of `qtype`: (transport, rcode or error,
/// answers, truncated).
fn dones(log: &DnsLog, qtype: &str) -> Vec<(&'static str, String, usize, bool)> {
    log.all()
        .into_iter()
        .filter_map(|e| match e {
            Dns::QueryDone {
                qtype: q,
                transport,
                rcode,
                error,
                answers,
                truncated,
                ..
            } if q == qtype => Some((
                transport,
                rcode.map(str::to_owned).or(error).unwrap_or_default(),
                answers,
                truncated,
            )),
            _ => None,
        })
        .collect()
}

/// Waits (briefly) until dnsmasq has logged at least `n` queries and
/// returns them sorted.
fn logged(dnsmasq: &Dnsmasq, n: usize) -> Vec<(String, String)> {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let mut q = dnsmasq.queries();
        if q.len() >= n || Instant::now() >= deadline {
            q.sort();
            return q;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn pair(name: &str) -> Vec<(String, String)> {
    vec![
        ("A".to_owned(), name.to_owned()),
        ("AAAA".to_owned(), name.to_owned()),
    ]
}

#[test]
fn a_only_name() {
    run(records(), |dm| {
        let http = Http::v4();
        let log = DnsLog::new();
        let c = client(&dm, &log, |_| {});
        let result = fetch(&c, &http.url("v4.test", "/"));
        let dump = log.dump();
        assert_eq!(result.unwrap(), BODY, "{dump}\n{}", dm.logs());
        assert_eq!(log.done(), (vec![v4()], false, None), "{dump}");
        assert_eq!(
            dones(&log, "A"),
            [("udp", "NOERROR".into(), 1, false)],
            "{dump}"
        );
        assert_eq!(
            dones(&log, "AAAA"),
            [("udp", "NOERROR".into(), 0, false)],
            "{dump}"
        );
        assert_eq!(logged(&dm, 2), pair("v4.test"), "{}", dm.logs());
    });
}

#[test]
fn a_and_aaaa_name() {
    run(records(), |dm| {
        // The response waits a little, so the whole lookup is over before
        // the request is, whichever family dnsmasq answers first.
        let http = Http::dual_slow(Duration::from_millis(150));
        let log = DnsLog::new();
        let c = client(&dm, &log, |_| {});
        let result = fetch(&c, &http.url("dual.test", "/"));
        let dump = log.dump();
        assert_eq!(result.unwrap(), BODY, "{dump}\n{}", dm.logs());
        assert_eq!(log.done(), (vec![v6(), v4()], false, None), "{dump}");
        assert_eq!(
            dones(&log, "A"),
            [("udp", "NOERROR".into(), 1, false)],
            "{dump}"
        );
        assert_eq!(
            dones(&log, "AAAA"),
            [("udp", "NOERROR".into(), 1, false)],
            "{dump}"
        );
        // IPv6 first (RFC 8305), and it connected.
        assert_eq!(http.accepted(), [SocketAddr::new(v6(), http.port)]);
        assert_eq!(logged(&dm, 2), pair("dual.test"), "{}", dm.logs());
    });
}

#[test]
fn cname_to_the_a_name() {
    run(records(), |dm| {
        let http = Http::v4();
        let log = DnsLog::new();
        let c = client(&dm, &log, |_| {});
        let result = fetch(&c, &http.url("alias.test", "/"));
        let dump = log.dump();
        assert_eq!(result.unwrap(), BODY, "{dump}\n{}", dm.logs());
        assert_eq!(log.done(), (vec![v4()], false, None), "{dump}");
        // dnsmasq puts the CNAME and the target's A in one answer (with a
        // compression pointer to the question); for AAAA, the CNAME only.
        assert_eq!(
            dones(&log, "A"),
            [("udp", "NOERROR".into(), 2, false)],
            "{dump}"
        );
        assert_eq!(
            dones(&log, "AAAA"),
            [("udp", "NOERROR".into(), 1, false)],
            "{dump}"
        );
        assert_eq!(logged(&dm, 2), pair("alias.test"), "{}", dm.logs());
    });
}

#[test]
fn unknown_name_in_its_domain_is_host_not_found() {
    run(records(), |dm| {
        let log = DnsLog::new();
        let c = client(&dm, &log, |_| {});
        let kind = err_in(fetch(&c, "http://nope.test:9/"), Phase::Dns);
        let dump = log.dump();
        assert!(
            matches!(&kind, ErrorKind::HostNotFound { host } if host == "nope.test"),
            "{kind:?}\n{dump}"
        );
        assert_eq!(
            dones(&log, "A"),
            [("udp", "NXDOMAIN".into(), 0, false)],
            "{dump}"
        );
        assert_eq!(
            dones(&log, "AAAA"),
            [("udp", "NXDOMAIN".into(), 0, false)],
            "{dump}"
        );
        let (addrs, _, error) = log.done();
        assert!(addrs.is_empty(), "{dump}");
        assert!(error.unwrap().contains("HostNotFound"), "{dump}");
        assert_eq!(log.count("connect_start"), 0, "{dump}");
        assert_eq!(logged(&dm, 2), pair("nope.test"), "{}", dm.logs());
    });
}

#[test]
fn name_outside_its_domain_is_refused_and_dns_failed() {
    run(records(), |dm| {
        let log = DnsLog::new();
        let c = client(&dm, &log, |_| {});
        // dnsmasq has no upstream server: it refuses what is not its own.
        let kind = err_in(fetch(&c, "http://elsewhere.example:9/"), Phase::Dns);
        let dump = log.dump();
        let ErrorKind::DnsFailed { host, attempts } = &kind else {
            panic!("expected DnsFailed, got {kind:?}\n{dump}")
        };
        assert_eq!(host, "elsewhere.example");
        let mut got: Vec<(&str, &str, &str)> = attempts
            .iter()
            .map(|a| (a.qtype, a.transport, a.error.as_str()))
            .collect();
        got.sort();
        assert_eq!(got, [("A", "udp", "REFUSED"), ("AAAA", "udp", "REFUSED")]);
        assert!(attempts.iter().all(|a| a.server == dm.addr));
        assert_eq!(
            dones(&log, "A"),
            [("udp", "REFUSED".into(), 0, false)],
            "{dump}"
        );
    });
}

#[test]
fn name_without_addresses_is_no_addresses() {
    run(records(), |dm| {
        let log = DnsLog::new();
        let c = client(&dm, &log, |_| {});
        // txt.test exists (a TXT record) but has no A or AAAA: NODATA.
        let result = fetch(&c, "http://txt.test:9/");
        let dump = log.dump();
        assert_eq!(
            dones(&log, "A"),
            [("udp", "NOERROR".into(), 0, false)],
            "{dump}"
        );
        assert_eq!(
            dones(&log, "AAAA"),
            [("udp", "NOERROR".into(), 0, false)],
            "{dump}"
        );
        let kind = err_in(result, Phase::Dns);
        assert!(
            matches!(&kind, ErrorKind::NoAddresses { host } if host == "txt.test"),
            "{kind:?}\n{dump}"
        );
    });
}

#[test]
fn truncated_answer_is_fetched_again_over_tcp() {
    // 100 addresses do not fit in 1232 bytes: dnsmasq sets TC over UDP.
    let mut opts = Options::default().host_record("big.test,127.0.0.1,60");
    for i in 1..100 {
        opts = opts.host_record(&format!("big.test,127.0.1.{i},60"));
    }
    run(opts, |dm| {
        let http = Http::v4();
        let log = DnsLog::new();
        let c = client(&dm, &log, |_| {});
        let result = fetch(&c, &http.url("big.test", "/"));
        let dump = log.dump();
        assert_eq!(result.unwrap(), BODY, "{dump}\n{}", dm.logs());
        let a = dones(&log, "A");
        assert_eq!(a.len(), 2, "{dump}");
        assert_eq!(
            (a[0].0, a[0].1.as_str(), a[0].3),
            ("udp", "NOERROR", true),
            "{dump}"
        );
        assert_eq!(a[1], ("tcp", "NOERROR".into(), 100, false), "{dump}");
        let (addrs, _, error) = log.done();
        assert_eq!((addrs.len(), error), (100, None), "{dump}");
        assert!(addrs.contains(&v4()) && addrs.iter().all(|a| a.is_ipv4()));
        // dnsmasq saw the A query twice: over UDP, then over TCP.
        let q = logged(&dm, 3);
        assert_eq!(
            q.iter()
                .filter(|(t, n)| t == "A" && n == "big.test")
                .count(),
            2,
            "{}",
            dm.logs()
        );
    });
}

#[test]
fn answers_are_cached_for_their_ttl() {
    let opts = records().host_record("zero.test,127.0.0.1,0");
    run(opts, |dm| {
        let http = Http::dual_slow(Duration::from_millis(100));
        let log = DnsLog::new();
        let c = client(&dm, &log, |_| {});
        let starts = |log: &DnsLog| -> Vec<&'static str> {
            log.all()
                .into_iter()
                .filter_map(|e| match e {
                    Dns::QueryStart { qtype, .. } => Some(qtype),
                    _ => None,
                })
                .collect()
        };

        // A and AAAA with TTL 60: the second request is answered from the
        // cache, without a query.
        assert_eq!(fetch(&c, &http.url("dual.test", "/")).unwrap(), BODY);
        assert_eq!(logged(&dm, 2), pair("dual.test"));
        log.clear();
        assert_eq!(fetch(&c, &http.url("dual.test", "/")).unwrap(), BODY);
        let dump = log.dump();
        assert_eq!(starts(&log), Vec::<&str>::new(), "{dump}");
        assert_eq!(log.done(), (vec![v6(), v4()], false, None), "{dump}");
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(dm.queries().len(), 2, "{}", dm.logs());

        // A with TTL 60, AAAA NODATA: dnsmasq sends no SOA with it, so the
        // absence is not cached (RFC 2308 §5) and only AAAA is asked again.
        assert_eq!(fetch(&c, &http.url("v4.test", "/")).unwrap(), BODY);
        log.clear();
        assert_eq!(fetch(&c, &http.url("v4.test", "/")).unwrap(), BODY);
        let dump = log.dump();
        assert_eq!(starts(&log), ["AAAA"], "{dump}");
        let v4_queries: Vec<_> = logged(&dm, 5)
            .into_iter()
            .filter(|(_, n)| n == "v4.test")
            .collect();
        assert_eq!(
            v4_queries,
            [
                ("A".to_owned(), "v4.test".to_owned()),
                ("AAAA".to_owned(), "v4.test".to_owned()),
                ("AAAA".to_owned(), "v4.test".to_owned())
            ],
            "{}",
            dm.logs()
        );

        // TTL 0: asked every time (RFC 1035 §3.2.1).
        assert_eq!(fetch(&c, &http.url("zero.test", "/")).unwrap(), BODY);
        assert_eq!(fetch(&c, &http.url("zero.test", "/")).unwrap(), BODY);
        let zero: Vec<_> = logged(&dm, 9)
            .into_iter()
            .filter(|(_, n)| n == "zero.test")
            .collect();
        assert_eq!(zero.len(), 4, "{}", dm.logs());
    });
}

#[test]
fn search_list_completes_a_short_name() {
    run(records(), |dm| {
        let http = Http::v4();
        let log = DnsLog::new();
        let c = client(&dm, &log, |c| c.dns_search = Some(vec!["test".into()]));
        let result = fetch(&c, &http.url("v4", "/"));
        let dump = log.dump();
        assert_eq!(result.unwrap(), BODY, "{dump}\n{}", dm.logs());
        assert_eq!(log.done(), (vec![v4()], false, None), "{dump}");
        assert_eq!(logged(&dm, 2), pair("v4.test"), "{}", dm.logs());
    });
}

#[test]
fn concurrent_requests_share_one_lookup() {
    run(records(), |dm| {
        let http = Http::v4();
        let log = DnsLog::new();
        let c = client(&dm, &log, |_| {});
        let url = http.url("v4.test", "/");
        let mut batch = c.batch();
        let r1 = batch.submit(Request::get(&url).body(()).unwrap());
        let r2 = batch.submit(Request::get(&url).body(()).unwrap());
        let mut ok = 0;
        while let Some((_, res)) = batch.wait() {
            assert_eq!(res.unwrap().into_body().text().unwrap(), BODY);
            ok += 1;
        }
        assert_eq!(ok, 2);
        drop(batch);
        let dump = log.dump();
        let done_of = |r: u64| {
            log.of(r).into_iter().find_map(|e| match e {
                Dns::Done {
                    addrs, coalesced, ..
                } => Some((addrs, coalesced)),
                _ => None,
            })
        };
        assert_eq!(done_of(r1.0), Some((vec![v4()], false)), "{dump}");
        assert_eq!(done_of(r2.0), Some((vec![v4()], true)), "{dump}");
        assert_eq!(logged(&dm, 2), pair("v4.test"), "{}", dm.logs());
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(dm.queries().len(), 2, "{}", dm.logs());
    });
}

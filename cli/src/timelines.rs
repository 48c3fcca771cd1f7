//! Snapshot tests of the renderers (issue #7, "Tests"): fixed event
//! timelines — a fresh HTTPS request with a Happy Eyeballs race, a reused
//! connection, a failed attempt and its fallback, a redirect chain,
//! `Expect: 100-continue`, a proxy tunnel, `Server-Timing`, and an error
//! in each phase — are fed through [`Recording::record`] and drawn by
//! [`waterfall::render`] (plain ASCII, and Unicode with colour) and
//! [`svg::render`]; the output is compared with the reviewed snapshots in
//! `src/snapshots/` (insta). A change to the drawing shows up as a diff to
//! review with `cargo insta review`, or by rerunning with
//! `INSTA_UPDATE=always` and reading `git diff`.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use http::{HeaderMap, StatusCode, Version};
use roundtrip::tls::TlsInfo;
use roundtrip::trace::{AttemptId, ConnId, Network};
use roundtrip::{Error, ErrorKind, EventKind, Limit, Phase, TlsError};

use crate::svg;
use crate::waterfall::{self, Recording, Style};

const DNS: &str = "127.0.0.53:53";
const V6: &str = "[2001:db8::10]:443";
const V4: &str = "192.0.2.10:443";
const PLAIN: &str = "192.0.2.10:80";
const PROXY: &str = "127.0.0.1:3128";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// Feeds `(µs, event)` pairs to a fresh recording.
fn record(steps: &[(u64, EventKind<'_>)]) -> Recording {
    let mut r = Recording::default();
    for (t, kind) in steps {
        r.record(*t, kind);
    }
    r
}

/// Both text styles and the SVG, as one snapshot per timeline.
fn drawn(title: &str, rec: &Recording) -> String {
    let plain = waterfall::render(
        title,
        rec,
        Style {
            width: 100,
            color: false,
            unicode: false,
        },
    );
    let fancy = waterfall::render(
        title,
        rec,
        Style {
            width: 72,
            color: true,
            unicode: true,
        },
    );
    // Escapes shown as text, so the snapshot file stays readable.
    let fancy = fancy.replace('\x1b', "\\e");
    format!(
        "--- ascii, 100 columns\n{plain}--- unicode + colour, 72 columns\n{fancy}--- svg\n{}",
        svg::render(&[(title, rec)])
    )
}

fn query_start(qtype: &'static str) -> EventKind<'static> {
    EventKind::DnsQueryStart {
        server: addr(DNS),
        qtype,
        transport: "udp",
    }
}

fn query_done(qtype: &'static str, rcode: &'static str, answers: usize) -> EventKind<'static> {
    EventKind::DnsQueryDone {
        server: addr(DNS),
        qtype,
        transport: "udp",
        rcode: Some(rcode),
        error: None,
        answers,
        truncated: false,
    }
}

fn connect_start(n: u64, a: &str) -> EventKind<'static> {
    let a = addr(a);
    EventKind::ConnectStart {
        attempt: AttemptId(n),
        network: if a.is_ipv4() {
            Network::Tcp4
        } else {
            Network::Tcp6
        },
        addr: a,
    }
}

fn connect_done<'a>(n: u64, a: &str, error: Option<&'a io::Error>) -> EventKind<'a> {
    let a = addr(a);
    EventKind::ConnectDone {
        attempt: AttemptId(n),
        network: if a.is_ipv4() {
            Network::Tcp4
        } else {
            Network::Tcp6
        },
        addr: a,
        error,
    }
}

fn got_conn(conn: u64, reused: bool, remote: &str) -> EventKind<'static> {
    EventKind::GotConn {
        conn: ConnId(conn),
        reused,
        was_idle: reused,
        idle_time: if reused {
            Duration::from_millis(840)
        } else {
            Duration::ZERO
        },
        local_addr: addr("192.0.2.99:50000"),
        remote_addr: addr(remote),
    }
}

fn head(status: u16, headers: &HeaderMap) -> EventKind<'_> {
    EventKind::GotResponseHeaders {
        status: StatusCode::from_u16(status).unwrap(),
        version: Version::HTTP_11,
        headers,
        raw_head: b"",
    }
}

fn body_done(bytes: u64, error: Option<&Error>) -> EventKind<'_> {
    EventKind::ResponseBodyDone {
        bytes,
        trailers: None,
        error,
    }
}

fn done(error: Option<&Error>) -> EventKind<'_> {
    EventKind::RequestDone { error }
}

fn tls13(resumed: bool) -> TlsInfo {
    TlsInfo {
        version: "TLSv1.3",
        cipher_suite: "TLS13_AES_128_GCM_SHA256",
        alpn: Some("http/1.1".into()),
        sni: Some("example.test".into()),
        resumed,
        peer_certificates: Vec::new(),
        leaf: None,
    }
}

fn cancelled() -> io::Error {
    io::Error::new(
        io::ErrorKind::Interrupted,
        "cancelled: another attempt connected first",
    )
}

fn refused() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionRefused, "Connection refused")
}

#[test]
fn fresh_https_with_a_happy_eyeballs_race() {
    let h = HeaderMap::new();
    let found = [addr(V6).ip(), addr(V4).ip()];
    let loser = cancelled();
    let info = tls13(false);
    let rec = record(&[
        (
            0,
            EventKind::GetConn {
                host_port: "example.test:443",
            },
        ),
        (
            0,
            EventKind::DnsStart {
                host: "example.test",
            },
        ),
        (20, query_start("AAAA")),
        (30, query_start("A")),
        (1_800, query_done("AAAA", "NOERROR", 1)),
        (1_850, connect_start(1, V6)),
        (2_100, query_done("A", "NOERROR", 1)),
        (
            2_100,
            EventKind::DnsDone {
                addrs: &found,
                coalesced: false,
                error: None,
            },
        ),
        (251_900, connect_start(2, V4)),
        (253_400, connect_done(2, V4, None)),
        (253_450, connect_done(1, V6, Some(&loser))),
        (253_500, EventKind::TlsHandshakeStart),
        (
            262_000,
            EventKind::TlsHandshakeDone {
                info: Some(&info),
                error: None,
            },
        ),
        (262_050, got_conn(1, false, V4)),
        (262_300, EventKind::WroteRequest { error: None }),
        (280_000, EventKind::GotFirstResponseByte),
        (280_100, head(200, &h)),
        (291_000, body_done(48_213, None)),
        (291_050, done(None)),
    ]);
    insta::assert_snapshot!(drawn("GET https://example.test/", &rec));
}

#[test]
fn reused_connection_skips_dns_connect_and_tls() {
    let h = HeaderMap::new();
    let rec = record(&[
        (
            0,
            EventKind::GetConn {
                host_port: "example.test:443",
            },
        ),
        (0, got_conn(1, true, V4)),
        (90, EventKind::WroteRequest { error: None }),
        (5_400, EventKind::GotFirstResponseByte),
        (5_450, head(200, &h)),
        (5_900, body_done(13, None)),
        (5_950, done(None)),
    ]);
    insta::assert_snapshot!(drawn("GET https://example.test/again", &rec));
}

#[test]
fn a_refused_attempt_then_the_fallback_from_the_hosts_file() {
    let h = HeaderMap::new();
    let found = [addr(V6).ip(), addr(V4).ip()];
    let no = refused();
    let rec = record(&[
        (
            0,
            EventKind::GetConn {
                host_port: "example.test:80",
            },
        ),
        (
            0,
            EventKind::DnsStart {
                host: "example.test",
            },
        ),
        (
            40,
            EventKind::DnsDone {
                addrs: &found,
                coalesced: false,
                error: None,
            },
        ),
        (60, connect_start(1, "[2001:db8::10]:80")),
        (310, connect_done(1, "[2001:db8::10]:80", Some(&no))),
        (330, connect_start(2, PLAIN)),
        (720, connect_done(2, PLAIN, None)),
        (740, got_conn(1, false, PLAIN)),
        (800, EventKind::WroteRequest { error: None }),
        (2_900, EventKind::GotFirstResponseByte),
        (2_950, head(204, &h)),
        (2_960, body_done(0, None)),
        (2_970, done(None)),
    ]);
    insta::assert_snapshot!(drawn("GET http://example.test/", &rec));
}

#[test]
fn a_redirect_chain_draws_each_hop() {
    let h = HeaderMap::new();
    let rec = record(&[
        (
            0,
            EventKind::GetConn {
                host_port: "192.0.2.10:80",
            },
        ),
        (0, connect_start(1, PLAIN)),
        (400, connect_done(1, PLAIN, None)),
        (420, got_conn(1, false, PLAIN)),
        (500, EventKind::WroteRequest { error: None }),
        (3_000, EventKind::GotFirstResponseByte),
        (3_050, head(301, &h)),
        (3_100, body_done(0, None)),
        (
            3_150,
            EventKind::Redirect {
                from: "http://192.0.2.10/old",
                to: "http://192.0.2.10/new",
                status: StatusCode::MOVED_PERMANENTLY,
            },
        ),
        (
            3_180,
            EventKind::GetConn {
                host_port: "192.0.2.10:80",
            },
        ),
        (3_200, got_conn(1, true, PLAIN)),
        (3_260, EventKind::WroteRequest { error: None }),
        (6_000, EventKind::GotFirstResponseByte),
        (6_040, head(200, &h)),
        (7_500, body_done(2_048, None)),
        (7_520, done(None)),
    ]);
    insta::assert_snapshot!(drawn("GET http://192.0.2.10/old", &rec));
}

#[test]
fn expect_100_continue_and_an_informational_response() {
    let h = HeaderMap::new();
    let rec = record(&[
        (
            0,
            EventKind::GetConn {
                host_port: "192.0.2.10:80",
            },
        ),
        (0, connect_start(1, PLAIN)),
        (300, connect_done(1, PLAIN, None)),
        (320, got_conn(1, false, PLAIN)),
        (400, EventKind::WroteHeaders),
        (410, EventKind::Wait100Continue),
        (1_900, EventKind::GotFirstResponseByte),
        (1_900, EventKind::Got100Continue),
        (
            1_900,
            EventKind::Got1xxResponse {
                code: StatusCode::CONTINUE,
                headers: &h,
                raw_head: b"",
            },
        ),
        (9_000, EventKind::WroteRequest { error: None }),
        (15_000, head(201, &h)),
        (15_100, body_done(7, None)),
        (15_120, done(None)),
    ]);
    insta::assert_snapshot!(drawn("POST http://192.0.2.10/upload", &rec));
}

#[test]
fn https_through_a_connect_proxy() {
    let h = HeaderMap::new();
    let info = tls13(true);
    let rec = record(&[
        (
            0,
            EventKind::GetConn {
                host_port: "example.test:443",
            },
        ),
        (0, connect_start(1, PROXY)),
        (200, connect_done(1, PROXY, None)),
        (
            220,
            EventKind::ProxyConnectStart {
                proxy: "http://127.0.0.1:3128",
                target: "example.test:443",
            },
        ),
        (
            4_000,
            EventKind::ProxyConnectDone {
                status: Some(StatusCode::OK),
                error: None,
                raw_head: b"",
            },
        ),
        (4_020, EventKind::TlsHandshakeStart),
        (
            9_500,
            EventKind::TlsHandshakeDone {
                info: Some(&info),
                error: None,
            },
        ),
        (9_520, got_conn(1, false, PROXY)),
        (9_600, EventKind::WroteRequest { error: None }),
        (20_000, EventKind::GotFirstResponseByte),
        (20_050, head(200, &h)),
        (21_000, body_done(512, None)),
        (21_010, done(None)),
    ]);
    insta::assert_snapshot!(drawn("GET https://example.test/ via proxy", &rec));
}

#[test]
fn server_timing_sub_bars_under_the_wait() {
    let mut h = HeaderMap::new();
    h.append(
        "server-timing",
        r#"db;dur=41.5;desc="orders query", cache;desc=miss, render;dur=12"#
            .parse()
            .unwrap(),
    );
    let rec = record(&[
        (
            0,
            EventKind::GetConn {
                host_port: "192.0.2.10:80",
            },
        ),
        (0, got_conn(3, true, PLAIN)),
        (100, EventKind::WroteRequest { error: None }),
        (60_100, EventKind::GotFirstResponseByte),
        (60_200, head(200, &h)),
        (61_000, body_done(900, None)),
        (61_010, done(None)),
    ]);
    insta::assert_snapshot!(drawn("GET http://192.0.2.10/orders", &rec));
}

#[test]
fn an_error_in_each_phase() {
    let h = HeaderMap::new();
    let nx = Error::new(
        Phase::Dns,
        ErrorKind::HostNotFound {
            host: "nowhere.test".into(),
        },
    );
    let no = refused();
    let all_refused = Error::new(Phase::Connect, ErrorKind::ConnectFailed(Vec::new()));
    let untrusted = Error::new(Phase::Tls, ErrorKind::Tls(TlsError::UnknownIssuer));
    let reset = Error::new(
        Phase::WriteRequest,
        ErrorKind::Io(std::sync::Arc::new(io::Error::new(
            io::ErrorKind::ConnectionReset,
            "Connection reset by peer",
        ))),
    );
    let slow = Error::new(
        Phase::ReadResponseHead,
        ErrorKind::Timeout {
            limit: Duration::from_secs(2),
        },
    );
    let too_big = Error::new(
        Phase::ReadResponseHead,
        ErrorKind::LimitExceeded {
            limit: Limit::HeadSize,
            max: 65_536,
        },
    );
    let cut = Error::new(
        Phase::ReadResponseBody,
        ErrorKind::BodyTruncated {
            received: 700,
            expected: Some(1_000),
        },
    );
    let cases: Vec<(&str, Vec<(u64, EventKind<'_>)>)> = vec![
        (
            "dns: NXDOMAIN",
            vec![
                (
                    0,
                    EventKind::DnsStart {
                        host: "nowhere.test",
                    },
                ),
                (10, query_start("AAAA")),
                (15, query_start("A")),
                (900, query_done("AAAA", "NXDOMAIN", 0)),
                (950, query_done("A", "NXDOMAIN", 0)),
                (
                    950,
                    EventKind::DnsDone {
                        addrs: &[],
                        coalesced: false,
                        error: Some(&nx),
                    },
                ),
                (960, done(Some(&nx))),
            ],
        ),
        (
            "connect: every attempt refused",
            vec![
                (0, connect_start(1, V6)),
                (200, connect_done(1, V6, Some(&no))),
                (210, connect_start(2, V4)),
                (390, connect_done(2, V4, Some(&no))),
                (400, done(Some(&all_refused))),
            ],
        ),
        (
            "tls: unknown issuer",
            vec![
                (0, connect_start(1, V4)),
                (300, connect_done(1, V4, None)),
                (310, EventKind::TlsHandshakeStart),
                (
                    4_000,
                    EventKind::TlsHandshakeDone {
                        info: None,
                        error: Some(&untrusted),
                    },
                ),
                (4_010, done(Some(&untrusted))),
            ],
        ),
        (
            "write: reset while sending",
            vec![
                (0, got_conn(1, true, PLAIN)),
                (
                    150,
                    EventKind::WroteRequest {
                        error: Some(&reset),
                    },
                ),
                (160, done(Some(&reset))),
            ],
        ),
        (
            "head: no first byte in time",
            vec![
                (0, got_conn(1, true, PLAIN)),
                (80, EventKind::WroteRequest { error: None }),
                (2_000_080, done(Some(&slow))),
            ],
        ),
        (
            "head: larger than the limit",
            vec![
                (0, got_conn(1, true, PLAIN)),
                (80, EventKind::WroteRequest { error: None }),
                (3_000, EventKind::GotFirstResponseByte),
                (9_000, done(Some(&too_big))),
            ],
        ),
        (
            "body: connection closed early",
            vec![
                (0, got_conn(1, true, PLAIN)),
                (80, EventKind::WroteRequest { error: None }),
                (3_000, EventKind::GotFirstResponseByte),
                (3_100, head(200, &h)),
                (8_000, body_done(700, Some(&cut))),
                (8_010, done(Some(&cut))),
            ],
        ),
    ];
    let mut all = String::new();
    let mut recs = Vec::new();
    for (title, steps) in &cases {
        let rec = record(steps);
        all += &waterfall::render(
            title,
            &rec,
            Style {
                width: 100,
                color: false,
                unicode: false,
            },
        );
        all.push('\n');
        recs.push((*title, rec));
    }
    let refs: Vec<(&str, &Recording)> = recs.iter().map(|(t, r)| (*t, r)).collect();
    all += "--- svg\n";
    all += &svg::render(&refs);
    insta::assert_snapshot!(all);
}

//! Timeline tests of the race on a virtual clock, one row per scenario
//! (RFC 8305 §3–§5). Each row scripts when each family answers and how each
//! address behaves; the log says what the schedule did and when.

use super::*;

#[derive(Clone, Copy)]
enum Peer {
    /// Connects this many ms after its attempt starts.
    Accepts(u64),
    /// Refuses this many ms after its attempt starts.
    Refuses(u64),
    /// Never answers (SYNs vanish).
    Blackhole,
}

struct Row {
    name: &'static str,
    /// (ms, family, addresses)
    answers: &'static [(u64, Family, &'static [&'static str])],
    peers: &'static [(&'static str, Peer)],
    /// Expected log lines `"<ms> <what> <addr>"`.
    want: &'static [&'static str],
    /// Expected end: "won <addr>", "failed <n>" or "running".
    end: &'static str,
}

fn run(row: &Row, config: DialConfig) -> (Vec<String>, String) {
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let mut s = Schedule::new(config, 0);
    let mut log = Vec::new();
    // (due ms, attempt, addr, refuses)
    let mut outcomes: Vec<(u64, AttemptId, SocketAddr, bool)> = Vec::new();
    let mut answers: Vec<_> = row.answers.to_vec();
    let mut now_ms = 0;
    for _ in 0..100 {
        // Feed everything due now.
        while let Some(i) = answers.iter().position(|(ms, _, _)| *ms <= now_ms) {
            let (_, fam, addrs) = answers.remove(i);
            let addrs: Vec<SocketAddr> = addrs.iter().map(|a| a.parse().unwrap()).collect();
            s.add_addresses(fam, &addrs, at(now_ms));
        }
        while let Some(i) = outcomes.iter().position(|(ms, ..)| *ms <= now_ms) {
            let (_, attempt, addr, refuses) = outcomes.remove(i);
            if refuses {
                log.push(format!("{now_ms} refused {addr}"));
                s.handle_failed(
                    attempt,
                    std::io::ErrorKind::ConnectionRefused.into(),
                    at(now_ms),
                );
            } else {
                s.handle_connected(attempt, at(now_ms));
            }
        }
        s.handle_timeout(at(now_ms));
        while let Some(a) = s.poll_action() {
            match a {
                DialAction::Start { attempt, addr } => {
                    log.push(format!("{now_ms} start {addr}"));
                    let peer = row
                        .peers
                        .iter()
                        .find(|(p, _)| p.parse::<SocketAddr>().unwrap() == addr)
                        .map(|(_, p)| *p)
                        .unwrap_or(Peer::Blackhole);
                    match peer {
                        Peer::Accepts(d) => outcomes.push((now_ms + d, attempt, addr, false)),
                        Peer::Refuses(d) => outcomes.push((now_ms + d, attempt, addr, true)),
                        Peer::Blackhole => {}
                    }
                }
                DialAction::Cancel { addr, .. } => {
                    log.push(format!("{now_ms} cancel {addr}"));
                    outcomes.retain(|(_, _, a, _)| *a != addr);
                }
            }
        }
        match s.outcome() {
            Outcome::Won { addr, .. } => return (log, format!("won {addr}")),
            Outcome::Failed(e) => {
                let addrs: Vec<String> = e.iter().map(|e| e.addr.to_string()).collect();
                return (log, format!("failed {}", addrs.join(" ")));
            }
            Outcome::Running => {}
        }
        // Jump to the next thing that can happen.
        let next_external = answers
            .iter()
            .map(|(ms, ..)| *ms)
            .chain(outcomes.iter().map(|(ms, ..)| *ms))
            .min();
        let next_timer = s
            .poll_timeout()
            .map(|t| t.saturating_duration_since(t0).as_millis() as u64);
        match next_external.into_iter().chain(next_timer).min() {
            Some(ms) => now_ms = ms.max(now_ms),
            None => return (log, "running".into()),
        }
    }
    panic!("{}: did not settle", row.name);
}

const V6A: &str = "[2001:db8::a]:443";
const V6B: &str = "[2001:db8::b]:443";
const V4A: &str = "192.0.2.10:443";
const V4B: &str = "192.0.2.11:443";

#[test]
fn timelines() {
    use Family::{V4, V6};
    let rows = [
        Row {
            name: "v6 first and working",
            answers: &[(0, V6, &[V6A]), (0, V4, &[V4A])],
            peers: &[(V6A, Peer::Accepts(5))],
            want: &["0 start [2001:db8::a]:443"],
            end: "won [2001:db8::a]:443",
        },
        Row {
            name: "v6 blackholed: v4 wins after the attempt delay",
            answers: &[(0, V6, &[V6A]), (0, V4, &[V4A])],
            peers: &[(V6A, Peer::Blackhole), (V4A, Peer::Accepts(1))],
            want: &[
                "0 start [2001:db8::a]:443",
                "250 start 192.0.2.10:443",
                "251 cancel [2001:db8::a]:443",
            ],
            end: "won 192.0.2.10:443",
        },
        Row {
            name: "v6 refused at once: v4 starts immediately",
            answers: &[(0, V6, &[V6A]), (0, V4, &[V4A])],
            peers: &[(V6A, Peer::Refuses(1)), (V4A, Peer::Accepts(1))],
            want: &[
                "0 start [2001:db8::a]:443",
                "1 refused [2001:db8::a]:443",
                "1 start 192.0.2.10:443",
            ],
            end: "won 192.0.2.10:443",
        },
        Row {
            name: "A first, AAAA within the resolution delay: v6 still goes first",
            answers: &[(0, V4, &[V4A]), (20, V6, &[V6A])],
            peers: &[(V6A, Peer::Blackhole), (V4A, Peer::Accepts(1))],
            want: &[
                "20 start [2001:db8::a]:443",
                "270 start 192.0.2.10:443",
                "271 cancel [2001:db8::a]:443",
            ],
            end: "won 192.0.2.10:443",
        },
        Row {
            name: "A first, AAAA beyond the resolution delay: v4 starts at 50 ms, v6 joins",
            answers: &[(0, V4, &[V4A]), (100, V6, &[V6A])],
            peers: &[(V4A, Peer::Blackhole), (V6A, Peer::Accepts(1))],
            want: &[
                "50 start 192.0.2.10:443",
                "300 start [2001:db8::a]:443",
                "301 cancel 192.0.2.10:443",
            ],
            end: "won [2001:db8::a]:443",
        },
        Row {
            name: "many addresses, all blackholed: families alternate every 250 ms",
            answers: &[(0, V6, &[V6A, V6B]), (0, V4, &[V4A, V4B])],
            peers: &[],
            want: &[
                "0 start [2001:db8::a]:443",
                "250 start 192.0.2.10:443",
                "500 start [2001:db8::b]:443",
                "750 start 192.0.2.11:443",
            ],
            end: "running",
        },
        Row {
            name: "all refuse: the failure lists every attempt",
            answers: &[(0, V6, &[V6A, V6B]), (0, V4, &[V4A])],
            peers: &[
                (V6A, Peer::Refuses(2)),
                (V6B, Peer::Refuses(2)),
                (V4A, Peer::Refuses(2)),
            ],
            want: &[
                "0 start [2001:db8::a]:443",
                "2 refused [2001:db8::a]:443",
                "2 start 192.0.2.10:443",
                "4 refused 192.0.2.10:443",
                "4 start [2001:db8::b]:443",
                "6 refused [2001:db8::b]:443",
            ],
            end: "failed [2001:db8::a]:443 192.0.2.10:443 [2001:db8::b]:443",
        },
        Row {
            name: "late addresses join the race",
            answers: &[(0, V6, &[V6A]), (0, V4, &[]), (400, V4, &[V4A])],
            peers: &[(V4A, Peer::Accepts(3))],
            want: &[
                "0 start [2001:db8::a]:443",
                "400 start 192.0.2.10:443",
                "403 cancel [2001:db8::a]:443",
            ],
            end: "won 192.0.2.10:443",
        },
        Row {
            name: "the lookup's final answer repeats addresses already tried: each is tried once",
            answers: &[
                (0, V6, &[V6A]),
                (0, V4, &[V4A]),
                (5, V6, &[V6A]),
                (5, V4, &[V4A]),
            ],
            peers: &[(V6A, Peer::Refuses(10)), (V4A, Peer::Refuses(10))],
            want: &[
                "0 start [2001:db8::a]:443",
                "10 refused [2001:db8::a]:443",
                "10 start 192.0.2.10:443",
                "20 refused 192.0.2.10:443",
            ],
            end: "failed [2001:db8::a]:443 192.0.2.10:443",
        },
        Row {
            name:
                "A, then only a unique-local AAAA: IPv4 (RFC 6724 precedence 35 over 3) goes first",
            answers: &[(0, V4, &[V4A]), (5, V6, &["[fd00::a]:443"])],
            peers: &[(V4A, Peer::Blackhole)],
            want: &["5 start 192.0.2.10:443", "255 start [fd00::a]:443"],
            end: "running",
        },
        Row {
            name: "only a link-local AAAA: IPv4 goes first",
            answers: &[(0, V4, &[V4A]), (10, V6, &["[fe80::a]:443"])],
            peers: &[(V4A, Peer::Accepts(1))],
            want: &["10 start 192.0.2.10:443"],
            end: "won 192.0.2.10:443",
        },
        Row {
            name: "A, then a global AAAA beside a unique-local one: IPv6 first, the global one",
            answers: &[(0, V4, &[V4A]), (5, V6, &["[fd00::a]:443", V6A])],
            peers: &[(V6A, Peer::Accepts(1))],
            want: &["5 start [2001:db8::a]:443"],
            end: "won [2001:db8::a]:443",
        },
        Row {
            name: "no AAAA at all: A alone after the resolution delay",
            answers: &[(0, V4, &[V4A]), (10, V6, &[])],
            peers: &[(V4A, Peer::Accepts(1))],
            want: &["10 start 192.0.2.10:443"],
            end: "won 192.0.2.10:443",
        },
    ];
    for row in &rows {
        let (log, end) = run(row, DialConfig::default());
        assert_eq!(log, row.want, "{}", row.name);
        assert_eq!(end, row.end, "{}", row.name);
    }
}

#[test]
fn attempt_delay_has_a_floor_and_v4_can_be_preferred() {
    let row = Row {
        name: "floor",
        answers: &[(0, Family::V6, &[V6A]), (0, Family::V4, &[V4A])],
        peers: &[(V4A, Peer::Accepts(1))],
        want: &["0 start 192.0.2.10:443"],
        end: "won 192.0.2.10:443",
    };
    let config = DialConfig {
        attempt_delay: Duration::from_millis(1),
        prefer_v4: true,
        ..DialConfig::default()
    };
    assert_eq!(
        run(&row, config),
        (
            vec!["0 start 192.0.2.10:443".to_owned()],
            row.end.to_owned()
        )
    );
    let s = Schedule::new(config, 0);
    assert_eq!(s.config.attempt_delay, MIN_ATTEMPT_DELAY);
}

#[test]
fn the_attempt_delay_floor_paces_a_blackholed_race() {
    let row = Row {
        name: "1 ms asked, 10 ms kept",
        answers: &[(0, Family::V6, &[V6A, V6B]), (0, Family::V4, &[V4A])],
        peers: &[],
        want: &[],
        end: "running",
    };
    let config = DialConfig {
        attempt_delay: Duration::from_millis(1),
        ..DialConfig::default()
    };
    let (log, _) = run(&row, config);
    assert_eq!(
        log,
        [
            "0 start [2001:db8::a]:443",
            "10 start 192.0.2.10:443",
            "20 start [2001:db8::b]:443"
        ]
    );
}

#[test]
fn first_family_count_tries_that_many_preferred_addresses_first() {
    let row = Row {
        name: "first family count 2",
        answers: &[(0, Family::V6, &[V6A, V6B]), (0, Family::V4, &[V4A, V4B])],
        peers: &[],
        want: &[],
        end: "running",
    };
    let config = DialConfig {
        first_family_count: 2,
        ..DialConfig::default()
    };
    let (log, _) = run(&row, config);
    assert_eq!(
        log,
        [
            "0 start [2001:db8::a]:443",
            "250 start [2001:db8::b]:443",
            "500 start 192.0.2.10:443",
            "750 start 192.0.2.11:443"
        ]
    );
}

#[test]
fn the_resolution_delay_is_configurable() {
    let row = Row {
        name: "A first, AAAA at 30 ms",
        answers: &[(0, Family::V4, &[V4A]), (30, Family::V6, &[V6A])],
        peers: &[(V4A, Peer::Accepts(1)), (V6A, Peer::Accepts(1))],
        want: &[],
        end: "",
    };
    // 20 ms: the AAAA answer comes too late, IPv4 starts at 20 ms.
    let short = DialConfig {
        resolution_delay: Duration::from_millis(20),
        ..DialConfig::default()
    };
    assert_eq!(
        run(&row, short),
        (
            vec!["20 start 192.0.2.10:443".to_owned()],
            "won 192.0.2.10:443".to_owned()
        )
    );
    // 40 ms: it is waited for, and IPv6 goes first.
    let long = DialConfig {
        resolution_delay: Duration::from_millis(40),
        ..DialConfig::default()
    };
    assert_eq!(
        run(&row, long),
        (
            vec!["30 start [2001:db8::a]:443".to_owned()],
            "won [2001:db8::a]:443".to_owned()
        )
    );
}

#[test]
fn abandon_cancels_everything_in_flight() {
    let t0 = Instant::now();
    let mut s = Schedule::new(DialConfig::default(), 7);
    s.add_addresses(Family::V6, &[V6A.parse().unwrap()], t0);
    s.add_addresses(Family::V4, &[V4A.parse().unwrap()], t0);
    s.handle_timeout(t0 + Duration::from_millis(250));
    while s.poll_action().is_some() {}
    assert_eq!(s.in_flight().len(), 2);
    assert_eq!(
        s.in_flight()[0].0,
        AttemptId(8),
        "ids continue from the given start"
    );
    s.abandon();
    let cancels: Vec<_> = std::iter::from_fn(|| s.poll_action()).collect();
    assert_eq!(cancels.len(), 2);
    assert!(cancels
        .iter()
        .all(|a| matches!(a, DialAction::Cancel { .. })));
    assert_eq!(s.poll_timeout(), None);
}

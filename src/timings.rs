//! When each phase of a request happened, recorded from its own trace
//! events (in the one emission point, so it costs no hook), in two views:
//!
//! - curl's `-w` variables, cumulative from the start of the request and
//!   with curl's definitions: `namelookup`, `connect`, `appconnect`,
//!   `pretransfer`, `posttransfer`, `starttransfer`, `total`, plus
//!   `num_connects` (new connections made for the whole transfer). Like curl, a step that did not happen reports the
//!   time of the step before it (0 for the first ones).
//! - Each phase as its own duration — `queue`, `dns`, `connect`, `tunnel`,
//!   `tls`, `send`, `wait`, `receive` — as a [`PhaseTime`] that says *why*
//!   a phase did not happen (connection reused, answer cached, IP literal,
//!   no proxy tunnel, not TLS) instead of reporting zero.
//!
//! ```text
//! start ─queue─ dns ─ connect ─ tunnel ─ tls ─┬ got_conn ─send─ wrote_request ─wait─ first byte ─receive─ end
//!  namelookup ─┘         │                 │  └ pretransfer    └ posttransfer      └ starttransfer         └ total
//!              connect ──┘                 └ appconnect
//! ```

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::trace::EventKind;

/// Why a phase has no duration.
///
/// ```no_run
/// use roundtrip::{PhaseTime, Skipped};
///
/// let client = roundtrip::Client::new();
/// let mut phases = Vec::new();
/// for _ in 0..2 {
///     let mut body = client.get("http://127.0.0.1:8080/")?.into_body();
///     std::io::copy(&mut body, &mut std::io::sink())?;
///     let t = body.timings().expect("a timeline");
///     phases.push((t.dns(), t.tcp_connect(), t.tls()));
/// }
/// // The first request: an IP literal needs no lookup, plain HTTP no TLS.
/// assert_eq!(phases[0].0, PhaseTime::Skipped(Skipped::IpLiteral));
/// assert!(matches!(phases[0].1, PhaseTime::Took(_)));
/// assert_eq!(phases[0].2, PhaseTime::Skipped(Skipped::NotTls));
/// // The second found the first one's connection in the pool.
/// assert_eq!(phases[1].1, PhaseTime::Skipped(Skipped::Reused));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Skipped {
    /// The connection came from the pool: no lookup, connect or handshake.
    Reused,
    /// The name was answered without a query (cache, hosts file, pin).
    Cached,
    /// The host is an IP literal: nothing to look up.
    IpLiteral,
    /// Plain HTTP: no TLS handshake.
    NotTls,
    /// No CONNECT tunnel: a direct connection, or a plain `http://`
    /// request that a proxy forwards.
    NoTunnel,
}

impl Skipped {
    /// snake_case name, as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Skipped::Reused => "reused",
            Skipped::Cached => "cached",
            Skipped::IpLiteral => "ip_literal",
            Skipped::NotTls => "not_tls",
            Skipped::NoTunnel => "no_tunnel",
        }
    }
}

/// The duration of one phase.
///
/// ```
/// use std::time::Duration;
/// use roundtrip::{PhaseTime, Skipped};
///
/// fn show(phase: PhaseTime) -> String {
///     match phase {
///         PhaseTime::Took(d) => format!("{:.3} ms", d.as_secs_f64() * 1e3),
///         PhaseTime::Skipped(why) => format!("skipped ({})", why.as_str()),
///         PhaseTime::Pending => "not reached".to_owned(),
///     }
/// }
/// assert_eq!(show(PhaseTime::Took(Duration::from_micros(1500))), "1.500 ms");
/// assert_eq!(show(PhaseTime::Skipped(Skipped::Reused)), "skipped (reused)");
/// assert_eq!(PhaseTime::Skipped(Skipped::NotTls).duration(), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhaseTime {
    /// The phase took this long.
    Took(Duration),
    /// The phase did not happen, and why.
    Skipped(Skipped),
    /// The phase has not happened (yet): the request failed earlier or is
    /// still running.
    Pending,
}

impl PhaseTime {
    /// The duration, if the phase happened.
    pub fn duration(self) -> Option<Duration> {
        match self {
            PhaseTime::Took(d) => Some(d),
            _ => None,
        }
    }
}

/// The timeline of one request.
///
/// ```no_run
/// let client = roundtrip::Client::new();
/// let mut body = client.get("http://127.0.0.1:8080/")?.into_body();
/// // The timeline is complete once the body has been read to its end.
/// std::io::copy(&mut body, &mut std::io::sink())?;
/// let t = body.timings().expect("a timeline");
///
/// // curl -w '%{time_connect} %{time_starttransfer} %{time_total}\n'
/// let secs = |d: std::time::Duration| format!("{:.6}", d.as_secs_f64());
/// let total = t.total().unwrap_or_default();
/// println!("{} {} {}", secs(t.connect()), secs(t.starttransfer()), secs(total));
///
/// // Each phase on its own, or why it was skipped.
/// println!("dns {:?}, tls {:?}, wait {:?}", t.dns(), t.tls(), t.wait());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// `examples/timings.rs` prints all of them for a fresh and a reused
/// connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timings {
    /// Start of the request (of the first hop of a redirect chain).
    start: Instant,
    /// Start of this hop.
    hop_start: Instant,
    num_redirects: u32,
    /// The timelines of the hops before this one, in order.
    earlier_hops: Vec<Timings>,
    dns_start: Option<Instant>,
    dns_done: Option<Instant>,
    dns_queries: u32,
    connect_start: Option<Instant>,
    connect_done: Option<Instant>,
    proxy_connect_start: Option<Instant>,
    proxy_connect_done: Option<Instant>,
    tls_start: Option<Instant>,
    tls_done: Option<Instant>,
    got_conn: Option<Instant>,
    reused: bool,
    wrote_request: Option<Instant>,
    first_byte: Option<Instant>,
    end: Option<Instant>,
    num_connects: u32,
    remote: Option<SocketAddr>,
    body_bytes: u64,
    /// The host dialed (the proxy, through one) is an IP literal: no name
    /// to look up.
    ip_literal: bool,
    tls: bool,
}

fn since(a: Instant, b: Option<Instant>) -> Option<Duration> {
    b.map(|b| b.saturating_duration_since(a))
}

impl Timings {
    pub(crate) fn new(start: Instant, tls: bool) -> Timings {
        Timings {
            start,
            hop_start: start,
            num_redirects: 0,
            earlier_hops: Vec::new(),
            dns_start: None,
            dns_done: None,
            dns_queries: 0,
            connect_start: None,
            connect_done: None,
            proxy_connect_start: None,
            proxy_connect_done: None,
            tls_start: None,
            tls_done: None,
            got_conn: None,
            reused: false,
            wrote_request: None,
            first_byte: None,
            end: None,
            num_connects: 0,
            remote: None,
            body_bytes: 0,
            ip_literal: false,
            tls,
        }
    }

    /// The connection is to be dialed to an IP literal, so there is no
    /// lookup: the DNS phase is skipped, not pending. Known when a new
    /// connection is needed (`Exchange::start`), not before, so a request
    /// that reuses one never parses its host as an address.
    pub(crate) fn dials_ip_literal(&mut self) {
        self.ip_literal = true;
    }

    /// This hop follows `hops` redirects of a chain that started at
    /// `chain_start`: cumulative times then count from the chain's start,
    /// as curl adds the steps of a redirect chain together.
    pub(crate) fn continue_chain(&mut self, previous: &mut Timings, hops: u32) {
        self.start = previous.start;
        self.num_redirects = hops;
        self.earlier_hops = std::mem::take(&mut previous.earlier_hops);
        self.earlier_hops.push(previous.clone());
    }

    /// The timelines of the redirect hops before the final one, in order
    /// (each with its own phases; empty without redirects).
    pub fn earlier_hops(&self) -> &[Timings] {
        &self.earlier_hops
    }

    /// This hop ended at `at` without ending the request (a redirect).
    pub(crate) fn end_hop(&mut self, at: Instant) {
        self.end = Some(at);
    }

    /// Records what an event says about the timeline.
    pub(crate) fn record(&mut self, at: Instant, kind: &EventKind<'_>) {
        match kind {
            EventKind::DnsStart { .. } => self.dns_start = Some(at),
            EventKind::DnsQueryStart { .. } => self.dns_queries += 1,
            EventKind::DnsDone { .. } => {
                self.dns_done.get_or_insert(at);
            }
            EventKind::ConnectStart { .. } => {
                self.connect_start.get_or_insert(at);
            }
            EventKind::ConnectDone { error: None, .. } => self.connect_done = Some(at),
            EventKind::ProxyConnectStart { .. } => self.proxy_connect_start = Some(at),
            EventKind::ProxyConnectDone { error: None, .. } => self.proxy_connect_done = Some(at),
            EventKind::TlsHandshakeStart => self.tls_start = Some(at),
            EventKind::TlsHandshakeDone { error: None, .. } => self.tls_done = Some(at),
            EventKind::GotConn {
                reused,
                remote_addr,
                ..
            } => {
                self.got_conn = Some(at);
                self.reused = *reused;
                self.remote = Some(*remote_addr);
                // curl's count: connections made and used, not attempts (a
                // Happy Eyeballs loser never gets here).
                if !*reused {
                    self.num_connects += 1;
                }
            }
            EventKind::WroteRequest { .. } => self.wrote_request = Some(at),
            EventKind::GotFirstResponseByte => self.first_byte = Some(at),
            EventKind::ResponseBodyDone { bytes, .. } => self.body_bytes = *bytes,
            EventKind::RequestDone { .. } => self.end = Some(at),
            EventKind::Retry { .. } => {
                // The request starts over on a new connection; what counts
                // is the attempt that produced the answer.
                let (start, hop, redirects) = (self.start, self.hop_start, self.num_redirects);
                // Whether the new connection dials an IP literal is
                // recorded again when it is dialed (`dials_ip_literal`).
                let (n, tls) = (self.num_connects, self.tls);
                let earlier = std::mem::take(&mut self.earlier_hops);
                *self = Timings::new(hop, tls);
                self.start = start;
                self.num_redirects = redirects;
                self.num_connects = n;
                self.earlier_hops = earlier;
            }
            _ => {}
        }
    }

    // ----- curl's -w variables (cumulative) ---------------------------------

    fn cumulative(&self, at: Option<Instant>, before: Duration) -> Duration {
        since(self.start, at).unwrap_or(before)
    }

    /// `time_namelookup`: start to name resolved, that is, to the first
    /// address in hand. Connecting starts on the first family's answer
    /// (RFC 8305 §3), before `dns_done` when the other family is slower,
    /// so this is the earlier of `dns_done` and the first `connect_start`.
    /// That keeps curl's order (`namelookup ≤ connect`); the [`dns`]
    /// phase is still the whole lookup.
    ///
    /// [`dns`]: Timings::dns
    pub fn namelookup(&self) -> Duration {
        let resolved = match (self.dns_start, self.dns_done, self.connect_start) {
            (None, ..) => None,
            (Some(_), Some(done), Some(connect)) => Some(done.min(connect)),
            (Some(_), done, connect) => done.or(connect),
        };
        self.cumulative(resolved, Duration::ZERO)
    }

    /// `time_connect`: start to TCP connected.
    pub fn connect(&self) -> Duration {
        self.cumulative(self.connect_done, self.namelookup())
    }

    /// `time_appconnect`: start to TLS handshake done (0 without TLS, as
    /// curl reports).
    pub fn appconnect(&self) -> Duration {
        self.cumulative(self.tls_done, Duration::ZERO)
    }

    /// `time_pretransfer`: start to just before the request is sent.
    pub fn pretransfer(&self) -> Duration {
        self.cumulative(self.got_conn, self.connect().max(self.appconnect()))
    }

    /// `time_posttransfer`: start to the request fully sent.
    pub fn posttransfer(&self) -> Duration {
        self.cumulative(self.wrote_request, self.pretransfer())
    }

    /// `time_starttransfer`: start to the first response byte.
    pub fn starttransfer(&self) -> Duration {
        self.cumulative(self.first_byte, self.posttransfer())
    }

    /// `time_total`: start to the end of the request (`None` while running).
    pub fn total(&self) -> Option<Duration> {
        since(self.start, self.end)
    }

    /// `time_redirect`: the time spent in the redirects before this, the
    /// last, hop (zero without redirects).
    pub fn redirect(&self) -> Duration {
        self.hop_start.saturating_duration_since(self.start)
    }

    /// `num_redirects`: redirects followed.
    pub fn num_redirects(&self) -> u32 {
        self.num_redirects
    }

    /// `num_connects`: new connections made for the whole transfer, every
    /// redirect hop and a retry included, as curl counts them: connections
    /// established and used, not attempts (the losers of a Happy Eyeballs
    /// race, and connections that failed, do not count; a reused one does
    /// not either).
    pub fn num_connects(&self) -> u32 {
        let earlier: u32 = self.earlier_hops.iter().map(|h| h.num_connects).sum();
        earlier + self.num_connects
    }

    /// The server's address, once connected.
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.remote
    }

    /// Body bytes received (after transfer decoding), once the body ended.
    pub fn size_download(&self) -> u64 {
        self.body_bytes
    }

    // ----- each phase on its own --------------------------------------------

    /// Waiting before any work started (for a pooled connection or a lookup
    /// slot): start to the first of lookup, connect, or connection in hand.
    pub fn queue(&self) -> PhaseTime {
        let first = [self.dns_start, self.connect_start, self.got_conn]
            .into_iter()
            .flatten()
            .min();
        since(self.hop_start, first).map_or(PhaseTime::Pending, PhaseTime::Took)
    }

    /// The name lookup.
    pub fn dns(&self) -> PhaseTime {
        match (self.dns_start, self.dns_done) {
            (Some(a), Some(b)) if self.dns_queries == 0 && b == a => {
                PhaseTime::Skipped(Skipped::Cached)
            }
            (Some(a), Some(b)) => PhaseTime::Took(b.saturating_duration_since(a)),
            _ if self.reused => PhaseTime::Skipped(Skipped::Reused),
            _ if self.ip_literal => PhaseTime::Skipped(Skipped::IpLiteral),
            _ => PhaseTime::Pending,
        }
    }

    /// The TCP connect (the whole Happy Eyeballs race, to the winner).
    pub fn tcp_connect(&self) -> PhaseTime {
        match (self.connect_start, self.connect_done) {
            (Some(a), Some(b)) => PhaseTime::Took(b.saturating_duration_since(a)),
            _ if self.reused => PhaseTime::Skipped(Skipped::Reused),
            _ => PhaseTime::Pending,
        }
    }

    /// The CONNECT exchange with a proxy (`proxy_connect_start` to a 2xx
    /// `proxy_connect_done`), between the TCP connect to the proxy and the
    /// TLS handshake with the origin inside the tunnel.
    pub fn tunnel(&self) -> PhaseTime {
        match (self.proxy_connect_start, self.proxy_connect_done) {
            (Some(a), Some(b)) => PhaseTime::Took(b.saturating_duration_since(a)),
            (Some(_), None) => PhaseTime::Pending,
            _ if self.reused => PhaseTime::Skipped(Skipped::Reused),
            // Past the point where CONNECT would have started.
            _ if self.tls_start.is_some() || self.got_conn.is_some() => {
                PhaseTime::Skipped(Skipped::NoTunnel)
            }
            _ if !self.tls => PhaseTime::Skipped(Skipped::NoTunnel),
            _ => PhaseTime::Pending,
        }
    }

    /// The TLS handshake.
    pub fn tls(&self) -> PhaseTime {
        match (self.tls_start, self.tls_done) {
            (Some(a), Some(b)) => PhaseTime::Took(b.saturating_duration_since(a)),
            _ if !self.tls => PhaseTime::Skipped(Skipped::NotTls),
            _ if self.reused => PhaseTime::Skipped(Skipped::Reused),
            _ => PhaseTime::Pending,
        }
    }

    /// Writing the request: connection in hand to request fully sent.
    pub fn send(&self) -> PhaseTime {
        self.between(self.got_conn, self.wrote_request)
    }

    /// Waiting for the server: request sent to first response byte.
    pub fn wait(&self) -> PhaseTime {
        self.between(self.wrote_request, self.first_byte)
    }

    /// Receiving the response: first byte to the end of the body.
    pub fn receive(&self) -> PhaseTime {
        self.between(self.first_byte, self.end)
    }

    /// Every phase in the order it happens, by name: `queue`, `dns`,
    /// `tcp_connect`, `tunnel`, `tls`, `send`, `wait`, `receive`. The
    /// durations of those that happened add up to [`total`](Self::total)
    /// once the request has ended.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), roundtrip::Error> {
    /// let mut body = roundtrip::Client::new().get("http://127.0.0.1:8080/")?.into_body();
    /// let mut buf = [0u8; 4096];
    /// while body.read_body(&mut buf)? > 0 {}
    /// if let Some(timings) = body.timings() {
    ///     for (name, phase) in timings.phases() {
    ///         println!("{name:>12} {phase:?}");
    ///     }
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn phases(&self) -> [(&'static str, PhaseTime); 8] {
        [
            ("queue", self.queue()),
            ("dns", self.dns()),
            ("tcp_connect", self.tcp_connect()),
            ("tunnel", self.tunnel()),
            ("tls", self.tls()),
            ("send", self.send()),
            ("wait", self.wait()),
            ("receive", self.receive()),
        ]
    }

    fn between(&self, a: Option<Instant>, b: Option<Instant>) -> PhaseTime {
        match (a, b) {
            (Some(a), Some(b)) => PhaseTime::Took(b.saturating_duration_since(a)),
            _ => PhaseTime::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::{AttemptId, ConnId, Network};

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn fresh_https_request_both_views() {
        let t0 = Instant::now();
        let mut t = Timings::new(t0, true);
        let addr: SocketAddr = "192.0.2.1:443".parse().unwrap();
        let local: SocketAddr = "192.0.2.9:5000".parse().unwrap();
        let err: Option<&std::io::Error> = None;
        let steps: Vec<(u64, EventKind<'_>)> = vec![
            (1, EventKind::DnsStart { host: "h" }),
            (
                1,
                EventKind::DnsQueryStart {
                    server: addr,
                    qtype: "A",
                    transport: "udp",
                },
            ),
            (
                11,
                EventKind::DnsDone {
                    addrs: &[],
                    coalesced: false,
                    error: None,
                },
            ),
            (
                11,
                EventKind::ConnectStart {
                    attempt: AttemptId(1),
                    network: Network::Tcp4,
                    addr,
                },
            ),
            (
                31,
                EventKind::ConnectDone {
                    attempt: AttemptId(1),
                    network: Network::Tcp4,
                    addr,
                    error: err,
                },
            ),
            (31, EventKind::TlsHandshakeStart),
            (
                71,
                EventKind::TlsHandshakeDone {
                    info: None,
                    error: None,
                },
            ),
            (
                71,
                EventKind::GotConn {
                    conn: ConnId(1),
                    reused: false,
                    was_idle: false,
                    idle_time: ms(0),
                    local_addr: local,
                    remote_addr: addr,
                },
            ),
            (72, EventKind::WroteRequest { error: None }),
            (122, EventKind::GotFirstResponseByte),
            (
                130,
                EventKind::ResponseBodyDone {
                    bytes: 99,
                    trailers: None,
                    error: None,
                },
            ),
            (130, EventKind::RequestDone { error: None }),
        ];
        for (at, kind) in &steps {
            t.record(t0 + ms(*at), kind);
        }
        assert_eq!(
            [
                t.namelookup(),
                t.connect(),
                t.appconnect(),
                t.pretransfer(),
                t.posttransfer(),
                t.starttransfer()
            ],
            [ms(11), ms(31), ms(71), ms(71), ms(72), ms(122)]
        );
        assert_eq!(t.total(), Some(ms(130)));
        assert_eq!(t.queue(), PhaseTime::Took(ms(1)));
        assert_eq!(t.dns(), PhaseTime::Took(ms(10)));
        assert_eq!(t.tcp_connect(), PhaseTime::Took(ms(20)));
        assert_eq!(t.tls(), PhaseTime::Took(ms(40)));
        assert_eq!(t.send(), PhaseTime::Took(ms(1)));
        assert_eq!(t.wait(), PhaseTime::Took(ms(50)));
        assert_eq!(t.receive(), PhaseTime::Took(ms(8)));
        assert_eq!(
            (t.num_connects(), t.size_download(), t.remote_addr()),
            (1, 99, Some(addr))
        );
        assert_eq!(t.tunnel(), PhaseTime::Skipped(Skipped::NoTunnel));
        // The phases add up to the total.
        let sum: Duration = t.phases().iter().filter_map(|(_, p)| p.duration()).sum();
        assert_eq!(sum, ms(130));
    }

    #[test]
    fn skipped_phases_say_why_and_curl_view_matches_curl() {
        let t0 = Instant::now();
        let addr: SocketAddr = "127.0.0.1:80".parse().unwrap();
        let mut reused = Timings::new(t0, false);
        reused.record(
            t0,
            &EventKind::GotConn {
                conn: ConnId(1),
                reused: true,
                was_idle: true,
                idle_time: ms(5),
                local_addr: addr,
                remote_addr: addr,
            },
        );
        assert_eq!(reused.dns(), PhaseTime::Skipped(Skipped::Reused));
        assert_eq!(reused.tcp_connect(), PhaseTime::Skipped(Skipped::Reused));
        assert_eq!(reused.tls(), PhaseTime::Skipped(Skipped::NotTls));
        assert_eq!(
            (reused.namelookup(), reused.connect(), reused.appconnect()),
            (ms(0), ms(0), ms(0))
        );
        assert_eq!(reused.total(), None, "still running");

        let mut literal = Timings::new(t0, false);
        literal.dials_ip_literal();
        assert_eq!(literal.dns(), PhaseTime::Skipped(Skipped::IpLiteral));

        let mut cached = Timings::new(t0, false);
        cached.record(t0 + ms(2), &EventKind::DnsStart { host: "h" });
        cached.record(
            t0 + ms(2),
            &EventKind::DnsDone {
                addrs: &[],
                coalesced: false,
                error: None,
            },
        );
        assert_eq!(cached.dns(), PhaseTime::Skipped(Skipped::Cached));
        assert_eq!(cached.namelookup(), ms(2));
    }

    #[test]
    fn connecting_before_the_lookup_ends_keeps_curls_order() {
        // AAAA answers at 5 ms and the race starts; the connection is up at
        // 8 ms; the A answer (or its timeout) ends the lookup at 40 ms.
        let t0 = Instant::now();
        let addr: SocketAddr = "[2001:db8::1]:80".parse().unwrap();
        let mut t = Timings::new(t0, false);
        let no_error: Option<&std::io::Error> = None;
        let steps = [
            (1, EventKind::DnsStart { host: "h" }),
            (
                5,
                EventKind::ConnectStart {
                    attempt: AttemptId(1),
                    network: Network::Tcp6,
                    addr,
                },
            ),
            (
                8,
                EventKind::ConnectDone {
                    attempt: AttemptId(1),
                    network: Network::Tcp6,
                    addr,
                    error: no_error,
                },
            ),
            (
                40,
                EventKind::DnsDone {
                    addrs: &[],
                    coalesced: false,
                    error: None,
                },
            ),
        ];
        for (at, kind) in &steps {
            t.record(t0 + ms(*at), kind);
        }
        assert_eq!((t.namelookup(), t.connect()), (ms(5), ms(8)));
        assert!(t.namelookup() <= t.connect());
        // The dns phase is still the whole lookup.
        assert_eq!(t.dns(), PhaseTime::Took(ms(39)));

        // Still running, before dns_done: the first connect_start counts.
        let mut running = Timings::new(t0, false);
        for (at, kind) in &steps[..2] {
            running.record(t0 + ms(*at), kind);
        }
        assert_eq!(running.namelookup(), ms(5));
    }

    #[test]
    fn a_tunnel_is_its_own_phase_and_only_used_connections_count() {
        // Two attempts race (Happy Eyeballs), one wins; CONNECT to the
        // proxy from 10 to 25 ms, then TLS inside the tunnel.
        let t0 = Instant::now();
        let proxy: SocketAddr = "192.0.2.1:3128".parse().unwrap();
        let other: SocketAddr = "[2001:db8::1]:3128".parse().unwrap();
        let local: SocketAddr = "192.0.2.9:5000".parse().unwrap();
        let no_error: Option<&std::io::Error> = None;
        let mut t = Timings::new(t0, true);
        let steps = [
            (
                1,
                EventKind::ConnectStart {
                    attempt: AttemptId(1),
                    network: Network::Tcp6,
                    addr: other,
                },
            ),
            (
                3,
                EventKind::ConnectStart {
                    attempt: AttemptId(2),
                    network: Network::Tcp4,
                    addr: proxy,
                },
            ),
            (
                10,
                EventKind::ConnectDone {
                    attempt: AttemptId(2),
                    network: Network::Tcp4,
                    addr: proxy,
                    error: no_error,
                },
            ),
            (
                10,
                EventKind::ProxyConnectStart {
                    proxy: "http://192.0.2.1:3128",
                    target: "h:443",
                },
            ),
            (
                25,
                EventKind::ProxyConnectDone {
                    status: Some(http::StatusCode::OK),
                    error: None,
                    raw_head: b"",
                },
            ),
            (25, EventKind::TlsHandshakeStart),
            (
                45,
                EventKind::TlsHandshakeDone {
                    info: None,
                    error: None,
                },
            ),
            (
                45,
                EventKind::GotConn {
                    conn: ConnId(1),
                    reused: false,
                    was_idle: false,
                    idle_time: Duration::ZERO,
                    local_addr: local,
                    remote_addr: proxy,
                },
            ),
            (46, EventKind::WroteRequest { error: None }),
            (60, EventKind::GotFirstResponseByte),
            (70, EventKind::RequestDone { error: None }),
        ];
        for (at, kind) in &steps {
            t.record(t0 + ms(*at), kind);
        }
        assert_eq!(t.num_connects(), 1, "the race's loser is not a connection");
        assert_eq!(t.tunnel(), PhaseTime::Took(ms(15)));
        assert_eq!(t.tls(), PhaseTime::Took(ms(20)));
        // curl puts CONNECT between time_connect and time_appconnect.
        assert_eq!((t.connect(), t.appconnect()), (ms(10), ms(45)));
        let sum: Duration = t.phases().iter().filter_map(|(_, p)| p.duration()).sum();
        assert_eq!(Some(sum), t.total());
    }
}

//! Getting a connection: `get_conn`, then a pooled connection, or a name
//! lookup and the Happy Eyeballs race (RFC 8305, [`crate::dial`]) over the
//! addresses as each family arrives, then `got_conn`.
//!
//! Connecting may start before the lookup is over (RFC 8305 §3), so
//! `connect_start` can come between `dns_start` and `dns_done`. The lookup
//! keeps running after a quick win so its answer is cached; `dns_done`
//! fires when it ends, or — if the request ends first — just before
//! `request_done`, with the addresses known by then.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use super::{Action, Ctx, Dialing, Exchange, Lookup, State};
use crate::config::IpFamily;
use crate::conn::{Conn, PoolKey, Scheme, SockId};
use crate::dial::{DialAction, DialConfig, Family, Outcome, Schedule};
use crate::dns::{QType, QueryOutcome, ResolverEvent};
use crate::error::{Error, ErrorKind, Phase};
use crate::trace::{AttemptId, ConnId, EventKind, Network};

impl Exchange {
    /// Starts (or, after a retry, restarts) the journey: `get_conn`, then a
    /// pooled connection or a lookup and connect.
    pub fn start(&mut self, ctx: &mut Ctx<'_>, now: Instant) {
        if self.total_deadline.is_none() {
            self.total_deadline = self.timeouts.total.map(|t| crate::after(now, t));
        }
        #[cfg(feature = "tracing")]
        self.tr
            .spans
            .begin_attempt(&self.method, &self.uri, self.port);
        if self.tr.on(ctx) {
            let mut host_port = std::mem::take(&mut ctx.spare_bufs.text);
            write_host_port(&mut host_port, self.host(), self.port);
            let kind = EventKind::GetConn {
                host_port: &host_port,
            };
            self.tr.emit(ctx, now, kind);
            ctx.spare_bufs.text = host_port;
        }
        if !self.via_decided {
            self.via_decided = true;
            match ctx.proxies {
                Ok(p) => {
                    let https = self.scheme == Scheme::Https;
                    self.via = p.for_target(https, self.host(), self.port).cloned();
                }
                Err(e) => {
                    let e = e.clone();
                    self.fail(e, ctx, now);
                    return;
                }
            }
        }
        if self.tr.resend == 0 {
            let (host, port, proxy) = self.pool_target();
            if let Some(conn) = ctx.pool.checkout(self.scheme, host, port, proxy, now) {
                let idle = conn
                    .idle_since
                    .map(|t| now.saturating_duration_since(t))
                    .unwrap_or_default();
                self.actions.push(Action::Attach { sock: conn.sock });
                self.attach(conn, true, idle, ctx, now);
                return;
            }
        }
        let (dial_host, _) = self.dial_target();
        if let Ok(ip) = dial_host.parse::<IpAddr>() {
            self.tr.timings.dials_ip_literal();
            self.feed_addresses(&[ip], true, ctx, now);
            return;
        }
        let host = super::host_in(&self.uri, self.host_at);
        let (host, port) = dial_of(&self.via, host, self.port);
        self.tr.emit(ctx, now, EventKind::DnsStart { host });
        // A copy of the shared reference, so the pin can be read while
        // `ctx` is lent out mutably below (no copy of the address list).
        let config: &crate::config::Config = ctx.config;
        let pinned = config
            .resolve
            .iter()
            .find(|(h, p, _)| *p == port && h.eq_ignore_ascii_case(host));
        if let Some((_, _, ips)) = pinned {
            // curl's --resolve: answered from the pin, no query sent.
            self.resolved(Ok(ips), false, ctx, now);
            return;
        }
        let query = ctx.resolver.start_query(host, now);
        self.lookup = Some(Lookup {
            query,
            addrs: Vec::new(),
            pending: Vec::new(),
        });
        self.state = State::Resolving;
        self.new_query = Some(query);
    }

    /// The resolver reported on this exchange's lookup.
    pub fn handle_dns_event(&mut self, event: ResolverEvent, ctx: &mut Ctx<'_>, now: Instant) {
        let Some(lookup) = &mut self.lookup else {
            return;
        };
        if event.lookup() != lookup.query {
            return;
        }
        match event {
            ResolverEvent::QueryStart {
                server,
                qtype,
                transport,
                ..
            } => {
                lookup.pending.push((server, qtype, transport));
                let kind = EventKind::DnsQueryStart {
                    server,
                    qtype: qtype.as_str(),
                    transport: transport.as_str(),
                };
                self.tr.emit(ctx, now, kind);
            }
            ResolverEvent::QueryDone {
                server,
                qtype,
                transport,
                outcome,
                ..
            } => {
                if let Some(i) = lookup
                    .pending
                    .iter()
                    .position(|p| *p == (server, qtype, transport))
                {
                    lookup.pending.remove(i);
                }
                let (rcode, error, answers, truncated) = match &outcome {
                    QueryOutcome::Answer {
                        rcode,
                        answers,
                        truncated,
                    } => (Some(rcode.as_str()), None, *answers, *truncated),
                    QueryOutcome::Timeout => (None, Some("timed out"), 0, false),
                    QueryOutcome::Error(e) => (None, Some(e.as_str()), 0, false),
                };
                let kind = EventKind::DnsQueryDone {
                    server,
                    qtype: qtype.as_str(),
                    transport: transport.as_str(),
                    rcode,
                    error,
                    answers,
                    truncated,
                };
                self.tr.emit(ctx, now, kind);
            }
            ResolverEvent::Addresses { qtype, addrs, .. } => {
                for a in &addrs {
                    if !lookup.addrs.contains(a) {
                        lookup.addrs.push(*a);
                    }
                }
                let family = match qtype {
                    QType::Aaaa => Family::V6,
                    QType::A => Family::V4,
                };
                self.feed_family(family, &addrs, ctx, now);
            }
            ResolverEvent::Done {
                result, coalesced, ..
            } => {
                self.lookup = None;
                self.resolved(result.as_deref(), coalesced, ctx, now);
            }
        }
    }

    /// The lookup ended: `dns_done`, then every address joins the race (or
    /// the request fails when there is none).
    fn resolved(
        &mut self,
        result: std::result::Result<&[IpAddr], &Error>,
        coalesced: bool,
        ctx: &mut Ctx<'_>,
        now: Instant,
    ) {
        match result {
            Ok(ips) if !ips.is_empty() => {
                let kind = EventKind::DnsDone {
                    addrs: ips,
                    coalesced,
                    error: None,
                };
                self.tr.emit(ctx, now, kind);
                self.feed_addresses(ips, true, ctx, now);
            }
            other => {
                let e = other.err().cloned().unwrap_or_else(|| {
                    Error::new(
                        Phase::Dns,
                        ErrorKind::NoAddresses {
                            host: self.host().to_owned(),
                        },
                    )
                });
                let kind = EventKind::DnsDone {
                    addrs: &[],
                    coalesced,
                    error: Some(&e),
                };
                self.tr.emit(ctx, now, kind);
                // No address at all came, so no attempt can be running.
                if matches!(
                    self.state,
                    State::Resolving | State::New | State::Connecting(_)
                ) {
                    self.fail(e, ctx, now);
                }
            }
        }
    }

    /// Where the TCP connection goes: the proxy, if any, else the origin.
    pub(super) fn dial_target(&self) -> (&str, u16) {
        dial_of(&self.via, self.host(), self.port)
    }

    /// The pool key's parts: plain HTTP through a proxy shares the proxy
    /// connection across targets; a tunnel is per origin and proxy.
    pub(super) fn pool_target(&self) -> (&str, u16, Option<(&str, u16)>) {
        match (&self.via, self.scheme) {
            (Some(p), Scheme::Http) => (p.host.as_str(), p.port, Some((p.host.as_str(), p.port))),
            (Some(p), Scheme::Https) => (self.host(), self.port, Some((p.host.as_str(), p.port))),
            (None, _) => (self.host(), self.port, None),
        }
    }

    /// Addresses of both families at once; `complete` when no more will
    /// come.
    fn feed_addresses(&mut self, ips: &[IpAddr], complete: bool, ctx: &mut Ctx<'_>, now: Instant) {
        // Both families from the one list, without splitting it into two
        // new vectors first.
        self.feed_family_where(Family::V6, ips, |ip| ip.is_ipv6(), ctx, now);
        self.feed_family_where(Family::V4, ips, |ip| ip.is_ipv4(), ctx, now);
        if complete {
            if let State::Connecting(d) = &mut self.state {
                d.schedule.resolution_done(now);
            }
            self.drive_dial(ctx, now);
        }
    }

    /// One family's answer joins the race (starting it if needed).
    fn feed_family(&mut self, family: Family, ips: &[IpAddr], ctx: &mut Ctx<'_>, now: Instant) {
        self.feed_family_where(family, ips, |_| true, ctx, now);
    }

    /// [`feed_family`](Self::feed_family) with the addresses of `ips` that
    /// `keep` selects.
    fn feed_family_where(
        &mut self,
        family: Family,
        ips: &[IpAddr],
        keep: impl Fn(&IpAddr) -> bool,
        ctx: &mut Ctx<'_>,
        now: Instant,
    ) {
        if !matches!(
            self.state,
            State::Resolving | State::New | State::Connecting(_)
        ) {
            return;
        }
        let allowed = !matches!(
            (ctx.config.ip_family, family),
            (IpFamily::V4Only, Family::V6) | (IpFamily::V6Only, Family::V4)
        );
        if !matches!(self.state, State::Connecting(_)) {
            let (host, _) = self.dial_target();
            let config = DialConfig {
                resolution_delay: ctx.config.resolution_delay,
                attempt_delay: ctx.config.happy_eyeballs_delay,
                first_family_count: ctx.config.first_family_count,
                prefer_v4: ctx.families.preferred(host, now) == Some(Family::V4),
            };
            let mut schedule = Schedule::new(config, 0);
            // A family that is filtered out counts as answered and empty.
            match ctx.config.ip_family {
                IpFamily::V4Only => schedule.add_addresses(Family::V6, &[], now),
                IpFamily::V6Only => schedule.add_addresses(Family::V4, &[], now),
                IpFamily::Any => {}
            }
            self.state = State::Connecting(Box::new(Dialing {
                schedule,
                deadline: crate::after(now, self.timeouts.connect),
                attempts: Vec::new(),
            }));
        }
        let port = self.dial_target().1;
        let State::Connecting(d) = &mut self.state else {
            return;
        };
        let addrs: Vec<SocketAddr> = if allowed {
            ips.iter()
                .filter(|ip| keep(ip))
                .map(|ip| SocketAddr::new(*ip, port))
                .collect()
        } else {
            Vec::new()
        };
        d.schedule.add_addresses(family, &addrs, now);
        self.drive_dial(ctx, now);
    }

    /// Carries out what the race decided: start and cancel attempts, and
    /// fail when every address has failed.
    pub(super) fn drive_dial(&mut self, ctx: &mut Ctx<'_>, now: Instant) {
        let State::Connecting(d) = &mut self.state else {
            return;
        };
        let mut started = Vec::new();
        let mut cancelled = Vec::new();
        while let Some(action) = d.schedule.poll_action() {
            match action {
                DialAction::Start { attempt, addr } => {
                    ctx.ids.attempt += 1;
                    let global = AttemptId(ctx.ids.attempt);
                    d.attempts.push((attempt, global, addr));
                    started.push((global, addr));
                }
                DialAction::Cancel { attempt, addr } => {
                    if let Some(&(_, global, _)) = d.attempts.iter().find(|(l, ..)| *l == attempt) {
                        cancelled.push((global, addr));
                    }
                }
            }
        }
        let failed = match d.schedule.outcome() {
            Outcome::Failed(errors) => Some(errors.clone()),
            _ => None,
        };
        for (attempt, addr) in cancelled {
            self.actions.push(Action::CancelAttempt { attempt });
            // As Go does, the loser's attempt ends with connect_done and a
            // cancellation error; connect_cancelled then says why.
            let err = std::io::Error::new(
                std::io::ErrorKind::Interrupted,
                "cancelled: another attempt connected first",
            );
            let network = Network::of(&addr);
            let done = EventKind::ConnectDone {
                attempt,
                network,
                addr,
                error: Some(&err),
            };
            self.tr.emit(ctx, now, done);
            let kind = EventKind::ConnectCancelled {
                attempt,
                network,
                addr,
            };
            self.tr.emit(ctx, now, kind);
        }
        for (attempt, addr) in started {
            self.actions.push(Action::Connect { attempt, addr });
            let kind = EventKind::ConnectStart {
                attempt,
                network: Network::of(&addr),
                addr,
            };
            self.tr.emit(ctx, now, kind);
        }
        if let Some(errors) = failed {
            if errors.is_empty() && self.lookup.is_some() {
                // Every family answered without addresses; the lookup's own
                // result (NODATA, a server failure) decides the error.
                return;
            }
            let kind = if !errors.is_empty() {
                ErrorKind::ConnectFailed(errors)
            } else if ctx.config.ip_family != IpFamily::Any {
                // Every address was filtered out by Config::ip_family.
                ErrorKind::NoAddressOfFamily {
                    host: self.host().to_owned(),
                    family: ctx.config.ip_family,
                }
            } else {
                ErrorKind::NoAddresses {
                    host: self.host().to_owned(),
                }
            };
            let err = Error::new(Phase::Connect, kind);
            self.fail(err, ctx, now);
        }
    }

    /// The race's local id for a client-wide attempt id.
    fn local_attempt(&self, attempt: AttemptId) -> Option<(AttemptId, SocketAddr)> {
        let State::Connecting(d) = &self.state else {
            return None;
        };
        d.attempts
            .iter()
            .find(|(_, g, _)| *g == attempt)
            .map(|(l, _, a)| (*l, *a))
    }

    /// An attempt connected; the runtime has made `sock` this exchange's.
    pub fn handle_connected(
        &mut self,
        attempt: AttemptId,
        sock: SockId,
        local: SocketAddr,
        ctx: &mut Ctx<'_>,
        now: Instant,
    ) {
        let Some((local_id, addr)) = self.local_attempt(attempt) else {
            self.actions.push(Action::Close { sock });
            return;
        };
        if let State::Connecting(d) = &mut self.state {
            d.schedule.handle_connected(local_id, now);
        }
        let kind = EventKind::ConnectDone {
            attempt,
            network: Network::of(&addr),
            addr,
            error: None,
        };
        self.tr.emit(ctx, now, kind);
        self.drive_dial(ctx, now);
        ctx.families
            .remember(self.dial_target().0, Family::of(&addr), now);
        ctx.ids.conn += 1;
        let (host, port, proxy) = self.pool_target();
        let key = PoolKey {
            scheme: self.scheme,
            host: host.to_ascii_lowercase(),
            port,
            proxy: proxy.map(|(h, p)| (h.to_owned(), p)),
        };
        let conn = Box::new(Conn::new(ConnId(ctx.ids.conn), sock, key, local, addr));
        if self.scheme == Scheme::Https && self.via.is_some() {
            self.start_proxy_connect(conn, ctx, now);
            return;
        }
        if self.scheme == Scheme::Https {
            self.start_tls(conn, ctx, now);
            return;
        }
        self.attach(conn, false, Duration::ZERO, ctx, now);
    }

    /// An attempt failed: `connect_done` with its error; the race moves on.
    pub fn handle_connect_failed(
        &mut self,
        attempt: AttemptId,
        error: std::io::Error,
        ctx: &mut Ctx<'_>,
        now: Instant,
    ) {
        let Some((local_id, addr)) = self.local_attempt(attempt) else {
            return;
        };
        let kind = EventKind::ConnectDone {
            attempt,
            network: Network::of(&addr),
            addr,
            error: Some(&error),
        };
        self.tr.emit(ctx, now, kind);
        if let State::Connecting(d) = &mut self.state {
            d.schedule.handle_failed(local_id, error, now);
        }
        self.drive_dial(ctx, now);
    }

    /// The connect deadline passed: every attempt still in flight ends
    /// with a timeout, and the request fails listing every attempt.
    pub(super) fn connect_timed_out(&mut self, ctx: &mut Ctx<'_>, now: Instant) {
        let attempts =
            self.abandon_race(std::io::ErrorKind::TimedOut, "connect timed out", ctx, now);
        let err = Error::new(
            Phase::Connect,
            ErrorKind::ConnectTimeout {
                limit: self.timeouts.connect,
                attempts,
            },
        );
        self.fail(err, ctx, now);
    }

    /// Ends the race: every attempt still running is cancelled and ends
    /// with `connect_done` carrying `why`. Returns every attempt's error,
    /// those of earlier failures first.
    pub(super) fn abandon_race(
        &mut self,
        why: std::io::ErrorKind,
        msg: &str,
        ctx: &mut Ctx<'_>,
        now: Instant,
    ) -> Vec<crate::error::AttemptError> {
        let State::Connecting(d) = &mut self.state else {
            return Vec::new();
        };
        let in_flight: Vec<(AttemptId, SocketAddr)> = d
            .schedule
            .in_flight()
            .iter()
            .filter_map(|(l, _)| d.attempts.iter().find(|(x, ..)| x == l))
            .map(|(_, g, a)| (*g, *a))
            .collect();
        let mut attempts = d.schedule.abandon();
        while d.schedule.poll_action().is_some() {}
        for (attempt, addr) in in_flight {
            self.actions.push(Action::CancelAttempt { attempt });
            let error = std::io::Error::new(why, msg.to_owned());
            let kind = EventKind::ConnectDone {
                attempt,
                network: Network::of(&addr),
                addr,
                error: Some(&error),
            };
            self.tr.emit(ctx, now, kind);
            attempts.push(crate::error::AttemptError {
                addr,
                error: std::sync::Arc::new(error),
            });
        }
        attempts
    }

    pub(super) fn attach(
        &mut self,
        mut conn: Box<Conn>,
        reused: bool,
        idle: Duration,
        ctx: &mut Ctx<'_>,
        now: Instant,
    ) {
        conn.idle_since = None;
        conn.requests += 1;
        conn.send.clear();
        conn.sent = 0;
        self.tr.emit(
            ctx,
            now,
            EventKind::GotConn {
                conn: conn.id,
                reused,
                was_idle: reused,
                idle_time: idle,
                local_addr: conn.local,
                remote_addr: conn.remote,
            },
        );
        self.reused = reused;
        self.conn = Some(conn);
        self.state = State::Connected;
        self.write_head(ctx, now);
    }
}

/// `host:port` into `out` (cleared first), an IPv6 literal in brackets
/// (RFC 3986 §3.2.2), without the formatting machinery: `GetConn` needs it
/// for every traced request, and a CONNECT to a proxy for its target.
pub(super) fn write_host_port(out: &mut String, host: &str, port: u16) {
    out.clear();
    let v6 = host.contains(':');
    if v6 {
        out.push('[');
    }
    out.push_str(host);
    if v6 {
        out.push(']');
    }
    out.push(':');
    let mut digits = [0; 20];
    let port = super::send::decimal(u64::from(port), &mut digits);
    out.extend(port.iter().map(|&d| char::from(d)));
}

/// Where the TCP connection goes: the proxy, if any, else the origin.
fn dial_of<'a>(via: &'a Option<crate::proxy::Proxy>, host: &'a str, port: u16) -> (&'a str, u16) {
    match via {
        Some(p) => (p.host.as_str(), p.port),
        None => (host, port),
    }
}

#[cfg(test)]
mod host_port_tests {
    use super::write_host_port;

    #[test]
    fn host_port_is_written_as_go_and_curl_show_it() {
        let mut s = String::from("left over");
        for (host, port, want) in [
            ("example.com", 443, "example.com:443"),
            ("127.0.0.1", 0, "127.0.0.1:0"),
            ("::1", 8080, "[::1]:8080"),
            ("h", 65535, "h:65535"),
            ("h", 10, "h:10"),
        ] {
            write_host_port(&mut s, host, port);
            assert_eq!(s, want);
        }
    }
}

//! Getting a connection: `get_conn`, then a pooled connection or a name
//! lookup and one connection attempt per address in order, until one
//! connects (Happy Eyeballs, RFC 8305, replaces the order later), then
//! `got_conn`.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use super::{host_of, Action, Connecting, Ctx, Exchange, State};
use crate::conn::{Conn, PoolKey, RecvBuf, Scheme, SockId};
use crate::dns::{QueryOutcome, ResolverEvent};
use crate::error::{AttemptError, Error, ErrorKind, Phase, Result};
use crate::trace::{AttemptId, ConnId, EventKind, Network};

impl Exchange {
    /// Starts (or, after a retry, restarts) the journey: `get_conn`, then a
    /// pooled connection or a lookup and connect.
    pub fn start(&mut self, ctx: &mut Ctx<'_>, now: Instant) {
        if self.tr.on(ctx) {
            let host = host_of(&self.uri);
            let host_port = if host.contains(':') {
                format!("[{host}]:{}", self.port)
            } else {
                format!("{host}:{}", self.port)
            };
            let kind = EventKind::GetConn {
                host_port: &host_port,
            };
            self.tr.emit(ctx, now, kind);
        }
        if self.tr.resend == 0 {
            if let Some(conn) = ctx
                .pool
                .checkout(Scheme::Http, host_of(&self.uri), self.port, now)
            {
                let idle = conn
                    .idle_since
                    .map(|t| now.saturating_duration_since(t))
                    .unwrap_or_default();
                self.actions.push(Action::Attach { sock: conn.sock });
                self.attach(conn, true, idle, ctx, now);
                return;
            }
        }
        if let Ok(ip) = host_of(&self.uri).parse::<IpAddr>() {
            self.begin_connect(vec![SocketAddr::new(ip, self.port)], ctx, now);
            return;
        }
        let host = host_of(&self.uri);
        self.tr.emit(ctx, now, EventKind::DnsStart { host });
        let port = self.port;
        let pinned = ctx
            .config
            .resolve
            .iter()
            .find(|(h, p, _)| *p == port && h.eq_ignore_ascii_case(host));
        if let Some((_, _, ips)) = pinned {
            // curl's --resolve: answered from the pin, no query sent.
            let ips = ips.clone();
            self.resolved(Ok(ips), false, ctx, now);
            return;
        }
        let query = ctx.resolver.start_query(host, now);
        self.state = State::Resolving { query };
        self.new_query = Some(query);
    }

    /// The resolver reported on this exchange's lookup.
    pub fn handle_dns_event(&mut self, event: ResolverEvent, ctx: &mut Ctx<'_>, now: Instant) {
        let State::Resolving { query } = self.state else {
            return;
        };
        match event {
            ResolverEvent::QueryStart {
                lookup,
                server,
                qtype,
                transport,
            } if lookup == query => {
                let kind = EventKind::DnsQueryStart {
                    server,
                    qtype: qtype.as_str(),
                    transport: transport.as_str(),
                };
                self.tr.emit(ctx, now, kind);
            }
            ResolverEvent::QueryDone {
                lookup,
                server,
                qtype,
                transport,
                outcome,
            } if lookup == query => {
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
            ResolverEvent::Done {
                lookup,
                result,
                coalesced,
            } if lookup == query => self.resolved(result, coalesced, ctx, now),
            _ => {}
        }
    }

    /// The lookup ended: `dns_done`, then connect or fail.
    fn resolved(
        &mut self,
        result: Result<Vec<IpAddr>>,
        coalesced: bool,
        ctx: &mut Ctx<'_>,
        now: Instant,
    ) {
        match result {
            Ok(ips) if !ips.is_empty() => {
                let kind = EventKind::DnsDone {
                    addrs: &ips,
                    coalesced,
                    error: None,
                };
                self.tr.emit(ctx, now, kind);
                let addrs = ips
                    .iter()
                    .map(|ip| SocketAddr::new(*ip, self.port))
                    .collect();
                self.begin_connect(addrs, ctx, now);
            }
            other => {
                let e = other.err().unwrap_or_else(|| {
                    Error::new(
                        Phase::Dns,
                        ErrorKind::NoAddresses {
                            host: host_of(&self.uri).to_owned(),
                        },
                    )
                });
                let kind = EventKind::DnsDone {
                    addrs: &[],
                    coalesced,
                    error: Some(&e),
                };
                self.tr.emit(ctx, now, kind);
                self.fail(e, ctx, now);
            }
        }
    }

    pub(super) fn begin_connect(
        &mut self,
        addrs: Vec<SocketAddr>,
        ctx: &mut Ctx<'_>,
        now: Instant,
    ) {
        self.state = State::Connecting(Connecting {
            addrs,
            next: 0,
            current: None,
            errors: Vec::new(),
            deadline: now + ctx.config.connect_timeout,
        });
        self.next_attempt(ctx, now);
    }

    pub(super) fn next_attempt(&mut self, ctx: &mut Ctx<'_>, now: Instant) {
        let State::Connecting(c) = &mut self.state else {
            return;
        };
        let Some(&addr) = c.addrs.get(c.next) else {
            let errors = std::mem::take(&mut c.errors);
            let err = Error::new(Phase::Connect, ErrorKind::ConnectFailed(errors));
            self.fail(err, ctx, now);
            return;
        };
        c.next += 1;
        ctx.ids.attempt += 1;
        let attempt = AttemptId(ctx.ids.attempt);
        c.current = Some((attempt, addr));
        self.actions.push(Action::Connect { attempt, addr });
        self.tr.emit(
            ctx,
            now,
            EventKind::ConnectStart {
                attempt,
                network: Network::of(&addr),
                addr,
            },
        );
    }

    /// The attempt in progress, if `attempt` is it: ends it with
    /// `connect_done` (keeping its error for the final report) and returns
    /// its address.
    pub(super) fn end_attempt(
        &mut self,
        attempt: AttemptId,
        error: Option<std::io::Error>,
        ctx: &mut Ctx<'_>,
        now: Instant,
    ) -> Option<SocketAddr> {
        let State::Connecting(c) = &mut self.state else {
            return None;
        };
        let (current, addr) = c.current?;
        if current != attempt {
            return None;
        }
        c.current = None;
        let error = error.map(Arc::new);
        if let Some(e) = &error {
            c.errors.push(AttemptError {
                addr,
                error: e.clone(),
            });
        }
        let kind = EventKind::ConnectDone {
            attempt,
            network: Network::of(&addr),
            addr,
            error: error.as_deref(),
        };
        self.tr.emit(ctx, now, kind);
        Some(addr)
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
        let Some(addr) = self.end_attempt(attempt, None, ctx, now) else {
            self.actions.push(Action::Close { sock });
            return;
        };
        ctx.ids.conn += 1;
        let conn = Conn {
            id: ConnId(ctx.ids.conn),
            sock,
            key: PoolKey {
                scheme: Scheme::Http,
                host: host_of(&self.uri).to_ascii_lowercase(),
                port: self.port,
            },
            local,
            remote: addr,
            recv: RecvBuf::default(),
            send: Vec::new(),
            sent: 0,
            requests: 0,
            idle_since: None,
        };
        self.attach(conn, false, Default::default(), ctx, now);
    }

    /// An attempt failed.
    pub fn handle_connect_failed(
        &mut self,
        attempt: AttemptId,
        error: std::io::Error,
        ctx: &mut Ctx<'_>,
        now: Instant,
    ) {
        if self.end_attempt(attempt, Some(error), ctx, now).is_some() {
            self.next_attempt(ctx, now);
        }
    }

    pub(super) fn attach(
        &mut self,
        mut conn: Conn,
        reused: bool,
        idle: std::time::Duration,
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

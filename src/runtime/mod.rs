//! The IO shell: one mio `Poll`, the sockets, the clock and the timer heap
//! (DESIGN.md, "How these fit together", steps 1–10). Nothing else in the
//! crate touches a socket or reads the clock.
//!
//! Sockets are created with mio (non-blocking from the `socket` call on,
//! TCP_NODELAY set) and
//! registered once for both readiness kinds, edge-triggered. The runtime
//! keeps a `readable`/`writable` flag per socket: set by an event, cleared
//! when a call returns `WouldBlock` — or when a read returned less than the
//! space offered, which on a stream socket means the kernel buffer was
//! emptied; any later arrival raises a new edge. That is what keeps a
//! keep-alive GET to three system calls: write, `epoll_wait`, read.
//! Idle pooled sockets stay registered, so a server closing one (or sending
//! a stray 408) is noticed without a syscall at checkout.

mod timers;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::io::{self, IoSlice, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::{TcpStream, UdpSocket};
use mio::{Events, Interest, Poll, Token};

use crate::config::Config;
use crate::conn::SockId;
use crate::dial::FamilyMemory;
use crate::dns::{DnsSockId, Hosts, QueryId, Resolver, ResolverEvent, Transmit};
use crate::error::{Error, Phase, Result};
use crate::exchange::redirect::NextHop;
use crate::exchange::{Action, BodyRead, Ctx, Exchange, Ids};
use crate::h1::ResponseHead;
use crate::pool::Pool;
use crate::send_body::SendBody;
use crate::trace::{AttemptId, CloseReason, ConnId, Event, EventKind, RequestId, Trace};

use timers::Timers;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    Attempt(RequestId, AttemptId),
    Exchange(RequestId),
    Idle(ConnId),
    /// A DNS query over TCP (after a truncated UDP answer).
    DnsTcp(DnsSockId),
}

/// UDP sockets (one per DNS query) use tokens from here up, so one token
/// space serves both slabs.
const UDP_TOKEN_BASE: usize = 1 << 40;

/// Request slots the loop keeps room for once it is idle again.
const SLOTS_KEPT: usize = 16;

struct UdpSock {
    socket: UdpSocket,
    id: DnsSockId,
}

struct Sock {
    stream: TcpStream,
    owner: Owner,
    readable: bool,
    writable: bool,
    connecting: bool,
    eof: bool,
    /// The peer's FIN was seen (EPOLLRDHUP): reads must go on until they
    /// return 0, since no further edge will announce it.
    hup: bool,
    /// Bytes still to write (DNS over TCP only; HTTP sends from the
    /// exchange's connection record).
    out: Vec<u8>,
}

/// Request and query ids are sequential numbers: hashing them with
/// SipHash cost a third of the client's user time per request (callgrind);
/// a Fibonacci multiply spreads them well enough for hashbrown.
#[derive(Default)]
struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

type IdMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<IdHasher>>;

struct Slot {
    ex: Exchange,
    armed: Option<Instant>,
}

/// The event loop and everything it owns.
pub(crate) struct Runtime {
    config: Arc<Config>,
    poll: Option<Poll>,
    events: Events,
    ready: Vec<(Token, bool, bool, bool)>,
    socks: Vec<Option<Sock>>,
    free: Vec<usize>,
    udp: Vec<Option<UdpSock>>,
    udp_free: Vec<usize>,
    /// Where each DNS socket lives: `UDP_TOKEN_BASE + i` or a `socks` index.
    dns_socks: IdMap<DnsSockId, usize>,
    /// Scratch space for DNS reads.
    dns_buf: Vec<u8>,
    slots: IdMap<RequestId, Slot>,
    early: IdMap<RequestId, Error>,
    queries: IdMap<QueryId, RequestId>,
    timers: Timers,
    dirty: Vec<RequestId>,
    pool: Pool,
    resolver: Resolver,
    client_trace: Trace,
    ids: Ids,
    spare_bufs: Vec<Vec<u8>>,
    families: FamilyMemory,
    tls: crate::tls::TlsSetup,
    proxies: std::result::Result<crate::proxy::Proxies, Error>,
    next_req: u64,
    /// `Config::user_agent` as a shared value, cloned per request without
    /// copying.
    user_agent: Option<http::HeaderValue>,
}

macro_rules! ctx {
    ($rt:ident) => {
        Ctx {
            config: &$rt.config,
            pool: &mut $rt.pool,
            resolver: &mut $rt.resolver,
            client_trace: &mut $rt.client_trace,
            ids: &mut $rt.ids,
            spare_bufs: &mut $rt.spare_bufs,
            families: &mut $rt.families,
            tls: &mut $rt.tls,
            proxies: &$rt.proxies,
        }
    };
}

fn stalled() -> Error {
    Error::io(
        Phase::ReadResponseHead,
        io::Error::other("event loop has nothing to wait for (internal error)"),
    )
}

impl Runtime {
    pub fn new(config: Arc<Config>, client_trace: Trace) -> Runtime {
        let mut hosts = match &config.hosts_file {
            Some(path) => Hosts::load(path),
            None => Hosts::default(),
        };
        for (name, addr) in &config.hosts {
            hosts.insert(name, *addr);
        }
        let user_agent = config.user_agent.as_ref().and_then(|ua| {
            http::HeaderValue::from_maybe_shared(bytes::Bytes::from(ua.clone())).ok()
        });
        let dns_settings = config.dns_settings();
        let proxies = crate::proxy::Proxies::resolve(&config.proxy, |k| std::env::var(k).ok());
        let families = FamilyMemory::new(config.family_memory_size, config.family_memory);
        Runtime {
            user_agent,
            pool: Pool::new(
                config.max_idle_per_host,
                config.max_idle,
                config.idle_timeout,
            ),
            config,
            poll: None,
            events: Events::with_capacity(256),
            ready: Vec::new(),
            socks: Vec::new(),
            free: Vec::new(),
            udp: Vec::new(),
            udp_free: Vec::new(),
            dns_socks: IdMap::default(),
            dns_buf: Vec::new(),
            slots: IdMap::default(),
            early: IdMap::default(),
            queries: IdMap::default(),
            timers: Timers::default(),
            dirty: Vec::new(),
            resolver: Resolver::new(dns_settings, hosts, random_seed()),
            client_trace,
            ids: Ids::default(),
            spare_bufs: Vec::new(),
            families,
            tls: crate::tls::TlsSetup::default(),
            proxies,
            next_req: 0,
        }
    }

    fn poll_handle(&mut self) -> io::Result<&mut Poll> {
        if self.poll.is_none() {
            self.poll = Some(Poll::new()?);
        }
        Ok(self.poll.as_mut().expect("just created"))
    }

    /// Number of idle pooled connections.
    pub fn idle_conns(&self) -> usize {
        self.pool.len()
    }

    /// Submits a request; its outcome is collected with `take_outcome`.
    pub fn submit(&mut self, req: http::Request<SendBody>, trace: Trace) -> RequestId {
        self.next_req += 1;
        let id = RequestId(self.next_req);
        let mut now = Instant::now();
        if self.pool.any_idle_for(self.config.idle_probe_after, now) {
            // Errors here surface again, with a phase, on the real wait.
            let _ = self.turn_with(Some(Duration::ZERO));
            now = Instant::now();
        }
        let (parts, body) = req.into_parts();
        match Exchange::new(
            id,
            parts,
            body,
            trace,
            self.user_agent.as_ref(),
            &self.config,
            now,
        ) {
            Ok(ex) => {
                self.slots.insert(id, Slot { ex, armed: None });
                if let Some(slot) = self.slots.get_mut(&id) {
                    let mut ctx = ctx!(self);
                    slot.ex.start(&mut ctx, now);
                }
                self.pump(id, now);
            }
            Err((e, mut trace)) => {
                let event = Event {
                    at: now,
                    req: Some(id),
                    resend: 0,
                    hop: 0,
                    kind: EventKind::RequestDone { error: Some(&e) },
                };
                trace.emit(&event);
                self.client_trace.emit(&event);
                self.early.insert(id, e);
            }
        }
        id
    }

    /// The head or the error of a request, once known (handed out once).
    pub fn take_outcome(&mut self, id: RequestId) -> Option<Result<ResponseHead>> {
        if let Some(e) = self.early.remove(&id) {
            return Some(Err(e));
        }
        let slot = self.slots.get_mut(&id)?;
        let outcome = slot.ex.take_outcome()?;
        let Ok(head) = &outcome else {
            return Some(outcome);
        };
        let now = Instant::now();
        match slot.ex.next_hop(head, self.config.allow_https_downgrade) {
            NextHop::Stop => Some(outcome),
            NextHop::Refuse(e) => {
                let mut ctx = ctx!(self);
                slot.ex.refuse_redirect(e.clone(), &mut ctx, now);
                self.pump(id, now);
                Some(Err(e))
            }
            NextHop::Follow(plan) => {
                let super_plan = *plan;
                let (parts, body, to) = (super_plan.parts, super_plan.body, super_plan.to);
                let mut ctx = ctx!(self);
                let baton = slot.ex.end_hop(head.status, &to, &mut ctx, now);
                self.pump(id, now);
                self.queries.retain(|_, r| *r != id);
                let next = Exchange::new(
                    id,
                    parts,
                    body,
                    Trace::new(),
                    self.user_agent.as_ref(),
                    &self.config,
                    now,
                );
                match next {
                    Ok(mut ex) => {
                        ex.continue_chain(baton);
                        let slot = self.slots.get_mut(&id).expect("still there");
                        slot.ex = ex;
                        slot.armed = None;
                        let mut ctx = ctx!(self);
                        slot.ex.start(&mut ctx, now);
                        self.pump(id, now);
                        // The next hop's outcome (or an immediate failure).
                        self.take_outcome(id)
                    }
                    Err((e, _)) => Some(Err(e)),
                }
            }
        }
    }

    /// The timeline of `id` so far.
    pub fn timings(&self, id: RequestId) -> Option<crate::timings::Timings> {
        self.slots.get(&id).map(|s| s.ex.timings().clone())
    }

    /// Drives the loop until `id` has a head or an error.
    pub fn wait_outcome(&mut self, id: RequestId) -> Result<ResponseHead> {
        loop {
            if let Some(outcome) = self.take_outcome(id) {
                return outcome.map_err(|e| self.with_timings(id, e));
            }
            if !self.slots.contains_key(&id) {
                return Err(stalled());
            }
            self.turn()?;
        }
    }

    /// Drives the loop until one of `ids` has a head or an error.
    pub fn wait_any(&mut self, ids: &[RequestId]) -> Option<(RequestId, Result<ResponseHead>)> {
        if ids.is_empty() {
            return None;
        }
        loop {
            for &id in ids {
                if let Some(outcome) = self.take_outcome(id) {
                    return Some((id, outcome));
                }
            }
            if let Err(e) = self.turn() {
                return Some((ids[0], Err(e)));
            }
        }
    }

    /// Reads body bytes of `id`, driving the loop while none are ready.
    pub fn read_body(&mut self, id: RequestId, out: &mut [u8]) -> Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        loop {
            let now = Instant::now();
            let Some(slot) = self.slots.get_mut(&id) else {
                return Ok(0);
            };
            let mut ctx = ctx!(self);
            let read = slot.ex.read_body(out, &mut ctx, now);
            self.pump(id, now);
            match read.map_err(|e| self.with_timings(id, e))? {
                BodyRead::Data(n) => return Ok(n),
                BodyRead::End => return Ok(0),
                BodyRead::Pending => self.turn()?,
            }
        }
    }

    fn with_timings(&self, id: RequestId, e: Error) -> Error {
        match self.timings(id) {
            Some(t) => e.with_timings(t),
            None => e,
        }
    }

    /// The trailer section of `id`, once its body has ended.
    pub fn take_trailers(&mut self, id: RequestId) -> Option<http::HeaderMap> {
        self.slots.get_mut(&id)?.ex.take_trailers()
    }

    /// The caller is done with `id`: cancel it if unfinished, forget it.
    pub fn release(&mut self, id: RequestId) {
        self.early.remove(&id);
        let now = Instant::now();
        if let Some(slot) = self.slots.get_mut(&id) {
            let mut ctx = ctx!(self);
            slot.ex.cancel(&mut ctx, now);
            self.pump(id, now);
        }
        self.slots.remove(&id);
        self.queries.retain(|_, r| *r != id);
        // A slot holds its exchange inline (about 2.4 KiB): after a burst of
        // requests the table would keep room for all of them for good (5 MB
        // after 1,000 at once, benches/src/bin/soak.rs). Give it back once
        // nothing is in flight; steady traffic never gets here with a large
        // table, so this costs nothing per request.
        if self.slots.is_empty() && self.slots.capacity() > SLOTS_KEPT {
            self.slots.shrink_to(SLOTS_KEPT);
        }
    }

    // ----- the loop ------------------------------------------------------

    fn next_deadline(&mut self) -> Option<Instant> {
        [
            self.timers.peek(),
            self.pool.poll_timeout(),
            self.resolver.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// One turn: wait for readiness or the next deadline, then feed what
    /// happened to the exchanges.
    fn turn(&mut self) -> Result<()> {
        let deadline = self.next_deadline();
        let live_socks = self.socks.len() - self.free.len() + self.udp.len() - self.udp_free.len();
        if deadline.is_none() && live_socks == 0 {
            return Err(stalled());
        }
        self.turn_with(deadline.map(|d| d.saturating_duration_since(Instant::now())))
    }

    fn turn_with(&mut self, timeout: Option<Duration>) -> Result<()> {
        let mut events = std::mem::replace(&mut self.events, Events::with_capacity(0));
        let polled = match self.poll_handle() {
            Ok(p) => p.poll(&mut events, timeout),
            Err(e) => Err(e),
        };
        match polled {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                self.events = events;
                return Err(Error::io(Phase::ReadResponseHead, e));
            }
        }
        // The one clock read of this turn.
        let now = Instant::now();
        self.ready.clear();
        for ev in events.iter() {
            self.ready.push((
                ev.token(),
                ev.is_readable() || ev.is_read_closed() || ev.is_error(),
                ev.is_writable() || ev.is_write_closed() || ev.is_error(),
                ev.is_read_closed() || ev.is_error(),
            ));
        }
        self.events = events;
        for i in 0..self.ready.len() {
            let (token, readable, writable, hup) = self.ready[i];
            if let Some(Some(sock)) = self.socks.get_mut(token.0) {
                sock.hup |= hup;
            }
            self.on_ready(token.0, readable, writable, now);
        }
        while let Some(id) = self.timers.pop_expired(now) {
            if let Some(slot) = self.slots.get_mut(&id) {
                if slot.armed.is_some_and(|t| t <= now) {
                    slot.armed = None;
                    let mut ctx = ctx!(self);
                    slot.ex.handle_timeout(&mut ctx, now);
                    self.dirty.push(id);
                }
            }
        }
        self.pool.handle_timeout(now);
        self.close_pool_dropped(now);
        self.resolver.handle_timeout(now);
        self.drive_resolver(now);
        while let Some(id) = self.dirty.pop() {
            self.pump(id, now);
        }
        Ok(())
    }

    fn on_ready(&mut self, index: usize, readable: bool, writable: bool, now: Instant) {
        if index >= UDP_TOKEN_BASE {
            if readable {
                self.read_dns_udp(index - UDP_TOKEN_BASE, now);
            }
            return;
        }
        let Some(Some(sock)) = self.socks.get_mut(index) else {
            return;
        };
        match sock.owner {
            Owner::DnsTcp(id) => self.on_dns_tcp(index, id, readable, writable, now),
            Owner::Attempt(id, attempt) if sock.connecting => {
                if !(readable || writable) {
                    return;
                }
                let result = match sock.stream.take_error() {
                    Ok(Some(e)) | Err(e) => Err(e),
                    Ok(None) => match sock.stream.peer_addr() {
                        Ok(_) => sock.stream.local_addr(),
                        Err(e) if e.kind() == io::ErrorKind::NotConnected => return,
                        Err(e) => Err(e),
                    },
                };
                match result {
                    Ok(local) => {
                        sock.connecting = false;
                        sock.writable = true;
                        sock.readable = readable;
                        sock.owner = Owner::Exchange(id);
                        if let Some(slot) = self.slots.get_mut(&id) {
                            let mut ctx = ctx!(self);
                            slot.ex
                                .handle_connected(attempt, SockId(index), local, &mut ctx, now);
                        } else {
                            self.close_sock(index);
                        }
                    }
                    Err(e) => {
                        self.close_sock(index);
                        if let Some(slot) = self.slots.get_mut(&id) {
                            let mut ctx = ctx!(self);
                            slot.ex.handle_connect_failed(attempt, e, &mut ctx, now);
                        }
                    }
                }
                self.dirty.push(id);
            }
            Owner::Attempt(..) => {}
            Owner::Exchange(id) => {
                sock.readable |= readable;
                sock.writable |= writable;
                self.dirty.push(id);
            }
            Owner::Idle(conn) => {
                if readable {
                    self.probe_idle(index, conn, now);
                }
            }
        }
    }

    /// An idle socket became readable: the server closed it or sent bytes
    /// nobody asked for. Either way it cannot carry a request.
    fn probe_idle(&mut self, index: usize, conn: ConnId, now: Instant) {
        let Some(Some(sock)) = self.socks.get_mut(index) else {
            return;
        };
        let mut probe = [0u8; 1];
        match sock.stream.peek(&mut probe) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                sock.readable = false;
                return;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return,
            _ => {}
        }
        if self.pool.remove(conn).is_some() {
            self.close_sock(index);
            let mut ctx = ctx!(self);
            ctx.emit_client(
                now,
                EventKind::ConnClosed {
                    conn,
                    reason: CloseReason::ServerClosed,
                },
            );
        }
    }

    fn close_pool_dropped(&mut self, now: Instant) {
        while let Some((mut conn, reason)) = self.pool.poll_closed() {
            if let Some(tls) = conn.tls.as_mut() {
                let bytes = tls.close_notify();
                if let Some(Some(s)) = self.socks.get_mut(conn.sock.0) {
                    let _ = s.stream.write(&bytes);
                }
            }
            self.close_sock(conn.sock.0);
            let mut ctx = ctx!(self);
            ctx.recycle(&mut conn.recv);
            ctx.emit_client(
                now,
                EventKind::ConnClosed {
                    conn: conn.id,
                    reason,
                },
            );
        }
    }

    /// Runs one exchange until it can make no more progress without new
    /// readiness or time: perform its actions, write what it queued, read
    /// what it can take.
    fn pump(&mut self, id: RequestId, now: Instant) {
        loop {
            let mut progress = false;
            while let Some(action) = self.slots.get_mut(&id).and_then(|s| s.ex.poll_action()) {
                self.perform(id, action, now);
                progress = true;
            }
            if let Some(q) = self.slots.get_mut(&id).and_then(|s| s.ex.take_new_query()) {
                self.queries.insert(q, id);
            }
            progress |= self.drive_resolver(now);
            let Some(slot) = self.slots.get_mut(&id) else {
                return;
            };
            if let Some((sock_id, head, body)) = slot.ex.pending_send() {
                if let Some(Some(sock)) = self.socks.get_mut(sock_id.0) {
                    if sock.writable && !sock.connecting {
                        let written = loop {
                            let r = if body.is_empty() {
                                sock.stream.write(head)
                            } else if head.is_empty() {
                                sock.stream.write(body)
                            } else {
                                sock.stream
                                    .write_vectored(&[IoSlice::new(head), IoSlice::new(body)])
                            };
                            match r {
                                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                                other => break other,
                            }
                        };
                        let mut ctx = ctx!(self);
                        match written {
                            Ok(0) => slot.ex.handle_io_error(
                                io::ErrorKind::WriteZero.into(),
                                true,
                                &mut ctx,
                                now,
                            ),
                            Ok(n) => slot.ex.handle_written(n, &mut ctx, now),
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                                sock.writable = false
                            }
                            Err(e) => slot.ex.handle_io_error(e, true, &mut ctx, now),
                        }
                        progress |= sock.writable;
                    }
                }
            }
            let slot = self.slots.get_mut(&id).expect("checked above");
            let sock_id = slot.ex.sock();
            if let Some(Some(sock)) = sock_id.and_then(|s| self.socks.get_mut(s.0)) {
                if sock.readable && !sock.eof {
                    let mut ctx = ctx!(self);
                    if let Some((_, space)) = slot.ex.recv_space(&mut ctx) {
                        let offered = space.len();
                        let read = loop {
                            match sock.stream.read(space) {
                                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                                other => break other,
                            }
                        };
                        match read {
                            Ok(0) => {
                                sock.readable = false;
                                sock.eof = true;
                                slot.ex.handle_eof(&mut ctx, now);
                            }
                            Ok(n) => {
                                sock.readable = n == offered || sock.hup;
                                slot.ex.handle_read(n, &mut ctx, now);
                            }
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                                sock.readable = false
                            }
                            Err(e) => {
                                sock.readable = false;
                                sock.eof = true;
                                slot.ex.handle_io_error(e, false, &mut ctx, now);
                            }
                        }
                        progress = true;
                    }
                }
            }
            if !progress {
                break;
            }
        }
        if let Some(slot) = self.slots.get_mut(&id) {
            let due = slot.ex.poll_timeout();
            if due != slot.armed {
                slot.armed = due;
                if let Some(t) = due {
                    self.timers.push(t, id);
                    let slots = &self.slots;
                    self.timers.sweep_if_stale(slots.len(), |at, id| {
                        slots.get(&id).is_some_and(|s| s.armed == Some(at))
                    });
                }
            }
        }
    }

    fn perform(&mut self, id: RequestId, action: Action, now: Instant) {
        match action {
            Action::Connect { attempt, addr } => match self.open(addr, Owner::Attempt(id, attempt))
            {
                Ok(_) => {}
                Err(e) => {
                    if let Some(slot) = self.slots.get_mut(&id) {
                        let mut ctx = ctx!(self);
                        slot.ex.handle_connect_failed(attempt, e, &mut ctx, now);
                    }
                }
            },
            Action::CancelAttempt { attempt } => {
                let found = self.socks.iter().position(|s| {
                    s.as_ref()
                        .is_some_and(|s| s.owner == Owner::Attempt(id, attempt))
                });
                if let Some(i) = found {
                    self.close_sock(i);
                }
            }
            Action::Attach { sock } => {
                if let Some(Some(s)) = self.socks.get_mut(sock.0) {
                    s.owner = Owner::Exchange(id);
                }
            }
            Action::Pooled { sock, conn } => {
                let mut probe = false;
                if let Some(Some(s)) = self.socks.get_mut(sock.0) {
                    s.owner = Owner::Idle(conn);
                    probe = s.readable || s.hup;
                }
                if probe {
                    self.probe_idle(sock.0, conn, now);
                }
            }
            Action::Farewell { sock, bytes } => {
                if let Some(Some(s)) = self.socks.get_mut(sock.0) {
                    // One try: a peer that does not read gets no more.
                    let _ = s.stream.write(&bytes);
                }
            }
            Action::Close { sock } => self.close_sock(sock.0),
        }
    }

    /// Carries out what the resolver asked for and hands its events to the
    /// exchanges waiting on them, until it has nothing more to say. True if
    /// anything happened.
    fn drive_resolver(&mut self, now: Instant) -> bool {
        let mut any = false;
        loop {
            let mut progress = false;
            while let Some(t) = self.resolver.poll_transmit() {
                self.dns_transmit(t, now);
                progress = true;
            }
            while let Some(event) = self.resolver.poll_event() {
                progress = true;
                let lookup = event.lookup();
                let Some(&req) = self.queries.get(&lookup) else {
                    continue;
                };
                if matches!(event, ResolverEvent::Done { .. }) {
                    self.queries.remove(&lookup);
                }
                if let Some(slot) = self.slots.get_mut(&req) {
                    let mut ctx = ctx!(self);
                    slot.ex.handle_dns_event(event, &mut ctx, now);
                    self.dirty.push(req);
                }
            }
            if !progress {
                return any;
            }
            any = true;
        }
    }

    fn dns_transmit(&mut self, t: Transmit, now: Instant) {
        match t {
            Transmit::Udp {
                sock,
                server,
                payload,
            } => {
                if let Err(e) = self.open_dns_udp(sock, server, &payload) {
                    self.resolver.handle_socket_error(sock, &e, now);
                }
            }
            Transmit::Tcp {
                sock,
                server,
                payload,
            } => match self.open(server, Owner::DnsTcp(sock)) {
                Ok(index) => {
                    if let Some(Some(s)) = self.socks.get_mut(index) {
                        s.out = payload;
                    }
                    self.dns_socks.insert(sock, index);
                }
                Err(e) => self.resolver.handle_socket_error(sock, &e, now),
            },
            Transmit::Close { sock } => {
                if let Some(index) = self.dns_socks.remove(&sock) {
                    if index >= UDP_TOKEN_BASE {
                        let i = index - UDP_TOKEN_BASE;
                        if let Some(mut u) = self.udp.get_mut(i).and_then(Option::take) {
                            if let Some(poll) = self.poll.as_ref() {
                                let _ = poll.registry().deregister(&mut u.socket);
                            }
                            self.udp_free.push(i);
                        }
                    } else {
                        self.close_sock(index);
                    }
                }
            }
        }
    }

    /// A fresh UDP socket per query: a fresh source port from the kernel
    /// (RFC 5452 §9.2), connected so the kernel also drops datagrams from
    /// any other address or port.
    fn open_dns_udp(
        &mut self,
        id: DnsSockId,
        server: SocketAddr,
        payload: &[u8],
    ) -> io::Result<()> {
        let any: SocketAddr = if server.is_ipv4() {
            (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        // Non-blocking from the `socket` call on (SOCK_NONBLOCK on Linux).
        let mut socket = UdpSocket::bind(any)?;
        socket.connect(server)?;
        socket.send(payload)?;
        let i = match self.udp_free.pop() {
            Some(i) => i,
            None => {
                self.udp.push(None);
                self.udp.len() - 1
            }
        };
        let token = Token(UDP_TOKEN_BASE + i);
        let registered = self.poll_handle().and_then(|p| {
            p.registry()
                .register(&mut socket, token, Interest::READABLE)
        });
        if let Err(e) = registered {
            self.udp_free.push(i);
            return Err(e);
        }
        self.udp[i] = Some(UdpSock { socket, id });
        self.dns_socks.insert(id, UDP_TOKEN_BASE + i);
        Ok(())
    }

    fn read_dns_udp(&mut self, i: usize, now: Instant) {
        if self.dns_buf.is_empty() {
            self.dns_buf = vec![0; 65536];
        }
        while let Some(Some(u)) = self.udp.get(i) {
            let id = u.id;
            match u.socket.recv_from(&mut self.dns_buf) {
                Ok((n, from)) => self
                    .resolver
                    .handle_datagram(id, from, &self.dns_buf[..n], now),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // ICMP port unreachable and the like: this server will
                    // not answer.
                    self.resolver.handle_socket_error(id, &e, now);
                    break;
                }
            }
            // The resolver closes the socket once it has its answer.
            if !self.dns_socks.contains_key(&id) {
                break;
            }
        }
        self.drive_resolver(now);
    }

    fn on_dns_tcp(
        &mut self,
        index: usize,
        id: DnsSockId,
        readable: bool,
        writable: bool,
        now: Instant,
    ) {
        let Some(Some(sock)) = self.socks.get_mut(index) else {
            return;
        };
        let mut failed = None;
        if sock.connecting {
            if !(readable || writable) {
                return;
            }
            match sock.stream.take_error() {
                Ok(None) => match sock.stream.peer_addr() {
                    Ok(_) => sock.connecting = false,
                    Err(e) if e.kind() == io::ErrorKind::NotConnected => return,
                    Err(e) => failed = Some(e),
                },
                Ok(Some(e)) | Err(e) => failed = Some(e),
            }
        }
        while failed.is_none() && !sock.out.is_empty() {
            match sock.stream.write(&sock.out) {
                Ok(n) => {
                    sock.out.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => failed = Some(e),
            }
        }
        if self.dns_buf.is_empty() {
            self.dns_buf = vec![0; 65536];
        }
        while failed.is_none() {
            match sock.stream.read(&mut self.dns_buf) {
                Ok(0) => {
                    failed = Some(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "connection closed before a whole answer",
                    ));
                }
                Ok(n) => {
                    self.resolver.handle_tcp_data(id, &self.dns_buf[..n], now);
                    // The resolver closes the socket once it has its answer.
                    if !self.dns_socks.contains_key(&id) {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => failed = Some(e),
            }
        }
        if let Some(e) = failed {
            self.resolver.handle_socket_error(id, &e, now);
        }
        self.drive_resolver(now);
    }

    fn open(&mut self, addr: SocketAddr, owner: Owner) -> io::Result<usize> {
        // One `socket` call makes it non-blocking (SOCK_NONBLOCK on Linux,
        // no `fcntl`), then `connect`, whose EINPROGRESS mio reports as
        // success; completion is checked when the socket turns writable.
        let mut stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                self.socks.push(None);
                self.socks.len() - 1
            }
        };
        let registered = self.poll_handle().and_then(|p| {
            p.registry().register(
                &mut stream,
                Token(index),
                Interest::READABLE | Interest::WRITABLE,
            )
        });
        if let Err(e) = registered {
            self.free.push(index);
            return Err(e);
        }
        self.socks[index] = Some(Sock {
            stream,
            owner,
            readable: false,
            writable: false,
            connecting: true,
            eof: false,
            hup: false,
            out: Vec::new(),
        });
        Ok(index)
    }

    fn close_sock(&mut self, index: usize) {
        if let Some(slot) = self.socks.get_mut(index) {
            // Dropping the stream closes its descriptor, which also takes
            // it out of the epoll set (nothing else holds the descriptor),
            // so no `deregister` (one `epoll_ctl` fewer per connection).
            if slot.take().is_some() {
                self.free.push(index);
            }
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        let now = Instant::now();
        let conns: Vec<_> = self.pool.drain().collect();
        let mut ids = Vec::with_capacity(conns.len());
        for mut c in conns {
            // TLS connections say goodbye (RFC 8446 §6.1) before closing.
            if let Some(tls) = c.tls.as_mut() {
                let bytes = tls.close_notify();
                if let Some(Some(s)) = self.socks.get_mut(c.sock.0) {
                    let _ = s.stream.write(&bytes);
                }
            }
            ids.push(c.id);
        }
        for conn in ids {
            let mut ctx = ctx!(self);
            ctx.emit_client(
                now,
                EventKind::ConnClosed {
                    conn,
                    reason: CloseReason::ClientDropped,
                },
            );
        }
    }
}

/// A seed for DNS transaction ids: std's per-process random hash keys mixed
/// with the clock. Not a cryptographic generator, but unpredictable from
/// outside, which is what RFC 5452 asks of the id.
fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}

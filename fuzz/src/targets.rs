//! The bodies of the fuzz targets, as plain functions of the input bytes.
//!
//! This one file is compiled twice: by the fuzz crate (`fuzz/src/lib.rs`,
//! used by `fuzz/fuzz_targets/*.rs`) and by the root crate's
//! `tests/fuzz_replay.rs`, which runs every checked-in corpus file through
//! the same functions so the corpora cannot rot. It may therefore use only
//! `std` and `roundtrip`.
//!
//! Each function panics (an assertion) when an invariant breaks; "no panic"
//! is only the start: see the checks in [`Harness`] and [`dns_wire`].
//!
//! # `dns_answer` input format
//!
//! ```text
//! byte 0        configuration: bit 0 two servers, bit 1 rotate, bit 2 no
//!               EDNS0, bit 3 CNAME chain limit 2 (else 8), bit 4 no cache
//!               (else 4 entries), bit 5 search list ["corp.test"]
//! then ops      one op byte: action = op & 7, flags = op >> 3
//!   0 datagram  sel, len (u16 BE), len bytes: a datagram on socket
//!               sel % (sockets ever opened), from (flags & 3) = the query's
//!               server | the other server | the server's port + 1 | the
//!               server; splice mode (flags >> 2) & 3, see [`splice`]
//!   1 tcp       sel, len (u16 BE), len bytes: TCP bytes on that socket;
//!               flags & 1: prefix the 2-byte length of the (spliced)
//!               message; flags & 2: deliver in two reads; splice mode as
//!               for datagrams
//!   2 sleep     n: time passes n × 100 ms, then handle_timeout
//!   3 deadline  time jumps to poll_timeout(), then handle_timeout
//!   4 error     sel: a socket error (flags % 3: refused, EOF, timed out)
//!   5 lookup    start one more lookup of NAMES[flags % NAMES.len()]
//!               (at most 8 lookups in all)
//!   6 cancel    sel: cancel lookup sel % (lookups started)
//!   7 late      n: time passes n × 100 ms without handle_timeout (data
//!               arriving after a deadline the loop has not yet acted on)
//! ```
//!
//! Two lookups start before the first op: `www.example.test` and
//! `WWW.Example.Test.` (coalesced into the first).

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use roundtrip::dns::wire::{self, QType};
use roundtrip::dns::{
    DnsSockId, Hosts, QueryId, QueryOutcome, Resolver, ResolverEvent, Settings, Transmit, Transport,
};

/// The longest payload a transmit may carry: a 65535-byte message and its
/// two-byte TCP length prefix.
pub const MAX_PAYLOAD: usize = 2 + 65535;

/// Names an op can look up (op 5). Indices 0 and 1 coalesce when the
/// search list is off (with it, the relative one asks more names); `intranet`
/// goes through the search list when it is on; the last three never reach
/// the network.
pub const NAMES: [&str; 7] = [
    "www.example.test",
    "WWW.Example.Test.",
    "intranet",
    "other.test",
    "localhost",
    "no.such.invalid",
    "a..b",
];

/// Two documentation addresses (RFC 5737): nothing is ever sent there, the
/// fuzzer only feeds bytes to the sans-IO core.
fn servers() -> [SocketAddr; 2] {
    [
        SocketAddr::from(([192, 0, 2, 53], 53)),
        SocketAddr::from(([198, 51, 100, 53], 5353)),
    ]
}

struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }

    fn u16(&mut self) -> usize {
        let hi = self.byte().unwrap_or(0);
        let lo = self.byte().unwrap_or(0);
        usize::from(u16::from_be_bytes([hi, lo]))
    }

    fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        head
    }
}

/// The question section of a query we built (no compression): from byte 12
/// to the end of QNAME, plus QTYPE and QCLASS.
pub fn question_of(query: &[u8]) -> &[u8] {
    let mut i = 12;
    while i < query.len() && query[i] != 0 {
        i += 1 + usize::from(query[i]);
    }
    &query[12.min(query.len())..(i + 5).min(query.len())]
}

/// Makes fuzz bytes look like an answer to `query`, so the fuzzer gets past
/// the id and question checks:
///
/// - mode 0: `input` as it is;
/// - mode 1: the query's id copied over the first two bytes;
/// - mode 2: the first 12 bytes of `input` (zero-padded) as the header, with
///   the query's id, QR set and QDCOUNT 1, then the query's question, then
///   the rest of `input` (answer, authority and additional sections);
/// - mode 3: as mode 2, but the header is left as the input has it apart
///   from the id.
pub fn splice(mode: u8, query: &[u8], input: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    match mode & 3 {
        0 => {}
        1 => {
            for (o, q) in out.iter_mut().zip(&query[..2]) {
                *o = *q;
            }
        }
        m => {
            let mut header = [0u8; 12];
            let n = input.len().min(12);
            header[..n].copy_from_slice(&input[..n]);
            header[..2].copy_from_slice(&query[..2]);
            if m == 2 {
                header[2] |= 0x80;
                header[4..6].copy_from_slice(&1u16.to_be_bytes());
            }
            out = header.to_vec();
            out.extend_from_slice(question_of(query));
            out.extend_from_slice(&input[n..]);
        }
    }
    out
}

#[derive(Debug)]
struct Sock {
    server: SocketAddr,
    /// The query as sent (without the TCP length prefix).
    query: Vec<u8>,
    closed: bool,
}

#[derive(Debug, Default)]
struct Lookup {
    key: String,
    /// What lookups must share to be coalesced: the names they would ask.
    join: String,
    done: bool,
    cancelled: bool,
    /// The lookup was started while one of the same name was in flight and
    /// still is a joiner (not the heir of a cancelled one).
    joined: bool,
    /// It started the lookup (or inherited it): it alone sees queries.
    primary: bool,
    /// It joined a lookup in flight when it started: its `Done` says
    /// `coalesced`, even if it later inherited the lookup.
    coalesced: bool,
    /// QueryStart minus QueryDone.
    queries_open: usize,
    /// Addresses announced before Done.
    announced: HashSet<IpAddr>,
}

/// The resolver plus a model of what it may say next, checked after every
/// step.
struct Harness {
    r: Resolver,
    now: Instant,
    socks: HashMap<DnsSockId, Sock>,
    order: Vec<DnsSockId>,
    lookups: HashMap<QueryId, Lookup>,
    started: Vec<QueryId>,
    /// Lookups in flight by join key: the primary first, then its joiners.
    inflight: HashMap<String, Vec<QueryId>>,
    /// The resolver's search list is on (`corp.test`, ndots 1).
    searching: bool,
}

fn key(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// Lookups join only when they would ask the same names: with a search
/// list, a relative name (whose searched form is a valid name) asks more
/// than its absolute spelling does.
fn join_key(name: &str, searching: bool) -> String {
    let k = key(name);
    let searched = format!("{k}.corp.test");
    if searching && !name.ends_with('.') && wire::build_query(0, &searched, QType::A, None).is_ok()
    {
        format!("{k} +search")
    } else {
        k
    }
}

impl Harness {
    fn start(&mut self, name: &str) {
        let k = key(name);
        let j = join_key(name, self.searching);
        let id = self.r.start_query(name, self.now);
        let joined = self.inflight.contains_key(&j)
            && k != "localhost"
            && !k.ends_with(".invalid")
            && wire::build_query(0, &k, QType::A, None).is_ok();
        assert!(!self.lookups.contains_key(&id), "{id:?} handed out twice");
        self.lookups.insert(
            id,
            Lookup {
                key: k,
                join: j.clone(),
                joined,
                primary: !joined,
                coalesced: joined,
                ..Lookup::default()
            },
        );
        self.started.push(id);
        if joined {
            self.inflight.get_mut(&j).expect("checked").push(id);
        } else {
            // In flight until proven otherwise: a hosts, cache or invalid
            // name answer says Done in this same pump.
            self.inflight.insert(j, vec![id]);
        }
        self.pump();
    }

    fn cancel(&mut self, id: QueryId) {
        self.r.cancel(id);
        let l = self.lookups.get_mut(&id).expect("started");
        if l.done || l.cancelled {
            self.pump();
            return;
        }
        l.cancelled = true;
        let k = l.join.clone();
        let queue = self.inflight.get_mut(&k).expect("in flight");
        let pos = queue.iter().position(|&q| q == id).expect("queued");
        queue.remove(pos);
        if pos == 0 {
            if queue.is_empty() {
                self.inflight.remove(&k);
            } else {
                // The first joiner inherits the lookup, its open queries and
                // what was announced.
                let heir = queue[0];
                let old = self.lookups.get_mut(&id).expect("started");
                let open = std::mem::take(&mut old.queries_open);
                let announced = std::mem::take(&mut old.announced);
                let h = self.lookups.get_mut(&heir).expect("started");
                h.queries_open += open;
                h.announced.extend(announced);
                h.joined = false;
                h.primary = true;
            }
        }
        self.pump();
    }

    /// Drains transmits and events, checking each against the model.
    fn pump(&mut self) {
        let mut starts = [0usize; 2];
        let mut transmits = 0;
        while let Some(t) = self.r.poll_transmit() {
            transmits += 1;
            assert!(transmits <= 64, "unbounded transmits from one step");
            match t {
                Transmit::Udp {
                    sock,
                    server,
                    payload,
                } => {
                    assert!(
                        payload.len() <= MAX_PAYLOAD,
                        "UDP payload {}",
                        payload.len()
                    );
                    assert!(payload.len() >= 12 + 5, "UDP query too short");
                    starts[0] += 1;
                    self.open(sock, server, payload);
                }
                Transmit::Tcp {
                    sock,
                    server,
                    payload,
                } => {
                    assert!(
                        payload.len() <= MAX_PAYLOAD,
                        "TCP payload {}",
                        payload.len()
                    );
                    assert!(payload.len() >= 2 + 12 + 5, "TCP query too short");
                    let framed = usize::from(u16::from_be_bytes([payload[0], payload[1]]));
                    assert_eq!(framed, payload.len() - 2, "TCP length prefix");
                    starts[1] += 1;
                    self.open(sock, server, payload[2..].to_vec());
                }
                Transmit::Close { sock } => {
                    let s = self
                        .socks
                        .get_mut(&sock)
                        .expect("Close of an unknown socket");
                    assert!(!s.closed, "{sock:?} closed twice");
                    s.closed = true;
                }
            }
        }
        let mut events = 0;
        while let Some(e) = self.r.poll_event() {
            events += 1;
            assert!(events <= 256, "unbounded events from one step");
            self.event(e, &mut starts);
        }
        assert_eq!(starts, [0, 0], "transmits and QueryStart events disagree");
        self.check_bounded();
    }

    fn open(&mut self, sock: DnsSockId, server: SocketAddr, query: Vec<u8>) {
        assert!(servers().contains(&server), "query to {server}");
        let old = self.socks.insert(
            sock,
            Sock {
                server,
                query,
                closed: false,
            },
        );
        assert!(old.is_none(), "{sock:?} reused");
        self.order.push(sock);
    }

    fn event(&mut self, e: ResolverEvent, starts: &mut [usize; 2]) {
        let id = e.lookup();
        let l = self
            .lookups
            .get_mut(&id)
            .unwrap_or_else(|| panic!("event for unknown {id:?}: {e:?}"));
        assert!(!l.done, "event after Done: {e:?}");
        assert!(!l.cancelled, "event after cancel: {e:?}");
        match e {
            ResolverEvent::QueryStart { transport, .. } => {
                assert!(l.primary, "QueryStart for a joiner: {id:?}");
                let t = usize::from(transport == Transport::Tcp);
                assert!(starts[t] > 0, "QueryStart without a transmit");
                starts[t] -= 1;
                l.queries_open += 1;
            }
            ResolverEvent::QueryDone { outcome, .. } => {
                assert!(l.primary, "QueryDone for a joiner: {id:?}");
                assert!(l.queries_open > 0, "QueryDone without QueryStart");
                l.queries_open -= 1;
                if let QueryOutcome::Error(msg) = &outcome {
                    assert!(!msg.is_empty());
                }
            }
            ResolverEvent::Addresses { qtype, addrs, .. } => {
                for a in &addrs {
                    assert_eq!(a.is_ipv6(), qtype == QType::Aaaa, "{a} for {qtype:?}");
                }
                l.announced.extend(addrs);
            }
            ResolverEvent::Done {
                result, coalesced, ..
            } => {
                l.done = true;
                assert_eq!(coalesced, l.coalesced, "coalesced flag of {id:?}");
                assert_eq!(l.queries_open, 0, "Done with queries open");
                if let Ok(addrs) = &result {
                    assert!(!addrs.is_empty(), "Ok(empty)");
                    let first_v4 = addrs.iter().position(IpAddr::is_ipv4);
                    if let Some(i) = first_v4 {
                        assert!(addrs[i..].iter().all(IpAddr::is_ipv4), "AAAA then A");
                    }
                    let from_dns = l.key != "localhost";
                    if from_dns && !l.joined {
                        for a in addrs {
                            assert!(l.announced.contains(a), "{a} never announced");
                        }
                    }
                }
                let k = l.join.clone();
                if let Some(queue) = self.inflight.get_mut(&k) {
                    if let Some(pos) = queue.iter().position(|&q| q == id) {
                        // The primary finishes first, then its joiners in
                        // the order they joined.
                        assert_eq!(pos, 0, "{id:?} done before the lookup it joined");
                        queue.remove(0);
                        if queue.is_empty() {
                            self.inflight.remove(&k);
                        }
                    }
                }
            }
        }
    }

    fn check_bounded(&self) {
        let pending = self.inflight.values().any(|q| !q.is_empty());
        assert_eq!(
            self.r.poll_timeout().is_some(),
            pending,
            "poll_timeout vs lookups in flight: {:?}",
            self.inflight
        );
        let open = self.socks.values().filter(|s| !s.closed).count();
        assert!(
            open <= 2 * self.inflight.len(),
            "{open} sockets open for {} lookups",
            self.inflight.len()
        );
        for (k, queue) in &self.inflight {
            // Joiners wait for the primary; once it is done, all are.
            assert!(!queue.is_empty(), "{k}: empty queue");
        }
    }

    /// Runs the clock until nothing is left, then checks that everything
    /// ended: every lookup started and not cancelled got its Done, no
    /// deadline is left and every socket was closed.
    fn finish(&mut self) {
        for _ in 0..1000 {
            let Some(t) = self.r.poll_timeout() else {
                break;
            };
            self.now = self.now.max(t);
            self.r.handle_timeout(self.now);
            self.pump();
        }
        assert!(
            self.r.poll_timeout().is_none(),
            "a deadline that never ends"
        );
        for id in &self.started {
            let l = &self.lookups[id];
            assert!(l.done || l.cancelled, "{id:?} ({}) never finished", l.key);
        }
        let open: Vec<_> = self.socks.iter().filter(|(_, s)| !s.closed).collect();
        assert!(open.is_empty(), "sockets left open: {open:?}");
    }

    fn sock(&self, sel: u8) -> Option<DnsSockId> {
        if self.order.is_empty() {
            return None;
        }
        Some(self.order[usize::from(sel) % self.order.len()])
    }
}

/// Bytes from the network into the resolver state machine: datagrams and
/// TCP data (some spliced to pass the id and question checks), socket
/// errors, timeouts, more lookups and cancellations, then time runs out.
/// Panics if an invariant breaks (see [`Harness`]).
pub fn dns_answer(data: &[u8]) {
    let mut input = Input(data);
    let cfg = input.byte().unwrap_or(0);
    let [s1, s2] = servers();
    let settings = Settings {
        nameservers: if cfg & 1 != 0 { vec![s1, s2] } else { vec![s1] },
        search: if cfg & 32 != 0 {
            vec!["corp.test".to_owned()]
        } else {
            Vec::new()
        },
        ndots: 1,
        timeout: Duration::from_secs(5),
        attempts: 2,
        rotate: cfg & 2 != 0,
        edns_payload: if cfg & 4 != 0 { None } else { Some(1232) },
        max_cname_chain: if cfg & 8 != 0 { 2 } else { 8 },
        cache_size: if cfg & 16 != 0 { 0 } else { 4 },
        cache_max_ttl: Duration::from_secs(3600),
        negative_max_ttl: Duration::from_secs(300),
    };
    let mut h = Harness {
        r: Resolver::new(settings, Hosts::default(), 0x5eed),
        now: Instant::now(),
        socks: HashMap::new(),
        order: Vec::new(),
        lookups: HashMap::new(),
        started: Vec::new(),
        inflight: HashMap::new(),
        searching: cfg & 32 != 0,
    };
    h.start(NAMES[0]);
    h.start(NAMES[1]);

    while let Some(op) = input.byte() {
        let flags = op >> 3;
        match op & 7 {
            0 | 1 => {
                let sel = input.byte().unwrap_or(0);
                let len = input.u16();
                let bytes = input.take(len);
                let Some(sock) = h.sock(sel) else { continue };
                let s = &h.socks[&sock];
                let msg = splice(flags >> 2, &s.query, bytes);
                if op & 7 == 0 {
                    let from = match flags & 3 {
                        0 | 3 => s.server,
                        1 => servers().into_iter().find(|a| *a != s.server).expect("two"),
                        _ => SocketAddr::new(s.server.ip(), s.server.port().wrapping_add(1)),
                    };
                    h.r.handle_datagram(sock, from, &msg, h.now);
                } else {
                    let mut stream = Vec::new();
                    if flags & 1 != 0 {
                        stream.extend_from_slice(&(msg.len() as u16).to_be_bytes());
                    }
                    stream.extend_from_slice(&msg);
                    if flags & 2 != 0 {
                        let (a, b) = stream.split_at(stream.len() / 2);
                        h.r.handle_tcp_data(sock, a, h.now);
                        h.pump();
                        h.r.handle_tcp_data(sock, b, h.now);
                    } else {
                        h.r.handle_tcp_data(sock, &stream, h.now);
                    }
                }
            }
            2 => {
                let n = input.byte().unwrap_or(0);
                h.now += Duration::from_millis(100) * u32::from(n);
                h.r.handle_timeout(h.now);
            }
            3 => {
                if let Some(t) = h.r.poll_timeout() {
                    h.now = h.now.max(t);
                }
                h.r.handle_timeout(h.now);
            }
            4 => {
                let sel = input.byte().unwrap_or(0);
                let Some(sock) = h.sock(sel) else { continue };
                let kind = match flags % 3 {
                    0 => std::io::ErrorKind::ConnectionRefused,
                    1 => std::io::ErrorKind::UnexpectedEof,
                    _ => std::io::ErrorKind::TimedOut,
                };
                h.r.handle_socket_error(sock, &std::io::Error::from(kind), h.now);
            }
            5 => {
                if h.started.len() < 8 {
                    h.start(NAMES[usize::from(flags) % NAMES.len()]);
                }
            }
            6 => {
                let sel = input.byte().unwrap_or(0);
                let id = h.started[usize::from(sel) % h.started.len()];
                h.cancel(id);
            }
            _ => {
                let n = input.byte().unwrap_or(0);
                h.now += Duration::from_millis(100) * u32::from(n);
            }
        }
        h.pump();
    }
    h.finish();
}

/// `wire::parse_answer` (and `wire::build_query`) on arbitrary bytes.
///
/// Byte 0: bit 0 AAAA (else A); bit 1 take the id from the next two bytes
/// (so the id check passes); bit 2 splice the question of our query after
/// the first 12 bytes (as [`splice`] mode 3); bit 3 instead build a query
/// for the rest as a name; bits 4–5 pick the queried name. The rest is the
/// message.
pub fn dns_wire(data: &[u8]) {
    let Some((&m, rest)) = data.split_first() else {
        return;
    };
    let qtype = if m & 1 != 0 { QType::Aaaa } else { QType::A };
    let name = ["www.example.test", "a.test", "x", "WWW.EXAMPLE.TEST."][usize::from(m >> 4) & 3];

    if m & 8 != 0 {
        let Ok(text) = std::str::from_utf8(rest) else {
            return;
        };
        if let Ok(q) = wire::build_query(0x1234, text, qtype, Some(1232)) {
            assert!(q.len() <= 512, "a query of {} bytes", q.len());
            assert_eq!(q[..2], [0x12, 0x34]);
            assert_eq!(q[2] & 0x80, 0, "a query with QR set");
            assert!(question_of(&q).len() >= 5);
            assert_eq!(
                wire::parse_answer(&q, 0x1234, text, qtype, 8),
                Err(wire::Rejected::NotAResponse)
            );
        }
        return;
    }

    let id = if m & 2 != 0 && rest.len() >= 2 {
        u16::from_be_bytes([rest[0], rest[1]])
    } else {
        0xbeef
    };
    let msg = if m & 4 != 0 {
        let query =
            wire::build_query(id, name.trim_end_matches('.'), qtype, None).expect("a valid name");
        splice(3, &query, rest)
    } else {
        rest.to_vec()
    };

    let got = wire::parse_answer(&msg, id, name, qtype, 8);
    assert_eq!(
        got,
        wire::parse_answer(&msg, id, name, qtype, 8),
        "not deterministic"
    );
    let Ok(a) = got else { return };
    assert!(msg.len() >= 12);
    assert_eq!(
        u16::from_be_bytes([msg[0], msg[1]]),
        id,
        "accepted another id"
    );
    assert_ne!(msg[2] & 0x80, 0, "accepted a query");
    assert_eq!(a.truncated, msg[2] & 0x02 != 0, "TC bit");
    // Each record takes at least 11 bytes (root name, type, class, TTL,
    // RDLENGTH), so the count cannot exceed what the message holds.
    assert!(
        a.answer_count <= msg.len() / 11,
        "{} answers",
        a.answer_count
    );
    assert!(a.addrs.len() <= a.answer_count);
    if a.cname_error {
        assert!(a.addrs.is_empty(), "addresses from a broken chain");
    }
    let unique: HashSet<_> = a.addrs.iter().collect();
    assert_eq!(unique.len(), a.addrs.len(), "duplicate addresses");
    for addr in &a.addrs {
        assert_eq!(addr.is_ipv6(), qtype == QType::Aaaa, "{addr} for {qtype:?}");
    }
    // Names compare case-insensitively, and a trailing dot changes nothing.
    let other = if name.ends_with('.') {
        name.trim_end_matches('.').to_ascii_lowercase()
    } else {
        format!("{}.", name.to_ascii_uppercase())
    };
    assert_eq!(
        Ok(&a),
        wire::parse_answer(&msg, id, &other, qtype, 8).as_ref(),
        "{name} and {other} read differently"
    );
}

//! The stub resolver as a sans-IO state machine (the shape of smoltcp's DNS
//! socket): names and the current time go in, datagrams to send, deadlines
//! and results come out. The runtime owns the UDP and TCP sockets.
//!
//! For each name: the hosts file first; then the search list applied as
//! glibc does with `ndots` (resolv.conf(5)); for each candidate name, AAAA
//! and A are asked concurrently over UDP, each from a fresh socket (so a
//! fresh source port) with a random transaction id (RFC 5452 §9). An answer
//! counts only if it comes from the server's address and port, carries the
//! id and echoes the question; anything else is dropped and counted. A
//! truncated answer is asked again over TCP with two-byte length framing
//! (RFC 1035 §4.2.2, RFC 7766 §5). Each try waits `timeout`, then the next
//! server; SERVFAIL, REFUSED and the like move on at once, except a FORMERR
//! to a query with an EDNS0 OPT record, which asks the same server again
//! without one (RFC 6891 §7; that server gets no OPT record for the rest of
//! the lookup); `attempts` rounds over all servers (`rotate` spreads the
//! starting server). NXDOMAIN and NODATA are answers, not failures, and are
//! cached per RFC 2308. A lookup that would ask the same names as one
//! already in flight (same name, same absoluteness under the search list)
//! shares it (Go's `coalesced`).

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use super::cache::{Cache, Cached};
use super::wire::{self, QType, Rcode, Rejected};
use super::{Hosts, QueryId};
use crate::error::{DnsAttempt, Error, ErrorKind, Phase};

/// How the resolver behaves: resolv.conf merged with `Config` overrides.
///
/// ```
/// use std::time::Duration;
///
/// let mut config = roundtrip::Config::default();
/// config.resolv_conf = None; // resolv.conf's defaults, not the system's file
/// config.dns_servers = Some(vec!["192.0.2.53:53".parse().unwrap()]);
/// config.dns_timeout = Some(Duration::from_secs(1));
/// let settings = config.dns_settings();
/// assert_eq!(settings.nameservers, config.dns_servers.unwrap());
/// assert_eq!((settings.ndots, settings.attempts), (1, 2));
/// assert_eq!(settings.timeout, Duration::from_secs(1));
/// ```
#[derive(Debug, Clone)]
pub struct Settings {
    /// Servers, in order.
    pub nameservers: Vec<SocketAddr>,
    /// Search domains.
    pub search: Vec<String>,
    /// Dots a name needs to be tried as-is before the search list.
    pub ndots: u8,
    /// Wait per try.
    pub timeout: Duration,
    /// Rounds over all servers.
    pub attempts: u32,
    /// Start each lookup at the next server.
    pub rotate: bool,
    /// EDNS0 UDP payload size to advertise; `None` sends no OPT record.
    pub edns_payload: Option<u16>,
    /// Longest CNAME chain followed inside one answer.
    pub max_cname_chain: usize,
    /// Cache entries.
    pub cache_size: usize,
    /// Cap on positive TTLs.
    pub cache_max_ttl: Duration,
    /// Cap on negative TTLs.
    pub negative_max_ttl: Duration,
}

/// The runtime's handle for a DNS socket.
///
/// See [`Transmit`]: the resolver names sockets, the runtime opens them.
///
/// ```
/// use roundtrip::dns::resolver::DnsSockId;
///
/// // Ids are handed out in increasing order, so they sort by age.
/// assert!(DnsSockId(1) < DnsSockId(2));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DnsSockId(pub u64);

/// UDP or TCP.
///
/// ```
/// use roundtrip::dns::Transport;
///
/// assert_eq!(Transport::Tcp.as_str(), "tcp");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// One datagram each way.
    Udp,
    /// Length-prefixed messages on a connection, after a truncated answer.
    Tcp,
}

impl Transport {
    /// `"udp"` or `"tcp"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        }
    }
}

/// What the runtime must do.
///
/// How a runtime serves the resolver:
///
/// ```
/// use roundtrip::dns::{Hosts, Resolver, Transmit};
///
/// let mut config = roundtrip::Config::default();
/// config.resolv_conf = None;
/// config.dns_servers = Some(vec!["192.0.2.53:53".parse().unwrap()]);
/// let mut resolver = Resolver::new(config.dns_settings(), Hosts::default(), 1);
/// resolver.start_query("example.com", std::time::Instant::now());
/// while let Some(transmit) = resolver.poll_transmit() {
///     match transmit {
///         Transmit::Udp { sock, server, payload } => {
///             println!("{sock:?}: new UDP socket, {} bytes to {server}", payload.len())
///         }
///         Transmit::Tcp { sock, server, payload } => {
///             println!("{sock:?}: connect to {server}, write {} bytes", payload.len())
///         }
///         Transmit::Close { sock } => println!("{sock:?}: close"),
///     }
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transmit {
    /// Open a UDP socket connected to `server` and send `payload`.
    Udp {
        /// The socket to create.
        sock: DnsSockId,
        /// Where to.
        server: SocketAddr,
        /// One DNS message.
        payload: Vec<u8>,
    },
    /// Open a TCP connection to `server` and write `payload`.
    Tcp {
        /// The socket to create.
        sock: DnsSockId,
        /// Where to.
        server: SocketAddr,
        /// A length-prefixed DNS message.
        payload: Vec<u8>,
    },
    /// Close a socket.
    Close {
        /// The socket.
        sock: DnsSockId,
    },
}

/// How one query (one message to one server) ended.
///
/// ```
/// use roundtrip::dns::{QueryOutcome, Rcode};
///
/// fn describe(outcome: &QueryOutcome) -> String {
///     match outcome {
///         QueryOutcome::Answer { rcode, answers, truncated: true } => {
///             format!("{} with {answers} records, truncated: ask again over TCP", rcode.as_str())
///         }
///         QueryOutcome::Answer { rcode, answers, .. } => format!("{} with {answers} records", rcode.as_str()),
///         QueryOutcome::Timeout => "no answer in time: next server".to_owned(),
///         QueryOutcome::Error(why) => format!("socket error: {why}"),
///     }
/// }
/// let nx = QueryOutcome::Answer { rcode: Rcode::NameError, answers: 0, truncated: false };
/// assert_eq!(describe(&nx), "NXDOMAIN with 0 records");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryOutcome {
    /// An answer with this response code.
    Answer {
        /// Its code.
        rcode: Rcode,
        /// Records in the answer section.
        answers: usize,
        /// The TC bit.
        truncated: bool,
    },
    /// No answer within the timeout.
    Timeout,
    /// The socket failed (refused, unreachable, closed early).
    Error(String),
}

/// What the resolver reports.
///
/// ```
/// use std::net::IpAddr;
/// use roundtrip::dns::{Hosts, Resolver, ResolverEvent};
///
/// let mut config = roundtrip::Config::default();
/// config.resolv_conf = None;
/// let hosts = Hosts::parse("192.0.2.7 printer.lan");
/// let mut resolver = Resolver::new(config.dns_settings(), hosts, 1);
/// resolver.start_query("printer.lan", std::time::Instant::now());
/// while let Some(event) = resolver.poll_event() {
///     match event {
///         ResolverEvent::QueryStart { server, qtype, .. } => println!("asking {server} for {qtype:?}"),
///         ResolverEvent::Done { result, coalesced, .. } => {
///             // From the hosts file: no query was sent.
///             assert_eq!(result?, ["192.0.2.7".parse::<IpAddr>()?]);
///             assert!(!coalesced);
///         }
///         _ => {}
///     }
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub enum ResolverEvent {
    /// A query was sent.
    QueryStart {
        /// The lookup it serves.
        lookup: QueryId,
        /// Where it went.
        server: SocketAddr,
        /// A or AAAA.
        qtype: QType,
        /// UDP or TCP.
        transport: Transport,
    },
    /// A query ended.
    QueryDone {
        /// The lookup it served.
        lookup: QueryId,
        /// The server asked.
        server: SocketAddr,
        /// A or AAAA.
        qtype: QType,
        /// UDP or TCP.
        transport: Transport,
        /// How it ended.
        outcome: QueryOutcome,
    },
    /// One address family of a lookup is known (sent as soon as it is, so
    /// connecting can start before the other family answers).
    Addresses {
        /// The lookup.
        lookup: QueryId,
        /// A or AAAA.
        qtype: QType,
        /// What it found (may be empty).
        addrs: Vec<IpAddr>,
    },
    /// A lookup finished.
    Done {
        /// The lookup.
        lookup: QueryId,
        /// All addresses (AAAA first, then A), or why there are none.
        result: Result<Vec<IpAddr>, Error>,
        /// True when this lookup joined one already in flight.
        coalesced: bool,
    },
}

impl ResolverEvent {
    /// The lookup the event belongs to.
    pub fn lookup(&self) -> QueryId {
        match self {
            ResolverEvent::QueryStart { lookup, .. }
            | ResolverEvent::QueryDone { lookup, .. }
            | ResolverEvent::Addresses { lookup, .. }
            | ResolverEvent::Done { lookup, .. } => *lookup,
        }
    }
}

#[derive(Debug)]
enum Family {
    /// Waiting for `query`.
    Asking(Box<Wire>),
    Addrs(Vec<IpAddr>),
    NoSuchName,
    NoData,
    Failed,
}

impl Family {
    fn pending(&self) -> bool {
        matches!(self, Family::Asking(_))
    }
}

/// One message in flight.
#[derive(Debug)]
struct Wire {
    id: u16,
    qtype: QType,
    sock: DnsSockId,
    /// Index into the try sequence (server order × attempts).
    try_no: usize,
    server: SocketAddr,
    transport: Transport,
    /// The query carried an OPT record.
    edns: bool,
    deadline: Instant,
    tcp_buf: Vec<u8>,
}

#[derive(Debug)]
struct Lookup {
    id: QueryId,
    /// Lookups that joined this one.
    joined: Vec<QueryId>,
    /// `id` joined this lookup and inherited it when its starter was
    /// cancelled: its answer is still a shared one (Go's `coalesced`).
    inherited: bool,
    name: String,
    candidates: Vec<String>,
    candidate: usize,
    start_server: usize,
    fams: [Family; 2],
    saw_nxdomain: bool,
    saw_nodata: bool,
    /// Some family ran out of servers without an answer.
    saw_failed: bool,
    failures: Vec<DnsAttempt>,
    /// Servers that answered FORMERR to a query with an OPT record: they
    /// are asked without EDNS for the rest of this lookup (RFC 6891 §7).
    /// Not kept beyond it, so a server upgraded or replaced behind the same
    /// address is given EDNS again on the next lookup.
    no_edns: Vec<SocketAddr>,
}

/// The resolver.
///
/// A whole lookup without a socket: the resolver says what to send, the
/// caller plays the network (here, a DNS server answering by hand).
///
/// ```
/// use std::net::IpAddr;
/// use std::time::Instant;
/// use roundtrip::dns::{Hosts, Resolver, ResolverEvent, Transmit};
///
/// let mut config = roundtrip::Config::default();
/// config.resolv_conf = None; // not the system's
/// config.dns_servers = Some(vec!["192.0.2.53:53".parse()?]);
/// config.dns_udp_payload = None; // no EDNS0 OPT record: a simpler reply below
/// let mut resolver = Resolver::new(config.dns_settings(), Hosts::default(), 7);
/// let now = Instant::now();
///
/// let lookup = resolver.start_query("example.com", now);
/// // Two datagrams to send, asked together: AAAA and A.
/// let queries: Vec<Transmit> = std::iter::from_fn(|| resolver.poll_transmit()).collect();
/// assert_eq!(queries.len(), 2);
/// for query in queries {
///     let Transmit::Udp { sock, server, payload } = query else { unreachable!() };
///     // The server's reply: the query with QR set, and for A (QTYPE 1,
///     // just before QCLASS) one record; AAAA gets none (NODATA).
///     let mut reply = payload.clone();
///     reply[2] |= 0x80;
///     if payload[payload.len() - 3] == 1 {
///         reply[7] = 1; // ANCOUNT
///         // Name (a pointer to the question's), A, IN, TTL 60, 4 bytes.
///         reply.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 80]);
///     }
///     resolver.handle_datagram(sock, server, &reply, now);
/// }
/// let addrs = std::iter::from_fn(|| resolver.poll_event())
///     .find_map(|event| match event {
///         ResolverEvent::Done { lookup: l, result, .. } if l == lookup => Some(result),
///         _ => None,
///     })
///     .expect("the lookup is done")?;
/// assert_eq!(addrs, ["192.0.2.80".parse::<IpAddr>()?]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Resolver {
    settings: Settings,
    hosts: Hosts,
    cache: Cache,
    lookups: Vec<Lookup>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<ResolverEvent>,
    next_lookup: u64,
    next_sock: u64,
    rotation: usize,
    rng: u64,
    dropped: u64,
}

const FAMILIES: [QType; 2] = [QType::Aaaa, QType::A];

fn dns_error(kind: ErrorKind) -> Error {
    Error::new(Phase::Dns, kind)
}

impl Resolver {
    /// A resolver; `seed` feeds the transaction-id generator (the runtime
    /// passes a random one; tests pass a fixed one).
    pub fn new(settings: Settings, hosts: Hosts, seed: u64) -> Resolver {
        Resolver {
            cache: Cache::new(
                settings.cache_size,
                settings.cache_max_ttl,
                settings.negative_max_ttl,
            ),
            settings,
            hosts,
            lookups: Vec::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            next_lookup: 0,
            next_sock: 0,
            rotation: 0,
            rng: seed,
            dropped: 0,
        }
    }

    /// Datagrams and messages dropped as not answering any query.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    fn random_u16(&mut self) -> u16 {
        // splitmix64: a fast, well-mixed generator; the seed is the secret.
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) as u16
    }

    /// Starts looking up `name`; answers come out of
    /// [`poll_event`](Self::poll_event), datagrams to send out of
    /// [`poll_transmit`](Self::poll_transmit).
    pub fn start_query(&mut self, name: &str, now: Instant) -> QueryId {
        self.next_lookup += 1;
        let id = QueryId(self.next_lookup);
        let absolute = name.ends_with('.');
        let name = name.trim_end_matches('.').to_ascii_lowercase();

        let mut addrs = Vec::new();
        self.hosts.lookup(&name, &mut addrs);
        if addrs.is_empty() && (name == "localhost" || name.ends_with(".localhost")) {
            // RFC 6761 §6.3: never sent to DNS.
            addrs = vec![
                IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
                IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
            ];
        }
        if !addrs.is_empty() {
            self.events.push_back(ResolverEvent::Done {
                lookup: id,
                result: Ok(addrs),
                coalesced: false,
            });
            return id;
        }
        if name == "invalid" || name.ends_with(".invalid") {
            // RFC 6761 §6.4: such names never exist; never sent to DNS.
            let err = dns_error(ErrorKind::HostNotFound { host: name });
            self.events.push_back(ResolverEvent::Done {
                lookup: id,
                result: Err(err),
                coalesced: false,
            });
            return id;
        }
        let candidates = self.candidates(&name, absolute);
        // Joined on the names to be asked, not on the name given: `foo.`
        // and `foo` with a search list ask different names and may get
        // different answers, while two spellings that ask the same names
        // get the same one.
        if let Some(l) = self
            .lookups
            .iter_mut()
            .find(|l| !candidates.is_empty() && l.candidates == candidates)
        {
            l.joined.push(id);
            return id;
        }
        if candidates.is_empty() {
            let err = dns_error(ErrorKind::InvalidHostName { host: name });
            self.events.push_back(ResolverEvent::Done {
                lookup: id,
                result: Err(err),
                coalesced: false,
            });
            return id;
        }
        let start_server = if self.settings.rotate {
            self.rotation = self.rotation.wrapping_add(1);
            self.rotation
        } else {
            0
        };
        self.lookups.push(Lookup {
            id,
            joined: Vec::new(),
            inherited: false,
            name,
            candidates,
            candidate: 0,
            start_server,
            fams: [Family::Failed, Family::Failed],
            saw_nxdomain: false,
            saw_nodata: false,
            saw_failed: false,
            failures: Vec::new(),
            no_edns: Vec::new(),
        });
        let i = self.lookups.len() - 1;
        self.begin_candidate(i, now);
        id
    }

    /// The names to try, in order (resolv.conf(5), `search` and `ndots`).
    fn candidates(&self, name: &str, absolute: bool) -> Vec<String> {
        let valid = |n: &str| wire::build_query(0, n, QType::A, None).is_ok();
        if !valid(name) {
            return Vec::new();
        }
        if absolute {
            return vec![name.to_owned()];
        }
        let searched = self
            .settings
            .search
            .iter()
            .map(|d| format!("{name}.{d}"))
            .filter(|n| valid(n));
        let dots = name.bytes().filter(|&b| b == b'.').count();
        if dots >= usize::from(self.settings.ndots) {
            std::iter::once(name.to_owned()).chain(searched).collect()
        } else {
            searched.chain(std::iter::once(name.to_owned())).collect()
        }
    }

    fn begin_candidate(&mut self, i: usize, now: Instant) {
        for (f, qtype) in FAMILIES.into_iter().enumerate() {
            let name = self.lookups[i].candidates[self.lookups[i].candidate].clone();
            let cached = self.cache.get(&name, qtype, now).cloned();
            self.lookups[i].fams[f] = match cached {
                Some(Cached::Addrs(a)) => {
                    self.announce(i, qtype, a.clone());
                    Family::Addrs(a)
                }
                Some(Cached::NoSuchName) => Family::NoSuchName,
                Some(Cached::NoData) => {
                    self.announce(i, qtype, Vec::new());
                    Family::NoData
                }
                None => {
                    let start = self.lookups[i].start_server;
                    match self.send(i, &name, qtype, start, 0, Transport::Udp, now) {
                        Some(w) => Family::Asking(w),
                        None => Family::Failed,
                    }
                }
            };
        }
        self.settle(i, now);
    }

    /// Sends try number `try_no` of `qtype` for `name`.
    #[allow(clippy::too_many_arguments)]
    fn send(
        &mut self,
        i: usize,
        name: &str,
        qtype: QType,
        start_server: usize,
        try_no: usize,
        transport: Transport,
        now: Instant,
    ) -> Option<Box<Wire>> {
        let n = self.settings.nameservers.len();
        let tries = n * self.settings.attempts.max(1) as usize;
        if n == 0 || try_no >= tries {
            return None;
        }
        let server = self.settings.nameservers[(start_server + try_no) % n];
        let id = self.random_u16();
        let edns_payload = self
            .settings
            .edns_payload
            .filter(|_| !self.lookups[i].no_edns.contains(&server));
        let payload = wire::build_query(id, name, qtype, edns_payload).ok()?;
        self.next_sock += 1;
        let sock = DnsSockId(self.next_sock);
        self.transmits.push_back(match transport {
            Transport::Udp => Transmit::Udp {
                sock,
                server,
                payload,
            },
            Transport::Tcp => {
                let mut framed = (payload.len() as u16).to_be_bytes().to_vec();
                framed.extend_from_slice(&payload);
                Transmit::Tcp {
                    sock,
                    server,
                    payload: framed,
                }
            }
        });
        self.events.push_back(ResolverEvent::QueryStart {
            lookup: self.lookups[i].id,
            server,
            qtype,
            transport,
        });
        Some(Box::new(Wire {
            id,
            qtype,
            sock,
            try_no,
            server,
            transport,
            edns: edns_payload.is_some(),
            deadline: crate::after(now, self.settings.timeout),
            tcp_buf: Vec::new(),
        }))
    }

    fn announce(&mut self, i: usize, qtype: QType, addrs: Vec<IpAddr>) {
        let l = &self.lookups[i];
        for lookup in std::iter::once(l.id).chain(l.joined.iter().copied()) {
            self.events.push_back(ResolverEvent::Addresses {
                lookup,
                qtype,
                addrs: addrs.clone(),
            });
        }
    }

    fn find_sock(&self, sock: DnsSockId) -> Option<(usize, usize)> {
        self.lookups.iter().enumerate().find_map(|(i, l)| {
            l.fams.iter().enumerate().find_map(|(f, fam)| match fam {
                Family::Asking(w) if w.sock == sock => Some((i, f)),
                _ => None,
            })
        })
    }

    /// A datagram arrived on a DNS socket from `from`.
    pub fn handle_datagram(
        &mut self,
        sock: DnsSockId,
        from: SocketAddr,
        data: &[u8],
        now: Instant,
    ) {
        let Some((i, f)) = self.find_sock(sock) else {
            self.dropped += 1;
            return;
        };
        let Family::Asking(w) = &self.lookups[i].fams[f] else {
            return;
        };
        if from != w.server || w.transport != Transport::Udp {
            self.dropped += 1;
            return;
        }
        self.handle_message(i, f, data, now);
    }

    /// Bytes arrived on a DNS TCP connection.
    pub fn handle_tcp_data(&mut self, sock: DnsSockId, data: &[u8], now: Instant) {
        let Some((i, f)) = self.find_sock(sock) else {
            return;
        };
        let Family::Asking(w) = &mut self.lookups[i].fams[f] else {
            return;
        };
        w.tcp_buf.extend_from_slice(data);
        // RFC 7766 §7: responses on a connection are matched by id, so a
        // message that answers nothing is skipped, not fatal.
        loop {
            let Family::Asking(w) = &mut self.lookups[i].fams[f] else {
                return;
            };
            if w.sock != sock || w.tcp_buf.len() < 2 {
                return;
            }
            let len = usize::from(u16::from_be_bytes([w.tcp_buf[0], w.tcp_buf[1]]));
            if w.tcp_buf.len() < 2 + len {
                return;
            }
            let message: Vec<u8> = w.tcp_buf.drain(..2 + len).skip(2).collect();
            self.handle_message(i, f, &message, now);
            // handle_message may have settled (and removed) this lookup.
            match self.find_sock(sock) {
                Some((ni, nf)) if (ni, nf) == (i, f) => {}
                _ => return,
            }
        }
    }

    /// A DNS socket failed or (TCP) closed before a whole message.
    pub fn handle_socket_error(&mut self, sock: DnsSockId, error: &std::io::Error, now: Instant) {
        if let Some((i, f)) = self.find_sock(sock) {
            self.fail_try(i, f, QueryOutcome::Error(error.to_string()), now);
        }
    }

    fn handle_message(&mut self, i: usize, f: usize, data: &[u8], now: Instant) {
        let Family::Asking(w) = &self.lookups[i].fams[f] else {
            return;
        };
        let name = &self.lookups[i].candidates[self.lookups[i].candidate];
        let answer =
            match wire::parse_answer(data, w.id, name, w.qtype, self.settings.max_cname_chain) {
                Ok(a) => a,
                Err(Rejected::Malformed) if w.transport == Transport::Tcp => {
                    // On TCP the message was framed for us: it is the answer,
                    // and it is broken.
                    self.fail_try(i, f, QueryOutcome::Error("malformed answer".into()), now);
                    return;
                }
                Err(_) => {
                    self.dropped += 1;
                    return;
                }
            };
        let (w, lookup) = match std::mem::replace(&mut self.lookups[i].fams[f], Family::Failed) {
            Family::Asking(w) => (w, self.lookups[i].id),
            _ => unreachable!("checked above"),
        };
        self.transmits.push_back(Transmit::Close { sock: w.sock });
        self.events.push_back(ResolverEvent::QueryDone {
            lookup,
            server: w.server,
            qtype: w.qtype,
            transport: w.transport,
            outcome: QueryOutcome::Answer {
                rcode: answer.rcode,
                answers: answer.answer_count,
                truncated: answer.truncated,
            },
        });
        let name = self.lookups[i].candidates[self.lookups[i].candidate].clone();
        let qtype = w.qtype;
        if answer.rcode == Rcode::FormatError && w.edns {
            // RFC 6891 §7: a server that does not know EDNS answers FORMERR
            // to the OPT record, not to the question; asking it again
            // without one is the only way to reach its answer. Same server,
            // same try, same transport: this is not a failure of the try.
            if !self.lookups[i].no_edns.contains(&w.server) {
                self.lookups[i].no_edns.push(w.server);
            }
            let start = self.lookups[i].start_server;
            let retry = self.send(i, &name, qtype, start, w.try_no, w.transport, now);
            self.lookups[i].fams[f] = retry.map_or(Family::Failed, Family::Asking);
            self.settle(i, now);
            return;
        }
        if answer.truncated && w.transport == Transport::Udp {
            let start = self.lookups[i].start_server;
            let tcp = self.send(i, &name, qtype, start, w.try_no, Transport::Tcp, now);
            self.lookups[i].fams[f] = tcp.map_or(Family::Failed, Family::Asking);
            return;
        }
        let outcome = match answer.rcode {
            Rcode::NoError if answer.cname_error => None,
            Rcode::NoError if !answer.addrs.is_empty() => {
                self.cache.put(
                    &name,
                    qtype,
                    Cached::Addrs(answer.addrs.clone()),
                    answer.ttl,
                    now,
                );
                self.announce(i, qtype, answer.addrs.clone());
                Some(Family::Addrs(answer.addrs))
            }
            Rcode::NoError => {
                if let Some(ttl) = answer.negative_ttl {
                    self.cache.put(&name, qtype, Cached::NoData, ttl, now);
                }
                self.announce(i, qtype, Vec::new());
                Some(Family::NoData)
            }
            Rcode::NameError => {
                if let Some(ttl) = answer.negative_ttl {
                    self.cache.put(&name, qtype, Cached::NoSuchName, ttl, now);
                }
                Some(Family::NoSuchName)
            }
            _ => None,
        };
        match outcome {
            Some(fam) => {
                self.lookups[i].fams[f] = fam;
                self.settle(i, now);
            }
            None => {
                let what = if answer.cname_error {
                    "CNAME chain loops or is too long".to_owned()
                } else {
                    answer.rcode.as_str().to_owned()
                };
                self.lookups[i].failures.push(DnsAttempt {
                    server: w.server,
                    qtype: qtype.as_str(),
                    transport: w.transport.as_str(),
                    error: what,
                });
                self.next_try(i, f, &w, now);
            }
        }
    }

    /// A try failed without an answer: report it and move on.
    fn fail_try(&mut self, i: usize, f: usize, outcome: QueryOutcome, now: Instant) {
        let Family::Asking(w) = std::mem::replace(&mut self.lookups[i].fams[f], Family::Failed)
        else {
            return;
        };
        self.transmits.push_back(Transmit::Close { sock: w.sock });
        let error = match &outcome {
            QueryOutcome::Timeout => "timed out".to_owned(),
            QueryOutcome::Error(e) => e.clone(),
            QueryOutcome::Answer { rcode, .. } => rcode.as_str().to_owned(),
        };
        self.lookups[i].failures.push(DnsAttempt {
            server: w.server,
            qtype: w.qtype.as_str(),
            transport: w.transport.as_str(),
            error,
        });
        self.events.push_back(ResolverEvent::QueryDone {
            lookup: self.lookups[i].id,
            server: w.server,
            qtype: w.qtype,
            transport: w.transport,
            outcome,
        });
        self.next_try(i, f, &w, now);
    }

    fn next_try(&mut self, i: usize, f: usize, w: &Wire, now: Instant) {
        let name = self.lookups[i].candidates[self.lookups[i].candidate].clone();
        let start = self.lookups[i].start_server;
        let next = self.send(i, &name, w.qtype, start, w.try_no + 1, Transport::Udp, now);
        self.lookups[i].fams[f] = next.map_or(Family::Failed, Family::Asking);
        self.settle(i, now);
    }

    /// When both families of the current candidate are known: finish the
    /// lookup, or move to the next candidate.
    fn settle(&mut self, i: usize, now: Instant) {
        let l = &mut self.lookups[i];
        if l.fams.iter().any(Family::pending) {
            return;
        }
        let mut addrs = Vec::new();
        for fam in &l.fams {
            match fam {
                Family::Addrs(a) => addrs.extend_from_slice(a),
                Family::NoSuchName => l.saw_nxdomain = true,
                Family::NoData => l.saw_nodata = true,
                Family::Failed => l.saw_failed = true,
                Family::Asking(_) => {}
            }
        }
        if addrs.is_empty() && l.candidate + 1 < l.candidates.len() {
            l.candidate += 1;
            self.begin_candidate(i, now);
            return;
        }
        let l = self.lookups.remove(i);
        // A family that got no answer at all says nothing about the name:
        // NODATA or NXDOMAIN are only claimed when every family answered.
        let result = if !addrs.is_empty() {
            Ok(addrs)
        } else if l.saw_failed || (!l.saw_nxdomain && !l.saw_nodata) {
            Err(dns_error(ErrorKind::DnsFailed {
                host: l.name.clone(),
                attempts: l.failures,
            }))
        } else if l.saw_nodata {
            Err(dns_error(ErrorKind::NoAddresses {
                host: l.name.clone(),
            }))
        } else {
            Err(dns_error(ErrorKind::HostNotFound {
                host: l.name.clone(),
            }))
        };
        self.events.push_back(ResolverEvent::Done {
            lookup: l.id,
            result: result.clone(),
            coalesced: l.inherited,
        });
        for joined in l.joined {
            self.events.push_back(ResolverEvent::Done {
                lookup: joined,
                result: result.clone(),
                coalesced: true,
            });
        }
    }

    /// Abandons a lookup nobody waits for any more (its requests were
    /// cancelled): its sockets are closed. Joined lookups keep it alive.
    pub fn cancel(&mut self, lookup: QueryId) {
        for l in &mut self.lookups {
            l.joined.retain(|j| *j != lookup);
        }
        let Some(i) = self.lookups.iter().position(|l| l.id == lookup) else {
            return;
        };
        if let Some(&heir) = self.lookups[i].joined.first() {
            // Someone else still waits: they inherit the lookup.
            self.lookups[i].joined.remove(0);
            self.lookups[i].id = heir;
            self.lookups[i].inherited = true;
            return;
        }
        let l = self.lookups.remove(i);
        for fam in l.fams {
            if let Family::Asking(w) = fam {
                self.transmits.push_back(Transmit::Close { sock: w.sock });
            }
        }
    }

    /// The next socket action for the runtime.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// How many lookups [`start_query`](Self::start_query) has begun so
    /// far: a driver that sees the same count as last time knows no
    /// lookup started since.
    pub fn queries_started(&self) -> u64 {
        self.next_lookup
    }

    /// True while a transmit or an event waits to be polled.
    pub fn has_output(&self) -> bool {
        !self.transmits.is_empty() || !self.events.is_empty()
    }

    /// The next finished lookup or query event.
    pub fn poll_event(&mut self) -> Option<ResolverEvent> {
        self.events.pop_front()
    }

    /// The earliest try deadline.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.lookups
            .iter()
            .flat_map(|l| l.fams.iter())
            .filter_map(|f| match f {
                Family::Asking(w) => Some(w.deadline),
                _ => None,
            })
            .min()
    }

    /// Time passed: tries past their deadline fail over.
    pub fn handle_timeout(&mut self, now: Instant) {
        loop {
            let expired = self.lookups.iter().enumerate().find_map(|(i, l)| {
                l.fams.iter().enumerate().find_map(|(f, fam)| match fam {
                    Family::Asking(w) if w.deadline <= now => Some((i, f)),
                    _ => None,
                })
            });
            let Some((i, f)) = expired else { return };
            self.fail_try(i, f, QueryOutcome::Timeout, now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::wire::testing::{answer, Rec};
    use simple_dns::{Packet, RCODE};

    fn settings(servers: &[&str]) -> Settings {
        Settings {
            nameservers: servers.iter().map(|s| s.parse().unwrap()).collect(),
            search: Vec::new(),
            ndots: 1,
            timeout: Duration::from_secs(5),
            attempts: 2,
            rotate: false,
            edns_payload: Some(1232),
            max_cname_chain: 8,
            cache_size: 64,
            cache_max_ttl: Duration::from_secs(3600),
            negative_max_ttl: Duration::from_secs(300),
        }
    }

    const S1: &str = "192.0.2.53:53";
    const S2: &str = "198.51.100.53:5353";

    struct Sent {
        sock: DnsSockId,
        server: SocketAddr,
        tcp: bool,
        payload: Vec<u8>,
    }

    impl Sent {
        fn qtype(&self) -> QType {
            let msg = if self.tcp {
                &self.payload[2..]
            } else {
                &self.payload[..]
            };
            let p = Packet::parse(msg).unwrap();
            match p.questions[0].qtype {
                simple_dns::QTYPE::TYPE(simple_dns::TYPE::A) => QType::A,
                _ => QType::Aaaa,
            }
        }
        fn query(&self) -> &[u8] {
            if self.tcp {
                &self.payload[2..]
            } else {
                &self.payload
            }
        }
        fn name(&self) -> String {
            Packet::parse(self.query()).unwrap().questions[0]
                .qname
                .to_string()
        }
    }

    fn sent(r: &mut Resolver) -> Vec<Sent> {
        let mut out = Vec::new();
        while let Some(t) = r.poll_transmit() {
            match t {
                Transmit::Udp {
                    sock,
                    server,
                    payload,
                } => out.push(Sent {
                    sock,
                    server,
                    tcp: false,
                    payload,
                }),
                Transmit::Tcp {
                    sock,
                    server,
                    payload,
                } => out.push(Sent {
                    sock,
                    server,
                    tcp: true,
                    payload,
                }),
                Transmit::Close { .. } => {}
            }
        }
        out
    }

    fn done(r: &mut Resolver) -> Vec<(QueryId, Result<Vec<IpAddr>, Error>, bool)> {
        let mut out = Vec::new();
        while let Some(e) = r.poll_event() {
            if let ResolverEvent::Done {
                lookup,
                result,
                coalesced,
            } = e
            {
                out.push((lookup, result, coalesced));
            }
        }
        out
    }

    fn reply(r: &mut Resolver, s: &Sent, recs: &[Rec<'_>], rcode: RCODE, now: Instant) {
        let data = answer(s.query(), recs, rcode, false, Some((60, 30)));
        if s.tcp {
            let mut framed = (data.len() as u16).to_be_bytes().to_vec();
            framed.extend_from_slice(&data);
            r.handle_tcp_data(s.sock, &framed, now);
        } else {
            r.handle_datagram(s.sock, s.server, &data, now);
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn aaaa_and_a_are_asked_together_and_both_returned() {
        let t0 = Instant::now();
        let mut r = Resolver::new(settings(&[S1]), Hosts::default(), 1);
        let q = r.start_query("www.example.test", t0);
        let s = sent(&mut r);
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].qtype(), s[1].qtype()), (QType::Aaaa, QType::A));
        assert_ne!(s[0].sock, s[1].sock, "a fresh socket per query");
        reply(
            &mut r,
            &s[1],
            &[Rec::A("www.example.test", "192.0.2.1", 60)],
            RCODE::NoError,
            t0,
        );
        // The A family is announced before the lookup is done.
        let mut saw_a = false;
        while let Some(e) = r.poll_event() {
            if let ResolverEvent::Addresses {
                qtype: QType::A,
                addrs,
                ..
            } = &e
            {
                saw_a = *addrs == [ip("192.0.2.1")];
            }
            assert!(!matches!(e, ResolverEvent::Done { .. }));
        }
        assert!(saw_a);
        reply(
            &mut r,
            &s[0],
            &[Rec::Aaaa("www.example.test", "2001:db8::1", 60)],
            RCODE::NoError,
            t0,
        );
        let d = done(&mut r);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].0, q);
        assert_eq!(
            d[0].1.as_ref().unwrap(),
            &[ip("2001:db8::1"), ip("192.0.2.1")]
        );
    }

    #[test]
    fn spoofed_answers_are_dropped_and_counted() {
        let t0 = Instant::now();
        let mut r = Resolver::new(settings(&[S1]), Hosts::default(), 2);
        r.start_query("a.test", t0);
        let s = sent(&mut r);
        let good = answer(
            s[1].query(),
            &[Rec::A("a.test", "192.0.2.1", 60)],
            RCODE::NoError,
            false,
            None,
        );
        // Wrong source port, wrong source address.
        r.handle_datagram(s[1].sock, "192.0.2.53:54".parse().unwrap(), &good, t0);
        r.handle_datagram(s[1].sock, "203.0.113.1:53".parse().unwrap(), &good, t0);
        // Wrong id.
        let mut wrong_id = good.clone();
        wrong_id[0] ^= 0xff;
        r.handle_datagram(s[1].sock, s[1].server, &wrong_id, t0);
        // Wrong question: the AAAA query's answer on the A socket.
        let other = answer(s[0].query(), &[], RCODE::NoError, false, None);
        r.handle_datagram(s[1].sock, s[1].server, &other, t0);
        // Garbage.
        r.handle_datagram(s[1].sock, s[1].server, b"\x00\x01garbage", t0);
        assert_eq!(r.dropped(), 5);
        assert!(done(&mut r).is_empty());
        r.handle_datagram(s[1].sock, s[1].server, &good, t0);
        reply(&mut r, &s[0], &[], RCODE::NoError, t0);
        assert_eq!(done(&mut r)[0].1.as_ref().unwrap(), &[ip("192.0.2.1")]);
    }

    #[test]
    fn timeouts_move_to_the_next_server_for_attempts_rounds() {
        let t0 = Instant::now();
        let mut r = Resolver::new(settings(&[S1, S2]), Hosts::default(), 3);
        r.start_query("slow.test", t0);
        let mut servers = Vec::new();
        let mut now = t0;
        for _ in 0..4 {
            let s = sent(&mut r);
            assert_eq!(s.len(), 2, "both families retried together");
            servers.push(s[0].server.to_string());
            assert_eq!(r.poll_timeout(), Some(now + Duration::from_secs(5)));
            now += Duration::from_secs(5);
            r.handle_timeout(now);
        }
        assert_eq!(servers, [S1, S2, S1, S2]);
        let d = done(&mut r);
        let err = d[0].1.as_ref().unwrap_err();
        let ErrorKind::DnsFailed { attempts, .. } = err.kind() else {
            panic!("{err}")
        };
        assert_eq!(attempts.len(), 8);
        assert!(attempts.iter().all(|a| a.error == "timed out"));
        assert!(err.to_string().contains("198.51.100.53:5353"), "{err}");
    }

    #[test]
    fn servfail_moves_on_at_once_and_the_good_server_answers() {
        let t0 = Instant::now();
        let mut r = Resolver::new(settings(&[S1, S2]), Hosts::default(), 4);
        r.start_query("a.test", t0);
        let first = sent(&mut r);
        for s in &first {
            reply(&mut r, s, &[], RCODE::ServerFailure, t0);
        }
        let second = sent(&mut r);
        assert_eq!(second.len(), 2);
        assert!(second.iter().all(|s| s.server == S2.parse().unwrap()));
        reply(&mut r, &second[0], &[], RCODE::NoError, t0);
        reply(
            &mut r,
            &second[1],
            &[Rec::A("a.test", "192.0.2.9", 60)],
            RCODE::NoError,
            t0,
        );
        assert_eq!(done(&mut r)[0].1.as_ref().unwrap(), &[ip("192.0.2.9")]);
    }

    /// Whether a query carries an OPT record (ARCOUNT, the only
    /// additional record the resolver ever sends).
    fn has_opt(s: &Sent) -> bool {
        s.query()[10..12] != [0, 0]
    }

    #[test]
    fn formerr_to_edns_is_asked_again_without_it_on_the_same_server() {
        let t0 = Instant::now();
        let mut r = Resolver::new(settings(&[S1, S2]), Hosts::default(), 15);
        let q = r.start_query("old.test", t0);
        let first = sent(&mut r);
        assert!(first.iter().all(has_opt));
        for s in &first {
            reply(&mut r, s, &[], RCODE::FormatError, t0);
        }
        let retry = sent(&mut r);
        assert_eq!(retry.len(), 2, "both families asked again");
        assert!(retry
            .iter()
            .all(|s| s.server == first[0].server && !has_opt(s)));
        // The FORMERRs and the retries are traced as any query.
        let evs: Vec<ResolverEvent> = std::iter::from_fn(|| r.poll_event()).collect();
        let formerrs = evs
            .iter()
            .filter(|e| {
                matches!(
                    e,
                    ResolverEvent::QueryDone {
                        outcome: QueryOutcome::Answer {
                            rcode: Rcode::FormatError,
                            ..
                        },
                        ..
                    }
                )
            })
            .count();
        let starts = evs
            .iter()
            .filter(|e| matches!(e, ResolverEvent::QueryStart { .. }))
            .count();
        assert_eq!((formerrs, starts), (2, 4), "{evs:?}");
        // A timeout then: the next server still gets EDNS, the server that
        // refused it does not on the next round.
        reply(
            &mut r,
            &retry[1],
            &[Rec::A("old.test", "192.0.2.3", 60)],
            RCODE::NoError,
            t0,
        );
        let t1 = t0 + Duration::from_secs(5);
        r.handle_timeout(t1);
        let s2 = sent(&mut r);
        assert_eq!(s2.len(), 1);
        assert!(s2[0].server == S2.parse().unwrap() && has_opt(&s2[0]));
        r.handle_timeout(t1 + Duration::from_secs(5));
        let s1 = sent(&mut r);
        assert!(s1[0].server == S1.parse().unwrap() && !has_opt(&s1[0]));
        reply(&mut r, &s1[0], &[], RCODE::NoError, t1);
        let d = done(&mut r);
        assert_eq!(
            (d[0].0, d[0].1.as_ref().unwrap()),
            (q, &vec![ip("192.0.2.3")])
        );
    }

    #[test]
    fn formerr_without_the_question_also_drops_edns() {
        let t0 = Instant::now();
        let mut r = Resolver::new(settings(&[S1]), Hosts::default(), 20);
        r.start_query("bare.test", t0);
        let s = sent(&mut r);
        let mut header = s[1].query()[..12].to_vec();
        header[2] |= 0x80;
        header[3] = 1;
        header[4..12].fill(0);
        r.handle_datagram(s[1].sock, s[1].server, &header, t0);
        assert_eq!(r.dropped(), 0);
        let retry = sent(&mut r);
        assert_eq!(retry.len(), 1);
        assert!(retry[0].qtype() == QType::A && !has_opt(&retry[0]));
    }

    #[test]
    fn formerr_without_edns_is_a_failure_of_that_server() {
        let t0 = Instant::now();
        let mut st = settings(&[S1, S2]);
        st.edns_payload = None;
        let mut r = Resolver::new(st, Hosts::default(), 16);
        r.start_query("bad.test", t0);
        for s in sent(&mut r) {
            reply(&mut r, &s, &[], RCODE::FormatError, t0);
        }
        let next = sent(&mut r);
        assert_eq!(next.len(), 2);
        assert!(next
            .iter()
            .all(|s| s.server == S2.parse().unwrap() && !has_opt(s)));
    }

    #[test]
    fn edns_is_dropped_only_for_the_lookup_that_met_the_formerr() {
        let t0 = Instant::now();
        let mut r = Resolver::new(settings(&[S1]), Hosts::default(), 17);
        r.start_query("x.test", t0);
        for s in sent(&mut r) {
            reply(&mut r, &s, &[], RCODE::FormatError, t0);
        }
        for s in sent(&mut r) {
            reply(
                &mut r,
                &s,
                &[Rec::A("x.test", "192.0.2.4", 60)],
                RCODE::NoError,
                t0,
            );
        }
        assert!(done(&mut r)[0].1.is_ok());
        r.start_query("y.test", t0);
        assert!(sent(&mut r).iter().all(has_opt));
    }

    #[test]
    fn truncated_answers_are_asked_again_over_tcp() {
        let t0 = Instant::now();
        let mut r = Resolver::new(settings(&[S1]), Hosts::default(), 5);
        r.start_query("big.test", t0);
        let s = sent(&mut r);
        let tc = answer(s[1].query(), &[], RCODE::NoError, true, None);
        r.handle_datagram(s[1].sock, s[1].server, &tc, t0);
        let tcp = sent(&mut r);
        assert_eq!(tcp.len(), 1);
        assert!(tcp[0].tcp && tcp[0].qtype() == QType::A);
        assert_eq!(
            usize::from(u16::from_be_bytes([tcp[0].payload[0], tcp[0].payload[1]])),
            tcp[0].payload.len() - 2
        );
        // The TCP answer arrives in two pieces.
        let data = answer(
            tcp[0].query(),
            &[Rec::A("big.test", "192.0.2.77", 60)],
            RCODE::NoError,
            false,
            None,
        );
        let mut framed = (data.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(&data);
        r.handle_tcp_data(tcp[0].sock, &framed[..5], t0);
        r.handle_tcp_data(tcp[0].sock, &framed[5..], t0);
        reply(&mut r, &s[0], &[], RCODE::NoError, t0);
        assert_eq!(done(&mut r)[0].1.as_ref().unwrap(), &[ip("192.0.2.77")]);
    }

    #[test]
    fn a_truncated_answer_cut_mid_record_is_asked_again_over_tcp() {
        let t0 = Instant::now();
        let mut r = Resolver::new(settings(&[S1]), Hosts::default(), 5);
        r.start_query("cut.test", t0);
        let s = sent(&mut r);
        // TC set, one answer announced, and the datagram ends inside it.
        let full = answer(
            s[1].query(),
            &[Rec::A("cut.test", "192.0.2.9", 60)],
            RCODE::NoError,
            true,
            None,
        );
        let cut = &full[..full.len() - 3];
        r.handle_datagram(s[1].sock, s[1].server, cut, t0);
        let tcp = sent(&mut r);
        assert_eq!(tcp.len(), 1, "the cut answer is neither used nor dropped");
        assert!(tcp[0].tcp && tcp[0].qtype() == QType::A);
        // Without TC the same cut datagram is malformed: nothing is sent.
        let mut r = Resolver::new(settings(&[S1]), Hosts::default(), 5);
        r.start_query("cut.test", t0);
        let s = sent(&mut r);
        let mut full = answer(
            s[1].query(),
            &[Rec::A("cut.test", "192.0.2.9", 60)],
            RCODE::NoError,
            false,
            None,
        );
        full.truncate(full.len() - 3);
        r.handle_datagram(s[1].sock, s[1].server, &full, t0);
        assert!(sent(&mut r).is_empty());
        assert!(done(&mut r).is_empty());
    }

    #[test]
    fn nxdomain_and_nodata_are_distinct_and_cached() {
        let t0 = Instant::now();
        let mut r = Resolver::new(settings(&[S1]), Hosts::default(), 6);
        r.start_query("gone.test", t0);
        for s in sent(&mut r) {
            reply(&mut r, &s, &[], RCODE::NameError, t0);
        }
        let err = done(&mut r).remove(0).1.unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::HostNotFound { host } if host == "gone.test"),
            "{err}"
        );

        r.start_query("v4only.test", t0);
        for s in sent(&mut r) {
            reply(&mut r, &s, &[], RCODE::NoError, t0);
        }
        let err = done(&mut r).remove(0).1.unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::NoAddresses { .. }), "{err}");

        // Negative answers are cached for the SOA minimum (30 s here).
        r.start_query("gone.test", t0 + Duration::from_secs(29));
        assert!(sent(&mut r).is_empty());
        assert!(done(&mut r)[0].1.is_err());
        r.start_query("gone.test", t0 + Duration::from_secs(31));
        assert_eq!(sent(&mut r).len(), 2);
    }

    #[test]
    fn positive_answers_are_cached_for_their_ttl() {
        let t0 = Instant::now();
        let mut r = Resolver::new(settings(&[S1]), Hosts::default(), 7);
        r.start_query("c.test", t0);
        let s = sent(&mut r);
        reply(
            &mut r,
            &s[0],
            &[Rec::Aaaa("c.test", "2001:db8::c", 10)],
            RCODE::NoError,
            t0,
        );
        reply(
            &mut r,
            &s[1],
            &[Rec::A("c.test", "192.0.2.12", 20)],
            RCODE::NoError,
            t0,
        );
        done(&mut r);
        r.start_query("C.TEST.", t0 + Duration::from_secs(9));
        assert!(sent(&mut r).is_empty(), "both cached");
        assert_eq!(done(&mut r)[0].1.as_ref().unwrap().len(), 2);
        r.start_query("c.test", t0 + Duration::from_secs(15));
        let s = sent(&mut r);
        assert_eq!(s.len(), 1, "only AAAA expired");
        assert_eq!(s[0].qtype(), QType::Aaaa);
    }

    #[test]
    fn concurrent_lookups_of_one_name_are_coalesced() {
        let t0 = Instant::now();
        let mut r = Resolver::new(settings(&[S1]), Hosts::default(), 8);
        let q1 = r.start_query("same.test", t0);
        let q2 = r.start_query("SAME.test", t0);
        let s = sent(&mut r);
        assert_eq!(s.len(), 2, "one set of queries");
        reply(&mut r, &s[0], &[], RCODE::NoError, t0);
        reply(
            &mut r,
            &s[1],
            &[Rec::A("same.test", "192.0.2.5", 60)],
            RCODE::NoError,
            t0,
        );
        let d = done(&mut r);
        assert_eq!(d.len(), 2);
        assert_eq!((d[0].0, d[0].2), (q1, false));
        assert_eq!((d[1].0, d[1].2), (q2, true));
        assert_eq!(d[1].1.as_ref().unwrap(), &[ip("192.0.2.5")]);
    }

    #[test]
    fn a_joiner_that_inherits_a_cancelled_lookup_is_still_coalesced() {
        let t0 = Instant::now();
        let mut r = Resolver::new(settings(&[S1]), Hosts::default(), 8);
        let q1 = r.start_query("same.test", t0);
        let q2 = r.start_query("same.test", t0);
        let s = sent(&mut r);
        // The starter gives up; the joiner inherits the queries in flight.
        r.cancel(q1);
        reply(&mut r, &s[0], &[], RCODE::NoError, t0);
        reply(
            &mut r,
            &s[1],
            &[Rec::A("same.test", "192.0.2.5", 60)],
            RCODE::NoError,
            t0,
        );
        let d = done(&mut r);
        assert_eq!(d.len(), 1);
        // It joined a lookup someone else started: a shared answer.
        assert_eq!((d[0].0, d[0].2), (q2, true));
        assert_eq!(d[0].1.as_ref().unwrap(), &[ip("192.0.2.5")]);
    }

    #[test]
    fn absolute_and_searched_lookups_of_one_name_are_not_coalesced() {
        let t0 = Instant::now();
        let mut st = settings(&[S1]);
        st.search = vec!["corp.test".into()];
        let mut r = Resolver::new(st, Hosts::default(), 18);
        let searched = r.start_query("foo", t0);
        let absolute = r.start_query("foo.", t0);
        let s = sent(&mut r);
        let mut names: Vec<String> = s.iter().map(Sent::name).collect();
        names.dedup();
        // Each asks its own first candidate.
        assert_eq!(names, ["foo.corp.test", "foo"]);
        for q in &s {
            let name = q.name();
            let addr = if name == "foo" {
                "10.0.0.2"
            } else {
                "10.0.0.1"
            };
            let a = [Rec::A(&name, addr, 60)];
            let recs: &[Rec<'_>] = if q.qtype() == QType::A { &a } else { &[] };
            reply(&mut r, q, recs, RCODE::NoError, t0);
        }
        let d = done(&mut r);
        assert_eq!(d.len(), 2);
        let of = |q| d.iter().find(|x| x.0 == q).unwrap();
        assert_eq!(of(searched).1.as_ref().unwrap(), &[ip("10.0.0.1")]);
        assert_eq!(of(absolute).1.as_ref().unwrap(), &[ip("10.0.0.2")]);
        assert!(!of(searched).2 && !of(absolute).2);

        // Without a search list both spellings ask exactly `bar`: one lookup.
        let mut r = Resolver::new(settings(&[S1]), Hosts::default(), 19);
        r.start_query("bar", t0);
        let joined = r.start_query("BAR.", t0);
        let s = sent(&mut r);
        assert_eq!(s.len(), 2);
        for q in &s {
            reply(&mut r, q, &[], RCODE::NoError, t0);
        }
        let d = done(&mut r);
        assert_eq!((d[1].0, d[1].2), (joined, true));
    }

    #[test]
    fn search_list_and_ndots_order_candidates() {
        let t0 = Instant::now();
        let mut st = settings(&[S1]);
        st.search = vec!["corp.test".into(), "lab.test".into()];
        st.ndots = 2;
        let mut r = Resolver::new(st, Hosts::default(), 9);
        // One dot < ndots: search domains first, then the name as-is.
        r.start_query("www.a", t0);
        let mut order = Vec::new();
        loop {
            let s = sent(&mut r);
            if s.is_empty() {
                break;
            }
            order.push(s[0].name());
            for q in &s {
                reply(&mut r, q, &[], RCODE::NameError, t0);
            }
        }
        assert_eq!(order, ["www.a.corp.test", "www.a.lab.test", "www.a"]);
        assert!(matches!(
            done(&mut r)[0].1.as_ref().unwrap_err().kind(),
            ErrorKind::HostNotFound { .. }
        ));
        // Enough dots: as-is first. A trailing dot: only as-is.
        assert_eq!(r.candidates("a.b.c", false)[0], "a.b.c");
        assert_eq!(r.candidates("www.a", true), ["www.a"]);
    }

    #[test]
    fn search_stops_at_the_first_candidate_with_addresses() {
        let t0 = Instant::now();
        let mut st = settings(&[S1]);
        st.search = vec!["corp.test".into()];
        let mut r = Resolver::new(st, Hosts::default(), 10);
        r.start_query("intranet", t0);
        let s = sent(&mut r);
        assert_eq!(s[0].name(), "intranet.corp.test");
        reply(&mut r, &s[0], &[], RCODE::NoError, t0);
        reply(
            &mut r,
            &s[1],
            &[Rec::A("intranet.corp.test", "10.1.2.3", 60)],
            RCODE::NoError,
            t0,
        );
        assert!(sent(&mut r).is_empty());
        assert_eq!(done(&mut r)[0].1.as_ref().unwrap(), &[ip("10.1.2.3")]);
    }

    #[test]
    fn hosts_localhost_and_invalid_names_never_reach_the_network() {
        let t0 = Instant::now();
        let mut r = Resolver::new(
            settings(&[S1]),
            Hosts::parse("192.0.2.200 pinned.test\n"),
            11,
        );
        r.start_query("pinned.test", t0);
        r.start_query("localhost", t0);
        r.start_query(&"x".repeat(64), t0);
        r.start_query("no-such-host.invalid", t0);
        assert!(sent(&mut r).is_empty());
        let d = done(&mut r);
        assert_eq!(d[0].1.as_ref().unwrap(), &[ip("192.0.2.200")]);
        assert_eq!(d[1].1.as_ref().unwrap().len(), 2);
        assert!(matches!(
            d[2].1.as_ref().unwrap_err().kind(),
            ErrorKind::InvalidHostName { .. }
        ));
        assert!(matches!(
            d[3].1.as_ref().unwrap_err().kind(),
            ErrorKind::HostNotFound { .. }
        ));
    }

    #[test]
    fn socket_errors_fail_over_and_cname_loops_are_failures() {
        let t0 = Instant::now();
        let mut r = Resolver::new(settings(&[S1, S2]), Hosts::default(), 12);
        r.start_query("loop.test", t0);
        let s = sent(&mut r);
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        r.handle_socket_error(s[0].sock, &refused, t0);
        let looped = answer(
            s[1].query(),
            &[
                Rec::Cname("loop.test", "b.test", 5),
                Rec::Cname("b.test", "loop.test", 5),
            ],
            RCODE::NoError,
            false,
            None,
        );
        r.handle_datagram(s[1].sock, s[1].server, &looped, t0);
        let retry = sent(&mut r);
        assert_eq!(retry.len(), 2);
        assert!(retry.iter().all(|q| q.server == S2.parse().unwrap()));
    }

    #[test]
    fn rotate_spreads_lookups_over_servers() {
        let t0 = Instant::now();
        let mut st = settings(&[S1, S2]);
        st.rotate = true;
        let mut r = Resolver::new(st, Hosts::default(), 13);
        r.start_query("one.test", t0);
        let a = sent(&mut r)[0].server;
        r.start_query("two.test", t0);
        let b = sent(&mut r)[0].server;
        assert_ne!(a, b);
    }

    #[test]
    fn transaction_ids_vary() {
        let t0 = Instant::now();
        let mut r = Resolver::new(settings(&[S1]), Hosts::default(), 14);
        let mut ids = std::collections::HashSet::new();
        for i in 0..50 {
            r.start_query(&format!("n{i}.test"), t0);
            for s in sent(&mut r) {
                ids.insert(u16::from_be_bytes([s.payload[0], s.payload[1]]));
            }
        }
        assert!(ids.len() > 95, "ids repeat too often: {}", ids.len());
    }
}

//! DNS helpers for the resolver's loopback and interop tests
//! (`tests/dns_loopback.rs`, `tests/interop_dnsmasq.rs`):
//!
//! - [`DnsServer`]: a scriptable DNS server on 127.0.0.1 or [::1] (UDP, and
//!   TCP on the same port number), whose reaction to each query is decided by a
//!   script returning [`Act`]s: answer, answer late, answer from another
//!   port, send garbage, stay silent, close a TCP connection. Every query
//!   it receives is logged. It stops by itself (bounded loops) and when
//!   dropped.
//! - Messages built by hand (RFC 1035 §4.1), so that broken ones are as easy
//!   to write as good ones: [`Query::reply`] and [`Reply`], and [`Zone`], a
//!   tiny authoritative zone that answers like a real server (CNAMEs
//!   followed, NXDOMAIN and NODATA with an SOA).
//! - [`DnsLog`]: the DNS events of a trace, typed.
//! - [`Http`]: a loopback HTTP server (127.0.0.1, optionally [::1] too) for
//!   the names to resolve to; it closes every connection, so no request
//!   skips name resolution through the pool.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use roundtrip::{Event, EventKind, Trace};

/// Record types.
pub const A: u16 = 1;
pub const NS: u16 = 2;
pub const CNAME: u16 = 5;
pub const SOA: u16 = 6;
pub const AAAA: u16 = 28;
pub const OPT: u16 = 41;

/// Response codes.
pub const NOERROR: u8 = 0;
pub const FORMERR: u8 = 1;
pub const SERVFAIL: u8 = 2;
pub const NXDOMAIN: u8 = 3;
pub const NOTIMP: u8 = 4;
pub const REFUSED: u8 = 5;

/// No server thread lives longer than this, whatever the client does.
const GIVE_UP: Duration = Duration::from_secs(30);

// ----- messages ----------------------------------------------------------

/// A query as the server received it.
#[derive(Debug, Clone)]
pub struct Query {
    /// Transaction id.
    pub id: u16,
    /// The flags word (QR, opcode, AA, TC, RD, RA, Z, RCODE).
    pub flags: u16,
    /// QNAME as sent (case preserved), without the trailing dot.
    pub name: String,
    /// QTYPE.
    pub qtype: u16,
    /// QCLASS.
    pub qclass: u16,
    /// The UDP payload size of an EDNS0 OPT record, if there was one.
    pub edns_payload: Option<u16>,
    /// Came over TCP.
    pub tcp: bool,
    /// Where it came from.
    pub from: SocketAddr,
    /// Position among all queries this server received (from 0).
    pub seq: usize,
    /// Earlier queries for the same name (case-insensitively), type and
    /// transport: 0 for the first try, 1 for the first retry...
    pub nth: usize,
    /// The message as received.
    pub raw: Vec<u8>,
}

impl Query {
    /// The RD bit.
    pub fn rd(&self) -> bool {
        self.flags & 0x0100 != 0
    }

    /// `name` lowercased.
    pub fn lname(&self) -> String {
        self.name.to_ascii_lowercase()
    }

    /// "A", "AAAA" or the number.
    pub fn type_name(&self) -> String {
        type_name(self.qtype)
    }

    /// A NOERROR reply echoing the question, without records.
    pub fn reply(&self) -> Reply {
        Reply {
            id: self.id,
            flags: 0x8000 | 0x0080 | (self.flags & 0x0100),
            questions: vec![(self.name.clone(), self.qtype, self.qclass)],
            answers: Vec::new(),
            authority: Vec::new(),
        }
    }
}

/// "A", "AAAA", "CNAME" or the number.
pub fn type_name(t: u16) -> String {
    match t {
        A => "A".into(),
        AAAA => "AAAA".into(),
        CNAME => "CNAME".into(),
        SOA => "SOA".into(),
        n => n.to_string(),
    }
}

/// Record data.
#[derive(Debug, Clone)]
pub enum RData {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    Cname(String),
    /// Zone SOA: only MINIMUM matters to a stub resolver (RFC 2308 §5).
    Soa {
        minimum: u32,
    },
}

/// One resource record.
#[derive(Debug, Clone)]
pub struct Rr {
    pub name: String,
    pub ttl: u32,
    pub data: RData,
}

/// A response under construction.
#[derive(Debug, Clone)]
pub struct Reply {
    pub id: u16,
    pub flags: u16,
    pub questions: Vec<(String, u16, u16)>,
    pub answers: Vec<Rr>,
    pub authority: Vec<Rr>,
}

impl Reply {
    pub fn rcode(mut self, rcode: u8) -> Reply {
        self.flags = (self.flags & !0x000f) | u16::from(rcode & 0x0f);
        self
    }
    /// Sets the TC bit.
    pub fn tc(mut self) -> Reply {
        self.flags |= 0x0200;
        self
    }
    /// Sets the AA bit.
    pub fn aa(mut self) -> Reply {
        self.flags |= 0x0400;
        self
    }
    pub fn id(mut self, id: u16) -> Reply {
        self.id = id;
        self
    }
    /// Replaces the question section with one question.
    pub fn question(mut self, name: &str, qtype: u16) -> Reply {
        self.questions = vec![(name.to_owned(), qtype, 1)];
        self
    }
    pub fn a(mut self, name: &str, ip: &str, ttl: u32) -> Reply {
        self.answers.push(Rr {
            name: name.to_owned(),
            ttl,
            data: RData::A(ip.parse().unwrap()),
        });
        self
    }
    pub fn aaaa(mut self, name: &str, ip: &str, ttl: u32) -> Reply {
        self.answers.push(Rr {
            name: name.to_owned(),
            ttl,
            data: RData::Aaaa(ip.parse().unwrap()),
        });
        self
    }
    pub fn cname(mut self, name: &str, target: &str, ttl: u32) -> Reply {
        self.answers.push(Rr {
            name: name.to_owned(),
            ttl,
            data: RData::Cname(target.to_owned()),
        });
        self
    }
    /// An SOA for `zone` in the authority section (for negative caching).
    pub fn soa(mut self, zone: &str, ttl: u32, minimum: u32) -> Reply {
        self.authority.push(Rr {
            name: zone.to_owned(),
            ttl,
            data: RData::Soa { minimum },
        });
        self
    }

    /// The message on the wire (names uncompressed).
    pub fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(512);
        out.extend_from_slice(&self.id.to_be_bytes());
        out.extend_from_slice(&self.flags.to_be_bytes());
        for n in [
            self.questions.len(),
            self.answers.len(),
            self.authority.len(),
            0,
        ] {
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        for (name, qtype, qclass) in &self.questions {
            put_name(&mut out, name);
            out.extend_from_slice(&qtype.to_be_bytes());
            out.extend_from_slice(&qclass.to_be_bytes());
        }
        for rr in self.answers.iter().chain(&self.authority) {
            put_rr(&mut out, rr);
        }
        out
    }
}

/// Appends `name` as uncompressed labels.
pub fn put_name(out: &mut Vec<u8>, name: &str) {
    for label in name
        .trim_end_matches('.')
        .split('.')
        .filter(|l| !l.is_empty())
    {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
}

fn put_rr(out: &mut Vec<u8>, rr: &Rr) {
    put_name(out, &rr.name);
    let (rtype, rdata) = match &rr.data {
        RData::A(ip) => (A, ip.octets().to_vec()),
        RData::Aaaa(ip) => (AAAA, ip.octets().to_vec()),
        RData::Cname(target) => {
            let mut d = Vec::new();
            put_name(&mut d, target);
            (CNAME, d)
        }
        RData::Soa { minimum } => {
            let mut d = Vec::new();
            put_name(&mut d, "ns.test");
            put_name(&mut d, "hostmaster.test");
            for v in [1u32, 3600, 600, 86400, *minimum] {
                d.extend_from_slice(&v.to_be_bytes());
            }
            (SOA, d)
        }
    };
    out.extend_from_slice(&rtype.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&rr.ttl.to_be_bytes());
    out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    out.extend_from_slice(&rdata);
}

/// Reads a (possibly compressed) name at `pos`; returns it and the offset
/// after it.
fn read_name(msg: &[u8], mut pos: usize) -> Option<(String, usize)> {
    let mut labels = Vec::new();
    let mut end = None;
    for _ in 0..128 {
        let len = *msg.get(pos)? as usize;
        if len & 0xc0 == 0xc0 {
            let ptr = ((len & 0x3f) << 8) | *msg.get(pos + 1)? as usize;
            end.get_or_insert(pos + 2);
            pos = ptr;
            continue;
        }
        if len == 0 {
            return Some((labels.join("."), end.unwrap_or(pos + 1)));
        }
        let label = msg.get(pos + 1..pos + 1 + len)?;
        labels.push(String::from_utf8_lossy(label).into_owned());
        pos += 1 + len;
    }
    None
}

fn u16_at(msg: &[u8], pos: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*msg.get(pos)?, *msg.get(pos + 1)?]))
}

/// Parses a query with one question (and perhaps an OPT record).
pub fn parse_query(msg: &[u8], tcp: bool, from: SocketAddr) -> Option<Query> {
    if msg.len() < 12 || u16_at(msg, 4)? != 1 {
        return None;
    }
    let (name, pos) = read_name(msg, 12)?;
    let qtype = u16_at(msg, pos)?;
    let qclass = u16_at(msg, pos + 2)?;
    let mut edns_payload = None;
    let (an, ns, ar) = (u16_at(msg, 6)?, u16_at(msg, 8)?, u16_at(msg, 10)?);
    let mut p = pos + 4;
    for _ in 0..(an + ns + ar) {
        let (_, q) = read_name(msg, p)?;
        let rtype = u16_at(msg, q)?;
        let class = u16_at(msg, q + 2)?;
        let rdlen = u16_at(msg, q + 8)? as usize;
        if rtype == OPT {
            edns_payload = Some(class);
        }
        p = q + 10 + rdlen;
    }
    Some(Query {
        id: u16_at(msg, 0)?,
        flags: u16_at(msg, 2)?,
        name,
        qtype,
        qclass,
        edns_payload,
        tcp,
        from,
        seq: 0,
        nth: 0,
        raw: msg.to_vec(),
    })
}

/// What an answer said, read back (for checks on a real server's answers).
#[derive(Debug, Clone)]
pub struct Parsed {
    pub id: u16,
    pub rcode: u8,
    pub tc: bool,
    pub answers: usize,
}

/// Reads the header of a response.
pub fn parse_header(msg: &[u8]) -> Option<Parsed> {
    Some(Parsed {
        id: u16_at(msg, 0)?,
        rcode: (u16_at(msg, 2)? & 0x0f) as u8,
        tc: u16_at(msg, 2)? & 0x0200 != 0,
        answers: usize::from(u16_at(msg, 6)?),
    })
}

/// A query message (RD set, no EDNS), for probing a server.
pub fn build_query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&0x0100u16.to_be_bytes());
    out.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
    put_name(&mut out, name);
    out.extend_from_slice(&qtype.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    out
}

// ----- a zone --------------------------------------------------------------

/// A small authoritative zone: names with A, AAAA and CNAME records. Names
/// not in it get NXDOMAIN, names without the type asked NODATA, both with
/// an SOA whose TTL and MINIMUM are `negative_ttl`.
#[derive(Debug, Clone)]
pub struct Zone {
    pub records: Vec<Rr>,
    pub negative_ttl: u32,
}

impl Zone {
    pub fn new() -> Zone {
        Zone {
            records: Vec::new(),
            negative_ttl: 60,
        }
    }
    pub fn a(mut self, name: &str, ip: &str, ttl: u32) -> Zone {
        self.records.push(Rr {
            name: name.to_owned(),
            ttl,
            data: RData::A(ip.parse().unwrap()),
        });
        self
    }
    pub fn aaaa(mut self, name: &str, ip: &str, ttl: u32) -> Zone {
        self.records.push(Rr {
            name: name.to_owned(),
            ttl,
            data: RData::Aaaa(ip.parse().unwrap()),
        });
        self
    }
    pub fn cname(mut self, name: &str, target: &str, ttl: u32) -> Zone {
        self.records.push(Rr {
            name: name.to_owned(),
            ttl,
            data: RData::Cname(target.to_owned()),
        });
        self
    }
    pub fn negative_ttl(mut self, ttl: u32) -> Zone {
        self.negative_ttl = ttl;
        self
    }

    fn has(&self, name: &str) -> bool {
        self.records
            .iter()
            .any(|r| r.name.eq_ignore_ascii_case(name))
    }

    /// The answer a real server would give to `q`.
    pub fn answer(&self, q: &Query) -> Reply {
        let mut reply = q.reply().aa();
        let mut current = q.name.clone();
        for _ in 0..16 {
            let cname = self.records.iter().find(|r| {
                r.name.eq_ignore_ascii_case(&current) && matches!(r.data, RData::Cname(_))
            });
            match cname {
                Some(rr) if q.qtype != CNAME => {
                    let RData::Cname(target) = &rr.data else {
                        unreachable!()
                    };
                    reply.answers.push(rr.clone());
                    current = target.clone();
                }
                _ => break,
            }
        }
        if !self.has(&current) {
            return reply
                .rcode(NXDOMAIN)
                .soa("test", self.negative_ttl, self.negative_ttl);
        }
        let before = reply.answers.len();
        for rr in &self.records {
            let t = match rr.data {
                RData::A(_) => A,
                RData::Aaaa(_) => AAAA,
                RData::Cname(_) => CNAME,
                RData::Soa { .. } => SOA,
            };
            if t == q.qtype && rr.name.eq_ignore_ascii_case(&current) {
                reply.answers.push(rr.clone());
            }
        }
        if reply.answers.len() == before {
            // NODATA (after the chain, if any): the SOA says for how long.
            return reply.soa("test", self.negative_ttl, self.negative_ttl);
        }
        reply
    }

    /// A script that answers every query from the zone, in an order that
    /// keeps the client's trace deterministic under Happy Eyeballs (RFC
    /// 8305): answers without addresses at once, A addresses after 5 ms,
    /// AAAA addresses after 20 ms (within the client's 50 ms resolution
    /// delay). So the lookup is over before any connection attempt ends,
    /// and the AAAA address is still tried first.
    pub fn script(self) -> impl Fn(&Query) -> Vec<Act> + Send + Sync + 'static {
        move |q| {
            let reply = self.answer(q);
            let has_addrs = reply
                .answers
                .iter()
                .any(|rr| matches!(rr.data, RData::A(_) | RData::Aaaa(_)));
            let delay = match (has_addrs, q.qtype) {
                (false, _) => 0,
                (true, AAAA) => 20,
                (true, _) => 5,
            };
            let mut acts = Vec::new();
            if delay > 0 {
                acts.push(Act::Sleep(Duration::from_millis(delay)));
            }
            acts.push(Act::Send(reply.bytes()));
            acts
        }
    }

    /// A script that answers every query from the zone at once.
    pub fn script_now(self) -> impl Fn(&Query) -> Vec<Act> + Send + Sync + 'static {
        move |q| vec![Act::Send(self.answer(q).bytes())]
    }
}

impl Default for Zone {
    fn default() -> Zone {
        Zone::new()
    }
}

// ----- the server ------------------------------------------------------------

/// One step of the server's reaction to a query.
#[derive(Debug, Clone)]
pub enum Act {
    /// UDP: one datagram back to the sender. TCP: one message, with its
    /// two-byte length.
    Send(Vec<u8>),
    /// UDP: a datagram from another socket (another source port). TCP:
    /// ignored.
    SendFromOtherPort(Vec<u8>),
    /// Bytes as they are (TCP: no framing added; UDP: one datagram).
    Raw(Vec<u8>),
    /// Waits before the next act.
    Sleep(Duration),
    /// TCP: closes the connection. UDP: ignored.
    Close,
}

/// How a server reacts to each query.
pub type Script = Arc<dyn Fn(&Query) -> Vec<Act> + Send + Sync>;

/// A scriptable DNS server on 127.0.0.1 (see the module docs).
pub struct DnsServer {
    pub addr: SocketAddr,
    queries: Arc<Mutex<Vec<Query>>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl DnsServer {
    /// UDP and TCP on one port of 127.0.0.1.
    pub fn start(script: impl Fn(&Query) -> Vec<Act> + Send + Sync + 'static) -> DnsServer {
        Self::start_with(Arc::new(script), true, "127.0.0.1")
    }

    /// UDP and TCP on one port of [::1].
    pub fn start_v6(script: impl Fn(&Query) -> Vec<Act> + Send + Sync + 'static) -> DnsServer {
        Self::start_with(Arc::new(script), true, "::1")
    }

    /// UDP only: TCP connections to its port are refused.
    pub fn start_udp_only(
        script: impl Fn(&Query) -> Vec<Act> + Send + Sync + 'static,
    ) -> DnsServer {
        Self::start_with(Arc::new(script), false, "127.0.0.1")
    }

    fn start_with(script: Script, with_tcp: bool, ip: &str) -> DnsServer {
        let (udp, tcp) = bind_pair(with_tcp, ip);
        // Bound here, not on the server's thread, so that every socket of
        // the server exists once `start` returns (tests count descriptors).
        let other = UdpSocket::bind((udp.local_addr().unwrap().ip(), 0)).unwrap();
        let addr = udp.local_addr().unwrap();
        let queries = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        {
            let (script, queries, stop) = (script.clone(), queries.clone(), stop.clone());
            threads.push(std::thread::spawn(move || {
                udp_loop(udp, other, script, queries, stop)
            }));
        }
        if let Some(listener) = tcp {
            let (queries, stop) = (queries.clone(), stop.clone());
            threads.push(std::thread::spawn(move || {
                tcp_loop(listener, script, queries, stop)
            }));
        }
        DnsServer {
            addr,
            queries,
            stop,
            threads,
        }
    }

    /// Every query received so far, in order.
    pub fn queries(&self) -> Vec<Query> {
        self.queries.lock().unwrap().clone()
    }

    /// How many queries arrived.
    pub fn count(&self) -> usize {
        self.queries.lock().unwrap().len()
    }

    /// `(lowercased name, type, "udp"/"tcp")` of every query, in order.
    pub fn summary(&self) -> Vec<(String, String, &'static str)> {
        self.queries()
            .iter()
            .map(|q| (q.lname(), q.type_name(), if q.tcp { "tcp" } else { "udp" }))
            .collect()
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// A UDP socket on 127.0.0.1 and, if asked, a TCP listener on the same
/// port number.
fn bind_pair(with_tcp: bool, ip: &str) -> (UdpSocket, Option<TcpListener>) {
    let ip: IpAddr = ip.parse().unwrap();
    assert!(ip.is_loopback(), "test servers stay on loopback");
    for _ in 0..50 {
        let udp = UdpSocket::bind((ip, 0)).unwrap();
        if !with_tcp {
            return (udp, None);
        }
        let port = udp.local_addr().unwrap().port();
        if let Ok(l) = TcpListener::bind((ip, port)) {
            return (udp, Some(l));
        }
    }
    panic!("no port free for both UDP and TCP on {ip}");
}

fn record(queries: &Mutex<Vec<Query>>, mut q: Query) -> Query {
    let mut all = queries.lock().unwrap();
    q.seq = all.len();
    q.nth = all
        .iter()
        .filter(|o| o.qtype == q.qtype && o.tcp == q.tcp && o.name.eq_ignore_ascii_case(&q.name))
        .count();
    all.push(q.clone());
    q
}

fn udp_loop(
    sock: UdpSocket,
    other: UdpSocket,
    script: Script,
    queries: Arc<Mutex<Vec<Query>>>,
    stop: Arc<AtomicBool>,
) {
    sock.set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let give_up = Instant::now() + GIVE_UP;
    let mut buf = vec![0u8; 65536];
    while !stop.load(Ordering::SeqCst) && Instant::now() < give_up {
        let (n, from) = match sock.recv_from(&mut buf) {
            Ok(x) => x,
            Err(_) => continue,
        };
        let Some(q) = parse_query(&buf[..n], false, from) else {
            continue;
        };
        let q = record(&queries, q);
        let acts = script(&q);
        if acts.is_empty() {
            continue;
        }
        // Each query's acts run on their own thread, so a late answer to
        // one query does not hold up the others.
        let (sock, other) = (sock.try_clone().unwrap(), other.try_clone().unwrap());
        std::thread::spawn(move || {
            for act in acts {
                match act {
                    Act::Send(b) | Act::Raw(b) => {
                        let _ = sock.send_to(&b, from);
                    }
                    Act::SendFromOtherPort(b) => {
                        let _ = other.send_to(&b, from);
                    }
                    Act::Sleep(d) => std::thread::sleep(d),
                    Act::Close => {}
                }
            }
        });
    }
}

fn tcp_loop(
    listener: TcpListener,
    script: Script,
    queries: Arc<Mutex<Vec<Query>>>,
    stop: Arc<AtomicBool>,
) {
    listener.set_nonblocking(true).unwrap();
    let give_up = Instant::now() + GIVE_UP;
    while !stop.load(Ordering::SeqCst) && Instant::now() < give_up {
        match listener.accept() {
            Ok((s, from)) => {
                let (script, queries, stop) = (script.clone(), queries.clone(), stop.clone());
                std::thread::spawn(move || tcp_conn(s, from, script, queries, stop));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

fn tcp_conn(
    mut s: TcpStream,
    from: SocketAddr,
    script: Script,
    queries: Arc<Mutex<Vec<Query>>>,
    stop: Arc<AtomicBool>,
) {
    s.set_nonblocking(false).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(3))).unwrap();
    s.set_nodelay(true).unwrap();
    while !stop.load(Ordering::SeqCst) {
        let mut len = [0u8; 2];
        if s.read_exact(&mut len).is_err() {
            return;
        }
        let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
        if s.read_exact(&mut msg).is_err() {
            return;
        }
        let Some(q) = parse_query(&msg, true, from) else {
            return;
        };
        let q = record(&queries, q);
        for act in script(&q) {
            match act {
                Act::Send(b) => {
                    let mut framed = (b.len() as u16).to_be_bytes().to_vec();
                    framed.extend_from_slice(&b);
                    if s.write_all(&framed).is_err() {
                        return;
                    }
                }
                Act::Raw(b) => {
                    if s.write_all(&b).is_err() {
                        return;
                    }
                }
                Act::SendFromOtherPort(_) => {}
                Act::Sleep(d) => std::thread::sleep(d),
                Act::Close => return,
            }
        }
    }
}

// ----- the trace, typed ------------------------------------------------------

/// One DNS-related trace event.
#[derive(Debug, Clone, PartialEq)]
pub enum Dns {
    Start {
        host: String,
    },
    QueryStart {
        server: SocketAddr,
        qtype: &'static str,
        transport: &'static str,
    },
    QueryDone {
        server: SocketAddr,
        qtype: &'static str,
        transport: &'static str,
        rcode: Option<&'static str>,
        error: Option<String>,
        answers: usize,
        truncated: bool,
    },
    Done {
        addrs: Vec<IpAddr>,
        coalesced: bool,
        /// The error's kind, `Debug`-printed.
        error: Option<String>,
    },
    /// A connect_done: the address and whether it failed.
    ConnectDone {
        addr: SocketAddr,
        failed: bool,
    },
    /// Any other event, by name.
    Other(&'static str),
}

impl Dns {
    pub fn name(&self) -> &'static str {
        match self {
            Dns::Start { .. } => "dns_start",
            Dns::QueryStart { .. } => "dns_query_start",
            Dns::QueryDone { .. } => "dns_query_done",
            Dns::Done { .. } => "dns_done",
            Dns::ConnectDone { .. } => "connect_done",
            Dns::Other(n) => n,
        }
    }
}

/// Events with the id of the request they belong to.
type Tagged = Arc<Mutex<Vec<(Option<u64>, Dns)>>>;

/// Records the DNS events (and the rest by name) with their request id,
/// and every event as a JSON line for failure messages.
#[derive(Clone, Default)]
pub struct DnsLog {
    evs: Tagged,
    json: Arc<Mutex<Vec<String>>>,
}

impl DnsLog {
    pub fn new() -> DnsLog {
        DnsLog::default()
    }

    pub fn trace(&self) -> Trace {
        let (evs, json) = (self.evs.clone(), self.json.clone());
        let start = Instant::now();
        Trace::new().on_event(move |e: &Event<'_>| {
            let mut line = String::new();
            roundtrip::trace::write_json(e, start, &mut line);
            json.lock().unwrap().push(line);
            let ev = match &e.kind {
                EventKind::DnsStart { host } => Dns::Start {
                    host: (*host).to_owned(),
                },
                EventKind::DnsQueryStart {
                    server,
                    qtype,
                    transport,
                } => Dns::QueryStart {
                    server: *server,
                    qtype,
                    transport,
                },
                EventKind::DnsQueryDone {
                    server,
                    qtype,
                    transport,
                    rcode,
                    error,
                    answers,
                    truncated,
                } => Dns::QueryDone {
                    server: *server,
                    qtype,
                    transport,
                    rcode: *rcode,
                    error: error.map(str::to_owned),
                    answers: *answers,
                    truncated: *truncated,
                },
                EventKind::DnsDone {
                    addrs,
                    coalesced,
                    error,
                } => Dns::Done {
                    addrs: addrs.to_vec(),
                    coalesced: *coalesced,
                    error: error.map(|e| format!("{:?}", e.kind())),
                },
                EventKind::ConnectDone { addr, error, .. } => Dns::ConnectDone {
                    addr: *addr,
                    failed: error.is_some(),
                },
                other => Dns::Other(other.name()),
            };
            evs.lock().unwrap().push((e.req.map(|r| r.0), ev));
        })
    }

    /// Every event, in order.
    pub fn all(&self) -> Vec<Dns> {
        self.evs
            .lock()
            .unwrap()
            .iter()
            .map(|(_, e)| e.clone())
            .collect()
    }

    /// The events of one request.
    pub fn of(&self, req: u64) -> Vec<Dns> {
        self.evs
            .lock()
            .unwrap()
            .iter()
            .filter(|(r, _)| *r == Some(req))
            .map(|(_, e)| e.clone())
            .collect()
    }

    /// Only the four DNS events.
    pub fn dns(&self) -> Vec<Dns> {
        self.all()
            .into_iter()
            .filter(|e| e.name().starts_with("dns_"))
            .collect()
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.all().iter().map(Dns::name).collect()
    }

    pub fn count(&self, name: &str) -> usize {
        self.names().iter().filter(|n| **n == name).count()
    }

    /// Every `dns_query_done`.
    pub fn query_dones(&self) -> Vec<Dns> {
        self.all()
            .into_iter()
            .filter(|e| matches!(e, Dns::QueryDone { .. }))
            .collect()
    }

    /// The single `dns_done`: (addrs, coalesced, error).
    #[track_caller]
    pub fn done(&self) -> (Vec<IpAddr>, bool, Option<String>) {
        let dones: Vec<_> = self
            .all()
            .into_iter()
            .filter_map(|e| match e {
                Dns::Done {
                    addrs,
                    coalesced,
                    error,
                } => Some((addrs, coalesced, error)),
                _ => None,
            })
            .collect();
        assert_eq!(dones.len(), 1, "dns_done count:\n{}", self.dump());
        dones.into_iter().next().unwrap()
    }

    /// The JSON lines, one per event, for assertion messages.
    pub fn dump(&self) -> String {
        self.json.lock().unwrap().join("\n")
    }

    pub fn clear(&self) {
        self.evs.lock().unwrap().clear();
        self.json.lock().unwrap().clear();
    }
}

// ----- an HTTP server for the names to point at ----------------------------

/// The body every [`Http`] response carries.
pub const BODY: &str = "resolved ok\n";

/// A loopback HTTP server on 127.0.0.1 (and, if asked, on [::1] with the
/// same port number) that answers every connection's first request with
/// `200 OK` and [`BODY`] and closes it, so no request of a test reuses a
/// pooled connection and skips name resolution. Stops on drop, or after
/// 30 s.
pub struct Http {
    pub port: u16,
    accepted: Arc<Mutex<Vec<SocketAddr>>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Http {
    /// On 127.0.0.1 only.
    pub fn v4() -> Http {
        Http::start(false, Duration::ZERO)
    }

    /// On 127.0.0.1 and [::1], one port number.
    pub fn dual() -> Http {
        Http::start(true, Duration::ZERO)
    }

    /// Like [`Http::dual`], waiting `delay` before each response (so a
    /// lookup still running when the connection is made ends before the
    /// request does).
    pub fn dual_slow(delay: Duration) -> Http {
        Http::start(true, delay)
    }

    fn start(dual: bool, delay: Duration) -> Http {
        let mut listeners = Vec::new();
        for _ in 0..50 {
            let l4 = TcpListener::bind("127.0.0.1:0").unwrap();
            let port = l4.local_addr().unwrap().port();
            if !dual {
                listeners.push(l4);
                break;
            }
            if let Ok(l6) = TcpListener::bind(("::1", port)) {
                listeners.push(l4);
                listeners.push(l6);
                break;
            }
        }
        assert!(
            !listeners.is_empty(),
            "no port free on both 127.0.0.1 and ::1"
        );
        let port = listeners[0].local_addr().unwrap().port();
        let accepted = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let threads = listeners
            .into_iter()
            .map(|l| {
                let (accepted, stop) = (accepted.clone(), stop.clone());
                std::thread::spawn(move || http_loop(l, delay, accepted, stop))
            })
            .collect();
        Http {
            port,
            accepted,
            stop,
            threads,
        }
    }

    /// `http://{host}:{port}{path}`.
    pub fn url(&self, host: &str, path: &str) -> String {
        format!("http://{host}:{}{path}", self.port)
    }

    /// The local address of every accepted connection, in order.
    pub fn accepted(&self) -> Vec<SocketAddr> {
        self.accepted.lock().unwrap().clone()
    }
}

impl Drop for Http {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn http_loop(
    l: TcpListener,
    delay: Duration,
    accepted: Arc<Mutex<Vec<SocketAddr>>>,
    stop: Arc<AtomicBool>,
) {
    l.set_nonblocking(true).unwrap();
    let local = l.local_addr().unwrap();
    let give_up = Instant::now() + GIVE_UP;
    while !stop.load(Ordering::SeqCst) && Instant::now() < give_up {
        match l.accept() {
            Ok((mut s, _)) => {
                accepted.lock().unwrap().push(local);
                std::thread::spawn(move || {
                    s.set_nonblocking(false).unwrap();
                    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
                    if super::lo::read_req(&mut s).is_none() {
                        return;
                    }
                    std::thread::sleep(delay);
                    let response = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{BODY}",
                        BODY.len()
                    );
                    let _ = s.write_all(response.as_bytes());
                    let _ = s.shutdown(std::net::Shutdown::Write);
                    super::lo::wait_client_close(&mut s, Duration::from_secs(2));
                });
            }
            Err(_) => std::thread::sleep(Duration::from_millis(2)),
        }
    }
}

/// The loopback addresses tests resolve names to.
pub fn v4() -> IpAddr {
    IpAddr::V4(Ipv4Addr::LOCALHOST)
}

pub fn v6() -> IpAddr {
    IpAddr::V6(Ipv6Addr::LOCALHOST)
}

//! DNS messages for a stub resolver (RFC 1035 §4): building an A or AAAA
//! query with RD set (and an EDNS0 OPT record, RFC 6891 §6), and checking an
//! answer before trusting it — it must be a response with our id that echoes
//! our question (RFC 5452 §9.1); then following a CNAME chain inside the
//! answer (RFC 1034 §3.6.2) and reading the negative-caching TTL from the
//! SOA in the authority section (RFC 2308 §5).
//!
//! The codec is ours and reads only what a stub needs: names with
//! compression pointers that must point backwards (RFC 1035 §4.1.4), the
//! fixed fields of each record, and the RDATA of A, AAAA, CNAME and SOA;
//! other records are stepped over by their RDLENGTH. A TTL with its top bit
//! set counts as zero (RFC 2181 §8), and an OPT record's extended RCODE bits
//! are read (RFC 6891 §6.1.3).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

const HEADER_LEN: usize = 12;
const TYPE_A: u16 = 1;
const TYPE_CNAME: u16 = 5;
const TYPE_SOA: u16 = 6;
const TYPE_AAAA: u16 = 28;
const TYPE_OPT: u16 = 41;
const CLASS_IN: u16 = 1;
/// Flag bits in the header's third octet (RFC 1035 §4.1.1).
const QR: u8 = 0x80;
const TC: u8 = 0x02;
const RD: u8 = 0x01;
/// Octets in a name on the wire, the root's zero included (RFC 1035 §2.3.4).
const MAX_NAME: usize = 255;
const MAX_LABEL: usize = 63;

/// The record types a client asks for.
///
/// ```
/// use roundtrip::dns::QType;
///
/// assert_eq!(QType::Aaaa.as_str(), "AAAA");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QType {
    /// IPv4 addresses.
    A,
    /// IPv6 addresses.
    Aaaa,
}

impl QType {
    /// `"A"` or `"AAAA"`.
    pub fn as_str(self) -> &'static str {
        match self {
            QType::A => "A",
            QType::Aaaa => "AAAA",
        }
    }

    fn code(self) -> u16 {
        match self {
            QType::A => TYPE_A,
            QType::Aaaa => TYPE_AAAA,
        }
    }
}

/// The response code of an answer (RFC 1035 §4.1.1).
///
/// ```
/// use roundtrip::dns::Rcode;
///
/// assert_eq!(Rcode::NameError.as_str(), "NXDOMAIN");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rcode {
    /// NOERROR.
    NoError,
    /// FORMERR.
    FormatError,
    /// SERVFAIL.
    ServerFailure,
    /// NXDOMAIN.
    NameError,
    /// NOTIMP.
    NotImplemented,
    /// REFUSED.
    Refused,
    /// Anything else, by number.
    Other(u16),
}

impl Rcode {
    /// The mnemonic, as dig prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            Rcode::NoError => "NOERROR",
            Rcode::FormatError => "FORMERR",
            Rcode::ServerFailure => "SERVFAIL",
            Rcode::NameError => "NXDOMAIN",
            Rcode::NotImplemented => "NOTIMP",
            Rcode::Refused => "REFUSED",
            Rcode::Other(_) => "RCODE",
        }
    }

    fn from_wire(r: u16) -> Rcode {
        match r {
            0 => Rcode::NoError,
            1 => Rcode::FormatError,
            2 => Rcode::ServerFailure,
            3 => Rcode::NameError,
            4 => Rcode::NotImplemented,
            5 => Rcode::Refused,
            other => Rcode::Other(other),
        }
    }
}

/// A name that cannot be put in a query (RFC 1035 §2.3.4: labels of at
/// most 63 octets, names of at most 255).
///
/// ```
/// use roundtrip::dns::{wire::{build_query, InvalidName}, QType};
///
/// assert_eq!(build_query(1, "a..b", QType::A, None), Err(InvalidName)); // empty label
/// assert_eq!(build_query(1, &"x".repeat(64), QType::A, None), Err(InvalidName)); // label > 63
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidName;

/// Builds a recursive query for `name` (without the trailing dot).
///
/// ```
/// use roundtrip::dns::{wire::build_query, QType};
///
/// let query = build_query(0xbeef, "example.com", QType::A, None).unwrap();
/// assert_eq!(query[..4], [0xbe, 0xef, 0x01, 0x00]); // ID; flags: RD only
/// assert_eq!(query[4..12], [0, 1, 0, 0, 0, 0, 0, 0]); // one question, no records
/// // QNAME as length-prefixed labels, QTYPE A (1), QCLASS IN (1).
/// assert_eq!(query[12..], *b"\x07example\x03com\x00\x00\x01\x00\x01");
///
/// // With EDNS0, an OPT record in the additional section (ARCOUNT 1).
/// let query = build_query(0xbeef, "example.com", QType::Aaaa, Some(1232)).unwrap();
/// assert_eq!(query[10..12], [0, 1]);
/// ```
pub fn build_query(
    id: u16,
    name: &str,
    qtype: QType,
    edns_payload: Option<u16>,
) -> Result<Vec<u8>, InvalidName> {
    if name.is_empty() || name.len() > MAX_NAME - 2 || !name.split('.').all(host_label) {
        return Err(InvalidName);
    }
    let mut query = Vec::with_capacity(HEADER_LEN + name.len() + 2 + 4 + 11);
    query.extend_from_slice(&id.to_be_bytes());
    query.extend_from_slice(&[RD, 0]);
    // QDCOUNT 1, ANCOUNT 0, NSCOUNT 0, ARCOUNT 1 with an OPT record.
    query.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, u8::from(edns_payload.is_some())]);
    for label in name.split('.') {
        query.push(label.len() as u8);
        query.extend_from_slice(label.as_bytes());
    }
    query.push(0);
    query.extend_from_slice(&qtype.code().to_be_bytes());
    query.extend_from_slice(&CLASS_IN.to_be_bytes());
    if let Some(size) = edns_payload {
        // Root owner, TYPE OPT, CLASS the payload size we can take, TTL 0
        // (extended RCODE 0, version 0, no DO bit), no options.
        query.push(0);
        query.extend_from_slice(&TYPE_OPT.to_be_bytes());
        query.extend_from_slice(&size.to_be_bytes());
        query.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    }
    Ok(query)
}

/// A label we put in a query: a host name's letters, digits and inner
/// hyphens (RFC 1123 §2.1), with `_` allowed as for service labels
/// (RFC 2782); at most 63 octets.
fn host_label(label: &str) -> bool {
    let b = label.as_bytes();
    let (Some(&first), Some(&last)) = (b.first(), b.last()) else {
        return false;
    };
    b.len() <= MAX_LABEL
        && (first.is_ascii_alphanumeric() || first == b'_')
        && last.is_ascii_alphanumeric()
        && b.iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
}

/// Why a datagram was not accepted as the answer to a query. None of these
/// is fatal: the datagram is dropped and counted.
///
/// ```
/// use roundtrip::dns::wire::{build_query, parse_answer, Rejected};
/// use roundtrip::dns::QType;
///
/// let query = build_query(7, "example.com", QType::A, None).unwrap();
/// // Our own query is not an answer.
/// assert_eq!(parse_answer(&query, 7, "example.com", QType::A, 8), Err(Rejected::NotAResponse));
/// let mut reply = query.clone();
/// reply[2] |= 0x80; // QR
/// // Another transaction's answer (RFC 5452: a spoofing attempt, or late).
/// assert_eq!(parse_answer(&reply, 8, "example.com", QType::A, 8), Err(Rejected::IdMismatch));
/// // An answer to another question.
/// assert_eq!(parse_answer(&reply, 7, "example.org", QType::A, 8), Err(Rejected::QuestionMismatch));
/// assert_eq!(parse_answer(b"junk", 7, "example.com", QType::A, 8), Err(Rejected::Malformed));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejected {
    /// Not parseable as a DNS message.
    Malformed,
    /// A query, not a response.
    NotAResponse,
    /// Another transaction id.
    IdMismatch,
    /// The question section does not echo ours.
    QuestionMismatch,
}

/// A checked answer.
///
/// ```
/// use roundtrip::dns::wire::{build_query, parse_answer};
/// use roundtrip::dns::{QType, Rcode};
///
/// let query = build_query(7, "nope.example", QType::A, None).unwrap();
/// let mut reply = query.clone();
/// reply[2] |= 0x80; // QR
/// reply[3] = 3; // RCODE 3: NXDOMAIN
/// let answer = parse_answer(&reply, 7, "nope.example", QType::A, 8).unwrap();
/// assert_eq!(answer.rcode, Rcode::NameError);
/// assert!(answer.addrs.is_empty());
/// assert_eq!(answer.negative_ttl, None); // no SOA in the authority section
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The response code.
    pub rcode: Rcode,
    /// The TC bit: the answer did not fit (RFC 1035 §4.1.1).
    pub truncated: bool,
    /// Addresses of the queried type at the end of the CNAME chain.
    pub addrs: Vec<IpAddr>,
    /// Smallest TTL among the records used (the chain and the addresses).
    pub ttl: u32,
    /// For NXDOMAIN and NODATA: how long the absence may be cached, from
    /// the authority SOA (min of its TTL and MINIMUM, RFC 2308 §5).
    pub negative_ttl: Option<u32>,
    /// Records in the answer section.
    pub answer_count: usize,
    /// The CNAME chain looped or was longer than allowed.
    pub cname_error: bool,
}

/// A name as it is on the wire without compression — length-prefixed
/// labels ending in the root's zero — lower-cased: names compare label by
/// label (RFC 1035 §2.3.3, case-insensitively, RFC 4343), so a label holding
/// a dot never passes for two labels as it would in a display string.
#[derive(Clone, Copy)]
struct WireName {
    octets: [u8; MAX_NAME],
    len: usize,
}

impl WireName {
    fn as_bytes(&self) -> &[u8] {
        &self.octets[..self.len]
    }

    /// Appends one label, or the root's zero for an empty one; `None` when
    /// the name would pass 255 octets.
    fn push(&mut self, label: &[u8]) -> Option<()> {
        let end = self.len + 1 + label.len();
        if label.len() > MAX_LABEL || end > MAX_NAME {
            return None;
        }
        self.octets[self.len] = label.len() as u8;
        for (to, from) in self.octets[self.len + 1..end].iter_mut().zip(label) {
            *to = from.to_ascii_lowercase();
        }
        self.len = end;
        Some(())
    }

    /// The name the caller asked for (a trailing dot allowed); `None` for a
    /// name no answer can echo.
    fn of_str(name: &str) -> Option<WireName> {
        let mut wire = WireName {
            octets: [0; MAX_NAME],
            len: 0,
        };
        for label in name.strip_suffix('.').unwrap_or(name).split('.') {
            if label.is_empty() {
                return None;
            }
            wire.push(label.as_bytes())?;
        }
        wire.push(b"")?;
        Some(wire)
    }
}

impl PartialEq for WireName {
    fn eq(&self, other: &WireName) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

/// Reads the name at `at`, following compression pointers; returns it and
/// the offset just past it where it starts (not where a pointer led).
///
/// A pointer must point before itself (RFC 1035 §4.1.4 speaks of a "prior
/// occurance"), and the name may not pass 255 octets, so every name read
/// ends: the only way to revisit an offset is to collect labels on the way.
fn read_name(msg: &[u8], mut at: usize) -> Option<(WireName, usize)> {
    let mut name = WireName {
        octets: [0; MAX_NAME],
        len: 0,
    };
    let mut end = None;
    loop {
        let len = *msg.get(at)?;
        match len & 0xc0 {
            0 if len == 0 => {
                name.push(b"")?;
                return Some((name, end.unwrap_or(at + 1)));
            }
            0 => {
                let label = msg.get(at + 1..at + 1 + usize::from(len))?;
                name.push(label)?;
                at += 1 + usize::from(len);
            }
            0xc0 => {
                let target = usize::from(u16::from_be_bytes([len & 0x3f, *msg.get(at + 1)?]));
                if target >= at {
                    return None;
                }
                end.get_or_insert(at + 2);
                at = target;
            }
            // 0x40 and 0x80: extended label types (RFC 6891 §5), never in
            // an answer to a query that does not use them.
            _ => return None,
        }
    }
}

fn u16_at(msg: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(msg.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(msg: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(msg.get(at..at + 4)?.try_into().ok()?))
}

/// One resource record (RFC 1035 §4.1.3).
struct Record {
    name: WireName,
    rtype: u16,
    class: u16,
    /// The raw TTL field: for OPT it holds the extended RCODE and flags.
    ttl_field: u32,
    data: Rdata,
}

/// The RDATA of the types a stub reads, decoded once when the record is
/// read; any other type's is stepped over.
// Records live only in the short vectors of one parse, so a CNAME's 256
// octets inline cost less than an allocation for each.
#[allow(clippy::large_enum_variant)]
enum Rdata {
    Addr(IpAddr),
    Cname(WireName),
    /// A SOA's MINIMUM field (RFC 1035 §3.3.13).
    SoaMinimum(u32),
    Other,
}

impl Record {
    /// The TTL, a value with the top bit set counting as zero (RFC 2181 §8).
    fn ttl(&self) -> u32 {
        if self.ttl_field > i32::MAX as u32 {
            0
        } else {
            self.ttl_field
        }
    }

    /// The record at `at` and the offset past it; `None` when it does not
    /// fit in the message or its RDATA is not what its type says (an
    /// address of the wrong length; a CNAME target, or a SOA's two names
    /// and five numbers, that do not fill the RDATA exactly).
    fn read(msg: &[u8], at: usize) -> Option<(Record, usize)> {
        let (name, at) = read_name(msg, at)?;
        let rtype = u16_at(msg, at)?;
        let class = u16_at(msg, at + 2)?;
        let ttl_field = u32_at(msg, at + 4)?;
        let start = at + 10;
        let end = start + usize::from(u16_at(msg, at + 8)?);
        let rdata = msg.get(start..end)?;
        let data = match rtype {
            TYPE_A => Rdata::Addr(IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(rdata).ok()?))),
            TYPE_AAAA => Rdata::Addr(IpAddr::V6(Ipv6Addr::from(
                <[u8; 16]>::try_from(rdata).ok()?,
            ))),
            TYPE_CNAME => {
                let (target, after) = read_name(msg, start)?;
                (after == end).then_some(Rdata::Cname(target))?
            }
            TYPE_SOA => {
                let (_, at) = read_name(msg, start)?;
                let (_, at) = read_name(msg, at)?;
                (at + 20 == end).then_some(Rdata::SoaMinimum(u32_at(msg, at + 16)?))?
            }
            _ => Rdata::Other,
        };
        let rec = Record {
            name,
            rtype,
            class,
            ttl_field,
            data,
        };
        Some((rec, end))
    }
}

/// Reads `count` records from `at`: the records and the offset past them,
/// or `None` if one of them does not parse.
fn read_section(msg: &[u8], mut at: usize, count: u16) -> Option<(Vec<Record>, usize)> {
    let mut records = Vec::with_capacity(usize::from(count).min(16));
    for _ in 0..count {
        let (rec, next) = Record::read(msg, at)?;
        records.push(rec);
        at = next;
    }
    Some((records, at))
}

/// Checks `data` against the query (`id`, `name`, `qtype`) and reads it.
///
/// ```
/// use std::net::IpAddr;
/// use roundtrip::dns::wire::{build_query, parse_answer};
/// use roundtrip::dns::{QType, Rcode};
///
/// let query = build_query(7, "example.com", QType::A, None).unwrap();
/// let mut reply = query.clone();
/// reply[2] |= 0x80; // QR: a response
/// reply[7] = 1; // ANCOUNT
/// // Name (a pointer to the question's), TYPE A, CLASS IN, TTL 60, RDATA.
/// reply.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]);
///
/// let answer = parse_answer(&reply, 7, "example.com", QType::A, 8).unwrap();
/// assert_eq!(answer.rcode, Rcode::NoError);
/// assert_eq!(answer.addrs, ["192.0.2.1".parse::<IpAddr>().unwrap()]);
/// assert_eq!((answer.ttl, answer.answer_count, answer.truncated), (60, 1, false));
/// ```
pub fn parse_answer(
    data: &[u8],
    id: u16,
    name: &str,
    qtype: QType,
    max_cname_chain: usize,
) -> Result<Answer, Rejected> {
    // The header is checked before anything else is read, so a spoofed or
    // stray datagram costs little.
    if data.len() < HEADER_LEN {
        return Err(Rejected::Malformed);
    }
    if u16::from_be_bytes([data[0], data[1]]) != id {
        return Err(Rejected::IdMismatch);
    }
    if data[2] & QR == 0 {
        return Err(Rejected::NotAResponse);
    }
    let truncated = data[2] & TC != 0;
    let count = |i: usize| u16::from_be_bytes([data[i], data[i + 1]]);
    let (qdcount, ancount, nscount, arcount) = (count(4), count(6), count(8), count(10));
    let header_rcode = u16::from(data[3] & 0x0f);

    let empty = |rcode| Answer {
        rcode,
        truncated,
        addrs: Vec::new(),
        ttl: 0,
        negative_ttl: None,
        answer_count: 0,
        cname_error: false,
    };
    if qdcount == 0 && header_rcode == 1 {
        // A server that could not parse the query (often: not its OPT
        // record, RFC 6891 §7) may have no question to echo. Taken with the
        // id alone it can only make the resolver ask again, never supply
        // an address.
        return Ok(empty(Rcode::FormatError));
    }
    if qdcount != 1 {
        return Err(Rejected::QuestionMismatch);
    }
    let (qname, at) = read_name(data, HEADER_LEN).ok_or(Rejected::Malformed)?;
    let (Some(qt), Some(qclass)) = (u16_at(data, at), u16_at(data, at + 2)) else {
        return Err(Rejected::Malformed);
    };
    let queried = WireName::of_str(name);
    if qt != qtype.code() || qclass != CLASS_IN || queried.as_ref() != Some(&qname) {
        return Err(Rejected::QuestionMismatch);
    }
    let at = at + 4;

    let sections = (|| {
        let (answers, at) = read_section(data, at, ancount)?;
        let (authority, at) = read_section(data, at, nscount)?;
        let (additional, _) = read_section(data, at, arcount)?;
        Some((answers, authority, additional))
    })();
    let Some((answers, authority, additional)) = sections else {
        // A truncated answer may stop mid-record (RFC 2181 §9): it is
        // asked again over TCP, so only its header matters.
        if truncated {
            return Ok(empty(Rcode::from_wire(header_rcode)));
        }
        return Err(Rejected::Malformed);
    };
    // The OPT record carries the upper eight bits of a 12-bit RCODE.
    let rcode = match additional.iter().find(|r| r.rtype == TYPE_OPT) {
        Some(opt) => Rcode::from_wire(((opt.ttl_field >> 24) as u16) << 4 | header_rcode),
        None => Rcode::from_wire(header_rcode),
    };

    // Follow the chain from the queried name (RFC 1034 §3.6.2).
    let mut current = qname;
    let mut ttl = u32::MAX;
    let mut cname_error = false;
    let mut hops = 0;
    while let Some((rr, next)) = answers.iter().find_map(|rr| match &rr.data {
        Rdata::Cname(target) if rr.class == CLASS_IN && rr.name == current => Some((rr, *target)),
        _ => None,
    }) {
        hops += 1;
        if hops > max_cname_chain || next == qname {
            cname_error = true;
            break;
        }
        ttl = ttl.min(rr.ttl());
        current = next;
    }
    let mut addrs = Vec::new();
    if !cname_error {
        for rr in &answers {
            if rr.class != CLASS_IN || rr.name != current {
                continue;
            }
            let addr = match (&rr.data, qtype) {
                (Rdata::Addr(a @ IpAddr::V4(_)), QType::A)
                | (Rdata::Addr(a @ IpAddr::V6(_)), QType::Aaaa) => *a,
                _ => continue,
            };
            ttl = ttl.min(rr.ttl());
            if !addrs.contains(&addr) {
                addrs.push(addr);
            }
        }
    }
    let negative_ttl = authority.iter().find_map(|rr| match rr.data {
        Rdata::SoaMinimum(minimum) => Some(rr.ttl().min(minimum)),
        _ => None,
    });
    Ok(Answer {
        rcode,
        truncated,
        addrs,
        ttl: if ttl == u32::MAX { 0 } else { ttl },
        negative_ttl,
        answer_count: answers.len(),
        cname_error,
    })
}

#[cfg(test)]
pub(crate) mod testing {
    //! Answers built for tests, with simple-dns as the server would.
    use super::*;
    use simple_dns::rdata::{RData, A, AAAA, CNAME, SOA};
    pub use simple_dns::RCODE;
    use simple_dns::{Name, Packet, PacketFlag, ResourceRecord, CLASS};

    /// One record of an answer section.
    pub enum Rec<'a> {
        A(&'a str, &'static str, u32),
        Aaaa(&'a str, &'static str, u32),
        Cname(&'a str, &'a str, u32),
    }

    /// An answer to `query` with the given records, rcode, TC bit and an
    /// optional SOA (ttl, minimum) in the authority section.
    pub fn answer(
        query: &[u8],
        recs: &[Rec<'_>],
        rcode: RCODE,
        tc: bool,
        soa: Option<(u32, u32)>,
    ) -> Vec<u8> {
        let q = Packet::parse(query).unwrap();
        let mut p = Packet::new_reply(q.id());
        p.questions = q.questions.clone();
        *p.rcode_mut() = rcode;
        if tc {
            p.set_flags(PacketFlag::TRUNCATION);
        }
        for r in recs {
            let (name, ttl, rdata) = match r {
                Rec::A(n, a, t) => (
                    *n,
                    *t,
                    RData::A(A {
                        address: a.parse::<Ipv4Addr>().unwrap().into(),
                    }),
                ),
                Rec::Aaaa(n, a, t) => (
                    *n,
                    *t,
                    RData::AAAA(AAAA {
                        address: a.parse::<Ipv6Addr>().unwrap().into(),
                    }),
                ),
                Rec::Cname(n, c, t) => (*n, *t, RData::CNAME(CNAME(Name::new_unchecked(c)))),
            };
            p.answers.push(ResourceRecord::new(
                Name::new_unchecked(name),
                CLASS::IN,
                ttl,
                rdata,
            ));
        }
        if let Some((ttl, minimum)) = soa {
            let rdata = RData::SOA(SOA {
                mname: Name::new_unchecked("ns.test"),
                rname: Name::new_unchecked("admin.test"),
                serial: 1,
                refresh: 3600,
                retry: 600,
                expire: 86400,
                minimum,
            });
            p.name_servers.push(ResourceRecord::new(
                Name::new_unchecked("test"),
                CLASS::IN,
                ttl,
                rdata,
            ));
        }
        p.build_bytes_vec().unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{answer, Rec, RCODE};
    use super::*;
    use simple_dns::{Packet, PacketFlag, QTYPE, TYPE};

    fn q(name: &str, t: QType) -> Vec<u8> {
        build_query(0xbeef, name, t, Some(1232)).unwrap()
    }

    #[test]
    fn query_round_trips() {
        let bytes = q("www.example.test", QType::Aaaa);
        let p = Packet::parse(&bytes).unwrap();
        assert_eq!(p.id(), 0xbeef);
        assert!(p.has_flags(PacketFlag::RECURSION_DESIRED));
        assert_eq!(p.questions[0].qtype, QTYPE::TYPE(TYPE::AAAA));
        assert_eq!(p.opt().unwrap().udp_packet_size, 1232);
    }

    #[test]
    fn formerr_without_a_question_is_read_and_nothing_else_is() {
        let query = q("old.test", QType::A);
        // The bare header of a server that could not parse the query.
        let mut header = query[..12].to_vec();
        header[2] |= 0x80;
        header[3] = 1; // FORMERR
        header[4..12].fill(0);
        let a = parse_answer(&header, 0xbeef, "old.test", QType::A, 8).unwrap();
        assert_eq!((a.rcode, a.answer_count), (Rcode::FormatError, 0));
        assert!(a.addrs.is_empty());
        // Another id is still another transaction.
        assert_eq!(
            parse_answer(&header, 0xbeee, "old.test", QType::A, 8),
            Err(Rejected::IdMismatch)
        );
        // Any other rcode without the question is not an answer to it.
        for rcode in [0, 2, 3] {
            header[3] = rcode;
            assert_eq!(
                parse_answer(&header, 0xbeef, "old.test", QType::A, 8),
                Err(Rejected::QuestionMismatch)
            );
        }
    }

    #[test]
    fn invalid_names_are_refused() {
        assert!(build_query(1, &"a".repeat(64), QType::A, None).is_err());
        assert!(build_query(1, "a..b", QType::A, None).is_err());
        assert!(build_query(1, &format!("{}.x", "a.".repeat(130)), QType::A, None).is_err());
    }

    #[test]
    fn cname_chain_is_followed_case_insensitively() {
        let query = q("www.example.test", QType::A);
        let data = answer(
            &query,
            &[
                Rec::Cname("WWW.example.test", "edge.cdn.test", 300),
                Rec::Cname("edge.cdn.test", "node.cdn.test", 60),
                Rec::A("node.cdn.test", "192.0.2.10", 30),
                Rec::A("node.cdn.test", "192.0.2.11", 40),
                Rec::A("unrelated.test", "192.0.2.99", 1),
            ],
            RCODE::NoError,
            false,
            None,
        );
        let a = parse_answer(&data, 0xbeef, "www.example.test", QType::A, 8).unwrap();
        assert_eq!(
            a.addrs,
            [
                "192.0.2.10".parse::<IpAddr>().unwrap(),
                "192.0.2.11".parse().unwrap()
            ]
        );
        assert_eq!(a.ttl, 30);
        assert!(!a.cname_error);
        assert_eq!(a.answer_count, 5);
    }

    #[test]
    fn cname_loops_and_long_chains_are_flagged() {
        let query = q("a.test", QType::A);
        let looped = answer(
            &query,
            &[
                Rec::Cname("a.test", "b.test", 5),
                Rec::Cname("b.test", "a.test", 5),
            ],
            RCODE::NoError,
            false,
            None,
        );
        assert!(
            parse_answer(&looped, 0xbeef, "a.test", QType::A, 8)
                .unwrap()
                .cname_error
        );
        let names: Vec<String> = (0..5).map(|i| format!("n{i}.test")).collect();
        let mut recs = vec![Rec::Cname("a.test", &names[0], 5)];
        for w in names.windows(2) {
            recs.push(Rec::Cname(&w[0], &w[1], 5));
        }
        let long = answer(&query, &recs, RCODE::NoError, false, None);
        assert!(
            parse_answer(&long, 0xbeef, "a.test", QType::A, 3)
                .unwrap()
                .cname_error
        );
        assert!(
            !parse_answer(&long, 0xbeef, "a.test", QType::A, 8)
                .unwrap()
                .cname_error
        );
    }

    #[test]
    fn a_label_containing_dots_is_not_several_labels() {
        // One 16-byte label "www.example.test" in the question: not ours.
        let msg = [
            0xbe, 0xef, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0, 16, b'w', b'w', b'w', b'.', b'e', b'x',
            b'a', b'm', b'p', b'l', b'e', b'.', b't', b'e', b's', b't', 0, 0, 1, 0, 1, 0xc0, 0x0c,
            0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 66,
        ];
        assert_eq!(
            parse_answer(&msg, 0xbeef, "www.example.test", QType::A, 8),
            Err(Rejected::QuestionMismatch)
        );
    }

    #[test]
    fn spoofs_are_rejected() {
        let query = q("a.test", QType::A);
        let good = answer(
            &query,
            &[Rec::A("a.test", "192.0.2.1", 5)],
            RCODE::NoError,
            false,
            None,
        );
        assert_eq!(
            parse_answer(&good, 0xbeee, "a.test", QType::A, 8),
            Err(Rejected::IdMismatch)
        );
        assert_eq!(
            parse_answer(&good, 0xbeef, "b.test", QType::A, 8),
            Err(Rejected::QuestionMismatch)
        );
        assert_eq!(
            parse_answer(&good, 0xbeef, "a.test", QType::Aaaa, 8),
            Err(Rejected::QuestionMismatch)
        );
        assert_eq!(
            parse_answer(&query, 0xbeef, "a.test", QType::A, 8),
            Err(Rejected::NotAResponse)
        );
        assert_eq!(
            parse_answer(&good[..20], 0xbeef, "a.test", QType::A, 8),
            Err(Rejected::Malformed)
        );
        assert_eq!(
            parse_answer(b"\xbe\xef", 0xbeef, "a.test", QType::A, 8),
            Err(Rejected::Malformed)
        );
        assert!(parse_answer(&good, 0xbeef, "A.TEST.", QType::A, 8).is_ok());
    }

    #[test]
    fn negative_answers_carry_the_soa_ttl() {
        let query = q("none.test", QType::Aaaa);
        let nx = answer(&query, &[], RCODE::NameError, false, Some((300, 60)));
        let a = parse_answer(&nx, 0xbeef, "none.test", QType::Aaaa, 8).unwrap();
        assert_eq!(
            (a.rcode, a.negative_ttl, a.addrs.len()),
            (Rcode::NameError, Some(60), 0)
        );
        let tc = answer(&query, &[], RCODE::NoError, true, None);
        assert!(
            parse_answer(&tc, 0xbeef, "none.test", QType::Aaaa, 8)
                .unwrap()
                .truncated
        );
    }

    /// The header and question of a response to `q("a.test", A)` without
    /// EDNS, with `ancount` answers to follow.
    fn reply_head(ancount: u8) -> Vec<u8> {
        let mut msg = build_query(0xbeef, "a.test", QType::A, None).unwrap();
        msg[2] |= 0x80;
        msg[7] = ancount;
        msg
    }

    fn parse(msg: &[u8]) -> Result<Answer, Rejected> {
        parse_answer(msg, 0xbeef, "a.test", QType::A, 8)
    }

    /// An A record owned by `name` (wire octets) with the given TTL.
    fn a_record(name: &[u8], ttl: u32, addr: [u8; 4]) -> Vec<u8> {
        let mut r = name.to_vec();
        r.extend_from_slice(&[0, 1, 0, 1]);
        r.extend_from_slice(&ttl.to_be_bytes());
        r.extend_from_slice(&[0, 4]);
        r.extend_from_slice(&addr);
        r
    }

    #[test]
    fn the_query_is_the_bytes_rfc_1035_gives() {
        let query = build_query(0x0102, "Ab.c_d-e.test", QType::Aaaa, Some(1232)).unwrap();
        let mut want = vec![1, 2, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1];
        want.extend_from_slice(b"\x02Ab\x05c_d-e\x04test\x00\x00\x1c\x00\x01");
        // OPT: root owner, TYPE 41, CLASS = payload size, TTL 0, RDLENGTH 0.
        want.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(query, want);
        // The other codec reads it back as the same question.
        let p = Packet::parse(&query).unwrap();
        assert_eq!(p.questions[0].qname.to_string(), "Ab.c_d-e.test");
    }

    #[test]
    fn names_outside_host_syntax_are_refused() {
        for bad in [
            "", "-a.test", "a-.test", "a b.test", "a.test.", ".a", "é.test", "a_",
        ] {
            assert_eq!(
                build_query(1, bad, QType::A, None),
                Err(InvalidName),
                "{bad:?}"
            );
        }
        for good in ["a", "_srv._tcp.a.test", "1.2.3.x", "x-y.test"] {
            assert!(build_query(1, good, QType::A, None).is_ok(), "{good:?}");
        }
        // 253 octets of text are 255 on the wire: the longest name there is.
        let longest = [
            "a".repeat(63),
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(61),
        ]
        .join(".");
        assert_eq!(longest.len(), 253);
        assert_eq!(
            build_query(1, &longest, QType::A, None).unwrap().len(),
            12 + 255 + 4
        );
        assert!(build_query(1, &format!("{longest}e"), QType::A, None).is_err());
    }

    #[test]
    fn compression_pointers_must_point_backwards() {
        // A pointer to the question's name (offset 12) is fine.
        let mut ok = reply_head(1);
        ok.extend(a_record(&[0xc0, 12], 60, [192, 0, 2, 1]));
        assert_eq!(parse(&ok).unwrap().addrs.len(), 1);

        let at = reply_head(1).len();
        for (why, owner) in [
            ("to itself", vec![0xc0 | (at >> 8) as u8, at as u8]),
            ("forwards", vec![0xc0, (at + 2) as u8]),
            ("past the end", vec![0xff, 0xff]),
            ("cut short", vec![0xc0]),
            ("extended label type", vec![0x41, 0]),
            ("reserved label type", vec![0x80, 0]),
        ] {
            let mut msg = reply_head(1);
            msg.extend(a_record(&owner, 60, [192, 0, 2, 1]));
            assert_eq!(parse(&msg), Err(Rejected::Malformed), "a pointer {why}");
        }
    }

    #[test]
    fn a_name_looping_through_pointers_ends_at_255_octets() {
        // A label "x", then a pointer back to that label: each pass adds two
        // octets to the name, until it would pass 255.
        let mut msg = reply_head(1);
        let start = msg.len();
        msg.extend_from_slice(&[1, b'x', 0xc0, start as u8]);
        msg.extend_from_slice(&[0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]);
        assert_eq!(parse(&msg), Err(Rejected::Malformed));
    }

    #[test]
    fn records_of_other_types_are_stepped_over() {
        let mut msg = reply_head(2);
        // A TXT record (type 16) first, then the address.
        msg.extend_from_slice(&[0xc0, 12, 0, 16, 0, 1, 0, 0, 0, 60, 0, 7]);
        msg.extend_from_slice(b"\x06loop\xc0\x0c");
        msg.extend(a_record(&[0xc0, 12], 60, [192, 0, 2, 1]));
        let a = parse(&msg).unwrap();
        assert_eq!((a.answer_count, a.addrs.len()), (2, 1));
    }

    #[test]
    fn rdata_of_the_types_read_must_fit_its_length() {
        for (rtype, rdata) in [
            (1u16, vec![192, 0, 2]),            // A of 3 octets
            (28, vec![0; 4]),                   // AAAA of 4
            (5, vec![1, b'b', 0, 9]),           // CNAME with a stray octet
            (5, vec![1, b'b']),                 // CNAME without its root
            (6, vec![0, 0, 0, 0, 0, 0, 0, 60]), // SOA cut short
        ] {
            let mut msg = reply_head(1);
            msg.extend_from_slice(&[0xc0, 12]);
            msg.extend_from_slice(&rtype.to_be_bytes());
            msg.extend_from_slice(&[0, 1, 0, 0, 0, 60]);
            msg.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
            msg.extend_from_slice(&rdata);
            assert_eq!(
                parse(&msg),
                Err(Rejected::Malformed),
                "type {rtype}: {rdata:?}"
            );
        }
        // More records announced than present, without TC: malformed.
        let mut msg = reply_head(2);
        msg.extend(a_record(&[0xc0, 12], 60, [192, 0, 2, 1]));
        assert_eq!(parse(&msg), Err(Rejected::Malformed));
    }

    #[test]
    fn a_truncated_answer_cut_mid_record_is_still_truncated() {
        let mut msg = reply_head(3);
        msg[2] |= 0x02; // TC
        msg.extend(a_record(&[0xc0, 12], 60, [192, 0, 2, 1]));
        msg.extend_from_slice(&[0xc0, 12, 0, 1]);
        let a = parse(&msg).unwrap();
        assert!(a.truncated);
        assert!(a.addrs.is_empty(), "nothing of a cut answer is used");
        // Its question must still be ours.
        assert_eq!(
            parse_answer(&msg, 0xbeef, "b.test", QType::A, 8),
            Err(Rejected::QuestionMismatch)
        );
    }

    #[test]
    fn ttls_with_the_top_bit_set_count_as_zero() {
        let mut msg = reply_head(2);
        msg.extend(a_record(&[0xc0, 12], 0x8000_0000, [192, 0, 2, 1]));
        msg.extend(a_record(&[0xc0, 12], 300, [192, 0, 2, 2]));
        let a = parse(&msg).unwrap();
        assert_eq!((a.addrs.len(), a.ttl), (2, 0));
    }

    #[test]
    fn owner_names_compare_label_by_label_and_case_blind() {
        // The owner spelled out in capitals, not compressed: ours.
        let mut msg = reply_head(2);
        msg.extend(a_record(b"\x01A\x04TEST\x00", 60, [192, 0, 2, 1]));
        // One label "a.test": not ours.
        msg.extend(a_record(b"\x06a.test\x00", 60, [192, 0, 2, 2]));
        assert_eq!(parse(&msg).unwrap().addrs, [IpAddr::from([192, 0, 2, 1])]);
    }

    #[test]
    fn the_opt_record_extends_the_rcode_and_trailing_octets_are_ignored() {
        let mut msg = reply_head(0);
        msg[11] = 1; // ARCOUNT
                     // OPT with extended RCODE 1: 16 with the header's 0 (BADVERS).
        msg.extend_from_slice(&[0, 0, 41, 4, 0xd0, 1, 0, 0, 0, 0, 0]);
        msg.extend_from_slice(b"trailing");
        assert_eq!(parse(&msg).unwrap().rcode, Rcode::Other(16));
    }

    #[test]
    fn the_soa_minimum_bounds_the_negative_ttl() {
        let query = q("none.test", QType::A);
        let nx = answer(&query, &[], RCODE::NameError, false, Some((30, 600)));
        let a = parse_answer(&nx, 0xbeef, "none.test", QType::A, 8).unwrap();
        assert_eq!(a.negative_ttl, Some(30), "the SOA's own TTL is lower");
    }
}

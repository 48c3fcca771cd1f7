//! DNS messages for a stub resolver (RFC 1035 §4): building an A or AAAA
//! query with RD set (and an EDNS0 OPT record, RFC 6891 §6), and checking an
//! answer before trusting it — it must be a response with our id that echoes
//! our question (RFC 5452 §9.1); then following a CNAME chain inside the
//! answer (RFC 1034 §3.6.2) and reading the negative-caching TTL from the
//! SOA in the authority section (RFC 2308 §5). The byte layout is
//! simple-dns's; the rules are ours.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use simple_dns::rdata::{RData, OPT};
use simple_dns::{Name, Packet, PacketFlag, Question, CLASS, QCLASS, QTYPE, RCODE, TYPE};

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

    fn wire(self) -> TYPE {
        match self {
            QType::A => TYPE::A,
            QType::Aaaa => TYPE::AAAA,
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

    fn from_wire(r: RCODE) -> Rcode {
        match r {
            RCODE::NoError => Rcode::NoError,
            RCODE::FormatError => Rcode::FormatError,
            RCODE::ServerFailure => Rcode::ServerFailure,
            RCODE::NameError => Rcode::NameError,
            RCODE::NotImplemented => Rcode::NotImplemented,
            RCODE::Refused => Rcode::Refused,
            other => Rcode::Other(other as u16),
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
    let qname = Name::new(name).map_err(|_| InvalidName)?;
    if name.is_empty() || name.len() > 253 || name.split('.').any(|l| l.is_empty() || l.len() > 63)
    {
        return Err(InvalidName);
    }
    let mut packet = Packet::new_query(id);
    packet.set_flags(PacketFlag::RECURSION_DESIRED);
    packet.questions.push(Question::new(
        qname,
        QTYPE::TYPE(qtype.wire()),
        QCLASS::CLASS(CLASS::IN),
        false,
    ));
    if let Some(size) = edns_payload {
        *packet.opt_mut() = Some(OPT {
            opt_codes: Vec::new(),
            udp_packet_size: size,
            version: 0,
        });
    }
    packet.build_bytes_vec().map_err(|_| InvalidName)
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

/// A name as its labels, lower-cased: names compare label by label
/// (RFC 1035 §2.3.3, case-insensitively, RFC 4343), never as display
/// strings, where one label containing a dot would pass for two.
type Labels = Vec<Vec<u8>>;

fn labels_of_str(name: &str) -> Labels {
    name.trim_end_matches('.')
        .split('.')
        .map(|l| l.as_bytes().to_ascii_lowercase())
        .collect()
}

fn labels_of(name: &Name<'_>) -> Labels {
    name.get_labels()
        .iter()
        .map(|l| l.as_ref().to_ascii_lowercase())
        .collect()
}

fn same_name(a: &Name<'_>, b: &Labels) -> bool {
    let labels = a.get_labels();
    labels.len() == b.len()
        && labels
            .iter()
            .zip(b)
            .all(|(x, y)| x.as_ref().eq_ignore_ascii_case(y))
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
    // The header is checked before the whole message is parsed, so a
    // spoofed or stray datagram costs little.
    if data.len() < 12 {
        return Err(Rejected::Malformed);
    }
    if u16::from_be_bytes([data[0], data[1]]) != id {
        return Err(Rejected::IdMismatch);
    }
    if data[2] & 0x80 == 0 {
        return Err(Rejected::NotAResponse);
    }
    let packet = Packet::parse(data).map_err(|_| Rejected::Malformed)?;
    let rcode = Rcode::from_wire(packet.rcode());
    if packet.questions.is_empty() && rcode == Rcode::FormatError {
        // A server that could not parse the query (often: not its OPT
        // record, RFC 6891 §7) may have no question to echo. Taken with the
        // id alone it can only make the resolver ask again, never supply
        // an address.
        return Ok(Answer {
            rcode,
            truncated: false,
            addrs: Vec::new(),
            ttl: 0,
            negative_ttl: None,
            answer_count: 0,
            cname_error: false,
        });
    }
    let [question] = packet.questions.as_slice() else {
        return Err(Rejected::QuestionMismatch);
    };
    if question.qtype != QTYPE::TYPE(qtype.wire())
        || question.qclass != QCLASS::CLASS(CLASS::IN)
        || !same_name(&question.qname, &labels_of_str(name))
    {
        return Err(Rejected::QuestionMismatch);
    }
    let truncated = packet.has_flags(PacketFlag::TRUNCATION);

    // Follow the chain from the queried name (RFC 1034 §3.6.2).
    let queried = labels_of_str(name);
    let mut current = queried.clone();
    let mut ttl = u32::MAX;
    let mut cname_error = false;
    let mut hops = 0;
    while let Some(rr) = packet.answers.iter().find(|rr| {
        matches!(rr.rdata, RData::CNAME(_))
            && rr.class == CLASS::IN
            && same_name(&rr.name, &current)
    }) {
        let RData::CNAME(target) = &rr.rdata else {
            unreachable!()
        };
        hops += 1;
        let next = labels_of(&target.0);
        if hops > max_cname_chain || next == queried {
            cname_error = true;
            break;
        }
        ttl = ttl.min(rr.ttl);
        current = next;
    }
    let mut addrs = Vec::new();
    if !cname_error {
        for rr in &packet.answers {
            if rr.class != CLASS::IN || !same_name(&rr.name, &current) {
                continue;
            }
            let addr = match (&rr.rdata, qtype) {
                (RData::A(a), QType::A) => IpAddr::V4(Ipv4Addr::from(a.address)),
                (RData::AAAA(a), QType::Aaaa) => IpAddr::V6(Ipv6Addr::from(a.address)),
                _ => continue,
            };
            ttl = ttl.min(rr.ttl);
            if !addrs.contains(&addr) {
                addrs.push(addr);
            }
        }
    }
    let negative_ttl = packet.name_servers.iter().find_map(|rr| match &rr.rdata {
        RData::SOA(soa) => Some(rr.ttl.min(soa.minimum)),
        _ => None,
    });
    Ok(Answer {
        rcode,
        truncated,
        addrs,
        ttl: if ttl == u32::MAX { 0 } else { ttl },
        negative_ttl,
        answer_count: packet.answers.len(),
        cname_error,
    })
}

#[cfg(test)]
pub(crate) mod testing {
    //! Answers built for tests, with simple-dns as the server would.
    use super::*;
    use simple_dns::rdata::{A, AAAA, CNAME, SOA};
    use simple_dns::ResourceRecord;

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
    use super::testing::{answer, Rec};
    use super::*;

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
}

//! Writes the seed corpora: real answers (built with simple-dns, as a server
//! would) in each target's input format, plus a few broken ones.
//!
//! ```sh
//! cd fuzz && cargo run --example seeds    # writes corpus/dns_answer/seed_* and corpus/dns_wire/seed_*
//! ```
//!
//! Seeds are named `seed_*`; entries found by the fuzzer and kept (small,
//! minimized) are named after what they reach. Re-running this overwrites
//! only the seeds.

#![forbid(unsafe_code)]

use std::fs;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;

use roundtrip::dns::wire::{build_query, QType};
use roundtrip_fuzz::question_of;
use simple_dns::rdata::{RData, A, AAAA, CNAME, SOA};
use simple_dns::{Name, Packet, PacketFlag, ResourceRecord, CLASS, RCODE};

const NAME: &str = "www.example.test";

enum Rec<'a> {
    A(&'a str, &'a str, u32),
    Aaaa(&'a str, &'a str, u32),
    Cname(&'a str, &'a str, u32),
    Soa(u32, u32),
}

/// A whole answer to `query`.
fn answer(query: &[u8], recs: &[Rec<'_>], rcode: RCODE, tc: bool) -> Vec<u8> {
    let q = Packet::parse(query).expect("our query parses");
    let mut p = Packet::new_reply(q.id());
    p.set_flags(PacketFlag::RECURSION_DESIRED | PacketFlag::RECURSION_AVAILABLE);
    p.questions = q.questions.clone();
    *p.rcode_mut() = rcode;
    if tc {
        p.set_flags(PacketFlag::TRUNCATION);
    }
    for r in recs {
        match r {
            Rec::A(n, a, ttl) => p.answers.push(ResourceRecord::new(
                Name::new_unchecked(n),
                CLASS::IN,
                *ttl,
                RData::A(A {
                    address: a.parse::<Ipv4Addr>().unwrap().into(),
                }),
            )),
            Rec::Aaaa(n, a, ttl) => p.answers.push(ResourceRecord::new(
                Name::new_unchecked(n),
                CLASS::IN,
                *ttl,
                RData::AAAA(AAAA {
                    address: a.parse::<Ipv6Addr>().unwrap().into(),
                }),
            )),
            Rec::Cname(n, c, ttl) => p.answers.push(ResourceRecord::new(
                Name::new_unchecked(n),
                CLASS::IN,
                *ttl,
                RData::CNAME(CNAME(Name::new_unchecked(c))),
            )),
            Rec::Soa(ttl, minimum) => p.name_servers.push(ResourceRecord::new(
                Name::new_unchecked("test"),
                CLASS::IN,
                *ttl,
                RData::SOA(SOA {
                    mname: Name::new_unchecked("ns.test"),
                    rname: Name::new_unchecked("admin.test"),
                    serial: 1,
                    refresh: 3600,
                    retry: 600,
                    expire: 86400,
                    minimum: *minimum,
                }),
            )),
        }
    }
    p.build_bytes_vec_compressed().expect("builds")
}

/// The answer with its question cut out: what `splice` mode 2 and 3 put
/// the real query's question back into.
fn without_question(query: &[u8], answer: &[u8]) -> Vec<u8> {
    let qlen = question_of(query).len();
    let mut out = answer[..12].to_vec();
    out.extend_from_slice(&answer[12 + qlen..]);
    out
}

fn query(name: &str, qtype: QType) -> Vec<u8> {
    build_query(0, name, qtype, Some(1232)).expect("valid")
}

/// An encoder for the `dns_answer` input format (fuzz/src/targets.rs).
struct Ops(Vec<u8>);

impl Ops {
    fn new(cfg: u8) -> Ops {
        Ops(vec![cfg])
    }
    /// A datagram on socket `sel`; `from` and `mode` as in the format.
    fn udp(mut self, sel: u8, from: u8, mode: u8, payload: &[u8]) -> Ops {
        // Action 0: a datagram.
        self.0.push(((mode << 2) | from) << 3);
        self.0.push(sel);
        self.0
            .extend_from_slice(&(payload.len() as u16).to_be_bytes());
        self.0.extend_from_slice(payload);
        self
    }
    /// TCP bytes on socket `sel`, framed and in two reads when asked.
    fn tcp(mut self, sel: u8, framed: bool, split: bool, mode: u8, payload: &[u8]) -> Ops {
        let flags = (mode << 2) | (u8::from(split) << 1) | u8::from(framed);
        self.0.push((flags << 3) | 1);
        self.0.push(sel);
        self.0
            .extend_from_slice(&(payload.len() as u16).to_be_bytes());
        self.0.extend_from_slice(payload);
        self
    }
    fn sleep(mut self, tenths: u8) -> Ops {
        self.0.extend_from_slice(&[2, tenths]);
        self
    }
    fn deadline(mut self) -> Ops {
        self.0.push(3);
        self
    }
    fn error(mut self, sel: u8, kind: u8) -> Ops {
        self.0.extend_from_slice(&[(kind << 3) | 4, sel]);
        self
    }
    fn lookup(mut self, name: u8) -> Ops {
        self.0.push((name << 3) | 5);
        self
    }
    fn cancel(mut self, sel: u8) -> Ops {
        self.0.extend_from_slice(&[6, sel]);
        self
    }
    fn late(mut self, tenths: u8) -> Ops {
        self.0.extend_from_slice(&[7, tenths]);
        self
    }
}

fn write(dir: &Path, name: &str, data: &[u8]) {
    fs::write(dir.join(format!("seed_{name}")), data).expect("write seed");
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let da = root.join("dns_answer");
    let dw = root.join("dns_wire");
    fs::create_dir_all(&da).unwrap();
    fs::create_dir_all(&dw).unwrap();

    let q6 = query(NAME, QType::Aaaa);
    let q4 = query(NAME, QType::A);
    // Spliced (mode 2): the header and sections after the question.
    let sp6 = |recs: &[Rec<'_>], rcode| without_question(&q6, &answer(&q6, recs, rcode, false));
    let sp4 = |recs: &[Rec<'_>], rcode| without_question(&q4, &answer(&q4, recs, rcode, false));

    let aaaa = sp6(&[Rec::Aaaa(NAME, "2001:db8::1", 60)], RCODE::NoError);
    let a = sp4(&[Rec::A(NAME, "192.0.2.1", 60)], RCODE::NoError);
    let chain = [
        Rec::Cname(NAME, "edge.cdn.test", 300),
        Rec::Cname("edge.cdn.test", "node.cdn.test", 60),
        Rec::A("node.cdn.test", "192.0.2.10", 30),
        Rec::A("node.cdn.test", "192.0.2.11", 40),
    ];
    let cname = sp4(&chain, RCODE::NoError);
    let nx6 = sp6(&[Rec::Soa(300, 60)], RCODE::NameError);
    let nx4 = sp4(&[Rec::Soa(300, 60)], RCODE::NameError);
    let nodata6 = sp6(&[Rec::Soa(300, 30)], RCODE::NoError);
    let servfail = sp4(&[], RCODE::ServerFailure);
    let tc4 = without_question(&q4, &answer(&q4, &[], RCODE::NoError, true));
    let looped = sp4(
        &[Rec::Cname(NAME, "b.test", 5), Rec::Cname("b.test", NAME, 5)],
        RCODE::NoError,
    );

    // Sockets: 0 = AAAA, 1 = A of the first lookup (the second coalesces).
    write(
        &da,
        "a_and_aaaa",
        &Ops::new(0).udp(0, 0, 2, &aaaa).udp(1, 0, 2, &a).0,
    );
    write(
        &da,
        "cname_chain",
        &Ops::new(0).udp(1, 0, 2, &cname).udp(0, 0, 2, &nodata6).0,
    );
    write(
        &da,
        "cname_loop",
        &Ops::new(8).udp(1, 0, 2, &looped).deadline().0,
    );
    write(
        &da,
        "nxdomain_soa",
        &Ops::new(0).udp(0, 0, 2, &nx6).udp(1, 0, 2, &nx4).0,
    );
    // TC on A: socket 2 is the TCP retry; its answer arrives in two reads.
    write(
        &da,
        "truncated_then_tcp",
        &Ops::new(0)
            .udp(1, 0, 2, &tc4)
            .tcp(2, true, true, 2, &a)
            .udp(0, 0, 2, &aaaa)
            .0,
    );
    // Two servers: SERVFAIL from the first, answers from the second.
    write(
        &da,
        "servfail_failover",
        &Ops::new(1)
            .udp(1, 0, 2, &servfail)
            .udp(2, 0, 2, &a)
            .udp(0, 0, 2, &nodata6)
            .0,
    );
    write(
        &da,
        "timeouts",
        &Ops::new(3)
            .deadline()
            .deadline()
            .sleep(50)
            .late(60)
            .deadline()
            .0,
    );
    write(
        &da,
        "garbage",
        &Ops::new(0)
            .udp(0, 0, 0, b"\x13\x37garbage that is not DNS at all\xff\xfe")
            .udp(1, 0, 1, &[0xab; 40])
            .0,
    );
    write(
        &da,
        "short_header",
        &Ops::new(0).udp(1, 0, 1, b"\x00\x00\x81").0,
    );
    write(
        &da,
        "wrong_source",
        &Ops::new(1)
            .udp(1, 1, 2, &a)
            .udp(1, 2, 2, &a)
            .udp(1, 0, 2, &a)
            .0,
    );
    write(
        &da,
        "cancel_coalesced",
        &Ops::new(0)
            .cancel(0)
            .udp(0, 0, 2, &aaaa)
            .cancel(1)
            .lookup(3)
            .0,
    );
    write(
        &da,
        "search_list",
        &Ops::new(32 | 16)
            .lookup(2)
            .udp(2, 0, 0, b"")
            .error(2, 0)
            .error(3, 1)
            .deadline()
            .0,
    );
    write(
        &da,
        "cache_hit",
        &Ops::new(0)
            .udp(0, 0, 2, &aaaa)
            .udp(1, 0, 2, &a)
            .lookup(0)
            .lookup(4)
            .lookup(5)
            .lookup(6)
            .0,
    );
    // Over TCP: a whole answer with another id (0) first, then the
    // answer with the right one, on the same connection.
    let full4 = answer(&q4, &[Rec::A(NAME, "192.0.2.1", 60)], RCODE::NoError, false);
    write(
        &da,
        "tcp_wrong_id_first",
        &Ops::new(0)
            .udp(1, 0, 2, &tc4)
            .tcp(2, true, false, 0, &full4)
            .tcp(2, true, false, 2, &a)
            .0,
    );

    // dns_wire: byte 0 = mode, then the message.
    let w = |m: u8, msg: &[u8]| {
        let mut v = vec![m];
        v.extend_from_slice(msg);
        v
    };
    let full6 = answer(
        &q6,
        &[Rec::Aaaa(NAME, "2001:db8::1", 60)],
        RCODE::NoError,
        false,
    );
    // Mode 2: the id is the message's own (query ids are 0 here).
    write(&dw, "a_answer", &w(2, &full4));
    write(&dw, "aaaa_answer", &w(3, &full6));
    write(
        &dw,
        "cname_chain",
        &w(2, &answer(&q4, &chain, RCODE::NoError, false)),
    );
    write(
        &dw,
        "cname_loop",
        &w(
            2,
            &answer(&q4, &[Rec::Cname(NAME, NAME, 5)], RCODE::NoError, false),
        ),
    );
    write(
        &dw,
        "nxdomain_soa",
        &w(
            3,
            &answer(&q6, &[Rec::Soa(300, 60)], RCODE::NameError, false),
        ),
    );
    write(
        &dw,
        "truncated",
        &w(2, &answer(&q4, &[], RCODE::NoError, true)),
    );
    // Mode 6: id from the message, the question spliced in.
    write(&dw, "spliced_a", &w(6, &a));
    write(&dw, "spliced_cname", &w(6, &cname));
    write(&dw, "garbage", &w(0, b"\xde\xad\xbe\xef not a dns message"));
    write(&dw, "short_header", &w(2, b"\x00\x00\x81\x80\x00"));
    write(&dw, "query_not_answer", &w(2, &q4));
    write(&dw, "truncated_message", &w(2, &full4[..full4.len() - 3]));
    write(&dw, "build_query_name", &w(8, b"www.example.test"));
    write(
        &dw,
        "build_query_long_label",
        &w(9, "a".repeat(64).as_bytes()),
    );
    // A compression pointer loop in the answer's owner name.
    let mut ptr_loop = full4.clone();
    let qlen = question_of(&q4).len();
    ptr_loop[12 + qlen] = 0xc0;
    ptr_loop[12 + qlen + 1] = (12 + qlen) as u8;
    write(&dw, "pointer_loop", &w(2, &ptr_loop));
    println!("seeds written to {}", root.display());
}

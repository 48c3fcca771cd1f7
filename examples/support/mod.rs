//! Tiny loopback servers shared by the `drive_*` examples: a DNS server
//! that answers every A question with 127.0.0.1, and a keep-alive HTTP/1.1
//! server. Each runs in its own thread, so the examples need no network.
//! And the driver loops of `drive_blocking` and `drive_simulated`, which
//! the tests run too (`drive_tokio`'s, examples/support/tokio_driver.rs,
//! is included by path where it is used, so that only those build it).

#[allow(dead_code)] // only drive_blocking and tests/core_driver.rs use it
pub mod blocking;
#[allow(dead_code)] // only drive_simulated and tests/drivers_agree.rs use it
pub mod simulated;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::thread;

/// A DNS server (RFC 1035 §4.1) on 127.0.0.1 answering with [`dns_answer`].
#[allow(dead_code)] // not every example uses every server
pub fn start_dns_server() -> std::io::Result<SocketAddr> {
    let socket = UdpSocket::bind("127.0.0.1:0")?;
    let addr = socket.local_addr()?;
    thread::spawn(move || {
        let mut buf = [0u8; 512];
        while let Ok((n, from)) = socket.recv_from(&mut buf) {
            if let Some(reply) = dns_answer(&buf[..n], [127, 0, 0, 1]) {
                let _ = socket.send_to(&reply, from);
            }
        }
    });
    Ok(addr)
}

/// Whether a DNS query asks for an A record (its first question's QTYPE
/// is 1).
pub fn is_a_query(query: &[u8]) -> bool {
    let Some(name_len) = query.get(12..).and_then(|q| q.iter().position(|&b| b == 0)) else {
        return false;
    };
    query.get(12 + name_len + 1..12 + name_len + 3) == Some(&[0, 1])
}

/// The answer to one DNS query: every A question gets `ip`, every other
/// type no records (NODATA). `None` for a message too short to answer.
pub fn dns_answer(query: &[u8], ip: [u8; 4]) -> Option<Vec<u8>> {
    // The question: QNAME as length-prefixed labels, then QTYPE, QCLASS.
    let name_len = query.get(12..)?.iter().position(|&b| b == 0)?;
    let question = query.get(12..12 + name_len + 5)?;
    let is_a = is_a_query(query);
    let mut reply = vec![query[0], query[1], 0x81, 0x80]; // same id; QR, RD, RA
    reply.extend_from_slice(&[0, 1, 0, u8::from(is_a), 0, 0, 0, 0]);
    reply.extend_from_slice(question);
    if is_a {
        // Name (pointer to the question's), type A, class IN, TTL 60,
        // 4 bytes of address.
        reply.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
        reply.extend_from_slice(&ip);
    }
    Some(reply)
}

/// A keep-alive HTTP/1.1 server on 127.0.0.1 that greets the host asked for.
#[allow(dead_code)] // not every example uses every server
pub fn start_http_server() -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            thread::spawn(move || -> std::io::Result<()> {
                let mut reader = BufReader::new(stream.try_clone()?);
                let mut writer = stream;
                loop {
                    let mut head = String::new();
                    while !head.ends_with("\r\n\r\n") {
                        if reader.read_line(&mut head)? == 0 {
                            return Ok(());
                        }
                    }
                    let host = head.lines().find_map(|l| {
                        let (name, value) = l.split_once(": ")?;
                        name.eq_ignore_ascii_case("host").then_some(value)
                    });
                    let body = format!("hello from {}\n", host.unwrap_or("?"));
                    let len = body.len();
                    let response =
                        format!("HTTP/1.1 200 OK\r\ncontent-length: {len}\r\n\r\n{body}");
                    writer.write_all(response.as_bytes())?;
                }
            });
        }
    });
    Ok(addr)
}

//! Name resolution under your control: the client's own stub resolver asks
//! the DNS servers in `Config::dns_servers` (here a tiny DNS server this
//! example runs on 127.0.0.1), while `Config::hosts` adds hosts-file
//! entries and `Config::resolve` pins a host and port to addresses, like
//! curl's `--resolve` — those two answer without any query.
//!
//! The trace shows which names went to the network: `dns_query_start`/
//! `dns_query_done` appear only for the first. No network is needed:
//! `cargo run --example custom_resolver`.

#![forbid(unsafe_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::thread;

use roundtrip::proxy::ProxyConfig;
use roundtrip::trace::EventKind;
use roundtrip::{Client, Trace};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let http = start_http_server()?;
    let dns = start_dns_server()?;
    let loopback = Ipv4Addr::LOCALHOST.into();

    let client = Client::builder()
        .configure(|c| {
            c.dns_servers = Some(vec![dns]); // instead of resolv.conf's nameservers
            c.resolv_conf = None; // no search list or options from the system either
            c.hosts_file = None; // nor /etc/hosts
            c.hosts = vec![("api.example.test".into(), loopback)];
            c.resolve = vec![("pinned.example.test".into(), http.port(), vec![loopback])];
            c.proxy = ProxyConfig::Off; // loopback only
        })
        .trace(Trace::new().on_event(|e| match &e.kind {
            EventKind::DnsStart { host } => println!("  dns_start {host}"),
            EventKind::DnsQueryStart { server, qtype, .. } => {
                println!("  dns_query_start {qtype} to {server}")
            }
            EventKind::DnsQueryDone {
                qtype,
                rcode,
                answers,
                ..
            } => {
                println!(
                    "  dns_query_done {qtype}: {} ({answers} answers)",
                    rcode.unwrap_or("-")
                )
            }
            EventKind::DnsDone { addrs, .. } => println!("  dns_done {addrs:?}"),
            _ => {}
        }))
        .build();

    for host in [
        "www.example.test",
        "api.example.test",
        "pinned.example.test",
    ] {
        println!("GET http://{host}:{}/", http.port());
        let url = format!("http://{host}:{}/", http.port());
        let body = client.get(&url)?.into_body().text()?;
        println!("  -> {}", body.trim());
    }
    Ok(())
}

/// A DNS server (RFC 1035 §4.1) that answers every A question with
/// 127.0.0.1 and every other type with no records (NODATA).
fn start_dns_server() -> std::io::Result<SocketAddr> {
    let socket = UdpSocket::bind("127.0.0.1:0")?;
    let addr = socket.local_addr()?;
    thread::spawn(move || {
        let mut buf = [0u8; 512];
        while let Ok((n, from)) = socket.recv_from(&mut buf) {
            // The question: QNAME as length-prefixed labels, then QTYPE, QCLASS.
            let Some(name_len) = buf.get(12..n).and_then(|q| q.iter().position(|&b| b == 0)) else {
                continue;
            };
            let question = &buf[12..12 + name_len + 5];
            let is_a = question[name_len + 1..name_len + 3] == [0, 1];
            let mut reply = vec![buf[0], buf[1], 0x81, 0x80]; // same id; QR, RD, RA
            reply.extend_from_slice(&[0, 1, 0, u8::from(is_a), 0, 0, 0, 0]);
            reply.extend_from_slice(question);
            if is_a {
                // Name (pointer to the question's), type A, class IN,
                // TTL 60, 4 bytes of address.
                reply.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 1]);
            }
            let _ = socket.send_to(&reply, from);
        }
    });
    Ok(addr)
}

/// A keep-alive HTTP/1.1 server on 127.0.0.1 that names the host asked for.
fn start_http_server() -> std::io::Result<SocketAddr> {
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
                    let host = head.lines().find_map(|l| l.strip_prefix("Host: "));
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

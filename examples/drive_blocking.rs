//! One GET, DNS through body, driven through the sans-IO `roundtrip::core::Core` by a
//! plain loop over std sockets (docs/embedding.md). Its servers run on 127.0.0.1.

#![forbid(unsafe_code)]

mod support;

use std::collections::HashMap;
use std::io::{self, IoSlice, Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use roundtrip::core::{BodyRead, Core, Io, Ready, SockId};
use roundtrip::{proxy::ProxyConfig, Config, Trace};

/// The driver's sockets, by the ids the core gave them.
type Net = (HashMap<SockId, TcpStream>, HashMap<SockId, UdpSocket>);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (dns, http) = (support::start_dns_server()?, support::start_http_server()?);
    let mut config = Config::default();
    (config.dns_servers, config.resolv_conf) = (Some(vec![dns]), None); // only our server
    (config.hosts_file, config.proxy) = (None, ProxyConfig::Off);
    let trace = Trace::new().on_event(|e| println!("{}", e.kind.name()));
    let (mut core, mut net) = (Core::new(config, trace), Net::default());
    let req = http::Request::get(format!("http://www.example.test:{}/", http.port()));
    let id = core.submit(req.body(().into())?, Trace::new(), Instant::now());
    let head = loop {
        step(&mut core, &mut net)?;
        if let Some(outcome) = core.take_outcome(id, Instant::now()) {
            break outcome?;
        }
    };
    println!("{:?} {}", head.version, head.status);
    let mut buf = [0u8; 4096];
    loop {
        match core.read_body(id, &mut buf, Instant::now())? {
            BodyRead::Data(n) => print!("{}", String::from_utf8_lossy(&buf[..n])),
            BodyRead::End => break,
            BodyRead::Pending => step(&mut core, &mut net)?,
        }
    }
    core.release(id, Instant::now());
    Ok(())
}

/// One turn: do the IO the core asks for, then report every socket ready (a real
/// driver would wait on readiness, not nap), deliver datagrams, fire timers.
fn step(core: &mut Core, (tcp, udp): &mut Net) -> io::Result<()> {
    while let Some(io) = core.poll_io() {
        let now = Instant::now();
        match io {
            Io::Connect { sock, addr } => match TcpStream::connect(addr) {
                Ok(s) => {
                    s.set_nonblocking(true)?;
                    core.handle_connected(sock, s.local_addr()?, now);
                    tcp.insert(sock, s);
                }
                Err(e) => core.handle_connect_failed(sock, e, now),
            },
            Io::SendDatagram {
                sock,
                server,
                payload,
            } => {
                let u = UdpSocket::bind("0.0.0.0:0")?;
                u.connect(server).and_then(|()| u.set_nonblocking(true))?;
                u.send(&payload)?;
                udp.insert(sock, u);
            }
            Io::Send { sock } => {
                if let (Some(s), Some((a, b))) = (tcp.get_mut(&sock), core.send_buf(sock)) {
                    let r = s.write_vectored(&[IoSlice::new(a), IoSlice::new(b)]);
                    core.handle_send_result(sock, r, now);
                }
            }
            Io::Recv { sock } => {
                if let (Some(s), Some(buf)) = (tcp.get_mut(&sock), core.recv_buf(sock)) {
                    let r = s.read(buf);
                    core.handle_recv_result(sock, r, now);
                }
            }
            Io::Farewell { sock, bytes } => drop(tcp.get_mut(&sock).map(|s| s.write(&bytes))),
            Io::Close { sock } => drop((tcp.remove(&sock), udp.remove(&sock))),
            _ => {}
        }
    }
    std::thread::sleep(Duration::from_millis(1));
    let (now, mut buf) = (Instant::now(), [0u8; 1500]);
    tcp.keys()
        .for_each(|&s| core.handle_ready(s, Ready::BOTH, now));
    for (&sock, u) in udp.iter() {
        while let Ok((n, from)) = u.recv_from(&mut buf) {
            core.handle_datagram(sock, from, &buf[..n], now);
        }
    }
    core.handle_timeout(now);
    Ok(())
}

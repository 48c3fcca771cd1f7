//! The std-socket loop of `examples/drive_blocking.rs`, in a file tests/core_driver.rs runs too.

use std::io::{self, IoSlice, Read, Write};
use std::time::{Duration, Instant};
use std::{collections::HashMap, net::TcpStream, net::UdpSocket};

use roundtrip::core::{BodyRead, Core, Io, Ready, SockId};
use roundtrip::{Config, Trace};

/// The driver's sockets, by the ids the core gave them.
type Net = (HashMap<SockId, TcpStream>, HashMap<SockId, UdpSocket>);
/// (status, body) of each response, or what went wrong.
type Responses = Result<Vec<(u16, String)>, Box<dyn std::error::Error>>;

/// GETs `urls` one after another on one `Core`, each body read to the end, then
/// shuts the core down: an error if a socket is left open.
pub fn get_all(config: Config, trace: Trace, urls: &[String]) -> Responses {
    let (mut core, mut net, mut out) = (Core::new(config, trace), Net::default(), Vec::new());
    for url in urls {
        let req = http::Request::get(url.as_str()).body(().into())?;
        let id = core.submit(req, Trace::new(), Instant::now());
        let head = loop {
            step(&mut core, &mut net)?;
            if let Some(outcome) = core.take_outcome(id, Instant::now()) {
                break outcome?;
            }
        };
        let (mut body, mut buf) = (Vec::new(), [0u8; 4096]);
        loop {
            match core.read_body(id, &mut buf, Instant::now())? {
                BodyRead::Data(n) => body.extend_from_slice(&buf[..n]),
                BodyRead::End => break,
                BodyRead::Pending => step(&mut core, &mut net)?,
            }
        }
        core.release(id, Instant::now()); // its connection is pooled already
        out.push((head.status.as_u16(), String::from_utf8(body)?));
    }
    core.shutdown(Instant::now());
    step(&mut core, &mut net)?; // carries out the closes
    if core.open_sockets() + net.0.len() + net.1.len() != 0 {
        return Err("sockets left open after shutdown".into());
    }
    Ok(out)
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

//! The tokio driver loop of `examples/drive_tokio.rs`, in a module of its
//! own so that tests/drivers_agree.rs runs the very same loop (it includes
//! this file with `#[path]`): one task owns the core and every socket, and
//! waits on all of them and the core's deadline at once.

use std::collections::HashMap;
use std::future::{poll_fn, Future};
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::Poll;
use std::time::Instant;

use roundtrip::core::{BodyRead, Core, Direction, Io, Ready, SockId};
use roundtrip::{Config, Trace};
use tokio::net::{TcpStream, UdpSocket};

type Connecting = Pin<Box<dyn Future<Output = io::Result<TcpStream>>>>;

/// A TCP socket and the readiness the core waits for: the driver polls
/// tokio for a kind of readiness only after the core's flag for it went
/// down (a `WouldBlock`, a read), so a socket the core is not reading
/// (back-pressure) or has nothing to write on never wakes the loop.
struct Tcp {
    stream: TcpStream,
    want_read: bool,
    want_write: bool,
}

#[derive(Default)]
struct Net {
    connecting: Vec<(SockId, Connecting)>,
    tcp: HashMap<SockId, Tcp>,
    udp: HashMap<SockId, UdpSocket>,
}

/// (status, body) of each response, or what went wrong.
type Responses = Result<Vec<(u16, String)>, Box<dyn std::error::Error>>;

/// One GET of `url`, as [`get_all`] does it: (status, body).
pub fn get(
    config: Config,
    trace: Trace,
    url: &str,
) -> Result<(u16, String), Box<dyn std::error::Error>> {
    let mut all = get_all(config, trace, &[url.to_owned()])?;
    Ok(all.pop().expect("one response per URL"))
}

/// GETs `urls` one after another through one `Core` built from `config`
/// and `trace`, on a tokio current-thread runtime, each body read to the
/// end and the request released (its connection pooled): (status, body)
/// each. Then shuts the core down: an error if a socket is left open.
pub fn get_all(config: Config, trace: Trace, urls: &[String]) -> Responses {
    let mut core = Core::new(config, trace);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let (mut net, mut out) = (Net::default(), Vec::new());
        for url in urls {
            let req = http::Request::get(url.as_str()).body(().into())?;
            let id = core.submit(req, Trace::new(), Instant::now());
            let head = loop {
                drain(&mut core, &mut net)?;
                if let Some(outcome) = core.take_outcome(id, Instant::now()) {
                    break outcome?;
                }
                wait(&mut core, &mut net).await;
            };
            let (mut body, mut buf) = (Vec::new(), [0u8; 4096]);
            loop {
                match core.read_body(id, &mut buf, Instant::now())? {
                    BodyRead::Data(n) => body.extend_from_slice(&buf[..n]),
                    BodyRead::End => break,
                    BodyRead::Pending => {
                        drain(&mut core, &mut net)?;
                        wait(&mut core, &mut net).await;
                    }
                }
            }
            core.release(id, Instant::now());
            drain(&mut core, &mut net)?;
            out.push((head.status.as_u16(), String::from_utf8(body)?));
        }
        core.shutdown(Instant::now());
        drain(&mut core, &mut net)?;
        let left = net.connecting.len() + net.tcp.len() + net.udp.len();
        if core.open_sockets() != 0 || left != 0 {
            return Err("sockets left open after shutdown".into());
        }
        Ok(out)
    })
}

/// Does every IO the core asks for, without waiting: tokio's `try_*`
/// calls return `WouldBlock` where a blocking call would wait.
fn drain(core: &mut Core, net: &mut Net) -> io::Result<()> {
    while let Some(io) = core.poll_io() {
        let now = Instant::now();
        match io {
            Io::Connect { sock, addr } => {
                net.connecting
                    .push((sock, Box::pin(TcpStream::connect(addr))));
            }
            Io::SendDatagram {
                sock,
                server,
                payload,
            } => {
                // Sent from the std socket: a new tokio socket does not know
                // its readiness yet, so its `try_send` would say WouldBlock.
                let u = std::net::UdpSocket::bind("0.0.0.0:0")?;
                u.connect(server)?;
                u.set_nonblocking(true)?;
                match u.send(&payload) {
                    Ok(_) => drop(net.udp.insert(sock, UdpSocket::from_std(u)?)),
                    Err(e) => core.handle_io_error(sock, Direction::Send, e, now),
                }
            }
            Io::Send { sock } => {
                let (Some(t), Some((a, b))) = (net.tcp.get_mut(&sock), core.send_buf(sock)) else {
                    continue;
                };
                let r = t
                    .stream
                    .try_write_vectored(&[IoSlice::new(a), IoSlice::new(b)]);
                t.want_write = matches!(&r, Err(e) if e.kind() == io::ErrorKind::WouldBlock);
                core.handle_send_result(sock, r, now);
            }
            Io::Recv { sock } => {
                let (Some(t), Some(buf)) = (net.tcp.get_mut(&sock), core.recv_buf(sock)) else {
                    continue;
                };
                let r = t.stream.try_read(buf);
                // After any read the core may have lowered its flag: ask
                // tokio again (it answers at once if more is waiting).
                t.want_read = true;
                core.handle_recv_result(sock, r, now);
            }
            Io::Farewell { sock, bytes } => {
                if let Some(t) = net.tcp.get(&sock) {
                    let _ = t.stream.try_write(&bytes);
                }
            }
            Io::Close { sock } => {
                net.connecting.retain(|(s, _)| *s != sock);
                net.tcp.remove(&sock);
                net.udp.remove(&sock);
            }
            _ => {}
        }
    }
    Ok(())
}

/// Waits until a connect finishes, a socket turns ready, or the core's
/// deadline passes, and tells the core.
async fn wait(core: &mut Core, net: &mut Net) {
    let deadline = core.poll_timeout().map(tokio::time::Instant::from_std);
    let mut sleep = deadline.map(|d| Box::pin(tokio::time::sleep_until(d)));
    poll_fn(|cx| {
        let now = Instant::now();
        let mut woke = false;
        let mut i = 0;
        while i < net.connecting.len() {
            let Poll::Ready(result) = net.connecting[i].1.as_mut().poll(cx) else {
                i += 1;
                continue;
            };
            let (sock, _) = net.connecting.swap_remove(i);
            match result.and_then(|s| Ok((s.local_addr()?, s))) {
                Ok((local, stream)) => {
                    core.handle_connected(sock, local, now);
                    let tcp = Tcp {
                        stream,
                        want_read: true,
                        want_write: false,
                    };
                    net.tcp.insert(sock, tcp);
                }
                Err(e) => core.handle_connect_failed(sock, e, now),
            }
            woke = true;
        }
        for (&sock, t) in net.tcp.iter_mut() {
            let readable = t.want_read && t.stream.poll_read_ready(cx).is_ready();
            let writable = t.want_write && t.stream.poll_write_ready(cx).is_ready();
            if readable || writable {
                t.want_read &= !readable;
                t.want_write &= !writable;
                core.handle_ready(
                    sock,
                    Ready {
                        readable,
                        writable,
                        hup: false,
                    },
                    now,
                );
                woke = true;
            }
        }
        for (&sock, u) in &net.udp {
            if u.poll_recv_ready(cx).is_ready() {
                let mut buf = [0u8; 1500];
                loop {
                    match u.try_recv_from(&mut buf) {
                        Ok((n, from)) => core.handle_datagram(sock, from, &buf[..n], now),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) => {
                            core.handle_io_error(sock, Direction::Recv, e, now);
                            break;
                        }
                    }
                }
                woke = true;
            }
        }
        if sleep
            .as_mut()
            .is_some_and(|s| s.as_mut().poll(cx).is_ready())
        {
            woke = true;
        }
        if woke {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    core.handle_timeout(Instant::now());
}

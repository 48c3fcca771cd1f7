//! The driver loop of `examples/drive_simulated.rs`: a simulated network
//! on a virtual clock, in a module of its own so that
//! tests/drivers_agree.rs runs the very same loop.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use roundtrip::core::{BodyRead, Core, Io, Ready, SockId};
use roundtrip::{proxy::ProxyConfig, Config, Trace};

/// One way, client to server or back.
const LATENCY: Duration = Duration::from_millis(10);
const DNS: &str = "192.0.2.53:53";
const WEB: [u8; 4] = [192, 0, 2, 80];

/// Something the network delivers to the client at a given instant.
enum Delivery {
    Connected(SockId),
    Datagram(SockId, Vec<u8>),
    Bytes(SockId, Vec<u8>),
}

/// The simulated network: deliveries in flight, in the order they land,
/// and what each client socket has received but not yet read.
struct Net {
    t0: Instant,
    now: Instant,
    in_flight: Vec<(Instant, Delivery)>,
    inbox: HashMap<SockId, VecDeque<u8>>,
}

impl Net {
    fn at(&self, t: Instant) -> String {
        format!("{:7.3} ms", t.duration_since(self.t0).as_secs_f64() * 1e3)
    }

    fn send(&mut self, delay: Duration, what: Delivery) {
        self.in_flight.push((self.now + delay, what));
        // Stable: deliveries due at the same instant keep their order.
        self.in_flight.sort_by_key(|(t, _)| *t);
    }
}

/// One GET of `http://www.example.test/hello` over the simulated network,
/// from a `Core` whose trace is `trace` plus a hook of its own: the
/// timeline (IO asked for and events, each at its virtual instant) and the
/// response as "VERSION STATUS: BODY".
pub fn run(trace: Trace) -> Result<(Vec<String>, String), Box<dyn std::error::Error>> {
    let t0 = Instant::now();
    let net = Rc::new(RefCell::new(Net {
        t0,
        now: t0,
        in_flight: Vec::new(),
        inbox: HashMap::new(),
    }));
    let mut config = Config::default();
    config.dns_servers = Some(vec![DNS.parse()?]);
    (config.resolv_conf, config.hosts_file, config.proxy) = (None, None, ProxyConfig::Off);
    let lines = Arc::new(Mutex::new(Vec::new()));
    let log = lines.clone();
    let trace = trace.on_event(move |e| {
        let ms = e.at.duration_since(t0).as_secs_f64() * 1e3;
        log.lock()
            .unwrap()
            .push(format!("{ms:7.3} ms  event {}", e.kind.name()));
    });
    let mut core = Core::new(config, trace);

    let req = http::Request::get("http://www.example.test/hello").body(().into())?;
    let id = core.submit(req, Trace::new(), t0);
    let head = loop {
        drain(&mut core, &net, &lines);
        if let Some(outcome) = core.take_outcome(id, net.borrow().now) {
            break outcome?;
        }
        advance(&mut core, &net);
    };
    let mut body = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let now = net.borrow().now;
        match core.read_body(id, &mut buf, now)? {
            BodyRead::Data(n) => body.extend_from_slice(&buf[..n]),
            BodyRead::End => break,
            BodyRead::Pending => {
                drain(&mut core, &net, &lines);
                advance(&mut core, &net);
            }
        }
    }
    core.release(id, net.borrow().now);
    drain(&mut core, &net, &lines);
    let outcome = format!(
        "{:?} {}: {}",
        head.version,
        head.status,
        String::from_utf8(body)?.trim()
    );
    let timeline = std::mem::take(&mut *lines.lock().unwrap());
    Ok((timeline, outcome))
}

/// Does what the core asks, as the simulated network would.
fn drain(core: &mut Core, net: &Rc<RefCell<Net>>, lines: &Mutex<Vec<String>>) {
    while let Some(io) = core.poll_io() {
        let mut n = net.borrow_mut();
        let (now, at) = (n.now, n.at(n.now));
        let note = |what: String| lines.lock().unwrap().push(format!("{at}  io    {what}"));
        match io {
            Io::SendDatagram {
                sock,
                server,
                payload,
            } => {
                note(format!(
                    "{sock:?}: send a DNS query to {server} ({} bytes)",
                    payload.len()
                ));
                let answer = super::dns_answer(&payload, WEB).expect("a query");
                n.send(2 * LATENCY, Delivery::Datagram(sock, answer));
            }
            Io::Connect { sock, addr } => {
                note(format!("{sock:?}: connect to {addr}"));
                // SYN there, SYN-ACK back.
                n.send(2 * LATENCY, Delivery::Connected(sock));
            }
            Io::Send { sock } => {
                let (head, body) = core.send_buf(sock).expect("bytes to send");
                let sent = head.len() + body.len();
                note(format!("{sock:?}: write {sent} bytes"));
                let response = b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nhello\n".to_vec();
                n.send(2 * LATENCY, Delivery::Bytes(sock, response));
                core.handle_sent(sock, sent, now);
            }
            Io::Recv { sock } => {
                let inbox = n.inbox.entry(sock).or_default();
                let buf = core.recv_buf(sock).expect("room to read into");
                let len = inbox.len().min(buf.len());
                for (dst, src) in buf.iter_mut().zip(inbox.drain(..len)) {
                    *dst = src;
                }
                if len == 0 {
                    core.handle_would_block(sock, roundtrip::core::Direction::Recv);
                } else {
                    note(format!("{sock:?}: read {len} bytes"));
                    core.handle_received(sock, len, now);
                }
            }
            Io::Farewell { .. } => {}
            Io::Close { sock } => {
                note(format!("{sock:?}: close"));
                n.inbox.remove(&sock);
            }
            _ => {}
        }
    }
}

/// Moves the clock to the next delivery or deadline and hands the core
/// what happened then.
fn advance(core: &mut Core, net: &Rc<RefCell<Net>>) {
    let mut n = net.borrow_mut();
    let next = [n.in_flight.first().map(|(t, _)| *t), core.poll_timeout()]
        .into_iter()
        .flatten()
        .min()
        .expect("something to wait for");
    n.now = next;
    let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut n.in_flight)
        .into_iter()
        .partition(|(t, _)| *t <= next);
    n.in_flight = later;
    let local: SocketAddr = "198.51.100.7:40000".parse().unwrap();
    let dns: SocketAddr = DNS.parse().unwrap();
    drop(n);
    for (_, delivery) in due {
        match delivery {
            Delivery::Connected(sock) => core.handle_connected(sock, local, next),
            Delivery::Datagram(sock, bytes) => core.handle_datagram(sock, dns, &bytes, next),
            Delivery::Bytes(sock, bytes) => {
                net.borrow_mut()
                    .inbox
                    .entry(sock)
                    .or_default()
                    .extend(bytes);
                let ready = Ready {
                    readable: true,
                    writable: true,
                    hup: false,
                };
                core.handle_ready(sock, ready, next);
            }
        }
    }
    core.handle_timeout(next);
}

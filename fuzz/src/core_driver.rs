//! The body of the `core_driver` fuzz target: the public sans-IO client
//! (`roundtrip::core::Core`) driven with arbitrary results for the IO it
//! asks for — connects that succeed or fail, bytes and datagrams from the
//! peers, short writes, errors, ends of stream, clock jumps — and
//! arbitrary application calls in between.
//!
//! Like `targets.rs`, this one file is compiled twice: by the fuzz crate
//! (`fuzz/src/lib.rs`, used by `fuzz/fuzz_targets/core_driver.rs`) and by
//! the root crate's `tests/fuzz_replay.rs`, which replays
//! `fuzz/corpus/core_driver/` through it. It may therefore use only `std`
//! and `roundtrip`.
//!
//! # Input format
//!
//! ```text
//! byte 0        configuration: bit 0 https (else http); bit 1 the host is
//!               a name resolved through the DNS server 192.0.2.53 (else
//!               the address 192.0.2.1); bit 2 a POST with a 5-byte body
//!               (else a GET); bit 3 a second request at the start; bit 4
//!               follow redirects (at most 3); bit 5 through the proxy
//!               http://192.0.2.8:3128 (absolute-form for http, CONNECT
//!               for https)
//! then ops      one op byte: action = op & 7, flags = op >> 3
//!   0 connected the pending connect flags % n completes
//!   1 refused   the pending connect flags % n fails
//!   2 bytes     len (u8), len bytes: arrive on TCP socket flags % n
//!   3 datagram  len (u8), len bytes: arrive on UDP socket flags % n; the
//!               first two bytes are replaced by that socket's query id
//!               (so the answer can pass the id check)
//!   4 window    the next writes on every socket take at most
//!               flags × 16 bytes (0: they would block); sockets turn
//!               writable
//!   5 sleep     n (u8): time passes n × 50 ms, then handle_timeout
//!   6 deadline  time jumps to poll_timeout(), then handle_timeout
//!   7 app/peer  flags % 8: 0 end of stream on TCP socket (flags / 8) % n;
//!               1 a reset on it; 2 read_body of each request (16 bytes);
//!               3 take_outcome of each; 4 release the first request;
//!               5 a datagram receive error; 6 hup on a socket;
//!               7 submit one more request (at most 4)
//! ```
//!
//! Invariants checked after every op, beyond "no panic": `poll_io` ends;
//! every `Send`/`Recv` names a connected TCP socket of ours, every
//! `Connect`/`SendDatagram` a fresh id; the core's socket count equals the
//! driver's; events never go back in time. At the end, once every request
//! is released, the core shut down and the clock run past every deadline:
//! no deadline, no socket, no idle connection, and each request has had
//! exactly one `request_done`.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use roundtrip::core::{BodyRead, Core, Direction, Io, Ready, SockId};
use roundtrip::proxy::ProxyConfig;
use roundtrip::{Config, RequestId, Trace};

/// What the trace recorded: request, event name, instant.
type Events = Arc<Mutex<Vec<(Option<RequestId>, &'static str, Instant)>>>;

/// At most this many `Io` from one drain: far more than any real turn.
const MAX_IO_PER_DRAIN: usize = 10_000;

struct TcpPeer {
    inbox: VecDeque<u8>,
    eof: bool,
}

struct Driver {
    core: Core,
    now: Instant,
    connecting: Vec<SockId>,
    tcp: HashMap<SockId, TcpPeer>,
    /// UDP sockets and the id of the query each sent.
    udp: Vec<(SockId, [u8; 2])>,
    window: usize,
    requests: Vec<RequestId>,
    released: Vec<RequestId>,
}

impl Driver {
    fn open(&self) -> usize {
        self.connecting.len() + self.tcp.len() + self.udp.len()
    }

    fn known(&self, sock: SockId) -> bool {
        self.connecting.contains(&sock)
            || self.tcp.contains_key(&sock)
            || self.udp.iter().any(|(s, _)| *s == sock)
    }

    fn drain(&mut self) {
        for _ in 0..MAX_IO_PER_DRAIN {
            let Some(io) = self.core.poll_io() else {
                assert_eq!(self.core.open_sockets(), self.open(), "socket counts agree");
                return;
            };
            let now = self.now;
            match io {
                Io::Connect { sock, .. } => {
                    assert!(!self.known(sock), "{sock:?} reused while open");
                    self.connecting.push(sock);
                }
                Io::SendDatagram { sock, payload, .. } => {
                    assert!(!self.known(sock), "{sock:?} reused while open");
                    assert!(payload.len() >= 12, "a DNS message");
                    self.udp.push((sock, [payload[0], payload[1]]));
                }
                Io::Send { sock } => {
                    assert!(self.tcp.contains_key(&sock), "send on {sock:?}");
                    let window = self.window;
                    let Some((a, b)) = self.core.send_buf(sock) else {
                        continue;
                    };
                    assert!(!a.is_empty() || !b.is_empty(), "an empty send");
                    let n = (a.len() + b.len()).min(window);
                    if n == 0 {
                        self.core.handle_would_block(sock, Direction::Send);
                    } else {
                        self.core.handle_sent(sock, n, now);
                    }
                }
                Io::Recv { sock } => {
                    let peer = self.tcp.get_mut(&sock).expect("recv on a connected socket");
                    let Some(buf) = self.core.recv_buf(sock) else {
                        continue;
                    };
                    assert!(!buf.is_empty(), "an empty receive buffer");
                    let n = peer.inbox.len().min(buf.len());
                    for (d, s) in buf.iter_mut().zip(peer.inbox.drain(..n)) {
                        *d = s;
                    }
                    if n > 0 || peer.eof {
                        self.core.handle_received(sock, n, now);
                    } else {
                        self.core.handle_would_block(sock, Direction::Recv);
                    }
                }
                Io::Farewell { sock, .. } => assert!(self.tcp.contains_key(&sock)),
                Io::Close { sock } => {
                    self.connecting.retain(|s| *s != sock);
                    self.tcp.remove(&sock);
                    self.udp.retain(|(s, _)| *s != sock);
                }
                _ => {}
            }
        }
        panic!("poll_io did not end");
    }

    fn submit(&mut self, url: &str, post: bool) {
        let builder = roundtrip::http::Request::builder().uri(url);
        let req = if post {
            builder.method("POST").body(b"hello".to_vec().into())
        } else {
            builder.body(().into())
        };
        let id = self
            .core
            .submit(req.expect("a valid request"), Trace::new(), self.now);
        self.requests.push(id);
    }

    fn pick_tcp(&self, sel: usize) -> Option<SockId> {
        let mut socks: Vec<SockId> = self.tcp.keys().copied().collect();
        socks.sort_by_key(|s| s.0);
        (!socks.is_empty()).then(|| socks[sel % socks.len()])
    }
}

/// Runs one input; panics if an invariant breaks.
pub fn core_driver(data: &[u8]) {
    let Some((&cfg, mut ops)) = data.split_first() else {
        return;
    };
    let t0 = Instant::now();
    let events: Events = Arc::default();
    let log = events.clone();
    let trace =
        Trace::new().on_event(move |e| log.lock().unwrap().push((e.req, e.kind.name(), e.at)));
    let mut config = Config::default();
    config.proxy = ProxyConfig::Off;
    config.dns_servers = Some(vec!["192.0.2.53:53".parse().unwrap()]);
    config.resolv_conf = None;
    config.hosts_file = None;
    config.dns_search = Some(Vec::new());
    config.tls_builtin_roots = false; // no certificate will verify: fine
    if cfg & 16 != 0 {
        config.follow_redirects = true;
        config.max_redirects = 3;
    }
    if cfg & 32 != 0 {
        let proxy = "http://192.0.2.8:3128".to_owned();
        config.proxy = ProxyConfig::Manual {
            http: Some(proxy.clone()),
            https: Some(proxy),
            no_proxy: String::new(),
        };
    }
    let scheme = if cfg & 1 != 0 { "https" } else { "http" };
    let host = if cfg & 2 != 0 {
        "www.example.test"
    } else {
        "192.0.2.1"
    };
    let url = format!("{scheme}://{host}/x");
    let post = cfg & 4 != 0;
    let mut d = Driver {
        core: Core::new(config, trace),
        now: t0,
        connecting: Vec::new(),
        tcp: HashMap::new(),
        udp: Vec::new(),
        window: usize::MAX,
        requests: Vec::new(),
        released: Vec::new(),
    };
    d.submit(&url, post);
    if cfg & 8 != 0 {
        d.submit(&url, post);
    }
    d.drain();
    let take = |ops: &mut &[u8], n: usize| -> Vec<u8> {
        let n = n.min(ops.len());
        let (head, rest) = ops.split_at(n);
        *ops = rest;
        head.to_vec()
    };
    while let Some((&op, rest)) = ops.split_first() {
        ops = rest;
        let (action, flags) = (op & 7, usize::from(op >> 3));
        let now = d.now;
        match action {
            0 | 1 if !d.connecting.is_empty() => {
                let sock = d.connecting.remove(flags % d.connecting.len());
                if action == 0 {
                    let local: SocketAddr = "198.51.100.7:40000".parse().unwrap();
                    d.tcp.insert(
                        sock,
                        TcpPeer {
                            inbox: VecDeque::new(),
                            eof: false,
                        },
                    );
                    d.core.handle_connected(sock, local, now);
                    d.core.handle_ready(sock, Ready::BOTH, now);
                } else {
                    // The driver forgets it; the core asks for its close.
                    d.connecting.push(sock);
                    let e = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
                    d.core.handle_connect_failed(sock, e, now);
                }
            }
            2 => {
                let len = take(&mut ops, 1).first().copied().unwrap_or(0);
                let bytes = take(&mut ops, usize::from(len));
                if let Some(sock) = d.pick_tcp(flags) {
                    d.tcp.get_mut(&sock).unwrap().inbox.extend(bytes);
                    let ready = Ready {
                        readable: true,
                        writable: false,
                        hup: false,
                    };
                    d.core.handle_ready(sock, ready, now);
                }
            }
            3 if !d.udp.is_empty() => {
                let len = take(&mut ops, 1).first().copied().unwrap_or(0);
                let mut bytes = take(&mut ops, usize::from(len));
                let (sock, id) = d.udp[flags % d.udp.len()];
                if bytes.len() >= 2 {
                    bytes[..2].copy_from_slice(&id);
                }
                let from: SocketAddr = "192.0.2.53:53".parse().unwrap();
                d.core.handle_datagram(sock, from, &bytes, now);
            }
            4 => {
                d.window = flags * 16;
                let socks: Vec<SockId> = d.tcp.keys().copied().collect();
                for sock in socks {
                    let ready = Ready {
                        readable: false,
                        writable: true,
                        hup: false,
                    };
                    d.core.handle_ready(sock, ready, now);
                }
            }
            5 => {
                let n = take(&mut ops, 1).first().copied().unwrap_or(0);
                d.now += Duration::from_millis(50) * u32::from(n);
                d.core.handle_timeout(d.now);
            }
            6 => {
                if let Some(t) = d.core.poll_timeout() {
                    d.now = d.now.max(t);
                }
                d.core.handle_timeout(d.now);
            }
            7 => match flags % 8 {
                0 | 1 | 6 => {
                    if let Some(sock) = d.pick_tcp(flags / 8) {
                        match flags % 8 {
                            0 => {
                                d.tcp.get_mut(&sock).unwrap().eof = true;
                                let ready = Ready {
                                    readable: true,
                                    writable: false,
                                    hup: true,
                                };
                                d.core.handle_ready(sock, ready, now);
                            }
                            1 => {
                                let e = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
                                d.core.handle_io_error(sock, Direction::Recv, e, now);
                            }
                            _ => {
                                let ready = Ready {
                                    readable: false,
                                    writable: false,
                                    hup: true,
                                };
                                d.core.handle_ready(sock, ready, now);
                            }
                        }
                    }
                }
                2 => {
                    for id in d.requests.clone() {
                        let mut buf = [0u8; 16];
                        if let Ok(BodyRead::Data(n)) = d.core.read_body(id, &mut buf, now) {
                            assert!(n <= buf.len());
                        }
                    }
                }
                3 => {
                    for id in d.requests.clone() {
                        let _ = d.core.take_outcome(id, now);
                    }
                }
                4 if !d.requests.is_empty() => {
                    let id = d.requests.remove(0);
                    d.core.release(id, now);
                    d.released.push(id);
                }
                5 if !d.udp.is_empty() => {
                    let (sock, _) = d.udp[(flags / 8) % d.udp.len()];
                    let e = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
                    d.core.handle_io_error(sock, Direction::Recv, e, now);
                }
                7 if d.requests.len() + d.released.len() < 4 => d.submit(&url, post),
                _ => {}
            },
            _ => {}
        }
        d.drain();
    }
    // The caller is done: release everything, shut down.
    let now = d.now;
    for id in std::mem::take(&mut d.requests) {
        d.core.release(id, now);
        d.released.push(id);
    }
    d.drain();
    d.core.shutdown(now);
    d.drain();
    // A released request's DNS lookup runs on to its end (its answer
    // still fills the cache): let the clock run until nothing is armed.
    for _ in 0..1000 {
        let Some(t) = d.core.poll_timeout() else {
            break;
        };
        d.now = d.now.max(t);
        d.core.handle_timeout(d.now);
        d.drain();
    }
    assert_eq!(d.core.poll_timeout(), None, "a deadline that never ends");
    assert_eq!(d.core.open_sockets(), 0, "sockets left");
    assert_eq!(d.core.idle_conns(), 0, "idle connections left");
    assert_eq!(d.core.in_flight(), 0);

    let events = events.lock().unwrap();
    for pair in events.windows(2) {
        assert!(pair[0].2 <= pair[1].2, "events go back in time: {pair:?}");
    }
    for id in &d.released {
        let done = events
            .iter()
            .filter(|(req, name, _)| *req == Some(*id) && *name == "request_done")
            .count();
        assert_eq!(done, 1, "request_done of {id:?}: {events:?}");
    }
}

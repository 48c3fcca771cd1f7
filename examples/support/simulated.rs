//! The driver loop of `examples/drive_simulated.rs`: a simulated network
//! on a virtual clock, in a module of its own so that
//! tests/drivers_agree.rs runs the very same loop. It plays a
//! [`Scenario`]: one plain GET (the teaching timeline), a second GET on
//! the pooled connection, a GET over HTTPS (the web server is an in-memory
//! rustls `ServerConnection` with a certificate minted by rcgen), or a GET
//! whose first A query the network loses, so that the core asks again
//! when the DNS timeout passes on the virtual clock.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use roundtrip::core::{BodyRead, Core, Io, Ready, SockId};
use roundtrip::{proxy::ProxyConfig, Config, Trace};

/// One way, client to server or back.
const LATENCY: Duration = Duration::from_millis(10);
const DNS: &str = "192.0.2.53:53";
const WEB: [u8; 4] = [192, 0, 2, 80];
/// What the web server answers to every request.
const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nhello\n";
/// The DNS timeout of [`Scenario::DnsRetry`].
pub const DNS_RETRY_TIMEOUT: Duration = Duration::from_millis(100);

/// What the simulation plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// One GET of `http://www.example.test/hello`.
    Plain,
    /// Two GETs of it, the second on the connection the first left in the
    /// pool.
    Pooled,
    /// One GET of `https://www.example.test/hello`.
    Https,
    /// One GET of `http://www.example.test/hello` whose first A query is
    /// lost: the core asks again after [`DNS_RETRY_TIMEOUT`].
    DnsRetry,
}

impl Scenario {
    pub const ALL: [Scenario; 4] = [
        Scenario::Plain,
        Scenario::Pooled,
        Scenario::Https,
        Scenario::DnsRetry,
    ];

    /// The name on `drive_simulated`'s command line.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Plain => "plain",
            Scenario::Pooled => "pooled",
            Scenario::Https => "https",
            Scenario::DnsRetry => "dns-retry",
        }
    }

    pub fn from_name(name: &str) -> Option<Scenario> {
        Scenario::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The URLs it GETs, one after another.
    pub fn urls(self) -> Vec<&'static str> {
        match self {
            Scenario::Plain | Scenario::DnsRetry => vec!["http://www.example.test/hello"],
            Scenario::Pooled => vec!["http://www.example.test/hello"; 2],
            Scenario::Https => vec!["https://www.example.test/hello"],
        }
    }
}

/// Something the network delivers to the client at a given instant.
enum Delivery {
    Connected(SockId),
    Datagram(SockId, Vec<u8>),
    Bytes(SockId, Vec<u8>),
}

/// The web server's end of one connection: what it has received of the
/// next request head, and its TLS session on HTTPS.
struct WebConn {
    tls: Option<rustls::ServerConnection>,
    request: Vec<u8>,
}

impl WebConn {
    /// Takes the bytes the client sent; returns the bytes sent back.
    fn receive(&mut self, mut bytes: &[u8]) -> Vec<u8> {
        let Some(tls) = &mut self.tls else {
            self.request.extend_from_slice(bytes);
            return answer(&mut self.request);
        };
        while !bytes.is_empty() {
            tls.read_tls(&mut bytes)
                .expect("room for the client's records");
            tls.process_new_packets().expect("TLS the server accepts");
        }
        // Err(WouldBlock) once the plaintext received so far is read.
        let _ = tls.reader().read_to_end(&mut self.request);
        let responses = answer(&mut self.request);
        tls.writer().write_all(&responses).expect("a TLS writer");
        let mut out = Vec::new();
        while tls.wants_write() {
            tls.write_tls(&mut out).expect("writing to a Vec");
        }
        out
    }
}

/// A [`RESPONSE`] for every complete request head in `request`, which
/// keeps what follows the last one.
fn answer(request: &mut Vec<u8>) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") {
        request.drain(..end + 4);
        out.extend_from_slice(RESPONSE);
    }
    out
}

/// The simulated network: deliveries in flight, in the order they land,
/// what each client socket has received but not yet read, the web
/// server's connections and how many A queries the DNS server was sent.
struct Net {
    scenario: Scenario,
    t0: Instant,
    now: Instant,
    in_flight: Vec<(Instant, Delivery)>,
    inbox: HashMap<SockId, VecDeque<u8>>,
    web: HashMap<SockId, WebConn>,
    tls: Option<Arc<rustls::ServerConfig>>,
    a_queries: usize,
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

/// A file removed when dropped: the CA certificate the client trusts.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A CA, written as PEM to a temporary file for `Config::tls_ca_files`,
/// and a server config whose certificate for www.example.test it signed.
fn mint_tls() -> Result<(TempFile, Arc<rustls::ServerConfig>), Box<dyn std::error::Error>> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "simulated CA");
    let ca_key = KeyPair::generate()?;
    let ca = ca_params.self_signed(&ca_key)?;
    let leaf_params = CertificateParams::new(vec!["www.example.test".to_string()])?;
    let leaf_key = KeyPair::generate()?;
    let leaf = leaf_params.signed_by(&leaf_key, &ca, &ca_key)?;

    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let pid = std::process::id();
    let pem = TempFile(std::env::temp_dir().join(format!("roundtrip-simulated-ca-{pid}-{n}.pem")));
    std::fs::write(&pem.0, ca.pem())?;

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let key = rustls::pki_types::PrivatePkcs8KeyDer::from(leaf_key.serialize_der());
    let mut server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(vec![leaf.der().clone()], key.into())?;
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((pem, Arc::new(server)))
}

/// The timeline of a run (IO asked for and events, each at its virtual
/// instant) and each response as "VERSION STATUS: BODY".
pub type Played = (Vec<String>, Vec<String>);

/// Plays `scenario` over the simulated network, from a `Core` whose trace
/// is `trace` plus a hook of its own. Requests are released when read to
/// the end; the last connection stays in the pool (no shutdown).
pub fn run(scenario: Scenario, trace: Trace) -> Result<Played, Box<dyn std::error::Error>> {
    let t0 = Instant::now();
    let mut config = Config::default();
    config.dns_servers = Some(vec![DNS.parse()?]);
    (config.resolv_conf, config.hosts_file, config.proxy) = (None, None, ProxyConfig::Off);
    let (mut _ca_file, mut tls) = (None, None);
    match scenario {
        Scenario::Plain | Scenario::Pooled => {}
        Scenario::Https => {
            let (pem, server) = mint_tls()?;
            (config.tls_ca_files, config.tls_builtin_roots) = (vec![pem.0.clone()], false);
            (_ca_file, tls) = (Some(pem), Some(server));
        }
        Scenario::DnsRetry => {
            (config.dns_timeout, config.dns_attempts) = (Some(DNS_RETRY_TIMEOUT), Some(2));
        }
    }
    let net = Rc::new(RefCell::new(Net {
        scenario,
        t0,
        now: t0,
        in_flight: Vec::new(),
        inbox: HashMap::new(),
        web: HashMap::new(),
        tls,
        a_queries: 0,
    }));
    let lines = Arc::new(Mutex::new(Vec::new()));
    let log = lines.clone();
    let trace = trace.on_event(move |e| {
        let ms = e.at.duration_since(t0).as_secs_f64() * 1e3;
        log.lock()
            .unwrap()
            .push(format!("{ms:7.3} ms  event {}", e.kind.name()));
    });
    let mut core = Core::new(config, trace);

    let mut outcomes = Vec::new();
    for url in scenario.urls() {
        let req = http::Request::get(url).body(().into())?;
        let id = core.submit(req, Trace::new(), net.borrow().now);
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
        outcomes.push(format!(
            "{:?} {}: {}",
            head.version,
            head.status,
            String::from_utf8(body)?.trim()
        ));
    }
    let timeline = std::mem::take(&mut *lines.lock().unwrap());
    Ok((timeline, outcomes))
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
                let is_a = super::is_a_query(&payload);
                n.a_queries += usize::from(is_a);
                let lost = n.scenario == Scenario::DnsRetry && is_a && n.a_queries == 1;
                note(format!(
                    "{sock:?}: send a DNS query to {server} ({} bytes){}",
                    payload.len(),
                    if lost { ", lost on the way" } else { "" }
                ));
                if !lost {
                    let answer = super::dns_answer(&payload, WEB).expect("a query");
                    n.send(2 * LATENCY, Delivery::Datagram(sock, answer));
                }
            }
            Io::Connect { sock, addr } => {
                note(format!("{sock:?}: connect to {addr}"));
                let tls = n.tls.clone().map(|config| {
                    rustls::ServerConnection::new(config).expect("a server config that works")
                });
                let request = Vec::new();
                n.web.insert(sock, WebConn { tls, request });
                // SYN there, SYN-ACK back.
                n.send(2 * LATENCY, Delivery::Connected(sock));
            }
            Io::Send { sock } => {
                let (head, body) = core.send_buf(sock).expect("bytes to send");
                let sent = head.len() + body.len();
                note(format!("{sock:?}: write {sent} bytes"));
                let bytes = [head, body].concat();
                let reply = n.web.get_mut(&sock).expect("a connection").receive(&bytes);
                if !reply.is_empty() {
                    n.send(2 * LATENCY, Delivery::Bytes(sock, reply));
                }
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
                n.web.remove(&sock);
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

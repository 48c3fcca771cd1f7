//! Certificates minted with rcgen and a blocking rustls server on
//! 127.0.0.1, for HTTPS tests (the failure matrix of issue #5 builds on
//! these): CAs, server and client leaves (also as PEM files, for
//! `Config::tls_client_cert` and nginx), server configs (TLS 1.2 only,
//! client certificates required, session tickets), a server-side TLS accept
//! for `lo::Srv` scripts, what the client did at the end of a connection
//! (close_notify or not), and raw TLS records for servers that misbehave.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rcgen::{
    date_time_ymd, BasicConstraints, Certificate, CertificateParams, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::SupportedProtocolVersion;

/// A CA and its key.
pub struct Ca {
    pub cert: Certificate,
    pub key: KeyPair,
    /// The CA certificate as a PEM file (for `Config::tls_ca_files`).
    pub pem_path: PathBuf,
}

/// A leaf certificate and key signed by a CA (or self-signed).
pub struct Leaf {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
    /// The certificate as PEM.
    pub cert_pem: String,
    /// The private key as PEM (PKCS#8).
    pub key_pem: String,
}

impl Leaf {
    fn new(cert: &Certificate, key: &KeyPair) -> Leaf {
        Leaf {
            chain: vec![cert.der().clone()],
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    /// Writes the certificate and the key to two PEM files (for
    /// `Config::tls_client_cert`): (certificate, key).
    pub fn write_pem(&self) -> (PathBuf, PathBuf) {
        let cert = temp_path("cert.pem");
        let key = temp_path("key.pem");
        std::fs::write(&cert, &self.cert_pem).unwrap();
        std::fs::write(&key, &self.key_pem).unwrap();
        (cert, key)
    }
}

/// A self-signed end-entity certificate for `names` (not a CA, signed by
/// no one the client trusts).
pub fn self_signed_leaf(names: &[&str]) -> Leaf {
    let mut params =
        CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, names.first().copied().unwrap_or("self"));
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    Leaf::new(&cert, &key)
}

fn temp_path(name: &str) -> PathBuf {
    super::scratch::scratch_path(name)
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let pem_path = temp_path("ca.pem");
        std::fs::write(&pem_path, cert.pem()).unwrap();
        Ca {
            cert,
            key,
            pem_path,
        }
    }

    /// A leaf for DNS names and IP addresses, valid from `from` to `until`
    /// (years), or for now when `None`.
    pub fn leaf(&self, names: &[&str], ips: &[&str], validity: Option<(i32, i32)>) -> Leaf {
        let mut params =
            CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap();
        for ip in ips {
            params
                .subject_alt_names
                .push(SanType::IpAddress(ip.parse().unwrap()));
        }
        params
            .distinguished_name
            .push(DnType::CommonName, names.first().copied().unwrap_or("ip"));
        if let Some((from, until)) = validity {
            params.not_before = date_time_ymd(from, 1, 1);
            params.not_after = date_time_ymd(until, 1, 1);
        }
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        Leaf::new(&cert, &key)
    }

    /// A client certificate (extended key usage clientAuth) for `name`.
    pub fn client_leaf(&self, name: &str) -> Leaf {
        let mut params = CertificateParams::new(vec![name.to_owned()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        Leaf::new(&cert, &key)
    }

    /// The CA as a rustls root store.
    pub fn roots(&self) -> rustls::RootCertStore {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.cert.der().clone()).unwrap();
        roots
    }
}

/// A server config for `leaf`, offering ALPN http/1.1.
pub fn server_config(leaf: &Leaf) -> Arc<rustls::ServerConfig> {
    server_config_with(leaf, &ServerOptions::default())
}

/// What a test server's config differs in.
#[derive(Default)]
pub struct ServerOptions<'a> {
    /// Protocol versions offered; empty: TLS 1.3 and 1.2.
    pub versions: &'a [&'static SupportedProtocolVersion],
    /// Require a client certificate issued by this CA.
    pub client_ca: Option<&'a Ca>,
    /// Stateless session tickets (rustls's ring `Ticketer`); otherwise the
    /// default stateful session cache.
    pub tickets: bool,
}

/// TLS 1.2 only.
pub const TLS12_ONLY: &[&SupportedProtocolVersion] = &[&rustls::version::TLS12];
/// TLS 1.3 only.
pub const TLS13_ONLY: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13];

/// A server config for `leaf` with `options`, offering ALPN http/1.1.
pub fn server_config_with(leaf: &Leaf, options: &ServerOptions<'_>) -> Arc<rustls::ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone());
    let builder = if options.versions.is_empty() {
        builder.with_safe_default_protocol_versions()
    } else {
        builder.with_protocol_versions(options.versions)
    }
    .unwrap();
    let builder = match options.client_ca {
        Some(ca) => {
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(ca.roots()),
                provider,
            )
            .build()
            .unwrap();
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(leaf.chain.clone(), leaf.key.clone_key())
        .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    if options.tickets {
        config.ticketer = rustls::crypto::ring::Ticketer::new().unwrap();
    }
    Arc::new(config)
}

/// A server-side TLS stream over a blocking socket.
pub type TlsStream = rustls::StreamOwned<rustls::ServerConnection, TcpStream>;

/// Runs the server side of a handshake on an accepted socket. On failure
/// the alert rustls chose has been sent; the socket is returned with the
/// error so that the caller can wait for the client to close.
pub fn accept(
    tcp: TcpStream,
    config: &Arc<rustls::ServerConfig>,
) -> Result<TlsStream, (TcpStream, std::io::Error)> {
    let conn = rustls::ServerConnection::new(config.clone()).unwrap();
    let mut s = rustls::StreamOwned::new(conn, tcp);
    while s.conn.is_handshaking() {
        if let Err(e) = s.conn.complete_io(&mut s.sock) {
            return Err((s.sock, e));
        }
    }
    // The last flight (TLS 1.2: the server's Finished; TLS 1.3: tickets).
    while s.conn.wants_write() {
        if let Err(e) = s.conn.write_tls(&mut s.sock) {
            return Err((s.sock, e));
        }
    }
    Ok(s)
}

/// How the client ended a TLS connection, as the server saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientEnd {
    /// A `close_notify` alert (rustls's reader returned `Ok(0)`).
    CloseNotify,
    /// TCP EOF without `close_notify` (`UnexpectedEof`).
    NoCloseNotify,
    /// Another error (a reset, a TLS error).
    Error(String),
    /// Nothing within the limit: the connection is still open.
    StillOpen,
}

/// Reads (and discards) until the client ends the connection or `limit`
/// passes, and says how it ended.
pub fn client_end(s: &mut TlsStream, limit: Duration) -> ClientEnd {
    let deadline = Instant::now() + limit;
    let mut sink = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return ClientEnd::StillOpen;
        }
        s.sock.set_read_timeout(Some(left)).unwrap();
        match s.read(&mut sink) {
            Ok(0) => return ClientEnd::CloseNotify,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                return ClientEnd::NoCloseNotify
            }
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(e) => return ClientEnd::Error(e.to_string()),
        }
    }
}

/// Reads one whole TLS record (header and fragment) off a raw socket:
/// `None` at EOF or on a malformed header.
pub fn read_record(tcp: &mut TcpStream) -> Option<Vec<u8>> {
    let mut record = vec![0u8; 5];
    tcp.read_exact(&mut record).ok()?;
    if !(0x14..=0x18).contains(&record[0]) || record[1] != 3 {
        return None;
    }
    let len = usize::from(u16::from_be_bytes([record[3], record[4]]));
    record.resize(5 + len, 0);
    tcp.read_exact(&mut record[5..]).ok()?;
    Some(record)
}

/// A fatal alert record (TLS 1.2 record version, as TLS 1.3 also uses on
/// the wire): level 2, then the description (RFC 8446 §6).
pub fn fatal_alert(description: u8) -> [u8; 7] {
    [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, description]
}

/// A TLS server on 127.0.0.1 that serves `connections` connections, each
/// answering every request with `response`, then closing with
/// close_notify.
pub struct TlsServer {
    pub addr: SocketAddr,
    handle: Option<JoinHandle<()>>,
    /// The SNI of each ClientHello, in the order the connections came.
    server_names: Arc<std::sync::Mutex<Vec<Option<String>>>>,
}

impl TlsServer {
    pub fn start(
        config: Arc<rustls::ServerConfig>,
        connections: usize,
        response: &'static [u8],
    ) -> TlsServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server_names = Arc::<std::sync::Mutex<Vec<_>>>::default();
        let names = server_names.clone();
        let handle = std::thread::spawn(move || {
            for _ in 0..connections {
                let Ok((tcp, _)) = listener.accept() else {
                    return;
                };
                tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let conn = rustls::ServerConnection::new(config.clone()).unwrap();
                let mut tls = rustls::StreamOwned::new(conn, tcp);
                // Finish the handshake before answering, so the name is on
                // record by the time the client has its response.
                while tls.conn.is_handshaking() {
                    if tls.conn.complete_io(&mut tls.sock).is_err() {
                        break;
                    }
                }
                names
                    .lock()
                    .unwrap()
                    .push(tls.conn.server_name().map(str::to_owned));
                loop {
                    let req = read_head(&mut tls);
                    if req.is_empty() {
                        break;
                    }
                    if tls.write_all(response).is_err() {
                        break;
                    }
                    let _ = tls.flush();
                }
                tls.conn.send_close_notify();
                let _ = tls.flush();
            }
        });
        TlsServer {
            addr,
            handle: Some(handle),
            server_names,
        }
    }

    /// The server name each ClientHello carried (SNI, as the server saw
    /// it), one per connection so far.
    pub fn server_names(&self) -> Vec<Option<String>> {
        self.server_names.lock().unwrap().clone()
    }

    pub fn join(mut self) {
        if let Some(h) = self.handle.take() {
            h.join().unwrap();
        }
    }
}

/// Reads one request head (up to the blank line); empty at EOF or error.
pub fn read_head(s: &mut TlsStream) -> Vec<u8> {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut b) {
            Ok(1) => head.push(b[0]),
            _ => return Vec::new(),
        }
    }
    head
}

/// A client that trusts only `ca`, with further settings from `f`.
pub fn client_trusting_with(ca: &Ca, f: impl FnOnce(&mut roundtrip::Config)) -> roundtrip::Client {
    roundtrip::Client::builder()
        .configure(|c| {
            c.tls_ca_files = vec![ca.pem_path.clone()];
            c.tls_builtin_roots = false;
            f(c);
        })
        .build()
}

/// The JSON lines of every `tls_handshake_done` in a recording.
pub fn handshakes(rec: &super::Recorder) -> Vec<String> {
    rec.events
        .lock()
        .unwrap()
        .iter()
        .filter(|(n, _)| n == "tls_handshake_done")
        .map(|(_, l)| l.clone())
        .collect()
}

/// Asserts the trace of a request whose handshake failed: one
/// `tls_handshake_start`, one `tls_handshake_done` carrying the error and
/// nothing agreed, no `got_conn`, and `request_done` once, last.
#[track_caller]
pub fn assert_handshake_failed(rec: &super::Recorder) {
    let names = rec.names();
    let count = |n: &str| names.iter().filter(|x| *x == n).count();
    assert_eq!(count("tls_handshake_start"), 1, "{names:?}");
    assert_eq!(count("tls_handshake_done"), 1, "{names:?}");
    let done = handshakes(rec).remove(0);
    assert!(!done.contains(r#""error":null"#), "{done}");
    assert!(done.contains(r#""error":""#), "{done}");
    assert!(!done.contains(r#""version""#), "{done}");
    assert!(!names.iter().any(|n| n == "got_conn"), "{names:?}");
    assert_eq!(count("request_done"), 1, "{names:?}");
    assert_eq!(names.last().map(String::as_str), Some("request_done"));
    let pos = |n: &str| names.iter().position(|x| x == n).unwrap();
    assert!(
        pos("connect_done") < pos("tls_handshake_start"),
        "{names:?}"
    );
    assert!(pos("tls_handshake_start") < pos("tls_handshake_done"));
}

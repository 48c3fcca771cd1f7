//! The five clients, each behind [`Peer`]: one GET of the target, its body
//! read to the end. Every peer is built once per workload and reused for
//! all its requests; each trusts only the test CA and sends `localhost`
//! to 127.0.0.1 without a name lookup (pinned, so that no client's
//! resolver is measured). For the new-connection workload each peer's pool
//! is disabled, so every request opens (and closes) a connection with the
//! same client and the same TLS configuration.

use std::error::Error;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

pub type Res<T> = Result<T, Box<dyn Error>>;

/// The peers, in table order.
pub const NAMES: [&str; 5] = ["roundtrip", "ureq", "hyper", "curl", "floor"];

/// What is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// A new connection (full TLS handshake) per request.
    New,
    /// One kept-alive connection for all requests.
    KeepAlive,
}

/// Where to send the requests.
#[derive(Debug, Clone)]
pub struct Target {
    /// `https://localhost:PORT/hello`.
    pub url: String,
    /// The port on 127.0.0.1.
    pub port: u16,
    /// The CA to trust (PEM).
    pub ca: PathBuf,
}

impl Target {
    fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }
}

/// One client under test.
pub trait Peer {
    /// One GET, body read to its end; returns the body's length.
    fn get(&mut self) -> Res<usize>;
    /// Checks done once before measuring (roundtrip: the trace shows a
    /// full handshake per request); a line for the report.
    fn verify(&mut self, _w: Workload) -> Res<Option<String>> {
        Ok(None)
    }
}

/// Builds peer `name` for workload `w`.
pub fn make(name: &str, w: Workload, t: &Target) -> Res<Box<dyn Peer>> {
    Ok(match name {
        "roundtrip" => Box::new(Roundtrip::new(w, t)),
        "ureq" => Box::new(Ureq::new(w, t)?),
        "hyper" => Box::new(Hyper::new(w, t)?),
        "curl" => Box::new(Curl::new(w, t)?),
        "floor" => Box::new(Floor::new(w, t)?),
        other => return Err(format!("unknown peer {other:?}").into()),
    })
}

fn check_status(code: u16) -> Res<()> {
    if code == 200 {
        Ok(())
    } else {
        Err(format!("status {code}").into())
    }
}

fn read_all(mut r: impl Read, buf: &mut [u8]) -> Res<usize> {
    let mut total = 0;
    loop {
        match r.read(buf)? {
            0 => return Ok(total),
            n => total += n,
        }
    }
}

// ---------------------------------------------------------------- roundtrip

/// `roundtrip::Client`: `max_idle_per_host = 0` for new connections.
struct Roundtrip {
    client: roundtrip::Client,
    url: String,
    buf: Vec<u8>,
}

impl Roundtrip {
    fn new(w: Workload, t: &Target) -> Roundtrip {
        let (ca, port) = (t.ca.clone(), t.port);
        let client = roundtrip::Client::builder()
            .configure(|c| {
                c.tls_ca_files = vec![ca];
                c.tls_builtin_roots = false;
                c.resolve = vec![("localhost".into(), port, vec![Ipv4Addr::LOCALHOST.into()])];
                if w == Workload::New {
                    c.max_idle_per_host = 0;
                }
            })
            .build();
        Roundtrip {
            client,
            url: t.url.clone(),
            buf: vec![0; 4096],
        }
    }
}

impl Peer for Roundtrip {
    fn get(&mut self) -> Res<usize> {
        let resp = self.client.get(&self.url)?;
        check_status(resp.status().as_u16())?;
        read_all(resp.into_body(), &mut self.buf)
    }

    fn verify(&mut self, w: Workload) -> Res<Option<String>> {
        const N: usize = 20;
        let seen = Arc::new(Mutex::new(Vec::new()));
        for _ in 0..N {
            let s = seen.clone();
            let trace = roundtrip::Trace::new().on_tls_handshake_done(move |_, info, err| {
                let what = match (info, err) {
                    (Some(i), _) => {
                        format!("{} {} resumed={}", i.version, i.cipher_suite, i.resumed)
                    }
                    (None, e) => format!("error {e:?}"),
                };
                s.lock().unwrap().push(what);
            });
            let resp = self
                .client
                .send_traced(http::Request::get(&self.url).body(())?, trace)?;
            check_status(resp.status().as_u16())?;
            read_all(resp.into_body(), &mut self.buf)?;
        }
        let seen = seen.lock().unwrap();
        let want = if w == Workload::New { N } else { 0 };
        if seen.len() != want || seen.iter().any(|s| !s.ends_with("resumed=false")) {
            return Err(format!("roundtrip {w:?}: {N} requests, handshakes: {seen:?}").into());
        }
        Ok(Some(match seen.first() {
            Some(first) => format!(
                "roundtrip ({w:?}): {N} traced requests, {} full handshakes ({first}), none resumed",
                seen.len()
            ),
            None => format!("roundtrip ({w:?}): {N} traced requests, no handshake (pooled)"),
        }))
    }
}

// --------------------------------------------------------------------- ureq

#[derive(Debug)]
struct PinnedUreq(SocketAddr);

impl ureq::unversioned::resolver::Resolver for PinnedUreq {
    fn resolve(
        &self,
        _uri: &ureq::http::Uri,
        _config: &ureq::config::Config,
        _timeout: ureq::unversioned::transport::NextTimeout,
    ) -> Result<ureq::unversioned::resolver::ResolvedSocketAddrs, ureq::Error> {
        let mut v = self.empty();
        v.push(self.0);
        Ok(v)
    }
}

/// ureq 3 (rustls, ring): `max_idle_connections_per_host(0)` for new
/// connections.
struct Ureq {
    agent: ureq::Agent,
    url: String,
    buf: Vec<u8>,
}

impl Ureq {
    fn new(w: Workload, t: &Target) -> Res<Ureq> {
        use ureq::tls::{Certificate, RootCerts, TlsConfig};
        let ca = Certificate::from_pem(&std::fs::read(&t.ca)?)?;
        let tls = TlsConfig::builder()
            .root_certs(RootCerts::Specific(Arc::new(vec![ca])))
            .build();
        let mut config = ureq::Agent::config_builder()
            .tls_config(tls)
            .http_status_as_error(false);
        if w == Workload::New {
            config = config.max_idle_connections_per_host(0);
        }
        let agent = ureq::Agent::with_parts(
            config.build(),
            ureq::unversioned::transport::DefaultConnector::new(),
            PinnedUreq(t.addr()),
        );
        Ok(Ureq {
            agent,
            url: t.url.clone(),
            buf: vec![0; 4096],
        })
    }
}

impl Peer for Ureq {
    fn get(&mut self) -> Res<usize> {
        let mut resp = self.agent.get(&self.url).call()?;
        check_status(resp.status().as_u16())?;
        read_all(resp.body_mut().as_reader(), &mut self.buf)
    }
}

// -------------------------------------------------------------------- hyper

#[derive(Clone)]
struct PinnedHyper(SocketAddr);

impl tower_service::Service<hyper_util::client::legacy::connect::dns::Name> for PinnedHyper {
    type Response = std::iter::Once<SocketAddr>;
    type Error = io::Error;
    type Future = std::future::Ready<Result<Self::Response, io::Error>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), io::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: hyper_util::client::legacy::connect::dns::Name) -> Self::Future {
        std::future::ready(Ok(std::iter::once(self.0)))
    }
}

type HyperClient = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector<PinnedHyper>>,
    http_body_util::Empty<bytes::Bytes>,
>;

/// hyper 1 + hyper-util's legacy client + hyper-rustls (ring) on a
/// current-thread tokio runtime: `pool_max_idle_per_host(0)` for new
/// connections. TCP_NODELAY on, as reqwest sets it.
struct Hyper {
    rt: tokio::runtime::Runtime,
    client: HyperClient,
    url: String,
}

fn rustls_config(t: &Target) -> Res<rustls::ClientConfig> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(&t.ca)? {
        roots.add(cert?)?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

impl Hyper {
    fn new(w: Workload, t: &Target) -> Res<Hyper> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let mut http = hyper_util::client::legacy::connect::HttpConnector::new_with_resolver(
            PinnedHyper(t.addr()),
        );
        http.enforce_http(false);
        http.set_nodelay(true);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(rustls_config(t)?)
            .https_only()
            .enable_http1()
            .wrap_connector(http);
        let mut builder =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new());
        if w == Workload::New {
            builder.pool_max_idle_per_host(0);
        }
        let client = {
            let _guard = rt.enter();
            builder.build(https)
        };
        Ok(Hyper {
            rt,
            client,
            url: t.url.clone(),
        })
    }
}

impl Peer for Hyper {
    fn get(&mut self) -> Res<usize> {
        use http_body_util::BodyExt;
        let uri: http::Uri = self.url.parse()?;
        let client = &self.client;
        self.rt.block_on(async move {
            let resp = client.get(uri).await?;
            check_status(resp.status().as_u16())?;
            let mut body = resp.into_body();
            let mut n = 0;
            while let Some(frame) = body.frame().await {
                if let Some(data) = frame?.data_ref() {
                    n += data.len();
                }
            }
            Ok(n)
        })
    }
}

// --------------------------------------------------------------------- curl

struct Collector(usize);

impl curl::easy::Handler for Collector {
    fn write(&mut self, data: &[u8]) -> Result<usize, curl::easy::WriteError> {
        self.0 += data.len();
        Ok(data.len())
    }
}

/// libcurl (the system's, OpenSSL) through the `curl` crate: one easy
/// handle, `CURLOPT_FORBID_REUSE` for new connections, HTTP/1.1 only.
struct Curl {
    easy: curl::easy::Easy2<Collector>,
}

impl Curl {
    fn new(w: Workload, t: &Target) -> Res<Curl> {
        curl::init();
        let mut easy = curl::easy::Easy2::new(Collector(0));
        easy.url(&t.url)?;
        easy.cainfo(&t.ca)?;
        let mut pins = curl::easy::List::new();
        pins.append(&format!("localhost:{}:127.0.0.1", t.port))?;
        easy.resolve(pins)?;
        easy.http_version(curl::easy::HttpVersion::V11)?;
        easy.forbid_reuse(w == Workload::New)?;
        Ok(Curl { easy })
    }
}

impl Peer for Curl {
    fn get(&mut self) -> Res<usize> {
        self.easy.get_mut().0 = 0;
        self.easy.perform()?;
        check_status(self.easy.response_code()? as u16)?;
        Ok(self.easy.get_ref().0)
    }
}

// -------------------------------------------------------------------- floor

/// The floor: rustls alone on a blocking `std::net::TcpStream`, one
/// pre-built request (`GET` with a `Host` field), a response of known
/// length read into a fixed buffer. The request is queued before the
/// handshake so that it leaves with the client's Finished; `close_notify`
/// is sent before closing (as roundtrip does).
struct Floor {
    config: Arc<rustls::ClientConfig>,
    addr: SocketAddr,
    keep: bool,
    request: Vec<u8>,
    response_len: usize,
    buf: Vec<u8>,
    conn: Option<(rustls::ClientConnection, TcpStream)>,
}

fn floor_exchange(
    conn: &mut rustls::ClientConnection,
    sock: &mut TcpStream,
    buf: &mut [u8],
) -> Res<()> {
    let mut got = 0;
    loop {
        while conn.wants_write() {
            conn.write_tls(sock)?;
        }
        while got < buf.len() {
            match conn.reader().read(&mut buf[got..]) {
                Ok(0) => return Err("floor: connection closed early".into()),
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e.into()),
            }
        }
        if got == buf.len() {
            return Ok(());
        }
        if conn.read_tls(sock)? == 0 {
            return Err("floor: EOF".into());
        }
        conn.process_new_packets()?;
    }
}

impl Floor {
    fn new(w: Workload, t: &Target) -> Res<Floor> {
        let mut config = rustls_config(t)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let mut floor = Floor {
            config: Arc::new(config),
            addr: t.addr(),
            keep: w == Workload::KeepAlive,
            request: format!("GET /hello HTTP/1.1\r\nHost: localhost:{}\r\n\r\n", t.port)
                .into_bytes(),
            response_len: 0,
            buf: Vec::new(),
            conn: None,
        };
        floor.response_len = floor.probe()?;
        floor.buf = vec![0; floor.response_len];
        Ok(floor)
    }

    fn open(&self) -> Res<(rustls::ClientConnection, TcpStream)> {
        let sock = TcpStream::connect(self.addr)?;
        sock.set_nodelay(true)?;
        let conn = rustls::ClientConnection::new(self.config.clone(), "localhost".try_into()?)?;
        Ok((conn, sock))
    }

    /// The response's length (its head has a fixed length: nginx's `Date`
    /// has a fixed width), from one request read up to its 13-byte body.
    fn probe(&self) -> Res<usize> {
        let (mut conn, mut sock) = self.open()?;
        let mut stream = rustls::Stream::new(&mut conn, &mut sock);
        stream.write_all(&self.request)?;
        let mut got = Vec::new();
        let mut chunk = [0; 4096];
        loop {
            let n = stream.read(&mut chunk)?;
            if n == 0 {
                return Err("floor: EOF while probing".into());
            }
            got.extend_from_slice(&chunk[..n]);
            if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                let len = end + 4 + crate::nginx::BODY.len();
                if got.len() >= len {
                    return Ok(len);
                }
            }
        }
    }
}

impl Peer for Floor {
    fn get(&mut self) -> Res<usize> {
        let (mut conn, mut sock) = match self.conn.take() {
            Some(c) => c,
            None => self.open()?,
        };
        conn.writer().write_all(&self.request)?;
        floor_exchange(&mut conn, &mut sock, &mut self.buf)?;
        if !self.buf.starts_with(b"HTTP/1.1 200 ")
            || !self.buf.ends_with(crate::nginx::BODY.as_bytes())
        {
            return Err("floor: unexpected response".into());
        }
        if self.keep {
            self.conn = Some((conn, sock));
        } else {
            conn.send_close_notify();
            while conn.wants_write() {
                conn.write_tls(&mut sock)?;
            }
        }
        Ok(crate::nginx::BODY.len())
    }
}

//! The clients of the suite, one per peer, each behind [`Client`]: one
//! call is one GET (or, for [`Workload::Concurrent`], one batch of
//! concurrent GETs), every body read to its end and its length checked.
//!
//! Every client is built once per child process and reused for all its
//! calls (except in the concurrent workload, where each batch starts from
//! a fresh client, so that every one of its GETs opens a connection). Rust
//! peers get the same ring-based rustls configuration; all trust only the
//! test CA and send `localhost` to 127.0.0.1 without a name lookup.

use std::error::Error;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use crate::nginx;

pub type Res<T> = Result<T, Box<dyn Error>>;

/// Size of every client's read buffer, where the caller supplies one
/// (roundtrip sizes its own: [`copy_body`]).
const BUF: usize = 64 * 1024;

/// The floor's read size for the big download: no client can do less work
/// than it, and reads of 64 KiB cost this machine's kernel about three times
/// the time of 512 KiB reads (docs/benchmarks.md, step 19); hyper reads up
/// to about 400 KiB per `recvfrom`, roundtrip 512 KiB into its receive
/// buffer. Read straight into this buffer, the floor copies nothing.
const BIG_FLOOR_BUF: usize = 512 * 1024;

/// The five workloads of issue 9.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// Sequential GETs of the 13-byte `/hello` on one kept-alive HTTP
    /// connection.
    KeepAlive,
    /// Sequential GETs of `/hello` over HTTPS, a new connection (full TLS
    /// 1.3 handshake) each.
    New,
    /// One download of `/big` over HTTP.
    Big,
    /// A batch of concurrent GETs of `/hello` over HTTP on one thread.
    Concurrent,
    /// GETs of the 1 MiB chunked `/chunked` over one kept-alive HTTP
    /// connection.
    Chunked,
}

impl Workload {
    /// All, in report order.
    pub const ALL: [Workload; 5] = [
        Workload::KeepAlive,
        Workload::New,
        Workload::Big,
        Workload::Concurrent,
        Workload::Chunked,
    ];

    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Workload::KeepAlive => "keepalive",
            Workload::New => "new",
            Workload::Big => "big",
            Workload::Concurrent => "concurrent",
            Workload::Chunked => "chunked",
        }
    }

    /// Parses [`name`](Self::name).
    pub fn parse(s: &str) -> Res<Workload> {
        Workload::ALL
            .into_iter()
            .find(|w| w.name() == s)
            .ok_or_else(|| format!("unknown workload {s:?}").into())
    }

    /// The peers that run it.
    pub fn peers(self) -> &'static [&'static str] {
        match self {
            Workload::KeepAlive | Workload::New => &[
                "roundtrip",
                "roundtrip+hooks",
                "ureq",
                "reqwest",
                "hyper",
                "curl",
                "floor",
            ],
            Workload::Big | Workload::Chunked => {
                &["roundtrip", "ureq", "reqwest", "hyper", "curl", "floor"]
            }
            Workload::Concurrent => &["roundtrip", "hyper", "curl"],
        }
    }
}

/// Where the requests go.
#[derive(Debug, Clone)]
pub struct Target {
    /// nginx's plain-HTTP port on 127.0.0.1.
    pub http_port: u16,
    /// nginx's HTTPS port on 127.0.0.1 (name: `localhost`).
    pub https_port: u16,
    /// The CA to trust (PEM).
    pub ca: PathBuf,
    /// The length of `/big`.
    pub big_len: usize,
    /// GETs per batch in the concurrent workload.
    pub concurrency: usize,
}

impl Target {
    /// The URL workload `w` fetches.
    pub fn url(&self, w: Workload) -> String {
        let http = |path: &str| format!("http://127.0.0.1:{}{path}", self.http_port);
        match w {
            Workload::KeepAlive | Workload::Concurrent => http(nginx::PATH),
            Workload::New => format!("https://localhost:{}{}", self.https_port, nginx::PATH),
            Workload::Big => http(nginx::BIG_PATH),
            Workload::Chunked => http(nginx::CHUNKED_PATH),
        }
    }

    /// The body length of one GET of workload `w`.
    pub fn body_len(&self, w: Workload) -> usize {
        match w {
            Workload::KeepAlive | Workload::New | Workload::Concurrent => nginx::BODY.len(),
            Workload::Big => self.big_len,
            Workload::Chunked => nginx::CHUNKED_LEN,
        }
    }

    fn https_addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.https_port))
    }

    fn http_addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.http_port))
    }
}

/// One client under test.
pub trait Client {
    /// One GET (a batch of `concurrency` GETs in the concurrent workload),
    /// bodies read to their end; returns the body bytes read.
    fn call(&mut self) -> Res<usize>;
}

/// Builds client `name` for workload `w`.
pub fn make(name: &str, w: Workload, t: &Target) -> Res<Box<dyn Client>> {
    Ok(match (name, w) {
        ("idle", _) => Box::new(Idle(t.body_len(w) * gets(w, t))),
        ("roundtrip", Workload::Concurrent) => Box::new(RoundtripBatch::new(t)),
        ("roundtrip", _) => Box::new(Roundtrip::new(w, t, false)),
        ("roundtrip+hooks", Workload::KeepAlive | Workload::New) => {
            Box::new(Roundtrip::new(w, t, true))
        }
        ("ureq", w) if w != Workload::Concurrent => Box::new(Ureq::new(w, t)?),
        ("reqwest", w) if w != Workload::Concurrent => Box::new(Reqwest::new(w, t)?),
        ("hyper", _) => Box::new(Hyper::new(w, t)?),
        ("curl", Workload::Concurrent) => Box::new(CurlMulti::new(t)),
        ("curl", _) => Box::new(Curl::new(w, t)?),
        ("floor", Workload::New) => Box::new(TlsFloor(crate::peers::make(
            "floor",
            crate::peers::Workload::New,
            &crate::peers::Target {
                url: t.url(w),
                port: t.https_port,
                ca: t.ca.clone(),
            },
        )?)),
        ("floor", w) if w != Workload::Concurrent => Box::new(Floor::new(w, t)?),
        _ => return Err(format!("no peer {name:?} for workload {}", w.name()).into()),
    })
}

fn gets(w: Workload, t: &Target) -> usize {
    if w == Workload::Concurrent {
        t.concurrency
    } else {
        1
    }
}

/// No client at all: what a child process of this binary costs by itself
/// (its peak RSS is the baseline subtracted from every peer's).
struct Idle(usize);

impl Client for Idle {
    fn call(&mut self) -> Res<usize> {
        Ok(self.0)
    }
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

/// The ring-based rustls configuration every Rust peer uses.
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

// ---------------------------------------------------------------- roundtrip

/// Events seen by the `roundtrip+hooks` peer's hook.
pub static EVENTS: AtomicU64 = AtomicU64::new(0);

/// The hook of `roundtrip+hooks`: attached with `Trace::on_event`, so it
/// sees every event (TLS summaries included). A plain `fn`, so boxing it
/// allocates nothing.
fn hook(_: &roundtrip::Event<'_>) {
    EVENTS.fetch_add(1, Relaxed);
}

fn roundtrip_client(t: &Target, keep: bool) -> roundtrip::Client {
    let (ca, port) = (t.ca.clone(), t.https_port);
    roundtrip::Client::builder()
        .configure(|c| {
            c.tls_ca_files = vec![ca];
            c.tls_builtin_roots = false;
            c.resolve = vec![("localhost".into(), port, vec![Ipv4Addr::LOCALHOST.into()])];
            if !keep {
                c.max_idle_per_host = 0;
            }
        })
        .build()
}

/// `roundtrip::Client`, what a user writes: `Request::get(url)`, `send`
/// (or `send_traced` with [`hook`]), the body written to its end with
/// [`copy_body`].
struct Roundtrip {
    client: roundtrip::Client,
    url: String,
    hooks: bool,
}

impl Roundtrip {
    fn new(w: Workload, t: &Target, hooks: bool) -> Roundtrip {
        Roundtrip {
            client: roundtrip_client(t, w != Workload::New),
            url: t.url(w),
            hooks,
        }
    }
}

/// A roundtrip body to its end, through `Body::copy_to`: roundtrip's call
/// for handing a body to a writer, as curl's write callback and hyper's
/// frames are theirs (the body's bytes reach the writer without a copy
/// into a caller's buffer). The writer is `io::sink`, which only counts.
fn copy_body(mut body: roundtrip::Body) -> Res<usize> {
    Ok(usize::try_from(body.copy_to(&mut io::sink())?)?)
}

impl Client for Roundtrip {
    fn call(&mut self) -> Res<usize> {
        let req = http::Request::get(&self.url).body(())?;
        let resp = if self.hooks {
            self.client
                .send_traced(req, roundtrip::Trace::new().on_event(hook))?
        } else {
            self.client.send(req)?
        };
        check_status(resp.status().as_u16())?;
        copy_body(resp.into_body())
    }
}

/// roundtrip's batch API: a fresh client per batch, every request
/// submitted, then each response taken as it completes and its body read.
struct RoundtripBatch {
    target: Target,
    url: String,
}

impl RoundtripBatch {
    fn new(t: &Target) -> RoundtripBatch {
        RoundtripBatch {
            target: t.clone(),
            url: t.url(Workload::Concurrent),
        }
    }
}

impl Client for RoundtripBatch {
    fn call(&mut self) -> Res<usize> {
        let client = roundtrip_client(&self.target, true);
        let mut batch = client.batch();
        for _ in 0..self.target.concurrency {
            batch.submit(http::Request::get(&self.url).body(())?);
        }
        let mut total = 0;
        while let Some((_, resp)) = batch.wait() {
            let resp = resp?;
            check_status(resp.status().as_u16())?;
            total += copy_body(resp.into_body())?;
        }
        Ok(total)
    }
}

// --------------------------------------------------------------------- ureq

/// Every name is 127.0.0.1, at the URL's port.
#[derive(Debug)]
struct PinnedUreq;

impl ureq::unversioned::resolver::Resolver for PinnedUreq {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        _config: &ureq::config::Config,
        _timeout: ureq::unversioned::transport::NextTimeout,
    ) -> Result<ureq::unversioned::resolver::ResolvedSocketAddrs, ureq::Error> {
        let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
            Some("https") => 443,
            _ => 80,
        });
        let mut v = self.empty();
        v.push(SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
        Ok(v)
    }
}

/// ureq 3 (rustls, ring).
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
            PinnedUreq,
        );
        Ok(Ureq {
            agent,
            url: t.url(w),
            buf: vec![0; BUF],
        })
    }
}

impl Client for Ureq {
    fn call(&mut self) -> Res<usize> {
        let mut resp = self.agent.get(&self.url).call()?;
        check_status(resp.status().as_u16())?;
        read_all(
            resp.body_mut().with_config().limit(u64::MAX).reader(),
            &mut self.buf,
        )
    }
}

// ------------------------------------------------------------------ reqwest

/// reqwest's blocking client (HTTP/1 only, no proxy lookup, the ring
/// rustls configuration handed over preconfigured). Its requests run on a
/// runtime thread of its own; the figures count every thread.
struct Reqwest {
    client: reqwest::blocking::Client,
    url: String,
    buf: Vec<u8>,
}

impl Reqwest {
    fn new(w: Workload, t: &Target) -> Res<Reqwest> {
        let mut tls = rustls_config(t)?;
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        let mut b = reqwest::blocking::Client::builder()
            .tls_backend_preconfigured(tls)
            .http1_only()
            .no_proxy()
            .resolve("localhost", t.https_addr());
        if w == Workload::New {
            b = b.pool_max_idle_per_host(0);
        }
        Ok(Reqwest {
            client: b.build()?,
            url: t.url(w),
            buf: vec![0; BUF],
        })
    }
}

impl Client for Reqwest {
    fn call(&mut self) -> Res<usize> {
        let resp = self.client.get(&self.url).send()?;
        check_status(resp.status().as_u16())?;
        read_all(resp, &mut self.buf)
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

/// hyper 1 + hyper-util's legacy pooled client + hyper-rustls (ring,
/// `https_or_http`) on a current-thread tokio runtime, TCP_NODELAY on.
struct Hyper {
    rt: tokio::runtime::Runtime,
    client: HyperClient,
    target: Target,
    w: Workload,
    uri: http::Uri,
}

fn hyper_client(rt: &tokio::runtime::Runtime, w: Workload, t: &Target) -> Res<HyperClient> {
    let mut http = hyper_util::client::legacy::connect::HttpConnector::new_with_resolver(
        PinnedHyper(t.https_addr()),
    );
    http.enforce_http(false);
    http.set_nodelay(true);
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(rustls_config(t)?)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    let mut builder =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new());
    if w == Workload::New {
        builder.pool_max_idle_per_host(0);
    }
    let _guard = rt.enter();
    Ok(builder.build(https))
}

async fn hyper_get(client: HyperClient, uri: http::Uri) -> Res<usize> {
    use http_body_util::BodyExt;
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
}

impl Hyper {
    fn new(w: Workload, t: &Target) -> Res<Hyper> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let client = hyper_client(&rt, w, t)?;
        Ok(Hyper {
            rt,
            client,
            target: t.clone(),
            w,
            uri: t.url(w).parse()?,
        })
    }
}

impl Client for Hyper {
    fn call(&mut self) -> Res<usize> {
        if self.w != Workload::Concurrent {
            return self
                .rt
                .block_on(hyper_get(self.client.clone(), self.uri.clone()));
        }
        // A fresh client per batch; every GET a task on this one thread.
        let client = hyper_client(&self.rt, self.w, &self.target)?;
        let (n, uri) = (self.target.concurrency, self.uri.clone());
        self.rt.block_on(async move {
            let mut set = tokio::task::JoinSet::new();
            for _ in 0..n {
                let (c, u) = (client.clone(), uri.clone());
                set.spawn(async move { hyper_get(c, u).await.map_err(|e| e.to_string()) });
            }
            let mut total = 0;
            while let Some(r) = set.join_next().await {
                total += r??;
            }
            Ok(total)
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

fn curl_easy(w: Workload, t: &Target) -> Res<curl::easy::Easy2<Collector>> {
    let mut easy = curl::easy::Easy2::new(Collector(0));
    easy.url(&t.url(w))?;
    easy.cainfo(&t.ca)?;
    let mut pins = curl::easy::List::new();
    pins.append(&format!("localhost:{}:127.0.0.1", t.https_port))?;
    easy.resolve(pins)?;
    easy.http_version(curl::easy::HttpVersion::V11)?;
    easy.forbid_reuse(w == Workload::New)?;
    Ok(easy)
}

/// libcurl (the system's, OpenSSL) through the `curl` crate: one easy
/// handle, `CURLOPT_FORBID_REUSE` for new connections, HTTP/1.1 only.
struct Curl {
    easy: curl::easy::Easy2<Collector>,
}

impl Curl {
    fn new(w: Workload, t: &Target) -> Res<Curl> {
        curl::init();
        Ok(Curl {
            easy: curl_easy(w, t)?,
        })
    }
}

impl Client for Curl {
    fn call(&mut self) -> Res<usize> {
        self.easy.get_mut().0 = 0;
        self.easy.perform()?;
        check_status(self.easy.response_code()? as u16)?;
        Ok(self.easy.get_ref().0)
    }
}

/// libcurl's multi interface: a fresh multi handle and `concurrency` easy
/// handles per batch, driven by `perform` and `wait` on this thread.
struct CurlMulti {
    target: Target,
}

impl CurlMulti {
    fn new(t: &Target) -> CurlMulti {
        curl::init();
        CurlMulti { target: t.clone() }
    }
}

impl Client for CurlMulti {
    fn call(&mut self) -> Res<usize> {
        let multi = curl::multi::Multi::new();
        let mut handles = Vec::with_capacity(self.target.concurrency);
        for _ in 0..self.target.concurrency {
            let easy = curl_easy(Workload::Concurrent, &self.target)?;
            handles.push(multi.add2(easy)?);
        }
        while multi.perform()? > 0 {
            multi.wait(&mut [], std::time::Duration::from_secs(1))?;
        }
        let mut err = None;
        multi.messages(|m| {
            if let Some(Err(e)) = m.result() {
                err = Some(e);
            }
        });
        if let Some(e) = err {
            return Err(e.into());
        }
        let mut total = 0;
        for h in handles {
            let easy = multi.remove2(h)?;
            check_status(easy.response_code()? as u16)?;
            total += easy.get_ref().0;
        }
        Ok(total)
    }
}

// -------------------------------------------------------------------- floor

/// The HTTPS floor of `src/peers.rs` (bare rustls on a blocking socket).
struct TlsFloor(Box<dyn crate::peers::Peer>);

impl Client for TlsFloor {
    fn call(&mut self) -> Res<usize> {
        self.0.get()
    }
}

/// The plain-HTTP floor: no HTTP library. One pre-built request written
/// with one `write`, then exactly the response's known length read on a
/// blocking socket (the response's length, head included, is the same
/// every time: probed once at start, and the last bytes checked).
struct Floor {
    addr: SocketAddr,
    request: Vec<u8>,
    response_len: usize,
    body_len: usize,
    tail: Vec<u8>,
    buf: Vec<u8>,
    sock: Option<TcpStream>,
}

impl Floor {
    fn new(w: Workload, t: &Target) -> Res<Floor> {
        let read_size = if w == Workload::Big {
            BIG_FLOOR_BUF
        } else {
            BUF
        };
        let path = match w {
            Workload::Big => nginx::BIG_PATH,
            Workload::Chunked => nginx::CHUNKED_PATH,
            _ => nginx::PATH,
        };
        let mut floor = Floor {
            addr: t.http_addr(),
            request: format!(
                "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\r\n",
                t.http_port
            )
            .into_bytes(),
            response_len: 0,
            body_len: t.body_len(w),
            tail: Vec::new(),
            buf: vec![0; read_size],
            sock: None,
        };
        floor.probe(w == Workload::Chunked)?;
        Ok(floor)
    }

    fn connect(&self) -> Res<TcpStream> {
        let s = TcpStream::connect(self.addr)?;
        s.set_nodelay(true)?;
        Ok(s)
    }

    /// One request read to its end the slow way, to learn the response's
    /// total length (and, chunked, its last bytes).
    fn probe(&mut self, chunked: bool) -> Res<()> {
        let mut s = self.connect()?;
        s.write_all(&self.request)?;
        let mut head = Vec::new();
        let mut total = 0;
        let mut tail: Vec<u8> = Vec::new();
        loop {
            let n = s.read(&mut self.buf)?;
            if n == 0 {
                return Err("floor: EOF while probing".into());
            }
            total += n;
            tail.extend_from_slice(&self.buf[..n]);
            tail.drain(..tail.len().saturating_sub(7));
            if head.len() < 8192 {
                head.extend_from_slice(&self.buf[..n]);
            }
            let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") else {
                continue;
            };
            if !head.starts_with(b"HTTP/1.1 200 ") {
                return Err("floor: probe got no 200".into());
            }
            if !chunked {
                self.response_len = end + 4 + self.body_len;
                return Ok(());
            }
            if tail == b"\r\n0\r\n\r\n" {
                self.response_len = total;
                self.tail = tail;
                return Ok(());
            }
        }
    }
}

impl Client for Floor {
    fn call(&mut self) -> Res<usize> {
        let mut s = match self.sock.take() {
            Some(s) => s,
            None => self.connect()?,
        };
        s.write_all(&self.request)?;
        let mut left = self.response_len;
        let mut last = 0;
        while left > 0 {
            let want = left.min(self.buf.len());
            let n = s.read(&mut self.buf[..want])?;
            if n == 0 {
                return Err("floor: EOF".into());
            }
            left -= n;
            last = n;
        }
        let k = self.tail.len().min(last);
        if self.buf[last - k..last] != self.tail[self.tail.len() - k..] {
            return Err("floor: response ends differently from the probe's".into());
        }
        self.sock = Some(s);
        Ok(self.body_len)
    }
}

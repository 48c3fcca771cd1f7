//! The demo run by `roundtrip` with no arguments: a self-contained tour of
//! a round trip, on loopback, with no network. Inside this process it
//! starts an HTTPS server (its CA and certificate minted at start with
//! rcgen) and a DNS server answering `demo.roundtrip.test` with AAAA `::1`
//! (where nothing listens, so the Happy Eyeballs race falls back) and A
//! `127.0.0.1`; then one client, with its own resolver pointed at that DNS
//! server and that CA trusted, fetches:
//!
//! 1. a cold HTTPS request: DNS, the fallback, TLS, the transfer;
//! 2. a second request on the reused connection;
//! 3. an `Expect: 100-continue` upload;
//! 4. a chunked response with trailers.
//!
//! Each is drawn as a waterfall with a caption saying what to notice. The
//! tour checks what it claims (the fallback, the reuse, the 100, the
//! trailers) and exits non-zero if any did not happen, so it doubles as a
//! smoke test.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::process::ExitCode;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use roundtrip::Client;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::waterfall::{self, Recording, Style};

const NAME: &str = "demo.roundtrip.test";
const HELLO: &str = "Hello over TLS from the demo server!\n";
const CHUNKS: [&str; 3] = ["This body ", "arrives in ", "three chunks.\n"];

/// Runs the tour, with every request's events as JSON lines on stderr
/// when `events` (timed from each request's start, as `--events` prints
/// them); the exit code says whether everything it shows happened.
pub fn run(events: bool, start: Instant) -> ExitCode {
    match tour(events, start) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::from(23),
        Err(e) => {
            let _ = writeln!(io::stderr(), "roundtrip: demo: {e}");
            ExitCode::FAILURE
        }
    }
}

fn other(what: impl std::fmt::Display) -> io::Error {
    io::Error::other(what.to_string())
}

/// A CA and a certificate for [`NAME`]; returns the server config and the
/// CA as PEM.
fn mint() -> io::Result<(Arc<rustls::ServerConfig>, String)> {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(other)?;
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "roundtrip demo CA");
    let ca_key = rcgen::KeyPair::generate().map_err(other)?;
    let ca = ca_params.self_signed(&ca_key).map_err(other)?;
    let leaf_key = rcgen::KeyPair::generate().map_err(other)?;
    let leaf = rcgen::CertificateParams::new(vec![NAME.to_string()])
        .map_err(other)?
        .signed_by(&leaf_key, &ca, &ca_key)
        .map_err(other)?;
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(other)?
        .with_no_client_auth()
        .with_single_cert(vec![leaf.der().clone()], key)
        .map_err(other)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((Arc::new(config), ca.pem()))
}

/// The HTTPS server: keep-alive, `/hello`, `/upload` (answers 100 first
/// when asked) and `/chunked` (with a trailer).
fn start_https(config: Arc<rustls::ServerConfig>) -> io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    thread::spawn(move || {
        for tcp in listener.incoming().flatten() {
            let config = config.clone();
            thread::spawn(move || {
                let _ = tcp.set_read_timeout(Some(Duration::from_secs(5)));
                // Without it, Nagle holds the response behind the
                // unacknowledged session tickets until the client's delayed
                // ACK (~40 ms): the demo would show the server's socket
                // settings, not the round trip.
                let _ = tcp.set_nodelay(true);
                let Ok(conn) = rustls::ServerConnection::new(config) else {
                    return;
                };
                let mut tls = rustls::StreamOwned::new(conn, tcp);
                while serve_one(&mut tls).unwrap_or(false) {}
            });
        }
    });
    Ok(addr)
}

fn serve_one(s: &mut impl ReadWrite) -> io::Result<bool> {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut b)? == 0 {
            return Ok(false);
        }
        head.push(b[0]);
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    if head.contains("expect: 100-continue") {
        s.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        s.flush()?;
    }
    let mut body = vec![0u8; len];
    s.read_exact(&mut body)?;
    let reply = match path.as_str() {
        "/upload" => {
            let text = format!("Stored {} bytes.\n", body.len());
            format!(
                "HTTP/1.1 201 Created\r\nContent-Length: {}\r\n\r\n{text}",
                text.len()
            )
        }
        "/chunked" => {
            let mut r = String::from(
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Chunk-Count\r\n\r\n",
            );
            for chunk in CHUNKS {
                r.push_str(&format!("{:x}\r\n{chunk}\r\n", chunk.len()));
            }
            r.push_str(&format!("0\r\nX-Chunk-Count: {}\r\n\r\n", CHUNKS.len()));
            r
        }
        _ => format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{HELLO}",
            HELLO.len()
        ),
    };
    s.write_all(reply.as_bytes())?;
    s.flush()?;
    Ok(true)
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

/// The DNS server: AAAA → `::1`, A → `127.0.0.1` for [`NAME`]; NXDOMAIN
/// for anything else. Answers until the process ends.
fn start_dns() -> io::Result<SocketAddr> {
    let sock = UdpSocket::bind("127.0.0.1:0")?;
    let addr = sock.local_addr()?;
    thread::spawn(move || {
        let mut buf = [0u8; 1500];
        while let Ok((n, from)) = sock.recv_from(&mut buf) {
            if let Some(reply) = answer(&buf[..n]) {
                let _ = sock.send_to(&reply, from);
            }
        }
    });
    Ok(addr)
}

/// A hand-built answer (RFC 1035 §4.1): the question echoed, one record.
fn answer(q: &[u8]) -> Option<Vec<u8>> {
    let mut i = 12;
    let mut labels = Vec::new();
    while *q.get(i)? != 0 {
        let len = usize::from(q[i]);
        labels.push(String::from_utf8_lossy(q.get(i + 1..i + 1 + len)?).to_ascii_lowercase());
        i += 1 + len;
    }
    let qtype = u16::from_be_bytes([*q.get(i + 1)?, *q.get(i + 2)?]);
    let known = labels.join(".") == NAME;
    let mut r = q.get(..2)?.to_vec();
    r.extend_from_slice(if known { &[0x81, 0x80] } else { &[0x81, 0x83] });
    let rdata: &[u8] = match (known, qtype) {
        (true, 1) => &[127, 0, 0, 1],
        (true, 28) => &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
        _ => &[],
    };
    let answers = u16::from(!rdata.is_empty());
    r.extend_from_slice(&[0, 1]);
    r.extend_from_slice(&answers.to_be_bytes());
    r.extend_from_slice(&[0, 0, 0, 0]);
    r.extend_from_slice(q.get(12..i + 5)?);
    if answers == 1 {
        r.extend_from_slice(&[0xc0, 0x0c]);
        r.extend_from_slice(&qtype.to_be_bytes());
        r.extend_from_slice(&[0, 1, 0, 0, 0, 60]);
        r.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        r.extend_from_slice(rdata);
    }
    Some(r)
}

fn tour(events: bool, start: Instant) -> io::Result<()> {
    let (server_config, ca_pem) = mint()?;
    let https = start_https(server_config)?;
    let dns = start_dns()?;
    let ca_path =
        std::env::temp_dir().join(format!("roundtrip-demo-ca-{}.pem", std::process::id()));
    std::fs::write(&ca_path, &ca_pem)?;
    let (recorder, recordings) = waterfall::recorder();
    let ca = ca_path.clone();
    let client = Client::builder()
        .configure(move |c| {
            c.dns_servers = Some(vec![dns]);
            c.resolv_conf = None;
            c.hosts_file = None;
            c.tls_ca_files = vec![ca];
            c.tls_builtin_roots = false;
        })
        .trace(recorder)
        .build();
    let style = Style {
        width: std::env::var("COLUMNS")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(100),
        color: std::io::IsTerminal::is_terminal(&io::stdout())
            && std::env::var_os("NO_COLOR").is_none(),
        unicode: ["LC_ALL", "LC_CTYPE", "LANG"]
            .iter()
            .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
            .is_some_and(|v| v.to_ascii_uppercase().replace('-', "").contains("UTF8")),
    };
    let base = format!("https://{NAME}:{}", https.port());
    let mut out = io::stdout().lock();
    writeln!(
        out,
        "roundtrip demo: an HTTPS server ({}) and a DNS server ({dns}) run inside this process;\n\
         {NAME} has AAAA ::1 (nothing listens there) and A 127.0.0.1. One client, four requests:\n",
        https
    )?;

    let steps: [(&str, &str, &str); 4] = [
        ("GET", "/hello", "1. Cold start: the client's own resolver asks AAAA and A; the IPv6 attempt fails, the race falls back to IPv4; then TLS, send, wait, receive."),
        ("GET", "/hello", "2. Same host again: the idle connection is reused, so DNS, connect and TLS are skipped."),
        ("PUT", "/upload", "3. An upload with Expect: 100-continue: the body waits for the server's 100 (the informational line)."),
        ("GET", "/chunked", "4. A chunked response: the body comes in chunks, and a trailer follows the last one."),
    ];
    for (i, (method, path, caption)) in steps.iter().enumerate() {
        let mut req = http::Request::builder()
            .method(*method)
            .uri(format!("{base}{path}"));
        let body = if *method == "PUT" {
            req = req.header("expect", "100-continue");
            "a few bytes to upload".to_owned()
        } else {
            String::new()
        };
        let req = req.body(body).map_err(other)?;
        // The client's own trace draws the waterfall; a request's trace is
        // the one place left for the events.
        let trace = if events {
            crate::events::line_trace(io::stderr(), start, crate::events::json_line)
        } else {
            roundtrip::Trace::new()
        };
        let resp = client
            .send_traced(req, trace)
            .map_err(|e| other(format!("{path}: {e}")))?;
        let status = resp.status();
        let mut body = resp.into_body();
        let mut text = String::new();
        body.read_to_string(&mut text)?;
        let trailers = body.trailers().cloned();
        drop(body);
        writeln!(out, "{caption}")?;
        let rec = recordings
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(i)
            .map(|(_, r)| r.clone())
            .unwrap_or_default();
        write!(
            out,
            "{}",
            waterfall::render(&format!("{method} {base}{path}"), &rec, style)
        )?;
        writeln!(out, "  => {status}: {:?}", text.trim_end())?;
        if let Some(t) = trailers {
            for (k, v) in &t {
                writeln!(out, "  => trailer {k}: {}", v.to_str().unwrap_or("?"))?;
            }
        }
        writeln!(out)?;
        check(i, &rec, status)?;
    }
    let _ = std::fs::remove_file(&ca_path);
    writeln!(
        out,
        "Try it on your own server:\n    roundtrip -w '%{{time_connect}} %{{time_total}}\\n' URL   curl's timings\n    \
         roundtrip --events URL1 URL2                   every event as a JSON line\n    \
         roundtrip -n 100 URL                           per-phase p50/p95/p99 over 100 fetches\n    \
         roundtrip --har out.har URL                    an HTTP Archive for a HAR viewer\n    \
         roundtrip --help                               all options (curl's names)"
    )?;
    Ok(())
}

/// The tour's claims, checked: a tour that shows something that did not
/// happen would teach the wrong thing.
fn check(step: usize, rec: &Recording, status: http::StatusCode) -> io::Result<()> {
    // Work that happened: skipped phases are rows too, but not bars.
    let has = |prefix: &str| {
        rec.spans
            .iter()
            .any(|s| s.skipped.is_none() && s.label.starts_with(prefix))
    };
    let ok = match step {
        0 => {
            has("dns AAAA")
                && has("connect #1 tcp6")
                && has("connect #2 tcp4")
                && has("tls")
                && rec.reused == Some(false)
        }
        1 => rec.reused == Some(true) && !has("tls"),
        2 => status == 201 && has("  100 informational"),
        _ => status == 200 && rec.bytes == CHUNKS.concat().len() as u64,
    };
    if ok {
        Ok(())
    } else {
        Err(other(format!(
            "step {} did not go as described: {rec:?}",
            step + 1
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_answers_both_families_and_nxdomain() {
        let query = |name: &str, qtype: u16| {
            let mut q = vec![0xab, 0xcd, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
            for l in name.split('.') {
                q.push(l.len() as u8);
                q.extend_from_slice(l.as_bytes());
            }
            q.extend_from_slice(&[0]);
            q.extend_from_slice(&qtype.to_be_bytes());
            q.extend_from_slice(&[0, 1]);
            q
        };
        let a = answer(&query(NAME, 1)).unwrap();
        assert_eq!(&a[..2], &[0xab, 0xcd]);
        assert_eq!(a[7], 1, "one answer");
        assert!(a.ends_with(&[127, 0, 0, 1]));
        let aaaa = answer(&query(NAME, 28)).unwrap();
        assert!(aaaa.ends_with(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]));
        let nx = answer(&query("other.test", 1)).unwrap();
        assert_eq!(nx[3] & 0x0f, 3, "NXDOMAIN");
        assert!(answer(&[1, 2, 3]).is_none(), "garbage is ignored");
    }
}

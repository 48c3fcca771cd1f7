//! What tests/core_driver.rs and tests/socket_interest.rs share: the key
//! an event is compared by, a recorder, the requests through `Client`, a
//! keep-alive HTTP server and a config pointing at an in-test DNS server.

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use roundtrip::proxy::ProxyConfig;
use roundtrip::{Client, Config, Event, EventKind, Trace};

use super::dns::DnsServer;

/// One event as compared: name, request, resend and hop, and the fields
/// that do not depend on time or on the kernel's choice of local port.
pub fn key(e: &Event<'_>) -> String {
    let fields = match &e.kind {
        EventKind::GetConn { host_port } => host_port.to_string(),
        EventKind::DnsStart { host } => host.to_string(),
        EventKind::DnsDone {
            addrs,
            coalesced,
            error,
        } => format!("{addrs:?} {coalesced} {}", error.is_some()),
        EventKind::DnsQueryStart {
            server,
            qtype,
            transport,
        } => format!("{server} {qtype} {transport}"),
        EventKind::DnsQueryDone {
            server,
            qtype,
            transport,
            rcode,
            error,
            answers,
            truncated,
        } => format!(
            "{server} {qtype} {transport} {rcode:?} {} {answers} {truncated}",
            error.is_some()
        ),
        EventKind::ConnectStart {
            attempt,
            network,
            addr,
        } => format!("{attempt:?} {network:?} {addr}"),
        EventKind::ConnectDone {
            attempt,
            network,
            addr,
            error,
        } => format!("{attempt:?} {network:?} {addr} {}", error.is_some()),
        EventKind::TlsHandshakeDone { info, error } => {
            format!("{} {}", info.is_some(), error.is_some())
        }
        EventKind::GotConn {
            conn,
            reused,
            was_idle,
            remote_addr,
            ..
        } => format!("{conn:?} {reused} {was_idle} {remote_addr}"),
        EventKind::WroteHeaderField { name, values } => format!("{name} {values:?}"),
        EventKind::WroteRequest { error } => format!("{}", error.is_some()),
        EventKind::GotResponseHeaders {
            status, version, ..
        } => format!("{status} {version:?}"),
        EventKind::ResponseBodyDone {
            bytes,
            trailers,
            error,
        } => format!("{bytes} {} {}", trailers.is_some(), error.is_some()),
        EventKind::PutIdleConn { conn, error } => format!("{conn:?} {error:?}"),
        EventKind::RequestDone { error } => format!("{}", error.is_some()),
        EventKind::ConnClosed { conn, reason } => format!("{conn:?} {reason:?}"),
        _ => String::new(),
    };
    format!(
        "{} req={:?} resend={} hop={} {fields}",
        e.kind.name(),
        e.req,
        e.resend,
        e.hop
    )
}

pub type Log = Arc<Mutex<Vec<String>>>;

pub fn recorder() -> (Log, Trace) {
    let log = Log::default();
    let l = log.clone();
    (
        log,
        Trace::new().on_event(move |e| l.lock().unwrap().push(key(e))),
    )
}

/// The requests of one test, through `Client`: (status, body) each.
pub fn via_client(config: &Config, urls: &[String]) -> (Vec<String>, Vec<(u16, String)>) {
    let (log, trace) = recorder();
    let client = Client::builder()
        .config(config.clone())
        .trace(trace)
        .build();
    let mut out = Vec::new();
    for url in urls {
        let resp = client.get(url).unwrap();
        let status = resp.status().as_u16();
        out.push((status, resp.into_body().text().unwrap()));
    }
    drop(client);
    let events = log.lock().unwrap().clone();
    (events, out)
}

pub fn config(dns: &DnsServer) -> Config {
    let mut c = Config::default();
    c.dns_servers = Some(vec![dns.addr]);
    c.resolv_conf = None;
    c.hosts_file = None;
    c.dns_search = Some(Vec::new());
    c.dns_ndots = Some(1);
    c.proxy = ProxyConfig::Off;
    c.connect_timeout = Duration::from_secs(5);
    c
}

pub fn starts(events: &[String], name: &str) -> usize {
    events
        .iter()
        .filter(|e| e.starts_with(&format!("{name} ")))
        .count()
}

/// A keep-alive server on 127.0.0.1 answering every request with `ok`.
pub fn http_server() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut s = stream;
                s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                let mut pending = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => pending.extend_from_slice(&buf[..n]),
                    }
                    while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                        pending.drain(..end + 4);
                        let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                        if s.write_all(ok).is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    port
}

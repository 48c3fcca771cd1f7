//! Proxies (issue #6): Debian's tinyproxy forwarding plain HTTP and
//! tunnelling HTTPS with CONNECT, and an in-test proxy for what tinyproxy
//! will not do on demand (refusing CONNECT, 407, closing mid-tunnel,
//! garbage after 200, checking Proxy-Authorization), plus no_proxy.

#![forbid(unsafe_code)]

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use roundtrip::proxy::ProxyConfig;
use roundtrip::{Client, ErrorKind, Phase, TlsError};
use support::interop::{self, Daemon, StartError, TempDir};
use support::nginx::{
    nginx_with_or_skip, quoted, standard_locations, ExtraServer, Options, ServerCtx, RANDOM_1M,
    SMALL,
};
use support::tls::{server_config, Ca, TlsServer};
use support::{respond, serve, Recorder};

const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\norigin";

fn via(proxy: &str, ca: Option<&Ca>) -> Client {
    let proxy = proxy.to_owned();
    let ca = ca.map(|c| c.pem_path.clone());
    Client::builder()
        .configure(move |c| {
            c.proxy = ProxyConfig::Manual {
                http: Some(proxy.clone()),
                https: Some(proxy),
                no_proxy: String::new(),
            };
            if let Some(ca) = ca {
                c.tls_ca_files = vec![ca];
                c.tls_builtin_roots = false;
            }
        })
        .build()
}

struct Tinyproxy {
    addr: SocketAddr,
    _daemon: Daemon,
    _dir: TempDir,
}

/// Starts tinyproxy on a free port: again on another when the port turns
/// out to be served by someone else (see `serves_this_instance`).
fn start_tinyproxy() -> Result<Tinyproxy, StartError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match start_tinyproxy_once() {
            Err(StartError::Failed(why)) if attempt < 5 && why.contains(interop::TAKEN) => continue,
            other => return other,
        }
    }
}

fn start_tinyproxy_once() -> Result<Tinyproxy, StartError> {
    let bin = interop::find_binary("tinyproxy", &["/usr/bin/tinyproxy", "/usr/sbin/tinyproxy"])
        .ok_or_else(|| StartError::Missing("tinyproxy not found".into()))?;
    let dir = TempDir::new("tinyproxy");
    let port = interop::free_port();
    // Only this instance answers for this host itself (with its
    // statistics page): see `serves_this_instance`.
    let stat_host = format!(
        "{}.stats.invalid",
        dir.path()
            .file_name()
            .and_then(|n| n.to_str())
            .expect("a UTF-8 temp name")
    );
    let conf = dir.path().join("tinyproxy.conf");
    let user = if interop::running_as_root() {
        "User nobody\nGroup nogroup\n"
    } else {
        ""
    };
    std::fs::write(
        &conf,
        format!(
            "{user}Port {port}\nListen 127.0.0.1\nTimeout 30\nMaxClients 20\nAllow 127.0.0.1\nLogLevel Info\nDisableViaHeader Yes\nStatHost \"{stat_host}\"\n"
        ),
    )
    .map_err(|e| StartError::Failed(e.to_string()))?;
    let mut cmd = Command::new(bin);
    cmd.arg("-d").arg("-c").arg(&conf);
    let mut daemon = Daemon::spawn(cmd, &dir.path().join("tinyproxy.log"))?;
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    daemon
        .wait_for_tcp(&[addr], Duration::from_secs(5), &["Could not", "ERROR"])
        .and_then(|()| serves_this_instance(addr, &stat_host))
        .map_err(|e| StartError::Failed(format!("{e}\n{}", daemon.output())))?;
    Ok(Tinyproxy {
        addr,
        _daemon: daemon,
        _dir: dir,
    })
}

/// Whether the proxy on `addr` is the tinyproxy configured with
/// `stat_host`: only that one answers a request for it with 200 (its
/// statistics page); another would try to reach the host and fail. A port
/// picked as free can be picked by a parallel test too, and
/// `wait_for_tcp` would then accept the other test's proxy.
fn serves_this_instance(addr: SocketAddr, stat_host: &str) -> Result<(), String> {
    let request = format!("GET http://{stat_host}/ HTTP/1.0\r\nHost: {stat_host}\r\n\r\n");
    let response = interop::http_probe(addr, request.as_bytes())?;
    if response.starts_with(b"HTTP/1.0 200") || response.starts_with(b"HTTP/1.1 200") {
        Ok(())
    } else {
        let head = String::from_utf8_lossy(&response[..response.len().min(80)]).into_owned();
        Err(format!("{} {addr}: {head:?}", interop::TAKEN))
    }
}

#[test]
fn tinyproxy_forwards_http_and_tunnels_https() {
    let Some(proxy) = interop::or_skip("tinyproxy", start_tinyproxy) else {
        return;
    };
    // tinyproxy opens one upstream connection per request.
    let origin = serve(vec![respond(vec![OK]), respond(vec![OK])]);
    let client = via(&format!("http://{}", proxy.addr), None);
    let rec = Recorder::default();
    for path in ["/one", "/two"] {
        let req = http::Request::get(origin.url(path)).body(()).unwrap();
        let body = client
            .send_traced(req, rec.trace())
            .unwrap()
            .into_body()
            .text()
            .unwrap();
        assert_eq!(body, "origin");
    }
    let lines = rec.lines();
    let connects: Vec<_> = lines
        .iter()
        .filter(|l| l.contains("\"connect_start\""))
        .collect();
    // tinyproxy closes each client connection after one response; every
    // connection goes to the proxy, none to the origin.
    assert!(!connects.is_empty());
    for c in &connects {
        assert!(c.contains(&proxy.addr.to_string()), "{c}");
    }
    let seen = origin.requests.lock().unwrap().clone();
    assert!(String::from_utf8_lossy(&seen[0]).starts_with("GET /one HTTP/1.1"));

    let ca = Ca::new("proxy test CA");
    let leaf = ca.leaf(&["localhost"], &[], None);
    let tls = TlsServer::start(server_config(&leaf), 1, OK);
    let client = via(&format!("http://{}", proxy.addr), Some(&ca));
    let rec = Recorder::default();
    let url = format!("https://localhost:{}/", tls.addr.port());
    let req = http::Request::get(&url).body(()).unwrap();
    let body = client
        .send_traced(req, rec.trace())
        .unwrap()
        .into_body()
        .text()
        .unwrap();
    assert_eq!(body, "origin");
    let names = rec.names();
    let pos = |n: &str| {
        names
            .iter()
            .position(|x| x == n)
            .unwrap_or_else(|| panic!("no {n}: {names:?}"))
    };
    assert!(pos("connect_done") < pos("proxy_connect_start"));
    assert!(pos("proxy_connect_start") < pos("proxy_connect_done"));
    assert!(pos("proxy_connect_done") < pos("tls_handshake_start"));
    assert!(pos("tls_handshake_done") < pos("got_conn"));
    let done = rec
        .lines()
        .into_iter()
        .find(|l| l.contains("proxy_connect_done"))
        .unwrap();
    assert!(done.contains(r#""status":200"#), "{done}");
}

/// An in-test proxy: records each request head, answers CONNECT with
/// `reply` and then (for 200) relays to the target unless `garbage`.
fn fake_proxy(reply: &'static [u8], then: &'static str) -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let heads = Arc::new(Mutex::new(Vec::new()));
    let h = heads.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(4) {
            let Ok(mut s) = stream else { return };
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut head = Vec::new();
            let mut b = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                if s.read(&mut b).unwrap_or(0) == 0 {
                    break;
                }
                head.push(b[0]);
            }
            let head = String::from_utf8_lossy(&head).into_owned();
            h.lock().unwrap().push(head.clone());
            if !head.starts_with("CONNECT ") {
                let _ = s.write_all(OK);
                continue;
            }
            let _ = s.write_all(reply);
            match then {
                "relay" => {
                    let target = head.split_whitespace().nth(1).unwrap().to_owned();
                    let up = TcpStream::connect(target).unwrap();
                    let (mut a, mut b2) = (s.try_clone().unwrap(), up.try_clone().unwrap());
                    let mut up2 = up;
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut a, &mut up2);
                    });
                    let _ = std::io::copy(&mut b2, &mut s);
                }
                "garbage" => {
                    let _ = s.write_all(b"this is not TLS at all\r\n\r\n");
                    std::thread::sleep(Duration::from_millis(200));
                }
                "close" if reply.starts_with(b"HTTP/1.1 200") => {
                    // Read the whole ClientHello record first: closing with
                    // it unread would send a RST, and a RST can discard the
                    // 200 from the client's receive queue before it is read
                    // (then the test would see a reset, not a close).
                    let mut header = [0u8; 5];
                    if s.read_exact(&mut header).is_ok() {
                        let len = u16::from_be_bytes([header[3], header[4]]) as usize;
                        let _ = s.read_exact(&mut vec![0u8; len]);
                    }
                }
                _ => {}
            }
        }
    });
    (addr, heads)
}

#[test]
fn refused_connect_is_an_error_with_the_status_line() {
    for (reply, status) in [
        (&b"HTTP/1.1 403 Forbidden\r\nContent-Length: 9\r\n\r\nforbidden"[..], 403u16),
        (b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\nContent-Length: 0\r\n\r\n", 407),
        (b"HTTP/1.1 403 Blocked By Policy\r\nContent-Length: 0\r\n\r\n", 403),
        (b"HTTP/1.1 599 Ask Again Later\r\nContent-Length: 0\r\n\r\n", 599),
    ] {
        let reply: &'static [u8] = Box::leak(reply.to_vec().into_boxed_slice());
        let (proxy, _) = fake_proxy(reply, "close");
        let rec = Recorder::default();
        let raw = Arc::new(Mutex::new(Vec::new()));
        let seen = raw.clone();
        let mut trace = rec.trace();
        trace.add(roundtrip::Trace::new().on_event(move |e| {
            if let roundtrip::EventKind::ProxyConnectDone { raw_head, .. } = e.kind {
                seen.lock().unwrap().push(raw_head.to_vec());
            }
        }));
        let req = http::Request::get("https://localhost:9/").body(()).unwrap();
        let err = via(&format!("http://{proxy}"), None)
            .send_traced(req, trace)
            .unwrap_err();
        // The event carries the proxy's head as sent, without its body.
        let head_len = reply.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        assert_eq!(*raw.lock().unwrap(), [reply[..head_len].to_vec()]);
        assert_eq!(err.phase(), Phase::Connect, "{err}");
        assert!(matches!(err.kind(), ErrorKind::ProxyConnectRefused { status: s, .. } if *s == status), "{err}");
        // The proxy's own status line, not the registry's name for the code.
        let line = String::from_utf8_lossy(reply).lines().next().unwrap().to_owned();
        let sent = line.split_once(' ').unwrap().1;
        assert!(matches!(err.kind(), ErrorKind::ProxyConnectRefused { reason, .. } if sent.ends_with(reason.as_str())), "{err}");
        assert!(err.to_string().ends_with(&format!("proxy refused CONNECT: {sent}")), "{err}");
        let done = rec.lines().into_iter().find(|l| l.contains("proxy_connect_done")).unwrap();
        assert!(done.contains(&format!(r#""status":{status}"#)), "{done}");
        assert!(!rec.names().iter().any(|n| n.starts_with("tls_")), "no TLS after a refusal");
    }
}

#[test]
fn garbage_after_200_and_close_mid_tunnel_are_tls_errors() {
    let (proxy, _) = fake_proxy(b"HTTP/1.1 200 Connection established\r\n\r\n", "garbage");
    let err = via(&format!("http://{proxy}"), None)
        .get("https://localhost:9/")
        .unwrap_err();
    assert_eq!(err.phase(), Phase::Tls, "{err}");
    let (proxy, _) = fake_proxy(b"HTTP/1.1 200 Connection established\r\n\r\n", "close");
    let err = via(&format!("http://{proxy}"), None)
        .get("https://localhost:9/")
        .unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::Tls(TlsError::ClosedDuringHandshake)),
        "{err}"
    );
}

#[test]
fn credentials_in_the_proxy_url_become_proxy_authorization() {
    let (proxy, heads) = fake_proxy(b"HTTP/1.1 403 Forbidden\r\n\r\n", "close");
    let client = via(&format!("http://user:p%40ss@{proxy}"), None);
    assert_eq!(
        client
            .get("http://origin.test/x")
            .unwrap()
            .into_body()
            .text()
            .unwrap(),
        "origin"
    );
    let _ = client.get("https://origin.test/").unwrap_err();
    let heads = heads.lock().unwrap().clone();
    // user:p@ss in base64.
    let auth = "proxy-authorization: basic dxnlcjpwqhnz";
    assert!(
        heads[0].starts_with("GET http://origin.test/x HTTP/1.1\r\n"),
        "{}",
        heads[0]
    );
    assert!(heads[0].to_ascii_lowercase().contains(auth), "{}", heads[0]);
    assert!(
        heads[1].starts_with("CONNECT origin.test:443 HTTP/1.1\r\n"),
        "{}",
        heads[1]
    );
    assert!(heads[1].to_ascii_lowercase().contains(auth), "{}", heads[1]);
}

#[test]
fn no_proxy_hosts_are_reached_directly() {
    let (proxy, heads) = fake_proxy(b"HTTP/1.1 403 Forbidden\r\n\r\n", "close");
    let origin = serve(vec![respond(vec![OK])]);
    let p = format!("http://{proxy}");
    let client = Client::builder()
        .configure(move |c| {
            c.proxy = ProxyConfig::Manual {
                http: Some(p),
                https: None,
                no_proxy: "127.0.0.0/8".into(),
            }
        })
        .build();
    assert_eq!(
        client
            .get(&origin.url("/"))
            .unwrap()
            .into_body()
            .text()
            .unwrap(),
        "origin"
    );
    assert!(heads.lock().unwrap().is_empty(), "the proxy saw nothing");
}

/// nginx serving its standard files over TLS on a block named `tls`.
fn nginx_tls_block(ctx: &ServerCtx<'_>) -> String {
    format!(
        r#"
    server {{
        listen 127.0.0.1:{port} ssl;
        server_name localhost;
        ssl_certificate {cert};
        ssl_certificate_key {key};
{locations}
    }}
"#,
        port = ctx.port,
        cert = quoted(&ctx.prefix.join("tls/cert.pem")),
        key = quoted(&ctx.prefix.join("tls/key.pem")),
        locations = standard_locations(ctx),
    )
}

#[test]
fn tinyproxy_tunnels_to_nginx_over_tls_byte_for_byte() {
    let Some(proxy) = interop::or_skip("tinyproxy", start_tinyproxy) else {
        return;
    };
    let ca = Ca::new("proxy nginx CA");
    let leaf = ca.leaf(&["localhost"], &["127.0.0.1"], None);
    let options = Options {
        extra_servers: vec![ExtraServer {
            name: "tls",
            block: Box::new(nginx_tls_block),
        }],
        extra_files: vec![
            ("tls/cert.pem".into(), leaf.cert_pem.clone().into_bytes()),
            ("tls/key.pem".into(), leaf.key_pem.clone().into_bytes()),
        ],
    };
    let Some(nginx) = nginx_with_or_skip(options) else {
        return;
    };
    let client = via(&format!("http://{}", proxy.addr), Some(&ca));
    for name in [SMALL, RANDOM_1M] {
        let rec = Recorder::default();
        let url = format!("https://127.0.0.1:{}/{name}", nginx.port_of("tls"));
        let req = http::Request::get(&url).body(()).unwrap();
        let resp = client
            .send_traced(req, rec.trace())
            .unwrap_or_else(|e| panic!("GET {url}: {e}\n{}", nginx.logs()));
        assert_eq!(resp.status(), 200);
        let got = resp.into_body().bytes().unwrap();
        let want = nginx.file(name);
        assert!(
            got == want,
            "{name}: {} bytes, want {}",
            got.len(),
            want.len()
        );
        let lines = rec.lines();
        let names = rec.names();
        // The tunnel went through tinyproxy: every connection is to it.
        for l in lines.iter().filter(|l| l.contains("\"connect_start\"")) {
            assert!(l.contains(&proxy.addr.to_string()), "{l}");
        }
        let reused = lines
            .iter()
            .find(|l| l.contains("\"got_conn\""))
            .is_some_and(|l| l.contains("\"reused\":true"));
        if !reused {
            let pos = |n: &str| names.iter().position(|x| x == n).unwrap();
            assert!(
                pos("proxy_connect_done") < pos("tls_handshake_start"),
                "{names:?}"
            );
            let done = lines
                .iter()
                .find(|l| l.contains("proxy_connect_done"))
                .unwrap();
            assert!(done.contains(r#""status":200"#), "{done}");
        }
    }
}

//! HTTPS end to end against an in-test rustls server with certificates
//! minted by rcgen (issue #5): the certificate side of the failure matrix
//! (untrusted, expired, not yet valid, wrong host, self-signed, IP literals,
//! client certificates), TLS 1.2, session resumption, pool keys, and large
//! bodies through a receive buffer smaller than a TLS record. Servers
//! that misbehave at the TLS layer (alerts, closes, silence, truncation,
//! close_notify) are in tls_faults.rs.

#![forbid(unsafe_code)]

mod support;

use std::io::Write;
use std::sync::mpsc;
use std::time::Duration;

use roundtrip::{Client, ErrorKind, Phase, TlsError};
use support::lo::{self, within, Srv};
use support::tls::{
    accept, assert_handshake_failed, client_end, client_trusting_with, handshakes, read_head,
    self_signed_leaf, server_config, server_config_with, Ca, ServerOptions, TlsServer, TLS12_ONLY,
    TLS13_ONLY,
};
use support::Recorder;

/// Every test here finishes well within this, or the client hung.
const LIMIT: Duration = Duration::from_secs(10);

fn client_trusting(ca: &Ca) -> Client {
    Client::builder()
        .configure(|c| {
            c.tls_ca_files = vec![ca.pem_path.clone()];
            c.tls_builtin_roots = false;
        })
        .build()
}

/// Like [`client_trusting`], with `log`'s hooks and `f` applied.
fn traced_client_trusting(
    ca: &Ca,
    log: &lo::Log,
    f: impl FnOnce(&mut roundtrip::Config),
) -> Client {
    Client::builder()
        .configure(|c| {
            c.tls_ca_files = vec![ca.pem_path.clone()];
            c.tls_builtin_roots = false;
            f(c)
        })
        .trace(log.trace())
        .build()
}

const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecure";

#[test]
fn https_get_by_name_follows_go_order_and_reuses_the_connection() {
    let ca = Ca::new("roundtrip test CA");
    let leaf = ca.leaf(&["localhost"], &[], None);
    let server = TlsServer::start(server_config(&leaf), 1, OK);
    let client = client_trusting(&ca);
    let rec = Recorder::default();
    let url = format!("https://localhost:{}/", server.addr.port());
    let req = http::Request::get(&url).body(()).unwrap();
    let resp = client.send_traced(req, rec.trace()).unwrap();
    assert_eq!(resp.into_body().text().unwrap(), "secure");
    let names = rec.names();
    let pos = |n: &str| {
        names
            .iter()
            .position(|x| x == n)
            .unwrap_or_else(|| panic!("no {n}: {names:?}"))
    };
    assert!(pos("connect_done") < pos("tls_handshake_start"));
    assert!(pos("tls_handshake_start") < pos("tls_handshake_done"));
    assert!(pos("tls_handshake_done") < pos("got_conn"));
    let done = rec
        .lines()
        .into_iter()
        .find(|l| l.contains("tls_handshake_done"))
        .unwrap();
    assert!(done.contains(r#""alpn":"http/1.1""#), "{done}");
    assert!(done.contains(r#""sni":"localhost""#), "{done}");
    assert!(done.contains(r#""error":null"#), "{done}");
    assert!(done.contains(r#""leaf_subject":"CN=localhost""#), "{done}");
    assert!(done.contains(r#""leaf_sans":["localhost"]"#), "{done}");
    // The report above is the client's word; the ClientHello is the truth.
    assert_eq!(server.server_names(), [Some("localhost".to_owned())]);

    // The second request reuses the TLS connection: no handshake events.
    rec.clear();
    let req = http::Request::get(&url).body(()).unwrap();
    let resp = client.send_traced(req, rec.trace()).unwrap();
    assert_eq!(resp.into_body().text().unwrap(), "secure");
    assert!(
        !rec.names().iter().any(|n| n.starts_with("tls_")),
        "{:?}",
        rec.names()
    );
    assert!(rec.lines().iter().any(|l| l.contains(r#""reused":true"#)));
    drop(client);
    server.join();
}

#[test]
fn ip_literal_sends_no_sni_and_checks_ip_sans() {
    let ca = Ca::new("roundtrip test CA");
    let with_ip = ca.leaf(&[], &["127.0.0.1"], None);
    let server = TlsServer::start(server_config(&with_ip), 1, OK);
    let rec = Recorder::default();
    let url = format!("https://127.0.0.1:{}/", server.addr.port());
    let req = http::Request::get(&url).body(()).unwrap();
    let resp = client_trusting(&ca).send_traced(req, rec.trace()).unwrap();
    assert_eq!(resp.into_body().text().unwrap(), "secure");
    let done = rec
        .lines()
        .into_iter()
        .find(|l| l.contains("tls_handshake_done"))
        .unwrap();
    assert!(done.contains(r#""sni":null"#), "{done}");
    assert_eq!(
        server.server_names(),
        [None],
        "an IP literal is not a server name"
    );

    let name_only = ca.leaf(&["localhost"], &[], None);
    let server = TlsServer::start(server_config(&name_only), 1, OK);
    let url = format!("https://127.0.0.1:{}/", server.addr.port());
    let err = client_trusting(&ca).get(&url).unwrap_err();
    assert_eq!(err.phase(), Phase::Tls);
    assert!(
        matches!(err.kind(), ErrorKind::Tls(TlsError::WrongHost)),
        "{err}"
    );
}

#[test]
fn untrusted_and_expired_certificates_are_typed_errors() {
    let ca = Ca::new("roundtrip test CA");
    let other = Ca::new("someone else");
    let cases = [
        (other.leaf(&["localhost"], &[], None), "unknown issuer"),
        (ca.leaf(&["localhost"], &[], Some((2000, 2001))), "expired"),
        (
            ca.leaf(&["localhost"], &[], Some((2090, 2091))),
            "not yet valid",
        ),
        (ca.leaf(&["elsewhere.test"], &[], None), "wrong host"),
    ];
    for (leaf, what) in cases {
        let server = TlsServer::start(server_config(&leaf), 1, OK);
        let rec = Recorder::default();
        let url = format!("https://localhost:{}/", server.addr.port());
        let req = http::Request::get(&url).body(()).unwrap();
        let err = client_trusting(&ca)
            .send_traced(req, rec.trace())
            .unwrap_err();
        assert_eq!(err.phase(), Phase::Tls, "{what}: {err}");
        let want = match what {
            "unknown issuer" => TlsError::UnknownIssuer,
            "expired" => TlsError::CertificateExpired,
            "not yet valid" => TlsError::CertificateNotYetValid,
            _ => TlsError::WrongHost,
        };
        assert!(
            matches!(err.kind(), ErrorKind::Tls(e) if *e == want),
            "{what}: {err}"
        );
        let names = rec.names();
        assert_eq!(
            names.iter().filter(|n| *n == "tls_handshake_done").count(),
            1,
            "{names:?}"
        );
        assert!(!names.iter().any(|n| n == "got_conn"), "{names:?}");
        assert_eq!(names.last().unwrap(), "request_done");
    }
}

#[test]
fn insecure_option_accepts_an_untrusted_certificate() {
    let stranger = Ca::new("stranger");
    let leaf = stranger.leaf(&["localhost"], &[], None);
    let server = TlsServer::start(server_config(&leaf), 1, OK);
    let client = Client::builder()
        .configure(|c| c.tls_danger_accept_invalid_certs = true)
        .build();
    let url = format!("https://localhost:{}/", server.addr.port());
    assert_eq!(
        client.get(&url).unwrap().into_body().text().unwrap(),
        "secure"
    );
}

#[test]
fn self_signed_leaf_is_an_unknown_issuer() {
    within(LIMIT, || {
        let ca = Ca::new("roundtrip test CA");
        let leaf = self_signed_leaf(&["localhost"]);
        let server = TlsServer::start(server_config(&leaf), 1, OK);
        let rec = Recorder::default();
        let url = format!("https://localhost:{}/", server.addr.port());
        let req = http::Request::get(&url).body(()).unwrap();
        let err = client_trusting(&ca)
            .send_traced(req, rec.trace())
            .unwrap_err();
        assert_eq!(err.phase(), Phase::Tls, "{err}");
        // webpki finds no path from a self-signed end entity to a trusted
        // root: the same cause as a leaf from an unknown CA.
        assert!(
            matches!(err.kind(), ErrorKind::Tls(TlsError::UnknownIssuer)),
            "{err:?}"
        );
        assert_handshake_failed(&rec);
        let done = handshakes(&rec).remove(0);
        assert!(done.contains("issuer is not trusted"), "{done}");
    });
}

#[test]
fn ip_literal_is_checked_against_ip_sans_only() {
    within(LIMIT, || {
        let ca = Ca::new("roundtrip test CA");
        let cases = [
            // Another address in the IP SAN.
            (ca.leaf(&["localhost"], &["127.0.0.2"], None), false),
            // No SANs at all (webpki never falls back to the CN).
            (ca.leaf(&[], &[], None), false),
            // The right address among others.
            (ca.leaf(&["localhost"], &["::1", "127.0.0.1"], None), true),
        ];
        for (i, (leaf, ok)) in cases.into_iter().enumerate() {
            let server = TlsServer::start(server_config(&leaf), 1, OK);
            let rec = Recorder::default();
            let url = format!("https://127.0.0.1:{}/", server.addr.port());
            let req = http::Request::get(&url).body(()).unwrap();
            let result = client_trusting(&ca).send_traced(req, rec.trace());
            if ok {
                let resp = result.unwrap_or_else(|e| panic!("case {i}: {e}"));
                assert_eq!(resp.into_body().text().unwrap(), "secure");
                let done = handshakes(&rec).remove(0);
                assert!(done.contains(r#""sni":null"#), "case {i}: {done}");
                assert!(done.contains(r#""error":null"#), "case {i}: {done}");
            } else {
                let err = result.unwrap_err();
                assert_eq!(err.phase(), Phase::Tls, "case {i}: {err}");
                assert!(
                    matches!(err.kind(), ErrorKind::Tls(TlsError::WrongHost)),
                    "case {i}: {err:?}"
                );
                assert_handshake_failed(&rec);
            }
        }
    });
}

/// A server requiring a client certificate from `client_ca`: reports
/// the client's certificate chain length (or the handshake error) on
/// `seen`, answers one request, and waits for the client to close.
fn mtls_script(
    config: std::sync::Arc<rustls::ServerConfig>,
    seen: mpsc::Sender<Result<usize, String>>,
) -> lo::ConnScript {
    Box::new(move |tcp| match accept(tcp, &config) {
        Ok(mut s) => {
            let n = s.conn.peer_certificates().map_or(0, |c| c.len());
            seen.send(Ok(n)).unwrap();
            if !read_head(&mut s).is_empty() {
                let _ = s.write_all(OK);
                let _ = s.flush();
            }
            client_end(&mut s, Duration::from_secs(5));
        }
        Err((mut tcp, e)) => {
            seen.send(Err(e.to_string())).unwrap();
            lo::wait_client_close(&mut tcp, Duration::from_secs(5));
        }
    })
}

#[test]
fn client_certificate_is_presented_when_the_server_requires_one() {
    within(LIMIT, || {
        let ca = Ca::new("roundtrip test CA");
        let clients = Ca::new("client CA");
        let leaf = ca.leaf(&["localhost"], &[], None);
        let (cert, key) = clients.client_leaf("roundtrip client").write_pem();
        for versions in [TLS13_ONLY, TLS12_ONLY] {
            let options = ServerOptions {
                versions,
                client_ca: Some(&clients),
                ..ServerOptions::default()
            };
            let (tx, rx) = mpsc::channel();
            let srv = Srv::new(vec![mtls_script(server_config_with(&leaf, &options), tx)]);
            let client = client_trusting_with(&ca, |c| {
                c.tls_client_cert = Some((cert.clone(), key.clone()))
            });
            let url = format!("https://localhost:{}/", srv.addr.port());
            let resp = client
                .get(&url)
                .unwrap_or_else(|e| panic!("{versions:?}: {e}"));
            assert_eq!(resp.into_body().text().unwrap(), "secure");
            assert_eq!(rx.recv().unwrap(), Ok(1), "{versions:?}");
            drop(client);
            srv.join();
        }
    });
}

#[test]
fn required_client_certificate_missing_is_a_typed_alert() {
    within(LIMIT, || {
        let ca = Ca::new("roundtrip test CA");
        let clients = Ca::new("client CA");
        let strangers = Ca::new("stranger CA");
        let leaf = ca.leaf(&["localhost"], &[], None);
        let (cert, key) = strangers.client_leaf("stranger").write_pem();
        // (versions, send a certificate from an untrusted CA, the alert)
        let cases = [
            (TLS13_ONLY, false, "CertificateRequired"),
            (TLS12_ONLY, false, "CertificateRequired"),
            (TLS13_ONLY, true, "UnknownCA"),
            (TLS12_ONLY, true, "UnknownCA"),
        ];
        for (versions, stranger, alert) in cases {
            let what = format!("{versions:?} stranger={stranger}");
            let options = ServerOptions {
                versions,
                client_ca: Some(&clients),
                ..ServerOptions::default()
            };
            let (tx, rx) = mpsc::channel();
            let srv = Srv::new(vec![mtls_script(server_config_with(&leaf, &options), tx)]);
            let client = client_trusting_with(&ca, |c| {
                if stranger {
                    c.tls_client_cert = Some((cert.clone(), key.clone()));
                }
            });
            let rec = Recorder::default();
            let url = format!("https://localhost:{}/", srv.addr.port());
            let req = http::Request::get(&url).body(()).unwrap();
            let err = client.send_traced(req, rec.trace()).unwrap_err();
            assert!(rx.recv().unwrap().is_err(), "{what}: the server accepted");
            assert_eq!(err.phase(), Phase::Tls, "{what}: {err}");
            match err.kind() {
                ErrorKind::Tls(TlsError::AlertReceived(a)) => {
                    assert!(a.contains(alert), "{what}: {a}")
                }
                other => panic!("{what}: {other:?}"),
            }
            let names = rec.names();
            assert_eq!(names.last().unwrap(), "request_done", "{what}: {names:?}");
            let done = handshakes(&rec);
            assert_eq!(done.len(), 1, "{what}: {names:?}");
            if versions == TLS12_ONLY {
                // The server's verdict comes before its Finished: the
                // handshake itself fails.
                assert_handshake_failed(&rec);
            } else {
                // TLS 1.3: the client's handshake is complete when it sends
                // its certificate (RFC 8446 §4.4.2); the alert comes after.
                assert!(done[0].contains(r#""error":null"#), "{what}: {}", done[0]);
            }
            drop(client);
            srv.join();
        }
    });
}

#[test]
fn tls12_only_server() {
    within(LIMIT, || {
        let ca = Ca::new("roundtrip test CA");
        let leaf = ca.leaf(&["localhost"], &[], None);
        let options = ServerOptions {
            versions: TLS12_ONLY,
            ..ServerOptions::default()
        };
        let server = TlsServer::start(server_config_with(&leaf, &options), 1, OK);
        let rec = Recorder::default();
        let url = format!("https://localhost:{}/", server.addr.port());
        let client = client_trusting(&ca);
        for _ in 0..2 {
            let req = http::Request::get(&url).body(()).unwrap();
            let resp = client.send_traced(req, rec.trace()).unwrap();
            assert_eq!(resp.into_body().text().unwrap(), "secure");
        }
        let done = handshakes(&rec);
        assert_eq!(done.len(), 1, "{:?}", rec.names());
        assert!(done[0].contains(r#""version":"TLSv1.2""#), "{}", done[0]);
        assert!(
            done[0].contains(r#""cipher_suite":"TLS_ECDHE_"#),
            "{}",
            done[0]
        );
        assert!(done[0].contains(r#""alpn":"http/1.1""#), "{}", done[0]);
        assert!(done[0].contains(r#""resumed":false"#), "{}", done[0]);
        assert!(done[0].contains(r#""peer_certificates":1"#), "{}", done[0]);
        drop(client);
        server.join();
    });
}

const OK_CLOSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nsecure";

#[test]
fn second_new_connection_resumes_the_session() {
    within(LIMIT, || {
        let ca = Ca::new("roundtrip test CA");
        let leaf = ca.leaf(&["localhost"], &[], None);
        // TLS 1.3 with stateful tickets (rustls's default server session
        // cache) and with stateless ones; TLS 1.2 with session ids and
        // with tickets (RFC 5077).
        for (versions, tickets, version) in [
            (TLS13_ONLY, false, "TLSv1.3"),
            (TLS13_ONLY, true, "TLSv1.3"),
            (TLS12_ONLY, false, "TLSv1.2"),
            (TLS12_ONLY, true, "TLSv1.2"),
        ] {
            let what = format!("{version} tickets={tickets}");
            let options = ServerOptions {
                versions,
                tickets,
                ..ServerOptions::default()
            };
            let server = TlsServer::start(server_config_with(&leaf, &options), 3, OK_CLOSE);
            let client = client_trusting(&ca);
            let rec = Recorder::default();
            let url = format!("https://localhost:{}/", server.addr.port());
            for _ in 0..3 {
                let req = http::Request::get(&url).body(()).unwrap();
                let resp = client.send_traced(req, rec.trace()).unwrap();
                assert_eq!(resp.into_body().text().unwrap(), "secure", "{what}");
            }
            // `Connection: close` each time: three new connections.
            let done = handshakes(&rec);
            assert_eq!(done.len(), 3, "{what}: {:?}", rec.names());
            for d in &done {
                assert!(d.contains(&format!(r#""version":"{version}""#)), "{d}");
                assert!(d.contains(r#""error":null"#), "{d}");
            }
            assert!(
                done[0].contains(r#""resumed":false"#),
                "{what}: {}",
                done[0]
            );
            assert!(done[1].contains(r#""resumed":true"#), "{what}: {}", done[1]);
            assert!(done[2].contains(r#""resumed":true"#), "{what}: {}", done[2]);
            drop(client);
            server.join();
        }
    });
}

/// Answers every request on a TLS connection with `OK` until the client
/// closes it.
fn tls_keepalive_script(config: std::sync::Arc<rustls::ServerConfig>) -> lo::ConnScript {
    Box::new(move |tcp| {
        let Ok(mut s) = accept(tcp, &config) else {
            panic!("handshake failed")
        };
        loop {
            if read_head(&mut s).is_empty() {
                break;
            }
            s.write_all(OK).unwrap();
            s.flush().unwrap();
        }
    })
}

const PLAIN: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nplain";

#[test]
fn pool_keys_include_the_scheme() {
    within(LIMIT, || {
        let ca = Ca::new("roundtrip test CA");
        let leaf = ca.leaf(&["localhost"], &[], None);
        // One port, two connections: the first TLS, the second plain.
        let srv = Srv::new(vec![
            tls_keepalive_script(server_config(&leaf)),
            lo::replies(vec![PLAIN.to_vec(), PLAIN.to_vec()]),
        ]);
        let log = lo::Log::default();
        let client = traced_client_trusting(&ca, &log, |_| {});
        let port = srv.addr.port();
        let https = format!("https://localhost:{port}/");
        let http = format!("http://localhost:{port}/");
        let get = |url: &str| client.get(url).unwrap().into_body().text().unwrap();
        assert_eq!(get(&https), "secure");
        // The pooled TLS connection is not taken for http: a new one.
        assert_eq!(get(&http), "plain");
        assert_eq!(srv.accepted(), 2);
        // And each scheme reuses its own.
        assert_eq!(get(&https), "secure");
        assert_eq!(get(&http), "plain");
        assert_eq!(log.got_conn(), [false, false, true, true]);
        assert_eq!(srv.accepted(), 2);
        assert_eq!(client.idle_connections(), 2);
        drop(client);
        srv.join();
    });
}

#[test]
fn plain_http_to_the_tls_port_does_not_reuse_the_tls_connection() {
    within(LIMIT, || {
        let ca = Ca::new("roundtrip test CA");
        let leaf = ca.leaf(&["localhost"], &[], None);
        let config = server_config(&leaf);
        let (tx, rx) = mpsc::channel();
        let second: lo::ConnScript = {
            let config = config.clone();
            Box::new(move |tcp| {
                // A TLS server meeting plaintext: it answers with an alert.
                let r = accept(tcp, &config).map(|_| ()).map_err(|(mut tcp, e)| {
                    lo::wait_client_close(&mut tcp, Duration::from_secs(5));
                    e.to_string()
                });
                tx.send(r).unwrap();
            })
        };
        let srv = Srv::new(vec![tls_keepalive_script(config), second]);
        let log = lo::Log::default();
        let client = traced_client_trusting(&ca, &log, |_| {});
        let port = srv.addr.port();
        let https = format!("https://localhost:{port}/");
        let get = |url: &str| client.get(url).unwrap().into_body().text().unwrap();
        assert_eq!(get(&https), "secure");

        let err = client
            .get(&format!("http://localhost:{port}/"))
            .unwrap_err();
        // The TLS server's alert is not an HTTP status line.
        assert_eq!(err.phase(), Phase::ReadResponseHead, "{err:?}");
        assert!(!matches!(err.kind(), ErrorKind::Tls(_)), "{err:?}");
        assert!(rx.recv().unwrap().is_err());
        assert_eq!(srv.accepted(), 2);

        // The TLS connection was left alone and is still good.
        assert_eq!(get(&https), "secure");
        assert_eq!(log.got_conn(), [false, false, true]);
        assert_eq!(srv.accepted(), 2);
        drop(client);
        srv.join();
    });
}

#[test]
fn client_certificate_files_that_do_not_load_are_a_config_error() {
    within(LIMIT, || {
        let ca = Ca::new("roundtrip test CA");
        let leaf = ca.leaf(&["localhost"], &[], None);
        let server = TlsServer::start(server_config(&leaf), 1, OK);
        let missing = std::env::temp_dir().join("roundtrip-tls-no-such-file.pem");
        let client = client_trusting_with(&ca, |c| {
            c.tls_client_cert = Some((missing.clone(), missing.clone()))
        });
        let url = format!("https://localhost:{}/", server.addr.port());
        let err = client.get(&url).unwrap_err();
        assert_eq!(err.phase(), Phase::Tls, "{err}");
        assert!(
            matches!(err.kind(), ErrorKind::Tls(TlsError::Config(_))),
            "{err:?}"
        );
        server.join();
    });
}

/// A TLS server that answers every request on its connection with `body`
/// and its `Content-Length`.
fn length_body_script(config: std::sync::Arc<rustls::ServerConfig>, body: &[u8]) -> lo::ConnScript {
    let mut response =
        format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
    response.extend_from_slice(body);
    Box::new(move |tcp| {
        let Ok(mut s) = accept(tcp, &config) else {
            panic!("handshake failed")
        };
        while !read_head(&mut s).is_empty() {
            s.write_all(&response).unwrap();
            s.flush().unwrap();
        }
    })
}

#[test]
fn big_bodies_through_a_small_receive_buffer_keep_the_connection() {
    within(LIMIT, || {
        let ca = Ca::new("roundtrip test CA");
        let config = server_config(&ca.leaf(&["localhost"], &[], None));
        let body = support::interop::pseudo_random((1 << 20) + 333, 9);
        let srv = Srv::new(vec![length_body_script(config, &body)]);
        let log = lo::Log::default();
        let client = traced_client_trusting(&ca, &log, |c| {
            c.recv_buffer_size = 1024;
            c.max_head_size = 1024;
        });
        let url = format!("https://localhost:{}/", srv.addr.port());
        for i in 0..3 {
            let mut resp = client.get(&url).unwrap().into_body();
            let (got, err) = lo::drain(&mut resp);
            assert!(err.is_none(), "request {i}: {err:?}");
            assert!(got == body, "request {i}: {} bytes", got.len());
        }
        assert_eq!(log.got_conn(), [false, true, true]);
        assert_eq!(log.put_idle(), [None, None, None]);
        drop(client);
        srv.join();
    });
}

/// `copy_to` and `bytes` over TLS: the body's length sizes their buffers,
/// but no direct read from the socket is possible (the bytes are records
/// to decrypt), so they take the receive buffer's path; the caller must
/// see the same bytes either way and the connection must carry the next
/// response.
#[test]
fn copy_to_and_bytes_over_tls_see_the_whole_body_and_keep_the_connection() {
    within(LIMIT, || {
        let ca = Ca::new("roundtrip test CA");
        let config = server_config(&ca.leaf(&["localhost"], &[], None));
        let body = support::interop::pseudo_random((3 << 20) + 7, 5);
        let srv = Srv::new(vec![length_body_script(config, &body)]);
        let log = lo::Log::default();
        let client = traced_client_trusting(&ca, &log, |_| {});
        let url = format!("https://localhost:{}/", srv.addr.port());
        let mut copied = Vec::new();
        let n = client.get(&url).unwrap().into_body().copy_to(&mut copied);
        assert_eq!(n.unwrap(), body.len() as u64);
        assert!(copied == body, "copy_to: {} bytes", copied.len());
        let got = client.get(&url).unwrap().into_body().bytes().unwrap();
        assert!(got == body, "bytes: {} bytes", got.len());
        assert_eq!(log.got_conn(), [false, true]);
        assert_eq!(log.put_idle(), [None, None]);
        drop(client);
        srv.join();
    });
}

/// The chain in `tls_handshake_done` is what the server sent, byte for
/// byte and leaf first, and the leaf's summary is read from that
/// certificate: the server here sends its CA after the leaf, and the leaf
/// has dates and names of its own, so neither a copy of the leaf alone nor
/// a summary of the wrong certificate passes.
#[test]
fn handshake_done_carries_the_servers_chain_and_the_leafs_summary() {
    use std::sync::{Arc, Mutex};

    let ca = Ca::new("roundtrip chain CA");
    let mut leaf = ca.leaf(&["localhost"], &["127.0.0.1"], Some((2021, 2041)));
    leaf.chain.push(ca.cert.der().clone());
    let expected: Vec<Vec<u8>> = leaf.chain.iter().map(|c| c.to_vec()).collect();
    let server = TlsServer::start(server_config(&leaf), 1, OK);

    let seen: Arc<Mutex<Vec<roundtrip::tls::TlsInfo>>> = Arc::default();
    let s = seen.clone();
    let trace = roundtrip::Trace::new().on_event(move |e| {
        if let roundtrip::EventKind::TlsHandshakeDone { info, .. } = &e.kind {
            s.lock().unwrap().extend(info.cloned());
        }
    });
    let url = format!("https://localhost:{}/", server.addr.port());
    let req = http::Request::get(&url).body(()).unwrap();
    let resp = client_trusting(&ca).send_traced(req, trace).unwrap();
    assert_eq!(resp.into_body().text().unwrap(), "secure");

    let seen = seen.lock().unwrap();
    let [info] = &seen[..] else {
        panic!("one handshake expected: {seen:?}")
    };
    assert_eq!(info.peer_certificates.len(), 2);
    assert!(
        info.peer_certificates == expected,
        "the chain differs from the server's"
    );
    let summary = info.leaf.as_ref().expect("a leaf summary");
    assert_eq!(summary.subject, "CN=localhost");
    assert_eq!(summary.sans, ["localhost", "127.0.0.1"]);
    assert_eq!(summary.not_before, "2021-01-01T00:00:00Z");
    assert_eq!(summary.not_after, "2041-01-01T00:00:00Z");
    server.join();
}

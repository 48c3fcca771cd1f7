//! HTTPS end to end against an in-test rustls server with certificates
//! minted by rcgen (issue #5).

mod support;

use roundtrip::{Client, ErrorKind, Phase, TlsError};
use support::tls::{server_config, Ca, TlsServer};
use support::Recorder;

fn client_trusting(ca: &Ca) -> Client {
    Client::builder()
        .configure(|c| {
            c.tls_ca_files = vec![ca.pem_path.clone()];
            c.tls_builtin_roots = false;
        })
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

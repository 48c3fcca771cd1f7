//! Interop with a real nginx over TLS (issue #5; DESIGN.md, "Testing
//! layers", 4): the same files as the plain interop test, byte-compared
//! over https (the 8 MiB one read in small pieces); keep-alive reuse of a TLS connection; session resumption on
//! a second new connection (`ssl_session_tickets on`), over TLS 1.3 and
//! TLS 1.2; concurrent TLS connections; an untrusted certificate.
//!
//! Certificates are minted by the test with rcgen and written into nginx's
//! prefix. Each test starts its own nginx (tests/support/nginx.rs) with two
//! TLS server blocks: `tls` (TLS 1.2 and 1.3) and `tls12` (TLS 1.2 only).
//! Without nginx they print `SKIPPED` and pass, unless
//! `ROUNDTRIP_INTEROP=require`, which makes them fail.

#![forbid(unsafe_code)]

mod support;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};

use http::{header, Request, StatusCode};
use roundtrip::{Client, CloseReason, ErrorKind, Phase, RequestId, TlsError};
use support::nginx::{
    nginx_with_or_skip, quoted, standard_locations, ExtraServer, Nginx, Options, ServerCtx, BIG_8M,
    EMPTY, RANDOM_1M, SMALL, SSI,
};
use support::tls::{handshakes, Ca};
use support::Recorder;

/// A TLS server block serving the standard locations, plus `/fresh/…`:
/// the html dir with `keepalive_timeout 0`, so every response there says
/// `Connection: close` and the next request needs a new connection.
fn tls_block(ctx: &ServerCtx<'_>, protocols: &str) -> String {
    let cert = quoted(&ctx.prefix.join("tls/cert.pem"));
    let key = quoted(&ctx.prefix.join("tls/key.pem"));
    let html_slash = quoted(&ctx.html.join(""));
    format!(
        r#"
    server {{
        listen 127.0.0.1:{port} ssl;
        server_name localhost;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols {protocols};
        ssl_session_tickets on;
        ssl_session_cache shared:roundtrip_tls:1m;
        location /fresh/ {{
            alias {html_slash};
            keepalive_timeout 0;
        }}
{locations}
    }}
"#,
        port = ctx.port,
        locations = standard_locations(ctx),
    )
}

/// nginx with the `tls` and `tls12` blocks, and the CA that issued their
/// certificate (for `localhost` and 127.0.0.1).
fn nginx_tls_or_skip() -> Option<(Nginx, Ca)> {
    let ca = Ca::new("roundtrip interop CA");
    let leaf = ca.leaf(&["localhost"], &["127.0.0.1"], None);
    let options = Options {
        extra_servers: vec![
            ExtraServer {
                name: "tls",
                block: Box::new(|ctx| tls_block(ctx, "TLSv1.2 TLSv1.3")),
            },
            ExtraServer {
                name: "tls12",
                block: Box::new(|ctx| tls_block(ctx, "TLSv1.2")),
            },
        ],
        extra_files: vec![
            ("tls/cert.pem".into(), leaf.cert_pem.into_bytes()),
            ("tls/key.pem".into(), leaf.key_pem.into_bytes()),
        ],
    };
    nginx_with_or_skip(options).map(|n| (n, ca))
}

/// A client trusting only the test CA, with `localhost` pinned to
/// 127.0.0.1 for both TLS ports (nginx listens on IPv4 only), traced.
fn client(nginx: &Nginx, ca: &Ca) -> (Client, Recorder) {
    let rec = Recorder::default();
    let pin = |name| {
        (
            "localhost".to_owned(),
            nginx.port_of(name),
            vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
        )
    };
    let client = Client::builder()
        .configure(|c| {
            c.tls_ca_files = vec![ca.pem_path.clone()];
            c.tls_builtin_roots = false;
            c.resolve = vec![pin("tls"), pin("tls12")];
        })
        .trace(rec.trace())
        .build();
    (client, rec)
}

fn url(nginx: &Nginx, server: &str, path: &str) -> String {
    format!("https://localhost:{}{path}", nginx.port_of(server))
}

/// GET, asserting 200 and reading the whole body.
fn get_body(client: &Client, url: &str) -> Vec<u8> {
    let resp = client.get(url).unwrap_or_else(|e| panic!("GET {url}: {e}"));
    assert_eq!(resp.status(), StatusCode::OK, "GET {url}");
    resp.into_body()
        .bytes()
        .unwrap_or_else(|e| panic!("GET {url} body: {e}"))
}

/// Compares without printing megabytes on failure.
#[track_caller]
fn assert_same_bytes(got: &[u8], want: &[u8], what: &str) {
    if got != want {
        let first = got.iter().zip(want).position(|(a, b)| a != b);
        panic!(
            "{what}: {} bytes received, {} expected; first difference at {first:?}",
            got.len(),
            want.len()
        );
    }
}

/// `reused` of every `got_conn`, in order.
fn reused(rec: &Recorder) -> Vec<bool> {
    rec.events
        .lock()
        .unwrap()
        .iter()
        .filter(|(n, _)| n == "got_conn")
        .map(|(_, l)| l.contains(r#""reused":true"#))
        .collect()
}

fn count(rec: &Recorder, name: &str) -> usize {
    rec.names().iter().filter(|n| *n == name).count()
}

#[test]
fn static_files_over_https_match_the_disk() {
    let Some((nginx, ca)) = nginx_tls_or_skip() else {
        return;
    };
    let (client, rec) = client(&nginx, &ca);
    for name in [SMALL, EMPTY, RANDOM_1M] {
        let want = nginx.file(name);
        let resp = client
            .get(&url(&nginx, "tls", &format!("/{name}")))
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{name}");
        assert_eq!(
            resp.headers()[header::CONTENT_LENGTH],
            want.len().to_string().as_str(),
            "{name}"
        );
        assert_same_bytes(&resp.into_body().bytes().unwrap(), &want, name);
    }
    // Chunked (SSI) over TLS.
    let got = get_body(&client, &url(&nginx, "tls", &format!("/{SSI}")));
    assert_same_bytes(&got, &nginx.ssi_expected(), SSI);

    let done = handshakes(&rec);
    assert_eq!(done.len(), 1, "{:?}\n{}", rec.names(), nginx.logs());
    let d = &done[0];
    assert!(d.contains(r#""version":"TLSv1.3""#), "{d}");
    assert!(d.contains(r#""alpn":"http/1.1""#), "{d}");
    assert!(d.contains(r#""sni":"localhost""#), "{d}");
    assert!(d.contains(r#""resumed":false"#), "{d}");
    assert!(d.contains(r#""peer_certificates":1"#), "{d}");
    assert!(d.contains(r#""error":null"#), "{d}");
}

/// The plain interop's 8 MiB file over TLS, read 1000 bytes at a time: a
/// read rarely ends on a record boundary, so a record decrypted but not
/// yet handed out must never be lost or given twice.
#[test]
fn big_file_over_https_streams_through_small_reads() {
    use std::io::Read;

    let Some((nginx, ca)) = nginx_tls_or_skip() else {
        return;
    };
    let (client, rec) = client(&nginx, &ca);
    let want = nginx.file(BIG_8M);
    let resp = client
        .get(&url(&nginx, "tls", &format!("/{BIG_8M}")))
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers()[header::CONTENT_LENGTH],
        want.len().to_string().as_str()
    );
    let mut body = resp.into_body();
    let mut got = Vec::with_capacity(want.len());
    let mut buf = [0u8; 1000];
    loop {
        let n = body.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    drop(body);
    assert_same_bytes(&got, &want, BIG_8M);

    let lines = rec.lines();
    let body_done: Vec<_> = lines
        .iter()
        .filter(|l| l.contains("response_body_done"))
        .collect();
    assert_eq!(body_done.len(), 1, "{:?}", rec.names());
    let bytes = format!(r#""bytes":{}"#, want.len());
    assert!(body_done[0].contains(&bytes), "{}", body_done[0]);
    assert!(body_done[0].contains(r#""error":null"#), "{}", body_done[0]);
    assert_eq!(handshakes(&rec).len(), 1);
    assert_eq!(client.idle_connections(), 1, "pooled after the body");
}

#[test]
fn keep_alive_reuses_the_tls_connection() {
    let Some((nginx, ca)) = nginx_tls_or_skip() else {
        return;
    };
    let (client, rec) = client(&nginx, &ca);
    let names = [SMALL, RANDOM_1M, EMPTY, SSI, SMALL, RANDOM_1M];
    for (i, name) in names.iter().enumerate() {
        let want = if *name == SSI {
            nginx.ssi_expected()
        } else {
            nginx.file(name)
        };
        let got = get_body(&client, &url(&nginx, "tls", &format!("/{name}")));
        assert_same_bytes(&got, &want, &format!("request {i}: {name}"));
    }
    assert_eq!(count(&rec, "connect_start"), 1, "{:?}", rec.names());
    assert_eq!(count(&rec, "tls_handshake_start"), 1);
    assert_eq!(reused(&rec), [false, true, true, true, true, true]);
    assert_eq!(client.idle_connections(), 1);
}

#[test]
fn second_new_connection_resumes_the_session() {
    let Some((nginx, ca)) = nginx_tls_or_skip() else {
        return;
    };
    for (server, version) in [("tls", "TLSv1.3"), ("tls12", "TLSv1.2")] {
        let (client, rec) = client(&nginx, &ca);
        let want = nginx.file(RANDOM_1M);
        for i in 0..3 {
            let resp = client
                .get(&url(&nginx, server, &format!("/fresh/{RANDOM_1M}")))
                .unwrap();
            assert_eq!(resp.status(), StatusCode::OK);
            assert_eq!(resp.headers()[header::CONNECTION], "close");
            let got = resp.into_body().bytes().unwrap();
            assert_same_bytes(&got, &want, &format!("{server} request {i}"));
        }
        // Three connections, each with its own handshake; the second and
        // third resume the session of the first.
        let done = handshakes(&rec);
        assert_eq!(done.len(), 3, "{server}: {:?}", rec.names());
        for d in &done {
            assert!(d.contains(&format!(r#""version":"{version}""#)), "{d}");
            assert!(d.contains(r#""error":null"#), "{d}");
        }
        assert!(done[0].contains(r#""resumed":false"#), "{}", done[0]);
        assert!(
            done[1].contains(r#""resumed":true"#),
            "{server}: {}\n{}",
            done[1],
            nginx.logs()
        );
        assert!(done[2].contains(r#""resumed":true"#), "{}", done[2]);
        assert_eq!(reused(&rec), [false, false, false]);
        // Each connection was closed for the response's `Connection: close`.
        let why = format!(r#""error":"{}""#, CloseReason::ConnectionClose);
        let puts: Vec<bool> = rec
            .events
            .lock()
            .unwrap()
            .iter()
            .filter(|(n, _)| n == "put_idle_conn")
            .map(|(_, l)| l.contains(&why))
            .collect();
        assert_eq!(puts, [true, true, true], "{:?}", rec.lines());
    }
}

#[test]
fn tls12_only_server_serves_the_same_bytes() {
    let Some((nginx, ca)) = nginx_tls_or_skip() else {
        return;
    };
    let (client, rec) = client(&nginx, &ca);
    for name in [SMALL, RANDOM_1M] {
        let got = get_body(&client, &url(&nginx, "tls12", &format!("/{name}")));
        assert_same_bytes(&got, &nginx.file(name), name);
    }
    let done = handshakes(&rec);
    assert_eq!(done.len(), 1);
    assert!(done[0].contains(r#""version":"TLSv1.2""#), "{}", done[0]);
    assert!(done[0].contains(r#""alpn":"http/1.1""#), "{}", done[0]);
    assert_eq!(reused(&rec), [false, true]);
}

#[test]
fn concurrent_tls_connections() {
    let Some((nginx, ca)) = nginx_tls_or_skip() else {
        return;
    };
    let (client, rec) = client(&nginx, &ca);
    let names = [RANDOM_1M, SMALL, SSI, RANDOM_1M];
    let mut batch = client.batch();
    let mut expected: HashMap<RequestId, &str> = HashMap::new();
    for name in names {
        let req = Request::get(url(&nginx, "tls", &format!("/{name}")))
            .body(())
            .unwrap();
        expected.insert(batch.submit(req), name);
    }
    let mut responses = Vec::new();
    while let Some((id, result)) = batch.wait() {
        let resp = result.unwrap_or_else(|e| panic!("request {id}: {e}"));
        assert_eq!(resp.status(), StatusCode::OK);
        responses.push((id, resp));
    }
    drop(batch);
    // Bodies read last to first, all four connections open at once.
    responses.sort_by_key(|(id, _)| *id);
    for (id, resp) in responses.into_iter().rev() {
        let name = expected.remove(&id).unwrap();
        let want = if name == SSI {
            nginx.ssi_expected()
        } else {
            nginx.file(name)
        };
        assert_same_bytes(&resp.into_body().bytes().unwrap(), &want, name);
    }
    assert_eq!(handshakes(&rec).len(), 4, "{:?}", rec.names());
    assert_eq!(client.idle_connections(), 4);
}

#[test]
fn certificate_from_an_untrusted_ca_is_refused() {
    let Some((nginx, _ca)) = nginx_tls_or_skip() else {
        return;
    };
    // The bundled Mozilla roots only: the test CA is not among them.
    let client = Client::new();
    let url = format!("https://127.0.0.1:{}/{SMALL}", nginx.port_of("tls"));
    let err = client.get(&url).unwrap_err();
    assert_eq!(err.phase(), Phase::Tls, "{err}");
    assert!(
        matches!(err.kind(), ErrorKind::Tls(TlsError::UnknownIssuer)),
        "{err:?}"
    );
}

//! HTTPS against servers that misbehave at the TLS layer (issue #5's
//! failure matrix, the part no real server produces on demand): a fatal
//! alert instead of a ServerHello, a close in the middle of the handshake, a
//! server that never answers (the handshake timeout), a close-delimited
//! body cut short without close_notify (RFC 8446 §6.1), also through a
//! receive buffer smaller than a record, a record that does not decrypt in
//! the middle of a body, close_notify on an idle pooled connection, and the
//! client's own close_notify on every way a connection ends.
//!
//! Raw servers are `lo::Srv` scripts on loopback sockets; TLS ones run
//! rustls on top of them (tests/support/tls.rs).

#![forbid(unsafe_code)]

mod support;

use std::io::Write;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use roundtrip::{Client, ErrorKind, Phase, TlsError};
use support::lo::{self, drain, within, Srv};
use support::tls::{
    accept, assert_handshake_failed, client_end, client_trusting_with, fatal_alert, handshakes,
    read_head, read_record, server_config, Ca, ClientEnd,
};
use support::Recorder;

/// Every test here finishes well within this, or the client hung.
const LIMIT: Duration = Duration::from_secs(10);

fn client_trusting(ca: &Ca) -> Client {
    client_trusting_with(ca, |_| {})
}

/// GET `https://localhost:<port>/` with a recorder; the error it failed with.
fn get_err(client: &Client, srv: &Srv) -> (roundtrip::Error, Recorder) {
    let rec = Recorder::default();
    let url = format!("https://localhost:{}/", srv.addr.port());
    let req = http::Request::get(&url).body(()).unwrap();
    let err = client.send_traced(req, rec.trace()).unwrap_err();
    (err, rec)
}

#[test]
fn fatal_alert_during_the_handshake_is_named() {
    within(LIMIT, || {
        let ca = Ca::new("roundtrip test CA");
        // handshake_failure (40) and protocol_version (70), each once with
        // the server closing at once and once holding the connection open.
        let cases = [
            (40, "HandshakeFailure", true),
            (40, "HandshakeFailure", false),
            (70, "ProtocolVersion", true),
            (70, "ProtocolVersion", false),
        ];
        for (code, name, close) in cases {
            let script: lo::ConnScript = Box::new(move |mut tcp| {
                let hello = read_record(&mut tcp).expect("a ClientHello record");
                assert_eq!(hello[0], 0x16, "a handshake record");
                assert_eq!(hello[5], 0x01, "a ClientHello");
                tcp.write_all(&fatal_alert(code)).unwrap();
                if !close {
                    lo::wait_client_close(&mut tcp, Duration::from_secs(5));
                }
            });
            let srv = Srv::new(vec![script]);
            let (err, rec) = get_err(&client_trusting(&ca), &srv);
            assert_eq!(err.phase(), Phase::Tls, "{name}: {err}");
            match err.kind() {
                ErrorKind::Tls(TlsError::AlertReceived(a)) => assert!(a.contains(name), "{a}"),
                other => panic!("{name} close={close}: {other:?}"),
            }
            assert_handshake_failed(&rec);
            let done = handshakes(&rec).remove(0);
            assert!(done.contains(name), "{done}");
            srv.join();
        }
    });
}

#[test]
fn server_closing_mid_handshake() {
    within(LIMIT, || {
        let ca = Ca::new("roundtrip test CA");
        // After the ClientHello: nothing; half a ServerHello record.
        let partial: &[&[u8]] = &[b"", b"\x16\x03\x03\x00\x40\x02\x00\x00\x3c\x03\x03"];
        for &sent in partial {
            let script: lo::ConnScript = Box::new(move |mut tcp| {
                read_record(&mut tcp).expect("a ClientHello record");
                tcp.write_all(sent).unwrap();
                // Dropped: FIN, nothing unread (so no reset).
            });
            let srv = Srv::new(vec![script]);
            let (err, rec) = get_err(&client_trusting(&ca), &srv);
            assert_eq!(err.phase(), Phase::Tls, "{err}");
            assert!(
                matches!(err.kind(), ErrorKind::Tls(TlsError::ClosedDuringHandshake)),
                "{} bytes then close: {err:?}",
                sent.len()
            );
            assert_handshake_failed(&rec);
            srv.join();
        }
    });
}

#[test]
fn silent_server_hits_the_handshake_timeout() {
    within(LIMIT, || {
        let ca = Ca::new("roundtrip test CA");
        let (tx, rx) = mpsc::channel();
        let script: lo::ConnScript = Box::new(move |mut tcp| {
            read_record(&mut tcp).expect("a ClientHello record");
            // Never answer; report whether the client gave up and closed.
            tx.send(lo::wait_client_close(&mut tcp, Duration::from_secs(5)))
                .unwrap();
        });
        let srv = Srv::new(vec![script]);
        let limit = Duration::from_millis(300);
        let client = client_trusting_with(&ca, |c| c.tls_handshake_timeout = limit);
        let start = Instant::now();
        let (err, rec) = get_err(&client, &srv);
        let took = start.elapsed();
        assert_eq!(err.phase(), Phase::Tls, "{err}");
        assert!(
            matches!(err.kind(), ErrorKind::Timeout { limit: l } if *l == limit),
            "{err:?}"
        );
        assert!(took >= limit, "gave up after {took:?}");
        assert!(took < Duration::from_millis(1500), "gave up after {took:?}");
        // Closed by the time the error is back, the client still alive.
        assert_eq!(support::sockets_to(srv.addr.port()), 0, "socket left open");
        assert_handshake_failed(&rec);
        assert!(
            rx.recv().unwrap(),
            "the client did not close the connection"
        );
        srv.join();
    });
}

/// A TLS server that reads one request head, writes `response`, then ends
/// the connection with close_notify or with a bare TCP close.
fn respond_then_close(
    config: std::sync::Arc<rustls::ServerConfig>,
    response: &'static [u8],
    close_notify: bool,
) -> lo::ConnScript {
    Box::new(move |tcp| {
        let Ok(mut s) = accept(tcp, &config) else {
            panic!("handshake failed")
        };
        assert!(!read_head(&mut s).is_empty());
        s.write_all(response).unwrap();
        s.flush().unwrap();
        if close_notify {
            s.conn.send_close_notify();
            s.flush().unwrap();
        }
        // Dropping the stream closes the socket; rustls sends nothing.
    })
}

const CLOSE_DELIMITED: &[u8] = b"HTTP/1.1 200 OK\r\n\r\npartial";

#[test]
fn close_delimited_body_without_close_notify_is_a_truncation() {
    within(LIMIT, || {
        let ca = Ca::new("roundtrip test CA");
        let config = server_config(&ca.leaf(&["localhost"], &[], None));
        let srv = Srv::new(vec![respond_then_close(config, CLOSE_DELIMITED, false)]);
        let log = lo::Log::default();
        let client = Client::builder()
            .configure(|c| {
                c.tls_ca_files = vec![ca.pem_path.clone()];
                c.tls_builtin_roots = false;
            })
            .trace(log.trace())
            .build();
        let url = format!("https://localhost:{}/", srv.addr.port());
        let resp = client.get(&url).unwrap();
        assert_eq!(resp.status(), 200);
        let mut body = resp.into_body();
        let (got, err) = drain(&mut body);
        drop(body);
        // What arrived is delivered, then the error: the end cannot be
        // told from an attacker's TCP FIN (RFC 8446 §6.1).
        assert_eq!(got, b"partial");
        let err = err.expect("a body ended by a bare TCP close is not complete");
        assert_eq!(err.phase(), Phase::ReadResponseBody, "{err}");
        assert!(
            matches!(err.kind(), ErrorKind::Tls(TlsError::MissingCloseNotify)),
            "{err:?}"
        );
        let (bytes, _, body_err) = log.body_done();
        assert_eq!(bytes, 7);
        assert!(
            matches!(
                body_err.as_ref().map(|e| e.kind()),
                Some(ErrorKind::Tls(TlsError::MissingCloseNotify))
            ),
            "{body_err:?}"
        );
        assert!(log.put_idle_once().is_some(), "{:?}", log.names());
        assert!(log.done_once().is_some());
        drop(client);
        srv.join();
    });
}

#[test]
fn close_delimited_body_with_close_notify_is_complete() {
    within(LIMIT, || {
        let ca = Ca::new("roundtrip test CA");
        let config = server_config(&ca.leaf(&["localhost"], &[], None));
        let srv = Srv::new(vec![respond_then_close(config, CLOSE_DELIMITED, true)]);
        let log = lo::Log::default();
        let client = Client::builder()
            .configure(|c| {
                c.tls_ca_files = vec![ca.pem_path.clone()];
                c.tls_builtin_roots = false;
            })
            .trace(log.trace())
            .build();
        let url = format!("https://localhost:{}/", srv.addr.port());
        let body = client.get(&url).unwrap().into_body().text().unwrap();
        assert_eq!(body, "partial");
        let (bytes, _, err) = log.body_done();
        assert_eq!((bytes, err.map(|e| e.to_string())), (7, None));
        assert!(log.done_once().is_none());
        drop(client);
        srv.join();
    });
}

#[test]
fn framed_body_then_eof_without_close_notify_is_tolerated() {
    within(LIMIT, || {
        let ca = Ca::new("roundtrip test CA");
        let config = server_config(&ca.leaf(&["localhost"], &[], None));
        let framed: [&'static [u8]; 3] = [
            b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\npartial",
            b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\nConnection: close\r\n\r\npartial",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n7\r\npartial\r\n0\r\n\r\n",
        ];
        for response in framed {
            let what = String::from_utf8_lossy(response).into_owned();
            let srv = Srv::new(vec![respond_then_close(config.clone(), response, false)]);
            let client = client_trusting(&ca);
            let url = format!("https://localhost:{}/", srv.addr.port());
            let body = client.get(&url).unwrap().into_body().text();
            assert_eq!(body.as_deref().ok(), Some("partial"), "{what}: {body:?}");
            drop(client);
            srv.join();
        }

        // A framed body that is not complete is still an error.
        let short = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial";
        let srv = Srv::new(vec![respond_then_close(config, short, false)]);
        let client = client_trusting(&ca);
        let url = format!("https://localhost:{}/", srv.addr.port());
        let mut body = client.get(&url).unwrap().into_body();
        let (got, err) = drain(&mut body);
        assert_eq!(got, b"partial");
        let err = err.expect("7 of 100 bytes is not a body");
        assert_eq!(err.phase(), Phase::ReadResponseBody, "{err}");
        drop(body);
        drop(client);
        srv.join();
    });
}

const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecure";
const OK_CLOSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nsecure";

/// A TLS server that answers one request with `response` and reports how
/// the client then ended the connection.
fn observe_end(
    config: std::sync::Arc<rustls::ServerConfig>,
    response: &'static [u8],
    seen: mpsc::Sender<ClientEnd>,
) -> lo::ConnScript {
    Box::new(move |tcp| {
        let Ok(mut s) = accept(tcp, &config) else {
            panic!("handshake failed")
        };
        assert!(!read_head(&mut s).is_empty());
        s.write_all(response).unwrap();
        s.flush().unwrap();
        seen.send(client_end(&mut s, Duration::from_secs(3)))
            .unwrap();
    })
}

#[test]
fn client_sends_close_notify_when_it_closes_after_the_response() {
    within(LIMIT, || {
        let ca = Ca::new("roundtrip test CA");
        let config = server_config(&ca.leaf(&["localhost"], &[], None));

        // The server says `Connection: close`.
        let (tx, rx) = mpsc::channel();
        let srv = Srv::new(vec![observe_end(config.clone(), OK_CLOSE, tx)]);
        let client = client_trusting(&ca);
        let url = format!("https://localhost:{}/", srv.addr.port());
        assert_eq!(
            client.get(&url).unwrap().into_body().text().unwrap(),
            "secure"
        );
        assert_eq!(rx.recv().unwrap(), ClientEnd::CloseNotify, "server's close");
        srv.join();

        // The client asks for `Connection: close`.
        let (tx, rx) = mpsc::channel();
        let srv = Srv::new(vec![observe_end(config, OK, tx)]);
        let url = format!("https://localhost:{}/", srv.addr.port());
        let req = http::Request::get(&url)
            .header(http::header::CONNECTION, "close")
            .body(())
            .unwrap();
        let resp = client.send(req).unwrap();
        assert_eq!(resp.into_body().text().unwrap(), "secure");
        assert_eq!(rx.recv().unwrap(), ClientEnd::CloseNotify, "client's close");
        drop(client);
        srv.join();
    });
}

#[test]
fn client_sends_close_notify_when_a_body_is_abandoned() {
    within(LIMIT, || {
        let ca = Ca::new("roundtrip test CA");
        let config = server_config(&ca.leaf(&["localhost"], &[], None));
        let (tx, rx) = mpsc::channel();
        // 7 of 1000 bytes, then the server waits.
        let srv = Srv::new(vec![observe_end(
            config,
            b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\npartial",
            tx,
        )]);
        let client = client_trusting(&ca);
        let url = format!("https://localhost:{}/", srv.addr.port());
        let resp = client.get(&url).unwrap();
        drop(resp);
        assert_eq!(rx.recv().unwrap(), ClientEnd::CloseNotify);
        drop(client);
        srv.join();
    });
}

#[test]
fn client_sends_close_notify_when_an_idle_connection_expires() {
    within(LIMIT, || {
        let ca = Ca::new("roundtrip test CA");
        let config = server_config(&ca.leaf(&["localhost"], &[], None));
        let (tx, rx) = mpsc::channel();
        let (tx2, _rx2) = mpsc::channel();
        let srv = Srv::new(vec![
            observe_end(config.clone(), OK, tx),
            observe_end(config, OK, tx2),
        ]);
        let client = client_trusting_with(&ca, |c| c.idle_timeout = Duration::from_millis(100));
        let url = format!("https://localhost:{}/", srv.addr.port());
        assert_eq!(
            client.get(&url).unwrap().into_body().text().unwrap(),
            "secure"
        );
        std::thread::sleep(Duration::from_millis(300));
        // The expired connection is closed, a new one carries this request.
        assert_eq!(
            client.get(&url).unwrap().into_body().text().unwrap(),
            "secure"
        );
        assert_eq!(rx.recv().unwrap(), ClientEnd::CloseNotify);
        assert_eq!(srv.accepted(), 2);
        drop(client);
        srv.join();
    });
}

#[test]
fn client_sends_close_notify_when_dropped() {
    within(LIMIT, || {
        let ca = Ca::new("roundtrip test CA");
        let config = server_config(&ca.leaf(&["localhost"], &[], None));
        let (tx, rx) = mpsc::channel();
        let srv = Srv::new(vec![observe_end(config, OK, tx)]);
        let client = client_trusting(&ca);
        let url = format!("https://localhost:{}/", srv.addr.port());
        assert_eq!(
            client.get(&url).unwrap().into_body().text().unwrap(),
            "secure"
        );
        assert_eq!(client.idle_connections(), 1);
        // The pooled connection is closed with the client.
        drop(client);
        assert_eq!(rx.recv().unwrap(), ClientEnd::CloseNotify);
        srv.join();
    });
}

/// A TLS server that answers one request with a close-delimited body of
/// `body`, then ends with close_notify or a bare TCP close.
fn big_close_delimited(
    config: std::sync::Arc<rustls::ServerConfig>,
    body: Vec<u8>,
    close_notify: bool,
) -> lo::ConnScript {
    Box::new(move |tcp| {
        let Ok(mut s) = accept(tcp, &config) else {
            panic!("handshake failed")
        };
        assert!(!read_head(&mut s).is_empty());
        s.write_all(b"HTTP/1.1 200 OK\r\n\r\n").unwrap();
        s.write_all(&body).unwrap();
        if close_notify {
            s.conn.send_close_notify();
        }
        s.flush().unwrap();
        // The end of the body: a FIN (after close_notify or not). Then
        // wait for the client to close, so that the server's close cannot
        // turn into a reset while the client still reads.
        s.sock.shutdown(std::net::Shutdown::Write).unwrap();
        assert!(lo::wait_client_close(&mut s.sock, Duration::from_secs(5)));
    })
}

#[test]
fn close_delimited_body_through_a_small_receive_buffer() {
    within(LIMIT, || {
        let ca = Ca::new("roundtrip test CA");
        let config = server_config(&ca.leaf(&["localhost"], &[], None));
        let body = support::interop::pseudo_random(1 << 20, 5);
        for close_notify in [true, false] {
            let srv = Srv::new(vec![big_close_delimited(
                config.clone(),
                body.clone(),
                close_notify,
            )]);
            // Decrypted bytes wait in rustls while the 1 KiB buffer is
            // full: the end of the stream must still be seen, and seen
            // for what it is.
            let client = client_trusting_with(&ca, |c| {
                c.recv_buffer_size = 1024;
                c.max_head_size = 1024;
            });
            let url = format!("https://localhost:{}/", srv.addr.port());
            let mut resp = client.get(&url).unwrap().into_body();
            let (got, err) = drain(&mut resp);
            assert!(
                got == body,
                "close_notify={close_notify}: {} bytes",
                got.len()
            );
            if close_notify {
                assert!(err.is_none(), "{err:?}");
            } else {
                let err = err.expect("no close_notify: a truncation");
                assert_eq!(err.phase(), Phase::ReadResponseBody, "{err}");
                assert!(
                    matches!(err.kind(), ErrorKind::Tls(TlsError::MissingCloseNotify)),
                    "{err:?}"
                );
            }
            drop(resp);
            drop(client);
            srv.join();
        }
    });
}

#[test]
fn corrupt_record_in_the_middle_of_a_body_is_a_tls_error() {
    within(LIMIT, || {
        let ca = Ca::new("roundtrip test CA");
        let config = server_config(&ca.leaf(&["localhost"], &[], None));
        // The bad record right behind the good one (one TCP segment, read
        // at once), or 100 ms later (read on its own): the same outcome.
        for together in [false, true] {
            let config = config.clone();
            let script: lo::ConnScript = Box::new(move |tcp| {
                let Ok(mut s) = accept(tcp, &config) else {
                    panic!("handshake failed")
                };
                assert!(!read_head(&mut s).is_empty());
                let head = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789";
                s.conn.writer().write_all(head).unwrap();
                let mut wire = Vec::new();
                while s.conn.wants_write() {
                    s.conn.write_tls(&mut wire).unwrap();
                }
                if !together {
                    s.sock.write_all(&wire).unwrap();
                    wire.clear();
                    std::thread::sleep(Duration::from_millis(100));
                }
                // An application data record that does not decrypt (forged
                // or damaged; RFC 8446 §5.2: bad_record_mac).
                wire.extend_from_slice(b"\x17\x03\x03\x00\x20");
                wire.extend_from_slice(&[0x5a; 32]);
                s.sock.write_all(&wire).unwrap();
                lo::wait_client_close(&mut s.sock, Duration::from_secs(5));
            });
            let srv = Srv::new(vec![script]);
            let log = lo::Log::default();
            let client = Client::builder()
                .configure(|c| {
                    c.tls_ca_files = vec![ca.pem_path.clone()];
                    c.tls_builtin_roots = false;
                })
                .trace(log.trace())
                .build();
            let url = format!("https://localhost:{}/", srv.addr.port());
            // What was authenticated before the bad record is delivered:
            // the head, then the first 10 bytes, then the error.
            let resp = client.get(&url);
            let mut body = match resp {
                Ok(r) => r.into_body(),
                Err(e) => panic!("together={together}: the head was lost: {e:?}"),
            };
            let (got, err) = drain(&mut body);
            drop(body);
            assert_eq!(got, b"0123456789", "together={together}");
            let err = err.expect("a record that does not decrypt ends the body");
            assert_eq!(err.phase(), Phase::Tls, "{err}");
            assert!(
                matches!(err.kind(), ErrorKind::Tls(TlsError::Protocol(_))),
                "{err:?}"
            );
            // The connection is not pooled.
            assert_eq!(log.put_idle_once(), Some(roundtrip::CloseReason::Error));
            assert!(log.done_once().is_some());
            drop(client);
            srv.join();
        }
    });
}

#[test]
fn close_notify_on_an_idle_connection_then_reuse_is_retried() {
    within(LIMIT, || {
        let ca = Ca::new("roundtrip test CA");
        let config = server_config(&ca.leaf(&["localhost"], &[], None));
        let first: lo::ConnScript = {
            let config = config.clone();
            Box::new(move |tcp| {
                let Ok(mut s) = accept(tcp, &config) else {
                    panic!("handshake failed")
                };
                assert!(!read_head(&mut s).is_empty());
                s.write_all(OK).unwrap();
                // Then the server ends the idle connection properly.
                s.conn.send_close_notify();
                s.flush().unwrap();
            })
        };
        let (tx, _rx) = mpsc::channel();
        let srv = Srv::new(vec![first, observe_end(config, OK, tx)]);
        let log = lo::Log::default();
        let client = Client::builder()
            .configure(|c| {
                c.tls_ca_files = vec![ca.pem_path.clone()];
                c.tls_builtin_roots = false;
                // Never probe the idle connection before reuse: the
                // request is written to it and meets the close.
                c.idle_probe_after = Duration::from_secs(3600);
            })
            .trace(log.trace())
            .build();
        let url = format!("https://localhost:{}/", srv.addr.port());
        assert_eq!(
            client.get(&url).unwrap().into_body().text().unwrap(),
            "secure"
        );
        std::thread::sleep(Duration::from_millis(50));
        // A GET that met a clean close before any response byte is retried
        // on a new connection.
        let second = client.get(&url).map(|r| r.into_body().text());
        assert!(
            matches!(&second, Ok(Ok(t)) if t == "secure"),
            "{second:?}: {:?}",
            log.names()
        );
        assert_eq!(srv.accepted(), 2);
        assert_eq!(log.got_conn().last(), Some(&false));
        drop(client);
        srv.join();
    });
}

//! Writes the seed corpus of `tls_records`: real server flights, recorded
//! by running a rustls server against roundtrip's TLS adapter in memory
//! (TLS 1.3 and 1.2, a HelloRetryRequest, a request for a client
//! certificate, session tickets, an HTTP response with and without
//! close_notify), the same flights re-fragmented into tiny records or
//! delivered in small socket reads, and some broken records.
//!
//! ```sh
//! cd fuzz && cargo run --example tls_seeds    # writes corpus/tls_records/seed_*
//! ```
//!
//! A replayed flight answers another ClientHello (another random and key
//! share), so a new handshake gets as far as the flight's plaintext part:
//! the whole of a TLS 1.2 server flight up to the key exchange signature,
//! the ServerHello (and a HelloRetryRequest) of TLS 1.3. The fuzzer takes
//! it from there. Re-running this overwrites only the seeds.

#![forbid(unsafe_code)]

use std::fs;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;

use rcgen::{CertificateParams, KeyPair};
use roundtrip::tls::{client_config, Plain, Tls};
use roundtrip::Config;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ServerConfig, ServerConnection, SupportedProtocolVersion};

/// An encoder for the `tls_records` input format (fuzz/src/tls_records.rs).
struct Ops(Vec<u8>);

impl Ops {
    fn new(cfg: u8) -> Ops {
        Ops(vec![cfg])
    }
    /// Server records, in socket reads of `piece` bytes (0: whole).
    fn records(mut self, piece: u8, bytes: &[u8]) -> Ops {
        assert!(piece < 64);
        self.0.push(piece << 2);
        self.0
            .extend_from_slice(&(bytes.len() as u16).to_be_bytes());
        self.0.extend_from_slice(bytes);
        self
    }
    fn eof(mut self) -> Ops {
        self.0.push(1);
        self
    }
    fn write(mut self, bytes: &[u8]) -> Ops {
        self.0.push(2);
        self.0.push(bytes.len() as u8);
        self.0.extend_from_slice(bytes);
        self
    }
    fn close(mut self) -> Ops {
        self.0.push(3);
        self
    }
}

struct Server {
    versions: &'static [&'static SupportedProtocolVersion],
    /// Offer only secp384r1: a client leading with X25519 gets a
    /// HelloRetryRequest.
    retry: bool,
    tickets: bool,
    client_auth: bool,
}

fn server_config(s: &Server) -> Arc<ServerConfig> {
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let mut provider = rustls::crypto::ring::default_provider();
    if s.retry {
        provider.kx_groups = vec![rustls::crypto::ring::kx_group::SECP384R1];
    }
    let provider = Arc::new(provider);
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(s.versions)
        .unwrap();
    let builder = if s.client_auth {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert.der().clone()).unwrap();
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .unwrap();
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let mut config = builder
        .with_single_cert(
            vec![CertificateDer::from(cert.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    if s.tickets {
        config.ticketer = rustls::crypto::ring::Ticketer::new().unwrap();
    }
    Arc::new(config)
}

/// Feeds `bytes` to the adapter, reading plaintext out when it asks.
fn to_client(tls: &mut Tls, mut bytes: &[u8], plaintext: &mut Vec<u8>) {
    let mut buf = [0u8; 4096];
    loop {
        let used = tls
            .handle_ciphertext(bytes)
            .expect("the adapter accepts the flight");
        bytes = &bytes[used..];
        while let Plain::Data(n) = tls.read_plaintext(&mut buf) {
            plaintext.extend_from_slice(&buf[..n]);
        }
        if bytes.is_empty() {
            return;
        }
    }
}

/// The server's output, in one buffer.
fn from_server(server: &mut ServerConnection) -> Vec<u8> {
    let mut out = Vec::new();
    while server.wants_write() {
        server.write_tls(&mut out).unwrap();
    }
    out
}

/// One connection between the adapter (accepting any certificate) and a
/// rustls server: the handshake, then a request answered with `response`,
/// then close_notify if `notify`. Returns the server's flights in order.
/// A server that fails (a client certificate it wanted and did not get)
/// ends the recording with its alert.
fn record(server: &Server, host: &str, response: &[u8], notify: bool) -> Vec<Vec<u8>> {
    let mut config = Config::default();
    config.tls_builtin_roots = false;
    config.tls_danger_accept_invalid_certs = true;
    let mut client = Tls::new(&client_config(&config).unwrap(), host).unwrap();
    let mut srv = ServerConnection::new(server_config(server)).unwrap();
    let mut flights = Vec::new();
    let mut plaintext = Vec::new();
    let mut requested = false;
    for _ in 0..32 {
        let out = client.pending_ciphertext().to_vec();
        client.consume_ciphertext(out.len());
        if !out.is_empty() {
            let mut rd = &out[..];
            while !rd.is_empty() {
                srv.read_tls(&mut rd).unwrap();
            }
            if srv.process_new_packets().is_err() {
                flights.push(from_server(&mut srv));
                return flights;
            }
        }
        if !client.is_handshaking() && !srv.is_handshaking() && !requested {
            requested = true;
            let req = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
            assert_eq!(client.write_plaintext(req), req.len());
            continue;
        }
        if requested {
            let mut got = Vec::new();
            let _ = srv.reader().read_to_end(&mut got);
            if !got.is_empty() {
                srv.writer().write_all(response).unwrap();
                if notify {
                    srv.send_close_notify();
                }
            }
        }
        let flight = from_server(&mut srv);
        if flight.is_empty() && out.is_empty() {
            break;
        }
        if !flight.is_empty() {
            to_client(&mut client, &flight, &mut plaintext);
            flights.push(flight);
        }
    }
    assert!(!client.is_handshaking(), "the handshake did not finish");
    assert_eq!(plaintext, response);
    flights
}

/// The records of `flight` with each handshake record's payload cut into
/// records of `size` bytes (a message spread over many records, which the
/// peer must join; RFC 8446 §5.1). Only plaintext records are cut.
fn refragment(flight: &[u8], size: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = flight;
    while rest.len() >= 5 {
        let len = usize::from(u16::from_be_bytes([rest[3], rest[4]]));
        let (record, tail) = rest.split_at((5 + len).min(rest.len()));
        rest = tail;
        if record[0] != 0x16 {
            out.extend_from_slice(record);
            continue;
        }
        for piece in record[5..].chunks(size) {
            out.extend_from_slice(&record[..3]);
            out.extend_from_slice(&(piece.len() as u16).to_be_bytes());
            out.extend_from_slice(piece);
        }
    }
    out.extend_from_slice(rest);
    out
}

fn write(dir: &Path, name: &str, data: &[u8]) {
    fs::write(dir.join(format!("seed_{name}")), data).expect("write seed");
}

const TLS13: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13];
const TLS12: &[&SupportedProtocolVersion] = &[&rustls::version::TLS12];
const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecure";
const CLOSE_DELIMITED: &[u8] = b"HTTP/1.1 200 OK\r\n\r\npartial";

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/tls_records");
    fs::create_dir_all(&dir).unwrap();
    let plain = |versions| Server {
        versions,
        retry: false,
        tickets: false,
        client_auth: false,
    };
    let flights_to = |ops: Ops, flights: &[Vec<u8>], piece: u8| {
        flights.iter().fold(ops, |ops, f| ops.records(piece, f))
    };

    // TLS 1.3: ServerHello..Finished, then tickets and the response, then
    // close_notify. Accepting any certificate (bit 0).
    let t13 = record(&plain(TLS13), "localhost", OK, true);
    write(
        &dir,
        "tls13_exchange",
        &flights_to(Ops::new(1), &t13, 0)
            .write(b"GET /again HTTP/1.1\r\n\r\n")
            .close()
            .0,
    );
    // The same in 7-byte reads, 1-byte plaintext reads, 1-byte writes.
    write(
        &dir,
        "tls13_small_reads",
        &flights_to(Ops::new(1 | 16), &t13, 7).0,
    );
    // Trusting no root (bit 0 clear), to 127.0.0.1 (bit 1).
    let t13ip = record(&plain(TLS13), "127.0.0.1", CLOSE_DELIMITED, false);
    write(
        &dir,
        "tls13_ip_untrusted",
        &flights_to(Ops::new(2), &t13ip, 0).eof().0,
    );
    // Tickets (stateless) and a HelloRetryRequest.
    let tickets = Server {
        tickets: true,
        ..plain(TLS13)
    };
    let t13t = record(&tickets, "localhost", OK, true);
    write(
        &dir,
        "tls13_tickets",
        &flights_to(Ops::new(1 | 8), &t13t, 0).0,
    );
    let retry = Server {
        retry: true,
        ..plain(TLS13)
    };
    let hrr = record(&retry, "localhost", OK, false);
    write(
        &dir,
        "tls13_hello_retry",
        &flights_to(Ops::new(1), &hrr, 0).eof().0,
    );
    // A server that asks for a client certificate the client lacks: the
    // request in its flight, then its alert.
    let auth = Server {
        client_auth: true,
        ..plain(TLS13)
    };
    let mtls = record(&auth, "localhost", OK, false);
    write(
        &dir,
        "tls13_certificate_request",
        &flights_to(Ops::new(1), &mtls, 0).0,
    );

    // TLS 1.2: the whole server flight is plaintext up to its Finished.
    let t12 = record(&plain(TLS12), "localhost", CLOSE_DELIMITED, false);
    write(
        &dir,
        "tls12_exchange",
        &flights_to(Ops::new(1), &t12, 0).eof().0,
    );
    write(&dir, "tls12_untrusted", &flights_to(Ops::new(0), &t12, 0).0);
    write(
        &dir,
        "tls12_fragmented",
        &Ops::new(1 | 32).records(0, &refragment(&t12[0], 3)).0,
    );
    write(
        &dir,
        "tls12_one_byte_records",
        &Ops::new(1 | 4).records(0, &refragment(&t12[0], 1)).0,
    );
    let t12t = record(
        &Server {
            tickets: true,
            ..plain(TLS12)
        },
        "localhost",
        OK,
        true,
    );
    write(
        &dir,
        "tls12_tickets",
        &flights_to(Ops::new(1 | 48), &t12t, 3).0,
    );
    let mtls12 = record(
        &Server {
            client_auth: true,
            ..plain(TLS12)
        },
        "localhost",
        OK,
        false,
    );
    write(
        &dir,
        "tls12_certificate_request",
        &flights_to(Ops::new(1), &mtls12, 0).0,
    );

    // Broken ones.
    write(
        &dir,
        "alert_handshake_failure",
        &Ops::new(0).records(0, b"\x15\x03\x03\x00\x02\x02\x28").0,
    );
    write(
        &dir,
        "close_notify_in_handshake",
        &Ops::new(1)
            .records(0, b"\x15\x03\x03\x00\x02\x01\x00")
            .eof()
            .0,
    );
    write(
        &dir,
        "ccs_then_app_data",
        &Ops::new(1)
            .records(0, b"\x14\x03\x03\x00\x01\x01")
            .records(0, b"\x17\x03\x03\x00\x05hello")
            .0,
    );
    write(
        &dir,
        "oversized_record",
        &Ops::new(1).records(0, b"\x16\x03\x03\xff\xff\x02\x00").0,
    );
    write(
        &dir,
        "empty_handshake_records",
        &Ops::new(1)
            .records(0, &b"\x16\x03\x03\x00\x00".repeat(20))
            .eof()
            .0,
    );
    write(
        &dir,
        "garbage",
        &Ops::new(1)
            .records(0, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            .eof()
            .0,
    );
    let mut truncated = t13[0].clone();
    truncated.truncate(truncated.len() / 2);
    write(
        &dir,
        "tls13_truncated_flight",
        &Ops::new(1).records(0, &truncated).eof().0,
    );
    println!("seeds written to {}", dir.display());
}

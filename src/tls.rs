//! TLS for `https://` (RFC 8446, RFC 5246 via rustls with the ring
//! provider), driven without IO: ciphertext in, plaintext out, plaintext
//! in, ciphertext out — the shape of rustls's `read_tls` /
//! `process_new_packets` / `write_tls`, with the socket left to the runtime.
//!
//! One rustls `ClientConfig` per client, so session tickets are shared and a
//! second connection to a host resumes. SNI is sent for names, never for IP
//! literals (RFC 6066 §3), whose certificates are checked against IP SANs.
//! ALPN offers `http/1.1` (RFC 7301). `close_notify` is sent on close, and
//! an EOF without one is reported so that a close-delimited body cut short
//! is an error (RFC 8446 §6.1).

use std::io::{self, Read, Write};
use std::sync::Arc;

use crate::erased::Erased;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use crate::config::Config;
use crate::error::{Error, ErrorKind, Phase, Result, TlsError};

/// What a finished handshake agreed on.
///
/// ```no_run
/// use roundtrip::{Client, Trace};
///
/// let trace = Trace::new().on_tls_handshake_done(|_, info, error| match (info, error) {
///     (Some(info), _) => {
///         println!("{} {} alpn={:?} resumed={}", info.version, info.cipher_suite, info.alpn, info.resumed);
///         if let Some(leaf) = &info.leaf {
///             println!("certificate for {} ({:?}), until {}", leaf.subject, leaf.sans, leaf.not_after);
///         }
///     }
///     (None, Some(e)) => println!("handshake failed: {e}"),
///     (None, None) => {}
/// });
/// let request = http::Request::get("https://example.com/").body(())?;
/// Client::new().send_traced(request, trace)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsInfo {
    /// `"TLSv1.3"` or `"TLSv1.2"`.
    pub version: &'static str,
    /// The cipher suite's IANA name.
    pub cipher_suite: &'static str,
    /// The ALPN protocol agreed, if any.
    pub alpn: Option<String>,
    /// The server name sent in SNI (`None` for IP literals).
    pub sni: Option<String>,
    /// True when the session was resumed (no full handshake).
    pub resumed: bool,
    /// The server's certificate chain, leaf first, DER.
    pub peer_certificates: Vec<Vec<u8>>,
    /// Subject, SANs and validity of the leaf certificate.
    pub leaf: Option<crate::x509::CertSummary>,
}

/// Builds the client-wide rustls configuration from [`Config`].
///
/// ```
/// use roundtrip::{tls::client_config, Config, ErrorKind, TlsError};
///
/// let tls = client_config(&Config::default())?;
/// assert_eq!(tls.alpn_protocols, [b"http/1.1".to_vec()]);
///
/// let mut config = Config::default();
/// config.tls_ca_files = vec!["/nonexistent/ca.pem".into()];
/// let err = client_config(&config).unwrap_err();
/// assert!(matches!(err.kind(), ErrorKind::Tls(TlsError::Config(_))));
/// # Ok::<(), roundtrip::Error>(())
/// ```
pub fn client_config(config: &Config) -> Result<Arc<ClientConfig>> {
    let setup = |why: String| Error::new(Phase::Tls, ErrorKind::Tls(TlsError::Config(why)));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| setup(e.to_string()))?;
    let builder = if config.tls_danger_accept_invalid_certs {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
    } else {
        let mut roots = RootCertStore::empty();
        if config.tls_builtin_roots {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        if config.tls_native_roots {
            add_native_roots(&mut roots).map_err(setup)?;
        }
        for path in &config.tls_ca_files {
            let certs = CertificateDer::pem_file_iter(path).map_err(|e| unreadable(path, &e))?;
            for cert in certs {
                let cert = cert.map_err(|e| unreadable(path, &e))?;
                roots
                    .add(cert)
                    .map_err(|e| setup(format!("CA in {}: {e}", path.display())))?;
            }
        }
        builder.with_root_certificates(roots)
    };
    let mut tls = match &config.tls_client_cert {
        Some((cert_path, key_path)) => {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_path)
                .and_then(|it| it.collect())
                .map_err(|e| unreadable(cert_path, &e))?;
            let key =
                PrivateKeyDer::from_pem_file(key_path).map_err(|e| unreadable(key_path, &e))?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| setup(format!("client certificate: {e}")))?
        }
        None => builder.with_no_client_auth(),
    };
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(tls))
}

/// A PEM file named in the configuration that could not be read or
/// parsed (one formatting site for every such file).
#[cold]
#[inline(never)]
fn unreadable(path: &std::path::Path, e: &dyn std::fmt::Display) -> Error {
    Error::new(
        Phase::Tls,
        ErrorKind::Tls(TlsError::Config(format!("reading {}: {e}", path.display()))),
    )
}

#[cfg(feature = "native-roots")]
fn add_native_roots(roots: &mut RootCertStore) -> std::result::Result<(), String> {
    let found = rustls_native_certs::load_native_certs();
    if found.certs.is_empty() {
        return Err(format!(
            "no certificates in the system store ({} errors)",
            found.errors.len()
        ));
    }
    // Unparsable system certificates are skipped, as curl and Go do.
    let _ = roots.add_parsable_certificates(found.certs);
    Ok(())
}

#[cfg(not(feature = "native-roots"))]
fn add_native_roots(_: &mut RootCertStore) -> std::result::Result<(), String> {
    Err("tls_native_roots needs the `native-roots` cargo feature".into())
}

/// `Config::tls_danger_accept_invalid_certs`: signatures are still checked
/// (so the handshake is real), the certificate is not.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Maps rustls's error to ours, keeping the cause precise.
///
/// ```
/// use roundtrip::{tls::tls_error, ErrorKind, Phase, TlsError};
///
/// let err = tls_error(rustls::Error::InvalidCertificate(rustls::CertificateError::Expired));
/// assert_eq!(err.phase(), Phase::Tls);
/// assert!(matches!(err.kind(), ErrorKind::Tls(TlsError::CertificateExpired)));
/// ```
pub fn tls_error(e: rustls::Error) -> Error {
    use rustls::CertificateError as C;
    let kind = match e {
        rustls::Error::InvalidCertificate(c) => match c {
            C::Expired | C::ExpiredContext { .. } => TlsError::CertificateExpired,
            C::NotValidYet | C::NotValidYetContext { .. } => TlsError::CertificateNotYetValid,
            C::NotValidForName | C::NotValidForNameContext { .. } => TlsError::WrongHost,
            C::UnknownIssuer => TlsError::UnknownIssuer,
            other => TlsError::BadCertificate(format!("{other:?}")),
        },
        rustls::Error::AlertReceived(alert) => TlsError::AlertReceived(format!("{alert:?}")),
        rustls::Error::NoCertificatesPresented => {
            TlsError::BadCertificate("the server sent no certificate".into())
        }
        other => TlsError::Protocol(other.to_string()),
    };
    Error::new(Phase::Tls, ErrorKind::Tls(kind))
}

/// What reading plaintext found.
///
/// ```
/// use roundtrip::tls::{client_config, Plain, Tls};
///
/// let mut tls = Tls::new(&client_config(&roundtrip::Config::default())?, "example.com")?;
/// let mut buf = [0u8; 1024];
/// // Nothing decrypted yet: the handshake has not even been answered.
/// assert_eq!(tls.read_plaintext(&mut buf), Plain::Empty);
/// # Ok::<(), roundtrip::Error>(())
/// ```
#[derive(Debug, PartialEq, Eq)]
pub enum Plain {
    /// This many bytes.
    Data(usize),
    /// Nothing until more ciphertext arrives.
    Empty,
    /// The peer sent `close_notify`: the stream ended cleanly.
    Closed,
    /// The transport ended without `close_notify`.
    Truncated,
}

/// One connection's TLS state.
///
/// ```
/// use roundtrip::tls::{client_config, Tls};
///
/// let config = client_config(&roundtrip::Config::default())?;
/// let mut tls = Tls::new(&config, "example.com")?;
/// assert!(tls.is_handshaking());
/// // The first flight, for the runtime to write to the socket: a TLS record
/// // of type 22 (handshake) holding a ClientHello (handshake type 1).
/// let hello = tls.pending_ciphertext().to_vec();
/// assert_eq!((hello[0], hello[5]), (22, 1));
/// tls.consume_ciphertext(hello.len());
/// assert!(tls.pending_ciphertext().is_empty()); // now wait for the ServerHello
/// # Ok::<(), roundtrip::Error>(())
/// ```
pub struct Tls(Box<Session<dyn Erased<ClientConnection> + Send + Sync>>);

/// A TLS connection's state. rustls's connection is the unsized tail,
/// reached through a trait object: its drop glue (the handshake and record
/// layers' state, several KiB of machine code) is then compiled once, where
/// the box is made, instead of into every codegen unit that drops a
/// connection, a request or the client (8 copies before).
struct Session<C: ?Sized> {
    sni: Option<String>,
    out: Vec<u8>,
    out_pos: usize,
    error: Option<Error>,
    conn: C,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("handshaking", &self.0.conn.is_handshaking())
            .field("sni", &self.0.sni)
            .finish()
    }
}

impl Tls {
    /// Starts a handshake to `host` (a name or an IP literal).
    pub fn new(config: &Arc<ClientConfig>, host: &str) -> Result<Tls> {
        let (name, sni) = match host.parse::<std::net::IpAddr>() {
            Ok(ip) => (ServerName::IpAddress(ip.into()), None),
            Err(_) => {
                let name = ServerName::try_from(host.to_owned()).map_err(|_| {
                    Error::new(
                        Phase::Tls,
                        ErrorKind::InvalidHostName {
                            host: host.to_owned(),
                        },
                    )
                })?;
                (name, Some(host.to_owned()))
            }
        };
        let conn = ClientConnection::new(config.clone(), name).map_err(tls_error)?;
        Ok(Tls(Box::new(Session {
            sni,
            out: Vec::new(),
            out_pos: 0,
            error: None,
            conn,
        })))
    }

    /// True until the handshake completes.
    pub fn is_handshaking(&self) -> bool {
        self.0.conn.is_handshaking()
    }

    /// Feeds received ciphertext; returns how much was taken. Less than all
    /// of it means decrypted plaintext is waiting: read it, then call again.
    pub fn handle_ciphertext(&mut self, mut data: &[u8]) -> Result<usize> {
        let total = data.len();
        while !data.is_empty() {
            match self.0.conn.read_tls(&mut data) {
                Ok(0) => break,
                Ok(_) => {}
                // rustls refuses input while its plaintext buffer is full.
                Err(e) if e.kind() == io::ErrorKind::Other => break,
                Err(e) => return Err(Error::io(Phase::Tls, e)),
            }
            if let Err(e) = self.0.conn.process_new_packets() {
                // Records decrypted before the bad one are still readable:
                // the caller drains them, then takes this error.
                self.0.error = Some(tls_error(e));
                break;
            }
        }
        Ok(total - data.len())
    }

    /// A fatal error met while taking ciphertext, after the plaintext that
    /// came before it has been read.
    pub fn take_error(&mut self) -> Option<Error> {
        self.0.error.take()
    }

    /// The transport reached EOF.
    pub fn handle_eof(&mut self) -> Result<()> {
        let mut empty: &[u8] = &[];
        let _ = self.0.conn.read_tls(&mut empty);
        self.0
            .conn
            .process_new_packets()
            .map(|_| ())
            .map_err(tls_error)
    }

    /// Reads decrypted bytes.
    pub fn read_plaintext(&mut self, out: &mut [u8]) -> Plain {
        match self.0.conn.reader().read(out) {
            Ok(0) => Plain::Closed,
            Ok(n) => Plain::Data(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Plain::Empty,
            Err(_) => Plain::Truncated,
        }
    }

    /// Queues plaintext to encrypt; returns how much was taken.
    pub fn write_plaintext(&mut self, data: &[u8]) -> usize {
        self.0.conn.writer().write(data).unwrap_or(0)
    }

    /// Ciphertext waiting to be sent.
    pub fn pending_ciphertext(&mut self) -> &[u8] {
        if self.0.out_pos == self.0.out.len() {
            self.0.out.clear();
            self.0.out_pos = 0;
            while self.0.conn.wants_write() {
                if self.0.conn.write_tls(&mut self.0.out).is_err() {
                    break;
                }
            }
        }
        &self.0.out[self.0.out_pos..]
    }

    /// `n` bytes of [`pending_ciphertext`](Self::pending_ciphertext) were sent.
    pub fn consume_ciphertext(&mut self, n: usize) {
        self.0.out_pos = (self.0.out_pos + n).min(self.0.out.len());
    }

    /// The `close_notify` alert (and anything still queued), to send before
    /// closing.
    pub fn close_notify(&mut self) -> Vec<u8> {
        self.0.conn.send_close_notify();
        let mut bytes = self.0.out[self.0.out_pos..].to_vec();
        while self.0.conn.wants_write() {
            if self.0.conn.write_tls(&mut bytes).is_err() {
                break;
            }
        }
        bytes
    }

    /// What the handshake agreed on (once it is done).
    pub fn info(&self) -> TlsInfo {
        let version = match self.0.conn.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3",
            Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2",
            _ => "unknown",
        };
        let peer_certificates: Vec<Vec<u8>> = self
            .0
            .conn
            .peer_certificates()
            .map(|c| c.iter().map(|d| d.as_ref().to_vec()).collect())
            .unwrap_or_default();
        TlsInfo {
            leaf: peer_certificates
                .first()
                .and_then(|d| crate::x509::summarize(d)),
            version,
            cipher_suite: self
                .0
                .conn
                .negotiated_cipher_suite()
                .and_then(|s| s.suite().as_str())
                .unwrap_or("unknown"),
            alpn: self
                .0
                .conn
                .alpn_protocol()
                .map(|p| String::from_utf8_lossy(p).into_owned()),
            sni: self.0.sni.clone(),
            resumed: matches!(
                self.0.conn.handshake_kind(),
                Some(rustls::HandshakeKind::Resumed)
            ),
            peer_certificates,
        }
    }
}

/// The client's TLS configuration, built on first use (a client that never
/// speaks https never loads the root store).
///
/// ```
/// use std::sync::Arc;
/// use roundtrip::{tls::TlsSetup, Config};
///
/// let mut setup = TlsSetup::default();
/// let first = setup.get(&Config::default())?;
/// let again = setup.get(&Config::default())?;
/// assert!(Arc::ptr_eq(&first, &again)); // built once, so sessions resume
/// # Ok::<(), roundtrip::Error>(())
/// ```
#[derive(Debug, Default)]
pub struct TlsSetup {
    built: Option<Result<Arc<ClientConfig>>>,
}

impl TlsSetup {
    /// The shared configuration, or why it could not be built.
    pub fn get(&mut self, config: &Config) -> Result<Arc<ClientConfig>> {
        self.built
            .get_or_insert_with(|| client_config(config))
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::PrivatePkcs8KeyDer;

    /// A CA-signed leaf for `localhost`, a client config trusting the CA and
    /// a server config serving the leaf.
    fn pair() -> (Arc<ClientConfig>, Arc<rustls::ServerConfig>) {
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let leaf = rcgen::CertificateParams::new(vec!["localhost".to_string()])
            .unwrap()
            .signed_by(&leaf_key, &ca, &ca_key)
            .unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = RootCertStore::empty();
        roots.add(ca.der().clone()).unwrap();
        let mut client = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        client.alpn_protocols = vec![b"http/1.1".to_vec()];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
        let mut server = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![leaf.der().clone()], key)
            .unwrap();
        server.alpn_protocols = vec![b"http/1.1".to_vec()];
        (Arc::new(client), Arc::new(server))
    }

    /// Moves ciphertext both ways until neither side has anything to send.
    fn transfer(client: &mut Tls, server: &mut rustls::ServerConnection) {
        for _ in 0..20 {
            let out = client.pending_ciphertext().to_vec();
            client.consume_ciphertext(out.len());
            if !out.is_empty() {
                server.read_tls(&mut &out[..]).unwrap();
                server.process_new_packets().unwrap();
            }
            let mut back = Vec::new();
            while server.wants_write() {
                server.write_tls(&mut back).unwrap();
            }
            if !back.is_empty() {
                let used = client.handle_ciphertext(&back).unwrap();
                assert_eq!(used, back.len());
            }
            if out.is_empty() && back.is_empty() {
                return;
            }
        }
        panic!("no quiescence");
    }

    #[test]
    fn handshake_data_and_close_notify_in_memory() {
        let (client_config, server_config) = pair();
        let mut client = Tls::new(&client_config, "localhost").unwrap();
        let mut server = rustls::ServerConnection::new(server_config).unwrap();
        assert!(client.is_handshaking());
        transfer(&mut client, &mut server);
        assert!(!client.is_handshaking());
        let info = client.info();
        assert_eq!(info.version, "TLSv1.3");
        assert_eq!(info.alpn.as_deref(), Some("http/1.1"));
        assert_eq!(info.sni.as_deref(), Some("localhost"));
        assert_eq!(info.leaf.as_ref().unwrap().sans, ["localhost"]);

        assert_eq!(client.write_plaintext(b"GET / HTTP/1.1\r\n\r\n"), 18);
        transfer(&mut client, &mut server);
        let mut got = [0u8; 64];
        let n = server.reader().read(&mut got).unwrap();
        assert_eq!(&got[..n], b"GET / HTTP/1.1\r\n\r\n");

        server
            .writer()
            .write_all(b"HTTP/1.1 200 OK\r\n\r\nbye")
            .unwrap();
        server.send_close_notify();
        transfer(&mut client, &mut server);
        let mut buf = [0u8; 64];
        let Plain::Data(n) = client.read_plaintext(&mut buf) else {
            panic!("no data")
        };
        assert_eq!(&buf[..n], b"HTTP/1.1 200 OK\r\n\r\nbye");
        assert_eq!(client.read_plaintext(&mut buf), Plain::Closed);
    }

    #[test]
    fn eof_without_close_notify_is_reported_as_truncation() {
        let (client_config, server_config) = pair();
        let mut client = Tls::new(&client_config, "localhost").unwrap();
        let mut server = rustls::ServerConnection::new(server_config).unwrap();
        transfer(&mut client, &mut server);
        server.writer().write_all(b"partial").unwrap();
        transfer(&mut client, &mut server);
        client.handle_eof().unwrap();
        let mut buf = [0u8; 64];
        assert_eq!(client.read_plaintext(&mut buf), Plain::Data(7));
        assert_eq!(client.read_plaintext(&mut buf), Plain::Truncated);
    }

    #[test]
    fn garbage_records_and_wrong_names_are_typed_errors() {
        let (client_config, _) = pair();
        let mut client = Tls::new(&client_config, "localhost").unwrap();
        let _ = client.pending_ciphertext();
        client
            .handle_ciphertext(b"HTTP/1.1 200 OK\r\n\r\n")
            .unwrap();
        let err = client.take_error().unwrap();
        assert_eq!(err.phase(), Phase::Tls);
        assert!(
            matches!(err.kind(), ErrorKind::Tls(TlsError::Protocol(_))),
            "{err}"
        );
        let err = Tls::new(&client_config, "bad name!").unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::InvalidHostName { .. }),
            "{err}"
        );
    }

    #[test]
    fn native_roots_follow_the_feature() {
        let mut config = Config {
            tls_native_roots: true,
            ..Config::default()
        };
        let built = client_config(&config);
        #[cfg(feature = "native-roots")]
        {
            // What the system store holds, read here independently: every
            // certificate rustls can parse becomes a trust anchor, and
            // an empty store is an error rather than a silent no-roots
            // client.
            let system = rustls_native_certs::load_native_certs().certs;
            let mut roots = RootCertStore::empty();
            let added = add_native_roots(&mut roots);
            if system.is_empty() {
                assert!(built.is_err());
                assert!(added.unwrap_err().contains("no certificates"));
            } else {
                built.unwrap();
                added.unwrap();
                assert!(!roots.is_empty());
                for der in system {
                    let mut one = RootCertStore::empty();
                    if one.add(der).is_ok() {
                        assert!(roots.roots.contains(&one.roots[0]));
                    }
                }
            }
        }
        #[cfg(not(feature = "native-roots"))]
        {
            let err = built.unwrap_err();
            assert!(
                matches!(err.kind(), ErrorKind::Tls(TlsError::Config(w)) if w.contains("native-roots"))
            );
        }
        config.tls_native_roots = false;
        assert!(client_config(&config).is_ok());
    }

    #[test]
    fn ip_literals_send_no_sni() {
        let (client_config, _) = pair();
        let client = Tls::new(&client_config, "127.0.0.1").unwrap();
        assert_eq!(client.0.sni, None);
    }
}

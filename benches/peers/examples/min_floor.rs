//! The floor's minimal binary for the suite's binary-size figure: no HTTP
//! library, rustls (ring) on a blocking socket. `min_floor HOST PORT PATH
//! [CA.pem]` sends one pre-built GET over TLS and prints how many bytes
//! came back (head included) until the server closed.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [host, port, path, rest @ ..] = &args[..] else {
        return Err("usage: min_floor HOST PORT PATH [CA]".into());
    };
    let mut roots = rustls::RootCertStore::empty();
    if let Some(ca) = rest.first() {
        for cert in CertificateDer::pem_file_iter(ca)? {
            roots.add(cert?)?;
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let mut conn = rustls::ClientConnection::new(Arc::new(config), host.clone().try_into()?)?;
    let mut sock = TcpStream::connect((host.as_str(), port.parse::<u16>()?))?;
    let mut tls = rustls::Stream::new(&mut conn, &mut sock);
    write!(
        tls,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )?;
    let (mut buf, mut n) = (vec![0; 64 * 1024], 0);
    loop {
        match tls.read(&mut buf) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(e.into()),
        }
    }
    println!("{n}");
    Ok(())
}

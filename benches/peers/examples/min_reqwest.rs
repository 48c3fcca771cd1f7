//! Minimal GET with reqwest's blocking client (rustls, ring provider
//! handed over preconfigured), for the suite's binary-size figure:
//! `min_reqwest URL [CA.pem]` prints the body's length. Without a CA file
//! the root store is empty (this build has no built-in roots).

use std::io::Read;
use std::sync::Arc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let mut args = std::env::args().skip(1);
    let url = args.next().ok_or("usage: min_reqwest URL [CA]")?;
    let mut roots = rustls::RootCertStore::empty();
    if let Some(ca) = args.next() {
        for cert in CertificateDer::pem_file_iter(ca)? {
            roots.add(cert?)?;
        }
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let client = reqwest::blocking::Client::builder()
        .tls_backend_preconfigured(tls)
        .build()?;
    let mut resp = client.get(&url).send()?;
    let (mut buf, mut n) = (vec![0; 64 * 1024], 0);
    loop {
        match resp.read(&mut buf)? {
            0 => break,
            k => n += k,
        }
    }
    println!("{n}");
    Ok(())
}

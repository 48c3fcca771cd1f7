//! Minimal GET with hyper-util's legacy client and hyper-rustls (ring) on
//! a current-thread tokio runtime, for the suite's binary-size figure:
//! `min_hyper URL [CA.pem]` prints the body's length. Without a CA file
//! the root store is empty (this build has no built-in roots).

use std::sync::Arc;

use http_body_util::BodyExt;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let mut args = std::env::args().skip(1);
    let url: http::Uri = args.next().ok_or("usage: min_hyper URL [CA]")?.parse()?;
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
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .build();
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build::<_, http_body_util::Empty<bytes::Bytes>>(https);
        let mut body = client.get(url).await?.into_body();
        let mut n = 0;
        while let Some(frame) = body.frame().await {
            if let Some(data) = frame?.data_ref() {
                n += data.len();
            }
        }
        println!("{n}");
        Ok(())
    })
}

//! Minimal GET with ureq 3 (rustls), for the suite's binary-size figure:
//! `min_ureq URL [CA.pem]` prints the body's length. Default roots
//! (webpki-roots); with a CA file, that CA only.

use std::io::Read;
use std::sync::Arc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args.next().ok_or("usage: min_ureq URL [CA]")?;
    let agent = match args.next() {
        Some(ca) => {
            use ureq::tls::{Certificate, RootCerts, TlsConfig};
            let ca = Certificate::from_pem(&std::fs::read(ca)?)?.to_owned();
            let tls = TlsConfig::builder()
                .root_certs(RootCerts::Specific(Arc::new(vec![ca])))
                .build();
            ureq::Agent::config_builder().tls_config(tls).build().into()
        }
        None => ureq::Agent::new_with_defaults(),
    };
    let mut resp = agent.get(&url).call()?;
    let mut r = resp.body_mut().with_config().limit(u64::MAX).reader();
    let (mut buf, mut n) = (vec![0; 64 * 1024], 0);
    loop {
        match r.read(&mut buf)? {
            0 => break,
            k => n += k,
        }
    }
    println!("{n}");
    Ok(())
}

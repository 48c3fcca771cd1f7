//! Minimal GET with roundtrip, for the suite's binary-size figure:
//! `min_roundtrip URL [CA.pem]` prints the body's length. Default
//! configuration (built-in roots); with a CA file, that CA only.

use std::io::Read;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args.next().ok_or("usage: min_roundtrip URL [CA]")?;
    let client = match args.next() {
        Some(ca) => roundtrip::Client::builder()
            .configure(|c| {
                c.tls_ca_files = vec![ca.into()];
                c.tls_builtin_roots = false;
            })
            .build(),
        None => roundtrip::Client::new(),
    };
    let mut body = client.get(&url)?.into_body();
    let (mut buf, mut n) = (vec![0; 64 * 1024], 0);
    loop {
        match body.read(&mut buf)? {
            0 => break,
            k => n += k,
        }
    }
    println!("{n}");
    Ok(())
}

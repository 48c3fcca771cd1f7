//! Minimal GET with libcurl through the `curl` crate, for the suite's
//! binary-size figure: `min_curl URL [CA.pem]` prints the body's length.
//! libcurl and OpenSSL are shared libraries, not in the binary.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args.next().ok_or("usage: min_curl URL [CA]")?;
    let mut easy = curl::easy::Easy::new();
    easy.url(&url)?;
    if let Some(ca) = args.next() {
        easy.cainfo(ca)?;
    }
    let mut n = 0;
    {
        let mut t = easy.transfer();
        t.write_function(|data| {
            n += data.len();
            Ok(data.len())
        })?;
        t.perform()?;
    }
    println!("{n}");
    Ok(())
}

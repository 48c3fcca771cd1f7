//! The smallest round trip: `GET` a URL, print the status, the response
//! fields and the body.
//!
//! The example starts its own HTTP server on 127.0.0.1 (in a thread), so it
//! needs no network: `cargo run --example get`.

#![forbid(unsafe_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;

use roundtrip::proxy::ProxyConfig;
use roundtrip::Client;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = start_server()?;

    // `Client::new()` would do; loopback examples also ignore any
    // `http_proxy` set in the environment.
    let client = Client::builder()
        .configure(|c| c.proxy = ProxyConfig::Off)
        .build();

    // `send` returns once the final response head has arrived; the body
    // streams from the connection as it is read.
    let response = client.get(&format!("http://{addr}/hello"))?;
    println!("{:?} {}", response.version(), response.status());
    for (name, value) in response.headers() {
        println!("{name}: {}", value.to_str()?);
    }
    println!();
    print!("{}", response.into_body().text()?);
    Ok(())
}

/// A tiny HTTP/1.1 server: it answers every request on a connection
/// (keep-alive) with a short text.
fn start_server() -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            thread::spawn(move || serve(stream));
        }
    });
    Ok(addr)
}

fn serve(stream: TcpStream) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    loop {
        // The request head: lines up to the empty one (RFC 9112 §2.1).
        let mut head = String::new();
        while !head.ends_with("\r\n\r\n") {
            if reader.read_line(&mut head)? == 0 {
                return Ok(()); // the client closed the connection
            }
        }
        let target = head.split(' ').nth(1).unwrap_or("/");
        let body = format!("hello, you asked for {target}\n");
        let response = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        // One write, so the response leaves in one TCP segment (`write!`
        // on a socket would write each piece on its own).
        writer.write_all(response.as_bytes())?;
    }
}

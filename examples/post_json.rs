//! `POST` a JSON document (a string literal, no serde) with
//! `content-type: application/json`, and read the JSON the server sends
//! back.
//!
//! An in-memory body is sent with `Content-Length` (RFC 9112 §6.2); the
//! example's own server on 127.0.0.1 echoes what it received, so it needs
//! no network: `cargo run --example post_json`.

#![forbid(unsafe_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;

use http::Request;
use roundtrip::proxy::ProxyConfig;
use roundtrip::Client;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = start_server()?;
    let client = Client::builder()
        .configure(|c| c.proxy = ProxyConfig::Off) // loopback only
        .build();

    let request = Request::post(format!("http://{addr}/items"))
        .header("content-type", "application/json")
        .header("accept", "application/json")
        .body(r#"{"name": "roundtrip", "tags": ["http", "trace"], "stars": 5}"#)?;
    let response = client.send(request)?;

    println!("status: {}", response.status());
    let content_type = response.headers().get("content-type");
    println!("content-type: {}", content_type.unwrap().to_str()?);
    println!("body: {}", response.into_body().text()?);
    Ok(())
}

/// A tiny HTTP/1.1 server that answers each request with a JSON document
/// describing the request body it read (by its `Content-Length`).
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
        let mut head = String::new();
        while !head.ends_with("\r\n\r\n") {
            if reader.read_line(&mut head)? == 0 {
                return Ok(());
            }
        }
        let length = head.lines().find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        });
        let mut body = vec![0; length.unwrap_or(0)];
        reader.read_exact(&mut body)?;
        let body = String::from_utf8_lossy(&body);
        let reply = format!(r#"{{"received_bytes": {}, "echo": {body}}}"#, body.len());
        let response = format!(
            "HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{reply}",
            reply.len()
        );
        writer.write_all(response.as_bytes())?; // one write: one TCP segment
    }
}

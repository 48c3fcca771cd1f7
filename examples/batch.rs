//! Many requests in flight at once on the client's one event loop (curl's
//! multi interface): submit them all, then take each as its response head
//! arrives — in completion order, not submission order.
//!
//! The example's server on 127.0.0.1 makes `/delay/N` wait N milliseconds,
//! so the requests finish out of order, and the whole batch takes about as
//! long as the slowest one, not the sum. No network is needed:
//! `cargo run --example batch`.

#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use http::Request;
use roundtrip::proxy::ProxyConfig;
use roundtrip::Client;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = start_server()?;
    let client = Client::builder()
        .configure(|c| c.proxy = ProxyConfig::Off) // loopback only
        .build();

    let delays = [240, 30, 180, 90, 150, 0, 210, 60];
    let start = Instant::now();
    let mut batch = client.batch();
    let mut paths = HashMap::new();
    for ms in delays {
        let path = format!("/delay/{ms}");
        let request = Request::get(format!("http://{addr}{path}")).body(())?;
        // Submitting starts the request (connect, write) without waiting.
        paths.insert(batch.submit(request), path);
    }
    println!("submitted {} requests", batch.len());

    // Each `wait` drives the loop until some request has its head.
    while let Some((id, result)) = batch.wait() {
        let response = result?;
        let status = response.status();
        let body = response.into_body().text()?;
        let at = start.elapsed().as_millis();
        println!(
            "{at:>4} ms  request {id} {:<11} {status}  {}",
            paths[&id],
            body.trim()
        );
    }
    let sum: u64 = delays.iter().sum();
    println!(
        "all done in {} ms (the delays add up to {sum} ms); {} connections now idle",
        start.elapsed().as_millis(),
        client.idle_connections()
    );
    Ok(())
}

/// A keep-alive HTTP/1.1 server on 127.0.0.1, one thread per connection,
/// that waits N ms before answering `/delay/N`.
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
        let target = head.split(' ').nth(1).unwrap_or("/");
        let ms = target.rsplit('/').next().and_then(|n| n.parse().ok());
        thread::sleep(Duration::from_millis(ms.unwrap_or(0)));
        let body = format!("waited {} ms\n", ms.unwrap_or(0));
        let response = format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        writer.write_all(response.as_bytes())?; // one write: one TCP segment
    }
}

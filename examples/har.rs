//! Record a HAR 1.2 file (the HTTP Archive format of browsers' developer
//! tools) from the trace events of two requests: the request headers as
//! `wrote_header_field` reported them, the response from
//! `got_response_headers`, and HAR's `timings` computed from the times of
//! the events by HAR's definitions (`ssl` is counted inside `connect` too,
//! as the HAR spec says; -1 marks a phase that did not happen, such as
//! `connect` on the second request, which reuses the connection).
//!
//! The recorder is the one behind `roundtrip --har FILE`
//! (`cli/src/har.rs`, included here as a module): a client-wide trace
//! hook that turns events into entries, with the JSON built by hand. The
//! example's server on 127.0.0.1 means no network is needed:
//!
//! ```sh
//! cargo run --example har               # the HAR on stdout
//! cargo run --example har -- out.har    # written to out.har
//! ```

#![forbid(unsafe_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Instant, SystemTime};

use http::Request;
use roundtrip::proxy::ProxyConfig;
use roundtrip::Client;

#[path = "../cli/src/har.rs"]
mod har;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = start_server()?;
    // Trace events carry `Instant`s; HAR wants wall-clock start times.
    let clock = (Instant::now(), SystemTime::now());
    let (recorder, archive) = har::recorder();
    let client = Client::builder()
        .configure(|c| c.proxy = ProxyConfig::Off) // loopback only
        .trace(recorder)
        .build();

    let requests = [
        Request::get(format!("http://{addr}/index.html")).body(""),
        Request::post(format!("http://{addr}/api/search"))
            .header("content-type", "application/json")
            .body(r#"{"query": "round trip"}"#),
    ];
    for (i, request) in requests.into_iter().enumerate() {
        let request = request?;
        let (method, url) = (request.method().clone(), request.uri().to_string());
        let response = client.send(request)?;
        // The body's end completes the entry. The events name the host,
        // not the method and the path: the caller names the request.
        response.into_body().bytes()?;
        let mut archive = archive.lock().unwrap();
        archive.name_request(i, method.as_str(), &url);
    }

    let har = har::render(&archive.lock().unwrap(), clock);
    match std::env::args().nth(1) {
        Some(path) => {
            std::fs::write(&path, har)?;
            println!("wrote the HAR to {path}");
        }
        None => print!("{har}"),
    }
    Ok(())
}

/// A keep-alive HTTP/1.1 server on 127.0.0.1: HTML for GET, JSON for POST.
fn start_server() -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || serve(stream));
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
                .then(|| value.trim().parse().ok())?
        });
        reader.read_exact(&mut vec![0; length.unwrap_or(0)])?; // the request body
        let (kind, body) = match head.starts_with("POST") {
            true => ("application/json", r#"{"results": []}"#),
            false => ("text/html", "<!doctype html><title>hello</title>"),
        };
        let len = body.len();
        let response = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: {kind}\r\ncontent-length: {len}\r\n\r\n{body}"
        );
        writer.write_all(response.as_bytes())?; // one write: one TCP segment
    }
}

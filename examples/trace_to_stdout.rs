//! Every step of two round trips, as it happens: each trace event printed
//! as one JSON line (the format of the CLI's `--events`), with a Go-style
//! hook alongside and a client-wide hook for connection closes.
//!
//! The second request reuses the first one's connection, so it has no
//! `connect_*` events and `got_conn` says `"reused":true`. The example's
//! own server on 127.0.0.1 means no network is needed:
//! `cargo run --example trace_to_stdout`.

#![forbid(unsafe_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::Instant;

use http::Request;
use roundtrip::proxy::ProxyConfig;
use roundtrip::{trace, Client, Trace};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = start_server()?;
    let start = Instant::now();

    // A client-wide trace sees every request's events and the ones that
    // belong to no request, such as an idle connection being closed.
    let client = Client::builder()
        .configure(|c| c.proxy = ProxyConfig::Off) // loopback only
        .trace(Trace::new().on_conn_closed(|_, conn, reason| {
            println!("# client-wide: connection {conn} closed ({reason})")
        }))
        .build();

    for path in ["/first", "/second"] {
        println!("# GET {path}");
        let trace = Trace::new()
            // One hook for every event: print it as a JSON line.
            .on_event(move |event| {
                let mut line = String::new();
                trace::write_json(event, start, &mut line);
                println!("{line}");
            })
            // A hook in Go's httptrace shape, for one event only.
            .on_got_conn(|_, conn, reused, _, idle, _, remote| {
                println!("# got connection {conn} to {remote} (reused: {reused}, idle {idle:?})")
            });
        let request = Request::get(format!("http://{addr}{path}")).body(())?;
        let response = client.send_traced(request, trace)?;
        // The body's end fires response_body_done, put_idle_conn and
        // request_done.
        let body = response.into_body().text()?;
        println!("# body: {body:?}");
    }
    drop(client); // closes the pooled connection: conn_closed
    Ok(())
}

/// A tiny keep-alive HTTP/1.1 server on 127.0.0.1.
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
        writer.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nok\n")?;
    }
}

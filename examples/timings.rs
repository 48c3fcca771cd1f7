//! Where the time went, curl `-w` style: every response carries
//! [`Timings`], with curl's cumulative `time_*` values (seconds from the
//! start, six decimals, as `curl -w '%{time_connect}'` prints them) and
//! each phase on its own as a [`PhaseTime`] — which says *why* a phase was
//! skipped (connection reused, IP literal, not TLS) instead of printing 0.
//!
//! Two requests: the first opens a connection, the second reuses it. The
//! example's server on 127.0.0.1 waits 20 ms before answering and 10 ms in
//! the middle of the body, so `wait` and `receive` show up. No network is
//! needed: `cargo run --example timings`.

#![forbid(unsafe_code)]

use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use roundtrip::proxy::ProxyConfig;
use roundtrip::{Client, PhaseTime, Timings};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = start_server()?;
    let client = Client::builder()
        .configure(|c| c.proxy = ProxyConfig::Off) // loopback only
        .build();

    for round in ["first request (new connection)", "second request (reused)"] {
        let mut body = client.get(&format!("http://{addr}/"))?.into_body();
        // Timings are complete once the body has been read to its end.
        io::copy(&mut body, &mut io::sink())?;
        let t = body.timings().expect("the request has a timeline");
        println!("# {round}");
        print_curl_style(&t);
    }
    Ok(())
}

fn print_curl_style(t: &Timings) {
    let secs = |d: Duration| format!("{:.6}", d.as_secs_f64());
    println!("  time_namelookup:    {}", secs(t.namelookup()));
    println!("  time_connect:       {}", secs(t.connect()));
    println!("  time_appconnect:    {}", secs(t.appconnect()));
    println!("  time_pretransfer:   {}", secs(t.pretransfer()));
    println!("  time_posttransfer:  {}", secs(t.posttransfer()));
    println!("  time_starttransfer: {}", secs(t.starttransfer()));
    println!(
        "  time_total:         {}",
        secs(t.total().unwrap_or_default())
    );
    println!(
        "  num_connects: {}  size_download: {}",
        t.num_connects(),
        t.size_download()
    );
    let phases = [
        ("queue", t.queue()),
        ("dns", t.dns()),
        ("tcp_connect", t.tcp_connect()),
        ("tunnel", t.tunnel()),
        ("tls", t.tls()),
        ("send", t.send()),
        ("wait", t.wait()),
        ("receive", t.receive()),
    ];
    for (name, phase) in phases {
        let shown = match phase {
            PhaseTime::Took(d) => secs(d),
            PhaseTime::Skipped(why) => format!("skipped: {}", why.as_str()),
            PhaseTime::Pending => "pending".to_owned(),
        };
        println!("    {name:<12} {shown}");
    }
}

/// A keep-alive HTTP/1.1 server on 127.0.0.1 that thinks for 20 ms, then
/// sends its body in two halves 10 ms apart.
fn start_server() -> io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            thread::spawn(move || serve(stream));
        }
    });
    Ok(addr)
}

fn serve(stream: TcpStream) -> io::Result<()> {
    // Without Nagle's algorithm, the small second half is not held back
    // waiting for the client's (delayed) ACK of the first.
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    loop {
        let mut head = String::new();
        while !head.ends_with("\r\n\r\n") {
            if reader.read_line(&mut head)? == 0 {
                return Ok(());
            }
        }
        thread::sleep(Duration::from_millis(20));
        writer.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 12\r\n\r\nhello ")?;
        thread::sleep(Duration::from_millis(10));
        writer.write_all(b"world\n")?;
    }
}

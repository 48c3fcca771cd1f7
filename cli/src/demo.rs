//! The demo run by `roundtrip` with no arguments: a tiny HTTP/1.1 server on
//! a loopback port inside this process, and a guided tour of two requests
//! on one client, printing every trace event as it happens.
//!
//! The first request has to connect; the second finds that connection idle
//! in the pool and reuses it. The tour checks that this really happened and
//! exits non-zero if not, so it doubles as a smoke test. No network is
//! needed beyond 127.0.0.1.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Instant;

use roundtrip::{Client, Trace};

use crate::events;

const HELLO: &str = "Hello from the demo server!\n";
const CHUNKS: [&str; 3] = ["This body ", "arrives in ", "three chunks.\n"];

/// The bytes the demo server answers `path` with.
fn response_for(path: &str) -> Vec<u8> {
    match path {
        "/hello" => format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{HELLO}",
            HELLO.len()
        )
        .into_bytes(),
        "/chunked" => {
            let mut r = String::from(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\
                 Transfer-Encoding: chunked\r\nTrailer: X-Chunk-Count\r\n\r\n",
            );
            for chunk in CHUNKS {
                r.push_str(&format!("{:x}\r\n{chunk}\r\n", chunk.len()));
            }
            r.push_str(&format!("0\r\nX-Chunk-Count: {}\r\n\r\n", CHUNKS.len()));
            r.into_bytes()
        }
        _ => b"HTTP/1.1 404 Not Found\r\nContent-Length: 10\r\n\r\nnot found\n".to_vec(),
    }
}

/// Serves requests on one connection until the client closes it. Request
/// bodies are not expected (the tour only sends GETs).
fn serve_connection(stream: TcpStream) -> io::Result<()> {
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line)? == 0 {
            return Ok(());
        }
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            if line == "\r\n" || line == "\n" {
                break;
            }
        }
        let path = request_line.split_whitespace().nth(1).unwrap_or("/");
        writer.write_all(&response_for(path))?;
    }
}

/// Starts the demo server on 127.0.0.1 (any free port), one thread per
/// connection. The threads end with the process.
pub fn start_server() -> io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            thread::spawn(move || serve_connection(stream));
        }
    });
    Ok(addr)
}

/// Runs the tour and returns the exit status.
pub fn run() -> ExitCode {
    match tour() {
        Ok(()) => ExitCode::SUCCESS,
        // stdout went away (e.g. `roundtrip | head`): nothing to say.
        Err(DemoError::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::from(23),
        Err(e) => {
            let _ = writeln!(io::stderr(), "roundtrip: demo: {e}");
            ExitCode::FAILURE
        }
    }
}

#[derive(Debug)]
enum DemoError {
    Output(io::Error),
    Server(io::Error),
    Request(String, roundtrip::Error),
    Unexpected(String),
}

impl std::fmt::Display for DemoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DemoError::Output(e) => write!(f, "writing to stdout failed: {e}"),
            DemoError::Server(e) => write!(f, "could not start the loopback server: {e}"),
            DemoError::Request(url, e) => write!(f, "{url}: {e}"),
            DemoError::Unexpected(what) => write!(f, "unexpected: {what}"),
        }
    }
}

impl From<io::Error> for DemoError {
    fn from(e: io::Error) -> DemoError {
        DemoError::Output(e)
    }
}

/// What one request of the tour turned out to be.
struct Fetched {
    status: http::StatusCode,
    body: Vec<u8>,
    trailers: Option<http::HeaderMap>,
    reused: Option<bool>,
}

/// Fetches `url`, recording whether `got_conn` said the connection was
/// reused. The events themselves are printed by the client-wide trace.
fn fetch(client: &Client, url: &str) -> Result<Fetched, DemoError> {
    let reused = Arc::new(Mutex::new(None));
    let seen = reused.clone();
    let trace = Trace::new().on_got_conn(move |_, _, r, _, _, _, _| {
        *seen.lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
    });
    let failed = |e| DemoError::Request(url.to_owned(), e);
    let req = http::Request::get(url)
        .body(())
        .map_err(|e| DemoError::Unexpected(e.to_string()))?;
    let resp = client.send_traced(req, trace).map_err(failed)?;
    let status = resp.status();
    let mut body = resp.into_body();
    let mut bytes = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = body.read_body(&mut buf).map_err(failed)?;
        if n == 0 {
            break;
        }
        bytes.extend_from_slice(&buf[..n]);
    }
    let trailers = body.trailers().cloned();
    drop(body);
    let reused = *reused.lock().unwrap_or_else(|p| p.into_inner());
    Ok(Fetched {
        status,
        body: bytes,
        trailers,
        reused,
    })
}

fn tour() -> Result<(), DemoError> {
    let addr = start_server().map_err(DemoError::Server)?;
    let mut out = io::stdout();
    let client = Client::builder()
        .trace(events::line_trace(
            io::stdout(),
            Instant::now(),
            events::human_line,
        ))
        .build();

    writeln!(
        out,
        "roundtrip demo: one client, two requests, every phase traced."
    )?;
    writeln!(
        out,
        "A tiny HTTP/1.1 server is listening on {addr} (a thread of this process);"
    )?;
    writeln!(
        out,
        "each line below is a trace event, timed from the start of its request."
    )?;

    let url = format!("http://{addr}/hello");
    writeln!(out, "\n[1] GET {url}")?;
    writeln!(
        out,
        "    Notice: the pool is empty, so it connects (connect_start, connect_done), then got_conn reused=false."
    )?;
    out.flush()?;
    let first = fetch(&client, &url)?;
    writeln!(
        out,
        "    => {}, {} bytes framed by Content-Length: {:?}",
        first.status,
        first.body.len(),
        String::from_utf8_lossy(&first.body)
    )?;
    writeln!(
        out,
        "    => The server kept the connection open, so put_idle_conn put it in the pool."
    )?;
    if first.reused != Some(false) {
        return Err(DemoError::Unexpected(format!(
            "the first request's got_conn said reused={:?}",
            first.reused
        )));
    }

    let url = format!("http://{addr}/chunked");
    writeln!(out, "\n[2] GET {url}")?;
    writeln!(
        out,
        "    Notice: no connect events this time: got_conn reused=true takes the idle connection from the pool."
    )?;
    out.flush()?;
    let second = fetch(&client, &url)?;
    let trailer = second
        .trailers
        .as_ref()
        .and_then(|t| t.get("x-chunk-count"))
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    writeln!(
        out,
        "    => {}, {} bytes in {} chunks: {:?}",
        second.status,
        second.body.len(),
        CHUNKS.len(),
        String::from_utf8_lossy(&second.body)
    )?;
    writeln!(
        out,
        "    => The trailer came after the last chunk: x-chunk-count: {}",
        trailer.as_deref().unwrap_or("(missing!)")
    )?;
    if second.reused != Some(true) {
        return Err(DemoError::Unexpected(format!(
            "the second request's got_conn said reused={:?}, expected true",
            second.reused
        )));
    }

    writeln!(
        out,
        "\n[3] Dropping the client closes its idle connection (an event of no request,"
    )?;
    writeln!(out, "    timed from the start of request 1).")?;
    out.flush()?;
    drop(client);

    writeln!(out, "\nTry it on your own server:")?;
    writeln!(
        out,
        "    roundtrip -i http://127.0.0.1:8080/a              status line, headers, body"
    )?;
    writeln!(
        out,
        "    roundtrip --events URL1 URL2 >/dev/null           this trace as JSON lines on stderr"
    )?;
    writeln!(
        out,
        "    roundtrip --help                                  all options (curl's names)"
    )?;
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_response_is_well_formed() {
        let r = String::from_utf8(response_for("/chunked")).unwrap();
        assert!(r.contains("\r\na\r\nThis body \r\n"));
        assert!(r.ends_with("\r\n0\r\nX-Chunk-Count: 3\r\n\r\n"));
    }

    #[test]
    fn hello_has_a_matching_content_length() {
        let r = String::from_utf8(response_for("/hello")).unwrap();
        let (head, body) = r.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("Content-Length: {}", body.len())));
    }
}

//! Shared helpers for the loopback tests: a scripted TCP server on
//! 127.0.0.1 and a trace recorder.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use roundtrip::trace::write_json;
use roundtrip::{Event, EventKind, Trace};

/// A server that runs `script` once per accepted connection, in order.
pub struct Server {
    pub addr: SocketAddr,
    pub handle: Option<JoinHandle<()>>,
    pub requests: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
    pub fn join(mut self) {
        if let Some(h) = self.handle.take() {
            h.join().expect("server thread panicked");
        }
    }
}

pub type Script = Box<dyn FnOnce(TcpStream, &Mutex<Vec<Vec<u8>>>) + Send>;

/// Starts a server that serves one connection per script.
pub fn serve(scripts: Vec<Script>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let requests = Arc::new(Mutex::new(Vec::new()));
    let reqs = requests.clone();
    let handle = std::thread::spawn(move || {
        for script in scripts {
            let (stream, _) = listener.accept().unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            script(stream, &reqs);
        }
    });
    Server {
        addr,
        handle: Some(handle),
        requests,
    }
}

/// Reads one request head (up to the blank line) and, if it announces a
/// Content-Length, its body. Returns the raw bytes, empty at EOF.
pub fn read_request(stream: &mut TcpStream) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(0) | Err(_) => return buf,
            Ok(_) => buf.push(byte[0]),
        }
    }
    let head = String::from_utf8_lossy(&buf).to_ascii_lowercase();
    if let Some(line) = head.lines().find(|l| l.starts_with("content-length:")) {
        let n: usize = line["content-length:".len()..].trim().parse().unwrap();
        let mut body = vec![0u8; n];
        stream.read_exact(&mut body).unwrap();
        buf.extend_from_slice(&body);
    }
    buf
}

/// A script: for each canned response, read a request and write it.
pub fn respond(responses: Vec<&'static [u8]>) -> Script {
    Box::new(move |mut s, reqs| {
        for r in responses {
            let req = read_request(&mut s);
            if req.is_empty() {
                return;
            }
            reqs.lock().unwrap().push(req);
            s.write_all(r).unwrap();
        }
        // Hold the connection open until the client closes it.
        let mut sink = [0u8; 64];
        while matches!(s.read(&mut sink), Ok(n) if n > 0) {}
    })
}

/// Records every event as (name, JSON line).
#[derive(Clone, Default)]
pub struct Recorder {
    pub events: Arc<Mutex<Vec<(String, String)>>>,
}

impl Recorder {
    pub fn trace(&self) -> Trace {
        let events = self.events.clone();
        let start = std::time::Instant::now();
        Trace::new().on_event(move |e: &Event<'_>| {
            let mut line = String::new();
            write_json(e, start, &mut line);
            events
                .lock()
                .unwrap()
                .push((e.kind.name().to_owned(), line));
            let _ = matches!(e.kind, EventKind::WroteHeaders);
        })
    }
    pub fn names(&self) -> Vec<String> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .map(|(n, _)| n.clone())
            .collect()
    }
    pub fn lines(&self) -> Vec<String> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .map(|(_, l)| l.clone())
            .collect()
    }
    pub fn clear(&self) {
        self.events.lock().unwrap().clear();
    }
}

//! End-to-end tests of the `roundtrip` binary against small servers on
//! 127.0.0.1 inside the test process. Every run has a watchdog, so a
//! client that hangs fails its test instead of stalling the suite.

#![forbid(unsafe_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

#[path = "../../tests/support/scratch.rs"]
mod scratch;

/// What a handler answers: the bytes to write, and whether to close the
/// connection afterwards.
type Reply = (Vec<u8>, bool);
type Handler = Arc<dyn Fn(&str) -> Reply + Send + Sync>;

struct Server {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Server {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
    fn requests(&self) -> Vec<String> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .map(|r| String::from_utf8_lossy(r).into_owned())
            .collect()
    }
}

/// Reads one request head and, with Content-Length, its body; empty at EOF.
fn read_request(stream: &mut TcpStream) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(0) | Err(_) => return Vec::new(),
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

/// Starts a keep-alive server: every connection gets its own thread, and
/// every request on it is answered by `handler`.
fn serve(handler: impl Fn(&str) -> Reply + Send + Sync + 'static) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let requests = Arc::new(Mutex::new(Vec::new()));
    let handler: Handler = Arc::new(handler);
    let (acc, reqs) = (accepted.clone(), requests.clone());
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            acc.fetch_add(1, Ordering::SeqCst);
            let (reqs, handler) = (reqs.clone(), handler.clone());
            thread::spawn(move || loop {
                let req = read_request(&mut stream);
                if req.is_empty() {
                    return;
                }
                let text = String::from_utf8_lossy(&req).into_owned();
                reqs.lock().unwrap().push(req);
                let (reply, close) = handler(&text);
                if stream.write_all(&reply).is_err() || close {
                    return;
                }
            });
        }
    });
    Server {
        addr,
        accepted,
        requests,
    }
}

fn ok(body: &str) -> Reply {
    let r = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    (r.into_bytes(), false)
}

/// A server that answers every request with `body`.
fn serve_text(body: &'static str) -> Server {
    serve(move |_| ok(body))
}

/// The path of a request's request line.
fn path_of(request: &str) -> &str {
    request.split_whitespace().nth(1).unwrap_or("")
}

struct Run {
    code: Option<i32>,
    stdout: Vec<u8>,
    stderr: String,
    elapsed: Duration,
}

impl Run {
    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

/// Runs the binary with `args`, killing it after 10 s.
fn run(args: &[&str]) -> Run {
    run_env(args, &[])
}

/// Proxy variables a test may set; cleared from the child's environment
/// first, so the environment the tests run in does not leak in.
const PROXY_VARS: [&str; 9] = [
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
    "REQUEST_METHOD",
];

/// [`run`] with environment variables set on the child.
fn run_env(args: &[&str], vars: &[(&str, &str)]) -> Run {
    let start = Instant::now();
    let mut command = Command::new(env!("CARGO_BIN_EXE_roundtrip"));
    if !vars.is_empty() {
        for v in PROXY_VARS {
            command.env_remove(v);
        }
        command.envs(vars.iter().copied());
    }
    let mut child = command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_reader = thread::spawn(move || {
        let mut v = Vec::new();
        out.read_to_end(&mut v).unwrap();
        v
    });
    let err_reader = thread::spawn(move || {
        let mut s = String::new();
        err.read_to_string(&mut s).unwrap();
        s
    });
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > Duration::from_secs(10) {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("roundtrip {args:?} did not finish within 10 s (hung)");
        }
        thread::sleep(Duration::from_millis(5));
    };
    let elapsed = start.elapsed();
    Run {
        code: status.code(),
        stdout: out_reader.join().unwrap(),
        stderr: err_reader.join().unwrap(),
        elapsed,
    }
}

/// The `--events` lines whose event is `name`.
fn events<'a>(stderr: &'a str, name: &str) -> Vec<&'a str> {
    let tag = format!("\"event\":\"{name}\"");
    stderr.lines().filter(|l| l.contains(&tag)).collect()
}

/// A port on 127.0.0.1 with nothing listening.
fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[test]
fn get_prints_the_body() {
    let server = serve_text("hello, world\n");
    let r = run(&[&server.url("/greeting")]);
    assert_eq!(r.code, Some(0), "stderr: {}", r.stderr);
    assert_eq!(r.stdout(), "hello, world\n");
    assert_eq!(r.stderr, "");
    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    assert!(
        reqs[0].starts_with("GET /greeting HTTP/1.1\r\n"),
        "{}",
        reqs[0]
    );
}

#[test]
fn url_without_scheme_means_http() {
    let server = serve_text("ok");
    let r = run(&[&format!("{}/x", server.addr)]);
    assert_eq!(r.code, Some(0), "stderr: {}", r.stderr);
    assert_eq!(r.stdout(), "ok");
}

#[test]
fn two_urls_reuse_one_connection() {
    let server = serve(|req| ok(&format!("[{}]", path_of(req))));
    let r = run(&["--events", &server.url("/one"), &server.url("/two")]);
    assert_eq!(r.code, Some(0), "stderr: {}", r.stderr);
    assert_eq!(r.stdout(), "[/one][/two]");
    assert_eq!(
        server.accepted(),
        1,
        "the second URL opened a new connection"
    );

    // Every stderr line is one JSON object in the DESIGN.md shape.
    for line in r.stderr.lines() {
        assert!(
            line.starts_with("{\"t_us\":") && line.ends_with('}'),
            "{line}"
        );
        assert!(
            line.contains(",\"req\":") && line.contains(",\"event\":\""),
            "{line}"
        );
    }
    let got_conn = events(&r.stderr, "got_conn");
    assert_eq!(got_conn.len(), 2, "{}", r.stderr);
    assert!(got_conn[0].contains("\"req\":1,") && got_conn[0].contains("\"reused\":false"));
    assert!(got_conn[1].contains("\"req\":2,") && got_conn[1].contains("\"reused\":true"));
    assert!(got_conn[0].contains("\"conn\":1,") && got_conn[1].contains("\"conn\":1,"));
    assert_eq!(events(&r.stderr, "connect_start").len(), 1);

    // Each request is timed from its own first event.
    let get_conn = events(&r.stderr, "get_conn");
    assert_eq!(get_conn.len(), 2);
    for line in get_conn {
        assert!(line.starts_with("{\"t_us\":0,"), "{line}");
    }
    // Each request ends exactly once, and the client closes the idle
    // connection when it is dropped (a client-level event: "req":null).
    assert_eq!(events(&r.stderr, "request_done").len(), 2);
    let closed = events(&r.stderr, "conn_closed");
    assert_eq!(closed.len(), 1, "{}", r.stderr);
    assert!(closed[0].contains("\"req\":null") && closed[0].contains("client_dropped"));
    assert!(
        !closed[0].contains("\"hop\""),
        "no request, no hop: {}",
        closed[0]
    );
}

#[test]
fn include_prints_the_status_line_and_headers_first() {
    let server = serve_text("hello");
    let r = run(&["-i", &server.url("/")]);
    assert_eq!(r.code, Some(0), "stderr: {}", r.stderr);
    let out = r.stdout();
    // As sent, as curl prints it: the names in the server's case.
    assert_eq!(
        out,
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"
    );
}

#[test]
fn include_prints_every_head_received_as_curl_does() {
    // A redirect hop, then an informational head before the final one.
    let server = serve(|req| {
        match path_of(req) {
        "/old" => (
            b"HTTP/1.1 302 Moved Along\r\nlocation: /new\r\nContent-Length: 5\r\n\r\nredir".to_vec(),
            false,
        ),
        _ => (
            b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\nHTTP/1.1 200 Fine\r\nContent-Length: 3\r\n\r\nnew"
                .to_vec(),
            false,
        ),
    }
    });
    let hop = "HTTP/1.1 302 Moved Along\r\nlocation: /new\r\nContent-Length: 5\r\n\r\n";
    let last = "HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\nHTTP/1.1 200 Fine\r\nContent-Length: 3\r\n\r\n";
    let r = run(&["-iL", &server.url("/old")]);
    assert_eq!(r.code, Some(0), "stderr: {}", r.stderr);
    // The redirect's body is not shown; its head is.
    assert_eq!(r.stdout(), format!("{hop}{last}new"));
    // Without -L the redirect is the answer, body and all.
    let r = run(&["-i", &server.url("/old")]);
    assert_eq!(r.stdout(), format!("{hop}redir"));
    // Under -Z each response gets its own heads, in argument order.
    let r = run(&["-Z", "-i", &server.url("/new"), &server.url("/old")]);
    assert_eq!(r.stdout(), format!("{last}new{hop}redir"));
    // -I shows the same heads and no body.
    let r = run(&["-IL", &server.url("/old")]);
    assert_eq!(r.stdout(), format!("{hop}{last}"));
}

#[test]
fn include_shows_a_proxys_refusal_of_connect_and_exits_56() {
    let proxy = serve(|req| {
        assert!(req.starts_with("CONNECT origin.test:443 "), "{req}");
        (
            b"HTTP/1.1 407 Who Are You\r\nProxy-Authenticate: Basic realm=\"p\"\r\nContent-Length: 0\r\n\r\n"
                .to_vec(),
            true,
        )
    });
    let p = format!("http://127.0.0.1:{}", proxy.addr.port());
    let r = run(&["-i", "-x", &p, "https://origin.test/"]);
    // curl's status for a failed tunnel, and its output: the proxy's head.
    assert_eq!(r.code, Some(56), "stderr: {}", r.stderr);
    assert_eq!(
        r.stdout(),
        "HTTP/1.1 407 Who Are You\r\nProxy-Authenticate: Basic realm=\"p\"\r\nContent-Length: 0\r\n\r\n"
    );
    assert!(r.stderr.contains("407"), "{}", r.stderr);
    // Without -i nothing goes to stdout.
    let r = run(&["-x", &p, "https://origin.test/"]);
    assert_eq!((r.code, r.stdout().as_str()), (Some(56), ""));
}

/// `/r` redirects to `/missing`, a 404 with a body; anything else is 200.
fn serve_missing() -> Server {
    serve(|req| match path_of(req) {
        "/r" => (
            b"HTTP/1.1 302 Found It\r\nLocation: /missing\r\nContent-Length: 0\r\n\r\n".to_vec(),
            false,
        ),
        "/missing" => (
            b"HTTP/1.1 404 Not Here\r\nContent-Length: 8\r\n\r\nnothing\n".to_vec(),
            false,
        ),
        _ => ok("ok\n"),
    })
}

#[test]
fn fail_flag_exits_22_without_the_body_of_an_error_status() {
    let server = serve_missing();
    let r = run(&["-f", "-w", "%{http_code}", &server.url("/missing")]);
    assert_eq!(r.code, Some(22), "stderr: {}", r.stderr);
    // The body is not written; -w still reports the status, as curl's.
    assert_eq!(r.stdout(), "404");
    assert!(r.stderr.contains("returned error: 404"), "{}", r.stderr);
    // After a redirect too, and -i still shows the heads.
    let r = run(&["-fiL", &server.url("/r")]);
    assert_eq!(r.code, Some(22), "stderr: {}", r.stderr);
    assert_eq!(
        r.stdout(),
        "HTTP/1.1 302 Found It\r\nLocation: /missing\r\nContent-Length: 0\r\n\r\nHTTP/1.1 404 Not Here\r\nContent-Length: 8\r\n\r\n"
    );
    // The next URL is still fetched, on the same connection (the error's
    // body was read); the exit status is the first failure's.
    let before = server.accepted();
    let r = run(&["-f", &server.url("/missing"), &server.url("/ok")]);
    assert_eq!((r.code, r.stdout().as_str()), (Some(22), "ok\n"));
    assert_eq!(server.accepted() - before, 1);
    // Without -f an error status is a response like any other.
    let r = run(&[&server.url("/missing")]);
    assert_eq!((r.code, r.stdout().as_str()), (Some(0), "nothing\n"));
}

#[test]
fn dump_header_writes_every_head_to_a_file_or_stdout() {
    let server = serve_missing();
    let file = std::env::temp_dir().join(format!("roundtrip-cli-{}.heads", closed_port()));
    let r = run(&["-L", "-D", file.to_str().unwrap(), &server.url("/r")]);
    assert_eq!(r.code, Some(0), "stderr: {}", r.stderr);
    assert_eq!(r.stdout(), "nothing\n", "the body alone on stdout");
    let dumped = std::fs::read_to_string(&file).unwrap();
    let _ = std::fs::remove_file(&file);
    assert_eq!(
        dumped,
        "HTTP/1.1 302 Found It\r\nLocation: /missing\r\nContent-Length: 0\r\n\r\nHTTP/1.1 404 Not Here\r\nContent-Length: 8\r\n\r\n"
    );
    // `-` is stdout, ahead of the body; with -o the body goes elsewhere.
    let r = run(&["-D", "-", &server.url("/ok")]);
    assert_eq!(
        r.stdout(),
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nok\n"
    );
    let out = std::env::temp_dir().join(format!("roundtrip-cli-{}.body", closed_port()));
    let r = run(&["-D", "-", "-o", out.to_str().unwrap(), &server.url("/ok")]);
    let body = std::fs::read_to_string(&out).unwrap();
    let _ = std::fs::remove_file(&out);
    assert_eq!(
        (r.stdout().as_str(), body.as_str()),
        (
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\n",
            "ok\n"
        )
    );
    // A file that cannot be created: exit 23 before anything is fetched.
    let before = server.accepted();
    let r = run(&["-D", "/nonexistent-dir/heads", &server.url("/ok")]);
    assert_eq!(r.code, Some(23), "stderr: {}", r.stderr);
    assert_eq!(server.accepted(), before);
}

/// Answers HEAD with a Content-Length but (correctly) no body.
fn serve_head_only() -> Server {
    serve(|req| {
        assert!(req.starts_with("HEAD "), "expected HEAD, got {req:?}");
        let head = "HTTP/1.1 200 Here You Go\r\nContent-Length: 1234\r\nX-Kind: head\r\n\r\n";
        (head.as_bytes().to_vec(), false)
    })
}

#[test]
fn head_flag_prints_the_head_only() {
    let server = serve_head_only();
    let r = run(&["-I", &server.url("/big")]);
    assert_eq!(r.code, Some(0), "stderr: {}", r.stderr);
    // The head as it came: the server's reason phrase and name case.
    assert_eq!(
        r.stdout(),
        "HTTP/1.1 200 Here You Go\r\nContent-Length: 1234\r\nX-Kind: head\r\n\r\n"
    );
    assert!(server.requests()[0].starts_with("HEAD /big HTTP/1.1\r\n"));
}

#[test]
fn request_head_expects_no_body_and_does_not_hang() {
    let server = serve_head_only();
    let r = run(&["-X", "HEAD", &server.url("/big"), &server.url("/again")]);
    assert_eq!(r.code, Some(0), "stderr: {}", r.stderr);
    assert_eq!(r.stdout, b"");
    assert!(r.elapsed < Duration::from_secs(5));
    // The framing was right, so the connection stayed usable.
    assert_eq!(server.requests().len(), 2);
    assert_eq!(server.accepted(), 1);
}

#[test]
fn data_is_posted_with_content_length_and_form_type() {
    let server = serve(|req| ok(&format!("got {} bytes", req.len())));
    let r = run(&["-d", "a=1", "-d", "b=2", &server.url("/form")]);
    assert_eq!(r.code, Some(0), "stderr: {}", r.stderr);
    let req = server.requests().remove(0);
    let lower = req.to_ascii_lowercase();
    assert!(req.starts_with("POST /form HTTP/1.1\r\n"), "{req}");
    assert!(lower.contains("\r\ncontent-length: 7\r\n"), "{req}");
    assert!(
        lower.contains("\r\ncontent-type: application/x-www-form-urlencoded\r\n"),
        "{req}"
    );
    assert!(req.ends_with("\r\n\r\na=1&b=2"), "{req}");
}

#[test]
fn data_from_a_file_and_own_content_type() {
    let path = std::env::temp_dir().join(format!("roundtrip-cli-data-{}", std::process::id()));
    std::fs::write(&path, "{\"k\":\n1}\n").unwrap();
    let server = serve_text("ok");
    let arg = format!("@{}", path.display());
    let r = run(&[
        "-H",
        "Content-Type: application/json",
        "-d",
        &arg,
        &server.url("/"),
    ]);
    std::fs::remove_file(&path).unwrap();
    assert_eq!(r.code, Some(0), "stderr: {}", r.stderr);
    let req = server.requests().remove(0).to_ascii_lowercase();
    assert!(
        req.contains("\r\ncontent-type: application/json\r\n"),
        "{req}"
    );
    assert!(!req.contains("x-www-form-urlencoded"), "{req}");
    // -d @file drops newlines, as curl does.
    assert!(req.ends_with("\r\n\r\n{\"k\":1}"), "{req}");
    assert!(req.contains("\r\ncontent-length: 7\r\n"), "{req}");
}

#[test]
fn data_from_a_missing_file_is_a_usage_error() {
    let server = serve_text("never");
    let r = run(&["-d", "@/nonexistent/roundtrip-data", &server.url("/")]);
    assert_eq!(r.code, Some(2));
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("/nonexistent/roundtrip-data"),
        "{}",
        r.stderr
    );
    assert_eq!(server.accepted(), 0, "nothing is sent after a usage error");
}

#[test]
fn header_flag_adds_and_removes_headers() {
    let server = serve(|req| {
        let lower = req.to_ascii_lowercase();
        if lower.contains("\r\nx-test: yes please\r\n") && !lower.contains("user-agent") {
            ok("header seen")
        } else {
            ok("header missing")
        }
    });
    let r = run(&[
        "-H",
        "X-Test: yes please",
        "-H",
        "User-Agent:",
        &server.url("/"),
    ]);
    assert_eq!(r.code, Some(0), "stderr: {}", r.stderr);
    assert_eq!(r.stdout(), "header seen", "{:?}", server.requests());
}

#[test]
fn bad_header_is_a_usage_error() {
    let r = run(&["-H", "no colon here", "http://127.0.0.1:9/"]);
    assert_eq!(r.code, Some(2));
    assert!(r.stderr.starts_with("roundtrip: -H"), "{}", r.stderr);
}

#[test]
fn output_flag_writes_every_body_to_the_file() {
    let server = serve(|req| ok(&format!("<{}>", path_of(req))));
    let path = std::env::temp_dir().join(format!("roundtrip-cli-out-{}", std::process::id()));
    let file = path.to_str().unwrap();
    let r = run(&["-o", file, &server.url("/a"), &server.url("/b")]);
    let written = std::fs::read_to_string(&path);
    let _ = std::fs::remove_file(&path);
    assert_eq!(r.code, Some(0), "stderr: {}", r.stderr);
    assert_eq!(r.stdout, b"");
    assert_eq!(written.unwrap(), "</a></b>");
}

#[test]
fn parallel_fetches_three_urls_at_once_and_prints_in_order() {
    let server = serve(|req| {
        // Later paths answer sooner, so completion order differs from
        // argument order.
        let path = path_of(req).to_owned();
        let delay = match path.as_str() {
            "/1" => 150,
            "/2" => 75,
            _ => 0,
        };
        thread::sleep(Duration::from_millis(delay));
        ok(&format!("{path};"))
    });
    let r = run(&[
        "-Z",
        &server.url("/1"),
        &server.url("/2"),
        &server.url("/3"),
    ]);
    assert_eq!(r.code, Some(0), "stderr: {}", r.stderr);
    assert_eq!(r.stdout(), "/1;/2;/3;");
    // All three were in flight together, so none could wait for another's
    // connection to become idle.
    assert_eq!(server.accepted(), 3);
}

#[test]
fn refused_connection_fails_with_one_line_and_curls_code() {
    let url = format!("http://127.0.0.1:{}/", closed_port());
    let r = run(&[&url]);
    assert_eq!(r.code, Some(7), "stderr: {}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(
        r.stderr.starts_with(&format!("roundtrip: {url}: connect")),
        "{}",
        r.stderr
    );
    assert_eq!(r.stdout, b"");
}

#[test]
fn a_failure_does_not_stop_the_next_url() {
    let server = serve_text("still here");
    let refused = format!("http://127.0.0.1:{}/", closed_port());
    let r = run(&[&refused, &server.url("/")]);
    assert_eq!(r.code, Some(7));
    assert_eq!(r.stdout(), "still here");
}

#[test]
fn silent_hides_the_error_but_not_the_exit_status() {
    let url = format!("http://127.0.0.1:{}/", closed_port());
    let r = run(&["-s", &url]);
    assert_eq!(r.code, Some(7));
    assert_eq!(r.stderr, "");
    let r = run(&["-sS", &url]);
    assert_eq!(r.code, Some(7));
    assert!(r.stderr.starts_with("roundtrip: "), "{}", r.stderr);
}

#[test]
fn body_cut_short_is_reported_after_streaming_what_came() {
    let server = serve(|_| {
        let r = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc".to_vec();
        (r, true)
    });
    let r = run(&[&server.url("/")]);
    assert_eq!(r.code, Some(18), "stderr: {}", r.stderr);
    assert_eq!(r.stdout(), "abc");
    assert!(r.stderr.contains("truncated"), "{}", r.stderr);
}

#[test]
fn unknown_flag_is_a_usage_error() {
    let r = run(&["--no-such-flag", "http://127.0.0.1:9/"]);
    assert_eq!(r.code, Some(2));
    assert_eq!(r.stderr.lines().count(), 1);
    assert!(r.stderr.contains("--no-such-flag"), "{}", r.stderr);
}

#[test]
fn bad_url_and_missing_value_are_usage_errors() {
    for args in [&["http://bad host/"][..], &["-X"], &["-o"], &["-i"]] {
        let r = run(args);
        assert_eq!(r.code, Some(2), "{args:?}: {}", r.stderr);
        assert_eq!(r.stderr.lines().count(), 1, "{args:?}: {}", r.stderr);
    }
}

#[test]
fn help_and_version() {
    let r = run(&["--help"]);
    assert_eq!(r.code, Some(0));
    assert!(r.stdout().contains("--events"));
    let r = run(&["-V"]);
    assert_eq!(r.code, Some(0));
    assert_eq!(
        r.stdout(),
        format!("roundtrip {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn demo_tours_dns_happy_eyeballs_tls_reuse_continue_and_trailers() {
    let r = run(&[]);
    assert_eq!(r.code, Some(0), "stderr: {}", r.stderr);
    assert!(r.elapsed < Duration::from_secs(3), "took {:?}", r.elapsed);
    let out = r.stdout();
    let step = |n: usize| {
        out.split(&format!("\n{n}. "))
            .nth(1)
            .unwrap_or("")
            .to_owned()
    };
    let one = step(1);
    assert!(one.contains("dns AAAA") && one.contains("dns A "), "{one}");
    assert!(
        one.contains("tcp6 [::1]") && one.contains("tcp4 127.0.0.1"),
        "{one}"
    );
    assert!(
        one.contains("tls") && one.contains("new connection"),
        "{one}"
    );
    assert!(one.contains("TLSv1.3"), "{one}");
    assert!(step(2).contains("reused connection"), "{}", step(2));
    assert!(
        step(3).contains("100 informational") && step(3).contains("201"),
        "{}",
        step(3)
    );
    assert!(step(4).contains("trailer x-chunk-count: 3"), "{}", step(4));
}

/// `--events` alone is the demo with its events: every line on stderr is
/// one JSON event, and they tell the tour's story (the refused IPv6
/// attempt, the handshake, the reuse), while stdout is the tour as before.
#[test]
fn demo_with_events_prints_each_requests_events_as_json_lines() {
    let r = run(&["--events"]);
    assert_eq!(r.code, Some(0), "stderr: {}", r.stderr);
    assert!(
        r.stdout().contains("\n4. A chunked response"),
        "{}",
        r.stdout()
    );
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert!(
        lines
            .iter()
            .all(|l| l.starts_with(r#"{"t_us":"#) && l.ends_with('}')),
        "{}",
        r.stderr
    );
    let has = |parts: &[&str]| lines.iter().any(|l| parts.iter().all(|p| l.contains(p)));
    assert!(
        has(&[r#""req":1"#, r#""network":"tcp6""#, "refused"]),
        "{}",
        r.stderr
    );
    assert!(
        has(&[
            r#""req":1"#,
            "tls_handshake_done",
            r#""sni":"demo.roundtrip.test""#
        ]),
        "{}",
        r.stderr
    );
    assert!(
        has(&[r#""req":2"#, r#""event":"got_conn""#, r#""reused":true"#]),
        "{}",
        r.stderr
    );
    assert!(
        has(&[r#""req":4"#, r#""event":"request_done""#]),
        "{}",
        r.stderr
    );
}

/// A one-thread DNS server on 127.0.0.1 for `--dns-servers`: A queries for
/// names in `known` get 127.0.0.1, AAAA queries get no records (NODATA),
/// other names NXDOMAIN. Stops after 2 s without a query.
fn serve_dns(known: &'static [&'static str]) -> std::net::SocketAddr {
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let addr = sock.local_addr().unwrap();
    thread::spawn(move || {
        let mut buf = [0u8; 1500];
        while let Ok((n, from)) = sock.recv_from(&mut buf) {
            let q = &buf[..n];
            // The question: labels from offset 12, then type and class.
            let mut i = 12;
            let mut labels = Vec::new();
            while i < n && q[i] != 0 {
                let len = q[i] as usize;
                labels.push(String::from_utf8_lossy(&q[i + 1..i + 1 + len]).to_ascii_lowercase());
                i += 1 + len;
            }
            let qend = i + 5;
            let qtype = u16::from_be_bytes([q[i + 1], q[i + 2]]);
            let name = labels.join(".");
            let exists = known.contains(&name.as_str());
            let mut r = q[..2].to_vec();
            r.extend_from_slice(if exists { &[0x81, 0x80] } else { &[0x81, 0x83] });
            let answers = u16::from(exists && qtype == 1);
            r.extend_from_slice(&[0, 1]);
            r.extend_from_slice(&answers.to_be_bytes());
            r.extend_from_slice(&[0, 0, 0, 0]);
            r.extend_from_slice(&q[12..qend]);
            if answers == 1 {
                r.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 1]);
            }
            sock.send_to(&r, from).unwrap();
        }
    });
    addr
}

#[test]
fn resolve_pins_an_address_without_a_lookup() {
    let server = serve_text("pinned\n");
    let port = server.addr.port();
    let url = format!("http://pinned.test:{port}/");
    let pin = format!("pinned.test:{port}:127.0.0.1");
    let r = run(&["--events", "--resolve", &pin, &url]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(r.stdout(), "pinned\n");
    assert!(events(&r.stderr, "dns_done")[0].contains(r#""addrs":["127.0.0.1"]"#));
    assert!(
        events(&r.stderr, "dns_query_start").is_empty(),
        "no query for a pinned name"
    );
}

#[test]
fn dns_servers_are_asked_instead_of_resolv_conf() {
    let server = serve_text("named\n");
    let dns = serve_dns(&["named.test"]);
    let url = format!("http://named.test:{}/", server.addr.port());
    let r = run(&["--events", "--dns-servers", &dns.to_string(), &url]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(r.stdout(), "named\n");
    let queries = events(&r.stderr, "dns_query_start");
    assert_eq!(queries.len(), 2, "AAAA and A: {queries:?}");
    assert!(queries
        .iter()
        .all(|q| q.contains(&format!(r#""server":"{dns}""#))));
    let done = events(&r.stderr, "dns_query_done");
    assert!(
        done.iter().any(|d| d.contains(r#""qtype":"A""#)
            && d.contains(r#""rcode":"NOERROR","error":null,"answers":1"#)),
        "{done:?}"
    );

    let r = run(&["--dns-servers", &dns.to_string(), "http://gone.test/"]);
    assert_eq!(r.code, Some(6), "NXDOMAIN is curl's 6: {}", r.stderr);
    assert!(r.stderr.contains("not found"), "{}", r.stderr);
}

#[test]
fn bad_dns_flags_are_usage_errors() {
    for args in [
        &["--dns-servers", "x", "http://a/"][..],
        &["--resolve", "a:b:c", "http://a/"],
    ] {
        let r = run(args);
        assert_eq!(r.code, Some(2), "{args:?}: {}", r.stderr);
        assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    }
}

/// A listener on [::1]:`port` whose accept queue is full, so the kernel
/// drops further SYNs to it: a connect there hangs, as to a blackhole,
/// without root or a network namespace. `None` when [::1] or that port is
/// not available here.
fn v6_blackhole_on(port: u16) -> Option<(TcpListener, Vec<TcpStream>)> {
    let listener = TcpListener::bind(("::1", port)).ok()?;
    let addr = listener.local_addr().ok()?;
    let mut queued = Vec::new();
    // std listens with a backlog of 128; the queue holds one more.
    for _ in 0..1000 {
        match TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            Ok(s) => queued.push(s),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return Some((listener, queued)),
            Err(_) => return None,
        }
    }
    None
}

/// `t_us` of an `--events` line.
fn t_us(line: &str) -> u64 {
    let rest = &line["{\"t_us\":".len()..];
    rest[..rest.find(',').unwrap()].parse().unwrap()
}

#[test]
fn happy_eyeballs_timeout_ms_sets_when_ipv4_joins_a_stalled_ipv6_attempt() {
    // The same port on both families: IPv4 answers, IPv6 swallows SYNs.
    let (server, hole) = (0..20)
        .find_map(|_| {
            let server = serve_text("v4\n");
            v6_blackhole_on(server.addr.port()).map(|hole| (server, hole))
        })
        .expect("a port free on both 127.0.0.1 and [::1], and [::1] usable");
    let port = server.addr.port();
    let url = format!("http://dual.test:{port}/");
    let pin = format!("dual.test:{port}:[::1],127.0.0.1");
    for delay_ms in [100u64, 600] {
        let delay = delay_ms.to_string();
        let r = run(&[
            "--events",
            "--happy-eyeballs-timeout-ms",
            &delay,
            "--resolve",
            &pin,
            &url,
        ]);
        assert_eq!(r.code, Some(0), "{}", r.stderr);
        assert_eq!(r.stdout(), "v4\n");
        let starts = events(&r.stderr, "connect_start");
        assert_eq!(starts.len(), 2, "{}", r.stderr);
        assert!(starts[0].contains("[::1]"), "IPv6 first: {}", r.stderr);
        assert!(starts[1].contains("127.0.0.1"), "{}", r.stderr);
        // IPv4 waits the delay asked for, not the 250 ms default; the
        // stalled IPv6 attempt is cancelled once IPv4 wins.
        let gap = t_us(starts[1]) - t_us(starts[0]);
        assert!(
            gap >= delay_ms * 1000,
            "{gap} µs < {delay_ms} ms: {}",
            r.stderr
        );
        assert_eq!(
            events(&r.stderr, "connect_cancelled").len(),
            1,
            "{}",
            r.stderr
        );
    }
    drop(hole);
}

#[test]
fn ipv4_only_skips_the_ipv6_address_of_a_name_that_has_both() {
    let server = serve_text("v4\n");
    let port = server.addr.port();
    let url = format!("http://dual.test:{port}/");
    let pin = format!("dual.test:{port}:[::1],127.0.0.1");
    let r = run(&["--events", "-4", "--resolve", &pin, &url]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let starts = events(&r.stderr, "connect_start");
    assert_eq!(starts.len(), 1, "{}", r.stderr);
    assert!(starts[0].contains("127.0.0.1"), "{}", r.stderr);
    // Without -4 the IPv6 address is tried (and refused) first.
    let r = run(&["--events", "--resolve", &pin, &url]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let starts = events(&r.stderr, "connect_start");
    assert_eq!(starts.len(), 2, "{}", r.stderr);
    assert!(starts[0].contains("[::1]"), "{}", r.stderr);
}

#[test]
fn ipv6_only_refuses_an_ipv4_host_and_ipv4_only_reaches_it() {
    let server = serve_text("v4\n");
    let port = server.addr.port();
    let url = format!("http://dual.test:{port}/");
    let pin = format!("dual.test:{port}:127.0.0.1");
    let r = run(&["--events", "-6", "--resolve", &pin, &url]);
    assert_ne!(
        r.code,
        Some(0),
        "-6 must not use the IPv4 address: {}",
        r.stdout()
    );
    assert!(
        events(&r.stderr, "connect_start").is_empty(),
        "{}",
        r.stderr
    );
    let r = run(&["--events", "-4", "--resolve", &pin, &url]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(r.stdout(), "v4\n");
}

/// An HTTPS server on 127.0.0.1 for `localhost`, its CA written to a PEM
/// file; serves `connections` connections.
fn serve_https(connections: usize) -> (u16, std::path::PathBuf) {
    let (port, ca, _) = serve_https_with(connections, false);
    (port, ca)
}

/// A scratch file name unique to this process and call.
fn temp_pem(what: &str) -> std::path::PathBuf {
    scratch::scratch_path(&format!("{what}.pem"))
}

/// [`serve_https`], and when `client_auth`, a server that requires a
/// client certificate from its CA: then also a client certificate and its
/// key, as PEM files for `--cert` and `--key`.
fn serve_https_with(
    connections: usize,
    client_auth: bool,
) -> (
    u16,
    std::path::PathBuf,
    Option<(std::path::PathBuf, std::path::PathBuf)>,
) {
    use rcgen::{BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, KeyPair};
    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().unwrap();
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &ca, &ca_key)
        .unwrap();
    let pem = temp_pem("ca");
    std::fs::write(&pem, ca.pem()).unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let (builder, client_files) = if client_auth {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.der().clone()).unwrap();
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .unwrap();
        let mut params = CertificateParams::new(vec!["cli-client".to_string()]).unwrap();
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let client_key = KeyPair::generate().unwrap();
        let client = params.signed_by(&client_key, &ca, &ca_key).unwrap();
        let (cert_path, key_path) = (temp_pem("client-cert"), temp_pem("client-key"));
        std::fs::write(&cert_path, client.pem()).unwrap();
        std::fs::write(&key_path, client_key.serialize_pem()).unwrap();
        (
            builder.with_client_cert_verifier(verifier),
            Some((cert_path, key_path)),
        )
    } else {
        (builder.with_no_client_auth(), None)
    };
    let config = Arc::new(
        builder
            .with_single_cert(vec![leaf.der().clone()], key)
            .unwrap(),
    );
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for _ in 0..connections {
            let Ok((tcp, _)) = listener.accept() else {
                return;
            };
            tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let conn = rustls::ServerConnection::new(config.clone()).unwrap();
            let mut tls = rustls::StreamOwned::new(conn, tcp);
            let mut head = Vec::new();
            let mut b = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                match tls.read(&mut b) {
                    Ok(1) => head.push(b[0]),
                    _ => break,
                }
            }
            if head.ends_with(b"\r\n\r\n") {
                let _ = tls.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\nConnection: close\r\n\r\nsecure\n",
                );
                tls.conn.send_close_notify();
                let _ = tls.flush();
            }
        }
    });
    (port, pem, client_files)
}

#[test]
fn https_with_cacert_untrusted_without_and_insecure_with_k() {
    let (port, pem) = serve_https(4);
    let url = format!("https://localhost:{port}/");
    let pem = pem.to_str().unwrap().to_owned();
    let r = run(&["--events", "--cacert", &pem, &url]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(r.stdout(), "secure\n");
    assert!(events(&r.stderr, "tls_handshake_done")[0].contains(r#""error":null"#));
    let r = run(&[&url]);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(r.stderr.contains("issuer"), "{}", r.stderr);
    let r = run(&["-k", &url]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(r.stdout(), "secure\n");
    let r = run(&["--insecure", &url]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(r.stdout(), "secure\n");
}

/// Mutual TLS: the server requires a certificate from its CA. Without
/// `--cert` the server refuses the handshake; with `--cert` and `--key`
/// (and `--cacert` for the server's own certificate) the fetch succeeds.
#[test]
fn https_with_a_client_certificate_from_cert_and_key() {
    let (port, pem, client) = serve_https_with(2, true);
    let (cert, key) = client.unwrap();
    let url = format!("https://localhost:{port}/");
    let pem = pem.to_str().unwrap();
    let r = run(&["--cacert", pem, &url]);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("tls: server sent alert CertificateRequired"),
        "{}",
        r.stderr
    );
    let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
    let r = run(&[
        "--events", "--cacert", pem, "--cert", cert, "--key", key, &url,
    ]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(r.stdout(), "secure\n");
    assert!(events(&r.stderr, "tls_handshake_done")[0].contains(r#""error":null"#));
}

#[test]
fn cert_without_key_and_missing_cacert_are_usage_errors() {
    for args in [
        &["--cert", "Cargo.toml", "https://a/"][..],
        &["--cacert", "/nonexistent.pem", "https://a/"],
    ] {
        let r = run(args);
        assert_eq!(r.code, Some(2), "{args:?}: {}", r.stderr);
    }
}

#[test]
fn max_time_ends_a_stalled_request_with_curls_code_28() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        // Accept, read nothing, answer nothing, until the client gives up.
        let (mut s, _) = listener.accept().unwrap();
        let mut sink = [0u8; 1024];
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        while matches!(s.read(&mut sink), Ok(n) if n > 0) {}
    });
    let r = run(&["-m", "0.3", &format!("http://127.0.0.1:{port}/")]);
    assert_eq!(r.code, Some(28), "{}", r.stderr);
    assert!(r.stderr.contains("total time limit"), "{}", r.stderr);
    assert!(r.elapsed < Duration::from_secs(5));
}

#[test]
fn max_time_zero_means_no_limit_as_in_curl() {
    let server = serve(|_| {
        thread::sleep(Duration::from_millis(300));
        ok("late\n")
    });
    let r = run(&["-m", "0", &server.url("/")]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(r.stdout(), "late\n");
}

#[test]
fn connect_timeout_also_limits_the_tls_handshake() {
    // TCP connects at once; the TLS handshake never gets an answer. The
    // library's own handshake limit is 10 s: only --connect-timeout ends
    // this before the watchdog.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut sink = [0u8; 1024];
        s.set_read_timeout(Some(Duration::from_secs(9))).unwrap();
        while matches!(s.read(&mut sink), Ok(n) if n > 0) {}
    });
    let url = format!("https://127.0.0.1:{port}/");
    let r = run(&["--connect-timeout", "0.3", &url]);
    assert_eq!(r.code, Some(28), "{}", r.stderr);
    assert!(r.stderr.contains("tls"), "{}", r.stderr);
    assert!(r.elapsed < Duration::from_secs(5), "{:?}", r.elapsed);
}

#[test]
fn write_out_prints_curls_variables_after_each_transfer() {
    let server = serve_text("hello\n");
    let url = format!("http://127.0.0.1:{}/", server.addr.port());
    let fmt = "[%{http_code} %{num_connects} %{size_download} %{remote_ip}:%{remote_port}]\\n";
    let r = run(&["-w", fmt, &url, &url]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let port = server.addr.port();
    assert_eq!(
        r.stdout(),
        format!("hello\n[200 1 6 127.0.0.1:{port}]\nhello\n[200 0 6 127.0.0.1:{port}]\n")
    );
    let r = run(&["-s", "-o", "/dev/null", "-w", "%{json}", &url]);
    let json = r.stdout();
    assert!(json.starts_with("{\"time_namelookup\":"), "{json}");
    assert!(json.contains("\"http_code\":200"), "{json}");
    // curl's cumulative times never go backwards.
    let num = |k: &str| -> f64 {
        let at = json.find(&format!("\"{k}\":")).unwrap() + k.len() + 3;
        json[at..]
            .split([',', '}'])
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let order = [
        "time_namelookup",
        "time_connect",
        "time_pretransfer",
        "time_starttransfer",
        "time_total",
    ];
    for w in order.windows(2) {
        assert!(num(w[0]) <= num(w[1]), "{} > {}: {json}", w[0], w[1]);
    }
    assert!(num("time_total") > 0.0);
    let r = run(&["-w", "%{bogus}", &url]);
    assert_eq!(r.code, Some(2), "{}", r.stderr);
}

#[test]
fn location_follows_redirects_and_max_redirs_limits_them() {
    let server = serve(|req| {
        if path_of(req) == "/old" {
            let r = "HTTP/1.1 301 Moved\r\nLocation: /new\r\nContent-Length: 0\r\n\r\n";
            (r.as_bytes().to_vec(), false)
        } else {
            ok("new\n")
        }
    });
    let url = format!("http://127.0.0.1:{}/old", server.addr.port());
    let r = run(&[&url]);
    assert_eq!(
        (r.code, r.stdout()),
        (Some(0), String::new()),
        "not followed without -L"
    );
    let r = run(&["-L", "--events", &url]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(r.stdout(), "new\n");
    assert_eq!(events(&r.stderr, "redirect").len(), 1);
    assert!(
        events(&r.stderr, "request_done")[0].contains(r#""hop":1"#),
        "{}",
        r.stderr
    );
    // Every event of the request names its hop, the first one's 0 included.
    for line in r.stderr.lines().filter(|l| l.contains(r#""req":1,"#)) {
        assert!(line.contains(r#","hop":"#), "{line}");
    }
    assert!(
        events(&r.stderr, "get_conn")[0].contains(r#""resend":0,"hop":0,"#),
        "{}",
        r.stderr
    );
    let r = run(&["-L", "--max-redirs", "0", &url]);
    assert_eq!(
        r.code,
        Some(47),
        "curl's code for too many redirects: {}",
        r.stderr
    );
}

#[test]
fn proxy_flag_sends_absolute_form_to_the_proxy_and_noproxy_bypasses_it() {
    let proxy = serve(|req| {
        assert!(
            req.starts_with("GET http://origin.test:81/p HTTP/1.1"),
            "{req}"
        );
        ok("via proxy\n")
    });
    let p = format!("http://127.0.0.1:{}", proxy.addr.port());
    let r = run(&["-x", &p, "http://origin.test:81/p"]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(r.stdout(), "via proxy\n");
    let direct = serve_text("direct\n");
    let url = format!("http://127.0.0.1:{}/", direct.addr.port());
    let r = run(&["-x", &p, "--noproxy", "127.0.0.1", &url]);
    assert_eq!(r.stdout(), "direct\n", "{}", r.stderr);
    assert_eq!(
        proxy.accepted.load(Ordering::SeqCst),
        1,
        "the proxy saw only the first"
    );
    let r = run(&["-x", "socks5://x:1", "http://a/"]);
    assert_eq!(r.code, Some(2), "{}", r.stderr);
}

#[test]
fn noproxy_without_x_keeps_the_environments_proxy_rules() {
    let proxy = serve(|req| {
        assert!(
            req.starts_with("GET http://origin.test:81/p HTTP/1.1"),
            "{req}"
        );
        ok("via proxy\n")
    });
    let p = format!("http://127.0.0.1:{}", proxy.addr.port());
    // all_proxy counts, and --noproxy replaces no_proxy rather than adding
    // to it: origin.test, listed only in the environment, goes through.
    let vars = [("all_proxy", p.as_str()), ("no_proxy", "origin.test")];
    let r = run_env(
        &["--noproxy", "other.test", "http://origin.test:81/p"],
        &vars,
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(r.stdout(), "via proxy\n");
    assert_eq!(proxy.accepted(), 1);

    // httpoxy: in a CGI program HTTP_PROXY is a request header, not a
    // proxy. The client connects directly.
    let direct = serve_text("direct\n");
    let url = format!("http://127.0.0.1:{}/", direct.addr.port());
    let vars = [("HTTP_PROXY", p.as_str()), ("REQUEST_METHOD", "GET")];
    let r = run_env(&["--noproxy", "other.test", &url], &vars);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(r.stdout(), "direct\n");
    assert_eq!(proxy.accepted(), 1, "the proxy was not used");
    // Without REQUEST_METHOD the same HTTP_PROXY is used.
    let r = run_env(
        &["--noproxy", "other.test", "http://origin.test:81/p"],
        &vars[..1],
    );
    assert_eq!(r.stdout(), "via proxy\n", "{}", r.stderr);
    assert_eq!(proxy.accepted(), 2);
}

#[test]
fn waterfall_draws_each_phase_and_skips_what_did_not_happen() {
    let server = serve_text("hi\n");
    let url = format!("http://127.0.0.1:{}/", server.addr.port());
    let r = run(&["--waterfall", "-o", "/dev/null", &url, &url]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let first = r.stderr.split("GET ").nth(1).unwrap();
    let second = r.stderr.split("GET ").nth(2).unwrap();
    for phase in ["connect #1 tcp4", "send", "wait", "receive", "total"] {
        assert!(first.contains(phase), "{phase}: {}", r.stderr);
    }
    assert!(first.contains("new connection"), "{first}");
    assert!(second.contains("skipped  connection reused"), "{second}");
    assert!(second.contains("reused connection"), "{second}");
    assert!(
        !r.stderr.contains('\x1b'),
        "no colour when stderr is not a terminal"
    );
    let r = run(&["-o", "/dev/null", &url]);
    assert!(
        r.stderr.is_empty(),
        "no waterfall by default off a terminal: {}",
        r.stderr
    );
}

#[test]
fn verbose_lists_every_event_readably() {
    let server = serve_text("v\n");
    let r = run(&["-v", &format!("http://127.0.0.1:{}/", server.addr.port())]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    for name in [
        "get_conn",
        "connect_start",
        "got_conn",
        "wrote_request",
        "request_done",
    ] {
        assert!(
            r.stderr
                .lines()
                .any(|l| l.contains(" ms  ") && l.contains(name)),
            "{name}: {}",
            r.stderr
        );
    }
}

/// Each stdout line of a `--json` run, parsed.
fn json_docs(r: &Run) -> Vec<serde_json::Value> {
    r.stdout()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn json_prints_one_document_per_request_instead_of_the_body() {
    let server = serve_text("hello\n");
    let (a, b) = (server.url("/a"), server.url("/b"));
    let r = run(&["--json", &a, &b]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(!r.stdout().contains("hello"), "the body is not printed");
    let docs = json_docs(&r);
    assert_eq!(docs.len(), 2, "{}", r.stdout());
    for (doc, url) in docs.iter().zip([&a, &b]) {
        assert_eq!(doc["url"], url.as_str());
        assert_eq!(doc["method"], "GET");
        assert_eq!(doc["status"], 200);
        assert!(doc["error"].is_null());
        assert_eq!(doc["timings"]["size_download"], 6);
        assert!(doc["timings"]["time_total"].as_f64().unwrap() > 0.0);
        let events = doc["events"].as_array().unwrap();
        assert_eq!(events.first().unwrap()["event"], "get_conn");
        assert_eq!(events.last().unwrap()["event"], "request_done");
        let req = &events[0]["req"];
        assert!(
            events.iter().all(|e| &e["req"] == req),
            "one request's events only"
        );
        assert!(doc["connection"]["tls"].is_null());
        assert_eq!(
            doc["connection"]["remote_addr"],
            server.addr.to_string().as_str()
        );
    }
    // The second request rode the first one's connection.
    assert_eq!(docs[0]["connection"]["reused"], false);
    assert_eq!(docs[1]["connection"]["reused"], true);
    assert_eq!(docs[0]["connection"]["id"], docs[1]["connection"]["id"]);
    assert_ne!(docs[0]["events"][0]["req"], docs[1]["events"][0]["req"]);
    assert_eq!(server.accepted(), 1);
}

#[test]
fn json_with_output_saves_the_body_and_reports_tls_and_failures() {
    let (port, pem) = serve_https(1);
    let url = format!("https://localhost:{port}/");
    let file = std::env::temp_dir().join(format!("roundtrip-cli-json-{}", closed_port()));
    let r = run(&[
        "--json",
        "-o",
        file.to_str().unwrap(),
        "--cacert",
        pem.to_str().unwrap(),
        &url,
    ]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "secure\n");
    let _ = std::fs::remove_file(&file);
    let docs = json_docs(&r);
    assert_eq!(docs.len(), 1);
    let tls = &docs[0]["connection"]["tls"];
    assert!(tls["version"].as_str().unwrap().starts_with("TLS"), "{tls}");
    assert!(!tls["cipher_suite"].as_str().unwrap().is_empty(), "{tls}");
    assert_eq!(tls["resumed"], false);
    let names: Vec<&str> = docs[0]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"tls_handshake_done"), "{names:?}");

    // A refused connection still gets its document, with the error.
    let refused = format!("http://127.0.0.1:{}/", closed_port());
    let r = run(&["--json", &refused]);
    assert_eq!(r.code, Some(7), "{}", r.stderr);
    let docs = json_docs(&r);
    assert_eq!(docs.len(), 1, "{}", r.stdout());
    assert!(docs[0]["status"].is_null());
    assert!(docs[0]["connection"].is_null());
    assert!(docs[0]["error"].as_str().unwrap().contains("connect"));
    let last = docs[0]["events"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["event"], "request_done");
    assert!(last["error"].is_string());
}

/// The row of `phase` in a `-n` table, split on whitespace.
fn stats_row<'a>(stdout: &'a str, phase: &str) -> Vec<&'a str> {
    stdout
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|w| w.first() == Some(&phase))
        .unwrap_or_else(|| panic!("no {phase} row in {stdout}"))
}

#[test]
fn repeat_prints_per_phase_statistics_over_one_kept_alive_connection() {
    let server = serve_text("hello\n");
    let url = server.url("/");
    let r = run(&["-n", "5", &url]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let out = r.stdout();
    assert!(!out.contains("hello"), "bodies are not printed: {out}");
    assert!(
        out.starts_with(&format!(
            "GET {url}: 5 completed, 0 failed, 1 new connections"
        )),
        "{out}"
    );
    assert_eq!(server.accepted(), 1);
    assert_eq!(server.requests().len(), 5);
    // Only the first request connected; the others skipped it.
    assert_eq!(stats_row(&out, "connect")[1], "1");
    assert_eq!(stats_row(&out, "dns")[1..], ["0", "skipped:", "ip_literal"]);
    assert_eq!(stats_row(&out, "tls")[1..], ["0", "skipped:", "not_tls"]);
    let total = stats_row(&out, "total");
    assert_eq!(total[1], "5");
    let nums: Vec<f64> = total[2..7].iter().map(|v| v.parse().unwrap()).collect();
    assert!(
        nums.windows(2).all(|w| w[0] <= w[1]),
        "min ≤ p50 ≤ … ≤ max: {total:?}"
    );
    assert!(nums[0] > 0.0);
}

#[test]
fn repeat_with_no_keepalive_connects_every_time_and_counts_failures() {
    let server = serve_text("hello\n");
    let r = run(&["-n", "4", "--no-keepalive", &server.url("/")]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(r
        .stdout()
        .contains("4 completed, 0 failed, 4 new connections"));
    assert_eq!(stats_row(&r.stdout(), "connect")[1], "4");
    assert_eq!(server.accepted(), 4);

    let refused = format!("http://127.0.0.1:{}/", closed_port());
    let r = run(&["-s", "-n", "3", &refused]);
    assert_eq!(r.code, Some(7), "{}", r.stderr);
    assert!(
        r.stdout().contains("0 completed, 3 failed"),
        "{}",
        r.stdout()
    );

    for bad in ["0", "x", "-1"] {
        let r = run(&["-n", bad, "http://127.0.0.1:9/"]);
        assert_eq!(r.code, Some(2), "-n {bad}: {}", r.stderr);
        assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    }
}

/// Validates `har` against HAR 1.2's JSON schema (tests/data) with Python's
/// `jsonschema`; false when that validator is not installed (an error under
/// `ROUNDTRIP_INTEROP=require`).
fn validate_har(har: &std::path::Path) -> bool {
    let schema = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/har-1.2.schema.json"
    );
    let script = "import json, sys, jsonschema\n\
        schema = json.load(open(sys.argv[1]))\n\
        jsonschema.Draft7Validator.check_schema(schema)\n\
        jsonschema.validate(json.load(open(sys.argv[2])), schema)\n";
    let probe = Command::new("python3")
        .args(["-c", "import jsonschema"])
        .stderr(Stdio::null())
        .status();
    if !probe.is_ok_and(|s| s.success()) {
        assert!(
            std::env::var("ROUNDTRIP_INTEROP").as_deref() != Ok("require"),
            "python3 with jsonschema (Debian: python3-jsonschema) is required"
        );
        eprintln!("SKIPPED: HAR schema validation (python3-jsonschema not installed)");
        return false;
    }
    let out = Command::new("python3")
        .args(["-c", script, schema, har.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the HAR does not validate: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    true
}

fn read_har(path: &std::path::Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap();
    let har: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(har["log"]["version"], "1.2");
    har["log"]["entries"].as_array().unwrap().clone()
}

/// HAR's own arithmetic: `time` is the sum of the phases that happened,
/// with `ssl` inside `connect` (not added again).
fn assert_har_times_add_up(e: &serde_json::Value) {
    let t = &e["timings"];
    let phase = |n: &str| t[n].as_f64().unwrap();
    let sum: f64 = ["blocked", "dns", "connect", "send", "wait", "receive"]
        .iter()
        .map(|n| phase(n).max(0.0))
        .sum();
    assert!((e["time"].as_f64().unwrap() - sum).abs() < 0.01, "{e}");
    if phase("ssl") >= 0.0 {
        assert!(
            phase("connect") >= phase("ssl"),
            "ssl is inside connect: {t}"
        );
    }
}

#[test]
fn har_records_every_hop_and_validates_against_the_har_schema() {
    let server = serve(|req| {
        if path_of(req).starts_with("/old") {
            (
                b"HTTP/1.1 302 Found It\r\nLocation: /new?b=2\r\nContent-Length: 0\r\n\r\n"
                    .to_vec(),
                false,
            )
        } else {
            // HTTP/1.0, which the entry must say.
            (
                b"HTTP/1.0 200 OK\r\nContent-Length: 6\r\n\r\nfresh\n".to_vec(),
                true,
            )
        }
    });
    let file = std::env::temp_dir().join(format!("roundtrip-cli-{}.har", closed_port()));
    let old = server.url("/old?a=1");
    let r = run(&["-s", "-L", "--har", file.to_str().unwrap(), &old]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(r.stdout(), "fresh\n", "--har leaves the body alone");
    validate_har(&file);
    let entries = read_har(&file);
    let _ = std::fs::remove_file(&file);
    assert_eq!(entries.len(), 2, "{entries:?}");
    let (first, second) = (&entries[0], &entries[1]);
    assert_eq!(first["request"]["url"], old.as_str());
    assert_eq!(first["request"]["queryString"][0]["name"], "a");
    assert_eq!(first["response"]["status"], 302);
    assert_eq!(first["response"]["redirectURL"], "/new?b=2");
    assert_eq!(second["request"]["url"], server.url("/new?b=2").as_str());
    assert_eq!(second["response"]["status"], 200);
    assert_eq!(second["response"]["content"]["size"], 6);
    assert_eq!(first["response"]["httpVersion"], "HTTP/1.1");
    assert_eq!(second["response"]["httpVersion"], "HTTP/1.0");
    // The server's reason phrases, and each head's size on the wire.
    assert_eq!(first["response"]["statusText"], "Found It");
    assert_eq!(second["response"]["statusText"], "OK");
    assert_eq!(first["response"]["headersSize"], 64);
    assert_eq!(second["response"]["headersSize"], 38);
    // One connection for both hops: the second skipped dns and connect.
    assert_eq!(server.accepted(), 1);
    assert_eq!(first["connection"], second["connection"]);
    assert_eq!(second["timings"]["connect"], -1.0);
    assert_eq!(second["timings"]["dns"], -1.0);
    assert!(first["timings"]["connect"].as_f64().unwrap() >= 0.0);
    assert_eq!(first["serverIPAddress"], "127.0.0.1");
    let sent: Vec<&str> = first["request"]["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["name"].as_str().unwrap())
        .collect();
    assert!(sent.contains(&"Host"), "{sent:?}");
    for e in &entries {
        assert_har_times_add_up(e);
    }
}

#[test]
fn har_of_https_counts_ssl_inside_connect_and_keeps_failures() {
    let (port, pem) = serve_https(1);
    let url = format!("https://localhost:{port}/");
    let refused = format!("http://127.0.0.1:{}/", closed_port());
    let file = std::env::temp_dir().join(format!("roundtrip-cli-{}.har", closed_port()));
    let r = run(&[
        "-s",
        "--har",
        file.to_str().unwrap(),
        "--cacert",
        pem.to_str().unwrap(),
        &url,
        &refused,
    ]);
    assert_eq!(r.code, Some(7), "the refused one fails: {}", r.stderr);
    validate_har(&file);
    let entries = read_har(&file);
    let _ = std::fs::remove_file(&file);
    assert_eq!(entries.len(), 2, "{entries:?}");
    let tls = &entries[0];
    assert_eq!(tls["response"]["status"], 200);
    let ssl = tls["timings"]["ssl"].as_f64().unwrap();
    assert!(ssl > 0.0, "{tls}");
    assert!(
        tls["timings"]["dns"].as_f64().unwrap() >= 0.0,
        "localhost is looked up"
    );
    assert_har_times_add_up(tls);
    let failed = &entries[1];
    assert_eq!(failed["request"]["url"], refused.as_str());
    assert_eq!(failed["response"]["status"], 0);
    assert_eq!(failed["response"]["httpVersion"], "", "no head, no version");
    assert!(
        failed["_error"].as_str().unwrap().contains("connect"),
        "{failed}"
    );
    assert_eq!(failed["timings"]["connect"], -1.0);
    assert_har_times_add_up(failed);

    let r = run(&["--har", "/nonexistent-dir/x.har", &refused]);
    assert_eq!(r.code, Some(7), "the transfer's failure comes first");
    assert!(
        r.stderr.contains("cannot write /nonexistent-dir/x.har"),
        "{}",
        r.stderr
    );
}

/// `text` escaped for XML, as the SVG carries it.
fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// Renders each SVG with rsvg-convert, which must accept it and write a
/// PNG. Without rsvg-convert, prints a SKIPPED line and returns, unless
/// ROUNDTRIP_INTEROP=require makes that a failure.
fn rsvg_renders(svgs: &[&std::path::Path]) {
    for svg in svgs {
        let png = svg.with_extension("png");
        let out = match Command::new("rsvg-convert")
            .arg("-o")
            .arg(&png)
            .arg(svg)
            .output()
        {
            Ok(out) => out,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                match std::env::var("ROUNDTRIP_INTEROP").as_deref() {
                    Ok("require") => panic!(
                        "ROUNDTRIP_INTEROP=require but rsvg-convert is not installed \
                         (Debian: apt-get install librsvg2-bin)"
                    ),
                    _ => {
                        eprintln!("SKIPPED: rsvg-convert not installed");
                        return;
                    }
                }
            }
            Err(e) => panic!("rsvg-convert did not run: {e}"),
        };
        assert!(
            out.status.success(),
            "rsvg-convert rejected {}: {}",
            svg.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let bytes = std::fs::read(&png).unwrap();
        let _ = std::fs::remove_file(&png);
        assert_eq!(
            bytes.get(..8),
            Some(&b"\x89PNG\r\n\x1a\n"[..]),
            "{} is not a PNG",
            png.display()
        );
    }
}

#[test]
fn waterfall_svg_writes_every_request_and_failures_as_an_image() {
    let dir = std::env::temp_dir();
    let ok_svg = dir.join(format!("roundtrip-cli-{}-ok.svg", std::process::id()));
    let failed_svg = dir.join(format!("roundtrip-cli-{}-failed.svg", std::process::id()));
    let server = serve_text("hi\n");
    let first = server.url("/a");
    let second = server.url("/b?x=1&y=2");
    let r = run(&[
        "--waterfall-svg",
        ok_svg.to_str().unwrap(),
        "-o",
        "/dev/null",
        &first,
        &second,
    ]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(r.stderr.is_empty(), "no waterfall on stderr: {}", r.stderr);
    assert_eq!(server.accepted(), 1, "the second URL reuses the connection");
    let svg = std::fs::read_to_string(&ok_svg).unwrap();
    assert!(svg.starts_with("<?xml"), "{svg}");
    assert!(
        svg.contains(r#"<svg xmlns="http://www.w3.org/2000/svg""#),
        "{svg}"
    );
    assert!(svg.trim_end().ends_with("</svg>"), "{svg}");
    let at = |needle: &str| {
        svg.find(needle)
            .unwrap_or_else(|| panic!("{needle:?} not in {svg}"))
    };
    let (a, b) = (
        at(&format!(">GET {}<", xml_escape(&first))),
        at(&format!(">GET {}<", xml_escape(&second))),
    );
    assert!(a < b, "requests in order: {svg}");
    assert!(!svg.contains("&y=2"), "& is escaped: {svg}");
    let (first_part, second_part) = svg.split_at(b);
    assert!(first_part.contains("connect #1 tcp4"), "{first_part}");
    assert!(
        first_part.contains("200, 3 bytes, new connection"),
        "{first_part}"
    );
    for phase in ["dns", "connect", "tls"] {
        assert!(second_part.contains(&format!(">{phase}<")), "{second_part}");
    }
    assert!(
        second_part.contains("skipped (connection reused)"),
        "{second_part}"
    );
    assert!(
        second_part.contains("200, 3 bytes, reused connection"),
        "{second_part}"
    );

    let refused = format!("http://127.0.0.1:{}/", closed_port());
    let r = run(&["--waterfall-svg", failed_svg.to_str().unwrap(), &refused]);
    assert_eq!(r.code, Some(7), "{}", r.stderr);
    let error = r
        .stderr
        .trim_end()
        .strip_prefix(&format!("roundtrip: {refused}: "))
        .unwrap_or_else(|| panic!("one error line: {}", r.stderr));
    let failed = std::fs::read_to_string(&failed_svg).unwrap();
    assert!(failed.contains(&format!(">GET {refused}<")), "{failed}");
    assert!(
        failed.contains(&format!("failed: {}", xml_escape(error))),
        "{error:?} in {failed}"
    );
    assert!(failed.contains("Connection refused"), "{failed}");

    // Well-formed: rsvg-convert parses both and renders them (when it is
    // installed; a SKIPPED line otherwise).
    rsvg_renders(&[&ok_svg, &failed_svg]);
    let _ = std::fs::remove_file(&ok_svg);
    let _ = std::fs::remove_file(&failed_svg);
}

#[test]
fn waterfall_svg_that_cannot_be_written_is_exit_23_after_the_transfer() {
    let server = serve_text("body\n");
    let r = run(&[
        "--waterfall-svg",
        "/nonexistent/roundtrip/w.svg",
        &server.url("/"),
    ]);
    assert_eq!(r.code, Some(23), "{}", r.stderr);
    assert_eq!(r.stdout(), "body\n");
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(
        r.stderr
            .starts_with("roundtrip: cannot write /nonexistent/roundtrip/w.svg: "),
        "{}",
        r.stderr
    );
    let r = run(&["--waterfall-svg=", &server.url("/")]);
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(r.stderr.contains("needs a file name"), "{}", r.stderr);
}

#[test]
fn server_timing_is_drawn_under_the_wait() {
    let server = serve(|_| {
        (
            b"HTTP/1.1 200 OK\r\nServer-Timing: db;dur=0.2;desc=\"query, cached\"\r\nContent-Length: 3\r\n\r\nok\n"
                .to_vec(),
            false,
        )
    });
    let r = run(&["--waterfall", "--no-color", &server.url("/")]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let lines: Vec<&str> = r.stderr.lines().collect();
    let wait = lines
        .iter()
        .position(|l| l.trim_start().starts_with("wait"))
        .unwrap();
    assert!(
        lines[wait + 1].contains("server db") && lines[wait + 1].contains("server-timing"),
        "{}",
        r.stderr
    );
}

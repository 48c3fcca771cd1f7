//! What the CGI-capable real servers of the interop layer (lighttpd,
//! Apache) share: the three CGI programs they serve, the client-side
//! helpers to fetch and to count connections, and the checks both
//! servers' tests run (`interop_lighttpd.rs`, `interop_apache.rs`).
//!
//! | program       | what                                                        |
//! |---------------|-------------------------------------------------------------|
//! | `lines.sh`    | [`lines_text`], with a pause halfway: length unknown, so chunked |
//! | `echo.sh`     | the request body back, after a line naming method and length |
//! | `status.sh?N` | an empty response with status N (204 and 304 have no body)  |

use std::path::Path;
use std::sync::{Arc, Mutex};

use http::{header, Method, Request, StatusCode};
use roundtrip::{Client, EventKind, SendBody, Trace};

/// How many lines `lines.sh` prints.
pub const LINES: usize = 200;

/// What `lines.sh` prints.
pub fn lines_text() -> String {
    (0..LINES)
        .map(|i| format!("line {i} of a CGI answer\n"))
        .collect()
}

// Each starts with `#!/bin/sh` for servers that execute the file (Apache)
// and is plain shell for those that hand it to /bin/sh (lighttpd).
const LINES_CGI: &str = r#"#!/bin/sh
printf 'Content-Type: text/plain\r\n\r\n'
i=0
while [ $i -lt 200 ]; do
  echo "line $i of a CGI answer"
  i=$((i+1))
  # A pause mid-output, so the head must go before the end is known.
  [ $i -eq 100 ] && sleep 0.1
done
"#;
const ECHO_CGI: &str = r#"#!/bin/sh
printf 'Content-Type: application/octet-stream\r\n\r\n'
echo "method=$REQUEST_METHOD length=${CONTENT_LENGTH:-none}"
exec cat
"#;
const STATUS_CGI: &str = r#"#!/bin/sh
printf 'Status: %s\r\nX-Cgi: status\r\n\r\n' "$QUERY_STRING"
"#;

/// Writes the three programs into `dir`, executable by anyone.
pub fn write_programs(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    for (name, text) in [
        ("lines.sh", LINES_CGI),
        ("echo.sh", ECHO_CGI),
        ("status.sh", STATUS_CGI),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, text)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(())
}

/// A client whose trace records `reused` of every `got_conn`.
pub fn client() -> (Client, Arc<Mutex<Vec<bool>>>) {
    let reused = Arc::new(Mutex::new(Vec::new()));
    let log = reused.clone();
    let trace = Trace::new().on_event(move |e| {
        if let EventKind::GotConn { reused, .. } = e.kind {
            log.lock().unwrap().push(reused);
        }
    });
    (Client::builder().trace(trace).build(), reused)
}

/// Asserts that `requests` requests went over one connection.
pub fn one_connection(reused: &Mutex<Vec<bool>>, requests: usize) {
    let mut want = vec![true; requests];
    want[0] = false;
    assert_eq!(*reused.lock().unwrap(), want, "one connection for all");
}

/// Sends `req`, expecting `status`, and returns the whole body.
pub fn fetch(client: &Client, req: Request<SendBody>, status: StatusCode) -> Vec<u8> {
    let what = format!("{} {}", req.method(), req.uri());
    let resp = client.send(req).unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(resp.status(), status, "{what}");
    resp.into_body()
        .bytes()
        .unwrap_or_else(|e| panic!("{what} body: {e}"))
}

/// A GET of `url` without a body.
pub fn get(url: String) -> Request<SendBody> {
    Request::get(url).body(SendBody::empty()).unwrap()
}

/// A server under test: where its paths are, and what its two static
/// files (`/small.txt`, `/random-1m.bin`) hold.
pub struct Served<'a> {
    /// `http://127.0.0.1:<port><path>`.
    pub url: &'a dyn Fn(&str) -> String,
    /// `/small.txt`.
    pub small: &'a str,
    /// `/random-1m.bin`.
    pub big: &'a [u8],
}

/// Runs `f` on the server whose paths `url` makes, whose static files
/// hold `small` and `big`: what each server's test file wraps around its
/// own start-up.
pub fn with_served(
    url: impl Fn(&str) -> String,
    small: &str,
    big: &[u8],
    f: impl FnOnce(&Served<'_>),
) {
    f(&Served {
        url: &url,
        small,
        big,
    });
}

/// The small file (its head as sent names `server`), the 1 MiB file and a
/// range of it, on one connection.
pub fn static_files_and_a_range(s: &Served<'_>, server: &str) {
    let (client, reused) = client();
    let resp = client.get(&(s.url)("/small.txt")).unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let raw = String::from_utf8(resp.body().raw_head().to_vec()).unwrap();
    assert!(raw.starts_with("HTTP/1.1 200 OK\r\n"), "{raw:?}");
    assert!(raw.contains(&format!("\r\nServer: {server}")), "{raw:?}");
    assert!(raw.ends_with("\r\n\r\n"), "{raw:?}");
    assert_eq!(resp.into_body().text().unwrap(), s.small);

    let big = fetch(&client, get((s.url)("/random-1m.bin")), StatusCode::OK);
    assert!(big == s.big, "1 MiB file: {} bytes differ", big.len());

    let range = Request::get((s.url)("/random-1m.bin"))
        .header(header::RANGE, "bytes=1000-1099")
        .body(SendBody::empty())
        .unwrap();
    let part = fetch(&client, range, StatusCode::PARTIAL_CONTENT);
    assert_eq!(part, s.big[1000..1100]);
    one_connection(&reused, 3);
}

/// `lines.sh` three times (chunked: its length is unknown when the head
/// goes), then the small file, on one connection.
pub fn chunked_cgi_output(s: &Served<'_>) {
    let (client, reused) = client();
    for _ in 0..3 {
        let resp = client.get(&(s.url)("/cgi/lines.sh")).unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()[header::TRANSFER_ENCODING], "chunked");
        assert!(!resp.headers().contains_key(header::CONTENT_LENGTH));
        assert_eq!(resp.into_body().text().unwrap(), lines_text());
    }
    assert_eq!(
        fetch(&client, get((s.url)("/small.txt")), StatusCode::OK),
        s.small.as_bytes()
    );
    one_connection(&reused, 4);
}

/// 204 and 304 from a CGI program, HEAD of a file and of a program, then
/// a GET, on one connection.
pub fn bodiless_answers_and_head(s: &Served<'_>) {
    let (client, reused) = client();
    let cases = [
        (Method::GET, "/cgi/status.sh?204", StatusCode::NO_CONTENT),
        (Method::GET, "/cgi/status.sh?304", StatusCode::NOT_MODIFIED),
        (Method::HEAD, "/random-1m.bin", StatusCode::OK),
        (Method::HEAD, "/cgi/lines.sh", StatusCode::OK),
        (Method::GET, "/small.txt", StatusCode::OK),
    ];
    for (method, path, status) in cases {
        let req = Request::builder()
            .method(method.clone())
            .uri((s.url)(path))
            .body(SendBody::empty())
            .unwrap();
        let body = fetch(&client, req, status);
        let want: &[u8] = if path == "/small.txt" {
            s.small.as_bytes()
        } else {
            b""
        };
        assert_eq!(body, want, "{method} {path}");
    }
    one_connection(&reused, 5);
}

/// `data` POSTed to `echo.sh` with a length, after `Expect:
/// 100-continue`, and chunked (the program then sees `chunked_length`
/// as its CONTENT_LENGTH), on one connection.
pub fn echoed_bodies(s: &Served<'_>, data: &[u8], chunked_length: &str) {
    let (client, reused) = client();
    let url = (s.url)("/cgi/echo.sh");
    let echoed = |length: &str| {
        let mut want = format!("method=POST length={length}\n").into_bytes();
        want.extend_from_slice(data);
        want
    };
    let post = |body: SendBody, expect: bool| {
        let mut req = Request::post(url.clone());
        if expect {
            req = req.header(header::EXPECT, "100-continue");
        }
        req.body(body).unwrap()
    };
    let len = data.len().to_string();
    let got = fetch(&client, post(data.to_vec().into(), false), StatusCode::OK);
    assert!(got == echoed(&len), "with a length: {} bytes", got.len());
    let got = fetch(&client, post(data.to_vec().into(), true), StatusCode::OK);
    assert!(
        got == echoed(&len),
        "after 100-continue: {} bytes",
        got.len()
    );
    // Of unknown length, so sent chunked.
    let reader = SendBody::from_reader(std::io::Cursor::new(data.to_vec()));
    let got = fetch(&client, post(reader, false), StatusCode::OK);
    assert!(
        got == echoed(chunked_length),
        "chunked: {} bytes",
        got.len()
    );
    one_connection(&reused, 3);
}

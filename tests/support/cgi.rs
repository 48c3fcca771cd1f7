//! What the CGI-capable real servers of the interop layer (lighttpd,
//! Apache) share: the three CGI programs they serve, and the client-side
//! helpers their tests use to fetch and to count connections.
//!
//! | program       | what                                                        |
//! |---------------|-------------------------------------------------------------|
//! | `lines.sh`    | [`lines_text`], with a pause halfway: length unknown, so chunked |
//! | `echo.sh`     | the request body back, after a line naming method and length |
//! | `status.sh?N` | an empty response with status N (204 and 304 have no body)  |

use std::path::Path;
use std::sync::{Arc, Mutex};

use http::{Request, StatusCode};
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

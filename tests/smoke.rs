#![forbid(unsafe_code)]

mod support;
use support::*;

#[test]
fn get_then_reuse() {
    let server = serve(vec![respond(vec![
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n",
    ])]);
    let client = roundtrip::Client::new();
    let rec = Recorder::default();
    let req = http::Request::get(server.url("/x")).body(()).unwrap();
    let resp = client.send_traced(req, rec.trace()).unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.into_body().text().unwrap(), "hello");
    for l in rec.lines() {
        println!("{l}");
    }
    rec.clear();
    let req = http::Request::get(server.url("/y")).body(()).unwrap();
    let resp = client.send_traced(req, rec.trace()).unwrap();
    let mut body = resp.into_body();
    let mut s = String::new();
    std::io::Read::read_to_string(&mut body, &mut s).unwrap();
    assert_eq!(s, "abc");
    assert_eq!(body.trailers().unwrap()["x-t"], "1");
    for l in rec.lines() {
        println!("{l}");
    }
    drop(client);
}

/// `Body::raw_head` is the final head byte for byte: the server's reason
/// phrase and name case, an obs-fold as sent (the parsed value is
/// unfolded), a higher HTTP/1 minor version as sent (read as 1.1), and
/// none of the 1xx head before it; the body and the next response on the
/// connection are untouched by it.
#[test]
fn raw_head_is_the_final_head_as_sent() {
    const FIRST: &[u8] =
        b"HTTP/1.1 200 Fine Thanks\r\nX-MiXed-Case: a\r\n  folded\r\nContent-Length: 5\r\n\r\n";
    const SECOND: &[u8] = b"HTTP/1.7 201 Made\r\ncontent-length: 2\r\n\r\n";
    let server = serve(vec![respond(vec![
        b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 Fine Thanks\r\nX-MiXed-Case: a\r\n  folded\r\nContent-Length: 5\r\n\r\nhello",
        b"HTTP/1.7 201 Made\r\ncontent-length: 2\r\n\r\nok",
    ])]);
    let client = roundtrip::Client::new();
    // The events carry every head as sent: the 1xx one too.
    let heads = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = heads.clone();
    let trace = roundtrip::Trace::new().on_event(move |e| match &e.kind {
        roundtrip::EventKind::Got1xxResponse { raw_head, .. } => {
            seen.lock().unwrap().push((103, raw_head.to_vec()))
        }
        roundtrip::EventKind::GotResponseHeaders { raw_head, .. } => {
            seen.lock().unwrap().push((200, raw_head.to_vec()))
        }
        _ => {}
    });
    let req = http::Request::get(server.url("/a")).body(()).unwrap();
    let resp = client.send_traced(req, trace).unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-mixed-case"], "a    folded");
    let body = resp.into_body();
    assert_eq!(body.raw_head(), FIRST);
    assert_eq!(
        *heads.lock().unwrap(),
        [
            (
                103,
                b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n".to_vec()
            ),
            (200, FIRST.to_vec())
        ]
    );
    assert_eq!(body.text().unwrap(), "hello");
    let resp = client.get(&server.url("/b")).unwrap();
    assert_eq!(resp.status(), 201);
    assert_eq!(resp.version(), http::Version::HTTP_11);
    assert_eq!(resp.body().raw_head(), SECOND);
    let mut body = resp.into_body();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut body, &mut rest).unwrap();
    assert_eq!(rest, "ok");
    // Still there once the body has been read to its end.
    assert_eq!(body.raw_head(), SECOND);
}

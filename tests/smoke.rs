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

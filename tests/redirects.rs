//! Following redirects (issue #6, RFC 9110 §15.4) against in-test servers:
//! each status code's method and body rule, relative locations, origin
//! changes dropping credentials, limits and loops, and the trace spanning
//! the chain.

#![forbid(unsafe_code)]

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use roundtrip::{Client, ErrorKind, RequestOptions, SendBody};
use support::tls::{client_trusting_with, server_config, Ca, TlsServer};
use support::Recorder;

#[derive(Clone, Debug)]
struct Seen {
    method: String,
    path: String,
    head: String,
    body: Vec<u8>,
}

/// A keep-alive server answering each request with `route(path)`.
fn server(route: fn(&str) -> String) -> (SocketAddr, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { return };
            let log = log.clone();
            std::thread::spawn(move || {
                s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                loop {
                    let mut head = Vec::new();
                    let mut b = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") {
                        if s.read(&mut b).unwrap_or(0) == 0 {
                            return;
                        }
                        head.push(b[0]);
                    }
                    let head = String::from_utf8_lossy(&head).into_owned();
                    let len = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap())
                        })
                        .unwrap_or(0);
                    let mut body = vec![0u8; len];
                    s.read_exact(&mut body).unwrap();
                    let mut words = head.split_whitespace();
                    let method = words.next().unwrap().to_owned();
                    let path = words.next().unwrap().to_owned();
                    let reply = route(&path);
                    log.lock().unwrap().push(Seen {
                        method,
                        path,
                        head,
                        body,
                    });
                    if s.write_all(reply.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, seen)
}

fn redirect(status: u16, location: &str) -> String {
    format!("HTTP/1.1 {status} Moved\r\nLocation: {location}\r\nContent-Length: 4\r\n\r\nmove")
}

fn ok(body: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

fn following() -> Client {
    Client::builder()
        .configure(|c| c.follow_redirects = true)
        .build()
}

#[test]
fn off_by_default_and_a_relative_chain_when_on() {
    let (addr, seen) = server(|p| match p {
        "/a/one" => redirect(302, "two"),
        "/a/two" => redirect(301, "../b?x=1"),
        _ => ok("end"),
    });
    let url = format!("http://{addr}/a/one");
    let resp = Client::new().get(&url).unwrap();
    assert_eq!(resp.status(), 302, "curl does not follow by default");
    drop(resp);

    let rec = Recorder::default();
    let req = http::Request::get(&url).body(()).unwrap();
    let resp = following().send_traced(req, rec.trace()).unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.into_body().text().unwrap(), "end");
    let paths: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|s| s.path.clone())
        .collect();
    assert_eq!(paths, ["/a/one", "/a/one", "/a/two", "/b?x=1"]);
    let names = rec.names();
    assert_eq!(names.iter().filter(|n| *n == "redirect").count(), 2);
    assert_eq!(names.iter().filter(|n| *n == "request_done").count(), 1);
    assert_eq!(names.last().unwrap(), "request_done");
    let lines = rec.lines();
    let r = lines
        .iter()
        .find(|l| l.contains(r#""event":"redirect""#))
        .unwrap();
    assert!(
        r.contains(&format!(
            r#""from":"http://{addr}/a/one","to":"http://{addr}/a/two","status":302"#
        )),
        "{r}"
    );
    // Every event after the first redirect carries its hop.
    let last = lines.last().unwrap();
    assert!(last.contains(r#""hop":2"#), "{last}");
    // Timings span the chain, as curl's.
    let mut b = following().get(&url).unwrap().into_body();
    std::io::copy(&mut b, &mut std::io::sink()).unwrap();
    let t = b.timings().unwrap();
    assert_eq!(t.num_redirects(), 2);
    let hops = t.earlier_hops();
    assert_eq!(hops.len(), 2, "per-hop timings for each redirect");
    assert!(hops
        .iter()
        .all(|h| h.wait().duration().is_some() && h.total().is_some()));
    assert!(t.redirect() > std::time::Duration::ZERO);
    assert!(
        t.starttransfer() >= t.redirect(),
        "cumulative times include the redirects"
    );
    assert!(t.total().unwrap() >= t.starttransfer());
    // The redirect bodies were complete, so one connection served all hops.
    assert_eq!(names.iter().filter(|n| *n == "connect_start").count(), 1);
}

#[test]
fn method_and_body_rules_per_status() {
    let (addr, seen) = server(|p| match p {
        "/301" => redirect(301, "/end"),
        "/302" => redirect(302, "/end"),
        "/303" => redirect(303, "/end"),
        "/307" => redirect(307, "/end"),
        "/308" => redirect(308, "/end"),
        _ => ok("end"),
    });
    let client = following();
    let cases = [
        ("POST", "/301", "GET", ""),
        ("POST", "/302", "GET", ""),
        ("PUT", "/302", "PUT", "data"),
        ("POST", "/303", "GET", ""),
        ("HEAD", "/303", "HEAD", ""),
        ("POST", "/307", "POST", "data"),
        ("PUT", "/308", "PUT", "data"),
    ];
    for (method, path, want_method, want_body) in cases {
        seen.lock().unwrap().clear();
        let body = if method == "HEAD" {
            SendBody::empty()
        } else {
            SendBody::from("data")
        };
        let req = http::Request::builder()
            .method(method)
            .uri(format!("http://{addr}{path}"))
            .header("content-type", "text/plain")
            .body(body)
            .unwrap();
        let resp = client.send(req).unwrap();
        assert_eq!(resp.status(), 200, "{method} {path}");
        drop(resp);
        let last = seen.lock().unwrap().last().cloned().unwrap();
        assert_eq!(
            (last.method.as_str(), last.path.as_str()),
            (want_method, "/end"),
            "{method} {path}"
        );
        assert_eq!(last.body, want_body.as_bytes(), "{method} {path}");
        let has_type = last.head.to_ascii_lowercase().contains("content-type:");
        assert_eq!(
            has_type,
            !want_body.is_empty(),
            "{method} {path}: {}",
            last.head
        );
    }
}

#[test]
fn a_streamed_body_is_not_replayed_the_redirect_comes_back() {
    let (addr, _) = server(|_| redirect(307, "/elsewhere"));
    let body = SendBody::from_reader(std::io::Cursor::new(b"stream".to_vec()));
    let req = http::Request::post(format!("http://{addr}/up"))
        .body(body)
        .unwrap();
    let resp = following().send(req).unwrap();
    assert_eq!(resp.status(), 307);
}

#[test]
fn leaving_the_origin_drops_credentials_and_cookies() {
    let (b_addr, b_seen) = server(|_| ok("b"));
    // The route cannot capture b's address: pass it through the path.
    let (a_addr, a_seen) = server(|p| match p.strip_prefix("/to/") {
        Some(target) => redirect(302, &format!("http://{target}/landing")),
        None => match p {
            "/same" => redirect(302, "/same-landing"),
            _ => ok("a"),
        },
    });
    let client = following();
    let send = |url: String| {
        let req = http::Request::get(url)
            .header("authorization", "Bearer secret")
            .header("cookie", "id=1")
            .header("proxy-authorization", "Basic cHJveHk6cHc=")
            .header("x-keep", "yes")
            .body(())
            .unwrap();
        client.send(req).unwrap().into_body().text().unwrap()
    };
    assert_eq!(send(format!("http://{a_addr}/to/{b_addr}")), "b");
    let at_b = b_seen
        .lock()
        .unwrap()
        .last()
        .cloned()
        .unwrap()
        .head
        .to_ascii_lowercase();
    assert!(
        !at_b.contains("authorization:") && !at_b.contains("cookie:"),
        "{at_b}"
    );
    assert!(!at_b.contains("proxy-authorization:"), "{at_b}");
    assert!(at_b.contains("x-keep: yes"), "{at_b}");
    assert_eq!(send(format!("http://{a_addr}/same")), "a");
    let at_a = a_seen
        .lock()
        .unwrap()
        .last()
        .cloned()
        .unwrap()
        .head
        .to_ascii_lowercase();
    assert!(
        at_a.contains("authorization: bearer secret") && at_a.contains("cookie: id=1"),
        "{at_a}"
    );
    assert!(
        at_a.contains(
            "proxy-authorization: basic cHJveHk6cHc="
                .to_ascii_lowercase()
                .as_str()
        ),
        "kept on the same origin: {at_a}"
    );
}

#[test]
fn https_to_http_is_refused_unless_allowed() {
    let (plain, plain_seen) = server(|_| ok("plain"));
    let ca = Ca::new("redirect test CA");
    let leaf = ca.leaf(&["localhost"], &[], None);
    let to_plain = redirect(302, &format!("http://{plain}/landing"));
    let to_plain: &'static [u8] = Box::leak(to_plain.into_bytes().into_boxed_slice());
    // One connection per client below.
    let tls = TlsServer::start(server_config(&leaf), 2, to_plain);
    let url = format!("https://localhost:{}/secure", tls.addr.port());

    let refused = client_trusting_with(&ca, |c| c.follow_redirects = true);
    let err = refused.get(&url).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::RedirectRefused { reason, .. } if reason.contains("https to http")),
        "{err}"
    );
    drop(refused);
    assert!(
        plain_seen.lock().unwrap().is_empty(),
        "nothing sent in clear"
    );

    let allowed = client_trusting_with(&ca, |c| {
        c.follow_redirects = true;
        c.allow_https_downgrade = true;
    });
    let body = allowed.get(&url).unwrap().into_body().text().unwrap();
    assert_eq!(body, "plain");
    drop(allowed);
    let seen = plain_seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/landing");
    tls.join();
}

#[test]
fn limits_and_loops_end_in_too_many_redirects() {
    let (addr, seen) = server(|p| match p {
        "/loop" => redirect(302, "/loop"),
        "/1" => redirect(302, "/2"),
        "/2" => redirect(302, "/3"),
        _ => ok("end"),
    });
    let err = following().get(&format!("http://{addr}/loop")).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::TooManyRedirects { max: 10 }),
        "{err}"
    );
    assert_eq!(
        seen.lock().unwrap().len(),
        11,
        "the first request and 10 redirects"
    );
    let mut req = http::Request::get(format!("http://{addr}/1"))
        .body(())
        .unwrap();
    req.extensions_mut().insert(
        RequestOptions::new()
            .follow_redirects(true)
            .max_redirects(1),
    );
    let err = Client::new().send(req).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::TooManyRedirects { max: 1 }),
        "{err}"
    );
    let mut req = http::Request::get(format!("http://{addr}/1"))
        .body(())
        .unwrap();
    req.extensions_mut().insert(
        RequestOptions::new()
            .follow_redirects(true)
            .max_redirects(2),
    );
    assert_eq!(
        Client::new().send(req).unwrap().into_body().text().unwrap(),
        "end"
    );
}

#[test]
fn unusable_locations_are_refused() {
    let (addr, _) = server(|p| match p {
        "/ftp" => redirect(302, "ftp://example.test/file"),
        _ => ok("end"),
    });
    let err = following().get(&format!("http://{addr}/ftp")).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::RedirectRefused { .. }),
        "{err}"
    );
}

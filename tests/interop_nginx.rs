//! Interop with a real nginx (DESIGN.md, "Testing layers", 4): static
//! files of every size byte-compared with the disk, HEAD, a chunked (SSI)
//! response, keep-alive reuse counted through the trace, 404, a concurrent
//! batch, request bodies (POST, WebDAV PUT with Content-Length, chunked and
//! `Expect: 100-continue`; refused early with 405 and 413), bodiless
//! responses (HEAD, 204, 304), ranges, and connections nginx closes itself.
//!
//! Each test starts its own nginx on a loopback port (tests/support/nginx.rs).
//! Without nginx they print `SKIPPED` and pass, unless
//! `ROUNDTRIP_INTEROP=require`, which makes them fail.

#![forbid(unsafe_code)]

mod support;

use std::collections::HashMap;
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{header, Method, Request, StatusCode};
use roundtrip::{Client, CloseReason, ConnId, EventKind, RequestId, SendBody, Trace};
use support::interop::pseudo_random;
use support::nginx::{
    nginx_or_skip, nginx_with_or_skip, standard_locations, ExtraServer, Nginx, Options, BIG_8M,
    EMPTY, RANDOM_1M, SMALL, SSI,
};

/// The connection-level facts of one event.
#[derive(Debug, Clone)]
struct Seen {
    name: &'static str,
    /// `got_conn`: the connection and whether it was reused.
    got: Option<(ConnId, bool)>,
    /// `put_idle_conn`: why it was not pooled (`None`: pooled).
    put: Option<Option<CloseReason>>,
    /// `response_body_done`: bytes, and whether it failed.
    body_done: Option<(u64, bool)>,
}

/// Records every event of a client (a client-wide trace).
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<Seen>>>);

impl Log {
    fn trace(&self) -> Trace {
        let log = self.0.clone();
        Trace::new().on_event(move |e| {
            let mut seen = Seen {
                name: e.kind.name(),
                got: None,
                put: None,
                body_done: None,
            };
            match &e.kind {
                EventKind::GotConn { conn, reused, .. } => seen.got = Some((*conn, *reused)),
                EventKind::PutIdleConn { error, .. } => seen.put = Some(*error),
                EventKind::ResponseBodyDone { bytes, error, .. } => {
                    seen.body_done = Some((*bytes, error.is_some()))
                }
                _ => {}
            }
            log.lock().unwrap().push(seen);
        })
    }

    fn events(&self) -> Vec<Seen> {
        self.0.lock().unwrap().clone()
    }

    fn count(&self, name: &str) -> usize {
        self.events().iter().filter(|s| s.name == name).count()
    }

    /// `reused` of every `got_conn`, in order.
    fn reused(&self) -> Vec<bool> {
        self.events()
            .iter()
            .filter_map(|s| s.got)
            .map(|g| g.1)
            .collect()
    }

    /// The reason of every `put_idle_conn`, in order (`None`: pooled).
    fn puts(&self) -> Vec<Option<CloseReason>> {
        self.events().iter().filter_map(|s| s.put).collect()
    }

    fn names(&self) -> Vec<&'static str> {
        self.events().iter().map(|s| s.name).collect()
    }
}

fn traced_client() -> (Client, Log) {
    let log = Log::default();
    let client = Client::builder().trace(log.trace()).build();
    (client, log)
}

/// GET, asserting 200 and reading the whole body.
fn get_body(client: &Client, url: &str) -> Vec<u8> {
    let resp = client.get(url).unwrap_or_else(|e| panic!("GET {url}: {e}"));
    assert_eq!(resp.status(), StatusCode::OK, "GET {url}");
    resp.into_body()
        .bytes()
        .unwrap_or_else(|e| panic!("GET {url} body: {e}"))
}

fn header(resp: &http::Response<roundtrip::Body>, name: header::HeaderName) -> &str {
    resp.headers()
        .get(&name)
        .unwrap_or_else(|| panic!("no {name} in {:?}", resp.headers()))
        .to_str()
        .unwrap()
}

/// Compares without printing megabytes on failure.
#[track_caller]
fn assert_same_bytes(got: &[u8], want: &[u8], what: &str) {
    if got != want {
        let first = got.iter().zip(want).position(|(a, b)| a != b);
        panic!(
            "{what}: {} bytes received, {} expected; first difference at {first:?}",
            got.len(),
            want.len()
        );
    }
}

#[test]
fn static_files_match_the_disk() {
    let Some(nginx) = nginx_or_skip() else { return };
    let client = Client::new();
    for name in [SMALL, EMPTY, RANDOM_1M] {
        let want = nginx.file(name);
        let resp = client.get(&nginx.url(&format!("/{name}"))).unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{name}");
        assert_eq!(
            header(&resp, header::CONTENT_LENGTH),
            want.len().to_string(),
            "{name}"
        );
        assert!(resp.headers().get(header::TRANSFER_ENCODING).is_none());
        let body = resp.into_body().bytes().unwrap();
        assert_same_bytes(&body, &want, name);
    }
    let resp = client.get(&nginx.url("/small.txt")).unwrap();
    assert_eq!(header(&resp, header::CONTENT_TYPE), "text/plain");
    assert_eq!(resp.version(), http::Version::HTTP_11);
}

#[test]
fn big_file_streams_through_small_reads() {
    let Some(nginx) = nginx_or_skip() else { return };
    let (client, log) = traced_client();
    let want = nginx.file(BIG_8M);
    let resp = client.get(&nginx.url(&format!("/{BIG_8M}"))).unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        header(&resp, header::CONTENT_LENGTH),
        want.len().to_string()
    );
    let mut body = resp.into_body();
    let mut got = Vec::with_capacity(want.len());
    let mut buf = [0u8; 1000];
    let mut reads = 0usize;
    loop {
        let n = body.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        assert!(n <= buf.len());
        got.extend_from_slice(&buf[..n]);
        reads += 1;
    }
    assert_same_bytes(&got, &want, BIG_8M);
    assert!(reads >= want.len() / buf.len(), "{reads} reads");
    // Reading on after the end keeps returning 0.
    assert_eq!(body.read(&mut buf).unwrap(), 0);
    drop(body);
    let done: Vec<_> = log.events().iter().filter_map(|s| s.body_done).collect();
    assert_eq!(done, [(want.len() as u64, false)]);
    assert_eq!(
        log.puts(),
        [None],
        "the connection is pooled after the body"
    );
}

#[test]
fn head_has_a_length_but_no_body_and_keeps_the_connection() {
    let Some(nginx) = nginx_or_skip() else { return };
    let (client, log) = traced_client();
    let url = nginx.url(&format!("/{RANDOM_1M}"));
    let resp = client.send(Request::head(&url).body(()).unwrap()).unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(header(&resp, header::CONTENT_LENGTH), "1048576");
    assert!(resp.into_body().bytes().unwrap().is_empty());

    // The 1 MiB that HEAD announced must not be expected on the wire: the
    // next request reuses the connection and gets its own response.
    assert_same_bytes(
        &get_body(&client, &nginx.url("/small.txt")),
        &nginx.file(SMALL),
        "GET after HEAD",
    );
    assert_eq!(log.count("connect_start"), 1);
    assert_eq!(log.reused(), [false, true]);
    assert_eq!(log.puts(), [None, None]);
}

#[test]
fn chunked_response_from_ssi() {
    let Some(nginx) = nginx_or_skip() else { return };
    let (client, log) = traced_client();
    let resp = client.get(&nginx.url(&format!("/{SSI}"))).unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(header(&resp, header::TRANSFER_ENCODING), "chunked");
    assert!(resp.headers().get(header::CONTENT_LENGTH).is_none());
    assert_eq!(header(&resp, header::CONTENT_TYPE), "text/html");
    let mut body = resp.into_body();
    let mut got = Vec::new();
    body.read_to_end(&mut got).unwrap();
    let want = nginx.ssi_expected();
    assert_same_bytes(&got, &want, "SSI output");
    if let Some(trailers) = body.trailers() {
        assert!(trailers.is_empty(), "nginx sends no trailers: {trailers:?}");
    }
    drop(body);

    // The last chunk ended the message: the connection is reused.
    assert_same_bytes(
        &get_body(&client, &nginx.url(&format!("/{SSI}"))),
        &want,
        "second SSI output",
    );
    assert_eq!(log.count("connect_start"), 1);
    assert_eq!(log.reused(), [false, true]);
}

#[test]
fn twenty_sequential_requests_share_one_connection() {
    let Some(nginx) = nginx_or_skip() else { return };
    let (client, log) = traced_client();
    // Content-Length, empty and chunked responses alternate on one
    // connection: each framing must end exactly where it should.
    let names = [SMALL, EMPTY, RANDOM_1M, SSI];
    let files: HashMap<&str, Vec<u8>> = names
        .iter()
        .map(|&n| {
            let want = if n == SSI {
                nginx.ssi_expected()
            } else {
                nginx.file(n)
            };
            (n, want)
        })
        .collect();
    for i in 0..20 {
        let name = names[i % names.len()];
        let got = get_body(&client, &nginx.url(&format!("/{name}")));
        assert_same_bytes(&got, &files[name], &format!("request {i}: {name}"));
    }
    assert_eq!(log.count("connect_start"), 1, "{:?}", log.names());
    assert_eq!(log.count("get_conn"), 20);
    let reused = log.reused();
    assert_eq!(reused.len(), 20);
    assert!(!reused[0]);
    assert_eq!(reused.iter().filter(|r| **r).count(), 19);
    let conns: Vec<ConnId> = log
        .events()
        .iter()
        .filter_map(|s| s.got)
        .map(|g| g.0)
        .collect();
    assert!(conns.iter().all(|c| *c == conns[0]), "{conns:?}");
    assert_eq!(log.puts(), vec![None; 20]);
    assert_eq!(log.count("request_done"), 20);
    assert_eq!(client.idle_connections(), 1);
}

#[test]
fn responses_without_a_body_keep_the_connection() {
    let Some(nginx) = nginx_or_skip() else { return };
    let (client, log) = traced_client();

    // HEAD of a resource nginx would send chunked.
    let req = Request::head(nginx.url(&format!("/{SSI}")))
        .body(())
        .unwrap();
    let resp = client.send(req).unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.into_body().bytes().unwrap().is_empty());

    // 204 from `return 204`.
    let resp = client.get(&nginx.url("/no-content")).unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert!(resp.into_body().bytes().unwrap().is_empty());

    // 304 for a matching validator: the headers of a 1 MiB file, no body.
    let url = nginx.url(&format!("/{RANDOM_1M}"));
    let resp = client.get(&url).unwrap();
    let etag = resp.headers()[header::ETAG].clone();
    assert_eq!(resp.into_body().bytes().unwrap().len(), 1 << 20);
    let req = Request::get(&url)
        .header(header::IF_NONE_MATCH, etag.clone())
        .body(())
        .unwrap();
    let resp = client.send(req).unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(resp.headers()[header::ETAG], etag);
    assert!(resp.into_body().bytes().unwrap().is_empty());

    // Had any of them expected a body, this would time out or misparse.
    assert_same_bytes(
        &get_body(&client, &nginx.url("/small.txt")),
        &nginx.file(SMALL),
        "GET after the bodiless responses",
    );
    assert_eq!(log.count("connect_start"), 1, "{:?}", log.names());
    assert_eq!(log.puts(), vec![None; 5]);
}

#[test]
fn connection_close_from_the_client() {
    let Some(nginx) = nginx_or_skip() else { return };
    let (client, log) = traced_client();
    let url = nginx.url(&format!("/{RANDOM_1M}"));
    let req = Request::get(&url)
        .header(header::CONNECTION, "close")
        .body(())
        .unwrap();
    let resp = client.send(req).unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(header(&resp, header::CONNECTION), "close");
    assert_same_bytes(
        &resp.into_body().bytes().unwrap(),
        &nginx.file(RANDOM_1M),
        "body",
    );
    assert_same_bytes(&get_body(&client, &url), &nginx.file(RANDOM_1M), "second");
    assert_eq!(log.puts(), [Some(CloseReason::ConnectionClose), None]);
    assert_eq!(log.reused(), [false, false]);
    assert_eq!(log.count("connect_start"), 2);
}

#[test]
fn not_found_is_a_response_not_an_error() {
    let Some(nginx) = nginx_or_skip() else { return };
    let (client, log) = traced_client();
    let resp = client.get(&nginx.url("/no/such/file.txt")).unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert_eq!(header(&resp, header::CONTENT_TYPE), "text/html");
    let len: usize = header(&resp, header::CONTENT_LENGTH).parse().unwrap();
    let text = resp.into_body().text().unwrap();
    assert_eq!(text.len(), len);
    assert!(text.contains("<title>404 Not Found</title>"), "{text}");

    assert_same_bytes(
        &get_body(&client, &nginx.url("/small.txt")),
        &nginx.file(SMALL),
        "GET after 404",
    );
    assert_eq!(log.reused(), [false, true]);
    assert_eq!(log.puts(), [None, None]);
}

#[test]
fn batch_of_ten_concurrent_gets() {
    let Some(nginx) = nginx_or_skip() else { return };
    let (client, log) = traced_client();
    let names = [
        SMALL, RANDOM_1M, EMPTY, BIG_8M, SSI, SMALL, RANDOM_1M, SSI, EMPTY, SMALL,
    ];
    let mut batch = client.batch();
    let mut expected: HashMap<RequestId, &str> = HashMap::new();
    for name in names {
        let req = Request::get(nginx.url(&format!("/{name}")))
            .body(())
            .unwrap();
        assert!(expected.insert(batch.submit(req), name).is_none());
    }
    assert_eq!(batch.len(), 10);
    // Collect every head first, then read the bodies last to first: all
    // ten responses are in flight at once, each on its own connection.
    let mut responses = Vec::new();
    while let Some((id, result)) = batch.wait() {
        let resp = result.unwrap_or_else(|e| panic!("request {id}: {e}"));
        assert_eq!(resp.status(), StatusCode::OK, "request {id}");
        assert_eq!(resp.body().request_id(), id);
        responses.push((id, resp));
    }
    assert!(batch.is_empty());
    drop(batch);
    assert_eq!(responses.len(), 10);
    responses.sort_by_key(|(id, _)| *id);
    for (id, resp) in responses.into_iter().rev() {
        let name = expected.remove(&id).expect("each id once");
        let want = if name == SSI {
            nginx.ssi_expected()
        } else {
            nginx.file(name)
        };
        let got = resp.into_body().bytes().unwrap();
        assert_same_bytes(&got, &want, &format!("request {id}: {name}"));
    }
    assert!(expected.is_empty());

    assert_eq!(log.count("connect_start"), 10);
    assert_eq!(log.reused(), vec![false; 10]);
    // Default max_idle_per_host is 8: two of the ten are closed.
    let puts = log.puts();
    assert_eq!(puts.iter().filter(|p| p.is_none()).count(), 8, "{puts:?}");
    assert_eq!(
        puts.iter()
            .filter(|p| **p == Some(CloseReason::PoolFull))
            .count(),
        2,
        "{puts:?}"
    );
    assert_eq!(client.idle_connections(), 8);
}

#[test]
fn post_to_a_static_file_is_405_and_the_connection_survives() {
    let Some(nginx) = nginx_or_skip() else { return };
    let (client, log) = traced_client();
    let body = pseudo_random(32 * 1024, 405);
    let req = Request::post(nginx.url("/small.txt")).body(body).unwrap();
    let resp = client.send(req).unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    let len: usize = header(&resp, header::CONTENT_LENGTH).parse().unwrap();
    let text = resp.into_body().text().unwrap();
    assert_eq!(text.len(), len);
    assert!(text.contains("405 Not Allowed"), "{text}");

    assert_same_bytes(
        &get_body(&client, &nginx.url("/small.txt")),
        &nginx.file(SMALL),
        "GET after 405",
    );
    // nginx reads and discards the unwanted body and keeps the
    // connection. Had the 405 arrived before the client wrote the whole
    // body, closing would be right too; either way the next request must
    // agree with what happened to the connection.
    let puts = log.puts();
    match puts[0] {
        None => assert_eq!(log.reused(), [false, true]),
        Some(CloseReason::RequestBodyUnsent) => assert_eq!(log.reused(), [false, false]),
        other => panic!("POST connection: {other:?}"),
    }
    assert_eq!(puts[1], None);
}

#[test]
fn post_to_a_return_location() {
    let Some(nginx) = nginx_or_skip() else { return };
    let (client, log) = traced_client();
    for body in [SendBody::from("a=1&b=2"), SendBody::empty()] {
        let req = Request::post(nginx.url("/post")).body(body).unwrap();
        let resp = client.send(req).unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(header(&resp, header::CONTENT_TYPE), "text/plain");
        assert_eq!(resp.into_body().text().unwrap(), "posted\n");
    }
    assert_eq!(log.reused(), [false, true]);
    assert_eq!(log.puts(), [None, None]);
}

#[test]
fn early_413_while_the_body_is_still_being_sent() {
    let Some(nginx) = nginx_or_skip() else { return };
    let (client, log) = traced_client();
    // nginx refuses bodies over 1 MiB there (its default
    // client_max_body_size) as soon as it has the head, long before 16 MiB
    // have been written, and closes the connection.
    let req = Request::post(nginx.url("/post"))
        .body(vec![b'x'; 16 << 20])
        .unwrap();
    let resp = client.send(req).unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(header(&resp, header::CONNECTION), "close");
    let text = resp.into_body().text().unwrap();
    assert!(text.contains("413 Request Entity Too Large"), "{text}");
    let puts = log.puts();
    assert!(
        matches!(
            puts[..],
            [Some(
                CloseReason::ConnectionClose | CloseReason::RequestBodyUnsent
            )]
        ),
        "{puts:?}"
    );
    assert_eq!(log.count("retry"), 0);

    assert_same_bytes(
        &get_body(&client, &nginx.url("/small.txt")),
        &nginx.file(SMALL),
        "GET after 413",
    );
    assert_eq!(log.reused(), [false, false]);
}

#[test]
fn expect_100_continue_answered_with_a_final_status() {
    let Some(nginx) = nginx_or_skip() else { return };
    let (client, log) = traced_client();
    // nginx answers 405 without `100 Continue`: the body is never sent,
    // so the connection cannot carry another request.
    let req = Request::post(nginx.url("/small.txt"))
        .header(header::EXPECT, "100-continue")
        .body(pseudo_random(64 * 1024, 417))
        .unwrap();
    let resp = client.send(req).unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(resp.into_body().text().unwrap().contains("405 Not Allowed"));
    let names = log.names();
    assert!(names.contains(&"wait_100_continue"), "{names:?}");
    assert!(!names.contains(&"got_100_continue"), "{names:?}");
    assert_eq!(log.puts(), [Some(CloseReason::RequestBodyUnsent)]);

    assert_same_bytes(
        &get_body(&client, &nginx.url("/small.txt")),
        &nginx.file(SMALL),
        "GET after 405",
    );
    assert_eq!(log.reused(), [false, false]);
}

/// PUTs `body` to `/upload/<name>` and checks nginx's 201, the file it
/// wrote, and a GET of it.
fn put_and_check(nginx: &Nginx, client: &Client, name: &str, req: Request<SendBody>, want: &[u8]) {
    let resp = client.send(req).unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED, "PUT {name}");
    assert!(resp.into_body().bytes().unwrap().is_empty());
    assert_same_bytes(&nginx.file(&format!("upload/{name}")), want, "file on disk");
    assert_same_bytes(
        &get_body(client, &nginx.url(&format!("/upload/{name}"))),
        want,
        "GET of the uploaded file",
    );
}

#[test]
fn put_bodies_arrive_intact() {
    let Some(nginx) = nginx_or_skip() else { return };
    let (client, log) = traced_client();
    let data = pseudo_random(3 * 1024 * 1024 + 5, 0x0f00);
    let url = |n: &str| nginx.url(&format!("/upload/{n}"));

    // In memory, with Content-Length.
    let req = Request::put(url("memory.bin"))
        .body(SendBody::from(data.clone()))
        .unwrap();
    put_and_check(&nginx, &client, "memory.bin", req, &data);

    // Streamed from a reader of unknown length: sent chunked.
    let req = Request::put(url("chunked.bin"))
        .body(SendBody::from_reader(std::io::Cursor::new(data.clone())))
        .unwrap();
    put_and_check(&nginx, &client, "chunked.bin", req, &data);

    // Streamed with a known length.
    let req = Request::put(url("sized.bin"))
        .body(SendBody::sized_reader(
            std::io::Cursor::new(data.clone()),
            data.len() as u64,
        ))
        .unwrap();
    put_and_check(&nginx, &client, "sized.bin", req, &data);

    // Six requests (three PUTs, three GETs) on one connection.
    assert_eq!(log.count("connect_start"), 1, "{:?}", log.names());
    assert_eq!(log.puts(), vec![None; 6]);
}

#[test]
fn put_with_expect_100_continue() {
    let Some(nginx) = nginx_or_skip() else { return };
    let (client, log) = traced_client();
    let data = pseudo_random(1 << 20, 100);
    let req = Request::builder()
        .method(Method::PUT)
        .uri(nginx.url("/upload/expect.bin"))
        .header(header::EXPECT, "100-continue")
        .body(SendBody::from(data.clone()))
        .unwrap();
    put_and_check(&nginx, &client, "expect.bin", req, &data);
    let names = log.names();
    let pos = |n: &str| names.iter().position(|x| *x == n);
    let (wait, got) = (pos("wait_100_continue"), pos("got_100_continue"));
    assert!(wait.is_some() && got.is_some(), "{names:?}");
    assert!(wait < got && got < pos("wrote_request"), "{names:?}");
    assert_eq!(log.count("got_1xx_response"), 1, "{names:?}");
}

#[test]
fn range_requests() {
    let Some(nginx) = nginx_or_skip() else { return };
    let (client, log) = traced_client();
    let file = nginx.file(RANDOM_1M);
    let url = nginx.url(&format!("/{RANDOM_1M}"));
    for (range, content_range, want) in [
        ("bytes=0-99", "bytes 0-99/1048576", &file[..100]),
        (
            "bytes=-100",
            "bytes 1048476-1048575/1048576",
            &file[file.len() - 100..],
        ),
        ("bytes=1000-", "bytes 1000-1048575/1048576", &file[1000..]),
    ] {
        let req = Request::get(&url)
            .header(header::RANGE, range)
            .body(())
            .unwrap();
        let resp = client.send(req).unwrap();
        assert_eq!(resp.status(), StatusCode::PARTIAL_CONTENT, "{range}");
        assert_eq!(header(&resp, header::CONTENT_RANGE), content_range);
        assert_eq!(
            header(&resp, header::CONTENT_LENGTH),
            want.len().to_string()
        );
        assert_same_bytes(&resp.into_body().bytes().unwrap(), want, range);
    }
    assert_eq!(log.count("connect_start"), 1);
    assert_eq!(log.puts(), vec![None; 3]);
}

#[test]
fn connection_close_after_keepalive_requests_limit() {
    let Some(nginx) = nginx_or_skip() else { return };
    let (client, log) = traced_client();
    let url = nginx.url("/two-per-conn/small.txt");
    let want = nginx.file(SMALL);
    let mut connection_headers = Vec::new();
    for i in 0..3 {
        let resp = client.get(&url).unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "request {i}");
        connection_headers.push(header(&resp, header::CONNECTION).to_owned());
        assert_same_bytes(&resp.into_body().bytes().unwrap(), &want, "body");
    }
    // nginx ends the connection after its second request and says so.
    assert_eq!(connection_headers, ["keep-alive", "close", "keep-alive"]);
    assert_eq!(
        log.puts(),
        [None, Some(CloseReason::ConnectionClose), None],
        "{:?}",
        log.names()
    );
    assert_eq!(log.reused(), [false, true, false]);
    assert_eq!(log.count("connect_start"), 2);
    assert_eq!(log.count("retry"), 0);
}

#[test]
fn idle_connection_closed_by_nginx_is_not_used_again() {
    let Some(nginx) = nginx_or_skip() else { return };
    let (client, log) = traced_client();
    let url = nginx.url("/short-keepalive/small.txt");
    let want = nginx.file(SMALL);
    assert_same_bytes(&get_body(&client, &url), &want, "first");
    assert_eq!(log.puts(), [None]);
    // nginx's keepalive_timeout there is 500 ms; it closes the idle
    // connection while it sits in the pool.
    std::thread::sleep(Duration::from_millis(1200));
    assert_same_bytes(&get_body(&client, &url), &want, "after nginx closed");
    // A fresh connection carried the second request, whether the pool
    // noticed the close first or the request was retried.
    assert_eq!(log.count("connect_start"), 2, "{:?}", log.names());

    // The same for a POST, which may not be retried blindly: the client
    // must see the close before it sends.
    std::thread::sleep(Duration::from_millis(1200));
    let req = Request::post(nginx.url("/short-keepalive/small.txt"))
        .body("payload")
        .unwrap();
    let resp = client.send(req).unwrap();
    // A static location: nginx answers 405, on a fresh connection.
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    resp.into_body().bytes().unwrap();
    assert_eq!(log.count("connect_start"), 3, "{:?}", log.names());
    assert_eq!(log.reused(), [false, false, false]);
    assert_eq!(log.count("request_done"), 3);
    assert_eq!(
        log.events()
            .iter()
            .filter(|s| s.body_done.is_some_and(|(_, failed)| !failed))
            .count(),
        3
    );
}

/// The hook the TLS server block will use: an extra server on its own
/// port with the same locations, plus extra files.
#[test]
fn extra_server_block_on_its_own_port() {
    let options = Options {
        extra_servers: vec![ExtraServer {
            name: "second",
            block: Box::new(|ctx| {
                format!(
                    "server {{\n listen 127.0.0.1:{};\n{}\n}}",
                    ctx.port,
                    standard_locations(ctx)
                )
            }),
        }],
        extra_files: vec![("html/extra.txt".into(), b"only in this test\n".to_vec())],
    };
    let Some(nginx) = nginx_with_or_skip(options) else {
        return;
    };
    let (client, log) = traced_client();
    let second = nginx.port_of("second");
    assert_ne!(second, nginx.addr().port());
    for port in [nginx.addr().port(), second] {
        let got = get_body(&client, &format!("http://127.0.0.1:{port}/extra.txt"));
        assert_eq!(got, b"only in this test\n");
        let got = get_body(&client, &format!("http://127.0.0.1:{port}/{RANDOM_1M}"));
        assert_same_bytes(&got, &nginx.file(RANDOM_1M), "random-1m.bin");
    }
    // One connection per port: the pool keys on the port.
    assert_eq!(log.count("connect_start"), 2);
    assert_eq!(log.reused(), [false, true, false, true]);
}

//! Loopback tests of body reads into large caller buffers: a plain-TCP
//! Content-Length or close-delimited body (RFC 9112 §6.3 rules 6 and 8)
//! read with a buffer at least as large as the receive buffer may grow
//! (`Config::recv_buffer_size`, set to 64 KiB here) goes from the socket
//! straight into that buffer, bypassing the receive buffer. Whatever path
//! the bytes take, the caller must see exactly the body, a kept-alive
//! connection must carry the next response intact (no read past the
//! body's end), a body cut short must be an error, and the body idle
//! timeout must fire on a silent server but not on a caller that merely
//! paused.

#![forbid(unsafe_code)]

mod support;

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use roundtrip::{Client, ErrorKind, Phase};
use support::lo::*;

const LIMIT: Duration = Duration::from_secs(20);
const NEXT: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnext";
/// The receive buffer's limit in these tests, and so the smallest caller
/// buffer read into straight from the socket: small enough that the reads
/// below take both paths.
const RECV_BUFFER: usize = 64 * 1024;

/// A client with a [`RECV_BUFFER`] receive buffer, then `f` applied.
fn client_with(f: impl FnOnce(&mut roundtrip::Config)) -> Client {
    Client::builder()
        .configure(|c| {
            c.recv_buffer_size = RECV_BUFFER;
            f(c)
        })
        .build()
}

fn client() -> Client {
    client_with(|_| {})
}

/// A body whose every byte tells its offset apart from its neighbours'
/// (a byte dropped, repeated or reordered changes what follows).
fn pattern(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i % 251) as u8 ^ (i / 251) as u8)
        .collect()
}

/// Reads one request, then writes `head`, then `body` in `pieces` writes
/// with a pause between them (so the client finds the socket empty and
/// waits mid-body), then `after` (the next response, or nothing); then
/// closes if `close`, else holds the connection until the client closes it.
fn paced(head: Vec<u8>, body: Vec<u8>, pieces: usize, after: Vec<u8>, close: bool) -> ConnScript {
    Box::new(move |mut s: TcpStream| {
        if read_req(&mut s).is_none() {
            return;
        }
        let _ = s.write_all(&head);
        for piece in body.chunks(body.len().div_ceil(pieces).max(1)) {
            if s.write_all(piece).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(3));
        }
        if !after.is_empty() {
            if read_req(&mut s).is_none() {
                return;
            }
            let _ = s.write_all(&after);
        }
        if close {
            let _ = s.shutdown(std::net::Shutdown::Write);
        }
        wait_client_close(&mut s, IO_TIMEOUT);
    })
}

fn length_head(len: usize) -> Vec<u8> {
    format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\n\r\n").into_bytes()
}

/// Reads `body` to its end with reads of the sizes in `sizes`, in turn.
fn read_with(body: &mut roundtrip::Body, sizes: &[usize]) -> roundtrip::Result<Vec<u8>> {
    let mut got = Vec::new();
    let mut buf = vec![0u8; sizes.iter().copied().max().unwrap()];
    for &size in sizes.iter().cycle() {
        match body.read_body(&mut buf[..size])? {
            0 => return Ok(got),
            n => {
                assert!(n <= size);
                got.extend_from_slice(&buf[..n]);
            }
        }
    }
    unreachable!("cycle never ends")
}

/// Asserts that `got` is the body sent, `want`, byte for byte.
#[track_caller]
fn assert_same(got: &[u8], want: &[u8]) {
    assert_eq!(got.len(), want.len(), "bytes delivered");
    assert!(got == want, "the body differs from what was sent");
}

/// The body of a GET of `url` whose events go to `log`.
fn traced_get(client: &Client, url: &str, log: &Log) -> roundtrip::Body {
    let req = http::Request::get(url).body(()).unwrap();
    client.send_traced(req, log.trace()).unwrap().into_body()
}

/// Reads `body` in [`RECV_BUFFER`] reads until it fails, which it must do in
/// `ReadResponseBody` after delivering exactly `sent`; the error.
fn read_until_error(body: &mut roundtrip::Body, sent: &[u8]) -> roundtrip::Error {
    let mut got = Vec::new();
    let mut buf = vec![0u8; RECV_BUFFER];
    let err = loop {
        match body.read_body(&mut buf) {
            Ok(0) => panic!("a cut or stalled body must not end cleanly"),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => break e,
        }
    };
    assert!(got == sent, "the bytes that came are delivered first");
    assert_eq!(err.phase(), Phase::ReadResponseBody, "{err}");
    err
}

#[test]
fn big_reads_get_every_byte_and_the_connection_carries_the_next_response() {
    within(LIMIT, || {
        let want = pattern(1 << 20);
        let srv = Srv::new(vec![paced(
            length_head(want.len()),
            want.clone(),
            16,
            NEXT.to_vec(),
            false,
        )]);
        let log = Log::default();
        let client = client();
        let mut body = traced_get(&client, &srv.url("/big"), &log);
        // Not a multiple of anything the server wrote.
        let got = read_with(&mut body, &[100_000]).unwrap();
        assert_same(&got, &want);
        drop(body);
        let (bytes, _, error) = log.body_done();
        assert_eq!((bytes, error.is_none()), (want.len() as u64, true));
        assert_eq!(log.put_idle_once(), None, "{:?}", log.names());

        // Had a read taken more than the body, this head would be cut.
        let log2 = Log::default();
        let next = traced_get(&client, &srv.url("/next"), &log2)
            .bytes()
            .unwrap();
        assert_eq!(next, b"next");
        assert_eq!(log2.got_conn(), [true], "the second request must reuse");
        assert_eq!(srv.accepted(), 1);
        drop(client);
        srv.join();
    });
}

#[test]
fn small_and_big_reads_mixed_see_the_body_in_order() {
    within(LIMIT, || {
        let want = pattern(400 * 1024 + 17);
        let srv = Srv::new(vec![paced(
            length_head(want.len()),
            want.clone(),
            9,
            NEXT.to_vec(),
            false,
        )]);
        let client = client();
        let mut body = client.get(&srv.url("/mixed")).unwrap().into_body();
        let sizes = [1, 70_000, 3000, 65_536, 65_535, 200_000, 7];
        let got = read_with(&mut body, &sizes).unwrap();
        assert_same(&got, &want);
        drop(body);
        assert_eq!(
            client
                .get(&srv.url("/next"))
                .unwrap()
                .into_body()
                .bytes()
                .unwrap(),
            b"next"
        );
        assert_eq!(srv.accepted(), 1);
        drop(client);
        srv.join();
    });
}

#[test]
fn a_close_delimited_body_ends_at_eof_in_big_reads_and_in_copy_to() {
    within(LIMIT, || {
        let want = pattern(300_001);
        let close = || {
            let head = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".to_vec();
            paced(head, want.clone(), 5, Vec::new(), true)
        };
        let srv = Srv::new(vec![close(), close()]);
        let log = Log::default();
        let client = client();
        let mut body = traced_get(&client, &srv.url("/close"), &log);
        let got = read_with(&mut body, &[128 * 1024]).unwrap();
        assert_same(&got, &want);
        drop(body);
        assert_eq!(log.body_done().0, want.len() as u64);
        assert_eq!(
            client.idle_connections(),
            0,
            "a closed connection is not pooled"
        );

        // copy_to: a close-delimited body is of unknown length, read into
        // a buffer of the receive buffer's size, straight from the socket.
        let mut body = client.get(&srv.url("/close")).unwrap().into_body();
        let mut got = Vec::new();
        assert_eq!(body.copy_to(&mut got).unwrap(), want.len() as u64);
        assert_same(&got, &want);
        drop(body);
        assert_eq!(client.idle_connections(), 0);
        drop(client);
        srv.join();
    });
}

#[test]
fn silence_mid_body_is_a_body_idle_timeout_in_big_reads() {
    within(LIMIT, || {
        let sent = pattern(100_000);
        let head = length_head(1_000_000);
        let script: ConnScript = {
            let sent = sent.clone();
            Box::new(move |mut s: TcpStream| {
                if read_req(&mut s).is_none() {
                    return;
                }
                let _ = s.write_all(&head);
                let _ = s.write_all(&sent);
                wait_client_close(&mut s, IO_TIMEOUT);
            })
        };
        let srv = Srv::new(vec![script]);
        let limit = Duration::from_millis(200);
        let client = client_with(|c| c.body_idle_timeout = Some(limit));
        let mut body = client.get(&srv.url("/stall")).unwrap().into_body();
        let err = read_until_error(&mut body, &sent);
        assert!(
            matches!(err.kind(), ErrorKind::Timeout { limit: l } if *l == limit),
            "{err}"
        );
        drop(body);
        drop(client);
        srv.join();
    });
}

/// A body whose caller stops reading while the same client runs another
/// request for longer than the body idle timeout: its bytes, already in
/// the kernel, go on being read into the receive buffer, so the pause is
/// not taken for a silent server, and reading on later gets the whole
/// body. (Left for a direct read that never came, they would raise no new
/// readiness edge, and the idle timeout would fire with them unread.)
#[test]
fn a_body_paused_while_another_request_runs_is_not_timed_out() {
    within(LIMIT, || {
        // Small enough to sit whole in the client's socket buffer; sent
        // after the head, so the head's reads do not take it.
        let want = pattern(150 * 1024);
        let big_script: ConnScript = {
            let want = want.clone();
            Box::new(move |mut s: TcpStream| {
                if read_req(&mut s).is_none() {
                    return;
                }
                let _ = s.write_all(&length_head(want.len()));
                std::thread::sleep(Duration::from_millis(50));
                let _ = s.write_all(&want);
                wait_client_close(&mut s, IO_TIMEOUT);
            })
        };
        let big = Srv::new(vec![big_script]);
        let slow: ConnScript = Box::new(|mut s: TcpStream| {
            if read_req(&mut s).is_none() {
                return;
            }
            std::thread::sleep(Duration::from_millis(700));
            let _ = s.write_all(NEXT);
            wait_client_close(&mut s, IO_TIMEOUT);
        });
        let other = Srv::new(vec![slow]);
        let client = client_with(|c| c.body_idle_timeout = Some(Duration::from_millis(300)));
        let mut body = client.get(&big.url("/big")).unwrap().into_body();
        // The whole body arrives while nobody reads; then part of it is
        // read in big reads, which leave the rest in the kernel.
        std::thread::sleep(Duration::from_millis(200));
        let mut got = Vec::new();
        let mut buf = vec![0u8; RECV_BUFFER];
        while got.len() < 80 * 1024 {
            let n = body.read_body(&mut buf).unwrap();
            assert!(n > 0, "ended early");
            got.extend_from_slice(&buf[..n]);
        }

        let next = client.get(&other.url("/slow")).unwrap().into_body().bytes();
        assert_eq!(next.unwrap(), b"next");

        got.extend(read_with(&mut body, &[RECV_BUFFER]).unwrap());
        assert_same(&got, &want);
        drop(body);
        drop(client);
        big.join();
        other.join();
    });
}

/// A server that writes more right after a Content-Length body (here a
/// whole stray response) must not have those bytes read as body by a
/// large read, nor as the answer to the next request: that one gets a
/// connection of its own.
#[test]
fn bytes_after_the_body_are_not_read_as_body_nor_as_the_next_response() {
    within(LIMIT, || {
        let want = pattern(300 * 1024);
        let mut first = length_head(want.len());
        first.extend_from_slice(&want);
        first.extend_from_slice(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstray");
        let srv = Srv::new(vec![one(first), one(NEXT.to_vec())]);
        let client = client();
        let mut body = client.get(&srv.url("/first")).unwrap().into_body();
        let got = read_with(&mut body, &[96 * 1024]).unwrap();
        assert_same(&got, &want);
        drop(body);
        let next = client.get(&srv.url("/next")).unwrap().into_body().bytes();
        assert_eq!(next.unwrap(), b"next");
        assert_eq!(
            srv.accepted(),
            2,
            "the connection with stray bytes is not reused"
        );
        drop(client);
        srv.join();
    });
}

/// A writer that takes `room` bytes, then fails as a pipe whose reader
/// has gone does (`roundtrip ... | head`).
struct Full {
    got: Vec<u8>,
    room: usize,
}

impl Write for Full {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.room - self.got.len());
        if n == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::BrokenPipe, "gone"));
        }
        self.got.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `body` as chunks of `size` bytes, then the last chunk.
fn chunked(body: &[u8], size: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for c in body.chunks(size) {
        out.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        out.extend_from_slice(c);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

#[test]
fn copy_to_writes_every_byte_of_each_framing_and_keeps_the_connection() {
    within(LIMIT, || {
        // Larger than the receive buffer (read straight from the socket),
        // shorter than it (through the receive buffer), short enough for
        // the stack, empty, and chunked (no length to size by).
        let big = pattern((1 << 20) + 3);
        let mid = pattern(40_000);
        let short = pattern(13);
        let chunky = pattern(300_000);
        let mut answers = Vec::new();
        for b in [&big, &mid, &short, &Vec::new()] {
            answers.push([length_head(b.len()), b.clone()].concat());
        }
        answers.push(
            [
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec(),
                chunked(&chunky, 7_000),
            ]
            .concat(),
        );
        let script: ConnScript = {
            let answers = answers.clone();
            Box::new(move |mut s: TcpStream| {
                for a in &answers {
                    if read_req(&mut s).is_none() {
                        return;
                    }
                    // In pieces, so that some reads find the socket empty.
                    for piece in a.chunks(a.len().div_ceil(8).max(1)) {
                        if s.write_all(piece).is_err() {
                            return;
                        }
                        std::thread::sleep(Duration::from_millis(2));
                    }
                }
                wait_client_close(&mut s, IO_TIMEOUT);
            })
        };
        let srv = Srv::new(vec![script]);
        let client = client();
        for want in [&big, &mid, &short, &Vec::new(), &chunky] {
            let mut body = client.get(&srv.url("/copy")).unwrap().into_body();
            let mut got = Vec::new();
            let n = body.copy_to(&mut got).unwrap();
            assert_eq!(n, want.len() as u64);
            assert_same(&got, want);
            assert_eq!(body.copy_to(&mut got).unwrap(), 0, "the body is over");
        }
        assert_eq!(srv.accepted(), 1, "every response on one connection");
        drop(client);
        srv.join();
    });
}

#[test]
fn a_content_length_body_cut_short_is_truncated_in_big_reads_and_in_copy_to() {
    within(LIMIT, || {
        let sent = pattern(200_000);
        let cut = || paced(length_head(500_000), sent.clone(), 4, Vec::new(), true);
        let srv = Srv::new(vec![cut(), cut()]);
        let client = client();
        let assert_truncated = |err: &roundtrip::Error| {
            assert!(
                matches!(
                    err.kind(),
                    ErrorKind::BodyTruncated {
                        received: 200_000,
                        expected: Some(500_000)
                    }
                ),
                "{err}"
            );
        };
        let mut body = client.get(&srv.url("/cut")).unwrap().into_body();
        assert_truncated(&read_until_error(&mut body, &sent));
        drop(body);
        assert_eq!(client.idle_connections(), 0);

        // copy_to: the bytes that came are written, then the client's own
        // error comes inside the io::Error.
        let mut body = client.get(&srv.url("/cut")).unwrap().into_body();
        let mut got = Vec::new();
        let err = body.copy_to(&mut got).unwrap_err();
        assert!(got == sent, "the bytes that came are written first");
        let err = err
            .into_inner()
            .and_then(|e| e.downcast::<roundtrip::Error>().ok())
            .expect("the client's own error inside the io::Error");
        assert_truncated(&err);
        drop(body);
        assert_eq!(client.idle_connections(), 0);
        drop(client);
        srv.join();
    });
}

#[test]
fn copy_to_a_failing_writer_returns_its_error_and_does_not_reuse_the_connection() {
    within(LIMIT, || {
        let want = pattern(1 << 20);
        let srv = Srv::new(vec![
            paced(length_head(want.len()), want.clone(), 4, Vec::new(), false),
            paced(
                NEXT[..NEXT.len() - 4].to_vec(),
                b"next".to_vec(),
                1,
                Vec::new(),
                false,
            ),
        ]);
        let client = client();
        let mut body = client.get(&srv.url("/big")).unwrap().into_body();
        let mut full = Full {
            got: Vec::new(),
            room: 100_000,
        };
        let err = body.copy_to(&mut full).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe, "{err}");
        assert!(
            full.got == want[..100_000],
            "the bytes written were the body's"
        );
        drop(body);
        // The rest of the body was never read: the connection cannot carry
        // the next response.
        let next = client.get(&srv.url("/next")).unwrap().into_body().bytes();
        assert_eq!(next.unwrap(), b"next");
        assert_eq!(srv.accepted(), 2);
        drop(client);
        srv.join();
    });
}

#[test]
fn bytes_of_a_huge_claimed_length_cut_short_is_truncated_not_an_allocation() {
    within(LIMIT, || {
        // A length of about 1 PB: believed, it would abort the process.
        let sent = pattern(10_000);
        let claimed = 1u64 << 50;
        let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {claimed}\r\n\r\n").into_bytes();
        let srv = Srv::new(vec![paced(head, sent, 2, Vec::new(), true)]);
        let client = client();
        let err = client
            .get(&srv.url("/huge"))
            .unwrap()
            .into_body()
            .bytes()
            .unwrap_err();
        assert!(
            matches!(
                err.kind(),
                ErrorKind::BodyTruncated {
                    received: 10_000,
                    expected: Some(c)
                } if *c == claimed
            ),
            "{err}"
        );
        drop(client);
        srv.join();
    });
}

#[test]
fn bytes_reads_bodies_of_every_size_and_framing_whole() {
    within(LIMIT, || {
        let sizes = [0usize, 1, 13, 16 * 1024, 16 * 1024 + 1, 3 << 20];
        let mut scripts = Vec::new();
        for &n in &sizes {
            scripts.push(paced(length_head(n), pattern(n), 3, Vec::new(), false));
        }
        let chunky = pattern(100_003);
        let chunked_head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        scripts.push(paced(
            chunked_head,
            chunked(&chunky, 999),
            3,
            Vec::new(),
            false,
        ));
        let close = pattern(50_000);
        let close_head = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".to_vec();
        scripts.push(paced(close_head, close.clone(), 3, Vec::new(), true));
        let srv = Srv::new(scripts);
        // A fresh client per response: each script serves one connection.
        for want in sizes.iter().map(|&n| pattern(n)).chain([chunky, close]) {
            let client = client();
            let got = client.get(&srv.url("/b")).unwrap().into_body().bytes();
            assert_same(&got.unwrap(), &want);
        }
        srv.join();
    });
}

#[test]
fn read_to_end_and_read_to_string_append_the_body_sized_by_its_length() {
    use std::io::Read;
    within(LIMIT, || {
        let big = pattern(700_000);
        let text = "héllo, wörld\n".repeat(1000);
        let chunky = pattern(50_001);
        let chunked_head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        let not_utf8 = b"ok \xff\xfe".to_vec();
        let srv = Srv::new(vec![
            paced(length_head(big.len()), big.clone(), 4, Vec::new(), false),
            paced(
                length_head(text.len()),
                text.clone().into_bytes(),
                2,
                Vec::new(),
                false,
            ),
            paced(chunked_head, chunked(&chunky, 4096), 3, Vec::new(), false),
            paced(length_head(not_utf8.len()), not_utf8, 1, Vec::new(), false),
            paced(length_head(500_000), pattern(1000), 1, Vec::new(), true),
        ]);
        // A fresh client per response: each script serves one connection.
        let get = || client().get(&srv.url("/r")).unwrap().into_body();

        // Appended after what the caller's vector held.
        let mut got = b"before:".to_vec();
        assert_eq!(get().read_to_end(&mut got).unwrap(), big.len());
        assert_same(&got[7..], &big);
        assert_eq!(&got[..7], b"before:");

        let mut s = String::from(">");
        assert_eq!(get().read_to_string(&mut s).unwrap(), text.len());
        assert_eq!(s, format!(">{text}"));

        let mut got = Vec::new();
        get().read_to_end(&mut got).unwrap();
        assert_same(&got, &chunky);

        let mut s = String::from("kept");
        let err = get().read_to_string(&mut s).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData, "{err}");
        assert_eq!(
            s, "kept",
            "a body that is not UTF-8 leaves the string alone"
        );

        // Cut short: the error, with the bytes that came appended first.
        let mut got = Vec::new();
        let err = get().read_to_end(&mut got).unwrap_err();
        assert_same(&got, &pattern(1000));
        let err = err
            .into_inner()
            .and_then(|e| e.downcast::<roundtrip::Error>().ok())
            .expect("the client's own error inside the io::Error");
        assert!(
            matches!(err.kind(), ErrorKind::BodyTruncated { received: 1000, .. }),
            "{err}"
        );
        srv.join();
    });
}

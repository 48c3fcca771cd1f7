//! Body reads through the core, driven by hand with exact readiness:
//! direct reads (`Core::direct_read`), and the flag that says a read took
//! the body's last bytes (`Core::read_body_last`). What the kernel
//! happens to report can hide a socket left unread, so the contract is
//! checked here without one.

use std::time::Instant;

use super::{BodyRead, Core, Io, Ready};
use crate::conn::SockId;
use crate::proxy::ProxyConfig;
use crate::trace::{RequestId, Trace};
use crate::{Config, ErrorKind};

const READABLE: Ready = Ready {
    readable: true,
    writable: false,
    hup: false,
};

/// A core with one GET written and its head (`Content-Length: len`) read.
fn after_head(len: usize) -> (Core, RequestId, SockId, Instant) {
    let config = Config {
        proxy: ProxyConfig::Off,
        ..Config::default()
    };
    let mut core = Core::new(config, Trace::new());
    let now = Instant::now();
    let req = http::Request::get("http://192.0.2.1/")
        .body(().into())
        .unwrap();
    let id = core.submit(req, Trace::new(), now);
    let Some(Io::Connect { sock, .. }) = core.poll_io() else {
        panic!("no connect")
    };
    core.handle_connected(sock, "192.0.2.2:50000".parse().unwrap(), now);
    let writable = Ready {
        readable: false,
        writable: true,
        hup: false,
    };
    core.handle_ready(sock, writable, now);
    assert_eq!(core.poll_io(), Some(Io::Send { sock }));
    let n = {
        let (head, body) = core.send_buf(sock).unwrap();
        head.len() + body.len()
    };
    core.handle_sent(sock, n, now);
    while core.poll_io().is_some() {}
    core.handle_ready(sock, READABLE, now);
    assert_eq!(core.poll_io(), Some(Io::Recv { sock }));
    let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\n\r\n");
    let space = core.recv_buf(sock).unwrap();
    space[..head.len()].copy_from_slice(head.as_bytes());
    // A short read: the kernel buffer is empty now.
    core.handle_received(sock, head.len(), now);
    assert_eq!(core.take_outcome(id, now).unwrap().unwrap().status, 200);
    while core.poll_io().is_some() {}
    (core, id, sock, now)
}

#[test]
fn a_body_left_for_a_direct_read_is_read_into_the_buffer_once_the_caller_leaves() {
    let (mut core, id, sock, now) = after_head(100_000);
    assert_eq!(core.direct_read(id), None, "not readable yet");
    core.set_reading(Some(id));
    core.handle_ready(sock, READABLE, now);
    assert_eq!(core.poll_io(), None, "left for the caller's read");
    assert_eq!(core.direct_read(id), Some((sock, 100_000)));
    let read = core.handle_direct_read(id, sock, 65_536, Ok(&[7; 65_536]), now);
    assert_eq!(
        read.unwrap(),
        (BodyRead::Data(65_536), false),
        "not the end"
    );
    // A full read: more may wait in the kernel, with no edge to say so.
    assert_eq!(core.direct_read(id), Some((sock, 100_000 - 65_536)));
    assert_eq!(core.poll_io(), None);
    core.set_reading(None);
    assert_eq!(
        core.poll_io(),
        Some(Io::Recv { sock }),
        "once the caller stops waiting, the socket is read as before"
    );
    let rest = 100_000 - 65_536;
    let mut left = rest;
    while left > 0 {
        let space = core.recv_buf(sock).unwrap();
        let n = space.len().min(left);
        space[..n].fill(9);
        core.handle_received(sock, n, now);
        left -= n;
        if left > 0 {
            assert_eq!(core.poll_io(), Some(Io::Recv { sock }), "reading on");
        }
    }
    let mut out = vec![0; 65_536];
    let mut got = 0;
    loop {
        match core.read_body(id, &mut out, now).unwrap() {
            BodyRead::Data(n) => {
                assert!(out[..n].iter().all(|&b| b == 9));
                got += n;
            }
            BodyRead::End => break,
            BodyRead::Pending => panic!("all {rest} bytes were buffered"),
        }
    }
    assert_eq!(got, rest);
}

#[test]
fn a_direct_read_never_asks_past_the_body_and_its_end_finishes_the_request() {
    let (mut core, id, sock, now) = after_head(10);
    core.set_reading(Some(id));
    core.handle_ready(sock, READABLE, now);
    assert_eq!(core.direct_read(id), Some((sock, 10)));
    let read = core.handle_direct_read(id, sock, 10, Ok(b"0123456789"), now);
    assert_eq!(
        read.unwrap(),
        (BodyRead::Data(10), true),
        "the read that takes the last bytes says the body is over"
    );
    assert_eq!(core.direct_read(id), None, "the body is complete");
    let mut out = [0; 16];
    assert_eq!(core.read_body(id, &mut out, now).unwrap(), BodyRead::End);
    core.set_reading(None);
    while core.poll_io().is_some() {}
    assert_eq!(core.idle_conns(), 1, "the connection went to the pool");
}

#[test]
fn end_of_stream_in_a_direct_read_of_a_length_body_is_truncation() {
    let (mut core, id, sock, now) = after_head(1000);
    core.set_reading(Some(id));
    core.handle_ready(sock, READABLE, now);
    let read = core.handle_direct_read(id, sock, 1000, Ok(&[1; 300]), now);
    assert_eq!(read.unwrap(), (BodyRead::Data(300), false));
    // A short read lowered the readable flag; the next edge is the EOF.
    assert_eq!(core.direct_read(id), None);
    core.handle_ready(sock, READABLE, now);
    let err = core
        .handle_direct_read(id, sock, 700, Ok(&[]), now)
        .unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::BodyTruncated {
                received: 300,
                expected: Some(1000)
            }
        ),
        "{err}"
    );
}

#[test]
fn a_would_block_direct_read_waits_for_the_next_edge() {
    let (mut core, id, sock, now) = after_head(1000);
    core.set_reading(Some(id));
    core.handle_ready(sock, READABLE, now);
    let blocked = std::io::Error::from(std::io::ErrorKind::WouldBlock);
    let read = core.handle_direct_read(id, sock, 1000, Err(blocked), now);
    assert_eq!(read.unwrap(), (BodyRead::Pending, false));
    assert_eq!(
        core.direct_read(id),
        None,
        "not readable until the next edge"
    );
    let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
    core.handle_ready(sock, READABLE, now);
    let err = core
        .handle_direct_read(id, sock, 1000, Err(reset), now)
        .unwrap_err();
    assert_eq!(err.phase(), crate::Phase::ReadResponseBody, "{err}");
    assert!(
        matches!(err.kind(), ErrorKind::Io(e) if e.kind() == std::io::ErrorKind::ConnectionReset),
        "{err}"
    );
}

/// Hands `bytes` to the core as one short read of `sock`.
fn feed(core: &mut Core, sock: SockId, bytes: &[u8], now: Instant) {
    core.handle_ready(sock, READABLE, now);
    assert_eq!(core.poll_io(), Some(Io::Recv { sock }));
    let space = core.recv_buf(sock).unwrap();
    space[..bytes.len()].copy_from_slice(bytes);
    core.handle_received(sock, bytes.len(), now);
    while core.poll_io().is_some() {}
}

/// `read_body_last` says when the bytes it hands out were the body's last,
/// so the runtime's `Body` can answer the read of the end itself.
#[test]
fn the_read_that_takes_the_last_bytes_says_the_body_is_over() {
    let (mut core, id, sock, now) = after_head(10);
    let mut out = [0; 16];
    feed(&mut core, sock, b"0123", now);
    let read = core.read_body_last(id, &mut out, now).unwrap();
    assert_eq!(read, (BodyRead::Data(4), false));
    feed(&mut core, sock, b"456789", now);
    let read = core.read_body_last(id, &mut out, now).unwrap();
    assert_eq!(read, (BodyRead::Data(6), true));
    assert_eq!(&out[..6], b"456789");
    assert_eq!(core.read_body(id, &mut out, now).unwrap(), BodyRead::End);
}

/// Bytes before a truncation are handed out first, and are not called the
/// body's last: the read after them must still see the error.
#[test]
fn bytes_before_a_truncation_do_not_say_the_body_is_over() {
    let (mut core, id, sock, now) = after_head(10);
    feed(&mut core, sock, b"0123", now);
    let eof = Ready {
        readable: true,
        writable: false,
        hup: true,
    };
    core.handle_ready(sock, eof, now);
    assert_eq!(core.poll_io(), Some(Io::Recv { sock }));
    core.handle_received(sock, 0, now);
    let mut out = [0; 16];
    let read = core.read_body_last(id, &mut out, now).unwrap();
    assert_eq!(read, (BodyRead::Data(4), false));
    let err = core.read_body(id, &mut out, now).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::BodyTruncated { received: 4, .. }),
        "{err}"
    );
}

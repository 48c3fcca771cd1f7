//! The loop's own bookkeeping over many requests, against a loopback
//! server: nothing it keeps per request may outlive the request (the leaks
//! benches/src/bin/soak.rs found).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::proxy::ProxyConfig;
use crate::Client;

/// A server on 127.0.0.1 for `conns` connections, each answering every
/// request head it reads with `200 OK` until the client closes it.
fn server(conns: usize) -> (String, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let mut served = Vec::new();
        for _ in 0..conns {
            let (mut s, _) = listener.accept().unwrap();
            served.push(std::thread::spawn(move || {
                s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                let mut buf = [0u8; 4096];
                let mut pending = Vec::new();
                loop {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => pending.extend_from_slice(&buf[..n]),
                    }
                    while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                        pending.drain(..end + 4);
                        let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                        if s.write_all(ok).is_err() {
                            return;
                        }
                    }
                }
            }));
        }
        for h in served {
            let _ = h.join();
        }
    });
    (url, handle)
}

#[test]
fn sequential_requests_leave_no_stale_timers() {
    // Every request arms the response timeouts (5 min by default) and
    // re-arms them as it goes; the deadlines it leaves behind must not pile
    // up until they pass.
    let (url, srv) = server(1);
    let client = Client::builder()
        .configure(|c| c.proxy = ProxyConfig::Off)
        .build();
    for _ in 0..500 {
        let body = client.get(&url).unwrap().into_body().bytes().unwrap();
        assert_eq!(body, b"ok");
    }
    let timers = client.runtime().core.timer_entries();
    assert!(
        timers <= 2 + 64,
        "{timers} timer entries after 500 requests"
    );
    drop(client);
    srv.join().unwrap();
}

#[test]
fn a_burst_of_requests_leaves_no_room_for_it_behind() {
    let n = 100;
    let (url, srv) = server(n);
    let client = Client::builder()
        .configure(|c| {
            c.proxy = ProxyConfig::Off;
            c.max_idle_per_host = n;
            c.max_idle = n;
        })
        .build();
    let mut batch = client.batch();
    for _ in 0..n {
        batch.submit(http::Request::get(&url).body(()).unwrap());
    }
    let mut held = Vec::new();
    while let Some((_, r)) = batch.wait() {
        held.push(r.unwrap());
    }
    drop(batch);
    assert!(client.runtime().core.slot_capacity() >= n);
    for resp in held {
        assert_eq!(resp.into_body().bytes().unwrap(), b"ok");
    }
    let rt = client.runtime();
    assert!(rt.core.in_flight() == 0);
    assert!(
        rt.core.slot_capacity() <= 2 * crate::core::SLOTS_KEPT,
        "room for {} requests kept",
        rt.core.slot_capacity()
    );
    drop(rt);
    drop(client);
    srv.join().unwrap();
}

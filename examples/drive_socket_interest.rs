//! Two GETs (the second on the pooled connection) through
//! `roundtrip::core::SocketDriver`, the socket-interest mode after curl's
//! multi_socket: the driver owns the sockets, this program owns the poll
//! (a `mio::Poll` watching the descriptors it is told about, edge-triggered)
//! and the clock. docs/embedding.md has the contract. Servers run on 127.0.0.1.

#![forbid(unsafe_code)]

mod support;

#[cfg(unix)]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    use roundtrip::core::{BodyRead, SocketDriver};
    use roundtrip::{proxy::ProxyConfig, Config, Trace};
    use std::time::Instant;

    let (dns, http) = (support::start_dns_server()?, support::start_http_server()?);
    let mut config = Config::default();
    (config.dns_servers, config.resolv_conf) = (Some(vec![dns]), None); // only our server
    (config.hosts_file, config.proxy) = (None, ProxyConfig::Off);
    let trace = Trace::new().on_event(|e| println!("  {}", e.kind.name()));
    let mut driver = SocketDriver::new(config, trace);
    let mut poll = mio::Poll::new()?;
    let url = format!("http://www.example.test:{}/", http.port());
    for _ in 0..2 {
        let req = http::Request::get(url.as_str()).body(().into())?;
        let id = driver.submit(req, Trace::new(), Instant::now());
        let head = loop {
            watch(&mut driver, &poll)?;
            if let Some(outcome) = driver.take_outcome(id, Instant::now()) {
                break outcome?;
            }
            wait(&mut driver, &mut poll)?;
        };
        println!("{:?} {}", head.version, head.status);
        let mut buf = [0u8; 4096];
        loop {
            match driver.read_body(id, &mut buf, Instant::now())? {
                BodyRead::Data(n) => print!("{}", String::from_utf8_lossy(&buf[..n])),
                BodyRead::End => break,
                BodyRead::Pending => wait(&mut driver, &mut poll)?,
            }
        }
        driver.release(id, Instant::now());
    }
    driver.shutdown(Instant::now());
    Ok(watch(&mut driver, &poll)?) // the last Unwatch: nothing left registered
}

/// Applies what the driver wants watched (curl's CURLMOPT_SOCKETFUNCTION),
/// with the descriptor as the mio token.
#[cfg(unix)]
fn watch(driver: &mut roundtrip::core::SocketDriver, poll: &mio::Poll) -> std::io::Result<()> {
    use mio::{unix::SourceFd, Interest, Token};
    use roundtrip::core::Interest as Change;
    while let Some(change) = driver.poll_interest() {
        println!("  [{change:?}]");
        match change {
            Change::Watch { fd, writable, .. } => {
                let rw = [Interest::READABLE, Interest::READABLE | Interest::WRITABLE];
                let (token, interest) = (Token(fd as usize), rw[usize::from(writable)]);
                poll.registry()
                    .register(&mut SourceFd(&fd), token, interest)?;
            }
            Change::Unwatch { fd } => poll.registry().deregister(&mut SourceFd(&fd))?,
        }
    }
    Ok(())
}

/// Waits for readiness or the driver's deadline (CURLMOPT_TIMERFUNCTION),
/// then reports both (curl_multi_socket_action).
#[cfg(unix)]
fn wait(driver: &mut roundtrip::core::SocketDriver, poll: &mut mio::Poll) -> std::io::Result<()> {
    use std::time::Instant;
    watch(driver, poll)?;
    let timeout = driver.poll_timeout().map(|t| t - Instant::now().min(t));
    let mut events = mio::Events::with_capacity(16);
    poll.poll(&mut events, timeout)?;
    let now = Instant::now();
    for ev in &events {
        let ready = roundtrip::core::Ready {
            readable: ev.is_readable() || ev.is_read_closed() || ev.is_error(),
            writable: ev.is_writable() || ev.is_write_closed() || ev.is_error(),
            hup: ev.is_read_closed() || ev.is_error(),
        };
        driver.handle_readiness(ev.token().0 as i32, ready, now);
        watch(driver, poll)?;
    }
    driver.handle_timeout(now);
    Ok(())
}

#[cfg(not(unix))]
fn main() {
    println!("SocketDriver hands out Unix file descriptors: Unix only");
}

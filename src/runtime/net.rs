//! The OS sockets behind core socket ids and the IO performed on them:
//! opening, writing, reading, datagrams and connect completion. Shared by
//! the mio loop ([`Runtime`](super::Runtime)) and by
//! [`SocketDriver`](crate::core::SocketDriver); neither `Poll` nor the
//! clock lives here, so whoever owns the waiting decides how a new socket
//! is watched (the `opened` callback of [`Sockets::perform`]).

use std::io::{self, IoSlice, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::{TcpStream, UdpSocket};

use crate::conn::SockId;
use crate::core::{Core, Direction, Io, Ready};

/// One OS socket.
pub(crate) enum Handle {
    Tcp(TcpStream),
    Udp(UdpSocket),
}

#[cfg(unix)]
impl std::os::fd::AsRawFd for Handle {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        match self {
            Handle::Tcp(s) => s.as_raw_fd(),
            Handle::Udp(u) => u.as_raw_fd(),
        }
    }
}

/// The OS socket of each core socket id, and the IO the core asks for.
#[derive(Default)]
pub(crate) struct Sockets {
    handles: Vec<Option<Handle>>,
    live: usize,
    /// Scratch space for DNS datagrams.
    dns_buf: Vec<u8>,
    /// The socket the loop last waited on alone, and how many times in a
    /// row ([`Sockets::settle`]).
    sole_waits: Option<(SockId, u32)>,
    /// The one socket in blocking mode, if any, and the receive timeout
    /// (`SO_RCVTIMEO`) it has now (`None`: none, wait for ever).
    blocking: Option<(SockId, Option<Duration>)>,
}

/// Waits alone on one socket before it settles into blocking reads: a new
/// HTTPS connection waits twice (the server's first flight, the response),
/// and the three system calls of settling would cost it more than the two
/// `epoll_wait`s they save; a kept-alive connection settles in its second
/// exchange (HTTPS) or third (plain TCP) and saves one per request from
/// then on.
const SETTLE_AFTER: u32 = 3;

/// Below this much time to the next deadline the loop waits in
/// `epoll_wait`, whose millisecond timeout is exact enough: a socket's
/// receive timeout is counted in scheduler ticks (up to 10 ms).
const BLOCKING_WAIT_MIN: Duration = Duration::from_millis(20);

/// A send on a blocking socket waits at most this long (rounded up to a
/// scheduler tick) for room in the send buffer before it returns
/// `WouldBlock` and the loop goes back to `epoll_wait`, where a response
/// that comes early, while the body is still going out, is seen.
const BLOCKING_SEND_WAIT: Duration = Duration::from_millis(1);

/// Called with each socket just opened, before it is kept: registration
/// with whatever waits on it. An error fails the open.
pub(crate) type Opened<'a> = &'a mut dyn FnMut(SockId, &mut Handle) -> io::Result<()>;

impl Sockets {
    /// Number of open sockets.
    pub(crate) fn live(&self) -> usize {
        self.live
    }

    /// Carries out one `io` the core asked for, reporting the result to
    /// `core`. A socket the core closed is handed back: dropping it closes
    /// the descriptor.
    pub(crate) fn perform(
        &mut self,
        core: &mut Core,
        io: Io,
        now: Instant,
        opened: Opened<'_>,
    ) -> Option<Handle> {
        match io {
            Io::Connect { sock, addr } => {
                self.unsettle(core, now);
                if let Err(e) = self.open(sock, addr, opened) {
                    core.handle_connect_failed(sock, e, now);
                }
            }
            Io::SendDatagram {
                sock,
                server,
                payload,
            } => {
                self.unsettle(core, now);
                if let Err(e) = self.send_datagram(sock, server, &payload, opened) {
                    core.handle_io_error(sock, Direction::Send, e, now);
                }
            }
            Io::Send { sock } => self.send(core, sock, now),
            Io::Recv { sock } => self.recv(core, sock, now),
            Io::Farewell { sock, bytes } => {
                if let Some(Some(Handle::Tcp(s))) = self.handles.get_mut(sock.0) {
                    // One try: a peer that does not read gets no more.
                    let _ = s.write(&bytes);
                }
            }
            Io::Close { sock } => {
                let closed = self.handles.get_mut(sock.0).and_then(Option::take);
                if closed.is_some() {
                    self.live -= 1;
                }
                if self.sole_waits.is_some_and(|(s, _)| s == sock) {
                    self.sole_waits = None;
                }
                if self.is_blocking(sock) {
                    self.blocking = None;
                }
                return closed;
            }
        }
        None
    }

    /// Readiness news for `sock`: a finished connect is checked
    /// (`SO_ERROR`) and reported, datagrams are read, and the rest goes to
    /// [`Core::handle_ready`].
    ///
    /// `established` is the poller's word that the socket is writable with
    /// no error and no hangup. On Linux that settles a non-blocking
    /// connect: `tcp_poll` reports `EPOLLOUT` only once the handshake is
    /// complete, and a refused or reset connect always comes with
    /// `EPOLLERR`. The `SO_ERROR` and `getpeername` checks are then
    /// skipped (two system calls fewer per new connection); without that
    /// word (other pollers, a caller's readiness) they are made.
    pub(crate) fn on_ready(
        &mut self,
        core: &mut Core,
        sock: SockId,
        ready: Ready,
        established: bool,
        now: Instant,
    ) {
        match self.handles.get_mut(sock.0) {
            Some(Some(Handle::Udp(_))) if ready.readable => self.read_datagrams(core, sock, now),
            Some(Some(Handle::Tcp(stream))) => {
                if core.is_connecting(sock) {
                    if !(ready.readable || ready.writable) {
                        return;
                    }
                    let result = if established {
                        stream.local_addr()
                    } else {
                        match stream.take_error() {
                            Ok(Some(e)) | Err(e) => Err(e),
                            Ok(None) => match stream.peer_addr() {
                                Ok(_) => stream.local_addr(),
                                Err(e) if e.kind() == io::ErrorKind::NotConnected => return,
                                Err(e) => Err(e),
                            },
                        }
                    };
                    match result {
                        Ok(local) => core.handle_connected(sock, local, now),
                        Err(e) => {
                            core.handle_connect_failed(sock, e, now);
                            return;
                        }
                    }
                }
                core.handle_ready(sock, ready, now);
            }
            _ => {}
        }
    }

    fn read_datagrams(&mut self, core: &mut Core, sock: SockId, now: Instant) {
        if self.dns_buf.is_empty() {
            self.dns_buf = vec![0; 65536];
        }
        while let Some(Some(Handle::Udp(u))) = self.handles.get(sock.0) {
            match u.recv_from(&mut self.dns_buf) {
                Ok((n, from)) => core.handle_datagram(sock, from, &self.dns_buf[..n], now),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // ICMP port unreachable and the like: this server will
                    // not answer.
                    core.handle_io_error(sock, Direction::Recv, e, now);
                    break;
                }
            }
        }
    }

    fn send(&mut self, core: &mut Core, sock: SockId, now: Instant) {
        let Some(Some(Handle::Tcp(stream))) = self.handles.get_mut(sock.0) else {
            return;
        };
        let Some((head, body)) = core.send_buf(sock) else {
            return;
        };
        let written = loop {
            let r = if body.is_empty() {
                stream.write(head)
            } else if head.is_empty() {
                stream.write(body)
            } else {
                stream.write_vectored(&[IoSlice::new(head), IoSlice::new(body)])
            };
            match r {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other,
            }
        };
        match written {
            Ok(n) => core.handle_sent(sock, n, now),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                core.handle_would_block(sock, Direction::Send)
            }
            Err(e) => core.handle_io_error(sock, Direction::Send, e, now),
        }
    }

    fn recv(&mut self, core: &mut Core, sock: SockId, now: Instant) {
        let Some(Some(Handle::Tcp(stream))) = self.handles.get_mut(sock.0) else {
            return;
        };
        let Some(space) = core.recv_buf(sock) else {
            return;
        };
        match read_retrying(stream, space) {
            Ok(n) => core.handle_received(sock, n, now),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                core.handle_would_block(sock, Direction::Recv)
            }
            Err(e) => core.handle_io_error(sock, Direction::Recv, e, now),
        }
    }

    /// Reads from `sock` straight into the caller's `buf`: a direct body
    /// read (`Core::direct_read`), whose outcome goes to
    /// `Core::handle_direct_read`.
    pub(crate) fn recv_into(&mut self, sock: SockId, buf: &mut [u8]) -> io::Result<usize> {
        match self.handles.get_mut(sock.0) {
            Some(Some(Handle::Tcp(stream))) => read_retrying(stream, buf),
            _ => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    /// Readies `sock`, the loop's only wait ([`Core::sole_read_wait`]),
    /// for a read that is itself the wait: blocking mode, with a receive
    /// timeout that ends no later than `timeout` (`None`: no deadline).
    /// False if the loop should wait in its poller instead: `sock` has not
    /// waited alone [`SETTLE_AFTER`] times in a row, the deadline is too
    /// close for the timeout's granularity, or a socket option failed.
    ///
    /// The receive timeout is set again only when it would end after the
    /// deadline or more than half of the time before it, so a kept-alive
    /// connection whose every request has the same timeout sets it once.
    pub(crate) fn settle(&mut self, sock: SockId, timeout: Option<Duration>) -> bool {
        let waits = match self.sole_waits {
            Some((s, n)) if s == sock => n.saturating_add(1),
            _ => 1,
        };
        self.sole_waits = Some((sock, waits));
        if waits < SETTLE_AFTER || timeout.is_some_and(|t| t < BLOCKING_WAIT_MIN) {
            return false;
        }
        let current = match self.blocking {
            Some((s, current)) if s == sock => Some(current),
            // Another socket still blocking (never while `sock` waits
            // alone): the poller's turn puts it back first.
            Some(_) => return false,
            None => None,
        };
        let fits = |t: Option<Duration>| match (t, timeout) {
            (None, None) => true,
            (Some(t), Some(left)) => t <= left - BLOCKING_WAIT_MIN / 4 && t >= left / 2,
            _ => false,
        };
        if current.is_some_and(fits) {
            return true;
        }
        // Leaves a margin of a few ticks before the deadline.
        let wanted = timeout.map(|left| left - left / 8 - BLOCKING_WAIT_MIN / 4);
        let set = with_std(self.handles.get_mut(sock.0), |s| {
            if current.is_none() {
                s.set_nonblocking(false)?;
                s.set_write_timeout(Some(BLOCKING_SEND_WAIT))?;
            }
            s.set_read_timeout(wanted)
        });
        match set {
            Some(Ok(())) => {
                self.blocking = Some((sock, wanted));
                true
            }
            _ => {
                self.blocking = Some((sock, None));
                false
            }
        }
    }

    /// Puts the blocking socket, if any, back in non-blocking mode before
    /// the loop waits in its poller or another socket opens. Readiness that
    /// came while it was blocking raised no flag, so both are raised: at
    /// worst one read or write returns `WouldBlock`.
    pub(crate) fn unsettle(&mut self, core: &mut Core, now: Instant) {
        let Some((sock, _)) = self.blocking.take() else {
            return;
        };
        match with_std(self.handles.get_mut(sock.0), |s| s.set_nonblocking(true)) {
            Some(Ok(())) => core.handle_ready(sock, Ready::BOTH, now),
            Some(Err(e)) => core.handle_io_error(sock, Direction::Recv, e, now),
            None => {}
        }
    }

    /// The loop waits on more than one socket, or not to read: the count
    /// of [`Sockets::settle`] starts again.
    pub(crate) fn forget_sole_waits(&mut self) {
        self.sole_waits = None;
    }

    /// The socket in blocking mode, if any.
    #[cfg(test)]
    pub(crate) fn blocking_sock(&self) -> Option<SockId> {
        self.blocking.map(|(s, _)| s)
    }

    /// True if `sock` is in blocking mode ([`Sockets::settle`]).
    pub(crate) fn is_blocking(&self, sock: SockId) -> bool {
        self.blocking.is_some_and(|(s, _)| s == sock)
    }

    /// The read that is the wait, on a socket [`Sockets::settle`] readied:
    /// one blocking read, returning `WouldBlock` when the receive timeout
    /// ran out, `Interrupted` as it comes.
    pub(crate) fn recv_waiting(&mut self, sock: SockId, buf: &mut [u8]) -> io::Result<usize> {
        if !self.is_blocking(sock) {
            return Err(io::ErrorKind::NotConnected.into());
        }
        match self.handles.get_mut(sock.0) {
            Some(Some(Handle::Tcp(stream))) => stream.read(buf),
            _ => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    fn keep(&mut self, sock: SockId, handle: Handle) {
        if self.handles.len() <= sock.0 {
            self.handles.resize_with(sock.0 + 1, || None);
        }
        self.handles[sock.0] = Some(handle);
        self.live += 1;
    }

    /// A fresh UDP socket per query: a fresh source port from the kernel
    /// (RFC 5452 §9.2), connected so the kernel also drops datagrams from
    /// any other address or port.
    fn send_datagram(
        &mut self,
        sock: SockId,
        server: SocketAddr,
        payload: &[u8],
        opened: Opened<'_>,
    ) -> io::Result<()> {
        if let Some(Some(Handle::Udp(u))) = self.handles.get(sock.0) {
            u.send(payload)?;
            return Ok(());
        }
        let any: SocketAddr = if server.is_ipv4() {
            (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        // Non-blocking from the `socket` call on (SOCK_NONBLOCK on Linux).
        let socket = UdpSocket::bind(any)?;
        socket.connect(server)?;
        socket.send(payload)?;
        let mut handle = Handle::Udp(socket);
        opened(sock, &mut handle)?;
        self.keep(sock, handle);
        Ok(())
    }

    fn open(&mut self, sock: SockId, addr: SocketAddr, opened: Opened<'_>) -> io::Result<()> {
        // One `socket` call makes it non-blocking (SOCK_NONBLOCK on Linux,
        // no `fcntl`), then `connect`, whose EINPROGRESS mio reports as
        // success; completion is checked when the socket turns writable.
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        let mut handle = Handle::Tcp(stream);
        opened(sock, &mut handle)?;
        self.keep(sock, handle);
        Ok(())
    }
}

/// Lends `slot`'s TCP stream to `f` as std's, whose socket options mio
/// does not have (moving the descriptor between the two types costs no
/// system call). `None` if the slot holds no TCP stream.
fn with_std<R>(
    slot: Option<&mut Option<Handle>>,
    f: impl FnOnce(&std::net::TcpStream) -> R,
) -> Option<R> {
    let slot = slot?;
    match slot.take() {
        Some(Handle::Tcp(stream)) => {
            let stream = std::net::TcpStream::from(stream);
            let r = f(&stream);
            *slot = Some(Handle::Tcp(TcpStream::from_std(stream)));
            Some(r)
        }
        other => {
            *slot = other;
            None
        }
    }
}

/// One read, tried again when a signal interrupted it.
fn read_retrying(stream: &mut TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match stream.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

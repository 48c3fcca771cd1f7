//! The OS sockets behind core socket ids and the IO performed on them:
//! opening, writing, reading, datagrams and connect completion. Shared by
//! the mio loop ([`Runtime`](super::Runtime)) and by
//! [`SocketDriver`](crate::core::SocketDriver); neither `Poll` nor the
//! clock lives here, so whoever owns the waiting decides how a new socket
//! is watched (the `opened` callback of [`Sockets::perform`]).

use std::io::{self, IoSlice, Read, Write};
use std::net::SocketAddr;
use std::time::Instant;

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
}

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
                if let Err(e) = self.open(sock, addr, opened) {
                    core.handle_connect_failed(sock, e, now);
                }
            }
            Io::SendDatagram {
                sock,
                server,
                payload,
            } => {
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

/// One read, tried again when a signal interrupted it.
fn read_retrying(stream: &mut TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match stream.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

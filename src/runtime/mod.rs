//! The IO shell: one mio `Poll`, the sockets and the clock — a driver of
//! the sans-IO [`Core`](crate::core::Core) (DESIGN.md, "How these fit
//! together"). Nothing else in the crate touches a socket or reads the
//! clock; everything that is not IO (requests, pool, resolver, timers,
//! readiness flags) lives in the core.
//!
//! Sockets are created with mio (non-blocking from the `socket` call on,
//! TCP_NODELAY set) and registered once for both readiness kinds,
//! edge-triggered, under the token of the core's socket id. The core keeps
//! a readable/writable flag per socket, raised by the events this loop
//! reports and lowered when a call returns `WouldBlock` — or when a read
//! returned less than the space offered, which on a stream socket means the
//! kernel buffer was emptied; any later arrival raises a new edge. That is
//! what keeps a request to three system calls: write, `epoll_wait`, read.
//! Idle pooled sockets stay registered, so a server closing one (or
//! sending a stray 408) is noticed without a syscall at checkout.
//!
//! The read is the wait when there is nothing else to wait for: one open
//! socket, its exchange awaiting the response head with nothing left to
//! send (`Core::sole_read_wait`). After three such waits in a row the
//! socket settles into blocking mode (`Sockets::settle`), with a receive
//! timeout (`SO_RCVTIMEO`) that ends before the next deadline, so the read
//! itself blocks and a kept-alive GET is two system calls, write and read.
//! Every other read (a body, a pooled socket's probe), a second socket, a
//! deadline under 20 ms away or a send held back puts it back in
//! non-blocking mode and the loop in `epoll_wait` (`Sockets::unsettle`).
//!
//! The socket code itself (opening, writing, reading, datagrams, connect
//! completion) is in `net`, shared with
//! [`SocketDriver`](crate::core::SocketDriver), which owns sockets the same
//! way but leaves the waiting to its caller's poller.

pub(crate) mod net;
#[cfg(test)]
mod tests;

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token};

use crate::config::Config;
use crate::conn::SockId;
use crate::core::{BodyRead, Core, Io, Ready};
use crate::error::{Error, Phase, Result};
use crate::h1::ResponseHead;
use crate::send_body::SendBody;
use crate::trace::{RequestId, Trace};

use net::{Handle, Sockets};

/// The event loop: the core and the IO it asks for.
pub(crate) struct Runtime {
    pub(crate) core: Core,
    poll: Option<Poll>,
    events: Events,
    /// This turn's readiness: token, news, and whether a connect in
    /// progress is known to have completed.
    ready: Vec<(Token, Ready, bool)>,
    /// The OS socket of each core socket id.
    pub(crate) net: Sockets,
    /// The clock as read at the start of the current call or turn: every
    /// input of one turn carries the same instant.
    now: Instant,
    /// The socket `turn` has just found waiting alone for its response and
    /// settled: the first read `drive` is asked for on it needs no second
    /// look ([`Runtime::may_wait_in_read`]).
    settled_for: Option<SockId>,
    /// `Body::copy_to`'s buffer for a body of unknown length, kept between
    /// bodies so that a client copying one chunked body after another
    /// allocates (and zeroes) it once.
    copy_buf: Vec<u8>,
}

fn stalled() -> Error {
    Error::io(
        Phase::ReadResponseHead,
        io::Error::other("event loop has nothing to wait for (internal error)"),
    )
}

impl Runtime {
    pub fn new(config: Arc<Config>, client_trace: Trace) -> Runtime {
        // What may panic comes before the core exists, so no unwinding
        // path has to drop one (its drop glue is big, and copied into
        // every codegen unit that needs it).
        let events = Events::with_capacity(256);
        let now = Instant::now();
        Runtime {
            core: Core::with_shared(config, client_trace),
            poll: None,
            events,
            ready: Vec::new(),
            net: Sockets::default(),
            now,
            settled_for: None,
            copy_buf: Vec::new(),
        }
    }

    /// Number of idle pooled connections.
    pub fn idle_conns(&self) -> usize {
        self.core.idle_conns()
    }

    /// Submits a request; its outcome is collected with `take_outcome`.
    pub fn submit(&mut self, req: http::Request<SendBody>, trace: Trace) -> RequestId {
        let mut now = Instant::now();
        if self.core.idle_check_due(now) {
            // Errors here surface again, with a phase, on the real wait.
            let _ = self.turn_with(Some(Duration::ZERO));
            now = Instant::now();
        }
        self.now = now;
        let id = self.core.submit(req, trace, now);
        self.drive();
        id
    }

    /// The head or the error of a request, once known (handed out once).
    pub fn take_outcome(&mut self, id: RequestId) -> Option<Result<ResponseHead>> {
        self.now = Instant::now();
        self.take_outcome_now(id)
    }

    /// [`Runtime::take_outcome`] at `self.now`, for a loop that has just
    /// read the clock (a turn reads it once it wakes).
    fn take_outcome_now(&mut self, id: RequestId) -> Option<Result<ResponseHead>> {
        let outcome = self.core.take_outcome(id, self.now);
        self.drive();
        outcome
    }

    /// The timeline of `id` so far.
    pub fn timings(&self, id: RequestId) -> Option<crate::timings::Timings> {
        self.core.timings(id).cloned()
    }

    /// The final response head of `id` as received (`Body::raw_head`).
    pub fn raw_head(&self, id: RequestId) -> Option<bytes::Bytes> {
        self.core.raw_head(id)
    }

    /// Drives the loop until `id` has a head or an error.
    pub fn wait_outcome(&mut self, id: RequestId) -> Result<ResponseHead> {
        let mut outcome = self.take_outcome(id);
        loop {
            if let Some(outcome) = outcome {
                return outcome.map_err(|e| self.with_timings(id, e));
            }
            if !self.core.contains(id) {
                return Err(stalled());
            }
            self.turn()?;
            outcome = self.take_outcome_now(id);
        }
    }

    /// Drives the loop until one of `ids` has a head or an error.
    pub fn wait_any(&mut self, ids: &[RequestId]) -> Option<(RequestId, Result<ResponseHead>)> {
        if ids.is_empty() {
            return None;
        }
        self.now = Instant::now();
        loop {
            for &id in ids {
                if let Some(outcome) = self.take_outcome_now(id) {
                    return Some((id, outcome));
                }
            }
            if let Err(e) = self.turn() {
                return Some((ids[0], Err(e)));
            }
        }
    }

    /// Reads body bytes of `id`, driving the loop while none are ready;
    /// also says whether the body is over (these were its last bytes, or
    /// it had none left), so the caller need not ask again for the end.
    ///
    /// Into a buffer at least as large as a receive buffer may grow
    /// (`Config::recv_buffer_size`, 512 KiB by default), with nothing
    /// buffered, a plain-TCP Content-Length or close-delimited body is read
    /// straight from the socket (`Core::direct_read`): the kernel copies
    /// into the caller's buffer and nothing copies it again, as std's
    /// `BufReader` bypasses its buffer for reads at least as large as it.
    /// Smaller buffers take the receive buffer's bytes, read many at once:
    /// reading a large body 64 KiB at a time cost three times the kernel
    /// time of 512 KiB reads on one machine measured (docs/benchmarks.md,
    /// step 19), so a smaller direct read would trade a copy in user space
    /// for more than it saves.
    pub fn read_body(&mut self, id: RequestId, out: &mut [u8]) -> Result<(usize, bool)> {
        if out.is_empty() {
            return Ok((0, false));
        }
        let direct = out.len() >= self.core.config().recv_storage_size();
        if direct {
            self.core.set_reading(Some(id));
        }
        let read = self.read_body_into(id, out, direct);
        if direct {
            self.core.set_reading(None);
        }
        read.map_err(|e| self.with_timings(id, e))
    }

    /// How a reader of `id`'s whole body should size its buffer: the
    /// bytes left when known (`Core::body_left`), and the smallest buffer
    /// read into straight from the socket.
    pub fn body_size_hint(&self, id: RequestId) -> (Option<u64>, usize) {
        (
            self.core.body_left(id),
            self.core.config().recv_storage_size(),
        )
    }

    /// The buffer kept by [`Runtime::keep_copy_buf`] (empty if none): the
    /// client's one copy buffer, handed to one body at a time.
    pub fn take_copy_buf(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.copy_buf)
    }

    /// Keeps `buf` for the next [`Runtime::take_copy_buf`].
    pub fn keep_copy_buf(&mut self, buf: Vec<u8>) {
        self.copy_buf = buf;
    }

    fn read_body_into(
        &mut self,
        id: RequestId,
        out: &mut [u8],
        direct: bool,
    ) -> Result<(usize, bool)> {
        loop {
            self.now = Instant::now();
            let read = self.core.read_body_last(id, out, self.now);
            self.drive();
            match read? {
                (BodyRead::Data(n), over) => return Ok((n, over)),
                (BodyRead::End, _) => return Ok((0, true)),
                (BodyRead::Pending, _) => {}
            }
            if let Some((sock, limit)) = direct.then(|| self.core.direct_read(id)).flatten() {
                let want = usize::try_from(limit).map_or(out.len(), |l| l.min(out.len()));
                if self.net.is_blocking(sock) {
                    // A body is read as `epoll_wait` says (`Core::read_wait`).
                    self.net.unsettle(&mut self.core, self.now);
                }
                let got = self.net.recv_into(sock, &mut out[..want]);
                let got = got.map(|n| &out[..n]);
                let read = self.core.handle_direct_read(id, sock, want, got, self.now);
                self.drive();
                match read? {
                    (BodyRead::Data(n), over) => return Ok((n, over)),
                    (BodyRead::End, _) => return Ok((0, true)),
                    // The kernel had nothing after all: wait for it.
                    (BodyRead::Pending, _) => {}
                }
            }
            self.turn()?;
        }
    }

    fn with_timings(&self, id: RequestId, e: Error) -> Error {
        match self.timings(id) {
            Some(t) => e.with_timings(t),
            None => e,
        }
    }

    /// The trailer section of `id`, once its body has ended.
    pub fn take_trailers(&mut self, id: RequestId) -> Option<http::HeaderMap> {
        self.core.take_trailers(id)
    }

    /// The caller is done with `id`: cancel it if unfinished, forget it.
    pub fn release(&mut self, id: RequestId) {
        self.now = Instant::now();
        self.core.release(id, self.now);
        self.drive();
    }

    // ----- the loop ------------------------------------------------------

    /// One turn: carry out what the core asked for, wait for readiness or
    /// the next deadline, then feed what happened to the core.
    fn turn(&mut self) -> Result<()> {
        if self.drive() {
            // The IO may have finished something: let the caller look.
            return Ok(());
        }
        let deadline = self.core.poll_timeout();
        if deadline.is_none() && self.net.live() == 0 {
            return Err(stalled());
        }
        // From the last clock reading, at most the time of one drive ago:
        // the wait can only come out that much longer, and epoll rounds
        // it up to a millisecond anyway.
        let timeout = deadline.map(|d| d.saturating_duration_since(self.now));
        match self.core.sole_read_wait() {
            Some(sock) if self.net.settle(sock, timeout) => {
                // The read is the wait: raise the flag, and the read the
                // core then asks for (`drive`) blocks until bytes come or
                // the receive timeout, which ends before the deadline,
                // runs out. A keep-alive GET is then two system calls, the
                // write and the read, where `epoll_wait` made it three.
                let readable = Ready {
                    readable: true,
                    writable: false,
                    hup: false,
                };
                self.core.handle_ready(sock, readable, self.now);
                self.settled_for = Some(sock);
                self.drive();
                self.settled_for = None;
                return Ok(());
            }
            Some(_) => {}
            None => self.net.forget_sole_waits(),
        }
        self.net.unsettle(&mut self.core, self.now);
        if self.drive() {
            return Ok(());
        }
        self.turn_with(timeout)
    }

    fn turn_with(&mut self, timeout: Option<Duration>) -> Result<()> {
        let mut events = std::mem::replace(&mut self.events, Events::with_capacity(0));
        let polled = match poll_of(&mut self.poll) {
            Ok(p) => p.poll(&mut events, timeout),
            Err(e) => Err(e),
        };
        match polled {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                self.events = events;
                return Err(Error::io(Phase::ReadResponseHead, e));
            }
        }
        // The one clock read of this turn.
        let now = Instant::now();
        self.now = now;
        self.ready.clear();
        for ev in events.iter() {
            let trouble = ev.is_error() || ev.is_write_closed() || ev.is_read_closed();
            self.ready.push((
                ev.token(),
                Ready {
                    readable: ev.is_readable() || ev.is_read_closed() || ev.is_error(),
                    writable: ev.is_writable() || ev.is_write_closed() || ev.is_error(),
                    hup: ev.is_read_closed() || ev.is_error(),
                },
                // Only epoll's meaning of a clean EPOLLOUT is relied on
                // (see `Sockets::on_ready`).
                EPOLL && ev.is_writable() && !trouble,
            ));
        }
        self.events = events;
        for i in 0..self.ready.len() {
            let (token, ready, established) = self.ready[i];
            self.net
                .on_ready(&mut self.core, SockId(token.0), ready, established, now);
        }
        self.core.handle_timeout(now);
        self.drive();
        Ok(())
    }

    /// Before a read of `sock`, a socket in blocking mode: true if the
    /// read may wait ([`Core::read_wait`] says it waits for the response,
    /// and [`Sockets::settle`] has the receive timeout within the next
    /// deadline); otherwise the socket goes back to non-blocking mode, for
    /// a read that must not wait.
    fn may_wait_in_read(&mut self, sock: SockId) -> bool {
        let deadline = self.core.poll_timeout();
        let timeout = deadline.map(|d| d.saturating_duration_since(self.now));
        if self.core.read_wait(sock) && self.net.settle(sock, timeout) {
            return true;
        }
        self.net.unsettle(&mut self.core, self.now);
        false
    }

    /// The read that is the wait, on a socket in blocking mode: the clock
    /// is read after it, as after `epoll_wait` in `turn_with`.
    fn recv_waiting(&mut self, sock: SockId) {
        let got = match self.core.recv_buf(sock) {
            Some(space) => self.net.recv_waiting(sock, space),
            None => return,
        };
        self.now = Instant::now();
        self.core.handle_recv_result(sock, got, self.now);
    }

    /// Carries out everything the core asks for until it has nothing more.
    /// True if it asked for anything.
    fn drive(&mut self) -> bool {
        let mut any = false;
        while let Some(io) = self.core.poll_io() {
            any = true;
            // A read of a blocking socket is the wait, or the socket goes
            // back to non-blocking mode first (`may_wait_in_read`): the
            // shared `Sockets::recv` below never meets one.
            if let Io::Recv { sock } = io {
                let settled = self.settled_for.take() == Some(sock);
                if self.net.is_blocking(sock) && (settled || self.may_wait_in_read(sock)) {
                    self.recv_waiting(sock);
                    continue;
                }
            }
            let poll = &mut self.poll;
            // Registered once for both readiness kinds, edge-triggered,
            // under the token of the core's socket id. A closed socket is
            // dropped here: closing its descriptor also takes it out of
            // the epoll set (nothing else holds the descriptor), so no
            // `deregister` (one `epoll_ctl` fewer per connection).
            drop(
                self.net
                    .perform(&mut self.core, io, self.now, &mut |sock, handle| {
                        let registry = poll_of(poll)?.registry();
                        match handle {
                            Handle::Tcp(s) => registry.register(
                                s,
                                Token(sock.0),
                                Interest::READABLE | Interest::WRITABLE,
                            ),
                            Handle::Udp(u) => {
                                registry.register(u, Token(sock.0), Interest::READABLE)
                            }
                        }
                    }),
            );
        }
        any
    }
}

/// mio polls with epoll here, whose writable-without-error settles a
/// non-blocking connect.
const EPOLL: bool = cfg!(any(target_os = "linux", target_os = "android"));

fn poll_of(poll: &mut Option<Poll>) -> io::Result<&mut Poll> {
    if poll.is_none() {
        *poll = Some(Poll::new()?);
    }
    Ok(poll.as_mut().expect("just created"))
}

impl Drop for Runtime {
    fn drop(&mut self) {
        // TLS connections say goodbye (RFC 8446 §6.1) before closing.
        self.now = Instant::now();
        self.core.shutdown(self.now);
        self.drive();
    }
}

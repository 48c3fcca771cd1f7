//! A socket-interest mode, after curl's `multi_socket` interface: the
//! [`SocketDriver`] owns a [`Core`] *and* the real non-blocking OS sockets
//! it asks for, performs every connect, write, read and datagram itself,
//! but does not wait. The caller keeps its own poller (epoll, kqueue, mio,
//! an async reactor's raw-descriptor support) and the driver tells it
//! which descriptors to watch for which readiness ([`Interest`], from
//! [`SocketDriver::poll_interest`]) and when to call back
//! ([`SocketDriver::poll_timeout`]); the caller reports readiness with
//! [`SocketDriver::handle_readiness`] and expired time with
//! [`SocketDriver::handle_timeout`].
//!
//! The pieces map onto curl's: [`Interest`] is what curl hands to the
//! `CURLMOPT_SOCKETFUNCTION` callback (`CURL_POLL_IN`/`OUT`/`INOUT` are
//! [`Interest::Watch`], `CURL_POLL_REMOVE` is [`Interest::Unwatch`]),
//! [`SocketDriver::poll_timeout`] is the `CURLMOPT_TIMERFUNCTION`
//! callback's deadline, and [`SocketDriver::handle_readiness`] and
//! [`SocketDriver::handle_timeout`] are `curl_multi_socket_action` with a
//! descriptor or with `CURL_SOCKET_TIMEOUT`. Unlike curl the news is
//! polled, never pushed through a callback: nothing of the caller runs
//! inside the driver except the trace hooks it attached.
//!
//! Unix only (`#[cfg(unix)]`): descriptors are [`RawFd`]s.
//!
//! # The contract
//!
//! - **Who owns the sockets:** the driver. It opens them (non-blocking,
//!   TCP_NODELAY), reads and writes them and closes them. The caller never
//!   reads, writes or closes a descriptor it was given; it only watches it.
//! - **On [`Interest::Watch`]:** start watching `fd` for the readiness
//!   named, **edge-triggered** (epoll with `EPOLLET`, kqueue with
//!   `EV_CLEAR`, mio). A `Watch` for a descriptor already watched changes
//!   what it is watched for (today every socket is watched for the same
//!   readiness from open to close: TCP readable and writable, UDP
//!   readable). Level-triggered watching would report a connected TCP
//!   socket writable on every wait and spin.
//! - **On [`Interest::Unwatch`]:** stop watching `fd` (`EPOLL_CTL_DEL`,
//!   `deregister`) right away: the driver closes the descriptor only at
//!   the caller's next call into it ([`SocketDriver::poll_interest`]
//!   included), so the number is still valid for the deregistration and
//!   cannot have been reused by a new socket meanwhile. A `Watch` and an
//!   `Unwatch` of the same number therefore arrive in the order they
//!   happened.
//! - **After every call** (a request method, [`SocketDriver::handle_readiness`],
//!   [`SocketDriver::handle_timeout`]): drain
//!   [`SocketDriver::poll_interest`] until `None`, then wait for readiness
//!   or [`SocketDriver::poll_timeout`], whichever comes first.
//! - **Time:** every call carries `now`, the caller's clock, which must
//!   never go backwards; calling [`SocketDriver::handle_timeout`] early is
//!   harmless.
//!
//! docs/embedding.md has the whole contract, and tests/socket_interest.rs
//! checks that a request driven this way traces exactly as one sent by
//! [`Client`](crate::Client).

use std::collections::{HashMap, VecDeque};
use std::os::fd::{AsRawFd, RawFd};
use std::time::Instant;

use super::{BodyRead, Core, Ready};
use crate::config::Config;
use crate::conn::SockId;
use crate::error::Result;
use crate::h1::ResponseHead;
use crate::runtime::net::{Handle, Sockets};
use crate::send_body::SendBody;
use crate::trace::{RequestId, Trace};

/// A change in what the caller watches, from
/// [`SocketDriver::poll_interest`] (curl's `CURLMOPT_SOCKETFUNCTION`).
///
/// ```
/// use roundtrip::core::Interest;
///
/// fn apply(change: Interest) {
///     match change {
///         Interest::Watch { fd, readable, writable } => {
///             println!("watch {fd}: read {readable}, write {writable}")
///         }
///         Interest::Unwatch { fd } => println!("forget {fd}"),
///     }
/// }
/// apply(Interest::Unwatch { fd: 7 });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interest {
    /// Watch `fd`, edge-triggered, for the readiness named (or change what
    /// it is watched for, if already watched).
    Watch {
        /// The descriptor.
        fd: RawFd,
        /// Report when it turns readable.
        readable: bool,
        /// Report when it turns writable.
        writable: bool,
    },
    /// Stop watching `fd`: the driver is closing it.
    Unwatch {
        /// The descriptor.
        fd: RawFd,
    },
}

/// A [`Core`] with real sockets and no poller: the caller's poll watches
/// the descriptors this reports (see the [module docs](crate::core::sockets)
/// for the contract).
///
/// ```no_run
/// use std::time::Instant;
/// use roundtrip::core::{Interest, SocketDriver};
/// use roundtrip::{Config, Trace};
///
/// let mut driver = SocketDriver::new(Config::default(), Trace::new());
/// let req = roundtrip::http::Request::get("http://example.com/")
///     .body(().into())
///     .unwrap();
/// let id = driver.submit(req, Trace::new(), Instant::now());
/// while let Some(change) = driver.poll_interest() {
///     match change {
///         Interest::Watch { fd, .. } => { /* register fd with your poller */ }
///         Interest::Unwatch { fd } => { /* deregister fd */ }
///     }
/// }
/// // ...wait until a descriptor is ready or driver.poll_timeout(), report
/// // it with driver.handle_readiness(fd, ready, now) or
/// // driver.handle_timeout(now), drain poll_interest again, and ask
/// // driver.take_outcome(id, now) until it answers.
/// # let _ = id;
/// ```
pub struct SocketDriver {
    core: Core,
    net: Sockets,
    /// The core socket id of each descriptor being watched.
    fds: HashMap<RawFd, SockId>,
    /// Interest changes not yet handed out, with the socket to close once
    /// its `Unwatch` has been seen.
    interest: VecDeque<(Interest, Option<Handle>)>,
    /// Sockets whose `Unwatch` was handed out: closed on the next call.
    retired: Vec<Handle>,
    /// The latest instant the caller passed in: the one clock `Drop` uses.
    last: Option<Instant>,
}

impl std::fmt::Debug for SocketDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SocketDriver")
            .field("core", &self.core)
            .field("watched", &self.fds.len())
            .finish_non_exhaustive()
    }
}

impl SocketDriver {
    /// A driver with `config` and a client-level trace (see [`Core::new`]).
    ///
    /// ```
    /// let driver = roundtrip::core::SocketDriver::new(
    ///     roundtrip::Config::default(),
    ///     roundtrip::Trace::new(),
    /// );
    /// assert_eq!(driver.core().open_sockets(), 0);
    /// ```
    pub fn new(config: Config, client_trace: Trace) -> SocketDriver {
        SocketDriver {
            core: Core::new(config, client_trace),
            net: Sockets::default(),
            fds: HashMap::new(),
            interest: VecDeque::new(),
            retired: Vec::new(),
            last: None,
        }
    }

    /// The core, for its getters ([`Core::timings`], [`Core::idle_conns`],
    /// [`Core::in_flight`], [`Core::idle_check_due`]...).
    ///
    /// ```
    /// let driver = roundtrip::core::SocketDriver::new(
    ///     roundtrip::Config::default(),
    ///     roundtrip::Trace::new(),
    /// );
    /// assert_eq!(driver.core().idle_conns(), 0);
    /// ```
    pub fn core(&self) -> &Core {
        &self.core
    }

    /// Starts a request (see [`Core::submit`]). When
    /// [`Core::idle_check_due`] says so, deliver any readiness the poller
    /// has (a zero-timeout wait) first, so a pooled connection the server
    /// closed meanwhile is not checked out.
    ///
    /// ```no_run
    /// # let mut driver = roundtrip::core::SocketDriver::new(
    /// #     roundtrip::Config::default(), roundtrip::Trace::new());
    /// let req = roundtrip::http::Request::get("http://example.com/")
    ///     .body(().into())
    ///     .unwrap();
    /// let id = driver.submit(req, roundtrip::Trace::new(), std::time::Instant::now());
    /// # let _ = id;
    /// ```
    pub fn submit(
        &mut self,
        req: http::Request<SendBody>,
        trace: Trace,
        now: Instant,
    ) -> RequestId {
        self.retired.clear();
        let id = self.core.submit(req, trace, now);
        self.drive(now);
        id
    }

    /// The final head or the error of `id`, once known, handed out once
    /// (see [`Core::take_outcome`], which follows redirects).
    ///
    /// ```no_run
    /// # let mut driver = roundtrip::core::SocketDriver::new(
    /// #     roundtrip::Config::default(), roundtrip::Trace::new());
    /// # let id = driver.submit(roundtrip::http::Request::get("http://example.com/")
    /// #     .body(().into()).unwrap(), roundtrip::Trace::new(), std::time::Instant::now());
    /// if let Some(outcome) = driver.take_outcome(id, std::time::Instant::now()) {
    ///     println!("{}", outcome?.status);
    /// }
    /// # Ok::<(), roundtrip::Error>(())
    /// ```
    pub fn take_outcome(&mut self, id: RequestId, now: Instant) -> Option<Result<ResponseHead>> {
        self.retired.clear();
        let outcome = self.core.take_outcome(id, now);
        self.drive(now);
        outcome
    }

    /// Copies body bytes of `id` into `out` (see [`Core::read_body`]);
    /// [`BodyRead::Pending`] means: wait and ask again.
    ///
    /// ```no_run
    /// # let mut driver = roundtrip::core::SocketDriver::new(
    /// #     roundtrip::Config::default(), roundtrip::Trace::new());
    /// # let id = driver.submit(roundtrip::http::Request::get("http://example.com/")
    /// #     .body(().into()).unwrap(), roundtrip::Trace::new(), std::time::Instant::now());
    /// let mut buf = [0u8; 4096];
    /// match driver.read_body(id, &mut buf, std::time::Instant::now())? {
    ///     roundtrip::core::BodyRead::Data(n) => println!("{n} bytes"),
    ///     roundtrip::core::BodyRead::End => println!("done"),
    ///     roundtrip::core::BodyRead::Pending => println!("wait for readiness"),
    /// }
    /// # Ok::<(), roundtrip::Error>(())
    /// ```
    pub fn read_body(&mut self, id: RequestId, out: &mut [u8], now: Instant) -> Result<BodyRead> {
        self.retired.clear();
        let read = self.core.read_body(id, out, now);
        self.drive(now);
        read
    }

    /// The trailer section of `id`, once its body has ended.
    ///
    /// ```no_run
    /// # let mut driver = roundtrip::core::SocketDriver::new(
    /// #     roundtrip::Config::default(), roundtrip::Trace::new());
    /// # let id = driver.submit(roundtrip::http::Request::get("http://example.com/")
    /// #     .body(().into()).unwrap(), roundtrip::Trace::new(), std::time::Instant::now());
    /// let trailers = driver.take_trailers(id);
    /// # let _ = trailers;
    /// ```
    pub fn take_trailers(&mut self, id: RequestId) -> Option<http::HeaderMap> {
        self.core.take_trailers(id)
    }

    /// The caller is done with `id`: cancel it if unfinished, pool its
    /// connection if it finished cleanly, forget it (see [`Core::release`]).
    ///
    /// ```no_run
    /// # let mut driver = roundtrip::core::SocketDriver::new(
    /// #     roundtrip::Config::default(), roundtrip::Trace::new());
    /// # let id = driver.submit(roundtrip::http::Request::get("http://example.com/")
    /// #     .body(().into()).unwrap(), roundtrip::Trace::new(), std::time::Instant::now());
    /// driver.release(id, std::time::Instant::now());
    /// ```
    pub fn release(&mut self, id: RequestId, now: Instant) {
        self.retired.clear();
        self.core.release(id, now);
        self.drive(now);
    }

    /// Closes every idle connection (see [`Core::shutdown`]): call it
    /// before dropping the driver and drain [`SocketDriver::poll_interest`]
    /// once more, so the poller forgets every descriptor.
    ///
    /// ```
    /// let mut driver = roundtrip::core::SocketDriver::new(
    ///     roundtrip::Config::default(),
    ///     roundtrip::Trace::new(),
    /// );
    /// driver.shutdown(std::time::Instant::now());
    /// assert_eq!(driver.poll_interest(), None);
    /// ```
    pub fn shutdown(&mut self, now: Instant) {
        self.retired.clear();
        self.core.shutdown(now);
        self.drive(now);
    }

    /// The next change in what to watch, or `None` when there is none.
    /// Drain it after every other call.
    ///
    /// ```
    /// # let mut driver = roundtrip::core::SocketDriver::new(
    /// #     roundtrip::Config::default(), roundtrip::Trace::new());
    /// while let Some(change) = driver.poll_interest() {
    ///     println!("{change:?}");
    /// }
    /// ```
    pub fn poll_interest(&mut self) -> Option<Interest> {
        // The previous `Unwatch` has been acted on: close its socket now.
        self.retired.clear();
        let (interest, closing) = self.interest.pop_front()?;
        self.retired.extend(closing);
        Some(interest)
    }

    /// When to call [`SocketDriver::handle_timeout`] at the latest, if no
    /// descriptor turns ready before (curl's `CURLMOPT_TIMERFUNCTION`).
    /// It can be early; an early call is harmless.
    ///
    /// ```
    /// # let driver = roundtrip::core::SocketDriver::new(
    /// #     roundtrip::Config::default(), roundtrip::Trace::new());
    /// assert_eq!(driver.poll_timeout(), None, "nothing in flight");
    /// ```
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.core.poll_timeout()
    }

    /// `fd` turned ready (`curl_multi_socket_action` with a descriptor).
    /// Set [`Ready::hup`] when the poller says the peer closed its side
    /// (`EPOLLRDHUP`, mio's `is_read_closed`), and both flags on an error
    /// condition. A descriptor the driver no longer knows is ignored.
    ///
    /// ```
    /// # let mut driver = roundtrip::core::SocketDriver::new(
    /// #     roundtrip::Config::default(), roundtrip::Trace::new());
    /// let ready = roundtrip::core::Ready { readable: true, writable: false, hup: false };
    /// driver.handle_readiness(42, ready, std::time::Instant::now());
    /// ```
    pub fn handle_readiness(&mut self, fd: RawFd, ready: Ready, now: Instant) {
        self.retired.clear();
        if let Some(&sock) = self.fds.get(&fd) {
            self.net.on_ready(&mut self.core, sock, ready, false, now);
            self.drive(now);
        }
    }

    /// Time passed (`curl_multi_socket_action` with
    /// `CURL_SOCKET_TIMEOUT`): fires whatever is due at `now` — request
    /// deadlines, idle connection expiry, DNS retransmits.
    ///
    /// ```
    /// # let mut driver = roundtrip::core::SocketDriver::new(
    /// #     roundtrip::Config::default(), roundtrip::Trace::new());
    /// driver.handle_timeout(std::time::Instant::now());
    /// ```
    pub fn handle_timeout(&mut self, now: Instant) {
        self.retired.clear();
        self.core.handle_timeout(now);
        self.drive(now);
    }

    /// Carries out everything the core asks for, queueing the interest
    /// changes it makes.
    fn drive(&mut self, now: Instant) {
        self.last = Some(now);
        while let Some(io) = self.core.poll_io() {
            let (fds, interest) = (&mut self.fds, &mut self.interest);
            let closed = self
                .net
                .perform(&mut self.core, io, now, &mut |sock, handle| {
                    let fd = handle.as_raw_fd();
                    fds.insert(fd, sock);
                    let watch = Interest::Watch {
                        fd,
                        readable: true,
                        writable: matches!(handle, Handle::Tcp(_)),
                    };
                    interest.push_back((watch, None));
                    Ok(())
                });
            if let Some(handle) = closed {
                let fd = handle.as_raw_fd();
                self.fds.remove(&fd);
                self.interest
                    .push_back((Interest::Unwatch { fd }, Some(handle)));
            }
        }
    }
}

impl Drop for SocketDriver {
    fn drop(&mut self) {
        // TLS connections say goodbye (RFC 8446 §6.1) before closing, at
        // the caller's latest instant: the driver never reads a clock.
        if let Some(now) = self.last {
            self.core.shutdown(now);
            self.drive(now);
        }
    }
}

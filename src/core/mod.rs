//! The whole client as a sans-IO state machine: resolver, Happy Eyeballs
//! schedule, TLS, HTTP/1.1, pool, redirects and trace, driven by the
//! caller's own loop. [`Client`](crate::Client) is one driver of it (a mio
//! loop in `src/runtime/`); docs/embedding.md shows how to write another.
//!
//! # The contract
//!
//! The [`Core`] never blocks, never reads the clock, never spawns a thread
//! and never touches a socket (construction aside, which reads the
//! system's DNS and proxy settings: see [`Core::new`]). The caller (the *driver*) owns the sockets,
//! the clock and the waiting; the core owns everything else, including
//! every buffer bytes are written from or read into, so a driver copies
//! nothing (zero-copy: it writes straight from [`Core::send_buf`] and reads
//! straight into [`Core::recv_buf`]).
//!
//! Methods come in four kinds, after quinn-proto's `Connection`:
//!
//! - **mutators**, commands from the application: [`Core::submit`],
//!   [`Core::read_body`], [`Core::take_outcome`] (which follows redirects),
//!   [`Core::release`], [`Core::shutdown`];
//! - **`handle_*`**, input from the network or the clock:
//!   [`Core::handle_connected`], [`Core::handle_connect_failed`],
//!   [`Core::handle_ready`], [`Core::handle_sent`], [`Core::handle_received`],
//!   [`Core::handle_would_block`], [`Core::handle_io_error`] (or, taking
//!   what std's `write` and `read` returned, [`Core::handle_send_result`]
//!   and [`Core::handle_recv_result`]), [`Core::handle_datagram`],
//!   [`Core::handle_timeout`];
//! - **`poll_*`**, output: [`Core::poll_io`] (what to do with a socket) and
//!   [`Core::poll_timeout`] (when to call [`Core::handle_timeout`]);
//! - **getters**: [`Core::send_buf`], [`Core::recv_buf`],
//!   [`Core::is_connecting`], [`Core::timings`], [`Core::idle_conns`]...
//!
//! The order of calls: after any mutator or `handle_*` call, drain
//! [`Core::poll_io`] until it returns `None`, carrying out each [`Io`]
//! (which may mean more `handle_*` calls: drain again), then ask
//! [`Core::poll_timeout`] and wait for readiness or that deadline, whichever
//! comes first. Every input carries `now`, the caller's clock; it must never
//! go backwards. Calling [`Core::handle_timeout`] early is harmless. Before
//! dropping a core, call [`Core::shutdown`] and drain once more, so idle TLS
//! connections say goodbye and `conn_closed` fires.
//!
//! Trace events come from the same place whoever drives the core (the
//! request's exchange), so a request traced through a hand-written driver
//! reads exactly as one sent through [`Client`](crate::Client)
//! (tests/core_driver.rs checks it).
//!
//! # Sockets
//!
//! Socket ids ([`SockId`]) are issued by the core, small integers reused
//! after an [`Io::Close`]; the driver maps each to its own handle (a slab
//! index, a mio token, a file descriptor). The core issues them because it
//! must name a socket before the driver has one (a connect that is not yet
//! attempted) and after the driver lost it (a close it has not yet
//! performed), and because a dense id lets the driver index a `Vec`.
//! [`Io`] explains what each action obliges the driver to do.
//!
//! Readiness is the driver's news, not the core's guess: the core keeps a
//! readable and a writable flag per socket, raised by [`Core::handle_ready`]
//! and lowered by [`Core::handle_would_block`] (or by a read that returned
//! less than the space offered), and asks for a send or a receive only
//! while the flag is up. Edge-triggered readiness (epoll with `EPOLLET`,
//! mio) fits this exactly; a driver with no readiness source at all can
//! report every socket ready and rely on `WouldBlock`.
//!
//! # Or let the client own the sockets
//!
//! A caller with its own poller but no wish to write socket code can use
//! [`SocketDriver`] (Unix only): a core plus the real non-blocking sockets
//! it asks for, which reports which descriptors to watch ([`Interest`])
//! and when to call back, after curl's `multi_socket` interface. See the
//! [`sockets`] module.
//!
//! # A round trip by hand
//!
//! The whole contract in one request, with no network and no real time:
//! the "driver" below is the example itself, answering each [`Io`] by
//! pretending, and the clock is an `Instant` it moves by hand. An address
//! literal keeps the resolver out of it.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use roundtrip::core::{BodyRead, Core, Io, Ready};
//! use roundtrip::proxy::ProxyConfig;
//! use roundtrip::{Config, Trace};
//!
//! let mut config = Config::default();
//! config.proxy = ProxyConfig::Off; // ignore any proxy in the environment
//! let mut core = Core::new(config, Trace::new());
//! let t0 = Instant::now();
//! let ms = Duration::from_millis;
//!
//! let req = roundtrip::http::Request::get("http://192.0.2.1/").body(().into()).unwrap();
//! let id = core.submit(req, Trace::new(), t0);
//! let Some(Io::Connect { sock, .. }) = core.poll_io() else { panic!("no connect") };
//!
//! // The connect "succeeded" 5 ms later: the request head is ready to go.
//! core.handle_connected(sock, "192.0.2.9:50000".parse().unwrap(), t0 + ms(5));
//! assert_eq!(core.poll_io(), Some(Io::Send { sock }));
//! let (head, body) = core.send_buf(sock).unwrap();
//! assert!(head.starts_with(b"GET / HTTP/1.1\r\n"));
//! let written = head.len() + body.len();
//! core.handle_sent(sock, written, t0 + ms(5));
//!
//! // The socket turned readable: the response goes straight into the
//! // core's own buffer.
//! core.handle_ready(sock, Ready::BOTH, t0 + ms(20));
//! assert_eq!(core.poll_io(), Some(Io::Recv { sock }));
//! let response = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
//! core.recv_buf(sock).unwrap()[..response.len()].copy_from_slice(response);
//! core.handle_received(sock, response.len(), t0 + ms(20));
//!
//! let head = core.take_outcome(id, t0 + ms(21)).unwrap().unwrap();
//! assert_eq!(head.status, 200);
//! let mut buf = [0u8; 8];
//! assert_eq!(core.read_body(id, &mut buf, t0 + ms(21)).unwrap(), BodyRead::Data(2));
//! assert_eq!(&buf[..2], b"hi");
//! // The timeline is the virtual clock's: the connect took exactly 5 ms.
//! let connect = core.timings(id).unwrap().tcp_connect();
//! assert_eq!(connect, roundtrip::timings::PhaseTime::Took(ms(5)));
//! ```

#[cfg(test)]
mod direct_tests;
#[cfg(unix)]
pub mod sockets;
mod timers;

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use crate::config::Config;
pub use crate::conn::SockId;
use crate::dial::FamilyMemory;
use crate::dns::{DnsSockId, Hosts, QueryId, Resolver, ResolverEvent, Transmit};
use crate::error::{Error, Result};
use crate::exchange::redirect::NextHop;
use crate::exchange::{self, Action, Exchange, Ids};
use crate::h1::ResponseHead;
use crate::pool::Pool;
use crate::send_body::SendBody;
use crate::trace::{AttemptId, CloseReason, ConnId, Event, EventKind, RequestId, Trace};

#[cfg(unix)]
pub use sockets::{Interest, SocketDriver};
use timers::Timers;

/// What the core asks of its driver, from [`Core::poll_io`]. New kinds may
/// be added: match with a `_` arm that does nothing.
///
/// A driver is one `match` on these. This one stands for a network where
/// nothing answers: every connect fails, so the request ends in an error
/// (after Happy Eyeballs has run out of addresses), and the core then asks
/// for nothing more.
///
/// ```
/// use std::io;
/// use std::time::Instant;
/// use roundtrip::core::{Core, Io};
/// use roundtrip::proxy::ProxyConfig;
/// use roundtrip::{Config, Trace};
///
/// fn carry_out(core: &mut Core, io: Io, now: Instant) {
///     match io {
///         Io::Connect { sock, addr } => {
///             let refused = io::Error::new(io::ErrorKind::ConnectionRefused, addr.to_string());
///             core.handle_connect_failed(sock, refused, now);
///         }
///         Io::Close { .. } => {} // nothing was opened, so nothing to close
///         other => unreachable!("nothing was connected: {other:?}"),
///     }
/// }
///
/// let mut config = Config::default();
/// config.proxy = ProxyConfig::Off;
/// let mut core = Core::new(config, Trace::new());
/// let now = Instant::now();
/// let req = roundtrip::http::Request::get("http://[2001:db8::1]/").body(().into()).unwrap();
/// let id = core.submit(req, Trace::new(), now);
/// while let Some(io) = core.poll_io() {
///     carry_out(&mut core, io, now);
/// }
/// let err = core.take_outcome(id, now).unwrap().unwrap_err();
/// assert_eq!(err.io_kind(), io::ErrorKind::ConnectionRefused);
/// ```
#[derive(Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Io {
    /// Open a non-blocking TCP connection to `addr` for `sock`. Report the
    /// result with [`Core::handle_connected`] or
    /// [`Core::handle_connect_failed`] (right away if the connect call
    /// itself failed).
    Connect {
        /// The id the new socket goes by.
        sock: SockId,
        /// Where to.
        addr: SocketAddr,
    },
    /// Send one DNS datagram to `server` from UDP socket `sock`, opening
    /// the socket first (bound to an ephemeral port, connected to
    /// `server`) if the driver has none by that id. Every datagram that
    /// arrives on it goes to [`Core::handle_datagram`]; a failure to open
    /// or send, or a receive error, to [`Core::handle_io_error`].
    SendDatagram {
        /// The UDP socket.
        sock: SockId,
        /// The DNS server.
        server: SocketAddr,
        /// One DNS message.
        payload: Vec<u8>,
    },
    /// `sock` has bytes to send and is believed writable: write what
    /// [`Core::send_buf`] returns (one vectored write for the two parts),
    /// then answer with exactly one of [`Core::handle_sent`],
    /// [`Core::handle_would_block`] or [`Core::handle_io_error`].
    Send {
        /// The TCP socket.
        sock: SockId,
    },
    /// `sock` is believed readable and the core has room: read into
    /// [`Core::recv_buf`], then answer with exactly one of
    /// [`Core::handle_received`] (0 for end of stream),
    /// [`Core::handle_would_block`] or [`Core::handle_io_error`].
    Recv {
        /// The TCP socket.
        sock: SockId,
    },
    /// Write `bytes` on `sock` once, best effort, ignoring the result (a
    /// TLS close_notify before the [`Io::Close`] that follows).
    Farewell {
        /// The TCP socket.
        sock: SockId,
        /// The last bytes.
        bytes: Vec<u8>,
    },
    /// Close `sock` and forget it; the id may be reused by a later
    /// [`Io::Connect`] or [`Io::SendDatagram`]. Closing an id the driver
    /// never opened (its connect failed) is a no-op.
    Close {
        /// The socket.
        sock: SockId,
    },
}

/// Readiness news for one socket, for [`Core::handle_ready`].
///
/// Built from whatever the driver's poller reports; with mio:
///
/// ```
/// use roundtrip::core::Ready;
///
/// // `event` would be a `mio::event::Event`; these are its answers.
/// let (is_readable, is_writable, is_read_closed) = (true, false, true);
/// let ready = Ready {
///     readable: is_readable || is_read_closed,
///     writable: is_writable,
///     hup: is_read_closed,
/// };
/// assert!(ready.readable && ready.hup && !ready.writable);
/// // A driver with no poller at all reports this for every socket:
/// assert_eq!(Ready::BOTH, Ready { readable: true, writable: true, hup: false });
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ready {
    /// Reading would not block (data, end of stream or an error waits).
    pub readable: bool,
    /// Writing would not block.
    pub writable: bool,
    /// The peer closed its side (EPOLLRDHUP): the core keeps reading until
    /// end of stream, since no further readiness edge will announce it.
    pub hup: bool,
}

impl Ready {
    /// Readable and writable: what a driver with no readiness source
    /// reports for every socket on each turn, letting `WouldBlock` sort
    /// out the truth.
    pub const BOTH: Ready = Ready {
        readable: true,
        writable: true,
        hup: false,
    };
}

/// Which way an [`Io::Send`] or [`Io::Recv`] went, for
/// [`Core::handle_would_block`] and [`Core::handle_io_error`].
///
/// A write that would block lowers the socket's writable flag, so the core
/// stops asking to send until the driver reports it writable again:
///
/// ```
/// use std::time::Instant;
/// use roundtrip::core::{Core, Direction, Io, Ready};
/// use roundtrip::proxy::ProxyConfig;
/// use roundtrip::{Config, Trace};
///
/// let mut config = Config::default();
/// config.proxy = ProxyConfig::Off;
/// let mut core = Core::new(config, Trace::new());
/// let now = Instant::now();
/// let req = roundtrip::http::Request::get("http://192.0.2.1/").body(().into()).unwrap();
/// core.submit(req, Trace::new(), now);
/// let Some(Io::Connect { sock, .. }) = core.poll_io() else { panic!("no connect") };
/// core.handle_connected(sock, "192.0.2.9:50000".parse().unwrap(), now);
/// assert_eq!(core.poll_io(), Some(Io::Send { sock }));
///
/// core.handle_would_block(sock, Direction::Send);
/// assert_eq!(core.poll_io(), None, "no send until the socket is writable");
/// core.handle_ready(sock, Ready { writable: true, ..Ready::default() }, now);
/// assert_eq!(core.poll_io(), Some(Io::Send { sock }));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// A write (or a datagram send).
    Send,
    /// A read (or a datagram receive).
    Recv,
}

/// What [`Core::read_body`] produced.
///
/// Reading a whole body: copy out `Data`, stop at `End`, and on `Pending`
/// go back to the driving loop (here the rest of the body simply arrives).
///
/// ```
/// # use std::time::Instant;
/// # use roundtrip::core::{Core, Io, Ready};
/// # use roundtrip::proxy::ProxyConfig;
/// # use roundtrip::{Config, Trace};
/// use roundtrip::core::BodyRead;
/// # let mut config = Config::default();
/// # config.proxy = ProxyConfig::Off;
/// # let mut core = Core::new(config, Trace::new());
/// # let now = Instant::now();
/// # let req = roundtrip::http::Request::get("http://192.0.2.1/").body(().into()).unwrap();
/// # let id = core.submit(req, Trace::new(), now);
/// # let Some(Io::Connect { sock, .. }) = core.poll_io() else { panic!() };
/// # core.handle_connected(sock, "192.0.2.9:50000".parse().unwrap(), now);
/// # let n = core.send_buf(sock).map(|(h, b)| h.len() + b.len()).unwrap();
/// # core.handle_sent(sock, n, now);
/// # let mut arrive = |core: &mut Core, bytes: &[u8]| {
/// #     core.handle_ready(sock, Ready::BOTH, now);
/// #     assert_eq!(core.poll_io(), Some(Io::Recv { sock }));
/// #     core.recv_buf(sock).unwrap()[..bytes.len()].copy_from_slice(bytes);
/// #     core.handle_received(sock, bytes.len(), now);
/// # };
/// # arrive(&mut core, b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello");
/// // The head and the first 5 of 11 body bytes have arrived.
/// let head = core.take_outcome(id, now).unwrap().unwrap();
/// let mut body = Vec::new();
/// let mut buf = [0u8; 4];
/// loop {
///     match core.read_body(id, &mut buf, now).unwrap() {
///         BodyRead::Data(n) => body.extend_from_slice(&buf[..n]),
///         BodyRead::End => break,
///         BodyRead::Pending => arrive(&mut core, b" world"),
///     }
/// }
/// assert_eq!(head.status, 200);
/// assert_eq!(body, b"hello world");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyRead {
    /// This many bytes were copied into the caller's buffer.
    Data(usize),
    /// The body is complete (trailers, if any, are in
    /// [`Core::take_trailers`]).
    End,
    /// Nothing yet: drive the IO and ask again.
    Pending,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    Attempt(RequestId, AttemptId),
    Exchange(RequestId),
    Idle(ConnId),
    /// A DNS query over TCP (after a truncated UDP answer).
    DnsTcp(DnsSockId),
    /// A DNS query over UDP.
    DnsUdp(DnsSockId),
}

/// Request slots the core keeps room for once it is idle again.
pub(crate) const SLOTS_KEPT: usize = 16;

struct Sock {
    owner: Owner,
    readable: bool,
    writable: bool,
    connecting: bool,
    eof: bool,
    /// The peer's FIN was seen: reads go on until they return 0.
    hup: bool,
    /// The space the last [`Core::recv_buf`] offered.
    offered: usize,
    /// The last IO was a send: offer a receive first next time, so a long
    /// upload still notices an early response.
    recv_first: bool,
    /// Bytes still to write (DNS over TCP only; HTTP sends from the
    /// exchange's connection record).
    out: Vec<u8>,
}

/// Request and query ids are sequential numbers: hashing them with
/// SipHash cost a third of the client's user time per request (callgrind);
/// a Fibonacci multiply spreads them well enough for hashbrown.
#[derive(Default)]
struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

type IdMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<IdHasher>>;

/// Removes `key`'s entry from a short list of pairs.
fn take<K: PartialEq, V>(list: &mut Vec<(K, V)>, key: &K) -> Option<V> {
    let i = list.iter().position(|(k, _)| k == key)?;
    Some(list.swap_remove(i).1)
}

/// Sets `key`'s entry in a short list of pairs, replacing any earlier one.
fn put<K: PartialEq, V>(list: &mut Vec<(K, V)>, key: K, value: V) {
    take(list, &key);
    list.push((key, value));
}

struct Slot {
    /// Behind a trait object (`crate::erased`): an exchange's drop code is
    /// some 1.7 KB, and the compiler had copied it into the drop of a slot
    /// and of the request table besides `Box<Exchange>`'s own.
    ex: Box<dyn crate::erased::Erased<Exchange> + Send>,
    armed: Option<Instant>,
}

/// The client's state machine: every request in flight, the pool, the
/// resolver, timers and per-socket bookkeeping. See the module docs for
/// the driving contract and a whole round trip.
///
/// The core has no clock of its own: a deadline passes when the driver
/// says so. Here a connect that never completes meets the connect timeout
/// the moment the driver calls [`Core::handle_timeout`] at the time
/// [`Core::poll_timeout`] named, however little real time went by.
///
/// ```
/// use std::time::{Duration, Instant};
/// use roundtrip::core::{Core, Io};
/// use roundtrip::proxy::ProxyConfig;
/// use roundtrip::{Config, ErrorKind, Trace};
///
/// let mut config = Config::default();
/// config.proxy = ProxyConfig::Off;
/// config.connect_timeout = Duration::from_secs(3);
/// let mut core = Core::new(config, Trace::new());
/// let t0 = Instant::now();
/// let req = roundtrip::http::Request::get("http://192.0.2.1/").body(().into()).unwrap();
/// let id = core.submit(req, Trace::new(), t0);
/// let Some(Io::Connect { sock, .. }) = core.poll_io() else { panic!("no connect") };
///
/// let deadline = core.poll_timeout().unwrap();
/// assert_eq!(deadline, t0 + Duration::from_secs(3));
/// core.handle_timeout(deadline);
/// assert_eq!(core.poll_io(), Some(Io::Close { sock }));
/// let err = core.take_outcome(id, deadline).unwrap().unwrap_err();
/// assert!(matches!(err.kind(), ErrorKind::ConnectTimeout { .. }), "{err}");
/// ```
pub struct Core {
    config: Arc<Config>,
    socks: Vec<Option<Sock>>,
    free: Vec<usize>,
    /// Which core socket carries each DNS socket: a handful at most, so a
    /// list (each map type is some kilobytes of code in the binary).
    dns_socks: Vec<(DnsSockId, SockId)>,
    /// Receive space for DNS over TCP.
    dns_buf: Vec<u8>,
    /// Receive space for a readable idle socket (any byte means closed).
    probe_buf: [u8; 1],
    io: VecDeque<Io>,
    /// Sockets whose readiness or owner changed: may want a send or receive.
    check: Vec<SockId>,
    slots: IdMap<RequestId, Slot>,
    /// Requests refused at submit, until taken or released: rare, so a
    /// list.
    early: Vec<(RequestId, Error)>,
    queries: IdMap<QueryId, RequestId>,
    /// The resolver's lookup count when `dirty` was last searched for
    /// lookups to register (`drive_resolver`).
    queries_seen: u64,
    timers: Timers,
    dirty: Vec<RequestId>,
    pool: Pool,
    resolver: Resolver,
    client_trace: Trace,
    ids: Ids,
    spare_bufs: crate::exchange::Spares,
    families: FamilyMemory,
    tls: crate::tls::TlsSetup,
    proxies: std::result::Result<crate::proxy::Proxies, Error>,
    next_req: u64,
    /// `Config::user_agent` as a shared value, cloned per request without
    /// copying.
    user_agent: Option<http::HeaderValue>,
    /// The time of the latest input, for work deferred to `poll_io`.
    now: Option<Instant>,
    /// The request whose caller waits in the runtime's `read_body` with a
    /// buffer big enough to be read into directly (`direct_read`): its
    /// socket is left for that read instead of being read into the
    /// receive buffer.
    reading: Option<RequestId>,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core")
            .field("requests", &self.slots.len())
            .field("idle_conns", &self.pool.len())
            .finish_non_exhaustive()
    }
}

macro_rules! ctx {
    ($core:ident) => {
        crate::exchange::ctx_from!($core)
    };
}

impl Core {
    /// A core with `config` and a client-level trace (attached to every
    /// request, and the one that sees `conn_closed`).
    ///
    /// Construction is the one moment the core reads the system: the hosts
    /// file named by the config, resolv.conf, proxy environment variables
    /// and a random seed for DNS transaction ids. Nothing after it does.
    pub fn new(config: Config, client_trace: Trace) -> Core {
        Core::with_shared(Arc::new(config), client_trace)
    }

    pub(crate) fn with_shared(config: Arc<Config>, client_trace: Trace) -> Core {
        let mut hosts = match &config.hosts_file {
            Some(path) => Hosts::load(path),
            None => Hosts::default(),
        };
        for (name, addr) in &config.hosts {
            hosts.insert(name, *addr);
        }
        let user_agent = config.user_agent.as_ref().and_then(|ua| {
            http::HeaderValue::from_maybe_shared(bytes::Bytes::from(ua.clone())).ok()
        });
        let dns_settings = config.dns_settings();
        let proxies = crate::proxy::Proxies::resolve(&config.proxy, |k| std::env::var(k).ok());
        let families = FamilyMemory::new(config.family_memory_size, config.family_memory);
        Core {
            user_agent,
            pool: Pool::new(
                config.max_idle_per_host,
                config.max_idle,
                config.idle_timeout,
            ),
            config,
            socks: Vec::new(),
            free: Vec::new(),
            dns_socks: Vec::new(),
            dns_buf: Vec::new(),
            probe_buf: [0],
            io: VecDeque::new(),
            check: Vec::new(),
            slots: IdMap::default(),
            early: Vec::new(),
            queries: IdMap::default(),
            queries_seen: 0,
            timers: Timers::default(),
            dirty: Vec::new(),
            resolver: Resolver::new(dns_settings, hosts, random_seed()),
            client_trace,
            ids: Ids::default(),
            spare_bufs: crate::exchange::Spares::default(),
            families,
            tls: crate::tls::TlsSetup::default(),
            proxies,
            next_req: 0,
            now: None,
            reading: None,
        }
    }

    /// The configuration this core was built with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Number of idle pooled connections.
    pub fn idle_conns(&self) -> usize {
        self.pool.len()
    }

    /// Number of sockets the core holds (open, opening or asked for).
    pub fn open_sockets(&self) -> usize {
        self.socks.len() - self.free.len()
    }

    /// True when an idle connection has sat longer than
    /// `Config::idle_probe_after`: a driver that can learn of readiness
    /// without waiting (a zero-timeout poll) should deliver that news
    /// before the next [`Core::submit`], so a connection the server closed
    /// meanwhile is not checked out.
    pub fn idle_check_due(&self, now: Instant) -> bool {
        self.pool.any_idle_for(self.config.idle_probe_after, now)
    }

    /// DNS messages the resolver received and did not trust, since the
    /// core was made: datagrams that are not a response, carry another
    /// transaction id, do not echo the question or do not parse, messages
    /// on a DNS TCP connection with another id, and datagrams for a query
    /// already over. A rising count means stray, late or spoofed answers
    /// (RFC 5452); none of them changed a lookup.
    ///
    /// Answers from another source address or port are counted only if the
    /// driver delivers them: [`Client`](crate::Client) and
    /// [`SocketDriver`] use connected UDP sockets, whose kernel discards
    /// such datagrams before anyone sees them.
    ///
    /// ```
    /// use roundtrip::core::Core;
    /// use roundtrip::{Config, Trace};
    ///
    /// let mut config = Config::default();
    /// config.resolv_conf = None;
    /// let core = Core::new(config, Trace::default());
    /// assert_eq!(core.dns_answers_dropped(), 0);
    /// ```
    pub fn dns_answers_dropped(&self) -> u64 {
        self.resolver.dropped()
    }

    /// Number of requests submitted and not yet released.
    pub fn in_flight(&self) -> usize {
        self.slots.len() + self.early.len()
    }

    /// Room kept for request slots (the soak tests watch it).
    #[cfg(test)]
    pub(crate) fn slot_capacity(&self) -> usize {
        self.slots.capacity()
    }

    /// Entries in the timer heap, stale ones included (the soak tests
    /// watch it).
    #[cfg(test)]
    pub(crate) fn timer_entries(&self) -> usize {
        self.timers.len()
    }

    // ----- requests -------------------------------------------------------

    /// Starts a request; its head (or error) comes from
    /// [`Core::take_outcome`]. `trace` gets this request's events.
    pub fn submit(
        &mut self,
        req: http::Request<SendBody>,
        trace: Trace,
        now: Instant,
    ) -> RequestId {
        self.now = Some(now);
        self.next_req += 1;
        let id = RequestId(self.next_req);
        let (parts, body) = req.into_parts();
        match Exchange::new(
            id,
            parts,
            body,
            trace,
            self.user_agent.as_ref(),
            &self.config,
            now,
        ) {
            Ok(ex) => {
                self.slots.insert(id, Slot { ex, armed: None });
                if let Some(slot) = self.slots.get_mut(&id) {
                    let mut ctx = ctx!(self);
                    slot.ex.start(&mut ctx, now);
                }
                self.pump(id, now);
            }
            Err((e, mut trace)) => {
                let event = Event {
                    at: now,
                    req: Some(id),
                    resend: 0,
                    hop: 0,
                    kind: EventKind::RequestDone { error: Some(&e) },
                };
                trace.emit(&event);
                self.client_trace.emit(&event);
                self.early.push((id, e));
            }
        }
        id
    }

    /// The final head or the error of `id`, once known (handed out once).
    /// A redirect the config says to follow is followed here: the next hop
    /// starts and this returns `None` until its head is in. A caller that
    /// read a redirect's body to its end before taking its head has ended
    /// the request (`request_done` has fired): that 3xx is then the final
    /// response, not a hop to follow.
    pub fn take_outcome(&mut self, id: RequestId, now: Instant) -> Option<Result<ResponseHead>> {
        if let Some(e) = take(&mut self.early, &id) {
            return Some(Err(e));
        }
        let slot = self.slots.get_mut(&id)?;
        let outcome = slot.ex.take_outcome()?;
        let Ok(head) = &outcome else {
            return Some(outcome);
        };
        if slot.ex.is_finished() {
            // Following now would start a hop after `request_done`
            // (found by the core_driver fuzz target with redirects on).
            return Some(outcome);
        }
        self.now = Some(now);
        match slot.ex.next_hop(head, self.config.allow_https_downgrade) {
            NextHop::Stop => Some(outcome),
            NextHop::Refuse(e) => {
                let mut ctx = ctx!(self);
                slot.ex.refuse_redirect(e.clone(), &mut ctx, now);
                self.pump(id, now);
                Some(Err(e))
            }
            NextHop::Follow(plan) => {
                let plan = *plan;
                let (parts, body, to) = (plan.parts, plan.body, plan.to);
                let mut ctx = ctx!(self);
                let baton = slot.ex.end_hop(head.status, &to, &mut ctx, now);
                self.pump(id, now);
                self.queries.retain(|_, r| *r != id);
                let next = Exchange::new(
                    id,
                    parts,
                    body,
                    Trace::new(),
                    self.user_agent.as_ref(),
                    &self.config,
                    now,
                );
                match next {
                    Ok(mut ex) => {
                        ex.continue_chain(baton);
                        let slot = self.slots.get_mut(&id).expect("still there");
                        slot.ex = ex;
                        slot.armed = None;
                        let mut ctx = ctx!(self);
                        slot.ex.start(&mut ctx, now);
                        self.pump(id, now);
                        // The next hop's outcome (or an immediate failure).
                        self.take_outcome(id, now)
                    }
                    Err((e, _)) => Some(Err(e)),
                }
            }
        }
    }

    /// True while the core knows `id` (submitted and not released).
    pub fn contains(&self, id: RequestId) -> bool {
        self.slots.contains_key(&id) || self.early.iter().any(|(r, _)| *r == id)
    }

    /// The timeline of `id` so far.
    pub fn timings(&self, id: RequestId) -> Option<&crate::timings::Timings> {
        self.slots.get(&id).map(|s| s.ex.timings())
    }

    /// The final response head of `id` as it came off the wire: status
    /// line, field lines and the empty line (`None` for an unknown
    /// request; empty before the head).
    pub fn raw_head(&self, id: RequestId) -> Option<bytes::Bytes> {
        self.slots.get(&id).map(|s| s.ex.raw_head.clone())
    }

    /// Copies body bytes of `id` into `out`. This is the back-pressure
    /// valve: the core reads from the socket only while the body buffer
    /// has room, so a caller that stops asking stops the transfer.
    pub fn read_body(&mut self, id: RequestId, out: &mut [u8], now: Instant) -> Result<BodyRead> {
        self.read_body_last(id, out, now).map(|(read, _)| read)
    }

    /// [`Core::read_body`], and whether the body is now over: the request
    /// finished without an error, so the next read would be `End`. The
    /// runtime's `Body` then answers that read itself, without a trip
    /// through the core (a keep-alive GET of a small body is two reads).
    pub(crate) fn read_body_last(
        &mut self,
        id: RequestId,
        out: &mut [u8],
        now: Instant,
    ) -> Result<(BodyRead, bool)> {
        self.now = Some(now);
        let Some(slot) = self.slots.get_mut(&id) else {
            return Ok((BodyRead::End, true));
        };
        let mut ctx = ctx!(self);
        let read = slot.ex.read_body(out, &mut ctx, now);
        let over = slot.ex.ended_cleanly();
        self.pump(id, now);
        let read = match read? {
            exchange::BodyRead::Data(n) => BodyRead::Data(n),
            exchange::BodyRead::End => BodyRead::End,
            exchange::BodyRead::Pending => BodyRead::Pending,
        };
        Ok((read, over))
    }

    /// The runtime's caller waits for body bytes of `id` (`Some`) or no
    /// longer (`None`): while it waits, a body that can be read straight
    /// into its buffer is not read into the receive buffer.
    pub(crate) fn set_reading(&mut self, id: Option<RequestId>) {
        if let Some(was) = std::mem::replace(&mut self.reading, id) {
            if id != Some(was) {
                // Left unread for the direct read that did not come: the
                // next drive reads it into the receive buffer as before.
                if let Some((sock, _)) = self.slots.get(&was).and_then(|s| s.ex.direct_limit()) {
                    self.check.push(sock);
                }
            }
        }
    }

    /// Where the body of `id` can be read from now straight into the
    /// caller's buffer (see `Exchange::direct_limit`): its socket, known
    /// readable, and at most how many bytes to read.
    pub(crate) fn direct_read(&self, id: RequestId) -> Option<(SockId, u64)> {
        let (sock, limit) = self.slots.get(&id)?.ex.direct_limit()?;
        let s = self.socks.get(sock.0)?.as_ref()?;
        let ready = s.owner == Owner::Exchange(id) && s.readable && !s.eof && !s.connecting;
        (ready && limit > 0).then_some((sock, limit))
    }

    /// The one socket the core is waiting to read, when that is all it
    /// waits for: the only open socket, not known readable, and
    /// [`read_wait`](Self::read_wait) holds for it. A driver may then wait
    /// in that read itself instead of in a poller (`Runtime::turn`).
    pub(crate) fn sole_read_wait(&mut self) -> Option<SockId> {
        let mut open = self.socks.iter().enumerate().filter(|(_, s)| s.is_some());
        let (i, s) = open.next()?;
        if open.next().is_some() || s.as_ref()?.readable {
            return None;
        }
        let sock = SockId(i);
        self.read_wait(sock).then_some(sock)
    }

    /// Whether a read of `sock` would only wait for the response its
    /// exchange awaits: connected, not at its end, the exchange waiting
    /// for a response head (or a TLS handshake's next flight) with receive
    /// space on it and nothing to send. A pooled socket's probe, a read
    /// offered before the rest of an upload, a DNS answer are not such a
    /// wait; nor is a body streaming in, whose reads take more at once
    /// when `epoll_wait` lets the bytes gather (docs/benchmarks.md, step
    /// 33).
    pub(crate) fn read_wait(&mut self, sock: SockId) -> bool {
        let Some(s) = self.sock(sock) else {
            return false;
        };
        if s.connecting || s.eof {
            return false;
        }
        let Owner::Exchange(id) = s.owner else {
            return false;
        };
        let Some(slot) = self.slots.get_mut(&id) else {
            return false;
        };
        if !slot.ex.awaits_head() || slot.ex.pending_send().is_some() {
            return false;
        }
        let mut ctx = ctx!(self);
        slot.ex.recv_space(&mut ctx).is_some_and(|p| p.0 == sock)
    }

    /// How many body bytes of `id` the caller may still read, when known
    /// (`Exchange::body_left`): a reader sizes its buffer by it.
    pub(crate) fn body_left(&self, id: RequestId) -> Option<u64> {
        self.slots.get(&id)?.ex.body_left()
    }

    /// The outcome of a [`direct_read`](Self::direct_read) of `want` bytes
    /// on `sock`: the bytes read (empty at EOF) or the error. As with
    /// [`read_body_last`](Self::read_body_last), also whether the request
    /// is over without an error: these bytes were the body's last, so the
    /// caller need not come back for the end.
    pub(crate) fn handle_direct_read(
        &mut self,
        id: RequestId,
        sock: SockId,
        want: usize,
        read: io::Result<&[u8]>,
        now: Instant,
    ) -> Result<(BodyRead, bool)> {
        self.now = Some(now);
        match read {
            Ok([]) => self.handle_received(sock, 0, now),
            Ok(data) => {
                if let Some(s) = self.sock_mut(sock) {
                    s.recv_first = false;
                    // As for any read: a short one emptied the kernel
                    // buffer; after the peer's FIN no edge comes.
                    s.readable = data.len() >= want || s.hup;
                }
                let mut over = false;
                if let Some(slot) = self.slots.get_mut(&id) {
                    let mut ctx = ctx!(self);
                    slot.ex.handle_direct_read(data, &mut ctx, now);
                    over = slot.ex.ended_cleanly();
                    self.dirty.push(id);
                }
                return Ok((BodyRead::Data(data.len()), over));
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.handle_would_block(sock, Direction::Recv);
                return Ok((BodyRead::Pending, false));
            }
            Err(e) => self.handle_io_error(sock, Direction::Recv, e, now),
        }
        // EOF or an error: whatever the exchange made of it.
        self.read_body_last(id, &mut [], now)
    }

    /// The trailer section of `id`, once its body has ended.
    pub fn take_trailers(&mut self, id: RequestId) -> Option<http::HeaderMap> {
        self.slots.get_mut(&id)?.ex.take_trailers()
    }

    /// The caller is done with `id`: cancel it if unfinished (its
    /// connection is closed, or pooled if the body was complete), end any
    /// name lookup still running for it alone (its DNS sockets close), and
    /// forget it.
    pub fn release(&mut self, id: RequestId, now: Instant) {
        self.now = Some(now);
        take(&mut self.early, &id);
        if let Some(slot) = self.slots.get_mut(&id) {
            let mut ctx = ctx!(self);
            slot.ex.cancel(&mut ctx, now);
            self.pump(id, now);
        }
        self.slots.remove(&id);
        // The caller is done with the request: a lookup still running for
        // it (a slow second family, a retry the cancel cut short) would
        // only keep its sockets open until it ends. A lookup others have
        // joined goes on for them (the resolver hands it to the next).
        let mut cancelled = false;
        self.queries.retain(|&q, r| {
            if *r != id {
                return true;
            }
            self.resolver.cancel(q);
            cancelled = true;
            false
        });
        if cancelled {
            self.flush_dns_transmits();
        }
        self.dirty.retain(|r| *r != id);
        // After a burst of requests the table would keep room for all of
        // them for good (5 MB after 1,000 at once when a slot held its
        // exchange inline, benches/src/bin/soak.rs; a boxed one still
        // leaves some 40 bytes a slot). Give it back once nothing is in
        // flight; steady traffic never gets here with a large table, so
        // this costs nothing per request.
        if self.slots.is_empty() && self.slots.capacity() > SLOTS_KEPT {
            self.slots.shrink_to(SLOTS_KEPT);
        }
    }

    /// Closes every idle connection (TLS ones with a close_notify first,
    /// RFC 8446 §6.1) and reports each as `conn_closed` with reason
    /// `client_dropped`. A driver calls it before it drops the core, then
    /// drains [`Core::poll_io`].
    pub fn shutdown(&mut self, now: Instant) {
        let conns: Vec<_> = self.pool.drain().collect();
        let mut ids = Vec::with_capacity(conns.len());
        for mut c in conns {
            if let Some(tls) = c.tls.as_mut() {
                let bytes = tls.close_notify();
                if self.sock(c.sock).is_some() {
                    self.io.push_back(Io::Farewell {
                        sock: c.sock,
                        bytes,
                    });
                }
            }
            self.close_sock(c.sock);
            ids.push(c.id);
        }
        for conn in ids {
            let mut ctx = ctx!(self);
            ctx.emit_client(
                now,
                EventKind::ConnClosed {
                    conn,
                    reason: CloseReason::ClientDropped,
                },
            );
        }
    }

    // ----- output ---------------------------------------------------------

    /// The next thing to do with a socket, or `None` when the core can make
    /// no more progress without new input. Drain it after every call that
    /// changes the core.
    pub fn poll_io(&mut self) -> Option<Io> {
        loop {
            if let Some(io) = self.io.pop_front() {
                return Some(io);
            }
            while let Some(sock) = self.check.pop() {
                if let Some(io) = self.wanted_io(sock) {
                    return Some(io);
                }
            }
            let now = self.now?;
            if self.drive_resolver(now) {
                continue;
            }
            let id = self.dirty.pop()?;
            self.pump(id, now);
        }
    }

    /// The earliest instant at which [`Core::handle_timeout`] may have
    /// work: a request deadline, an idle connection's expiry or a DNS
    /// retry. It can be early (a finished request's deadlines are dropped
    /// lazily, when they come up): calling [`Core::handle_timeout`] then is
    /// harmless, and the next answer is later.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let due = crate::earliest(self.timers.peek(), self.pool.poll_timeout());
        crate::earliest(due, self.resolver.poll_timeout())
    }

    /// Where to write from for an [`Io::Send`] on `sock`: two parts to be
    /// written in order (one vectored write), either possibly empty.
    pub fn send_buf(&mut self, sock: SockId) -> Option<(&[u8], &[u8])> {
        let s = self.socks.get(sock.0)?.as_ref()?;
        match s.owner {
            Owner::Exchange(id) => {
                let (owned, head, body) = self.slots.get_mut(&id)?.ex.pending_send()?;
                (owned == sock).then_some((head, body))
            }
            Owner::DnsTcp(_) if !s.out.is_empty() => Some((&s.out[..], &[][..])),
            _ => None,
        }
    }

    /// Where to read into for an [`Io::Recv`] on `sock`.
    pub fn recv_buf(&mut self, sock: SockId) -> Option<&mut [u8]> {
        let s = self.socks.get_mut(sock.0)?.as_mut()?;
        match s.owner {
            Owner::Exchange(id) => {
                let slot = self.slots.get_mut(&id)?;
                let mut ctx = ctx!(self);
                let (owned, space) = slot.ex.recv_space(&mut ctx)?;
                if owned != sock {
                    return None;
                }
                s.offered = space.len();
                Some(space)
            }
            Owner::DnsTcp(_) => {
                if self.dns_buf.is_empty() {
                    self.dns_buf = vec![0; 65536];
                }
                s.offered = self.dns_buf.len();
                Some(&mut self.dns_buf[..])
            }
            Owner::Idle(_) => {
                s.offered = 1;
                Some(&mut self.probe_buf[..])
            }
            _ => None,
        }
    }

    /// True while `sock` waits for its connect to finish: the driver
    /// checks it (`SO_ERROR`) on readiness and reports
    /// [`Core::handle_connected`] or [`Core::handle_connect_failed`].
    pub fn is_connecting(&self, sock: SockId) -> bool {
        self.sock(sock).is_some_and(|s| s.connecting)
    }

    // ----- input ----------------------------------------------------------

    /// The connect of `sock` finished; `local` is its local address. A
    /// finished connect is writable; report readability with
    /// [`Core::handle_ready`].
    pub fn handle_connected(&mut self, sock: SockId, local: SocketAddr, now: Instant) {
        self.now = Some(now);
        let Some(s) = self.sock_mut(sock) else {
            return;
        };
        if !s.connecting {
            return;
        }
        s.connecting = false;
        s.writable = true;
        match s.owner {
            Owner::Attempt(id, attempt) => {
                s.owner = Owner::Exchange(id);
                if let Some(slot) = self.slots.get_mut(&id) {
                    let mut ctx = ctx!(self);
                    slot.ex
                        .handle_connected(attempt, sock, local, &mut ctx, now);
                    self.dirty.push(id);
                } else {
                    self.close_sock(sock);
                }
            }
            _ => self.check.push(sock),
        }
    }

    /// The connect of `sock` failed (or could not be attempted). The core
    /// follows with an [`Io::Close`] for it.
    pub fn handle_connect_failed(&mut self, sock: SockId, error: io::Error, now: Instant) {
        self.now = Some(now);
        let Some(s) = self.sock(sock) else {
            return;
        };
        let owner = s.owner;
        self.close_sock(sock);
        match owner {
            Owner::Attempt(id, attempt) => {
                if let Some(slot) = self.slots.get_mut(&id) {
                    let mut ctx = ctx!(self);
                    slot.ex.handle_connect_failed(attempt, error, &mut ctx, now);
                    self.dirty.push(id);
                }
            }
            Owner::DnsTcp(d) | Owner::DnsUdp(d) => {
                take(&mut self.dns_socks, &d);
                self.resolver.handle_socket_error(d, &error, now);
            }
            _ => {}
        }
    }

    /// Readiness news for TCP socket `sock` (for a socket still connecting,
    /// check the connect first: [`Core::is_connecting`]).
    pub fn handle_ready(&mut self, sock: SockId, ready: Ready, now: Instant) {
        self.now = Some(now);
        let Some(s) = self.sock_mut(sock) else {
            return;
        };
        s.hup |= ready.hup;
        if s.connecting {
            return;
        }
        s.readable |= ready.readable;
        s.writable |= ready.writable;
        match s.owner {
            Owner::Exchange(id) => self.dirty.push(id),
            Owner::Idle(_) if !ready.readable => {}
            Owner::Attempt(..) => {}
            _ => self.check.push(sock),
        }
    }

    /// `n` bytes of [`Core::send_buf`] were written on `sock`.
    pub fn handle_sent(&mut self, sock: SockId, n: usize, now: Instant) {
        self.now = Some(now);
        let Some(s) = self.sock_mut(sock) else {
            return;
        };
        s.recv_first = true;
        match s.owner {
            Owner::Exchange(id) => {
                if let Some(slot) = self.slots.get_mut(&id) {
                    let mut ctx = ctx!(self);
                    if n == 0 {
                        slot.ex.handle_io_error(
                            io::ErrorKind::WriteZero.into(),
                            true,
                            &mut ctx,
                            now,
                        );
                    } else {
                        slot.ex.handle_written(n, &mut ctx, now);
                    }
                    self.dirty.push(id);
                }
            }
            Owner::DnsTcp(d) => {
                if n == 0 {
                    self.dns_failed(sock, d, io::ErrorKind::WriteZero.into(), now);
                } else {
                    s.out.drain(..n.min(s.out.len()));
                    self.check.push(sock);
                }
            }
            _ => {}
        }
    }

    /// The result of the write an [`Io::Send`] asked for, as std returns
    /// it: `Ok(n)` goes to [`Core::handle_sent`], `WouldBlock` to
    /// [`Core::handle_would_block`], `Interrupted` asks again, anything else
    /// to [`Core::handle_io_error`].
    pub fn handle_send_result(&mut self, sock: SockId, result: io::Result<usize>, now: Instant) {
        self.handle_result(sock, Direction::Send, result, now);
    }

    /// The result of the read an [`Io::Recv`] asked for, as std returns it
    /// (see [`Core::handle_send_result`]; `Ok(0)` is end of stream).
    pub fn handle_recv_result(&mut self, sock: SockId, result: io::Result<usize>, now: Instant) {
        self.handle_result(sock, Direction::Recv, result, now);
    }

    fn handle_result(&mut self, sock: SockId, dir: Direction, r: io::Result<usize>, now: Instant) {
        match (r, dir) {
            (Ok(n), Direction::Send) => self.handle_sent(sock, n, now),
            (Ok(n), Direction::Recv) => self.handle_received(sock, n, now),
            (Err(e), _) if e.kind() == io::ErrorKind::WouldBlock => {
                self.handle_would_block(sock, dir)
            }
            (Err(e), _) if e.kind() == io::ErrorKind::Interrupted => self.check.push(sock),
            (Err(e), _) => self.handle_io_error(sock, dir, e, now),
        }
    }

    /// `n` bytes were read into [`Core::recv_buf`] on `sock`; 0 means the
    /// peer ended the stream.
    pub fn handle_received(&mut self, sock: SockId, n: usize, now: Instant) {
        self.now = Some(now);
        let Some(s) = self.sock_mut(sock) else {
            return;
        };
        s.recv_first = false;
        if n == 0 {
            s.readable = false;
            s.eof = true;
        } else {
            // A short read emptied the kernel buffer: a later arrival raises
            // a new edge. After the peer's FIN no edge comes: read on.
            s.readable = n >= s.offered || s.hup;
        }
        match s.owner {
            Owner::Exchange(id) => {
                if let Some(slot) = self.slots.get_mut(&id) {
                    let mut ctx = ctx!(self);
                    if n == 0 {
                        slot.ex.handle_eof(&mut ctx, now);
                    } else {
                        slot.ex.handle_read(n, &mut ctx, now);
                    }
                    self.dirty.push(id);
                }
            }
            Owner::DnsTcp(d) => {
                if n == 0 {
                    let e = io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "connection closed before a whole answer",
                    );
                    self.dns_failed(sock, d, e, now);
                } else {
                    let n = n.min(self.dns_buf.len());
                    self.resolver.handle_tcp_data(d, &self.dns_buf[..n], now);
                    self.check.push(sock);
                }
            }
            Owner::Idle(conn) => self.probe_idle(sock, conn, now),
            _ => {}
        }
    }

    /// The last [`Io::Send`] or [`Io::Recv`] on `sock` would have blocked:
    /// the core waits for [`Core::handle_ready`].
    pub fn handle_would_block(&mut self, sock: SockId, dir: Direction) {
        if let Some(s) = self.sock_mut(sock) {
            match dir {
                Direction::Send => s.writable = false,
                Direction::Recv => s.readable = false,
            }
        }
    }

    /// A send or receive on `sock` failed (for a UDP socket: opening it,
    /// sending the datagram or receiving, such as an ICMP port
    /// unreachable).
    pub fn handle_io_error(
        &mut self,
        sock: SockId,
        dir: Direction,
        error: io::Error,
        now: Instant,
    ) {
        self.now = Some(now);
        let Some(s) = self.sock_mut(sock) else {
            return;
        };
        if dir == Direction::Recv {
            s.readable = false;
            s.eof = true;
        }
        match s.owner {
            Owner::Exchange(id) => {
                if let Some(slot) = self.slots.get_mut(&id) {
                    let mut ctx = ctx!(self);
                    slot.ex
                        .handle_io_error(error, dir == Direction::Send, &mut ctx, now);
                    self.dirty.push(id);
                }
            }
            Owner::DnsTcp(d) | Owner::DnsUdp(d) => self.dns_failed(sock, d, error, now),
            Owner::Idle(conn) => self.probe_idle(sock, conn, now),
            Owner::Attempt(..) => {}
        }
    }

    /// A datagram from `from` arrived on UDP socket `sock`.
    pub fn handle_datagram(&mut self, sock: SockId, from: SocketAddr, bytes: &[u8], now: Instant) {
        self.now = Some(now);
        if let Some(Owner::DnsUdp(d)) = self.sock(sock).map(|s| s.owner) {
            self.resolver.handle_datagram(d, from, bytes, now);
        }
    }

    /// Fires whatever is due at `now`: request deadlines, idle connection
    /// expiry, DNS retransmits. Early calls are harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = Some(now);
        while let Some(id) = self.timers.pop_expired(now) {
            if let Some(slot) = self.slots.get_mut(&id) {
                if slot.armed.is_some_and(|t| t <= now) {
                    slot.armed = None;
                    let mut ctx = ctx!(self);
                    slot.ex.handle_timeout(&mut ctx, now);
                    self.dirty.push(id);
                }
            }
        }
        self.pool.handle_timeout(now);
        self.close_pool_dropped(now);
        self.resolver.handle_timeout(now);
    }

    // ----- inside ---------------------------------------------------------

    fn sock(&self, sock: SockId) -> Option<&Sock> {
        self.socks.get(sock.0)?.as_ref()
    }

    fn sock_mut(&mut self, sock: SockId) -> Option<&mut Sock> {
        self.socks.get_mut(sock.0)?.as_mut()
    }

    /// The send or receive `sock` is ready for, if any.
    fn wanted_io(&mut self, sock: SockId) -> Option<Io> {
        let s = self.socks.get_mut(sock.0)?.as_mut()?;
        if s.connecting {
            return None;
        }
        let (send, recv) = match s.owner {
            Owner::Exchange(id) => {
                let ex = &mut *self.slots.get_mut(&id)?.ex;
                let send = s.writable && ex.pending_send().is_some_and(|p| p.0 == sock);
                let direct = self.reading == Some(id) && ex.direct_limit().is_some();
                let recv = s.readable && !s.eof && !direct && {
                    let mut ctx = ctx!(self);
                    ex.recv_space(&mut ctx).is_some_and(|p| p.0 == sock)
                };
                (send, recv)
            }
            Owner::DnsTcp(_) => (s.writable && !s.out.is_empty(), s.readable && !s.eof),
            Owner::Idle(_) => (false, (s.readable || s.hup) && !s.eof),
            _ => (false, false),
        };
        match (send, recv) {
            (true, true) if s.recv_first => Some(Io::Recv { sock }),
            (true, _) => Some(Io::Send { sock }),
            (false, true) => Some(Io::Recv { sock }),
            (false, false) => None,
        }
    }

    fn new_sock(&mut self, owner: Owner, connecting: bool) -> SockId {
        let s = Sock {
            owner,
            readable: false,
            writable: false,
            connecting,
            eof: false,
            hup: false,
            offered: 0,
            recv_first: false,
            out: Vec::new(),
        };
        match self.free.pop() {
            Some(i) => {
                self.socks[i] = Some(s);
                SockId(i)
            }
            None => {
                self.socks.push(Some(s));
                SockId(self.socks.len() - 1)
            }
        }
    }

    fn close_sock(&mut self, sock: SockId) {
        if let Some(slot) = self.socks.get_mut(sock.0) {
            if slot.take().is_some() {
                self.free.push(sock.0);
                self.io.push_back(Io::Close { sock });
            }
        }
    }

    fn dns_failed(&mut self, sock: SockId, d: DnsSockId, error: io::Error, now: Instant) {
        if let Some(s) = self.sock_mut(sock) {
            s.eof = true;
            s.readable = false;
            s.out.clear();
        }
        self.resolver.handle_socket_error(d, &error, now);
    }

    /// Runs one exchange's actions until it has none: the sends and
    /// receives it wants come out of `poll_io` after.
    fn pump(&mut self, id: RequestId, now: Instant) {
        loop {
            // One look-up (and one step through the slot's trait object)
            // per action, and one more when there is none.
            while let Some(slot) = self.slots.get_mut(&id) {
                let ex = &mut *slot.ex;
                match ex.poll_action() {
                    Some(action) => self.perform(id, action),
                    None => {
                        if let Some(q) = ex.take_new_query() {
                            self.queries.insert(q, id);
                        }
                        break;
                    }
                }
            }
            if !self.drive_resolver(now) {
                break;
            }
        }
        let Some(slot) = self.slots.get_mut(&id) else {
            return;
        };
        let ex = &*slot.ex;
        if let Some(sock) = ex.sock() {
            self.check.push(sock);
        }
        let due = ex.poll_timeout();
        if due != slot.armed {
            slot.armed = due;
            if let Some(t) = due {
                self.timers.push(t, id);
                let slots = &self.slots;
                self.timers.sweep_if_stale(slots.len(), |at, id| {
                    slots.get(&id).is_some_and(|s| s.armed == Some(at))
                });
            }
        }
    }

    fn perform(&mut self, id: RequestId, action: Action) {
        match action {
            Action::Connect { attempt, addr } => {
                let sock = self.new_sock(Owner::Attempt(id, attempt), true);
                self.io.push_back(Io::Connect { sock, addr });
            }
            Action::CancelAttempt { attempt } => {
                let found = self.socks.iter().position(|s| {
                    s.as_ref()
                        .is_some_and(|s| s.owner == Owner::Attempt(id, attempt))
                });
                if let Some(i) = found {
                    self.close_sock(SockId(i));
                }
            }
            Action::Attach { sock } => {
                if let Some(s) = self.sock_mut(sock) {
                    s.owner = Owner::Exchange(id);
                }
            }
            Action::Pooled { sock, conn } => {
                if let Some(s) = self.sock_mut(sock) {
                    s.owner = Owner::Idle(conn);
                    if s.readable || s.hup {
                        self.check.push(sock);
                    }
                }
            }
            Action::Farewell { sock, bytes } => {
                if self.sock(sock).is_some() {
                    self.io.push_back(Io::Farewell { sock, bytes });
                }
            }
            Action::Close { sock } => self.close_sock(sock),
        }
    }

    /// Turns what the resolver asked for into [`Io`] and hands its events
    /// to the exchanges waiting on them, until it has nothing more to say.
    /// True if anything happened.
    #[inline]
    fn drive_resolver(&mut self, now: Instant) -> bool {
        // The common case, many times per request: no lookup began since
        // the last look and the resolver has nothing to say. Checked
        // inline; a call per look had cost more than the look.
        if self.resolver.queries_started() == self.queries_seen && !self.resolver.has_output() {
            return false;
        }
        self.drive_resolver_output(now)
    }

    #[inline(never)]
    fn drive_resolver_output(&mut self, now: Instant) -> bool {
        // An exchange handed input (a read, an EOF, a timeout) may have
        // started a lookup (a retry, a redirect) that no pump has
        // registered yet; the hosts file and the cache answer at once, so
        // its events may already be waiting. Register every such lookup
        // first: an event whose lookup has no requester is dropped, and
        // the request would wait forever.
        // Looked for only when a lookup began since the last look: this
        // runs several times per request, nearly always for nothing.
        let started = self.resolver.queries_started();
        if started != self.queries_seen {
            self.queries_seen = started;
            for &id in &self.dirty {
                if let Some(q) = self.slots.get_mut(&id).and_then(|s| s.ex.take_new_query()) {
                    self.queries.insert(q, id);
                }
            }
        }
        if !self.resolver.has_output() {
            return false;
        }
        let mut any = false;
        loop {
            let mut progress = self.flush_dns_transmits();
            while let Some(event) = self.resolver.poll_event() {
                progress = true;
                let lookup = event.lookup();
                let Some(&req) = self.queries.get(&lookup) else {
                    continue;
                };
                if matches!(event, ResolverEvent::Done { .. }) {
                    self.queries.remove(&lookup);
                }
                if let Some(slot) = self.slots.get_mut(&req) {
                    let mut ctx = ctx!(self);
                    slot.ex.handle_dns_event(event, &mut ctx, now);
                    self.dirty.push(req);
                }
            }
            if !progress {
                return any;
            }
            any = true;
        }
    }

    /// Carries out every socket action the resolver has queued; true if
    /// there was any.
    fn flush_dns_transmits(&mut self) -> bool {
        let mut any = false;
        while let Some(t) = self.resolver.poll_transmit() {
            self.dns_transmit(t);
            any = true;
        }
        any
    }

    fn dns_transmit(&mut self, t: Transmit) {
        match t {
            Transmit::Udp {
                sock: d,
                server,
                payload,
            } => {
                let sock = self.new_sock(Owner::DnsUdp(d), false);
                put(&mut self.dns_socks, d, sock);
                self.io.push_back(Io::SendDatagram {
                    sock,
                    server,
                    payload,
                });
            }
            Transmit::Tcp {
                sock: d,
                server,
                payload,
            } => {
                let sock = self.new_sock(Owner::DnsTcp(d), true);
                if let Some(s) = self.sock_mut(sock) {
                    s.out = payload;
                }
                put(&mut self.dns_socks, d, sock);
                self.io.push_back(Io::Connect { sock, addr: server });
            }
            Transmit::Close { sock: d } => {
                if let Some(sock) = take(&mut self.dns_socks, &d) {
                    self.close_sock(sock);
                }
            }
        }
    }

    /// An idle socket became readable and a read returned something (or
    /// failed): the server closed it or sent bytes nobody asked for. Either
    /// way it cannot carry a request.
    fn probe_idle(&mut self, sock: SockId, conn: ConnId, now: Instant) {
        self.close_sock(sock);
        if self.pool.remove(conn).is_some() {
            let mut ctx = ctx!(self);
            ctx.emit_client(
                now,
                EventKind::ConnClosed {
                    conn,
                    reason: CloseReason::ServerClosed,
                },
            );
        }
    }

    fn close_pool_dropped(&mut self, now: Instant) {
        while let Some((mut conn, reason)) = self.pool.poll_closed() {
            if let Some(tls) = conn.tls.as_mut() {
                let bytes = tls.close_notify();
                if self.sock(conn.sock).is_some() {
                    self.io.push_back(Io::Farewell {
                        sock: conn.sock,
                        bytes,
                    });
                }
            }
            self.close_sock(conn.sock);
            let mut ctx = ctx!(self);
            ctx.recycle_conn(&mut conn);
            ctx.emit_client(
                now,
                EventKind::ConnClosed {
                    conn: conn.id,
                    reason,
                },
            );
        }
    }
}

/// A seed for DNS transaction ids: std's per-process random hash keys mixed
/// with the clock. Not a cryptographic generator, but unpredictable from
/// outside, which is what RFC 5452 asks of the id.
fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}

//! A silent IPv6 blackhole built inside network namespaces, for the Happy
//! Eyeballs real-socket test (`tests/happy_eyeballs_netns.rs`) and the
//! benchmark (`benches/src/bin/happy_eyeballs.rs`, which includes this
//! file with `#[path]`, so it depends on `std` and `roundtrip` only).
//!
//! The recipe of issue 4, done entirely inside two namespaces this process
//! creates (the root namespace's interfaces and routes are never touched):
//!
//! - `inner` (the client's namespace): `lo` up; one end of a veth pair,
//!   `veth-a`, up, with the documentation address `2001:db8:beef::1/64` (a
//!   source address for the SYNs); a permanent neighbour entry
//!   `fe80::2 → 02:00:00:00:00:02` on it; and a route for
//!   `2001:db8:dead::/48` via `fe80::2`; and an `unreachable` route for
//!   `2001:db8:bad::/48` (a connect there fails at once, for contrast).
//! - `outer`: the other end, `veth-b`, up, with no address and no
//!   forwarding. Frames for 02:00:00:00:00:02 arrive there and are dropped,
//!   so a SYN to `2001:db8:dead::1` vanishes without a reset or an ICMP
//!   error: the connect attempt hangs until it times out.
//!
//! A process gets inside with `ip netns exec <inner> <program>`;
//! [`Blackhole::run_self`] re-executes the current binary that way with
//! [`ENV_INSIDE`] set, and [`inside`] tells the child where it is. Both
//! namespaces (and with them the veth pair) are deleted on drop, also when
//! the test panics.

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::net::{Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Set (to the inner namespace's name) in a process re-executed inside it.
pub const ENV_INSIDE: &str = "ROUNDTRIP_NETNS_INSIDE";

/// The blackholed prefix, routed out through `veth-a` into nothing.
pub const BLACKHOLE_PREFIX: &str = "2001:db8:dead::/48";
/// A blackholed address.
pub const BLACKHOLE_1: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xdead, 0, 0, 0, 0, 1);
/// Another blackholed address.
pub const BLACKHOLE_2: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xdead, 0, 0, 0, 0, 2);
/// A prefix with an `unreachable` route in the inner namespace: a connect
/// there fails at once (ENETUNREACH from connect(2) itself).
pub const UNREACHABLE_PREFIX: &str = "2001:db8:bad::/48";
/// An address in [`UNREACHABLE_PREFIX`].
pub const UNREACHABLE_1: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xbad, 0, 0, 0, 0, 1);
/// The inner end of the veth pair.
pub const VETH_INNER: &str = "veth-a";

/// Why the namespaces could not be built.
#[derive(Debug)]
pub enum SetupError {
    /// This machine cannot do it: no `ip`, not root, no CAP_SYS_ADMIN, no
    /// veth support, IPv6 disabled. Callers skip (or fail under
    /// `ROUNDTRIP_INTEROP=require`).
    Unavailable(String),
    /// Namespaces work but a later step failed: a harness bug, never a skip.
    Failed(String),
}

impl std::fmt::Display for SetupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SetupError::Unavailable(m) | SetupError::Failed(m) => f.write_str(m),
        }
    }
}

/// The inner namespace's name if this process runs inside one made by
/// [`Blackhole`] (see [`Blackhole::run_self`]).
pub fn inside() -> Option<String> {
    std::env::var(ENV_INSIDE).ok().filter(|v| !v.is_empty())
}

/// Runs `ip` with `args`; `Err` carries the command and its stderr.
fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("running `ip {}`: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`ip {}` failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Two namespaces and the blackhole between them; deleted on drop.
#[derive(Debug)]
pub struct Blackhole {
    /// Where the client runs.
    pub inner: String,
    /// Where the SYNs vanish.
    pub outer: String,
    created: Vec<String>,
}

impl Blackhole {
    /// Builds the namespaces `rt-<label>-a-<pid>-<n>` and
    /// `rt-<label>-b-<pid>-<n>` and the blackhole between them.
    pub fn create(label: &str) -> Result<Blackhole, SetupError> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let mut bh = Blackhole {
            inner: format!("rt-{label}-a-{pid}-{n}"),
            outer: format!("rt-{label}-b-{pid}-{n}"),
            created: Vec::new(),
        };
        if Command::new("ip")
            .arg("-V")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_err()
        {
            return Err(SetupError::Unavailable(
                "`ip` (iproute2) is not installed".into(),
            ));
        }
        for ns in [bh.inner.clone(), bh.outer.clone()] {
            // A leftover of an earlier process with the same pid.
            let _ = ip(&["netns", "delete", &ns]);
            ip(&["netns", "add", &ns]).map_err(SetupError::Unavailable)?;
            bh.created.push(ns);
        }
        let (a, b) = (bh.inner.as_str(), bh.outer.as_str());
        ip(&["-n", a, "link", "set", "lo", "up"]).map_err(SetupError::Failed)?;
        // Created inside `a` (`-n`), its peer moved straight into `b`.
        ip(&[
            "-n", a, "link", "add", VETH_INNER, "type", "veth", "peer", "name", "veth-b", "netns",
            b,
        ])
        .map_err(SetupError::Unavailable)?;
        ip(&["-n", a, "link", "set", VETH_INNER, "up"]).map_err(SetupError::Failed)?;
        ip(&["-n", b, "link", "set", "veth-b", "up"]).map_err(SetupError::Failed)?;
        // A global source address for the SYNs (`nodad`: usable at once).
        ip(&[
            "-n",
            a,
            "-6",
            "addr",
            "add",
            "2001:db8:beef::1/64",
            "dev",
            VETH_INNER,
            "nodad",
        ])
        .map_err(|e| SetupError::Unavailable(format!("IPv6 unusable in the namespace: {e}")))?;
        ip(&[
            "-n",
            a,
            "-6",
            "neigh",
            "add",
            "fe80::2",
            "lladdr",
            "02:00:00:00:00:02",
            "dev",
            VETH_INNER,
            "nud",
            "permanent",
        ])
        .map_err(SetupError::Failed)?;
        ip(&[
            "-n",
            a,
            "-6",
            "route",
            "add",
            BLACKHOLE_PREFIX,
            "via",
            "fe80::2",
            "dev",
            VETH_INNER,
        ])
        .map_err(SetupError::Failed)?;
        ip(&[
            "-n",
            a,
            "-6",
            "route",
            "add",
            "unreachable",
            UNREACHABLE_PREFIX,
        ])
        .map_err(SetupError::Failed)?;
        Ok(bh)
    }

    /// `program` to be run inside the inner namespace.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.inner]).arg(program);
        cmd.env(ENV_INSIDE, &self.inner);
        cmd
    }

    /// Re-executes the current binary inside the inner namespace with
    /// `args` and [`ENV_INSIDE`] set, echoing its output to this process's
    /// stdout and stderr (so a test harness captures it) as well as
    /// returning it. Killed after `limit`.
    pub fn run_self(&self, args: &[&str], limit: Duration) -> ChildOutput {
        let exe = std::env::current_exe().expect("current_exe");
        let mut cmd = self.command(exe);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {cmd:?}: {e}"));
        let pump = |mut r: Box<dyn Read + Send>, to_stderr: bool| {
            std::thread::spawn(move || {
                let mut all = Vec::new();
                let mut buf = [0u8; 4096];
                while let Ok(n) = r.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    all.extend_from_slice(&buf[..n]);
                    // print!/eprint! so that libtest's capture sees it.
                    let text = String::from_utf8_lossy(&buf[..n]);
                    if to_stderr {
                        eprint!("{text}");
                    } else {
                        print!("{text}");
                    }
                }
                String::from_utf8_lossy(&all).into_owned()
            })
        };
        let out = pump(Box::new(child.stdout.take().unwrap()), false);
        let err = pump(Box::new(child.stderr.take().unwrap()), true);
        let deadline = Instant::now() + limit;
        let (status, timed_out) = loop {
            if let Some(s) = child.try_wait().expect("waiting for the child") {
                break (s, false);
            }
            if Instant::now() >= deadline {
                // `ip netns exec` execs the program: this is its pid.
                let _ = child.kill();
                break (child.wait().expect("reaping the child"), true);
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        ChildOutput {
            status,
            timed_out,
            stdout: out.join().unwrap_or_default(),
            stderr: err.join().unwrap_or_default(),
        }
    }
}

impl Drop for Blackhole {
    fn drop(&mut self) {
        // Deleting the namespaces destroys the veth pair with them.
        for ns in self.created.drain(..).rev() {
            if let Err(e) = ip(&["netns", "delete", &ns]) {
                eprintln!("warning: could not delete network namespace {ns}: {e}");
            }
        }
    }
}

/// What [`Blackhole::run_self`]'s child did.
#[derive(Debug)]
pub struct ChildOutput {
    /// Its exit status.
    pub status: ExitStatus,
    /// True if it was killed for running too long.
    pub timed_out: bool,
    /// Everything it wrote to stdout.
    pub stdout: String,
    /// Everything it wrote to stderr.
    pub stderr: String,
}

/// Packets sent through the inner end of the veth pair so far (read
/// inside the namespace, where `ip netns exec` mounts its own /sys).
pub fn veth_tx_packets() -> Option<u64> {
    let path = format!("/sys/class/net/{VETH_INNER}/statistics/tx_packets");
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Checks, from inside the inner namespace, that a SYN to `addr` really
/// vanishes: a blocking connect with a 300 ms limit must time out (not fail
/// fast with unreachable or refused, and not connect), and packets must
/// have left through the veth pair meanwhile.
pub fn check_blackhole(addr: SocketAddr) -> Result<(), String> {
    let before = veth_tx_packets();
    let started = Instant::now();
    let result = TcpStream::connect_timeout(&addr, Duration::from_millis(300));
    let took = started.elapsed();
    match result {
        Ok(_) => return Err(format!("{addr} accepted a connection: it is no blackhole")),
        Err(e)
            if e.kind() == std::io::ErrorKind::TimedOut || took >= Duration::from_millis(290) => {}
        Err(e) => {
            return Err(format!(
                "a connect to {addr} failed after {took:?} with {e} ({:?}) instead of \
                 timing out: the SYN does not vanish silently (route, neighbour entry, \
                 or are we not inside the namespace?)",
                e.kind()
            ))
        }
    }
    match (before, veth_tx_packets()) {
        (Some(b), Some(a)) if a > b => Ok(()),
        (b, a) => Err(format!(
            "no packet left through {VETH_INNER} (tx_packets {b:?} -> {a:?}): the SYN to \
             {addr} was dropped locally rather than sent into the blackhole"
        )),
    }
}

/// TCP sockets of this namespace in SYN_SENT towards `addr` (an IPv6
/// address), from /proc/net/tcp6: a connect attempt still in flight.
pub fn syn_sent_to(addr: SocketAddr) -> usize {
    let SocketAddr::V6(v6) = addr else {
        return 0;
    };
    // Four 32-bit words, each printed in host (little-endian) order.
    let ip: String = v6
        .ip()
        .octets()
        .chunks(4)
        .map(|w| format!("{:02X}{:02X}{:02X}{:02X}", w[3], w[2], w[1], w[0]))
        .collect();
    let remote = format!("{ip}:{:04X}", v6.port());
    let table = std::fs::read_to_string("/proc/net/tcp6").unwrap_or_default();
    table
        .lines()
        .skip(1)
        .filter(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() > 3 && f[2] == remote && f[3] == "02"
        })
        .count()
}

/// Waits up to `grace` for [`syn_sent_to`] `addr` to drop to zero;
/// returns how many are left.
pub fn wait_no_syn_sent(addr: SocketAddr, grace: Duration) -> usize {
    let deadline = Instant::now() + grace;
    loop {
        let n = syn_sent_to(addr);
        if n == 0 || Instant::now() >= deadline {
            return n;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A tiny HTTP/1.1 server on 127.0.0.1: for every connection, reads a
/// request head and answers `200 OK` with a 2-byte body and
/// `Connection: close`, one connection at a time. Stops on drop.
pub struct OkServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Connections served so far.
    pub served: Arc<Mutex<u64>>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

/// The one response of [`OkServer`].
pub const OK_RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\nContent-Type: text/plain\r\n\r\nok";

impl OkServer {
    /// Binds 127.0.0.1:0 and starts serving.
    pub fn start() -> OkServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding 127.0.0.1:0");
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let served = Arc::new(Mutex::new(0));
        let (stop2, served2) = (stop.clone(), served.clone());
        let handle = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut s) = conn else { continue };
                let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                let _ = s.set_nodelay(true);
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                if head.windows(4).any(|w| w == b"\r\n\r\n") {
                    // Counted before the reply leaves: the client may read
                    // it and ask `served()` before this thread runs again.
                    *served2.lock().unwrap() += 1;
                    let _ = s.write_all(OK_RESPONSE);
                }
                // Everything the client sent was read: closing sends a FIN.
            }
        });
        OkServer {
            addr,
            served,
            stop,
            handle: Some(handle),
        }
    }

    /// Connections answered so far.
    pub fn served(&self) -> u64 {
        *self.served.lock().unwrap()
    }
}

impl Drop for OkServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// One trace event of a race, as recorded by [`RaceLog`].
#[derive(Debug, Clone)]
pub struct RaceEvent {
    /// `connect_start`, `got_conn`, ...
    pub name: String,
    /// When it happened (the event's own timestamp).
    pub at: Instant,
    /// `tcp4`/`tcp6` for the connect events.
    pub network: Option<&'static str>,
    /// The attempt's address (connect events), or got_conn's remote address.
    pub addr: Option<SocketAddr>,
    /// The attempt id of connect events.
    pub attempt: Option<u64>,
    /// connect_done's error: its kind and text.
    pub error: Option<(std::io::ErrorKind, String)>,
    /// The event as a JSON line (`roundtrip::trace::write_json`).
    pub json: String,
}

/// Records every event of a request with its timestamp.
#[derive(Clone, Default)]
pub struct RaceLog {
    events: Arc<Mutex<Vec<RaceEvent>>>,
}

impl RaceLog {
    /// A trace that records into this log.
    pub fn trace(&self) -> roundtrip::Trace {
        use roundtrip::EventKind as K;
        let events = self.events.clone();
        let start = Instant::now();
        roundtrip::Trace::new().on_event(move |e: &roundtrip::Event<'_>| {
            let mut json = String::new();
            roundtrip::trace::write_json(e, start, &mut json);
            let (mut network, mut addr, mut attempt, mut error) = (None, None, None, None);
            match &e.kind {
                K::ConnectStart {
                    attempt: id,
                    network: n,
                    addr: a,
                }
                | K::ConnectCancelled {
                    attempt: id,
                    network: n,
                    addr: a,
                } => {
                    (network, addr, attempt) = (Some(n.as_str()), Some(*a), Some(id.0));
                }
                K::ConnectDone {
                    attempt: id,
                    network: n,
                    addr: a,
                    error: err,
                } => {
                    (network, addr, attempt) = (Some(n.as_str()), Some(*a), Some(id.0));
                    error = err.map(|x| (x.kind(), x.to_string()));
                }
                K::GotConn { remote_addr, .. } => addr = Some(*remote_addr),
                _ => {}
            }
            events.lock().unwrap().push(RaceEvent {
                name: e.kind.name().to_owned(),
                at: e.at,
                network,
                addr,
                attempt,
                error,
                json,
            });
        })
    }

    /// Everything recorded so far.
    pub fn events(&self) -> Vec<RaceEvent> {
        self.events.lock().unwrap().clone()
    }

    /// The recorded events as JSON lines, for failure messages.
    pub fn dump(&self) -> String {
        self.events()
            .iter()
            .map(|e| e.json.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// From the first event to the first `got_first_response_byte`.
    pub fn time_to_first_byte(&self) -> Option<Duration> {
        let events = self.events();
        let first = events.first()?.at;
        let byte = events
            .iter()
            .find(|e| e.name == "got_first_response_byte")?
            .at;
        Some(byte.duration_since(first))
    }
}

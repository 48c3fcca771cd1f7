//! `core_driver`: sequential keep-alive GETs of `/hello` from a local nginx,
//! (a) through `Client` (its mio loop) and (b) through `roundtrip::core::Core`
//! driven by the blocking std-socket driver below, and what each costs the
//! client (issue 11: "a keep-alive GET driven by the blocking example driver
//! costs at most 5% more CPU than through `Client`").
//!
//! ```text
//! core_driver [--requests N] [--rounds R] [--warmup W]
//!     CPU time (getrusage user+sys), wall time, heap allocations and bytes
//!     per GET for both drivers, interleaved (the order alternates every
//!     round), median of R rounds of N requests (defaults 20000, 5, 2000).
//! core_driver --strace [--requests N] [--strace-base N1]
//!     System calls per GET for both drivers: runs itself under
//!     `strace -f -c` for N1 and N1+N requests (defaults 1000 and 20000).
//! core_driver --loop-only URL --requests N --driver client|core
//!     Just one driver's loop against URL (what --strace runs, and what to
//!     profile under valgrind: nginx from `keepalive --serve`).
//! ```
//!
//! # The blocking driver
//!
//! [`Blocking`] drives one `Core` over std `TcpStream`s left in blocking
//! mode, with no readiness source, no poll and no sleep. The contract maps
//! onto blocking calls like this:
//!
//! - `Io::Connect`: `TcpStream::connect` (or `connect_timeout` up to
//!   `poll_timeout`), `TCP_NODELAY` as `Client` sets it, then
//!   `handle_connected` (or `handle_connect_failed`) at once: a blocking
//!   connect has finished when it returns.
//! - `Io::Send`: the whole of `send_buf` with blocking writes (one write,
//!   vectored if the second part is not empty; more only if it was short),
//!   then one `handle_sent(total)`.
//! - `Io::Recv`: one blocking `read` into `recv_buf`, reported with
//!   `handle_recv_result`. The read waits for the response, so it is the
//!   driver's "wait": before it, `SO_RCVTIMEO` is lowered to at most the time
//!   left until `poll_timeout` (only when it would otherwise overshoot, so in
//!   steady state no `setsockopt` per request); a read that times out is
//!   reported as `handle_would_block` followed by `handle_timeout`.
//! - Readiness: when `poll_io` is drained and the request still waits (no
//!   outcome yet, or `read_body` said `Pending`), the driver reports
//!   `Ready::BOTH` for its sockets (docs/embedding.md, "no readiness
//!   source") and drains again: the core then asks for the `Recv` that
//!   blocks. Readiness is reported only while a request waits, so the core
//!   never asks to probe an idle connection with a blocking read; a `Recv`
//!   asked for right after `release` (the readable flag left up by a read
//!   that filled the space offered) is done non-blocking, toggling
//!   `O_NONBLOCK` around it.
//! - `Io::Farewell`: one write, result ignored. `Io::Close`: drop the stream.
//!   `Io::SendDatagram` is refused: the benchmark's URL is an IP address.
//! - The clock: `Instant::now()` before each input; `handle_timeout` only
//!   when `poll_timeout` has passed (early calls would be harmless, but cost).
//!
//! Its limits, as for any blocking HTTP client: one request at a time, no
//! idle-connection probe before reuse (a stale connection shows up as the
//! blocking read's end of stream or reset), and a request body is written
//! in full before anything is read.

#![forbid(unsafe_code)]

use std::error::Error;
use std::io::{self, IoSlice, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use roundtrip::core::{BodyRead, Core, Direction, Io, Ready, SockId};
use roundtrip::{Client, Config, Trace};
use roundtrip_bench::alloc::{self, Counting};
use roundtrip_bench::cpu::CpuTime;
use roundtrip_bench::nginx::{self, Nginx};
use roundtrip_bench::stats::PerRequest;
use roundtrip_bench::strace;

#[global_allocator]
static ALLOCATOR: Counting = Counting;

type Res<T> = Result<T, Box<dyn Error>>;

/// A blocking driver of one [`Core`] (see the module docs).
struct Blocking {
    core: Core,
    /// The open TCP sockets by the core's ids (one, in this benchmark).
    socks: Vec<(SockId, TcpStream)>,
    /// `SO_RCVTIMEO` as last set on each socket: `None` is "no timeout".
    timeouts: Vec<Option<Duration>>,
}

impl Blocking {
    fn new() -> Blocking {
        Blocking {
            core: Core::new(Config::default(), Trace::new()),
            socks: Vec::new(),
            timeouts: Vec::new(),
        }
    }

    fn index(&self, sock: SockId) -> Option<usize> {
        self.socks.iter().position(|(id, _)| *id == sock)
    }

    /// Carries out every `Io` the core asks for. `may_block`: reads may
    /// wait (a request is waiting for its response).
    fn drain(&mut self, may_block: bool) -> Res<()> {
        while let Some(io) = self.core.poll_io() {
            match io {
                Io::Connect { sock, addr } => {
                    let now = Instant::now();
                    let r = match self.core.poll_timeout() {
                        Some(t) => {
                            let left = t.saturating_duration_since(now);
                            TcpStream::connect_timeout(&addr, left.max(Duration::from_millis(1)))
                        }
                        None => TcpStream::connect(addr),
                    };
                    let r = r.and_then(|s| {
                        s.set_nodelay(true)?;
                        let local = s.local_addr()?;
                        Ok((s, local))
                    });
                    match r {
                        Ok((s, local)) => {
                            self.socks.push((sock, s));
                            self.timeouts.push(None);
                            self.core.handle_connected(sock, local, Instant::now());
                        }
                        Err(e) => self.core.handle_connect_failed(sock, e, Instant::now()),
                    }
                }
                Io::Send { sock } => {
                    let Some(i) = self.index(sock) else { continue };
                    let stream = &mut self.socks[i].1;
                    let Some((a, b)) = self.core.send_buf(sock) else {
                        continue;
                    };
                    let total = a.len() + b.len();
                    let r = write_both(stream, a, b);
                    let now = Instant::now();
                    match r {
                        Ok(()) => self.core.handle_sent(sock, total, now),
                        Err(e) => self.core.handle_io_error(sock, Direction::Send, e, now),
                    }
                }
                Io::Recv { sock } => {
                    let Some(i) = self.index(sock) else { continue };
                    if may_block {
                        self.cap_read_timeout(i)?;
                    } else {
                        self.socks[i].1.set_nonblocking(true)?;
                    }
                    let stream = &mut self.socks[i].1;
                    let Some(buf) = self.core.recv_buf(sock) else {
                        continue;
                    };
                    let r = stream.read(buf);
                    if !may_block {
                        stream.set_nonblocking(false)?;
                    }
                    let now = Instant::now();
                    match r {
                        // SO_RCVTIMEO expired (EAGAIN): a deadline is due.
                        Err(e) if is_timeout(&e) => {
                            self.core.handle_would_block(sock, Direction::Recv);
                            self.core.handle_timeout(now);
                        }
                        r => self.core.handle_recv_result(sock, r, now),
                    }
                }
                Io::Farewell { sock, bytes } => {
                    if let Some(i) = self.index(sock) {
                        let _ = self.socks[i].1.write(&bytes);
                    }
                }
                Io::Close { sock } => {
                    if let Some(i) = self.index(sock) {
                        self.socks.swap_remove(i);
                        self.timeouts.swap_remove(i);
                    }
                }
                Io::SendDatagram { .. } => {
                    return Err("this driver resolves no names: use an IP address".into())
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Lowers `SO_RCVTIMEO` of socket `i` so the coming read returns by
    /// `poll_timeout`. A timeout shorter than needed is kept: the read
    /// wakes early, `handle_timeout` is harmless, and the next read sets it
    /// again. So while the deadlines only move later, no call is made.
    fn cap_read_timeout(&mut self, i: usize) -> io::Result<()> {
        let Some(deadline) = self.core.poll_timeout() else {
            return Ok(());
        };
        let left = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1));
        if !matches!(self.timeouts[i], Some(set) if set <= left) {
            self.socks[i].1.set_read_timeout(Some(left))?;
            self.timeouts[i] = Some(left);
        }
        Ok(())
    }

    /// The request waits: report every socket ready, fire what is due, and
    /// drain (the `Recv` that follows blocks until the response comes).
    fn wait(&mut self) -> Res<()> {
        let now = Instant::now();
        for (sock, _) in &self.socks {
            self.core.handle_ready(*sock, Ready::BOTH, now);
        }
        if self.core.poll_timeout().is_some_and(|t| t <= now) {
            self.core.handle_timeout(now);
        }
        self.drain(true)
    }

    /// One GET of `url`, its body read to the end into `buf`; returns the
    /// body length.
    fn get(&mut self, url: &str, buf: &mut [u8]) -> Res<usize> {
        let req = http::Request::get(url).body(().into())?;
        let id = self.core.submit(req, Trace::new(), Instant::now());
        self.drain(true)?;
        let head = loop {
            if let Some(outcome) = self.core.take_outcome(id, Instant::now()) {
                break outcome?;
            }
            self.drain(true)?;
            if !self.core.contains(id) {
                return Err("request vanished without an outcome".into());
            }
            self.wait()?;
        };
        self.drain(true)?;
        if head.status != http::StatusCode::OK {
            return Err(format!("unexpected status {}", head.status).into());
        }
        let mut total = 0;
        loop {
            match self.core.read_body(id, buf, Instant::now())? {
                BodyRead::Data(n) => total += n,
                BodyRead::End => break,
                BodyRead::Pending => self.wait()?,
            }
        }
        self.core.release(id, Instant::now());
        self.drain(false)?;
        Ok(total)
    }
}

/// Writes `a` then `b` in full: one write (vectored if `b` is not empty),
/// more only if it was short.
fn write_both(s: &mut TcpStream, a: &[u8], b: &[u8]) -> io::Result<()> {
    if b.is_empty() {
        return s.write_all(a); // one plain write, as `Client` makes
    }
    let n = loop {
        match s.write_vectored(&[IoSlice::new(a), IoSlice::new(b)]) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => break r?,
        }
    };
    if n < a.len() {
        s.write_all(&a[n..])?;
        s.write_all(b)
    } else {
        s.write_all(&b[n - a.len()..])
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Which {
    Client,
    Core,
}

/// Either driver, with what it needs between requests.
enum Driver {
    Client(Client),
    Core(Box<Blocking>),
}

impl Driver {
    fn new(which: Which) -> Driver {
        match which {
            Which::Client => Driver::Client(Client::new()),
            Which::Core => Driver::Core(Box::new(Blocking::new())),
        }
    }

    fn get(&mut self, url: &str, buf: &mut [u8]) -> Res<()> {
        let total = match self {
            Driver::Client(client) => {
                let resp = client.send(http::Request::get(url).body(())?)?;
                if resp.status() != http::StatusCode::OK {
                    return Err(format!("unexpected status {}", resp.status()).into());
                }
                let mut body = resp.into_body();
                let mut total = 0;
                loop {
                    let n = body.read(buf)?;
                    if n == 0 {
                        break total;
                    }
                    total += n;
                }
            }
            Driver::Core(b) => b.get(url, buf)?,
        };
        if total != nginx::BODY.len() {
            return Err(format!("body of {total} bytes, expected {}", nginx::BODY.len()).into());
        }
        Ok(())
    }

    fn idle(&self) -> usize {
        match self {
            Driver::Client(c) => c.idle_connections(),
            Driver::Core(b) => b.core.idle_conns(),
        }
    }

    /// `n` GETs, and what they cost per GET. Every one must reuse the one
    /// connection opened before.
    fn run(&mut self, url: &str, n: u64) -> Res<PerRequest> {
        let mut buf = [0u8; 4096];
        let heap0 = alloc::snapshot();
        let cpu0 = CpuTime::now();
        let t0 = Instant::now();
        for _ in 0..n {
            self.get(url, &mut buf)?;
        }
        let wall = t0.elapsed();
        let cpu = CpuTime::now().since(cpu0);
        let heap = alloc::snapshot().since(heap0);
        if self.idle() != 1 {
            return Err(format!(
                "{} idle connections after the loop, expected 1",
                self.idle()
            )
            .into());
        }
        Ok(PerRequest::new(n, wall, cpu, heap, 0))
    }
}

#[derive(Debug)]
struct Args {
    requests: u64,
    rounds: usize,
    warmup: u64,
    strace: bool,
    strace_base: u64,
    loop_only: Option<String>,
    driver: Which,
}

fn parse_args() -> Res<Args> {
    let mut a = Args {
        requests: 20_000,
        rounds: 5,
        warmup: 2_000,
        strace: false,
        strace_base: 1_000,
        loop_only: None,
        driver: Which::Core,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--requests" => a.requests = value()?.parse()?,
            "--rounds" => a.rounds = value()?.parse::<usize>()?.max(1),
            "--warmup" => a.warmup = value()?.parse()?,
            "--strace" => a.strace = true,
            "--strace-base" => a.strace_base = value()?.parse()?,
            "--loop-only" => a.loop_only = Some(value()?),
            "--driver" => {
                a.driver = match value()?.as_str() {
                    "client" => Which::Client,
                    "core" => Which::Core,
                    other => return Err(format!("--driver {other:?}: client or core").into()),
                }
            }
            "-h" | "--help" => {
                println!("usage: core_driver [--requests N] [--rounds R] [--warmup W]");
                println!("       core_driver --strace [--requests N] [--strace-base N1]");
                println!("       core_driver --loop-only URL --requests N --driver client|core");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?} (try --help)").into()),
        }
    }
    Ok(a)
}

fn row(label: &str, r: &PerRequest) {
    println!(
        "| {label} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.0} |",
        r.wall_us, r.cpu_us, r.user_us, r.sys_us, r.allocs, r.bytes
    );
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn bench(args: &Args) -> Res<()> {
    let server = Nginx::start()?;
    let url = server.url();
    eprintln!("nginx pid {} serving {url}", server.pid());
    let mut client = Driver::new(Which::Client);
    let mut core = Driver::new(Which::Core);
    eprintln!("warm-up: {} requests per driver", args.warmup);
    client.run(&url, args.warmup.max(1))?;
    core.run(&url, args.warmup.max(1))?;
    let load_before = load();

    let (mut a, mut b, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..args.rounds {
        // Alternate which driver goes first, so drift hits both alike.
        let core_first = round % 2 == 1;
        let mut pair = [None, None];
        for is_core in [core_first, !core_first] {
            let d = if is_core { &mut core } else { &mut client };
            let r = d.run(&url, args.requests)?;
            eprintln!(
                "round {}/{} {:<6} cpu {:6.2} µs  wall {:6.2} µs  allocs {:5.2}  bytes {:6.0}",
                round + 1,
                args.rounds,
                if is_core { "core" } else { "client" },
                r.cpu_us,
                r.wall_us,
                r.allocs,
                r.bytes
            );
            pair[usize::from(is_core)] = Some(r);
        }
        let (ra, rb) = (pair[0].expect("ran"), pair[1].expect("ran"));
        ratios.push(rb.cpu_us / ra.cpu_us);
        a.push(ra);
        b.push(rb);
    }
    let load_after = load();
    let (ma, mb) = (PerRequest::median(&a), PerRequest::median(&b));
    let per_round = roundtrip_bench::stats::median(ratios.clone());
    println!(
        "Sequential keep-alive GETs of `/hello` on one connection per driver: median of {} \
         interleaved rounds of {} requests each (after {} warm-up requests per driver). \
         Load average (1, 5, 15 min) before the rounds: {load_before}; after: {load_after}.\n",
        args.rounds, args.requests, args.warmup
    );
    println!(
        "| per GET | wall µs | CPU µs (user+sys) | user µs | sys µs | allocs | bytes allocated |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    row("(a) `Client` (mio loop)", &ma);
    row("(b) `Core`, blocking std-socket driver", &mb);
    println!();
    let ratio = mb.cpu_us / ma.cpu_us;
    let rounds: Vec<String> = ratios.iter().map(|r| format!("{r:.3}")).collect();
    println!(
        "CPU ratio b/a: {ratio:.3} (of the medians); per round {} (median {per_round:.3}).\n",
        rounds.join(", ")
    );
    let verdict = if ratio <= 1.05 {
        "meets"
    } else {
        "does NOT meet"
    };
    println!("Target: b ≤ 1.05 × a — {verdict} it.");
    Ok(())
}

/// Runs `core_driver --loop-only` under `strace -f -c` and returns its summary.
fn strace_run(url: &str, n: u64, which: Which, dir: &Path) -> Res<String> {
    let name = if which == Which::Core {
        "core"
    } else {
        "client"
    };
    let out = dir.join(format!("strace-{n}-{name}.txt"));
    let strace_bin = std::env::var("STRACE").unwrap_or_else(|_| "strace".into());
    let status = Command::new(&strace_bin)
        .arg("-f")
        .arg("-c")
        .arg("-o")
        .arg(&out)
        .arg("--")
        .arg(std::env::current_exe()?)
        .args(["--loop-only", url, "--requests", &n.to_string()])
        .args(["--driver", name])
        .stdin(Stdio::null())
        .status()
        .map_err(|e| format!("{strace_bin}: {e}"))?;
    if !status.success() {
        return Err(format!("strace run of {n} requests failed: {status}").into());
    }
    Ok(std::fs::read_to_string(&out)?)
}

fn syscalls(args: &Args) -> Res<()> {
    let server = Nginx::start()?;
    let url = server.url();
    let dir = std::env::temp_dir().join(format!("roundtrip-core-strace-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let (n1, n2) = (args.strace_base, args.strace_base + args.requests.max(1));
    let mut results = Vec::new();
    for which in [Which::Client, Which::Core] {
        eprintln!("strace: {n1} and {n2} requests, {which:?}");
        let short = strace::parse_summary(&strace_run(&url, n1, which, &dir)?);
        let long = strace::parse_summary(&strace_run(&url, n2, which, &dir)?);
        results.push(strace::per_request(&short, &long, n1, n2));
    }
    let _ = std::fs::remove_dir_all(&dir);

    println!(
        "System calls per keep-alive GET: `strace -f -c` of {n2} minus {n1} requests, \
         divided by {}. Calls that failed (e.g. EAGAIN) in parentheses.\n",
        n2 - n1
    );
    println!("| syscall | (a) `Client` | (b) `Core`, blocking driver |");
    println!("|---|---:|---:|");
    let mut names: Vec<&String> = results.iter().flat_map(|r| r.keys()).collect();
    names.sort();
    names.dedup();
    let cell = |r: &std::collections::BTreeMap<String, (f64, f64)>, name: &str| {
        let (c, e) = r.get(name).copied().unwrap_or_default();
        if e.abs() >= 0.005 {
            format!("{c:.3} ({e:.3})")
        } else {
            format!("{c:.3}")
        }
    };
    let mut totals = [0.0f64; 2];
    for name in names {
        let shown: Vec<f64> = results
            .iter()
            .map(|r| r.get(name).map_or(0.0, |c| c.0))
            .collect();
        if shown.iter().all(|c| c.abs() < 0.0005) {
            continue; // start-up only
        }
        for (t, c) in totals.iter_mut().zip(&shown) {
            *t += c;
        }
        println!(
            "| `{name}` | {} | {} |",
            cell(&results[0], name),
            cell(&results[1], name)
        );
    }
    println!(
        "| **total** | **{:.3}** | **{:.3}** |",
        totals[0], totals[1]
    );
    Ok(())
}

fn loop_only(url: &str, args: &Args) -> Res<()> {
    let mut d = Driver::new(args.driver);
    // Open the connection outside the loop, as `bench` does.
    d.get(url, &mut [0u8; 4096])?;
    d.run(url, args.requests)?;
    Ok(())
}

fn main() -> ExitCode {
    let result = parse_args().and_then(|args| {
        if let Some(url) = &args.loop_only {
            loop_only(url, &args)
        } else if args.strace {
            syscalls(&args)
        } else {
            bench(&args)
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("core_driver: {e}");
            ExitCode::FAILURE
        }
    }
}

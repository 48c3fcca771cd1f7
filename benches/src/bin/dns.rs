//! `dns`: what one DNS lookup costs, roundtrip's stub resolver against
//! glibc's `getaddrinfo`, both asking the same dnsmasq (issue #3,
//! "Benchmark").
//!
//! ```text
//! dns [--rounds R] [--lookups N] [--cached N] [--warmup W]
//!     Must run as root, with iproute2 and dnsmasq (Debian: dnsmasq-base).
//!     Creates the network namespace rt-bench-<pid> (loopback up), starts
//!     dnsmasq in it on 127.0.0.1:53 answering bench.test with 127.0.0.1
//!     and ::1, writes /etc/netns/rt-bench-<pid>/resolv.conf
//!     ("nameserver 127.0.0.1"; `ip netns exec` mounts it over
//!     /etc/resolv.conf), re-executes itself inside the namespace with
//!     `--inner`, and removes everything at the end (also on failure).
//! dns --inner [same options]
//!     The measurement, inside a namespace prepared as above:
//!       1. getaddrinfo: `("bench.test", 80).to_socket_addrs()` (std, so
//!          glibc's getaddrinfo, A and AAAA; glibc has no cache, so every
//!          lookup asks dnsmasq);
//!       2. roundtrip uncached: the public sans-IO `roundtrip::dns::Resolver`
//!          (settings from resolv.conf as `Client` makes them, cache size 0)
//!          driven by a minimal blocking loop: one fresh UDP socket per
//!          query, as the runtime does; both queries sent, both answers
//!          read;
//!       3. roundtrip cached: `start_query` + `poll_event` until `Done` on a
//!          warm, full cache (filled with `dns_cache_size` other names
//!          first; no socket at all).
//!     R rounds (default 5) of N lookups (default 2000) of 1 and 2, their
//!     order alternating by round, after W warm-up lookups of each (default
//!     200); 3 runs N × 50 lookups per round.
//! ```
//!
//! Output is markdown for docs/benchmarks.md; progress goes to stderr.
//! If the run is killed, clean up by hand: `ip netns del rt-bench-PID;
//! rm -r /etc/netns/rt-bench-PID` (and kill that namespace's dnsmasq).

#![forbid(unsafe_code)]

use std::error::Error;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use roundtrip::dns::{Hosts, Resolver, ResolverEvent, Transmit};
use roundtrip::Config;
use roundtrip_bench::cpu::CpuTime;
use roundtrip_bench::stats::median;

type Res<T> = Result<T, Box<dyn Error>>;

const NAME: &str = "bench.test";
const DNSMASQ: &str = "/usr/sbin/dnsmasq";

#[derive(Debug, Clone)]
struct Args {
    inner: bool,
    rounds: usize,
    lookups: u64,
    cached: u64,
    warmup: u64,
}

fn parse_args() -> Res<Args> {
    let mut a = Args {
        inner: false,
        rounds: 5,
        lookups: 2000,
        cached: 0,
        warmup: 200,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut num = |what: &str| -> Res<u64> {
            let v = it.next().ok_or(format!("{what} needs a number"))?;
            Ok(v.parse().map_err(|e| format!("{what} {v}: {e}"))?)
        };
        match arg.as_str() {
            "--inner" => a.inner = true,
            "--rounds" => a.rounds = num("--rounds")?.max(1) as usize,
            "--lookups" => a.lookups = num("--lookups")?.max(1),
            "--cached" => a.cached = num("--cached")?,
            "--warmup" => a.warmup = num("--warmup")?,
            "-h" | "--help" => {
                println!("dns [--rounds R] [--lookups N] [--cached N] [--warmup W]");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    if a.cached == 0 {
        a.cached = a.lookups * 50;
    }
    Ok(a)
}

fn main() -> ExitCode {
    let result = parse_args().and_then(|a| if a.inner { inner(&a) } else { outer(&a) });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dns: {e}");
            ExitCode::FAILURE
        }
    }
}

// ---------------------------------------------------------------------------
// Outside: the namespace, dnsmasq, and cleaning up.

fn run(cmd: &mut Command) -> Res<()> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?}: {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )
        .into());
    }
    Ok(())
}

/// The namespace, its resolv.conf and its dnsmasq; dropping it removes all
/// three.
struct Namespace {
    name: String,
    etc: PathBuf,
    dnsmasq: Option<Child>,
}

impl Namespace {
    fn create(name: &str) -> Res<Namespace> {
        run(Command::new("ip").args(["netns", "add", name]))?;
        let ns = Namespace {
            name: name.to_owned(),
            etc: Path::new("/etc/netns").join(name),
            dnsmasq: None,
        };
        run(Command::new("ip").args(["-n", name, "link", "set", "lo", "up"]))?;
        std::fs::create_dir_all(&ns.etc)?;
        std::fs::write(ns.etc.join("resolv.conf"), "nameserver 127.0.0.1\n")?;
        Ok(ns)
    }

    fn start_dnsmasq(&mut self, log: &Path) -> Res<()> {
        let log = std::fs::File::create(log)?;
        let child = Command::new("ip")
            .args(["netns", "exec", &self.name, DNSMASQ])
            .args([
                "--keep-in-foreground",
                "--conf-file=/dev/null",
                "--no-resolv",
                "--no-hosts",
                "--port=53",
                "--listen-address=127.0.0.1",
                "--bind-interfaces",
                "--pid-file=",
                "--log-facility=-",
                "--user=root",
                "--local=/test/",
                // A TTL above 0 so that the cached case can cache.
                "--local-ttl=300",
            ])
            .arg(format!("--host-record={NAME},127.0.0.1,::1"))
            // Every name under fill.test: to fill the cache before the
            // cached rounds, so that a hit is measured in a full cache.
            .arg("--address=/fill.test/127.0.0.1")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("ip netns exec {} {DNSMASQ}: {e}", self.name))?;
        // `ip netns exec` execs dnsmasq: the child is dnsmasq itself.
        self.dnsmasq = Some(child);
        Ok(())
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        if let Some(mut child) = self.dnsmasq.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
        let _ = std::fs::remove_dir_all(&self.etc);
    }
}

fn outer(args: &Args) -> Res<()> {
    if !Path::new(DNSMASQ).exists() {
        return Err(
            format!("{DNSMASQ} missing; install it with: apt-get install -y dnsmasq-base").into(),
        );
    }
    let name = format!("rt-bench-{}", std::process::id());
    let log = std::env::temp_dir().join(format!("{name}-dnsmasq.log"));
    let mut ns = Namespace::create(&name)?;
    ns.start_dnsmasq(&log)?;
    let exe = std::env::current_exe()?;
    let status = Command::new("ip")
        .args(["netns", "exec", &name])
        .arg(&exe)
        .arg("--inner")
        .args(["--rounds", &args.rounds.to_string()])
        .args(["--lookups", &args.lookups.to_string()])
        .args(["--cached", &args.cached.to_string()])
        .args(["--warmup", &args.warmup.to_string()])
        .status()?;
    let dnsmasq_died = ns
        .dnsmasq
        .as_mut()
        .and_then(|c| c.try_wait().ok().flatten());
    drop(ns);
    let out = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    if let Some(st) = dnsmasq_died {
        return Err(format!("dnsmasq exited ({st}):\n{out}").into());
    }
    if !status.success() {
        return Err(format!("the measurement failed ({status}); dnsmasq said:\n{out}").into());
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Inside the namespace.

fn expected(addrs: &[IpAddr]) -> bool {
    addrs.len() == 2
        && addrs.contains(&IpAddr::V4(Ipv4Addr::LOCALHOST))
        && addrs.contains(&IpAddr::V6(Ipv6Addr::LOCALHOST))
}

/// One lookup through glibc.
fn getaddrinfo() -> Res<()> {
    let addrs: Vec<IpAddr> = (NAME, 80).to_socket_addrs()?.map(|a| a.ip()).collect();
    if !expected(&addrs) {
        return Err(format!("getaddrinfo({NAME}) = {addrs:?}").into());
    }
    Ok(())
}

/// roundtrip's resolver with real UDP sockets: the runtime's job, done
/// with blocking calls. A socket per query, bound to a fresh port and
/// connected to the server, as `Runtime::open_dns_udp` does.
struct Driver {
    resolver: Resolver,
    socks: Vec<(roundtrip::dns::DnsSockId, UdpSocket)>,
    buf: Vec<u8>,
}

impl Driver {
    fn new(cache_size: usize) -> Res<Driver> {
        let mut config = Config::default();
        config.dns_cache_size = cache_size;
        let settings = config.dns_settings();
        if settings.nameservers != [SocketAddr::from((Ipv4Addr::LOCALHOST, 53))] {
            return Err(format!(
                "resolv.conf gives {:?}, not 127.0.0.1:53: not inside the benchmark's namespace?",
                settings.nameservers
            )
            .into());
        }
        let hosts = match &config.hosts_file {
            Some(path) => Hosts::load(path),
            None => Hosts::default(),
        };
        let seed = {
            use std::hash::{BuildHasher, RandomState};
            RandomState::new().hash_one(std::process::id())
        };
        Ok(Driver {
            resolver: Resolver::new(settings, hosts, seed),
            socks: Vec::new(),
            buf: vec![0; 65536],
        })
    }

    fn transmit(&mut self) -> Res<()> {
        while let Some(t) = self.resolver.poll_transmit() {
            match t {
                Transmit::Udp {
                    sock,
                    server,
                    payload,
                } => {
                    let s = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
                    s.connect(server)?;
                    s.send(&payload)?;
                    self.socks.push((sock, s));
                }
                Transmit::Tcp { .. } => return Err("unexpected TCP fallback".into()),
                Transmit::Close { sock } => self.socks.retain(|(id, _)| *id != sock),
            }
        }
        Ok(())
    }

    /// One lookup of NAME, start to `Done`.
    fn lookup(&mut self) -> Res<()> {
        self.lookup_of(NAME)
    }

    /// One lookup of `name` (NAME, or one of the `--address` names that
    /// fill the cache), start to `Done`.
    fn lookup_of(&mut self, name: &str) -> Res<()> {
        let q = self.resolver.start_query(name, Instant::now());
        loop {
            self.transmit()?;
            while let Some(e) = self.resolver.poll_event() {
                if let ResolverEvent::Done { lookup, result, .. } = e {
                    if lookup != q {
                        continue;
                    }
                    let addrs = result?;
                    if name == NAME && !expected(&addrs) {
                        return Err(format!("roundtrip resolved {NAME} to {addrs:?}").into());
                    }
                    if !self.socks.is_empty() {
                        return Err("sockets left open after Done".into());
                    }
                    return Ok(());
                }
            }
            // Wait on the oldest open socket until the resolver's deadline;
            // the other answer waits in its socket's buffer meanwhile.
            let Some((id, sock)) = self.socks.first() else {
                return Err("no socket to wait on and no answer".into());
            };
            let deadline = self.resolver.poll_timeout().ok_or("no deadline")?;
            let wait = deadline.saturating_duration_since(Instant::now());
            sock.set_read_timeout(Some(wait.max(Duration::from_millis(1))))?;
            match sock.recv_from(&mut self.buf) {
                Ok((n, from)) => {
                    let id = *id;
                    self.resolver
                        .handle_datagram(id, from, &self.buf[..n], Instant::now());
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    self.resolver.handle_timeout(Instant::now());
                }
                Err(e) => {
                    let id = *id;
                    self.resolver.handle_socket_error(id, &e, Instant::now());
                }
            }
        }
    }

    /// One lookup answered from the cache: no socket may be asked for.
    fn cached_lookup(&mut self, now: Instant) -> Res<()> {
        let q = self.resolver.start_query(NAME, now);
        if self.resolver.poll_transmit().is_some() {
            return Err("a cached lookup sent a query".into());
        }
        while let Some(e) = self.resolver.poll_event() {
            if let ResolverEvent::Done { lookup, result, .. } = e {
                if lookup == q && result.map(|a| a.len()).unwrap_or(0) == 2 {
                    return Ok(());
                }
                return Err("a cached lookup failed".into());
            }
        }
        Err("a cached lookup did not finish at once".into())
    }
}

/// Figures of one round of `n` lookups.
#[derive(Debug, Clone, Copy)]
struct Round {
    /// Median wall time of one lookup, µs.
    median_us: f64,
    /// 90th percentile, µs.
    p90_us: f64,
    /// Total wall time / n, µs.
    mean_us: f64,
    /// getrusage user+sys / n, µs.
    cpu_us: f64,
    user_us: f64,
    sys_us: f64,
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn measure(n: u64, timed_each: bool, mut f: impl FnMut() -> Res<()>) -> Res<Round> {
    let mut each = Vec::with_capacity(if timed_each { n as usize } else { 0 });
    let cpu0 = CpuTime::now();
    let t0 = Instant::now();
    for _ in 0..n {
        if timed_each {
            let t = Instant::now();
            f()?;
            each.push(us(t.elapsed()));
        } else {
            f()?;
        }
    }
    let wall = t0.elapsed();
    let cpu = CpuTime::now().since(cpu0);
    let nf = n as f64;
    let mean_us = us(wall) / nf;
    each.sort_by(f64::total_cmp);
    let (median_us, p90_us) = if each.is_empty() {
        (mean_us, f64::NAN)
    } else {
        (
            median(each.clone()),
            each[(each.len() * 9 / 10).min(each.len() - 1)],
        )
    };
    Ok(Round {
        median_us,
        p90_us,
        mean_us,
        cpu_us: us(cpu.total()) / nf,
        user_us: us(cpu.user) / nf,
        sys_us: us(cpu.sys) / nf,
    })
}

fn med(rounds: &[Round], f: fn(&Round) -> f64) -> f64 {
    median(rounds.iter().map(f).collect())
}

fn row(label: &str, rounds: &[Round]) {
    let p90 = med(rounds, |r| r.p90_us);
    let p90 = if p90.is_nan() {
        "–".to_owned()
    } else {
        format!("{p90:.2}")
    };
    println!(
        "| {label} | {:.2} | {p90} | {:.2} | {:.2} | {:.2} | {:.2} |",
        med(rounds, |r| r.median_us),
        med(rounds, |r| r.mean_us),
        med(rounds, |r| r.cpu_us),
        med(rounds, |r| r.user_us),
        med(rounds, |r| r.sys_us),
    );
}

/// Waits until dnsmasq answers (it was started just before us).
fn wait_for_dnsmasq() -> Res<()> {
    let start = Instant::now();
    loop {
        match getaddrinfo() {
            Ok(()) => return Ok(()),
            Err(e) if start.elapsed() > Duration::from_secs(10) => {
                return Err(format!("dnsmasq never answered: {e}").into())
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

fn inner(args: &Args) -> Res<()> {
    let conf = std::fs::read_to_string("/etc/resolv.conf")?;
    if conf.trim() != "nameserver 127.0.0.1" {
        return Err(format!("/etc/resolv.conf is {conf:?}: not inside the namespace?").into());
    }
    wait_for_dnsmasq()?;
    let mut uncached = Driver::new(0)?;
    let mut cached = Driver::new(Config::default().dns_cache_size)?;

    eprintln!("warm-up: {} lookups each", args.warmup);
    for _ in 0..args.warmup {
        getaddrinfo()?;
        uncached.lookup()?;
    }
    // Fill the cache with other names first (an A answer each, and the
    // AAAA answer or its negative), so the hit below is one among many.
    let size = Config::default().dns_cache_size;
    for i in 0..size {
        cached.lookup_of(&format!("n{i}.fill.test"))?;
    }
    cached.lookup()?; // caches NAME (TTL 300 s), evicting one filler
    let now = Instant::now();

    let (mut gai, mut rt, mut hit) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..args.rounds {
        eprintln!("round {}/{}", round + 1, args.rounds);
        if round % 2 == 0 {
            gai.push(measure(args.lookups, true, getaddrinfo)?);
            rt.push(measure(args.lookups, true, || uncached.lookup())?);
        } else {
            rt.push(measure(args.lookups, true, || uncached.lookup())?);
            gai.push(measure(args.lookups, true, getaddrinfo)?);
        }
        hit.push(measure(args.cached, false, || cached.cached_lookup(now))?);
    }

    println!(
        "Median over {} rounds; uncached rounds of {} lookups of `{NAME}` (A+AAAA), \
         cached rounds of {}.",
        args.rounds, args.lookups, args.cached
    );
    println!();
    println!("| per lookup | median µs | p90 µs | wall/lookup µs | CPU µs (user+sys) | user µs | sys µs |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    row(
        "glibc `getaddrinfo` (std `to_socket_addrs`), uncached",
        &gai,
    );
    row("roundtrip resolver, uncached (own UDP loop)", &rt);
    row("roundtrip resolver, cached", &hit);
    println!();
    let ratio = |f: fn(&Round) -> f64| med(&rt, f) / med(&gai, f);
    println!(
        "roundtrip / getaddrinfo, uncached: median latency {:.2}×, wall per lookup {:.2}×, \
         CPU {:.2}×.",
        ratio(|r| r.median_us),
        ratio(|r| r.mean_us),
        ratio(|r| r.cpu_us)
    );
    println!();
    println!("Each round (median µs, CPU µs):");
    println!();
    for (i, ((g, r), h)) in gai.iter().zip(&rt).zip(&hit).enumerate() {
        println!(
            "- round {}: getaddrinfo {:.1} / {:.1}; roundtrip {:.1} / {:.1}; cached CPU {:.3}",
            i + 1,
            g.median_us,
            g.cpu_us,
            r.median_us,
            r.cpu_us,
            h.cpu_us
        );
    }
    Ok(())
}

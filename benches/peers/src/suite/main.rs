//! `suite`: issue 9's benchmark of roundtrip against its peers (ureq 3,
//! reqwest's blocking client, hyper-util's legacy client on current-thread
//! tokio, libcurl through the `curl` crate, Debian's curl CLI for the big
//! download) and a floor with no HTTP library, in five workloads against a
//! local nginx (see `clients.rs` and `nginx.rs`).
//!
//! ```text
//! suite [--rounds R] [--keepalive N] [--new N] [--big N] [--concurrent N]
//!       [--chunked N] [--concurrency C] [--big-mib M] [--workloads a,b]
//!       [--examples DIR] [--md FILE] [--svg FILE] [--svg-link NAME]
//!       [--commit TEXT] [--no-strace]
//!     Everything: markdown into FILE (stdout without --md), the chart
//!     into --svg.
//! suite --child PEER --workload W --http-port P --https-port P --ca PATH
//!       --big-len B --concurrency C --calls N --warmup W
//!     One peer's loop; prints one `RESULT` line (used by the above).
//! suite --serve SECONDS [--big-mib M]
//!     Only nginx, for profiling one `--child` by hand under perf or
//!     valgrind: prints the `--child` arguments that reach it, then serves
//!     for SECONDS.
//! ```
//!
//! Every peer × workload runs in a child process of its own (so CPU time,
//! allocations and peak RSS are that client's alone), R rounds, the peers'
//! order rotated each round; the figures are medians over rounds. System
//! calls come from `strace -f -c` of two child runs of different lengths.

#[path = "../alloc.rs"]
mod alloc;
mod clients;
#[path = "../cpu.rs"]
#[allow(dead_code)]
mod cpu;
#[path = "../nginx.rs"]
#[allow(dead_code)]
mod nginx;
#[path = "../peers.rs"]
#[allow(dead_code)]
mod peers;
mod report;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

use alloc::Counting;
use clients::{Res, Target, Workload};
use nix::sys::resource::{getrusage, UsageWho};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The command line.
#[derive(Debug, Clone)]
struct Args {
    rounds: usize,
    calls: BTreeMap<&'static str, u64>,
    concurrency: usize,
    big_mib: u64,
    workloads: Vec<Workload>,
    examples: Option<PathBuf>,
    md: Option<PathBuf>,
    svg: Option<PathBuf>,
    svg_link: String,
    commit: String,
    strace: bool,
    child: Option<String>,
    serve: Option<u64>,
    workload: Workload,
    http_port: u16,
    https_port: u16,
    ca: PathBuf,
    big_len: usize,
    n: u64,
    warmup: u64,
}

fn parse_args() -> Res<Args> {
    let mut a = Args {
        rounds: 5,
        calls: BTreeMap::from([
            ("keepalive", 5000),
            ("new", 200),
            ("big", 1),
            ("concurrent", 2),
            ("chunked", 100),
        ]),
        concurrency: 1000,
        big_mib: 256,
        workloads: Workload::ALL.to_vec(),
        examples: None,
        md: None,
        svg: None,
        svg_link: "benchmarks-peers.svg".into(),
        commit: "unknown".into(),
        strace: true,
        child: None,
        serve: None,
        workload: Workload::KeepAlive,
        http_port: 0,
        https_port: 0,
        ca: PathBuf::new(),
        big_len: 0,
        n: 1,
        warmup: 0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--rounds" => a.rounds = value()?.parse::<usize>()?.max(1),
            "--keepalive" | "--new" | "--big" | "--concurrent" | "--chunked" => {
                let w = Workload::parse(&arg[2..])?;
                a.calls.insert(w.name(), value()?.parse::<u64>()?.max(1));
            }
            "--concurrency" => a.concurrency = value()?.parse()?,
            "--big-mib" => a.big_mib = value()?.parse()?,
            "--workloads" => {
                a.workloads = value()?
                    .split(',')
                    .map(Workload::parse)
                    .collect::<Res<_>>()?
            }
            "--examples" => a.examples = Some(value()?.into()),
            "--md" => a.md = Some(value()?.into()),
            "--svg" => a.svg = Some(value()?.into()),
            "--svg-link" => a.svg_link = value()?,
            "--commit" => a.commit = value()?,
            "--no-strace" => a.strace = false,
            "--child" => a.child = Some(value()?),
            "--serve" => a.serve = Some(value()?.parse()?),
            "--workload" => a.workload = Workload::parse(&value()?)?,
            "--http-port" => a.http_port = value()?.parse()?,
            "--https-port" => a.https_port = value()?.parse()?,
            "--ca" => a.ca = value()?.into(),
            "--big-len" => a.big_len = value()?.parse()?,
            "--calls" => a.n = value()?.parse()?,
            "--warmup" => a.warmup = value()?.parse()?,
            "-h" | "--help" => {
                println!("see the top of benches/peers/src/suite/main.rs");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?}").into()),
        }
    }
    Ok(a)
}

/// Warm-up calls before the measured ones, per workload.
fn warmup(w: Workload) -> u64 {
    match w {
        Workload::KeepAlive => 500,
        Workload::New => 20,
        Workload::Big | Workload::Concurrent => 1,
        Workload::Chunked => 10,
    }
}

/// GETs per call of workload `w`.
fn gets_per_call(w: Workload, concurrency: usize) -> u64 {
    if w == Workload::Concurrent {
        concurrency as u64
    } else {
        1
    }
}

// -------------------------------------------------------------------- child

/// A process per call, which prints the body's length last: Debian's curl
/// CLI (`curl -s -o /dev/null -w %{size_download} URL`), or a peer's
/// minimal binary (`examples/min_<peer>.rs`, `bin:PATH`).
struct Process {
    argv: Vec<String>,
    len: usize,
}

/// The largest `VmHWM` seen of a [`Process`] child, KiB.
static PROC_HWM: AtomicU64 = AtomicU64::new(0);

/// `VmHWM` (peak resident set of the address space) of `/proc/PID/status`
/// in KiB. Unlike `ru_maxrss`, it starts afresh at `exec`: Linux carries
/// the pre-exec image's peak into `ru_maxrss`, and a child spawned by a
/// large parent shares the parent's image until it execs.
fn vm_hwm_kib(pid: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

impl clients::Client for Process {
    fn call(&mut self) -> Res<usize> {
        let mut child = Command::new(&self.argv[0])
            .args(&self.argv[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        // Poll the child's peak RSS until it exits (it only grows).
        let pid = child.id().to_string();
        while child.try_wait()?.is_none() {
            if let Some(kib) = vm_hwm_kib(&pid) {
                PROC_HWM.fetch_max(kib, Relaxed);
            }
            std::thread::sleep(std::time::Duration::from_micros(500));
        }
        let out = child.wait_with_output()?;
        if !out.status.success() {
            return Err(
                format!("{}: {}", self.argv[0], String::from_utf8_lossy(&out.stderr)).into(),
            );
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let n: usize = text.lines().last().unwrap_or("").trim().parse()?;
        if n != self.len {
            return Err(format!("{} read {n} bytes", self.argv[0]).into());
        }
        Ok(n)
    }
}

struct Usage {
    user_us: f64,
    sys_us: f64,
    maxrss_kib: i64,
}

fn usage(who: UsageWho) -> Usage {
    let u = getrusage(who).expect("getrusage");
    let us = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 * 1e6 + t.tv_usec() as f64;
    Usage {
        user_us: us(u.user_time()),
        sys_us: us(u.system_time()),
        maxrss_kib: u.max_rss(),
    }
}

/// One peer's loop in this (child) process; prints
/// `RESULT calls cpu_us user_us sys_us wall_us allocs bytes maxrss_kib body`
/// (totals over the measured calls). For the curl CLI the CPU and peak RSS
/// are its processes' (this process's children).
fn child(a: &Args, name: &str) -> Res<()> {
    let w = a.workload;
    let t = Target {
        http_port: a.http_port,
        https_port: a.https_port,
        ca: a.ca.clone(),
        big_len: a.big_len,
        concurrency: a.concurrency,
    };
    let want = t.body_len(w) * gets_per_call(w, a.concurrency) as usize;
    let cli = name == "curl-cli" || name.starts_with("bin:");
    let mut c: Box<dyn clients::Client> = if name == "curl-cli" {
        Box::new(Process {
            argv: [
                "curl",
                "-s",
                "-S",
                "-o",
                "/dev/null",
                "-w",
                "%{size_download}",
            ]
            .into_iter()
            .map(String::from)
            .chain([t.url(w)])
            .collect(),
            len: want,
        })
    } else if let Some(path) = name.strip_prefix("bin:") {
        Box::new(Process {
            argv: vec![path.to_owned(), t.url(w)],
            len: want,
        })
    } else {
        clients::make(name, w, &t)?
    };
    for _ in 0..a.warmup {
        c.call()?;
    }
    let who = if cli {
        UsageWho::RUSAGE_CHILDREN
    } else {
        UsageWho::RUSAGE_SELF
    };
    let u0 = usage(who);
    let h0 = alloc::snapshot();
    let t0 = Instant::now();
    let mut body = 0;
    for _ in 0..a.n {
        let got = c.call()?;
        if got != want {
            return Err(format!("{name}: body of {got} bytes, not {want}").into());
        }
        body += got;
    }
    let wall = t0.elapsed().as_secs_f64() * 1e6;
    let heap = alloc::snapshot().since(h0);
    let u1 = usage(who);
    let maxrss_kib = if cli {
        PROC_HWM.load(Relaxed)
    } else {
        vm_hwm_kib("self").unwrap_or(u1.maxrss_kib.max(0) as u64)
    };
    let (allocs, bytes) = if cli {
        (-1.0, -1.0)
    } else {
        (heap.all as f64, heap.bytes as f64)
    };
    println!(
        "RESULT {} {} {} {} {} {} {} {} {}",
        a.n,
        (u1.user_us + u1.sys_us) - (u0.user_us + u0.sys_us),
        u1.user_us - u0.user_us,
        u1.sys_us - u0.sys_us,
        wall,
        allocs,
        bytes,
        maxrss_kib,
        body
    );
    Ok(())
}

// ------------------------------------------------------------------- parent

/// One child run, per GET (per download for `big`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    /// CPU (user + sys) µs per GET.
    pub cpu_us: f64,
    /// User µs per GET.
    pub user_us: f64,
    /// System µs per GET.
    pub sys_us: f64,
    /// Wall µs per GET (per call for the concurrent workload: the batch).
    pub wall_us: f64,
    /// Heap allocations per GET (negative: not counted).
    pub allocs: f64,
    /// Bytes allocated per GET.
    pub bytes: f64,
    /// The child's peak RSS, KiB.
    pub maxrss_kib: f64,
    /// Body MiB per second of wall time.
    pub mib_s: f64,
    /// Connections nginx accepted per GET (warm-up included).
    pub conns: f64,
}

/// What the parent tells each child.
struct Env<'a> {
    exe: PathBuf,
    server: &'a nginx::Nginx,
    a: &'a Args,
}

impl Env<'_> {
    fn child_cmd(&self, peer: &str, w: Workload, n: u64) -> Command {
        let mut c = Command::new(&self.exe);
        self.child_args(&mut c, peer, w, n);
        c
    }

    fn child_args(&self, c: &mut Command, peer: &str, w: Workload, n: u64) {
        c.args(["--child", peer, "--workload", w.name()])
            .args(["--http-port", &self.server.http_port.to_string()])
            .args(["--https-port", &self.server.port.to_string()])
            .arg("--ca")
            .arg(&self.server.ca)
            .args(["--big-len", &(self.a.big_mib << 20).to_string()])
            .args(["--concurrency", &self.a.concurrency.to_string()])
            .args(["--calls", &n.to_string()])
            .args(["--warmup", &warmup(w).to_string()])
            .stdin(Stdio::null());
    }

    fn run(&self, peer: &str, w: Workload) -> Res<Sample> {
        let n = self.a.calls[w.name()];
        let accepts0 = self.server.accepts()?;
        let out = self
            .child_cmd(peer, w, n)
            .stderr(Stdio::inherit())
            .output()?;
        let conns = self.server.accepts()? - accepts0 - 1;
        if !out.status.success() {
            return Err(format!("{peer} {}: child failed ({})", w.name(), out.status).into());
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text
            .lines()
            .find_map(|l| l.strip_prefix("RESULT "))
            .ok_or_else(|| format!("{peer} {}: no RESULT in {text:?}", w.name()))?;
        let f: Vec<f64> = line
            .split_whitespace()
            .map(str::parse)
            .collect::<Result<_, _>>()?;
        let gets = f[0] * gets_per_call(w, self.a.concurrency) as f64;
        let per = |x: f64| x / gets;
        let all_gets = (n + warmup(w)) as f64 * gets_per_call(w, self.a.concurrency) as f64;
        Ok(Sample {
            cpu_us: per(f[1]),
            user_us: per(f[2]),
            sys_us: per(f[3]),
            wall_us: f[4] / f[0],
            allocs: if f[5] < 0.0 { -1.0 } else { per(f[5]) },
            bytes: if f[6] < 0.0 { -1.0 } else { per(f[6]) },
            maxrss_kib: f[7],
            mib_s: f[8] / (1 << 20) as f64 / (f[4] / 1e6),
            conns: conns as f64 / all_gets,
        })
    }

    /// System calls per GET: `strace -f -c` of a child of `n1` calls and
    /// one of `n2`, the difference divided by the GETs between them.
    fn syscalls(&self, peer: &str, w: Workload) -> Res<(f64, Vec<(String, f64)>)> {
        let (n1, n2) = match w {
            Workload::KeepAlive => (500, 2500),
            Workload::New => (20, 80),
            // How many reads a download takes varies with how the bytes
            // happen to arrive (a reader woken by epoll reads until the
            // socket is dry): 1 against 2 downloads gave negative counts.
            Workload::Big => (1, 5),
            Workload::Concurrent => (1, 2),
            Workload::Chunked => (10, 40),
        };
        let mut runs = Vec::new();
        for n in [n1, n2] {
            let file = std::env::temp_dir().join(format!(
                "roundtrip-suite-strace-{}-{peer}-{}-{n}.txt",
                std::process::id(),
                w.name()
            ));
            let mut c = Command::new(std::env::var_os("STRACE").unwrap_or("strace".into()));
            c.args(["-f", "-c", "-o"]).arg(&file).arg(&self.exe);
            self.child_args(&mut c, peer, w, n);
            let out = c.stdout(Stdio::null()).stderr(Stdio::inherit()).status()?;
            if !out.success() {
                return Err(format!("strace of {peer} {}: {out}", w.name()).into());
            }
            runs.push(std::fs::read_to_string(&file)?);
            let _ = std::fs::remove_file(&file);
        }
        let gets = (n2 - n1) as f64 * gets_per_call(w, self.a.concurrency) as f64;
        let (s1, s2) = (
            report::parse_strace(&runs[0]),
            report::parse_strace(&runs[1]),
        );
        let mut by: Vec<(String, f64)> = s2
            .iter()
            .map(|(k, v)| (k.clone(), (*v - s1.get(k).copied().unwrap_or(0.0)) / gets))
            .filter(|(_, v)| v.abs() >= 0.005)
            .collect();
        by.sort_by(|a, b| b.1.total_cmp(&a.1));
        Ok((by.iter().map(|x| x.1).sum(), by))
    }
}

fn loadavg() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|x| x.parse().ok()))
        .unwrap_or(f64::NAN)
}

fn main() -> Res<()> {
    let a = parse_args()?;
    if let Some(name) = &a.child {
        return child(&a, name);
    }
    let started = Instant::now();
    let server = nginx::Nginx::start_with(false, a.big_mib << 20)?;
    if let Some(seconds) = a.serve {
        println!(
            "--http-port {} --https-port {} --ca {} --big-len {}",
            server.http_port,
            server.port,
            server.ca.display(),
            a.big_mib << 20
        );
        std::thread::sleep(std::time::Duration::from_secs(seconds));
        return Ok(());
    }
    let env = Env {
        exe: std::env::current_exe()?,
        server: &server,
        a: &a,
    };
    let mut res = report::Results::new(&a.commit, a.rounds, a.concurrency, a.big_mib);
    res.calls = a.calls.clone();
    res.load.push(loadavg());
    for round in 0..a.rounds {
        for &w in &a.workloads {
            let mut peers: Vec<&str> = w.peers().to_vec();
            if w == Workload::Big {
                peers.push("curl-cli");
            }
            let k = peers.len();
            for i in 0..k {
                let peer = peers[(i + round) % k];
                let s = env.run(peer, w)?;
                eprintln!(
                    "round {round} {} {peer}: {:.1} µs CPU/GET, {:.1} allocs, {:.0} KiB RSS, {:.0} µs wall/call, {:.3} conns/GET",
                    w.name(),
                    s.cpu_us,
                    s.allocs,
                    s.maxrss_kib,
                    s.wall_us,
                    s.conns
                );
                res.samples
                    .entry((w.name(), peer.to_owned()))
                    .or_default()
                    .push(s);
            }
        }
        res.load.push(loadavg());
    }
    if a.strace {
        for &w in &a.workloads {
            let mut peers: Vec<&str> = w.peers().to_vec();
            if w == Workload::Big {
                peers.push("curl-cli");
            }
            for peer in peers {
                let (total, by) = env.syscalls(peer, w)?;
                eprintln!("strace {} {peer}: {total:.2} syscalls/GET", w.name());
                res.syscalls
                    .insert((w.name(), peer.to_owned()), (total, by));
            }
        }
    }
    res.load.push(loadavg());
    res.idle_rss_kib = report::median(
        (0..3)
            .map(|_| env.run("idle", Workload::KeepAlive).map(|s| s.maxrss_kib))
            .collect::<Res<Vec<f64>>>()?,
    );
    if let Some(dir) = &a.examples {
        res.sizes = report::binary_sizes(dir)?;
        if a.workloads.contains(&Workload::Big) {
            for peer in ["roundtrip", "ureq", "reqwest", "hyper", "curl"] {
                let bin = format!("bin:{}", dir.join(format!("min_{peer}")).display());
                let mut v = Vec::new();
                for _ in 0..3 {
                    v.push(env.run(&bin, Workload::Big)?.maxrss_kib);
                }
                let rss = report::median(v);
                eprintln!("big download by min_{peer}: peak RSS {rss} KiB");
                res.min_big_rss_kib.insert(peer.to_owned(), rss);
            }
        }
    }
    res.crates = report::crate_counts()?;
    res.versions = report::versions();
    res.nginx = nginx::Nginx::version();
    res.elapsed_s = started.elapsed().as_secs_f64();
    let md = res.markdown(&a.svg_link);
    match &a.md {
        Some(p) => std::fs::write(p, md)?,
        None => print!("{md}"),
    }
    if let Some(p) = &a.svg {
        std::fs::write(p, res.svg())?;
    }
    Ok(())
}

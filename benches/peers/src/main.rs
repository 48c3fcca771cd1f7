//! `peers`: issue 5's HTTPS benchmark. CPU time, heap allocations and wall
//! time per GET against a local nginx with TLS 1.3, for roundtrip, ureq 3,
//! hyper 1 + hyper-rustls, libcurl (OpenSSL) and a bare rustls floor, with
//! a new connection (full handshake) per request and on one kept-alive
//! connection.
//!
//! ```text
//! peers [--new N] [--keepalive N] [--rounds R] [--warmup-new W]
//!       [--warmup-keepalive W] [--peers a,b,..] [--workloads new,keepalive]
//!       [--useless-tickets]
//!     Everything, as markdown on stdout (defaults 300, 5000, 5, 30, 500).
//!     --useless-tickets: nginx sends the TLS 1.3 tickets it cannot honour
//!     (see src/nginx.rs) instead of none.
//! peers --serve SECONDS
//!     Only nginx: prints "PORT CA_PATH PID" and serves until SIGTERM or
//!     SIGINT to PID, or for SECONDS.
//! peers --loop-only PEER --workload new|keepalive --port P --ca PATH --requests N
//!     One peer's loop against a running `--serve` (for valgrind, perf).
//! ```
//!
//! Rounds are interleaved: in round r every peer runs its N requests, the
//! order rotated by r; each figure is the median over rounds. See
//! docs/benchmarks.md, "HTTPS: new connection and keep-alive, against the
//! peers".

// Unsafe code is refused everywhere but in the allocator module, which must
// implement `GlobalAlloc` and interpose libc's malloc family.
#![deny(unsafe_code)]

#[allow(unsafe_code)]
mod alloc;
mod cpu;
mod nginx;
mod peers;

use std::path::PathBuf;
use std::time::Instant;

use alloc::Counting;
use cpu::CpuTime;
use nginx::Nginx;
use peers::{Peer, Res, Target, Workload, NAMES};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

struct Args {
    new: u64,
    keepalive: u64,
    rounds: usize,
    warmup_new: u64,
    warmup_keepalive: u64,
    peers: Vec<String>,
    workloads: Vec<Workload>,
    serve: Option<u64>,
    useless_tickets: bool,
    loop_only: Option<String>,
    workload: Workload,
    port: u16,
    ca: PathBuf,
    requests: u64,
}

fn workload(s: &str) -> Res<Workload> {
    match s {
        "new" => Ok(Workload::New),
        "keepalive" => Ok(Workload::KeepAlive),
        other => Err(format!("unknown workload {other:?}").into()),
    }
}

fn parse_args() -> Res<Args> {
    let mut a = Args {
        new: 300,
        keepalive: 5000,
        rounds: 5,
        warmup_new: 30,
        warmup_keepalive: 500,
        peers: NAMES.iter().map(|s| s.to_string()).collect(),
        workloads: vec![Workload::New, Workload::KeepAlive],
        serve: None,
        useless_tickets: false,
        loop_only: None,
        workload: Workload::New,
        port: 0,
        ca: PathBuf::new(),
        requests: 1000,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--new" => a.new = value()?.parse()?,
            "--keepalive" => a.keepalive = value()?.parse()?,
            "--rounds" => a.rounds = value()?.parse::<usize>()?.max(1),
            "--warmup-new" => a.warmup_new = value()?.parse()?,
            "--warmup-keepalive" => a.warmup_keepalive = value()?.parse()?,
            "--peers" => a.peers = value()?.split(',').map(str::to_owned).collect(),
            "--workloads" => a.workloads = value()?.split(',').map(workload).collect::<Res<_>>()?,
            "--serve" => a.serve = Some(value()?.parse()?),
            "--useless-tickets" => a.useless_tickets = true,
            "--loop-only" => a.loop_only = Some(value()?),
            "--workload" => a.workload = workload(&value()?)?,
            "--port" => a.port = value()?.parse()?,
            "--ca" => a.ca = value()?.into(),
            "--requests" => a.requests = value()?.parse()?,
            "-h" | "--help" => {
                println!("see the top of benches/peers/src/main.rs");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?}").into()),
        }
    }
    Ok(a)
}

/// One measured loop, divided by its request count.
#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    cpu_us: f64,
    user_us: f64,
    sys_us: f64,
    other_threads_us: f64,
    wall_us: f64,
    allocs: f64,
    rust_allocs: f64,
    bytes: f64,
    conns: f64,
}

fn run(peer: &mut dyn Peer, n: u64) -> Res<(CpuTime, std::time::Duration, alloc::Counts)> {
    let heap0 = alloc::snapshot();
    let cpu0 = CpuTime::now();
    let t0 = Instant::now();
    for _ in 0..n {
        let len = peer.get()?;
        if len != nginx::BODY.len() {
            return Err(format!("body of {len} bytes").into());
        }
    }
    let wall = t0.elapsed();
    let cpu = CpuTime::now().since(cpu0);
    Ok((cpu, wall, alloc::snapshot().since(heap0)))
}

fn measure(peer: &mut dyn Peer, n: u64, server: &Nginx) -> Res<Sample> {
    let accepts0 = server.accepts()?;
    let (cpu, wall, heap) = run(peer, n)?;
    // Each `accepts` call is itself one accepted connection.
    let conns = server.accepts()? - accepts0 - 1;
    let per = |x: f64| x / n as f64;
    let us = |d: std::time::Duration| per(d.as_secs_f64() * 1e6);
    Ok(Sample {
        cpu_us: us(cpu.total()),
        user_us: us(cpu.user),
        sys_us: us(cpu.sys),
        other_threads_us: us(cpu.total().saturating_sub(cpu.this_thread)),
        wall_us: us(wall),
        allocs: per(heap.all as f64),
        rust_allocs: per(heap.rust as f64),
        bytes: per(heap.bytes as f64),
        conns: per(conns as f64),
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

fn medians(s: &[Sample]) -> Sample {
    let m = |f: fn(&Sample) -> f64| median(s.iter().map(f).collect());
    Sample {
        cpu_us: m(|s| s.cpu_us),
        user_us: m(|s| s.user_us),
        sys_us: m(|s| s.sys_us),
        other_threads_us: m(|s| s.other_threads_us),
        wall_us: m(|s| s.wall_us),
        allocs: m(|s| s.allocs),
        rust_allocs: m(|s| s.rust_allocs),
        bytes: m(|s| s.bytes),
        conns: m(|s| s.conns),
    }
}

fn label(name: &str) -> &'static str {
    match name {
        "roundtrip" => "roundtrip",
        "ureq" => "ureq 3 (rustls)",
        "hyper" => "hyper 1 + hyper-rustls",
        "curl" => "libcurl (OpenSSL)",
        "floor" => "floor: bare rustls",
        _ => "?",
    }
}

fn ratio(x: f64, of: Option<f64>) -> String {
    match of {
        Some(of) if of > 0.0 => format!("{:.2}×", x / of),
        _ => "—".into(),
    }
}

fn workload_title(w: Workload, n: u64) -> String {
    match w {
        Workload::New => {
            format!("New connection per request (full TLS 1.3 handshake), {n} requests per round")
        }
        Workload::KeepAlive => format!("Keep-alive: one connection, {n} requests per round"),
    }
}

/// One client's figures for one workload.
struct Row {
    name: String,
    median: Sample,
    /// One sample per round, in round order (rounds are interleaved, so
    /// sample i of two rows were taken close together).
    rounds: Vec<Sample>,
}

fn bench(a: &Args, server: &Nginx, target: &Target, w: Workload) -> Res<Vec<Row>> {
    let (n, warmup) = match w {
        Workload::New => (a.new, a.warmup_new),
        Workload::KeepAlive => (a.keepalive, a.warmup_keepalive),
    };
    let mut peers = Vec::new();
    for name in &a.peers {
        let mut p = peers::make(name, w, target)?;
        run(p.as_mut(), warmup)?;
        if let Some(line) = p.verify(w)? {
            eprintln!("check: {line}");
        }
        peers.push((name.clone(), p, Vec::new()));
    }
    for round in 0..a.rounds {
        let k = peers.len();
        for i in 0..k {
            let (name, p, samples) = &mut peers[(i + round) % k];
            let s = measure(p.as_mut(), n, server)?;
            eprintln!(
                "{w:?} round {round} {name}: {:.1} µs CPU, {:.1} allocs, {:.3} conns/req",
                s.cpu_us, s.allocs, s.conns
            );
            samples.push(s);
        }
    }
    let want = if w == Workload::New { 1.0 } else { 0.0 };
    let mut rows = Vec::new();
    for (name, _, rounds) in peers {
        if rounds.iter().any(|s| (s.conns - want).abs() > 1e-9) {
            return Err(format!("{name} {w:?}: connections per request are not {want}").into());
        }
        rows.push(Row {
            median: medians(&rounds),
            name,
            rounds,
        });
    }
    print_table(w, n, &rows);
    Ok(rows)
}

fn print_table(w: Workload, n: u64, rows: &[Row]) {
    let find = |who: &str| rows.iter().find(|r| r.name == who).map(|r| r.median);
    let (rt, floor) = (find("roundtrip"), find("floor"));
    println!("### {}", workload_title(w, n));
    println!();
    println!("| client | CPU µs/req | × roundtrip | × floor | user µs | sys µs | CPU range over rounds | allocs/req | of which via Rust | × roundtrip | KB allocated/req | wall µs/req | new conns/req |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        let s = r.median;
        let lo = r
            .rounds
            .iter()
            .map(|s| s.cpu_us)
            .fold(f64::INFINITY, f64::min);
        let hi = r.rounds.iter().map(|s| s.cpu_us).fold(0.0, f64::max);
        println!(
            "| {} | {:.0} | {} | {} | {:.0} | {:.0} | {lo:.0}–{hi:.0} | {:.1} | {:.1} | {} | {:.1} | {:.0} | {:.3} |",
            label(&r.name),
            s.cpu_us,
            ratio(s.cpu_us, rt.map(|r| r.cpu_us)),
            ratio(s.cpu_us, floor.map(|r| r.cpu_us)),
            s.user_us,
            s.sys_us,
            s.allocs,
            s.rust_allocs,
            ratio(s.allocs, rt.map(|r| r.allocs)),
            s.bytes / 1024.0,
            s.wall_us,
            s.conns,
        );
    }
    let other = rows
        .iter()
        .map(|r| r.median.other_threads_us)
        .fold(0.0, f64::max);
    println!();
    println!("(CPU of threads other than the caller's, largest median: {other:.2} µs/req.)");
    println!();
}

/// Round-by-round CPU of roundtrip against `peer`: the median of the
/// per-round ratios, their range, and in how many rounds roundtrip used
/// no more CPU.
fn paired(rt: &Row, peer: &Row) -> String {
    let ratios: Vec<f64> = rt
        .rounds
        .iter()
        .zip(&peer.rounds)
        .map(|(a, b)| a.cpu_us / b.cpu_us)
        .collect();
    let wins = ratios.iter().filter(|&&r| r <= 1.0).count();
    let lo = ratios.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = ratios.iter().copied().fold(0.0, f64::max);
    format!(
        "round by round roundtrip/{} = {:.3} median ({lo:.2}–{hi:.2}), roundtrip no higher in {wins} of {} rounds",
        peer.name,
        median(ratios.clone()),
        ratios.len()
    )
}

fn verdicts(w: Workload, rows: &[Row]) {
    let Some(rt) = rows.iter().find(|r| r.name == "roundtrip") else {
        return;
    };
    let others: Vec<&Row> = rows
        .iter()
        .filter(|r| r.name != "roundtrip" && r.name != "floor")
        .collect();
    let Some(best_cpu) = others
        .iter()
        .min_by(|a, b| a.median.cpu_us.total_cmp(&b.median.cpu_us))
    else {
        return;
    };
    let best_alloc = others
        .iter()
        .min_by(|a, b| a.median.allocs.total_cmp(&b.median.allocs))
        .expect("not empty");
    let met = |b: bool| if b { "**met**" } else { "**missed**" };
    let kind = match w {
        Workload::New => "new-connection",
        Workload::KeepAlive => "keep-alive",
    };
    println!(
        "- CPU per {kind} GET{}: roundtrip {:.0} µs, best peer {} {:.0} µs{}; {}",
        if w == Workload::New {
            ""
        } else {
            " (no target)"
        },
        rt.median.cpu_us,
        label(&best_cpu.name),
        best_cpu.median.cpu_us,
        match w {
            Workload::New => format!(": {}", met(rt.median.cpu_us <= best_cpu.median.cpu_us)),
            Workload::KeepAlive => String::new(),
        },
        paired(rt, best_cpu)
    );
    println!(
        "- allocations per {kind} GET: roundtrip {:.1}, fewest of the peers {} {:.1}: {}",
        rt.median.allocs,
        label(&best_alloc.name),
        best_alloc.median.allocs,
        met(rt.median.allocs < best_alloc.median.allocs)
    );
}

/// Prints "PORT CA_PATH PID" and waits for SIGTERM or SIGINT, or until
/// `seconds` have passed; nginx is then stopped and its prefix removed.
fn serve(server: &Nginx, seconds: u64) -> Res<()> {
    use nix::sys::signal::{kill, SigSet, Signal};
    let mut set = SigSet::empty();
    set.add(Signal::SIGTERM);
    set.add(Signal::SIGINT);
    set.thread_block()?;
    std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_secs(seconds));
        let _ = kill(nix::unistd::Pid::this(), Signal::SIGTERM);
    });
    println!(
        "{} {} {}",
        server.port,
        server.ca.display(),
        std::process::id()
    );
    set.wait()?;
    Ok(())
}

fn main() -> Res<()> {
    let a = parse_args()?;
    if let Some(name) = &a.loop_only {
        let target = Target {
            url: format!("https://localhost:{}{}", a.port, nginx::PATH),
            port: a.port,
            ca: a.ca.clone(),
        };
        let mut p = peers::make(name, a.workload, &target)?;
        run(p.as_mut(), 10)?;
        let (cpu, wall, heap) = run(p.as_mut(), a.requests)?;
        let n = a.requests as f64;
        eprintln!(
            "{name} {:?}: {:.1} µs CPU, {:.1} µs wall, {:.2} allocs ({:.2} via Rust) per request",
            a.workload,
            cpu.total().as_secs_f64() * 1e6 / n,
            wall.as_secs_f64() * 1e6 / n,
            heap.all as f64 / n,
            heap.rust as f64 / n
        );
        return Ok(());
    }
    let server = Nginx::start(a.useless_tickets)?;
    let target = Target {
        url: server.url(),
        port: server.port,
        ca: server.ca.clone(),
    };
    if let Some(seconds) = a.serve {
        serve(&server, seconds)?;
        return Ok(());
    }
    eprintln!(
        "nginx {} at {}{}",
        Nginx::version(),
        target.url,
        if a.useless_tickets {
            ", sending tickets it cannot honour"
        } else {
            ", no tickets"
        }
    );
    let mut results = Vec::new();
    for &w in &a.workloads {
        results.push((w, bench(&a, &server, &target, w)?));
    }
    println!("### Verdicts");
    println!();
    for (w, rows) in &results {
        verdicts(*w, rows);
    }
    Ok(())
}

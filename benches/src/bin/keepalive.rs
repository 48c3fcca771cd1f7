//! `keepalive`: sequential keep-alive GETs of a small response from a local
//! nginx, and what each one costs the client.
//!
//! ```text
//! keepalive [--requests N] [--rounds R] [--warmup W]
//!     CPU time (getrusage user+sys), wall time, heap allocations and bytes
//!     per request; median of R rounds of N requests (defaults 20000, 5,
//!     2000), without a trace and with a hook on every event.
//! keepalive --strace [--requests N] [--strace-base N1]
//!     System calls per request: runs itself under `strace -f -c` for N1
//!     and N1+N requests (defaults 1000 and 20000) and divides the
//!     difference by N.
//! keepalive --loop-only URL --requests N [--trace]
//!     Just the loop against URL (what --strace runs under strace).
//! keepalive --serve
//!     Only start nginx, print its URL, and stop it when stdin closes (for
//!     profiling `--loop-only` under perf or valgrind).
//! ```
//!
//! Output is markdown, ready for docs/benchmarks.md; progress goes to
//! stderr. One client, one connection: every measured request reuses the
//! pooled connection (checked: a new connection in a measured loop is an
//! error).

#![forbid(unsafe_code)]

use std::error::Error;
use std::io::Read;
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

use roundtrip::{Client, Event, EventKind, Trace};
use roundtrip_bench::alloc::{self, Counting};
use roundtrip_bench::cpu::CpuTime;
use roundtrip_bench::nginx::{self, Nginx};
use roundtrip_bench::stats::PerRequest;
use roundtrip_bench::strace;

#[global_allocator]
static ALLOCATOR: Counting = Counting;

type Res<T> = Result<T, Box<dyn Error>>;

/// Events seen by [`hook`], and connections it saw opened.
static EVENTS: AtomicU64 = AtomicU64::new(0);
static NEW_CONNS: AtomicU64 = AtomicU64::new(0);

/// The hook attached to every event in the traced mode: a trivial thing
/// that cannot be optimised away. A plain `fn` is zero-sized, so boxing it
/// allocates nothing; `Trace::on_event` pushing it does (measured on its
/// own in the reference rows).
fn hook(e: &Event<'_>) {
    EVENTS.fetch_add(1, Relaxed);
    if let EventKind::GotConn { reused: false, .. } = e.kind {
        NEW_CONNS.fetch_add(1, Relaxed);
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
    trace: bool,
    serve: bool,
}

fn parse_args() -> Res<Args> {
    let mut a = Args {
        requests: 20_000,
        rounds: 5,
        warmup: 2_000,
        strace: false,
        strace_base: 1_000,
        loop_only: None,
        trace: false,
        serve: false,
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
            "--trace" => a.trace = true,
            "--serve" => a.serve = true,
            "-h" | "--help" => {
                println!("usage: keepalive [--requests N] [--rounds R] [--warmup W]");
                println!("       keepalive --strace [--requests N] [--strace-base N1]");
                println!("       keepalive --loop-only URL --requests N [--trace]");
                println!("       keepalive --serve");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?} (try --help)").into()),
        }
    }
    Ok(a)
}

/// One keep-alive GET, its body read to the end into `buf`. Allocates
/// nothing itself on success.
fn get(client: &Client, url: &str, traced: bool, buf: &mut [u8]) -> Res<()> {
    let req = http::Request::get(url).body(())?;
    let resp = if traced {
        client.send_traced(req, Trace::new().on_event(hook))?
    } else {
        client.send(req)?
    };
    if resp.status() != http::StatusCode::OK {
        return Err(format!("unexpected status {}", resp.status()).into());
    }
    let mut body = resp.into_body();
    let mut total = 0;
    loop {
        let n = body.read(buf)?;
        if n == 0 {
            break;
        }
        total += n;
    }
    if total != nginx::BODY.len() {
        return Err(format!("body of {total} bytes, expected {}", nginx::BODY.len()).into());
    }
    Ok(())
}

/// Runs `n` iterations of `f` and returns what they cost per iteration.
fn measure(n: u64, mut f: impl FnMut() -> Res<()>) -> Res<PerRequest> {
    EVENTS.store(0, Relaxed);
    let heap0 = alloc::snapshot();
    let cpu0 = CpuTime::now();
    let t0 = Instant::now();
    for _ in 0..n {
        f()?;
    }
    let wall = t0.elapsed();
    let cpu = CpuTime::now().since(cpu0);
    let heap = alloc::snapshot().since(heap0);
    Ok(PerRequest::new(n, wall, cpu, heap, EVENTS.load(Relaxed)))
}

fn keepalive_loop(client: &Client, url: &str, n: u64, traced: bool) -> Res<PerRequest> {
    let mut buf = [0u8; 4096];
    NEW_CONNS.store(0, Relaxed);
    let r = measure(n, || get(client, url, traced, &mut buf))?;
    if traced && NEW_CONNS.load(Relaxed) != 0 {
        return Err("a measured request opened a new connection".into());
    }
    if n > 0 && client.idle_connections() != 1 {
        return Err(format!(
            "{} idle connections after the loop, expected 1",
            client.idle_connections()
        )
        .into());
    }
    Ok(r)
}

fn print_response(client: &Client, url: &str) -> Res<()> {
    let resp = client.get(url)?;
    println!(
        "Response measured: `{:?} {}`, {}-byte body, {} header fields:\n",
        resp.version(),
        resp.status(),
        nginx::BODY.len(),
        resp.headers().len()
    );
    for (name, value) in resp.headers() {
        println!("- `{}: {}`", name, value.to_str().unwrap_or("(not text)"));
    }
    println!();
    resp.into_body().bytes()?;
    Ok(())
}

fn row(label: &str, r: &PerRequest) {
    println!(
        "| {label} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.0} | {:.1} |",
        r.wall_us, r.cpu_us, r.user_us, r.sys_us, r.allocs, r.reallocs, r.bytes, r.events
    );
}

fn bench(args: &Args) -> Res<()> {
    let server = Nginx::start()?;
    let url = server.url();
    eprintln!("nginx pid {} serving {url}", server.pid());
    let client = Client::new();
    print_response(&client, &url)?;

    eprintln!("warm-up: {} requests per mode", args.warmup);
    keepalive_loop(&client, &url, args.warmup, false)?;
    keepalive_loop(&client, &url, args.warmup, true)?;

    let (mut plain, mut traced) = (Vec::new(), Vec::new());
    for round in 0..args.rounds {
        // Alternate which mode goes first, so drift hits both alike.
        for traced_first in [round % 2 == 1, round % 2 == 0] {
            let r = keepalive_loop(&client, &url, args.requests, traced_first)?;
            eprintln!(
                "round {}/{} {:<9} cpu {:6.2} µs  wall {:6.2} µs  allocs {:5.2}  bytes {:6.0}",
                round + 1,
                args.rounds,
                if traced_first { "hooks" } else { "no trace" },
                r.cpu_us,
                r.wall_us,
                r.allocs,
                r.bytes
            );
            if traced_first {
                &mut traced
            } else {
                &mut plain
            }
            .push(r);
        }
    }
    // What the caller's own code costs, for reading the rows above.
    let uri_only = measure(args.requests, || {
        std::hint::black_box(http::Request::get(url.as_str()).body(())?);
        Ok(())
    })?;
    let trace_only = measure(args.requests, || {
        std::hint::black_box(Trace::new().on_event(hook));
        Ok(())
    })?;

    let plain = PerRequest::median(&plain);
    let traced = PerRequest::median(&traced);
    println!(
        "Sequential keep-alive GETs on one connection: median of {} rounds of {} requests \
         (after {} warm-up requests per mode).\n",
        args.rounds, args.requests, args.warmup
    );
    println!(
        "| per request | wall µs | CPU µs (user+sys) | user µs | sys µs | allocs | of which realloc | bytes allocated | hook events |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    row("GET, no trace", &plain);
    row("GET, hook on every event", &traced);
    row(
        "(reference) `http::Request::get(url).body(())` alone",
        &uri_only,
    );
    row(
        "(reference) `Trace::new().on_event(hook)` alone",
        &trace_only,
    );
    println!();
    let verdict = if plain.allocs <= 12.0 {
        "meets"
    } else {
        "does NOT meet"
    };
    println!(
        "Target: at most 12 heap allocations per keep-alive GET, no trace: {:.2} — {verdict} it.",
        plain.allocs
    );
    Ok(())
}

/// Runs `keepalive --loop-only` under `strace -f -c` and returns its summary.
fn strace_run(url: &str, n: u64, traced: bool, dir: &Path) -> Res<String> {
    let out = dir.join(format!("strace-{n}-{traced}.txt"));
    let strace_bin = std::env::var("STRACE").unwrap_or_else(|_| "strace".into());
    let mut cmd = Command::new(&strace_bin);
    cmd.arg("-f")
        .arg("-c")
        .arg("-o")
        .arg(&out)
        .arg("--")
        .arg(std::env::current_exe()?)
        .arg("--loop-only")
        .arg(url)
        .arg("--requests")
        .arg(n.to_string());
    if traced {
        cmd.arg("--trace");
    }
    let status = cmd
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
    let dir = std::env::temp_dir().join(format!("roundtrip-bench-strace-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let (n1, n2) = (args.strace_base, args.strace_base + args.requests.max(1));
    let mut results = Vec::new();
    for traced in [false, true] {
        eprintln!("strace: {n1} and {n2} requests, hooks: {traced}");
        let short = strace::parse_summary(&strace_run(&url, n1, traced, &dir)?);
        let long = strace::parse_summary(&strace_run(&url, n2, traced, &dir)?);
        results.push(strace::per_request(&short, &long, n1, n2));
    }
    let _ = std::fs::remove_dir_all(&dir);

    println!(
        "System calls per keep-alive GET: `strace -f -c` of {n2} minus {n1} requests, \
         divided by {}. Calls that failed (e.g. EAGAIN) in parentheses.\n",
        n2 - n1
    );
    println!("| syscall | no trace | hook on every event |");
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
        let shown: Vec<f64> = results.iter().map(|r| r[name].0).collect();
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
    println!();
    let verdict = if totals[0] <= 3.0 + 1e-9 {
        "meets"
    } else {
        "does NOT meet"
    };
    println!(
        "Target: at most 3 system calls per keep-alive GET, no trace: {:.3} — {verdict} it.",
        totals[0]
    );
    Ok(())
}

fn loop_only(url: &str, args: &Args) -> Res<()> {
    let client = Client::new();
    // Open the connection outside the loop, as `bench` does.
    get(&client, url, false, &mut [0u8; 4096])?;
    keepalive_loop(&client, url, args.requests, args.trace)?;
    Ok(())
}

fn serve() -> Res<()> {
    let server = Nginx::start()?;
    println!("{}", server.url());
    eprintln!(
        "nginx pid {}; close stdin (Ctrl-D) to stop it",
        server.pid()
    );
    std::io::copy(&mut std::io::stdin(), &mut std::io::sink())?;
    Ok(())
}

fn main() -> ExitCode {
    let result = parse_args().and_then(|args| {
        if args.serve {
            serve()
        } else if let Some(url) = &args.loop_only {
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
            eprintln!("keepalive: {e}");
            ExitCode::FAILURE
        }
    }
}

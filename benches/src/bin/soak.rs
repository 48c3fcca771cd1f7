//! `soak`: many requests against a local nginx, watching for leaks (issue
//! 8, "Soak"): descriptors and memory at the start, after a warm-up and at
//! the end of each phase.
//!
//! ```text
//! soak [--keepalive N] [--new N] [--concurrent N] [--warmup N] [--idle-wait SECS]
//! ```
//!
//! 1. `--keepalive` (100000) sequential GETs on one pooled connection,
//!    after `--warmup` (2000) of them;
//! 2. `--new` (10000) sequential GETs, each on a new connection (a client
//!    with `max_idle_per_host = 0`), after `--warmup / 4` of them;
//! 3. one batch of `--concurrent` (1000) GETs submitted at once, every
//!    response held until all have arrived (so that every request has its
//!    own connection), then read: the peak RSS over the batch per
//!    connection; then the heap the batch left behind per idle pooled
//!    connection (an upper bound: it includes the loop's tables grown for
//!    `--concurrent` requests in flight), and what closing them by
//!    `idle_timeout` (`--idle-wait`, 2 s) gives back.
//!
//! Descriptors are the entries of /proc/self/fd, RSS is `VmRSS` and its
//! peak `VmHWM` from /proc/self/status, heap is what the counting allocator
//! (`roundtrip_bench::alloc`) has handed out and not had back. nginx is a
//! separate process: none of its memory or descriptors are counted.
//! Output is markdown for docs/robustness.md ("Soak"); progress goes to
//! stderr. Run by hand, in release mode; nothing here runs in `cargo test`.

#![forbid(unsafe_code)]

use std::error::Error;
use std::io::Read;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use roundtrip::proxy::ProxyConfig;
use roundtrip::{Client, Event, EventKind, Trace};
use roundtrip_bench::alloc::{self, Counting};
use roundtrip_bench::nginx::{self, Nginx};
use roundtrip_bench::proc;

#[global_allocator]
static ALLOCATOR: Counting = Counting;

type Res<T> = Result<T, Box<dyn Error>>;

/// Connections opened (`got_conn` with `reused: false`), seen by [`hook`].
static NEW_CONNS: AtomicU64 = AtomicU64::new(0);

fn hook(e: &Event<'_>) {
    if let EventKind::GotConn { reused: false, .. } = e.kind {
        NEW_CONNS.fetch_add(1, Relaxed);
    }
}

struct Args {
    keepalive: u64,
    new: u64,
    concurrent: usize,
    warmup: u64,
    idle_wait: u64,
}

fn parse_args() -> Res<Args> {
    let mut a = Args {
        keepalive: 100_000,
        new: 10_000,
        concurrent: 1_000,
        warmup: 2_000,
        idle_wait: 2,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--keepalive" => a.keepalive = value()?.parse()?,
            "--new" => a.new = value()?.parse()?,
            "--concurrent" => a.concurrent = value()?.parse::<usize>()?.max(2),
            "--warmup" => a.warmup = value()?.parse()?,
            "--idle-wait" => a.idle_wait = value()?.parse::<u64>()?.max(1),
            "-h" | "--help" => {
                println!(
                    "usage: soak [--keepalive N] [--new N] [--concurrent N] [--warmup N] [--idle-wait SECS]"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?} (try --help)").into()),
        }
    }
    Ok(a)
}

/// Resources at one point.
#[derive(Clone)]
struct Snap {
    label: String,
    fds: usize,
    rss: u64,
    heap: u64,
}

fn snap(label: impl Into<String>) -> Snap {
    let s = Snap {
        label: label.into(),
        fds: proc::open_fds(),
        rss: proc::rss(),
        heap: alloc::live_bytes(),
    };
    eprintln!(
        "soak: {:<48} fds {:>5}  rss {:>8} KiB  heap {:>8} KiB",
        s.label,
        s.fds,
        s.rss / 1024,
        s.heap / 1024
    );
    s
}

fn client(f: impl FnOnce(&mut roundtrip::Config)) -> Client {
    Client::builder()
        .configure(|c| {
            c.proxy = ProxyConfig::Off;
            f(c);
        })
        .build()
}

/// One GET with the counting hook, its body read to the end.
fn get(client: &Client, url: &str, buf: &mut [u8]) -> Res<()> {
    let req = http::Request::get(url).body(())?;
    let resp = client.send_traced(req, Trace::new().on_event(hook))?;
    read_ok(resp, buf)
}

fn read_ok(resp: http::Response<roundtrip::Body>, buf: &mut [u8]) -> Res<()> {
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

/// Sequential GETs; RSS and heap at every tenth of the way.
fn sequential(client: &Client, url: &str, n: u64, buf: &mut [u8]) -> Res<(Duration, Vec<Snap>)> {
    let step = (n / 10).max(1);
    let mut marks = Vec::new();
    let t0 = Instant::now();
    for i in 1..=n {
        get(client, url, buf)?;
        if i % step == 0 {
            marks.push(Snap {
                label: format!("{i}"),
                fds: proc::open_fds(),
                rss: proc::rss(),
                heap: alloc::live_bytes(),
            });
        }
    }
    Ok((t0.elapsed(), marks))
}

fn kib(b: u64) -> String {
    format!("{:.1} KiB", b as f64 / 1024.0)
}

fn signed_kib(a: u64, b: u64) -> String {
    let d = b as i64 - a as i64;
    format!("{:+.1} KiB", d as f64 / 1024.0)
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "**missed**"
    }
}

fn series(marks: &[Snap], f: impl Fn(&Snap) -> u64) -> String {
    marks
        .iter()
        .map(|m| format!("{}", f(m) / 1024))
        .collect::<Vec<_>>()
        .join(", ")
}

fn run(a: &Args) -> Res<()> {
    let mut buf = vec![0u8; 4096];
    let mut snaps = Vec::new();
    snaps.push(snap("start (nginx not started, no client)"));
    let nginx = Nginx::start_with(a.concurrent + 256)?;
    let url = nginx.url();
    snaps.push(snap("nginx up, no client"));

    // 1. Keep-alive.
    let ka = client(|_| {});
    for _ in 0..a.warmup {
        get(&ka, &url, &mut buf)?;
    }
    let ka_warm = snap(format!("keep-alive: after {} warm-up GETs", a.warmup));
    NEW_CONNS.store(0, Relaxed);
    let (ka_time, ka_marks) = sequential(&ka, &url, a.keepalive, &mut buf)?;
    let ka_new = NEW_CONNS.load(Relaxed);
    let ka_end = snap(format!("keep-alive: after {} more", a.keepalive));
    if ka_new != 0 || ka.idle_connections() != 1 {
        return Err(format!("keep-alive phase opened {ka_new} connections").into());
    }
    drop(ka);
    snaps.extend([
        ka_warm.clone(),
        ka_end.clone(),
        snap("keep-alive client dropped"),
    ]);

    // 2. A new connection per request.
    let nc = client(|c| c.max_idle_per_host = 0);
    let nc_warmup = (a.warmup / 4).max(1);
    for _ in 0..nc_warmup {
        get(&nc, &url, &mut buf)?;
    }
    let nc_warm = snap(format!("new connections: after {nc_warmup} warm-up GETs"));
    NEW_CONNS.store(0, Relaxed);
    let (nc_time, nc_marks) = sequential(&nc, &url, a.new, &mut buf)?;
    let nc_new = NEW_CONNS.load(Relaxed);
    let nc_end = snap(format!("new connections: after {} more", a.new));
    if nc_new != a.new || nc.idle_connections() != 0 {
        return Err(format!("{nc_new} connections for {} requests", a.new).into());
    }
    drop(nc);
    snaps.extend([
        nc_warm.clone(),
        nc_end.clone(),
        snap("new-connection client dropped"),
    ]);

    // 3. One batch of concurrent requests.
    let n = a.concurrent;
    let idle_timeout = Duration::from_secs(a.idle_wait);
    let cc = client(|c| {
        c.max_idle_per_host = n;
        c.max_idle = n;
        c.idle_timeout = idle_timeout;
    });
    get(&cc, &url, &mut buf)?; // the event loop exists; one idle connection
    let cc_before = snap("batch: before (1 idle connection)");
    let peak_reset = proc::reset_peak_rss();
    NEW_CONNS.store(0, Relaxed);
    let t0 = Instant::now();
    let mut batch = cc.batch();
    for _ in 0..n {
        let req = http::Request::get(&url).body(())?;
        batch.submit_traced(req, Trace::new().on_event(hook));
    }
    let mut held = Vec::with_capacity(n);
    while let Some((_, r)) = batch.wait() {
        held.push(r?);
    }
    drop(batch);
    let cc_held = snap(format!("batch: {n} responses held, bodies unread"));
    for resp in held {
        read_ok(resp, &mut buf)?;
    }
    let cc_time = t0.elapsed();
    let cc_new = NEW_CONNS.load(Relaxed);
    let peak = proc::peak_rss();
    let pooled = cc.idle_connections();
    let cc_pooled = snap(format!("batch: done, {pooled} idle connections pooled"));
    std::thread::sleep(idle_timeout + Duration::from_secs(1));
    get(&cc, &url, &mut buf)?; // runs the loop: expired connections close
    let left = cc.idle_connections();
    let cc_expired = snap(format!("batch: idle_timeout passed, {left} pooled"));
    drop(cc);
    snaps.extend([
        cc_before.clone(),
        cc_held.clone(),
        cc_pooled.clone(),
        cc_expired.clone(),
    ]);
    drop(nginx);
    let end = snap("end: clients dropped, nginx stopped");
    snaps.push(end.clone());

    // The report.
    println!("| Point | Open fds | RSS | Heap (live) |");
    println!("|---|---:|---:|---:|");
    for s in &snaps {
        println!(
            "| {} | {} | {} | {} |",
            s.label,
            s.fds,
            kib(s.rss),
            kib(s.heap)
        );
    }
    println!();
    println!(
        "Keep-alive: {} GETs in {:.2} s ({:.1} µs each), 0 new connections. RSS at each tenth (KiB): {}. Heap at each tenth (KiB): {}.",
        a.keepalive,
        ka_time.as_secs_f64(),
        ka_time.as_secs_f64() * 1e6 / a.keepalive.max(1) as f64,
        series(&ka_marks, |m| m.rss),
        series(&ka_marks, |m| m.heap),
    );
    println!();
    println!(
        "New connections: {} GETs on {} connections in {:.2} s ({:.1} µs each). RSS at each tenth (KiB): {}. Heap at each tenth (KiB): {}. Open fds at each tenth: {}.",
        a.new,
        nc_new,
        nc_time.as_secs_f64(),
        nc_time.as_secs_f64() * 1e6 / a.new.max(1) as f64,
        series(&nc_marks, |m| m.rss),
        series(&nc_marks, |m| m.heap),
        nc_marks
            .iter()
            .map(|m| m.fds.to_string())
            .collect::<Vec<_>>()
            .join(", "),
    );
    println!();
    let per_conn_peak = peak.saturating_sub(cc_before.rss) / n as u64;
    // Upper bound: all the heap the batch left behind, per pooled
    // connection, including tables the loop grew to hold `n` requests in
    // flight (they keep their capacity) and its few spare buffers.
    let per_idle = cc_pooled.heap.saturating_sub(cc_before.heap) / pooled.max(1) as u64;
    // What closing them gave back, per connection: the heap a pooled
    // connection owns by itself.
    let closed = pooled.saturating_sub(left).max(1) as u64;
    let per_idle_owned = cc_pooled.heap.saturating_sub(cc_expired.heap) / closed;
    println!(
        "Batch: {n} GETs submitted at once, {cc_new} new connections ({} open at once, by the fd count), all done in {:.2} s; peak RSS {} ({}).",
        cc_held.fds - cc_before.fds + 1,
        cc_time.as_secs_f64(),
        kib(peak),
        if peak_reset {
            "VmHWM reset just before the batch"
        } else {
            "VmHWM could not be reset: the peak may predate the batch"
        },
    );
    println!();
    println!("| Figure | Value | Target | |");
    println!("|---|---:|---|---|");
    let fd_rows = [
        (
            "fds, keep-alive: end − after warm-up",
            ka_end.fds as i64 - ka_warm.fds as i64,
        ),
        (
            "fds, new connections: end − after warm-up",
            nc_end.fds as i64 - nc_warm.fds as i64,
        ),
        (
            "fds, batch: after idle_timeout − before",
            cc_expired.fds as i64 - cc_before.fds as i64,
        ),
        ("fds, end − start", end.fds as i64 - snaps[0].fds as i64),
    ];
    for (what, d) in fd_rows {
        println!("| {what} | {d:+} | 0 | {} |", verdict(d == 0));
    }
    const MIB: u64 = 1024 * 1024;
    for (what, from, to) in [
        ("RSS, keep-alive: end − after warm-up", &ka_warm, &ka_end),
        (
            "RSS, new connections: end − after warm-up",
            &nc_warm,
            &nc_end,
        ),
    ] {
        let grew = to.rss.saturating_sub(from.rss);
        println!(
            "| {what} | {} | < 1 MiB | {} |",
            signed_kib(from.rss, to.rss),
            verdict(grew < MIB)
        );
    }
    for (what, from, to) in [
        ("heap, keep-alive: end − after warm-up", &ka_warm, &ka_end),
        (
            "heap, new connections: end − after warm-up",
            &nc_warm,
            &nc_end,
        ),
    ] {
        println!(
            "| {what} | {} | (no growth) | {} |",
            signed_kib(from.heap, to.heap),
            verdict(to.heap <= from.heap + 4096)
        );
    }
    println!(
        "| peak RSS per concurrent connection | {} | (report) | |",
        kib(per_conn_peak)
    );
    println!(
        "| heap per idle pooled plain connection (batch's heap ÷ pooled, an upper bound) | {} | < 16 KiB | {} |",
        kib(per_idle),
        verdict(per_idle < 16 * 1024)
    );
    println!(
        "| heap freed per connection when idle_timeout closed them | {} | (report) | |",
        kib(per_idle_owned)
    );
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("soak: {e}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("soak: {e}");
            ExitCode::FAILURE
        }
    }
}

//! `happy_eyeballs`: time to first response byte when the preferred
//! address family is blackholed (issue 4), roundtrip against curl's CLI in
//! the same run.
//!
//! ```text
//! happy_eyeballs [--rounds R] [--requests N] [--curl PATH] [--cli PATH]
//!     Must run as root with iproute2. Builds two network namespaces with
//!     a silent IPv6 blackhole between them (tests/support/netns.rs, the
//!     same code as tests/happy_eyeballs_netns.rs), re-executes itself
//!     inside the client's one, starts a tiny HTTP server on 127.0.0.1
//!     there, and times R rounds (default 5) of N fresh-connection
//!     requests (default 10) per subject, interleaved request by request,
//!     to `http://he.test:PORT/` with he.test pinned to
//!     [2001:db8:dead::1] (blackholed) and 127.0.0.1:
//!       1. roundtrip, attempt delay 250 ms (its default);
//!       2. roundtrip, attempt delay 200 ms (curl's default);
//!       3. curl, defaults (happy-eyeballs timeout 200 ms);
//!       4. curl --happy-eyeballs-timeout-ms 250;
//!       5. with --cli PATH (the `roundtrip` binary of cli/): the CLI with
//!          its default (250 ms), a process per request like curl.
//! ```
//!
//! roundtrip: a new `Client` per request (no pool, no memory of the last
//! race), time from the request's first trace event (`get_conn`) to
//! `got_first_response_byte`, from the events' own timestamps. curl: a new
//! process per request, `-w '%{time_starttransfer}'` (from the start of the
//! transfer to the first response byte). The CLI: a new process per
//! request, the same span from its `--events` lines. Every sample is
//! checked: the winner is 127.0.0.1 (and for roundtrip the first attempt
//! went to the blackhole).
//!
//! Output is markdown for docs/benchmarks.md; progress goes to stderr. The
//! namespaces are deleted at the end, also on failure.

#![forbid(unsafe_code)]

use std::error::Error;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use roundtrip::{Client, IpFamily};
use roundtrip_bench::stats::median;

#[allow(dead_code)]
#[path = "../../../tests/support/netns.rs"]
mod netns;

use netns::{Blackhole, OkServer, RaceLog, SetupError};

type Res<T> = Result<T, Box<dyn Error>>;

const HOST: &str = "he.test";

#[derive(Debug, Clone)]
struct Args {
    rounds: usize,
    requests: usize,
    curl: String,
    cli: Option<String>,
}

fn parse_args() -> Res<Args> {
    let mut a = Args {
        rounds: 5,
        requests: 10,
        curl: "curl".into(),
        cli: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--rounds" => a.rounds = value()?.parse()?,
            "--requests" => a.requests = value()?.parse()?,
            "--curl" => a.curl = value()?,
            "--cli" => a.cli = Some(value()?),
            "-h" | "--help" => {
                println!("happy_eyeballs [--rounds R] [--requests N] [--curl PATH] [--cli PATH]");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?}").into()),
        }
    }
    if a.rounds == 0 || a.requests == 0 {
        return Err("--rounds and --requests must be at least 1".into());
    }
    Ok(a)
}

/// What is timed.
#[derive(Debug, Clone, Copy)]
enum Subject {
    /// roundtrip with this attempt delay.
    Roundtrip(Duration),
    /// curl with `--happy-eyeballs-timeout-ms` (None: its default).
    Curl(Option<u64>),
    /// The roundtrip CLI with its default attempt delay.
    Cli,
}

impl Subject {
    fn label(&self) -> String {
        match self {
            Subject::Roundtrip(d) if *d == Duration::from_millis(250) => {
                "roundtrip (default)".into()
            }
            Subject::Roundtrip(d) => {
                format!("roundtrip `happy_eyeballs_delay` = {} ms", d.as_millis())
            }
            Subject::Curl(None) => "curl (default)".into(),
            Subject::Curl(Some(ms)) => format!("curl `--happy-eyeballs-timeout-ms {ms}`"),
            Subject::Cli => "roundtrip CLI (default)".into(),
        }
    }
    /// The attempt delay in effect (curl's default is 200 ms).
    fn delay(&self) -> Duration {
        match self {
            Subject::Roundtrip(d) => *d,
            Subject::Curl(None) => Duration::from_millis(200),
            Subject::Curl(Some(ms)) => Duration::from_millis(*ms),
            Subject::Cli => Duration::from_millis(250),
        }
    }
}

/// One request's figures.
#[derive(Debug, Clone, Copy)]
struct Sample {
    /// Request start to first response byte.
    ttfb: Duration,
    /// roundtrip only: the IPv4 attempt's start after the IPv6 one's.
    v4_after_v6: Option<Duration>,
}

fn roundtrip_once(port: u16, delay: Duration) -> Res<Sample> {
    let blackhole = IpAddr::V6(netns::BLACKHOLE_1);
    let local = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let client = Client::builder()
        .configure(|c: &mut roundtrip::Config| {
            c.resolve = vec![(HOST.into(), port, vec![blackhole, local])];
            c.happy_eyeballs_delay = delay;
            c.connect_timeout = Duration::from_secs(10);
            c.ip_family = IpFamily::Any;
            c.resolv_conf = None;
            c.hosts_file = None;
            c.dns_servers = Some(vec!["127.0.0.1:9".parse().unwrap()]);
        })
        .build();
    let log = RaceLog::default();
    let req = http::Request::get(format!("http://{HOST}:{port}/")).body(())?;
    let body = client.send_traced(req, log.trace())?.into_body().text()?;
    if body != "ok" {
        return Err(format!("unexpected body {body:?}").into());
    }
    let events = log.events();
    let starts: Vec<_> = events
        .iter()
        .filter(|e| e.name == "connect_start")
        .collect();
    let got_conn = events.iter().find(|e| e.name == "got_conn");
    let ok = starts.len() == 2
        && starts[0].addr.map(|a| a.ip()) == Some(blackhole)
        && starts[1].addr.map(|a| a.ip()) == Some(local)
        && got_conn.and_then(|e| e.addr).map(|a| a.ip()) == Some(local);
    if !ok {
        return Err(format!("unexpected race:\n{}", log.dump()).into());
    }
    let ttfb = log
        .time_to_first_byte()
        .ok_or_else(|| format!("no got_first_response_byte:\n{}", log.dump()))?;
    Ok(Sample {
        ttfb,
        v4_after_v6: Some(starts[1].at.duration_since(starts[0].at)),
    })
}

fn curl_once(curl: &str, port: u16, timeout_ms: Option<u64>) -> Res<Sample> {
    let mut cmd = Command::new(curl);
    cmd.args(["-s", "-S", "-o", "/dev/null"])
        .args(["-w", "%{time_starttransfer} %{remote_ip}"])
        .arg("--resolve")
        .arg(format!("{HOST}:{port}:[{}],127.0.0.1", netns::BLACKHOLE_1));
    if let Some(ms) = timeout_ms {
        cmd.args(["--happy-eyeballs-timeout-ms", &ms.to_string()]);
    }
    cmd.arg(format!("http://{HOST}:{port}/"))
        .stdin(Stdio::null())
        .env_remove("http_proxy")
        .env_remove("HTTP_PROXY")
        .env_remove("all_proxy")
        .env_remove("ALL_PROXY");
    let out = cmd.output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "{cmd:?} failed ({}): {text} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    let mut f = text.split_whitespace();
    let secs: f64 = f.next().ok_or("no time_starttransfer")?.parse()?;
    let remote = f.next().unwrap_or("");
    if remote != "127.0.0.1" {
        return Err(format!("curl connected to {remote:?}, not 127.0.0.1").into());
    }
    Ok(Sample {
        ttfb: Duration::from_secs_f64(secs),
        v4_after_v6: None,
    })
}

/// `"key":value` of one JSON line of the CLI's `--events`.
fn json_field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let pat = format!("\"{key}\":");
    let rest = &line[line.find(&pat)? + pat.len()..];
    let rest = rest.strip_prefix('"').unwrap_or(rest);
    let end = rest.find(['"', ',', '}']).unwrap_or(rest.len());
    Some(&rest[..end])
}

fn cli_once(cli: &str, port: u16) -> Res<Sample> {
    let mut cmd = Command::new(cli);
    cmd.args(["-s", "-S", "--events", "-o", "/dev/null"])
        .arg("--resolve")
        .arg(format!("{HOST}:{port}:[{}],127.0.0.1", netns::BLACKHOLE_1))
        .arg(format!("http://{HOST}:{port}/"))
        .stdin(Stdio::null());
    let out = cmd.output()?;
    let events = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(format!("{cmd:?} failed ({}): {events}", out.status).into());
    }
    let t_us = |line: &str| -> Option<u64> { json_field(line, "t_us")?.parse().ok() };
    let mut first = None;
    let mut byte = None;
    let mut starts = Vec::new();
    let mut remote = None;
    for line in events.lines().filter(|l| l.starts_with('{')) {
        first = first.or_else(|| t_us(line));
        match json_field(line, "event") {
            Some("got_first_response_byte") => byte = byte.or_else(|| t_us(line)),
            Some("connect_start") => starts.push((t_us(line), json_field(line, "network"))),
            Some("got_conn") => remote = json_field(line, "remote_addr").map(str::to_owned),
            _ => {}
        }
    }
    let (Some(first), Some(byte)) = (first, byte) else {
        return Err(format!("no got_first_response_byte in:\n{events}").into());
    };
    let ok = starts.len() == 2
        && starts[0].1 == Some("tcp6")
        && starts[1].1 == Some("tcp4")
        && remote.as_deref() == Some(format!("127.0.0.1:{port}").as_str());
    if !ok {
        return Err(format!("unexpected race:\n{events}").into());
    }
    let gap = match (starts[0].0, starts[1].0) {
        (Some(a), Some(b)) => Some(Duration::from_micros(b.saturating_sub(a))),
        _ => None,
    };
    Ok(Sample {
        ttfb: Duration::from_micros(byte - first),
        v4_after_v6: gap,
    })
}

fn once(args: &Args, port: u16, s: Subject) -> Res<Sample> {
    match s {
        Subject::Roundtrip(d) => roundtrip_once(port, d),
        Subject::Curl(t) => curl_once(&args.curl, port, t),
        Subject::Cli => cli_once(args.cli.as_deref().unwrap_or("roundtrip"), port),
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i]
}

/// The repository's commit, and whether the library has local changes.
fn roundtrip_commit() -> String {
    let repo = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let git = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(repo)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let Some(commit) = git(&["rev-parse", "--short", "HEAD"]) else {
        return "commit unknown".into();
    };
    match git(&["status", "--porcelain", "--", "src", "Cargo.toml"]) {
        Some(d) if !d.is_empty() => format!("commit {commit}, with uncommitted changes to src/"),
        _ => format!("commit {commit}"),
    }
}

/// Runs inside the client's namespace.
fn bench(args: &Args) -> Res<()> {
    let server = OkServer::start();
    let port = server.addr.port();
    netns::check_blackhole(SocketAddr::new(IpAddr::V6(netns::BLACKHOLE_1), port))
        .map_err(|e| format!("the blackhole does not work: {e}"))?;
    let curl_version = Command::new(&args.curl)
        .arg("--version")
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .unwrap_or("")
                .to_owned()
        })
        .map_err(|e| format!("running {} --version: {e}", args.curl))?;
    let mut subjects = vec![
        Subject::Roundtrip(Duration::from_millis(250)),
        Subject::Roundtrip(Duration::from_millis(200)),
        Subject::Curl(None),
        Subject::Curl(Some(250)),
    ];
    if args.cli.is_some() {
        subjects.push(Subject::Cli);
    }
    // Warm-up: one of each, not counted (page cache, first connect).
    for s in &subjects {
        once(args, port, *s)?;
    }
    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); subjects.len()];
    let started = Instant::now();
    for round in 0..args.rounds {
        eprintln!("round {}/{}", round + 1, args.rounds);
        for _ in 0..args.requests {
            for (i, s) in subjects.iter().enumerate() {
                samples[i].push(once(args, port, *s)?);
            }
        }
    }
    let took = started.elapsed();

    println!(
        "{} rounds x {} requests per subject, interleaved request by request; \
         {} samples each; {:.1} s in all. Server: the benchmark's own HTTP/1.1 \
         server on 127.0.0.1 (2-byte body, `Connection: close`).",
        args.rounds,
        args.requests,
        args.rounds * args.requests,
        took.as_secs_f64()
    );
    println!();
    println!("- {curl_version}");
    println!("- roundtrip: {}", roundtrip_commit());
    println!();
    println!(
        "| subject | attempt delay | median TTFB | − delay | min | p90 | max | \
         median v4 start after v6 |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    let mut medians = Vec::new();
    for (s, xs) in subjects.iter().zip(&samples) {
        let mut v: Vec<f64> = xs.iter().map(|x| ms(x.ttfb)).collect();
        v.sort_by(f64::total_cmp);
        let med = median(v.clone());
        medians.push(med);
        let gaps: Vec<f64> = xs.iter().filter_map(|x| x.v4_after_v6).map(ms).collect();
        let gap = if gaps.is_empty() {
            "—".to_owned()
        } else {
            format!("{:.2} ms", median(gaps))
        };
        println!(
            "| {} | {} ms | {:.2} ms | {:+.2} ms | {:.2} ms | {:.2} ms | {:.2} ms | {} |",
            s.label(),
            s.delay().as_millis(),
            med,
            med - ms(s.delay()),
            v[0],
            quantile(&v, 0.9),
            v[v.len() - 1],
            gap
        );
    }
    println!();
    let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
    // Samples i of two subjects were taken back to back (interleaved), so
    // their paired differences cancel slow drifts of the machine.
    let paired = |a: usize, b: usize| {
        let d: Vec<f64> = samples[a]
            .iter()
            .zip(&samples[b])
            .map(|(x, y)| ms(x.ttfb) - ms(y.ttfb))
            .collect();
        median(d)
    };
    for i in [0, 1] {
        let target = ms(subjects[i].delay()) + 5.0;
        println!(
            "- target \"≤ attempt delay + 5 ms\" ({}): median {:.2} ms ≤ {:.0} ms: **{}**",
            subjects[i].label(),
            medians[i],
            target,
            verdict(medians[i] <= target)
        );
    }
    // "No slower than curl at equal settings": roundtrip 250 vs curl 250,
    // roundtrip 200 vs curl's default (200). A median at most 0.5 ms above
    // curl's is reported as "within noise", not as met.
    let versus = |diff: f64| {
        if diff <= 0.0 {
            "met"
        } else if diff <= 0.5 {
            "within noise (slower by under 0.5 ms)"
        } else {
            "NOT met"
        }
    };
    for (ours, theirs) in [(0, 3), (1, 2)] {
        let diff = medians[ours] - medians[theirs];
        println!(
            "- target \"no slower than curl at equal settings\", {} ms: {} {:.2} ms vs {} {:.2} ms \
             (difference of medians {:+.2} ms, median paired difference {:+.2} ms): **{}**",
            subjects[ours].delay().as_millis(),
            subjects[ours].label(),
            medians[ours],
            subjects[theirs].label(),
            medians[theirs],
            diff,
            paired(ours, theirs),
            versus(diff)
        );
    }
    println!(
        "- defaults against defaults: roundtrip (250 ms) {:.2} ms vs curl (200 ms) {:.2} ms",
        medians[0], medians[2]
    );
    if let Some(cli) = medians.get(4) {
        println!(
            "- a process per request on both sides, 250 ms: roundtrip CLI {:.2} ms vs curl {:.2} ms \
             (difference of medians {:+.2} ms, median paired difference {:+.2} ms)",
            cli,
            medians[3],
            cli - medians[3],
            paired(4, 3)
        );
    }
    if server.served() == 0 {
        return Err("the server served nothing".into());
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("happy_eyeballs: {e}");
            return ExitCode::from(2);
        }
    };
    if netns::inside().is_some() {
        return match bench(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("happy_eyeballs: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let bh = match Blackhole::create("heb") {
        Ok(bh) => bh,
        Err(SetupError::Unavailable(why)) => {
            eprintln!("happy_eyeballs: cannot create network namespaces (run as root with iproute2): {why}");
            return ExitCode::FAILURE;
        }
        Err(SetupError::Failed(why)) => {
            eprintln!("happy_eyeballs: building the blackhole namespaces: {why}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!(
        "happy_eyeballs: namespaces {} (client) and {} (blackhole)",
        bh.inner, bh.outer
    );
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let out = bh.run_self(&argv, Duration::from_secs(3600));
    drop(bh);
    if out.timed_out {
        eprintln!("happy_eyeballs: the run inside the namespace took over an hour; killed");
        return ExitCode::FAILURE;
    }
    if out.status.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

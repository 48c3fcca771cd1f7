//! The suite's report: medians over rounds, the markdown section of
//! docs/benchmarks.md (tables, target verdicts), the SVG chart, and the
//! static figures (stripped binary sizes, crates in each dependency tree,
//! versions) gathered with `strip` and `cargo tree`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::clients::{Res, Workload};
use crate::Sample;

/// System calls per GET: the total, and by name (largest first).
pub type Syscalls = (f64, Vec<(String, f64)>);

/// A chart panel: the workload, its title, the figure drawn.
type Panel = (Workload, &'static str, fn(&Sample) -> f64);

/// Everything one run measured.
#[derive(Debug, Default)]
pub struct Results {
    /// The roundtrip commit measured.
    pub commit: String,
    /// Rounds run.
    pub rounds: usize,
    /// GETs per concurrent batch.
    pub concurrency: usize,
    /// The big download's size in MiB.
    pub big_mib: u64,
    /// Measured calls per child, by workload name.
    pub calls: BTreeMap<&'static str, u64>,
    /// One sample per round, by (workload, peer).
    pub samples: BTreeMap<(&'static str, String), Vec<Sample>>,
    /// System calls per GET (total, by name), by (workload, peer).
    pub syscalls: BTreeMap<(&'static str, String), Syscalls>,
    /// Stripped size of each peer's minimal GET binary, bytes.
    pub sizes: BTreeMap<String, u64>,
    /// Crates in each peer's dependency tree.
    pub crates: BTreeMap<String, usize>,
    /// Versions of the clients and tools.
    pub versions: Vec<String>,
    /// nginx's version.
    pub nginx: String,
    /// 1-minute load average before, after each round, and at the end.
    pub load: Vec<f64>,
    /// Seconds the whole run took.
    pub elapsed_s: f64,
    /// Peak RSS of a child that builds no client (KiB).
    pub idle_rss_kib: f64,
    /// Peak RSS of each peer's minimal binary downloading `/big` (KiB).
    pub min_big_rss_kib: BTreeMap<String, f64>,
}

/// The peers with a minimal binary (`examples/min_<peer>.rs`).
pub const BINARIES: [&str; 6] = ["roundtrip", "ureq", "reqwest", "hyper", "curl", "floor"];

fn label(peer: &str) -> &'static str {
    match peer {
        "roundtrip" => "roundtrip",
        "roundtrip+hooks" => "roundtrip, all hooks",
        "ureq" => "ureq 3",
        "reqwest" => "reqwest blocking",
        "hyper" => "hyper current-thread",
        "curl" => "libcurl (curl crate)",
        "curl-cli" => "curl CLI (process per GET)",
        "floor" => "floor (no HTTP library)",
        _ => "?",
    }
}

/// The median of `v` (NaN when empty).
pub fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

/// Parses `strace -c` output into calls by system call name.
pub fn parse_strace(text: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if !(5..=6).contains(&cols.len()) || cols[0].parse::<f64>().is_err() {
            continue;
        }
        let name = cols[cols.len() - 1];
        if let (Ok(calls), true) = (cols[3].parse::<f64>(), name != "total") {
            out.insert(name.to_owned(), calls);
        }
    }
    out
}

/// Stripped sizes of `dir/min_<peer>` (copied, then `strip -s`).
pub fn binary_sizes(dir: &Path) -> Res<BTreeMap<String, u64>> {
    let mut out = BTreeMap::new();
    for peer in BINARIES {
        let src = dir.join(format!("min_{peer}"));
        let dst =
            std::env::temp_dir().join(format!("roundtrip-suite-{}-min_{peer}", std::process::id()));
        std::fs::copy(&src, &dst).map_err(|e| format!("{}: {e}", src.display()))?;
        let ok = Command::new("strip")
            .arg("-s")
            .arg(&dst)
            .status()?
            .success();
        if !ok {
            return Err(format!("strip {}", dst.display()).into());
        }
        out.insert(peer.to_owned(), std::fs::metadata(&dst)?.len());
        let _ = std::fs::remove_file(&dst);
    }
    Ok(out)
}

fn peers_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn cargo_tree(manifest: &Path, packages: &[&str], extra: &[&str]) -> Res<String> {
    let mut c = Command::new(std::env::var_os("CARGO").unwrap_or("cargo".into()));
    c.args([
        "tree",
        "--quiet",
        "--offline",
        "-e",
        "normal",
        "--prefix",
        "none",
    ])
    .arg("--manifest-path")
    .arg(manifest)
    .args(extra);
    for p in packages {
        c.args(["-p", p]);
    }
    let out = c.output()?;
    if !out.status.success() {
        return Err(format!("cargo tree: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Crates (distinct name and version, the peer's own included) in each
/// peer's normal dependency tree. roundtrip's from the repository's root
/// workspace; the others from this benchmark's workspace, so with the
/// features this workspace enables.
pub fn crate_counts() -> Res<BTreeMap<String, usize>> {
    let here = peers_dir().join("Cargo.toml");
    let root = peers_dir().join("../../Cargo.toml");
    let sets: [(&str, &Path, &[&str]); 6] = [
        ("roundtrip", &root, &["roundtrip"]),
        ("ureq", &here, &["ureq"]),
        ("reqwest", &here, &["reqwest"]),
        (
            "hyper",
            &here,
            &[
                "hyper",
                "hyper-util",
                "hyper-rustls",
                "tokio",
                "http-body-util",
            ],
        ),
        ("curl", &here, &["curl"]),
        ("floor", &here, &["rustls"]),
    ];
    let mut out = BTreeMap::new();
    for (peer, manifest, packages) in sets {
        let text = cargo_tree(manifest, packages, &[])?;
        let set: BTreeSet<String> = text
            .lines()
            .filter_map(|l| {
                let mut w = l.split_whitespace();
                Some(format!("{} {}", w.next()?, w.next()?))
            })
            .collect();
        out.insert(peer.to_owned(), set.len());
    }
    Ok(out)
}

fn command_line(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .map(|o| {
            let s = if o.stdout.is_empty() {
                o.stderr
            } else {
                o.stdout
            };
            String::from_utf8_lossy(&s)
                .lines()
                .next()
                .unwrap_or("")
                .to_owned()
        })
        .unwrap_or_else(|_| "?".into())
}

/// The clients' versions (from `cargo tree`) and the tools'.
pub fn versions() -> Vec<String> {
    let here = peers_dir().join("Cargo.toml");
    let tree = cargo_tree(&here, &[], &["--depth", "1"]).unwrap_or_default();
    let mut out = Vec::new();
    for name in [
        "ureq",
        "reqwest",
        "hyper",
        "hyper-util",
        "hyper-rustls",
        "tokio",
        "rustls",
        "curl",
    ] {
        if let Some(l) = tree
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
        {
            out.push(l.split_whitespace().take(2).collect::<Vec<_>>().join(" "));
        }
    }
    out.push(format!(
        "libcurl {}",
        command_line("pkg-config", &["--modversion", "libcurl"])
    ));
    out.push(command_line("curl", &["--version"]));
    out.push(command_line("rustc", &["--version"]));
    out.push(command_line("strace", &["-V"]));
    out
}

fn fmt(x: f64, digits: usize) -> String {
    if x.is_nan() || x < 0.0 {
        "—".into()
    } else {
        let s = format!("{x:.digits$}");
        // Thousands separators for the integer part.
        let (int, frac) = s.split_once('.').map_or((s.as_str(), ""), |(a, b)| (a, b));
        let mut grouped = String::new();
        for (i, c) in int.chars().enumerate() {
            if i > 0 && (int.len() - i) % 3 == 0 {
                grouped.push(',');
            }
            grouped.push(c);
        }
        if frac.is_empty() {
            grouped
        } else {
            format!("{grouped}.{frac}")
        }
    }
}

/// Round-by-round ratios of one peer's figure to another's
/// ([`Results::paired`]).
#[derive(Debug, Clone, Copy)]
struct Paired {
    median: f64,
    lo: f64,
    hi: f64,
}

impl Paired {
    /// `median×, rounds lo–hi×`, for a verdict's figure.
    fn show(&self) -> String {
        if self.median.is_nan() {
            return "—".into();
        }
        format!(
            "per round {:.2}× (rounds {:.2}–{:.2}×)",
            self.median, self.lo, self.hi
        )
    }
}

fn ratio(x: f64, of: f64) -> String {
    if x.is_nan() || of.is_nan() || of <= 0.0 || x < 0.0 {
        "—".into()
    } else {
        format!("{:.2}×", x / of)
    }
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "**met**"
    } else {
        "**missed**"
    }
}

impl Results {
    /// Empty results for a run.
    pub fn new(commit: &str, rounds: usize, concurrency: usize, big_mib: u64) -> Results {
        Results {
            commit: commit.to_owned(),
            rounds,
            concurrency,
            big_mib,
            ..Results::default()
        }
    }

    fn med(&self, w: Workload, peer: &str, f: fn(&Sample) -> f64) -> f64 {
        self.samples
            .get(&(w.name(), peer.to_owned()))
            .map_or(f64::NAN, |v| median(v.iter().map(f).collect()))
    }

    fn range(&self, w: Workload, peer: &str, f: fn(&Sample) -> f64) -> (f64, f64) {
        let v: Vec<f64> = self
            .samples
            .get(&(w.name(), peer.to_owned()))
            .map_or(Vec::new(), |v| v.iter().map(f).collect());
        (
            v.iter().copied().fold(f64::INFINITY, f64::min),
            v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        )
    }

    /// The ratio of `a`'s figure to `b`'s round by round (the two ran in
    /// the same round, minutes apart at most, so a slow stretch of the
    /// shared machine weighs on both), as its median and range over the
    /// rounds. A ratio of two medians can pair a fast round of one with a
    /// slow round of the other; near 1.0 that swamps the difference.
    fn paired(&self, w: Workload, a: &str, b: &str, f: fn(&Sample) -> f64) -> Paired {
        let get = |p: &str| self.samples.get(&(w.name(), p.to_owned()));
        let ratios: Vec<f64> = match (get(a), get(b)) {
            (Some(x), Some(y)) => x
                .iter()
                .zip(y)
                .map(|(x, y)| f(x) / f(y))
                .filter(|r| r.is_finite())
                .collect(),
            _ => Vec::new(),
        };
        Paired {
            lo: ratios.iter().copied().fold(f64::INFINITY, f64::min),
            hi: ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            median: median(ratios),
        }
    }

    fn sys(&self, w: Workload, peer: &str) -> f64 {
        self.syscalls
            .get(&(w.name(), peer.to_owned()))
            .map_or(f64::NAN, |s| s.0)
    }

    fn peers(&self, w: Workload) -> Vec<String> {
        let mut v: Vec<String> = w.peers().iter().map(|s| s.to_string()).collect();
        if w == Workload::Big {
            v.push("curl-cli".into());
        }
        v.retain(|p| self.samples.contains_key(&(w.name(), p.clone())));
        v
    }

    fn title(&self, w: Workload) -> String {
        let n = self.calls.get(w.name()).copied().unwrap_or(0);
        match w {
            Workload::KeepAlive => format!("(1) Keep-alive: sequential GETs of the 13-byte `/hello` over HTTP on one connection, {n} per child"),
            Workload::New => format!("(2) New connection: sequential GETs of `/hello` over HTTPS, a full TLS 1.3 handshake each, {n} per child"),
            Workload::Big => format!("(3) One {} MiB download over HTTP (`/big`), {n} per child", self.big_mib),
            Workload::Concurrent => format!("(4) {} concurrent GETs of `/hello` over HTTP on one thread, a fresh client per batch, {n} batch(es) per child", self.concurrency),
            Workload::Chunked => format!("(5) GETs of a 1 MiB chunked response (`/chunked`) over HTTP on one connection, {n} per child"),
        }
    }

    /// The markdown section (from its `##` heading on).
    pub fn markdown(&self, svg_link: &str) -> String {
        let mut o = String::new();
        let load = {
            let mut v = self.load.clone();
            v.retain(|x| !x.is_nan());
            let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            format!(
                "{lo:.2}–{hi:.2} (median {:.2}; sampled before, after each round and at the end)",
                median(v)
            )
        };
        let _ = writeln!(o, "### Machine and run\n");
        let _ = writeln!(
            o,
            "- {} cores (`nproc`), {}; kernel {}",
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            command_line(
                "sh",
                &[
                    "-c",
                    "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'"
                ]
            ),
            command_line("uname", &["-r"]),
        );
        let _ = writeln!(o, "- 1-minute load average during the run: {load}");
        let _ = writeln!(
            o,
            "- server: {} on loopback, one worker process, access log off",
            self.nginx
        );
        let _ = writeln!(
            o,
            "- roundtrip {}; {}",
            self.commit,
            self.versions.join("; ")
        );
        let _ = writeln!(
            o,
            "- {} rounds, peers' order rotated each round, a child process per peer, workload and round; {:.0} s in all\n",
            self.rounds, self.elapsed_s
        );

        // ------------------------------------------------------- summary
        let _ = writeln!(o, "### Summary\n");
        let _ = writeln!(o, "Medians over rounds. CPU is user + system time of the client's process (all its threads), per GET; \"× floor\" is the ratio to the floor measured in the same run. Syscalls from `strace -f -c`.\n");
        let _ = writeln!(o, "| peer | keep-alive CPU µs/GET | × floor | allocs/GET | syscalls/GET | new HTTPS CPU µs/GET | × floor | allocs/GET | big: CPU ms | × floor | MiB/s | peak RSS MiB, own minimal binary | {} concurrent: wall ms | CPU µs/GET | peak RSS MiB | 1 MiB chunked: CPU µs | stripped KiB | crates |", self.concurrency);
        let _ = writeln!(o, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        let (ka, new, big, conc, ch) = (
            Workload::KeepAlive,
            Workload::New,
            Workload::Big,
            Workload::Concurrent,
            Workload::Chunked,
        );
        let mut all: Vec<String> = Vec::new();
        for w in Workload::ALL {
            for p in self.peers(w) {
                if !all.contains(&p) {
                    all.push(p);
                }
            }
        }
        let order = [
            "roundtrip",
            "roundtrip+hooks",
            "ureq",
            "reqwest",
            "hyper",
            "curl",
            "curl-cli",
            "floor",
        ];
        all.sort_by_key(|p| order.iter().position(|o| o == p));
        for p in &all {
            let cpu = |w| self.med(w, p, |s| s.cpu_us);
            let floor = |w| self.med(w, "floor", |s| s.cpu_us);
            let size = self.sizes.get(p.as_str()).map_or("—".into(), |b| {
                let kib = fmt(*b as f64 / 1024.0, 0);
                if p == "curl" {
                    format!("{kib} + libcurl.so")
                } else {
                    kib
                }
            });
            let crates = self
                .crates
                .get(p.as_str())
                .map_or("—".into(), |c| c.to_string());
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {size} | {crates} |",
                label(p),
                fmt(cpu(ka), 1),
                ratio(cpu(ka), floor(ka)),
                fmt(self.med(ka, p, |s| s.allocs), 1),
                fmt(self.sys(ka, p), 1),
                fmt(cpu(new), 0),
                ratio(cpu(new), floor(new)),
                fmt(self.med(new, p, |s| s.allocs), 1),
                fmt(cpu(big) / 1000.0, 1),
                ratio(cpu(big), floor(big)),
                fmt(self.med(big, p, |s| s.mib_s), 0),
                fmt(self.min_big_rss_kib.get(p.as_str()).copied().unwrap_or(f64::NAN) / 1024.0, 1),
                fmt(self.med(conc, p, |s| s.wall_us) / 1000.0, 1),
                fmt(cpu(conc), 1),
                fmt(self.med(conc, p, |s| s.maxrss_kib) / 1024.0, 1),
                fmt(cpu(ch), 0),
            );
        }
        let _ = writeln!(o, "\nPeak RSS: the big download's column is the whole process of each peer's minimal GET binary (`examples/min_<peer>.rs`, the one of the size column) downloading `/big`; the concurrent column, and the per-workload tables, are the suite's child processes, each a copy of one binary that links every peer (libcurl and OpenSSL included), of which a child that builds no client at all peaks at {:.1} MiB. Allocations count every `malloc` of the process (C libraries included), through the suite's counting allocator; the curl CLI's are not counted.\n", self.idle_rss_kib / 1024.0);
        let _ = writeln!(o, "![CPU and allocations per GET by peer]({svg_link})\n");

        // ------------------------------------------------------- targets
        let _ = writeln!(o, "### Targets\n");
        let _ = writeln!(o, "A target given as a ratio to the floor (or to no hooks) is judged on the ratio taken round by round, the two figures of each round measured minutes apart at most, and then its median over the rounds; its range over the rounds shows how far the machine's noise reaches. The medians of the two peers' figures are shown beside it.\n");
        self.targets(&mut o);

        // ------------------------------------------------------- details
        for w in Workload::ALL {
            let peers = self.peers(w);
            if peers.is_empty() {
                continue;
            }
            let _ = writeln!(o, "\n### {}\n", self.title(w));
            let rt = |f: fn(&Sample) -> f64| self.med(w, "roundtrip", f);
            let fl = |f: fn(&Sample) -> f64| self.med(w, "floor", f);
            let per = if w == Workload::Big {
                "download"
            } else {
                "GET"
            };
            let wall_unit = if w == Workload::Concurrent {
                "batch"
            } else {
                per
            };
            let _ = writeln!(o, "| peer | CPU µs/{per} | × roundtrip | × floor | user µs | sys µs | CPU range over rounds | allocs/{per} | KiB allocated/{per} | syscalls/{per} | wall µs/{wall_unit} | MiB/s | peak RSS MiB | over idle child MiB | conns/GET |");
            let _ = writeln!(
                o,
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
            );
            for p in &peers {
                let m = |f: fn(&Sample) -> f64| self.med(w, p, f);
                let (lo, hi) = self.range(w, p, |s| s.cpu_us);
                let _ = writeln!(
                    o,
                    "| {} | {} | {} | {} | {} | {} | {}–{} | {} | {} | {} | {} | {} | {} | {} | {:.3} |",
                    label(p),
                    fmt(m(|s| s.cpu_us), 1),
                    ratio(m(|s| s.cpu_us), rt(|s| s.cpu_us)),
                    ratio(m(|s| s.cpu_us), fl(|s| s.cpu_us)),
                    fmt(m(|s| s.user_us), 1),
                    fmt(m(|s| s.sys_us), 1),
                    fmt(lo, 1),
                    fmt(hi, 1),
                    fmt(m(|s| s.allocs), 1),
                    fmt(m(|s| s.bytes) / 1024.0, 1),
                    fmt(self.sys(w, p), 2),
                    fmt(m(|s| s.wall_us), 0),
                    fmt(m(|s| s.mib_s), 1),
                    fmt(m(|s| s.maxrss_kib) / 1024.0, 1),
                    fmt((m(|s| s.maxrss_kib) - self.idle_rss_kib).max(0.0) / 1024.0, 1),
                    m(|s| s.conns),
                );
            }
            let _ = writeln!(o);
            for p in &peers {
                if let Some((total, by)) = self.syscalls.get(&(w.name(), p.clone())) {
                    let names: Vec<String> = by
                        .iter()
                        .take(8)
                        .map(|(n, c)| format!("`{n}` {c:.2}"))
                        .collect();
                    let _ = writeln!(
                        o,
                        "- {} syscalls/{per} {total:.2}: {}",
                        label(p),
                        names.join(", ")
                    );
                }
            }
        }
        o
    }

    fn targets(&self, o: &mut String) {
        let (ka, new, big, conc) = (
            Workload::KeepAlive,
            Workload::New,
            Workload::Big,
            Workload::Concurrent,
        );
        let cpu = |w, p: &str| self.med(w, p, |s| s.cpu_us);
        let allocs = |w, p: &str| self.med(w, p, |s| s.allocs);
        let peers = ["ureq", "reqwest", "hyper", "curl"];
        let best = |f: &dyn Fn(&str) -> f64, low: bool| {
            peers
                .iter()
                .filter(|p| !f(p).is_nan())
                .map(|p| (*p, f(p)))
                .min_by(|a, b| {
                    if low {
                        a.1.total_cmp(&b.1)
                    } else {
                        b.1.total_cmp(&a.1)
                    }
                })
                .map(|(p, v)| (label(p), v))
                .unwrap_or(("?", f64::NAN))
        };
        let rt = cpu(ka, "roundtrip");
        let fl = cpu(ka, "floor");
        let _ = writeln!(o, "| target | figure | verdict |\n|---|---|---|");
        // A run limited by WORKLOADS says so for the targets of the others,
        // instead of judging figures it never measured.
        let ran = |w: Workload| self.samples.keys().any(|(n, _)| *n == w.name());
        let skip = std::cell::Cell::new(!ran(ka));
        let mut row = |t: &str, fig: String, ok: bool| {
            if skip.get() {
                let _ = writeln!(o, "| {t} | — | not run (`WORKLOADS`) |");
            } else {
                let _ = writeln!(o, "| {t} | {fig} | {} |", verdict(ok));
            }
        };
        let cpu_of = |s: &Sample| s.cpu_us;
        let p = self.paired(ka, "roundtrip", "floor", cpu_of);
        row(
            "keep-alive: CPU ≤ 1.1× floor",
            format!("{} µs vs floor {} µs; {}", fmt(rt, 1), fmt(fl, 1), p.show()),
            p.median <= 1.1,
        );
        let (bp, bv) = best(&|p| cpu(ka, p), true);
        row(
            "keep-alive: CPU below every peer",
            format!("{} µs vs best peer {bp} {} µs", fmt(rt, 1), fmt(bv, 1)),
            rt < bv,
        );
        let sc = self.sys(ka, "roundtrip");
        row(
            "keep-alive: ≤ 3 syscalls/GET",
            format!("{sc:.2}"),
            sc <= 3.0 + 1e-9,
        );
        let (a0, a1) = (allocs(ka, "roundtrip"), allocs(ka, "roundtrip+hooks"));
        row(
            "keep-alive: ≤ 8 allocs/GET without a trace",
            fmt(a0, 2),
            a0 <= 8.0,
        );
        row(
            "keep-alive: ≤ 12 allocs/GET with all hooks",
            fmt(a1, 2),
            a1 <= 12.0,
        );
        for w in [ka, new] {
            skip.set(!ran(w));
            let (c0, c1) = (cpu(w, "roundtrip"), cpu(w, "roundtrip+hooks"));
            let p = self.paired(w, "roundtrip+hooks", "roundtrip", cpu_of);
            row(
                &format!("all hooks ≤ 5% CPU over none ({})", w.name()),
                format!(
                    "{} vs {} µs; {:+.1}% per round ({:+.1} to {:+.1}%)",
                    fmt(c1, 1),
                    fmt(c0, 1),
                    (p.median - 1.0) * 100.0,
                    (p.lo - 1.0) * 100.0,
                    (p.hi - 1.0) * 100.0
                ),
                p.median <= 1.05,
            );
        }
        skip.set(!ran(new));
        let (rn, fn_) = (cpu(new, "roundtrip"), cpu(new, "floor"));
        let p = self.paired(new, "roundtrip", "floor", cpu_of);
        row(
            "new HTTPS: CPU ≤ 1.05× floor",
            format!(
                "{} µs vs floor {} µs; {}",
                fmt(rn, 0),
                fmt(fn_, 0),
                p.show()
            ),
            p.median <= 1.05,
        );
        let hn = cpu(new, "hyper");
        row(
            "new HTTPS: CPU below hyper",
            format!("{} µs vs {} µs: {}", fmt(rn, 0), fmt(hn, 0), ratio(rn, hn)),
            rn < hn,
        );
        let (bp, bv) = best(&|p| allocs(new, p), true);
        let ra = allocs(new, "roundtrip");
        row(
            "new HTTPS: fewer allocs/GET than any peer",
            format!("{} vs {bp} {}", fmt(ra, 1), fmt(bv, 1)),
            ra < bv,
        );
        skip.set(!ran(big));
        let (rb, fb) = (cpu(big, "roundtrip"), cpu(big, "floor"));
        let p = self.paired(big, "roundtrip", "floor", cpu_of);
        row(
            "big download: CPU ≤ 1.1× floor",
            format!(
                "{} ms vs floor {} ms; {}",
                fmt(rb / 1e3, 1),
                fmt(fb / 1e3, 1),
                p.show()
            ),
            p.median <= 1.1,
        );
        let tput = |p: &str| self.med(big, p, |s| s.mib_s);
        let (bp, bv) = best(&|p| tput(p), false);
        let rtp = tput("roundtrip");
        let (lo, hi) = self.range(big, "roundtrip", |s| s.mib_s);
        row(
            "big download: throughput ≥ best peer's within noise (here: median ≥ 0.95× the best peer's median)",
            format!("{} MiB/s (rounds {}–{}) vs {bp} {} MiB/s: {}", fmt(rtp, 0), fmt(lo, 0), fmt(hi, 0), fmt(bv, 0), ratio(rtp, bv)),
            rtp >= 0.95 * bv,
        );
        let rss = self
            .min_big_rss_kib
            .get("roundtrip")
            .copied()
            .unwrap_or(f64::NAN)
            / 1024.0;
        let suite_rss = self.med(big, "roundtrip", |s| s.maxrss_kib) / 1024.0;
        row(
            "big download: peak RSS < 8 MiB",
            format!(
                "{rss:.1} MiB (minimal binary; in the suite's child {suite_rss:.1} MiB, idle child {:.1} MiB)",
                self.idle_rss_kib / 1024.0
            ),
            rss < 8.0,
        );
        skip.set(!ran(conc));
        let wall = |p: &str| self.med(conc, p, |s| s.wall_us);
        let (rw, hw, cw) = (wall("roundtrip"), wall("hyper"), wall("curl"));
        row(
            "concurrent: faster than hyper (wall per batch)",
            format!(
                "{} ms vs {} ms: {}",
                fmt(rw / 1e3, 1),
                fmt(hw / 1e3, 1),
                ratio(rw, hw)
            ),
            rw < hw,
        );
        row(
            "concurrent: faster than libcurl's multi (wall per batch)",
            format!(
                "{} ms vs {} ms: {}",
                fmt(rw / 1e3, 1),
                fmt(cw / 1e3, 1),
                ratio(rw, cw)
            ),
            rw < cw,
        );
        let crss = self.med(conc, "roundtrip", |s| s.maxrss_kib) / 1024.0;
        row(
            "concurrent: peak RSS < 32 MiB",
            format!(
                "{crss:.1} MiB (the suite's child, idle child {:.1} MiB included)",
                self.idle_rss_kib / 1024.0
            ),
            crss < 32.0,
        );
        skip.set(false);
        if let (Some(r), Some(u)) = (self.sizes.get("roundtrip"), self.sizes.get("ureq")) {
            row(
                "minimal HTTPS GET binary smaller than ureq's",
                format!(
                    "{} KiB vs {} KiB",
                    fmt(*r as f64 / 1024.0, 0),
                    fmt(*u as f64 / 1024.0, 0)
                ),
                r < u,
            );
        }
        if let (Some(r), Some(u)) = (self.crates.get("roundtrip"), self.crates.get("ureq")) {
            row(
                "fewer crates in the dependency tree than ureq",
                format!("{r} vs {u}"),
                r < u,
            );
        }
    }

    /// The chart: CPU µs and allocations per GET by peer, keep-alive and
    /// new HTTPS connection, as horizontal bars.
    pub fn svg(&self) -> String {
        let panels: [Panel; 4] = [
            (
                Workload::KeepAlive,
                "Keep-alive HTTP GET: CPU µs per GET",
                |s| s.cpu_us,
            ),
            (
                Workload::KeepAlive,
                "Keep-alive HTTP GET: allocations per GET",
                |s| s.allocs,
            ),
            (
                Workload::New,
                "New HTTPS connection: CPU µs per GET",
                |s| s.cpu_us,
            ),
            (
                Workload::New,
                "New HTTPS connection: allocations per GET",
                |s| s.allocs,
            ),
        ];
        let (pw, bar, gap, left, top) = (460.0, 18.0, 6.0, 170.0, 34.0);
        let rows = panels
            .iter()
            .map(|(w, _, _)| self.peers(*w).len())
            .max()
            .unwrap_or(1) as f64;
        let ph = top + rows * (bar + gap) + 16.0;
        let (width, height) = (2.0 * pw + 20.0, 2.0 * ph + 40.0);
        let mut s = String::new();
        let _ = writeln!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">"#
        );
        let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
        let _ = writeln!(
            s,
            r#"<text x="10" y="20" font-size="14" font-weight="bold">roundtrip against its peers: medians of {} rounds (generated by benches/peers/run-suite.sh)</text>"#,
            self.rounds
        );
        for (i, (w, title, f)) in panels.iter().enumerate() {
            let (x0, y0) = (
                (i % 2) as f64 * (pw + 10.0) + 10.0,
                (i / 2) as f64 * ph + 36.0,
            );
            let _ = writeln!(
                s,
                r#"<text x="{x0}" y="{}" font-weight="bold">{title}</text>"#,
                y0 + 16.0
            );
            let peers = self.peers(*w);
            let vals: Vec<f64> = peers.iter().map(|p| self.med(*w, p, *f)).collect();
            let max = vals
                .iter()
                .copied()
                .filter(|v| v.is_finite())
                .fold(0.0, f64::max)
                .max(1e-9);
            let span = pw - left - 70.0;
            for (j, (p, v)) in peers.iter().zip(&vals).enumerate() {
                let y = y0 + top + j as f64 * (bar + gap);
                let len = if v.is_finite() && *v > 0.0 {
                    v / max * span
                } else {
                    0.0
                };
                let color = match p.as_str() {
                    "roundtrip" | "roundtrip+hooks" => "#d9480f",
                    "floor" => "#868e96",
                    _ => "#1c7ed6",
                };
                let _ = writeln!(
                    s,
                    r#"<text x="{}" y="{}" text-anchor="end">{}</text><rect x="{}" y="{y}" width="{len:.1}" height="{bar}" fill="{color}"/><text x="{}" y="{}">{}</text>"#,
                    x0 + left - 6.0,
                    y + bar - 5.0,
                    label(p),
                    x0 + left,
                    x0 + left + len + 4.0,
                    y + bar - 5.0,
                    fmt(*v, 1)
                );
            }
        }
        s.push_str("</svg>\n");
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cpu(v: f64) -> Sample {
        Sample {
            cpu_us: v,
            ..Sample::default()
        }
    }

    #[test]
    fn paired_ratios_take_each_round_on_its_own() {
        let mut r = Results::default();
        // The ratio of the medians (22 / 12 = 1.83×) sets the first
        // round's roundtrip against the second round's floor; round by
        // round the ratios are 2.2, 1.1 and 1.1×.
        for (peer, v) in [
            ("roundtrip", [22.0, 13.2, 33.0]),
            ("floor", [10.0, 12.0, 30.0]),
        ] {
            r.samples
                .insert(("keepalive", peer.into()), v.map(cpu).to_vec());
        }
        let w = Workload::KeepAlive;
        assert_eq!(w.name(), "keepalive");
        let p = r.paired(w, "roundtrip", "floor", |s| s.cpu_us);
        assert!((p.median - 1.1).abs() < 1e-9, "{p:?}");
        assert!(
            (p.lo - 1.1).abs() < 1e-9 && (p.hi - 2.2).abs() < 1e-9,
            "{p:?}"
        );
        assert!(
            (r.med(w, "roundtrip", |s| s.cpu_us) / r.med(w, "floor", |s| s.cpu_us) - 22.0 / 12.0)
                .abs()
                < 1e-9
        );
        let none = r.paired(w, "roundtrip", "hyper", |s| s.cpu_us);
        assert!(none.median.is_nan());
        assert_eq!(none.show(), "—");
    }

    #[test]
    fn targets_of_workloads_not_run_are_not_judged() {
        let mut r = Results::default();
        for (peer, v) in [
            ("roundtrip", 12.0),
            ("floor", 10.0),
            ("roundtrip+hooks", 12.0),
        ] {
            r.samples
                .insert(("keepalive", peer.into()), vec![cpu(v), cpu(v)]);
        }
        let mut o = String::new();
        r.targets(&mut o);
        let line = |start: &str| {
            o.lines()
                .find(|l| l.starts_with(start))
                .unwrap_or_else(|| panic!("no row {start:?} in\n{o}"))
                .to_owned()
        };
        // Measured: judged (1.2x the floor misses 1.1x).
        assert!(line("| keep-alive: CPU ≤ 1.1× floor").ends_with("| **missed** |"));
        assert!(line("| all hooks ≤ 5% CPU over none (keepalive)").ends_with("| **met** |"));
        for start in [
            "| all hooks ≤ 5% CPU over none (new)",
            "| new HTTPS: CPU ≤ 1.05× floor",
            "| big download: CPU ≤ 1.1× floor",
            "| concurrent: peak RSS < 32 MiB",
        ] {
            assert!(
                line(start).ends_with("| not run (`WORKLOADS`) |"),
                "{start}"
            );
        }
    }
}

//! `-n/--repeat`: per-phase statistics over many fetches of one URL — the
//! same phases as the waterfall and `Timings` (DNS, TCP connect, TLS,
//! send, wait, receive, total), each with min, p50, p95, p99, max and a
//! small histogram. A phase a request skipped (a reused connection has no
//! DNS, connect or TLS) is not counted as zero: the `n` column says how
//! many requests had it.

use std::fmt::Write as _;
use std::time::Duration;

use roundtrip::{PhaseTime, Timings};

/// How to read one phase from a request's timings.
type ReadPhase = fn(&Timings) -> PhaseTime;

/// The phases, in the order they happen, with how to read each.
const PHASES: [(&str, ReadPhase); 7] = [
    ("dns", Timings::dns),
    ("connect", Timings::tcp_connect),
    ("tls", Timings::tls),
    ("send", Timings::send),
    ("wait", Timings::wait),
    ("receive", Timings::receive),
    ("total", |t| match t.total() {
        Some(d) => PhaseTime::Took(d),
        None => PhaseTime::Pending,
    }),
];

/// Buckets in a histogram.
const BUCKETS: usize = 10;

/// The nearest-rank percentile `p` (0–100) of sorted, non-empty `v`.
fn percentile(v: &[Duration], p: usize) -> Duration {
    let rank = (p * v.len()).div_ceil(100).max(1);
    v[rank - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1000.0)
}

/// Counts of `v` in [`BUCKETS`] equal-width buckets from its min to its
/// max, drawn one character per bucket, the fullest at full height.
fn histogram(v: &[Duration], unicode: bool) -> String {
    let (lo, hi) = (v[0], v[v.len() - 1]);
    let mut counts = [0usize; BUCKETS];
    let span = hi.saturating_sub(lo).as_nanos();
    for d in v {
        let i = if span == 0 {
            0
        } else {
            (d.saturating_sub(lo).as_nanos() * BUCKETS as u128 / (span + 1)) as usize
        };
        counts[i.min(BUCKETS - 1)] += 1;
    }
    let levels: &[char] = if unicode {
        &[' ', '▁', '▂', '▃', '▄', '▅', '▆', '▇', '█']
    } else {
        &[' ', '.', ':', '-', '=', '+', '*', '#', '@']
    };
    let top = counts.iter().copied().max().unwrap_or(1).max(1);
    counts
        .iter()
        .map(|&c| {
            if c == 0 {
                levels[0]
            } else {
                // Any non-empty bucket shows at least the lowest mark.
                levels[(c * (levels.len() - 1)).div_ceil(top).max(1)]
            }
        })
        .collect()
}

/// The table for `samples`, the timings of the requests that completed,
/// after `failed` others failed; `title` heads it.
pub fn render(title: &str, samples: &[Timings], failed: usize, unicode: bool) -> String {
    let mut out = String::new();
    let connects: u32 = samples.iter().map(Timings::num_connects).sum();
    let _ = writeln!(
        out,
        "{title}: {} completed, {failed} failed, {connects} new connections",
        samples.len()
    );
    let _ = writeln!(
        out,
        "  {:<10} {:>5} {:>9} {:>9} {:>9} {:>9} {:>9}  histogram (min..max)",
        "phase (ms)", "n", "min", "p50", "p95", "p99", "max"
    );
    for (name, read) in PHASES {
        let mut v: Vec<Duration> = samples.iter().filter_map(|t| read(t).duration()).collect();
        if v.is_empty() {
            // Say why, from the first request that said (all skip for the
            // same reason when the phase never happens in a run).
            let why = samples.iter().find_map(|t| match read(t) {
                PhaseTime::Skipped(s) => Some(s.as_str()),
                _ => None,
            });
            let _ = match why {
                Some(why) => writeln!(out, "  {name:<10} {:>5}  skipped: {why}", 0),
                None => writeln!(out, "  {name:<10} {:>5}  (no sample)", 0),
            };
            continue;
        }
        v.sort_unstable();
        let line = format!(
            "  {name:<10} {:>5} {:>9} {:>9} {:>9} {:>9} {:>9}  {}",
            v.len(),
            ms(v[0]),
            ms(percentile(&v, 50)),
            ms(percentile(&v, 95)),
            ms(percentile(&v, 99)),
            ms(v[v.len() - 1]),
            histogram(&v, unicode),
        );
        let _ = writeln!(out, "{}", line.trim_end());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us(v: &[u64]) -> Vec<Duration> {
        v.iter().map(|&u| Duration::from_micros(u)).collect()
    }

    #[test]
    fn nearest_rank_percentiles() {
        let v = us(&(1..=100).collect::<Vec<_>>());
        assert_eq!(percentile(&v, 50), Duration::from_micros(50));
        assert_eq!(percentile(&v, 95), Duration::from_micros(95));
        assert_eq!(percentile(&v, 99), Duration::from_micros(99));
        assert_eq!(percentile(&v, 100), Duration::from_micros(100));
        let one = us(&[7]);
        for p in [0, 50, 99] {
            assert_eq!(percentile(&one, p), Duration::from_micros(7));
        }
        // Nearest rank on 3 values: p50 is the 2nd, p95 the 3rd.
        let three = us(&[1, 2, 30]);
        assert_eq!(percentile(&three, 50), Duration::from_micros(2));
        assert_eq!(percentile(&three, 95), Duration::from_micros(30));
    }

    #[test]
    fn histogram_puts_min_and_max_in_the_end_buckets() {
        let h = histogram(&us(&[0, 0, 0, 0, 50, 100]), false);
        assert_eq!(h.chars().count(), BUCKETS);
        assert_eq!(h.chars().next(), Some('@'), "{h:?}");
        assert_eq!(h.chars().nth(4), Some(':'), "{h:?}");
        assert_ne!(h.chars().last(), Some(' '), "{h:?}");
        assert_eq!(h.chars().filter(|&c| c != ' ').count(), 3, "{h:?}");
        // All equal: one full bucket.
        assert_eq!(histogram(&us(&[5, 5]), true), format!("█{}", " ".repeat(9)));
    }

    #[test]
    fn empty_samples_say_so_instead_of_zeros() {
        let text = render("GET http://x/", &[], 3, true);
        assert!(
            text.starts_with("GET http://x/: 0 completed, 3 failed"),
            "{text}"
        );
        assert_eq!(text.matches("(no sample)").count(), PHASES.len());
    }
}

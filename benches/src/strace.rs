//! Reads the summary table that `strace -c -o FILE` writes, and turns two
//! runs of different lengths into system calls per request.
//!
//! ```text
//! % time     seconds  usecs/call     calls    errors syscall
//! ------ ----------- ----------- --------- --------- ----------------
//!  58.10    0.120001           6     20001           write
//!   0.02    0.000040           1        22         2 read
//! ------ ----------- ----------- --------- --------- ----------------
//! 100.00    0.206538           3     60037        21 total
//! ```
//!
//! A run of `n1` requests and a run of `n2` requests share the same start-up
//! and shut-down calls (loading, nginx's first connection, the pool's
//! first socket), so `(calls(n2) - calls(n1)) / (n2 - n1)` is the steady
//! state per request.

use std::collections::BTreeMap;

/// Calls and errors of one system call in a summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Calls {
    /// Times it was called.
    pub calls: u64,
    /// Of which failed (EAGAIN included).
    pub errors: u64,
}

/// Parses an `strace -c` summary into name → calls (the `total` line is
/// left out).
pub fn parse_summary(text: &str) -> BTreeMap<String, Calls> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        // % time, seconds, usecs/call, calls, [errors], syscall
        if !(5..=6).contains(&cols.len()) || cols[0].parse::<f64>().is_err() {
            continue;
        }
        let name = cols[cols.len() - 1];
        let (Ok(calls), errors) = (cols[3].parse::<u64>(), cols.get(4)) else {
            continue;
        };
        let errors = if cols.len() == 6 {
            errors.and_then(|e| e.parse().ok()).unwrap_or(0)
        } else {
            0
        };
        if name != "total" {
            out.insert(name.to_owned(), Calls { calls, errors });
        }
    }
    out
}

/// Per-request calls of each system call: `(long - short) / (n2 - n1)`.
/// Calls present in only one run count as zero in the other.
pub fn per_request(
    short: &BTreeMap<String, Calls>,
    long: &BTreeMap<String, Calls>,
    n1: u64,
    n2: u64,
) -> BTreeMap<String, (f64, f64)> {
    let span = n2.saturating_sub(n1).max(1) as f64;
    let mut out = BTreeMap::new();
    for name in short.keys().chain(long.keys()) {
        let a = short.get(name).copied().unwrap_or_default();
        let b = long.get(name).copied().unwrap_or_default();
        let calls = (b.calls as f64 - a.calls as f64) / span;
        let errors = (b.errors as f64 - a.errors as f64) / span;
        out.insert(name.clone(), (calls, errors));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
 58.10    0.120001           6     20001           write
 40.00    0.080000           4     20010        10 read
  0.02    0.000040           1        22           epoll_wait
------ ----------- ----------- --------- --------- ----------------
100.00    0.206538           3     40033        10 total
";

    #[test]
    fn parses_calls_and_errors() {
        let s = parse_summary(SAMPLE);
        assert_eq!(s.len(), 3);
        assert_eq!(
            s["write"],
            Calls {
                calls: 20001,
                errors: 0
            }
        );
        assert_eq!(
            s["read"],
            Calls {
                calls: 20010,
                errors: 10
            }
        );
    }

    #[test]
    fn differences_per_request() {
        let short = parse_summary(SAMPLE);
        let mut long = short.clone();
        long.get_mut("write").unwrap().calls += 1000;
        long.insert(
            "brk".into(),
            Calls {
                calls: 10,
                errors: 0,
            },
        );
        let d = per_request(&short, &long, 100, 1100);
        assert_eq!(d["write"], (1.0, 0.0));
        assert_eq!(d["read"], (0.0, 0.0));
        assert_eq!(d["brk"], (0.01, 0.0));
    }
}

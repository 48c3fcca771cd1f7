//! What Linux says about this process's resources, for the soak: open
//! descriptors (`/proc/self/fd`), resident memory and its peak
//! (`VmRSS`, `VmHWM` in `/proc/self/status`, proc(5)), and resetting that
//! peak (writing `5` to `/proc/self/clear_refs`, Linux 4.0 and later).

use std::fs;

/// Entries of `/proc/self/fd`: every open descriptor (the directory's own
/// descriptor, open while it is read, is not counted).
pub fn open_fds() -> usize {
    fs::read_dir("/proc/self/fd")
        .map(|d| d.count().saturating_sub(1))
        .unwrap_or(0)
}

/// A `kB` field of `/proc/self/status`, in bytes.
fn status_kib(field: &str) -> u64 {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kib| kib * 1024)
}

/// Resident set size now, in bytes (`VmRSS`).
pub fn rss() -> u64 {
    status_kib("VmRSS")
}

/// Peak resident set size since the start or the last
/// [`reset_peak_rss`], in bytes (`VmHWM`).
pub fn peak_rss() -> u64 {
    status_kib("VmHWM")
}

/// Resets `VmHWM` to the current RSS. False when the kernel refused.
pub fn reset_peak_rss() -> bool {
    fs::write("/proc/self/clear_refs", "5").is_ok()
}

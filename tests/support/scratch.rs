//! Scratch files for tests (certificates as PEM files, mostly): a
//! directory of this process's own under cargo's `target/tmp`, so test
//! runs leave nothing in `/tmp`. The directories of test processes that
//! have exited are removed the first time a path is asked for, so they do
//! not pile up from run to run either.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

/// A path for a new scratch file: unique to this process and call, with
/// `name` at its end (for an extension a reader may look at).
pub fn scratch_path(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    dir().join(format!("{n}-{name}"))
}

fn dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("roundtrip-scratch");
        remove_exited(&base);
        let own = base.join(std::process::id().to_string());
        std::fs::create_dir_all(&own).expect("create the scratch directory");
        own
    })
}

/// Removes the directories in `base` named after processes that no
/// longer run (a reused pid only keeps one directory a while longer).
fn remove_exited(base: &Path) {
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

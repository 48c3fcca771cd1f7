//! Plumbing shared by the interop harnesses for real servers from Debian's
//! packages (nginx today; dnsmasq and tinyproxy later): the
//! `ROUNDTRIP_INTEROP` switch, the skip-or-fail policy, finding a server
//! binary, free loopback ports, a temp dir per server and a child process
//! that is killed when the test ends.
//!
//! A harness for a new server follows the nginx one (`nginx.rs`): a
//! `start(...) -> Result<Server, StartError>` that reports a missing binary
//! as `StartError::Missing` and anything else as `StartError::Failed`, and a
//! one-line `xxx_or_skip()` built on [`or_skip`].

use std::fmt;
use std::fs::File;
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The environment variable that decides what a missing server means.
pub const ENV: &str = "ROUNDTRIP_INTEROP";

/// What a missing server binary means for an interop test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `ROUNDTRIP_INTEROP` unset, empty or `auto`: skip loudly.
    Auto,
    /// `ROUNDTRIP_INTEROP=require` (CI): fail.
    Require,
}

/// Reads `ROUNDTRIP_INTEROP`. An unknown value panics, so that a typo in
/// CI (`required`, `yes`) cannot quietly turn failures into skips.
pub fn mode() -> Mode {
    match std::env::var(ENV) {
        Err(std::env::VarError::NotPresent) => Mode::Auto,
        Ok(v) if v.is_empty() || v == "auto" => Mode::Auto,
        Ok(v) if v == "require" => Mode::Require,
        Ok(v) => panic!("{ENV}={v:?} is not understood; use `require`, `auto` or leave it unset"),
        Err(e) => panic!("{ENV} is not valid: {e}"),
    }
}

/// Why a server could not be started.
#[derive(Debug)]
pub enum StartError {
    /// The server's binary is not installed.
    Missing(String),
    /// It is installed but did not come up (bad config, port, crash...).
    Failed(String),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Missing(m) | StartError::Failed(m) => f.write_str(m),
        }
    }
}

/// The one skip-or-fail policy for every interop harness.
///
/// - started: `Some(server)`;
/// - binary missing: with `ROUNDTRIP_INTEROP=require` panic, otherwise
///   print a loud `SKIPPED` line and return `None` (the caller returns);
/// - installed but failed to start: always panic. A broken harness or
///   config must not look like a skip on a developer's machine either.
pub fn or_skip<T>(server: &str, start: impl FnOnce() -> Result<T, StartError>) -> Option<T> {
    let mode = mode();
    match start() {
        Ok(s) => Some(s),
        Err(StartError::Missing(why)) if mode == Mode::Auto => {
            skipped(&format!(
                "{server} not found ({why}); set {ENV}=require to make this a failure"
            ));
            None
        }
        Err(StartError::Missing(why)) => {
            panic!("{ENV}=require but {server} is not installed: {why}")
        }
        Err(StartError::Failed(why)) => panic!("{server} failed to start: {why}"),
    }
}

/// Prints a `SKIPPED:` line straight to the process's stderr, past the
/// test harness's output capture, so it shows in a normal `cargo test` run.
pub fn skipped(why: &str) {
    let test = std::thread::current()
        .name()
        .unwrap_or("<unnamed test>")
        .to_owned();
    let line = format!("\n*** SKIPPED: {why} [test {test}]\n");
    let _ = std::io::stderr().write_all(line.as_bytes());
}

/// The first of `candidates` that is a file, else `name` on `PATH`.
pub fn find_binary(name: &str, candidates: &[&str]) -> Option<PathBuf> {
    let listed = candidates.iter().map(PathBuf::from);
    let on_path: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join(name)).collect())
        .unwrap_or_default();
    listed.chain(on_path).find(|p| p.is_file())
}

/// A loopback port that was free a moment ago (bound to port 0, then
/// released). Another process can take it before the server binds it, so
/// harnesses retry on "address in use".
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("binding 127.0.0.1:0")
        .port()
}

/// What a fixture reports when the port it picked is answered by another
/// server than the one it started: a port picked as free can be picked by
/// a parallel test too, and while the loser of the bind is still starting
/// (or retrying it), the winner answers. The fixture then starts again on
/// new ports.
pub const TAKEN: &str = "another server answers on";

/// One HTTP/1.0 exchange with a server that has just started: `request`
/// written to `addr`, everything it answers until it closes.
pub fn http_probe(addr: SocketAddr, request: &[u8]) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let probe = || -> std::io::Result<Vec<u8>> {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        s.write_all(request)?;
        let mut response = Vec::new();
        s.read_to_end(&mut response)?;
        Ok(response)
    };
    probe().map_err(|e| format!("probing {addr}: {e}"))
}

/// A directory under the system temp dir, unique to this process and
/// call, removed (with its contents) on drop.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates `$TMPDIR/roundtrip-<label>-<pid>-<n>`.
    pub fn new(label: &str) -> TempDir {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("roundtrip-{label}-{}-{n}", std::process::id()));
        // A leftover from an earlier process with the same pid.
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("creating {}: {e}", path.display()));
        TempDir { path }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A server process in the foreground, its stdout and stderr sent to a log
/// file. Killed (SIGKILL) and reaped on drop, also when the test panics.
#[derive(Debug)]
pub struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Daemon {
    /// Spawns `cmd` with stdin closed and its output appended to `log`.
    pub fn spawn(mut cmd: Command, log: &Path) -> Result<Daemon, StartError> {
        let out = File::create(log)
            .map_err(|e| StartError::Failed(format!("creating log file {}: {e}", log.display())))?;
        let err = out
            .try_clone()
            .map_err(|e| StartError::Failed(format!("cloning log file handle: {e}")))?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| StartError::Failed(format!("spawning {cmd:?}: {e}")))?;
        Ok(Daemon {
            child,
            log: log.to_owned(),
        })
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The exit status, if the process has already exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// What the process has written so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until every address accepts a TCP connection. Fails early if
    /// the process exits or prints one of `fatal` (some servers retry a
    /// failed bind for seconds), and after `timeout`.
    pub fn wait_for_tcp(
        &mut self,
        addrs: &[SocketAddr],
        timeout: Duration,
        fatal: &[&str],
    ) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        let mut pending: Vec<SocketAddr> = addrs.to_vec();
        loop {
            if let Some(status) = self.exited() {
                return Err(format!("exited with {status} before listening"));
            }
            let output = self.output();
            if let Some(f) = fatal.iter().find(|f| output.contains(*f)) {
                return Err(format!("printed {f:?} before listening"));
            }
            pending.retain(|a| TcpStream::connect_timeout(a, Duration::from_millis(200)).is_err());
            if pending.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!("not accepting on {pending:?} after {timeout:?}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether this process runs as root (its effective uid is 0): servers
/// that refuse to serve as root (tinyproxy, Apache) are then told a user
/// to switch to.
pub fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

/// Deterministic pseudo-random bytes (xorshift64*), so test files are
/// incompressible but identical from run to run.
pub fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    out.truncate(len);
    out
}

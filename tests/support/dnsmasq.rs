//! A real dnsmasq (Debian's `dnsmasq-base`, `/usr/sbin/dnsmasq`) per test,
//! for the resolver's interop layer (DESIGN.md, "Testing layers", 4).
//!
//! Each [`Dnsmasq`] runs in the foreground on its own loopback port (UDP
//! and TCP on 127.0.0.1 only, `--bind-interfaces`), with no upstream
//! servers (`--no-resolv`), no hosts file, no config file and no pid file;
//! its records are given on the command line (`--host-record`, `--cname`).
//! `--local=/test/` makes it the authority for `.test`: unknown names under
//! it get NXDOMAIN; names outside it get REFUSED (nothing to forward to).
//! Queries are logged to its stderr (`--log-queries --log-facility=-`), so
//! tests can count what reached it. It is killed on drop.
//!
//! With `ROUNDTRIP_INTEROP=require` a missing dnsmasq fails the test;
//! otherwise it prints `SKIPPED` and the test returns (see
//! [`interop::or_skip`]).

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::dns;
use super::interop::{self, Daemon, StartError, TempDir};

/// How long to wait for dnsmasq to answer.
const START_TIMEOUT: Duration = Duration::from_secs(5);
/// Attempts when a port picked as free was taken in the meantime.
const PORT_ATTEMPTS: usize = 5;
/// How dnsmasq reports that (and exits with status 2).
const ADDR_IN_USE: &str = "Address already in use";

/// What dnsmasq serves.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `--host-record=` values: `name[,name…],addr[,addr…][,ttl]`.
    pub host_records: Vec<String>,
    /// `--cname=` values: `alias,target[,ttl]`.
    pub cnames: Vec<String>,
    /// More arguments, as they are.
    pub extra_args: Vec<String>,
}

impl Options {
    pub fn host_record(mut self, record: &str) -> Options {
        self.host_records.push(record.to_owned());
        self
    }
    pub fn cname(mut self, cname: &str) -> Options {
        self.cnames.push(cname.to_owned());
        self
    }
    pub fn arg(mut self, arg: &str) -> Options {
        self.extra_args.push(arg.to_owned());
        self
    }
}

/// Starts dnsmasq, or skips the test.
///
/// ```ignore
/// let Some(dnsmasq) = dnsmasq_or_skip(Options::default().host_record("a.test,127.0.0.1")) else { return };
/// ```
pub fn dnsmasq_or_skip(options: Options) -> Option<Dnsmasq> {
    interop::or_skip("dnsmasq", || Dnsmasq::start(options))
}

/// A running dnsmasq. Killed, and its directory removed, on drop.
pub struct Dnsmasq {
    // Dropped first: the process dies before its directory goes.
    daemon: Daemon,
    /// Where it answers, over UDP and TCP.
    pub addr: SocketAddr,
    dir: TempDir,
}

impl Dnsmasq {
    /// Starts dnsmasq on a fresh loopback port and waits until it answers.
    pub fn start(options: Options) -> Result<Dnsmasq, StartError> {
        let bin = interop::find_binary("dnsmasq", &["/usr/sbin/dnsmasq"]).ok_or_else(|| {
            StartError::Missing(
                "no /usr/sbin/dnsmasq and no dnsmasq on PATH; the Debian package is dnsmasq-base"
                    .to_owned(),
            )
        })?;
        let dir = TempDir::new("dnsmasq");
        let log = dir.path().join("dnsmasq.log");
        let mut last_failure = String::new();
        for _ in 0..PORT_ATTEMPTS {
            let port = free_udp_tcp_port();
            let mut cmd = Command::new(&bin);
            cmd.arg("--keep-in-foreground")
                .arg("--conf-file=/dev/null")
                .arg("--no-resolv")
                .arg("--no-hosts")
                .arg(format!("--port={port}"))
                .arg("--listen-address=127.0.0.1")
                .arg("--bind-interfaces")
                .arg("--pid-file=")
                .arg("--log-facility=-")
                .arg("--log-queries")
                .arg("--local=/test/");
            for r in &options.host_records {
                cmd.arg(format!("--host-record={r}"));
            }
            for c in &options.cnames {
                cmd.arg(format!("--cname={c}"));
            }
            // Only this instance knows the probe name's address: an answer
            // without it comes from another server on the same port.
            let token = Ipv4Addr::from(
                0x0a00_0000 | (NEXT_TOKEN.fetch_add(1, Ordering::Relaxed) & 0x00ff_ffff),
            );
            cmd.arg(format!("--host-record={PROBE_NAME},{token}"));
            cmd.args(&options.extra_args);
            let report_cmd = format!("{cmd:?}");
            let mut daemon = Daemon::spawn(cmd, &log)?;
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            match wait_until_answering(&mut daemon, addr, token) {
                Ok(()) => return Ok(Dnsmasq { daemon, addr, dir }),
                Err(why) => {
                    drop(daemon);
                    let output = std::fs::read_to_string(&log).unwrap_or_default();
                    let report = format!("{report_cmd}: {why}\n--- dnsmasq output ---\n{output}");
                    if !output.contains(ADDR_IN_USE) && !why.contains(interop::TAKEN) {
                        return Err(StartError::Failed(report));
                    }
                    last_failure = report;
                }
            }
        }
        Err(StartError::Failed(format!(
            "ports were taken {PORT_ATTEMPTS} times; the last attempt: {last_failure}"
        )))
    }

    /// Everything dnsmasq has logged (start-up and one or two lines per
    /// query).
    pub fn logs(&self) -> String {
        self.daemon.output()
    }

    /// The queries it has logged, as `(type, name)`: `query[A] x.test from
    /// 127.0.0.1` gives `("A", "x.test")`. Its own start-up probes (for
    /// `probe.invalid`) are left out.
    pub fn queries(&self) -> Vec<(String, String)> {
        self.logs()
            .lines()
            .filter_map(|l| {
                let rest = &l[l.find("query[")? + "query[".len()..];
                let (qtype, rest) = rest.split_once("] ")?;
                let name = rest.split_whitespace().next()?;
                Some((qtype.to_owned(), name.to_owned()))
            })
            .filter(|(_, name)| name != PROBE_NAME)
            .collect()
    }

    /// The directory holding its log.
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }
}

/// The name asked while waiting for dnsmasq to come up.
const PROBE_NAME: &str = "probe.invalid";

/// The next instance's address for [`PROBE_NAME`] (10.0.0.1 on), unique
/// among the instances of this test process.
static NEXT_TOKEN: AtomicU32 = AtomicU32::new(1);

/// A port free for both UDP and TCP on 127.0.0.1 a moment ago.
fn free_udp_tcp_port() -> u16 {
    for _ in 0..50 {
        let port = interop::free_port();
        if UdpSocket::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return port;
        }
    }
    panic!("no port free for both UDP and TCP on 127.0.0.1");
}

/// Asks dnsmasq a question over UDP until any answer comes back; fails
/// early if it exits, and after [`START_TIMEOUT`]. The answer must carry
/// `token`, the address only this instance gives [`PROBE_NAME`]: a port
/// picked as free can be picked by a parallel test too, and while the
/// dnsmasq that lost the bind is still starting, the winner answers.
fn wait_until_answering(
    daemon: &mut Daemon,
    addr: SocketAddr,
    token: Ipv4Addr,
) -> Result<(), String> {
    let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).map_err(|e| e.to_string())?;
    sock.set_read_timeout(Some(Duration::from_millis(50)))
        .map_err(|e| e.to_string())?;
    let deadline = Instant::now() + START_TIMEOUT;
    let mut buf = [0u8; 512];
    let mut id = 0x5000u16;
    loop {
        if let Some(status) = daemon.exited() {
            return Err(format!("exited with {status} before answering"));
        }
        id = id.wrapping_add(1);
        // Errors (ICMP port unreachable while it starts) just mean "not yet".
        let _ = sock.send_to(&dns::build_query(id, PROBE_NAME, dns::A), addr);
        if let Ok((n, from)) = sock.recv_from(&mut buf) {
            if from == addr && dns::parse_header(&buf[..n]).is_some_and(|h| h.id == id) {
                // A single A record's data ends the answer.
                if buf[..n].ends_with(&token.octets()) {
                    return Ok(());
                }
                return Err(format!("{} {addr}", interop::TAKEN));
            }
        }
        if Instant::now() >= deadline {
            return Err(format!("not answering on {addr} after {START_TIMEOUT:?}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

//! A real lighttpd (Debian's `/usr/sbin/lighttpd`) per test, for the
//! interop layer (DESIGN.md, "Testing layers", 4): a second server whose
//! framing choices differ from nginx's, with CGI programs for responses a
//! static file cannot give.
//!
//! Each [`Lighttpd`] runs in the foreground (`-D`) on its own loopback
//! port, from its own directory under the system temp dir (document root,
//! CGI scripts, config, error log); it is killed and the directory removed
//! on drop. It serves:
//!
//! | path               | what                                                        |
//! |--------------------|-------------------------------------------------------------|
//! | `/small.txt`       | [`SMALL_TEXT`]                                              |
//! | `/random-1m.bin`   | [`random_1m`]: 1 MiB of pseudo-random bytes                 |
//! | `/cgi/…`           | the CGI programs of `cgi.rs`                                |

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::interop::{self, Daemon, StartError, TempDir};

/// The short text file.
pub const SMALL_TEXT: &str = "Hello from lighttpd, served to roundtrip's interop tests.\n";
const START_TIMEOUT: Duration = Duration::from_secs(5);
const PORT_ATTEMPTS: usize = 5;

/// The 1 MiB file's bytes.
pub fn random_1m() -> Vec<u8> {
    interop::pseudo_random(1 << 20, 0x11f7)
}

/// Starts lighttpd, or skips the test (the `ROUNDTRIP_INTEROP` policy of
/// [`interop::or_skip`]).
pub fn lighttpd_or_skip() -> Option<Lighttpd> {
    interop::or_skip("lighttpd", Lighttpd::start)
}

/// A running lighttpd.
pub struct Lighttpd {
    // Killed before its directory goes.
    daemon: Daemon,
    port: u16,
    _dir: TempDir,
}

impl Lighttpd {
    /// Writes the directory and starts the server on a free port.
    pub fn start() -> Result<Lighttpd, StartError> {
        let bin = interop::find_binary("lighttpd", &["/usr/sbin/lighttpd"]).ok_or_else(|| {
            StartError::Missing(
                "no /usr/sbin/lighttpd and no lighttpd on PATH (Debian package lighttpd)".into(),
            )
        })?;
        let dir = TempDir::new("lighttpd");
        write_tree(dir.path())
            .map_err(|e| StartError::Failed(format!("writing {}: {e}", dir.path().display())))?;
        let mut last = String::new();
        for _ in 0..PORT_ATTEMPTS {
            let port = interop::free_port();
            let conf = dir.path().join("lighttpd.conf");
            std::fs::write(&conf, config(dir.path(), port))
                .map_err(|e| StartError::Failed(format!("writing lighttpd.conf: {e}")))?;
            let mut cmd = Command::new(&bin);
            cmd.arg("-D").arg("-f").arg(&conf);
            let mut daemon = Daemon::spawn(cmd, &dir.path().join("stderr.log"))?;
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            match daemon.wait_for_tcp(&[addr], START_TIMEOUT, &["Address already in use"]) {
                Ok(()) => {
                    return Ok(Lighttpd {
                        daemon,
                        port,
                        _dir: dir,
                    })
                }
                Err(why) => {
                    let log =
                        std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default();
                    last = format!("{why}: {}{log}", daemon.output());
                }
            }
        }
        Err(StartError::Failed(last))
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The server's process id (to tell it from another instance).
    pub fn pid(&self) -> u32 {
        self.daemon.pid()
    }
}

fn write_tree(root: &Path) -> std::io::Result<()> {
    let www = root.join("www");
    let cgi = root.join("cgi");
    std::fs::create_dir_all(&www)?;
    std::fs::create_dir_all(&cgi)?;
    std::fs::write(www.join("small.txt"), SMALL_TEXT)?;
    std::fs::write(www.join("random-1m.bin"), random_1m())?;
    super::cgi::write_programs(&cgi)
}

/// The whole configuration: no user switch (the tests may run as root or
/// not), keep-alive on (lighttpd's default), CGI through `/bin/sh`, and
/// response bodies streamed as they come (by default lighttpd gathers a
/// CGI program's whole output and sends it with a Content-Length).
fn config(root: &Path, port: u16) -> String {
    let r = root.display();
    format!(
        r#"server.document-root = "{r}/www"
server.bind = "127.0.0.1"
server.port = {port}
server.errorlog = "{r}/error.log"
server.modules = ( "mod_alias", "mod_cgi", "mod_staticfile" )
alias.url = ( "/cgi/" => "{r}/cgi/" )
$HTTP["url"] =~ "^/cgi/" {{ cgi.assign = ( ".sh" => "/bin/sh" ) }}
mimetype.assign = ( ".txt" => "text/plain", ".bin" => "application/octet-stream" )
server.max-keep-alive-requests = 1000
server.stream-response-body = 2
"#
    )
}

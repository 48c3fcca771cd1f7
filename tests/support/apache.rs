//! A real Apache httpd 2.4 (Debian's `/usr/sbin/apache2`) per test, for
//! the interop layer (DESIGN.md, "Testing layers", 4): the third server
//! beside nginx and lighttpd, with the event MPM and mod_cgid, the way
//! Debian runs it.
//!
//! Each [`Apache`] runs in the foreground (`-DFOREGROUND`) from its own
//! directory under the system temp dir (its own configuration, document
//! root, CGI scripts, logs, pid file and cgid socket; none of Debian's
//! `/etc/apache2`), on two loopback ports:
//!
//! - [`Apache::url`]: keep-alive without a request limit;
//! - [`Apache::short_url`]: a virtual host with `MaxKeepAliveRequests 2`
//!   (Apache counts the requests after the first, so its third answer on
//!   a connection says `Connection: close`) and
//!   `KeepAliveTimeout 1` (an idle connection is closed after a second).
//!
//! Both serve:
//!
//! | path               | what                                                        |
//! |--------------------|-------------------------------------------------------------|
//! | `/small.txt`       | [`SMALL_TEXT`]                                              |
//! | `/random-1m.bin`   | [`random_1m`]: 1 MiB of pseudo-random bytes                 |
//! | `/cgi/…`           | the CGI programs of `cgi.rs`                                |
//!
//! Apache refuses to serve as root, so when the tests run as root (as in
//! CI) the workers switch to `www-data`; the directory is readable by it.
//! On drop the server gets SIGTERM, which stops its children too (a
//! SIGKILL would leave the worker and the cgid daemon behind), and then
//! SIGKILL if it has not exited within two seconds.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use super::interop::{self, Daemon, StartError, TempDir};

/// The short text file.
pub const SMALL_TEXT: &str = "Hello from Apache, served to roundtrip's interop tests.\n";
const START_TIMEOUT: Duration = Duration::from_secs(10);
const STOP_TIMEOUT: Duration = Duration::from_secs(2);
const PORT_ATTEMPTS: usize = 5;
const MODULES: &str = "/usr/lib/apache2/modules";

/// The 1 MiB file's bytes.
pub fn random_1m() -> Vec<u8> {
    interop::pseudo_random(1 << 20, 0xa9ac)
}

/// Starts Apache, or skips the test (the `ROUNDTRIP_INTEROP` policy of
/// [`interop::or_skip`]).
pub fn apache_or_skip() -> Option<Apache> {
    interop::or_skip("apache2", Apache::start)
}

/// A running Apache.
pub struct Apache {
    // Stopped before its directory goes.
    daemon: Daemon,
    port: u16,
    short_port: u16,
    _dir: TempDir,
}

impl Apache {
    /// Writes the directory and starts the server on two free ports.
    pub fn start() -> Result<Apache, StartError> {
        let bin = interop::find_binary("apache2", &["/usr/sbin/apache2"]).ok_or_else(|| {
            StartError::Missing(
                "no /usr/sbin/apache2 and no apache2 on PATH (Debian package apache2)".into(),
            )
        })?;
        if !Path::new(MODULES).join("mod_cgid.so").exists() {
            return Err(StartError::Missing(format!("no {MODULES}/mod_cgid.so")));
        }
        let dir = TempDir::new("apache");
        write_tree(dir.path())
            .map_err(|e| StartError::Failed(format!("writing {}: {e}", dir.path().display())))?;
        let mut last = String::new();
        for _ in 0..PORT_ATTEMPTS {
            let (port, short_port) = (interop::free_port(), interop::free_port());
            if port == short_port {
                continue;
            }
            let conf = dir.path().join("httpd.conf");
            std::fs::write(&conf, config(dir.path(), port, short_port))
                .map_err(|e| StartError::Failed(format!("writing httpd.conf: {e}")))?;
            let mut cmd = Command::new(&bin);
            cmd.arg("-DFOREGROUND").arg("-f").arg(&conf);
            let mut daemon = Daemon::spawn(cmd, &dir.path().join("stderr.log"))?;
            let addrs = [port, short_port].map(|p| SocketAddr::from((Ipv4Addr::LOCALHOST, p)));
            match daemon.wait_for_tcp(&addrs, START_TIMEOUT, &["Address already in use"]) {
                Ok(()) => {
                    return Ok(Apache {
                        daemon,
                        port,
                        short_port,
                        _dir: dir,
                    })
                }
                Err(why) => {
                    let log =
                        std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default();
                    last = format!("{why}: {}{log}", daemon.output());
                    stop(&mut daemon);
                }
            }
        }
        Err(StartError::Failed(last))
    }

    /// `http://127.0.0.1:<port><path>`, keep-alive without a limit.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The same on the port whose connections end after three requests or
    /// one idle second.
    pub fn short_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.short_port)
    }
}

impl Drop for Apache {
    fn drop(&mut self) {
        stop(&mut self.daemon);
    }
}

/// SIGTERM, and a wait for the parent to have stopped its children.
fn stop(daemon: &mut Daemon) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(daemon.pid().to_string())
        .status();
    let deadline = Instant::now() + STOP_TIMEOUT;
    while daemon.exited().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn write_tree(root: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let www = root.join("www");
    let cgi = root.join("cgi");
    std::fs::create_dir_all(&www)?;
    std::fs::create_dir_all(&cgi)?;
    std::fs::write(www.join("small.txt"), SMALL_TEXT)?;
    // The types come from AddType; mod_mime still wants a file.
    std::fs::write(root.join("mime.types"), "")?;
    std::fs::write(www.join("random-1m.bin"), random_1m())?;
    super::cgi::write_programs(&cgi)?;
    // Readable (and the scripts runnable) by the worker's user.
    for d in [root, &www, &cgi] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(())
}

/// The whole configuration: the event MPM with one child, mod_cgid, keep
/// alive on with no request limit and a long timeout on the main port,
/// the short limits on the second (a virtual host).
fn config(root: &Path, port: u16, short_port: u16) -> String {
    let r = root.display();
    let user = if interop::running_as_root() {
        "User www-data\nGroup www-data\n"
    } else {
        ""
    };
    let modules: String = [
        ("mpm_event_module", "mod_mpm_event.so"),
        ("authz_core_module", "mod_authz_core.so"),
        ("mime_module", "mod_mime.so"),
        ("alias_module", "mod_alias.so"),
        ("cgid_module", "mod_cgid.so"),
    ]
    .iter()
    .map(|(name, file)| format!("LoadModule {name} {MODULES}/{file}\n"))
    .collect();
    format!(
        r#"ServerRoot "{r}"
DefaultRuntimeDir "{r}"
PidFile "{r}/httpd.pid"
ServerName 127.0.0.1
Listen 127.0.0.1:{port}
Listen 127.0.0.1:{short_port}
{modules}{user}ErrorLog "{r}/error.log"
ScriptSock "{r}/cgid.sock"
DocumentRoot "{r}/www"
StartServers 1
ServerLimit 1
ThreadsPerChild 25
MaxRequestWorkers 25
KeepAlive On
MaxKeepAliveRequests 0
KeepAliveTimeout 30
ScriptAlias /cgi/ "{r}/cgi/"
<Directory "{r}/www">
  Require all granted
</Directory>
<Directory "{r}/cgi">
  Require all granted
</Directory>
TypesConfig "{r}/mime.types"
AddType text/plain .txt
AddType application/octet-stream .bin
<VirtualHost 127.0.0.1:{short_port}>
  MaxKeepAliveRequests 2
  KeepAliveTimeout 1
</VirtualHost>
"#
    )
}

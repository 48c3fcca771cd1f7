//! A real nginx (Debian's `/usr/sbin/nginx`) per test, for the interop
//! layer (DESIGN.md, "Testing layers", 4).
//!
//! Each [`Nginx`] gets its own prefix directory under the system temp dir
//! with generated static files, its own `nginx.conf` (foreground, single
//! process, every path inside the prefix, no access log) and its own
//! loopback port. It is killed and its directory removed on drop.
//!
//! The main server block serves:
//!
//! | path                    | what                                            |
//! |-------------------------|-------------------------------------------------|
//! | `/small.txt`            | a short text file                               |
//! | `/empty.txt`            | an empty file                                   |
//! | `/random-1m.bin`        | 1 MiB of pseudo-random bytes                    |
//! | `/big-8m.bin`           | a little over 8 MiB of pseudo-random bytes      |
//! | `/chunked.shtml`        | SSI output, length unknown → `Transfer-Encoding: chunked` ([`Nginx::ssi_expected`]) |
//! | `/post`                 | `return 200 "posted\n"` for any method          |
//! | `/no-content`           | `return 204`                                    |
//! | `/upload/…`             | WebDAV `PUT` into `html/upload/` (up to 64 MiB) |
//! | `/short-keepalive/…`    | the html dir, `keepalive_timeout 500ms`         |
//! | `/two-per-conn/…`       | the html dir, `keepalive_requests 2`            |
//!
//! More server blocks (TLS later) are added with [`Options::extra_servers`];
//! they can reuse [`standard_locations`] to serve the same content.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::interop::{self, Daemon, StartError, TempDir};

/// A short text file.
pub const SMALL: &str = "small.txt";
/// An empty file.
pub const EMPTY: &str = "empty.txt";
/// 1 MiB of pseudo-random bytes.
pub const RANDOM_1M: &str = "random-1m.bin";
/// A little over 8 MiB (not a multiple of common buffer sizes).
pub const BIG_8M: &str = "big-8m.bin";
/// Server-side includes: nginx cannot know the length, so HTTP/1.1
/// responses are chunked.
pub const SSI: &str = "chunked.shtml";

const SMALL_TEXT: &str = "Hello from nginx, served to roundtrip's interop tests.\n";
const BIG_LEN: usize = 8 * 1024 * 1024 + 777;
const SSI_GREETING: &str = "greetings from ssi";
const SSI_TEMPLATE: &str = concat!(
    "<!--# set var=\"greeting\" value=\"greetings from ssi\" -->begin\n",
    "<!--# include virtual=\"/small.txt\" -->middle <!--# echo var=\"greeting\" -->\n",
    "<!--# include virtual=\"/random-1m.bin\" -->end\n",
);

/// How long to wait for nginx to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(5);
/// Attempts when a port picked as free was taken in the meantime.
const PORT_ATTEMPTS: usize = 5;
/// How nginx reports that (it would retry the bind for 2.5 s).
const ADDR_IN_USE: &str = "Address already in use";

/// Starts nginx with the standard content, or skips the test (see
/// [`interop::or_skip`] for the `ROUNDTRIP_INTEROP` policy).
///
/// ```ignore
/// let Some(nginx) = nginx_or_skip() else { return };
/// ```
pub fn nginx_or_skip() -> Option<Nginx> {
    nginx_with_or_skip(Options::default())
}

/// Like [`nginx_or_skip`], with extra server blocks or files.
pub fn nginx_with_or_skip(options: Options) -> Option<Nginx> {
    interop::or_skip("nginx", || Nginx::start(options))
}

/// What a server block is rendered with.
#[derive(Debug, Clone, Copy)]
pub struct ServerCtx<'a> {
    /// The prefix directory (config, logs, temp files).
    pub prefix: &'a Path,
    /// The document root with the generated files.
    pub html: &'a Path,
    /// The loopback port this block must listen on.
    pub port: u16,
}

/// An extra `server { … }` block, rendered once its port is known.
pub struct ExtraServer {
    /// How tests find its port: [`Nginx::port_of`].
    pub name: &'static str,
    /// Renders the whole `server { … }` block.
    pub block: Box<dyn Fn(&ServerCtx<'_>) -> String + Send>,
}

/// Additions to the standard setup.
#[derive(Default)]
pub struct Options {
    /// More server blocks inside `http { }`, each on its own port.
    pub extra_servers: Vec<ExtraServer>,
    /// More files to write, relative to the prefix (certificates, content).
    pub extra_files: Vec<(PathBuf, Vec<u8>)>,
}

/// A running nginx. Killed, and its prefix removed, on drop.
pub struct Nginx {
    // Dropped first: the process dies before its directory goes.
    daemon: Daemon,
    port: u16,
    extra_ports: Vec<(&'static str, u16)>,
    html: PathBuf,
    dir: TempDir,
}

impl Nginx {
    /// Writes the prefix and starts nginx on fresh loopback ports.
    pub fn start(options: Options) -> Result<Nginx, StartError> {
        let bin = interop::find_binary("nginx", &["/usr/sbin/nginx"]).ok_or_else(|| {
            StartError::Missing(
                "no /usr/sbin/nginx and no nginx on PATH; the Debian package is nginx-light"
                    .to_owned(),
            )
        })?;
        let dir = TempDir::new("nginx");
        let prefix = dir.path().to_owned();
        let html = prefix.join("html");
        write_prefix(&prefix, &html, &options.extra_files)
            .map_err(|e| StartError::Failed(format!("writing {}: {e}", prefix.display())))?;

        let mut last_failure = String::new();
        for _ in 0..PORT_ATTEMPTS {
            let ports = free_ports(1 + options.extra_servers.len());
            let ctx = |port| ServerCtx {
                prefix: &prefix,
                html: &html,
                port,
            };
            let extra: Vec<String> = options
                .extra_servers
                .iter()
                .zip(&ports[1..])
                .map(|(s, &port)| (s.block)(&ctx(port)))
                .collect();
            let conf = config(&ctx(ports[0]), &extra);
            let conf_path = prefix.join("nginx.conf");
            std::fs::write(&conf_path, conf)
                .map_err(|e| StartError::Failed(format!("writing nginx.conf: {e}")))?;

            // Only this attempt's messages in the report.
            let _ = std::fs::remove_file(prefix.join("logs/error.log"));
            let mut cmd = Command::new(&bin);
            cmd.arg("-p").arg(&prefix).arg("-c").arg(&conf_path);
            let mut daemon = Daemon::spawn(cmd, &prefix.join("logs/stderr.log"))?;
            let addrs: Vec<SocketAddr> = ports
                .iter()
                .map(|&p| SocketAddr::from((Ipv4Addr::LOCALHOST, p)))
                .collect();
            let ready = daemon
                .wait_for_tcp(&addrs, START_TIMEOUT, &[ADDR_IN_USE])
                .and_then(|()| serves_this_instance(addrs[0], &prefix));
            match ready {
                Ok(()) => {
                    return Ok(Nginx {
                        daemon,
                        port: ports[0],
                        extra_ports: options
                            .extra_servers
                            .iter()
                            .map(|s| s.name)
                            .zip(ports[1..].iter().copied())
                            .collect(),
                        html,
                        dir,
                    });
                }
                Err(why) => {
                    drop(daemon);
                    let logs = format!(
                        "{}{}",
                        std::fs::read_to_string(prefix.join("logs/stderr.log")).unwrap_or_default(),
                        std::fs::read_to_string(prefix.join("logs/error.log")).unwrap_or_default()
                    );
                    let report = format!(
                        "{} -p {} -c {}: {why}\n--- nginx output ---\n{logs}",
                        bin.display(),
                        prefix.display(),
                        conf_path.display()
                    );
                    if !logs.contains(ADDR_IN_USE) && !why.contains(interop::TAKEN) {
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

    /// The main server's address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// `http://127.0.0.1:<port><path>` on the main server.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr())
    }

    /// The port of an extra server block, by its name.
    pub fn port_of(&self, name: &str) -> u16 {
        self.extra_ports
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("no extra server named {name:?}"))
            .1
    }

    /// The prefix directory.
    pub fn prefix(&self) -> &Path {
        self.dir.path()
    }

    /// The document root.
    pub fn html_dir(&self) -> &Path {
        &self.html
    }

    /// A file under the document root, as it is on disk now.
    pub fn file(&self, name: &str) -> Vec<u8> {
        let path = self.html.join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
    }

    /// What `GET /chunked.shtml` must return, built from the files on disk.
    pub fn ssi_expected(&self) -> Vec<u8> {
        let mut out = b"begin\n".to_vec();
        out.extend(self.file(SMALL));
        out.extend(format!("middle {SSI_GREETING}\n").as_bytes());
        out.extend(self.file(RANDOM_1M));
        out.extend(b"end\n");
        out
    }

    /// nginx's error log and console output so far (for failure messages).
    pub fn logs(&self) -> String {
        let error_log =
            std::fs::read_to_string(self.prefix().join("logs/error.log")).unwrap_or_default();
        format!("{}{error_log}", self.daemon.output())
    }

    /// The nginx process id.
    pub fn pid(&self) -> u32 {
        self.daemon.pid()
    }
}

/// Whether the server on `addr` is the nginx of `prefix`: its
/// `/.instance` answers with the prefix (see [`interop::TAKEN`]). The
/// nginx that loses a bind retries it for 2.5 s, logging to its error log,
/// not to the output `wait_for_tcp` watches, so without this check the
/// loser's test would run against the other test's nginx and see it
/// killed mid-test (the likely cause of a connection reset seen once in
/// CI). nginx binds every listen socket before it serves any, so the main
/// port answering for this prefix vouches for the extra ones too.
fn serves_this_instance(addr: SocketAddr, prefix: &Path) -> Result<(), String> {
    let response =
        interop::http_probe(addr, b"GET /.instance HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
    let want = prefix.to_str().expect("temp paths are UTF-8").as_bytes();
    if response.starts_with(b"HTTP/1.1 200 ") && response.ends_with(want) {
        Ok(())
    } else {
        Err(format!("{} {addr}", interop::TAKEN))
    }
}

/// Ports free at the same moment, all distinct.
fn free_ports(n: usize) -> Vec<u16> {
    let held: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("binding 127.0.0.1:0"))
        .collect();
    held.iter()
        .map(|l| l.local_addr().expect("local_addr").port())
        .collect()
}

fn write_prefix(
    prefix: &Path,
    html: &Path,
    extra_files: &[(PathBuf, Vec<u8>)],
) -> std::io::Result<()> {
    for d in ["logs", "tmp", "html/upload"] {
        std::fs::create_dir_all(prefix.join(d))?;
    }
    std::fs::write(html.join(SMALL), SMALL_TEXT)?;
    std::fs::write(html.join(EMPTY), "")?;
    std::fs::write(html.join(RANDOM_1M), interop::pseudo_random(1 << 20, 1))?;
    std::fs::write(html.join(BIG_8M), interop::pseudo_random(BIG_LEN, 8))?;
    std::fs::write(html.join(SSI), SSI_TEMPLATE)?;
    for (rel, bytes) in extra_files {
        let path = prefix.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, bytes)?;
    }
    Ok(())
}

/// A path as an nginx config string literal.
pub fn quoted(path: &Path) -> String {
    let s = path.to_str().expect("temp paths are UTF-8");
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The locations of the main server, for reuse in extra server blocks.
pub fn standard_locations(ctx: &ServerCtx<'_>) -> String {
    let html = quoted(ctx.html);
    let html_slash = quoted(&ctx.html.join(""));
    format!(
        r#"
        root {html};
        location ~ \.shtml$ {{
            ssi on;
        }}
        location = /post {{
            default_type text/plain;
            return 200 "posted\n";
        }}
        location = /no-content {{
            return 204;
        }}
        location /upload/ {{
            dav_methods PUT DELETE;
            create_full_put_path on;
            client_max_body_size 64m;
        }}
        location /short-keepalive/ {{
            alias {html_slash};
            keepalive_timeout 500ms;
        }}
        location /two-per-conn/ {{
            alias {html_slash};
            keepalive_requests 2;
        }}
"#
    )
}

/// The whole `nginx.conf`: the main server on `ctx.port`, then `extra`
/// server blocks as given.
pub fn config(ctx: &ServerCtx<'_>, extra: &[String]) -> String {
    let p = |rel: &str| quoted(&ctx.prefix.join(rel));
    format!(
        r#"# Written by tests/support/nginx.rs for one test run.
daemon off;
master_process off;
pid {pid};
error_log {error_log} notice;

events {{
    worker_connections 1024;
}}

http {{
    access_log off;
    types {{
        text/html html shtml;
        text/plain txt;
        application/octet-stream bin;
    }}
    default_type application/octet-stream;
    sendfile on;
    keepalive_requests 100000;
    keepalive_timeout 75s;
    client_body_temp_path {body_tmp};
    proxy_temp_path {proxy_tmp};
    fastcgi_temp_path {fastcgi_tmp};
    uwsgi_temp_path {uwsgi_tmp};
    scgi_temp_path {scgi_tmp};

    server {{
        listen 127.0.0.1:{port};
        server_name localhost;
        location = /.instance {{
            default_type text/plain;
            return 200 {instance};
        }}
{locations}
    }}
{extra}
}}
"#,
        pid = p("nginx.pid"),
        error_log = p("logs/error.log"),
        body_tmp = p("tmp/client_body"),
        proxy_tmp = p("tmp/proxy"),
        fastcgi_tmp = p("tmp/fastcgi"),
        uwsgi_tmp = p("tmp/uwsgi"),
        scgi_tmp = p("tmp/scgi"),
        port = ctx.port,
        instance = quoted(ctx.prefix),
        locations = standard_locations(ctx),
        extra = extra.join("\n"),
    )
}

//! Every limit and timeout of the client in one struct, each with a
//! documented default (DESIGN.md principle 4: everything is bounded).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// Limits and timeouts. Build with `Config::default()` and change fields,
/// or through [`ClientBuilder`](crate::ClientBuilder).
///
/// ```
/// use std::time::Duration;
/// use roundtrip::{Client, Config, IpFamily};
///
/// let mut config = Config::default();
/// config.total_timeout = Some(Duration::from_secs(30));
/// config.ip_family = IpFamily::V4Only;
/// config.max_idle_per_host = 2;
/// let client = Client::builder().config(config).build();
/// assert_eq!(client.config().max_idle_per_host, 2);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// Largest response head (status line and fields), and largest 1xx
    /// head, in bytes. Default 64 KiB.
    pub max_head_size: usize,
    /// Most fields in one response head. Default 100.
    pub max_headers: usize,
    /// Most informational (1xx) responses before the final one. Default 20.
    pub max_1xx_responses: usize,
    /// Longest chunk-size line, extensions included. Default 4 KiB.
    pub max_chunk_line: usize,
    /// Largest chunked trailer section. Default 16 KiB.
    pub max_trailer_size: usize,
    /// Receive buffer per connection: reading from the socket stops when
    /// this much response data waits for the caller (back-pressure).
    /// Default 512 KiB; grown to `max_head_size` if that is larger. A new
    /// connection's buffer starts at 16 KiB (or this, if smaller) and
    /// doubles up to this size only as reads fill it, so small responses
    /// never use more; a large body is then read in large pieces, which
    /// halved the kernel time of a 256 MiB download against 64 KiB
    /// (docs/benchmarks.md). A buffer kept for reuse is cut back to 64 KiB.
    /// A caller buffer at least this large given to `Body::read_body` is
    /// read into straight from the socket instead (plain TCP, Content-Length
    /// or close-delimited bodies).
    pub recv_buffer_size: usize,
    /// How much of a streaming request body is read per step. Default 16 KiB.
    pub send_chunk_size: usize,
    /// Idle connections kept per (scheme, host, port). Default 8.
    pub max_idle_per_host: usize,
    /// Idle connections kept in all. Default 100 (Go's `MaxIdleConns`).
    pub max_idle: usize,
    /// How long an idle connection is kept. Default 90 s (Go's).
    pub idle_timeout: Duration,
    /// A pooled connection idle for at least this long is checked before
    /// reuse with one non-blocking poll of the loop, so that a close or a
    /// stray response the server already sent is noticed before a request
    /// is written behind it. Requests that follow each other more closely
    /// skip the check and its system call; a server closing within that
    /// window is met by the retry rules instead. Default 1 ms; zero checks
    /// every time.
    pub idle_probe_after: Duration,
    /// Which address families to connect to (curl's `-4`/`-6`). Default
    /// both.
    pub ip_family: IpFamily,
    /// Happy Eyeballs Connection Attempt Delay (RFC 8305 §5): how long an
    /// attempt runs alone before the next one starts. Default 250 ms;
    /// values under 10 ms are raised to 10 ms.
    pub happy_eyeballs_delay: Duration,
    /// Happy Eyeballs Resolution Delay (RFC 8305 §3): how long to wait for
    /// AAAA after A answered first. Default 50 ms.
    pub resolution_delay: Duration,
    /// Addresses of the preferred family tried before the other family's
    /// first (RFC 8305 §4). Default 1.
    pub first_family_count: usize,
    /// How long the family that won a race to a host is preferred for that
    /// host (RFC 8305 §5). Default 10 min; zero disables it.
    pub family_memory: Duration,
    /// Hosts remembered for `family_memory`. Default 256.
    pub family_memory_size: usize,
    /// Trust the Mozilla root store bundled by webpki-roots. Default true;
    /// false trusts only `tls_ca_files`.
    pub tls_builtin_roots: bool,
    /// Trust the operating system's certificate store too. Needs the
    /// `native-roots` cargo feature; default true when it is built, false
    /// otherwise (asking for it without the feature is a TLS configuration
    /// error).
    pub tls_native_roots: bool,
    /// PEM files of extra CA certificates to trust. Default none.
    pub tls_ca_files: Vec<PathBuf>,
    /// A client certificate chain and its private key (PEM files), for
    /// servers that ask for one (mutual TLS). Default none.
    pub tls_client_cert: Option<(PathBuf, PathBuf)>,
    /// DANGER: accept any server certificate (still checking handshake
    /// signatures). For tests and debugging only, never the default
    /// (curl's `-k`).
    pub tls_danger_accept_invalid_certs: bool,
    /// Limit on the TLS handshake. Default 10 s (Go's).
    pub tls_handshake_timeout: Duration,
    /// Proxies: from the environment (default), off, or given.
    pub proxy: crate::proxy::ProxyConfig,
    /// Follow redirects (3xx with `Location`). Default false, as curl.
    pub follow_redirects: bool,
    /// Most redirects followed for one request. Default 10.
    pub max_redirects: usize,
    /// Follow a redirect from https to http. Default false.
    pub allow_https_downgrade: bool,
    /// Limit on waiting for the final response head, from the moment the
    /// request is written. Default 5 min; `None` waits forever.
    pub response_header_timeout: Option<Duration>,
    /// Limit on a pause in the response body (no byte for this long while
    /// the caller is reading). Default 5 min; `None` waits forever.
    pub body_idle_timeout: Option<Duration>,
    /// Limit on the whole request, from submission to the body's end.
    /// Default none (a large download may take hours).
    pub total_timeout: Option<Duration>,
    /// Limit on establishing a connection (all attempts). Default 30 s.
    pub connect_timeout: Duration,
    /// How long to wait for `100 Continue` before sending the body anyway.
    /// Default 1 s (Go's `ExpectContinueTimeout`).
    pub expect_continue_timeout: Duration,
    /// `User-Agent` sent when the request has none; `None` sends none.
    /// Default `roundtrip/<version>`.
    pub user_agent: Option<String>,
    /// The hosts file to read at client start; `None` reads none.
    /// Default `/etc/hosts`.
    pub hosts_file: Option<PathBuf>,
    /// Extra name → address entries, consulted with the hosts file.
    /// Default empty.
    pub hosts: Vec<(String, IpAddr)>,
    /// Pinned addresses for (host, port), like curl's `--resolve`: requests
    /// to that host and port skip name resolution. Default empty.
    pub resolve: Vec<(String, u16, Vec<IpAddr>)>,
    /// The resolv.conf to read at client start; `None` reads none (and the
    /// defaults apply: 127.0.0.1:53). Default `/etc/resolv.conf`.
    pub resolv_conf: Option<PathBuf>,
    /// DNS servers to ask, replacing resolv.conf's `nameserver` lines.
    pub dns_servers: Option<Vec<SocketAddr>>,
    /// Search domains, replacing resolv.conf's `search`/`domain` (and the
    /// domain of the machine's host name, which is searched, as glibc does,
    /// when resolv.conf has neither).
    pub dns_search: Option<Vec<String>>,
    /// Replaces resolv.conf's `ndots` (default there: 1).
    pub dns_ndots: Option<u8>,
    /// Replaces resolv.conf's per-try `timeout` (default there: 5 s).
    pub dns_timeout: Option<Duration>,
    /// Replaces resolv.conf's `attempts` (default there: 2).
    pub dns_attempts: Option<u32>,
    /// EDNS0 UDP payload size advertised in queries (RFC 6891; 1232 is the
    /// DNS Flag Day 2020 value). Default 1232: EDNS is on unless this is
    /// `None`, which sends no OPT record (`Some(0)` still sends one; servers
    /// read sizes under 512 as 512, RFC 6891 §6.2.5). resolv.conf's
    /// `options edns0` is accepted and changes nothing, EDNS being the
    /// default. A server that answers FORMERR to a query with the OPT record
    /// is asked again without it, and without it for the rest of that
    /// lookup (RFC 6891 §7).
    pub dns_udp_payload: Option<u16>,
    /// Answers kept in the DNS cache. Default 512.
    pub dns_cache_size: usize,
    /// Cap on how long a positive answer is cached. Default 1 hour.
    pub dns_cache_max_ttl: Duration,
    /// Cap on how long NXDOMAIN/NODATA is cached (RFC 2308). Default 5 min.
    pub dns_negative_max_ttl: Duration,
    /// Longest CNAME chain followed inside one answer. Default 8.
    pub max_cname_chain: usize,
}

/// Per-request settings that override the client's [`Config`]: attach
/// them to the request with
/// `request.extensions_mut().insert(RequestOptions::new().total_timeout(..))`.
///
/// ```no_run
/// use std::time::Duration;
/// use roundtrip::RequestOptions;
///
/// let client = roundtrip::Client::new();
/// let mut request = http::Request::get("http://127.0.0.1:8080/slow").body(())?;
/// request.extensions_mut().insert(
///     RequestOptions::new()
///         .total_timeout(Some(Duration::from_secs(2)))
///         .follow_redirects(true),
/// );
/// let response = client.send(request)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestOptions {
    pub(crate) connect_timeout: Option<Duration>,
    pub(crate) tls_handshake_timeout: Option<Duration>,
    pub(crate) response_header_timeout: Option<Option<Duration>>,
    pub(crate) body_idle_timeout: Option<Option<Duration>>,
    pub(crate) total_timeout: Option<Option<Duration>>,
    pub(crate) follow_redirects: Option<bool>,
    pub(crate) max_redirects: Option<usize>,
}

impl RequestOptions {
    /// No overrides.
    pub fn new() -> RequestOptions {
        RequestOptions::default()
    }
    /// Overrides `Config::connect_timeout`.
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = Some(d);
        self
    }
    /// Overrides `Config::tls_handshake_timeout`.
    pub fn tls_handshake_timeout(mut self, d: Duration) -> Self {
        self.tls_handshake_timeout = Some(d);
        self
    }
    /// Overrides `Config::response_header_timeout` (`None`: no limit).
    pub fn response_header_timeout(mut self, d: Option<Duration>) -> Self {
        self.response_header_timeout = Some(d);
        self
    }
    /// Overrides `Config::body_idle_timeout` (`None`: no limit).
    pub fn body_idle_timeout(mut self, d: Option<Duration>) -> Self {
        self.body_idle_timeout = Some(d);
        self
    }
    /// Overrides `Config::follow_redirects`.
    pub fn follow_redirects(mut self, follow: bool) -> Self {
        self.follow_redirects = Some(follow);
        self
    }
    /// Overrides `Config::max_redirects`.
    pub fn max_redirects(mut self, n: usize) -> Self {
        self.max_redirects = Some(n);
        self
    }
    /// Overrides `Config::total_timeout` (`None`: no limit).
    pub fn total_timeout(mut self, d: Option<Duration>) -> Self {
        self.total_timeout = Some(d);
        self
    }
}

/// The timeouts in force for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timeouts {
    pub connect: Duration,
    pub tls_handshake: Duration,
    pub response_header: Option<Duration>,
    pub body_idle: Option<Duration>,
    pub total: Option<Duration>,
    /// Redirects to follow at most (`None`: do not follow).
    pub redirects: Option<usize>,
}

impl Timeouts {
    pub fn resolve(config: &Config, opts: Option<&RequestOptions>) -> Timeouts {
        let o = opts.cloned().unwrap_or_default();
        Timeouts {
            connect: o.connect_timeout.unwrap_or(config.connect_timeout),
            tls_handshake: o
                .tls_handshake_timeout
                .unwrap_or(config.tls_handshake_timeout),
            response_header: o
                .response_header_timeout
                .unwrap_or(config.response_header_timeout),
            body_idle: o.body_idle_timeout.unwrap_or(config.body_idle_timeout),
            total: o.total_timeout.unwrap_or(config.total_timeout),
            redirects: o
                .follow_redirects
                .unwrap_or(config.follow_redirects)
                .then(|| o.max_redirects.unwrap_or(config.max_redirects)),
        }
    }
}

/// Address families a client may connect to.
///
/// ```
/// use roundtrip::{Client, IpFamily};
///
/// // curl -4: only A records are used, only IPv4 is dialled.
/// let client = Client::builder()
///     .configure(|c| c.ip_family = IpFamily::V4Only)
///     .build();
/// assert_eq!(client.config().ip_family, IpFamily::V4Only);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IpFamily {
    /// IPv6 and IPv4, raced (Happy Eyeballs).
    #[default]
    Any,
    /// IPv4 only (curl's `-4`).
    V4Only,
    /// IPv6 only (curl's `-6`).
    V6Only,
}

impl Config {
    /// How large a connection's receive buffer may grow: `recv_buffer_size`,
    /// but never less than a whole head needs.
    pub(crate) fn recv_storage_size(&self) -> usize {
        self.recv_buffer_size.max(self.max_head_size).max(1024)
    }

    /// The resolver's settings: resolv.conf (if any) with this config's
    /// overrides applied. When resolv.conf is read and has no `search` or
    /// `domain` line, and `dns_search` is `None`, the search list is the
    /// domain of the host name (from `/proc/sys/kernel/hostname`), as glibc
    /// does.
    pub fn dns_settings(&self) -> crate::dns::Settings {
        let conf = match &self.resolv_conf {
            Some(path) => {
                // The host name only feeds the search list; skip reading it
                // when the search list is given here.
                let hostname = match self.dns_search {
                    Some(_) => None,
                    None => crate::dns::conf::system_hostname(),
                };
                crate::dns::ResolvConf::load(path, hostname.as_deref())
            }
            None => crate::dns::ResolvConf::default(),
        };
        crate::dns::Settings {
            nameservers: self.dns_servers.clone().unwrap_or(conf.nameservers),
            search: self.dns_search.clone().unwrap_or(conf.search),
            ndots: self.dns_ndots.unwrap_or(conf.ndots),
            timeout: self.dns_timeout.unwrap_or(conf.timeout),
            attempts: self.dns_attempts.unwrap_or(conf.attempts),
            rotate: conf.rotate,
            edns_payload: self.dns_udp_payload,
            max_cname_chain: self.max_cname_chain,
            cache_size: self.dns_cache_size,
            cache_max_ttl: self.dns_cache_max_ttl,
            negative_max_ttl: self.dns_negative_max_ttl,
        }
    }
}

impl Default for Config {
    fn default() -> Config {
        Config {
            max_head_size: 64 * 1024,
            max_headers: 100,
            max_1xx_responses: 20,
            max_chunk_line: 4 * 1024,
            max_trailer_size: 16 * 1024,
            recv_buffer_size: 512 * 1024,
            send_chunk_size: 16 * 1024,
            max_idle_per_host: 8,
            max_idle: 100,
            idle_timeout: Duration::from_secs(90),
            idle_probe_after: Duration::from_millis(1),
            ip_family: IpFamily::Any,
            happy_eyeballs_delay: Duration::from_millis(250),
            resolution_delay: Duration::from_millis(50),
            first_family_count: 1,
            family_memory: Duration::from_secs(600),
            family_memory_size: 256,
            tls_builtin_roots: true,
            tls_native_roots: cfg!(feature = "native-roots"),
            tls_ca_files: Vec::new(),
            tls_client_cert: None,
            tls_danger_accept_invalid_certs: false,
            tls_handshake_timeout: Duration::from_secs(10),
            proxy: crate::proxy::ProxyConfig::Environment,
            follow_redirects: false,
            max_redirects: 10,
            allow_https_downgrade: false,
            response_header_timeout: Some(Duration::from_secs(300)),
            body_idle_timeout: Some(Duration::from_secs(300)),
            total_timeout: None,
            connect_timeout: Duration::from_secs(30),
            expect_continue_timeout: Duration::from_secs(1),
            user_agent: Some(concat!("roundtrip/", env!("CARGO_PKG_VERSION")).to_owned()),
            hosts_file: Some(PathBuf::from("/etc/hosts")),
            hosts: Vec::new(),
            resolve: Vec::new(),
            resolv_conf: Some(PathBuf::from("/etc/resolv.conf")),
            dns_servers: None,
            dns_search: None,
            dns_ndots: None,
            dns_timeout: None,
            dns_attempts: None,
            dns_udp_payload: Some(1232),
            dns_cache_size: 512,
            dns_cache_max_ttl: Duration::from_secs(3600),
            dns_negative_max_ttl: Duration::from_secs(300),
            max_cname_chain: 8,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A resolv.conf in the temp directory, removed when dropped.
    struct TempConf(PathBuf);

    impl TempConf {
        fn new(tag: &str, text: &str) -> TempConf {
            let path = std::env::temp_dir().join(format!(
                "roundtrip-resolv-{}-{tag}.conf",
                std::process::id()
            ));
            std::fs::write(&path, text).unwrap();
            TempConf(path)
        }
    }

    impl Drop for TempConf {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    const FILE: &str = "nameserver 192.0.2.1\nnameserver 192.0.2.2\nsearch file.example\n\
                        options ndots:3 timeout:2 attempts:4 rotate\n";

    #[test]
    fn resolv_conf_values_apply_where_config_does_not_override() {
        let file = TempConf::new("plain", FILE);
        let config = Config {
            resolv_conf: Some(file.0.clone()),
            ..Config::default()
        };
        let s = config.dns_settings();
        let ns: Vec<String> = s.nameservers.iter().map(|a| a.to_string()).collect();
        assert_eq!(ns, ["192.0.2.1:53", "192.0.2.2:53"]);
        assert_eq!(s.search, ["file.example"]);
        assert_eq!((s.ndots, s.attempts, s.rotate), (3, 4, true));
        assert_eq!(s.timeout, Duration::from_secs(2));
        // Not from resolv.conf at all.
        assert_eq!(s.edns_payload, Some(1232));
        assert_eq!(s.cache_size, 512);
    }

    #[test]
    fn config_overrides_win_over_resolv_conf() {
        let file = TempConf::new("overridden", FILE);
        let mut config = Config {
            resolv_conf: Some(file.0.clone()),
            dns_servers: Some(vec!["127.0.0.1:5353".parse().unwrap()]),
            dns_search: Some(Vec::new()),
            dns_timeout: Some(Duration::from_millis(300)),
            dns_udp_payload: None,
            ..Config::default()
        };
        let s = config.dns_settings();
        // Overridden: servers (with their port), an empty search list,
        // the timeout, EDNS off.
        assert_eq!(s.nameservers, ["127.0.0.1:5353".parse().unwrap()]);
        assert!(s.search.is_empty());
        assert_eq!(s.timeout, Duration::from_millis(300));
        assert_eq!(s.edns_payload, None);
        // Still the file's: ndots, attempts, rotate (no Config field).
        assert_eq!((s.ndots, s.attempts, s.rotate), (3, 4, true));

        config.dns_ndots = Some(0);
        config.dns_attempts = Some(1);
        let s = config.dns_settings();
        assert_eq!((s.ndots, s.attempts), (0, 1));
    }

    #[test]
    fn without_resolv_conf_the_defaults_apply() {
        let config = Config {
            resolv_conf: None,
            ..Config::default()
        };
        let s = config.dns_settings();
        assert_eq!(s.nameservers, ["127.0.0.1:53".parse().unwrap()]);
        // No host-name domain either: that fallback belongs to reading the
        // system's configuration.
        assert!(s.search.is_empty());
        assert_eq!((s.ndots, s.attempts, s.rotate), (1, 2, false));
        assert_eq!(s.timeout, Duration::from_secs(5));
    }
}

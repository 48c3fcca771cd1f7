//! Which proxy a request goes through: configured, or from the environment
//! by the usual conventions (`http_proxy`, `https_proxy`, `all_proxy`,
//! `no_proxy`; lower case wins over upper case; `HTTP_PROXY` is ignored
//! when `REQUEST_METHOD` is set, against httpoxy, as curl and Go do), and
//! the `no_proxy` list (`*`, domain suffixes with or without a leading dot,
//! IP addresses, CIDR ranges, optional ports). Pure functions: the
//! environment is passed in.

use std::net::IpAddr;

use http::{HeaderValue, Uri};

use crate::error::{Error, ErrorKind, Phase, Result};

/// An HTTP proxy (`http://[user:password@]host[:port]`).
///
/// ```
/// let proxy = roundtrip::proxy::parse_proxy("http://proxy.corp:3128")?;
/// assert_eq!((proxy.host.as_str(), proxy.port), ("proxy.corp", 3128));
/// assert!(proxy.authorization.is_none());
/// # Ok::<(), roundtrip::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proxy {
    /// The proxy's host (no brackets).
    pub host: String,
    /// The proxy's port (default 1080, as curl).
    pub port: u16,
    /// `Proxy-Authorization: Basic …` from the URL's userinfo.
    pub authorization: Option<HeaderValue>,
    /// The URL as given, credentials removed (for traces).
    pub display: String,
}

/// Where proxies come from.
///
/// ```
/// use roundtrip::{proxy::ProxyConfig, Client};
///
/// let client = Client::builder()
///     .configure(|c| {
///         c.proxy = ProxyConfig::Manual {
///             http: Some("http://proxy.corp:3128".into()),
///             https: Some("http://proxy.corp:3128".into()), // CONNECT tunnels
///             no_proxy: "localhost,127.0.0.1,.internal".into(),
///         }
///     })
///     .build();
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ProxyConfig {
    /// From `http_proxy`, `https_proxy`, `all_proxy` and `no_proxy` (and
    /// their upper-case forms), read when the client is built. Default.
    #[default]
    Environment,
    /// No proxy at all.
    Off,
    /// These proxies (URLs) and this `no_proxy` list.
    Manual {
        /// For `http://` targets.
        http: Option<String>,
        /// For `https://` targets (through a CONNECT tunnel).
        https: Option<String>,
        /// Hosts reached directly, in `no_proxy` syntax.
        no_proxy: String,
    },
}

/// The proxies in force for a client.
///
/// ```
/// use roundtrip::proxy::{Proxies, ProxyConfig};
///
/// // The environment is passed in as a function: here a made-up one.
/// let env = |name: &str| match name {
///     "http_proxy" => Some("http://proxy.corp:3128".to_owned()),
///     "no_proxy" => Some("localhost,.internal,10.0.0.0/8".to_owned()),
///     _ => None,
/// };
/// let proxies = Proxies::resolve(&ProxyConfig::Environment, env)?;
/// assert_eq!(proxies.for_target(false, "example.com", 80).unwrap().host, "proxy.corp");
/// assert!(proxies.for_target(false, "wiki.internal", 80).is_none()); // domain suffix
/// assert!(proxies.for_target(false, "10.1.2.3", 80).is_none()); // CIDR range
/// assert!(proxies.for_target(true, "example.com", 443).is_none()); // no https_proxy
/// # Ok::<(), roundtrip::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Proxies {
    http: Option<Proxy>,
    https: Option<Proxy>,
    no_proxy: Vec<NoProxy>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum NoProxy {
    All,
    Domain(String, Option<u16>),
    Ip(IpAddr, Option<u16>),
    Cidr(IpAddr, u8),
}

fn bad(what: String) -> Error {
    Error::new(Phase::Request, ErrorKind::InvalidProxy(what))
}

/// Parses a proxy URL; a URL without a scheme is `http://`.
///
/// ```
/// use roundtrip::proxy::parse_proxy;
///
/// let proxy = parse_proxy("http://alice:s3cret@proxy.corp:3128")?;
/// assert_eq!(proxy.display, "http://proxy.corp:3128"); // no credentials in traces
/// assert_eq!(proxy.authorization.unwrap(), "Basic YWxpY2U6czNjcmV0");
/// assert_eq!(parse_proxy("proxy.corp")?.port, 1080); // http:// and curl's port
/// assert!(parse_proxy("socks5://proxy.corp").is_err());
/// # Ok::<(), roundtrip::Error>(())
/// ```
pub fn parse_proxy(url: &str) -> Result<Proxy> {
    let full = if url.contains("://") {
        url.to_owned()
    } else {
        format!("http://{url}")
    };
    let uri: Uri = full.parse().map_err(|_| bad_url(url, " is not a URL"))?;
    if uri.scheme_str() != Some("http") {
        return Err(bad_url(url, ": only http:// proxies are supported"));
    }
    let authority = uri
        .authority()
        .ok_or_else(|| bad_url(url, " has no host"))?;
    let (userinfo, hostport) = match authority.as_str().rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority.as_str()),
    };
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    if host.is_empty() {
        return Err(bad_url(url, " has no host"));
    }
    let authorization = userinfo.map(|u| {
        let decoded = percent_decode(u);
        let value = format!("Basic {}", base64(&decoded));
        HeaderValue::from_str(&value).expect("base64 is a valid header value")
    });
    Ok(Proxy {
        host: host.to_ascii_lowercase(),
        port: authority.port_u16().unwrap_or(1080),
        authorization,
        display: format!("http://{hostport}"),
    })
}

/// A proxy URL refused, quoted, and why (one formatting site for all).
#[cold]
#[inline(never)]
fn bad_url(url: &str, why: &str) -> Error {
    bad(format!("{url:?}{why}"))
}

impl ProxyConfig {
    /// What [`ProxyConfig::Environment`] stands for, read through `env` now:
    /// the proxy URLs and `no_proxy` list the conventions pick, as a
    /// [`ProxyConfig::Manual`]. For a caller that keeps the environment's
    /// proxies but replaces part of it, as the CLI's `--noproxy` replaces
    /// `no_proxy`.
    ///
    /// ```
    /// use roundtrip::proxy::ProxyConfig;
    ///
    /// let env = |name: &str| match name {
    ///     "all_proxy" => Some("http://proxy.corp:3128".to_owned()),
    ///     "HTTP_PROXY" => Some("http://evil:1".to_owned()),
    ///     "REQUEST_METHOD" => Some("GET".to_owned()), // a CGI program: httpoxy
    ///     _ => None,
    /// };
    /// let ProxyConfig::Manual { http, https, no_proxy } = ProxyConfig::from_environment(env) else {
    ///     unreachable!()
    /// };
    /// assert_eq!(http.as_deref(), Some("http://proxy.corp:3128"));
    /// assert_eq!(https.as_deref(), Some("http://proxy.corp:3128"));
    /// assert_eq!(no_proxy, "");
    /// ```
    pub fn from_environment(env: impl Fn(&str) -> Option<String>) -> ProxyConfig {
        let var = |lower: &str, upper: &str| {
            env(lower)
                .or_else(|| env(upper))
                .filter(|v| !v.trim().is_empty())
        };
        // httpoxy: in a CGI program HTTP_PROXY is a request header.
        let http = if env("REQUEST_METHOD").is_some() {
            env("http_proxy").filter(|v| !v.trim().is_empty())
        } else {
            var("http_proxy", "HTTP_PROXY")
        };
        let all = var("all_proxy", "ALL_PROXY");
        let https = var("https_proxy", "HTTPS_PROXY").or_else(|| all.clone());
        ProxyConfig::Manual {
            http: http.or(all),
            https,
            no_proxy: var("no_proxy", "NO_PROXY").unwrap_or_default(),
        }
    }
}

impl Proxies {
    /// Resolves a [`ProxyConfig`], reading the environment through `env`.
    pub fn resolve(config: &ProxyConfig, env: impl Fn(&str) -> Option<String>) -> Result<Proxies> {
        match config {
            ProxyConfig::Off => Ok(Proxies::default()),
            ProxyConfig::Manual { .. } => Proxies::manual(config),
            ProxyConfig::Environment => Proxies::manual(&ProxyConfig::from_environment(env)),
        }
    }

    fn manual(config: &ProxyConfig) -> Result<Proxies> {
        let ProxyConfig::Manual {
            http,
            https,
            no_proxy,
        } = config
        else {
            return Ok(Proxies::default());
        };
        Ok(Proxies {
            http: http.as_deref().map(parse_proxy).transpose()?,
            https: https.as_deref().map(parse_proxy).transpose()?,
            no_proxy: parse_no_proxy(no_proxy),
        })
    }

    /// The proxy for a target, or `None` to connect directly.
    pub fn for_target(&self, https: bool, host: &str, port: u16) -> Option<&Proxy> {
        let proxy = if https { &self.https } else { &self.http };
        let proxy = proxy.as_ref()?;
        if self.no_proxy.iter().any(|e| e.matches(host, port)) {
            return None;
        }
        Some(proxy)
    }
}

fn parse_no_proxy(list: &str) -> Vec<NoProxy> {
    list.split([',', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .filter_map(|item| {
            if item == "*" {
                return Some(NoProxy::All);
            }
            if let Some((ip, bits)) = item.split_once('/') {
                let ip = ip
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse()
                    .ok()?;
                return Some(NoProxy::Cidr(ip, bits.parse().ok()?));
            }
            let (name, port) = split_port(item);
            let name = name.trim_start_matches('[').trim_end_matches(']');
            match name.parse::<IpAddr>() {
                Ok(ip) => Some(NoProxy::Ip(ip, port)),
                Err(_) => Some(NoProxy::Domain(
                    name.trim_start_matches('.')
                        .trim_start_matches("*.")
                        .to_ascii_lowercase(),
                    port,
                )),
            }
        })
        .collect()
}

/// `host:port` → (host, port); a bare IPv6 address has no port.
fn split_port(item: &str) -> (&str, Option<u16>) {
    if let Some(rest) = item.strip_prefix('[') {
        if let Some((h, p)) = rest.split_once("]:") {
            return (h, p.parse().ok());
        }
        return (item, None);
    }
    match item.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h, p.parse().ok()),
        _ => (item, None),
    }
}

impl NoProxy {
    fn matches(&self, host: &str, port: u16) -> bool {
        let port_ok = |p: &Option<u16>| p.is_none_or(|p| p == port);
        match self {
            NoProxy::All => true,
            NoProxy::Domain(d, p) => {
                let host = host.trim_end_matches('.').to_ascii_lowercase();
                port_ok(p)
                    && (host == *d
                        || host
                            .strip_suffix(d.as_str())
                            .is_some_and(|h| h.ends_with('.')))
            }
            NoProxy::Ip(ip, p) => port_ok(p) && host.parse::<IpAddr>().is_ok_and(|h| h == *ip),
            NoProxy::Cidr(net, bits) => host
                .parse::<IpAddr>()
                .is_ok_and(|h| in_cidr(h, *net, *bits)),
        }
    }
}

fn in_cidr(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) if bits <= 32 => {
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) if bits <= 128 => {
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// RFC 4648 §4 base64, for `Basic` credentials (RFC 7617).
fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn base64_rfc4648_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
    }

    #[test]
    fn proxy_urls_and_credentials() {
        let p = parse_proxy("http://Aladdin:open%20sesame@Proxy.test:3128").unwrap();
        assert_eq!((p.host.as_str(), p.port), ("proxy.test", 3128));
        assert_eq!(
            p.authorization.unwrap(),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        assert_eq!(p.display, "http://Proxy.test:3128");
        assert_eq!(parse_proxy("127.0.0.1").unwrap().port, 1080);
        assert!(parse_proxy("socks5://x:1").is_err());
        assert!(parse_proxy("http://").is_err());
    }

    #[test]
    fn environment_conventions() {
        let both = [
            ("http_proxy", "http://low:1"),
            ("HTTP_PROXY", "http://up:2"),
        ];
        let p = Proxies::resolve(&ProxyConfig::Environment, env(&both)).unwrap();
        assert_eq!(
            p.for_target(false, "a.test", 80).unwrap().host,
            "low",
            "lower case wins"
        );
        let up = [("HTTP_PROXY", "http://up:2")];
        let p = Proxies::resolve(&ProxyConfig::Environment, env(&up)).unwrap();
        assert_eq!(p.for_target(false, "a.test", 80).unwrap().host, "up");
        let cgi = [("HTTP_PROXY", "http://evil:2"), ("REQUEST_METHOD", "GET")];
        let p = Proxies::resolve(&ProxyConfig::Environment, env(&cgi)).unwrap();
        assert!(p.for_target(false, "a.test", 80).is_none(), "httpoxy");
        let all = [
            ("all_proxy", "http://all:3"),
            ("https_proxy", "http://tls:4"),
        ];
        let p = Proxies::resolve(&ProxyConfig::Environment, env(&all)).unwrap();
        assert_eq!(p.for_target(false, "a.test", 80).unwrap().host, "all");
        assert_eq!(p.for_target(true, "a.test", 443).unwrap().host, "tls");
        assert!(Proxies::resolve(&ProxyConfig::Off, env(&all))
            .unwrap()
            .for_target(false, "a", 80)
            .is_none());
    }

    #[test]
    fn no_proxy_forms() {
        let cfg = ProxyConfig::Manual {
            http: Some("http://p:3128".into()),
            https: None,
            no_proxy: "example.com, .internal.test,192.0.2.7,10.0.0.0/8,[2001:db8::1],::1,web.test:8080,fd00::/8".into(),
        };
        let p = Proxies::resolve(&cfg, env(&[])).unwrap();
        let direct = |h: &str, port: u16| p.for_target(false, h, port).is_none();
        assert!(direct("example.com", 80));
        assert!(direct("www.example.com", 80));
        assert!(!direct("notexample.com", 80));
        assert!(
            direct("internal.test", 80),
            "a leading dot matches the domain too"
        );
        assert!(direct("a.b.internal.test", 80));
        assert!(direct("192.0.2.7", 80));
        assert!(!direct("192.0.2.8", 80));
        assert!(direct("10.1.2.3", 80));
        assert!(!direct("11.1.2.3", 80));
        assert!(direct("2001:db8::1", 80));
        assert!(direct("::1", 80));
        assert!(direct("fd12::5", 80));
        assert!(direct("web.test", 8080));
        assert!(!direct("web.test", 80), "port-specific entry");
        let star = ProxyConfig::Manual {
            http: Some("http://p:3128".into()),
            https: None,
            no_proxy: "*".into(),
        };
        assert!(Proxies::resolve(&star, env(&[]))
            .unwrap()
            .for_target(false, "x", 1)
            .is_none());
    }
}

//! Command-line parsing, by hand and with curl's option names: turns the
//! program's arguments into a [`Command`], or a one-line [`UsageError`].
//!
//! Short options may be bundled (`-sS`) and take their value attached or
//! as the next argument (`-XPOST`, `-X POST`); long options take it as the
//! next argument or after `=` (`--request POST`, `--request=POST`). `--`
//! ends the options. A URL without a scheme gets `http://`, as with curl.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io::Read;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use http::{HeaderName, HeaderValue, Method, Uri};

/// The help text printed by `-h`/`--help`.
pub const HELP: &str = "\
roundtrip - fetch URLs over HTTP/1.1 and show every phase of each round trip

USAGE:
    roundtrip [OPTIONS] URL...
    roundtrip                 (no arguments: a self-contained demo on loopback)
    roundtrip --events        (the demo, with every event as a JSON line on stderr)

The URLs are fetched in order on one client, so later URLs reuse the
connection of earlier ones to the same host. Bodies go to stdout.

OPTIONS:
    -X, --request METHOD     Use METHOD; it also decides the framing of the
                             response (-X HEAD expects no body)
    -I, --head               Send HEAD and print the response head
    -H, --header 'N: v'      Add a request header (repeatable); 'N:' removes
                             a header the command would add, 'N;' sends N empty
    -d, --data DATA          Send DATA in a POST (default Content-Type:
                             application/x-www-form-urlencoded); @FILE reads
                             FILE (@- stdin) without CR and LF; repeated -d
                             are joined with '&'
        --data-binary DATA   Like -d, but @FILE is sent exactly as stored
        --data-raw DATA      Like -d, but '@' is not special
    -o, --output FILE        Write bodies to FILE instead of stdout
    -i, --include            Print the response heads before the body, as
                             received (the server's reason phrase and case):
                             a proxy's CONNECT answer, 1xx heads, and with
                             -L every hop's
    -D, --dump-header FILE   Write the response heads, as -i prints them,
                             to FILE (- for stdout)
    -f, --fail               Fail on an HTTP status of 400 or more: exit 22
                             without writing the body
    -s, --silent             Print no error messages (the exit status still
                             says what happened)
    -S, --show-error         With -s, print error messages anyway
    -Z, --parallel           Fetch all URLs at once on the one event loop
                             (output still comes in argument order)
    -x, --proxy URL          Use the HTTP proxy URL (CONNECT for https);
                             without it, http_proxy/https_proxy/all_proxy
                             from the environment apply
        --noproxy LIST       Hosts reached directly (no_proxy syntax)
    -L, --location           Follow redirects (3xx with Location)
        --max-redirs N       Follow at most N redirects (default 10)
    -w, --write-out FMT      After each transfer print FMT to stdout with
                             curl's %{variables}: time_namelookup,
                             time_connect, time_appconnect, time_pretransfer,
                             time_posttransfer, time_starttransfer,
                             time_total, time_redirect, time_queue,
                             http_code, num_connects, num_redirects,
                             size_download, remote_ip, remote_port, json
        --connect-timeout S  Give up connecting after S seconds (fractions
                             allowed): the limit applies to each step of
                             the connection phase - every DNS query try,
                             the TCP connect (all attempts), a proxy's
                             CONNECT and the TLS handshake; 0 keeps the
                             defaults
    -m, --max-time S         Give up on each request after S seconds; 0
                             means no limit (as curl)
        --cacert FILE        Trust the CA certificates in PEM FILE
                             (repeatable; the built-in roots stay trusted)
        --cert FILE          Client certificate chain (PEM), with --key
        --key FILE           Private key (PEM) for --cert
    -k, --insecure           DANGER: accept any server certificate
    -4, --ipv4               Connect to IPv4 addresses only
    -6, --ipv6               Connect to IPv6 addresses only
        --happy-eyeballs-timeout-ms MS
                             Start the next connection attempt after MS
                             milliseconds without success (default 250,
                             at least 10)
        --dns-servers LIST   Ask these DNS servers (ADDR[:PORT], [V6]:PORT;
                             comma-separated) instead of resolv.conf's
        --resolve H:P:ADDRS  Use ADDRS (comma-separated, [V6] allowed) for
                             host H on port P without looking it up
                             (repeatable)
    -v, --verbose            Print every trace event to stderr as a
                             readable line, timed from its request's start
        --waterfall          Draw each request's phases to stderr (the
                             default when stderr is a terminal, unless -s)
        --waterfall-svg FILE Write every request's waterfall to FILE as an
                             SVG image (whether or not stderr shows it)
        --no-color           No colours in the waterfall (also NO_COLOR)
        --events             Print every trace event to stderr as a JSON line:
                             {\"t_us\":...,\"req\":...,\"event\":\"...\",...}
    -n, --repeat N           Fetch each URL N times, one after the other,
                             and print per phase min, p50, p95, p99, max
                             and a histogram to stdout (bodies discarded)
        --no-keepalive       A new connection for every request
        --har FILE           Write an HTTP Archive (HAR 1.2) of every request
                             and redirect hop, with HAR's timings
        --json               Print one JSON document per request to stdout:
                             url, status, error, timings (as -w '%{json}'),
                             connection and TLS facts, and every event. The
                             body is discarded, unless -o saves it
    -h, --help               Print this help
    -V, --version            Print the version

EXIT STATUS:
    0 success; 2 usage error; otherwise the first failure, curl-like:
    6 host not found, 7 could not connect, 18 body cut short,
    22 HTTP status 400 or more under -f, 23 could not write the output,
    28 timed out, 47 too many redirects, 56 the proxy refused CONNECT,
    1 anything else.
";

/// A usage error: bad option, missing value, bad URL, unreadable file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(
    /// The message, one line, without the program name.
    pub String,
);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn usage<T>(msg: impl Into<String>) -> Result<T, UsageError> {
    Err(UsageError(msg.into()))
}

/// What the program was asked to do.
#[derive(Debug)]
pub enum Command {
    /// Print the help text.
    Help,
    /// Print the version.
    Version,
    /// No arguments at all, or `--events` alone: run the loopback demo,
    /// printing every event as a JSON line to stderr when asked.
    Demo {
        /// `--events` was given.
        events: bool,
    },
    /// Fetch the URLs.
    Fetch(Box<Options>),
}

/// One URL to fetch, as typed and as parsed.
#[derive(Debug, Clone)]
pub struct Target {
    /// The argument as the user typed it (used in error messages).
    pub arg: String,
    /// The parsed URI (`http://` added when the scheme was missing).
    pub uri: Uri,
}

/// One `-H` argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderArg {
    /// `Name: value` (or `Name;` for an empty value): send this field.
    Set(HeaderName, HeaderValue),
    /// `Name:` with nothing after the colon: do not send a field the
    /// command would add on its own (`Content-Type`, `User-Agent`).
    Remove(HeaderName),
}

/// Where the bytes of one `-d` argument come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataSource {
    /// The argument itself.
    Literal(String),
    /// `@FILE`.
    File(PathBuf),
    /// `@-`.
    Stdin,
}

/// One `-d`/`--data-binary`/`--data-raw` argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataArg {
    /// Where its bytes come from.
    pub source: DataSource,
    /// Remove CR and LF from file contents (`-d @FILE`, as curl does).
    pub strip_newlines: bool,
}

/// Everything that shapes a fetch.
#[derive(Debug, Default)]
pub struct Options {
    /// The URLs, in order.
    pub targets: Vec<Target>,
    /// `-X`.
    pub method: Option<Method>,
    /// `-I`.
    pub head: bool,
    /// `-H`, in order.
    pub headers: Vec<HeaderArg>,
    /// `-d` and friends, in order.
    pub data: Vec<DataArg>,
    /// `-o`.
    pub output: Option<PathBuf>,
    /// `-i`.
    pub include: bool,
    /// `-D`: where to write the heads received (`-` for stdout).
    pub dump_header: Option<PathBuf>,
    /// `-f`: an HTTP status of 400 or more fails the transfer (exit 22)
    /// and its body is not written.
    pub fail: bool,
    /// `-s`.
    pub silent: bool,
    /// `-S`.
    pub show_error: bool,
    /// `-Z`.
    pub parallel: bool,
    /// `--events`.
    pub events: bool,
    /// `--json`.
    pub json: bool,
    /// `-n`/`--repeat`: fetch each URL this many times and print
    /// per-phase statistics.
    pub repeat: Option<u32>,
    /// `--no-keepalive`: a new connection for every request.
    pub no_keepalive: bool,
    /// `--har FILE`.
    pub har: Option<PathBuf>,
    /// `--waterfall`.
    pub waterfall: bool,
    /// `--waterfall-svg FILE`.
    pub waterfall_svg: Option<PathBuf>,
    /// `-v`.
    pub verbose: bool,
    /// `--no-color`.
    pub no_color: bool,
    /// `--dns-servers`.
    pub dns_servers: Option<Vec<SocketAddr>>,
    /// `-x`.
    pub proxy: Option<String>,
    /// `--noproxy`.
    pub noproxy: Option<String>,
    /// `-L`.
    pub location: bool,
    /// `--max-redirs`.
    pub max_redirs: Option<usize>,
    /// `-w`, parsed.
    pub write_out: Option<Vec<crate::writeout::Piece>>,
    /// `--connect-timeout`.
    pub connect_timeout: Option<std::time::Duration>,
    /// `-m`.
    pub max_time: Option<std::time::Duration>,
    /// `--cacert`, in order.
    pub cacert: Vec<PathBuf>,
    /// `--cert`.
    pub cert: Option<PathBuf>,
    /// `--key`.
    pub key: Option<PathBuf>,
    /// `-k`.
    pub insecure: bool,
    /// `-4` / `-6`.
    pub ip_family: Option<roundtrip::IpFamily>,
    /// `--happy-eyeballs-timeout-ms`.
    pub happy_eyeballs_ms: Option<u64>,
    /// `--resolve`, in order.
    pub resolve: Vec<(String, u16, Vec<IpAddr>)>,
}

/// Whether the locale (LC_ALL, then LC_CTYPE, then LANG) is UTF-8, so
/// block characters can be drawn.
pub fn utf8_locale() -> bool {
    ["LC_ALL", "LC_CTYPE", "LANG"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .is_some_and(|v| v.to_ascii_uppercase().replace('-', "").contains("UTF8"))
}

impl Options {
    /// How to draw waterfalls, or `None` for none: asked with
    /// `--waterfall`, or by default on a terminal unless `-s`. Colour only
    /// on a terminal and without `NO_COLOR`/`--no-color`; ASCII unless the
    /// locale says UTF-8.
    pub fn waterfall_style(&self) -> Option<crate::waterfall::Style> {
        use std::io::IsTerminal;
        let tty = std::io::stderr().is_terminal();
        if !(self.waterfall || (tty && !self.silent)) {
            return None;
        }
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let utf8 = utf8_locale();
        Some(crate::waterfall::Style {
            // COLUMNS when exported (a shell's own is not), else the
            // terminal's real width, else 100.
            width: env("COLUMNS")
                .and_then(|c| c.parse().ok())
                .or_else(|| {
                    terminal_size::terminal_size_of(std::io::stderr()).map(|(w, _)| w.0 as usize)
                })
                .unwrap_or(100),
            color: tty && !self.no_color && env("NO_COLOR").is_none(),
            unicode: utf8,
        })
    }

    /// The method to send: `-X` wins, then `-I` (HEAD), then `-d` (POST),
    /// else GET.
    pub fn effective_method(&self) -> Method {
        if let Some(m) = &self.method {
            m.clone()
        } else if self.head {
            Method::HEAD
        } else if !self.data.is_empty() {
            Method::POST
        } else {
            Method::GET
        }
    }

    /// True when no response goes to stdout: under `--json` (without
    /// `-o`) stdout carries the documents, and under `-n` the statistics
    /// are the output, which N copies of the body would only bury.
    pub fn suppresses_body(&self) -> bool {
        (self.json && self.output.is_none()) || self.repeat.is_some()
    }

    /// True when the response heads are printed before the body (`-i`,
    /// `-I`).
    pub fn prints_heads(&self) -> bool {
        (self.include || self.head) && !self.suppresses_body()
    }

    /// True when the heads received are wanted: printed, or saved (`-D`).
    pub fn keeps_heads(&self) -> bool {
        self.prints_heads() || self.dump_header.is_some()
    }

    /// True when error messages should be printed (`-s` without `-S`
    /// silences them).
    pub fn show_errors(&self) -> bool {
        !self.silent || self.show_error
    }

    /// True when the user gave `-H 'Name:'` or `-H 'Name: v'` for `name`.
    pub fn mentions_header(&self, name: &HeaderName) -> bool {
        self.headers.iter().any(|h| match h {
            HeaderArg::Set(n, _) | HeaderArg::Remove(n) => n == name,
        })
    }

    /// True when the user asked not to send `name` (`-H 'Name:'`).
    pub fn removes_header(&self, name: &HeaderName) -> bool {
        self.headers
            .iter()
            .any(|h| matches!(h, HeaderArg::Remove(n) if n == name))
    }
}

/// How an option is spelled and whether it takes a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Opt {
    Request,
    Head,
    Header,
    Data,
    DataBinary,
    DataRaw,
    Output,
    Include,
    DumpHeader,
    Fail,
    Silent,
    ShowError,
    Parallel,
    Events,
    Json,
    Repeat,
    NoKeepalive,
    Har,
    Waterfall,
    WaterfallSvg,
    NoColor,
    Verbose,
    DnsServers,
    Resolve,
    Ipv4,
    Ipv6,
    HappyEyeballs,
    CaCert,
    ConnectTimeout,
    MaxTime,
    WriteOut,
    Location,
    MaxRedirs,
    Proxy,
    NoProxy,
    Cert,
    Key,
    Insecure,
    Help,
    Version,
}

impl Opt {
    fn short(c: char) -> Option<Opt> {
        Some(match c {
            'X' => Opt::Request,
            'I' => Opt::Head,
            'H' => Opt::Header,
            'd' => Opt::Data,
            'o' => Opt::Output,
            'i' => Opt::Include,
            'D' => Opt::DumpHeader,
            'f' => Opt::Fail,
            's' => Opt::Silent,
            'S' => Opt::ShowError,
            'Z' => Opt::Parallel,
            'n' => Opt::Repeat,
            'h' => Opt::Help,
            '4' => Opt::Ipv4,
            'k' => Opt::Insecure,
            'v' => Opt::Verbose,
            'm' => Opt::MaxTime,
            'w' => Opt::WriteOut,
            'L' => Opt::Location,
            'x' => Opt::Proxy,
            '6' => Opt::Ipv6,
            'V' => Opt::Version,
            _ => return None,
        })
    }

    fn long(name: &str) -> Option<Opt> {
        Some(match name {
            "request" => Opt::Request,
            "head" => Opt::Head,
            "header" => Opt::Header,
            "data" => Opt::Data,
            "data-binary" => Opt::DataBinary,
            "data-raw" => Opt::DataRaw,
            "output" => Opt::Output,
            "include" => Opt::Include,
            "dump-header" => Opt::DumpHeader,
            "fail" => Opt::Fail,
            "silent" => Opt::Silent,
            "show-error" => Opt::ShowError,
            "parallel" => Opt::Parallel,
            "events" => Opt::Events,
            "json" => Opt::Json,
            "repeat" => Opt::Repeat,
            "no-keepalive" => Opt::NoKeepalive,
            "har" => Opt::Har,
            "waterfall" => Opt::Waterfall,
            "waterfall-svg" => Opt::WaterfallSvg,
            "verbose" => Opt::Verbose,
            "no-color" => Opt::NoColor,
            "dns-servers" => Opt::DnsServers,
            "resolve" => Opt::Resolve,
            "ipv4" => Opt::Ipv4,
            "ipv6" => Opt::Ipv6,
            "happy-eyeballs-timeout-ms" => Opt::HappyEyeballs,
            "cacert" => Opt::CaCert,
            "connect-timeout" => Opt::ConnectTimeout,
            "max-time" => Opt::MaxTime,
            "write-out" => Opt::WriteOut,
            "location" => Opt::Location,
            "max-redirs" => Opt::MaxRedirs,
            "proxy" => Opt::Proxy,
            "noproxy" => Opt::NoProxy,
            "cert" => Opt::Cert,
            "key" => Opt::Key,
            "insecure" => Opt::Insecure,
            "help" => Opt::Help,
            "version" => Opt::Version,
            _ => return None,
        })
    }

    fn takes_value(self) -> bool {
        matches!(
            self,
            Opt::Request
                | Opt::Repeat
                | Opt::Har
                | Opt::Header
                | Opt::Data
                | Opt::DataBinary
                | Opt::DataRaw
                | Opt::Output
                | Opt::DumpHeader
                | Opt::DnsServers
                | Opt::Resolve
                | Opt::HappyEyeballs
                | Opt::CaCert
                | Opt::ConnectTimeout
                | Opt::MaxTime
                | Opt::WriteOut
                | Opt::MaxRedirs
                | Opt::Proxy
                | Opt::NoProxy
                | Opt::Cert
                | Opt::Key
                | Opt::WaterfallSvg
        )
    }
}

/// Parses the arguments that follow the program name.
pub fn parse<I>(args: I) -> Result<Command, UsageError>
where
    I: IntoIterator,
    I::Item: Into<OsString>,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    match &args[..] {
        [] => return Ok(Command::Demo { events: false }),
        [only] if only == "--events" => return Ok(Command::Demo { events: true }),
        _ => {}
    }
    let mut args = args.into_iter();
    let mut opts = Options::default();
    let mut help = false;
    let mut version = false;
    let mut only_urls = false;
    while let Some(arg) = args.next() {
        let Some(text) = arg.to_str() else {
            return usage(format!(
                "argument {:?} is not valid UTF-8",
                arg.to_string_lossy()
            ));
        };
        if text == "-" && !only_urls {
            return usage("'-' is neither a URL nor an option");
        }
        if only_urls || !text.starts_with('-') {
            opts.targets.push(parse_url(text)?);
            continue;
        }
        if text == "--" {
            only_urls = true;
            continue;
        }
        // (option, its spelling for messages, a value given with it)
        let mut found: Vec<(Opt, String, Option<OsString>)> = Vec::new();
        if let Some(long) = text.strip_prefix("--") {
            let (name, value) = match long.split_once('=') {
                Some((n, v)) => (n, Some(OsString::from(v))),
                None => (long, None),
            };
            let Some(opt) = Opt::long(name) else {
                return usage(format!("unknown option --{name}"));
            };
            if value.is_some() && !opt.takes_value() {
                return usage(format!("option --{name} takes no value"));
            }
            found.push((opt, format!("--{name}"), value));
        } else {
            for (i, c) in text[1..].char_indices() {
                let Some(opt) = Opt::short(c) else {
                    return usage(format!("unknown option -{c}"));
                };
                if opt.takes_value() {
                    let rest = &text[1 + i + c.len_utf8()..];
                    let value = (!rest.is_empty()).then(|| OsString::from(rest));
                    found.push((opt, format!("-{c}"), value));
                    break;
                }
                found.push((opt, format!("-{c}"), None));
            }
        }
        for (opt, spelled, value) in found {
            let value = match (opt.takes_value(), value) {
                (false, _) => OsString::new(),
                (true, Some(v)) => v,
                (true, None) => match args.next() {
                    Some(v) => v,
                    None => return usage(format!("option {spelled} needs a value")),
                },
            };
            apply(&mut opts, opt, &spelled, value, &mut help, &mut version)?;
        }
    }
    if help {
        return Ok(Command::Help);
    }
    if version {
        return Ok(Command::Version);
    }
    if opts.targets.is_empty() {
        return usage("no URL given (run roundtrip without arguments for a demo)");
    }
    if opts.cert.is_some() != opts.key.is_some() {
        return usage("--cert and --key go together");
    }
    if opts.head && !opts.data.is_empty() {
        return usage("-I (HEAD) and -d (POST) cannot be combined");
    }
    Ok(Command::Fetch(Box::new(opts)))
}

fn utf8<'a>(spelled: &str, value: &'a OsStr) -> Result<&'a str, UsageError> {
    match value.to_str() {
        Some(s) => Ok(s),
        None => usage(format!("the value of {spelled} is not valid UTF-8")),
    }
}

fn apply(
    opts: &mut Options,
    opt: Opt,
    spelled: &str,
    value: OsString,
    help: &mut bool,
    version: &mut bool,
) -> Result<(), UsageError> {
    match opt {
        Opt::Request => {
            let v = utf8(spelled, &value)?;
            match Method::from_bytes(v.as_bytes()) {
                Ok(m) if !v.is_empty() => opts.method = Some(m),
                _ => return usage(format!("{spelled}: {v:?} is not a valid method")),
            }
        }
        Opt::Head => opts.head = true,
        Opt::Header => opts.headers.push(parse_header(utf8(spelled, &value)?)?),
        Opt::Data | Opt::DataBinary | Opt::DataRaw => {
            let v = utf8(spelled, &value)?;
            let source = match v.strip_prefix('@') {
                Some("-") if opt != Opt::DataRaw => DataSource::Stdin,
                Some(path) if opt != Opt::DataRaw => DataSource::File(PathBuf::from(path)),
                _ => DataSource::Literal(v.to_owned()),
            };
            opts.data.push(DataArg {
                source,
                strip_newlines: opt == Opt::Data,
            });
        }
        Opt::Output => {
            if value.is_empty() {
                return usage(format!("{spelled} needs a file name"));
            }
            opts.output = Some(PathBuf::from(value));
        }
        Opt::Include => opts.include = true,
        Opt::DumpHeader => {
            if value.is_empty() {
                return usage(format!("{spelled} needs a file name (- for stdout)"));
            }
            opts.dump_header = Some(PathBuf::from(value));
        }
        Opt::Fail => opts.fail = true,
        Opt::Silent => opts.silent = true,
        Opt::ShowError => opts.show_error = true,
        Opt::Parallel => opts.parallel = true,
        Opt::Events => opts.events = true,
        Opt::Json => opts.json = true,
        Opt::NoKeepalive => opts.no_keepalive = true,
        Opt::Har => {
            if value.is_empty() {
                return usage(format!("{spelled} needs a file name"));
            }
            opts.har = Some(PathBuf::from(value));
        }
        Opt::Repeat => {
            let v = utf8(spelled, &value)?;
            match v.parse::<u32>() {
                Ok(n) if n > 0 => opts.repeat = Some(n),
                _ => return usage(format!("{spelled}: {v:?} is not a positive number")),
            }
        }
        Opt::Waterfall => opts.waterfall = true,
        Opt::WaterfallSvg => {
            if value.is_empty() {
                return usage(format!("{spelled} needs a file name"));
            }
            opts.waterfall_svg = Some(PathBuf::from(value));
        }
        Opt::Verbose => opts.verbose = true,
        Opt::NoColor => opts.no_color = true,
        Opt::DnsServers => opts.dns_servers = Some(parse_dns_servers(utf8(spelled, &value)?)?),
        Opt::Resolve => opts.resolve.push(parse_resolve(utf8(spelled, &value)?)?),
        Opt::CaCert | Opt::Cert | Opt::Key => {
            if value.is_empty() {
                return usage(format!("{spelled} needs a file name"));
            }
            let path = PathBuf::from(value);
            if let Err(e) = std::fs::metadata(&path) {
                return usage(format!("{spelled}: cannot read {}: {e}", path.display()));
            }
            match opt {
                Opt::CaCert => opts.cacert.push(path),
                Opt::Cert => opts.cert = Some(path),
                _ => opts.key = Some(path),
            }
        }
        Opt::Insecure => opts.insecure = true,
        Opt::Location => opts.location = true,
        Opt::Proxy => {
            let v = utf8(spelled, &value)?;
            if let Err(e) = roundtrip::proxy::parse_proxy(v) {
                return usage(format!("{spelled}: {e}"));
            }
            opts.proxy = Some(v.to_owned());
        }
        Opt::NoProxy => opts.noproxy = Some(utf8(spelled, &value)?.to_owned()),
        Opt::MaxRedirs => {
            let v = utf8(spelled, &value)?;
            match v.parse::<usize>() {
                Ok(n) => opts.max_redirs = Some(n),
                Err(_) => return usage(format!("{spelled}: {v:?} is not a number")),
            }
        }
        Opt::WriteOut => {
            opts.write_out = Some(crate::writeout::parse(utf8(spelled, &value)?)?);
        }
        Opt::ConnectTimeout | Opt::MaxTime => {
            let v = utf8(spelled, &value)?;
            // 0 is curl's "no limit" (-m) and "the default" (--connect-timeout).
            let d = match v.parse::<f64>() {
                Ok(0.0) => None,
                Ok(secs) if secs.is_finite() && secs > 0.0 && secs < 1e9 => {
                    Some(std::time::Duration::from_secs_f64(secs))
                }
                _ => {
                    return usage(format!(
                        "{spelled}: {v:?} is not a number of seconds (0 or more)"
                    ))
                }
            };
            if opt == Opt::MaxTime {
                opts.max_time = d;
            } else {
                opts.connect_timeout = d;
            }
        }
        Opt::Ipv4 => opts.ip_family = Some(roundtrip::IpFamily::V4Only),
        Opt::Ipv6 => opts.ip_family = Some(roundtrip::IpFamily::V6Only),
        Opt::HappyEyeballs => {
            let v = utf8(spelled, &value)?;
            match v.parse::<u64>() {
                Ok(ms) => opts.happy_eyeballs_ms = Some(ms),
                Err(_) => {
                    return usage(format!("{spelled}: {v:?} is not a number of milliseconds"))
                }
            }
        }
        Opt::Help => *help = true,
        Opt::Version => *version = true,
    }
    Ok(())
}

/// `--dns-servers`: `ADDR[:PORT]` items, comma-separated; IPv6 with a port
/// is written `[ADDR]:PORT` (curl's syntax). The port defaults to 53.
pub fn parse_dns_servers(arg: &str) -> Result<Vec<SocketAddr>, UsageError> {
    let mut out = Vec::new();
    for item in arg.split(',').map(str::trim) {
        let addr = if let Ok(sa) = item.parse::<SocketAddr>() {
            sa
        } else if let Ok(ip) = item
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        {
            SocketAddr::new(ip, 53)
        } else {
            return usage(format!("--dns-servers: {item:?} is not ADDR[:PORT]"));
        };
        out.push(addr);
    }
    Ok(out)
}

/// `--resolve HOST:PORT:ADDR[,ADDR...]` (curl's syntax; IPv6 addresses may
/// be bracketed).
pub fn parse_resolve(arg: &str) -> Result<(String, u16, Vec<IpAddr>), UsageError> {
    let bad = || {
        usage(format!(
            "--resolve: {arg:?} is not HOST:PORT:ADDR[,ADDR...]"
        ))
    };
    let Some((host, rest)) = arg.split_once(':') else {
        return bad();
    };
    let Some((port, addrs)) = rest.split_once(':') else {
        return bad();
    };
    let Ok(port) = port.parse::<u16>() else {
        return bad();
    };
    if host.is_empty() || addrs.is_empty() {
        return bad();
    }
    let mut ips = Vec::new();
    for a in addrs.split(',') {
        match a
            .trim()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        {
            Ok(ip) => ips.push(ip),
            Err(_) => return bad(),
        }
    }
    Ok((host.to_ascii_lowercase(), port, ips))
}

/// Parses a URL argument; `http://` is assumed when no scheme is given.
pub fn parse_url(arg: &str) -> Result<Target, UsageError> {
    let full = if arg.contains("://") {
        arg.to_owned()
    } else {
        format!("http://{arg}")
    };
    let uri: Uri = match full.parse() {
        Ok(u) => u,
        Err(e) => return usage(format!("bad URL {arg:?}: {e}")),
    };
    match uri.authority() {
        Some(a) if !a.host().is_empty() => {}
        _ => return usage(format!("bad URL {arg:?}: no host")),
    }
    Ok(Target {
        arg: arg.to_owned(),
        uri,
    })
}

/// Parses one `-H` argument: `Name: value`, `Name:` or `Name;`.
pub fn parse_header(arg: &str) -> Result<HeaderArg, UsageError> {
    let bad = |why: &str| usage(format!("-H {arg:?}: {why}"));
    let colon = arg.find(':');
    let semi = arg.find(';');
    let (name, value, empty_value) = match (colon, semi) {
        (Some(c), Some(s)) if s < c => (&arg[..s], &arg[s + 1..], true),
        (Some(c), _) => (&arg[..c], &arg[c + 1..], false),
        (None, Some(s)) => (&arg[..s], &arg[s + 1..], true),
        (None, None) => return bad("expected 'Name: value'"),
    };
    let Ok(name) = HeaderName::from_bytes(name.trim().as_bytes()) else {
        return bad("invalid header name");
    };
    if empty_value {
        if !value.trim().is_empty() {
            return bad("expected 'Name;' for an empty value");
        }
        return Ok(HeaderArg::Set(name, HeaderValue::from_static("")));
    }
    let value = value.trim_matches(|c| c == ' ' || c == '\t');
    if value.is_empty() {
        return Ok(HeaderArg::Remove(name));
    }
    match HeaderValue::from_bytes(value.as_bytes()) {
        Ok(v) => Ok(HeaderArg::Set(name, v)),
        Err(_) => bad("invalid header value"),
    }
}

/// Builds the request body from the `-d` arguments (joined with `&`, as
/// curl does), reading files and stdin. `None` when there were none.
pub fn load_body(data: &[DataArg], stdin: &mut dyn Read) -> Result<Option<Vec<u8>>, UsageError> {
    if data.is_empty() {
        return Ok(None);
    }
    let mut body = Vec::new();
    for (i, d) in data.iter().enumerate() {
        if i > 0 {
            body.push(b'&');
        }
        let mut bytes = match &d.source {
            DataSource::Literal(s) => s.as_bytes().to_vec(),
            DataSource::File(path) => match std::fs::read(path) {
                Ok(b) => b,
                Err(e) => return usage(format!("cannot read {}: {e}", path.display())),
            },
            DataSource::Stdin => {
                let mut b = Vec::new();
                if let Err(e) = stdin.read_to_end(&mut b) {
                    return usage(format!("cannot read stdin: {e}"));
                }
                b
            }
        };
        if d.strip_newlines && !matches!(d.source, DataSource::Literal(_)) {
            bytes.retain(|&b| b != b'\r' && b != b'\n');
        }
        body.extend_from_slice(&bytes);
    }
    Ok(Some(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fetch(args: &[&str]) -> Options {
        match parse(args.iter().copied()) {
            Ok(Command::Fetch(o)) => *o,
            other => panic!("expected a fetch for {args:?}, got {other:?}"),
        }
    }

    fn err(args: &[&str]) -> String {
        match parse(args.iter().copied()) {
            Err(UsageError(m)) => m,
            other => panic!("expected a usage error for {args:?}, got {other:?}"),
        }
    }

    #[test]
    fn no_arguments_is_the_demo() {
        assert!(matches!(
            parse(Vec::<String>::new()),
            Ok(Command::Demo { events: false })
        ));
        assert!(matches!(
            parse(["--events"]),
            Ok(Command::Demo { events: true })
        ));
        assert!(
            parse(["--events", "-v"]).is_err(),
            "other options want a URL"
        );
    }

    #[test]
    fn options_without_url_are_an_error_not_the_demo() {
        assert!(err(&["-s"]).contains("no URL"));
    }

    #[test]
    fn help_and_version_win_over_everything() {
        assert!(matches!(parse(["-h"]), Ok(Command::Help)));
        assert!(matches!(parse(["--help", "x"]), Ok(Command::Help)));
        assert!(matches!(parse(["-V"]), Ok(Command::Version)));
        assert!(matches!(parse(["--version"]), Ok(Command::Version)));
    }

    #[test]
    fn urls_keep_their_order_and_get_http() {
        let o = fetch(&["127.0.0.1:8080/a", "http://h/b"]);
        assert_eq!(o.targets[0].uri, "http://127.0.0.1:8080/a");
        assert_eq!(o.targets[0].arg, "127.0.0.1:8080/a");
        assert_eq!(o.targets[1].uri, "http://h/b");
    }

    #[test]
    fn bad_urls_are_usage_errors() {
        assert!(err(&["http://"]).contains("bad URL"));
        assert!(err(&["http://a b/"]).contains("bad URL"));
        assert!(err(&["-"]).contains("neither a URL nor an option"));
    }

    #[test]
    fn short_values_attached_or_separate_and_bundles() {
        let o = fetch(&["-XPUT", "-sSiZ", "u"]);
        assert_eq!(o.method, Some(Method::PUT));
        assert!(o.silent && o.show_error && o.include && o.parallel);
        let o = fetch(&["-sX", "DELETE", "u"]);
        assert!(o.silent);
        assert_eq!(o.method, Some(Method::DELETE));
        let o = fetch(&["-so", "out.bin", "u"]);
        assert_eq!(o.output, Some(PathBuf::from("out.bin")));
    }

    #[test]
    fn long_values_separate_or_after_equals() {
        let o = fetch(&["--request", "PATCH", "--output=f", "--events", "u"]);
        assert_eq!(o.method, Some(Method::PATCH));
        assert_eq!(o.output, Some(PathBuf::from("f")));
        assert!(o.events);
        assert!(err(&["--events=1", "u"]).contains("takes no value"));
    }

    #[test]
    fn unknown_options_and_missing_values() {
        assert_eq!(err(&["--bogus", "u"]), "unknown option --bogus");
        assert_eq!(err(&["-sq", "u"]), "unknown option -q");
        assert_eq!(err(&["u", "-H"]), "option -H needs a value");
        assert_eq!(err(&["u", "--data"]), "option --data needs a value");
        assert!(err(&["-X", "", "u"]).contains("not a valid method"));
        assert!(err(&["-X", "GE T", "u"]).contains("not a valid method"));
    }

    #[test]
    fn double_dash_ends_options() {
        let o = fetch(&["--", "-not-an-option.example"]);
        assert_eq!(o.targets[0].uri.host(), Some("-not-an-option.example"));
    }

    #[test]
    fn method_choice_follows_curl() {
        assert_eq!(fetch(&["u"]).effective_method(), Method::GET);
        assert_eq!(fetch(&["-I", "u"]).effective_method(), Method::HEAD);
        assert_eq!(fetch(&["-d", "x", "u"]).effective_method(), Method::POST);
        assert_eq!(
            fetch(&["-X", "PUT", "-d", "x", "u"]).effective_method(),
            Method::PUT
        );
        assert!(err(&["-I", "-d", "x", "u"]).contains("cannot be combined"));
    }

    #[test]
    fn header_forms() {
        assert_eq!(
            parse_header("X-A:  b c ").unwrap(),
            HeaderArg::Set(
                HeaderName::from_static("x-a"),
                HeaderValue::from_static("b c")
            )
        );
        assert_eq!(
            parse_header("User-Agent:").unwrap(),
            HeaderArg::Remove(HeaderName::from_static("user-agent"))
        );
        assert_eq!(
            parse_header("X-Empty;").unwrap(),
            HeaderArg::Set(
                HeaderName::from_static("x-empty"),
                HeaderValue::from_static("")
            )
        );
        // A ';' inside the value is just part of the value.
        assert_eq!(
            parse_header("Content-Type: text/plain; charset=utf-8").unwrap(),
            HeaderArg::Set(
                HeaderName::from_static("content-type"),
                HeaderValue::from_static("text/plain; charset=utf-8")
            )
        );
        assert!(parse_header("no colon").is_err());
        assert!(parse_header("bad name: v").is_err());
        assert!(parse_header("X: a\u{1}b").is_err());
    }

    #[test]
    fn mentions_and_removes() {
        let o = fetch(&["-H", "Content-Type:", "-H", "X-A: 1", "u"]);
        let ct = http::header::CONTENT_TYPE;
        assert!(o.mentions_header(&ct) && o.removes_header(&ct));
        let xa = HeaderName::from_static("x-a");
        assert!(o.mentions_header(&xa) && !o.removes_header(&xa));
    }

    #[test]
    fn silent_hides_errors_unless_show_error() {
        assert!(fetch(&["u"]).show_errors());
        assert!(!fetch(&["-s", "u"]).show_errors());
        assert!(fetch(&["-sS", "u"]).show_errors());
    }

    #[test]
    fn data_sources() {
        let o = fetch(&[
            "-d",
            "a=1",
            "-d@f",
            "--data-binary",
            "@-",
            "--data-raw",
            "@x",
            "u",
        ]);
        let sources: Vec<_> = o.data.iter().map(|d| d.source.clone()).collect();
        assert_eq!(
            sources,
            [
                DataSource::Literal("a=1".into()),
                DataSource::File("f".into()),
                DataSource::Stdin,
                DataSource::Literal("@x".into()),
            ]
        );
        assert!(o.data[1].strip_newlines && !o.data[2].strip_newlines);
    }

    #[test]
    fn bodies_are_joined_and_files_read() {
        let path = std::env::temp_dir().join(format!("roundtrip-args-{}", std::process::id()));
        std::fs::write(&path, b"x=1\r\ny=2\n").unwrap();
        let file = |strip| DataArg {
            source: DataSource::File(path.clone()),
            strip_newlines: strip,
        };
        let lit = DataArg {
            source: DataSource::Literal("a=b".into()),
            strip_newlines: true,
        };
        let stdin_arg = DataArg {
            source: DataSource::Stdin,
            strip_newlines: false,
        };
        let mut stdin: &[u8] = b"in\n";
        let body = load_body(&[lit, file(true), file(false), stdin_arg], &mut stdin);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(
            body.unwrap().unwrap(),
            b"a=b&x=1y=2&x=1\r\ny=2\n&in\n".to_vec()
        );
        assert_eq!(load_body(&[], &mut stdin), Ok(None));
    }

    #[test]
    fn unreadable_file_is_a_usage_error() {
        let d = DataArg {
            source: DataSource::File("/nonexistent/roundtrip".into()),
            strip_newlines: true,
        };
        let e = load_body(&[d], &mut std::io::empty()).unwrap_err();
        assert!(e.0.starts_with("cannot read /nonexistent/roundtrip"));
    }

    #[test]
    fn dns_servers_and_resolve() {
        let o = fetch(&[
            "--dns-servers",
            "127.0.0.1:5353, ::1,[::1]:54,192.0.2.1",
            "--resolve",
            "Pinned.test:8080:127.0.0.1,[::1]",
            "--resolve=b.test:80:::2",
            "u",
        ]);
        let servers: Vec<String> = o
            .dns_servers
            .unwrap()
            .iter()
            .map(|a| a.to_string())
            .collect();
        assert_eq!(
            servers,
            ["127.0.0.1:5353", "[::1]:53", "[::1]:54", "192.0.2.1:53"]
        );
        assert_eq!(o.resolve[0].0, "pinned.test");
        assert_eq!(o.resolve[0].1, 8080);
        assert_eq!(o.resolve[0].2.len(), 2);
        assert_eq!(o.resolve[1].2, ["::2".parse::<IpAddr>().unwrap()]);
        assert!(err(&["--dns-servers", "nope", "u"]).contains("--dns-servers"));
        for bad in [
            "h",
            "h:80",
            "h:x:1.2.3.4",
            ":80:1.2.3.4",
            "h:80:",
            "h:80:not-ip",
        ] {
            assert!(err(&["--resolve", bad, "u"]).contains("--resolve"), "{bad}");
        }
    }

    #[test]
    fn family_and_happy_eyeballs_flags() {
        let o = fetch(&["-4", "--happy-eyeballs-timeout-ms", "100", "u"]);
        assert_eq!(o.ip_family, Some(roundtrip::IpFamily::V4Only));
        assert_eq!(o.happy_eyeballs_ms, Some(100));
        assert_eq!(
            fetch(&["--ipv6", "u"]).ip_family,
            Some(roundtrip::IpFamily::V6Only)
        );
        assert!(err(&["--happy-eyeballs-timeout-ms", "soon", "u"]).contains("milliseconds"));
    }

    #[test]
    fn timeouts_take_fractional_seconds() {
        let o = fetch(&["--connect-timeout", "0.25", "-m", "3", "u"]);
        assert_eq!(
            o.connect_timeout,
            Some(std::time::Duration::from_millis(250))
        );
        assert_eq!(o.max_time, Some(std::time::Duration::from_secs(3)));
        // curl's 0: no limit.
        let o = fetch(&["-m", "3", "--max-time", "0", "--connect-timeout", "0", "u"]);
        assert_eq!((o.max_time, o.connect_timeout), (None, None));
        for bad in ["-1", "x", "inf", "NaN"] {
            assert!(err(&["-m", bad, "u"]).contains("seconds"), "{bad}");
        }
    }
}

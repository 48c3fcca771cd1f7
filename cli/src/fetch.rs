//! Fetching the URLs: builds each request from the options, sends them one
//! after the other (or all at once with `-Z`) on one client, and streams
//! each response to the output without holding whole bodies in memory.

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io::{self, Write};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use http::header::{CONTENT_TYPE, USER_AGENT};
use http::{HeaderValue, Request, Response};
use roundtrip::{Body, Client, ErrorKind, EventKind, RequestId, SendBody};

use crate::args::{self, HeaderArg, Options, Target};
use crate::events;
use crate::writeout::Info;

/// Exit status of usage errors.
pub const EXIT_USAGE: u8 = 2;
/// Exit status when the output cannot be written (curl's 23).
pub const EXIT_WRITE: u8 = 23;

/// Why one URL failed.
#[derive(Debug)]
pub enum Failure {
    /// The round trip failed (connect, protocol, body cut short...).
    Request(roundtrip::Error),
    /// Writing the response to the output failed.
    Write(io::Error),
    /// The request could not be put together.
    Build(String),
    /// Under `-f`, the final status was 400 or more.
    Http(Box<Info>),
}

impl Failure {
    /// The exit status this failure stands for, curl-like where curl has a
    /// code for it.
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Request(e) => match e.kind() {
                ErrorKind::HostNotFound { .. }
                | ErrorKind::NoAddresses { .. }
                | ErrorKind::DnsFailed { .. }
                | ErrorKind::InvalidHostName { .. }
                | ErrorKind::NoAddressOfFamily { .. } => 6,
                ErrorKind::ConnectTimeout { .. } | ErrorKind::TotalTimeout { .. } => 28,
                ErrorKind::TooManyRedirects { .. } => 47,
                ErrorKind::ConnectFailed(_) => 7,
                ErrorKind::BodyTruncated { .. } => 18,
                // curl's "CONNECT tunnel failed".
                ErrorKind::ProxyConnectRefused { .. } => 56,
                ErrorKind::Timeout { .. } => 28,
                _ => 1,
            },
            Failure::Write(_) => EXIT_WRITE,
            Failure::Build(_) => 1,
            Failure::Http(_) => 22,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Request(e) => write!(f, "{e}"),
            Failure::Write(e) => write!(f, "writing the output failed: {e}"),
            Failure::Build(why) => write!(f, "request: {why}"),
            Failure::Http(info) => write!(
                f,
                "the requested URL returned error: {}",
                info.status.unwrap_or_default()
            ),
        }
    }
}

/// Runs a fetch from parsed options and returns the exit status.
pub fn run(opts: &Options, program_start: Instant) -> ExitCode {
    let body = match args::load_body(&opts.data, &mut io::stdin()) {
        Ok(b) => b,
        Err(e) => {
            crate::usage_error(&e);
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let mut out: Box<dyn Write> = match &opts.output {
        None => Box::new(io::stdout().lock()),
        Some(path) => match File::create(path) {
            Ok(f) => Box::new(f),
            Err(e) => {
                if opts.show_errors() {
                    let _ = writeln!(
                        io::stderr(),
                        "roundtrip: cannot create {}: {e}",
                        path.display()
                    );
                }
                return ExitCode::from(EXIT_WRITE);
            }
        },
    };

    let mut builder = Client::builder().configure(|c| {
        if let Some(servers) = &opts.dns_servers {
            c.dns_servers = Some(servers.clone());
        }
        c.resolve.extend(opts.resolve.iter().cloned());
        c.tls_ca_files.extend(opts.cacert.iter().cloned());
        c.follow_redirects = opts.location;
        if opts.proxy.is_some() || opts.noproxy.is_some() {
            // The environment's proxies by the library's rules (all_proxy,
            // the httpoxy guard), with -x and --noproxy replacing parts.
            let env = |k: &str| std::env::var(k).ok();
            let mut config = roundtrip::proxy::ProxyConfig::from_environment(env);
            if let roundtrip::proxy::ProxyConfig::Manual {
                http,
                https,
                no_proxy,
            } = &mut config
            {
                if let Some(p) = &opts.proxy {
                    *http = Some(p.clone());
                    *https = Some(p.clone());
                }
                if let Some(list) = &opts.noproxy {
                    no_proxy.clone_from(list);
                }
            }
            c.proxy = config;
        }
        if let Some(n) = opts.max_redirs {
            c.max_redirects = n;
        }
        if let Some(d) = opts.connect_timeout {
            // curl's limit covers the whole connection phase; the library
            // limits each step, so each gets it (a DNS try only shortened).
            c.connect_timeout = d;
            c.tls_handshake_timeout = d;
            c.dns_timeout = Some(c.dns_settings().timeout.min(d));
        }
        if opts.max_time.is_some() {
            c.total_timeout = opts.max_time;
        }
        if let (Some(cert), Some(key)) = (&opts.cert, &opts.key) {
            c.tls_client_cert = Some((cert.clone(), key.clone()));
        }
        c.tls_danger_accept_invalid_certs = opts.insecure;
        if let Some(family) = opts.ip_family {
            c.ip_family = family;
        }
        if opts.no_keepalive {
            c.max_idle_per_host = 0;
        }
        if let Some(ms) = opts.happy_eyeballs_ms {
            c.happy_eyeballs_delay = std::time::Duration::from_millis(ms);
        }
    });
    if opts.removes_header(&USER_AGENT) {
        builder = builder.configure(|c| c.user_agent = None);
    }
    let mut trace = roundtrip::Trace::new();
    if opts.events {
        trace = events::line_trace(io::stderr(), program_start, events::json_line);
    } else if opts.verbose {
        trace = events::line_trace(io::stderr(), program_start, events::human_line);
    }
    // Under -n, the statistics replace the per-request waterfalls.
    let waterfall = opts.waterfall_style().filter(|_| opts.repeat.is_none());
    let recordings = waterfall.map(|_| {
        let (recorder, recordings) = crate::waterfall::recorder();
        trace.add(recorder);
        recordings
    });
    // --waterfall-svg records too, even when stderr shows no waterfall.
    let svg_log = opts.waterfall_svg.as_ref().map(|_| match &recordings {
        Some(log) => log.clone(),
        None => {
            let (recorder, log) = crate::waterfall::recorder();
            trace.add(recorder);
            log
        }
    });
    let reports = opts.json.then(|| {
        let (recorder, reports) = crate::report::recorder();
        trace.add(recorder);
        reports
    });
    let har = opts.har.as_ref().map(|_| {
        let (recorder, archive) = crate::har::recorder();
        trace.add(recorder);
        archive
    });
    let heads = opts.keeps_heads().then(|| {
        let (recorder, heads) = heads_recorder();
        trace.add(recorder);
        heads
    });
    let dump: Option<Box<dyn Write>> = match opts.dump_header.as_deref() {
        None => None,
        Some(p) if p == std::path::Path::new("-") => Some(Box::new(io::stdout())),
        Some(p) => match File::create(p) {
            Ok(f) => Some(Box::new(f)),
            Err(e) => {
                if opts.show_errors() {
                    let _ = writeln!(io::stderr(), "roundtrip: cannot write {}: {e}", p.display());
                }
                return ExitCode::from(EXIT_WRITE);
            }
        },
    };
    let har_clock = (Instant::now(), std::time::SystemTime::now());
    let client = builder.trace(trace).build();

    let mut fetcher = Fetcher {
        opts,
        body: body.as_deref(),
        out: &mut *out,
        first_failure: None,
        recordings: recordings.zip(waterfall),
        drawn: 0,
        svg: svg_log.map(|log| (log, Vec::new())),
        reports,
        reported: 0,
        samples: Vec::new(),
        failed: 0,
        har,
        har_named: 0,
        heads,
        dump,
    };
    if opts.parallel && opts.repeat.is_none() {
        fetcher.parallel(&client);
    } else {
        fetcher.sequential(&client);
    }
    fetcher.write_svg();
    let mut code = fetcher.first_failure.unwrap_or(0);
    if let (Some(path), Some(har)) = (&opts.har, &fetcher.har) {
        let archive = har.lock().unwrap_or_else(|p| p.into_inner());
        let text = crate::har::render(&archive, har_clock);
        if let Err(e) = std::fs::write(path, text) {
            if opts.show_errors() {
                let _ = writeln!(
                    io::stderr(),
                    "roundtrip: cannot write {}: {e}",
                    path.display()
                );
            }
            if code == 0 {
                code = EXIT_WRITE;
            }
        }
    }
    // Dropping the client closes the pooled connections (`conn_closed`
    // events under --events).
    drop(client);
    ExitCode::from(code)
}

/// Builds the request for one URL.
pub fn build_request(
    opts: &Options,
    target: &Target,
    body: Option<&[u8]>,
) -> Result<Request<SendBody>, Failure> {
    let mut req = Request::builder()
        .method(opts.effective_method())
        .uri(target.uri.clone());
    for h in &opts.headers {
        if let HeaderArg::Set(name, value) = h {
            req = req.header(name, value);
        }
    }
    if body.is_some() && !opts.mentions_header(&CONTENT_TYPE) {
        req = req.header(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
    }
    let send_body = match body {
        Some(b) => SendBody::from(b.to_vec()),
        None => SendBody::empty(),
    };
    req.body(send_body)
        .map_err(|e| Failure::Build(e.to_string()))
}

struct Fetcher<'a> {
    opts: &'a Options,
    body: Option<&'a [u8]>,
    out: &'a mut dyn Write,
    first_failure: Option<u8>,
    /// Each request's recorded events, when waterfalls are drawn.
    recordings: Option<(RecordingLog, crate::waterfall::Style)>,
    /// Requests whose waterfall was drawn.
    drawn: usize,
    /// Under `--waterfall-svg`: every request's recording (shared with
    /// the waterfall on stderr when both are on) and each one's title.
    svg: Option<(RecordingLog, Vec<String>)>,
    /// Each request's events and connection, under `--json`.
    reports: Option<crate::report::Reports>,
    /// Requests whose `--json` document was printed.
    reported: usize,
    /// Under `-n`: the timings of the current URL's completed requests.
    samples: Vec<roundtrip::Timings>,
    /// Under `-n`: how many of the current URL's requests failed.
    failed: usize,
    /// Every hop of every request, under `--har`.
    har: Option<crate::har::Recorded>,
    /// Requests whose first HAR entry was given its URL.
    har_named: usize,
    /// Under `-i`, `-I` and `-D`, every head received (`heads_recorder`).
    heads: Option<Heads>,
    /// Where `-D` writes the heads.
    dump: Option<Box<dyn Write>>,
}

type RecordingLog = crate::waterfall::Recordings;

/// Under `-i`, `-I` and `-D`: the heads each request received so far, as
/// they came off the wire, by request id.
type Heads = Arc<Mutex<Vec<(u64, Vec<u8>)>>>;

/// A trace that keeps every head a request receives, in order, as curl's
/// `-i` prints them: the proxy's answer to CONNECT, each informational
/// (1xx) head, and the head of every redirect hop before the final one.
fn heads_recorder() -> (roundtrip::Trace, Heads) {
    let heads: Heads = Arc::default();
    let sink = heads.clone();
    let trace = roundtrip::Trace::new().on_event(move |e| {
        let (Some(req), Some(raw)) = (e.req, received_head(&e.kind)) else {
            return;
        };
        let mut all = sink.lock().unwrap_or_else(|p| p.into_inner());
        match all.iter_mut().find(|(id, _)| *id == req.0) {
            Some((_, bytes)) => bytes.extend_from_slice(raw),
            None => all.push((req.0, raw.to_vec())),
        }
    });
    (trace, heads)
}

/// The head an event reports as received, if any.
fn received_head<'e>(kind: &EventKind<'e>) -> Option<&'e [u8]> {
    match *kind {
        EventKind::ProxyConnectDone { raw_head, .. }
        | EventKind::Got1xxResponse { raw_head, .. }
        | EventKind::GotResponseHeaders { raw_head, .. } => Some(raw_head),
        _ => None,
    }
}

impl Fetcher<'_> {
    /// Records a failure; true when the remaining URLs should be skipped
    /// (the output is broken).
    fn fail(&mut self, target: &Target, failure: Failure) -> bool {
        if self.opts.show_errors() {
            let _ = writeln!(io::stderr(), "roundtrip: {}: {failure}", target.arg);
        }
        self.first_failure.get_or_insert(failure.exit_code());
        matches!(failure, Failure::Write(_))
    }

    fn sequential(&mut self, client: &Client) {
        for target in &self.opts.targets {
            for _ in 0..self.opts.repeat.unwrap_or(1) {
                let result = build_request(self.opts, target, self.body)
                    .and_then(|req| client.send(req).map_err(Failure::Request))
                    .and_then(|resp| self.write_response(resp));
                if matches!(result, Err(Failure::Request(_))) {
                    // What came before the failure, as curl shows it (a
                    // proxy's refusal, a redirect hop's head).
                    let _ = self.write_heads(None);
                }
                if self.opts.repeat.is_some() {
                    match &result {
                        Ok(Info {
                            timings: Some(t), ..
                        }) => self.samples.push(t.clone()),
                        _ => self.failed += 1,
                    }
                }
                if self.finish(target, result) {
                    return;
                }
            }
            if self.opts.repeat.is_some() {
                let title = format!("{} {}", self.opts.effective_method(), target.uri);
                let unicode = crate::args::utf8_locale();
                let text = crate::stats::render(&title, &self.samples, self.failed, unicode);
                let _ = self.out.flush();
                let mut stdout = io::stdout().lock();
                let _ = stdout.write_all(text.as_bytes());
                let _ = stdout.flush();
                self.samples.clear();
                self.failed = 0;
            }
        }
    }

    /// After a transfer: `-w` output, then the failure if any; true when
    /// the remaining URLs should be skipped.
    fn finish(&mut self, target: &Target, result: Result<Info, Failure>) -> bool {
        // A request that could not be built never reached the client, so
        // it has no recording: the next recording is another request's.
        let reached_client = !matches!(result, Err(Failure::Build(_)));
        if reached_client {
            self.draw_waterfall(target);
            self.svg_title(target);
        }
        let info = match &result {
            Ok(info) => info.clone(),
            Err(Failure::Request(e)) => Info {
                status: None,
                timings: e.timings().cloned(),
            },
            Err(Failure::Http(info)) => (**info).clone(),
            Err(_) => Info::default(),
        };
        if let (Some(har), true) = (&self.har, reached_client) {
            let mut archive = har.lock().unwrap_or_else(|p| p.into_inner());
            let method = self.opts.effective_method();
            archive.name_request(self.har_named, method.as_str(), &target.uri.to_string());
            self.har_named += 1;
        }
        if let Some(reports) = &self.reports {
            let recorded = reports.lock().unwrap_or_else(|p| p.into_inner());
            let error = result.as_ref().err().map(|f| f.to_string());
            let method = self.opts.effective_method();
            let doc = crate::report::render(
                &target.uri.to_string(),
                method.as_str(),
                &info,
                error.as_deref(),
                &recorded,
                if reached_client {
                    self.reported
                } else {
                    usize::MAX
                },
            );
            drop(recorded);
            self.reported += usize::from(reached_client);
            let _ = self.out.flush();
            let mut stdout = io::stdout().lock();
            let _ = writeln!(stdout, "{doc}");
            let _ = stdout.flush();
        }
        if let Some(pieces) = &self.opts.write_out {
            // Like curl, -w goes to stdout even when the body goes to -o.
            let _ = self.out.flush();
            let mut stdout = io::stdout().lock();
            let _ = stdout.write_all(crate::writeout::render(pieces, &info).as_bytes());
            let _ = stdout.flush();
        }
        match result {
            Ok(_) => false,
            Err(failure) => self.fail(target, failure),
        }
    }

    /// Submits every request at once, then writes the responses in
    /// argument order; bodies not yet written keep arriving meanwhile (up
    /// to the client's receive buffer per connection).
    fn parallel(&mut self, client: &Client) {
        let opts = self.opts;
        let mut batch = client.batch();
        let submitted: Vec<Result<RequestId, Failure>> = opts
            .targets
            .iter()
            .map(|t| build_request(opts, t, self.body).map(|req| batch.submit(req)))
            .collect();
        let mut arrived: HashMap<RequestId, roundtrip::Result<Response<Body>>> = HashMap::new();
        for (target, id) in opts.targets.iter().zip(submitted) {
            let result = match id {
                Ok(id) => {
                    let result = loop {
                        if let Some(r) = arrived.remove(&id) {
                            break r.map_err(Failure::Request);
                        }
                        match batch.wait() {
                            Some((done, r)) => {
                                arrived.insert(done, r);
                            }
                            None => break Err(Failure::Build("lost track of the request".into())),
                        }
                    };
                    if result.is_err() {
                        let _ = self.write_heads(Some(id));
                    }
                    result
                }
                Err(failure) => Err(failure),
            };
            let result = result.and_then(|resp| self.write_response(resp));
            if self.finish(target, result) {
                return;
            }
        }
    }

    /// Notes the title of the request that just finished, for the SVG.
    fn svg_title(&mut self, target: &Target) {
        if let Some((_, titles)) = &mut self.svg {
            let method = self.opts.effective_method();
            titles.push(format!("{method} {}", target.uri));
        }
    }

    /// Writes every request's waterfall, in order, to the
    /// `--waterfall-svg` file; failing that, the exit status is 23 unless
    /// an earlier failure set it.
    fn write_svg(&mut self) {
        let (Some(path), Some((log, titles))) = (&self.opts.waterfall_svg, &self.svg) else {
            return;
        };
        let mut log = log.lock().unwrap_or_else(|p| p.into_inner());
        // Request ids follow the order the requests were sent in, also
        // under -Z, where events may arrive interleaved.
        log.sort_by_key(|(id, _)| *id);
        let requests: Vec<(&str, &crate::waterfall::Recording)> = titles
            .iter()
            .map(String::as_str)
            .zip(log.iter().map(|(_, rec)| rec))
            .collect();
        let doc = crate::svg::render(&requests);
        drop(log);
        if let Err(e) = std::fs::write(path, doc) {
            if self.opts.show_errors() {
                let _ = writeln!(
                    io::stderr(),
                    "roundtrip: cannot write {}: {e}",
                    path.display()
                );
            }
            self.first_failure.get_or_insert(EXIT_WRITE);
        }
    }

    /// Draws the waterfall of the request that just finished (to stderr).
    fn draw_waterfall(&mut self, target: &Target) {
        let Some((log, style)) = &self.recordings else {
            return;
        };
        let log = log.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, rec)) = log.get(self.drawn) {
            let method = self.opts.effective_method();
            let title = format!("{method} {}", target.uri);
            let _ = self.out.flush();
            let _ =
                io::stderr().write_all(crate::waterfall::render(&title, rec, *style).as_bytes());
            self.drawn += 1;
        }
    }

    /// Writes the heads request `id` received (every request's when
    /// `None`: in sequence only one is under way), as they came off the
    /// wire: to the output under `-i` and `-I`, to `-D`'s file.
    fn write_heads(&mut self, id: Option<RequestId>) -> Result<(), Failure> {
        let Some(heads) = &self.heads else {
            return Ok(());
        };
        let print = self.opts.prints_heads();
        let mut all = heads.lock().unwrap_or_else(|p| p.into_inner());
        let taken: Vec<(u64, Vec<u8>)> = match id {
            Some(id) => all
                .iter()
                .position(|(r, _)| *r == id.0)
                .map(|i| all.remove(i))
                .into_iter()
                .collect(),
            None => std::mem::take(&mut *all),
        };
        drop(all);
        for (_, bytes) in taken {
            if let Some(dump) = &mut self.dump {
                // Before what the body output holds, when both are stdout.
                self.out.flush().map_err(Failure::Write)?;
                dump.write_all(&bytes)
                    .and_then(|()| dump.flush())
                    .map_err(Failure::Write)?;
            }
            if print {
                self.out.write_all(&bytes).map_err(Failure::Write)?;
            }
        }
        Ok(())
    }

    /// Writes the heads (with `-i` or `-I`) and streams the body (unless
    /// `-I`, which reads and discards it so the connection can be reused).
    fn write_response(&mut self, resp: Response<Body>) -> Result<Info, Failure> {
        let status = resp.status().as_u16();
        // Under -f an error status fails the transfer and, as with curl,
        // its body is not written (it is read, so the connection can be
        // reused, and the timings are whole).
        let failed = self.opts.fail && status >= 400;
        let discard = self.opts.head || self.opts.suppresses_body() || failed;
        self.write_heads(Some(resp.body().request_id()))?;
        let mut body = resp.into_body();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = body.read_body(&mut buf).map_err(Failure::Request)?;
            if n == 0 {
                break;
            }
            if !discard {
                self.out.write_all(&buf[..n]).map_err(Failure::Write)?;
            }
        }
        self.out.flush().map_err(Failure::Write)?;
        let info = Info {
            status: Some(status),
            timings: body.timings(),
        };
        if failed {
            return Err(Failure::Http(Box::new(info)));
        }
        Ok(info)
    }
}

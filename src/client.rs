//! The public face: [`Client`], its builder, streaming response [`Body`]
//! and the [`Batch`] API for many requests on one loop.
//!
//! A `Client` owns one runtime (event loop, pool, resolver) behind a mutex,
//! so it is `Send` and `Sync` and cheap to clone. Whoever waits drives the
//! loop on their own thread: `send` until the response head, `Body::read`
//! until body bytes, `Batch::wait` until any request has its head. There
//! are no background threads.

use std::fmt;
use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex, MutexGuard};

use http::{HeaderMap, Request, Response};

use crate::config::Config;
use crate::error::{Error, ErrorKind, Phase, Result};
use crate::h1::ResponseHead;
use crate::runtime::Runtime;
use crate::send_body::SendBody;
use crate::trace::{RequestId, Trace};

/// An HTTP/1.1 client: one event loop, one connection pool.
///
/// ```no_run
/// let client = roundtrip::Client::new();
/// let text = client.get("http://127.0.0.1:8080/")?.into_body().text()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Mutex<Runtime>>,
    config: Arc<Config>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.config)
            .finish()
    }
}

impl Default for Client {
    fn default() -> Client {
        Client::new()
    }
}

/// Builds a [`Client`] with a [`Config`] and a client-wide [`Trace`].
///
/// ```
/// use std::time::Duration;
/// use roundtrip::{Client, Trace};
///
/// let client = Client::builder()
///     .configure(|c| {
///         c.connect_timeout = Duration::from_secs(5);
///         c.follow_redirects = true;
///     })
///     // Sees every request's events, and connection events of no request.
///     .trace(Trace::new().on_conn_closed(|_, conn, why| eprintln!("conn {conn} closed: {why}")))
///     .build();
/// assert_eq!(client.config().connect_timeout, Duration::from_secs(5));
/// ```
#[derive(Debug, Default)]
pub struct ClientBuilder {
    config: Config,
    trace: Trace,
}

impl ClientBuilder {
    /// Replaces the whole configuration.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Changes the configuration in place.
    pub fn configure(mut self, f: impl FnOnce(&mut Config)) -> Self {
        f(&mut self.config);
        self
    }

    /// Sets the client-wide trace: it sees every request's events (after
    /// the request's own hooks) and connection events such as
    /// `conn_closed` that belong to no request.
    pub fn trace(mut self, trace: Trace) -> Self {
        self.trace = trace;
        self
    }

    /// Builds the client. Nothing is opened until the first request.
    pub fn build(self) -> Client {
        let config = Arc::new(self.config);
        // `new_cyclic` allocates before the runtime is built in place, so
        // no unwinding path drops a finished runtime (`Arc::new(value)`
        // would need one in case its allocation failed): one copy fewer of
        // the core's drop glue, some kilobytes.
        let shared = config.clone();
        Client {
            inner: Arc::new_cyclic(move |_| Mutex::new(Runtime::new(shared, self.trace))),
            config,
        }
    }
}

fn lock(rt: &Mutex<Runtime>) -> MutexGuard<'_, Runtime> {
    // A panic in a user hook poisons the lock; the runtime's own state is
    // still consistent between calls, so carry on.
    rt.lock().unwrap_or_else(|p| p.into_inner())
}

fn into_response(head: ResponseHead, body: Body) -> Response<Body> {
    let mut resp = Response::new(body);
    *resp.status_mut() = head.status;
    *resp.version_mut() = head.version;
    *resp.headers_mut() = head.headers;
    resp
}

impl Client {
    /// A client with the default [`Config`].
    pub fn new() -> Client {
        ClientBuilder::default().build()
    }

    /// A builder for a client with its own configuration or trace.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// `GET url`.
    pub fn get(&self, url: &str) -> Result<Response<Body>> {
        let req = Request::get(url)
            .body(SendBody::empty())
            .map_err(|e| Error::new(Phase::Request, ErrorKind::InvalidUri(e.to_string())))?;
        self.send(req)
    }

    /// Sends a request and waits for the final response head. The body
    /// streams as it is read.
    pub fn send<B: Into<SendBody>>(&self, request: Request<B>) -> Result<Response<Body>> {
        self.send_traced(request, Trace::new())
    }

    /// Like [`send`](Self::send), with hooks attached to this request only.
    pub fn send_traced<B: Into<SendBody>>(
        &self,
        request: Request<B>,
        trace: Trace,
    ) -> Result<Response<Body>> {
        let mut rt = lock(&self.inner);
        let id = rt.submit(request.map(Into::into), trace);
        match rt.wait_outcome(id) {
            Ok(head) => {
                drop(rt);
                Ok(into_response(head, Body::new(self.inner.clone(), id)))
            }
            Err(e) => {
                rt.release(id);
                Err(e)
            }
        }
    }

    /// Starts a batch: submit many requests, collect each as it completes,
    /// all driven by this client's one loop.
    pub fn batch(&self) -> Batch<'_> {
        Batch {
            client: self,
            pending: Vec::new(),
        }
    }

    /// Idle connections currently pooled.
    pub fn idle_connections(&self) -> usize {
        lock(&self.inner).idle_conns()
    }

    /// DNS answers received and dropped as untrustworthy (wrong
    /// transaction id, wrong question, garbage, late) since the client was
    /// built; see [`Core::dns_answers_dropped`](crate::core::Core::dns_answers_dropped).
    /// Answers from the wrong address or port never count: the client's
    /// UDP sockets are connected to the server, so the kernel drops those.
    ///
    /// ```no_run
    /// let client = roundtrip::Client::new();
    /// let _ = client.get("http://example.com/")?;
    /// if client.dns_answers_dropped() > 0 {
    ///     eprintln!("stray or spoofed DNS answers were ignored");
    /// }
    /// # Ok::<(), roundtrip::Error>(())
    /// ```
    pub fn dns_answers_dropped(&self) -> u64 {
        lock(&self.inner).core.dns_answers_dropped()
    }

    /// The event loop, for the runtime's own tests.
    #[cfg(test)]
    pub(crate) fn runtime(&self) -> MutexGuard<'_, Runtime> {
        lock(&self.inner)
    }
}

/// Many requests in flight on one loop (curl's multi interface).
///
/// ```no_run
/// let client = roundtrip::Client::new();
/// let mut batch = client.batch();
/// for path in ["/a", "/b", "/c"] {
///     let url = format!("http://127.0.0.1:8080{path}");
///     batch.submit(http::Request::get(url).body(())?);
/// }
/// while let Some((id, result)) = batch.wait() {
///     println!("{id}: {:?}", result.map(|r| r.status()));
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Batch<'c> {
    client: &'c Client,
    pending: Vec<RequestId>,
}

impl fmt::Debug for Batch<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Batch")
            .field("pending", &self.pending)
            .finish()
    }
}

impl Batch<'_> {
    /// Submits a request; it starts at once (DNS, connect, write) and
    /// progresses whenever the loop runs.
    pub fn submit<B: Into<SendBody>>(&mut self, request: Request<B>) -> RequestId {
        self.submit_traced(request, Trace::new())
    }

    /// Submits a request with its own hooks.
    pub fn submit_traced<B: Into<SendBody>>(
        &mut self,
        request: Request<B>,
        trace: Trace,
    ) -> RequestId {
        let id = lock(&self.client.inner).submit(request.map(Into::into), trace);
        self.pending.push(id);
        id
    }

    /// Requests submitted and not yet returned by [`wait`](Self::wait).
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// True when every submitted request has been returned.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Drives the loop until any pending request has its response head (or
    /// failed), and returns it; `None` when nothing is pending. Bodies of
    /// returned responses keep streaming while other requests progress.
    pub fn wait(&mut self) -> Option<(RequestId, Result<Response<Body>>)> {
        let mut rt = lock(&self.client.inner);
        let (id, outcome) = rt.wait_any(&self.pending)?;
        self.pending.retain(|p| *p != id);
        match outcome {
            Ok(head) => {
                drop(rt);
                let body = Body::new(self.client.inner.clone(), id);
                Some((id, Ok(into_response(head, body))))
            }
            Err(e) => {
                rt.release(id);
                Some((id, Err(e)))
            }
        }
    }

    /// Cancels a pending request: its socket closes at once and its trace
    /// ends with `request_done` carrying a cancellation error.
    pub fn cancel(&mut self, id: RequestId) -> bool {
        let Some(i) = self.pending.iter().position(|p| *p == id) else {
            return false;
        };
        self.pending.remove(i);
        lock(&self.client.inner).release(id);
        true
    }
}

impl Drop for Batch<'_> {
    fn drop(&mut self) {
        let mut rt = lock(&self.client.inner);
        for id in self.pending.drain(..) {
            rt.release(id);
        }
    }
}

/// [`Body::bytes`]'s first read where no length tells the body's size
/// (chunked), and its least step.
const UNKNOWN_LENGTH_READ: usize = 16 * 1024;
/// [`Body::copy_to`]'s buffer where no length tells the body's size: the
/// body comes out of the receive buffer, and larger reads mean fewer trips.
const UNKNOWN_LENGTH_COPY: usize = 64 * 1024;
/// A body of known length this short is copied through the stack.
const STACK_READ: usize = 2048;
/// The most [`Body::bytes`] allocates ahead of the bytes that arrived.
const PREALLOC_LIMIT: usize = 8 << 20;

/// A response body that streams from the connection as it is read.
///
/// Reading drives the client's loop. Dropping it before the end cancels
/// the request and closes the connection (unless the rest of the body was
/// already buffered, in which case the connection is kept).
///
/// ```no_run
/// use std::io::Read;
///
/// let client = roundtrip::Client::new();
/// let mut body = client.get("http://127.0.0.1:8080/large")?.into_body();
/// let mut buf = [0u8; 8192];
/// let mut total = 0;
/// loop {
///     // Each read drives the loop until body bytes arrive (or the end).
///     let n = body.read(&mut buf)?;
///     if n == 0 {
///         break;
///     }
///     total += n;
/// }
/// let timings = body.timings().expect("a timeline");
/// println!("{total} bytes, total {:?}", timings.total());
/// if let Some(trailers) = body.trailers() {
///     println!("trailers: {trailers:?}");
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Body {
    rt: Arc<Mutex<Runtime>>,
    id: RequestId,
    trailers: Option<HeaderMap>,
    ended: bool,
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Body")
            .field("request", &self.id)
            .field("ended", &self.ended)
            .finish()
    }
}

impl Body {
    fn new(rt: Arc<Mutex<Runtime>>, id: RequestId) -> Body {
        Body {
            rt,
            id,
            trailers: None,
            ended: false,
        }
    }

    /// The request this body answers.
    pub fn request_id(&self) -> RequestId {
        self.id
    }

    /// Reads up to `buf.len()` bytes, with the crate's error type.
    pub fn read_body(&mut self, buf: &mut [u8]) -> Result<usize> {
        if self.ended || buf.is_empty() {
            return Ok(0);
        }
        let mut rt = lock(&self.rt);
        let (n, over) = rt.read_body(self.id, buf)?;
        if over || n == 0 {
            // The next read returns 0 without asking the runtime again.
            self.ended = true;
            self.trailers = rt.take_trailers(self.id);
        }
        Ok(n)
    }

    /// The request's timeline so far (complete once the body has been
    /// read to its end): curl's `-w` times and each phase's duration.
    pub fn timings(&self) -> Option<crate::timings::Timings> {
        lock(&self.rt).timings(self.id)
    }

    /// The response head as it came off the wire, from the status line to
    /// the empty line that ends it: what `curl -i` prints, with the
    /// server's reason phrase and the case of its field names, which
    /// [`Response::status`] and [`Response::headers`] do not keep.
    /// Informational (1xx) heads before it are not included. It shares its
    /// storage with the field values (no copy).
    ///
    /// ```no_run
    /// let resp = roundtrip::Client::new().get("http://127.0.0.1:8080/")?;
    /// let head = resp.body().raw_head();
    /// print!("{}", String::from_utf8_lossy(&head)); // "HTTP/1.1 200 OK\r\nServer: nginx\r\n..."
    /// # Ok::<(), roundtrip::Error>(())
    /// ```
    pub fn raw_head(&self) -> bytes::Bytes {
        lock(&self.rt).raw_head(self.id).unwrap_or_default()
    }

    /// The chunked trailer section, available once the body has been read
    /// to its end.
    pub fn trailers(&self) -> Option<&HeaderMap> {
        self.trailers.as_ref()
    }

    /// Reads the whole body into memory.
    ///
    /// The bytes are read straight into the returned vector, sized by the
    /// body's `Content-Length` when it has one (but never more than 8 MiB
    /// ahead of the bytes that have arrived: a length is the server's
    /// word, not memory it has sent), so a body of known length costs one
    /// allocation and no copy beyond the one out of the receive buffer.
    pub fn bytes(mut self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.append_to(&mut out)?;
        Ok(out)
    }

    /// Appends the rest of the body to `out`, read straight into it and
    /// sized as [`bytes`](Self::bytes) says; the number of bytes appended.
    /// On an error, `out` holds the bytes that came before it.
    fn append_to(&mut self, out: &mut Vec<u8>) -> Result<usize> {
        if self.ended {
            return Ok(0);
        }
        let (left, _) = lock(&self.rt).body_size_hint(self.id);
        // A close-delimited body (`u64::MAX` left) is of unknown length.
        let first = left
            .filter(|&n| n != u64::MAX)
            .map_or(UNKNOWN_LENGTH_READ, |n| {
                usize::try_from(n).map_or(PREALLOC_LIMIT, |n| n.clamp(1, PREALLOC_LIMIT))
            });
        let base = out.len();
        if out.capacity() == 0 {
            // `calloc`: a large first piece comes as zero pages.
            *out = vec![0u8; first];
        } else {
            out.resize(base + first, 0);
        }
        let mut filled = base;
        loop {
            if filled == out.len() {
                // Doubling, so that every byte is zeroed once in all.
                let more = (filled - base).clamp(UNKNOWN_LENGTH_READ, PREALLOC_LIMIT);
                out.resize(filled + more, 0);
            }
            let read = self.read_body(&mut out[filled..]);
            let n = *read.as_ref().unwrap_or(&0);
            filled += n;
            if read.is_err() || n == 0 || self.ended {
                out.truncate(filled);
                return read.map(|_| filled - base);
            }
        }
    }

    /// Writes the rest of the body to `w` and returns how many bytes that
    /// was: `std::io::copy` for a body, without its 8 KiB reads.
    ///
    /// The read buffer is sized by the body: a short body of known length
    /// goes through a buffer on the stack, and a plain-TCP body with at
    /// least [`Config::recv_buffer_size`] bytes left (or one delimited by
    /// the connection's close) through a buffer that large, which the
    /// kernel fills straight from the socket, so the bytes are copied once,
    /// into `w`, as by a client that hands out its own buffers. The 64 KiB
    /// buffer of a body of unknown length (chunked) is kept by the client
    /// for the next such body.
    ///
    /// An error of the body is a [`crate::Error`] inside the
    /// [`io::Error`] (as for [`Read`]); an error of `w` is returned as `w`
    /// gave it, and the rest of the body is left unread, as when a body is
    /// dropped before its end.
    ///
    /// ```no_run
    /// let client = roundtrip::Client::new();
    /// let request = http::Request::get("http://127.0.0.1:8080/big").body(())?;
    /// let mut body = client.send(request)?.into_body();
    /// let mut file = std::fs::File::create("big")?;
    /// let n = body.copy_to(&mut file)?;
    /// println!("{n} bytes written");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn copy_to<W: Write + ?Sized>(&mut self, w: &mut W) -> io::Result<u64> {
        if self.ended {
            return Ok(0);
        }
        let mut rt = lock(&self.rt);
        let (left, direct) = rt.body_size_hint(self.id);
        let size = left.map_or(UNKNOWN_LENGTH_COPY, |n| {
            usize::try_from(n).map_or(direct, |n| n.clamp(1, direct))
        });
        let mut stack;
        let mut heap = Vec::new();
        let buf = if size <= STACK_READ {
            drop(rt);
            stack = [0u8; STACK_READ];
            &mut stack[..size]
        } else {
            if size == UNKNOWN_LENGTH_COPY {
                heap = rt.take_copy_buf();
            }
            drop(rt);
            if heap.len() != size {
                // `calloc`: a large buffer comes as zero pages, not a memset.
                heap = vec![0u8; size];
            }
            &mut heap[..]
        };
        let mut total = 0;
        let copied = loop {
            match self.read_body(buf) {
                Ok(0) => break Ok(total),
                Ok(n) => {
                    if let Err(e) = w.write_all(&buf[..n]) {
                        break Err(e);
                    }
                    total += n as u64;
                }
                Err(e) => break Err(e.into()),
            }
        };
        if heap.len() == UNKNOWN_LENGTH_COPY {
            lock(&self.rt).keep_copy_buf(heap);
        }
        copied
    }

    /// Reads the whole body as UTF-8 text (invalid sequences replaced).
    pub fn text(self) -> Result<String> {
        let bytes = self.bytes()?;
        Ok(match String::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        })
    }
}

impl Read for Body {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_body(buf).map_err(io::Error::from)
    }

    /// Sized by the body's `Content-Length`, as [`Body::bytes`].
    fn read_to_end(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        self.append_to(buf).map_err(io::Error::from)
    }

    /// Sized by the body's `Content-Length`, as [`Body::bytes`]. A body
    /// that is not UTF-8 is an `InvalidData` error, and `buf` is left as
    /// it was.
    fn read_to_string(&mut self, buf: &mut String) -> io::Result<usize> {
        let mut bytes = Vec::new();
        let n = self.append_to(&mut bytes).map_err(io::Error::from)?;
        let text = String::from_utf8(bytes)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "the body is not UTF-8"))?;
        if buf.is_empty() {
            *buf = text;
        } else {
            buf.push_str(&text);
        }
        Ok(n)
    }
}

impl Drop for Body {
    fn drop(&mut self) {
        lock(&self.rt).release(self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn client_and_body_are_send() {
        assert_send_sync::<Client>();
        fn assert_send<T: Send>() {}
        assert_send::<Body>();
    }
}

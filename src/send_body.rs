//! Request bodies: empty, in memory (replayable, sent with
//! `Content-Length`), or streamed from a reader (with `Content-Length` when
//! the length is known, `Transfer-Encoding: chunked` otherwise; RFC 9112
//! §6.1–§6.2).

use std::fmt;
use std::io::Read;

use bytes::Bytes;

pub(crate) enum Inner {
    Empty,
    Bytes(Bytes),
    Reader {
        reader: Box<dyn Read + Send>,
        len: Option<u64>,
    },
}

/// The body of a request.
///
/// ```
/// use std::io::{Cursor, Read};
/// use roundtrip::SendBody;
///
/// // In memory: sent with Content-Length, and replayable on a retry.
/// let json: SendBody = r#"{"a": 1}"#.into();
/// assert_eq!(json.len(), Some(8));
/// assert!(json.is_replayable());
///
/// // Streamed with a known length: Content-Length, not replayable.
/// let file = SendBody::sized_reader(Cursor::new(vec![0u8; 1024]), 1024);
/// assert_eq!(file.len(), Some(1024));
/// assert!(!file.is_replayable());
///
/// // Streamed, length unknown: Transfer-Encoding: chunked.
/// let stream = SendBody::from_reader(std::io::repeat(b'x').take(10));
/// assert_eq!(stream.len(), None);
///
/// // Any of them is the body of an `http::Request`.
/// let request = http::Request::post("http://127.0.0.1:8080/upload").body(stream)?;
/// # Ok::<(), http::Error>(())
/// ```
pub struct SendBody(pub(crate) Inner);

impl fmt::Debug for SendBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Inner::Empty => f.write_str("SendBody::Empty"),
            Inner::Bytes(b) => write!(f, "SendBody::Bytes({} bytes)", b.len()),
            Inner::Reader { len, .. } => write!(f, "SendBody::Reader(len: {len:?})"),
        }
    }
}

impl SendBody {
    /// No body.
    pub fn empty() -> SendBody {
        SendBody(Inner::Empty)
    }

    /// A body streamed from `reader`, of unknown length: sent chunked.
    /// Not replayable, so a request with it is never retried.
    pub fn from_reader(reader: impl Read + Send + 'static) -> SendBody {
        SendBody(Inner::Reader {
            reader: Box::new(reader),
            len: None,
        })
    }

    /// A body streamed from `reader` that yields exactly `len` bytes: sent
    /// with `Content-Length`. A reader that yields a different number of
    /// bytes fails the request.
    pub fn sized_reader(reader: impl Read + Send + 'static, len: u64) -> SendBody {
        SendBody(Inner::Reader {
            reader: Box::new(reader),
            len: Some(len),
        })
    }

    /// The length, when known in advance.
    pub fn len(&self) -> Option<u64> {
        match &self.0 {
            Inner::Empty => Some(0),
            Inner::Bytes(b) => Some(b.len() as u64),
            Inner::Reader { len, .. } => *len,
        }
    }

    /// True for a body known to be empty.
    pub fn is_empty(&self) -> bool {
        self.len() == Some(0)
    }

    /// True when the body can be sent again (it is in memory).
    pub fn is_replayable(&self) -> bool {
        !matches!(self.0, Inner::Reader { .. })
    }
}

impl From<()> for SendBody {
    fn from(_: ()) -> SendBody {
        SendBody::empty()
    }
}

impl From<Bytes> for SendBody {
    fn from(b: Bytes) -> SendBody {
        if b.is_empty() {
            SendBody::empty()
        } else {
            SendBody(Inner::Bytes(b))
        }
    }
}

impl From<Vec<u8>> for SendBody {
    fn from(v: Vec<u8>) -> SendBody {
        Bytes::from(v).into()
    }
}

impl From<String> for SendBody {
    fn from(s: String) -> SendBody {
        Bytes::from(s).into()
    }
}

impl From<&'static str> for SendBody {
    fn from(s: &'static str) -> SendBody {
        Bytes::from_static(s.as_bytes()).into()
    }
}

impl From<&'static [u8]> for SendBody {
    fn from(s: &'static [u8]) -> SendBody {
        Bytes::from_static(s).into()
    }
}

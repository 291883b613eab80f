//! The smuggling guard: a read-side observer of HTTP/1 connections.
//!
//! hyper resolves a request with both `Content-Length` and `Transfer-Encoding` by dropping
//! the length, which RFC 9112 section 6.3 allows. A gateway in front of other servers must
//! reject such a request outright, because servers behind it may frame it another way. hyper no longer shows the removed header, so the guard follows the raw byte stream,
//! finds each request head and its body framing, and records which request is ambiguous.
//! The handler asks `next_request_is_ambiguous` once per request, in the same order.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0";

/// The guard's position in the request stream.
enum State {
    /// Collecting a request head up to its empty line.
    Head(Vec<u8>),
    /// Skipping a body of known length.
    Body(u64),
    /// Skipping a chunked body.
    Chunked(Chunked),
    /// After an upgrade request: bytes wait until the handler reports whether it succeeded.
    AwaitingUpgrade(Vec<u8>),
    /// Not HTTP/1 any more (HTTP/2, a tunnel, or a head hyper will reject).
    Off,
}

/// Position inside a chunked body.
enum Chunked {
    SizeLine { line: Vec<u8> },
    Data(u64),
    DataEnd { seen: u8 },
    Trailers { line_len: usize, previous: u8 },
}

pub struct GuardState {
    tracker: Mutex<Tracker>,
    ambiguous_at: AtomicU64,
    served: AtomicU64,
}

struct Tracker {
    state: State,
    heads: u64,
    max_head: usize,
    max_headers: usize,
}

impl GuardState {
    pub fn new(max_head: usize, max_headers: usize) -> Arc<Self> {
        let tracker = Tracker {
            state: State::Head(Vec::new()),
            heads: 0,
            max_head,
            max_headers,
        };
        Arc::new(GuardState {
            tracker: Mutex::new(tracker),
            ambiguous_at: AtomicU64::new(u64::MAX),
            served: AtomicU64::new(0),
        })
    }

    /// Counts one request handed to the handler and returns true when its head was ambiguous.
    pub fn next_request_is_ambiguous(&self) -> bool {
        let index = self.served.fetch_add(1, Ordering::Relaxed);
        index == self.ambiguous_at.load(Ordering::Relaxed)
    }

    /// Tells the guard whether the last upgrade request switched protocols.
    pub fn upgrade_finished(&self, switched: bool) {
        let mut tracker = self.lock();
        if let State::AwaitingUpgrade(pending) = std::mem::replace(&mut tracker.state, State::Off) {
            if !switched {
                tracker.state = State::Head(Vec::new());
                tracker.feed(&pending, &self.ambiguous_at);
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tracker> {
        self.tracker
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    fn observe(&self, bytes: &[u8]) {
        let mut tracker = self.lock();
        if !matches!(tracker.state, State::Off) {
            tracker.feed(bytes, &self.ambiguous_at);
        }
    }
}

impl Tracker {
    fn feed(&mut self, mut bytes: &[u8], ambiguous_at: &AtomicU64) {
        while !bytes.is_empty() {
            let used = match &mut self.state {
                State::Off => return,
                State::AwaitingUpgrade(pending) => {
                    pending.extend_from_slice(bytes);
                    return;
                }
                State::Body(remaining) => {
                    let used = (*remaining).min(bytes.len() as u64);
                    *remaining -= used;
                    if *remaining == 0 {
                        self.state = State::Head(Vec::new());
                    }
                    used as usize
                }
                State::Chunked(chunked) => match chunked.feed(bytes) {
                    (used, true) => {
                        self.state = State::Head(Vec::new());
                        used
                    }
                    (used, false) => used,
                },
                State::Head(_) => self.feed_head(bytes, ambiguous_at),
            };
            bytes = &bytes[used..];
        }
    }

    /// Adds bytes to the head being collected; returns how many belong to it.
    fn feed_head(&mut self, bytes: &[u8], ambiguous_at: &AtomicU64) -> usize {
        let State::Head(head) = &mut self.state else {
            return 0;
        };
        let mut bytes_for_head = bytes;
        if head.is_empty() {
            let blank = bytes
                .iter()
                .take_while(|byte| matches!(byte, b'\r' | b'\n'))
                .count();
            if blank == bytes.len() {
                return blank;
            }
            bytes_for_head = &bytes[blank..];
        }
        let skipped = bytes.len() - bytes_for_head.len();
        let search_from = head.len().saturating_sub(3);
        head.extend_from_slice(bytes_for_head);
        let Some(end) = find_head_end(&head[search_from..]).map(|end| end + search_from) else {
            if head.len() > self.max_head || head.starts_with(H2_PREFACE) {
                self.state = State::Off;
            }
            return bytes.len();
        };
        let used = skipped + bytes_for_head.len() - (head.len() - end);
        let head = std::mem::take(head);
        self.state = self.classify(&head[..end], ambiguous_at);
        used
    }

    /// Parses a complete head and returns the state for what follows it.
    fn classify(&mut self, head: &[u8], ambiguous_at: &AtomicU64) -> State {
        let index = self.heads;
        self.heads += 1;
        let mut fields = vec![httparse::EMPTY_HEADER; self.max_headers];
        let mut request = httparse::Request::new(&mut fields);
        if !matches!(request.parse(head), Ok(httparse::Status::Complete(_))) {
            return State::Off;
        }
        let framing = Framing::of(request.headers);
        if framing.ambiguous() {
            ambiguous_at.store(index, Ordering::Relaxed);
            return State::Off;
        }
        if framing.upgrade || request.method == Some("CONNECT") {
            return State::AwaitingUpgrade(Vec::new());
        }
        if framing.chunked {
            State::Chunked(Chunked::SizeLine { line: Vec::new() })
        } else {
            match framing
                .lengths
                .first()
                .and_then(|value| value.parse::<u64>().ok())
            {
                Some(length) if length > 0 => State::Body(length),
                _ => State::Head(Vec::new()),
            }
        }
    }
}

/// The framing-relevant header fields of one head.
struct Framing<'a> {
    lengths: Vec<&'a str>,
    transfer_encoding: bool,
    chunked: bool,
    upgrade: bool,
}

impl<'a> Framing<'a> {
    fn of(fields: &'a [httparse::Header<'a>]) -> Self {
        let mut framing = Framing {
            lengths: Vec::new(),
            transfer_encoding: false,
            chunked: false,
            upgrade: false,
        };
        for field in fields {
            let value = std::str::from_utf8(field.value).unwrap_or("\u{0}").trim();
            if field.name.eq_ignore_ascii_case("content-length") {
                framing.lengths.push(value);
            } else if field.name.eq_ignore_ascii_case("transfer-encoding") {
                framing.transfer_encoding = true;
                framing.chunked = value
                    .rsplit(',')
                    .next()
                    .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"));
            } else if field.name.eq_ignore_ascii_case("upgrade") {
                framing.upgrade = true;
            }
        }
        framing
    }

    /// Both framings at once, or lengths that disagree or are not plain numbers.
    fn ambiguous(&self) -> bool {
        if self.transfer_encoding && !self.lengths.is_empty() {
            return true;
        }
        let numbers: Vec<Option<u64>> = self
            .lengths
            .iter()
            .map(|value| {
                value
                    .bytes()
                    .all(|b| b.is_ascii_digit())
                    .then(|| value.parse().ok())
                    .flatten()
            })
            .collect();
        numbers.iter().any(Option::is_none) || numbers.windows(2).any(|pair| pair[0] != pair[1])
    }
}

impl Chunked {
    /// Consumes chunked body bytes; returns how many were used and whether the body ended.
    fn feed(&mut self, bytes: &[u8]) -> (usize, bool) {
        let mut used = 0;
        while used < bytes.len() {
            let byte = bytes[used];
            match self {
                Chunked::SizeLine { line } => {
                    used += 1;
                    if byte != b'\n' {
                        line.push(byte);
                        continue;
                    }
                    let text = String::from_utf8_lossy(line);
                    let digits = text.split(';').next().unwrap_or("").trim();
                    let size = u64::from_str_radix(digits, 16).unwrap_or(0);
                    *self = if size == 0 {
                        Chunked::Trailers {
                            line_len: 0,
                            previous: b'\n',
                        }
                    } else {
                        Chunked::Data(size)
                    };
                }
                Chunked::Data(remaining) => {
                    let take = (*remaining).min((bytes.len() - used) as u64);
                    *remaining -= take;
                    used += take as usize;
                    if *remaining == 0 {
                        *self = Chunked::DataEnd { seen: 0 };
                    }
                }
                Chunked::DataEnd { seen } => {
                    used += 1;
                    if byte == b'\n' {
                        *self = Chunked::SizeLine { line: Vec::new() };
                    } else {
                        *seen += 1;
                    }
                }
                Chunked::Trailers { line_len, previous } => {
                    used += 1;
                    if byte == b'\n' {
                        if *line_len == 0 {
                            return (used, true);
                        }
                        *line_len = 0;
                    } else if byte != b'\r' {
                        *line_len += 1;
                    }
                    *previous = byte;
                }
            }
        }
        (used, false)
    }
}

/// Returns the offset just past the first `\r\n\r\n` (or bare `\n\n`).
fn find_head_end(bytes: &[u8]) -> Option<usize> {
    bytes
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .map(|at| at + 4)
        .or_else(|| {
            bytes
                .windows(2)
                .position(|window| window == b"\n\n")
                .map(|at| at + 2)
        })
}

/// A stream whose reads the guard observes; writes pass through untouched. Without a state
/// (HTTP/2 connections) reads pass through as well.
pub struct Guarded<S> {
    inner: S,
    state: Option<Arc<GuardState>>,
}

impl<S> Guarded<S> {
    pub fn new(inner: S, state: Option<Arc<GuardState>>) -> Self {
        Guarded { inner, state }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Guarded<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let (Poll::Ready(Ok(())), Some(state)) = (&polled, &self.state) {
            state.observe(&buf.filled()[before..]);
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Guarded<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdicts(stream: &[u8]) -> (u64, u64) {
        let state = GuardState::new(64 * 1024, 100);
        state.observe(stream);
        let tracker = state.lock();
        (tracker.heads, state.ambiguous_at.load(Ordering::Relaxed))
    }

    #[test]
    fn content_length_and_chunked_flagged() {
        let stream = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nPOST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
        assert_eq!(verdicts(stream), (2, 1));
    }

    #[test]
    fn bodies_are_skipped() {
        let stream = b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloPOST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;x=1\r\nhello\r\n0\r\nX-Trailer: 1\r\n\r\nGET / HTTP/1.1\r\n\r\n";
        assert_eq!(verdicts(stream), (3, u64::MAX));
    }

    #[test]
    fn split_reads_are_joined() {
        let state = GuardState::new(64 * 1024, 100);
        for piece in [
            &b"GET / HT"[..],
            b"TP/1.1\r\nContent-Length: 1\r",
            b"\nContent-Length: 2\r\n\r\n",
        ] {
            state.observe(piece);
        }
        assert_eq!(state.ambiguous_at.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn empty_length_beside_real_one_flagged() {
        let stream = b"POST / HTTP/1.1\r\nContent-Length: \r\nContent-Length: 3\r\n\r\nabc";
        assert_eq!(verdicts(stream).1, 0);
    }
}

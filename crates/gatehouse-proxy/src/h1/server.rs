//! The server side of HTTP/1.1: one task per client connection reads a request head, runs
//! the request phases on it, writes the response and waits for the next request.
//!
//! The connection task and the body of the request in flight share the connection through
//! a `Wire`, locked only inside a poll, so the body can stream to the upstream while the
//! response streams back. Framing that servers behind the gateway could read another way
//! is refused with 400 before any phase runs (RFC 9112 section 6.3).

use std::future::{poll_fn, Future};
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use http::header::{CONNECTION, CONTENT_LENGTH, DATE, EXPECT, TRANSFER_ENCODING, UPGRADE};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Uri, Version};
use http_body::{Body, Frame, SizeHint};
use tokio::io::AsyncWrite;
use tokio::sync::watch;
use tokio::time::{Instant, Sleep};

use super::codec::{self, BodyDecoder, Decoded, Framing};
use super::{poll_read_buf, poll_write_all, Io, Rewind};
use crate::body::{BoxError, ProxyBody, RequestBody};
use crate::error::{error_response, ProxyError};
use crate::handler::{self, ConnectionInfo};
use crate::headers;
use crate::headers::AddedFields;
use crate::snapshot::Shared;

/// The start of the HTTP/2 connection preface, sent by clients that speak h2c with prior
/// knowledge.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n";
/// Response bytes collected before they are written out.
const WRITE_HIGH_WATER: usize = 64 * 1024;
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// Limits and timeouts of client connections.
#[derive(Clone)]
pub struct ServerSettings {
    pub max_head: usize,
    pub max_headers: usize,
    pub head_timeout: Duration,
    pub idle_timeout: Duration,
}

/// The outcome of a connection's HTTP/1.1 service.
pub enum Ending {
    Closed,
    /// The client opened with the HTTP/2 preface, so the stream continues as h2c.
    Http2(Rewind),
}

/// The connection state the connection task and the request body share.
struct Wire {
    io: Box<dyn Io>,
    read_buf: BytesMut,
    eof: bool,
    /// The body of the request in flight, while it is not read to its end.
    body: Option<BodyReader>,
    /// How long a client may leave response bytes unread before the connection is closed.
    send_timeout: Duration,
}

struct BodyReader {
    decoder: BodyDecoder,
    /// The `100 Continue` response still to be written before the body is read.
    pending_continue: Option<BytesMut>,
}

type SharedWire = Arc<Mutex<Wire>>;

fn lock(wire: &Mutex<Wire>) -> MutexGuard<'_, Wire> {
    wire.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Wire {
    fn poll_body_frame(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let Wire {
            io,
            read_buf,
            eof,
            body,
            ..
        } = self;
        let Some(reader) = body.as_mut() else {
            return Poll::Ready(None);
        };
        if let Some(pending) = reader.pending_continue.as_mut() {
            match poll_write_all(&mut **io, pending, cx) {
                Poll::Ready(Ok(())) => reader.pending_continue = None,
                Poll::Ready(Err(err)) => return Poll::Ready(Some(Err(err.into()))),
                Poll::Pending => return Poll::Pending,
            }
        }
        loop {
            match reader.decoder.decode(read_buf, *eof) {
                Ok(Decoded::Frame(frame)) => return Poll::Ready(Some(Ok(frame))),
                Ok(Decoded::End) => return Poll::Ready(None),
                Err(err) => return Poll::Ready(Some(Err(err.into()))),
                Ok(Decoded::NeedMore) => match poll_read_buf(&mut **io, read_buf, cx) {
                    Poll::Ready(Ok(0)) => *eof = true,
                    Poll::Ready(Ok(_)) => {}
                    Poll::Ready(Err(err)) => return Poll::Ready(Some(Err(err.into()))),
                    Poll::Pending => return Poll::Pending,
                },
            }
        }
    }

    /// Settles the request body before the response head is written. A `100 Continue` not
    /// sent by now is never sent, and a body that is fully in the buffer is consumed unless
    /// the phases still read it (`in_use`). Returns true when the body is read to its end.
    fn settle_body(&mut self, in_use: bool) -> bool {
        let Some(reader) = self.body.as_mut() else {
            return true;
        };
        reader.pending_continue = None;
        if in_use {
            return reader.decoder.is_done();
        }
        loop {
            match reader.decoder.decode(&mut self.read_buf, self.eof) {
                Ok(Decoded::Frame(_)) => {}
                Ok(Decoded::End) => return true,
                Ok(Decoded::NeedMore) | Err(_) => return false,
            }
        }
    }
}

/// The body of a request read from an HTTP/1.1 connection.
pub struct IncomingBody {
    wire: SharedWire,
    length: Option<u64>,
}

impl Body for IncomingBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        lock(&self.wire).poll_body_frame(cx)
    }

    fn size_hint(&self) -> SizeHint {
        match self.length {
            Some(length) => SizeHint::with_exact(length),
            None => SizeHint::default(),
        }
    }
}

/// Facts of a request that decide how its response is written.
struct RequestFacts {
    version: Version,
    head_only: bool,
    keep_alive: bool,
    upgrade: bool,
}

/// Serves HTTP/1.1 requests on `io` until the client closes, a timeout passes, the gateway
/// drains, or the client turns out to speak HTTP/2.
pub async fn serve(
    io: Box<dyn Io>,
    shared: Arc<Shared>,
    info: Arc<ConnectionInfo>,
    settings: ServerSettings,
    mut drain: watch::Receiver<bool>,
) -> Ending {
    let wire = Arc::new(Mutex::new(Wire {
        io,
        read_buf: BytesMut::with_capacity(8 * 1024),
        eof: false,
        body: None,
        send_timeout: settings.idle_timeout,
    }));
    let signal = std::pin::pin!(async move {
        let _ = drain.wait_for(|stop| *stop).await;
    });
    let mut draining = Drain {
        signal,
        started: false,
    };
    let mut waiter = HeadWaiter {
        timer: Box::pin(tokio::time::sleep(settings.head_timeout)),
        settings: &settings,
    };
    let mut first = true;
    loop {
        let head = match waiter.read_head(&wire, &mut draining, first).await {
            HeadRead::Head(head) => head,
            HeadRead::Closed => return Ending::Closed,
            HeadRead::Http2 => return hand_over_to_http2(wire),
            HeadRead::Invalid(err) => {
                reject(&wire, &err).await;
                return Ending::Closed;
            }
        };
        first = false;
        let (request, facts) = match parse_request(head, &settings, &wire) {
            Ok(parsed) => parsed,
            Err(Rejected::Head(err)) => {
                reject(&wire, &err).await;
                return Ending::Closed;
            }
            Err(Rejected::Request(request, err)) => {
                let (response, added) = handler::reject_request(shared, info, &request, &err);
                let facts = RequestFacts {
                    version: request.version(),
                    head_only: request.method() == Method::HEAD,
                    keep_alive: false,
                    upgrade: false,
                };
                let _ = write_response(&wire, response, &added, &facts, true).await;
                shut_down(&wire).await;
                return Ending::Closed;
            }
        };
        let (response, added) = handler::respond(shared.clone(), info.clone(), request).await;
        let waker = std::task::Waker::noop();
        let stopping = draining.poll_started(&mut Context::from_waker(waker));
        let keep_alive = match write_response(&wire, response, &added, &facts, stopping).await {
            Ok(Written::KeepAlive) => true,
            Ok(Written::Close) | Err(_) => false,
            Ok(Written::Upgraded(upstream)) => {
                tunnel(wire, upstream).await;
                return Ending::Closed;
            }
        };
        if !keep_alive {
            shut_down(&wire).await;
            return Ending::Closed;
        }
    }
}

/// The gateway's shutdown signal as seen by one connection.
struct Drain<F> {
    signal: Pin<F>,
    started: bool,
}

impl<F: std::ops::DerefMut<Target: Future<Output = ()>>> Drain<F> {
    /// Returns true once shutdown has started. Until then, `cx` is woken when it starts.
    fn poll_started(&mut self, cx: &mut Context<'_>) -> bool {
        if !self.started {
            self.started = self.signal.as_mut().poll(cx).is_ready();
        }
        self.started
    }
}

enum HeadRead {
    Head(BytesMut),
    Closed,
    Http2,
    Invalid(ProxyError),
}

/// Waits for request heads under the head and idle timeouts.
struct HeadWaiter<'a> {
    timer: Pin<Box<Sleep>>,
    settings: &'a ServerSettings,
}

impl HeadWaiter<'_> {
    /// Reads up to the end of the next request head. The head timeout runs from the head's
    /// first byte, or from the connection's start for the first request. Before that byte, a
    /// keep-alive connection waits up to the idle timeout or until the gateway drains.
    async fn read_head<F>(
        &mut self,
        wire: &SharedWire,
        draining: &mut Drain<F>,
        first: bool,
    ) -> HeadRead
    where
        F: std::ops::DerefMut<Target: Future<Output = ()>>,
    {
        let mut scanned = 0;
        let now = Instant::now();
        let mut head_started = first.then_some(now);
        let idle_deadline = now + self.settings.idle_timeout;
        poll_fn(|cx| {
            let mut guard = lock(wire);
            let wire = &mut *guard;
            loop {
                // Empty lines before a request line are ignored (RFC 9112 section 2.2).
                while let Some(skip) = leading_empty_line(&wire.read_buf) {
                    wire.read_buf.advance(skip);
                }
                if !wire.read_buf.is_empty() {
                    if first && is_h2_preface(&wire.read_buf) {
                        if wire.read_buf.len() >= H2_PREFACE.len() {
                            return Poll::Ready(HeadRead::Http2);
                        }
                    } else if let Some(end) = codec::find_section_end(&wire.read_buf, &mut scanned)
                    {
                        if end > self.settings.max_head {
                            return Poll::Ready(head_too_large());
                        }
                        return Poll::Ready(HeadRead::Head(wire.read_buf.split_to(end)));
                    } else if wire.read_buf.len() > self.settings.max_head {
                        return Poll::Ready(head_too_large());
                    }
                    head_started.get_or_insert_with(Instant::now);
                }
                if wire.eof {
                    return Poll::Ready(HeadRead::Closed);
                }
                match poll_read_buf(&mut *wire.io, &mut wire.read_buf, cx) {
                    Poll::Ready(Ok(0)) => wire.eof = true,
                    Poll::Ready(Ok(_)) => {}
                    Poll::Ready(Err(_)) => return Poll::Ready(HeadRead::Closed),
                    Poll::Pending => break,
                }
            }
            let waiting_idle = wire.read_buf.is_empty() && head_started.is_none();
            if waiting_idle && draining.poll_started(cx) {
                return Poll::Ready(HeadRead::Closed);
            }
            let deadline =
                head_started.map_or(idle_deadline, |start| start + self.settings.head_timeout);
            if self.timer.deadline() != deadline {
                self.timer.as_mut().reset(deadline);
            }
            match self.timer.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(HeadRead::Closed),
                Poll::Pending => Poll::Pending,
            }
        })
        .await
    }
}

fn head_too_large() -> HeadRead {
    HeadRead::Invalid(ProxyError::HeadTooLarge(
        "the request head is over the size limit",
    ))
}

/// Returns the length of an empty line at the start of `buf`.
fn leading_empty_line(buf: &[u8]) -> Option<usize> {
    match buf {
        [b'\r', b'\n', ..] => Some(2),
        [b'\n', ..] => Some(1),
        _ => None,
    }
}

fn is_h2_preface(buf: &[u8]) -> bool {
    let len = buf.len().min(H2_PREFACE.len());
    buf[..len] == H2_PREFACE[..len]
}

fn hand_over_to_http2(wire: SharedWire) -> Ending {
    match Arc::try_unwrap(wire) {
        Ok(wire) => {
            let wire = wire.into_inner().unwrap_or_else(PoisonError::into_inner);
            Ending::Http2(Rewind {
                prefix: wire.read_buf,
                inner: wire.io,
            })
        }
        Err(_) => Ending::Closed,
    }
}

/// A request head the phases never see.
enum Rejected {
    /// The head itself is malformed or too large.
    Head(ProxyError),
    /// The head parsed, but its body framing is unsafe to forward.
    Request(Box<Request<RequestBody>>, ProxyError),
}

impl From<ProxyError> for Rejected {
    fn from(err: ProxyError) -> Self {
        Rejected::Head(err)
    }
}

/// Builds the request from its head and installs the body reader.
fn parse_request(
    head: BytesMut,
    settings: &ServerSettings,
    wire: &SharedWire,
) -> Result<(Request<RequestBody>, RequestFacts), Rejected> {
    let mut request = parse_head(head.freeze(), settings.max_headers)?;
    let version = request.version();
    let framing = match codec::request_framing(request.headers(), version) {
        Ok(framing) => framing,
        Err(err) => {
            let err = match err {
                codec::FramingError::UnknownCoding => ProxyError::UnsupportedTransferCoding,
                _ => ProxyError::AmbiguousLength,
            };
            return Err(Rejected::Request(Box::new(request), err));
        }
    };
    let fields = request.headers_mut();
    if let Framing::Length(length) = framing {
        single_length_field(fields, length);
    }
    let facts = RequestFacts {
        version,
        head_only: request.method() == Method::HEAD,
        keep_alive: wants_keep_alive(request.headers(), version),
        upgrade: version == Version::HTTP_11 && request.headers().contains_key(UPGRADE),
    };
    *request.body_mut() = install_body(wire, framing, request.headers(), version, settings);
    Ok((request, facts))
}

/// Parses a complete head with httparse into a request without a body. Field values share
/// the head's buffer instead of being copied.
fn parse_head(head: Bytes, max_headers: usize) -> Result<Request<RequestBody>, ProxyError> {
    let mut storage: Vec<httparse::Header<'_>> = Vec::with_capacity(max_headers);
    let mut parsed = httparse::Request::new(&mut []);
    let fields = &mut storage.spare_capacity_mut()[..max_headers];
    match parsed.parse_with_uninit_headers(&head, fields) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => {
            return Err(ProxyError::BadRequest("incomplete request head"))
        }
        Err(httparse::Error::TooManyHeaders) => {
            return Err(ProxyError::HeadTooLarge(
                "the request has too many header fields",
            ))
        }
        Err(_) => return Err(ProxyError::BadRequest("malformed request head")),
    }

    let mut request = Request::new(RequestBody::Empty);
    *request.method_mut() = Method::from_bytes(parsed.method.unwrap_or_default().as_bytes())
        .map_err(|_| ProxyError::BadRequest("invalid method"))?;
    let target = parsed.path.unwrap_or_default().as_bytes();
    *request.uri_mut() = Uri::from_maybe_shared(head.slice_ref(target))
        .map_err(|_| ProxyError::InvalidTarget("the request target is not a valid URI"))?;
    *request.version_mut() = match parsed.version {
        Some(0) => Version::HTTP_10,
        _ => Version::HTTP_11,
    };

    // Room for the fields the phases add (forwarding, request id), so the map never grows.
    let fields = request.headers_mut();
    fields.reserve(parsed.headers.len() + 6);
    codec::append_fields(fields, &head, parsed.headers).map_err(ProxyError::BadRequest)?;
    Ok(request)
}

/// Replaces repeated or listed `Content-Length` values, which all agree, by one, so that the
/// upstream receives a single field.
fn single_length_field(fields: &mut HeaderMap, length: u64) {
    let mut values = fields.get_all(CONTENT_LENGTH).iter();
    let repeated = values
        .next()
        .is_some_and(|first| first.as_bytes().contains(&b','))
        || values.next().is_some();
    if repeated {
        fields.insert(CONTENT_LENGTH, HeaderValue::from(length));
    }
}

fn install_body(
    wire: &SharedWire,
    framing: Framing,
    fields: &HeaderMap,
    version: Version,
    settings: &ServerSettings,
) -> RequestBody {
    if framing == Framing::Empty {
        lock(wire).body = None;
        return RequestBody::Empty;
    }
    let expects_continue = version == Version::HTTP_11
        && fields
            .get(EXPECT)
            .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    let reader = BodyReader {
        decoder: BodyDecoder::new(framing, settings.max_head),
        pending_continue: expects_continue.then(|| BytesMut::from(CONTINUE)),
    };
    lock(wire).body = Some(reader);
    let length = match framing {
        Framing::Length(length) => Some(length),
        _ => None,
    };
    RequestBody::Http1(IncomingBody {
        wire: wire.clone(),
        length,
    })
}

fn wants_keep_alive(fields: &HeaderMap, version: Version) -> bool {
    match version {
        Version::HTTP_11 => !headers::has_connection_token(fields, "close"),
        _ => headers::has_connection_token(fields, "keep-alive"),
    }
}

enum Written {
    KeepAlive,
    Close,
    Upgraded(crate::h1::client::Upgraded),
}

/// Writes the response head and streams its body. Decides the body framing the client sees
/// and whether the connection stays open.
async fn write_response(
    wire: &SharedWire,
    response: Response<ProxyBody>,
    added: &AddedFields,
    facts: &RequestFacts,
    stopping: bool,
) -> io::Result<Written> {
    let (mut parts, mut body) = response.into_parts();
    let status = parts.status;
    let upgraded = if status == StatusCode::SWITCHING_PROTOCOLS && facts.upgrade {
        parts
            .extensions
            .remove::<crate::h1::client::UpgradeSlot>()
            .and_then(|slot| slot.take())
    } else {
        None
    };
    let in_use = Arc::strong_count(wire) > 1;
    let body_read = lock(wire).settle_body(in_use);
    let mut keep_alive = facts.keep_alive
        && body_read
        && !stopping
        && !headers::has_connection_token(&parts.headers, "close");
    let framing = response_framing(&mut parts.headers, status, &body, facts, &mut keep_alive);
    if upgraded.is_none() {
        set_connection(&mut parts.headers, keep_alive, facts.version);
    }
    if !parts.headers.contains_key(DATE) {
        parts
            .headers
            .insert(DATE, crate::telemetry::time::http_date());
    }

    let mut out = BytesMut::with_capacity(1024);
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.extend_from_slice(b" ");
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    codec::write_fields_where(&mut out, &parts.headers, |name| !added.replaces(name));
    added.write_to(&mut out);
    out.extend_from_slice(b"\r\n");

    if let Some(upgraded) = upgraded {
        flush(wire, &mut out).await?;
        return Ok(Written::Upgraded(upgraded));
    }
    let complete = match framing {
        Framing::Empty => true,
        framing => stream_body(wire, &mut body, framing, &mut out).await?,
    };
    // Dropping the body runs the log phase, which must count the request before the
    // client can see the end of the response.
    drop(body);
    flush(wire, &mut out).await?;
    Ok(if keep_alive && complete {
        Written::KeepAlive
    } else {
        Written::Close
    })
}

/// Chooses how the response body is framed and sets the length fields to match.
fn response_framing(
    fields: &mut HeaderMap,
    status: StatusCode,
    body: &ProxyBody,
    facts: &RequestFacts,
    keep_alive: &mut bool,
) -> Framing {
    fields.remove(TRANSFER_ENCODING);
    if status.is_informational() || status == StatusCode::NO_CONTENT {
        fields.remove(CONTENT_LENGTH);
        return Framing::Empty;
    }
    if facts.head_only || status == StatusCode::NOT_MODIFIED {
        return Framing::Empty;
    }
    let declared = fields
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if let Some(length) = declared.or(body.size_hint().exact()) {
        if declared.is_none() {
            fields.insert(CONTENT_LENGTH, HeaderValue::from(length));
        }
        return if length == 0 {
            Framing::Empty
        } else {
            Framing::Length(length)
        };
    }
    fields.remove(CONTENT_LENGTH);
    if facts.version == Version::HTTP_11 {
        fields.insert(TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
        return Framing::Chunked;
    }
    *keep_alive = false;
    Framing::UntilClose
}

fn set_connection(fields: &mut HeaderMap, keep_alive: bool, version: Version) {
    fields.remove(CONNECTION);
    if !keep_alive {
        fields.insert(CONNECTION, HeaderValue::from_static("close"));
    } else if version == Version::HTTP_10 {
        fields.insert(CONNECTION, HeaderValue::from_static("keep-alive"));
    }
}

/// Streams the body after the head in `out`. Returns false when the body ended early or
/// failed, which leaves the client with an incomplete message and the connection to close.
async fn stream_body(
    wire: &SharedWire,
    body: &mut ProxyBody,
    framing: Framing,
    out: &mut BytesMut,
) -> io::Result<bool> {
    let mut remaining = match framing {
        Framing::Length(length) => length,
        _ => u64::MAX,
    };
    loop {
        let next = poll_fn(|cx| match Pin::new(&mut *body).poll_frame(cx) {
            Poll::Ready(frame) => Poll::Ready(Some(frame)),
            // Nothing more is ready: write what is collected while the body waits.
            Poll::Pending if !out.is_empty() => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        })
        .await;
        let frame = match next {
            None => {
                flush(wire, out).await?;
                continue;
            }
            Some(None) => break,
            Some(Some(Ok(frame))) => frame,
            Some(Some(Err(err))) => {
                tracing::debug!(error = %err, "response body failed, closing the connection");
                return Ok(false);
            }
        };
        match frame.into_data() {
            Ok(data) if framing == Framing::Chunked => codec::write_chunk(out, &data),
            Ok(data) => {
                if data.len() as u64 > remaining {
                    tracing::debug!("response body is longer than its Content-Length");
                    return Ok(false);
                }
                remaining -= data.len() as u64;
                out.extend_from_slice(&data);
            }
            Err(frame) => {
                if let (Framing::Chunked, Ok(trailers)) = (framing, frame.into_trailers()) {
                    codec::write_last_chunk(out, Some(&trailers));
                    return Ok(true);
                }
            }
        }
        // The last bytes stay in `out` until the caller has run the log phase.
        if body.is_end_stream() {
            break;
        }
        if out.len() >= WRITE_HIGH_WATER {
            flush(wire, out).await?;
        }
    }
    match framing {
        Framing::Chunked => codec::write_last_chunk(out, None),
        Framing::Length(_) if remaining != 0 => return Ok(false),
        _ => {}
    }
    Ok(true)
}

/// Writes `out` to the client. A client that accepts none of it within the send timeout
/// (the idle timeout) is taken for gone. The timer starts only once a write has to wait.
async fn flush(wire: &SharedWire, out: &mut BytesMut) -> io::Result<()> {
    let mut timer: Option<Pin<Box<Sleep>>> = None;
    poll_fn(|cx| {
        let mut wire = lock(wire);
        if let Poll::Ready(result) = poll_write_all(&mut *wire.io, out, cx) {
            return Poll::Ready(result);
        }
        let send_timeout = wire.send_timeout;
        let timer = timer.get_or_insert_with(|| Box::pin(tokio::time::sleep(send_timeout)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::ErrorKind::TimedOut.into())),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}

/// Sends the error response of a head that could not be parsed, then closes. Such a head
/// gets a request id in the response and a debug log line, but no access log line, since
/// it has no method or path to report.
async fn reject(wire: &SharedWire, err: &ProxyError) {
    let request_id = headers::request_id(&HeaderMap::new());
    let text = request_id.to_str().unwrap_or_default();
    tracing::debug!(request_id = text, code = err.code(), error = %err, "request rejected");
    let facts = RequestFacts {
        version: Version::HTTP_11,
        head_only: false,
        keep_alive: false,
        upgrade: false,
    };
    let response = error_response(err, text, false);
    let added = AddedFields {
        request_id,
        limits: None,
    };
    let _ = write_response(wire, response, &added, &facts, true).await;
    shut_down(wire).await;
}

/// Sends FIN after the last response so the client reads it to the end.
async fn shut_down(wire: &SharedWire) {
    let _ = poll_fn(|cx| Pin::new(&mut lock(wire).io).poll_shutdown(cx)).await;
}

/// Joins the client connection to the upstream connection after a `101 Switching Protocols`.
/// Bytes the client sent after its request head go to the upstream first.
async fn tunnel(wire: SharedWire, upstream: crate::h1::client::Upgraded) {
    let Ok(wire) = Arc::try_unwrap(wire) else {
        tracing::debug!("upgrade abandoned because the request body is still in use");
        return;
    };
    let wire = wire.into_inner().unwrap_or_else(PoisonError::into_inner);
    let mut client = Rewind {
        prefix: wire.read_buf,
        inner: wire.io,
    };
    let mut upstream = Rewind {
        prefix: upstream.read_buf,
        inner: upstream.io,
    };
    if let Err(err) = tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
        tracing::debug!(error = %err, "upgraded connection ended with an error");
    }
}

//! The client side of HTTP/1.1: sends a request on a pooled upstream connection and reads
//! the response, in the task of the client request, with no connection task between them.
//!
//! The request body streams while the response is read, so an upstream may respond before
//! it has the whole body. `100 Continue` opens the request's `ContinueHook`; a `101` hands
//! the connection over in an `UpgradeSlot` for the tunnel. A connection goes back to the
//! pool only when both messages are complete and neither side asked to close.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};

use bytes::{Bytes, BytesMut};
use http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Version};
use http_body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, ReadBuf};

use super::codec::{self, BodyDecoder, Decoded, Framing};
use super::{poll_read_buf, poll_write_all, Io};
use crate::body::{BoxError, GateSwitch, ProxyBody};
use crate::headers;

/// The largest response head accepted from an upstream.
const MAX_RESPONSE_HEAD: usize = 64 * 1024;
/// Maximum number of header fields in a response head.
const MAX_RESPONSE_FIELDS: usize = 256;
/// Request body bytes collected before they are written out.
const WRITE_HIGH_WATER: usize = 64 * 1024;

/// An open HTTP/1.1 connection to a target.
pub struct ClientConnection {
    io: Box<dyn Io>,
    read_buf: BytesMut,
}

impl ClientConnection {
    pub fn new(io: Box<dyn Io>) -> Self {
        ClientConnection {
            io,
            read_buf: BytesMut::with_capacity(8 * 1024),
        }
    }

    /// Returns false when the target has closed an idle connection or sent unexpected bytes
    /// on it. The check reads only what the socket already reported.
    pub fn is_usable(&mut self) -> bool {
        if !self.read_buf.is_empty() {
            return false;
        }
        let mut probe = [0u8; 1];
        let mut probe = ReadBuf::new(&mut probe);
        let mut cx = Context::from_waker(Waker::noop());
        Pin::new(&mut self.io)
            .poll_read(&mut cx, &mut probe)
            .is_pending()
    }
}

/// Request extension that is opened when the upstream responds `100 Continue`.
#[derive(Clone)]
pub struct ContinueHook(pub Arc<GateSwitch>);

/// The connection of a `101 Switching Protocols` response, with bytes already read from it.
pub struct Upgraded {
    pub io: Box<dyn Io>,
    pub read_buf: BytesMut,
}

/// Response extension that carries the upgraded connection to the client side.
#[derive(Clone)]
pub struct UpgradeSlot(Arc<Mutex<Option<Upgraded>>>);

impl UpgradeSlot {
    pub fn take(&self) -> Option<Upgraded> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

/// A failed exchange with an upstream.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("connection closed before a complete response head")]
    Closed,
    #[error("invalid response: {0}")]
    Protocol(&'static str),
    #[error("request body failed: {0}")]
    Body(#[source] BoxError),
}

/// An exchange that failed, with the request when it may go out again on another
/// connection (nothing of it was consumed and the target sent nothing back).
pub struct Failure {
    pub error: ExchangeError,
    pub unsent: Option<Request<ProxyBody>>,
}

/// Sends `request` on `connection` and waits for the final response head. `reused` is true when the
/// connection came from the pool, where the target may have closed it meanwhile.
pub async fn send(
    connection: ClientConnection,
    request: Request<ProxyBody>,
    reused: bool,
) -> Result<Response<ResponseBody>, Failure> {
    let (mut parts, body) = request.into_parts();
    let framing = request_framing(&mut parts.headers, &parts.method, &body);
    let head = encode_head(&parts.method, &parts.uri, &parts.headers);
    let (retained, request_body) = match framing {
        Framing::Empty => (Some(body), None),
        _ => (None, Some(body)),
    };
    let mut exchange = Exchange {
        connection,
        out: head,
        request_body,
        chunked: framing == Framing::Chunked,
        continue_hook: parts.extensions.get::<ContinueHook>().cloned(),
        scanned: 0,
        eof: false,
        received: false,
    };
    let response = match poll_fn(|cx| exchange.poll_head(cx)).await {
        Ok(head) => head,
        Err(error) => {
            let retry = reused
                && !exchange.received
                && matches!(error, ExchangeError::Closed | ExchangeError::Io(_));
            let unsent = retained
                .filter(|_| retry)
                .map(|body| Request::from_parts(parts, body));
            return Err(Failure { error, unsent });
        }
    };
    exchange
        .finish_response(&parts.method, response)
        .map_err(|error| Failure {
            error,
            unsent: None,
        })
}

/// Sets the length fields of the upstream request from its body and returns the framing.
fn request_framing(fields: &mut HeaderMap, method: &Method, body: &ProxyBody) -> Framing {
    fields.remove(TRANSFER_ENCODING);
    let declared = fields
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    let length = declared.or_else(|| {
        if body.is_end_stream() {
            Some(0)
        } else {
            body.size_hint().exact()
        }
    });
    match length {
        Some(length) => {
            let expects_body = matches!(*method, Method::POST | Method::PUT | Method::PATCH);
            if declared.is_none() && (length > 0 || expects_body) {
                fields.insert(CONTENT_LENGTH, HeaderValue::from(length));
            }
            if length == 0 {
                Framing::Empty
            } else {
                Framing::Length(length)
            }
        }
        None => {
            fields.remove(CONTENT_LENGTH);
            fields.insert(TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
            Framing::Chunked
        }
    }
}

fn encode_head(method: &Method, uri: &http::Uri, fields: &HeaderMap) -> BytesMut {
    let target = uri.path_and_query().map_or("/", |path| path.as_str());
    let mut out = BytesMut::with_capacity(256 + fields.len() * 32);
    out.extend_from_slice(method.as_str().as_bytes());
    out.extend_from_slice(b" ");
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    codec::write_fields(&mut out, fields);
    out.extend_from_slice(b"\r\n");
    out
}

/// One request and response on one connection.
struct Exchange {
    connection: ClientConnection,
    /// Encoded request head and body bytes still to be written.
    out: BytesMut,
    /// The request body, while it has more to send.
    request_body: Option<ProxyBody>,
    chunked: bool,
    continue_hook: Option<ContinueHook>,
    /// How far the current response head has been searched for its end.
    scanned: usize,
    eof: bool,
    /// The target has sent at least one byte.
    received: bool,
}

impl Exchange {
    /// Encodes what the request body has ready and writes it out, until either would wait.
    fn poll_send(&mut self, cx: &mut Context<'_>) -> Result<(), ExchangeError> {
        loop {
            while self.out.len() < WRITE_HIGH_WATER {
                let Some(body) = self.request_body.as_mut() else {
                    break;
                };
                match Pin::new(body).poll_frame(cx) {
                    Poll::Pending => break,
                    Poll::Ready(Some(Err(err))) => return Err(ExchangeError::Body(err)),
                    Poll::Ready(Some(Ok(frame))) => self.encode_frame(frame),
                    Poll::Ready(None) => {
                        if self.chunked {
                            codec::write_last_chunk(&mut self.out, None);
                        }
                        self.request_body = None;
                    }
                }
            }
            if self.out.is_empty() {
                return Ok(());
            }
            match poll_write_all(&mut *self.connection.io, &mut self.out, cx) {
                Poll::Ready(Ok(())) if self.request_body.is_some() => {}
                Poll::Ready(Ok(())) | Poll::Pending => return Ok(()),
                Poll::Ready(Err(err)) => return Err(err.into()),
            }
        }
    }

    fn encode_frame(&mut self, frame: Frame<Bytes>) {
        match frame.into_data() {
            Ok(data) if self.chunked => codec::write_chunk(&mut self.out, &data),
            Ok(data) => self.out.extend_from_slice(&data),
            Err(frame) => {
                if let (true, Ok(trailers)) = (self.chunked, frame.into_trailers()) {
                    codec::write_last_chunk(&mut self.out, Some(&trailers));
                    self.request_body = None;
                }
            }
        }
    }

    fn sending_done(&self) -> bool {
        self.out.is_empty() && self.request_body.is_none()
    }

    /// Reads until a final response head (or a `101`) is complete, sending the request on
    /// the way.
    fn poll_head(&mut self, cx: &mut Context<'_>) -> Poll<Result<Response<()>, ExchangeError>> {
        loop {
            self.poll_send(cx)?;
            let buf = &mut self.connection.read_buf;
            if let Some(end) = codec::find_section_end(buf, &mut self.scanned) {
                let head = buf.split_to(end).freeze();
                self.scanned = 0;
                let response = parse_response(&head)?;
                match response.status() {
                    StatusCode::CONTINUE => {
                        if let Some(hook) = &self.continue_hook {
                            hook.0.open();
                        }
                    }
                    StatusCode::SWITCHING_PROTOCOLS => return Poll::Ready(Ok(response)),
                    status if status.is_informational() => {}
                    _ => return Poll::Ready(Ok(response)),
                }
                continue;
            }
            if buf.len() > MAX_RESPONSE_HEAD {
                return Poll::Ready(Err(ExchangeError::Protocol("response head too large")));
            }
            if self.eof {
                return Poll::Ready(Err(ExchangeError::Closed));
            }
            match poll_read_buf(&mut *self.connection.io, buf, cx) {
                Poll::Ready(Ok(0)) => self.eof = true,
                Poll::Ready(Ok(_)) => self.received = true,
                Poll::Ready(Err(err)) => return Poll::Ready(Err(err.into())),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// Attaches the body reader, or the upgraded connection, to a final response head.
    fn finish_response(
        self,
        method: &Method,
        response: Response<()>,
    ) -> Result<Response<ResponseBody>, ExchangeError> {
        let (mut parts, ()) = response.into_parts();
        if parts.status == StatusCode::SWITCHING_PROTOCOLS {
            let upgraded = Upgraded {
                io: self.connection.io,
                read_buf: self.connection.read_buf,
            };
            parts
                .extensions
                .insert(UpgradeSlot(Arc::new(Mutex::new(Some(upgraded)))));
            return Ok(Response::from_parts(parts, ResponseBody::finished()));
        }
        let (framing, mut reusable) = codec::response_framing(method, parts.status, &parts.headers)
            .map_err(|_| ExchangeError::Protocol("ambiguous or invalid body length"))?;
        if parts.headers.contains_key(TRANSFER_ENCODING) {
            // Transfer-Encoding overrides a Content-Length, which must not be passed on
            // (RFC 9112 section 6.3).
            parts.headers.remove(CONTENT_LENGTH);
        }
        reusable &= match parts.version {
            Version::HTTP_11 => !headers::has_connection_token(&parts.headers, "close"),
            _ => headers::has_connection_token(&parts.headers, "keep-alive"),
        };
        let body = ResponseBody {
            decoder: BodyDecoder::new(framing, MAX_RESPONSE_HEAD),
            exchange: Some(self),
            reusable,
        };
        Ok(Response::from_parts(parts, body))
    }
}

fn parse_response(head: &Bytes) -> Result<Response<()>, ExchangeError> {
    let mut storage: Vec<httparse::Header<'_>> = Vec::with_capacity(MAX_RESPONSE_FIELDS);
    let mut parsed = httparse::Response::new(&mut []);
    let fields = &mut storage.spare_capacity_mut()[..MAX_RESPONSE_FIELDS];
    let config = httparse::ParserConfig::default();
    match config.parse_response_with_uninit_headers(&mut parsed, head, fields) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => return Err(ExchangeError::Protocol("malformed response head")),
    }

    let mut response = Response::new(());
    *response.status_mut() = parsed
        .code
        .and_then(|code| StatusCode::from_u16(code).ok())
        .ok_or(ExchangeError::Protocol("invalid status code"))?;
    *response.version_mut() = match parsed.version {
        Some(0) => Version::HTTP_10,
        _ => Version::HTTP_11,
    };
    // Room for the fields the phases add (request id, limit fields, date).
    let map = response.headers_mut();
    map.reserve(parsed.headers.len() + 6);
    codec::append_fields(map, head, parsed.headers).map_err(ExchangeError::Protocol)?;
    Ok(response)
}

/// The body of an upstream response. The request body keeps streaming while it is read.
pub struct ResponseBody {
    decoder: BodyDecoder,
    /// The exchange, until the body is complete.
    exchange: Option<Exchange>,
    reusable: bool,
}

impl ResponseBody {
    fn finished() -> Self {
        ResponseBody {
            decoder: BodyDecoder::new(Framing::Empty, 0),
            exchange: None,
            reusable: false,
        }
    }

    /// Takes the connection once the exchange is complete and the connection may carry
    /// another one.
    pub fn take_reusable(&mut self) -> Option<ClientConnection> {
        if !(self.reusable && self.decoder.is_done()) {
            return None;
        }
        let exchange = self.exchange.take()?;
        exchange.sending_done().then_some(exchange.connection)
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = ExchangeError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, ExchangeError>>> {
        let this = self.get_mut();
        let Some(exchange) = this.exchange.as_mut() else {
            return Poll::Ready(None);
        };
        if !exchange.sending_done() {
            if let Err(err) = exchange.poll_send(cx) {
                // The target has responded, so the rest of the request no longer matters to it,
                // but the connection cannot carry another exchange.
                tracing::debug!(error = %err, "request body stopped after the response head");
                exchange.request_body = None;
                exchange.out.clear();
                this.reusable = false;
            }
        }
        loop {
            let connection = &mut exchange.connection;
            match this.decoder.decode(&mut connection.read_buf, exchange.eof) {
                Ok(Decoded::Frame(frame)) => return Poll::Ready(Some(Ok(frame))),
                Ok(Decoded::End) => return Poll::Ready(None),
                Err(_) => {
                    this.reusable = false;
                    return Poll::Ready(Some(Err(ExchangeError::Protocol(
                        "response body framing",
                    ))));
                }
                Ok(Decoded::NeedMore) => {
                    match poll_read_buf(&mut *connection.io, &mut connection.read_buf, cx) {
                        Poll::Ready(Ok(0)) => exchange.eof = true,
                        Poll::Ready(Ok(_)) => {}
                        Poll::Ready(Err(err)) => {
                            this.reusable = false;
                            return Poll::Ready(Some(Err(err.into())));
                        }
                        Poll::Pending => return Poll::Pending,
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.decoder.is_done()
    }

    fn size_hint(&self) -> SizeHint {
        match self.decoder.remaining() {
            Some(remaining) => SizeHint::with_exact(remaining),
            None => SizeHint::default(),
        }
    }
}

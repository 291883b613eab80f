//! Body types on the request path.
//!
//! `RequestBody` is what listeners hand to the phases, and `ProxyBody` the one boxed body
//! type of everything the phases send on. `LimitedBody` enforces the request body size
//! limit while streaming, and `ExpectGate` keeps a client's body back until the upstream has
//! responded `100 Continue`.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::task::AtomicWaker;
use http_body::{Body, Frame, SizeHint};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body type of every request and response that phases handle.
pub type ProxyBody = BoxBody<Bytes, BoxError>;

/// The body of a request as a listener received it.
pub enum RequestBody {
    Empty,
    Http1(crate::h1::server::IncomingBody),
    Http2(hyper::body::Incoming),
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            RequestBody::Empty => Poll::Ready(None),
            RequestBody::Http1(body) => Pin::new(body).poll_frame(cx),
            RequestBody::Http2(body) => Pin::new(body).poll_frame(cx).map_err(Into::into),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            RequestBody::Empty => true,
            RequestBody::Http1(body) => body.is_end_stream(),
            RequestBody::Http2(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            RequestBody::Empty => SizeHint::with_exact(0),
            RequestBody::Http1(body) => body.size_hint(),
            RequestBody::Http2(body) => body.size_hint(),
        }
    }
}

pub fn empty() -> ProxyBody {
    Empty::new().map_err(|never| match never {}).boxed()
}

pub fn full(bytes: impl Into<Bytes>) -> ProxyBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// The request body grew past the configured maximum.
#[derive(Debug, thiserror::Error)]
#[error("request body is larger than the limit of {limit} bytes")]
pub struct BodyLimitExceeded {
    pub limit: u64,
}

/// Fails the stream with `BodyLimitExceeded` once more than `limit` bytes have passed.
/// Every byte that passes is added to `counted`, for the access log.
pub struct LimitedBody<B> {
    inner: B,
    remaining: u64,
    limit: u64,
    counted: Arc<AtomicU64>,
}

impl<B> LimitedBody<B> {
    pub fn new(inner: B, limit: u64, counted: Arc<AtomicU64>) -> Self {
        LimitedBody {
            inner,
            remaining: limit,
            limit,
            counted,
        }
    }
}

impl<B> Body for LimitedBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let frame = match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => frame,
            Poll::Ready(Some(Err(err))) => return Poll::Ready(Some(Err(err.into()))),
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => return Poll::Pending,
        };
        if let Some(data) = frame.data_ref() {
            let len = data.len() as u64;
            if len > self.remaining {
                let limit = self.limit;
                return Poll::Ready(Some(Err(Box::new(BodyLimitExceeded { limit }))));
            }
            self.remaining -= len;
            self.counted.fetch_add(len, Ordering::Relaxed);
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Shared switch between an `ExpectGate` and the upstream exchange that reads the `100`.
#[derive(Default)]
pub struct GateSwitch {
    open: AtomicBool,
    waker: AtomicWaker,
}

impl GateSwitch {
    pub fn open(&self) {
        self.open.store(true, Ordering::Release);
        self.waker.wake();
    }
}

/// Holds a request body back until the upstream sends `100 Continue`.
///
/// The server side (`h1::server`, and hyper on HTTP/2) responds to a client's
/// `Expect: 100-continue` when the body is first polled, so not polling it keeps the gateway from sending a 100 of its own before the
/// upstream has agreed. An upstream that ignores the expectation gets the body after
/// `wait` (1 s in the handler), as RFC 9110 section 10.1.1 lets clients do.
pub struct ExpectGate<B> {
    inner: B,
    switch: Arc<GateSwitch>,
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<B> ExpectGate<B> {
    pub fn new(inner: B, switch: Arc<GateSwitch>, wait: Duration) -> Self {
        let timer = Some(Box::pin(tokio::time::sleep(wait)));
        ExpectGate {
            inner,
            switch,
            timer,
        }
    }

    fn is_open(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(timer) = self.timer.as_mut() else {
            return true;
        };
        self.switch.waker.register(cx.waker());
        if self.switch.open.load(Ordering::Acquire) || timer.as_mut().poll(cx).is_ready() {
            self.timer = None;
            return true;
        }
        false
    }
}

impl<B> Body for ExpectGate<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        if !self.is_open(cx) {
            return Poll::Pending;
        }
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

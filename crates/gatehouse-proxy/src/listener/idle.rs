//! The idle and request head timeouts of client connections.
//!
//! `IdleTimeout` wraps a connection's stream. When no byte has been read or written for
//! `server.idle_timeout` and no request is in flight, its next read returns end of file,
//! which makes hyper close an HTTP/1.1 keep-alive connection or an HTTP/2 connection
//! cleanly. Upgraded connections (WebSocket tunnels) are exempt. On HTTP/1 connections it
//! also enforces `server.header_read_timeout`, counted from the first byte of a request head
//! until the request reaches the handler, so that a slow head is cut while an idle
//! keep-alive connection waits for the idle timeout.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// Request accounting shared by a connection's stream wrapper and its requests.
#[derive(Default)]
pub struct Activity {
    in_flight: AtomicUsize,
    /// Requests started on the connection so far; a change means a head was completed.
    started: AtomicUsize,
    upgraded: AtomicBool,
}

impl Activity {
    pub fn request_started(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.started.fetch_add(1, Ordering::Relaxed);
    }

    pub fn request_finished(&self) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
    }

    pub fn mark_upgraded(&self) {
        self.upgraded.store(true, Ordering::Relaxed);
    }

    fn is_idle(&self) -> bool {
        self.in_flight.load(Ordering::Relaxed) == 0 && !self.upgraded.load(Ordering::Relaxed)
    }
}

pub struct IdleTimeout<S> {
    inner: S,
    activity: Arc<Activity>,
    timeout: Duration,
    /// `None` on connections without a head timeout (HTTP/2 negotiated by ALPN).
    header_timeout: Option<Duration>,
    last_activity: Instant,
    /// When the current request head began, with the started-request count at that time.
    head_started: Option<(Instant, usize)>,
    timer: Pin<Box<Sleep>>,
}

impl<S> IdleTimeout<S> {
    pub fn new(
        inner: S,
        activity: Arc<Activity>,
        timeout: Duration,
        header_timeout: Option<Duration>,
    ) -> Self {
        let first = header_timeout.map_or(timeout, |head| head.min(timeout));
        let timer = Box::pin(tokio::time::sleep(first));
        let head_started = header_timeout.map(|_| (Instant::now(), 0));
        IdleTimeout {
            inner,
            activity,
            timeout,
            header_timeout,
            last_activity: Instant::now(),
            head_started,
            timer,
        }
    }

    /// Returns the head deadline while a request head is being read.
    fn head_deadline(&mut self) -> Option<Instant> {
        let (started_at, count) = self.head_started?;
        if self.activity.started.load(Ordering::Relaxed) != count {
            self.head_started = None;
            return None;
        }
        Some(started_at + self.header_timeout?)
    }

    /// Returns true once the connection has been idle for the whole timeout, or a request
    /// head took longer than the head timeout. The timer is re-armed lazily from the last
    /// activity instead of on every read and write.
    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        loop {
            if self.timer.as_mut().poll(cx).is_pending() {
                return false;
            }
            let now = Instant::now();
            let head_deadline = self.head_deadline();
            if head_deadline.is_some_and(|deadline| deadline <= now) {
                return true;
            }
            let idle_deadline = self.last_activity + self.timeout;
            if idle_deadline <= now && self.activity.is_idle() {
                return true;
            }
            let mut next = idle_deadline.max(now + self.timeout / 4);
            if let Some(deadline) = head_deadline {
                next = next.min(deadline);
            }
            self.timer.as_mut().reset(next);
        }
    }

    /// Notes read activity, and the start of a request head on an idle HTTP/1 connection.
    fn on_read(&mut self) {
        self.last_activity = Instant::now();
        let waiting_for_head = self.header_timeout.is_some()
            && self.head_started.is_none()
            && self.activity.in_flight.load(Ordering::Relaxed) == 0
            && !self.activity.upgraded.load(Ordering::Relaxed);
        if !waiting_for_head {
            return;
        }
        let count = self.activity.started.load(Ordering::Relaxed);
        self.head_started = Some((self.last_activity, count));
        if let Some(deadline) = self.head_deadline() {
            if deadline < self.timer.deadline() {
                self.timer.as_mut().reset(deadline);
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for IdleTimeout<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Pending if self.expired(cx) => Poll::Ready(Ok(())),
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(())) if buf.filled().len() == before => Poll::Ready(Ok(())),
            ready => {
                // HTTP/2 with prior knowledge has no request heads to time; its streams are
                // bounded by the idle timeout alone.
                if self.activity.started.load(Ordering::Relaxed) == 0
                    && buf.filled()[before..].starts_with(b"PRI * HTTP/2.0")
                {
                    self.header_timeout = None;
                    self.head_started = None;
                }
                self.on_read();
                ready
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for IdleTimeout<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if polled.is_ready() {
            self.last_activity = Instant::now();
        }
        polled
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
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if polled.is_ready() {
            self.last_activity = Instant::now();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

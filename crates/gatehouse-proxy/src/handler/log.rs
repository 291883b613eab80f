//! The log phase: once per request, when the response body ends or is dropped, count the
//! request in the metrics and write the access log line.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

use crate::body::{BoxError, ProxyBody};
use crate::snapshot::{Shared, Snapshot};
use crate::telemetry::access_log::{self, AccessRecord};

/// What the log phase needs besides the byte counts.
pub struct LogEntry {
    pub shared: Arc<Shared>,
    pub snapshot: Arc<Snapshot>,
    pub started: Instant,
    pub method: http::Method,
    pub route: Option<usize>,
    pub record: AccessRecord,
    /// Request body bytes, counted while the body streams to the upstream.
    pub bytes_in: Arc<AtomicU64>,
}

impl LogEntry {
    fn finish(mut self, bytes_out: u64) {
        let duration = self.started.elapsed();
        let snapshot = &self.snapshot;
        let route_metrics = match self.route {
            Some(route) => &snapshot.routes[route].metrics,
            None => &snapshot.unrouted,
        };
        route_metrics.count(&self.shared.metrics, &self.method, self.record.status);
        route_metrics.duration.observe(duration.as_secs_f64());

        let format = snapshot.config.access_log;
        if format != gatehouse_config::model::AccessLogFormat::Off {
            self.record.duration = duration;
            self.record.bytes_in = self.bytes_in.load(Ordering::Relaxed);
            self.record.bytes_out = bytes_out;
            access_log::write(format, &self.record);
        }
    }
}

/// Response body wrapper that runs the log phase at its end.
pub struct LoggedBody {
    inner: ProxyBody,
    bytes_out: u64,
    entry: Option<Box<LogEntry>>,
}

impl LoggedBody {
    pub fn new(inner: ProxyBody, entry: LogEntry) -> Self {
        LoggedBody {
            inner,
            bytes_out: 0,
            entry: Some(Box::new(entry)),
        }
    }
}

impl Drop for LoggedBody {
    fn drop(&mut self) {
        if let Some(entry) = self.entry.take() {
            entry.finish(self.bytes_out);
        }
    }
}

impl Body for LoggedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            if let Some(data) = frame.data_ref() {
                self.bytes_out += data.len() as u64;
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

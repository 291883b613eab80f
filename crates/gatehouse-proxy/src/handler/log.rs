//! The log phase: once per request, when the response body ends or is dropped, count the
//! request in the metrics and write the access log line.

use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::SystemTime;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

use gatehouse_config::model::AccessLogFormat;

use super::{ConnectionInfo, Exchange};
use crate::body::{BoxError, ProxyBody};
use crate::snapshot::Shared;
use crate::telemetry::access_log::{self, AccessRecord};

/// Request state for the log phase, besides the byte counts.
pub struct LogEntry {
    pub shared: Arc<Shared>,
    pub exchange: Exchange,
    pub connection: Arc<ConnectionInfo>,
}

impl LogEntry {
    fn finish(self, bytes_out: u64) {
        self.connection.activity.request_finished();
        let exchange = &self.exchange;
        let duration = exchange.started.elapsed();
        let snapshot = &exchange.snapshot;
        let route = exchange.route.map(|index| &snapshot.routes[index]);
        let route_metrics = route.map_or(&snapshot.unrouted, |route| &route.metrics);
        route_metrics.count(&self.shared.metrics, &exchange.method, exchange.status);
        route_metrics.duration.observe(duration.as_secs_f64());

        let format = snapshot.config.access_log;
        if format == AccessLogFormat::Off {
            return;
        }
        let upstream = route.map(|route| &route.upstream);
        let target = upstream
            .zip(exchange.target)
            .map(|(upstream, index)| upstream.targets[index].label.as_str());
        let record = AccessRecord {
            // Read only when a line is written; the request started `duration` ago.
            time: SystemTime::now() - duration,
            request_id: exchange.request_id.to_str().unwrap_or_default(),
            client: self.connection.client,
            method: exchange.method.as_str(),
            host: &exchange.host,
            path: exchange.uri.path(),
            protocol: exchange.protocol,
            route: route.map(|route| route.model.name.as_str()),
            upstream: upstream.map(|upstream| upstream.name.as_str()),
            target,
            consumer: consumer_id(exchange),
            auth: exchange.identity.as_ref().map(|identity| identity.method),
            status: exchange.status,
            bytes_in: exchange.bytes_in.load(Ordering::Relaxed),
            bytes_out,
            duration,
            upstream_duration: exchange.upstream_duration,
            error: exchange.error,
        };
        access_log::write(format, &record);
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

fn consumer_id(exchange: &Exchange) -> Option<&str> {
    let consumer = exchange.identity.as_ref()?.consumer?;
    Some(exchange.snapshot.config.consumers[consumer].id.as_str())
}

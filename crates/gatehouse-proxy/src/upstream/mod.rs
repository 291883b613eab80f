//! Upstreams at run time: targets with their pools, the balancer, and sending a request.
//!
//! Every worker thread has its own idle HTTP/1.1 connections and its own HTTP/2 connection
//! per target, indexed by target position, so a request never hashes a host name or takes
//! a shared lock to find a connection.

pub mod balance;
pub mod connect;
pub mod target;

use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use gatehouse_config::model::{Scheme, Upstream};
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

use crate::body::{BoxError, ProxyBody};
use crate::h1::client::{self, ClientConnection, ExchangeError, ResponseBody};
use crate::tls;
use balance::Balancer;
use connect::{ConnectError, ConnectSettings, Connection};
use target::TargetRuntime;

pub struct UpstreamRuntime {
    pub name: String,
    pub targets: Vec<TargetRuntime>,
    pub balancer: Balancer,
    pub connect: ConnectSettings,
    pub preserve_host: bool,
    pub request_timeout: Duration,
    idle_timeout: Duration,
    max_idle: usize,
}

/// A failure to set up an upstream from the model.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamBuildError {
    #[error("upstream {upstream:?}: invalid target {url:?}: {reason}")]
    Target {
        upstream: String,
        url: String,
        reason: String,
    },
    #[error("upstream {upstream:?}: {source}")]
    Tls {
        upstream: String,
        source: tls::TlsError,
    },
}

/// A failure to get a response head from the upstream.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error("no response within {0:?}")]
    Timeout(Duration),
    #[error(transparent)]
    Exchange(#[from] ExchangeError),
    #[error("request failed: {0}")]
    Http2(#[from] hyper::Error),
}

impl UpstreamRuntime {
    pub fn build(model: &Upstream, workers: usize) -> Result<Self, UpstreamBuildError> {
        let mut targets = Vec::with_capacity(model.targets.len());
        for target in &model.targets {
            let runtime = TargetRuntime::new(target.clone(), workers).map_err(|err| {
                UpstreamBuildError::Target {
                    upstream: model.name.clone(),
                    url: target.url.clone(),
                    reason: err.to_string(),
                }
            })?;
            targets.push(runtime);
        }
        let weights: Vec<u32> = model.targets.iter().map(|target| target.weight).collect();
        let uses_tls = model
            .targets
            .iter()
            .any(|target| target.scheme == Scheme::Https);
        let tls_error = |source| UpstreamBuildError::Tls {
            upstream: model.name.clone(),
            source,
        };
        let tls = if uses_tls {
            Some(tls::client_config(&model.tls).map_err(tls_error)?)
        } else {
            None
        };
        let server_name = tls::server_name_override(&model.tls).map_err(tls_error)?;
        Ok(UpstreamRuntime {
            name: model.name.clone(),
            targets,
            balancer: Balancer::new(&model.load_balancing, &weights, workers),
            connect: ConnectSettings {
                protocol: model.protocol,
                timeout: model.timeouts.connect,
                tls,
                server_name,
            },
            preserve_host: model.preserve_host,
            request_timeout: model.timeouts.request,
            idle_timeout: model.timeouts.idle,
            max_idle: model.max_idle_per_target,
        })
    }

    /// Sends `request` to target `index` and waits for the response head within the request
    /// timeout. The returned body gives its connection back to the pool once read to the end.
    pub async fn send(
        self: &Arc<Self>,
        index: usize,
        request: Request<ProxyBody>,
    ) -> Result<Response<UpstreamBody>, SendError> {
        let target = &self.targets[index];
        target.in_flight.fetch_add(1, Ordering::Relaxed);
        let in_flight = InFlight {
            upstream: self.clone(),
            index,
        };
        let timeout = self.request_timeout;
        let response = tokio::time::timeout(timeout, self.send_on_pool(target, request))
            .await
            .map_err(|_| SendError::Timeout(timeout))??;
        Ok(response.map(|body| UpstreamBody::new(body, in_flight)))
    }

    async fn send_on_pool(
        &self,
        target: &TargetRuntime,
        mut request: Request<ProxyBody>,
    ) -> Result<Response<Received>, SendError> {
        let mut idle = match target.take_idle(self.idle_timeout) {
            Ok(idle) => idle,
            Err(mut sender) => {
                let request = Self::http2_form(request, target);
                let response = sender.send_request(request).await?;
                return Ok(response.map(Received::Http2));
            }
        };
        while let Some(connection) = idle {
            match client::send(connection, request, true).await {
                Ok(response) => return Ok(response.map(Received::Http1)),
                Err(failure) => match failure.unsent {
                    Some(unsent) => request = unsent,
                    None => return Err(failure.error.into()),
                },
            }
            idle = target.take_idle(self.idle_timeout).unwrap_or(None);
        }
        // Boxed: the TCP and TLS handshake state is large and rarely needed.
        match Box::pin(self.connect_to(target)).await? {
            Connection::Http1(connection) => match client::send(connection, request, false).await {
                Ok(response) => Ok(response.map(Received::Http1)),
                Err(failure) => Err(failure.error.into()),
            },
            Connection::Http2(mut sender) => {
                target.with_pool(|pool| pool.http2 = Some(sender.clone()));
                let request = Self::http2_form(request, target);
                let response = sender.send_request(request).await?;
                Ok(response.map(Received::Http2))
            }
        }
    }

    /// Moves `Host` into an absolute URI, which becomes the `:authority` and `:scheme`
    /// pseudo-headers of an HTTP/2 request.
    fn http2_form(request: Request<ProxyBody>, target: &TargetRuntime) -> Request<ProxyBody> {
        let (mut parts, body) = request.into_parts();
        let authority = parts
            .headers
            .remove(http::header::HOST)
            .and_then(|host| http::uri::Authority::try_from(host.as_bytes()).ok())
            .unwrap_or_else(|| target.authority.clone());
        let scheme = match target.target.scheme {
            Scheme::Http => http::uri::Scheme::HTTP,
            Scheme::Https => http::uri::Scheme::HTTPS,
        };
        let mut uri = http::uri::Parts::default();
        uri.scheme = Some(scheme);
        uri.authority = Some(authority);
        uri.path_and_query = parts.uri.path_and_query().cloned();
        if let Ok(absolute) = http::Uri::from_parts(uri) {
            parts.uri = absolute;
        }
        parts.version = http::Version::HTTP_2;
        Request::from_parts(parts, body)
    }

    async fn connect_to(&self, target: &TargetRuntime) -> Result<Connection, ConnectError> {
        match connect::connect(target, &self.connect).await {
            Ok(connection) => {
                target.record_connect_success();
                Ok(connection)
            }
            Err(err) => {
                target.record_connect_failure();
                Err(err)
            }
        }
    }

    fn give_back(&self, index: usize, connection: ClientConnection) {
        self.targets[index].put_idle(connection, self.max_idle);
    }
}

/// Counts a request in flight on a target until the response body is done or dropped.
struct InFlight {
    upstream: Arc<UpstreamRuntime>,
    index: usize,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.upstream.targets[self.index]
            .in_flight
            .fetch_sub(1, Ordering::Relaxed);
    }
}

/// A response body as the connection's protocol delivers it.
pub enum Received {
    Http1(ResponseBody),
    Http2(Incoming),
}

/// The upstream's response body. At its end an HTTP/1.1 connection returns to the pool; a
/// body dropped before its end leaves the connection to close.
pub struct UpstreamBody {
    inner: Received,
    in_flight: Option<InFlight>,
}

impl UpstreamBody {
    fn new(inner: Received, in_flight: InFlight) -> Self {
        let mut body = UpstreamBody {
            inner,
            in_flight: Some(in_flight),
        };
        if body.is_end_stream() {
            body.finish();
        }
        body
    }

    fn finish(&mut self) {
        if let Some(in_flight) = self.in_flight.take() {
            if let Received::Http1(body) = &mut self.inner {
                if let Some(connection) = body.take_reusable() {
                    in_flight.upstream.give_back(in_flight.index, connection);
                }
            }
        }
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let polled = match &mut self.inner {
            Received::Http1(body) => Pin::new(body).poll_frame(cx).map_err(Into::into),
            Received::Http2(body) => Pin::new(body).poll_frame(cx).map_err(Into::into),
        };
        if matches!(polled, Poll::Ready(None)) || self.is_end_stream() {
            self.finish();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            Received::Http1(body) => body.is_end_stream(),
            Received::Http2(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Received::Http1(body) => body.size_hint(),
            Received::Http2(body) => body.size_hint(),
        }
    }
}

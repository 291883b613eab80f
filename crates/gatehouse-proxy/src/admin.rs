//! The admin listener: health, readiness, metrics, the route table, the configuration and
//! reload, on a separate address that is loopback by default.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::body::{self, ProxyBody};
use crate::policy::limit::checks;
use crate::reload::Reloader;
use crate::route::table;
use crate::snapshot::Shared;
use crate::telemetry::metrics::TargetLabels;

/// Shutdown state the admin API watches.
pub struct Signals {
    /// True once the gateway stops accepting client connections.
    pub draining: watch::Receiver<bool>,
    /// True once requests have drained; the admin listener then closes.
    pub stop: watch::Receiver<bool>,
}

/// Serves the admin API on `listener` until `signals.stop` turns true.
pub async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    reloader: Arc<Reloader>,
    signals: Signals,
) {
    let Signals {
        draining: shutdown,
        mut stop,
    } = signals;
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.wait_for(|stop| *stop) => return,
        };
        let Ok((stream, client)) = accepted else {
            continue;
        };
        let shared = shared.clone();
        let reloader = reloader.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let (shared, reloader, shutdown) =
                    (shared.clone(), reloader.clone(), shutdown.clone());
                async move { Ok::<_, Infallible>(route(request, &shared, &reloader, &shutdown).await) }
            });
            let builder = auto::Builder::new(TokioExecutor::new());
            if let Err(err) = builder
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(client = %client, error = %err, "admin connection ended with an error");
            }
        });
    }
}

async fn route(
    request: Request<Incoming>,
    shared: &Shared,
    reloader: &Reloader,
    shutdown: &watch::Receiver<bool>,
) -> Response<ProxyBody> {
    let path = request.uri().path().to_string();
    let method = request.method().clone();
    if let Some(consumer) = path
        .strip_prefix("/admin/consumers/")
        .and_then(|rest| rest.strip_suffix("/usage"))
    {
        return consumer_usage(shared, consumer, &method).await;
    }
    let allowed = match path.as_str() {
        "/admin/reload" => Method::POST,
        _ => Method::GET,
    };
    let known = matches!(
        path.as_str(),
        "/healthz" | "/readyz" | "/metrics" | "/admin/routes" | "/admin/config" | "/admin/reload"
    );
    if !known {
        return error(
            StatusCode::NOT_FOUND,
            "not_found",
            &format!("no admin endpoint at {path}"),
        );
    }
    if method != allowed && !(method == Method::HEAD && allowed == Method::GET) {
        let mut response = error(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            &format!("{path} takes {allowed}"),
        );
        let allow = if allowed == Method::GET {
            "GET, HEAD"
        } else {
            "POST"
        };
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static(allow));
        return response;
    }
    let snapshot = shared.snapshot.load_full();
    match path.as_str() {
        "/healthz" => json(StatusCode::OK, serde_json::json!({"status": "ok"})),
        "/readyz" if *shutdown.borrow() => json(
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({"status": "shutting_down"}),
        ),
        "/readyz" => json(
            StatusCode::OK,
            serde_json::json!({"status": "ready", "generation": snapshot.generation}),
        ),
        "/metrics" => metrics(shared),
        "/admin/routes" => json(
            StatusCode::OK,
            serde_json::json!({"routes": table::rows(&snapshot.config)}),
        ),
        "/admin/config" => json(
            StatusCode::OK,
            gatehouse_config::redact::redacted_json(&snapshot.config),
        ),
        _ => reload(reloader).await,
    }
}

/// `GET` reports each rate limit and quota of a consumer with its use and reset time;
/// `DELETE` resets them.
async fn consumer_usage(shared: &Shared, consumer: &str, method: &Method) -> Response<ProxyBody> {
    let snapshot = shared.snapshot.load_full();
    let config = &snapshot.config;
    let Some(index) = config
        .consumers
        .iter()
        .position(|candidate| candidate.id == consumer)
    else {
        return error(
            StatusCode::NOT_FOUND,
            "consumer_not_found",
            &format!("no consumer with id {consumer:?}"),
        );
    };
    let subject = checks::Subject {
        consumer: Some(index),
        identity: None,
        client_ip: std::net::IpAddr::from([0, 0, 0, 0]),
        headers: &http::HeaderMap::new(),
    };
    let counters = checks::for_consumer(
        &snapshot.limits,
        config,
        index,
        &subject,
        shared.limits.clock().now(),
    );
    let outcome = match *method {
        Method::GET | Method::HEAD => shared
            .limits
            .usage(&counters)
            .await
            .map(|usage| serde_json::json!({"consumer": consumer, "limits": usage})),
        Method::DELETE => shared
            .limits
            .reset(&counters)
            .await
            .map(|()| serde_json::json!({"consumer": consumer, "reset": counters.len()})),
        _ => {
            let mut response = error(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "usage takes GET or DELETE",
            );
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD, DELETE"));
            return response;
        }
    };
    match outcome {
        Ok(body) => json(StatusCode::OK, body),
        Err(err) => error(err.status(), err.code(), &err.to_string()),
    }
}

async fn reload(reloader: &Reloader) -> Response<ProxyBody> {
    match reloader.reload("admin API").await {
        Ok(generation) => json(
            StatusCode::OK,
            serde_json::json!({"status": "reloaded", "generation": generation}),
        ),
        Err(err) => error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_configuration",
            &err.to_string(),
        ),
    }
}

fn metrics(shared: &Shared) -> Response<ProxyBody> {
    let snapshot = shared.snapshot.load();
    let now = crate::upstream::target::now_millis();
    shared.metrics.target_healthy.clear();
    for upstream in &snapshot.upstreams {
        for target in &upstream.targets {
            let labels = TargetLabels {
                upstream: upstream.name.clone(),
                target: target.label.clone(),
            };
            shared
                .metrics
                .target_healthy
                .get_or_create(&labels)
                .set(i64::from(target.is_healthy(now)));
        }
    }
    shared
        .metrics
        .config_generation
        .set(snapshot.generation as i64);
    let mut response = Response::new(body::full(shared.metrics.encode()));
    let content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn json(status: StatusCode, value: serde_json::Value) -> Response<ProxyBody> {
    let mut response = Response::new(body::full(format!("{value}\n")));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn error(status: StatusCode, code: &str, message: &str) -> Response<ProxyBody> {
    json(
        status,
        serde_json::json!({"error": {"status": status.as_u16(), "code": code, "message": message}}),
    )
}

/// Binds the admin address.
pub async fn bind(address: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(address).await
}

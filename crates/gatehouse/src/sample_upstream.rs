//! The demo's sample upstream: a small market-data JSON API on loopback.
//!
//! `GET /v1/prices` lists symbols, `GET /v1/prices/{symbol}` returns a quote that moves
//! with the clock, and `GET /v1/market/status` says whether the market is open. Unknown
//! symbols get 404. Quotes are computed, not stored.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{header, HeaderValue, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

const SYMBOLS: [(&str, &str, f64); 5] = [
    ("AAPL", "Apple Inc.", 231.40),
    ("MSFT", "Microsoft Corporation", 468.15),
    ("NVDA", "NVIDIA Corporation", 141.72),
    ("SAP", "SAP SE", 262.30),
    ("TSLA", "Tesla, Inc.", 352.56),
];

/// Binds 127.0.0.1 on a free port and serves the API in the background.
pub async fn start() -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let service =
                    service_fn(|request| async move { Ok::<_, Infallible>(answer(&request)) });
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(address)
}

fn answer(request: &Request<Incoming>) -> Response<Full<Bytes>> {
    let path = request.uri().path();
    match path.strip_prefix("/v1/prices") {
        Some("") | Some("/") => json(StatusCode::OK, list()),
        Some(rest) => match quote(rest.trim_start_matches('/')) {
            Some(value) => json(StatusCode::OK, value),
            None => json(
                StatusCode::NOT_FOUND,
                serde_json::json!({"error": "unknown symbol"}),
            ),
        },
        None if path == "/v1/market/status" => json(
            StatusCode::OK,
            serde_json::json!({"market": "open", "time": now_seconds()}),
        ),
        None => json(
            StatusCode::NOT_FOUND,
            serde_json::json!({"error": "not found"}),
        ),
    }
}

fn list() -> serde_json::Value {
    let symbols: Vec<_> = SYMBOLS
        .iter()
        .map(|(symbol, name, _)| serde_json::json!({"symbol": symbol, "name": name}))
        .collect();
    serde_json::json!({ "symbols": symbols })
}

fn quote(symbol: &str) -> Option<serde_json::Value> {
    let symbol = symbol.to_ascii_uppercase();
    let (_, name, base) = SYMBOLS.iter().find(|(known, _, _)| *known == symbol)?;
    let now = now_seconds();
    // A slow, deterministic wobble of up to 2% so that repeated requests show movement.
    let phase = (now as f64 / 30.0 + base).sin();
    let price = (base * (1.0 + 0.02 * phase) * 100.0).round() / 100.0;
    Some(
        serde_json::json!({"symbol": symbol, "name": name, "price": price, "currency": "USD", "time": now}),
    )
}

fn now_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0)
}

fn json(status: StatusCode, value: serde_json::Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(value.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

//! A small HTTP client for the control calls policies make (JWKS fetches, token
//! introspection): one request per connection, a timeout on the whole exchange and a cap on
//! the response size. HTTPS uses the web PKI roots.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// Maximum response body size (1 MiB). JWKS documents and introspection responses are small.
const MAX_BODY: usize = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("invalid URL {0:?}")]
    Url(String),
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("connect failed: {0}")]
    Connect(std::io::Error),
    #[error("request failed: {0}")]
    Http(String),
    #[error("response body is larger than 1 MiB or could not be read")]
    Body,
}

/// A response with its body read in full.
pub struct Fetched {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// Sends `request` (an absolute `http://` or `https://` URI) and reads the whole response
/// within `timeout`.
pub async fn send(
    request: Request<Full<Bytes>>,
    timeout: Duration,
) -> Result<Fetched, ClientError> {
    tokio::time::timeout(timeout, send_inner(request))
        .await
        .map_err(|_| ClientError::Timeout(timeout))?
}

async fn send_inner(mut request: Request<Full<Bytes>>) -> Result<Fetched, ClientError> {
    let uri = request.uri().clone();
    let url_error = || ClientError::Url(uri.to_string());
    let host = uri
        .host()
        .ok_or_else(url_error)?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let https = uri.scheme_str() == Some("https");
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let authority = uri.authority().ok_or_else(url_error)?.clone();
    *request.uri_mut() = Uri::try_from(
        uri.path_and_query()
            .map(|path| path.as_str())
            .unwrap_or("/"),
    )
    .map_err(|_| url_error())?;
    let host_value = http::HeaderValue::from_str(authority.as_str()).map_err(|_| url_error())?;
    request.headers_mut().insert(http::header::HOST, host_value);

    let stream = TcpStream::connect((host.as_str(), port))
        .await
        .map_err(ClientError::Connect)?;
    if !https {
        return exchange(stream, request).await;
    }
    let name = rustls_pki_types::ServerName::try_from(host.clone()).map_err(|_| url_error())?;
    let tls = tokio_rustls::TlsConnector::from(tls_config())
        .connect(name, stream)
        .await
        .map_err(ClientError::Connect)?;
    exchange(tls, request).await
}

async fn exchange<S>(stream: S, request: Request<Full<Bytes>>) -> Result<Fetched, ClientError>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|err| ClientError::Http(err.to_string()))?;
    tokio::spawn(connection);
    let response = sender
        .send_request(request)
        .await
        .map_err(|err| ClientError::Http(err.to_string()))?;
    let (parts, body) = response.into_parts();
    let body = Limited::new(body, MAX_BODY)
        .collect()
        .await
        .map_err(|_| ClientError::Body)?
        .to_bytes();
    Ok(Fetched {
        status: parts.status,
        headers: parts.headers,
        body,
    })
}

fn tls_config() -> Arc<rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let mut roots = rustls::RootCertStore::empty();
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            Arc::new(
                rustls::ClientConfig::builder()
                    .with_root_certificates(roots)
                    .with_no_client_auth(),
            )
        })
        .clone()
}

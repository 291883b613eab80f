//! Opening connections to targets: TCP, optional TLS with ALPN, then the HTTP handshake.
//!
//! An HTTP/2 connection gets its connection task on the current worker's runtime, and the
//! pool keeps its sender. An HTTP/1.1 connection is kept as it is and used by the request
//! that takes it.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use gatehouse_config::model::{Scheme, UpstreamProtocol};
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;

use super::target::TargetRuntime;
use crate::body::ProxyBody;
use crate::h1::client::ClientConnection;

/// A fresh connection, ready to send.
pub enum Connection {
    Http1(ClientConnection),
    Http2(http2::SendRequest<ProxyBody>),
}

/// How to reach the targets of one upstream.
pub struct ConnectSettings {
    pub protocol: UpstreamProtocol,
    pub timeout: Duration,
    /// TLS client configuration and optional SNI override, for `https://` targets.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    pub server_name: Option<ServerName<'static>>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("connect timed out after {0:?}")]
    Timeout(Duration),
    #[error("connect failed: {0}")]
    Io(#[from] io::Error),
    #[error("TLS handshake failed: {0}")]
    Tls(io::Error),
    #[error("invalid TLS server name {0:?}")]
    ServerName(String),
    #[error("HTTP handshake failed: {0}")]
    Handshake(#[from] hyper::Error),
}

/// Connects to `target` within the connect timeout, TLS handshake included.
pub async fn connect(
    target: &TargetRuntime,
    settings: &ConnectSettings,
) -> Result<Connection, ConnectError> {
    tokio::time::timeout(settings.timeout, connect_inner(target, settings))
        .await
        .map_err(|_| ConnectError::Timeout(settings.timeout))?
}

async fn connect_inner(
    target: &TargetRuntime,
    settings: &ConnectSettings,
) -> Result<Connection, ConnectError> {
    let stream = TcpStream::connect((target.target.host.as_str(), target.target.port)).await?;
    stream.set_nodelay(true)?;
    if target.target.scheme == Scheme::Http {
        return handshake(stream, settings.protocol == UpstreamProtocol::H2c).await;
    }

    let Some(config) = settings.tls.clone() else {
        return Err(ConnectError::Tls(io::Error::other(
            "no TLS configuration for an https target",
        )));
    };
    let server_name = match &settings.server_name {
        Some(name) => name.clone(),
        None => ServerName::try_from(target.target.host.clone())
            .map_err(|_| ConnectError::ServerName(target.target.host.clone()))?,
    };
    let connector = tokio_rustls::TlsConnector::from(config);
    let tls = connector
        .connect(server_name, stream)
        .await
        .map_err(ConnectError::Tls)?;
    let negotiated_h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
    handshake(tls, negotiated_h2).await
}

async fn handshake<S>(stream: S, http2: bool) -> Result<Connection, ConnectError>
where
    S: crate::h1::Io,
{
    if http2 {
        let io = TokioIo::new(stream);
        let (sender, connection) = http2::Builder::new(TokioExecutor::new())
            .handshake(io)
            .await?;
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(error = %err, "upstream HTTP/2 connection ended with an error");
            }
        });
        return Ok(Connection::Http2(sender));
    }
    Ok(Connection::Http1(ClientConnection::new(Box::new(stream))))
}

//! The accept phase: listener sockets, worker threads and client connections.
//!
//! Each worker thread runs its own tokio `current_thread` runtime with its own
//! `SO_REUSEPORT` socket per listener, so the kernel spreads connections over workers and a
//! connection stays on one thread for its whole life, upstream pool included.

pub mod guard;
pub mod idle;

use std::cell::Cell;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use gatehouse_config::model::{Listener, Server};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::handler::{self, ConnectionInfo};
use crate::snapshot::Shared;
use crate::telemetry::metrics::ListenerLabels;
use guard::{GuardState, Guarded};
use idle::{Activity, IdleTimeout};

thread_local! {
    static WORKER_SLOT: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// Returns this thread's worker index, or `usize::MAX` off the worker threads. Per-worker
/// tables have one slot more than there are workers and map `usize::MAX` to the last one.
pub fn worker_slot() -> usize {
    WORKER_SLOT.with(Cell::get)
}

/// Maps the current thread to a slot of a per-worker table of `len` entries.
pub fn slot_index(len: usize) -> usize {
    worker_slot().min(len - 1)
}

/// A listener's sockets, one per worker, bound before the workers start.
pub struct BoundListener {
    pub model: Listener,
    pub local_addr: SocketAddr,
    pub sockets: Vec<std::net::TcpListener>,
    pub tls: Option<TlsAcceptor>,
}

/// Binds `workers` sockets for the listener with `SO_REUSEPORT`. Port 0 picks a free port
/// once and binds the other sockets to it.
///
/// `SO_REUSEPORT` would let a second process of the same user join an address that is
/// already in use and take part of its traffic, so a plain socket first checks that the
/// address is free.
pub fn bind(model: &Listener, workers: usize) -> io::Result<BoundListener> {
    let tls = match &model.tls {
        Some(tls) => Some(TlsAcceptor::from(
            crate::tls::server_config(tls).map_err(io::Error::other)?,
        )),
        None => None,
    };
    let mut address = probe_free(model.address)?;
    let mut sockets = Vec::with_capacity(workers);
    for _ in 0..workers {
        let socket = bind_one(address)?;
        address = socket.local_addr()?;
        sockets.push(socket);
    }
    Ok(BoundListener {
        model: model.clone(),
        local_addr: address,
        sockets,
        tls,
    })
}

/// Binds and releases a socket without `SO_REUSEPORT`, which fails when any socket, shared
/// or not, has the address. Returns the address with the port it got.
fn probe_free(address: SocketAddr) -> io::Result<SocketAddr> {
    let socket = Socket::new(
        Domain::for_address(address),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    socket.bind(&address.into())?;
    let bound = socket.local_addr()?.as_socket().unwrap_or(address);
    Ok(bound)
}

fn bind_one(address: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(
        Domain::for_address(address),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_tcp_nodelay(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&address.into())?;
    socket.listen(4096)?;
    Ok(socket.into())
}

/// A listener socket of one worker thread.
pub struct WorkerListener {
    pub name: Arc<str>,
    pub socket: std::net::TcpListener,
    pub tls: Option<TlsAcceptor>,
}

/// Runs one worker: accepts on its sockets until `shutdown` turns true, then lets open
/// connections finish for up to the shutdown timeout.
pub fn run_worker(
    slot: usize,
    listeners: Vec<WorkerListener>,
    shared: Arc<Shared>,
    shutdown: watch::Receiver<bool>,
) -> io::Result<()> {
    WORKER_SLOT.with(|cell| cell.set(slot));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let graceful = Arc::new(GracefulShutdown::new());
        let mut accept_loops = tokio::task::JoinSet::new();
        for listener in listeners {
            let socket = tokio::net::TcpListener::from_std(listener.socket)?;
            let accept = accept_loop(socket, listener.name, listener.tls, shared.clone(), graceful.clone(), shutdown.clone());
            accept_loops.spawn(accept);
        }
        while accept_loops.join_next().await.is_some() {}

        // The accept loops held the only other references, and they have ended.
        let graceful = Arc::try_unwrap(graceful).unwrap_or_else(|_| GracefulShutdown::new());
        let deadline = shared.snapshot.load().config.server.shutdown_timeout;
        if tokio::time::timeout(deadline, graceful.shutdown()).await.is_err() {
            tracing::warn!(worker = slot, timeout = ?deadline, "connections still open at the shutdown deadline");
        }
        Ok(())
    })
}

async fn accept_loop(
    socket: tokio::net::TcpListener,
    name: Arc<str>,
    tls: Option<TlsAcceptor>,
    shared: Arc<Shared>,
    graceful: Arc<GracefulShutdown>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            accepted = socket.accept() => accepted,
            _ = shutdown.wait_for(|stop| *stop) => return,
        };
        let (stream, client) = match accepted {
            Ok(accepted) => accepted,
            Err(err) => {
                tracing::warn!(listener = %name, error = %err, "accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let connection = Connection {
            name: name.clone(),
            tls: tls.clone(),
            shared: shared.clone(),
            client,
        };
        tokio::spawn(connection.serve(stream, graceful.watcher()));
    }
}

/// One accepted client connection.
struct Connection {
    name: Arc<str>,
    tls: Option<TlsAcceptor>,
    shared: Arc<Shared>,
    client: SocketAddr,
}

impl Connection {
    async fn serve(self, stream: TcpStream, graceful: Watcher) {
        let _ = stream.set_nodelay(true);
        let labels = ListenerLabels {
            listener: self.name.to_string(),
        };
        let gauge = self
            .shared
            .metrics
            .open_connections
            .get_or_create(&labels)
            .clone();
        gauge.inc();
        let server = self.shared.snapshot.load().config.server.clone();
        match self.tls.clone() {
            None => self.serve_http(stream, &server, false, graceful).await,
            Some(acceptor) => {
                match tokio::time::timeout(server.header_read_timeout, acceptor.accept(stream))
                    .await
                {
                    Ok(Ok(tls)) => {
                        let http2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
                        self.serve_http(tls, &server, http2, graceful).await
                    }
                    Ok(Err(err)) => {
                        tracing::debug!(client = %self.client, error = %err, "TLS handshake failed")
                    }
                    Err(_) => tracing::debug!(client = %self.client, "TLS handshake timed out"),
                }
            }
        }
        gauge.dec();
    }

    async fn serve_http<S>(self, stream: S, server: &Server, http2: bool, graceful: Watcher)
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let https = self.tls.is_some();
        let guard = (!http2).then(|| GuardState::new(server.max_header_size, server.max_headers));
        let activity = Arc::new(Activity::default());
        let info = Arc::new(ConnectionInfo {
            listener: self.name.clone(),
            https,
            client: self.client,
            guard: guard.clone(),
            activity: activity.clone(),
        });
        let header_timeout = (!http2).then_some(server.header_read_timeout);
        let stream = IdleTimeout::new(stream, activity, server.idle_timeout, header_timeout);
        let shared = self.shared.clone();
        let service =
            service_fn(move |request| handler::handle(shared.clone(), info.clone(), request));
        let builder = http_builder(server, http2);
        let io = TokioIo::new(Guarded::new(stream, guard));
        let connection = builder
            .serve_connection_with_upgrades(io, service)
            .into_owned();
        let result = graceful.watch(connection).await;
        if let Err(err) = result {
            tracing::debug!(client = %self.client, error = %err, "client connection ended with an error");
        }
    }
}

fn http_builder(server: &Server, http2_only: bool) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    if http2_only {
        builder = builder.http2_only();
    }
    builder
        .http1()
        .timer(TokioTimer::new())
        // `IdleTimeout` enforces the head timeout from a head's first byte; hyper's would
        // also run while a keep-alive connection waits for its next request.
        .header_read_timeout(None)
        .max_buf_size(server.max_header_size.max(8192))
        .max_headers(server.max_headers);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(server.max_header_size).unwrap_or(u32::MAX));
    builder
}

//! The accept phase: listener sockets, worker threads and client connections.
//!
//! Each worker thread runs its own tokio `current_thread` runtime with its own
//! `SO_REUSEPORT` socket per listener, so the kernel spreads connections over workers and a
//! connection stays on one thread for its whole life, upstream pool included.

pub mod idle;

use std::cell::Cell;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use gatehouse_config::model::{Listener, Server};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::TcpStream;
use tokio::sync::{watch, Notify};
use tokio_rustls::TlsAcceptor;

use crate::body::RequestBody;
use crate::h1::server::{Ending, ServerSettings};
use crate::h1::Io;
use crate::handler::{self, ConnectionInfo};
use crate::snapshot::Shared;
use crate::telemetry::metrics::ListenerLabels;
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

/// Counts a worker's open connections so that shutdown can wait for them.
#[derive(Default)]
struct OpenConnections {
    count: std::sync::atomic::AtomicUsize,
    closed: Notify,
}

/// Held by a connection task; its drop counts the connection as closed.
struct OpenGuard(Arc<OpenConnections>);

impl OpenConnections {
    fn open(self: &Arc<Self>) -> OpenGuard {
        self.count
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        OpenGuard(self.clone())
    }

    async fn all_closed(&self) {
        loop {
            let closed = self.closed.notified();
            if self.count.load(std::sync::atomic::Ordering::Acquire) == 0 {
                return;
            }
            closed.await;
        }
    }
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        if self
            .0
            .count
            .fetch_sub(1, std::sync::atomic::Ordering::AcqRel)
            == 1
        {
            self.0.closed.notify_waiters();
        }
    }
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
        let open = Arc::new(OpenConnections::default());
        let mut accept_loops = tokio::task::JoinSet::new();
        for listener in listeners {
            let socket = tokio::net::TcpListener::from_std(listener.socket)?;
            let accept = accept_loop(socket, listener.name, listener.tls, shared.clone(), open.clone(), shutdown.clone());
            accept_loops.spawn(accept);
        }
        while accept_loops.join_next().await.is_some() {}

        let deadline = shared.snapshot.load().config.server.shutdown_timeout;
        if tokio::time::timeout(deadline, open.all_closed()).await.is_err() {
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
    open: Arc<OpenConnections>,
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
            drain: shutdown.clone(),
        };
        let guard = open.open();
        tokio::spawn(async move {
            connection.serve(stream).await;
            drop(guard);
        });
    }
}

/// One accepted client connection.
struct Connection {
    name: Arc<str>,
    tls: Option<TlsAcceptor>,
    shared: Arc<Shared>,
    client: SocketAddr,
    /// Turns true when the gateway starts shutting down.
    drain: watch::Receiver<bool>,
}

impl Connection {
    async fn serve(self, stream: TcpStream) {
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
            None => self.serve_http(stream, &server, false).await,
            Some(acceptor) => {
                match tokio::time::timeout(server.header_read_timeout, acceptor.accept(stream))
                    .await
                {
                    Ok(Ok(tls)) => {
                        let http2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
                        self.serve_http(tls, &server, http2).await
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

    async fn serve_http(self, stream: impl Io, server: &Server, http2: bool) {
        let info = Arc::new(ConnectionInfo {
            listener: self.name.clone(),
            https: self.tls.is_some(),
            client: self.client,
            client_address: crate::headers::address_value(self.client.ip()),
            activity: Arc::new(Activity::default()),
        });
        if http2 {
            return self.serve_http2(stream, server, info).await;
        }
        let settings = ServerSettings {
            max_head: server.max_header_size,
            max_headers: server.max_headers,
            head_timeout: server.header_read_timeout,
            idle_timeout: server.idle_timeout,
        };
        let ending = crate::h1::server::serve(
            Box::new(stream),
            self.shared.clone(),
            info.clone(),
            settings,
            self.drain.clone(),
        )
        .await;
        if let Ending::Http2(stream) = ending {
            self.serve_http2(stream, server, info).await;
        }
    }

    /// Serves HTTP/2 through hyper, negotiated by ALPN or opened with the h2c preface.
    async fn serve_http2(self, stream: impl Io, server: &Server, info: Arc<ConnectionInfo>) {
        let stream = IdleTimeout::new(stream, info.activity.clone(), server.idle_timeout);
        let shared = self.shared.clone();
        let service = service_fn(move |request: http::Request<hyper::body::Incoming>| {
            handler::handle(
                shared.clone(),
                info.clone(),
                request.map(RequestBody::Http2),
            )
        });
        let connection = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .max_header_list_size(u32::try_from(server.max_header_size).unwrap_or(u32::MAX))
            .serve_connection(TokioIo::new(stream), service);
        let mut connection = std::pin::pin!(connection);
        let mut drain = self.drain;
        let drained = async move {
            let _ = drain.wait_for(|stop| *stop).await;
        };
        let result = tokio::select! {
            result = connection.as_mut() => result,
            () = drained => {
                connection.as_mut().graceful_shutdown();
                connection.await
            }
        };
        if let Err(err) = result {
            tracing::debug!(client = %self.client, error = %err, "HTTP/2 connection ended with an error");
        }
    }
}

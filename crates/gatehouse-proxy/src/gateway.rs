//! Starting and stopping the gateway: bind listeners, start one worker thread per core,
//! serve the admin API, and handle signals.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;

use arc_swap::ArcSwap;
use gatehouse_config::model::Config;
use tokio::sync::watch;

use crate::listener::{self, WorkerListener};
use crate::policy::limit::LimitRuntime;
use crate::reload::Reloader;
use crate::snapshot::{BuildError, Shared, Snapshot};
use crate::telemetry::metrics::Metrics;

/// Run options that the configuration file does not set.
#[derive(Debug, Clone)]
pub struct GatewayOptions {
    /// Worker threads, each with its own runtime and sockets.
    pub workers: usize,
    /// The configuration file, for reloads; `None` for an embedded configuration.
    pub config_path: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {address} (listener {listener:?})")]
    Bind {
        listener: String,
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot listen on the admin address {address}")]
    Admin {
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error("cannot start worker thread: {0}")]
    Thread(std::io::Error),
}

/// A running gateway.
pub struct Gateway {
    shared: Arc<Shared>,
    reloader: Arc<Reloader>,
    listeners: Vec<(String, SocketAddr)>,
    admin_address: Option<SocketAddr>,
    /// Kept alive for as long as the gateway runs; dropping it stops the file watch.
    _watcher: Option<notify::RecommendedWatcher>,
    /// Turns true when the workers stop accepting; `/readyz` reports 503 from then on.
    shutdown: watch::Sender<bool>,
    /// Turns true once the workers have drained, which stops the admin listener.
    admin_stop: watch::Sender<bool>,
    workers: Vec<JoinHandle<std::io::Result<()>>>,
}

impl Gateway {
    /// Binds every listener, starts the workers, the admin API and the file watch. Must run
    /// inside a tokio runtime, which then serves the admin API, signals and reloads.
    pub async fn start(config: Config, options: GatewayOptions) -> Result<Gateway, StartError> {
        let workers = options.workers.max(1);
        let metrics = Metrics::new();
        let listeners_model = config.listeners.clone();
        let admin_model = config.admin.address;
        let limits = LimitRuntime::new(&config.rate_limiting, workers);
        limits.load_state();
        limits.start_background(metrics.rate_limit_local_keys.clone());
        let snapshot = Snapshot::build(config, 1, &metrics, workers, None)?;
        let shared = Arc::new(Shared {
            snapshot: ArcSwap::from_pointee(snapshot),
            metrics,
            limits,
            workers,
        });

        let mut per_worker: Vec<Vec<WorkerListener>> = (0..workers).map(|_| Vec::new()).collect();
        let mut listeners = Vec::new();
        for model in &listeners_model {
            let bound = listener::bind(model, workers).map_err(|source| StartError::Bind {
                listener: model.name.clone(),
                address: model.address,
                source,
            })?;
            listeners.push((model.name.clone(), bound.local_addr));
            let name: Arc<str> = Arc::from(model.name.as_str());
            for (slot, socket) in bound.sockets.into_iter().enumerate() {
                per_worker[slot].push(WorkerListener {
                    name: name.clone(),
                    socket,
                    tls: bound.tls.clone(),
                });
            }
        }
        let (admin, admin_address) = match admin_model {
            Some(address) => {
                let bound = crate::admin::bind(address)
                    .await
                    .map_err(|source| StartError::Admin { address, source })?;
                let local = bound
                    .local_addr()
                    .map_err(|source| StartError::Admin { address, source })?;
                (Some(bound), Some(local))
            }
            None => (None, None),
        };

        let (shutdown, receiver) = watch::channel(false);
        let mut handles = Vec::with_capacity(workers);
        for (slot, worker_listeners) in per_worker.into_iter().enumerate() {
            let (shared, receiver) = (shared.clone(), receiver.clone());
            let handle = std::thread::Builder::new()
                .name(format!("gatehouse-worker-{slot}"))
                .spawn(move || listener::run_worker(slot, worker_listeners, shared, receiver))
                .map_err(StartError::Thread)?;
            handles.push(handle);
        }
        let reloader = Arc::new(Reloader::new(shared.clone(), options.config_path));
        let (admin_stop, admin_stopped) = watch::channel(false);
        if let Some(admin) = admin {
            let signals = crate::admin::Signals {
                draining: shutdown.subscribe(),
                stop: admin_stopped,
            };
            tokio::spawn(crate::admin::serve(
                admin,
                shared.clone(),
                reloader.clone(),
                signals,
            ));
        }
        let watcher = reloader.watch_file();
        Ok(Gateway {
            shared,
            reloader,
            listeners,
            admin_address,
            _watcher: watcher,
            shutdown,
            admin_stop,
            workers: handles,
        })
    }

    /// Listener names with the addresses they are bound to (useful with port 0).
    pub fn listener_addresses(&self) -> &[(String, SocketAddr)] {
        &self.listeners
    }

    pub fn admin_address(&self) -> Option<SocketAddr> {
        self.admin_address
    }

    pub fn reloader(&self) -> Arc<Reloader> {
        self.reloader.clone()
    }

    /// Serves until SIGTERM or SIGINT, reloading on SIGHUP and on file changes, then stops
    /// accepting, lets requests in flight finish up to the shutdown timeout and returns.
    pub async fn run_until_signal(self) -> std::io::Result<()> {
        use tokio::signal::unix::{signal, SignalKind};
        let mut hangup = signal(SignalKind::hangup())?;
        let mut terminate = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        loop {
            tokio::select! {
                _ = hangup.recv() => { let _ = self.reloader.reload("SIGHUP").await; }
                _ = terminate.recv() => { tracing::info!(signal = "SIGTERM", "shutting down"); break; }
                _ = interrupt.recv() => { tracing::info!(signal = "SIGINT", "shutting down"); break; }
            }
        }
        self.stop().await
    }

    /// Stops accepting and waits for the workers to drain their connections.
    pub async fn stop(self) -> std::io::Result<()> {
        let _ = self.shutdown.send(true);
        let workers = self.workers;
        let joined = tokio::task::spawn_blocking(move || {
            for worker in workers {
                match worker.join() {
                    Ok(Err(err)) => tracing::error!(error = %err, "worker stopped with an error"),
                    Err(_) => tracing::error!("worker thread panicked"),
                    Ok(Ok(())) => {}
                }
            }
        });
        joined.await.map_err(std::io::Error::other)?;
        self.shared.limits.save_state();
        let _ = self.admin_stop.send(true);
        tracing::info!("gateway stopped");
        Ok(())
    }
}

//! Configuration reload: on SIGHUP, on a change of the configuration file and on
//! `POST /admin/reload`.
//!
//! A reload reads and validates the file, builds a new snapshot and swaps it in. Anything
//! that fails leaves the running snapshot in place. Requests in flight keep the snapshot
//! they started with. Listener, admin, worker and `rate_limiting` settings need a restart;
//! a reload that changes them logs a warning and applies the rest.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use gatehouse_config::model::Config;
use notify::{RecursiveMode, Watcher};
use tokio::sync::{mpsc, Mutex};

use crate::snapshot::{BuildError, Shared, Snapshot};
use crate::telemetry::metrics::ResultLabels;

#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("the configuration was not loaded from a file, so there is nothing to reload")]
    NoFile,
    #[error("{0}")]
    Invalid(gatehouse_config::Diagnostics),
    #[error("the configuration is valid but could not be applied: {0}")]
    Build(#[from] BuildError),
}

/// Serializes reloads and publishes new snapshots.
pub struct Reloader {
    shared: Arc<Shared>,
    path: Option<PathBuf>,
    lock: Mutex<()>,
}

impl Reloader {
    pub fn new(shared: Arc<Shared>, path: Option<PathBuf>) -> Self {
        Reloader {
            shared,
            path,
            lock: Mutex::new(()),
        }
    }

    /// Reloads the configuration file; `trigger` names the cause in the log.
    pub async fn reload(&self, trigger: &str) -> Result<u64, ReloadError> {
        let _serialized = self.lock.lock().await;
        let result = self.try_reload();
        let label = if result.is_ok() { "success" } else { "failure" };
        self.shared
            .metrics
            .reloads
            .get_or_create(&ResultLabels {
                result: label.to_string(),
            })
            .inc();
        match &result {
            Ok(generation) => tracing::info!(trigger, generation, "configuration reloaded"),
            Err(err) => {
                tracing::error!(trigger, error = %err, "configuration reload rejected; the previous configuration stays in use")
            }
        }
        result
    }

    fn try_reload(&self) -> Result<u64, ReloadError> {
        let path = self.path.as_ref().ok_or(ReloadError::NoFile)?;
        let config = gatehouse_config::load_file(path).map_err(ReloadError::Invalid)?;
        let current = self.shared.snapshot.load();
        warn_restart_only_changes(&current.config, &config);
        let generation = current.generation + 1;
        let snapshot = Snapshot::build(
            config,
            generation,
            &self.shared.metrics,
            self.shared.workers,
            Some(&current),
        )?;
        self.shared.snapshot.store(Arc::new(snapshot));
        Ok(generation)
    }

    /// Watches the configuration file's directory (editors replace files by renaming, which
    /// a watch on the file itself would miss) and reloads after changes settle for 200 ms.
    pub fn watch_file(self: &Arc<Self>) -> Option<notify::RecommendedWatcher> {
        let path = self.path.clone()?;
        let (sender, mut receiver) = mpsc::unbounded_channel();
        let file_name = path.file_name()?.to_owned();
        let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            if let Ok(event) = event {
                if event.paths.iter().any(|changed| changed.file_name() == Some(&file_name)) && !event.kind.is_access() {
                    let _ = sender.send(());
                }
            }
        })
        .map_err(|err| tracing::warn!(error = %err, "cannot watch the configuration file; reload with SIGHUP or the admin API"))
        .ok()?;
        let directory = parent_directory(&path);
        if let Err(err) = watcher.watch(&directory, RecursiveMode::NonRecursive) {
            tracing::warn!(directory = %directory.display(), error = %err, "cannot watch the configuration directory");
            return None;
        }
        let reloader = self.clone();
        tokio::spawn(async move {
            while receiver.recv().await.is_some() {
                tokio::time::sleep(Duration::from_millis(200)).await;
                while receiver.try_recv().is_ok() {}
                let _ = reloader.reload("file change").await;
            }
        });
        Some(watcher)
    }
}

fn parent_directory(path: &Path) -> PathBuf {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn warn_restart_only_changes(current: &Config, next: &Config) {
    if current.listeners != next.listeners {
        tracing::warn!(
            "listener changes take effect after a restart; the current listeners stay open"
        );
    }
    if current.rate_limiting != next.rate_limiting {
        tracing::warn!("rate_limiting settings (store, Redis, state file, headers) take effect after a restart; limits themselves apply now");
    }
    if current.admin != next.admin {
        tracing::warn!("admin listener changes take effect after a restart");
    }
    if current.server != next.server {
        tracing::warn!("server settings (timeouts and limits) take effect for new connections");
    }
}

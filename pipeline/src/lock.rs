//! One run of a pipeline at a time: a lock object in the warehouse,
//! created only if absent (`<warehouse>/_floe/pipelines/<name>.lock`).
//!
//! A lock left by a run that was killed is taken over when its process is
//! gone (same host); a lock held from another host is refused with what
//! it says, so a person can judge it.

use std::sync::Arc;

use chrono::Utc;
use floe_engine::Engine;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};

use crate::error::{PipelineError, Result};

/// What a lock object holds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct Holder {
    run_id: String,
    pid: u32,
    host: String,
    started_at: String,
}

/// A held pipeline lock; [`PipelineLock::release`] removes it.
#[derive(Debug)]
pub(crate) struct PipelineLock {
    store: Arc<dyn ObjectStore>,
    path: Path,
    location: String,
    released: bool,
}

fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "localhost".to_string())
}

/// Whether process `pid` of this host is gone. Where that cannot be
/// told, it is taken to be alive.
fn process_gone(pid: u32) -> bool {
    cfg!(target_os = "linux") && !std::path::Path::new(&format!("/proc/{pid}")).exists()
}

impl PipelineLock {
    /// Take the lock of pipeline `name` for run `run_id`, or say who has it.
    pub(crate) async fn acquire(engine: &Engine, name: &str, run_id: &str) -> Result<Self> {
        let file = format!("{}.lock", crate::run::sanitize(name));
        let location = format!("{}/_floe/pipelines/{file}", engine.warehouse());
        let (store, path) = engine.object_store(&location)?;
        let holder = Holder {
            run_id: run_id.to_string(),
            pid: std::process::id(),
            host: host(),
            started_at: Utc::now().to_rfc3339(),
        };
        let body = serde_json::to_vec(&holder)
            .map_err(|e| floe_engine::FloeError::internal(e.to_string()))?;
        for attempt in 0..2 {
            let put = store
                .put_opts(
                    &path,
                    PutPayload::from(body.clone()),
                    PutOptions {
                        mode: PutMode::Create,
                        ..Default::default()
                    },
                )
                .await;
            match put {
                Ok(_) => {
                    return Ok(Self {
                        store,
                        path,
                        location,
                        released: false,
                    });
                }
                Err(object_store::Error::AlreadyExists { .. }) => {
                    let other = read_holder(&store, &path).await;
                    let stale = match &other {
                        Some(h) => h.host == holder.host && process_gone(h.pid),
                        // Unreadable: a lock half-written by a killed run.
                        None => true,
                    };
                    if stale && attempt == 0 {
                        let _ = store.delete(&path).await;
                        continue;
                    }
                    let who = match other {
                        Some(h) => format!(
                            "run {} (process {} on {}, since {})",
                            h.run_id, h.pid, h.host, h.started_at
                        ),
                        None => "another run".to_string(),
                    };
                    return Err(PipelineError::Locked(format!(
                        "pipeline '{name}' is already running: {who} holds {location}. \
                         Wait for it to finish; if no run is going on, delete that file."
                    )));
                }
                Err(e) => {
                    return Err(PipelineError::Locked(format!(
                        "cannot take the lock {location} of pipeline '{name}': {e}"
                    )));
                }
            }
        }
        Err(PipelineError::Locked(format!(
            "cannot take the lock {location} of pipeline '{name}'"
        )))
    }

    /// Remove the lock.
    pub(crate) async fn release(mut self) -> Result<()> {
        self.released = true;
        self.store.delete(&self.path).await.map_err(|e| {
            PipelineError::Locked(format!("cannot remove the lock {}: {e}", self.location))
        })
    }
}

impl Drop for PipelineLock {
    fn drop(&mut self) {
        if !self.released {
            // A run that fails early still lets the next one in.
            let store = Arc::clone(&self.store);
            let path = self.path.clone();
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                handle.spawn(async move {
                    let _ = store.delete(&path).await;
                });
            }
        }
    }
}

async fn read_holder(store: &Arc<dyn ObjectStore>, path: &Path) -> Option<Holder> {
    let bytes = store.get(path).await.ok()?.bytes().await.ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_holder_and_stale_locks_are_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(dir.path().to_str().unwrap()).await.unwrap();
        let lock = PipelineLock::acquire(&engine, "orders", "run_a")
            .await
            .unwrap();
        let err = PipelineLock::acquire(&engine, "orders", "run_b")
            .await
            .unwrap_err();
        let message = err.to_string();
        assert!(
            message.starts_with("pipeline 'orders' is already running: run run_a (process "),
            "{message}"
        );
        assert!(
            message.ends_with("Wait for it to finish; if no run is going on, delete that file.")
        );
        lock.release().await.unwrap();
        let again = PipelineLock::acquire(&engine, "orders", "run_c")
            .await
            .unwrap();
        again.release().await.unwrap();

        // A lock whose process is gone is taken over.
        let location = format!("{}/_floe/pipelines/orders.lock", engine.warehouse());
        let (store, path) = engine.object_store(&location).unwrap();
        let dead = Holder {
            run_id: "run_dead".into(),
            pid: u32::MAX - 1,
            host: host(),
            started_at: "2026-01-01T00:00:00Z".into(),
        };
        store
            .put(&path, PutPayload::from(serde_json::to_vec(&dead).unwrap()))
            .await
            .unwrap();
        let taken = PipelineLock::acquire(&engine, "orders", "run_d")
            .await
            .unwrap();
        taken.release().await.unwrap();

        // One held from another host is not.
        let remote = Holder {
            host: "elsewhere".into(),
            ..dead
        };
        store
            .put(
                &path,
                PutPayload::from(serde_json::to_vec(&remote).unwrap()),
            )
            .await
            .unwrap();
        let err = PipelineLock::acquire(&engine, "orders", "run_e")
            .await
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("run run_dead (process 4294967294 on elsewhere"),
            "{err}"
        );
    }
}

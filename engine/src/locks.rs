//! Per-table commit locks: how an engine's own sessions take turns to
//! commit to a table instead of racing each other for its pointer.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use floe_catalog::TableIdent;
use tokio::sync::OwnedMutexGuard;

use crate::error::{FloeError, Result};

/// Per-table commit locks of one engine. A commit holds its tables'
/// locks from the moment it reads their latest metadata until its swap
/// is done, so two sessions of one engine never race for the same
/// pointer: a lost race (and its retry) can only come from another
/// engine on the same catalog, usually another process. (Work a session
/// does before it commits, such as planning a merge, is not under the
/// lock: its commit checks that the tables are still where it began.)
#[derive(Debug, Default)]
pub(crate) struct CommitLocks {
    locks: Mutex<HashMap<TableIdent, Arc<tokio::sync::Mutex<()>>>>,
}

/// The locks of one commit, released when dropped.
#[must_use]
pub(crate) struct CommitGuard {
    _guards: Vec<OwnedMutexGuard<()>>,
}

/// Entries past which unused locks are forgotten.
const FORGET_UNUSED_AFTER: usize = 1024;

impl CommitLocks {
    /// Lock `tables` (in a fixed order, so two commits over overlapping
    /// sets cannot deadlock).
    pub(crate) async fn lock<'a>(
        &self,
        tables: impl IntoIterator<Item = &'a TableIdent>,
    ) -> Result<CommitGuard> {
        let tables: BTreeSet<&TableIdent> = tables.into_iter().collect();
        let mutexes: Vec<Arc<tokio::sync::Mutex<()>>> = {
            let mut locks = self
                .locks
                .lock()
                .map_err(|_| FloeError::internal("commit locks poisoned"))?;
            if locks.len() > FORGET_UNUSED_AFTER {
                locks.retain(|_, lock| Arc::strong_count(lock) > 1);
            }
            tables
                .iter()
                .map(|t| Arc::clone(locks.entry((*t).clone()).or_default()))
                .collect()
        };
        let mut guards = Vec::with_capacity(mutexes.len());
        for mutex in mutexes {
            guards.push(mutex.lock_owned().await);
        }
        Ok(CommitGuard { _guards: guards })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn overlapping_commits_take_turns() {
        let locks = Arc::new(CommitLocks::default());
        let (a, b) = (
            TableIdent::from_strs(["db", "a"]).unwrap(),
            TableIdent::from_strs(["db", "b"]).unwrap(),
        );
        let held = locks.lock([&b, &a]).await.unwrap();
        let waiter = {
            let locks = Arc::clone(&locks);
            let a = a.clone();
            tokio::spawn(async move {
                let _guard = locks.lock([&a]).await.unwrap();
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiter.is_finished());
        drop(held);
        waiter.await.unwrap();
    }
}

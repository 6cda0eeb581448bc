//! Multi-statement transactions: `BEGIN; ...; COMMIT;` over one or several
//! tables.
//!
//! Inside a transaction every commit writes its new metadata file as usual
//! but does not move the catalog pointer: the table's new version is
//! *staged*, and later statements of the session read it. `COMMIT` swaps
//! the pointers of every touched table in one catalog transaction (all or
//! none); `ROLLBACK` forgets the staged versions. A table another writer
//! committed to since the transaction touched it fails the `COMMIT`, and
//! nothing of the transaction becomes visible.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use floe_catalog::{CatalogError, PointerSwap, TableIdent};

use crate::error::{FloeError, Result};
use crate::table::LoadedTable;

#[derive(Debug)]
struct Staged {
    /// The table's metadata location when the transaction first wrote it.
    base: String,
    /// Its version with the transaction's writes.
    current: LoadedTable,
}

/// A session's open transaction, shared by everything that loads or
/// commits tables for the session.
#[derive(Debug, Clone, Default)]
pub struct TransactionState {
    inner: Arc<Mutex<Option<BTreeMap<TableIdent, Staged>>>>,
}

impl TransactionState {
    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Option<BTreeMap<TableIdent, Staged>>>> {
        self.inner
            .lock()
            .map_err(|_| FloeError::Internal("transaction state poisoned".into()))
    }

    /// Whether a transaction is open.
    pub fn is_open(&self) -> Result<bool> {
        Ok(self.lock()?.is_some())
    }

    /// `BEGIN`.
    pub fn begin(&self) -> Result<()> {
        let mut state = self.lock()?;
        if state.is_some() {
            return Err(FloeError::Invalid(
                "a transaction is already open: COMMIT or ROLLBACK it first".into(),
            ));
        }
        *state = Some(BTreeMap::new());
        Ok(())
    }

    /// The table's staged version, if the open transaction wrote it.
    pub fn staged(&self, table: &TableIdent) -> Result<Option<LoadedTable>> {
        Ok(self
            .lock()?
            .as_ref()
            .and_then(|tables| tables.get(table))
            .map(|s| s.current.clone()))
    }

    /// Record a new version of a table instead of committing it; returns
    /// false (and records nothing) when no transaction is open.
    pub fn stage(&self, base: &LoadedTable, new: LoadedTable) -> Result<bool> {
        let mut state = self.lock()?;
        let Some(tables) = state.as_mut() else {
            return Ok(false);
        };
        let entry = tables.entry(new.ident().clone()).or_insert_with(|| Staged {
            base: base.metadata_location().to_string(),
            current: new.clone(),
        });
        entry.current = new;
        Ok(true)
    }

    /// `COMMIT`: the pointer swaps to make, closing the transaction.
    pub fn take_swaps(&self) -> Result<Vec<PointerSwap>> {
        let mut state = self.lock()?;
        let tables = state
            .take()
            .ok_or_else(|| FloeError::Invalid("COMMIT: no transaction is open".into()))?;
        Ok(tables
            .into_iter()
            .map(|(table, staged)| PointerSwap {
                table,
                expected: staged.base,
                new: staged.current.metadata_location().to_string(),
            })
            .collect())
    }

    /// `ROLLBACK`.
    pub fn rollback(&self) -> Result<()> {
        self.lock()?
            .take()
            .map(|_| ())
            .ok_or_else(|| FloeError::Invalid("ROLLBACK: no transaction is open".into()))
    }
}

/// The error of a COMMIT that lost to another writer.
pub fn commit_conflict(e: CatalogError) -> FloeError {
    match e {
        CatalogError::CommitConflict { table, actual, .. } => FloeError::Conflict {
            table: table.to_string(),
            snapshot: None,
            reason: format!(
                "another writer committed to it (now at {actual}) after this transaction \
                 wrote it; the transaction was rolled back"
            ),
        },
        other => other.into(),
    }
}

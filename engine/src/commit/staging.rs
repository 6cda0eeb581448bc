//! Staged commits: a session's multi-statement transaction (`BEGIN; ...;
//! COMMIT;`), and the private staging area of a branch merge.
//!
//! Inside a transaction a statement's commit is not sent to the catalog:
//! its updates are applied to the table's staged version in memory, which
//! the session's later statements read, and kept. `COMMIT` sends every
//! staged table as one [`Batch`] to the committer, whose requirements
//! (derived from the versions the transaction started from) make it fail
//! if another writer committed to one of those tables since, and then
//! nothing of the transaction becomes visible. `ROLLBACK` forgets it all;
//! no metadata file was written.
//!
//! The staging area is part of the commit layer: its `COMMIT` goes
//! through the same committer as every other commit.

use std::collections::BTreeMap;

use floe_catalog::{CatalogError, TableIdent};
use iceberg::TableUpdate;

use super::apply::{TableCommit, apply_updates, check_requirement, requirements_for};
use super::committer::{Batch, commit_locked};
use super::retry::Attempts;
use super::snapshot::rebase_snapshots;
use crate::engine::Engine;
use crate::error::{FloeError, Result};
use crate::table::{LoadedTable, TableVersion};

#[derive(Debug)]
struct Staged {
    /// The table's committed version when the transaction first wrote it.
    base: LoadedTable,
    /// Every update the transaction made to it, in order.
    updates: Vec<TableUpdate>,
    /// Its version with those updates, in memory.
    current: LoadedTable,
}

/// The tables a transaction (or a branch merge) changed, not committed yet.
#[derive(Debug, Default)]
pub(crate) struct Staging {
    tables: BTreeMap<TableIdent, Staged>,
}

impl Staging {
    /// The staged version of `table`, at `main`, if it was changed.
    pub(crate) fn get(&self, table: &TableIdent) -> Option<LoadedTable> {
        self.tables
            .get(table)
            .map(|s| s.current.with_version(TableVersion::default()))
    }

    /// Apply `updates`, made on `base` (the table's staged version, or its
    /// committed one if the transaction has not changed it yet), to the
    /// staged version; returns the new staged version, seen at `base`'s
    /// version.
    pub(crate) fn stage(
        &mut self,
        base: &LoadedTable,
        updates: Vec<TableUpdate>,
    ) -> Result<LoadedTable> {
        let ident = base.ident().clone();
        let staged = self.tables.entry(ident.clone()).or_insert_with(|| Staged {
            base: base.with_version(TableVersion::default()),
            updates: Vec::new(),
            current: base.with_version(TableVersion::default()),
        });
        let builder = staged
            .current
            .metadata()
            .as_ref()
            .clone()
            .into_builder(None);
        let metadata = apply_updates(&ident, builder, &updates)?;
        staged.updates.extend(updates);
        // Never read from or cached under this location: it names the
        // version this transaction started from, plus its own changes.
        let location = format!("{}#staged", staged.base.metadata_location());
        staged.current = LoadedTable::new(ident, location, metadata);
        Ok(staged.current.with_version(base.version().clone()))
    }

    /// `COMMIT`: every staged table in one catalog commit, its updates
    /// checked against the requirements of the version the transaction
    /// started from. A snapshot whose sequence number another commit (to
    /// another branch) took meanwhile is renumbered; a lost race with
    /// another process is retried by the tables' `commit.retry.*` policy;
    /// a requirement that no longer holds fails the commit, and nothing
    /// changes.
    pub(crate) async fn commit(self, engine: &Engine) -> Result<Vec<LoadedTable>> {
        let tables: Vec<TableIdent> = self.tables.keys().cloned().collect();
        let _guard = engine.commit_locks().lock(&tables).await?;
        let mut attempts = match self.tables.values().next() {
            Some(staged) => Attempts::of(staged.base.ident(), staged.base.metadata())?,
            None => return Ok(Vec::new()),
        };
        loop {
            attempts.begin();
            let mut batch = Batch::default();
            for (table, staged) in &self.tables {
                let requirements = requirements_for(Some(staged.base.metadata()), &staged.updates);
                let current = engine.load_committed(table).await?;
                for requirement in &requirements {
                    check_requirement(table, Some(current.metadata()), requirement)?;
                }
                let updates = rebase_snapshots(engine, &current, staged.updates.clone()).await?;
                batch.commits.push(TableCommit {
                    table: table.clone(),
                    requirements,
                    updates,
                });
            }
            match commit_locked(engine, &batch, false).await {
                Err(e)
                    if matches!(
                        e.root(),
                        FloeError::Catalog(CatalogError::CommitConflict { .. })
                    ) && attempts.again().await => {}
                result => return result,
            }
        }
    }
}

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

use std::collections::BTreeMap;

use floe_catalog::TableIdent;
use iceberg::TableUpdate;

use crate::commit::{Batch, TableCommit, apply_updates};
use crate::error::Result;
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

    /// Whether nothing was staged.
    pub(crate) fn is_empty(&self) -> bool {
        self.tables.is_empty()
    }

    /// What `COMMIT` sends to the committer: every staged table's updates,
    /// with the requirements of the version it started from.
    pub(crate) fn into_batch(self) -> Batch {
        Batch {
            commits: self
                .tables
                .into_iter()
                .map(|(table, staged)| {
                    TableCommit::on(table, Some(staged.base.metadata()), staged.updates)
                })
                .collect(),
            drops: Vec::new(),
        }
    }
}

//! **The** commit layer. Every change to a table ends here: DML, ALTER,
//! refs, warehouse branches and their merges, procedures, COMMIT, and
//! CREATE / DROP / RENAME TABLE.
//!
//! - A commit is data: a [`TableCommit`] of Iceberg's `TableRequirement`s
//!   and `TableUpdate`s, the REST catalog's shape, checked and applied by
//!   one pure function, [`apply_commit`]. Commits that arrive from outside
//!   Floe take the same path.
//! - The committer ([`commit_batch`]) reads each table's current metadata,
//!   applies its commit, writes the new metadata files (never over one)
//!   and moves every pointer in one catalog transaction, one table or
//!   several.
//! - Floe's own changes are made by a producer from the table's latest
//!   version ([`commit_table`], [`commit_tables`]): a snapshot of data
//!   files added and removed ([`SnapshotUpdate`]), or a metadata change.
//!   A lost race is retried by the table's `commit.retry.*` policy, with
//!   Java Iceberg's defaults and jittered backoff: the producer runs again
//!   on the new version, its validation (the serializable and snapshot
//!   isolation checks) with it.
//! - An engine's sessions take per-table commit locks, so their commits
//!   never race each other; retries are for other engines on the same
//!   catalog (other processes, usually).
//! - Inside a transaction a commit is staged instead ([`Staging`]); the
//!   session says where its commits go with a [`Target`].

mod apply;
mod committer;
mod history;
mod retry;
mod snapshot;
mod staging;
mod summary;
mod validate;

use std::future::Future;

use floe_catalog::TableIdent;
use iceberg::TableUpdate;
use iceberg::spec::TableMetadataBuilder;

pub use apply::TableCommit;
pub(crate) use apply::apply_commit;

pub(crate) use committer::{Batch, commit as commit_batch, commit_locked, rename_table};
pub use history::{MAX_SNAPSHOTS, MAX_SNAPSHOTS_DEFAULT};
pub(crate) use history::{merge_histories, remove_snapshots};
pub(crate) use retry::Attempts;
pub(crate) use snapshot::{Isolation, SnapshotUpdate, add_empty_branch, rewrite_manifests};
pub(crate) use staging::Staging;

use std::sync::{Mutex, MutexGuard};

use crate::engine::Engine;
use crate::error::{FloeError, Result};
use crate::table::{LoadedTable, TableVersion, VersionSpec};

/// Where a session's open transaction (or a branch merge's staging area)
/// keeps what it staged: `None` while no transaction is open.
#[derive(Debug, Default)]
pub(crate) struct StagingSlot(Mutex<Option<Staging>>);

impl StagingSlot {
    /// A slot with an open staging area.
    pub(crate) fn open() -> Self {
        Self(Mutex::new(Some(Staging::default())))
    }

    /// The slot, locked.
    pub(crate) fn lock(&self) -> Result<MutexGuard<'_, Option<Staging>>> {
        self.0
            .lock()
            .map_err(|_| FloeError::poisoned("transaction"))
    }

    /// Whether a transaction is open.
    pub(crate) fn is_open(&self) -> Result<bool> {
        Ok(self.lock()?.is_some())
    }
}

/// Where one session's commits go: the catalog, or, while a transaction
/// (or a branch merge's own staging area) is open, that staging area.
pub(crate) struct Target<'a> {
    /// The engine.
    pub(crate) engine: &'a Engine,
    /// The open transaction's staged tables.
    pub(crate) staging: &'a StagingSlot,
    /// The session's `floe.wap_id`.
    pub(crate) wap_id: Option<String>,
}

impl Target<'_> {
    fn staging(&self) -> Result<MutexGuard<'_, Option<Staging>>> {
        self.staging.lock()
    }

    /// Whether commits are staged.
    pub(crate) fn in_transaction(&self) -> Result<bool> {
        self.staging.is_open()
    }

    /// Stage `updates`, made on `base`; returns the table's staged version.
    fn stage(&self, base: &LoadedTable, updates: Vec<TableUpdate>) -> Result<LoadedTable> {
        match self.staging()?.as_mut() {
            Some(staging) => staging.stage(base, updates),
            None => Err(FloeError::internal(
                "staged a commit with no transaction open",
            )),
        }
    }

    /// A table's current metadata, seen at `main`: the staged version if
    /// the open transaction changed it, else the catalog's.
    pub(crate) async fn load_table(&self, ident: &TableIdent) -> Result<LoadedTable> {
        let staged = self.staging()?.as_ref().and_then(|s| s.get(ident));
        match staged {
            Some(staged) => Ok(staged),
            None => self.engine.load_committed(ident).await,
        }
    }

    /// A table's latest metadata seen at the same version as `table` (a
    /// commit that lost a race retries on it). A branch that was dropped
    /// meanwhile is an error.
    pub(crate) async fn reload(&self, table: &LoadedTable) -> Result<LoadedTable> {
        let latest = self.load_table(table.ident()).await?;
        match table.version() {
            TableVersion::Branch(name) if table.snapshot().is_none() => {
                // A branch being created by this commit, or an empty main.
                Ok(latest.with_version(TableVersion::Branch(name.clone())))
            }
            TableVersion::Branch(name) => latest.at(&VersionSpec::Branch(name.clone())),
            TableVersion::Tag(name) => latest.at(&VersionSpec::Tag(name.clone())),
            TableVersion::Snapshot(id) => latest.at(&VersionSpec::Snapshot(*id)),
        }
    }
}

/// The updates a metadata builder recorded (`None` when it changed nothing).
pub(crate) fn changes(builder: TableMetadataBuilder) -> Result<Option<Vec<TableUpdate>>> {
    let changes = builder.build()?.changes;
    Ok((!changes.is_empty()).then_some(changes))
}

/// Commit a change to one table: `change` makes the updates from the
/// table's latest version (`None`: nothing to do) and runs again on the
/// new version whenever another writer commits first, as the table's
/// `commit.retry.*` policy allows. Inside a transaction the change is
/// staged instead. Returns the table's new version, seen at `base`'s.
pub(crate) async fn commit_table<F, Fut>(
    target: &Target<'_>,
    base: LoadedTable,
    mut change: F,
) -> Result<LoadedTable>
where
    F: FnMut(LoadedTable) -> Fut,
    Fut: Future<Output = Result<Option<Vec<TableUpdate>>>>,
{
    if target.in_transaction()? {
        return match change(base.clone()).await? {
            Some(updates) => target.stage(&base, updates),
            None => Ok(base),
        };
    }
    let ident = base.ident().clone();
    let version = base.version().clone();
    let _guard = target.engine.commit_locks().lock([&ident]).await?;
    let mut current = target.reload(&base).await?;
    let mut attempts = Attempts::of(&ident, current.metadata())?;
    loop {
        attempts.begin();
        let Some(updates) = change(current.clone()).await? else {
            return Ok(current);
        };
        let commit = TableCommit::on(ident.clone(), Some(current.metadata()), updates);
        match commit_locked(target.engine, &Batch::one(commit), false).await {
            Ok(mut committed) => {
                return committed
                    .pop()
                    .map(|t| t.with_version(version))
                    .ok_or_else(|| FloeError::internal("a commit returned no table"));
            }
            Err(e) if e.is_retryable() && attempts.again().await => {
                current = target.reload(&current).await?;
            }
            Err(e) => return Err(e),
        }
    }
}

/// A metadata-only commit (refs, properties, schema): `change` makes the
/// new metadata from the table's latest version, as a builder whose
/// recorded changes are the updates (`None`: nothing to do).
pub(crate) async fn update_metadata<F>(
    target: &Target<'_>,
    table: &TableIdent,
    change: F,
) -> Result<LoadedTable>
where
    F: Fn(&LoadedTable) -> Result<Option<TableMetadataBuilder>>,
{
    let base = target.load_table(table).await?;
    let change = &change;
    commit_table(target, base, move |current| async move {
        match change(&current)? {
            Some(builder) => changes(builder),
            None => Ok(None),
        }
    })
    .await
}

/// What a warehouse-wide commit does to one table.
pub(crate) enum TableChange {
    /// Apply these updates.
    Update(Vec<TableUpdate>),
    /// Remove the table from the catalog.
    Drop,
}

/// Commit a change to several tables at once (all or none): `change`
/// says what to do to each table's latest version (`None`: leave it), and
/// runs again on every table whenever another writer commits first.
/// Returns the updated tables' new versions and the dropped tables.
pub(crate) async fn commit_tables<F, Fut>(
    target: &Target<'_>,
    tables: &[TableIdent],
    mut change: F,
) -> Result<(Vec<LoadedTable>, Vec<TableIdent>)>
where
    F: FnMut(LoadedTable) -> Fut,
    Fut: Future<Output = Result<Option<TableChange>>>,
{
    if target.in_transaction()? {
        return Err(FloeError::unsupported(
            "a warehouse-wide change cannot run inside a transaction",
        ));
    }
    let _guard = target.engine.commit_locks().lock(tables).await?;
    let mut attempts = Attempts::new();
    loop {
        attempts.begin();
        let mut batch = Batch::default();
        for ident in tables {
            let table = match target.load_table(ident).await {
                Ok(table) => table,
                // Dropped meanwhile.
                Err(e) if e.is_table_not_found() => continue,
                Err(e) => return Err(e),
            };
            attempts.learn_policy(ident, table.metadata())?;
            let (location, metadata) = (
                table.metadata_location().to_string(),
                std::sync::Arc::clone(table.metadata()),
            );
            match change(table).await? {
                None => {}
                Some(TableChange::Update(updates)) => {
                    batch
                        .commits
                        .push(TableCommit::on(ident.clone(), Some(&metadata), updates))
                }
                Some(TableChange::Drop) => batch.drops.push((ident.clone(), location)),
            }
        }
        if batch.commits.is_empty() && batch.drops.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        match commit_locked(target.engine, &batch, false).await {
            Ok(committed) => {
                let dropped = batch.drops.into_iter().map(|(table, _)| table).collect();
                return Ok((committed, dropped));
            }
            Err(e) if e.is_retryable() && attempts.again().await => {}
            Err(e) => return Err(e),
        }
    }
}

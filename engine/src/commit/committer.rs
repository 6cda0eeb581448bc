//! The committer: checks each [`TableCommit`] against its table's current
//! metadata, writes the new metadata files and moves every pointer in one
//! catalog transaction. The only code that writes a metadata file or
//! moves, adds or removes a catalog pointer.

use std::str::FromStr;
use std::sync::Arc;

use floe_catalog::{
    CatalogChange, CatalogError, PointerSwap, TableIdent, UpdateCatalog, UpdateCommit,
};
use iceberg::MetadataLocation;
use iceberg::spec::TableMetadata;

use super::apply::{TableCommit, apply_commit};
use super::history;
use super::retry::Attempts;
use crate::engine::Engine;
use crate::error::{ErrorKind, FloeError, RequirementFailed, Result};
use crate::table::{LoadedTable, table_from_json, write_metadata};

/// What one catalog commit does: table commits (updates of existing
/// tables, or creates) and drops.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    /// Tables to change or create.
    pub commits: Vec<TableCommit>,
    /// Tables to remove, with the metadata location the drop was decided
    /// on: a table that moved since is not dropped.
    pub drops: Vec<(TableIdent, String)>,
}

impl Batch {
    /// A batch of one table's commit.
    pub(crate) fn one(commit: TableCommit) -> Self {
        Self {
            commits: vec![commit],
            drops: Vec::new(),
        }
    }

    fn tables(&self) -> impl Iterator<Item = &TableIdent> {
        self.commits
            .iter()
            .map(|c| &c.table)
            .chain(self.drops.iter().map(|(t, _)| t))
    }
}

/// Commit `batch` atomically: lock its tables against the engine's other
/// sessions, then [`commit_locked`], retrying lost races on the tables'
/// new metadata as long as the batch's requirements hold.
pub(crate) async fn commit(engine: &Engine, batch: &Batch) -> Result<Vec<LoadedTable>> {
    let _guard = engine.commit_locks().lock(batch.tables()).await?;
    commit_locked(engine, batch, true).await
}

/// Commit `batch` (its tables' commit locks held): every table's current
/// metadata is read from the catalog, its requirements checked and its
/// updates applied, the new metadata files written, and all pointers
/// moved at once. When another engine (another process, usually) moved a
/// pointer first and `retry` is set, the whole batch is checked and
/// applied again on the new metadata, by the first table's
/// `commit.retry.*` policy; a requirement that no longer holds fails it.
/// Without `retry` the lost race is returned (a
/// [`CatalogError::CommitConflict`], or [`CatalogError::TableAlreadyExists`]
/// for a create) for the caller to redo its work. The metadata files of
/// an attempt the catalog refused are deleted. Returns each committed
/// table's new version, at `main`, in the order of `batch.commits`.
pub(crate) async fn commit_locked(
    engine: &Engine,
    batch: &Batch,
    retry: bool,
) -> Result<Vec<LoadedTable>> {
    if let Some(remote) = engine.catalog().as_update_catalog() {
        return commit_remote(engine, remote, batch, retry).await;
    }
    let mut attempts = Attempts::new();
    loop {
        let attempt = attempts.begin();
        let mut changes = Vec::with_capacity(batch.commits.len() + batch.drops.len());
        let mut committed = Vec::with_capacity(batch.commits.len());
        // The metadata files this attempt wrote.
        let mut written = Vec::new();
        // The metadata files each table's log named before this commit.
        let mut logs = Vec::with_capacity(batch.commits.len());
        for commit in &batch.commits {
            let (current, metadata) =
                match apply_to_current(engine, commit, &mut attempts, attempt).await {
                    Ok(applied) => applied,
                    Err(e) => {
                        delete_unused(engine, &written).await;
                        return Err(e);
                    }
                };
            logs.push(current.as_ref().map(metadata_files));
            match current {
                // A commit of requirements only checks them: its pointer must
                // stay where it is until the others have moved.
                Some(current) if commit.updates.is_empty() => {
                    changes.push(CatalogChange::Swap(PointerSwap {
                        table: commit.table.clone(),
                        expected: current.metadata_location().to_string(),
                        new: current.metadata_location().to_string(),
                    }));
                    committed.push(current);
                }
                current => {
                    let written_version =
                        write_version(engine, commit, current.as_ref(), metadata).await;
                    let (table, change) = match written_version {
                        Ok(version) => version,
                        Err(e) => {
                            delete_unused(engine, &written).await;
                            return Err(e);
                        }
                    };
                    written.push(table.metadata_location().to_string());
                    changes.push(change);
                    committed.push(table);
                }
            }
        }
        for (table, expected) in &batch.drops {
            changes.push(CatalogChange::Drop {
                table: table.clone(),
                expected: expected.clone(),
            });
        }
        if changes.is_empty() {
            return Ok(committed);
        }
        let e = match engine.catalog().commit(changes).await {
            Ok(()) => {
                for (table, before) in committed.iter().zip(&logs) {
                    if let Some(before) = before {
                        delete_expired_metadata(engine, table, before).await;
                    }
                }
                for table in &committed {
                    engine.remember(table);
                }
                return Ok(committed);
            }
            Err(e) => e,
        };
        // The catalog refused the commit for certain: no pointer names the
        // files this attempt wrote. (After any other error it may have
        // committed, so they stay.)
        if matches!(
            e,
            CatalogError::CommitConflict { .. }
                | CatalogError::TableAlreadyExists(_)
                | CatalogError::TableNotFound(_)
                | CatalogError::NamespaceNotFound(_)
        ) {
            delete_unused(engine, &written).await;
        }
        let lost_race = matches!(
            e,
            CatalogError::CommitConflict { .. } | CatalogError::TableAlreadyExists(_)
        );
        if !(retry && lost_race && attempts.again().await) {
            return Err(e.into());
        }
    }
}

/// [`commit_locked`] on a catalog whose server applies commits (a REST
/// catalog). Each commit is checked and applied here first, on the
/// table's current metadata, so that Floe's validation runs and a create
/// knows what to stage; then all of them go to the server in one request,
/// as requirements and updates it checks and applies again. A requirement
/// the server finds broken is a lost race, retried as in
/// [`commit_locked`]. Drops are requests of their own: the REST spec has
/// no atomic commit of drops and updates together.
async fn commit_remote(
    engine: &Engine,
    remote: &dyn UpdateCatalog,
    batch: &Batch,
    retry: bool,
) -> Result<Vec<LoadedTable>> {
    if !batch.drops.is_empty() {
        if !batch.commits.is_empty() {
            return Err(FloeError::unsupported(
                "this change drops some tables and updates others in one commit, which a REST \
                 catalog cannot do atomically: it drops a table in a request of its own",
            ));
        }
        let drops = batch
            .drops
            .iter()
            .map(|(table, expected)| CatalogChange::Drop {
                table: table.clone(),
                expected: expected.clone(),
            })
            .collect();
        engine.catalog().commit(drops).await?;
        return Ok(Vec::new());
    }
    let mut attempts = Attempts::new();
    loop {
        let attempt = attempts.begin();
        let mut sent = Vec::with_capacity(batch.commits.len());
        for commit in &batch.commits {
            let (current, metadata) =
                apply_to_current(engine, commit, &mut attempts, attempt).await?;
            sent.push(UpdateCommit {
                table: commit.table.clone(),
                requirements: commit.requirements.clone(),
                updates: commit.updates.clone(),
                creates: current.is_none().then(|| Arc::new(metadata)),
            });
        }
        match remote.commit_updates(sent).await {
            Ok(done) => {
                return batch
                    .commits
                    .iter()
                    .zip(done)
                    .map(|(commit, done)| {
                        table_from_json(&commit.table, done.metadata_location, &done.metadata)
                    })
                    .collect();
            }
            Err(e) if retry && e.is_retryable() && attempts.again().await => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// `commit` checked and applied on its table's current metadata, in
/// attempt `attempt`: the table as it is (`None` if it does not exist
/// yet) and its new metadata.
async fn apply_to_current(
    engine: &Engine,
    commit: &TableCommit,
    attempts: &mut Attempts,
    attempt: u32,
) -> Result<(Option<LoadedTable>, TableMetadata)> {
    let current = load_current(engine, &commit.table).await?;
    if let Some(table) = &current {
        attempts.learn_policy(table.ident(), table.metadata())?;
    }
    let base = current
        .as_ref()
        .map(|t| (t.metadata().as_ref(), t.metadata_location()));
    match apply_commit(base, commit) {
        Ok(metadata) => Ok((current, metadata)),
        // Updates made on metadata that has moved since may no longer
        // apply (a snapshot's sequence number): the producer must make
        // them again.
        Err(e) if attempt > 1 && e.kind() == ErrorKind::InvalidInput => {
            Err(stale(&commit.table, e))
        }
        Err(e) => Err(e),
    }
}

/// The metadata files a table version names: its own and its log's.
fn metadata_files(table: &LoadedTable) -> Vec<String> {
    table
        .metadata()
        .metadata_log()
        .iter()
        .map(|entry| entry.metadata_file.clone())
        .chain([table.metadata_location().to_string()])
        .collect()
}

/// With `write.metadata.delete-after-commit.enabled`, delete the metadata
/// files that left the table's log in this commit (the log keeps
/// `write.metadata.previous-versions-max` of them, 100 by default), as
/// Java Iceberg does. Best effort: the commit has happened, and a file
/// left behind is an orphan that `remove_orphan_files` finds.
async fn delete_expired_metadata(engine: &Engine, table: &LoadedTable, before: &[String]) {
    let enabled = table
        .metadata()
        .properties()
        .get("write.metadata.delete-after-commit.enabled")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if !enabled {
        return;
    }
    let kept: std::collections::HashSet<String> = metadata_files(table).into_iter().collect();
    for file in before.iter().filter(|f| !kept.contains(*f)) {
        engine.file_io().delete(file).await.ok();
    }
}

/// Delete metadata files that no commit points at, as Java Iceberg does
/// after a failed commit. Best effort: a file left behind is an orphan
/// that `remove_orphan_files` finds, never a wrong read.
async fn delete_unused(engine: &Engine, locations: &[String]) {
    for location in locations {
        engine.file_io().delete(location).await.ok();
    }
}

/// The table's committed version, `None` if the catalog has no such table.
async fn load_current(engine: &Engine, table: &TableIdent) -> Result<Option<LoadedTable>> {
    match engine.load_committed(table).await {
        Ok(table) => Ok(Some(table)),
        Err(e) if e.is_table_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Write `metadata`, the result of `commit`, as the next metadata file of
/// its table (never over an existing file), within the table's bound on
/// its history ([`history::bound`]); returns the new version and the
/// catalog change that points the table at it.
async fn write_version(
    engine: &Engine,
    commit: &TableCommit,
    current: Option<&LoadedTable>,
    metadata: TableMetadata,
) -> Result<(LoadedTable, CatalogChange)> {
    let table = &commit.table;
    let before = current.map(LoadedTable::refs).transpose()?;
    let refs = history::refs_after(before, &commit.updates, &metadata);
    let (metadata, _) = history::bound(table, metadata, &refs)?;
    let location = match current.map(|c| MetadataLocation::from_str(c.metadata_location())) {
        Some(Ok(previous)) => previous.with_next_version().with_new_metadata(&metadata),
        // A new table, or metadata written with another naming scheme.
        _ => MetadataLocation::new_with_metadata(metadata.location(), &metadata),
    };
    write_metadata(engine.file_io(), &metadata, &location).await?;
    let location = location.to_string();
    let change = match current {
        Some(current) => CatalogChange::Swap(PointerSwap {
            table: table.clone(),
            expected: current.metadata_location().to_string(),
            new: location.clone(),
        }),
        None => CatalogChange::Create {
            table: table.clone(),
            metadata_location: location.clone(),
        },
    };
    let new = LoadedTable::with_refs(table.clone(), location, Arc::new(metadata), Arc::new(refs));
    Ok((new, change))
}

/// Updates that no longer apply because the table moved under them.
fn stale(table: &TableIdent, error: FloeError) -> FloeError {
    FloeError::RequirementFailed(Box::new(RequirementFailed {
        table: table.to_string(),
        requirement: "that its updates still apply".into(),
        expected: "the metadata they were made on".into(),
        found: format!("metadata another writer changed ({error})"),
        java: None,
    }))
}

impl Engine {
    /// Commit to one or several tables at once, all or none, as the Iceberg
    /// REST catalog's commit endpoints do: each commit's requirements are
    /// checked against its table's current metadata and its updates applied
    /// to it, the new metadata files are written and every pointer moves in
    /// one catalog transaction. A commit with `assert-create` creates its
    /// table. A requirement that does not hold fails with
    /// [`ErrorKind::Conflict`](crate::ErrorKind::Conflict) and changes
    /// nothing; a lost race with another writer is retried on the new
    /// metadata while the requirements hold. Returns each table's new
    /// version.
    ///
    /// ```
    /// # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
    /// # async fn main() -> floe_engine::Result<()> {
    /// use std::collections::HashMap;
    /// use floe_engine::{Engine, ErrorKind, TableCommit, TableIdent, TableRequirement, TableUpdate};
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let engine = Engine::open(dir.path().to_str().unwrap()).await?;
    /// engine.session().sql("CREATE TABLE t (id BIGINT)").await?;
    /// let table = TableIdent::from_strs(["default", "t"]).unwrap();
    /// let set = |key: &str| TableUpdate::SetProperties {
    ///     updates: HashMap::from([(key.to_string(), "x".to_string())]),
    /// };
    /// // Requires that the table has no snapshot on main yet: it has none.
    /// let empty_main = TableRequirement::RefSnapshotIdMatch { r#ref: "main".into(), snapshot_id: None };
    /// let committed = engine
    ///     .commit(vec![TableCommit { table: table.clone(), requirements: vec![empty_main.clone()], updates: vec![set("a")] }])
    ///     .await?;
    /// assert_eq!(committed[0].metadata().properties()["a"], "x");
    ///
    /// engine.session().sql("INSERT INTO t VALUES (1)").await?;
    /// let err = engine
    ///     .commit(vec![TableCommit { table, requirements: vec![empty_main], updates: vec![set("b")] }])
    ///     .await
    ///     .unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::Conflict);
    /// assert!(err.to_string().contains("requirement assert-ref-snapshot-id (ref 'main') failed"), "{err}");
    /// # Ok(())
    /// # }
    /// ```
    pub async fn commit(&self, commits: Vec<TableCommit>) -> Result<Vec<LoadedTable>> {
        let batch = Batch {
            commits,
            drops: Vec::new(),
        };
        commit(self, &batch).await
    }
}

/// Rename a table in the catalog (its metadata and files stay where they
/// are), holding both names' commit locks.
pub(crate) async fn rename_table(
    engine: &Engine,
    from: &TableIdent,
    to: &TableIdent,
) -> Result<()> {
    let _guard = engine.commit_locks().lock([from, to]).await?;
    Ok(engine.catalog().rename_table(from, to).await?)
}

//! Checking the commits that won a race against the one being retried.

use std::collections::HashSet;

use futures::TryStreamExt;
use iceberg::expr::Predicate;
use iceberg::spec::{DataFile, ManifestContentType, ManifestStatus, Operation};

use super::Isolation;
use crate::engine::Engine;
use crate::error::{FloeError, Result};
use crate::table::LoadedTable;

/// Fail if a commit made on `current`'s branch since `read_snapshot` conflicts with a
/// statement that read the rows matching `filter` (`None`: the whole table)
/// and removes the data files `removed`.
///
/// Removed files are checked again when the manifests are rewritten. Here:
/// at every isolation level, no concurrent commit may have added delete
/// files for a removed file (its deleted rows would come back); under
/// serializable isolation, no concurrent commit may have added data files
/// that may hold matching rows.
pub(super) async fn concurrent_commits(
    engine: &Engine,
    current: &LoadedTable,
    read_snapshot: Option<i64>,
    isolation: Isolation,
    filter: Option<&Predicate>,
    removed: &HashSet<&str>,
) -> Result<()> {
    let metadata = current.metadata();
    let mut next = current.snapshot().cloned();
    let mut reached_read_snapshot = read_snapshot.is_none();
    while let Some(snapshot) = next {
        if Some(snapshot.snapshot_id()) == read_snapshot {
            reached_read_snapshot = true;
            break;
        }
        if !removed.is_empty() {
            let deletes = added_files(
                engine,
                current,
                snapshot.manifest_list(),
                snapshot.snapshot_id(),
                ManifestContentType::Deletes,
            )
            .await?;
            let hit = deletes.iter().find(|f| match f.referenced_data_file() {
                Some(path) => removed.contains(path.as_str()),
                // Equality deletes, or position deletes of several files.
                None => true,
            });
            if let Some(path) = hit.map(|f| f.file_path()) {
                return Err(FloeError::Conflict {
                    table: current.ident().to_string(),
                    snapshot: Some(snapshot.snapshot_id()),
                    reason: format!(
                        "concurrent snapshot {} added delete file {path}, which may delete \
                         rows of the data files this statement rewrites",
                        snapshot.snapshot_id()
                    ),
                });
            }
        }
        if isolation == Isolation::Snapshot {
            next = snapshot
                .parent_snapshot_id()
                .and_then(|id| metadata.snapshot_by_id(id))
                .cloned();
            continue;
        }
        let adds_data = matches!(
            snapshot.summary().operation,
            Operation::Append | Operation::Overwrite
        );
        if adds_data {
            let added: HashSet<String> = added_files(
                engine,
                current,
                snapshot.manifest_list(),
                snapshot.snapshot_id(),
                ManifestContentType::Data,
            )
            .await?
            .iter()
            .map(|f| f.file_path().to_string())
            .collect();
            if !added.is_empty() {
                let matching = match filter {
                    None => added,
                    Some(filter) => {
                        let candidates =
                            files_matching(engine, current, snapshot.snapshot_id(), filter).await?;
                        added.intersection(&candidates).cloned().collect()
                    }
                };
                if let Some(file) = matching.iter().next() {
                    return Err(FloeError::Conflict {
                        table: current.ident().to_string(),
                        snapshot: Some(snapshot.snapshot_id()),
                        reason: format!(
                            "concurrent snapshot {} added {} data file(s) that may hold rows \
                             this statement reads (e.g. {file})",
                            snapshot.snapshot_id(),
                            matching.len()
                        ),
                    });
                }
            }
        }
        next = snapshot
            .parent_snapshot_id()
            .and_then(|id| metadata.snapshot_by_id(id))
            .cloned();
    }
    if !reached_read_snapshot {
        return Err(FloeError::Conflict {
            table: current.ident().to_string(),
            snapshot: current.snapshot_id(),
            reason: "the snapshot this statement read is no longer an ancestor of the table's \
                     current snapshot (it was rolled back or replaced)"
                .into(),
        });
    }
    Ok(())
}

/// The files (data or delete files) a snapshot added.
async fn added_files(
    engine: &Engine,
    table: &LoadedTable,
    manifest_list: &str,
    snapshot_id: i64,
    content: ManifestContentType,
) -> Result<Vec<DataFile>> {
    let mut out = Vec::new();
    for manifest in table.manifests(engine, manifest_list).await? {
        if manifest.content != content || manifest.added_snapshot_id != snapshot_id {
            continue;
        }
        for entry in crate::table::load_manifest(engine, &manifest)
            .await?
            .entries()
        {
            if entry.status() == ManifestStatus::Added {
                out.push(entry.data_file().clone());
            }
        }
    }
    Ok(out)
}

/// Paths of the live files of a snapshot that may hold rows matching `filter`.
async fn files_matching(
    engine: &Engine,
    table: &LoadedTable,
    snapshot_id: i64,
    filter: &Predicate,
) -> Result<HashSet<String>> {
    let scan = table
        .iceberg_table(engine.file_io())?
        .scan()
        .snapshot_id(snapshot_id)
        .with_filter(filter.clone())
        .build()?;
    let tasks: Vec<_> = scan.plan_files().await?.try_collect().await?;
    Ok(tasks.into_iter().map(|t| t.data_file_path).collect())
}

/// What one snapshot changed relative to its parent.
pub(super) struct SnapshotChanges {
    /// Data files it added, with their partition spec ids.
    pub added: Vec<(i32, DataFile)>,
    /// Data files it removed.
    pub removed: Vec<DataFile>,
    /// Delete files it added, with their partition spec ids.
    pub added_deletes: Vec<(i32, DataFile)>,
}

/// The files `snapshot` added and removed: the entries its own manifests
/// record as `ADDED` or `DELETED` by it.
pub(super) async fn snapshot_changes(
    engine: &Engine,
    table: &LoadedTable,
    snapshot: &iceberg::spec::Snapshot,
) -> Result<SnapshotChanges> {
    let id = snapshot.snapshot_id();
    let mut changes = SnapshotChanges {
        added: Vec::new(),
        removed: Vec::new(),
        added_deletes: Vec::new(),
    };
    for manifest in table.manifests(engine, snapshot.manifest_list()).await? {
        if manifest.added_snapshot_id != id {
            continue;
        }
        let spec_id = manifest.partition_spec_id;
        for entry in crate::table::load_manifest(engine, &manifest)
            .await?
            .entries()
        {
            if entry.snapshot_id() != Some(id) {
                continue;
            }
            let file = entry.data_file().clone();
            match (entry.status(), manifest.content) {
                (ManifestStatus::Added, ManifestContentType::Data) => {
                    changes.added.push((spec_id, file))
                }
                (ManifestStatus::Added, ManifestContentType::Deletes) => {
                    changes.added_deletes.push((spec_id, file))
                }
                (ManifestStatus::Deleted, ManifestContentType::Data) => changes.removed.push(file),
                _ => {}
            }
        }
    }
    Ok(changes)
}

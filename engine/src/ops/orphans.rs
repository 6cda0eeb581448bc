//! `CALL system.remove_orphan_files`: the files under a table's location
//! that nothing reaches. Before anything is deleted, one pass collects
//! every file that every table of the warehouse reaches: each metadata
//! file of its log, and each snapshot's manifest list, manifests and the
//! data and delete files of every entry, whatever ref (a branch of any
//! warehouse branch, a tag, a staged write-audit-publish snapshot) keeps
//! the snapshot. Tables that exist only on a warehouse branch are tables
//! of the catalog like any other. Only files older than the minimum age
//! (three days by default, as Iceberg's) go, so the files of a commit in
//! flight are safe.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use arrow::array::{RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use floe_catalog::TableIdent;
use futures::TryStreamExt;
use object_store::ObjectStoreExt;

use crate::error::{Result, invalid};
use crate::scope::Scope;
use crate::table::{LoadedTable, load_manifest};

/// Iceberg's minimum age of an orphan: three days.
pub const DEFAULT_MIN_AGE_MS: i64 = 3 * 86_400_000;

/// What `remove_orphan_files` was asked to do.
#[derive(Debug, Clone)]
pub struct OrphanRequest {
    /// The tables to clean (`None`: every table of the warehouse).
    pub tables: Option<Vec<TableIdent>>,
    /// Only files last modified before this (ms since the epoch).
    pub older_than: i64,
    /// List what would go; delete nothing.
    pub dry_run: bool,
}

/// The orphans found (and, unless a dry run, deleted): their locations.
pub async fn remove_orphan_files(scope: &Scope, request: &OrphanRequest) -> Result<Vec<String>> {
    let mut orphans: Vec<String> = find_orphans(scope, request)
        .await?
        .into_values()
        .flatten()
        .collect();
    orphans.sort();
    Ok(orphans)
}

/// The orphans found (and, unless a dry run, deleted) under each table
/// asked for, sorted. Every table of the warehouse is loaded and walked
/// once, whatever the tables asked for.
pub(crate) async fn find_orphans(
    scope: &Scope,
    request: &OrphanRequest,
) -> Result<HashMap<TableIdent, Vec<String>>> {
    let engine = scope.engine();
    let all = crate::ops::branches::table_idents(scope).await?;
    let asked: Option<HashSet<&TableIdent>> = request.tables.as_ref().map(|t| t.iter().collect());
    let known: HashSet<&TableIdent> = all.iter().collect();
    // The first table asked for that the catalog does not have.
    if let Some(missing) = request.tables.iter().flatten().find(|t| !known.contains(t)) {
        return Err(floe_catalog::CatalogError::TableNotFound(missing.clone()).into());
    }
    // Every table's reachable files, before anything is listed or deleted.
    let mut reachable = HashSet::new();
    let mut tables = Vec::with_capacity(all.len());
    for ident in &all {
        let table = engine.load_committed(ident).await?;
        collect_reachable(scope, &table, &mut reachable).await?;
        tables.push(table);
    }
    let root = normalize(engine.warehouse());
    let locations: BTreeSet<String> = tables
        .iter()
        .map(|t| normalize(t.metadata().location()))
        .collect();
    let mut found = HashMap::new();
    for table in &tables {
        if asked.as_ref().is_some_and(|a| !a.contains(table.ident())) {
            continue;
        }
        let location = normalize(table.metadata().location());
        // A table laid out over the warehouse root or another table would
        // have other tables' (or the catalog's) files under its location.
        let inside = format!("{location}/");
        let holds_root = root == location || root.starts_with(&inside);
        let holds_table = locations
            .range(inside.clone()..)
            .next()
            .is_some_and(|next| next.starts_with(&inside));
        if holds_root || holds_table {
            return Err(invalid!(
                "remove_orphan_files: table '{}' is located at {}, which holds the warehouse or \
                 another table: nothing is removed",
                table.ident(),
                table.metadata().location()
            ));
        }
        let base = table
            .metadata()
            .location()
            .trim_end_matches('/')
            .to_string();
        let (store, prefix) = engine.object_store(&base)?;
        let listed: Vec<object_store::ObjectMeta> = store.list(Some(&prefix)).try_collect().await?;
        let mut orphans = Vec::new();
        for object in listed {
            let relative = object
                .location
                .as_ref()
                .strip_prefix(prefix.as_ref())
                .unwrap_or(object.location.as_ref())
                .trim_start_matches('/');
            let path = format!("{base}/{relative}");
            if reachable.contains(&normalize(&path))
                || object.last_modified.timestamp_millis() >= request.older_than
            {
                continue;
            }
            if !request.dry_run {
                store.delete(&object.location).await?;
            }
            orphans.push(path);
        }
        orphans.sort();
        found.insert(table.ident().clone(), orphans);
    }
    Ok(found)
}

/// Every file `table` reaches, normalized (see [`normalize`]).
async fn collect_reachable(
    scope: &Scope,
    table: &LoadedTable,
    reachable: &mut HashSet<String>,
) -> Result<()> {
    let engine = scope.engine();
    let metadata = table.metadata();
    reachable.insert(normalize(table.metadata_location()));
    for entry in metadata.metadata_log() {
        reachable.insert(normalize(&entry.metadata_file));
    }
    for file in metadata.statistics_iter() {
        reachable.insert(normalize(&file.statistics_path));
    }
    for file in metadata.partition_statistics_iter() {
        reachable.insert(normalize(&file.statistics_path));
    }
    let mut manifests_seen = HashSet::new();
    for snapshot in metadata.snapshots() {
        reachable.insert(normalize(snapshot.manifest_list()));
        for manifest in table.manifests(engine, snapshot.manifest_list()).await? {
            if !manifests_seen.insert(manifest.manifest_path.clone()) {
                continue;
            }
            reachable.insert(normalize(&manifest.manifest_path));
            for entry in load_manifest(engine, &manifest).await?.entries() {
                reachable.insert(normalize(entry.file_path()));
            }
        }
    }
    Ok(())
}

/// A location in one spelling: `file:/p`, `file:///p` and `/p` are `/p`;
/// `s3a://` is `s3://`.
pub(crate) fn normalize(location: &str) -> String {
    let location = location.trim_end_matches('/');
    if let Some(rest) = location.strip_prefix("file:") {
        return format!("/{}", rest.trim_start_matches('/'));
    }
    if let Some(rest) = location.strip_prefix("s3a://") {
        return format!("s3://{rest}");
    }
    location.to_string()
}

/// Spark's result: one `orphan_file_location` per file.
pub fn orphans_batch(orphans: Vec<String>) -> Result<RecordBatch> {
    let schema = Schema::new(vec![Field::new(
        "orphan_file_location",
        DataType::Utf8,
        false,
    )]);
    Ok(RecordBatch::try_new(
        Arc::new(schema),
        vec![Arc::new(StringArray::from(orphans))],
    )?)
}

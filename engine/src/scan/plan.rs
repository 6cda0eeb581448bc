//! Planning which data files a scan reads, from the cached manifests.
//!
//! A snapshot without delete files, the common case, is planned here: its
//! tasks are the live entries of the cached manifests, pruned by the
//! filters on the files' column bounds ([`super::prune`]), with no task
//! spawned and no channel crossed. The `iceberg` crate's `TableScan`, which
//! spawns a task per manifest entry, plans the rest: snapshots with delete
//! files (matched to data files there), and filtered scans whose partition
//! values prune more than the bounds do (bucket partitions, or files
//! without bounds on a partition's source column).

use std::collections::HashSet;
use std::sync::{Arc, OnceLock};

use futures::TryStreamExt;
use iceberg::scan::FileScanTask;
use iceberg::spec::{
    DEFAULT_SCHEMA_NAME_MAPPING, DataContentType, DataFile, Manifest, ManifestContentType,
    ManifestEntry, ManifestFile, NameMapping, Schema, Transform,
};

use super::prune::ScanFilters;

use crate::engine::Engine;
use crate::error::{Result, invalid};
use crate::table::{LoadedTable, load_manifest};

/// How many manifests the `iceberg` planner reads at once: the core count,
/// asked of the OS once per process (it reads cgroup files each time).
fn concurrency() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// The data files of `table`'s snapshot that may hold rows matching
/// `filters`, each with the delete files that apply to it.
pub async fn plan_files(
    table: &LoadedTable,
    engine: &Engine,
    filters: &ScanFilters<'_>,
) -> Result<Vec<FileScanTask>> {
    let Some(snapshot) = table.snapshot() else {
        return Ok(Vec::new());
    };
    let schema = snapshot.schema(table.metadata())?;
    let manifests = table.snapshot_manifests(engine).await?;
    let data = if has_delete_files(&manifests) {
        None
    } else {
        let data: Vec<&ManifestFile> = manifests
            .iter()
            .filter(|m| m.content == ManifestContentType::Data)
            .collect();
        let keep = if filters.filters.is_empty() {
            vec![true; data.len()]
        } else {
            filters.keep_manifests(&data, table.metadata())
        };
        let mut loaded = Vec::with_capacity(data.len());
        for (manifest, keep) in data.into_iter().zip(keep) {
            if keep {
                loaded.push(load_manifest(engine, manifest).await?);
            }
        }
        Some(loaded)
    };
    let mut tasks = if let Some(data) = data
        .as_ref()
        .filter(|data| filters.filters.is_empty() || bounds_cover_partitions(data))
    {
        live_data_files(table, data, &schema, filters)?
    } else {
        let predicate = filters.iceberg_predicate();
        let iceberg = table.iceberg_table(engine.file_io())?;
        // No columns selected: the planner would check every column name
        // against its reserved names, building an error (with a backtrace
        // when RUST_BACKTRACE is set) for each. The columns each task
        // reads are set below.
        let builder = || {
            iceberg
                .scan()
                .snapshot_id(snapshot.snapshot_id())
                .select_empty()
                .with_concurrency_limit(concurrency())
        };
        let scan = match predicate {
            Some(predicate) => match builder().with_filter(predicate).build() {
                Ok(scan) => scan,
                // A filter the iceberg binder rejects (e.g. a literal of
                // another type) only costs pruning: plan without it.
                Err(_) => builder().build()?,
            },
            None => builder().build()?,
        };
        scan.plan_files().await?.try_collect().await?
    };
    // Files with delete files are read by the `iceberg` reader, which reads
    // the columns a task names: all of them (the scan projects afterwards).
    if tasks.iter().any(|t| !t.deletes.is_empty()) {
        let ids = top_level_ids(&schema);
        for task in tasks.iter_mut().filter(|t| !t.deletes.is_empty()) {
            task.project_field_ids.clone_from(&ids);
        }
    }
    Ok(tasks)
}

/// Whether any manifest of the snapshot may list a live delete file.
fn has_delete_files(manifests: &[ManifestFile]) -> bool {
    manifests.iter().any(|m| {
        m.content == ManifestContentType::Deletes && (m.has_added_files() || m.has_existing_files())
    })
}

fn top_level_ids(schema: &Schema) -> Vec<i32> {
    schema.as_struct().fields().iter().map(|f| f.id).collect()
}

/// Whether the files' bounds prune whatever their partition values would:
/// every partition field orders like its source column (no bucket), and
/// every file has bounds on that column (or holds only NULLs in it).
fn bounds_cover_partitions(manifests: &[Arc<Manifest>]) -> bool {
    manifests.iter().all(|manifest| {
        manifest
            .metadata()
            .partition_spec()
            .fields()
            .iter()
            .all(|field| match field.transform {
                Transform::Void => true,
                Transform::Bucket(_) | Transform::Unknown => false,
                _ => live_data(manifest).all(|entry| {
                    let file = entry.data_file();
                    let id = field.source_id;
                    (file.lower_bounds().contains_key(&id) && file.upper_bounds().contains_key(&id))
                        || file.null_value_counts().get(&id) == Some(&file.record_count())
                }),
            })
    })
}

/// The live data files of a manifest.
fn live_data(manifest: &Manifest) -> impl Iterator<Item = &ManifestEntry> {
    manifest
        .entries()
        .iter()
        .map(|entry| entry.as_ref())
        .filter(|entry| entry.is_alive() && entry.content_type() == DataContentType::Data)
}

/// A task for every live data file that `filters` keep, as the `iceberg`
/// planner builds them.
fn live_data_files(
    table: &LoadedTable,
    manifests: &[Arc<Manifest>],
    schema: &iceberg::spec::SchemaRef,
    filters: &ScanFilters<'_>,
) -> Result<Vec<FileScanTask>> {
    let name_mapping = match table
        .metadata()
        .properties()
        .get(DEFAULT_SCHEMA_NAME_MAPPING)
    {
        Some(raw) => Some(Arc::new(serde_json::from_str::<NameMapping>(raw).map_err(
            |e| {
                invalid!(
                    "table '{}': property {DEFAULT_SCHEMA_NAME_MAPPING} is not a name mapping: {e}",
                    table.ident()
                )
            },
        )?)),
        None => None,
    };
    let field_ids = top_level_ids(schema);
    let entries: Vec<&ManifestEntry> = manifests.iter().flat_map(|m| live_data(m)).collect();
    let keep = if filters.filters.is_empty() {
        vec![true; entries.len()]
    } else {
        let files: Vec<&DataFile> = entries.iter().map(|e| e.data_file()).collect();
        filters.keep(&files)
    };
    let mut tasks = Vec::new();
    for (entry, keep) in entries.into_iter().zip(keep) {
        if keep {
            tasks.push(
                FileScanTask::builder()
                    .with_file_size_in_bytes(entry.file_size_in_bytes())
                    .with_start(0)
                    .with_length(entry.file_size_in_bytes())
                    .with_record_count(Some(entry.record_count()))
                    .with_data_file_path(entry.file_path().to_string())
                    .with_data_file_format(entry.file_format())
                    .with_schema(Arc::clone(schema))
                    .with_project_field_ids(field_ids.clone())
                    .with_predicate(None)
                    .with_deletes(Vec::new())
                    .with_partition(Some(entry.data_file().partition().clone()))
                    .with_partition_spec(None)
                    .with_name_mapping(name_mapping.clone())
                    .with_case_sensitive(true)
                    .build(),
            );
        }
    }
    Ok(tasks)
}

/// The parsed manifests of `table`'s snapshot, to borrow the data files
/// of planned tasks from (see [`scanned_files`]).
pub async fn data_manifests(table: &LoadedTable, engine: &Engine) -> Result<Vec<Arc<Manifest>>> {
    let mut out = Vec::new();
    for manifest in table.snapshot_manifests(engine).await? {
        if manifest.content == ManifestContentType::Data {
            out.push(load_manifest(engine, &manifest).await?);
        }
    }
    Ok(out)
}

/// The live data files of `manifests` that `tasks` read, without copying
/// them.
pub fn scanned_files<'a>(
    manifests: &'a [Arc<Manifest>],
    tasks: &[FileScanTask],
) -> Vec<&'a DataFile> {
    let paths: HashSet<&str> = tasks.iter().map(|t| t.data_file_path.as_str()).collect();
    manifests
        .iter()
        .flat_map(|m| m.entries())
        .filter(|e| e.is_alive() && paths.contains(e.file_path()))
        .map(|e| e.data_file())
        .collect()
}

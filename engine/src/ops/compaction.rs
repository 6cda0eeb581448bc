//! `CALL system.rewrite_data_files`: compaction, as Spark's procedure does
//! it. The live data files of each partition (under the spec each was
//! written with) are grouped; a group worth rewriting (enough small or
//! large files, or files with many deletes) is read with its deletes
//! applied and written again as files of the target size, under the
//! table's current spec and write order (or the `sort` order asked for).
//! The position delete files of the rewritten files go with them. Each
//! commit is a `replace` snapshot through the commit layer, whose
//! validation refuses it when a concurrent commit removed a file it
//! rewrites or added deletes that could apply to one: a DELETE, UPDATE or
//! MERGE racing the compaction always keeps its rows deleted.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use arrow::array::{Int32Array, Int64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::Column;
use datafusion::logical_expr::Expr;
use datafusion::prelude::SessionContext;
use iceberg::scan::FileScanTask;
use iceberg::spec::{
    DataContentType, DataFile, NullOrder, SortDirection, SortField, SortOrder, TableMetadata,
    Transform,
};

use crate::commit::SnapshotUpdate;
use crate::error::{FloeError, Result, invalid, not_found};
use crate::scan::{IcebergTableProvider, pushed_filters};
use crate::scope::Scope;
use crate::table::{LiveFile, LoadedTable};
use crate::write::write_frame;

/// What `rewrite_data_files` was asked to do.
#[derive(Debug, Default)]
pub struct RewriteRequest {
    /// `binpack` (default) or `sort`.
    pub strategy: Option<String>,
    /// For `sort`: `col [ASC|DESC] [NULLS FIRST|LAST], …` (default: the
    /// table's sort order).
    pub sort_order: Option<String>,
    /// Only files that may hold rows matching this SQL condition.
    pub filter: Option<String>,
    /// Spark's options (`min-input-files`, `target-file-size-bytes`, …).
    pub options: HashMap<String, String>,
    /// Only say what would be rewritten: write and commit nothing.
    pub dry_run: bool,
}

/// The options, with Spark's defaults.
struct Options {
    target: u64,
    min_size: u64,
    max_size: u64,
    min_input_files: usize,
    delete_file_threshold: usize,
    delete_ratio_threshold: f64,
    rewrite_all: bool,
    partial_progress: bool,
    max_commits: usize,
}

const KNOWN_OPTIONS: &[&str] = &[
    "target-file-size-bytes",
    "min-file-size-bytes",
    "max-file-size-bytes",
    "min-input-files",
    "delete-file-threshold",
    "delete-ratio-threshold",
    "rewrite-all",
    "partial-progress.enabled",
    "partial-progress.max-commits",
];

impl Options {
    fn parse(table: &LoadedTable, options: &HashMap<String, String>) -> Result<Self> {
        if let Some(unknown) = options
            .keys()
            .find(|k| !KNOWN_OPTIONS.contains(&k.as_str()))
        {
            return Err(invalid!(
                "CALL system.rewrite_data_files: unknown option '{unknown}' (the options: {})",
                KNOWN_OPTIONS.join(", ")
            ));
        }
        let number = |key: &str| -> Result<Option<u64>> {
            options
                .get(key)
                .map(|v| {
                    v.trim().parse::<u64>().map_err(|_| {
                        invalid!(
                            "CALL system.rewrite_data_files: option '{key}' = '{v}' is not a \
                             whole number"
                        )
                    })
                })
                .transpose()
        };
        let ratio = |key: &str| -> Result<Option<f64>> {
            options
                .get(key)
                .map(|v| match v.trim().parse::<f64>() {
                    Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
                    _ => Err(invalid!(
                        "CALL system.rewrite_data_files: option '{key}' = '{v}' is not a ratio \
                         between 0 and 1"
                    )),
                })
                .transpose()
        };
        let flag = |key: &str| -> Result<bool> {
            match options.get(key).map(|v| v.trim().to_ascii_lowercase()) {
                None => Ok(false),
                Some(v) if v == "true" => Ok(true),
                Some(v) if v == "false" => Ok(false),
                Some(v) => Err(invalid!(
                    "CALL system.rewrite_data_files: option '{key}' = '{v}': expected true or \
                     false"
                )),
            }
        };
        let table_target = table
            .int_property("write.target-file-size-bytes")?
            .map_or(crate::write::DEFAULT_TARGET_FILE_SIZE as u64, |n| {
                n.max(1) as u64
            });
        let target = number("target-file-size-bytes")?.unwrap_or(table_target);
        let options = Self {
            target,
            min_size: number("min-file-size-bytes")?.unwrap_or(target / 4 * 3),
            max_size: number("max-file-size-bytes")?.unwrap_or(target / 10 * 18),
            min_input_files: number("min-input-files")?.unwrap_or(5) as usize,
            delete_file_threshold: number("delete-file-threshold")?
                .map_or(usize::MAX, |n| n as usize),
            delete_ratio_threshold: ratio("delete-ratio-threshold")?.unwrap_or(0.3),
            rewrite_all: flag("rewrite-all")?,
            partial_progress: flag("partial-progress.enabled")?,
            max_commits: number("partial-progress.max-commits")?.unwrap_or(10).max(1) as usize,
        };
        if options.min_input_files == 0 {
            return Err(invalid!(
                "CALL system.rewrite_data_files: min-input-files must be at least 1"
            ));
        }
        Ok(options)
    }

    /// Whether a file is worth rewriting on its own: its size, its
    /// delete files, or the share of its rows they delete.
    fn is_candidate(&self, size: u64, deletes: usize, deleted_ratio: f64) -> bool {
        self.rewrite_all
            || size < self.min_size
            || size > self.max_size
            || self.too_many_deletes(deletes, deleted_ratio)
    }

    fn too_many_deletes(&self, deletes: usize, deleted_ratio: f64) -> bool {
        deletes >= self.delete_file_threshold
            || (deletes > 0 && deleted_ratio >= self.delete_ratio_threshold)
    }

    /// Whether a group of candidates is worth a rewrite, as Java's
    /// bin-packing rewriter decides it.
    fn worth_rewriting(&self, group: &[Candidate]) -> bool {
        let size: u64 = group.iter().map(|c| c.size).sum();
        self.rewrite_all
            || (group.len() > 1 && (group.len() >= self.min_input_files || size > self.target))
            || size > self.max_size
            || group
                .iter()
                .any(|c| self.too_many_deletes(c.deletes, c.deleted_ratio))
    }
}

/// The share of the rows of `task`'s data file that its position delete
/// files delete, as Iceberg's planner counts it: the rows of the delete
/// files scoped to this one data file (others may name several files),
/// at most the file's rows.
fn deleted_ratio(task: &FileScanTask, file: &LiveFile, live: &HashMap<String, LiveFile>) -> f64 {
    let records = file.file.record_count();
    if records == 0 {
        return 0.0;
    }
    let deleted: u64 = task
        .deletes
        .iter()
        .filter(|d| d.file_type == DataContentType::PositionDeletes)
        .filter_map(|d| live.get(&d.file_path))
        .filter(|d| d.file.referenced_data_file().as_deref() == Some(task.data_file_path.as_str()))
        .map(|d| d.file.record_count())
        .sum();
    deleted.min(records) as f64 / records as f64
}

/// A data file the compaction may rewrite.
struct Candidate {
    task: FileScanTask,
    size: u64,
    deletes: usize,
    /// The share of its rows its file-scoped position deletes delete.
    deleted_ratio: f64,
}

/// `CALL system.rewrite_data_files(...)` on `table` (at the branch it is
/// loaded at). Returns what it rewrote ([`Rewritten::batch`]: Spark's
/// result row).
pub async fn rewrite_data_files(
    ctx: &SessionContext,
    scope: &Scope,
    table: LoadedTable,
    request: &RewriteRequest,
) -> Result<Rewritten> {
    let name = table.ident().to_string();
    let options = Options::parse(&table, &request.options)?;
    let strategy = request
        .strategy
        .as_deref()
        .unwrap_or("binpack")
        .to_ascii_lowercase();
    let write_metadata = match strategy.as_str() {
        "binpack" if request.sort_order.is_some() => {
            return Err(invalid!(
                "CALL system.rewrite_data_files on '{name}': sort_order needs strategy => 'sort'"
            ));
        }
        "binpack" => writing_metadata(table.metadata(), options.target, None)?,
        "sort" => {
            let order = match &request.sort_order {
                Some(text) => parse_sort_order(&table, text)?,
                None if table.metadata().default_sort_order().is_unsorted() => {
                    return Err(invalid!(
                        "CALL system.rewrite_data_files on '{name}': strategy 'sort' needs a \
                         sort_order, since the table has no sort order of its own"
                    ));
                }
                None => table.metadata().default_sort_order().as_ref().clone(),
            };
            writing_metadata(table.metadata(), options.target, Some(order))?
        }
        other => {
            return Err(invalid!(
                "CALL system.rewrite_data_files on '{name}': strategy '{other}': expected \
                 'binpack' or 'sort'"
            ));
        }
    };

    let provider = IcebergTableProvider::try_new(scope.clone(), table.clone())?;
    let frame = ctx.read_table(Arc::new(provider.clone()))?;
    let filters = match &request.filter {
        Some(sql) => {
            let predicate = frame.parse_sql_expr(sql)?;
            pushed_filters(frame.clone().filter(predicate)?)?
        }
        None => Vec::new(),
    };
    let tasks = provider.plan_files(&filters).await?;
    let live = table.live_files_by_path(scope.engine()).await?;

    // Candidates by partition, under the spec each file was written with.
    let mut partitions: BTreeMap<(i32, String), Vec<Candidate>> = BTreeMap::new();
    for task in tasks {
        let file = live.get(&task.data_file_path).ok_or_else(|| {
            FloeError::Internal(format!("{} is not a live file", task.data_file_path))
        })?;
        let (size, deletes) = (file.file.file_size_in_bytes(), task.deletes.len());
        let deleted_ratio = deleted_ratio(&task, file, &live);
        if !options.is_candidate(size, deletes, deleted_ratio) {
            continue;
        }
        let key = (file.spec_id, format!("{:?}", file.file.partition()));
        partitions.entry(key).or_default().push(Candidate {
            task,
            size,
            deletes,
            deleted_ratio,
        });
    }
    let groups: Vec<Vec<Candidate>> = partitions
        .into_values()
        .filter(|group| options.worth_rewriting(group))
        .collect();

    let columns: Vec<Expr> = table
        .schema()
        .as_struct()
        .fields()
        .iter()
        .map(|f| Expr::Column(Column::new_unqualified(&f.name)))
        .collect();
    let mut totals = Rewritten::default();
    if request.dry_run {
        for group in &groups {
            totals.rewritten += group.len();
            totals.bytes += group.iter().map(|c| c.size).sum::<u64>();
        }
        return Ok(totals);
    }
    let mut pending = Pending::default();
    // With partial progress, the groups go in at most max-commits commits.
    let per_commit = groups.len().div_ceil(options.max_commits).max(1);
    let mut pending_groups = 0;
    for group in groups {
        let tasks: Vec<FileScanTask> = group.iter().map(|c| c.task.clone()).collect();
        let rows = ctx
            .read_table(Arc::new(provider.clone().with_tasks(tasks)))?
            .select(columns.clone())?;
        let (added, _) = write_frame(scope, &name, &write_metadata, rows).await?;
        pending.add(&group, added, &live)?;
        pending_groups += 1;
        if options.partial_progress && pending_groups >= per_commit {
            pending_groups = 0;
            totals.add(&pending.commit(scope, &table).await?);
        }
    }
    totals.add(&pending.commit(scope, &table).await?);
    Ok(totals)
}

/// What one commit rewrites.
#[derive(Default)]
struct Pending {
    added: Vec<DataFile>,
    removed: Vec<DataFile>,
    removed_deletes: Vec<DataFile>,
    bytes: u64,
}

impl Pending {
    fn add(
        &mut self,
        group: &[Candidate],
        added: Vec<DataFile>,
        live: &HashMap<String, LiveFile>,
    ) -> Result<()> {
        let paths: HashSet<&str> = group
            .iter()
            .map(|c| c.task.data_file_path.as_str())
            .collect();
        for candidate in group {
            let file = live.get(&candidate.task.data_file_path).ok_or_else(|| {
                FloeError::Internal(format!(
                    "{} is not a live file",
                    candidate.task.data_file_path
                ))
            })?;
            self.removed.push(file.file.clone());
            self.bytes += candidate.size;
        }
        // Position deletes of rewritten files only go with them; deletes
        // that may apply to other files stay (the new files' sequence
        // number is past them, so they no longer apply to these rows).
        for delete in group.iter().flat_map(|c| &c.task.deletes) {
            if delete.file_type != DataContentType::PositionDeletes {
                continue;
            }
            let Some(file) = live.get(&delete.file_path) else {
                continue;
            };
            let only_these = file
                .file
                .referenced_data_file()
                .is_some_and(|p| paths.contains(p.as_str()));
            let already = self
                .removed_deletes
                .iter()
                .any(|d| d.file_path() == delete.file_path);
            if only_these && !already {
                self.removed_deletes.push(file.file.clone());
            }
        }
        self.added.extend(added);
        Ok(())
    }

    /// Commit what is pending (nothing when nothing is); returns its counts.
    async fn commit(&mut self, scope: &Scope, table: &LoadedTable) -> Result<Rewritten> {
        let this = std::mem::take(self);
        if this.removed.is_empty() {
            return Ok(Rewritten::default());
        }
        let totals = Rewritten {
            rewritten: this.removed.len(),
            added: this.added.len(),
            bytes: this.bytes,
            removed_deletes: this.removed_deletes.len(),
        };
        let written: Vec<String> = this
            .added
            .iter()
            .map(|f| f.file_path().to_string())
            .collect();
        let committed = SnapshotUpdate::replace(this.added, this.removed, this.removed_deletes)
            .commit(&scope.target()?, table.clone())
            .await;
        if let Err(e) = committed {
            // The new files are nobody's: they go (best effort; one left
            // behind is an orphan that remove_orphan_files finds).
            for path in &written {
                scope.engine().file_io().delete(path).await.ok();
            }
            return Err(e);
        }
        Ok(totals)
    }
}

/// What a compaction rewrote (or, in a dry run, would).
#[derive(Debug, Clone, Copy, Default)]
pub struct Rewritten {
    /// Data files rewritten.
    pub rewritten: usize,
    /// Data files written.
    pub added: usize,
    /// The rewritten files' bytes.
    pub bytes: u64,
    /// Delete files that went with them.
    pub removed_deletes: usize,
}

impl Rewritten {
    fn add(&mut self, other: &Rewritten) {
        self.rewritten += other.rewritten;
        self.added += other.added;
        self.bytes += other.bytes;
        self.removed_deletes += other.removed_deletes;
    }

    /// Spark's result row: `rewritten_data_files_count`,
    /// `added_data_files_count`, `rewritten_bytes_count`,
    /// `failed_data_files_count`, `removed_delete_files_count`.
    pub fn batch(&self) -> Result<RecordBatch> {
        let int = |n: usize| Arc::new(Int32Array::from(vec![n as i32])) as arrow::array::ArrayRef;
        let schema = Schema::new(vec![
            Field::new("rewritten_data_files_count", DataType::Int32, false),
            Field::new("added_data_files_count", DataType::Int32, false),
            Field::new("rewritten_bytes_count", DataType::Int64, false),
            Field::new("failed_data_files_count", DataType::Int32, false),
            Field::new("removed_delete_files_count", DataType::Int32, false),
        ]);
        Ok(RecordBatch::try_new(
            Arc::new(schema),
            vec![
                int(self.rewritten),
                int(self.added),
                Arc::new(Int64Array::from(vec![self.bytes as i64])),
                int(0),
                int(self.removed_deletes),
            ],
        )?)
    }
}

/// The table's metadata as the rewrite writes with it: its target file
/// size, and the sort order asked for.
fn writing_metadata(
    metadata: &TableMetadata,
    target: u64,
    order: Option<SortOrder>,
) -> Result<TableMetadata> {
    let mut builder = TableMetadata::clone(metadata)
        .into_builder(None)
        .set_properties(HashMap::from([(
            "write.target-file-size-bytes".to_string(),
            target.to_string(),
        )]))?;
    if let Some(order) = order {
        builder = builder.add_sort_order(order)?.set_default_sort_order(-1)?;
    }
    Ok(builder.build()?.metadata)
}

/// `col [ASC|DESC] [NULLS FIRST|LAST], …` as a sort order of `table`.
fn parse_sort_order(table: &LoadedTable, text: &str) -> Result<SortOrder> {
    let schema = table.schema();
    let mut builder = SortOrder::builder();
    for term in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let words: Vec<String> = term
            .split_whitespace()
            .map(str::to_ascii_uppercase)
            .collect();
        let column = term.split_whitespace().next().unwrap_or_default();
        let field = schema.field_by_name(column).ok_or_else(|| {
            not_found!(
                "CALL system.rewrite_data_files: sort_order names '{column}', which table '{}' \
                 does not have",
                table.ident()
            )
        })?;
        let direction = if words.iter().any(|w| w == "DESC") {
            SortDirection::Descending
        } else {
            SortDirection::Ascending
        };
        let nulls_last = words.windows(2).any(|w| w[0] == "NULLS" && w[1] == "LAST");
        let nulls_first = words.windows(2).any(|w| w[0] == "NULLS" && w[1] == "FIRST");
        let null_order = match (nulls_first, nulls_last, direction) {
            (true, _, _) => NullOrder::First,
            (_, true, _) => NullOrder::Last,
            (_, _, SortDirection::Ascending) => NullOrder::First,
            (_, _, SortDirection::Descending) => NullOrder::Last,
        };
        builder.with_sort_field(
            SortField::builder()
                .source_id(field.id)
                .transform(Transform::Identity)
                .direction(direction)
                .null_order(null_order)
                .build(),
        );
    }
    builder
        .build(&schema)
        .map_err(|e| invalid!("CALL system.rewrite_data_files: sort_order '{text}': {e}"))
}

/// What `rewrite_position_delete_files` did.
#[derive(Debug, Clone, Copy, Default)]
pub struct DeleteRewrite {
    /// Position delete files replaced (merged, or dangling).
    pub rewritten: usize,
    /// Position delete files written instead.
    pub added: usize,
    /// Bytes of the replaced files.
    pub rewritten_bytes: u64,
    /// Bytes of the new files.
    pub added_bytes: u64,
}

impl DeleteRewrite {
    /// Spark's result row: `rewritten_delete_files_count`,
    /// `added_delete_files_count`, `rewritten_bytes_count`,
    /// `added_bytes_count`.
    pub fn batch(&self) -> Result<RecordBatch> {
        let schema = Schema::new(vec![
            Field::new("rewritten_delete_files_count", DataType::Int32, false),
            Field::new("added_delete_files_count", DataType::Int32, false),
            Field::new("rewritten_bytes_count", DataType::Int64, false),
            Field::new("added_bytes_count", DataType::Int64, false),
        ]);
        Ok(RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(Int32Array::from(vec![self.rewritten as i32])),
                Arc::new(Int32Array::from(vec![self.added as i32])),
                Arc::new(Int64Array::from(vec![self.rewritten_bytes as i64])),
                Arc::new(Int64Array::from(vec![self.added_bytes as i64])),
            ],
        )?)
    }
}

/// `CALL system.rewrite_position_delete_files(table)`: the position delete
/// files of each data file that has several are merged into one, and
/// those whose data file is gone (dangling) are dropped, in one `replace`
/// snapshot. The rows deleted stay exactly those; a data file removed by
/// a concurrent commit makes the rewrite fail cleanly.
pub async fn rewrite_position_delete_files(
    scope: &Scope,
    table: LoadedTable,
) -> Result<DeleteRewrite> {
    let engine = scope.engine();
    let live = table.live_files(engine).await?;
    let data: HashMap<&str, &LiveFile> = live
        .iter()
        .filter(|f| f.file.content_type() == DataContentType::Data)
        .map(|f| (f.file.file_path(), f))
        .collect();
    // Position delete files by the one data file they reference.
    let mut by_data: BTreeMap<String, Vec<&LiveFile>> = BTreeMap::new();
    let mut dangling = Vec::new();
    for file in live
        .iter()
        .filter(|f| f.file.content_type() == DataContentType::PositionDeletes)
    {
        match file.file.referenced_data_file() {
            Some(path) if data.contains_key(path.as_str()) => {
                by_data.entry(path).or_default().push(file)
            }
            Some(_) => dangling.push(file.file.clone()),
            // Deletes of several files are left as they are.
            None => {}
        }
    }
    let mut done = DeleteRewrite::default();
    let mut removed = Vec::new();
    let mut added = Vec::new();
    for file in &dangling {
        done.rewritten += 1;
        done.rewritten_bytes += file.file_size_in_bytes();
    }
    removed.extend(dangling);
    for (data_path, deletes) in by_data.into_iter().filter(|(_, d)| d.len() > 1) {
        let mut positions = Vec::new();
        for delete in &deletes {
            positions.extend(read_positions(engine, delete.file.file_path(), &data_path).await?);
            done.rewritten += 1;
            done.rewritten_bytes += delete.file.file_size_in_bytes();
            removed.push(delete.file.clone());
        }
        positions.sort_unstable();
        positions.dedup();
        let target = data[data_path.as_str()];
        let merged = crate::write::position_deletes::write_position_deletes(
            scope,
            &table,
            &target.file,
            target.spec_id,
            &positions,
        )
        .await?;
        done.added += 1;
        done.added_bytes += merged.file_size_in_bytes();
        added.push((target.spec_id, merged));
    }
    if removed.is_empty() {
        return Ok(done);
    }
    SnapshotUpdate::replace(Vec::new(), Vec::new(), removed)
        .with_delete_files(added)
        .commit(&scope.target()?, table)
        .await?;
    Ok(done)
}

/// The positions a position delete file deletes from `data_path`.
async fn read_positions(
    engine: &crate::engine::Engine,
    delete_path: &str,
    data_path: &str,
) -> Result<Vec<i64>> {
    use arrow::array::{Array, StringArray};
    let bytes = engine.file_io().new_input(delete_path)?.read().await?;
    let reader =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)?.build()?;
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch?;
        let (Some(paths), Some(positions)) = (
            batch.column_by_name("file_path"),
            batch.column_by_name("pos"),
        ) else {
            return Err(invalid!(
                "position delete file {delete_path} has no file_path and pos columns"
            ));
        };
        let paths = arrow::compute::cast(paths, &DataType::Utf8)?;
        let paths = paths
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(|| {
                FloeError::Internal(format!("{delete_path}: file_path is not a string"))
            })?;
        let positions = positions
            .as_any()
            .downcast_ref::<Int64Array>()
            .ok_or_else(|| FloeError::Internal(format!("{delete_path}: pos is not a long")))?;
        for i in 0..batch.num_rows() {
            if !paths.is_null(i) && paths.value(i) == data_path {
                out.push(positions.value(i));
            }
        }
    }
    Ok(out)
}

//! Floe's `TableProvider` for Iceberg tables and its parallel scan.
//!
//! A scan plans files from the cached manifests, pruning them by the
//! pushed filters on the files' column bounds (or, where partition values
//! prune more or delete files must be matched, with the `iceberg` crate's
//! planner; see [`plan`]), spreads them over every core as DataFusion
//! parquet file groups, and maps each file's columns to the table's by
//! field id.

mod delete_exec;
mod exec;
pub(crate) mod field_ids;
pub(crate) mod filter;
mod plan;
pub(crate) mod positions;
mod prune;
mod stats;

use std::any::Any;
use std::sync::Arc;

use arrow::datatypes::{Field, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::stats::Precision;
use datafusion::common::{ScalarValue, Statistics};
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::parquet::CachedParquetFileReaderFactory;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::datasource::table_schema::TableSchema;
use datafusion::error::{DataFusionError, Result as DFResult};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::union::UnionExec;
use datafusion::physical_plan::{ExecutionPlan, project_schema};
use iceberg::scan::FileScanTask;

use crate::error::{FloeError, Result, invalid};
use crate::scope::Scope;
use crate::storage::split_location;
use crate::table::{LoadedTable, TableVersion};
use crate::write::{IcebergSink, IcebergWriteExec, InsertMode};
pub use exec::IcebergScanExec;
pub use field_ids::FieldIdAdapterFactory;
pub use filter::{datum, to_predicate};

/// The arrow schema of an Iceberg schema: the `iceberg` crate's mapping,
/// with field ids in each field's metadata. Data files are written with it.
pub fn arrow_schema(schema: &iceberg::spec::Schema) -> Result<SchemaRef> {
    Ok(Arc::new(iceberg::arrow::schema_to_arrow_schema(schema)?))
}

/// The schema DataFusion plans with: [`arrow_schema`] with top-level
/// strings and binaries as views. Required columns are non-nullable, as
/// parquet footers declare them: the optimizer relies on it (`NOT IN` over
/// a nullable column needs a null-aware anti join, built on its left side
/// whatever the sizes). Writes check `NOT NULL` themselves, naming the
/// column. Views are what DataFusion's parquet reader produces and its
/// operators are fastest on; declaring plain strings would cost a copy of
/// every string read.
pub fn session_schema(schema: &iceberg::spec::Schema) -> Result<SchemaRef> {
    Ok(with_string_views(&arrow_schema(schema)?))
}

/// `schema` with its top-level strings and binaries as views (nested ones
/// stay as they are).
pub(crate) fn with_string_views(schema: &SchemaRef) -> SchemaRef {
    use arrow::datatypes::DataType;
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| {
            let field = f.as_ref().clone();
            match field.data_type() {
                DataType::Utf8 | DataType::LargeUtf8 => field.with_data_type(DataType::Utf8View),
                DataType::Binary | DataType::LargeBinary => {
                    field.with_data_type(DataType::BinaryView)
                }
                _ => field,
            }
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// The name of the hidden column that row-level writes scan with: the data
/// file each row comes from.
pub const FILE_COLUMN: &str = "_file";

/// An Iceberg table at the version a statement loaded.
#[derive(Debug, Clone)]
pub struct IcebergTableProvider {
    scope: Scope,
    table: LoadedTable,
    /// The table's columns (what parquet files are read as).
    file_schema: SchemaRef,
    /// What the provider returns: the table's columns, plus `_file` when asked.
    schema: SchemaRef,
    /// Scan exactly these files instead of planning from the manifests.
    tasks: Option<Arc<Vec<FileScanTask>>>,
}

impl IcebergTableProvider {
    /// A provider for `table`.
    pub fn try_new(scope: Scope, table: LoadedTable) -> Result<Self> {
        let schema = session_schema(&table.schema())?;
        Ok(Self {
            scope,
            table,
            file_schema: Arc::clone(&schema),
            schema,
            tasks: None,
        })
    }

    /// Read with the table's current schema whatever the version (columns
    /// the version's files lack read as NULL): versions compared row by row
    /// need one schema.
    pub fn with_current_schema(mut self) -> Result<Self> {
        let schema = session_schema(self.table.metadata().current_schema())?;
        self.file_schema = Arc::clone(&schema);
        self.schema = schema;
        Ok(self)
    }

    /// Also return the [`FILE_COLUMN`] column: the path of each row's data file.
    pub fn with_file_column(mut self) -> Self {
        let mut fields: Vec<Field> = self
            .file_schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        fields.push(Field::new(
            FILE_COLUMN,
            arrow::datatypes::DataType::Utf8,
            false,
        ));
        self.schema = Arc::new(Schema::new_with_metadata(
            fields,
            self.file_schema.metadata().clone(),
        ));
        self
    }

    /// Scan exactly these files (planned earlier from this table version).
    pub fn with_tasks(mut self, tasks: Vec<FileScanTask>) -> Self {
        self.tasks = Some(Arc::new(tasks));
        self
    }

    /// The columns filters may prune files by, for [`to_predicate`] and
    /// the scan's own pruning: all
    /// but those whose type was promoted (see
    /// [`LoadedTable::promoted_columns`]).
    pub fn pruning_schema(&self) -> SchemaRef {
        let promoted = self.table.promoted_columns();
        if promoted.is_empty() {
            return Arc::clone(&self.schema);
        }
        let fields: Vec<Field> = self
            .schema
            .fields()
            .iter()
            .filter(|f| !promoted.contains(f.name()))
            .map(|f| f.as_ref().clone())
            .collect();
        Arc::new(Schema::new(fields))
    }

    /// Whether the scan returns the [`FILE_COLUMN`] column.
    fn has_file_column(&self) -> bool {
        self.schema.fields().len() > self.file_schema.fields().len()
    }

    /// The loaded table.
    pub fn table(&self) -> &LoadedTable {
        &self.table
    }

    /// Plan the data files to read: every live file of the current snapshot
    /// whose partition and column bounds may match `filters`.
    pub async fn plan_files(&self, filters: &[Expr]) -> Result<Vec<FileScanTask>> {
        if let Some(tasks) = &self.tasks {
            return Ok(tasks.as_ref().clone());
        }
        let trusted = self.pruning_schema();
        let filters = prune::ScanFilters {
            filters,
            schema: &self.schema,
            trusted: &trusted,
        };
        plan::plan_files(&self.table, self.scope.engine(), &filters).await
    }

    fn total_data_files(&self) -> Option<u64> {
        self.table
            .snapshot()?
            .summary()
            .additional_properties
            .get("total-data-files")?
            .parse()
            .ok()
    }
}

/// Spread files over `partitions` groups of about equal bytes.
fn file_groups(mut files: Vec<PartitionedFile>, partitions: usize) -> Vec<FileGroup> {
    files.sort_by_key(|f| std::cmp::Reverse(f.object_meta.size));
    let mut bins: Vec<(u64, Vec<PartitionedFile>)> = (0..partitions.max(1).min(files.len()))
        .map(|_| (0, Vec::new()))
        .collect();
    for file in files {
        if let Some(bin) = bins.iter_mut().min_by_key(|b| b.0) {
            bin.0 += file.object_meta.size;
            bin.1.push(file);
        }
    }
    bins.into_iter()
        .map(|(_, files)| FileGroup::new(files))
        .collect()
}

#[async_trait]
impl TableProvider for IcebergTableProvider {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DFResult<Vec<TableProviderFilterPushDown>> {
        // Files are pruned, rows are not: DataFusion still filters them.
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        let tasks = self.plan_files(filters).await?;
        let version = match self.table.version() {
            v if *v == TableVersion::default() => String::new(),
            v => format!(", {v}"),
        };
        let info = format!(
            "table={}{version}, snapshot={}, files={}/{}",
            self.table.ident(),
            self.table
                .snapshot_id()
                .map_or_else(|| "none".to_string(), |id| id.to_string()),
            tasks.len(),
            self.total_data_files()
                .map_or_else(|| "?".to_string(), |n| n.to_string()),
        );
        if tasks.is_empty() {
            let schema = project_schema(&self.schema, projection)?;
            return Ok(Arc::new(IcebergScanExec::new(
                Arc::new(EmptyExec::new(schema)),
                info,
            )));
        }
        // Files with equality deletes go through the iceberg reader, which
        // applies them; the others through DataFusion's parquet scan, with
        // their position deletes as row selections.
        let (with_deletes, tasks): (Vec<FileScanTask>, Vec<FileScanTask>) = tasks
            .into_iter()
            .partition(|t| !t.deletes.is_empty() && !positions::has_position_deletes_only(t));
        let deletes_plan = if with_deletes.is_empty() {
            None
        } else {
            let projected = project_schema(&self.schema, projection)?;
            Some(Arc::new(delete_exec::DeleteApplyingExec::new(
                self.scope.engine().file_io().clone(),
                with_deletes,
                projected,
                state.config().target_partitions(),
                state.config().batch_size(),
            )) as Arc<dyn ExecutionPlan>)
        };
        if tasks.is_empty()
            && let Some(plan) = deletes_plan
        {
            return Ok(Arc::new(IcebergScanExec::new(plan, info)));
        }

        let mut store_url = None;
        let mut files = Vec::with_capacity(tasks.len());
        let mut rows = 0usize;
        for task in &tasks {
            let (url, path) = split_location(&task.data_file_path)?;
            match &store_url {
                None => store_url = Some(url),
                Some(existing) if *existing != url => {
                    return Err(FloeError::Unsupported(format!(
                        "table '{}' has data files in two stores ({existing} and {url})",
                        self.table.ident()
                    ))
                    .into());
                }
                Some(_) => {}
            }
            rows += task.record_count.unwrap_or(0) as usize;
            let mut file = PartitionedFile::new(String::new(), task.file_size_in_bytes);
            file.object_meta.location = path;
            if self.has_file_column() {
                file.partition_values = vec![ScalarValue::Utf8(Some(task.data_file_path.clone()))];
            }
            files.push(file);
        }
        let store_url = store_url.ok_or_else(|| DataFusionError::Internal("no store".into()))?;
        let object_store_url = ObjectStoreUrl::parse(store_url.as_str())?;
        let store = state.runtime_env().object_store(&object_store_url)?;
        let metadata_cache = state.runtime_env().cache_manager.get_file_metadata_cache();

        // Position deletes: each such file is read with a selection that
        // skips its deleted rows.
        let deleting: Vec<usize> = (0..tasks.len())
            .filter(|&i| !tasks[i].deletes.is_empty())
            .collect();
        if !deleting.is_empty() {
            let deleting_tasks: Vec<&FileScanTask> = deleting.iter().map(|&i| &tasks[i]).collect();
            let deleted =
                positions::deleted_positions(self.scope.engine(), &deleting_tasks).await?;
            let metas = deleting
                .iter()
                .map(|&i| files[i].object_meta.clone())
                .collect();
            let footers = positions::footers(&store, &metadata_cache, metas).await?;
            for ((&i, deleted), footer) in deleting.iter().zip(&deleted).zip(&footers) {
                let (plan, removed) = positions::access_plan(footer, deleted);
                rows = rows.saturating_sub(removed);
                files[i].extensions = Some(Arc::new(plan));
            }
        }

        let partition_columns = if self.has_file_column() {
            vec![Arc::new(Field::new(
                FILE_COLUMN,
                arrow::datatypes::DataType::Utf8,
                false,
            ))]
        } else {
            Vec::new()
        };
        let table_schema = TableSchema::new(Arc::clone(&self.file_schema), partition_columns);
        // Footers (and page indexes) are cached per session, as DataFusion
        // does for its own parquet tables: data files never change.
        let reader_factory = CachedParquetFileReaderFactory::new(store, metadata_cache);
        // The filters reach the parquet scan (row group and page pruning)
        // through DataFusion's physical filter pushdown, as for its own
        // parquet tables: setting them here too would prune twice.
        let source = ParquetSource::new(table_schema)
            .with_table_parquet_options(state.default_table_options().parquet)
            .with_parquet_file_reader_factory(Arc::new(reader_factory));
        // Column bounds from the manifests, for the optimizer (join order,
        // selectivity), as DataFusion reads them from parquet footers.
        let manifests = plan::data_manifests(&self.table, self.scope.engine()).await?;
        let scanned = plan::scanned_files(&manifests, &tasks);
        let fields: Vec<Field> = self
            .schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        let mut statistics = Statistics::new_unknown(&self.schema).with_num_rows(
            if tasks.iter().all(|t| t.record_count.is_some()) {
                Precision::Exact(rows)
            } else {
                Precision::Absent
            },
        );
        // The scan's size is the sum of its columns' (see
        // `column_statistics`): unknown when a projected column has no
        // fixed width, as in DataFusion's own parquet scans.
        if scanned.len() == tasks.len() {
            statistics.column_statistics = stats::column_statistics(&fields, &scanned, rows);
        }
        let config = FileScanConfigBuilder::new(object_store_url, Arc::new(source))
            .with_file_groups(file_groups(files, state.config().target_partitions()))
            .with_projection_indices(projection.cloned())?
            .with_limit(limit)
            .with_statistics(statistics)
            .with_expr_adapter(Some(Arc::new(
                field_ids::FieldIdAdapterFactory::for_properties(
                    self.table.metadata().properties(),
                ),
            )))
            .build();
        let parquet: Arc<dyn ExecutionPlan> = DataSourceExec::from_data_source(config);
        let plan = match deletes_plan {
            None => parquet,
            Some(deletes) => UnionExec::try_new(vec![parquet, deletes])?,
        };
        Ok(Arc::new(IcebergScanExec::new(plan, info)))
    }

    async fn insert_into(
        &self,
        _state: &dyn Session,
        input: Arc<dyn ExecutionPlan>,
        insert_op: InsertOp,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        if self.has_file_column() || self.tasks.is_some() {
            return Err(FloeError::Internal("insert into a restricted scan".into()).into());
        }
        let mode = match insert_op {
            InsertOp::Append => InsertMode::Append,
            InsertOp::Overwrite => match self
                .table
                .metadata()
                .properties()
                .get("write.overwrite.mode")
            {
                Some(mode) if mode.eq_ignore_ascii_case("dynamic") => {
                    InsertMode::OverwritePartitions
                }
                Some(mode) if !mode.eq_ignore_ascii_case("static") => {
                    return Err(invalid!(
                        "table '{}': write.overwrite.mode = '{mode}' is not 'static' or 'dynamic'",
                        self.table.ident()
                    )
                    .into());
                }
                _ => InsertMode::OverwriteTable,
            },
            InsertOp::Replace => {
                return Err(FloeError::Unsupported(format!(
                    "REPLACE INTO Iceberg table '{}': use MERGE INTO or INSERT OVERWRITE",
                    self.table.ident()
                ))
                .into());
            }
        };
        let sink = IcebergSink::new(self.scope.clone(), self.table.clone(), mode);
        // A table with a write order gets its rows sorted (each file is
        // then sorted too).
        let order = crate::write::write_order(self.table.metadata());
        let schema = input.schema();
        let mut keys = Vec::with_capacity(order.len());
        for key in &order {
            let column = datafusion::physical_expr::expressions::col(&key.column, &schema)?;
            keys.push(datafusion::physical_expr::PhysicalSortExpr::new(
                column,
                arrow::compute::SortOptions {
                    descending: key.descending,
                    nulls_first: key.nulls_first,
                },
            ));
        }
        let ordering = datafusion::physical_expr::LexOrdering::new(keys);
        let input = match &ordering {
            Some(ordering) => Arc::new(datafusion::physical_plan::sorts::sort::SortExec::new(
                ordering.clone(),
                input,
            )) as Arc<dyn ExecutionPlan>,
            None => input,
        };
        Ok(Arc::new(IcebergWriteExec::new(input, sink, ordering)))
    }
}

/// The filters DataFusion's optimizer pushes into the scan of `frame`:
/// coerced to the columns' types, so they prune files as a query's do.
pub(crate) fn pushed_filters(frame: datafusion::prelude::DataFrame) -> Result<Vec<Expr>> {
    use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
    let plan = frame.into_optimized_plan()?;
    let mut filters = Vec::new();
    plan.apply(|node| {
        if let datafusion::logical_expr::LogicalPlan::TableScan(scan) = node {
            filters.extend(scan.filters.iter().cloned());
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    Ok(filters)
}

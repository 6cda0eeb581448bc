//! Reading data files that have delete files (position or equality deletes,
//! written by Floe or another engine): through the `iceberg` crate's reader,
//! which applies them, one partition per group of files.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, RecordBatchOptions, StringArray};
use arrow::datatypes::SchemaRef;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::EquivalenceProperties;
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
};
use futures::{StreamExt, TryStreamExt};
use iceberg::arrow::ArrowReaderBuilder;
use iceberg::io::FileIO;
use iceberg::scan::FileScanTask;

use super::FILE_COLUMN;

/// Scans data files with their delete files applied.
#[derive(Debug)]
pub struct DeleteApplyingExec {
    file_io: FileIO,
    /// The files of each output partition.
    groups: Vec<Vec<FileScanTask>>,
    /// The output: projected table columns, perhaps with `_file`.
    schema: SchemaRef,
    batch_size: usize,
    properties: Arc<PlanProperties>,
}

impl DeleteApplyingExec {
    /// Read `tasks` spread over up to `partitions` partitions.
    pub fn new(
        file_io: FileIO,
        tasks: Vec<FileScanTask>,
        schema: SchemaRef,
        partitions: usize,
        batch_size: usize,
    ) -> Self {
        let n = partitions.max(1).min(tasks.len().max(1));
        let mut groups = vec![Vec::new(); n];
        for (i, mut task) in tasks.into_iter().enumerate() {
            // Every row comes out: the planner's filter only chose the files,
            // and whoever asked for them (a query's filter, a DELETE counting
            // a file's rows) decides about rows.
            task.predicate = None;
            groups[i % n].push(task);
        }
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(Arc::clone(&schema)),
            Partitioning::UnknownPartitioning(n),
            EmissionType::Incremental,
            Boundedness::Bounded,
        ));
        Self {
            file_io,
            groups,
            schema,
            batch_size,
            properties,
        }
    }
}

impl DisplayAs for DeleteApplyingExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let files: usize = self.groups.iter().map(Vec::len).sum();
        write!(
            f,
            "DeleteApplyingExec: files={files}, partitions={}",
            self.groups.len()
        )
    }
}

/// Give a batch of the reader the output schema: columns by name, cast to
/// the output types, and `_file` filled in.
fn conform(batch: &RecordBatch, schema: &SchemaRef, file: &str) -> Result<RecordBatch> {
    let columns = schema
        .fields()
        .iter()
        .map(|field| {
            if field.name() == FILE_COLUMN {
                return Ok(Arc::new(StringArray::from(vec![file; batch.num_rows()])) as ArrayRef);
            }
            // A column added to the schema after the file was written.
            let Some(column) = batch.column_by_name(field.name()) else {
                return Ok(arrow::array::new_null_array(
                    field.data_type(),
                    batch.num_rows(),
                ));
            };
            if column.data_type() == field.data_type() {
                Ok(Arc::clone(column))
            } else {
                Ok(arrow::compute::cast(column, field.data_type())?)
            }
        })
        .collect::<Result<Vec<_>>>()?;
    // `count(*)` projects no column: the row count must be carried.
    let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
    Ok(RecordBatch::try_new_with_options(
        Arc::clone(schema),
        columns,
        &options,
    )?)
}

impl ExecutionPlan for DeleteApplyingExec {
    fn name(&self) -> &str {
        "DeleteApplyingExec"
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        Vec::new()
    }

    fn with_new_children(
        self: Arc<Self>,
        _children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn execute(
        &self,
        partition: usize,
        _context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let tasks = self.groups.get(partition).cloned().unwrap_or_default();
        let file_io = self.file_io.clone();
        let schema = Arc::clone(&self.schema);
        let batch_size = self.batch_size;
        let external = |e: iceberg::Error| DataFusionError::External(Box::new(e));
        // One file at a time, so each batch knows its file.
        let stream = futures::stream::iter(tasks)
            .then(move |task| {
                let file_io = file_io.clone();
                let schema = Arc::clone(&schema);
                async move {
                    let runtime = iceberg::Runtime::try_current().map_err(external)?;
                    let path = task.data_file_path.clone();
                    let reader = ArrowReaderBuilder::new(file_io, runtime)
                        .with_batch_size(batch_size)
                        .build();
                    let batches = reader
                        .read(Box::pin(futures::stream::iter([Ok(task)])))
                        .map_err(external)?
                        .stream()
                        .map_err(external)
                        .and_then(move |batch| {
                            let schema = Arc::clone(&schema);
                            let path = path.clone();
                            async move { conform(&batch, &schema, &path) }
                        });
                    Ok::<_, DataFusionError>(batches)
                }
            })
            .try_flatten();
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&self.schema),
            stream,
        )))
    }
}

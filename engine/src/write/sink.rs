//! The DataFusion sink of `INSERT INTO` an Iceberg table.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::runtime::SpawnedTask;
use datafusion::common::stats::Precision;
use datafusion::error::{DataFusionError, Result as DFResult};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::{EquivalenceProperties, LexOrdering, OrderingRequirements};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, Distribution, ExecutionPlan, Partitioning, PlanProperties,
};
use futures::StreamExt;
use iceberg::spec::{DataContentType, DataFile, Struct};
use std::collections::HashSet;

use super::{DataFileWriterSet, SERIAL_BATCHES, join_writers};
use crate::commit::SnapshotUpdate;
use crate::error::Result;
use crate::scope::Scope;
use crate::table::LoadedTable;

/// What an INSERT does to the rows already in the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsertMode {
    /// `INSERT INTO`: keep them.
    Append,
    /// `INSERT OVERWRITE`: replace the whole table.
    OverwriteTable,
    /// `INSERT OVERWRITE` with `write.overwrite.mode = dynamic`: replace the
    /// partitions the statement writes.
    OverwritePartitions,
}

/// Writes the rows of an INSERT as data files and commits them as one
/// snapshot (`append`, or `overwrite`). Nothing is visible until the
/// commit succeeds.
#[derive(Debug)]
pub struct IcebergSink {
    scope: Scope,
    table: LoadedTable,
    mode: InsertMode,
}

impl IcebergSink {
    /// A sink writing into `table`.
    pub fn new(scope: Scope, table: LoadedTable, mode: InsertMode) -> Self {
        Self { scope, table, mode }
    }

    /// The live data files an overwrite replaces.
    async fn replaced_files(&self, added: &[DataFile]) -> Result<Vec<DataFile>> {
        let live = self.table.live_files(self.scope.engine()).await?;
        let data = live
            .into_iter()
            .filter(|f| f.file.content_type() == DataContentType::Data);
        Ok(match self.mode {
            InsertMode::Append => Vec::new(),
            InsertMode::OverwriteTable => data.map(|f| f.file).collect(),
            InsertMode::OverwritePartitions => {
                let spec_id = self.table.metadata().default_partition_spec_id();
                let written: HashSet<&Struct> = added.iter().map(|f| f.partition()).collect();
                data.filter(|f| f.spec_id == spec_id && written.contains(f.file.partition()))
                    .map(|f| f.file)
                    .collect()
            }
        })
    }
}

impl IcebergSink {
    /// Write the input streams. Unless the input is known to be large
    /// (`serial_batches` is 0 then), the first `serial_batches` batches,
    /// from whichever streams have them, go to one writer. Past them, each
    /// stream still going is written by its own writer, all at once
    /// (decoding, encoding and compressing a partition's rows on one core,
    /// while they are in its cache: one queue drained by every writer
    /// measured 4% slower on the TPC-H load). Returns every file written
    /// and the rows.
    async fn write_files(
        &self,
        streams: Vec<SendableRecordBatchStream>,
        serial_batches: usize,
    ) -> Result<(Vec<DataFile>, u64)> {
        let name = self.table.ident().to_string();
        let metadata = self.table.metadata();
        let mut first = DataFileWriterSet::try_new(&self.scope, &name, metadata).await?;
        let mut merged = futures::stream::select_all(streams);
        for _ in 0..serial_batches {
            match merged.next().await {
                Some(batch) => first.write(batch?).await?,
                None => return first.close().await,
            }
        }
        let mut writers = vec![first];
        let mut tasks = Vec::new();
        for mut stream in merged {
            let mut writer = match writers.pop() {
                Some(writer) => writer,
                None => DataFileWriterSet::try_new(&self.scope, &name, metadata).await?,
            };
            // Dropping the handle (a failed or cancelled statement) stops
            // the task.
            tasks.push(SpawnedTask::spawn(async move {
                while let Some(batch) = stream.next().await {
                    writer.write(batch?).await?;
                }
                writer.close().await
            }));
        }
        let (mut files, mut rows) = join_writers(tasks).await?;
        // The serial writer, if no stream was left to give it to.
        for writer in writers {
            let (more, n) = writer.close().await?;
            files.extend(more);
            rows += n;
        }
        Ok((files, rows))
    }

    /// Write the streams, then commit every file as one snapshot.
    async fn write_and_commit(
        &self,
        streams: Vec<SendableRecordBatchStream>,
        serial_batches: usize,
    ) -> Result<u64> {
        let (files, rows) = self.write_files(streams, serial_batches).await?;
        let update = match self.mode {
            InsertMode::Append => SnapshotUpdate::append(files),
            InsertMode::OverwriteTable | InsertMode::OverwritePartitions => {
                let replaced = self.replaced_files(&files).await?;
                SnapshotUpdate::overwrite(files, replaced)
            }
        };
        update
            .commit(&self.scope.target()?, self.table.clone())
            .await?;
        Ok(rows)
    }
}

impl DisplayAs for IcebergSink {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "IcebergWrite: table={}, mode={:?}",
            self.table.ident(),
            self.mode
        )
    }
}

/// The plan of an INSERT into an Iceberg table: every input partition is
/// written by its own writers at once, then all the files are committed
/// as one snapshot; returns one row, the count of rows written.
///
/// DataFusion's `DataSinkExec` takes a single input partition: it would
/// funnel rows decoded on every core through one stream before encoding.
#[derive(Debug)]
pub struct IcebergWriteExec {
    input: Arc<dyn ExecutionPlan>,
    sink: Arc<IcebergSink>,
    /// The write order rows come sorted in (one partition then), if any.
    ordering: Option<LexOrdering>,
    properties: Arc<PlanProperties>,
}

impl IcebergWriteExec {
    /// Write `input`'s rows with `sink`; `ordering` is the table's write
    /// order, which the input must keep.
    pub fn new(
        input: Arc<dyn ExecutionPlan>,
        sink: IcebergSink,
        ordering: Option<LexOrdering>,
    ) -> Self {
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(count_schema()),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Final,
            Boundedness::Bounded,
        ));
        Self {
            input,
            sink: Arc::new(sink),
            ordering,
            properties,
        }
    }
}

/// How many batches go to one writer before each input partition gets its
/// own: [`SERIAL_BATCHES`], or none when the input's statistics know it
/// has more rows than those batches hold (then a serial start would only
/// keep a core idle). An estimate is not enough: a selective filter would
/// split a small INSERT into several files.
fn serial_batches(input: &Arc<dyn ExecutionPlan>, batch_size: usize) -> DFResult<usize> {
    let serial_rows = SERIAL_BATCHES.saturating_mul(batch_size);
    Ok(match input.partition_statistics(None)?.num_rows {
        Precision::Exact(rows) if rows > serial_rows => 0,
        _ => SERIAL_BATCHES,
    })
}

fn count_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![Field::new(
        "count",
        DataType::UInt64,
        false,
    )]))
}

impl DisplayAs for IcebergWriteExec {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        self.sink.fmt_as(t, f)
    }
}

impl ExecutionPlan for IcebergWriteExec {
    fn name(&self) -> &str {
        "IcebergWriteExec"
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn required_input_distribution(&self) -> Vec<Distribution> {
        // Sorted rows are written as one sorted stream; others as they come.
        vec![match self.ordering {
            Some(_) => Distribution::SinglePartition,
            None => Distribution::UnspecifiedDistribution,
        }]
    }

    fn required_input_ordering(&self) -> Vec<Option<OrderingRequirements>> {
        vec![self.ordering.clone().map(Into::into)]
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        // An input read as one partition (a small file, a `VALUES` list
        // past a batch) is spread over the cores, which encode and
        // compress; a sorted write stays one stream.
        vec![self.ordering.is_none()]
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        Ok(Arc::new(Self {
            input: children.swap_remove(0),
            sink: Arc::clone(&self.sink),
            ordering: self.ordering.clone(),
            properties: Arc::clone(&self.properties),
        }))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> DFResult<SendableRecordBatchStream> {
        if partition != 0 {
            return Err(DataFusionError::Internal(format!(
                "IcebergWriteExec has one partition, not {partition}"
            )));
        }
        let streams = (0..self.input.properties().partitioning.partition_count())
            .map(|p| self.input.execute(p, Arc::clone(&context)))
            .collect::<DFResult<Vec<_>>>()?;
        let serial_batches = serial_batches(&self.input, context.session_config().batch_size())?;
        let sink = Arc::clone(&self.sink);
        let stream = futures::stream::once(async move {
            let rows = sink.write_and_commit(streams, serial_batches).await?;
            let count: ArrayRef = Arc::new(UInt64Array::from(vec![rows]));
            Ok(RecordBatch::try_new(count_schema(), vec![count])?)
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            count_schema(),
            stream,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int64Array;
    use datafusion::datasource::memory::MemorySourceConfig;
    use datafusion::physical_expr::expressions::{BinaryExpr, col, lit};
    use datafusion::physical_plan::filter::FilterExec;

    fn rows(n: i64) -> Arc<dyn ExecutionPlan> {
        let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, false)]));
        let values: ArrayRef = Arc::new(Int64Array::from_iter_values(0..n));
        let batch = RecordBatch::try_new(Arc::clone(&schema), vec![values]).unwrap();
        MemorySourceConfig::try_new_exec(&[vec![batch]], schema, None).unwrap()
    }

    #[test]
    fn only_a_known_large_input_skips_the_serial_start() {
        // 16 batches of 100 rows hold 1,600.
        assert_eq!(serial_batches(&rows(1_601), 100).unwrap(), 0);
        assert_eq!(serial_batches(&rows(1_600), 100).unwrap(), SERIAL_BATCHES);
        // A filter's output is an estimate.
        let input = rows(10_000);
        let predicate = Arc::new(BinaryExpr::new(
            col("v", &input.schema()).unwrap(),
            datafusion::logical_expr::Operator::Lt,
            lit(5i64),
        ));
        let filtered: Arc<dyn ExecutionPlan> =
            Arc::new(FilterExec::try_new(predicate, input).unwrap());
        assert_eq!(serial_batches(&filtered, 100).unwrap(), SERIAL_BATCHES);
    }
}

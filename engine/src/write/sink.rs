//! The DataFusion sink of `INSERT INTO` an Iceberg table.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use datafusion::datasource::sink::DataSink;
use datafusion::error::Result as DFResult;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::{DisplayAs, DisplayFormatType};
use futures::StreamExt;
use iceberg::spec::{DataContentType, DataFile, Struct};
use std::collections::HashSet;

use super::DataFileWriterSet;
use crate::commit::SnapshotUpdate;
use crate::error::Result;
use crate::table::LoadedTable;
use crate::warehouse::Warehouse;

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
    warehouse: Warehouse,
    table: LoadedTable,
    schema: SchemaRef,
    mode: InsertMode,
}

impl IcebergSink {
    /// A sink writing into `table`; `schema` is the input's schema.
    pub fn new(
        warehouse: Warehouse,
        table: LoadedTable,
        schema: SchemaRef,
        mode: InsertMode,
    ) -> Self {
        Self {
            warehouse,
            table,
            schema,
            mode,
        }
    }

    /// The live data files an overwrite replaces.
    async fn replaced_files(&self, added: &[DataFile]) -> Result<Vec<DataFile>> {
        let live = self.table.live_files(self.warehouse.file_io()).await?;
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

/// Batches written by one writer before the others start: a small INSERT
/// stays one file per partition.
const SERIAL_BATCHES: usize = 16;

impl IcebergSink {
    /// Write the rows as data files. Past [`SERIAL_BATCHES`] batches, the
    /// batches are dealt round-robin to `workers` writers encoding in
    /// parallel (each file's rows keep their input order).
    async fn write_files(
        &self,
        mut data: SendableRecordBatchStream,
        workers: usize,
    ) -> Result<(Vec<DataFile>, u64)> {
        let name = self.table.ident().to_string();
        let metadata = self.table.metadata();
        let mut local = DataFileWriterSet::try_new(&self.warehouse, &name, metadata).await?;
        let mut senders = Vec::new();
        let mut handles = Vec::new();
        let mut count = 0usize;
        while let Some(batch) = data.next().await {
            let batch = batch?;
            count += 1;
            if workers == 1 || count <= SERIAL_BATCHES {
                local.write(batch).await?;
                continue;
            }
            if senders.is_empty() {
                for _ in 1..workers {
                    let (tx, mut rx) = tokio::sync::mpsc::channel::<arrow::array::RecordBatch>(2);
                    let mut writer =
                        DataFileWriterSet::try_new(&self.warehouse, &name, metadata).await?;
                    handles.push(tokio::spawn(async move {
                        while let Some(batch) = rx.recv().await {
                            writer.write(batch).await?;
                        }
                        writer.close().await
                    }));
                    senders.push(tx);
                }
            }
            match count % workers {
                0 => local.write(batch).await?,
                slot => {
                    if senders[slot - 1].send(batch).await.is_err() {
                        // The writer stopped: its error is reported below.
                        break;
                    }
                }
            }
        }
        drop(senders);
        let (mut files, mut rows) = local.close().await?;
        for handle in handles {
            let (more, n) = handle.await.map_err(|e| {
                crate::error::FloeError::Internal(format!("a writer task failed: {e}"))
            })??;
            files.extend(more);
            rows += n;
        }
        Ok((files, rows))
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

#[async_trait]
impl DataSink for IcebergSink {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    async fn write_all(
        &self,
        data: SendableRecordBatchStream,
        context: &Arc<TaskContext>,
    ) -> DFResult<u64> {
        let workers = context.session_config().target_partitions().max(1);
        let (files, rows) = self.write_files(data, workers).await?;
        let update = match self.mode {
            InsertMode::Append => SnapshotUpdate::append(files),
            InsertMode::OverwriteTable | InsertMode::OverwritePartitions => {
                let replaced = self.replaced_files(&files).await?;
                SnapshotUpdate::overwrite(files, replaced)
            }
        };
        update.commit(&self.warehouse, self.table.clone()).await?;
        Ok(rows)
    }
}

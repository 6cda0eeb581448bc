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

use super::DataFileWriterSet;
use crate::commit::Append;
use crate::table::LoadedTable;
use crate::warehouse::Warehouse;

/// Writes the rows of an INSERT as data files and commits them as one
/// `append` snapshot. Nothing is visible until the commit succeeds.
#[derive(Debug)]
pub struct IcebergSink {
    warehouse: Warehouse,
    table: LoadedTable,
    schema: SchemaRef,
}

impl IcebergSink {
    /// A sink appending to `table`; `schema` is the input's schema.
    pub fn new(warehouse: Warehouse, table: LoadedTable, schema: SchemaRef) -> Self {
        Self {
            warehouse,
            table,
            schema,
        }
    }
}

impl DisplayAs for IcebergSink {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "IcebergAppend: table={}", self.table.ident())
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
        mut data: SendableRecordBatchStream,
        _context: &Arc<TaskContext>,
    ) -> DFResult<u64> {
        let name = self.table.ident().to_string();
        let mut writers =
            DataFileWriterSet::try_new(&self.warehouse, &name, self.table.metadata()).await?;
        while let Some(batch) = data.next().await {
            writers.write(batch?).await?;
        }
        let (files, rows) = writers.close().await?;
        Append::new(files)
            .commit(&self.warehouse, self.table.clone())
            .await?;
        Ok(rows)
    }
}

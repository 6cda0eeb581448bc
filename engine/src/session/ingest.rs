//! Bulk ingest of Arrow batches into a table, creating it if asked: what
//! ADBC's `adbc_ingest` and Flight SQL's `CommandStatementIngest` do.

use std::sync::Arc;

use datafusion::execution::SendableRecordBatchStream;
use iceberg::spec::{DataContentType, UnboundPartitionSpec};

use super::Session;
use crate::commit::SnapshotUpdate;
use crate::error::{Result, already_exists, not_found};
use crate::ops::ddl;
use crate::results::CommitInfo;
use crate::write::write_stream;

/// What an ingest does with a table that exists, or does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum IngestMode {
    /// Create the table from the batches' schema; an existing table is an
    /// error.
    Create,
    /// Append to the table; a missing table is an error.
    Append,
    /// Replace the table's rows (one `overwrite` snapshot); create it if
    /// it is missing.
    Replace,
    /// Append to the table; create it if it is missing.
    CreateAppend,
}

impl Session {
    /// Write `batches` to the table `name` on the session's branch as one
    /// snapshot: an `append`, or for [`IngestMode::Replace`] of an existing
    /// table an `overwrite` of all its rows. Columns match by name and are
    /// cast to the table's types, as in [`Session::append`]. A table the
    /// ingest creates gets the batches' columns (all nullable, as Iceberg
    /// tables created from data are), and is gone again if the write
    /// fails. Inside a transaction the snapshot is staged until `COMMIT`;
    /// creating a table cannot happen inside one.
    ///
    /// ```
    /// # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
    /// # async fn main() -> floe_engine::Result<()> {
    /// use std::sync::Arc;
    /// use arrow::array::{Int64Array, RecordBatch};
    /// use arrow::datatypes::{DataType, Field, Schema};
    /// use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
    /// use floe_engine::IngestMode;
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let session = floe_engine::Engine::open(dir.path().to_str().unwrap()).await?.session();
    /// let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
    /// let stream = |ids: Vec<i64>| {
    ///     let batch = RecordBatch::try_new(Arc::clone(&schema), vec![Arc::new(Int64Array::from(ids))]).unwrap();
    ///     Box::pin(RecordBatchStreamAdapter::new(Arc::clone(&schema), futures::stream::iter([Ok(batch)])))
    /// };
    /// let created = session.ingest("ids", IngestMode::Create, stream(vec![1, 2])).await?;
    /// assert_eq!(created.summary["added-records"], "2");
    /// let replaced = session.ingest("ids", IngestMode::Replace, stream(vec![3])).await?;
    /// assert_eq!(replaced.operation.as_deref(), Some("overwrite"));
    /// assert_eq!(replaced.summary["total-records"], "1");
    /// let again = session.ingest("ids", IngestMode::Create, stream(vec![4])).await;
    /// assert!(again.unwrap_err().to_string().contains("exists already"));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn ingest(
        &self,
        name: &str,
        mode: IngestMode,
        batches: SendableRecordBatchStream,
    ) -> Result<CommitInfo> {
        let ident = self.resolve(name)?;
        let existing = match self.scope.load_table_at(&ident, None).await {
            Ok(table) => Some(table),
            Err(e) if e.is_table_not_found() => None,
            Err(e) => return Err(e),
        };
        match (mode, existing) {
            (IngestMode::Create, Some(_)) => Err(already_exists!(
                "cannot ingest into '{ident}' with mode 'create': the table exists already \
                 (use mode 'append' or 'replace')"
            )),
            (IngestMode::Append, None) => Err(not_found!(
                "cannot ingest into '{ident}' with mode 'append': there is no such table on \
                 branch '{}' (use mode 'create' or 'create_append')",
                self.scope.branch()?
            )),
            (IngestMode::Append | IngestMode::CreateAppend, Some(table)) => {
                self.append_to(table, batches).await
            }
            (IngestMode::Replace, Some(table)) => {
                let branch = table.write_branch()?.to_string();
                let removed = table
                    .live_files(&self.engine)
                    .await?
                    .into_iter()
                    .filter(|f| f.file.content_type() == DataContentType::Data)
                    .map(|f| f.file)
                    .collect();
                let (added, _) = write_stream(
                    &self.scope,
                    &self.ctx,
                    &ident.to_string(),
                    table.metadata(),
                    batches,
                )
                .await?;
                let committed = SnapshotUpdate::overwrite(added, removed)
                    .commit(&self.scope.target()?, table)
                    .await?;
                Ok(CommitInfo::of(
                    &committed,
                    &branch,
                    self.scope.in_transaction()?,
                ))
            }
            (IngestMode::Create | IngestMode::CreateAppend | IngestMode::Replace, None) => {
                self.scope
                    .refuse_in_transaction("an ingest that creates a table")?;
                let schema = Arc::clone(&batches.schema());
                let definition = ddl::TableDefinition {
                    schema: ddl::schema_from_arrow_schema(&schema)?,
                    partition_spec: UnboundPartitionSpec::builder().build(),
                    properties: Default::default(),
                };
                ddl::create_table(&self.scope, &ident, definition).await?;
                match self.append(name, batches).await {
                    Ok(committed) => Ok(committed),
                    Err(e) => {
                        // As CREATE TABLE AS: a failed load leaves no table.
                        if let Err(cleanup) =
                            ddl::drop_table(&self.scope, &ident, false, true, ddl::DropFrom::Branch)
                                .await
                        {
                            log::warn!(
                                "could not drop '{ident}' after its ingest failed: {cleanup}"
                            );
                        }
                        Err(e)
                    }
                }
            }
        }
    }
}

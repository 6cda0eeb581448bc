//! `CommandStatementIngest` (ADBC's `adbc_ingest`): Arrow batches into a
//! table on the session's branch, as one snapshot.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow_flight::decode::FlightRecordBatchStream;
use arrow_flight::sql::server::PeekableFlightDataStream;
use arrow_flight::sql::{CommandStatementIngest, TableExistsOption, TableNotExistOption};
use datafusion::error::DataFusionError;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use floe_engine::IngestMode;
use futures::{StreamExt, TryStreamExt};
use tonic::Status;

use crate::error::{invalid, status};
use crate::service::{FlightSqlServer, quote_name};
use crate::sessions::ClientSession;
use crate::statements::Runner;

/// The Arrow messages of a DoPut stream: without the messages that carry
/// only the descriptor (some clients send one before the data, or alone).
fn arrow_messages(
    stream: PeekableFlightDataStream,
) -> impl futures::Stream<Item = Result<arrow_flight::FlightData, arrow_flight::error::FlightError>>
{
    stream
        .try_filter(|data| futures::future::ready(!data.data_header.is_empty()))
        .map_err(Into::into)
}

/// Every batch of a DoPut stream (parameters).
pub(crate) async fn read_batches(
    stream: PeekableFlightDataStream,
) -> Result<Vec<RecordBatch>, Status> {
    FlightRecordBatchStream::new_from_flight_data(arrow_messages(stream))
        .try_collect()
        .await
        .map_err(flight_status)
}

fn flight_status(error: arrow_flight::error::FlightError) -> Status {
    match error {
        arrow_flight::error::FlightError::Tonic(status) => *status,
        other => invalid(format!("cannot read the Arrow data sent: {other}")),
    }
}

impl FlightSqlServer {
    pub(crate) async fn ingest(
        &self,
        client: &ClientSession,
        command: CommandStatementIngest,
        stream: PeekableFlightDataStream,
    ) -> Result<i64, Status> {
        let mode = ingest_mode(&command)?;
        if command.temporary {
            return Err(Status::unimplemented(
                "temporary tables: Floe's tables are Iceberg tables in the catalog; ingest into \
                 a table on a branch instead",
            ));
        }
        let name = match &command.schema {
            Some(schema) if !schema.is_empty() => format!("{schema}.{}", command.table),
            _ => command.table.clone(),
        };
        let branch = client.session.branch().map_err(status)?;
        let other_branch = command
            .catalog
            .as_deref()
            .filter(|c| !c.is_empty() && *c != branch);
        if let Some(target) = other_branch {
            self.refuse_tag(client, &name, target).await?;
        }
        let runner = match (other_branch, command.transaction_id.as_deref()) {
            (Some(target), None) => {
                Runner::Alone(Box::new(self.fresh_session(client, Some(target)).await?))
            }
            (Some(target), Some(_)) => {
                return Err(invalid(format!(
                    "an ingest in a transaction goes to the session's branch '{branch}', not \
                     '{target}'"
                )));
            }
            (None, id) => self.runner(client, id, false).await?,
        };
        let batches = batch_stream(stream).await?;
        let session = match &runner {
            Runner::Session => &client.session,
            Runner::Alone(session) => session.as_ref(),
            Runner::Transaction => {
                let session = &client.session;
                let exists = match session.table(&name).await {
                    Ok(_) => true,
                    Err(e) if e.is_table_not_found() => false,
                    Err(e) => return Err(status(e)),
                };
                let in_transaction = session.in_transaction().map_err(status)?;
                if !exists && mode != IngestMode::Append {
                    // Creating a table is DDL: it commits the transaction's
                    // writes first.
                    if in_transaction {
                        session.sql("COMMIT").await.map_err(status)?;
                    }
                } else if !in_transaction {
                    session.sql("BEGIN").await.map_err(status)?;
                }
                session
            }
        };
        let committed = match session.ingest(&name, mode, batches).await {
            Ok(committed) => committed,
            Err(e) => {
                if matches!(runner, Runner::Transaction) {
                    self.abort_transaction(client, &e).await?;
                }
                return Err(status(e));
            }
        };
        Ok(committed
            .summary
            .get("added-records")
            .and_then(|n| n.parse().ok())
            .unwrap_or(0))
    }

    /// An ingest that names a tag as its catalog: tags are read-only.
    async fn refuse_tag(
        &self,
        client: &ClientSession,
        name: &str,
        target: &str,
    ) -> Result<(), Status> {
        if let Ok(table) = client.session.table(name).await
            && let Ok(refs) = table.refs()
            && refs.get(target).is_some_and(|r| !r.is_branch())
        {
            return Err(invalid(format!(
                "cannot ingest into tag '{target}' of table '{}': tags are read-only (ingest \
                 into a branch)",
                quote_name(name)
            )));
        }
        Ok(())
    }
}

/// The ingest mode of the command's table definition options, as ADBC
/// sends them.
fn ingest_mode(command: &CommandStatementIngest) -> Result<IngestMode, Status> {
    let options = command.table_definition_options.unwrap_or_default();
    let create = TableNotExistOption::try_from(options.if_not_exist)
        .is_ok_and(|o| o == TableNotExistOption::Create);
    match TableExistsOption::try_from(options.if_exists) {
        Ok(TableExistsOption::Replace) => Ok(IngestMode::Replace),
        Ok(TableExistsOption::Append) if create => Ok(IngestMode::CreateAppend),
        Ok(TableExistsOption::Append) => Ok(IngestMode::Append),
        _ if create => Ok(IngestMode::Create),
        _ => Err(invalid(
            "the ingest neither creates the table nor writes to an existing one: set \
             if_not_exist = CREATE or if_exists = APPEND or REPLACE",
        )),
    }
}

/// The ingest's batches as they arrive: nothing is collected first.
async fn batch_stream(
    stream: PeekableFlightDataStream,
) -> Result<datafusion::execution::SendableRecordBatchStream, Status> {
    let mut decoder = FlightRecordBatchStream::new_from_flight_data(arrow_messages(stream));
    let first = decoder.next().await.transpose().map_err(flight_status)?;
    let schema = match (decoder.schema(), &first) {
        (Some(schema), _) => Arc::clone(schema),
        (None, Some(batch)) => batch.schema(),
        (None, None) => return Err(invalid("the ingest sent no schema")),
    };
    let rest = decoder.map_err(|e| DataFusionError::External(Box::new(e)));
    let all = futures::stream::iter(first.map(Ok)).chain(rest);
    Ok(Box::pin(RecordBatchStreamAdapter::new(schema, all)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use arrow_flight::sql::TableDefinitionOptions;

    use super::*;

    fn mode(
        if_not_exist: TableNotExistOption,
        if_exists: TableExistsOption,
    ) -> Result<IngestMode, Status> {
        ingest_mode(&CommandStatementIngest {
            table_definition_options: Some(TableDefinitionOptions {
                if_not_exist: if_not_exist as i32,
                if_exists: if_exists as i32,
            }),
            ..Default::default()
        })
    }

    #[test]
    fn adbc_modes_map_onto_ingest_modes() {
        use TableExistsOption as E;
        use TableNotExistOption as N;
        assert_eq!(mode(N::Create, E::Fail).unwrap(), IngestMode::Create);
        assert_eq!(mode(N::Fail, E::Append).unwrap(), IngestMode::Append);
        assert_eq!(mode(N::Create, E::Replace).unwrap(), IngestMode::Replace);
        assert_eq!(
            mode(N::Create, E::Append).unwrap(),
            IngestMode::CreateAppend
        );
        let nothing = mode(N::Fail, E::Fail).unwrap_err();
        assert_eq!(nothing.code(), tonic::Code::InvalidArgument);
        assert!(nothing.message().starts_with("the ingest neither creates"));
    }
}

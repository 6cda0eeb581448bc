//! Statements: planning, running and binding, and how a statement meets
//! the session's transaction.
//!
//! Every statement is prepared first (as ADBC and JDBC do anyway), which
//! tells whether it returns rows and whether it may run in a transaction.
//! A Flight SQL transaction maps onto one engine transaction of the
//! session, begun by the first read or write in it. A statement that
//! cannot run in a transaction (DDL, branch changes, `CALL`) first commits
//! what the transaction wrote, as `SqlInfo` says
//! (`SQL_DATA_DEFINITION_CAUSES_TRANSACTION_COMMIT`). A statement that
//! names no transaction while one is open runs on its own, committed at
//! once, in a fresh session on the same branch and namespace. A failed
//! statement rolls the transaction back, and every later one is refused
//! until the client ends it.

use std::sync::Arc;

use arrow::array::{Array, RecordBatch};
use arrow_flight::sql::{ProstMessageExt, TicketStatementQuery};
use arrow_flight::{FlightDescriptor, FlightEndpoint, FlightInfo, Ticket};
use datafusion::common::ScalarValue;
use datafusion::prelude::DataFrame;
use floe_engine::{FloeError, Session, tables_read};
use prost::Message;
use tonic::Status;

use crate::error::{internal, invalid, status};
use crate::results::result_schema;
use crate::service::FlightSqlServer;
use crate::sessions::{ClientSession, PlannedQuery, Prepared, lock};

/// Where a statement runs.
pub(crate) enum Runner {
    /// In the client's session, outside any transaction.
    Session,
    /// In the client's open transaction.
    Transaction,
    /// On its own, in a fresh session (a transaction is open, but the
    /// statement did not name it).
    Alone(Box<Session>),
}

impl FlightSqlServer {
    /// Where a statement runs, given the transaction it names (`None`:
    /// none) and whether it was prepared inside one.
    pub(crate) async fn runner(
        &self,
        client: &ClientSession,
        transaction_id: Option<&[u8]>,
        prepared_in_transaction: bool,
    ) -> Result<Runner, Status> {
        let open = lock(&client.transaction)?.clone();
        match (transaction_id, open) {
            (Some(id), Some(open)) if open.id == id => Ok(Runner::Transaction),
            (Some(id), _) => Err(invalid(format!(
                "transaction {} is not open in this session (it was committed or rolled back, \
                 or the session expired)",
                String::from_utf8_lossy(id)
            ))),
            (None, Some(_)) if prepared_in_transaction => Ok(Runner::Transaction),
            (None, Some(_)) => Ok(Runner::Alone(Box::new(
                self.fresh_session(client, None).await?,
            ))),
            (None, None) => Ok(Runner::Session),
        }
    }

    /// A session on the client's branch and namespace (or on `branch`),
    /// outside the client's transaction.
    pub(crate) async fn fresh_session(
        &self,
        client: &ClientSession,
        branch: Option<&str>,
    ) -> Result<Session, Status> {
        let session = client.session.fork().map_err(status)?;
        if let Some(branch) = branch {
            session.use_branch(branch).await.map_err(status)?;
        }
        Ok(session)
    }

    /// Run a prepared statement once with `values`, where `runner` says.
    pub(crate) async fn run(
        &self,
        client: &ClientSession,
        runner: &Runner,
        prepared: &Prepared,
        values: &[ScalarValue],
    ) -> Result<DataFrame, Status> {
        let statement = &prepared.statement;
        let session = match runner {
            Runner::Session => &client.session,
            Runner::Alone(session) => session.as_ref(),
            Runner::Transaction => {
                if let Some(reason) = lock(&client.transaction)?
                    .as_ref()
                    .and_then(|t| t.aborted.clone())
                {
                    return Err(Status::aborted(format!(
                        "the transaction was rolled back: {reason}. Nothing of it was \
                         committed; end it (rollback) and begin a new one"
                    )));
                }
                let session = &client.session;
                let in_transaction = session.in_transaction().map_err(status)?;
                if statement.is_transactional() && !in_transaction {
                    session.sql("BEGIN").await.map_err(status)?;
                } else if !statement.is_transactional() && in_transaction {
                    // DDL commits what the transaction wrote first.
                    if let Err(e) = session.sql("COMMIT").await {
                        self.abort_transaction(client, &e).await?;
                        return Err(status(e));
                    }
                }
                return match session.execute_prepared(statement, values).await {
                    Ok(frame) => Ok(frame),
                    Err(e) => {
                        if statement.is_transactional() {
                            self.abort_transaction(client, &e).await?;
                        }
                        Err(status(e))
                    }
                };
            }
        };
        session
            .execute_prepared(statement, values)
            .await
            .map_err(status)
    }

    /// A statement in the transaction failed: roll it back (the engine has
    /// when the statement itself failed, not when its parameters did) and
    /// remember why, to refuse what follows.
    pub(crate) async fn abort_transaction(
        &self,
        client: &ClientSession,
        error: &FloeError,
    ) -> Result<(), Status> {
        if let Some(open) = lock(&client.transaction)?.as_mut() {
            open.aborted = Some(error.to_string());
        }
        rollback_if_open(&client.session).await
    }

    /// Prepare `sql` on the client's session.
    pub(crate) async fn prepare(
        &self,
        client: &ClientSession,
        sql: &str,
        in_transaction: bool,
    ) -> Result<Prepared, Status> {
        let statement = client.session.prepare(sql).await.map_err(status)?;
        Ok(Prepared {
            statement,
            in_transaction,
            bound: std::sync::Mutex::new(None),
        })
    }

    /// Plan a statement's result for DoGet and describe it: the FlightInfo
    /// has the schema the stream will have, one endpoint whose ticket
    /// names the planned query, and for DML the rows changed as
    /// `total_records`.
    pub(crate) async fn flight_info(
        &self,
        client: &ClientSession,
        frame: DataFrame,
        returns_rows: bool,
        descriptor: FlightDescriptor,
    ) -> Result<FlightInfo, Status> {
        let reads = tables_read(frame.logical_plan());
        let task = Arc::new(frame.task_ctx());
        let plan = frame
            .create_physical_plan()
            .await
            .map_err(|e| status(e.into()))?;
        let branch = client.session.branch().map_err(status)?;
        let schema = result_schema(&plan.schema(), &reads, &branch);
        let mut total_records = -1;
        if !returns_rows {
            // DML and DDL ran already; their result is their count.
            let batches = datafusion::physical_plan::collect(Arc::clone(&plan), Arc::clone(&task))
                .await
                .map_err(|e| status(e.into()))?;
            total_records = affected_rows(&batches);
            let plan = datafusion::datasource::memory::MemorySourceConfig::try_new_exec(
                &[batches],
                plan.schema(),
                None,
            )
            .map_err(|e| status(e.into()))?;
            return self.planned(client, plan, schema, task, descriptor, total_records);
        }
        self.planned(client, plan, schema, task, descriptor, total_records)
    }

    fn planned(
        &self,
        client: &ClientSession,
        plan: Arc<dyn datafusion::physical_plan::ExecutionPlan>,
        schema: arrow::datatypes::SchemaRef,
        task: Arc<datafusion::execution::TaskContext>,
        descriptor: FlightDescriptor,
        total_records: i64,
    ) -> Result<FlightInfo, Status> {
        let handle = client.new_handle();
        let ticket = TicketStatementQuery {
            statement_handle: handle.clone().into(),
        };
        let info = FlightInfo::new()
            .try_with_schema(&schema)
            .map_err(|e| internal("cannot encode the result schema", e))?
            .with_endpoint(
                FlightEndpoint::new().with_ticket(Ticket::new(ticket.as_any().encode_to_vec())),
            )
            .with_descriptor(descriptor)
            .with_total_records(total_records)
            .with_ordered(true);
        client.add_query(handle, PlannedQuery::new(plan, schema, task))?;
        Ok(info)
    }

    /// Run an update (DML or DDL) for each parameter row; returns the rows
    /// changed. Several rows outside a transaction run in one, so that
    /// `executemany` commits once, or not at all.
    pub(crate) async fn run_update(
        &self,
        client: &ClientSession,
        runner: Runner,
        prepared: &Prepared,
        rows: Vec<Vec<ScalarValue>>,
    ) -> Result<i64, Status> {
        let wrap = rows.len() > 1
            && prepared.statement.is_transactional()
            && matches!(runner, Runner::Session)
            && !client.session.in_transaction().map_err(status)?;
        if wrap {
            client.session.sql("BEGIN").await.map_err(status)?;
        }
        let mut changed = 0;
        for values in &rows {
            let batches = match self.run(client, &runner, prepared, values).await {
                Ok(frame) => frame.collect().await.map_err(|e| status(e.into())),
                Err(e) => Err(e),
            };
            match batches {
                Ok(batches) => changed += affected_rows(&batches),
                Err(e) => {
                    if wrap {
                        rollback_if_open(&client.session).await?;
                    }
                    return Err(e);
                }
            }
        }
        if wrap {
            client.session.sql("COMMIT").await.map_err(status)?;
        }
        Ok(changed)
    }
}

/// Roll back the session's engine transaction, if one is open.
pub(crate) async fn rollback_if_open(session: &Session) -> Result<(), Status> {
    if session.in_transaction().map_err(status)? {
        session.sql("ROLLBACK").await.map_err(status)?;
    }
    Ok(())
}

/// The rows a DML statement changed: its `count` column; 0 for DDL.
pub(crate) fn affected_rows(batches: &[RecordBatch]) -> i64 {
    batches
        .iter()
        .filter(|b| b.num_columns() == 1 && b.schema().field(0).name() == "count")
        .filter_map(|b| {
            let column =
                arrow::compute::cast(b.column(0), &arrow::datatypes::DataType::Int64).ok()?;
            let column = column
                .as_any()
                .downcast_ref::<arrow::array::Int64Array>()?
                .clone();
            Some(column.iter().flatten().sum::<i64>())
        })
        .sum()
}

/// The parameter rows of bound batches: one value per column.
pub(crate) fn parameter_rows(batches: &[RecordBatch]) -> Result<Vec<Vec<ScalarValue>>, Status> {
    let mut rows = Vec::new();
    for batch in batches {
        for row in 0..batch.num_rows() {
            let values = batch
                .columns()
                .iter()
                .map(|column| ScalarValue::try_from_array(column, row))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| invalid(format!("cannot read parameter row {}: {e}", row + 1)))?;
            rows.push(values);
        }
    }
    Ok(rows)
}

/// A handle or ticket's text, `<session id>/<id>`.
pub(crate) fn split_handle(handle: &[u8], what: &str) -> Result<(String, String), Status> {
    let text = std::str::from_utf8(handle).map_err(|_| {
        invalid(format!(
            "malformed {what}: it is not a handle this server made"
        ))
    })?;
    match text.split_once('/') {
        Some((session, _)) if !session.is_empty() => Ok((session.to_string(), text.to_string())),
        _ => Err(invalid(format!(
            "malformed {what} '{text}': it is not a handle this server made"
        ))),
    }
}

/// A schema as the IPC message Flight SQL carries in byte fields.
pub(crate) fn schema_bytes(schema: &arrow::datatypes::Schema) -> Result<bytes::Bytes, Status> {
    let options = arrow::ipc::writer::IpcWriteOptions::default();
    let message: arrow_flight::IpcMessage = arrow_flight::SchemaAsIpc::new(schema, &options)
        .try_into()
        .map_err(|e| internal("cannot encode a schema", e))?;
    Ok(message.0)
}

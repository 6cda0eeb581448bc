//! The Flight SQL service: one method per command, each thin; the work is
//! in [`crate::statements`], [`crate::actions`], [`crate::catalog`] and
//! [`crate::ingest`].

use std::pin::Pin;
use std::sync::Arc;

use arrow_flight::sql::metadata::{SqlInfoData, XdbcTypeInfoData};
use arrow_flight::sql::server::{FlightSqlService, PeekableFlightDataStream};
use arrow_flight::sql::{
    ActionBeginTransactionRequest, ActionBeginTransactionResult, ActionCancelQueryRequest,
    ActionCancelQueryResult, ActionClosePreparedStatementRequest,
    ActionCreatePreparedStatementRequest, ActionCreatePreparedStatementResult,
    ActionEndTransactionRequest, CommandGetCatalogs, CommandGetDbSchemas, CommandGetPrimaryKeys,
    CommandGetSqlInfo, CommandGetTableTypes, CommandGetTables, CommandGetXdbcTypeInfo,
    CommandPreparedStatementQuery, CommandPreparedStatementUpdate, CommandStatementIngest,
    CommandStatementQuery, CommandStatementUpdate, DoPutPreparedStatementResult, ProstMessageExt,
    SqlInfo, TicketStatementQuery,
};
use arrow_flight::{
    Action, ActionType, CancelFlightInfoRequest, CancelFlightInfoResult, CancelStatus,
    FlightDescriptor, FlightInfo, HandshakeRequest, HandshakeResponse, Ticket,
};
use futures::Stream;
use prost::Message;
use tonic::metadata::MetadataValue;
use tonic::{Request, Response, Status, Streaming};

use crate::auth::Authenticator;
use crate::error::{internal, invalid, status};
use crate::proto;
use crate::results::stream_query;
use crate::sessions::{CallSession, ClientSession, SESSION_COOKIE, SessionKeys, Sessions, lock};
use crate::statements::{parameter_rows, schema_bytes, split_handle};

type FlightStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// Custom action: the server's state as JSON (`sessions`, `running_queries`).
pub const STATUS_ACTION: &str = "floe.status";

/// Floe's Flight SQL service.
#[derive(Clone)]
pub(crate) struct FlightSqlServer {
    pub sessions: Arc<Sessions>,
    pub auth: Arc<Authenticator>,
    pub sql_info: Arc<SqlInfoData>,
    pub xdbc: Arc<XdbcTypeInfoData>,
}

impl FlightSqlServer {
    /// The session of a request (the layer found or made it).
    pub(crate) fn client<T>(&self, request: &Request<T>) -> Result<Arc<ClientSession>, Status> {
        let id = request
            .extensions()
            .get::<CallSession>()
            .ok_or_else(|| Status::internal("the request has no session"))?;
        self.sessions
            .get(&id.0)?
            .ok_or_else(|| Status::not_found("the session was closed"))
    }

    /// The session a handle or ticket names, and the handle.
    pub(crate) fn owner(
        &self,
        handle: &[u8],
        what: &str,
    ) -> Result<(Arc<ClientSession>, String), Status> {
        let (session, handle) = split_handle(handle, what)?;
        let client = self.sessions.get(&session)?.ok_or_else(|| {
            Status::not_found(format!(
                "{what} '{handle}' is not open: its session was closed or expired"
            ))
        })?;
        Ok((client, handle))
    }

    fn prepared(
        &self,
        handle: &[u8],
    ) -> Result<(Arc<ClientSession>, Arc<crate::sessions::Prepared>), Status> {
        let (client, handle) = self.owner(handle, "prepared statement handle")?;
        let prepared = lock(&client.prepared)?
            .get(&handle)
            .cloned()
            .ok_or_else(|| {
                Status::not_found(format!(
                    "prepared statement '{handle}' is not open: it was closed, or never made"
                ))
            })?;
        Ok((client, prepared))
    }

    fn metadata_info<M: ProstMessageExt>(
        &self,
        command: M,
        schema: &arrow::datatypes::Schema,
        descriptor: FlightDescriptor,
    ) -> Result<Response<FlightInfo>, Status> {
        let ticket = Ticket::new(command.as_any().encode_to_vec());
        let info = FlightInfo::new()
            .try_with_schema(schema)
            .map_err(|e| internal("cannot encode a schema", e))?
            .with_endpoint(arrow_flight::FlightEndpoint::new().with_ticket(ticket))
            .with_descriptor(descriptor);
        Ok(Response::new(info))
    }

    fn one_batch(
        &self,
        batch: arrow::array::RecordBatch,
    ) -> Result<Response<FlightStream<arrow_flight::FlightData>>, Status> {
        let schema = batch.schema();
        let stream = crate::results::encode(schema, futures::stream::iter([Ok(batch)]));
        Ok(Response::new(Box::pin(stream)))
    }
}

/// A namespace name quoted part by part.
pub(crate) fn quote_name(name: &str) -> String {
    name.split('.')
        .map(|part| format!("\"{}\"", part.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(".")
}

fn one_result<M: Message>(message: &M) -> Response<FlightStream<arrow_flight::Result>> {
    let result = arrow_flight::Result {
        body: message.encode_to_vec().into(),
    };
    Response::new(Box::pin(futures::stream::iter([Ok(result)])))
}

#[tonic::async_trait]
impl FlightSqlService for FlightSqlServer {
    type FlightService = FlightSqlServer;

    async fn do_handshake(
        &self,
        request: Request<Streaming<HandshakeRequest>>,
    ) -> Result<Response<FlightStream<HandshakeResponse>>, Status> {
        let header = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        let token = self.auth.handshake(header)?;
        let keys = SessionKeys {
            cookie: None,
            token: Some(token.clone()),
            peer: None,
        };
        let (session, _) = self.sessions.resolve(&keys)?;
        let output = futures::stream::iter([Ok(HandshakeResponse {
            protocol_version: 0,
            payload: token.clone().into(),
        })]);
        let mut response: Response<FlightStream<HandshakeResponse>> =
            Response::new(Box::pin(output));
        let bearer = MetadataValue::try_from(format!("Bearer {token}"))
            .map_err(|e| internal("cannot write the token header", e))?;
        response.metadata_mut().insert("authorization", bearer);
        let cookie = MetadataValue::try_from(format!("{SESSION_COOKIE}={}", session.id))
            .map_err(|e| internal("cannot write the session cookie", e))?;
        response.metadata_mut().insert("set-cookie", cookie);
        Ok(response)
    }

    // Statements.

    async fn get_flight_info_statement(
        &self,
        query: CommandStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let client = self.client(&request)?;
        let in_transaction = query.transaction_id.is_some();
        let prepared = self.prepare(&client, &query.query, in_transaction).await?;
        let runner = self
            .runner(&client, query.transaction_id.as_deref(), false)
            .await?;
        let frame = self.run(&client, &runner, &prepared, &[]).await?;
        let info = self
            .flight_info(
                &client,
                frame,
                prepared.statement.returns_rows(),
                request.into_inner(),
            )
            .await?;
        Ok(Response::new(info))
    }

    async fn get_flight_info_prepared_statement(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let (client, prepared) = self.prepared(&query.prepared_statement_handle)?;
        let rows = lock(&prepared.bound)?
            .clone()
            .unwrap_or_else(|| vec![vec![]]);
        let runner = self.runner(&client, None, prepared.in_transaction).await?;
        if !prepared.statement.returns_rows() {
            // ADBC runs DML this way too: run it for every row bound.
            let changed = self.run_update(&client, runner, &prepared, rows).await?;
            let frame = client
                .session
                .session_context()
                .read_batch(crate::catalog::count_batch(changed)?)
                .map_err(|e| status(e.into()))?;
            let info = self
                .flight_info(&client, frame, false, request.into_inner())
                .await?;
            return Ok(Response::new(info));
        }
        let values = match rows.as_slice() {
            [] => return Err(invalid("no parameter row is bound to the prepared query")),
            [one] => one.clone(),
            more => {
                return Err(invalid(format!(
                    "a query runs with one row of parameters; {} rows are bound",
                    more.len()
                )));
            }
        };
        let frame = self.run(&client, &runner, &prepared, &values).await?;
        let info = self
            .flight_info(&client, frame, true, request.into_inner())
            .await?;
        Ok(Response::new(info))
    }

    async fn do_get_statement(
        &self,
        ticket: TicketStatementQuery,
        _request: Request<Ticket>,
    ) -> Result<Response<FlightStream<arrow_flight::FlightData>>, Status> {
        let (client, handle) = self.owner(&ticket.statement_handle, "ticket")?;
        let query = client.take_query(&handle)?.ok_or_else(|| {
            Status::not_found(format!(
                "ticket '{handle}' was read already, or its query was dropped: run it again"
            ))
        })?;
        let stream = stream_query(
            Arc::clone(&self.sessions),
            Arc::clone(&client),
            handle,
            query,
        )?;
        Ok(Response::new(Box::pin(stream)))
    }

    async fn do_put_statement_update(
        &self,
        command: CommandStatementUpdate,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        let client = self.client(&request)?;
        let in_transaction = command.transaction_id.is_some();
        let prepared = self
            .prepare(&client, &command.query, in_transaction)
            .await?;
        let runner = self
            .runner(&client, command.transaction_id.as_deref(), false)
            .await?;
        self.run_update(&client, runner, &prepared, vec![vec![]])
            .await
    }

    async fn do_action_create_prepared_statement(
        &self,
        query: ActionCreatePreparedStatementRequest,
        request: Request<Action>,
    ) -> Result<ActionCreatePreparedStatementResult, Status> {
        let client = self.client(&request)?;
        if let Some(id) = &query.transaction_id {
            // Refuse a transaction that is not this session's.
            self.runner(&client, Some(id), true).await?;
        }
        let prepared = self
            .prepare(&client, &query.query, query.transaction_id.is_some())
            .await?;
        let dataset_schema = match (
            prepared.statement.returns_rows(),
            prepared.statement.schema(),
        ) {
            (true, Some(schema)) => {
                let branch = client.session.branch().map_err(status)?;
                schema_bytes(&crate::results::result_schema(schema, &[], &branch))?
            }
            _ => bytes::Bytes::new(),
        };
        let parameter_schema = match prepared.statement.parameter_count() {
            0 => bytes::Bytes::new(),
            _ => schema_bytes(&prepared.statement.parameter_schema())?,
        };
        let handle = client.new_handle();
        lock(&client.prepared)?.insert(handle.clone(), Arc::new(prepared));
        Ok(ActionCreatePreparedStatementResult {
            prepared_statement_handle: handle.into(),
            dataset_schema,
            parameter_schema,
        })
    }

    async fn do_action_close_prepared_statement(
        &self,
        query: ActionClosePreparedStatementRequest,
        _request: Request<Action>,
    ) -> Result<(), Status> {
        // Closing twice, or after the session expired, is no error.
        if let Ok((client, handle)) = self.owner(
            &query.prepared_statement_handle,
            "prepared statement handle",
        ) {
            lock(&client.prepared)?.remove(&handle);
        } else {
            split_handle(
                &query.prepared_statement_handle,
                "prepared statement handle",
            )?;
        }
        Ok(())
    }

    async fn do_put_prepared_statement_query(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<DoPutPreparedStatementResult, Status> {
        let (_, prepared) = self.prepared(&query.prepared_statement_handle)?;
        let batches = crate::ingest::read_batches(request.into_inner()).await?;
        let rows = parameter_rows(&batches)?;
        check_parameters(&prepared, &rows)?;
        *lock(&prepared.bound)? = Some(rows);
        Ok(DoPutPreparedStatementResult {
            prepared_statement_handle: Some(query.prepared_statement_handle),
        })
    }

    async fn do_put_prepared_statement_update(
        &self,
        query: CommandPreparedStatementUpdate,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        let (client, prepared) = self.prepared(&query.prepared_statement_handle)?;
        let batches = crate::ingest::read_batches(request.into_inner()).await?;
        let sent = parameter_rows(&batches)?;
        let rows = if !sent.is_empty() {
            sent
        } else if let Some(bound) = lock(&prepared.bound)?.clone() {
            bound
        } else if prepared.statement.parameter_count() == 0 {
            vec![vec![]]
        } else {
            Vec::new()
        };
        check_parameters(&prepared, &rows)?;
        let runner = self.runner(&client, None, prepared.in_transaction).await?;
        self.run_update(&client, runner, &prepared, rows).await
    }

    async fn do_put_error_callback(
        &self,
        _request: Request<PeekableFlightDataStream>,
        error: arrow_flight::sql::server::DoPutError,
    ) -> Result<Response<FlightStream<arrow_flight::PutResult>>, Status> {
        Err(invalid(format!(
            "DoPut: {error}: the first message must carry the command's descriptor (a client \
             that ingests no batches may send no message at all)"
        )))
    }

    async fn do_put_statement_ingest(
        &self,
        command: CommandStatementIngest,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        let client = self.client(&request)?;
        self.ingest(&client, command, request.into_inner()).await
    }

    // Transactions.

    async fn do_action_begin_transaction(
        &self,
        _query: ActionBeginTransactionRequest,
        request: Request<Action>,
    ) -> Result<ActionBeginTransactionResult, Status> {
        let client = self.client(&request)?;
        self.begin_transaction(&client)
    }

    async fn do_action_end_transaction(
        &self,
        query: ActionEndTransactionRequest,
        request: Request<Action>,
    ) -> Result<(), Status> {
        let client = self.client(&request)?;
        self.end_transaction(&client, query).await
    }

    async fn do_action_cancel_query(
        &self,
        query: ActionCancelQueryRequest,
        _request: Request<Action>,
    ) -> Result<ActionCancelQueryResult, Status> {
        let info = FlightInfo::decode(query.info)
            .map_err(|e| invalid(format!("CancelQuery: the FlightInfo is malformed: {e}")))?;
        let cancelled = self.cancel(&info)?;
        Ok(ActionCancelQueryResult {
            // ActionCancelQueryResult.CancelResult: CANCELLED = 1, NOT_CANCELLABLE = 3.
            result: if cancelled { 1 } else { 3 },
        })
    }

    async fn do_action_fallback(
        &self,
        request: Request<Action>,
    ) -> Result<Response<FlightStream<arrow_flight::Result>>, Status> {
        let kind = request.get_ref().r#type.clone();
        match kind.as_str() {
            "SetSessionOptions" => {
                let client = self.client(&request)?;
                let body = proto::SetSessionOptionsRequest::decode(request.get_ref().body.clone())
                    .map_err(|e| invalid(format!("SetSessionOptions: malformed request: {e}")))?;
                let result = self.set_session_options(&client, body).await?;
                Ok(one_result(&result))
            }
            "GetSessionOptions" => {
                let client = self.client(&request)?;
                Ok(one_result(&self.session_options(&client).await?))
            }
            "CloseSession" => {
                let client = self.client(&request)?;
                self.sessions.close(&client.id).await?;
                Ok(one_result(&proto::CloseSessionResult {
                    status: proto::CloseSessionStatus::Closed as i32,
                }))
            }
            "CancelFlightInfo" => {
                let body = CancelFlightInfoRequest::decode(request.get_ref().body.clone())
                    .map_err(|e| invalid(format!("CancelFlightInfo: malformed request: {e}")))?;
                let info = body
                    .info
                    .ok_or_else(|| invalid("CancelFlightInfo: the request has no FlightInfo"))?;
                let cancelled = self.cancel(&info)?;
                Ok(one_result(&CancelFlightInfoResult {
                    status: if cancelled {
                        CancelStatus::Cancelled as i32
                    } else {
                        CancelStatus::NotCancellable as i32
                    },
                }))
            }
            STATUS_ACTION => {
                let status = serde_json::json!({
                    "sessions": self.sessions.count(),
                    "running_queries": self.sessions.running_queries.load(std::sync::atomic::Ordering::SeqCst),
                });
                let result = arrow_flight::Result {
                    body: status.to_string().into(),
                };
                Ok(Response::new(Box::pin(futures::stream::iter([Ok(result)]))))
            }
            other => Err(Status::unimplemented(format!(
                "action '{other}' is not one this server knows (see ListActions)"
            ))),
        }
    }

    async fn list_custom_actions(&self) -> Option<Vec<Result<ActionType, Status>>> {
        let action = |name: &str, description: &str| {
            Ok(ActionType {
                r#type: name.to_string(),
                description: description.to_string(),
            })
        };
        Some(vec![
            action(
                "SetSessionOptions",
                "Set session options: catalog (the branch), schema (the namespace)",
            ),
            action("GetSessionOptions", "Get the session's options"),
            action(
                "CloseSession",
                "Close the session, rolling back its transaction",
            ),
            action("CancelFlightInfo", "Cancel a query by its FlightInfo"),
            action(
                STATUS_ACTION,
                "The server's sessions and running queries, as JSON",
            ),
        ])
    }

    // Metadata.

    async fn get_flight_info_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = query.into_builder().schema();
        self.metadata_info(query, &schema, request.into_inner())
    }

    async fn do_get_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<Ticket>,
    ) -> Result<Response<FlightStream<arrow_flight::FlightData>>, Status> {
        let client = self.client(&request)?;
        self.one_batch(crate::catalog::catalogs(&client, query).await?)
    }

    async fn get_flight_info_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = query.clone().into_builder().schema();
        self.metadata_info(query, &schema, request.into_inner())
    }

    async fn do_get_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<Ticket>,
    ) -> Result<Response<FlightStream<arrow_flight::FlightData>>, Status> {
        let client = self.client(&request)?;
        self.one_batch(crate::catalog::db_schemas(&client, query).await?)
    }

    async fn get_flight_info_tables(
        &self,
        query: CommandGetTables,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = query.clone().into_builder().schema();
        self.metadata_info(query, &schema, request.into_inner())
    }

    async fn do_get_tables(
        &self,
        query: CommandGetTables,
        request: Request<Ticket>,
    ) -> Result<Response<FlightStream<arrow_flight::FlightData>>, Status> {
        let client = self.client(&request)?;
        self.one_batch(crate::catalog::tables(&client, query).await?)
    }

    async fn get_flight_info_table_types(
        &self,
        query: CommandGetTableTypes,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = query.into_builder().schema();
        self.metadata_info(query, &schema, request.into_inner())
    }

    async fn do_get_table_types(
        &self,
        query: CommandGetTableTypes,
        _request: Request<Ticket>,
    ) -> Result<Response<FlightStream<arrow_flight::FlightData>>, Status> {
        self.one_batch(crate::catalog::table_types(query)?)
    }

    async fn get_flight_info_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = query.clone().into_builder(&self.sql_info).schema();
        self.metadata_info(query, &schema, request.into_inner())
    }

    async fn do_get_sql_info(
        &self,
        query: CommandGetSqlInfo,
        _request: Request<Ticket>,
    ) -> Result<Response<FlightStream<arrow_flight::FlightData>>, Status> {
        let batch = query
            .into_builder(&self.sql_info)
            .build()
            .map_err(|e| internal("cannot build SqlInfo", e))?;
        self.one_batch(batch)
    }

    async fn get_flight_info_primary_keys(
        &self,
        query: CommandGetPrimaryKeys,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.metadata_info(
            query,
            &crate::catalog::primary_keys_schema(),
            request.into_inner(),
        )
    }

    async fn do_get_primary_keys(
        &self,
        query: CommandGetPrimaryKeys,
        request: Request<Ticket>,
    ) -> Result<Response<FlightStream<arrow_flight::FlightData>>, Status> {
        let client = self.client(&request)?;
        self.one_batch(crate::catalog::primary_keys(&client, query).await?)
    }

    async fn get_flight_info_xdbc_type_info(
        &self,
        query: CommandGetXdbcTypeInfo,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = query.into_builder(&self.xdbc).schema();
        self.metadata_info(query, &schema, request.into_inner())
    }

    async fn do_get_xdbc_type_info(
        &self,
        query: CommandGetXdbcTypeInfo,
        _request: Request<Ticket>,
    ) -> Result<Response<FlightStream<arrow_flight::FlightData>>, Status> {
        let batch = query
            .into_builder(&self.xdbc)
            .build()
            .map_err(|e| internal("cannot build the type info", e))?;
        self.one_batch(batch)
    }

    async fn register_sql_info(&self, _id: i32, _result: &SqlInfo) {}
}

/// Each parameter row has one value per parameter.
fn check_parameters(
    prepared: &crate::sessions::Prepared,
    rows: &[Vec<datafusion::common::ScalarValue>],
) -> Result<(), Status> {
    let wanted = prepared.statement.parameter_count();
    if let Some(row) = rows.iter().find(|r| r.len() != wanted) {
        return Err(invalid(format!(
            "the statement takes {wanted} parameter{}, the bound batch has {} column{}: {}",
            if wanted == 1 { "" } else { "s" },
            row.len(),
            if row.len() == 1 { "" } else { "s" },
            prepared.statement.sql()
        )));
    }
    Ok(())
}

//! The actions around statements: transactions, session options,
//! cancellation.

use arrow_flight::FlightInfo;
use arrow_flight::sql::{
    ActionBeginTransactionResult, ActionEndTransactionRequest, Any, EndTransaction,
    TicketStatementQuery,
};
use prost::Message;
use tonic::Status;

use crate::error::{invalid, status};
use crate::proto;
use crate::service::{FlightSqlServer, quote_name};
use crate::sessions::{ClientSession, lock};

impl FlightSqlServer {
    /// BeginTransaction: one per session at a time.
    pub(crate) fn begin_transaction(
        &self,
        client: &ClientSession,
    ) -> Result<ActionBeginTransactionResult, Status> {
        let mut open = lock(&client.transaction)?;
        if let Some(open) = open.as_ref() {
            return Err(Status::failed_precondition(format!(
                "a transaction is open in this session already ({}): end it before beginning \
                 another",
                String::from_utf8_lossy(&open.id)
            )));
        }
        if client.session.in_transaction().map_err(status)? {
            return Err(Status::failed_precondition(
                "a transaction begun with BEGIN is open in this session: COMMIT or ROLLBACK it \
                 first",
            ));
        }
        let id = uuid::Uuid::new_v4().simple().to_string().into_bytes();
        *open = Some(crate::sessions::Transaction {
            id: id.clone(),
            aborted: None,
        });
        Ok(ActionBeginTransactionResult {
            transaction_id: id.into(),
        })
    }

    /// EndTransaction: COMMIT or ROLLBACK what the transaction wrote (an
    /// aborted one commits nothing).
    pub(crate) async fn end_transaction(
        &self,
        client: &ClientSession,
        query: ActionEndTransactionRequest,
    ) -> Result<(), Status> {
        let open = lock(&client.transaction)?.clone();
        let open = match open {
            Some(open) if open.id == query.transaction_id => open,
            _ => {
                return Err(invalid(format!(
                    "transaction {} is not open in this session",
                    String::from_utf8_lossy(&query.transaction_id)
                )));
            }
        };
        *lock(&client.transaction)? = None;
        let in_engine = client.session.in_transaction().map_err(status)?;
        match EndTransaction::try_from(query.action) {
            Ok(EndTransaction::Commit) => {
                if let Some(reason) = open.aborted {
                    crate::statements::rollback_if_open(&client.session).await?;
                    return Err(Status::aborted(format!(
                        "nothing was committed: the transaction was rolled back when a \
                         statement failed: {reason}"
                    )));
                }
                if in_engine {
                    client.session.sql("COMMIT").await.map_err(status)?;
                }
                Ok(())
            }
            Ok(EndTransaction::Rollback) => {
                if in_engine {
                    client.session.sql("ROLLBACK").await.map_err(status)?;
                }
                Ok(())
            }
            _ => {
                *lock(&client.transaction)? = Some(open);
                Err(invalid(format!(
                    "EndTransaction action {} is neither COMMIT (1) nor ROLLBACK (2)",
                    query.action
                )))
            }
        }
    }

    pub(crate) async fn session_options(
        &self,
        client: &ClientSession,
    ) -> Result<proto::GetSessionOptionsResult, Status> {
        let mut options = std::collections::HashMap::new();
        options.insert(
            "catalog".to_string(),
            proto::SessionOptionValue::string(client.session.branch().map_err(status)?),
        );
        options.insert(
            "schema".to_string(),
            proto::SessionOptionValue::string(client.session.namespace()),
        );
        Ok(proto::GetSessionOptionsResult {
            session_options: options,
        })
    }

    pub(crate) async fn set_session_options(
        &self,
        client: &ClientSession,
        request: proto::SetSessionOptionsRequest,
    ) -> Result<proto::SetSessionOptionsResult, Status> {
        use proto::{OptionValue, SetSessionOptionError, SetSessionOptionErrorValue as E};
        let mut errors = std::collections::HashMap::new();
        let mut error = |name: &str, value: E, why: String| {
            log::info!("session {}: cannot set option '{name}': {why}", client.id);
            errors.insert(
                name.to_string(),
                SetSessionOptionError {
                    value: value as i32,
                },
            );
        };
        let mut names: Vec<&String> = request.session_options.keys().collect();
        names.sort();
        for name in names {
            let value = &request.session_options[name];
            let text = match &value.option_value {
                Some(OptionValue::StringValue(text)) => Some(text.clone()),
                _ => None,
            };
            match (name.as_str(), text) {
                ("catalog", Some(branch)) => {
                    if let Err(e) = client.session.use_branch(&branch).await {
                        error(name, E::InvalidValue, e.to_string());
                    }
                }
                ("schema", Some(namespace)) => {
                    let sql = format!("USE {}", quote_name(&namespace));
                    if let Err(e) = client.session.sql(&sql).await {
                        error(name, E::InvalidValue, e.to_string());
                    }
                }
                ("catalog" | "schema", None) => {
                    error(name, E::InvalidValue, "expected a string".into());
                }
                _ => error(name, E::InvalidName, "unknown option".into()),
            }
        }
        Ok(proto::SetSessionOptionsResult { errors })
    }

    /// Cancel the query a FlightInfo describes: drop it if DoGet has not
    /// started it, stop it if it runs. `true` if there was one to cancel.
    pub(crate) fn cancel(&self, info: &FlightInfo) -> Result<bool, Status> {
        let mut cancelled = false;
        for endpoint in &info.endpoint {
            let Some(ticket) = &endpoint.ticket else {
                continue;
            };
            let any = Any::decode(ticket.ticket.clone())
                .map_err(|e| invalid(format!("the ticket is malformed: {e}")))?;
            let Some(ticket) = any
                .unpack::<TicketStatementQuery>()
                .map_err(|e| invalid(format!("the ticket is malformed: {e}")))?
            else {
                continue;
            };
            let (client, handle) = self.owner(&ticket.statement_handle, "ticket")?;
            cancelled |= client.forget_query(&handle)? | client.cancel(&handle)?;
        }
        Ok(cancelled)
    }
}

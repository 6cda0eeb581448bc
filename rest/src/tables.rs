//! Tables: list (paginated), create (and `stage-create`), load, HEAD,
//! commit, drop, rename, register, metrics reports, and
//! `transactions/commit`. Every commit goes through the engine's commit
//! layer with the client's requirements and updates.

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use floe_engine::{BranchCatalog, NewTable, TableCommit, TableIdent, TableRequirement, TableState};
use iceberg_catalog_rest::{
    CommitTableRequest, CreateTableRequest, RegisterTableRequest, RenameTableRequest,
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::{About, ApiError, RestError, Subject};
use crate::namespaces::{NamespacePath, PrefixPath, parse};
use crate::paths::{Params, list_page, namespace};
use crate::server::{AppState, Shared};

#[derive(Debug, Deserialize)]
pub(crate) struct TablePath {
    prefix: String,
    namespace: String,
    table: String,
}

impl TablePath {
    fn ident(&self) -> Result<TableIdent, ApiError> {
        Ok(TableIdent::new(
            namespace(&self.namespace)?,
            self.table.clone(),
        ))
    }
}

/// A table as the spec's `LoadTableResult` / `CommitTableResponse` carry
/// it; with `refs_only`, only the snapshots a branch or tag points at.
fn table_json(state: &TableState, refs_only: bool) -> Result<Value, ApiError> {
    let mut metadata = serde_json::to_value(&state.metadata)
        .map_err(|e| ApiError::from(floe_engine::FloeError::from(e)))?;
    if refs_only && let Some(object) = metadata.as_object_mut() {
        let heads: Vec<i64> = object
            .get("refs")
            .and_then(Value::as_object)
            .map(|refs| {
                refs.values()
                    .filter_map(|r| r.get("snapshot-id")?.as_i64())
                    .collect()
            })
            .unwrap_or_default();
        if let Some(Value::Array(snapshots)) = object.get_mut("snapshots") {
            snapshots.retain(|s| {
                s.get("snapshot-id")
                    .and_then(Value::as_i64)
                    .is_some_and(|id| heads.contains(&id))
            });
        }
    }
    let mut out = json!({ "metadata": metadata, "config": {} });
    if let Some(location) = &state.metadata_location {
        out["metadata-location"] = Value::from(location.clone());
    }
    Ok(out)
}

/// A load or create result with the server's storage credentials, when
/// it vends them and the request asks for them, as the spec says: in
/// `config` (what PyIceberg reads) and `storage-credentials` (what Java
/// reads).
fn with_credentials(mut body: Value, state: &AppState, headers: &HeaderMap) -> Value {
    let asked = headers
        .get_all("x-iceberg-access-delegation")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|mode| mode.trim() == "vended-credentials");
    if let (true, Some(vended)) = (asked, &state.vended) {
        body["config"] = json!(vended.config);
        body["storage-credentials"] = json!([{"prefix": vended.prefix, "config": vended.config}]);
    }
    body
}

/// `GET /namespaces/{namespace}/tables`: the tables on the prefix's branch.
pub(crate) async fn list(
    State(state): State<Shared>,
    Path(path): Path<NamespacePath>,
    Query(query): Query<Params>,
) -> Result<Response, ApiError> {
    let catalog = state.catalog(&path.prefix).await?;
    let ns = namespace(&path.namespace)?;
    let tables = catalog.list_tables(&ns).await.about(Subject::Namespace)?;
    list_page(tables, &query)
}

/// `POST /namespaces/{namespace}/tables`: create a table, or with
/// `stage-create` only return its first metadata for a later commit.
pub(crate) async fn create(
    State(state): State<Shared>,
    Path(path): Path<NamespacePath>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let catalog = state.catalog(&path.prefix).await?;
    let ns = namespace(&path.namespace)?;
    let request: CreateTableRequest = parse(&body, "create table")?;
    let ident = TableIdent::new(ns, request.name.clone());
    let new = NewTable {
        table: ident.clone(),
        location: request.location,
        schema: request.schema,
        partition_spec: request.partition_spec,
        sort_order: request.write_order,
        properties: request.properties,
    };
    let created = if request.stage_create == Some(true) {
        let staged = catalog.stage_create(new).await.about(Subject::Table)?;
        if let Ok(mut set) = state.staged.lock() {
            set.insert((path.prefix.clone(), ident));
        }
        staged
    } else {
        catalog.create_table(new).await.about(Subject::Table)?
    };
    let body = with_credentials(table_json(&created, false)?, &state, &headers);
    Ok(Json(body).into_response())
}

/// `GET /namespaces/{namespace}/tables/{table}[?snapshots=all|refs]`.
pub(crate) async fn load(
    State(state): State<Shared>,
    Path(path): Path<TablePath>,
    Query(query): Query<Params>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let refs_only = match query.get("snapshots") {
        None | Some("all") => false,
        Some("refs") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "snapshots='{other}': expected 'all' or 'refs'"
            )));
        }
    };
    let catalog = state.catalog(&path.prefix).await?;
    let table = catalog
        .load_table(&path.ident()?)
        .await
        .about(Subject::Table)?;
    let body = with_credentials(table_json(&table, refs_only)?, &state, &headers);
    Ok(Json(body).into_response())
}

/// `HEAD /namespaces/{namespace}/tables/{table}`: 204, or 404.
pub(crate) async fn exists(
    State(state): State<Shared>,
    Path(path): Path<TablePath>,
) -> Result<Response, ApiError> {
    let catalog = state.catalog(&path.prefix).await?;
    Ok(
        match catalog
            .table_exists(&path.ident()?)
            .await
            .about(Subject::Table)?
        {
            true => StatusCode::NO_CONTENT.into_response(),
            false => StatusCode::NOT_FOUND.into_response(),
        },
    )
}

/// One table's commit from a request: a commit to a table that a staged
/// create returned and no commit has made yet creates it (DuckDB sends
/// such commits with no `assert-create`).
async fn table_commit(
    state: &Shared,
    prefix: &str,
    catalog: &BranchCatalog,
    table: TableIdent,
    request: CommitTableRequest,
) -> Result<TableCommit, ApiError> {
    let mut requirements = request.requirements;
    let staged = state
        .staged
        .lock()
        .map(|s| s.contains(&(prefix.to_string(), table.clone())))
        .unwrap_or(false);
    if staged
        && !requirements.contains(&TableRequirement::NotExist)
        && !catalog.table_exists(&table).await.about(Subject::Table)?
    {
        requirements.insert(0, TableRequirement::NotExist);
    }
    Ok(TableCommit {
        table,
        requirements,
        updates: request.updates,
    })
}

fn forget_staged(state: &Shared, prefix: &str, tables: &[TableIdent]) {
    if let Ok(mut staged) = state.staged.lock() {
        for table in tables {
            staged.remove(&(prefix.to_string(), table.clone()));
        }
    }
}

/// `POST /namespaces/{namespace}/tables/{table}`: commit requirements and
/// updates (409 if a requirement fails; the client retries on new
/// metadata).
pub(crate) async fn commit(
    State(state): State<Shared>,
    Path(path): Path<TablePath>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let catalog = state.catalog(&path.prefix).await?;
    let ident = path.ident()?;
    let request: CommitTableRequest = parse(&body, "commit table")?;
    if let Some(named) = &request.identifier
        && named != &ident
    {
        return Err(ApiError::bad_request(format!(
            "the request names table '{named}' but was sent to '{ident}'"
        )));
    }
    let commit = table_commit(&state, &path.prefix, &catalog, ident.clone(), request).await?;
    let mut committed = catalog.commit(vec![commit]).await.about(Subject::Commit)?;
    forget_staged(&state, &path.prefix, std::slice::from_ref(&ident));
    let table = committed.pop().ok_or_else(|| {
        ApiError::from(RestError::Serve(std::io::Error::other(
            "the commit returned no table",
        )))
    })?;
    let mut body = table_json(&table, false)?;
    if let Some(object) = body.as_object_mut() {
        object.remove("config");
    }
    Ok(Json(body).into_response())
}

#[derive(Debug, Deserialize)]
pub(crate) struct TransactionRequest {
    #[serde(rename = "table-changes")]
    table_changes: Vec<CommitTableRequest>,
}

/// `POST /transactions/commit`: several tables, one atomic catalog commit.
pub(crate) async fn commit_transaction(
    State(state): State<Shared>,
    Path(path): Path<PrefixPath>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let catalog = state.catalog(&path.prefix).await?;
    let request: TransactionRequest = parse(&body, "commit transaction")?;
    let mut commits = Vec::with_capacity(request.table_changes.len());
    let mut tables = Vec::new();
    for change in request.table_changes {
        let Some(table) = change.identifier.clone() else {
            return Err(ApiError::bad_request(
                "every table change of a transaction needs its 'identifier'",
            ));
        };
        if tables.contains(&table) {
            return Err(ApiError::bad_request(format!(
                "table '{table}' appears twice in one transaction"
            )));
        }
        tables.push(table.clone());
        commits.push(table_commit(&state, &path.prefix, &catalog, table, change).await?);
    }
    catalog.commit(commits).await.about(Subject::Commit)?;
    forget_staged(&state, &path.prefix, &tables);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `DELETE /namespaces/{namespace}/tables/{table}[?purgeRequested=true]`.
pub(crate) async fn drop(
    State(state): State<Shared>,
    Path(path): Path<TablePath>,
    Query(query): Query<Params>,
) -> Result<Response, ApiError> {
    let catalog = state.catalog(&path.prefix).await?;
    catalog
        .drop_table(&path.ident()?, query.flag("purgeRequested")?)
        .await
        .about(Subject::Table)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /tables/rename`.
pub(crate) async fn rename(
    State(state): State<Shared>,
    Path(path): Path<PrefixPath>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let catalog = state.catalog(&path.prefix).await?;
    let request: RenameTableRequest = parse(&body, "rename table")?;
    let (from, to) = (&request.source, &request.destination);
    match catalog.rename_table(from, to).await {
        Err(floe_engine::FloeError::Catalog(floe_catalog::CatalogError::EntryExists {
            kind: floe_catalog::EntryKind::View,
            ..
        })) => {
            return Err(ApiError::new(
                floe_engine::FloeError::AlreadyExists(format!(
                    "Cannot rename {from} to {to}. View already exists"
                )),
                Subject::Table,
            ));
        }
        other => other.about(Subject::Table)?,
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /namespaces/{namespace}/register`: adopt a metadata file.
pub(crate) async fn register(
    State(state): State<Shared>,
    Path(path): Path<NamespacePath>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let catalog = state.catalog(&path.prefix).await?;
    let ns = namespace(&path.namespace)?;
    let request: RegisterTableRequest = parse(&body, "register table")?;
    let table = catalog
        .register_table(
            &TableIdent::new(ns, request.name),
            &request.metadata_location,
            request.overwrite.unwrap_or(false),
        )
        .await
        .about(Subject::Table)?;
    Ok(Json(table_json(&table, false)?).into_response())
}

/// `POST /namespaces/{namespace}/tables/{table}/metrics`: reports are
/// accepted (and logged at debug level).
pub(crate) async fn metrics(
    State(state): State<Shared>,
    Path(path): Path<TablePath>,
    body: Bytes,
) -> Result<Response, ApiError> {
    state.catalog(&path.prefix).await?;
    let _: HashMap<String, Value> = parse(&body, "report metrics")?;
    log::debug!("metrics report for {}: {} bytes", path.ident()?, body.len());
    Ok(StatusCode::NO_CONTENT.into_response())
}

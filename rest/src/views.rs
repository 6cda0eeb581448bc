//! Views: list (paginated), create, load, HEAD, commit (`assert-view-uuid`
//! and the spec's view updates), drop and rename. A branch prefix shows
//! each view at its version on the branch, and a commit there changes only
//! the branch (see `floe_engine::ops::views`).

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use floe_engine::{TableIdent, ViewRequirement, ViewState};
use iceberg::ViewUpdate;
use iceberg::spec::{Schema, ViewVersion};
use iceberg_catalog_rest::RenameTableRequest;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::{About, ApiError, Subject};
use crate::namespaces::{NamespacePath, PrefixPath, parse};
use crate::paths::{Params, list_page, namespace};
use crate::server::Shared;

#[derive(Debug, Deserialize)]
pub(crate) struct ViewPath {
    prefix: String,
    namespace: String,
    view: String,
}

impl ViewPath {
    fn ident(&self) -> Result<TableIdent, ApiError> {
        Ok(TableIdent::new(
            namespace(&self.namespace)?,
            self.view.clone(),
        ))
    }
}

/// The spec's `CreateViewRequest`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct CreateViewRequest {
    name: String,
    location: Option<String>,
    schema: Schema,
    view_version: ViewVersion,
    #[serde(default)]
    properties: HashMap<String, String>,
}

/// One of the spec's view requirements.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
enum Requirement {
    AssertViewUuid { uuid: uuid::Uuid },
}

/// The spec's `CommitViewRequest`.
#[derive(Debug, Deserialize)]
struct CommitViewRequest {
    identifier: Option<TableIdent>,
    #[serde(default)]
    requirements: Vec<Requirement>,
    updates: Vec<ViewUpdate>,
}

/// The spec's `LoadViewResult`.
fn view_json(state: &ViewState) -> Result<Value, ApiError> {
    let metadata = floe_engine::view_metadata_json(&state.metadata)?;
    Ok(json!({
        "metadata-location": state.metadata_location,
        "metadata": metadata,
        "config": {},
    }))
}

/// `GET /namespaces/{namespace}/views`.
pub(crate) async fn list(
    State(state): State<Shared>,
    Path(path): Path<NamespacePath>,
    Query(query): Query<Params>,
) -> Result<Response, ApiError> {
    let catalog = state.catalog(&path.prefix).await?;
    let ns = namespace(&path.namespace)?;
    let views = catalog.list_views(&ns).await.about(Subject::Namespace)?;
    list_page(views, &query)
}

/// `POST /namespaces/{namespace}/views`.
pub(crate) async fn create(
    State(state): State<Shared>,
    Path(path): Path<NamespacePath>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let catalog = state.catalog(&path.prefix).await?;
    let ns = namespace(&path.namespace)?;
    let request: CreateViewRequest = parse(&body, "create view")?;
    let created = catalog
        .create_view(
            &TableIdent::new(ns, request.name),
            request.location,
            request.schema,
            request.view_version,
            request.properties,
        )
        .await
        .about(Subject::View)?;
    Ok(Json(view_json(&created)?).into_response())
}

/// `GET /namespaces/{namespace}/views/{view}`.
pub(crate) async fn load(
    State(state): State<Shared>,
    Path(path): Path<ViewPath>,
) -> Result<Response, ApiError> {
    let catalog = state.catalog(&path.prefix).await?;
    let view = catalog
        .load_view(&path.ident()?)
        .await
        .about(Subject::View)?;
    Ok(Json(view_json(&view)?).into_response())
}

/// `HEAD /namespaces/{namespace}/views/{view}`: 204, or 404.
pub(crate) async fn exists(
    State(state): State<Shared>,
    Path(path): Path<ViewPath>,
) -> Result<Response, ApiError> {
    let catalog = state.catalog(&path.prefix).await?;
    match catalog.load_view(&path.ident()?).await {
        Ok(_) => Ok(StatusCode::NO_CONTENT.into_response()),
        Err(e) if e.kind() == floe_engine::ErrorKind::NotFound => {
            Ok(StatusCode::NOT_FOUND.into_response())
        }
        Err(e) => Err(ApiError::new(e, Subject::View)),
    }
}

/// `POST /namespaces/{namespace}/views/{view}`: commit requirements and
/// updates.
pub(crate) async fn commit(
    State(state): State<Shared>,
    Path(path): Path<ViewPath>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let catalog = state.catalog(&path.prefix).await?;
    let ident = path.ident()?;
    let request: CommitViewRequest = parse(&body, "commit view")?;
    if let Some(named) = &request.identifier
        && named != &ident
    {
        return Err(ApiError::bad_request(format!(
            "the request names view '{named}' but was sent to '{ident}'"
        )));
    }
    let requirements = request
        .requirements
        .into_iter()
        .map(|Requirement::AssertViewUuid { uuid }| ViewRequirement::AssertViewUuid(uuid))
        .collect();
    let view = catalog
        .commit_view(&ident, requirements, request.updates)
        .await
        .about(Subject::View)?;
    Ok(Json(view_json(&view)?).into_response())
}

/// `DELETE /namespaces/{namespace}/views/{view}`.
pub(crate) async fn drop(
    State(state): State<Shared>,
    Path(path): Path<ViewPath>,
) -> Result<Response, ApiError> {
    let catalog = state.catalog(&path.prefix).await?;
    catalog
        .drop_view(&path.ident()?)
        .await
        .about(Subject::View)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /views/rename`.
pub(crate) async fn rename(
    State(state): State<Shared>,
    Path(path): Path<PrefixPath>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let catalog = state.catalog(&path.prefix).await?;
    let request: RenameTableRequest = parse(&body, "rename view")?;
    catalog
        .rename_view(&request.source, &request.destination)
        .await
        .about(Subject::View)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

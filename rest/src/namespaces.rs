//! Namespaces: list (paginated), create, load, HEAD, drop, properties.
//! Namespaces are the warehouse's: every branch's prefix serves the same.

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use floe_catalog::NamespaceIdent;
use iceberg_catalog_rest::{
    CreateNamespaceRequest, ListNamespaceResponse, NamespaceResponse,
    UpdateNamespacePropertiesRequest, UpdateNamespacePropertiesResponse,
};
use serde::Deserialize;

use crate::error::{About, ApiError, Subject};
use crate::paths::{Params, namespace, page};
use crate::server::Shared;

/// A body parsed as the spec's request type; a 400 naming what is wrong.
pub(crate) fn parse<T: serde::de::DeserializeOwned>(
    body: &Bytes,
    what: &str,
) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("malformed {what} request: {e}")))
}

#[derive(Debug, Deserialize)]
pub(crate) struct PrefixPath {
    pub(crate) prefix: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct NamespacePath {
    pub(crate) prefix: String,
    pub(crate) namespace: String,
}

/// `GET /namespaces[?parent=]`: the namespaces one level below `parent`
/// (the top level without one).
pub(crate) async fn list(
    State(state): State<Shared>,
    Path(path): Path<PrefixPath>,
    Query(query): Query<Params>,
) -> Result<Response, ApiError> {
    state.catalog(&path.prefix).await?;
    let parent = match query.get("parent") {
        Some(p) => namespace(p)?.inner(),
        None => Vec::new(),
    };
    if !parent.is_empty()
        && !state
            .engine
            .namespace_exists(&namespace_of(&parent)?)
            .await
            .about(Subject::Namespace)?
    {
        return Err(ApiError::new(
            floe_engine::FloeError::Catalog(floe_catalog::CatalogError::NamespaceNotFound(
                namespace_of(&parent)?,
            )),
            Subject::Namespace,
        ));
    }
    let mut children: Vec<Vec<String>> = Vec::new();
    for ns in state.engine.list_namespaces().await? {
        let levels = ns.inner();
        if levels.len() > parent.len() && levels[..parent.len()] == parent[..] {
            let child = levels[..=parent.len()].to_vec();
            if !children.contains(&child) {
                children.push(child);
            }
        }
    }
    children.sort();
    let (children, next) = page(
        children,
        |c| c.join("\u{1f}"),
        query.get("pageToken"),
        query.size("pageSize")?,
    )?;
    let namespaces = children
        .into_iter()
        .map(|c| namespace_of(&c))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Json(ListNamespaceResponse {
        namespaces,
        next_page_token: next,
    })
    .into_response())
}

fn namespace_of(levels: &[String]) -> Result<NamespaceIdent, ApiError> {
    NamespaceIdent::from_vec(levels.to_vec()).map_err(|e| ApiError::bad_request(e.to_string()))
}

/// `POST /namespaces`.
pub(crate) async fn create(
    State(state): State<Shared>,
    Path(path): Path<PrefixPath>,
    body: Bytes,
) -> Result<Response, ApiError> {
    state.catalog(&path.prefix).await?;
    let request: CreateNamespaceRequest = parse(&body, "create namespace")?;
    state
        .engine
        .create_namespace(&request.namespace, request.properties.clone())
        .await
        .about(Subject::Namespace)?;
    Ok(Json(NamespaceResponse {
        namespace: request.namespace,
        properties: request.properties,
    })
    .into_response())
}

/// `GET /namespaces/{namespace}`: its properties.
pub(crate) async fn load(
    State(state): State<Shared>,
    Path(path): Path<NamespacePath>,
) -> Result<Response, ApiError> {
    state.catalog(&path.prefix).await?;
    let ns = namespace(&path.namespace)?;
    let properties = state
        .engine
        .namespace_properties(&ns)
        .await
        .about(Subject::Namespace)?;
    Ok(Json(NamespaceResponse {
        namespace: ns,
        properties,
    })
    .into_response())
}

/// `HEAD /namespaces/{namespace}`: 204 if it exists, else 404.
pub(crate) async fn exists(
    State(state): State<Shared>,
    Path(path): Path<NamespacePath>,
) -> Result<Response, ApiError> {
    state.catalog(&path.prefix).await?;
    let ns = namespace(&path.namespace)?;
    Ok(
        match state
            .engine
            .namespace_exists(&ns)
            .await
            .about(Subject::Namespace)?
        {
            true => StatusCode::NO_CONTENT.into_response(),
            false => StatusCode::NOT_FOUND.into_response(),
        },
    )
}

/// `DELETE /namespaces/{namespace}`: an empty namespace only (409 if it
/// holds tables).
pub(crate) async fn drop(
    State(state): State<Shared>,
    Path(path): Path<NamespacePath>,
) -> Result<Response, ApiError> {
    state.catalog(&path.prefix).await?;
    let ns = namespace(&path.namespace)?;
    state
        .engine
        .drop_namespace(&ns)
        .await
        .about(Subject::Namespace)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /namespaces/{namespace}/properties`: removals and updates at
/// once (a key in both is a 400, as the spec says).
pub(crate) async fn update_properties(
    State(state): State<Shared>,
    Path(path): Path<NamespacePath>,
    body: Bytes,
) -> Result<Response, ApiError> {
    state.catalog(&path.prefix).await?;
    let ns = namespace(&path.namespace)?;
    let request: UpdateNamespacePropertiesRequest = parse(&body, "update namespace properties")?;
    let removals = request.removals.unwrap_or_default();
    if let Some(both) = removals.iter().find(|k| request.updates.contains_key(*k)) {
        return Err(ApiError::bad_request(format!(
            "property '{both}' is both removed and updated"
        )));
    }
    let updates: HashMap<String, String> = request.updates;
    let mut updated: Vec<String> = updates.keys().cloned().collect();
    updated.sort();
    let missing = state
        .engine
        .update_namespace_properties(&ns, removals.clone(), updates)
        .await
        .about(Subject::Namespace)?;
    let removed = removals
        .into_iter()
        .filter(|k| !missing.contains(k))
        .collect();
    Ok(Json(UpdateNamespacePropertiesResponse {
        updated,
        removed,
        missing: (!missing.is_empty()).then_some(missing),
    })
    .into_response())
}

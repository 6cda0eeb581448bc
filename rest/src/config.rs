//! `GET /v1/config`: the prefix that serves the warehouse branch a client
//! asks for, and the endpoints served; `POST /v1/oauth/tokens`: OAuth2
//! client credentials (a user and password of the users file) for a
//! bearer token.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use serde::Deserialize;
use serde_json::json;

use crate::error::{ApiError, RestError};
use crate::paths::{Params, prefix_of};
use crate::server::{IDEMPOTENCY_LIFETIME, Shared};

/// Every endpoint served, as `/v1/config` lists them.
pub(crate) const ENDPOINTS: &[&str] = &[
    "GET /v1/{prefix}/namespaces",
    "POST /v1/{prefix}/namespaces",
    "GET /v1/{prefix}/namespaces/{namespace}",
    "HEAD /v1/{prefix}/namespaces/{namespace}",
    "DELETE /v1/{prefix}/namespaces/{namespace}",
    "POST /v1/{prefix}/namespaces/{namespace}/properties",
    "GET /v1/{prefix}/namespaces/{namespace}/tables",
    "POST /v1/{prefix}/namespaces/{namespace}/tables",
    "GET /v1/{prefix}/namespaces/{namespace}/tables/{table}",
    "HEAD /v1/{prefix}/namespaces/{namespace}/tables/{table}",
    "POST /v1/{prefix}/namespaces/{namespace}/tables/{table}",
    "DELETE /v1/{prefix}/namespaces/{namespace}/tables/{table}",
    "POST /v1/{prefix}/namespaces/{namespace}/register",
    "POST /v1/{prefix}/namespaces/{namespace}/tables/{table}/metrics",
    "POST /v1/{prefix}/tables/rename",
    "POST /v1/{prefix}/transactions/commit",
    "GET /v1/{prefix}/namespaces/{namespace}/views",
    "POST /v1/{prefix}/namespaces/{namespace}/views",
    "GET /v1/{prefix}/namespaces/{namespace}/views/{view}",
    "HEAD /v1/{prefix}/namespaces/{namespace}/views/{view}",
    "POST /v1/{prefix}/namespaces/{namespace}/views/{view}",
    "DELETE /v1/{prefix}/namespaces/{namespace}/views/{view}",
    "POST /v1/{prefix}/views/rename",
];

/// `GET /v1/config[?warehouse=<branch>]`: `overrides.prefix` serves that
/// warehouse branch (`main` when none is named).
pub(crate) async fn config(
    State(state): State<Shared>,
    Query(query): Query<Params>,
) -> Result<Response, ApiError> {
    let name = query.get("warehouse").unwrap_or("main").to_string();
    // The branch must exist (and a pin must make sense).
    let catalog = state.catalog(&name).await.map_err(|e| {
        ApiError::bad_request(format!(
            "warehouse '{name}' is not a branch of this warehouse ({}); name a branch, e.g. \
             'main', or a pinned one, e.g. 'main@2026-11-20T10:00:00Z'",
            e.error
        ))
    })?;
    let mut defaults = HashMap::new();
    if catalog.pinned_at().is_some() {
        defaults.insert("floe.read-only".to_string(), "true".to_string());
    }
    Ok(Json(json!({
        "defaults": defaults,
        "overrides": { "prefix": prefix_of(&name) },
        "endpoints": ENDPOINTS,
        "idempotency-key-lifetime": format!("PT{}M", IDEMPOTENCY_LIFETIME.as_secs() / 60),
    }))
    .into_response())
}

#[derive(Debug, Deserialize)]
pub(crate) struct TokenRequest {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    #[allow(dead_code)]
    scope: Option<String>,
}

/// `POST /v1/oauth/tokens` (form-encoded): `grant_type=client_credentials`
/// with `client_id` and `client_secret` (or basic auth) gives a bearer
/// token, as OAuth2 says; errors are OAuth2's `{"error": ...}`.
pub(crate) async fn tokens(
    State(state): State<Shared>,
    headers: axum::http::HeaderMap,
    Form(request): Form<TokenRequest>,
) -> Response {
    let oauth_error = |status: StatusCode, error: &str, description: String| {
        (
            status,
            Json(json!({ "error": error, "error_description": description })),
        )
            .into_response()
    };
    if request.grant_type.as_deref() != Some("client_credentials") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            format!(
                "grant_type '{}' is not supported: use client_credentials",
                request.grant_type.unwrap_or_default()
            ),
        );
    }
    let basic = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| floe_auth::strip_scheme(h, "Basic"))
        .and_then(|b| floe_auth::decode_basic(b).ok());
    let (user, secret) = match (request.client_id, request.client_secret, basic) {
        (Some(id), Some(secret), _) => (id, secret),
        (_, _, Some(basic)) => basic,
        (id, _, None) => (id.unwrap_or_default(), String::new()),
    };
    match state.auth.issue(&user, &secret) {
        Ok(token) => Json(json!({
            "access_token": token,
            "token_type": "bearer",
            "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
            "expires_in": floe_auth::TOKEN_LIFETIME.as_secs(),
        }))
        .into_response(),
        Err(e) => oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", e.to_string()),
    }
}

impl From<floe_auth::AuthError> for RestError {
    fn from(e: floe_auth::AuthError) -> Self {
        RestError::Unauthorized(e.to_string())
    }
}

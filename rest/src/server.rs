//! The listener, the router and what every request shares: the engine,
//! the credentials, the idempotency keys seen and the staged creates.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use floe_auth::{Authenticator, Credentials};
use floe_engine::{BranchCatalog, Engine, TableIdent};

use crate::error::{ApiError, RestError, Result};
use crate::{config, namespaces, tables, views};

/// How long a response is kept for its `Idempotency-Key` (advertised in
/// `/v1/config` as `idempotency-key-lifetime`).
pub(crate) const IDEMPOTENCY_LIFETIME: Duration = Duration::from_secs(30 * 60);

/// How the server runs.
#[derive(Debug, Clone, Default)]
pub struct RestConfig {
    /// Who may call; with none configured, anyone on the address may.
    pub credentials: Credentials,
    /// Storage credentials to vend: file IO properties (`s3.access-key-id`,
    /// `s3.endpoint`, …) that a table's load result carries in `config`
    /// and `storage-credentials` when the client asks for them
    /// (`X-Iceberg-Access-Delegation: vended-credentials`). See
    /// [`RestConfig::s3_credentials_from_env`].
    pub vended_credentials: Option<VendedCredentials>,
}

/// Storage credentials a server hands to its clients, for the files under
/// `prefix`.
#[derive(Debug, Clone, Default)]
pub struct VendedCredentials {
    /// The storage prefix they are good for (the warehouse).
    pub prefix: String,
    /// The file IO properties, as Iceberg's clients name them.
    pub config: HashMap<String, String>,
}

impl RestConfig {
    /// The server's own S3 credentials and endpoint, from the standard
    /// `AWS_*` variables (those Floe's S3 store reads), as Iceberg's file IO
    /// properties for the warehouse `prefix`; `None` when no key is set.
    /// These are the server's long-lived keys, not scoped ones: vend them
    /// only to clients that may read and write the whole warehouse.
    pub fn s3_credentials_from_env(prefix: &str) -> Option<VendedCredentials> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let mut config = HashMap::new();
        config.insert("s3.access-key-id".to_string(), var("AWS_ACCESS_KEY_ID")?);
        for (property, names) in [
            ("s3.secret-access-key", &["AWS_SECRET_ACCESS_KEY"][..]),
            ("s3.session-token", &["AWS_SESSION_TOKEN"][..]),
            ("s3.region", &["AWS_REGION", "AWS_DEFAULT_REGION"][..]),
            ("s3.endpoint", &["AWS_ENDPOINT_URL", "AWS_ENDPOINT"][..]),
        ] {
            if let Some(value) = names.iter().find_map(|name| var(name)) {
                config.insert(property.to_string(), value);
            }
        }
        if let Some(region) = config.get("s3.region").cloned() {
            config.insert("client.region".to_string(), region);
        }
        // A store at its own endpoint is addressed by path, as Floe's is.
        if config.contains_key("s3.endpoint")
            && var("AWS_VIRTUAL_HOSTED_STYLE_REQUEST").as_deref() != Some("true")
        {
            config.insert("s3.path-style-access".to_string(), "true".to_string());
        }
        Some(VendedCredentials {
            prefix: prefix.to_string(),
            config,
        })
    }
}

/// What every request shares.
pub(crate) struct AppState {
    pub(crate) engine: Engine,
    pub(crate) auth: Authenticator,
    /// Responses by `Idempotency-Key`, with when they were made.
    replies: Mutex<HashMap<String, (Instant, StatusCode, HeaderMap, axum::body::Bytes)>>,
    /// Tables a `stage-create` returned metadata for, by prefix.
    pub(crate) staged: Mutex<HashSet<(String, TableIdent)>>,
    /// What clients that ask for vended credentials get.
    pub(crate) vended: Option<VendedCredentials>,
}

pub(crate) type Shared = Arc<AppState>;

impl AppState {
    /// The catalog a prefix serves (percent-decoded already).
    pub(crate) async fn catalog(&self, prefix: &str) -> Result<BranchCatalog, ApiError> {
        Ok(self.engine.branch_catalog(prefix).await?)
    }
}

/// The Iceberg REST catalog server, bound and ready to serve.
///
/// ```no_run
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let engine = floe_engine::Engine::open("/data/wh").await?;
/// let listener = floe_rest::RestListener::bind(engine, "127.0.0.1:8181", Default::default()).await?;
/// println!("serving on http://{}", listener.local_addr()?);
/// listener.serve(async { tokio::signal::ctrl_c().await.ok(); }).await?;
/// # Ok(())
/// # }
/// ```
pub struct RestListener {
    listener: tokio::net::TcpListener,
    router: Router,
}

impl RestListener {
    /// Listen on `addr` (`127.0.0.1:0` picks a free port).
    pub async fn bind(engine: Engine, addr: &str, config: RestConfig) -> Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| RestError::Bind {
                addr: addr.to_string(),
                source,
            })?;
        let state = Arc::new(AppState {
            engine,
            auth: Authenticator::new(config.credentials),
            replies: Mutex::new(HashMap::new()),
            staged: Mutex::new(HashSet::new()),
            vended: config.vended_credentials,
        });
        Ok(Self {
            listener,
            router: router(state),
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.listener.local_addr().map_err(RestError::Serve)
    }

    /// Serve until `shutdown` completes.
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<()> {
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(RestError::Serve)
    }
}

/// Every route: the catalog's under `/v1/{prefix}` (`/v1/config` always
/// gives a prefix), config and tokens under `/v1`.
fn router(state: Shared) -> Router {
    let api = |base: &str| {
        Router::new()
            .route(
                &format!("{base}/namespaces"),
                get(namespaces::list).post(namespaces::create),
            )
            .route(
                &format!("{base}/namespaces/{{namespace}}"),
                get(namespaces::load)
                    .head(namespaces::exists)
                    .delete(namespaces::drop),
            )
            .route(
                &format!("{base}/namespaces/{{namespace}}/properties"),
                post(namespaces::update_properties),
            )
            .route(
                &format!("{base}/namespaces/{{namespace}}/tables"),
                get(tables::list).post(tables::create),
            )
            .route(
                &format!("{base}/namespaces/{{namespace}}/register"),
                post(tables::register),
            )
            .route(
                &format!("{base}/namespaces/{{namespace}}/tables/{{table}}"),
                get(tables::load)
                    .head(tables::exists)
                    .post(tables::commit)
                    .delete(tables::drop),
            )
            .route(
                &format!("{base}/namespaces/{{namespace}}/tables/{{table}}/metrics"),
                post(tables::metrics),
            )
            .route(&format!("{base}/tables/rename"), post(tables::rename))
            .route(
                &format!("{base}/namespaces/{{namespace}}/views"),
                get(views::list).post(views::create),
            )
            .route(
                &format!("{base}/namespaces/{{namespace}}/views/{{view}}"),
                get(views::load)
                    .head(views::exists)
                    .post(views::commit)
                    .delete(views::drop),
            )
            .route(&format!("{base}/views/rename"), post(views::rename))
            .route(
                &format!("{base}/transactions/commit"),
                post(tables::commit_transaction),
            )
    };
    Router::new()
        .route("/v1/config", get(config::config))
        .route("/v1/oauth/tokens", post(config::tokens))
        .merge(api("/v1/{prefix}").with_state(Arc::clone(&state)))
        .fallback(no_route)
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            idempotent,
        ))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            authenticate,
        ))
        .with_state(state)
}

async fn no_route(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError::from(RestError::NoRoute(format!(
        "this Iceberg REST catalog serves no {method} {}: see GET /v1/config for its endpoints",
        uri.path()
    )))
}

/// Every request but the token endpoint needs valid credentials (401).
async fn authenticate(State(state): State<Shared>, request: Request, next: Next) -> Response {
    if request.uri().path() == "/v1/oauth/tokens" {
        return next.run(request).await;
    }
    let header = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok());
    match state.auth.check_header(header) {
        Ok(_) => next.run(request).await,
        Err(e) => ApiError::from(RestError::Unauthorized(format!(
            "{e}: send 'Authorization: Bearer <token>' (a static token, or one from \
             POST /v1/oauth/tokens with grant_type=client_credentials)"
        )))
        .into_response(),
    }
}

/// A mutation sent again with the same `Idempotency-Key` gets the first
/// response again instead of running twice (server errors are not kept:
/// the client may retry those).
async fn idempotent(State(state): State<Shared>, request: Request, next: Next) -> Response {
    let key = request
        .headers()
        .get("idempotency-key")
        .and_then(|h| h.to_str().ok())
        .map(|k| format!("{} {} {k}", request.method(), request.uri().path()));
    let Some(key) = key.filter(|_| request.method() != Method::GET) else {
        return next.run(request).await;
    };
    if let Some(reply) = state.replay(&key) {
        return reply;
    }
    let response = next.run(request).await;
    if response.status().is_server_error() {
        return response;
    }
    let (parts, body) = response.into_parts();
    let bytes = match to_bytes(body, usize::MAX).await {
        Ok(bytes) => bytes,
        Err(e) => {
            return ApiError::from(RestError::Serve(std::io::Error::other(e.to_string())))
                .into_response();
        }
    };
    if let Ok(mut replies) = state.replies.lock() {
        let now = Instant::now();
        replies.retain(|_, (at, ..)| now.duration_since(*at) < IDEMPOTENCY_LIFETIME);
        replies.insert(
            key,
            (now, parts.status, parts.headers.clone(), bytes.clone()),
        );
    }
    Response::from_parts(parts, Body::from(bytes))
}

impl AppState {
    fn replay(&self, key: &str) -> Option<Response> {
        let replies = self.replies.lock().ok()?;
        let (at, status, headers, body) = replies.get(key)?;
        if at.elapsed() >= IDEMPOTENCY_LIFETIME {
            return None;
        }
        let mut response = Response::new(Body::from(body.clone()));
        *response.status_mut() = *status;
        *response.headers_mut() = headers.clone();
        Some(response)
    }
}

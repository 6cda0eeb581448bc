//! The crate's error type, and the REST spec's error responses: an HTTP
//! status and `{"error": {"message", "type", "code"}}`, with the exception
//! type names the Java, Python and C++ clients map to their own errors.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use floe_catalog::{CatalogError, EntryKind};
use floe_engine::{ErrorKind, FloeError};
use iceberg_catalog_rest::ErrorModel;

/// Why the server could not start, or why a request failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RestError {
    /// The address could not be listened on.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// The HTTP server failed.
    #[error("REST catalog server: {0}")]
    Serve(std::io::Error),
    /// The request is not valid: a body that does not parse, an unknown
    /// requirement or update, a bad parameter.
    #[error("{0}")]
    BadRequest(String),
    /// No valid credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// Nothing is served at this path.
    #[error("{0}")]
    NoRoute(String),
    /// The engine failed.
    #[error(transparent)]
    Engine(#[from] FloeError),
}

/// The crate's result type.
pub type Result<T, E = RestError> = std::result::Result<T, E>;

/// What a request was about, for the type of a "not found" error: a
/// missing namespace is `NoSuchNamespaceException` whatever the endpoint,
/// anything else missing is the endpoint's subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Subject {
    Namespace,
    Table,
    /// A commit to a table: as [`Subject::Table`], and a failed
    /// `assert-create` is worded as Java words the requirement.
    Commit,
    View,
    Other,
}

/// An error as a REST response, about `subject`.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) error: RestError,
    pub(crate) subject: Subject,
}

impl ApiError {
    pub(crate) fn new(error: impl Into<RestError>, subject: Subject) -> Self {
        Self {
            error: error.into(),
            subject,
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(RestError::BadRequest(message.into()), Subject::Other)
    }

    /// The status and exception type of the response.
    pub(crate) fn status_and_type(&self) -> (StatusCode, &'static str) {
        let engine = match &self.error {
            RestError::BadRequest(_) => {
                return (StatusCode::BAD_REQUEST, "BadRequestException");
            }
            RestError::Unauthorized(_) => {
                return (StatusCode::UNAUTHORIZED, "NotAuthorizedException");
            }
            RestError::NoRoute(_) => return (StatusCode::NOT_FOUND, "NoSuchEndpointException"),
            RestError::Bind { .. } | RestError::Serve(_) => {
                return (StatusCode::INTERNAL_SERVER_ERROR, "ServerErrorException");
            }
            RestError::Engine(e) => e,
        };
        if let FloeError::Catalog(catalog) = engine.root() {
            match catalog {
                CatalogError::NamespaceNotFound(_) => {
                    return (StatusCode::NOT_FOUND, "NoSuchNamespaceException");
                }
                CatalogError::TableNotFound(_) => {
                    return (StatusCode::NOT_FOUND, "NoSuchTableException");
                }
                CatalogError::NamespaceNotEmpty { .. } => {
                    return (StatusCode::CONFLICT, "NamespaceNotEmptyException");
                }
                CatalogError::TableAlreadyExists(_) | CatalogError::NamespaceAlreadyExists(_) => {
                    return (StatusCode::CONFLICT, "AlreadyExistsException");
                }
                CatalogError::CommitConflict { .. } => {
                    return (StatusCode::CONFLICT, "CommitFailedException");
                }
                _ => {}
            }
        }
        match engine.kind() {
            ErrorKind::NotFound => (
                StatusCode::NOT_FOUND,
                match self.subject {
                    Subject::Namespace => "NoSuchNamespaceException",
                    Subject::Table | Subject::Commit => "NoSuchTableException",
                    Subject::View => "NoSuchViewException",
                    Subject::Other => "NotFoundException",
                },
            ),
            ErrorKind::AlreadyExists => (StatusCode::CONFLICT, "AlreadyExistsException"),
            // Java's clients raise a view's invalid metadata as it is.
            ErrorKind::InvalidInput if self.subject == Subject::View => {
                (StatusCode::BAD_REQUEST, "IllegalArgumentException")
            }
            ErrorKind::InvalidInput => (StatusCode::BAD_REQUEST, "BadRequestException"),
            ErrorKind::Conflict => (StatusCode::CONFLICT, "CommitFailedException"),
            ErrorKind::Unsupported => (StatusCode::NOT_ACCEPTABLE, "UnsupportedOperationException"),
            ErrorKind::Unauthenticated => (StatusCode::UNAUTHORIZED, "NotAuthorizedException"),
            ErrorKind::PermissionDenied => (StatusCode::FORBIDDEN, "ForbiddenException"),
            ErrorKind::Unavailable | ErrorKind::ResourceExhausted => (
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailableException",
            ),
            ErrorKind::Cancelled | ErrorKind::Internal => {
                (StatusCode::INTERNAL_SERVER_ERROR, "ServerErrorException")
            }
            // ErrorKind is non-exhaustive.
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "ServerErrorException"),
        }
    }
}

impl<E: Into<RestError>> From<E> for ApiError {
    fn from(error: E) -> Self {
        Self::new(error, Subject::Other)
    }
}

impl ApiError {
    /// The message: for the errors clients test for, worded exactly as
    /// Java Iceberg's catalogs word them (the REST Compatibility Kit
    /// compares them), followed by what Floe adds, if anything.
    fn message(&self) -> String {
        let text = self.error.to_string();
        let RestError::Engine(engine) = &self.error else {
            return text;
        };
        let catalog = match engine.root() {
            FloeError::Catalog(catalog) => catalog,
            FloeError::RequirementFailed(failed) => {
                return match &failed.java {
                    Some(java) => format!("{java} ({text})"),
                    None => text,
                };
            }
            _ => return text,
        };
        let java = match catalog {
            CatalogError::TableAlreadyExists(_) if self.subject == Subject::Commit => {
                "Requirement failed: table already exists".to_string()
            }
            CatalogError::TableNotFound(t) if self.subject == Subject::View => {
                format!("View does not exist: {t}")
            }
            CatalogError::TableNotFound(t) => format!("Table does not exist: {t}"),
            CatalogError::EntryExists { kind, name }
                if *kind == EntryKind::View && self.subject == Subject::View =>
            {
                format!("View already exists: {name}")
            }
            CatalogError::EntryExists { kind, name } if *kind == EntryKind::View => {
                format!("View with same name already exists: {name}")
            }
            CatalogError::EntryExists { name, .. } => {
                format!("Table with same name already exists: {name}")
            }
            CatalogError::NamespaceNotFound(ns) => {
                format!("Namespace does not exist: {}", ns.join("."))
            }
            CatalogError::TableAlreadyExists(t) => format!("Table already exists: {t}"),
            CatalogError::NamespaceAlreadyExists(ns) => {
                format!("Namespace already exists: {}", ns.join("."))
            }
            CatalogError::NamespaceNotEmpty { namespace, tables } => format!(
                "Namespace {} is not empty: it holds {tables} table(s)",
                namespace.join(".")
            ),
            _ => return text,
        };
        if matches!(engine, FloeError::Catalog(_)) {
            java
        } else {
            format!("{java} ({text})")
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, kind) = self.status_and_type();
        if status.is_server_error() {
            log::error!("REST request failed: {}", self.error);
        }
        let body = serde_json::json!({
            "error": ErrorModel {
                message: self.message(),
                r#type: kind.to_string(),
                code: status.as_u16(),
                stack: None,
            }
        });
        (status, axum::Json(body)).into_response()
    }
}

/// Tag a result's error with what the request was about.
pub(crate) trait About<T> {
    fn about(self, subject: Subject) -> Result<T, ApiError>;
}

impl<T, E: Into<RestError>> About<T> for std::result::Result<T, E> {
    fn about(self, subject: Subject) -> Result<T, ApiError> {
        self.map_err(|e| ApiError::new(e, subject))
    }
}

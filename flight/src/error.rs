//! The crate's error type, and how the engine's errors become gRPC
//! statuses.

use floe_engine::FloeError;
use tonic::{Code, Status};

/// Why the server could not start or a request failed before the engine
/// saw it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FlightError {
    /// The address could not be listened on.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// A file the server needs (TLS certificate or key, users file) could
    /// not be read.
    #[error("cannot read {path}: {source}")]
    ReadFile {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The credentials could not be set up.
    #[error(transparent)]
    Auth(#[from] floe_auth::AuthError),
    /// A setting is not valid.
    #[error("{0}")]
    Config(String),
    /// The gRPC transport failed.
    #[error("Flight SQL server: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// The engine failed.
    #[error(transparent)]
    Engine(#[from] FloeError),
}

/// The crate's result type.
pub type Result<T, E = FlightError> = std::result::Result<T, E>;

/// The status a client gets for an engine error: the code of its kind
/// (NOT_FOUND, ALREADY_EXISTS, INVALID_ARGUMENT, ABORTED for conflicts,
/// ...) and the engine's message.
pub(crate) fn status(error: FloeError) -> Status {
    let code = Code::from_i32(error.kind().grpc_code());
    Status::new(code, error.to_string())
}

/// An INVALID_ARGUMENT status.
pub(crate) fn invalid(message: impl Into<String>) -> Status {
    Status::invalid_argument(message)
}

/// An INTERNAL status for an Arrow or encoding failure.
pub(crate) fn internal(what: &str, error: impl std::fmt::Display) -> Status {
    Status::internal(format!("{what}: {error}"))
}

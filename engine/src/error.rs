//! The engine's one error type.

use datafusion::error::DataFusionError;
use floe_catalog::CatalogError;

/// Everything that can go wrong in the engine.
///
/// Messages are written for a person: they say what was wrong and where
/// (table, column, file), and where it helps, what to do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FloeError {
    /// A catalog operation failed (unknown table or namespace, conflict, ...).
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// The SQL could not be planned or executed.
    #[error("{}", datafusion_message(.0))]
    DataFusion(#[from] DataFusionError),
    /// The `iceberg` crate refused or failed an operation.
    #[error("{0}")]
    Iceberg(#[from] iceberg::Error),
    /// Reading or writing the object store failed.
    #[error("storage: {0}")]
    Storage(#[from] object_store::Error),
    /// The warehouse URI is unusable.
    #[error("invalid warehouse '{uri}': {reason}")]
    InvalidWarehouse {
        /// The URI given.
        uri: String,
        /// Why it was refused.
        reason: String,
    },
    /// A concurrent commit changed what this statement read or rewrote.
    #[error(
        "commit conflict on table '{table}'{}: {reason}. Nothing was changed. \
         Help: run the statement again on the new version of the table",
        .snapshot.map(|s| format!(" (concurrent snapshot {s})")).unwrap_or_default()
    )]
    Conflict {
        /// The table.
        table: String,
        /// The concurrent snapshot that conflicts, when known.
        snapshot: Option<i64>,
        /// What overlapped.
        reason: String,
    },
    /// A statement is valid SQL but asks for something Floe cannot do.
    #[error("{0}")]
    Unsupported(String),
    /// A statement is invalid (bad type, bad transform, wrong arguments...).
    #[error("{0}")]
    Invalid(String),
    /// A parquet file could not be written.
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    /// An arrow computation failed.
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    /// Metadata could not be (de)serialised.
    #[error("metadata JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A broken invariant: a bug in Floe.
    #[error("internal error (a bug in Floe, please report it): {0}")]
    Internal(String),
}

/// Result type of the engine.
pub type Result<T, E = FloeError> = std::result::Result<T, E>;

/// Unwrap the Floe error a DataFusion error carries, if any, so a failure
/// inside a scan or a sink reads the same as one outside it.
fn datafusion_message(e: &DataFusionError) -> String {
    match e.find_root() {
        DataFusionError::External(inner) => inner.to_string(),
        root => strip_datafusion_prefix(&root.to_string()),
    }
}

/// DataFusion prefixes messages with their category ("Error during planning:");
/// keep the message, which is what a person wants to read.
fn strip_datafusion_prefix(message: &str) -> String {
    const PREFIXES: [&str; 4] = [
        "Error during planning: ",
        "Execution error: ",
        "SQL error: ",
        "Schema error: ",
    ];
    let mut message = message;
    for prefix in PREFIXES {
        if let Some(rest) = message.strip_prefix(prefix) {
            message = rest;
        }
    }
    message.to_string()
}

impl From<FloeError> for DataFusionError {
    fn from(e: FloeError) -> Self {
        match e {
            FloeError::DataFusion(inner) => inner,
            other => DataFusionError::External(Box::new(other)),
        }
    }
}

/// Build a [`FloeError::Invalid`] from a format string.
macro_rules! invalid {
    ($($arg:tt)*) => { $crate::error::FloeError::Invalid(format!($($arg)*)) };
}
pub(crate) use invalid;

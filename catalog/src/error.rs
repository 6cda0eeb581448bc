//! The catalog's one error type.

use iceberg::{NamespaceIdent, TableIdent};

/// Everything that can go wrong in a catalog operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogError {
    /// The namespace does not exist.
    #[error("namespace '{}' does not exist", .0.join("."))]
    NamespaceNotFound(NamespaceIdent),
    /// A namespace of that name already exists.
    #[error("namespace '{}' already exists", .0.join("."))]
    NamespaceAlreadyExists(NamespaceIdent),
    /// A namespace that still holds tables cannot be dropped.
    #[error(
        "namespace '{}' is not empty: it still holds {tables} table(s). Help: drop its tables first",
        .namespace.join(".")
    )]
    NamespaceNotEmpty {
        /// The namespace.
        namespace: NamespaceIdent,
        /// How many tables it holds.
        tables: usize,
    },
    /// The table does not exist.
    #[error("table '{0}' does not exist")]
    TableNotFound(TableIdent),
    /// A table of that name already exists.
    #[error("table '{0}' already exists")]
    TableAlreadyExists(TableIdent),
    /// No view or file table of that name.
    #[error("{kind} '{name}' does not exist")]
    EntryNotFound {
        /// What was looked for.
        kind: crate::EntryKind,
        /// Its name.
        name: TableIdent,
    },
    /// The name is taken by an entry of another kind (or the same).
    #[error("a {kind} named '{name}' already exists")]
    EntryExists {
        /// What holds the name.
        kind: crate::EntryKind,
        /// The name.
        name: TableIdent,
    },
    /// Another writer moved the table's metadata pointer first.
    #[error(
        "commit conflict on table '{table}': expected its current metadata to be {expected} \
         but another writer has already committed {actual}"
    )]
    CommitConflict {
        /// The table.
        table: TableIdent,
        /// The metadata location this commit was based on.
        expected: String,
        /// The metadata location actually current in the catalog.
        actual: String,
    },
    /// The catalog URI is not one Floe understands.
    #[error("invalid catalog URI '{uri}': {reason}")]
    InvalidUri {
        /// The URI given.
        uri: String,
        /// Why it was refused.
        reason: String,
    },
    /// The SQLite database failed.
    #[error("SQLite catalog {path}: {source}")]
    Sqlite {
        /// Path of the catalog file.
        path: String,
        /// The SQLite error.
        #[source]
        source: rusqlite::Error,
    },
    /// The PostgreSQL database failed or could not be reached.
    #[error("PostgreSQL catalog {database}: {source}")]
    Postgres {
        /// The database (its URI without the password).
        database: String,
        /// The PostgreSQL error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// Another connection held the catalog's lock for longer than Floe waits.
    #[error(
        "SQLite catalog {path} is busy: another process held its lock for {}s. Help: try \
         again, or look for a process that keeps the catalog locked",
        .waited.as_secs()
    )]
    Busy {
        /// Path of the catalog file.
        path: String,
        /// How long Floe waited.
        waited: std::time::Duration,
    },
    /// A REST catalog refused a request.
    #[error("REST catalog {catalog}: {request} failed with {status} {kind}: {message}")]
    Rest {
        /// The catalog's URI.
        catalog: String,
        /// The request (`commit to table db.t`).
        request: String,
        /// The HTTP status.
        status: u16,
        /// The error type the server named (`NotAuthorizedException`).
        kind: String,
        /// The server's message.
        message: String,
    },
    /// A REST catalog could not be reached, or its answer not read.
    #[error("REST catalog {catalog}: {request}: {source}")]
    RestUnreachable {
        /// The catalog's URI.
        catalog: String,
        /// The request.
        request: String,
        /// The HTTP error.
        #[source]
        source: reqwest::Error,
    },
    /// A REST catalog refused a commit because a requirement no longer
    /// holds: another writer changed the table first.
    #[error("commit conflict on table '{table}': the REST catalog refused the commit: {message}")]
    RemoteConflict {
        /// The table.
        table: TableIdent,
        /// The server's message.
        message: String,
    },
    /// The catalog does not do what was asked.
    #[error("{0}")]
    Unsupported(String),
    /// A catalog task could not run to completion.
    #[error("catalog task failed: {0}")]
    Internal(String),
}

impl CatalogError {
    /// Whether retrying the operation on fresh metadata may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            CatalogError::CommitConflict { .. } | CatalogError::RemoteConflict { .. }
        )
    }

    /// Whether the catalog was busy (another connection held its lock).
    pub fn is_busy(&self) -> bool {
        match self {
            CatalogError::Busy { .. } => true,
            CatalogError::Sqlite { source, .. } => matches!(
                source.sqlite_error_code(),
                Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
            ),
            // No SQL state: the connection failed, not a statement.
            CatalogError::Postgres { source, .. } => source.code().is_none(),
            _ => false,
        }
    }
}

/// Result type of the catalog crate.
pub type Result<T, E = CatalogError> = std::result::Result<T, E>;

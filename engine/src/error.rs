//! The engine's one error type, [`FloeError`], and its [`ErrorKind`].
//!
//! Every error has a kind that says what class of failure it is, so that
//! a server can answer with the right status without reading messages:
//! [`ErrorKind::grpc_code`] and [`ErrorKind::http_status`] give the one
//! gRPC code and the one HTTP status of each kind. Messages are written
//! for a person: they say what was wrong and where (table, column, file,
//! line), and where it helps, what to do about it.

use std::fmt;

use datafusion::error::DataFusionError;
use floe_catalog::CatalogError;

/// What class of failure an error is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A table, namespace, branch, snapshot, column or file does not exist.
    NotFound,
    /// What was to be created exists already.
    AlreadyExists,
    /// The statement or request is wrong: bad SQL, a bad type, a bad value,
    /// an argument missing. Running it again unchanged fails again.
    InvalidInput,
    /// A concurrent change got in the way (another writer committed first,
    /// a requirement no longer holds, rows changed on both branches).
    /// Nothing was changed; running it again on the new state may work.
    Conflict,
    /// Valid, but something Floe does not do.
    Unsupported,
    /// No valid credentials were given (servers).
    Unauthenticated,
    /// The credentials given do not allow this (servers).
    PermissionDenied,
    /// The caller cancelled the work.
    Cancelled,
    /// Out of memory or disk under the engine's limits.
    ResourceExhausted,
    /// The object store or the catalog could not be reached or is busy;
    /// trying again later may work.
    Unavailable,
    /// A bug in Floe, or a broken file it cannot make sense of.
    Internal,
}

impl ErrorKind {
    /// The gRPC status code of this kind (`tonic::Code as i32`).
    pub fn grpc_code(self) -> i32 {
        match self {
            Self::Cancelled => 1,
            Self::InvalidInput => 3,
            Self::NotFound => 5,
            Self::AlreadyExists => 6,
            Self::PermissionDenied => 7,
            Self::ResourceExhausted => 8,
            Self::Conflict => 10,
            Self::Unsupported => 12,
            Self::Internal => 13,
            Self::Unavailable => 14,
            Self::Unauthenticated => 16,
        }
    }

    /// The HTTP status of this kind, as the Iceberg REST spec uses them
    /// (409 for a failed commit, 406 for an unsupported operation).
    pub fn http_status(self) -> u16 {
        match self {
            Self::InvalidInput => 400,
            Self::Unauthenticated => 401,
            Self::PermissionDenied => 403,
            Self::NotFound => 404,
            Self::Unsupported => 406,
            Self::AlreadyExists | Self::Conflict => 409,
            Self::ResourceExhausted => 429,
            Self::Cancelled => 499,
            Self::Internal => 500,
            Self::Unavailable => 503,
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Self::NotFound => "not found",
            Self::AlreadyExists => "already exists",
            Self::InvalidInput => "invalid input",
            Self::Conflict => "conflict",
            Self::Unsupported => "unsupported",
            Self::Unauthenticated => "unauthenticated",
            Self::PermissionDenied => "permission denied",
            Self::Cancelled => "cancelled",
            Self::ResourceExhausted => "resource exhausted",
            Self::Unavailable => "unavailable",
            Self::Internal => "internal error",
        };
        f.write_str(name)
    }
}

/// A commit requirement (Iceberg's `TableRequirement`) that the table's
/// current metadata does not meet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequirementFailed {
    /// The table.
    pub table: String,
    /// The requirement, as the REST spec names it (`assert-ref-snapshot-id`)
    /// with what it is about (`ref 'main'`).
    pub requirement: String,
    /// What the commit expected.
    pub expected: String,
    /// What the table has.
    pub found: String,
    /// The same failure as Java Iceberg's `UpdateRequirement` words it
    /// (`Requirement failed: current schema changed: expected id 0 != 1`),
    /// for the clients and test suites that match on it; `None` for
    /// Floe's own checks, which Java does not make.
    pub java: Option<String>,
}

impl fmt::Display for RequirementFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "commit conflict on table '{}': requirement {} failed: expected {}, found {}. \
             Nothing was changed. Help: another writer changed the table; run the statement \
             again on its new version",
            self.table, self.requirement, self.expected, self.found
        )
    }
}

/// One table of a branch merge whose rows changed on both branches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableConflict {
    /// The table.
    pub table: String,
    /// The branch merged into.
    pub target: String,
    /// How many rows (keys) changed on both sides.
    pub rows: usize,
    /// Some of them, as `(id=1, name='x')`.
    pub sample: Vec<String>,
    /// The snapshot both branches last had in common (`None`: none).
    pub fork: Option<i64>,
    /// The target's snapshots since then that changed the rows.
    pub target_snapshots: Vec<i64>,
    /// Data files both sides changed (a few).
    pub files: Vec<String>,
}

impl TableConflict {
    /// What conflicts, without the table's name.
    pub fn detail(&self) -> String {
        let snapshots: Vec<String> = self
            .target_snapshots
            .iter()
            .map(ToString::to_string)
            .collect();
        let mut text = format!(
            "{} row(s) changed on both branches since snapshot {}: {}; '{}' changed them in \
             snapshot(s) {}",
            self.rows,
            self.fork
                .map_or_else(|| "none".to_string(), |id| id.to_string()),
            self.sample.join(", "),
            self.target,
            snapshots.join(", ")
        );
        if !self.files.is_empty() {
            text.push_str(&format!(", in data file(s) {}", self.files.join(", ")));
        }
        text
    }
}

impl fmt::Display for TableConflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.table, self.detail())
    }
}

/// A branch merge that changed nothing because rows changed on both sides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeConflicts {
    /// The branch being merged.
    pub source: String,
    /// The branch it was merged into.
    pub target: String,
    /// Every table with conflicting rows.
    pub tables: Vec<TableConflict>,
}

impl fmt::Display for MergeConflicts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "MERGE BRANCH {} INTO {}: {} table(s) conflict; nothing was merged:",
            self.source,
            self.target,
            self.tables.len()
        )?;
        for table in &self.tables {
            write!(f, "\n  {table}")?;
        }
        Ok(())
    }
}

/// Everything that can go wrong in the engine. [`FloeError::kind`] says
/// which class of failure it is.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FloeError {
    /// A catalog operation failed (unknown table or namespace, conflict, ...).
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// The SQL could not be planned or executed.
    #[error("{}", datafusion_message(.0))]
    DataFusion(DataFusionError),
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
    /// Something named does not exist.
    #[error("{0}")]
    NotFound(String),
    /// Something to be created exists already.
    #[error("{0}")]
    AlreadyExists(String),
    /// A statement or request is invalid (bad type, bad transform, wrong
    /// arguments...).
    #[error("{0}")]
    InvalidInput(String),
    /// A statement is valid SQL but asks for something Floe cannot do.
    #[error("{0}")]
    Unsupported(String),
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
    /// A commit requirement does not hold on the table's current metadata.
    #[error("{0}")]
    RequirementFailed(Box<RequirementFailed>),
    /// A branch merge found rows changed on both branches.
    #[error("{0}")]
    MergeConflict(Box<MergeConflicts>),
    /// The caller cancelled the work.
    #[error("{0}")]
    Cancelled(String),
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
    /// An error with what was being done when it happened.
    #[error("{context}: {source}")]
    Context {
        /// What was being done.
        context: String,
        /// The error.
        source: Box<FloeError>,
    },
    /// An error in one statement of a script.
    #[error("statement at line {line}: {source}")]
    AtLine {
        /// The line the statement starts on (1-based).
        line: usize,
        /// The statement's error.
        source: Box<FloeError>,
    },
    /// A statement failed inside a transaction, which was rolled back.
    #[error("{}", rolled_back_message(.0))]
    RolledBack(Box<FloeError>),
}

fn rolled_back_message(source: &FloeError) -> String {
    // A conflict already says that nothing was changed.
    if source.kind() == ErrorKind::Conflict {
        source.to_string()
    } else {
        format!("{source}. The open transaction was rolled back: nothing it wrote was committed")
    }
}

/// Result type of the engine.
pub type Result<T, E = FloeError> = std::result::Result<T, E>;

impl FloeError {
    /// What class of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Catalog(e) => catalog_kind(e),
            Self::DataFusion(e) => datafusion_kind(e),
            Self::Iceberg(e) => iceberg_kind(e),
            Self::Storage(e) => storage_kind(e),
            Self::InvalidWarehouse { .. } | Self::InvalidInput(_) => ErrorKind::InvalidInput,
            Self::Arrow(e) => arrow_kind(e),
            Self::NotFound(_) => ErrorKind::NotFound,
            Self::AlreadyExists(_) => ErrorKind::AlreadyExists,
            Self::Unsupported(_) => ErrorKind::Unsupported,
            Self::Conflict { .. } | Self::RequirementFailed(_) | Self::MergeConflict(_) => {
                ErrorKind::Conflict
            }
            Self::Cancelled(_) => ErrorKind::Cancelled,
            Self::Parquet(_) | Self::Json(_) | Self::Internal(_) => ErrorKind::Internal,
            Self::Context { source, .. } | Self::AtLine { source, .. } => source.kind(),
            Self::RolledBack(source) => source.kind(),
        }
    }

    /// The error without the context wrapped around it (line numbers,
    /// what was being done, a rolled-back transaction).
    pub fn root(&self) -> &FloeError {
        match self {
            Self::Context { source, .. } | Self::AtLine { source, .. } => source.root(),
            Self::RolledBack(source) => source.root(),
            other => other,
        }
    }

    /// Whether running the same work again, on the new state of the
    /// tables, may succeed: a lost race, not a real overlap. The commit
    /// layer retries these.
    pub fn is_retryable(&self) -> bool {
        match self.root() {
            Self::RequirementFailed(_) => true,
            Self::Catalog(e) => e.is_retryable(),
            _ => false,
        }
    }

    /// The merge conflict report, if this is a branch merge that conflicted.
    pub fn merge_conflicts(&self) -> Option<&MergeConflicts> {
        match self.root() {
            Self::MergeConflict(report) => Some(report),
            _ => None,
        }
    }

    /// Wrap with what was being done (`cannot read table 't'`).
    pub fn context(self, context: impl Into<String>) -> Self {
        Self::Context {
            context: context.into(),
            source: Box::new(self),
        }
    }

    /// Add the line of the statement that failed.
    pub fn at_line(self, line: usize) -> Self {
        Self::AtLine {
            line,
            source: Box::new(self),
        }
    }

    /// An [`ErrorKind::InvalidInput`] error.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::InvalidInput(message.into())
    }

    /// An [`ErrorKind::NotFound`] error.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::NotFound(message.into())
    }

    /// An [`ErrorKind::AlreadyExists`] error.
    pub fn already_exists(message: impl Into<String>) -> Self {
        Self::AlreadyExists(message.into())
    }

    /// An [`ErrorKind::Unsupported`] error.
    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::Unsupported(message.into())
    }

    /// An [`ErrorKind::Internal`] error: a broken invariant.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::Internal(message.into())
    }

    /// A session lock (`what`: settings, transaction) that a panic left
    /// poisoned: the session's state cannot be trusted any more.
    pub(crate) fn poisoned(what: &str) -> Self {
        Self::internal(format!(
            "the session's {what} lock is poisoned (a statement panicked while holding it); \
             open a new session"
        ))
    }

    /// Whether the catalog has no such table (under any context).
    pub fn is_table_not_found(&self) -> bool {
        matches!(self.root(), Self::Catalog(CatalogError::TableNotFound(_)))
    }

    /// Whether the table exists already (under any context).
    pub fn is_table_already_exists(&self) -> bool {
        matches!(
            self.root(),
            Self::Catalog(CatalogError::TableAlreadyExists(_))
        )
    }
}

fn catalog_kind(e: &CatalogError) -> ErrorKind {
    match e {
        CatalogError::NamespaceNotFound(_)
        | CatalogError::TableNotFound(_)
        | CatalogError::EntryNotFound { .. } => ErrorKind::NotFound,
        CatalogError::NamespaceAlreadyExists(_)
        | CatalogError::TableAlreadyExists(_)
        | CatalogError::EntryExists { .. } => ErrorKind::AlreadyExists,
        CatalogError::NamespaceNotEmpty { .. }
        | CatalogError::CommitConflict { .. }
        | CatalogError::RemoteConflict { .. } => ErrorKind::Conflict,
        CatalogError::InvalidUri { .. } => ErrorKind::InvalidInput,
        CatalogError::Unsupported(_) => ErrorKind::Unsupported,
        CatalogError::RestUnreachable { .. } => ErrorKind::Unavailable,
        CatalogError::Rest { status, .. } => match status {
            400 | 422 => ErrorKind::InvalidInput,
            401 | 419 => ErrorKind::Unauthenticated,
            403 => ErrorKind::PermissionDenied,
            404 => ErrorKind::NotFound,
            406 | 501 => ErrorKind::Unsupported,
            409 => ErrorKind::Conflict,
            503 => ErrorKind::Unavailable,
            _ => ErrorKind::Internal,
        },
        e if e.is_busy() => ErrorKind::Unavailable,
        _ => ErrorKind::Internal,
    }
}

fn datafusion_kind(e: &DataFusionError) -> ErrorKind {
    match e {
        DataFusionError::External(inner) => match inner.downcast_ref::<FloeError>() {
            Some(floe) => floe.kind(),
            None => ErrorKind::Internal,
        },
        DataFusionError::Context(_, inner) | DataFusionError::Diagnostic(_, inner) => {
            datafusion_kind(inner)
        }
        DataFusionError::Shared(inner) => datafusion_kind(inner),
        DataFusionError::Collection(errors) => {
            errors.first().map_or(ErrorKind::Internal, datafusion_kind)
        }
        // DataFusion's planner names what it cannot find this way.
        DataFusionError::Plan(message)
            if message.starts_with("table '") && message.ends_with("' not found") =>
        {
            ErrorKind::NotFound
        }
        DataFusionError::SchemaError(e, _)
            if matches!(**e, datafusion::common::SchemaError::FieldNotFound { .. }) =>
        {
            ErrorKind::NotFound
        }
        DataFusionError::SQL(..)
        | DataFusionError::Plan(_)
        | DataFusionError::SchemaError(..)
        | DataFusionError::Configuration(_)
        | DataFusionError::Execution(_) => ErrorKind::InvalidInput,
        DataFusionError::ArrowError(e, _) => arrow_kind(e),
        DataFusionError::NotImplemented(_) => ErrorKind::Unsupported,
        DataFusionError::ResourcesExhausted(_) => ErrorKind::ResourceExhausted,
        DataFusionError::ObjectStore(e) => storage_kind(e),
        DataFusionError::IoError(_) => ErrorKind::Unavailable,
        _ => ErrorKind::Internal,
    }
}

fn arrow_kind(e: &arrow::error::ArrowError) -> ErrorKind {
    use arrow::error::ArrowError as A;
    match e {
        A::MemoryError(_) => ErrorKind::ResourceExhausted,
        A::IoError(..) => ErrorKind::Unavailable,
        A::NotYetImplemented(_) => ErrorKind::Unsupported,
        A::ExternalError(inner) => {
            if let Some(floe) = inner.downcast_ref::<FloeError>() {
                floe.kind()
            } else if let Some(df) = inner.downcast_ref::<DataFusionError>() {
                datafusion_kind(df)
            } else {
                ErrorKind::Internal
            }
        }
        _ => ErrorKind::InvalidInput,
    }
}

fn iceberg_kind(e: &iceberg::Error) -> ErrorKind {
    use iceberg::ErrorKind as K;
    match e.kind() {
        K::DataInvalid => ErrorKind::InvalidInput,
        K::FeatureUnsupported => ErrorKind::Unsupported,
        K::NamespaceNotFound | K::TableNotFound => ErrorKind::NotFound,
        K::NamespaceAlreadyExists | K::TableAlreadyExists => ErrorKind::AlreadyExists,
        K::CatalogCommitConflicts | K::PreconditionFailed => ErrorKind::Conflict,
        _ => ErrorKind::Internal,
    }
}

fn storage_kind(e: &object_store::Error) -> ErrorKind {
    use object_store::Error as E;
    match e {
        E::NotFound { .. } => ErrorKind::NotFound,
        E::AlreadyExists { .. } => ErrorKind::AlreadyExists,
        E::Precondition { .. } => ErrorKind::Conflict,
        E::PermissionDenied { .. } => ErrorKind::PermissionDenied,
        E::Unauthenticated { .. } => ErrorKind::Unauthenticated,
        E::NotSupported { .. } | E::NotImplemented { .. } => ErrorKind::Unsupported,
        E::InvalidPath { .. } | E::UnknownConfigurationKey { .. } => ErrorKind::InvalidInput,
        _ => ErrorKind::Unavailable,
    }
}

/// The message of a DataFusion error, for a person: the Floe error it
/// carries if any (a failure inside a scan or a sink reads the same as one
/// outside it), else DataFusion's message without its category prefix.
fn datafusion_message(e: &DataFusionError) -> String {
    match e.find_root() {
        DataFusionError::External(inner) => inner.to_string(),
        root => strip_datafusion_prefix(&root.to_string()),
    }
}

/// DataFusion prefixes messages with their category ("Error during planning:");
/// keep the message, which is what a person wants to read.
fn strip_datafusion_prefix(message: &str) -> String {
    const PREFIXES: [&str; 5] = [
        "Error during planning: ",
        "Execution error: ",
        "SQL error: ",
        "Schema error: ",
        "Resources exhausted: ",
    ];
    let mut message = message;
    for prefix in PREFIXES {
        if let Some(rest) = message.strip_prefix(prefix) {
            message = rest;
        }
    }
    message.to_string()
}

impl From<DataFusionError> for FloeError {
    /// A DataFusion error; a Floe error that travelled through DataFusion
    /// (raised in a scan or a sink) comes back as itself.
    fn from(e: DataFusionError) -> Self {
        match e {
            DataFusionError::External(inner) => match inner.downcast::<FloeError>() {
                Ok(floe) => *floe,
                Err(other) => Self::DataFusion(DataFusionError::External(other)),
            },
            DataFusionError::Context(context, inner) if matches!(inner.as_ref(), DataFusionError::External(e) if e.is::<FloeError>()) => {
                FloeError::from(*inner).context(context)
            }
            other => Self::DataFusion(other),
        }
    }
}

impl From<FloeError> for DataFusionError {
    fn from(e: FloeError) -> Self {
        match e {
            FloeError::DataFusion(inner) => inner,
            other => DataFusionError::External(Box::new(other)),
        }
    }
}

/// Build a [`FloeError::InvalidInput`] from a format string.
macro_rules! invalid {
    ($($arg:tt)*) => { $crate::error::FloeError::InvalidInput(format!($($arg)*)) };
}

/// Build a [`FloeError::NotFound`] from a format string.
macro_rules! not_found {
    ($($arg:tt)*) => { $crate::error::FloeError::NotFound(format!($($arg)*)) };
}

/// Build a [`FloeError::AlreadyExists`] from a format string.
macro_rules! already_exists {
    ($($arg:tt)*) => { $crate::error::FloeError::AlreadyExists(format!($($arg)*)) };
}

/// Build a [`FloeError::Unsupported`] from a format string.
macro_rules! unsupported {
    ($($arg:tt)*) => { $crate::error::FloeError::Unsupported(format!($($arg)*)) };
}

pub(crate) use {already_exists, invalid, not_found, unsupported};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_statuses() {
        let cases = [
            (ErrorKind::NotFound, 5, 404),
            (ErrorKind::AlreadyExists, 6, 409),
            (ErrorKind::InvalidInput, 3, 400),
            (ErrorKind::Conflict, 10, 409),
            (ErrorKind::Unsupported, 12, 406),
            (ErrorKind::Unauthenticated, 16, 401),
            (ErrorKind::PermissionDenied, 7, 403),
            (ErrorKind::Cancelled, 1, 499),
            (ErrorKind::ResourceExhausted, 8, 429),
            (ErrorKind::Unavailable, 14, 503),
            (ErrorKind::Internal, 13, 500),
        ];
        for (kind, grpc, http) in cases {
            assert_eq!(
                (kind.grpc_code(), kind.http_status()),
                (grpc, http),
                "{kind}"
            );
        }
        // One gRPC code per kind.
        let mut codes: Vec<i32> = cases.iter().map(|c| c.1).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), cases.len());
    }

    #[tokio::test]
    async fn a_table_or_column_datafusion_cannot_find_is_not_found() {
        let ctx = datafusion::prelude::SessionContext::new();
        let missing_table = ctx.sql("SELECT * FROM nope").await.unwrap_err();
        assert_eq!(FloeError::from(missing_table).kind(), ErrorKind::NotFound);
        let missing_column = ctx
            .sql("SELECT nope FROM (SELECT 1 AS a)")
            .await
            .unwrap_err();
        assert_eq!(FloeError::from(missing_column).kind(), ErrorKind::NotFound);
        let bad_sql = ctx.sql("SELEC 1").await.unwrap_err();
        assert_eq!(FloeError::from(bad_sql).kind(), ErrorKind::InvalidInput);
    }

    #[test]
    fn context_keeps_the_kind_and_the_root() {
        let e = FloeError::not_found("table 'db.t' does not exist")
            .context("loading")
            .at_line(3);
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert_eq!(
            e.to_string(),
            "statement at line 3: loading: table 'db.t' does not exist"
        );
        assert!(matches!(e.root(), FloeError::NotFound(_)));
    }

    #[test]
    fn floe_errors_come_back_through_datafusion() {
        let through: DataFusionError = FloeError::unsupported("no").into();
        let back = FloeError::from(through);
        assert!(matches!(back, FloeError::Unsupported(_)), "{back:?}");
        let plan = FloeError::from(DataFusionError::Plan("bad".into()));
        assert_eq!(plan.kind(), ErrorKind::InvalidInput);
        assert_eq!(plan.to_string(), "bad");
        let memory = FloeError::from(DataFusionError::ResourcesExhausted("pool".into()));
        assert_eq!(memory.kind(), ErrorKind::ResourceExhausted);
    }

    #[test]
    fn arrow_errors_keep_their_class() {
        use arrow::error::ArrowError;
        let kind = |e: ArrowError| FloeError::from(e).kind();
        assert_eq!(
            kind(ArrowError::MemoryError("oom".into())),
            ErrorKind::ResourceExhausted
        );
        assert_eq!(
            kind(ArrowError::IoError(
                "read".into(),
                std::io::Error::other("gone")
            )),
            ErrorKind::Unavailable
        );
        assert_eq!(
            kind(ArrowError::CastError("x".into())),
            ErrorKind::InvalidInput
        );
        let wrapped = ArrowError::ExternalError(Box::new(FloeError::unsupported("no")));
        assert_eq!(kind(wrapped), ErrorKind::Unsupported);
        let in_datafusion = FloeError::from(DataFusionError::ArrowError(
            Box::new(ArrowError::MemoryError("oom".into())),
            None,
        ));
        assert_eq!(in_datafusion.kind(), ErrorKind::ResourceExhausted);
    }

    #[test]
    fn rolled_back_says_so_unless_it_was_a_conflict() {
        let e = FloeError::RolledBack(Box::new(FloeError::invalid("bad value")));
        assert_eq!(
            e.to_string(),
            "bad value. The open transaction was rolled back: nothing it wrote was committed"
        );
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
    }
}

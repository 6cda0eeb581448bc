//! The crate's error type, [`PipelineError`], with the engine's kinds.

use floe_engine::{ErrorKind, FloeError};

/// Why a pipeline could not be loaded, planned or run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PipelineError {
    /// A file of the pipeline folder is wrong: the message says which file,
    /// which line or key, and what was expected.
    #[error("{file}: {message}")]
    Spec {
        /// The file, as a path relative to the pipeline folder.
        file: String,
        /// What is wrong with it.
        message: String,
    },
    /// The models read each other in a circle.
    #[error("the pipeline's models form a cycle: {0}")]
    Cycle(String),
    /// A source object could not be listed or read at all (a row that
    /// cannot be parsed is quarantined instead).
    #[error("source object {object}: {message}")]
    Source {
        /// The object's location.
        object: String,
        /// Why it could not be read.
        message: String,
    },
    /// Another run of the same pipeline holds its lock.
    #[error("{0}")]
    Locked(String),
    /// A step failed in the engine; `context` says which step.
    #[error("{context}: {source}")]
    Step {
        /// The step and what it was doing.
        context: String,
        /// The engine's error.
        source: Box<FloeError>,
    },
    /// The engine failed outside a step.
    #[error(transparent)]
    Engine(Box<FloeError>),
}

impl From<FloeError> for PipelineError {
    fn from(e: FloeError) -> Self {
        Self::Engine(Box::new(e))
    }
}

impl PipelineError {
    /// The class of failure, as the engine names them.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Spec { .. } | Self::Cycle(_) => ErrorKind::InvalidInput,
            Self::Source { .. } => ErrorKind::InvalidInput,
            Self::Locked(_) => ErrorKind::Conflict,
            Self::Step { source, .. } | Self::Engine(source) => source.kind(),
        }
    }

    pub(crate) fn spec(file: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Spec {
            file: file.into(),
            message: message.into(),
        }
    }

    pub(crate) fn source(object: impl Into<String>, message: impl std::fmt::Display) -> Self {
        Self::Source {
            object: object.into(),
            message: message.to_string(),
        }
    }
}

/// Attach the step an engine error happened in.
pub(crate) trait StepContext<T> {
    /// Name the step (`bronze.orders_raw: ingest`).
    fn step(self, context: impl FnOnce() -> String) -> Result<T>;
}

impl<T> StepContext<T> for std::result::Result<T, FloeError> {
    fn step(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| PipelineError::Step {
            context: context(),
            source: Box::new(source),
        })
    }
}

impl From<datafusion::error::DataFusionError> for PipelineError {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        Self::from(FloeError::from(e))
    }
}

impl From<arrow::error::ArrowError> for PipelineError {
    fn from(e: arrow::error::ArrowError) -> Self {
        Self::from(FloeError::from(
            datafusion::error::DataFusionError::ArrowError(Box::new(e), None),
        ))
    }
}

/// The crate's result type.
pub type Result<T, E = PipelineError> = std::result::Result<T, E>;

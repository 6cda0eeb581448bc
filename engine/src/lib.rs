//! Floe: an embedded lakehouse engine. DataFusion SQL over Apache Iceberg
//! tables in an object store, with a SQLite catalog that PyIceberg and the
//! Iceberg JDBC catalog can open too.
//!
//! An [`Engine`] is a warehouse opened once: its catalog, its storage, its
//! metadata cache and one memory-limited query runtime, shared by every
//! [`Session`] made from it. A session is one client: its branch,
//! namespace, transaction and settings. [`Lakehouse`] is an engine with one
//! session; start with [`Lakehouse::open`] and [`Session::sql`].
#![warn(missing_docs)]

mod branch_catalog;
mod cache;
pub mod command;
mod commit;
mod engine;
mod error;
mod lakehouse;
mod locks;
mod metadata_json;
mod names;
mod ops;
mod provider;
mod results;
mod scan;
mod scope;
pub mod script;
mod session;
mod sql;
mod storage;
mod table;
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
mod types;
mod write;

pub use branch_catalog::{BranchCatalog, NewTable, TableState};
pub use command::{Command, TableName};
pub use commit::{MAX_SNAPSHOTS, MAX_SNAPSHOTS_DEFAULT, TableCommit};
pub use engine::{CATALOG_NAME, DEFAULT_NAMESPACE, Engine, EngineBuilder, parse_memory_size};
pub use error::{ErrorKind, FloeError, MergeConflicts, RequirementFailed, Result, TableConflict};
pub use floe_catalog::{NamespaceIdent, TableIdent};
pub use iceberg::{TableRequirement, TableUpdate};
pub use lakehouse::{Lakehouse, LakehouseBuilder};
pub use ops::maintain::{MaintenanceReport, Step as MaintenanceStep};
pub use ops::views::{ViewRequirement, ViewState, metadata_json as view_metadata_json};
pub use results::{CommitInfo, MergeOutcome, MergeReport, TableRead, tables_read};
pub use session::{IngestMode, PreparedStatement, Session};
pub use table::{LoadedTable, TableVersion, VersionSpec};

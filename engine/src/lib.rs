//! Floe: an embedded lakehouse engine. DataFusion SQL over Apache Iceberg
//! tables in an object store, with a SQLite catalog that PyIceberg and the
//! Iceberg JDBC catalog can open too.
//!
//! Start with [`Lakehouse::open`] and [`Lakehouse::sql`].
#![warn(missing_docs)]

pub mod commit;
mod error;
mod lakehouse;
pub mod ops;
mod provider;
pub mod scan;
pub mod sql;
pub mod storage;
mod table;
pub mod transaction;
mod warehouse;
pub mod write;

pub use error::{FloeError, Result};
pub use lakehouse::{CATALOG_NAME, DEFAULT_NAMESPACE, Lakehouse, LakehouseBuilder};
pub use table::{LiveFile, LoadedTable};
pub use warehouse::Warehouse;

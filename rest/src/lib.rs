//! Floe's Iceberg REST catalog server: the warehouse served by the Iceberg
//! REST OpenAPI spec, so that Spark, Trino, Flink, DuckDB and PyIceberg
//! find and commit Floe's tables. Every commit goes through the engine's
//! commit layer, with the client's requirements and updates.
//!
//! Each warehouse branch has its own prefix: `GET /v1/config?warehouse=dev`
//! returns the prefix under which every table's `main` is the branch
//! `dev`, and `dev@2026-11-20T10:00:00Z` a read-only view of the whole
//! warehouse at that moment (see [`floe_engine::BranchCatalog`]).
//!
//! Start with [`RestListener::bind`].
#![warn(missing_docs)]

mod config;
mod error;
mod namespaces;
mod paths;
mod server;
mod tables;
mod views;

pub use error::{RestError, Result};
pub use floe_auth::{Credentials, hash_password};
pub use server::{RestConfig, RestListener, VendedCredentials};

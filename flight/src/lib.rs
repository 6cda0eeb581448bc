//! Floe's Arrow Flight SQL server: one [`Engine`](floe_engine::Engine)
//! shared by every client, an engine [`Session`](floe_engine::Session)
//! per connection.
//!
//! Branches are Flight SQL catalogs: `SetSessionOptions{"catalog": b}`
//! (JDBC's `catalog=`, ADBC's current catalog) moves a connection to
//! warehouse branch `b`, and GetCatalogs lists the branches. Queries
//! stream batch by batch; their schema's metadata names the snapshot of
//! every table read (`floe.snapshots`). Flight SQL transactions are the
//! engine's multi-statement transactions; `CommandStatementIngest` lands
//! as one snapshot.
//!
//! ```no_run
//! # async fn run() -> floe_flight::Result<()> {
//! let engine = floe_engine::Engine::open("./warehouse").await?;
//! let server = floe_flight::FlightSqlListener::bind(
//!     engine, "127.0.0.1:50051", floe_flight::ServerConfig::default()).await?;
//! server.serve(async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

mod actions;
mod auth;
mod catalog;
mod error;
mod ingest;
mod layer;
pub mod proto;
mod results;
mod server;
mod service;
mod sessions;
mod sql_info;
mod statements;

pub use error::{FlightError, Result};
pub use floe_auth::{Credentials, hash_password};
pub use results::{BRANCH_KEY, SNAPSHOTS_KEY};
pub use server::{DEFAULT_MAX_MESSAGE_SIZE, FlightSqlListener, ServerConfig};
pub use service::STATUS_ACTION;

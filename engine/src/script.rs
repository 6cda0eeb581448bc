//! Cutting a SQL script into statements, for tools that run scripts
//! statement by statement (the CLI and its REPL).

pub use crate::sql::split::{StatementText, is_incomplete, split_statements};

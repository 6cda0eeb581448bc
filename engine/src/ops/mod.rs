//! One module per user verb.

pub mod ddl;
pub mod metadata_tables;

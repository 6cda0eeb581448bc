//! One module per user verb.

pub mod add_files;
pub mod alter;
pub mod branch_merge;
pub mod branches;
pub mod changes;
pub mod compaction;
pub mod ddl;
pub mod dml;
pub mod maintain;
pub mod merge;
pub mod metadata_tables;
pub mod orphans;
pub mod procedures;
pub mod refs;

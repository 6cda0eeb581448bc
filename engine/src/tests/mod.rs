//! Tests of the engine's internals against real warehouses: commits that
//! race, and delete files written by other engines.

mod conflicts;
mod equality_deletes;
mod manifest_lists;

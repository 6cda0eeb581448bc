//! One module per user verb.

pub mod add_files;
pub mod alter;
pub mod branch_merge;
pub mod branches;
pub mod changes;
pub mod compaction;
pub mod ddl;
pub mod dml;
pub mod external;
pub mod file_tables;
pub mod maintain;
pub mod merge;
pub mod metadata_tables;
pub mod orphans;
pub mod procedures;
pub mod refs;
pub mod views;

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};

/// A procedure's one result row of counts, `(column, value)` each.
pub(crate) fn counts_row(counts: &[(&str, i64)]) -> crate::error::Result<RecordBatch> {
    let schema = Arc::new(Schema::new(
        counts
            .iter()
            .map(|(name, _)| Field::new(*name, DataType::Int64, false))
            .collect::<Vec<_>>(),
    ));
    let columns: Vec<ArrayRef> = counts
        .iter()
        .map(|(_, value)| Arc::new(Int64Array::from(vec![*value])) as ArrayRef)
        .collect();
    Ok(RecordBatch::try_new(schema, columns)?)
}

/// The file a catalog entry of `kind` (a view, a file table) points at:
/// `(its location, its bytes)`; `None` when the catalog has no such entry
/// or keeps no entries of that kind.
pub(crate) async fn read_entry(
    engine: &crate::engine::Engine,
    kind: floe_catalog::EntryKind,
    ident: &floe_catalog::TableIdent,
) -> crate::error::Result<Option<(String, bytes::Bytes)>> {
    use floe_catalog::CatalogError;
    let pointer = match engine.catalog().load_entry(kind, ident).await {
        Ok(pointer) => pointer,
        Err(CatalogError::EntryNotFound { .. } | CatalogError::Unsupported(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let bytes = engine
        .file_io()
        .new_input(&pointer.metadata_location)?
        .read()
        .await?;
    Ok(Some((pointer.metadata_location, bytes)))
}

//! The rows that differ between two versions of a table:
//! `SELECT * FROM table_changes('db.t', 'main', 'dev')`, and the row-level
//! view a branch merge works from.
//!
//! Only files that differ between the versions are read: a data file live
//! in both with the same delete files holds the same rows in both.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use datafusion::logical_expr::{ExprFunctionExt, lit};
use datafusion::prelude::{DataFrame, SessionContext};
use iceberg::scan::FileScanTask;

use crate::error::Result;
use crate::scan::IcebergTableProvider;
use crate::scope::Scope;
use crate::table::LoadedTable;

/// The column saying whether a row was added (`INSERT`) or removed
/// (`DELETE`), as in Spark's change views.
pub const CHANGE_TYPE: &str = "_change_type";

/// How two versions of a table differ, row by row.
pub struct TableChanges {
    /// Rows of `from` that `to` does not have (as a multiset).
    pub deleted: DataFrame,
    /// Rows of `to` that `from` does not have.
    pub inserted: DataFrame,
    /// Data files of `from` whose rows `to` does not all have unchanged
    /// (removed, or given new delete files).
    pub touched_files: BTreeSet<String>,
}

impl TableChanges {
    /// Both sides as one frame, with [`CHANGE_TYPE`] last.
    pub fn frame(self) -> Result<DataFrame> {
        let deleted = self.deleted.with_column(CHANGE_TYPE, lit("DELETE"))?;
        let inserted = self.inserted.with_column(CHANGE_TYPE, lit("INSERT"))?;
        Ok(deleted.union(inserted)?)
    }
}

/// A data file and its delete files: equal keys hold equal rows.
fn file_key(task: &FileScanTask) -> (String, BTreeSet<String>) {
    (
        task.data_file_path.clone(),
        task.deletes.iter().map(|d| d.file_path.clone()).collect(),
    )
}

/// The rows that differ between `from` and `to`, two versions of one
/// table, both read with the table's current schema.
pub async fn table_changes(
    ctx: &SessionContext,
    scope: &Scope,
    from: &LoadedTable,
    to: &LoadedTable,
) -> Result<TableChanges> {
    let provider = |table: &LoadedTable| {
        IcebergTableProvider::try_new(scope.clone(), table.clone())?.with_current_schema()
    };
    let from_provider = provider(from)?;
    let to_provider = provider(to)?;
    let from_tasks = from_provider.plan_files(&[]).await?;
    let to_tasks = to_provider.plan_files(&[]).await?;
    let from_keys: HashSet<_> = from_tasks.iter().map(file_key).collect();
    let to_keys: HashSet<_> = to_tasks.iter().map(file_key).collect();
    let old: Vec<FileScanTask> = from_tasks
        .into_iter()
        .filter(|t| !to_keys.contains(&file_key(t)))
        .collect();
    let new: Vec<FileScanTask> = to_tasks
        .into_iter()
        .filter(|t| !from_keys.contains(&file_key(t)))
        .collect();
    let touched_files = old.iter().map(|t| t.data_file_path.clone()).collect();
    let old = ctx.read_table(Arc::new(from_provider.with_tasks(old)))?;
    let new = ctx.read_table(Arc::new(to_provider.with_tasks(new)))?;
    let (deleted, inserted) = multiset_differences(old, new)?;
    Ok(TableChanges {
        deleted,
        inserted,
        touched_files,
    })
}

/// The column numbering equal rows, so that they are told apart.
const DUPLICATE: &str = "__floe_duplicate";

/// `old - new` and `new - old` as multisets: a row twice in `new` and
/// once in `old` is inserted once. (DataFusion's `EXCEPT ALL` drops every
/// copy of a row the other side has, so equal rows are numbered first,
/// `row_number() OVER (PARTITION BY every column)`, and the numbered rows
/// compared.) Columns that cannot be partitioned by (lists, structs,
/// maps) leave the plain `EXCEPT ALL`.
fn multiset_differences(old: DataFrame, new: DataFrame) -> Result<(DataFrame, DataFrame)> {
    use arrow::datatypes::DataType;
    let nested = old.schema().fields().iter().any(|f| {
        matches!(
            f.data_type(),
            DataType::List(_)
                | DataType::LargeList(_)
                | DataType::FixedSizeList(..)
                | DataType::Struct(_)
                | DataType::Map(..)
        )
    });
    if nested {
        return Ok((old.clone().except(new.clone())?, new.except(old)?));
    }
    let numbered = |frame: DataFrame| -> Result<DataFrame> {
        let columns: Vec<datafusion::logical_expr::Expr> = frame
            .schema()
            .columns()
            .into_iter()
            .map(datafusion::logical_expr::Expr::Column)
            .collect();
        let number = datafusion::functions_window::expr_fn::row_number()
            .partition_by(columns)
            .build()?
            .alias(DUPLICATE);
        Ok(frame.window(vec![number])?)
    };
    let (old, new) = (numbered(old)?, numbered(new)?);
    let deleted = old
        .clone()
        .except(new.clone())?
        .drop_columns(&[DUPLICATE])?;
    let inserted = new.except(old)?.drop_columns(&[DUPLICATE])?;
    Ok((deleted, inserted))
}

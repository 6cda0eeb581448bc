//! What the typed verbs of a [`Session`](crate::Session) return: what they
//! committed (snapshot ids and summaries) and, for a branch merge, what it
//! did to each table.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use floe_catalog::TableIdent;

use crate::error::{Result, TableConflict};
use crate::table::LoadedTable;

/// One table's state after a commit: the snapshot the branch written now
/// points at, and that snapshot's summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitInfo {
    /// The table.
    pub table: TableIdent,
    /// The branch that was written (or created, or dropped).
    pub branch: String,
    /// The branch's head after the commit (`None`: the branch has no
    /// snapshot, or was dropped).
    pub snapshot_id: Option<i64>,
    /// The head snapshot's operation (`append`, `overwrite`, `delete`).
    pub operation: Option<String>,
    /// The head snapshot's summary (`added-records`, `total-records`, ...).
    pub summary: HashMap<String, String>,
    /// Whether the commit is staged in the session's open transaction
    /// (visible to the session only, until `COMMIT`).
    pub staged: bool,
}

impl CommitInfo {
    /// `table`'s `branch` as a commit left it.
    pub(crate) fn of(table: &LoadedTable, branch: &str, staged: bool) -> Self {
        let head = table
            .refs()
            .ok()
            .and_then(|refs| refs.get(branch).map(|r| r.snapshot_id))
            .and_then(|id| table.metadata().snapshot_by_id(id));
        Self {
            table: table.ident().clone(),
            branch: branch.to_string(),
            snapshot_id: head.map(|s| s.snapshot_id()),
            operation: head.map(|s| s.summary().operation.as_str().to_string()),
            summary: head
                .map(|s| s.summary().additional_properties.clone())
                .unwrap_or_default(),
            staged,
        }
    }

    /// A branch removed from `table`.
    pub(crate) fn removed(table: TableIdent, branch: &str) -> Self {
        Self {
            table,
            branch: branch.to_string(),
            snapshot_id: None,
            operation: None,
            summary: HashMap::new(),
            staged: false,
        }
    }
}

/// What a branch merge does (or, in a dry run, would do) to one table.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MergeOutcome {
    /// The target already has every change of the source.
    UpToDate,
    /// The table is new on the source: it is added to the target.
    AddTable,
    /// The target had not moved since the fork: it moves to the source's
    /// head, this many snapshots on.
    FastForward {
        /// Snapshots the source is ahead.
        ahead: usize,
    },
    /// Both moved, touching different data files: the source's snapshots
    /// are applied again on the target.
    Replay {
        /// Snapshots replayed.
        snapshots: usize,
    },
    /// Both changed rows of the same data files, not the same rows: the
    /// source's row changes are merged into the target.
    RowMerge {
        /// Rows the source removed.
        deleted: usize,
        /// Rows the source added.
        inserted: usize,
    },
    /// Both changed the same rows.
    Conflict(TableConflict),
}

impl MergeOutcome {
    /// The outcome's name and detail, as `MERGE BRANCH` reports them.
    pub fn describe(&self) -> (&'static str, String) {
        match self {
            Self::UpToDate => ("up to date", String::new()),
            Self::AddTable => ("add table", "the table is new on the source".into()),
            Self::FastForward { ahead } => ("fast-forward", format!("{ahead} snapshot(s) ahead")),
            Self::Replay { snapshots } => (
                "replay",
                format!("{snapshots} snapshot(s), no data file in common"),
            ),
            Self::RowMerge { deleted, inserted } => (
                "row merge",
                format!("{deleted} row(s) removed, {inserted} row(s) added"),
            ),
            Self::Conflict(conflict) => ("conflict", conflict.detail()),
        }
    }
}

/// A branch merge, table by table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeReport {
    /// The branch merged.
    pub source: String,
    /// The branch it was merged into.
    pub target: String,
    /// Whether nothing was changed (`DRY RUN`).
    pub dry_run: bool,
    /// What was done to each table the source has.
    pub tables: Vec<(TableIdent, MergeOutcome)>,
    /// The target's head in every table the merge committed to (empty for
    /// a dry run).
    pub committed: Vec<CommitInfo>,
}

impl MergeReport {
    /// The report as `MERGE BRANCH` returns it: `(table, action, detail)`.
    pub fn to_batch(&self) -> Result<RecordBatch> {
        let schema = Arc::new(Schema::new(vec![
            Field::new("table", DataType::Utf8, false),
            Field::new("action", DataType::Utf8, false),
            Field::new("detail", DataType::Utf8, false),
        ]));
        let described: Vec<(String, &str, String)> = self
            .tables
            .iter()
            .map(|(table, outcome)| {
                let (action, detail) = outcome.describe();
                (table.to_string(), action, detail)
            })
            .collect();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(
                described.iter().map(|d| d.0.as_str()),
            )),
            Arc::new(StringArray::from_iter_values(described.iter().map(|d| d.1))),
            Arc::new(StringArray::from_iter_values(
                described.iter().map(|d| d.2.as_str()),
            )),
        ];
        Ok(RecordBatch::try_new(schema, columns)?)
    }
}

/// A table a query reads, at the snapshot it reads: what a client needs to
/// read the very same rows again (`VERSION AS OF snapshot_id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRead {
    /// The table.
    pub table: TableIdent,
    /// The snapshot read (`None`: the table has no snapshot there yet).
    pub snapshot_id: Option<i64>,
}

/// The Iceberg tables `plan` reads and their snapshots, in the order the
/// plan names them, each once.
pub fn tables_read(plan: &datafusion::logical_expr::LogicalPlan) -> Vec<TableRead> {
    use datafusion::common::tree_node::TreeNodeRecursion;
    use datafusion::logical_expr::LogicalPlan;
    let mut reads: Vec<TableRead> = Vec::new();
    let _ = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node
            && let Ok(provider) = datafusion::datasource::source_as_provider(&scan.source)
            && let Some(table) = provider
                .as_any()
                .downcast_ref::<crate::scan::IcebergTableProvider>()
        {
            let read = TableRead {
                table: table.table().ident().clone(),
                snapshot_id: table.table().snapshot_id(),
            };
            if !reads.contains(&read) {
                reads.push(read);
            }
        }
        Ok(TreeNodeRecursion::Continue)
    });
    reads
}

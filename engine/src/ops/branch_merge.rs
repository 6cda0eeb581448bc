//! Row-aware merge of one branch into another, for one table (`ALTER TABLE
//! t MERGE BRANCH x [INTO y]`) or the whole warehouse (`MERGE BRANCH x
//! [INTO y]`), optionally as a `DRY RUN`.
//!
//! Per table: when the target has not moved since the fork, it is
//! fast-forwarded. Otherwise the source's changes since the fork are
//! checked against the target's, row by row: a row (identified by the
//! table's identifier fields, or else by all its values) changed or deleted
//! on both sides is a conflict, and a conflicting merge changes nothing.
//! Changes touching different data files are replayed snapshot by snapshot
//! (Iceberg's cherry-pick, no data copied); changes to the same files are
//! applied as one row-level MERGE of the source's deleted and inserted rows.
//! Every table's new metadata is committed in one catalog transaction.

use std::collections::{BTreeSet, HashMap};

use arrow::array::RecordBatch;
use datafusion::prelude::SessionContext;
use floe_catalog::TableIdent;
use iceberg::spec::{
    MAIN_BRANCH, SnapshotRef, SnapshotReference, SnapshotRetention, TableMetadata,
};

use crate::command::MergeBranch;
use crate::command::merge::{MergeAction, MergeClause, MergeMatch, MergeStatement};
use crate::commit::{SnapshotUpdate, update_metadata};
use crate::error::{FloeError, MergeConflicts, Result, TableConflict, invalid, not_found};
use crate::ops::changes::{CHANGE_TYPE, TableChanges, table_changes};
use crate::provider::FloeCatalogProvider;
use crate::results::{CommitInfo, MergeOutcome, MergeReport};
use crate::scope::Scope;
use crate::table::{ABSENT_FROM_MAIN, LoadedTable, TableVersion, VersionSpec};

/// What a merge does to one table.
enum Plan {
    /// The target already has every change of the source.
    UpToDate,
    /// The table is not on the target yet: it is added there as it is on
    /// the source.
    Create { head: Option<i64> },
    /// The target has not moved since the fork: it moves to the source,
    /// `ahead` snapshots on.
    FastForward { head: i64, ahead: usize },
    /// Both moved, touching different data files: the source's snapshots
    /// are applied again on the target.
    Replay { snapshots: Vec<SnapshotRef> },
    /// Both changed rows of the same data files, but not the same rows.
    RowMerge {
        changes: Box<TableChanges>,
        head: i64,
        deleted: usize,
        inserted: usize,
    },
    /// Both changed the same rows.
    Conflict(TableConflict),
}

impl Plan {
    fn outcome(&self) -> MergeOutcome {
        match self {
            Plan::UpToDate => MergeOutcome::UpToDate,
            Plan::Create { .. } => MergeOutcome::AddTable,
            Plan::FastForward { ahead, .. } => MergeOutcome::FastForward { ahead: *ahead },
            Plan::Replay { snapshots } => MergeOutcome::Replay {
                snapshots: snapshots.len(),
            },
            Plan::RowMerge {
                deleted, inserted, ..
            } => MergeOutcome::RowMerge {
                deleted: *deleted,
                inserted: *inserted,
            },
            Plan::Conflict(conflict) => MergeOutcome::Conflict(conflict.clone()),
        }
    }
}

/// Merge `request.source` into its target for `tables` (`None`: every
/// table of the warehouse on the source). Returns what was done to each
/// table; a merge with conflicts fails with them and changes nothing.
pub(crate) async fn merge_branch(
    ctx: &SessionContext,
    scope: &Scope,
    catalog: &FloeCatalogProvider,
    request: &MergeBranch,
    tables: Option<Vec<TableIdent>>,
) -> Result<MergeReport> {
    scope.refuse_in_transaction("MERGE BRANCH")?;
    let source = request.source.as_str();
    let target = request.target.clone().map_or_else(|| scope.branch(), Ok)?;
    if source == target {
        return Err(invalid!("cannot merge branch '{source}' into itself"));
    }
    let single = tables.is_some();
    let tables = match tables {
        Some(tables) => tables,
        None => {
            if !super::branches::branch_exists(scope, source).await? {
                return Err(not_found!("there is no branch '{source}' in the warehouse"));
            }
            if !super::branches::branch_exists(scope, &target).await? {
                return Err(not_found!("there is no branch '{target}' in the warehouse"));
            }
            super::branches::table_idents(scope).await?
        }
    };

    let mut plans = Vec::new();
    for ident in tables {
        let table = scope.load_table(&ident).await?;
        if !table.exists_on(source)? {
            if single {
                return Err(not_found!("table '{ident}' has no branch '{source}'"));
            }
            continue;
        }
        if single && !table.exists_on(&target)? {
            return Err(not_found!("table '{ident}' has no branch '{target}'"));
        }
        let plan = plan_table(ctx, scope, &table, source, &target).await?;
        plans.push((table, plan));
    }
    if plans.is_empty() {
        return Err(invalid!("no table is on branch '{source}'"));
    }

    let conflicts: Vec<TableConflict> = plans
        .iter()
        .filter_map(|(_, plan)| match plan {
            Plan::Conflict(conflict) => Some(conflict.clone()),
            _ => None,
        })
        .collect();
    let mut report = MergeReport {
        source: source.to_string(),
        target: target.clone(),
        dry_run: request.dry_run,
        tables: plans
            .iter()
            .map(|(table, plan)| (table.ident().clone(), plan.outcome()))
            .collect(),
        committed: Vec::new(),
    };
    if request.dry_run {
        return Ok(report);
    }
    if !conflicts.is_empty() {
        return Err(FloeError::MergeConflict(Box::new(MergeConflicts {
            source: source.to_string(),
            target,
            tables: conflicts,
        })));
    }

    // Every table's commit is staged in the merge's own place (never the
    // session's transaction), then all pointers move at once.
    let private = scope.private()?;
    apply_all(ctx, &private, catalog, plans, source, &target).await?;
    report.committed = private
        .commit()
        .await?
        .iter()
        .map(|table| CommitInfo::of(table, &target, false))
        .collect();
    Ok(report)
}

/// Summary keys naming the source snapshot a snapshot merged in: Floe's
/// row merges, and cherry-picks (replays).
const MERGED_MARKS: [&str; 2] = ["floe.merged-snapshot-id", "source-snapshot-id"];

/// Where two branches last met, as a merge sees it: the position in
/// `source_history` (the source's head first, then its ancestors) of the
/// newest snapshot the target's history (`target_history`, likewise) has,
/// as an ancestor or merged in by an earlier merge (see
/// [`MERGED_MARKS`]). `None`: the branches share no history.
pub(crate) fn merge_base(
    source_history: &[SnapshotRef],
    target_history: &[SnapshotRef],
) -> Option<usize> {
    let position: HashMap<i64, usize> = source_history
        .iter()
        .enumerate()
        .map(|(i, s)| (s.snapshot_id(), i))
        .collect();
    target_history
        .iter()
        .flat_map(|s| {
            std::iter::once(s.snapshot_id()).chain(
                MERGED_MARKS
                    .iter()
                    .filter_map(|key| s.summary().additional_properties.get(*key))
                    .filter_map(|id| id.parse().ok()),
            )
        })
        .filter_map(|id| position.get(&id).copied())
        .min()
}

/// Whether `snapshot` merged in `source` (see [`MERGED_MARKS`]).
pub(crate) fn merged(snapshot: &SnapshotRef, source: Option<i64>) -> bool {
    let Some(source) = source else { return false };
    MERGED_MARKS
        .iter()
        .any(|key| snapshot.summary().additional_properties.get(*key) == Some(&source.to_string()))
}

async fn plan_table(
    ctx: &SessionContext,
    scope: &Scope,
    table: &LoadedTable,
    source: &str,
    target: &str,
) -> Result<Plan> {
    let from = table.at(&VersionSpec::Branch(source.to_string()))?;
    let head = from.snapshot_id();
    if !table.exists_on(target)? {
        return Ok(Plan::Create { head });
    }
    let into = table.at(&VersionSpec::Branch(target.to_string()))?;
    let Some(head) = head else {
        return Ok(Plan::UpToDate);
    };
    let Some(target_head) = into.snapshot_id() else {
        let ahead = table.ancestors(Some(head)).len();
        return Ok(Plan::FastForward { head, ahead });
    };
    if head == target_head {
        return Ok(Plan::UpToDate);
    }
    let source_history = table.ancestors(Some(head));
    let target_history = table.ancestors(Some(target_head));
    if let Some(ahead) = source_history
        .iter()
        .position(|s| s.snapshot_id() == target_head)
    {
        return Ok(Plan::FastForward { head, ahead });
    }
    if target_history.iter().any(|s| s.snapshot_id() == head) {
        return Ok(Plan::UpToDate);
    }
    let base_position = merge_base(&source_history, &target_history);
    if base_position == Some(0) {
        return Ok(Plan::UpToDate);
    }
    let fork = base_position.map(|i| source_history[i].snapshot_id());
    let mut replayed: Vec<SnapshotRef> = source_history
        .into_iter()
        .take_while(|s| Some(s.snapshot_id()) != fork)
        .collect();
    replayed.reverse();
    let target_since: Vec<i64> = target_history
        .iter()
        .take_while(|s| Some(s.snapshot_id()) != fork && !merged(s, fork))
        .map(|s| s.snapshot_id())
        .collect();

    // Both sides' row changes since the fork (an empty table if the
    // branches share no history).
    let base = match fork {
        Some(id) => table.at(&VersionSpec::Snapshot(id))?,
        None => table.with_version(TableVersion::Branch(String::new())),
    };
    let ours = table_changes(ctx, scope, &base, &from).await?;
    let theirs = table_changes(ctx, scope, &base, &into).await?;
    let common_files: BTreeSet<&String> = ours
        .touched_files
        .intersection(&theirs.touched_files)
        .collect();
    let schema = table.metadata().current_schema();
    let identifiers: Vec<String> = schema
        .identifier_field_ids()
        .filter_map(|id| schema.name_by_field_id(id).map(str::to_string))
        .collect();
    if common_files.is_empty() && identifiers.is_empty() {
        return Ok(Plan::Replay {
            snapshots: replayed,
        });
    }

    // Rows, by key, that both sides changed or deleted (and, with
    // identifier fields, keys both sides inserted).
    let key_columns: Vec<String> = if identifiers.is_empty() {
        schema
            .as_struct()
            .fields()
            .iter()
            .map(|f| f.name.clone())
            .collect()
    } else {
        identifiers.clone()
    };
    let keys = |frame: datafusion::prelude::DataFrame| {
        let columns: Vec<&str> = key_columns.iter().map(String::as_str).collect();
        frame.select_columns(&columns)
    };
    let mut both = keys(ours.deleted.clone())?.intersect(keys(theirs.deleted.clone())?)?;
    if !identifiers.is_empty() {
        both = both.union_distinct(
            keys(ours.inserted.clone())?
                .intersect(keys(theirs.inserted.clone())?)?
                .except_distinct(keys(ours.deleted.clone())?)?,
        )?;
    }
    let conflicting = both.distinct()?.collect().await?;
    let rows: usize = conflicting.iter().map(|b| b.num_rows()).sum();
    if rows > 0 {
        return Ok(Plan::Conflict(TableConflict {
            table: table.ident().to_string(),
            target: target.to_string(),
            rows,
            sample: sample_rows(&conflicting, 5)?,
            fork,
            target_snapshots: target_since,
            files: common_files.iter().take(3).map(|f| f.to_string()).collect(),
        }));
    }
    if common_files.is_empty() {
        return Ok(Plan::Replay {
            snapshots: replayed,
        });
    }
    let deleted = ours.deleted.clone().count().await?;
    let inserted = ours.inserted.clone().count().await?;
    Ok(Plan::RowMerge {
        changes: Box::new(ours),
        head,
        deleted,
        inserted,
    })
}

/// Up to `limit` rows as `(a=1, b='x')`, and how many more there are.
fn sample_rows(batches: &[RecordBatch], limit: usize) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let total: usize = batches.iter().map(|b| b.num_rows()).sum();
    'rows: for batch in batches {
        for row in 0..batch.num_rows() {
            if out.len() == limit {
                break 'rows;
            }
            let mut values = Vec::new();
            for (i, field) in batch.schema().fields().iter().enumerate() {
                let value = datafusion::common::ScalarValue::try_from_array(batch.column(i), row)?;
                let text = match value {
                    v if v.is_null() => "NULL".to_string(),
                    datafusion::common::ScalarValue::Utf8(Some(s))
                    | datafusion::common::ScalarValue::Utf8View(Some(s))
                    | datafusion::common::ScalarValue::LargeUtf8(Some(s)) => format!("'{s}'"),
                    v => v.to_string(),
                };
                values.push(format!("{}={text}", field.name()));
            }
            out.push(format!("({})", values.join(", ")));
        }
    }
    if total > out.len() {
        out.push(format!("and {} more", total - out.len()));
    }
    Ok(out)
}

async fn apply_all(
    ctx: &SessionContext,
    scope: &Scope,
    catalog: &FloeCatalogProvider,
    plans: Vec<(LoadedTable, Plan)>,
    source: &str,
    target: &str,
) -> Result<()> {
    for (table, plan) in plans {
        let ident = table.ident().clone();
        // The plan holds only for the version it was made on.
        let latest = scope.load_table(&ident).await?;
        if latest.metadata_location() != table.metadata_location() {
            return Err(FloeError::Conflict {
                table: ident.to_string(),
                snapshot: latest.snapshot_id(),
                reason: "another writer committed to it while the merge was being planned; \
                         nothing was merged"
                    .into(),
            });
        }
        match plan {
            Plan::UpToDate | Plan::Conflict { .. } => {}
            Plan::Create { head } => move_branch(scope, &ident, target, head, true).await?,
            Plan::FastForward { head, .. } => {
                move_branch(scope, &ident, target, Some(head), false).await?
            }
            Plan::Replay { snapshots } => {
                for snapshot in snapshots {
                    let on_target = scope
                        .load_table(&ident)
                        .await?
                        .at(&VersionSpec::Branch(target.to_string()))?;
                    let update =
                        SnapshotUpdate::replay(scope.engine(), &on_target, &snapshot).await?;
                    update
                        .with_summary("floe.merged-from-branch", source.to_string())
                        .commit(&scope.target()?, on_target)
                        .await?;
                }
            }
            Plan::RowMerge { changes, head, .. } => {
                let summary = vec![
                    ("floe.merged-snapshot-id".to_string(), head.to_string()),
                    ("floe.merged-from-branch".to_string(), source.to_string()),
                ];
                row_merge(ctx, scope, catalog, &ident, *changes, target, summary).await?;
            }
        }
    }
    Ok(())
}

/// Point `branch` of a table at `head` (a table new on the branch: also
/// make it visible on `main`).
async fn move_branch(
    scope: &Scope,
    table: &TableIdent,
    branch: &str,
    head: Option<i64>,
    adds_table: bool,
) -> Result<()> {
    update_metadata(&scope.target()?, table, |current| {
        let mut builder = TableMetadata::clone(current.metadata()).into_builder(None);
        if let Some(head) = head {
            let retention = match current.refs()?.get(branch) {
                Some(r) => r.retention.clone(),
                None => SnapshotRetention::branch(None, None, None),
            };
            builder = builder.set_ref(branch, SnapshotReference::new(head, retention))?;
        }
        if adds_table && branch == MAIN_BRANCH {
            builder = builder.remove_properties(&[ABSENT_FROM_MAIN.to_string()])?;
        }
        Ok(Some(builder))
    })
    .await?;
    Ok(())
}

/// Apply the source's row changes to the target branch as one MERGE:
/// rows it removed are deleted (matched on every column, NULLs equal),
/// rows it added are inserted.
async fn row_merge(
    ctx: &SessionContext,
    scope: &Scope,
    catalog: &FloeCatalogProvider,
    table: &TableIdent,
    changes: TableChanges,
    target: &str,
    summary: Vec<(String, String)>,
) -> Result<()> {
    let namespace = table.namespace().join(".");
    let schema = catalog
        .schema_provider(&namespace)
        .ok_or_else(|| FloeError::Internal(format!("no schema provider for {namespace}")))?;
    let name = format!("__floe_changes_{}", uuid::Uuid::new_v4().simple());
    {
        use datafusion::catalog::SchemaProvider;
        schema.register_table(name.clone(), changes.frame()?.into_view())?;
    }
    let loaded = scope
        .load_table(table)
        .await?
        .at(&VersionSpec::Branch(target.to_string()))?;
    let columns: Vec<String> = loaded
        .schema()
        .as_struct()
        .fields()
        .iter()
        .map(|f| format!("\"{}\"", f.name.replace('"', "\"\"")))
        .collect();
    let on = std::iter::once(format!("s.{CHANGE_TYPE} = 'DELETE'"))
        .chain(
            columns
                .iter()
                .map(|c| format!("(t.{c} IS NOT DISTINCT FROM s.{c})")),
        )
        .collect::<Vec<_>>()
        .join(" AND ");
    let merge = MergeStatement {
        target_alias: "t".into(),
        source: format!(
            "floe.\"{}\".\"{name}\" AS s",
            namespace.replace('"', "\"\"")
        ),
        source_alias: "s".into(),
        on,
        clauses: vec![
            MergeClause {
                kind: MergeMatch::Matched,
                condition: None,
                action: MergeAction::Delete,
            },
            MergeClause {
                kind: MergeMatch::NotMatchedByTarget,
                condition: Some(format!("s.{CHANGE_TYPE} = 'INSERT'")),
                action: MergeAction::Insert {
                    columns: loaded
                        .schema()
                        .as_struct()
                        .fields()
                        .iter()
                        .map(|f| f.name.clone())
                        .collect(),
                    values: columns.iter().map(|c| format!("s.{c}")).collect(),
                },
            },
        ],
        summary,
    };
    let result = merge.run(ctx, scope, &schema, loaded).await;
    {
        use datafusion::catalog::SchemaProvider;
        if let Err(e) = schema.deregister_table(&name) {
            log::warn!("could not deregister {name}: {e}");
        }
    }
    result.map(|_| ())
}

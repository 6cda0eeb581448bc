//! `MERGE INTO`, copy-on-write: the target and the source are joined once
//! to count what each clause does per data file, the data files holding a
//! target row that is updated or deleted are rewritten, inserted rows are
//! written, and everything commits as one `overwrite` snapshot.
//!
//! The join is planned by DataFusion from generated SQL, so the ON
//! condition, the clause conditions and the assignments keep the user's
//! aliases and expressions as written.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use arrow::array::{Array, Int64Array, StringArray};
use arrow::row::{RowConverter, SortField};
use datafusion::catalog::SchemaProvider;
use datafusion::prelude::SessionContext;
use iceberg::scan::FileScanTask;

use crate::command::merge::{MergeAction, MergeClause, MergeMatch, MergeStatement};
use crate::commit::{Isolation, SnapshotUpdate};
use crate::error::{FloeError, Result, invalid, not_found};
use crate::provider::FloeSchemaProvider;
use crate::scan::{FILE_COLUMN, IcebergTableProvider, session_schema};
use crate::scope::Scope;
use crate::table::LoadedTable;
use crate::write::position_deletes::{positions_of_rows, write_position_deletes};
use crate::write::write_frame;

/// How many rows a MERGE changed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct MergeCounts {
    /// Target rows updated.
    pub updated: u64,
    /// Target rows deleted.
    pub deleted: u64,
    /// Rows inserted.
    pub inserted: u64,
}

/// `write.merge.isolation-level`, serializable unless the table says otherwise.
fn isolation(table: &LoadedTable) -> Result<Isolation> {
    match table
        .metadata()
        .properties()
        .get("write.merge.isolation-level")
    {
        Some(level) => Isolation::parse(level),
        None => Ok(Isolation::Serializable),
    }
}

/// The session table the target is scanned through, dropped with the guard.
struct TempTable<'a> {
    schema: &'a FloeSchemaProvider,
    name: String,
}

impl Drop for TempTable<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.schema.deregister_table(&self.name) {
            log::warn!("could not drop the temporary table {}: {e}", self.name);
        }
    }
}

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Names the generated query uses; chosen so a user column cannot clash.
const RID: &str = "__floe_rid";
const SOURCE_MARK: &str = "__floe_src";
const ACTION: &str = "__floe_action";
const MATCHED: &str = "__floe_matched";
const FILE: &str = "__floe_file";
/// Prefix of the columns holding a target row's values before the MERGE.
const OLD: &str = "__floe_old_";

impl MergeStatement {
    /// `update` with the statement's extra summary properties.
    fn with_summary(&self, mut update: SnapshotUpdate) -> SnapshotUpdate {
        for (key, value) in &self.summary {
            update = update.with_summary(key, value.clone());
        }
        update
    }

    /// Run the MERGE on `table` and commit it.
    pub(crate) async fn run(
        &self,
        ctx: &SessionContext,
        scope: &Scope,
        schema: &FloeSchemaProvider,
        table: LoadedTable,
    ) -> Result<MergeCounts> {
        let temp = format!("__floe_merge_{}", uuid::Uuid::new_v4().simple());
        let provider =
            IcebergTableProvider::try_new(scope.clone(), table.clone())?.with_file_column();
        schema.register_table(temp.clone(), Arc::new(provider))?;
        // Unregistered however the statement ends, cancelled included.
        let _guard = TempTable {
            schema,
            name: temp.clone(),
        };
        self.run_registered(ctx, scope, &temp, table).await
    }

    async fn run_registered(
        &self,
        ctx: &SessionContext,
        scope: &Scope,
        temp: &str,
        table: LoadedTable,
    ) -> Result<MergeCounts> {
        let name = table.ident().to_string();
        let merge_on_read = match table.metadata().properties().get("write.merge.mode") {
            None => false,
            Some(mode) if mode.eq_ignore_ascii_case("copy-on-write") => false,
            Some(mode) if mode.eq_ignore_ascii_case("merge-on-read") => true,
            Some(mode) => {
                return Err(invalid!(
                    "table '{name}' sets write.merge.mode = '{mode}': expected 'copy-on-write' \
                     or 'merge-on-read'"
                ));
            }
        };
        let namespace = table.ident().namespace().join(".");
        let columns: Vec<String> = table
            .schema()
            .as_struct()
            .fields()
            .iter()
            .map(|f| f.name.clone())
            .collect();
        let joined = self.joined_sql(
            &name,
            &columns,
            &format!(
                "{}.{}.{}",
                quote(crate::CATALOG_NAME),
                quote(&namespace),
                quote(temp)
            ),
        )?;

        if self.clauses.iter().any(|c| c.kind == MergeMatch::Matched) {
            let sql = format!(
                "SELECT {RID}, count(*) AS n FROM ({joined}) WHERE {MATCHED} \
                 GROUP BY {RID} HAVING count(*) > 1 LIMIT 1"
            );
            let batches = ctx.sql(&sql).await?.collect().await?;
            if let Some(batch) = batches.iter().find(|b| b.num_rows() > 0) {
                let n = batch
                    .column(1)
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .map_or(0, |a| a.value(0));
                return Err(invalid!(
                    "MERGE INTO '{name}': a target row matches {n} source rows; each target row \
                     may match at most one. Help: make the ON condition match one source row \
                     per target row, e.g. deduplicate the source"
                ));
            }
        }

        // What each clause does, per data file.
        let sql = format!(
            "SELECT {FILE}, {ACTION}, count(*) AS n FROM ({joined}) GROUP BY {FILE}, {ACTION}"
        );
        let batches = ctx.sql(&sql).await?.collect().await?;
        let mut counts = MergeCounts::default();
        let mut affected: BTreeSet<String> = BTreeSet::new();
        for batch in &batches {
            let files = batch.column(0).as_any().downcast_ref::<StringArray>();
            let actions = batch.column(1).as_any().downcast_ref::<StringArray>();
            let ns = batch.column(2).as_any().downcast_ref::<Int64Array>();
            let (Some(files), Some(actions), Some(ns)) = (files, actions, ns) else {
                return Err(FloeError::Internal(
                    "unexpected types counting MERGE actions".into(),
                ));
            };
            for i in 0..batch.num_rows() {
                let n = ns.value(i) as u64;
                match actions.value(i).as_bytes().first() {
                    Some(b'u') => counts.updated += n,
                    Some(b'd') => counts.deleted += n,
                    Some(b'i') => counts.inserted += n,
                    _ => continue,
                }
                if !files.is_null(i) {
                    affected.insert(files.value(i).to_string());
                }
            }
        }
        if counts == MergeCounts::default() {
            return Ok(counts);
        }

        let out_columns = columns
            .iter()
            .map(|c| quote(c))
            .collect::<Vec<_>>()
            .join(", ");
        if merge_on_read {
            return self
                .commit_merge_on_read(ctx, scope, table, &joined, &out_columns, counts)
                .await;
        }

        // The rows to write: every kept or updated row of an affected file
        // (once, even if it matched several source rows without a clause
        // acting on it) and every inserted row.
        let files_list = affected
            .iter()
            .map(|f| format!("'{}'", f.replace('\'', "''")))
            .collect::<Vec<_>>()
            .join(", ");
        let in_affected = if affected.is_empty() {
            "false".to_string()
        } else {
            format!("{FILE} IN ({files_list})")
        };
        let sql = format!(
            "SELECT {out_columns} FROM (SELECT *, row_number() OVER (PARTITION BY {RID}) AS __floe_dup \
             FROM ({joined})) \
             WHERE ({in_affected} AND {ACTION} NOT LIKE 'd%' AND __floe_dup = 1) \
                OR {ACTION} LIKE 'i%'"
        );
        let (added, _) = write_frame(scope, &name, table.metadata(), ctx.sql(&sql).await?).await?;

        let live = table.live_files_by_path(scope.engine()).await?;
        let removed = affected
            .iter()
            .map(|path| {
                live.get(path)
                    .map(|f| f.file.clone())
                    .ok_or_else(|| FloeError::Internal(format!("{path} is not a live file")))
            })
            .collect::<Result<Vec<_>>>()?;
        // The join read the whole target: any concurrent addition may
        // change what matches, so the conflict filter is the whole table.
        self.with_summary(SnapshotUpdate::overwrite(added, removed))
            .with_isolation(isolation(&table)?)
            .commit(&scope.target()?, table)
            .await?;
        Ok(counts)
    }

    /// Merge-on-read: the updated and inserted rows are written as new data
    /// files; the target rows updated or deleted get position deletes.
    async fn commit_merge_on_read(
        &self,
        ctx: &SessionContext,
        scope: &Scope,
        table: LoadedTable,
        joined: &str,
        out_columns: &str,
        counts: MergeCounts,
    ) -> Result<MergeCounts> {
        let name = table.ident().to_string();
        let sql = format!(
            "SELECT {out_columns} FROM ({joined}) WHERE {ACTION} LIKE 'u%' OR {ACTION} LIKE 'i%'"
        );
        let (added, _) = write_frame(scope, &name, table.metadata(), ctx.sql(&sql).await?).await?;

        // The values of every target row updated or deleted, by file.
        let old_columns = (0..table.schema().as_struct().fields().len())
            .map(|i| format!("{OLD}{i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT DISTINCT {FILE}, {old_columns} FROM ({joined}) \
             WHERE {ACTION} LIKE 'u%' OR {ACTION} LIKE 'd%'"
        );
        let batches = ctx.sql(&sql).await?.collect().await?;
        let table_schema = session_schema(&table.schema())?;
        let converter = RowConverter::new(
            table_schema
                .fields()
                .iter()
                .map(|f| SortField::new(f.data_type().clone()))
                .collect(),
        )?;
        let mut by_file: BTreeMap<String, HashSet<Vec<u8>>> = BTreeMap::new();
        for batch in &batches {
            let files = batch
                .column(0)
                .as_any()
                .downcast_ref::<StringArray>()
                .ok_or_else(|| FloeError::Internal("MERGE: file paths are not strings".into()))?;
            let values = table_schema
                .fields()
                .iter()
                .enumerate()
                .map(|(i, f)| Ok(arrow::compute::cast(batch.column(i + 1), f.data_type())?))
                .collect::<Result<Vec<_>>>()?;
            let rows = converter.convert_columns(&values)?;
            for i in 0..batch.num_rows() {
                by_file
                    .entry(files.value(i).to_string())
                    .or_default()
                    .insert(rows.row(i).as_ref().to_vec());
            }
        }
        let live = table.live_files_by_path(scope.engine()).await?;
        // The files' delete files, so that rows deleted before are not
        // deleted again.
        let tasks: HashMap<String, FileScanTask> =
            IcebergTableProvider::try_new(scope.clone(), table.clone())?
                .plan_files(&[])
                .await?
                .into_iter()
                .map(|t| (t.data_file_path.clone(), t))
                .collect();
        let mut deletes = Vec::with_capacity(by_file.len());
        for (path, rows) in &by_file {
            let (Some(file), Some(task)) = (live.get(path), tasks.get(path)) else {
                return Err(FloeError::Internal(format!("{path} is not a live file")));
            };
            let positions =
                positions_of_rows(scope, &table, &table_schema, task, &converter, rows).await?;
            let delete =
                write_position_deletes(scope, &table, &file.file, file.spec_id, &positions).await?;
            deletes.push((file.spec_id, delete));
        }
        self.with_summary(SnapshotUpdate::overwrite(added, Vec::new()))
            .with_delete_files(deletes)
            .with_isolation(isolation(&table)?)
            .commit(&scope.target()?, table)
            .await?;
        Ok(counts)
    }

    /// The join of target and source with, per row, each target column's
    /// new value, the data file, a target row id, whether it matched, and
    /// the action taken: `u<n>` / `d<n>` / `i<n>` for clause n, `k` to keep
    /// a target row, `n` for a source row nothing inserts.
    fn joined_sql(&self, table: &str, columns: &[String], target: &str) -> Result<String> {
        let t = quote(&self.target_alias);
        let s = quote(&self.source_alias);
        let has_target = format!("({t}.{RID} IS NOT NULL)");
        let has_source = format!("({s}.{SOURCE_MARK} IS NOT NULL)");
        let matched = format!("({has_target} AND {has_source})");
        let category = |kind: MergeMatch| match kind {
            MergeMatch::Matched => matched.clone(),
            MergeMatch::NotMatchedByTarget => format!("(NOT {has_target})"),
            MergeMatch::NotMatchedBySource => format!("(NOT {has_source})"),
        };
        let when = |clause: &MergeClause| match &clause.condition {
            Some(condition) => format!("{} AND ({condition})", category(clause.kind)),
            None => category(clause.kind),
        };

        let mut action = String::from("CASE");
        for (n, clause) in self.clauses.iter().enumerate() {
            let code = match clause.action {
                MergeAction::Update(_) => 'u',
                MergeAction::Delete => 'd',
                MergeAction::Insert { .. } => 'i',
            };
            action.push_str(&format!(" WHEN {} THEN '{code}{n}'", when(clause)));
        }
        action.push_str(&format!(" WHEN {has_target} THEN 'k' ELSE 'n' END"));

        let mut values = Vec::with_capacity(columns.len());
        for column in columns {
            let current = format!("{t}.{}", quote(column));
            let mut case = String::from("CASE");
            for clause in &self.clauses {
                let value = match &clause.action {
                    MergeAction::Delete => continue,
                    MergeAction::Update(assignments) => assignments
                        .iter()
                        .find(|(c, _)| c == column)
                        .map(|(_, e)| e.clone())
                        .unwrap_or_else(|| current.clone()),
                    MergeAction::Insert {
                        columns: named,
                        values,
                    } => {
                        if named.is_empty() {
                            let i = columns.iter().position(|c| c == column).unwrap_or(0);
                            values.get(i).cloned().unwrap_or_else(|| "NULL".into())
                        } else {
                            match named.iter().position(|c| c == column) {
                                Some(i) => values[i].clone(),
                                None => "NULL".into(),
                            }
                        }
                    }
                };
                case.push_str(&format!(" WHEN {} THEN {value}", when(clause)));
            }
            if case == "CASE" {
                // No clause sets a value (only DELETEs): the row keeps its own.
                values.push(format!("{current} AS {}", quote(column)));
            } else {
                case.push_str(&format!(" ELSE {current} END AS {}", quote(column)));
                values.push(case);
            }
        }
        for clause in &self.clauses {
            match &clause.action {
                MergeAction::Update(assignments) => {
                    for (c, _) in assignments {
                        if !columns.contains(c) {
                            return Err(not_found!(
                                "MERGE INTO '{table}': the table has no column '{c}'"
                            ));
                        }
                    }
                }
                MergeAction::Insert {
                    columns: named,
                    values,
                } => {
                    if named.is_empty() && values.len() != columns.len() {
                        return Err(invalid!(
                            "MERGE INTO '{table}': INSERT VALUES gives {} values for {} columns",
                            values.len(),
                            columns.len()
                        ));
                    }
                    if !named.is_empty() && named.len() != values.len() {
                        return Err(invalid!(
                            "MERGE INTO '{table}': INSERT names {} columns but gives {} values",
                            named.len(),
                            values.len()
                        ));
                    }
                    if let Some(c) = named.iter().find(|c| !columns.contains(c)) {
                        return Err(not_found!(
                            "MERGE INTO '{table}': the table has no column '{c}'"
                        ));
                    }
                }
                MergeAction::Delete => {}
            }
        }

        let old_values = columns
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{t}.{} AS {OLD}{i}", quote(c)))
            .collect::<Vec<_>>()
            .join(", ");
        Ok(format!(
            "SELECT {values}, {old_values}, {t}.{file} AS {FILE}, {t}.{RID} AS {RID}, \
             {matched} AS {MATCHED}, {action} AS {ACTION} \
             FROM (SELECT *, row_number() OVER () AS {RID} FROM {target}) AS {t} \
             FULL OUTER JOIN (SELECT *, true AS {SOURCE_MARK} FROM {source}) AS {s} \
             ON {on}",
            values = values.join(", "),
            file = quote(FILE_COLUMN),
            source = self.source,
            on = self.on,
        ))
    }
}

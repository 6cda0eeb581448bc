//! Row-level writes, copy-on-write: DELETE and UPDATE rewrite the data
//! files holding affected rows (a file whose every row is deleted is
//! dropped from the metadata without being rewritten), and commit the new
//! files and the removed ones as one snapshot.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, Int64Array, StringArray};
use datafusion::common::runtime::SpawnedTask;
use datafusion::common::{Column, ScalarValue};
use datafusion::functions_aggregate::expr_fn::{count, sum};
use datafusion::logical_expr::{Expr, cast, lit, when};
use datafusion::prelude::{DataFrame, SessionContext, coalesce};
use futures::{StreamExt, TryStreamExt};
use iceberg::scan::FileScanTask;
use iceberg::spec::{DataContentType, Literal};

use crate::commit::{Isolation, SnapshotUpdate};
use crate::error::{FloeError, Result, invalid, not_found};
use crate::scan::{
    FILE_COLUMN, IcebergTableProvider, datum, pushed_filters, session_schema, to_predicate,
};
use crate::scope::Scope;
use crate::table::{LiveFile, LoadedTable};
use crate::write::position_deletes::{
    matching_positions, physical_predicate, write_position_deletes,
};
use crate::write::write_frame;

/// What a row-level statement changes in the rows it matches.
pub enum RowChange<'a> {
    /// Remove them.
    Delete,
    /// Set columns to new values: `(column, SQL expression)`.
    Update(&'a [(String, String)]),
}

/// A DELETE or UPDATE on one table.
pub struct RowLevelWrite<'a> {
    /// The session (functions, settings).
    pub ctx: &'a SessionContext,
    /// The session: its branch, its transaction, where commits go.
    pub scope: &'a Scope,
    /// The table, as loaded for this statement.
    pub table: LoadedTable,
    /// The name the statement calls the table by (alias or table name).
    pub alias: String,
    /// The WHERE condition, as SQL.
    pub predicate: Option<String>,
}

/// `INSERT OVERWRITE t PARTITION (c = v, ...) <query>`: the rows of the
/// static partition are replaced by the query's rows (which give the other
/// columns, in table order). Returns the rows written.
pub async fn overwrite_partition(
    ctx: &SessionContext,
    scope: &Scope,
    table: LoadedTable,
    partition: &[(String, String)],
    query: &str,
) -> Result<u64> {
    let name = table.ident().to_string();
    let schema = table.schema().clone();
    let spec = table.metadata().default_partition_spec().clone();
    if table.metadata().partition_specs_iter().len() > 1 {
        return Err(FloeError::Unsupported(format!(
            "INSERT OVERWRITE '{name}' PARTITION (...) on a table whose partitioning changed: \
             files of the older specs cannot be matched to the partition; use DELETE then INSERT"
        )));
    }
    let provider = IcebergTableProvider::try_new(scope.clone(), table.clone())?;
    let target = ctx.read_table(Arc::new(provider.clone()))?;
    let mut values = HashMap::new();
    for (column, sql) in partition {
        let field = schema.field_by_name(column).ok_or_else(|| {
            not_found!("INSERT OVERWRITE '{name}': the table has no column '{column}'")
        })?;
        let is_identity_partition = spec
            .fields()
            .iter()
            .any(|f| f.source_id == field.id && f.transform == iceberg::spec::Transform::Identity);
        if !is_identity_partition {
            return Err(invalid!(
                "INSERT OVERWRITE '{name}' PARTITION ({column} = ...): '{column}' is not an \
                 identity partition column of the table"
            ));
        }
        // Evaluate the value once, as the column's type.
        let value = target.parse_sql_expr(sql)?;
        let data_type = target
            .schema()
            .field_with_unqualified_name(column)?
            .data_type()
            .clone();
        let batches = ctx
            .sql("SELECT 1")
            .await?
            .select(vec![cast(value, data_type)])?
            .collect()
            .await?;
        let scalar = batches
            .first()
            .map(|b| ScalarValue::try_from_array(b.column(0), 0))
            .transpose()?
            .ok_or_else(|| FloeError::Internal("a constant gave no row".into()))?;
        let partition_index = spec
            .fields()
            .iter()
            .position(|f| {
                f.source_id == field.id && f.transform == iceberg::spec::Transform::Identity
            })
            .unwrap_or_default();
        values.insert(column.clone(), (lit(scalar), partition_index));
    }

    let rows = ctx.sql(query).await?;
    let columns = schema.as_struct().fields();
    let dynamic = columns.len() - values.len();
    if rows.schema().fields().len() != dynamic {
        return Err(invalid!(
            "INSERT OVERWRITE '{name}' PARTITION (...): the query gives {} columns, the table has \
             {dynamic} besides the static partition columns",
            rows.schema().fields().len()
        ));
    }
    let mut exprs = Vec::with_capacity(columns.len());
    let mut next = 0;
    for field in columns {
        let expr = match values.get(&field.name) {
            Some((value, _)) => value.clone(),
            None => {
                let (qualifier, f) = rows.schema().qualified_field(next);
                next += 1;
                Expr::Column(Column::new(qualifier.cloned(), f.name()))
            }
        };
        exprs.push(expr.alias(&field.name));
    }
    let rows = rows.select(exprs)?;

    // The files of the partition, by their identity partition values (the
    // current spec's files only: older specs are not partitioned alike).
    let predicate = values
        .iter()
        .map(|(c, (v, _))| column(c).eq(v.clone()))
        .reduce(Expr::and)
        .ok_or_else(|| FloeError::Internal("an empty PARTITION clause".into()))?;
    let filters = [predicate];
    let mut wanted = Vec::with_capacity(values.len());
    for (c, (v, index)) in &values {
        let Expr::Literal(scalar, _) = v else {
            return Err(FloeError::Internal(format!(
                "partition value of {c} is not a literal"
            )));
        };
        let datum = if scalar.is_null() {
            None
        } else {
            Some(datum(scalar).ok_or_else(|| {
                invalid!("INSERT OVERWRITE '{name}': cannot use {scalar} as the value of '{c}'")
            })?)
        };
        wanted.push((*index, datum));
    }
    let spec_id = spec.spec_id();
    let removed = table
        .live_files(scope.engine())
        .await?
        .into_iter()
        .filter(|f| f.spec_id == spec_id && f.file.content_type() == DataContentType::Data)
        .filter(|f| {
            wanted.iter().all(|(index, datum)| {
                let value = f.file.partition().fields().get(*index).cloned().flatten();
                match (value, datum) {
                    (None, None) => true,
                    (Some(Literal::Primitive(p)), Some(d)) => &p == d.literal(),
                    _ => false,
                }
            })
        })
        .map(|f| f.file)
        .collect();

    let (added, written) = write_frame(scope, &name, table.metadata(), rows).await?;
    SnapshotUpdate::overwrite(added, removed)
        .with_conflict_filter(to_predicate(&filters, &provider.pruning_schema()))
        .commit(&scope.target()?, table)
        .await?;
    Ok(written)
}

/// The table's columns with `assignments` applied: to every row, or with
/// `condition` to the rows it holds for.
fn update_exprs(
    frame: &DataFrame,
    table: &str,
    assignments: &[(String, String)],
    columns: &[String],
    condition: Option<&Expr>,
) -> Result<Vec<Expr>> {
    let schema = frame.schema().clone();
    let mut new_values = HashMap::new();
    for (target, sql) in assignments {
        if !columns.contains(target) {
            return Err(not_found!(
                "UPDATE '{table}': the table has no column '{target}'"
            ));
        }
        let value = frame.parse_sql_expr(sql)?;
        if new_values.insert(target.clone(), value).is_some() {
            return Err(invalid!("UPDATE '{table}': column '{target}' is set twice"));
        }
    }
    let mut exprs = Vec::with_capacity(columns.len());
    for c in columns {
        let expr = match new_values.remove(c) {
            Some(value) => {
                let data_type = schema.field_with_unqualified_name(c)?.data_type().clone();
                let value = cast(value, data_type);
                match condition {
                    Some(condition) => when(condition.clone(), value).otherwise(column(c))?,
                    None => value,
                }
                .alias(c)
            }
            None => column(c),
        };
        exprs.push(expr);
    }
    Ok(exprs)
}

fn column(name: &str) -> Expr {
    Expr::Column(Column::new_unqualified(name))
}

impl RowLevelWrite<'_> {
    /// Run the statement and commit it; returns the number of rows changed.
    pub async fn run(self, change: RowChange<'_>) -> Result<u64> {
        let name = self.table.ident().to_string();
        let (mode_key, isolation_key) = match change {
            RowChange::Delete => ("write.delete.mode", "write.delete.isolation-level"),
            RowChange::Update(_) => ("write.update.mode", "write.update.isolation-level"),
        };
        let properties = self.table.metadata().properties();
        let merge_on_read = match properties.get(mode_key).map(|m| m.to_ascii_lowercase()) {
            None => false,
            Some(m) if m == "copy-on-write" => false,
            Some(m) if m == "merge-on-read" => true,
            Some(m) => {
                return Err(invalid!(
                    "table '{name}' sets {mode_key} = '{m}': expected 'copy-on-write' or \
                     'merge-on-read'"
                ));
            }
        };
        let isolation = match properties.get(isolation_key) {
            Some(level) => Isolation::parse(level)?,
            None => Isolation::Serializable,
        };

        let provider = IcebergTableProvider::try_new(self.scope.clone(), self.table.clone())?
            .with_file_column();
        let frame = self.frame(provider.clone())?;
        let predicate = match &self.predicate {
            Some(sql) => Some(frame.parse_sql_expr(sql)?),
            None => None,
        };
        // The condition is evaluated more than once (to count, to rewrite,
        // to find positions): it must give the same answer every time.
        if predicate.as_ref().is_some_and(Expr::is_volatile) {
            return Err(FloeError::Unsupported(format!(
                "'{name}': a WHERE condition with a volatile function (random(), now()...) \
                 would match different rows each time it is evaluated"
            )));
        }
        let filters = match &predicate {
            Some(p) => pushed_filters(frame.clone().filter(p.clone())?)?,
            None => Vec::new(),
        };
        let tasks = provider.plan_files(&filters).await?;
        let conflict_filter = to_predicate(&filters, &provider.pruning_schema());
        let matches = match &predicate {
            Some(p) => coalesce(vec![p.clone(), lit(false)]),
            None => lit(true),
        };

        // How many rows of each candidate file match.
        let hits = self.file_hits(&provider, &tasks, &matches).await?;
        let changed: u64 = hits.values().map(|(_, hit)| *hit).sum();
        if changed == 0 {
            return Ok(0);
        }
        let live = self.table.live_files_by_path(self.scope.engine()).await?;
        if merge_on_read {
            // UPDATE writes the changed rows anew; both delete the old ones
            // by position.
            let added = match change {
                RowChange::Delete => Vec::new(),
                RowChange::Update(assignments) => {
                    let affected: Vec<FileScanTask> = tasks
                        .iter()
                        .filter(|t| hits.get(&t.data_file_path).is_some_and(|(_, hit)| *hit > 0))
                        .cloned()
                        .collect();
                    let frame = self.frame(provider.clone().with_tasks(affected))?;
                    let columns = self.column_names();
                    let exprs = update_exprs(&frame, &name, assignments, &columns, None)?;
                    self.write_rows(frame.filter(matches.clone())?.select(exprs)?, &name)
                        .await?
                }
            };
            let predicate = predicate.clone().unwrap_or_else(|| lit(true));
            return self
                .merge_on_read(
                    &tasks,
                    &hits,
                    &live,
                    &predicate,
                    added,
                    conflict_filter,
                    isolation,
                )
                .await
                .map(|()| changed);
        }
        let mut removed = Vec::new();
        let mut rewrite = Vec::new();
        for task in &tasks {
            let Some((total, hit)) = hits.get(&task.data_file_path) else {
                continue;
            };
            if *hit == 0 {
                continue;
            }
            let file = live.get(&task.data_file_path).ok_or_else(|| {
                FloeError::Internal(format!("{} is not a live file", task.data_file_path))
            })?;
            removed.push(file.file.clone());
            // A file whose every row is deleted is dropped, not rewritten.
            if !(matches!(change, RowChange::Delete) && hit == total) {
                rewrite.push(task.clone());
            }
        }

        let added = if rewrite.is_empty() {
            Vec::new()
        } else {
            let frame = self.frame(provider.with_tasks(rewrite))?;
            let columns = self.column_names();
            let rows = match change {
                RowChange::Delete => frame
                    .filter(Expr::Not(Box::new(matches.clone())))?
                    .select(columns.iter().map(|c| column(c)).collect::<Vec<_>>())?,
                RowChange::Update(assignments) => {
                    let exprs = update_exprs(&frame, &name, assignments, &columns, Some(&matches))?;
                    frame.select(exprs)?
                }
            };
            self.write_rows(rows, &name).await?
        };

        SnapshotUpdate::overwrite(added, removed)
            .with_conflict_filter(conflict_filter)
            .with_isolation(isolation)
            .commit(&self.scope.target()?, self.table.clone())
            .await?;
        Ok(changed)
    }

    fn column_names(&self) -> Vec<String> {
        self.table
            .schema()
            .as_struct()
            .fields()
            .iter()
            .map(|f| f.name.clone())
            .collect()
    }

    async fn write_rows(
        &self,
        rows: DataFrame,
        name: &str,
    ) -> Result<Vec<iceberg::spec::DataFile>> {
        Ok(write_frame(self.scope, name, self.table.metadata(), rows)
            .await?
            .0)
    }

    /// Merge-on-read: data files losing every row leave the table; the
    /// others get a position delete file listing the rows that go. `added`
    /// are new data files (UPDATE's new rows).
    #[allow(clippy::too_many_arguments)]
    async fn merge_on_read(
        &self,
        tasks: &[FileScanTask],
        hits: &HashMap<String, (u64, u64)>,
        live: &HashMap<String, LiveFile>,
        predicate: &Expr,
        added: Vec<iceberg::spec::DataFile>,
        conflict_filter: Option<iceberg::expr::Predicate>,
        isolation: Isolation,
    ) -> Result<()> {
        let table_schema = session_schema(&self.table.schema())?;
        let predicate = physical_predicate(self.ctx, &self.alias, &table_schema, predicate)?;
        let mut removed = Vec::new();
        let mut partly = Vec::new();
        for task in tasks {
            let Some(&(total, hit)) = hits.get(&task.data_file_path) else {
                continue;
            };
            if hit == 0 {
                continue;
            }
            let file = live.get(&task.data_file_path).ok_or_else(|| {
                FloeError::Internal(format!("{} is not a live file", task.data_file_path))
            })?;
            if hit == total {
                removed.push(file.file.clone());
            } else {
                partly.push((file.clone(), task.clone()));
            }
        }
        // The files losing some rows get their positions found and their
        // delete file written a few at a time, each reading only the
        // columns the condition needs.
        let concurrency = self.ctx.state().config().target_partitions().max(1);
        let deletes: Vec<(i32, iceberg::spec::DataFile)> =
            futures::stream::iter(partly.into_iter().map(|(file, task)| {
                let (scope, table) = (self.scope.clone(), self.table.clone());
                let (schema, predicate) = (Arc::clone(&table_schema), Arc::clone(&predicate));
                SpawnedTask::spawn(async move {
                    let positions =
                        matching_positions(&scope, &table, &schema, &task, &predicate).await?;
                    let delete = write_position_deletes(
                        &scope,
                        &table,
                        &file.file,
                        file.spec_id,
                        &positions,
                    )
                    .await?;
                    Ok::<_, FloeError>((file.spec_id, delete))
                })
                .join_unwind()
            }))
            .buffered(concurrency)
            .map(|joined| {
                joined.map_err(|e| FloeError::Internal(format!("a delete task failed: {e}")))?
            })
            .try_collect()
            .await?;
        SnapshotUpdate::overwrite(added, removed)
            .with_delete_files(deletes)
            .with_conflict_filter(conflict_filter)
            .with_isolation(isolation)
            .commit(&self.scope.target()?, self.table.clone())
            .await?;
        Ok(())
    }

    fn frame(&self, provider: IcebergTableProvider) -> Result<DataFrame> {
        Ok(self
            .ctx
            .read_table(Arc::new(provider))?
            .alias(&self.alias)?)
    }

    /// `(rows, matching rows)` of each candidate file.
    async fn file_hits(
        &self,
        provider: &IcebergTableProvider,
        tasks: &[FileScanTask],
        matches: &Expr,
    ) -> Result<HashMap<String, (u64, u64)>> {
        if tasks.is_empty() {
            return Ok(HashMap::new());
        }
        let frame = self.frame(provider.clone().with_tasks(tasks.to_vec()))?;
        let hit = when(matches.clone(), lit(1i64)).otherwise(lit(0i64))?;
        let batches = frame
            .aggregate(
                vec![column(FILE_COLUMN)],
                vec![count(lit(1)).alias("total"), sum(hit).alias("hits")],
            )?
            .collect()
            .await?;
        let mut out = HashMap::new();
        for batch in &batches {
            let files = batch.column(0).as_any().downcast_ref::<StringArray>();
            let totals = batch.column(1).as_any().downcast_ref::<Int64Array>();
            let hits = batch.column(2).as_any().downcast_ref::<Int64Array>();
            let (Some(files), Some(totals), Some(hits)) = (files, totals, hits) else {
                return Err(FloeError::Internal(
                    "unexpected types counting rows per file".into(),
                ));
            };
            for i in 0..batch.num_rows() {
                let hit = if hits.is_null(i) { 0 } else { hits.value(i) };
                out.insert(
                    files.value(i).to_string(),
                    (totals.value(i) as u64, hit as u64),
                );
            }
        }
        Ok(out)
    }
}

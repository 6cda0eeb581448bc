//! Computing a model on the run branch: in full, or from what changed
//! upstream since its last run, so that the result always equals a full
//! recompute.
//!
//! - `overwrite`: recomputed in full when an upstream changed.
//! - `append`: the SELECT over the rows one upstream gained (an
//!   incremental scan between two snapshots) is appended. A SELECT that
//!   aggregates, deduplicates, ranks or limits is not distributive over
//!   appends, and an upstream that lost or changed rows invalidates what
//!   was appended: both recompute in full, as do several upstreams
//!   changing at once.
//! - `merge (keys)`: the keys whose upstream rows changed (inserted or
//!   deleted, from any operation) are recomputed from every upstream row
//!   with those keys, and replace the target's rows for those keys. This
//!   equals a full recompute when each key's result depends only on the
//!   upstream rows of that key, which is what a merge key means.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::array::{Array, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use datafusion::catalog::MemTable;
use datafusion::sql::TableReference;
use floe_engine::{LoadedTable, Session, TableIdent};
use iceberg::spec::Operation;

use crate::error::Result;
use crate::spec::{Defaults, Mode, Model};
use crate::sql::{self, literal, quote, quote_table};
use crate::state::ModelState;

/// The rows an upstream gained between two snapshots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Delta {
    pub table: String,
    pub from: i64,
    pub to: i64,
    pub columns: Vec<String>,
}

/// How a model will be computed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Plan {
    /// Nothing it reads changed.
    UpToDate,
    /// From all upstream rows.
    Full(String),
    /// Append the SELECT over what the changed upstreams gained, each
    /// read as the rows it gained from one snapshot to another.
    Append { deltas: Vec<Delta> },
    /// Replace the keys whose upstream rows changed.
    Merge {
        keys: Vec<String>,
        /// (table, from, to) of each changed upstream.
        changed: Vec<(String, i64, i64)>,
        /// The upstreams that have every key column: read for the changed
        /// keys only.
        restricted: Vec<String>,
    },
}

impl Plan {
    /// `up to date`, `full` or `incremental`.
    pub(crate) fn action(&self) -> &'static str {
        match self {
            Self::UpToDate => "up to date",
            Self::Full(_) => "full",
            Self::Append { .. } | Self::Merge { .. } => "incremental",
        }
    }

    /// What the plan does, for messages.
    pub(crate) fn describe(&self) -> String {
        match self {
            Self::UpToDate => "up to date".into(),
            Self::Full(reason) => format!("in full: {reason}"),
            Self::Append { deltas } => format!(
                "appending what {} gained",
                deltas
                    .iter()
                    .map(|d| format!("{} (snapshot {} to {})", d.table, d.from, d.to))
                    .collect::<Vec<_>>()
                    .join(" and ")
            ),
            Self::Merge { keys, changed, .. } => format!(
                "recomputing the ({}) keys changed in {}",
                keys.join(", "),
                changed
                    .iter()
                    .map(|(t, _, _)| t.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

/// The live rows of `table` at `snapshot`, from its summary: the rows of
/// its data files less those its position delete files remove.
fn summary_records(table: &LoadedTable, snapshot: Option<i64>) -> u64 {
    let Some(summary) = snapshot.and_then(|id| table.metadata().snapshot_by_id(id)) else {
        return 0;
    };
    let total = |key: &str| -> u64 {
        summary
            .summary()
            .additional_properties
            .get(key)
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    total("total-records").saturating_sub(total("total-position-deletes"))
}

/// Whether `table` only gained rows between snapshots `from` and `to`. A
/// `replace` (compaction, a manifest rewrite) changes no row, so it does
/// not end an append-only stretch: reads between the snapshots go through
/// `table_changes`, where the rewritten rows cancel out.
async fn append_only(
    run: &Session,
    name: &str,
    table: &LoadedTable,
    from: i64,
    to: i64,
) -> Result<bool> {
    for snapshot in table.ancestors(Some(to)) {
        if snapshot.snapshot_id() == from {
            return Ok(true);
        }
        if !matches!(
            snapshot.summary().operation,
            Operation::Append | Operation::Replace
        ) {
            return Ok(false);
        }
    }
    // `from` is not an ancestor (the branch was merged row by row): ask
    // the rows themselves.
    let query = format!(
        "SELECT count(*) FROM table_changes({}, '{from}', '{to}') WHERE _change_type = 'DELETE'",
        literal(name)
    );
    Ok(count(&run.sql(&query).await?.collect().await?)? == 0)
}

/// Whether the SELECT's result is not the union of its results over parts
/// of its input, so that it cannot be appended to incrementally: its plan
/// (subqueries included) aggregates, deduplicates, ranks or limits.
async fn is_holistic(run: &Session, select: &str) -> Result<bool> {
    use datafusion::common::tree_node::TreeNodeRecursion;
    use datafusion::logical_expr::LogicalPlan;
    let frame = run.sql(select).await?;
    let mut holistic = false;
    frame.logical_plan().apply_with_subqueries(|node| {
        holistic = matches!(
            node,
            LogicalPlan::Aggregate(_)
                | LogicalPlan::Window(_)
                | LogicalPlan::Distinct(_)
                | LogicalPlan::Limit(_)
        );
        Ok(if holistic {
            TreeNodeRecursion::Stop
        } else {
            TreeNodeRecursion::Continue
        })
    })?;
    Ok(holistic)
}

/// Decide how to compute `model` now.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn decide(
    model: &Model,
    hash: &str,
    target: Option<&LoadedTable>,
    state: Option<&ModelState>,
    inputs: &BTreeMap<String, Option<i64>>,
    upstream: &BTreeMap<String, LoadedTable>,
    full_refresh: bool,
    defaults: &Defaults,
    run: &Session,
) -> Result<Plan> {
    let full = |reason: &str| Ok(Plan::Full(reason.to_string()));
    if full_refresh {
        return full("--full-refresh");
    }
    if target.is_none() {
        return full("a new table");
    }
    let Some(state) = state else {
        return full("no earlier run");
    };
    if state.model_hash != hash {
        return full("the model changed since its last run");
    }
    if target.and_then(|t| t.snapshot_id()) != state.snapshot_id {
        // Another writer changed the table: what was computed from it
        // incrementally may no longer hold.
        return full("the table changed outside the pipeline since its last run");
    }
    let changed: Vec<(&String, Option<i64>, Option<i64>)> = inputs
        .iter()
        .filter_map(|(name, now)| {
            let before = state.inputs.get(name).copied();
            (before != Some(*now)).then(|| (name, before.flatten(), *now))
        })
        .collect();
    if changed.is_empty() {
        return Ok(Plan::UpToDate);
    }
    let mut ranges = Vec::new();
    for (name, before, now) in &changed {
        let (Some(before), Some(now)) = (before, now) else {
            return full(&format!("{name} had no snapshot before"));
        };
        let table = &upstream[*name];
        if table.metadata().snapshot_by_id(*before).is_none() {
            return full(&format!("snapshot {before} of {name} has expired"));
        }
        ranges.push(((*name).clone(), *before, *now));
    }
    match &model.mode {
        Mode::Overwrite => full("an upstream changed"),
        Mode::Append => {
            if is_holistic(run, &model.select).await? {
                return full(
                    "an upstream changed, and the SELECT aggregates, deduplicates or limits",
                );
            }
            if ranges.len() > 1 {
                // Several changed upstreams append separately only when
                // no branch of a UNION ALL reads two of them (a join of
                // two changed tables also gains old × new rows).
                let branches = sql::union_branches_read(&model.select, defaults)
                    .map_err(floe_engine::FloeError::invalid)?;
                let changed: Vec<String> = ranges.iter().map(|r| r.0.clone()).collect();
                let separate = branches.is_some_and(|branches| {
                    branches.iter().all(|reads| {
                        reads
                            .iter()
                            .filter(|t| changed.contains(&t.to_string()))
                            .count()
                            <= 1
                    })
                });
                if !separate {
                    return full("several upstreams changed and one SELECT reads more than one");
                }
            }
            let mut deltas = Vec::new();
            for (name, from, to) in &ranges {
                let table = &upstream[name];
                if !append_only(run, name, table, *from, *to).await? {
                    return full(&format!("{name} had rows deleted or rewritten"));
                }
                let columns = table
                    .arrow_schema()?
                    .fields()
                    .iter()
                    .map(|f| f.name().clone())
                    .collect();
                deltas.push(Delta {
                    table: name.clone(),
                    from: *from,
                    to: *to,
                    columns,
                });
            }
            Ok(Plan::Append { deltas })
        }
        Mode::Merge(keys) => {
            let has_keys = |table: &LoadedTable| -> Result<bool> {
                let schema = table.arrow_schema()?;
                Ok(keys.iter().all(|k| schema.field_with_name(k).is_ok()))
            };
            for (name, _, _) in &ranges {
                if !has_keys(&upstream[name])? {
                    return full(&format!(
                        "{name} changed and has no column {}",
                        keys.join(", ")
                    ));
                }
            }
            let mut restricted = Vec::new();
            for (name, table) in upstream {
                if has_keys(table)? {
                    restricted.push(name.clone());
                }
            }
            Ok(Plan::Merge {
                keys: keys.clone(),
                changed: ranges,
                restricted,
            })
        }
    }
}

/// What computing a model did.
pub(crate) struct Outcome {
    pub rows_read: u64,
    pub rows_written: u64,
}

/// The first value of the first column: a statement's row count.
pub(crate) fn count(batches: &[RecordBatch]) -> Result<u64> {
    let Some(batch) = batches
        .iter()
        .find(|b| b.num_rows() > 0 && b.num_columns() > 0)
    else {
        return Ok(0);
    };
    let column = cast(batch.column(0), &DataType::Int64)?;
    let Some(values) = column.as_any().downcast_ref::<arrow::array::Int64Array>() else {
        return Ok(0);
    };
    Ok(if values.is_valid(0) {
        values.value(0).max(0) as u64
    } else {
        0
    })
}

/// The SELECT list that puts `model`'s columns in the target's order, adding
/// to the target the columns the model has and the target lacks; and the
/// names of the model's columns, in its order.
async fn target_columns(
    run: &Session,
    model: &Model,
    target: &LoadedTable,
) -> Result<(String, String)> {
    let produced = run.sql(&model.select).await?.schema().as_arrow().clone();
    let schema = target.arrow_schema()?;
    let name = quote_table(&model.target);
    let mut added = false;
    for field in produced.fields() {
        if schema.field_with_name(field.name()).is_err() {
            let Some(sql_type) = sql::sql_type(field.data_type()) else {
                return Err(floe_engine::FloeError::unsupported(format!(
                    "the model gives a new column {} of type {}, which cannot be added to {}",
                    field.name(),
                    field.data_type(),
                    model.target
                ))
                .into());
            };
            run.sql(&format!(
                "ALTER TABLE {name} ADD COLUMN {} {sql_type}",
                quote(field.name())
            ))
            .await?;
            added = true;
        }
    }
    let schema = if added {
        run.table(&model.target.to_string()).await?.arrow_schema()?
    } else {
        schema
    };
    let list: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| {
            if produced.field_with_name(f.name()).is_ok() {
                quote(f.name())
            } else {
                format!("NULL AS {}", quote(f.name()))
            }
        })
        .collect();
    let names: Vec<String> = produced.fields().iter().map(|f| quote(f.name())).collect();
    Ok((list.join(", "), names.join(", ")))
}

/// What a model reads: its upstream tables as the run branch has them
/// now, and what this run wrote to them.
pub(crate) struct Upstream<'a> {
    /// Each table the SELECT reads, by name, at the head of the run branch.
    pub tables: &'a BTreeMap<String, LoadedTable>,
    /// What earlier steps of this run wrote, by table.
    pub written: &'a HashMap<String, Written>,
}

/// Compute `model` on the session's branch by `plan`.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn apply(
    run: &Session,
    model: &Model,
    defaults: &Defaults,
    properties: &str,
    target: Option<&LoadedTable>,
    plan: &Plan,
    upstream: Upstream<'_>,
    key_tables: &mut KeyTables,
) -> Result<(Outcome, Option<Written>)> {
    let name = quote_table(&model.target);
    let upstream_rows = || -> u64 {
        upstream
            .tables
            .values()
            .map(|table| summary_records(table, table.snapshot_id()))
            .sum()
    };
    match (plan, target) {
        (Plan::UpToDate, _) => Ok((
            Outcome {
                rows_read: 0,
                rows_written: 0,
            },
            None,
        )),
        (Plan::Full(_), None) => {
            let namespace = model
                .target
                .namespace()
                .iter()
                .map(|p| quote(p))
                .collect::<Vec<_>>()
                .join(".");
            run.sql(&format!("CREATE SCHEMA IF NOT EXISTS {namespace}"))
                .await?;
            run.sql(&format!(
                "CREATE TABLE {name}{properties} AS {}",
                model.select
            ))
            .await?
            .collect()
            .await?;
            let created = run.table(&model.target.to_string()).await?;
            let written = summary_records(&created, created.snapshot_id());
            let outcome = Outcome {
                rows_read: upstream_rows(),
                rows_written: written,
            };
            Ok((outcome, None))
        }
        (Plan::Full(_), Some(target)) => {
            let (columns, _) = target_columns(run, model, target).await?;
            let batches = run
                .sql(&format!(
                    "INSERT OVERWRITE {name} SELECT {columns} FROM ({}) AS __floe_model",
                    model.select
                ))
                .await?
                .collect()
                .await?;
            let outcome = Outcome {
                rows_read: upstream_rows(),
                rows_written: count(&batches)?,
            };
            Ok((outcome, None))
        }
        (Plan::Append { deltas }, Some(target)) => {
            let mut replacements = HashMap::new();
            let mut read = 0;
            for delta in deltas {
                let ident = crate::spec::table_ident(&delta.table, defaults).ok_or_else(|| {
                    floe_engine::FloeError::internal(format!("bad upstream name {}", delta.table))
                })?;
                replacements.insert(
                    ident,
                    format!(
                        "SELECT {} FROM table_changes({}, '{}', '{}') WHERE _change_type = 'INSERT'",
                        delta.columns.iter().map(|c| quote(c)).collect::<Vec<_>>().join(", "),
                        literal(&delta.table),
                        delta.from,
                        delta.to
                    ),
                );
                let table = &upstream.tables[&delta.table];
                read += summary_records(table, Some(delta.to))
                    .saturating_sub(summary_records(table, Some(delta.from)));
            }
            let mut select = sql::replace_tables(&model.select, defaults, &replacements)
                .map_err(floe_engine::FloeError::invalid)?;
            // Branches of a UNION ALL that read no changed table gained
            // nothing: they are left out, not read again.
            let branches = sql::union_branches_read(&model.select, defaults)
                .map_err(floe_engine::FloeError::invalid)?;
            if let Some(branches) = branches.filter(|b| b.len() > 1) {
                let keep: Vec<bool> = branches
                    .iter()
                    .map(|reads| reads.iter().any(|t| replacements.contains_key(t)))
                    .collect();
                select = sql::keep_union_branches(&select, &keep)
                    .map_err(floe_engine::FloeError::internal)?;
            }
            let (columns, names) = target_columns(run, model, target).await?;
            let batches = run
                .sql(&format!(
                    "INSERT INTO {name} SELECT {columns} FROM ({select}) AS __floe_model({names})"
                ))
                .await?
                .collect()
                .await?;
            let outcome = Outcome {
                rows_read: read,
                rows_written: count(&batches)?,
            };
            // The runner knows the snapshots the append went between.
            Ok((outcome, None))
        }
        (
            Plan::Merge {
                keys,
                changed,
                restricted,
            },
            Some(target),
        ) => {
            merge(
                run,
                model,
                defaults,
                target,
                keys,
                changed,
                restricted,
                upstream.written,
                key_tables,
            )
            .await
        }
        (_, None) => Err(floe_engine::FloeError::internal(format!(
            "an incremental plan for {}, which does not exist",
            model.target
        ))
        .into()),
    }
}

/// What a step of this run wrote to its target, for the checks (which
/// read only those rows) and for the models downstream (whose changed keys
/// come from those rows alone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Written {
    /// Rows appended, between two snapshots.
    Appended { before: i64, after: i64 },
    /// The rows of the keys in the session table `keys_table` replaced.
    Merged {
        /// The target's snapshot before, if it had one.
        before: Option<i64>,
        /// The merge keys.
        keys: Vec<String>,
        /// The session table of the changed keys, quoted.
        keys_table: String,
    },
}

/// `a.k1 = b.k1 AND a.k2 = b.k2`.
fn join_on(keys: &[String], left: &str, right: &str) -> String {
    keys.iter()
        .map(|k| format!("{left}.{k} = {right}.{k}", k = quote(k)))
        .collect::<Vec<_>>()
        .join(" AND ")
}

impl Written {
    /// The query for the rows of `target` this run wrote.
    pub(crate) fn new_rows(&self, target: &TableIdent) -> String {
        match self {
            Self::Appended { before, after } => format!(
                "SELECT * EXCLUDE (_change_type) FROM table_changes({}, '{before}', '{after}') \
                 WHERE _change_type = 'INSERT'",
                literal(&target.to_string())
            ),
            Self::Merged {
                keys, keys_table, ..
            } => format!(
                "SELECT __floe_t.* FROM {} AS __floe_t JOIN {keys_table} AS __floe_k ON {}",
                quote_table(target),
                join_on(keys, "__floe_t", "__floe_k")
            ),
        }
    }
}

/// The session tables of a run's changed keys, deregistered when the run
/// ends.
#[derive(Default)]
pub(crate) struct KeyTables {
    registered: Vec<(datafusion::prelude::SessionContext, TableReference)>,
}

impl Drop for KeyTables {
    fn drop(&mut self) {
        for (ctx, reference) in &self.registered {
            let _ = ctx.deregister_table(reference.clone());
        }
    }
}

/// The columns `columns` of the rows of `table` that differ between
/// snapshots `from` and `to`: from what this run wrote where it knows
/// (`written`), else from `table_changes`.
fn changed_rows(
    table: &str,
    from: i64,
    to: i64,
    columns: &str,
    written: Option<&Written>,
    defaults: &Defaults,
) -> String {
    if let (
        Some(Written::Merged {
            before: Some(before),
            keys,
            keys_table,
        }),
        Some(ident),
    ) = (written, crate::spec::table_ident(table, defaults))
        && *before == from
    {
        // Only the rows of the merged keys differ: those rows, before and
        // after.
        let side = |version: i64, alias: &str| {
            let qualified: Vec<String> = columns
                .split(", ")
                .map(|c| format!("{alias}.{c}"))
                .collect();
            format!(
                "SELECT {} FROM {} VERSION AS OF {version} AS {alias} \
                 JOIN {keys_table} AS __floe_k ON {}",
                qualified.join(", "),
                quote_table(&ident),
                join_on(keys, alias, "__floe_k")
            )
        };
        return format!(
            "{} UNION ALL {}",
            side(from, "__floe_old"),
            side(to, "__floe_new")
        );
    }
    format!(
        "SELECT {columns} FROM table_changes({}, '{from}', '{to}')",
        literal(table)
    )
}

/// Up to this many changed keys are deleted by a list of literals.
const KEY_LITERALS_MAX: usize = 200_000;

/// The values of a single key column as a SQL list of literals (NULLs
/// left out: they match nothing), if the key is one column of an integer,
/// string or date type and there are not too many.
fn key_literals(keys: &[String], batches: &[RecordBatch]) -> Result<Option<String>> {
    use arrow::array::AsArray;
    if keys.len() != 1 || batches.iter().map(|b| b.num_rows()).sum::<usize>() > KEY_LITERALS_MAX {
        return Ok(None);
    }
    let mut out = Vec::new();
    for batch in batches {
        let column = batch.column(0);
        match column.data_type() {
            DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::UInt64 => {
                let values = cast(column, &DataType::Int64)?;
                out.extend(
                    values
                        .as_primitive::<arrow::datatypes::Int64Type>()
                        .iter()
                        .flatten()
                        .map(|v| v.to_string()),
                );
            }
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
                let values = cast(column, &DataType::Utf8)?;
                out.extend(values.as_string::<i32>().iter().flatten().map(literal));
            }
            DataType::Date32 => {
                let values = cast(column, &DataType::Utf8)?;
                out.extend(
                    values
                        .as_string::<i32>()
                        .iter()
                        .flatten()
                        .map(|d| format!("DATE {}", literal(d))),
                );
            }
            _ => return Ok(None),
        }
    }
    if out.is_empty() {
        return Ok(None);
    }
    Ok(Some(out.join(", ")))
}

#[allow(clippy::too_many_arguments)]
async fn merge(
    run: &Session,
    model: &Model,
    defaults: &Defaults,
    target: &LoadedTable,
    keys: &[String],
    changed: &[(String, i64, i64)],
    restricted: &[String],
    written: &HashMap<String, Written>,
    key_tables: &mut KeyTables,
) -> Result<(Outcome, Option<Written>)> {
    let key_list = keys.iter().map(|k| quote(k)).collect::<Vec<_>>().join(", ");
    let changes: Vec<String> = changed
        .iter()
        .map(|(table, from, to)| {
            changed_rows(table, *from, *to, &key_list, written.get(table), defaults)
        })
        .collect();
    let query = format!(
        "SELECT {key_list}, count(*) AS __floe_rows FROM ({}) AS __floe_changes GROUP BY {key_list}",
        changes.join(" UNION ALL ")
    );
    let batches = run.sql(&query).await?.collect().await?;
    let mut rows_read = 0u64;
    let mut key_batches = Vec::new();
    for batch in &batches {
        let counts = cast(batch.column(keys.len()), &DataType::Int64)?;
        if let Some(counts) = counts.as_any().downcast_ref::<arrow::array::Int64Array>() {
            rows_read += counts
                .iter()
                .flatten()
                .map(|n| n.max(0) as u64)
                .sum::<u64>();
        }
        key_batches.push(batch.project(&(0..keys.len()).collect::<Vec<_>>())?);
    }
    if key_batches.iter().all(|b| b.num_rows() == 0) {
        let outcome = Outcome {
            rows_read,
            rows_written: 0,
        };
        return Ok((outcome, None));
    }
    // The changed keys, as a session table in the target's namespace, kept
    // for the run: the checks and the models downstream read it.
    let namespace = model.target.namespace().join(".");
    let table_name = format!("__floe_keys_{}", crate::run::sanitize(model.target.name()));
    let reference = TableReference::partial(namespace.as_str(), table_name.as_str());
    let schema = key_batches[0].schema();
    let key_batches_for_delete = key_batches.clone();
    let table = MemTable::try_new(schema, vec![key_batches])?;
    run.session_context()
        .register_table(reference.clone(), Arc::new(table))?;
    key_tables
        .registered
        .push((run.session_context().clone(), reference));
    let keys_name = format!("{}.{}", quote(&namespace), quote(&table_name));
    let name = quote_table(&model.target);
    let delete = match key_literals(keys, &key_batches_for_delete)? {
        // One key column: a DELETE with the keys as literals reads the
        // table once; a MERGE joins it with the keys three times.
        Some(list) => format!("DELETE FROM {name} WHERE {} IN ({list})", quote(&keys[0])),
        None => format!(
            "MERGE INTO {name} AS __floe_target USING {keys_name} AS __floe_keys ON {} \
             WHEN MATCHED THEN DELETE",
            join_on(keys, "__floe_target", "__floe_keys")
        ),
    };
    run.sql(&delete).await?.collect().await?;
    let mut replacements = HashMap::new();
    for upstream in restricted {
        let Some(ident) = crate::spec::table_ident(upstream, defaults) else {
            continue;
        };
        replacements.insert(
            ident.clone(),
            format!(
                "SELECT __floe_up.* FROM {} AS __floe_up JOIN {keys_name} AS __floe_keys ON {}",
                quote_table(&ident),
                join_on(keys, "__floe_up", "__floe_keys")
            ),
        );
    }
    let select = sql::replace_tables(&model.select, defaults, &replacements)
        .map_err(floe_engine::FloeError::invalid)?;
    let (columns, _) = target_columns(run, model, target).await?;
    let batches = run
        .sql(&format!(
            "INSERT INTO {name} SELECT {columns} FROM ({select}) AS __floe_model"
        ))
        .await?
        .collect()
        .await?;
    let outcome = Outcome {
        rows_read,
        rows_written: count(&batches)?,
    };
    let written = Written::Merged {
        before: target.snapshot_id(),
        keys: keys.to_vec(),
        keys_table: keys_name,
    };
    Ok((outcome, Some(written)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn holistic_selects() {
        let dir = tempfile::tempdir().unwrap();
        let engine = floe_engine::Engine::open(dir.path().to_str().unwrap())
            .await
            .unwrap();
        let run = engine.session();
        run.sql("CREATE TABLE t (a BIGINT, b BIGINT)")
            .await
            .unwrap();
        run.sql("CREATE TABLE u (a BIGINT, b BIGINT)")
            .await
            .unwrap();
        for sql in [
            "SELECT a, b + 1 FROM t WHERE a > 0 UNION ALL SELECT a, b FROM u",
            "SELECT t.a, u.b FROM t JOIN u ON t.a = u.a ORDER BY 1",
            "SELECT a FROM t WHERE b <> 3 AND a IN (SELECT a FROM u)",
        ] {
            assert!(!is_holistic(&run, sql).await.unwrap(), "{sql}");
        }
        for sql in [
            "SELECT a, sum(b) FROM t GROUP BY a",
            "SELECT count(*) FROM t",
            "SELECT DISTINCT a FROM t",
            "SELECT a FROM t UNION SELECT a FROM u",
            "SELECT a, row_number() OVER (PARTITION BY a ORDER BY b) FROM t",
            "SELECT a FROM t ORDER BY a LIMIT 3",
            "WITH m AS (SELECT max(b) AS m FROM u) SELECT t.a FROM t, m WHERE t.b = m.m",
            "SELECT a FROM t WHERE b > (SELECT avg(b) FROM u)",
        ] {
            assert!(is_holistic(&run, sql).await.unwrap(), "{sql}");
        }
    }
}

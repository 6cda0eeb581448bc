//! What the runner remembers, kept in tables of the warehouse so that it is
//! committed with the data it describes: `floe.pipeline_files` (the
//! ingest ledger) and `floe.pipeline_runs` (one row per run, with a
//! `tables` list: each table it wrote, its counts, its snapshot and the
//! upstream snapshots it read).
//!
//! A run writes them on its branch, so they reach `main` in the same
//! atomic commit as the rows they account for: a crash can neither lose an
//! object nor ingest it twice. The runner reads them from `main` only.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Int64Array, ListArray, RecordBatch, StringArray, StructArray,
    TimestampMicrosecondArray,
};
use arrow::buffer::OffsetBuffer;
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema};
use chrono::{DateTime, Utc};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use floe_engine::{FloeError, Session, TableIdent};

use crate::error::Result;
use crate::sql::literal;

/// The ingest ledger.
pub const FILES_TABLE: &str = "floe.pipeline_files";
/// One row per run.
pub const RUNS_TABLE: &str = "floe.pipeline_runs";

const DDL: &[&str] = &[
    "CREATE SCHEMA IF NOT EXISTS floe",
    "CREATE TABLE IF NOT EXISTS floe.pipeline_files (
        pipeline STRING NOT NULL, source STRING NOT NULL, object STRING NOT NULL,
        size BIGINT NOT NULL, etag STRING, modified TIMESTAMP NOT NULL,
        run_id STRING NOT NULL, table_name STRING NOT NULL,
        rows BIGINT NOT NULL, quarantined BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS floe.pipeline_runs (
        run_id STRING NOT NULL, pipeline STRING NOT NULL,
        started_at TIMESTAMP NOT NULL, ended_at TIMESTAMP NOT NULL,
        status STRING NOT NULL, error STRING, branch STRING,
        rows_read BIGINT NOT NULL, rows_written BIGINT NOT NULL,
        rows_quarantined BIGINT NOT NULL,
        tables ARRAY<STRUCT<table_name STRING, step STRING, action STRING,
            rows_read BIGINT, rows_written BIGINT, rows_quarantined BIGINT,
            snapshot_id BIGINT, inputs STRING, model_hash STRING>>)",
];

/// Create the runner's tables on `main` if they are missing.
pub(crate) async fn ensure_tables(main: &Session) -> Result<()> {
    for ddl in DDL {
        main.sql(ddl).await?;
    }
    Ok(())
}

/// Whether the runner's tables exist (a dry run creates nothing).
pub(crate) async fn tables_exist(main: &Session) -> Result<bool> {
    let names = main.sql("SHOW TABLES IN floe").await;
    let Ok(frame) = names else {
        return Ok(false);
    };
    let batches = frame.collect().await?;
    let mut found = HashSet::new();
    for batch in &batches {
        for name in strings(batch, "table_name")?.into_iter().flatten() {
            found.insert(name);
        }
    }
    Ok(["pipeline_files", "pipeline_runs"]
        .iter()
        .all(|t| found.contains(*t)))
}

/// A column of `batch` as strings (views and dictionaries included).
pub(crate) fn strings(batch: &RecordBatch, name: &str) -> Result<Vec<Option<String>>> {
    let column = batch.column_by_name(name).ok_or_else(|| {
        floe_engine::FloeError::internal(format!("the state query has no column {name}"))
    })?;
    let column = cast(column, &DataType::Utf8)?;
    let Some(strings) = column.as_any().downcast_ref::<StringArray>() else {
        return Err(floe_engine::FloeError::internal("cast to Utf8 gave no strings").into());
    };
    Ok(strings.iter().map(|s| s.map(str::to_string)).collect())
}

/// A column of `batch` as 64-bit integers.
pub(crate) fn ints(batch: &RecordBatch, name: &str) -> Result<Vec<Option<i64>>> {
    let column = batch.column_by_name(name).ok_or_else(|| {
        floe_engine::FloeError::internal(format!("the state query has no column {name}"))
    })?;
    let column = cast(column, &DataType::Int64)?;
    let Some(ints) = column.as_any().downcast_ref::<Int64Array>() else {
        return Err(floe_engine::FloeError::internal("cast to Int64 gave no integers").into());
    };
    Ok(ints.iter().collect())
}

/// The identity of an ingested object: the same path with another size
/// or ETag (or, without an ETag, another modification time) is a new
/// object.
pub(crate) fn object_key(location: &str, size: u64, etag: Option<&str>, modified: i64) -> String {
    match etag {
        Some(etag) => format!("{location}\u{1}{size}\u{1}{etag}"),
        None => format!("{location}\u{1}{size}\u{1}@{modified}"),
    }
}

/// The objects each source of `pipeline` has ingested, by source name.
pub(crate) async fn ledger(
    main: &Session,
    pipeline: &str,
) -> Result<HashMap<String, HashSet<String>>> {
    let query = format!(
        "SELECT source, object, size, etag, CAST(modified AS BIGINT) AS modified \
         FROM floe.pipeline_files VERSION AS OF 'main' WHERE pipeline = {}",
        literal(pipeline)
    );
    let batches = main.sql(&query).await?.collect().await?;
    let mut out: HashMap<String, HashSet<String>> = HashMap::new();
    for batch in &batches {
        let sources = strings(batch, "source")?;
        let objects = strings(batch, "object")?;
        let sizes = ints(batch, "size")?;
        let etags = strings(batch, "etag")?;
        let modified = ints(batch, "modified")?;
        for i in 0..batch.num_rows() {
            let (Some(source), Some(object)) = (&sources[i], &objects[i]) else {
                continue;
            };
            let key = object_key(
                object,
                sizes[i].unwrap_or_default() as u64,
                etags[i].as_deref(),
                modified[i].unwrap_or_default(),
            );
            out.entry(source.clone()).or_default().insert(key);
        }
    }
    Ok(out)
}

/// What a model read the last time it was computed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ModelState {
    /// The upstream tables and the snapshot of each it read (`None`: the
    /// table had no snapshot).
    pub inputs: BTreeMap<String, Option<i64>>,
    /// The hash of the model's SELECT, mode and checks.
    pub model_hash: String,
    /// The target's snapshot that run left.
    pub snapshot_id: Option<i64>,
}

/// The state of each model target of `pipeline`, from its last successful
/// run, by table name.
pub(crate) async fn model_states(
    main: &Session,
    pipeline: &str,
) -> Result<HashMap<String, ModelState>> {
    let query = format!(
        "SELECT tables FROM floe.pipeline_runs VERSION AS OF 'main' \
         WHERE status = 'success' AND pipeline = {} ORDER BY started_at, run_id",
        literal(pipeline)
    );
    let batches = main.sql(&query).await?.collect().await?;
    let mut out = HashMap::new();
    for batch in &batches {
        let Some(lists) = batch
            .column_by_name("tables")
            .and_then(|c| c.as_list_opt::<i32>())
        else {
            return Err(FloeError::internal("floe.pipeline_runs.tables is not a list").into());
        };
        for row in 0..lists.len() {
            if lists.is_null(row) {
                continue;
            }
            let entries = lists.value(row);
            let Some(entries) = entries.as_struct_opt() else {
                return Err(
                    FloeError::internal("floe.pipeline_runs.tables holds no structs").into(),
                );
            };
            let entries = RecordBatch::from(entries.clone());
            let tables = strings(&entries, "table_name")?;
            let inputs = strings(&entries, "inputs")?;
            let hashes = strings(&entries, "model_hash")?;
            let snapshots = ints(&entries, "snapshot_id")?;
            for i in 0..entries.num_rows() {
                let (Some(table), Some(inputs)) = (&tables[i], &inputs[i]) else {
                    continue;
                };
                let inputs: BTreeMap<String, Option<i64>> =
                    serde_json::from_str(inputs).unwrap_or_default();
                out.insert(
                    table.clone(),
                    ModelState {
                        inputs,
                        model_hash: hashes[i].clone().unwrap_or_default(),
                        snapshot_id: snapshots[i],
                    },
                );
            }
        }
    }
    Ok(out)
}

/// The run ids of `pipeline` recorded on `main`, with their status.
pub(crate) async fn recorded_runs(
    main: &Session,
    pipeline: &str,
) -> Result<HashMap<String, String>> {
    let query = format!(
        "SELECT run_id, status FROM floe.pipeline_runs VERSION AS OF 'main' WHERE pipeline = {}",
        literal(pipeline)
    );
    let batches = main.sql(&query).await?.collect().await?;
    let mut out = HashMap::new();
    for batch in &batches {
        let ids = strings(batch, "run_id")?;
        let statuses = strings(batch, "status")?;
        for (id, status) in ids.into_iter().zip(statuses) {
            if let (Some(id), Some(status)) = (id, status) {
                out.insert(id, status);
            }
        }
    }
    Ok(out)
}

/// One ingested object, for the ledger.
#[derive(Debug, Clone)]
pub(crate) struct LedgerEntry {
    pub source: String,
    pub object: String,
    pub size: u64,
    pub etag: Option<String>,
    pub modified: DateTime<Utc>,
    pub table: TableIdent,
    pub rows: u64,
    pub quarantined: u64,
}

/// One run, for `floe.pipeline_runs`.
#[derive(Debug, Clone)]
pub(crate) struct RunRecord {
    pub run_id: String,
    pub pipeline: String,
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
    pub status: String,
    pub error: Option<String>,
    pub branch: Option<String>,
    pub rows_read: u64,
    pub rows_written: u64,
    pub rows_quarantined: u64,
}

/// One table a run wrote, for the `tables` of `floe.pipeline_runs`.
#[derive(Debug, Clone)]
pub(crate) struct TableRecord {
    pub table: TableIdent,
    pub step: String,
    pub action: String,
    pub rows_read: u64,
    pub rows_written: u64,
    pub rows_quarantined: u64,
    pub snapshot_id: Option<i64>,
    pub inputs: Option<BTreeMap<String, Option<i64>>>,
    pub model_hash: Option<String>,
}

fn micros(at: &DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

fn string_column<'a>(values: impl IntoIterator<Item = Option<&'a str>>) -> ArrayRef {
    Arc::new(StringArray::from_iter(values))
}

fn int_column(values: impl IntoIterator<Item = Option<i64>>) -> ArrayRef {
    Arc::new(Int64Array::from_iter(values))
}

fn timestamp_column(values: impl IntoIterator<Item = i64>) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from_iter_values(values))
}

async fn append(session: &Session, table: &str, columns: Vec<(&str, ArrayRef)>) -> Result<()> {
    let schema = Arc::new(Schema::new(
        columns
            .iter()
            .map(|(name, array)| Field::new(*name, array.data_type().clone(), true))
            .collect::<Vec<_>>(),
    ));
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        columns.into_iter().map(|(_, a)| a).collect(),
    )?;
    if batch.num_rows() == 0 {
        return Ok(());
    }
    let stream = RecordBatchStreamAdapter::new(schema, futures::stream::iter([Ok(batch)]));
    session.append(table, Box::pin(stream)).await?;
    Ok(())
}

/// Append `entries` to the ledger on the session's branch.
pub(crate) async fn record_files(
    session: &Session,
    pipeline: &str,
    run_id: &str,
    entries: &[LedgerEntry],
) -> Result<()> {
    let n = entries.len();
    let tables: Vec<String> = entries.iter().map(|e| e.table.to_string()).collect();
    append(
        session,
        FILES_TABLE,
        vec![
            (
                "pipeline",
                string_column(std::iter::repeat_n(Some(pipeline), n)),
            ),
            (
                "source",
                string_column(entries.iter().map(|e| Some(e.source.as_str()))),
            ),
            (
                "object",
                string_column(entries.iter().map(|e| Some(e.object.as_str()))),
            ),
            (
                "size",
                int_column(entries.iter().map(|e| Some(e.size as i64))),
            ),
            (
                "etag",
                string_column(entries.iter().map(|e| e.etag.as_deref())),
            ),
            (
                "modified",
                timestamp_column(entries.iter().map(|e| micros(&e.modified))),
            ),
            (
                "run_id",
                string_column(std::iter::repeat_n(Some(run_id), n)),
            ),
            (
                "table_name",
                string_column(tables.iter().map(|t| Some(t.as_str()))),
            ),
            (
                "rows",
                int_column(entries.iter().map(|e| Some(e.rows as i64))),
            ),
            (
                "quarantined",
                int_column(entries.iter().map(|e| Some(e.quarantined as i64))),
            ),
        ],
    )
    .await
}

/// The `tables` column of one run: a list of one struct per table.
fn tables_column(tables: &[TableRecord]) -> Result<ArrayRef> {
    let names: Vec<String> = tables.iter().map(|t| t.table.to_string()).collect();
    let inputs: Vec<Option<String>> = tables
        .iter()
        .map(|t| {
            t.inputs
                .as_ref()
                .and_then(|i| serde_json::to_string(i).ok())
        })
        .collect();
    let fields: Vec<(&str, ArrayRef)> = vec![
        (
            "table_name",
            string_column(names.iter().map(|s| Some(s.as_str()))),
        ),
        (
            "step",
            string_column(tables.iter().map(|t| Some(t.step.as_str()))),
        ),
        (
            "action",
            string_column(tables.iter().map(|t| Some(t.action.as_str()))),
        ),
        (
            "rows_read",
            int_column(tables.iter().map(|t| Some(t.rows_read as i64))),
        ),
        (
            "rows_written",
            int_column(tables.iter().map(|t| Some(t.rows_written as i64))),
        ),
        (
            "rows_quarantined",
            int_column(tables.iter().map(|t| Some(t.rows_quarantined as i64))),
        ),
        (
            "snapshot_id",
            int_column(tables.iter().map(|t| t.snapshot_id)),
        ),
        ("inputs", string_column(inputs.iter().map(|s| s.as_deref()))),
        (
            "model_hash",
            string_column(tables.iter().map(|t| t.model_hash.as_deref())),
        ),
    ];
    let (fields, arrays): (Vec<Field>, Vec<ArrayRef>) = fields
        .into_iter()
        .map(|(name, array)| (Field::new(name, array.data_type().clone(), true), array))
        .unzip();
    let entries = StructArray::try_new(fields.into(), arrays, None)?;
    let item = Arc::new(Field::new("element", entries.data_type().clone(), true));
    let offsets = OffsetBuffer::from_lengths([tables.len()]);
    Ok(Arc::new(ListArray::try_new(
        item,
        offsets,
        Arc::new(entries),
        None,
    )?))
}

/// Append a run, with the tables it wrote, on the session's branch.
pub(crate) async fn record_run(
    session: &Session,
    run: &RunRecord,
    tables: &[TableRecord],
) -> Result<()> {
    append(
        session,
        RUNS_TABLE,
        vec![
            ("run_id", string_column([Some(run.run_id.as_str())])),
            ("pipeline", string_column([Some(run.pipeline.as_str())])),
            ("started_at", timestamp_column([micros(&run.started_at)])),
            ("ended_at", timestamp_column([micros(&run.ended_at)])),
            ("status", string_column([Some(run.status.as_str())])),
            ("error", string_column([run.error.as_deref()])),
            ("branch", string_column([run.branch.as_deref()])),
            ("rows_read", int_column([Some(run.rows_read as i64)])),
            ("rows_written", int_column([Some(run.rows_written as i64)])),
            (
                "rows_quarantined",
                int_column([Some(run.rows_quarantined as i64)]),
            ),
            ("tables", tables_column(tables)?),
        ],
    )
    .await
}

/// A run as `floe pipeline status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RunSummary {
    /// The run id.
    pub run_id: String,
    /// When it started (UTC, ISO 8601).
    pub started_at: String,
    /// When it ended.
    pub ended_at: String,
    /// `success`, `checks_failed` or `failed`.
    pub status: String,
    /// The failing checks or the error.
    pub error: Option<String>,
    /// The run branch it kept, if it failed.
    pub branch: Option<String>,
    /// Rows read, written and quarantined, over all its tables.
    pub rows_read: i64,
    /// See `rows_read`.
    pub rows_written: i64,
    /// See `rows_read`.
    pub rows_quarantined: i64,
}

/// The last `limit` runs of `pipeline` recorded on `main`, newest first.
pub async fn last_runs(main: &Session, pipeline: &str, limit: usize) -> Result<Vec<RunSummary>> {
    if !tables_exist(main).await? {
        return Ok(Vec::new());
    }
    let query = format!(
        "SELECT run_id, CAST(started_at AS STRING) AS started_at, \
         CAST(ended_at AS STRING) AS ended_at, status, error, branch, \
         rows_read, rows_written, rows_quarantined \
         FROM floe.pipeline_runs VERSION AS OF 'main' WHERE pipeline = {} \
         ORDER BY started_at DESC, run_id DESC LIMIT {limit}",
        literal(pipeline)
    );
    let batches = main.sql(&query).await?.collect().await?;
    let mut out = Vec::new();
    for batch in &batches {
        let ids = strings(batch, "run_id")?;
        let started = strings(batch, "started_at")?;
        let ended = strings(batch, "ended_at")?;
        let statuses = strings(batch, "status")?;
        let errors = strings(batch, "error")?;
        let branches = strings(batch, "branch")?;
        let read = ints(batch, "rows_read")?;
        let written = ints(batch, "rows_written")?;
        let quarantined = ints(batch, "rows_quarantined")?;
        for i in 0..batch.num_rows() {
            out.push(RunSummary {
                run_id: ids[i].clone().unwrap_or_default(),
                started_at: started[i].clone().unwrap_or_default(),
                ended_at: ended[i].clone().unwrap_or_default(),
                status: statuses[i].clone().unwrap_or_default(),
                error: errors[i].clone(),
                branch: branches[i].clone(),
                rows_read: read[i].unwrap_or_default(),
                rows_written: written[i].unwrap_or_default(),
                rows_quarantined: quarantined[i].unwrap_or_default(),
            });
        }
    }
    Ok(out)
}

/// The quarantine rows of one object, for `<table>__quarantine`.
pub(crate) async fn record_quarantine(
    session: &Session,
    table: &TableIdent,
    run_id: &str,
    rows: &[(String, crate::source::Rejected)],
) -> Result<()> {
    let n = rows.len();
    append(
        session,
        &table.to_string(),
        vec![
            (
                "raw",
                string_column(rows.iter().map(|(_, r)| Some(r.raw.as_str()))),
            ),
            (
                "source",
                string_column(rows.iter().map(|(o, _)| Some(o.as_str()))),
            ),
            (
                "line",
                int_column(rows.iter().map(|(_, r)| Some(r.line as i64))),
            ),
            (
                "reason",
                string_column(rows.iter().map(|(_, r)| Some(r.reason.as_str()))),
            ),
            (
                "run_id",
                string_column(std::iter::repeat_n(Some(run_id), n)),
            ),
        ],
    )
    .await
}

/// The DDL of a source's quarantine table.
pub(crate) fn quarantine_ddl(table: &TableIdent) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {} (raw STRING NOT NULL, source STRING NOT NULL, \
         line BIGINT NOT NULL, reason STRING NOT NULL, run_id STRING NOT NULL)",
        crate::sql::quote_table(table)
    )
}

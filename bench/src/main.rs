//! `floe-bench`: the measurements behind `bench/REPORT.md`, driven by
//! `bench/run.sh` (see the README there). Never part of `cargo test`.
//!
//! - `load`: TPC-H Parquet files into Floe tables, timed (rows/s), and the
//!   same files registered in place with `add_files` as `tpch_files.*`.
//! - `serve`: a warm Floe session and a warm plain-DataFusion session over
//!   the same Parquet files, answering `ENGINE QUERY_FILE OUT_CSV` lines on
//!   stdin with one JSON line each, so a driver can interleave engines.
//! - `commits`: single-row INSERT latency.
//! - `branches`: branch creation time on tables of 1 and of N files.
//!   The same command times planning of a one-partition query on the
//!   N-file table.
//! - `plans`: planning time of each TPC-H query, Floe against DataFusion.
//! - `fetch`: the in-process baselines of the Flight SQL figures (query
//!   lineitem to completion; `INSERT ... SELECT` it from Parquet).
//! - `sessions`: the time to make a session, aggregate commit throughput
//!   with 1, 4 and 16 sessions of one engine, and 8 sessions querying at
//!   once under a memory limit (peak RSS, bytes spilled).

mod flight;
mod sessions;

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext};
use floe_engine::{Lakehouse, Session};

/// The TPC-H tables, as `tpchgen-cli` names its files.
const TABLES: [&str; 8] = [
    "nation", "region", "part", "supplier", "partsupp", "customer", "orders", "lineitem",
];

#[derive(Parser)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Load `<data>/<table>.parquet` (or `<data>/<table>/`) into `tpch.<table>`.
    Load {
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        warehouse: String,
    },
    /// Answer queries on stdin: `floe|floe-loaded|datafusion QUERY_FILE OUT_CSV`.
    Serve {
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        warehouse: String,
    },
    /// Time `n` single-row INSERTs.
    Commits {
        #[arg(long)]
        warehouse: String,
        #[arg(long, default_value_t = 1000)]
        n: usize,
    },
    /// Single-row commit latency against history: `n` commits to one
    /// table with the default policies: at each checkpoint (10, 100,
    /// 1,000, 10,000 snapshots) one JSON line with the p50 of the 10 commits
    /// ending there and the metadata file's size.
    History {
        #[arg(long)]
        warehouse: String,
        #[arg(long, default_value_t = 10_000)]
        n: usize,
    },
    /// Time branch creation on a 1-file and an `files`-file table, and
    /// planning of a one-partition query on the latter.
    Branches {
        #[arg(long)]
        warehouse: String,
        #[arg(long, default_value_t = 10_000)]
        files: usize,
        #[arg(long, default_value_t = 20)]
        repeat: usize,
    },
    /// Time planning (SQL to physical plan) of each query in `queries`,
    /// Floe on `tpch_files` against DataFusion on the same files.
    Plans {
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        warehouse: String,
        #[arg(long)]
        queries: PathBuf,
        #[arg(long, default_value_t = 20)]
        repeat: usize,
        /// Print both engines' physical plans instead of timing them.
        #[arg(long)]
        explain: bool,
    },
    /// In-process baselines of the Flight SQL figures, over lineitem.
    Fetch {
        #[arg(long)]
        warehouse: String,
        #[arg(long)]
        data: PathBuf,
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
    /// Sessions of one engine: their cost, commit throughput, and
    /// concurrent queries under `memory_limit` (with `data`).
    Sessions {
        #[arg(long)]
        warehouse: String,
        #[arg(long)]
        data: Option<PathBuf>,
        #[arg(long)]
        queries: PathBuf,
        #[arg(long, default_value = "1GiB", value_parser = parse_size)]
        memory_limit: usize,
    },
}

fn parse_size(text: &str) -> Result<usize, String> {
    floe_engine::parse_memory_size(text).map_err(|e| e.to_string())
}

fn table_path(data: &Path, table: &str) -> PathBuf {
    let file = data.join(format!("{table}.parquet"));
    if file.exists() {
        file
    } else {
        data.join(table)
    }
}

fn json_line(value: serde_json::Value) -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{value}")?;
    out.flush()?;
    Ok(())
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<()> {
    match Args::parse().command {
        Command::Load { data, warehouse } => load(&data, &warehouse).await,
        Command::Serve { data, warehouse } => serve(&data, &warehouse).await,
        Command::Commits { warehouse, n } => commits(&warehouse, n).await,
        Command::History { warehouse, n } => history(&warehouse, n).await,
        Command::Fetch {
            warehouse,
            data,
            runs,
        } => flight::run(&warehouse, &data, runs).await,
        Command::Branches {
            warehouse,
            files,
            repeat,
        } => branches(&warehouse, files, repeat).await,
        Command::Plans {
            data,
            warehouse,
            queries,
            repeat,
            explain,
        } => plans(&data, &warehouse, &queries, repeat, explain).await,
        Command::Sessions {
            warehouse,
            data,
            queries,
            memory_limit,
        } => sessions::run(&warehouse, data.as_deref(), &queries, memory_limit).await,
    }
}

async fn load(data: &Path, warehouse: &str) -> Result<()> {
    let lh = Lakehouse::open(warehouse).await?;
    lh.sql("CREATE SCHEMA IF NOT EXISTS tpch").await?;
    let mut total_rows = 0u64;
    let mut total_secs = 0f64;
    let mut tables = serde_json::Map::new();
    for table in TABLES {
        let path = table_path(data, table);
        lh.sql(&format!(
            "CREATE EXTERNAL TABLE IF NOT EXISTS raw_{table} STORED AS PARQUET LOCATION '{}'",
            path.display()
        ))
        .await?;
        lh.sql(&format!("DROP TABLE IF EXISTS tpch.{table} PURGE"))
            .await?;
        // The TPC-H schema: every column NOT NULL, as `tpchgen-cli`
        // declares them in its files (a CTAS would make them nullable,
        // as in Spark).
        let ddl = table_ddl(&lh, &format!("raw_{table}")).await?;
        lh.sql(&format!("CREATE TABLE tpch.{table} ({ddl})"))
            .await?;
        let start = Instant::now();
        lh.sql(&format!(
            "INSERT INTO tpch.{table} SELECT * FROM raw_{table}"
        ))
        .await
        .with_context(|| format!("loading {table}"))?;
        let secs = start.elapsed().as_secs_f64();
        let rows = count(&lh, &format!("SELECT count(*) FROM tpch.{table}")).await? as u64;
        total_rows += rows;
        total_secs += secs;
        tables.insert(
            table.into(),
            serde_json::json!({ "rows": rows, "seconds": secs }),
        );
    }
    // The same files, registered in place: what Floe's queries are
    // compared with DataFusion and DuckDB on (the very same Parquet files).
    lh.sql("CREATE SCHEMA IF NOT EXISTS tpch_files").await?;
    let start = Instant::now();
    for table in TABLES {
        lh.sql(&format!("DROP TABLE IF EXISTS tpch_files.{table}"))
            .await?;
        register_in_place(&lh, data, table, &format!("tpch_files.{table}")).await?;
    }
    let register_secs = start.elapsed().as_secs_f64();
    json_line(serde_json::json!({
        "rows": total_rows,
        "seconds": total_secs,
        "rows_per_second": total_rows as f64 / total_secs,
        "tables": tables,
        "add_files_seconds": register_secs,
    }))
}

/// Plain DataFusion, same version, default settings, over the TPC-H files.
async fn datafusion_session(data: &Path) -> Result<SessionContext> {
    let df = SessionContext::new_with_config(SessionConfig::new());
    for table in TABLES {
        let path = table_path(data, table);
        df.register_parquet(
            table,
            path.display().to_string(),
            ParquetReadOptions::default(),
        )
        .await?;
    }
    Ok(df)
}

/// The single integer a query such as `SELECT count(*) ...` returns.
pub(crate) async fn count(session: &Session, sql: &str) -> Result<i64> {
    let batches = session.sql(sql).await?.collect().await?;
    let column = batches
        .first()
        .filter(|b| b.num_rows() == 1)
        .with_context(|| format!("no single row from {sql}"))?
        .column(0);
    let n = arrow::compute::cast(column, &arrow::datatypes::DataType::Int64)?;
    n.as_any()
        .downcast_ref::<arrow::array::Int64Array>()
        .map(|a| a.value(0))
        .with_context(|| format!("no integer from {sql}"))
}

/// Register TPC-H's `table` files in place as the Iceberg table `name`
/// (`CALL system.add_files`), with the files' columns, types and
/// nullability.
pub(crate) async fn register_in_place(
    session: &Session,
    data: &Path,
    table: &str,
    name: &str,
) -> Result<()> {
    let path = table_path(data, table);
    session
        .sql(&format!(
            "CREATE EXTERNAL TABLE IF NOT EXISTS raw_{table} STORED AS PARQUET LOCATION '{}'",
            path.display()
        ))
        .await?;
    let ddl = table_ddl(session, &format!("raw_{table}")).await?;
    session.sql(&format!("CREATE TABLE {name} ({ddl})")).await?;
    session
        .sql(&format!(
            "CALL system.add_files('{name}', '`parquet`.`{}`')",
            path.display()
        ))
        .await?
        .collect()
        .await
        .with_context(|| format!("registering {table}"))?;
    Ok(())
}

/// The column list of a `CREATE TABLE` with `table`'s columns, types and
/// nullability.
async fn table_ddl(lh: &Session, table: &str) -> Result<String> {
    use arrow::datatypes::DataType;
    let schema = lh
        .sql(&format!("SELECT * FROM {table}"))
        .await?
        .schema()
        .clone();
    let mut columns = Vec::new();
    for field in schema.fields() {
        let sql_type = match field.data_type() {
            DataType::Int32 => "INT".to_string(),
            DataType::Int64 => "BIGINT".to_string(),
            DataType::Float64 => "DOUBLE".to_string(),
            DataType::Date32 => "DATE".to_string(),
            DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 => "STRING".to_string(),
            DataType::Decimal128(p, s) => format!("DECIMAL({p}, {s})"),
            other => anyhow::bail!("{table}.{}: no SQL type for {other}", field.name()),
        };
        let not_null = if field.is_nullable() { "" } else { " NOT NULL" };
        columns.push(format!("{} {sql_type}{not_null}", field.name()));
    }
    Ok(columns.join(", "))
}

async fn serve(data: &Path, warehouse: &str) -> Result<()> {
    // Floe on the tpchgen files registered with add_files, and on the
    // tables `load` wrote (Floe's own files: zstd, 256k-row groups).
    let lh = Lakehouse::open(warehouse).await?;
    lh.sql("USE tpch_files").await?;
    let loaded = Lakehouse::open(warehouse).await?;
    loaded.sql("USE tpch").await?;
    let df = datafusion_session(data).await?;
    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        let line = line?;
        let parts: Vec<&str> = line.split_whitespace().collect();
        let [engine, query, out] = parts.as_slice() else {
            json_line(serde_json::json!({ "error": format!("bad request: {line}") }))?;
            continue;
        };
        let sql = std::fs::read_to_string(query)?;
        let start = Instant::now();
        let result = match *engine {
            "floe" | "floe-loaded" => {
                let session = if *engine == "floe" { &lh } else { &loaded };
                match session.sql(&sql).await {
                    Ok(frame) => frame.collect().await.map_err(anyhow::Error::from),
                    Err(e) => Err(e.into()),
                }
            }
            "datafusion" => match df.sql(&sql).await {
                Ok(frame) => frame.collect().await.map_err(anyhow::Error::from),
                Err(e) => Err(e.into()),
            },
            other => Err(anyhow::anyhow!("unknown engine {other}")),
        };
        let seconds = start.elapsed().as_secs_f64();
        match result {
            Ok(batches) => {
                let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
                let file = std::fs::File::create(out)?;
                let mut writer = arrow::csv::WriterBuilder::new()
                    .with_header(true)
                    .build(file);
                for batch in &batches {
                    writer.write(batch)?;
                }
                json_line(serde_json::json!({ "seconds": seconds, "rows": rows }))?;
            }
            Err(e) => json_line(serde_json::json!({ "error": e.to_string() }))?,
        }
    }
    Ok(())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

async fn commits(warehouse: &str, n: usize) -> Result<()> {
    let lh = Lakehouse::open(warehouse).await?;
    lh.sql("DROP TABLE IF EXISTS commits PURGE").await?;
    lh.sql("CREATE TABLE commits (id BIGINT, note STRING)")
        .await?;
    let mut times = Vec::with_capacity(n);
    for i in 0..n {
        let start = Instant::now();
        lh.sql(&format!("INSERT INTO commits VALUES ({i}, 'row {i}')"))
            .await?;
        times.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    json_line(serde_json::json!({
        "n": n,
        "p50_ms": percentile(&times, 50.0),
        "p99_ms": percentile(&times, 99.0),
        "mean_ms": times.iter().sum::<f64>() / n as f64,
    }))
}

async fn history(warehouse: &str, n: usize) -> Result<()> {
    let lh = Lakehouse::open(warehouse).await?;
    lh.sql("DROP TABLE IF EXISTS history PURGE").await?;
    lh.sql("CREATE TABLE history (id BIGINT, note STRING)")
        .await?;
    let checkpoints: Vec<usize> = [10, 100, 1_000, 10_000, 100_000]
        .into_iter()
        .filter(|c| *c <= n)
        .collect();
    let mut times = Vec::with_capacity(n);
    for i in 1..=n {
        let start = Instant::now();
        lh.sql(&format!("INSERT INTO history VALUES ({i}, 'row {i}')"))
            .await?;
        times.push(start.elapsed().as_secs_f64() * 1000.0);
        if checkpoints.contains(&i) {
            let mut window = times[i - 10..].to_vec();
            window.sort_by(f64::total_cmp);
            let table = lh.session().table("history").await?;
            let location = table.metadata_location().to_string();
            let path = location.strip_prefix("file://").unwrap_or(&location);
            let bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
            // One line per checkpoint, as it is reached.
            json_line(serde_json::json!({
                "commits": i,
                "snapshots_kept": table.metadata().snapshots().len(),
                "p50_ms": percentile(&window, 50.0),
                "metadata_bytes": bytes,
            }))?;
        }
    }
    recovery(lh, n).await
}

/// Small-file recovery: the history table after its `n` single-row
/// appends (a file each), planned and scanned before and after
/// `rewrite_data_files`, and the compaction itself.
async fn recovery(lh: Lakehouse, n: usize) -> Result<()> {
    let lh = Arc::new(lh);
    let session = lh.session();
    let files_before = count(session, "SELECT count(*) FROM history$files").await?;
    let timings = |lh: &Arc<Lakehouse>| {
        let plan = {
            let lh = Arc::clone(lh);
            median_ms(3, move |_| {
                let lh = Arc::clone(&lh);
                async move {
                    let frame = lh.sql("SELECT sum(id) FROM history").await?;
                    frame.create_physical_plan().await?;
                    Ok(())
                }
            })
        };
        let lh = Arc::clone(lh);
        let scan = median_ms(3, move |_| {
            let lh = Arc::clone(&lh);
            async move {
                lh.sql("SELECT sum(id) FROM history")
                    .await?
                    .collect()
                    .await?;
                Ok(())
            }
        });
        async move { Ok::<_, anyhow::Error>((plan.await?, scan.await?)) }
    };
    let (plan_before, scan_before) = timings(&lh).await?;
    // For Spark's side by side (bench/spark_rewrite.py): the table as it
    // was before the compaction.
    let metadata_before = session
        .table("history")
        .await?
        .metadata_location()
        .to_string();
    let start = Instant::now();
    lh.sql("CALL system.rewrite_data_files(table => 'history')")
        .await?
        .collect()
        .await?;
    let compaction_s = start.elapsed().as_secs_f64();
    let (plan_after, scan_after) = timings(&lh).await?;
    let files_after = count(session, "SELECT count(*) FROM history$files").await?;
    let rows = count(session, "SELECT count(*) FROM history").await?;
    anyhow::ensure!(
        rows as usize == n,
        "the table has {rows} rows after compaction, not {n}"
    );
    json_line(serde_json::json!({
        "recovery": {
            "rows": rows,
            "files_before": files_before,
            "files_after": files_after,
            "plan_before_ms": plan_before,
            "scan_before_ms": scan_before,
            "compaction_ms": compaction_s * 1000.0,
            "compaction_rows_per_s": rows as f64 / compaction_s,
            "plan_after_ms": plan_after,
            "scan_after_ms": scan_after,
            "metadata_before": metadata_before,
        }
    }))
}

/// Median of `repeat` timings of `f`, in ms.
async fn median_ms<F, Fut>(repeat: usize, mut f: F) -> Result<f64>
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let mut times = Vec::with_capacity(repeat);
    for i in 0..repeat {
        let start = Instant::now();
        f(i).await?;
        times.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    Ok(percentile(&times, 50.0))
}

async fn branches(warehouse: &str, files: usize, repeat: usize) -> Result<()> {
    let lh = Arc::new(Lakehouse::open(warehouse).await?);
    lh.sql("DROP TABLE IF EXISTS one_file PURGE").await?;
    lh.sql("CREATE TABLE one_file (k INT, v BIGINT)").await?;
    lh.sql("INSERT INTO one_file SELECT CAST(value % 100 AS INT) AS k, value AS v FROM generate_series(1, 10000)")
        .await?;
    lh.sql("DROP TABLE IF EXISTS many_files PURGE").await?;
    lh.sql("CREATE TABLE many_files (k INT, v BIGINT) PARTITIONED BY (k)")
        .await?;
    // One file per partition value, a thousand partitions per commit.
    let per_commit = 1000usize;
    let mut written = 0usize;
    while written < files {
        let upto = (written + per_commit).min(files);
        lh.sql(&format!(
            "INSERT INTO many_files SELECT CAST(value AS INT) AS k, value AS v FROM generate_series({written}, {})",
            upto - 1
        ))
        .await?;
        written = upto;
    }
    let one_files = count(&lh, "SELECT count(*) FROM one_file$files").await?;
    let many_files = count(&lh, "SELECT count(*) FROM many_files$files").await?;

    let branch = |table: &'static str| {
        let lh = Arc::clone(&lh);
        move |i: usize| {
            let lh = Arc::clone(&lh);
            async move {
                lh.sql(&format!("ALTER TABLE {table} CREATE BRANCH b{i}"))
                    .await?;
                Ok(())
            }
        }
    };
    let one_ms = median_ms(repeat, branch("one_file")).await?;
    let many_ms = median_ms(repeat, branch("many_files")).await?;

    // Planning: parse, resolve, plan the scan (metadata, manifests,
    // pruning) and the physical plan, without running it.
    let plan_ms = median_ms(repeat, |_| {
        let lh = Arc::clone(&lh);
        async move {
            let frame = lh.sql("SELECT * FROM many_files WHERE k = 4242").await?;
            frame.create_physical_plan().await?;
            Ok(())
        }
    })
    .await?;
    let explain = lh
        .sql("EXPLAIN SELECT * FROM many_files WHERE k = 4242")
        .await?
        .collect()
        .await?;
    let explain = arrow::util::pretty::pretty_format_batches(&explain)?.to_string();
    let scan = explain
        .lines()
        .find_map(|l| l.split("IcebergScan: ").nth(1))
        .map(|s| {
            s.trim_end_matches(|c: char| c == '|' || c.is_whitespace())
                .to_string()
        })
        .unwrap_or_default();
    json_line(serde_json::json!({
        "repeat": repeat,
        "one_file": { "files": one_files, "branch_ms": one_ms },
        "many_files": { "files": many_files, "branch_ms": many_ms },
        "planning": { "files": many_files, "plan_ms": plan_ms, "scan": scan },
    }))
}

async fn plans(
    data: &Path,
    warehouse: &str,
    queries: &Path,
    repeat: usize,
    explain: bool,
) -> Result<()> {
    let lh = Arc::new(Lakehouse::open(warehouse).await?);
    lh.sql("USE tpch_files").await?;
    let df = Arc::new(datafusion_session(data).await?);
    let mut names: Vec<PathBuf> = std::fs::read_dir(queries)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    names.sort_by_key(|p| {
        p.file_stem()
            .and_then(|s| s.to_str())
            .and_then(|s| s.trim_start_matches('q').parse::<u32>().ok())
            .unwrap_or(u32::MAX)
    });
    for path in names {
        let sql = Arc::new(std::fs::read_to_string(&path)?);
        if explain {
            for (engine, plan) in [
                ("floe", lh.sql(&sql).await?.create_physical_plan().await?),
                (
                    "datafusion",
                    df.sql(&sql).await?.create_physical_plan().await?,
                ),
            ] {
                let shown = datafusion::physical_plan::displayable(plan.as_ref())
                    .set_show_statistics(true)
                    .indent(false);
                println!("-- {} on {engine}\n{shown}", path.display());
            }
            continue;
        }
        // Interleaved, one repeat of each engine at a time.
        let mut floe = Vec::with_capacity(repeat);
        let mut datafusion = Vec::with_capacity(repeat);
        for _ in 0..repeat {
            let start = Instant::now();
            lh.sql(&sql).await?.create_physical_plan().await?;
            floe.push(start.elapsed().as_secs_f64() * 1000.0);
            let start = Instant::now();
            df.sql(&sql).await?.create_physical_plan().await?;
            datafusion.push(start.elapsed().as_secs_f64() * 1000.0);
        }
        floe.sort_by(f64::total_cmp);
        datafusion.sort_by(f64::total_cmp);
        json_line(serde_json::json!({
            "query": path.file_stem().and_then(|s| s.to_str()),
            "floe_ms": percentile(&floe, 50.0),
            "datafusion_ms": percentile(&datafusion, 50.0),
        }))?;
    }
    Ok(())
}

//! `floe-bench fetch`: the in-process baselines of the Flight SQL figures,
//! over TPC-H's lineitem: the time to run `SELECT * FROM lineitem` to
//! completion in the library (what a Flight fetch is compared with), and
//! the rows/s of `INSERT ... SELECT` from the Parquet files (what an ADBC
//! ingest is compared with).

use std::path::Path;
use std::time::Instant;

use anyhow::Result;
use floe_engine::Engine;

use crate::{json_line, register_in_place, table_ddl, table_path};

pub(crate) async fn run(warehouse: &str, data: &Path, runs: usize) -> Result<()> {
    let engine = Engine::open(warehouse).await?;
    let session = engine.session();
    session.sql("CREATE SCHEMA IF NOT EXISTS bench").await?;
    if session.table("bench.lineitem").await.is_err() {
        register_in_place(&session, data, "lineitem", "bench.lineitem").await?;
    }
    let mut query = Vec::with_capacity(runs);
    let mut rows = 0;
    for _ in 0..runs {
        let start = Instant::now();
        let batches = session
            .sql("SELECT * FROM bench.lineitem")
            .await?
            .collect()
            .await?;
        query.push(start.elapsed().as_secs_f64());
        rows = batches.iter().map(|b| b.num_rows()).sum::<usize>();
    }
    let path = table_path(data, "lineitem");
    session
        .sql(&format!(
            "CREATE EXTERNAL TABLE IF NOT EXISTS raw_lineitem STORED AS PARQUET LOCATION '{}'",
            path.display()
        ))
        .await?;
    let ddl = table_ddl(&session, "raw_lineitem").await?;
    let mut insert = Vec::with_capacity(runs);
    for _ in 0..runs {
        session
            .sql("DROP TABLE IF EXISTS bench.lineitem_insert PURGE")
            .await?;
        session
            .sql(&format!("CREATE TABLE bench.lineitem_insert ({ddl})"))
            .await?;
        let start = Instant::now();
        session
            .sql("INSERT INTO bench.lineitem_insert SELECT * FROM raw_lineitem")
            .await?
            .collect()
            .await?;
        insert.push(start.elapsed().as_secs_f64());
    }
    session
        .sql("DROP TABLE IF EXISTS bench.lineitem_insert PURGE")
        .await?;
    json_line(serde_json::json!({
        "bench": "fetch_in_process",
        "rows": rows,
        "query_seconds": query,
        "insert_seconds": insert,
    }))
}

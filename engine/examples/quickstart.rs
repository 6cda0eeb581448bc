//! Open a warehouse in a temporary directory, create a partitioned table,
//! insert rows and query them.
//!
//! `cargo run -p floe-engine --example quickstart`

use floe_engine::Lakehouse;

#[tokio::main]
async fn main() -> floe_engine::Result<()> {
    let dir = std::env::temp_dir().join(format!("floe-example-{}", std::process::id()));
    let lh = Lakehouse::open(&dir.display().to_string()).await?;

    lh.sql(
        "CREATE TABLE readings (sensor STRING NOT NULL, ts TIMESTAMP, value DOUBLE) \
         PARTITIONED BY (sensor, day(ts))",
    )
    .await?;
    lh.sql(
        "INSERT INTO readings VALUES \
         ('a', TIMESTAMP '2026-11-01 10:00:00', 1.5), \
         ('b', TIMESTAMP '2026-11-01 11:00:00', 2.0), \
         ('a', TIMESTAMP '2026-11-02 09:00:00', 3.5)",
    )
    .await?;

    let batches = lh
        .sql("SELECT sensor, count(*) AS n, avg(value) AS mean FROM readings GROUP BY sensor ORDER BY sensor")
        .await?
        .collect()
        .await?;
    println!("{}", arrow::util::pretty::pretty_format_batches(&batches)?);

    let snapshots = lh
        .sql("SELECT snapshot_id, operation FROM \"readings$snapshots\"")
        .await?
        .collect()
        .await?;
    println!(
        "{}",
        arrow::util::pretty::pretty_format_batches(&snapshots)?
    );
    println!("warehouse: {}", dir.display());
    Ok(())
}

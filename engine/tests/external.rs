//! Parquet external tables: an Iceberg table over files in place, which
//! `REFRESH TABLE` keeps in step with its location (new, changed and
//! vanished files), on the session's branch, and which a new process sees.

#![allow(clippy::unwrap_used)] // tests panic on failure by design

use arrow::array::{Array, Int64Array};
use floe_engine::Lakehouse;

async fn ints(lh: &Lakehouse, sql: &str) -> Vec<i64> {
    let batches = lh.sql(sql).await.unwrap().collect().await.unwrap();
    batches
        .iter()
        .flat_map(|b| {
            let column = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
            (0..column.len())
                .map(|i| column.value(i))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// `(added, removed)` of a `REFRESH TABLE`.
async fn refresh(lh: &Lakehouse, table: &str) -> (i64, i64) {
    let batches = lh
        .sql(&format!("REFRESH TABLE {table}"))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let column = |i: usize| {
        batches[0]
            .column(i)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap()
            .value(0)
    };
    (column(0), column(1))
}

async fn write(lh: &Lakehouse, ids: &str, path: &std::path::Path) {
    lh.sql(&format!(
        "COPY (SELECT * FROM (VALUES {ids}) AS v(id)) TO '{}' STORED AS PARQUET",
        path.display()
    ))
    .await
    .unwrap()
    .collect()
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_follows_new_changed_and_vanished_files() {
    let dir = tempfile::tempdir().unwrap();
    let warehouse = dir.path().join("warehouse").display().to_string();
    let files = dir.path().join("files");
    std::fs::create_dir_all(&files).unwrap();
    let lh = Lakehouse::open(&warehouse).await.unwrap();
    write(&lh, "(1), (2)", &files.join("a.parquet")).await;
    write(&lh, "(3)", &files.join("b.parquet")).await;
    lh.sql(&format!(
        "CREATE EXTERNAL TABLE ev STORED AS PARQUET LOCATION '{}'",
        files.display()
    ))
    .await
    .unwrap();
    assert_eq!(ints(&lh, "SELECT id FROM ev ORDER BY id").await, [1, 2, 3]);

    // One file vanishes, one changes, one appears: one snapshot.
    std::fs::remove_file(files.join("b.parquet")).unwrap();
    write(&lh, "(10), (20), (30)", &files.join("a.parquet")).await;
    write(&lh, "(4)", &files.join("c.parquet")).await;
    assert_eq!(refresh(&lh, "ev").await, (2, 2));
    assert_eq!(
        ints(&lh, "SELECT id FROM ev ORDER BY id").await,
        [4, 10, 20, 30]
    );
    assert_eq!(ints(&lh, "SELECT count(*) FROM ev$snapshots").await, [2]);

    // On a branch, a refresh moves only the branch.
    lh.sql("CREATE BRANCH dev").await.unwrap();
    lh.sql("USE BRANCH dev").await.unwrap();
    write(&lh, "(5)", &files.join("d.parquet")).await;
    assert_eq!(refresh(&lh, "ev").await, (1, 0));
    assert_eq!(ints(&lh, "SELECT count(*) FROM ev").await, [5]);
    lh.sql("USE BRANCH main").await.unwrap();
    assert_eq!(ints(&lh, "SELECT count(*) FROM ev").await, [4]);

    // On `main`, the branch's file is new, and the others gone.
    for name in ["a", "c"] {
        std::fs::remove_file(files.join(format!("{name}.parquet"))).unwrap();
    }
    assert_eq!(refresh(&lh, "ev").await, (1, 2));
    assert_eq!(ints(&lh, "SELECT id FROM ev").await, [5]);

    // Every file gone: the table is empty, and still there, also for a
    // new process.
    std::fs::remove_file(files.join("d.parquet")).unwrap();
    assert_eq!(refresh(&lh, "ev").await, (0, 1));
    drop(lh);
    let lh = Lakehouse::open(&warehouse).await.unwrap();
    assert_eq!(ints(&lh, "SELECT count(*) FROM ev").await, [0]);
    assert_eq!(ints(&lh, "SELECT count(*) FROM ev$snapshots").await, [5]);
}

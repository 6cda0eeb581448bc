//! Concurrent writers on one table: every append commits, none is lost.

#![allow(clippy::unwrap_used)] // tests panic on failure by design

use arrow::array::Int64Array;
use floe_engine::Lakehouse;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_all_commit() {
    let dir = tempfile::tempdir().unwrap();
    let uri = dir.path().display().to_string();
    let setup = Lakehouse::open(&uri).await.unwrap();
    setup
        .sql("CREATE TABLE t (writer BIGINT, n BIGINT) TBLPROPERTIES ('commit.retry.num-retries' = '100', 'commit.retry.min-wait-ms' = '5', 'commit.retry.max-wait-ms' = '200')")
        .await
        .unwrap();

    // Four sessions, each with its own catalog connection, race 10 inserts each.
    let mut tasks = Vec::new();
    for writer in 0..4i64 {
        let uri = uri.clone();
        tasks.push(tokio::spawn(async move {
            let lh = Lakehouse::open(&uri).await.unwrap();
            for n in 0..10i64 {
                lh.sql(&format!("INSERT INTO t VALUES ({writer}, {n})"))
                    .await
                    .unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }

    let batches = setup
        .sql("SELECT count(*), count(DISTINCT writer * 100 + n) FROM t")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let rows = batches[0]
        .column(0)
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap();
    let distinct = batches[0]
        .column(1)
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap();
    assert_eq!((rows.value(0), distinct.value(0)), (40, 40));

    let snapshots = setup
        .sql("SELECT count(*), max(CAST(summary['total-records'] AS BIGINT)) FROM \"t$snapshots\"")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let count = snapshots[0]
        .column(0)
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap();
    let total = snapshots[0]
        .column(1)
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap();
    assert_eq!((count.value(0), total.value(0)), (40, 40));
}

//! Scan planning: file pruning shown by EXPLAIN, parallel file groups, and
//! data files rolled at the table's target size.

#![allow(clippy::unwrap_used)] // tests panic on failure by design

use arrow::array::{Array, Int64Array, StringArray};
use floe_engine::Lakehouse;

async fn lakehouse() -> (tempfile::TempDir, Lakehouse) {
    let dir = tempfile::tempdir().unwrap();
    let lh = Lakehouse::open(&dir.path().display().to_string())
        .await
        .unwrap();
    (dir, lh)
}

async fn explain(lh: &Lakehouse, query: &str) -> String {
    let batches = lh
        .sql(&format!("EXPLAIN {query}"))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let mut text = String::new();
    for batch in &batches {
        let plans = batch
            .column(1)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        for i in 0..plans.len() {
            text.push_str(plans.value(i));
            text.push('\n');
        }
    }
    text
}

async fn count(lh: &Lakehouse, query: &str) -> i64 {
    let batches = lh.sql(query).await.unwrap().collect().await.unwrap();
    batches[0]
        .column(0)
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap()
        .value(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_shows_partition_pruning() {
    let (_dir, lh) = lakehouse().await;
    lh.sql("CREATE TABLE e (id BIGINT, kind STRING) PARTITIONED BY (kind)")
        .await
        .unwrap();
    lh.sql("INSERT INTO e VALUES (1, 'a'), (2, 'b'), (3, 'c'), (4, 'a')")
        .await
        .unwrap();
    let plan = explain(&lh, "SELECT * FROM e WHERE kind = 'a'").await;
    assert!(plan.contains("IcebergScan: table=default.e"), "{plan}");
    assert!(plan.contains("files=1/3"), "{plan}");
    assert_eq!(
        count(&lh, "SELECT count(*) FROM e WHERE kind = 'a'").await,
        2
    );
    let plan = explain(&lh, "SELECT * FROM e").await;
    assert!(plan.contains("files=3/3"), "{plan}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_shows_column_metrics_pruning() {
    let (_dir, lh) = lakehouse().await;
    lh.sql("CREATE TABLE m (id BIGINT, v STRING)")
        .await
        .unwrap();
    for start in [1, 11, 21] {
        lh.sql(&format!(
            "INSERT INTO m SELECT value, 'x' FROM generate_series({start}, {}) ",
            start + 9
        ))
        .await
        .unwrap();
    }
    let plan = explain(&lh, "SELECT * FROM m WHERE id = 15").await;
    assert!(plan.contains("files=1/3"), "{plan}");
    let plan = explain(&lh, "SELECT * FROM m WHERE id > 10 AND id < 12").await;
    assert!(plan.contains("files=1/3"), "{plan}");
    let plan = explain(&lh, "SELECT * FROM m WHERE id >= 100").await;
    assert!(plan.contains("files=0/3"), "{plan}");
    assert_eq!(
        count(&lh, "SELECT count(*) FROM m WHERE id BETWEEN 9 AND 21").await,
        13
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bounds_prune_only_what_they_exclude() {
    let (_dir, lh) = lakehouse().await;
    lh.sql("CREATE TABLE b (id BIGINT, name STRING, x DOUBLE)")
        .await
        .unwrap();
    // One file a statement: names a..c; only NULL names; a NaN among x.
    for values in [
        "(1, 'a', 1.0), (2, 'c', 2.0)",
        "(3, NULL, 3.0), (4, NULL, 4.0)",
        "(5, 'x', 1.0), (6, 'y', CAST('NaN' AS DOUBLE))",
    ] {
        lh.sql(&format!("INSERT INTO b VALUES {values}"))
            .await
            .unwrap();
    }
    // String bounds: 'b' lies within a..c only (the NULL file is pruned:
    // every row of it is NULL).
    let plan = explain(&lh, "SELECT * FROM b WHERE name = 'b'").await;
    assert!(plan.contains("files=1/3"), "{plan}");
    let plan = explain(&lh, "SELECT * FROM b WHERE name IS NULL").await;
    assert!(plan.contains("files=1/3"), "{plan}");
    // A filter on two columns prunes by both; OR keeps either side's files.
    let plan = explain(&lh, "SELECT * FROM b WHERE id >= 3 AND name > 'm'").await;
    assert!(plan.contains("files=1/3"), "{plan}");
    let plan = explain(&lh, "SELECT * FROM b WHERE id = 1 OR id = 6").await;
    assert!(plan.contains("files=2/3"), "{plan}");
    // NaN is outside a double column's bounds (1.0 here), and sorts above
    // every number: the file holding it is kept. (DataFusion's parquet
    // reader then drops the NaN row itself, by the file's own statistics,
    // which leave NaN out too: plain DataFusion does the same.)
    let plan = explain(&lh, "SELECT * FROM b WHERE x > 5").await;
    assert!(plan.contains("files=1/3"), "{plan}");
    // An expression bounds cannot answer prunes nothing, and is still
    // applied to the rows.
    let plan = explain(&lh, "SELECT * FROM b WHERE id % 2 = 0").await;
    assert!(plan.contains("files=3/3"), "{plan}");
    assert_eq!(
        count(&lh, "SELECT count(*) FROM b WHERE id % 2 = 0").await,
        3
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manifests_prune_by_their_partition_summaries() {
    let (_dir, lh) = lakehouse().await;
    lh.sql("CREATE TABLE ps (id BIGINT, kind STRING) PARTITIONED BY (kind)")
        .await
        .unwrap();
    // One manifest a commit: kinds a..b, c..d, and NULL with e.
    for values in [
        "(1, 'a'), (2, 'b')",
        "(3, 'c'), (4, 'd')",
        "(5, NULL), (6, 'e')",
    ] {
        lh.sql(&format!("INSERT INTO ps VALUES {values}"))
            .await
            .unwrap();
    }
    let plan = explain(&lh, "SELECT * FROM ps WHERE kind = 'c'").await;
    assert!(plan.contains("files=1/6"), "{plan}");
    assert_eq!(
        count(&lh, "SELECT count(*) FROM ps WHERE kind = 'c'").await,
        1
    );
    let plan = explain(&lh, "SELECT * FROM ps WHERE kind > 'b' AND kind < 'e'").await;
    assert!(plan.contains("files=2/6"), "{plan}");
    // The summaries know nothing of NULL counts: the manifest holding the
    // NULL partition stays, and its file is found.
    let plan = explain(&lh, "SELECT * FROM ps WHERE kind IS NULL").await;
    assert!(plan.contains("files=1/6"), "{plan}");
    assert_eq!(
        count(&lh, "SELECT count(*) FROM ps WHERE kind IS NULL").await,
        1
    );
    assert_eq!(count(&lh, "SELECT count(*) FROM ps WHERE id > 2").await, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bucket_partitions_still_prune_by_partition() {
    let (_dir, lh) = lakehouse().await;
    lh.sql("CREATE TABLE bk (id BIGINT) PARTITIONED BY (bucket(4, id))")
        .await
        .unwrap();
    // Ids 1, 2 fall in bucket 0, 4 in bucket 2, and 3 and 40 in bucket 3:
    // the bounds of two files (4..4 and 3..40) hold id = 4; only the
    // partition values tell them apart.
    lh.sql("INSERT INTO bk VALUES (1), (2), (3), (4), (40)")
        .await
        .unwrap();
    let plan = explain(&lh, "SELECT * FROM bk WHERE id = 4").await;
    assert!(plan.contains("files=1/3"), "{plan}");
    assert_eq!(count(&lh, "SELECT count(*) FROM bk WHERE id = 4").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_spreads_files_over_every_core() {
    let (_dir, lh) = lakehouse().await;
    lh.sql("SET datafusion.execution.target_partitions = 2")
        .await
        .unwrap();
    lh.sql("CREATE TABLE p (id BIGINT, kind STRING) PARTITIONED BY (kind)")
        .await
        .unwrap();
    lh.sql("INSERT INTO p VALUES (1, 'a'), (2, 'b'), (3, 'c'), (4, 'd')")
        .await
        .unwrap();
    let plan = explain(&lh, "SELECT * FROM p").await;
    assert!(plan.contains("file_groups={2 groups:"), "{plan}");
    assert_eq!(count(&lh, "SELECT sum(id) FROM p").await, 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_roll_at_the_target_size_in_one_snapshot() {
    let (_dir, lh) = lakehouse().await;
    lh.sql("SET datafusion.execution.batch_size = 1000")
        .await
        .unwrap();
    lh.sql(
        "CREATE TABLE r (id BIGINT, pad STRING) \
         TBLPROPERTIES ('write.target-file-size-bytes' = '1')",
    )
    .await
    .unwrap();
    lh.sql("INSERT INTO r SELECT value, repeat('x', 100) FROM generate_series(1, 3000)")
        .await
        .unwrap();
    // A 1-byte target rolls to a new file for every batch of 1000 rows.
    assert_eq!(count(&lh, "SELECT count(*) FROM \"r$files\"").await, 3);
    assert_eq!(
        count(&lh, "SELECT sum(record_count) FROM \"r$files\"").await,
        3000
    );
    assert_eq!(count(&lh, "SELECT count(*) FROM \"r$snapshots\"").await, 1);
    assert_eq!(count(&lh, "SELECT count(*) FROM r").await, 3000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_and_file_uri_warehouses() {
    let dir = tempfile::tempdir().unwrap();
    let file_uri = format!("file://{}", dir.path().display());
    for uri in ["memory://scratch".to_string(), file_uri] {
        let lh = Lakehouse::open(&uri).await.unwrap();
        lh.sql("CREATE TABLE t (id BIGINT) PARTITIONED BY (bucket(2, id))")
            .await
            .unwrap();
        lh.sql("INSERT INTO t VALUES (1), (2), (3)").await.unwrap();
        assert_eq!(count(&lh, "SELECT sum(id) FROM t").await, 6, "{uri}");
        let batches = lh
            .sql("SELECT file_path FROM \"t$files\" LIMIT 1")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let path = batches[0]
            .column(0)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap()
            .value(0);
        assert!(
            path.starts_with(&format!("{uri}/default/t/data/id_bucket=")),
            "{path}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_covering_a_whole_file_drops_it_without_a_rewrite() {
    let (_dir, lh) = lakehouse().await;
    lh.sql("CREATE TABLE d (id INT, v STRING)").await.unwrap();
    for start in [1, 11, 21] {
        lh.sql(&format!(
            "INSERT INTO d SELECT CAST(value AS INT), 'x' FROM generate_series({start}, {})",
            start + 9
        ))
        .await
        .unwrap();
    }
    // The second file holds exactly the rows deleted: it is dropped from the
    // metadata, and no file is written.
    lh.sql("DELETE FROM d WHERE id BETWEEN 11 AND 20")
        .await
        .unwrap();
    let summary = lh
        .sql(
            "SELECT summary['deleted-data-files'], summary['added-data-files'] \
             FROM \"d$snapshots\" ORDER BY committed_at DESC LIMIT 1",
        )
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let deleted = summary[0]
        .column(0)
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap();
    let added = summary[0]
        .column(1)
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap();
    assert_eq!(deleted.value(0), "1");
    assert!(added.is_null(0));
    assert_eq!(count(&lh, "SELECT count(*) FROM d").await, 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_of_every_partition_spec_are_pruned() {
    let (_dir, lh) = lakehouse().await;
    lh.sql("CREATE TABLE ev (id BIGINT, ts TIMESTAMP, kind STRING) PARTITIONED BY (days(ts))")
        .await
        .unwrap();
    lh.sql(
        "INSERT INTO ev VALUES (1, TIMESTAMP '2026-01-01 10:00:00', 'a'), \
         (2, TIMESTAMP '2026-01-02 10:00:00', 'b')",
    )
    .await
    .unwrap();
    lh.sql("ALTER TABLE ev REPLACE PARTITION FIELD ts_day WITH kind")
        .await
        .unwrap();
    lh.sql(
        "INSERT INTO ev VALUES (3, TIMESTAMP '2026-01-01 11:00:00', 'a'), \
         (4, TIMESTAMP '2026-01-03 10:00:00', 'b')",
    )
    .await
    .unwrap();
    // Spec 0 prunes by day, spec 1 by kind, and both by column bounds.
    let plan = explain(
        &lh,
        "SELECT * FROM ev WHERE ts < TIMESTAMP '2026-01-02 00:00:00'",
    )
    .await;
    assert!(plan.contains("files=2/4"), "{plan}");
    let plan = explain(&lh, "SELECT * FROM ev WHERE kind = 'b'").await;
    assert!(plan.contains("files=2/4"), "{plan}");
    assert_eq!(
        count(&lh, "SELECT count(*) FROM ev WHERE kind = 'b'").await,
        2
    );
    let plan = explain(
        &lh,
        "SELECT * FROM ev WHERE kind = 'b' AND ts >= TIMESTAMP '2026-01-03 00:00:00'",
    )
    .await;
    assert!(plan.contains("files=1/4"), "{plan}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_follow_the_write_order() {
    let (_dir, lh) = lakehouse().await;
    lh.sql("CREATE TABLE w (id BIGINT, v STRING)")
        .await
        .unwrap();
    lh.sql("ALTER TABLE w WRITE ORDERED BY v DESC NULLS LAST, id")
        .await
        .unwrap();
    lh.sql("INSERT INTO w VALUES (3, 'b'), (1, 'c'), (2, NULL), (5, 'c'), (4, 'a')")
        .await
        .unwrap();
    let batches = lh
        .sql("SELECT file_path FROM w$files")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let path = batches[0]
        .column(0)
        .as_any()
        .downcast_ref::<arrow::array::StringArray>()
        .unwrap()
        .value(0)
        .to_string();
    // The data file itself, read as plain parquet, in file order.
    lh.sql(&format!(
        "CREATE EXTERNAL TABLE wf STORED AS PARQUET LOCATION '{path}'"
    ))
    .await
    .unwrap();
    let ids = lh
        .sql("SELECT id FROM wf")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let ids: Vec<i64> = ids
        .iter()
        .flat_map(|b| {
            let a = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
            (0..a.len()).map(|i| a.value(i)).collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(ids, vec![1, 5, 3, 4, 2]);

    let order = lh.table("w").await.unwrap();
    assert_eq!(order.metadata().default_sort_order().fields.len(), 2);
    // WRITE UNORDERED: the order is dropped from the metadata.
    lh.sql("ALTER TABLE w WRITE UNORDERED").await.unwrap();
    let order = lh.table("w").await.unwrap();
    assert!(order.metadata().default_sort_order().is_unsorted());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_manifests_are_merged() {
    let (_dir, lh) = lakehouse().await;
    // Every snapshot is kept (no history bound), to count them.
    lh.sql("CREATE TABLE m (id BIGINT) TBLPROPERTIES ('floe.history.max-snapshots' = 'none')")
        .await
        .unwrap();
    for id in 0..120 {
        lh.sql(&format!("INSERT INTO m VALUES ({id})"))
            .await
            .unwrap();
    }
    // The 100th commit found 100 one-file manifests and merged them.
    let manifests = count(&lh, "SELECT count(*) FROM m$manifests").await;
    assert_eq!(manifests, 21);
    assert_eq!(count(&lh, "SELECT count(*) FROM m").await, 120);
    assert_eq!(
        count(&lh, "SELECT sum(id) FROM m").await,
        (0..120).sum::<i64>()
    );
    lh.sql("DELETE FROM m WHERE id < 10").await.unwrap();
    assert_eq!(count(&lh, "SELECT count(*) FROM m").await, 110);
    // Every file is still listed once, with the snapshot that added it.
    assert_eq!(count(&lh, "SELECT count(*) FROM m$files").await, 110);
    assert_eq!(
        count(&lh, "SELECT count(DISTINCT snapshot_id) FROM m$snapshots").await,
        121
    );
}

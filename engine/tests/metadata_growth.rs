//! What keeps a table's metadata from growing with every commit: the
//! metadata log's `write.metadata.previous-versions-max` (with
//! `write.metadata.delete-after-commit.enabled`, the files that leave it
//! are deleted) and manifest merging on commit.

#![allow(clippy::unwrap_used)] // tests panic on failure by design

use std::path::Path;

use arrow::array::Int64Array;
use floe_engine::Lakehouse;

async fn count(lh: &Lakehouse, sql: &str) -> i64 {
    let batches = lh.sql(sql).await.unwrap().collect().await.unwrap();
    batches[0]
        .column(0)
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap()
        .value(0)
}

fn metadata_files(dir: &Path, table: &str) -> usize {
    std::fs::read_dir(dir.join("default").join(table).join("metadata"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".metadata.json")
        })
        .count()
}

async fn five_inserts(lh: &Lakehouse, table: &str, properties: &str) {
    lh.sql(&format!(
        "CREATE TABLE {table} (id BIGINT) TBLPROPERTIES ({properties})"
    ))
    .await
    .unwrap();
    for id in 1..=5 {
        lh.sql(&format!("INSERT INTO {table} VALUES ({id})"))
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metadata_log_is_bounded_and_its_old_files_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let lh = Lakehouse::open(dir.path().to_str().unwrap()).await.unwrap();
    five_inserts(&lh, "kept", "'write.metadata.previous-versions-max' = '2'").await;
    five_inserts(
        &lh,
        "pruned",
        "'write.metadata.previous-versions-max' = '2', \
         'write.metadata.delete-after-commit.enabled' = 'true'",
    )
    .await;
    // The create and five commits wrote six files; the log names two.
    assert_eq!(metadata_files(dir.path(), "kept"), 6);
    assert_eq!(metadata_files(dir.path(), "pruned"), 3);
    for table in ["kept", "pruned"] {
        assert_eq!(
            count(&lh, &format!("SELECT sum(id) FROM {table}")).await,
            15
        );
        // The history stays: only metadata files went.
        assert_eq!(
            count(&lh, &format!("SELECT count(*) FROM \"{table}$snapshots\"")).await,
            5
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_manifests_merge_on_commit_as_the_table_says() {
    let dir = tempfile::tempdir().unwrap();
    let lh = Lakehouse::open(dir.path().to_str().unwrap()).await.unwrap();
    five_inserts(&lh, "merged", "'commit.manifest.min-count-to-merge' = '3'").await;
    five_inserts(
        &lh,
        "unmerged",
        "'commit.manifest.min-count-to-merge' = '3', 'commit.manifest-merge.enabled' = 'false'",
    )
    .await;
    // The fourth commit merged the three earlier manifests into one.
    assert_eq!(
        count(&lh, "SELECT count(*) FROM \"merged$manifests\"").await,
        3
    );
    assert_eq!(
        count(&lh, "SELECT count(*) FROM \"unmerged$manifests\"").await,
        5
    );
    for table in ["merged", "unmerged"] {
        assert_eq!(
            count(&lh, &format!("SELECT sum(id) FROM {table}")).await,
            15
        );
    }
}

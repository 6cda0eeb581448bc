//! `remove_orphan_files` never deletes a file that any table, branch, tag
//! or staged snapshot reaches, nor one a writer is committing: only files
//! nothing reaches, past the minimum age.

#![allow(clippy::unwrap_used)] // tests panic on failure by design

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use arrow::array::{Array, Int64Array, StringArray};
use floe_engine::Lakehouse;

async fn strings(lh: &Lakehouse, sql: &str) -> Vec<String> {
    let batches = lh.sql(sql).await.unwrap().collect().await.unwrap();
    batches
        .iter()
        .flat_map(|b| {
            let column = b.column(0).as_any().downcast_ref::<StringArray>().unwrap();
            (0..column.len())
                .map(|i| column.value(i).to_string())
                .collect::<Vec<_>>()
        })
        .collect()
}

async fn count(lh: &Lakehouse, sql: &str) -> i64 {
    let batches = lh.sql(sql).await.unwrap().collect().await.unwrap();
    batches[0]
        .column(0)
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap()
        .value(0)
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// Make every file under `dir` ten days old, as in a warehouse that has
/// been in use for a while.
fn age(dir: &Path) {
    let old = SystemTime::now() - Duration::from_secs(10 * 86_400);
    for path in files(dir) {
        let file = std::fs::File::options().write(true).open(&path).unwrap();
        file.set_modified(old).unwrap();
    }
}

/// A warehouse whose tables reach files every way there is: `main`, a
/// warehouse branch, a table that exists only on that branch, a tag, a
/// staged write-audit-publish snapshot and merge-on-read deletes.
async fn warehouse(dir: &Path) -> Lakehouse {
    let lh = Lakehouse::open(dir.to_str().unwrap()).await.unwrap();
    for sql in [
        "CREATE TABLE t (id BIGINT) TBLPROPERTIES ('write.delete.mode' = 'merge-on-read', \
         'write.wap.enabled' = 'true')",
        "INSERT INTO t VALUES (1), (2), (3)",
        "DELETE FROM t WHERE id = 2",
        "ALTER TABLE t CREATE TAG first",
        "INSERT INTO t VALUES (4)",
        "CREATE BRANCH dev",
        "INSERT INTO t.branch_dev VALUES (5)",
        "USE BRANCH dev",
        "CREATE TABLE only_dev (v STRING)",
        "INSERT INTO only_dev VALUES ('x')",
        "USE BRANCH main",
        "SET floe.wap_id = 'audit'",
        "INSERT INTO t VALUES (6)",
        "SET floe.wap_id = ''",
    ] {
        lh.sql(sql).await.unwrap().collect().await.unwrap();
    }
    lh
}

async fn reads(lh: &Lakehouse) -> Vec<i64> {
    vec![
        count(lh, "SELECT sum(id) FROM t").await,
        count(lh, "SELECT sum(id) FROM t.branch_dev").await,
        count(lh, "SELECT sum(id) FROM t VERSION AS OF 'first'").await,
        count(lh, "SELECT count(*) FROM only_dev@branch_dev").await,
        count(
            lh,
            "SELECT count(*) FROM \"t$snapshots\" WHERE summary['wap.id'] = 'audit'",
        )
        .await,
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_unreachable_old_files_go() {
    let dir = tempfile::tempdir().unwrap();
    let lh = warehouse(dir.path()).await;
    let before = reads(&lh).await;
    assert_eq!(before, vec![8, 13, 4, 1, 1]);

    let table = dir.path().join("default").join("t");
    std::fs::write(table.join("data").join("stray.parquet"), b"not a table's").unwrap();
    std::fs::write(table.join("metadata").join("stray.avro"), b"nor this").unwrap();
    let only_dev = dir.path().join("default").join("only_dev");
    std::fs::write(only_dev.join("data").join("stray-too.parquet"), b"x").unwrap();

    // New files are too young to go, strays included.
    let young = strings(
        &lh,
        "CALL system.remove_orphan_files(table => '*', dry_run => true)",
    )
    .await;
    assert_eq!(young, Vec::<String>::new());

    age(dir.path());
    let on_disk = files(dir.path());
    let dry = strings(
        &lh,
        "CALL system.remove_orphan_files(table => 't', dry_run => true)",
    )
    .await;
    let stray = |p: PathBuf| format!("file://{}", p.display());
    assert_eq!(
        dry,
        vec![
            stray(table.join("data").join("stray.parquet")),
            stray(table.join("metadata").join("stray.avro")),
        ]
    );
    assert_eq!(files(dir.path()), on_disk, "a dry run deletes nothing");

    let removed = strings(&lh, "CALL system.remove_orphan_files(table => '*')").await;
    assert_eq!(removed.len(), 3, "{removed:?}");
    assert!(removed.contains(&stray(only_dev.join("data").join("stray-too.parquet"))));
    assert_eq!(files(dir.path()).len(), on_disk.len() - 3);
    // Every table reads as before, on every ref, the staged snapshot too.
    assert_eq!(reads(&lh).await, before);
    lh.sql("CALL system.publish_changes('t', 'audit')")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(count(&lh, "SELECT sum(id) FROM t").await, 14);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_writer_alongside_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let lh = warehouse(dir.path()).await;
    age(dir.path());
    let uri = dir.path().to_str().unwrap().to_string();
    let writer = tokio::spawn(async move {
        let lh = Lakehouse::open(&uri).await.unwrap();
        for n in 100..120 {
            lh.sql(&format!("INSERT INTO t VALUES ({n})"))
                .await
                .unwrap()
                .collect()
                .await
                .unwrap();
        }
    });
    let (mut removed, mut passes) = (Vec::new(), 0);
    while !writer.is_finished() || passes == 0 {
        removed.extend(strings(&lh, "CALL system.remove_orphan_files(table => 't')").await);
        passes += 1;
    }
    writer.await.unwrap();
    assert_eq!(removed, Vec::<String>::new(), "in {passes} passes");
    assert_eq!(
        count(&lh, "SELECT count(*) FROM t WHERE id >= 100").await,
        20
    );
    assert_eq!(
        count(&lh, "SELECT sum(id) FROM t").await,
        8 + (100..120).sum::<i64>()
    );
}

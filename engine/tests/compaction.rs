//! Compaction racing row-level deletes from another engine: whatever
//! interleaving happens, every compaction (which plans again on a lost
//! race, a few times) and every DELETE either commits or fails with a
//! conflict, and no deleted row comes back.

#![allow(clippy::unwrap_used)] // tests panic on failure by design

use arrow::array::Int64Array;
use floe_engine::{ErrorKind, Lakehouse};

async fn ids(lh: &Lakehouse) -> Vec<i64> {
    let batches = lh
        .sql("SELECT id FROM t ORDER BY id")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    batches
        .iter()
        .flat_map(|b| {
            let column = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
            column.values().to_vec()
        })
        .collect()
}

async fn race(delete_mode: &str) {
    let dir = tempfile::tempdir().unwrap();
    let uri = dir.path().display().to_string();
    let setup = Lakehouse::open(&uri).await.unwrap();
    setup
        .sql(&format!(
            "CREATE TABLE t (id BIGINT NOT NULL, g BIGINT) TBLPROPERTIES \
             ('write.delete.mode' = '{delete_mode}')"
        ))
        .await
        .unwrap();
    // 20 files of 10 rows.
    for file in 0..20i64 {
        let values: Vec<String> = (0..10)
            .map(|n| format!("({}, {file})", file * 10 + n))
            .collect();
        setup
            .sql(&format!("INSERT INTO t VALUES {}", values.join(", ")))
            .await
            .unwrap();
    }

    let compactor = {
        let uri = uri.clone();
        tokio::spawn(async move {
            let lh = Lakehouse::open(&uri).await.unwrap();
            let (mut done, mut refused) = (0, 0);
            for _ in 0..6 {
                let call = "CALL system.rewrite_data_files(table => 't', \
                            options => map(['rewrite-all'], ['true']))";
                match lh.sql(call).await {
                    Ok(frame) => {
                        frame.collect().await.unwrap();
                        done += 1;
                    }
                    Err(e) => {
                        assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
                        refused += 1;
                    }
                }
            }
            (done, refused)
        })
    };
    let deleter = {
        let uri = uri.clone();
        tokio::spawn(async move {
            let lh = Lakehouse::open(&uri).await.unwrap();
            let mut deleted = Vec::new();
            for file in 0..20i64 {
                let id = file * 10 + 3;
                match lh.sql(&format!("DELETE FROM t WHERE id = {id}")).await {
                    Ok(frame) => {
                        frame.collect().await.unwrap();
                        deleted.push(id);
                    }
                    Err(e) => assert_eq!(e.kind(), ErrorKind::Conflict, "{e}"),
                }
            }
            deleted
        })
    };
    let (done, refused) = compactor.await.unwrap();
    let deleted = deleter.await.unwrap();
    assert_eq!(done + refused, 6);
    assert!(!deleted.is_empty(), "no DELETE committed");

    let expected: Vec<i64> = (0..200).filter(|id| !deleted.contains(id)).collect();
    assert_eq!(
        ids(&setup).await,
        expected,
        "compactions {done}, refused {refused}"
    );

    // A last compaction with nothing racing it leaves one file and no
    // delete file.
    setup
        .sql("CALL system.rewrite_data_files(table => 't', options => map(['rewrite-all'], ['true']))")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let files = setup
        .sql("SELECT count(*) FROM \"t$files\"")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let files = files[0]
        .column(0)
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap()
        .value(0);
    assert_eq!(files, 1);
    assert_eq!(ids(&setup).await, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn compaction_racing_merge_on_read_deletes_keeps_them() {
    race("merge-on-read").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn compaction_racing_copy_on_write_deletes_keeps_them() {
    race("copy-on-write").await;
}

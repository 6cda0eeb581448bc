//! A commit that removes rows is validated against the commits that won
//! the race, as Java Iceberg does: serializable isolation refuses concurrent
//! additions its filter may match; every isolation refuses files removed
//! twice. A conflict changes nothing.

use crate::commit::{Isolation, SnapshotUpdate};
use crate::{FloeError, Lakehouse, LoadedTable};
use arrow::array::Int64Array;
use iceberg::expr::Reference;
use iceberg::spec::Datum;

const TABLE: &str = "default.t";

async fn setup() -> (tempfile::TempDir, Lakehouse, Lakehouse) {
    let dir = tempfile::tempdir().unwrap();
    let uri = dir.path().display().to_string();
    let a = Lakehouse::open(&uri).await.unwrap();
    let b = Lakehouse::open(&uri).await.unwrap();
    a.sql("CREATE TABLE t (id BIGINT)").await.unwrap();
    a.sql("INSERT INTO t SELECT value FROM generate_series(1, 10)")
        .await
        .unwrap();
    (dir, a, b)
}

async fn load(lh: &Lakehouse) -> LoadedTable {
    let ident = floe_catalog::TableIdent::from_strs(TABLE.split('.')).unwrap();
    lh.scope().load_table(&ident).await.unwrap()
}

async fn count(lh: &Lakehouse) -> i64 {
    let batches = lh
        .sql("SELECT count(*) FROM t")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    batches[0]
        .column(0)
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap()
        .value(0)
}

/// "Delete every row with 1 <= id <= 10", staged on `base`.
async fn delete_first_ten(lh: &Lakehouse, base: &LoadedTable) -> SnapshotUpdate {
    let files = base.live_files(lh.engine()).await.unwrap();
    assert_eq!(files.len(), 1);
    let filter = Reference::new("id")
        .greater_than_or_equal_to(Datum::long(1))
        .and(Reference::new("id").less_than_or_equal_to(Datum::long(10)));
    SnapshotUpdate::overwrite(Vec::new(), vec![files[0].file.clone()])
        .with_conflict_filter(Some(filter))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_insert_of_matching_rows_conflicts() {
    let (_dir, a, b) = setup().await;
    let base = load(&a).await;
    let delete = delete_first_ten(&a, &base).await;
    // B commits first: a row the DELETE's filter matches.
    b.sql("INSERT INTO t VALUES (5)").await.unwrap();
    let err = delete
        .commit(&a.scope().target().unwrap(), base)
        .await
        .unwrap_err();
    match &err {
        FloeError::Conflict {
            table,
            snapshot,
            reason,
        } => {
            assert_eq!(table, TABLE);
            assert!(snapshot.is_some());
            assert!(
                reason.contains("added 1 data file(s) that may hold rows"),
                "{reason}"
            );
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert!(err.to_string().contains("Nothing was changed"), "{err}");
    assert_eq!(count(&a).await, 11);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_insert_of_other_rows_is_retried() {
    let (_dir, a, b) = setup().await;
    let base = load(&a).await;
    let delete = delete_first_ten(&a, &base).await;
    // Outside the filter's range: the file's bounds prove it cannot match.
    b.sql("INSERT INTO t VALUES (100)").await.unwrap();
    delete
        .commit(&a.scope().target().unwrap(), base)
        .await
        .unwrap();
    let batches = a
        .sql("SELECT id FROM t")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let ids = batches[0]
        .column(0)
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap();
    assert_eq!(ids.values().to_vec(), vec![100]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_isolation_allows_the_concurrent_insert() {
    let (_dir, a, b) = setup().await;
    let base = load(&a).await;
    let delete = delete_first_ten(&a, &base)
        .await
        .with_isolation(Isolation::Snapshot);
    b.sql("INSERT INTO t VALUES (5)").await.unwrap();
    delete
        .commit(&a.scope().target().unwrap(), base)
        .await
        .unwrap();
    assert_eq!(count(&a).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_removed_twice_conflicts() {
    let (_dir, a, b) = setup().await;
    let base = load(&a).await;
    let delete = delete_first_ten(&a, &base).await;
    // B rewrites the file A removes (its rewrite also adds matching rows,
    // which alone conflicts under serializable isolation).
    b.sql("DELETE FROM t WHERE id = 3").await.unwrap();
    let err = delete
        .clone()
        .commit(&a.scope().target().unwrap(), base.clone())
        .await
        .unwrap_err();
    assert!(matches!(err, FloeError::Conflict { .. }), "{err:?}");
    // Even snapshot isolation refuses to remove a file that is gone.
    let err = delete
        .with_isolation(Isolation::Snapshot)
        .commit(&a.scope().target().unwrap(), base)
        .await
        .unwrap_err();
    match &err {
        FloeError::Conflict { reason, .. } => {
            assert!(
                reason.contains("were removed by a concurrent commit"),
                "{reason}"
            )
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(count(&a).await, 9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrent_delete_file_on_a_rewritten_file_conflicts() {
    let (_dir, a, b) = setup().await;
    b.sql("CREATE TABLE m (id BIGINT) TBLPROPERTIES ('write.delete.mode' = 'merge-on-read')")
        .await
        .unwrap();
    b.sql("INSERT INTO m SELECT value FROM generate_series(1, 10)")
        .await
        .unwrap();
    let ident = floe_catalog::TableIdent::from_strs(["default", "m"]).unwrap();
    let base = a.scope().load_table(&ident).await.unwrap();
    let files = base.live_files(a.engine()).await.unwrap();
    // A rewrites the file (snapshot isolation: only removed files matter)...
    let rewrite = SnapshotUpdate::overwrite(Vec::new(), vec![files[0].file.clone()])
        .with_isolation(Isolation::Snapshot);
    // ...while B deletes a row of it by position.
    b.sql("DELETE FROM m WHERE id = 3").await.unwrap();
    let err = rewrite
        .commit(&a.scope().target().unwrap(), base)
        .await
        .unwrap_err();
    match &err {
        FloeError::Conflict { reason, .. } => {
            assert!(reason.contains("added delete file"), "{reason}")
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    let batches = b
        .sql("SELECT count(*) FROM m")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let n = batches[0]
        .column(0)
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap()
        .value(0);
    assert_eq!(n, 9);
}

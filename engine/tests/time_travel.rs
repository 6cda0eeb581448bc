//! Time travel by snapshot id and by time, reads at a snapshot with that
//! snapshot's schema, and branch creation being metadata-only. (Refs by
//! name are covered by `sql-tests/branches.slt`; snapshot ids and commit
//! times are not known before a test runs, so these live here.)

#![allow(clippy::unwrap_used)] // tests panic on failure by design

use arrow::array::{Array, Int64Array, RecordBatch};
use arrow::util::pretty::pretty_format_batches;
use floe_catalog::TableIdent;
use floe_engine::{Lakehouse, TableCommit, TableRequirement, TableUpdate};
use iceberg::spec::{NestedField, PrimitiveType, Schema, Type};

async fn rows(lh: &Lakehouse, sql: &str) -> String {
    let batches = lh.sql(sql).await.unwrap().collect().await.unwrap();
    pretty_format_batches(&batches).unwrap().to_string()
}

async fn column_i64(lh: &Lakehouse, sql: &str) -> Vec<i64> {
    let batches: Vec<RecordBatch> = lh.sql(sql).await.unwrap().collect().await.unwrap();
    batches
        .iter()
        .flat_map(|b| {
            let col = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
            (0..col.len()).map(|i| col.value(i)).collect::<Vec<_>>()
        })
        .collect()
}

async fn error(lh: &Lakehouse, sql: &str) -> String {
    match lh.sql(sql).await {
        Ok(df) => df.collect().await.unwrap_err().to_string(),
        Err(e) => e.to_string(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_by_snapshot_id_and_time() {
    let dir = tempfile::tempdir().unwrap();
    let lh = Lakehouse::open(&dir.path().display().to_string())
        .await
        .unwrap();
    lh.sql("CREATE TABLE t (id BIGINT)").await.unwrap();
    for id in 1..=3 {
        lh.sql(&format!("INSERT INTO t VALUES ({id})"))
            .await
            .unwrap();
        // Distinct commit times, whatever the clock's resolution.
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let ids = column_i64(
        &lh,
        "SELECT snapshot_id FROM t$snapshots ORDER BY committed_at",
    )
    .await;
    let times = column_i64(
        &lh,
        "SELECT CAST(committed_at AS BIGINT) AS ms FROM t$snapshots ORDER BY ms",
    )
    .await;
    assert_eq!(ids.len(), 3);

    let sum = |sql: String| {
        let lh = &lh;
        async move { column_i64(lh, &sql).await }
    };
    for (n, id) in ids.iter().enumerate() {
        let expected = vec![(1..=n as i64 + 1).sum::<i64>()];
        assert_eq!(
            sum(format!("SELECT sum(id) FROM t VERSION AS OF {id}")).await,
            expected
        );
        assert_eq!(
            sum(format!(
                "SELECT sum(id) FROM t FOR SYSTEM_VERSION AS OF '{id}'"
            ))
            .await,
            expected
        );
        assert_eq!(
            sum(format!("SELECT sum(id) FROM default.t.snapshot_id_{id}")).await,
            expected
        );
    }

    // The snapshot current at a time: exactly at a commit, and just before
    // the next one.
    let iso = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .unwrap()
            .format("%Y-%m-%d %H:%M:%S%.3f")
            .to_string()
    };
    assert_eq!(
        sum(format!(
            "SELECT sum(id) FROM t TIMESTAMP AS OF '{}'",
            iso(times[1])
        ))
        .await,
        vec![3]
    );
    assert_eq!(
        sum(format!(
            "SELECT sum(id) FROM t FOR SYSTEM_TIME AS OF '{}'",
            iso(times[2] - 1)
        ))
        .await,
        vec![3]
    );
    assert_eq!(
        sum(format!(
            "SELECT sum(id) FROM default.t.at_timestamp_{}",
            times[0]
        ))
        .await,
        vec![1]
    );
    let before = error(
        &lh,
        &format!("SELECT * FROM t TIMESTAMP AS OF '{}'", iso(times[0] - 1)),
    )
    .await;
    assert_eq!(
        before,
        format!(
            "table 'default.t' has no snapshot at {} UTC: its first snapshot was made at {} UTC",
            iso(times[0] - 1),
            iso(times[0])
        )
    );

    // A tag from a snapshot id, and a branch from it that takes writes.
    lh.sql(&format!(
        "ALTER TABLE t CREATE TAG first AS OF VERSION {}",
        ids[0]
    ))
    .await
    .unwrap();
    lh.sql(&format!(
        "ALTER TABLE t CREATE BRANCH fix AS OF VERSION {}",
        ids[0]
    ))
    .await
    .unwrap();
    lh.sql("INSERT INTO t.branch_fix VALUES (100)")
        .await
        .unwrap();
    assert_eq!(
        rows(&lh, "SHOW BRANCHES IN t").await.lines().count(),
        // Frame, header, frame, two rows, frame.
        6
    );
    assert_eq!(
        sum("SELECT sum(id) FROM t.branch_fix".into()).await,
        vec![101]
    );
    assert_eq!(sum("SELECT sum(id) FROM t.tag_first".into()).await, vec![1]);
    assert_eq!(sum("SELECT sum(id) FROM t".into()).await, vec![6]);

    // Writing to a snapshot is refused, and changes nothing.
    let err = error(
        &lh,
        &format!("DELETE FROM t VERSION AS OF {} WHERE id = 1", ids[0]),
    )
    .await;
    assert!(
        err.starts_with(&format!(
            "cannot write to snapshot {} of table 'default.t': a snapshot is read-only",
            ids[0]
        )),
        "{err}"
    );
    assert_eq!(
        sum("SELECT count(*) FROM t$snapshots".into()).await,
        vec![4]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_is_read_with_its_own_schema() {
    let dir = tempfile::tempdir().unwrap();
    let lh = Lakehouse::open(&dir.path().display().to_string())
        .await
        .unwrap();
    lh.sql("CREATE TABLE t (id BIGINT)").await.unwrap();
    lh.sql("INSERT INTO t VALUES (1)").await.unwrap();
    lh.sql("ALTER TABLE t CREATE TAG before_note")
        .await
        .unwrap();

    // Another engine adds a column (Floe's ALTER TABLE comes with schema
    // evolution): a new schema with field 2 `note`.
    // It commits through the engine as a REST client would: an
    // `add-schema` and `set-current-schema`, requiring the schema it read.
    let ident = TableIdent::from_strs(["default", "t"]).unwrap();
    let schema = Schema::builder()
        .with_schema_id(1)
        .with_fields(vec![
            NestedField::optional(1, "id", Type::Primitive(PrimitiveType::Long)).into(),
            NestedField::optional(2, "note", Type::Primitive(PrimitiveType::String)).into(),
        ])
        .build()
        .unwrap();
    lh.engine()
        .commit(vec![TableCommit {
            table: ident,
            requirements: vec![
                TableRequirement::CurrentSchemaIdMatch {
                    current_schema_id: 0,
                },
                TableRequirement::LastAssignedFieldIdMatch {
                    last_assigned_field_id: 1,
                },
            ],
            updates: vec![
                TableUpdate::AddSchema { schema },
                TableUpdate::SetCurrentSchema { schema_id: -1 },
            ],
        }])
        .await
        .unwrap();
    lh.sql("INSERT INTO t VALUES (2, 'two')").await.unwrap();

    assert_eq!(
        rows(&lh, "SELECT * FROM t ORDER BY id").await,
        "+----+------+\n\
         | id | note |\n\
         +----+------+\n\
         | 1  |      |\n\
         | 2  | two  |\n\
         +----+------+"
    );
    assert_eq!(
        rows(&lh, "SELECT * FROM t VERSION AS OF 'before_note'").await,
        "+----+\n\
         | id |\n\
         +----+\n\
         | 1  |\n\
         +----+"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn branching_writes_metadata_only() {
    let dir = tempfile::tempdir().unwrap();
    let lh = Lakehouse::open(&dir.path().display().to_string())
        .await
        .unwrap();
    lh.sql("CREATE TABLE t (id BIGINT) PARTITIONED BY (id)")
        .await
        .unwrap();
    lh.sql("INSERT INTO t VALUES (1), (2), (3), (4)")
        .await
        .unwrap();
    let files = || {
        let mut out: Vec<String> = walk(dir.path());
        out.sort();
        out
    };
    let before = files();
    lh.sql("ALTER TABLE t CREATE BRANCH b").await.unwrap();
    lh.sql("ALTER TABLE t CREATE TAG g").await.unwrap();
    let after = files();
    let new: Vec<&String> = after.iter().filter(|f| !before.contains(f)).collect();
    // One new metadata file per statement, nothing else.
    assert_eq!(new.len(), 2, "{new:?}");
    assert!(new.iter().all(|f| f.ends_with(".metadata.json")), "{new:?}");
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else if !path.to_string_lossy().contains("catalog.db") {
            out.push(path.display().to_string());
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn procedures_return_spark_result_columns() {
    let dir = tempfile::tempdir().unwrap();
    let lh = Lakehouse::open(&dir.path().display().to_string())
        .await
        .unwrap();
    lh.sql("CREATE TABLE t (id BIGINT)").await.unwrap();
    lh.sql("INSERT INTO t VALUES (1)").await.unwrap();
    lh.sql("INSERT INTO t VALUES (2)").await.unwrap();
    let ids = column_i64(
        &lh,
        "SELECT snapshot_id FROM t$snapshots ORDER BY committed_at, snapshot_id",
    )
    .await;
    let parent_first = column_i64(
        &lh,
        "SELECT snapshot_id FROM t$snapshots WHERE parent_id IS NULL",
    )
    .await;
    let (first, second) = (
        parent_first[0],
        *ids.iter().find(|i| **i != parent_first[0]).unwrap(),
    );

    let table = |sql: &str| {
        let lh = &lh;
        let sql = sql.to_string();
        async move { rows(lh, &sql).await }
    };
    assert_eq!(
        table(&format!("CALL system.rollback_to_snapshot('t', {first})")).await,
        pretty_format_batches(&[two_columns(
            ["previous_snapshot_id", "current_snapshot_id"],
            second,
            first
        )])
        .unwrap()
        .to_string()
    );
    assert_eq!(
        table(&format!("CALL system.cherrypick_snapshot('t', {second})")).await,
        pretty_format_batches(&[two_columns(
            ["source_snapshot_id", "current_snapshot_id"],
            second,
            // main was at the picked snapshot's parent: a fast-forward.
            second
        )])
        .unwrap()
        .to_string()
    );
    lh.sql(&format!(
        "ALTER TABLE t CREATE BRANCH b AS OF VERSION {first}"
    ))
    .await
    .unwrap();
    let out = lh
        .sql("CALL system.fast_forward('t', 'b', 'main')")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let expected = RecordBatch::try_new(
        std::sync::Arc::new(arrow::datatypes::Schema::new(vec![
            arrow::datatypes::Field::new("branch_updated", arrow::datatypes::DataType::Utf8, false),
            arrow::datatypes::Field::new("previous_ref", arrow::datatypes::DataType::Int64, true),
            arrow::datatypes::Field::new("updated_ref", arrow::datatypes::DataType::Int64, true),
        ])),
        vec![
            std::sync::Arc::new(arrow::array::StringArray::from(vec!["b"])),
            std::sync::Arc::new(Int64Array::from(vec![first])),
            std::sync::Arc::new(Int64Array::from(vec![second])),
        ],
    )
    .unwrap();
    assert_eq!(out, vec![expected]);
}

fn two_columns(names: [&str; 2], a: i64, b: i64) -> RecordBatch {
    use std::sync::Arc;
    let schema = Arc::new(arrow::datatypes::Schema::new(vec![
        arrow::datatypes::Field::new(names[0], arrow::datatypes::DataType::Int64, true),
        arrow::datatypes::Field::new(names[1], arrow::datatypes::DataType::Int64, true),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(vec![a])),
            Arc::new(Int64Array::from(vec![b])),
        ],
    )
    .unwrap()
}

//! Many sessions on one engine: on four branches, each with transactions
//! open, running reads, writes, commits and rollbacks at once. None sees,
//! stages, commits or rolls back another's work, and the tables end up
//! exactly as a sequential model of the commits that succeeded says.

#![allow(clippy::unwrap_used)] // tests panic on failure by design

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use arrow::array::{Array, Int64Array};
use floe_engine::{Engine, ErrorKind, Session};

const SESSIONS: i64 = 16;
const BRANCHES: [&str; 4] = ["main", "b1", "b2", "b3"];
const TABLES: [&str; 2] = ["a", "b"];
const TRANSACTIONS: i64 = 6;

fn assert_send_sync<T: Send + Sync>(_: &T) {}

/// A small deterministic generator, so every run makes the same choices.
fn next(seed: &mut u64) -> u64 {
    *seed = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    *seed >> 33
}

async fn rows(session: &Session, sql: &str) -> Vec<Vec<i64>> {
    let batches = session.sql(sql).await.unwrap().collect().await.unwrap();
    let mut out = Vec::new();
    for batch in batches {
        for row in 0..batch.num_rows() {
            out.push(
                (0..batch.num_columns())
                    .map(|c| {
                        let column = batch.column(c);
                        let ints = arrow::compute::cast(column, &arrow::datatypes::DataType::Int64)
                            .unwrap();
                        let ints = ints.as_any().downcast_ref::<Int64Array>().unwrap();
                        assert!(!ints.is_null(row));
                        ints.value(row)
                    })
                    .collect(),
            );
        }
    }
    out
}

/// `(writer, txn) -> rows` one session saw in a table, and where.
#[derive(Debug, Clone)]
struct Seen {
    by: i64,
    branch: &'static str,
    table: &'static str,
    counts: BTreeMap<(i64, i64), i64>,
    /// The transactions that had run `COMMIT` (or were running it) by the
    /// time the read was done: any other one seen was a dirty read.
    committing: BTreeSet<(i64, i64)>,
}

/// What one transaction wrote: `(branch, table) -> rows`.
#[derive(Debug, Clone, Default)]
struct Written {
    rows: BTreeMap<(&'static str, &'static str), i64>,
    committed: bool,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_sessions_on_four_branches_stay_isolated() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(dir.path().to_str().unwrap()).await.unwrap();
    assert_send_sync(&engine);
    let setup = engine.session();
    assert_send_sync(&setup);
    for table in TABLES {
        setup
            .sql(&format!(
                "CREATE TABLE {table} (writer BIGINT, txn BIGINT, n BIGINT)"
            ))
            .await
            .unwrap();
        setup
            .sql(&format!("INSERT INTO {table} VALUES (-1, 0, 0)"))
            .await
            .unwrap();
    }
    for branch in &BRANCHES[1..] {
        setup.sql(&format!("CREATE BRANCH {branch}")).await.unwrap();
    }

    let written: Arc<Mutex<BTreeMap<(i64, i64), Written>>> = Arc::default();
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let committing: Arc<Mutex<BTreeSet<(i64, i64)>>> = Arc::default();
    let mut tasks = Vec::new();
    for writer in 0..SESSIONS {
        let session = engine.session();
        let written = Arc::clone(&written);
        let seen = Arc::clone(&seen);
        let committing = Arc::clone(&committing);
        tasks.push(tokio::spawn(async move {
            let branch = BRANCHES[(writer % 4) as usize];
            session.sql(&format!("USE BRANCH {branch}")).await.unwrap();
            assert_eq!(session.branch().unwrap(), branch);
            let mut seed = writer as u64 + 1;
            for txn in 0..TRANSACTIONS {
                let mut mine = Written::default();
                session.sql("BEGIN").await.unwrap();
                let statements = 1 + next(&mut seed) % 3;
                for n in 0..statements {
                    let table = TABLES[(next(&mut seed) % 2) as usize];
                    let count = 1 + (next(&mut seed) % 3) as i64;
                    let values: Vec<String> = (0..count)
                        .map(|i| format!("({writer}, {txn}, {})", n * 10 + i as u64))
                        .collect();
                    session
                        .sql(&format!("INSERT INTO {table} VALUES {}", values.join(", ")))
                        .await
                        .unwrap();
                    *mine.rows.entry((branch, table)).or_default() += count;
                    tokio::task::yield_now().await;
                    // The session reads its own writes, and only committed
                    // ones of the others.
                    let table = TABLES[(next(&mut seed) % 2) as usize];
                    let counts: BTreeMap<(i64, i64), i64> = rows(
                        &session,
                        &format!("SELECT writer, txn, count(*) FROM {table} GROUP BY writer, txn"),
                    )
                    .await
                    .into_iter()
                    .map(|r| ((r[0], r[1]), r[2]))
                    .collect();
                    let own = mine.rows.get(&(branch, table)).copied().unwrap_or(0);
                    assert_eq!(
                        counts.get(&(writer, txn)).copied().unwrap_or(0),
                        own,
                        "session {writer} sees its own rows in {table}"
                    );
                    let committing = committing.lock().unwrap().clone();
                    seen.lock().unwrap().push(Seen {
                        by: writer,
                        branch,
                        table,
                        counts,
                        committing,
                    });
                }
                assert!(session.in_transaction().unwrap());
                let ends = next(&mut seed) % 4;
                if ends == 0 {
                    session.sql("ROLLBACK").await.unwrap();
                } else if ends == 1 {
                    // A failed statement rolls the transaction back.
                    let err = session
                        .sql("INSERT INTO a VALUES ('x', 1, 1)")
                        .await
                        .unwrap_err();
                    assert!(
                        err.to_string()
                            .contains("The open transaction was rolled back"),
                        "{err}"
                    );
                } else {
                    committing.lock().unwrap().insert((writer, txn));
                    match session.sql("COMMIT").await {
                        Ok(_) => mine.committed = true,
                        // Another session on the branch committed to the
                        // same table first: nothing of this one lands.
                        Err(e) => assert_eq!(e.kind(), ErrorKind::Conflict, "{e}"),
                    }
                }
                assert!(!session.in_transaction().unwrap());
                written.lock().unwrap().insert((writer, txn), mine);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }

    let written = written.lock().unwrap().clone();
    // About half the transactions try to commit; those that raced another
    // session of their branch on a table lose (a conflict, nothing lands).
    let committed = written.values().filter(|w| w.committed).count();
    assert!(
        committed >= 12,
        "only {committed} of 96 transactions committed"
    );
    // Every (branch, table) holds exactly the committed transactions' rows.
    let check = engine.session();
    for branch in BRANCHES {
        check.sql(&format!("USE BRANCH {branch}")).await.unwrap();
        for table in TABLES {
            let mut expected: BTreeMap<(i64, i64), i64> = BTreeMap::from([((-1, 0), 1)]);
            for ((writer, txn), w) in &written {
                if let Some(rows) = w.rows.get(&(branch, table)).filter(|_| w.committed) {
                    expected.insert((*writer, *txn), *rows);
                }
            }
            let actual: BTreeMap<(i64, i64), i64> = rows(
                &check,
                &format!("SELECT writer, txn, count(*) FROM {table} GROUP BY writer, txn"),
            )
            .await
            .into_iter()
            .map(|r| ((r[0], r[1]), r[2]))
            .collect();
            assert_eq!(actual, expected, "{table} on {branch}");
            // No row twice: the values within a transaction are distinct.
            let distinct = rows(
                &check,
                &format!("SELECT count(*), count(DISTINCT writer * 1000000 + txn * 1000 + n) FROM {table}"),
            )
            .await;
            assert_eq!(distinct[0][0], distinct[0][1], "{table} on {branch}");
        }
    }
    // What any session saw of another's transaction was all of it, once
    // it had committed, or none of it: never before its COMMIT.
    for observation in seen.lock().unwrap().iter() {
        for ((writer, txn), count) in &observation.counts {
            if *writer == observation.by || *writer < 0 {
                continue;
            }
            assert!(
                observation.committing.contains(&(*writer, *txn)),
                "session {} saw transaction {txn} of session {writer} in {} on {} before it \
                 ran COMMIT",
                observation.by,
                observation.table,
                observation.branch
            );
            let w = &written[&(*writer, *txn)];
            let rows = w.rows.get(&(observation.branch, observation.table));
            assert!(
                w.committed && rows == Some(count),
                "session {} saw {count} row(s) of transaction {txn} of session {writer} in {} on \
                 {}: it wrote {rows:?}, committed: {}",
                observation.by,
                observation.table,
                observation.branch,
                w.committed
            );
        }
    }
    // The warehouse still has exactly its four branches, and the setup
    // session is still on main: no session's USE BRANCH moved another.
    let listed = check
        .sql("SHOW BRANCHES")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let names: BTreeSet<String> = listed
        .iter()
        .flat_map(|b| {
            let names =
                arrow::compute::cast(b.column(0), &arrow::datatypes::DataType::Utf8).unwrap();
            let names = names
                .as_any()
                .downcast_ref::<arrow::array::StringArray>()
                .unwrap()
                .clone();
            (0..names.len()).map(move |i| names.value(i).to_string())
        })
        .collect();
    assert_eq!(names, BRANCHES.iter().map(|b| b.to_string()).collect());
    assert_eq!(setup.branch().unwrap(), "main");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_keep_their_own_namespace_and_settings() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(dir.path().to_str().unwrap()).await.unwrap();
    let sessions: Vec<Session> = (0..3).map(|_| engine.session()).collect();
    // Each starts on main, in `default`, with settings of its own.
    sessions[0].sql("SET floe.wap_id = 'w1'").await.unwrap();
    sessions[1].sql("CREATE SCHEMA other").await.unwrap();
    sessions[1].sql("USE other").await.unwrap();
    assert_eq!(sessions[0].namespace(), "default");
    assert_eq!(sessions[1].namespace(), "other");
    assert_eq!(sessions[2].branch().unwrap(), "main");
    // Only the session that set `floe.wap_id` stages its writes.
    sessions[2]
        .sql("CREATE TABLE w (id INT) TBLPROPERTIES ('write.wap.enabled' = 'true')")
        .await
        .unwrap();
    sessions[0].sql("INSERT INTO w VALUES (1)").await.unwrap();
    sessions[2].sql("INSERT INTO w VALUES (2)").await.unwrap();
    for session in [&sessions[0], &sessions[2]] {
        assert_eq!(rows(session, "SELECT id FROM w").await, vec![vec![2]]);
    }
    assert_eq!(
        rows(
            &sessions[2],
            "SELECT count(*) FROM \"w$snapshots\" WHERE summary['wap.id'] = 'w1'"
        )
        .await,
        vec![vec![1]]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_session_cannot_commit_or_roll_back_a_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let uri = dir.path().to_str().unwrap().to_string();
    let engine = Engine::open(&uri).await.unwrap();
    let (a, b) = (engine.session(), engine.session());
    let elsewhere = floe_engine::Lakehouse::open(&uri).await.unwrap();
    a.sql("CREATE TABLE t (id INT)").await.unwrap();
    a.sql("BEGIN").await.unwrap();
    a.sql("INSERT INTO t VALUES (1)").await.unwrap();
    for other in [&b, elsewhere.session()] {
        assert_eq!(rows(other, "SELECT count(*) FROM t").await, vec![vec![0]]);
        let err = other.sql("COMMIT").await.unwrap_err();
        assert_eq!(err.to_string(), "COMMIT: no transaction is open");
        let err = other.sql("ROLLBACK").await.unwrap_err();
        assert_eq!(err.to_string(), "ROLLBACK: no transaction is open");
    }
    assert_eq!(rows(&a, "SELECT count(*) FROM t").await, vec![vec![1]]);
    a.sql("COMMIT").await.unwrap();
    assert_eq!(rows(&b, "SELECT count(*) FROM t").await, vec![vec![1]]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_typed_verbs_refuse_to_run_inside_a_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(dir.path().to_str().unwrap()).await.unwrap();
    let session = engine.session();
    session.sql("CREATE TABLE t (id INT)").await.unwrap();
    session.create_branch("dev", None).await.unwrap();
    session.sql("BEGIN").await.unwrap();
    session.sql("INSERT INTO t VALUES (1)").await.unwrap();
    let refused = |what: &str| {
        format!(
            "{what} cannot run inside a transaction: only INSERT, DELETE, UPDATE and MERGE are \
             transactional"
        )
    };
    let err = session.use_branch("dev").await.unwrap_err();
    assert_eq!(
        (err.kind(), err.to_string()),
        (ErrorKind::Unsupported, refused("USE BRANCH"))
    );
    let err = session.merge_branch("dev", None, false).await.unwrap_err();
    assert_eq!(err.to_string(), refused("MERGE BRANCH"));
    let err = session.create_branch("other", None).await.unwrap_err();
    assert_eq!(err.to_string(), refused("CREATE BRANCH"));
    let err = session.drop_branch("dev", false).await.unwrap_err();
    assert_eq!(err.to_string(), refused("DROP BRANCH"));
    // None of them touched the transaction or the session.
    assert_eq!(session.branch().unwrap(), "main");
    assert!(session.in_transaction().unwrap());
    session.sql("COMMIT").await.unwrap();
    assert_eq!(rows(&session, "SELECT id FROM t").await, vec![vec![1]]);
    session.use_branch("dev").await.unwrap();
    assert_eq!(
        rows(&session, "SELECT count(*) FROM t").await,
        vec![vec![0]]
    );
}

/// A transaction staged long before another writer's commit still
/// commits: its snapshot is renumbered after the other one and stamped
/// with the time of the commit (Iceberg refuses a snapshot more than a
/// minute older than the table's last update). The other writer's clock
/// being five minutes ahead stands for the wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_commits_after_a_later_commit_to_another_branch() {
    use floe_engine::{TableCommit, TableIdent, TableUpdate};
    use iceberg::spec::{SnapshotReference, SnapshotRetention};

    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(dir.path().to_str().unwrap()).await.unwrap();
    let session = engine.session();
    session.sql("CREATE TABLE t (id INT)").await.unwrap();
    session.sql("INSERT INTO t VALUES (1)").await.unwrap();
    let first = session.table("t").await.unwrap();
    let first = first.snapshot().unwrap().clone();

    session.sql("BEGIN").await.unwrap();
    session.sql("INSERT INTO t VALUES (2)").await.unwrap();

    // Another writer adds a snapshot on branch `side`, five minutes later.
    let later = chrono::Utc::now().timestamp_millis() + 5 * 60 * 1000;
    let side = iceberg::spec::Snapshot::builder()
        .with_snapshot_id(first.snapshot_id() + 1)
        .with_parent_snapshot_id(Some(first.snapshot_id()))
        .with_sequence_number(first.sequence_number() + 1)
        .with_timestamp_ms(later)
        .with_manifest_list(first.manifest_list())
        .with_summary(first.summary().clone())
        .with_schema_id(0)
        .build();
    let side_id = side.snapshot_id();
    engine
        .commit(vec![TableCommit {
            table: TableIdent::from_strs(["default", "t"]).unwrap(),
            requirements: Vec::new(),
            updates: vec![
                TableUpdate::AddSnapshot { snapshot: side },
                TableUpdate::SetSnapshotRef {
                    ref_name: "side".into(),
                    reference: SnapshotReference::new(
                        side_id,
                        SnapshotRetention::branch(None, None, None),
                    ),
                },
            ],
        }])
        .await
        .unwrap();

    session.sql("COMMIT").await.unwrap();
    let table = session.table("t").await.unwrap();
    let committed = table.snapshot().unwrap();
    assert_eq!(committed.parent_snapshot_id(), Some(first.snapshot_id()));
    assert_eq!(committed.sequence_number(), first.sequence_number() + 2);
    assert!(
        committed.timestamp_ms() >= later,
        "{}",
        committed.timestamp_ms()
    );
    assert_eq!(
        rows(&session, "SELECT id FROM t ORDER BY id").await,
        vec![vec![1], vec![2]]
    );
    assert_eq!(
        rows(&session, "SELECT id FROM t VERSION AS OF 'side'").await,
        vec![vec![1]]
    );
}

/// A commit that fails after writing a table's new metadata file (here,
/// the second table's requirement does not hold) deletes the file: the
/// first table keeps its metadata directory as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_commit_leaves_no_metadata_file() {
    use floe_engine::{TableCommit, TableIdent, TableRequirement, TableUpdate};
    use std::collections::HashMap;

    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(dir.path().to_str().unwrap()).await.unwrap();
    let session = engine.session();
    session.sql("CREATE TABLE a (id INT)").await.unwrap();
    session.sql("CREATE TABLE b (id INT)").await.unwrap();
    let before = session
        .table("a")
        .await
        .unwrap()
        .metadata_location()
        .to_string();
    let files = || {
        let mut names: Vec<String> = std::fs::read_dir(dir.path().join("default/a/metadata"))
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let listed = files();
    let set = |table: &str, requirements| TableCommit {
        table: TableIdent::from_strs(["default", table]).unwrap(),
        requirements,
        updates: vec![TableUpdate::SetProperties {
            updates: HashMap::from([("k".to_string(), "v".to_string())]),
        }],
    };
    let wrong = TableRequirement::RefSnapshotIdMatch {
        r#ref: "main".into(),
        snapshot_id: Some(1),
    };
    let err = engine
        .commit(vec![set("a", Vec::new()), set("b", vec![wrong])])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert!(
        err.to_string().starts_with(
            "commit conflict on table 'default.b': requirement assert-ref-snapshot-id (ref \
             'main') failed"
        ),
        "{err}"
    );
    assert_eq!(files(), listed);
    let after = session.table("a").await.unwrap();
    assert_eq!(after.metadata_location(), before);
    assert!(!after.metadata().properties().contains_key("k"));
}

/// A create the catalog refuses (its namespace does not exist) deletes
/// the metadata file it wrote before asking.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_the_catalog_refuses_leaves_no_metadata_file() {
    use floe_engine::{TableCommit, TableIdent, TableRequirement, TableUpdate};
    use iceberg::spec::{
        FormatVersion, NestedField, PrimitiveType, Schema, SortOrder, TableMetadataBuilder, Type,
        UnboundPartitionSpec,
    };

    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(dir.path().to_str().unwrap()).await.unwrap();
    let location = dir.path().join("nowhere/t");
    let schema = Schema::builder()
        .with_fields(vec![
            NestedField::optional(1, "id", Type::Primitive(PrimitiveType::Long)).into(),
        ])
        .build()
        .unwrap();
    let built = TableMetadataBuilder::new(
        schema,
        UnboundPartitionSpec::builder().build(),
        SortOrder::unsorted_order(),
        location.to_str().unwrap().to_string(),
        FormatVersion::V2,
        Default::default(),
    )
    .unwrap()
    .build()
    .unwrap();
    let mut updates = vec![TableUpdate::AssignUuid {
        uuid: built.metadata.uuid(),
    }];
    updates.extend(built.changes);
    let err = engine
        .commit(vec![TableCommit {
            table: TableIdent::from_strs(["nowhere", "t"]).unwrap(),
            requirements: vec![TableRequirement::NotExist],
            updates,
        }])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    let metadata = location.join("metadata");
    let left: Vec<_> = match std::fs::read_dir(&metadata) {
        Ok(entries) => entries.map(|e| e.unwrap().file_name()).collect(),
        Err(_) => Vec::new(),
    };
    assert_eq!(left, Vec::<std::ffi::OsString>::new());
}

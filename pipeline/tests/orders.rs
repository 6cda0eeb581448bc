//! The orders pipeline of `fixtures/pipelines/orders`, run as files arrive.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use arrow::util::pretty::pretty_format_batches;
use floe_engine::{Engine, LoadedTable, Session};
use floe_pipeline::{Pipeline, Quiet, RunOptions, RunStatus};

use common::{block_on, copy_dir};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/pipelines/orders");

/// The tables the pipeline writes, and its own.
const TABLES: &[&str] = &[
    "bronze.shop_orders",
    "bronze.shop_orders__quarantine",
    "bronze.app_events",
    "bronze.app_events__quarantine",
    "silver.order_events",
    "silver.orders",
    "gold.daily_revenue",
    "gold.customer_ltv",
    "floe.pipeline_files",
    "floe.pipeline_runs",
];

struct Setup {
    _dir: tempfile::TempDir,
    folder: PathBuf,
    engine: Engine,
}

impl Setup {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("orders");
        copy_dir(Path::new(FIXTURE), &folder);
        let engine = Engine::open(dir.path().join("wh").to_str().unwrap())
            .await
            .unwrap();
        Self {
            _dir: dir,
            folder,
            engine,
        }
    }

    /// The files of `arrivals/<day>` land.
    fn arrive(&self, day: &str) {
        copy_dir(
            &self.folder.join("arrivals").join(day),
            &self.folder.join("landing"),
        );
    }

    fn pipeline(&self) -> Pipeline {
        Pipeline::load(&self.folder).unwrap()
    }

    async fn run(&self, options: RunOptions) -> floe_pipeline::RunReport {
        floe_pipeline::run(&self.engine, &self.pipeline(), options, &Quiet)
            .await
            .unwrap()
    }

    fn main(&self) -> Session {
        self.engine.session()
    }
}

async fn query(session: &Session, sql: &str) -> String {
    let batches = session.sql(sql).await.unwrap().collect().await.unwrap();
    pretty_format_batches(&batches).unwrap().to_string()
}

/// Every table's snapshot on main, and the warehouse's branches.
async fn heads(session: &Session) -> (BTreeMap<String, Option<i64>>, Vec<String>) {
    let mut out = BTreeMap::new();
    for table in TABLES {
        let head = session
            .table(table)
            .await
            .ok()
            .and_then(|t| t.snapshot_id());
        out.insert(table.to_string(), head);
    }
    let branches = session.branches().await.unwrap().into_keys().collect();
    (out, branches)
}

/// The models' tables, in full and in order.
async fn contents(session: &Session) -> String {
    let mut out = String::new();
    for (table, order) in [
        ("silver.order_events", "order_id, updated_at, channel"),
        ("silver.orders", "order_id"),
        ("gold.daily_revenue", "order_date, category"),
        ("gold.customer_ltv", "customer_id"),
    ] {
        out.push_str(&format!("{table}\n"));
        out.push_str(&query(session, &format!("SELECT * FROM {table} ORDER BY {order}")).await);
        out.push('\n');
    }
    out
}

fn actions(report: &floe_pipeline::RunReport) -> Vec<(String, String, u64, u64, u64)> {
    report
        .steps
        .iter()
        .map(|s| {
            (
                s.step.clone(),
                s.action.clone(),
                s.rows_read,
                s.rows_written,
                s.rows_quarantined,
            )
        })
        .collect()
}

fn step(
    step: &str,
    action: &str,
    read: u64,
    written: u64,
    quarantined: u64,
) -> (String, String, u64, u64, u64) {
    (
        step.to_string(),
        action.to_string(),
        read,
        written,
        quarantined,
    )
}

#[test]
fn runs_as_files_arrive_and_equal_a_full_recompute() {
    block_on(runs_as_files_arrive());
}

async fn runs_as_files_arrive() {
    let setup = Setup::new().await;
    let main = setup.main();

    // Day 1: two objects, three bad rows quarantined.
    let first = setup.run(RunOptions::default()).await;
    assert_eq!(first.status, RunStatus::Success, "{:?}", first.error);
    assert_eq!(
        actions(&first),
        [
            step("bronze/app_events.toml", "ingest", 4, 3, 1),
            step("bronze/shop_orders.toml", "ingest", 7, 5, 2),
            step("silver/order_events.sql", "full", 8, 8, 0),
            step("silver/orders.sql", "full", 8, 8, 0),
            step("gold/customer_ltv.sql", "full", 8, 5, 0),
            step("gold/daily_revenue.sql", "full", 8, 3, 0),
        ]
    );
    assert!(first.branch.is_none());
    // A merge model's table is merge-on-read, an append model's is not.
    let modes = |table: LoadedTable| {
        let properties = table.metadata().properties().clone();
        ["write.delete.mode", "write.update.mode", "write.merge.mode"]
            .map(|k| properties.get(k).cloned().unwrap_or_default())
    };
    assert_eq!(
        modes(main.table("silver.orders").await.unwrap()),
        ["merge-on-read"; 3].map(String::from)
    );
    assert_eq!(
        modes(main.table("silver.order_events").await.unwrap()),
        ["", "", ""].map(String::from)
    );
    let (_, branches) = heads(&main).await;
    assert_eq!(
        branches,
        ["main"],
        "the run branch is dropped after publishing"
    );
    assert_eq!(
        query(&main, "SELECT regexp_replace(source, '^.*/', '') AS object, line, reason, raw FROM bronze.shop_orders__quarantine ORDER BY line").await,
        "+----------------------------+------+------------------------------------------------------------------------------------------+-------------------------------------------+\n\
         | object                     | line | reason                                                                                   | raw                                       |\n\
         +----------------------------+------+------------------------------------------------------------------------------------------+-------------------------------------------+\n\
         | shop_orders_2026-11-01.csv | 7    | column 'amount': 'abc' is not a valid DECIMAL(10,2)                                      | 1006,2,Garden,abc,new,2026-11-01 12:00:00 |\n\
         | shop_orders_2026-11-01.csv | 8    | expected 6 fields (order_id, customer_id, category, amount, status, updated_at), found 4 | 1007,5,Books,15.00                        |\n\
         +----------------------------+------+------------------------------------------------------------------------------------------+-------------------------------------------+"
    );
    let quarantined = query(&main, "SELECT line, reason, raw, run_id = (SELECT max(run_id) FROM floe.pipeline_runs) AS this_run FROM bronze.app_events__quarantine").await;
    assert!(
        quarantined
            .contains("| 4    | not valid JSON: EOF while parsing a value at line 1 column 66 |"),
        "{quarantined}"
    );
    assert!(
        quarantined
            .contains(r#"{"order_id": 2004, "customer_id": 7, "category": "toys", "amount":"#),
        "{quarantined}"
    );
    assert!(quarantined.contains("| true     |"), "{quarantined}");

    // Nothing new: nothing committed anywhere, no branch left.
    let before = heads(&main).await;
    let idle = setup.run(RunOptions::default()).await;
    assert_eq!(idle.status, RunStatus::UpToDate);
    assert!(idle.steps.is_empty());
    assert_eq!(heads(&main).await, before);

    // Day 2: a resent file (duplicates), updates, new orders, a bad row in
    // each format, and a JSON field that becomes a new column.
    setup.arrive("2026-11-02");
    let second = setup.run(RunOptions::default()).await;
    assert_eq!(second.status, RunStatus::Success, "{:?}", second.error);
    assert_eq!(
        actions(&second),
        [
            step("bronze/app_events.toml", "ingest", 3, 2, 1),
            step("bronze/shop_orders.toml", "ingest", 7, 6, 1),
            step("silver/order_events.sql", "incremental", 8, 8, 0),
            step("silver/orders.sql", "incremental", 8, 8, 0),
            step("gold/customer_ltv.sql", "full", 11, 7, 0),
            // The rows of the 8 orders silver replaced, before (5) and
            // after (8): 6 (day, category) keys recomputed.
            step("gold/daily_revenue.sql", "incremental", 13, 6, 0),
        ]
    );
    assert_eq!(
        query(
            &main,
            "SELECT order_id, coupon FROM bronze.app_events ORDER BY order_id, coupon"
        )
        .await,
        "+----------+----------+\n\
         | order_id | coupon   |\n\
         +----------+----------+\n\
         | 2001     | WELCOME5 |\n\
         | 2001     |          |\n\
         | 2002     |          |\n\
         | 2003     |          |\n\
         | 2005     |          |\n\
         +----------+----------+"
    );
    assert_eq!(
        query(
            &main,
            "SELECT line, reason FROM bronze.app_events__quarantine WHERE raw LIKE '%twelve%'"
        )
        .await,
        "+------+-------------------------------------------------+\n\
         | line | reason                                          |\n\
         +------+-------------------------------------------------+\n\
         | 3    | column 'amount': 'twelve' is not a valid DOUBLE |\n\
         +------+-------------------------------------------------+"
    );

    // Day 3: a late event (older than the order's latest), cancellations.
    setup.arrive("2026-11-03");
    let third = setup.run(RunOptions::default()).await;
    assert_eq!(third.status, RunStatus::Success, "{:?}", third.error);
    assert_eq!(
        actions(&third),
        [
            step("bronze/app_events.toml", "ingest", 2, 2, 0),
            step("bronze/shop_orders.toml", "ingest", 4, 4, 0),
            step("silver/order_events.sql", "incremental", 6, 6, 0),
            step("silver/orders.sql", "incremental", 6, 6, 0),
            step("gold/customer_ltv.sql", "full", 13, 7, 0),
            step("gold/daily_revenue.sql", "incremental", 10, 5, 0),
        ]
    );
    assert_eq!(
        query(&main, "SELECT order_id, customer_id, category, amount, status, channel, order_date FROM silver.orders ORDER BY order_id").await,
        "+----------+-------------+----------+--------+-----------+---------+------------+\n\
         | order_id | customer_id | category | amount | status    | channel | order_date |\n\
         +----------+-------------+----------+--------+-----------+---------+------------+\n\
         | 1001     | 1           | books    | 25.00  | paid      | shop    | 2026-11-01 |\n\
         | 1002     | 2           | toys     | 40.50  | shipped   | shop    | 2026-11-01 |\n\
         | 1003     | 1           | garden   | 12.00  | cancelled | shop    | 2026-11-01 |\n\
         | 1004     | 3           | books    | 8.99   | paid      | shop    | 2026-11-01 |\n\
         | 1005     | 4           | toys     | 99.00  | paid      | shop    | 2026-11-01 |\n\
         | 1008     | 5           | garden   | 22.40  | new       | shop    | 2026-11-02 |\n\
         | 1010     | 6           | toys     | 18.00  | new       | shop    | 2026-11-02 |\n\
         | 1011     | 4           | books    | 33.10  | new       | shop    | 2026-11-03 |\n\
         | 2001     | 3           | toys     | 12.50  | paid      | app     | 2026-11-01 |\n\
         | 2002     | 6           | books    | 30.25  | cancelled | app     | 2026-11-01 |\n\
         | 2003     | 1           | garden   | 7.75   | paid      | app     | 2026-11-01 |\n\
         | 2005     | 8           | books    | 45.00  | new       | app     | 2026-11-02 |\n\
         | 2007     | 1           | toys     | 19.99  | new       | app     | 2026-11-03 |\n\
         +----------+-------------+----------+--------+-----------+---------+------------+"
    );
    assert_eq!(
        query(
            &main,
            "SELECT * FROM gold.daily_revenue ORDER BY order_date, category"
        )
        .await,
        "+------------+----------+---------+--------+\n\
         | order_date | category | revenue | orders |\n\
         +------------+----------+---------+--------+\n\
         | 2026-11-01 | books    | 33.99   | 2      |\n\
         | 2026-11-01 | garden   | 7.75    | 1      |\n\
         | 2026-11-01 | toys     | 152.00  | 3      |\n\
         | 2026-11-02 | books    | 45.00   | 1      |\n\
         | 2026-11-02 | garden   | 22.40   | 1      |\n\
         | 2026-11-02 | toys     | 18.00   | 1      |\n\
         | 2026-11-03 | books    | 33.10   | 1      |\n\
         | 2026-11-03 | toys     | 19.99   | 1      |\n\
         +------------+----------+---------+--------+"
    );
    // Every object once in the ledger; every run recorded.
    assert_eq!(
        query(&main, "SELECT source, count(*) AS objects, sum(rows) AS rows, sum(quarantined) AS quarantined FROM floe.pipeline_files GROUP BY source ORDER BY source").await,
        "+-------------+---------+------+-------------+\n\
         | source      | objects | rows | quarantined |\n\
         +-------------+---------+------+-------------+\n\
         | app_events  | 3       | 7    | 2           |\n\
         | shop_orders | 4       | 15   | 3           |\n\
         +-------------+---------+------+-------------+"
    );
    assert_eq!(
        query(
            &main,
            "SELECT status, count(*) AS runs FROM floe.pipeline_runs GROUP BY status"
        )
        .await,
        "+---------+------+\n| status  | runs |\n+---------+------+\n| success | 3    |\n+---------+------+"
    );

    // Each run lists the tables it wrote, with their counts and snapshots.
    assert_eq!(
        query(
            &main,
            "SELECT t['table_name'] AS t, t['action'] AS action, t['rows_written'] AS written \
             FROM (SELECT started_at, unnest(tables) AS t FROM floe.pipeline_runs) AS x \
             WHERE t['step'] LIKE 'gold/%' ORDER BY started_at, 1"
        )
        .await,
        "+--------------------+-------------+---------+\n\
         | t                  | action      | written |\n\
         +--------------------+-------------+---------+\n\
         | gold.customer_ltv  | full        | 5       |\n\
         | gold.daily_revenue | full        | 3       |\n\
         | gold.customer_ltv  | full        | 7       |\n\
         | gold.daily_revenue | incremental | 6       |\n\
         | gold.customer_ltv  | full        | 7       |\n\
         | gold.daily_revenue | incremental | 5       |\n\
         +--------------------+-------------+---------+"
    );

    // The incremental result equals a recompute from all upstream rows...
    let incremental = contents(&main).await;
    let refresh = setup
        .run(RunOptions {
            full_refresh: true,
            ..Default::default()
        })
        .await;
    assert_eq!(refresh.status, RunStatus::Success, "{:?}", refresh.error);
    assert!(
        refresh.steps.iter().all(|s| s.action == "full"),
        "{:?}",
        actions(&refresh)
    );
    assert_eq!(contents(&main).await, incremental);

    // ... and a single run over every file in a fresh warehouse.
    let fresh = Setup::new().await;
    fresh.arrive("2026-11-02");
    fresh.arrive("2026-11-03");
    let once = fresh.run(RunOptions::default()).await;
    assert_eq!(once.status, RunStatus::Success, "{:?}", once.error);
    assert_eq!(contents(&fresh.main()).await, incremental);
}

/// Every table's head on main but the runner's run records.
fn data_heads(
    heads: &(BTreeMap<String, Option<i64>>, Vec<String>),
) -> BTreeMap<String, Option<i64>> {
    heads
        .0
        .iter()
        .filter(|(t, _)| !t.starts_with("floe.pipeline_run"))
        .map(|(t, h)| (t.clone(), *h))
        .collect()
}

#[test]
fn a_failing_check_leaves_main_untouched() {
    block_on(async {
        let setup = Setup::new().await;
        let main = setup.main();
        assert_eq!(
            setup.run(RunOptions::default()).await.status,
            RunStatus::Success
        );
        let before = heads(&main).await;

        let bad = setup.folder.join("landing/shop_orders_2026-11-04.csv");
        std::fs::write(&bad, "order_id,customer_id,category,amount,status,updated_at\n1012,2,Books,-5.00,new,2026-11-04 09:00:00\n").unwrap();
        let failed = setup.run(RunOptions::default()).await;
        assert_eq!(failed.status, RunStatus::ChecksFailed);
        assert_eq!(
            failed.error.as_deref(),
            Some(
                "silver/order_events.sql line 7: `amount >= 0` failed for 1 row(s); \
                  gold/daily_revenue.sql line 5: `revenue >= 0` failed for 1 row(s)"
            )
        );
        let sample = failed
            .checks
            .iter()
            .find(|c| c.check == "amount >= 0")
            .unwrap();
        assert!(sample.sample.as_deref().unwrap().contains("| 1012     | 2           | books    | -5.00  | new    | 2026-11-04T09:00:00 | shop    |"), "{:?}", sample.sample);

        // main: no data table moved; the failed run is recorded there.
        let after = heads(&main).await;
        assert_eq!(data_heads(&after), data_heads(&before));
        let branch = failed.branch.clone().unwrap();
        assert_eq!(after.1, vec!["main".to_string(), branch.clone()]);
        assert_eq!(
            query(
                &main,
                "SELECT count(*) AS n FROM bronze.shop_orders WHERE order_id = 1012"
            )
            .await,
            "+---+\n| n |\n+---+\n| 0 |\n+---+"
        );
        let kept = setup.main();
        kept.use_branch(&branch).await.unwrap();
        assert_eq!(
            query(
                &kept,
                "SELECT count(*) AS n FROM silver.orders WHERE order_id = 1012"
            )
            .await,
            "+---+\n| n |\n+---+\n| 1 |\n+---+"
        );
        assert_eq!(
            query(&main, &format!("SELECT status, branch = '{branch}' AS kept FROM floe.pipeline_runs WHERE error IS NOT NULL")).await,
            "+---------------+------+\n| status        | kept |\n+---------------+------+\n| checks_failed | true |\n+---------------+------+"
        );

        // The file is corrected: a new object, ingested once.
        std::fs::write(&bad, "order_id,customer_id,category,amount,status,updated_at\n1012,2,Books,5.00,new,2026-11-04 09:00:00\n").unwrap();
        let fixed = setup.run(RunOptions::default()).await;
        assert_eq!(fixed.status, RunStatus::Success, "{:?}", fixed.error);
        assert_eq!(
            query(
                &main,
                "SELECT order_id, amount FROM silver.orders WHERE order_id = 1012"
            )
            .await,
            "+----------+--------+\n| order_id | amount |\n+----------+--------+\n| 1012     | 5.00   |\n+----------+--------+"
        );
        assert_eq!(
            query(
                &main,
                "SELECT count(*) AS n FROM floe.pipeline_files WHERE object LIKE '%2026-11-04.csv'"
            )
            .await,
            "+---+\n| n |\n+---+\n| 1 |\n+---+"
        );
        // A failed run's branch is kept until the next run, which redoes
        // its work.
        assert_eq!(heads(&main).await.1, ["main"]);
    });
}

/// An observer that writes to main once, when the run checks its tables:
/// after every step has written on the run branch, before publishing.
struct WriterOnMain {
    engine: Engine,
    sql: &'static str,
    done: std::sync::Mutex<bool>,
}

impl floe_pipeline::Observer for WriterOnMain {
    fn event(&self, event: &floe_pipeline::Event) {
        let floe_pipeline::Event::CheckFinished { .. } = event else {
            return;
        };
        let mut done = self.done.lock().unwrap();
        if *done {
            return;
        }
        *done = true;
        let session = self.engine.session();
        let handle = tokio::runtime::Handle::current();
        tokio::task::block_in_place(|| {
            handle.block_on(async {
                session
                    .sql(self.sql)
                    .await
                    .unwrap()
                    .collect()
                    .await
                    .unwrap()
            })
        });
    }
}

#[test]
fn a_concurrent_writer_on_main() {
    block_on(async {
        let setup = Setup::new().await;
        let main = setup.main();
        assert_eq!(
            setup.run(RunOptions::default()).await.status,
            RunStatus::Success
        );

        // Rows the run also changes: a conflict. Nothing is published.
        setup.arrive("2026-11-02");
        let conflicting = WriterOnMain {
            engine: setup.engine.clone(),
            sql: "UPDATE silver.orders SET status = 'shipped' WHERE order_id = 1001",
            done: Default::default(),
        };
        let before = heads(&main).await;
        let failed = floe_pipeline::run(
            &setup.engine,
            &setup.pipeline(),
            RunOptions::default(),
            &conflicting,
        )
        .await
        .unwrap();
        assert_eq!(failed.status, RunStatus::Failed);
        let error = failed.error.clone().unwrap();
        assert!(
            error.starts_with("publishing to main failed, nothing was published: "),
            "{error}"
        );
        assert!(error.contains("silver.orders"), "{error}");
        let after = heads(&main).await;
        let (old, new) = (data_heads(&before), data_heads(&after));
        let moved: Vec<&String> = new
            .iter()
            .filter(|(t, h)| old[*t] != **h)
            .map(|(t, _)| t)
            .collect();
        assert_eq!(
            moved,
            ["silver.orders"],
            "only the concurrent writer's table moved"
        );
        assert_eq!(
            query(&main, "SELECT count(*) AS n FROM bronze.shop_orders").await,
            "+---+\n| n |\n+---+\n| 5 |\n+---+"
        );
        assert!(after.1.contains(failed.branch.as_ref().unwrap()));

        // The next run completes the work, once. silver.orders, which the
        // other writer changed, is recomputed in full.
        let rerun = setup.run(RunOptions::default()).await;
        assert_eq!(rerun.status, RunStatus::Success, "{:?}", rerun.error);
        assert_eq!(rerun.steps[2].action, "incremental");
        assert_eq!(
            (rerun.steps[3].step.as_str(), rerun.steps[3].action.as_str()),
            ("silver/orders.sql", "full")
        );
        assert_eq!(
            query(
                &main,
                "SELECT status FROM silver.orders WHERE order_id = 1001"
            )
            .await,
            "+--------+\n| status |\n+--------+\n| paid   |\n+--------+"
        );
        assert_eq!(
            query(&main, "SELECT count(*) AS n FROM bronze.shop_orders").await,
            "+----+\n| n  |\n+----+\n| 11 |\n+----+"
        );

        // Rows the run does not touch: both sides merge.
        setup.arrive("2026-11-03");
        let appending = WriterOnMain {
            engine: setup.engine.clone(),
            sql: "INSERT INTO bronze.shop_orders VALUES (1099, 9, 'Books', 1.00, 'new', TIMESTAMP '2026-11-03 07:00:00')",
            done: Default::default(),
        };
        let merged = floe_pipeline::run(
            &setup.engine,
            &setup.pipeline(),
            RunOptions::default(),
            &appending,
        )
        .await
        .unwrap();
        assert_eq!(merged.status, RunStatus::Success, "{:?}", merged.error);
        assert_eq!(
            query(&main, "SELECT count(*) AS n FROM bronze.shop_orders").await,
            "+----+\n| n  |\n+----+\n| 16 |\n+----+"
        );
        // The row the other writer added reaches silver on the next run.
        assert_eq!(
            query(
                &main,
                "SELECT count(*) AS n FROM silver.orders WHERE order_id = 1099"
            )
            .await,
            "+---+\n| n |\n+---+\n| 0 |\n+---+"
        );
        let next = setup.run(RunOptions::default()).await;
        assert_eq!(next.status, RunStatus::Success, "{:?}", next.error);
        assert_eq!(
            actions(&next)[0..2],
            [
                step("silver/order_events.sql", "incremental", 1, 1, 0),
                step("silver/orders.sql", "incremental", 1, 1, 0)
            ]
        );
        assert_eq!(
            query(
                &main,
                "SELECT count(*) AS n FROM silver.orders WHERE order_id = 1099"
            )
            .await,
            "+---+\n| n |\n+---+\n| 1 |\n+---+"
        );
        let incremental = contents(&main).await;
        let refresh = setup
            .run(RunOptions {
                full_refresh: true,
                ..Default::default()
            })
            .await;
        assert_eq!(refresh.status, RunStatus::Success, "{:?}", refresh.error);
        assert_eq!(contents(&main).await, incremental);
    });
}

#[test]
fn new_columns_can_be_refused() {
    block_on(async {
        let setup = Setup::new().await;
        let toml = setup.folder.join("bronze/app_events.toml");
        let text = std::fs::read_to_string(&toml)
            .unwrap()
            .replace("on_new_columns = \"add\"", "on_new_columns = \"fail\"");
        std::fs::write(&toml, text).unwrap();
        let main = setup.main();
        assert_eq!(
            setup.run(RunOptions::default()).await.status,
            RunStatus::Success
        );
        let before = heads(&main).await;
        setup.arrive("2026-11-02");
        let failed = setup.run(RunOptions::default()).await;
        assert_eq!(failed.status, RunStatus::Failed);
        let object = setup.folder.join("landing/app_events_2026-11-02.jsonl");
        assert_eq!(
            failed.error.as_deref(),
            Some(format!(
                "bronze/app_events.toml: source object {}: has column(s) coupon that bronze.app_events \
                 does not (on_new_columns = \"fail\" in bronze/app_events.toml)",
                object.display()
            ).as_str())
        );
        assert_eq!(data_heads(&heads(&main).await), data_heads(&before));
        assert_eq!(
            query(&main, "SELECT column_name FROM information_schema.columns WHERE table_schema = 'bronze' AND table_name = 'app_events' ORDER BY ordinal_position").await.matches("coupon").count(),
            0
        );
    });
}

#[test]
fn one_run_at_a_time_and_a_changed_model_recomputes() {
    block_on(async {
        let setup = Setup::new().await;
        assert_eq!(
            setup.run(RunOptions::default()).await.status,
            RunStatus::Success
        );

        // Another live process holds the lock (this one, as far as the
        // lock can tell).
        let lock = format!("{}/_floe/pipelines/orders.lock", setup.engine.warehouse());
        let (store, path) = setup.engine.object_store(&lock).unwrap();
        let holder = format!(
            r#"{{"run_id":"orders_20261201t000000_abcd","pid":{},"host":"{}","started_at":"2026-12-01T00:00:00Z"}}"#,
            std::process::id(),
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .unwrap()
                .trim()
        );
        object_store::ObjectStoreExt::put(&store, &path, holder.into_bytes().into())
            .await
            .unwrap();
        setup.arrive("2026-11-02");
        let refused = floe_pipeline::run(
            &setup.engine,
            &setup.pipeline(),
            RunOptions::default(),
            &Quiet,
        )
        .await
        .unwrap_err();
        let message = refused.to_string();
        assert!(message.starts_with(&format!(
            "pipeline 'orders' is already running: run orders_20261201t000000_abcd (process {} on ",
            std::process::id()
        )), "{message}");
        assert_eq!(refused.kind(), floe_engine::ErrorKind::Conflict);
        object_store::ObjectStoreExt::delete(&store, &path)
            .await
            .unwrap();

        // A dry run plans and changes nothing.
        let main = setup.main();
        let before = heads(&main).await;
        let plan = setup
            .run(RunOptions {
                dry_run: true,
                ..Default::default()
            })
            .await;
        assert_eq!(plan.status, RunStatus::DryRun);
        let planned: Vec<(&str, &str)> = plan
            .plan
            .iter()
            .map(|p| (p.step.as_str(), p.action.as_str()))
            .collect();
        assert_eq!(
            planned,
            [
                ("bronze/app_events.toml", "ingest 1 new object(s)"),
                ("bronze/shop_orders.toml", "ingest 2 new object(s)"),
                (
                    "silver/order_events.sql",
                    "append what the upstream tables gained"
                ),
                (
                    "silver/orders.sql",
                    "recompute the keys whose upstream rows changed"
                ),
                ("gold/customer_ltv.sql", "recompute (an upstream changed)"),
                (
                    "gold/daily_revenue.sql",
                    "recompute the keys whose upstream rows changed"
                ),
            ]
        );
        assert_eq!(heads(&main).await, before);

        // A model whose SELECT changed recomputes in full.
        assert_eq!(
            setup.run(RunOptions::default()).await.status,
            RunStatus::Success
        );
        let model = setup.folder.join("gold/customer_ltv.sql");
        let text = std::fs::read_to_string(&model)
            .unwrap()
            .replace("count(*) AS orders", "count(order_id) AS orders");
        std::fs::write(&model, text).unwrap();
        let changed = setup.run(RunOptions::default()).await;
        assert_eq!(changed.status, RunStatus::Success, "{:?}", changed.error);
        assert_eq!(
            actions(&changed),
            [step("gold/customer_ltv.sql", "full", 11, 7, 0)]
        );
    });
}

#[test]
fn an_append_models_checks_read_the_rows_it_appended() {
    block_on(async {
        let setup = Setup::new().await;
        let model = setup.folder.join("silver/order_events.sql");
        let text = std::fs::read_to_string(&model).unwrap().replace(
            "-- check: amount >= 0",
            "-- check: amount >= 0\n-- warn: unique(order_id, updated_at, channel)",
        );
        std::fs::write(&model, text).unwrap();
        assert_eq!(
            setup.run(RunOptions::default()).await.status,
            RunStatus::Success
        );
        setup.arrive("2026-11-02");
        // The resent file repeats two events: the warning finds them among
        // the appended rows and the rows they match.
        let second = setup.run(RunOptions::default()).await;
        assert_eq!(second.status, RunStatus::Success, "{:?}", second.error);
        assert_eq!(actions(&second)[2].1, "incremental");
        let warn = second.checks.iter().find(|c| !c.blocking).unwrap();
        assert_eq!(warn.failing_rows, 2);
        assert!(
            warn.sample
                .as_deref()
                .unwrap()
                .contains("| 1003     | 2026-11-01T10:15:00 | shop    | 2      |"),
            "{:?}",
            warn.sample
        );
        // Day 3 repeats nothing.
        setup.arrive("2026-11-03");
        let third = setup.run(RunOptions::default()).await;
        assert_eq!(third.status, RunStatus::Success, "{:?}", third.error);
        assert_eq!(
            third
                .checks
                .iter()
                .find(|c| !c.blocking)
                .unwrap()
                .failing_rows,
            0
        );
        // A changed check is checked over every row again.
        let text = std::fs::read_to_string(&model)
            .unwrap()
            .replace("-- warn: unique", "-- check: unique");
        std::fs::write(&model, text).unwrap();
        let strict = setup.run(RunOptions::default()).await;
        assert_eq!(strict.status, RunStatus::ChecksFailed);
        assert_eq!(
            strict.error.as_deref(),
            Some(
                "silver/order_events.sql line 8: `unique(order_id, updated_at, channel)` failed for 2 row(s)"
            )
        );
    });
}

/// An observer that, when the run starts its first model, tries a second
/// run of the same pipeline and keeps its error.
struct SecondRun {
    engine: Engine,
    pipeline: Pipeline,
    refused: std::sync::Mutex<Option<String>>,
}

impl floe_pipeline::Observer for SecondRun {
    fn event(&self, event: &floe_pipeline::Event) {
        let floe_pipeline::Event::StepStarted { step, .. } = event else {
            return;
        };
        if step != "silver/order_events.sql" {
            return;
        }
        let handle = tokio::runtime::Handle::current();
        let outcome = tokio::task::block_in_place(|| {
            handle.block_on(floe_pipeline::run(
                &self.engine,
                &self.pipeline,
                RunOptions::default(),
                &Quiet,
            ))
        });
        *self.refused.lock().unwrap() = outcome.err().map(|e| e.to_string());
    }
}

#[test]
fn a_second_run_at_once_is_refused() {
    block_on(async {
        let setup = Setup::new().await;
        let second = SecondRun {
            engine: setup.engine.clone(),
            pipeline: setup.pipeline(),
            refused: Default::default(),
        };
        let first = floe_pipeline::run(
            &setup.engine,
            &setup.pipeline(),
            RunOptions::default(),
            &second,
        )
        .await
        .unwrap();
        assert_eq!(first.status, RunStatus::Success, "{:?}", first.error);
        let refused = second.refused.lock().unwrap().clone().unwrap();
        assert!(
            refused.starts_with(&format!(
                "pipeline 'orders' is already running: run {} (process {} on ",
                first.run_id,
                std::process::id()
            )),
            "{refused}"
        );
        assert_eq!(
            query(
                &setup.main(),
                "SELECT count(*) AS n FROM floe.pipeline_runs"
            )
            .await,
            "+---+\n| n |\n+---+\n| 1 |\n+---+"
        );
    });
}

#[test]
fn a_compacted_upstream_stays_incremental() {
    block_on(async {
        let compacted = Setup::new().await;
        let plain = Setup::new().await;
        for setup in [&compacted, &plain] {
            assert_eq!(
                setup.run(RunOptions::default()).await.status,
                RunStatus::Success
            );
        }
        // Between the runs, maintenance rewrites the bronze tables: a
        // replace snapshot, the same rows in other files.
        for table in ["bronze.shop_orders", "bronze.app_events"] {
            let call = format!(
                "CALL system.rewrite_data_files(table => '{table}', \
                 options => map(['rewrite-all'], ['true']))"
            );
            let out = query(&compacted.main(), &call).await;
            assert!(out.contains("| 1 "), "{out}");
        }
        for setup in [&compacted, &plain] {
            setup.arrive("2026-11-02");
        }
        let second = compacted.run(RunOptions::default()).await;
        assert_eq!(second.status, RunStatus::Success, "{:?}", second.error);
        let reference = plain.run(RunOptions::default()).await;
        // The appends after the compaction are read incrementally, as
        // without it, and give the same tables.
        assert_eq!(actions(&second), actions(&reference));
        assert_eq!(actions(&second)[2].1, "incremental");
        assert_eq!(
            contents(&compacted.main()).await,
            contents(&plain.main()).await
        );
    });
}

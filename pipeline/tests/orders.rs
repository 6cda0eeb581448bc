//! The orders pipeline of `fixtures/pipelines/orders`, run as files arrive.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use arrow::util::pretty::pretty_format_batches;
use floe_engine::{Engine, Session};
use floe_pipeline::{Pipeline, Quiet, RunOptions, RunStatus};

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
    "floe.pipeline_run_tables",
];

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

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
        let engine = Engine::open(dir.path().join("wh").to_str().unwrap()).await.unwrap();
        Self { _dir: dir, folder, engine }
    }

    /// The files of `arrivals/<day>` land.
    fn arrive(&self, day: &str) {
        copy_dir(&self.folder.join("arrivals").join(day), &self.folder.join("landing"));
    }

    fn pipeline(&self) -> Pipeline {
        Pipeline::load(&self.folder).unwrap()
    }

    async fn run(&self, options: RunOptions) -> floe_pipeline::RunReport {
        floe_pipeline::run(&self.engine, &self.pipeline(), options, &Quiet).await.unwrap()
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
        let head = session.table(table).await.ok().and_then(|t| t.snapshot_id());
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
        .map(|s| (s.step.clone(), s.action.clone(), s.rows_read, s.rows_written, s.rows_quarantined))
        .collect()
}

fn step(step: &str, action: &str, read: u64, written: u64, quarantined: u64) -> (String, String, u64, u64, u64) {
    (step.to_string(), action.to_string(), read, written, quarantined)
}

/// Run a test body on a thread with room for a debug build's deep stack
/// (a run nests the engine's commit inside several layers of futures).
fn block_on(body: impl std::future::Future<Output = ()> + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(16 << 20)
        .spawn(move || {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_stack_size(16 << 20)
                .enable_all()
                .build()
                .unwrap()
                .block_on(body)
        })
        .unwrap()
        .join()
        .unwrap();
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
    let (_, branches) = heads(&main).await;
    assert_eq!(branches, ["main"], "the run branch is dropped after publishing");
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
    assert!(quarantined.contains("| 4    | not valid JSON: EOF while parsing a value at line 1 column 66 |"), "{quarantined}");
    assert!(quarantined.contains(r#"{"order_id": 2004, "customer_id": 7, "category": "toys", "amount":"#), "{quarantined}");
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
            step("gold/daily_revenue.sql", "incremental", 9, 5, 0),
        ]
    );
    assert_eq!(
        query(&main, "SELECT order_id, coupon FROM bronze.app_events ORDER BY order_id, coupon").await,
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
        query(&main, "SELECT line, reason FROM bronze.app_events__quarantine WHERE raw LIKE '%twelve%'").await,
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
            step("gold/daily_revenue.sql", "incremental", 8, 5, 0),
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
        query(&main, "SELECT * FROM gold.daily_revenue ORDER BY order_date, category").await,
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
        query(&main, "SELECT status, count(*) AS runs FROM floe.pipeline_runs GROUP BY status").await,
        "+---------+------+\n| status  | runs |\n+---------+------+\n| success | 3    |\n+---------+------+"
    );

    // The incremental result equals a recompute from all upstream rows...
    let incremental = contents(&main).await;
    let refresh = setup.run(RunOptions { full_refresh: true, ..Default::default() }).await;
    assert_eq!(refresh.status, RunStatus::Success, "{:?}", refresh.error);
    assert!(refresh.steps.iter().all(|s| s.action == "full"), "{:?}", actions(&refresh));
    assert_eq!(contents(&main).await, incremental);

    // ... and a single run over every file in a fresh warehouse.
    let fresh = Setup::new().await;
    fresh.arrive("2026-11-02");
    fresh.arrive("2026-11-03");
    let once = fresh.run(RunOptions::default()).await;
    assert_eq!(once.status, RunStatus::Success, "{:?}", once.error);
    assert_eq!(contents(&fresh.main()).await, incremental);
}

//! `floe pipeline`: runs of `fixtures/pipelines/orders` as processes,
//! one of them killed with SIGKILL in the middle.

#![allow(clippy::unwrap_used)] // tests panic on failure by design

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/pipelines/orders");

/// Copy a folder with `cp -r` (and so its files get new modification times,
/// as files that land do).
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    let from = format!("{}/.", from.display());
    let status = Command::new("cp")
        .arg("-r")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(status.success());
}

struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(Path::new(FIXTURE), &dir.path().join("orders"));
        Self { dir }
    }

    fn folder(&self) -> PathBuf {
        self.dir.path().join("orders")
    }

    fn arrive(&self, day: &str) {
        copy_dir(
            &self.folder().join("arrivals").join(day),
            &self.folder().join("landing"),
        );
    }

    fn floe(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_floe"));
        cmd.arg("--warehouse")
            .arg(self.dir.path().join("wh"))
            .args(args);
        cmd.env_remove("FLOE_WAREHOUSE").env_remove("FLOE_CATALOG");
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd
    }

    fn pipeline(&self, args: &[&str]) -> Output {
        let folder = self.folder();
        let mut all = vec!["pipeline"];
        all.extend_from_slice(&args[..1]);
        all.push(folder.to_str().unwrap());
        all.extend_from_slice(&args[1..]);
        self.floe(&all).output().unwrap()
    }

    /// A query's result as CSV.
    fn sql(&self, query: &str) -> String {
        let out = self
            .floe(&["sql", "--format", "csv", "-c", query])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Row counts and main's snapshot of every table the pipeline writes.
fn state(setup: &Setup) -> String {
    let mut out = String::new();
    for table in [
        "bronze.shop_orders",
        "bronze.app_events",
        "silver.order_events",
        "silver.orders",
        "gold.daily_revenue",
        "gold.customer_ltv",
        "floe.pipeline_files",
        "floe.pipeline_runs",
    ] {
        let (namespace, name) = table.split_once('.').unwrap();
        out.push_str(&setup.sql(&format!(
            "SELECT '{table}' AS t, (SELECT count(*) FROM {table}) AS n, snapshot_id \
             FROM {namespace}.\"{name}$refs\" WHERE name = 'main'"
        )));
    }
    out
}

#[test]
fn a_run_killed_midway_leaves_main_untouched_and_the_next_completes_it() {
    let setup = Setup::new();
    let first = setup.pipeline(&["run"]);
    assert!(first.status.success(), "{}", text(&first));
    setup.arrive("2026-11-02");
    setup.arrive("2026-11-03");
    let before = state(&setup);

    // Kill the run once bronze has written to the run branch.
    let folder = setup.folder();
    let mut child = setup
        .floe(&["pipeline", "run", folder.to_str().unwrap(), "--json"])
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut seen = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        let event: serde_json::Value = serde_json::from_str(&line).unwrap();
        seen.push(event["event"].as_str().unwrap().to_string());
        if event["event"] == "step_finished" && event["step"] == "bronze/shop_orders.toml" {
            child.kill().unwrap();
            break;
        }
    }
    let status = child.wait().unwrap();
    assert!(!status.success());
    assert_eq!(
        seen,
        [
            "planned",
            "branch_created",
            "step_started",
            "step_progress",
            "step_progress",
            "step_finished",
            "step_started",
            "step_progress",
            "step_progress",
            "step_progress",
            "step_finished",
        ]
    );
    assert_eq!(
        state(&setup),
        before,
        "a killed run changes nothing on main"
    );
    assert_eq!(
        setup.sql("SHOW BRANCHES").lines().count(),
        3,
        "main and the dead run's branch"
    );

    // The next run takes over the lock, drops the dead run's branch and
    // ingests every new object once.
    let rerun = setup.pipeline(&["run"]);
    let output = text(&rerun);
    assert!(rerun.status.success(), "{output}");
    assert!(
        output.contains(", left by a run that was killed"),
        "{output}"
    );
    assert_eq!(setup.sql("SHOW BRANCHES").lines().count(), 2, "main only");
    assert_eq!(
        setup.sql(
            "SELECT count(*) AS n, count(DISTINCT object) AS objects FROM floe.pipeline_files"
        ),
        "n,objects\n7,7\n"
    );
    assert_eq!(
        setup.sql("SELECT count(*) AS n FROM bronze.shop_orders"),
        "n\n15\n"
    );
    assert_eq!(
        setup.sql("SELECT count(*) AS n FROM silver.orders"),
        "n\n13\n"
    );
    assert_eq!(
        setup.sql("SELECT status, count(*) AS n FROM floe.pipeline_runs GROUP BY status"),
        "status,n\nsuccess,2\n"
    );
}

#[test]
fn status_json_and_dry_runs() {
    let setup = Setup::new();
    let empty = setup.pipeline(&["status"]);
    assert_eq!(
        text(&empty),
        "Pipeline 'orders' has not run on this warehouse yet.\n"
    );

    let plan = setup.pipeline(&["run", "--dry-run"]);
    let plan_text = String::from_utf8_lossy(&plan.stdout).to_string();
    assert!(plan.status.success(), "{}", text(&plan));
    assert!(plan_text.starts_with("Plan of pipeline 'orders' (dry run: nothing is changed):\n  1. bronze/app_events.toml → bronze.app_events [source]: ingest 1 new object(s)\n"), "{plan_text}");
    assert!(plan_text.contains("  4. silver/orders.sql → silver.orders [merge (order_id)]: create the table\n       reads silver.order_events: new rows from this run\n"), "{plan_text}");
    assert!(
        !setup.dir.path().join("wh/floe").exists(),
        "a dry run creates nothing"
    );

    let run = setup.pipeline(&["run", "--json"]);
    assert!(run.status.success(), "{}", text(&run));
    let events: Vec<serde_json::Value> = String::from_utf8(run.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let last = events.last().unwrap();
    assert_eq!(last["event"], "report");
    assert_eq!(last["status"], "success");
    assert_eq!(last["steps"].as_array().unwrap().len(), 6);
    let finished = &events[events.len() - 2];
    assert_eq!(finished["event"], "run_finished");
    assert_eq!(finished["status"], "success");

    let idle = setup.pipeline(&["run"]);
    assert!(idle.status.success());
    assert_eq!(
        String::from_utf8_lossy(&idle.stdout),
        "Pipeline 'orders' is up to date: no new source object and no upstream change; nothing was committed.\n"
    );

    let status = setup.pipeline(&["status", "--json"]);
    let runs: Vec<serde_json::Value> = String::from_utf8(status.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["status"], "success");
    assert_eq!(runs[0]["rows_quarantined"], 3);
}

#[test]
fn bad_pipelines_are_clear_errors() {
    let setup = Setup::new();
    let folder = setup.folder();
    std::fs::write(
        folder.join("silver/order_events.sql"),
        "-- target: silver.order_events\n-- mode: append\nSELECT * FROM gold.customer_ltv",
    )
    .unwrap();
    let cycle = setup.pipeline(&["run"]);
    assert_eq!(cycle.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&cycle.stderr),
        "error: the pipeline's models form a cycle: silver/order_events.sql (silver.order_events) → \
         silver/orders.sql (silver.orders) → gold/customer_ltv.sql (gold.customer_ltv) → \
         silver/order_events.sql (silver.order_events)\n"
    );
    std::fs::write(
        folder.join("silver/order_events.sql"),
        "-- target: silver.order_events\n-- mode: append\n-- check: unique(\nSELECT 1 AS x",
    )
    .unwrap();
    let header = setup.pipeline(&["run"]);
    assert_eq!(header.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&header.stderr),
        "error: silver/order_events.sql: line 3: 'unique(': expected unique(...)\n"
    );
    assert!(
        !setup.dir.path().join("wh").join("floe").exists(),
        "nothing was created"
    );
}

#[test]
fn a_run_is_refused_while_another_holds_the_lock() {
    let setup = Setup::new();
    // A live process of this host holds the pipeline's lock.
    let mut holder = Command::new("sleep").arg("60").spawn().unwrap();
    let lock = setup.dir.path().join("wh/_floe/pipelines");
    std::fs::create_dir_all(&lock).unwrap();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    std::fs::write(
        lock.join("orders.lock"),
        format!(
            r#"{{"run_id":"orders_20261201t090000_beef","pid":{},"host":"{}","started_at":"2026-12-01T09:00:00+00:00"}}"#,
            holder.id(),
            host.trim()
        ),
    )
    .unwrap();
    let refused = setup.pipeline(&["run"]);
    assert_eq!(refused.status.code(), Some(1));
    let lock_file = lock.join("orders.lock");
    assert_eq!(
        String::from_utf8_lossy(&refused.stderr),
        format!(
            "error: pipeline 'orders' is already running: run orders_20261201t090000_beef \
             (process {} on {}, since 2026-12-01T09:00:00+00:00) holds file://{}. \
             Wait for it to finish; if no run is going on, delete that file.\n",
            holder.id(),
            host.trim(),
            lock_file.display()
        )
    );
    // Once that process is gone, its lock is taken over.
    holder.kill().unwrap();
    holder.wait().unwrap();
    let run = setup.pipeline(&["run"]);
    assert!(run.status.success(), "{}", text(&run));
    assert!(!lock_file.exists(), "the run removes its lock");
}

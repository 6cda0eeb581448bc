//! Several `floe` processes on one warehouse: concurrent writers, racing
//! DELETEs, and writers killed with SIGKILL in the middle of commits.

#![allow(clippy::unwrap_used)] // tests panic on failure by design

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

fn floe(warehouse: &Path, statements: &[String]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_floe"));
    cmd.arg("--warehouse")
        .arg(warehouse)
        .args(["sql", "--format", "csv"]);
    for s in statements {
        cmd.arg("-c").arg(s);
    }
    cmd.env_remove("FLOE_WAREHOUSE").env_remove("FLOE_CATALOG");
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd
}

fn run(warehouse: &Path, statements: &[&str]) -> Output {
    let statements: Vec<String> = statements.iter().map(|s| s.to_string()).collect();
    let out = floe(warehouse, &statements).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The single value a one-row, one-column query returns.
fn value(warehouse: &Path, query: &str) -> String {
    let out = run(warehouse, &[query]);
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    lines.next(); // header
    lines.next().unwrap_or_default().to_string()
}

/// Writers in several processes race for every commit: more patience than
/// Java Iceberg's default of four retries.
const PATIENT: &str = "TBLPROPERTIES ('commit.retry.num-retries' = '100', \
                       'commit.retry.min-wait-ms' = '5', 'commit.retry.max-wait-ms' = '200')";

#[test]
fn four_processes_fifty_inserts_each() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path();
    // Every commit's snapshot is kept, to count them.
    run(
        wh,
        &[
            &format!("CREATE TABLE t (writer INT, n INT) {PATIENT}"),
            "ALTER TABLE t SET TBLPROPERTIES ('floe.history.max-snapshots' = 'none')",
        ],
    );
    let writers: Vec<Child> = (0..4)
        .map(|w| {
            let inserts: Vec<String> = (0..50)
                .map(|n| format!("INSERT INTO t VALUES ({w}, {n})"))
                .collect();
            floe(wh, &inserts).spawn().unwrap()
        })
        .collect();
    for child in writers {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(
        value(wh, "SELECT count(DISTINCT writer * 1000 + n) FROM t"),
        "200"
    );
    assert_eq!(value(wh, "SELECT count(*) FROM \"t$snapshots\""), "200");
    assert_eq!(
        value(
            wh,
            "SELECT count(*) FROM \"t$snapshots\" WHERE parent_id IS NULL"
        ),
        "1"
    );
}

#[test]
fn a_delete_racing_inserts_never_loses_a_row() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path();
    run(wh, &[&format!("CREATE TABLE t (id INT, k INT) {PATIENT}")]);
    // Every tenth row matches the DELETE (k = 1); the others (k = 2) are in
    // files whose bounds show they cannot, so they never conflict.
    let inserts: Vec<String> = (0..60)
        .map(|i| {
            format!(
                "INSERT INTO t VALUES ({i}, {})",
                if i % 10 == 0 { 1 } else { 2 }
            )
        })
        .collect();
    let inserter = floe(wh, &inserts).spawn().unwrap();
    let mut deleted_ok = 0;
    let mut conflicts = 0;
    for _ in 0..6 {
        std::thread::sleep(Duration::from_millis(40));
        let out = floe(wh, &["DELETE FROM t WHERE k = 1".to_string()])
            .output()
            .unwrap();
        if out.status.success() {
            deleted_ok += 1;
        } else {
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                err.contains("commit conflict on table 'default.t'"),
                "{err}"
            );
            assert!(err.contains("Nothing was changed"), "{err}");
            conflicts += 1;
        }
    }
    let out = inserter.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(deleted_ok + conflicts, 6);
    // Every row inserted is either still there or was removed by a DELETE
    // that committed: the snapshots account for all 60.
    let rows: i64 = value(wh, "SELECT count(*) FROM t").parse().unwrap();
    let deleted: i64 = value(
        wh,
        "SELECT coalesce(sum(CAST(summary['deleted-records'] AS BIGINT)), 0) \
         - coalesce(sum(CAST(summary['added-records'] AS BIGINT)) FILTER (WHERE operation <> 'append'), 0) \
         FROM \"t$snapshots\"",
    )
    .parse()
    .unwrap();
    eprintln!(
        "deletes: {deleted_ok} committed, {conflicts} conflicts; rows {rows}, deleted {deleted}"
    );
    assert_eq!(rows + deleted, 60, "rows {rows}, deleted {deleted}");
    let appends = value(
        wh,
        "SELECT count(*) FROM \"t$snapshots\" WHERE operation = 'append'",
    );
    assert_eq!(appends, "60");
    // No row the DELETE does not match was ever lost.
    assert_eq!(value(wh, "SELECT count(*) FROM t WHERE k = 2"), "54");
}

/// A small deterministic generator, so each seed kills at its own moments.
fn lcg(seed: &mut u64) -> u64 {
    *seed = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    *seed >> 33
}

#[test]
fn writers_killed_mid_commit_leave_only_whole_commits() {
    for seed in [1u64, 7, 42] {
        let dir = tempfile::tempdir().unwrap();
        let wh = dir.path();
        run(wh, &["CREATE TABLE t (id INT)"]);
        let mut rng = seed;
        let mut next = 0;
        let mut patience = 0;
        // Writers in a row, each killed at a random moment, until 50 commits
        // have landed; each writer goes on from the last committed id.
        while next < 50 {
            let batch: Vec<String> = (next..50)
                .map(|i| format!("INSERT INTO t VALUES ({i})"))
                .collect();
            let mut child = floe(wh, &batch).spawn().unwrap();
            std::thread::sleep(Duration::from_millis(20 + patience + lcg(&mut rng) % 250));
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
            // What committed is exactly what the table holds, without gaps.
            let snapshots: usize = value(wh, "SELECT count(*) FROM \"t$snapshots\"")
                .parse()
                .unwrap();
            let rows = value(wh, "SELECT count(*) FROM t");
            assert_eq!(rows, snapshots.to_string(), "seed {seed}");
            let total = value(
                wh,
                "SELECT summary['total-records'] FROM \"t$snapshots\" ORDER BY committed_at DESC LIMIT 1",
            );
            if snapshots > 0 {
                assert_eq!(total, snapshots.to_string(), "seed {seed}");
            }
            let max = value(wh, "SELECT coalesce(max(id) + 1, 0) FROM t");
            assert_eq!(
                max,
                snapshots.to_string(),
                "inserts commit in order, seed {seed}"
            );
            // A writer killed before its first commit: give the next more time.
            patience = if snapshots == next { patience + 100 } else { 0 };
            next = snapshots;
        }
    }
}

#[test]
fn a_transaction_over_two_tables_shows_in_both_or_neither_when_killed() {
    for seed in [3u64, 11] {
        let dir = tempfile::tempdir().unwrap();
        let wh = dir.path();
        run(wh, &["CREATE TABLE a (id INT)", "CREATE TABLE b (id INT)"]);
        let mut rng = seed;
        let mut next = 0;
        let mut patience = 0;
        let mut kills = 0;
        while next < 20 {
            let script: Vec<String> = (next..20)
                .map(|i| {
                    format!("BEGIN; INSERT INTO a VALUES ({i}); INSERT INTO b VALUES ({i}); COMMIT")
                })
                .collect();
            let mut child = floe(wh, &script).spawn().unwrap();
            std::thread::sleep(Duration::from_millis(5 + patience + lcg(&mut rng) % 120));
            child.kill().unwrap();
            child.wait().unwrap();
            kills += 1;
            let in_a = value(wh, "SELECT count(*) FROM a");
            let in_b = value(wh, "SELECT count(*) FROM b");
            assert_eq!(in_a, in_b, "seed {seed}");
            let both = value(wh, "SELECT count(*) FROM a JOIN b ON a.id = b.id");
            assert_eq!(both, in_a, "the same rows in both tables, seed {seed}");
            let committed: usize = in_a.parse().unwrap();
            patience = if committed == next { patience + 100 } else { 0 };
            next = committed;
        }
        assert_eq!(value(wh, "SELECT count(*) FROM \"b$snapshots\""), "20");
        eprintln!("seed {seed}: {kills} writers killed");
    }
}

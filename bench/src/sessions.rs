//! `floe-bench sessions`: what sessions of one engine cost and how they
//! share it: the time to make a session, aggregate single-row commit
//! throughput with 1, 4 and 16 sessions (each on its own table, and all on
//! one), and concurrent TPC-H q1 (and a query that must spill) under a
//! memory limit, with the process's peak RSS.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use floe_engine::Engine;

use crate::{count, json_line, percentile, register_in_place};

/// Commits per throughput run (divisible by 1, 4 and 16).
const COMMITS: usize = 320;

/// Run every sessions benchmark; one JSON line each.
pub async fn run(
    warehouse: &str,
    data: Option<&Path>,
    queries: &Path,
    memory_limit: usize,
) -> Result<()> {
    session_cost(warehouse).await?;
    for sessions in [1usize, 4, 16] {
        for shared in [false, true] {
            throughput(warehouse, sessions, shared).await?;
        }
    }
    if let Some(data) = data {
        let q1 = std::fs::read_to_string(queries.join("q1.sql")).context("reading q1.sql")?;
        concurrent_queries(warehouse, data, memory_limit, "q1", &q1).await?;
        let grouped = "SELECT l_orderkey, l_partkey, sum(l_quantity) AS quantity FROM lineitem \
                       GROUP BY l_orderkey, l_partkey ORDER BY quantity DESC, l_orderkey, \
                       l_partkey LIMIT 5";
        concurrent_queries(
            warehouse,
            data,
            memory_limit,
            "group_by_orderkey_partkey",
            grouped,
        )
        .await?;
    }
    Ok(())
}

/// The time `engine.session()` takes, and dropping the session.
async fn session_cost(warehouse: &str) -> Result<()> {
    let dir = format!("{warehouse}/sessions");
    let _ = std::fs::remove_dir_all(&dir);
    let engine = Engine::open(&dir).await?;
    // Warm: the first sessions fault in the template's pages.
    for _ in 0..100 {
        drop(engine.session());
    }
    let n = 20_000;
    let mut make = Vec::with_capacity(n);
    let mut dropped = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        let session = engine.session();
        make.push(start.elapsed().as_secs_f64() * 1e6);
        let start = Instant::now();
        drop(session);
        dropped.push(start.elapsed().as_secs_f64() * 1e6);
    }
    make.sort_by(f64::total_cmp);
    dropped.sort_by(f64::total_cmp);
    json_line(serde_json::json!({
        "bench": "session",
        "n": n,
        "p50_us": percentile(&make, 50.0),
        "p99_us": percentile(&make, 99.0),
        "mean_us": make.iter().sum::<f64>() / n as f64,
        "drop_p50_us": percentile(&dropped, 50.0),
    }))
}

/// `sessions` sessions commit [`COMMITS`] single-row INSERTs between them,
/// each to its own table or all to one; aggregate commits per second. Every
/// commit must land exactly once, and none may retry: the tables allow no
/// retry, so a race lost between two sessions of the engine fails the run.
async fn throughput(warehouse: &str, sessions: usize, shared: bool) -> Result<()> {
    let dir = format!(
        "{warehouse}/throughput-{sessions}-{}",
        if shared { "one" } else { "separate" }
    );
    let _ = std::fs::remove_dir_all(&dir);
    let engine = Engine::open(&dir).await?;
    let setup = engine.session();
    let table = |i: usize| {
        if shared {
            "t".to_string()
        } else {
            format!("t{i}")
        }
    };
    for i in 0..if shared { 1 } else { sessions } {
        setup
            .sql(&format!(
                "CREATE TABLE {} (writer BIGINT, n BIGINT) \
                 TBLPROPERTIES ('commit.retry.num-retries' = '0')",
                table(i)
            ))
            .await?;
    }
    let each = COMMITS / sessions;
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(sessions);
    for writer in 0..sessions {
        let session = engine.session();
        let target = table(writer);
        tasks.push(tokio::spawn(async move {
            for n in 0..each {
                session
                    .sql(&format!("INSERT INTO {target} VALUES ({writer}, {n})"))
                    .await?;
            }
            Ok::<_, floe_engine::FloeError>(())
        }));
    }
    let mut failed = 0;
    let mut first_error = None;
    for task in tasks {
        if let Err(e) = task.await? {
            failed += 1;
            first_error.get_or_insert(e);
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    // No commit lost, none twice.
    let (mut rows, mut distinct, mut snapshots) = (0, 0, 0);
    for i in 0..if shared { 1 } else { sessions } {
        let t = table(i);
        rows += count(&setup, &format!("SELECT count(*) FROM {t}")).await?;
        distinct += count(
            &setup,
            &format!("SELECT count(DISTINCT writer * 100000 + n) FROM {t}"),
        )
        .await?;
        snapshots += count(&setup, &format!("SELECT count(*) FROM \"{t}$snapshots\"")).await?;
    }
    if failed > 0 || rows != COMMITS as i64 || distinct != rows || snapshots != rows {
        bail!(
            "{sessions} sessions ({}): {failed} failed, {rows} rows, {distinct} distinct, \
             {snapshots} snapshots for {COMMITS} commits{}",
            if shared {
                "one table"
            } else {
                "separate tables"
            },
            first_error
                .map(|e| format!("; first error: {e}"))
                .unwrap_or_default()
        );
    }
    json_line(serde_json::json!({
        "bench": "throughput",
        "sessions": sessions,
        "tables": if shared { "one" } else { "separate" },
        "commits": COMMITS,
        "seconds": seconds,
        "commits_per_second": COMMITS as f64 / seconds,
        // Checked above: any other count fails the run.
        "lost_or_duplicated": 0,
    }))
}

/// Peak resident memory of the process since the last reset, in bytes.
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// Start counting the peak anew (Linux: `5` into `clear_refs`); whether
/// it could.
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(|e| e.ok())
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// Eight sessions run `sql` at once on an engine limited to
/// `memory_limit` bytes, over TPC-H's lineitem registered in place.
async fn concurrent_queries(
    warehouse: &str,
    data: &Path,
    memory_limit: usize,
    name: &str,
    sql: &str,
) -> Result<()> {
    let dir = format!("{warehouse}/memory");
    let spill: PathBuf = format!("{warehouse}/spill").into();
    let _ = std::fs::remove_dir_all(&spill);
    let engine = Engine::builder(dir.clone())
        .with_memory_limit(memory_limit)
        .with_spill_dir(&spill)
        .open()
        .await?;
    let setup = engine.session();
    let exists = count(
        &setup,
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'lineitem'",
    )
    .await?;
    if exists == 0 {
        register_in_place(&setup, data, "lineitem", "lineitem").await?;
    }
    // Warm the metadata and the file footers, then measure; every
    // session's answer must be the warm run's.
    let expected = setup.sql(sql).await?.collect().await?;
    let expected = arrow::util::pretty::pretty_format_batches(&expected)?.to_string();
    let peak_measured = reset_peak_rss();
    let sampling = Arc::new(AtomicBool::new(true));
    let spilled = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (sampling, spilled, spill) =
            (Arc::clone(&sampling), Arc::clone(&spilled), spill.clone());
        tokio::spawn(async move {
            while sampling.load(Ordering::Relaxed) {
                spilled.fetch_max(dir_bytes(&spill), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let session = engine.session();
        let sql = sql.to_string();
        tasks.push(tokio::spawn(async move {
            let batches = session.sql(&sql).await?.collect().await?;
            let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
            Ok::<_, anyhow::Error>((
                rows,
                arrow::util::pretty::pretty_format_batches(&batches)?.to_string(),
            ))
        }));
    }
    let mut failures = Vec::new();
    let mut rows = Vec::new();
    for task in tasks {
        match task.await? {
            Ok((n, answer)) if answer == expected => rows.push(n),
            Ok((n, answer)) => {
                rows.push(n);
                failures.push(format!("a wrong answer:\n{answer}\nexpected:\n{expected}"));
            }
            Err(e) => failures.push(format!("{e:#}")),
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    sampling.store(false, Ordering::Relaxed);
    sampler.await?;
    json_line(serde_json::json!({
        "bench": "memory",
        "query": name,
        "sessions": 8,
        "memory_limit_bytes": memory_limit,
        "seconds": seconds,
        "rows": rows,
        "failures": failures,
        "peak_rss_bytes": peak_rss().filter(|_| peak_measured),
        "spilled_bytes_max": spilled.load(Ordering::Relaxed),
    }))
}

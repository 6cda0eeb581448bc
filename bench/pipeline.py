"""The pipeline figures of bench/REPORT.md, side by side in one run.

A generated orders feed (half CSV, half JSON lines; `--files` files of
`--events` events each) goes through the models of
fixtures/pipelines/orders, run by `floe pipeline run` and, as the dbt-duckdb
project bench/dbt_orders (dbt's incremental materializations), by `dbt
build`:

- a full run over the first `--files` files;
- `--rounds` incremental runs, each after 2 new files land (1 % at 200);
- `--rounds` runs with nothing new.

Each is the wall time of the process. The gold tables of both are compared
at the end. Prints one JSON object.
"""

import argparse
import csv
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "fixtures" / "pipelines" / "orders"
DBT_PROJECT = ROOT / "bench" / "dbt_orders"
CATEGORIES = ["books", "toys", "garden", "games", "music", "tools", "food", "shoes"]
STATUSES = ["new", "paid", "shipped", "cancelled"]


def generate(folder, index, events):
    """File `index` of the feed: shop CSV for even indexes, app JSON lines
    for odd ones. Events are deterministic: event g of the feed belongs to
    order (g * 2654435761) mod 3,000,000, whose customer, category and
    amount are fixed; its time is 2026-10-01 plus g seconds."""
    kind = "shop_orders" if index % 2 == 0 else "app_events"
    ext = "csv" if kind == "shop_orders" else "jsonl"
    path = folder / f"{kind}_{index:05d}.{ext}"
    cats = ", ".join(f"'{c}'" for c in CATEGORIES)
    stats = ", ".join(f"'{s}'" for s in STATUSES)
    category = f"[{cats}][1 + (o % 8)]"
    if kind == "shop_orders":
        # The shop writes categories capitalised, as its fixture does.
        category = f"upper({category}[1]) || {category}[2:]"
    query = f"""
        SELECT o + 1 AS order_id, (o % 200000) + 1 AS customer_id,
               {category} AS category,
               round(((o * 37) % 20000) / 100.0, 2) AS amount,
               [{stats}][1 + ((g // 7) % 4)] AS status,
               TIMESTAMP '2026-10-01 00:00:00' + to_seconds(g) AS updated_at
        FROM (SELECT g, (g * 2654435761) % 3000000 AS o
              FROM range({index * events}, {(index + 1) * events}) AS t(g))
    """
    fmt = "(FORMAT CSV, HEADER)" if ext == "csv" else "(FORMAT JSON)"
    duckdb.sql(f"COPY ({query}) TO '{path}' {fmt}")
    return path


def timed(cmd, env=None):
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed:\n{proc.stdout}\n{proc.stderr}")
    return seconds, proc.stdout


def floe_run(floe, warehouse, folder):
    seconds, out = timed([floe, "--warehouse", warehouse, "pipeline", "run", folder, "--json"])
    report = json.loads(out.strip().splitlines()[-1])
    return seconds, report


def dbt_build(dbt, work, landing, full_refresh=False):
    env = dict(os.environ, DBT_DUCKDB_PATH=str(work / "orders.duckdb"))
    cmd = [dbt, "build", "--project-dir", str(work / "project"), "--profiles-dir",
           str(work / "project"), "--vars", json.dumps({"landing": str(landing)}), "--quiet"]
    if full_refresh:
        cmd.append("--full-refresh")
    seconds, _ = timed(cmd, env)
    return seconds


def floe_rows(floe, warehouse, query):
    out = subprocess.run([floe, "--warehouse", warehouse, "sql", "--format", "csv", "-c", query],
                         capture_output=True, text=True, check=True).stdout
    return [tuple(r) for r in list(csv.reader(io.StringIO(out)))[1:]]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--floe", required=True)
    parser.add_argument("--work", required=True, type=Path)
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    dbt = str(Path(sys.executable).parent / "dbt")

    work = args.work
    shutil.rmtree(work, ignore_errors=True)
    folder = work / "orders"
    shutil.copytree(FIXTURE, folder, ignore=shutil.ignore_patterns("landing", "arrivals"))
    source = work / "feed"       # every file of the feed
    landing = folder / "landing"  # what has landed so far
    source.mkdir(parents=True)
    landing.mkdir()
    total = args.files + 2 * args.rounds
    print(f"generating {total} files of {args.events} events", file=sys.stderr)
    files = [generate(source, i, args.events) for i in range(total)]
    for f in files[:args.files]:
        shutil.copy(f, landing / f.name)
    # The feed written back to disk before anything is timed (one full run
    # measured 43.7 s where the runs before and after took 29.5-29.9 s;
    # the cause is not known, and this takes one candidate out).
    os.sync()
    dbt_work = work / "dbt"
    shutil.copytree(DBT_PROJECT, dbt_work / "project")
    warehouse = str(work / "floe-wh")

    result = {"files": args.files, "events_per_file": args.events, "rounds": args.rounds,
              "floe": {}, "dbt": {}}
    print("full runs", file=sys.stderr)
    seconds, report = floe_run(args.floe, warehouse, folder)
    assert report["status"] == "success", report
    result["floe"]["full"] = seconds
    result["floe"]["full_steps"] = report["steps"]
    result["dbt"]["full"] = dbt_build(dbt, dbt_work, landing, full_refresh=True)

    floe_incremental, dbt_incremental, floe_noop, dbt_noop = [], [], [], []
    for r in range(args.rounds):
        print(f"round {r + 1}: 2 new files", file=sys.stderr)
        for f in files[args.files + 2 * r: args.files + 2 * r + 2]:
            shutil.copy(f, landing / f.name)
        seconds, report = floe_run(args.floe, warehouse, folder)
        assert report["status"] == "success", report
        floe_incremental.append(seconds)
        result["floe"]["incremental_steps"] = report["steps"]
        dbt_incremental.append(dbt_build(dbt, dbt_work, landing))
        seconds, report = floe_run(args.floe, warehouse, folder)
        assert report["status"] == "up_to_date", report
        floe_noop.append(seconds)
        dbt_noop.append(dbt_build(dbt, dbt_work, landing))
    result["floe"]["incremental"] = floe_incremental
    result["floe"]["noop"] = floe_noop
    result["dbt"]["incremental"] = dbt_incremental
    result["dbt"]["noop"] = dbt_noop
    result["floe"]["incremental_median"] = statistics.median(floe_incremental)
    result["floe"]["noop_median"] = statistics.median(floe_noop)
    result["dbt"]["incremental_median"] = statistics.median(dbt_incremental)
    result["dbt"]["noop_median"] = statistics.median(dbt_noop)

    # The answers: gold tables of both, compared.
    floe_revenue = floe_rows(args.floe, warehouse,
                             "SELECT CAST(order_date AS VARCHAR), category, CAST(revenue AS VARCHAR), "
                             "CAST(orders AS VARCHAR) FROM gold.daily_revenue ORDER BY 1, 2")
    floe_ltv = floe_rows(args.floe, warehouse,
                         "SELECT CAST(count(*) AS VARCHAR), CAST(sum(lifetime_value) AS VARCHAR), "
                         "CAST(sum(orders) AS VARCHAR) FROM gold.customer_ltv")
    con = duckdb.connect(str(dbt_work / "orders.duckdb"), read_only=True)
    dbt_revenue = [tuple(str(v) for v in row) for row in con.execute(
        "SELECT CAST(order_date AS VARCHAR), category, CAST(revenue AS VARCHAR), "
        "CAST(orders AS VARCHAR) FROM daily_revenue ORDER BY 1, 2").fetchall()]
    dbt_ltv = [tuple(str(v) for v in row) for row in con.execute(
        "SELECT CAST(count(*) AS VARCHAR), CAST(sum(lifetime_value) AS VARCHAR), "
        "CAST(sum(orders) AS VARCHAR) FROM customer_ltv").fetchall()]
    result["answers_agree"] = {
        "daily_revenue": floe_revenue == dbt_revenue,
        "customer_ltv": floe_ltv == dbt_ltv,
    }
    result["daily_revenue_rows"] = len(floe_revenue)
    result["events"] = (args.files + 2 * args.rounds) * args.events
    print(json.dumps(result))


if __name__ == "__main__":
    main()

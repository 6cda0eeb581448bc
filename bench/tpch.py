"""Run the 22 TPC-H queries on Floe, plain DataFusion and DuckDB, interleaved.

Floe runs twice: on the tpchgen files registered in place with
`add_files` (`floe`: the very files DataFusion and DuckDB read) and on the
tables it loaded (`floe-loaded`: its own zstd files). Floe and DataFusion
answer through one warm `floe-bench serve` process, DuckDB from a warm
in-process session; each query runs on each engine in turn, `--runs`
times, and the median is kept. The first run's answers of all engines are
cross-checked. Writes one JSON document on stdout.
"""

import argparse
import csv
import datetime
import decimal
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import duckdb

ENGINES = ["floe", "floe-loaded", "datafusion", "duckdb"]
TABLES = ["nation", "region", "part", "supplier", "partsupp", "customer", "orders", "lineitem"]


def table_path(data, table):
    file = data / f"{table}.parquet"
    return file if file.exists() else data / table / "*.parquet"


def normalize(value):
    """One spelling per value, so the engines' answers compare."""
    if value is None or value == "":
        return ""
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()[:10]
    if isinstance(value, (int, float, decimal.Decimal)):
        return round(float(value), 2)
    text = str(value)
    try:
        return round(float(text), 2)
    except ValueError:
        return text.strip()


def same(a, b):
    if len(a) != len(b):
        return False
    for row_a, row_b in zip(a, b):
        if len(row_a) != len(row_b):
            return False
        for x, y in zip(row_a, row_b):
            if isinstance(x, float) and isinstance(y, float):
                if abs(x - y) > max(0.011, 1e-9 * max(abs(x), abs(y))):
                    return False
            elif x != y:
                return False
    return True


def read_csv(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return [[normalize(v) for v in row] for row in rows[1:]]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bench-bin", required=True)
    parser.add_argument("--data", required=True, type=Path)
    parser.add_argument("--warehouse", required=True)
    parser.add_argument("--queries", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    con = duckdb.connect()
    con.execute("SET threads TO 2")
    for table in TABLES:
        con.execute(
            f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{table_path(args.data, table)}')"
        )

    server = subprocess.Popen(
        [args.bench_bin, "serve", "--data", str(args.data), "--warehouse", args.warehouse],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )

    def ask(engine, query, out):
        server.stdin.write(f"{engine} {query} {out}\n")
        server.stdin.flush()
        reply = json.loads(server.stdout.readline())
        if "error" in reply:
            raise RuntimeError(f"{engine} {query.name}: {reply['error']}")
        return reply["seconds"]

    results = {}
    for n in range(1, 23):
        query = args.queries / f"q{n}.sql"
        sql = query.read_text()
        times = {engine: [] for engine in ENGINES}
        answers = {}
        for run in range(args.runs):
            # Rotate the order, so no engine always runs first.
            shift = run % len(ENGINES)
            order = ENGINES[shift:] + ENGINES[:shift]
            for engine in order:
                if engine == "duckdb":
                    start = time.perf_counter()
                    rows = con.execute(sql).fetchall()
                    times[engine].append(time.perf_counter() - start)
                    if run == 0:
                        answers[engine] = [[normalize(v) for v in row] for row in rows]
                else:
                    out = args.out / f"q{n}-{engine}.csv"
                    times[engine].append(ask(engine, query, out))
                    if run == 0:
                        answers[engine] = read_csv(out)
        agree = {e: same(answers["floe"], answers[e]) for e in ENGINES[1:]}
        results[f"q{n}"] = {
            "median_s": {e: statistics.median(t) for e, t in times.items()},
            "runs_s": times,
            "rows": len(answers["floe"]),
            "answers_agree": agree,
        }
        print(
            f"q{n}: " + ", ".join(f"{e} {statistics.median(t):.3f}s" for e, t in times.items())
            + ("" if all(agree.values()) else f"  ANSWERS DIFFER {agree}"),
            file=sys.stderr,
        )
    server.stdin.close()
    server.wait()
    json.dump(
        {"runs": args.runs, "duckdb_version": duckdb.__version__, "queries": results},
        sys.stdout,
        indent=1,
    )


if __name__ == "__main__":
    main()

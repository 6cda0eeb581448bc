"""The peers' side of the load and commit measurements.

- load: PyIceberg reads the TPC-H Parquet files and appends them to tables
  of a SqlCatalog (end to end), and DuckDB copies them Parquet to Parquet.
- commits: PyIceberg single-row appends to a SqlCatalog table.
Writes one JSON document on stdout.
"""

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from pyiceberg.catalog.sql import SqlCatalog

# PyIceberg appends a table larger than this in chunks of this many rows.
APPEND_ROWS = 10_000_000

TABLES = ["nation", "region", "part", "supplier", "partsupp", "customer", "orders", "lineitem"]


def table_path(data, table):
    file = data / f"{table}.parquet"
    return file if file.exists() else data / table


def catalog(warehouse):
    warehouse.mkdir(parents=True, exist_ok=True)
    return SqlCatalog(
        "bench", uri=f"sqlite:///{warehouse}/catalog.db", warehouse=f"file://{warehouse}"
    )


def load(data, work):
    cat = catalog(work / "pyiceberg")
    cat.create_namespace_if_not_exists("tpch")
    rows = 0
    start = time.perf_counter()
    for table in TABLES:
        name = f"tpch.{table}"
        if cat.table_exists(name):
            cat.purge_table(name)
        path = table_path(data, table)
        source = pq.ParquetFile(path) if path.is_file() else None
        if source is not None and source.metadata.num_rows > APPEND_ROWS:
            # Large tables (SF10's lineitem is 60 M rows) are appended in
            # chunks, so PyIceberg's memory stays bounded: one commit each.
            iceberg = cat.create_table(name, schema=source.schema_arrow)
            for batch in source.iter_batches(batch_size=APPEND_ROWS):
                iceberg.append(pa.Table.from_batches([batch]))
                rows += batch.num_rows
            continue
        arrow_table = pq.read_table(table_path(data, table))
        iceberg = cat.create_table(name, schema=arrow_table.schema)
        iceberg.append(arrow_table)
        rows += arrow_table.num_rows
    pyiceberg_s = time.perf_counter() - start

    out = work / "duckdb-copy"
    out.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute("SET threads TO 2")

    def copy(options):
        start = time.perf_counter()
        for table in TABLES:
            source = table_path(data, table)
            source = source if source.suffix == ".parquet" else source / "*.parquet"
            con.execute(
                f"COPY (SELECT * FROM read_parquet('{source}')) TO '{out / table}.parquet' "
                f"(FORMAT parquet{options})"
            )
        return time.perf_counter() - start

    # DuckDB's default codec (snappy), then zstd: the codec Floe and
    # PyIceberg write by default, for a like-for-like figure.
    duckdb_s = copy("")
    duckdb_zstd_s = copy(", COMPRESSION zstd")
    return {
        "rows": rows,
        "pyiceberg": {"seconds": pyiceberg_s, "rows_per_second": rows / pyiceberg_s},
        "duckdb_copy": {"seconds": duckdb_s, "rows_per_second": rows / duckdb_s},
        "duckdb_copy_zstd": {"seconds": duckdb_zstd_s, "rows_per_second": rows / duckdb_zstd_s},
    }


def commits(work, n):
    cat = catalog(work / "pyiceberg-commits")
    cat.create_namespace_if_not_exists("bench")
    if cat.table_exists("bench.commits"):
        cat.purge_table("bench.commits")
    schema = pa.schema([("id", pa.int64()), ("note", pa.string())])
    table = cat.create_table("bench.commits", schema=schema)
    times = []
    for i in range(n):
        row = pa.table({"id": [i], "note": [f"row {i}"]}, schema=schema)
        start = time.perf_counter()
        table.append(row)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return {
        "n": n,
        "p50_ms": statistics.median(times),
        "p99_ms": times[max(0, int(round(0.99 * n)) - 1)],
        "mean_ms": statistics.fmean(times),
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["load", "commits"])
    parser.add_argument("--data", type=Path)
    parser.add_argument("--work", type=Path, default=Path(tempfile.mkdtemp()))
    parser.add_argument("--n", type=int, default=1000)
    args = parser.parse_args()
    result = load(args.data, args.work) if args.what == "load" else commits(args.work, args.n)
    json.dump(result, sys.stdout, indent=1)


if __name__ == "__main__":
    main()

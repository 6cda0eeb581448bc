"""The orders pipeline (fixtures/pipelines/orders) run by `floe pipeline
run`; its published tables read by PyIceberg and DuckDB; and the same
pipeline with its sources and warehouse in S3 (SeaweedFS)."""

import os
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import pyarrow.fs as pafs

from conftest import (
    FLOE_BIN, S3_BUCKET, S3_KEY, S3_SECRET, duckdb_connection, floe_rows,
    metadata_location, sql_catalog,
)
from test_s3 import s3_env, s3_sql_catalog

FIXTURE = Path(__file__).parent.parent / "fixtures" / "pipelines" / "orders"


def run_pipeline(warehouse, folder, *args, catalog=None, env=None):
    cmd = [FLOE_BIN, "--warehouse", str(warehouse)]
    if catalog:
        cmd += ["--catalog", catalog]
    cmd += ["pipeline", "run", str(folder), *args]
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=300, env=dict(os.environ, **(env or {}))
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def pipeline_copy(tmp_path):
    folder = tmp_path / "orders"
    shutil.copytree(FIXTURE, folder)
    return folder


def arrive(folder, day):
    for f in (folder / "arrivals" / day).iterdir():
        shutil.copy(f, folder / "landing" / f.name)


DAILY_REVENUE = [
    ("2026-11-01", "books", Decimal("33.99"), 2),
    ("2026-11-01", "garden", Decimal("7.75"), 1),
    ("2026-11-01", "toys", Decimal("152.00"), 3),
    ("2026-11-02", "books", Decimal("45.00"), 1),
    ("2026-11-02", "garden", Decimal("22.40"), 1),
    ("2026-11-02", "toys", Decimal("18.00"), 1),
    ("2026-11-03", "books", Decimal("33.10"), 1),
    ("2026-11-03", "toys", Decimal("19.99"), 1),
]

CUSTOMER_LTV = [
    (1, 3, Decimal("52.74")),
    (2, 1, Decimal("40.50")),
    (3, 2, Decimal("21.49")),
    (4, 2, Decimal("132.10")),
    (5, 1, Decimal("22.40")),
    (6, 1, Decimal("18.00")),
    (8, 1, Decimal("45.00")),
]


def test_published_tables_read_by_pyiceberg_and_duckdb(tmp_path):
    warehouse = tmp_path / "wh"
    folder = pipeline_copy(tmp_path)
    run_pipeline(warehouse, folder)
    arrive(folder, "2026-11-02")
    run_pipeline(warehouse, folder)
    arrive(folder, "2026-11-03")
    out = run_pipeline(warehouse, folder)
    # The quarantine tables got no row on day 3: eight tables changed.
    assert "published 8 table(s) to main in one commit" in out, out

    catalog = sql_catalog(warehouse)
    revenue = catalog.load_table("gold.daily_revenue").scan().to_arrow().sort_by(
        [("order_date", "ascending"), ("category", "ascending")]
    )
    assert [
        (str(r["order_date"]), r["category"], r["revenue"], r["orders"])
        for r in revenue.to_pylist()
    ] == DAILY_REVENUE
    orders = catalog.load_table("silver.orders").scan().to_arrow()
    assert orders.num_rows == 13
    runs = catalog.load_table("floe.pipeline_runs").scan().to_arrow()
    assert sorted(runs.column("status").to_pylist()) == ["success"] * 3
    assert sorted(len(tables) for tables in runs.column("tables").to_pylist()) == [6, 6, 6]

    con = duckdb_connection()
    loc = metadata_location(warehouse / "catalog.db", "gold", "customer_ltv")
    rows = con.execute(
        f"SELECT customer_id, orders, lifetime_value FROM iceberg_scan('{loc}') ORDER BY customer_id"
    ).fetchall()
    assert rows == CUSTOMER_LTV
    loc = metadata_location(warehouse / "catalog.db", "floe", "pipeline_runs")
    written = con.execute(
        f"SELECT t.table_name, sum(t.rows_written) FROM iceberg_scan('{loc}') AS r, "
        "unnest(r.tables) AS u(t) GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert written == [
        ("bronze.app_events", 7), ("bronze.shop_orders", 15), ("gold.customer_ltv", 19),
        ("gold.daily_revenue", 14), ("silver.order_events", 22), ("silver.orders", 22),
    ]
    loc = metadata_location(warehouse / "catalog.db", "bronze", "shop_orders__quarantine")
    reasons = con.execute(
        f"SELECT line, reason FROM iceberg_scan('{loc}') ORDER BY source, line"
    ).fetchall()
    assert reasons == [
        (7, "column 'amount': 'abc' is not a valid DECIMAL(10,2)"),
        (8, "expected 6 fields (order_id, customer_id, category, amount, status, updated_at), found 4"),
        (5, "column 'customer_id' is NULL, but it is NOT NULL"),
    ]


def test_sources_and_warehouse_in_s3(tmp_path, seaweedfs):
    fs = pafs.S3FileSystem(
        access_key=S3_KEY, secret_key=S3_SECRET, region="us-east-1",
        endpoint_override=seaweedfs.removeprefix("http://"), scheme="http",
    )
    folder = pipeline_copy(tmp_path)
    for source in ("shop_orders", "app_events"):
        toml = folder / "bronze" / f"{source}.toml"
        text = toml.read_text().replace('source = "landing/', f'source = "s3://{S3_BUCKET}/landing/')
        toml.write_text(text)

    def upload(day_dir):
        for f in sorted(day_dir.iterdir()):
            with fs.open_output_stream(f"{S3_BUCKET}/landing/{f.name}") as out:
                out.write(f.read_bytes())

    warehouse = f"s3://{S3_BUCKET}/pipeline-wh"
    catalog = f"sqlite:{tmp_path / 'catalog.db'}"
    env = s3_env(seaweedfs)
    upload(folder / "landing")
    run_pipeline(warehouse, folder, catalog=catalog, env=env)
    upload(folder / "arrivals" / "2026-11-02")
    upload(folder / "arrivals" / "2026-11-03")
    run_pipeline(warehouse, folder, catalog=catalog, env=env)
    again = run_pipeline(warehouse, folder, catalog=catalog, env=env)
    assert again.startswith("Pipeline 'orders' is up to date"), again

    objects = floe_rows(
        warehouse,
        "SELECT object, etag IS NOT NULL AS etag FROM floe.pipeline_files ORDER BY object",
        catalog=catalog, env=env,
    )
    assert objects == [
        [f"s3://{S3_BUCKET}/landing/{name}", "true"]
        for name in [
            "app_events_2026-11-01.jsonl", "app_events_2026-11-02.jsonl",
            "app_events_2026-11-03.jsonl", "shop_orders_2026-11-01.csv",
            "shop_orders_2026-11-01_resent.csv", "shop_orders_2026-11-02.csv",
            "shop_orders_2026-11-03.csv",
        ]
    ]
    s3_catalog = s3_sql_catalog(tmp_path / "catalog.db", warehouse, seaweedfs)
    revenue = s3_catalog.load_table("gold.daily_revenue").scan().to_arrow().sort_by(
        [("order_date", "ascending"), ("category", "ascending")]
    )
    assert [
        (str(r["order_date"]), r["category"], r["revenue"], r["orders"])
        for r in revenue.to_pylist()
    ] == DAILY_REVENUE

"""Parquet external tables are Iceberg tables over the files in place:
PyIceberg and DuckDB read the rows Floe does, before and after a
`REFRESH TABLE`, and the files are never copied."""

import pyarrow as pa
import pyarrow.parquet as pq

from conftest import duckdb_connection, floe, floe_rows, metadata_location, sql_catalog


def test_other_engines_read_an_external_table_and_its_refresh(tmp_path):
    wh = tmp_path / "wh"
    files = tmp_path / "landing"
    files.mkdir()
    pq.write_table(pa.table({"id": [1, 2], "city": ["Oslo", "Lima"]}), files / "a.parquet")
    pq.write_table(pa.table({"id": [3], "city": ["Pune"]}), files / "b.parquet")
    floe(wh, f"CREATE EXTERNAL TABLE trips STORED AS PARQUET LOCATION '{files}'")

    catalog = sql_catalog(wh)

    def check(expected):
        assert floe_rows(wh, "SELECT id, city FROM trips ORDER BY id") == [
            [str(i), c] for i, c in expected
        ]
        table = catalog.load_table("default.trips")
        rows = table.scan().to_arrow().sort_by("id").to_pylist()
        assert [(r["id"], r["city"]) for r in rows] == expected
        # The data files are the landing files themselves.
        paths = sorted(t.file.file_path.rsplit("/", 1)[-1] for t in table.scan().plan_files())
        assert all(t.file.file_path.startswith(f"file://{files}/") for t in table.scan().plan_files())
        location = metadata_location(wh / "catalog.db", "default", "trips")
        got = duckdb_connection().execute(
            f"SELECT id, city FROM iceberg_scan('{location}') ORDER BY id"
        ).fetchall()
        assert got == expected
        return paths

    assert check([(1, "Oslo"), (2, "Lima"), (3, "Pune")]) == ["a.parquet", "b.parquet"]

    (files / "b.parquet").unlink()
    pq.write_table(pa.table({"id": [4, 5], "city": ["Quito", "Oslo"]}), files / "c.parquet")
    assert floe_rows(wh, "REFRESH TABLE trips") == [["1", "1"]]
    assert check([(1, "Oslo"), (2, "Lima"), (4, "Quito"), (5, "Oslo")]) == [
        "a.parquet",
        "c.parquet",
    ]
    snapshot = catalog.load_table("default.trips").current_snapshot()
    assert snapshot.summary.operation.value == "overwrite"
    assert snapshot.summary["total-data-files"] == "2"

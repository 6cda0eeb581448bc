"""DuckDB's Iceberg extension reads what Floe writes."""

from conftest import duckdb_connection, floe, metadata_location


def test_duckdb_iceberg_scan_reads_floe_metadata(tmp_path):
    wh = tmp_path / "wh"
    floe(
        wh,
        "CREATE TABLE sales (id INT NOT NULL, day DATE, region STRING, total DECIMAL(10, 2)) "
        "PARTITIONED BY (month(day))",
        "INSERT INTO sales VALUES (1, DATE '2026-01-05', 'eu', 10.50), "
        "(2, DATE '2026-02-11', 'us', 7.25), (3, DATE '2026-02-28', NULL, NULL)",
        "INSERT INTO sales VALUES (4, DATE '2026-03-01', 'eu', 1.00)",
    )
    location = metadata_location(wh / "catalog.db", "default", "sales")
    con = duckdb_connection()
    rows = con.execute(
        f"SELECT id, CAST(day AS VARCHAR), region, CAST(total AS VARCHAR) "
        f"FROM iceberg_scan('{location}') ORDER BY id"
    ).fetchall()
    assert rows == [
        (1, "2026-01-05", "eu", "10.50"),
        (2, "2026-02-11", "us", "7.25"),
        (3, "2026-02-28", None, None),
        (4, "2026-03-01", "eu", "1.00"),
    ]
    snapshots = con.execute(f"SELECT count(*) FROM iceberg_snapshots('{location}')").fetchone()
    assert snapshots == (2,)

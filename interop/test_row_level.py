"""Other engines read tables after Floe's DELETE, UPDATE and INSERT OVERWRITE
(copy-on-write) with exactly the rows Floe sees."""


from conftest import duckdb_connection, floe, floe_rows, metadata_location, sql_catalog


def test_pyiceberg_and_duckdb_read_after_row_level_writes(tmp_path):
    wh = tmp_path / "wh"
    floe(
        wh,
        "CREATE TABLE orders (id BIGINT NOT NULL, region STRING, total DOUBLE) "
        "PARTITIONED BY (region)",
        "INSERT INTO orders VALUES (1, 'eu', 10.0), (2, 'eu', 20.0), (3, 'us', 30.0), "
        "(4, 'us', NULL), (5, 'apac', 50.0)",
        "INSERT INTO orders VALUES (6, 'eu', 60.0)",
        # a whole partition goes without a rewrite, then a partial rewrite
        "DELETE FROM orders WHERE region = 'apac'",
        "DELETE FROM orders WHERE id = 2",
        # rows move partitions
        "UPDATE orders SET region = 'latam', total = total + 1 WHERE id IN (3, 6)",
    )
    expected = [
        (1, "eu", 10.0),
        (3, "latam", 31.0),
        (4, "us", None),
        (6, "latam", 61.0),
    ]
    assert floe_rows(wh, "SELECT id, region, total FROM orders ORDER BY id") == [
        ["1", "eu", "10.0"],
        ["3", "latam", "31.0"],
        ["4", "us", ""],
        ["6", "latam", "61.0"],
    ]

    catalog = sql_catalog(wh)
    table = catalog.load_table("default.orders")
    rows = table.scan().to_arrow().sort_by("id").to_pylist()
    assert [(r["id"], r["region"], r["total"]) for r in rows] == expected
    # The metadata lists snapshots in commit order, as Java Iceberg does.
    snapshots = table.snapshots()
    assert [s.sequence_number for s in snapshots] == sorted(s.sequence_number for s in snapshots)
    operations = [s.summary.operation.value for s in snapshots]
    assert operations == ["append", "append", "delete", "overwrite", "overwrite"]

    location = metadata_location(wh / "catalog.db", "default", "orders")
    con = duckdb_connection()
    got = con.execute(
        f"SELECT id, region, total FROM iceberg_scan('{location}') ORDER BY id"
    ).fetchall()
    assert got == expected

    # MERGE: update, delete and insert in one snapshot.
    floe(
        wh,
        "CREATE TABLE changes (id BIGINT, total DOUBLE, op STRING)",
        "INSERT INTO changes VALUES (1, 11.0, 'u'), (4, NULL, 'd'), (7, 70.0, 'i')",
        "MERGE INTO orders t USING changes c ON t.id = c.id "
        "WHEN MATCHED AND c.op = 'd' THEN DELETE "
        "WHEN MATCHED THEN UPDATE SET total = c.total "
        "WHEN NOT MATCHED THEN INSERT (id, region, total) VALUES (c.id, 'eu', c.total)",
    )
    expected = [(1, "eu", 11.0), (3, "latam", 31.0), (6, "latam", 61.0), (7, "eu", 70.0)]
    table = catalog.load_table("default.orders")
    rows = table.scan().to_arrow().sort_by("id").to_pylist()
    assert [(r["id"], r["region"], r["total"]) for r in rows] == expected
    location = metadata_location(wh / "catalog.db", "default", "orders")
    got = con.execute(
        f"SELECT id, region, total FROM iceberg_scan('{location}') ORDER BY id"
    ).fetchall()
    assert got == expected

    # INSERT OVERWRITE replaces the whole table.
    floe(wh, "INSERT OVERWRITE orders VALUES (9, 'eu', 9.0)")
    table = catalog.load_table("default.orders")
    assert table.scan().to_arrow().to_pylist() == [{"id": 9, "region": "eu", "total": 9.0}]
    location = metadata_location(wh / "catalog.db", "default", "orders")
    assert con.execute(f"SELECT id FROM iceberg_scan('{location}')").fetchall() == [(9,)]


def test_pyiceberg_and_duckdb_apply_floe_position_deletes(tmp_path):
    wh = tmp_path / "wh"
    floe(
        wh,
        "CREATE TABLE events (id BIGINT NOT NULL, kind STRING) PARTITIONED BY (kind) "
        "TBLPROPERTIES ('write.delete.mode' = 'merge-on-read', "
        "'write.update.mode' = 'merge-on-read', 'write.merge.mode' = 'merge-on-read')",
        "INSERT INTO events VALUES (1, 'a'), (2, 'a'), (3, 'a'), (4, 'b'), (5, 'b')",
        "DELETE FROM events WHERE id IN (2, 5)",
        "DELETE FROM events WHERE id = 3",
    )
    expected = [(1, "a"), (4, "b")]
    assert floe_rows(wh, "SELECT id, kind FROM events ORDER BY id") == [["1", "a"], ["4", "b"]]

    catalog = sql_catalog(wh)
    table = catalog.load_table("default.events")
    rows = table.scan().to_arrow().sort_by("id").to_pylist()
    assert [(r["id"], r["kind"]) for r in rows] == expected
    summary = table.current_snapshot().summary
    assert summary.operation.value == "delete"
    assert summary["total-delete-files"] == "3"
    assert summary["total-data-files"] == "2"

    location = metadata_location(wh / "catalog.db", "default", "events")
    con = duckdb_connection()
    got = con.execute(
        f"SELECT id, kind FROM iceberg_scan('{location}') ORDER BY id"
    ).fetchall()
    assert got == expected

    # Merge-on-read UPDATE and MERGE: position deletes plus new rows.
    floe(
        wh,
        "UPDATE events SET kind = 'z' WHERE id = 1",
        "MERGE INTO events t USING (SELECT 4 AS id UNION ALL SELECT 6) AS s ON t.id = s.id "
        "WHEN MATCHED THEN DELETE "
        "WHEN NOT MATCHED THEN INSERT VALUES (s.id, 'c')",
    )
    expected = [(1, "z"), (6, "c")]
    table = catalog.load_table("default.events")
    rows = table.scan().to_arrow().sort_by("id").to_pylist()
    assert [(r["id"], r["kind"]) for r in rows] == expected
    # The UPDATE emptied the 'a' file, which left the table; 'z' and 'c' came.
    assert table.current_snapshot().summary["total-data-files"] == "3"
    location = metadata_location(wh / "catalog.db", "default", "events")
    got = con.execute(
        f"SELECT id, kind FROM iceberg_scan('{location}') ORDER BY id"
    ).fetchall()
    assert got == expected

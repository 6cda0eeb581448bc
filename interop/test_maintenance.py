"""Maintenance that other engines read through: after Floe compacts a table
(merge-on-read deletes applied and dropped, files of an older partition
spec rewritten under the current one), PyIceberg and DuckDB read exactly
the rows Floe does."""

from conftest import duckdb_connection, floe, floe_rows, metadata_location, sql_catalog


def test_pyiceberg_and_duckdb_read_a_compacted_table(tmp_path):
    wh = tmp_path / "wh"
    floe(
        wh,
        "CREATE TABLE events (id BIGINT NOT NULL, kind STRING) "
        "TBLPROPERTIES ('write.delete.mode' = 'merge-on-read')",
        "INSERT INTO events VALUES (1, 'a'), (2, 'b'), (3, 'a')",
        "INSERT INTO events VALUES (4, 'b'), (5, 'a')",
        "ALTER TABLE events ADD PARTITION FIELD kind",
        "INSERT INTO events VALUES (6, 'a'), (7, 'b')",
        "DELETE FROM events WHERE id IN (2, 6)",
    )
    expected = [(1, "a"), (3, "a"), (4, "b"), (5, "a"), (7, "b")]
    catalog = sql_catalog(wh)
    before = catalog.load_table("default.events").current_snapshot().summary
    # The DELETE emptied the file of 6 (it left the table) and marked 2 in
    # a position delete file.
    assert before["total-delete-files"] == "1"

    got = floe_rows(
        wh,
        "CALL system.rewrite_data_files(table => 'events', "
        "options => map(['rewrite-all'], ['true']))",
    )
    # Two files of the old spec (one with deletes) become a and b files of
    # the new spec; the new spec's b file is rewritten on its own.
    rewritten, added, _, failed, removed_deletes = got[0]
    assert (rewritten, added, failed, removed_deletes) == ("3", "3", "0", "1")
    assert floe_rows(wh, "SELECT id, kind FROM events ORDER BY id") == [
        [str(i), k] for i, k in expected
    ]

    table = catalog.load_table("default.events")
    summary = table.current_snapshot().summary
    assert summary.operation.value == "replace"
    assert summary["total-delete-files"] == "0"
    assert summary["total-records"] == "5"
    rows = table.scan().to_arrow().sort_by("id").to_pylist()
    assert [(r["id"], r["kind"]) for r in rows] == expected
    # Every file now carries the current spec's partition.
    specs = {task.file.spec_id for task in table.scan().plan_files()}
    assert specs == {table.spec().spec_id}

    location = metadata_location(wh / "catalog.db", "default", "events")
    got = duckdb_connection().execute(
        f"SELECT id, kind FROM iceberg_scan('{location}') ORDER BY id"
    ).fetchall()
    assert got == expected

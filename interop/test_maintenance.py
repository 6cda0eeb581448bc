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


def test_pyiceberg_and_duckdb_read_after_every_maintenance_step(tmp_path):
    wh = tmp_path / "wh"
    floe(
        wh,
        "CREATE TABLE t (id BIGINT NOT NULL, kind STRING) PARTITIONED BY (kind) "
        "TBLPROPERTIES ('write.delete.mode' = 'merge-on-read')",
        *[f"INSERT INTO t VALUES ({i}, '{'ab'[i % 2]}'), ({i + 100}, 'c')" for i in range(6)],
        "DELETE FROM t WHERE id IN (1, 104)",
    )
    expected = sorted(
        [(i, "ab"[i % 2]) for i in range(6) if i != 1] + [(i + 100, "c") for i in range(6) if i != 4]
    )
    catalog = sql_catalog(wh)

    def check(step):
        assert floe_rows(wh, "SELECT id, kind FROM t ORDER BY id") == [
            [str(i), k] for i, k in expected
        ], step
        table = catalog.load_table("default.t")
        rows = table.scan().to_arrow().sort_by("id").to_pylist()
        assert [(r["id"], r["kind"]) for r in rows] == expected, step
        location = metadata_location(wh / "catalog.db", "default", "t")
        got = duckdb_connection().execute(
            f"SELECT id, kind FROM iceberg_scan('{location}') ORDER BY id"
        ).fetchall()
        assert got == expected, step

    check("before")
    steps = [
        ("compaction", "CALL system.rewrite_data_files(table => 't', "
         "options => map(['min-input-files'], ['2']))", ["10", "3"]),
        ("manifests", "CALL system.rewrite_manifests('t')", None),
        ("expiry", "CALL system.expire_snapshots(table => 't', "
         "older_than => TIMESTAMP '2199-01-01 00:00:00', retain_last => 1)", None),
        ("orphans", "CALL system.remove_orphan_files(table => 't', "
         "older_than => TIMESTAMP '2199-01-01 00:00:00')", None),
    ]
    for step, call, first in steps:
        got = floe_rows(wh, call)
        if first is not None:
            assert got[0][:2] == first, (step, got)
        check(step)
    # Expiry left one snapshot, and the orphans it found were none of the
    # files the table reads (the reads above passed).
    assert len(catalog.load_table("default.t").snapshots()) == 1


def test_pyiceberg_and_duckdb_read_after_position_deletes_are_merged(tmp_path):
    wh = tmp_path / "wh"
    floe(
        wh,
        "CREATE TABLE p (id BIGINT) TBLPROPERTIES ('write.delete.mode' = 'merge-on-read')",
        "INSERT INTO p VALUES (1), (2), (3), (4)",
        "DELETE FROM p WHERE id = 1",
        "DELETE FROM p WHERE id = 3",
    )
    got = floe_rows(wh, "CALL system.rewrite_position_delete_files('p')")
    assert [got[0][0], got[0][1]] == ["2", "1"]
    table = sql_catalog(wh).load_table("default.p")
    assert table.current_snapshot().summary["total-delete-files"] == "1"
    assert sorted(table.scan().to_arrow()["id"].to_pylist()) == [2, 4]
    location = metadata_location(wh / "catalog.db", "default", "p")
    got = duckdb_connection().execute(
        f"SELECT id FROM iceberg_scan('{location}') ORDER BY id"
    ).fetchall()
    assert got == [(2,), (4,)]


def test_register_table_adopts_a_table_another_catalog_wrote(tmp_path):
    import pyarrow as pa
    from pyiceberg.catalog.sql import SqlCatalog

    other = tmp_path / "other"
    other.mkdir()
    theirs = SqlCatalog("theirs", uri=f"sqlite:///{other}/catalog.db", warehouse=f"file://{other}")
    theirs.create_namespace("src")
    table = theirs.create_table("src.events", schema=pa.schema([("id", pa.int64())]))
    table.append(pa.table({"id": pa.array([1, 2, 3], pa.int64())}))
    location = table.metadata_location

    wh = tmp_path / "wh"
    floe(wh, "CREATE SCHEMA db")
    got = floe_rows(
        wh,
        f"CALL system.register_table(table => 'db.adopted', metadata_file => '{location}')",
    )
    assert got == [[str(table.current_snapshot().snapshot_id), "3", "1"]]
    assert floe_rows(wh, "SELECT sum(id) FROM db.adopted") == [["6"]]
    # Its next commit is Floe's, on top of the adopted history.
    floe(wh, "INSERT INTO db.adopted VALUES (4)")
    assert floe_rows(wh, "SELECT count(*) FROM \"db\".\"adopted$snapshots\"") == [["2"]]
    proc = floe(
        wh,
        f"CALL system.register_table(table => 'db.adopted', metadata_file => '{location}')",
        check=False,
    )
    assert proc.returncode != 0
    assert "already exists" in proc.stderr, proc.stderr


def test_pyiceberg_and_duckdb_read_a_table_kept_within_its_history_bound(tmp_path):
    wh = tmp_path / "wh"
    floe(
        wh,
        "CREATE TABLE h (id BIGINT NOT NULL) TBLPROPERTIES ('floe.history.max-snapshots' = '3')",
        *[f"INSERT INTO h VALUES ({i})" for i in range(8)],
        "ALTER TABLE h CREATE TAG t7",
        "INSERT INTO h VALUES (8)",
        "INSERT INTO h VALUES (9)",
    )
    table = sql_catalog(wh).load_table("default.h")
    snapshots = table.metadata.snapshots
    # main's newest two and the tag's: in commit order, the oldest with its
    # parent expired.
    assert len(snapshots) == 3
    assert [s.sequence_number for s in snapshots] == [8, 9, 10]
    assert table.metadata.snapshot_log[-1].snapshot_id == table.current_snapshot().snapshot_id
    assert sorted(r["id"] for r in table.scan().to_arrow().to_pylist()) == list(range(10))
    tagged = table.scan(snapshot_id=table.metadata.refs["t7"].snapshot_id).to_arrow()
    assert sorted(r["id"] for r in tagged.to_pylist()) == list(range(8))
    location = metadata_location(wh / "catalog.db", "default", "h")
    got = duckdb_connection().execute(
        f"SELECT count(*), sum(id) FROM iceberg_scan('{location}')"
    ).fetchall()
    assert got == [(10, 45)]

"""Branches and tags are ordinary Iceberg refs: PyIceberg sees Floe's, and
Floe reads and writes PyIceberg's."""

import pyarrow as pa
from pyiceberg.schema import Schema
from pyiceberg.types import LongType, NestedField, StringType

from conftest import duckdb_connection, floe, floe_rows, metadata_location, sql_catalog


def rows_at(table, snapshot_id):
    return sorted(
        tuple(r.values()) for r in table.scan(snapshot_id=snapshot_id).to_arrow().to_pylist()
    )


def test_pyiceberg_reads_every_ref_floe_made(tmp_path):
    wh = tmp_path / "wh"
    floe(
        wh,
        "CREATE SCHEMA db",
        "CREATE TABLE db.t (id BIGINT NOT NULL, s STRING)",
        "INSERT INTO db.t VALUES (1, 'a'), (2, 'b')",
        "ALTER TABLE db.t CREATE TAG v1 RETAIN 7 DAYS",
        "ALTER TABLE db.t CREATE BRANCH dev WITH SNAPSHOT RETENTION 2 SNAPSHOTS",
        "INSERT INTO db.t.branch_dev VALUES (3, 'dev')",
        "DELETE FROM db.t.branch_dev WHERE id = 1",
        "UPDATE db.t SET s = 'B' WHERE id = 2",
    )
    table = sql_catalog(wh).load_table("db.t")
    refs = table.refs()
    assert sorted((name, ref.snapshot_ref_type.value) for name, ref in refs.items()) == [
        ("dev", "branch"),
        ("main", "branch"),
        ("v1", "tag"),
    ]
    assert refs["v1"].max_ref_age_ms == 7 * 86_400_000
    assert refs["dev"].min_snapshots_to_keep == 2
    assert rows_at(table, refs["main"].snapshot_id) == [(1, "a"), (2, "B")]
    assert rows_at(table, refs["v1"].snapshot_id) == [(1, "a"), (2, "b")]
    assert rows_at(table, refs["dev"].snapshot_id) == [(2, "b"), (3, "dev")]
    # The branch's history: the DELETE's parent is the append, whose parent is
    # the snapshot the branch was made from (the tag's).
    dev = table.snapshot_by_id(refs["dev"].snapshot_id)
    append = table.snapshot_by_id(dev.parent_snapshot_id)
    assert dev.summary.operation.value == "overwrite"  # copy-on-write: the file is rewritten
    assert append.parent_snapshot_id == refs["v1"].snapshot_id
    assert table.current_snapshot().snapshot_id == refs["main"].snapshot_id


def test_floe_reads_and_writes_a_branch_pyiceberg_made(tmp_path):
    wh = tmp_path / "wh"
    floe(wh, "CREATE SCHEMA db")
    catalog = sql_catalog(wh)
    schema = Schema(
        NestedField(1, "id", LongType(), required=False),
        NestedField(2, "s", StringType(), required=False),
    )
    table = catalog.create_table("db.p", schema=schema)
    table.append(pa.table({"id": [1, 2], "s": ["a", "b"]}))
    first = table.current_snapshot().snapshot_id
    with table.manage_snapshots() as ms:
        ms.create_branch(snapshot_id=first, branch_name="feature")
        ms.create_tag(snapshot_id=first, tag_name="base")
    table = catalog.load_table("db.p")
    table.append(pa.table({"id": [10], "s": ["feature"]}), branch="feature")
    table.append(pa.table({"id": [3], "s": ["main"]}))

    assert floe_rows(wh, "SELECT id, s FROM db.p.branch_feature ORDER BY id") == [
        ["1", "a"],
        ["2", "b"],
        ["10", "feature"],
    ]
    assert floe_rows(wh, "SELECT id FROM db.p VERSION AS OF 'base' ORDER BY id") == [["1"], ["2"]]
    assert floe_rows(wh, "SELECT id FROM db.p ORDER BY id") == [["1"], ["2"], ["3"]]
    assert floe_rows(wh, "SELECT name, type FROM db.\"p$refs\" ORDER BY name") == [
        ["base", "TAG"],
        ["feature", "BRANCH"],
        ["main", "BRANCH"],
    ]

    # Floe writes to PyIceberg's branch; PyIceberg reads the result.
    floe(wh, "DELETE FROM db.p.branch_feature WHERE id = 1", "INSERT INTO db.p.branch_feature VALUES (11, 'x')")
    table = catalog.load_table("db.p")
    feature = table.refs()["feature"].snapshot_id
    assert rows_at(table, feature) == [(2, "b"), (10, "feature"), (11, "x")]
    assert rows_at(table, table.current_snapshot().snapshot_id) == [(1, "a"), (2, "b"), (3, "main")]


def test_other_engines_read_a_warehouse_branch_and_its_merge(tmp_path):
    wh = tmp_path / "wh"
    floe(
        wh,
        "CREATE TABLE orders (id BIGINT, status STRING)",
        "CREATE TABLE stock (sku STRING, n BIGINT)",
        "INSERT INTO orders VALUES (1, 'new'), (2, 'new'), (3, 'new')",
        "INSERT INTO stock VALUES ('a', 5)",
        "CREATE BRANCH dev",
        "USE BRANCH dev",
        "UPDATE orders SET status = 'shipped' WHERE id = 2",
        "INSERT INTO stock VALUES ('b', 7)",
        "USE BRANCH main",
        "DELETE FROM orders WHERE id = 1",
    )
    catalog = sql_catalog(wh)
    orders = catalog.load_table("default.orders")
    # The warehouse branch is an ordinary Iceberg branch of every table.
    assert sorted(orders.refs()) == ["dev", "main"]
    assert sorted(catalog.load_table("default.stock").refs()) == ["dev", "main"]
    dev = orders.refs()["dev"].snapshot_id
    assert rows_at(orders, dev) == [(1, "new"), (2, "shipped"), (3, "new")]

    floe(wh, "MERGE BRANCH dev INTO main")
    orders = catalog.load_table("default.orders")
    merged = [(2, "shipped"), (3, "new")]
    assert rows_at(orders, orders.current_snapshot().snapshot_id) == merged
    stock = catalog.load_table("default.stock")
    assert rows_at(stock, stock.current_snapshot().snapshot_id) == [("a", 5), ("b", 7)]

    con = duckdb_connection()
    location = metadata_location(wh / "catalog.db", "default", "orders")
    assert con.execute(f"SELECT id, status FROM iceberg_scan('{location}') ORDER BY id").fetchall() == merged

"""Schema and partition evolution, made by one engine and read by the other."""

import pyarrow as pa
from pyiceberg.schema import Schema
from pyiceberg.transforms import BucketTransform, IdentityTransform
from pyiceberg.types import IntegerType, LongType, NestedField, StringType

from conftest import duckdb_connection, floe, floe_rows, metadata_location, sql_catalog


def test_pyiceberg_reads_a_table_floe_evolved(tmp_path):
    wh = tmp_path / "wh"
    floe(
        wh,
        "CREATE TABLE t (id INT NOT NULL, name STRING, junk STRING, kind STRING)",
        "INSERT INTO t VALUES (1, 'a', 'x', 'click'), (2, 'b', 'y', 'view')",
        "ALTER TABLE t RENAME COLUMN name TO label",
        "ALTER TABLE t DROP COLUMN junk",
        "ALTER TABLE t ALTER COLUMN id TYPE BIGINT",
        "ALTER TABLE t ADD COLUMN score DOUBLE AFTER id",
        "ALTER TABLE t ADD PARTITION FIELD kind",
        "INSERT INTO t VALUES (3, 0.5, 'c', 'click')",
    )
    table = sql_catalog(wh).load_table("default.t")
    assert [(f.name, str(f.field_type)) for f in table.schema().fields] == [
        ("id", "long"),
        ("score", "double"),
        ("label", "string"),
        ("kind", "string"),
    ]
    assert [(f.name, str(f.transform)) for f in table.spec().fields] == [("kind", "identity")]
    assert len(table.specs()) == 2
    rows = table.scan().to_arrow().sort_by("id").to_pylist()
    assert rows == [
        {"id": 1, "score": None, "label": "a", "kind": "click"},
        {"id": 2, "score": None, "label": "b", "kind": "view"},
        {"id": 3, "score": 0.5, "label": "c", "kind": "click"},
    ]
    # Pruning across both specs.
    clicks = table.scan(row_filter="kind == 'click'").to_arrow().sort_by("id")
    assert clicks["id"].to_pylist() == [1, 3]

    con = duckdb_connection()
    location = metadata_location(wh / "catalog.db", "default", "t")
    assert con.execute(
        f"SELECT id, score, label, kind FROM iceberg_scan('{location}') ORDER BY id"
    ).fetchall() == [(1, None, "a", "click"), (2, None, "b", "view"), (3, 0.5, "c", "click")]


def test_floe_reads_a_table_pyiceberg_evolved(tmp_path):
    wh = tmp_path / "wh"
    floe(wh, "CREATE SCHEMA db")
    catalog = sql_catalog(wh)
    schema = Schema(
        NestedField(1, "id", IntegerType(), required=False),
        NestedField(2, "name", StringType(), required=False),
        NestedField(3, "tmp", StringType(), required=False),
    )
    table = catalog.create_table("db.p", schema=schema)
    table.append(
        pa.table(
            {"id": pa.array([1, 2], pa.int32()), "name": ["a", "b"], "tmp": ["x", "y"]}
        )
    )
    with table.update_schema() as update:
        update.rename_column("name", "title")
        update.delete_column("tmp")
        update.update_column("id", LongType())
        update.add_column("kind", StringType())
    with table.update_spec() as update:
        update.add_field("kind", IdentityTransform(), "kind")
        update.add_field("id", BucketTransform(4), "id_bucket")
    table = catalog.load_table("db.p")
    table.append(pa.table({"id": [3, 4], "title": ["c", "d"], "kind": ["k1", "k2"]}))

    assert floe_rows(wh, "SELECT id, title, kind FROM db.p ORDER BY id") == [
        ["1", "a", ""],
        ["2", "b", ""],
        ["3", "c", "k1"],
        ["4", "d", "k2"],
    ]
    assert floe_rows(wh, "SELECT id FROM db.p WHERE id >= 2 AND kind IS NULL") == [["2"]]
    assert floe_rows(
        wh, 'SELECT spec_id, count(*) FROM db."p$files" GROUP BY spec_id ORDER BY spec_id'
    ) == [["0", "1"], ["1", "2"]]
    # Floe writes on: with the spec and schema PyIceberg made.
    floe(wh, "INSERT INTO db.p VALUES (5, 'e', 'k1')", "UPDATE db.p SET title = 'B' WHERE id = 2")
    table = catalog.load_table("db.p")
    assert table.scan().to_arrow().sort_by("id").to_pylist() == [
        {"id": 1, "title": "a", "kind": None},
        {"id": 2, "title": "B", "kind": None},
        {"id": 3, "title": "c", "kind": "k1"},
        {"id": 4, "title": "d", "kind": "k2"},
        {"id": 5, "title": "e", "kind": "k1"},
    ]

"""PyIceberg and Floe on the very same SQLite catalog and files."""

import pyarrow as pa
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.transforms import BucketTransform
from pyiceberg.types import LongType, NestedField, StringType

from conftest import duckdb_connection, floe, floe_rows, metadata_location, sql_catalog


def test_pyiceberg_reads_a_floe_partitioned_table(tmp_path):
    wh = tmp_path / "wh"
    floe(
        wh,
        "CREATE SCHEMA db",
        "CREATE TABLE db.events (id BIGINT NOT NULL, kind STRING, amount DOUBLE) "
        "PARTITIONED BY (kind, bucket(4, id)) TBLPROPERTIES ('owner' = 'growth')",
        "INSERT INTO db.events VALUES (1, 'click', 1.5), (2, 'view', NULL), (3, 'click', 3.0)",
        "INSERT INTO db.events VALUES (4, NULL, 4.25)",
    )
    table = sql_catalog(wh).load_table("db.events")
    assert [f.name for f in table.spec().fields] == ["kind", "id_bucket"]
    assert [str(f.transform) for f in table.spec().fields] == ["identity", "bucket[4]"]
    assert table.properties["owner"] == "growth"
    assert table.schema().find_field("id").required
    assert table.metadata.format_version == 2
    rows = table.scan().to_arrow().sort_by("id").to_pylist()
    assert rows == [
        {"id": 1, "kind": "click", "amount": 1.5},
        {"id": 2, "kind": "view", "amount": None},
        {"id": 3, "kind": "click", "amount": 3.0},
        {"id": 4, "kind": None, "amount": 4.25},
    ]
    # Two INSERTs, two append snapshots, summaries as Java Iceberg writes them.
    # The metadata lists snapshots in commit order, as Java Iceberg does.
    snapshots = table.snapshots()
    assert [s.sequence_number for s in snapshots] == sorted(s.sequence_number for s in snapshots)
    assert [s.summary.operation.value for s in snapshots] == ["append", "append"]
    assert snapshots[-1].summary["total-records"] == "4"
    assert snapshots[-1].summary["added-records"] == "1"
    # Pruning on the identity partition: PyIceberg plans only 'click' files.
    clicks = table.scan(row_filter="kind == 'click'").to_arrow().sort_by("id")
    assert clicks["id"].to_pylist() == [1, 3]


def test_floe_reads_a_pyiceberg_bucket_partitioned_table(tmp_path):
    wh = tmp_path / "wh"
    floe(wh, "CREATE SCHEMA db")  # Floe makes the warehouse and its catalog.
    catalog = sql_catalog(wh)
    schema = Schema(
        NestedField(1, "id", LongType(), required=True),
        NestedField(2, "name", StringType(), required=False),
    )
    spec = PartitionSpec(
        PartitionField(source_id=1, field_id=1000, transform=BucketTransform(4), name="id_bucket")
    )
    table = catalog.create_table("db.people", schema=schema, partition_spec=spec)
    arrow_schema = pa.schema([pa.field("id", pa.int64(), nullable=False), ("name", pa.string())])
    table.append(pa.table({"id": [1, 2, 3], "name": ["ada", "bo", None]}, schema=arrow_schema))
    table.append(pa.table({"id": [4, 5], "name": ["cy", "di"]}, schema=arrow_schema))

    rows = floe_rows(wh, "SELECT id, name FROM db.people ORDER BY id")
    assert rows == [["1", "ada"], ["2", "bo"], ["3", ""], ["4", "cy"], ["5", "di"]]
    # bucket[4]: 1 -> 0, 2 -> 0, 3 -> 3, 4 -> 2, 5 -> 3 (Iceberg's murmur3).
    counts = floe_rows(
        wh,
        'SELECT partition.id_bucket, record_count FROM db."people$partitions" ORDER BY 1',
    )
    assert counts == [["0", "2"], ["2", "1"], ["3", "2"]]
    assert floe_rows(wh, "SELECT count(*) FROM db.people WHERE id = 4") == [["1"]]

    # Floe appends to PyIceberg's table and PyIceberg sees it.
    floe(wh, "INSERT INTO db.people VALUES (6, 'ed')")
    table = catalog.load_table("db.people")
    assert table.scan().to_arrow().sort_by("id")["id"].to_pylist() == [1, 2, 3, 4, 5, 6]


def test_pyiceberg_reads_merged_manifests(tmp_path):
    wh = tmp_path / "wh"
    floe(
        wh,
        "CREATE TABLE m (id BIGINT)",
        *[f"INSERT INTO m VALUES ({i})" for i in range(105)],
        "DELETE FROM m WHERE id < 5",
    )
    table = sql_catalog(wh).load_table("default.m")
    # 100 one-file manifests were merged into one by the 101st commit.
    assert len(table.current_snapshot().manifests(table.io)) < 10
    ids = sorted(table.scan().to_arrow()["id"].to_pylist())
    assert ids == list(range(5, 105))
    con = duckdb_connection()
    location = metadata_location(wh / "catalog.db", "default", "m")
    assert con.execute(f"SELECT count(*), sum(id) FROM iceberg_scan('{location}')").fetchone() == (
        100,
        sum(range(5, 105)),
    )


def test_pyiceberg_reads_after_floe_expires_snapshots(tmp_path):
    wh = tmp_path / "wh"
    floe(
        wh,
        "CREATE TABLE e (id BIGINT)",
        "INSERT INTO e VALUES (1)",
        "INSERT INTO e VALUES (2)",
        "DELETE FROM e WHERE id = 1",
        "CALL system.expire_snapshots(table => 'e', older_than => TIMESTAMP '2199-01-01 00:00:00')",
    )
    table = sql_catalog(wh).load_table("default.e")
    assert len(table.snapshots()) == 1
    assert table.scan().to_arrow()["id"].to_pylist() == [2]
    # The expired snapshots' manifest lists are gone from storage.
    lists = list((wh / "default" / "e" / "metadata").glob("snap-*.avro"))
    assert len(lists) == 1

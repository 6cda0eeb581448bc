"""Parquet files other tools wrote, added to Floe tables in place with
`CALL system.add_files`, read by PyIceberg and DuckDB."""

import pyarrow as pa
import pyarrow.parquet as pq

from conftest import duckdb_connection, floe, floe_rows, metadata_location, sql_catalog


def test_files_without_field_ids_read_everywhere_after_a_rename(tmp_path):
    wh = tmp_path / "wh"
    raw = tmp_path / "raw"
    raw.mkdir()
    # Written by pyarrow: no Iceberg field ids in the files.
    pq.write_table(
        pa.table({"id": pa.array([1, 2], pa.int64()), "name": ["a", "b"]}), raw / "p0.parquet"
    )
    pq.write_table(
        pa.table({"id": pa.array([3], pa.int64()), "name": ["c"]}), raw / "p1.parquet"
    )
    floe(wh, "CREATE TABLE people (id BIGINT, name STRING)")
    assert floe_rows(
        wh,
        "CALL system.add_files(table => 'people', source_table => '`parquet`.`" + str(raw) + "`')",
    ) == [["2", "1"]]
    floe(
        wh,
        "ALTER TABLE people RENAME COLUMN name TO label",
        "INSERT INTO people VALUES (4, 'd')",
    )
    expected = [(1, "a"), (2, "b"), (3, "c"), (4, "d")]
    assert floe_rows(wh, "SELECT id, label FROM people ORDER BY id") == [
        [str(i), s] for i, s in expected
    ]

    table = sql_catalog(wh).load_table("default.people")
    assert table.properties["schema.name-mapping.default"] == (
        '[{"field-id":1,"names":["id"]},{"field-id":2,"names":["label","name"]}]'
    )
    rows = table.scan().to_arrow().sort_by("id")
    assert list(zip(rows["id"].to_pylist(), rows["label"].to_pylist())) == expected
    files = sorted(f.file.file_path for f in table.scan().plan_files())
    assert files[:2] == [f"file://{raw}/p0.parquet", f"file://{raw}/p1.parquet"]
    # The files' column bounds are in the manifest: PyIceberg prunes by them.
    pruned = [f.file.file_path for f in table.scan(row_filter="id = 3").plan_files()]
    assert pruned == [f"file://{raw}/p1.parquet"]

    location = metadata_location(wh / "catalog.db", "default", "people")
    con = duckdb_connection()
    assert (
        con.execute(f"SELECT id, label FROM iceberg_scan('{location}') ORDER BY id").fetchall()
        == expected
    )


def test_partitioned_table_takes_one_partition_per_file(tmp_path):
    wh = tmp_path / "wh"
    raw = tmp_path / "raw"
    raw.mkdir()
    for region, ids in [("eu", [1, 2]), ("us", [3])]:
        pq.write_table(
            pa.table({"id": pa.array(ids, pa.int64()), "region": [region] * len(ids)}),
            raw / f"{region}.parquet",
        )
    floe(
        wh,
        "CREATE TABLE sales (id BIGINT, region STRING) PARTITIONED BY (region)",
        "CALL system.add_files('sales', '`parquet`.`" + str(raw) + "`')",
    )
    table = sql_catalog(wh).load_table("default.sales")
    partitions = sorted(
        (f.file.partition[0], f.file.record_count) for f in table.scan().plan_files()
    )
    assert partitions == [("eu", 2), ("us", 1)]
    us = table.scan(row_filter="region = 'us'").to_arrow()
    assert us["id"].to_pylist() == [3]

    # A file of two regions cannot be one partition: refused, nothing added.
    mixed = tmp_path / "mixed.parquet"
    pq.write_table(pa.table({"id": pa.array([7, 8], pa.int64()), "region": ["eu", "us"]}), mixed)
    proc = floe(
        wh,
        "CALL system.add_files('sales', '`parquet`.`" + str(mixed) + "`')",
        check=False,
    )
    assert proc.returncode != 0
    assert (
        f"{mixed} does not fit table 'default.sales': its rows span more than one value of "
        "partition field 'region' (from \"eu\" to \"us\")" in proc.stderr
    ), proc.stderr
    assert floe_rows(wh, "SELECT count(*) FROM sales") == [["3"]]

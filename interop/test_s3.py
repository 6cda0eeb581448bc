"""An s3:// warehouse on a real S3 server (SeaweedFS): Floe writes and
reads it, PyIceberg reads it through its own S3 file IO."""

from pyiceberg.catalog.sql import SqlCatalog

from conftest import S3_BUCKET, S3_KEY, S3_SECRET, floe, floe_rows


def s3_env(endpoint):
    """What Floe needs to reach the SeaweedFS S3 server."""
    return {
        "AWS_ACCESS_KEY_ID": S3_KEY,
        "AWS_SECRET_ACCESS_KEY": S3_SECRET,
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ALLOW_HTTP": "true",
    }


def s3_sql_catalog(catalog_db, warehouse, endpoint):
    """PyIceberg's SqlCatalog on Floe's catalog file, with S3 file IO."""
    return SqlCatalog(
        "floe",
        **{
            "uri": f"sqlite:///{catalog_db}",
            "warehouse": warehouse,
            "s3.endpoint": endpoint,
            "s3.access-key-id": S3_KEY,
            "s3.secret-access-key": S3_SECRET,
            "s3.region": "us-east-1",
        },
    )


def test_s3_warehouse_round_trip(tmp_path, seaweedfs):
    catalog_db = tmp_path / "catalog.db"
    warehouse = f"s3://{S3_BUCKET}/wh"
    env = s3_env(seaweedfs)
    catalog = f"sqlite:{catalog_db}"
    floe(
        warehouse,
        "CREATE SCHEMA lake",
        "CREATE TABLE lake.readings (sensor STRING NOT NULL, ts TIMESTAMP, value DOUBLE) "
        "PARTITIONED BY (sensor, day(ts))",
        "INSERT INTO lake.readings VALUES ('a', TIMESTAMP '2026-11-01 10:00:00', 1.0), "
        "('b', TIMESTAMP '2026-11-01 11:30:00', 2.5), ('a', TIMESTAMP '2026-11-02 09:15:00', 3.25)",
        catalog=catalog,
        env=env,
    )
    rows = floe_rows(
        warehouse,
        "SELECT sensor, CAST(ts AS VARCHAR) AS at, value FROM lake.readings ORDER BY ts",
        catalog=catalog,
        env=env,
    )
    assert rows == [
        ["a", "2026-11-01T10:00:00", "1.0"],
        ["b", "2026-11-01T11:30:00", "2.5"],
        ["a", "2026-11-02T09:15:00", "3.25"],
    ]

    py = s3_sql_catalog(catalog_db, warehouse, seaweedfs)
    table = py.load_table("lake.readings")
    assert table.metadata_location.startswith(f"s3://{S3_BUCKET}/wh/lake/readings/metadata/")
    got = table.scan().to_arrow().sort_by("ts").to_pydict()
    assert got["sensor"] == ["a", "b", "a"]
    assert got["value"] == [1.0, 2.5, 3.25]


def test_add_files_registers_s3_files_in_place(tmp_path, seaweedfs):
    catalog_db = tmp_path / "catalog.db"
    env = s3_env(seaweedfs)
    warehouse = f"s3://{S3_BUCKET}/wh-add"
    raw = f"s3://{S3_BUCKET}/raw/events"
    catalog = f"sqlite:{catalog_db}"
    floe(
        warehouse,
        f"COPY (SELECT * FROM (VALUES (1, 'x'), (2, 'y')) AS v(id, tag)) TO '{raw}/a.parquet' "
        "STORED AS PARQUET",
        f"COPY (SELECT * FROM (VALUES (3, 'z')) AS v(id, tag)) TO '{raw}/b.parquet' "
        "STORED AS PARQUET",
        "CREATE TABLE events (id BIGINT, tag STRING)",
        catalog=catalog,
        env=env,
    )
    assert floe_rows(
        warehouse,
        f"CALL system.add_files('events', '`parquet`.`{raw}`')",
        catalog=catalog,
        env=env,
    ) == [["2", "1"]]
    assert floe_rows(
        warehouse, "SELECT id, tag FROM events ORDER BY id", catalog=catalog, env=env
    ) == [["1", "x"], ["2", "y"], ["3", "z"]]

    py = s3_sql_catalog(catalog_db, warehouse, seaweedfs)
    table = py.load_table("default.events")
    assert sorted(f.file.file_path for f in table.scan().plan_files()) == [
        f"{raw}/a.parquet",
        f"{raw}/b.parquet",
    ]
    assert table.scan().to_arrow().sort_by("id").to_pydict() == {
        "id": [1, 2, 3],
        "tag": ["x", "y", "z"],
    }


def test_unreachable_s3_warehouse_is_a_clear_error(tmp_path):
    proc = floe(
        "s3://nobucket/wh",
        "SELECT 1",
        catalog=f"sqlite:{tmp_path / 'c.db'}",
        env={
            "AWS_ACCESS_KEY_ID": "x",
            "AWS_SECRET_ACCESS_KEY": "y",
            "AWS_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
            "AWS_ALLOW_HTTP": "true",
        },
        check=False,
    )
    assert proc.returncode == 1
    assert "invalid warehouse 's3://nobucket/wh'" in proc.stderr

"""Floe as a client of an Iceberg REST catalog that someone else runs:
SeaweedFS's, over its S3 Tables bucket. Floe's SQL, transactions and
branches work on it, and PyIceberg, through the same catalog, reads exactly
what Floe wrote. And Floe's own REST server on S3, vending its credentials."""

import subprocess
from urllib.parse import quote

import pyarrow as pa
import pytest
from pyiceberg.catalog.rest import RestCatalog

from conftest import (
    FLOE_BIN, S3_BUCKET, S3_KEY, S3_SECRET, S3_TABLE_BUCKET, RestServer, floe, floe_rows,
)
from test_s3 import s3_env

WAREHOUSE = f"s3://{S3_TABLE_BUCKET}/"


def catalog_uri(iceberg):
    return (
        f"{iceberg}?warehouse={quote(WAREHOUSE, safe='')}"
        f"&credential={S3_KEY}:{S3_SECRET}"
    )


def floe_on(seaweedfs_servers, *statements, check=True):
    return floe(
        f"s3://{S3_TABLE_BUCKET}",
        *statements,
        catalog=catalog_uri(seaweedfs_servers.iceberg),
        env=s3_env(seaweedfs_servers.s3),
        check=check,
    )


def rows_on(seaweedfs_servers, query):
    return floe_rows(
        f"s3://{S3_TABLE_BUCKET}",
        query,
        catalog=catalog_uri(seaweedfs_servers.iceberg),
        env=s3_env(seaweedfs_servers.s3),
    )


def pyiceberg(seaweedfs_servers):
    return RestCatalog(
        "seaweedfs",
        **{
            "uri": f"{seaweedfs_servers.iceberg}/",
            "oauth2-server-uri": f"{seaweedfs_servers.iceberg}/v1/oauth/tokens",
            "warehouse": WAREHOUSE,
            "credential": f"{S3_KEY}:{S3_SECRET}",
            "s3.endpoint": seaweedfs_servers.s3,
            "s3.access-key-id": S3_KEY,
            "s3.secret-access-key": S3_SECRET,
            "s3.region": "us-east-1",
            "header.X-Iceberg-Access-Delegation": "",
        },
    )


@pytest.fixture
def namespace(request):
    # One namespace per test: the server lives for the whole session.
    return request.node.name.removeprefix("test_")[:40]


def test_floe_sql_on_seaweedfs_rest_catalog(seaweedfs_servers, namespace):
    ns = namespace
    floe_on(
        seaweedfs_servers,
        f"CREATE SCHEMA {ns}",
        f"CREATE TABLE {ns}.t (id BIGINT, v STRING)",
        f"INSERT INTO {ns}.t VALUES (1, 'a'), (2, 'b'), (3, 'c')",
        f"UPDATE {ns}.t SET v = 'z' WHERE id = 2",
        f"DELETE FROM {ns}.t WHERE id = 1",
        f"ALTER TABLE {ns}.t ADD COLUMN n INT",
        f"INSERT INTO {ns}.t VALUES (4, 'd', 40)",
    )
    assert rows_on(seaweedfs_servers, f"SELECT * FROM {ns}.t ORDER BY id") == [
        ["2", "z", ""], ["3", "c", ""], ["4", "d", "40"],
    ]
    # PyIceberg, through the same catalog, reads what Floe committed: the
    # position deletes and the evolved schema included.
    table = pyiceberg(seaweedfs_servers).load_table(f"{ns}.t")
    got = table.scan().to_arrow().sort_by("id").to_pylist()
    assert got == [
        {"id": 2, "v": "z", "n": None},
        {"id": 3, "v": "c", "n": None},
        {"id": 4, "v": "d", "n": 40},
    ]
    assert [f.name for f in table.schema().fields] == ["id", "v", "n"]


def test_floe_transactions_and_branches_on_seaweedfs(seaweedfs_servers, namespace):
    ns = namespace
    floe_on(
        seaweedfs_servers,
        f"CREATE SCHEMA {ns}",
        f"CREATE TABLE {ns}.a (id BIGINT)",
        f"CREATE TABLE {ns}.b (id BIGINT)",
        f"INSERT INTO {ns}.a VALUES (1)",
        f"INSERT INTO {ns}.b VALUES (1)",
        # Two tables in one transaction: one transactions/commit request.
        "BEGIN",
        f"INSERT INTO {ns}.a VALUES (2)",
        f"INSERT INTO {ns}.b VALUES (2)",
        "COMMIT",
        "CREATE BRANCH dev",
        "USE BRANCH dev",
        f"INSERT INTO {ns}.a VALUES (3)",
    )
    counts = f"SELECT (SELECT count(*) FROM {ns}.a) AS a, (SELECT count(*) FROM {ns}.b) AS b"
    assert rows_on(seaweedfs_servers, counts) == [["2", "2"]]
    assert rows_on(seaweedfs_servers, f"SELECT count(*) FROM {ns}.a.branch_dev") == [["3"]]
    # The branch is a ref of the table in SeaweedFS's catalog too.
    table = pyiceberg(seaweedfs_servers).load_table(f"{ns}.a")
    assert sorted(table.metadata.refs) == ["dev", "main"]
    floe_on(seaweedfs_servers, "MERGE BRANCH dev INTO main")
    ids = pyiceberg(seaweedfs_servers).load_table(f"{ns}.a").scan().to_arrow()["id"]
    assert sorted(ids.to_pylist()) == [1, 2, 3]


def test_a_refused_statement_changes_nothing_on_seaweedfs(seaweedfs_servers, namespace):
    ns = namespace
    floe_on(
        seaweedfs_servers,
        f"CREATE SCHEMA {ns}",
        f"CREATE TABLE {ns}.t (id BIGINT NOT NULL)",
        f"INSERT INTO {ns}.t VALUES (1)",
    )
    before = pyiceberg(seaweedfs_servers).load_table(f"{ns}.t").metadata_location
    proc = floe_on(
        seaweedfs_servers, f"INSERT INTO {ns}.t VALUES (NULL)", check=False
    )
    assert proc.returncode != 0
    assert "id" in proc.stderr and "null" in proc.stderr.lower(), proc.stderr
    after = pyiceberg(seaweedfs_servers).load_table(f"{ns}.t").metadata_location
    assert after == before
    assert rows_on(seaweedfs_servers, f"SELECT id FROM {ns}.t") == [["1"]]


def test_floe_vends_its_s3_credentials_to_pyiceberg(tmp_path, seaweedfs):
    """The other way round: Floe's REST server on an s3:// warehouse, with
    --vend-credentials, hands PyIceberg what it needs to read the files."""
    warehouse = f"s3://{S3_BUCKET}/vended"
    catalog = f"sqlite:{tmp_path / 'catalog.db'}"
    env = s3_env(seaweedfs)
    floe(
        warehouse,
        "CREATE SCHEMA db",
        "CREATE TABLE db.t (id BIGINT, v STRING)",
        "INSERT INTO db.t VALUES (1, 'a'), (2, 'b')",
        catalog=catalog,
        env=env,
    )
    with RestServer(
        warehouse, "--catalog", catalog, "--vend-credentials", env=env, log_dir=tmp_path
    ) as server:
        # No S3 settings of its own: only what the load result carries.
        client = RestCatalog(
            "floe",
            uri=server.uri,
            **{"header.X-Iceberg-Access-Delegation": "vended-credentials"},
        )
        table = client.load_table("db.t")
        assert table.io.properties["s3.endpoint"] == seaweedfs
        rows = table.scan().to_arrow().sort_by("id").to_pylist()
        assert rows == [{"id": 1, "v": "a"}, {"id": 2, "v": "b"}]
        # And writes with them.
        table.append(pa.table({"id": pa.array([3], pa.int64()), "v": ["c"]}))
    assert floe_rows(
        warehouse, "SELECT id, v FROM db.t ORDER BY id", catalog=catalog, env=env
    ) == [["1", "a"], ["2", "b"], ["3", "c"]]


def test_vending_needs_an_s3_warehouse(tmp_path):
    proc = subprocess.run(
        [FLOE_BIN, "--warehouse", str(tmp_path / "wh"), "serve", "--rest", "127.0.0.1:0",
         "--vend-credentials"],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode != 0
    assert "--vend-credentials vends S3 credentials" in proc.stderr, proc.stderr

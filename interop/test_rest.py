"""PyIceberg and DuckDB through Floe's Iceberg REST catalog (`floe serve
--rest`): writes from each land as Floe commits, and Floe reads them."""

import json
import threading
import urllib.error
import urllib.request

import pyarrow as pa
import pytest
from pyiceberg.exceptions import CommitFailedException, NoSuchTableError, TableAlreadyExistsError
from pyiceberg.expressions import EqualTo
from pyiceberg.schema import Schema
from pyiceberg.types import LongType, NestedField, StringType

from conftest import RestServer, duckdb_connection, floe, floe_rows

SCHEMA = Schema(
    NestedField(1, "id", LongType(), required=True),
    NestedField(2, "name", StringType(), required=False),
)
ARROW = pa.schema([pa.field("id", pa.int64(), nullable=False), ("name", pa.string())])


def rows(table):
    return sorted(table.scan().to_arrow().to_pylist(), key=lambda r: r["id"])


def request(uri, method="GET", body=None, token=None):
    """One HTTP request to the server: (status, JSON body or None)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(uri, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as e:
        raw = e.read()
        return e.code, json.loads(raw) if raw else None


def test_pyiceberg_creates_writes_evolves_and_floe_reads(tmp_path):
    wh = tmp_path / "wh"
    floe(wh, "CREATE SCHEMA db")
    with RestServer(wh) as server:
        catalog = server.catalog()
        assert ("db",) in catalog.list_namespaces()
        table = catalog.create_table("db.people", schema=SCHEMA, properties={"owner": "ana"})
        table.append(pa.table({"id": [1, 2, 3], "name": ["ada", "bo", None]}, schema=ARROW))
        table.append(pa.table({"id": [4], "name": ["cy"]}, schema=ARROW))
        assert floe_rows(wh, "SELECT id, name FROM db.people ORDER BY id") == [
            ["1", "ada"], ["2", "bo"], ["3", ""], ["4", "cy"],
        ]
        # Delete, overwrite and schema evolution through the REST catalog.
        table.delete(EqualTo("id", 2))
        with table.update_schema() as update:
            update.add_column("score", LongType())
        table = catalog.load_table("db.people")
        arrow = pa.schema([*ARROW, ("score", pa.int64())])
        table.overwrite(
            pa.table({"id": [9], "name": ["zed"], "score": [90]}, schema=arrow),
            overwrite_filter=EqualTo("id", 4),
        )
        assert rows(catalog.load_table("db.people")) == [
            {"id": 1, "name": "ada", "score": None},
            {"id": 3, "name": None, "score": None},
            {"id": 9, "name": "zed", "score": 90},
        ]
        assert floe_rows(wh, "SELECT id, name, score FROM db.people ORDER BY id") == [
            ["1", "ada", ""], ["3", "", ""], ["9", "zed", "90"],
        ]
        # Floe writes; PyIceberg reads it through the server.
        floe(wh, "INSERT INTO db.people VALUES (10, 'floe', 100)")
        assert [r["id"] for r in rows(catalog.load_table("db.people"))] == [1, 3, 9, 10]
        assert catalog.load_table("db.people").properties["owner"] == "ana"
        # Errors as the spec says: 409 for an existing table, 404 for a missing one.
        with pytest.raises(TableAlreadyExistsError):
            catalog.create_table("db.people", schema=SCHEMA)
        with pytest.raises(NoSuchTableError):
            catalog.load_table("db.nobody")
        # Rename and drop.
        catalog.rename_table("db.people", "db.persons")
        assert catalog.list_tables("db") == [("db", "persons")]
        catalog.drop_table("db.persons")
        assert catalog.list_tables("db") == []
        assert floe_rows(wh, "SHOW TABLES IN db") == []


def test_a_stale_commit_is_409_and_changes_nothing(tmp_path):
    wh = tmp_path / "wh"
    floe(wh, "CREATE SCHEMA db", "CREATE TABLE db.t (id BIGINT NOT NULL, name STRING)",
         "INSERT INTO db.t VALUES (1, 'a')")
    with RestServer(wh) as server:
        base = f"{server.uri}/v1/main/namespaces/db/tables/t"
        status, loaded = request(base)
        assert status == 200
        head = loaded["metadata"]["current-snapshot-id"]
        floe(wh, "INSERT INTO db.t VALUES (2, 'b')")
        stale = {
            "requirements": [{"type": "assert-ref-snapshot-id", "ref": "main", "snapshot-id": head}],
            "updates": [{"action": "set-properties", "updates": {"k": "v"}}],
        }
        status, body = request(base, "POST", stale)
        assert status == 409, body
        assert body["error"]["type"] == "CommitFailedException"
        assert "assert-ref-snapshot-id (ref 'main') failed" in body["error"]["message"]
        # An unknown update is a 400 that names it; nothing changes.
        status, body = request(base, "POST", {"requirements": [], "updates": [{"action": "frobnicate"}]})
        assert status == 400, body
        assert "frobnicate" in body["error"]["message"]
        status, body = request(f"{server.uri}/v1/main/namespaces/nope/tables/t")
        assert (status, body["error"]["type"]) == (404, "NoSuchTableException")
        status, body = request(f"{server.uri}/v1/main/namespaces/nope/tables")
        assert (status, body["error"]["type"]) == (404, "NoSuchNamespaceException")
        status, loaded = request(base)
        assert "k" not in loaded["metadata"].get("properties", {})
    assert floe_rows(wh, "SELECT id FROM db.t ORDER BY id") == [["1"], ["2"]]


def test_a_branch_is_served_as_main_under_its_prefix(tmp_path):
    wh = tmp_path / "wh"
    floe(wh, "CREATE SCHEMA db", "CREATE TABLE db.t (id BIGINT NOT NULL, name STRING)",
         "INSERT INTO db.t VALUES (1, 'main')", "CREATE BRANCH dev")
    with RestServer(wh) as server:
        dev = server.catalog(warehouse="dev")
        table = dev.load_table("db.t")
        table.append(pa.table({"id": [2], "name": ["dev"]}, schema=ARROW))
        # A table made through the branch's prefix exists only on the branch.
        only = dev.create_table("db.only_dev", schema=SCHEMA)
        only.append(pa.table({"id": [7], "name": ["x"]}, schema=ARROW))
        assert sorted(dev.list_tables("db")) == [("db", "only_dev"), ("db", "t")]
        main = server.catalog()
        assert main.list_tables("db") == [("db", "t")]
        assert [r["id"] for r in rows(main.load_table("db.t"))] == [1]
        assert [r["id"] for r in rows(dev.load_table("db.t"))] == [1, 2]
    assert floe_rows(wh, "SELECT id FROM db.t ORDER BY id") == [["1"]]
    assert floe_rows(wh, "SELECT id FROM db.t VERSION AS OF 'dev' ORDER BY id") == [["1"], ["2"]]
    missing = floe(wh, "SELECT id FROM db.only_dev", check=False)
    assert missing.returncode != 0 and "only_dev" in missing.stderr, missing.stderr
    out = floe(wh, "USE BRANCH dev", "SELECT id FROM db.only_dev").stdout
    assert out.split() == ["id", "7"]
    out = floe(wh, "MERGE BRANCH dev INTO main", "SELECT count(*) AS n FROM db.only_dev").stdout
    assert out.split()[-1] == "1"


def test_auth_tokens_and_client_credentials(tmp_path):
    wh = tmp_path / "wh"
    floe(wh, "CREATE SCHEMA db")
    users = tmp_path / "users"
    hashed = floe_hash("s3cret")
    users.write_text(f"ana:{hashed}\n")
    with RestServer(wh, "--auth-token", "t0k", "--users-file", str(users)) as server:
        status, body = request(f"{server.uri}/v1/config")
        assert status == 401, body
        assert body["error"]["type"] == "NotAuthorizedException"
        status, _ = request(f"{server.uri}/v1/config", token="wrong")
        assert status == 401
        assert server.catalog(token="t0k").list_namespaces() == [("db",), ("default",)]
        # PyIceberg's credential=id:secret goes through /v1/oauth/tokens.
        catalog = server.catalog(credential="ana:s3cret")
        catalog.create_table("db.t", schema=SCHEMA)
        assert catalog.list_tables("db") == [("db", "t")]
        with pytest.raises(Exception, match="invalid_client|wrong user name"):
            server.catalog(credential="ana:nope")
        # DuckDB with a token secret.
        con = duckdb_connection()
        con.execute("CREATE SECRET floe_token (TYPE iceberg, TOKEN 't0k')")
        con.execute(f"ATTACH 'main' AS floe (TYPE iceberg, ENDPOINT '{server.uri}', SECRET floe_token)")
        assert con.execute("SELECT count(*) FROM floe.db.t").fetchall() == [(0,)]


def floe_hash(password):
    import subprocess

    from conftest import FLOE_BIN

    out = subprocess.run([FLOE_BIN, "hash-password"], input=password, capture_output=True,
                         text=True, check=True)
    return out.stdout.strip()


def duckdb_attach(server, warehouse="main", alias="floe"):
    con = duckdb_connection()
    con.execute(
        f"ATTACH '{warehouse}' AS {alias} "
        f"(TYPE iceberg, ENDPOINT '{server.uri}', AUTHORIZATION_TYPE 'none')"
    )
    return con


def test_duckdb_attaches_reads_creates_and_inserts(tmp_path):
    wh = tmp_path / "wh"
    floe(wh, "CREATE SCHEMA db", "CREATE TABLE db.t (id BIGINT NOT NULL, name STRING)",
         "INSERT INTO db.t VALUES (1, 'a'), (2, 'b')")
    with RestServer(wh) as server:
        con = duckdb_attach(server)
        assert con.execute("SELECT * FROM floe.db.t ORDER BY id").fetchall() == [(1, "a"), (2, "b")]
        # DuckDB creates a table with a staged create and a commit.
        con.execute("CREATE TABLE floe.db.d (id BIGINT, name VARCHAR)")
        con.execute("INSERT INTO floe.db.d VALUES (10, 'duck'), (11, 'ling')")
        con.execute("INSERT INTO floe.db.t VALUES (3, 'c')")
        assert con.execute("SELECT * FROM floe.db.d ORDER BY id").fetchall() == [
            (10, "duck"), (11, "ling"),
        ]
    assert floe_rows(wh, "SELECT id, name FROM db.d ORDER BY id") == [["10", "duck"], ["11", "ling"]]
    assert floe_rows(wh, "SELECT id, name FROM db.t ORDER BY id") == [["1", "a"], ["2", "b"], ["3", "c"]]
    # Each DuckDB write is one snapshot of Floe's table.
    assert floe_rows(wh, 'SELECT count(*) FROM db."t$snapshots"') == [["2"]]


def test_duckdb_and_pyiceberg_work_on_a_branch_prefix(tmp_path):
    wh = tmp_path / "wh"
    floe(wh, "CREATE SCHEMA db", "CREATE TABLE db.t (id BIGINT NOT NULL, name STRING)",
         "INSERT INTO db.t VALUES (1, 'a')", "CREATE BRANCH exp")
    with RestServer(wh) as server:
        con = duckdb_attach(server, warehouse="exp")
        con.execute("INSERT INTO floe.db.t VALUES (2, 'duck')")
        server.catalog(warehouse="exp").load_table("db.t").append(
            pa.table({"id": [3], "name": ["py"]}, schema=ARROW)
        )
        assert con.execute("SELECT id FROM floe.db.t ORDER BY id").fetchall() == [(1,), (2,), (3,)]
        main = duckdb_attach(server, alias="m")
        assert main.execute("SELECT id FROM m.db.t ORDER BY id").fetchall() == [(1,)]
    assert floe_rows(wh, "SELECT id FROM db.t ORDER BY id") == [["1"]]
    assert floe_rows(wh, "SELECT id FROM db.t.branch_exp ORDER BY id") == [["1"], ["2"], ["3"]]


def test_a_pinned_prefix_is_a_read_only_view_of_the_warehouse(tmp_path):
    import time

    wh = tmp_path / "wh"
    floe(wh, "CREATE SCHEMA db", "CREATE TABLE db.a (id BIGINT)", "INSERT INTO db.a VALUES (1)",
         "CREATE TABLE db.b (id BIGINT)", "INSERT INTO db.b VALUES (10)")
    time.sleep(0.05)
    pin = int(time.time() * 1000)
    time.sleep(0.05)
    floe(wh, "INSERT INTO db.a VALUES (2)", "INSERT INTO db.b VALUES (20)",
         "CREATE TABLE db.later (id BIGINT)")
    with RestServer(wh) as server:
        pinned = server.catalog(warehouse=f"main@{pin}")
        assert pinned.list_tables("db") == [("db", "a"), ("db", "b")]
        assert [r["id"] for r in pinned.load_table("db.a").scan().to_arrow().to_pylist()] == [1]
        assert [r["id"] for r in pinned.load_table("db.b").scan().to_arrow().to_pylist()] == [10]
        with pytest.raises(Exception, match="read only"):
            pinned.load_table("db.a").append(pa.table({"id": pa.array([3], pa.int64())}))
        # The same view by the snapshot that made it: db.b's first one.
        first_b = server.catalog().load_table("db.b").history()[0].snapshot_id
        by_commit = server.catalog(warehouse=f"main@{first_b}")
        assert [r["id"] for r in by_commit.load_table("db.a").scan().to_arrow().to_pylist()] == [1]
        con = duckdb_attach(server, warehouse=f"main@{pin}")
        assert con.execute("SELECT id FROM floe.db.b").fetchall() == [(10,)]
    assert floe_rows(wh, "SELECT count(*) FROM db.a") == [["2"]]


def test_concurrent_commits_from_pyiceberg_duckdb_and_floe_lose_no_row(tmp_path):
    wh = tmp_path / "wh"
    floe(wh, "CREATE SCHEMA db", "CREATE TABLE db.t (id BIGINT NOT NULL, name STRING)")
    rounds = 8
    errors = []
    with RestServer(wh) as server:
        def pyiceberg_writer():
            catalog = server.catalog()
            for i in range(rounds):
                for _attempt in range(20):
                    try:
                        catalog.load_table("db.t").append(
                            pa.table({"id": [100 + i], "name": ["py"]}, schema=ARROW))
                        break
                    except CommitFailedException:
                        continue
                else:
                    errors.append(f"pyiceberg gave up on row {i}")

        def duckdb_writer():
            con = duckdb_attach(server)
            for i in range(rounds):
                for _attempt in range(20):
                    try:
                        con.execute(f"INSERT INTO floe.db.t VALUES ({200 + i}, 'duck')")
                        break
                    except Exception as e:  # DuckDB reports the 409 as an error
                        if "409" not in str(e) and "CommitFailed" not in str(e):
                            errors.append(f"duckdb: {e}")
                            return
                else:
                    errors.append(f"duckdb gave up on row {i}")

        def floe_writer():
            for i in range(rounds):
                floe(wh, f"INSERT INTO db.t VALUES ({300 + i}, 'floe')")

        threads = [threading.Thread(target=f) for f in (pyiceberg_writer, duckdb_writer, floe_writer)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []
    expected = sorted([[str(100 + i)] for i in range(rounds)] + [[str(200 + i)] for i in range(rounds)]
                      + [[str(300 + i)] for i in range(rounds)], key=lambda r: int(r[0]))
    assert floe_rows(wh, "SELECT id FROM db.t ORDER BY id") == expected
    assert floe_rows(wh, 'SELECT count(*) FROM db."t$snapshots"') == [[str(3 * rounds)]]

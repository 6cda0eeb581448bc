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


def floe_hash(password):
    import subprocess

    from conftest import FLOE_BIN

    out = subprocess.run([FLOE_BIN, "hash-password"], input=password, capture_output=True,
                         text=True, check=True)
    return out.stdout.strip()

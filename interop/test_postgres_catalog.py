"""The Postgres catalog (`--catalog postgresql://…`): Floe on two
"machines" (processes) and PyIceberg's SqlCatalog share one warehouse
through the JDBC catalog's tables in a real PostgreSQL, which
scripts/test.sh starts."""

import os
import uuid

import pyarrow as pa
import pytest

from conftest import floe, floe_rows

PG = os.environ.get("FLOE_TEST_POSTGRES")
pytestmark = pytest.mark.skipif(
    PG is None and not os.environ.get("FLOE_REQUIRE_POSTGRES"),
    reason="FLOE_TEST_POSTGRES is not set (scripts/test.sh starts PostgreSQL)",
)


def test_floe_and_pyiceberg_share_a_postgres_catalog(tmp_path):
    from pyiceberg.catalog.sql import SqlCatalog

    assert PG, "FLOE_TEST_POSTGRES must be set when FLOE_REQUIRE_POSTGRES is"
    wh = tmp_path / "wh"
    ns = f"pg_{uuid.uuid4().hex[:8]}"
    floe(wh, f"CREATE SCHEMA {ns}", f"CREATE TABLE {ns}.t (id BIGINT NOT NULL, name STRING)",
         f"INSERT INTO {ns}.t VALUES (1, 'floe')", catalog=PG)
    # No catalog file next to the data: the pointers are in PostgreSQL.
    assert not (wh / "catalog.db").exists()
    catalog = SqlCatalog("floe", uri=PG.replace("postgresql://", "postgresql+psycopg2://"),
                         warehouse=f"file://{wh}")
    table = catalog.load_table(f"{ns}.t")
    assert table.scan().to_arrow().to_pylist() == [{"id": 1, "name": "floe"}]
    table.append(pa.table({"id": [2], "name": ["py"]},
                          schema=pa.schema([pa.field("id", pa.int64(), nullable=False), ("name", pa.string())])))
    # A second Floe process sees PyIceberg's commit and commits on top.
    floe(wh, f"INSERT INTO {ns}.t VALUES (3, 'again')", catalog=PG)
    assert floe_rows(wh, f"SELECT id, name FROM {ns}.t ORDER BY id", catalog=PG) == [
        ["1", "floe"], ["2", "py"], ["3", "again"],
    ]
    assert sorted(r["id"] for r in catalog.load_table(f"{ns}.t").scan().to_arrow().to_pylist()) == [1, 2, 3]
    # A wrong password or database is an error that names the database, not the password.
    bad = PG.replace("/floe_test", "/no_such_db")
    proc = floe(wh, "SELECT 1", catalog=bad, check=False)
    assert proc.returncode != 0
    assert "no_such_db" in proc.stderr and "PostgreSQL catalog" in proc.stderr, proc.stderr

"""Floe's Flight SQL server through the Arrow Flight SQL JDBC driver (from
Maven Central): `catalog=<branch>`, DatabaseMetaData, a query, an INSERT."""

import os
import subprocess
from pathlib import Path

from conftest import FlightServer, floe, floe_rows

JAVA_DIR = Path(os.environ.get("FLOE_JAVA", ""))
JAR = JAVA_DIR / f"flight-sql-jdbc-driver-{os.environ.get('FLIGHT_SQL_JDBC_VERSION', '18.3.0')}.jar"
PROGRAM = Path(__file__).parent / "jdbc" / "FlightJdbc.java"


def run_jdbc(url):
    proc = subprocess.run(
        ["java", "--add-opens=java.base/java.nio=ALL-UNNAMED", "-cp", str(JAR), str(PROGRAM), url],
        capture_output=True, text=True, timeout=180,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


def test_jdbc_driver_on_a_branch(tmp_path):
    assert JAR.exists(), f"{JAR} is missing: scripts/java-deps.sh fetches it (scripts/test.sh runs it)"
    wh = tmp_path / "wh"
    floe(
        wh,
        "CREATE SCHEMA lake",
        "CREATE TABLE t (id BIGINT NOT NULL, name STRING)",
        "INSERT INTO t VALUES (1, 'a'), (2, 'b')",
        "CREATE BRANCH feat",
    )
    with FlightServer(wh, "--auth-token", "tok3n") as server:
        url = (
            f"jdbc:arrow-flight-sql://127.0.0.1:{server.port}"
            "?useEncryption=false&token=tok3n&catalog=feat"
        )
        lines = run_jdbc(url)
    assert lines == [
        "product Floe quote \"",
        "transactions true",
        "catalog feat",
        "catalog main",
        "schema feat.default",
        "schema feat.lake",
        "schema main.default",
        "schema main.lake",
        "table feat.default.t TABLE",
        "column t.id BIGINT -5 nullable=0",
        "column t.name STRING 12 nullable=1",
        "row 1 a",
        "row 2 b",
        f"large 100000 {sum(range(1, 100001)) + 300 * 100000}",
        "inserted 2",
        "count 4",
    ]
    # catalog=feat: the INSERT went to the branch only.
    assert floe_rows(wh, "SELECT count(*) FROM t") == [["2"]]
    assert floe_rows(wh, "SELECT id FROM t.branch_feat ORDER BY id") == [["1"], ["2"], ["3"], ["4"]]

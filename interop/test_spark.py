"""Spark 4.0 with Iceberg's runtime on Floe's tables: through Floe's REST
catalog (`floe serve --rest`), and through Spark's JDBC catalog opening
Floe's catalog.db directly. Each side reads exactly what the other wrote:
delete files, evolved schemas and partition specs, and branches."""

import os
import time
from pathlib import Path

import pytest

from conftest import RestServer, floe, floe_rows

JAVA = Path(os.environ.get("FLOE_JAVA", ""))
ICEBERG = os.environ.get("ICEBERG_SPARK_VERSION", "1.10.0")
SQLITE_JDBC = os.environ.get("SQLITE_JDBC_VERSION", "3.51.1.0")


@pytest.fixture(scope="module")
def spark_env(tmp_path_factory):
    """One Spark session for the module: catalog `rest` on a Floe REST
    server, catalog `floe` (the JDBC catalog's name must be the catalog
    name Floe writes) on the same warehouse's catalog.db."""
    from pyspark.sql import SparkSession

    runtime = JAVA / f"iceberg-spark-runtime-4.0_2.13-{ICEBERG}.jar"
    sqlite = JAVA / f"sqlite-jdbc-{SQLITE_JDBC}.jar"
    assert runtime.exists() and sqlite.exists(), "run scripts/java-deps.sh first"
    wh = tmp_path_factory.mktemp("spark") / "wh"
    floe(wh, "CREATE SCHEMA db")
    server = RestServer(wh)
    spark = (
        SparkSession.builder.master("local[2]")
        .appName("floe-interop")
        .config("spark.jars", f"{runtime},{sqlite}")
        .config("spark.sql.extensions",
                "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions")
        .config("spark.sql.catalog.rest", "org.apache.iceberg.spark.SparkCatalog")
        .config("spark.sql.catalog.rest.type", "rest")
        .config("spark.sql.catalog.rest.uri", server.uri)
        .config("spark.sql.catalog.floe", "org.apache.iceberg.spark.SparkCatalog")
        .config("spark.sql.catalog.floe.type", "jdbc")
        .config("spark.sql.catalog.floe.uri", f"jdbc:sqlite:{wh}/catalog.db")
        .config("spark.sql.catalog.floe.jdbc.schema-version", "V1")
        .config("spark.sql.catalog.floe.warehouse", f"file://{wh}")
        .config("spark.sql.catalog.floe.cache-enabled", "false")
        .config("spark.sql.catalog.floe.clients", "1")
        # Floe made the catalog's tables. Iceberg's check for them leaves a
        # sqlite-jdbc result set open, which pins the connection to the WAL
        # snapshot of that moment: later commits of other processes go
        # unseen and its own next commit fails with SQLITE_BUSY_SNAPSHOT.
        .config("spark.sql.catalog.floe.jdbc.init-catalog-tables", "false")
        .config("spark.sql.catalog.rest.cache-enabled", "false")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "2")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    spark.floe_rest_uri = server.uri
    yield spark, wh
    spark.stop()
    server.stop()


def spark_rows(spark, query):
    return [list(r) for r in spark.sql(query).collect()]


def test_spark_jdbc_catalog_commits_are_floe_commits(spark_env):
    # First in the module: the later test reads what this one wrote.
    spark, wh = spark_env
    spark.sql("CREATE TABLE floe.db.jdbc_t (id BIGINT, name STRING) USING iceberg")
    spark.sql("INSERT INTO floe.db.jdbc_t VALUES (1, 'spark')")
    spark.sql("INSERT INTO floe.db.jdbc_t VALUES (2, 'spark')")
    assert floe_rows(wh, "SELECT id, name FROM db.jdbc_t ORDER BY id") == [["1", "spark"], ["2", "spark"]]
    floe(wh, "INSERT INTO db.jdbc_t VALUES (3, 'floe')")
    # Spark sees Floe's commit through the REST catalog (through the JDBC
    # catalog it does not: see the known bug below).
    assert spark_rows(spark, "SELECT id FROM rest.db.jdbc_t ORDER BY id") == [[1], [2], [3]]


def test_spark_writes_through_the_rest_catalog_and_floe_reads_it(spark_env):
    spark, wh = spark_env
    spark.sql(
        "CREATE TABLE rest.db.orders (id BIGINT, status STRING, amount DOUBLE) USING iceberg "
        "PARTITIONED BY (status) TBLPROPERTIES ('write.delete.mode'='merge-on-read', "
        "'write.update.mode'='merge-on-read', 'write.merge.mode'='merge-on-read')"
    )
    spark.sql("INSERT INTO rest.db.orders VALUES (1, 'new', 10.0), (2, 'new', 20.0), (3, 'paid', 30.0)")
    first = spark_rows(spark, "SELECT snapshot_id FROM rest.db.orders.snapshots")[0][0]
    time.sleep(0.05)
    pinned = int(time.time() * 1000)
    time.sleep(0.05)
    spark.sql("CREATE TEMPORARY VIEW changes AS SELECT * FROM VALUES "
              "(2, 'paid', 25.0), (4, 'new', 40.0) AS c(id, status, amount)")
    spark.sql(
        "MERGE INTO rest.db.orders t USING changes c ON t.id = c.id "
        "WHEN MATCHED THEN UPDATE SET status = c.status, amount = c.amount "
        "WHEN NOT MATCHED THEN INSERT *"
    )
    spark.sql("DELETE FROM rest.db.orders WHERE id = 1")
    # Merge-on-read: Spark wrote delete files, and Floe applies them.
    deletes = spark_rows(spark, "SELECT count(*) FROM rest.db.orders.delete_files")[0][0]
    assert deletes >= 1
    spark.sql("ALTER TABLE rest.db.orders ADD COLUMN note STRING")
    spark.sql("INSERT INTO rest.db.orders VALUES (5, 'shipped', 50.0, 'late')")
    expected = [["2", "paid", "25.0", ""], ["3", "paid", "30.0", ""], ["4", "new", "40.0", ""],
                ["5", "shipped", "50.0", "late"]]
    assert floe_rows(wh, "SELECT id, status, amount, note FROM db.orders ORDER BY id") == expected
    # Time travel in Spark, by snapshot and by time.
    assert spark_rows(spark, f"SELECT id FROM rest.db.orders VERSION AS OF {first} ORDER BY id") == [[1], [2], [3]]
    assert spark_rows(
        spark, f"SELECT id FROM rest.db.orders TIMESTAMP AS OF {pinned / 1000.0} ORDER BY id"
    ) == [[1], [2], [3]]
    # A Spark branch, read by Floe and by Spark.
    spark.sql("ALTER TABLE rest.db.orders CREATE BRANCH audit")
    spark.sql("INSERT INTO rest.db.orders.branch_audit VALUES (6, 'new', 60.0, NULL)")
    assert spark_rows(spark, "SELECT count(*) FROM rest.db.orders VERSION AS OF 'audit'") == [[5]]
    assert floe_rows(wh, "SELECT count(*) FROM db.orders VERSION AS OF 'audit'") == [["5"]]
    assert floe_rows(wh, "SELECT count(*) FROM db.orders") == [["4"]]


def test_spark_reads_what_floe_wrote(spark_env):
    spark, wh = spark_env
    floe(
        wh,
        "CREATE TABLE db.events (id BIGINT NOT NULL, kind STRING, v DOUBLE) PARTITIONED BY (kind) "
        "TBLPROPERTIES ('write.delete.mode' = 'merge-on-read')",
        "INSERT INTO db.events VALUES (1, 'a', 1.0), (2, 'b', 2.0), (3, 'a', 3.0)",
        # Position deletes, then an evolved schema and partition spec.
        "DELETE FROM db.events WHERE id = 2",
        "ALTER TABLE db.events ADD COLUMN extra STRING",
        "ALTER TABLE db.events ADD PARTITION FIELD bucket(4, id)",
        "INSERT INTO db.events VALUES (4, 'b', 4.0, 'x')",
        "ALTER TABLE db.events RENAME COLUMN v TO value",
        "CREATE BRANCH dev",
        "INSERT INTO db.events.branch_dev VALUES (5, 'c', 5.0, 'dev')",
    )
    for catalog in ("rest",):
        assert spark_rows(spark, f"SELECT id, kind, value, extra FROM {catalog}.db.events ORDER BY id") == [
            [1, "a", 1.0, None], [3, "a", 3.0, None], [4, "b", 4.0, "x"],
        ], catalog
        assert spark_rows(spark, f"SELECT id FROM {catalog}.db.events VERSION AS OF 'dev' ORDER BY id") == [
            [1], [3], [4], [5],
        ], catalog
    # Floe's warehouse branch, served by prefix, is main to Spark.
    spark.conf.set("spark.sql.catalog.restdev", "org.apache.iceberg.spark.SparkCatalog")
    spark.conf.set("spark.sql.catalog.restdev.type", "rest")
    spark.conf.set("spark.sql.catalog.restdev.uri", spark.floe_rest_uri)
    spark.conf.set("spark.sql.catalog.restdev.warehouse", "dev")
    assert spark_rows(spark, "SELECT id FROM restdev.db.events ORDER BY id") == [[1], [3], [4], [5]]
    spark.sql("INSERT INTO restdev.db.events VALUES (6, 'c', 6.0, 'spark on dev')")
    assert floe_rows(wh, "SELECT id FROM db.events.branch_dev ORDER BY id") == [["1"], ["3"], ["4"], ["5"], ["6"]]
    assert floe_rows(wh, "SELECT id FROM db.events ORDER BY id") == [["1"], ["3"], ["4"]]


def test_spark_jdbc_catalog_sees_later_floe_commits(spark_env):
    spark, wh = spark_env
    assert spark_rows(spark, "SELECT id FROM floe.db.jdbc_t ORDER BY id") == [[1], [2], [3]]
    spark.sql("INSERT INTO floe.db.jdbc_t VALUES (4, 'spark')")
    assert floe_rows(wh, "SELECT count(*) FROM db.jdbc_t") == [["4"]]


def test_spark_reads_a_table_floe_compacted(spark_env):
    spark, wh = spark_env
    floe(
        wh,
        "CREATE TABLE db.compacted (id BIGINT, kind STRING) PARTITIONED BY (kind) "
        "TBLPROPERTIES ('write.delete.mode' = 'merge-on-read')",
        "INSERT INTO db.compacted VALUES (1, 'a'), (2, 'a'), (3, 'b')",
        "INSERT INTO db.compacted VALUES (4, 'a'), (5, 'b')",
        "DELETE FROM db.compacted WHERE id = 2",
    )
    query = "SELECT id, kind FROM {}db.compacted ORDER BY id"
    expected = [[1, "a"], [3, "b"], [4, "a"], [5, "b"]]
    assert spark_rows(spark, query.format("rest.")) == expected
    got = floe_rows(
        wh,
        "CALL system.rewrite_data_files(table => 'db.compacted', "
        "options => map(['min-input-files'], ['2']))",
    )
    assert got == [["4", "2", got[0][2], "0", "1"]]
    assert spark_rows(spark, query.format("rest.")) == expected
    snapshot = spark_rows(
        spark,
        "SELECT operation, summary['total-delete-files'] FROM rest.db.compacted.snapshots "
        "ORDER BY committed_at DESC LIMIT 1",
    )
    assert snapshot == [["replace", "0"]]


def test_views_cross_between_floe_and_spark(spark_env):
    """A view Floe stores is an Iceberg view Spark reads (through the REST
    catalog and the JDBC one), and a view Spark creates Floe reads."""
    spark, wh = spark_env
    floe(
        wh,
        "CREATE TABLE db.sales (id BIGINT, region STRING, amount DOUBLE)",
        "INSERT INTO db.sales VALUES (1, 'eu', 10.0), (2, 'us', 20.0), (3, 'eu', 5.0)",
        "CREATE VIEW db.eu_sales AS SELECT id, amount FROM db.sales WHERE region = 'eu'",
    )
    for catalog in ("rest", "floe"):
        assert spark_rows(spark, f"SELECT id, amount FROM {catalog}.db.eu_sales ORDER BY id") == [
            [1, 10.0], [3, 5.0],
        ], catalog
    # Spark records its current catalog and namespace as the view's
    # defaults; Floe resolves the names in its own catalog.
    spark.sql("USE rest.db")
    spark.sql("CREATE VIEW rest.db.big_sales AS SELECT id FROM sales WHERE amount > 8")
    spark.sql("USE spark_catalog.default")
    assert floe_rows(wh, "SHOW VIEWS IN db") == [["db", "big_sales"], ["db", "eu_sales"]]
    assert floe_rows(wh, "SELECT id FROM db.big_sales ORDER BY id") == [["1"], ["2"]]
    # Replacing Spark's SQL with Floe's drops the spark dialect: refused,
    # as Iceberg refuses it, until the view allows it.
    replace = "CREATE OR REPLACE VIEW db.big_sales AS SELECT id FROM db.sales WHERE amount > 15"
    refused = floe(wh, replace, check=False)
    assert refused.returncode == 1
    assert "Cannot replace view due to loss of view dialects" in refused.stderr, refused.stderr
    assert floe_rows(wh, "SELECT id FROM db.big_sales ORDER BY id") == [["1"], ["2"]]
    spark.sql("ALTER VIEW rest.db.big_sales SET TBLPROPERTIES ('replace.drop-dialect.allowed' = 'true')")
    floe(wh, replace)
    assert spark_rows(spark, "SELECT id FROM rest.db.big_sales") == [[2]]

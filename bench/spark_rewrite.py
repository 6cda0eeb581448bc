"""Spark's `rewrite_data_files` on the same table Floe compacted, side by
side (issue 17's figure).

`floe-bench history` leaves the table `history` of 10,000 single-row
appends, and prints the metadata file it had before Floe compacted it.
This script registers that metadata file as a second table,
`history_spark` (`CALL system.register_table`): the same snapshot, the same
10,000 data files. Spark 4.0 with Iceberg's runtime then opens the
warehouse's catalog.db through Iceberg's JDBC catalog, on the same cores
(`local[N]`, N = the machine's cores), runs one scan of the table to warm
the JVM and the page cache, and times
`CALL floe.system.rewrite_data_files(table => 'default.history_spark')` with
its defaults. Floe then checks that the table it committed holds every row.
Prints one JSON object.
"""

import argparse
import json
import os
import subprocess
import time
from pathlib import Path


def floe_sql(floe, warehouse, sql):
    out = subprocess.run(
        [floe, "--warehouse", warehouse, "sql", "--format", "csv", "-c", sql],
        capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"floe failed on {sql!r}: {out.stderr.strip()}")
    return out.stdout.strip().splitlines()[1:]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--floe", required=True, help="the floe binary")
    parser.add_argument("--warehouse", required=True)
    parser.add_argument("--history", required=True, help="floe-bench history's JSON lines")
    parser.add_argument("--java", default=os.environ.get("FLOE_JAVA", ""),
                        help="where scripts/java-deps.sh put the jars")
    args = parser.parse_args()

    lines = [json.loads(l) for l in Path(args.history).read_text().splitlines() if l.strip()]
    recovery = next(l["recovery"] for l in lines if "recovery" in l)
    rows = recovery["rows"]
    floe_sql(args.floe, args.warehouse, "DROP TABLE IF EXISTS history_spark")
    floe_sql(args.floe, args.warehouse,
             "CALL system.register_table(table => 'history_spark', "
             f"metadata_file => '{recovery['metadata_before']}')")
    files = int(floe_sql(args.floe, args.warehouse, 'SELECT count(*) FROM "history_spark$files"')[0])

    from pyspark.sql import SparkSession

    java = Path(args.java)
    iceberg = os.environ.get("ICEBERG_SPARK_VERSION", "1.10.0")
    sqlite = os.environ.get("SQLITE_JDBC_VERSION", "3.51.1.0")
    jars = [java / f"iceberg-spark-runtime-4.0_2.13-{iceberg}.jar", java / f"sqlite-jdbc-{sqlite}.jar"]
    missing = [str(j) for j in jars if not j.exists()]
    if missing:
        raise SystemExit(f"missing {', '.join(missing)}: run scripts/java-deps.sh first")
    cores = os.cpu_count()
    warehouse = Path(args.warehouse).resolve()
    start = time.perf_counter()
    spark = (
        SparkSession.builder.master(f"local[{cores}]")
        .appName("floe-bench-rewrite")
        .config("spark.jars", ",".join(str(j) for j in jars))
        .config("spark.driver.memory", "4g")
        .config("spark.sql.extensions",
                "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions")
        .config("spark.sql.catalog.floe", "org.apache.iceberg.spark.SparkCatalog")
        .config("spark.sql.catalog.floe.type", "jdbc")
        .config("spark.sql.catalog.floe.uri", f"jdbc:sqlite:{warehouse}/catalog.db")
        .config("spark.sql.catalog.floe.jdbc.schema-version", "V1")
        .config("spark.sql.catalog.floe.warehouse", f"file://{warehouse}")
        .config("spark.sql.catalog.floe.cache-enabled", "false")
        .config("spark.sql.catalog.floe.clients", "1")
        # See interop/test_spark.py: Floe made the catalog's tables.
        .config("spark.sql.catalog.floe.jdbc.init-catalog-tables", "false")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    session_s = time.perf_counter() - start
    table = "floe.`default`.history_spark"
    start = time.perf_counter()
    warm = spark.sql(f"SELECT count(*) FROM {table}").collect()[0][0]
    warmup_s = time.perf_counter() - start
    if warm != rows:
        raise SystemExit(f"Spark read {warm} rows of history_spark, not {rows}")
    start = time.perf_counter()
    result = spark.sql(
        f"CALL floe.system.rewrite_data_files(table => '`default`.history_spark')").collect()[0]
    compaction_s = time.perf_counter() - start
    result = result.asDict()
    spark.stop()

    after = floe_sql(args.floe, args.warehouse,
                     'SELECT (SELECT count(*) FROM history_spark) AS n, '
                     '(SELECT count(*) FROM "history_spark$files") AS f')[0].split(",")
    if int(after[0]) != rows:
        raise SystemExit(f"history_spark has {after[0]} rows after Spark's compaction, not {rows}")
    print(json.dumps({
        "cores": cores,
        "rows": rows,
        "files_before": files,
        "files_after": int(after[1]),
        "spark_session_s": session_s,
        "spark_warmup_scan_s": warmup_s,
        "spark_compaction_ms": compaction_s * 1000,
        "spark_result": {k: v for k, v in result.items() if isinstance(v, (int, float))},
        "floe_compaction_ms": recovery["compaction_ms"],
    }))


if __name__ == "__main__":
    main()

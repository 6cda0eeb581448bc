#!/usr/bin/env bash
# Fetch (once) the Java artifacts the interop tests use from Maven Central
# into a cache dir: the Arrow Flight SQL JDBC driver (one shaded jar),
# Spark's Iceberg runtime and the SQLite JDBC driver (Spark's JDBC catalog
# on Floe's catalog.db).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
mkdir -p "$FLOE_JAVA"
jar="$FLOE_JAVA/flight-sql-jdbc-driver-$FLIGHT_SQL_JDBC_VERSION.jar"
if [ ! -f "$jar" ]; then
  mvn -q -B org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy \
    -Dartifact="org.apache.arrow:flight-sql-jdbc-driver:$FLIGHT_SQL_JDBC_VERSION" \
    -DoutputDirectory="$FLOE_JAVA" -Dmaven.repo.local="$FLOE_JAVA/m2"
fi

fetch() { # group:artifact:version -> $FLOE_JAVA/artifact-version.jar
  local artifact=$1 name
  name="$(echo "$artifact" | cut -d: -f2)-$(echo "$artifact" | cut -d: -f3).jar"
  if [ ! -f "$FLOE_JAVA/$name" ]; then
    mvn -q -B org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy \
      -Dartifact="$artifact" -DoutputDirectory="$FLOE_JAVA" -Dmaven.repo.local="$FLOE_JAVA/m2"
  fi
}
fetch "org.apache.iceberg:iceberg-spark-runtime-4.0_2.13:$ICEBERG_SPARK_VERSION"
fetch "org.xerial:sqlite-jdbc:$SQLITE_JDBC_VERSION"

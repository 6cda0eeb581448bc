#!/usr/bin/env bash
# Fetch (once) the Java artifacts the interop tests use from Maven Central
# into a cache dir: the Arrow Flight SQL JDBC driver (one shaded jar).
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

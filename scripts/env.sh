# Shared settings of Floe's scripts: one cargo target dir outside the clone
# (DataFusion builds are heavy; every clone on this machine shares it) and
# the Python venv the interop tests use.
: "${CARGO_TARGET_DIR:=${XDG_CACHE_HOME:-$HOME/.cache}/floe/target}"
export CARGO_TARGET_DIR
: "${FLOE_VENV:=$CARGO_TARGET_DIR/floe-venv}"
export FLOE_VENV
# Java artifacts from Maven Central (scripts/java-deps.sh). The JDBC
# driver is 18.3.0: 19.0.0 is not served by Maven Central here.
: "${FLOE_JAVA:=$CARGO_TARGET_DIR/java}"
export FLOE_JAVA
: "${FLIGHT_SQL_JDBC_VERSION:=18.3.0}"
export FLIGHT_SQL_JDBC_VERSION
# Spark 4.0 (pyspark in interop/requirements.txt) with Iceberg's runtime.
: "${ICEBERG_SPARK_VERSION:=1.10.0}"
export ICEBERG_SPARK_VERSION
: "${SQLITE_JDBC_VERSION:=3.51.1.0}"
export SQLITE_JDBC_VERSION

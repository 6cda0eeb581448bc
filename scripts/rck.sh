#!/usr/bin/env bash
# Run the Iceberg REST Compatibility Kit (org.apache.iceberg:iceberg-open-api's
# tests and fixtures, with JUnit's console launcher) against `floe serve --rest`
# on a fresh warehouse.
#
#   scripts/rck.sh [REPORTS_DIR] [CLASS]
#
# CLASS is the kit's test class: RESTCompatibilityKitCatalogTests (the
# default, tables and namespaces) or RESTCompatibilityKitViewCatalogTests.
#
# FLOE_BIN names the floe binary (default: the debug build). The JUnit XML
# reports land in REPORTS_DIR (default: a temporary dir); the summary goes to
# stdout. The exit status is the launcher's: 0 when no test failed.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

: "${FLOE_BIN:=$CARGO_TARGET_DIR/debug/floe}"
: "${JUNIT_CONSOLE_VERSION:=1.13.4}"
reports=${1:-$(mktemp -d)}
class=${2:-RESTCompatibilityKitCatalogTests}
mkdir -p "$FLOE_JAVA" "$reports"

# The kit's classpath, resolved once into the shared Maven cache.
cp_file="$FLOE_JAVA/rck-$ICEBERG_SPARK_VERSION.classpath"
if [ ! -s "$cp_file" ]; then
  mvn -q -B -f scripts/rck/pom.xml -Diceberg.version="$ICEBERG_SPARK_VERSION" \
    -Dmaven.repo.local="$FLOE_JAVA/m2" \
    org.apache.maven.plugins:maven-dependency-plugin:3.8.1:build-classpath \
    -Dmdep.outputFile="$cp_file.tmp"
  mv "$cp_file.tmp" "$cp_file"
fi
launcher="$FLOE_JAVA/junit-platform-console-standalone-$JUNIT_CONSOLE_VERSION.jar"
if [ ! -f "$launcher" ]; then
  mvn -q -B org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy \
    -Dartifact="org.junit.platform:junit-platform-console-standalone:$JUNIT_CONSOLE_VERSION" \
    -DoutputDirectory="$FLOE_JAVA" -Dmaven.repo.local="$FLOE_JAVA/m2"
fi

# A fresh warehouse and a server on a free port of 127.0.0.1.
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$FLOE_BIN" --warehouse "$work/warehouse" serve --rest "127.0.0.1:$port" >"$work/server.log" 2>&1 &
server=$!
cleanup() {
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  cp "$work/server.log" "$reports/server.log" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
for _ in $(seq 1 100); do
  if python3 -c "import urllib.request, sys; urllib.request.urlopen(sys.argv[1], timeout=1)" \
    "http://127.0.0.1:$port/v1/config" 2>/dev/null; then break; fi
  if ! kill -0 "$server" 2>/dev/null; then cat "$work/server.log" >&2; exit 1; fi
  sleep 0.1
done

# rck.* are the kit's own switches; the other -D properties become the
# REST client's catalog properties.
status=0
java -Drck.local=false -Drck.requires-namespace-create=true \
  -Drck.supports-serverside-retry=true \
  -Duri="http://127.0.0.1:$port/" -Dwarehouse=main \
  -jar "$launcher" execute --disable-banner \
  --class-path "$(cat "$cp_file")" \
  --select-class "org.apache.iceberg.rest.$class" \
  --details=summary --reports-dir "$reports" || status=$?
exit "$status"

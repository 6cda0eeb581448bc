#!/usr/bin/env bash
# Every test of Floe: unit tests, doc tests, the sqllogictest files and the
# interop tests with PyIceberg, DuckDB, a SeaweedFS S3 server, a PostgreSQL
# catalog, the Iceberg REST catalog's clients and the Flight SQL clients
# (ADBC, pyarrow.flight, the JDBC driver, a notebook).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

echo "== PostgreSQL for the Postgres catalog's tests"
source scripts/postgres.sh
trap floe_stop_postgres EXIT
export FLOE_REQUIRE_POSTGRES=1

echo "== Rust: unit tests and sql-tests/*.slt"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
else
  cargo test --workspace --no-fail-fast --lib --bins --tests
fi

echo "== Rust: doc tests"
cargo test --workspace --doc

echo "== Interop: PyIceberg, DuckDB, SeaweedFS, ADBC, pyarrow.flight, JDBC, Jupyter"
# nextest built the floe binary above (the CLI tests run it).
export FLOE_BIN="$CARGO_TARGET_DIR/debug/floe"
bash scripts/python-env.sh
bash scripts/java-deps.sh
# The TLS test makes its certificate with the openssl command.
if ! command -v openssl >/dev/null 2>&1; then
  sudo_cmd=""
  [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq && $sudo_cmd apt-get install -y -qq openssl
fi
"$FLOE_VENV/bin/python" -m pytest interop -v

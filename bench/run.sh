#!/usr/bin/env bash
# Floe's benchmarks, side by side in one run, written to bench/REPORT.md.
#
#   bench/run.sh [--sf 1] [--runs 5] [--load-runs 5] [--commits 1000] [--files 10000] [--release]
#                [--memory-limit 1GiB] [--only sessions|flight] [--flight-clients 16]
#                [--flight-seconds 60] [--pipeline-files 200] [--pipeline-events 50000]
# `--only rest` runs only the REST catalog ones (PyIceberg through `floe
# serve --rest` against a SqlCatalog, load latency, concurrent clients).
# `--only rck` runs only the Iceberg REST Compatibility Kit (scripts/rck.sh,
# its table and view classes) and rewrites its passed / failed / skipped
# section. `--only history` runs only single-row commits against a growing
# history (--history-commits, 10000), then measures small-file recovery on
# that table (planning and scan before and after rewrite_data_files) and
# Spark's rewrite_data_files on the same table (bench/spark_rewrite.py), and
# rewrites that section.
#
# `--only sessions` runs only the sessions benchmarks (the cost of a
# session, commit throughput with 1, 4 and 16 sessions, 8 sessions querying
# at once under --memory-limit) and rewrites only that section of the report.
# `--only flight` runs only the Flight SQL ones (lineitem fetched through
# ADBC against in-process, pyarrow and DuckDB; adbc_ingest against INSERT;
# concurrent clients on their own branches) and rewrites only that section.
# `--only pipeline` runs only the pipeline ones (the orders pipeline over a
# generated feed: a full run, incremental runs and runs with nothing new,
# against the same models in dbt-duckdb) and rewrites only that section.
#
# Generates TPC-H Parquet data with tpchgen-cli (installed on first use),
# loads it into Floe, runs the 22 queries on Floe, plain DataFusion and
# DuckDB, measures commit latency against PyIceberg, branch creation and
# planning on a table of many files, and writes the report and its chart.
# Data and results live under $CARGO_TARGET_DIR/bench (reused between runs).
set -euo pipefail
cd "$(dirname "$0")/.."

SF=1 RUNS=5 LOAD_RUNS=5 COMMITS=1000 FILES=10000 PROFILE=dev MEMORY_LIMIT=1GiB ONLY=
FLIGHT_CLIENTS=16 FLIGHT_SECONDS=60 PIPELINE_FILES=200 PIPELINE_EVENTS=50000 HISTORY_COMMITS=10000
while [ $# -gt 0 ]; do
  case "$1" in
    --sf) SF="$2"; shift 2 ;;
    --runs) RUNS="$2"; shift 2 ;;
    --load-runs) LOAD_RUNS="$2"; shift 2 ;;
    --commits) COMMITS="$2"; shift 2 ;;
    --history-commits) HISTORY_COMMITS="$2"; shift 2 ;;
    --files) FILES="$2"; shift 2 ;;
    --release) PROFILE=release; shift ;;
    --memory-limit) MEMORY_LIMIT="$2"; shift 2 ;;
    --flight-clients) FLIGHT_CLIENTS="$2"; shift 2 ;;
    --flight-seconds) FLIGHT_SECONDS="$2"; shift 2 ;;
    --pipeline-files) PIPELINE_FILES="$2"; shift 2 ;;
    --pipeline-events) PIPELINE_EVENTS="$2"; shift 2 ;;
    --only)
      ONLY="$2"; shift 2
      case "$ONLY" in
        sessions|flight|pipeline|rest|rck|history) ;;
        *) echo "--only takes 'sessions', 'flight', 'pipeline', 'rest', 'rck' or 'history' (the rest runs only in a full run)" >&2; exit 2 ;;
      esac ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done

source scripts/env.sh
TOOLS="$CARGO_TARGET_DIR/tools"
WORK="$CARGO_TARGET_DIR/bench/sf$SF"
RESULTS="$WORK/results"
mkdir -p "$TOOLS" "$RESULTS"

echo "== tools: tpchgen-cli, the Python peers"
if [ ! -x "$TOOLS/bin/tpchgen-cli" ]; then
  cargo install tpchgen-cli --version 4.0.0 --locked --root "$TOOLS"
fi
VENV="$CARGO_TARGET_DIR/floe-bench-venv"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install -q -r bench/requirements.txt

echo "== build ($PROFILE)"
if [ "$PROFILE" = release ]; then
  cargo build --release -p floe-bench -p floe-cli
else
  cargo build --workspace --bins
fi
BIN="$CARGO_TARGET_DIR/$([ "$PROFILE" = release ] && echo release || echo debug)"
BENCH="$BIN/floe-bench"
REPORT=bench/REPORT.md
[ "$SF" = 1 ] || REPORT="bench/REPORT-sf$SF.md"

# Run one section's benchmark alone, rewrite only that section, and stop.
only() { # NAME LABEL: the section's function (if any) and what it is called
  if declare -F "$1" >/dev/null; then "$1"; fi
  "$VENV/bin/python" bench/report.py --results "$RESULTS" --sf "$SF" --profile "$PROFILE" \
    --out "$REPORT" "--only-$1"
  echo "Rewrote the $2 section of $REPORT"
  exit 0
}

rck() {
  echo "== Iceberg REST Compatibility Kit against floe serve --rest"
  rm -rf "$RESULTS/rck"
  # A failing test is a figure to report here, not a reason to stop.
  FLOE_BIN="$BIN/floe" bash scripts/rck.sh "$RESULTS/rck" > "$RESULTS/rck.log" 2>&1 || true
  rm -rf "$RESULTS/rck-views"
  FLOE_BIN="$BIN/floe" bash scripts/rck.sh "$RESULTS/rck-views" RESTCompatibilityKitViewCatalogTests \
    > "$RESULTS/rck-views.log" 2>&1 || true
}
[ "$ONLY" = rck ] && only rck "REST Compatibility Kit"

history() {
  echo "== commit latency against history ($HISTORY_COMMITS commits)"
  rm -rf "$WORK/history"
  "$BENCH" history --warehouse "$WORK/history" --n "$HISTORY_COMMITS" > "$RESULTS/history.jsonl"
  echo "== Spark's rewrite_data_files on the same table"
  rm -f "$RESULTS/spark_rewrite.json"
  bash scripts/java-deps.sh
  "$VENV/bin/python" bench/spark_rewrite.py --floe "$BIN/floe" --warehouse "$WORK/history" \
    --history "$RESULTS/history.jsonl" > "$RESULTS/spark_rewrite.json"
}
[ "$ONLY" = history ] && only history "commit latency against history"

echo "== TPC-H data, scale factor $SF"
DATA="$WORK/data"
if [ ! -f "$DATA/lineitem.parquet" ] && [ ! -d "$DATA/lineitem" ]; then
  rm -rf "$DATA"
  "$TOOLS/bin/tpchgen-cli" parquet --scale-factor "$SF" --output-dir "$DATA"
fi

flight() {
  echo "== Flight SQL ($FLIGHT_CLIENTS clients for ${FLIGHT_SECONDS}s)"
  rm -rf "$WORK/flight"
  "$BENCH" fetch --warehouse "$WORK/flight" --data "$DATA" > "$RESULTS/fetch.json"
  "$VENV/bin/python" bench/flight.py --floe "$BIN/floe" --warehouse "$WORK/flight" --data "$DATA" \
    --clients "$FLIGHT_CLIENTS" --seconds "$FLIGHT_SECONDS" > "$RESULTS/flight.json"
  # The transport's floor: the same lineitem between two pyarrow
  # processes, with no query and no Floe.
  lineitem="$DATA/lineitem.parquet"
  [ -f "$lineitem" ] || lineitem="$DATA/lineitem"
  "$VENV/bin/python" bench/flight_floor.py --parquet "$lineitem" --batches 8MiB,8192 \
    > "$RESULTS/flight_floor.json"
}
pipeline() {
  echo "== pipelines ($PIPELINE_FILES files of $PIPELINE_EVENTS events, against dbt-duckdb)"
  "$VENV/bin/python" bench/pipeline.py --floe "$BIN/floe" --work "$CARGO_TARGET_DIR/bench/pipeline" \
    --files "$PIPELINE_FILES" --events "$PIPELINE_EVENTS" > "$RESULTS/pipeline.json"
}
rest() {
  echo "== Iceberg REST catalog (PyIceberg through floe serve --rest, against a SqlCatalog)"
  "$VENV/bin/python" bench/rest.py --floe "$BIN/floe" --work "$CARGO_TARGET_DIR/bench/rest" > "$RESULTS/rest.json"
}
[ "$ONLY" = rest ] && only rest "REST catalog"
[ "$ONLY" = pipeline ] && only pipeline "pipeline"
[ "$ONLY" = flight ] && only flight "Flight SQL"

echo "== sessions of one engine (memory limit $MEMORY_LIMIT)"
rm -rf "$WORK/sessions"
"$BENCH" sessions --warehouse "$WORK/sessions" --data "$DATA" --queries bench/queries \
  --memory-limit "$MEMORY_LIMIT" > "$RESULTS/sessions.json"

[ "$ONLY" = sessions ] && only sessions "sessions"

echo "== load ($LOAD_RUNS runs, engines interleaved)"
# The report takes each engine's median; the last Floe load stays for the
# queries.
WAREHOUSE="$WORK/warehouse"
rm -f "$RESULTS"/load.json "$RESULTS"/load_peers.json "$RESULTS"/load-*.json "$RESULTS"/load_peers-*.json
for i in $(seq 1 "$LOAD_RUNS"); do
  rm -rf "$WAREHOUSE"
  "$BENCH" load --data "$DATA" --warehouse "$WAREHOUSE" > "$RESULTS/load-$i.json"
  "$VENV/bin/python" bench/peers.py load --data "$DATA" --work "$WORK/peers" > "$RESULTS/load_peers-$i.json"
done

echo "== TPC-H queries"
"$VENV/bin/python" bench/tpch.py --bench-bin "$BENCH" --data "$DATA" --warehouse "$WAREHOUSE" \
  --queries bench/queries --out "$WORK/answers" --runs "$RUNS" > "$RESULTS/tpch.json"

echo "== TPC-H planning (SQL to physical plan)"
"$BENCH" plans --data "$DATA" --warehouse "$WAREHOUSE" --queries bench/queries > "$RESULTS/plans.json"

echo "== commit latency"
rm -rf "$WORK/commits" "$WORK/peers/pyiceberg-commits"
"$BENCH" commits --warehouse "$WORK/commits" --n "$COMMITS" > "$RESULTS/commits.json"
"$VENV/bin/python" bench/peers.py commits --work "$WORK/peers" --n "$COMMITS" > "$RESULTS/commits_pyiceberg.json"

echo "== branching and planning ($FILES files)"
rm -rf "$WORK/branches"
"$BENCH" branches --warehouse "$WORK/branches" --files "$FILES" > "$RESULTS/branches.json"

flight
pipeline
rest
rck
history

# The targets are set at SF1: that report is bench/REPORT.md; other scale
# factors get their own (bench/REPORT-sf10.md and bench/tpch-sf10.png).
"$VENV/bin/python" bench/report.py --results "$RESULTS" --sf "$SF" --profile "$PROFILE" --out "$REPORT"
echo "Wrote $REPORT and its chart"

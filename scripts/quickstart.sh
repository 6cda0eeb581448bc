#!/usr/bin/env bash
# Build Floe, install the `floe` binary, and run the quick start
# (fixtures/quickstart.sql, each statement shown with its caption) on a
# local warehouse in ./warehouse with its SQLite catalog
# ./warehouse/catalog.db.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
cargo build --workspace --bins
# A user's own bin directory (FLOE_BIN_DIR moves it).
bin="${FLOE_BIN_DIR:-$HOME/.local/bin}"
mkdir -p "$bin"
install -m 0755 "$CARGO_TARGET_DIR/debug/floe" "$bin/floe"
"$bin/floe" --warehouse ./warehouse sql --echo -f fixtures/quickstart.sql

# The medallion pipeline of fixtures/pipelines/orders, on a copy whose
# landing/ folder gets the next day's files. A re-run starts afresh.
echo
echo "== The orders pipeline: day 1 =="
rm -rf pipelines/orders
mkdir -p pipelines
cp -r fixtures/pipelines/orders pipelines/orders
"$bin/floe" --warehouse ./warehouse sql \
  -c "DROP SCHEMA IF EXISTS bronze CASCADE" -c "DROP SCHEMA IF EXISTS silver CASCADE" \
  -c "DROP SCHEMA IF EXISTS gold CASCADE" -c "DROP SCHEMA IF EXISTS floe CASCADE" > /dev/null
"$bin/floe" --warehouse ./warehouse pipeline run pipelines/orders
echo
echo "== Day 2 lands: what the next run would do =="
cp pipelines/orders/arrivals/2026-11-02/* pipelines/orders/landing/
"$bin/floe" --warehouse ./warehouse pipeline run pipelines/orders --dry-run
echo
echo "== Day 2: only the new files and the rows they change =="
"$bin/floe" --warehouse ./warehouse pipeline run pipelines/orders
echo
echo "== Nothing new: nothing to do =="
"$bin/floe" --warehouse ./warehouse pipeline run pipelines/orders
echo
echo "== The runs, the quarantined rows, and a gold table =="
"$bin/floe" --warehouse ./warehouse pipeline status pipelines/orders
"$bin/floe" --warehouse ./warehouse sql \
  -c "SELECT regexp_replace(source, '^.*/', '') AS object, line, reason FROM bronze.shop_orders__quarantine ORDER BY object, line" \
  -c "SELECT * FROM gold.daily_revenue ORDER BY order_date, category"
echo
echo "Done. floe is installed at $bin/floe."
case ":$PATH:" in
  *":$bin:"*)
    echo "Try it yourself:  floe --warehouse ./warehouse sql" ;;
  *)
    echo "$bin is not on your PATH; add it, then try it yourself:"
    echo "  export PATH=\"$bin:\$PATH\""
    echo "  floe --warehouse ./warehouse sql" ;;
esac

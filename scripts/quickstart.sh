#!/usr/bin/env bash
# Build Floe and run the quick start (fixtures/quickstart.sql) on a local
# warehouse in ./warehouse with its SQLite catalog ./warehouse/catalog.db.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
cargo build --workspace --bins
floe="$CARGO_TARGET_DIR/debug/floe"
"$floe" --warehouse ./warehouse sql -f fixtures/quickstart.sql
echo
echo "Done. Try it yourself:  $floe --warehouse ./warehouse sql"

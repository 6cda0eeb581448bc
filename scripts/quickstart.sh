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

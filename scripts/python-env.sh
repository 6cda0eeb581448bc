#!/usr/bin/env bash
# Create (once) the venv the interop tests run in, with the exact clients
# they talk to Floe through.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
stamp="$FLOE_VENV/.floe-requirements"
if [ -f "$stamp" ] && cmp -s "$stamp" interop/requirements.txt; then
  exit 0
fi
python3 -m venv "$FLOE_VENV"
"$FLOE_VENV/bin/pip" install --quiet --upgrade pip
"$FLOE_VENV/bin/pip" install --quiet -r interop/requirements.txt
cp interop/requirements.txt "$stamp"

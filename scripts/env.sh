# Shared settings of Floe's scripts: one cargo target dir outside the clone
# (DataFusion builds are heavy; every clone on this machine shares it) and
# the Python venv the interop tests use.
: "${CARGO_TARGET_DIR:=${XDG_CACHE_HOME:-$HOME/.cache}/floe/target}"
export CARGO_TARGET_DIR
: "${FLOE_VENV:=$CARGO_TARGET_DIR/floe-venv}"
export FLOE_VENV

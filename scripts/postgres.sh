# Start a throwaway PostgreSQL server (Debian's, installed if missing) on a
# free loopback port for the tests, and export FLOE_TEST_POSTGRES, its URI.
# Sourced by scripts/test.sh, which stops it on exit (floe_stop_postgres).
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$pg_bin" ] || [ ! -x "$pg_bin/initdb" ]; then
  sudo_cmd=""
  [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq && $sudo_cmd apt-get install -y -qq postgresql >/dev/null
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
fi
FLOE_PG_DIR=$(mktemp -d /tmp/floe-pg.XXXXXX)
pg_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# PostgreSQL will not run as root: as root, run it as the postgres user.
if [ "$(id -u)" = 0 ]; then
  chown postgres "$FLOE_PG_DIR"
  pg_as=(runuser -u postgres --)
else
  pg_as=()
fi
"${pg_as[@]}" "$pg_bin/initdb" -D "$FLOE_PG_DIR/data" -U floe --auth=trust -E UTF8 >/dev/null
"${pg_as[@]}" "$pg_bin/pg_ctl" -D "$FLOE_PG_DIR/data" -l "$FLOE_PG_DIR/log" -w \
  -o "-c listen_addresses=127.0.0.1 -c port=$pg_port -c unix_socket_directories=$FLOE_PG_DIR -c fsync=off" \
  start >/dev/null
"${pg_as[@]}" "$pg_bin/createdb" -h 127.0.0.1 -p "$pg_port" -U floe floe_test
export FLOE_TEST_POSTGRES="postgresql://floe@127.0.0.1:$pg_port/floe_test"
export FLOE_PG_DIR

floe_stop_postgres() {
  "${pg_as[@]}" "$pg_bin/pg_ctl" -D "$FLOE_PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$FLOE_PG_DIR"
}

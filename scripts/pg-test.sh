#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster for the tests of the PostgreSQL store.
#
#   scripts/pg-test.sh start STATE_DIR   # initdb into a temp dir, start on a free 127.0.0.1
#                                        # port, write its URL to STATE_DIR/url
#   scripts/pg-test.sh restart STATE_DIR # restart it (fast shutdown: sessions are cut), same port
#   scripts/pg-test.sh stop STATE_DIR    # stop it and delete its files
#
# With IMAGEGATE_TEST_PG=postgres://… set, `start` only writes that URL (your own server) and
# `stop` does nothing. initdb refuses to run as root: as root, the cluster runs as the
# `postgres` user of Debian's package (or `nobody` when there is none). ctest runs start and
# stop as the fixture of every test that needs the database (tests/CMakeLists.txt).
set -euo pipefail

cmd=${1:-}
state=${2:-}
if [ -z "$cmd" ] || [ -z "$state" ]; then
  echo "usage: $0 start|restart|stop STATE_DIR" >&2
  exit 2
fi
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}

# Runs a command as the cluster's owner.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u "$owner" -- "$@"
  else
    "$@"
  fi
}

start() {
  mkdir -p "$state"
  if [ -n "${IMAGEGATE_TEST_PG:-}" ]; then
    printf '%s\n' "$IMAGEGATE_TEST_PG" >"$state/url"
    : >"$state/external"
    return 0
  fi
  if [ -f "$state/pid_dir" ]; then
    stop  # a cluster left by an interrupted run
  fi
  if [ ! -x "$PG_BIN/initdb" ]; then
    echo "pg-test: $PG_BIN/initdb not found (apt-get install postgresql-15, or set" \
      "IMAGEGATE_TEST_PG to a server of yours)" >&2
    exit 1
  fi
  owner=$(id -un)
  if [ "$(id -u)" -eq 0 ]; then
    owner=postgres
    id -u postgres >/dev/null 2>&1 || owner=nobody
  fi
  local dir port
  dir=$(mktemp -d /tmp/imagegate-pg.XXXXXX)
  chmod 0755 "$dir"
  [ "$(id -u)" -eq 0 ] && chown "$owner" "$dir"
  printf '%s\n' "$dir" >"$state/pid_dir"
  printf '%s\n' "$owner" >"$state/owner"
  as_owner "$PG_BIN/initdb" -D "$dir/data" -U imagegate --auth=trust -E UTF8 --no-sync \
    >"$dir/initdb.log" 2>&1 || {
    cat "$dir/initdb.log" >&2
    exit 1
  }
  # A port nothing listens on now; the server binds it a moment later (a race with another
  # process is retried with a new port).
  for _ in 1 2 3 4 5; do
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    # Durability is not tested here: no fsync makes the run faster.
    if as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off \
          -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
      start >/dev/null; then
      printf 'postgres://imagegate@127.0.0.1:%s/postgres\n' "$port" >"$state/url"
      echo "pg-test: PostgreSQL on 127.0.0.1:$port ($dir)"
      return 0
    fi
  done
  cat "$dir/server.log" >&2 || true
  exit 1
}

stop() {
  if [ -f "$state/external" ]; then
    rm -f "$state/external" "$state/url"
    return 0
  fi
  [ -f "$state/pid_dir" ] || return 0
  local dir
  dir=$(cat "$state/pid_dir")
  owner=$(cat "$state/owner" 2>/dev/null || id -un)
  if [ -d "$dir/data" ]; then
    as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
  rm -f "$state/pid_dir" "$state/owner" "$state/url"
}

# The fault tests: what a PostgreSQL restart does to connected clients.
restart() {
  if [ -f "$state/external" ] || [ ! -f "$state/pid_dir" ]; then
    echo "pg-test: no throwaway cluster in $state to restart" >&2
    exit 1
  fi
  local dir
  dir=$(cat "$state/pid_dir")
  owner=$(cat "$state/owner")
  # pg_ctl restart reuses the options of the last start (postmaster.opts): the same port.
  as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -m fast -w -t 60 restart \
    >/dev/null
}

case "$cmd" in
  start) start ;;
  restart) restart ;;
  stop) stop ;;
  *)
    echo "usage: $0 start|restart|stop STATE_DIR" >&2
    exit 2
    ;;
esac

#!/usr/bin/env bash
# Starts or stops a throwaway PostgreSQL 15 cluster on a free loopback port, for tests and
# benchmarks. initdb refuses to run as root, so the cluster runs as the postgres user.
#
#   scripts/pg-test-cluster.sh start DIR   # prints the DATABASE_URL on stdout
#   scripts/pg-test-cluster.sh stop DIR
#   scripts/pg-test-cluster.sh url|pid DIR
#
# The cluster runs with fsync=off and synchronous_commit=off, which tests want for speed.
# PG_TEST_FSYNC=on keeps PostgreSQL's production defaults instead (fsync and synchronous
# commit on, writeback smoothed by its *_flush_after settings), as benchmarks want.
# PG_TEST_OPTIONS adds server settings ("-c name=value ..."), for experiments.
# PG_TEST_ICU_LOCALE (e.g. en-US) creates the test database with that ICU collation (tests).
set -euo pipefail

cmd=${1:?usage: pg-test-cluster.sh start|stop|url DIR}
dir=${2:?usage: pg-test-cluster.sh start|stop|url DIR}
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$bindir/initdb" ] || { echo "PostgreSQL server binaries not found (apt-get install postgresql-15)" >&2; exit 1; }

as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
  python3 - <<'PY'
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()
PY
}

case "$cmd" in
  start)
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$dir"
    chmod 700 "$dir"
    if [ ! -f "$dir/data/PG_VERSION" ]; then
      as_postgres "$bindir/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    # A restarted cluster keeps its port, so clients' URLs stay valid.
    if [ -f "$dir/port" ]; then port=$(cat "$dir/port"); else port=$(free_port); fi
    durability="-c fsync=off -c synchronous_commit=off"
    case "${PG_TEST_FSYNC:-off}" in
      on) durability="" ;;
      off) ;;
      *) echo "PG_TEST_FSYNC must be on or off" >&2; exit 2 ;;
    esac
    as_postgres "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir $durability -c max_connections=200 ${PG_TEST_OPTIONS:-}" \
      start >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
    echo "$port" >"$dir/port"
    if [ "$(as_postgres "$bindir/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -qAt \
          -c "SELECT 1 FROM pg_database WHERE datname = 'failcat_test'")" != 1 ]; then
      # PG_TEST_ICU_LOCALE=en-US: the test database sorts text like most production databases
      # (an ICU collation) rather than by bytes, so an order that leans on the locale shows.
      create="CREATE DATABASE failcat_test"
      if [ -n "${PG_TEST_ICU_LOCALE:-}" ]; then
        create="$create TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE '$PG_TEST_ICU_LOCALE'"
      fi
      as_postgres "$bindir/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -qAt \
        -c "$create" >/dev/null
    fi
    echo "postgresql://postgres@127.0.0.1:$port/failcat_test"
    ;;
  url)
    echo "postgresql://postgres@127.0.0.1:$(cat "$dir/port")/failcat_test"
    ;;
  pid)
    head -n 1 "$dir/data/postmaster.pid"
    ;;
  stop)
    if [ -f "$dir/data/postmaster.pid" ]; then
      as_postgres "$bindir/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null || true
    fi
    ;;
  *) echo "unknown command $cmd" >&2; exit 2 ;;
esac

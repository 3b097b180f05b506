#!/usr/bin/env bash
# Open-loop ack latency of POST /api/v1/failures at one rate, one factor at a time, each on a
# fresh PostgreSQL cluster (fsync on) and a fresh server, so that the cost of the WAL's disk
# flushes, of PostgreSQL draining and of the CPU can be told apart (docs/benchmarks.md).
# Loopback only; stops what it starts by PID. About 40 s per setting with the defaults.
#
#   load/latency_factors.sh [OUTDIR]
#   RATE=5000 RUNS=3 DURATION=5 WARM=0 SETTINGS="disk memory breaker_open tmpfs" \
#     BIN=build/failcat load/latency_factors.sh
#
# Settings: disk (as benchmarked: WAL on disk, PostgreSQL draining it), memory
# (FAILCAT_DURABILITY=memory), breaker_open (WAL on disk, breaker forced open: PostgreSQL
# idle), tmpfs (the WAL in /dev/shm: a diagnostic, not durable). WARM=N first sends N seconds
# at 8,000 req/s, so that the WAL reaches its steady state (spare segments in use).
# Prints, per run, p50 / p90 / p99 / max in ms, then the server's mean group fsync and how many
# group fsyncs took 10 ms or longer (the stalls).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
OUT=${1:-/tmp/failcat-latency-$(date +%Y%m%d-%H%M%S)}
RATE=${RATE:-5000}
RUNS=${RUNS:-3}
DURATION=${DURATION:-5}
WARM=${WARM:-0}
SETTINGS=${SETTINGS:-disk memory breaker_open tmpfs}
BIN=${BIN:-$ROOT/build/failcat}
LOAD=${LOAD:-$ROOT/build/failcat-load}
CATALOG=$ROOT/config/failure_catalog.json
[ -x "$BIN" ] && [ -x "$LOAD" ] || { echo "build first: cmake --build build --target failcat failcat-load" >&2; exit 1; }
mkdir -p "$OUT"

SPID=""
PGDIR=""
SHM_WAL=""
cleanup() {
  if [ -n "$SPID" ]; then kill "$SPID" 2>/dev/null || true; wait "$SPID" 2>/dev/null || true; fi
  if [ -n "$PGDIR" ]; then scripts/pg-test-cluster.sh stop "$PGDIR" || true; rm -rf "$PGDIR"; fi
  if [ -n "$SHM_WAL" ]; then rm -rf "$SHM_WAL"; fi
  SPID=""; PGDIR=""; SHM_WAL=""
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
metric() { curl -fs "http://127.0.0.1:$1/metrics" | awk -v m="$2" '$1 == m {print $2}'; }

INPUT="$OUT/failures.jsonl"
"$LOAD" generate --catalog "$CATALOG" --count 100000 --seed 42 --tenants 8 --runs 500 --out "$INPUT" 2>/dev/null

for setting in $SETTINGS; do
  dir="$OUT/$setting"; mkdir -p "$dir"
  PGDIR=$(mktemp -d /tmp/failcat-latency-pg-XXXXXX)
  url=$(PG_TEST_FSYNC=on scripts/pg-test-cluster.sh start "$PGDIR")
  wal="$dir/wal"; durability=wal
  case "$setting" in
    disk|breaker_open) ;;
    memory) durability=memory ;;
    tmpfs) SHM_WAL=$(mktemp -d /dev/shm/failcat-latency-wal-XXXXXX); wal="$SHM_WAL" ;;
    *) echo "unknown setting $setting" >&2; exit 2 ;;
  esac
  port=$(free_port)
  env DATABASE_URL="$url" FAILCAT_PORT="$port" FAILCAT_CATALOG="$CATALOG" \
    FAILCAT_DURABILITY="$durability" FAILCAT_WAL_DIR="$wal" FAILCAT_EXPORT_DIR="$dir/exports" \
    FAILCAT_LOG_LEVEL=warn "$BIN" serve >"$dir/server.log" 2>&1 &
  SPID=$!
  for _ in $(seq 200); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.05; done
  if [ "$setting" = breaker_open ]; then
    curl -fs -X POST -H 'Content-Type: application/json' -d '{"action":"open"}' \
      "http://127.0.0.1:$port/api/v1/admin/breaker" >/dev/null
  fi
  if [ "$WARM" -gt 0 ]; then
    "$LOAD" http --port "$port" --input "$INPUT" --concurrency 64 --rate 8000 --duration "${WARM}s" \
      --json >"$dir/warm.json" 2>>"$dir/load.log"
  fi
  echo "== $setting ($RATE req/s, ${DURATION}s runs): p50 p90 p99 max (ms)"
  for r in $(seq "$RUNS"); do
    # The backlog of the previous run drains first (not while the breaker holds it).
    if [ "$setting" != breaker_open ]; then
      for _ in $(seq 1200); do [ "$(metric "$port" failcat_wal_backlog_rows)" = 0 ] && break; sleep 0.1; done
    fi
    "$LOAD" http --port "$port" --input "$INPUT" --concurrency 64 --rate "$RATE" \
      --duration "${DURATION}s" --json >"$dir/run_$r.json" 2>>"$dir/load.log"
    # The fifth column says what else happened: answers other than 202, requests a stall left
    # unsent at the end (their wait counts in the percentiles), timeouts.
    printf '%s\t%s\n' \
      "$(jq -r '[.latency_ms.p50, .latency_ms.p90, .latency_ms.p99, .latency_ms.max] | map(. * 100 | round / 100) | @tsv' "$dir/run_$r.json")" \
      "$(jq -r -f load/answers.jq "$dir/run_$r.json")"
  done
  sum=$(metric "$port" failcat_wal_fsync_seconds_sum); count=$(metric "$port" failcat_wal_fsync_seconds_count)
  fast=$(metric "$port" 'failcat_wal_fsync_seconds_bucket{le="0.01"}')
  awk -v s="${sum:-0}" -v c="${count:-0}" -v f="${fast:-0}" 'BEGIN { if (c > 0) printf "   group fsync: mean %.3f ms over %d, %d of them 10 ms or longer\n", 1000 * s / c, c, c - f }'
  cleanup
done
echo "results in $OUT"

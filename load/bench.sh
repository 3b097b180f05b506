#!/usr/bin/env bash
# Reproduces every figure of docs/benchmarks.md on this machine, each against its baseline in
# the same run, as medians of RUNS runs. Loopback only; starts and stops its own PostgreSQL
# cluster and its own servers (by PID). Bounded: about 10 minutes with the defaults.
#
#   load/bench.sh [OUTDIR]        # results in OUTDIR (default /tmp/failcat-bench-<time>)
#   RUNS=3 DURATION=5 CONNS=64 ROWS_READ=1000000 MATCHER=1 load/bench.sh
#   SECTIONS="http pg read" load/bench.sh   # a subset (default: all three)
#   BUILD_DIR=/tmp/build load/bench.sh      # binaries of another build tree (default: build/)
#   PG_TEST_FSYNC=off load/bench.sh         # PostgreSQL without fsync (default: on, as in production)
#   WAL_BASE=/dev/shm SECTIONS=http load/bench.sh  # the server's WAL elsewhere (a diagnostic:
#                                                  # /dev/shm shows the latency without disk flushes)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
OUT=${1:-/tmp/failcat-bench-$(date +%Y%m%d-%H%M%S)}
RUNS=${RUNS:-3}
DURATION=${DURATION:-5}
CONNS=${CONNS:-64}
ROWS_READ=${ROWS_READ:-1000000}
PIPE_COUNT=${PIPE_COUNT:-300000}
PG_ROWS=${PG_ROWS:-200000}
SECTIONS=${SECTIONS:-http pg read}
export PG_TEST_FSYNC=${PG_TEST_FSYNC:-on}
WAL_BASE=${WAL_BASE:-}
section() { case " $SECTIONS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
BUILD=${BUILD_DIR:-$ROOT/build}
BIN=$BUILD/failcat
LOAD=$BUILD/failcat-load
CATALOG=$ROOT/config/failure_catalog.json
mkdir -p "$OUT"
[ -x "$BIN" ] && [ -x "$LOAD" ] || { echo "build first: cmake --build build --target failcat failcat-load" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk missing (scripts/install-deps.sh)" >&2; exit 1; }

PIDS=()
CLEAN_DIRS=()
PGDIR=$(mktemp -d /tmp/failcat-bench-pg-XXXXXX)
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  scripts/pg-test-cluster.sh stop "$PGDIR" || true
  rm -rf "$PGDIR" "${CLEAN_DIRS[@]}"
}
trap cleanup EXIT
PGURL=$(scripts/pg-test-cluster.sh start "$PGDIR")
PGBASE=${PGURL%/*}
log() { echo "[$(date +%H:%M:%S)] $*" | tee -a "$OUT/bench.log" >&2; }
median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) print "nan"; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
fresh_db() { local name="bench_$1_$RANDOM$RANDOM"; psql "$PGBASE/postgres" -qAtX -c "CREATE DATABASE $name" >/dev/null; echo "$PGBASE/$name"; }
drop_db() { psql "$PGBASE/postgres" -qAtX -c "DROP DATABASE IF EXISTS ${1##*/} WITH (FORCE)" >/dev/null; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 200); do curl -fs "http://127.0.0.1:$1/healthz" >/dev/null 2>&1 && return 0; sleep 0.05; done; return 1; }
# wait_drained PORT: until the server's WAL backlog is empty (at most 120 s), so that a latency
# run measures its own load and not the catch-up of the run before it.
wait_drained() {
  for _ in $(seq 1200); do
    [ "$(curl -fs "http://127.0.0.1:$1/metrics" | awk '$1 == "failcat_wal_backlog_rows" {print $2}')" = 0 ] && return 0
    sleep 0.1
  done
  log "   (backlog not drained after 120 s)"
}

# start_failcat NAME DATABASE_URL -> sets SPID, SPORT
start_failcat() {
  local dir="$OUT/$1"; mkdir -p "$dir"; SPORT=$(free_port)
  local wal="$dir/wal"
  if [ -n "$WAL_BASE" ]; then wal=$(mktemp -d "$WAL_BASE/failcat-bench-wal-XXXXXX"); CLEAN_DIRS+=("$wal"); fi
  ( cd "$dir" && exec env DATABASE_URL="$2" FAILCAT_PORT=$SPORT FAILCAT_CATALOG="$CATALOG" \
      FAILCAT_DURABILITY=wal FAILCAT_WAL_DIR="$wal" FAILCAT_EXPORT_DIR="$dir/exports" \
      FAILCAT_LOG_LEVEL=warn "$BIN" serve >"$dir/server.log" 2>&1 ) &
  SPID=$!; PIDS+=("$SPID"); wait_http "$SPORT" || { cat "$dir/server.log"; exit 1; }
}
start_baseline() {
  local dir="$OUT/$1"; mkdir -p "$dir"; SPORT=$(free_port)
  "$LOAD" baseline-server --port "$SPORT" --threads 2 >"$dir/baseline.log" 2>&1 &
  SPID=$!; PIDS+=("$SPID"); wait_http "$SPORT" || true
}
stop_pid() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
peak_rss_mib() { awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }

{
  echo "machine: $(nproc) vCPU, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/Mem:/ {print $2}') GiB RAM"
  echo "os: $(. /etc/os-release; echo "$PRETTY_NAME"), kernel $(uname -r)"
  echo "compiler: $(c++ --version | head -1)"
  echo "postgres: $(psql "$PGURL" -qAtX -c 'show server_version'), fsync $(psql "$PGURL" -qAtX -c 'show fsync'), synchronous_commit $(psql "$PGURL" -qAtX -c 'show synchronous_commit')"
  echo "server WAL directory: ${WAL_BASE:-under $OUT} ($(df --output=fstype "${WAL_BASE:-$OUT}" | tail -1))"
  echo "packages: $(dpkg-query -W -f='${Package} ${Version}, ' libcaf-dev libpistache-dev libpqxx-dev wrk 2>/dev/null)"
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$OUT/machine.txt"

log "generating inputs"
"$LOAD" generate --catalog "$CATALOG" --count 100000 --seed 42 --tenants 8 --runs 500 --out "$OUT/failures.jsonl" 2>>"$OUT/bench.log"

# 1. HTTP ingest vs a bare Pistache 202 (wrk, keep-alive), PostgreSQL, WAL durability.
if section http; then
log "1. HTTP ingest vs bare Pistache (wrk -t2 -c$CONNS -d${DURATION}s, $RUNS runs each)"
# A run with answers other than 2xx measured refusals, not ingest: it is reported, not hidden.
wrk_rps() {
  WRK_BODIES="$OUT/failures.jsonl" wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency -s load/wrk_post.lua "http://127.0.0.1:$1" >"$2" 2>&1
  if grep -q "Non-2xx" "$2"; then log "   WARNING: $(grep "Non-2xx" "$2" | xargs) in $2"; fi
  awk '/Requests\/sec/ {print $2}' "$2"
}
# The same of a failcat-load report: every answer a 202, every due request sent.
check_answers() {
  local odd; odd=$(jq -r -f load/answers.jq "$1")
  if [ -n "$odd" ]; then log "   WARNING: $odd in $1"; fi
}
DB1=$(fresh_db http)
start_failcat http "$DB1"; FPID=$SPID; FPORT=$SPORT
start_baseline baseline; BPID=$SPID; BPORT=$SPORT
: >"$OUT/http_failcat.txt"; : >"$OUT/http_baseline.txt"
for r in $(seq "$RUNS"); do
  wrk_rps "$BPORT" "$OUT/wrk_baseline_$r.txt" >>"$OUT/http_baseline.txt"
  wrk_rps "$FPORT" "$OUT/wrk_failcat_$r.txt" >>"$OUT/http_failcat.txt"
done
stop_pid "$BPID"
F_RPS=$(median <"$OUT/http_failcat.txt"); B_RPS=$(median <"$OUT/http_baseline.txt")
case "$F_RPS" in ''|nan|0) echo "no failcat throughput measured (see $OUT/wrk_failcat_*.txt)" >&2; exit 1 ;; esac
log "   failcat $F_RPS req/s, baseline $B_RPS req/s, ratio $(awk -v a="$F_RPS" -v b="$B_RPS" 'BEGIN{printf "%.3f", a/b}')"

# 3. Ack latency at 25/50/75 % of the peak just measured (open loop, failcat-load).
log "3. ack latency at 25/50/75% of peak ($F_RPS req/s), open loop"
for pct in 25 50 75; do
  rate=$(awk -v a="$F_RPS" -v p="$pct" 'BEGIN{printf "%d", a*p/100}')
  : >"$OUT/lat_${pct}_p50.txt"; : >"$OUT/lat_${pct}_p99.txt"
  for r in $(seq "$RUNS"); do
    wait_drained "$FPORT"
    "$LOAD" http --port "$FPORT" --input "$OUT/failures.jsonl" --concurrency "$CONNS" --rate "$rate" \
      --duration "${DURATION}s" --json >"$OUT/lat_${pct}_$r.json" 2>>"$OUT/bench.log"
    check_answers "$OUT/lat_${pct}_$r.json"
    jq -r '.latency_ms.p50' "$OUT/lat_${pct}_$r.json" >>"$OUT/lat_${pct}_p50.txt"
    jq -r '.latency_ms.p99' "$OUT/lat_${pct}_$r.json" >>"$OUT/lat_${pct}_p99.txt"
  done
  log "   ${pct}% ($rate req/s): p50 $(median <"$OUT/lat_${pct}_p50.txt") ms, p99 $(median <"$OUT/lat_${pct}_p99.txt") ms"
done
# HTTP end to end on PostgreSQL: acknowledged and persisted rows/s, closed loop, same client.
: >"$OUT/http_e2e.txt"
for r in $(seq "$RUNS"); do
  wait_drained "$FPORT"  # the rows of the run before are not counted as this run's
  "$LOAD" http --port "$FPORT" --input "$OUT/failures.jsonl" --concurrency "$CONNS" --count 50000 \
    --wait-persisted 120s --json >"$OUT/http_e2e_$r.json" 2>>"$OUT/bench.log"
  check_answers "$OUT/http_e2e_$r.json"
  jq -r '.persisted.rows_per_s' "$OUT/http_e2e_$r.json" >>"$OUT/http_e2e.txt"
done
log "   HTTP single ingest persisted end to end: $(median <"$OUT/http_e2e.txt") rows/s"
echo "$(peak_rss_mib "$FPID")" >"$OUT/rss_http.txt"
log "5. peak RSS of failcat after the HTTP runs: $(cat "$OUT/rss_http.txt") MiB"
stop_pid "$FPID"; drop_db "$DB1"
fi

# 2. Persisted rows/s on PostgreSQL: in-process pipeline (WAL) vs raw COPY vs the seed's
#    one-INSERT-per-transaction, each on a fresh database, interleaved.
if section pg; then
log "2. PostgreSQL: pipeline vs COPY vs one INSERT per transaction ($PG_ROWS rows, $RUNS runs)"
: >"$OUT/pg_pipeline.txt"; : >"$OUT/pg_copy.txt"; : >"$OUT/pg_insert.txt"
for r in $(seq "$RUNS"); do
  db=$(fresh_db copy); "$LOAD" pg-copy --database-url "$db" --count "$PG_ROWS" --seed "$r" --json 2>>"$OUT/bench.log" | jq -r .rows_per_s >>"$OUT/pg_copy.txt"; drop_db "$db"
  db=$(fresh_db pipe); "$LOAD" actors --store postgres --durability wal --database-url "$db" --count "$PG_ROWS" --seed "$r" --json \
    >"$OUT/pg_pipeline_$r.json" 2>>"$OUT/bench.log" || true
  jq -r .persisted_rows_per_s "$OUT/pg_pipeline_$r.json" >>"$OUT/pg_pipeline.txt"; drop_db "$db"
  db=$(fresh_db insert); "$LOAD" pg-insert --database-url "$db" --count "$PG_ROWS" --duration 10s --seed "$r" --json 2>>"$OUT/bench.log" | jq -r .rows_per_s >>"$OUT/pg_insert.txt"; drop_db "$db"
done
P=$(median <"$OUT/pg_pipeline.txt"); C=$(median <"$OUT/pg_copy.txt"); I=$(median <"$OUT/pg_insert.txt")
log "   pipeline $P rows/s, COPY $C rows/s, seed-style INSERT $I rows/s; pipeline/COPY $(awk -v a="$P" -v b="$C" 'BEGIN{printf "%.3f", a/b}'), pipeline/seed $(awk -v a="$P" -v b="$I" 'BEGIN{printf "%.1f", a/b}')"

# In-process pipeline with the null store, memory and WAL durability.
log "   in-process pipeline, null store ($PIPE_COUNT failures, $RUNS runs each)"
for mode in memory wal; do
  : >"$OUT/null_$mode.txt"
  for r in $(seq "$RUNS"); do
    "$LOAD" actors --store null --durability "$mode" --count "$PIPE_COUNT" --duration 20s --json \
      >"$OUT/null_${mode}_$r.json" 2>>"$OUT/bench.log" || true
    jq -r .failures_per_s "$OUT/null_${mode}_$r.json" >>"$OUT/null_$mode.txt"
  done
  log "   null/$mode: $(median <"$OUT/null_$mode.txt") failures/s acknowledged"
done
fi

# 6. Read path on ROWS_READ rows: offset vs cursor at depth, and stats.
if section read; then
log "6. read path on $ROWS_READ rows"
DB6=$(fresh_db read)
"$LOAD" pg-copy --database-url "$DB6" --count "$ROWS_READ" --spread-hours 20 --seed 7 2>>"$OUT/bench.log" >/dev/null
psql "$DB6" -qAtX -c "VACUUM ANALYZE failure_matches" >/dev/null
start_failcat read "$DB6"; RPID=$SPID; RPORT=$SPORT
python3 - "$RPORT" "$DB6" "$ROWS_READ" "$RUNS" >"$OUT/read_path.txt" <<'PY'
import base64, http.client, json, statistics, subprocess, sys, time
port, db, rows, runs = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
def timed(path, n):
    out = []
    for _ in range(n):
        t = time.perf_counter(); conn.request("GET", path); r = conn.getresponse(); r.read()
        assert r.status == 200, (path, r.status)
        out.append((time.perf_counter() - t) * 1000)
    out.sort()
    return statistics.median(out), out[min(len(out) - 1, int(len(out) * 0.99))]
def filters_digest():
    # A cursor carries a digest of the filters it pages: take the server's, for these filters.
    conn.request("GET", "/api/v1/failures?limit=1"); r = conn.getresponse()
    issued = json.loads(r.read())["next_cursor"]
    return base64.urlsafe_b64decode(issued + "=" * (-len(issued) % 4)).decode().rsplit(":", 1)[1]
def cursor_at(depth):
    row = subprocess.run(["psql", db, "-qAtX", "-c",
        "SELECT (extract(epoch from created_at)*1000000)::bigint || ':' || id FROM failure_matches "
        "ORDER BY created_at DESC, id DESC OFFSET %d LIMIT 1" % (depth - 1)], capture_output=True, text=True).stdout.strip()
    return base64.urlsafe_b64encode((row + ":" + filters_digest()).encode()).decode().rstrip("=")
n = 10 * runs
timed("/api/v1/failures?limit=100", 3)  # warm
print("list limit=100 over %d rows: median / p99 ms of %d requests each" % (rows, n))
for depth in [0, 10000, 100000, 500000, rows - 100]:
    if depth > rows - 100: continue
    off = timed("/api/v1/failures?limit=100&offset=%d" % depth, n)
    cur = timed("/api/v1/failures?limit=100&cursor=%s" % cursor_at(depth), n) if depth else off
    print("depth %7d  offset %8.2f / %8.2f   cursor %8.2f / %8.2f" % (depth, off[0], off[1], cur[0], cur[1]))
st = timed("/api/v1/failures/stats?since_hours=24", max(5, runs * 2))
print("stats since_hours=24 (all %d rows in window): median %.1f ms, max %.1f ms" % (rows, st[0], st[1]))
PY
cat "$OUT/read_path.txt" | tee -a "$OUT/bench.log"
echo "$(peak_rss_mib "$RPID")" >"$OUT/rss_read.txt"
log "5. peak RSS of failcat after the read runs: $(cat "$OUT/rss_read.txt") MiB"
stop_pid "$RPID"; drop_db "$DB6"
fi

# 4. Matcher (Google Benchmark), optional because it takes several minutes.
if [ "${MATCHER:-0}" = 1 ] && [ -x "$BUILD/load/failcat-matcher-bench" ]; then
  log "4. matcher"
  "$BUILD/load/failcat-matcher-bench" --benchmark_out="$OUT/matcher.json" --benchmark_out_format=json >"$OUT/matcher.txt" 2>&1
fi
log "done: results in $OUT"

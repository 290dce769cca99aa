#!/usr/bin/env bash
# Switchyard panel API benchmark (issue 4, "Benchmark"). Prints figures and checks the
# issue's targets. Results and method: docs/benchmarks.md, section "Panel API".
#
# Usage: bench/panel.sh [--quick]
#   --quick   10,000 zones instead of 100,000 and short list runs, to check the script
#             works; the figures are not meaningful.
#
# What it measures, and how:
#   1. Bulk create of 10,000 zones end to end (API -> Postgres -> Redis), if the panel
#      serves POST /api/v1/zones/bulk; otherwise it says "bulk endpoint not available".
#   2. Full reconciliation of $ZONES zones: the zones table is filled directly with SQL
#      (INSERT ... SELECT generate_series: zones h<i>.bench.test, one upstream each), the
#      Redis prefix is empty, and `panel-api --reconcile-once` renders every
#      zone, compares with Redis and writes them all ("cold"); run again with nothing
#      to fix ("warm"). The time is the reconciler's own (duration_ms in its report:
#      from taking the lock to clearing the outbox) and the process' wall time.
#   3. Listing one page of zones with $ZONES in the table: wrk (1 thread, 4 keep-alive
#      connections, API key in the Authorization header) on GET /api/v1/zones?limit=50
#      (first page) and on a page in the middle, reached the way clients page (after=
#      the cursor of the page before it) and, for comparison, by offset $ZONES/2;
#      p50/p99 from wrk.
#
# Pinning (2 cores): core $SUT_CPU runs only the panel; core $LOAD_CPU runs wrk, curl
# and the private Redis. PostgreSQL is the configured server (not pinned).
#
# PostgreSQL: BENCH_DATABASE_ADMIN_URL (default postgres://postgres@127.0.0.1:5432/postgres)
# is used to create a database sy_bench_<pid>, dropped at exit. Redis: a private
# redis-server on a free port (no persistence) unless BENCH_REDIS_URL is set; the keys
# live under a prefix unique to this run and are deleted at exit. The panel binary is
# built with `cargo build --release -p panel-api` unless BENCH_PANEL_BIN names one.
# Exit status: non-zero when a step fails; a missed target is reported, not an error.
#
# Environment: BENCH_LOAD_CPU (0), BENCH_SUT_CPU (1), BENCH_REDIS_URL,
# BENCH_DATABASE_ADMIN_URL, BENCH_PANEL_BIN, BENCH_KEEP_WORK=1 keeps the logs.

set -Eeuo pipefail

QUICK=0
for arg in "$@"; do
    case "$arg" in
        --quick) QUICK=1 ;;
        -h | --help)
            sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "unknown argument: $arg (try --help)" >&2
            exit 2
            ;;
    esac
done

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOAD_CPU="${BENCH_LOAD_CPU:-0}"
SUT_CPU="${BENCH_SUT_CPU:-1}"
ADMIN_URL="${BENCH_DATABASE_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
if [[ $QUICK == 1 ]]; then
    ZONES=10000 LIST_SECS=3
else
    ZONES=100000 LIST_SECS=10
fi
BULK=10000
ADMIN_USER=bench
ADMIN_PASSWORD="bench-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"

log() { printf '%s\n' "$*" >&2; }
section() { printf '\n== %s ==\n' "$*"; }
die() {
    log "bench: $*"
    exit 1
}
trap 'log "bench: failed at line $LINENO: $BASH_COMMAND"' ERR

ensure_tools() {
    local missing=() pair cmd pkg
    for pair in wrk:wrk redis-server:redis-server redis-cli:redis-tools psql:postgresql-client \
        curl:curl jq:jq taskset:util-linux ss:iproute2 shuf:coreutils; do
        cmd="${pair%%:*}" pkg="${pair#*:}"
        command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
    done
    if ((${#missing[@]})); then
        log "installing with apt: ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
    (($(nproc) >= 2)) || die "needs 2 cores for pinning, found $(nproc)"
}

WORK=""
PANEL_PID=""
PRIVATE_REDIS_PID=""
REDIS_URL=""
PREFIX="sybench-panel:$$:"
DB="sy_bench_$$"
DB_CREATED=0

stop_pid() {
    local pid="$1" i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null || true
}

redis() { redis-cli -u "$REDIS_URL" "$@"; }

cleanup() {
    local rc=$?
    trap - ERR
    set +e
    [[ -n $PANEL_PID ]] && stop_pid "$PANEL_PID"
    if [[ -n $REDIS_URL && -z $PRIVATE_REDIS_PID ]]; then
        redis --scan --pattern "${PREFIX}*" | xargs -r -n 1000 redis-cli -u "$REDIS_URL" unlink >/dev/null ||
            log "bench: could not delete the keys under $PREFIX"
    fi
    [[ -n $PRIVATE_REDIS_PID ]] && stop_pid "$PRIVATE_REDIS_PID"
    [[ $DB_CREATED == 1 ]] && psql -q "$ADMIN_URL" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null
    if [[ -n $WORK && -d $WORK ]]; then
        if [[ ${BENCH_KEEP_WORK:-0} == 1 || $rc != 0 ]]; then
            log "bench: logs kept in $WORK"
        else
            rm -rf "$WORK"
        fi
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

now_ms() { date +%s%3N; }

# api METHOD PATH [BODY]: one API call with the bench key; prints the body, fails on >= 400.
api() {
    local args=(-fsS --noproxy '*' -X "$1" -H "authorization: Bearer $KEY")
    [[ $# -ge 3 ]] && args+=(-H 'content-type: application/json' --data-binary "$3")
    curl "${args[@]}" "$BASE$2"
}

# ---------------------------------------------------------------- setup
ensure_tools
WORK="$(mktemp -d -t sy-panel-bench.XXXXXX)"
if [[ -n ${BENCH_PANEL_BIN:-} ]]; then
    PANEL="$BENCH_PANEL_BIN"
else
    log "building switchyard-panel-api (release)"
    (cd "$ROOT" && cargo build --release -q -p panel-api)
    PANEL="$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps | jq -r .target_directory)/release/panel-api"
fi
[[ -x $PANEL ]] || die "no panel binary at $PANEL"

if [[ -n ${BENCH_REDIS_URL:-} ]]; then
    REDIS_URL="$BENCH_REDIS_URL"
else
    port="$(free_port)"
    taskset -c "$LOAD_CPU" redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
        --dir "$WORK" >"$WORK/redis.log" 2>&1 &
    PRIVATE_REDIS_PID=$!
    REDIS_URL="redis://127.0.0.1:$port"
    wait_until 10 "the private Redis" redis ping
fi

psql -q "$ADMIN_URL" -c "CREATE DATABASE $DB" >/dev/null
DB_CREATED=1
DATABASE_URL="${ADMIN_URL%/*}/$DB"
PANEL_PORT="$(free_port)"
BASE="http://127.0.0.1:$PANEL_PORT/api/v1"
export DATABASE_URL SWITCHYARD_REDIS_URL="$REDIS_URL" SWITCHYARD_KEY_PREFIX="$PREFIX" \
    SWITCHYARD_ADMIN_USER="$ADMIN_USER" SWITCHYARD_ADMIN_PASSWORD="$ADMIN_PASSWORD" \
    SWITCHYARD_LISTEN="127.0.0.1:$PANEL_PORT" RUST_LOG=warn
taskset -c "$SUT_CPU" "$PANEL" >"$WORK/panel.log" 2>&1 &
PANEL_PID=$!
wait_until 60 "the panel" curl -fsS --noproxy '*' "$BASE/health"
KEY="$(curl -fsS --noproxy '*' -u "$ADMIN_USER:$ADMIN_PASSWORD" -H 'content-type: application/json' \
    --data '{"name":"bench"}' "$BASE/api-keys" | jq -r .key)"
[[ $KEY == sy_* ]] || die "could not create an API key"
DOMAIN_ID="$(api POST /domains '{"name":"bench.test"}' | jq -r .id)"
psql_db() { psql -qtA "$DATABASE_URL" "$@"; }

# ---------------------------------------------------------------- 1. bulk create
section "1. bulk create of $BULK zones (API -> Postgres -> Redis)"
BULK_MS=""
probe="$(curl -sS --noproxy '*' -o /dev/null -w '%{http_code}' -X POST -H "authorization: Bearer $KEY" \
    -H 'content-type: application/json' --data '{}' "$BASE/zones/bulk")"
# 405: the path matches /zones/{id}, which has no POST; 404: nothing matches.
if [[ $probe == 404 || $probe == 405 ]]; then
    echo "bulk endpoint not available (POST /api/v1/zones/bulk answers $probe)"
else
    # The request shape of the bulk endpoint: {"create": [zone, ...]}.
    jq -nc --argjson n "$BULK" '{create: [range(0; $n) | {hostname: "b\(.).bench.test",
        path_prefix: "", backend: {kind: "upstreams", upstreams: [{url: "http://127.0.0.1:9001", weight: 1}]}}]}' \
        >"$WORK/bulk.json"
    t0="$(now_ms)"
    code="$(taskset -c "$LOAD_CPU" curl -sS --noproxy '*' -o "$WORK/bulk.out" -w '%{http_code}' -X POST \
        -H "authorization: Bearer $KEY" -H 'content-type: application/json' \
        --data-binary @"$WORK/bulk.json" "$BASE/zones/bulk")"
    BULK_MS=$(($(now_ms) - t0))
    [[ $code == 2* ]] || die "bulk create answered $code: $(head -c 500 "$WORK/bulk.out")"
    in_redis="$(redis scard "${PREFIX}zones")"
    echo "bulk create: ${BULK_MS} ms for $BULK zones (answer $code); Redis holds $in_redis records"
    ((in_redis >= BULK)) || die "only $in_redis records reached Redis"
fi

# ---------------------------------------------------------------- 2. reconciliation
section "2. full reconciliation of $ZONES zones"
have="$(psql_db -c "SELECT count(*) FROM zones")"
psql_db -c "INSERT INTO zones (id, domain_id, hostname, path_prefix, backend_kind, upstreams)
    SELECT gen_random_uuid(), '$DOMAIN_ID', 'h' || g || '.bench.test', '', 'upstreams',
        jsonb_build_array(jsonb_build_object('url', 'http://127.0.0.1:' || (10000 + g % 50000), 'weight', 1))
    FROM generate_series(1, $ZONES - $have) g" >/dev/null
psql_db -c "ANALYZE zones" >/dev/null
echo "zones in Postgres: $(psql_db -c "SELECT count(*) FROM zones")"
# Redis empty under the prefix, as after losing it.
redis --scan --pattern "${PREFIX}zone*" | xargs -r -n 1000 redis-cli -u "$REDIS_URL" unlink >/dev/null
reconcile_once() {
    local t0 out
    t0="$(now_ms)"
    # Logs are JSON lines on stdout too; the report is the last line.
    out="$(RUST_LOG=error taskset -c "$SUT_CPU" "$PANEL" --reconcile-once 2>>"$WORK/reconcile.log" | tail -n 1)"
    echo "$out wall_ms=$(($(now_ms) - t0))"
}
cold="$(reconcile_once)"
warm="$(reconcile_once)"
COLD_MS="$(jq -r .duration_ms <<<"${cold% wall_ms=*}")"
WARM_MS="$(jq -r .duration_ms <<<"${warm% wall_ms=*}")"
echo "cold (Redis empty): $cold"
echo "warm (no drift):    $warm"
records="$(redis scard "${PREFIX}zones")"
echo "Redis records after: $records"
[[ $(jq -r .missing <<<"${cold% wall_ms=*}") -ge $ZONES ]] || die "the cold run did not write every zone"
[[ $(jq -r '.missing + .changed + .stale' <<<"${warm% wall_ms=*}") == 0 ]] || die "the warm run found drift"

# ---------------------------------------------------------------- 3. list one page
section "3. list one page of zones with $ZONES in the table"
list_run() {
    local path="$1" out
    taskset -c "$LOAD_CPU" wrk -t1 -c4 -d1s -H "Authorization: Bearer $KEY" "$BASE$path" >/dev/null
    out="$(taskset -c "$LOAD_CPU" wrk -t1 -c4 -d"${LIST_SECS}s" -H "Authorization: Bearer $KEY" \
        -s "$ROOT/bench/wrk-report.lua" "$BASE$path" | grep '^RESULT')"
    echo "$out"
}
# The middle page the way a client pages: by the cursor (`after=`) the previous page
# handed out, taken here from the page just before the middle.
CURSOR="$(curl -fsS -H "Authorization: Bearer $KEY" "$BASE/zones?limit=50&offset=$((ZONES / 2 - 50))" | jq -er .next)"
FIRST="$(list_run "/zones?limit=50")"
MIDDLE="$(list_run "/zones?limit=50&after=$CURSOR")"
OFFSET="$(list_run "/zones?limit=50&offset=$((ZONES / 2))")"
echo "first page:                  $FIRST"
echo "middle page (after=cursor):  $MIDDLE"
echo "middle page (offset=$((ZONES / 2))): $OFFSET"
field() { awk -v k="$2" '{for (i = 1; i <= NF; i++) { n = index($i, "="); if (substr($i, 1, n - 1) == k) print substr($i, n + 1) }}' <<<"$1"; }
for r in "$FIRST" "$MIDDLE" "$OFFSET"; do
    [[ $(field "$r" errors) == 0 && $(field "$r" non2xx) == 0 ]] || die "list requests failed: $r"
done

# ---------------------------------------------------------------- targets
section "targets"
verdict() { if (($1)); then echo "met"; else echo "MISSED"; fi; }
if [[ -n $BULK_MS ]]; then
    echo "bulk create of $BULK zones < 3 s: ${BULK_MS} ms — $(verdict "BULK_MS < 3000")"
else
    echo "bulk create of $BULK zones < 3 s: not measured (bulk endpoint not available)"
fi
p99_first="$(field "$FIRST" p99_us)" p99_middle="$(field "$MIDDLE" p99_us)"
echo "list page p99 < 20 ms at $ZONES zones: first page p50 $(field "$FIRST" p50_us) us p99 $p99_first us," \
    "middle page by cursor p50 $(field "$MIDDLE" p50_us) us p99 $p99_middle us — $(verdict "p99_first < 20000 && p99_middle < 20000")"
echo "  (for comparison, not a target: middle page by offset p50 $(field "$OFFSET" p50_us) us p99 $(field "$OFFSET" p99_us) us)"
echo "full reconciliation of $ZONES zones < 10 s: cold ${COLD_MS} ms, warm ${WARM_MS} ms — $(verdict "COLD_MS < 10000")"

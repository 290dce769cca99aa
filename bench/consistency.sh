#!/usr/bin/env bash
# Switchyard cross-node consistency benchmark (issue 18, item 5). Prints figures and
# checks the issue's goals. Results and method: docs/benchmarks.md, "Cross-node
# consistency".
#
# Usage: bench/consistency.sh [--quick] [--release] [-- ARGS for the benchmark binary]
#   --quick     100 writes per steady phase instead of 1,000 and a shorter failover
#               phase, to check the script works; the figures are not meaningful.
#   --release   build and measure release binaries (fat LTO: a long build) instead of
#               debug ones. Debug is the default: what is timed is waiting — a PostgreSQL
#               commit and the write-through before the 200 (not timed), then Redis
#               replication, the proxies' blocking stream reads, one small record
#               fetched and applied — not CPU-bound work, and the debug binaries are the
#               ones the tests build anyway. See docs/benchmarks.md for both.
#   ARGS        passed on: --writes N, --zones N, --poll-gap-ms MS, --pace-ms MS,
#               --before-kill N, --after-promotion N, --no-failover, --with-policies
#               (every zone also has a route policy, so each write passes the panel's
#               data-format gate) (switchyard-consistency-bench --help).
#
# What runs (all on this machine, loopback, real processes; tests/src harness): a private
# Redis primary, two replicas and three sentinels (tests/src/sentinel.rs), one panel-api
# on a database of its own on the configured PostgreSQL (SWITCHYARD_TEST_DATABASE_URL,
# default postgres://postgres@127.0.0.1:5432/postgres) and the Sentinel URL, three
# switchyard-proxy (two reading replica A, one replica B, heartbeats to the primary via
# Sentinel), one echo upstream. Everything binds port 0 or, for redis-server which
# cannot, a port the harness checks it got. The shared Redis is not used. Phases:
#   1. steady state: sequential zone writes through the API; from each 200 to every
#      proxy answering with the new value (p50/p99/max);
#   2. the same under a steady background load on every proxy;
#   3. a Redis failover under that load: paced writes, the primary SIGKILLed, Sentinel
#      promotes a replica; per-write latency, when every proxy has converged (against
#      the proxies' full-reload interval), writes not answered 200, failed background
#      requests (goal: none).
# Exit status: 0 when every goal is met, 1 when one is missed, other on failure.
#
# Environment: CARGO_TARGET_DIR is honoured (binaries are taken from
# $CARGO_TARGET_DIR/<profile>, default target/<profile>); SWITCHYARD_BENCH_NO_BUILD=1
# measures the binaries as they are; SWITCHYARD_TEST_KEEP=1 keeps the processes' logs.

set -Eeuo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PROFILE=debug
ARGS=()
while (($#)); do
    case "$1" in
        --quick) ARGS+=(--writes 100 --before-kill 50 --after-promotion 100) ;;
        --release) PROFILE=release ;;
        --)
            shift
            ARGS+=("$@")
            break
            ;;
        -h | --help)
            sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "unknown argument: $1 (try --help)" >&2
            exit 2
            ;;
    esac
    shift
done

log() { printf '%s\n' "$*" >&2; }
die() {
    log "bench: $*"
    exit 2
}
command -v redis-server >/dev/null || die "redis-server is missing (apt-get install redis-server)"

if [[ ${SWITCHYARD_BENCH_NO_BUILD:-0} != 1 ]]; then
    flags=()
    [[ $PROFILE == release ]] && flags+=(--release)
    log "building $PROFILE binaries: panel-api, switchyard-proxy, switchyard-consistency-bench"
    (cd "$ROOT" && cargo build -q "${flags[@]}" -p panel-api --bin panel-api \
        -p proxy --bin switchyard-proxy \
        -p switchyard-tests --bin switchyard-consistency-bench) || die "build failed"
fi
# cargo resolves a relative CARGO_TARGET_DIR against the directory it runs in ($ROOT).
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
[[ $TARGET_DIR == /* ]] || TARGET_DIR="$ROOT/$TARGET_DIR"
BIN="$TARGET_DIR/$PROFILE/switchyard-consistency-bench"
[[ -x $BIN ]] || die "$BIN is missing (build it, or unset SWITCHYARD_BENCH_NO_BUILD)"

printf 'switchyard consistency benchmark, %s binaries, %s, %s cores, load average %s\n' \
    "$PROFILE" "$(date -u '+%Y-%m-%d %H:%M UTC')" "$(nproc)" \
    "$(cut -d' ' -f1-3 /proc/loadavg)"
# The binary starts panel-api and switchyard-proxy from its own directory.
exec "$BIN" "${ARGS[@]}"

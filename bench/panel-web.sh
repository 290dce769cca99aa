#!/usr/bin/env bash
# Web panel benchmark (issue #14): the zones page of a panel holding 100,000 zones, measured
# in Debian's Chromium. Not part of scripts/test. Method and figures: docs/web.md.
#
# Usage: bench/panel-web.sh [--quick] [--debug]
#   --quick   10,000 zones and 3 page loads instead of 100,000 and 5, to check the script.
#   --debug   use the debug binaries in target/debug (built by scripts/test) instead of
#             building and using release ones; the API is slower, the page the same.
#
# What it does (web/e2e/bench/panel-web.run.ts, on the browser tests' stack: a fresh
# PostgreSQL database, a Redis prefix of its own, panel-api serving web/dist):
#   1. Loads the zones through the API, POST /api/v1/zones/bulk with 20,000 zones per
#      request (the endpoint's limit): the path a user's import takes, audit and Redis
#      included, so the load time is itself a figure (SQL would be faster; bench/panel.sh
#      does that for the reconciler).
#   2. Loads /zones BENCH_RUNS times in a new browser context (empty HTTP cache, logged in
#      by cookie) and once more by reload (cached assets): first paint, first contentful
#      paint (Performance API) and when the zones table first holds a row (a
#      MutationObserver installed before the page's scripts), in the page's own clock from
#      the navigation's start; medians printed.
#   3. Prints the initial JavaScript gzipped: index.html's entry and modulepreloads, and
#      every script fetched until the rows showed.
#
# Environment: BENCH_ZONES, BENCH_RUNS, SWITCHYARD_TEST_DATABASE_URL (admin URL; default
# postgres://postgres@127.0.0.1:5432/postgres), SWITCHYARD_TEST_REDIS_URL (default
# redis://127.0.0.1:6379), SWITCHYARD_BIN_DIR (binaries to run; builds nothing), CHROMIUM_PATH,
# BENCH_SKIP_BUILD=1 (measure the web/dist already built).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/../scripts/lib.sh"
cd "$SWITCHYARD_ROOT"

quick=0 profile=release
for arg in "$@"; do
	case $arg in
	--quick) quick=1 ;;
	--debug) profile=debug ;;
	-h | --help)
		sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*) die "unknown argument: $arg (try --help)" ;;
	esac
done
if ((quick)); then
	export BENCH_ZONES=${BENCH_ZONES:-10000} BENCH_RUNS=${BENCH_RUNS:-3}
else
	export BENCH_ZONES=${BENCH_ZONES:-100000} BENCH_RUNS=${BENCH_RUNS:-5}
fi
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1

target=${CARGO_TARGET_DIR:-$SWITCHYARD_ROOT/target}
if [[ -z ${SWITCHYARD_BIN_DIR:-} ]]; then
	if [[ $profile == release ]]; then
		say "cargo build --release -p panel-api --bin panel-api"
		cargo build --release -p panel-api --bin panel-api
	else
		[[ -x $target/debug/panel-api ]] || die "$target/debug/panel-api is missing: cargo build -p panel-api --bin panel-api"
	fi
	export SWITCHYARD_BIN_DIR=$target/$profile
fi

cd web
[[ -d node_modules ]] || { say "npm ci (web/)"; npm ci --no-audit --no-fund; }
log=$(mktemp)
trap 'rm -f -- "$log"' EXIT
if [[ ${BENCH_SKIP_BUILD:-} == 1 ]]; then
	[[ -f dist/index.html ]] || die "web/dist is not built (BENCH_SKIP_BUILD=1 uses the one there)"
else
	say "npm run build (web/)"
	npm run --silent build >"$log" 2>&1 || {
		cat "$log" >&2
		die "npm run build failed"
	}
fi
say "measuring: $BENCH_ZONES zones, $BENCH_RUNS page loads, binaries from $(shown "$SWITCHYARD_BIN_DIR")"
status=0
NO_COLOR=1 npx vitest run --config e2e/bench/vitest.config.ts >"$log" 2>&1 || status=$?
grep -o 'panel-web:.*' "$log" || true
if ((status != 0)); then
	cat "$log" >&2
	die "the benchmark failed"
fi

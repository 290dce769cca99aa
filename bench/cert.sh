#!/usr/bin/env bash
# Switchyard cert-worker benchmark (issue 5, "Benchmark"). Prints figures and ratios and
# checks the issue's targets.
#
# Usage: bench/cert.sh
#
# Needs: the Debian packages `pebble` (pebble, pebble-challtestsrv) and `lego`, curl,
# and the project's Postgres and Redis (127.0.0.1:5432 / :6379, or
# SWITCHYARD_TEST_DATABASE_URL / SWITCHYARD_TEST_REDIS_URL).
#
# What it measures, and how (driver: cert-worker/examples/cert_bench.rs):
#   1. Time to issue one wildcard certificate (*.d and d) against Pebble, cert-worker vs
#      lego, in the same run against the same Pebble and the same DNS server
#      (pebble-challtestsrv; Pebble validates at once, PEBBLE_VA_NOSLEEP=1, and never
#      reuses authorizations, PEBBLE_AUTHZREUSE=0).
#      - cert-worker: Worker::run_once on one pending certificate, with a local server
#        speaking the Cloudflare API that writes the TXT records into challtestsrv; the
#        worker checks the records are visible at challtestsrv's DNS port before asking
#        the CA to validate (100 ms polls), as it does in production.
#      - lego v4 (`lego run --dns exec`): a shell hook that curls the same records into
#        challtestsrv. lego's own propagation check cannot run here (it looks up the
#        zone's SOA, which challtestsrv does not answer: NOTIMP), so it runs with
#        --dns.disable-cp, i.e. it does *less* work than cert-worker; its exec provider
#        solves the two authorizations of `*.d` and `d` one after the other
#        (EXEC_SEQUENCE_INTERVAL, set to its 1 s minimum here) — that is lego's design
#        for providers that cannot hold two values at one name, not an artefact.
#      Both register their ACME account in an untimed warm-up run; the figure is the
#      median of 5 timed runs, each for a fresh domain. The time includes process start
#      for lego (one `lego run` per certificate is how it is used) and nothing of the kind
#      for cert-worker (a long-running service).
#      The driver is a debug build: both sides are dominated by network round trips and
#      Pebble, not by CPU, and the workspace rule is to not build --release casually.
#   2. Renewal sweep: 10,000 active certificates (issued a day ago, 90-day lifetime, so
#      none due) are inserted, ANALYZEd, then Worker::sweep (the one-statement renewal
#      UPDATE plus the days-to-expiry metric query) is timed; median of 5.
#
# Targets: issuance ratio cert-worker / lego <= 1.0; sweep with nothing due < 1 s.
set -euo pipefail
cd "$(dirname -- "${BASH_SOURCE[0]}")/.."

for tool in pebble pebble-challtestsrv lego curl; do
	command -v "$tool" >/dev/null || {
		echo "bench/cert.sh: $tool is not installed (Debian packages: pebble lego curl)" >&2
		exit 1
	}
done

out=$(RUST_LOG=${RUST_LOG:-warn} cargo run -q -p cert-worker --example cert_bench 2>/dev/null) || {
	echo "bench/cert.sh: the benchmark driver failed; rerun with output:" >&2
	echo "  cargo run -p cert-worker --example cert_bench" >&2
	exit 1
}
printf '%s\n' "$out"

ratio=$(printf '%s\n' "$out" | sed -n 's/.*ratio cert-worker \/ lego = \([0-9.]*\).*/\1/p')
sweep=$(printf '%s\n' "$out" | awk '/renewal sweep/ {getline; print $1}')
echo
echo "targets:"
awk -v r="$ratio" 'BEGIN { printf "  issuance ratio %.2f <= 1.0  %s\n", r, (r <= 1.0 ? "met" : "NOT MET") }'
awk -v s="$sweep" 'BEGIN { printf "  sweep %.1f ms < 1000 ms  %s\n", s, (s < 1000 ? "met" : "NOT MET") }'

#!/usr/bin/env bash
# bench/callgrind.sh — instructions per request of the release proxy, counted by
# `valgrind --tool=callgrind`: repeatable for one binary and input whatever else the
# machine does (wall-clock figures are bench/proxy.sh's). Two windows each for a zone
# without policies and for part 1's policy set (POLICY_SET below, as in bench/proxy.sh),
# then one of HTTP/2 over TLS.
#
#   bench/callgrind.sh        # needs valgrind, nginx, wrk, h2load, a Redis at REDIS_URL
#   CALLGRIND_KEEP=dir bench/callgrind.sh   # also keeps each window's profile in dir,
#                                           # for callgrind_annotate --inclusive=yes
#
# Setup: one nginx worker answering 2 bytes, 1,002 zones written by bench/loader under a
# key prefix of its own (deleted at the end), the proxy with --threads 1 (and an HTTPS listener) under
# callgrind. Per window: wrk -t1 -c8 for 3 s warm-up, `callgrind_control -z`, wrk 10 s,
# `callgrind_control -d`; whole-process instructions divided by the requests wrk counted.
# HTTP/2 window (host h2): one certificate from Redis (the proxy's --default-cert, as
# h2load sends no SNI to an IP address), h2load -c8 -m1 (one stream at a time per
# connection, the shape of part 7's open-loop load) for 3 s, then exactly 20,000 requests.
set -euo pipefail
die() { printf 'callgrind.sh: %s\n' "$*" >&2; exit 1; }
BENCH="$(cd "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$BENCH")"
# shellcheck source=bench/lib.sh
source "$BENCH/lib.sh"
for tool in valgrind callgrind_control nginx wrk h2load curl; do
    command -v "$tool" >/dev/null || die "$tool is needed (apt-get install valgrind nginx-light wrk nghttp2-client curl)"
done
REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"
(cd "$ROOT" && cargo build --release -q -p proxy -p switchyard-bench) || die "build failed"
RELEASE="${CARGO_TARGET_DIR:-$ROOT/target}/release"
[[ $RELEASE == /* ]] || RELEASE="$ROOT/$RELEASE"
LOADER="$RELEASE/switchyard-bench"
POLICY_SET='{"rate_limit": {"requests": 1000000, "per_secs": 1, "burst": 1000000},
 "request_headers": {"set": [{"name": "x-env", "value": "bench {client_ip}"}]},
 "response_headers": {"add": [{"name": "x-served-by", "value": "switchyard"}]},
 "hsts": {"max_age_secs": 31536000}, "security_headers": true}'

WORK="$(mktemp -d /tmp/switchyard-callgrind.XXXXXX)"
PREFIX="callgrind-$$:"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    "$LOADER" cleanup --prefix "$PREFIX" --redis-url "$REDIS_URL" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -p "$WORK/tmp"

BACKEND="$(free_port)"
cat >"$WORK/nginx.conf" <<NGINX
worker_processes 1; pid $WORK/nginx.pid; error_log $WORK/nginx-error.log warn; daemon off;
events { worker_connections 1024; }
http {
    access_log off; keepalive_timeout 300s; keepalive_requests 1000000000;
    client_body_temp_path $WORK/tmp/b; proxy_temp_path $WORK/tmp/p; fastcgi_temp_path $WORK/tmp/f;
    uwsgi_temp_path $WORK/tmp/u; scgi_temp_path $WORK/tmp/s;
    server { listen 127.0.0.1:$BACKEND; location / { default_type text/plain; return 200 "a\n"; } }
}
NGINX
nginx -c "$WORK/nginx.conf" &
PIDS+=($!)
UP="http://127.0.0.1:$BACKEND"
wait_until 10 "the nginx backend" curl -fsS "$UP/"

"$LOADER" zone --prefix "$PREFIX" --host bench.test --upstream "$UP" --redis-url "$REDIS_URL" >/dev/null
"$LOADER" zone --prefix "$PREFIX" --host policies.bench.test --upstream "$UP" \
    --policies "$POLICY_SET" --redis-url "$REDIS_URL" >/dev/null
"$LOADER" zones --prefix "$PREFIX" --count 1000 --upstream "$UP" --redis-url "$REDIS_URL" >/dev/null
"$LOADER" certs --prefix "$PREFIX" --count 1 --pem-dir "$WORK" --redis-url "$REDIS_URL" >/dev/null

HTTP="$(free_port)" HTTPS="$(free_port)" ADMIN="$(free_port)"
valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.%p.out" \
    "$RELEASE/switchyard-proxy" --http-listen "127.0.0.1:$HTTP" --https-listen "127.0.0.1:$HTTPS" \
    --admin-listen "127.0.0.1:$ADMIN" --redis-url "$REDIS_URL" --key-prefix "$PREFIX" \
    --snapshot-file "$WORK/snapshot" --upgrade-sock "$WORK/upgrade.sock" --proxy-id "callgrind-$$" \
    --threads 1 --default-cert '*.c0.bench.test' >"$WORK/proxy.log" 2>&1 &
PROXY=$!
PIDS+=("$PROXY")
wait_until 300 "the proxy under callgrind" curl -fsS "http://127.0.0.1:$ADMIN/readyz"

echo "commit $(git -C "$ROOT" rev-parse --short HEAD), $(date -u +%Y-%m-%dT%H:%M:%SZ), load $(cut -d' ' -f1-3 /proc/loadavg)"
# window HOST WARM-UP-COMMAND -- MEASURED-COMMAND: runs the warm-up, zeroes the counters,
# runs the measured command (which prints the number of requests it made) and prints
# the instructions per request.
window() {
    local host="$1" warm=() measured=() requests instructions
    shift
    while [[ $1 != -- ]]; do warm+=("$1"); shift; done
    shift
    measured=("$@")
    "${warm[@]}" >/dev/null
    rm -f "$WORK"/cg.*.out.*
    callgrind_control -z "$PROXY" >/dev/null
    requests="$("${measured[@]}")"
    callgrind_control -d "$PROXY" >/dev/null
    wait_until 10 "the callgrind dump" compgen -G "$WORK/cg.*.out.*"
    if [[ -n ${CALLGRIND_KEEP:-} ]]; then
        mkdir -p "$CALLGRIND_KEEP"
        cat "$WORK"/cg.*.out.* >"$CALLGRIND_KEEP/$host.$(date +%s%N).out"
    fi
    instructions="$(cat "$WORK"/cg.*.out.* | awk '/^(summary|totals):/ {s = $2} END {print s}')"
    [[ -n $requests && $requests -gt 0 && -n $instructions ]] || die "no figures for $host"
    printf 'RESULT host=%s requests=%s instructions=%s per_request=%s\n' "$host" "$requests" \
        "$instructions" "$(awk -v a="$instructions" -v b="$requests" 'BEGIN { printf "%.0f", a / b }')"
}
wrk_requests() { wrk "$@" | awk '/requests in/ {print $1}'; }
# h2load's count of requests that succeeded; its output goes to stderr when none did.
h2load_requests() {
    local out n
    out="$(h2load "$@" 2>&1)"
    n="$(awk '/^requests:/ {print $8}' <<<"$out")"
    [[ ${n:-0} -gt 0 ]] || printf '%s\n' "$out" >&2
    echo "$n"
}

echo "commit $(git -C "$ROOT" rev-parse --short HEAD), $(date -u +%Y-%m-%dT%H:%M:%SZ), load $(cut -d' ' -f1-3 /proc/loadavg)"
for host in bench.test policies.bench.test bench.test policies.bench.test; do
    window "$host" wrk -t1 -c8 -d3s -H "Host: $host" "http://127.0.0.1:$HTTP/" -- \
        wrk_requests -t1 -c8 -d10s -H "Host: $host" "http://127.0.0.1:$HTTP/"
done
window h2 h2load -t1 -c8 -m1 -D 3 -H ':authority: bench.test' "https://127.0.0.1:$HTTPS/" -- \
    h2load_requests -t1 -c8 -m1 -n 20000 -H ':authority: bench.test' "https://127.0.0.1:$HTTPS/"

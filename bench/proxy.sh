#!/usr/bin/env bash
# Switchyard proxy benchmark (issue 3, "Benchmark"). Prints figures side by side with
# ratios and checks the issue's targets. Results and method: docs/benchmarks.md.
#
# Usage: bench/proxy.sh [--quick] [--parts=1,2,3,4,5,6,7,8] [--serve]
#   --quick   very short runs (a few minutes for all parts) to check the script works;
#             the figures are not meaningful.
#   --serve   start the servers of parts 5-8 as they are measured (pinned, same backend,
#             same certificate), print their addresses and wait (Ctrl-C stops them all):
#             for profiling by hand, e.g. `perf record -p PID` while h2load runs.
#   --parts   run only these of the eight parts below (default: all); the targets of the
#             parts not run are not printed.
#   SWITCHYARD_BENCH_NO_BUILD=1 (environment): measure the release binaries as they are,
#             without building them first.
#
# What it measures, and how:
#   1. HTTP throughput and latency, keep-alive, 2-byte responses: wrk (Debian) with one
#      thread and $CONNS connections, Host: bench.test, a warm-up run then a measured run
#      of fixed duration, repeated for $ROUNDS rounds rotating (a) direct to the backend,
#      (b) nginx (Debian nginx-light, 1 worker) as an equivalent reverse proxy with an
#      upstream keep-alive pool, (c) switchyard-proxy --local --threads 1, (d) the same
#      with --fast-path=false (every request through Pingora's HTTP/1 path), (e) HAProxy
#      (Debian haproxy, nbthread 1, http-reuse always; bench/haproxy.cfg.template), (f) (c)
#      on a zone with a typical policy set ($POLICY_SET: a rate limit that never
#      triggers, header edits, HSTS, the security preset; issue 16's target is within 5%
#      of (c)). The figure
#      shown is the median over rounds of each metric. Every proxy writes one access
#      log line per request to a file. This is a virtual machine: a measured run during
#      which the hypervisor took ("steal" in /proc/stat) more than 5 ms per second from
#      the two cores is measured again, up to 3 times, whatever the variant; the steal
#      of every counted run is printed.
#   2. Propagation latency: the shared Store API writes a zone change (one atomic batch)
#      pointing prop.bench.test at the other of two upstreams; a keep-alive client polls
#      the proxy in a tight loop until the answer comes from the new upstream. Latency is
#      from just before the write to the first good answer; p50/p99 over $PROP_CHANGES
#      sequential changes with a pseudo-random 0-10 ms pause between them ("back to
#      back", the issue's figure), then over $PROP_SPACED changes spaced 60-100 ms apart
#      ("spaced": each change finds the proxy idle). With 1,001 zones loaded, and again
#      ($PROP_BIG back-to-back changes) with the largest zone count of step 3.
#   3. Memory: zones h<i>.d<i/100>.bench.test are written to Redis (batches of 10k), a
#      fresh proxy is started on them, and VmRSS / VmHWM are read from /proc/PID/status
#      once /status reports every zone; VmRSS again after one incremental change (the
#      proxy then keeps a spare copy of its index for cheap updates). Then the largest
#      size again with an own upstream per zone (http://127.a.b.c, loopback; health
#      checks off), VmRSS 30 s after loading.
#   4. TLS handshakes/s: fresh full handshakes (TLS 1.3, X25519, no session resumption,
#      the client does not verify the chain so that it stays cheap) from a Rust client
#      (bench/loader, 32 concurrent connections, one thread), for a fixed time after a
#      warm-up. Dynamic: the proxy with $CERTS wildcard certificates from Redis (ECDSA
#      P-256, leaf + CA), SNI rotating over all of them. Static references: nginx with
#      one certificate in its config (the target's reference), HAProxy with the same
#      one, and the proxy with a single certificate and one SNI. Server CPU time is read
#      from /proc to show CPU per handshake too.
# Parts 5-8 compare switchyard-proxy --threads 1 with nginx (1 worker) and HAProxy
# (nbthread 1) on every protocol, all three terminating TLS with the same ECDSA P-256
# certificate (switchyard gets it from Redis, with 1,001 zones loaded; --default-cert
# names it for clients that send no usable SNI: h2load and oha send none to an IP
# address, wrk sends "127.0.0.1"), HTTP/2 by ALPN, the same backend; each figure is the
# median of rounds rotating nginx, HAProxy, switchyard, with the steal rule of part 1.
#   5. HTTP/1.1 over TLS 1.3, keep-alive: wrk -t1 -c$CONNS over https, as part 1.
#   6. HTTP/2 over TLS: h2load (Debian nghttp2-client) -t1 -c$CONNS -m10 (10 concurrent
#      streams per connection), a warm-up run then a measured run; requests/s, and
#      p50/p99 of the per-request times from h2load's --log-file (closed loop).
#   7. Open-loop latency: oha (cargo install oha --locked, done here when missing) at a
#      fixed rate (-q, --latency-correction: latency counted from when a request was due,
#      so a stalled server is not hidden by the client waiting), -c$CONNS, for HTTP/1.1
#      plain, HTTP/1.1 over TLS and HTTP/2 (--http2), at 50% and 80% of nginx's
#      capacity for that protocol (its median from part 1, 5 or 6 when run, otherwise one
#      closed-loop run measured here); p50/p99/p99.9, the rate achieved, $OL_ROUNDS rounds.
#   8. New TLS connections per second, TLS 1.3 (bench/loader, 32 concurrent, as part 4
#      but each connection also reads until the server closes it, so the session tickets
#      sent after the handshake are received): full handshakes (no resumption), then
#      with session resumption (the client keeps the tickets and offers one; the loader
#      counts the handshakes the server resumed, so a server that does not resume shows
#      0%).
#
# Pinning (2 cores): core $LOAD_CPU runs the load generators (wrk, h2load, oha, the Rust client), the
# backend nginx and the private Redis; core $SUT_CPU runs only the server under test
# (nginx, HAProxy or switchyard-proxy, all their threads). The same for every variant: in the
# "direct" row the backend shares its core with wrk and nothing runs on the other core.
#
# Redis: a private redis-server on a free port (no persistence) unless BENCH_REDIS_URL is
# set; every key lives under a prefix unique to this run and is deleted at exit.
# Everything listens on 127.0.0.1. Every process started here is stopped at exit.
# Exit status: non-zero when a step fails; a missed target is reported, not an error.
#
# Environment: BENCH_LOAD_CPU (0), BENCH_SUT_CPU (1), BENCH_REDIS_URL, BENCH_KEEP_WORK=1
# keeps the work directory (logs) after the run; CARGO_TARGET_DIR is honoured (the
# binaries are built and taken from $CARGO_TARGET_DIR/release, default target/release).

set -Eeuo pipefail

QUICK=0
SERVE=0
PARTS=1,2,3,4,5,6,7,8
for arg in "$@"; do
    case "$arg" in
        --quick) QUICK=1 ;;
        --serve) SERVE=1 ;;
        --parts=*)
            PARTS="${arg#--parts=}"
            [[ $PARTS =~ ^[1-8](,[1-8])*$ ]] || {
                echo "--parts: \"$PARTS\" is not a comma-separated list of 1 to 8" >&2
                exit 2
            }
            ;;
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
# The servers of parts 5-8 and nothing measured.
[[ $SERVE == 1 ]] && PARTS=5

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH="$ROOT/bench"
LOAD_CPU="${BENCH_LOAD_CPU:-0}"
SUT_CPU="${BENCH_SUT_CPU:-1}"
CONNS=32
if [[ $QUICK == 1 ]]; then
    WARMUP=1 DURATION=3 ROUNDS=1 OL_ROUNDS=1 PROP_CHANGES=100 PROP_SPACED=20 PROP_BIG=50 CERTS=50 HS_WARMUP=1 HS_SECS=3
    RSS_SIZES=(1000 10000)
else
    WARMUP=2 DURATION=10 ROUNDS=5 OL_ROUNDS=3 PROP_CHANGES=1000 PROP_SPACED=200 PROP_BIG=300 CERTS=1000 HS_WARMUP=2 HS_SECS=10
    RSS_SIZES=(1000 100000 1000000)
fi
FILLER_ZONES=1000
# Part 1 (f): the policy set of issue 16's benchmark.
POLICY_SET='{"rate_limit": {"requests": 1000000, "per_secs": 1, "burst": 1000000},
 "request_headers": {"set": [{"name": "x-env", "value": "bench {client_ip}"}]},
 "response_headers": {"add": [{"name": "x-served-by", "value": "switchyard"}]},
 "hsts": {"max_age_secs": 31536000}, "security_headers": true}'
# Part 1: a measured run in which the hypervisor took more than STEAL_MAX_MS from the two
# cores (5 ms per second of run, 0.25%) is measured again, at most STEAL_RETRIES times.
STEAL_MAX_MS=$((5 * DURATION))
STEAL_RETRIES=3
CLK_TCK="$(getconf CLK_TCK)"
want() { [[ ",$PARTS," == *",$1,"* ]]; }

log() { printf '%s\n' "$*" >&2; }
section() { printf '\n== %s ==\n' "$*"; }
die() {
    log "bench: $*"
    exit 1
}
trap 'log "bench: failed at line $LINENO: $BASH_COMMAND"' ERR

# ---------------------------------------------------------------- tools
ensure_tools() {
    local missing=() pair cmd pkg
    for pair in wrk:wrk nginx:nginx-light haproxy:haproxy h2load:nghttp2-client \
        redis-server:redis-server redis-cli:redis-tools \
        curl:curl jq:jq taskset:util-linux ss:iproute2 shuf:coreutils cargo:-; do
        cmd="${pair%%:*}" pkg="${pair#*:}"
        if ! command -v "$cmd" >/dev/null 2>&1; then
            [[ $pkg == - ]] && die "$cmd is missing and not installed by this script"
            missing+=("$pkg")
        fi
    done
    if ((${#missing[@]})); then
        log "installing with apt: ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
    (($(nproc) >= 2)) || die "needs 2 cores for pinning, found $(nproc)"
}

# ensure_oha: sets OHA; installs oha with cargo (into ~/.cargo/bin, kept for later runs)
# when it is missing. Only part 7 needs it.
OHA=""
ensure_oha() {
    local bin="${CARGO_HOME:-$HOME/.cargo}/bin/oha"
    OHA="$(command -v oha 2>/dev/null || true)"
    [[ -z $OHA && -x $bin ]] && OHA="$bin"
    if [[ -z $OHA ]]; then
        log "oha is missing: installing it with 'cargo install oha --locked' (once, kept in ${bin%/oha}; several minutes on 2 cores)"
        cargo install -q oha --locked || die "cargo install oha --locked failed"
        OHA="$bin"
    fi
    [[ -x $OHA ]] || die "no oha binary at $OHA"
    "$OHA" --help | grep -q -- '--latency-correction' || die "$OHA has no --latency-correction"
}

# ---------------------------------------------------------------- processes and cleanup
WORK=""
PIDS=()
REDIS_URL=""
PREFIX="sybench:$$:"
PRIVATE_REDIS_PID=""
LOADER=""

stop_pid() {
    # stop_pid PID [SIGNAL]: signal one process we started, wait up to 10 s, then KILL.
    local pid="$1" sig="${2:-TERM}" i
    kill -0 "$pid" 2>/dev/null || return 0
    kill "-$sig" "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "bench: process $pid did not stop on $sig, killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

forget_pid() {
    local pid="$1" kept=() p
    for p in "${PIDS[@]}"; do [[ $p == "$pid" ]] || kept+=("$p"); done
    PIDS=("${kept[@]}")
}

cleanup() {
    local rc=$? i
    trap - ERR
    set +e
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        # switchyard-proxy (Pingora) stops fast on SIGINT; nginx stops fast on TERM or INT;
        # HAProxy on TERM (a background job of this script ignores INT, and HAProxy keeps that).
        if [[ ${PIDS[i]} == "${HAPROXY_PID:-}" ]]; then
            stop_pid "${PIDS[i]}" TERM
        else
            stop_pid "${PIDS[i]}" INT
        fi
    done
    if [[ -n $REDIS_URL && -n $LOADER && -x $LOADER ]]; then
        "$LOADER" cleanup --redis-url "$REDIS_URL" --prefix "$PREFIX" >/dev/null 2>&1 ||
            log "bench: could not delete the keys under $PREFIX"
    fi
    [[ -n $PRIVATE_REDIS_PID ]] && stop_pid "$PRIVATE_REDIS_PID" TERM
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

http_ok() { curl -fsS --noproxy '*' -o /dev/null --max-time 2 "$@"; }

# cpu_ticks PID...: user+system clock ticks consumed so far by these processes.
cpu_ticks() {
    local total=0 pid f
    for pid in "$@"; do
        # Fields 14 and 15 of /proc/PID/stat, counted after the ")" ending the name.
        f="$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null)" || continue
        read -r -a fields <<<"$f"
        total=$((total + fields[11] + fields[12]))
    done
    echo "$total"
}

# steal_ticks: clock ticks the hypervisor took from this virtual machine's cores so far
# (the "steal" column of /proc/stat, both cores together).
steal_ticks() { awk '$1 == "cpu" {print $9}' /proc/stat; }

# field LINE KEY: the value of KEY=VALUE in a RESULT line.
field() { awk -v k="$2" '{for (i = 1; i <= NF; i++) { n = index($i, "="); if (substr($i, 1, n - 1) == k) print substr($i, n + 1) }}' <<<"$1"; }

# median VALUES...: the median (lower middle for an even count).
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

# ratio A B: A / B with two decimals.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b + 0 == 0) print "n/a"; else printf "%.2f", a / b }'; }

verdict() { if awk "BEGIN { exit !($1) }"; then echo PASS; else echo FAIL; fi; }

# loader COMMAND ARGS...: the Rust helper (bench/loader) pinned to the load core.
loader() {
    if [[ $1 == handshakes ]]; then
        taskset -c "$LOAD_CPU" "$LOADER" "$@"
    else
        taskset -c "$LOAD_CPU" "$LOADER" "$@" --redis-url "$REDIS_URL"
    fi
}

# ---------------------------------------------------------------- servers
render() {
    # render TEMPLATE OUT: fill the @NAME@ placeholders.
    sed -e "s|@WORK@|$WORK|g" -e "s|@BACKEND_A@|$BACKEND_A|g" -e "s|@BACKEND_B@|$BACKEND_B|g" \
        -e "s|@NGINX_HTTP@|$NGINX_HTTP|g" -e "s|@NGINX_HTTPS@|$NGINX_HTTPS|g" \
        -e "s|@NGINX_TLS@|$NGINX_TLS|g" -e "s|@HAPROXY_HTTP@|$HAPROXY_HTTP|g" \
        -e "s|@HAPROXY_TLS@|$HAPROXY_TLS|g" "$1" >"$2"
    if grep -q '@[A-Z_]*@' "$2"; then die "unfilled placeholder in $2"; fi
}

# start_nginx CPU CONF: nginx in the foreground (master + 1 worker) pinned to CPU; sets
# STARTED_PID to the master's pid.
start_nginx() {
    local cpu="$1" conf="$2"
    nginx -t -q -c "$conf" -p "$WORK/" -g 'daemon off;' 2>>"$WORK/nginx-t.log" ||
        die "nginx rejects $conf: $(cat "$WORK/nginx-t.log")"
    taskset -c "$cpu" nginx -c "$conf" -p "$WORK/" -g 'daemon off;' \
        >>"$WORK/nginx-stdout.log" 2>>"$WORK/nginx-stderr.log" &
    STARTED_PID=$!
    PIDS+=("$STARTED_PID")
}

# start_haproxy CPU CONF: HAProxy in the foreground (one process, nbthread 1 in CONF)
# pinned to CPU, its log (stdout) appended to a file; sets STARTED_PID.
start_haproxy() {
    local cpu="$1" conf="$2"
    haproxy -c -q -f "$conf" >>"$WORK/haproxy-check.log" 2>&1 ||
        die "haproxy rejects $conf: $(cat "$WORK/haproxy-check.log")"
    taskset -c "$cpu" haproxy -db -f "$conf" >>"$WORK/haproxy-access.log" 2>>"$WORK/haproxy-stderr.log" &
    STARTED_PID=$!
    PIDS+=("$STARTED_PID")
}

# start_proxy NAME KEY_PREFIX [FLAGS...]: switchyard-proxy pinned to the server core with
# one worker thread; sets PROXY_PID, PROXY_HTTP, PROXY_HTTPS, PROXY_ADMIN.
start_proxy() {
    local name="$1" prefix="$2"
    shift 2
    PROXY_HTTP="$(free_port)" PROXY_HTTPS="$(free_port)" PROXY_ADMIN="$(free_port)"
    taskset -c "$SUT_CPU" "$RELEASE/switchyard-proxy" \
        --http-listen "127.0.0.1:$PROXY_HTTP" --https-listen "127.0.0.1:$PROXY_HTTPS" \
        --admin-listen "127.0.0.1:$PROXY_ADMIN" --redis-url "$REDIS_URL" \
        --key-prefix "$prefix" --snapshot-file "$WORK/$name.snapshot" \
        --upgrade-sock "$WORK/$name-upgrade.sock" --proxy-id "bench-$name-$$" \
        --threads 1 "$@" >"$WORK/$name.log" 2>&1 &
    PROXY_PID=$!
    PIDS+=("$PROXY_PID")
    wait_until 900 "switchyard-proxy ($name) readiness" http_ok "http://127.0.0.1:$PROXY_ADMIN/readyz"
}

stop_proxy() {
    stop_pid "$PROXY_PID" INT
    forget_pid "$PROXY_PID"
    rm -f "$WORK"/*.snapshot "$WORK"/*.snapshot.tmp-*
}

proxy_status() { curl -fsS --noproxy '*' --max-time 5 "http://127.0.0.1:$PROXY_ADMIN/status"; }

# wait_zones N [SECONDS]: until the proxy's snapshot holds at least N zones.
zones_at_least() { (($(proxy_status | jq -r .zones) >= $1)); }
wait_zones() { wait_until "${2:-600}" "$1 zones in the proxy" zones_at_least "$1"; }
certs_at_least() { (($(proxy_status | jq -r .certs) >= $1)); }
version_at_least() { (($(proxy_status | jq -r .version) >= $1)); }

vm_kib() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

# ---------------------------------------------------------------- 1. throughput
# backend_accepts: connections the backend has accepted so far (its stub_status; the
# status request itself adds one).
backend_accepts() { curl -fsS --noproxy '*' --max-time 2 "$UP_A/nginx-status" | awk 'NR == 3 {print $1}'; }

# wrk_run NAME URL PIDS...: warm-up, then the measured run; prints a RESULT line with the
# server's CPU use (cpu_pct; 100 = one core) and the connections the backend accepted
# during the measured run (upstream_conns, the status request excluded) appended.
wrk_run() {
    local name="$1" url="$2" before after acc0 acc1 out steal0 steal1
    shift 2
    taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"${WARMUP}s" --timeout 5s \
        -H "Host: ${WRK_HOST:-bench.test}" "$url" >/dev/null
    acc0=$(backend_accepts)
    before=$(cpu_ticks "$@")
    steal0=$(steal_ticks)
    out="$(taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"${DURATION}s" --timeout 5s \
        -H "Host: ${WRK_HOST:-bench.test}" -s "$BENCH/wrk-report.lua" "$url" | grep '^RESULT')" ||
        die "wrk against $name printed no result"
    after=$(cpu_ticks "$@")
    steal1=$(steal_ticks)
    acc1=$(backend_accepts)
    [[ $(field "$out" errors) == 0 && $(field "$out" non2xx) == 0 ]] ||
        die "$name: wrk saw errors: $out"
    echo "$out cpu_pct=$(awk -v t=$((after - before)) -v hz="$CLK_TCK" -v d="$DURATION" 'BEGIN { printf "%.0f", 100 * t / hz / d }') upstream_conns=$((acc1 - acc0 - 1)) steal_ms=$(((steal1 - steal0) * 1000 / CLK_TCK))"
}

# ---------------------------------------------------------------- main
ensure_tools
section "setup"
echo "date:    $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -1), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM, $(uname -r)"
echo "pinning: core $LOAD_CPU = wrk / TLS client / backend nginx / Redis; core $SUT_CPU = server under test"
echo "mode:    $([[ $QUICK == 1 ]] && echo "QUICK (figures not meaningful)" || echo full)"
echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min load average before the run; other work on the machine adds noise)"
want 7 && ensure_oha
echo "tools:   $(nginx -v 2>&1 | sed 's/.*: //'), HAProxy $(haproxy -v | awk 'NR == 1 {print $3}'), wrk $(dpkg-query -W -f '${Version}' wrk 2>/dev/null || echo '?'), h2load $(h2load --version | awk '{print $2}' | sed 's|.*/||'), $(redis-server --version | awk '{print $3}')${OHA:+, $("$OHA" --version)}"

if [[ -n ${SWITCHYARD_BENCH_NO_BUILD:-} ]]; then
    # Measures the release binaries as they are (built earlier, e.g. before a change
    # that does not touch the request path); the figures then belong to that build.
    log "using the release binaries as built (SWITCHYARD_BENCH_NO_BUILD)"
else
    log "building release binaries (cargo build --release -p proxy -p switchyard-bench)"
    (cd "$ROOT" && cargo build --release -q -p proxy -p switchyard-bench) || die "build failed"
fi
# cargo resolves a relative CARGO_TARGET_DIR against the directory it runs in ($ROOT).
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
[[ $TARGET_DIR == /* ]] || TARGET_DIR="$ROOT/$TARGET_DIR"
RELEASE="$TARGET_DIR/release"
LOADER="$RELEASE/switchyard-bench"
[[ -x $RELEASE/switchyard-proxy ]] || die "no switchyard-proxy binary in $RELEASE"

WORK="$(mktemp -d /tmp/switchyard-bench.XXXXXX)"
chmod 755 "$WORK"
mkdir -p "$WORK/nginx-tmp"

if [[ -n ${BENCH_REDIS_URL:-} ]]; then
    REDIS_URL="$BENCH_REDIS_URL"
    echo "redis:   $REDIS_URL (keys under $PREFIX)"
else
    REDIS_PORT="$(free_port)"
    taskset -c "$LOAD_CPU" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' \
        --appendonly no --dir "$WORK" --logfile "$WORK/redis.log" --daemonize no &
    PRIVATE_REDIS_PID=$!
    REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
    wait_until 10 "private redis-server" redis-cli -p "$REDIS_PORT" ping
    echo "redis:   private redis-server on port $REDIS_PORT (keys under $PREFIX)"
fi

BACKEND_A="$(free_port)" BACKEND_B="$(free_port)" NGINX_HTTP="$(free_port)" NGINX_HTTPS="$(free_port)"
NGINX_TLS="$(free_port)" HAPROXY_HTTP="$(free_port)" HAPROXY_TLS="$(free_port)"
UP_A="http://127.0.0.1:$BACKEND_A" UP_B="http://127.0.0.1:$BACKEND_B"

log "writing data: bench zone, $FILLER_ZONES filler zones, certificates"
loader zone --prefix "${PREFIX}main:" --host bench.test --upstream "$UP_A" >/dev/null
# Part 1's (f): the same backend behind a typical policy set (docs/policies.md): a rate
# limit that never triggers, request and answer header edits, HSTS (HTTPS only, so
# skipped here) and the security preset.
loader zone --prefix "${PREFIX}main:" --host policies.bench.test --upstream "$UP_A" \
    --policies "$POLICY_SET" >/dev/null
loader zones --prefix "${PREFIX}main:" --count "$FILLER_ZONES" --upstream "$UP_A" >/dev/null
# One certificate for the static references; its PEM files are nginx's static certificate.
loader certs --prefix "${PREFIX}tls1:" --count 1 --pem-dir "$WORK" >/dev/null
# The same data as the main proxy's beside that certificate: the TLS proxy of parts 5-8.
loader zone --prefix "${PREFIX}tls1:" --host bench.test --upstream "$UP_A" >/dev/null
loader zones --prefix "${PREFIX}tls1:" --count "$FILLER_ZONES" --upstream "$UP_A" >/dev/null
# HAProxy reads the chain and the key from one file.
cat "$WORK/static-chain.pem" "$WORK/static-key.pem" >"$WORK/static-combined.pem"
CERTS_OUT="$(loader certs --prefix "${PREFIX}tlsN:" --count "$CERTS" | grep '^RESULT')"
echo "certs:   $CERTS wildcard certificates made and written in $(field "$CERTS_OUT" secs) s"

render "$BENCH/nginx-backend.conf.template" "$WORK/nginx-backend.conf"
render "$BENCH/nginx-proxy.conf.template" "$WORK/nginx-proxy.conf"
render "$BENCH/haproxy.cfg.template" "$WORK/haproxy.cfg"
start_nginx "$LOAD_CPU" "$WORK/nginx-backend.conf"
BACKEND_PID=$STARTED_PID
start_nginx "$SUT_CPU" "$WORK/nginx-proxy.conf"
NGINX_PID=$STARTED_PID
start_haproxy "$SUT_CPU" "$WORK/haproxy.cfg"
HAPROXY_PID=$STARTED_PID
wait_until 10 "backend nginx" http_ok "$UP_A/"
wait_until 10 "nginx proxy" http_ok -H 'Host: bench.test' "http://127.0.0.1:$NGINX_HTTP/"
wait_until 10 "HAProxy" http_ok -H 'Host: bench.test' "http://127.0.0.1:$HAPROXY_HTTP/"
# CPU is counted over the master and its worker(s).
mapfile -t BACKEND_PIDS < <(echo "$BACKEND_PID"; pgrep -P "$BACKEND_PID")
mapfile -t NGINX_PIDS < <(echo "$NGINX_PID"; pgrep -P "$NGINX_PID")

start_proxy main "${PREFIX}main:" --local
MAIN_PROXY_PID=$PROXY_PID MAIN_PROXY_HTTP=$PROXY_HTTP MAIN_PROXY_ADMIN=$PROXY_ADMIN
wait_zones $((FILLER_ZONES + 1)) 60
[[ $(curl -fsS --noproxy '*' -H 'Host: bench.test' "http://127.0.0.1:$PROXY_HTTP/") == a ]] ||
    die "switchyard-proxy does not route bench.test to the backend"

# ---------------------------------------------------------------- 1
if want 1; then
section "1. HTTP keep-alive throughput and latency (wrk -t1 -c$CONNS, ${WARMUP}s warm-up + ${DURATION}s, median of $ROUNDS round(s))"
# (d): a second proxy on the same data with the fast path off (every request through
# Pingora's HTTP/1 path), idle on the server core while the others are measured.
start_proxy pingora "${PREFIX}main:" --local --fast-path=false
PINGORA_PROXY_PID=$PROXY_PID PINGORA_PROXY_HTTP=$PROXY_HTTP
wait_zones $((FILLER_ZONES + 1)) 60
PROXY_PID=$MAIN_PROXY_PID PROXY_HTTP=$MAIN_PROXY_HTTP PROXY_ADMIN=$MAIN_PROXY_ADMIN
VARIANTS=(direct nginx switchyard pingora haproxy policies)
declare -A RPS P50 P99 CPU CONNS_UP STEAL
for variant in "${VARIANTS[@]}"; do RPS[$variant]="" P50[$variant]="" P99[$variant]="" CPU[$variant]="" CONNS_UP[$variant]="" STEAL[$variant]=""; done
REMEASURED=0
for ((round = 1; round <= ROUNDS; round++)); do
    for variant in "${VARIANTS[@]}"; do
        for ((attempt = 1; attempt <= STEAL_RETRIES + 1; attempt++)); do
            case $variant in
                direct) out="$(wrk_run direct "$UP_A/" "${BACKEND_PIDS[@]}")" ;;
                nginx) out="$(wrk_run nginx "http://127.0.0.1:$NGINX_HTTP/" "${NGINX_PIDS[@]}")" ;;
                switchyard) out="$(wrk_run switchyard "http://127.0.0.1:$MAIN_PROXY_HTTP/" "$MAIN_PROXY_PID")" ;;
                pingora) out="$(wrk_run pingora "http://127.0.0.1:$PINGORA_PROXY_HTTP/" "$PINGORA_PROXY_PID")" ;;
                haproxy) out="$(wrk_run haproxy "http://127.0.0.1:$HAPROXY_HTTP/" "$HAPROXY_PID")" ;;
                policies) out="$(WRK_HOST=policies.bench.test wrk_run policies "http://127.0.0.1:$MAIN_PROXY_HTTP/" "$MAIN_PROXY_PID")" ;;
            esac
            # A run the hypervisor disturbed is measured again (the same rule for every
            # variant); after STEAL_RETRIES the last one counts.
            (($(field "$out" steal_ms) <= STEAL_MAX_MS)) && break
            ((attempt <= STEAL_RETRIES)) || break
            log "  round $round $variant: steal $(field "$out" steal_ms) ms > $STEAL_MAX_MS ms, measuring again"
            REMEASURED=$((REMEASURED + 1))
        done
        log "  round $round $variant: $out"
        RPS[$variant]+=" $(field "$out" rps)"
        P50[$variant]+=" $(field "$out" p50_us)"
        P99[$variant]+=" $(field "$out" p99_us)"
        CPU[$variant]+=" $(field "$out" cpu_pct)"
        CONNS_UP[$variant]+=" $(field "$out" upstream_conns)"
        STEAL[$variant]+=" $(field "$out" steal_ms)"
    done
done
declare -A ROUNDS_SEEN
# shellcheck disable=SC2086 # the lists are meant to be split
for variant in "${VARIANTS[@]}"; do
    read -r -a r_rps <<<"${RPS[$variant]}"
    read -r -a r_p99 <<<"${P99[$variant]}"
    read -r -a r_steal <<<"${STEAL[$variant]}"
    ROUNDS_SEEN[$variant]=""
    for ((i = 0; i < ${#r_rps[@]}; i++)); do
        ROUNDS_SEEN[$variant]+="$(awk -v r="${r_rps[i]}" -v p="${r_p99[i]}" -v s="${r_steal[i]}" 'BEGIN { printf "  %.1fk/%.2f/%d", r / 1000, p / 1000, s }')"
    done
    RPS[$variant]="$(median ${RPS[$variant]})" P50[$variant]="$(median ${P50[$variant]})"
    P99[$variant]="$(median ${P99[$variant]})" CPU[$variant]="$(median ${CPU[$variant]})"
    CONNS_UP[$variant]="$(median ${CONNS_UP[$variant]})"
done
printf '%-22s %12s %10s %10s %12s %14s %14s %14s %16s\n' "" "requests/s" "p50 ms" "p99 ms" "server CPU" "rps vs nginx" "p99 vs nginx" "rps/CPU-core" "backend conns"
for variant in "${VARIANTS[@]}"; do
    case $variant in
        direct) label="(a) direct to backend" ;;
        nginx) label="(b) nginx 1 worker" ;;
        switchyard) label="(c) switchyard 1 thr" ;;
        pingora) label="(d) (c) Pingora only" ;;
        haproxy) label="(e) HAProxy 1 thread" ;;
        policies) label="(f) (c) with policies" ;;
    esac
    printf '%-22s %12s %10s %10s %11s%% %14s %14s %14s %16s\n' "$label" "${RPS[$variant]}" \
        "$(awk -v u="${P50[$variant]}" 'BEGIN { printf "%.3f", u / 1000 }')" \
        "$(awk -v u="${P99[$variant]}" 'BEGIN { printf "%.3f", u / 1000 }')" \
        "${CPU[$variant]}" "$(ratio "${RPS[$variant]}" "${RPS[nginx]}")" \
        "$(ratio "${P99[$variant]}" "${P99[nginx]}")" \
        "$(awk -v r="${RPS[$variant]}" -v c="${CPU[$variant]}" 'BEGIN { if (c > 0) printf "%.0f", r * 100 / c; else print "n/a" }')" \
        "${CONNS_UP[$variant]}"
done
echo "(server CPU: the nginx proxy's or switchyard's CPU during the measured run, 100% = one core; for 'direct' the backend's;"
echo " below ~95% the server core was shared with something else. rps/CPU-core: requests/s divided by that CPU share, less sensitive to such noise."
echo " backend conns: connections the backend accepted during the measured run; 0 for a proxy = upstream keep-alive reused throughout."
echo " (d) is the same proxy with --fast-path=false: every request through Pingora's HTTP/1 path, for reference;"
echo "  (f) is (c) on a zone with a typical policy set: a rate limit that never triggers, header edits, HSTS, the security preset)"
echo "switchyard with policies / without: requests/s $(ratio "${RPS[policies]}" "${RPS[switchyard]}") (target >= 0.95)"
echo "switchyard / HAProxy: requests/s $(ratio "${RPS[switchyard]}" "${RPS[haproxy]}"), p99 $(ratio "${P99[switchyard]}" "${P99[haproxy]}")"
echo "per round: requests/s / p99 ms / ms the hypervisor took from the two cores during the run (steal; tens of ms go with"
echo "latency spikes of whichever server was measured then):"
for variant in "${VARIANTS[@]}"; do printf '  %-11s%s\n' "$variant" "${ROUNDS_SEEN[$variant]}"; done
echo "runs measured again because of steal > $STEAL_MAX_MS ms: $REMEASURED"
stop_pid "$PINGORA_PROXY_PID" INT
forget_pid "$PINGORA_PROXY_PID"
T_RPS="$(ratio "${RPS[switchyard]}" "${RPS[nginx]}")"
T_RPS_OK="$(verdict "${RPS[switchyard]} >= ${RPS[nginx]}")"
T_P99_OK="$(verdict "${P99[switchyard]} <= ${P99[nginx]}")"
fi

# ---------------------------------------------------------------- 2
# propagate PREFIX CHANGES MIN_PAUSE MAX_PAUSE: a RESULT line.
propagate() {
    loader propagate --prefix "$1" --proxy "127.0.0.1:$PROXY_HTTP" --a "$UP_A=a" --b "$UP_B=b" \
        --changes "$2" --min-pause-ms "$3" --max-pause-ms "$4" --timeout-ms 30000 | grep '^RESULT' ||
        die "propagation run failed"
}
prop_header() { printf '%-40s %9s %9s %9s %9s %14s\n' "" "p50 ms" "p90 ms" "p99 ms" "max ms" "write p50 ms"; }
prop_row() {
    printf '%-40s %9s %9s %9s %9s %14s\n' "$1" "$(field "$2" p50_ms)" "$(field "$2" p90_ms)" \
        "$(field "$2" p99_ms)" "$(field "$2" max_ms)" "$(field "$2" write_p50_ms)"
}
if want 2; then
section "2. Propagation latency, Redis write -> first request routed by it ($((FILLER_ZONES + 1)) zones loaded)"
PROP1="$(propagate "${PREFIX}main:" "$PROP_CHANGES" 0 10)"
PROP1S="$(propagate "${PREFIX}main:" "$PROP_SPACED" 60 100)"
prop_header
prop_row "back to back, $PROP_CHANGES changes" "$PROP1"
prop_row "spaced 60-100 ms, $PROP_SPACED changes" "$PROP1S"
PROP_P99="$(field "$PROP1" p99_ms)"
fi
stop_proxy

# ---------------------------------------------------------------- 3
if want 3; then
section "3. Memory (VmRSS of switchyard-proxy with N zones loaded)"
RSS_PREFIX="${PREFIX}rss:"
loaded=0
extra=0
printf '%-10s %14s %14s %16s %18s %12s\n' "zones" "write to Redis" "proxy load" "VmRSS loaded" "VmRSS after change" "VmHWM"
for n in "${RSS_SIZES[@]}"; do
    if ((n > loaded)); then
        out="$(loader zones --prefix "$RSS_PREFIX" --start "$loaded" --count $((n - loaded)) --upstream "$UP_A" | grep '^RESULT')"
        write_secs="$(field "$out" secs)"
        loaded=$n
    fi
    t0=$(date +%s.%N)
    start_proxy "rss$n" "$RSS_PREFIX" --local
    wait_zones $((n + extra)) 900
    load_secs="$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')"
    sleep 1
    rss_loaded="$(vm_kib "$PROXY_PID" VmRSS)"
    # One incremental change: from then on the proxy keeps a spare copy of its index.
    v="$(loader zone --prefix "$RSS_PREFIX" --host "change.bench.test" --upstream "$UP_B" | grep '^RESULT')"
    extra=1
    wait_until 60 "the change to reach the proxy" version_at_least "$(field "$v" version)"
    sleep 1
    rss_changed="$(vm_kib "$PROXY_PID" VmRSS)"
    hwm="$(vm_kib "$PROXY_PID" VmHWM)"
    printf '%-10s %12s s %12s s %12s MiB %14s MiB %8s MiB\n' "$n" "$write_secs" "$load_secs" \
        "$(mib "$rss_loaded")" "$(mib "$rss_changed")" "$(mib "$hwm")"
    LAST_N=$n LAST_RSS=$rss_changed LAST_HWM=$hwm
    if [[ $n == "${RSS_SIZES[-1]}" ]]; then
        PROPN="$(propagate "$RSS_PREFIX" "$PROP_BIG" 0 10)"
        PROPNS="$(propagate "$RSS_PREFIX" "$PROP_SPACED" 60 100)"
        LAST_RSS_AFTER_PROP="$(vm_kib "$PROXY_PID" VmRSS)"
        LAST_HWM="$(vm_kib "$PROXY_PID" VmHWM)"
        # The target is checked against the largest steady-state figure seen.
        LAST_RSS="$(printf '%s\n' "$rss_loaded" "$rss_changed" "$LAST_RSS_AFTER_PROP" | sort -n | tail -1)"
    fi
    stop_proxy
done
# The same largest size with nothing shared between zones: zone i's upstream is
# http://127.a.b.c:PORT (loopback only), so every zone keeps an endpoint of its own. Active
# health checks are off for this row: they would connect to every one of them.
RSSD_PREFIX="${PREFIX}rssd:"
n="${RSS_SIZES[-1]}"
out="$(loader zones --prefix "$RSSD_PREFIX" --count "$n" --upstream "$UP_A" --distinct-upstreams | grep '^RESULT')"
write_secs="$(field "$out" secs)"
t0=$(date +%s.%N)
start_proxy "rssd$n" "$RSSD_PREFIX" --local --health-check-ms 0
wait_zones "$n" 900
load_secs="$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')"
# Steady state: RSS 30 s after the last zone was loaded (allocator trimming settles).
sleep "$((QUICK ? 2 : 30))"
rss_distinct="$(vm_kib "$PROXY_PID" VmRSS)"
hwm_distinct="$(vm_kib "$PROXY_PID" VmHWM)"
printf '%-10s %12s s %12s s %12s MiB %14s     %8s MiB  (an own upstream per zone)\n' "$n" "$write_secs" "$load_secs" \
    "$(mib "$rss_distinct")" "-" "$(mib "$hwm_distinct")"
stop_proxy
loader cleanup --prefix "$RSSD_PREFIX" >/dev/null
echo "(write to Redis: the loader writing the new zones in batches of 10k; proxy load: start to /status showing every zone)"
echo
echo "propagation with $LAST_N zones loaded:"
prop_header
prop_row "back to back, $PROP_BIG changes" "$PROPN"
prop_row "spaced 60-100 ms, $PROP_SPACED changes" "$PROPNS"
echo "VmRSS after these changes: $(mib "$LAST_RSS_AFTER_PROP") MiB, peak (VmHWM) over the proxy's life: $(mib "$LAST_HWM") MiB"
PROPN_P99="$(field "$PROPN" p99_ms)"
loader cleanup --prefix "$RSS_PREFIX" >/dev/null
fi

# ---------------------------------------------------------------- 4
if want 4; then
section "4. TLS handshakes/s (fresh handshakes, no resumption, 32 concurrent, ${HS_WARMUP}s warm-up + ${HS_SECS}s)"
# hs_run NAME ADDR DOMAINS PIDS...: a RESULT line; the loader also reports the server
# processes' CPU time over the measured window.
hs_run() {
    local name="$1" addr="$2" domains="$3" pids
    shift 3
    pids="$(IFS=,; echo "$*")"
    loader handshakes --addr "$addr" --domains "$domains" --warmup-secs "$HS_WARMUP" \
        --secs "$HS_SECS" --cpu-pids "$pids" 2>>"$WORK/handshakes.log" | grep '^RESULT' ||
        die "handshakes against $name failed (see $WORK/handshakes.log)"
}
start_proxy tlsN "${PREFIX}tlsN:"
wait_until 60 "$CERTS certificates in the proxy" certs_at_least "$CERTS"
HS_DYN="$(hs_run "switchyard ($CERTS certs)" "127.0.0.1:$PROXY_HTTPS" "$CERTS" "$PROXY_PID")"
log "  dynamic: $HS_DYN"
stop_proxy
start_proxy tls1 "${PREFIX}tls1:"
wait_until 60 "1 certificate in the proxy" certs_at_least 1
HS_ONE="$(hs_run "switchyard (1 cert)" "127.0.0.1:$PROXY_HTTPS" 1 "$PROXY_PID")"
log "  proxy, 1 cert: $HS_ONE"
stop_proxy
HS_NGX="$(hs_run "nginx (static)" "127.0.0.1:$NGINX_HTTPS" 1 "${NGINX_PIDS[@]}")"
log "  nginx static: $HS_NGX"
HS_HAP="$(hs_run "HAProxy (static)" "127.0.0.1:$HAPROXY_TLS" 1 "$HAPROXY_PID")"
log "  HAProxy static: $HS_HAP"
printf '%-44s %14s %16s %12s\n' "" "handshakes/s" "server CPU/hs" "vs nginx"
printf '%-44s %14s %13s us %12s\n' "switchyard, $CERTS certs from Redis, SNI spread" "$(field "$HS_DYN" per_sec)" \
    "$(field "$HS_DYN" server_cpu_us_per_hs)" "$(ratio "$(field "$HS_DYN" per_sec)" "$(field "$HS_NGX" per_sec)")"
printf '%-44s %14s %13s us %12s\n' "switchyard, 1 cert, one SNI" "$(field "$HS_ONE" per_sec)" \
    "$(field "$HS_ONE" server_cpu_us_per_hs)" "$(ratio "$(field "$HS_ONE" per_sec)" "$(field "$HS_NGX" per_sec)")"
printf '%-44s %14s %13s us %12s\n' "nginx, static certificate (reference)" "$(field "$HS_NGX" per_sec)" \
    "$(field "$HS_NGX" server_cpu_us_per_hs)" "1.00"
printf '%-44s %14s %13s us %12s\n' "HAProxy, the same static certificate" "$(field "$HS_HAP" per_sec)" \
    "$(field "$HS_HAP" server_cpu_us_per_hs)" "$(ratio "$(field "$HS_HAP" per_sec)" "$(field "$HS_NGX" per_sec)")"
echo "dynamic vs switchyard with 1 cert: $(ratio "$(field "$HS_DYN" per_sec)" "$(field "$HS_ONE" per_sec)")"
T_HS="$(ratio "$(field "$HS_DYN" per_sec)" "$(field "$HS_NGX" per_sec)")"
fi

# ---------------------------------------------------------------- 5-8: every protocol
# Parts 5-8 compare the three servers on the same footing: nginx (NGINX_TLS server of
# nginx-proxy.conf, plain on NGINX_HTTP), HAProxy, and a switchyard-proxy with TLS whose
# data (the static certificate, bench.test and the filler zones) is under ${PREFIX}tls1:.
SERVERS=(nginx haproxy switchyard)
declare -A RUNS=() CAP=() CAP_HOW=()
REMEASURED_NEW=0

# server_pids VARIANT: the processes whose CPU counts for VARIANT.
server_pids() {
    case $1 in
        nginx) echo "${NGINX_PIDS[@]}" ;;
        haproxy) echo "$HAPROXY_PID" ;;
        switchyard) echo "$TLSP_PID" ;;
    esac
}
# server_url PROTO VARIANT: plain -> http://..., tls and h2 -> https://...
server_url() {
    case $1:$2 in
        plain:nginx) echo "http://127.0.0.1:$NGINX_HTTP/" ;;
        plain:haproxy) echo "http://127.0.0.1:$HAPROXY_HTTP/" ;;
        plain:switchyard) echo "http://127.0.0.1:$TLSP_HTTP/" ;;
        *:nginx) echo "https://127.0.0.1:$NGINX_TLS/" ;;
        *:haproxy) echo "https://127.0.0.1:$HAPROXY_TLS/" ;;
        *:switchyard) echo "https://127.0.0.1:$TLSP_HTTPS/" ;;
    esac
}
server_label() {
    case $1 in
        nginx) echo "nginx, 1 worker" ;;
        haproxy) echo "HAProxy, nbthread 1" ;;
        switchyard) echo "switchyard, 1 thread" ;;
    esac
}

# measure PIDS COMMAND...: COMMAND prints one RESULT line; appended: the CPU the
# processes PIDS (space-separated) used while it ran (cpu_pct, 100 = one core), the
# hypervisor's steal over both cores (steal_ms) and the command's wall time (wall_ms).
measure() {
    local pids c0 c1 s0 s1 t0 t1 out
    read -r -a pids <<<"$1"
    shift
    c0=$(cpu_ticks "${pids[@]}") s0=$(steal_ticks) t0=$(date +%s%N)
    out="$("$@")" || return 1
    c1=$(cpu_ticks "${pids[@]}") s1=$(steal_ticks) t1=$(date +%s%N)
    echo "$out cpu_pct=$(awk -v t=$((c1 - c0)) -v hz="$CLK_TCK" -v w=$(((t1 - t0) / 1000000)) 'BEGIN { printf "%.0f", 100 * t / hz / (w / 1000) }') steal_ms=$(((s1 - s0) * 1000 / CLK_TCK)) wall_ms=$(((t1 - t0) / 1000000))"
}

# rounds TAG COUNT RUNNER VARIANTS...: COUNT rounds, each running "RUNNER VARIANT" for
# every variant in turn; a run in which the hypervisor took more than 5 ms per second
# (steal_ms against wall_ms, or DURATION) is measured again, at most STEAL_RETRIES
# times. The RESULT lines are kept in RUNS[TAG/VARIANT], one per round.
rounds() {
    local tag="$1" count="$2" runner="$3" round variant attempt out limit wall
    shift 3
    for variant in "$@"; do RUNS[$tag/$variant]=""; done
    for ((round = 1; round <= count; round++)); do
        for variant in "$@"; do
            for ((attempt = 1; attempt <= STEAL_RETRIES + 1; attempt++)); do
                out="$("$runner" "$variant")" || die "$tag: the run against $variant failed"
                wall="$(field "$out" wall_ms)"
                limit=$((${wall:-0} > 0 ? 5 * ${wall:-0} / 1000 : STEAL_MAX_MS))
                (($(field "$out" steal_ms) <= limit)) && break
                ((attempt <= STEAL_RETRIES)) || break
                log "  $tag round $round $variant: steal $(field "$out" steal_ms) ms > $limit ms, measuring again"
                REMEASURED_NEW=$((REMEASURED_NEW + 1))
            done
            log "  $tag round $round $variant: $out"
            RUNS[$tag/$variant]+="$out"$'\n'
        done
    done
}

# med TAG VARIANT KEY: the median of KEY over the rounds kept for TAG/VARIANT.
med() {
    local line vals=()
    while IFS= read -r line; do
        [[ -n $line ]] && vals+=("$(field "$line" "$3")")
    done <<<"${RUNS[$1/$2]}"
    median "${vals[@]}"
}
# per_round TAG VARIANT AWK_PRINTF KEY...: every round's KEYs, formatted by the awk
# printf arguments AWK_PRINTF over $1.. (the KEYs' values in order), two spaces apart.
per_round() {
    local tag="$1" variant="$2" fmt="$3" line k vals text=""
    shift 3
    while IFS= read -r line; do
        [[ -n $line ]] || continue
        vals=""
        for k in "$@"; do vals+=" $(field "$line" "$k")"; done
        text+="  $(awk "{ printf $fmt }" <<<"$vals")"
    done <<<"${RUNS[$tag/$variant]}"
    echo "$text"
}
ms() { awk -v u="$1" 'BEGIN { printf "%.3f", u / 1000 }'; }

# Runners: each prints one RESULT line with cpu_pct, steal_ms and wall_ms.
# HTTP/1.1 (plain or TLS) keep-alive throughput: wrk_run above (warm-up, then measured).
# shellcheck disable=SC2046 # server_pids lists pids to be split
h1_tput() { wrk_run "$1" "$(server_url "$H1_PROTO" "$1")" $(server_pids "$1"); }

# h2load_result URL SECS: one h2load run; requests/s and latencies (from --log-file).
h2load_result() {
    local out rps ok failed errored non2xx pct
    out="$(taskset -c "$LOAD_CPU" h2load -t1 -c"$CONNS" -m10 -D "$2" -H ':authority: bench.test' \
        --log-file="$WORK/h2load-requests.log" "$1" 2>&1)" || { log "$out"; return 1; }
    rps="$(awk '/^finished in/ {print $4}' <<<"$out")"
    read -r ok failed errored < <(awk '/^requests:/ {print $8, $10, $12}' <<<"$out")
    non2xx="$(awk '/^status codes:/ {print $5 + $7 + $9}' <<<"$out")"
    [[ -n $rps && -n $ok ]] || { log "$out"; return 1; }
    pct="$(awk -F'\t' '{print $3}' "$WORK/h2load-requests.log" | sort -n |
        awk '{v[NR] = $1} END { printf "p50_us=%d p99_us=%d p999_us=%d", v[int(NR * 0.5 + 0.5)], v[int(NR * 0.99 + 0.5)], v[int(NR * 0.999 + 0.5)] }')"
    echo "RESULT rps=${rps%.*} $pct requests=$ok failed=$failed errored=$errored non2xx=$non2xx"
}
h2_tput() {
    local url out
    url="$(server_url h2 "$1")"
    h2load_result "$url" "$WARMUP" >/dev/null || return 1
    out="$(measure "$(server_pids "$1")" h2load_result "$url" "$DURATION")" || return 1
    # Streams still open when the duration ends are counted as failed by h2load; errors
    # beyond that (resets, non-2xx) are not expected.
    [[ $(field "$out" errored) == 0 && $(field "$out" non2xx) == 0 ]] ||
        { log "$1: h2load saw errors: $out"; return 1; }
    echo "$out"
}

# oha_result PROTO URL RATE SECS: one open-loop run; p50/p99/p99.9 in microseconds.
# The URL's host is replaced by bench.test and oha told to connect to 127.0.0.1
# (--connect-to), so that Host (HTTP/1.1) and :authority (HTTP/2) name the zone; over TLS
# the SNI is then bench.test too, which only switchyard's --default-cert covers.
oha_result() {
    local proto="$1" url="$2" rate="$3" secs="$4" json port flags=()
    [[ $proto == h2 ]] && flags+=(--http2)
    [[ $proto != plain ]] && flags+=(--insecure)
    port="${url##*:}" port="${port%/}"
    json="$(taskset -c "$LOAD_CPU" "$OHA" -z "${secs}s" -q "$rate" -c "$CONNS" --latency-correction \
        --no-tui --output-format json "${flags[@]}" --connect-to "bench.test:$port:127.0.0.1:$port" \
        "${url/127.0.0.1/bench.test}")" || return 1
    jq -r '"RESULT rps=\(.summary.requestsPerSec | floor) p50_us=\(.latencyPercentiles.p50 * 1e6 | floor) p99_us=\(.latencyPercentiles.p99 * 1e6 | floor) p999_us=\(.latencyPercentiles["p99.9"] * 1e6 | floor) ok=\(.statusCodeDistribution["200"] // 0) other_status=\([.statusCodeDistribution | to_entries[] | select(.key != "200") | .value] | add // 0) errors=\([.errorDistribution | to_entries[] | select(.key | test("deadline") | not) | .value] | add // 0)"' <<<"$json"
}
ol_run() {
    local url out
    url="$(server_url "$OL_PROTO" "$1")"
    oha_result "$OL_PROTO" "$url" "$OL_RATE" "$WARMUP" >/dev/null || return 1
    out="$(measure "$(server_pids "$1")" oha_result "$OL_PROTO" "$url" "$OL_RATE" "$DURATION")" || return 1
    [[ $(field "$out" other_status) == 0 && $(field "$out" errors) == 0 ]] ||
        { log "$1: oha saw errors: $out"; return 1; }
    echo "$out"
}

# TLS connections (part 8): the loader, each connection drained (tickets received).
hs_new() {
    local addr pids
    case $1 in
        nginx) addr="127.0.0.1:$NGINX_TLS" ;;
        haproxy) addr="127.0.0.1:$HAPROXY_TLS" ;;
        switchyard) addr="127.0.0.1:$TLSP_HTTPS" ;;
    esac
    pids="$(server_pids "$1")"
    # shellcheck disable=SC2086 # HS_MODE is one flag
    measure "$pids" loader handshakes --addr "$addr" --domains 1 --warmup-secs "$HS_WARMUP" \
        --secs "$HS_SECS" --cpu-pids "${pids// /,}" $HS_MODE 2>>"$WORK/handshakes.log" |
        grep '^RESULT'
}

# tput_table TAG UNIT: rows nginx / HAProxy / switchyard with ratios.
tput_table() {
    local tag="$1" v
    printf '%-24s %12s %10s %10s %10s %12s %14s %10s %12s\n' "" "requests/s" "p50 ms" "p99 ms" "server CPU" "rps/CPU-core" "$2" "rps vs" "p99 vs"
    for v in "${SERVERS[@]}"; do
        local rps p50 p99 cpu vs_rps="" vs_p99=""
        rps="$(med "$tag" "$v" rps)" p50="$(med "$tag" "$v" p50_us)" p99="$(med "$tag" "$v" p99_us)" cpu="$(med "$tag" "$v" cpu_pct)"
        if [[ $v != switchyard ]]; then
            vs_rps="$(ratio "$(med "$tag" switchyard rps)" "$rps")" vs_p99="$(ratio "$(med "$tag" switchyard p99_us)" "$p99")"
        fi
        printf '%-24s %12s %10s %10s %9s%% %12s %14s %10s %12s\n' "$(server_label "$v")" "$rps" "$(ms "$p50")" "$(ms "$p99")" "$cpu" \
            "$(awk -v r="$rps" -v c="$cpu" 'BEGIN { if (c > 0) printf "%.0f", r * 100 / c; else print "n/a" }')" \
            "$(med "$tag" "$v" "$3")" "$vs_rps" "$vs_p99"
    done
    echo "(rps vs / p99 vs: switchyard's median divided by that server's; rps/CPU-core: requests/s per CPU-second of the server)"
    echo "per round, requests/s / p99 ms / steal ms:"
    for v in "${SERVERS[@]}"; do
        # shellcheck disable=SC2016 # awk code in single quotes
        printf '  %-11s%s\n' "$v" "$(per_round "$tag" "$v" '"%.1fk/%.2f/%d", $1 / 1000, $2 / 1000, $3' rps p99_us steal_ms)"
    done
}

if want 5 || want 6 || want 7 || want 8; then
    start_proxy tlsp "${PREFIX}tls1:" --default-cert '*.c0.bench.test'
    TLSP_PID=$PROXY_PID TLSP_HTTP=$PROXY_HTTP TLSP_HTTPS=$PROXY_HTTPS
    wait_zones $((FILLER_ZONES + 1)) 60
    wait_until 60 "the certificate in the TLS proxy" certs_at_least 1
    for v in "${SERVERS[@]}"; do
        for p in plain tls; do
            [[ $(curl -fsS --noproxy '*' -k -H 'Host: bench.test' "$(server_url "$p" "$v")") == a ]] ||
                die "$v does not proxy bench.test ($p) to the backend"
        done
        [[ $(curl -fsS --noproxy '*' -k --http2 -o /dev/null -w '%{http_version}' -H 'Host: bench.test' "$(server_url h2 "$v")") == 2 ]] ||
            die "$v does not speak HTTP/2 over TLS"
    done
    echo
    echo "servers for parts 5-8: nginx 1 worker (TLS on :$NGINX_TLS), HAProxy nbthread 1 (:$HAPROXY_HTTP, TLS :$HAPROXY_TLS),"
    echo "  switchyard-proxy --threads 1 (:$TLSP_HTTP, TLS :$TLSP_HTTPS), $((FILLER_ZONES + 1)) zones, 1 certificate from Redis"
    echo "  TLS as negotiated by an OpenSSL client ($(openssl version | awk '{print $1, $2}')):"
    for v in "${SERVERS[@]}"; do
        printf '    %-11s %s\n' "$v" "$(openssl s_client -connect "127.0.0.1:$(server_url tls "$v" | sed 's|.*:\([0-9]*\)/|\1|')" \
            -servername h.c0.bench.test -alpn h2,http/1.1 </dev/null 2>/dev/null |
            awk '/^New, / {v = $2 " " $5} /^Server Temp Key/ {k = $4} /^ALPN protocol/ {a = $3} END { print v " " k " ALPN " a }' | tr -d ',')"
    done
fi

if [[ $SERVE == 1 ]]; then
    section "serving (--serve): Ctrl-C stops everything"
    for v in "${SERVERS[@]}"; do
        printf '  %-11s pids %-16s %s  %s  %s\n' "$v" "$(server_pids "$v" | tr '\n' ' ')" \
            "$(server_url plain "$v")" "$(server_url tls "$v")" "$(server_url h2 "$v")"
    done
    echo "  send Host: bench.test (h2load: -H ':authority: bench.test'); load from core $LOAD_CPU, servers on core $SUT_CPU"
    # `wait` (not a foreground sleep) lets the exit trap run as soon as a signal comes.
    while :; do
        sleep 3600 &
        wait $!
    done
fi

# ---------------------------------------------------------------- 5
if want 5; then
    section "5. HTTP/1.1 over TLS 1.3, keep-alive (wrk -t1 -c$CONNS https, ${WARMUP}s warm-up + ${DURATION}s, median of $ROUNDS round(s))"
    H1_PROTO=tls
    rounds tls "$ROUNDS" h1_tput "${SERVERS[@]}"
    tput_table tls "backend conns" upstream_conns
    CAP[tls]="$(med tls nginx rps)" CAP_HOW[tls]="nginx's median in part 5"
fi

# ---------------------------------------------------------------- 6
if want 6; then
    section "6. HTTP/2 over TLS (h2load -t1 -c$CONNS -m10, ${WARMUP}s warm-up run + ${DURATION}s, median of $ROUNDS round(s))"
    rounds h2 "$ROUNDS" h2_tput "${SERVERS[@]}"
    tput_table h2 "streams failed" failed
    echo "(latencies: per-request times from h2load's log, closed loop with up to 10 streams per connection in flight;"
    echo " streams failed: those still open when the measured duration ended)"
    CAP[h2]="$(med h2 nginx rps)" CAP_HOW[h2]="nginx's median in part 6"
fi

# ---------------------------------------------------------------- 7
if want 7; then
    section "7. Open-loop latency at fixed rates (oha -q, --latency-correction, -c$CONNS, ${WARMUP}s warm-up + ${DURATION}s, median of $OL_ROUNDS round(s))"
    if want 1; then CAP[plain]="${RPS[nginx]}" CAP_HOW[plain]="nginx's median in part 1"; fi
    for proto in plain tls h2; do
        if [[ -z ${CAP[$proto]:-} ]]; then
            case $proto in
                plain | tls) H1_PROTO=$proto out="$(h1_tput nginx)" ;;
                h2) out="$(h2_tput nginx)" ;;
            esac
            CAP[$proto]="$(field "$out" rps)" CAP_HOW[$proto]="one closed-loop run of nginx measured here"
        fi
    done
    printf '%-9s %-5s %9s  %-11s %11s %9s %9s %10s %14s\n' "protocol" "load" "rate/s" "server" "achieved/s" "p50 ms" "p99 ms" "p99.9 ms" "p99 vs nginx"
    for proto in plain tls h2; do
        for pct in 50 80; do
            OL_PROTO=$proto OL_RATE=$((${CAP[$proto]} * pct / 100))
            rounds "ol-$proto-$pct" "$OL_ROUNDS" ol_run "${SERVERS[@]}"
            for v in "${SERVERS[@]}"; do
                p99="$(med "ol-$proto-$pct" "$v" p99_us)"
                printf '%-9s %-5s %9s  %-11s %11s %9s %9s %10s %14s\n' "$proto" "$pct%" "$OL_RATE" "$v" \
                    "$(med "ol-$proto-$pct" "$v" rps)" "$(ms "$(med "ol-$proto-$pct" "$v" p50_us)")" "$(ms "$p99")" \
                    "$(ms "$(med "ol-$proto-$pct" "$v" p999_us)")" "$(ratio "$p99" "$(med "ol-$proto-$pct" nginx p99_us)")"
            done
        done
    done
    echo "(rate: target requests/s = 50% / 80% of nginx's capacity for the protocol: plain ${CAP[plain]}/s (${CAP_HOW[plain]}),"
    echo " TLS ${CAP[tls]}/s (${CAP_HOW[tls]}), HTTP/2 ${CAP[h2]}/s (${CAP_HOW[h2]}); p99 vs: against nginx's p99 at the same rate;"
    echo " latencies are corrected for coordinated omission (counted from when each request was due); each run opens $CONNS new"
    echo " connections, so its first requests wait for the handshakes)"
    echo "per round, p99 ms / p99.9 ms / steal ms:"
    for proto in plain tls h2; do
        for pct in 50 80; do
            for v in "${SERVERS[@]}"; do
                # shellcheck disable=SC2016 # awk code in single quotes
                printf '  %-6s %-4s %-11s%s\n' "$proto" "$pct%" "$v" "$(per_round "ol-$proto-$pct" "$v" '"%.2f/%.2f/%d", $1 / 1000, $2 / 1000, $3' p99_us p999_us steal_ms)"
            done
        done
    done
fi

# ---------------------------------------------------------------- 8
if want 8; then
    section "8. New TLS 1.3 connections/s (32 concurrent, ${HS_WARMUP}s warm-up + ${HS_SECS}s, median of $ROUNDS round(s))"
    HS_MODE=--drain
    rounds hs-full "$ROUNDS" hs_new "${SERVERS[@]}"
    HS_MODE=--resume
    rounds hs-resume "$ROUNDS" hs_new "${SERVERS[@]}"
    printf '%-34s %16s %14s %16s %10s %12s\n' "" "connections/s" "resumed" "server CPU/conn" "vs nginx" "vs HAProxy"
    for mode in full resume; do
        for v in "${SERVERS[@]}"; do
            n="$(med "hs-$mode" "$v" per_sec)"
            printf '%-34s %16s %13s%% %13s us %10s %12s\n' "$(server_label "$v"), $([[ $mode == full ]] && echo full || echo resumption)" "$n" \
                "$(awk -v r="$(med "hs-$mode" "$v" resumed)" -v h="$(med "hs-$mode" "$v" handshakes)" 'BEGIN { printf "%.0f", (h > 0 ? 100 * r / h : 0) }')" \
                "$(med "hs-$mode" "$v" server_cpu_us_per_hs)" "$(ratio "$n" "$(med "hs-$mode" nginx per_sec)")" \
                "$(ratio "$n" "$(med "hs-$mode" haproxy per_sec)")"
        done
    done
    echo "(full: no resumption offered; resumption: the client offers a ticket from an earlier connection; resumed: share of"
    echo " the measured connections the server resumed, so 0% means it does not resume. Each connection: TCP connect, TLS 1.3"
    echo " handshake (X25519, ECDSA P-256), close_notify, read until the server closes)"
    echo "per round, handshakes/s / steal ms:"
    for mode in full resume; do
        for v in "${SERVERS[@]}"; do
            # shellcheck disable=SC2016 # awk code in single quotes
            printf '  %-7s %-11s%s\n' "$mode" "$v" "$(per_round "hs-$mode" "$v" '"%d/%d", $1, $2' per_sec steal_ms)"
        done
    done
fi
if want 5 || want 6 || want 7 || want 8; then
    echo
    echo "parts 5-8: runs measured again because of steal > 5 ms per second: $REMEASURED_NEW"
    stop_pid "$TLSP_PID" INT
    forget_pid "$TLSP_PID"
fi

# ---------------------------------------------------------------- summary of 1, 5-8
if want 1 || want 5 || want 6 || want 7 || want 8; then
    section "every protocol: switchyard against nginx and HAProxy (medians above)"
    # sum_row LABEL SWITCHYARD NGINX HAPROXY
    sum_row() { printf '%-44s %12s %12s %12s %10s %12s\n' "$1" "$2" "$3" "$4" "$(ratio "$2" "$3")" "$(ratio "$2" "$4")"; }
    printf '%-44s %12s %12s %12s %10s %12s\n' "" "switchyard" "nginx" "HAProxy" "sy/nginx" "sy/HAProxy"
    if want 1; then sum_row "HTTP/1.1 plain, requests/s (part 1)" "${RPS[switchyard]}" "${RPS[nginx]}" "${RPS[haproxy]}"; fi
    if want 5; then sum_row "HTTP/1.1 over TLS, requests/s (part 5)" "$(med tls switchyard rps)" "$(med tls nginx rps)" "$(med tls haproxy rps)"; fi
    if want 6; then sum_row "HTTP/2 over TLS, requests/s (part 6)" "$(med h2 switchyard rps)" "$(med h2 nginx rps)" "$(med h2 haproxy rps)"; fi
    if want 7; then
        for proto in plain tls h2; do
            for pct in 50 80; do
                sum_row "open loop $proto at $pct%, p99 ms (part 7)" "$(ms "$(med "ol-$proto-$pct" switchyard p99_us)")" \
                    "$(ms "$(med "ol-$proto-$pct" nginx p99_us)")" "$(ms "$(med "ol-$proto-$pct" haproxy p99_us)")"
            done
        done
    fi
    if want 8; then
        sum_row "new TLS connections/s, full (part 8)" "$(med hs-full switchyard per_sec)" "$(med hs-full nginx per_sec)" "$(med hs-full haproxy per_sec)"
        sum_row "new TLS connections/s, resumption (part 8)" "$(med hs-resume switchyard per_sec)" "$(med hs-resume nginx per_sec)" "$(med hs-resume haproxy per_sec)"
    fi
    echo "(for requests/s and connections/s higher is better; for p99 lower is better)"
fi

# ---------------------------------------------------------------- logs
section "switchyard-proxy log: warnings and errors (access log lines excluded)"
for f in "$WORK"/*.log; do
    case "$(basename "$f")" in main.log | rss*.log | tls*.log) ;; *) continue ;; esac
    summary="$(jq -Rr 'fromjson? | select(.target != "access") | select(.level == "ERROR" or .level == "WARN")
        | "\(.level) \(.fields.message // "" | gsub("[0-9]+"; "N") | .[0:110])"' "$f" | sort | uniq -c | sort -rn | head -5)"
    printf '%-12s %s\n' "$(basename "$f" .log):" "${summary:-none}" | sed '2,$s/^/             /'
done

# ---------------------------------------------------------------- targets
section "targets (issue 3)"
if want 1; then
    printf '%-58s %-28s %s\n' "throughput >= nginx (ratio >= 1.0)" "ratio $T_RPS" "$T_RPS_OK"
    printf '%-58s %-28s %s\n' "p99 <= nginx's" "$(awk -v a="${P99[switchyard]}" -v b="${P99[nginx]}" 'BEGIN { printf "%.3f vs %.3f ms", a / 1000, b / 1000 }')" "$T_P99_OK"
fi
if want 2; then
    printf '%-58s %-28s %s\n' "propagation p99 < 100 ms ($((FILLER_ZONES + 1)) zones)" "$PROP_P99 ms" "$(verdict "$PROP_P99 < 100")"
fi
if want 3; then
    printf '%-58s %-28s %s\n' "propagation p99 < 100 ms ($LAST_N zones)" "$PROPN_P99 ms" "$(verdict "$PROPN_P99 < 100")"
    printf '%-58s %-28s %s\n' "  (spaced changes at $LAST_N zones)" "$(field "$PROPNS" p99_ms) ms" "info"
    printf '%-58s %-28s %s\n' "RSS < 1 GiB with $LAST_N zones (steady; peak)" "$(mib "$LAST_RSS") MiB; peak $(mib "$LAST_HWM") MiB" "$(verdict "$LAST_RSS < 1048576")"
fi
if want 4; then
    printf '%-58s %-28s %s\n' "dynamic-cert handshakes >= 90% of static (nginx)" "ratio $T_HS" "$(verdict "$T_HS >= 0.9")"
fi
echo "load average after the run: $(cut -d' ' -f1-3 /proc/loadavg)"
if [[ $QUICK == 1 ]] && want 3; then
    echo "(--quick: short runs and $LAST_N zones at most; the 1M-zone RSS target needs the full run)"
fi

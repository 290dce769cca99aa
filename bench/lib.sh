# bench/lib.sh — helpers shared by the benchmark scripts (sourced; the caller defines die).

# free_port: a TCP port on 127.0.0.1 nothing listens on or connects from right now.
free_port() {
    local p
    for p in $(shuf -i 20000-32000 -n 500); do
        if [[ -z $(ss -Htan "sport = :$p") ]]; then
            echo "$p"
            return 0
        fi
    done
    die "no free port found"
}

# wait_until SECONDS DESCRIPTION COMMAND...: poll COMMAND every 50 ms until it succeeds.
wait_until() {
    local secs="$1" what="$2" deadline
    shift 2
    deadline=$(($(date +%s) + secs))
    until "$@" >/dev/null 2>&1; do
        (($(date +%s) < deadline)) || die "timed out after ${secs}s waiting for $what"
        sleep 0.05
    done
}

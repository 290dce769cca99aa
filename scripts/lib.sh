# shellcheck shell=bash
# Helpers shared by scripts/up, scripts/down and scripts/test. Source it; do not run it.
#
# Sets SWITCHYARD_ROOT (the repository root, whatever the caller's cwd) and the paths of
# the local stack under "$SWITCHYARD_ROOT/.local" (git-ignored). See docs/local-stack.md.

# shellcheck disable=SC2034 # the variables below are used by the scripts sourcing this file
SWITCHYARD_ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
# SWITCHYARD_LOCAL_DIR moves it (the run-command test keeps its stack in a directory of
# its own); the default is .local in the checkout.
LOCAL_DIR=${SWITCHYARD_LOCAL_DIR:-$SWITCHYARD_ROOT/.local}
LOGS_DIR="$LOCAL_DIR/logs"
RUN_DIR="$LOCAL_DIR/run"
PG_DIR="$LOCAL_DIR/postgres" # may be a symlink to PG_FALLBACK_BASE/<id>, see scripts/up
REDIS_DIR="$LOCAL_DIR/redis"

PG_PORT=54329
REDIS_PORT=63799
SERVICES=(proxy panel-api cert-worker)
# The local ACME CA (Debian package `pebble`) the cert worker uses when no ACME directory is
# configured, and its mock DNS server. Started before and stopped after the services.
ACME_HELPERS=(pebble-challtestsrv pebble)
# The demo: a tiny backend and the zone demo.localhost routed to it through the proxy.
DEMO_BACKEND=switchyard-demo-backend
DEMO_BACKEND_PORT=${SWITCHYARD_DEMO_BACKEND_PORT:-8090}
PROXY_HTTP_PORT=8080
PROXY_HTTPS_PORT=8443
PANEL_URL="http://127.0.0.1:8081"
ACME_DIR="$LOCAL_DIR/pebble"
PEBBLE_PORT=${SWITCHYARD_PEBBLE_PORT:-14000}
PEBBLE_MANAGEMENT_PORT=$((PEBBLE_PORT + 1))
CHALLTESTSRV_DNS_PORT=${SWITCHYARD_CHALLTESTSRV_DNS_PORT:-18053}
CHALLTESTSRV_MANAGEMENT_PORT=$((CHALLTESTSRV_DNS_PORT + 1))
# Where the private cluster lives when the PostgreSQL server user cannot reach the repo.
PG_FALLBACK_BASE=${SWITCHYARD_PG_FALLBACK_DIR:-/var/lib/switchyard-local}

if [[ -t 1 ]]; then _bold=$'\e[1m' _red=$'\e[31m' _reset=$'\e[0m'; else _bold='' _red='' _reset=''; fi
say() { printf '%s==>%s %s\n' "$_bold" "$_reset" "$*"; }
warn() { printf '%swarning:%s %s\n' "$_red" "$_reset" "$*" >&2; }
die() {
	printf '%serror:%s %s\n' "$_red" "$_reset" "$*" >&2
	exit 1
}

# shown PATH: PATH relative to the repository root when it lies inside, for messages.
shown() { printf '%s\n' "${1#"$SWITCHYARD_ROOT"/}"; }

# redact URL: the URL with any user:password@ part replaced by ***@, safe to print.
redact() { sed -E 's|^([a-zA-Z][a-zA-Z0-9+.-]*://)[^/?#]*@|\1***@|' <<<"$1"; }

# wait_until SECONDS DESCRIPTION COMMAND...: poll COMMAND every 0.2 s until it succeeds;
# fail (return 1, with a message) once SECONDS have passed.
wait_until() {
	local timeout=$1 what=$2
	shift 2
	local deadline=$((SECONDS + timeout))
	until "$@" >/dev/null 2>&1; do
		if ((SECONDS >= deadline)); then
			warn "timed out after ${timeout}s waiting for $what"
			return 1
		fi
		sleep 0.2
	done
}

# service_bin NAME: the executable a service runs as.
service_bin() {
	case $1 in
	proxy) printf 'switchyard-proxy\n' ;;
	*) printf '%s\n' "$1" ;;
	esac
}

# pid_alive PIDFILE NAME: true when PIDFILE names a live process whose command is NAME
# (so a recycled pid of some other program is never mistaken for ours). Prints the pid.
pid_alive() {
	local pidfile=$1 name=$2 pid comm
	[[ -r $pidfile ]] || return 1
	pid=$(<"$pidfile")
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
	[[ $comm == "${name:0:15}" ]] || return 1
	printf '%s\n' "$pid"
}

pid_gone() { ! kill -0 "$1" 2>/dev/null; }

# stop_pid PID NAME [GRACE]: SIGTERM, wait up to GRACE seconds (default 15), then SIGKILL.
stop_pid() {
	local pid=$1 name=$2 grace=${3:-15}
	kill -TERM "$pid" 2>/dev/null || return 0
	if wait_until "$grace" "$name (pid $pid) to exit" pid_gone "$pid"; then
		say "stopped $name (pid $pid)"
	else
		warn "$name (pid $pid) ignored SIGTERM for ${grace}s; sending SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
		wait_until 5 "$name (pid $pid) to die" pid_gone "$pid" || true
	fi
}

# as_root COMMAND...: run as root (directly, or through sudo when available).
as_root() {
	if ((EUID == 0)); then
		"$@"
	elif command -v sudo >/dev/null; then
		sudo "$@"
	else
		die "need root to run: $* (no sudo available)"
	fi
}

_apt_updated=
# apt_install PACKAGE...: install Debian packages quietly (apt-get update once per run).
apt_install() {
	command -v apt-get >/dev/null || die "missing $*, and no apt-get to install it; install it by hand"
	say "installing $* with apt-get"
	if [[ -z $_apt_updated ]]; then
		as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
		_apt_updated=1
	fi
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# pg_bindir [MAJOR]: directory of the PostgreSQL server binaries (initdb, pg_ctl), the
# given major version when installed, otherwise the newest one. Fails when there is none.
pg_bindir() {
	local want=${1:-} dir
	if [[ -n $want && -x /usr/lib/postgresql/$want/bin/pg_ctl ]]; then
		printf '%s\n' "/usr/lib/postgresql/$want/bin"
		return 0
	fi
	dir=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1)
	if [[ -n $dir && -x $dir/initdb && -x $dir/pg_ctl ]]; then
		printf '%s\n' "$dir"
	elif command -v pg_config >/dev/null && [[ -x "$(pg_config --bindir)/pg_ctl" ]]; then
		pg_config --bindir
	else
		return 1
	fi
}

# as_pg_owner DIR COMMAND...: run COMMAND as the owner of DIR (PostgreSQL refuses to run
# as root), from / so the command never trips over an unreadable working directory.
as_pg_owner() {
	local dir=$1 owner
	shift
	owner=$(stat -L -c %U "$dir")
	if ((EUID == 0)) && [[ $owner != root ]]; then
		(cd / && runuser -u "$owner" -- "$@")
	else
		(cd / && "$@")
	fi
}

# Shared helpers of the benchmark scripts in tests/bench.  Source it after
# setting BENCH_NAME:
#
#   BENCH_NAME=rados; source "$(dirname "$0")/lib.sh"; bench_init "${1:-}"
#
# bench_init BUILD_DIR checks havend/havenctl, makes the scratch dir $W
# (under $BENCH_TMP, default $TMPDIR or /tmp) and installs an EXIT trap that
# stops every process in PIDS by its pid, runs the commands in
# CLEANUP_CMDS (e.g. stopping a ceph-micro cluster) and removes $W (kept
# when BENCH_KEEP is set).
set -euo pipefail

PY=/usr/bin/python3
export PATH=/usr/bin:$PATH LC_ALL=C
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SOURCE_ROOT=$(cd "$BENCH_DIR/../.." && pwd)
PIDS=()
CLEANUP_CMDS=()
W=

msg() { echo "${BENCH_NAME:-bench}: $*"; }
die() { echo "${BENCH_NAME:-bench}: $*" >&2; exit 1; }

# needs PROG...: fail unless every PROG is installed.
needs() {
    local p
    for p in "$@"; do
        command -v "$p" >/dev/null || die "$p is not installed"
    done
}

alive() {
    local state
    [[ -r /proc/$1/stat ]] || return 1
    state=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
    [[ -n $state && $state != Z ]]
}

# stop PID: SIGTERM, wait up to 5 s, then SIGKILL; forget the pid.
stop() {
    local n=0 keep=() p
    kill -TERM "$1" 2>/dev/null || true
    while alive "$1" && ((n < 50)); do sleep 0.1; n=$((n + 1)); done
    alive "$1" && kill -KILL "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
    for p in "${PIDS[@]+"${PIDS[@]}"}"; do [[ $p == "$1" ]] || keep+=("$p"); done
    PIDS=("${keep[@]+"${keep[@]}"}")
}

bench_cleanup() {
    local rc=$? p c
    trap - EXIT
    for p in "${PIDS[@]+"${PIDS[@]}"}"; do stop "$p"; done
    for c in "${CLEANUP_CMDS[@]+"${CLEANUP_CMDS[@]}"}"; do eval "$c" || true; done
    if [[ -n ${BENCH_KEEP:-} && -n $W ]]; then
        echo "${BENCH_NAME:-bench}: keeping $W" >&2
    elif [[ -n $W && -d $W ]]; then
        rm -rf "$W"
    fi
    exit "$rc"
}

# bench_init BUILD_DIR: sets HAVEND, HAVENCTL, W; installs the traps.
bench_init() {
    local build=${1:-./build}
    [[ -d $build ]] || die "build dir $build not found"
    build=$(cd "$build" && pwd)
    HAVEND=$build/gateway/havend
    HAVENCTL=$build/gateway/havenctl
    for p in "$HAVEND" "$HAVENCTL"; do
        [[ -x $p ]] || die "$p not found (build first)"
    done
    needs openssl "$PY"
    W=$(mktemp -d "${BENCH_TMP:-${TMPDIR:-/tmp}}/haven-$BENCH_NAME.XXXXXX")
    trap bench_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    msg "scratch dir $W"
}

free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_port() {
    local i
    for i in $(seq 100); do
        "$PY" -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    die "nothing listens on port $1"
}

# settle: write back dirty pages of the previous run and let the disk and
# the CPUs go quiet, so one run's writeback is not charged to the next.
settle() {
    sync
    sleep "${BENCH_PAUSE:-2}"
}

# timed CMD...: run CMD (stdout discarded), print its wall-clock seconds.
timed() {
    local t0 t1
    t0=$(date +%s%N)
    "$@" >/dev/null
    t1=$(date +%s%N)
    "$PY" -c "print('%.3f' % (($t1 - $t0) / 1e9))"
}

# make_random FILE MIB: incompressible data (an AES-CTR keystream), read
# once so that it sits in the page cache.
make_random() {
    head -c $(($2 << 20)) /dev/zero |
        openssl enc -aes-128-ctr -nosalt -pbkdf2 -pass "pass:$RANDOM$RANDOM$RANDOM" \
            >"$1" 2>/dev/null
    cat "$1" >/dev/null
}

# hctl DIR ARGS...: havenctl that must succeed (stdout passed through).
hctl() {
    local dir=$1
    shift
    "$HAVENCTL" -d "$dir" "$@" || die "havenctl -d $dir $* failed"
}

# haven_init DIR: a new data dir (CA, server certificate, catalog).
# haven_tenant DIR TENANT BUNDLE [ROUTE]: add the tenant (on ROUTE, which
# must exist, if given) and issue its site bundle into BUNDLE.  The
# checkpoint interval is 30 days, so that no periodic restore point runs
# during a measurement.
haven_init() { hctl "$1" init >/dev/null; }
haven_tenant() {
    local dir=$1 t=$2 bundle=$3 route=${4:-}
    hctl "$dir" tenant add "$t" ${route:+--route "$route"} --checkpoint 2592000 >/dev/null
    hctl "$dir" cert issue "$t" --site "$t-site" --out "$bundle" >/dev/null
}

# havend_start DIR PORT: start havend (log in DIR/havend.log), wait for the
# port; sets HPID.
havend_start() {
    "$HAVEND" -d "$1" --listen "127.0.0.1:$2" 2>>"$1/havend.log" &
    HPID=$!
    PIDS+=("$HPID")
    wait_port "$2"
    alive "$HPID" || die "havend exited; log: $(tail -5 "$1/havend.log")"
}

# rss_kib PID / hwm_kib PID: resident set and its peak, KiB.
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
hwm_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }
# cpu_s PID: user + system CPU seconds the process used so far.
cpu_s() {
    awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); print ($12 + $13) / hz }' "/proc/$1/stat"
}

# stats V...: "median p95 min max" of the numbers (p95: nearest rank).
stats() {
    "$PY" - "$@" <<'EOF'
import math, statistics, sys
v = sorted(float(x) for x in sys.argv[1:])
p95 = v[max(0, math.ceil(0.95 * len(v)) - 1)]
print("%g %g %g %g" % (statistics.median(v), p95, v[0], v[-1]))
EOF
}

# disk_remove DIR TENANT/VM/DISK: remove a disk, retrying for up to 30 s
# while havend still holds it (the restore point it cuts when a session
# that wrote ends may still be running right after the client exits).
disk_remove() {
    local i out
    for i in $(seq 60); do
        out=$("$HAVENCTL" -d "$1" disk remove "$2" 2>&1) && return 0
        grep -q 'still in use' <<<"$out" || die "disk remove $2: $out"
        sleep 0.5
    done
    die "disk remove $2: still in use after 30 s"
}

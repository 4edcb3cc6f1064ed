# Shared helpers for haven's integration tests.  Source it first thing:
#
#   source "$(dirname "$0")/functions.sh"
#
# Environment: HAVEN_BUILD (meson build root) and HAVEN_SOURCE (source
# root); both default to paths relative to this file.  Every test gets its
# own temp dir ($TMP), starts its own havend on a free port, and the EXIT
# trap stops exactly the processes the test started and removes $TMP.

set -euo pipefail

HAVEN_SOURCE=${HAVEN_SOURCE:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
HAVEN_BUILD=${HAVEN_BUILD:-$HAVEN_SOURCE/build}
HAVEND=$HAVEN_BUILD/gateway/havend
HAVENCTL=$HAVEN_BUILD/gateway/havenctl
TESTDIR=$HAVEN_SOURCE/tests/integration
PROBE=$TESTDIR/probe.py
# The pyenv python that may come first on PATH has no nbd module, and nbdsh
# runs whatever python3 it finds first.
PY=/usr/bin/python3
export PATH=/usr/bin:$PATH
export LC_ALL=C

TEST_NAME=$(basename "$0" .sh)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/haven-$TEST_NAME.XXXXXX")
PIDS=()          # every background process this test started
HAVEND_PID=      # the running havend, if any
HAVEND_LOG=      # its log file
HAVEND_LOG_FROM= # where this run of havend starts in it (byte, 1-based)
CEPH_DIRS=()     # every ceph-micro cluster this test started
CEPH_CONF=       # the last one's ceph.conf

# --- reporting ------------------------------------------------------------

# check WHAT: announce the next check.
check() { echo "check: $*"; }
ok() { echo "  ok${1:+: $*}"; }

# fail MSG [EXPECTED ACTUAL]: print the failure, the tail of havend's log,
# and exit 1.
fail() {
    echo "FAIL: $1" >&2
    if [[ $# -ge 3 ]]; then
        echo "  expected: $2" >&2
        echo "  actual:   $3" >&2
    fi
    show_havend_log
    exit 1
}

show_havend_log() {
    local log
    for log in "$TMP"/*/havend.log; do
        [[ -f $log ]] || continue
        echo "--- tail of $log" >&2
        tail -n 30 "$log" >&2
    done
}

# skip MSG: exit 77, for a peer program that is truly absent.
skip() { echo "SKIP: $*"; exit 77; }

# requires PROG...: skip unless every PROG is installed.
requires() {
    local p
    for p in "$@"; do
        command -v "$p" >/dev/null 2>&1 || skip "$p is not installed"
    done
}

requires_python_nbd() {
    [[ -x $PY ]] || skip "$PY is not installed"
    "$PY" -c 'import nbd' 2>/dev/null || skip "python3-libnbd is not installed"
}

# havend and havenctl are the things under test: their absence is a failure.
requires_haven() {
    [[ -x $HAVEND ]] || fail "havend not built: $HAVEND"
    [[ -x $HAVENCTL ]] || fail "havenctl not built: $HAVENCTL"
}

# --- processes ------------------------------------------------------------

# alive PID: true while PID runs (a zombie counts as gone).
alive() {
    local state
    [[ -r /proc/$1/stat ]] || return 1
    state=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
    [[ -n $state && $state != Z ]]
}

# wait_exit PID SECONDS: wait for PID to end; sets WAIT_RC to its exit
# status, or returns 1 if it still runs after SECONDS.
WAIT_RC=
wait_exit() {
    local pid=$1 deadline=$((SECONDS + $2))
    while alive "$pid"; do
        ((SECONDS < deadline)) || return 1
        sleep 0.1
    done
    WAIT_RC=0
    wait "$pid" 2>/dev/null || WAIT_RC=$?
    forget_pid "$pid"
}

forget_pid() {
    local p keep=()
    for p in "${PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
    PIDS=("${keep[@]+"${keep[@]}"}")
}

cleanup() {
    local rc=$? p
    trap - EXIT
    for p in "${PIDS[@]+"${PIDS[@]}"}"; do
        alive "$p" && kill -TERM "$p" 2>/dev/null || true
    done
    for p in "${PIDS[@]+"${PIDS[@]}"}"; do
        local n=0
        while alive "$p" && ((n < 50)); do sleep 0.1; n=$((n + 1)); done
        alive "$p" && kill -KILL "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    # Ceph clusters last: havend may still have been talking to them.
    for p in "${CEPH_DIRS[@]+"${CEPH_DIRS[@]}"}"; do
        "$HAVEN_SOURCE/tests/ceph-micro" stop "$p" >/dev/null 2>&1 || true
    done
    if [[ -n ${KEEP_TMP:-} ]]; then
        echo "keeping $TMP" >&2
    else
        rm -rf "$TMP"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# free_port: a TCP port on 127.0.0.1 that nothing listens on right now.
free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# port_open PORT: true if something accepts connections on 127.0.0.1:PORT.
port_open() {
    "$PY" - "$1" <<'EOF' 2>/dev/null
import socket, sys
s = socket.socket()
s.settimeout(1)
try:
    s.connect(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
EOF
}

# --- haven ----------------------------------------------------------------

# hctl DIR ARGS...: run havenctl; fail the test if it fails.
hctl() {
    local dir=$1 out
    shift
    if ! out=$("$HAVENCTL" -d "$dir" "$@" 2>&1); then
        echo "$out" >&2
        fail "havenctl -d $dir $* failed"
    fi
    [[ -z $out ]] || echo "$out"
}

# haven_init DIR [SPEC]...: initialise a data dir and populate it.  SPEC is
#   tenant:NAME                     tenant add NAME
#   bundle:TENANT:SITE:DIR          cert issue TENANT --site SITE --out DIR
#   operator:SITE:DIR               cert issue --operator --site SITE --out DIR
#   disk:TENANT/VM/DISK:SIZE        disk create TENANT/VM/DISK --size SIZE
haven_init() {
    local dir=$1 spec t s d
    shift
    hctl "$dir" init >/dev/null
    for spec in "$@"; do
        case $spec in
        tenant:*) hctl "$dir" tenant add "${spec#tenant:}" >/dev/null ;;
        bundle:*)
            IFS=: read -r _ t s d <<<"$spec"
            hctl "$dir" cert issue "$t" --site "$s" --out "$d" >/dev/null ;;
        operator:*)
            IFS=: read -r _ s d <<<"$spec"
            hctl "$dir" cert issue --operator --site "$s" --out "$d" >/dev/null ;;
        disk:*)
            IFS=: read -r _ t s <<<"$spec"
            hctl "$dir" disk create "$t" --size "$s" >/dev/null ;;
        *) fail "haven_init: bad spec $spec" ;;
        esac
    done
}

# start_havend DIR PORT: start havend in the background (log in
# DIR/havend.log) and wait until it accepts connections.
start_havend() {
    local dir=$1 port=$2 deadline=$((SECONDS + 10)) from
    HAVEND_LOG=$dir/havend.log
    echo "=== havend start $(date +%T)" >>"$HAVEND_LOG"
    # Only this run's lines count: the log is appended across restarts.
    from=$(($(stat -c %s "$HAVEND_LOG") + 1))
    HAVEND_LOG_FROM=$from
    "$HAVEND" -d "$dir" --listen "127.0.0.1:$port" 2>>"$HAVEND_LOG" &
    HAVEND_PID=$!
    PIDS+=("$HAVEND_PID")
    while :; do
        alive "$HAVEND_PID" || fail "havend exited during start-up"
        if tail -c "+$from" "$HAVEND_LOG" | grep -q 'event=listening' ||
            port_open "$port"; then
            break
        fi
        ((SECONDS < deadline)) || fail "havend not listening on port $port after 10 s"
        sleep 0.1
    done
    echo "havend pid $HAVEND_PID listening on 127.0.0.1:$port"
}

# stop_havend [SECONDS]: SIGTERM havend and require exit status 0 within
# SECONDS (default 10).
stop_havend() {
    local limit=${1:-10}
    [[ -n $HAVEND_PID ]] || fail "stop_havend: havend is not running"
    kill -TERM "$HAVEND_PID"
    if ! wait_exit "$HAVEND_PID" "$limit"; then
        fail "havend still running $limit s after SIGTERM" "exit" "running"
    fi
    [[ $WAIT_RC -eq 0 ]] || fail "havend exit status after SIGTERM" 0 "$WAIT_RC"
    HAVEND_PID=
}

# kill9_havend: kill -9 havend, as a crash would, and wait for it to go.
kill9_havend() {
    [[ -n $HAVEND_PID ]] || fail "kill9_havend: havend is not running"
    kill -KILL "$HAVEND_PID"
    wait_exit "$HAVEND_PID" 10 || fail "havend survived kill -9"
    HAVEND_PID=
}

# wait_havend_log REGEX SECONDS: wait until the running havend logged a
# line matching REGEX (since its start).
wait_havend_log() {
    local deadline=$((SECONDS + $2))
    until havend_log | grep -qE "$1"; do
        havend_alive
        ((SECONDS < deadline)) || fail "havend logged no '$1' within $2 s"
        sleep 0.05
    done
}

# havend_log: what the running havend logged since its start.  Read as
# `havend_log | grep -q ...`, tail is killed by SIGPIPE when grep has
# found its line before the end of a long log; under pipefail that would
# read as no match, so that status (141) counts as success.
havend_log() { tail -c "+$HAVEND_LOG_FROM" "$HAVEND_LOG" || (($? == 141)); }

# wait_ready FILE WHAT [SECONDS]: wait up to SECONDS (default 10) for a
# background client to print "ready" into FILE; fail with WHAT and the
# file's content if it does not.
wait_ready() {
    local deadline=$((SECONDS + ${3:-10}))
    until grep -q ready "$1"; do
        ((SECONDS < deadline)) || fail "$2 was not ready within ${3:-10} s: $(cat "$1")"
        sleep 0.1
    done
}

# wait_route_open ROUTE: havend opens rados routes in the background after
# it listens; wait until ROUTE is open (clients that come earlier are
# refused with NBD_REP_ERR_SHUTDOWN).
wait_route_open() { wait_havend_log "event=route_open route=$1 " 30; }

# havend_alive: fail unless the havend we started still runs.
havend_alive() {
    [[ -n $HAVEND_PID ]] && alive "$HAVEND_PID" || fail "havend is no longer running"
}

# --- clients --------------------------------------------------------------

nbd_uri() { echo "nbds://127.0.0.1:$2/$3?tls-certificates=$1"; }

# qemu_object BUNDLE: the --object argument for qemu-img/qemu-io.
qemu_object() { echo "tls-creds-x509,id=tls0,endpoint=client,dir=$1"; }

# qemu_opts BUNDLE PORT EXPORT: --image-opts for the export (pair it with
# --object "$(qemu_object BUNDLE)").
qemu_opts() {
    echo "driver=nbd,server.type=inet,server.host=127.0.0.1,server.port=$2,export=$3,tls-creds=tls0"
}

# run_to SECONDS CMD...: run a client with a time limit, so a hung server
# fails the test instead of hanging it.
run_to() {
    local t=$1
    shift
    timeout --kill-after=5 "$t" "$@"
}

# make_random FILE MIB: MIB MiB of incompressible data, quickly (an
# AES-CTR keystream with a random key).
make_random() {
    head -c $(($2 << 20)) /dev/zero |
        openssl enc -aes-128-ctr -nosalt -pbkdf2 \
            -pass "pass:$RANDOM$RANDOM$RANDOM" >"$1" 2>/dev/null
}

# put_random FILE BYTE_OFFSET BYTES: overwrite a range with random data.
put_random() {
    head -c "$3" /dev/urandom |
        dd of="$1" bs=1M seek="$2" oflag=seek_bytes conv=notrunc \
            iflag=fullblock status=none
}

# put_zeros FILE BYTE_OFFSET BYTES: explicit (allocated) zeros.
put_zeros() {
    head -c "$3" /dev/zero |
        dd of="$1" bs=1M seek="$2" oflag=seek_bytes conv=notrunc \
            iflag=fullblock status=none
}

# make_image FILE MIB: a sparse test image of MIB MiB (MIB >= 64) with
# random data (extent-aligned and not), runs of explicit zeros inside
# data, holes, and data in the last sector.
make_image() {
    local f=$1 m=$(($2 << 20)) M=$((1 << 20))
    rm -f "$f"
    truncate -s "$m" "$f"
    put_random "$f" 0 $((20 * M))                       # data from 0
    put_zeros "$f" $((5 * M)) $((2 * M))                # zero run inside it
    put_random "$f" $((24 * M - 777)) $((M + 5555))     # unaligned, spans 24 MiB
    put_random "$f" $((32 * M + 4096)) 512              # one sector in a hole
    put_zeros "$f" $((36 * M)) $((8 * M))               # allocated zeros
    put_random "$f" $((48 * M)) $((m / 4))              # a big data run
    put_random "$f" $((m - 4096)) 4096                  # the last 4 KiB
}

sha() { sha256sum "$1" | cut -d' ' -f1; }

# --- clients, continued ---------------------------------------------------

# qio_ok BUNDLE PORT EXPORT CMD...: one qemu-io session (-d unmap, so that
# "discard" reaches the server; read-only for a restore point); fail if
# qemu-io fails or reports a failure.
qio_ok() {
    local bundle=$1 port=$2 export=$3 args=() c out rc ro=()
    shift 3
    for c in "$@"; do args+=(-c "$c"); done
    [[ $export == *@* ]] && ro=(-r)
    out=$(run_to 120 qemu-io -d unmap "${ro[@]}" --object "$(qemu_object "$bundle")" \
        --image-opts "$(qemu_opts "$bundle" "$port" "$export")" "${args[@]}" 2>&1) &&
        rc=0 || rc=$?
    if [[ $rc -ne 0 ]] || grep -qiE 'fail|error|mismatch' <<<"$out"; then
        echo "$out" | sed 's/^/  | /' >&2
        fail "qemu-io on $export: $*" "exit 0, no failure" "exit $rc"
    fi
}

# nbd_read BUNDLE PORT EXPORT FILE: copy an export into FILE with nbdcopy.
nbd_read() {
    rm -f "$4"
    run_to 300 nbdcopy "$(nbd_uri "$1" "$2" "$3")" "$4" ||
        fail "nbdcopy out of $3 failed"
}

# nbd_size BUNDLE PORT EXPORT: the export's size in bytes (nbdinfo).
nbd_size() {
    run_to 60 nbdinfo --size "$(nbd_uri "$1" "$2" "$3")" || fail "nbdinfo --size $3"
}

# same_file EXPECTED ACTUAL WHAT: fail unless the two files are identical.
same_file() {
    cmp -s "$1" "$2" && return 0
    fail "$3: not byte-identical" "$(sha "$1") ($(stat -c %s "$1") bytes)" \
        "$(sha "$2") ($(stat -c %s "$2") bytes); $(cmp "$1" "$2" 2>&1 | head -1)"
}

# put_byte FILE BYTE_OFFSET BYTES VALUE: fill a range with one byte value,
# as qemu-io "write -P VALUE" does.
put_byte() {
    "$PY" - "$@" <<'PYEOF'
import sys
f, off, n, v = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4], 0)
with open(f, "r+b") as fh:
    fh.seek(off)
    fh.write(bytes([v]) * n)
PYEOF
}

# json_eval FILE EXPR: print a Python expression over d, the JSON in FILE.
json_eval() {
    "$PY" -c 'import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' \
        "$1" "$2"
}

# json_ok FILE EXPR: fail unless the Python expression over d is true.
json_ok() {
    "$PY" -c '
import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if eval("(" + sys.argv[2] + ")") else 1)
' "$1" "$2" || { sed 's/^/  | /' "$1" >&2; fail "$2"; }
}

# rp_list DIR TENANT/VM/DISK FILE: havenctl rp list --json into FILE.
rp_list() {
    "$HAVENCTL" -d "$1" rp list "$2" --json >"$3" 2>"$3.err" ||
        { cat "$3.err" >&2; fail "havenctl rp list $2 failed"; }
}

# wait_rps DIR TENANT/VM/DISK FILE EXPR SECONDS: poll rp list (into FILE)
# until the Python expression over d (the list) is true.
wait_rps() {
    local deadline=$((SECONDS + $5))
    while :; do
        rp_list "$1" "$2" "$3"
        "$PY" -c 'import json, sys; d = json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' \
            "$3" "$4" && return 0
        ((SECONDS < deadline)) ||
            { sed 's/^/  | /' "$3" >&2; fail "restore points of $2 after $5 s: $4"; }
        sleep 0.2
    done
}

# --- Ceph (tests/ceph-micro) ----------------------------------------------

# local_and_rados_tenants DIR [OPTION...]: route ceph1 (pool haven) on the
# cluster CEPH_CONF names; tenant tl on the local route and tr on ceph1,
# both added with OPTION...; their bundles (site s) in $TMP/tl.bundle and
# $TMP/tr.bundle.
local_and_rados_tenants() {
    local dir=$1 t
    shift
    hctl "$dir" route add ceph1 --type rados --ceph-conf "$CEPH_CONF" --pool haven >/dev/null
    hctl "$dir" tenant add tl "$@" >/dev/null
    hctl "$dir" tenant add tr --route ceph1 "$@" >/dev/null
    for t in tl tr; do
        hctl "$dir" cert issue "$t" --site s --out "$TMP/$t.bundle" >/dev/null
    done
}

# ceph_start DIR [POOL]: start a throwaway cluster in DIR (one mon, one
# memstore OSD) and set CEPH_CONF; the EXIT trap stops it.
ceph_start() {
    local out rc
    requires ceph-mon ceph-osd rados
    CEPH_DIRS+=("$1")
    out=$("$HAVEN_SOURCE/tests/ceph-micro" start "$1" "${2:-haven}") && rc=0 || rc=$?
    [[ $rc -ne 77 ]] || skip "ceph-mon/ceph-osd are not installed"
    [[ $rc -eq 0 ]] || fail "tests/ceph-micro start $1 failed (exit $rc)"
    CEPH_CONF=$(tail -n 1 <<<"$out")
    [[ -f $CEPH_CONF ]] || fail "tests/ceph-micro printed no ceph.conf: $out"
    echo "ceph-micro cluster up: $CEPH_CONF"
}

# rados_ ARGS...: the rados tool on the last cluster started (no admin
# socket, which havend's librados client may hold).
rados_() {
    run_to 60 rados -c "$CEPH_CONF" --admin-socket '' "$@"
}

# ceph_osd_keep_data: make the OSD save its memstore when it is stopped, so
# that tests/ceph-micro stop-osd + start-osd keeps the data.  With Ceph's
# default osd_fast_shutdown=true the OSD exits without unmounting, a
# memstore OSD comes back with no PGs and every request hangs.
ceph_osd_keep_data() {
    run_to 30 ceph -c "$CEPH_CONF" --admin-socket '' config set osd osd_fast_shutdown false \
        >/dev/null 2>&1 || fail "ceph config set osd osd_fast_shutdown false"
}

# ceph_osd DIR stop|start: stop or start the cluster's OSD.
ceph_osd() {
    "$HAVEN_SOURCE/tests/ceph-micro" "$2-osd" "$1" >>"$1.osd.log" 2>&1 ||
        fail "tests/ceph-micro $2-osd $1 failed: $(tail -n 5 "$1.osd.log")"
}

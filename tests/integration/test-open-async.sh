#!/usr/bin/env bash
# A disk that opens after a crash (no saved map: the store is listed and
# probed for clones) opens off the loop.  The fault injector makes that
# listing slow (op=list,delay=...) or fail (op=list,errno=EIO), and:
#  - another tenant's writes and reads on another disk finish long before
#    the slow open does;
#  - the client of the opening disk waits and then reads what was
#    written before the crash;
#  - havenctl disk show answers during the open, rp create waits for it
#    and then cuts, a disk resize meanwhile applies once it is open;
#  - SIGTERM during a slow listing or clone probe cancels the open and
#    exits 0 at once, writing nothing: the next start lists again and
#    reads back what was written before the crash;
#  - a failed open gives its client an I/O error and a log line, not a
#    hang, is forgotten 5 s later with nobody asking, and the disk opens
#    again once the fault is gone.
# On the local route, then on a rados route of a throwaway Ceph cluster.
source "$(dirname "$0")/functions.sh"
requires qemu-io nbdcopy
requires_python_nbd
requires_haven

M=$((1 << 20))
D=$TMP/haven
RULES=$TMP/fault-rules
port=$(free_port)
haven_init "$D"
# No checkpoint cuts during the test: restore points come from session
# ends and from rp create.
hctl "$D" tenant add a --checkpoint 3600 >/dev/null
hctl "$D" tenant add b --checkpoint 3600 >/dev/null
for t in a b; do
    hctl "$D" cert issue "$t" --site s --out "$TMP/$t.bundle" >/dev/null
    hctl "$D" disk create "$t/vm/d" --size 64M >/dev/null
done
WITH_CEPH=
if [[ -z ${HAVEN_SKIP_CEPH:-} ]] && command -v ceph-mon >/dev/null &&
    command -v ceph-osd >/dev/null; then
    ceph_start "$TMP/ceph"
    hctl "$D" route add ceph1 --type rados --ceph-conf "$CEPH_CONF" --pool haven >/dev/null
    hctl "$D" tenant add r --route ceph1 --checkpoint 3600 >/dev/null
    hctl "$D" cert issue r --site s --out "$TMP/r.bundle" >/dev/null
    hctl "$D" disk create r/vm/d --size 64M >/dev/null
    WITH_CEPH=1
fi

rules() { printf '%s\n' "$1" >"$RULES.tmp" && mv "$RULES.tmp" "$RULES"; }
rules_clear() { rm -f "$RULES"; }

start() {
    HAVEN_FAULT_FILE=$RULES start_havend "$D" "$port"
    [[ -z $WITH_CEPH ]] || wait_route_open ceph1
}

# holder.py BUNDLE PORT EXPORT BYTE: writes 8 MiB of BYTE at 0, flushes,
# prints "ready" and keeps the session open.
cat >"$TMP/holder.py" <<'EOF'
import sys, time
import nbd

bundle, port, export, byte = sys.argv[1:5]
h = nbd.NBD()
h.set_tls(nbd.TLS_REQUIRE)
h.set_tls_certificates(bundle)
h.connect_uri(f"nbds://127.0.0.1:{port}/{export}")
h.pwrite(bytes([int(byte, 0)]) * (8 << 20), 0)
h.flush()
print("ready", flush=True)
time.sleep(300)
EOF

# idle.py BUNDLE PORT EXPORT: a session that reads 4 KiB, prints
# "ready" and stays open (it keeps the disk open).
cat >"$TMP/idle.py" <<'EOF'
import sys, time
import nbd

bundle, port, export = sys.argv[1:4]
h = nbd.NBD()
h.set_tls(nbd.TLS_REQUIRE)
h.set_tls_certificates(bundle)
h.connect_uri(f"nbds://127.0.0.1:{port}/{export}")
h.pread(4096, 0)
print("ready", flush=True)
time.sleep(300)
EOF

# crash TENANT BYTE: a session writes 8 MiB of BYTE into TENANT/vm/d and
# havend is killed with -9 while it is open: the next open lists.
crash() {
    "$PY" "$TMP/holder.py" "$TMP/$1.bundle" "$port" vm/d "$2" >"$TMP/holder" 2>&1 &
    local holder=$!
    PIDS+=("$holder")
    wait_ready "$TMP/holder" "the session writing $2 into $1/vm/d"
    kill -KILL "$HAVEND_PID"
    wait_exit "$HAVEND_PID" 10 || fail "havend survived kill -9"
    HAVEND_PID=
    kill "$holder" 2>/dev/null || true
    wait_exit "$holder" 10 || true
}

# expect_image FILE BYTE: 8 MiB of BYTE, then zeros up to 64 MiB (what
# follows is the growth of a resize).
expect_image() {
    "$PY" - "$1" "$2" <<'EOF' || fail "content of $1" "8 MiB of $2 then zeros" "something else"
import sys
data = open(sys.argv[1], "rb").read()[: 64 << 20]
b = int(sys.argv[2], 0)
M = 1 << 20
sys.exit(0 if data == bytes([b]) * (8 * M) + bytes(56 * M) else 1)
EOF
}

ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }

# open_logged TENANT: the ms= of the slow open's disk_open line, or "".
open_logged() {
    havend_log | grep "event=disk_open disk=$1/vm/d .*map=listed" |
        sed -n 's/.* ms=\([0-9]*\).*/\1/p' | tail -n 1
}

slow_open() { # TENANT DELAY_MS
    local t=$1 delay=$2 t0 bms rc size=96

    crash "$t" 0x5a
    rules "op=list,delay=$delay,ns=$t"
    start

    check "$t: the client of the disk opening after the crash waits for it"
    t0=$(date +%s%N)
    nbdcopy "$(nbd_uri "$TMP/$t.bundle" "$port" vm/d)" "$TMP/$t.img" \
        >"$TMP/reader.out" 2>&1 &
    local reader=$!
    PIDS+=("$reader")
    # Keeps the disk open after the reader is done (the resize below).
    "$PY" "$TMP/idle.py" "$TMP/$t.bundle" "$port" vm/d >"$TMP/idle" 2>&1 &
    local idle=$!
    PIDS+=("$idle")
    sleep 1
    alive "$reader" || fail "the reader of $t/vm/d" "waiting for the open" "done: $(cat "$TMP/reader.out")"
    ok

    check "$t: meanwhile tenant b writes and reads its own disk at full speed"
    make_random "$TMP/b.src" 16
    local bt0
    bt0=$(date +%s%N)
    run_to 60 nbdcopy --flush "$TMP/b.src" "$(nbd_uri "$TMP/b.bundle" "$port" vm/d)" ||
        fail "tenant b's copy during the slow open"
    qio_ok "$TMP/b.bundle" "$port" vm/d "write -P 0x42 32M 4M" "read -P 0x42 32M 4M"
    nbd_read "$TMP/b.bundle" "$port" vm/d "$TMP/b.back"
    bms=$(ms_since "$bt0")
    [[ -z $(open_logged "$t") ]] ||
        fail "tenant b's I/O finished before the open" "open still running" "open done after $(ms_since "$t0") ms"
    head -c $((16 * M)) "$TMP/b.back" | cmp -s - "$TMP/b.src" ||
        fail "tenant b's data read back during the slow open"
    ((bms < delay / 2)) || fail "tenant b's I/O time" "< $((delay / 2)) ms" "$bms ms"
    havend_log | grep -q "event=disk_opening disk=$t/vm/d .*map=listed" ||
        fail "the open of $t/vm/d logged" "event=disk_opening" "$(havend_log | tail -n 3)"
    ok "$bms ms while $t/vm/d opens for $delay ms"

    check "$t: havenctl during the open: disk show answers, rp create waits and cuts"
    rp_list "$D" "$t/vm/d" "$TMP/rps0.json"
    local nrp
    nrp=$(json_eval "$TMP/rps0.json" "len(d)")
    "$HAVENCTL" -d "$D" disk show "$t/vm/d" >"$TMP/show.out" 2>&1 ||
        fail "disk show during the open" "exit 0" "$(cat "$TMP/show.out")"
    grep -qi "size.*64" "$TMP/show.out" ||
        fail "disk show during the open" "the disk's size" "$(cat "$TMP/show.out")"
    [[ -z $(open_logged "$t") ]] || fail "disk show answered during the open" "open still running" "open done"
    "$HAVENCTL" -d "$D" disk resize "$t/vm/d" --size "$size"M >"$TMP/resize.out" 2>&1 ||
        fail "disk resize during the open" "exit 0" "$(cat "$TMP/resize.out")"
    "$HAVENCTL" -d "$D" rp create "$t/vm/d" >"$TMP/rpc.out" 2>&1 && rc=0 || rc=$?
    [[ $rc -eq 0 ]] || fail "rp create during the open" "exit 0" "exit $rc: $(cat "$TMP/rpc.out")"
    [[ -n $(open_logged "$t") ]] || fail "rp create answered" "after the open" "before it"
    rp_list "$D" "$t/vm/d" "$TMP/rps1.json"
    json_ok "$TMP/rps1.json" "len(d) == $nrp + 1"
    ok "$(sed -n 2p "$TMP/rpc.out" | tr -s " ")"

    check "$t: once open, its client reads what was written before the crash; the resize applies"
    wait_exit "$reader" 60 || fail "the reader of $t/vm/d did not finish"
    [[ $WAIT_RC -eq 0 ]] || fail "nbdcopy from $t/vm/d" "exit 0" "exit $WAIT_RC: $(cat "$TMP/reader.out")"
    local rms
    rms=$(ms_since "$t0")
    expect_image "$TMP/$t.img" 0x5a
    local oms
    oms=$(open_logged "$t")
    ((oms >= delay)) || fail "logged open time" ">= $delay ms" "$oms ms"
    wait_ready "$TMP/idle" "the idle session"
    qio_ok "$TMP/$t.bundle" "$port" vm/d "write -P 0x33 $((size - 8))M 4M" \
        "read -P 0x33 $((size - 8))M 4M"
    ! havend_log | grep -q "event=disk_close disk=$t/vm/d" ||
        fail "$t/vm/d stayed open while the idle session held it" "no disk_close" "closed"
    kill "$idle" 2>/dev/null || true
    wait_exit "$idle" 10 || true
    ok "read after $rms ms; event=disk_open ms=$oms; resized to $size MiB meanwhile"
    rules_clear
}

sigterm_open() { # TENANT OP BYTE
    local t=$1 op=$2 byte=$3 t0 ms

    check "$t: SIGTERM while the disk opens (a 60 s $op): the open is cancelled, exit 0 at once"
    crash "$t" "$byte"
    rules "op=$op,delay=60000,ns=$t"
    start
    nbdcopy "$(nbd_uri "$TMP/$t.bundle" "$port" vm/d)" "$TMP/$t.img" \
        >"$TMP/reader.out" 2>&1 &
    local reader=$!
    PIDS+=("$reader")
    wait_havend_log "event=disk_opening disk=$t/vm/d " 10
    sleep 1 # well inside the slow $op
    alive "$reader" || fail "the reader of $t/vm/d" "waiting for the open" "done: $(cat "$TMP/reader.out")"
    t0=$(date +%s%N)
    stop_havend 10
    ms=$(ms_since "$t0")
    ((ms < 3000)) || fail "havend's exit after SIGTERM during a 60 s $op" "< 3000 ms" "$ms ms"
    havend_log | grep -q "event=disk_open_cancelled disk=$t/vm/d " ||
        fail "the cancelled open logged" "event=disk_open_cancelled" "$(havend_log | tail -n 5)"
    ! havend_log | grep -q "event=disk_open disk=$t/vm/d \|event=disk_close disk=$t/vm/d" ||
        fail "the cancelled open" "never open, nothing written" "$(havend_log | grep "disk=$t/vm/d")"
    wait_exit "$reader" 30 || fail "the reader still runs after havend stopped"
    rules_clear
    ok "stopped $ms ms after SIGTERM"

    check "$t: the next start opens the disk after the crash again and reads it back"
    start
    nbd_read "$TMP/$t.bundle" "$port" vm/d "$TMP/$t.img"
    wait_havend_log "event=disk_open disk=$t/vm/d .*map=listed" 10
    expect_image "$TMP/$t.img" "$byte"
    ok
}

failed_open() { # TENANT
    local t=$1 out

    check "$t: a failed open: its client gets an I/O error, havend logs it"
    crash "$t" 0x7c
    rules "op=list,errno=EIO,ns=$t"
    start
    out=$(run_to 30 qemu-io --object "$(qemu_object "$TMP/$t.bundle")" \
        --image-opts "$(qemu_opts "$TMP/$t.bundle" "$port" vm/d)" \
        -c "read -P 0x7c 0 4k" 2>&1) && fail "read from a disk whose open failed" "an error" "$out"
    echo "  | $(head -n 2 <<<"$out" | tr '\n' ' ')"
    grep -qi "Input/output error\|unavailable" <<<"$out" ||
        fail "qemu-io's error" "Input/output error" "$out"
    wait_havend_log "event=disk_open_failed disk=$t/vm/d .*error=\"Input/output error\"" 5
    havend_alive
    ok

    check "$t: its session gone, the failed disk is forgotten after 5 s, unasked"
    rules_clear
    wait_havend_log "event=disk_failed_forget disk=$t/vm/d sessions=0 " 10
    ok

    check "$t: the fault gone, the disk opens again and reads back"
    qio_ok "$TMP/$t.bundle" "$port" vm/d "read -P 0x7c 0 8M" "read -P 0 8M 56M"
    wait_havend_log "event=disk_open disk=$t/vm/d .*map=listed" 10
    stop_havend
    ok
}

start
check "tenant b's disk was opened and closed once (its next open is quick)"
qio_ok "$TMP/b.bundle" "$port" vm/d "write -P 0x01 0 4k"
ok
slow_open a 8000
sigterm_open a list 0x6b
sigterm_open a probe 0x6c
failed_open a
if [[ -n $WITH_CEPH ]]; then
    start
    slow_open r 8000
    sigterm_open r list 0x6b
    sigterm_open r probe 0x6c
    failed_open r
fi
check "no sanitizer reports in havend's log"
if grep -q "ERROR: AddressSanitizer\|runtime error:\|LeakSanitizer" "$D/havend.log"; then
    fail "sanitizer report" "none" "$(grep -m3 "Sanitizer\|runtime error" "$D/havend.log")"
fi
ok

#!/usr/bin/env bash
# Backend faults through the fault injector (storage/fault.c): havend runs
# with HAVEN_FAULT_FILE=RULES, and the test rewrites RULES while clients
# talk to it.
#  - a bad rules file is refused with one log line and injects nothing;
#  - each backend errno reaches the NBD client as the NBD error haven maps
#    it to, a refused write is not stored, the connection goes on
#    (tests/integration/faults.py basic, python3-libnbd);
#  - stock clients: qemu-io prints "No space left on device", nbdcopy
#    fails on an injected EIO mid-copy and succeeds once it is cleared;
#    delayed writes make nbdcopy slow but the copy is exact;
#  - 16 writes in flight while faults come and go: every acknowledged
#    write reads back after the fault is cleared and after a restart,
#    every failed one left the previous bytes (faults.py stream/verify);
#  - a failed restore point header write does not take havend down;
#  - havend survives all of it and serves another tenant.
source "$(dirname "$0")/functions.sh"
requires nbdcopy qemu-io
requires_python_nbd
requires_haven

D=$TMP/haven
A=$TMP/a B=$TMP/b
RULES=$TMP/fault-rules
FAULTS=$TESTDIR/faults.py
port=$(free_port)
haven_init "$D" tenant:a tenant:b "bundle:a:site1:$A" "bundle:b:site1:$B" \
    "disk:a/vm1/disk0:64M" "disk:a/vm1/disk1:64M" "disk:a/vm1/disk2:32M" \
    "disk:b/vm1/disk0:16M"
hctl "$D" tenant set a --checkpoint 86400 >/dev/null

# rules TEXT: replace the rules file atomically; rules_clear removes it.
rules() { printf '%s\n' "$1" >"$RULES.tmp" && mv "$RULES.tmp" "$RULES"; }
rules_clear() { rm -f "$RULES"; }

export HAVEN_FAULT_FILE=$RULES
start_havend "$D" "$port"
unset HAVEN_FAULT_FILE

check "havend says that fault injection is on"
wait_havend_log "event=fault_injection route=" 10
ok

check "a bad rules file is refused with one clear log line and injects nothing"
rules "op=write,errno=EBOGUS"
qio_ok "$A" "$port" vm1/disk2 "write -P 0x11 0 4k" "read -P 0x11 0 4k"
wait_havend_log 'event=fault_file_refused detail=.*line 1: unknown errno .EBOGUS.; no faults' 5
rules "op=write,errno=EIO,nth=0"
qio_ok "$A" "$port" vm1/disk2 "write -P 0x12 0 4k" "read -P 0x12 0 4k"
wait_havend_log "event=fault_file_refused detail=.*nth '0' is not a positive integer" 5
rules_clear
ok "$(tail -c "+$HAVEND_LOG_FROM" "$HAVEND_LOG" | grep -m1 fault_file_refused | sed 's/^.*event=/event=/')"

check "faults.py basic: errno mapping, refused writes not stored, delays"
run_to 300 "$PY" "$FAULTS" basic "$A" "$port" vm1/disk0 "$RULES" 2>&1 |
    tee "$TMP/basic.out" | sed 's/^/  | /' && rc=0 || rc=$?
[[ $rc -eq 0 ]] || fail "faults.py basic" "all checks passed" \
    "$(grep -A2 '^FAIL' "$TMP/basic.out" | tr -s ' ' | tr '\n' ' ')"
ok

check "qemu-io: an injected ENOSPC is 'No space left on device', the old data stays"
rules "op=write,errno=ENOSPC"
out=$(run_to 60 qemu-io --object "$(qemu_object "$A")" \
    --image-opts "$(qemu_opts "$A" "$port" vm1/disk2)" \
    -c "write -P 0x99 0 4k" 2>&1) || true
echo "  | $out"
grep -q "No space left on device" <<<"$out" ||
    fail "qemu-io write under an ENOSPC fault" "No space left on device" "$out"
rules_clear
qio_ok "$A" "$port" vm1/disk2 "read -P 0x12 0 4k"
ok

check "nbdcopy: EIO on the 40th backend write mid-copy fails the copy; cleared, it succeeds"
make_random "$TMP/src.img" 64
rules "op=write,errno=EIO,nth=40"
out=$(run_to 120 nbdcopy "$TMP/src.img" "$(nbd_uri "$A" "$port" vm1/disk1)" 2>&1) &&
    fail "nbdcopy with an injected EIO" "failure" "exit 0"
echo "  | $(tail -n 2 <<<"$out" | tr '\n' ' ')"
grep -qi "Input/output error" <<<"$out" ||
    fail "nbdcopy error message" "Input/output error" "$out"
havend_alive
rules_clear
run_to 120 nbdcopy --flush "$TMP/src.img" "$(nbd_uri "$A" "$port" vm1/disk1)" ||
    fail "nbdcopy after clearing the fault"
nbd_read "$A" "$port" vm1/disk1 "$TMP/back.img"
same_file "$TMP/src.img" "$TMP/back.img" "vm1/disk1 after the second copy"
ok

check "nbdcopy with every backend write delayed by 40 ms: slower, byte-identical"
make_random "$TMP/src2.img" 32
rules "op=write,delay=40"
t0=$(date +%s%N)
run_to 300 nbdcopy --flush "$TMP/src2.img" "$(nbd_uri "$A" "$port" vm1/disk2)" ||
    fail "nbdcopy with delayed writes"
ms=$((($(date +%s%N) - t0) / 1000000))
rules_clear
nbd_read "$A" "$port" vm1/disk2 "$TMP/back2.img"
same_file "$TMP/src2.img" "$TMP/back2.img" "vm1/disk2 after the delayed copy"
((ms >= 40)) || fail "delayed copy time" ">= 40 ms" "$ms ms"
ok "$ms ms"

check "faults.py stream: 16 writes in flight while EIO/ENOSPC/ETIMEDOUT/delays come and go"
run_to 600 "$PY" "$FAULTS" stream "$A" "$port" vm1/disk0 "$RULES" "$TMP/state.json" 2>&1 |
    tee "$TMP/stream.out" | sed 's/^/  | /' && rc=0 || rc=$?
[[ $rc -eq 0 ]] || fail "faults.py stream" "all checks passed" \
    "$(grep -A2 '^FAIL' "$TMP/stream.out" | tr -s ' ' | tr '\n' ' ')"
ok

check "with the fault cleared, every acknowledged write reads back, every failed one left the old bytes"
run_to 300 "$PY" "$FAULTS" verify "$A" "$port" vm1/disk0 "$TMP/state.json" 2>&1 |
    sed 's/^/  | /'
[[ ${PIPESTATUS[0]} -eq 0 ]] || fail "verify after clearing the fault"
ok

check "a failed restore point header write (WRITE_FULL) leaves havend running"
rules "op=write_full,errno=EIO"
qio_ok "$A" "$port" vm1/disk2 "write -P 0x21 0 4k"
hctl "$D" rp create a/vm1/disk2 >/dev/null 2>&1 || true
sleep 1
havend_alive
rules_clear
qio_ok "$A" "$port" vm1/disk2 "read -P 0x21 0 4k"
qio_ok "$A" "$port" vm1/disk2@latest "read -P 0x21 0 4k"
ok

check "another tenant is served while tenant a's backend fails everything"
rules "op=any,errno=EIO,ns=a"
qio_ok "$B" "$port" vm1/disk0 "write -P 0xab 0 4k" "read -P 0xab 0 4k"
out=$(run_to 60 qemu-io --object "$(qemu_object "$A")" \
    --image-opts "$(qemu_opts "$A" "$port" vm1/disk2)" -c "read 0 4k" 2>&1) || true
grep -q "Input/output error" <<<"$out" || fail "a's read under op=any" "Input/output error" "$out"
rules_clear
ok

check "after a restart (no fault file), every acknowledged write still reads back"
stop_havend
start_havend "$D" "$port"
run_to 300 "$PY" "$FAULTS" verify "$A" "$port" vm1/disk0 "$TMP/state.json" 2>&1 |
    sed 's/^/  | /'
[[ ${PIPESTATUS[0]} -eq 0 ]] || fail "verify after the restart"
nbd_read "$A" "$port" vm1/disk1 "$TMP/back3.img"
same_file "$TMP/src.img" "$TMP/back3.img" "vm1/disk1 after the restart"
tail -c "+$HAVEND_LOG_FROM" "$HAVEND_LOG" | grep -q "event=fault_injection" &&
    fail "havend without HAVEN_FAULT_FILE" "no fault injection" "fault_injection logged"
ok

stop_havend
echo "PASS"

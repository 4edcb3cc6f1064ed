#!/usr/bin/env bash
# havend's doorbell, DIR/havend.bell: havenctl rings it after each change
# it commits, and havend looks at the catalog at once instead of at its
# next 250 ms poll.
#  - the socket is there while havend runs (a 0600 socket), gone after a
#    clean stop, and a stale one left by a crash does not stop the next
#    havend from binding it;
#  - `havenctl rp create` on a disk with an open session answers in well
#    under the poll interval (median of 5 < 150 ms);
#  - a revoked certificate's open session is closed < 150 ms after
#    `havenctl cert revoke` returned;
#  - without the socket (removed while havend runs) everything still
#    works through the poll, silently;
#  - a flood of junk datagrams (10,000 and more, blocking sends, so every
#    one must be read by havend) disturbs neither a running nbdcopy (its
#    bytes come back identical) nor havend, which keeps serving.
source "$(dirname "$0")/functions.sh"
requires nbdcopy nbdinfo
requires_haven

D=$TMP/haven
A=$TMP/site-hq
A2=$TMP/site-dr
port=$(free_port)
haven_init "$D" tenant:acme "bundle:acme:hq:$A" "bundle:acme:dr:$A2" \
    "disk:acme/vm1/disk0:64M" "disk:acme/vm1/disk1:256M"
BELL=$D/havend.bell
LIMIT_MS=150

now_us() { echo "${EPOCHREALTIME/./}"; }

# median N...: the median of integers (the lower middle for an even count).
median() { printf '%s\n' "$@" | sort -n | sed -n "$((($# + 1) / 2))p"; }

# hold BUNDLE EXPORT FILE: a session that stays open (probe.py hold) until
# the server closes it; waits until it is open.  Sets HOLD_PID.
hold() {
    "$PY" "$PROBE" hold 127.0.0.1 "$port" "$1" "$2" >"$3" 2>&1 &
    HOLD_PID=$!
    PIDS+=("$HOLD_PID")
    wait_ready "$3" "the session on $2"
}

# rp_create_ms DISK: one `havenctl rp create`, which must succeed; prints
# its wall time in milliseconds.
rp_create_ms() {
    local t0 t1
    t0=$(now_us)
    "$HAVENCTL" -d "$D" rp create "$1" >"$TMP/rp.out" 2>"$TMP/rp.err" ||
        { cat "$TMP/rp.err" >&2; fail "havenctl rp create $1 failed"; }
    t1=$(now_us)
    [[ ! -s $TMP/rp.err ]] || { cat "$TMP/rp.err" >&2; fail "rp create $1: stderr"; }
    grep -q 'manual' "$TMP/rp.out" || fail "rp create $1 printed no manual restore point"
    echo $(((t1 - t0) / 1000))
}

start_havend "$D" "$port"

check "havend binds DIR/havend.bell, a socket only its user may use"
[[ -S $BELL ]] || fail "DIR/havend.bell" "a socket" "$(ls -l "$BELL" 2>&1)"
[[ $(stat -c '%a %u' "$BELL") == "600 $(stat -c %u "$D")" ]] ||
    fail "mode and owner of DIR/havend.bell" "600 $(stat -c %u "$D")" "$(stat -c '%a %u' "$BELL")"
ok

# What havenctl costs without havend (process start, catalog open and
# read), as a read-only command of the same shape: a sanitizer build
# starts every process several times slower, and the doorbell's gain is
# in the rest.
check "rp create on a disk with an open session: median of 5 < $LIMIT_MS ms"
hold "$A" vm1/disk0 "$TMP/hold0.out"
base=()
for _ in 1 2 3 4 5; do
    t0=$(now_us)
    hctl "$D" rp list acme/vm1/disk0 >/dev/null
    base+=($((($(now_us) - t0) / 1000)))
done
times=()
for _ in 1 2 3 4 5; do times+=("$(rp_create_ms acme/vm1/disk0)"); done
med=$(median "${times[@]}")
bmed=$(median "${base[@]}")
[[ -n ${ASAN_OPTIONS:-} ]] || ((med < LIMIT_MS)) ||
    fail "rp create median" "< $LIMIT_MS ms" "$med ms (${times[*]})"
((med - bmed < LIMIT_MS)) ||
    fail "rp create median beyond rp list's ($bmed ms)" "< $LIMIT_MS ms" \
        "$((med - bmed)) ms (${times[*]})"
alive "$HOLD_PID" || fail "the open session survived the cuts" "open" "$(cat "$TMP/hold0.out")"
ok "median $med ms (${times[*]} ms; rp list $bmed ms)"

check "cert revoke closes the revoked site's session < $LIMIT_MS ms after havenctl returned"
hold "$A2" vm1/disk0 "$TMP/hold-dr.out"
dr_pid=$HOLD_PID
hctl "$D" cert revoke acme --site dr >/dev/null
t_ret=$(now_us)
wait_exit "$dr_pid" 5 || fail "the revoked site's session" "closed" "still open 5 s later"
at=$(sed -n 's/^closed at=//p' "$TMP/hold-dr.out")
[[ -n $at ]] || fail "the revoked site's session" "closed at=T" "$(cat "$TMP/hold-dr.out")"
late=$((${at/./} / 1000 - t_ret / 1000))
((late < LIMIT_MS)) || fail "session closed after havenctl returned" "< $LIMIT_MS ms" "$late ms"
grep -q 'client certificate revoked' "$HAVEND_LOG" || fail "havend logged no revocation close"
ok "closed $late ms after havenctl returned"

# The flood: blocking sends, so the sender only gets through if havend
# reads them all; it goes on until told to stop, so that the whole of
# nbdcopy runs under it.  A 10 s send timeout fails it if havend stops
# reading.
check "a flood of junk datagrams disturbs neither nbdcopy nor havend"
"$PY" - "$BELL" "$TMP/flood.stop" 10000 >"$TMP/flood.out" 2>&1 <<'EOF' &
import os, socket, sys, time
path, stop, least = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.settimeout(10)
sent = 0
print("ready", flush=True)
end = time.monotonic() + 300
while (sent < least or not os.path.exists(stop)) and time.monotonic() < end:
    s.sendto(os.urandom(sent % 1500), path)
    sent += 1
print("sent %d" % sent)
EOF
flood_pid=$!
PIDS+=("$flood_pid")
wait_ready "$TMP/flood.out" "the flood"
src=$TMP/src.img
make_random "$src" 256
t0=$(now_us)
run_to 300 nbdcopy --flush "$src" "$(nbd_uri "$A" "$port" vm1/disk1)" ||
    fail "nbdcopy into vm1/disk1 during the flood"
nbd_read "$A" "$port" vm1/disk1 "$TMP/back.img"
t1=$(now_us)
same_file "$src" "$TMP/back.img" "vm1/disk1 written and read back during the flood"
alive "$flood_pid" || fail "the flood" "still sending during nbdcopy" "$(cat "$TMP/flood.out")"
touch "$TMP/flood.stop"
wait_exit "$flood_pid" 60 || fail "the flood did not end"
[[ $WAIT_RC -eq 0 ]] || fail "every datagram of the flood sent (havend read them all)" \
    "exit 0" "exit $WAIT_RC: $(tail -3 "$TMP/flood.out")"
sent=$(sed -n 's/^sent //p' "$TMP/flood.out")
((sent >= 10000)) || fail "datagrams sent" ">= 10000" "$sent"
havend_alive
run_to 60 nbdinfo "$(nbd_uri "$A" "$port" vm1/disk0)" >/dev/null ||
    fail "nbdinfo after the flood"
ms=$(rp_create_ms acme/vm1/disk0)
((ms < 2 * LIMIT_MS)) || fail "rp create after the flood" "< $((2 * LIMIT_MS)) ms" "$ms ms"
ok "$sent datagrams during $(((t1 - t0) / 1000)) ms of copying; rp create $ms ms after"

check "without DIR/havend.bell havenctl falls back to the poll, silently"
rm "$BELL"
times=()
for _ in 1 2 3; do times+=("$(rp_create_ms acme/vm1/disk0)"); done
hold "$A" vm1/disk1 "$TMP/hold1.out"
hctl "$D" cert revoke acme --site hq >/dev/null
t_ret=$(now_us)
wait_exit "$HOLD_PID" 5 || fail "a revoked session without the doorbell" "closed" "open 5 s later"
at=$(sed -n 's/^closed at=//p' "$TMP/hold1.out")
late=$((${at/./} / 1000 - t_ret / 1000))
((late < 1000)) || fail "closed without the doorbell" "< 1000 ms" "$late ms"
ok "rp create ${times[*]} ms; the revoked session closed $late ms after havenctl returned"

check "a clean stop removes the socket; a stale one does not stop the next havend"
stop_havend
[[ ! -e $BELL ]] || fail "DIR/havend.bell after a clean stop" "gone" "$(ls -l "$BELL")"
start_havend "$D" "$port"
[[ -S $BELL ]] || fail "DIR/havend.bell after a restart" "a socket" "missing"
kill9_havend
[[ -S $BELL ]] || fail "a socket left behind by kill -9" "there" "missing"
# A ring with nobody behind the stale socket is silent too.
hctl "$D" tenant set acme --weight 2 >/dev/null
start_havend "$D" "$port"
[[ -S $BELL ]] || fail "DIR/havend.bell after a crash and restart" "a socket" "missing"
hctl "$D" cert issue acme --site hq2 --out "$TMP/site-hq2" >/dev/null
A=$TMP/site-hq2
hold "$A" vm1/disk0 "$TMP/hold2.out"
ms=$(rp_create_ms acme/vm1/disk0)
((ms < 2 * LIMIT_MS)) || fail "rp create after the restart" "< $((2 * LIMIT_MS)) ms" "$ms ms"
ok "rp create $ms ms after a restart over a stale socket"

stop_havend
echo "PASS: test-doorbell"

#!/usr/bin/env bash
# Tenant limits and lifecycle, with real clients.
#  1. quotas: disk create over max-provisioned or max-disks and a resize
#     over max-provisioned are refused with the numbers, nothing changed;
#     tenant show --json gives each quota with its usage.
#  2. session limit: max-sessions 1; a python3-libnbd client holds a
#     session, a second client (nbdinfo) is refused with a message about
#     the session limit; once the first disconnects a new one works.
#  3. bandwidth: tenant a at 20M copies 128 MiB with nbdcopy in 6.4 s
#     +-15%, while tenant b (no limit) copies 128 MiB in under half that.
#  4. suspend cuts a running nbdcopy and refuses nbdinfo; resume: works.
#  5. lease: a lease end in the past -> havend suspends the tenant and logs
#     event=lease_expired.
#  6. purge: refused with one line while a restore point is immutable
#     (nothing removed); on a rados route, purge removes disks, restore
#     points, credentials and every object of the namespace.
#  7. fairness: on the rados route slowed down on purpose (the fault
#     injector delays every write by 150 ms, so the backend, not the CPU,
#     is the bottleneck), tenant f1 with 4 nbdcopy processes and f2 with 1
#     write at once; f2 must get at least 40% of what both wrote, and at
#     least 60% once its weight is 3 (f1 keeps 1).
source "$(dirname "$0")/functions.sh"
requires nbdcopy nbdinfo
requires_python_nbd
requires_haven

M=$((1 << 20))
D=$TMP/haven
CD=$TMP/ceph
port=$(free_port)

# hfail DIR ARGS...: havenctl must fail; its stderr is in $ERR.
ERR=
hfail() {
    local dir=$1
    shift
    if ERR=$("$HAVENCTL" -d "$dir" "$@" 2>&1 >/dev/null); then
        fail "havenctl $* succeeded" "refusal" "exit 0"
    fi
}

# now_ms: wall clock in milliseconds.
now_ms() { date +%s%3N; }

haven_init "$D"
# havend checks leases on its retention timer: every second here.
sed -i 's/^\[gateway\]$/[gateway]\nretention_interval = 1/' "$D/haven.conf"
grep -q '^retention_interval = 1$' "$D/haven.conf" || fail "haven.conf edit"

# --- 1. quotas -------------------------------------------------------------

check "max-provisioned and max-disks refuse disk create and resize"
hctl "$D" tenant add q --max-provisioned 10G --max-disks 2 >/dev/null
hctl "$D" disk create q/vm/a --size 8G >/dev/null
hfail "$D" disk create q/vm/b --size 4G
grep -q "would exceed max-provisioned 10 GiB: 8 GiB used" <<<"$ERR" ||
    fail "disk create over quota" "would exceed max-provisioned 10 GiB: 8 GiB used" "$ERR"
hfail "$D" disk resize q/vm/a --size 11G
grep -q "would exceed max-provisioned 10 GiB: 8 GiB used" <<<"$ERR" ||
    fail "resize over quota" "would exceed max-provisioned" "$ERR"
hctl "$D" disk create q/vm/b --size 2G >/dev/null
hfail "$D" disk create q/vm/c --size 1M
grep -q "would exceed max-disks 2: 2 disks" <<<"$ERR" ||
    fail "disk create over max-disks" "would exceed max-disks 2: 2 disks" "$ERR"
"$HAVENCTL" -d "$D" tenant show q --json >"$TMP/q.json"
json_ok "$TMP/q.json" "d['quotas']['provisioned'] == {'used': 10 << 30, 'limit': 10 << 30}"
json_ok "$TMP/q.json" "d['quotas']['disks'] == {'used': 2, 'limit': 2} and len(d['disks']) == 2"
json_ok "$TMP/q.json" "d['quotas']['sessions']['used'] is None and d['quotas']['stored']['used'] == 0"
# Lowering it below the usage is accepted and only blocks growth.
hctl "$D" tenant set q --max-provisioned 5G --max-disks 0 >/dev/null
hfail "$D" disk create q/vm/c --size 1M
grep -q "would exceed max-provisioned 5 GiB: 10 GiB used" <<<"$ERR" ||
    fail "lowered quota" "would exceed max-provisioned 5 GiB: 10 GiB used" "$ERR"
"$HAVENCTL" -d "$D" tenant show q >"$TMP/q.txt"
grep -qE '^ +provisioned +10 GiB +5 GiB$' "$TMP/q.txt" ||
    fail "tenant show text" "provisioned 10 GiB 5 GiB" "$(cat "$TMP/q.txt")"
ok

# --- set-up of the rest ----------------------------------------------------

S=$TMP/s A=$TMP/a B=$TMP/b L=$TMP/l I=$TMP/i
hctl "$D" tenant add s --max-sessions 1 >/dev/null
hctl "$D" tenant add a --bandwidth 20M >/dev/null
hctl "$D" tenant add b >/dev/null
hctl "$D" tenant add i --immutable-days 1 >/dev/null
for t in s a b i; do
    hctl "$D" cert issue "$t" --site hq --out "$TMP/$t" >/dev/null
done
hctl "$D" disk create s/vm/d0 --size 64M >/dev/null
hctl "$D" disk create a/vm/d0 --size 128M >/dev/null
hctl "$D" disk create b/vm/d0 --size 128M >/dev/null
hctl "$D" disk create i/vm/d0 --size 64M >/dev/null

ceph_start "$CD"
# Clones of removed snaps go when the OSD trims them; by default it
# sleeps seconds between batches (0 means the per-device default, 5 s for
# a disk), which would make the purge check slow.
run_to 30 ceph -c "$CEPH_CONF" --admin-socket '' config set osd osd_snap_trim_sleep 0.001 \
    >/dev/null 2>&1 || fail "ceph config set osd osd_snap_trim_sleep 0.001"
hctl "$D" route add ceph --type rados --ceph-conf "$CEPH_CONF" --pool haven >/dev/null
P=$TMP/p F1=$TMP/f1 F2=$TMP/f2
for t in p f1 f2; do
    hctl "$D" tenant add "$t" --route ceph >/dev/null
    hctl "$D" cert issue "$t" --site hq --out "$TMP/$t" >/dev/null
done
hctl "$D" disk create p/vm/d0 --size 64M >/dev/null
for n in 0 1 2 3; do hctl "$D" disk create f1/vm/d$n --size 256M >/dev/null; done
hctl "$D" disk create f2/vm/d0 --size 256M >/dev/null

# Section 7 slows the backend down with the fault injector; its rules
# file does not exist until then (no rule: no effect).
export HAVEN_FAULT_FILE=$TMP/faults
mport=$(free_port)
printf '[metrics]\nlisten = 127.0.0.1:%s\n' "$mport" >>"$D/haven.conf"
start_havend "$D" "$port"

# --- 2. session limit ------------------------------------------------------

check "max-sessions 1: a second session is refused while the first holds one"
"$PY" - "$(nbd_uri "$S" "$port" vm/d0)" "$TMP/hold.stop" >"$TMP/hold.out" 2>&1 <<'EOF' &
import os, sys, time
import nbd
h = nbd.NBD()
h.set_uri_allow_local_file(True)
h.connect_uri(sys.argv[1])
print("ready", h.get_size(), flush=True)
while not os.path.exists(sys.argv[2]):
    time.sleep(0.05)
h.shutdown()
print("closed", flush=True)
EOF
hold=$!
PIDS+=("$hold")
for _ in $(seq 100); do grep -q ready "$TMP/hold.out" && break; sleep 0.1; done
grep -q "ready $((64 * M))" "$TMP/hold.out" || fail "libnbd client did not connect: $(cat "$TMP/hold.out")"
# nbdinfo reports the refusal; the server's message to the client shows
# in libnbd's debug output.
if out=$(LIBNBD_DEBUG=1 run_to 30 nbdinfo --size "$(nbd_uri "$S" "$port" vm/d0)" 2>&1); then
    fail "second session while max-sessions 1" "refused" "$out"
fi
grep -q "server policy prevents NBD_OPT_GO" <<<"$out" ||
    fail "nbdinfo's error" "server policy prevents NBD_OPT_GO" "$(tail -3 <<<"$out")"
grep -qi "session limit reached" <<<"$out" ||
    fail "refusal message" "session limit reached ..." "$(grep -i 'error\|policy' <<<"$out" | tail -5)"
touch "$TMP/hold.stop"
wait_exit "$hold" 10 || fail "libnbd client did not close"
[[ $WAIT_RC -eq 0 ]] || fail "libnbd client: $(cat "$TMP/hold.out")"
size=$(nbd_size "$S" "$port" vm/d0)
[[ $size -eq $((64 * M)) ]] || fail "nbdinfo after the first closed" $((64 * M)) "$size"
ok "refused with: $(grep -io 'session limit[^"]*' <<<"$out" | head -1)"

# --- 3. bandwidth ----------------------------------------------------------

check "bandwidth: a at 20 MiB/s copies 128 MiB in 6.4 s +-15%; b unlimited at the same time"
img=$TMP/128.img
make_random "$img" 128
copy_timed() { # BUNDLE OUTFILE
    local t0 t1
    t0=$(now_ms)
    run_to 60 nbdcopy "$img" "$(nbd_uri "$1" "$port" vm/d0)" || { echo fail >"$2"; return; }
    t1=$(now_ms)
    echo $((t1 - t0)) >"$2"
}
copy_timed "$A" "$TMP/ta" &
pa=$!
copy_timed "$B" "$TMP/tb" &
pb=$!
PIDS+=("$pa" "$pb")
wait_exit "$pa" 70 || fail "nbdcopy of tenant a still runs"
wait_exit "$pb" 70 || fail "nbdcopy of tenant b still runs"
ta=$(cat "$TMP/ta") tb=$(cat "$TMP/tb")
[[ $ta != fail && $tb != fail ]] || fail "nbdcopy failed" "both ok" "a=$ta b=$tb"
((ta >= 5440 && ta <= 7360)) || fail "tenant a's 128 MiB at 20 MiB/s" "5440..7360 ms" "$ta ms"
((tb * 2 < ta)) || fail "tenant b (no limit) at the same time" "< $((ta / 2)) ms" "$tb ms"
nbd_read "$A" "$port" vm/d0 "$TMP/back.img"
same_file "$img" "$TMP/back.img" "tenant a's data"
ok "a: $ta ms (expected 6400), b: $tb ms"

# --- 4. suspend and resume -------------------------------------------------

check "suspend cuts a running nbdcopy and refuses new sessions; resume"
big=$TMP/big.img
truncate -s 128M "$big"
cat "$img" >"$big"
run_to 60 nbdcopy "$big" "$(nbd_uri "$A" "$port" vm/d0)" >"$TMP/cut.out" 2>&1 &
pc=$!
PIDS+=("$pc")
sleep 1.5
alive "$pc" || fail "the throttled nbdcopy ended before the suspend"
t0=$(now_ms)
hctl "$D" tenant suspend a | grep -q "suspended" || fail "tenant suspend output"
wait_exit "$pc" 10 || fail "nbdcopy still runs 10 s after tenant suspend"
t1=$(now_ms)
[[ $WAIT_RC -ne 0 ]] || fail "nbdcopy of a suspended tenant" "failure" "exit 0"
wait_havend_log "tenant suspended or removed" 5
if out=$(run_to 30 nbdinfo --size "$(nbd_uri "$A" "$port" vm/d0)" 2>&1); then
    fail "nbdinfo of a suspended tenant" "refused" "$out"
fi
wait_havend_log "reason=tenant_suspended" 5
"$HAVENCTL" -d "$D" tenant show a --json >"$TMP/a.json"
json_ok "$TMP/a.json" "d['state'] == 'suspended'"
hctl "$D" tenant resume a >/dev/null
sleep 1.2
size=$(nbd_size "$A" "$port" vm/d0)
[[ $size -eq $((128 * M)) ]] || fail "nbdinfo after resume" $((128 * M)) "$size"
ok "nbdcopy cut $((t1 - t0)) ms after the suspend (exit $WAIT_RC)"

# --- 5. lease ----------------------------------------------------------------

check "a lease end in the past: havend suspends the tenant and logs it"
hctl "$D" tenant set b --lease-until 2020-01-01 >/dev/null
wait_havend_log "event=lease_expired tenant=b action=suspended result=ok" 10
"$HAVENCTL" -d "$D" tenant show b --json >"$TMP/b.json"
json_ok "$TMP/b.json" "d['state'] == 'suspended' and d['lease_until'] == '2020-01-01T00:00:00Z'"
# The audit trail says who suspended it.
"$HAVENCTL" -d "$D" audit --tenant b --json >"$TMP/b-audit.json"
json_ok "$TMP/b-audit.json" 'd[-1]["actor"] == "havend" and d[-1]["action"] == "tenant.suspend" and "reason=lease_expired" in d[-1]["detail"]'
if out=$(run_to 30 nbdinfo --size "$(nbd_uri "$B" "$port" vm/d0)" 2>&1); then
    fail "nbdinfo of a tenant past its lease" "refused" "$out"
fi
ok

# --- 6. purge ----------------------------------------------------------------

check "purge refused while a restore point is immutable; nothing removed"
make_random "$TMP/8.img" 8
run_to 60 nbdcopy "$TMP/8.img" "$(nbd_uri "$I" "$port" vm/d0)" || fail "nbdcopy into i"
hctl "$D" rp create i/vm/d0 >/dev/null
hfail "$D" tenant remove i --purge
[[ $(wc -l <<<"$ERR") -eq 1 ]] || fail "one line" "1 line" "$ERR"
grep -q "immutable until .*nothing removed" <<<"$ERR" || fail "purge refusal" "immutable until" "$ERR"
"$HAVENCTL" -d "$D" tenant show i --json >"$TMP/i.json"
json_ok "$TMP/i.json" "d['state'] == 'active' and len(d['disks']) == 1 and len(d['credentials']) == 1"
ok "$ERR"

check "purge on the rados route leaves nothing in the namespace"
wait_route_open ceph
make_random "$TMP/64.img" 64
run_to 120 nbdcopy "$TMP/64.img" "$(nbd_uri "$P" "$port" vm/d0)" || fail "nbdcopy into p"
hctl "$D" rp create p/vm/d0 >/dev/null
put_random "$TMP/64.img" 0 $((8 * M))
run_to 120 nbdcopy "$TMP/64.img" "$(nbd_uri "$P" "$port" vm/d0)" || fail "nbdcopy into p"
rados_ -p haven -N p ls >"$TMP/ls.p" || fail "rados ls -N p"
[[ -s $TMP/ls.p ]] || fail "no objects of p before the purge"
hfail "$D" tenant remove p
grep -q "still has 1 disk" <<<"$ERR" || fail "remove without --purge" "still has 1 disk" "$ERR"
out=$(hctl "$D" tenant remove p --purge)
# Restore points: the manual one and one per session that wrote.
grep -qE "Purged tenant 'p' .*removed 1 disk, [3-9] restore points, 1 credential and (1[6-9]|[2-9][0-9]) data objects" <<<"$out" ||
    fail "purge report" "removed 1 disk, >= 3 restore points, 1 credential and >= 16 data objects" "$out"
# Heads go at once; the clones kept for the removed restore points go
# when the OSD trims the released snaps, in the background.  Until then
# the listing still names them (stat says ENOENT: no head).
for _ in $(seq 40); do
    rados_ -p haven -N p ls >"$TMP/ls.p" || fail "rados ls -N p"
    [[ -s $TMP/ls.p ]] || break
    sleep 0.5
done
[[ ! -s $TMP/ls.p ]] || fail "objects left in namespace p" "none" "$(head -5 "$TMP/ls.p")"
hfail "$D" tenant show p
grep -q "tenant 'p' does not exist" <<<"$ERR" || fail "tenant show after purge" "does not exist" "$ERR"
ok "$out"

# --- 7. fairness -------------------------------------------------------------

check "fair shares: f1 with 4 nbdcopy vs f2 with 1, every write 150 ms late"
make_random "$TMP/256.img" 256
echo "op=write,delay=150" >"$TMP/faults.new"
mv "$TMP/faults.new" "$TMP/faults"
fpids=()
start_copy() { # BUNDLE EXPORT
    run_to 120 nbdcopy "$TMP/256.img" "$(nbd_uri "$1" "$port" "$2")" >/dev/null 2>&1 &
    fpids+=($!)
    PIDS+=($!)
}
# written TENANT: the bytes havend wrote for the tenant so far, from its
# metrics (what the backend took, not what clients queued).
written() {
    "$PY" -c 'import sys, urllib.request
want = "haven_tenant_written_bytes_total{tenant=\"%s\"}" % sys.argv[2]
for line in urllib.request.urlopen(sys.argv[1], timeout=10).read().decode().splitlines():
    if line.split(" ")[0] == want:
        print(line.split(" ")[1])' "http://127.0.0.1:$mport/metrics" "$1"
}
# round: 4 copies of f1 and 1 of f2 at once; after 1 s (every client
# connected), a window of 3 s, well before the first copy of 256 MiB can
# finish at this speed; prints f2's share of what havend wrote in it.
round() {
    local a0 a1 b0 b1 t0 win a b p
    fpids=()
    for n in 0 1 2 3; do start_copy "$F1" "vm/d$n"; done
    start_copy "$F2" vm/d0
    sleep 1
    a0=$(written f1) b0=$(written f2) t0=$(now_ms)
    sleep 3
    a1=$(written f1) b1=$(written f2) win=$(($(now_ms) - t0))
    for p in "${fpids[@]}"; do alive "$p" || fail "a copy ended within the window"; done
    for p in "${fpids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${fpids[@]}"; do wait_exit "$p" 10 || true; done
    [[ -n $a0 && -n $a1 && -n $b0 && -n $b1 ]] || fail "tenant byte counters missing from /metrics"
    a=$(((a1 - a0) >> 20)) b=$(((b1 - b0) >> 20))
    ((a + b > 0)) || fail "nothing written in the fairness window"
    echo "  in $win ms havend wrote f1 (4 copies) $a MiB, f2 (1 copy) $b MiB" >&2
    echo $((100 * b / (a + b)))
}
share=$(round)
echo "  f2 share $share%"
grep -q 'event=fault_file .*loaded: 1 rule' "$HAVEND_LOG" ||
    fail "havend did not load the delay rule" "event=fault_file ... 1 rule" "$(grep fault_file "$HAVEND_LOG")"
((share >= 40)) || fail "f2's share of the backend" ">= 40%" "$share%"
ok

check "weights: f2 at weight 3 gets about three quarters (every write 300 ms late)"
# Slower, so that f2's one copy cannot finish within the window.
echo "op=write,delay=300" >"$TMP/faults.new"
mv "$TMP/faults.new" "$TMP/faults"
hctl "$D" tenant set f2 --weight 3 >/dev/null
sleep 0.5 # havend re-reads limits at its next catalog poll (250 ms)
share=$(round)
rm -f "$TMP/faults"
echo "  f2 share $share%"
((share >= 60)) || fail "f2's share at weight 3 against weight 1" ">= 60%" "$share%"
ok

stop_havend
echo "PASS"

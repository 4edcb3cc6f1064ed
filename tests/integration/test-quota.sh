#!/usr/bin/env bash
# The stored-bytes quota, counted from what is really allocated: live
# extents plus the restore point history (clones), 4 MiB extents.
#  1. tenant qs (max-stored 40M) replicates 24 MiB with nbdcopy: 6 extents
#     live; the session end cuts restore point 1.
#  2. qemu-io overwrites the first 8 MiB: the store now keeps 2 extents of
#     history for restore point 1, so the ledger holds 32 MiB.
#  3. one python3-libnbd session: a 12 MiB write into a hole (3 more
#     extents: 44 MiB > 40 MiB) gets ENOSPC, the client's error says "No
#     space left on device"; the range still reads as zeros (nothing
#     applied); rewriting the already changed first 8 MiB needs no space
#     and succeeds; `disk show` reports the quota-full alert; no restore
#     point was removed to make room.
#  4. the quota is raised to 100M: the same session's 12 MiB write now
#     succeeds; the alert clears; every byte reads back as written, and
#     restore point 1 still reads back as the original 24 MiB.
#  5. after the sessions end, `tenant show --json` gives stored used ==
#     live 36 MiB (9 extents) + history: 8 MiB for restore point 1 and the
#     overwritten 8 MiB for restore point 2 (cut at the end of step 3/4's
#     session, before which those extents changed again) — exactly.
#  6. removing restore point 1 releases its clones (history shrinks by
#     them), as the store frees them.
#  7. a failover test's clone counts: the operator writes 8 MiB into
#     qs/vm/d@test-ID (2 extents of its own), the tenant's stored bytes
#     grow by 8 MiB; stopping the test gives them back.
#  8. a header object behind the catalog is written again at start; the
#     allocation map saved at a clean close: after a restart the disk
#     opens from it (havend logs map=saved) and reads back the same bytes
#     and holes; killed with -9 while the disk is open, the next start
#     lists the store (map=listed) and still reads back the same.
#  9. tenant qf (max-stored 16M): nbdcopy of 32 MiB stops with "No space
#     left on device"; every 256 KiB block of the disk holds the image or
#     zeros (nothing half applied) and havend stored at most 16 MiB; once
#     the quota is raised, a qemu-io write succeeds.
source "$(dirname "$0")/functions.sh"
requires nbdcopy qemu-io
requires_python_nbd
requires_haven

M=$((1 << 20))
D=$TMP/haven
port=$(free_port)
B=$TMP/qs

haven_init "$D" "tenant:qs" "bundle:qs:hq:$B" "operator:ops:$TMP/op" "disk:qs/vm/d:64M"
hctl "$D" tenant set qs --max-stored 40M >/dev/null
start_havend "$D" "$port"

stored() { # the tenant's stored bytes as `tenant show --json` gives them
    "$HAVENCTL" -d "$D" tenant show qs --json >"$TMP/t.json" || fail "tenant show"
    json_eval "$TMP/t.json" "d['quotas']['stored']['used']"
}
# wait_stored BYTES: havend writes live bytes at cuts and closes, off the
# loop; wait until the catalog has them.
wait_stored() {
    local deadline=$((SECONDS + 20)) got
    while got=$(stored) && [[ $got != "$1" ]]; do
        ((SECONDS < deadline)) || fail "stored bytes" "$1" "$got"
        sleep 0.2
    done
}

# --- 1 ------------------------------------------------------------------------
check "24 MiB replicated under a 40 MiB stored quota"
make_random "$TMP/img" 24
run_to 120 nbdcopy "$TMP/img" "$(nbd_uri "$B" "$port" vm/d)" || fail "nbdcopy into qs"
wait_rps "$D" qs/vm/d "$TMP/rps.json" "len(d) == 1" 30
wait_stored $((24 * M))
# The session's log line says what its end meant for restore points.
grep -qE 'event=session_end .*export=vm/d .*bytes_in=[0-9]+ .*duration_ms=[0-9]+ restore_point=cut_at_session_end' "$HAVEND_LOG" ||
    fail "session_end with restore_point=cut_at_session_end" "a line" "$(grep session_end "$HAVEND_LOG")"
ok "stored $((24 * M)) after the copy and restore point 1"

# --- 2 ------------------------------------------------------------------------
check "overwriting 8 MiB after a restore point costs 8 MiB of history"
qio_ok "$B" "$port" vm/d "write -P 0x11 0 8M"
wait_rps "$D" qs/vm/d "$TMP/rps.json" "len(d) == 2" 30
# Restore point 2 (this session's end) owns nothing yet; restore point 1
# keeps the 2 overwritten extents.
wait_stored $((32 * M))
ok "stored $((32 * M))"

# --- 3 and 4 ------------------------------------------------------------------
check "ENOSPC at the quota, nothing applied, the same session goes on once raised"
cat >"$TMP/quota.py" <<'PYEOF'
import errno, subprocess, sys, time
import nbd

bundle, port, havenctl, d = sys.argv[1:5]
M = 1 << 20
h = nbd.NBD()
h.set_tls(nbd.TLS_REQUIRE)
h.set_tls_certificates(bundle)
h.connect_uri(f"nbds://127.0.0.1:{port}/vm/d")

def show():
    out = subprocess.run([havenctl, "-d", d, "disk", "show", "qs/vm/d"],
                         capture_output=True, text=True, check=True).stdout
    return out

# The first 8 MiB changed since restore point 2: 2 more extents of history
# (40 MiB: exactly the quota), allowed.
h.pwrite(b"\x22" * (8 * M), 0)
try:
    h.pwrite(b"\x33" * (12 * M), 40 * M)
    sys.exit("FAIL: a write over the stored quota succeeded")
except nbd.Error as e:
    if e.errnum != errno.ENOSPC:
        sys.exit(f"FAIL: expected ENOSPC, got {e.errnum}: {e}")
    print(f"  refused as expected: {e}")
if h.pread(12 * M, 40 * M) != bytes(12 * M):
    sys.exit("FAIL: the refused write left data behind")
# Already changed since the latest restore point: no new space.
h.pwrite(b"\x44" * (4 * M), 0)
h.flush()
deadline = time.time() + 10
while "ALERT:          quota-full" not in show():
    if time.time() > deadline:
        sys.exit("FAIL: disk show has no quota-full alert:\n" + show())
    time.sleep(0.1)
# Never silent: history is kept, not dropped to make room.
import json
rps = json.loads(subprocess.run([havenctl, "-d", d, "rp", "list", "qs/vm/d", "--json"],
                                capture_output=True, text=True, check=True).stdout)
if len(rps) != 2:
    sys.exit(f"FAIL: {len(rps)} restore points while the quota was full, not 2")
subprocess.run([havenctl, "-d", d, "tenant", "set", "qs", "--max-stored", "100M"],
               check=True)
deadline = time.time() + 10
while True:
    try:
        h.pwrite(b"\x33" * (12 * M), 40 * M)
        break
    except nbd.Error as e:
        # havend sees the new quota within a catalog poll (250 ms).
        if e.errnum != errno.ENOSPC or time.time() > deadline:
            sys.exit(f"FAIL: the write after raising the quota: {e}")
        time.sleep(0.2)
h.flush()
deadline = time.time() + 10
while "ALERT" in show():
    if time.time() > deadline:
        sys.exit("FAIL: the alert did not clear:\n" + show())
    time.sleep(0.1)
want = b"\x44" * (4 * M) + b"\x22" * (4 * M)
if h.pread(8 * M, 0) != want or h.pread(12 * M, 40 * M) != b"\x33" * (12 * M):
    sys.exit("FAIL: data read back differs")
h.shutdown()
PYEOF
run_to 120 "$PY" "$TMP/quota.py" "$B" "$port" "$HAVENCTL" "$D" || fail "quota session"
grep -q 'event=quota_full disk=qs/vm/d' "$HAVEND_LOG" || fail "havend logged no quota_full"
grep -q 'error=NBD_ENOSPC reason="stored-bytes quota of tenant qs is full' "$HAVEND_LOG" ||
    fail "havend logged no ENOSPC refusal with its reason"
ok "ENOSPC, nothing applied, alert shown and cleared, session went on"

check "restore point 1 still holds the original 24 MiB"
nbd_read "$B" "$port" vm/d@1 "$TMP/rp1"
head -c $((24 * M)) "$TMP/rp1" >"$TMP/rp1.head"
same_file "$TMP/img" "$TMP/rp1.head" "restore point 1"
ok

# --- 5 ------------------------------------------------------------------------
check "the ledger is exact after the sessions"
wait_rps "$D" qs/vm/d "$TMP/rps.json" "len(d) == 3" 30
# live: extents 0-5 and 10-12 = 9 extents; history: restore point 1 keeps
# extents 0-1 (its content), restore point 2 extents 0-1 (0x11), restore
# point 3 (after the last session) nothing.
wait_stored $((36 * M + 16 * M))
"$HAVENCTL" -d "$D" disk show qs/vm/d --json >"$TMP/d.json" || fail "disk show"
json_ok "$TMP/d.json" "d['stored'] == {'live': $((36 * M)), 'history': $((16 * M)), 'total': $((52 * M))} and d['alert'] is None"
ok "36 MiB live + 16 MiB history"

# --- 6 ------------------------------------------------------------------------
check "removing restore point 1 releases its clones"
hctl "$D" rp remove qs/vm/d 1 >/dev/null
wait_stored $((36 * M + 8 * M))
ok "history 8 MiB after the removal"

# --- 7 ------------------------------------------------------------------------
check "a failover test's clone is in the ledger while the test runs"
"$HAVENCTL" -d "$D" failover test start qs/vm >"$TMP/ft.txt" || fail "failover test start"
ID=$(sed -n 's/^Started failover test \([0-9][0-9]*\) of qs\/vm at:$/\1/p' "$TMP/ft.txt")
[[ -n $ID ]] || fail "no test id" "an id" "$(cat "$TMP/ft.txt")"
# qio_ok opens "@" exports read-only; a test clone is writable.
run_to 60 qemu-io --object "$(qemu_object "$TMP/op")" \
    --image-opts "$(qemu_opts "$TMP/op" "$port" "qs/vm/d@test-$ID")" \
    -c "write -P 0x66 16M 8M" >"$TMP/qio.txt" 2>&1 || fail "write into the test clone" "ok" "$(cat "$TMP/qio.txt")"
grep -q "wrote 8388608/8388608" "$TMP/qio.txt" || fail "write into the test clone" "wrote 8388608" "$(cat "$TMP/qio.txt")"
wait_stored $((44 * M + 8 * M))
hctl "$D" failover test stop "$ID" >/dev/null
wait_stored $((44 * M))
ok "8 MiB while the test ran, none after"

# --- 8 ------------------------------------------------------------------------
check "the map saved at a clean close, and a listing after kill -9"
nbd_read "$B" "$port" vm/d "$TMP/before"
stop_havend
# A header behind the catalog (as a crash between the two leaves it) is
# written again when the route opens.
"$HAVENCTL" -d "$D" disk show qs/vm/d --json >"$TMP/d.json" || fail "disk show"
H=$D/store/qs/$(printf '%016x' "$(json_eval "$TMP/d.json" "d['id']")").header
[[ -s $H ]] || fail "no header object at $H"
cp "$H" "$TMP/header.good"
grep -v '^rp 3 ' "$TMP/header.good" >"$H"
cmp -s "$H" "$TMP/header.good" && fail "the header edit changed nothing"
start_havend "$D" "$port"
wait_havend_log 'event=headers_repaired route=local disks=1 ' 10
cmp -s "$H" "$TMP/header.good" || fail "the header after the repair" "$(cat "$TMP/header.good")" "$(cat "$H")"
nbd_read "$B" "$port" vm/d "$TMP/after"
same_file "$TMP/before" "$TMP/after" "vm/d after a clean restart"
wait_havend_log 'event=disk_open disk=qs/vm/d .* map=saved' 10
"$PY" - "$B" "$port" >"$TMP/holes" <<'PYEOF'
import sys, nbd
h = nbd.NBD()
h.set_tls(nbd.TLS_REQUIRE)
h.set_tls_certificates(sys.argv[1])
h.add_meta_context("base:allocation")
h.connect_uri(f"nbds://127.0.0.1:{sys.argv[2]}/vm/d")
runs = []
def cb(ctx, off, ents, err):
    runs.extend(ents)
    return 0
h.block_status(h.get_size(), 0, cb)
# 4 MiB extents 6 to 9 were never written: a hole the saved map knows.
print("hole-at-24M" if runs[:3] == [24 << 20, 0, 16 << 20] and runs[3] & 1 else f"runs {runs[:4]}")
PYEOF
grep -q "hole-at-24M" "$TMP/holes" || fail "block status from the saved map" "data to 24 MiB, then a hole" "$(cat "$TMP/holes")"
hold_py() {
    "$PY" - "$B" "$port" <<'PYEOF' &
import nbd, sys, time
h = nbd.NBD()
h.set_tls(nbd.TLS_REQUIRE)
h.set_tls_certificates(sys.argv[1])
h.connect_uri(f"nbds://127.0.0.1:{sys.argv[2]}/vm/d")
print("ready", flush=True)
time.sleep(60)
PYEOF
    HOLDER=$!
    PIDS+=("$HOLDER")
}
hold_py >"$TMP/holder"
wait_ready "$TMP/holder" "the holder"
kill9_havend
kill "$HOLDER" 2>/dev/null || true
start_havend "$D" "$port"
nbd_read "$B" "$port" vm/d "$TMP/after"
same_file "$TMP/before" "$TMP/after" "vm/d after kill -9"
wait_havend_log 'event=disk_open disk=qs/vm/d .* map=listed' 10
ok "saved after a clean stop, listed after kill -9"

# --- 9 ------------------------------------------------------------------------
check "nbdcopy into a full quota: No space left on device, nothing half applied"
hctl "$D" tenant add qf --max-stored 16M >/dev/null
hctl "$D" cert issue qf --site hq --out "$TMP/qf" >/dev/null
hctl "$D" disk create qf/vm/d --size 32M >/dev/null
make_random "$TMP/img32" 32
if run_to 120 nbdcopy "$TMP/img32" "$(nbd_uri "$TMP/qf" "$port" vm/d)" >"$TMP/cp.out" 2>&1; then
    fail "nbdcopy of 32 MiB under a 16 MiB quota succeeded"
fi
grep -q "No space left on device" "$TMP/cp.out" ||
    fail "nbdcopy's error" "No space left on device" "$(cat "$TMP/cp.out")"
nbd_read "$TMP/qf" "$port" vm/d "$TMP/qf.back"
"$PY" - "$TMP/img32" "$TMP/qf.back" <<'PYEOF' || fail "qf/vm/d after ENOSPC"
import sys
img, back = open(sys.argv[1], "rb").read(), open(sys.argv[2], "rb").read()
B = 256 << 10
data = 0
for o in range(0, len(img), B):
    blk = back[o:o + B]
    if blk == img[o:o + B]:
        data += 1
    elif blk != bytes(B):
        sys.exit(f"block at {o} is neither the image nor zeros")
if data * B > 16 << 20 or data == 0:
    sys.exit(f"{data} blocks of 256 KiB written under a 16 MiB quota")
print(f"  {data * B >> 20} MiB of the image landed, the rest reads as zeros")
PYEOF
hctl "$D" tenant set qf --max-stored 64M >/dev/null
sleep 0.5 # havend re-reads the limits at its next catalog poll (250 ms)
run_to 60 qemu-io --object "$(qemu_object "$TMP/qf")" \
    --image-opts "$(qemu_opts "$TMP/qf" "$port" vm/d)" \
    -c "write -P 0x5a 28M 4M" -c "read -P 0x5a 28M 4M" >"$TMP/qio.txt" 2>&1 ||
    fail "qemu-io after raising the quota" "ok" "$(cat "$TMP/qio.txt")"
grep -q "wrote 4194304/4194304" "$TMP/qio.txt" && ! grep -qi "fail\|error" "$TMP/qio.txt" ||
    fail "qemu-io after raising the quota" "wrote 4194304" "$(cat "$TMP/qio.txt")"
ok

stop_havend
echo "PASS"

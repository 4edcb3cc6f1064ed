#!/usr/bin/env bash
# The stored-bytes ledger survives kill -9: after a crash, the reopen
# and the next restore point, a disk costs exactly what the same writes
# cost without a crash.  On the local route and on a rados route of a
# throwaway Ceph cluster, per tenant two 32 MiB disks (4 MiB extents):
#   k  one session writes 16 MiB (restore point 1 at its end); a second
#      session does writes A then writes B (restore point 2 at its end);
#   c  the same, but havend is killed with -9 after writes A (flushed,
#      the session still open), started again (the disk opens with a
#      listed map), and a new session does writes B.
# Writes A: overwrite extents 0 and 1, zero the whole of extent 2 (the
# object goes), write extent 6 (new).  Writes B: rewrite extent 0 (the
# store has kept its restore point 1 content since A: no new clone),
# write extent 7 (new).
# Then for both disks `disk show --json` says 20 MiB live (0, 1, 3, 6,
# 7) + 12 MiB of history (the clones of 0, 1, 2 that restore point 1
# keeps), `rp list` gives restore point 2 20 MiB changed, and `tenant
# show --json` stored used is 64 MiB.  Before the fix the crashed disk
# lost the clones of writes A: 4 MiB of history instead of 12.
source "$(dirname "$0")/functions.sh"
requires qemu-io
requires_python_nbd
requires_haven

M=$((1 << 20))
D=$TMP/haven
port=$(free_port)
haven_init "$D"
ceph_start "$TMP/ceph"
# No checkpoint cuts during the test: restore points come from session ends.
local_and_rados_tenants "$D" --checkpoint 3600
for t in tl tr; do
    hctl "$D" disk create "$t/vm/k" --size 32M >/dev/null
    hctl "$D" disk create "$t/vm/c" --size 32M >/dev/null
done

# writer.py BUNDLE PORT EXPORT hold|end OP...: one session; OP is
# w:OFF_MIB:LEN_MIB:BYTE or z:OFF_MIB:LEN_MIB (WRITE_ZEROES).  After the
# ops a flush; then "ready" and, with hold, the session stays open.
cat >"$TMP/writer.py" <<'EOF'
import sys, time
import nbd

bundle, port, export, mode = sys.argv[1:5]
M = 1 << 20
h = nbd.NBD()
h.set_tls(nbd.TLS_REQUIRE)
h.set_tls_certificates(bundle)
h.connect_uri(f"nbds://127.0.0.1:{port}/{export}")
for op in sys.argv[5:]:
    f = op.split(":")
    if f[0] == "w":
        h.pwrite(bytes([int(f[3], 0)]) * (int(f[2]) * M), int(f[1]) * M)
    else:
        h.zero(int(f[2]) * M, int(f[1]) * M)
h.flush()
print("ready", flush=True)
if mode == "hold":
    time.sleep(120)
h.shutdown()
EOF
A=(w:0:8:0x22 z:8:4 w:24:4:0x66)
B=(w:0:4:0x33 w:28:4:0x77)

write_session() { # TENANT DISK hold|end OP...
    local t=$1 disk=$2 mode=$3
    shift 3
    run_to 120 "$PY" "$TMP/writer.py" "$TMP/$t.bundle" "$port" "vm/$disk" "$mode" "$@" \
        >/dev/null || fail "writer on $t/vm/$disk"
}

# rps_settled TENANT/VM/DISK N: N restore points, the last one recorded.
rps_settled() { wait_rps "$D" "$1" "$TMP/rps.json" "len(d) == $2" 60; }

start() {
    start_havend "$D" "$port"
    wait_route_open ceph1
}

start
for t in tl tr; do
    check "$t: restore point 1 of 16 MiB on both disks"
    for disk in k c; do
        qio_ok "$TMP/$t.bundle" "$port" "vm/$disk" "write -P 0x11 0 16M"
        rps_settled "$t/vm/$disk" 1
    done
    ok
    check "$t: writes A and B on k without a crash"
    write_session "$t" k end "${A[@]}" "${B[@]}"
    rps_settled "$t/vm/k" 2
    ok
done

for t in tl tr; do
    check "$t: writes A on c, kill -9 with the session open"
    "$PY" "$TMP/writer.py" "$TMP/$t.bundle" "$port" vm/c hold "${A[@]}" \
        >"$TMP/holder" 2>&1 &
    HOLDER=$!
    PIDS+=("$HOLDER")
    wait_ready "$TMP/holder" "the writer of A" 60
    kill9_havend
    kill "$HOLDER" 2>/dev/null || true
    wait_exit "$HOLDER" 10 || true
    rp_list "$D" "$t/vm/c" "$TMP/rps.json"
    json_ok "$TMP/rps.json" "len(d) == 1"
    start
    check "$t: writes B on c after the restart"
    write_session "$t" c end "${B[@]}"
    wait_havend_log "event=disk_open disk=$t/vm/c .* map=listed" 10
    rps_settled "$t/vm/c" 2
    ok
done

# disk_stored TENANT/VM/DISK: "live history total" as disk show gives them.
disk_stored() {
    "$HAVENCTL" -d "$D" disk show "$1" --json >"$TMP/d.json" || fail "disk show $1"
    json_eval "$TMP/d.json" "' '.join(str(d['stored'][k]) for k in ('live', 'history', 'total'))"
}
# wait_disk_stored TENANT/VM/DISK "LIVE HISTORY TOTAL": the catalog gets
# the figures off the loop after the cut.
wait_disk_stored() {
    local deadline=$((SECONDS + 20)) got
    while got=$(disk_stored "$1") && [[ $got != "$2" ]]; do
        ((SECONDS < deadline)) || fail "stored bytes of $1 (live history total)" "$2" "$got"
        sleep 0.2
    done
}

want="$((20 * M)) $((12 * M)) $((32 * M))"
for t in tl tr; do
    check "$t: the crashed disk costs what the other one does"
    wait_disk_stored "$t/vm/k" "$want"
    wait_disk_stored "$t/vm/c" "$want"
    for disk in k c; do
        rp_list "$D" "$t/vm/$disk" "$TMP/rps.json"
        json_ok "$TMP/rps.json" "d[-1]['bytes_changed'] == $((20 * M))"
    done
    "$HAVENCTL" -d "$D" tenant show "$t" --json >"$TMP/t.json" || fail "tenant show $t"
    json_ok "$TMP/t.json" "d['quotas']['stored']['used'] == $((64 * M))"
    ok "live, history and total $want on both; tenant stored $((64 * M))"
done

check "the crashed disks read back what the others do"
for t in tl tr; do
    nbd_read "$TMP/$t.bundle" "$port" vm/k "$TMP/k.img"
    nbd_read "$TMP/$t.bundle" "$port" vm/c "$TMP/c.img"
    same_file "$TMP/k.img" "$TMP/c.img" "$t/vm/c against $t/vm/k"
done
ok
stop_havend

#!/usr/bin/env bash
# haven on Ceph: a rados route on a throwaway cluster (tests/ceph-micro).
#  1. route add ceph1 --type rados; tenants a and b on it.
#  2. nbdcopy round trip of a 256 MiB image (data, holes, zero runs):
#     byte-identical.
#  3. objects: a's extent objects "<16 hex>.<16 hex>" and its header
#     "<16 hex>.header" are in namespace a only; b's in b only; the
#     default namespace holds none of them.
#  4. the header object names the disk and lists the same restore points
#     (ids and snap ids) as rp list --json.
#  5. an RP of the rados disk reads back v1 after the disk changed.
#  6. the OSD stops for 3 s during an nbdcopy --flush: the copy stalls,
#     then completes, and reads back identical (no write fails, no write
#     is acknowledged while nothing can store it).
source "$(dirname "$0")/functions.sh"
requires nbdcopy nbdinfo qemu-io
requires_haven

M=$((1 << 20))
D=$TMP/haven
CD=$TMP/ceph
A=$TMP/a B=$TMP/b
port=$(free_port)
haven_init "$D"
ceph_start "$CD"
ceph_osd_keep_data

check "havenctl route add ceph1 --type rados"
hctl "$D" route add ceph1 --type rados --ceph-conf "$CEPH_CONF" --pool haven >/dev/null
"$HAVENCTL" -d "$D" route list --json >"$TMP/routes"
json_ok "$TMP/routes" "[(r['type'], r['pool']) for r in d if r['name'] == 'ceph1'] == [('rados', 'haven')]"
hctl "$D" tenant add a --route ceph1 >/dev/null
hctl "$D" tenant add b --route ceph1 >/dev/null
"$HAVENCTL" -d "$D" tenant list --json >"$TMP/tenants"
json_ok "$TMP/tenants" "sorted((t['name'], t['route'], t['namespace']) for t in d) ==
    [('a', 'ceph1', 'a'), ('b', 'ceph1', 'b')]"
hctl "$D" cert issue a --site s1 --out "$A" >/dev/null
hctl "$D" cert issue b --site s1 --out "$B" >/dev/null
hctl "$D" disk create a/vm1/disk0 --size 256M >/dev/null
hctl "$D" disk create a/vm1/disk1 --size 256M >/dev/null
hctl "$D" disk create b/vm1/disk0 --size 64M >/dev/null
ok

# disk_hex TENANT/VM/DISK: the disk's id as 16 hex digits (object prefix).
disk_hex() {
    "$HAVENCTL" -d "$D" disk show "$1" --json >"$TMP/disk.json" || fail "disk show $1"
    printf '%016x' "$(json_eval "$TMP/disk.json" "d['id']")"
}
HA=$(disk_hex a/vm1/disk0)
HA1=$(disk_hex a/vm1/disk1)
HB=$(disk_hex b/vm1/disk0)

start_havend "$D" "$port"
wait_route_open ceph1

v1=$TMP/v1.img v2=$TMP/v2.img out=$TMP/out.img
make_image "$v1" 256

check "nbdcopy --flush 256 MiB -> a/vm1/disk0 on the rados route, and back: identical"
run_to 300 nbdcopy --flush "$v1" "$(nbd_uri "$A" "$port" vm1/disk0)" ||
    fail "nbdcopy into haven failed"
nbd_read "$A" "$port" vm1/disk0 "$out"
same_file "$v1" "$out" "round trip through the rados route"
grep -q 'event=route_open route=ceph1 type=rados' "$HAVEND_LOG" ||
    fail "havend did not open route ceph1 as rados"
ok "sha256 $(sha "$out")"

check "rados ls -N a: a's extent objects and header"
rados_ -p haven -N a ls >"$TMP/ls.a" 2>"$TMP/rados.err" || fail "rados ls -N a: $(cat "$TMP/rados.err")"
sort -o "$TMP/ls.a" "$TMP/ls.a"
bad=$(grep -vE '^[0-9a-f]{16}\.([0-9a-f]{16}|header)$' "$TMP/ls.a" || true)
[[ -z $bad ]] || fail "object names in namespace a" "<16 hex>.<16 hex>|header" "$bad"
grep -qx "$HA.header" "$TMP/ls.a" || fail "no header object $HA.header in namespace a"
# make_image 256: data in extents 0-6, 8, 12-27 and 63 (28-32 MiB is a
# hole, 36-48 MiB zeros then a hole, 112-252 MiB a hole).  Never-written
# extents have no object.
for n in 0 1 6 8 12 27 63; do
    grep -qx "$HA.$(printf '%016x' $n)" "$TMP/ls.a" || fail "no object for extent $n in namespace a"
done
for n in 7 10 11 28 40 62; do
    ! grep -qx "$HA.$(printf '%016x' $n)" "$TMP/ls.a" || fail "an object for the hole extent $n"
done
ok "$(wc -l <"$TMP/ls.a") objects"

check "rados ls -N b and the default namespace: none of a's objects"
rados_ -p haven -N b ls >"$TMP/ls.b" 2>/dev/null || fail "rados ls -N b"
[[ ! -s $TMP/ls.b ]] || fail "namespace b before b wrote" "empty" "$(head -3 "$TMP/ls.b")"
rados_ -p haven ls >"$TMP/ls.default" 2>/dev/null || fail "rados ls (default namespace)"
! grep -qE '^[0-9a-f]{16}\.' "$TMP/ls.default" ||
    fail "haven objects in the default namespace" "none" "$(grep -E '^[0-9a-f]{16}\.' "$TMP/ls.default" | head -3)"
ok

check "b writes its own disk: its objects are in namespace b only"
run_to 60 qemu-io --object "$(qemu_object "$B")" --image-opts \
    "$(qemu_opts "$B" "$port" vm1/disk0)" -c "write -P 0xbb 0 $((9 * M))" -c flush >/dev/null ||
    fail "qemu-io write into b/vm1/disk0"
rados_ -p haven -N b ls 2>/dev/null | sort >"$TMP/ls.b" || fail "rados ls -N b"
[[ -s $TMP/ls.b ]] || fail "namespace b is empty after b wrote"
bad=$(grep -vE "^$HB\.([0-9a-f]{16}|header)$" "$TMP/ls.b" || true)
[[ -z $bad ]] || fail "objects in namespace b that are not b's disk $HB" "none" "$bad"
for n in 0 1 2; do
    grep -qx "$HB.$(printf '%016x' $n)" "$TMP/ls.b" || fail "no object for b's extent $n"
done
rados_ -p haven -N a ls 2>/dev/null | sort >"$TMP/ls.a2"
! grep -q "^$HB\." "$TMP/ls.a2" || fail "b's objects in namespace a"
comm -12 "$TMP/ls.a2" "$TMP/ls.b" | grep -q . && fail "names in both namespaces: $(comm -12 "$TMP/ls.a2" "$TMP/ls.b")"
rados_ -p haven ls >"$TMP/ls.default" 2>/dev/null || fail "rados ls (default namespace)"
! grep -qE '^[0-9a-f]{16}\.' "$TMP/ls.default" || fail "haven objects in the default namespace"
# and b's data is b's: a reads its own, unchanged
nbd_read "$A" "$port" vm1/disk0 "$out"
same_file "$v1" "$out" "a/vm1/disk0 after b wrote"
ok "$(wc -l <"$TMP/ls.b") objects in b"

# header_rps TENANT HEX: "ID SNAP" per restore point in the header object.
header_rps() {
    rados_ -p haven -N "$1" get "$2.header" "$TMP/header.$1" 2>/dev/null ||
        fail "rados get $2.header in namespace $1"
    awk '$1 == "rp" && $3 == "snap" { print $2, $4 }' "$TMP/header.$1"
}
catalog_rps() {
    rp_list "$D" "$1" "$TMP/rps"
    json_eval "$TMP/rps" "'\n'.join('%d %d' % (r['id'], r['snap_id']) for r in d)"
}

check "the header object names the disk and its restore points"
wait_rps "$D" a/vm1/disk0 "$TMP/rps" "len(d) >= 1" 15
R1=$(json_eval "$TMP/rps" "d[0]['id']")
header_rps a "$HA" >/dev/null
grep -qx "label a/vm1/disk0" "$TMP/header.a" ||
    fail "header names the disk" "label a/vm1/disk0" "$(cat "$TMP/header.a")"
grep -qx "size $((256 * M))" "$TMP/header.a" ||
    fail "header size line" "size $((256 * M))" "$(cat "$TMP/header.a")"
[[ $(header_rps a "$HA") == "$(catalog_rps a/vm1/disk0)" ]] ||
    fail "header vs rp list --json (id snap)" "$(catalog_rps a/vm1/disk0)" "$(header_rps a "$HA")"
ok "$(header_rps a "$HA" | tr '\n' ';')"

check "RP $R1 of the rados disk reads back v1 after the disk changed"
cp --sparse=always "$v1" "$v2"
qio_ok "$A" "$port" vm1/disk0 \
    "write -P 0x42 $((4 * M - 4096)) $((8 * M))" \
    "write -z $((100 * M)) $((3 * M))" \
    "discard $((200 * M)) $((4 * M))"
put_byte "$v2" $((4 * M - 4096)) $((8 * M)) 0x42
put_byte "$v2" $((100 * M)) $((3 * M)) 0
put_byte "$v2" $((200 * M)) $((4 * M)) 0
nbd_read "$A" "$port" "vm1/disk0@$R1" "$out"
same_file "$v1" "$out" "vm1/disk0@$R1 vs v1"
nbd_read "$A" "$port" vm1/disk0 "$out"
same_file "$v2" "$out" "live vm1/disk0 vs v2"
wait_rps "$D" a/vm1/disk0 "$TMP/rps" "len(d) >= 2" 15
[[ $(header_rps a "$HA") == "$(catalog_rps a/vm1/disk0)" ]] ||
    fail "header vs rp list --json after RP2" "$(catalog_rps a/vm1/disk0)" "$(header_rps a "$HA")"
ok

check "the OSD stops for 3 s during nbdcopy --flush: the copy stalls, completes, reads back identical"
v3=$TMP/v3.img
make_random "$v3" 256
run_to 300 nbdcopy --flush "$v3" "$(nbd_uri "$A" "$port" vm1/disk1)" >"$TMP/copy.out" 2>&1 &
copier=$!
PIDS+=("$copier")
# Stop the OSD once the copy has started writing.
for _ in $(seq 100); do
    grep -q 'event=session_start .*export=vm1/disk1 ' "$HAVEND_LOG" && break
    sleep 0.05
done
sleep 0.3
alive "$copier" || fail "nbdcopy finished before the OSD stopped (too fast to test the outage)"
ceph_osd "$CD" stop
t_stop=$SECONDS
sleep 3
if ! alive "$copier"; then
    wait_exit "$copier" 1 || true
    fail "nbdcopy ended while the OSD was down: acknowledged writes nothing stored" \
        "still running" "exit $WAIT_RC: $(cat "$TMP/copy.out")"
fi
havend_alive
ceph_osd "$CD" start
wait_exit "$copier" 240 || fail "nbdcopy did not finish within 240 s of the OSD's restart"
[[ $WAIT_RC -eq 0 ]] || fail "nbdcopy across the OSD outage" "exit 0" "exit $WAIT_RC: $(cat "$TMP/copy.out")"
havend_alive
nbd_read "$A" "$port" vm1/disk1 "$out"
same_file "$v3" "$out" "vm1/disk1 after the OSD outage"
nbd_read "$A" "$port" vm1/disk0 "$out"
same_file "$v2" "$out" "vm1/disk0 after the OSD outage"
ok "$(grep -cE 'level=(warn|error)' "$HAVEND_LOG" || true) warnings/errors in havend's log"

havend_alive
stop_havend
echo "PASS: $TEST_NAME"

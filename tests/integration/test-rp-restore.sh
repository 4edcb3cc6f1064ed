#!/usr/bin/env bash
# Restore points read back exactly what the disk held when they were cut,
# on the local route and on a rados route (a throwaway Ceph cluster):
#  1. v1 written with nbdcopy --flush (the session ends: RP1, session_end);
#     v2 = v1 changed with qemu-io (patterns across extent boundaries,
#     write -z, discard) (RP2); v3 = more qemu-io writes (RP3).
#     VM/DISK@RP1, @RP2, @RP3, @latest and the live disk read back the
#     matching state byte for byte; rp list --json has the triggers,
#     sizes and bytes_changed > 0; nbdinfo --map of @RP1 shows v1's holes.
#  2. back-to-back sessions on a fresh disk, the route's first since
#     havend started (no pause between them): the first session's RP holds
#     the first session's data only.
#  3. checkpoint trigger: interval 5 s, write, sleep 6 s, write + flush in
#     the same qemu-io session: a checkpoint RP with the data up to that
#     flush and nothing written after it.
#  4. a write to VM/DISK@ID is refused with EPERM by the server.
#  5. disk resize: old RPs keep their size and data, the live disk grows.
source "$(dirname "$0")/functions.sh"
requires nbdcopy nbdinfo qemu-io
requires_python_nbd
requires_haven

M=$((1 << 20))
SIZE=$((64 * M))
D=$TMP/haven
port=$(free_port)
haven_init "$D"
ceph_start "$TMP/ceph"
local_and_rados_tenants "$D"
for t in tl tr; do
    hctl "$D" disk create "$t/vm1/disk0" --size 64M >/dev/null
    hctl "$D" disk create "$t/vm2/disk0" --size 64M >/dev/null
done
start_havend "$D" "$port"
wait_route_open ceph1

# write_eperm BUNDLE EXPORT BYTES: send a WRITE of BYTES to EXPORT anyway
# (libnbd's strict mode off, so the server, not libnbd, must refuse it)
# and require EPERM, on a connection that stays usable (a READ after it).
write_eperm() {
    "$PY" - "$1" "$port" "$2" "$3" <<'EOF' || fail "a $3-byte write to $2 was not refused with EPERM"
import errno, nbd, sys
h = nbd.NBD()
h.set_tls(nbd.TLS_REQUIRE)
h.set_tls_certificates(sys.argv[1])
h.set_export_name(sys.argv[3])
h.connect_tcp("127.0.0.1", sys.argv[2])
if not h.is_read_only():
    sys.exit("%s is not advertised read-only" % sys.argv[3])
h.set_strict_mode(0)
try:
    h.pwrite(b"\xee" * int(sys.argv[4]), 0)
except nbd.Error as e:
    if e.errno in ("EPERM", errno.EPERM):
        h.pread(512, 0)
        print("  %s bytes refused: %s" % (sys.argv[4], e.string))
        sys.exit(0)
    sys.exit("refused with %r, not EPERM: %s" % (e.errno, e.string))
sys.exit("the server acknowledged a write to %s" % sys.argv[3])
EOF
}

# map_check BUNDLE EXPORT IMAGE HOLES DATA: nbdinfo --map of EXPORT; every
# MiB range in HOLES ("start:end ...") must be reported as a hole, every one
# in DATA as data, and every range reported as zero must read as zeros in
# IMAGE.
map_check() {
    run_to 60 nbdinfo --map "$(nbd_uri "$1" "$port" "$2")" >"$TMP/map" ||
        fail "nbdinfo --map $2"
    "$PY" - "$TMP/map" "$3" "$4" "$5" <<'EOF' || { sed 's/^/  | /' "$TMP/map" >&2; fail "block status of $2"; }
import sys
M = 1 << 20
rows = []
for line in open(sys.argv[1]):
    off, length, typ = line.split()[:3]
    rows.append((int(off), int(length), int(typ)))
def kind(a, b):
    """The set of types covering [a, b)."""
    return {t for o, n, t in rows if o < b and o + n > a}
img = open(sys.argv[2], "rb")
bad = []
for o, n, t in rows:
    if t & 2:
        img.seek(o)
        if img.read(n).strip(b"\0"):
            bad.append("reported zero but holds data: %d+%d" % (o, n))
for r in sys.argv[3].split():
    a, b = (int(x) * M for x in r.split(":"))
    if kind(a, b) != {3}:
        bad.append("%d-%d MiB: expected hole,zero, got types %s" % (a // M, b // M, kind(a, b)))
for r in sys.argv[4].split():
    a, b = (int(x) * M for x in r.split(":"))
    if any(t & 1 for t in kind(a, b)):
        bad.append("%d-%d MiB: expected data, got types %s" % (a // M, b // M, kind(a, b)))
for b in bad:
    print("  " + b, file=sys.stderr)
sys.exit(1 if bad else 0)
EOF
}

run_case() {
    local T=$1 route=$2 B=$TMP/$1.bundle
    local disk=$1/vm1/disk0 E=vm1/disk0 W=$TMP/$1
    local v1=$W.v1 v2=$W.v2 v3=$W.v3 v4=$W.v4 out=$W.out rps=$W.rps
    local R1 R2 R3 RC n

    echo "=== route $route (tenant $T)"
    make_image "$v1" 64

    check "[$route] v1 with nbdcopy --flush; its session's end cuts RP1"
    run_to 300 nbdcopy --flush "$v1" "$(nbd_uri "$B" "$port" "$E")" ||
        fail "nbdcopy into $E failed"
    wait_rps "$D" "$disk" "$rps" "len(d) >= 1" 15
    json_ok "$rps" "len(d) == 1 and d[0]['trigger'] == 'session_end'"
    R1=$(json_eval "$rps" "d[0]['id']")
    ok "RP1 = $R1"

    check "[$route] v2: qemu-io writes across extent boundaries, write -z, discard (RP2)"
    cp --sparse=always "$v1" "$v2"
    qio_ok "$B" "$port" "$E" \
        "write -P 0xa5 $((4 * M - 65536)) 131072" \
        "write -P 0x5a $((30 * M)) $((3 * M))" \
        "write -P 0x3c $((63 * M + 512)) 4096" \
        "write -z $((49 * M)) $((6 * M))" \
        "discard $((56 * M)) $((4 * M))" \
        "discard $((2 * M)) $((1 * M))"
    put_byte "$v2" $((4 * M - 65536)) 131072 0xa5
    put_byte "$v2" $((30 * M)) $((3 * M)) 0x5a
    put_byte "$v2" $((63 * M + 512)) 4096 0x3c
    put_byte "$v2" $((49 * M)) $((6 * M)) 0
    put_byte "$v2" $((56 * M)) $((4 * M)) 0
    put_byte "$v2" $((2 * M)) $((1 * M)) 0
    wait_rps "$D" "$disk" "$rps" "len(d) >= 2" 15
    R2=$(json_eval "$rps" "d[1]['id']")
    ok "RP2 = $R2"

    check "[$route] v3: a third session writes (RP3)"
    cp --sparse=always "$v2" "$v3"
    qio_ok "$B" "$port" "$E" \
        "write -P 0x77 $((10 * M)) $((5 * M))" \
        "write -P 0x33 0 512" "flush"
    put_byte "$v3" $((10 * M)) $((5 * M)) 0x77
    put_byte "$v3" 0 512 0x33
    wait_rps "$D" "$disk" "$rps" "len(d) >= 3" 15
    R3=$(json_eval "$rps" "d[2]['id']")
    ok "RP3 = $R3"

    check "[$route] rp list --json: triggers, sizes, bytes_changed, exports"
    json_ok "$rps" "len(d) == 3 and [r['trigger'] for r in d] == ['session_end'] * 3
        and all(r['size'] == $SIZE and r['bytes_changed'] > 0 for r in d)
        and [r['export'] for r in d] == ['$E@%d' % r['id'] for r in d]
        and d[0]['id'] < d[1]['id'] < d[2]['id']
        and d[0]['snap_id'] < d[1]['snap_id'] < d[2]['snap_id']"
    ok "$(json_eval "$rps" "[(r['id'], r['trigger'], r['bytes_changed']) for r in d]")"

    check "[$route] @$R1 = v1, @$R2 = v2, @$R3 = @latest = live = v3, byte for byte"
    nbd_read "$B" "$port" "$E@$R1" "$out"; same_file "$v1" "$out" "$E@$R1 vs v1"
    nbd_read "$B" "$port" "$E@$R2" "$out"; same_file "$v2" "$out" "$E@$R2 vs v2"
    nbd_read "$B" "$port" "$E@$R3" "$out"; same_file "$v3" "$out" "$E@$R3 vs v3"
    nbd_read "$B" "$port" "$E@latest" "$out"; same_file "$v3" "$out" "$E@latest vs v3"
    nbd_read "$B" "$port" "$E" "$out"; same_file "$v3" "$out" "$E vs v3"
    ok

    check "[$route] control: @$R1 is not v2"
    nbd_read "$B" "$port" "$E@$R1" "$out"
    ! cmp -s "$v2" "$out" || fail "@$R1 equals v2: the comparisons prove nothing"
    ok

    # make_image 64: holes at 28-32 MiB and (explicit zeros, then a hole)
    # 36-48 MiB; data at 0-4 and 48-64 MiB.  v2 discarded 56-60 MiB.
    check "[$route] nbdinfo --map: @$R1 shows v1's holes, @$R2 the discard"
    map_check "$B" "$E@$R1" "$v1" "28:32 36:48" "0:4 48:64"
    map_check "$B" "$E@$R2" "$v2" "36:48 56:60" "30:33 60:64"
    ok

    check "[$route] checkpoint trigger: interval 5 s, write, sleep 6 s, write + flush"
    if [[ $route == local ]]; then
        hctl "$D" tenant set "$T" --checkpoint 5 >/dev/null
    else
        hctl "$D" disk set "$disk" --checkpoint 5 >/dev/null
    fi
    cp --sparse=always "$v3" "$v4"
    qio_ok "$B" "$port" "$E" \
        "write -P 0x44 0 4096" "sleep 6000" \
        "write -P 0x45 4096 4096" "flush" \
        "write -P 0x46 8192 4096"
    put_byte "$v4" 0 4096 0x44
    put_byte "$v4" 4096 4096 0x45
    wait_rps "$D" "$disk" "$rps" "any(r['trigger'] == 'checkpoint' for r in d)" 15
    RC=$(json_eval "$rps" "[r for r in d if r['trigger'] == 'checkpoint'][0]['id']")
    json_ok "$rps" "[r for r in d if r['id'] == $RC][0]['bytes_changed'] > 0"
    # The checkpoint RP is cut at the flush: 0x44 and 0x45 in, 0x46 not.
    nbd_read "$B" "$port" "$E@$RC" "$out"; same_file "$v4" "$out" "checkpoint $E@$RC"
    put_byte "$v4" 8192 4096 0x46
    nbd_read "$B" "$port" "$E" "$out"; same_file "$v4" "$out" "live $E after the checkpoint"
    ok "checkpoint RP $RC: $(json_eval "$rps" "[r['trigger'] for r in d]")"

    check "[$route] disk resize 64M -> 96M: RPs keep their size and data"
    hctl "$D" disk resize "$disk" --size 96M >/dev/null
    n=$(nbd_size "$B" "$port" "$E")
    [[ $n -eq $((96 * M)) ]] || fail "live size after resize" $((96 * M)) "$n"
    for rp in "$R1" "$R2" "$RC"; do
        n=$(nbd_size "$B" "$port" "$E@$rp")
        [[ $n -eq $SIZE ]] || fail "size of $E@$rp after resize" "$SIZE" "$n"
    done
    qio_ok "$B" "$port" "$E" "write -P 0x61 $((80 * M)) $((1 * M))"
    truncate -s $((96 * M)) "$v4"
    put_byte "$v4" $((80 * M)) $((1 * M)) 0x61
    nbd_read "$B" "$port" "$E" "$out"; same_file "$v4" "$out" "live $E after resize"
    nbd_read "$B" "$port" "$E@$R1" "$out"; same_file "$v1" "$out" "$E@$R1 after resize"
    nbd_read "$B" "$port" "$E@$R2" "$out"; same_file "$v2" "$out" "$E@$R2 after resize"
    rp_list "$D" "$disk" "$rps"
    json_ok "$rps" "all(r['size'] == $SIZE for r in d if r['id'] <= $RC)
        and d[-1]['size'] == 96 << 20"
    ok
}

# back_to_back T ROUTE: two sessions on a fresh disk (vm2/disk0), the
# second right after the first with no pause, the first time anything is
# written through the route since havend started (on rados, no snap id may
# be ready yet for the first cut): the first session's RP holds exactly the
# first session's data, the second's RP the second's.
back_to_back() {
    local T=$1 route=$2 B=$TMP/$1.bundle W=$TMP/$1
    local out=$W.out rps=$W.rps
    check "[$route] back-to-back sessions on a fresh disk: the first RP holds only the first"
    local f1=$W.f1 f2=$W.f2
    make_random "$f1" 64
    cp "$f1" "$f2"
    put_byte "$f2" $((8 * M)) $((8 * M)) 0x99
    run_to 300 nbdcopy --flush "$f1" "$(nbd_uri "$B" "$port" vm2/disk0)" ||
        fail "nbdcopy into vm2/disk0 failed"
    qio_ok "$B" "$port" vm2/disk0 "write -P 0x99 $((8 * M)) $((8 * M))"
    wait_rps "$D" "$T/vm2/disk0" "$rps" "len(d) >= 2" 15
    json_ok "$rps" "len(d) == 2 and [r['trigger'] for r in d] == ['session_end'] * 2"
    nbd_read "$B" "$port" "vm2/disk0@$(json_eval "$rps" "d[0]['id']")" "$out"
    same_file "$f1" "$out" "vm2/disk0 first session's RP vs the first session's data"
    nbd_read "$B" "$port" "vm2/disk0@$(json_eval "$rps" "d[1]['id']")" "$out"
    same_file "$f2" "$out" "vm2/disk0 second session's RP vs the second session's data"
    ok
}

# refuse_write T ROUTE: a write to VM/DISK@1 is refused with EPERM and
# changes nothing (run last: it checks the server drains the payload of a
# refused write before it replies, which a failing server gets wrong).
refuse_write() {
    local T=$1 route=$2 B=$TMP/$1.bundle E=vm1/disk0 W=$TMP/$1 R1 n
    local out=$W.out v1=$W.v1
    rp_list "$D" "$T/$E" "$W.rps"
    R1=$(json_eval "$W.rps" "d[0]['id']")
    check "[$route] a write to $E@$R1 is refused (EPERM) and changes nothing"
    for n in 512 65536 $((4 << 20)); do
        write_eperm "$B" "$E@$R1" "$n"
    done
    if run_to 60 qemu-io --object "$(qemu_object "$B")" --image-opts \
        "$(qemu_opts "$B" "$port" "$E@$R1")" -c "write -P 0xee 0 64K" >"$W.qio" 2>&1 &&
        ! grep -qiE 'read-only|fail|not permitted|denied' "$W.qio"; then
        fail "qemu-io write to $E@$R1" "an error" "$(cat "$W.qio")"
    fi
    nbd_read "$B" "$port" "$E@$R1" "$out"; same_file "$v1" "$out" "$E@$R1 after the refused writes"
    ok
}

run_case tl local
run_case tr rados
check "restart havend"
stop_havend
start_havend "$D" "$port"
wait_route_open ceph1
ok
back_to_back tr rados
back_to_back tl local
refuse_write tl local
refuse_write tr rados

havend_alive
stop_havend
echo "PASS: $TEST_NAME"

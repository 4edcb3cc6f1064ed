#!/usr/bin/env bash
# Disk full on the local store: tenant a's route is a local store on a
# 64 MiB tmpfs (mounted in a private mount namespace, so it disappears
# with the test whatever happens); a replicates far more than fits.
#  - the client gets ENOSPC (python3-libnbd: errno ENOSPC on the requests
#    that did not fit; nbdcopy and qemu-io: "No space left on device");
#  - havend keeps running and serves tenant b, whose store is elsewhere;
#  - everything acknowledged before and during the overflow reads back;
#  - after removing another disk, writes succeed again; after a restart
#    every acknowledged write still reads back.
# Needs root for the mount; exits 77 (skip) when it cannot mount.

# Re-run inside a private mount namespace before anything else.
if [[ -z ${HAVEN_DISK_FULL_NS:-} ]]; then
    command -v unshare >/dev/null 2>&1 || { echo "SKIP: unshare (util-linux) is missing"; exit 77; }
    if ! unshare -m --propagation private true 2>/dev/null; then
        echo "SKIP: cannot create a mount namespace (needs root or CAP_SYS_ADMIN)"
        exit 77
    fi
    HAVEN_DISK_FULL_NS=1 exec unshare -m --propagation private "$0" "$@"
fi

source "$(dirname "$0")/functions.sh"
requires nbdcopy qemu-io
requires_python_nbd
requires_haven

MNT=$TMP/small
mkdir "$MNT"
mount -t tmpfs -o size=64m,mode=0700 haven-test "$MNT" 2>"$TMP/mount.err" ||
    skip "cannot mount a tmpfs: $(cat "$TMP/mount.err")"
# Detach the tmpfs (lazily: havend may still hold files in it) before
# functions.sh's cleanup stops havend and removes $TMP, keeping the exit
# status; errexit is off in there so that cleanup always runs.
trap 'rc=$?; set +e; umount -l "$MNT" 2>/dev/null; (exit $rc); cleanup' EXIT

D=$TMP/haven
A=$TMP/a B=$TMP/b
FAULTS=$TESTDIR/faults.py
port=$(free_port)
haven_init "$D"
hctl "$D" route add small --type local --path "$MNT" >/dev/null
hctl "$D" tenant add a --route small >/dev/null
hctl "$D" tenant add b >/dev/null
hctl "$D" cert issue a --site s1 --out "$A" >/dev/null
hctl "$D" cert issue b --site s1 --out "$B" >/dev/null
for spec in a/vm1/big:256M a/vm1/keep:16M a/vm1/filler:32M a/vm1/copy:64M b/vm1/disk0:64M; do
    hctl "$D" disk create "${spec%:*}" --size "${spec#*:}" >/dev/null
done
start_havend "$D" "$port"

free_kib() { df --output=avail -k "$MNT" | tail -n 1 | tr -d ' '; }

check "before the overflow: 16 MiB into a/vm1/keep and 32 MiB into a/vm1/filler"
make_random "$TMP/keep.img" 16
make_random "$TMP/filler.img" 32
run_to 120 nbdcopy --flush "$TMP/keep.img" "$(nbd_uri "$A" "$port" vm1/keep)" ||
    fail "nbdcopy into vm1/keep"
run_to 120 nbdcopy --flush "$TMP/filler.img" "$(nbd_uri "$A" "$port" vm1/filler)" ||
    fail "nbdcopy into vm1/filler"
ok "$(free_kib) KiB left on the 64 MiB store"

check "256 MiB into a/vm1/big: the requests that do not fit get ENOSPC"
run_to 300 "$PY" "$FAULTS" fill "$A" "$port" vm1/big "$TMP/big.json" 1 >"$TMP/fill1.out" 2>&1 ||
    { cat "$TMP/fill1.out" >&2; fail "faults.py fill"; }
res=$(grep '^result' "$TMP/fill1.out") || fail "faults.py fill printed no result" "" "$(cat "$TMP/fill1.out")"
echo "  | $res"
acked=$(sed 's/.*acked=\([0-9]*\).*/\1/' <<<"$res")
[[ $res == *'"ENOSPC":'* ]] || fail "errors of the overflowing writes" "ENOSPC" "$res"
[[ $res =~ errors=\{\"ENOSPC\":[0-9]+\} ]] || fail "only ENOSPC errors" "errors={\"ENOSPC\":N}" "$res"
((acked > 0 && acked < 256)) || fail "acknowledged 1 MiB writes" "some, not all 256" "$acked"
havend_alive
ok "$acked of 256 MiB acknowledged, $(free_kib) KiB left"

check "nbdcopy and qemu-io report 'No space left on device'"
make_random "$TMP/copy.img" 64
out=$(run_to 120 nbdcopy "$TMP/copy.img" "$(nbd_uri "$A" "$port" vm1/copy)" 2>&1) &&
    fail "nbdcopy into a full store" "failure" "exit 0"
echo "  | $(grep -m1 -i 'space' <<<"$out")"
grep -q "No space left on device" <<<"$out" ||
    fail "nbdcopy error on a full store" "No space left on device" "$out"
out=$(run_to 60 qemu-io --object "$(qemu_object "$A")" \
    --image-opts "$(qemu_opts "$A" "$port" vm1/copy)" \
    -c "write -P 0x5a 60M 4M" 2>&1) || true
echo "  | $out"
grep -q "No space left on device" <<<"$out" ||
    fail "qemu-io error on a full store" "No space left on device" "$out"
ok

check "havend still serves tenant b (another store) while a's store is full"
havend_alive
make_random "$TMP/b.img" 64
run_to 120 nbdcopy --flush "$TMP/b.img" "$(nbd_uri "$B" "$port" vm1/disk0)" ||
    fail "tenant b's copy while a's store is full"
nbd_read "$B" "$port" vm1/disk0 "$TMP/b.back"
same_file "$TMP/b.img" "$TMP/b.back" "b/vm1/disk0"
ok

check "what was acknowledged reads back: vm1/keep, vm1/filler, the acknowledged part of vm1/big"
nbd_read "$A" "$port" vm1/keep "$TMP/keep.back"
same_file "$TMP/keep.img" "$TMP/keep.back" "a/vm1/keep on the full store"
nbd_read "$A" "$port" vm1/filler "$TMP/filler.back"
same_file "$TMP/filler.img" "$TMP/filler.back" "a/vm1/filler on the full store"
run_to 300 "$PY" "$FAULTS" verify "$A" "$port" vm1/big "$TMP/big.json" | sed 's/^/  | /'
[[ ${PIPESTATUS[0]} -eq 0 ]] || fail "acknowledged blocks of a/vm1/big"
ok

check "havenctl disk remove a/vm1/filler frees space; the write qemu-io could not do now succeeds"
before=$(free_kib)
hctl "$D" disk remove a/vm1/filler >/dev/null
deadline=$((SECONDS + 30))
until (($(free_kib) > before + 16384)); do
    ((SECONDS < deadline)) || fail "space freed by removing a/vm1/filler" \
        "> $((before + 16384)) KiB free" "$(free_kib) KiB; $(du -ak "$MNT" | sort -n | tail -n 8 | tr '\n' ' ')"
    sleep 0.2
done
echo "  | $before KiB free before, $(free_kib) KiB after"
out=$(run_to 60 qemu-io --object "$(qemu_object "$A")" \
    --image-opts "$(qemu_opts "$A" "$port" vm1/copy)" \
    -c "write -P 0x5a 60M 4M" -c "read -P 0x5a 60M 4M" 2>&1) ||
    fail "qemu-io write after freeing space" "success" "$out"
grep -qiE "fail|error" <<<"$out" && fail "qemu-io after freeing space" "no error" "$out"
ok "4 MiB written and read back with qemu-io after the removal"

check "after a restart every acknowledged write still reads back"
stop_havend
start_havend "$D" "$port"
nbd_read "$A" "$port" vm1/keep "$TMP/keep.back2"
same_file "$TMP/keep.img" "$TMP/keep.back2" "a/vm1/keep after the restart"
run_to 300 "$PY" "$FAULTS" verify "$A" "$port" vm1/big "$TMP/big.json" | sed 's/^/  | /'
[[ ${PIPESTATUS[0]} -eq 0 ]] || fail "acknowledged blocks of a/vm1/big after the restart"
qio_ok "$A" "$port" vm1/copy "read -P 0x5a 60M 4M"
ok

stop_havend
echo "PASS"

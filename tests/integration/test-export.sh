#!/usr/bin/env bash
# havenctl export: a restore point or the live disk copied out of the
# store into a file or onto stdout, while havend runs.
#  1. v1 (a mostly empty image with holes) written with nbdcopy; a
#     restore point 'v1' cut with rp create; v2 = v1 changed with qemu-io.
#  2. export @RP -o FILE = v1 byte for byte, mode 0600, sparse (du far
#     below the apparent size), the printed sha256 = sha256sum of the file,
#     no warning; -o - gives the same bytes on stdout (digest on stderr).
#  3. the live disk (a warning while havend runs) and @latest = v2.
#  4. qemu-img convert from haven (export=vm1/disk0@RP) to qcow2, then
#     qemu-img compare against v1: identical (and against v2: not).
#  5. errors: one line, exit 1, no file left behind (unknown RP, a write
#     that fails midway).  Progress on a terminal only.
#  6. with havend stopped: the live export has no warning and = v2.
#  7. on a rados route (a throwaway Ceph cluster, if Ceph is installed):
#     export @RP = v1 and the live disk = v2.
source "$(dirname "$0")/functions.sh"
requires nbdcopy qemu-io qemu-img
requires_haven

M=$((1 << 20))
D=$TMP/haven
B=$TMP/t1.bundle
X=t1/vm1/disk0
E=vm1/disk0
v1=$TMP/v1.raw
v2=$TMP/v2.raw
port=$(free_port)
haven_init "$D" tenant:t1 "bundle:t1:s:$B" "disk:$X:256M"
rados=
if command -v ceph-mon >/dev/null && command -v ceph-osd >/dev/null &&
    command -v rados >/dev/null; then
    rados=1
    ceph_start "$TMP/ceph"
    hctl "$D" route add ceph1 --type rados --ceph-conf "$CEPH_CONF" --pool haven >/dev/null
    hctl "$D" tenant add tr --route ceph1 >/dev/null
    hctl "$D" cert issue tr --site s --out "$TMP/tr.bundle" >/dev/null
    hctl "$D" disk create tr/vm1/disk0 --size 64M >/dev/null
fi
start_havend "$D" "$port"

# export_ok OUT ERR ARGS...: havenctl export ARGS, stdout and stderr into
# OUT and ERR; fail unless it exits 0.
export_ok() {
    local out=$1 err=$2
    shift 2
    "$HAVENCTL" -d "$D" export "$@" >"$out" 2>"$err" ||
        { sed 's/^/  | /' "$err" >&2; fail "havenctl export $* failed"; }
}

# export_fails ERR PATTERN ARGS...: havenctl export ARGS must exit 1 with
# one line on stderr matching PATTERN.
export_fails() {
    local err=$1 pat=$2 rc
    shift 2
    "$HAVENCTL" -d "$D" export "$@" >"$err.out" 2>"$err" && rc=0 || rc=$?
    [[ $rc -eq 1 ]] || fail "exit status of export $*" 1 "$rc: $(cat "$err")"
    [[ $(wc -l <"$err") -eq 1 ]] || fail "stderr of export $*" "one line" "$(cat "$err")"
    grep -qE "$pat" "$err" || fail "error of export $*" "$pat" "$(cat "$err")"
}

check "v1 written with nbdcopy, restore point 'v1' cut with rp create"
make_image "$v1" 256
run_to 300 nbdcopy --flush "$v1" "$(nbd_uri "$B" "$port" "$E")" ||
    fail "nbdcopy into $E failed"
# The session's end cuts a restore point of its own; let it land first.
wait_rps "$D" "$X" "$TMP/rps" "len(d) >= 1" 15
hctl "$D" rp create "$X" --name v1 --json >"$TMP/rp.json"
RP=$(json_eval "$TMP/rp.json" "d[0]['id']")
ok "RP $RP"

check "v2: qemu-io writes, write -z and discard on the live disk"
cp --sparse=always "$v1" "$v2"
qio_ok "$B" "$port" "$E" \
    "write -P 0xa5 $((4 * M - 65536)) 131072" \
    "write -P 0x5a $((100 * M)) $((3 * M))" \
    "write -z $((50 * M)) $((6 * M))" \
    "discard $((8 * M)) $((4 * M))"
put_byte "$v2" $((4 * M - 65536)) 131072 0xa5
put_byte "$v2" $((100 * M)) $((3 * M)) 0x5a
put_byte "$v2" $((50 * M)) $((6 * M)) 0
put_byte "$v2" $((8 * M)) $((4 * M)) 0
! cmp -s "$v1" "$v2" || fail "v1 and v2 are equal: the checks prove nothing"
wait_rps "$D" "$X" "$TMP/rps" "len(d) >= 3 and d[-1]['id'] > $RP" 15
ok

check "export $X@$RP -o FILE while havend runs = v1; sha256; mode 0600; sparse"
out=$TMP/out.raw
export_ok "$TMP/exp.out" "$TMP/exp.err" "$X@$RP" -o "$out"
same_file "$v1" "$out" "export of @$RP"
[[ ! -s $TMP/exp.err ]] || fail "stderr of an RP export" "nothing" "$(cat "$TMP/exp.err")"
want="sha256 $(sha "$out")  $out"
[[ $(cat "$TMP/exp.out") == "$want" ]] ||
    fail "digest line of export" "$want" "$(cat "$TMP/exp.out")"
[[ $(stat -c %a "$out") == 600 ]] || fail "mode of the exported file" 600 "$(stat -c %a "$out")"
apparent=$(stat -c %s "$out")
used=$(($(stat -c %b "$out") * $(stat -c %B "$out")))
[[ $apparent -eq $((256 * M)) ]] || fail "apparent size" $((256 * M)) "$apparent"
# make_image 256 holds about 86 MiB of data; the rest must be holes.
((used < 120 * M)) || fail "space used by the exported file" "< 120 MiB" "$used bytes"
ok "$((used / M)) MiB used of $((apparent / M)) MiB"

check "export over an existing file truncates it; by name ('v1') too"
head -c $((300 * M)) /dev/zero | tr '\0' '\377' >"$out"
export_ok "$TMP/exp.out" "$TMP/exp.err" "$X@v1" -o "$out"
same_file "$v1" "$out" "export of @v1 over a larger file"
ok

check "export -o - writes the same bytes to stdout, the digest to stderr"
"$HAVENCTL" -d "$D" export "$X@$RP" -o - >"$TMP/stdout.raw" 2>"$TMP/stdout.err" ||
    { cat "$TMP/stdout.err" >&2; fail "export -o - failed"; }
same_file "$v1" "$TMP/stdout.raw" "export -o - into a file"
want="sha256 $(sha "$v1")  -"
[[ $(cat "$TMP/stdout.err") == "$want" ]] ||
    fail "stderr of export -o -" "$want" "$(cat "$TMP/stdout.err")"
got=$("$HAVENCTL" -d "$D" export "$X@$RP" -o - 2>"$TMP/pipe.err" | sha256sum | cut -d' ' -f1)
[[ $got == "$(sha "$v1")" ]] || fail "sha256 of export -o - through a pipe" "$(sha "$v1")" "$got"
ok

check "the live disk while havend runs = v2, with a warning; @latest = v2, without"
export_ok "$TMP/live.out" "$TMP/live.err" "$X" -o "$TMP/live.raw"
same_file "$v2" "$TMP/live.raw" "live export"
grep -q "warning: havend is running.*@latest" "$TMP/live.err" ||
    fail "warning for a live export" "warning: havend is running ... @latest" "$(cat "$TMP/live.err")"
export_ok "$TMP/latest.out" "$TMP/latest.err" "$X@latest" -o "$TMP/latest.raw"
same_file "$v2" "$TMP/latest.raw" "export of @latest"
[[ ! -s $TMP/latest.err ]] || fail "stderr of @latest" "nothing" "$(cat "$TMP/latest.err")"
ok

check "qemu-img convert from haven ($E@$RP) to qcow2; qemu-img compare with v1"
obj=$(qemu_object "$B")
run_to 300 qemu-img convert -p --object "$obj" --image-opts \
    "$(qemu_opts "$B" "$port" "$E@$RP")" -O qcow2 "$TMP/out.qcow2" >/dev/null ||
    fail "qemu-img convert to qcow2 failed"
run_to 60 qemu-img check "$TMP/out.qcow2" >/dev/null || fail "qemu-img check of the qcow2"
res=$(run_to 300 qemu-img compare -f qcow2 -F raw "$TMP/out.qcow2" "$v1" 2>&1) && rc=0 || rc=$?
[[ $rc -eq 0 && $res == *"Images are identical"* ]] ||
    fail "qemu-img compare qcow2 v1" "exit 0, Images are identical." "exit $rc: $res"
res=$(run_to 300 qemu-img compare -f qcow2 -F raw "$TMP/out.qcow2" "$v2" 2>&1) && rc=0 || rc=$?
[[ $rc -eq 1 ]] || fail "control: qemu-img compare qcow2 v2" "exit 1 (differ)" "exit $rc: $res"
ok "$(stat -c %s "$TMP/out.qcow2") bytes of qcow2"

check "errors: one line, exit 1, no file left behind"
export_fails "$TMP/e1" "^havenctl: disk 't1/vm1/disk0' has no restore point 'nope'$" \
    "$X@nope" -o "$TMP/none.raw"
[[ ! -e $TMP/none.raw ]] || fail "an export of an unknown RP created its file"
export_fails "$TMP/e2" "^havenctl: disk 't1/vm1/nodisk' does not exist$" \
    t1/vm1/nodisk -o "$TMP/none.raw"
export_fails "$TMP/e3" "^havenctl: cannot create $TMP/no/such/dir.raw: " \
    "$X" -o "$TMP/no/such/dir.raw"
# A file size limit of 10 MiB makes a write fail midway (SIGXFSZ ignored,
# so write() says EFBIG): the partial file must go.
(
    trap '' XFSZ
    ulimit -f 10240
    exec "$HAVENCTL" -d "$D" export "$X@$RP" -o "$TMP/part.raw"
) >"$TMP/e4.out" 2>"$TMP/e4" && rc=0 || rc=$?
[[ $rc -eq 1 ]] || fail "exit status of an export that cannot write" 1 "$rc: $(cat "$TMP/e4")"
[[ $(wc -l <"$TMP/e4") -eq 1 ]] && grep -q "^havenctl: cannot write $TMP/part.raw: File too large$" "$TMP/e4" ||
    fail "error of an export that cannot write" "cannot write ...: File too large" "$(cat "$TMP/e4")"
[[ ! -e $TMP/part.raw ]] || fail "the partial file of a failed export was left behind"
[[ ! -s $TMP/e4.out ]] || fail "a failed export printed a digest" "" "$(cat "$TMP/e4.out")"
res=$("$HAVENCTL" -d "$D" export "$X" 2>&1) && rc=0 || rc=$?
[[ $rc -eq 2 && $res == *"missing -o FILE"* ]] || fail "export without -o" "exit 2, missing -o FILE" "exit $rc: $res"
ok

check "progress: one line (bytes, percent, MiB/s) on a terminal, nothing with --quiet"
if command -v script >/dev/null 2>&1; then
    run_to 120 script -qec "'$HAVENCTL' -d '$D' export '$X@$RP' -o '$TMP/tty.raw'" /dev/null \
        >"$TMP/tty.log" 2>&1 || { cat "$TMP/tty.log" >&2; fail "export on a terminal failed"; }
    grep -qE "256 MiB / 256 MiB  100%  [0-9.]+ MiB/s  in [0-9.]+ s" "$TMP/tty.log" ||
        fail "progress line on a terminal" "256 MiB / 256 MiB  100% ... MiB/s" "$(tr '\r' '\n' <"$TMP/tty.log")"
    same_file "$v1" "$TMP/tty.raw" "export on a terminal"
    run_to 120 script -qec "'$HAVENCTL' -d '$D' export -q '$X@$RP' -o '$TMP/tty.raw'" /dev/null \
        >"$TMP/tty.log" 2>&1 || { cat "$TMP/tty.log" >&2; fail "export -q on a terminal failed"; }
    ! grep -q "MiB/s" "$TMP/tty.log" || fail "export -q drew progress" "" "$(cat "$TMP/tty.log")"
    ok
else
    ok "skipped: script(1) is not installed"
fi

check "rados route: export @RP = v1, the live disk = v2"
if [[ -n $rados ]]; then
    RB=$TMP/tr.bundle
    r1=$TMP/r1.raw
    r2=$TMP/r2.raw
    make_image "$r1" 64
    run_to 300 nbdcopy --flush "$r1" "$(nbd_uri "$RB" "$port" "$E")" ||
        fail "nbdcopy into tr's $E failed"
    wait_rps "$D" tr/vm1/disk0 "$TMP/rrps" "len(d) >= 1" 15
    hctl "$D" rp create tr/vm1/disk0 --json >"$TMP/rrp.json"
    RR=$(json_eval "$TMP/rrp.json" "d[0]['id']")
    cp --sparse=always "$r1" "$r2"
    qio_ok "$RB" "$port" "$E" "write -P 0x77 $((10 * M)) $((5 * M))" \
        "discard $((48 * M)) $((8 * M))"
    put_byte "$r2" $((10 * M)) $((5 * M)) 0x77
    put_byte "$r2" $((48 * M)) $((8 * M)) 0
    export_ok "$TMP/r.out" "$TMP/r.err" "tr/vm1/disk0@$RR" -o "$TMP/rout.raw"
    same_file "$r1" "$TMP/rout.raw" "rados export of @$RR"
    [[ $(cat "$TMP/r.out") == "sha256 $(sha "$r1")  $TMP/rout.raw" ]] ||
        fail "digest of the rados export" "sha256 $(sha "$r1")" "$(cat "$TMP/r.out")"
    export_ok "$TMP/r.out" "$TMP/r.err" tr/vm1/disk0 -o "$TMP/rlive.raw"
    same_file "$r2" "$TMP/rlive.raw" "rados export of the live disk"
    ok
else
    ok "skipped: Ceph is not installed"
fi

havend_alive
stop_havend

check "havend stopped: the live export has no warning and = v2"
export_ok "$TMP/live.out" "$TMP/live.err" "$X" -o "$TMP/live.raw"
same_file "$v2" "$TMP/live.raw" "live export, havend stopped"
[[ ! -s $TMP/live.err ]] || fail "stderr of a live export, havend stopped" "nothing" "$(cat "$TMP/live.err")"
[[ $(cat "$TMP/live.out") == "sha256 $(sha "$v2")  $TMP/live.raw" ]] ||
    fail "digest of the live export" "sha256 $(sha "$v2")" "$(cat "$TMP/live.out")"
ok

echo "PASS: $TEST_NAME"

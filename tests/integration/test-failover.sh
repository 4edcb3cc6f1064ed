#!/usr/bin/env bash
# DR tests and failover of a VM (havenctl failover), on the local route,
# with a tenant bundle and an operator bundle:
#  1. the tenant writes v1 (its session's end cuts RP1); `failover test
#     start t/vm1` prints the test id, RP1, the RPO and the export names.
#  2. the operator reads t/vm1/disk0@test-ID = v1 byte for byte, then
#     writes X into it (unaligned, across an extent boundary) while the
#     tenant replicates v2 into the live disk; afterwards the clone is
#     v1+X, the live disk v2 and @RP1 still v1.
#  3. the tenant can open neither vm1/disk0@test-ID nor t/vm1/disk0@test-ID;
#     RP1 cannot be removed while the test runs (pinned); test list --json
#     shows the test running with its RPO.
#  4. test stop --note (through havend): a session still open on the clone
#     is closed, the clone's objects are gone from DIR/store/t/, test show
#     has the duration, bytes written > 0 and the note; RP1 is unpinned.
#  5. RP choice on a VM of two disks: refused while a disk has no RP
#     (nothing recorded); a bare id needs a consistency group; a group id
#     picks each disk's point of that group.
#  6. a 1 TiB sparse disk: test start well under a second; the operator
#     reads the tenant's data through the clone; stopping it with havend
#     down deletes the clone objects directly.
#  7. promote t/vm1 --rp latest: a tenant session on vm1/disk0 is closed and
#     new ones are refused ("failed over"); the operator reads the RP as
#     t/vm1/disk0, writes, and the write survives a havend restart;
#     failover status says failed over; a second promote is refused.
source "$(dirname "$0")/functions.sh"
requires nbdcopy nbdinfo qemu-io
requires_python_nbd
requires_haven

M=$((1 << 20))
D=$TMP/haven B=$TMP/t.bundle OP=$TMP/op.bundle OUT=$TMP/out ERR=$TMP/err
port=$(free_port)
haven_init "$D" tenant:t "bundle:t:s1:$B" "operator:ops:$OP" \
    disk:t/vm1/disk0:64M disk:t/vm2/disk0:16M disk:t/vm2/disk1:16M \
    disk:t/big/disk0:1T
start_havend "$D" "$port"

# ctl ARGS...: havenctl with stdout in $OUT; fail the test if it fails.
ctl() {
    "$HAVENCTL" -d "$D" "$@" >"$OUT" 2>"$ERR" ||
        { cat "$ERR" >&2; fail "havenctl $* failed"; }
}

# ctl_fails ARGS...: havenctl must fail with exit 1 and one line on stderr.
ctl_fails() {
    local rc
    "$HAVENCTL" -d "$D" "$@" >"$OUT" 2>"$ERR" && rc=0 || rc=$?
    [[ $rc -eq 1 ]] || fail "havenctl $* exit status" 1 "$rc: $(cat "$ERR")"
    [[ $(wc -l <"$ERR") -eq 1 ]] || fail "havenctl $*: one error line" 1 "$(cat "$ERR")"
}

# qio_rw BUNDLE EXPORT CMD...: a writable qemu-io session (qio_ok opens
# any name with '@' read-only).
qio_rw() {
    local bundle=$1 export=$2 args=() c out
    shift 2
    for c in "$@"; do args+=(-c "$c"); done
    out=$(run_to 120 qemu-io --object "$(qemu_object "$bundle")" \
        --image-opts "$(qemu_opts "$bundle" "$port" "$export")" "${args[@]}" 2>&1) ||
        { echo "$out" >&2; fail "qemu-io on $export: $*"; }
    ! grep -qiE 'fail|error|mismatch' <<<"$out" ||
        { echo "$out" >&2; fail "qemu-io on $export: $*"; }
}

# open_err BUNDLE EXPORT: nbdinfo must fail; its stderr goes to $ERR.
open_err() {
    run_to 60 nbdinfo "$(nbd_uri "$1" "$port" "$2")" >/dev/null 2>"$ERR" &&
        fail "$(basename "$1") opened '$2'" "refused" "opened"
    return 0
}

# failed_over_msg EXPORT: the tenant's nbdinfo and qemu-io on EXPORT must
# fail with the server's message saying the VM is failed over (nbdinfo
# shows a server's message only in libnbd's debug output; qemu-io prints
# it as "server reported: ...").
failed_over_msg() {
    local uri out
    uri=$(nbd_uri "$B" "$port" "$1")
    out=$(LIBNBD_DEBUG=1 run_to 60 nbdinfo "$uri" 2>&1) &&
        fail "the tenant opened $1" "refused" "opened"
    grep -q "server error message: VM 'vm1' is failed over" <<<"$out" ||
        fail "nbdinfo's server message" "VM 'vm1' is failed over" "$(grep -i error <<<"$out")"
    out=$(run_to 60 qemu-io --object "$(qemu_object "$B")" --image-opts \
        "$(qemu_opts "$B" "$port" "$1")" -c "read 0 512" 2>&1) &&
        fail "the tenant's qemu-io opened $1" "refused" "opened"
    grep -q "server reported: VM 'vm1' is failed over" <<<"$out" ||
        fail "qemu-io's server message" "VM 'vm1' is failed over" "$out"
    echo "$out" >"$ERR"
}

# hold BUNDLE EXPORT FILE: keep a session open on EXPORT in the
# background, reading every 0.2 s; FILE gets "open", then "closed" when
# the server ends the session (the holder then exits 0) or "still open"
# after 30 s (exit 1).  Sets HOLDER to its pid.
hold() {
    "$PY" - "$1" "$port" "$2" >"$3" 2>&1 <<'EOF' &
import nbd, sys, time
h = nbd.NBD()
h.set_tls(nbd.TLS_REQUIRE)
h.set_tls_certificates(sys.argv[1])
h.set_export_name(sys.argv[3])
h.connect_tcp("127.0.0.1", sys.argv[2])
print("open", flush=True)
end = time.time() + 30
while time.time() < end:
    try:
        h.pread(512, 0)
    except nbd.Error:
        print("closed", flush=True)
        sys.exit(0)
    time.sleep(0.2)
print("still open", flush=True)
sys.exit(1)
EOF
    HOLDER=$!
    PIDS+=("$HOLDER")
    for _ in $(seq 100); do grep -q open "$3" && return 0; sleep 0.1; done
    fail "the holder on $2 did not connect: $(cat "$3")"
}

# clone_objects CLONE_ID: the clone's object files in the tenant's
# namespace of the local store.
clone_objects() {
    find "$D/store/t" -maxdepth 1 -name "$(printf %016x "$1").*" | wc -l
}

v1=$TMP/v1 v2=$TMP/v2 vx=$TMP/vx img=$TMP/img rps=$TMP/rps js=$TMP/js

check "the tenant writes v1; its session's end cuts RP1"
make_image "$v1" 64
run_to 300 nbdcopy --flush "$v1" "$(nbd_uri "$B" "$port" vm1/disk0)" ||
    fail "nbdcopy into vm1/disk0 failed"
wait_rps "$D" t/vm1/disk0 "$rps" "len(d) >= 1" 15
R1=$(json_eval "$rps" "d[0]['id']")
C1=$(json_eval "$rps" "d[0]['created_ms']")
ok "RP1 = $R1"

check "failover test start t/vm1 prints the id, RP1, the RPO and the exports"
ctl failover test start t/vm1
sed 's/^/  | /' "$OUT"
ID=$(sed -n 's/^Started failover test \([0-9][0-9]*\) of t\/vm1 at:$/\1/p' "$OUT")
[[ -n $ID ]] || fail "no test id in the output"
CE=t/vm1/disk0@test-$ID
grep -q "t/vm1/disk0  restore point $R1 " "$OUT" || fail "RP1 not in the output"
grep -q "^RPO achieved: " "$OUT" || fail "no RPO in the output"
grep -q "^  $CE\$" "$OUT" || fail "export $CE not in the output"
grep -q "qemu-img info --object tls-creds-x509" "$OUT" || fail "no qemu-img example"
ok "test $ID"

check "the operator reads $CE = v1, byte for byte"
nbd_read "$OP" "$port" "$CE" "$img"
same_file "$v1" "$img" "$CE vs v1"
ok

check "the operator writes X into the clone while the tenant replicates v2"
make_random "$v2" 64
run_to 300 nbdcopy --flush "$v2" "$(nbd_uri "$B" "$port" vm1/disk0)" &
copier=$!
PIDS+=("$copier")
cp "$v1" "$vx"
XOFF=$((4 * M - 777)) XLEN=$((M + 1555)) # unaligned, across 4 MiB
qio_rw "$OP" "$CE" "write -P 0xc3 $XOFF $XLEN" "write -P 0x3c $((40 * M + 1)) 4095" "flush"
put_byte "$vx" "$XOFF" "$XLEN" 0xc3
put_byte "$vx" $((40 * M + 1)) 4095 0x3c
wait_exit "$copier" 300 || fail "the tenant's nbdcopy did not finish"
[[ $WAIT_RC -eq 0 ]] || fail "the tenant's nbdcopy of v2" 0 "$WAIT_RC"
ok

check "clone = v1+X, live = v2, @RP1 = v1"
nbd_read "$OP" "$port" "$CE" "$img"; same_file "$vx" "$img" "$CE vs v1+X"
nbd_read "$B" "$port" vm1/disk0 "$img"; same_file "$v2" "$img" "live vm1/disk0 vs v2"
nbd_read "$B" "$port" "vm1/disk0@$R1" "$img"; same_file "$v1" "$img" "vm1/disk0@$R1 vs v1"
nbd_read "$OP" "$port" t/vm1/disk0 "$img"; same_file "$v2" "$img" "operator t/vm1/disk0 vs v2"
ok

check "the tenant opens neither vm1/disk0@test-$ID nor $CE"
open_err "$B" "vm1/disk0@test-99999"
none=$(sed 's/test-99999/X/g' "$ERR")
open_err "$B" "vm1/disk0@test-$ID"
mine=$(sed "s/test-$ID/X/g" "$ERR")
[[ $mine == "$none" ]] || fail "the tenant's error for its test clone" "$none" "$mine"
open_err "$B" "$CE"
ok "$(head -1 "$ERR")"

check "NBD_OPT_LIST: the operator sees $CE with its description, the tenant does not"
run_to 60 nbdinfo --list "$(nbd_uri "$OP" "$port" "")" >"$TMP/oplist" 2>&1 ||
    fail "nbdinfo --list as the operator" "ok" "$(cat "$TMP/oplist")"
grep -q "^export=\"$CE\":" "$TMP/oplist" || fail "operator list" "$CE" "$(grep export= "$TMP/oplist")"
grep -q "description: failover test $ID: writable clone of restore point $R1" "$TMP/oplist" ||
    fail "clone description" "failover test $ID: ..." "$(cat "$TMP/oplist")"
run_to 60 nbdinfo --list "$(nbd_uri "$B" "$port" "")" >"$TMP/tlist" 2>&1 || fail "nbdinfo --list as the tenant"
! grep -q "@test-" "$TMP/tlist" || fail "the tenant's list shows a test clone" "" "$(grep export= "$TMP/tlist")"
ok

check "RP1 cannot be removed while the test runs (pinned)"
ctl_fails rp remove t/vm1/disk0 "$R1"
rp_list "$D" t/vm1/disk0 "$rps"
json_ok "$rps" "$R1 in [r['id'] for r in d]"
ok "$(cat "$ERR")"

check "failover test list --json: running, RPO, RP1, export"
ctl failover test list t --json
cp "$OUT" "$js"
json_ok "$js" "[t['id'] for t in d] == [$ID] and d[0]['state'] == 'running'
    and d[0]['tenant'] == 't' and d[0]['vm'] == 'vm1'
    and d[0]['rpo_ms'] == d[0]['started_ms'] - $C1
    and d[0]['disks'][0]['rp'] == $R1 and d[0]['disks'][0]['export'] == '$CE'
    and d[0]['bytes_written'] is None and d[0]['stopped'] is None"
ctl failover test list
grep -qE "^ *$ID +t/vm1 +running " "$OUT" || { cat "$OUT" >&2; fail "test list table"; }
ok "RPO $(json_eval "$js" "d[0]['rpo_ms']") ms"

check "test stop --note through havend closes the clone's session and deletes its objects"
CLONE=$(json_eval "$js" "d[0]['disks'][0]['clone_id']")
n=$(clone_objects "$CLONE")
[[ $n -ge 2 ]] || fail "clone objects before stop (X spans two extents)" ">= 2" "$n"
hold "$OP" "$CE" "$TMP/holder"
# The longest note havenctl accepts (199 bytes) reaches the record whole.
NOTE="drill ok: boots; app checks passed on both nodes, database consistent, DNS switched and back in 4 min"
NOTE+=$(printf '.%.0s' $(seq $((199 - ${#NOTE}))))
[[ ${#NOTE} -eq 199 ]] || fail "note length" 199 "${#NOTE}"
ctl failover test stop "$ID" --note "$NOTE"
grep -q "^Stopped failover test $ID of t/vm1 after " "$OUT" || { cat "$OUT" >&2; fail "stop message"; }
wait_exit "$HOLDER" 20 || fail "the session on the clone is still open"
grep -q closed "$TMP/holder" || fail "the holder: $(cat "$TMP/holder")"
n=$(clone_objects "$CLONE")
[[ $n -eq 0 ]] || fail "clone objects after stop" 0 "$n"
open_err "$OP" "$CE"
run_to 60 nbdinfo --list "$(nbd_uri "$OP" "$port" "")" >"$TMP/oplist" 2>&1 || fail "nbdinfo --list"
! grep -q "@test-$ID" "$TMP/oplist" || fail "a stopped test's clone is still listed"
ok "$(cat "$OUT")"

check "test show: stopped, duration, bytes written, note"
ctl failover test show "$ID" --json
cp "$OUT" "$js"
json_ok "$js" "d['state'] == 'stopped' and d['duration_ms'] > 0
    and d['bytes_written'] > 0 and d['note'] == '$NOTE'
    and d['stopped_ms'] >= d['started_ms'] and d['disks'][0]['export'] is None"
ctl failover test show "$ID"
grep -qF "$NOTE" "$OUT" || fail "test show text: note"
grep -q "bytes written: .*($(json_eval "$js" "d['bytes_written']") bytes)" "$OUT" ||
    fail "test show text: bytes written"
ok "$(json_eval "$js" "(d['duration_ms'], d['bytes_written'])")"

check "RP1 is unpinned: rp remove works now"
ctl rp remove t/vm1/disk0 "$R1"
ok

check "a VM of two disks: every disk needs an RP; ids need a group"
ctl failover test list --json
ntests=$(json_eval "$OUT" "len(d)")
ctl_fails failover test start t/vm2
grep -q "has no restore point 'latest'" "$ERR" || fail "message" "no restore point" "$(cat "$ERR")"
ctl rp create t/vm2/disk0
ctl_fails failover test start t/vm2
grep -q "t/vm2/disk1 has no restore point" "$ERR" || fail "message" "disk1 has none" "$(cat "$ERR")"
ctl rp create t/vm2 --name g1 # a consistency group: disk0 RP 2, disk1 RP 1
ctl_fails failover test start t/vm2 --rp 1
grep -q "ids are per disk" "$ERR" || fail "message" "ids are per disk" "$(cat "$ERR")"
ctl failover test list --json
[[ $(json_eval "$OUT" "len(d)") -eq $ntests ]] || fail "a refused start recorded a test"
ctl failover test start t/vm2 --rp 2 --json
cp "$OUT" "$js"
json_ok "$js" "[x['rp'] for x in d['disks']] == [2, 1] and d['state'] == 'running'"
ID2=$(json_eval "$js" "d['id']")
ctl failover test start t/vm2 --rp g1 --json
json_ok "$OUT" "[x['rp'] for x in d['disks']] == [2, 1]"
ID3=$(json_eval "$OUT" "d['id']")
ctl failover test stop "$ID2"
ctl failover test stop "$ID3"
ctl_fails failover test stop "$ID3"
ok

check "a 1 TiB sparse disk: test start well under a second"
qio_ok "$B" "$port" big/disk0 "write -P 0x5e $((512 << 30)) 1M"
wait_rps "$D" t/big/disk0 "$rps" "len(d) >= 1" 15
t0=$(date +%s%N)
ctl failover test start t/big --json
ms=$((($(date +%s%N) - t0) / 1000000))
((ms < 1000)) || fail "failover test start of 1 TiB took" "< 1000 ms" "$ms ms"
IDB=$(json_eval "$OUT" "d['id']")
CLONEB=$(json_eval "$OUT" "d['disks'][0]['clone_id']")
EB=t/big/disk0@test-$IDB
[[ $(nbd_size "$OP" "$port" "$EB") -eq $((1 << 40)) ]] || fail "clone size"
qio_rw "$OP" "$EB" "read -P 0x5e $((512 << 30)) 1M" "read -P 0 0 1M" \
    "write -P 0x77 $((1 << 39)) 4096"
ok "$ms ms (havenctl run included)"

check "test stop with havend down deletes the clone directly"
stop_havend
[[ $(clone_objects "$CLONEB") -ge 1 ]] || fail "the 1 TiB clone has no object"
ctl failover test stop "$IDB" --note direct
[[ $(clone_objects "$CLONEB") -eq 0 ]] || fail "clone objects after a direct stop" 0 "$(clone_objects "$CLONEB")"
ctl failover test show "$IDB" --json
json_ok "$OUT" "d['state'] == 'stopped' and d['bytes_written'] >= 4096 and d['note'] == 'direct'"
start_havend "$D" "$port"
ok

check "promote t/vm1 --rp latest: the tenant's session is closed, new ones refused"
rp_list "$D" t/vm1/disk0 "$rps"
RL=$(json_eval "$rps" "d[-1]['id']")
hold "$B" vm1/disk0 "$TMP/holder"
ctl failover promote t/vm1 --rp latest
grep -q "restore point $RL " "$OUT" || { cat "$OUT" >&2; fail "promote output: RP $RL"; }
grep -q "^  t/vm1/disk0$" "$OUT" || fail "promote output: the operator export"
wait_exit "$HOLDER" 20 || fail "the tenant's session on vm1/disk0 is still open"
grep -q closed "$TMP/holder" || fail "the holder: $(cat "$TMP/holder")"
failed_over_msg vm1/disk0
ok "$(tail -1 "$ERR")"

check "the operator reads t/vm1/disk0 = the RP (v2), writes, and it survives a restart"
nbd_read "$OP" "$port" t/vm1/disk0 "$img"; same_file "$v2" "$img" "promoted t/vm1/disk0 vs v2"
qio_ok "$OP" "$port" t/vm1/disk0 "write -P 0x99 $((8 * M - 100)) 200" "flush"
put_byte "$v2" $((8 * M - 100)) 200 0x99
stop_havend
start_havend "$D" "$port"
nbd_read "$OP" "$port" t/vm1/disk0 "$img"; same_file "$v2" "$img" "promoted t/vm1/disk0 after a restart"
failed_over_msg vm1/disk0
ok

check "failover status; a second promote is refused"
ctl failover status t/vm1 --json
json_ok "$OUT" "d['state'] == 'failed_over' and d['failed_over_since'] is not None
    and d['disks'][0]['failover_rp'] == $RL and d['disks'][0]['latest_rp'] == $RL"
ctl failover status t/vm1
grep -q "^t/vm1: failed over since .* from restore point(s) disk0@$RL" "$OUT" ||
    { cat "$OUT" >&2; fail "failover status text"; }
ctl failover status t/vm2
grep -q "^t/vm2: replicating" "$OUT" || fail "status of vm2" "replicating" "$(cat "$OUT")"
ctl_fails failover promote t/vm1 --rp latest
grep -q "failed over already" "$ERR" || fail "second promote" "failed over already" "$(cat "$ERR")"
ok

check "usage errors exit 2"
for args in "failover" "failover test start" "failover promote t/vm2" "failover test bogus"; do
    # shellcheck disable=SC2086
    "$HAVENCTL" -d "$D" $args >/dev/null 2>&1 && rc=0 || rc=$?
    [[ $rc -eq 2 ]] || fail "havenctl $args" 2 "$rc"
done
ok

havend_alive
stop_havend
echo "PASS: $TEST_NAME"

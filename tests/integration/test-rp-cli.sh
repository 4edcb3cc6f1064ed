#!/usr/bin/env bash
# havenctl rp create|remove and disk resize|remove while havend runs: they
# go through havend (a request in the catalog, answered by havend, which
# owns the snap context of the disks it serves).  A tenant then reads the
# restore points as read-only exports VM/DISK@ID|NAME|latest, with the
# data as of the cut, while the live disk goes on.  After havend stops,
# havenctl cuts alone, and the restarted havend honours that cut.
source "$(dirname "$0")/functions.sh"
requires qemu-io nbdinfo
requires_haven

D=$TMP/haven
B=$TMP/bundle
port=$(free_port)
haven_init "$D" tenant:acme "bundle:acme:hq:$B" \
    "disk:acme/vm1/disk0:64M" "disk:acme/vm1/disk1:16M"
start_havend "$D" "$port"
obj=$(qemu_object "$B")
M=$((1 << 20))

# qio EXPORT CMD...: one qemu-io session on EXPORT (read-only for a
# restore point); fail if qemu-io fails or reports a failure.
qio() {
    local export=$1 args=() c out rc ro=()
    shift
    for c in "$@"; do args+=(-c "$c"); done
    [[ $export == *@* ]] && ro=(-r)
    out=$(run_to 60 qemu-io "${ro[@]}" --object "$obj" --image-opts \
        "$(qemu_opts "$B" "$port" "$export")" "${args[@]}" 2>&1) && rc=0 || rc=$?
    if [[ $rc -ne 0 ]] || grep -qiE 'fail|error|mismatch' <<<"$out"; then
        echo "$out" | sed 's/^/  | /' >&2
        fail "qemu-io on $export: $*" "exit 0, no failure" "exit $rc"
    fi
}

# ctl ARGS...: havenctl that must succeed, its stdout in $OUT.
OUT=$TMP/out
ctl() {
    "$HAVENCTL" -d "$D" "$@" >"$OUT" 2>"$TMP/err" ||
        { cat "$TMP/err" >&2; fail "havenctl $* failed"; }
    [[ ! -s $TMP/err ]] || { cat "$TMP/err" >&2; fail "havenctl $*: stderr"; }
}

# jq_ok EXPR: a Python expression over d, the JSON in $OUT.
jq_ok() {
    "$PY" -c '
import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if eval("(" + sys.argv[2] + ")") else "false: " + sys.argv[2])
' "$OUT" "$1" || { cat "$OUT" >&2; fail "$1"; }
}

# jq EXPR: print a Python expression over d, the JSON in $OUT.
jq() {
    "$PY" -c 'import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' \
        "$OUT" "$1"
}

# requests_since N: how many havenctl requests havend ran and answered
# after log line N.
requests_since() {
    tail -n "+$(($1 + 1))" "$HAVEND_LOG" | grep -c 'event=request_done' || true
}
log_lines() { wc -l <"$HAVEND_LOG"; }

check "write 0x11 into the live disk"
qio vm1/disk0 "write -P 0x11 0 1M" "write -P 0x11 $((40 * M)) 1M" "flush"
ok

# havend cuts a restore point of its own when a session that wrote ends
# (trigger session_end), so ids are taken from what havenctl prints.
check "rp create goes through havend"
n0=$(log_lines)
ctl rp create acme/vm1/disk0 --name first --json
jq_ok "[(r['name'], r['trigger'], r['export'], r['size']) for r in d]
    == [('first', 'manual', 'vm1/disk0@%d' % d[0]['id'], 64 << 20)]"
R1=$(jq "d[0]['id']")
[[ $(requests_since "$n0") -eq 1 ]] || fail "havend did not answer a request"
grep -q "event=rp_cut disk=acme/vm1/disk0 rp=$R1 .*trigger=manual" "$HAVEND_LOG" ||
    fail "havend logged no manual cut"
qio vm1/disk0@latest "read -P 0x11 0 1M"
ok

check "the live disk goes on: write 0x22 over the same ranges"
qio vm1/disk0 "write -P 0x22 0 1M" "write -P 0x22 $((40 * M)) 512K" "flush" \
    "read -P 0x22 0 1M"
ok

check "vm1/disk0@$R1 and @first read the data as of the cut"
for rp in "$R1" first; do
    qio "vm1/disk0@$rp" "read -P 0x11 0 1M" "read -P 0x11 $((40 * M)) 1M" \
        "read -P 0 $((1 * M)) 1M"
done
qio vm1/disk0 "read -P 0x22 $((40 * M)) 512K" "read -P 0x11 $((40 * M + 512 * 1024)) 512K"
ok

check "the pattern checks can fail: @$R1 does not hold 0x22"
out=$(run_to 60 qemu-io -r --object "$obj" --image-opts \
    "$(qemu_opts "$B" "$port" "vm1/disk0@$R1")" -c "read -P 0x22 0 1M" 2>&1) || true
grep -q 'Pattern verification failed' <<<"$out" ||
    fail "read -P 0x22 on @$R1" "Pattern verification failed" "$out"
ok

check "nbdinfo: vm1/disk0@$R1 is read-only, the live disk is not"
info=$(run_to 60 nbdinfo --json "$(nbd_uri "$B" "$port" vm1/disk0@$R1)") ||
    fail "nbdinfo on vm1/disk0@$R1"
"$PY" -c 'import json,sys; d=json.loads(sys.argv[1])["exports"][0]
sys.exit(0 if d["is_read_only"] and d["export-size"] == 64 << 20 else 1)' "$info" ||
    fail "vm1/disk0@$R1 read-only with 64 MiB" "is_read_only true" "$info"
info=$(run_to 60 nbdinfo --json "$(nbd_uri "$B" "$port" vm1/disk0)") ||
    fail "nbdinfo on vm1/disk0"
"$PY" -c 'import json,sys; d=json.loads(sys.argv[1])["exports"][0]
sys.exit(0 if not d["is_read_only"] else 1)' "$info" ||
    fail "vm1/disk0 writable" "is_read_only false" "$info"
ok

check "a write to vm1/disk0@$R1 fails, and changes nothing"
out=$(run_to 60 qemu-io --object "$obj" --image-opts \
    "$(qemu_opts "$B" "$port" vm1/disk0@$R1)" -c "write -P 0x33 0 64K" 2>&1) &&
    rc=0 || rc=$?
if [[ $rc -eq 0 ]] && ! grep -qiE 'read-only|failed|not permitted|denied' <<<"$out"; then
    fail "write to a restore point" "an error" "exit 0: $out"
fi
qio vm1/disk0@$R1 "read -P 0x11 0 64K"
ok

check "rp list shows it"
ctl rp list acme/vm1/disk0 --json
jq_ok "[(r['id'], r['name']) for r in d if r['trigger'] == 'manual'] ==
    [($R1, 'first')] and all(r['created'].endswith('Z') for r in d)"
ctl rp list acme/vm1/disk0
grep -qE "^ *$R1  first  [0-9-]+ [0-9:]+ UTC  manual  +64 MiB " "$OUT" ||
    { cat "$OUT" >&2; fail "rp list table row"; }
ok

check "rp create TENANT/VM: every disk at one instant, through havend"
qio vm1/disk1 "write -P 0x44 0 1M" "flush"
n0=$(log_lines)
ctl rp create acme/vm1 --json
jq_ok "[r['disk'] for r in d] == ['acme/vm1/disk0', 'acme/vm1/disk1']
    and d[0]['group'] is not None and d[0]['group'] == d[1]['group']"
V0=$(jq "d[0]['export']")
V1=$(jq "d[1]['export']")
[[ $(requests_since "$n0") -eq 1 ]] || fail "one request for the VM"
qio vm1/disk1 "write -P 0x55 0 1M" "flush"
qio "$V1" "read -P 0x44 0 1M"
qio "$V0" "read -P 0x22 0 1M"
qio vm1/disk1 "read -P 0x55 0 1M"
ok

check "disk resize goes through havend; shrinking is refused"
n0=$(log_lines)
ctl disk resize acme/vm1/disk0 --size 128M
[[ $(requests_since "$n0") -eq 1 ]] || fail "resize was not a request"
info=$(run_to 60 nbdinfo --size "$(nbd_uri "$B" "$port" vm1/disk0)")
[[ $info -eq $((128 * M)) ]] || fail "size after resize" $((128 * M)) "$info"
qio vm1/disk0 "write -P 0x66 $((100 * M)) 1M" "read -P 0x66 $((100 * M)) 1M"
info=$(run_to 60 nbdinfo --size "$(nbd_uri "$B" "$port" vm1/disk0@first)")
[[ $info -eq $((64 * M)) ]] || fail "a restore point keeps its size" $((64 * M)) "$info"
"$HAVENCTL" -d "$D" disk resize acme/vm1/disk0 --size 64M >"$OUT" 2>"$TMP/err" &&
    fail "shrinking was accepted"
grep -q "disks only grow" "$TMP/err" || fail "shrink message" "disks only grow" "$(cat "$TMP/err")"
ctl disk show acme/vm1/disk0 --json
jq_ok "d['size'] == 128 << 20 and d['restore_points'] >= 2"
ok

check "rp remove of a restore point a client has open: havend refuses"
"$PY" - "$B" "$port" >"$TMP/holder.out" 2>&1 <<'EOF' &
import nbd, sys, time
h = nbd.NBD()
h.set_tls(nbd.TLS_REQUIRE)
h.set_tls_certificates(sys.argv[1])
h.set_export_name("vm1/disk0@first")
h.connect_tcp("127.0.0.1", sys.argv[2])
print("open", flush=True)
time.sleep(8)
h.shutdown()
EOF
holder=$!
PIDS+=("$holder")
for _ in $(seq 100); do grep -q open "$TMP/holder.out" && break; sleep 0.1; done
grep -q open "$TMP/holder.out" || fail "the holder did not connect: $(cat "$TMP/holder.out")"
"$HAVENCTL" -d "$D" rp remove acme/vm1/disk0 first >"$OUT" 2>"$TMP/err" &&
    fail "removed a restore point that is open"
grep -q '^havenctl: havend: .*open by a client' "$TMP/err" ||
    fail "refusal message" "havend: ... open by a client" "$(cat "$TMP/err")"
wait_exit "$holder" 20 || fail "the holder did not finish"
ok

check "rp remove goes through havend; the export is gone"
n0=$(log_lines)
ctl rp remove acme/vm1/disk0 first
grep -q "Removed restore point $R1 (first)" "$OUT" || fail "rp remove message"
[[ $(requests_since "$n0") -eq 1 ]] || fail "rp remove was not a request"
ctl rp list acme/vm1/disk0 --json
jq_ok "$R1 not in [r['id'] for r in d] and '$V0' in [r['export'] for r in d]"
run_to 60 nbdinfo "$(nbd_uri "$B" "$port" vm1/disk0@$R1)" >/dev/null 2>&1 &&
    fail "vm1/disk0@$R1 still exported"
qio "$V0" "read -P 0x22 0 1M"
ok

check "disk remove with restore points while havend runs"
ctl rp list acme/vm1/disk1 --json
nrps=$(jq "len(d)")
n0=$(log_lines)
ctl disk remove acme/vm1/disk1
grep -qE "with $nrps restore points?\.$" "$OUT" || fail "disk remove message: $(cat "$OUT")"
[[ $(requests_since "$n0") -eq $nrps ]] ||
    fail "its restore points were not removed by havend" "$nrps" "$(requests_since "$n0")"
ok

check "havend stops cleanly"
stop_havend
ok

check "havend stopped: havenctl cuts alone, and havend honours the cut"
ctl rp create acme/vm1/disk0 --name offline --json
jq_ok "[r['name'] for r in d] == ['offline']"
start_havend "$D" "$port"
qio vm1/disk0 "write -P 0x77 0 1M" "flush"
qio vm1/disk0@offline "read -P 0x22 0 1M" "read -P 0x66 $((100 * M)) 1M"
qio "$V0" "read -P 0x22 0 1M"
qio vm1/disk0 "read -P 0x77 0 1M"
stop_havend
ok

echo "PASS: $TEST_NAME"

#!/usr/bin/env bash
# nbdinfo against haven over TLS: size and flags of an export, the export
# list of two tenants (each sees only its own disks), and the allocation
# map after a write into one extent.
source "$(dirname "$0")/functions.sh"
requires nbdinfo nbdsh
requires_python_nbd
requires_haven

D=$TMP/haven
A=$TMP/a B=$TMP/b
port=$(free_port)
haven_init "$D" tenant:a tenant:b \
    "bundle:a:site1:$A" "bundle:b:site1:$B" \
    "disk:a/vm1/disk0:256M" "disk:a/vm1/disk1:64M" "disk:a/vm2/disk0:128M" \
    "disk:b/vm9/data:32M" "disk:b/web/root:64M"
start_havend "$D" "$port"

# jq-less JSON checks: json_check JSONFILE PYTHON-EXPR-ON-j -> prints value
json_get() { "$PY" -c "import json, sys; j = json.load(open(sys.argv[1])); print($2)" "$1"; }

check "nbdinfo --json on a/vm1/disk0 exits 0"
run_to 60 nbdinfo --json "$(nbd_uri "$A" "$port" vm1/disk0)" >"$TMP/info.json" 2>"$TMP/info.err" ||
    fail "nbdinfo failed: $(cat "$TMP/info.err")"
ok

check "size is 268435456, TLS and structured replies are on"
for kv in 'j["exports"][0]["export-size"]=268435456' 'j["TLS"]=True' 'j["structured"]=True'; do
    k=${kv%%=*} want=${kv#*=}
    got=$(json_get "$TMP/info.json" "$k")
    [[ $got == "$want" ]] || fail "nbdinfo $k" "$want" "$got"
done
ok

check "flags: can_flush can_fua can_trim can_zero can_fast_zero can_multi_conn true, is_read_only false"
for k in can_flush can_fua can_trim can_zero can_fast_zero can_multi_conn; do
    got=$(json_get "$TMP/info.json" "j['exports'][0].get('$k')")
    [[ $got == True ]] || fail "nbdinfo $k" True "$got"
done
got=$(json_get "$TMP/info.json" "j['exports'][0].get('is_read_only')")
[[ $got == False ]] || fail "nbdinfo is_read_only" False "$got"
got=$(json_get "$TMP/info.json" "'base:allocation' in j['exports'][0].get('contexts', [])")
[[ $got == True ]] || fail "nbdinfo contexts include base:allocation" True "$got"
ok

check "nbdinfo --is tls and --can flush/zero/trim exit 0"
for q in "--is tls" "--can flush" "--can zero" "--can trim" "--can fua" "--can multi-conn"; do
    # shellcheck disable=SC2086
    run_to 60 nbdinfo $q "$(nbd_uri "$A" "$port" vm1/disk0)" ||
        fail "nbdinfo $q" "exit 0" "exit $?"
done
run_to 60 nbdinfo --is readonly "$(nbd_uri "$A" "$port" vm1/disk0)" && rc=0 || rc=$?
[[ $rc -eq 2 ]] || fail "nbdinfo --is readonly (2 = false)" 2 "$rc"
ok

# list_names BUNDLE: the export names nbdinfo --list shows, sorted.
list_names() {
    run_to 60 nbdinfo --list --json "$(nbd_uri "$1" "$port" "")" >"$TMP/list.json" 2>"$TMP/list.err" ||
        fail "nbdinfo --list with $1 failed: $(cat "$TMP/list.err")"
    json_get "$TMP/list.json" '" ".join(sorted(e["export-name"] for e in j["exports"]))'
}

check "nbdinfo --list for tenant a shows exactly a's disks"
got=$(list_names "$A")
want="vm1/disk0 vm1/disk1 vm2/disk0"
[[ $got == "$want" ]] || fail "exports listed for tenant a" "$want" "$got"
ok "$got"

check "nbdinfo --list for tenant b shows exactly b's disks"
got=$(list_names "$B")
want="vm9/data web/root"
[[ $got == "$want" ]] || fail "exports listed for tenant b" "$want" "$got"
ok "$got"

check "nbdinfo --list sizes match the disks"
got=$(json_get "$TMP/list.json" '" ".join("%s=%d" % (e["export-name"], e["export-size"]) for e in sorted(j["exports"], key=lambda e: e["export-name"]))')
want="vm9/data=33554432 web/root=67108864"
[[ $got == "$want" ]] || fail "sizes in nbdinfo --list for b" "$want" "$got"
ok

check "nbdinfo --map of a fresh disk: one hole,zero extent covering 64 MiB"
run_to 60 nbdinfo --map --json "$(nbd_uri "$A" "$port" vm1/disk1)" >"$TMP/map0.json" ||
    fail "nbdinfo --map failed"
got=$(json_get "$TMP/map0.json" '",".join("%d+%d:%d" % (e["offset"], e["length"], e["type"]) for e in j)')
[[ $got == "0+67108864:3" ]] || fail "map of a never-written disk" "0+67108864:3" "$got"
ok

check "write 1 MiB at 8 MiB (inside extent 2) with nbdsh"
run_to 60 nbdsh -c "h.set_tls(nbd.TLS_REQUIRE)" \
    -c "h.set_tls_certificates('$A')" -c "h.set_export_name('vm1/disk1')" \
    -c "h.connect_tcp('127.0.0.1', '$port')" \
    -c "h.pwrite(b'\\x5a' * (1 << 20), 8 << 20)" -c "h.flush()" \
    -c "assert h.pread(1 << 20, 8 << 20) == b'\\x5a' * (1 << 20)" \
    -c "h.shutdown()" || fail "nbdsh write/read-back failed"
ok

check "nbdinfo --map: data over [8 MiB, 9 MiB), hole,zero before 8 MiB and after 12 MiB"
run_to 60 nbdinfo --map --json "$(nbd_uri "$A" "$port" vm1/disk1)" >"$TMP/map1.json" ||
    fail "nbdinfo --map failed"
res=$("$PY" - "$TMP/map1.json" <<'EOF2'
import json, sys
M = 1 << 20
ext = json.load(open(sys.argv[1]))
def state(off):
    for e in ext:
        if e["offset"] <= off < e["offset"] + e["length"]:
            return e["type"]
    return None
pos, errs = 0, []
for e in ext:
    if e["offset"] != pos:
        errs.append("gap or overlap at %d" % pos)
    pos = e["offset"] + e["length"]
if pos != 64 * M:
    errs.append("map ends at %d, not %d" % (pos, 64 * M))
for off in range(0, 8 * M, 256 * 1024):
    if state(off) != 3:
        errs.append("offset %d: type %s, want 3 (hole,zero)" % (off, state(off)))
for off in range(8 * M, 9 * M, 64 * 1024):
    if state(off) is None or state(off) & 1:
        errs.append("offset %d: type %s, want data (hole bit clear)" % (off, state(off)))
for off in range(12 * M, 64 * M, M):
    if state(off) != 3:
        errs.append("offset %d: type %s, want 3 (hole,zero)" % (off, state(off)))
print("; ".join(errs[:5]) if errs else "ok")
EOF2
)
[[ $res == ok ]] || fail "nbdinfo --map after the write" "data at 8 MiB only" "$res; map: $(tr -d '\n' <"$TMP/map1.json")"
ok "$(tr -d '\n' <"$TMP/map1.json")"

havend_alive
stop_havend
echo "PASS"

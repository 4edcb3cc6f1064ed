#!/usr/bin/env bash
# Retention, immutability and pins as the operator sees them, offline
# (havenctl alone, holding havend's lock: no havend needed).
#
# Immutability: inside the tenant's window every removal path refuses,
# says until when, and changes nothing: rp remove, disk remove, tenant
# remove.  "After the window" is simulated by closing it
# (--immutable-days 0): the window that applies is the tenant's at the
# time of removal, so the same restore points then go.  The window's end
# is checked to the minute against the restore point's own time.
#
# Pins keep a restore point through every removal path too, until
# unpinned.  rp list shows the tier that keeps each point and when it
# expires, in a table and in JSON; a short ladder ("1s:all,1h:hourly")
# and a cap show points expiring for real within the test.
source "$(dirname "$0")/functions.sh"
[[ -x $HAVENCTL ]] || fail "havenctl not built: $HAVENCTL"

D=$TMP/haven
haven_init "$D" tenant:acme "disk:acme/vm1/disk0:8M" "disk:acme/vm1/disk1:8M"
OUT=$TMP/out
ERR=$TMP/err

# run ARGS...: havenctl, exit code in $rc, output in $OUT and $ERR.
run() {
    set +e
    "$HAVENCTL" -d "$D" "$@" >"$OUT" 2>"$ERR"
    rc=$?
    set -e
}

# ctl ARGS...: havenctl that must succeed without a word on stderr.
ctl() {
    run "$@"
    [[ $rc -eq 0 && ! -s $ERR ]] ||
        { cat "$ERR" >&2; fail "havenctl $* (exit $rc)"; }
}

# refused PATTERN ARGS...: havenctl must fail with exit 1 and exactly one
# line on stderr matching PATTERN, nothing on stdout.
refused() {
    local pattern=$1
    shift
    run "$@"
    [[ $rc -eq 1 ]] || fail "havenctl $*: exit $rc, expected 1"
    [[ ! -s $OUT ]] || fail "havenctl $*: stdout not empty"
    [[ $(wc -l <"$ERR") -eq 1 ]] || { cat "$ERR" >&2; fail "havenctl $*: not one line"; }
    grep -qE -- "$pattern" "$ERR" ||
        fail "havenctl $*: message" "$pattern" "$(cat "$ERR")"
}

# state: everything a refusal must leave alone (catalog listings, the
# objects of the store).
state() {
    "$HAVENCTL" -d "$D" rp list acme/vm1/disk0 --json | "$PY" -c \
        'import json,sys; print([r["id"] for r in json.load(sys.stdin)])'
    "$HAVENCTL" -d "$D" rp list acme/vm1/disk1 --json | "$PY" -c \
        'import json,sys; print([r["id"] for r in json.load(sys.stdin)])'
    "$HAVENCTL" -d "$D" disk list --json | "$PY" -c \
        'import json,sys; print([d["path"] for d in json.load(sys.stdin)])'
    (cd "$D/store" && find . -type f -printf '%p %s\n' | sort)
}

# deadline MS: how havenctl writes the end of a window ("YYYY-MM-DD HH:MM
# UTC", rounded up to the minute).
deadline() {
    "$PY" -c '
import sys, time
s = (int(sys.argv[1]) + 59999) // 60000 * 60
print(time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(s)))' "$1"
}

check "tenant set --retention --immutable-days"
ctl tenant set acme --retention "1h:all,1d:hourly" --immutable-days 7
ctl tenant show acme --json
json_ok "$OUT" "d['retention'] == '1h:all,1d:hourly' and d['immutable_days'] == 7"
ok

check "restore points of the VM (offline cuts)"
ctl rp create acme/vm1
ctl rp create acme/vm1 --name second
ctl rp create acme/vm1/disk0 --name third
rp_list "$D" acme/vm1/disk0 "$OUT"
json_ok "$OUT" "[r['id'] for r in d] == [1, 2, 3]"
created=$(json_eval "$OUT" "d[0]['created_ms']")
until_ms=$((created + 7 * 86400000))
json_ok "$OUT" "all(r['immutable'] and r['kept'] and r['tier'] == '1h:all'
    and r['pins'] == 0 and not r['pinned'] for r in d)"
# Immutable for longer than the ladder keeps them: the window is when
# they expire.
json_ok "$OUT" "d[0]['expires_ms'] == $until_ms"
json_ok "$OUT" "d[0]['immutable_until'] == d[0]['expires']"
ok "expires $(deadline "$until_ms")"

check "rp list table: TIER and EXPIRES"
ctl rp list acme/vm1/disk0
head -n 1 "$OUT" | grep -qE '  TIER  +EXPIRES  +EXPORT$' || fail "rp list header"
grep -qE "^ *1  -  .*  1h:all  $(deadline "$until_ms")  vm1/disk0@1\$" "$OUT" ||
    { cat "$OUT" >&2; fail "rp list row 1"; }
ok

check "immutability: every removal path refuses, says until when, changes nothing"
before=$(state)
until_txt=$(deadline "$until_ms")
refused "^havenctl: rp remove acme/vm1/disk0 1: immutable until $until_txt\$" \
    rp remove acme/vm1/disk0 1
refused "^havenctl: rp remove acme/vm1/disk0 2: immutable until " \
    rp remove acme/vm1/disk0 second
refused "^havenctl: disk remove acme/vm1/disk0: restore point 1 immutable until $until_txt\$" \
    disk remove acme/vm1/disk0
refused "^havenctl: disk remove acme/vm1/disk1: restore point 1 immutable until " \
    disk remove acme/vm1/disk1
refused "^havenctl: tenant remove acme: restore point 1 of acme/vm1/disk0: immutable until $until_txt\$" \
    tenant remove acme
[[ $(state) == "$before" ]] || fail "a refused removal changed something"
ok

check "pins hold through every removal path"
ctl tenant set acme --immutable-days 0
ctl tenant show acme --json
json_ok "$OUT" "d['immutable_days'] == 0 and d['retention'] == '1h:all,1d:hourly'"
ctl rp pin acme/vm1/disk1 second
ctl rp pin acme/vm1/disk1 second
grep -q '(2 holders)' "$OUT" || fail "two holders"
before=$(state)
refused "^havenctl: rp remove acme/vm1/disk1 2: pinned by 2 holder\(s\)\$" \
    rp remove acme/vm1/disk1 2
refused "^havenctl: disk remove acme/vm1/disk1: restore point 2 pinned by 2 holder\(s\)\$" \
    disk remove acme/vm1/disk1
refused "^havenctl: tenant remove acme: restore point 2 of acme/vm1/disk1: pinned by 2 holder\(s\)\$" \
    tenant remove acme
[[ $(state) == "$before" ]] || fail "a refused removal changed something"
rp_list "$D" acme/vm1/disk1 "$OUT"
json_ok "$OUT" "d[1]['pins'] == 2 and d[1]['pinned'] and d[1]['expires'] is None
    and not d[1]['immutable'] and d[1]['immutable_until'] is None"
ctl rp unpin acme/vm1/disk1 2
ctl rp unpin acme/vm1/disk1 2
refused "^havenctl: rp unpin acme/vm1/disk1 2: not pinned\$" rp unpin acme/vm1/disk1 2
ok

check "after the window: removal works on every path"
ctl rp remove acme/vm1/disk0 1
rp_list "$D" acme/vm1/disk0 "$OUT"
json_ok "$OUT" "[r['id'] for r in d] == [2, 3] and not any(r['immutable'] for r in d)"
ctl disk remove acme/vm1/disk1
grep -q 'with 2 restore points' "$OUT" || fail "disk remove count"
ok

check "a short ladder expires points for real"
ctl disk set acme/vm1/disk0 --retention "1s:all,1h:hourly"
ctl disk show acme/vm1/disk0 --json
json_ok "$OUT" "d['retention_override'] == '1s:all,1h:hourly'"
sleep 1.2
rp_list "$D" acme/vm1/disk0 "$OUT"
# Same hour: the older one expired when it left tier 0; the newer one is
# its hour's (and the disk's) newest, kept for the hour.
same_hour=$(json_eval "$OUT" "d[0]['created_ms'] // 3600000 == d[1]['created_ms'] // 3600000")
if [[ $same_hour == True ]]; then
    json_ok "$OUT" "d[0]['tier'] == 'expired' and not d[0]['kept'] and
        d[0]['expires_ms'] == d[0]['created_ms'] + 1000"
fi
json_ok "$OUT" "d[1]['tier'] == '1h:hourly' and d[1]['kept'] and
    d[1]['expires_ms'] == d[1]['created_ms'] + 3600000"
ctl rp list acme/vm1/disk0
grep -qE '^ *3  third .*  1h:hourly  [0-9-]+ [0-9:]+ UTC  vm1/disk0@3$' "$OUT" ||
    { cat "$OUT" >&2; fail "rp list row 3"; }
ok

check "a cap drops the oldest; 'inherit' follows the tenant again"
ctl disk set acme/vm1/disk0 --retention cap=1
rp_list "$D" acme/vm1/disk0 "$OUT"
json_ok "$OUT" "[(r['tier'], r['kept']) for r in d] ==
    [('over-cap', False), ('all', True)] and d[1]['expires'] is None"
ctl disk set acme/vm1/disk0 --retention inherit
rp_list "$D" acme/vm1/disk0 "$OUT"
json_ok "$OUT" "all(r['tier'] == '1h:all' and r['kept'] for r in d)"
ok

check "tenant remove: refused while disks remain, then works"
refused "^havenctl: tenant remove acme: it still has 1 disk " tenant remove acme
ctl disk remove acme/vm1/disk0
ctl tenant remove acme
refused "tenant 'acme' does not exist" tenant show acme
ok

echo "PASS"

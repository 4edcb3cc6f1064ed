#!/usr/bin/env bash
# The audit trail, as an operator and an auditor see it:
#  - havenctl changes (init, tenant add, cert issue, disk create, cert
#    revoke while havend runs) and refused commands are listed in order,
#    with the unix user as actor and the tenant they concern;
#  - havend records refused logins: a revoked certificate (attributed to
#    its tenant), a certificate from another CA, a client without a
#    certificate; a successful login is not recorded;
#  - a burst of refused logins from one address is cut to a few entries
#    and one summary entry counting the rest (suppressed=K);
#  - --tenant filters, --since filters (ISO time and relative), --json
#    parses and carries the chain, --verify passes and prints the head;
#  - entries changed, removed, moved or cut off the end with raw LMDB
#    (python3-lmdb) make --verify fail with a non-zero exit naming the
#    entry; putting the original back makes it pass again;
#  - a command line or an error line longer than an entry keeps ends in
#    "... (N more bytes)", cut between two characters, in the table and
#    in --json.
source "$(dirname "$0")/functions.sh"
requires nbdinfo openssl
requires_haven
"$PY" -c 'import lmdb' 2>/dev/null || skip "python3-lmdb is not installed"

D=$TMP/haven
A=$TMP/a A2=$TMP/a-site2 G=$TMP/g
TAMPER=$TESTDIR/audit-tamper.py
port=$(free_port)
me="havenctl:$(id -un)($(id -u))"
if [[ $(id -u) -eq 0 && -n ${SUDO_USER:-} ]]; then me="$me,sudo:$SUDO_USER"; fi

# audit_json FILE [ARGS...]: havenctl audit --json ARGS into FILE.
audit_json() {
    local f=$1
    shift
    "$HAVENCTL" -d "$D" audit --json "$@" >"$f" 2>"$f.err" ||
        { cat "$f.err" >&2; fail "havenctl audit --json $* failed"; }
}

# verify_fails WHAT SEQ: --verify must exit non-zero naming entry SEQ.
verify_fails() {
    local out rc
    out=$("$HAVENCTL" -d "$D" audit --verify 2>&1) && rc=0 || rc=$?
    [[ $rc -ne 0 ]] || fail "--verify after $1" "non-zero exit" "exit 0: $out"
    grep -q "entry $2:" <<<"$out" || fail "--verify after $1 names entry $2" "entry $2" "$out"
    ok "exit $rc: $out"
}

check "havenctl changes and refused commands"
haven_init "$D" tenant:acme tenant:globex \
    "bundle:acme:site1:$A" "bundle:acme:site2:$A2" "bundle:globex:hq:$G" \
    "disk:acme/vm1/disk0:64M" "disk:globex/vm9/disk0:64M"
"$HAVENCTL" -d "$D" disk create acme/vm1/disk0 --size 64M 2>/dev/null &&
    fail "creating an existing disk succeeded"
"$HAVENCTL" -d "$D" tenant add "Bad Name" 2>/dev/null &&
    fail "tenant add with an invalid name succeeded"
# Read-only commands and --help leave nothing.
hctl "$D" tenant list >/dev/null
hctl "$D" disk create --help >/dev/null
"$HAVENCTL" -d "$D" tenant show nosuch 2>/dev/null && fail "tenant show nosuch succeeded"
ok

"$HAVEN_SOURCE/certs/make-test-pki.sh" "$TMP/pki" --trust "$D/pki/ca-cert.pem" >/dev/null ||
    fail "certs/make-test-pki.sh failed"
NOCERT=$TMP/nocert
mkdir "$NOCERT"
cp "$D/pki/ca-cert.pem" "$NOCERT/"
start_havend "$D" "$port"

check "cert revoke while havend runs; refused logins"
hctl "$D" cert revoke acme --site site2 >/dev/null
run_to 60 nbdinfo --size "$(nbd_uri "$A" "$port" vm1/disk0)" >/dev/null ||
    fail "acme/site1 refused"
for b in "$A2" "$TMP/pki/foreign-client" "$NOCERT"; do
    run_to 60 nbdinfo --size "$(nbd_uri "$b" "$port" vm1/disk0)" >/dev/null 2>&1 &&
        fail "$(basename "$b") was served"
done
# Appends run off havend's loop: wait for them.
deadline=$((SECONDS + 10))
until audit_json "$TMP/a.json" && json_ok "$TMP/a.json" \
    'len([e for e in d if e["action"] == "auth.fail"]) >= 3' 2>/dev/null; do
    ((SECONDS < deadline)) || fail "havend recorded fewer than 3 refused logins in 10 s"
    sleep 0.2
done
ok

check "havenctl audit lists everything in order, with actors and tenants"
hctl "$D" audit | tee "$TMP/table.txt" | sed 's/^/  | /'
json_ok "$TMP/a.json" '[e["seq"] for e in d] == list(range(1, len(d) + 1))'
json_ok "$TMP/a.json" '[(e["action"], e["result"], e["tenant"]) for e in d] == [
    ("init", "ok", None),
    ("tenant.add", "ok", "acme"), ("tenant.add", "ok", "globex"),
    ("cert.issue", "ok", "acme"), ("cert.issue", "ok", "acme"),
    ("cert.issue", "ok", "globex"),
    ("disk.create", "ok", "acme"), ("disk.create", "ok", "globex"),
    ("disk.create", "refused", "acme"), ("tenant.add", "refused", None),
    ("cert.revoke", "ok", "acme"),
    ("auth.fail", "refused", "acme"), ("auth.fail", "refused", None),
    ("auth.fail", "refused", None)]'
json_ok "$TMP/a.json" "all(e['actor'] == '$me' for e in d if e['action'] != 'auth.fail')"
json_ok "$TMP/a.json" 'all(e["actor"] == "havend" for e in d if e["action"] == "auth.fail")'
json_ok "$TMP/a.json" '"already exists" in d[8]["detail"] and "disk create acme/vm1/disk0" in d[8]["detail"]'
json_ok "$TMP/a.json" '"tenant add \x27Bad Name\x27: invalid tenant name" in d[9]["detail"]'
# The revoked certificate is named by its pin, as revoke recorded it.
json_ok "$TMP/a.json" 'd[10]["detail"].split("pin=")[1][:64] == d[11]["detail"].split("pin=")[1][:64]'
json_ok "$TMP/a.json" '"reason=unknown_or_revoked_certificate" in d[11]["detail"] and "peer=127.0.0.1:" in d[11]["detail"]'
json_ok "$TMP/a.json" '"reason=certificate_rejected" in d[12]["detail"] and "verify_error=" in d[12]["detail"]'
json_ok "$TMP/a.json" '"reason=no_client_certificate" in d[13]["detail"]'
[[ $(grep -c ' auth\.fail ' "$TMP/table.txt") -eq 3 ]] ||
    fail "table rows with auth.fail" 3 "$(grep -c ' auth\.fail ' "$TMP/table.txt")"
grep -q "$me .*acme .*cert\.revoke .*ok .*cert revoke acme --site site2" "$TMP/table.txt" ||
    fail "table row of cert revoke" "$me acme cert.revoke ok ..." "$(grep revoke "$TMP/table.txt")"
ok

check "--tenant filters"
audit_json "$TMP/acme.json" --tenant acme
json_ok "$TMP/acme.json" 'len(d) == 7 and all(e["tenant"] == "acme" for e in d)'
json_ok "$TMP/acme.json" 'd[-1]["action"] == "auth.fail"'
audit_json "$TMP/globex.json" --tenant globex
json_ok "$TMP/globex.json" '[e["action"] for e in d] == ["tenant.add", "cert.issue", "disk.create"]'
audit_json "$TMP/none.json" --tenant initech
json_ok "$TMP/none.json" 'd == []'
ok

check "--since filters (relative, ISO date-time, date)"
audit_json "$TMP/s1.json" --since 1h
json_ok "$TMP/s1.json" 'len(d) == 14'
cut=$(json_eval "$TMP/a.json" 'd[11]["time"][:19] + "Z"')
audit_json "$TMP/s2.json" --since "$cut"
json_ok "$TMP/s2.json" "all(e['time'] >= '$cut'[:19] for e in d) and d[-1]['seq'] == 14 and len(d) >= 3"
tomorrow=$(date -u -d tomorrow +%Y-%m-%d)
audit_json "$TMP/s3.json" --since "$tomorrow"
json_ok "$TMP/s3.json" 'd == []'
"$HAVENCTL" -d "$D" audit --since yesterday-ish >/dev/null 2>"$TMP/since.err" &&
    fail "--since yesterday-ish was accepted"
grep -q "invalid --since" "$TMP/since.err" || fail "--since error" "invalid --since" "$(cat "$TMP/since.err")"
ok

check "a burst of refused logins is cut to a few entries and a count"
for _ in $(seq 12); do
    run_to 60 nbdinfo --size "$(nbd_uri "$TMP/pki/foreign-client" "$port" vm1/disk0)" >/dev/null 2>&1 &&
        fail "foreign-client was served"
done
stop_havend
audit_json "$TMP/b.json"
# 15 refused logins from 127.0.0.1 in all (3 above, 12 here): those not
# recorded one by one are counted by a summary entry.  12 are more than
# one address may leave in a minute, even if a minute ends among them.
"$PY" - "$TMP/b.json" <<'EOF' || fail "refused logins: entries + suppressed != 15"
import json, re, sys
d = json.load(open(sys.argv[1]))
fails = [e for e in d if e["action"] == "auth.fail"]
single = [e for e in fails if "suppressed=" not in e["detail"]]
summ = [int(re.search(r"suppressed=(\d+)", e["detail"]).group(1))
        for e in fails if "suppressed=" in e["detail"]]
print("  %d entries, %d summaries counting %d" % (len(single), len(summ), sum(summ)))
assert summ and sum(summ) >= 1, "no summary entry"
assert len(single) + sum(summ) == 15
assert "top_peer=127.0.0.1" in [e for e in fails if "suppressed=" in e["detail"]][0]["detail"]
EOF
ok

check "--verify passes and prints the newest hash"
out=$(hctl "$D" audit --verify)
echo "  $out"
n=$(json_eval "$TMP/b.json" 'len(d)')
head=$(json_eval "$TMP/b.json" 'd[-1]["hash"]')
[[ $out == "audit log verified: $n entries, head $head" ]] ||
    fail "--verify output" "audit log verified: $n entries, head $head" "$out"
json_ok "$TMP/b.json" 'all(d[i]["prev"] == d[i - 1]["hash"] for i in range(1, len(d)))'
ok

check "a modified entry fails --verify"
"$PY" "$TAMPER" "$D/catalog" save 11 "$TMP/e11" || fail "save entry 11"
"$PY" "$TAMPER" "$D/catalog" modify 11 "site2" "site7" || fail "tamper entry 11"
verify_fails "changing entry 11" 11
"$PY" "$TAMPER" "$D/catalog" restore 11 "$TMP/e11" || fail "restore entry 11"
hctl "$D" audit --verify >/dev/null
ok "the original record verifies again"

check "a removed entry fails --verify"
"$PY" "$TAMPER" "$D/catalog" save 5 "$TMP/e5" || fail "save entry 5"
"$PY" "$TAMPER" "$D/catalog" delete 5 || fail "delete entry 5"
verify_fails "removing entry 5" 5
"$PY" "$TAMPER" "$D/catalog" restore 5 "$TMP/e5" || fail "restore entry 5"
hctl "$D" audit --verify >/dev/null
ok "the original record verifies again"

check "entries moved fail --verify"
rm -rf "$D.copy" && cp -a "$D" "$D.copy"
"$PY" "$TAMPER" "$D.copy/catalog" swap 3 4 || fail "swap"
out=$("$HAVENCTL" -d "$D.copy" audit --verify 2>&1) && fail "--verify after a swap" "failure" "$out"
grep -q "entry 3:" <<<"$out" || fail "--verify after a swap names entry 3" "entry 3" "$out"
ok "$out"

check "a cut-off tail fails --verify"
"$PY" "$TAMPER" "$D.copy/catalog" delete "$n" || fail "delete the newest entry"
out=$("$HAVENCTL" -d "$D.copy" audit --verify 2>&1) && fail "--verify after cutting the tail" "failure" "$out"
grep -q "entry 3:" <<<"$out" || fail "first bad entry" "entry 3" "$out"
"$PY" "$TAMPER" "$D.copy/catalog" swap 3 4 || fail "swap back"
out=$("$HAVENCTL" -d "$D.copy" audit --verify 2>&1) && fail "--verify after cutting the tail" "failure" "$out"
grep -q "entry $n:.*tail cut off" <<<"$out" || fail "--verify names the cut" "entry $n: ... tail cut off" "$out"
ok "$out"

check "the log still takes entries after tampering, and still reports it"
hctl "$D.copy" tenant add initech >/dev/null
out=$("$HAVENCTL" -d "$D.copy" audit --verify 2>&1) && fail "--verify" "failure" "$out"
grep -q "entry $n:" <<<"$out" || fail "--verify after a new entry" "entry $n" "$out"
ok "$out"
hctl "$D" audit --verify >/dev/null
ok "the original directory is untouched"

check "a change that fails after changing the catalog: ok, then failed"
"$HAVENCTL" -d "$D" tenant add late >/dev/full 2>"$TMP/full.err" &&
    fail "tenant add with its output on /dev/full succeeded"
audit_json "$TMP/d.json"
json_ok "$TMP/d.json" '[(e["action"], e["result"], e["tenant"]) for e in d[-2:]] == [("tenant.add", "ok", "late"), ("tenant.add", "failed", "late")]'
json_ok "$TMP/d.json" '"writing output" in d[-1]["detail"]'
# The head printed before still names its entry.
json_ok "$TMP/d.json" "len(d) == $n + 2 and d[$n - 1]['hash'] == '$head'"
hctl "$D" audit --verify >/dev/null
ok

check "a command line longer than an entry keeps says how much is cut"
# 11 + 301 + 400 bytes; the cut falls in the middle of an "é" (2 bytes),
# which must not be split.
long=$(printf 'a%.0s' $(seq 301))$(printf '\xc3\xa9%.0s' $(seq 200))
"$HAVENCTL" -d "$D" tenant add "$long" 2>/dev/null && fail "tenant add with a 701-byte name succeeded"
audit_json "$TMP/long.json"
hctl "$D" audit >"$TMP/long.txt"
"$PY" - "$TMP/long.json" <<'EOF' || fail "the cut command line"
import json, re, sys
e = json.load(open(sys.argv[1]))[-1]
full = ("tenant add " + "a" * 301 + "\u00e9" * 200).encode()
m = re.fullmatch(r"(.*)\.\.\. \((\d+) more bytes\): invalid tenant name.*",
                 e["detail"], re.S)
assert (e["action"], e["result"]) == ("tenant.add", "refused"), e
assert m, "no mark of the cut in: " + e["detail"]
shown = m.group(1).encode()
print("  %d bytes shown, %s more" % (len(shown), m.group(2)))
assert full.startswith(shown) and len(shown) + int(m.group(2)) == len(full)
assert len(shown) > 400
EOF
grep -q "tenant\.add .*refused .*tenant add aaaa.*\.\.\. ([0-9]* more bytes): invalid tenant name" "$TMP/long.txt" ||
    fail "table row of the cut command line" "... (N more bytes)" "$(tail -1 "$TMP/long.txt")"
hctl "$D" audit --verify >/dev/null
ok

check "an error line longer than an entry keeps says how much is cut"
# The size (2 + 200 bytes) fits the command line, not the error line
# that quotes it; the cut falls in the middle of an "é" again.
size=1x$(printf '\xc3\xa9%.0s' $(seq 100))
"$HAVENCTL" -d "$D" disk create acme/vm1/big --size "$size" 2>"$TMP/size.err" &&
    fail "disk create with a size of $size succeeded"
audit_json "$TMP/size.json"
hctl "$D" audit >"$TMP/size.txt"
"$PY" - "$TMP/size.json" "$TMP/size.err" <<'EOF' || fail "the cut error line"
import json, re, sys
e = json.load(open(sys.argv[1]))[-1]
size = "1x" + "\u00e9" * 100
# The error line as havenctl printed it, without "havenctl: ".
err = open(sys.argv[2], encoding="utf-8").readline().rstrip("\n")
err = err.split(": ", 1)[1].encode()
assert (e["action"], e["result"]) == ("disk.create", "refused"), e
prefix = "disk create acme/vm1/big --size " + size + ": "
assert e["detail"].startswith(prefix), e["detail"]
m = re.fullmatch(r"(.*)\.\.\. \((\d+) more bytes\)",
                 e["detail"][len(prefix):], re.S)
assert m, "no mark of the cut in: " + e["detail"]
shown = m.group(1).encode()
print("  %d of %d error bytes shown, %s more" % (len(shown), len(err), m.group(2)))
assert err.startswith(shown) and len(shown) + int(m.group(2)) == len(err)
assert len(shown) > 200
EOF
grep -q "disk\.create .*refused .*: invalid size .*\.\.\. ([0-9]* more bytes)$" "$TMP/size.txt" ||
    fail "table row of the cut error line" "... (N more bytes)" "$(tail -1 "$TMP/size.txt")"
hctl "$D" audit --verify >/dev/null
ok

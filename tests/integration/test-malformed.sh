#!/usr/bin/env bash
# Hand-built NBD traffic (tests/integration/probe.py, Python ssl): exact
# option replies before and after STARTTLS, request validation in the
# transmission phase, drained WRITE payloads, bad magic, garbage
# connections.  Then havend must still serve a normal client.
source "$(dirname "$0")/functions.sh"
requires nbdinfo
[[ -x $PY ]] || skip "$PY is not installed"
requires_haven

D=$TMP/haven
A=$TMP/a
port=$(free_port)
haven_init "$D" tenant:a tenant:b "bundle:a:site1:$A" \
    "disk:a/vm1/disk0:64M" "disk:a/vm1/disk1:16M" "disk:b/vm1/disk2:16M"
start_havend "$D" "$port"

check "probe.py: option phase, transmission phase, garbage connections"
run_to 300 "$PY" "$PROBE" all 127.0.0.1 "$port" "$A" vm1/disk0 \
    --list vm1/disk0 --list vm1/disk1 --count 10 2>&1 | tee "$TMP/probe.out" &&
    rc=0 || rc=$?
[[ $rc -eq 0 ]] || fail "probe.py checks" "all passed" \
    "exit $rc: $(grep -c '^FAIL' "$TMP/probe.out") failed: $(grep -A2 '^FAIL' "$TMP/probe.out" | tr -s ' ' | tr '\n' ' ')"
ok

check "havend is still running"
havend_alive
ok

check "a normal client is served afterwards (nbdinfo --json size 64 MiB)"
out=$(run_to 60 nbdinfo --json "$(nbd_uri "$A" "$port" vm1/disk0)" 2>&1) ||
    fail "nbdinfo after the probes failed: $out"
size=$("$PY" -c 'import json, sys; print(json.load(sys.stdin)["exports"][0]["export-size"])' <<<"$out")
[[ $size -eq 67108864 ]] || fail "export size after the probes" 67108864 "$size"
ok

stop_havend
echo "PASS"

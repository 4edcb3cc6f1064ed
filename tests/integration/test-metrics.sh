#!/usr/bin/env bash
# havend's metrics endpoint and havenctl status, with real clients.
#  1. configuration: [metrics] listen in haven.conf (--check-config shows
#     it; a bad value names file, line and key); havend writes the bound
#     address into DIR/havend.metrics.
#  2. /healthz: 503 naming the route while a route's directory is gone,
#     200 "ok" once it is back; unknown paths 404.
#  3. after an nbdcopy of 32 MiB of random data into a disk, the tenant's
#     written-bytes counter is exactly 32 MiB, the request counters add up
#     (backend write ops == NBD_CMD_WRITE requests, one NBD_CMD_DISC and
#     one successful handshake per connection, no errors),
#     and reading it back counts exactly 32 MiB read; the other tenant's
#     counters stay 0.  Every scrape parses with a strict parser of the
#     text format (tests/integration/promcheck.py) and with promtool when
#     it is installed.
#  4. RPO age: grows while nothing is cut, resets when `havenctl rp create`
#     cuts a restore point, whose count goes up by one.
#  5. TLS: a revoked certificate counts as a failed handshake with reason
#     unknown_or_revoked_certificate.
#  6. havenctl status and status --json show the live session of a slow
#     (20 MiB/s) copy of 128 MiB with its rate; throttled seconds grow.
#  7. havend stopped: havenctl status says so in one line, exit 1; with
#     --metrics off, status says the endpoint is off.
source "$(dirname "$0")/functions.sh"
requires nbdcopy nbdinfo
requires_haven

M=$((1 << 20))
D=$TMP/haven
PC=$TESTDIR/promcheck.py
PROMTOOL=${PROMTOOL:-$(command -v promtool || true)}
port=$(free_port)
mport=$(free_port)

# get PATH: GET http://127.0.0.1:$mport/PATH; prints the status code on
# the first line, then the body.
get() {
    "$PY" - "$mport" "$1" <<'EOF'
import sys, urllib.request, urllib.error
url = "http://127.0.0.1:%s%s" % (sys.argv[1], sys.argv[2])
try:
    r = urllib.request.urlopen(url, timeout=10)
    code, body = r.status, r.read()
except urllib.error.HTTPError as e:
    code, body = e.code, e.read()
print(code)
sys.stdout.write(body.decode())
EOF
}

# scrape NAME: /metrics into $TMP/NAME.txt, checked strictly, and its
# samples into $TMP/NAME.json.
scrape() {
    local out
    out=$(get /metrics) || fail "GET /metrics failed"
    [[ $(head -n 1 <<<"$out") == 200 ]] || fail "GET /metrics" 200 "$(head -n 3 <<<"$out")"
    tail -n +2 <<<"$out" >"$TMP/$1.txt"
    "$PY" "$PC" "$TMP/$1.txt" "$TMP/$1.json" ||
        fail "/metrics ($1) is not valid Prometheus text format"
    if [[ -n $PROMTOOL ]]; then
        "$PROMTOOL" check metrics <"$TMP/$1.txt" ||
            fail "promtool check metrics rejects /metrics ($1)"
    fi
}

# m NAME SERIES: the value of a series (labels sorted by name), or
# "absent".
m() {
    "$PY" -c 'import json, sys; d = json.load(open(sys.argv[1])); v = d.get(sys.argv[2]); print("absent" if v is None else (int(v) if v == int(v) else v))' \
        "$TMP/$1.json" "$2"
}

# expect NAME SERIES VALUE
expect() {
    local v
    v=$(m "$1" "$2")
    [[ $v == "$3" ]] || fail "$2 in scrape $1" "$3" "$v"
}

haven_init "$D" tenant:acme tenant:other bundle:acme:s1:"$TMP/b1" \
    bundle:acme:s2:"$TMP/b2" disk:acme/vm1/root:32M disk:acme/vm1/big:128M \
    disk:other/vm/d:16M

# --- 1. configuration ------------------------------------------------------

check "[metrics] listen in haven.conf: --check-config shows it, a bad value names file, line and key"
cp "$D/haven.conf" "$TMP/conf.orig"
printf '[metrics]\nlisten = nonsense\n' >>"$D/haven.conf"
line=$(grep -n '^listen = nonsense$' "$D/haven.conf" | cut -d: -f1)
if err=$("$HAVEND" -d "$D" --check-config 2>&1); then
    fail "havend --check-config accepted listen = nonsense"
fi
grep -qF "$D/haven.conf:$line: bad value for key 'listen' in [metrics]" <<<"$err" ||
    fail "config error" "$D/haven.conf:$line: bad value for key 'listen' in [metrics]" "$err"
cp "$TMP/conf.orig" "$D/haven.conf"
printf '[metrics]\nlisten = 127.0.0.1:%s\n' "$mport" >>"$D/haven.conf"
# metrics_conf ARGS...: [metrics] listen as --check-config prints it.
metrics_conf() {
    "$HAVEND" -d "$D" --check-config "$@" |
        awk '/^\[/ { m = ($0 == "[metrics]") } m && $1 == "listen" { print $3 }'
}
[[ $(metrics_conf) == "127.0.0.1:$mport" ]] ||
    fail "--check-config" "[metrics] listen = 127.0.0.1:$mport" "$("$HAVEND" -d "$D" --check-config)"
[[ $(metrics_conf --metrics off) == off ]] ||
    fail "--metrics off not shown by --check-config"
ok

# --- 2. /healthz -----------------------------------------------------------

check "/healthz: 503 naming an unreachable route, 200 ok once it is back; 404 elsewhere"
mkdir "$TMP/r2"
hctl "$D" route add r2 --type local --path "$TMP/r2" >/dev/null
# A file where its directory should be: the store cannot open.
mv "$TMP/r2" "$TMP/r2.away"
touch "$TMP/r2"
start_havend "$D" "$port"
[[ $(cat "$D/havend.metrics") == "127.0.0.1:$mport" ]] ||
    fail "DIR/havend.metrics" "127.0.0.1:$mport" "$(cat "$D/havend.metrics" 2>&1)"
out=$(get /healthz)
[[ $(head -n 1 <<<"$out") == 503 ]] || fail "/healthz with route r2 gone" 503 "$out"
grep -q "not ready: route r2: " <<<"$out" || fail "/healthz reason" "not ready: route r2: ..." "$out"
scrape h0
expect h0 'haven_ready{}' 0
expect h0 'haven_route_up{route="r2"}' 0
rm "$TMP/r2"
mv "$TMP/r2.away" "$TMP/r2"
deadline=$((SECONDS + 15))
until [[ $(get /healthz) == $'200\nok' ]]; do
    ((SECONDS < deadline)) || fail "/healthz after route r2 came back" $'200\nok' "$(get /healthz)"
    sleep 0.5
done
out=$(get /nowhere)
[[ $(head -n 1 <<<"$out") == 404 ]] || fail "GET /nowhere" 404 "$out"
ok

# --- 3. counters after a replication ---------------------------------------

check "after nbdcopy of 32 MiB: written bytes exact, requests add up, parses strictly"
scrape s0
expect s0 'haven_tenant_written_bytes_total{tenant="acme"}' 0
make_random "$TMP/img" 32
run_to 120 nbdcopy "$TMP/img" "$(nbd_uri "$TMP/b1" "$port" vm1/root)" ||
    fail "nbdcopy into acme/vm1/root failed"
# The session may still be closing; its counters are final already.
deadline=$((SECONDS + 10))
while scrape s1 && [[ $(m s1 'haven_tenant_sessions{tenant="acme"}') != 0 ]]; do
    ((SECONDS < deadline)) || fail "acme's session still open 10 s after nbdcopy"
    sleep 0.2
done
expect s1 'haven_tenant_written_bytes_total{tenant="acme"}' $((32 * M))
expect s1 'haven_tenant_errors_total{error="NBD_EIO",tenant="acme"}' 0
expect s1 'haven_tenant_errors_total{error="NBD_EINVAL",tenant="acme"}' 0
expect s1 'haven_tenant_written_bytes_total{tenant="other"}' 0
expect s1 'haven_tenant_requests_total{command="NBD_CMD_WRITE",tenant="other"}' 0
writes=$(m s1 'haven_tenant_requests_total{command="NBD_CMD_WRITE",tenant="acme"}')
# Payloads are at most 32 MiB and at least 512 bytes.
((writes >= 1 && writes <= 32 * M / 512)) || fail "NBD_CMD_WRITE count" "1..65536" "$writes"
expect s1 'haven_route_op_duration_seconds_count{op="write",route="local"}' "$writes"
expect s1 'haven_route_op_duration_seconds_bucket{le="+Inf",op="write",route="local"}' "$writes"
expect s1 'haven_route_inflight_ops{route="local"}' 0
expect s1 'haven_tenant_sessions{tenant="acme"}' 0
expect s1 'haven_tenant_provisioned_bytes{tenant="acme"}' $((160 * M))
expect s1 'haven_tenant_disks{tenant="acme"}' 2
# nbdcopy may open several connections; each one authenticated (the
# start-up probe of start_havend came before s0 and did not).
conns=$(($(m s1 'haven_connections_accepted_total{}') - $(m s0 'haven_connections_accepted_total{}')))
((conns >= 1)) || fail "connections accepted by nbdcopy" ">= 1" "$conns"
expect s1 'haven_tls_handshakes_total{reason="none",result="ok"}' "$conns"
# ... and ended with NBD_CMD_DISC.
expect s1 'haven_tenant_requests_total{command="NBD_CMD_DISC",tenant="acme"}' "$conns"
expect s1 'haven_tenant_requests_total{command="other",tenant="acme"}' 0
# The ledger: 32 MiB of random data in 4 MiB extents, no history yet
# (the session-end restore point keeps nothing until a later write).
expect s1 'haven_tenant_stored_bytes{tenant="acme"}' $((32 * M))
nbd_read "$TMP/b1" "$port" vm1/root "$TMP/back"
same_file "$TMP/img" "$TMP/back" "acme/vm1/root read back"
scrape s2
expect s2 'haven_tenant_read_bytes_total{tenant="acme"}' $((32 * M))
expect s2 'haven_tenant_written_bytes_total{tenant="acme"}' $((32 * M))
ok "$writes writes over $conns connections"

# --- 4. RPO age ------------------------------------------------------------

check "RPO age grows, then resets when havenctl rp create cuts a restore point"
# The session that wrote ended with a restore point.
rps=$(m s2 'haven_disk_restore_points{disk="root",tenant="acme",vm="vm1"}')
((rps >= 1)) || fail "restore points after the replication" ">= 1" "$rps"
expect s2 'haven_disk_restore_points{disk="d",tenant="other",vm="vm"}' 0
expect s2 'haven_disk_rpo_age_seconds{disk="d",tenant="other",vm="vm"}' absent
sleep 2.5
scrape r1
age1=$(m r1 'haven_disk_rpo_age_seconds{disk="root",tenant="acme",vm="vm1"}')
"$PY" -c "import sys; sys.exit(0 if $age1 >= 2.5 else 1)" ||
    fail "RPO age 2.5 s after the last restore point" ">= 2.5" "$age1"
hctl "$D" rp create acme/vm1/root --name metrics-test >/dev/null
scrape r2
age2=$(m r2 'haven_disk_rpo_age_seconds{disk="root",tenant="acme",vm="vm1"}')
"$PY" -c "import sys; sys.exit(0 if $age2 < 1.5 else 1)" ||
    fail "RPO age right after rp create" "< 1.5" "$age2"
expect r2 'haven_disk_restore_points{disk="root",tenant="acme",vm="vm1"}' $((rps + 1))
ok "age $age1 s -> $age2 s; $((rps + 1)) restore points"

# --- 5. TLS handshakes -----------------------------------------------------

check "a revoked certificate counts as a failed handshake, reason unknown_or_revoked_certificate"
pin=$("$HAVENCTL" -d "$D" cert list --json | "$PY" -c '
import json, sys
print([c["pin"] for c in json.load(sys.stdin) if c.get("site") == "s2"][0])')
hctl "$D" cert revoke "$pin" >/dev/null
scrape t0
if run_to 30 nbdinfo --size "$(nbd_uri "$TMP/b2" "$port" vm1/root)" >/dev/null 2>&1; then
    fail "nbdinfo with a revoked certificate succeeded"
fi
scrape t1
expect t1 'haven_tls_handshakes_total{reason="unknown_or_revoked_certificate",result="failed"}' 1
expect t1 'haven_tls_handshakes_total{reason="none",result="ok"}' \
    "$(m t0 'haven_tls_handshakes_total{reason="none",result="ok"}')"
ok

# --- 6. havenctl status ----------------------------------------------------

check "havenctl status and --json show the live session of a 20 MiB/s copy, with its rate"
hctl "$D" tenant set acme --bandwidth 20M >/dev/null
make_random "$TMP/big" 128
# 128 MiB at 20 MiB/s: about 6 s.
run_to 60 nbdcopy "$TMP/big" "$(nbd_uri "$TMP/b1" "$port" vm1/big)" >"$TMP/slow.out" 2>&1 &
pc=$!
PIDS+=("$pc")
# The rate is over the last 5 s or so: ask once the copy ran that long.
deadline=$((SECONDS + 15))
while :; do
    "$HAVENCTL" -d "$D" status --json >"$TMP/st.json" || fail "havenctl status --json failed"
    if "$PY" -c '
import json, sys
d = json.load(open(sys.argv[1]))
t = [t for t in d["tenants"] if t["tenant"] == "acme"]
sys.exit(0 if t and t[0]["connections"] and t[0]["connections"][0]["seconds"] >= 5 else 1)' "$TMP/st.json"; then
        break
    fi
    alive "$pc" || fail "the throttled nbdcopy ended before status saw it"
    ((SECONDS < deadline)) || { cat "$TMP/st.json" >&2; fail "status --json never showed acme's session"; }
    sleep 0.2
done
json_ok "$TMP/st.json" "[t['tenant'] for t in d['tenants']] == ['acme']"
json_ok "$TMP/st.json" "d['tenants'][0]['sessions'] >= 1 and d['tenants'][0]['disks_in_use'] == 1"
json_ok "$TMP/st.json" "all(c['export'] == 'vm1/big' and c['site'] == 's1' for c in d['tenants'][0]['connections'])"
json_ok "$TMP/st.json" "10 * 2**20 <= d['tenants'][0]['in_bytes_per_second'] <= 30 * 2**20"
json_ok "$TMP/st.json" "d['tenants'][0]['out_bytes_per_second'] == 0 and d['ready'] is True"
rate=$(json_eval "$TMP/st.json" "round(d['tenants'][0]['in_bytes_per_second'] / 2**20, 1)")
"$HAVENCTL" -d "$D" status >"$TMP/st.txt" || fail "havenctl status failed"
grep -qE '^acme +[1-9][0-9]* +1 +[0-9.]+ MiB/s +0 B/s ' "$TMP/st.txt" ||
    { cat "$TMP/st.txt" >&2; fail "status: a line for acme with sessions, 1 disk, MiB/s in"; }
grep -qE '^[0-9]+ +acme +s1 +vm1/big ' "$TMP/st.txt" ||
    { cat "$TMP/st.txt" >&2; fail "status: a session line of acme, site s1, vm1/big"; }
wait_exit "$pc" 60 || fail "the throttled nbdcopy still runs"
[[ $WAIT_RC -eq 0 ]] || { cat "$TMP/slow.out" >&2; fail "throttled nbdcopy" 0 "$WAIT_RC"; }
scrape b1
expect b1 'haven_tenant_written_bytes_total{tenant="acme"}' $((160 * M))
"$PY" -c "import sys; sys.exit(0 if $(m b1 'haven_tenant_throttled_seconds_total{tenant="acme"}') > 0.5 else 1)" ||
    fail "throttled seconds after a 20 MiB/s copy" "> 0.5" "$(m b1 'haven_tenant_throttled_seconds_total{tenant="acme"}')"
"$HAVENCTL" -d "$D" status >"$TMP/idle.txt" || fail "havenctl status (idle) failed"
grep -qx "no live sessions" "$TMP/idle.txt" || {
    sleep 1
    "$HAVENCTL" -d "$D" status | grep -qx "no live sessions" ||
        fail "status once the copy ended" "no live sessions" "$(cat "$TMP/idle.txt")"
}
ok "status showed $rate MiB/s"

# --- 7. havend down --------------------------------------------------------

check "havend stopped: havenctl status fails with one line; --metrics off: says so"
stop_havend
[[ ! -e $D/havend.metrics ]] || fail "DIR/havend.metrics left behind by a clean stop"
if err=$("$HAVENCTL" -d "$D" status 2>&1 >/dev/null); then
    fail "havenctl status succeeded with havend stopped"
fi
[[ $err == "havenctl: havend is not running on $D" ]] ||
    fail "status error" "havenctl: havend is not running on $D" "$err"
"$HAVEND" -d "$D" --listen "127.0.0.1:$port" --metrics off 2>>"$D/havend.log" &
HAVEND_PID=$!
PIDS+=("$HAVEND_PID")
deadline=$((SECONDS + 10))
until port_open "$port"; do
    ((SECONDS < deadline)) || fail "havend --metrics off did not listen"
    sleep 0.1
done
! port_open "$mport" || fail "metrics port open with --metrics off"
if err=$("$HAVENCTL" -d "$D" status 2>&1 >/dev/null); then
    fail "havenctl status succeeded with metrics off"
fi
grep -q "runs without its metrics endpoint" <<<"$err" ||
    fail "status with metrics off" "... runs without its metrics endpoint ..." "$err"
[[ $(wc -l <<<"$err") -eq 1 ]] || fail "status error is one line" 1 "$err"
stop_havend
ok

#!/usr/bin/env bash
# TLS policy and hostile negotiation, from outside (tls-probe.py builds on
# probe.py; openssl s_client goes through tls-probe.py's STARTTLS relay):
#  - TLS 1.0/1.1 and TLS 1.2 with CBC suites refused by the server (alerts),
#    TLS 1.2 AEAD and TLS 1.3 accepted, no compression, renegotiation
#    refused (the connection is closed), a TLS_FALLBACK_SCSV downgrade
#    refused, no session without a client certificate;
#  - plaintext pipelined behind NBD_OPT_STARTTLS is never answered;
#  - clients that stall or dribble in the handshake are closed at
#    handshake_timeout;
#  - 1,000 simultaneous half-open connections (TCP only, half a
#    ClientHello, a whole ClientHello): havend's RSS grows by a bounded
#    amount, a normal client is served meanwhile, all are closed at the
#    timeout and their file descriptors freed;
#  - odd export names ('..', '/', NUL, 4 KiB, another tenant's disk in
#    every syntax, operator syntax from a tenant certificate): refused,
#    and byte for byte the same as for a disk that exists nowhere.
# (Options before STARTTLS, oversized options and garbage connections are
# in test-malformed.sh; client certificates of other CAs in
# test-isolation.sh.)
source "$(dirname "$0")/functions.sh"
requires openssl nbdinfo nbdcopy
requires_python_nbd
requires_haven

TP=$TESTDIR/tls-probe.py
NHALF=${HAVEN_HALFOPEN:-1000}
# Each half-open connection needs a descriptor in havend and in the probe.
if (($(ulimit -n) < 2 * NHALF + 256)); then
    ulimit -n $((2 * NHALF + 256)) 2>/dev/null ||
        skip "cannot raise the open file limit to $((2 * NHALF + 256)) (hard limit $(ulimit -Hn))"
fi

D=$TMP/haven
A=$TMP/a B=$TMP/b NOCERT=$TMP/nocert
port=$(free_port)
haven_init "$D" tenant:a tenant:b "bundle:a:site1:$A" "bundle:b:site1:$B" \
    "disk:a/vm1/disk0:64M" "disk:b/vm2/disk0:16M"
mkdir "$NOCERT"
cp "$A/ca-cert.pem" "$NOCERT/"
set_timeout() { sed -i "s/^handshake_timeout = .*/handshake_timeout = $1/" "$D/haven.conf"; }
set_timeout 3
start_havend "$D" "$port"

# tp MODE ARGS...: run tls-probe.py; fail with its failed checks.
tp() {
    local mode=$1 rc
    shift
    run_to 300 "$PY" "$TP" "$mode" 127.0.0.1 "$port" "$@" >"$TMP/tp-$mode.out" 2>&1 && rc=0 || rc=$?
    sed 's/^/  | /' "$TMP/tp-$mode.out"
    [[ $rc -eq 0 ]] || fail "tls-probe.py $mode" "all checks passed" \
        "exit $rc: $(grep -A2 '^FAIL' "$TMP/tp-$mode.out" | tr -s ' ' | tr '\n' ' ')"
}

check "Python ssl: protocol floor, AEAD only, no compression, client certificate required"
tp tls "$A" "$NOCERT"
ok

# --- openssl s_client through the STARTTLS relay ---------------------------
"$PY" "$TP" relay 127.0.0.1 "$port" >"$TMP/relay.port" 2>"$TMP/relay.err" &
PIDS+=($!)
for _ in $(seq 50); do [[ -s $TMP/relay.port ]] && break; sleep 0.1; done
relay=$(head -n 1 "$TMP/relay.port")
[[ $relay =~ ^[0-9]+$ ]] || fail "STARTTLS relay did not start" "a port" "$(cat "$TMP/relay.err")"

# sc OUT STDIN_SCRIPT ARGS...: s_client through the relay; STDIN_SCRIPT is
# a shell snippet whose output is s_client's input.
sc() {
    local out=$1 script=$2
    shift 2
    bash -c "$script" | run_to 20 openssl s_client -connect "127.0.0.1:$relay" \
        -CAfile "$A/ca-cert.pem" "$@" >"$out" 2>&1 || true
}
with_cert=(-cert "$A/client-cert.pem" -key "$A/client-key.pem")

# expect_in FILE REGEX WHAT / expect_not FILE REGEX WHAT
expect_in() { grep -qE "$2" "$1" || fail "s_client: $3" "$2" "$(grep -E 'alert|error|Protocol|Cipher' "$1" | head -n 3 | tr '\n' ' ')"; }
expect_not() { ! grep -qE "$2" "$1" || fail "s_client: $3" "no '$2'" "$(grep -E "$2" "$1" | head -n 2 | tr '\n' ' ')"; }

check "s_client -tls1 / -tls1_1 (SECLEVEL=0, so the client offers them): protocol_version alert"
for v in -tls1 -tls1_1; do
    sc "$TMP/sc$v" 'sleep 1' "$v" -cipher 'DEFAULT:@SECLEVEL=0' "${with_cert[@]}"
    expect_in "$TMP/sc$v" 'alert protocol version' "$v refused by the server"
    expect_not "$TMP/sc$v" 'Cipher is [A-Z]' "$v: no cipher negotiated"
done
ok

check "s_client -tls1_2 with CBC suites only: handshake_failure alert"
sc "$TMP/sc-cbc" 'sleep 1' -tls1_2 -cipher \
    'ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA384:ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA:AES128-SHA256:AES128-SHA:@SECLEVEL=0' \
    "${with_cert[@]}"
expect_in "$TMP/sc-cbc" 'alert handshake failure' "CBC-only refused"
expect_not "$TMP/sc-cbc" 'Cipher is [A-Z]' "CBC-only: no cipher negotiated"
ok

check "s_client -tls1_2 AEAD and -tls1_3: accepted, 'Compression: NONE', verified"
sc "$TMP/sc-12" 'sleep 1' -tls1_2 -cipher ECDHE-ECDSA-AES256-GCM-SHA384 "${with_cert[@]}"
expect_in "$TMP/sc-12" '^New, TLSv1.2, Cipher is ECDHE-ECDSA-AES256-GCM-SHA384' "TLS 1.2 AEAD accepted"
expect_in "$TMP/sc-12" '^Compression: NONE' "TLS 1.2 without compression"
expect_in "$TMP/sc-12" 'Verify return code: 0 \(ok\)' "server certificate verified"
sc "$TMP/sc-13" 'sleep 1' -tls1_3 "${with_cert[@]}"
expect_in "$TMP/sc-13" '^New, TLSv1.3, Cipher is TLS_AES' "TLS 1.3 accepted"
expect_in "$TMP/sc-13" 'Verify return code: 0 \(ok\)' "server certificate verified (TLS 1.3)"
expect_in "$TMP/sc-13" '^Compression: NONE' "TLS 1.3 without compression"
ok "$(grep -m1 'Cipher is' "$TMP/sc-12"); $(grep -m1 'Cipher is' "$TMP/sc-13")"

check "s_client renegotiation ('R' on a TLS 1.2 session): no_renegotiation, connection closed"
sc "$TMP/sc-reneg" 'sleep 1; echo R; sleep 3' -tls1_2 -msg "${with_cert[@]}"
expect_in "$TMP/sc-reneg" '^RENEGOTIATING' "renegotiation attempted"
expect_in "$TMP/sc-reneg" 'Alert.*no_renegotiation' "server answers no_renegotiation"
[[ $(grep -c '<<< .*ServerHello$' "$TMP/sc-reneg") -eq 1 ]] ||
    fail "renegotiation" "one ServerHello" "$(grep -c '<<< .*ServerHello$' "$TMP/sc-reneg")"
wait_havend_log 'reason="TLS renegotiation refused"' 5
ok

check "s_client -tls1_2 -fallback_scsv (a downgrade): inappropriate_fallback alert"
sc "$TMP/sc-fb" 'sleep 1' -tls1_2 -fallback_scsv "${with_cert[@]}"
expect_in "$TMP/sc-fb" 'alert inappropriate fallback' "downgrade refused"
ok

check "s_client without a client certificate: refused (certificate_required / handshake_failure)"
sc "$TMP/sc-nc13" 'sleep 2' -tls1_3
expect_in "$TMP/sc-nc13" 'alert certificate required' "TLS 1.3 without a certificate"
sc "$TMP/sc-nc12" 'sleep 2' -tls1_2
expect_in "$TMP/sc-nc12" 'alert handshake failure' "TLS 1.2 without a certificate"
ok

check "STARTTLS injection: pipelined plaintext options are never answered"
tp injection "$A" vm1/disk0
ok

check "odd and foreign export names: refused, identical to a disk that exists nowhere"
tp names "$A" a vm1/disk0 b vm2/disk0
ok

check "stalled and dribbling handshakes are closed at handshake_timeout (3 s)"
tp slow "$A" 3
n=$(tail -c "+$HAVEND_LOG_FROM" "$HAVEND_LOG" | grep -c 'reason="handshake timeout"')
((n >= 5)) || fail "handshake timeouts logged" ">= 5" "$n"
ok

# --- 1,000 half-open connections -------------------------------------------
stop_havend
set_timeout 20
start_havend "$D" "$port"
rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$HAVEND_PID/status"; }
nfd() { find "/proc/$HAVEND_PID/fd" -mindepth 1 -maxdepth 1 | wc -l; }
# Warm up: one full TLS session and one closed TCP connection.
run_to 60 nbdinfo --size "$(nbd_uri "$A" "$port" vm1/disk0)" >/dev/null || fail "warm-up nbdinfo"
sleep 0.5
rss0=$(rss) fd0=$(nfd)

check "$NHALF simultaneous half-open connections: bounded memory, a normal client is served"
rm -f "$TMP/ho.ready" "$TMP/ho.go"
"$PY" "$TP" halfopen 127.0.0.1 "$port" "$A" "$NHALF" 20 "$TMP/ho.ready" "$TMP/ho.go" \
    >"$TMP/ho.out" 2>&1 &
ho_pid=$!
PIDS+=("$ho_pid")
deadline=$((SECONDS + 60))
until [[ -s $TMP/ho.ready ]]; do
    alive "$ho_pid" || fail "half-open prober ended early" "" "$(cat "$TMP/ho.out")"
    ((SECONDS < deadline)) || fail "half-open connections not open after 60 s"
    sleep 0.1
done
sleep 1
rss1=$(rss) fd1=$(nfd)
grow_kib=$((rss1 - rss0))
# 80 KiB per half-open connection at most (measured: ~50); sanitizer
# builds carry shadow memory and quarantine, so they get 4 times that.
limit_kib=$((NHALF * 80))
[[ -z ${ASAN_OPTIONS:-} ]] || limit_kib=$((limit_kib * 4))
echo "  | havend RSS $((rss0 / 1024)) MiB -> $((rss1 / 1024)) MiB (+$((grow_kib / NHALF)) KiB per connection), fds $fd0 -> $fd1"
((fd1 >= fd0 + NHALF - 8)) || fail "havend holds the half-open connections" ">= $((fd0 + NHALF - 8)) fds" "$fd1"
((grow_kib <= limit_kib)) || fail "RSS growth for $NHALF half-open connections" "<= $((limit_kib / 1024)) MiB" "$((grow_kib / 1024)) MiB"
make_random "$TMP/img" 16
t0=$(date +%s%N)
run_to 60 nbdcopy --flush "$TMP/img" "$(nbd_uri "$A" "$port" vm1/disk0)" ||
    fail "a normal client while $NHALF connections are half-open"
nbd_read "$A" "$port" vm1/disk0 "$TMP/back"
cmp -s -n $((16 << 20)) "$TMP/img" "$TMP/back" || fail "data written while $NHALF connections are half-open" "identical" "different"
ok "16 MiB written and read back in $((($(date +%s%N) - t0) / 1000000)) ms"

check "all $NHALF are closed at the 20 s handshake timeout and their descriptors freed"
touch "$TMP/ho.go"
wait_exit "$ho_pid" 90 || fail "half-open prober still running after 90 s"
sed 's/^/  | /' "$TMP/ho.out"
[[ $WAIT_RC -eq 0 ]] || fail "tls-probe.py halfopen" "all checks passed" "$(grep -A2 '^FAIL' "$TMP/ho.out" | tr '\n' ' ')"
sleep 0.5
fd2=$(nfd) rss2=$(rss)
echo "  | fds $fd1 -> $fd2 (before: $fd0), RSS $((rss2 / 1024)) MiB"
((fd2 <= fd0 + 4)) || fail "havend's descriptors after the timeout" "<= $((fd0 + 4))" "$fd2"
havend_alive
run_to 60 nbdinfo --size "$(nbd_uri "$A" "$port" vm1/disk0)" >/dev/null || fail "nbdinfo after the half-open storm"
ok

stop_havend
echo "PASS"

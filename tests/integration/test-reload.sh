#!/usr/bin/env bash
# SIGHUP reload while a tenant replicates:
#  1. tenant a's nbdcopy (bandwidth-limited, so it spans the whole test)
#     runs through every reload below and its data reads back identical;
#  2. a tenant added and another tenant's certificate revoked, then
#     SIGHUP: the revoked certificate's open session is closed and a new
#     connection with it refused; the new tenant connects;
#  3. configuration changes take effect: log level info -> debug, and
#     max_sessions_per_tenant (new sessions only; a's go on);
#  4. a change that needs a restart ([ceph]) is logged and not applied;
#  5. a broken haven.conf on SIGHUP is refused with file, line and key,
#     and havend keeps serving with the old configuration;
#  6. a replaced CA certificate: sessions whose certificate it did not
#     sign are closed, new ones refused.
source "$(dirname "$0")/functions.sh"
requires nbdcopy nbdinfo
requires_python_nbd
requires_haven

D=$TMP/d A=$TMP/a V=$TMP/v N=$TMP/n
M=$((1 << 20))
port=$(free_port)
haven_init "$D" tenant:a tenant:v bundle:a:hq:"$A" bundle:v:hq:"$V" \
    disk:a/vm/d0:256M disk:v/vm/d0:16M
# 256 MiB at 16 MiB/s: about 16 s of copying.
hctl "$D" tenant set a --bandwidth 16M >/dev/null
start_havend "$D" "$port"

# hup: send SIGHUP and wait for havend's verdict (reloaded or refused),
# left in HUP_VERDICT.
hup() {
    local n deadline=$((SECONDS + 10))
    verdicts() {
        havend_log | grep -E 'event=(reloaded|reload_refused)' || true
    }
    n=$(verdicts | wc -l)
    kill -HUP "$HAVEND_PID"
    until (($(verdicts | wc -l) > n)); do
        havend_alive
        ((SECONDS < deadline)) || fail "no reload verdict 10 s after SIGHUP"
        sleep 0.05
    done
    HUP_VERDICT=$(verdicts | tail -1)
}

# hup_ok: SIGHUP, and the reload must succeed.
hup_ok() {
    hup
    grep -q 'event=reloaded' <<<"$HUP_VERDICT" || fail "reload" "event=reloaded" "$HUP_VERDICT"
}

# hold_until_closed BUNDLE OUT [write]: a libnbd client of BUNDLE on
# vm/d0 (that first writes 4 KiB, with "write") reads until the server
# closes its session, then exits 0; it gives up after 60 s with status 1.
# Its pid goes to HOLD_PID; returns once it is connected.
hold_until_closed() {
    "$PY" - "$(nbd_uri "$1" "$port" vm/d0)" "${3:-}" >"$2" 2>&1 <<'EOF' &
import sys, time
import nbd
h = nbd.NBD()
h.set_uri_allow_local_file(True)
h.connect_uri(sys.argv[1])
if sys.argv[2] == "write":
    h.pwrite(b"\xab" * 4096, 0)
print("ready", flush=True)
start = time.monotonic()
while time.monotonic() - start < 60:
    try:
        h.pread(4096, 0)
    except nbd.Error as e:
        print("closed:", e, flush=True)
        sys.exit(0)
    time.sleep(0.05)
print("still open after 60 s", flush=True)
sys.exit(1)
EOF
    HOLD_PID=$!
    PIDS+=("$HOLD_PID")
    wait_ready "$2" "the libnbd client of $1"
}

# refused BUNDLE WHAT: a new connection with BUNDLE must be refused; what
# the client printed is left in REFUSED_OUT.
refused() {
    if REFUSED_OUT=$(run_to 30 nbdinfo --size "$(nbd_uri "$1" "$port" vm/d0)" 2>&1); then
        fail "$2" "refused" "$(tail -3 <<<"$REFUSED_OUT")"
    fi
}

# --- the long copy ---------------------------------------------------------

make_random "$TMP/src.img" 256
run_to 300 nbdcopy "$TMP/src.img" "$(nbd_uri "$A" "$port" vm/d0)" \
    >"$TMP/copy.out" 2>&1 &
copy=$!
PIDS+=("$copy")

# v holds a session open and reads from it until the server closes it.
hold_until_closed "$V" "$TMP/hold.out" write
hold=$HOLD_PID
sleep 1
alive "$copy" || fail "a's nbdcopy finished before the reloads: $(cat "$TMP/copy.out")"
havend_log | grep -q 'level=debug' &&
    fail "debug lines before the log level was raised"

# --- 2. add a tenant, revoke a certificate, reload --------------------------

check "SIGHUP after adding tenant n, revoking v's certificate and setting level = debug"
hctl "$D" tenant add n >/dev/null
hctl "$D" cert issue n --site hq --out "$N" >/dev/null
hctl "$D" disk create n/vm/d0 --size 8M >/dev/null
hctl "$D" cert revoke v --site hq >/dev/null
sed -i 's/^level = info$/level = debug/' "$D/haven.conf"
grep -qx 'level = debug' "$D/haven.conf" || fail "haven.conf edit"
hup_ok
grep -q 'log_level=debug' <<<"$HUP_VERDICT" || fail "reload verdict" "log_level=debug" "$HUP_VERDICT"
ok

check "v's open session is closed, and v cannot connect again"
wait_exit "$hold" 10 || fail "v's session still open 10 s after the revocation"
[[ $WAIT_RC -eq 0 ]] || fail "v's client: $(cat "$TMP/hold.out")"
havend_log | grep -qE 'tenant=v .*reason="client certificate revoked"' ||
    fail "havend logged no session end of v for the revocation"
refused "$V" "v connects after the revocation"
ok "$(tail -1 "$TMP/hold.out")"

check "the new tenant n connects and its data reads back"
head -c $((8 * M)) /dev/urandom >"$TMP/n.img"
run_to 60 nbdcopy "$TMP/n.img" "$(nbd_uri "$N" "$port" vm/d0)" || fail "nbdcopy into n/vm/d0"
nbd_read "$N" "$port" vm/d0 "$TMP/n.back"
same_file "$TMP/n.img" "$TMP/n.back" "n/vm/d0"
ok

check "the new log level took effect (debug lines for n's connections)"
havend_log | grep -q 'level=debug event=accept' ||
    fail "no debug line after level = debug and SIGHUP"
ok

check "[limits] max_sessions_per_tenant = 1 by SIGHUP: a's running sessions go on, n gets one"
printf '[limits]\nmax_sessions_per_tenant = 1\n' >>"$D/haven.conf"
hup_ok
"$PY" - "$(nbd_uri "$N" "$port" vm/d0)" "$TMP/nhold.stop" >"$TMP/nhold.out" 2>&1 <<'EOF' &
import os, sys, time
import nbd
h = nbd.NBD()
h.set_uri_allow_local_file(True)
h.connect_uri(sys.argv[1])
print("ready", flush=True)
while not os.path.exists(sys.argv[2]):
    time.sleep(0.05)
h.shutdown()
EOF
nhold=$!
PIDS+=("$nhold")
wait_ready "$TMP/nhold.out" "n's session"
LIBNBD_DEBUG=1 refused "$N" "n's second session with max_sessions_per_tenant = 1"
grep -qi "session limit reached" <<<"$REFUSED_OUT" ||
    fail "refusal message" "session limit reached ..." "$(grep -i 'error\|policy' <<<"$REFUSED_OUT" | tail -5)"
touch "$TMP/nhold.stop"
wait_exit "$nhold" 10 || fail "n's libnbd client did not close"
alive "$copy" || echo "  (a's copy finished meanwhile)"
sed -i '/^max_sessions_per_tenant = 1$/d' "$D/haven.conf"
hup_ok
ok

# --- 4. a key that needs a restart -----------------------------------------

check "a changed [ceph] op_timeout is logged as needing a restart and not applied"
# (havend runs with --listen: the command line wins over the file's
# listen, before and after a reload.)
printf '[ceph]\nop_timeout = 60\n' >>"$D/haven.conf"
hup_ok
wait_havend_log 'event=reload_needs_restart key=ceph.op_timeout action=kept_running_value' 5
nbd_size "$N" "$port" vm/d0 >/dev/null
ok

# --- 5. a broken configuration ---------------------------------------------

check "a broken haven.conf is refused with file, line and key; havend goes on"
cp "$D/haven.conf" "$TMP/good.conf"
sed -i 's/^level = debug$/level = info/' "$D/haven.conf"
printf '[limits]\nmax_connections = 0\n' >>"$D/haven.conf"
line=$(wc -l <"$D/haven.conf")
hup
grep -qF "event=reload_refused error=\"$D/haven.conf:$line: bad value for key 'max_connections' in [limits]: '0'" <<<"$HUP_VERDICT" ||
    fail "reload of a broken haven.conf" "event=reload_refused error=\"$D/haven.conf:$line: ... 'max_connections' ..." "$HUP_VERDICT"
# The old configuration (level = debug) still holds: a new connection
# still logs at debug, and it is served.
from=$(stat -c %s "$HAVEND_LOG")
nbd_read "$N" "$port" vm/d0 "$TMP/n.back2"
same_file "$TMP/n.img" "$TMP/n.back2" "n/vm/d0 after the refused reload"
tail -c "+$((from + 1))" "$HAVEND_LOG" | grep -q 'level=debug event=accept' ||
    fail "the refused reload changed the log level"
ok

check "a missing server key on SIGHUP is refused too; havend goes on"
cp "$TMP/good.conf" "$D/haven.conf"
mv "$D/pki/server-key.pem" "$TMP/server-key.pem"
hup
grep -qF 'event=reload_refused error="cannot load the TLS keys' <<<"$HUP_VERDICT" ||
    fail "reload without the server key" "event=reload_refused ..." "$HUP_VERDICT"
mv "$TMP/server-key.pem" "$D/pki/server-key.pem"
nbd_size "$N" "$port" vm/d0 >/dev/null
hup_ok
ok

# --- 1. the copy that ran through it all ------------------------------------

check "a's nbdcopy ran through every reload and its data is intact"
alive "$copy" || echo "  (copy finished during the reloads)"
wait_exit "$copy" 120 || fail "a's nbdcopy did not finish"
[[ $WAIT_RC -eq 0 ]] || fail "a's nbdcopy failed: $(cat "$TMP/copy.out")"
bad=$(havend_log | grep -E 'event=session_end .*tenant=a ' |
    grep -vE 'reason="client (sent NBD_CMD_DISC|disconnected)"' || true)
[[ -z $bad ]] || fail "a session of a ended other than by the client" "none" "$bad"
havend_log | grep -qE 'event=session_end .*tenant=a ' ||
    fail "no session of a was logged"
nbd_read "$A" "$port" vm/d0 "$TMP/a.back"
same_file "$TMP/src.img" "$TMP/a.back" "a/vm/d0"
ok

# --- 6. a replaced CA --------------------------------------------------------

check "SIGHUP with a CA that did not sign n's certificate closes n's session"
hold_until_closed "$N" "$TMP/hold2.out"
hold=$HOLD_PID
cp "$D/pki/ca-cert.pem" "$TMP/ca-cert.pem"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
    -subj /CN=other-ca -keyout "$TMP/other-ca.key" -out "$D/pki/ca-cert.pem" 2>/dev/null ||
    fail "openssl req for another CA"
hup_ok
wait_exit "$hold" 10 || fail "n's session still open 10 s after the CA changed"
[[ $WAIT_RC -eq 0 ]] || fail "n's client: $(cat "$TMP/hold2.out")"
wait_havend_log 'tenant=n .*reason="client certificate no longer trusted"' 5
if out=$(run_to 30 nbdinfo --size "$(nbd_uri "$N" "$port" vm/d0)" 2>&1); then
    fail "n connects with a certificate of the old CA" "refused" "$out"
fi
cp "$TMP/ca-cert.pem" "$D/pki/ca-cert.pem"
hup_ok
nbd_size "$N" "$port" vm/d0 >/dev/null
ok

stop_havend

#!/usr/bin/env bash
# Graceful stop of havend (SIGTERM):
#  1. qemu-io writes + flush, SIGTERM: havend exits 0 within 10 s, the port
#     is closed, and after a restart qemu-io reads the pattern back;
#  2. an idle session (after GO) does not keep havend from exiting;
#  3. a stream of 1 MiB writes (python3-libnbd, 16 in flight) is cut by
#     SIGTERM: havend exits 0 and, after a restart, every write the client
#     saw acknowledged reads back exactly;
#  4. an nbdcopy --flush of 256 MiB running when SIGTERM arrives: havend
#     exits 0 within 10 s and nbdcopy terminates (it may fail).
source "$(dirname "$0")/functions.sh"
requires qemu-io nbdcopy nbdkit nbdinfo
requires_python_nbd
requires_haven

D=$TMP/haven
A=$TMP/a
port=$(free_port)
haven_init "$D" tenant:a "bundle:a:site1:$A" \
    "disk:a/vm1/disk0:64M" "disk:a/vm1/stream:256M" "disk:a/vm1/copy:256M"
obj=$(qemu_object "$A")
img=$(qemu_opts "$A" "$port" vm1/disk0)
E=$((4 << 20))

# --- 1. qemu-io, flush, SIGTERM, restart, read back ------------------------
start_havend "$D" "$port"
check "qemu-io writes 0x5a patterns (one spans the extent boundary) and flushes"
out=$(run_to 60 qemu-io --object "$obj" --image-opts "$img" \
    -c "write -P 0x5a $((E - 4096)) 8192" -c "write -P 0x5b $((10 * E + 3)) 100000" \
    -c "write -P 0x5c 0 512" -c flush 2>&1) || fail "qemu-io write/flush failed: $out"
grep -qiE 'fail|error' <<<"$out" && fail "qemu-io reported: $out"
ok

check "SIGTERM: havend exits 0 within 10 s"
stop_havend 10
ok

check "after havend exited, new connections are refused"
port_open "$port" && fail "port $port still accepts connections" "refused" "accepted"
out=$(run_to 30 nbdinfo "$(nbd_uri "$A" "$port" vm1/disk0)" 2>&1) &&
    fail "nbdinfo after SIGTERM succeeded" "failure" "$out"
ok

start_havend "$D" "$port"
check "after restart qemu-io reads back every flushed byte"
out=$(run_to 60 qemu-io --object "$obj" --image-opts "$img" \
    -c "read -P 0x5a $((E - 4096)) 8192" -c "read -P 0x5b $((10 * E + 3)) 100000" \
    -c "read -P 0x5c 0 512" -c "read -P 0 512 $((E - 4096 - 512))" 2>&1) ||
    fail "qemu-io read-back failed: $out"
grep -qiE 'fail|error' <<<"$out" && fail "qemu-io read-back" "patterns verified" "$out"
ok

# --- 2. an idle session does not hold havend up ----------------------------
check "SIGTERM with an idle session open after GO: havend exits 0 within 5 s"
"$PY" "$PROBE" hold 127.0.0.1 "$port" "$A" vm1/disk0 >"$TMP/hold.out" 2>&1 &
hold_pid=$!
PIDS+=("$hold_pid")
for _ in $(seq 100); do grep -q ready "$TMP/hold.out" && break; sleep 0.1; done
grep -q ready "$TMP/hold.out" || fail "probe hold did not open the export: $(cat "$TMP/hold.out")"
stop_havend 5
wait_exit "$hold_pid" 5 || fail "the idle client was not disconnected"
grep -q closed "$TMP/hold.out" || fail "idle client" "closed" "$(cat "$TMP/hold.out")"
ok

# --- 3. acknowledged writes survive SIGTERM ---------------------------------
cat >"$TMP/writer.py" <<'PYEOF'
import nbd, sys, time
bundle, port, export, ackfile = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
MiB = 1 << 20
def block(i):
    return (b"haven-blk-%06d" % i) * (MiB // 16)
h = nbd.NBD()
h.set_tls(nbd.TLS_REQUIRE)
h.set_tls_certificates(bundle)
h.set_export_name(export)
h.connect_tcp("127.0.0.1", port)
n = h.get_size() // MiB
acks = open(ackfile, "w")
pending, bufs, nxt, errors = {}, {}, 0, 0
try:
    while nxt < n or pending:
        while nxt < n and len(pending) < 16:
            bufs[nxt] = block(nxt)
            pending[h.aio_pwrite(bufs[nxt], nxt * MiB)] = nxt
            nxt += 1
            time.sleep(0.01)  # spread the stream over a few seconds
        h.poll(1000)
        for cookie, i in list(pending.items()):
            try:
                done = h.aio_command_completed(cookie)
            except nbd.Error:
                errors += 1
                del pending[cookie]
                continue
            if done:
                acks.write("%d\n" % i)
                acks.flush()
                del pending[cookie]
except nbd.Error as e:
    print("writer: connection ended: %s" % e)
print("writer: %d acknowledged, %d failed, %d unanswered"
      % (sum(1 for _ in open(ackfile)), errors, len(pending)))
PYEOF
cat >"$TMP/verify.py" <<'PYEOF'
import nbd, sys
bundle, port, export, ackfile = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
MiB = 1 << 20
h = nbd.NBD()
h.set_tls(nbd.TLS_REQUIRE)
h.set_tls_certificates(bundle)
h.set_export_name(export)
h.connect_tcp("127.0.0.1", port)
acked = [int(l) for l in open(ackfile) if l.strip()]
bad = []
for i in acked:
    want = (b"haven-blk-%06d" % i) * (MiB // 16)
    got = h.pread(MiB, i * MiB)
    if got != want:
        first = next(k for k in range(MiB) if got[k] != want[k])
        bad.append("block %d differs at byte %d: %r" % (i, first, got[first:first + 16]))
h.shutdown()
print("verified %d acknowledged blocks, %d bad" % (len(acked), len(bad)))
for b in bad[:5]:
    print("  " + b)
sys.exit(1 if bad or not acked else 0)
PYEOF

start_havend "$D" "$port"
check "SIGTERM during a stream of writes: havend exits 0 within 10 s"
"$PY" "$TMP/writer.py" "$A" "$port" vm1/stream "$TMP/acks" >"$TMP/writer.out" 2>&1 &
writer_pid=$!
PIDS+=("$writer_pid")
for _ in $(seq 200); do
    [[ -f $TMP/acks && $(wc -l <"$TMP/acks") -ge 40 ]] && break
    alive "$writer_pid" || break
    sleep 0.05
done
acked_before=$(wc -l <"$TMP/acks" 2>/dev/null || echo 0)
[[ $acked_before -ge 40 ]] || fail "writer did not get 40 acknowledgements: $(cat "$TMP/writer.out")"
alive "$writer_pid" || fail "the writer finished before SIGTERM; the test would not test anything"
stop_havend 10
wait_exit "$writer_pid" 30 || fail "writer still running 30 s after havend stopped"
cat "$TMP/writer.out" | sed 's/^/  | /'
ok

start_havend "$D" "$port"
check "after restart every acknowledged write reads back exactly"
out=$(run_to 120 "$PY" "$TMP/verify.py" "$A" "$port" vm1/stream "$TMP/acks" 2>&1) ||
    fail "acknowledged writes lost or damaged" "all verified" "$out"
ok "$out"

# --- 4. SIGTERM during nbdcopy --flush --------------------------------------
check "SIGTERM during nbdcopy --flush of 256 MiB: havend exits 0 within 10 s, nbdcopy ends"
# The source is rate-limited (200 Mbit/s; about 4-10 s for 256 MiB), so the
# copy is certainly running when the signal arrives.
nbdcopy --flush -- [ nbdkit --exit-with-parent --filter=rate random size=256M rate=200M ] \
    "$(nbd_uri "$A" "$port" vm1/copy)" >"$TMP/nbdcopy.out" 2>&1 &
copy_pid=$!
PIDS+=("$copy_pid")
sleep 1
alive "$copy_pid" || fail "nbdcopy finished before SIGTERM: $(cat "$TMP/nbdcopy.out")"
stop_havend 10
wait_exit "$copy_pid" 60 || fail "nbdcopy still running 60 s after havend stopped"
echo "  nbdcopy exit status $WAIT_RC: $(tail -2 "$TMP/nbdcopy.out" | tr '\n' ' ')"
ok

check "havend restarts on the same data dir and serves the disk"
start_havend "$D" "$port"
run_to 60 nbdinfo "$(nbd_uri "$A" "$port" vm1/copy)" >/dev/null || fail "nbdinfo after restart failed"
stop_havend
ok
echo "PASS"

#!/usr/bin/env bash
# Drain and restart under a running replication: a qemu-img convert into
# haven with the NBD driver's reconnect-delay=20 is under way (tenant
# bandwidth-limited, so it takes about 16 s) when havend gets SIGTERM.
#  1. havend drains: it stops accepting, answers what is in flight, cuts a
#     session-end restore point of the disk, closes and exits 0;
#  2. it is restarted on the same port a few seconds later, while qemu-img
#     waits to reconnect;
#  3. qemu-img reconnects (a new TLS session shows in the log), finishes
#     and exits 0, and the disk equals the source: qemu-img compare over
#     NBD, and cmp of an nbdcopy read-back.
source "$(dirname "$0")/functions.sh"
requires qemu-img nbdcopy
requires_haven

D=$TMP/d A=$TMP/a
MIB=256
port=$(free_port)
haven_init "$D" tenant:a bundle:a:hq:"$A" disk:a/vm/d0:${MIB}M
hctl "$D" tenant set a --bandwidth 16M >/dev/null
make_random "$TMP/src.img" $MIB
start_havend "$D" "$port"
obj=$(qemu_object "$A")
target="$(qemu_opts "$A" "$port" vm/d0),reconnect-delay=20"

check "qemu-img convert (reconnect-delay=20) is copying $MIB MiB at 16 MiB/s"
run_to 300 qemu-img convert -n -p -f raw --object "$obj" "$TMP/src.img" \
    --target-image-opts "$target" >"$TMP/convert.out" 2>&1 &
conv=$!
PIDS+=("$conv")
wait_havend_log 'event=session_start .*tenant=a ' 30
sleep 4
alive "$conv" || fail "qemu-img finished before SIGTERM: $(tr '\r' '\n' <"$TMP/convert.out" | tail -3)"
ok "$(tr '\r' '\n' <"$TMP/convert.out" | grep -o '[0-9.]*/100%' | tail -1)"

check "SIGTERM mid-copy: havend drains, cuts a session-end restore point, exits 0"
first_log_from=$HAVEND_LOG_FROM
stop_havend 20
log1=$(tail -c "+$first_log_from" "$HAVEND_LOG")
grep -q 'event=stopping reason=SIGTERM' <<<"$log1" || fail "no event=stopping in the log"
grep -q 'event=stopped' <<<"$log1" || fail "no event=stopped in the log"
grep -qE 'event=rp_switch disks=1 trigger=session_end' <<<"$log1" ||
    fail "no session-end restore point cut while draining"
port_open "$port" && fail "port $port still open after havend exited"
alive "$conv" || fail "qemu-img gave up when havend stopped: $(tr '\r' '\n' <"$TMP/convert.out" | tail -3)"
ok

check "havend restarts on the same port 3 s later; qemu-img reconnects and finishes"
sleep 3
alive "$conv" || fail "qemu-img gave up while havend was down: $(tr '\r' '\n' <"$TMP/convert.out" | tail -3)"
start_havend "$D" "$port"
wait_havend_log 'event=session_start .*tenant=a ' 30
wait_exit "$conv" 120 || fail "qemu-img did not finish 120 s after the restart"
[[ $WAIT_RC -eq 0 ]] || fail "qemu-img convert exit status" 0 "$WAIT_RC: $(tr '\r' '\n' <"$TMP/convert.out" | tail -3)"
ok "exit 0"

check "the disk equals the source (qemu-img compare over NBD, nbdcopy read-back)"
out=$(run_to 120 qemu-img compare --object "$obj" --image-opts \
    "driver=file,filename=$TMP/src.img" "$(qemu_opts "$A" "$port" vm/d0)" 2>&1) ||
    fail "qemu-img compare" "Images are identical." "$out"
grep -q 'Images are identical' <<<"$out" || fail "qemu-img compare" "Images are identical." "$out"
nbd_read "$A" "$port" vm/d0 "$TMP/back.img"
same_file "$TMP/src.img" "$TMP/back.img" "a/vm/d0 after the drain and restart"
ok

stop_havend

#!/usr/bin/env bash
# qemu-io against haven over TLS: pattern writes at unaligned offsets that
# span the 4 MiB extent boundary, zero writes, discard, flush; a second
# qemu-io on a new connection reads back what the first one left.
source "$(dirname "$0")/functions.sh"
requires qemu-io
requires_haven

D=$TMP/haven
A=$TMP/a
port=$(free_port)
haven_init "$D" tenant:a "bundle:a:site1:$A" "disk:a/vm1/disk0:64M"
start_havend "$D" "$port"

obj=$(qemu_object "$A")
img=$(qemu_opts "$A" "$port" vm1/disk0)
E=$((4 << 20))   # extent size

# qio WHAT CMD...: run one qemu-io session with the given -c commands;
# fail if qemu-io fails or prints a failure.
qio() {
    local what=$1 args=() c out rc
    shift
    for c in "$@"; do args+=(-c "$c"); done
    check "$what"
    out=$(run_to 120 qemu-io --object "$obj" --image-opts "$img" "${args[@]}" 2>&1) &&
        rc=0 || rc=$?
    if [[ $rc -ne 0 ]] || grep -qiE 'fail|error|mismatch' <<<"$out"; then
        echo "$out" | sed 's/^/  | /' >&2
        fail "$what" "exit 0 and no failure message" "exit $rc"
    fi
    echo "$out" | grep -E '^(wrote|read|discard)' | sed 's/^/  | /'
    ok
}

qio "first session: writes, zeroes, discard, flush; every read -P verifies" \
    "write -P 0xab $((E - 3000)) 10000" \
    "read -P 0xab $((E - 3000)) 10000" \
    "read -P 0 $((E - 4000)) 1000" \
    "read -P 0 $((E + 7000)) 1000" \
    "write -P 0xcd $((2 * E - 5)) 11" \
    "read -P 0xcd $((2 * E - 5)) 11" \
    "write -z $((E - 512)) 1024" \
    "read -P 0 $((E - 512)) 1024" \
    "read -P 0xab $((E - 3000)) 2488" \
    "read -P 0xab $((E + 512)) 6488" \
    "write -P 0xee $((3 * E)) $E" \
    "read -P 0xee $((3 * E)) $E" \
    "discard $((3 * E)) $E" \
    "read -P 0 $((3 * E)) $E" \
    "write -P 0x11 $((64 * 1024 * 1024 - 700)) 700" \
    "flush"

# The pattern check must be able to fail.
check "control: read -P 0x99 over the 0xab bytes reports a mismatch"
out=$(run_to 120 qemu-io --object "$obj" --image-opts "$img" \
    -c "read -P 0x99 $((E - 3000)) 10000" 2>&1) || true
grep -q 'Pattern verification failed' <<<"$out" ||
    fail "qemu-io read -P with the wrong pattern" "Pattern verification failed" "$out"
ok

qio "second session (new connection) reads back what the first one left" \
    "read -P 0 $((E - 4000)) 1000" \
    "read -P 0xab $((E - 3000)) 2488" \
    "read -P 0 $((E - 512)) 1024" \
    "read -P 0xab $((E + 512)) 6488" \
    "read -P 0 $((E + 7000)) 1000" \
    "read -P 0 $((2 * E - 4096)) 4091" \
    "read -P 0xcd $((2 * E - 5)) 11" \
    "read -P 0 $((2 * E + 6)) 4096" \
    "read -P 0 $((3 * E)) $E" \
    "read -P 0x11 $((64 * 1024 * 1024 - 700)) 700"

check "reading past the end is refused"
out=$(run_to 60 qemu-io --object "$obj" --image-opts "$img" \
    -c "read $((64 * 1024 * 1024 - 512)) 1024" 2>&1) || true
grep -qE 'Input/output error|Invalid argument|out of range|past' <<<"$out" ||
    fail "qemu-io read past the end" "an error" "$out"
ok "$(head -1 <<<"$out")"

havend_alive
stop_havend
echo "PASS"

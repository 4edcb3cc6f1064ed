#!/usr/bin/env bash
# qemu-img against haven over TLS: convert a raw image into a tenant disk,
# compare it back, and read the virtual size with qemu-img info.
source "$(dirname "$0")/functions.sh"
requires qemu-img
requires_haven

D=$TMP/haven
A=$TMP/a
port=$(free_port)
haven_init "$D" tenant:a "bundle:a:site1:$A" "disk:a/vm1/disk0:256M"
start_havend "$D" "$port"

src=$TMP/src.img
make_image "$src" 256
obj=$(qemu_object "$A")
tgt=$(qemu_opts "$A" "$port" vm1/disk0)

check "qemu-img info on the export shows virtual size 268435456"
info=$(run_to 60 qemu-img info --output=json --object "$obj" --image-opts "$tgt" 2>&1) ||
    fail "qemu-img info failed: $info"
vsize=$(echo "$info" | "$PY" -c 'import json, sys; print(json.load(sys.stdin)["virtual-size"])')
[[ $vsize -eq 268435456 ]] || fail "qemu-img info virtual-size" 268435456 "$vsize"
human=$(run_to 60 qemu-img info --object "$obj" --image-opts "$tgt" 2>&1) ||
    fail "qemu-img info (human) failed: $human"
grep -q 'virtual size: 256 MiB (268435456 bytes)' <<<"$human" ||
    fail "qemu-img info text" "virtual size: 256 MiB (268435456 bytes)" \
        "$(grep 'virtual size' <<<"$human" || echo "$human")"
ok

check "qemu-img convert -n -W -f raw SRC -> haven exits 0"
run_to 300 qemu-img convert -n -W -f raw "$src" --object "$obj" \
    --target-image-opts "$tgt" || fail "qemu-img convert into haven failed"
ok

check "qemu-img compare SRC haven -> identical (exit 0)"
out=$(run_to 300 qemu-img compare --object "$obj" --image-opts \
    "driver=raw,file.driver=file,file.filename=$src" "$tgt" 2>&1) && rc=0 || rc=$?
[[ $rc -eq 0 ]] || fail "qemu-img compare exit status (0 = identical)" 0 "$rc: $out"
grep -q 'Images are identical' <<<"$out" ||
    fail "qemu-img compare output" "Images are identical." "$out"
ok "$out"

# The comparison must be able to fail: change one byte of the source.
check "control: after changing one byte of SRC, qemu-img compare reports the offset"
printf '\x5a' | dd of="$src" bs=1 seek=$((130 << 20)) conv=notrunc status=none
out=$(run_to 300 qemu-img compare --object "$obj" --image-opts \
    "driver=raw,file.driver=file,file.filename=$src" "$tgt" 2>&1) && rc=0 || rc=$?
[[ $rc -eq 1 ]] || fail "qemu-img compare of different images" "exit 1" "exit $rc: $out"
grep -q "Content mismatch at offset $((130 << 20))" <<<"$out" ||
    fail "qemu-img compare mismatch offset" "Content mismatch at offset $((130 << 20))" "$out"
ok

check "qemu-img convert haven -> raw file reads back the converted bytes"
run_to 300 qemu-img convert -O raw --object "$obj" --image-opts "$tgt" "$TMP/back.img" ||
    fail "qemu-img convert out of haven failed"
printf '\x5a' | cmp -s - <(dd if="$TMP/back.img" bs=1 skip=$((130 << 20)) count=1 status=none) &&
    fail "byte at 130 MiB should still be the original one" "not 0x5a" "0x5a"
cmp -s <(head -c $((130 << 20)) "$src") <(head -c $((130 << 20)) "$TMP/back.img") ||
    fail "first 130 MiB read back with qemu-img convert" "identical" "different"
ok

havend_alive
stop_havend
echo "PASS"

#!/usr/bin/env bash
# kill -9 havend at random moments while clients write, restart it, and
# check after every restart:
#  - every write acknowledged before the last acknowledged FLUSH reads back
#    exactly (a python3-libnbd writer doing pwrite + flush rounds, which
#    keeps a model of the disk; writes after the last acknowledged flush
#    may or may not have landed, per 4 KiB sector);
#  - a disk written by nbdcopy --flush holds, per 4 KiB block, the last
#    image nbdcopy finished or one it was copying when havend died;
#  - every restore point in rp list reads back what it held when first
#    seen (a hash per RP id); an RP of the nbdcopy disk is exactly one of
#    the images copied (the writer's disk gets a manual RP, havenctl rp
#    create, half way through every iteration);
#  - the catalog and the header objects agree (rp ids and snap ids).
# Runs on the local route (ITER_LOCAL iterations), then on a rados route
# of a throwaway Ceph cluster (ITER_RADOS iterations).  ROUTES="local" or
# "rados" runs one of them.
source "$(dirname "$0")/functions.sh"
requires nbdcopy
requires_python_nbd
requires_haven

ITER_LOCAL=${ITER_LOCAL:-14}
ITER_RADOS=${ITER_RADOS:-6}
M=$((1 << 20))
D=$TMP/haven
port=$(free_port)
haven_init "$D"
ceph_start "$TMP/ceph"
local_and_rados_tenants "$D" --checkpoint 5
for t in tl tr; do
    hctl "$D" disk create "$t/vm1/w" --size 16M >/dev/null   # the python writer's
    hctl "$D" disk create "$t/vm1/c" --size 16M >/dev/null   # nbdcopy's
done

# --- the python3-libnbd writer --------------------------------------------
# writer.py BUNDLE PORT EXPORT STATE_DIR SECONDS
# Loads its model of the disk (STATE_DIR/model: the content as of the last
# acknowledged flush; STATE_DIR/pending: the writes sent after it, whose
# outcome is unknown), reads the whole disk and checks it against the
# model, takes what it read as the new model, then writes rounds of 1-6
# writes + flush until an error or SECONDS pass.  Every 4 KiB sector a
# write puts down is (seq, sector) repeated, so the sector says which
# write it came from.  Exit 3: the disk does not match.
cat >"$TMP/writer.py" <<'EOF'
import json, os, random, struct, sys, time
import nbd

bundle, port, export, state, seconds = sys.argv[1:6]
S = 4096
def pattern(seq, sector):
    return struct.pack("<QQ", seq, sector) * (S // 16)

def connect():
    deadline = time.time() + 15
    while True:
        h = nbd.NBD()
        h.set_tls(nbd.TLS_REQUIRE)
        h.set_tls_certificates(bundle)
        h.set_export_name(export)
        try:
            h.connect_tcp("127.0.0.1", port)
            return h
        except nbd.Error:
            if time.time() > deadline:
                raise
            time.sleep(0.1)

h = connect()
size = h.get_size()
mpath, ppath = os.path.join(state, "model"), os.path.join(state, "pending")
model = bytearray(open(mpath, "rb").read()) if os.path.exists(mpath) else bytearray(size)
st = json.load(open(ppath)) if os.path.exists(ppath) else {"seq": 0, "pending": []}
seq, pending = st["seq"], st["pending"]

# Check the disk against the model.
disk = bytearray()
for off in range(0, size, 4 << 20):
    disk += h.pread(min(4 << 20, size - off), off)
cands = {}
for p_seq, p_off, p_len in pending:
    for s in range(p_off // S, (p_off + p_len) // S):
        cands.setdefault(s, []).append(p_seq)
bad, from_pending = [], 0
for s in range(size // S):
    got = bytes(disk[s * S:(s + 1) * S])
    if got == model[s * S:(s + 1) * S]:
        continue
    if any(got == pattern(q, s) for q in cands.get(s, [])):
        from_pending += 1
        continue
    hs, hsec = struct.unpack("<QQ", got[:16])
    bad.append("sector %d (offset %d): expected seq %d (flushed) or one of %s (unflushed), "
               "got %s" % (s, s * S, struct.unpack("<Q", model[s * S:s * S + 8])[0],
                           cands.get(s, []),
                           "zeros" if not got.strip(b"\0") else "seq %d sector %d" % (hs, hsec)))
if bad:
    print("MISMATCH: %d sectors differ from the acknowledged-and-flushed writes" % len(bad))
    for b in bad[:10]:
        print("  " + b)
    sys.exit(3)
print("verified %d sectors (%d from unflushed writes, %d writes were unflushed)"
      % (size // S, from_pending, len(pending)), flush=True)
model, pending = disk, []

def save():
    with open(mpath + ".tmp", "wb") as f:
        f.write(model)
    os.replace(mpath + ".tmp", mpath)
    with open(ppath + ".tmp", "w") as f:
        json.dump({"seq": seq, "pending": pending}, f)
    os.replace(ppath + ".tmp", ppath)
save()

flushes, end = 0, time.time() + float(seconds)
try:
    while time.time() < end:
        for _ in range(random.randint(1, 6)):
            n = random.randint(1, 64)
            sec = random.randrange(0, size // S - n + 1)
            seq += 1
            pending.append([seq, sec * S, n * S])
            h.pwrite(b"".join(pattern(seq, sec + i) for i in range(n)), sec * S)
        h.flush()
        for p_seq, p_off, p_len in pending:
            for s in range(p_off // S, (p_off + p_len) // S):
                model[s * S:(s + 1) * S] = pattern(p_seq, s)
        pending = []
        flushes += 1
    print("done: %d acknowledged flushes" % flushes)
except nbd.Error as e:
    print("disconnected after %d acknowledged flushes (%d writes unflushed): %s"
          % (flushes, len(pending), e.string))
finally:
    save()
EOF

# check_copy.py BUNDLE PORT EXPORT IMAGE...: every 4 KiB block of EXPORT
# equals that block of one of the IMAGEs.
cat >"$TMP/check_copy.py" <<'EOF'
import sys, nbd
bundle, port, export, images = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
h = nbd.NBD()
h.set_tls(nbd.TLS_REQUIRE)
h.set_tls_certificates(bundle)
h.set_export_name(export)
h.connect_tcp("127.0.0.1", port)
size = h.get_size()
disk = b"".join(h.pread(min(4 << 20, size - o), o) for o in range(0, size, 4 << 20))
imgs = [open(i, "rb").read() for i in images]
S, bad = 4096, []
for o in range(0, size, S):
    if not any(disk[o:o + S] == im[o:o + S] for im in imgs):
        bad.append(o)
if bad:
    print("MISMATCH: %d blocks of %s are none of %s; first at offset %d"
          % (len(bad), export, images, bad[0]))
    sys.exit(1)
EOF

# rphash.py BUNDLE PORT EXPORT...: "EXPORT SHA256" per export.
cat >"$TMP/rphash.py" <<'EOF'
import hashlib, sys, nbd
bundle, port = sys.argv[1], sys.argv[2]
for export in sys.argv[3:]:
    h = nbd.NBD()
    h.set_tls(nbd.TLS_REQUIRE)
    h.set_tls_certificates(bundle)
    h.set_export_name(export)
    h.connect_tcp("127.0.0.1", port)
    size, sha = h.get_size(), hashlib.sha256()
    for o in range(0, size, 4 << 20):
        sha.update(h.pread(min(4 << 20, size - o), o))
    h.shutdown()
    print(export, sha.hexdigest(), flush=True)
EOF

# --- checks ---------------------------------------------------------------

# header_text TENANT ROUTE HEX: the disk's header object.
header_text() {
    if [[ $2 == local ]]; then
        cat "$D/store/$1/$3.header" 2>/dev/null
    else
        rados_ -p haven -N "$1" get "$3.header" - 2>/dev/null
    fi
}

# agree TENANT ROUTE DISK: rp ids and snap ids in the header object are
# those of rp list --json (polled for up to 10 s: the header is written
# after the catalog).
agree() {
    local t=$1 route=$2 disk=$3 hex cat hdr deadline=$((SECONDS + 10))
    "$HAVENCTL" -d "$D" disk show "$t/vm1/$disk" --json >"$TMP/disk.json" ||
        fail "disk show $t/vm1/$disk"
    hex=$(printf '%016x' "$(json_eval "$TMP/disk.json" "d['id']")")
    while :; do
        rp_list "$D" "$t/vm1/$disk" "$TMP/rps.$disk"
        cat=$(json_eval "$TMP/rps.$disk" "' '.join('%d:%d' % (r['id'], r['snap_id']) for r in d)")
        hdr=$(header_text "$t" "$route" "$hex" |
            awk '$1 == "rp" && $3 == "snap" { printf "%s%s:%s", sep, $2, $4; sep = " " }')
        [[ $cat == "$hdr" ]] && return 0
        ((SECONDS < deadline)) || break
        sleep 0.2
    done
    echo "  header $hex.header:" >&2
    header_text "$t" "$route" "$hex" | sed 's/^/  | /' >&2
    fail "[$route] catalog and header of $t/vm1/$disk disagree (rp:snap)" "$cat" "$hdr"
}

declare -A RPHASH   # "TENANT/VM/DISK@ID" -> sha256 when first seen
declare -A IMGSHA   # sha256 -> the image nbdcopy copied

# check_rps T ROUTE FULL: hash new RPs; re-check a sample of the old ones
# (all of them if FULL is 1).
check_rps() {
    local t=$1 route=$2 full=$3 disk exports=() e k sha old=() n=0
    RPS_CHECKED=0
    for disk in w c; do
        rp_list "$D" "$t/vm1/$disk" "$TMP/rps.$disk"
        for e in $(json_eval "$TMP/rps.$disk" "' '.join(r['export'] for r in d)"); do
            k=$t/$e
            if [[ -z ${RPHASH[$k]:-} ]]; then exports+=("$e"); else old+=("$e"); fi
        done
    done
    if [[ $full -ne 1 ]]; then
        # a random sample of 6 old RPs
        mapfile -t old < <(printf '%s\n' "${old[@]+"${old[@]}"}" | grep . | shuf -n 6)
    fi
    exports+=("${old[@]+"${old[@]}"}")
    [[ ${#exports[@]} -gt 0 ]] || return 0
    run_to 120 "$PY" "$TMP/rphash.py" "$TMP/$t.bundle" "$port" "${exports[@]}" >"$TMP/rphash" ||
        fail "[$route] reading restore points ${exports[*]}"
    while read -r e sha; do
        k=$t/$e
        if [[ -z ${RPHASH[$k]:-} ]]; then
            RPHASH[$k]=$sha
            # an RP of nbdcopy's disk is one whole image
            if [[ $e == vm1/c@* && -z ${IMGSHA[$sha]:-} ]]; then
                fail "[$route] $t/$e is none of the images nbdcopy copied" \
                    "one of ${!IMGSHA[*]}" "$sha"
            fi
        elif [[ ${RPHASH[$k]} != "$sha" ]]; then
            fail "[$route] restore point $t/$e changed" "${RPHASH[$k]}" "$sha"
        fi
        n=$((n + 1))
    done <"$TMP/rphash"
    RPS_CHECKED=$n
}

# copier T IMAGE...: nbdcopy --flush the IMAGEs in turn into vm1/c until
# one fails; "start I" / "ok I" lines in $TMP/copier.log.
copier() {
    local t=$1 img
    shift
    while :; do
        for img in "$@"; do
            echo "start $img" >>"$TMP/copier.log"
            nbdcopy --flush "$img" "$(nbd_uri "$TMP/$t.bundle" "$port" vm1/c)" \
                >>"$TMP/copier.out" 2>&1 || { echo "fail $img" >>"$TMP/copier.log"; exit 0; }
            echo "ok $img" >>"$TMP/copier.log"
            sleep 0.$((RANDOM % 5))
        done
    done
}

# copy_candidates: the last image copied in full (or zeros) and every
# image started after it.
copy_candidates() {
    local last=$TMP/zero.img started=() verb img
    while read -r verb img; do
        case $verb in
        ok) last=$img; started=() ;;
        start) started+=("$img") ;;
        esac
    done <"$TMP/copier.log"
    printf '%s\n' "$last" "${started[@]+"${started[@]}"}" | sort -u
}

run_crash() {
    local t=$1 route=$2 iters=$3 i ms wpid cpid candidates
    local B=$TMP/$t.bundle state=$TMP/$t.state
    echo "=== route $route (tenant $t): $iters kill -9 iterations"
    mkdir -p "$state"
    : >"$TMP/copier.log"
    truncate -s 16M "$TMP/zero.img"
    local imgs=()
    for i in 1 2 3; do
        make_image16 "$TMP/$t.img$i"
        imgs+=("$TMP/$t.img$i")
        IMGSHA[$(sha "$TMP/$t.img$i")]=$TMP/$t.img$i
    done
    start_havend "$D" "$port"
    [[ $route == local ]] || wait_route_open ceph1
    for ((i = 1; i <= iters; i++)); do
        check "[$route] iteration $i: clients write, havend is killed"
        : >"$TMP/writer.out"
        "$PY" "$TMP/writer.py" "$B" "$port" vm1/w "$state" 30 >"$TMP/writer.out" 2>&1 &
        wpid=$!
        PIDS+=("$wpid")
        copier "$t" "${imgs[@]}" &
        cpid=$!
        PIDS+=("$cpid")
        ms=$((1000 + RANDOM % 2000))
        # A manual restore point of the writer's disk half way (the
        # writer's sessions are killed, so they cut none of their own).
        sleep_ms $((ms / 2))
        run_to 10 "$HAVENCTL" -d "$D" rp create "$t/vm1/w" >/dev/null 2>"$TMP/rpcreate.err" ||
            { cat "$TMP/rpcreate.err" >&2; fail "[$route] rp create $t/vm1/w while the writer runs"; }
        sleep_ms $((ms - ms / 2))
        alive "$wpid" || { cat "$TMP/writer.out" >&2; fail "[$route] the writer ended before the kill"; }
        alive "$cpid" || { tail -5 "$TMP/copier.out" >&2; fail "[$route] nbdcopy failed before the kill"; }
        havend_alive
        kill9_havend
        wait_exit "$wpid" 30 || fail "[$route] the writer did not end after havend died"
        [[ $WAIT_RC -eq 0 ]] || { cat "$TMP/writer.out" >&2; fail "[$route] writer exit $WAIT_RC"; }
        wait_exit "$cpid" 30 || fail "[$route] nbdcopy did not end after havend died"
        ok "killed after $ms ms; writer: $(tail -n 1 "$TMP/writer.out"); copies ok so far: $(grep -c '^ok' "$TMP/copier.log" || true)"

        check "[$route] iteration $i: restart; flushed writes, copies, restore points, headers"
        start_havend "$D" "$port"
        [[ $route == local ]] || wait_route_open ceph1
        agree "$t" "$route" w
        agree "$t" "$route" c
        mapfile -t candidates < <(copy_candidates)
        run_to 120 "$PY" "$TMP/check_copy.py" "$B" "$port" vm1/c "${candidates[@]}" ||
            fail "[$route] vm1/c after the restart is not the last finished copy"
        # the writer's check runs first thing when it starts: run it alone
        "$PY" "$TMP/writer.py" "$B" "$port" vm1/w "$state" 0 >"$TMP/writer.out" 2>&1 && rc=0 || rc=$?
        [[ $rc -eq 0 ]] || { cat "$TMP/writer.out" >&2; fail "[$route] acknowledged-and-flushed writes lost after the restart"; }
        check_rps "$t" "$route" 0
        ok "$(head -n 1 "$TMP/writer.out"); $RPS_CHECKED restore points read; at $((SECONDS - T0)) s"
    done
    check "[$route] the writer for 7 s: a checkpoint RP; every RP once more; graceful stop; headers"
    "$PY" "$TMP/writer.py" "$B" "$port" vm1/w "$state" 7 >"$TMP/writer.out" 2>&1 ||
        { cat "$TMP/writer.out" >&2; fail "[$route] the writer's last run"; }
    grep -q '^done: ' "$TMP/writer.out" || { cat "$TMP/writer.out" >&2; fail "[$route] the writer's last run"; }
    "$PY" "$TMP/writer.py" "$B" "$port" vm1/w "$state" 0 >"$TMP/writer.out" 2>&1 ||
        { cat "$TMP/writer.out" >&2; fail "[$route] the writer's final check"; }
    wait_rps "$D" "$t/vm1/w" "$TMP/rps.w" "any(r['trigger'] == 'checkpoint' for r in d)" 10
    check_rps "$t" "$route" 1
    stop_havend
    agree "$t" "$route" w
    agree "$t" "$route" c
    ok "$RPS_CHECKED restore points, all unchanged"
}

sleep_ms() { sleep "$(($1 / 1000)).$(printf '%03d' $(($1 % 1000)))"; }

# make_image16 FILE: 16 MiB of random data with a hole and a zero run.
make_image16() {
    make_random "$1" 16
    put_zeros "$1" $((5 * M)) $((3 * M))
    truncate -s $((9 * M)) "$1"
    truncate -s $((16 * M)) "$1"
    put_random "$1" $((14 * M)) $((1 * M))
}

T0=$SECONDS
for route in ${ROUTES:-local rados}; do
    case $route in
    local) run_crash tl local "$ITER_LOCAL" ;;
    rados) run_crash tr rados "$ITER_RADOS" ;;
    esac
done
echo "PASS: $TEST_NAME ($((SECONDS - T0)) s)"

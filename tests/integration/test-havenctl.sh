#!/usr/bin/env bash
# havenctl as an operator sees it: exit codes, one-line errors, JSON that
# parses, files and their modes, and refusals that leave nothing behind.
# Needs $HAVEN_BUILD (the meson build root); python3 and openssl.
set -euo pipefail

: "${HAVEN_BUILD:?set HAVEN_BUILD to the meson build directory}"
HAVENCTL="$HAVEN_BUILD/gateway/havenctl"
for tool in python3 openssl sha256sum; do
    command -v "$tool" >/dev/null || { echo "SKIP: $tool missing"; exit 77; }
done
[ -x "$HAVENCTL" ] || { echo "FAIL: $HAVENCTL not built" >&2; exit 1; }

tmp=$(mktemp -d)
holder=
trap '[ -z "$holder" ] || kill "$holder" 2>/dev/null; rm -rf "$tmp"' EXIT
D="$tmp/haven"
OUT="$tmp/stdout"
ERR="$tmp/stderr"
passed=0
rc=0

fail() {
    echo "FAIL: $1" >&2
    [ -s "$OUT" ] && sed 's/^/  stdout: /' "$OUT" >&2
    [ -s "$ERR" ] && sed 's/^/  stderr: /' "$ERR" >&2
    exit 1
}

pass() {
    passed=$((passed + 1))
}

# Runs havenctl on the test data directory; sets rc, keeps the output.
run() {
    set +e
    "$HAVENCTL" -d "$D" "$@" >"$OUT" 2>"$ERR"
    rc=$?
    set -e
}

# ok CHECK ARGS...: must succeed, silently on stderr.
ok() {
    local check=$1
    shift
    run "$@"
    [ "$rc" -eq 0 ] || fail "$check: exit $rc"
    [ ! -s "$ERR" ] || fail "$check: unexpected stderr"
    pass
}

# refused CHECK CODE PATTERN ARGS...: must exit CODE with nothing on
# stdout.  Code 1: exactly one line "havenctl: ...", matching PATTERN.
# Code 2: one such line plus a "Try 'havenctl ... --help'." hint.
refused() {
    local check=$1 code=$2 pattern=$3 lines
    shift 3
    run "$@"
    [ "$rc" -eq "$code" ] || fail "$check: exit $rc, expected $code"
    [ ! -s "$OUT" ] || fail "$check: stdout not empty"
    lines=$(wc -l <"$ERR")
    if [ "$code" -eq 2 ]; then
        [ "$lines" -eq 2 ] || fail "$check: $lines stderr lines, expected 2"
        sed -n 2p "$ERR" | grep -q "^Try 'havenctl .*--help'\.$" ||
            fail "$check: no hint"
    else
        [ "$lines" -eq 1 ] || fail "$check: $lines stderr lines, expected 1"
    fi
    head -n 1 "$ERR" | grep -q '^havenctl: ' || fail "$check: bad prefix"
    grep -qE -- "$pattern" "$ERR" || fail "$check: stderr lacks '$pattern'"
    pass
}

# json CHECK PYTHON-EXPR: asserts an expression over d, the parsed stdout.
json() {
    python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
if not eval("(" + sys.argv[2] + ")"):
    sys.exit("assertion failed: " + sys.argv[2])
' "$OUT" "$2" || fail "$1"
    pass
}

mode() {
    stat -c %a "$1"
}

# Everything under a directory: names, modes, sizes, contents.
snapshot() {
    (cd "$1" && find . -printf '%p %m %s\n' | sort &&
        find . -type f -exec sha256sum {} + | sort)
}

count() {
    run "$@" --json
    [ "$rc" -eq 0 ] || fail "listing $*: exit $rc"
    python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$OUT"
}

pin_of() {
    openssl x509 -in "$1/client-cert.pem" -pubkey -noout |
        openssl pkey -pubin -outform der | sha256sum | cut -d' ' -f1
}

# ---- init ----

refused "command before init" 1 "not a haven data directory" tenant list
refused "init with a bad address" 1 "invalid IP address '1.2.3'" \
    init --ip 1.2.3
[ ! -e "$D" ] || fail "a refused init left $D behind"

ok "init" init --hostname gw.example.net --ip 192.0.2.7
grep -q "^Next steps:" "$OUT" || fail "init prints no next steps"
for f in haven.conf pki/ca-cert.pem pki/ca-key.pem pki/server-cert.pem \
    pki/server-key.pem; do
    [ -f "$D/$f" ] || fail "init did not create $f"
done
for d in catalog store pki; do
    [ -d "$D/$d" ] || fail "init did not create $d/"
done
[ "$(mode "$D")" = 700 ] || fail "data directory mode $(mode "$D")"
[ "$(mode "$D/pki/ca-key.pem")" = 600 ] || fail "CA key mode"
[ "$(mode "$D/pki/server-key.pem")" = 600 ] || fail "server key mode"
grep -qx 'listen = 0.0.0.0:10809' "$D/haven.conf" || fail "haven.conf listen"
grep -qx 'handshake_timeout = 10' "$D/haven.conf" || fail "haven.conf timeout"
grep -qx 'level = info' "$D/haven.conf" || fail "haven.conf log level"
sans=$(openssl x509 -in "$D/pki/server-cert.pem" -noout -ext subjectAltName)
for n in DNS:localhost DNS:gw.example.net "IP Address:127.0.0.1" \
    "IP Address:192.0.2.7" "IP Address:0:0:0:0:0:0:0:1"; do
    grep -qF "$n" <<<"$sans" || fail "server certificate lacks $n"
done
openssl verify -CAfile "$D/pki/ca-cert.pem" "$D/pki/server-cert.pem" \
    >/dev/null || fail "server certificate not signed by the CA"
pass

# The catalog's files change with a refused command: its audit trail
# records the refusal.  What the catalog holds is compared through
# havenctl instead.
state() {
    snapshot "$1" | grep -v '\./catalog/'
    "$HAVENCTL" -d "$1" route list --json
    "$HAVENCTL" -d "$1" tenant list --json
}
before=$(state "$D")
refused "init twice" 1 "already initialised" init
[ "$(state "$D")" = "$before" ] || fail "init twice changed $D"
"$HAVENCTL" -d "$D" audit --json >"$OUT" || fail "havenctl audit"
python3 -c 'import json,sys; e = json.load(open(sys.argv[1]))[-1]; sys.exit(not (e["action"] == "init" and e["result"] == "refused" and "already initialised" in e["detail"]))' "$OUT" ||
    fail "the audit trail does not end with the refused init"
mkdir "$tmp/other" && touch "$tmp/other/file"
set +e
"$HAVENCTL" -d "$tmp/other" init >"$OUT" 2>"$ERR"
rc=$?
set -e
[ "$rc" -eq 1 ] || fail "init into a non-empty directory: exit $rc"
[ "$(ls -A "$tmp/other")" = file ] || fail "init touched a non-empty dir"
pass

ok "route list" route list
head -n 1 "$OUT" | grep -q '^NAME  *TYPE  *LOCATION$' || fail "route header"
ok "route list --json" route list --json
json "default route" "d == [{'name': 'local', 'type': 'local',
    'path': '$(realpath "$D")/store'}]"

# ---- tenants ----

ok "tenant add" tenant add acme
grep -q "^Added tenant 'acme'" "$OUT" || fail "tenant add message"
ok "tenant add --route" tenant add beta --route local
ok "tenant list --json" tenant list --json
json "tenant list contents" "[(t['name'], t['route'], t['namespace'],
    t['state']) for t in d] == [('acme', 'local', 'acme', 'active'),
    ('beta', 'local', 'beta', 'active')] and all(isinstance(t['id'], int)
    and t['created'].endswith('Z') for t in d)"
ok "tenant list" tenant list
head -n 1 "$OUT" | grep -q '^ *ID  *NAME  *STATE' || fail "tenant list header"
grep -qE '^ *1  acme  active  local ' "$OUT" || fail "tenant list row"

long=$(printf 'a%.0s' $(seq 64))
for bad in Upper a..b -x "$long" ""; do
    refused "invalid name '$bad'" 1 \
        "^havenctl: invalid tenant name '$bad': use \[a-z0-9\]" \
        tenant add -- "$bad"
done
refused "a name that looks like an option" 2 "unknown option '-x'" \
    tenant add -x
refused "reserved name" 1 "reserved" tenant add operator
refused "duplicate tenant" 1 "^havenctl: tenant 'acme' already exists$" \
    tenant add acme
refused "unknown route" 1 "route 'nope' does not exist" \
    tenant add gamma --route nope
[ "$(count tenant list)" = 2 ] || fail "refused tenants were added"
pass

ok "tenant show --json" tenant show acme --json
json "tenant show" "d['name'] == 'acme' and d['id'] == 1 and
    d['namespace'] == 'acme' and d['credentials'] == [] and d['disks'] == []"
refused "show unknown tenant" 1 "tenant 'nope' does not exist" \
    tenant show nope

# ---- certificates ----

B="$tmp/bundles"
ok "cert issue" cert issue acme --site hq --out "$B/hq"
for f in ca-cert.pem client-cert.pem client-key.pem; do
    [ -f "$B/hq/$f" ] || fail "bundle lacks $f"
done
[ "$(mode "$B/hq/client-key.pem")" = 600 ] || fail "client key mode"
printed=$(sed -n 's/^  pin: *//p' "$OUT")
[ "$printed" = "$(pin_of "$B/hq")" ] ||
    fail "printed pin '$printed' is not the certificate's SPKI pin"
grep -qF "nbds://HOST:10809/VM/DISK?tls-certificates=$B/hq" "$OUT" ||
    fail "no nbdinfo/nbdcopy example"
grep -qF "dir=$B/hq --image-opts driver=nbd,server.type=inet,server.host=HOST,server.port=10809,export=VM/DISK,tls-creds=tls0" \
    "$OUT" || fail "no qemu-img example"
openssl x509 -in "$B/hq/client-cert.pem" -noout -subject | grep -q 'CN *= *hq\.acme' ||
    fail "client certificate CN"
openssl verify -CAfile "$B/hq/ca-cert.pem" "$B/hq/client-cert.pem" >/dev/null ||
    fail "client certificate not signed by the bundle's CA"
pass

first=$(snapshot "$B/hq")
refused "issue into a used bundle dir" 1 "already holds a bundle" \
    cert issue acme --site dr --out "$B/hq"
[ "$(snapshot "$B/hq")" = "$first" ] || fail "first bundle was changed"
refused "second cert for a site" 1 "already has a certificate for site 'hq'" \
    cert issue acme --site hq --out "$B/hq2"
[ ! -e "$B/hq2" ] || fail "refused issue left $B/hq2"
refused "cert for unknown tenant" 1 "tenant 'nope' does not exist" \
    cert issue nope --site hq --out "$B/nope"
[ ! -e "$B/nope" ] || fail "refused issue left $B/nope"
refused "cert with invalid site" 1 "invalid site name 'HQ'" \
    cert issue acme --site HQ --out "$B/x"
refused "cert issue without --out" 2 "missing --out" \
    cert issue acme --site hq
ok "tenant with a long name" tenant add "$(printf 'l%.0s' $(seq 40))"
refused "subject too long for X.509" 1 "too long for a certificate" \
    cert issue "$(printf 'l%.0s' $(seq 40))" --site "$(printf 's%.0s' $(seq 30))" \
    --out "$B/long"
[ ! -e "$B/long" ] || fail "refused issue left $B/long"
[ "$(count cert list)" = 1 ] || fail "refused issues recorded credentials"
pass

ok "operator cert" cert issue --operator --site ops --out "$B/ops"
openssl x509 -in "$B/ops/client-cert.pem" -noout -subject |
    grep -q 'CN *= *ops\.operator' || fail "operator certificate CN"
ok "cert issue dr" cert issue acme --site dr --out "$B/dr"
ok "cert issue beta" cert issue beta --site hq --out "$B/beta"

ok "cert list --json" cert list --json
json "cert list" "sorted((c['tenant'] or '-', c['site'], c['operator'])
    for c in d) == [('-', 'ops', True), ('acme', 'dr', False),
    ('acme', 'hq', False), ('beta', 'hq', False)] and
    [c['tenant'] for c in d if c['operator']] == [None] and
    '$(pin_of "$B/hq")' in [c['pin'] for c in d]"
ok "cert list TENANT --json" cert list acme --json
json "cert list acme" "sorted(c['site'] for c in d) == ['dr', 'hq']"
ok "cert list" cert list
head -n 1 "$OUT" | grep -q '^PIN  *TENANT  *SITE  *SERIAL  *ISSUED  *EXPIRES$' ||
    fail "cert list header"
grep -qE "^[0-9a-f]{64}  operator  ops " "$OUT" || fail "operator row"

pin=$(pin_of "$B/hq")
refused "revoke by a short prefix" 1 "invalid pin" cert revoke "${pin:0:7}"
refused "revoke by an unknown pin" 1 "no credential" \
    cert revoke "$([ "${pin:0:1}" = 0 ] && echo 1 || echo 0)${pin:1:9}"
[ "$(count cert list)" = 4 ] || fail "refused revokes removed credentials"
ok "revoke by prefix" cert revoke "${pin:0:10}"
grep -qF "Revoked credential $pin" "$OUT" || fail "revoke message"
ok "cert list after revoke" cert list --json
json "revoked pin gone" "'$pin' not in [c['pin'] for c in d] and len(d) == 3"
refused "revoke twice" 1 "no credential" cert revoke "$pin"

ok "revoke by tenant and site" cert revoke acme --site dr
ok "cert list acme" cert list acme --json
json "acme has no credential left" "d == []"
ok "cert list beta" cert list beta --json
json "beta keeps its credential" "[c['site'] for c in d] == ['hq']"
refused "revoke a site without credential" 1 "no credential for site 'dr'" \
    cert revoke acme --site dr
ok "revoke operator" cert revoke --operator --site ops
ok "issue again after revoke" cert issue acme --site hq --out "$B/hq-new"

# ---- disks ----

ok "disk create 1G" disk create acme/vm1/d0 --size 1G
grep -q "export 'vm1/d0'" "$OUT" || fail "disk create names the export"
ok "disk create 10M" disk create acme/vm1/d1 --size 10M --extent-size 1M
ok "disk create odd size" disk create beta/vm/d --size 1536
refused "bad size" 1 "invalid size '1X'" disk create acme/vm1/d2 --size 1X
refused "size not a multiple of 512" 1 "multiple of 512" \
    disk create acme/vm1/d2 --size 1000
refused "extent not a power of two" 1 "invalid extent size '3000'" \
    disk create acme/vm1/d2 --size 1G --extent-size 3000
refused "extent below 4K" 1 "invalid extent size '2K'" \
    disk create acme/vm1/d2 --size 1G --extent-size 2K
refused "disk for unknown tenant" 1 "tenant 'nope' does not exist" \
    disk create nope/vm1/d0 --size 1G
refused "duplicate disk" 1 "disk 'acme/vm1/d0' already exists" \
    disk create acme/vm1/d0 --size 1G
refused "malformed disk path" 1 "use TENANT/VM/DISK" \
    disk create acme//d0 --size 1G
refused "invalid VM name" 1 "invalid VM name 'VM1'" \
    disk create acme/VM1/d0 --size 1G
refused "disk create without --size" 2 "missing --size" \
    disk create acme/vm1/d2
[ "$(count disk list)" = 3 ] || fail "refused disks were created"
pass

ok "disk list" disk list
head -n 1 "$OUT" | grep -q '^DISK  *SIZE  *EXTENT SIZE  *CREATED$' ||
    fail "disk list header"
grep -qE '^acme/vm1/d0  +1 GiB  +4 MiB  ' "$OUT" || fail "disk list 1 GiB row"
grep -qE '^acme/vm1/d1  +10 MiB  +1 MiB  ' "$OUT" || fail "disk list 10 MiB row"
ok "disk list TENANT --json" disk list acme --json
json "disk list acme" "[(x['path'], x['size'], x['extent_size']) for x in d] ==
    [('acme/vm1/d0', 1 << 30, 4 << 20), ('acme/vm1/d1', 10 << 20, 1 << 20)]"

# Objects as the local backend lays them out (storage/local.c):
# <store>/<namespace>/<disk id as 16 hex>.<extent as 16 hex>.
ok "disk show --json" disk show acme/vm1/d1 --json
json "disk show" "d['export'] == 'vm1/d1' and d['extents'] == 10 and
    d['allocated_extents'] == 0"
id=$(python3 -c 'import json,sys; print("%016x" % json.load(open(sys.argv[1]))["id"])' "$OUT")
mkdir -p "$D/store/acme"
head -c 4096 /dev/urandom >"$D/store/acme/$id.0000000000000002"
head -c 512 /dev/urandom >"$D/store/acme/$id.header"
ok "disk show with data" disk show acme/vm1/d1 --json
json "allocated extents counted" "d['allocated_extents'] == 1 and
    d['allocated_bytes'] == 4096"
ok "disk show" disk show acme/vm1/d1
grep -q '^  allocated: *1 extent (4 KiB)$' "$OUT" || fail "disk show allocated"

ok "tenant show with credentials and disks" tenant show acme --json
json "tenant show lists" "[c['site'] for c in d['credentials']] == ['hq'] and
    [x['path'] for x in d['disks']] == ['acme/vm1/d0', 'acme/vm1/d1']"

ok "disk remove" disk remove acme/vm1/d1
[ ! -e "$D/store/acme/$id.0000000000000002" ] || fail "extent object left"
[ ! -e "$D/store/acme/$id.header" ] || fail "header object left"
ok "disk list after remove" disk list --json
json "removed disk gone" "sorted(x['path'] for x in d) ==
    ['acme/vm1/d0', 'beta/vm/d']"
refused "remove unknown disk" 1 "disk 'acme/vm1/d1' does not exist" \
    disk remove acme/vm1/d1

# ---- routes ----

mkdir "$tmp/objects"
ok "route add local" route add other --type local --path "$tmp/objects"
grep -q "^Added route 'other'" "$OUT" || fail "route add message"
ok "route list --json with two routes" route list --json
json "route add recorded" "[(r['name'], r['type'], r.get('path')) for r in d] ==
    [('local', 'local', '$(realpath "$D")/store'),
    ('other', 'local', '$(realpath "$tmp/objects")')]"
refused "duplicate route" 1 "route 'other' already exists" \
    route add other --type local --path "$tmp/objects"
refused "local route without a directory" 1 "invalid --path .*: No such file" \
    route add x --type local --path "$tmp/objects/nope"
refused "route without --type" 2 "missing --type" route add x
refused "unknown route type" 2 "unknown route type 'nfs'" route add x --type nfs
refused "rados route without a pool" 2 "needs --ceph-conf FILE and --pool" \
    route add x --type rados --ceph-conf /etc/hosts
refused "rados route with an unreadable ceph.conf" 1 "invalid --ceph-conf" \
    route add x --type rados --ceph-conf "$tmp/none.conf" --pool p
# A monitor address where nothing listens: the cluster does not answer
# (librados gives up after client_mount_timeout, 10 s).
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf '[global]\nmon host = 127.0.0.1:%s\nauth cluster required = none\nauth service required = none\nauth client required = none\n' \
    "$port" >"$tmp/dead.conf"
refused "unreachable cluster" 1 "cannot open the store of route 'x'" \
    route add x --type rados --ceph-conf "$tmp/dead.conf" --pool p \
    --client-id admin
ok "route list after refusals" route list --json
json "refused routes not recorded" "[r['name'] for r in d] == ['local', 'other']"
ok "tenant on the new route" tenant add delta --route other

# ---- restore points, while havend does not run ----

ok "tenant add --checkpoint" tenant add gamma --checkpoint 30
ok "tenant show --json" tenant show gamma --json
json "tenant checkpoint" "d['checkpoint'] == 30"
ok "tenant show default checkpoint" tenant show acme --json
json "default checkpoint" "d['checkpoint'] == 60 and
    d['checkpoint_from'] == 'default'"
ok "tenant show default checkpoint, text" tenant show acme
grep -q '^  checkpoint:  every 60 s (1 min), built-in default$' "$OUT" ||
    fail "tenant show: default checkpoint"
refused "tenant checkpoint below 5 s" 1 "invalid checkpoint interval '4'" \
    tenant set gamma --checkpoint 4
refused "tenant checkpoint 0" 1 "invalid checkpoint interval '0'" \
    tenant set gamma --checkpoint 0
refused "tenant checkpoint above 30 days" 1 "use 5 to 2592000 seconds" \
    tenant set gamma --checkpoint 2592001
refused "tenant checkpoint garbage" 1 "use a number of seconds" \
    tenant set gamma --checkpoint 1m
refused "tenant add checkpoint below 5 s" 1 "invalid checkpoint" \
    tenant add epsilon --checkpoint 2
refused "tenant set without --checkpoint" 2 "missing --checkpoint" tenant set gamma
ok "tenant set --checkpoint 5" tenant set gamma --checkpoint 5
ok "tenant show" tenant show gamma
grep -q '^  checkpoint:  every 5 s, set on the tenant$' "$OUT" ||
    fail "tenant show checkpoint"
ok "tenant list --json" tenant list --json
json "epsilon was not added" "'epsilon' not in [t['name'] for t in d]"

ok "disk create gamma/vm1/d0" disk create gamma/vm1/d0 --size 8M --extent-size 1M
ok "disk create gamma/vm1/d1" disk create gamma/vm1/d1 --size 4M
ok "disk create gamma/vm2/d0" disk create gamma/vm2/d0 --size 4M
ok "disk show new disk" disk show gamma/vm1/d0 --json
json "new disk: tenant interval, no restore points" "d['checkpoint'] == 5 and
    d['checkpoint_override'] is None and d['restore_points'] == 0 and
    d['snap_seq'] == 0 and d['size'] == 8 << 20"
ok "disk set --checkpoint" disk set gamma/vm1/d0 --checkpoint 120
ok "disk show override" disk show gamma/vm1/d0 --json
json "disk override" "d['checkpoint'] == 120 and d['checkpoint_override'] == 120
    and d['checkpoint_from'] == 'disk'"
refused "disk checkpoint below 5 s" 1 "invalid checkpoint interval '3'" \
    disk set gamma/vm1/d0 --checkpoint 3
refused "disk set without --checkpoint" 2 "missing --checkpoint" \
    disk set gamma/vm1/d0
ok "disk set --checkpoint 0" disk set gamma/vm1/d0 --checkpoint 0
ok "disk show inherits again" disk show gamma/vm1/d0
grep -q "^  checkpoint:     every 5 s, set on the tenant$" "$OUT" ||
    fail "disk show checkpoint"
grep -q '^  restore points: 0$' "$OUT" || fail "disk show restore points"

# [restore_points] checkpoint_interval is what havend uses for disks and
# tenants that set none; havenctl reports it, and where it comes from.
cp "$D/haven.conf" "$tmp/haven.conf.orig"
printf '[restore_points]\ncheckpoint_interval = 90\n' >>"$D/haven.conf"
ok "tenant show, haven.conf interval" tenant show acme
grep -q '^  checkpoint:  every 90 s, from haven.conf$' "$OUT" ||
    fail "tenant show: haven.conf checkpoint"
ok "tenant show --json, haven.conf interval" tenant show acme --json
json "haven.conf checkpoint" "d['checkpoint'] == 90 and
    d['checkpoint_from'] == 'haven.conf'"
ok "tenant list --json, haven.conf interval" tenant list --json
json "tenant list: each tenant's effective interval" "dict((t['name'],
    (t['checkpoint'], t['checkpoint_from'])) for t in d if t['name'] in
    ('acme', 'gamma')) == {'acme': (90, 'haven.conf'), 'gamma': (5, 'tenant')}"
ok "disk show, haven.conf interval" disk show acme/vm1/d0
grep -q '^  checkpoint:     every 90 s, from haven.conf$' "$OUT" ||
    fail "disk show: haven.conf checkpoint"
ok "disk show --json, haven.conf interval" disk show acme/vm1/d0 --json
json "disk: haven.conf checkpoint" "d['checkpoint'] == 90 and
    d['checkpoint_from'] == 'haven.conf' and d['checkpoint_override'] is None"
ok "disk show, tenant over haven.conf" disk show gamma/vm1/d0 --json
json "disk: tenant over haven.conf" "d['checkpoint'] == 5 and
    d['checkpoint_from'] == 'tenant'"
ok "disk set --checkpoint over haven.conf" disk set acme/vm1/d0 --checkpoint 30
grep -q '^Disk acme/vm1/d0: restore point every 30 s, set on the disk\.$' \
    "$OUT" || fail "disk set: interval and its source"
ok "disk set --checkpoint 0 under haven.conf" disk set acme/vm1/d0 --checkpoint 0
grep -q '^Disk acme/vm1/d0: restore point every 90 s, from haven.conf\.$' \
    "$OUT" || fail "disk set 0: haven.conf interval"
# A file that sets the default value is still the source.
cp "$tmp/haven.conf.orig" "$D/haven.conf"
printf '[restore_points]\ncheckpoint_interval = 60\n' >>"$D/haven.conf"
ok "tenant show, haven.conf sets the default value" tenant show acme --json
json "haven.conf 60" "d['checkpoint'] == 60 and d['checkpoint_from'] == 'haven.conf'"
# A haven.conf havend would refuse: one warning, the built-in default.
cp "$tmp/haven.conf.orig" "$D/haven.conf"
printf '[restore_points]\ncheckpoint_interval = 2\n' >>"$D/haven.conf"
run tenant show acme --json
[ "$rc" -eq 0 ] || fail "tenant show, bad haven.conf: exit $rc"
[ "$(wc -l <"$ERR")" -eq 1 ] &&
    grep -q "^havenctl: warning: .*haven.conf:[0-9]*: bad value for key 'checkpoint_interval'" "$ERR" ||
    fail "tenant show, bad haven.conf: one warning line"
json "bad haven.conf: built-in default" "d['checkpoint'] == 60 and
    d['checkpoint_from'] == 'default'"
cp "$tmp/haven.conf.orig" "$D/haven.conf"

ok "rp list, none yet" rp list gamma/vm1/d0 --json
json "no restore points" "d == []"
ok "rp create" rp create gamma/vm1/d0
grep -q "gamma/vm1/d0  *1  -  .* UTC  manual  *8 MiB  *0 B  *-  vm1/d0@1$" "$OUT" ||
    fail "rp create row"
grep -q "^Tenant 'gamma' reads it as the export above" "$OUT" ||
    fail "rp create names the export"
ok "rp create --name" rp create gamma/vm1/d0 --name before-upgrade --json
json "named restore point" "[(r['id'], r['name'], r['trigger'], r['export'],
    r['size'], r['bytes_changed'], r['group'], r['disk']) for r in d] ==
    [(2, 'before-upgrade', 'manual', 'vm1/d0@2', 8 << 20, 0, None,
    'gamma/vm1/d0')] and d[0]['created'].endswith('Z')"
refused "duplicate restore point name" 1 "already has a restore point named 'before-upgrade'" \
    rp create gamma/vm1/d0 --name before-upgrade
refused "restore point named latest" 1 "invalid restore point name 'latest'" \
    rp create gamma/vm1/d0 --name latest
refused "restore point named by digits" 1 "invalid restore point name '42'" \
    rp create gamma/vm1/d0 --name 42
refused "invalid restore point name" 1 "invalid restore point name 'Bad'" \
    rp create gamma/vm1/d0 --name Bad
# Names and notes travel to havend in fixed-size request fields: one that
# would not fit is refused up front, never cut short.
long63=$(printf 'n%.0s' $(seq 63))
refused "restore point name of 64 bytes" 1 "invalid restore point name '${long63}n'" \
    rp create gamma/vm1/d0 --name "${long63}n"
ok "rp list after the refusal" rp list gamma/vm1/d0 --json
json "no restore point from a refused name" "[r['id'] for r in d] == [1, 2]"
note199=$(printf 'x%.0s' $(seq 199))
refused "test stop note of 200 bytes" 1 \
    "^havenctl: note too long \(200 bytes\): at most 199 bytes$" \
    failover test stop 1 --note "${note199}y"
refused "test stop note of 199 bytes two-byte characters" 1 \
    "note too long \(398 bytes\)" \
    failover test stop 1 --note "$(printf '\xc3\xa9%.0s' $(seq 199))"
refused "test stop note fits: the test is looked up" 1 \
    "^havenctl: failover test 1 does not exist$" \
    failover test stop 1 --note "$note199"
ok "rp create for a VM" rp create gamma/vm1 --name group1 --json
json "one instant for every disk of the VM" "[(r['disk'], r['id'], r['name'])
    for r in d] == [('gamma/vm1/d0', 3, 'group1'), ('gamma/vm1/d1', 1, 'group1')]
    and d[0]['group'] is not None and d[0]['group'] == d[1]['group']"
refused "a VM without disks" 1 "VM 'gamma/vm9' has no disks" rp create gamma/vm9
refused "rp create on an unknown disk" 1 "disk 'gamma/vm1/d7' does not exist" \
    rp create gamma/vm1/d7
refused "rp create on a bad path" 1 "use TENANT/VM/DISK or TENANT/VM" \
    rp create gamma
ok "rp list" rp list gamma/vm1/d0 --json
json "rp list" "[(r['id'], r['name']) for r in d] == [(1, None),
    (2, 'before-upgrade'), (3, 'group1')] and
    len(set(r['snap_id'] for r in d)) == 3"
snaps=$(python3 -c 'import json,sys; print(max(r["snap_id"] for r in json.load(open(sys.argv[1]))))' "$OUT")
ok "rp list table" rp list gamma/vm1/d0
head -n 1 "$OUT" | grep -qE '^ *ID  NAME  +CREATED  +TRIGGER  +SIZE  +CHANGED  +GROUP  TIER  EXPIRES  EXPORT$' ||
    fail "rp list header"
[ "$(wc -l <"$OUT")" -eq 4 ] || fail "rp list rows"
ok "disk show counts restore points" disk show gamma/vm1/d0 --json
json "restore points and snap_seq" "d['restore_points'] == 3 and
    d['snap_seq'] == $snaps"

# The header object makes the store self-describing (same text as havend).
hdr=$(find "$D/store/gamma" -name "$(printf '%016x' "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$OUT")").header*" | head -n 1)
[ -n "$hdr" ] || fail "no header object for gamma/vm1/d0"
grep -qx 'haven-disk 1' "$hdr" || fail "header magic"
grep -qx 'label gamma/vm1/d0' "$hdr" || fail "header label"
grep -qx "snap_seq $snaps" "$hdr" || fail "header snap_seq"
grep -qE '^rp 2 snap [0-9]+ created_ms [0-9]+ trigger manual size 8388608 changed 0 group 0 name before-upgrade$' \
    "$hdr" || fail "header restore point line"
pass

refused "rp remove without an id" 2 "missing" rp remove gamma/vm1/d0
refused "rp remove of an unknown one" 1 "disk 'gamma/vm1/d0' has no restore point '9'" \
    rp remove gamma/vm1/d0 9
ok "rp remove by name" rp remove gamma/vm1/d0 before-upgrade
grep -qx 'Removed restore point 2 (before-upgrade) of gamma/vm1/d0.' "$OUT" ||
    fail "rp remove message"
ok "rp remove latest" rp remove gamma/vm1/d0 latest
grep -q 'Removed restore point 3 (group1)' "$OUT" || fail "latest is the newest"
refused "removed twice" 1 "has no restore point '2'" rp remove gamma/vm1/d0 2
ok "rp list after removals" rp list gamma/vm1/d0 --json
json "one left" "[r['id'] for r in d] == [1]"
grep -q 'name before-upgrade' "$hdr" && fail "header still lists a removed restore point"
ok "rp create after removals" rp create gamma/vm1/d0 --json
json "ids are not reused" "[r['id'] for r in d] == [4]"

# A lock held for a moment (as by a havend that is stopping): havenctl
# asks, notices that nobody runs any more, and then acts alone.
flock "$D/havend.lock" sleep 1 &
holder=$!
for _ in $(seq 50); do
    flock -n "$D/havend.lock" true || break
    sleep 0.02
done
flock -n "$D/havend.lock" true && fail "the lock holder did not start"
ok "rp create while the lock is briefly held" rp create gamma/vm2/d0 --json
json "cut after the lock was freed" "[r['id'] for r in d] == [1]"
wait "$holder"
holder=

ok "disk resize" disk resize gamma/vm1/d0 --size 16M
grep -q 'from 8 MiB to 16 MiB' "$OUT" || fail "disk resize message"
refused "disk resize shrinking" 1 "disks only grow" \
    disk resize gamma/vm1/d0 --size 4M
refused "disk resize to the same size" 1 "disks only grow" \
    disk resize gamma/vm1/d0 --size 16M
refused "disk resize not a multiple of 512" 1 "multiple of 512" \
    disk resize gamma/vm1/d0 --size 20000000
refused "disk resize without --size" 2 "missing --size" disk resize gamma/vm1/d0
ok "disk show after resize" disk show gamma/vm1/d0 --json
json "resized" "d['size'] == 16 << 20"
grep -qx 'size 16777216' "$hdr" || fail "header size after resize"
ok "rp list after resize" rp list gamma/vm1/d0 --json
json "restore points keep their size" "[r['size'] for r in d] == [8 << 20] * 2"

ok "disk remove with restore points" disk remove gamma/vm1/d0
grep -qx 'Removed disk gamma/vm1/d0 and its data, with 2 restore points.' "$OUT" ||
    fail "disk remove message"
refused "its restore points are gone" 1 "disk 'gamma/vm1/d0' does not exist" \
    rp list gamma/vm1/d0
ok "the VM's other disk keeps its own" rp list gamma/vm1/d1 --json
json "d1 restore point" "[r['id'] for r in d] == [1]"

# ---- retention, immutability, pins (details: test-retention.sh) ----

ok "tenant add --retention --immutable-days" tenant add zeta \
    --retention "1h:all, 1d:hourly,cap=20" --immutable-days 3
ok "tenant show --json" tenant show zeta --json
json "tenant retention" "d['retention'] == '1h:all,1d:hourly,cap=20' and
    d['immutable_days'] == 3"
ok "tenant show" tenant show zeta
grep -q '^  retention:   1h:all,1d:hourly,cap=20$' "$OUT" || fail "show retention"
grep -q '^  immutable:   3 days$' "$OUT" || fail "show immutable"
refused "bad ladder unit" 1 \
    "^havenctl: invalid retention '1x:all': bad unit 'x' in age '1x'" \
    tenant set zeta --retention 1x:all
refused "ladder ages must grow" 1 "ages must grow" \
    tenant set zeta --retention 1d:all,1h:hourly
refused "unknown spacing" 1 "unknown spacing 'often'" \
    tenant add eta --retention 1h:often
refused "bad immutable days" 1 "invalid immutability window '-1'" \
    tenant set zeta --immutable-days -1
[ "$(count tenant list)" = 6 ] || fail "a refused tenant add was added"
ok "tenant set --retention keeps the window" tenant set zeta --retention none
ok "tenant show --json" tenant show zeta --json
json "retention none, still 3 days" "d['retention'] == 'none' and
    d['immutable_days'] == 3"
ok "disk create" disk create zeta/vm/d0 --size 1M
ok "disk set --retention" disk set zeta/vm/d0 --retention 2h:all,1w:daily
ok "disk show --json" disk show zeta/vm/d0 --json
json "disk override" "d['retention'] == '2h:all,1w:daily' and
    d['retention_override'] == '2h:all,1w:daily'"
ok "disk set --retention inherit" disk set zeta/vm/d0 --retention inherit
ok "disk show --json" disk show zeta/vm/d0 --json
json "disk inherits" "d['retention'] == 'none' and
    d['retention_override'] is None"
refused "disk set without options" 2 "missing --checkpoint" disk set zeta/vm/d0
ok "rp create" rp create zeta/vm/d0
refused "rp remove inside the window" 1 \
    "^havenctl: rp remove zeta/vm/d0 1: immutable until [0-9-]+ [0-9:]+ UTC$" \
    rp remove zeta/vm/d0 1
refused "disk remove inside the window" 1 \
    "^havenctl: disk remove zeta/vm/d0: restore point 1 immutable until" \
    disk remove zeta/vm/d0
refused "tenant remove inside the window" 1 \
    "^havenctl: tenant remove zeta: restore point 1 of zeta/vm/d0: immutable until" \
    tenant remove zeta
ok "tenant set --immutable-days 0" tenant set zeta --immutable-days 0
ok "rp pin" rp pin zeta/vm/d0 latest
grep -q '^Pinned restore point 1 of zeta/vm/d0 (1 holder)\.$' "$OUT" ||
    fail "rp pin message"
refused "rp remove pinned" 1 "^havenctl: rp remove zeta/vm/d0 1: pinned by 1 holder\(s\)$" \
    rp remove zeta/vm/d0 1
ok "rp list --json" rp list zeta/vm/d0 --json
json "pinned in the list" "d[0]['pins'] == 1 and d[0]['pinned'] and
    d[0]['tier'] == 'all' and d[0]['expires'] is None"
ok "rp unpin" rp unpin zeta/vm/d0 1
refused "rp unpin unpinned" 1 "^havenctl: rp unpin zeta/vm/d0 1: not pinned$" \
    rp unpin zeta/vm/d0 1
refused "rp pin unknown" 1 "has no restore point '9'" rp pin zeta/vm/d0 9
refused "tenant remove with disks" 1 "still has 1 disk" tenant remove zeta
ok "disk remove after the window" disk remove zeta/vm/d0
ok "tenant remove" tenant remove zeta
grep -q "^Removed tenant 'zeta'" "$OUT" || fail "tenant remove message"
refused "tenant remove unknown" 1 "tenant 'zeta' does not exist" \
    tenant remove zeta
ok "tenant add --immutable-days" tenant add zeta --immutable-days 1
ok "cert issue" cert issue zeta --site hq --out "$tmp/zeta-bundle"
refused "tenant remove with credentials" 1 "still has live credentials" \
    tenant remove zeta
ok "cert revoke" cert revoke zeta --site hq
ok "tenant remove after revoking" tenant remove zeta

# ---- the command line itself ----

for cmd in "" init tenant "tenant add" "tenant list" "tenant show" cert \
    "cert issue" "cert list" "cert revoke" disk "disk create" "disk list" \
    "disk show" "disk remove" "disk set" "disk resize" route "route list" \
    "route add" "tenant set" rp "rp list" "rp create" "rp remove" \
    "tenant remove" "rp pin" "rp unpin"; do
    # shellcheck disable=SC2086 # the words of $cmd are separate arguments
    run $cmd --help
    [ "$rc" -eq 0 ] || fail "'havenctl $cmd --help' exit $rc"
    grep -q '^Usage: havenctl ' "$OUT" || fail "'havenctl $cmd --help' usage"
    [ ! -s "$ERR" ] || fail "'havenctl $cmd --help' wrote to stderr"
    pass
done
ok "help" help
ok "help CMD" help disk create
grep -q '^Usage: havenctl \[-d DIR\] disk create ' "$OUT" || fail "help disk create"
refused "unknown command" 2 "unknown command 'frobnicate'" frobnicate
refused "unknown subcommand" 2 "unknown command 'frob'" tenant frob
refused "unknown option" 2 "unknown option '--bogus'" tenant list --bogus
refused "missing argument" 2 "missing" tenant show
refused "extra argument" 2 "unexpected argument" tenant show acme beta

set +e
HAVEN_DIR="$D" "$HAVENCTL" tenant list --json >"$OUT" 2>"$ERR"
rc=$?
set -e
[ "$rc" -eq 0 ] || fail "HAVEN_DIR: exit $rc"
json "HAVEN_DIR is the default data directory" "len(d) == 5"

echo "$passed passed, 0 failed"

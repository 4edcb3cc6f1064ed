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
trap 'rm -rf "$tmp"' EXIT
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

before=$(snapshot "$D")
refused "init twice" 1 "already initialised" init
[ "$(snapshot "$D")" = "$before" ] || fail "init twice changed $D"
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

# ---- the command line itself ----

for cmd in "" init tenant "tenant add" "tenant list" "tenant show" cert \
    "cert issue" "cert list" "cert revoke" disk "disk create" "disk list" \
    "disk show" "disk remove" route "route list"; do
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
json "HAVEN_DIR is the default data directory" "len(d) == 3"

echo "$passed passed, 0 failed"

#!/usr/bin/env bash
# What an operator installs and reads:
#  1. --help on havenctl, every command and every subcommand (found by
#     walking the "Commands:" lists), and on havend: usage on stdout,
#     nothing on stderr, exit 0; 'havenctl help CMD SUB' says the same;
#  2. havend --check-config prints every key with its effective value
#     (defaults, the file, the command line), as INI that reads back to
#     the same configuration; bad values name file, line and key;
#  3. meson install --destdir puts havend, havenctl, the systemd unit and
#     both man pages in place; the unit passes systemd-analyze verify and
#     carries its sandbox; the pages lint clean with groff, render with
#     man, and havend(8) documents every configuration key;
#  4. havend listens on every address of a listen list (IPv4 and IPv6),
#     closes connections past max_connections, and exits 1 naming an
#     address it cannot bind.
source "$(dirname "$0")/functions.sh"
requires_haven
holds=()

# --- 1. --help everywhere ----------------------------------------------------

# help_ok WORDS...: havenctl WORDS --help prints usage and exits 0.
help_ok() {
    local out err rc
    out=$("$HAVENCTL" -d "$TMP/none" "$@" --help 2>"$TMP/help.err") && rc=0 || rc=$?
    err=$(cat "$TMP/help.err")
    [[ $rc -eq 0 ]] || fail "havenctl $* --help exit status" 0 "$rc: $err"
    [[ -z $err ]] || fail "havenctl $* --help wrote to stderr" "" "$err"
    # (The last word: "rp pin|unpin" covers "rp unpin".)
    grep -q "^Usage: havenctl .*${*: -1}" <<<"$(head -3 <<<"$out")" ||
        fail "havenctl $* --help usage line" "Usage: havenctl ... $*" "$(head -1 <<<"$out")"
    [[ $(wc -l <<<"$out") -ge 3 ]] || fail "havenctl $* --help is one line" ">= 3 lines" "$out"
    # 'help' spells the same thing.
    [[ $("$HAVENCTL" -d "$TMP/none" help "$@" 2>&1) == "$out" ]] ||
        fail "havenctl help $* differs from havenctl $* --help"
    HELP_OUT=$out
}

# subcommands: the names listed under "Commands:" in a help text.
subcommands() {
    awk '/^Commands:/ { on = 1; next } on && /^  [a-z]/ { print $1; next } on { exit }'
}

# walk WORDS...: check WORDS, then every subcommand it lists.
NCHECKED=0
walk() {
    local sub subs
    help_ok "$@"
    NCHECKED=$((NCHECKED + 1))
    subs=$(subcommands <<<"$HELP_OUT")
    for sub in $subs; do
        [[ $sub == help ]] && continue
        walk "$@" "$sub"
    done
}

check "havenctl --help and every command's and subcommand's --help"
out=$("$HAVENCTL" --help 2>"$TMP/err") || fail "havenctl --help exit status"
[[ -s $TMP/err ]] && fail "havenctl --help wrote to stderr: $(cat "$TMP/err")"
grep -q '^Usage: havenctl ' <<<"$out" || fail "havenctl --help usage line"
for cmd in $(subcommands <<<"$out"); do
    [[ $cmd == help ]] && continue
    walk "$cmd"
done
# The walk must have reached the commands we know of (it cannot have
# silently found nothing).
((NCHECKED >= 38)) || fail "commands with --help checked" ">= 38" "$NCHECKED"
help_ok failover test start
ok "$NCHECKED commands and subcommands"

check "havend --help and --version"
out=$("$HAVEND" --help 2>"$TMP/err") || fail "havend --help exit status"
[[ -s $TMP/err ]] && fail "havend --help wrote to stderr: $(cat "$TMP/err")"
grep -q '^usage: havend ' <<<"$out" || fail "havend --help usage line" "usage: havend ..." "$(head -1 <<<"$out")"
for opt in --dir --listen --metrics --log-level --check-config SIGHUP SIGTERM; do
    grep -q -- "$opt" <<<"$out" || fail "havend --help does not mention $opt"
done
"$HAVEND" --version | grep -qE '^havend [0-9]' || fail "havend --version"
if "$HAVEND" --bogus >/dev/null 2>"$TMP/err"; then fail "havend --bogus exits 0"; fi
ok

# --- 2. --check-config -------------------------------------------------------

D=$TMP/d
"$HAVENCTL" -d "$D" init >/dev/null || fail "havenctl init"

# conf_get FILE SECTION KEY: a value from an INI file (Python configparser,
# strict: a duplicate section or key is an error).
conf_get() {
    "$PY" - "$@" <<'EOF'
import configparser, sys
c = configparser.ConfigParser(interpolation=None, strict=True)
c.read(sys.argv[1])
print(c[sys.argv[2]][sys.argv[3]])
EOF
}

check "--check-config prints every key with its default"
"$HAVEND" -d "$D" --check-config >"$TMP/eff.conf" 2>"$TMP/err" ||
    fail "havend --check-config failed: $(cat "$TMP/err")"
[[ -s $TMP/err ]] && fail "--check-config wrote to stderr: $(cat "$TMP/err")"
while read -r section key want; do
    got=$(conf_get "$TMP/eff.conf" "$section" "$key") ||
        { sed 's/^/  | /' "$TMP/eff.conf" >&2; fail "[$section] $key missing from --check-config"; }
    [[ $got == "$want" ]] || fail "[$section] $key" "$want" "$got"
done <<'EOF'
gateway listen 0.0.0.0:10809
gateway preferred_block 256K
gateway retention_interval 60
tls min_protocol TLSv1.2
tls ciphers ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-CHACHA20-POLY1305
tls ciphersuites TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256
tls handshake_timeout 10
limits max_connections 4096
limits max_sessions_per_tenant 256
limits max_inflight_requests 128
limits max_inflight_bytes 64M
limits tenant_inflight_requests 512
limits tenant_inflight_bytes 256M
limits total_inflight_requests 8192
limits total_inflight_bytes 2G
ceph op_timeout 120
ceph mon_op_timeout 30
ceph mount_timeout 10
ceph objecter_inflight_ops 65536
ceph objecter_inflight_op_bytes 4G
restore_points checkpoint_interval 60
metrics listen 127.0.0.1:9309
log level info
EOF
nkeys=$(grep -cE '^[a-z_]+ = ' "$TMP/eff.conf")
[[ $nkeys -eq 23 ]] || fail "keys printed by --check-config" 23 "$nkeys"
ok "$nkeys keys"

check "--check-config shows the file's values and the command line's overrides"
cat >"$D/haven.conf" <<'EOF'
# comments and the older spelling of a moved key
[gateway]
listen = 127.0.0.1:10809, [::1]:10809
handshake_timeout = 33
[tls]
min_protocol = TLSv1.3
[limits]
max_inflight_bytes = 3M
[ceph]
op_timeout = 45
[restore_points]
checkpoint_interval = 600
[log]
level = warn
EOF
"$HAVEND" -d "$D" --check-config >"$TMP/eff2.conf" || fail "--check-config on the edited file"
[[ $(conf_get "$TMP/eff2.conf" gateway listen) == "127.0.0.1:10809, [::1]:10809" ]] || fail "listen list"
[[ $(conf_get "$TMP/eff2.conf" tls handshake_timeout) == 33 ]] || fail "[gateway] handshake_timeout"
[[ $(conf_get "$TMP/eff2.conf" tls min_protocol) == TLSv1.3 ]] || fail "min_protocol"
[[ $(conf_get "$TMP/eff2.conf" limits max_inflight_bytes) == 3M ]] || fail "max_inflight_bytes"
[[ $(conf_get "$TMP/eff2.conf" ceph op_timeout) == 45 ]] || fail "op_timeout"
[[ $(conf_get "$TMP/eff2.conf" restore_points checkpoint_interval) == 600 ]] || fail "checkpoint_interval"
[[ $(conf_get "$TMP/eff2.conf" log level) == warn ]] || fail "level"
"$HAVEND" -d "$D" --listen '[::1]:1234' --log-level debug --check-config >"$TMP/eff3.conf" ||
    fail "--check-config with overrides"
[[ $(conf_get "$TMP/eff3.conf" gateway listen) == "[::1]:1234" ]] || fail "--listen override"
[[ $(conf_get "$TMP/eff3.conf" log level) == debug ]] || fail "--log-level override"
# The output is a haven.conf meaning the same thing.
cp "$TMP/eff2.conf" "$D/haven.conf"
"$HAVEND" -d "$D" --check-config >"$TMP/eff4.conf" || fail "--check-config on its own output"
diff <(grep -v '^#' "$TMP/eff2.conf") <(grep -v '^#' "$TMP/eff4.conf") >&2 ||
    fail "--check-config of its own output differs"
ok

check "bad values name file, line and key; exit 1 and nothing on stdout"
while IFS='|' read -r text key; do
    printf '# line 1\n%b\n' "$text" >"$D/haven.conf"
    line=$(($(printf '%b\n' "$text" | wc -l) + 1))
    if "$HAVEND" -d "$D" --check-config >"$TMP/out" 2>"$TMP/err"; then
        fail "--check-config accepted: $text"
    else
        rc=$?
    fi
    [[ $rc -eq 1 ]] || fail "exit status for $key" 1 "$rc"
    [[ -s $TMP/out ]] && fail "--check-config printed a configuration for a bad file"
    grep -q "^havend: $D/haven.conf:$line: .*key '$key'" "$TMP/err" ||
        fail "error for $key" "havend: $D/haven.conf:$line: ... key '$key' ..." "$(cat "$TMP/err")"
done <<'EOF'
[gateway]\nlisten = 127.0.0.1:10809, example.com:10809|listen
[gateway]\npreferred_block = 3K|preferred_block
[tls]\nmin_protocol = SSLv3|min_protocol
[tls]\nciphers = ECDHE-RSA-AES128-SHA|ciphers
[tls]\nciphersuites = TLS_NOPE|ciphersuites
[tls]\nhandshake_timeout = 0|handshake_timeout
[limits]\n\nmax_connections = many|max_connections
[limits]\nmax_sessions_per_tenant = 0|max_sessions_per_tenant
[limits]\nmax_inflight_requests = 2000|max_inflight_requests
[limits]\nmax_inflight_bytes = 2G|max_inflight_bytes
[limits]\ntenant_inflight_requests = 0|tenant_inflight_requests
[limits]\ntenant_inflight_bytes = 1|tenant_inflight_bytes
[limits]\ntotal_inflight_requests = 70000|total_inflight_requests
[limits]\ntotal_inflight_bytes = 100G|total_inflight_bytes
[ceph]\nop_timeout = 1|op_timeout
[ceph]\nmon_op_timeout = 1|mon_op_timeout
[ceph]\nmount_timeout = 0|mount_timeout
[ceph]\nobjecter_inflight_ops = 10|objecter_inflight_ops
[ceph]\nobjecter_inflight_op_bytes = 10M|objecter_inflight_op_bytes
[restore_points]\ncheckpoint_interval = 1|checkpoint_interval
[log]\nlevel = verbose|level
[log]\nlevel = info\nlevel = warn|level
[gateway]\nmetrics = 1|metrics
EOF
cp "$TMP/eff.conf" "$D/haven.conf"
if "$HAVEND" -d "$D" --log-level loud --check-config >/dev/null 2>"$TMP/err"; then
    fail "--log-level loud accepted"
fi
grep -q "^havend: --log-level 'loud'" "$TMP/err" || fail "--log-level error: $(cat "$TMP/err")"
ok

# --- 3. meson install ---------------------------------------------------------

check "meson install --destdir puts the binaries, unit and man pages in place"
requires meson
R=$TMP/root
meson install -C "$HAVEN_BUILD" --destdir "$R" --no-rebuild --quiet >"$TMP/install.log" 2>&1 ||
    { cat "$TMP/install.log" >&2; fail "meson install --destdir failed"; }
find_one() {
    local f
    f=$(find "$R" -path "*/$1" -type f | head -1)
    [[ -n $f ]] || { find "$R" -type f >&2; fail "meson install put no $1 under $R"; }
    echo "$f"
}
unit=$(find_one systemd/system/havend.service)
sysusers=$(find_one sysusers.d/haven.conf)
man_d=$(find_one man8/havend.8)
man_c=$(find_one man8/havenctl.8)
sbin_havend=$(find_one sbin/havend)
find_one bin/havenctl >/dev/null
exec_path=$(sed -n 's/^ExecStart=\([^ ]*\) .*/\1/p' "$unit")
[[ $R$exec_path == "$sbin_havend" ]] || fail "unit's ExecStart" "${sbin_havend#"$R"}" "$exec_path"
for want in 'User=haven' 'ExecStart=.* -d /var/lib/haven$' 'ExecReload=/bin/kill -HUP \$MAINPID' \
    'KillSignal=SIGTERM' 'TimeoutStopSec=' 'NoNewPrivileges=yes' 'ProtectSystem=strict' \
    'ReadWritePaths=/var/lib/haven' 'ProtectHome=yes' 'PrivateTmp=yes' 'PrivateDevices=yes' \
    'ProtectKernelTunables=yes' 'ProtectKernelModules=yes' \
    'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX' 'LimitNOFILE=' 'CapabilityBoundingSet=$'; do
    grep -qE "^$want" "$unit" || fail "the unit lacks $want"
done
grep -qE '^u haven ' "$sysusers" || fail "sysusers.d/haven.conf creates no user haven"
ok "${unit#"$R"}"

check "systemd-analyze verify accepts the unit"
if command -v systemd-analyze >/dev/null; then
    mkdir -p "$TMP/unit"
    # verify checks that ExecStart exists: point it at the installed copy.
    sed "s|^ExecStart=$exec_path|ExecStart=$sbin_havend|" "$unit" >"$TMP/unit/havend.service"
    MANPATH=${man_d%/man8/havend.8} SYSTEMD_LOG_COLOR=0 \
        systemd-analyze verify "$TMP/unit/havend.service" >"$TMP/verify.out" 2>&1 ||
        { cat "$TMP/verify.out" >&2; fail "systemd-analyze verify failed"; }
    # It only warns about unknown keys; any output is a defect here.
    [[ -s $TMP/verify.out ]] && { cat "$TMP/verify.out" >&2; fail "systemd-analyze verify warned"; }
    ok
else
    ok "skipped: systemd-analyze is not installed"
fi

check "the man pages lint clean, render, and havend(8) documents every key"
if command -v groff >/dev/null; then
    for page in "$man_d" "$man_c"; do
        groff -man -ww -z "$page" 2>"$TMP/groff.err" || fail "groff failed on $page"
        [[ -s $TMP/groff.err ]] && fail "groff warnings for $(basename "$page")" "" "$(cat "$TMP/groff.err")"
    done
fi
if command -v man >/dev/null; then
    for page in "$man_d" "$man_c"; do
        MANWIDTH=80 man --warnings -l "$page" >"$TMP/page.txt" 2>"$TMP/man.err" ||
            fail "man -l $page failed: $(cat "$TMP/man.err")"
        [[ -s $TMP/man.err ]] && fail "man warnings for $(basename "$page")" "" "$(cat "$TMP/man.err")"
        grep -q 'SYNOPSIS' "$TMP/page.txt" || fail "$(basename "$page") renders no SYNOPSIS"
    done
    MANWIDTH=80 man -l "$man_d" 2>/dev/null | col -b >"$TMP/havend.txt"
else
    sed 's/\\-/-/g' "$man_d" >"$TMP/havend.txt"
fi
grep -qF "haven $("$HAVEND" --version | cut -d' ' -f2)" "$TMP/havend.txt" || fail "havend(8) has no version"
for key in $(sed -n 's/^\([a-z_]*\) = .*/\1/p' "$TMP/eff.conf"); do
    grep -qE "(^|[^a-z_])$key([^a-z_]|$)" "$TMP/havend.txt" || fail "havend(8) does not document $key"
done
for sec in $(sed -n 's/^\[\([a-z_]*\)\]$/\1/p' "$TMP/eff.conf"); do
    grep -qF "[$sec]" "$TMP/havend.txt" || fail "havend(8) does not document [$sec]"
done
if command -v man >/dev/null; then
    MANWIDTH=80 man -l "$man_c" 2>/dev/null | col -b >"$TMP/havenctl.txt"
else
    sed 's/\\-/-/g' "$man_c" >"$TMP/havenctl.txt"
fi
for cmd in init tenant cert disk rp route export failover; do
    grep -qE "^ *$cmd" "$TMP/havenctl.txt" || fail "havenctl(8) does not describe $cmd"
done
ok

# --- 4. listen addresses and the connection limit, live ----------------------

requires nbdinfo
requires_python_nbd
D2=$TMP/d2 B=$TMP/b
haven_init "$D2" tenant:t bundle:t:hq:"$B" disk:t/vm/d0:8M
p1=$(free_port) p2=$(free_port)
printf '[gateway]\nlisten = 127.0.0.1:%d, [::1]:%d\n[limits]\nmax_connections = 2\n' \
    "$p1" "$p2" >"$D2/haven.conf"

check "havend serves on every address of [gateway] listen (IPv4 and IPv6)"
HAVEND_LOG=$D2/havend.log HAVEND_LOG_FROM=1
"$HAVEND" -d "$D2" 2>>"$HAVEND_LOG" &
HAVEND_PID=$!
PIDS+=("$HAVEND_PID")
wait_havend_log "event=listening addr=127.0.0.1:$p1\$" 10
wait_havend_log "event=listening addr=\[::1\]:$p2\$" 10
u4="nbds://127.0.0.1:$p1/vm/d0?tls-certificates=$B"
u6="nbds://[::1]:$p2/vm/d0?tls-certificates=$B"
[[ $(run_to 30 nbdinfo --size "$u4") == $((8 << 20)) ]] || fail "nbdinfo over 127.0.0.1:$p1"
[[ $(run_to 30 nbdinfo --size "$u6") == $((8 << 20)) ]] || fail "nbdinfo over [::1]:$p2"
ok

check "max_connections = 2: a third connection is closed at once"
sleep 0.5
for u in "$u4" "$u6"; do
    "$PY" - "$u" "$TMP/hold.stop" >>"$TMP/hold.out" 2>&1 <<'EOF' &
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
    PIDS+=("$!")
    holds+=("$!")
done
for _ in $(seq 100); do [[ $(grep -c ready "$TMP/hold.out") -eq 2 ]] && break; sleep 0.1; done
[[ $(grep -c ready "$TMP/hold.out") -eq 2 ]] || fail "two sessions did not connect: $(cat "$TMP/hold.out")"
if out=$(run_to 30 nbdinfo --size "$u4" 2>&1); then
    fail "a third connection with max_connections = 2" "refused" "$out"
fi
wait_havend_log 'reason="connection limit reached"' 5
touch "$TMP/hold.stop"
for p in "${holds[@]}"; do
    wait_exit "$p" 10 || fail "libnbd client did not close"
done
sleep 0.5
[[ $(run_to 30 nbdinfo --size "$u6") == $((8 << 20)) ]] || fail "nbdinfo after the two sessions closed"
ok

check "an address that cannot be bound: havend exits 1 and names it"
D3=$TMP/d3
haven_init "$D3"
if "$HAVEND" -d "$D3" --listen "127.0.0.1:$(free_port),127.0.0.1:$p1" 2>"$TMP/d3.log"; then
    fail "havend started with an address in use"
else
    rc=$?
fi
[[ $rc -eq 1 ]] || fail "exit status with an address in use" 1 "$rc"
grep -q "event=listen_failed addr=127.0.0.1:$p1 " "$TMP/d3.log" ||
    fail "no listen_failed for 127.0.0.1:$p1: $(cat "$TMP/d3.log")"
ok

stop_havend

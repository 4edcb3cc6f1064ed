#!/bin/bash
# The whole test suite, as CI runs it: install dependencies, build with
# warnings as errors, run unit and integration tests, then the same suite
# again in an ASan+UBSan build.  Ends with one "N passed, N failed" line.
set -uo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
cd "$src"
tests/install-deps.sh || exit 1

passed=0; failed=0; skipped=0
count() {
    # meson writes one JSON object per test into meson-logs/testlog.json.
    local log=$1/meson-logs/testlog.json
    [ -f "$log" ] || return
    read -r p f s < <(python3 - "$log" <<'PY'
import json, sys
p = f = s = 0
for line in open(sys.argv[1]):
    r = json.loads(line).get("result")
    if r in ("OK", "EXPECTEDFAIL"): p += 1
    elif r == "SKIP": s += 1
    else: f += 1
print(p, f, s)
PY
)
    passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
}

run_suite() {
    local dir=$1; shift
    rm -rf "$dir"
    if ! meson setup "$dir" --werror -Dtests=enabled -Drados=enabled "$@"; then
        echo "ci: meson setup failed for $dir"; failed=$((failed + 1)); return
    fi
    if ! ninja -C "$dir"; then
        echo "ci: build failed in $dir"; failed=$((failed + 1)); return
    fi
    meson test -C "$dir" --print-errorlogs --num-processes 2
    count "$dir"
}

# The storage contract and restore point unit tests also run against a
# throwaway Ceph cluster (the integration tests start their own).
ceph_dir=$(mktemp -d /tmp/haven-ci-ceph.XXXXXX)
trap 'tests/ceph-micro stop "$ceph_dir"' EXIT
if conf=$(tests/ceph-micro start "$ceph_dir" haven-test); then
    export HAVEN_TEST_CEPH_CONF=$conf HAVEN_TEST_CEPH_POOL=haven-test
else
    echo "ci: the test Ceph cluster did not start"; failed=$((failed + 1))
fi

run_suite build-ci
# Sanitizers: every report aborts the test that triggered it.
export ASAN_OPTIONS=abort_on_error=1:detect_leaks=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
run_suite build-asan -Db_sanitize=address,undefined -Db_lundef=false \
    -Dbuildtype=debug

tests/ceph-micro stop "$ceph_dir"
unset HAVEN_TEST_CEPH_CONF HAVEN_TEST_CEPH_POOL

# Fuzzing: each libFuzzer harness for a bounded time from its seed corpus.
unset ASAN_OPTIONS
fuzz_secs=${HAVEN_FUZZ_SECONDS:-60}
rm -rf build-fuzz
if CC=clang meson setup build-fuzz -Dfuzz=true -Dtests=disabled \
        -Db_sanitize=address,undefined -Db_lundef=false \
        -Dc_args=-fsanitize=fuzzer-no-link >/dev/null &&
   ninja -C build-fuzz tests/fuzz/fuzz-handshake tests/fuzz/fuzz-request \
        tests/fuzz/fuzz-records tests/fuzz/fuzz-config; then
    for h in handshake request records config; do
        work=$(mktemp -d)
        cp -r "tests/fuzz/corpus/$h/." "$work/"
        if build-fuzz/tests/fuzz/fuzz-$h -max_total_time="$fuzz_secs" \
                -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
                "$work" > "build-fuzz/fuzz-$h.log" 2>&1; then
            echo "fuzz-$h: ok ($(grep -o 'stat::number_of_executed_units: [0-9]*' "build-fuzz/fuzz-$h.log"))"
            passed=$((passed + 1))
        else
            echo "fuzz-$h: FAILED"; tail -40 "build-fuzz/fuzz-$h.log"
            failed=$((failed + 1))
        fi
        rm -rf "$work"
    done
else
    echo "ci: fuzz build failed"; failed=$((failed + 1))
fi

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]

#!/usr/bin/python3
"""python3-libnbd client for tests/integration/test-faults.sh.

havend runs with HAVEN_FAULT_FILE=RULES (storage/fault.c): this script
rewrites RULES while it talks to havend, so that the backend fails or
delays the next ops, and checks what the NBD client sees.

    faults.py basic  BUNDLE PORT EXPORT RULES
    faults.py stream BUNDLE PORT EXPORT RULES STATE
    faults.py verify BUNDLE PORT EXPORT STATE
    faults.py fill   BUNDLE PORT EXPORT STATE GEN

"basic" runs single-request checks on one connection: each errno the
backend can report gives the NBD error haven maps it to, the failed write
is not stored (the old bytes read back), and the same connection goes on.
"stream" keeps 16 writes in flight while faults come and go, and records
in STATE which block holds which generation (a failed write keeps the
previous one).  "verify" reads every block and compares with STATE.
"fill" writes generation GEN over the whole export, 1 MiB per request, 8
in flight, goes on after errors and prints "result acked=N failed=N
errors={...}"; it updates STATE (created if absent): an acknowledged
block holds GEN, a block of a failed write is dropped from STATE (after a
real ENOSPC its content is unspecified).

Every check prints one line; the exit status is 1 if any failed.
"""

import errno
import json
import os
import random
import sys
import time

import nbd

BLOCK = 4096
MiB = 1 << 20

failures = 0


def check(what, ok, expected=None, actual=None):
    global failures
    if ok:
        print("ok:   %s" % what)
    else:
        failures += 1
        print("FAIL: %s" % what)
        if expected is not None or actual is not None:
            print("      expected: %s" % (expected,))
            print("      actual:   %s" % (actual,))
    sys.stdout.flush()
    return ok


def content(block, gen):
    """The bytes of generation gen of a block: deterministic, distinct."""
    return random.Random("%d:%d" % (block, gen)).randbytes(BLOCK)


def set_rules(path, text):
    """Replace the rules file atomically (havend re-reads it on change)."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


def clear_rules(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def connect(bundle, port, export):
    h = nbd.NBD()
    h.set_tls(nbd.TLS_REQUIRE)
    h.set_tls_certificates(bundle)
    h.set_export_name(export)
    h.connect_tcp("127.0.0.1", str(port))
    return h


def errnum(e):
    """The errno of an nbd.Error (its .errno attribute is the name)."""
    return e.args[1] if len(e.args) > 1 and e.args[1] else -1


def errname(e):
    return errno.errorcode.get(e, str(e)) if e else "success"


def expect_error(what, fn, want):
    """Run fn; check that it fails with errno want."""
    try:
        fn()
        got = 0
    except nbd.Error as e:
        got = errnum(e)
    return check(what, got == want, errname(want), "%s (%s)"
                 % (errname(got), os.strerror(got) if got else "no error"))


# --- basic ------------------------------------------------------------------

# (errno the backend reports, errno the NBD client must get).  haven maps
# errnos to NBD errors in one place (gw_nbd_errno): ETIMEDOUT has no NBD
# error of its own and becomes NBD_EIO; EDQUOT looks like a full disk.
MAPPING = [("EIO", errno.EIO), ("ENOSPC", errno.ENOSPC),
           ("ETIMEDOUT", errno.EIO), ("EDQUOT", errno.ENOSPC),
           ("EROFS", errno.EPERM), ("ENOMEM", errno.ENOMEM)]


def run_basic(bundle, port, export, rules):
    h = connect(bundle, port, export)
    size = h.get_size()
    check("export %s opened, %d MiB" % (export, size // MiB), size >= 16 * MiB)

    # Generation 0 of blocks 0..63, all acknowledged and flushed.
    for b in range(64):
        h.pwrite(content(b, 0), b * BLOCK)
    h.flush()

    gen = 1
    for name, want in MAPPING:
        set_rules(rules, "op=write,errno=%s\n" % name)
        b = gen
        expect_error("backend %s on WRITE -> client gets %s" % (name,
                                                              errname(want)),
                     lambda: h.pwrite(content(b, gen), b * BLOCK), want)
        got = h.pread(BLOCK, b * BLOCK)
        check("... the refused WRITE was not stored: block %d has its old "
              "bytes" % b, got == content(b, 0), "generation 0",
              "the new bytes" if got == content(b, gen) else "other bytes")
        clear_rules(rules)
        h.pwrite(content(b, gen), b * BLOCK)
        check("... the fault cleared, the same connection writes block %d"
              % b, h.pread(BLOCK, b * BLOCK) == content(b, gen))
        gen += 1

    # READ, FLUSH, WRITE_ZEROES and TRIM failures.
    set_rules(rules, "op=read,errno=EIO\n")
    expect_error("backend EIO on READ -> client gets EIO",
                 lambda: h.pread(BLOCK, 40 * BLOCK), errno.EIO)
    clear_rules(rules)
    check("... next READ on the same connection returns the data",
          h.pread(BLOCK, 40 * BLOCK) == content(40, 0))

    h.pwrite(content(41, 1), 41 * BLOCK)
    set_rules(rules, "op=flush,errno=EIO\n")
    expect_error("backend EIO on the SYNC behind FLUSH -> FLUSH gets EIO",
                 lambda: h.flush(), errno.EIO)
    clear_rules(rules)
    h.flush()
    check("... the next FLUSH succeeds and the data is there",
          h.pread(BLOCK, 41 * BLOCK) == content(41, 1))

    set_rules(rules, "op=zero+remove+truncate,errno=ENOSPC\n")
    expect_error("backend ENOSPC on WRITE_ZEROES of a written range -> "
                 "ENOSPC", lambda: h.zero(2 * BLOCK, 42 * BLOCK),
                 errno.ENOSPC)
    expect_error("backend ENOSPC on TRIM -> ENOSPC",
                 lambda: h.trim(2 * BLOCK, 42 * BLOCK), errno.ENOSPC)
    got = h.pread(2 * BLOCK, 42 * BLOCK)
    check("... blocks 42-43 still hold their data",
          got == content(42, 0) + content(43, 0))
    clear_rules(rules)
    h.zero(2 * BLOCK, 42 * BLOCK)
    check("... the fault cleared, WRITE_ZEROES works",
          h.pread(2 * BLOCK, 42 * BLOCK) == bytes(2 * BLOCK))

    # A whole 4 MiB extent written, then zeroed while REMOVE fails: the
    # data stays readable (not a hole that hides it).
    ext = bytes(range(256)) * (4 * MiB // 256)
    h.pwrite(ext, 8 * MiB)
    set_rules(rules, "op=remove+zero,errno=EIO\n")
    expect_error("backend EIO on the REMOVE behind a whole-extent "
                 "WRITE_ZEROES -> EIO", lambda: h.zero(4 * MiB, 8 * MiB),
                 errno.EIO)
    clear_rules(rules)
    check("... the extent still reads back whole",
          h.pread(4 * MiB, 8 * MiB) == ext)

    # The nth write only.
    set_rules(rules, "op=write,errno=EIO,nth=3\n")
    results = []
    for i in range(5):
        b = 50 + i
        try:
            h.pwrite(content(b, 9), b * BLOCK)
            results.append(0)
        except nbd.Error as e:
            results.append(errnum(e))
    check("op=write,nth=3: of 5 writes only the 3rd fails",
          results == [0, 0, errno.EIO, 0, 0], [0, 0, errno.EIO, 0, 0],
          results)
    clear_rules(rules)
    back = [h.pread(BLOCK, (50 + i) * BLOCK) for i in range(5)]
    want = [content(50 + i, 0 if i == 2 else 9) for i in range(5)]
    check("... blocks 50-54: the 3rd has its old bytes, the others the new",
          back == want)

    # Delays: late but correct.
    set_rules(rules, "op=write,delay=300\n")
    t0 = time.monotonic()
    h.pwrite(content(60, 1), 60 * BLOCK)
    dt = time.monotonic() - t0
    check("op=write,delay=300: a WRITE is answered after >= 0.3 s (%.3f s)"
          % dt, dt >= 0.3, ">= 0.3 s", "%.3f s" % dt)
    t0 = time.monotonic()
    cookies = [h.aio_pwrite(content(61 + i, 1), (61 + i) * BLOCK)
               for i in range(16)]
    for c in cookies:
        # A cookie is retired once reported complete: ask each until then.
        while not h.aio_command_completed(c):
            h.poll(1000)
    dt = time.monotonic() - t0
    check("16 WRITEs in flight with 300 ms each finish together "
          "(%.3f s: in parallel, not 4.8 s)" % dt, 0.3 <= dt < 2.5,
          "0.3-2.5 s", "%.3f s" % dt)
    set_rules(rules, "op=read,delay=250\n")
    t0 = time.monotonic()
    got = [h.pread(BLOCK, (60 + i) * BLOCK) for i in range(3)]
    dt = time.monotonic() - t0
    check("op=read,delay=250: 3 READs take >= 0.75 s (%.3f s) and return "
          "the delayed writes' bytes" % dt, dt >= 0.75 and
          got == [content(60 + i, 1) for i in range(3)])
    clear_rules(rules)
    h.shutdown()


# --- stream -----------------------------------------------------------------

def run_stream(bundle, port, export, rules, state):
    h = connect(bundle, port, export)
    nblocks = min(h.get_size() // BLOCK, 4096)
    expected = {}
    # Generation 0 everywhere first, 64 KiB at a time.
    per = 16
    for b in range(0, nblocks, per):
        h.pwrite(b"".join(content(b + i, 0) for i in range(per)), b * BLOCK)
        for i in range(per):
            expected[b + i] = 0
    h.flush()

    # Rounds of writes to every block in a random order, 16 in flight.
    # While they run, the rules change: every write fails for a while,
    # then a window of ENOSPC, then a delay, then no fault.
    phases = [(1500, "op=write,errno=EIO\n"), (2500, None),
              (4000, "op=write,errno=ENOSPC,nth=100,count=300\n"),
              (5500, "op=write,delay=20\n"), (6500, None),
              (7000, "op=write,errno=ETIMEDOUT,nth=7,count=50\n"),
              (8000, None)]
    order = []
    for rnd in range(1, 4):
        blocks = list(range(nblocks))
        random.Random(rnd).shuffle(blocks)
        order += [(b, rnd) for b in blocks]
    inflight = {}
    acked = failed = submitted = 0
    errors = {}
    bufs = {}
    busy = set()
    i = 0
    while i < len(order) or inflight:
        while i < len(order) and len(inflight) < 16:
            b, g = order[i]
            if b in busy:
                break  # never two writes to one block at once
            if phases and submitted >= phases[0][0]:
                _, text = phases.pop(0)
                if text:
                    set_rules(rules, text)
                else:
                    clear_rules(rules)
            bufs[(b, g)] = content(b, g)
            c = h.aio_pwrite(bufs[(b, g)], b * BLOCK)
            inflight[c] = (b, g)
            busy.add(b)
            submitted += 1
            i += 1
        h.poll(1000)
        for c, (b, g) in list(inflight.items()):
            try:
                done = h.aio_command_completed(c)
            except nbd.Error as e:
                failed += 1
                errors[errname(errnum(e))] = errors.get(errname(errnum(e)),
                                                      0) + 1
                done = None
            if done is False:
                continue
            if done:
                expected[b] = g
                acked += 1
            del inflight[c]
            del bufs[(b, g)]
            busy.discard(b)
    clear_rules(rules)
    print("info: %d writes: %d acknowledged, %d failed %s" % (
        submitted, acked, failed, errors))
    check("the connection carried the whole stream (every write answered)",
          acked + failed == submitted, submitted, acked + failed)
    check("faults hit the stream (EIO, ENOSPC and ETIMEDOUT->EIO)",
          errors.get("EIO", 0) > 0 and errors.get("ENOSPC", 0) > 0,
          "EIO and ENOSPC failures", errors)
    with open(state, "w") as f:
        json.dump({"nblocks": nblocks, "expected": expected}, f)
    h.shutdown()


def run_verify(bundle, port, export, state):
    with open(state) as f:
        st = json.load(f)
    expected = {int(k): v for k, v in st["expected"].items()}
    h = connect(bundle, port, export)
    bad = []
    per = 64
    for b in range(0, st["nblocks"], per):
        if not any(b + i in expected for i in range(per)):
            continue
        data = h.pread(per * BLOCK, b * BLOCK)
        for i in range(per):
            if b + i not in expected:
                continue
            blk = data[i * BLOCK:(i + 1) * BLOCK]
            if blk != content(b + i, expected[b + i]):
                bad.append(b + i)
    check("every block holds its last acknowledged write (%d blocks)"
          % len(expected), not bad, "0 bad blocks", "%d bad, first %s"
          % (len(bad), bad[:5]))
    h.shutdown()


def run_fill(bundle, port, export, state, gen):
    per = MiB // BLOCK
    h = connect(bundle, port, export)
    nblocks = h.get_size() // BLOCK
    expected = {}
    if os.path.exists(state):
        with open(state) as f:
            expected = {int(k): v for k, v in json.load(f)["expected"].items()}
    inflight, errors = {}, {}
    acked = failed = 0
    nxt = 0
    while nxt < nblocks or inflight:
        while nxt < nblocks and len(inflight) < 8:
            buf = b"".join(content(nxt + i, gen) for i in range(per))
            inflight[h.aio_pwrite(buf, nxt * BLOCK)] = (nxt, buf)
            nxt += per
        h.poll(1000)
        for c, (b, _) in list(inflight.items()):
            try:
                if not h.aio_command_completed(c):
                    continue
                acked += 1
                for i in range(per):
                    expected[b + i] = gen
            except nbd.Error as e:
                failed += 1
                name = errname(errnum(e))
                errors[name] = errors.get(name, 0) + 1
                for i in range(per):
                    expected.pop(b + i, None)
            del inflight[c]
    try:
        h.flush()
        flushed = "ok"
    except nbd.Error as e:
        flushed = errname(errnum(e))
    with open(state, "w") as f:
        json.dump({"nblocks": nblocks, "expected": expected}, f)
    print("result acked=%d failed=%d errors=%s flush=%s" % (
        acked, failed, json.dumps(errors, sort_keys=True).replace(" ", ""),
        flushed))
    h.shutdown()


def main(argv):
    if len(argv) < 5:
        sys.stderr.write(__doc__)
        return 2
    mode, bundle, port, export = argv[1], argv[2], int(argv[3]), argv[4]
    if mode == "basic" and len(argv) == 6:
        run_basic(bundle, port, export, argv[5])
    elif mode == "stream" and len(argv) == 7:
        run_stream(bundle, port, export, argv[5], argv[6])
    elif mode == "verify" and len(argv) == 6:
        run_verify(bundle, port, export, argv[5])
    elif mode == "fill" and len(argv) == 7:
        run_fill(bundle, port, export, argv[5], int(argv[6]))
    else:
        sys.stderr.write(__doc__)
        return 2
    print("%d check(s) failed" % failures if failures else
          "all checks passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

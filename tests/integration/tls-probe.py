#!/usr/bin/python3
"""TLS and negotiation probes for tests/integration/test-tls-probe.sh.

Builds on probe.py's Conn (the NBD handshake by hand, Python ssl).

    tls-probe.py tls       HOST PORT BUNDLE NOCERT_BUNDLE
    tls-probe.py relay     HOST PORT
    tls-probe.py injection HOST PORT BUNDLE EXPORT
    tls-probe.py slow      HOST PORT BUNDLE TIMEOUT
    tls-probe.py halfopen  HOST PORT BUNDLE N TIMEOUT READY_FILE GO_FILE
    tls-probe.py names     HOST PORT BUNDLE OWN_TENANT OWN_EXPORT
                           FOREIGN_TENANT FOREIGN_EXPORT

tls: the protocol floor and cipher policy as a Python ssl client sees
them (the refusals must come from the server, as TLS alerts).
relay: prints a port; each connection to it is taken through the NBD
plaintext phase and NBD_OPT_STARTTLS to havend, then relayed byte for
byte, so that `openssl s_client` can speak TLS to havend.
injection: plaintext options pipelined behind NBD_OPT_STARTTLS are never
answered.
slow: clients that stop in the middle of the handshake are closed at
handshake_timeout (TIMEOUT seconds), however they dribble.
halfopen: N connections that stall (a third TCP only, a third after
STARTTLS with half a ClientHello, a third after a whole ClientHello);
writes READY_FILE when all are open, waits for GO_FILE, then waits until
havend has closed all of them and prints how long that took.
names: export names a tenant must not learn anything from; for every
form of another tenant's existing disk (FOREIGN_EXPORT, ending in '0')
and its twin that exists nowhere (ending in '9'), the replies to
NBD_OPT_GO, NBD_OPT_INFO, NBD_OPT_LIST_META_CONTEXT and
NBD_OPT_SET_META_CONTEXT are the same bytes but for that digit.

Every check prints one line; the exit status is 1 if any failed.
"""

import os
import select
import socket
import ssl
import struct
import sys
import threading
import warnings
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from probe import (Conn, Closed, Failures, IHAVEOPT, REP_MAGIC,  # noqa: E402
                   OPT_GO, OPT_INFO, OPT_LIST, OPT_STARTTLS,
                   OPT_LIST_META_CONTEXT, OPT_SET_META_CONTEXT, REP_ACK,
                   ERR, rep_name)

f = Failures()
# TLS 1.0 and 1.1 are deprecated in ssl: offering them is the point here.
warnings.filterwarnings("ignore", category=DeprecationWarning)


def bundle_paths(bundle):
    return (os.path.join(bundle, "ca-cert.pem"),
            os.path.join(bundle, "client-cert.pem"),
            os.path.join(bundle, "client-key.pem"))


def plain_to_starttls(host, port, timeout=10.0):
    """A connection that has sent NBD_OPT_STARTTLS and read the ACK."""
    c = Conn(host, port, timeout)
    c.greeting()
    c.client_flags(3)
    rtype, _, _ = c.opt(OPT_STARTTLS)
    if rtype != REP_ACK:
        raise Closed("STARTTLS answered %s" % rep_name(rtype))
    return c


def tls_context(bundle, minv, maxv, ciphers=None, cert=True):
    ca, crt, key = bundle_paths(bundle)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    # Let the client offer what the server must refuse: the refusal has
    # to be the server's.
    ctx.set_ciphers(ciphers or "DEFAULT:@SECLEVEL=0")
    ctx.minimum_version = minv
    ctx.maximum_version = maxv
    ctx.load_verify_locations(ca)
    if cert and os.path.exists(crt):
        ctx.load_cert_chain(crt, key)
    return ctx


def try_tls(host, port, ctx):
    """Returns (tls socket or None, error text)."""
    c = plain_to_starttls(host, port)
    try:
        s = ctx.wrap_socket(c.sock, server_hostname=host)
        return s, ""
    except (ssl.SSLError, OSError) as e:
        c.close()
        return None, "%s" % e


def nbd_list_ok(s):
    """True if an NBD_OPT_LIST under TLS gets its ACK (the session works)."""
    try:
        s.settimeout(5)
        s.sendall(struct.pack(">QII", IHAVEOPT, OPT_LIST, 0))
        while True:
            hdr = b""
            while len(hdr) < 20:
                chunk = s.recv(20 - len(hdr))
                if not chunk:
                    return False, "closed"
                hdr += chunk
            _, _, rtype, length = struct.unpack(">QIII", hdr)
            left = length
            while left:
                chunk = s.recv(left)
                if not chunk:
                    return False, "closed"
                left -= len(chunk)
            if rtype == REP_ACK:
                return True, "ACK"
            if rtype & ERR:
                return False, rep_name(rtype)
    except (ssl.SSLError, OSError) as e:
        return False, str(e)


# --- tls ---------------------------------------------------------------------

def run_tls(host, port, bundle, nocert):
    V = ssl.TLSVersion
    for name, v in (("TLS 1.0", V.TLSv1), ("TLS 1.1", V.TLSv1_1)):
        s, err = try_tls(host, port, tls_context(bundle, v, v))
        f.check("%s offered -> refused by the server (protocol_version "
                "alert)" % name, s is None and "PROTOCOL_VERSION" in err.upper()
                and "NO_PROTOCOLS" not in err.upper(),
                "alert protocol version", err or "handshake succeeded")
        if s:
            s.close()

    cbc = ("ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA384:"
           "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA:"
           "ECDHE-RSA-AES128-SHA256:AES128-SHA256:AES128-SHA:"
           "@SECLEVEL=0")
    s, err = try_tls(host, port, tls_context(bundle, V.TLSv1_2, V.TLSv1_2,
                                             cbc))
    f.check("TLS 1.2 with only CBC (non-AEAD) suites offered -> refused "
            "(handshake_failure alert)", s is None and
            "HANDSHAKE_FAILURE" in err.upper(), "alert handshake failure",
            err or "handshake succeeded with %s" % (s.cipher(),))
    if s:
        s.close()

    for name, minv, maxv, ciphers in (
            ("TLS 1.2 ECDHE-ECDSA-AES128-GCM", V.TLSv1_2, V.TLSv1_2,
             "ECDHE-ECDSA-AES128-GCM-SHA256"),
            ("TLS 1.2 ECDHE-ECDSA-CHACHA20-POLY1305", V.TLSv1_2, V.TLSv1_2,
             "ECDHE-ECDSA-CHACHA20-POLY1305"),
            ("TLS 1.3", V.TLSv1_3, V.TLSv1_3, None)):
        s, err = try_tls(host, port, tls_context(bundle, minv, maxv,
                                                 ciphers))
        ok, why = nbd_list_ok(s) if s else (False, err)
        f.check("%s -> accepted, NBD_OPT_LIST answered (%s%s)" % (
            name, s.version() if s else "-",
            " " + s.cipher()[0] if s else ""), ok, "ACK", why)
        if s:
            f.check("... no TLS compression", s.compression() is None,
                    None, s.compression())
            s.close()

    # Without a client certificate: TLS 1.3 completes on the client's side
    # and the server's certificate_required alert arrives with the first
    # read; TLS 1.2 fails in the handshake.  Either way no NBD reply.
    for name, v in (("TLS 1.3", V.TLSv1_3), ("TLS 1.2", V.TLSv1_2)):
        s, err = try_tls(host, port, tls_context(nocert, v, v, None,
                                                 cert=False))
        ok, why = nbd_list_ok(s) if s else (False, err)
        f.check("%s without a client certificate -> refused, no NBD reply "
                "(%s)" % (name, why[:80]), not ok and (
                    "CERTIFICATE_REQUIRED" in why.upper() or
                    "HANDSHAKE_FAILURE" in why.upper()),
                "alert certificate required / handshake failure", why)
        if s:
            s.close()


# --- relay for openssl s_client -------------------------------------------------

def relay_one(client, host, port):
    try:
        c = plain_to_starttls(host, port)
    except (Closed, OSError) as e:
        sys.stderr.write("relay: %s\n" % e)
        client.close()
        return
    up = c.sock
    up.settimeout(None)
    socks = [client, up]
    try:
        while True:
            r, _, _ = select.select(socks, [], [])
            for s in r:
                data = s.recv(65536)
                if not data:
                    return
                (up if s is client else client).sendall(data)
    except OSError:
        pass
    finally:
        client.close()
        up.close()


def run_relay(host, port):
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(16)
    print(ls.getsockname()[1])
    sys.stdout.flush()
    while True:
        client, _ = ls.accept()
        threading.Thread(target=relay_one, args=(client, host, port),
                         daemon=True).start()


# --- STARTTLS injection ----------------------------------------------------------

def run_injection(host, port, bundle, export):
    n = export.encode()
    go = struct.pack(">QII", IHAVEOPT, OPT_GO, 4 + len(n) + 2) + \
        struct.pack(">I", len(n)) + n + b"\0\0"
    lst = struct.pack(">QII", IHAVEOPT, OPT_LIST, 0)
    cases = [("NBD_OPT_GO", go), ("NBD_OPT_LIST", lst),
             ("NBD_OPT_LIST x3", lst * 3)]
    for name, payload in cases:
        c = Conn(host, port)
        c.greeting()
        c.client_flags(3)
        # STARTTLS and the injected option leave in one segment, as a
        # man in the middle would append them.
        c.sock.sendall(struct.pack(">QII", IHAVEOPT, OPT_STARTTLS, 0) +
                       payload)
        _, rtype, _ = c.read_rep()
        got = b""
        c.sock.settimeout(3)
        try:
            while True:
                chunk = c.sock.recv(4096)
                if not chunk:
                    break
                got += chunk
        except socket.timeout:
            pass
        except OSError:
            pass
        option_reply = struct.pack(">Q", REP_MAGIC) in got
        f.check("STARTTLS + pipelined plaintext %s: STARTTLS ACKed, the "
                "injected option never answered (%d bytes after the ACK%s)"
                % (name, len(got), ", a TLS alert" if got[:1] == b"\x15"
                   else ""), rtype == REP_ACK and not option_reply and
                (not got or got[:1] == b"\x15"),
                "no option reply, connection closed",
                "%s, %d bytes %r" % (rep_name(rtype), len(got), got[:24]))
        c.close()

    # The injected bytes do not survive into a TLS session either: a
    # client that sends STARTTLS, then plaintext, then a real handshake
    # gets no session in which the injected option is answered.
    c = Conn(host, port)
    c.greeting()
    c.client_flags(3)
    c.sock.sendall(struct.pack(">QII", IHAVEOPT, OPT_STARTTLS, 0) + lst)
    c.read_rep()
    ctx = tls_context(bundle, ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3)
    try:
        s = ctx.wrap_socket(c.sock, server_hostname=host)
        ok, why = nbd_list_ok(s)
        established = "session established, LIST %s" % why
    except (ssl.SSLError, OSError) as e:
        established = "no session (%s)" % e
        ok = False
    f.check("a TLS handshake after the injected bytes fails (%s)"
            % established[:90], not ok, "no session", established)
    c.close()


# --- slow clients ------------------------------------------------------------------

def client_hello(host):
    """The bytes of a real ClientHello (TLS 1.2-1.3)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname=host)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


def wait_all_closed(socks, deadline):
    """Reads and drops until every socket saw EOF/reset or the deadline.
    Returns the time each one closed (None if still open)."""
    closed = [None] * len(socks)
    live = {s.fileno(): i for i, s in enumerate(socks)}
    poller = select.poll()
    for fd in live:
        poller.register(fd, select.POLLIN | select.POLLERR | select.POLLHUP)
    while live and time.monotonic() < deadline:
        for fd, _ in poller.poll(200):
            i = live.get(fd)
            if i is None:
                continue
            try:
                data = socks[i].recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                closed[i] = time.monotonic()
                poller.unregister(fd)
                del live[fd]
    return closed


def stall_kind(host, port, kind, hello):
    """One stalled connection of a kind: 0 TCP only, 1 half a ClientHello
    after STARTTLS, 2 a whole ClientHello after STARTTLS."""
    if kind == 0:
        s = socket.create_connection((host, port), timeout=10)
    else:
        c = plain_to_starttls(host, port)
        s = c.sock
        s.sendall(hello[:len(hello) // 2] if kind == 1 else hello)
    s.setblocking(False)
    return s


def run_slow(host, port, bundle, timeout):
    hello = client_hello(host)
    names = ["TCP connected, nothing sent",
             "STARTTLS, then half a ClientHello",
             "STARTTLS and a whole ClientHello, then silence",
             "one byte of a ClientHello every 0.5 s (dribbling)",
             "TLS up, then no option for ever"]
    socks, t0 = [], []
    for kind in range(5):
        t0.append(time.monotonic())
        if kind < 3:
            socks.append(stall_kind(host, port, kind, hello))
        elif kind == 3:
            c = plain_to_starttls(host, port)
            socks.append(c.sock)
        else:
            c = plain_to_starttls(host, port)
            ctx = tls_context(bundle, ssl.TLSVersion.TLSv1_3,
                              ssl.TLSVersion.TLSv1_3)
            socks.append(ctx.wrap_socket(c.sock, server_hostname=host))
    # The dribbler keeps sending; the others wait.
    drib = socks[3]
    pos, last = 0, 0.0
    deadline = time.monotonic() + timeout + 10
    closed = [None] * 5
    for s in socks:
        s.setblocking(False)
    while time.monotonic() < deadline and None in closed:
        now = time.monotonic()
        if closed[3] is None and now - last >= 0.5 and pos < len(hello):
            try:
                drib.send(hello[pos:pos + 1])
                pos += 1
            except OSError:
                pass
            last = now
        for i, s in enumerate(socks):
            if closed[i] is not None:
                continue
            try:
                data = s.recv(65536)
            except (BlockingIOError, ssl.SSLWantReadError):
                continue
            except (OSError, ssl.SSLError):
                data = b""
            if not data:
                closed[i] = time.monotonic()
        time.sleep(0.05)
    for i, name in enumerate(names):
        dt = closed[i] - t0[i] if closed[i] else None
        f.check("%s -> closed at the %d s handshake timeout (%s)" % (
            name, timeout, "%.2f s" % dt if dt else "still open"),
            dt is not None and timeout - 0.5 <= dt <= timeout + 3,
            "%d-%d s" % (timeout, timeout + 3),
            "%.2f s" % dt if dt else "open after %d s" % (timeout + 10))
        socks[i].close()


def run_halfopen(host, port, bundle, n, timeout, ready, go):
    hello = client_hello(host)
    socks, kinds = [], [0, 0, 0]
    t_first = time.monotonic()
    for i in range(n):
        kind = i % 3
        try:
            socks.append(stall_kind(host, port, kind, hello))
            kinds[kind] += 1
        except (Closed, OSError) as e:
            f.check("connection %d of %d opened" % (i + 1, n), False,
                    "open", str(e))
            break
    t_last = time.monotonic()
    f.check("%d half-open connections opened in %.1f s (TCP only %d, half "
            "a ClientHello %d, whole ClientHello %d)" % (
                len(socks), t_last - t_first, kinds[0], kinds[1], kinds[2]),
            len(socks) == n, n, len(socks))
    with open(ready, "w") as fh:
        fh.write("%d\n" % len(socks))
    while not os.path.exists(go):
        time.sleep(0.1)
    closed = wait_all_closed(socks, t_last + timeout + 15)
    still = sum(1 for c in closed if c is None)
    late = max((c - t_first for c in closed if c), default=0)
    f.check("havend closed all %d at its %d s handshake timeout (last after "
            "%.1f s)" % (len(socks), timeout, late), still == 0 and
            late <= (t_last - t_first) + timeout + 5,
            "all closed by %.0f s" % ((t_last - t_first) + timeout + 5),
            "%d still open, last closed after %.1f s" % (still, late))
    for s in socks:
        s.close()


# --- export names ----------------------------------------------------------------

def raw_option(c, opt, data):
    """Send one option; return every reply's raw bytes up to the final."""
    c.send_opt(opt, data)
    raw = b""
    while True:
        hdr = c.recv_exact(20)
        magic, ropt, rtype, length = struct.unpack(">QIII", hdr)
        body = c.recv_exact(length) if length else b""
        raw += hdr + body
        if magic != REP_MAGIC or rtype == REP_ACK or rtype & ERR:
            return rtype, raw


def name_requests(name):
    n = name
    gi = struct.pack(">I", len(n)) + n + struct.pack(">HH", 1, 3)
    meta = struct.pack(">I", len(n)) + n + struct.pack(">I", 1) + \
        struct.pack(">I", 15) + b"base:allocation"
    return [("NBD_OPT_GO", OPT_GO, gi), ("NBD_OPT_INFO", OPT_INFO, gi),
            ("NBD_OPT_LIST_META_CONTEXT", OPT_LIST_META_CONTEXT, meta),
            ("NBD_OPT_SET_META_CONTEXT", OPT_SET_META_CONTEXT, meta)]


def same_but_name(raw1, raw2):
    """True if two replies are the same bytes except where the names
    differ: the foreign name ends in '0', its absent twin in '9', so an
    echo of the name may differ there and nowhere else."""
    return len(raw1) == len(raw2) and all(
        x == y or (x, y) == (0x30, 0x39) for x, y in zip(raw1, raw2))


def run_names(host, port, bundle, own_tenant, own, tenant, foreign):
    c = Conn(host, port)
    c.greeting()
    c.client_flags(3)
    c.starttls(bundle)
    if not foreign.endswith("0"):
        raise SystemExit("names: FOREIGN_EXPORT must end in '0'")
    t, fb = tenant.encode(), foreign.encode()
    op = t + b"/" + fb
    forms = [
        ("another tenant's VM/DISK", fb),
        ("operator syntax TENANT/VM/DISK", op),
        ("another tenant's disk @latest", fb + b"@latest"),
        ("operator syntax @latest", op + b"@latest"),
        ("operator syntax @1", op + b"@1"),
        ("operator syntax @test-1", op + b"@test-1"),
        ("'../TENANT/VM/DISK'", b"../" + op),
        ("'x/../TENANT/VM/DISK'", b"x/../" + op),
        ("leading '/'", b"/" + op),
        ("trailing '/'", op + b"/"),
        ("'//' inside", t + b"//" + fb),
        ("NUL after the name", op + b"\0"),
        ("NUL inside the name", op + b"\0x"),
        ("padded with NULs to 4096 bytes", op.ljust(4096, b"\0")),
        ("padded with '/' to 4096 bytes", op.ljust(4096, b"/")),
        ("upper case", op.upper()),
    ]
    for what, theirs in forms:
        i = theirs.rindex(b"0")
        nothing = theirs[:i] + b"9" + theirs[i + 1:]
        for (rname, opt, d1), (_, _, d2) in zip(name_requests(theirs),
                                                name_requests(nothing)):
            rt1, raw1 = raw_option(c, opt, d1)
            rt2, raw2 = raw_option(c, opt, d2)
            f.check("%s: %s -> %s, the same bytes as for a disk that "
                    "exists nowhere" % (what, rname, rep_name(rt1)),
                    same_but_name(raw1, raw2) and rt1 & ERR != 0,
                    "identical error replies", "%s %r vs %s %r" % (
                        rep_name(rt1), raw1[:100], rep_name(rt2),
                        raw2[:100]))

    # Names that are wrong in themselves: refused, the connection goes on.
    own_b = own.encode()
    singles = [("'..'", b".."), ("'/'", b"/"), ("'.'", b"."),
               ("a NUL byte", b"\0"), ("4096 x 'a'", b"a" * 4096),
               ("'../' before its own disk", b"../" + own_b),
               ("its own disk in operator syntax (%s/%s)" % (own_tenant, own),
                own_tenant.encode() + b"/" + own_b),
               ("control characters", own_b + b"\n\r\t"),
               ("invalid UTF-8", b"\xff\xfe" + own_b)]
    for what, name in singles:
        rt, raw = raw_option(c, OPT_GO, name_requests(name)[0][2])
        f.check("%s -> %s (refused)" % (what, rep_name(rt)), rt & ERR != 0,
                "an error reply", rep_name(rt))
    ok, why = nbd_list_ok(c.tls)
    f.check("after all that the connection still answers NBD_OPT_LIST",
            ok, "ACK", why)
    c.close()

    # A 4097-byte name is over the NBD limit: an error or a close, never
    # an export.
    c = Conn(host, port)
    c.greeting()
    c.client_flags(3)
    c.starttls(bundle)
    try:
        rt, raw = raw_option(c, OPT_GO, name_requests(b"a" * 4097)[0][2])
        what = rep_name(rt)
        ok = rt & ERR != 0
    except (Closed, socket.timeout, OSError) as e:
        what, ok = "closed (%s)" % e, True
    f.check("a 4097-byte name -> %s" % what, ok, "error or close", what)
    c.close()


def main(argv):
    if len(argv) < 4:
        sys.stderr.write(__doc__)
        return 2
    mode, host, port = argv[1], argv[2], int(argv[3])
    a = argv[4:]
    try:
        if mode == "tls" and len(a) == 2:
            run_tls(host, port, a[0], a[1])
        elif mode == "relay" and not a:
            run_relay(host, port)
        elif mode == "injection" and len(a) == 2:
            run_injection(host, port, a[0], a[1])
        elif mode == "slow" and len(a) == 2:
            run_slow(host, port, a[0], int(a[1]))
        elif mode == "halfopen" and len(a) == 5:
            run_halfopen(host, port, a[0], int(a[1]), int(a[2]), a[3], a[4])
        elif mode == "names" and len(a) == 5:
            run_names(host, port, a[0], a[1], a[2], a[3], a[4])
        else:
            sys.stderr.write(__doc__)
            return 2
    except (Closed, socket.timeout, ssl.SSLError, OSError) as e:
        f.check("%s ran to the end" % mode, False, "a live connection",
                "%s: %s" % (type(e).__name__, e))
    print("%d check(s) failed" % f.count if f.count else "all checks passed")
    return 1 if f.count else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

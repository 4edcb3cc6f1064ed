#!/usr/bin/python3
"""Raw NBD-over-TLS probe for haven's integration tests.

Builds every handshake message and request by hand (struct + ssl), so the
tests can send what no well-behaved client sends and check the exact bytes
that come back.  Run with /usr/bin/python3 (standard library only).

    probe.py all          HOST PORT BUNDLE EXPORT [--list NAME]...
    probe.py options      HOST PORT BUNDLE EXPORT [--list NAME]...
    probe.py transmission HOST PORT BUNDLE EXPORT
    probe.py garbage      HOST PORT BUNDLE EXPORT [--count N]
    probe.py go           HOST PORT BUNDLE EXPORT
    probe.py hold         HOST PORT BUNDLE EXPORT

BUNDLE is a client directory (ca-cert.pem, client-cert.pem, client-key.pem).
EXPORT must be a writable disk of at least 16 MiB that the bundle may open;
the transmission checks write to it.  --list gives the names NBD_OPT_LIST
must return (exactly, in any order); without it the list is only printed.

"go" prints the reply to NBD_OPT_GO on one line ("reply=NAME message=...")
and exits 0 whatever the reply; "hold" opens EXPORT, prints "ready", then
waits for the server to close the connection and prints "closed at=T"
(T: the unix time in seconds, to the microsecond).

Every check prints one line; a failed check prints what was expected and
what came back.  The exit status is 1 if any check failed.
"""

import os
import socket
import ssl
import struct
import sys
import time

NBD_MAGIC = 0x4E42444D41474943
IHAVEOPT = 0x49484156454F5054
REP_MAGIC = 0x0003E889045565A9
REQUEST_MAGIC = 0x25609513
SIMPLE_MAGIC = 0x67446698
STRUCTURED_MAGIC = 0x668E33EF

OPT_EXPORT_NAME, OPT_ABORT, OPT_LIST, OPT_STARTTLS = 1, 2, 3, 5
OPT_INFO, OPT_GO, OPT_STRUCTURED_REPLY = 6, 7, 8
OPT_LIST_META_CONTEXT, OPT_SET_META_CONTEXT = 9, 10

REP_ACK, REP_SERVER, REP_INFO, REP_META_CONTEXT = 1, 2, 3, 4
ERR = 0x80000000
REP_NAMES = {
    1: "NBD_REP_ACK", 2: "NBD_REP_SERVER", 3: "NBD_REP_INFO",
    4: "NBD_REP_META_CONTEXT",
    ERR | 1: "NBD_REP_ERR_UNSUP", ERR | 2: "NBD_REP_ERR_POLICY",
    ERR | 3: "NBD_REP_ERR_INVALID", ERR | 4: "NBD_REP_ERR_PLATFORM",
    ERR | 5: "NBD_REP_ERR_TLS_REQD", ERR | 6: "NBD_REP_ERR_UNKNOWN",
    ERR | 7: "NBD_REP_ERR_SHUTDOWN", ERR | 8: "NBD_REP_ERR_BLOCK_SIZE_REQD",
    ERR | 9: "NBD_REP_ERR_TOO_BIG", ERR | 10: "NBD_REP_ERR_EXT_HEADER_REQD",
}
ERR_UNSUP, ERR_INVALID = ERR | 1, ERR | 3
ERR_TLS_REQD, ERR_UNKNOWN, ERR_TOO_BIG = ERR | 5, ERR | 6, ERR | 9

INFO_EXPORT, INFO_BLOCK_SIZE = 0, 3

CMD_READ, CMD_WRITE, CMD_DISC, CMD_FLUSH = 0, 1, 2, 3
CMD_TRIM, CMD_CACHE, CMD_WRITE_ZEROES, CMD_BLOCK_STATUS = 4, 5, 6, 7
FLAG_FUA = 1

REPLY_FLAG_DONE = 1
CHUNK_NONE, CHUNK_DATA, CHUNK_HOLE, CHUNK_BLOCK_STATUS = 0, 1, 2, 5
CHUNK_ERROR, CHUNK_ERROR_OFFSET = 0x8001, 0x8002

TF_HAS_FLAGS, TF_READ_ONLY, TF_FLUSH, TF_FUA = 1, 2, 4, 8
TF_TRIM, TF_WRITE_ZEROES, TF_DF, TF_MULTI_CONN = 0x20, 0x40, 0x80, 0x100
TF_FAST_ZERO = 0x800

EINVAL, ENOSPC = 22, 28
MiB = 1 << 20


def rep_name(t):
    return REP_NAMES.get(t, "0x%08x" % t)


class Closed(Exception):
    """The server closed (or reset) the connection."""


class Failures:
    def __init__(self):
        self.count = 0

    def check(self, what, ok, expected=None, actual=None):
        if ok:
            print("ok:   %s" % what)
        else:
            self.count += 1
            print("FAIL: %s" % what)
            if expected is not None or actual is not None:
                print("      expected: %s" % (expected,))
                print("      actual:   %s" % (actual,))
        sys.stdout.flush()
        return ok

    def note(self, msg):
        print("info: %s" % msg)
        sys.stdout.flush()


class Conn:
    """One NBD connection: plaintext until starttls(), TLS afterwards."""

    def __init__(self, host, port, timeout=10.0):
        self.host = host
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.tls = None

    @property
    def s(self):
        return self.tls if self.tls is not None else self.sock

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass

    def send(self, data):
        try:
            self.s.sendall(data)
        except (ConnectionError, ssl.SSLError, BrokenPipeError) as e:
            raise Closed("send: %s" % e)

    def recv_exact(self, n):
        buf = bytearray()
        while len(buf) < n:
            try:
                chunk = self.s.recv(min(n - len(buf), 1 << 20))
            except socket.timeout:
                raise
            except (ConnectionError, ssl.SSLError, OSError) as e:
                raise Closed("recv: %s" % e)
            if not chunk:
                raise Closed("EOF after %d of %d bytes" % (len(buf), n))
            buf += chunk
        return bytes(buf)

    def wait_closed(self, timeout=5.0):
        """True if the server closes within timeout (all data read and
        dropped); False if the connection is still open then."""
        self.s.settimeout(timeout)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                try:
                    chunk = self.s.recv(65536)
                except socket.timeout:
                    return False
                except (ConnectionError, ssl.SSLError, OSError):
                    return True
                if not chunk:
                    return True
            return False
        finally:
            try:
                self.s.settimeout(10.0)
            except OSError:
                pass

    # --- handshake -------------------------------------------------------

    def greeting(self):
        magic, opt, hflags = struct.unpack(">QQH", self.recv_exact(18))
        if magic != NBD_MAGIC or opt != IHAVEOPT:
            raise Closed("bad greeting %016x %016x" % (magic, opt))
        return hflags

    def client_flags(self, flags=3):
        self.send(struct.pack(">I", flags))

    def send_opt(self, opt, data=b"", length=None):
        if length is None:
            length = len(data)
        self.send(struct.pack(">QII", IHAVEOPT, opt, length) + data)

    def read_rep(self):
        magic, opt, rtype, length = struct.unpack(">QIII", self.recv_exact(20))
        if magic != REP_MAGIC:
            raise Closed("bad option reply magic %016x" % magic)
        data = self.recv_exact(length) if length else b""
        return opt, rtype, data

    def opt(self, opt, data=b""):
        """Send one option; return (final reply type, its data, list of
        the (type, data) replies before it)."""
        self.send_opt(opt, data)
        before = []
        while True:
            ropt, rtype, rdata = self.read_rep()
            if ropt != opt:
                raise Closed("reply for option %d while waiting for %d"
                             % (ropt, opt))
            if rtype == REP_ACK or rtype & ERR:
                return rtype, rdata, before
            before.append((rtype, rdata))

    def starttls(self, bundle):
        rtype, _, _ = self.opt(OPT_STARTTLS)
        if rtype != REP_ACK:
            raise Closed("STARTTLS answered %s" % rep_name(rtype))
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_verify_locations(os.path.join(bundle, "ca-cert.pem"))
        cert = os.path.join(bundle, "client-cert.pem")
        if os.path.exists(cert):
            ctx.load_cert_chain(cert, os.path.join(bundle, "client-key.pem"))
        self.tls = ctx.wrap_socket(self.sock, server_hostname=self.host)
        return self.tls.version()

    def go(self, name, infos=(INFO_BLOCK_SIZE,), opt=OPT_GO):
        n = name.encode()
        data = struct.pack(">I", len(n)) + n + struct.pack(">H", len(infos))
        data += b"".join(struct.pack(">H", i) for i in infos)
        rtype, rdata, before = self.opt(opt, data)
        info = {}
        for t, d in before:
            if t == REP_INFO and len(d) >= 2:
                (itype,) = struct.unpack(">H", d[:2])
                if itype == INFO_EXPORT and len(d) == 12:
                    info["size"], info["flags"] = struct.unpack(">QH", d[2:])
                elif itype == INFO_BLOCK_SIZE and len(d) == 14:
                    info["block_size"] = struct.unpack(">III", d[2:])
        return rtype, rdata, info

    def set_meta(self, name, queries):
        n = name.encode()
        data = struct.pack(">I", len(n)) + n + struct.pack(">I", len(queries))
        for q in queries:
            data += struct.pack(">I", len(q)) + q.encode()
        return self.opt(OPT_SET_META_CONTEXT, data)

    # --- transmission ----------------------------------------------------

    def request(self, cmd, cookie, offset, length, flags=0, payload=b"",
                magic=REQUEST_MAGIC):
        self.send(struct.pack(">IHHQQI", magic, flags, cmd, cookie, offset,
                              length) + payload)

    def reply(self, structured, read_len=0):
        """Read one whole reply.  Returns dict: kind (simple|structured),
        cookie, error, data (bytes for READ, covering the request),
        chunks (list of (type, payload)).  For a simple reply to a
        successful READ, read_len bytes of data follow."""
        (magic,) = struct.unpack(">I", self.recv_exact(4))
        if magic == SIMPLE_MAGIC:
            error, cookie = struct.unpack(">IQ", self.recv_exact(12))
            data = self.recv_exact(read_len) if (error == 0 and read_len) \
                else b""
            return {"kind": "simple", "cookie": cookie, "error": error,
                    "data": data, "chunks": []}
        if magic != STRUCTURED_MAGIC:
            raise Closed("bad reply magic 0x%08x" % magic)
        if not structured:
            raise Closed("structured reply chunk without negotiation")
        chunks, error, cookie = [], 0, None
        while True:
            if chunks:
                (magic,) = struct.unpack(">I", self.recv_exact(4))
                if magic != STRUCTURED_MAGIC:
                    raise Closed("bad chunk magic 0x%08x" % magic)
            flags, ctype, ck, length = struct.unpack(">HHQI",
                                                     self.recv_exact(16))
            payload = self.recv_exact(length) if length else b""
            if cookie is not None and ck != cookie:
                raise Closed("interleaved cookies %d/%d" % (cookie, ck))
            cookie = ck
            chunks.append((ctype, payload))
            if ctype in (CHUNK_ERROR, CHUNK_ERROR_OFFSET) and len(payload) >= 4:
                (error,) = struct.unpack(">I", payload[:4])
            if flags & REPLY_FLAG_DONE:
                break
        return {"kind": "structured", "cookie": cookie, "error": error,
                "data": None, "chunks": chunks}


def read_content(rep, offset, length):
    """Reassemble a structured READ reply into bytes; None if the chunks do
    not cover [offset, offset+length) exactly once."""
    buf = bytearray(length)
    covered = 0
    for ctype, p in rep["chunks"]:
        if ctype == CHUNK_DATA:
            (o,) = struct.unpack(">Q", p[:8])
            d = p[8:]
            if o < offset or o + len(d) > offset + length:
                return None
            buf[o - offset:o - offset + len(d)] = d
            covered += len(d)
        elif ctype == CHUNK_HOLE:
            o, n = struct.unpack(">QI", p)
            if o < offset or o + n > offset + length:
                return None
            covered += n
    return bytes(buf) if covered == length else None


def chunk_types(rep):
    names = {0: "NONE", 1: "OFFSET_DATA", 2: "OFFSET_HOLE",
             5: "BLOCK_STATUS", 0x8001: "ERROR", 0x8002: "ERROR_OFFSET"}
    return [names.get(t, "0x%x" % t) for t, _ in rep["chunks"]]


def open_export(host, port, bundle, export, structured=True, meta=False):
    """A connection in transmission phase.  Returns (conn, info)."""
    c = Conn(host, port)
    hflags = c.greeting()
    c.client_flags(3 if hflags & 2 else 1)
    c.starttls(bundle)
    if structured:
        rtype, _, _ = c.opt(OPT_STRUCTURED_REPLY)
        if rtype != REP_ACK:
            raise Closed("STRUCTURED_REPLY answered %s" % rep_name(rtype))
    if meta:
        rtype, _, ctxs = c.set_meta(export, ["base:allocation"])
        if rtype != REP_ACK or not ctxs:
            raise Closed("SET_META_CONTEXT answered %s" % rep_name(rtype))
    rtype, data, info = c.go(export)
    if rtype != REP_ACK:
        raise Closed("GO %r answered %s %r" % (export, rep_name(rtype), data))
    return c, info


# --- option phase ----------------------------------------------------------

def run_options(f, host, port, bundle, export, expect_list):
    print("== option phase")
    c = Conn(host, port)
    hflags = c.greeting()
    f.check("greeting offers FIXED_NEWSTYLE and no unknown flags",
            hflags & 1 and not hflags & ~3, "0x0001 or 0x0003",
            "0x%04x" % hflags)
    c.client_flags(3 if hflags & 2 else 1)

    for name, opt, data in [
            ("NBD_OPT_LIST", OPT_LIST, b""),
            ("NBD_OPT_GO", OPT_GO,
             struct.pack(">I", len(export)) + export.encode() + b"\0\0"),
            ("NBD_OPT_INFO", OPT_INFO,
             struct.pack(">I", len(export)) + export.encode() + b"\0\0"),
            ("NBD_OPT_STRUCTURED_REPLY", OPT_STRUCTURED_REPLY, b""),
            ("unknown option 99", 99, b""),
            ("unknown option 99 with payload", 99, b"x" * 17)]:
        rtype, _, before = c.opt(opt, data)
        f.check("before TLS: %s -> NBD_REP_ERR_TLS_REQD" % name,
                rtype == ERR_TLS_REQD and not before,
                "NBD_REP_ERR_TLS_REQD", "%s (+%d replies before)"
                % (rep_name(rtype), len(before)))

    rtype, _, _ = c.opt(OPT_STARTTLS, b"x")
    f.check("STARTTLS with a 1-byte payload -> NBD_REP_ERR_INVALID",
            rtype == ERR_INVALID, "NBD_REP_ERR_INVALID", rep_name(rtype))
    try:
        version = c.starttls(bundle)
    except Closed as e:
        f.note("server closed after the bad STARTTLS (%s); "
               "new connection" % e)
        c = Conn(host, port)
        c.greeting()
        c.client_flags(3)
        version = c.starttls(bundle)
    f.check("TLS handshake with the tenant bundle (%s)" % version,
            version in ("TLSv1.2", "TLSv1.3"), "TLSv1.2 or TLSv1.3", version)

    rtype, _, _ = c.opt(OPT_STARTTLS)
    f.check("second STARTTLS under TLS -> NBD_REP_ERR_INVALID",
            rtype == ERR_INVALID, "NBD_REP_ERR_INVALID", rep_name(rtype))

    rtype, _, _ = c.opt(99, os.urandom(300))
    f.check("after TLS: unknown option 99 with 300-byte payload -> "
            "NBD_REP_ERR_UNSUP", rtype == ERR_UNSUP, "NBD_REP_ERR_UNSUP",
            rep_name(rtype))

    rtype, _, before = c.opt(OPT_LIST)
    names = []
    for t, d in before:
        if t == REP_SERVER and len(d) >= 4:
            (n,) = struct.unpack(">I", d[:4])
            names.append(d[4:4 + n].decode("utf-8", "replace"))
    f.check("NBD_OPT_LIST after the unknown option still works (ACK)",
            rtype == REP_ACK and all(t == REP_SERVER for t, _ in before),
            "NBD_REP_SERVER... then NBD_REP_ACK",
            [rep_name(t) for t, _ in before] + [rep_name(rtype)])
    f.note("NBD_OPT_LIST returned %s" % sorted(names))
    if expect_list is not None:
        f.check("NBD_OPT_LIST shows exactly the tenant's disks",
                sorted(names) == sorted(expect_list), sorted(expect_list),
                sorted(names))

    long_name = "v" * 5000
    rtype, _, info = c.go(long_name)
    f.check("NBD_OPT_GO with a 5000-byte export name -> NBD_REP_ERR_INVALID",
            rtype == ERR_INVALID, "NBD_REP_ERR_INVALID", rep_name(rtype))

    rtype, msg, _ = c.go("no-such-vm/no-such-disk")
    f.check("NBD_OPT_GO to a nonexistent export -> NBD_REP_ERR_UNKNOWN",
            rtype == ERR_UNKNOWN, "NBD_REP_ERR_UNKNOWN",
            "%s %r" % (rep_name(rtype), msg))

    rtype, _, _ = c.opt(OPT_STRUCTURED_REPLY)
    f.check("NBD_OPT_STRUCTURED_REPLY under TLS -> ACK",
            rtype == REP_ACK, "NBD_REP_ACK", rep_name(rtype))

    rtype, _, ctxs = c.set_meta(export, ["base:allocation"])
    f.check("SET_META_CONTEXT base:allocation -> one META_CONTEXT + ACK",
            rtype == REP_ACK and len(ctxs) == 1
            and ctxs[0][0] == REP_META_CONTEXT
            and ctxs[0][1][4:] == b"base:allocation",
            "META_CONTEXT 'base:allocation', ACK",
            "%s %s" % ([(rep_name(t), d[4:]) for t, d in ctxs],
                       rep_name(rtype)))

    rtype, msg, info = c.go(export)
    f.check("NBD_OPT_GO %r -> ACK" % export, rtype == REP_ACK, "NBD_REP_ACK",
            "%s %r" % (rep_name(rtype), msg))
    if rtype == REP_ACK:
        flags = info.get("flags", 0)
        need = (TF_HAS_FLAGS | TF_FLUSH | TF_FUA | TF_TRIM | TF_WRITE_ZEROES
                | TF_FAST_ZERO | TF_MULTI_CONN | TF_DF)
        f.check("INFO_EXPORT flags: HAS_FLAGS FLUSH FUA TRIM WRITE_ZEROES "
                "FAST_ZERO MULTI_CONN DF, not READ_ONLY",
                "flags" in info and flags & need == need
                and not flags & TF_READ_ONLY, "0x%04x set, 0x0002 clear"
                % need, "0x%04x" % flags if "flags" in info else "missing")
        bs = info.get("block_size")
        # The default preferred block is 256 KiB (haven.conf
        # preferred_block); never above the 4 MiB extent.
        f.check("INFO_BLOCK_SIZE: preferred 256 KiB, maximum 32 MiB",
                bs is not None and bs[1] == 256 * 1024 and bs[2] == 32 * MiB,
                "(min, 262144, 33554432)", bs)
        c.request(CMD_DISC, 1, 0, 0)
        f.check("NBD_CMD_DISC -> server closes the connection",
                c.wait_closed(), "close", "still open after 5 s")
    c.close()

    # EXPORT_NAME before TLS cannot be answered with an error: hard close,
    # and above all not the 134-byte export block.
    c = Conn(host, port)
    c.greeting()
    c.client_flags(1)
    c.send_opt(OPT_EXPORT_NAME, export.encode())
    got = b""
    closed = False
    c.sock.settimeout(5)
    try:
        while True:
            chunk = c.sock.recv(4096)
            if not chunk:
                closed = True
                break
            got += chunk
    except socket.timeout:
        pass
    except OSError:
        closed = True
    f.check("NBD_OPT_EXPORT_NAME before TLS -> connection closed, no data",
            closed and not got, "close with 0 bytes",
            "%s after %d bytes" % ("closed" if closed else "still open",
                                   len(got)))
    c.close()

    # The EXPORT_NAME fallback under TLS: size + flags, then 124 zero bytes
    # unless both sides chose NO_ZEROES.
    for cflags, want in ((3, 10), (1, 134)):
        c = Conn(host, port)
        hflags = c.greeting()
        if cflags & 2 and not hflags & 2:
            c.close()
            continue
        c.client_flags(cflags)
        c.starttls(bundle)
        c.send_opt(OPT_EXPORT_NAME, export.encode())
        got = b""
        c.s.settimeout(2)
        try:
            while len(got) < 200:
                chunk = c.s.recv(200)
                if not chunk:
                    break
                got += chunk
        except (socket.timeout, OSError, ssl.SSLError):
            pass
        ok = len(got) == want and got[10:] == bytes(want - 10)
        f.check("NBD_OPT_EXPORT_NAME under TLS, client flags %d -> %d bytes"
                % (cflags, want), ok, "%d bytes (size, flags%s)" % (
                    want, "" if want == 10 else ", 124 zeros"),
                "%d bytes" % len(got))
        c.close()

    # An option whose length is far beyond any legal option.
    c = Conn(host, port)
    c.greeting()
    c.client_flags(3)
    c.starttls(bundle)
    big = 100000
    outcome = None
    try:
        c.send_opt(OPT_GO, struct.pack(">I", big - 6) + b"n" * (big - 6)
                   + b"\0\0")
        _, rtype, _ = c.read_rep()
        outcome = rep_name(rtype)
    except (Closed, socket.timeout) as e:
        outcome = "connection closed (%s)" % e
    f.note("NBD_OPT_GO with option length %d: server answered %s"
           % (big, outcome))
    f.check("option length 100000 -> NBD_REP_ERR_TOO_BIG or close",
            outcome == "NBD_REP_ERR_TOO_BIG"
            or outcome.startswith("connection closed"),
            "NBD_REP_ERR_TOO_BIG or close", outcome)
    c.close()


# --- transmission phase ----------------------------------------------------

def run_transmission(f, host, port, bundle, export):
    print("== transmission phase")
    c, info = open_export(host, port, bundle, export)
    size = info["size"]
    f.note("export %r size %d flags 0x%04x" % (export, size, info["flags"]))
    cookie = [100]

    def req(cmd, off, length, flags=0, payload=b""):
        cookie[0] += 1
        c.request(cmd, cookie[0], off, length, flags, payload)
        rep = c.reply(True, length if cmd == CMD_READ else 0)
        if rep["cookie"] != cookie[0]:
            raise Closed("reply cookie %r, sent %d" % (rep["cookie"],
                                                       cookie[0]))
        return rep

    def read_ok(what, off, length, expect=None):
        rep = req(CMD_READ, off, length)
        data = read_content(rep, off, length) if rep["kind"] == "structured" \
            else None
        ok = rep["error"] == 0 and rep["kind"] == "structured" and \
            data is not None and (expect is None or data == expect)
        f.check(what, ok, "structured READ of %d bytes%s" % (
            length, "" if expect is None else " with the written bytes"),
            "%s error=%d chunks=%s%s" % (
                rep["kind"], rep["error"], chunk_types(rep),
                "" if data is None or expect is None or data == expect
                else " (content differs)"))
        return data

    pattern = os.urandom(65536)
    rep = req(CMD_WRITE, 4 * MiB - 1000, len(pattern), FLAG_FUA, pattern)
    f.check("WRITE+FUA 64 KiB across the 4 MiB boundary -> 0",
            rep["error"] == 0, 0, rep["error"])
    read_ok("READ it back (structured) -> same bytes", 4 * MiB - 1000,
            len(pattern), pattern)

    c.request(42, 4242, 0, 4096)
    rep = c.reply(True)
    f.check("unknown command 42 -> error 22 (NBD_EINVAL), cookie echoed",
            rep["error"] == EINVAL and rep["cookie"] == 4242, "22, cookie "
            "4242", "%d, cookie %r" % (rep["error"], rep["cookie"]))
    read_ok("after command 42 the connection still answers a READ",
            4 * MiB - 1000, len(pattern), pattern)

    rep = req(CMD_READ, size - 4096, 8192)
    f.check("READ past the end -> error 22 (structured ERROR chunk)",
            rep["error"] == EINVAL and rep["kind"] == "structured",
            "structured, error 22", "%s, error %d, chunks %s"
            % (rep["kind"], rep["error"], chunk_types(rep)))
    rep = req(CMD_READ, size, 512)
    f.check("READ starting at the end -> error 22", rep["error"] == EINVAL,
            22, rep["error"])

    for plen in (65536, 3 * MiB + 17):
        rep = req(CMD_WRITE, size, plen, 0, os.urandom(plen))
        f.check("WRITE past the end with %d-byte payload -> error 28 "
                "(NBD_ENOSPC)" % plen, rep["error"] == ENOSPC, 28,
                rep["error"])
        read_ok("next READ on the same connection works (payload drained)",
                4 * MiB - 1000, len(pattern), pattern)

    rep = req(CMD_WRITE, size - 1024, 4096, 0, os.urandom(4096))
    f.check("WRITE straddling the end -> error 28", rep["error"] == ENOSPC,
            28, rep["error"])

    rep = req(CMD_WRITE, 0, 4096, 0x80, b"\xee" * 4096)
    f.check("WRITE with an undefined flag (0x80) -> error 22",
            rep["error"] == EINVAL, 22, rep["error"])
    read_ok("READ after the bad-flag WRITE works and offset 0 is unchanged",
            0, 4096, bytes(4096))

    rep = req(CMD_BLOCK_STATUS, 0, MiB)
    f.check("BLOCK_STATUS without SET_META_CONTEXT -> error 22",
            rep["error"] == EINVAL, 22, "%d (%s)" % (rep["error"],
                                                    chunk_types(rep)))

    hole_off = 8 * MiB + 12345
    data = read_ok("structured READ of a never-written range", hole_off,
                   100000)
    f.check("... reads as zeros", data == bytes(100000), "100000 zero bytes",
            "non-zero data" if data is not None else "no data")
    rep = req(CMD_READ, hole_off, 100000)
    f.note("a never-written range is answered with chunks %s"
           % chunk_types(rep))

    rep = req(CMD_WRITE, 0, 32 * MiB + 4096, 0, os.urandom(32 * MiB + 4096))
    f.check("WRITE with a payload over the 32 MiB maximum -> an error",
            rep["error"] != 0, "non-zero error", rep["error"])
    read_ok("next READ works (oversized payload drained), offset 0 unchanged",
            0, 4096, bytes(4096))

    rep = req(CMD_WRITE_ZEROES, size - 4096, 8192)
    f.check("WRITE_ZEROES past the end -> error 28", rep["error"] == ENOSPC,
            28, rep["error"])
    rep = req(CMD_WRITE_ZEROES, 4 * MiB - 500, 1000, 2)
    f.check("WRITE_ZEROES+NO_HOLE inside the written data -> 0",
            rep["error"] == 0, 0, rep["error"])
    read_ok("... those 1000 bytes read back as zeros, the rest is intact",
            4 * MiB - 1000, len(pattern),
            pattern[:500] + bytes(1000) + pattern[1500:])
    rep = req(CMD_WRITE_ZEROES, 12 * MiB, 4 * MiB, 0x10)
    f.check("WRITE_ZEROES+FAST_ZERO of a whole extent -> 0 or 95",
            rep["error"] in (0, 95), "0 or 95", rep["error"])
    rep = req(CMD_CACHE, 0, MiB)
    f.check("CACHE -> 0", rep["error"] == 0, 0, rep["error"])
    rep = req(CMD_WRITE, 16 * MiB, 4 * MiB, 0, b"\x77" * (4 * MiB))
    f.check("WRITE a whole extent at 16 MiB -> 0", rep["error"] == 0, 0,
            rep["error"])
    rep = req(CMD_TRIM, 16 * MiB, 4 * MiB)
    f.check("TRIM that extent -> 0", rep["error"] == 0, 0, rep["error"])
    read_ok("... it reads as zeros after TRIM", 16 * MiB, 4 * MiB,
            bytes(4 * MiB))

    rep = req(CMD_FLUSH, 0, 0)
    f.check("FLUSH -> 0", rep["error"] == 0, 0, rep["error"])

    c.request(CMD_READ, 9, 0, 4096, magic=0xDEADBEEF)
    f.check("request with bad magic -> server closes the connection",
            c.wait_closed(), "close", "still open after 5 s")
    c.close()

    # Block status after a write: data where written, hole elsewhere.
    c, info = open_export(host, port, bundle, export, meta=True)
    cookie[0] = 500
    rep = req(CMD_BLOCK_STATUS, 4 * MiB, 4 * MiB)
    ok = rep["error"] == 0 and rep["chunks"] and \
        rep["chunks"][0][0] == CHUNK_BLOCK_STATUS
    ext = []
    if ok:
        p = rep["chunks"][0][1]
        ext = [struct.unpack(">II", p[i:i + 8]) for i in range(4, len(p), 8)]
    f.check("BLOCK_STATUS base:allocation at 4 MiB after a write -> "
            "first extent is data", ok and ext and not ext[0][1] & 1,
            "extent (n, flags without HOLE)", "%s error=%d extents=%s" % (
                chunk_types(rep), rep["error"], ext[:4]))
    c.request(CMD_DISC, 1, 0, 0)
    c.wait_closed()
    c.close()


# --- garbage connections ---------------------------------------------------

def run_garbage(f, host, port, bundle, export, count):
    print("== %d garbage connections" % count)
    senders = [
        lambda c: c.sock.sendall(os.urandom(64)),
        lambda c: c.sock.sendall(struct.pack(">I", 0xFFFFFFFF)),
        lambda c: c.sock.sendall(struct.pack(">I", 3) + os.urandom(200)),
        lambda c: c.sock.sendall(struct.pack(">IQII", 3, IHAVEOPT, 7,
                                             0xFFFFFFF0)),
        lambda c: (c.sock.sendall(struct.pack(">I", 3)),
                   c.send_opt(OPT_STARTTLS), c.read_rep(),
                   c.sock.sendall(b"\x16\x03\x01\x02\x00" + os.urandom(512))),
        lambda c: c.sock.sendall(struct.pack(">IQI", 3, IHAVEOPT, 5)),
        lambda c: None,
    ]
    for i in range(count):
        try:
            c = Conn(host, port, timeout=5)
            if i % 2 == 0:
                c.greeting()
            senders[i % len(senders)](c)
            time.sleep(0.05)
            c.close()
        except (Closed, OSError) as e:
            f.note("garbage connection %d: %s" % (i, e))
    # A well-formed TLS session whose requests are garbage.
    try:
        c, _ = open_export(host, port, bundle, export)
        c.send(os.urandom(4096))
        c.wait_closed(2)
        c.close()
    except (Closed, OSError) as e:
        f.note("garbage in transmission: %s" % e)
    try:
        c, info = open_export(host, port, bundle, export)
        c.request(CMD_READ, 7, 0, 4096)
        rep = c.reply(True, 4096)
        f.check("after the garbage connections a normal client is served "
                "(GO + READ)", rep["error"] == 0, 0, rep["error"])
        c.close()
    except (Closed, OSError) as e:
        f.check("after the garbage connections a normal client is served",
                False, "GO + READ", str(e))


def main(argv):
    if len(argv) < 6:
        sys.stderr.write(__doc__)
        return 2
    mode, host, port, bundle, export = argv[1], argv[2], int(argv[3]), \
        argv[4], argv[5]
    rest = argv[6:]
    expect_list, count = None, 10
    while rest:
        if rest[0] == "--list" and len(rest) > 1:
            expect_list = (expect_list or []) + [rest[1]]
            rest = rest[2:]
        elif rest[0] == "--count" and len(rest) > 1:
            count = int(rest[1])
            rest = rest[2:]
        else:
            sys.stderr.write("unknown argument %r\n" % rest[0])
            return 2

    if mode == "go":
        c = Conn(host, port)
        c.greeting()
        c.client_flags(3)
        c.starttls(bundle)
        rtype, msg, _ = c.go(export)
        print("reply=%s message=%s" % (rep_name(rtype),
                                       msg.decode("utf-8", "replace")))
        c.close()
        return 0
    if mode == "hold":
        c, info = open_export(host, port, bundle, export)
        print("ready size=%d" % info["size"])
        sys.stdout.flush()
        c.s.settimeout(None)
        try:
            while c.s.recv(4096):
                pass
        except (ConnectionError, ssl.SSLError, OSError):
            pass
        print("closed at=%.6f" % time.time())
        return 0

    f = Failures()
    sections = {"options": ["options"], "transmission": ["transmission"],
                "garbage": ["garbage"],
                "all": ["options", "transmission", "garbage"]}
    if mode not in sections:
        sys.stderr.write(__doc__)
        return 2
    for s in sections[mode]:
        try:
            if s == "options":
                run_options(f, host, port, bundle, export, expect_list)
            elif s == "transmission":
                run_transmission(f, host, port, bundle, export)
            else:
                run_garbage(f, host, port, bundle, export, count)
        except (Closed, socket.timeout, ssl.SSLError, OSError) as e:
            f.check("%s section ran to the end" % s, False,
                    "a live connection", "%s: %s" % (type(e).__name__, e))
    print("%d check(s) failed" % f.count if f.count else "all checks passed")
    return 1 if f.count else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

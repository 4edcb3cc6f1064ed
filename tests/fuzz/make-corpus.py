#!/usr/bin/env python3
"""Writes the seed corpus for the fuzz harnesses.

NBD seeds are real client transcripts (what qemu, libnbd and nbd-client
send) plus the edge cases the unit tests cover.  Handshake seeds start with
the split byte fuzz-handshake.c reads first.  Record seeds are made by the
real encoders: make-records-corpus.c is compiled with $CC (default cc)
against tenant/record.c and run.  Config seeds start from the haven.conf
that `havenctl init` writes, read out of gateway/cli/cmd-init.c.  Run from
anywhere:

    python3 tests/fuzz/make-corpus.py
"""
import ast
import os
import re
import shlex
import shutil
import struct
import subprocess
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
IHAVEOPT = b"IHAVEOPT"
OPT = dict(EXPORT_NAME=1, ABORT=2, LIST=3, STARTTLS=5, INFO=6, GO=7,
           STRUCTURED_REPLY=8, LIST_META_CONTEXT=9, SET_META_CONTEXT=10,
           EXTENDED_HEADERS=11)
REQ_MAGIC = 0x25609513


def opt(name, data=b""):
    code = OPT[name] if isinstance(name, str) else name
    return IHAVEOPT + struct.pack(">II", code, len(data)) + data


def go(name, infos=(), which="GO"):
    n = name.encode()
    data = struct.pack(">I", len(n)) + n + struct.pack(">H", len(infos))
    data += b"".join(struct.pack(">H", i) for i in infos)
    return opt(which, data)


def meta(name, queries, which="SET_META_CONTEXT"):
    n = name.encode()
    data = struct.pack(">I", len(n)) + n + struct.pack(">I", len(queries))
    for q in queries:
        data += struct.pack(">I", len(q)) + q.encode()
    return opt(which, data)


def req(cmd, flags=0, offset=0, length=4096, cookie=1):
    return struct.pack(">IHHQQI", REQ_MAGIC, flags, cmd, cookie, offset,
                       length)


FLAGS = struct.pack(">I", 3)
TLS = opt("STARTTLS")

HANDSHAKE = {
    # libnbd (nbdinfo/nbdcopy 1.14): probes before TLS, then negotiates.
    "libnbd-go": FLAGS + TLS + opt("STRUCTURED_REPLY")
    + meta("vm1/disk0", ["base:allocation"]) + go("vm1/disk0", (3, 1, 2)),
    "libnbd-list": FLAGS + TLS + opt("LIST") + opt("ABORT"),
    "libnbd-opt-mode": FLAGS + TLS + opt("LIST")
    + meta("vm1/disk0", [], "LIST_META_CONTEXT")
    + go("vm1/disk0", (3,), "INFO") + opt("STRUCTURED_REPLY")
    + meta("vm1/disk0", ["base:allocation"]) + go("vm1/disk0", (3,)),
    # qemu 7.2 client.
    "qemu-go": FLAGS + TLS + opt("STRUCTURED_REPLY")
    + meta("vm1/disk0", ["base:allocation"]) + go("vm1/disk0", (3,)),
    # qemu >= 8.2 / libnbd >= 1.18 ask for extended headers first.
    "ext-headers": FLAGS + TLS + opt("EXTENDED_HEADERS")
    + opt("STRUCTURED_REPLY") + go("vm1/disk0", (3,)),
    # Kernel nbd-client: GO with no info requests; -g uses EXPORT_NAME.
    "nbd-client-go": FLAGS + TLS + go("vm1/disk0"),
    "nbd-client-export-name": struct.pack(">I", 1) + TLS
    + opt("EXPORT_NAME", b"vm1/disk0"),
    "export-name-no-zeroes": FLAGS + TLS + opt("EXPORT_NAME", b"vm1/ro@rp1"),
    # FORCEDTLS probes, as nbdkit/qemu-nbd were probed.
    "pre-tls-probes": FLAGS + opt("LIST") + opt("STRUCTURED_REPLY")
    + go("vm1/disk0", (), "INFO") + opt(99, b"x" * 100)
    + opt("STARTTLS", b"\0") + TLS + opt("STARTTLS") + opt(99)
    + opt("ABORT"),
    "export-name-before-tls": FLAGS + opt("EXPORT_NAME", b"vm1/disk0"),
    "starttls-pipelined": FLAGS + TLS + opt("STRUCTURED_REPLY") + opt("LIST"),
    "bad-lengths": FLAGS + TLS + opt("GO", struct.pack(">I", 5) + b"abcd\0\0")
    + opt("INFO", struct.pack(">I", 1) + b"a" + struct.pack(">HH", 2, 1))
    + opt("LIST_META_CONTEXT", struct.pack(">IIII", 0, 2, 0, 0)[:12])
    + opt("GO", struct.pack(">I", 4097) + b"a" * 4097 + b"\0\0")
    + go("nope") + go("vm1/disk0"),
    "too-big": FLAGS + TLS + opt("INFO", b"\0" * 70000) + opt(1000, b"\0" * 70000)
    + go("vm1/disk0"),
    "set-meta-before-sr": FLAGS + TLS + meta("vm1/disk0", ["base:allocation"])
    + opt("STRUCTURED_REPLY") + meta("vm1/disk0", ["base:", "x-a:b"])
    + meta("vm1/disk0", ["base:allocation"]) + go("vm1/ro@rp1", (1, 2)),
}

REQUEST_CAPS = struct.pack(">QBI", 1 << 30, 0b110, 32 << 20)
REQUEST = {
    "read": req(0, length=65536),
    "read-df": req(0, flags=4, length=65536),
    "write-fua": req(1, flags=1, length=262144),
    "write-past-eof": req(1, offset=(1 << 30) - 512, length=4096),
    "write-huge": req(1, length=64 << 20),
    "flush": req(3, length=0),
    "trim": req(4, offset=1 << 20, length=8 << 20),
    "cache": req(5, length=1 << 20),
    "zero-nbdcopy": req(6, length=128 << 20),
    "zero-fast": req(6, flags=0x13, length=1 << 20),
    "block-status": req(7, flags=8, length=16 << 20),
    "disc": req(2, length=0),
    "resize": req(8),
    "unknown-cmd": req(42),
    "bad-flags": req(1, flags=0x20),
    "offset-wrap": req(0, offset=(1 << 64) - 1, length=2),
}



def init_conf():
    """The haven.conf `havenctl init` writes: conf_text in cmd-init.c."""
    with open(os.path.join(TOP, "gateway", "cli", "cmd-init.c")) as f:
        src = f.read()
    m = re.search(r'conf_text\[\]\s*=\s*((?:\s*"(?:[^"\\]|\\.)*")+)\s*;', src)
    if not m:
        raise SystemExit("make-corpus: conf_text not found in cmd-init.c")
    parts = re.findall(r'"(?:[^"\\]|\\.)*"', m.group(1))
    return "".join(ast.literal_eval(p) for p in parts).encode()


def config_seeds():
    base = init_conf()
    every = (b"[gateway]\nlisten = 192.0.2.10:10809\nhandshake_timeout = 30\n"
             b"max_inflight_requests = 256\n[log]\nlevel = debug\n")
    long_comment = b"# " + b"x" * 240 + b" listen = 6.6.6.6:666\n"
    return {
        "havenctl-init": base,
        "every-key": every,
        "ipv6": b"[gateway]\nlisten = [::1]:10809\n[log]\nlevel = WARN\n",
        "comments": b"; operator notes\n# more notes\n\n[gateway]  ; inline\n"
        b"listen = 127.0.0.1:10810 ; inline comment\n"
        b"handshake_timeout: 5\n[log]\nlevel=error\n",
        "crlf-bom": b"\xef\xbb\xbf" + every.replace(b"\n", b"\r\n"),
        "no-final-newline": every.rstrip(b"\n"),
        "empty": b"",
        "continuation": b"[gateway]\nlisten = 127.0.0.1:1\n  127.0.0.1:2\n",
        "no-equals": base + b"this line has no equals sign\n",
        "unclosed-section": b"[gateway\nlisten = 127.0.0.1:1\n",
        "unknown-key": base + b"[gateway]\nmax_connections = 10\n",
        "unknown-section": base + b"[tls]\nciphers = HIGH\n",
        "key-before-section": b"listen = 0.0.0.0:10809\n" + base,
        "bad-port": b"[gateway]\nlisten = 0.0.0.0:70000\n",
        "bad-host": b"[gateway]\nlisten = [::1:10809\n",
        "bad-timeout": b"[gateway]\nhandshake_timeout = 0\n",
        "bad-inflight": b"[gateway]\nmax_inflight_requests = 1025\n",
        "bad-level": b"[log]\nlevel = loud\n",
        "syntax-then-key": b"[gateway]\nnot a setting\nbogus = 1\n",
        "long-line": b"[gateway]\n" + long_comment,
    }


def records(outdir):
    """Builds make-records-corpus.c with the real record.c and runs it."""
    cc = shlex.split(os.environ.get("CC", "cc"))
    tmp = tempfile.mkdtemp(prefix="haven-corpus-")
    try:
        exe = os.path.join(tmp, "make-records-corpus")
        subprocess.run(cc + ["-std=c11", "-D_GNU_SOURCE", "-O1", "-Wall", "-Wextra",
                             "-I", os.path.join(TOP, "tenant"),
                             os.path.join(HERE, "make-records-corpus.c"),
                             os.path.join(TOP, "tenant", "record.c"),
                             "-o", exe], check=True)
        if os.path.isdir(outdir):
            shutil.rmtree(outdir)
        os.makedirs(outdir)
        subprocess.run([exe, outdir], check=True)
    finally:
        shutil.rmtree(tmp)

def write(sub, name, blob):
    d = os.path.join(HERE, "corpus", sub)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(blob)


def main():
    for name, body in HANDSHAKE.items():
        # Split byte: one seed cut mid-option, one fed whole (cut past end).
        write("handshake", name, bytes([23]) + body)
        write("handshake", name + "-whole", bytes([255]) + body)
    for name, hdr in REQUEST.items():
        write("request", name,
              hdr + REQUEST_CAPS + struct.pack(">I", 28) + b"no space left")
    for name, text in config_seeds().items():
        write("config", name, text)
    records(os.path.join(HERE, "corpus", "records"))


if __name__ == "__main__":
    main()

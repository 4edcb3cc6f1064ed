#!/usr/bin/python3
"""Tampers with the audit log of a haven catalog the way someone with
write access to the LMDB file could (test helper for test-audit.sh).

  audit-tamper.py CATALOG_DIR modify SEQ FROM TO   replace bytes in entry SEQ
  audit-tamper.py CATALOG_DIR delete SEQ           remove entry SEQ
  audit-tamper.py CATALOG_DIR swap SEQ1 SEQ2       exchange two entries
  audit-tamper.py CATALOG_DIR save SEQ FILE        copy entry SEQ's record out
  audit-tamper.py CATALOG_DIR restore SEQ FILE     put a saved record back

Keys of the "audit" database are big-endian sequence numbers.
"""
import struct
import sys

import lmdb


def key(seq):
    return struct.pack(">Q", int(seq))


def main():
    path, op, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    # The catalog maps 1 GiB and names up to 32 databases.
    env = lmdb.open(path, max_dbs=32, map_size=1 << 30, subdir=True)
    db = env.open_db(b"audit", create=False)
    with env.begin(write=True, db=db) as txn:
        if op == "modify":
            val = txn.get(key(args[0]))
            old, new = args[1].encode(), args[2].encode()
            if val is None or old not in val or len(old) != len(new):
                sys.exit("entry %s has no '%s'" % (args[0], args[1]))
            txn.put(key(args[0]), val.replace(old, new, 1))
        elif op == "delete":
            if not txn.delete(key(args[0])):
                sys.exit("no entry %s" % args[0])
        elif op == "swap":
            a, b = txn.get(key(args[0])), txn.get(key(args[1]))
            txn.put(key(args[0]), b)
            txn.put(key(args[1]), a)
        elif op == "save":
            with open(args[1], "wb") as f:
                f.write(txn.get(key(args[0])))
        elif op == "restore":
            with open(args[1], "rb") as f:
                txn.put(key(args[0]), f.read())
        else:
            sys.exit("unknown operation " + op)
    env.close()


if __name__ == "__main__":
    main()

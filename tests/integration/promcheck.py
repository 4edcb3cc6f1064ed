#!/usr/bin/python3
"""A strict parser of the Prometheus text exposition format 0.0.4.

    promcheck.py FILE [JSON_OUT]

Exits 1 with "FILE:LINE: reason" on the first violation; with JSON_OUT,
writes the samples as {"name{l1=\"v1\",l2=\"v2\"}": value} (labels sorted
by name) for the test to query.

Checked: metric and label name grammar; label value escapes (only \\\\, \\"
and \\n); values as Go's ParseFloat reads them; one HELP and one TYPE per
family, TYPE before the family's samples; every sample in a TYPE'd family
and each family in one group; no duplicate series; counters >= 0; for
histograms, per label set: _bucket series with increasing le, cumulative
counts that never decrease, a le="+Inf" bucket equal to _count, and _sum.
"""
import json
import math
import re
import sys

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
FLOAT = re.compile(r"[+-]?(\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?|Inf|NaN)$")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


class Bad(Exception):
    pass


def parse_value(s):
    if not FLOAT.match(s):
        raise Bad(f"bad value {s!r}")
    return float(s.replace("Inf", "inf").replace("NaN", "nan"))


def parse_labels(s, i):
    """Parses {a="x",...} from s[i] == '{'; returns (labels, next index)."""
    labels = {}
    i += 1
    while True:
        if s[i] == "}":
            return labels, i + 1
        m = LABEL.match(s, i)
        if not m:
            raise Bad(f"bad label name at column {i + 1}")
        name = m.group(0)
        if name.startswith("__"):
            raise Bad(f"reserved label name {name}")
        if name in labels:
            raise Bad(f"label {name} twice")
        i = m.end()
        if s[i : i + 2] != '="':
            raise Bad(f"expected =\" after label {name}")
        i += 2
        val = []
        while True:
            if i >= len(s):
                raise Bad(f"unterminated value of label {name}")
            c = s[i]
            if c == "\\":
                nxt = s[i + 1 : i + 2]
                if nxt not in ("\\", '"', "n"):
                    raise Bad(f"bad escape \\{nxt} in label {name}")
                val.append("\n" if nxt == "n" else nxt)
                i += 2
            elif c == '"':
                i += 1
                break
            else:
                val.append(c)
                i += 1
        labels[name] = "".join(val)
        if s[i] == ",":
            i += 1
        elif s[i] != "}":
            raise Bad(f"expected , or }} after label {name}")


def key(name, labels):
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"{name}{{{inner}}}"


def family_of(sample, ftype, fname):
    if ftype == "histogram":
        return sample in (fname + "_bucket", fname + "_sum", fname + "_count")
    if ftype == "summary":
        return sample in (fname, fname + "_sum", fname + "_count")
    return sample == fname


def check_histograms(hists):
    for fname, series in hists.items():
        for lkey, h in series.items():
            where = f"histogram {fname}{lkey}"
            b = h["buckets"]
            if not b or b[-1][0] != math.inf:
                raise Bad(f"{where}: no le=\"+Inf\" bucket last")
            for (le1, c1), (le2, c2) in zip(b, b[1:]):
                if le2 <= le1:
                    raise Bad(f"{where}: le {le2} after {le1}")
                if c2 < c1:
                    raise Bad(f"{where}: bucket le={le2} count {c2} < {c1}")
            if "count" not in h or "sum" not in h:
                raise Bad(f"{where}: _count or _sum missing")
            if b[-1][1] != h["count"]:
                raise Bad(f"{where}: +Inf bucket {b[-1][1]} != _count {h['count']}")


def parse(text):
    if text and not text.endswith("\n"):
        raise Bad("last line has no newline")
    types, helps, done, samples, hists = {}, set(), set(), {}, {}
    cur = None  # the family whose samples we are in
    for n, line in enumerate(text.split("\n")[:-1], 1):
        try:
            if line.startswith("#"):
                parts = line.split(" ", 3)
                if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                    fname = parts[2]
                    if not NAME.fullmatch(fname):
                        raise Bad(f"bad metric name {fname!r}")
                    if fname in done or (cur and cur != fname and fname in types):
                        raise Bad(f"{parts[1]} of {fname} after its samples")
                    if parts[1] == "HELP":
                        if fname in helps:
                            raise Bad(f"second HELP for {fname}")
                        helps.add(fname)
                        if re.search(r"\\[^\\n]", parts[3] if len(parts) > 3 else ""):
                            raise Bad("bad escape in HELP")
                    else:
                        if fname in types:
                            raise Bad(f"second TYPE for {fname}")
                        if len(parts) != 4 or parts[3] not in TYPES:
                            raise Bad(f"bad TYPE line for {fname}")
                        types[fname] = parts[3]
                    if cur and cur != fname:
                        done.add(cur)
                    cur = fname
                continue
            if not line.strip():
                continue
            m = NAME.match(line)
            if not m:
                raise Bad("bad metric name")
            name = m.group(0)
            i = m.end()
            labels = {}
            if i < len(line) and line[i] == "{":
                labels, i = parse_labels(line, i)
            rest = line[i:]
            if not rest.startswith(" "):
                raise Bad("expected a space before the value")
            fields = rest.split()
            if len(fields) not in (1, 2):
                raise Bad("expected a value and an optional timestamp")
            value = parse_value(fields[0])
            if len(fields) == 2 and not re.fullmatch(r"-?\d+", fields[1]):
                raise Bad("bad timestamp")
            if not cur or cur not in types or not family_of(name, types[cur], cur):
                raise Bad(f"sample {name} outside its family's group "
                          f"(after {cur or 'nothing'}) or without TYPE")
            if cur in done:
                raise Bad(f"family {cur} split in two groups")
            k = key(name, labels)
            if k in samples:
                raise Bad(f"duplicate series {k}")
            samples[k] = value
            ftype = types[cur]
            if ftype == "counter" and not value >= 0:
                raise Bad(f"counter {k} is {value}")
            if ftype == "histogram":
                base = {a: b for a, b in labels.items() if a != "le"}
                h = hists.setdefault(cur, {}).setdefault(
                    key("", base), {"buckets": []})
                if name.endswith("_bucket"):
                    if "le" not in labels:
                        raise Bad(f"bucket without le: {k}")
                    h["buckets"].append((parse_value(labels["le"]), value))
                elif "le" in labels:
                    raise Bad(f"le on a non-bucket sample {k}")
                else:
                    h["sum" if name.endswith("_sum") else "count"] = value
        except (Bad, IndexError) as e:
            raise Bad(f"line {n}: {e if isinstance(e, Bad) else 'truncated'}: {line}")
    check_histograms(hists)
    return samples


def main():
    path = sys.argv[1]
    try:
        samples = parse(open(path, encoding="utf-8").read())
    except Bad as e:
        print(f"{path}: {e}", file=sys.stderr)
        sys.exit(1)
    if len(sys.argv) > 2:
        with open(sys.argv[2], "w") as f:
            json.dump(samples, f)


if __name__ == "__main__":
    main()

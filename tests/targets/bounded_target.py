"""Target for bounded mode (tests/bounded.rs): a heap a few times larger than the memory leakspy
is given, made mostly of few large objects, so that the census fits where the copy does not.

Builds `-X leakspy_holders=N` (default 200,000) `Holder` instances, each holding a 1,500-byte bytes
object (larger than pymalloc's 512-byte limit: malloc'd), and one `Pair` per 10 holders holding a
list; then counts its own truth with gc.get_objects (instances per type, GC-tracked by definition),
writes it as one JSON line on stdout with its pid and resident size, and blocks reading stdin
(exits on EOF) without allocating.
"""

import gc
import json
import os
import sys


class Holder(object):
    __slots__ = ("blob", "n")

    def __init__(self, blob, n):
        self.blob = blob
        self.n = n


class Pair(object):
    __slots__ = ("a", "b")

    def __init__(self, a, b):
        self.a = a
        self.b = b


def rss_bytes():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def main():
    n = int(sys._xoptions.get("leakspy_holders", 200000))
    holders = [Holder(os.urandom(1) * 1500 + str(i).encode(), i) for i in range(n)]
    pairs = [Pair(holders[i], [i]) for i in range(0, n, 10)]
    gc.collect()
    counts = {}
    for o in gc.get_objects():
        t = type(o)
        if t is Holder or t is Pair:
            key = t.__module__ + "." + t.__qualname__
            counts[key] = counts.get(key, 0) + 1
    o = None
    line = json.dumps({"pid": os.getpid(), "rss": rss_bytes(), "counts": counts})
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
    keep = (holders, pairs)
    sys.stdin.readline()
    return keep


main()

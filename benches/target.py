"""Benchmark target: ~1M GC-tracked objects of mixed kinds, then block.

Runs under any CPython >= 3.8 with only the standard library (it is copied into
chroots). Steps:
  1. build the heap (instances of three classes, dicts, lists, tuples);
  2. time the in-process equivalent of `leakspy dump`'s histogram:
     gc.get_objects() + sys.getsizeof aggregated by "module.qualname";
  3. drop everything step 2 allocated, so the heap leakspy sees afterwards is
     the one that was measured;
  4. print one JSON line on stdout (the readiness signal, read through a pipe),
     then block reading stdin until the driver closes it or kills us.
"""
import gc
import json
import os
import sys
import time

UNITS = int(sys.argv[1]) if len(sys.argv) > 1 else 125_000


class Node:
    def __init__(self, i, parent):
        self.name = "node"
        self.value = i
        self.parent = parent
        self.children = []


class Point:
    __slots__ = ("x", "y", "tag")

    def __init__(self, x, y, tag):
        self.x = x
        self.y = y
        self.tag = tag


class Record:
    def __init__(self, i):
        self.key = i
        self.payload = {"id": i, "items": [i, i + 1]}


def build(units):
    # Every container holds another tracked object so the GC never untracks it
    # (atomic-only tuples and, before 3.13, dicts are untracked lazily).
    keep = []
    root = Node(-1, None)
    for i in range(units):
        n = Node(i, root)                    # instance (+ its dict on < 3.11) + list
        p = Point(i, -i, n)                  # __slots__ instance
        r = Record(i)                        # instance + dict + list
        t = (n, p, i)                        # tuple holding instances
        keep.append([t, {"r": r}])           # list + dict
    return root, keep


def tally(objs):
    """Count and sys.getsizeof bytes by "module.qualname"."""
    acc = {}
    for o in objs:
        t = type(o)
        k = f"{t.__module__}.{t.__qualname__}"
        e = acc.get(k)
        size = sys.getsizeof(o)
        if e is None:
            acc[k] = [1, size]
        else:
            e[0] += 1
            e[1] += size
    return acc


def histogram():
    objs = gc.get_objects()
    acc = tally(objs)
    n = len(objs)
    del objs
    return n, acc


def closure_histogram():
    """The in-process equivalent of leakspy's whole-heap count: every object reachable through
    gc.get_referents from every tracked object, sized with sys.getsizeof by type."""
    roots = gc.get_objects()
    seen = {}
    for o in roots:
        seen[id(o)] = o
    stack = roots
    while stack:
        o = stack.pop()
        for x in gc.get_referents(o):
            if id(x) not in seen:
                seen[id(x)] = x
                stack.append(x)
    acc = tally(seen.values())
    n = len(seen)
    del seen, roots, stack
    return n, acc


def main():
    t0 = time.perf_counter()
    heap = build(UNITS)
    build_s = time.perf_counter() - t0
    gc.collect()
    gc.disable()  # nothing may move between the in-process count and the dump

    t0 = time.perf_counter()
    n, acc = histogram()
    inproc_ms = (time.perf_counter() - t0) * 1e3
    total_bytes = sum(v[1] for v in acc.values())
    ntypes = len(acc)
    del acc
    t0 = time.perf_counter()
    n_all, acc = closure_histogram()
    inproc_all_ms = (time.perf_counter() - t0) * 1e3
    del acc
    line = {
        "pid": os.getpid(),
        "python": sys.version.split()[0],
        "units": UNITS,
        "tracked_objects": n,
        "histogram_bytes": total_bytes,
        "histogram_types": ntypes,
        "inproc_ms": inproc_ms,
        "all_objects": n_all,
        "inproc_all_ms": inproc_all_ms,
        "build_s": build_s,
    }
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()
    sys.stdin.read()  # blocks until the driver closes our stdin
    del heap


if __name__ == "__main__":
    main()

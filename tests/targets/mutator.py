"""Stress target for leakspy --nonblocking (issue #7): threads that mutate the heap and their stacks
as fast as they can, so that a dump taken without pausing races with every structure it reads.

Each worker, in a tight loop: allocates and frees objects (instances with dicts, slotted objects,
lists), grows and shrinks dicts (forcing key-table resizes) and lists (reallocations), builds and drops
deep recursion (frame chains of 50-250 frames), runs generators, and now and then starts and joins a
short-lived thread (the thread-state list changes) or runs gc.collect() (GC lists are rewritten and
`collecting` is set).

Readiness: once every worker has started its loop, the main thread writes one line ("ready <pid>") to
stdout. It then echoes every line it reads on stdin back to stdout (the harness uses this to check the
target still answers) and exits on EOF. No sleeps anywhere.
"""

import gc
import os
import sys
import threading

N_WORKERS = 3


class Obj(object):
    def __init__(self, i):
        self.i = i
        self.tag = "obj"
        self.d = {"i": i}


class Slotted(object):
    __slots__ = ("a", "b")

    def __init__(self, a):
        self.a = a
        self.b = None


def recurse(n):
    if n <= 0:
        return [Slotted(k) for k in range(8)]
    return recurse(n - 1)


def gen(n):
    for k in range(n):
        yield Obj(k)


def churn(idx, started):
    started.set()
    keep = []
    d = {}
    i = 0
    while True:
        i += 1
        keep.append([Obj(i) for _ in range(40)])
        if len(keep) > 30:
            del keep[:15]
        for k in range(300):
            d[(i, k)] = k
        if i % 2 == 0:
            d.clear()
        lst = list(range(i % 700))
        lst.extend(lst)
        del lst[::2]
        recurse(50 + (i * 7 + idx) % 200)
        sum(o.i for o in gen(30))
        if idx == 0 and i % 40 == 0:
            t = threading.Thread(target=recurse, args=(30,), name="short-%d" % i)
            t.start()
            t.join()
        if idx == 1 and i % 150 == 0:
            gc.collect()


def main():
    events = []
    for idx in range(N_WORKERS):
        ev = threading.Event()
        t = threading.Thread(target=churn, args=(idx, ev), name="churn-%d" % idx, daemon=True)
        t.start()
        events.append(ev)
    for ev in events:
        ev.wait()
    out = sys.stdout
    out.write("ready %d\n" % os.getpid())
    out.flush()
    for line in sys.stdin:
        out.write(line)
        out.flush()


main()

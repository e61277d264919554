"""A heap built by threads running truly in parallel, for leakspy's free-threaded heap tests
(tests/free_threaded.rs). Self-contained: it is copied into the chroot alone.

WORKERS threads start together (a barrier) and each builds, at once with the others, PER objects of
each of FtNode (instances with a __dict__: the GC_PRE heap), FtSlot (__slots__, no dict: the GC
heap) and FtPair (a GC type holding a tuple), plus PER distinct strs, floats and big ints (not
tracked by the GC: the OBJECT heap), all kept in the global KEEP. Half of the workers then exit (their
mimalloc segments go to the interpreter's abandoned pool, or are reclaimed by another thread), the
other half block in os.read() on pipes nobody writes to.

Truth, taken after that, in-process: for each class, the number of its instances in gc.get_objects()
and the sum of their sys.getsizeof(); the untracked objects made, per type. The lists the truth
needed are dropped before it is printed, and the main thread then blocks in os.read(0, 1): nothing
allocates after the truth. ONE JSON line:

  {"pid", "free_threaded", "gil_enabled", "readers": [{"native_id", "fd"}...],
   "tracked": {NAME: {"count", "bytes"}}, "untracked_made": {"str": N, "float": N, "int": N}}

With the argument "busy", the workers do not stop: after signalling they loop forever, making and
dropping FtNode objects (for paused dumps while the heap changes under them); the truth then has no
"tracked" counts worth checking, only the readiness.
"""

import gc
import json
import os
import sys
import sysconfig
import threading

WORKERS = 4
PER = 3000
BUSY = len(sys.argv) > 1 and sys.argv[1] == "busy"


class FtNode:
    def __init__(self, i):
        self.i = i
        self.name = None


class FtSlot:
    __slots__ = ("a", "b")

    def __init__(self, a):
        self.a = a
        self.b = None


class FtPair:
    __slots__ = ("t",)

    def __init__(self, t):
        self.t = t


KEEP = []


def work(w, barrier, done, fd):
    barrier.wait()
    mine = []
    for i in range(PER):
        mine.append(FtNode(i))
        mine.append(FtSlot(i))
        mine.append(FtPair((w, i)))
        mine.append("ft-%d-%d" % (w, i))
        mine.append(w * 1000003.25 + i)
        mine.append(10**30 + w * 1000003 + i)
    KEEP.append(mine)
    done.release()
    if BUSY:
        while True:
            x = [FtNode(i) for i in range(100)]
            del x
    if fd is not None:
        os.read(fd, 1)


def write_line(obj):
    data = (json.dumps(obj) + "\n").encode()
    while data:
        data = data[os.write(1, data):]


def main():
    barrier = threading.Barrier(WORKERS)
    done = threading.Semaphore(0)
    pipes = [os.pipe() for _ in range(WORKERS // 2)]
    threads = []
    for w in range(WORKERS):
        fd = pipes[w][0] if w < len(pipes) else None
        t = threading.Thread(target=work, args=(w, barrier, done, fd), name="worker-%d" % w)
        t.daemon = True
        t.start()
        threads.append((t, fd))
    for _ in range(WORKERS):
        done.acquire()
    for t, fd in threads:
        if fd is None and not BUSY:
            t.join()
    readers = [{"native_id": t.native_id, "fd": fd} for t, fd in threads if fd is not None and not BUSY]
    gil = getattr(sys, "_is_gil_enabled", None)
    truth = {
        "pid": os.getpid(),
        "free_threaded": bool(sysconfig.get_config_var("Py_GIL_DISABLED")),
        "gil_enabled": True if gil is None else gil(),
        "readers": readers,
        "tracked": {},
        "untracked_made": {"builtins." + n: WORKERS * PER for n in ("str", "float", "int")},
    }
    if not BUSY:
        gc.collect()
        names = {c: "__main__." + c.__name__ for c in (FtNode, FtSlot, FtPair)}
        counts = {n: [0, 0] for n in names.values()}
        objs = gc.get_objects()
        for o in objs:
            n = names.get(type(o))
            if n is not None:
                counts[n][0] += 1
                counts[n][1] += sys.getsizeof(o)
        del objs, o
        truth["tracked"] = {n: {"count": c, "bytes": b} for n, (c, b) in counts.items()}
    line = (json.dumps(truth) + "\n").encode()
    del truth
    while line:
        line = line[os.write(1, line):]
    os.read(0, 1)
    os._exit(0)


main()

"""Live-test target for leakspy (runs unchanged on CPython 3.8 .. 3.15).

Builds a known world of objects and threads, computes the ground truth
in-process, writes it as ONE JSON line to stdout (that line is the readiness
signal for the harness) and then blocks forever in the main thread reading
stdin.  The harness keeps stdin open and kills us when done; if stdin is
closed (harness died) we exit.

No sleeps: workers report through Events, and the main thread yields the CPU
(time.sleep(0)) in a bounded loop until every worker is verifiably at its
blocking line.

On any self-check failure the script writes a message to stderr and exits
with status 1 without printing the truth line.
"""

import dis
import gc
import json
import linecache
import os
import platform
import sys
import threading
import time

# The blocking read's arguments, made before the heap snapshot: on 3.6 os.read is METH_VARARGS, and
# os.read(0, 1) would build a new tracked (0, 1) tuple, alive for the whole blocking call and so in
# leakspy's picture but not in the truth; *READ_ARGS passes this tuple itself (3.7+: no tuple at all).
READ_ARGS = (0, 1)


# Python 3.6/3.7: no threading.get_native_id() / Thread.native_id (3.8). The kernel thread id is
# gettid(2) (syscall 186 on x86_64 Linux); each thread records its own before Thread.start()
# returns (_bootstrap_inner sets the event start() waits for). Nothing changes on 3.8+.
if not hasattr(threading, "get_native_id"):
    import ctypes

    def _get_native_id(_syscall=ctypes.CDLL(None).syscall):
        return _syscall(186)

    def _bootstrap_inner(self, _inner=threading.Thread._bootstrap_inner):
        self.native_id = _get_native_id()
        _inner(self)

    threading.get_native_id = _get_native_id
    threading.Thread._bootstrap_inner = _bootstrap_inner
    threading.main_thread().native_id = _get_native_id()

# Constructed counts; all distinct so a mix-up between classes is obvious.
N_PLAIN = 1000
N_SLOTTED = 700
N_BAG = 600
N_INNER = 500
N_THREAD_MADE_PER_THREAD = 150
N_NESTED_THREADS = 3  # -> 450 ThreadMade
N_LOCAL = 350
N_FROZEN = 300
N_WIDE = 250
N_OUTER = 120
WIDE_ATTRS = 40


# platform.python_version() parses sys.version with a lazily compiled regex and
# caches the result (a tuple in a dict): call it now, never after the snapshot.
VERSION = platform.python_version()


def die(msg):
    os.write(2, ("heap_target: " + msg + "\n").encode("utf-8", "replace"))
    os._exit(1)


class Plain(object):
    def __init__(self, i):
        self.i = i


class Slotted(object):
    __slots__ = ("x", "y")

    def __init__(self, i):
        self.x = i
        self.y = None


class Bag(dict):
    pass


class Outer(object):
    class Inner(object):
        def __init__(self, i):
            self.i = i


class Wide(object):
    def __init__(self, i):
        for k in range(WIDE_ATTRS):
            setattr(self, "attr%d" % k, i + k)
        self.children = []


class Frozen(object):
    def __init__(self, i):
        self.i = i


class ThreadMade(object):
    def __init__(self, i):
        self.i = i


def make_locals(n):
    class Local(object):
        def __init__(self, i):
            self.i = i

    return [Local(i) for i in range(n)]


def type_name(t):
    try:
        return "%s.%s" % (t.__module__, t.__qualname__)
    except Exception:  # pragma: no cover - exotic types without __module__
        return "?.%s" % getattr(t, "__qualname__", t.__name__)


def code_function(code):
    # co_qualname on 3.11+, co_name before.
    return getattr(code, "co_qualname", code.co_name)


# --- Frozen objects: built first, then everything tracked is frozen. -------
# gc.freeze() moves *every* tracked object into the permanent generation, so we
# keep a list of exactly what got frozen (frozen_all; the list itself is
# tracked and frozen too, but never contains itself).  That makes the
# permanent generation fully known: counts AND sizes, measured at truth time.
# CPython 3.12's collector moves immortal tracked objects (~375 tuples of
# static types) into the permanent generation, where gc.get_objects() does not
# see them.  Collect, then unfreeze, so the snapshot below covers everything
# that ends up frozen.
# Python 3.6 has no permanent generation (gc.freeze is 3.7+): there the Frozen objects are plain
# tracked objects, counted by gc.get_objects() like the rest, and nothing is frozen.
HAS_FREEZE = hasattr(gc, "freeze")
_frozen_objs = [Frozen(i) for i in range(N_FROZEN)]
gc.collect()
if HAS_FREEZE:
    gc.unfreeze()
    _frozen_all = gc.get_objects()
    gc.freeze()
else:
    _frozen_all = None


# --- Worker threads ------------------------------------------------------------
# Every worker calls mark(spot) on the line right before its blocking call, so
# spot records (code of the blocking function, line of the blocking call).

class _Spot(object):
    pass


def mark(spot):
    f = sys._getframe(1)
    spot.code = f.f_code
    spot.line = f.f_lineno + 1
    spot.ready.set()


def nested_3(lock, spot, n):
    made = [ThreadMade(n * 1000 + i) for i in range(N_THREAD_MADE_PER_THREAD)]
    mark(spot)
    lock.acquire()
    return made


def nested_2(lock, spot, n):
    return nested_3(lock, spot, n)


def nested_1(lock, spot, n):
    return nested_2(lock, spot, n)


def event_inner(never, spot):
    mark(spot)
    never.wait()


def event_outer(never, spot):
    event_inner(never, spot)


def gen_body(lock, spot):
    yield 1
    mark(spot)
    lock.acquire()
    yield 2


def gen_consumer(lock, spot):
    total = 0
    for item in gen_body(lock, spot):
        total += item
    return total


def lambda_blocker(lock, spot):
    mark(spot)
    lock.acquire()


def lambda_middle(lock, spot):
    lambda_blocker(lock, spot)


def condition_wait_blocking_line():
    """Line of the blocking `waiter.acquire()` in threading.Condition.wait
    (there are two such lines; the blocking one follows `if timeout is None:`)."""
    code = threading.Condition.wait.__code__
    lines = linecache.getlines(code.co_filename)
    if not lines:
        die("cannot read source of %s" % code.co_filename)
    cands = []
    for _, ln in dis.findlinestarts(code):
        if ln is None or ln < 2 or ln > len(lines):
            continue
        if (lines[ln - 1].strip() == "waiter.acquire()"
                and lines[ln - 2].strip() == "if timeout is None:"):
            cands.append(ln)
    cands = sorted(set(cands))
    if len(cands) != 1:
        die("cannot locate blocking line of Condition.wait: %r" % (cands,))
    return cands[0]


def start_threads(lock, never):
    workers = []  # (thread, spot, kind)

    def add(name, target, args, kind):
        spot = _Spot()
        spot.ready = threading.Event()
        t = threading.Thread(target=target, args=args + (spot,), name=name)
        t.daemon = True
        workers.append((t, spot, kind))

    for n in range(N_NESTED_THREADS):
        # target args are (lock, spot, n): nested_1(lock, spot, n)
        spot = _Spot()
        spot.ready = threading.Event()
        t = threading.Thread(target=nested_1, args=(lock, spot, n),
                             name="nested-%d" % n)
        t.daemon = True
        workers.append((t, spot, "lock"))
    add("event-waiter", event_outer, (never,), "event")
    add("gen-worker", gen_consumer, (lock,), "lock")
    spot = _Spot()
    spot.ready = threading.Event()
    t = threading.Thread(target=lambda: lambda_middle(lock, spot),
                         name="lambda-worker")
    t.daemon = True
    workers.append((t, spot, "lock"))

    for t, _, _ in workers:
        t.start()
    return workers


def wait_in_position(workers):
    for _, spot, _ in workers:
        spot.ready.wait()
    cond_code = threading.Condition.wait.__code__
    cond_line = condition_wait_blocking_line()
    deadline = time.monotonic() + 30.0
    while True:
        frames = sys._current_frames()
        bad = []
        for t, spot, kind in workers:
            f = frames.get(t.ident)
            if f is None:
                bad.append("%s: no frame" % t.name)
                continue
            if kind == "lock":
                ok = f.f_code is spot.code and f.f_lineno == spot.line
            else:
                # innermost: Condition.wait at the blocking acquire; our own
                # frame (further out) at the marked line.
                ok = f.f_code is cond_code and f.f_lineno == cond_line
                g = f
                while ok and g is not None and g.f_code is not spot.code:
                    g = g.f_back
                ok = ok and g is not None and g.f_lineno == spot.line
            if not ok:
                bad.append("%s at %s:%s" % (t.name, code_function(f.f_code), f.f_lineno))
        del frames, f
        if not bad:
            return
        if time.monotonic() > deadline:
            die("workers not in position: %s" % "; ".join(bad))
        time.sleep(0)  # yield the GIL/CPU so workers can reach their blocking call


def stack_of(f):
    out = []
    while f is not None:
        out.append({
            "function": code_function(f.f_code),
            "filename": f.f_code.co_filename,
            "line": f.f_lineno,
        })
        f = f.f_back
    return out


# Where report_truth's own frame is in the heap snapshot it takes (3.6 tracks running frames; 3.7+
# does not), it is held here so that it is still there at dump time (3.6 frees it when the call
# returns); the locals it keeps that were made after the snapshot are deleted before it returns.
_TRUTH_FRAME = [None]


def report_truth(main_frame, read_line, workers):
    # 1. Threads (materialises frame objects on 3.11+; they stay alive, owned
    #    by their interpreter frames, so take this BEFORE the heap snapshot).
    frames = sys._current_frames()
    threads = []
    main_stack = stack_of(main_frame)
    main_stack[0]["line"] = read_line  # where block_forever() will sit: os.read
    threads.append({
        "thread_id": threading.get_ident(),
        "native_id": threading.get_native_id(),
        "name": threading.current_thread().name,
        "frames": main_stack,
    })
    for t, _, _ in workers:
        threads.append({
            "thread_id": t.ident,
            "native_id": t.native_id,
            "name": t.name,
            "frames": stack_of(frames[t.ident]),
        })
    threads_json = json.dumps(threads)  # a str: untracked
    del frames, threads, main_stack, main_frame, t

    # 2. Heap.  Collect garbage, then stop automatic collection so the heap
    #    stays exactly as measured until the dump (no gen0 runs, no untracking
    #    of tuples/dicts).
    gc.collect()
    gc.disable()
    live = gc.get_objects()
    me = sys._getframe()
    for o in live:
        if o is me:
            _TRUTH_FRAME[0] = me
    del me
    freeze_count = gc.get_freeze_count() if HAS_FREEZE else 0
    frozen_all = _frozen_all

    names = {}
    types = {}
    total_bytes = 0
    n_seen = 0
    for seq in (live, frozen_all, (frozen_all,)) if HAS_FREEZE else (live,):
        for o in seq:
            t = type(o)
            name = names.get(t)
            if name is None:
                name = names[t] = type_name(t)
            size = sys.getsizeof(o)
            total_bytes += size
            n_seen += 1
            c = types.get(name)
            if c is None:
                types[name] = [1, size]
            else:
                c[0] += 1
                c[1] += size
    del o, t, seq  # seq: the for loop leaves it bound to its last sequence

    # Self-checks.
    frozen_expected = len(frozen_all) + 1 if HAS_FREEZE else 0
    if freeze_count != frozen_expected:
        die("freeze count %d != recorded frozen objects %d"
            % (freeze_count, frozen_expected))
    for o in live:
        if HAS_FREEZE and o is frozen_all:
            die("gc.get_objects() includes the permanent generation")
    del o
    expected_own = {
        "__main__.Plain": N_PLAIN,
        "__main__.Slotted": N_SLOTTED,
        "__main__.Bag": N_BAG,
        "__main__.Outer": N_OUTER,
        "__main__.Outer.Inner": N_INNER,
        "__main__.Wide": N_WIDE,
        "__main__.Frozen": N_FROZEN,
        "__main__.ThreadMade": N_THREAD_MADE_PER_THREAD * N_NESTED_THREADS,
        "__main__.make_locals.<locals>.Local": N_LOCAL,
        "__main__._Spot": len(workers),
    }
    own = {}
    for name, (count, size) in types.items():
        if name.startswith("__main__."):
            own[name] = {"count": count, "bytes": size}
    got = dict((k, v["count"]) for k, v in own.items())
    if got != expected_own:
        die("own-type counts differ from construction: got %r expected %r"
            % (got, expected_own))

    truth = {
        "pid": os.getpid(),
        "version": VERSION,
        "threads": "@THREADS@",
        "own_types": own,
        "types": dict((k, {"count": v[0], "bytes": v[1]}) for k, v in types.items()),
        "total_objects": len(live) + freeze_count,
        "total_bytes": total_bytes,
        "frozen_objects": freeze_count,
        "notes": "permanent generation fully known: gc.get_objects() snapshot "
                 "taken just before gc.freeze() is kept alive, so its sizes are "
                 "measured at truth time (frozen bytes exact)",
    }
    if n_seen != truth["total_objects"]:
        die("objects walked %d != total %d" % (n_seen, truth["total_objects"]))
    del live, frozen_all, names, types, own, got, c
    line = json.dumps(truth).replace('"@THREADS@"', threads_json) + "\n"
    del truth, threads_json
    data = line.encode("utf-8")
    del line
    while data:
        n = os.write(1, data)
        data = data[n:]


def block_forever(workers):
    report_truth(sys._getframe(), sys._getframe().f_lineno + 1, workers)
    os.read(*READ_ARGS)
    os._exit(0)


def main():
    lock = threading.Lock()
    lock.acquire()  # held forever: workers block on it
    never = threading.Event()

    plain = [Plain(i) for i in range(N_PLAIN)]
    slotted = [Slotted(i) for i in range(N_SLOTTED)]
    bags = []
    for i in range(N_BAG):
        b = Bag()
        b["a"] = i
        b["b"] = str(i)
        b["c"] = (i, i + 1)
        bags.append(b)
    outers = [Outer() for _ in range(N_OUTER)]
    inners = [Outer.Inner(i) for i in range(N_INNER)]
    wides = [Wide(i) for i in range(N_WIDE)]
    for w in wides:
        w.__dict__  # materialise the instance dict
    locals_ = make_locals(N_LOCAL)
    world = (plain, slotted, bags, outers, inners, wides, locals_, _frozen_objs)
    del b, w

    workers = start_threads(lock, never)
    wait_in_position(workers)
    block_forever(workers)
    return world


main()

"""Target for the allocation-site tests: objects made at known lines, with tracemalloc on.

Truth is by construction (tracemalloc.get_object_traceback() is no oracle: on 3.11 it misses objects
with a managed dict). Each allocation line carries a marker comment; the script finds its own line
numbers from its source, so the truth never drifts from the code. It prints one JSON line (the
readiness signal) and blocks reading stdin.
"""
import json
import os
import sys
import threading
import tracemalloc


def marker_lines():
    out = {}
    with open(__file__, encoding="utf-8") as f:
        for no, text in enumerate(f, 1):
            if "# SITE:" in text:
                out[text.split("# SITE:")[1].strip()] = no
    return out


class Early:
    pass


class Direct:
    pass


class ViaHelper:
    def __init__(self):
        self.payload = None


class Slotted:
    __slots__ = ("a",)


class Bag(dict):
    pass


class InThread:
    pass


def make_via():
    return ViaHelper()  # SITE:helper


def build_via(n):
    return [make_via() for _ in range(n)]  # SITE:caller


def build_in_thread(out, n):
    out.extend(InThread() for _ in range(n))  # SITE:thread


early_traced = tracemalloc.is_tracing()  # PYTHONTRACEMALLOC set: everything is traced
early = [Early() for _ in range(60)]  # SITE:early
if not tracemalloc.is_tracing():
    tracemalloc.start(5)

direct = [Direct() for _ in range(400)]  # SITE:direct
via = build_via(250)
slotted = [Slotted() for _ in range(150)]  # SITE:slotted
bags = [Bag(k=i) for i in range(120)]  # SITE:bag
in_thread = []
t = threading.Thread(target=build_in_thread, args=(in_thread, 90))
t.start()
t.join()

lines = marker_lines()
me = os.path.abspath(__file__)


def site(*names):
    return [[me, lines[n]] for n in names]


truth = {
    "pid": os.getpid(),
    "version": "%d.%d.%d" % sys.version_info[:3],
    "early_traced": early_traced,
    "sites": {
        "__main__.Direct": {"count": 400, "frames": site("direct")},
        "__main__.ViaHelper": {"count": 250, "frames": site("helper", "caller")},
        "__main__.Slotted": {"count": 150, "frames": site("slotted")},
        "__main__.Bag": {"count": 120, "frames": site("bag")},
        "__main__.InThread": {"count": 90, "frames": site("thread")},
    },
    "early": {"type": "__main__.Early", "count": 60, "frames": site("early")},
}
os.write(1, (json.dumps(truth) + "\n").encode())
os.read(0, 1)

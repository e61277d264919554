"""Target that is inside a garbage collection a large share of the time (issue #7: a pause must not
land in one). A thread runs full collections over ~100k tracked objects back to back with gaps
and measures its own duty cycle (time inside gc.collect() / wall time).

Ready line on stdout (JSON): pid, version and the exact count of Node objects. Then every stdin line
is answered with one JSON line: {"duty": fraction, "collections": n}.
"""
import gc
import json
import os
import sys
import threading
import time

NODES = 100_000


class Node:
    __slots__ = ("next", "payload")

    def __init__(self, nxt):
        self.next = nxt
        self.payload = [nxt]


head = None
for _ in range(NODES):
    head = Node(head)

stats = {"inside": 0.0, "since": time.perf_counter(), "collections": 0}
lock = threading.Lock()


def collector(started):
    started.set()
    while True:
        t0 = time.perf_counter()
        gc.collect()
        dt = time.perf_counter() - t0
        with lock:
            stats["inside"] += dt
            stats["collections"] += 1
        # Gaps of twice the collection's length: inside a collection about a third of the time.
        time.sleep(2 * dt)


started = threading.Event()
threading.Thread(target=collector, args=(started,), daemon=True).start()
started.wait()
truth = {"pid": os.getpid(), "version": "%d.%d.%d" % sys.version_info[:3], "nodes": NODES}
os.write(1, (json.dumps(truth) + "\n").encode())
for _line in sys.stdin:
    with lock:
        wall = time.perf_counter() - stats["since"]
        out = {"duty": stats["inside"] / wall, "collections": stats["collections"]}
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()

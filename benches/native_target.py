"""Target for benches/native.py: many threads blocked in C, plus a ticker that measures its own stall.

NTHREADS (argv[1], default 48) threads block forever in known C places (time.sleep, Lock.acquire,
queue.get, os.read on a pipe, select.select, Event.wait), each two Python frames deep. A "ticker"
thread wakes every millisecond (time.sleep(0.001)) and keeps the longest gap between two wakeups:
while a tool holds the process stopped the ticker cannot run, so the gap it sees covers the stop
(plus at most one tick and the scheduler's latency; the driver measures that baseline too).

Readiness: ONE JSON line on stdout {"pid", "version", "threads"} once every thread has started.
Then the main thread serves stdin: "reset" -> clears the longest gap, answers "ok";
"gap" -> answers the longest gap since the last reset, in milliseconds.
"""

import json
import os
import queue
import select
import sys
import threading
import time

VERSION = "%d.%d.%d" % sys.version_info[:3]
N = int(sys.argv[1]) if len(sys.argv) > 1 else 48
HELD = threading.Lock()
HELD.acquire()
NEVER = threading.Event()
PIPE_R, PIPE_W = os.pipe()  # nobody writes: reads and selects block forever


def wait_sleep():
    time.sleep(10**7)


def wait_lock():
    HELD.acquire()


def wait_queue():
    queue.Queue().get()


def wait_read():
    os.read(PIPE_R, 1)


def wait_select():
    select.select([PIPE_R], [], [])


def wait_event():
    NEVER.wait()


KINDS = [wait_sleep, wait_lock, wait_queue, wait_read, wait_select, wait_event]
state = {"last": time.perf_counter(), "max": 0.0}


def ticker(ready):
    ready.set()
    while True:
        time.sleep(0.001)
        now = time.perf_counter()
        gap = now - state["last"]
        state["last"] = now
        if gap > state["max"]:
            state["max"] = gap


def worker(fn, ready):
    ready.set()
    fn()


def main():
    started = []
    for i in range(N):
        ready = threading.Event()
        t = threading.Thread(
            target=worker, args=(KINDS[i % len(KINDS)], ready), name="w%d" % i, daemon=True
        )
        t.start()
        ready.wait()
        started.append(t)
    ready = threading.Event()
    tick = threading.Thread(target=ticker, args=(ready,), name="ticker", daemon=True)
    tick.start()
    ready.wait()
    print(json.dumps({"pid": os.getpid(), "version": VERSION, "threads": N + 2}), flush=True)
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "reset":
            state["last"] = time.perf_counter()
            state["max"] = 0.0
            print("ok", flush=True)
        elif cmd == "gap":
            print("%.3f" % (state["max"] * 1000.0), flush=True)


main()

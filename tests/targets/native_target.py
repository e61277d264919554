"""Native-stack target for leakspy `dump --native` (runs unchanged on CPython 3.6 .. 3.15).

Threads blocked in known C places, each with the GIL released:
  sleep     time.sleep(1000)
  lock      threading.Lock().acquire() on a lock the main thread holds
  queue     queue.Queue().get() on an empty queue
  read      os.read() on a pipe nobody writes to (two Python frames deep)
  select    select.select() on a pipe nobody writes to
  ctypes    libc read() through ctypes on such a pipe
  ext       (when sys.argv[1] names a built native_ext module) Python -> C (native_ext.call) ->
            Python (callback) -> os.read() on such a pipe
and the main thread in os.read(0, 1) once it has printed its readiness line.

Readiness: ONE JSON line on stdout once every thread has started:
  {"pid", "version", "threads": [{"name", "thread_id", "native_id"}]}
The harness then waits until the kernel shows every thread inside a system call
(/proc/PID/task/TID/syscall), so the stacks are where they will stay. No sleeps in the target.
"""

import ctypes
import json
import os
import queue
import select
import sys
import threading
import time

VERSION = "%d.%d.%d" % sys.version_info[:3]
HELD = threading.Lock()
HELD.acquire()
PIPES = [os.pipe() for _ in range(4)]
LIBC = ctypes.CDLL(None)
# The kernel's thread id: threading.get_native_id from 3.8, gettid(2) (x86_64: 186) before.
get_native_id = getattr(threading, "get_native_id", lambda: LIBC.syscall(186))  # write ends stay open and unused: reads block forever


def in_sleep():
    time.sleep(1000)


def in_lock():
    HELD.acquire()


def in_queue():
    queue.Queue().get()


def read_inner(fd):
    os.read(fd, 1)


def in_read():
    read_inner(PIPES[0][0])


def in_select():
    select.select([PIPES[1][0]], [], [])


def in_ctypes():
    buf = ctypes.create_string_buffer(1)
    LIBC.read(PIPES[2][0], buf, 1)


def ext_callback():
    os.read(PIPES[3][0], 1)


def in_ext(mod):
    mod.call(ext_callback)


def main():
    jobs = [
        ("sleep", in_sleep, ()),
        ("lock", in_lock, ()),
        ("queue", in_queue, ()),
        ("read", in_read, ()),
        ("select", in_select, ()),
        ("ctypes", in_ctypes, ()),
    ]
    if len(sys.argv) > 1:
        sys.path.insert(0, os.path.dirname(sys.argv[1]))
        import native_ext

        jobs.append(("ext", in_ext, (native_ext,)))
    started = []
    native_ids = {}
    for name, fn, args in jobs:
        ready = threading.Event()

        def run(fn=fn, args=args, ready=ready, name=name):
            native_ids[name] = get_native_id()
            ready.set()
            fn(*args)

        t = threading.Thread(target=run, name=name, daemon=True)
        t.start()
        ready.wait()
        started.append(t)
    threads = [
        {"name": t.name, "thread_id": t.ident, "native_id": native_ids[t.name]} for t in started
    ]
    main_thread = threading.main_thread()
    threads.append(
        {"name": "MainThread", "thread_id": main_thread.ident, "native_id": get_native_id()}
    )
    print(json.dumps({"pid": os.getpid(), "version": VERSION, "threads": threads}), flush=True)
    os.read(0, 1)


main()

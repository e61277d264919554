"""GIL-holder target for leakspy (runs unchanged on CPython 3.9 .. 3.15).

One thread ("spinner") runs a pure-Python busy loop forever; every other thread is blocked in a C call
that released the GIL: two workers in os.read() on pipes nobody writes to (one of them in nested calls),
and the main thread in os.read(0, 1) once it has printed its readiness line. With nobody else asking
for the GIL, the spinner keeps it: it is the one thread that holds the GIL and is running.

Readiness: after the spinner has counted past its first iterations (so it is inside the loop) and the
workers have started, the main thread writes ONE JSON line to stdout:

  {"pid", "version", "main": THREAD, "spinner": THREAD, "blocked": [THREAD...],
   "spin_lines": [first, last], "read_line": N, "free_threaded": BOOL}

with THREAD = {"thread_id", "native_id", "name", "fd"} (fd: the pipe a blocked worker reads, the main
thread's is 0, the spinner's null). The harness then waits until the kernel shows every blocked thread
inside read(fd) (/proc/PID/task/TID/syscall), so the GIL is free of them before it dumps. No sleeps.
On a free-threaded build ("free_threaded": true, Py_GIL_DISABLED) there is no GIL: the spinner just
runs, and nobody holds it.
"""

import json
import os
import sys
import sysconfig
import threading


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

VERSION = "%d.%d.%d" % sys.version_info[:3]


def marker(name):
    with open(__file__, encoding="utf-8") as f:
        for no, text in enumerate(f, 1):
            if text.rstrip().endswith("# SITE:" + name):
                return no
    raise SystemExit("marker %s not found" % name)


def spin(counter, started):
    n = 0  # SITE:spin-first
    while True:
        n += 1
        if n == 1000:
            counter.append(n)
            started.set()  # SITE:spin-last


def block_read(fd):
    os.read(fd, 1)  # SITE:read


def block_outer(fd):
    block_read(fd)


def main():
    started = threading.Event()
    counter = []
    spinner = threading.Thread(target=spin, args=(counter, started), name="spinner")
    spinner.daemon = True
    pipes = [os.pipe(), os.pipe()]  # the write ends stay open and unused: reads block forever
    blocked = [
        threading.Thread(target=block_outer, args=(pipes[0][0],), name="reader-nested"),
        threading.Thread(target=block_read, args=(pipes[1][0],), name="reader"),
    ]
    for t in blocked:
        t.daemon = True
        t.start()
    spinner.start()
    started.wait()

    def thread(t, fd):
        return {"thread_id": t.ident, "native_id": t.native_id, "name": t.name, "fd": fd}

    truth = {
        "pid": os.getpid(),
        "version": VERSION,
        "main": thread(threading.current_thread(), 0),
        "spinner": thread(spinner, None),
        "blocked": [thread(t, fd) for t, (fd, _) in zip(blocked, pipes)],
        "spin_lines": [marker("spin-first"), marker("spin-last")],
        "read_line": marker("read"),
        "free_threaded": bool(sysconfig.get_config_var("Py_GIL_DISABLED")),
    }
    data = (json.dumps(truth) + "\n").encode()
    while data:
        data = data[os.write(1, data):]
    os.read(0, 1)
    os._exit(0)


main()

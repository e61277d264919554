"""Threads running truly in parallel, for leakspy's free-threaded stack tests (tests/free_threaded.rs).

SPINNERS threads ("spinner-0" ...) each run a pure-Python busy loop forever; on a free-threaded build
(python3.13t, GIL disabled) they all run at once. Two workers block in os.read() on pipes nobody
writes to (one of them in nested calls), and the main thread blocks in os.read(0, 1) once it has
printed its readiness line.

Two-step readiness, so that the truth is taken only once the workers are inside read(): once every
spinner is inside its loop and the workers have started, the main thread writes

  {"readers": [{"native_id", "fd"}...]}

and reads one line from stdin. The harness waits until the kernel shows each reader inside
read(fd) (/proc/PID/task/TID/syscall; a chroot target may have no /proc of its own), then sends a
line; the main thread answers with the truth, ONE JSON line:

  {"pid", "version", "gil_enabled", "free_threaded", "spin_lines": [first, last],
   "threads": [THREAD...]}

THREAD = {"thread_id", "native_id", "name", "fd", "spinner", "frames": [FRAME...]}: fd is the pipe a
blocked worker reads (the main thread's is 0, a spinner's null); frames, innermost first, are
sys._current_frames() of that thread as {"function", "filename", "line"}, taken after the workers
are blocked; the innermost line of a spinner is anywhere in spin_lines (it keeps running), and the
main thread's innermost frame is moved to the os.read(0, 1) where it waits after printing
(SITE:main-read). No sleeps.
"""

import json
import os
import sys
import sysconfig
import threading

SPINNERS = 3
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


def frames_of(frame):
    out = []
    while frame is not None:
        out.append(
            {
                # leakspy names a function by its qualified name (3.11+ co_qualname)
                "function": getattr(frame.f_code, "co_qualname", frame.f_code.co_name),
                "filename": frame.f_code.co_filename,
                "line": frame.f_lineno,
            }
        )
        frame = frame.f_back
    return out


def write_line(obj):
    data = (json.dumps(obj) + "\n").encode()
    while data:
        data = data[os.write(1, data):]


def read_line():
    line = b""
    while not line.endswith(b"\n"):
        c = os.read(0, 1)
        if not c:
            os._exit(1)
        line += c


def main():
    pipes = [os.pipe(), os.pipe()]  # the write ends stay open and unused: reads block forever
    blocked = [
        threading.Thread(target=block_outer, args=(pipes[0][0],), name="reader-nested"),
        threading.Thread(target=block_read, args=(pipes[1][0],), name="reader"),
    ]
    for t in blocked:
        t.daemon = True
        t.start()
    spinners = []
    for i in range(SPINNERS):
        started = threading.Event()
        t = threading.Thread(target=spin, args=([], started), name="spinner-%d" % i)
        t.daemon = True
        t.start()
        started.wait()
        spinners.append(t)
    # The readers' frames are final once they are inside read(): the harness says when.
    write_line({"readers": [{"native_id": t.native_id, "fd": fd} for t, (fd, _) in zip(blocked, pipes)]})
    read_line()

    current = sys._current_frames()
    me = threading.current_thread()
    main_read = marker("main-read")

    def thread(t, fd, spinner):
        frames = frames_of(current[t.ident])
        if t is me:
            frames[0]["line"] = main_read
        return {
            "thread_id": t.ident,
            "native_id": t.native_id,
            "name": t.name,
            "fd": fd,
            "spinner": spinner,
            "frames": frames,
        }

    threads = [thread(me, 0, False)]
    threads += [thread(t, fd, False) for t, (fd, _) in zip(blocked, pipes)]
    threads += [thread(t, None, True) for t in spinners]
    gil = getattr(sys, "_is_gil_enabled", None)
    truth = {
        "pid": os.getpid(),
        "version": VERSION,
        "gil_enabled": True if gil is None else gil(),
        "free_threaded": bool(sysconfig.get_config_var("Py_GIL_DISABLED")),
        "spin_lines": [marker("spin-first"), marker("spin-last")],
        "threads": threads,
    }
    write_line(truth)
    os.read(0, 1)  # SITE:main-read
    os._exit(0)


main()

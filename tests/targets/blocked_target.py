"""Blocked-threads target for leakspy (runs unchanged on CPython 3.6 .. 3.15).

Threads blocked in known places, each named after its wait:

  sleep     time.sleep()                    event     threading.Event().wait()
  lock      threading.Lock().acquire()      queue     queue.Queue().get()
  pipe      os.read() on a pipe             recv      socket.recv() on a connected TCP socket
  select    select.select() on a pipe       rlock-a / rlock-b  a two-thread RLock cycle (deadlock)

and the main thread in sys.stdin.readline(). The socket's server side is this process too (loopback).

Readiness: once every thread is started, the main thread writes ONE JSON line to stdout:

  {"pid", "version", "threads": {NAME: {"thread_id", "native_id", "fd", "local", "remote"}},
   "rlock_a": ident, "rlock_b": ident, "stdin_link": readlink of fd 0}

(fd: the descriptor the thread waits on; local/remote: the recv socket's addresses). The harness
waits until the kernel shows each thread in its system call, dumps, then writes a line to stdin:
the main thread then starts "spinner", a thread that holds the GIL in a C loop forever
(sum() over a huge range never lets it go), prints {"spinner": ident} and runs Python bytecode
itself, so it ends up waiting for the GIL behind the spinner. No sleeps.
"""

import ctypes
import json
import os
import queue
import select
import socket
import sys
import threading
import time

VERSION = "%d.%d.%d" % sys.version_info[:3]

# The kernel's thread id: threading.get_native_id from 3.8, gettid(2) (x86_64: 186) before.
get_native_id = getattr(threading, "get_native_id", lambda: ctypes.CDLL(None).syscall(186))
info = {}
started = threading.Semaphore(0)


def register(name, fd=None, **extra):
    info[name] = dict(
        thread_id=threading.get_ident(), native_id=get_native_id(), fd=fd, **extra
    )
    started.release()


def sleeper():
    register("sleep")
    time.sleep(10**7)


def locker(lock):
    register("lock")
    lock.acquire()


def eventer(event):
    register("event")
    event.wait()


def queuer(q):
    register("queue")
    q.get()


def piper(fd):
    register("pipe", fd)
    os.read(fd, 1)


def receiver(conn):
    register(
        "recv",
        conn.fileno(),
        local="%s:%d" % conn.getsockname()[:2],
        remote="%s:%d" % conn.getpeername()[:2],
    )
    conn.recv(1)


def selecter(fd):
    register("select", fd)
    select.select([fd], [], [])


def cycle(name, first, second, barrier):
    with first:
        register(name)
        barrier.wait()
        with second:
            pass


def spin(gate):
    gate.acquire()
    sum(range(10**18))


def main():
    lock = threading.Lock()
    lock.acquire()
    event = threading.Event()
    q = queue.Queue()
    pipe_r, pipe_w = os.pipe()
    sel_r, sel_w = os.pipe()
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    cli = socket.create_connection(srv.getsockname())
    conn, _ = srv.accept()
    r1, r2 = threading.RLock(), threading.RLock()
    barrier = threading.Barrier(2)
    specs = [
        ("sleep", sleeper, ()),
        ("lock", locker, (lock,)),
        ("event", eventer, (event,)),
        ("queue", queuer, (q,)),
        ("pipe", piper, (pipe_r,)),
        ("recv", receiver, (conn,)),
        ("select", selecter, (sel_r,)),
        ("rlock-a", cycle, ("rlock-a", r1, r2, barrier)),
        ("rlock-b", cycle, ("rlock-b", r2, r1, barrier)),
    ]
    threads = [threading.Thread(target=f, args=a, name=n, daemon=True) for n, f, a in specs]
    for t in threads:
        t.start()
    for _ in threads:
        started.acquire()
    info["main"] = dict(
        thread_id=threading.get_ident(), native_id=get_native_id(), fd=0
    )
    out = dict(
        pid=os.getpid(),
        version=VERSION,
        threads=info,
        stdin_link=os.readlink("/proc/self/fd/0") if os.path.exists("/proc/self/fd/0") else None,
    )
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()
    sys.stdin.readline()

    gate = threading.Lock()
    gate.acquire()
    spinner = threading.Thread(target=spin, args=(gate,), name="spinner", daemon=True)
    spinner.start()
    sys.stdout.write(json.dumps(dict(spinner=spinner.ident)) + "\n")
    sys.stdout.flush()
    gate.release()
    n = 0
    while True:
        n += 1
    # keep the objects alive
    print(cli, pipe_w, sel_w)


main()

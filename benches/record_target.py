"""Target of the `leakspy record` overhead benchmark (benches/record_overhead.py).

A service-like loop on several threads that counts its own work: each unit of work builds a request
(a dict holding a list and a small object), a response object with a dict of headers, and keeps the
last KEEP responses per thread in a bounded deque (so objects are born, survive a while, reach
older generations and die, as in a server with a cache). Everything allocated is GC-tracked, so every
unit gives `record` births to find.

Protocol: prints {"pid": ...} and blocks reading stdin; on "go" runs the threads for SECONDS and
every WINDOW seconds prints {"units": N, "t": T, "cpu_s": C} (units done so far, monotonic time, the
process's CPU seconds so far), then "done", and blocks until stdin closes.

Arguments: threads (default 4), seconds (default 5), responses kept per thread (default 2000),
window (default 0.5 s).
"""
import collections
import json
import os
import sys
import threading
import time

THREADS = int(sys.argv[1]) if len(sys.argv) > 1 else 4
SECONDS = float(sys.argv[2]) if len(sys.argv) > 2 else 5.0
KEEP = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
WINDOW = float(sys.argv[4]) if len(sys.argv) > 4 else 0.5


class Client:
    def __init__(self, ident, port):
        self.ident = ident
        self.port = port


class Response:
    def __init__(self, request, status):
        self.request = request
        self.status = status
        self.headers = {"content-type": "text/plain", "x-id": request["id"]}


def handle(i, client):
    request = {"id": i, "path": "/items", "args": [i, i + 1, i + 2], "client": client}
    status = 200 if i % 7 else 404
    return Response(request, status)


def worker(counts, slot, stop):
    kept = collections.deque(maxlen=KEEP)
    client = Client(slot, 8000 + slot)
    n = 0
    while not stop:
        for _ in range(100):
            kept.append(handle(n, client))
            n += 1
        counts[slot] = n


def main():
    print(json.dumps({"pid": os.getpid(), "threads": THREADS}), flush=True)
    while sys.stdin.readline().strip() != "go":
        pass
    counts = [0] * THREADS
    stop = []
    threads = [threading.Thread(target=worker, args=(counts, k, stop)) for k in range(THREADS)]
    for t in threads:
        t.start()
    t0 = time.monotonic()
    end = t0 + SECONDS
    while True:
        now = time.monotonic()
        print(json.dumps({"units": sum(counts), "t": now, "cpu_s": time.process_time()}), flush=True)
        if now >= end:
            break
        time.sleep(min(WINDOW, max(end - now, 0.0)))
    stop.append(True)
    for t in threads:
        t.join()
    print("done", flush=True)
    while sys.stdin.readline():
        pass


main()

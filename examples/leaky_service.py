"""A small "service" with a real leak, for trying leakspy.

Every request creates a Session that is cached in a module-level registry and never evicted,
plus per-request scratch objects that are freed properly. Run it and dump it:

    leakspy dump -- python3 examples/leaky_service.py
"""
import os
import threading
import time

# Requests handled between two 10 ms naps: the leak's speed (about 40 MB/s at the default).
BATCH = int(os.environ.get("LEAKY_BATCH", "1000"))


class Session:
    def __init__(self, tenant, n):
        self.tenant = tenant
        self.request_no = n
        self.headers = {"x-request": str(n), "x-tenant": tenant}
        self.history = [n] * 4


class Scratch:
    __slots__ = ("payload",)

    def __init__(self, n):
        self.payload = (n, n + 1)


REGISTRY = {}  # tenant -> list of sessions: the leak (nothing ever removes them)


def handle(n):
    tenant = f"tenant-{n % 8}"
    REGISTRY.setdefault(tenant, []).append(Session(tenant, n))
    scratch = [Scratch(i) for i in range(10)]  # freed when the request ends
    return len(scratch)


def worker(stop):
    n = 0
    while not stop.is_set():
        handle(n)
        n += 1
        if n % BATCH == 0:
            time.sleep(0.01)


def main():
    stop = threading.Event()
    t = threading.Thread(target=worker, args=(stop,), name="request-worker", daemon=True)
    t.start()
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        stop.set()


if __name__ == "__main__":
    main()

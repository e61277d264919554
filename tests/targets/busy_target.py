"""Target for `leakspy trace`: a thread allocates Churn objects at a marked line, forever (bounded
memory), so the interpreter keeps reaching eval-breaker checks. Prints one JSON line (readiness),
then the main thread blocks reading stdin.
"""
import json
import os
import sys
import threading


class Churn:
    pass


keep = []


def churn(started):
    started.set()
    while True:
        keep.append(Churn())  # SITE:churn
        if len(keep) > 50000:
            del keep[:25000]


def marker(name):
    with open(__file__, encoding="utf-8") as f:
        for no, text in enumerate(f, 1):
            if "# SITE:" + name in text:
                return no
    raise SystemExit("marker not found")


started = threading.Event()
threading.Thread(target=churn, args=(started,), daemon=True).start()
started.wait()
truth = {
    "pid": os.getpid(),
    "version": "%d.%d.%d" % sys.version_info[:3],
    "file": os.path.abspath(__file__),
    "line": marker("churn"),
}
os.write(1, (json.dumps(truth) + "\n").encode())
os.read(0, 1)

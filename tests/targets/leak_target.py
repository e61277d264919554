"""Target for the leak-hunting tests (watch, snapshot/diff, leaks).

Mode "timer": a thread leaks 5 Leaked objects every 10 ms into a global list (the leak) and makes and
drops 50 Churn objects each time (churn that must not be reported); the main thread blocks reading
stdin. Mode "forever": the same, but the main thread blocks on an Event (for `leakspy watch --
COMMAND`, whose child has no stdin). Mode "tick": nothing happens until a line arrives on stdin;
then the target leaks 100 Leaked objects, frees the Temp objects of the previous tick, makes 30 new
Temp objects, makes and drops 200 Churn objects, and answers with its own truth: "ok LEAKED TEMP"
(how many Leaked and Temp objects it holds). The first stdout line is the readiness signal: JSON
with the pid and the marked lines.
"""
import json
import os
import sys
import threading
import time


class Leaked:
    def __init__(self, n):
        self.n = n


class Churn:
    pass


class Temp:
    pass


LEAK = []
TEMP = []


def leak_some(k):
    for i in range(k):
        LEAK.append(Leaked(i))  # SITE:leak


def churn(m):
    scratch = [Churn() for _ in range(m)]  # SITE:churn
    return len(scratch)


def timer():
    while True:
        leak_some(5)
        churn(50)
        time.sleep(0.01)  # the target's own pace, not a test wait


def marker(name):
    with open(__file__, encoding="utf-8") as f:
        for no, text in enumerate(f, 1):
            if "# SITE:" + name in text:
                return no
    raise SystemExit("marker not found")


mode = sys.argv[1] if len(sys.argv) > 1 else "timer"
truth = {"pid": os.getpid(), "file": os.path.abspath(__file__), "leak_line": marker("leak")}
if mode in ("timer", "forever"):
    threading.Thread(target=timer, daemon=True).start()
os.write(1, (json.dumps(truth) + "\n").encode())
if mode == "timer":
    os.read(0, 1)
elif mode == "forever":
    threading.Event().wait()
else:
    for line in sys.stdin:
        leak_some(100)
        TEMP[:] = [Temp() for _ in range(30)]
        churn(200)
        os.write(1, ("ok %d %d\n" % (len(LEAK), len(TEMP))).encode())

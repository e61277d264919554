"""Target for `leakspy record`'s code-object cache: a function's code object freed while the recording
runs leaves its address to the next code object, which must not be named after the first.

After the readiness line it blocks on stdin. On "go": `warm` (compiled at run time) allocates Warm
objects for WARM_SECONDS, so that every sample sees its frame; then it is freed (function, code,
namespace); then `leak`, compiled from the same text except for its name, class and first line, so
that pymalloc hands it the freed code object's block, allocates Keep objects (each held in a local while it spins, as record_target.py's functions do),
all kept, for as long;
prints "done" and blocks. On "truth": {"Keep": survivors, "reused": whether leak's code object took
warm's address}.
"""
import gc
import json
import sys
import time

SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 0.5

SRC = """
def {name}(n, out, until):
    while time.monotonic() < until:
        obj = {cls}(n)
        for _ in range(300):
            n += 1
        out.append(obj)
"""


class Warm:
    def __init__(self, n):
        self.n = n


class Keep:
    def __init__(self, n):
        self.n = n


def define(name, cls, first_line):
    ns = {"time": time, cls.__name__: cls}
    exec(compile("\n" * first_line + SRC.format(name=name, cls=cls.__name__), __file__, "exec"), ns)
    return ns[name]


print("ready", flush=True)
sys.stdin.readline()
warm = define("warm", Warm, 0)
warm_code = id(warm.__code__)
junk = []
warm(0, junk, time.monotonic() + SECONDS)
del warm, junk
gc.collect()
leak = define("leak", Keep, 40)
reused = id(leak.__code__) == warm_code
kept = []
leak(0, kept, time.monotonic() + SECONDS)
print("done", flush=True)
sys.stdin.readline()
print(json.dumps({"Keep": len(kept), "reused": reused}), flush=True)
sys.stdin.readline()

"""Target for the HTML pages at scale: 1,000 classes, each allocated from 10 distinct lines of
generated code (classes many.T0 ... many.T999; 10,000 allocation sites, exact under -X tracemalloc, which records file and line).

The first stdout line is the readiness signal: JSON with the pid, the number of classes and of
sites. Then each line on stdin runs every site once (each keeps its new object in KEEP) and the
target answers "ok N" (the objects it keeps: its own count). Nothing else allocates in between; the collector is off.
"""
import gc
import json
import os
import sys

TYPES = 1000
PER_TYPE = 10
FILE = "<many_sites>"

lines = ["class T%d:\n    pass" % i for i in range(TYPES)]
lines.append("def run(keep):")
# Site k (one line each) makes an instance of class k % TYPES.
lines.extend("    keep.append(T%d())" % (k % TYPES) for k in range(TYPES * PER_TYPE))
namespace = {"__name__": "many"}
exec(compile("\n".join(lines) + "\n", FILE, "exec"), namespace)
run = namespace["run"]
KEEP = []
# No collection moves the new objects off the youngest list between two of record's samples (in a
# tight loop of 10,000 births record would miss those: tests/record.rs covers its accuracy).
gc.disable()

os.write(1, (json.dumps({"pid": os.getpid(), "types": TYPES, "sites": TYPES * PER_TYPE, "file": FILE}) + "\n").encode())
for line in sys.stdin:
    run(KEEP)
    os.write(1, ("ok %d\n" % len(KEEP)).encode())

"""Target for objects larger than the RSS: a 256 MiB numpy.zeros array, whose buffer (calloc'd,
never written) the kernel has not backed with pages. Reports the array's sys.getsizeof and its own
RSS, then blocks reading stdin."""
import json
import os
import sys

import numpy as np

A = np.zeros(32 << 20)
size = sys.getsizeof(A)
with open("/proc/self/status") as f:
    rss = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))
os.write(1, (json.dumps({"pid": os.getpid(), "sizeof": size, "rss": rss}) + "\n").encode())
os.read(0, 1)

"""Target for the memory breakdown: holds a 64 MiB bytearray (anonymous memory, every page
written) and reports its own resident memory by mapping kind, read from /proc/self/smaps the way
leakspy classifies it, just before it blocks reading stdin."""
import json
import os

BIG = bytearray(64 << 20)
for i in range(0, len(BIG), 4096):
    BIG[i] = 1


def breakdown():
    out = {"rss": 0, "heap": 0, "anonymous": 0, "file": 0, "stack": 0, "other": 0}
    kind = None
    with open("/proc/self/smaps") as f:
        for line in f:
            first = line.split()[0]
            if "-" in first and not first.endswith(":"):
                parts = line.split(None, 5)
                path = parts[5].strip() if len(parts) > 5 else ""
                if path == "[heap]":
                    kind = "heap"
                elif path == "[stack]":
                    kind = "stack"
                elif path == "":
                    kind = "anonymous"
                elif path.startswith("/") and not path.startswith(("/dev/shm/", "/SYSV")):
                    kind = "file"
                else:
                    kind = "other"
            elif first == "Rss:":
                n = int(line.split()[1]) * 1024
                out["rss"] += n
                out[kind] += n
    return out


truth = {"pid": os.getpid(), "big": len(BIG), "memory": breakdown()}
os.write(1, (json.dumps(truth) + "\n").encode())
os.read(0, 1)

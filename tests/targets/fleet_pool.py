"""A multiprocessing.Pool(3) whose tasks leak (tests/fleet.rs).

Usage: fleet_pool.py COUNT_DIR TASKS. Each task appends one `PoolLeak` to its worker's module
global and writes the worker's own count, "PID COUNT", to COUNT_DIR/PID (temporary file, then
rename). When every task is done the parent prints one JSON line (its pid and the workers' pids)
and blocks on stdin, keeping the pool (and its workers) alive until stdin closes.
"""

import json
import multiprocessing
import os
import sys
import time

LEAKS = []


class PoolLeak:
    __slots__ = ("n",)

    def __init__(self, n):
        self.n = n


def task(i):
    LEAKS.append(PoolLeak(i))
    directory = sys.argv[1]
    pid = os.getpid()
    tmp = os.path.join(directory, f".{pid}.tmp")
    with open(tmp, "w") as f:
        f.write(f"{pid} {len(LEAKS)}\n")
    os.replace(tmp, os.path.join(directory, str(pid)))
    # Long enough that every worker gets some of the tasks.
    time.sleep(0.005)
    return pid


def main():
    tasks = int(sys.argv[2])
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(3) as pool:
        pids = sorted(set(pool.map(task, range(tasks), chunksize=1)))
        workers = sorted(p.pid for p in pool._pool)
        print(json.dumps({"pid": os.getpid(), "task_pids": pids, "workers": workers}), flush=True)
        os.read(0, 1)


if __name__ == "__main__":
    main()

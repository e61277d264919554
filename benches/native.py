"""Driver of benches/native.sh: `leakspy dump --native` vs `py-spy dump --native` vs
`pystack remote --native` on the same target (benches/native_target.py), wall time and how long the
target was stopped.

Per run: a fresh target; once every thread sits in a system call, each tool runs once (in a rotating
order), and around each the target's ticker thread is reset and asked for the longest gap it saw
(the stop as the target felt it). A baseline window of the same length with no tool gives the
ticker's own noise. leakspy also reports its pause (`pause_ms` of --json).
Prints a Markdown table (median (min-max) over the runs) on stdout.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time


def cell(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return "failed"
    med = statistics.median(xs)
    if len(xs) == 1 or min(xs) == max(xs):
        return "%.0f" % med
    return "%.0f (%.0f–%.0f)" % (med, min(xs), max(xs))


def wait_in_syscalls(pid, deadline=60.0):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        tids = os.listdir("/proc/%d/task" % pid)
        states = []
        for t in tids:
            try:
                with open("/proc/%d/task/%s/syscall" % (pid, t)) as f:
                    states.append(f.read())
            except OSError:
                states.append("")
        if all(s and not s.startswith("running") for s in states):
            return
        time.sleep(0.005)
    raise SystemExit("threads of %d never all blocked" % pid)


class Target:
    def __init__(self, argv):
        self.p = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
        )
        self.ready = json.loads(self.p.stdout.readline())
        self.pid = self.p.pid

    def ask(self, cmd):
        self.p.stdin.write(cmd + "\n")
        self.p.stdin.flush()
        return self.p.stdout.readline().strip()

    def stop(self):
        self.p.kill()
        self.p.wait()


def run_tool(target, argv, check):
    """Wall ms, stall ms seen by the ticker, the tool's output (None when it failed)."""
    assert target.ask("reset") == "ok"
    t0 = time.perf_counter()
    out = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    wall = (time.perf_counter() - t0) * 1000.0
    stall = float(target.ask("gap"))
    ok = out.returncode == 0 and check(out.stdout)
    if not ok:
        sys.stderr.write(
            "%s failed (exit %d):\n%s\n%s\n"
            % (argv[0], out.returncode, out.stdout[-2000:], out.stderr[-2000:])
        )
    return wall, stall, (out.stdout if ok else None)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--leakspy", required=True)
    ap.add_argument("--pyspy", required=True)
    ap.add_argument("--pystack", required=True)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=48)
    ap.add_argument("interps", nargs="+", help="NAME=ROOT:PYTHON (ROOT / = run directly, else chroot)")
    a = ap.parse_args()
    here = os.path.dirname(os.path.abspath(__file__))
    script = os.path.join(here, "native_target.py")
    print(
        "| interpreter | threads | leakspy wall (ms) | leakspy pause_ms | leakspy stall seen (ms) "
        "| py-spy wall (ms) | py-spy stall seen (ms) | pystack wall (ms) | pystack stall seen (ms) "
        "| ticker baseline (ms) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for spec in a.interps:
        name, rest = spec.split("=", 1)
        root, python = rest.split(":", 1)
        if root == "/":
            argv = [python, "-I", script, str(a.threads)]
        else:
            inside = "/tmp/leakspy-bench-native"
            os.makedirs(root + inside, exist_ok=True)
            with open(script) as src, open(root + inside + "/native_target.py", "w") as dst:
                dst.write(src.read())
            argv = ["chroot", root, python, "-I", inside + "/native_target.py", str(a.threads)]
        res = {k: [] for k in ["lw", "lp", "ls", "sw", "ss", "pw", "ps", "base"]}
        nthreads = None
        for run in range(a.runs):
            t = Target(argv)
            try:
                nthreads = t.ready["threads"]
                wait_in_syscalls(t.pid)
                pid = str(t.pid)
                tools = [
                    (
                        "l",
                        [a.leakspy, "dump", "--pid", pid, "--native", "--no-heap", "--json", "-q"],
                        lambda s: len(json.loads(s)["threads"]) == nthreads,
                    ),
                    (
                        "s",
                        [a.pyspy, "dump", "--native", "--pid", pid],
                        lambda s: s.count("Thread ") >= nthreads,
                    ),
                    (
                        "p",
                        [a.pystack, "remote", "--native", pid],
                        lambda s: s.count("Traceback for thread") >= nthreads,
                    ),
                ]
                k = run % len(tools)
                for key, tool_argv, check in tools[k:] + tools[:k]:
                    wall, stall, out = run_tool(t, tool_argv, check)
                    res[key + "w"].append(wall if out is not None else None)
                    res[key + "s"].append(stall if out is not None else None)
                    if key == "l" and out is not None:
                        res["lp"].append(json.loads(out)["pause_ms"])
                    wait_in_syscalls(t.pid)
                # The ticker alone for as long as the slowest tool took.
                assert t.ask("reset") == "ok"
                time.sleep(max([w for w in res["lw"] + res["sw"] + res["pw"] if w] or [100]) / 1000.0)
                res["base"].append(float(t.ask("gap")))
            finally:
                t.stop()
        version = t.ready["version"]
        print(
            "| %s (%s) | %d | %s | %s | %s | %s | %s | %s | %s | %s |"
            % (
                name,
                version,
                nthreads,
                cell(res["lw"]),
                cell(res["lp"]),
                cell(res["ls"]),
                cell(res["sw"]),
                cell(res["ss"]),
                cell(res["pw"]),
                cell(res["ps"]),
                cell(res["base"]),
            )
        )
        sys.stdout.flush()


main()

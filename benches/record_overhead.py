"""What `leakspy record` costs the target: called by benches/record.sh (see benches/README.md).

One target process (benches/record_target.py: service-like threads that count their own units of
work and report them every WINDOW seconds) is watched by two leakspy recorders attached before it
starts working: one at the given rate without pausing (the default), one with `--pause`. Both have
taken their baseline and are then held stopped (SIGSTOP); at each of the target's window lines the
driver moves on in the cycle alone -> default -> pause -> alone ..., continuing (SIGCONT) the
recorder of the next window and stopping the other. Windows alternate every WINDOW seconds, so the
machine's drift and this process's own speed (memory layout, hash seed) are shared by all modes; a
fresh target per round adds the variation between processes.

A recorder with `--pause` is only stopped between two of its samples (while the target is not
attached to a tracer), so a stopped recorder never keeps the target paused.

Per window: the target's units per second (wall) and per CPU second of the target; for the
recorder of the window its CPU (utime + stime from /proc/PID/stat) over the window's wall time.
A window with leakspy is compared with the mean of the alone windows just before and after it
(the drop); "alone" windows compared the same way with their alone neighbours give the noise.
At the end both recorders get SIGINT and report (samples, births, torn walks); peak RSS is VmHWM.
"""
import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
import uuid

from driver import stop_target  # benches/driver.py, next to this file

HERE = os.path.dirname(os.path.abspath(__file__))
TARGET = os.path.join(HERE, "record_target.py")
TICK = os.sysconf("SC_CLK_TCK")
MODES = ["alone", "default", "pause"]


def start_target(root, python, args, nice):
    scratch = None
    if root == "/":
        cmd = [python, "-I", TARGET, *args]
    else:
        inside = f"/tmp/leakspy-rbench-{uuid.uuid4().hex[:8]}"
        scratch = os.path.join(root, inside.lstrip("/"))
        os.makedirs(scratch)
        shutil.copy(TARGET, scratch)
        cmd = ["chroot", root, python, "-I", f"{inside}/record_target.py", *args]
    p = subprocess.Popen(nice + cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    info = json.loads(p.stdout.readline())
    if info["pid"] != p.pid:
        p.kill()
        raise RuntimeError("target pid differs from the spawned pid")
    return p, scratch


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def hwm_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        m = re.search(r"VmHWM:\s+(\d+)", f.read())
    return int(m.group(1)) / 1024 if m else None


def traced(pid):
    """Whether any thread of `pid` has a tracer (a recorder with --pause inside a sample)."""
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                m = re.search(r"TracerPid:\s+(\d+)", f.read())
            if m and m.group(1) != "0":
                return True
    except OSError:
        pass
    return False


def hold(lk, target_pid):
    """SIGSTOP a recorder, but never while it has the target paused."""
    for _ in range(1000):
        lk.send_signal(signal.SIGSTOP)
        time.sleep(0.0005)
        if not traced(target_pid):
            return
        lk.send_signal(signal.SIGCONT)
        time.sleep(0.001)
    raise RuntimeError("could not stop the recorder between two samples")


def one_process(leakspy, root, python, a, nice):
    p, scratch = start_target(root, python, [str(a.threads), str(a.seconds), str(a.keep),
                                             str(a.window)], nice)
    recorders = {}
    try:
        for mode in MODES[1:]:
            cmd = [leakspy, "record", "--pid", str(p.pid), "--duration", "3600s", "--rate",
                   str(a.rate), "--json"]
            if mode == "pause":
                cmd.append("--pause")
            lk = subprocess.Popen(nice + cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            while True:
                line = lk.stderr.readline()
                if not line:
                    raise RuntimeError(f"leakspy ended before recording: {lk.stdout.read()}")
                if "leakspy: recording" in line:
                    break
            hold(lk, p.pid)
            recorders[mode] = lk
        p.stdin.write("go\n")
        p.stdin.flush()
        windows = []
        prev = None
        active = None
        k = 0
        while True:
            line = p.stdout.readline()
            if not line or line.strip() == "done":
                break
            cur = json.loads(line)
            now_cpu = {m: cpu_s(lk.pid) for m, lk in recorders.items()}
            if prev is not None:
                w = {"mode": active, "seconds": cur["t"] - prev["t"]}
                w["units_per_s"] = (cur["units"] - prev["units"]) / w["seconds"]
                w["units_per_cpu_s"] = (cur["units"] - prev["units"]) / max(cur["cpu_s"] - prev["cpu_s"], 1e-9)
                if active in recorders:
                    w["leakspy_cpu_pct"] = 100 * (now_cpu[active] - prev_cpu[active]) / w["seconds"]
                windows.append(w)
            # The next window's mode (the first window, while the threads start, is "alone" and
            # dropped below).
            nxt = MODES[k % len(MODES)]
            k += 1
            if active in recorders and active != nxt:
                hold(recorders[active], p.pid)
            if nxt in recorders:
                recorders[nxt].send_signal(signal.SIGCONT)
            active = nxt
            prev = cur
            prev_cpu = {m: cpu_s(lk.pid) for m, lk in recorders.items()}
        reports = {}
        for mode, lk in recorders.items():
            hwm = hwm_mb(lk.pid)
            lk.send_signal(signal.SIGCONT)
            lk.send_signal(signal.SIGINT)
            out, _ = lk.communicate(timeout=300)
            rep = json.loads(out)
            reports[mode] = {"samples": rep["samples"], "torn_walks": rep["torn_walks"],
                             "births": sum(t["born"] for t in rep["types"]), "hwm_mb": hwm}
        return windows[1:], reports
    finally:
        for lk in recorders.values():
            if lk.poll() is None:
                lk.send_signal(signal.SIGCONT)
                lk.kill()
                lk.wait()
        stop_target(p, scratch, timeout=10)


def fmt(v, f="{:.1f}"):
    if not v:
        return "–"
    return (f + " (" + f + "–" + f + ")").format(statistics.median(v), min(v), max(v))


def drops(windows, mode, key):
    """Each `mode` window against the mean of the nearest alone windows before and after it."""
    out = []
    for i, w in enumerate(windows):
        if w["mode"] != mode:
            continue
        before = next((x for x in reversed(windows[:i]) if x["mode"] == "alone"), None)
        after = next((x for x in windows[i + 1:] if x["mode"] == "alone"), None)
        ref = [x[key] for x in (before, after) if x is not None]
        if len(ref) == 2:
            out.append(100 * (1 - w[key] / statistics.mean(ref)))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--leakspy", required=True)
    ap.add_argument("--interp", action="append", required=True, help="name=root:python")
    ap.add_argument("--rounds", type=int, default=3, help="target processes per interpreter")
    ap.add_argument("--seconds", type=float, default=30.0, help="the target's work per process")
    ap.add_argument("--window", type=float, default=0.5)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--keep", type=int, default=2000, help="responses the target keeps per thread")
    ap.add_argument("--rate", type=int, default=200)
    ap.add_argument("--nice", type=int, default=0, help="run the target and leakspy under nice -n N")
    ap.add_argument("--json-out")
    a = ap.parse_args()
    nice = ["nice", "-n", str(a.nice)] if a.nice else []
    results = {}
    for spec in a.interp:
        name, rest = spec.split("=", 1)
        root, python = rest.split(":", 1)
        for rnd in range(a.rounds):
            windows, reports = one_process(a.leakspy, root, python, a, nice)
            results.setdefault(name, []).append({"windows": windows, "reports": reports,
                                                 "load": os.getloadavg()[0]})
            print(json.dumps({"interp": name, "round": rnd, "reports": reports}), file=sys.stderr,
                  flush=True)
    if a.json_out:
        with open(a.json_out, "w") as f:
            json.dump(results, f, indent=1)
    rows = ["| interpreter | mode | windows | target units/s | drop vs neighbouring alone windows (%) "
            "| drop per target CPU s (%) | leakspy CPU (% of a core) | leakspy peak RSS (MB) "
            "| samples/s | births seen/s | torn walks |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, rounds in results.items():
        for mode in MODES:
            ws = [w for r in rounds for w in r["windows"] if w["mode"] == mode]
            d = [x for r in rounds for x in drops(r["windows"], mode, "units_per_s")]
            dc = [x for r in rounds for x in drops(r["windows"], mode, "units_per_cpu_s")]
            cpu = [w["leakspy_cpu_pct"] for w in ws if "leakspy_cpu_pct" in w]
            reps = [r["reports"][mode] for r in rounds if mode in r["reports"]]
            active_s = [sum(w["seconds"] for w in r["windows"] if w["mode"] == mode) for r in rounds]
            rate = [rep["samples"] / s for rep, s in zip(reps, active_s) if s]
            births = [rep["births"] / s for rep, s in zip(reps, active_s) if s]
            rows.append(
                f"| {name} | {mode} | {len(ws)} | {fmt([w['units_per_s'] for w in ws], '{:,.0f}')} "
                f"| {fmt(d)} | {fmt(dc)} | {fmt(cpu)} | {fmt([x['hwm_mb'] for x in reps])} "
                f"| {fmt(rate, '{:.0f}')} | {fmt(births, '{:,.0f}')} "
                f"| {fmt([x['torn_walks'] for x in reps], '{:.0f}')} |")
    print("\n".join(rows))


main()

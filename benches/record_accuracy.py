"""How accurate `leakspy record`'s sites are against the sampling rate: called by benches/record.sh.

Runs the truth-by-construction target of tests/record.rs (tests/targets/record_target.py: Leak made
in make_leak, Churn in churn, Item in make_item called from site_a 75% / site_b 25%, Block in
make_block on a second thread) under `leakspy record --rate R` for each rate, without and with
`--pause`, REPEATS times each, and reports per (interpreter, mode, rate):

- right %: of all sampled (type, stack) pairs of Leak, Churn, Item and Block, the share charged to a
  stack whose innermost frame in the target's file is the type's true allocating function (the
  test's 90% criterion, pooled over the four types); the worst type of any run is shown too;
- share error: |site_a's share of Item's correctly charged pairs - 0.75| in points;
- pairs: sampled pairs of those four types per run;
- alive exact: runs in which `alive` equalled the target's own survivor count for Leak, Item, Block.

Each run is a fresh target; the protocol is the test's (no sleeps: "recording" on leakspy's stderr,
"go", "done", SIGINT, "truth"). Wrong pairs are listed by the function they went to (--verbose).
"""
import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
TARGET = os.path.join(HERE, "..", "tests", "targets", "record_target.py")
SCRIPT = "record_target.py"
TYPES = ["__main__.Leak", "__main__.Churn", "__main__.Item", "__main__.Block"]


def target_frames(site):
    return [f for f in site["frames"] if f["filename"].endswith(SCRIPT)]


def one_run(leakspy, root, python, rate, pause, iterations, seconds):
    scratch = None
    if root == "/":
        cmd = [python, "-I", TARGET, str(iterations), str(seconds)]
    else:
        inside = f"/tmp/leakspy-racc-{uuid.uuid4().hex[:8]}"
        scratch = os.path.join(root, inside.lstrip("/"))
        os.makedirs(scratch)
        shutil.copy(TARGET, scratch)
        cmd = ["chroot", root, python, "-I", f"{inside}/{SCRIPT}", str(iterations), str(seconds)]
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    lk = None
    try:
        info = json.loads(p.stdout.readline())
        if info["pid"] != p.pid:
            raise RuntimeError("target pid differs from the spawned pid")
        lcmd = [leakspy, "record", "--pid", str(p.pid), "--duration", "600s", "--rate", str(rate),
                "--json"]
        if pause:
            lcmd.append("--pause")
        lk = subprocess.Popen(lcmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        while True:
            line = lk.stderr.readline()
            if not line:
                raise RuntimeError("leakspy ended before recording")
            if "leakspy: recording" in line:
                break
        p.stdin.write("go\n")
        p.stdin.flush()
        while p.stdout.readline().strip() != "done":
            pass
        lk.send_signal(signal.SIGINT)
        out, _ = lk.communicate(timeout=300)
        report = json.loads(out)
        p.stdin.write("truth\n")
        p.stdin.flush()
        truth = json.loads(p.stdout.readline())
        return report, truth
    finally:
        if lk is not None and lk.poll() is None:
            lk.kill()
            lk.wait()
        try:
            p.stdin.close()
        except OSError:
            pass
        p.kill()
        p.wait()
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)


def score(report, truth):
    types = {t["type"]: t for t in report["types"]}
    right = total = 0
    worst = 100.0
    wrong = {}
    alive_ok = True
    share_err = None
    for ty in TYPES:
        func = truth["function"][ty]
        t = types.get(ty)
        if t is None:
            worst = 0.0
            alive_ok = alive_ok and ty == "__main__.Churn"
            continue
        if ty != "__main__.Churn" and t["alive"] != truth["survivors"][ty]:
            alive_ok = False
        r = 0
        for s in t["sites"]:
            f = target_frames(s)
            if f and f[0]["function"] == func:
                r += s["pairs"]
            else:
                key = f"{ty}->{f[0]['function'] if f else '(outside)'}"
                wrong[key] = wrong.get(key, 0) + s["pairs"]
        right += r
        total += t["pairs"]
        if t["pairs"]:
            worst = min(worst, 100 * r / t["pairs"])
        if ty == "__main__.Item" and r:
            a = sum(s["pairs"] for s in t["sites"]
                    if len(target_frames(s)) > 1 and target_frames(s)[0]["function"] == func
                    and target_frames(s)[1]["function"] == "site_a")
            share_err = 100 * abs(a / r - truth["item_callers"]["site_a"])
    return {"right_pct": 100 * right / total if total else 0.0, "worst_type_pct": worst,
            "pairs": total, "share_err": share_err, "alive_exact": alive_ok, "wrong": wrong,
            "samples": report["samples"], "duration_s": report["duration_s"]}


def fmt(v, f="{:.1f}"):
    v = [x for x in v if x is not None]
    if not v:
        return "–"
    return (f + " (" + f + "–" + f + ")").format(statistics.median(v), min(v), max(v))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--leakspy", required=True)
    ap.add_argument("--interp", action="append", required=True, help="name=root:python")
    ap.add_argument("--rates", default="25,50,100,200,400")
    ap.add_argument("--modes", default="default,pause")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--iterations", type=int, default=2000)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--json-out")
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args()
    rates = [int(x) for x in a.rates.split(",")]
    modes = a.modes.split(",")
    runs = []
    for spec in a.interp:
        name, rest = spec.split("=", 1)
        root, python = rest.split(":", 1)
        for rep in range(a.repeats):
            for mode in modes:
                for rate in rates:
                    report, truth = one_run(a.leakspy, root, python, rate, mode == "pause",
                                            a.iterations, a.seconds)
                    s = score(report, truth)
                    s.update(interp=name, mode=mode, rate=rate, repeat=rep)
                    runs.append(s)
                    if a.verbose:
                        print(json.dumps(s), file=sys.stderr, flush=True)
    if a.json_out:
        with open(a.json_out, "w") as f:
            json.dump(runs, f, indent=1)
    print("| interpreter | mode | rate (/s) | runs | samples/s | pairs per run | right % | worst type % "
          "| runs with a type < 90% | Item share error (points) | alive exact |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for spec in a.interp:
        name = spec.split("=", 1)[0]
        for mode in modes:
            for rate in rates:
                rs = [r for r in runs if r["interp"] == name and r["mode"] == mode and r["rate"] == rate]
                print(f"| {name} | {mode} | {rate} | {len(rs)} "
                      f"| {fmt([r['samples'] / r['duration_s'] for r in rs], '{:.0f}')} "
                      f"| {fmt([r['pairs'] for r in rs], '{:.0f}')} | {fmt([r['right_pct'] for r in rs])} "
                      f"| {fmt([r['worst_type_pct'] for r in rs])} "
                      f"| {sum(r['worst_type_pct'] < 90 for r in rs)} "
                      f"| {fmt([r['share_err'] for r in rs])} "
                      f"| {sum(r['alive_exact'] for r in rs)}/{len(rs)} |")


main()

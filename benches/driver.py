"""Benchmark driver: called by benches/bench.sh (see benches/README.md).

For each interpreter and run: start benches/target.py (its own in-process
histogram time comes back on the readiness line), run `leakspy dump --json`
under GNU time (wall, pause_ms, bytes copied, peak RSS), then `py-spy dump`
(wall), then close the target's stdin and kill it.
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

HERE = os.path.dirname(os.path.abspath(__file__))
TARGET = os.path.join(HERE, "target.py")


def start_target(root, python, units):
    """`python` may carry interpreter options after the path ("python3.12 -X tracemalloc=1")."""
    python, *opts = python.split()
    scratch = None
    if root == "/":
        cmd = [python, "-I", *opts, TARGET, str(units)]
    else:
        inside = f"/tmp/leakspy-bench-{uuid.uuid4().hex[:8]}"
        scratch = os.path.join(root, inside.lstrip("/"))
        os.makedirs(scratch)
        shutil.copy(TARGET, scratch)
        cmd = ["chroot", root, python, "-I", *opts, f"{inside}/target.py", str(units)]
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline()  # readiness: blocks until the heap is built
    if not line.endswith("\n"):
        err = p.stderr.read() if p.poll() is not None else ""
        p.kill()
        raise RuntimeError(f"target did not start: {line!r} {err}")
    info = json.loads(line)
    if info["pid"] != p.pid:
        p.kill()
        raise RuntimeError("target pid differs from spawned pid (chroot must exec python)")
    info["rss_kb"] = target_rss_kb(p.pid)
    return p, info, scratch


def target_rss_kb(pid):
    """The target's resident memory once its heap is built (VmRSS)."""
    with open(f"/proc/{pid}/status") as f:
        m = re.search(r"VmRSS:\s+(\d+)", f.read())
    return int(m.group(1)) if m else None


def stop_target(p, scratch, timeout=5):
    """Close the target's stdin (its cue to exit), wait `timeout` seconds, then kill it."""
    try:
        p.stdin.close()
    except OSError:
        pass
    try:
        p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    if scratch:
        shutil.rmtree(scratch, ignore_errors=True)


def max_rss_kb(stderr_text):
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", stderr_text)
    return int(m.group(1)) if m else None


def timed(cmd, time_bin, timeout):
    """Run a leakspy command under GNU time: (wall ms, parsed JSON stdout, peak RSS kB)."""
    if time_bin:
        cmd = [time_bin, "-v"] + cmd
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    wall = (time.perf_counter() - t0) * 1e3
    if r.returncode != 0:
        raise RuntimeError(f"{cmd} exit {r.returncode}: {r.stderr[-2000:]}")
    return wall, json.loads(r.stdout), max_rss_kb(r.stderr) if time_bin else None


def run_leakspy(binary, pid, time_bin, extra=()):
    cmd = [binary, "dump", "--pid", str(pid), "--json", "-q", *extra]
    wall, rep, rss = timed(cmd, time_bin, 300)
    return {
        "wall_ms": wall,
        "total_ms": rep["total_ms"],
        "pause_ms": rep["pause_ms"],
        "bytes_copied": rep["read_stats"]["bytes_copied"],
        "copy_ms": rep["read_stats"]["copy_ms"],
        "objects": rep["heap"]["objects"],
        "heap_bytes": rep["heap"]["bytes"],
        "partial": rep["partial"],
        "rss_kb": rss,
    }


def run_refs(binary, pid, time_bin):
    cmd = [binary, "refs", "--pid", str(pid), "--type", "__main__.Node", "--json", "-q"]
    wall, rep, rss = timed(cmd, time_bin, 600)
    c = rep["refs"]["cost"]
    return {
        "wall_ms": wall,
        "pause_ms": rep["pause_ms"],
        "objects": c["objects"],
        "references": c["references"],
        "graph_bytes": c["graph_bytes"],
        "paths_ms": c["paths_ms"],
        "dominators_ms": c["dominators_ms"],
        "rss_kb": rss,
    }


def run_stacks(binary, pid, time_bin):
    """`leakspy dump --no-heap`: stacks only, like py-spy dump."""
    cmd = [binary, "dump", "--pid", str(pid), "--no-heap", "--json", "-q"]
    wall, rep, rss = timed(cmd, time_bin, 120)
    return {
        "wall_ms": wall,
        "pause_ms": rep["pause_ms"],
        "bytes_copied": rep["read_stats"]["bytes_copied"],
        "rss_kb": rss,
    }


def run_pystack(pystack, pid):
    if not pystack:
        return {"ok": False, "error": "not installed"}
    t0 = time.perf_counter()
    r = subprocess.run([pystack, "remote", str(pid)], capture_output=True, text=True, timeout=120)
    wall = (time.perf_counter() - t0) * 1e3
    if r.returncode != 0:
        msg = (r.stderr.strip() or r.stdout.strip()).splitlines()
        return {"ok": False, "error": " / ".join(msg[:2])[:200]}
    if "main" not in r.stdout:
        return {"ok": False, "error": "no stack in output: " + r.stdout.strip()[:150]}
    return {"ok": True, "wall_ms": wall}


def tool_cell(results):
    ok = [x for x in results if x["ok"]]
    if ok:
        cell = fmt([x["wall_ms"] for x in ok])
        if len(ok) < len(results):
            cell += f" ({len(results) - len(ok)} of {len(results)} failed)"
        return cell
    return f"refused: {results[0]['error']}".replace("|", "\\|")


def run_pyspy(pyspy, pid):
    t0 = time.perf_counter()
    r = subprocess.run([pyspy, "dump", "--pid", str(pid)], capture_output=True,
                       text=True, timeout=120)
    wall = (time.perf_counter() - t0) * 1e3
    if r.returncode != 0:
        msg = (r.stderr.strip() or r.stdout.strip()).splitlines()
        return {"ok": False, "error": " / ".join(msg[:2])[:200]}
    if "main (" not in r.stdout:  # the target blocks in main(); no frame means no stack read
        return {"ok": False, "error": "no stack in output: " + r.stdout.strip()[:150]}
    return {"ok": True, "wall_ms": wall}


def fmt(vals, digits=0):
    vals = [v for v in vals if v is not None]
    if not vals:
        return "n/a"
    f = f"{{:.{digits}f}}"
    med = f.format(statistics.median(vals))
    if min(vals) == max(vals):
        return med
    return f"{med} ({f.format(min(vals))}–{f.format(max(vals))})"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--leakspy", required=True)
    ap.add_argument("--rebuild", help="shell command to rebuild leakspy after an odd failure")
    ap.add_argument("--pyspy", required=True)
    ap.add_argument("--time-bin", default="")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--units", type=int, default=110_000)
    ap.add_argument("--interp", action="append", required=True,
                    help="name=ROOT:PYTHON (ROOT '/' for no chroot)")
    ap.add_argument("--json-out", required=True)
    ap.add_argument("--refs", action="store_true", help="also time `leakspy refs`")
    ap.add_argument("--pystack", default="", help="pystack executable (stacks-only row)")
    ap.add_argument("--big-units", type=int, default=0,
                    help="also one run at this many units on the first interpreter (the linearity "
                         "row; 660000 gives about 8M objects); 0: skipped")
    a = ap.parse_args()

    results = []
    for spec in a.interp:
        name, rest = spec.split("=", 1)
        root, python = rest.split(":", 1)
        runs = []
        for i in range(a.runs):
            p, info, scratch = start_target(root, python, a.units)
            try:
                try:
                    ls = run_leakspy(a.leakspy, info["pid"], a.time_bin)
                except Exception as e:  # noqa: BLE001 - rebuild and retry once
                    if not a.rebuild:
                        raise
                    print(f"  {name} run {i+1}: leakspy failed ({e}); rebuilding and retrying once",
                          file=sys.stderr)
                    subprocess.run(a.rebuild, shell=True, check=True)
                    ls = run_leakspy(a.leakspy, info["pid"], a.time_bin)
                gc_only = run_leakspy(a.leakspy, info["pid"], a.time_bin, ["--gc-only"])
                refs = run_refs(a.leakspy, info["pid"], a.time_bin) if a.refs else None
                ps = run_pyspy(a.pyspy, info["pid"])
                stacks = run_stacks(a.leakspy, info["pid"], a.time_bin)
                pst = run_pystack(a.pystack, info["pid"])
            finally:
                stop_target(p, scratch)
            run = {"target": info, "leakspy": ls, "gc_only": gc_only, "refs": refs, "pyspy": ps,
                   "stacks": stacks, "pystack": pst}
            runs.append(run)
            print(f"  {name} run {i+1}: tracked={info['tracked_objects']} "
                  f"inproc={info['inproc_ms']:.0f}ms leakspy wall={ls['wall_ms']:.0f}ms "
                  f"pause={ls['pause_ms']:.0f}ms copied={ls['bytes_copied']/1e6:.0f}MB "
                  f"rss={ls['rss_kb']}kB objects={ls['objects']} "
                  f"gc-only wall={gc_only['wall_ms']:.0f}ms "
                  f"refs={'%.0fms' % refs['wall_ms'] if refs else '-'} "
                  f"py-spy={'%.0fms' % ps['wall_ms'] if ps['ok'] else 'FAILED: ' + ps['error']}",
                  file=sys.stderr)
        results.append({"name": name, "root": root, "python": python, "runs": runs})

    big = None
    if a.big_units and results:
        r0 = results[0]
        print(f"  {r0['name']}: one run at {a.big_units} units", file=sys.stderr)
        p, info, scratch = start_target(r0["root"], r0["python"], a.big_units)
        try:
            ls = run_leakspy(a.leakspy, info["pid"], a.time_bin)
            refs = run_refs(a.leakspy, info["pid"], a.time_bin) if a.refs else None
        finally:
            stop_target(p, scratch)
        big = {"name": r0["name"], "target": info, "leakspy": ls, "refs": refs}

    with open(a.json_out, "w") as f:
        json.dump({"results": results, "big": big}, f, indent=1)

    # Markdown tables: GC-tracked objects (as before), the whole heap, refs.
    hdr = ("| interpreter | tracked objects | in-process gc.get_objects+getsizeof (ms) "
           "| leakspy --gc-only wall (ms) | leakspy pause (ms) | copied (MB) | pause per 100 MB (ms) "
           "| leakspy peak RSS (MB) | leakspy objects / in-process | py-spy dump wall (ms) |")
    out = [hdr, "|" + "---|" * (hdr.count("|") - 1)]
    for r in results:
        runs = r["runs"]
        t = [x["target"] for x in runs]
        ls = [x["leakspy"] for x in runs]
        ps = [x["pyspy"] for x in runs]
        ok = [x for x in ps if x["ok"]]
        if ok:
            pyspy_cell = fmt([x["wall_ms"] for x in ok])
            if len(ok) < len(ps):
                pyspy_cell += f" ({len(ps) - len(ok)} of {len(ps)} failed)"
        else:
            pyspy_cell = f"refused: {ps[0]['error']}".replace("|", "\\|")
        go = [x["gc_only"] for x in runs]
        ratio = [l["objects"] / x["tracked_objects"] for l, x in zip(go, t)]
        out.append("| " + " | ".join([
            f"{r['name']} ({t[0]['python']})",
            fmt([x["tracked_objects"] for x in t]),
            fmt([x["inproc_ms"] for x in t]),
            fmt([l["wall_ms"] for l in go]),
            fmt([l["pause_ms"] for l in go]),
            fmt([l["bytes_copied"] / 1e6 for l in go]),
            fmt([l["pause_ms"] / (l["bytes_copied"] / 1e8) for l in go]),
            fmt([l["rss_kb"] / 1024 if l["rss_kb"] else None for l in go]),
            fmt(ratio, 4),
            pyspy_cell,
        ]) + " |")
    hdr = ("| interpreter | all objects (in-process closure) | in-process closure+getsizeof (ms) "
           "| leakspy dump wall (ms) | leakspy pause (ms) | leakspy peak RSS (MB) "
           "| leakspy objects / closure |")
    out += ["", hdr, "|" + "---|" * (hdr.count("|") - 1)]
    for r in results:
        t = [x["target"] for x in r["runs"]]
        ls = [x["leakspy"] for x in r["runs"]]
        out.append("| " + " | ".join([
            f"{r['name']} ({t[0]['python']})",
            fmt([x["all_objects"] for x in t]),
            fmt([x["inproc_all_ms"] for x in t]),
            fmt([l["wall_ms"] for l in ls]),
            fmt([l["pause_ms"] for l in ls]),
            fmt([l["rss_kb"] / 1024 if l["rss_kb"] else None for l in ls]),
            fmt([l["objects"] / x["all_objects"] for l, x in zip(ls, t)], 4),
        ]) + " |")
    if a.refs:
        hdr = ("| interpreter | graph objects | references | graph memory (MB) "
               "| leakspy refs wall (ms) | pause (ms) | paths (ms) | dominator tree (ms) "
               "| peak RSS (MB) |")
        out += ["", hdr, "|" + "---|" * (hdr.count("|") - 1)]
        for r in results:
            rf = [x["refs"] for x in r["runs"]]
            out.append("| " + " | ".join([
                r["name"],
                fmt([x["objects"] for x in rf]),
                fmt([x["references"] for x in rf]),
                fmt([x["graph_bytes"] / 1e6 for x in rf]),
                fmt([x["wall_ms"] for x in rf]),
                fmt([x["pause_ms"] for x in rf]),
                fmt([x["paths_ms"] for x in rf]),
                fmt([x["dominators_ms"] for x in rf]),
                fmt([x["rss_kb"] / 1024 if x["rss_kb"] else None for x in rf]),
            ]) + " |")
    # Memory against the target's own, and stacks only against py-spy and pystack.
    hdr = ("| interpreter | target RSS (MB) | leakspy peak RSS / target RSS: --gc-only "
           "| whole heap | refs | leakspy --no-heap wall (ms) | its pause (ms) | its copy (MB) "
           "| its peak RSS (MB) | py-spy dump wall (ms) | pystack remote wall (ms) |")
    out += ["", hdr, "|" + "---|" * (hdr.count("|") - 1)]
    for r in results:
        runs = r["runs"]
        t = [x["target"] for x in runs]
        ratio = lambda key: fmt([x[key]["rss_kb"] / x["target"]["rss_kb"]
                                 if x.get(key) and x[key]["rss_kb"] and x["target"]["rss_kb"]
                                 else None for x in runs], 2)
        st = [x["stacks"] for x in runs]
        out.append("| " + " | ".join([
            r["name"],
            fmt([x["rss_kb"] / 1024 if x["rss_kb"] else None for x in t]),
            ratio("gc_only"), ratio("leakspy"), ratio("refs"),
            fmt([x["wall_ms"] for x in st]),
            fmt([x["pause_ms"] for x in st]),
            fmt([x["bytes_copied"] / 1e6 for x in st], 1),
            fmt([x["rss_kb"] / 1024 if x["rss_kb"] else None for x in st]),
            tool_cell([x["pyspy"] for x in runs]),
            tool_cell([x["pystack"] for x in runs]),
        ]) + " |")
    if big:
        # Linearity: the big heap against the median run of the same interpreter.
        r0 = results[0]["runs"]
        small_objs = statistics.median(x["leakspy"]["objects"] for x in r0)
        small_wall = statistics.median(x["leakspy"]["wall_ms"] for x in r0)
        b = big["leakspy"]
        k = b["objects"] / small_objs
        hdr = ("| interpreter | objects (× the rows above) | leakspy dump wall (ms) "
               "| × the rows above' wall | pause (ms) | peak RSS / target RSS "
               "| leakspy refs wall (ms) | × the rows above' refs wall |")
        out += ["", hdr, "|" + "---|" * (hdr.count("|") - 1)]
        refs_cells = ["n/a", "n/a"]
        if big["refs"] and r0[0]["refs"]:
            small_refs = statistics.median(x["refs"]["wall_ms"] for x in r0)
            refs_cells = [f"{big['refs']['wall_ms']:.0f}",
                          f"{big['refs']['wall_ms'] / small_refs:.1f}"]
        tr = big["target"]["rss_kb"]
        out.append("| " + " | ".join([
            big["name"],
            f"{b['objects']} ({k:.1f} ×)",
            f"{b['wall_ms']:.0f}",
            f"{b['wall_ms'] / small_wall:.1f}",
            f"{b['pause_ms']:.0f}",
            f"{b['rss_kb'] / tr:.2f}" if b["rss_kb"] and tr else "n/a",
            *refs_cells,
        ]) + " |")
    print("\n".join(out))


if __name__ == "__main__":
    main()

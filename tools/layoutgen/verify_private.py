#!/usr/bin/env python3
"""Check a layout file's [private] values against the running interpreter.

    python3.X tools/layoutgen/verify_private.py python-layouts/3.X.toml
    python3.X verify_private.py --values LEFTINDEX BLOCKLEN BLOCK_SIZE BUF BUF_SIZE

Reads deque.leftindex and buffered.buffer / buffered.buffer_size with ctypes at the given offsets
from live objects and checks that sys.getsizeof reproduces from them:

    deque d:    sys.getsizeof(d) == base(d) + ceil((leftindex + len(d)) / BLOCKLEN) * sizeof(block)
    Buffered f: sys.getsizeof(f) == base(f) + (buffer_size if buffer != NULL else 0)

where base(o) = type(o).__basicsize__ + what sys.getsizeof adds on top of __sizeof__ (the GC
header, and on 3.11+ the managed-dict pre-header; measured here as getsizeof(o) - o.__sizeof__()
and required to be 16, i.e. sizeof(PyGC_Head), for these types; 0 on a free-threaded build, which
has no PyGC_Head). Also checks invariants that a
wrong offset would break (0 <= leftindex < BLOCKLEN, leftindex moves by one per popleft(),
buffer_size == the requested buffering). Stdlib only (no tomllib before 3.11): the [private]
section is parsed by hand. Exit status 0 = all checks passed.

With a layout file that has an [asyncio] section, also checks it: in an event loop in debug mode
(loop.set_debug(True)) the pointer at future_source_tb of an _asyncio.Future and of an _asyncio.Task
(created directly and through a helper) must be id(obj._source_traceback), and NULL outside debug
mode; tp_basicsize of _asyncio.Future/_asyncio.Task must be future_size/task_size; the PyMemberDef
array at tp_members of traceback.FrameSummary, read with the member_def_* offsets, must name the
slots "filename", "lineno" and "name" with type member_type_object_ex at offsets that hold
id(frame.filename) etc.; StackSummary must carry tpflags_list_subclass.
"""
import collections
import ctypes
import os
import sys
import sysconfig
import tempfile
import warnings

FIELDS = ["deque_leftindex", "deque_blocklen", "deque_block_size", "buffered_buffer",
          "buffered_buffer_size"]


ASYNCIO_FIELDS = ["future_source_tb", "future_size", "task_size", "member_def_name",
                  "member_def_type", "member_def_offset", "member_def_size",
                  "member_type_object_ex", "tpflags_list_subclass"]


def read_sections(path, wanted):
    """{section: {key: int}} for the integer keys of the wanted sections."""
    out, sec = {}, None
    with open(path) as fh:
        for line in fh:
            line = line.strip()
            if line.startswith("["):
                sec = line.strip("[]")
            elif sec in wanted and "=" in line and not line.startswith("#"):
                k, v = (x.strip() for x in line.split("=", 1))
                try:
                    out.setdefault(sec, {})[k] = int(v)
                except ValueError:
                    pass
    return out


def read_private(path):
    vals = read_sections(path, ("private",)).get("private", {})
    missing = [f for f in FIELDS if f not in vals]
    if missing:
        sys.exit("%s: no [private] %s" % (path, ", ".join(missing)))
    return vals


def ssize_at(obj, off):
    return ctypes.c_ssize_t.from_address(id(obj) + off).value


def ptr_at(obj, off):
    return ctypes.c_void_p.from_address(id(obj) + off).value or 0


failures = 0
checks = 0


def check(ok, what):
    global failures, checks
    checks += 1
    if not ok:
        failures += 1
        print("FAIL", what)


# Free-threaded builds (PEP 703) have no PyGC_Head: sys.getsizeof adds nothing for these types.
FREE_THREADED = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
GC_HEAD = 0 if FREE_THREADED else 16


def base(o):
    pre = sys.getsizeof(o) - o.__sizeof__()
    check(pre == GC_HEAD, "%s: getsizeof - __sizeof__ = %d, expected %d (GC head)" % (type(o).__name__, pre, GC_HEAD))
    return type(o).__basicsize__ + pre


def verify(p):
    L, BL, BS = p["deque_leftindex"], p["deque_blocklen"], p["deque_block_size"]
    BUF, BSZ = p["buffered_buffer"], p["buffered_buffer_size"]

    def deque_case(d, label):
        li = ssize_at(d, L)
        check(0 <= li < BL, "deque %s: leftindex %d out of [0, %d)" % (label, li, BL))
        want = base(d) + (li + len(d) + BL - 1) // BL * BS
        got = sys.getsizeof(d)
        check(got == want, "deque %s: getsizeof %d != %d (leftindex %d)" % (label, got, want, li))
        return li

    for n in (0, 1, 63, 64, 65, 1000):
        deque_case(collections.deque(range(n)), "len %d" % n)
        deque_case(collections.deque(range(n), maxlen=n + 5), "len %d maxlen" % n)
    d = collections.deque(range(1000))
    li0 = deque_case(d, "before popleft")
    for k in (1, 5, 30, 63, 64, 200):
        while len(d) > 1000 - k:
            d.popleft()
        li = deque_case(d, "after %d popleft" % k)
        check(li == (li0 + k) % BL, "deque: leftindex %d after %d popleft, expected %d" % (li, k, (li0 + k) % BL))
    d = collections.deque()
    for i in range(300):
        d.appendleft(i)
    deque_case(d, "300 appendleft")
    for i in range(100):
        d.pop()
    deque_case(d, "300 appendleft, 100 pop")

    fd, path = tempfile.mkstemp()
    os.write(fd, b"x" * 100000)
    os.close(fd)
    try:
        for mode in ("rb", "wb", "r+b"):
            for buffering in (-1, 1, 2, 512, 4096, 8192, 65536, 1 << 20):
                # -1: default size (st_blksize based); 1 (line buffering) falls back to the default
                # in binary mode with a RuntimeWarning
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    f = open(path, mode, buffering=buffering)
                for state in ("open", "used", "closed"):
                    if state == "used":
                        if "r" in mode:
                            f.read(10)
                        else:
                            f.write(b"abc")
                    if state == "closed":
                        f.close()
                    buf, bsz = ptr_at(f, BUF), ssize_at(f, BSZ)
                    label = "%s %s buffering=%d %s" % (type(f).__name__, mode, buffering, state)
                    if state != "closed" and buffering > 1:
                        check(bsz == buffering, "%s: buffer_size %d != %d" % (label, bsz, buffering))
                    if state != "closed":
                        check(buf != 0, "%s: buffer pointer is NULL" % label)
                    want = base(f) + (bsz if buf else 0)
                    got = sys.getsizeof(f)
                    check(got == want, "%s: getsizeof %d != %d (buffer %#x, buffer_size %d)"
                          % (label, got, want, buf, bsz))
    finally:
        os.unlink(path)


def verify_asyncio(a, tp_members):
    import asyncio

    def int_at(addr, ctype):
        return ctype.from_address(addr).value

    def slot_offsets(cls):
        """name -> (type, offset) from the PyMemberDef array at cls's tp_members."""
        out = {}
        arr = ptr_at(cls, tp_members)
        check(arr != 0, "%s: tp_members is NULL" % cls.__name__)
        for i in range(64):
            m = arr + i * a["member_def_size"]
            name = int_at(m + a["member_def_name"], ctypes.c_void_p)
            if not name:
                break
            out[ctypes.string_at(name).decode()] = (
                int_at(m + a["member_def_type"], ctypes.c_int),
                int_at(m + a["member_def_offset"], ctypes.c_ssize_t))
        return out

    async def sleeper():
        await asyncio.sleep(3600)

    for debug in (True, False):
        loop = asyncio.new_event_loop()
        loop.set_debug(debug)

        def helper():
            return loop.create_task(sleeper())

        objs = [("Future", loop.create_future(), a["future_size"]),
                ("Task", loop.create_task(sleeper()), a["task_size"]),
                ("Task via helper", helper(), a["task_size"])]
        for label, o, size in objs:
            what = "%s (debug %s)" % (label, debug)
            check(type(o).__module__ == "_asyncio", "%s: %r is not the C implementation" % (what, type(o)))
            check(type(o).__basicsize__ == size,
                  "%s: basicsize %d != %d" % (what, type(o).__basicsize__, size))
            tb = o._source_traceback
            got = ptr_at(o, a["future_source_tb"])
            if not debug:
                check(tb is None and got == 0, "%s: source_tb %#x, expected NULL" % (what, got))
                continue
            check(tb is not None and got == id(tb),
                  "%s: pointer at +%d is %#x, id(_source_traceback) %#x"
                  % (what, a["future_source_tb"], got, id(tb)))
            check(type(tb).__flags__ & a["tpflags_list_subclass"] != 0,
                  "%s: %r lacks Py_TPFLAGS_LIST_SUBCLASS" % (what, type(tb)))
            check(len(tb) > 0, "%s: empty _source_traceback" % what)
            fs = tb[-1]
            slots = slot_offsets(type(fs))
            for name in ("filename", "lineno", "name"):
                t, off = slots.get(name, (None, None))
                check(t == a["member_type_object_ex"], "%s: slot %s type %r" % (what, name, t))
                if off is not None:
                    check(ptr_at(fs, off) == id(getattr(fs, name)),
                          "%s: FrameSummary.%s not at +%d" % (what, name, off))
        for _, o, _ in objs:
            if isinstance(o, asyncio.Task):
                o.cancel()
        loop.run_until_complete(asyncio.sleep(0))
        loop.close()


def main():
    args = sys.argv[1:]
    a = None
    if len(args) == 6 and args[0] == "--values":
        p = dict(zip(FIELDS, map(int, args[1:])))
    elif len(args) == 1:
        p = read_private(args[0])
        secs = read_sections(args[0], ("asyncio", "type"))
        a = secs.get("asyncio")
        if a is not None:
            missing = [f for f in ASYNCIO_FIELDS if f not in a]
            if missing:
                sys.exit("%s: no [asyncio] %s" % (args[0], ", ".join(missing)))
    else:
        sys.exit(__doc__)
    verify(p)
    if a is not None:
        verify_asyncio(a, secs["type"]["tp_members"])
    print("%s %s: [private] %s%s: %d checks, %d failed" % (
        sys.version.split()[0], sys.executable,
        " ".join("%s=%d" % (k, p[k]) for k in FIELDS),
        " [asyncio] future_source_tb=%d future_size=%d task_size=%d" % (
            a["future_source_tb"], a["future_size"], a["task_size"]) if a else "",
        checks, failures))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()

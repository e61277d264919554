#!/usr/bin/env python3
"""verify_a.py VALUES-FILE

Checks the group-A __sizeof__ formulas (tools/layoutgen/sizeof_a.h) in the running interpreter:
for many instances of generator, coroutine, async_generator, frame, bytearray, array.array,
_io.BytesIO, _struct.Struct and _queue.SimpleQueue it reads the raw fields with ctypes at
id(obj)+offset (offsets from VALUES-FILE, lines `name = number` as emit_sizeof_a() prints them),
recomputes the size from raw memory only, and asserts equality with type(obj).__sizeof__(obj).
Prints one summary line; exit status 1 on any mismatch. Stdlib only, runs on 3.9 .. 3.15.
"""
import array
import ctypes
import gc
import io
import re
import struct
import sys
import types
import warnings

warnings.simplefilter("ignore")

# ------------------------------------------------------------------ values and raw reads
V = {}


def load(path):
    for line in open(path):
        m = re.match(r"^([a-z_0-9]+) = (\d+)\s*$", line)
        if m:
            V[m.group(1)] = int(m.group(2))


def u64(a):
    return ctypes.c_uint64.from_address(a).value


def i64(a):
    return ctypes.c_int64.from_address(a).value


def u32(a):
    return ctypes.c_uint32.from_address(a).value


def i32(a):
    return ctypes.c_int32.from_address(a).value


def ob_size(a):
    return i64(a + 16)


def tp_basicsize(a):
    # PyTypeObject: PyVarObject (24) + tp_name (8) -> tp_basicsize at +32, tp_itemsize at +40
    return i64(u64(a + 8) + 32)


def tp_itemsize(a):
    return i64(u64(a + 8) + 40)


def refcnt(a):
    return u32(a) if V["object_refcnt_size"] == 4 else i64(a)


# ------------------------------------------------------------------ formulas (raw memory only)
def object_sizeof(a):
    """object.__sizeof__: basicsize + |ob_size| * itemsize (itemsize > 0 only)."""
    n = tp_basicsize(a)
    it = tp_itemsize(a)
    if it:
        n += abs(ob_size(a)) * it
    return n


def code_of_iframe(iframe):
    c = u64(iframe + V["iframe_code"])
    if "stackref_tag_refcnt" in V:
        c &= ~V["stackref_tag_refcnt"]
    return c


def code_slots(code):
    if "code_framesize" in V:  # 3.12+: _PyFrame_NumSlotsForCodeObject
        return i32(code + V["code_framesize"]) - V["frame_specials_size"]
    return i32(code + V["code_nlocalsplus"]) + i32(code + V["code_stacksize"])  # 3.11


def gen_sizeof(a, iframe_key):
    if iframe_key not in V:  # 3.9/3.10: no gen_sizeof
        return object_sizeof(a)
    if "gen_code" in V:  # 3.11: gen->gi_code
        code = u64(a + V["gen_code"])
    else:
        code = code_of_iframe(a + V[iframe_key])
    return V[iframe_key] + V["iframe_localsplus"] + 8 * code_slots(code)


def frame_sizeof(a):
    if "frame_code" in V:  # 3.9/3.10
        code = u64(a + V["frame_code"])
        extras = (i32(code + V["code_stacksize"]) + i32(code + V["code_nlocals"])
                  + ob_size(u64(code + V["code_cellvars"])) + ob_size(u64(code + V["code_freevars"])))
        return V["frame_struct_size"] + (extras - 1) * 8
    iframe = u64(a + V["frame_frame"])
    return V["frame_data"] + V["iframe_localsplus"] + 8 * code_slots(code_of_iframe(iframe))


def bytearray_sizeof(a):
    alloc = i64(a + V["bytearray_alloc"])
    if "bytearray_bytes_object" in V:  # 3.15: the backing bytes object's header counts too
        return tp_basicsize(a) + (V["bytes_sval"] + 1 + alloc if alloc > 0 else 0)
    return tp_basicsize(a) + alloc


def array_sizeof(a):
    descr = u64(a + V["array_descr"])
    return tp_basicsize(a) + i64(a + V["array_allocated"]) * i32(descr + V["arraydescr_itemsize"])


def bytesio_sizeof(a):
    n = tp_basicsize(a)
    buf = u64(a + V["bytesio_buf"])
    if buf and refcnt(buf) == 1:  # !SHARED_BUF
        n += V["bytes_sval"] + 1 + ob_size(buf)  # _PySys_GetSizeOf(bytes)
    return n


def struct_sizeof(a):
    n = tp_basicsize(a) + V["formatcode_size"]
    c = u64(a + V["struct_codes"])
    if c:
        while u64(c + V["formatcode_fmtdef"]):
            n += V["formatcode_size"]
            c += V["formatcode_size"]
    return n


def simplequeue_sizeof(a):
    if "simplequeue_items_cap" not in V:
        return object_sizeof(a)
    return tp_basicsize(a) + 8 * i64(a + V["simplequeue_items_cap"])


# ------------------------------------------------------------------ checking
RESULTS = {}  # kind -> [checks, mismatches]
FAILS = []


def check(kind, obj, formula, what=""):
    a = id(obj)
    assert tp_basicsize(a) == type(obj).__basicsize__
    got = formula(a)
    want = type(obj).__sizeof__(obj)
    r = RESULTS.setdefault(kind, [0, 0])
    r[0] += 1
    if got != want:
        r[1] += 1
        FAILS.append("%s %s: formula %d, __sizeof__ %d" % (kind, what, got, want))


INFO = {"frame_obsize_differs": 0}


def check_frame(f, what=""):
    check("frame", f, frame_sizeof, what)
    if "frame_code" in V:
        # the rule leakspy used for 3.9/3.10: basicsize + itemsize * (ob_size - 1)
        a = id(f)
        if tp_basicsize(a) + tp_itemsize(a) * (ob_size(a) - 1) != type(f).__sizeof__(f):
            INFO["frame_obsize_differs"] += 1


# ------------------------------------------------------------------ generators & co
def make_deep(n_locals, kind="def"):
    names = ["v%d" % i for i in range(n_locals)]
    body = "\n".join("    %s = %d" % (n, i) for i, n in enumerate(names))
    if kind == "gen":
        src = "def deep():\n%s\n    yield %s\n    yield sum([%s])\n" % (body, names[-1], ", ".join(names))
    elif kind == "frame":
        src = "import sys\ndef deep():\n%s\n    return sys._getframe(), %s\n" % (body, names[-1])
    else:
        src = "def deep():\n%s\n    return sum([%s])\n" % (body, ", ".join(names))
    ns = {}
    exec(src, ns)
    return ns["deep"]


def gen_simple():
    x = 1
    yield x
    yield x + 1


def gen_yield_from():
    yield from gen_simple()
    yield from range(3)


def gen_self_check():
    me = GEN_HOLDER[0]
    check("generator", me, lambda a: gen_sizeof(a, "gen_iframe"), "running")
    check_frame(sys._getframe(), "running generator's own frame")
    yield 1


GEN_HOLDER = []


def gen_closure():
    a, b, c = 1, 2, 3

    def inner():
        return a + b + c
    yield inner
    yield inner() + a


def test_generators():
    g = lambda a: gen_sizeof(a, "gen_iframe")  # noqa: E731
    for mk in (gen_simple, gen_yield_from, gen_closure, make_deep(1), make_deep(300, "gen")):
        if mk.__code__.co_flags & 0x20 == 0:  # not a generator function
            continue
        gen = mk()
        check("generator", gen, g, mk.__name__ + " not started")
        next(gen)
        check("generator", gen, g, mk.__name__ + " suspended")
        fr = gen.gi_frame
        if fr is not None:
            check_frame(fr, mk.__name__ + " gi_frame suspended")
        for _ in gen:
            pass
        check("generator", gen, g, mk.__name__ + " finished")
        if fr is not None:
            check_frame(fr, mk.__name__ + " gi_frame after finish")
    gen = gen_simple()
    next(gen)
    gen.close()
    check("generator", gen, g, "closed")
    gen = gen_simple()
    try:
        gen.throw(ValueError)
    except ValueError:
        pass
    check("generator", gen, g, "thrown into before start")
    gx = (i * i for i in range(10))
    check("generator", gx, g, "genexpr")
    next(gx)
    check("generator", gx, g, "genexpr suspended")
    check_frame(gx.gi_frame, "genexpr frame")
    list(gx)
    check("generator", gx, g, "genexpr finished")
    GEN_HOLDER.append(gen_self_check())
    list(GEN_HOLDER[0])
    check("generator", GEN_HOLDER[0], g, "self-checked, finished")


class Awaitable:
    def __await__(self):
        yield "suspend"
        return 5


async def coro_simple():
    x = 1
    y = await Awaitable()
    return x + y


async def coro_deep():
    a, b, c, d, e, f, g, h = range(8)
    await Awaitable()
    await Awaitable()
    return a + b + c + d + e + f + g + h


def test_coroutines():
    g = lambda a: gen_sizeof(a, "coro_iframe")  # noqa: E731
    for mk in (coro_simple, coro_deep):
        c = mk()
        check("coroutine", c, g, mk.__name__ + " not started")
        c.send(None)
        check("coroutine", c, g, mk.__name__ + " suspended")
        if c.cr_frame is not None:
            check_frame(c.cr_frame, mk.__name__ + " cr_frame")
        try:
            while True:
                c.send(None)
        except StopIteration:
            pass
        check("coroutine", c, g, mk.__name__ + " finished")
    c = coro_simple()
    c.close()
    check("coroutine", c, g, "closed unstarted")
    c = coro_deep()
    c.send(None)
    c.close()
    check("coroutine", c, g, "closed suspended")


async def agen_simple():
    x = 1
    yield x
    await Awaitable()
    yield x + 1


async def agen_many():
    vals = list(range(50))
    for v in vals:
        yield v


def drive(aw):
    try:
        while True:
            aw.send(None)
    except StopIteration as e:
        return e.value
    except StopAsyncIteration:
        return None


def test_async_generators():
    g = lambda a: gen_sizeof(a, "asyncgen_iframe")  # noqa: E731
    for mk in (agen_simple, agen_many):
        ag = mk()
        check("async_generator", ag, g, mk.__name__ + " not started")
        drive(ag.__anext__())
        check("async_generator", ag, g, mk.__name__ + " suspended")
        if ag.ag_frame is not None:
            check_frame(ag.ag_frame, mk.__name__ + " ag_frame")
        while True:
            try:
                n = ag.__anext__()
                n.send(None)
                while True:
                    n.send(None)
            except StopIteration:
                continue
            except StopAsyncIteration:
                break
        check("async_generator", ag, g, mk.__name__ + " finished")
    ag = agen_simple()
    drive(ag.__anext__())
    drive(ag.aclose())
    check("async_generator", ag, g, "aclosed")


# ------------------------------------------------------------------ frames
def frame_leaf(depth, keep):
    a = b = c = depth
    keep.append(sys._getframe())
    check_frame(sys._getframe(), "running depth %d" % depth)
    if depth:
        frame_leaf(depth - 1, keep)
    return a + b + c


def frame_with_cells():
    p, q = 1, 2

    def inner():
        r = p + q
        check_frame(sys._getframe(), "running closure (free vars)")
        return r
    check_frame(sys._getframe(), "running with cells")
    return inner()


def raiser(n):
    big = list(range(n))  # noqa: F841
    x, y, z = 1, 2, 3  # noqa: F841
    raise KeyError(n)


def big_recursive(n):
    l0 = l1 = l2 = l3 = l4 = l5 = l6 = l7 = l8 = l9 = n
    if n:
        big_recursive(n - 1)
    return l0 + l1 + l2 + l3 + l4 + l5 + l6 + l7 + l8 + l9


def test_frames():
    keep = []
    frame_leaf(5, keep)
    for i, f in enumerate(keep):
        check_frame(f, "returned leaf %d" % i)
    frame_with_cells()
    check_frame(sys._getframe(), "test_frames running")
    f = sys._getframe()
    n = 0
    while f is not None:
        check_frame(f, "f_back chain %d" % n)
        f = f.f_back
        n += 1
    # frames held by stored tracebacks after the function returned
    stored = []
    for k in (0, 5, 100):
        try:
            raiser(k)
        except KeyError as e:
            stored.append(e)
    for e in stored:
        tb = e.__traceback__
        while tb is not None:
            check_frame(tb.tb_frame, "traceback frame")
            tb = tb.tb_next
    for e in stored:
        tb = e.__traceback__
        while tb is not None:
            try:
                tb.tb_frame.clear()
            except RuntimeError:
                pass
            check_frame(tb.tb_frame, "traceback frame after clear()")
            tb = tb.tb_next
    # deep code
    for n_loc in (1, 50, 400):
        fr, _ = make_deep(n_loc, "frame")()
        check_frame(fr, "deep %d locals, returned" % n_loc)
    # 3.9/3.10 free list: two live frames of a big code, then a frame of a code never run
    big_recursive(3)
    fresh = {}
    exec("import sys\ndef fresh_small():\n    return sys._getframe()\n", fresh)
    check_frame(fresh["fresh_small"](), "small frame possibly from the free list")
    exec("import sys\ndef fresh_small2():\n    a = 1\n    return sys._getframe()\n", fresh)
    f2 = fresh["fresh_small2"]()
    check_frame(f2, "small frame 2")
    # module-level and class-body frames
    ns = {"check_frame": check_frame, "sys": sys}
    exec("check_frame(sys._getframe(), 'module-level exec')\n"
         "class K:\n    a = 1\n    check_frame(sys._getframe(), 'class body')\n", ns)


# ------------------------------------------------------------------ bytearray
class BA(bytearray):
    pass


def test_bytearray():
    cases = [bytearray(), bytearray(b"abc"), bytearray(1000), BA(), BA(b"xyz" * 40),
             bytearray.__new__(bytearray)]
    for i, b in enumerate(cases):
        check("bytearray", b, bytearray_sizeof, "case %d" % i)
    b = bytearray()
    for i in range(2000):
        b.append(i & 0xFF)
        if i % 97 == 0:
            check("bytearray", b, bytearray_sizeof, "grow %d" % i)
    del b[:1500]
    check("bytearray", b, bytearray_sizeof, "del front")
    del b[100:]
    check("bytearray", b, bytearray_sizeof, "del back")
    b.clear()
    check("bytearray", b, bytearray_sizeof, "cleared")
    b = bytearray(b"q" * 5000)
    m = memoryview(b)
    check("bytearray", b, bytearray_sizeof, "exported")
    m.release()
    b[10:4000] = b""
    check("bytearray", b, bytearray_sizeof, "shrunk after release")
    b.extend(range(256))
    b *= 3
    check("bytearray", b, bytearray_sizeof, "extend and imul")
    if hasattr(b, "take_bytes"):
        b.take_bytes()
        check("bytearray", b, bytearray_sizeof, "after take_bytes")
        b = bytearray(b"k" * 100)
        b.take_bytes(10)
        check("bytearray", b, bytearray_sizeof, "after take_bytes(10)")
    b = bytearray(b"x" * 100)
    bytes(b)
    check("bytearray", b, bytearray_sizeof, "after bytes()")
    b = bytearray(b"data") + bytearray(b"more")
    check("bytearray", b, bytearray_sizeof, "concat result")


# ------------------------------------------------------------------ array.array
class Arr(array.array):
    pass


def test_array():
    codes = [c for c in array.typecodes]
    for extra in ("Zf", "Zd", "w"):
        try:
            array.array(extra)
            if extra not in codes:
                codes.append(extra)
        except (ValueError, TypeError):
            pass
    for tc in codes:
        try:
            a = array.array(tc)
        except (ValueError, DeprecationWarning):
            continue
        check("array", a, array_sizeof, tc + " empty")
        init = a.__class__(tc, [0] * 10) if tc not in ("u", "w") else a.__class__(tc, "0123456789")
        check("array", init, array_sizeof, tc + " 10")
        for i in range(300):
            init.append(init[0])
            if i % 61 == 0:
                check("array", init, array_sizeof, tc + " grow %d" % i)
        del init[5:]
        check("array", init, array_sizeof, tc + " shrunk")
        init.extend(init * 20)
        check("array", init, array_sizeof, tc + " extended")
        while len(init):
            init.pop()
        check("array", init, array_sizeof, tc + " popped empty")
    a = array.array("d", range(1000))
    m = memoryview(a)
    check("array", a, array_sizeof, "exported")
    m.release()
    a.frombytes(b"\0" * 800)
    check("array", a, array_sizeof, "frombytes")
    s = Arr("i", range(77))
    check("array", s, array_sizeof, "subclass")
    s.extend(range(500))
    check("array", s, array_sizeof, "subclass grown")
    a = array.array("b", b"x" * 10) * 50
    check("array", a, array_sizeof, "repeat")


# ------------------------------------------------------------------ _io.BytesIO
class BIO(io.BytesIO):
    pass


def test_bytesio():
    b = io.BytesIO()
    check("BytesIO", b, bytesio_sizeof, "empty (empty-bytes buffer)")
    b.write(b"x" * 100)
    check("BytesIO", b, bytesio_sizeof, "written")
    init = b"y" * 1000
    b = io.BytesIO(init)
    check("BytesIO", b, bytesio_sizeof, "init shared with caller")
    del init
    check("BytesIO", b, bytesio_sizeof, "init no longer shared")
    v = b.getvalue()
    check("BytesIO", b, bytesio_sizeof, "getvalue held (shared)")
    del v
    check("BytesIO", b, bytesio_sizeof, "getvalue released")
    b.seek(0, 2)
    b.write(b"z" * 5000)
    check("BytesIO", b, bytesio_sizeof, "grown")
    b.truncate(10)
    check("BytesIO", b, bytesio_sizeof, "truncated")
    v = b.getvalue()
    check("BytesIO", b, bytesio_sizeof, "getvalue after truncate (resized and shared)")
    del v
    m = b.getbuffer()
    check("BytesIO", b, bytesio_sizeof, "exported")
    m2 = b.getbuffer()
    check("BytesIO", b, bytesio_sizeof, "exported twice")
    del m, m2
    check("BytesIO", b, bytesio_sizeof, "exports released")
    b.seek(100000)
    b.write(b"!")
    check("BytesIO", b, bytesio_sizeof, "overseek write")
    r = io.BytesIO(b"abcdefgh" * 10)
    whole = r.read()
    check("BytesIO", r, bytesio_sizeof, "read() returned the buffer itself")
    del whole
    check("BytesIO", r, bytesio_sizeof, "read() result dropped")
    b.close()
    check("BytesIO", b, bytesio_sizeof, "closed (buf NULL)")
    b = io.BytesIO(bytearray(b"q" * 300))
    check("BytesIO", b, bytesio_sizeof, "from bytearray (copied)")
    b = io.BytesIO(memoryview(b"w" * 70))
    check("BytesIO", b, bytesio_sizeof, "from memoryview")
    s = BIO(b"sub" * 100)
    check("BytesIO", s, bytesio_sizeof, "subclass, literal init")
    s.write(b"x")
    check("BytesIO", s, bytesio_sizeof, "subclass written")
    s.__dict__["attr"] = 1
    check("BytesIO", s, bytesio_sizeof, "subclass with dict")
    b = io.BytesIO(b"")
    check("BytesIO", b, bytesio_sizeof, "init empty bytes")
    b = io.BytesIO(b"a")
    check("BytesIO", b, bytesio_sizeof, "init 1-byte literal")
    st = b.__getstate__() if hasattr(b, "__getstate__") else None
    del st


# ------------------------------------------------------------------ _struct.Struct
class St(struct.Struct):
    pass


def test_struct():
    fmts = ["", "i", "3i", "3s", "iii", "<hhl", "x", "10x5s?q", "@P", "!HHI", "=bBhHiIlLqQnNefd",
            "p", "100p", "i" * 200, "ih" * 50 + "s", " i  i ", "0s", "c?"]
    for f in fmts:
        try:
            s = struct.Struct(f)
        except struct.error:
            continue
        check("Struct", s, struct_sizeof, repr(f[:20]))
    for f in ("i", "qqq3s", "i" * 40):
        s = St(f)
        check("Struct", s, struct_sizeof, "subclass " + f[:10])
    s = struct.Struct(b"<iq")
    check("Struct", s, struct_sizeof, "bytes format")


# ------------------------------------------------------------------ _queue.SimpleQueue
def test_simplequeue():
    try:
        import _queue
    except ImportError:
        return
    q = _queue.SimpleQueue()
    check("SimpleQueue", q, simplequeue_sizeof, "empty")
    for i in range(100):
        q.put(i)
        if i % 7 == 0:
            check("SimpleQueue", q, simplequeue_sizeof, "put %d" % i)
    for i in range(90):
        q.get()
    check("SimpleQueue", q, simplequeue_sizeof, "drained")
    for i in range(1000):
        q.put(i)
        q.get()
    check("SimpleQueue", q, simplequeue_sizeof, "wrapped")

    class SQ(_queue.SimpleQueue):
        pass
    s = SQ()
    for i in range(33):
        s.put(i)
    check("SimpleQueue", s, simplequeue_sizeof, "subclass")


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        return 2
    load(sys.argv[1])
    gc.disable()
    for t in (test_generators, test_coroutines, test_async_generators, test_frames,
              test_bytearray, test_array, test_bytesio, test_struct, test_simplequeue):
        t()
    gc.enable()
    total = sum(r[0] for r in RESULTS.values())
    bad = sum(r[1] for r in RESULTS.values())
    kinds = " ".join("%s=%d%s" % (k, r[0], "" if not r[1] else "(!%d)" % r[1]) for k, r in RESULTS.items())
    extra = ""
    if "frame_code" in V:
        extra = "; basicsize+itemsize*(ob_size-1) differed on %d frames" % INFO["frame_obsize_differs"]
    print("verify_a %s%s: %d checks, %d mismatches [%s]%s" % (
        sys.version.split()[0], "d" if hasattr(sys, "gettotalrefcount") else "", total, bad, kinds, extra))
    for f in FAILS[:40]:
        print("  MISMATCH " + f)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Check the group-B __sizeof__ formulas against the running interpreter, from raw memory.

    python3.X tools/sizeof/verify_b.py VALUES

VALUES is the output of emit_sizeof_b() (tools/layoutgen/sizeof_b.h) for this interpreter's header
set: lines `name = number` (anything else, e.g. `[section]` or `# comment` lines, is ignored, so a
whole layout file works too). For many instances of each type the script reads the fields the
formula needs with ctypes at id(obj) + offset (and tp_basicsize / tp_itemsize of the type at their
fixed offsets 32 / 40 of PyTypeObject), recomputes type(obj).__sizeof__(obj) and compares:

  OrderedDict   dict.__sizeof__(od) + odict_fast_node_ptr_size * [odict_fast_nodes_size]
                + ([odict_first] != NULL ? odict_node_size * [odict_ma_used] : 0)
                (dict.__sizeof__ is the one call allowed: leakspy models it already)
  Decimal       basicsize + (([decimal_flags] & decimal_dataflags) == 0
                             ? decimal_limb_size * [decimal_alloc] : 0)
  combinations, combinations_with_replacement
                basicsize + itertools_index_size * [combinations_r] (resp. [cwr_r])
  permutations  basicsize + itertools_index_size * (ob_size([permutations_pool]) + [permutations_r])
  product       basicsize + itertools_index_size * ob_size([product_pools])
  Element       basicsize + ([element_extra] != NULL ? element_extra_size
                + (extra.children != extra + element_extra_static_children
                   ? 8 * extra.allocated : 0) : 0)
  Pickler       basicsize + ([pickler_memo] ? pickler_memotable_size
                + pickler_memoentry_size * memo.mt_allocated : 0)
                + ([pickler_output_buffer] ? pickler_bytes_base + ob_size(output_buffer) : 0)
  Unpickler     basicsize + ([unpickler_memo] ? 8 * [unpickler_memo_size] : 0)
                + ([unpickler_marks] ? 8 * [unpickler_marks_size] : 0)
                + sum(strlen(p) + 1 for p in input_line, encoding, errors if p)
  StgDict       (3.9-3.12, the tp_dict of a ctypes class) dict.__sizeof__(d) + stgdict_extra
                + (format ? strlen + 1 : 0) + 8 * ndim + (elements ? 8 * (length + 1) : 0)
  CType_Type    (3.13+, on a ctypes class C with metaclass M) M.basicsize + M.itemsize * ob_size(C)
                + (StgInfo at C + ctype_stginfo initialized ? (format ? strlen + 1 : 0)
                   + (elements ? 8 * (length + 1) : 0) + 8 * ndim : 0)
  parser.st     (3.9) basicsize + 48 + sum over all nodes of
                (n_child ? XXXROUNDUP(nch) * 48 : 0) + (n_str ? strlen + 1 : 0)

It also checks that the instance struct sizes it was given match the types' tp_basicsize (for the
exact C types), which is how a wrong patch-level guard in sizeof_b.h would show. Stdlib only,
runs on 3.8 .. 3.15. Prints one summary line; exit status 0 = every check passed.
"""
import collections
import ctypes
import decimal
import gc
import io
import itertools
import pickle
import sys
import warnings

try:
    import _pickle
except ImportError:  # pragma: no cover
    _pickle = None
import xml.etree.ElementTree as ET

TP_BASICSIZE = 32  # PyVarObject (24) + tp_name
TP_ITEMSIZE = 40
OB_SIZE = 16

V = {}
checks = collections.Counter()
fails = collections.Counter()
messages = []


def load_values(path):
    with open(path) as fh:
        for line in fh:
            line = line.strip()
            if not line or line[0] in "#[" or "=" not in line:
                continue
            k, v = (x.strip() for x in line.split("=", 1))
            try:
                V[k] = int(v)
            except ValueError:
                pass


def u64(addr):
    return ctypes.c_uint64.from_address(addr).value


def i64(addr):
    return ctypes.c_int64.from_address(addr).value


def i32(addr):
    return ctypes.c_int32.from_address(addr).value


def u8(addr):
    return ctypes.c_uint8.from_address(addr).value


def cstrlen(addr):
    return len(ctypes.string_at(addr))


def basicsize(tp):
    return i64(id(tp) + TP_BASICSIZE)


def itemsize(tp):
    return i64(id(tp) + TP_ITEMSIZE)


def check(kind, obj, got, label=""):
    want = type(obj).__sizeof__(obj)
    checks[kind] += 1
    if got != want:
        fails[kind] += 1
        messages.append("%s %s: formula %d != __sizeof__ %d" % (kind, label or type(obj).__name__, got, want))


def check_eq(kind, what, got, want):
    checks[kind] += 1
    if got != want:
        fails[kind] += 1
        messages.append("%s: %s = %r, expected %r" % (kind, what, got, want))


# ---------------------------------------------------------------------------------------- odict
def odict_formula(od):
    a = id(od)
    res = dict.__sizeof__(od)
    res += V["odict_fast_node_ptr_size"] * i64(a + V["odict_fast_nodes_size"])
    if u64(a + V["odict_first"]):
        res += V["odict_node_size"] * i64(a + V["odict_ma_used"])
    return res


class MyOD(collections.OrderedDict):
    pass


def odicts():
    out = [collections.OrderedDict(), collections.OrderedDict(a=1),
           collections.OrderedDict((i, i) for i in range(5)),
           collections.OrderedDict((str(i), i) for i in range(100))]
    od = collections.OrderedDict((i, i) for i in range(1000))
    for i in range(997):
        del od[i]
    out.append(od)                      # grown then shrunk (fast_nodes stays large)
    od = collections.OrderedDict((i, i) for i in range(50))
    od.clear()
    out.append(od)                      # cleared
    od = collections.OrderedDict((i, i) for i in range(10))
    while od:
        od.popitem()
    out.append(od)                      # emptied by popitem: od_first NULL, fast nodes kept
    od = collections.OrderedDict((i, i) for i in range(10))
    od.move_to_end(3)
    od.move_to_end(7, last=False)
    out.append(od)
    m = MyOD(x=1, y=2)
    m.attr = "v"
    out.append(m)
    out.append(MyOD())
    od = collections.OrderedDict()
    for i in range(9):
        od[i] = i                        # resized by insertion only
    out.append(od)
    out.append(collections.OrderedDict.fromkeys(range(40)).copy())
    return out


def check_odict():
    assert V["odict_size"] == basicsize(collections.OrderedDict), "odict_size"
    for od in odicts():
        check("OrderedDict", od, odict_formula(od), "len=%d" % len(od))


# -------------------------------------------------------------------------------------- decimal
def decimal_formula(d):
    a = id(d)
    res = basicsize(type(d))
    if u8(a + V["decimal_flags"]) & V["decimal_dataflags"] == 0:
        res += V["decimal_limb_size"] * i64(a + V["decimal_alloc"])
    return res


class MyDec(decimal.Decimal):
    pass


def decimals():
    D = decimal.Decimal
    out = [D(0), D(1), D(-7), D("1.5"), D("1e100"), D("-0"), D(10 ** 20), D(10 ** 19 - 1),
           D(2 ** 200), D("NaN"), D("-NaN"), D("sNaN"), D("NaN123"), D("Infinity"),
           D("-Infinity"), D("12345678901234567890123456789012345678901234567890"),
           D(1) / D(3), D(2).sqrt(), MyDec("3.25"), MyDec(10 ** 80)]
    for prec in (50, 1000, 10000):
        with decimal.localcontext() as ctx:
            ctx.prec = prec
            out.append(D(1) / D(7))
            out.append(D(2).sqrt())
            out.append(D(10) ** (prec // 3) + 1)
    with decimal.localcontext() as ctx:
        ctx.prec = 100000
        out.append(D(3).sqrt())
    out.append(+out[-1])                # rounded back to the default precision
    with decimal.localcontext() as ctx:
        ctx.prec = 300
        out.append(D("sNaN" + "7" * 250))  # special value with a heap payload
        out.append(D("-NaN" + "1" * 120))
    with decimal.localcontext() as ctx:
        ctx.prec = 6000
        out.append(D(10 ** 5000) // D(3))
        q = D(10 ** 5000) // D(3)
    out.append(q.quantize(D(1)) if q.adjusted() < 28 else q)
    out.append(D(q.as_tuple().digits[0]))  # small again, from a big one
    return out


def check_decimal():
    assert V["decimal_size"] == basicsize(decimal.Decimal), "decimal_size"
    for d in decimals():
        check("Decimal", d, decimal_formula(d), repr(d)[:40])


# ------------------------------------------------------------------------------------ itertools
def it_formula(kind, it):
    a = id(it)
    n = V["itertools_index_size"]
    res = basicsize(type(it))
    if kind == "combinations":
        res += n * i64(a + V["combinations_r"])
    elif kind == "cwr":
        res += n * i64(a + V["cwr_r"])
    elif kind == "permutations":
        pool = u64(a + V["permutations_pool"])
        res += n * (i64(pool + OB_SIZE) + i64(a + V["permutations_r"]))
    elif kind == "product":
        pools = u64(a + V["product_pools"])
        res += n * i64(pools + OB_SIZE)
    return res


class MyComb(itertools.combinations):
    pass


class MyProd(itertools.product):
    pass


def iterators():
    C, W, P, X = (itertools.combinations, itertools.combinations_with_replacement,
                  itertools.permutations, itertools.product)
    mk = [
        ("combinations", lambda: C(range(5), 3)), ("combinations", lambda: C("abc", 0)),
        ("combinations", lambda: C(range(3), 5)), ("combinations", lambda: C(range(40), 20)),
        ("combinations", lambda: MyComb(range(6), 2)),
        ("cwr", lambda: W(range(4), 3)), ("cwr", lambda: W("", 2)), ("cwr", lambda: W("ab", 7)),
        ("cwr", lambda: W(range(100), 1)),
        ("permutations", lambda: P(range(4))), ("permutations", lambda: P(range(6), 2)),
        ("permutations", lambda: P([], 0)), ("permutations", lambda: P("abc", 5)),
        ("permutations", lambda: P(range(30), 29)),
        ("product", lambda: X()), ("product", lambda: X(range(3), repeat=4)),
        ("product", lambda: X("ab", "cd", "ef")), ("product", lambda: X(range(2), repeat=60)),
        ("product", lambda: X([], "ab")), ("product", lambda: MyProd("xy", repeat=3)),
    ]
    for kind, f in mk:
        yield kind, f(), "fresh"
        it = f()
        next(it, None)
        yield kind, it, "started"
        it = f()
        for _ in itertools.islice(it, 200000):
            pass
        yield kind, it, "consumed"


def check_itertools():
    assert V["combinations_size"] == basicsize(itertools.combinations)
    assert V["cwr_size"] == basicsize(itertools.combinations_with_replacement)
    assert V["permutations_size"] == basicsize(itertools.permutations)
    assert V["product_size"] == basicsize(itertools.product)
    for kind, it, state in iterators():
        check(kind, it, it_formula(kind, it), "%s %s" % (type(it).__name__, state))


# -------------------------------------------------------------------------------------- Element
def element_formula(e):
    a = id(e)
    res = basicsize(type(e))
    extra = u64(a + V["element_extra"])
    if extra:
        res += V["element_extra_size"]
        if u64(extra + V["element_extra_children"]) != extra + V["element_extra_static_children"]:
            res += 8 * i64(extra + V["element_extra_allocated"])
    return res


def elements():
    E = ET.Element
    base = getattr(ET, "_Element_Py", None)
    out = []
    e = E("a")
    out.append(("bare", e))
    out.append(("attrib", E("a", {"k": "v", "x": "1"})))
    out.append(("attrib-kw", E("a", k="v")))
    for n in (1, 3, 4, 5, 100):
        e = E("p")
        for i in range(n):
            ET.SubElement(e, "c%d" % i, {"i": str(i)})
        out.append(("%d children" % n, e))
    e = E("p")
    for i in range(100):
        ET.SubElement(e, "c")
    del e[2:]
    out.append(("100 then 2 children", e))
    e = E("p", {"a": "b"})
    e.append(E("x"))
    e.remove(e[0])
    out.append(("attrib, child added and removed", e))
    e = E("p")
    e.extend([E("x") for _ in range(37)])
    out.append(("extend 37", e))
    e = E("p")
    e.text = "t"
    e.tail = "tail"
    out.append(("text only", e))
    root = ET.fromstring("<r a='1'><x/><y b='2'>t</y>" + "<z/>" * 10 + "</r>")
    out.append(("parsed root", root))
    out.append(("parsed leaf", root[1]))
    e = E("p")
    e.set("k", "v")
    out.append(("set()", e))
    e = E("p")
    for i in range(10):
        e.insert(0, E("i"))
    e.clear()
    out.append(("cleared", e))

    class MyEl(ET.Element):
        pass

    m = MyEl("m", {"q": "r"})
    for i in range(6):
        m.append(E("c"))
    out.append(("subclass", m))
    out.append(("subclass bare", MyEl("m")))
    if base is not None and base is E:
        return []  # pure-Python Element: no C __sizeof__
    return out


def check_element():
    if "__sizeof__" not in ET.Element.__dict__:
        return
    assert V["element_size"] == basicsize(ET.Element), "element_size"
    for label, e in elements():
        check("Element", e, element_formula(e), label)


# --------------------------------------------------------------------------------------- pickle
def pickler_formula(p):
    a = id(p)
    res = basicsize(type(p))
    memo = u64(a + V["pickler_memo"])
    if memo:
        res += V["pickler_memotable_size"]
        res += V["pickler_memoentry_size"] * u64(memo + V["pickler_memotable_allocated"])
    buf = u64(a + V["pickler_output_buffer"])
    if buf:
        res += V["pickler_bytes_base"] + i64(buf + OB_SIZE)
    return res


def unpickler_formula(up):
    a = id(up)
    res = basicsize(type(up))
    if u64(a + V["unpickler_memo"]):
        res += V["unpickler_ptr_size"] * u64(a + V["unpickler_memo_size"])
    if u64(a + V["unpickler_marks"]):
        res += 8 * i64(a + V["unpickler_marks_size"])
    for k in ("unpickler_input_line", "unpickler_encoding", "unpickler_errors"):
        p = u64(a + V[k])
        if p:
            res += cstrlen(p) + 1
    return res


class CheckingPickler(_pickle.Pickler):
    """Checks itself from inside dump() (output buffer and memo in use)."""
    def persistent_id(self, obj):
        if isinstance(obj, str) and obj.startswith("pid:"):
            check("Pickler", self, pickler_formula(self), "mid-dump")
            return obj
        return None


class CheckingUnpickler(_pickle.Unpickler):
    def persistent_load(self, pid):
        check("Unpickler", self, unpickler_formula(self), "mid-load %r" % (pid,))
        return pid


def check_pickle():
    if _pickle is None:
        return
    check_eq("Pickler", "pickler_size vs tp_basicsize", V["pickler_size"], basicsize(_pickle.Pickler))
    check_eq("Unpickler", "unpickler_size vs tp_basicsize", V["unpickler_size"],
             basicsize(_pickle.Unpickler))
    P, U = _pickle.Pickler, _pickle.Unpickler
    p = P.__new__(P)    # __init__ not run: memo and output_buffer NULL
    check("Pickler", p, pickler_formula(p), "uninitialized")
    up = U.__new__(U)   # memo, marks, encoding, errors NULL
    check("Unpickler", up, unpickler_formula(up), "uninitialized")
    data = {"k%d" % i: [i, str(i), (i, i)] for i in range(300)}
    big = [bytes(10000), "x" * 100000, list(range(20000))]
    for proto in range(0, pickle.HIGHEST_PROTOCOL + 1):
        f = io.BytesIO()
        p = P(f, proto)
        check("Pickler", p, pickler_formula(p), "fresh proto %d" % proto)
        p.dump(data)
        check("Pickler", p, pickler_formula(p), "after dump proto %d" % proto)
        p.dump(big)
        check("Pickler", p, pickler_formula(p), "after 2nd dump proto %d" % proto)
        p.clear_memo()
        check("Pickler", p, pickler_formula(p), "clear_memo proto %d" % proto)
        cp = CheckingPickler(io.BytesIO(), proto)
        cp.dump([list(range(i)) for i in range(200)] + ["pid:a"] + [bytes(70000), "pid:b"]
                + [{"n": i} for i in range(3000)] + ["pid:c"])
        check("Pickler", cp, pickler_formula(cp), "subclass after dump proto %d" % proto)
        p = P(io.BytesIO(), proto, fix_imports=False)
        p.fast = True
        check("Pickler", p, pickler_formula(p), "fast proto %d" % proto)

        blob = pickle.dumps(data, proto)
        for kw in ({}, {"encoding": "latin1"}, {"encoding": "bytes", "errors": "replace"},
                   {"encoding": "x" * 300, "errors": "surrogateescape", "fix_imports": False}):
            up = U(io.BytesIO(blob), **kw)
            check("Unpickler", up, unpickler_formula(up), "fresh proto %d %s" % (proto, kw))
            up.load()
            check("Unpickler", up, unpickler_formula(up), "after load proto %d %s" % (proto, kw))
        # persistent ids inside nested containers: marks and memo in use during the callback
        f = io.BytesIO()
        CheckingPickler(f, proto).dump([[{"a": ("pid:1", [i for i in range(50)])}, "pid:2"]
                                        for _ in range(40)] + ["pid:%d" % i for i in range(300)])
        cu = CheckingUnpickler(io.BytesIO(f.getvalue()))
        cu.load()
        check("Unpickler", cu, unpickler_formula(cu), "subclass after load proto %d" % proto)
    # loads() of protocol 0 text with long lines (input_line grows)
    line = pickle.dumps("y" * 5000, 0)
    up = U(io.BytesIO(line + line))
    up.load()
    check("Unpickler", up, unpickler_formula(up), "protocol 0 long line")
    up.load()
    check("Unpickler", up, unpickler_formula(up), "protocol 0 long line x2")


# --------------------------------------------------------------------------------------- ctypes
def ctypes_classes():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 3.14+: implicit _layout_ with _pack_ is deprecated
        return _ctypes_classes()


def _ctypes_classes():
    C = ctypes

    class Point(C.Structure):
        _fields_ = [("x", C.c_int), ("y", C.c_double), ("name", C.c_char_p)]

    class Bits(C.Structure):
        _fields_ = [("a", C.c_uint, 3), ("b", C.c_uint, 5), ("c", C.c_ushort)]

    class U(C.Union):
        _fields_ = [("i", C.c_int), ("d", C.c_double), ("p", Point)]

    class Empty(C.Structure):
        _fields_ = []

    class Later(C.Structure):
        pass

    class Later2(C.Structure):
        pass

    Later2._fields_ = [("q", C.c_longlong), ("nested", Point * 3)]

    class Packed(C.Structure):
        _pack_ = 1
        _fields_ = [("c", C.c_char), ("i", C.c_int)]

    class Big(C.Structure):
        _fields_ = [("f%d" % i, C.c_int) for i in range(60)]

    class Derived(Point):
        _fields_ = [("z", C.c_float)]

    class MySimple(C.c_int):
        pass

    out = [Point, Bits, U, Empty, Later, Later2, Packed, Big, Derived, MySimple,
           C.c_int, C.c_char, C.c_double, C.c_char_p, C.c_void_p, C.c_wchar, C.py_object,
           C.c_int * 10, (C.c_int * 3) * 4, ((C.c_double * 2) * 3) * 5, Point * 7, C.c_char * 0,
           C.POINTER(C.c_int), C.POINTER(Point), C.POINTER(C.POINTER(C.c_double)),
           C.CFUNCTYPE(C.c_int, C.c_int, C.c_double), C.CFUNCTYPE(None),
           C.Structure, C.Union, C.Array, C._Pointer, C._SimpleCData, C._CFuncPtr]
    if hasattr(C, "BigEndianStructure"):
        class BE(C.BigEndianStructure):
            _fields_ = [("a", C.c_int), ("b", C.c_short)]
        out.append(BE)
    return out


def stgdict_of(cls):
    for r in gc.get_referents(cls):
        if type(r).__name__ == "StgDict":
            return r
    return None


def stgdict_formula(d):
    a = id(d)
    res = dict.__sizeof__(d) + V["stgdict_extra"]
    fmt = u64(a + V["stgdict_format"])
    if fmt:
        res += cstrlen(fmt) + 1
    res += 8 * i32(a + V["stgdict_ndim"])
    if u64(a + V["stgdict_ffi_elements"]):
        res += 8 * (i64(a + V["stgdict_length"]) + 1)
    return res


def ctype_formula(cls):
    a = id(cls)
    meta = type(cls)
    res = basicsize(meta) + itemsize(meta) * i64(a + OB_SIZE)
    info = a + V["ctype_stginfo"]
    if i32(info + V["ctype_initialized"]):
        fmt = u64(info + V["ctype_format"])
        if fmt:
            res += cstrlen(fmt) + 1
        if u64(info + V["ctype_ffi_elements"]):
            res += 8 * (i64(info + V["ctype_length"]) + 1)
        res += 8 * i32(info + V["ctype_ndim"])
    return res


def check_ctypes():
    classes = ctypes_classes()
    if "stgdict_extra" in V:
        n = 0
        for cls in classes:
            d = stgdict_of(cls)
            if d is None:
                continue
            n += 1
            check_eq("StgDict", "stgdict_size vs tp_basicsize", V["stgdict_size"], basicsize(type(d)))
            check("StgDict", d, stgdict_formula(d), "tp_dict of %s" % cls.__name__)
        check_eq("StgDict", "classes with a StgDict", n > 20, True)
    elif "ctype_stginfo" in V:
        # the metaclass's extra data is the StgInfo: basicsize = offset + aligned sizeof(StgInfo)
        check_eq("CType_Type", "metaclass basicsize", basicsize(type(ctypes.Structure)),
                 V["ctype_stginfo"] + ((V["ctype_stginfo_size"] + 15) & ~15))
        for cls in classes:
            check("CType_Type", cls, ctype_formula(cls), cls.__name__)
    else:
        raise KeyError("stgdict_extra / ctype_stginfo")


# --------------------------------------------------------------------------------------- parser
def xxxroundup(n):
    if n <= 1:
        return n
    if n <= 128:
        return (n + 3) & ~3
    result = 256
    for _ in range(23):
        if result >= n:
            return result
        result <<= 1
    return -1


def st_formula(st):
    res = basicsize(type(st))
    root = u64(id(st) + V["parser_st_node"])
    if not root:
        return res
    ns = V["parser_node_size"]
    res += ns
    stack = [root]
    while stack:
        n = stack.pop()
        nch = i32(n + V["parser_node_nchildren"])
        child = u64(n + V["parser_node_child"])
        for i in range(nch):
            stack.append(child + i * ns)
        if child:
            res += xxxroundup(nch) * ns
        s = u64(n + V["parser_node_str"])
        if s:
            res += cstrlen(s) + 1
    return res


def check_parser():
    if "parser_st_node" not in V:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import parser
    srcs = ["x = 1\n", "", "def f(a, *b, **c):\n    return [i for i in a if i]\n"]
    import inspect
    import os
    srcs.append(inspect.getsource(os))
    srcs.append("x = [" + ", ".join(str(i) for i in range(1000)) + "]\n")
    for s in srcs:
        st = parser.suite(s)
        check("parser.st", st, st_formula(st), "suite %d chars" % len(s))
    for e in ("a + b", "f(*[1] * 300)", "'" + "s" * 5000 + "'"):
        st = parser.expr(e)
        check("parser.st", st, st_formula(st), "expr %d chars" % len(e))


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__.split("\n\n")[1])
    load_values(sys.argv[1])
    parts = [("OrderedDict", check_odict), ("Decimal", check_decimal),
             ("itertools", check_itertools), ("Element", check_element),
             ("pickle", check_pickle), ("ctypes", check_ctypes), ("parser", check_parser)]
    for name, fn in parts:
        try:
            fn()
        except Exception as exc:  # a missing value or a failed struct-size assertion
            fails[name] += 1
            messages.append("%s: %s: %s" % (name, type(exc).__name__, exc))
    for m in messages[:40]:
        print("  " + m)
    total = sum(checks.values())
    bad = sum(fails.values())
    print("verify_b %s: %s %d checks (%s), %d failed" % (
        sys.version.split()[0], "OK" if bad == 0 else "FAIL", total,
        ", ".join("%s %d" % kv for kv in sorted(checks.items())), bad))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()

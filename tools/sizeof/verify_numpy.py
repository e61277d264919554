"""Check python-layouts/numpy.toml against a live numpy: recompute ndarray.__sizeof__ from raw memory.

Run inside a numpy venv (scripts/setup-pythons.sh makes them; $LEAKSPY_CACHE/venvs.tsv lists them):

    VENV_PYTHON tools/sizeof/verify_numpy.py [python-layouts/numpy.toml]

It picks [numpy1] or [numpy2] with the detection rule an outside reader would use (numpy's
``__version__`` string in the numpy module's dict; cross-checked against the path of the shared
object that holds the ``numpy.ndarray`` type object), then, for many arrays (owning, views, slices,
reshaped views, 0-d, empty, object and structured dtypes, big, Fortran order, np.matrix, masked,
memmap, np.frombuffer, unpickled, broadcast, subclass, StringDType on numpy 2), reads every field of
the section with ctypes from ``id(arr)`` (data, nd, dimensions, strides, base, descr, flags; the
dtype's typeobj, type_num and elsize; the type's tp_basicsize), checks each against what numpy says
(``arr.ctypes.data``, ``arr.shape``, ``arr.strides``, ``arr.base``, ``arr.dtype``,
``arr.flags.owndata``, ``arr.dtype.itemsize``), and requires the file's ``sizeof_rule`` to give
exactly ``arr.__sizeof__()``. Prints one summary line; exits 1 on the first mismatch.
"""
import ctypes
import os
import pickle
import re
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT = os.path.normpath(os.path.join(HERE, "..", "..", "python-layouts", "numpy.toml"))
TP_BASICSIZE = 32  # PyTypeObject: PyVarObject head (24) + tp_name (8); 3.9-3.15, x86_64


def load_sections(path):
    """The flat `key = int | "str"` sections of numpy.toml (3.9/3.10 have no tomllib)."""
    secs, cur = {}, None
    for line in open(path, encoding="utf-8"):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r"\[([a-z0-9_]+)\]", line)
        if m:
            cur = secs.setdefault(m.group(1), {})
            continue
        m = re.fullmatch(r'([a-z0-9_]+) = (0x[0-9a-fA-F]+|[0-9]+|"[^"]*")', line)
        if not m or cur is None:
            raise SystemExit("verify_numpy: cannot parse %r in %s" % (line, path))
        v = m.group(2)
        cur[m.group(1)] = v[1:-1] if v.startswith('"') else int(v, 0)
    return secs


def detect_major():
    """numpy major version the way an outside reader sees it; both rules must agree."""
    version = sys.modules["numpy"].__dict__["__version__"]
    by_version = int(version.split(".")[0])
    addr = id(np.ndarray)
    so = None
    with open("/proc/self/maps") as maps:
        for line in maps:
            parts = line.split()
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            if lo <= addr < hi and len(parts) >= 6:
                so = parts[5]
                break
    if so is None:
        raise SystemExit("verify_numpy: numpy.ndarray at %#x is in no file mapping" % addr)
    if "/numpy/_core/_multiarray_umath" in so:
        by_so = 2
    elif "/numpy/core/_multiarray_umath" in so:
        by_so = 1
    else:
        raise SystemExit("verify_numpy: numpy.ndarray lives in unexpected %s" % so)
    if by_version != by_so:
        raise SystemExit("verify_numpy: __version__ %s says numpy %d, %s says %d" % (version, by_version, so, by_so))
    return by_version, version, so


def rd(addr, ctype):
    return ctype.from_address(addr).value


def check(label, arr, L):
    a = id(arr)
    rd_intp = ctypes.c_int64 if L["sizeof_npy_intp"] == 8 else ctypes.c_int32
    nd_t = {4: ctypes.c_int32}[L["array_nd_size"]]
    fl_t = {4: ctypes.c_int32}[L["array_flags_size"]]
    el_t = {4: ctypes.c_int32, 8: ctypes.c_int64}[L["descr_elsize_size"]]
    w = L["sizeof_npy_intp"]

    data = rd(a + L["array_data"], ctypes.c_void_p) or 0
    nd = rd(a + L["array_nd"], nd_t)
    dims_p = rd(a + L["array_dimensions"], ctypes.c_void_p) or 0
    strides_p = rd(a + L["array_strides"], ctypes.c_void_p) or 0
    base = rd(a + L["array_base"], ctypes.c_void_p) or 0
    descr = rd(a + L["array_descr"], ctypes.c_void_p) or 0
    flags = rd(a + L["array_flags"], fl_t)
    dims = [rd(dims_p + w * i, rd_intp) for i in range(nd)]
    strides = [rd(strides_p + w * i, rd_intp) for i in range(nd)]
    typeobj = rd(descr + L["descr_typeobj"], ctypes.c_void_p)
    type_num = rd(descr + L["descr_type_num"], ctypes.c_int32)
    elsize = rd(descr + L["descr_elsize"], el_t)
    basicsize = rd(id(type(arr)) + TP_BASICSIZE, ctypes.c_ssize_t)

    facts = [
        ("data", data, arr.__array_interface__["data"][0]),
        ("nd", nd, arr.ndim),
        ("dimensions", tuple(dims), arr.shape),
        ("strides", tuple(strides), arr.strides),
        ("base", base, 0 if arr.base is None else id(arr.base)),
        ("descr", descr, id(arr.dtype)),
        ("owndata", bool(flags & L["array_owndata"]), bool(arr.flags.owndata)),
        ("c_contiguous", bool(flags & 0x1), bool(arr.flags.c_contiguous)),  # NPY_ARRAY_C_CONTIGUOUS
        ("descr.typeobj", typeobj, id(arr.dtype.type)),
        ("descr.type_num", type_num, arr.dtype.num),
        ("descr.elsize", elsize, arr.dtype.itemsize),
        ("tp_basicsize", basicsize, type(arr).__basicsize__),
    ]
    for what, got, want in facts:
        if got != want:
            raise SystemExit("verify_numpy: %s: %s read %r, numpy says %r" % (label, what, got, want))
    prod = 1
    for d in dims:
        prod *= d
    expect = basicsize + nd * 2 * w + (elsize * prod if flags & L["array_owndata"] else 0)
    got = arr.__sizeof__()
    if expect != got:
        raise SystemExit("verify_numpy: %s: rule gives %d, __sizeof__() is %d (nd %d dims %r flags %#x elsize %d basicsize %d)"
                         % (label, expect, got, nd, dims, flags, elsize, basicsize))
    return got, sys.getsizeof(arr) - got


class Sub(np.ndarray):
    pass


class SlotSub(np.ndarray):
    __slots__ = ("extra",)


def arrays(major):
    base = np.arange(24, dtype=np.int64)
    grid = base.reshape(4, 6)
    cplx = np.arange(6, dtype=np.complex128)
    rec_t = np.dtype([("x", "<i4"), ("y", "<f8", (3,)), ("name", "S7")])
    rec = np.zeros(5, dtype=rec_t)
    buf = bytes(range(256)) * 4
    barr = bytearray(b"\x01" * 64)
    fd, mpath = tempfile.mkstemp(prefix="verify_numpy_")
    os.close(fd)
    mm = np.memmap(mpath, dtype=np.uint8, mode="w+", shape=(4096,))
    resized = np.zeros(10)
    resized.resize(37, refcheck=False)
    cbuf = (ctypes.c_double * 12)()
    out = [
        ("arange", base),
        ("zeros 2-d", np.zeros((3, 4))),
        ("ones float32", np.ones(1000, dtype=np.float32)),
        ("big 8 MiB", np.ones(1 << 20)),
        ("big empty 64 MiB", np.empty(8 << 20)),
        ("fortran zeros", np.zeros((5, 7), order="F")),
        ("asfortranarray", np.asfortranarray(grid)),
        ("reshape view", grid),
        ("reshape copy", grid.T.reshape(24)),
        ("transpose view", grid.T),
        ("slice", base[3:17]),
        ("step slice", base[::3]),
        ("reversed", base[::-1]),
        ("2-d slice", grid[1:3, ::2]),
        ("fancy index copy", base[[1, 5, 7]]),
        ("view int32", base.view(np.int32)),
        ("complex .real view", cplx.real),
        ("complex .imag view", cplx.imag),
        ("0-d", np.array(5)),
        ("0-d float", np.array(2.5)),
        ("0-d view", np.array(7)[...]),
        ("0-d from index", grid[1, 2, ...]),
        ("empty 1-d", np.empty(0)),
        ("empty 0x5", np.zeros((0, 5))),
        ("empty 5x0", np.zeros((5, 0), dtype=np.int8)),
        ("object", np.array([1, "a", None, (1, 2)], dtype=object)),
        ("object empty(100)", np.empty(100, dtype=object)),
        ("object 2-d view", np.empty((4, 4), dtype=object)[::2]),
        ("structured", rec),
        ("structured field view", rec["y"]),
        ("structured field x", rec["x"]),
        ("subarray dtype", np.zeros(3, dtype=("i4", (2, 3)))),
        ("unicode U10", np.array(["a", "bcd", "x" * 10])),
        ("bytes S5", np.array([b"ab", b"abcde"])),
        ("bool", np.zeros(17, dtype=bool)),
        ("float16", np.ones(9, dtype=np.float16)),
        ("longdouble", np.ones(5, dtype=np.longdouble)),
        ("datetime64", np.arange("2020-01-01", "2020-02-01", dtype="datetime64[D]")),
        ("timedelta64", np.array([1, 2], dtype="timedelta64[s]")),
        ("void V16", np.zeros(4, dtype="V16")),
        ("matrix", np.matrix([[1, 2], [3, 4]])),
        ("matrix view", np.asmatrix(grid)),
        ("matrix row", np.matrix(np.ones((3, 3)))[1]),
        ("masked", np.ma.array([1, 2, 3], mask=[0, 1, 0])),
        ("masked data view", np.ma.array([1.0, 2.0]).data),
        ("subclass view", base.view(Sub)),
        ("subclass owning", np.zeros(8).view(Sub).copy()),
        ("slots subclass", np.ones(4).view(SlotSub).copy()),
        ("frombuffer bytes", np.frombuffer(buf, dtype=np.uint8)),
        ("frombuffer bytes u4 offset", np.frombuffer(buf, dtype="<u4", count=10, offset=4)),
        ("frombuffer bytearray", np.frombuffer(barr, dtype=np.int16)),
        ("frombuffer memoryview", np.frombuffer(memoryview(buf)[8:72], dtype=np.float64)),
        ("frombuffer of array", np.frombuffer(base, dtype=np.uint8)),
        ("ctypeslib.as_array", np.ctypeslib.as_array(cbuf)),
        ("memmap", mm),
        ("memmap slice", mm[100:200]),
        ("fromiter", np.fromiter(range(50), dtype=np.int32)),
        ("concatenate", np.concatenate([base, base])),
        ("ufunc result", np.sqrt(np.arange(100.0))),
        ("broadcast_to", np.broadcast_to(np.arange(3), (1000, 3))),
        ("as_strided", np.lib.stride_tricks.as_strided(base, shape=(5, 5), strides=(8, 8))),
        ("resized in place", resized),
        ("pickle p2", pickle.loads(pickle.dumps(grid, protocol=2))),
        ("pickle p5", pickle.loads(pickle.dumps(grid, protocol=5))),
        ("high-dim (1,)*32", np.zeros((1,) * 32)),
        ("high-dim (2,)*16", np.zeros((2,) * 16, dtype=np.uint8)),
        ("copy", grid.copy()),
        ("copy order F", grid.copy(order="F")),
        ("meshgrid view", np.meshgrid(np.arange(3), np.arange(4))[0]),
        ("diagonal view", np.ones((5, 5)).diagonal()),
    ]
    if major >= 2:
        sdt = np.dtypes.StringDType()
        out.append(("StringDType", np.array(["short", "a much longer string than sixteen bytes"], dtype=sdt)))
        out.append(("StringDType empty(10)", np.empty(10, dtype=sdt)))
    return out, mpath


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else DEFAULT
    secs = load_sections(path)
    major, version, so = detect_major()
    L = secs["numpy%d" % major]
    if L["numpy_major"] != major:
        raise SystemExit("verify_numpy: [numpy%d] says numpy_major %d" % (major, L["numpy_major"]))
    items, mpath = arrays(major)
    try:
        extras = {}
        for label, arr in items:
            if not isinstance(arr, np.ndarray):
                raise SystemExit("verify_numpy: %s is a %s, not an ndarray" % (label, type(arr)))
            _, extra = check(label, arr, L)
            extras.setdefault(extra, []).append(label)
    finally:
        os.unlink(mpath)
    note = "; ".join("getsizeof-__sizeof__ = %d for %d" % (k, len(v)) + ("" if k == 0 else " (%s)" % ", ".join(v))
                     for k, v in sorted(extras.items()))
    print("verify_numpy: numpy %s (%s; ndarray in %s), Python %s: %d arrays, __sizeof__ exact [numpy%d]; %s"
          % (version, "numpy%d" % major, os.path.basename(so), sys.version.split()[0], len(items), major, note))


if __name__ == "__main__":
    main()

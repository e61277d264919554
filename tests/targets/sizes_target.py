"""Target for exact sizes (issue 11): holds instances of every type with its own C `__sizeof__`
(tools/sizeof/list_types.py lists them per interpreter), in the shapes where the size rule has
branches, then reports its own truth and blocks reading stdin.

Truth (one JSON line on stdout):
- "objects": {id: [type name, sys.getsizeof]} for every object made here;
- "tracked": {type name: [count, bytes]} over gc.get_objects() (every GC-tracked object);
- "owners": {type name: owner} for every type in gc.get_objects() and of the objects made here:
  the class whose __sizeof__ applies (first on the MRO that defines it), "module.qualname";
- "missing": the kinds this interpreter has not got (e.g. numpy outside a venv).

Everything is made first, the truth last; then nothing runs but a read of stdin.
"""
import array
import collections
import decimal
import gc
import io
import itertools
import json
import os
import pickle
import struct
import sys
import xml.etree.ElementTree as ET

# The blocking read's arguments, made before the heap snapshot: on 3.6 os.read is METH_VARARGS, and
# os.read(0, 1) would build a new tracked (0, 1) tuple, alive for the whole blocking call and so in
# leakspy's picture but not in the truth; *READ_ARGS passes this tuple itself (3.7+: no tuple at all).
READ_ARGS = (0, 1)

MADE = []      # every object whose size is checked
MISSING = []


def keep(*objs):
    MADE.extend(objs)


# --- buffers --------------------------------------------------------------------------------------
ba_grown = bytearray()
for i in range(1000):
    ba_grown.append(i % 256)
ba_shrunk = bytearray(50000)
del ba_shrunk[100:]
ba_exported = bytearray(b"e" * 3000)
ba_view = memoryview(ba_exported)          # an export: the buffer cannot move
keep(bytearray(), bytearray(b"abc"), bytearray(100000), ba_grown, ba_shrunk, ba_exported)
keep(*[bytearray(100000 + i) for i in range(10)])

arr_grown = array.array("i")
for i in range(777):
    arr_grown.append(i)
keep(array.array("d", range(10000)), array.array("b"), array.array("q", [1, 2, 3]), arr_grown,
     array.array("B", b"x" * 5000))

bio_written = io.BytesIO()
bio_written.write(b"w" * 70000)
shared_bytes = b"s" * 20000
bio_shared = io.BytesIO(shared_bytes)      # shares its initial bytes while we hold them too
bio_exported = io.BytesIO(b"q" * 1000)
bio_export_view = bio_exported.getbuffer()
keep(io.BytesIO(), io.BytesIO(b"x" * 100000), bio_written, bio_shared, bio_exported)

keep(struct.Struct("i"), struct.Struct("<10s3dq"), struct.Struct(""), struct.Struct("!" + "h" * 50))

# --- containers -----------------------------------------------------------------------------------
od_small = collections.OrderedDict(a=1, b=2, c=3)
od_big = collections.OrderedDict((i, i) for i in range(1000))
od_shrunk = collections.OrderedDict((i, i) for i in range(500))
for i in range(490):
    del od_shrunk[i]
od_moved = collections.OrderedDict((str(i), i) for i in range(20))
od_moved.move_to_end("3")
keep(collections.OrderedDict(), od_small, od_big, od_shrunk, od_moved)

dq = collections.deque(range(1000))
keep(collections.deque(), dq, collections.deque(range(10), maxlen=5))

# --- numbers --------------------------------------------------------------------------------------
with decimal.localcontext() as ctx:
    ctx.prec = 2000
    dec_long = decimal.Decimal(1) / decimal.Decimal(7)
keep(decimal.Decimal(1), decimal.Decimal("1" * 100), dec_long, decimal.Decimal("NaN"),
     decimal.Decimal("-Infinity"), decimal.Decimal("1.5e-300"))

# --- itertools ------------------------------------------------------------------------------------
exhausted = itertools.combinations(range(4), 2)
list(exhausted)
keep(itertools.combinations(range(10), 3), itertools.combinations_with_replacement("abcd", 5),
     itertools.permutations(range(6)), itertools.permutations(range(6), 2),
     itertools.product(range(3), "ab", repeat=2), itertools.product(), exhausted)

# --- xml ------------------------------------------------------------------------------------------
el_children = ET.Element("root", {"a": "1"})
for i in range(100):
    ET.SubElement(el_children, "c%d" % i)
el_three = ET.Element("three")
for i in range(3):
    el_three.append(ET.Element("x"))
keep(ET.Element("empty"), ET.Element("attrs", {"k": "v", "k2": "v2"}), el_children, el_three)

# --- pickle ---------------------------------------------------------------------------------------
pk_used = pickle.Pickler(io.BytesIO())
pk_used.dump([1, 2, {"a": [3, 4]}, "x" * 50])
data = pickle.dumps([{"k": i} for i in range(100)])
up_used = pickle.Unpickler(io.BytesIO(data))
up_used.load()
keep(pickle.Pickler(io.BytesIO()), pk_used, pickle.Unpickler(io.BytesIO(data)), up_used,
     pickle.Unpickler(io.BytesIO(data), encoding="latin-1", errors="replace"))

# --- ctypes types (StgDict <= 3.12; CType_Type metaclass 3.13+) ------------------------------------
try:
    import ctypes

    class Point(ctypes.Structure):
        _fields_ = [("x", ctypes.c_int), ("y", ctypes.c_double), ("name", ctypes.c_char * 10)]

    IntArray = ctypes.c_int * 16
    # <= 3.12 their tp_dict is a StgDict (a GC-tracked dict subclass: checked per type below).
    keep(Point, IntArray, ctypes.POINTER(Point), ctypes.c_int)
except ImportError:
    MISSING.append("ctypes")

# --- generators, coroutines, frames ---------------------------------------------------------------


def gen(n):
    a = b = c = n
    yield a
    yield b + c


def many_locals():
    v0 = v1 = v2 = v3 = v4 = v5 = v6 = v7 = v8 = v9 = 0
    yield v0 + v1 + v2 + v3 + v4 + v5 + v6 + v7 + v8 + v9


g_new, g_suspended, g_done, g_many = gen(1), gen(2), gen(3), many_locals()
next(g_suspended)
list(g_done)
next(g_many)


async def coro():
    return 1


class Later:
    def __await__(self):
        yield "later"


async def coro_waiting():
    await Later()


c_new, c_waiting = coro(), coro_waiting()
c_waiting.send(None)


async def agen():
    yield 1
    yield 2


ag_new, ag_suspended = agen(), agen()
try:
    ag_suspended.asend(None).send(None)
except StopIteration:
    pass
keep(g_new, g_suspended, g_done, g_many, c_new, c_waiting, ag_new, ag_suspended)

# Frames: held by a stored exception's traceback after the functions returned; a frame of a
# function that returned (kept through sys._getframe); a suspended generator's frame.


def fail(depth):
    x = [depth] * 3
    if depth == 0:
        raise ValueError("stored")
    fail(depth - 1)


try:
    fail(3)
except ValueError as e:
    stored = e
tb = stored.__traceback__
while tb is not None:
    keep(tb.tb_frame)
    tb = tb.tb_next


def returns_its_frame(a, b=2, *args, **kw):
    local = a + b
    return sys._getframe()


keep(returns_its_frame(1), g_suspended.gi_frame, g_many.gi_frame, sys._getframe())


def hot(x):
    # Run often enough for 3.9/3.10 to give it an opcache (code_sizeof counts it).
    return x.real + x.imag + len(str(x))


for i in range(5000):
    hot(i)


def cell_arg(a):
    # An argument that is also a cell: 3.9/3.10 code_sizeof counts co_cell2arg.
    def inner():
        return a
    return inner


keep(gen.__code__, many_locals.__code__, fail.__code__, returns_its_frame.__code__,
     hot.__code__, cell_arg.__code__)

# --- other types with their own __sizeof__ in some versions ---------------------------------------
try:
    import _queue

    sq = _queue.SimpleQueue()
    for i in range(100):
        sq.put(i)
    keep(_queue.SimpleQueue(), sq)
except ImportError:
    MISSING.append("_queue")

if sys.version_info < (3, 10):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            import parser

            keep(parser.expr("1 + 2"))
        except ImportError:
            MISSING.append("parser")

f_buffered = open(os.devnull, "rb", buffering=12345)
keep(f_buffered)


class PythonSizeof:
    def __sizeof__(self):
        return 10 ** 6


keep(PythonSizeof(), PythonSizeof())

# --- numpy (in a venv that has it) ----------------------------------------------------------------
try:
    import numpy as np

    base = np.arange(100000, dtype=np.float64)
    keep(np.zeros(100000), base, base[::2], base[10:20], base.reshape(100, 1000),
         np.array(3.5), np.empty((0, 5)), np.array([object(), "x"], dtype=object),
         np.zeros(10, dtype=[("a", "i4"), ("b", "f8", (3,))]), np.ones((30, 40), order="F"),
         np.matrix([[1, 2], [3, 4]]), np.frombuffer(b"z" * 800, dtype=np.uint8),
         np.zeros((3, 4, 5, 6), dtype=np.int16))
except ImportError:
    MISSING.append("numpy")


# --- a real service's heap (`service` argument, in a venv with the packages from PyPI) -----------


def service_heap():
    """What a data service holds: a DataFrame and its group-by, ORM objects in a session over a
    connection pool, validated models, compiled templates, an HTTP session whose pool has served
    a request (from a server on 127.0.0.1, shut down before the truth is taken)."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    import jinja2
    import numpy as np
    import pandas as pd
    import pydantic
    import requests
    import sqlalchemy as sa
    from sqlalchemy import orm

    df = pd.DataFrame({"a": np.arange(20000), "b": np.linspace(0, 1, 20000),
                       "c": ["row-%d" % i for i in range(20000)]})
    by = df.groupby(df.a % 10).agg({"b": "sum"})
    cat = pd.Series(["red", "green", "blue"] * 1000, dtype="category")

    class Base(orm.DeclarativeBase):
        pass

    class User(Base):
        __tablename__ = "users"
        id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
        name: orm.Mapped[str] = orm.mapped_column(sa.String(50))

    engine = sa.create_engine("sqlite://")
    Base.metadata.create_all(engine)
    session = orm.Session(engine)
    session.add_all([User(name="user-%d" % i) for i in range(500)])
    session.commit()
    users = session.scalars(sa.select(User)).all()

    class Item(pydantic.BaseModel):
        id: int
        name: str
        tags: list = []

    items = [Item(id=i, name="item-%d" % i, tags=["a", "b"]) for i in range(1000)]

    env = jinja2.Environment(autoescape=True)
    tpl = env.from_string("<ul>{% for u in users %}<li>{{ u.name }}</li>{% endfor %}</ul>")
    page = tpl.render(users=users[:10])

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"ok"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    http = requests.Session()
    reply = http.get("http://127.0.0.1:%d/" % server.server_address[1], timeout=10)
    server.shutdown()
    server.server_close()
    thread.join()
    keep(df, by, cat, df["a"].values, engine, session, users[0], items[0], env, tpl, http, reply)
    return [df, by, cat, engine, session, users, items, env, tpl, page, http, reply]


SERVICE = service_heap() if "service" in sys.argv[1:] else None

# --- truth ----------------------------------------------------------------------------------------


TYPE_MODULE = type.__dict__["__module__"].__get__
TYPE_QUALNAME = type.__dict__["__qualname__"].__get__


def name(t):
    """f"{t.__module__}.{t.__qualname__}"; where `t.__module__` is not a str (the type's __dict__
    holds a `__module__` descriptor for its instances, as Cython's shared metatype's does), the
    module its repr names, as leakspy does."""
    module = t.__module__
    if not isinstance(module, str):
        module = TYPE_MODULE(t)
    if not isinstance(module, str):
        shown = repr(t)[len("<class '"):-2]
        module = shown.rsplit(".", 1)[0] if "." in shown else "builtins"
    return "%s.%s" % (module, TYPE_QUALNAME(t))


def sizeof_of(t):
    """The class whose __sizeof__ applies to instances of t, and whether it is written in Python."""
    for c in type.__dict__["__mro__"].__get__(t):
        f = type.__dict__["__dict__"].__get__(c).get("__sizeof__")
        if f is not None:
            return name(c), hasattr(f, "__code__")
    return "builtins.object", False


def owner(t):
    return sizeof_of(t)[0]


def getsizeof(o):
    """sys.getsizeof, except where __sizeof__ is written in Python: running it would change the
    heap being measured (pandas' runs memory_usage(deep=True)); leakspy does not run it either
    and flags such types not exact, so their bytes are not compared (-1)."""
    if sizeof_of(type(o))[1]:
        return -1
    return sys.getsizeof(o)


def main():
    # A 3.12 collection moves immortal objects into the permanent generation, where
    # gc.get_objects() does not see them: collect, unfreeze, then take the list. Everything the
    # truth makes is made after that list and deleted before the truth is sent.
    gc.collect()
    if hasattr(gc, "unfreeze"):  # 3.7+ (3.6 has no permanent generation)
        gc.unfreeze()
    live = gc.get_objects()
    tracked = {}
    owners = {}
    for o in live:
        t = type(o)
        k = name(t)
        e = tracked.get(k)
        if e is None:
            e = tracked[k] = [0, 0]
            owners[k] = owner(t)
        e[0] += 1
        e[1] += getsizeof(o)
    objects = {}
    for o in MADE:
        objects[str(id(o))] = [name(type(o)), getsizeof(o)]
        owners.setdefault(name(type(o)), owner(type(o)))
    del o, t, e, live
    text = json.dumps({"pid": os.getpid(), "objects": objects, "tracked": tracked,
                       "owners": owners, "missing": MISSING})
    del objects, tracked, owners
    os.write(1, (text + "\n").encode())
    del text
    os.read(*READ_ARGS)


main()

"""Target for the whole heap (issue 4): makes known numbers of objects the GC does not track and
holds objects through known paths, then reports its own truth and blocks reading stdin.

Truth:
- "made": what this script made, by construction (counts and sys.getsizeof bytes per kind);
- "closure": every object reachable through gc.get_referents from every GC-tracked object
  (gc.get_objects() + the frozen generation), counted and sized with sys.getsizeof by type,
  exactly the set "every live object" is compared with;
- "paths": objects held through known paths, with the holder leakspy must name.
"""
import gc
import json
import os
import sys

# The blocking read's arguments, made before the heap snapshot: on 3.6 os.read is METH_VARARGS, and
# os.read(0, 1) would build a new tracked (0, 1) tuple, alive for the whole blocking call and so in
# leakspy's picture but not in the truth; *READ_ARGS passes this tuple itself (3.7+: no tuple at all).
READ_ARGS = (0, 1)

# The interpreter itself holds a few thousand objects that no GC-tracked object reaches (interned
# strings, code objects' private fields): the counts below make those under 1% of each type.
N_SHORT = 300000    # short str (pymalloc)
N_LONG = 20000      # str > 512 bytes (outside pymalloc)
N_BYTES = 300000    # bytes (pymalloc)
N_BIG_BYTES = 10000 # bytes > 512 (outside pymalloc)
N_FLOAT = 30000
N_BIG_INT = 10000   # ints of 3 digits and more
N_HUGE_INT = 1000   # ints > 512 bytes (outside pymalloc)
N_COMPLEX = 3000
N_TUPLE = 300000    # tuples of atoms (untracked after a collection)
N_DICT = 20000      # dicts of atoms (never tracked)


class Session:
    def __init__(self, i):
        self.i = i


class Cache:
    pass


def make():
    held = {
        "short": ["s%07d" % i for i in range(N_SHORT)],
        "long": [("L%06d" % i) * 100 for i in range(N_LONG)],
        "bytes": [b"b%07d" % i for i in range(N_BYTES)],
        "big_bytes": [(b"B%06d" % i) * 100 for i in range(N_BIG_BYTES)],
        "float": [i + 0.5 for i in range(N_FLOAT)],
        "big_int": [10**30 + i for i in range(N_BIG_INT)],
        "huge_int": [10**1300 + i for i in range(N_HUGE_INT)],
        "complex": [complex(i, 1) for i in range(N_COMPLEX)],
        "tuple": [(i, i + 0.25) for i in range(N_TUPLE)],
        "dict": [{"k": i} for i in range(N_DICT)],
    }
    made = {}
    for kind, objs in held.items():
        made[kind] = {"count": len(objs), "bytes": sum(sys.getsizeof(o) for o in objs)}
    return held, made


HELD, MADE = make()

# Known paths: a module global -> dict[key] -> list[3] -> Session; a class attribute; an instance
# attribute; a local of a blocked frame.
registry = {"tenant-7": [Session(i) for i in range(5)]}
Cache.entries = [Session(100 + i) for i in range(3)]


# Code objects are not GC objects, so gc.get_referents() sees nothing in them; their fields that
# are stored objects (not computed on access, which would create new objects) are followed too.
CODE_FIELDS = ["co_consts", "co_names", "co_filename", "co_name"]
if sys.version_info < (3, 11):
    CODE_FIELDS += ["co_varnames", "co_freevars", "co_cellvars", "co_code"]
if sys.version_info < (3, 10):
    CODE_FIELDS += ["co_lnotab"]
else:
    CODE_FIELDS += ["co_linetable"]
if sys.version_info >= (3, 11):
    CODE_FIELDS += ["co_qualname", "co_exceptiontable"]
CodeType = type(make.__code__)


def referents(o):
    if type(o) is CodeType:
        return [getattr(o, f) for f in CODE_FIELDS]
    return gc.get_referents(o)


def closure():
    # gc.get_objects() leaves out the permanent generation, and a 3.12 collection moves immortal
    # objects there: collect, then unfreeze, so that every tracked object is a root.
    gc.collect()
    if hasattr(gc, "unfreeze"):  # 3.7+ (3.6 has no permanent generation)
        gc.unfreeze()
    roots = gc.get_objects()
    seen = {}
    stack = []
    # The truth's own machinery (and this frame, a GC object before 3.11) is not counted.
    skip = {id(roots), id(seen), id(stack), id(sys._getframe())}
    for o in roots:
        if id(o) not in skip:
            seen[id(o)] = o
            stack.append(o)
    del roots
    while stack:
        o = stack.pop()
        for x in referents(o):
            if id(x) not in seen and id(x) not in skip:
                seen[id(x)] = x
                stack.append(x)
    hist = {}
    for o in seen.values():
        t = type(o)
        key = "%s.%s" % (t.__module__, t.__qualname__)
        e = hist.get(key)
        if e is None:
            e = hist[key] = [0, 0, 0]
        e[0] += 1
        e[1] += sys.getsizeof(o)
        e[2] += gc.is_tracked(o)
    return hist


def main():
    hist = closure()
    text = json.dumps({"pid": os.getpid(), "made": MADE, "closure": hist})
    del hist
    os.write(1, (text + "\n").encode())
    del text
    os.read(*READ_ARGS)


main()

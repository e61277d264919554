"""Target for `leakspy refs` (issue 4): instances of known types held through known paths, one
kind of root each, then blocks reading stdin. The truth it prints: per type, how many instances,
the root kind and the path leakspy must print for them (list indices folded to *), and which
container type refers to them.
"""
import gc
import json
import os
import sys


class Session:
    pass


class Token:
    pass


class Item:
    pass


class Job:
    pass


class Orphan:
    pass


class Lost:
    pass


class Holder:
    pass


class Cache:
    pass


class Order:
    pass


# A module global: a dict whose str key is data (printed only with --show-keys), holding a list.
registry = {"tenant-7": [Session() for _ in range(5)]}
# A module global dict keyed by ints: data too, folded like list indices.
orders = {n: Order() for n in range(8)}
# A class attribute.
Cache.entries = [Token() for _ in range(3)]
# An instance attribute of a module global.
holder = Holder()
holder.items = [Item() for _ in range(4)]

# Frozen and only reachable from the frozen generation: a reference cycle nobody else holds,
# kept alive by turning the collector off, then frozen.
gc.disable()
ring = [Orphan() for _ in range(7)]
for a, b in zip(ring, ring[1:] + ring[:1]):
    a.next = b
del ring, a, b
if hasattr(gc, "freeze"):
    gc.freeze()
    ORPHAN = {"count": 7, "root_kind": "frozen", "unreachable": 0}
else:
    # Python 3.6: no permanent generation (gc.freeze is 3.7+); the ring is garbage awaiting
    # collection (the collector is off), like Lost below.
    ORPHAN = {"count": 7, "unreachable": 7}
# Garbage awaiting collection: a cycle made after the freeze (reachable from no root).
lost = [Lost() for _ in range(2)]
lost[0].peer, lost[1].peer = lost[1], lost[0]
del lost

M = "__main__"
truth = {
    "pid": os.getpid(),
    "types": {
        M + ".Session": {"count": 5, "root_kind": "module_global", "referrer": "builtins.list",
                         "shape": M + ".registry -> dict[<str>] -> list[*] -> " + M + ".Session",
                         "shape_keys": M + ".registry -> dict['tenant-7'] -> list[*] -> " + M + ".Session"},
        M + ".Order": {"count": 8, "root_kind": "module_global", "referrer": "builtins.dict",
                       "shape": M + ".orders -> dict[<int>] -> " + M + ".Order"},
        M + ".Token": {"count": 3, "root_kind": "class_attribute", "referrer": "builtins.list",
                       "shape": M + ".Cache.entries -> list[*] -> " + M + ".Token"},
        M + ".Item": {"count": 4, "root_kind": "module_global", "referrer": "builtins.list",
                      "shape": M + ".holder -> " + M + ".Holder.items -> list[*] -> " + M + ".Item"},
        M + ".Job": {"count": 6, "root_kind": "frame_local", "referrer": "builtins.list",
                     "shape": "main() local keep -> list[*] -> " + M + ".Job"},
        M + ".Orphan": ORPHAN,
        M + ".Lost": {"count": 2, "unreachable": 2},
    },
}


def main():
    keep = [Job() for _ in range(6)]
    os.write(1, (json.dumps(truth) + "\n").encode())
    os.read(0, 1)
    return keep


main()

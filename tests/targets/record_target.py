"""Target for `leakspy record`: known types allocated only in known functions, at known rates.

Truth by construction. After the readiness line it blocks reading stdin; on "go" it runs the
workload (two threads, interleaved in the same loops, switching the GIL), prints "done" and blocks
again; on "truth" it prints its own count of survivors per type (computed only then, after leakspy
has finished, so the truth does not perturb the recorded heap).

- Leak: made in make_leak (twice per iteration), kept (every one survives);
- Churn: made in churn, dropped on return (none survives);
- Item: made in make_item, a helper called from site_a (3 calls per iteration) and site_b (1 call):
  shares 75% / 25%; kept;
- Block: made in make_block on a second thread, kept; the main thread holds the GIL in between;
- Inline: made in make_inline and handed straight to a list (`inline.append(Inline(i))`): no frame
  but its constructor's ever holds it, so only a sample that sees the constructor running can say
  where it was born, and that sample gives the line of the call. Kept, each with a str of its own
  (what `record --retained` must charge to it).

Each allocating line ends with `# alloc TYPE`: the test finds the lines there.

`spin` does pure arithmetic (ints are not GC-tracked), so the allocating functions hold their new
object for a while, as real code does while filling one in.

Arguments: least iterations (default 1500) and least seconds of the loop (default 1.0).
Under tracemalloc every int of `spin` is traced (tens of times slower): give few iterations and 0. With -X tracemalloc the same script checks `exact` sites.
"""
import json
import os
import sys
import threading
import time

ITERATIONS = int(sys.argv[1]) if len(sys.argv) > 1 else 1500
SPIN = 200
MIN_SECONDS = float(sys.argv[2]) if len(sys.argv) > 2 else 1.0


class Leak:
    def __init__(self, i):
        self.i = i


class Churn:
    def __init__(self, i):
        self.i = i


class Item:
    def __init__(self, i):
        self.i = i


class Block:
    def __init__(self, i):
        self.i = i


class Inline:
    def __init__(self, i):
        self.i = i
        self.tag = "inline-%d" % i  # a str only this object holds: untracked, retained by it
        spin(SPIN)  # a constructor that does some work


registry = []
items = []
blocks = []
inline = []


def spin(n):
    x = 0
    for k in range(n):
        x += k * k
    return x


def make_leak(i):
    obj = Leak(i)  # alloc Leak
    spin(SPIN)
    registry.append(obj)


def churn(i):
    c = Churn(i)  # alloc Churn
    spin(SPIN)
    return c.i


def make_item(i):
    it = Item(i)  # alloc Item
    spin(SPIN)
    items.append(it)


def make_inline(i):
    inline.append(Inline(i))  # alloc Inline
    spin(SPIN // 2)
    return len(inline)


def site_a(i):
    make_item(i)


def site_b(i):
    make_item(i)


def make_block(i):
    b = Block(i)  # alloc Block
    spin(SPIN)
    blocks.append(b)


def worker(n):
    # At least n iterations and at least MIN_SECONDS, so that a fast interpreter still gives the
    # sampler enough moments to look at (the truth is counted, not assumed).
    i = 0
    deadline = time.monotonic() + MIN_SECONDS
    while i < n or time.monotonic() < deadline:
        i += 1
        make_leak(i)
        make_leak(i)
        churn(i)
        churn(i)
        site_a(i)
        site_a(i)
        site_b(i)
        site_a(i)
        make_inline(i)


def other(finished, started):
    started.set()
    i = 0
    while not finished:
        i += 1
        make_block(i)
        spin(SPIN)


def inline_retained_min():
    """What the Inline survivors retain at least: themselves, and each tag no other object refers
    to (garbage not yet collected may refer to one too: then that tag is not counted)."""
    import gc

    tags = {id(o.tag): 0 for o in inline}
    for obj in gc.get_objects():
        for ref in gc.get_referents(obj):
            if id(ref) in tags:
                tags[id(ref)] += 1
    return sum(
        sys.getsizeof(o) + (sys.getsizeof(o.tag) if tags[id(o.tag)] == 1 else 0) for o in inline
    )


def line():
    return sys.stdin.readline().strip()


def main():
    print(json.dumps({"pid": os.getpid(), "iterations": ITERATIONS}), flush=True)
    while line() != "go":
        pass
    # Switch the GIL often: each switch leaves the other thread holding a fresh object to be seen.
    sys.setswitchinterval(0.0005)
    started = threading.Event()
    finished = []
    t = threading.Thread(target=other, args=(finished, started), name="blocks")
    t.start()
    started.wait()
    worker(ITERATIONS)
    finished.append(True)
    t.join()
    print("done", flush=True)
    while line() != "truth":
        pass
    traced = False
    try:
        import tracemalloc

        traced = tracemalloc.is_tracing()
    except ImportError:
        pass
    truth = {
        "survivors": {
            "__main__.Leak": len(registry),
            "__main__.Churn": 0,
            "__main__.Item": len(items),
            "__main__.Block": len(blocks),
            "__main__.Inline": len(inline),
        },
        "function": {
            "__main__.Leak": "make_leak",
            "__main__.Churn": "churn",
            "__main__.Item": "make_item",
            "__main__.Block": "make_block",
            "__main__.Inline": "make_inline",
        },
        "item_callers": {"site_a": 0.75, "site_b": 0.25},
        # What the Inline survivors alone keep alive (`record --retained`), computed now that
        # leakspy is done: at least themselves and their tags (only they hold them); at most that
        # plus their ints and instance dicts (3.11+ materializes `__dict__` only when asked, as
        # here, after the recording: so an upper bound).
        "inline_retained_min": inline_retained_min(),
        "inline_retained_max": sum(
            sys.getsizeof(o) + sys.getsizeof(o.tag) + sys.getsizeof(o.i) + sys.getsizeof(o.__dict__)
            for o in inline
        ),
        "traced": traced,
    }
    print(json.dumps(truth), flush=True)
    while True:
        if not sys.stdin.readline():
            break


main()

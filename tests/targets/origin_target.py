"""Target for origin hints (issue #3): generators, coroutines, async generators and functions whose
origin CPython records without tracing. The script makes known numbers of each, in known states,
and computes the truth in-process: every generator, coroutine, async generator and function of this
file in gc.get_objects(), grouped by gi_frame/cr_frame/ag_frame.f_lineno or __code__.co_firstlineno.
It prints that as JSON and blocks reading stdin.
"""
import json
import os
import sys


def gen_two_stops():
    yield 1  # SITE:first_yield
    yield 2  # SITE:second_yield


async def coro():
    return 1


async def agen():
    yield 1


def make_closure(k):
    def closure():  # SITE:closure_def
        return k

    return closure


HELD = {
    "at_first": [gen_two_stops() for _ in range(300)],
    "at_second": [gen_two_stops() for _ in range(200)],
    "not_started": [gen_two_stops() for _ in range(70)],
    "finished": [gen_two_stops() for _ in range(40)],
    "coros": [coro() for _ in range(150)],
    "agens": [agen() for _ in range(60)],
    "closures": [make_closure(i) for i in range(250)],
}
for g in HELD["at_first"]:
    next(g)
for g in HELD["at_second"]:
    next(g)
    next(g)
for g in HELD["finished"]:
    for _ in g:
        pass
for ag in HELD["agens"]:
    try:
        ag.asend(None).send(None)
    except StopIteration:
        pass


def name_of(code):
    return getattr(code, "co_qualname", code.co_name)


groups = {}


def add(type_name, kind, code, line):
    key = (type_name, kind, name_of(code), code.co_filename, line)
    groups[key] = groups.get(key, 0) + 1


import gc
import types

HERE = os.path.abspath(__file__)
for o in gc.get_objects():
    if isinstance(o, types.GeneratorType):
        code, frame, tname = o.gi_code, o.gi_frame, "builtins.generator"
    elif isinstance(o, types.CoroutineType):
        code, frame, tname = o.cr_code, o.cr_frame, "builtins.coroutine"
    elif isinstance(o, types.AsyncGeneratorType):
        code, frame, tname = o.ag_code, o.ag_frame, "builtins.async_generator"
    elif isinstance(o, types.FunctionType):
        code, frame, tname = o.__code__, None, "builtins.function"
    else:
        continue
    if os.path.abspath(code.co_filename) != HERE:
        continue
    if tname == "builtins.function":
        add(tname, "defined_at", code, code.co_firstlineno)
    elif frame is None:
        add(tname, "finished", code, code.co_firstlineno)
    else:
        add(tname, "suspended_at", code, frame.f_lineno)

truth = {
    "pid": os.getpid(),
    "file": HERE,
    "groups": [
        {"type": t, "kind": k, "function": fn, "filename": fl, "line": ln, "count": n}
        for (t, k, fn, fl, ln), n in sorted(groups.items())
    ],
}
os.write(1, (json.dumps(truth) + "\n").encode())
os.read(0, 1)
for c in HELD["coros"]:
    c.close()

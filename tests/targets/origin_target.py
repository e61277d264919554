"""Target for origin hints (issue #3): generators, coroutines, async generators and functions whose
origin CPython records without tracing, and asyncio futures and tasks whose creation site asyncio
records in debug mode. The script makes known numbers of each, in known states, and computes the
truth in-process: every generator, coroutine, async generator and function of this file in
gc.get_objects(), grouped by gi_frame/cr_frame/ag_frame.f_lineno or __code__.co_firstlineno; every
_asyncio.Future/_asyncio.Task, grouped by the innermost frame of its _source_traceback outside the
asyncio package (or counted as not recorded when it has none). It checks that the asyncio groups at
the lines marked SITE have exactly the numbers made there, prints the truth as JSON and blocks
reading stdin.
"""
import asyncio
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


# asyncio: a loop in debug mode records where each future/task was made (_source_traceback); a
# second loop, not in debug mode, records nothing. Tasks made with the loop not running, directly
# and through a helper, and from inside a running task; each running task then makes a future (in
# asyncio.sleep) and stays suspended at its await. Plain loops, not comprehensions: up to 3.11 a
# comprehension is a function of its own and would be the creating frame.
DEBUG_LOOP = asyncio.new_event_loop()
DEBUG_LOOP.set_debug(True)
PLAIN_LOOP = asyncio.new_event_loop()


async def sleeper():
    await asyncio.sleep(3600)  # SITE:sleep_future


async def idle():
    return 1


def make_tasks(loop, n, out):
    for _ in range(n):
        out.append(loop.create_task(idle()))  # SITE:helper_task


def CREATE_TASK():
    # asyncio.create_task is 3.7+; on 3.6 the running loop's create_task (no Python frame of its own:
    # the task is created on the SITE line either way).
    return getattr(asyncio, "create_task", None) or asyncio.get_event_loop().create_task


async def spawner():
    for _ in range(45):
        HELD["in_loop"].append(CREATE_TASK()(sleeper()))  # SITE:in_loop_task
    await asyncio.sleep(0)


for key in ("direct", "helper", "futures", "in_loop", "plain"):
    HELD[key] = []
for _ in range(120):
    HELD["direct"].append(DEBUG_LOOP.create_task(sleeper()))  # SITE:direct_task
make_tasks(DEBUG_LOOP, 80, HELD["helper"])
for _ in range(30):
    HELD["futures"].append(DEBUG_LOOP.create_future())  # SITE:future
HELD["main"] = DEBUG_LOOP.create_task(spawner())  # SITE:main_task
DEBUG_LOOP.run_until_complete(HELD["main"])
make_tasks(PLAIN_LOOP, 35, HELD["plain"])
for _ in range(15):
    HELD["plain"].append(PLAIN_LOOP.create_future())


def name_of(code):
    return getattr(code, "co_qualname", code.co_name)


groups = {}


def add(type_name, kind, code, line):
    key = (type_name, kind, name_of(code), code.co_filename, line)
    groups[key] = groups.get(key, 0) + 1


import gc
import types


def is_asyncio_internal(filename):
    return os.path.basename(os.path.dirname(filename)) == "asyncio"


def creation_site(fut):
    frames = fut._source_traceback
    if frames is None:
        return None
    site = frames[-1]
    for f in reversed(frames):
        if not is_asyncio_internal(f.filename):
            site = f
            break
    return site


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

for o in gc.get_objects():
    t = type(o)
    if not isinstance(o, asyncio.Future) or t.__module__ != "_asyncio":
        continue
    tname = "%s.%s" % (t.__module__, t.__qualname__)
    site = creation_site(o)
    if site is None:
        key = (tname, "not_recorded", "", "", None)
    else:
        key = (tname, "created_at", site.name, site.filename, site.lineno)
    groups[key] = groups.get(key, 0) + 1

# The asyncio groups of this file must be exactly what the script made at its SITE lines.
with open(HERE) as fh:
    SITES = {
        line.split("# SITE:")[1].strip(): n
        for n, line in enumerate(fh, 1)
        if "# SITE:" in line and "split" not in line
    }
expected = {
    ("_asyncio.Task", "<module>", SITES["direct_task"]): 120,
    ("_asyncio.Task", "make_tasks", SITES["helper_task"]): 80,
    ("_asyncio.Task", "spawner", SITES["in_loop_task"]): 45,
    ("_asyncio.Task", "<module>", SITES["main_task"]): 1,
    ("_asyncio.Future", "<module>", SITES["future"]): 30,
    # one asyncio.sleep future per running sleeper (direct and in-loop tasks)
    ("_asyncio.Future", "sleeper", SITES["sleep_future"]): 165,
}
got = {
    (t, fn, ln): n
    for (t, k, fn, fl, ln), n in groups.items()
    if k == "created_at" and fl == HERE
}
assert got == expected, (got, expected)
for t, n in (("_asyncio.Task", 35), ("_asyncio.Future", 15)):
    assert groups.get((t, "not_recorded", "", "", None)) == n, (t, groups)

truth = {
    "pid": os.getpid(),
    "file": HERE,
    "groups": [
        {"type": t, "kind": k, "function": fn, "filename": fl, "line": ln, "count": n}
        for (t, k, fn, fl, ln), n in sorted(groups.items(), key=repr)
    ],
}
os.write(1, (json.dumps(truth) + "\n").encode())
os.read(0, 1)
for c in HELD["coros"]:
    c.close()

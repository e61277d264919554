"""List every type whose __sizeof__ is its own (not object.__sizeof__, not inherited).

Run with the interpreter to inspect:  python3 tools/sizeof/list_types.py [--json] [MODULE ...]

It imports every module of the standard library it can (and the named extra modules, e.g. numpy),
then walks every class reachable from them (module attributes, their attributes, subclasses of
everything found) and prints one line per class that defines ``__sizeof__`` in its own ``__dict__``:

    builtins.bytearray<TAB>C
    collections.OrderedDict<TAB>C

The second column says how: ``C`` (a method of a C type: a ``method_descriptor``) or ``python``
(a function written in Python). leakspy models the C ones it lists (crates/leakspy-python/src/model/
sizes.rs); a type not modelled is counted at its basic size and flagged ``size_exact: false``.
This script is the source of truth for tools/sizeof/types-*.txt, which the tests compare against.
"""
import sys
import os
import importlib
import pkgutil
import warnings

SKIP_PREFIXES = (
    "idlelib", "tkinter", "turtle", "test", "lib2to3", "ensurepip", "pydoc_data", "__phello__",
    "_tkinter", "turtledemo", "antigravity", "this", "__hello__", "xxsubtype", "_xx", "xx",
    "_testcapi", "_testinternalcapi", "_testbuffer", "_testmultiphase", "_testimportmultiple",
    "_testclinic", "_testsinglephase", "_ctypes_test", "_testexternalinspection", "_testlimitedcapi",
    "_testclinic_limited", "_test", "msilib", "_msi", "winreg", "_winapi", "nt", "_overlapped",
    "asyncio.windows", "multiprocessing.popen_spawn_win32", "distutils.msvc", "encodings.mbcs",
    "encodings.oem", "_wmi", "_android_support", "_apple_support", "_ios_support", "_pyrepl",
    "site", "sitecustomize", "usercustomize", "_sysconfigdata",
)


def stdlib_names():
    names = set(sys.builtin_module_names)
    stdlib = getattr(sys, "stdlib_module_names", None)
    if stdlib:
        names |= set(stdlib)
    libdir = os.path.dirname(os.__file__)
    for m in pkgutil.iter_modules([libdir, os.path.join(libdir, "lib-dynload")]):
        names.add(m.name)
    return names


def skipped(name):
    return any(name == p or name.startswith(p + ".") or name.startswith(p + "_") and p.startswith("_test")
               for p in SKIP_PREFIXES)


def import_all(names):
    done = []
    todo = sorted(n for n in names if not skipped(n))
    seen = set()
    while todo:
        name = todo.pop()
        if name in seen or skipped(name):
            continue
        seen.add(name)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                mod = importlib.import_module(name)
        except BaseException:
            continue
        done.append(mod)
        path = getattr(mod, "__path__", None)
        if path and "." not in name:  # one level of subpackages of stdlib packages
            for sub in pkgutil.iter_modules(path):
                todo.append(name + "." + sub.name)
    return done


def all_classes(modules):
    found = {}
    stack = []
    for mod in list(sys.modules.values()):
        try:
            stack.extend(v for v in vars(mod).values() if isinstance(v, type))
        except BaseException:
            pass
    stack.extend(c for c in object.__subclasses__())
    stack.append(type)
    while stack:
        c = stack.pop()
        if id(c) in found:
            continue
        found[id(c)] = c
        try:
            stack.extend(type.__subclasses__(c))
        except BaseException:
            pass
        try:
            stack.extend(v for v in vars(c).values() if isinstance(v, type))
        except BaseException:
            pass
    return found.values()


def name_of(c):
    return "%s.%s" % (c.__module__, getattr(c, "__qualname__", c.__name__))


def main(argv):
    extra = [a for a in argv if not a.startswith("-")]
    import_all(stdlib_names())
    for name in extra:
        importlib.import_module(name)
    rows = set()
    for c in all_classes(None):
        own = c.__dict__.get("__sizeof__")
        if own is None or c is object:
            continue
        how = "python" if hasattr(own, "__code__") else "C"
        rows.add((name_of(c), how))
    for name, how in sorted(rows):
        print("%s\t%s" % (name, how))


if __name__ == "__main__":
    main(sys.argv[1:])

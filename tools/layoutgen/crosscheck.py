#!/usr/bin/env python3
"""Cross-check python-layouts/*.toml against the _Py_DebugOffsets blob of real 3.13+ interpreters.

CPython 3.13+ starts `_PyRuntime` with `_Py_DebugOffsets` (cookie "xdebugpy", PY_VERSION_HEX, then
uint64 offsets/sizes) and places `_PyRuntime` in the ELF section `.PyRuntime`. This script reads that
blob straight from each binary on disk (own ELF parser, no pyelftools), decodes it with the member list
parsed from the matching header set's own `_Py_DebugOffsets` definition, and compares every member that
has a counterpart in the layout file.

    tools/layoutgen/crosscheck.py            # the default binaries below; exit 1 on any mismatch
    tools/layoutgen/crosscheck.py -v         # also print every compared field

Plain python3 (3.11+: tomllib).
"""
import os
import re
import struct
import sys
import tomllib

HERE = os.path.dirname(os.path.abspath(__file__))
LAYOUTS = os.path.normpath(os.path.join(HERE, "..", "..", "python-layouts"))
CACHE = os.environ.get("LEAKSPY_CACHE", "/var/cache/leakspy")
PYENV = os.environ.get("PYENV_ROOT", "/root/.pyenv")
SID = f"{CACHE}/sid"

# (binary, header declaring _Py_DebugOffsets, layout file)
TARGETS = [
    (f"{PYENV}/versions/3.13.0/lib/libpython3.13.so.1.0",
     f"{PYENV}/versions/3.13.0/include/python3.13/internal/pycore_runtime.h", "3.13.toml"),
    (f"{SID}/usr/bin/python3.13", f"{SID}/usr/include/python3.13/internal/pycore_runtime.h", "3.13-debian.toml"),
    (f"{SID}/usr/lib/x86_64-linux-gnu/libpython3.13.so.1.0",
     f"{SID}/usr/include/python3.13/internal/pycore_runtime.h", "3.13-debian.toml"),
    (f"{SID}/usr/bin/python3.14", f"{SID}/usr/include/python3.14/internal/pycore_debug_offsets.h", "3.14.toml"),
    (f"{SID}/usr/lib/x86_64-linux-gnu/libpython3.14.so.1.0",
     f"{SID}/usr/include/python3.14/internal/pycore_debug_offsets.h", "3.14.toml"),
    (f"{SID}/usr/bin/python3.15", f"{SID}/usr/include/python3.15/internal/pycore_debug_offsets.h", "3.15.toml"),
    (f"{SID}/usr/lib/x86_64-linux-gnu/libpython3.15.so.1.0",
     f"{SID}/usr/include/python3.15/internal/pycore_debug_offsets.h", "3.15.toml"),
    # free-threaded 3.13 built by scripts/setup-python313t.sh (3.14t/3.15t: no binary to check here)
    (f"{SID}/opt/python3.13t/lib/libpython3.13t.so.1.0",
     f"{SID}/opt/python3.13t/include/python3.13t/internal/pycore_runtime.h", "3.13t.toml"),
]

# debug-offsets member -> (layout section, key). Values compared directly unless noted in SPECIAL.
MAP = {
    "runtime_state.interpreters_head": ("runtime", "interpreters_head"),
    "interpreter_state.next": ("interp", "next"),
    "interpreter_state.threads_head": ("interp", "threads_head"),
    "interpreter_state.threads_main": ("interp", "threads_main"),
    "interpreter_state.gc": ("interp", "gc"),
    "interpreter_state.imports_modules": ("interp", "modules"),
    "interpreter_state.ceval_gil": ("interp", "ceval_gil_ptr"),
    "thread_state.size": ("tstate", "size"),
    "thread_state.next": ("tstate", "next"),
    "thread_state.interp": ("tstate", "interp"),
    "thread_state.current_frame": ("tstate", "current_frame"),
    "thread_state.base_frame": ("tstate", "base_frame"),
    "thread_state.thread_id": ("tstate", "thread_id"),
    "thread_state.native_thread_id": ("tstate", "native_thread_id"),
    "thread_state.datastack_chunk": ("tstate", "datastack_chunk"),
    "thread_state.status": ("tstate", "status"),
    "thread_state.holds_gil": ("tstate", "holds_gil"),
    "interpreter_frame.size": ("iframe", "size"),
    "interpreter_frame.previous": ("iframe", "previous"),
    "interpreter_frame.executable": ("iframe", "executable"),
    "interpreter_frame.instr_ptr": ("iframe", "instr_ptr"),
    "interpreter_frame.localsplus": ("iframe", "localsplus"),
    "interpreter_frame.owner": ("iframe", "owner"),
    "interpreter_frame.stackpointer": ("iframe", "stackpointer"),
    "code_object.filename": ("code", "co_filename"),
    "code_object.name": ("code", "co_name"),
    "code_object.qualname": ("code", "co_qualname"),
    "code_object.linetable": ("code", "co_linetable"),
    "code_object.firstlineno": ("code", "co_firstlineno"),
    "code_object.co_code_adaptive": ("code", "co_code_adaptive"),
    "pyobject.size": ("object", "size"),
    "pyobject.ob_type": ("object", "ob_type"),
    "type_object.size": ("type", "size"),
    "type_object.tp_name": ("type", "tp_name"),
    "type_object.tp_flags": ("type", "tp_flags"),
    "type_object.tp_basicsize": ("type", "tp_basicsize"),
    "type_object.tp_dictoffset": ("type", "tp_dictoffset"),
    "heap_type_object.size": ("type", "heap_size"),
    "heap_type_object.ht_cached_keys": ("type", "ht_cached_keys"),
    "tuple_object.ob_item": ("tuple", "ob_item"),
    "tuple_object.ob_size": ("object", "ob_size"),
    "list_object.ob_item": ("list", "ob_item"),
    "list_object.ob_size": ("object", "ob_size"),
    "set_object.used": ("set", "used"),
    "set_object.table": ("set", "table"),
    "set_object.mask": ("set", "mask"),
    "dict_object.ma_keys": ("dict", "ma_keys"),
    "dict_object.ma_values": ("dict", "ma_values"),
    "long_object.lv_tag": ("long", "size_or_tag"),
    "long_object.ob_digit": ("long", "ob_digit"),
    "bytes_object.ob_size": ("object", "ob_size"),
    "bytes_object.ob_sval": ("bytes", "ob_sval"),
    "unicode_object.state": ("unicode", "state"),
    "unicode_object.length": ("unicode", "length"),
    "unicode_object.asciiobject_size": ("unicode", "ascii_size"),
    "unicode_object.compactunicodeobject_size": ("unicode", "compact_size"),
    "gc.size": ("gc", "size"),
    "gc.collecting": ("gc", "collecting"),
}
# The GIL members are offsets inside PyInterpreterState (of the embedded `_gil`); the layout stores
# them relative to struct _gil_runtime_state.
SPECIAL = {
    "interpreter_state.gil_runtime_state_locked": ("gil", "locked"),
    "interpreter_state.gil_runtime_state_holder": ("gil", "last_holder"),
}


def debug_offsets_members(header):
    """[(name, size)] of _Py_DebugOffsets in declaration order, parsed from the header text."""
    txt = open(header).read()
    start = txt.index("typedef struct _Py_DebugOffsets")
    body = txt[start:txt.index("} _Py_DebugOffsets;", start)]
    out, pending, depth = [], [], 0
    for line in body.splitlines()[1:]:
        line = re.sub(r"//.*", "", line).strip()
        if not line or line.startswith("#"):
            if line.startswith("#if"):
                raise SystemExit(f"{header}: conditional members in _Py_DebugOffsets; extend the parser")
            continue
        if re.match(r"char\s+cookie\[8\]", line):
            out.append(("cookie", 8))
        elif re.match(r"struct\s*\w*\s*\{", line):
            depth += 1
        elif m := re.match(r"\}\s*(\w+)\s*;", line):
            depth -= 1
            out.extend((f"{m.group(1)}.{n}", 8) for n in pending)
            pending = []
        elif m := re.match(r"uint64_t\s+([\w\s,]+);", line):
            names = [n.strip() for n in m.group(1).split(",")]
            if depth:
                pending.extend(names)
            else:
                out.extend((n, 8) for n in names)
        else:
            raise SystemExit(f"{header}: cannot parse _Py_DebugOffsets line {line!r}")
    return out


def pyruntime_blob(path, size):
    """Bytes at the start of section .PyRuntime; also checks that _PyRuntime (if in a symbol table) is there."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise SystemExit(f"{path}: not a little-endian ELF64 file")
    e_shoff, = struct.unpack_from("<Q", data, 0x28)
    e_shentsize, e_shnum, e_shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    secs = []
    for i in range(e_shnum):
        sh = struct.unpack_from("<IIQQQQIIQQ", data, e_shoff + i * e_shentsize)
        secs.append(sh)
    strtab = secs[e_shstrndx]

    def name(off, tab):
        s = tab[4] + off
        return data[s:data.index(b"\0", s)].decode()

    by_name = {name(s[0], strtab): s for s in secs}
    sec = by_name.get(".PyRuntime")
    if sec is None:
        raise SystemExit(f"{path}: no .PyRuntime section")
    _, sh_type, _, addr, off, sz, *_ = sec
    if sh_type != 1 or sz < size:  # SHT_PROGBITS
        raise SystemExit(f"{path}: .PyRuntime is not PROGBITS or too small")
    # symbol check: _PyRuntime must be the section start (.dynsym and, if not stripped, .symtab)
    sym_seen = []
    for tabname, strname in ((".dynsym", ".dynstr"), (".symtab", ".strtab")):
        tab, st = by_name.get(tabname), by_name.get(strname)
        if not tab or not st:
            continue
        for j in range(tab[5] // 24):
            st_name, st_info, st_other, st_shndx, st_value, st_size = struct.unpack_from("<IBBHQQ", data, tab[4] + j * 24)
            if st_name and name(st_name, st) == "_PyRuntime":
                sym_seen.append((tabname, st_value))
    for tabname, value in sym_seen:
        if value != addr:
            raise SystemExit(f"{path}: _PyRuntime in {tabname} is 0x{value:x}, .PyRuntime starts at 0x{addr:x}")
    return data[off:off + size], addr, [t for t, _ in sym_seen]


def check(binary, header, layout_file, verbose):
    members = debug_offsets_members(header)
    size = sum(s for _, s in members)
    blob, addr, syms = pyruntime_blob(binary, size)
    vals, o = {}, 0
    for n, s in members:
        vals[n] = blob[o:o + s] if n == "cookie" else struct.unpack_from("<Q", blob, o)[0]
        o += s
    with open(os.path.join(LAYOUTS, layout_file), "rb") as f:
        layout = tomllib.load(f)
    ver = vals["version"]
    pyver = f"{ver >> 24}.{(ver >> 16) & 0xff}.{(ver >> 8) & 0xff}"
    problems, compared, unmatched = [], 0, []
    if vals["cookie"] != b"xdebugpy":
        problems.append(f"cookie {vals['cookie']!r}")
    if f"{ver >> 24}.{(ver >> 16) & 0xff}" != layout["python"]["minor"]:
        problems.append(f"version {pyver} is not minor {layout['python']['minor']}")
    m = layout["python"]
    patch = (ver >> 8) & 0xff
    if patch < m["min_patch"] or (m.get("max_patch") is not None and patch > m["max_patch"]):
        problems.append(f"patch {patch} outside the file's range {m['min_patch']}..{m.get('max_patch')}")
    if bool(vals["free_threaded"]) != ("free_threaded" in layout):
        problems.append(f"free_threaded = {vals['free_threaded']} in binary, but {layout_file} is "
                        f"{'' if 'free_threaded' in layout else 'not '}a free-threaded layout")
    for n, v in vals.items():
        if n in ("cookie", "version", "free_threaded"):
            continue
        if n in SPECIAL:
            sec, key = SPECIAL[n]
            want = v - vals["interpreter_state.gil_runtime_state"]
            label = f"{n} - gil_runtime_state"
        elif n in MAP:
            sec, key = MAP[n]
            want, label = v, n
        else:
            unmatched.append(n)
            continue
        have = layout.get(sec, {}).get(key)
        if have is None:
            unmatched.append(f"{n} (layout has no {sec}.{key})")
            continue
        compared += 1
        ok = have == want
        if not ok:
            problems.append(f"{label} = {want} in binary, {sec}.{key} = {have} in {layout_file}")
        if verbose:
            print(f"    {'ok ' if ok else 'BAD'} {label:<50} {want:>8}  {sec}.{key} = {have}")
    print(f"{binary}: Python {pyver}, .PyRuntime @0x{addr:x} (_PyRuntime in {', '.join(syms) or 'no symbol table'}), "
          f"{len(members)} members ({size} bytes) per {header}")
    print(f"  vs {layout_file}: {compared} fields compared, {len(problems)} problem(s)")
    for p in problems:
        print(f"  MISMATCH {p}")
    if verbose:
        print(f"  not in the layout schema: {', '.join(unmatched)}")
    return not problems


def main():
    verbose = "-v" in sys.argv[1:]
    ok = True
    for binary, header, layout_file in TARGETS:
        if not os.path.exists(binary):
            print(f"{binary}: missing (run scripts/setup-pythons.sh); skipped")
            ok = False
            continue
        ok &= check(binary, header, layout_file, verbose)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()

/*
 * sizeof_a.h: what leakspy needs to recompute `type(o).__sizeof__(o)` from raw memory for
 * generator / coroutine / async_generator, frame, bytearray, array.array, _io.BytesIO,
 * _struct.Struct and _queue.SimpleQueue (group A). Included by tools/layoutgen/layoutgen.c after
 * its helpers (u, none, OFF, SZ) and after the internal headers it already pulls in
 * (pycore_frame.h, pycore_genobject.h, pycore_interpframe.h, pycore_stackref.h, pycore_object.h).
 *
 * Conventions as in layoutgen.c [private]: public/internal-header fields are offsetof()/sizeof()
 * on the installed headers; structs that live only in a module's .c file are mirrored below
 * (prefix lg_, member types from the installed headers, member lists copied). Citations are
 * "file@version:Lx-y"; the line ranges are those the DWARF line table of the shipped build
 * attributes to the function (pyenv 3.9.18 .. 3.13.0 builds carry -g; Debian sid 3.13.18 / 3.14.10
 * / 3.15.2 from their -dbgsym), so they cite the exact source the interpreters were built from.
 * The mirrored member lists were checked against the DWARF of the same builds (`ptype /o` of
 * arrayobject, struct arraydescr, bytesio, PyStructObject, formatcode, simplequeueobject, RingBuf
 * in pyenv array/_struct/_queue .so + libpython, sid python3.X(.debug) and _queue .so(.debug)):
 * arrayobject {allocated +32, ob_descr +40}, arraydescr.itemsize +4 (int), bytesio.buf +16,
 * PyStructObject.s_codes +32, sizeof(formatcode) 32, simplequeueobject.buf.items_cap +48 (3.13+):
 * identical in every build, Py_DEBUG (sid 3.13d/3.14d/3.15d) included.
 * tools/sizeof/verify_a.py checks the formulas against __sizeof__ in all 14 live interpreters.
 *
 * ---------------------------------------------------------------- generator, coroutine, async_generator
 * 3.9/3.10: no own __sizeof__ -> object.__sizeof__ = tp_basicsize (tp_itemsize 0).
 * 3.11+: gen_sizeof (one function for all three types, Objects/genobject.c@3.11.7:L812-816,
 *   @3.12.1:L805, @3.13.0:L791, @3.13.18:L789, @3.14.10:L838, @3.15.2:L1018):
 *     res = offsetof(PyGenObject, gi_iframe) + offsetof(_PyInterpreterFrame, localsplus);
 *     3.11:  PyCodeObject *code = gen->gi_code;
 *            res += (code->co_nlocalsplus + code->co_stacksize) * sizeof(PyObject *);
 *     3.12+: PyCodeObject *code = _PyGen_GetCode(gen);            // the frame's f_code (3.12),
 *            res += _PyFrame_NumSlotsForCodeObject(code) * sizeof(PyObject *);
 *                                                   // = co_framesize - FRAME_SPECIALS_SIZE
 *   3.12: _PyGen_GetCode = ((_PyInterpreterFrame *)gen->gi_iframe)->f_code; 3.13: ->f_executable
 *   (PyObject *); 3.14+: _PyFrame_GetCode(&gen->gi_iframe) = PyStackRef_AsPyObjectBorrow(
 *   f_executable) = BITS_TO_PTR_MASKED = (PyObject *)(f_executable.bits & ~Py_TAG_REFCNT)
 *   (Include/internal/pycore_interpframe.h@3.14.10:L20-25; pycore_stackref.h@3.14.10:L467/L518-521,
 *   @3.15.2:L465/L527-530; Py_TAG_REFCNT 1; Py_TAG_BITS is 3 but tagged ints never appear in
 *   f_executable). The code stays in the frame after the generator finished
 *   (_PyFrame_ClearExceptCode), so the formula holds for not-started, suspended and finished ones.
 * ---------------------------------------------------------------- frame
 * 3.9/3.10 (Objects/frameobject.c@3.9.18:L703-712, @3.10.13:L710-719):
 *     PyCodeObject *code = f->f_code;            // 3.9: f->f_code->... spelled out
 *     extras = code->co_stacksize + code->co_nlocals + PyTuple_GET_SIZE(code->co_cellvars)
 *              + PyTuple_GET_SIZE(code->co_freevars);
 *     res = sizeof(PyFrameObject) + (extras-1) * sizeof(PyObject *);
 *   NOT basicsize + itemsize*(ob_size-1): frames come from a free list (frame_alloc/
 *   _PyFrame_New_NoTrack reuse a freed frame if Py_SIZE(f) >= extras and never shrink ob_size),
 *   so ob_size can exceed the code's extras; verify_a.py builds such a frame.
 * 3.11+ (Objects/frameobject.c@3.11.7:L951-955, @3.12.1:L982, @3.13.0:L1745, @3.13.18:L1825):
 *     res = offsetof(PyFrameObject, _f_frame_data) + offsetof(_PyInterpreterFrame, localsplus);
 *     3.11:  code = f->f_frame->f_code; res += (co_nlocalsplus + co_stacksize) * sizeof(PyObject *);
 *     3.12:  code = f->f_frame->f_code; res += _PyFrame_NumSlotsForCodeObject(code) * 8;
 *     3.13+: code = _PyFrame_GetCode(f->f_frame);  same (3.14+: f_executable is a _PyStackRef).
 *   f->f_frame points at the object's own _f_frame_data once the frame object owns it (function
 *   returned, e.g. tb_frame of a stored exception) or at the live frame (thread data stack, or
 *   gi_iframe of a generator); the code is read through f_frame either way.
 * ---------------------------------------------------------------- bytearray (public header)
 * bytearray_sizeof(_impl) (Objects/bytearrayobject.c@3.9.18:L2197-2198, @3.10.13:L2201-2202,
 *   @3.11.7:L2161-2162, @3.12.1:L2159-2160, @3.13.0:L2260-2261, @3.13.18:L2312-2313,
 *   @3.14.10:L2713-2714, @3.15.2:L2819-2822):
 *     res = _PyObject_SIZE(Py_TYPE(self)) + self->ob_alloc * sizeof(char);
 *   (3.13+: size_t res = ...; res += (size_t)FT_ATOMIC_LOAD_SSIZE_RELAXED(self->ob_alloc).)
 *   3.15 backs the buffer with a bytes object (`PyObject *ob_bytes_object`, ob_alloc "equivalent
 *   to Py_SIZE(ob_bytes_object)", Include/cpython/bytearrayobject.h@3.15.2:L8-17) and counts
 *   that bytes object's header too: bytearrayobject.c@3.15.2:L2817-2822 compiles (sid 3.15.2
 *   and 3.15.2d, `disassemble /s bytearray_sizeof` with the -dbgsym) to
 *     res = tp_basicsize; alloc = self->ob_alloc; if (alloc > 0) res += alloc + 33;
 *   33 = PyBytesObject_SIZE = offsetof(PyBytesObject, ob_sval) + 1. An empty bytearray (alloc 0,
 *   no bytes object) is tp_basicsize. bytearray_bytes_object is emitted only for 3.15+ and marks
 *   this rule.
 */

/* ---------------------------------------------------------------- array.array
 * Modules/arraymodule.c, unchanged member list 3.9 .. 3.15:
 *   typedef struct arrayobject { PyObject_VAR_HEAD char *ob_item; Py_ssize_t allocated;
 *     const struct arraydescr *ob_descr; PyObject *weakreflist; Py_ssize_t ob_exports; }
 *     arrayobject;
 *   3.9 .. 3.14: struct arraydescr { char typecode; int itemsize;
 *     PyObject * (*getitem)(struct arrayobject *, Py_ssize_t);
 *     int (*setitem)(struct arrayobject *, Py_ssize_t, PyObject *);
 *     int (*compareitems)(const void *, const void *, Py_ssize_t); const char *formats;
 *     int is_integer_type; int is_signed; };
 *   3.15: `char typecode[3]` (two-letter typecodes) and no `formats` member (DWARF of sid
 *     3.15.2); itemsize stays at +4.
 *   array.__sizeof__ (array_array___sizeof___impl, arraymodule.c@3.9.18:L1742, @3.10.13:L1784,
 *   @3.11.7:L1786, @3.12.1:L1779, @3.13.0:L1853, @3.13.18:L1934, @3.14.10:L1960, @3.15.2:L2090):
 *     res = _PyObject_SIZE(Py_TYPE(self)) + self->allocated * self->ob_descr->itemsize;
 *   (3.13+: size_t res = ...; res += (size_t)self->allocated * (size_t)self->ob_descr->itemsize;)
 */
struct lg_arrayobject;
struct lg_arraydescr {
#if PY_VERSION_HEX >= 0x030F0000
    char typecode[3];
#else
    char typecode;
#endif
    int itemsize;
    PyObject *(*getitem)(struct lg_arrayobject *, Py_ssize_t);
    int (*setitem)(struct lg_arrayobject *, Py_ssize_t, PyObject *);
    int (*compareitems)(const void *, const void *, Py_ssize_t);
#if PY_VERSION_HEX < 0x030F0000
    const char *formats;
#endif
    int is_integer_type;
    int is_signed;
};
typedef struct lg_arrayobject {
    PyObject_VAR_HEAD
    char *ob_item;
    Py_ssize_t allocated;
    const struct lg_arraydescr *ob_descr;
    PyObject *weakreflist;
    Py_ssize_t ob_exports;
} lg_arrayobject;

/* ---------------------------------------------------------------- _io.BytesIO
 * Modules/_io/bytesio.c, unchanged 3.9 .. 3.15:
 *   typedef struct { PyObject_HEAD PyObject *buf; Py_ssize_t pos; Py_ssize_t string_size;
 *     PyObject *dict; PyObject *weakreflist; Py_ssize_t exports; } bytesio;
 *   SHARED_BUF(self): `(Py_REFCNT((self)->buf) > 1)` up to 3.13, then
 *     `(!_PyObject_IsUniquelyReferenced((self)->buf))` = `Py_REFCNT(buf) != 1` without the GIL
 *     disabled (Include/internal/pycore_object.h@3.14:L184-187): same truth value.
 *   __sizeof__ (bytesio_sizeof, bytesio.c@3.9.18:L966-977, @3.10.13:L966-977, @3.11.7:L969-978,
 *   @3.12.1:L969-976, @3.13.0:L968-975, @3.13.18:L980-986, @3.14.10:L1125-1141 (critical section
 *   wrapper + bytesio_sizeof_lock_held), @3.15.2:L1125-1141):
 *     res = _PyObject_SIZE(Py_TYPE(self));
 *     if (self->buf && !SHARED_BUF(self)) res += _PySys_GetSizeOf(self->buf);
 *   buf is always an exact bytes (bytes, not GC, no pre-header), so _PySys_GetSizeOf(buf) =
 *   bytes.__sizeof__ = PyBytesObject_SIZE + Py_SIZE(buf) = offsetof(PyBytesObject, ob_sval) + 1
 *   + ob_size. buf is NULL after close().
 *   Py_REFCNT: the Py_ssize_t ob_refcnt through 3.13 (immortal objects in 3.12/3.13 have
 *   ob_refcnt >= UINT32_MAX>>2, so > 1); from 3.14 the uint32_t `ob_refcnt` half of the union
 *   (Include/refcount.h@3.14: _Py_REFCNT returns ob->ob_refcnt), ob_flags/ob_overflow above it.
 */
typedef struct {
    PyObject_HEAD
    PyObject *buf;
    Py_ssize_t pos;
    Py_ssize_t string_size;
    PyObject *dict;
    PyObject *weakreflist;
    Py_ssize_t exports;
} lg_bytesio;

/* ---------------------------------------------------------------- _struct.Struct
 * Modules/_struct.c, 3.9 .. 3.15:
 *   typedef struct _formatcode { const struct _formatdef *fmtdef; Py_ssize_t offset;
 *     Py_ssize_t size; Py_ssize_t repeat; } formatcode;
 *   3.9 .. 3.14: typedef struct { PyObject_HEAD Py_ssize_t s_size; Py_ssize_t s_len;
 *     formatcode *s_codes; PyObject *s_format; PyObject *weakreflist; } PyStructObject;
 *   3.15: `bool init_called;` appended (DWARF of sid 3.15.2).
 *   __sizeof__ (s_sizeof, _struct.c@3.9.18:L2016-2023, @3.10.13:L2054-2061, @3.11.7:L2059-2062,
 *   @3.12.1:L2166-2170, @3.13.0:L2184-2188, @3.13.18:L2209-2215, @3.14.10:L2422-2429;
 *   Struct___sizeof__ @3.15.2:L2549-2554):
 *     size = _PyObject_SIZE(Py_TYPE(self)) + sizeof(formatcode);
 *     for (code = self->s_codes; code->fmtdef != NULL; code++) size += sizeof(formatcode);
 *   i.e. one formatcode per code plus the terminating {NULL} entry. s_codes is never NULL on an
 *   initialised Struct (the array is PyMem_Malloc'ed by prepare_s); s_len counts items, not codes
 *   ("3i" is one code with repeat 3, "3s" one code), so the array must be walked.
 */
struct lg_formatdef;
typedef struct {
    const struct lg_formatdef *fmtdef;
    Py_ssize_t offset;
    Py_ssize_t size;
    Py_ssize_t repeat;
} lg_formatcode;
typedef struct {
    PyObject_HEAD
    Py_ssize_t s_size;
    Py_ssize_t s_len;
    lg_formatcode *s_codes;
    PyObject *s_format;
    PyObject *weakreflist;
#if PY_VERSION_HEX >= 0x030F0000
    _Bool init_called;
#endif
} lg_PyStructObject;

/* ---------------------------------------------------------------- _queue.SimpleQueue
 * 3.9 .. 3.12: list-backed (`PyThread_type_lock lock; int locked; PyObject *lst;
 *   Py_ssize_t lst_pos; PyObject *weakreflist;`), 3.13+: ring buffer (Modules/_queuemodule.c):
 *   typedef struct { Py_ssize_t put_idx; Py_ssize_t get_idx; PyObject **items;
 *     Py_ssize_t items_cap; Py_ssize_t num_items; } RingBuf;
 *   typedef struct { PyObject_HEAD bool has_threads_waiting; RingBuf buf;
 *     PyObject *weakreflist; } simplequeueobject;
 *   Only 3.15 defines SimpleQueue.__sizeof__ (3.9 .. 3.14: object.__sizeof__ = tp_basicsize):
 *     res = _PyObject_SIZE(Py_TYPE(self)) + self->buf.items_cap * sizeof(PyObject *);
 *   (live 3.15.2: 72 + 8*8 = 136 for a new queue, 72 + 32*8 after 20 puts; the ring starts at 8
 *   slots and doubles.) The struct is mirrored from 3.13 (same DWARF in 3.13.0/.18, 3.14.10,
 *   3.15.2), but the value is emitted only where __sizeof__ uses it.
 */
#if PY_VERSION_HEX >= 0x030D0000
typedef struct {
    Py_ssize_t put_idx;
    Py_ssize_t get_idx;
    PyObject **items;
    Py_ssize_t items_cap;
    Py_ssize_t num_items;
} lg_RingBuf;
typedef struct {
    PyObject_HEAD
    _Bool has_threads_waiting;
    lg_RingBuf buf;
    PyObject *weakreflist;
} lg_simplequeueobject;
#endif

static void emit_sizeof_a(void) {
    /* ---- common: refcount width (BytesIO SHARED_BUF), bytes header (BytesIO buf) */
#ifdef Py_GIL_DISABLED
    u("object_refcnt_size", SZ(((PyObject *)0)->ob_ref_local)); /* BytesIO SHARED_BUF: the local refcount */
#else
    u("object_refcnt_size", SZ(((PyObject *)0)->ob_refcnt));
#endif
    u("bytes_sval", OFF(PyBytesObject, ob_sval));

    /* ---- code objects */
    u("code_stacksize", OFF(PyCodeObject, co_stacksize));
#if PY_VERSION_HEX < 0x030B0000
    u("code_nlocals", OFF(PyCodeObject, co_nlocals));
    /* code_cellvars (OFF(PyCodeObject, co_cellvars), 3.9/3.10) is needed too; layoutgen.c's own
     * [sizeof] lines already emit it (for code_sizeof), so it is not repeated here (a TOML
     * section must not have the same key twice). */
    u("code_freevars", OFF(PyCodeObject, co_freevars));
    none("code_nlocalsplus");
#else
    none("code_nlocals");
    none("code_freevars");
    u("code_nlocalsplus", OFF(PyCodeObject, co_nlocalsplus));
#endif
#if PY_VERSION_HEX >= 0x030C0000
    u("code_framesize", OFF(PyCodeObject, co_framesize));
#else
    none("code_framesize");
#endif

    /* ---- frame objects and interpreter frames */
#if PY_VERSION_HEX < 0x030B0000
    u("frame_code", OFF(PyFrameObject, f_code));
    u("frame_struct_size", SZ(PyFrameObject));
    none("frame_frame");
    none("frame_data");
    none("iframe_code");
    none("iframe_localsplus");
    none("frame_specials_size");
#else
    none("frame_code");
    none("frame_struct_size");
    u("frame_frame", OFF(PyFrameObject, f_frame));
    u("frame_data", OFF(PyFrameObject, _f_frame_data));
#  if PY_VERSION_HEX < 0x030D0000
    u("iframe_code", OFF(_PyInterpreterFrame, f_code));
#  else
    u("iframe_code", OFF(_PyInterpreterFrame, f_executable));
#  endif
    u("iframe_localsplus", OFF(_PyInterpreterFrame, localsplus));
    u("frame_specials_size", (unsigned long long)FRAME_SPECIALS_SIZE);
#endif
#if PY_VERSION_HEX >= 0x030E0000
    /* f_executable is a _PyStackRef: PyStackRef_AsPyObjectBorrow = BITS_TO_PTR_MASKED =
     * bits & ~Py_TAG_REFCNT (default and Py_DEBUG builds) */
    u("stackref_tag_refcnt", (unsigned long long)Py_TAG_REFCNT);
#else
    none("stackref_tag_refcnt");
#endif

    /* ---- generators, coroutines, async generators (3.11+: gen_sizeof) */
#if PY_VERSION_HEX >= 0x030B0000
    u("gen_iframe", OFF(PyGenObject, gi_iframe));
    u("coro_iframe", OFF(PyCoroObject, cr_iframe));
    u("asyncgen_iframe", OFF(PyAsyncGenObject, ag_iframe));
#else
    none("gen_iframe");
    none("coro_iframe");
    none("asyncgen_iframe");
#endif
#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030C0000
    u("gen_code", OFF(PyGenObject, gi_code));
#else
    none("gen_code");
#endif

    /* ---- bytearray */
    u("bytearray_alloc", OFF(PyByteArrayObject, ob_alloc));
    u("bytearray_bytes", OFF(PyByteArrayObject, ob_bytes));
#if PY_VERSION_HEX >= 0x030F0000
    u("bytearray_bytes_object", OFF(PyByteArrayObject, ob_bytes_object));
#else
    none("bytearray_bytes_object");
#endif

    /* ---- array.array */
    u("array_item", OFF(lg_arrayobject, ob_item));
    u("array_allocated", OFF(lg_arrayobject, allocated));
    u("array_descr", OFF(lg_arrayobject, ob_descr));
    u("arraydescr_itemsize", OFF(struct lg_arraydescr, itemsize)); /* int (4 bytes) */

    /* ---- _io.BytesIO */
    u("bytesio_buf", OFF(lg_bytesio, buf));

    /* ---- _struct.Struct */
    u("struct_codes", OFF(lg_PyStructObject, s_codes));
    u("formatcode_fmtdef", OFF(lg_formatcode, fmtdef));
    u("formatcode_size", SZ(lg_formatcode));

    /* ---- _queue.SimpleQueue (own __sizeof__ only in 3.15) */
#if PY_VERSION_HEX >= 0x030F0000
    u("simplequeue_items_cap", OFF(lg_simplequeueobject, buf.items_cap));
#else
    none("simplequeue_items_cap");
#endif
}

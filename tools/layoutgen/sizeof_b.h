/*
 * sizeof_b.h: layouts behind the C __sizeof__ of group-B types (OrderedDict, decimal.Decimal,
 * itertools.combinations/combinations_with_replacement/permutations/product, _elementtree.Element,
 * _pickle.Pickler/Unpickler, ctypes StgDict (3.9-3.12) / CType_Type (3.13+), parser.st (3.9)).
 *
 * Included by layoutgen.c after its output helpers (u, none, OFF, SZ) and before main(); main()
 * calls emit_sizeof_b(). Convention as in layoutgen.c [private]: structs declared only in a
 * module's .c file (or in a module header that is not installed) are mirrored here as lg_* with
 * the member types taken from the installed headers; offsetof/sizeof then give the numbers.
 *
 * Sources. The CPython repository itself could not be fetched here (over the snapshot size limit),
 * so the member lists and the __sizeof__ bodies below were read off the interpreters this generator
 * covers: `ptype /o` (DWARF) of every struct on pyenv libpython3.{9.18,10.13,11.7,12.1,13.0} and
 * their lib-dynload _decimal/_elementtree/_pickle/_ctypes/parser modules, and on Debian sid
 * python3.{13.18,14.10,15.2} and python3.{13,14,15}d (+ -dbgsym); the formulas from
 * `disassemble /s` of each __sizeof__ function on the same binaries (each one a few instructions,
 * quoted below in C). The line numbers are those the DWARF line tables give for the function body
 * ("path@version:Lx-y"); "(dwarf)" marks them. The Py_DEBUG builds (python3.1Xd) have exactly the
 * same layouts as the release builds for every struct below (no Py_TRACE_REFS in Debian's d
 * builds). tools/sizeof/verify_b.py recomputes __sizeof__ from raw memory with these numbers on
 * every interpreter of /var/cache/leakspy/matrix.tsv.
 *
 * Value names: <type>_<field>; offsets are from the start of the object unless said otherwise.
 */
#ifndef LG_SIZEOF_B_H
#define LG_SIZEOF_B_H

#if PY_VERSION_HEX < 0x030A0000
#  include "node.h" /* 3.9: the parser's node (Include/node.h, installed) */
#endif

/* ------------------------------------------------------------------------------------------------
 * collections.OrderedDict. Objects/odictobject.c, same member list 3.9 .. 3.15
 * (struct _odictobject at @3.9.18:L484, @3.12.1:L484, @3.13.0:L487, @3.13.18:L488, @3.14.10:L489,
 * @3.15.2:L488 (dwarf); only od_resize_sentinel's pointee type changes, not the layout):
 *   struct _odictobject { PyDictObject od_dict; _ODictNode *od_first; _ODictNode *od_last;
 *     _ODictNode **od_fast_nodes; Py_ssize_t od_fast_nodes_size; void *od_resize_sentinel;
 *     size_t od_state; PyObject *od_inst_dict; PyObject *od_weakreflist; };
 *   struct _odictnode { PyObject *key; Py_hash_t hash; _ODictNode *next; _ODictNode *prev; };
 * __sizeof__ (odict_sizeof @3.9.18:L934-940, @3.10.13/@3.11.7:L934-940, @3.12.1:L933-939,
 * @3.13.0:L957-963, @3.13.18:L958-964; OrderedDict___sizeof___impl (Argument Clinic)
 * @3.14.10/@3.15.2:L974-975 (dwarf)):
 *   res = _PyDict_SizeOf(od);                 // 3.13+: the lock-held variant, same value
 *   res += sizeof(_ODictNode *) * od->od_fast_nodes_size;
 *   if (od->od_first != NULL) res += sizeof(_ODictNode) * ((PyDictObject *)od)->ma_used;
 * i.e. dict.__sizeof__(od) + 8*od_fast_nodes_size + (od_first ? 32*ma_used : 0).
 * --------------------------------------------------------------------------------------------- */
typedef struct lg_odictnode {
    PyObject *key;
    Py_hash_t hash;
    struct lg_odictnode *next;
    struct lg_odictnode *prev;
} lg_ODictNode;
typedef struct {
    PyDictObject od_dict;
    lg_ODictNode *od_first;
    lg_ODictNode *od_last;
    lg_ODictNode **od_fast_nodes;
    Py_ssize_t od_fast_nodes_size;
    void *od_resize_sentinel;
    size_t od_state;
    PyObject *od_inst_dict;
    PyObject *od_weakreflist;
} lg_PyODictObject;

/* ------------------------------------------------------------------------------------------------
 * decimal.Decimal. Modules/_decimal/_decimal.c (PyDecObject @3.9.18:L73, @3.12.1:L77, @3.13.0:L178,
 * @3.13.18:L187, @3.14.10:L197, @3.15.2:L208 (dwarf)), same member list 3.9 .. 3.15:
 *   #define _Py_DEC_MINALLOC 4
 *   typedef struct { PyObject_HEAD Py_hash_t hash; mpd_t dec; mpd_uint_t data[_Py_DEC_MINALLOC]; }
 *   PyDecObject;
 * mpd_t, Modules/_decimal/libmpdec/mpdecimal.h (@3.9.18:L361, @3.12.1+:L353 (dwarf); CONFIG_64:
 * mpd_ssize_t = int64_t, mpd_uint_t = uint64_t):
 *   typedef struct mpd_t { uint8_t flags; mpd_ssize_t exp; mpd_ssize_t digits; mpd_ssize_t len;
 *     mpd_ssize_t alloc; mpd_uint_t *data; } mpd_t;
 *   #define MPD_STATIC_DATA 32, MPD_SHARED_DATA 64, MPD_CONST_DATA 128,
 *   MPD_DATAFLAGS (MPD_STATIC_DATA|MPD_SHARED_DATA|MPD_CONST_DATA)
 *   mpd_isdynamic_data(dec) = !(dec->flags & MPD_DATAFLAGS)
 * The header is not installed (neither the bundled copy nor libmpdec-dev), hence the mirror.
 * Debian bullseye's python3.9 links the system libmpdec.so.3 (mpdecimal 2.5.1): same struct, and
 * its mpd_isdynamic_data is `testb $0xe0,(%rdi); sete` (disassembled). The bundled copies compile to
 * `cmpb $0x1f,flags; setbe` (same predicate). Debian sid/host builds use the bundled libmpdec.
 * __sizeof__ (dec_sizeof @3.9.18:L4648-4656, @3.10.13:L4660-4668, @3.11.7:L4845-4853,
 * @3.12.1:L4798-4804, @3.13.0:L4901-4907, @3.13.18:L4929-4930, @3.14.10:L5045-5046;
 * _decimal_Decimal___sizeof___impl @3.15.2:L5982 (dwarf)):
 *   res = _PyObject_SIZE(Py_TYPE(v));
 *   if (mpd_isdynamic_data(MPD(v))) res += MPD(v)->alloc * sizeof(mpd_uint_t);
 * --------------------------------------------------------------------------------------------- */
typedef int64_t lg_mpd_ssize_t;
typedef uint64_t lg_mpd_uint_t;
typedef struct {
    uint8_t flags;
    lg_mpd_ssize_t exp;
    lg_mpd_ssize_t digits;
    lg_mpd_ssize_t len;
    lg_mpd_ssize_t alloc;
    lg_mpd_uint_t *data;
} lg_mpd_t;
#define LG_PY_DEC_MINALLOC 4
typedef struct {
    PyObject_HEAD
    Py_hash_t hash;
    lg_mpd_t dec;
    lg_mpd_uint_t data[LG_PY_DEC_MINALLOC];
} lg_PyDecObject;
#define LG_MPD_STATIC_DATA 32
#define LG_MPD_SHARED_DATA 64
#define LG_MPD_CONST_DATA 128
#define LG_MPD_DATAFLAGS (LG_MPD_STATIC_DATA | LG_MPD_SHARED_DATA | LG_MPD_CONST_DATA)

/* ------------------------------------------------------------------------------------------------
 * itertools (Modules/itertoolsmodule.c), same member lists 3.9 .. 3.15:
 *   typedef struct { PyObject_HEAD PyObject *pools; Py_ssize_t *indices; PyObject *result;
 *     int stopped; } productobject;                       (@3.9.18:L2091, @3.12.1:L2236,
 *                                                          @3.13.0:L2271, @3.14.10:L2068)
 *   typedef struct { PyObject_HEAD PyObject *pool; Py_ssize_t *indices; PyObject *result;
 *     Py_ssize_t r; int stopped; } combinationsobject;    (@3.9.18:L2450, @3.12.1:L2572,
 *                                                          @3.13.0:L2608, @3.14.10:L2337)
 *   cwrobject: the same members                            (@3.9.18:L2787, @3.14.10:L2590)
 *   typedef struct { PyObject_HEAD PyObject *pool; Py_ssize_t *indices; Py_ssize_t *cycles;
 *     PyObject *result; Py_ssize_t r; int stopped; } permutationsobject;
 *                                                         (@3.9.18:L3115, @3.14.10:L2839)
 * __sizeof__ (all four: res = _PyObject_SIZE(Py_TYPE(self)) + ...):
 *   product:      + PyTuple_GET_SIZE(lz->pools) * sizeof(Py_ssize_t)
 *                 (product_sizeof @3.9.18:L2192-2196, @3.10.13:L2326-2330, @3.12.1:L2338-2339,
 *                  @3.13.0:L2373-2374, @3.13.18:L2379-2380, @3.14.10:L2173-2174, @3.15.2:L2169-2170)
 *   combinations: + co->r * sizeof(Py_ssize_t)
 *                 (combinations_sizeof @3.9.18:L2526-2530, @3.10.13:L2660-2664, @3.12.1:L2651-2652,
 *                  @3.13.0:L2687-2688; in the sid builds gcc's identical-code folding merged it into
 *                  cwr_sizeof, which is the same code over the same layout)
 *   cwr:          + co->r * sizeof(Py_ssize_t)
 *                 (cwr_sizeof @3.9.18:L2863-2867, @3.12.1:L2967-2968, @3.13.18:L3009-3010,
 *                  @3.14.10:L2672-2673, @3.15.2:L2662-2663)
 *   permutations: + PyTuple_GET_SIZE(po->pool) * sizeof(Py_ssize_t) + po->r * sizeof(Py_ssize_t)
 *                 (permutations_sizeof @3.9.18:L3209-3214, @3.12.1:L3293-3294,
 *                  @3.13.18:L3335-3336, @3.14.10:L2941-2942, @3.15.2:L2931-2932)
 * pools/pool stay set when the iterator is exhausted (only tp_clear drops them).
 * --------------------------------------------------------------------------------------------- */
typedef struct {
    PyObject_HEAD
    PyObject *pools;
    Py_ssize_t *indices;
    PyObject *result;
    int stopped;
} lg_productobject;
typedef struct {
    PyObject_HEAD
    PyObject *pool;
    Py_ssize_t *indices;
    PyObject *result;
    Py_ssize_t r;
    int stopped;
} lg_combinationsobject;
typedef lg_combinationsobject lg_cwrobject;
typedef struct {
    PyObject_HEAD
    PyObject *pool;
    Py_ssize_t *indices;
    Py_ssize_t *cycles;
    PyObject *result;
    Py_ssize_t r;
    int stopped;
} lg_permutationsobject;

/* ------------------------------------------------------------------------------------------------
 * xml.etree.ElementTree.Element = _elementtree.Element. Modules/_elementtree.c, same 3.9 .. 3.15
 * (ElementObjectExtra @3.9.18:L191, @3.12.1:L225, @3.13.0:L233, @3.14.10:L234, @3.15.2:L236;
 *  ElementObject @3.9.18:L215, @3.12.1:L249, @3.14.10:L258 (dwarf)):
 *   #define STATIC_CHILDREN 4
 *   typedef struct { PyObject* attrib; Py_ssize_t length; Py_ssize_t allocated;
 *     PyObject* *children; PyObject* _children[STATIC_CHILDREN]; } ElementObjectExtra;
 *   typedef struct { PyObject_HEAD PyObject* tag; PyObject* text; PyObject* tail;
 *     ElementObjectExtra* extra; PyObject *weakreflist; } ElementObject;
 * __sizeof__ (_elementtree_Element___sizeof___impl @3.9.18/@3.10.13:L919-922, @3.12.1:L937-939,
 * @3.13.0:L940-942, @3.13.18:L977-979, @3.14.10:L978-980, @3.15.2:L987-989 (dwarf)):
 *   result = _PyObject_SIZE(Py_TYPE(self));
 *   if (self->extra) { result += sizeof(ElementObjectExtra);
 *     if (self->extra->children != self->extra->_children)
 *       result += sizeof(PyObject*) * self->extra->allocated; }
 * (extra is created lazily: an element with no attributes and no children has none; the
 * children array moves to the heap past STATIC_CHILDREN and never moves back.)
 * --------------------------------------------------------------------------------------------- */
#define LG_STATIC_CHILDREN 4
typedef struct {
    PyObject *attrib;
    Py_ssize_t length;
    Py_ssize_t allocated;
    PyObject **children;
    PyObject *_children[LG_STATIC_CHILDREN];
} lg_ElementObjectExtra;
typedef struct {
    PyObject_HEAD
    PyObject *tag;
    PyObject *text;
    PyObject *tail;
    lg_ElementObjectExtra *extra;
    PyObject *weakreflist;
} lg_ElementObject;

/* ------------------------------------------------------------------------------------------------
 * _pickle.Pickler / _pickle.Unpickler. Modules/_pickle.c (PyMemoEntry/PyMemoTable @3.9.18:L608/615,
 * @3.12.1:L652/659, @3.13.0:L600/607, @3.14.10:L605/612; struct PicklerObject @3.9.18:L617,
 * @3.12.1:L661, @3.13.0:L609, @3.13.18:L609, @3.14.10:L614, @3.15.2:L612; struct UnpicklerObject
 * @3.9.18:L656, @3.12.1:L700, @3.13.0:L646, @3.13.18:L648, @3.14.10:L653, @3.15.2:L651 (dwarf)).
 *   typedef struct { PyObject *me_key; Py_ssize_t me_value; } PyMemoEntry;
 *   typedef struct { size_t mt_mask; size_t mt_used; size_t mt_allocated; PyMemoEntry *mt_table; }
 *   PyMemoTable;
 *   PicklerObject: PyObject_HEAD PyMemoTable *memo;
 *       3.9-3.12:  PyObject *pers_func; PyObject *pers_func_self;
 *       3.13.0:    PyObject *persistent_id;
 *       3.13.1+:   PyObject *persistent_id; PyObject *persistent_id_attr;   (gh-125752, 3.13.1)
 *     then PyObject *dispatch_table, *reducer_override, *write, *output_buffer;
 *     Py_ssize_t output_len, max_output_len; int proto, bin, framing; Py_ssize_t frame_start,
 *     buf_size; int fast, fast_nesting, fix_imports; [int running; (gh-143638)] PyObject
 *     *fast_memo, *buffer_callback;   (`running` fills the padding hole: no offset moves)
 *   UnpicklerObject: PyObject_HEAD Pdata *stack; PyObject **memo; size_t memo_size, memo_len;
 *       3.15:      PyObject *memo_dict;
 *       3.9-3.12:  PyObject *pers_func; PyObject *pers_func_self;
 *       3.13.0:    PyObject *persistent_load;
 *       3.13.1+:   PyObject *persistent_load; PyObject *persistent_load_attr;
 *     Py_buffer buffer; char *input_buffer; char *input_line; Py_ssize_t input_len,
 *     next_read_idx, prefetched_idx;
 *       3.13.15+, 3.14.7+: Py_ssize_t frame_end; Py_ssize_t saved_input_len;  (gh-154848)
 *     PyObject *read, *readinto, *readline, *peek, *buffers; char *encoding; char *errors;
 *     Py_ssize_t *marks; Py_ssize_t num_marks, marks_size; int proto, fix_imports;
 *     [int running;] (gh-143638, at the end)
 * 3.6/3.7: no reducer_override, buffer_callback, readinto, buffers (all PEP 574 / 3.8); DWARF of
 * pyenv _pickle.cpython-3{6m,7m}: sizeof(PicklerObject) 136, sizeof(UnpicklerObject) 256.
 * Patch-level guards: the 3.13.0 shape is pyenv 3.13.0 (DWARF); the full shape is Debian sid
 * 3.13.18 and 3.14.10 (DWARF); 3.15.2 adds memo_dict. The patch where each member appeared comes
 * from the CPython tracker, not from a header set here: persistent_*_attr 3.13.1 (gh-125752's
 * fix "in 3.13.1"), frame_end/saved_input_len 3.13.15 / 3.14.7 (gh-154848; fickling#317 names
 * those releases). `running` (gh-143638, merged 2026-01) is guarded at 3.13.12 / 3.14.3, which is
 * a guess from the release dates: it moves no offset, only sizeof(UnpicklerObject); the reader
 * should compare tp_basicsize of _pickle.Unpickler with unpickler_size and not use these offsets
 * when they differ.
 * __sizeof__ (_pickle_Pickler___sizeof___impl @3.9.18:L4613-4621, @3.10.13:L4634-4642,
 * @3.12.1:L4656-4661, @3.13.0:L4619-4624, @3.13.18:L4759-4767, @3.14.10:L4898-4906,
 * @3.15.2:L5009-5017 (dwarf)), same body in all:
 *   res = _PyObject_SIZE(Py_TYPE(self));
 *   if (self->memo != NULL) { res += sizeof(PyMemoTable);
 *                             res += self->memo->mt_allocated * sizeof(PyMemoEntry); }
 *   if (self->output_buffer != NULL) { s = _PySys_GetSizeOf(self->output_buffer); ...; res += s; }
 * output_buffer is an exact bytes object (not GC): _PySys_GetSizeOf = bytes.__sizeof__ =
 * PyBytesObject_SIZE (offsetof(PyBytesObject, ob_sval) + 1 = 33) + Py_SIZE(output_buffer).
 * It is NULL after a completed dump() (the buffer is handed to write()) and 4096 bytes (plus
 * growth) in a fresh Pickler or during dump().
 * (_pickle_Unpickler___sizeof___impl @3.9.18:L7172-7182, @3.10.13:L7154-7164, @3.12.1:L7124-7132,
 * @3.13.0:L7074-7082, @3.13.18:L7269-7277, @3.14.10:L7431-7439, @3.15.2:L7542-7550 (dwarf)),
 * same body in all (3.15's memo_dict is not counted; the Pdata stack never is):
 *   res = _PyObject_SIZE(Py_TYPE(self));
 *   if (self->memo != NULL)       res += self->memo_size * sizeof(PyObject *);
 *   if (self->marks != NULL)      res += self->marks_size * sizeof(Py_ssize_t);
 *   if (self->input_line != NULL) res += strlen(self->input_line) + 1;
 *   if (self->encoding != NULL)   res += strlen(self->encoding) + 1;
 *   if (self->errors != NULL)     res += strlen(self->errors) + 1;
 * --------------------------------------------------------------------------------------------- */
#define LG_PK_HEX(maj13, maj14) \
    ((PY_VERSION_HEX >= (maj13) && PY_VERSION_HEX < 0x030E0000) || PY_VERSION_HEX >= (maj14))
#define LG_PK_ATTR (PY_VERSION_HEX >= 0x030D0100)
#define LG_PK_RUNNING LG_PK_HEX(0x030D0C00, 0x030E0300)
#define LG_PK_FRAMES LG_PK_HEX(0x030D0F00, 0x030E0700)
#define LG_PK_MEMO_DICT (PY_VERSION_HEX >= 0x030F0000)
typedef struct {
    PyObject *me_key;
    Py_ssize_t me_value;
} lg_PyMemoEntry;
typedef struct {
    size_t mt_mask;
    size_t mt_used;
    size_t mt_allocated;
    lg_PyMemoEntry *mt_table;
} lg_PyMemoTable;
typedef struct {
    PyObject_HEAD
    lg_PyMemoTable *memo;
#if PY_VERSION_HEX < 0x030D0000
    PyObject *pers_func;
    PyObject *pers_func_self;
#else
    PyObject *persistent_id;
#  if LG_PK_ATTR
    PyObject *persistent_id_attr;
#  endif
#endif
    PyObject *dispatch_table;
#if PY_VERSION_HEX >= 0x03080000
    PyObject *reducer_override;
#endif
    PyObject *write;
    PyObject *output_buffer;
    Py_ssize_t output_len;
    Py_ssize_t max_output_len;
    int proto;
    int bin;
    int framing;
    Py_ssize_t frame_start;
    Py_ssize_t buf_size;
    int fast;
    int fast_nesting;
    int fix_imports;
#if LG_PK_RUNNING
    int running;
#endif
    PyObject *fast_memo;
#if PY_VERSION_HEX >= 0x03080000
    PyObject *buffer_callback;
#endif
} lg_PicklerObject;
typedef struct {
    PyObject_HEAD
    void *stack; /* Pdata * */
    PyObject **memo;
    size_t memo_size;
    size_t memo_len;
#if LG_PK_MEMO_DICT
    PyObject *memo_dict;
#endif
#if PY_VERSION_HEX < 0x030D0000
    PyObject *pers_func;
    PyObject *pers_func_self;
#else
    PyObject *persistent_load;
#  if LG_PK_ATTR
    PyObject *persistent_load_attr;
#  endif
#endif
    Py_buffer buffer;
    char *input_buffer;
    char *input_line;
    Py_ssize_t input_len;
    Py_ssize_t next_read_idx;
    Py_ssize_t prefetched_idx;
#if LG_PK_FRAMES
    Py_ssize_t frame_end;
    Py_ssize_t saved_input_len;
#endif
    PyObject *read;
#if PY_VERSION_HEX >= 0x03080000
    PyObject *readinto;
#endif
    PyObject *readline;
    PyObject *peek;
#if PY_VERSION_HEX >= 0x03080000
    PyObject *buffers;
#endif
    char *encoding;
    char *errors;
    Py_ssize_t *marks;
    Py_ssize_t num_marks;
    Py_ssize_t marks_size;
    int proto;
    int fix_imports;
#if LG_PK_RUNNING
    int running;
#endif
} lg_UnpicklerObject;

/* ------------------------------------------------------------------------------------------------
 * ctypes. ffi_type (libffi's ffi.h, not a Python header): { size_t size; unsigned short alignment;
 * unsigned short type; struct _ffi_type **elements; } (24 bytes, elements at +16 on x86_64).
 * SETFUNC/GETFUNC/PARAMFUNC are function pointers (Modules/_ctypes/ctypes.h).
 *
 * 3.9-3.12: StgDictObject, Modules/_ctypes/ctypes.h (@3.9.18:L218, @3.12.1:L256 (dwarf); same list
 * 3.9 .. 3.12): { PyDictObject dict; Py_ssize_t size; Py_ssize_t align; Py_ssize_t length;
 *   ffi_type ffi_type_pointer; PyObject *proto; SETFUNC setfunc; GETFUNC getfunc;
 *   PARAMFUNC paramfunc; PyObject *argtypes; PyObject *converters; PyObject *restype;
 *   PyObject *checker; int flags; char *format; int ndim; Py_ssize_t *shape; }
 * The StgDict is the tp_dict of every ctypes class (type name "StgDict", a dict subclass, GC).
 * __sizeof__ (PyCStgDict_sizeof, Modules/_ctypes/stgdict.c @3.9.18/@3.10.13:L54-64,
 * @3.11.7:L64-74, @3.12.1:L63-73 (dwarf)):
 *   res = _PyDict_SizeOf((PyDictObject *)self);       // already basicsize(StgDict) = 192
 *   res += sizeof(StgDictObject) - sizeof(PyDictObject);   // counted a second time: +144
 *   if (self->format) res += strlen(self->format) + 1;
 *   res += self->ndim * sizeof(Py_ssize_t);
 *   if (self->ffi_type_pointer.elements) res += (self->length + 1) * sizeof(ffi_type *);
 *
 * 3.13+: StgInfo, Modules/_ctypes/ctypes.h (@3.13.0/@3.13.18:L342, @3.14.10:L405, @3.15.2:L418
 * (dwarf)), kept in the type object's extra data: PyObject_GetTypeData(type, CType_Type) =
 * (char *)type + _align_up(CType_Type->tp_base->tp_basicsize), tp_base = &PyType_Type, so the
 * offset is sizeof(PyHeapTypeObject) rounded up to ALIGNOF_MAX_ALIGN_T (Objects/typeobject.c;
 * disassembled: `add $0xf; and $-16`).
 *   3.13:  { int initialized; Py_ssize_t size; Py_ssize_t align; Py_ssize_t length;
 *            ffi_type ffi_type_pointer; PyObject *proto; SETFUNC setfunc; GETFUNC getfunc;
 *            PARAMFUNC paramfunc; PyObject *argtypes; PyObject *converters; PyObject *restype;
 *            PyObject *checker; PyObject *module; int flags; char *format; int ndim;
 *            Py_ssize_t *shape; }
 *   3.14, 3.15: `PyObject *pointer_type;` before module, `uint8_t dict_final;` after flags
 *            (free-threaded builds add more; not covered).
 * __sizeof__ (_ctypes_CType_Type___sizeof___impl, Modules/_ctypes/_ctypes.c @3.13.0:L542-550,
 * @3.13.18:L541-550, @3.14.10:L567-576, @3.15.2:L554-563 (dwarf)):
 *   Py_ssize_t size = Py_TYPE(self)->tp_basicsize;
 *   size += Py_TYPE(self)->tp_itemsize * Py_SIZE(self);
 *   StgInfo *info; PyStgInfo_FromType(st, self, &info);  // NULL unless info->initialized
 *   if (info) { if (info->format) size += strlen(info->format) + 1;
 *               if (info->ffi_type_pointer.elements) size += (info->length + 1) * sizeof(ffi_type *);
 *               size += info->ndim * sizeof(Py_ssize_t); }
 *   (PyStgInfo_FromType, ctypes.h @3.13.0:L459-474 inlined, @3.15.2:L574-589 (dwarf):
 *    *result = NULL; if (!PyObject_IsInstance(type, CType_Type)) return 0;
 *    info = PyObject_GetTypeData(type, CType_Type); if (!info->initialized) return 0; ...)
 * --------------------------------------------------------------------------------------------- */
typedef struct lg_ffi_type {
    size_t size;
    unsigned short alignment;
    unsigned short type;
    struct lg_ffi_type **elements;
} lg_ffi_type;
typedef PyObject *(*lg_SETFUNC)(void *, PyObject *, Py_ssize_t);
typedef PyObject *(*lg_GETFUNC)(void *, Py_ssize_t);
typedef void *(*lg_PARAMFUNC)(void *, void *);
#if PY_VERSION_HEX < 0x030D0000
typedef struct {
    PyDictObject dict;
    Py_ssize_t size;
    Py_ssize_t align;
    Py_ssize_t length;
    lg_ffi_type ffi_type_pointer;
    PyObject *proto;
    lg_SETFUNC setfunc;
    lg_GETFUNC getfunc;
    lg_PARAMFUNC paramfunc;
    PyObject *argtypes;
    PyObject *converters;
    PyObject *restype;
    PyObject *checker;
    int flags;
    char *format;
    int ndim;
    Py_ssize_t *shape;
} lg_StgDictObject;
#else
typedef struct {
    int initialized;
    Py_ssize_t size;
    Py_ssize_t align;
    Py_ssize_t length;
    lg_ffi_type ffi_type_pointer;
    PyObject *proto;
    lg_SETFUNC setfunc;
    lg_GETFUNC getfunc;
    lg_PARAMFUNC paramfunc;
    PyObject *argtypes;
    PyObject *converters;
    PyObject *restype;
    PyObject *checker;
#  if PY_VERSION_HEX >= 0x030E0000
    PyObject *pointer_type;
#  endif
    PyObject *module;
    int flags;
#  if PY_VERSION_HEX >= 0x030E0000
    uint8_t dict_final;
#  endif
    char *format;
    int ndim;
    Py_ssize_t *shape;
} lg_StgInfo;
#  define LG_STGINFO_OFFSET \
    ((SZ(PyHeapTypeObject) + ALIGNOF_MAX_ALIGN_T - 1) & ~(unsigned long long)(ALIGNOF_MAX_ALIGN_T - 1))
#endif

/* ------------------------------------------------------------------------------------------------
 * parser.st (3.9 only; the module is gone in 3.10). Modules/parsermodule.c @3.9.18:L190:
 *   typedef struct { PyObject_HEAD node *st_node; int st_type; PyCompilerFlags st_flags; }
 *   PyST_Object;
 * node: Include/node.h (installed): { short n_type; char *n_str; int n_lineno; int n_col_offset;
 *   int n_nchildren; struct _node *n_child; int n_end_lineno; int n_end_col_offset; } (48 bytes);
 *   n_child points to an array of n_nchildren nodes (not pointers).
 * __sizeof__ (parser_sizeof @3.9.18:L363-367): _PyObject_SIZE(Py_TYPE(st)) + _PyNode_SizeOf(st_node)
 * Parser/node.c @3.9.18 (_PyNode_SizeOf, sizeofchildren; XXXROUNDUP, fancy_roundup):
 *   _PyNode_SizeOf(n) = n ? sizeof(node) + sizeofchildren(n) : 0
 *   sizeofchildren(n) = sum(sizeofchildren(CHILD(n,i)) for i < NCH(n))
 *                     + (n->n_child ? XXXROUNDUP(NCH(n)) * sizeof(node) : 0)
 *                     + (STR(n) ? strlen(STR(n)) + 1 : 0)
 *   XXXROUNDUP(n) = n <= 1 ? n : n <= 128 ? (n + 3) & ~3 : fancy_roundup(n)
 *   fancy_roundup(n) = smallest 256 * 2**k >= n (k < 23), else -1
 * --------------------------------------------------------------------------------------------- */
#if PY_VERSION_HEX < 0x030A0000
typedef struct {
    PyObject_HEAD
    node *st_node;
    int st_type;
    PyCompilerFlags st_flags;
} lg_PyST_Object;
#endif

static void emit_sizeof_b(void) {
    /* OrderedDict: dict.__sizeof__(od) + odict_fast_nodes_size_unit * fast_nodes_size
     *              + (od_first != NULL ? odict_node_size * ma_used : 0) */
    u("odict_first", OFF(lg_PyODictObject, od_first));
    u("odict_fast_nodes_size", OFF(lg_PyODictObject, od_fast_nodes_size));
    u("odict_fast_node_ptr_size", SZ(lg_ODictNode *));
    u("odict_node_size", SZ(lg_ODictNode));
    u("odict_ma_used", OFF(PyDictObject, ma_used));
    u("odict_size", SZ(lg_PyODictObject));

    /* Decimal: basicsize + ((flags & dataflags) == 0 ? alloc * limb_size : 0) */
    u("decimal_flags", OFF(lg_PyDecObject, dec) + OFF(lg_mpd_t, flags));
    u("decimal_alloc", OFF(lg_PyDecObject, dec) + OFF(lg_mpd_t, alloc));
    u("decimal_dataflags", (unsigned long long)LG_MPD_DATAFLAGS);
    u("decimal_limb_size", SZ(lg_mpd_uint_t));
    u("decimal_size", SZ(lg_PyDecObject));

    /* itertools: basicsize + index_size * (r | len(pools) | len(pool) + r) */
    u("itertools_index_size", SZ(Py_ssize_t));
    u("product_pools", OFF(lg_productobject, pools));
    u("product_size", SZ(lg_productobject));
    u("combinations_r", OFF(lg_combinationsobject, r));
    u("combinations_size", SZ(lg_combinationsobject));
    u("cwr_r", OFF(lg_cwrobject, r));
    u("cwr_size", SZ(lg_cwrobject));
    u("permutations_pool", OFF(lg_permutationsobject, pool));
    u("permutations_r", OFF(lg_permutationsobject, r));
    u("permutations_size", SZ(lg_permutationsobject));

    /* Element: basicsize + (extra ? extra_size + (children != extra + extra_static_children
     *          ? ptr * allocated : 0) : 0) */
    u("element_extra", OFF(lg_ElementObject, extra));
    u("element_extra_size", SZ(lg_ElementObjectExtra));
    u("element_extra_allocated", OFF(lg_ElementObjectExtra, allocated));
    u("element_extra_children", OFF(lg_ElementObjectExtra, children));
    u("element_extra_static_children", OFF(lg_ElementObjectExtra, _children));
    u("element_size", SZ(lg_ElementObject));

    /* Pickler: basicsize + (memo ? memotable_size + mt_allocated * memoentry_size : 0)
     *          + (output_buffer ? bytes_base + ob_size(output_buffer) : 0) */
    u("pickler_memo", OFF(lg_PicklerObject, memo));
    u("pickler_memotable_size", SZ(lg_PyMemoTable));
    u("pickler_memotable_allocated", OFF(lg_PyMemoTable, mt_allocated));
    u("pickler_memoentry_size", SZ(lg_PyMemoEntry));
    u("pickler_output_buffer", OFF(lg_PicklerObject, output_buffer));
    u("pickler_bytes_base", OFF(PyBytesObject, ob_sval) + 1);
    u("pickler_size", SZ(lg_PicklerObject));
    /* Unpickler: basicsize + (memo ? memo_size*8) + (marks ? marks_size*8)
     *            + for input_line, encoding, errors: (p ? strlen(p) + 1 : 0) */
    u("unpickler_memo", OFF(lg_UnpicklerObject, memo));
    u("unpickler_memo_size", OFF(lg_UnpicklerObject, memo_size));
    u("unpickler_input_line", OFF(lg_UnpicklerObject, input_line));
    u("unpickler_encoding", OFF(lg_UnpicklerObject, encoding));
    u("unpickler_errors", OFF(lg_UnpicklerObject, errors));
    u("unpickler_marks", OFF(lg_UnpicklerObject, marks));
    u("unpickler_marks_size", OFF(lg_UnpicklerObject, marks_size));
    u("unpickler_ptr_size", SZ(PyObject *));
    u("unpickler_size", SZ(lg_UnpicklerObject));

    /* ctypes */
#if PY_VERSION_HEX < 0x03070000
    /* 3.6: StgDict has no __sizeof__ of its own (PyCStgDict_sizeof is 3.7+; measured: '__sizeof__'
     * not in StgDict.__dict__ on pyenv 3.6.15, in it on 3.7.16), so dict's applies */
    none("stgdict_extra");
    none("stgdict_length");
    none("stgdict_ffi_elements");
    none("stgdict_format");
    none("stgdict_ndim");
    none("stgdict_size");
    none("ctype_stginfo");
    none("ctype_initialized");
    none("ctype_length");
    none("ctype_ffi_elements");
    none("ctype_format");
    none("ctype_ndim");
    none("ctype_stginfo_size");
#elif PY_VERSION_HEX < 0x030D0000
    /* StgDict: dict.__sizeof__(d) + stgdict_extra + (format ? strlen + 1 : 0) + 8 * ndim
     *          + (elements ? 8 * (length + 1) : 0) */
    u("stgdict_extra", SZ(lg_StgDictObject) - SZ(PyDictObject));
    u("stgdict_length", OFF(lg_StgDictObject, length));
    u("stgdict_ffi_elements", OFF(lg_StgDictObject, ffi_type_pointer) + OFF(lg_ffi_type, elements));
    u("stgdict_format", OFF(lg_StgDictObject, format));
    u("stgdict_ndim", OFF(lg_StgDictObject, ndim));
    u("stgdict_size", SZ(lg_StgDictObject));
    none("ctype_stginfo");
    none("ctype_initialized");
    none("ctype_length");
    none("ctype_ffi_elements");
    none("ctype_format");
    none("ctype_ndim");
    none("ctype_stginfo_size");
#else
    none("stgdict_extra");
    none("stgdict_length");
    none("stgdict_ffi_elements");
    none("stgdict_format");
    none("stgdict_ndim");
    none("stgdict_size");
    /* CType_Type (on a ctypes class, whose type is the metaclass M): M.basicsize
     * + M.itemsize * ob_size(cls) + (initialized ? (format ? strlen + 1 : 0)
     * + (elements ? 8 * (length + 1) : 0) + 8 * ndim : 0); the ctype_* fields below except
     * ctype_stginfo are offsets inside StgInfo, which starts at cls + ctype_stginfo. */
    u("ctype_stginfo", LG_STGINFO_OFFSET);
    u("ctype_initialized", OFF(lg_StgInfo, initialized));
    u("ctype_length", OFF(lg_StgInfo, length));
    u("ctype_ffi_elements", OFF(lg_StgInfo, ffi_type_pointer) + OFF(lg_ffi_type, elements));
    u("ctype_format", OFF(lg_StgInfo, format));
    u("ctype_ndim", OFF(lg_StgInfo, ndim));
    u("ctype_stginfo_size", SZ(lg_StgInfo));
#endif

    /* parser.st (3.9): basicsize + node_sizeof(st_node), recursive, see above */
#if PY_VERSION_HEX < 0x030A0000
    u("parser_st_node", OFF(lg_PyST_Object, st_node));
    u("parser_node_size", SZ(node));
    u("parser_node_str", OFF(node, n_str));
    u("parser_node_nchildren", OFF(node, n_nchildren));
    u("parser_node_child", OFF(node, n_child));
#else
    none("parser_st_node");
    none("parser_node_size");
    none("parser_node_str");
    none("parser_node_nchildren");
    none("parser_node_child");
#endif
}

#endif /* LG_SIZEOF_B_H */

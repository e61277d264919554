/*
 * layoutgen: print one leakspy layout file (python-layouts/3.X.toml, schema in
 * crates/leakspy-layout/src/schema.rs) for the CPython header set it is compiled against.
 *
 *   gcc -DPy_BUILD_CORE=1 -I<inc> -I<inc>/internal [-I<dir holding x86_64-linux-gnu/python3.X>] \
 *       -o layoutgen layoutgen.c
 *   ./layoutgen --name                 -> file name, e.g. "3.13-debian.toml"
 *   ./layoutgen [PROVENANCE...]        -> the TOML text; each argument becomes one provenance entry
 *
 * Every offset/size is offsetof()/sizeof() on the real structs; flag values and enum constants
 * are the header's own macros/enumerators; bitfield positions are measured by setting the field in
 * a zeroed struct and looking at the bytes. The few values that are behaviour rather than layout
 * (line-table format, units of f_lasti, which frame owners are entry/shim frames, sys.getsizeof
 * rule, patch ranges, variant detection text) are per-version constants below, each with a comment
 * citing the CPython source that defines that behaviour (citations: /work/shared/research/
 * cpython-frames.md and cpython-heap.md, "path@version:Lx-y").
 *
 * Run through tools/layoutgen/generate.sh; never edit the generated files by hand.
 */
#ifndef Py_BUILD_CORE
#  define Py_BUILD_CORE 1
#endif
#include "Python.h"
#include "structmember.h" /* PyMemberDef, T_OBJECT_EX (3.9-3.11: not included by Python.h) */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#if PY_VERSION_HEX < 0x03060000 || PY_VERSION_HEX >= 0x03100000
#  error "layoutgen supports CPython 3.6 .. 3.15"
#endif
#ifdef Py_DEBUG
#  error "debug (Py_DEBUG) header sets are not supported"
#endif

#if PY_VERSION_HEX >= 0x03090000
#  include "internal/pycore_runtime.h"
#  include "internal/pycore_interp.h"
#  include "internal/pycore_gc.h"
#  include "internal/pycore_hashtable.h"
#elif PY_VERSION_HEX >= 0x03080000
/* 3.8: _PyRuntimeState, PyInterpreterState and the gc state are in pycore_pystate.h/pycore_pymem.h */
#  include "internal/pycore_pystate.h"
#endif
#if PY_VERSION_HEX < 0x030C0000 && PY_VERSION_HEX >= 0x03080000
#  include "internal/pycore_pymem.h"
#endif
#if PY_VERSION_HEX < 0x030B0000
#  include "frameobject.h"
#  include "longintrepr.h"
#  if PY_VERSION_HEX >= 0x03080000
#    include "internal/pycore_code.h" /* _PyOpcache (3.8-3.10 code_sizeof) */
#  endif
#else
#  include "internal/pycore_frame.h"
#  include "internal/pycore_dict.h"
#  include "internal/pycore_object.h"
#endif
#if PY_VERSION_HEX >= 0x030C0000
#  include "internal/pycore_obmalloc.h"
#  include "internal/pycore_tracemalloc.h"
#endif
#if PY_VERSION_HEX >= 0x030D0000
#  include "internal/pycore_tstate.h"
#endif
#if PY_VERSION_HEX >= 0x030E0000
#  include "internal/pycore_interpframe.h"
#  include "internal/pycore_stackref.h"
#endif
#if PY_VERSION_HEX >= 0x030D0000
/* 3.13 made PyGenObject opaque; the struct is in the internal header. */
#  include "internal/pycore_genobject.h"
#endif

#define MINOR ((PY_VERSION_HEX >> 16) & 0xff)

#if PY_VERSION_HEX < 0x03080000 && PY_VERSION_HEX >= 0x03070000
/*
 * 3.7 installs no internal headers: _PyRuntimeState (Include/internal/pystate.h@v3.7.16), the gc
 * state (Include/internal/mem.h@v3.7.16), the GIL and ceval state (Include/internal/gil.h,
 * ceval.h@v3.7.16) are mirrored here, member types from the installed headers. The atomics
 * `_Py_atomic_address` / `_Py_atomic_int` (Include/internal/pyatomic.h) are one-member structs of
 * `uintptr_t` / `int`, mirrored as such. PyGC_Head is the public union of Include/objimpl.h@v3.7.16
 * (`long double dummy` makes it 32 bytes, 16-aligned). Checked member by member against the DWARF
 * of pyenv libpython3.7m.so.1.0 (`ptype /o _PyRuntimeState`): interpreters.head +24, gc +320
 * (generations +32, permanent_generation +192, collecting +312, size 352), ceval.gil +1264
 * (last_holder +8, locked +16), gilstate.tstate_current +1480.
 */
typedef struct { uintptr_t _value; } lg_atomic_address;
typedef struct { int _value; } lg_atomic_int;
#  define NUM_GENERATIONS 3
struct gc_generation { PyGC_Head head; int threshold; int count; };
struct lg_gc_generation_stats { Py_ssize_t collections; Py_ssize_t collected; Py_ssize_t uncollectable; };
struct _gc_runtime_state {
    PyObject *trash_delete_later;
    int trash_delete_nesting;
    int enabled;
    int debug;
    struct gc_generation generations[NUM_GENERATIONS];
    PyGC_Head *generation0;
    struct gc_generation permanent_generation;
    struct lg_gc_generation_stats generation_stats[NUM_GENERATIONS];
    int collecting;
    PyObject *garbage;
    PyObject *callbacks;
    Py_ssize_t long_lived_total;
    Py_ssize_t long_lived_pending;
};
struct _gil_runtime_state {
    unsigned long interval;
    lg_atomic_address last_holder;
    lg_atomic_int locked;
    unsigned long switch_number;
    pthread_cond_t cond;
    pthread_mutex_t mutex;
    pthread_cond_t switch_cond;
    pthread_mutex_t switch_mutex;
};
typedef struct {
    int initialized;
    int core_initialized;
    PyThreadState *finalizing;
    struct { PyThread_type_lock mutex; PyInterpreterState *head; PyInterpreterState *main; int64_t next_id; } interpreters;
    void (*exitfuncs[32])(void);
    int nexitfuncs;
    struct _gc_runtime_state gc;
    struct { PyObject *filters; PyObject *once_registry; PyObject *default_action; long filters_version; } warnings;
    struct {
        int recursion_limit;
        int tracing_possible;
        lg_atomic_int eval_breaker;
        lg_atomic_int gil_drop_request;
        struct {
            unsigned long main_thread;
            PyThread_type_lock lock;
            lg_atomic_int calls_to_do;
            int async_exc;
            struct { int (*func)(void *); void *arg; } calls[32];
            int first;
            int last;
        } pending;
        struct _gil_runtime_state gil;
    } ceval;
    struct {
        int check_enabled;
        lg_atomic_address tstate_current;
        PyThreadFrameGetter getframe;
        PyInterpreterState *autoInterpreterState;
        Py_tss_t autoTSSkey;
    } gilstate;
} _PyRuntimeState;
#endif
#if PY_VERSION_HEX < 0x03070000
/*
 * 3.6 has no _PyRuntime: what leakspy reads lives in file statics, found by symbol in .symtab (the
 * names are in [globals]; leakspy makes the lowest of their addresses the runtime base at attach and
 * rewrites the [runtime], [gil] and [gc] offsets relative to it):
 *   Python/pystate.c@v3.6.15: `static PyInterpreterState *interp_head = NULL;` and
 *     `_Py_atomic_address _PyThreadState_Current = {0};` (the thread holding the GIL);
 *   Python/ceval_gil.h@v3.6.15: `static _Py_atomic_address gil_last_holder = {0};`,
 *     `static _Py_atomic_int gil_locked = {-1};`;
 *   Modules/gcmodule.c@v3.6.15: `struct gc_generation { PyGC_Head head; int threshold; int count; };`,
 *     `static struct gc_generation generations[NUM_GENERATIONS]` (NUM_GENERATIONS 3, no permanent
 *     generation before 3.7's gc.freeze) and `static int collecting = 0;`.
 * DWARF/.symtab of pyenv libpython3.6m.so.1.0: each symbol present once; sizeof(struct
 * gc_generation) 48, PyGC_Head the 32-byte union of Include/objimpl.h.
 */
#  include "pythread.h"
#  define NUM_GENERATIONS 3
struct gc_generation { PyGC_Head head; int threshold; int count; };
struct lg_generations { struct gc_generation g[NUM_GENERATIONS]; };
#endif
#if PY_VERSION_HEX < 0x03080000
/* 3.6/3.7: tracemalloc's config is the file-static `tracemalloc_config` of Modules/_tracemalloc.c
 * (`static struct { enum {...} initialized; int tracing; int max_nframe; int use_domain; }`), DWARF:
 * tracing +4 in libpython3.{6m,7m}. */
struct _PyTraceMalloc_Config { int initialized; int tracing; int max_nframe; int use_domain; };
#endif

#if PY_VERSION_HEX < 0x030B0000
/*
 * 3.9/3.10: PyDictKeysObject is private to Objects/ and not installed (only the typedef
 * `struct _dictkeysobject` is in Include/cpython/dictobject.h). Mirror of
 * Objects/dict-common.h@v3.9.2 (identical in v3.10.x): {Py_ssize_t dk_refcnt; Py_ssize_t dk_size;
 * dict_lookup_func dk_lookup; Py_ssize_t dk_usable; Py_ssize_t dk_nentries; char dk_indices[];}
 * and PyDictKeyEntry {Py_hash_t me_hash; PyObject *me_key; PyObject *me_value;}. The member types
 * come from the headers; only the member list is copied. _PyDict_KeysSize and _PyDict_SizeOf
 * (Objects/dictobject.c@v3.9.2, @v3.10.5) use sizeof(PyDictKeysObject) (flexible dk_indices
 * adds nothing) + DK_IXSIZE*DK_SIZE + USABLE_FRACTION(DK_SIZE)*sizeof(PyDictKeyEntry).
 */
typedef struct {
    Py_hash_t me_hash;
    PyObject *me_key;
    PyObject *me_value;
} lg_PyDictKeyEntry;
typedef Py_ssize_t (*lg_dict_lookup_func)(PyDictObject *mp, PyObject *key, Py_hash_t hash,
                                          PyObject **value_addr);
struct lg_dictkeysobject {
    Py_ssize_t dk_refcnt;
    Py_ssize_t dk_size;
    lg_dict_lookup_func dk_lookup;
    Py_ssize_t dk_usable;
    Py_ssize_t dk_nentries;
    char dk_indices[];
};
#  define LG_DICTKEYS struct lg_dictkeysobject
#  define LG_DICTKEYENTRY lg_PyDictKeyEntry
#else
#  define LG_DICTKEYS PyDictKeysObject
#  define LG_DICTKEYENTRY PyDictKeyEntry
#endif

/*
 * [tracemalloc]: the traced-allocation tables. The hashtable (Include/internal/pycore_hashtable.h) and,
 * from 3.12, the state and the frame/traceback structs (Include/internal/pycore_tracemalloc.h) are in
 * installed headers. trace_t, and before 3.12 frame_t/traceback_t, live only in the module source
 * (Modules/_tracemalloc.c@v3.9.2:L53-100, @v3.10.5, @v3.11.2; Python/tracemalloc.c@v3.12.5:L64-70,
 * @v3.13.5:L66-72, @v3.14.7:L58-64): member lists mirrored here, types from the headers.
 */
typedef struct { size_t size; void *traceback; } lg_trace_t;
#if PY_VERSION_HEX < 0x03090000
/* 3.6-3.8: the hashtable is Modules/hashtable.h (not installed): entries carry their key and data
 * inline, `key_size` then `data_size` bytes after the entry header, and the traces table stores
 * trace_t by value (Modules/hashtable.h@v3.8.18:L14-71, Modules/_tracemalloc.c@v3.8.18:L56-120:
 * `typedef struct { Py_uhash_t hash; int nframe; frame_t frames[1]; } traceback_t;`). Checked
 * against the DWARF of pyenv libpython3.{6m,7m,8} (`ptype /o _Py_hashtable_t`, `traceback_t`):
 * identical in all three. */
typedef struct lg_slist_item_s { struct lg_slist_item_s *next; } lg_slist_item_t;
typedef struct { lg_slist_item_t _Py_slist_item; Py_uhash_t key_hash; } lg_hashtable_entry_t;
typedef struct {
    size_t num_buckets;
    size_t entries;
    void *buckets;
    size_t key_size;
    size_t data_size;
    void *hash_func;
    void *compare_func;
    void *alloc_malloc;
    void *alloc_free;
} lg_hashtable_t;
typedef struct __attribute__((packed)) { PyObject *filename; unsigned int lineno; } lg_frame_t;
typedef struct { Py_uhash_t hash; int nframe; lg_frame_t frames[1]; } __attribute__((packed)) lg_traceback_t;
#  define LG_FRAME lg_frame_t
#  define LG_TRACEBACK lg_traceback_t
#elif PY_VERSION_HEX < 0x030C0000
typedef struct __attribute__((packed)) { PyObject *filename; unsigned int lineno; } lg_frame_t;
typedef struct { Py_uhash_t hash; uint16_t nframe; uint16_t total_nframe; lg_frame_t frames[1]; }
    __attribute__((packed)) lg_traceback_t;
#  define LG_FRAME lg_frame_t
#  define LG_TRACEBACK lg_traceback_t
#else
#  define LG_FRAME struct tracemalloc_frame
#  define LG_TRACEBACK struct tracemalloc_traceback
#endif

/*
 * [private]: structs of C modules that are compiled into libpython but declared only in the module's
 * .c file, so no installed header has them. As for PyDictKeysObject above, the member lists are
 * copied here (member types come from the installed headers) and offsetof/sizeof give the numbers.
 *
 * Modules/_collectionsmodule.c, `#define BLOCKLEN 64`, `#define MAXFREEBLOCKS 16`,
 *   typedef struct BLOCK {struct BLOCK *leftlink; PyObject *data[BLOCKLEN]; struct BLOCK *rightlink;}
 *   block;  (same text 3.9 .. 3.15)
 *   3.9/3.10: `typedef struct { PyObject_VAR_HEAD block *leftblock; block *rightblock;
 *     Py_ssize_t leftindex; Py_ssize_t rightindex; size_t state; Py_ssize_t maxlen;
 *     PyObject *weakreflist; } dequeobject;` (the block freelist is file-static:
 *     `static Py_ssize_t numfreeblocks; static block *freeblocks[MAXFREEBLOCKS];`)
 *   3.11/3.12: the freelist moved into the object, `Py_ssize_t numfreeblocks;
 *     block *freeblocks[MAXFREEBLOCKS];` between maxlen and weakreflist (typedef struct {...}
 *     dequeobject);
 *   3.13 .. 3.15: same members, spelled `struct dequeobject {...};`.
 *   deque.__sizeof__: basicsize + (leftindex + len + BLOCKLEN - 1) /
 *   BLOCKLEN * sizeof(block).
 * Modules/_io/bufferedio.c, `typedef struct { PyObject_HEAD PyObject *raw; int ok; int detached;
 *   int readable; int writable; char finalizing; int fast_closed_checks; Py_off_t abs_pos;
 *   char *buffer; Py_off_t pos; Py_off_t raw_pos; Py_off_t read_end; Py_off_t write_pos;
 *   Py_off_t write_end; PyThread_type_lock lock; volatile unsigned long owner;
 *   Py_ssize_t buffer_size; Py_ssize_t buffer_mask; PyObject *dict; PyObject *weakreflist; }
 *   buffered;`, unchanged 3.9 .. 3.15 (still PyThread_type_lock, not PyMutex, in 3.15).
 *   Py_off_t is `typedef off_t Py_off_t;` on non-Windows (Modules/_io/_iomodule.h), not installed.
 *   buffered.__sizeof__: basicsize + (buffer ? buffer_size : 0).
 * The source texts were read from CPython trees of each shape (3.9/3.10, 3.11/3.12, 3.13+) found
 * through code search; the lists were then checked member by member against the DWARF of the
 * interpreters this generator covers (`ptype /o dequeobject`, `block`, `buffered` on pyenv
 * libpython3.{9.18,10.13,11.7,12.1,13.0} and Debian sid python3.{13.18,14.10,15.2} -dbgsym):
 * identical, leftindex +40, sizeof(block) 528, buffer +56, buffer_size +120 in all of them.
 * tools/layoutgen/verify_private.py checks the numbers against sys.getsizeof in live interpreters.
 */
#define LG_BLOCKLEN 64
#define LG_MAXFREEBLOCKS 16
typedef struct lg_BLOCK {
    struct lg_BLOCK *leftlink;
    PyObject *data[LG_BLOCKLEN];
    struct lg_BLOCK *rightlink;
} lg_block;
typedef struct {
    PyObject_VAR_HEAD
    lg_block *leftblock;
    lg_block *rightblock;
    Py_ssize_t leftindex;
    Py_ssize_t rightindex;
    size_t state;
    Py_ssize_t maxlen;
#if PY_VERSION_HEX >= 0x030B0000
    Py_ssize_t numfreeblocks;
    lg_block *freeblocks[LG_MAXFREEBLOCKS];
#endif
    PyObject *weakreflist;
} lg_dequeobject;
typedef off_t lg_Py_off_t;
typedef struct {
    PyObject_HEAD
    PyObject *raw;
    int ok;
    int detached;
    int readable;
    int writable;
    char finalizing;
    int fast_closed_checks;
    lg_Py_off_t abs_pos;
    char *buffer;
    lg_Py_off_t pos;
    lg_Py_off_t raw_pos;
    lg_Py_off_t read_end;
    lg_Py_off_t write_pos;
    lg_Py_off_t write_end;
    PyThread_type_lock lock;
    volatile unsigned long owner;
    Py_ssize_t buffer_size;
    Py_ssize_t buffer_mask;
    PyObject *dict;
    PyObject *weakreflist;
} lg_buffered;


/*
 * [sizeof]: what the C `__sizeof__` of types with their own one reads (crates/leakspy-python/src/
 * sizes.rs; tools/sizeof/list_types.py lists the types per interpreter).
 *
 * code (Objects/codeobject.c code_sizeof): 3.9/3.10 `_PyObject_SIZE(Py_TYPE(co))`, plus
 *   `PyTuple_GET_SIZE(co_cellvars) * sizeof(Py_ssize_t)` when co_cell2arg and co_cellvars are set,
 *   plus (co_opcache set) `PyBytes_GET_SIZE(co_code) / sizeof(_Py_CODEUNIT)` for co_opcache_map and
 *   `co_opcache_size * sizeof(_PyOpcache)`; 3.11+ `_PyObject_VAR_SIZE(Py_TYPE(co), Py_SIZE(co))`;
 *   every version adds `sizeof(_PyCodeObjectExtra) + (ce_size - 1) * sizeof(void *)` when co_extra
 *   is set (codeobject.c@v3.9.18:L1003-1025, @v3.10.13:L1158-1180, @v3.11.7:L1869-1881,
 *   @v3.12.1:L1951-1962). _PyCodeObjectExtra is file-private to codeobject.c:
 *   `typedef struct { Py_ssize_t ce_size; void *ce_extras[1]; } _PyCodeObjectExtra;` (same text
 *   3.9 .. 3.15), mirrored below.
 */
typedef struct {
    Py_ssize_t ce_size;
    void *ce_extras[1];
} lg_PyCodeObjectExtra;

/*
 * [obmalloc]: pymalloc's arenas and pools, for counting objects the GC does not track.
 * 3.12+: the structs are in Include/internal/pycore_obmalloc.h (installed) and the numbers below are
 * offsetof/sizeof on them; POOL_SIZE/ARENA_SIZE/POOL_OVERHEAD are that header's own macros.
 * 3.9-3.11: the same structs are file-private to Objects/obmalloc.c, so their member lists are copied
 * here (identical text in 3.9 .. 3.15: obmalloc.c@v3.9.2:L938-966, @v3.10.5:L970-998,
 * @v3.11.2:L1001-1029; pycore_obmalloc.h@v3.12.1:L254-283, cited in
 * /work/shared/research/cpython-heap.md section 5), and the size constants are obmalloc.c's:
 *   3.9: POOL_SIZE = SYSTEM_PAGE_SIZE = 4 KiB (L917-920), ARENA_SIZE = 256 KiB (L908-910);
 *   3.10/3.11: USE_LARGE_ARENAS and WITH_PYMALLOC_RADIX_TREE are on by default on 64-bit,
 *   ARENA_BITS 20 (1 MiB) and POOL_BITS 14 (16 KiB) (obmalloc.c@v3.10.5:L897-947,
 *   @v3.11.2:L928-978).
 *   POOL_OVERHEAD = _Py_SIZE_ROUND_UP(sizeof(struct pool_header), ALIGNMENT=16) in every version.
 * The arena table itself (`arenas`, `maxarenas`) is a file static in 3.9-3.11 and part of
 * `struct _obmalloc_mgmt` from 3.12; leakspy finds it by the layout, by symbol, or by a validated
 * scan (crates/leakspy-python/src/arenas.rs), so only the member offsets are recorded here.
 */
#if PY_VERSION_HEX < 0x030C0000
typedef unsigned int lg_pymem_uint;
typedef uint8_t lg_pymem_block;
struct lg_pool_header {
    union { lg_pymem_block *_padding; lg_pymem_uint count; } ref;
    lg_pymem_block *freeblock;
    struct lg_pool_header *nextpool;
    struct lg_pool_header *prevpool;
    lg_pymem_uint arenaindex;
    lg_pymem_uint szidx;
    lg_pymem_uint nextoffset;
    lg_pymem_uint maxnextoffset;
};
struct lg_arena_object {
    uintptr_t address;
    lg_pymem_block *pool_address;
    lg_pymem_uint nfreepools;
    lg_pymem_uint ntotalpools;
    struct lg_pool_header *freepools;
    struct lg_arena_object *nextarena;
    struct lg_arena_object *prevarena;
};
#  define LG_POOL_HEADER struct lg_pool_header
#  define LG_ARENA_OBJECT struct lg_arena_object
#  if PY_VERSION_HEX < 0x030A0000
#    define LG_POOL_SIZE (4ULL << 10)
#    define LG_ARENA_SIZE (256ULL << 10)
#  else
#    define LG_POOL_SIZE (16ULL << 10)
#    define LG_ARENA_SIZE (1ULL << 20)
#  endif
#  define LG_POOL_OVERHEAD ((sizeof(LG_POOL_HEADER) + 15) & ~(size_t)15)
/* ALIGNMENT 16 on 64-bit (obmalloc.c@v3.9.2:L845-852, @v3.10.5:L877-884, @v3.11.2:L908-915) */
#  define LG_ALIGNMENT 16ULL
#else
#  define LG_ALIGNMENT ((unsigned long long)ALIGNMENT)
#  define LG_POOL_HEADER struct pool_header
#  define LG_ARENA_OBJECT struct arena_object
#  define LG_POOL_SIZE ((unsigned long long)POOL_SIZE)
#  define LG_ARENA_SIZE ((unsigned long long)ARENA_SIZE)
#  define LG_POOL_OVERHEAD POOL_OVERHEAD
#endif

/*
 * [private], continued: asyncio's Future and Task (Modules/_asynciomodule.c), for the creation site
 * that asyncio debug mode records in `_source_traceback` (fut_source_tb). Both structs begin with the
 * macro FutureObj_HEAD(prefix); TaskObj = FutureObj_HEAD(task) + the task members, so fut_source_tb
 * and task_source_tb are at the same offset. `typedef enum {STATE_PENDING, STATE_CANCELLED,
 * STATE_FINISHED} fut_state;` (same text 3.9 .. 3.15). Member lists per shape:
 *   3.9:  FutureObj_HEAD = PyObject_HEAD _loop _callback0 _context0 _callbacks _exception _result
 *         _source_tb _cancel_msg (PyObject *), fut_state _state, int _log_tb, int _blocking,
 *         PyObject *dict, PyObject *_weakreflist, _PyErr_StackItem _cancelled_exc_state;
 *         TaskObj adds PyObject *task_fut_waiter, *task_coro, *task_name, *task_context;
 *         int task_must_cancel; int task_log_destroy_pending;
 *   3.10: `PyObject *prefix##_exception_tb;` inserted after _exception; otherwise as 3.9.
 *   3.11, 3.12: _cancelled_exc_state became `PyObject *prefix##_cancelled_exc;`; TaskObj appends
 *         `int task_num_cancels_requested;`.
 *   3.13: dict and _weakreflist gone (managed); _cancelled_exc moved up after _cancel_msg; then
 *         fut_state _state, `unsigned prefix##_log_tb: 1; unsigned prefix##_blocking: 1;` at the end;
 *         TaskObj: `unsigned task_must_cancel: 1; unsigned task_log_destroy_pending: 1;
 *         int task_num_cancels_requested;` then task_fut_waiter, task_coro, task_name, task_context.
 *   3.14, 3.15: `PyObject *prefix##_awaited_by;` after _cancelled_exc, and `char prefix##_is_task;
 *         char prefix##_awaited_by_is_set;` between _state and the bitfields; TaskObj appends
 *         `struct llist_node task_node;` (Include/internal/pycore_llist.h); free-threaded builds
 *         add `uintptr_t task_tid` (not covered).
 * Source texts read through code search (the FutureObj_HEAD / TaskObj definitions of CPython trees of
 * each shape); the lists were then checked member by member against the DWARF of the interpreters
 * this generator covers (`ptype /o TaskObj` in pyenv lib-dynload/_asyncio.cpython-3{9,10,11,12,13}
 * and Debian sid _asyncio.cpython-313d/-314d and python3.15d, where _asyncio is built in): identical;
 * task_source_tb +64 on 3.9, +72 on 3.10 .. 3.15; sizeof(TaskObj) 184, 192, 176, 176, 144, 168, 168.
 * The reader requires tp_basicsize == sizeof(TaskObj)/sizeof(FutureObj) of a type named
 * "_asyncio.Task"/"_asyncio.Future" before it reads the field. tools/layoutgen/verify_private.py
 * checks the offset against `_source_traceback` in live interpreters.
 * `_source_traceback` is a traceback.StackSummary (a list subclass) of traceback.FrameSummary, whose
 * fields are __slots__: found by name through the type's tp_members (PyMemberDef, installed header
 * structmember.h / descrobject.h).
 */
typedef enum { LG_STATE_PENDING, LG_STATE_CANCELLED, LG_STATE_FINISHED } lg_fut_state;
#if PY_VERSION_HEX < 0x030D0000
#  if PY_VERSION_HEX < 0x030B0000
#    define LG_FUT_CANCELLED_EXC(prefix) _PyErr_StackItem prefix##_cancelled_exc_state;
#  else
#    define LG_FUT_CANCELLED_EXC(prefix) PyObject *prefix##_cancelled_exc;
#  endif
#  if PY_VERSION_HEX < 0x03090000
/* 3.6-3.8: no _cancel_msg and no _cancelled_exc_state (both 3.9); 3.6 has no _callback0/_context0
 * (3.7, contextvars); TaskObj has task_name from 3.8, task_context from 3.7. Checked against the DWARF
 * of pyenv lib-dynload/_asyncio.cpython-3{6m,7m,8}: task_source_tb +48, +64, +64; sizeof(TaskObj)
 * 112, 136, 144; sizeof(FutureObj) 88, 104, 104. */
#    undef LG_FUT_CANCELLED_EXC
#    define LG_FUT_CANCELLED_EXC(prefix)
#    define LG_FUT_CANCEL_MSG(prefix)
#  else
#    define LG_FUT_CANCEL_MSG(prefix) PyObject *prefix##_cancel_msg;
#  endif
#  if PY_VERSION_HEX < 0x03070000
#    define LG_FUT_CALLBACK0(prefix)
#  else
#    define LG_FUT_CALLBACK0(prefix) PyObject *prefix##_callback0; PyObject *prefix##_context0;
#  endif
#  if PY_VERSION_HEX < 0x030A0000
#    define LG_FUT_EXCEPTION_TB(prefix)
#  else
#    define LG_FUT_EXCEPTION_TB(prefix) PyObject *prefix##_exception_tb;
#  endif
#  define LG_FUTUREOBJ_HEAD(prefix)                                                             \
    PyObject_HEAD                                                                               \
    PyObject *prefix##_loop;                                                                    \
    LG_FUT_CALLBACK0(prefix)                                                                    \
    PyObject *prefix##_callbacks;                                                               \
    PyObject *prefix##_exception;                                                               \
    LG_FUT_EXCEPTION_TB(prefix)                                                                 \
    PyObject *prefix##_result;                                                                  \
    PyObject *prefix##_source_tb;                                                               \
    LG_FUT_CANCEL_MSG(prefix)                                                                   \
    lg_fut_state prefix##_state;                                                                \
    int prefix##_log_tb;                                                                        \
    int prefix##_blocking;                                                                      \
    PyObject *dict;                                                                             \
    PyObject *prefix##_weakreflist;                                                             \
    LG_FUT_CANCELLED_EXC(prefix)
typedef struct { LG_FUTUREOBJ_HEAD(fut) } lg_FutureObj;
typedef struct {
    LG_FUTUREOBJ_HEAD(task)
    PyObject *task_fut_waiter;
    PyObject *task_coro;
#  if PY_VERSION_HEX >= 0x03080000
    PyObject *task_name;
#  endif
#  if PY_VERSION_HEX >= 0x03070000
    PyObject *task_context;
#  endif
    int task_must_cancel;
    int task_log_destroy_pending;
#  if PY_VERSION_HEX >= 0x030B0000
    int task_num_cancels_requested;
#  endif
} lg_TaskObj;
#else
#  if PY_VERSION_HEX >= 0x030E0000
#    include "internal/pycore_llist.h"
#    define LG_FUT_AWAITED_BY(prefix) PyObject *prefix##_awaited_by;
#    define LG_FUT_IS_TASK(prefix) char prefix##_is_task; char prefix##_awaited_by_is_set;
#    define LG_TASK_NODE struct llist_node task_node;
#  else
#    define LG_FUT_AWAITED_BY(prefix)
#    define LG_FUT_IS_TASK(prefix)
#    define LG_TASK_NODE
#  endif
#  define LG_FUTUREOBJ_HEAD(prefix)                                                             \
    PyObject_HEAD                                                                               \
    PyObject *prefix##_loop;                                                                    \
    PyObject *prefix##_callback0;                                                               \
    PyObject *prefix##_context0;                                                                \
    PyObject *prefix##_callbacks;                                                               \
    PyObject *prefix##_exception;                                                               \
    PyObject *prefix##_exception_tb;                                                            \
    PyObject *prefix##_result;                                                                  \
    PyObject *prefix##_source_tb;                                                               \
    PyObject *prefix##_cancel_msg;                                                              \
    PyObject *prefix##_cancelled_exc;                                                           \
    LG_FUT_AWAITED_BY(prefix)                                                                   \
    lg_fut_state prefix##_state;                                                                \
    LG_FUT_IS_TASK(prefix)                                                                      \
    unsigned prefix##_log_tb: 1;                                                                \
    unsigned prefix##_blocking: 1;
typedef struct { LG_FUTUREOBJ_HEAD(fut) } lg_FutureObj;
typedef struct {
    LG_FUTUREOBJ_HEAD(task)
    unsigned task_must_cancel: 1;
    unsigned task_log_destroy_pending: 1;
    int task_num_cancels_requested;
    PyObject *task_fut_waiter;
    PyObject *task_coro;
    PyObject *task_name;
    PyObject *task_context;
    LG_TASK_NODE
} lg_TaskObj;
#endif

/* ---- output helpers ---------------------------------------------------------------------- */
#define OFF(T, F) ((unsigned long long)offsetof(T, F))
#define SZ(T) ((unsigned long long)sizeof(T))
static void sect(const char *name) { printf("\n[%s]\n", name); }
static void u(const char *k, unsigned long long v) { printf("%s = %llu\n", k, v); }
static void b(const char *k, int v) { printf("%s = %s\n", k, v ? "true" : "false"); }
static void s(const char *k, const char *v) { printf("%s = \"%s\"\n", k, v); }
static void none(const char *k) { printf("# %s: not in this version\n", k); }

/* The [sizeof] section's mirrored structs and their emitters (one header per group of types). */
#define LG_SIZEOF_A
#include "sizeof_a.h"
#define LG_SIZEOF_B
#include "sizeof_b.h"
static void tomlstr(const char *v) {
    putchar('"');
    for (; *v; v++) {
        if (*v == '"' || *v == '\\') putchar('\\');
        putchar(*v);
    }
    putchar('"');
}

/* position of the single set bit in a 32-bit mask, or die */
static unsigned bitpos(uint32_t m, const char *what) {
    if (m == 0 || (m & (m - 1))) { fprintf(stderr, "layoutgen: %s mask 0x%x is not one bit\n", what, m); exit(2); }
    return (unsigned)__builtin_ctz(m);
}

/* str state bitfield: measured on a zeroed PyASCIIObject */
static uint32_t state_mask(int which) {
    PyASCIIObject a;
    uint32_t raw = 0;
    memset(&a, 0, sizeof a);
    switch (which) {
    case 0: a.state.kind = 7; break;     /* kind:3, all ones */
    case 1: a.state.compact = 1; break;
    case 2: a.state.ascii = 1; break;
#if PY_VERSION_HEX < 0x030C0000
    case 3: a.state.ready = 1; break;
#endif
    }
    if (sizeof(a.state) != 4) { fprintf(stderr, "layoutgen: str state is %zu bytes\n", sizeof(a.state)); exit(2); }
    memcpy(&raw, (char *)&a + offsetof(PyASCIIObject, state), 4);
    return raw;
}

/* ---- per-version variant: only 3.13 has one, and it is read off the header itself --------- */
#if PY_VERSION_HEX >= 0x030D0000 && PY_VERSION_HEX < 0x030E0000
/* Debian's gchead-alignment.diff (gh-127545) declares `} PyGC_Head Py_ALIGNED(4)` on the typedef,
 * which lowers its alignment so gc.generations sits at +20 instead of +24. Upstream leaves
 * PyGC_Head naturally aligned (alignof(uintptr_t)). */
#  define LG_DEBIAN_GCHEAD (_Alignof(PyGC_Head) < _Alignof(uintptr_t))
#else
#  define LG_DEBIAN_GCHEAD 0
#endif

/* Free-threaded builds (PEP 703, `--disable-gil`): Py_GIL_DISABLED is defined by the build's own
 * pyconfig.h (a 3.13t install), or with -DPy_GIL_DISABLED for a default build's -dev headers
 * (tools/layoutgen/generate.sh, 3.14t/3.15t). A different object header, no GC lists, no pymalloc:
 * its own file, 3.Xt.toml, whatever else the headers carry (the Debian 3.13 PyGC_Head patch does not
 * matter there: free-threaded objects have no PyGC_Head). */
#ifdef Py_GIL_DISABLED
#  define LG_FT 1
#  undef LG_DEBIAN_GCHEAD
#  define LG_DEBIAN_GCHEAD 0
#else
#  define LG_FT 0
#endif

static const char *variant(void) {
    return LG_FT ? "freethreaded" : LG_DEBIAN_GCHEAD ? "debian" : "default";
}

static void file_name(void) {
    if (LG_FT) printf("3.%dt.toml\n", MINOR);
    else if (LG_DEBIAN_GCHEAD) printf("3.%d-debian.toml\n", MINOR);
    else printf("3.%d.toml\n", MINOR);
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--name") == 0) { file_name(); return 0; }

    /* ================================================================ [python] */
    printf("[python]\n");
    printf("minor = \"3.%d\"\n", MINOR);
    s("variant", variant());
    {
        /* Patch ranges (decisions, not layout):
         * - 3.14: 3.14.0-3.14.4 ship the incremental collector (young/old spaces, different
         *   struct _gc_runtime_state); the generational collector returned in 3.14.5 (NEWS
         *   "gh-142516 ... 3.14.5rc1"), which is what these headers (3.14.10) describe.
         * - 3.13: both variants cover every patch; which one applies is decided by probing.
         *   Known drift inside 3.13 for schema fields (recorded by generate.sh in provenance):
         *   runtime.tracemalloc 10080 (3.13.0) vs 10104 (3.13.18; moved between 3.13.5 and 3.13.15)
         *   and tstate.size 304 vs 312 (PyThreadState.datastack_cached_chunk appended). No header
         *   set exists here for the other side of either change, so no split by patch.
         * - everything else: one layout for the whole minor (no header set showed drift of a
         *   schema field; see provenance for what was compared). */
        unsigned min_patch = 0;
#if PY_VERSION_HEX >= 0x030E0000 && PY_VERSION_HEX < 0x030F0000 && !LG_FT
        min_patch = 5;
#endif
        /* free-threaded 3.14: no GC lists are read (objects are found in mimalloc's heaps, not on
         * generation lists), so the 3.14.0-3.14.4 collector change does not split the file; the
         * fields _Py_DebugOffsets carries are cross-checked at attach and a disagreement refuses. */
        u("min_patch", min_patch);
        printf("# max_patch: unset (no upper bound)\n");
    }
    {
        char detect[1024];
#if LG_FT
        snprintf(detect, sizeof detect,
                 "free-threaded build (Py_GIL_DISABLED): _Py_DebugOffsets.free_threaded != 0; only "
                 "layout for a free-threaded 3.%d: selected by that flag and the version. Object "
                 "header %zu bytes (ob_type at +%zu).",
                 MINOR, sizeof(PyObject), offsetof(PyObject, ob_type));
#elif PY_VERSION_HEX >= 0x030D0000 && PY_VERSION_HEX < 0x030E0000
        unsigned long long gen0 = (unsigned long long)offsetof(struct _gc_runtime_state, generations);
        if (LG_DEBIAN_GCHEAD)
            snprintf(detect, sizeof detect,
                     "Debian/Ubuntu 3.13 builds carry gchead-alignment.diff (PyGC_Head aligned to %zu), "
                     "moving the gc generations to gc+%llu. _Py_DebugOffsets cannot tell (gc.size and "
                     "gc.collecting are unchanged), so probe: the generation-0 list head at "
                     "interp.gc + list_heads[0] must be a valid sentinel, i.e. the node its _gc_next "
                     "points to must have (_gc_prev & ~3) == the head's address (for an empty list, "
                     "_gc_next == _gc_prev == head). Try the default variant first; use this one when "
                     "the probe fails there and succeeds here.",
                     (size_t)_Alignof(PyGC_Head), gen0);
        else
            snprintf(detect, sizeof detect,
                     "upstream 3.13 (python.org, pyenv, most distros): gc generations at gc+%llu. "
                     "Probe: the node the generation-0 head's _gc_next points to must have "
                     "(_gc_prev & ~3) == head; if not, try the debian variant.", gen0);
#elif PY_VERSION_HEX >= 0x030E0000 && PY_VERSION_HEX < 0x030F0000
        snprintf(detect, sizeof detect,
                 "3.14.5+ generational collector: _Py_DebugOffsets.gc.size == %zu (sizeof struct "
                 "_gc_runtime_state); 3.14.0-3.14.4 (incremental collector) are not covered.",
                 sizeof(struct _gc_runtime_state));
#else
        snprintf(detect, sizeof detect,
                 "only layout for this minor: selected by version (Py_Version / PY_VERSION_HEX).");
#endif
        printf("detect = ");
        tomlstr(detect);
        printf("\n");
    }
    printf("provenance = [\n");
    for (int i = 1; i < argc; i++) {
        printf("    ");
        tomlstr(argv[i]);
        printf(",\n");
    }
    printf("]\n");

    /* ================================================================ [runtime] */
    sect("runtime");
#if PY_VERSION_HEX < 0x03070000
    printf("# 3.6: no _PyRuntime; these offsets are set at attach from the [globals] symbols\n");
    u("interpreters_head", 0);
    u("interpreters_main", 0);
    u("gilstate_tstate_current", 0);
    u("ceval_gil", 0);
    none("tracemalloc");
    u("gc", 0);
#else
    u("interpreters_head", OFF(_PyRuntimeState, interpreters.head));
    u("interpreters_main", OFF(_PyRuntimeState, interpreters.main));
#if PY_VERSION_HEX < 0x030C0000
    u("gilstate_tstate_current", OFF(_PyRuntimeState, gilstate.tstate_current));
    u("ceval_gil", OFF(_PyRuntimeState, ceval.gil));
    none("tracemalloc");
#else
    none("gilstate_tstate_current");
    none("ceval_gil");
    u("tracemalloc", OFF(_PyRuntimeState, tracemalloc));
#endif
#if PY_VERSION_HEX < 0x03090000
    /* 3.7/3.8: one gc state for the process, in _PyRuntime (moved to the interpreter in 3.9,
     * bpo-40533) */
    u("gc", OFF(_PyRuntimeState, gc));
#else
    none("gc");
#endif
#endif /* 3.7+ */

    /* ================================================================ [interp] */
    sect("interp");
    u("next", OFF(PyInterpreterState, next));
#if PY_VERSION_HEX < 0x030B0000
    u("threads_head", OFF(PyInterpreterState, tstate_head));
#else
    u("threads_head", OFF(PyInterpreterState, threads.head));
#endif
#if PY_VERSION_HEX >= 0x030D0000
    u("threads_main", OFF(PyInterpreterState, threads.main));
#else
    none("threads_main");
#endif
#if PY_VERSION_HEX >= 0x03090000
    u("gc", OFF(PyInterpreterState, gc));
#else
    none("gc");
#endif
#if PY_VERSION_HEX < 0x030C0000
    u("modules", OFF(PyInterpreterState, modules));
    none("ceval_gil_ptr");
    none("obmalloc");
    none("obmalloc_is_pointer");
#else
    u("modules", OFF(PyInterpreterState, imports.modules));
    u("ceval_gil_ptr", OFF(PyInterpreterState, ceval.gil));
    u("obmalloc", OFF(PyInterpreterState, obmalloc));
    /* pointer vs embedded struct, from the member's declared type */
    b("obmalloc_is_pointer",
      _Generic(((PyInterpreterState *)0)->obmalloc, struct _obmalloc_state *: 1, default: 0));
#endif

    /* ================================================================ [gil] */
    sect("gil");
#if PY_VERSION_HEX < 0x03070000
    u("last_holder", 0); /* set at attach ([globals]) */
    u("locked", 0);
#else
    u("last_holder", OFF(struct _gil_runtime_state, last_holder));
    u("locked", OFF(struct _gil_runtime_state, locked));
#endif

    /* ================================================================ [tstate] */
    sect("tstate");
    u("size", SZ(PyThreadState));
    u("next", OFF(PyThreadState, next));
    u("interp", OFF(PyThreadState, interp));
    u("thread_id", OFF(PyThreadState, thread_id));
#if PY_VERSION_HEX >= 0x030B0000
    u("native_thread_id", OFF(PyThreadState, native_thread_id));
#else
    none("native_thread_id");
#endif
#if PY_VERSION_HEX < 0x030B0000
    u("frame", OFF(PyThreadState, frame));
#else
    none("frame");
#endif
#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030D0000
    u("cframe", OFF(PyThreadState, cframe));
    u("cframe_current_frame", OFF(_PyCFrame, current_frame));
#else
    none("cframe");
    none("cframe_current_frame");
#endif
#if PY_VERSION_HEX >= 0x030D0000
    u("current_frame", OFF(PyThreadState, current_frame));
#else
    none("current_frame");
#endif
#if PY_VERSION_HEX >= 0x030D0000 && PY_VERSION_HEX < 0x030E0000
    {
        /* 3.13: holds_gil is a bit of the `_status` bitfield word; measure which one */
        static PyThreadState ts;
        uint32_t raw = 0;
        memset(&ts, 0, sizeof ts);
        ts._status.holds_gil = 1;
        if (sizeof(ts._status) != 4) { fprintf(stderr, "layoutgen: _status is %zu bytes\n", sizeof(ts._status)); return 2; }
        memcpy(&raw, (char *)&ts + offsetof(PyThreadState, _status), 4);
        u("status", OFF(PyThreadState, _status));
        printf("status_holds_gil_bit = %u\n", bitpos(raw, "_status.holds_gil"));
    }
#else
    none("status");
    none("status_holds_gil_bit");
#endif
#if PY_VERSION_HEX >= 0x030E0000
    u("holds_gil", OFF(PyThreadState, holds_gil));
#else
    none("holds_gil");
#endif
#if PY_VERSION_HEX >= 0x030B0000
    u("datastack_chunk", OFF(PyThreadState, datastack_chunk));
#else
    none("datastack_chunk");
#endif
#if PY_VERSION_HEX >= 0x030F0000
    u("base_frame", OFF(PyThreadState, base_frame));
#else
    none("base_frame");
#endif

    /* ================================================================ [gc] */
    sect("gc");
#if PY_VERSION_HEX < 0x03070000
    {
        /* offsets inside gcmodule.c's `generations` array; `collecting` is set at attach */
        u("size", SZ(struct lg_generations));
        printf("list_heads = [");
        for (int i = 0; i < NUM_GENERATIONS; i++)
            printf("%s%llu", i ? ", " : "", (unsigned long long)(i * sizeof(struct gc_generation) +
                                                                offsetof(struct gc_generation, head)));
        printf("]\n");
        printf("list_names = [");
        for (int i = 0; i < NUM_GENERATIONS; i++) printf("%s\"generation%d\"", i ? ", " : "", i);
        printf("]\n");
        none("permanent_generation");
        u("collecting", 0);
        u("head_size", SZ(PyGC_Head));
        u("flag_mask", 0);
    }
#else
    {
        typedef struct _gc_runtime_state GCS;
        u("size", SZ(GCS));
#if LG_FT
        /* free-threaded: objects are not linked on generation lists (no PyGC_Head in front of
         * them); the collector visits mimalloc's heaps (Python/gc_free_threading.c). No list heads. */
        printf("list_heads = []\n");
        printf("list_names = []\n");
#elif PY_VERSION_HEX >= 0x030E0000 && PY_VERSION_HEX < 0x030E0500
        /* 3.14.0-3.14.4 incremental collector: young + old[2] spaces */
        printf("list_heads = [%llu, %llu, %llu, %llu]\n", OFF(GCS, young.head), OFF(GCS, old[0].head),
               OFF(GCS, old[1].head), OFF(GCS, permanent_generation.head));
        printf("list_names = [\"young\", \"old0\", \"old1\", \"permanent\"]\n");
#else
        printf("list_heads = [");
        for (int i = 0; i < NUM_GENERATIONS; i++)
            printf("%llu, ", (unsigned long long)(offsetof(GCS, generations) + i * sizeof(struct gc_generation) +
                                                  offsetof(struct gc_generation, head)));
        printf("%llu]\n", OFF(GCS, permanent_generation.head));
        printf("list_names = [");
        for (int i = 0; i < NUM_GENERATIONS; i++) printf("\"generation%d\", ", i);
        printf("\"permanent\"]\n");
#endif
#if LG_FT
        none("permanent_generation (free-threaded: no lists)");
#else
        u("permanent_generation", OFF(GCS, permanent_generation));
#endif
        u("collecting", OFF(GCS, collecting));
        u("head_size", SZ(PyGC_Head));
#if PY_VERSION_HEX >= 0x03080000
        /* low bits of _gc_next/_gc_prev used as flags: _PyGC_PREV_MASK == ~(1<<_PyGC_PREV_SHIFT - 1) */
        u("flag_mask", (unsigned long long)((1u << _PyGC_PREV_SHIFT) - 1));
#else
        /* 3.6/3.7: gc_next/gc_prev are plain pointers; the state is in the separate gc_refs word */
        u("flag_mask", 0);
#endif
    }
#endif

    /* ================================================================ [object] */
    sect("object");
#if LG_FT
    /* free-threaded: the owning thread's count (ob_ref_local, uint32) and the shared one are
     * separate; `refcnt` names the local one, [free_threaded] has both */
    u("refcnt", OFF(PyObject, ob_ref_local));
#else
    u("refcnt", OFF(PyObject, ob_refcnt));
#endif
    u("ob_type", OFF(PyObject, ob_type));
    u("ob_size", OFF(PyVarObject, ob_size));
    u("size", SZ(PyObject));

    /* ================================================================ [type] */
    sect("type");
    u("tp_name", OFF(PyTypeObject, tp_name));
    u("tp_basicsize", OFF(PyTypeObject, tp_basicsize));
    u("tp_itemsize", OFF(PyTypeObject, tp_itemsize));
    u("tp_flags", OFF(PyTypeObject, tp_flags));
    u("tp_base", OFF(PyTypeObject, tp_base));
    u("tp_dict", OFF(PyTypeObject, tp_dict));
    u("tp_dictoffset", OFF(PyTypeObject, tp_dictoffset));
    u("tp_mro", OFF(PyTypeObject, tp_mro));
    u("tp_members", OFF(PyTypeObject, tp_members));
    u("tp_weaklistoffset", OFF(PyTypeObject, tp_weaklistoffset));
    u("size", SZ(PyTypeObject));
    u("ht_name", OFF(PyHeapTypeObject, ht_name));
    u("ht_qualname", OFF(PyHeapTypeObject, ht_qualname));
    u("ht_cached_keys", OFF(PyHeapTypeObject, ht_cached_keys));
#if PY_VERSION_HEX >= 0x03090000
    u("ht_module", OFF(PyHeapTypeObject, ht_module)); /* PEP 573, 3.9 */
#else
    none("ht_module");
#endif
    u("heap_size", SZ(PyHeapTypeObject));

    /* ================================================================ [frame_object] */
    sect("frame_object");
#if PY_VERSION_HEX < 0x030B0000
    u("f_back", OFF(PyFrameObject, f_back));
    u("f_code", OFF(PyFrameObject, f_code));
    u("f_lasti", OFF(PyFrameObject, f_lasti));
#else
    none("f_back (3.11+: lazily filled, the chain is iframe.previous)");
    none("f_code");
    none("f_lasti");
#endif
    u("f_lineno", OFF(PyFrameObject, f_lineno));
    u("f_trace", OFF(PyFrameObject, f_trace));
#if PY_VERSION_HEX < 0x030B0000
    none("f_frame");
#  if PY_VERSION_HEX < 0x030A0000
    /* 3.9: f_lasti is a byte offset: PyFrame_GetLineNumber -> PyCode_Addr2Line(f_code, f_lasti)
     * (Objects/frameobject.c@v3.9.0:L35-44; Include/cpython/frameobject.h@v3.9.0:L36). */
    u("lasti_unit", 1);
#  else
    /* 3.10: f_lasti counts code units: PyCode_Addr2Line(f->f_code, f->f_lasti*sizeof(_Py_CODEUNIT))
     * (Objects/frameobject.c@v3.10.0:L42-51). */
    u("lasti_unit", SZ(_Py_CODEUNIT));
#  endif
#else
    u("f_frame", OFF(PyFrameObject, f_frame));
    none("lasti_unit");
#endif
#if PY_VERSION_HEX < 0x030B0000
    u("f_localsplus", OFF(PyFrameObject, f_localsplus));
#else
    none("f_localsplus (3.11+: iframe.localsplus)");
#endif
    u("size", SZ(PyFrameObject));

    /* ================================================================ [iframe] */
#if PY_VERSION_HEX >= 0x030B0000
    sect("iframe");
#  if PY_VERSION_HEX < 0x030D0000
    u("executable", OFF(_PyInterpreterFrame, f_code));
    u("previous", OFF(_PyInterpreterFrame, previous));
    u("instr_ptr", OFF(_PyInterpreterFrame, prev_instr));
    /* 3.11/3.12 `prev_instr`: "the code unit *prior to* the *next* instruction"
     * (Include/internal/pycore_frame.h@v3.11.0:L47-67, @v3.12.0:L49-73). */
    b("instr_is_prev", 1);
#  else
    u("executable", OFF(_PyInterpreterFrame, f_executable));
    u("previous", OFF(_PyInterpreterFrame, previous));
    u("instr_ptr", OFF(_PyInterpreterFrame, instr_ptr));
    /* 3.13+ `instr_ptr`: "Instruction currently executing (or about to begin)"
     * (Include/internal/pycore_frame.h@v3.13.0:L61-75). */
    b("instr_is_prev", 0);
#  endif
    u("owner", OFF(_PyInterpreterFrame, owner));
    u("localsplus", OFF(_PyInterpreterFrame, localsplus));
#  if PY_VERSION_HEX >= 0x030E0000
    u("stackpointer", OFF(_PyInterpreterFrame, stackpointer));
    /* f_executable is a _PyStackRef; tag bits from pycore_stackref.h */
    u("executable_tag_mask", (unsigned long long)Py_TAG_BITS);
#  else
    none("stackpointer (3.11-3.13 have `int stacktop`, an index)");
    u("executable_tag_mask", 0);
#  endif
    printf("owner_generator = %d\n", (int)FRAME_OWNED_BY_GENERATOR);
#  if PY_VERSION_HEX < 0x030C0000
    /* 3.11: no entry/shim frames; C->Python boundaries are marked by `is_entry` on a real Python
     * frame (Include/internal/pycore_frame.h@v3.11.0:L47-67; owners THREAD/GENERATOR/FRAME_OBJECT
     * only, L41-45). Nothing to skip. */
    printf("owner_skip = []\n");
#  elif PY_VERSION_HEX < 0x030E0000
    /* 3.12/3.13: each _PyEval_EvalFrameDefault pushes an entry frame owned by the C stack
     * (Python/ceval.c@v3.12.0:L668-696; @v3.13.5:L704-719). */
    printf("owner_skip = [%d]\n", (int)FRAME_OWNED_BY_CSTACK);
#  elif PY_VERSION_HEX < 0x030F0000
    /* 3.14: _PyFrame_IsIncomplete treats owner >= FRAME_OWNED_BY_INTERPRETER as non-Python
     * (Include/internal/pycore_interpframe.h@v3.14.10:L259-268); entry frames are INTERPRETER. */
    printf("owner_skip = [%d, %d]\n", (int)FRAME_OWNED_BY_INTERPRETER, (int)FRAME_OWNED_BY_CSTACK);
#  else
    /* 3.15: FRAME_OWNED_BY_CSTACK removed; entry frames and tstate->base_frame are INTERPRETER
     * (Include/internal/pycore_interpframe_structs.h@v3.15.2:L22-27). */
    printf("owner_skip = [%d]\n", (int)FRAME_OWNED_BY_INTERPRETER);
#  endif
    u("size", SZ(_PyInterpreterFrame));
#else
    printf("\n# [iframe]: no _PyInterpreterFrame before 3.11\n");
#endif

    /* ================================================================ [code] */
    sect("code");
    u("co_filename", OFF(PyCodeObject, co_filename));
    u("co_name", OFF(PyCodeObject, co_name));
#if PY_VERSION_HEX >= 0x030B0000
    u("co_qualname", OFF(PyCodeObject, co_qualname));
#else
    none("co_qualname");
#endif
#if PY_VERSION_HEX < 0x030A0000
    u("co_linetable", OFF(PyCodeObject, co_lnotab));
    /* co_lnotab (addr_incr, line_incr) pairs: Objects/lnotab_notes.txt@v3.9.0:L10-59,
     * PyCode_Addr2Line Objects/codeobject.c@v3.9.0:L983-997 */
    s("linetable_format", "lnotab");
#elif PY_VERSION_HEX < 0x030B0000
    u("co_linetable", OFF(PyCodeObject, co_linetable));
    /* PEP 626 (sdelta, ldelta) pairs: Objects/lnotab_notes.txt@v3.10.0:L1-80,
     * Objects/codeobject.c@v3.10.0:L1246-1293 */
    s("linetable_format", "pep626");
#else
    u("co_linetable", OFF(PyCodeObject, co_linetable));
    /* PEP 657 location table: Objects/locations.md@v3.11.0:L1-69 (unchanged through 3.15,
     * PY_CODE_LOCATION_INFO_* in Include/internal/pycore_code.h) */
    s("linetable_format", "pep657");
#endif
    u("co_firstlineno", OFF(PyCodeObject, co_firstlineno));
#if PY_VERSION_HEX >= 0x030B0000
    u("co_code_adaptive", OFF(PyCodeObject, co_code_adaptive));
    u("co_firsttraceable", OFF(PyCodeObject, _co_firsttraceable));
#else
    none("co_code_adaptive");
    none("co_firsttraceable");
#endif
    /* names of the fast locals, for `leakspy refs` frame roots: 3.11+ co_localsplusnames (one per
       localsplus slot: locals, cells, frees); 3.9/3.10 co_varnames (the first co_nlocals slots of
       f_localsplus). */
#if PY_VERSION_HEX >= 0x030B0000
    u("local_names", OFF(PyCodeObject, co_localsplusnames));
#else
    u("local_names", OFF(PyCodeObject, co_varnames));
#endif

    /* ================================================================ [unicode] */
    sect("unicode");
    u("length", OFF(PyASCIIObject, length));
    u("state", OFF(PyASCIIObject, state));
    u("ascii_size", SZ(PyASCIIObject));
    u("compact_size", SZ(PyCompactUnicodeObject));
    u("data_any", OFF(PyUnicodeObject, data.any));
    {
        uint32_t kind = state_mask(0);
        printf("kind_shift = %u\n", (unsigned)__builtin_ctz(kind));
        printf("kind_bits = %u\n", (unsigned)__builtin_popcount(kind));
        if ((kind >> __builtin_ctz(kind)) != 7) { fprintf(stderr, "layoutgen: kind mask 0x%x not contiguous\n", kind); return 2; }
        printf("compact_bit = %u\n", bitpos(state_mask(1), "compact"));
        printf("ascii_bit = %u\n", bitpos(state_mask(2), "ascii"));
#if PY_VERSION_HEX < 0x030C0000
        printf("ready_bit = %u\n", bitpos(state_mask(3), "ready"));
#else
        none("ready_bit");
#endif
    }

    /* ================================================================ [bytes] */
    sect("bytes");
    u("ob_sval", OFF(PyBytesObject, ob_sval));

    /* ================================================================ [long] */
    sect("long");
#if PY_VERSION_HEX < 0x030C0000
    u("size_or_tag", OFF(PyLongObject, ob_base.ob_size));
    b("lv_tag", 0);
    u("ob_digit", OFF(PyLongObject, ob_digit));
#else
    u("size_or_tag", OFF(PyLongObject, long_value.lv_tag));
    b("lv_tag", 1);
    u("ob_digit", OFF(PyLongObject, long_value.ob_digit));
#endif
    printf("shift = %d\n", (int)PyLong_SHIFT);
    u("digit_size", SZ(digit));
    /* int.__sizeof__ counts at least one digit from 3.11 (zero allocates one digit):
       Objects/longobject.c int___sizeof___impl, `Py_MAX(Py_ABS(Py_SIZE(self)), 1)` in 3.11
       (measured: sys.getsizeof(0) is 24 on 3.9.18/3.10.13, 28 on 3.11.7+); 3.12+ the same on
       the lv_tag digit count. */
    b("sizeof_min_one_digit", PY_VERSION_HEX >= 0x030B0000);

    /* ================================================================ [tuple] [list] [dict] */
    sect("tuple");
    u("ob_item", OFF(PyTupleObject, ob_item));
    sect("list");
    u("ob_item", OFF(PyListObject, ob_item));
    u("allocated", OFF(PyListObject, allocated));
    sect("dict");
    u("ma_used", OFF(PyDictObject, ma_used));
    u("ma_keys", OFF(PyDictObject, ma_keys));
    u("ma_values", OFF(PyDictObject, ma_values));
#if PY_VERSION_HEX >= 0x030B0000
    u("values_offset", OFF(PyDictValues, values));
#else
    /* <=3.10: ma_values is a plain PyObject** array (Include/cpython/dictobject.h). */
    u("values_offset", 0);
#endif

    /* ================================================================ [dictkeys] */
    sect("dictkeys");
    u("dk_refcnt", OFF(LG_DICTKEYS, dk_refcnt));
#if PY_VERSION_HEX < 0x030B0000
    u("dk_size", OFF(LG_DICTKEYS, dk_size));
    none("dk_log2_size");
    none("dk_log2_index_bytes");
    none("dk_kind");
#else
    none("dk_size");
    u("dk_log2_size", OFF(LG_DICTKEYS, dk_log2_size));
    u("dk_log2_index_bytes", OFF(LG_DICTKEYS, dk_log2_index_bytes));
    u("dk_kind", OFF(LG_DICTKEYS, dk_kind));
#endif
    u("dk_usable", OFF(LG_DICTKEYS, dk_usable));
    u("dk_nentries", OFF(LG_DICTKEYS, dk_nentries));
    u("dk_indices", OFF(LG_DICTKEYS, dk_indices));
    u("size", SZ(LG_DICTKEYS));
    u("entry_size", SZ(LG_DICTKEYENTRY));
#if PY_VERSION_HEX >= 0x030B0000
    u("unicode_entry_size", SZ(PyDictUnicodeEntry));
#else
    none("unicode_entry_size");
#endif

    /* ================================================================ [set] */
    sect("set");
    u("fill", OFF(PySetObject, fill));
    u("used", OFF(PySetObject, used));
    u("mask", OFF(PySetObject, mask));
    u("table", OFF(PySetObject, table));
    u("smalltable", OFF(PySetObject, smalltable));
    u("entry_size", SZ(setentry));

    /* ================================================================ [gen] */
    /* Generators, coroutines and async generators share _PyGenObject_HEAD, so one set of offsets
     * serves all three (Include/cpython/genobject.h@v3.9.0:L14-31; Include/internal/
     * pycore_genobject.h@v3.13.0). Used for "suspended at" origin hints. */
    sect("gen");
#if PY_VERSION_HEX < 0x030B0000
    u("frame", OFF(PyGenObject, gi_frame));
    u("code", OFF(PyGenObject, gi_code));
    none("iframe");
    none("frame_state");
    none("frame_finished");
#else
    none("frame (3.11+: the frame is embedded, gi_iframe)");
    none("code (3.11+: the embedded frame's executable)");
    u("iframe", OFF(PyGenObject, gi_iframe));
    u("frame_state", OFF(PyGenObject, gi_frame_state));
    /* FRAME_STATE_FINISHED(S): S >= FRAME_COMPLETED up to 3.14, S == FRAME_CLEARED (the last value)
     * from 3.15 (Include/internal/pycore_frame.h enum _framestate). A finished generator has no
     * current line. */
#  if PY_VERSION_HEX < 0x030F0000
    printf("frame_finished = %d\n", (int)FRAME_COMPLETED);
#  else
    printf("frame_finished = %d\n", (int)FRAME_CLEARED);
#  endif
#endif

    /* ================================================================ [func] */
    sect("func");
    u("code", OFF(PyFunctionObject, func_code));

    /* ================================================================ [misc] */
    sect("misc");
    u("tpflags_heaptype", (unsigned long long)Py_TPFLAGS_HEAPTYPE);
    u("tpflags_have_gc", (unsigned long long)Py_TPFLAGS_HAVE_GC);
    u("tpflags_unicode_subclass", (unsigned long long)Py_TPFLAGS_UNICODE_SUBCLASS);
    {
        unsigned long long pre_flags = 0, pre_size = 0;
#if defined(Py_TPFLAGS_PREHEADER)
        pre_flags = Py_TPFLAGS_PREHEADER; /* 3.12+: MANAGED_DICT | MANAGED_WEAKREF */
#elif defined(Py_TPFLAGS_MANAGED_DICT)
        pre_flags = Py_TPFLAGS_MANAGED_DICT; /* 3.11 */
#endif
#if PY_VERSION_HEX >= 0x030B0000
        {
            /* measure with the header's own _PyType_PreHeaderSize on a non-GC fake type */
            static PyTypeObject fake;
            memset(&fake, 0, sizeof fake);
            fake.tp_flags = (unsigned long)pre_flags;
            pre_size = (unsigned long long)_PyType_PreHeaderSize(&fake);
        }
#endif
        u("tpflags_preheader", pre_flags);
        u("preheader_size", pre_size);
    }
#ifdef Py_TPFLAGS_MANAGED_DICT
    u("tpflags_managed_dict", (unsigned long long)Py_TPFLAGS_MANAGED_DICT);
#else
    u("tpflags_managed_dict", 0);
#endif
#ifdef Py_TPFLAGS_INLINE_VALUES
    u("tpflags_inline_values", (unsigned long long)Py_TPFLAGS_INLINE_VALUES);
#else
    u("tpflags_inline_values", 0);
#endif
    /* sys.getsizeof (_PySys_GetSizeOf):
     * 3.9/3.10: __sizeof__ + sizeof(PyGC_Head) if _PyObject_IS_GC (Python/sysmodule.c@v3.9.2:L1642-1685,
     *           @v3.10.5:L1656-1699);
     * 3.11/3.12: __sizeof__ + _PyType_PreHeaderSize(Py_TYPE(o)) (sysmodule.c@v3.11.2:L1666-1706,
     *           @v3.12.5:L1792-1832);
     * 3.13+: same, but nothing added for static type objects (sysmodule.c@v3.13.5:L1950-1998,
     *           @v3.14.7:L1926-1974). */
#if PY_VERSION_HEX < 0x030B0000
    s("getsizeof_rule", "gc_only");
#elif PY_VERSION_HEX < 0x030D0000
    s("getsizeof_rule", "preheader");
#else
    s("getsizeof_rule", "preheader_not_static_type");
#endif

    /* ================================================================ [tracemalloc] */
    sect("tracemalloc");
#if PY_VERSION_HEX >= 0x030C0000
    /* offsets inside _PyRuntime.tracemalloc (struct _tracemalloc_runtime_state) */
    u("state_tracing", OFF(struct _tracemalloc_runtime_state, config.tracing));
    u("state_traces", OFF(struct _tracemalloc_runtime_state, traces));
    u("state_domains", OFF(struct _tracemalloc_runtime_state, domains));
    none("config_tracing");
#else
    /* 3.9-3.11: the flag is in the exported _Py_tracemalloc_config; the tables are file statics
       (found by symbol or by a validated scan, see crates/leakspy-python/src/tracemalloc.rs). */
    none("state_tracing");
    none("state_traces");
    none("state_domains");
    u("config_tracing", OFF(struct _PyTraceMalloc_Config, tracing));
#endif
#if PY_VERSION_HEX < 0x03090000
    u("ht_nentries", OFF(lg_hashtable_t, entries));
    u("ht_nbuckets", OFF(lg_hashtable_t, num_buckets));
    u("ht_buckets", OFF(lg_hashtable_t, buckets));
    u("ht_hash_func", OFF(lg_hashtable_t, hash_func));
    u("ht_compare_func", OFF(lg_hashtable_t, compare_func));
    u("entry_next", OFF(lg_hashtable_entry_t, _Py_slist_item));
    /* the key follows the entry header; the value (trace_t, by value) follows the key */
    u("entry_key", SZ(lg_hashtable_entry_t));
    u("entry_value", SZ(lg_hashtable_entry_t) + SZ(uintptr_t));
    u("ht_key_size", OFF(lg_hashtable_t, key_size));
#else
    u("ht_nentries", OFF(_Py_hashtable_t, nentries));
    u("ht_nbuckets", OFF(_Py_hashtable_t, nbuckets));
    u("ht_buckets", OFF(_Py_hashtable_t, buckets));
    u("ht_hash_func", OFF(_Py_hashtable_t, hash_func));
    u("ht_compare_func", OFF(_Py_hashtable_t, compare_func));
    u("entry_next", OFF(_Py_hashtable_entry_t, _Py_slist_item));
    u("entry_key", OFF(_Py_hashtable_entry_t, key));
    u("entry_value", OFF(_Py_hashtable_entry_t, value));
    none("ht_key_size");
#endif
    u("trace_size", OFF(lg_trace_t, size));
    u("trace_traceback", OFF(lg_trace_t, traceback));
    u("traceback_nframe", OFF(LG_TRACEBACK, nframe));
    u("traceback_frames", OFF(LG_TRACEBACK, frames));
    u("frame_size", SZ(LG_FRAME));
    u("frame_filename", OFF(LG_FRAME, filename));
    u("frame_lineno", OFF(LG_FRAME, lineno));
    /* 3.15: frame filenames are interned NUL-terminated UTF-8 (const char*), before: str objects. */
    b("filename_is_cstr", PY_VERSION_HEX >= 0x030F0000);

#if LG_FT
    /* ================================================================ [free_threaded] */
    /* Free-threaded builds: the split object header (Include/object.h, `#ifdef Py_GIL_DISABLED`
     * struct _object: ob_tid, _padding/ob_flags, ob_mutex, ob_gc_bits, ob_ref_local, ob_ref_shared,
     * ob_type) and thread-local bytecode (3.14+: _PyInterpreterFrame.tlbc_index indexes
     * PyCodeObject.co_tlbc->entries; 3.13 has none). [obmalloc] (pymalloc is not used: objects live
     * in mimalloc heaps) is left out; [private], [sizeof] and [asyncio] only for 3.13t (below). `live_verified` is a decision, not layout: true where a live interpreter of this
     * exact kind was built and tested here (3.13t from Debian's python3.13 source package,
     * scripts/setup-python313t.sh); 3.14t/3.15t come from default-build -dev headers compiled with
     * -DPy_GIL_DISABLED, and leakspy warns when it uses them. */
    sect("free_threaded");
    u("ob_tid", OFF(PyObject, ob_tid));
    u("ob_gc_bits", OFF(PyObject, ob_gc_bits));
    u("ob_ref_local", OFF(PyObject, ob_ref_local));
    u("ob_ref_shared", OFF(PyObject, ob_ref_shared));
#  if PY_VERSION_HEX >= 0x030E0000
    u("tlbc_index", OFF(_PyInterpreterFrame, tlbc_index));
    u("co_tlbc", OFF(PyCodeObject, co_tlbc));
    u("code_array_entries", OFF(_PyCodeArray, entries));
#  else
    none("tlbc_index");
    none("co_tlbc");
    none("code_array_entries");
#  endif
    b("live_verified", PY_VERSION_HEX < 0x030E0000);

#  if PY_VERSION_HEX < 0x030E0000
    /* ================================================================ [mimalloc] */
    /* Where the free-threaded collector finds objects (Python/gc_free_threading.c,
     * gc_visit_heaps_lock_held): every thread's `_PyThreadStateImpl.mimalloc.heaps[]` for the GC and
     * GC_PRE heaps (objects at block + 0, and at block + 2 words for types with the managed
     * dict/weakref pre-header), then the interpreter's abandoned segments pool (segments of threads
     * that exited). Non-GC objects (str, int, float, bytes) live in the OBJECT heap. A heap's pages
     * hang off `pages[bin].first` -> `next`; a page is a slice of its segment (segment = page rounded
     * down to MI_SEGMENT_SIZE); its free blocks are on `free`, `local_free` and `xthread_free` (low 2
     * bits are flags), plus the heap's `thread_delayed_free`. Only 3.13t: no live 3.14t/3.15t to
     * check these against, so those layouts carry no [mimalloc] and their heap stays refused. */
    sect("mimalloc");
    {
        _PyThreadStateImpl ts;
        u("tstate_heaps", (unsigned long long)((char *)&ts.mimalloc.heaps - (char *)&ts));
        u("tstate_initialized", (unsigned long long)((char *)&ts.mimalloc.initialized - (char *)&ts));
    }
    u("heap_mem", _Py_MIMALLOC_HEAP_MEM);
    u("heap_object", _Py_MIMALLOC_HEAP_OBJECT);
    u("heap_gc", _Py_MIMALLOC_HEAP_GC);
    u("heap_gc_pre", _Py_MIMALLOC_HEAP_GC_PRE);
    u("heap_size", SZ(mi_heap_t));
    u("heap_pages", OFF(mi_heap_t, pages));
    u("heap_thread_delayed_free", OFF(mi_heap_t, thread_delayed_free));
    u("bins", MI_BIN_FULL + 1);
    u("queue_size", SZ(mi_page_queue_t));
    u("queue_first", OFF(mi_page_queue_t, first));
    u("page_size", SZ(mi_page_t));
    u("page_slice_count", OFF(mi_page_t, slice_count));
    u("page_capacity", OFF(mi_page_t, capacity));
    u("page_reserved", OFF(mi_page_t, reserved));
    u("page_free", OFF(mi_page_t, free));
    u("page_used", OFF(mi_page_t, used));
    u("page_xblock_size", OFF(mi_page_t, xblock_size));
    u("page_local_free", OFF(mi_page_t, local_free));
    u("page_xthread_free", OFF(mi_page_t, xthread_free));
    u("page_next", OFF(mi_page_t, next));
    {
        /* `tag : 4` is a bit-field: find its byte and shift by setting it in a zeroed page */
        mi_page_t pg;
        memset(&pg, 0, sizeof pg);
        pg.tag = 15;
        const unsigned char *bytes = (const unsigned char *)&pg;
        size_t at = 0;
        while (at < sizeof pg && bytes[at] == 0) at++;
        unsigned shift = 0;
        while (shift < 8 && !((bytes[at] >> shift) & 1)) shift++;
        u("page_tag_byte", at);
        u("page_tag_shift", shift);
        u("page_tag_mask", 15);
    }
    u("segment_slices", OFF(mi_segment_t, slices));
    u("segment_slice_entries", OFF(mi_segment_t, slice_entries));
    u("segment_abandoned_next", OFF(mi_segment_t, abandoned_next));
    u("segment_shift", MI_SEGMENT_SHIFT);
    u("slice_shift", MI_SEGMENT_SLICE_SHIFT);
    u("slices_per_segment", MI_SLICES_PER_SEGMENT);
    u("huge_block_size", MI_HUGE_BLOCK_SIZE);
    {
        PyInterpreterState is;
        u("interp_abandoned_pool", (unsigned long long)((char *)&is.mimalloc.abandoned_pool - (char *)&is));
    }
    u("pool_abandoned", OFF(mi_abandoned_pool_t, abandoned));
    u("pool_abandoned_visited", OFF(mi_abandoned_pool_t, abandoned_visited));
#    ifdef MI_ENCODE_FREELIST
    b("encode_freelist", 1);
#    else
    b("encode_freelist", 0);
#    endif
    u("gc_bits_tracked", _PyGC_BITS_TRACKED);
    u("gc_bits_frozen", _PyGC_BITS_FROZEN);
    u("ref_shared_shift", _Py_REF_SHARED_SHIFT);
    {
        /* what sys.getsizeof adds in front of a GC object (_PyType_PreHeaderSize; no PyGC_Head in a
         * free-threaded build), and where GC_PRE objects sit in their blocks */
        PyTypeObject gc_t, pre_t;
        memset(&gc_t, 0, sizeof gc_t);
        memset(&pre_t, 0, sizeof pre_t);
        gc_t.tp_flags = Py_TPFLAGS_HAVE_GC;
        pre_t.tp_flags = Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_PREHEADER;
        u("presize_gc", _PyType_PreHeaderSize(&gc_t));
        u("presize_gc_pre", _PyType_PreHeaderSize(&pre_t));
    }
    /* a managed __dict__ sits this many bytes before its object (MANAGED_DICT_OFFSET, negated) */
    u("managed_dict_back", (unsigned long long)(-MANAGED_DICT_OFFSET));
#  else
    printf("\n# [mimalloc]: not generated (no live free-threaded 3.%d here to check it against)\n", MINOR);
#  endif
#else
    /* ================================================================ [obmalloc] */
    sect("obmalloc");
#if PY_VERSION_HEX >= 0x030C0000
    /* offsets inside struct _obmalloc_state (interp->obmalloc) */
    u("state_arenas", OFF(struct _obmalloc_state, mgmt.arenas));
    u("state_maxarenas", OFF(struct _obmalloc_state, mgmt.maxarenas));
#else
    none("state_arenas");
    none("state_maxarenas");
#endif
    u("arena_object_size", SZ(LG_ARENA_OBJECT));
    u("arena_address", OFF(LG_ARENA_OBJECT, address));
    u("arena_pool_address", OFF(LG_ARENA_OBJECT, pool_address));
    u("arena_nfreepools", OFF(LG_ARENA_OBJECT, nfreepools));
    u("arena_ntotalpools", OFF(LG_ARENA_OBJECT, ntotalpools));
    u("pool_count", OFF(LG_POOL_HEADER, ref));
    u("pool_freeblock", OFF(LG_POOL_HEADER, freeblock));
    u("pool_arenaindex", OFF(LG_POOL_HEADER, arenaindex));
    u("pool_szidx", OFF(LG_POOL_HEADER, szidx));
    u("pool_nextoffset", OFF(LG_POOL_HEADER, nextoffset));
    u("pool_maxnextoffset", OFF(LG_POOL_HEADER, maxnextoffset));
    u("pool_overhead", (unsigned long long)LG_POOL_OVERHEAD);
    /* block size of size class szidx = (szidx + 1) * ALIGNMENT (INDEX2SIZE) */
    u("alignment", LG_ALIGNMENT);
    u("pool_size", LG_POOL_SIZE);
    u("arena_size", LG_ARENA_SIZE);
#endif /* !LG_FT */

#if !LG_FT || PY_VERSION_HEX < 0x030E0000
    /* [private], [sizeof] and [asyncio]: mirrored structs and header offsets behind the builtins'
     * __sizeof__. A free-threaded 3.13 gets them too (its PyObject_HEAD is the 32-byte split
     * header, which the mirrors take from the headers): tests/sizes.rs checks every one of them
     * against sys.getsizeof on the 3.13t built here, and verify_private.py the mirrored structs.
     * 3.14t/3.15t (no live interpreter here to check them against) are left without. */
    /* ================================================================ [private] */
    sect("private");
    u("deque_leftindex", OFF(lg_dequeobject, leftindex));
    u("deque_blocklen", (unsigned long long)LG_BLOCKLEN);
    u("deque_block_size", SZ(lg_block));
    u("buffered_buffer", OFF(lg_buffered, buffer));
    u("buffered_buffer_size", OFF(lg_buffered, buffer_size));

    /* ================================================================ [sizeof] */
    sect("sizeof");
    u("code_extra", OFF(PyCodeObject, co_extra));
    u("code_extra_size", SZ(lg_PyCodeObjectExtra));
    u("code_extra_item", SZ(void *));
#if PY_VERSION_HEX < 0x030B0000
    u("code_cell2arg", OFF(PyCodeObject, co_cell2arg));
    u("code_cellvars", OFF(PyCodeObject, co_cellvars));
    u("code_code", OFF(PyCodeObject, co_code));
#  if PY_VERSION_HEX >= 0x03080000
    u("code_opcache", OFF(PyCodeObject, co_opcache));
    u("code_opcache_size", OFF(PyCodeObject, co_opcache_size));
    u("opcache_size", SZ(_PyOpcache));
#  else
    /* 3.6/3.7: no opcache (3.8, bpo-26219) */
    none("code_opcache");
    none("code_opcache_size");
    none("opcache_size");
#  endif
    u("codeunit_size", SZ(_Py_CODEUNIT));
#else
    none("code_cell2arg");
    none("code_cellvars");
    none("code_code");
    none("code_opcache");
    none("code_opcache_size");
    none("opcache_size");
    none("codeunit_size");
#endif
#ifdef LG_SIZEOF_A
    emit_sizeof_a();
#endif
#ifdef LG_SIZEOF_B
    emit_sizeof_b();
#endif

    /* ================================================================ [asyncio] */
    /* Creation sites of asyncio futures and tasks (debug mode): structs mirrored above, under
     * [private]; PyMemberDef and T_OBJECT_EX from the installed headers (for the __slots__ of
     * traceback.FrameSummary); Py_TPFLAGS_LIST_SUBCLASS for the StackSummary check. */
    sect("asyncio");
    u("future_source_tb", OFF(lg_FutureObj, fut_source_tb));
    if (OFF(lg_FutureObj, fut_source_tb) != OFF(lg_TaskObj, task_source_tb)) {
        fprintf(stderr, "layoutgen: fut_source_tb and task_source_tb differ\n");
        return 2;
    }
    u("future_size", SZ(lg_FutureObj));
    u("task_size", SZ(lg_TaskObj));
    u("member_def_name", OFF(PyMemberDef, name));
    u("member_def_type", OFF(PyMemberDef, type));
    u("member_def_offset", OFF(PyMemberDef, offset));
    u("member_def_size", SZ(PyMemberDef));
    u("member_type_object_ex", (unsigned long long)T_OBJECT_EX);
    u("tpflags_list_subclass", (unsigned long long)Py_TPFLAGS_LIST_SUBCLASS);
#endif /* !LG_FT || 3.13t */

    /* ================================================================ [globals] */
#if PY_VERSION_HEX < 0x03070000
    /* 3.6: the file statics cited above (next to struct lg_generations) */
    sect("globals");
    s("interp_head", "interp_head");
    s("tstate_current", "_PyThreadState_Current");
    s("gil_last_holder", "gil_last_holder");
    s("gil_locked", "gil_locked");
    s("gc_generations", "generations");
    s("gc_collecting", "collecting");
#else
    printf("\n# [globals]: 3.7+ reads _PyRuntime\n");
#endif
    return 0;
}

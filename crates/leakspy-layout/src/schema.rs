//! The layout schema: the x86_64 offsets and constants leakspy reads, for one CPython version.
//!
//! Every value here comes from a file in `python-layouts/`, produced by `tools/layoutgen` from real
//! headers (`offsetof` compiled against the interpreter's own include directory). Fields that do not
//! exist in a version are `None`. Code above this crate branches on which fields exist (features), never
//! on the version number.
//!
//! All offsets are in bytes relative to the start of the named struct.

use serde::{Deserialize, Serialize};

/// One layout file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Layout {
    pub python: Meta,
    pub runtime: Runtime,
    pub interp: Interp,
    pub gil: Gil,
    pub tstate: ThreadState,
    pub gc: Gc,
    pub object: Object,
    #[serde(rename = "type")]
    pub type_: TypeObject,
    pub frame_object: FrameObject,
    pub iframe: Option<InterpreterFrame>,
    pub code: Code,
    pub unicode: Unicode,
    pub bytes: Bytes,
    pub long: Long,
    pub tuple: Tuple,
    pub list: List,
    pub dict: Dict,
    pub dictkeys: DictKeys,
    pub set: Set,
    pub misc: Misc,
    /// Fields of structs private to a C module (not in any installed header), used to reproduce their
    /// `__sizeof__`. Optional: without it those types are counted at their basic size.
    pub private: Option<Private>,
    /// What the C `__sizeof__` of types with their own one reads (`crates/leakspy-python/src/sizes.rs`).
    /// Optional: without it those types are counted at their basic size and flagged not exact.
    pub sizeof: Option<Sizeof>,
    /// tracemalloc's tables, for allocation sites. Optional: without it sites are not reported.
    pub tracemalloc: Option<Tracemalloc>,
    /// Generator/coroutine fields, for "suspended at" origin hints. Optional: without it no hints.
    pub gen: Option<Gen>,
    /// Function fields, for "defined at" origin hints. Optional: without it no hints.
    pub func: Option<Func>,
    /// pymalloc's arenas and pools, for objects the GC does not track. Optional: without it only
    /// GC-tracked objects (and what they reference) are counted.
    pub obmalloc: Option<Obmalloc>,
    /// asyncio Future/Task fields, for "created at" origin hints (asyncio debug mode). Optional:
    /// without it those hints are not read.
    pub asyncio: Option<Asyncio>,
    /// 3.6 (no `_PyRuntime`): the interpreter's own globals, found by symbol. Optional: only for
    /// versions without `_PyRuntime`.
    pub globals: Option<Globals>,
    /// Free-threaded builds (PEP 703, `Py_GIL_DISABLED`): present exactly in the `3.Xt.toml` files.
    /// Such a layout has no GC list heads (objects live in mimalloc heaps).
    pub free_threaded: Option<FreeThreaded>,
    /// Free-threaded builds whose heap can be walked (3.13t): mimalloc's heaps, pages and segments,
    /// where the free-threaded collector finds its objects. Absent: the heap is not read.
    pub mimalloc: Option<Mimalloc>,
}

/// mimalloc as a free-threaded CPython uses it (`Include/internal/pycore_mimalloc.h`,
/// `Include/internal/mimalloc/mimalloc/types.h`): per-thread heaps (`_PyThreadStateImpl.mimalloc`),
/// their page queues, pages (slices of 32 MiB segments) and free lists, and the interpreter's pool
/// of abandoned segments. Read by `leakspy-python/src/heap/mimalloc.rs`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Mimalloc {
    /// `_PyThreadStateImpl.mimalloc.heaps` (an array of `mi_heap_t`, one per `_Py_mimalloc_heap_id`).
    pub tstate_heaps: u64,
    /// `_PyThreadStateImpl.mimalloc.initialized` (int): the heaps are set up.
    pub tstate_initialized: u64,
    /// `_Py_MIMALLOC_HEAP_OBJECT` (non-GC objects), `_HEAP_GC`, `_HEAP_GC_PRE` (GC objects without /
    /// with the 2-word pre-header). Also the pages' `tag`.
    pub heap_object: u64,
    /// `_Py_MIMALLOC_HEAP_MEM`: `PyMem_Malloc` memory (list items, dict keys): copied in the pause,
    /// never counted.
    pub heap_mem: u64,
    pub heap_gc: u64,
    pub heap_gc_pre: u64,
    /// `sizeof(mi_heap_t)`, `mi_heap_t.pages` (`mi_page_queue_t[bins]`), `.thread_delayed_free`.
    pub heap_size: u64,
    pub heap_pages: u64,
    pub heap_thread_delayed_free: u64,
    /// `MI_BIN_FULL + 1`: page queues per heap.
    pub bins: u64,
    /// `sizeof(mi_page_queue_t)`, `mi_page_queue_t.first`.
    pub queue_size: u64,
    pub queue_first: u64,
    /// `sizeof(mi_page_t)` (= `mi_slice_t`), and its fields.
    pub page_size: u64,
    pub page_slice_count: u64,
    pub page_capacity: u64,
    pub page_reserved: u64,
    pub page_free: u64,
    pub page_used: u64,
    pub page_xblock_size: u64,
    pub page_local_free: u64,
    pub page_xthread_free: u64,
    pub page_next: u64,
    /// The `tag : 4` bit-field: byte, shift and mask.
    pub page_tag_byte: u64,
    pub page_tag_shift: u64,
    pub page_tag_mask: u64,
    /// `mi_segment_t.slices`, `.slice_entries`, `.abandoned_next`.
    pub segment_slices: u64,
    pub segment_slice_entries: u64,
    pub segment_abandoned_next: u64,
    /// `MI_SEGMENT_SHIFT`, `MI_SEGMENT_SLICE_SHIFT`, `MI_SLICES_PER_SEGMENT`, `MI_HUGE_BLOCK_SIZE`.
    pub segment_shift: u64,
    pub slice_shift: u64,
    pub slices_per_segment: u64,
    pub huge_block_size: u64,
    /// `PyInterpreterState.mimalloc.abandoned_pool`, and `mi_abandoned_pool_t.abandoned` (tagged
    /// pointer) / `.abandoned_visited`.
    pub interp_abandoned_pool: u64,
    pub pool_abandoned: u64,
    pub pool_abandoned_visited: u64,
    /// `MI_ENCODE_FREELIST`: free lists are encoded with per-page keys (debug builds; not walked).
    pub encode_freelist: bool,
    /// `_PyGC_BITS_TRACKED`, `_PyGC_BITS_FROZEN` (in `ob_gc_bits`).
    pub gc_bits_tracked: u64,
    pub gc_bits_frozen: u64,
    /// `_Py_REF_SHARED_SHIFT`: flag bits under `ob_ref_shared`'s count.
    pub ref_shared_shift: u64,
    /// `_PyType_PreHeaderSize` of a GC type without / with `Py_TPFLAGS_PREHEADER`: what
    /// `sys.getsizeof` adds (no `PyGC_Head` in a free-threaded build), and (with) where a GC_PRE
    /// object sits in its block.
    pub presize_gc: u64,
    pub presize_gc_pre: u64,
    /// `-MANAGED_DICT_OFFSET`: a managed `__dict__` pointer sits this far before its object.
    pub managed_dict_back: u64,
}

/// The parts of a free-threaded build (`--disable-gil`, `python3.13t`) that differ in kind from a
/// default build: the split object header and thread-local bytecode.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FreeThreaded {
    /// `PyObject.ob_tid`: the owning thread (or, during a collection, GC state).
    pub ob_tid: u64,
    /// `PyObject.ob_gc_bits` (uint8): tracked, finalized, unreachable ... bits.
    pub ob_gc_bits: u64,
    /// `PyObject.ob_ref_local` (uint32): the owning thread's reference count.
    pub ob_ref_local: u64,
    /// `PyObject.ob_ref_shared` (Py_ssize_t): other threads' count, shifted by 2 flag bits.
    pub ob_ref_shared: u64,
    /// 3.14+: `_PyInterpreterFrame.tlbc_index` (int32), the frame's copy of the bytecode.
    pub tlbc_index: Option<u64>,
    /// 3.14+: `PyCodeObject.co_tlbc`, a `_PyCodeArray *`.
    pub co_tlbc: Option<u64>,
    /// 3.14+: `_PyCodeArray.entries`, the array of bytecode copies (index 0 is `co_code_adaptive`).
    pub code_array_entries: Option<u64>,
    /// Whether a live interpreter of this kind was built and tested against (3.13t); layouts from
    /// headers alone (3.14t, 3.15t) are used with a warning and refused when `_Py_DebugOffsets`
    /// disagrees with them.
    pub live_verified: bool,
}

/// Names of the file statics a Python without `_PyRuntime` (3.6) keeps its state in, looked up in the
/// image's `.symtab`. At attach the lowest of their addresses becomes the runtime base, and
/// `runtime.interpreters_head`, `runtime.gilstate_tstate_current`, `runtime.ceval_gil`, `runtime.gc`,
/// `gil.*` and `gc.collecting`/`gc.list_heads` are rewritten relative to it (the file holds 0 there,
/// and list heads relative to the generations array).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Globals {
    /// `static PyInterpreterState *interp_head` (Python/pystate.c).
    pub interp_head: String,
    /// `_Py_atomic_address _PyThreadState_Current` (Python/pystate.c).
    pub tstate_current: String,
    /// `static _Py_atomic_address gil_last_holder` (Python/ceval_gil.h).
    pub gil_last_holder: String,
    /// `static _Py_atomic_int gil_locked` (Python/ceval_gil.h).
    pub gil_locked: String,
    /// `static struct gc_generation generations[NUM_GENERATIONS]` (Modules/gcmodule.c).
    pub gc_generations: String,
    /// `static int collecting` (Modules/gcmodule.c).
    pub gc_collecting: String,
}

/// `FutureObj`/`TaskObj` of `Modules/_asynciomodule.c` (private structs, mirrored and cited in the
/// generator) and what is needed to read `_source_traceback`: a `traceback.StackSummary` (a list
/// subclass) of `traceback.FrameSummary`, whose fields are `__slots__` found through `tp_members`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Asyncio {
    /// `fut_source_tb` (= `task_source_tb`): the `_source_traceback` list, NULL outside debug mode.
    pub future_source_tb: u64,
    /// `sizeof(FutureObj)`: `tp_basicsize` of `_asyncio.Future`.
    pub future_size: u64,
    /// `sizeof(TaskObj)`: `tp_basicsize` of `_asyncio.Task`.
    pub task_size: u64,
    /// `PyMemberDef` fields and size.
    pub member_def_name: u64,
    pub member_def_type: u64,
    pub member_def_offset: u64,
    pub member_def_size: u64,
    /// `T_OBJECT_EX`: the member type of a `__slots__` slot.
    pub member_type_object_ex: i32,
    /// `Py_TPFLAGS_LIST_SUBCLASS`
    pub tpflags_list_subclass: u64,
}

/// `_PyGenObject_HEAD` (generators, coroutines, async generators share it).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Gen {
    /// 3.9/3.10: `gi_frame`, a `PyFrameObject *` (NULL once finished).
    pub frame: Option<u64>,
    /// 3.9/3.10: `gi_code` (kept after the frame is gone).
    pub code: Option<u64>,
    /// 3.11+: the embedded `_PyInterpreterFrame gi_iframe`.
    pub iframe: Option<u64>,
    /// 3.11+: `gi_frame_state` (int8).
    pub frame_state: Option<u64>,
    /// 3.11+: a `gi_frame_state` at or above this is finished (`FRAME_STATE_FINISHED`), no line.
    pub frame_finished: Option<i64>,
}

/// `PyFunctionObject`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Func {
    /// `func_code`.
    pub code: u64,
}

/// pymalloc (`struct arena_object`, `struct pool_header`, Objects/obmalloc.c; 3.12+
/// `Include/internal/pycore_obmalloc.h`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Obmalloc {
    /// 3.12+: `mgmt.arenas` / `mgmt.maxarenas` inside `struct _obmalloc_state` (`interp.obmalloc`).
    pub state_arenas: Option<u64>,
    pub state_maxarenas: Option<u64>,
    /// `struct arena_object`
    pub arena_object_size: u64,
    pub arena_address: u64,
    pub arena_pool_address: u64,
    pub arena_nfreepools: u64,
    pub arena_ntotalpools: u64,
    /// `struct pool_header`
    pub pool_count: u64,
    pub pool_freeblock: u64,
    pub pool_arenaindex: u64,
    pub pool_szidx: u64,
    pub pool_nextoffset: u64,
    pub pool_maxnextoffset: u64,
    /// `POOL_OVERHEAD`: the first block's offset in a pool.
    pub pool_overhead: u64,
    /// `ALIGNMENT`: size class `szidx` holds blocks of `(szidx + 1) * alignment` bytes.
    pub alignment: u64,
    /// `POOL_SIZE`, `ARENA_SIZE`.
    pub pool_size: u64,
    pub arena_size: u64,
}

/// tracemalloc state and tables (`Include/internal/pycore_tracemalloc.h`, `pycore_hashtable.h`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Tracemalloc {
    /// 3.12+: offsets inside `_PyRuntime.tracemalloc` (at `runtime.tracemalloc`).
    pub state_tracing: Option<u64>,
    pub state_traces: Option<u64>,
    pub state_domains: Option<u64>,
    /// 3.9-3.11: offset of `tracing` in the exported `_Py_tracemalloc_config`.
    pub config_tracing: Option<u64>,
    /// `_Py_hashtable_t`
    pub ht_nentries: u64,
    pub ht_nbuckets: u64,
    pub ht_buckets: u64,
    pub ht_hash_func: u64,
    pub ht_compare_func: u64,
    /// 3.6-3.8 (`Modules/hashtable.h`): `key_size`; entries hold the key inline at `entry_key` and
    /// the value (`trace_t`, by value) right after it, so the value is at `entry_key + key_size`.
    pub ht_key_size: Option<u64>,
    /// `_Py_hashtable_entry_t`
    pub entry_next: u64,
    pub entry_key: u64,
    pub entry_value: u64,
    /// `trace_t`
    pub trace_size: u64,
    pub trace_traceback: u64,
    /// traceback (packed): frame count and first frame
    pub traceback_nframe: u64,
    pub traceback_frames: u64,
    /// frame (packed)
    pub frame_size: u64,
    pub frame_filename: u64,
    pub frame_lineno: u64,
    /// 3.15+: `filename` is a `const char*`, before a `str` object.
    pub filename_is_cstr: bool,
}

/// Private struct fields, each taken from the version's own `.c` source (cited in the generator).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Private {
    /// `dequeobject.leftindex` (Modules/_collectionsmodule.c); `deque.__sizeof__` adds
    /// `(leftindex + len + BLOCKLEN - 1) / BLOCKLEN * sizeof(block)`.
    pub deque_leftindex: u64,
    /// `BLOCKLEN`
    pub deque_blocklen: u64,
    /// `sizeof(block)`
    pub deque_block_size: u64,
    /// `buffered.buffer_size` (Modules/_io/bufferedio.c); `Buffered*.__sizeof__` adds it when
    /// `buffered.buffer` is set.
    pub buffered_buffer: u64,
    pub buffered_buffer_size: u64,
}

/// Fields and sizes that C `__sizeof__` implementations read, from the installed headers or from
/// structs mirrored (and cited) in the generator. `None`: not in this version.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Sizeof {
    /// `PyCodeObject.co_extra`; `sizeof(_PyCodeObjectExtra)` and of one of its `ce_extras`.
    pub code_extra: Option<u64>,
    pub code_extra_size: Option<u64>,
    pub code_extra_item: Option<u64>,
    /// 3.9/3.10 `code_sizeof`: `co_cell2arg`, `co_cellvars`, `co_code`, `co_opcache`, the `unsigned
    /// char co_opcache_size`, `sizeof(_PyOpcache)`, `sizeof(_Py_CODEUNIT)`.
    pub code_cell2arg: Option<u64>,
    pub code_cellvars: Option<u64>,
    pub code_code: Option<u64>,
    pub code_opcache: Option<u64>,
    pub code_opcache_size: Option<u64>,
    pub opcache_size: Option<u64>,
    pub codeunit_size: Option<u64>,
    /// `sizeof(ob_refcnt)` (8; 4 from 3.14) and `offsetof(PyBytesObject, ob_sval)`.
    pub object_refcnt_size: Option<u64>,
    pub bytes_sval: Option<u64>,
    /// Code fields frames and generators are sized by: `co_stacksize`, 3.9/3.10 `co_nlocals` and
    /// `co_freevars` (with `code_cellvars` above), 3.11+ `co_nlocalsplus`, 3.12+ `co_framesize`.
    pub code_stacksize: Option<u64>,
    pub code_nlocals: Option<u64>,
    pub code_freevars: Option<u64>,
    pub code_nlocalsplus: Option<u64>,
    pub code_framesize: Option<u64>,
    /// 3.9/3.10 `frame_sizeof`: `f_code` and `sizeof(PyFrameObject)`.
    pub frame_code: Option<u64>,
    pub frame_struct_size: Option<u64>,
    /// 3.11+ `frame_sizeof`: `f_frame`, `offsetof(PyFrameObject, _f_frame_data)`, the interpreter
    /// frame's code (`f_code`/`f_executable`) and `localsplus`, `FRAME_SPECIALS_SIZE`, and (3.14+)
    /// the `_PyStackRef` tag bit cleared to borrow the code.
    pub frame_frame: Option<u64>,
    pub frame_data: Option<u64>,
    pub iframe_code: Option<u64>,
    pub iframe_localsplus: Option<u64>,
    pub frame_specials_size: Option<u64>,
    pub stackref_tag_refcnt: Option<u64>,
    /// 3.11+ `gen_sizeof`: the embedded frame of generators, coroutines, async generators; 3.11
    /// `gi_code`.
    pub gen_iframe: Option<u64>,
    pub coro_iframe: Option<u64>,
    pub asyncgen_iframe: Option<u64>,
    pub gen_code: Option<u64>,
    /// `PyByteArrayObject.ob_alloc`, `ob_bytes`, and (3.15) `ob_bytes_object`.
    pub bytearray_alloc: Option<u64>,
    pub bytearray_bytes: Option<u64>,
    pub bytearray_bytes_object: Option<u64>,
    /// `arrayobject` (Modules/arraymodule.c): `ob_item`, `allocated`, `ob_descr`, and
    /// `arraydescr.itemsize` (an int).
    pub array_item: Option<u64>,
    pub array_allocated: Option<u64>,
    pub array_descr: Option<u64>,
    pub arraydescr_itemsize: Option<u64>,
    /// `bytesio.buf` (Modules/_io/bytesio.c).
    pub bytesio_buf: Option<u64>,
    /// `PyStructObject.s_codes`, `formatcode.fmtdef`, `sizeof(formatcode)` (Modules/_struct.c).
    pub struct_codes: Option<u64>,
    pub formatcode_fmtdef: Option<u64>,
    pub formatcode_size: Option<u64>,
    /// 3.15 `simplequeueobject.buf.items_cap` (Modules/_queuemodule.c).
    pub simplequeue_items_cap: Option<u64>,
    /// `PyODictObject` (Objects/odictobject.c): `od_first`, `od_fast_nodes_size`, node sizes.
    pub odict_first: Option<u64>,
    pub odict_fast_nodes_size: Option<u64>,
    pub odict_fast_node_ptr_size: Option<u64>,
    pub odict_node_size: Option<u64>,
    pub odict_ma_used: Option<u64>,
    pub odict_size: Option<u64>,
    /// `PyDecObject` (Modules/_decimal): `mpd_t.flags`, `alloc`, `MPD_DATAFLAGS`, limb size.
    pub decimal_flags: Option<u64>,
    pub decimal_alloc: Option<u64>,
    pub decimal_dataflags: Option<u64>,
    pub decimal_limb_size: Option<u64>,
    pub decimal_size: Option<u64>,
    /// itertools objects (Modules/itertoolsmodule.c): `r`, `pool`, `pools` and sizes.
    pub itertools_index_size: Option<u64>,
    pub product_pools: Option<u64>,
    pub product_size: Option<u64>,
    pub combinations_r: Option<u64>,
    pub combinations_size: Option<u64>,
    pub cwr_r: Option<u64>,
    pub cwr_size: Option<u64>,
    pub permutations_pool: Option<u64>,
    pub permutations_r: Option<u64>,
    pub permutations_size: Option<u64>,
    /// `ElementObject` / `ElementObjectExtra` (Modules/_elementtree.c).
    pub element_extra: Option<u64>,
    pub element_extra_size: Option<u64>,
    pub element_extra_allocated: Option<u64>,
    pub element_extra_children: Option<u64>,
    pub element_extra_static_children: Option<u64>,
    pub element_size: Option<u64>,
    /// `PicklerObject` (Modules/_pickle.c): memo table, output buffer; `pickler_size` is the
    /// basic size these offsets hold for (checked before use: it changes between 3.13 patch releases).
    pub pickler_memo: Option<u64>,
    pub pickler_memotable_size: Option<u64>,
    pub pickler_memotable_allocated: Option<u64>,
    pub pickler_memoentry_size: Option<u64>,
    pub pickler_output_buffer: Option<u64>,
    pub pickler_bytes_base: Option<u64>,
    pub pickler_size: Option<u64>,
    /// `UnpicklerObject` (Modules/_pickle.c): memo, marks, input line, encoding, errors;
    /// `unpickler_size` as for the pickler.
    pub unpickler_memo: Option<u64>,
    pub unpickler_memo_size: Option<u64>,
    pub unpickler_input_line: Option<u64>,
    pub unpickler_encoding: Option<u64>,
    pub unpickler_errors: Option<u64>,
    pub unpickler_marks: Option<u64>,
    pub unpickler_marks_size: Option<u64>,
    pub unpickler_ptr_size: Option<u64>,
    pub unpickler_size: Option<u64>,
    /// 3.9-3.12 `StgDictObject` (Modules/_ctypes/ctypes.h).
    pub stgdict_extra: Option<u64>,
    pub stgdict_length: Option<u64>,
    pub stgdict_ffi_elements: Option<u64>,
    pub stgdict_format: Option<u64>,
    pub stgdict_ndim: Option<u64>,
    pub stgdict_size: Option<u64>,
    /// 3.13+ `StgInfo` inside ctypes type objects (Modules/_ctypes/ctypes.h).
    pub ctype_stginfo: Option<u64>,
    pub ctype_initialized: Option<u64>,
    pub ctype_length: Option<u64>,
    pub ctype_ffi_elements: Option<u64>,
    pub ctype_format: Option<u64>,
    pub ctype_ndim: Option<u64>,
    pub ctype_stginfo_size: Option<u64>,
    /// 3.9 `parser.st` and `node` (Modules/parsermodule.c, Include/node.h).
    pub parser_st_node: Option<u64>,
    pub parser_node_size: Option<u64>,
    pub parser_node_str: Option<u64>,
    pub parser_node_nchildren: Option<u64>,
    pub parser_node_child: Option<u64>,
}

/// Which interpreter builds this file describes, and where its numbers came from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Meta {
    /// "3.12"
    pub minor: String,
    /// "default" for upstream builds; otherwise the name of the variant (e.g. "debian" for Debian's
    /// 3.13 `PyGC_Head` alignment patch, "generational" for 3.14.5+).
    pub variant: String,
    /// Lowest patch release this file applies to (inclusive).
    pub min_patch: u32,
    /// Highest patch release this file applies to (inclusive); `None` = no upper bound.
    pub max_patch: Option<u32>,
    /// How the variant is recognised at run time, in words (for humans and error messages).
    pub detect: String,
    /// Where each value came from: header set, tool, and cross-checks.
    pub provenance: Vec<String>,
}

/// `_PyRuntimeState`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Runtime {
    /// `interpreters.head`
    pub interpreters_head: u64,
    /// `interpreters.main`
    pub interpreters_main: u64,
    /// `gilstate.tstate_current` (3.9–3.11): tstate holding the GIL.
    pub gilstate_tstate_current: Option<u64>,
    /// `ceval.gil` (3.9–3.11): the `struct _gil_runtime_state` embedded in the runtime.
    pub ceval_gil: Option<u64>,
    /// `tracemalloc` (3.12+): `struct _tracemalloc_runtime_state`.
    pub tracemalloc: Option<u64>,
    /// `gc` (3.7/3.8): the process-wide `struct _gc_runtime_state` (3.9+: `interp.gc`).
    pub gc: Option<u64>,
}

impl Layout {
    /// Address of the gc state (`struct _gc_runtime_state`) that serves interpreter `interp`:
    /// `interp.gc` (3.9+) or the process-wide `runtime.gc` (3.7/3.8).
    pub fn gc_state(&self, runtime: u64, interp: u64) -> u64 {
        match (self.interp.gc, self.runtime.gc) {
            (Some(o), _) => interp.wrapping_add(o),
            (None, Some(o)) => runtime.wrapping_add(o),
            (None, None) => 0,
        }
    }
}

/// `PyInterpreterState`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Interp {
    pub next: u64,
    /// `tstate_head` (3.9/3.10) or `threads.head` (3.11+).
    pub threads_head: u64,
    /// `threads.main` (3.13+).
    pub threads_main: Option<u64>,
    /// `gc` (3.9+: the embedded `struct _gc_runtime_state`; 3.7/3.8: `runtime.gc`).
    pub gc: Option<u64>,
    /// `modules` (≤3.11) or `imports.modules` (3.12+): the `sys.modules` dict.
    pub modules: u64,
    /// `ceval.gil` (3.12+): pointer to the `struct _gil_runtime_state` in use.
    pub ceval_gil_ptr: Option<u64>,
    /// `obmalloc` (3.12: embedded struct; 3.13+: pointer, see `obmalloc_is_pointer`).
    pub obmalloc: Option<u64>,
    pub obmalloc_is_pointer: Option<bool>,
}

/// `struct _gil_runtime_state`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Gil {
    pub last_holder: u64,
    pub locked: u64,
}

/// `PyThreadState`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ThreadState {
    pub size: u64,
    pub next: u64,
    pub interp: u64,
    /// pthread_t of the thread (`threading.get_ident()`).
    pub thread_id: u64,
    /// Kernel TID in the target's pid namespace (3.11+).
    pub native_thread_id: Option<u64>,
    /// `frame` (3.9/3.10): newest `PyFrameObject*`.
    pub frame: Option<u64>,
    /// `cframe` (3.11/3.12): pointer to `_PyCFrame`.
    pub cframe: Option<u64>,
    /// `_PyCFrame.current_frame` (3.11/3.12).
    pub cframe_current_frame: Option<u64>,
    /// `current_frame` (3.13+): newest `_PyInterpreterFrame*`.
    pub current_frame: Option<u64>,
    /// `_status` word (3.13) with `holds_gil` at bit `status_holds_gil_bit`.
    pub status: Option<u64>,
    pub status_holds_gil_bit: Option<u32>,
    /// `holds_gil` int (3.14+).
    pub holds_gil: Option<u64>,
    /// `datastack_chunk` (3.11+).
    pub datastack_chunk: Option<u64>,
    /// `base_frame` (3.15+): sentinel at the bottom of each stack.
    pub base_frame: Option<u64>,
}

/// `struct _gc_runtime_state` and `PyGC_Head`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Gc {
    /// sizeof(struct _gc_runtime_state); also `_Py_DebugOffsets.gc.size` (3.13+).
    pub size: u64,
    /// Offsets (within the gc state) of every list-head `PyGC_Head` holding tracked objects: the
    /// generations (or young/old spaces) followed by the permanent generation, in that order.
    pub list_heads: Vec<u64>,
    /// Names for `list_heads`, same order ("generation0", ..., "permanent").
    pub list_names: Vec<String>,
    /// Offset of `permanent_generation` (also the last entry of `list_heads`); none before 3.7.
    pub permanent_generation: Option<u64>,
    pub collecting: u64,
    /// sizeof(PyGC_Head); the header sits right before the object.
    pub head_size: u64,
    /// Mask of flag bits in `_gc_next`/`_gc_prev` (pointer = word & !flag_mask).
    pub flag_mask: u64,
}

/// `PyObject` / `PyVarObject`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Object {
    pub refcnt: u64,
    pub ob_type: u64,
    /// `PyVarObject.ob_size`.
    pub ob_size: u64,
    /// sizeof(PyObject)
    pub size: u64,
}

/// `PyTypeObject` and `PyHeapTypeObject`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TypeObject {
    pub tp_name: u64,
    pub tp_basicsize: u64,
    pub tp_itemsize: u64,
    pub tp_flags: u64,
    pub tp_base: u64,
    pub tp_dict: u64,
    pub tp_dictoffset: u64,
    pub tp_mro: u64,
    pub tp_members: u64,
    pub tp_weaklistoffset: u64,
    /// sizeof(PyTypeObject)
    pub size: u64,
    pub ht_name: u64,
    pub ht_qualname: u64,
    pub ht_cached_keys: u64,
    pub ht_module: Option<u64>,
    /// sizeof(PyHeapTypeObject)
    pub heap_size: u64,
}

/// `PyFrameObject` (exists in every version; the executing frame itself up to 3.10).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FrameObject {
    /// `f_back` (3.9/3.10)
    pub f_back: Option<u64>,
    /// `f_code` (3.9/3.10)
    pub f_code: Option<u64>,
    /// `f_lasti` (3.9: bytes; 3.10: code units)
    pub f_lasti: Option<u64>,
    /// `f_lineno`
    pub f_lineno: u64,
    /// `f_trace`
    pub f_trace: u64,
    /// `f_frame` (3.11+): pointer to the `_PyInterpreterFrame`.
    pub f_frame: Option<u64>,
    /// `f_lasti` unit: 1 (bytes, 3.9) or 2 (code units, 3.10). None for 3.11+.
    pub lasti_unit: Option<u64>,
    /// 3.9/3.10: `f_localsplus`, the frame's fast locals (3.11+: `iframe.localsplus`).
    pub f_localsplus: Option<u64>,
    /// sizeof(PyFrameObject) (tp_basicsize of frame).
    pub size: u64,
}

/// `_PyInterpreterFrame` (3.11+).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct InterpreterFrame {
    /// `f_code` (3.11/3.12) or `f_executable` (3.13+).
    pub executable: u64,
    pub previous: u64,
    /// `prev_instr` (3.11/3.12) or `instr_ptr` (3.13+).
    pub instr_ptr: u64,
    /// true when `instr_ptr` is `prev_instr` (points at the code unit before the next instruction).
    pub instr_is_prev: bool,
    pub owner: u64,
    pub localsplus: u64,
    pub stackpointer: Option<u64>,
    /// Bits to mask off `f_executable` (`_PyStackRef` tags; 3 in 3.14+, 0 before).
    pub executable_tag_mask: u64,
    /// `FRAME_OWNED_BY_GENERATOR`
    pub owner_generator: u8,
    /// Owners that are not Python frames (CSTACK/INTERPRETER entry frames): skip.
    pub owner_skip: Vec<u8>,
    /// sizeof(_PyInterpreterFrame)
    pub size: u64,
}

/// `PyCodeObject`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Code {
    pub co_filename: u64,
    pub co_name: u64,
    pub co_qualname: Option<u64>,
    /// `co_lnotab` (3.9) or `co_linetable` (3.10+).
    pub co_linetable: u64,
    /// "lnotab" (3.9), "pep626" (3.10), "pep657" (3.11+).
    pub linetable_format: String,
    /// `co_firstlineno` (int)
    pub co_firstlineno: u64,
    /// `co_code_adaptive` (3.11+): inline bytecode.
    pub co_code_adaptive: Option<u64>,
    /// `_co_firsttraceable` (3.11+, int)
    pub co_firsttraceable: Option<u64>,
    /// Names of the fast locals: `co_localsplusnames` (3.11+, one per localsplus slot) or
    /// `co_varnames` (3.9/3.10, the first slots of `f_localsplus`).
    pub local_names: u64,
}

/// `PyASCIIObject` / `PyCompactUnicodeObject` / `PyUnicodeObject`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Unicode {
    pub length: u64,
    pub state: u64,
    /// sizeof(PyASCIIObject): compact ASCII data starts here.
    pub ascii_size: u64,
    /// sizeof(PyCompactUnicodeObject): compact non-ASCII data starts here.
    pub compact_size: u64,
    /// `PyUnicodeObject.data.any` (legacy strings).
    pub data_any: u64,
    /// Bit position and width of `kind` in the 32-bit state word.
    pub kind_shift: u32,
    pub kind_bits: u32,
    pub compact_bit: u32,
    pub ascii_bit: u32,
    /// `ready` bit (≤3.11).
    pub ready_bit: Option<u32>,
}

/// `PyBytesObject`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Bytes {
    pub ob_sval: u64,
}

/// `PyLongObject`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Long {
    /// `ob_size` (≤3.11, signed digit count) or `long_value.lv_tag` (3.12+).
    pub size_or_tag: u64,
    /// true for the 3.12+ `lv_tag` encoding (ndigits = tag >> 3, sign = tag & 3).
    pub lv_tag: bool,
    pub ob_digit: u64,
    /// bits per digit (PyLong_SHIFT)
    pub shift: u32,
    /// sizeof(digit)
    pub digit_size: u64,
    /// `int.__sizeof__` counts at least one digit (3.11+; zero allocates one).
    pub sizeof_min_one_digit: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Tuple {
    pub ob_item: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct List {
    pub ob_item: u64,
    pub allocated: u64,
}

/// `PyDictObject`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Dict {
    pub ma_used: u64,
    pub ma_keys: u64,
    pub ma_values: u64,
    /// Offset of `values[0]` inside `PyDictValues` (0 before 3.13; 3.13 added capacity/size/embedded/valid
    /// bytes in front).
    pub values_offset: Option<u64>,
}

/// `PyDictKeysObject` (`struct _dictkeysobject`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DictKeys {
    pub dk_refcnt: u64,
    /// `dk_size` (≤3.10, Py_ssize_t)
    pub dk_size: Option<u64>,
    /// `dk_log2_size` (3.11+, uint8)
    pub dk_log2_size: Option<u64>,
    /// `dk_log2_index_bytes` (3.11+, uint8)
    pub dk_log2_index_bytes: Option<u64>,
    /// `dk_kind` (3.11+, uint8): 0 general, 1 unicode, 2 split
    pub dk_kind: Option<u64>,
    pub dk_usable: u64,
    pub dk_nentries: u64,
    pub dk_indices: u64,
    /// sizeof(PyDictKeysObject) as used by `_PyDict_KeysSize`
    pub size: u64,
    /// sizeof(PyDictKeyEntry) {hash, key, value}
    pub entry_size: u64,
    /// sizeof(PyDictUnicodeEntry) {key, value} (3.11+)
    pub unicode_entry_size: Option<u64>,
}

/// `PySetObject`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Set {
    pub fill: u64,
    pub used: u64,
    pub mask: u64,
    pub table: u64,
    pub smalltable: u64,
    /// sizeof(setentry)
    pub entry_size: u64,
}

/// Constants and object-layout rules that are not struct offsets.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Misc {
    /// `Py_TPFLAGS_HEAPTYPE`
    pub tpflags_heaptype: u64,
    /// `Py_TPFLAGS_HAVE_GC`
    pub tpflags_have_gc: u64,
    /// `Py_TPFLAGS_UNICODE_SUBCLASS`: the type is `str` or a subclass of it.
    pub tpflags_unicode_subclass: u64,
    /// Flags whose presence adds the 16-byte managed pre-header (dict/weakref) before the GC header:
    /// 0 before 3.11, `MANAGED_DICT` in 3.11, `MANAGED_DICT|MANAGED_WEAKREF` in 3.12+.
    pub tpflags_preheader: u64,
    /// Size of that managed pre-header.
    pub preheader_size: u64,
    /// `Py_TPFLAGS_MANAGED_DICT` (0 before 3.11).
    pub tpflags_managed_dict: u64,
    /// `Py_TPFLAGS_INLINE_VALUES` (3.13+, else 0).
    pub tpflags_inline_values: u64,
    /// How `sys.getsizeof` adds the pre-header: "gc_only" (3.9/3.10: +GC head if the object is GC),
    /// "preheader" (3.11/3.12: +`_PyType_PreHeaderSize`), "preheader_not_static_type" (3.13+: same, but
    /// nothing for static type objects).
    pub getsizeof_rule: String,
}

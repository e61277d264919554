//! Which origin hint a type's instances get (generators, functions, asyncio futures and tasks),
//! decided once per type from its name and (asyncio) its basic size; the hints themselves are read by
//! [`crate::analysis::origins`].

use super::reader::Reader;
use leakspy_memory::MemoryExt;

/// Most `tp_base` steps when looking for `_asyncio.Future`/`Task`.
const MAX_BASES: usize = 32;

/// Which hint a type gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OriginKind {
    /// generator, coroutine, async_generator: the code and current line of the suspended frame.
    Suspended,
    /// function: the code and its `def` line.
    Defined,
    /// asyncio Future/Task: where `_source_traceback` says it was created (debug mode only).
    Created,
}

impl OriginKind {
    /// The hint for a static type named `name` (`builtins.generator`, ...), if any.
    pub fn for_static_type(name: &str) -> Option<OriginKind> {
        match name {
            "builtins.generator" | "builtins.coroutine" | "builtins.async_generator" => {
                Some(OriginKind::Suspended)
            }
            "builtins.function" => Some(OriginKind::Defined),
            _ => None,
        }
    }

    /// `Created` for `_asyncio.Future`, `_asyncio.Task` (static types up to 3.11, heap types from
    /// 3.12, named by their spec) and classes derived from them. The C type is recognised by its
    /// `tp_name` and a `tp_basicsize` equal to the mirrored struct's size, so `fut_source_tb` is
    /// only read from objects that have it.
    pub fn for_asyncio_type(r: &Reader<'_>, tp: u64) -> Option<OriginKind> {
        let a = r.l.asyncio.as_ref()?;
        let t = &r.l.type_;
        let mut cur = tp;
        for _ in 0..MAX_BASES {
            if cur == 0 {
                return None;
            }
            let raw = r.mem.read_cstr(r.ptr(cur + t.tp_name).ok()?, 64).ok()?;
            let want = match raw.as_slice() {
                b"_asyncio.Future" => Some(a.future_size),
                b"_asyncio.Task" => Some(a.task_size),
                _ => None,
            };
            if let Some(size) = want {
                let basicsize = r.mem.read_u64(cur + t.tp_basicsize).ok()?;
                return (basicsize == size).then_some(OriginKind::Created);
            }
            cur = r.ptr(cur + t.tp_base).ok()?;
        }
        None
    }
}

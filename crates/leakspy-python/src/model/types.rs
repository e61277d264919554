//! What leakspy knows about one type object, and how Python names it.

use super::reader::Reader;
use super::sizes::SizeKind;
use crate::error::Result;
use leakspy_memory::MemoryExt;

/// What leakspy needs to know about one type object.
#[derive(Debug, Clone)]
pub struct TypeInfo {
    /// `module.qualname`, as Python spells `f"{t.__module__}.{t.__qualname__}"`.
    pub name: String,
    pub basicsize: u64,
    pub itemsize: u64,
    pub flags: u64,
    pub size_kind: SizeKind,
    /// Whether `sys.getsizeof` of the instances is reproduced exactly ([`crate::model::sizes::resolve`]).
    pub size_exact: bool,
    /// When not exact: the class whose `__sizeof__` applies and how it is written ("C", "Python").
    pub sizeof_owner: Option<(String, &'static str)>,
    /// Generators, coroutines, functions and asyncio futures/tasks carry an origin hint.
    pub origin: Option<super::origin_kind::OriginKind>,
    /// `tuple` or a subclass of it: items inline after the header.
    pub tuple_like: bool,
    /// A static type whose instances hold no references (float, complex, bytes, bytearray, bool).
    pub is_atom: bool,
    /// The object is itself a type object (`type` or a metaclass is its type).
    pub is_type: bool,
    /// numpy's array layout, for `numpy.ndarray` and subclasses (the ABI of the numpy the target
    /// imported).
    pub numpy: Option<std::sync::Arc<leakspy_layout::NumpyLayout>>,
}

/// `f"{t.__module__}.{t.__qualname__}"` (typeobject.c `type_module` / `type_qualname`).
pub fn type_name(r: &Reader<'_>, tp: u64, flags: u64) -> Result<String> {
    let t = &r.l.type_;
    if flags & r.l.misc.tpflags_heaptype != 0 {
        let qualname = r.str(r.ptr(tp + t.ht_qualname)?)?;
        let dict = r.ptr(tp + t.tp_dict)?;
        let module = match if dict != 0 {
            r.dict_get_str(dict, "__module__")?
        } else {
            None
        } {
            Some(m) if r.is_str(m) => r.str(m).unwrap_or_else(|_| "?".into()),
            // Not a str: a type whose instances have a `__module__` member keeps that descriptor
            // in its `__dict__` (Cython's function types), and its metatype answers
            // `t.__module__` from the spec name, as C heap types do: the part of `tp_name` before
            // the last dot.
            _ => {
                let raw = r.mem.read_cstr(r.ptr(tp + t.tp_name)?, 512)?;
                let name = String::from_utf8_lossy(&raw).into_owned();
                match name.rsplit_once('.') {
                    Some((module, _)) => module.to_string(),
                    None => "builtins".into(),
                }
            }
        };
        Ok(format!("{module}.{qualname}"))
    } else {
        let raw = r.mem.read_cstr(r.ptr(tp + t.tp_name)?, 512)?;
        let name = String::from_utf8_lossy(&raw).into_owned();
        Ok(if name.contains('.') {
            name
        } else {
            format!("builtins.{name}")
        })
    }
}

/// [`type_name`] of the type object at `tp`.
pub fn type_name_of(r: &Reader<'_>, tp: u64) -> Result<String> {
    let flags = r.mem.read_u64(tp + r.l.type_.tp_flags)?;
    type_name(r, tp, flags)
}

/// Whether `tp` is the static type named `name` or derives from it.
pub fn has_static_base(r: &Reader<'_>, tp: u64, name: &[u8]) -> bool {
    let t = &r.l.type_;
    let mut cur = tp;
    for _ in 0..64 {
        if cur == 0 {
            return false;
        }
        let found = (|| -> Result<bool> {
            let flags = r.mem.read_u64(cur + t.tp_flags)?;
            Ok(flags & r.l.misc.tpflags_heaptype == 0
                && r.mem.read_cstr(r.ptr(cur + t.tp_name)?, 64)? == name)
        })();
        match found {
            Ok(true) => return true,
            Ok(false) => {}
            Err(_) => return false,
        }
        cur = match r.ptr(cur + t.tp_base) {
            Ok(b) => b,
            Err(_) => return false,
        };
    }
    false
}

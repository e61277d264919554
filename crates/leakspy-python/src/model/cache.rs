//! Types by address, read once: a [`TypeInfo`] with its size rule ([`super::sizes::resolve`])
//! and origin hint ([`super::origin_kind`]).

use super::reader::Reader;
use super::types::{has_static_base, type_name, TypeInfo};
use crate::error::{Error, Result};
use leakspy_memory::MemoryExt;
use rustc_hash::FxHashMap;

/// Types by address, read once.
#[derive(Debug, Default, Clone)]
pub struct TypeCache {
    types: FxHashMap<u64, Option<TypeInfo>>,
    /// The layout of the numpy the target imported ([`crate::model::sizes::numpy_layout`]); without it
    /// `numpy.ndarray` is counted at its basic size and flagged not exact.
    pub numpy: Option<std::sync::Arc<leakspy_layout::NumpyLayout>>,
}

impl TypeCache {
    pub fn get(&mut self, r: &Reader<'_>, tp: u64) -> Option<&TypeInfo> {
        let numpy = &self.numpy;
        self.types
            .entry(tp)
            .or_insert_with(|| {
                read_type(r, tp).ok().map(|mut t| {
                    crate::model::sizes::attach_numpy(&mut t, numpy.as_ref());
                    t
                })
            })
            .as_ref()
    }
    /// What [`TypeCache::get`] would return, when `tp` was read before (`None`: not read yet).
    pub fn peek(&self, tp: u64) -> Option<Option<&TypeInfo>> {
        self.types.get(&tp).map(Option::as_ref)
    }
    pub fn len(&self) -> usize {
        self.types.len()
    }
    pub fn is_empty(&self) -> bool {
        self.types.is_empty()
    }
}

/// Read one type object. Fails on anything that does not look like a type.
pub fn read_type(r: &Reader<'_>, tp: u64) -> Result<TypeInfo> {
    let t = &r.l.type_;
    let flags = r.mem.read_u64(tp + t.tp_flags)?;
    let basicsize = r.mem.read_u64(tp + t.tp_basicsize)?;
    let itemsize = r.mem.read_u64(tp + t.tp_itemsize)?;
    if basicsize == 0 || basicsize > 1 << 24 || itemsize > 1 << 16 {
        return Err(Error::Other(format!("{tp:#x} is not a type object")));
    }
    let name = type_name(r, tp, flags)?;
    let origin = if flags & r.l.misc.tpflags_heaptype == 0 {
        super::origin_kind::OriginKind::for_static_type(&name)
    } else {
        None
    }
    .or_else(|| super::origin_kind::OriginKind::for_asyncio_type(r, tp));
    let is_static = flags & r.l.misc.tpflags_heaptype == 0;
    let is_atom = is_static
        && matches!(
            name.as_str(),
            "builtins.float"
                | "builtins.complex"
                | "builtins.bytes"
                | "builtins.bytearray"
                | "builtins.bool"
        );
    let rule = crate::model::sizes::resolve(r, tp)?;
    Ok(TypeInfo {
        tuple_like: has_static_base(r, tp, b"tuple"),
        is_atom,
        is_type: has_static_base(r, tp, b"type"),
        name,
        basicsize,
        itemsize,
        flags,
        size_kind: rule.kind,
        size_exact: rule.exact,
        sizeof_owner: rule.owner,
        origin,
        numpy: None,
    })
}

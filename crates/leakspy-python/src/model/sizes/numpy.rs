//! `numpy.ndarray.__sizeof__`, with the layout of the numpy ABI the target imported
//! (`python-layouts/numpy.toml`).

use super::SizeKind;
use crate::error::{Error, Result};
use crate::model::{Reader, TypeInfo};
use leakspy_memory::MemoryExt;

/// Give an `ndarray` type the numpy layout of the target; without one (numpy not found in
/// `sys.modules`, or a major version leakspy has no layout for) its size is not modelled.
pub fn attach_numpy(t: &mut TypeInfo, numpy: Option<&std::sync::Arc<leakspy_layout::NumpyLayout>>) {
    if t.size_kind != SizeKind::NdArray {
        return;
    }
    match numpy {
        Some(l) => t.numpy = Some(l.clone()),
        None => {
            t.size_kind = SizeKind::Unmodelled;
            t.size_exact = false;
            t.sizeof_owner = Some(("numpy.ndarray".into(), "C, numpy version not recognised"));
        }
    }
}

/// The layout of the numpy that interpreter `interp` imported: `numpy.__version__` from
/// `sys.modules`, its major version picking the ABI.
pub fn numpy_layout(r: &Reader<'_>, interp: u64) -> Option<leakspy_layout::NumpyLayout> {
    let modules = r.ptr(interp + r.l.interp.modules).ok()?;
    let numpy = r.dict_get_str(modules, "numpy").ok()??;
    // PyModuleObject { PyObject_HEAD; PyObject *md_dict; ... }
    let md_dict = r.ptr(numpy + r.l.object.size).ok()?;
    let version = r.dict_get_str(md_dict, "__version__").ok()??;
    let text = r.str(version).ok()?;
    let major: u64 = text.split('.').next()?.parse().ok()?;
    leakspy_layout::numpy_layouts().for_major(major).cloned()
}

/// Most dimensions an array may have (`NPY_MAXDIMS` is 64 in numpy 2, 32 before).
const MAX_NDIM: u64 = 64;

/// `array_sizeof` (numpy `methods.c`): the type's basic size, a dimension and a stride per axis,
/// and, when the array owns its data (`NPY_ARRAY_OWNDATA`), `elsize * product(dimensions)`.
pub(super) fn ndarray_sizeof(r: &Reader<'_>, obj: u64, t: &TypeInfo) -> Result<u64> {
    let l = t
        .numpy
        .as_deref()
        .ok_or_else(|| Error::Other("no numpy layout".into()))?;
    let read_n = |addr: u64, size: u64| -> Result<u64> {
        Ok(match size {
            4 => u64::from(r.mem.read_u32(addr)?),
            _ => r.mem.read_u64(addr)?,
        })
    };
    let nd = read_n(obj + l.array_nd, l.array_nd_size)?;
    if nd > MAX_NDIM {
        return Err(Error::Other(format!(
            "ndarray at {obj:#x}: {nd} dimensions"
        )));
    }
    let mut n = t
        .basicsize
        .saturating_add(nd.saturating_mul(2).saturating_mul(l.sizeof_npy_intp));
    let flags = read_n(obj + l.array_flags, l.array_flags_size)?;
    if flags & l.array_owndata != 0 {
        n = n.saturating_add(ndarray_nbytes(r, obj, l, nd)?);
    }
    Ok(n)
}

/// `PyArray_NBYTES`: the item size times every dimension.
fn ndarray_nbytes(
    r: &Reader<'_>,
    obj: u64,
    l: &leakspy_layout::NumpyLayout,
    nd: u64,
) -> Result<u64> {
    let descr = r.ptr(obj + l.array_descr)?;
    let elsize = match l.descr_elsize_size {
        4 => u64::from(r.mem.read_u32(descr + l.descr_elsize)?),
        _ => r.mem.read_u64(descr + l.descr_elsize)?,
    };
    let dims = r.ptr(obj + l.array_dimensions)?;
    let mut n = elsize;
    if nd > 0 {
        let raw = r.mem.read_vec(dims, (nd * 8) as usize)?;
        for w in raw.chunks_exact(8) {
            n = n.saturating_mul(u64::from_le_bytes(w.try_into().unwrap_or_default()));
        }
    }
    Ok(n)
}

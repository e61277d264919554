//! numpy's `ndarray` layout, for `numpy.ndarray.__sizeof__`: `python-layouts/numpy.toml`, generated
//! by `tools/layoutgen/numpy.sh` from numpy's installed headers, one section per ABI (numpy 1.x,
//! 2.x: `PyArray_Descr.elsize` moved and widened in 2.0).

use serde::{Deserialize, Serialize};

/// `python-layouts/numpy.toml`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NumpyLayouts {
    pub numpy1: NumpyLayout,
    pub numpy2: NumpyLayout,
}

/// One numpy ABI: `PyArrayObject_fields` and `PyArray_Descr` offsets (x86_64).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct NumpyLayout {
    pub numpy_major: u64,
    pub abi_version: u64,
    pub sizeof_npy_intp: u64,
    pub array_data: u64,
    pub array_nd: u64,
    pub array_nd_size: u64,
    pub array_dimensions: u64,
    pub array_strides: u64,
    pub array_base: u64,
    pub array_descr: u64,
    pub array_flags: u64,
    pub array_flags_size: u64,
    pub sizeof_array_fields: u64,
    /// `NPY_ARRAY_OWNDATA`
    pub array_owndata: u64,
    pub descr_typeobj: u64,
    pub descr_type_num: u64,
    pub descr_elsize: u64,
    pub descr_elsize_size: u64,
    /// The rule, in words (documentation only).
    pub sizeof_rule: String,
}

/// The shipped numpy layouts.
pub fn numpy_layouts() -> NumpyLayouts {
    toml::from_str(include_str!("../../../python-layouts/numpy.toml"))
        .expect("python-layouts/numpy.toml is valid (checked by a unit test)")
}

impl NumpyLayouts {
    /// The layout of numpy major version `major`, if leakspy has one.
    pub fn for_major(&self, major: u64) -> Option<&NumpyLayout> {
        [&self.numpy1, &self.numpy2]
            .into_iter()
            .find(|l| l.numpy_major == major)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn shipped_numpy_layouts_parse() {
        let l = super::numpy_layouts();
        assert_eq!(l.numpy1.numpy_major, 1);
        assert_eq!(l.numpy2.numpy_major, 2);
        assert_eq!(l.for_major(2).map(|l| l.descr_elsize_size), Some(8));
    }
}

//! The CPython model.
#![forbid(unsafe_code)]
pub mod decode;

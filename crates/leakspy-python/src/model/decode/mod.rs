//! Pure decoders of target bytes.
//!
//! Everything here is total on arbitrary input: garbage yields `None`
//! (or a best-effort value where the signature has no failure case), never
//! a panic, and work is bounded by the length of the input slices.
pub mod linetable;
pub mod long;
pub mod unicode;

//! Target memory access.

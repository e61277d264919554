//! Attaching to a target: which process it is, which binaries hold the interpreter, which CPython
//! version and layout apply ([`process`], [`binaries`], [`version`]), and the opt-in code execution
//! of `leakspy trace` ([`remote_exec`]).
//!
//! May import: `error`, the layout and memory crates.

pub mod binaries;
pub mod process;
pub mod remote_exec;
pub mod version;

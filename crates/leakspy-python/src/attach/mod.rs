//! Attaching to a target: which process it is, which binaries hold the interpreter, which CPython
//! version and layout apply ([`process`], [`binaries`], [`version`]), a process's descendants for
//! `--subprocesses` ([`children`]), and the opt-in code execution
//! of `leakspy trace` ([`remote_exec`]).
//!
//! May import: `error`, the layout and memory crates.

pub mod binaries;
pub mod children;
pub mod elf_sparse;
pub mod free_threaded;
pub mod globals;
pub mod process;
pub mod remote_exec;
pub mod version;

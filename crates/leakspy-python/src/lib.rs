//! The CPython model over target memory.
//!
//! Pipeline: [`process`] identifies the interpreter (image, version, runtime address, layout);
//! [`stacks`] walks threads and frames; [`heap`] walks the GC lists into a histogram; [`objects`] reads
//! single objects; [`decode`] holds the pure decoders (line tables, str, int) that turn target bytes into
//! values. Nothing here prints or pauses: [`dump`] ties the pieces into one report for the binary.
#![forbid(unsafe_code)]

pub mod arenas;
pub mod binaries;
pub mod coredump;
pub mod decode;
pub mod dominators;
pub mod dump;
pub mod error;
pub mod heap;
pub mod memstats;
pub mod objects;
pub mod origins;
pub mod process;
pub mod referents;
pub mod refs;
pub mod remote_exec;
pub mod sizes;
pub mod stacks;
pub mod threadnames;
pub mod trace;
pub mod tracemalloc;
pub mod untracked;
pub mod version;

pub use error::{Error, Result};

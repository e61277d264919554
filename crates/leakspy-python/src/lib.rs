//! The CPython model over target memory, from a pid (or a core file) to a report.
//!
//! The pipeline, each stage a folder that imports only the stages before it:
//!
//! ```text
//!   --pid / --core
//!       │
//!   attach/     which process, which interpreter: the image, version, runtime address, layout
//!       │       (process, binaries, version; remote_exec for the opt-in `trace`)
//!   model/      the object Reader, type info, every sys.getsizeof rule (sizes), pure decoders
//!       │
//!   stacks/     threads, frames, line numbers, thread names
//!       │
//!   heap/       walkers that find objects: the GC lists, pymalloc's arenas, the reference walk
//!       │       (referents); each found object goes to the consumers through one seam (heap::Sink)
//!   analysis/   consumers of found objects: histogram, allocation sites (tracemalloc), origin
//!       │       hints, the refs graph and dominators; the memory breakdown
//!   dump, coredump, trace, fleet (`--subprocesses`: one dump per process of a service)
//!               the commands that tie them into one report for the binary
//! ```
//!
//! Nothing here prints; only `dump`/`trace` pause the target (through leakspy-memory).
#![forbid(unsafe_code)]

pub mod analysis;
pub mod attach;
pub mod budget;
pub mod coredump;
pub mod dump;
pub mod error;
pub mod fleet;
pub mod heap;
pub mod model;
pub mod record;
pub mod stacks;
pub mod trace;

pub use error::{Error, Result};

//! Consumers of the objects the heap walkers find (each a [`crate::heap::Sink`]: [`histogram`],
//! [`sites`], [`origins`], [`graph`]; wired together by [`walk`]), and what is computed from them: allocation
//! sites from the target's tracemalloc tables ([`tracemalloc`], kept in a [`tracemap`]), origin hints ([`origins`]), who
//! holds what ([`refs`], with [`dominators`] for retained sizes; [`retained`] per owner for `record`), and the resident-memory
//! breakdown ([`memstats`]).
//!
//! May import: `error`, `model`, `stacks`, `heap` (its graph and the seam's types), `attach`.

pub mod dominators;
pub mod export;
pub mod graph;
pub mod histogram;
pub mod memstats;
pub mod origins;
pub mod refs;
pub mod retained;
pub mod sites;
pub mod tracemalloc;
pub mod tracemap;
pub mod walk;

pub use graph::HeapGraph;
pub use histogram::{GroupBy, HeapHistogram, ObjectTable, Site, TypeStat};
pub use walk::HeapWalker;

//! Walkers that find the objects of the heap, each at most once, and hand each one to the consumers
//! through one seam, [`Sink`]: [`gc_lists`] (every GC-tracked object), then [`untracked`] (every
//! validated block of pymalloc's [`arenas`], and the reference walk over [`referents`] that finds
//! what lies outside them).
//!
//! The walkers share a [`Census`]: the objects found so far (so none is counted twice), their
//! types (read once) and sizes (`model::sizes`), an object budget, and what went wrong. They know
//! nothing of what is done with an object (histogram, sites, origins, identities, the refs graph:
//! `analysis`), and are bounded: back-link checks detect a list rewritten under them, garbage gives
//! warnings and a partial result, never a failure.
//!
//! May import: `error`, `model`, `attach::binaries` (the image's static types). Never `analysis`.

pub mod arenas;
pub mod compact;
pub mod gc_lists;
pub mod mimalloc;
mod parallel;
pub mod referents;
pub mod untracked;

use crate::model::sizes::{getsizeof, getsizeof_untracked};
use crate::model::{Reader, TypeCache, TypeInfo};
use rustc_hash::FxHashSet;

pub use compact::{Objects, Seen};

/// Objects walked at most (per dump), whatever the lists say.
pub const MAX_OBJECTS: u64 = 200_000_000;

pub use crate::model::sizes::MAX_OBJECT_SIZE;

/// One object a walker found, as the consumers see it.
#[derive(Debug, Clone, Copy)]
pub struct Found<'t> {
    pub addr: u64,
    /// Its type object.
    pub tp: u64,
    /// What leakspy knows of the type (`None`: unreadable).
    pub info: Option<&'t TypeInfo>,
    /// `sys.getsizeof` of it, as the target computes it.
    pub size: u64,
    /// On a GC list.
    pub tracked: bool,
    /// On the permanent generation (`gc.freeze()`).
    pub frozen: bool,
    /// Its index among the objects found (whole-heap walks only: node `index` of the graph).
    pub index: Option<u32>,
}

/// Where walkers send what they find. Each object is sent once, in the order found; references
/// only when [`Sink::wants_references`] says so.
pub trait Sink {
    fn object(&mut self, r: &Reader<'_>, o: &Found<'_>);
    /// Whether the reference walk should report every object's references ([`Sink::references`]).
    fn wants_references(&self) -> bool {
        false
    }
    /// The objects (by index) that object `from` refers to, once per object, in index order.
    fn references(&mut self, _from: u32, _to: &[u32]) {}
}

/// What the walk itself found out, whatever the consumers do with the objects.
#[derive(Debug, Clone, Default)]
pub struct WalkStats {
    /// Objects found, and the GC-tracked part of them.
    pub objects: u64,
    pub tracked_objects: u64,
    /// Whether objects the GC does not track were looked for (false with `--gc-only`).
    pub untracked_counted: bool,
    /// Of the objects' bytes: what lies outside pymalloc's arenas, when the arenas were found.
    pub outside_arenas_bytes: Option<u64>,
    /// pymalloc's arenas (when found).
    pub pymalloc: Option<arenas::ArenaStats>,
    /// Objects per GC list ("generation0", ..., "permanent"), summed over interpreters.
    pub generations: Vec<(String, u64)>,
    /// Objects whose size could not be computed (counted at their type's basic size).
    pub size_errors: u64,
    /// Of those, how many per type name (for the warning).
    pub size_error_types: std::collections::BTreeMap<String, u64>,
    /// The first [`MAX_SIZE_ERROR_ADDRS`] of them (a paused dump retakes a picture whose unsizable
    /// objects differ from the last picture's: see `HeapHistogram::size_error_addrs`).
    pub size_error_addrs: Vec<u64>,
    /// Something went wrong mid-walk; the numbers cover what was read.
    pub partial: bool,
    /// A GC list or a pymalloc pool changed under the copy (see `HeapHistogram::torn`).
    pub torn: bool,
    pub warnings: Vec<String>,
}

/// How many addresses of unsizable objects [`WalkStats::size_error_addrs`] keeps.
pub const MAX_SIZE_ERROR_ADDRS: usize = 16;

/// The walkers' shared state: what has been found so far.
pub struct Census<'r, 'a> {
    pub(crate) r: &'r Reader<'a>,
    /// Every type read, with its size rule.
    pub types: TypeCache,
    pub stats: WalkStats,
    per_list: Vec<u64>,
    budget: u64,
    /// Untracked objects are looked for too: every object found is remembered in `seen` (the
    /// reference walk starts from all of them and must not count one twice).
    pub(crate) whole: bool,
    /// How many of the objects kept in order (`seen`'s, with [`Census::keep_index`]: the refs
    /// graph's node order) the reference walk has read the references of (a second walk goes on
    /// from there). Without them the reference walk scans `seen`, and no per-object list is held.
    pub(crate) all_walked: usize,
    /// Objects the reference walk itself adds when there is no object list (their references are still
    /// to be read): in order, and as a set (the scan of `seen` skips them).
    pub(crate) pending: Option<(Objects, FxHashSet<u64>)>,
    /// The addresses found (and, with [`Census::keep_index`], their indexes).
    pub(crate) seen: Seen,
    /// Types of the objects found (the untracked walk believes them).
    pub(crate) types_seen: FxHashSet<u64>,
    /// The list being walked is the permanent generation.
    in_permanent: bool,
    /// Type objects seen on the GC lists (heap types).
    pub(crate) type_objects: Vec<u64>,
    /// Free-threaded: the mimalloc pages found by the tracked walk, for the untracked one.
    pub(crate) ft_pages: mimalloc::Pages,
}

impl<'r, 'a> Census<'r, 'a> {
    /// A census of GC-tracked objects only (`whole`: also the untracked ones, each found once).
    pub fn new(r: &'r Reader<'a>, whole: bool) -> Self {
        Census {
            r,
            types: TypeCache::default(),
            stats: WalkStats::default(),
            per_list: vec![0; r.l.gc.list_heads.len()],
            budget: MAX_OBJECTS,
            whole,
            all_walked: 0,
            pending: None,
            seen: Seen::default(),
            types_seen: FxHashSet::default(),
            in_permanent: false,
            type_objects: Vec::new(),
            ft_pages: mimalloc::Pages::default(),
        }
    }

    /// The reader the walk reads through.
    pub fn reader(&self) -> &'r Reader<'a> {
        self.r
    }

    /// Keep the address -> index map of every object found ([`Census::take_index`]; the refs
    /// graph needs it), and the objects in order. Call before the walk.
    pub fn keep_index(&mut self) {
        if self.whole {
            self.seen = Seen::with_index();
        }
    }

    /// Every object found, in index order, and the table of their addresses (whole-heap
    /// censuses after [`Census::keep_index`], else empty): the refs graph's nodes.
    pub fn take_indexed(&mut self) -> (Objects, compact::IndexTable) {
        self.all_walked = 0;
        self.seen.take_indexed()
    }

    /// Finish the walk's own figures (objects per GC list).
    pub fn finish_stats(&mut self) -> WalkStats {
        self.stats.generations = self
            .r
            .l
            .gc
            .list_names
            .iter()
            .cloned()
            .zip(self.per_list.iter().copied())
            .collect();
        if self.stats.size_errors > 0 {
            self.stats.partial = true;
            let mut by_type: Vec<(&String, &u64)> = self.stats.size_error_types.iter().collect();
            by_type.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            let named: Vec<String> = by_type
                .iter()
                .take(3)
                .map(|(name, n)| format!("{n} {name}"))
                .collect();
            let more = if by_type.len() > 3 { ", ..." } else { "" };
            self.stats.warnings.push(format!(
                "{} objects could not be sized (unreadable or racing fields: {}{more}); counted at their basic size",
                self.stats.size_errors,
                named.join(", ")
            ));
        }
        std::mem::take(&mut self.stats)
    }

    /// Add one object of type `tp` (`tracked`: found on a GC list) and send it to `sink`, unless it
    /// was found before.
    pub(crate) fn add(&mut self, obj: u64, tp: u64, tracked: bool, sink: &mut dyn Sink) {
        self.add_sized(obj, tp, tracked, None, sink);
    }

    /// [`Census::add`], with the object's size already computed (on another thread) when `size` is
    /// `Some` (`Some(None)`: it could not be computed).
    pub(crate) fn add_sized(
        &mut self,
        obj: u64,
        tp: u64,
        tracked: bool,
        size: Option<Option<u64>>,
        sink: &mut dyn Sink,
    ) {
        let r = self.r;
        let mut index = None;
        if self.seen.is_indexed() {
            let Some(i) = self.seen.insert_object(obj, tp) else {
                return;
            };
            index = Some(i);
        } else if self.whole {
            if !self.seen.insert(obj) {
                return;
            }
            if let Some((pending, set)) = self.pending.as_mut() {
                set.insert(obj);
                pending.push(obj, tp);
            }
        }
        self.types_seen.insert(tp);
        let info = self.types.get(r, tp);
        let size = match info {
            Some(info) => {
                if tracked && info.is_type {
                    self.type_objects.push(obj);
                }
                let size = match size {
                    Some(known) => known.ok_or(()),
                    None => {
                        let sized = if tracked {
                            getsizeof(r, obj, info)
                        } else {
                            getsizeof_untracked(r, obj, info)
                        };
                        sized.map_err(|e| {
                            log::debug!("{} at {obj:#x} could not be sized: {e}", info.name);
                        })
                    }
                };
                size.unwrap_or_else(|()| {
                    self.stats.size_errors += 1;
                    if self.stats.size_error_addrs.len() < MAX_SIZE_ERROR_ADDRS {
                        self.stats.size_error_addrs.push(obj);
                    }
                    *self
                        .stats
                        .size_error_types
                        .entry(info.name.clone())
                        .or_default() += 1;
                    info.basicsize
                })
            }
            None => 0,
        };
        if self.seen.is_indexed() {
            self.seen.push_size(size);
        } else if let Some((pending, _)) = self.pending.as_mut() {
            pending.push_size(size);
        }
        self.stats.objects += 1;
        if tracked {
            self.stats.tracked_objects += 1;
        }
        sink.object(
            r,
            &Found {
                addr: obj,
                tp,
                info,
                size,
                tracked,
                frozen: tracked && self.in_permanent,
                index,
            },
        );
    }
}

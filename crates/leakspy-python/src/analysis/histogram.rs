//! Consumer: count and bytes per type, and the report's heap section ([`HeapHistogram`]) that
//! the other consumers' results are folded into.

use super::origins::Origin;
use super::tracemalloc::{SiteFrame, TracemallocInfo};
use crate::heap::{Found, Sink, WalkStats};
use crate::model::{Reader, TypeCache};
use rustc_hash::FxHashMap;
use serde::Serialize;
use std::collections::HashMap;

/// Count and bytes of one type.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TypeStat {
    #[serde(rename = "type")]
    pub type_name: String,
    /// Every live object of the type found (GC-tracked and not).
    pub count: u64,
    pub bytes: u64,
    /// How many of `count` (and of `bytes`) the GC tracks.
    pub tracked: u64,
    pub tracked_bytes: u64,
    /// Whether `bytes` is exactly what `sys.getsizeof` sums to in the target. False when the
    /// type's `__sizeof__` is one leakspy does not model (a third-party C one, or one written in
    /// Python): its instances are then counted at their basic size.
    pub size_exact: bool,
    /// When not exact: whose `__sizeof__` applies, e.g. `pandas.core.base.PandasObject (Python)`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sizeof_owner: Option<String>,
    /// Where the instances were allocated (only when the target traces with tracemalloc), by bytes
    /// descending. Instances allocated before tracing started have no site and are not listed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allocated_at: Option<Vec<Site>>,
    /// Generators, coroutines, async generators and functions: grouped by the code they run and
    /// the line they are suspended at (or defined at); asyncio futures and tasks by where they were
    /// created (asyncio debug mode), by bytes descending. Needs no tracing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origins: Option<Vec<Origin>>,
}

/// Every walked object, for identity-based analysis (snapshots, survivors). Only collected on request
/// ([`super::walk::HeapWalker::collect_objects`]): it costs 24 bytes per object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ObjectTable {
    /// Type names; objects refer to them by index.
    pub types: Vec<String>,
    /// Allocation tracebacks (innermost first); objects refer to them by index.
    pub sites: Vec<Vec<SiteFrame>>,
    /// `[address, type index, bytes, site index + 1 (0 = no site)]` per object.
    pub objects: Vec<[u64; 4]>,
}

/// One allocation site (a traceback, a line or a file, per [`GroupBy`]).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Site {
    /// Innermost first. With `GroupBy::File` the line is 0.
    pub frames: Vec<SiteFrame>,
    pub count: u64,
    pub bytes: u64,
}

/// How allocation sites are grouped (like `tracemalloc.Snapshot.statistics(key_type)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GroupBy {
    /// The whole traceback.
    #[default]
    Traceback,
    /// The innermost frame (file and line).
    Line,
    /// The innermost frame's file.
    File,
}

/// Result of a heap walk.
#[derive(Debug, Clone, Default, Serialize)]
pub struct HeapHistogram {
    /// Every live object found: GC-tracked ones, plus (unless `--gc-only`) the untracked ones in
    /// pymalloc's arenas and those reached by reference outside them.
    pub objects: u64,
    pub bytes: u64,
    /// Whether the heap was walked at all (false with `--no-heap`: everything here is empty).
    pub walked: bool,
    /// The GC-tracked part of `objects` / `bytes`.
    pub tracked_objects: u64,
    pub tracked_bytes: u64,
    /// Whether objects the GC does not track were looked for (false with `--gc-only`).
    pub untracked_counted: bool,
    /// Of `bytes`: what lies outside pymalloc's arenas (objects over 512 bytes, and the buffers
    /// objects own: list items, dict tables, bytearray, array and numpy data...), when the arenas
    /// were found. The rest is in pymalloc blocks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outside_arenas_bytes: Option<u64>,
    /// pymalloc's arenas (when found): allocated vs in use.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pymalloc: Option<crate::heap::arenas::ArenaStats>,
    /// Sorted by bytes, descending (ties by name).
    pub types: Vec<TypeStat>,
    /// Objects per GC list ("generation0", ..., "permanent"), summed over interpreters.
    pub generations: Vec<(String, u64)>,
    /// Every object's identity, when collected.
    #[serde(skip)]
    pub object_table: Option<ObjectTable>,
    /// What each object of `DumpOptions::retained_of` keeps alive, by address.
    #[serde(skip)]
    pub retained: Option<rustc_hash::FxHashMap<u64, u64>>,
    /// The answer to a `leakspy refs` query, when one was asked.
    #[serde(skip)]
    pub refs: Option<crate::analysis::refs::RefsReport>,
    /// The whole reference graph, when an export (`--heapsnapshot`) asked for it.
    #[serde(skip)]
    pub graph: Option<Box<crate::analysis::export::GraphExport>>,
    /// tracemalloc in the target: whether it traces, and how many objects have a site.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tracemalloc: Option<TracemallocInfo>,
    /// Something went wrong mid-walk; the numbers cover what was read.
    #[serde(skip)]
    pub partial: bool,
    /// The picture looked torn: a GC list or a pymalloc pool (or, set by the dump, a thread list or
    /// stack) changed under the copy, as when a pause catches the GIL holder halfway through an
    /// update. A paused dump takes such a picture again; other partial results (unsizable objects)
    /// are not retaken.
    #[serde(skip)]
    pub torn: bool,
    /// The first few objects that could not be sized. In a paused picture these are mostly objects
    /// the GIL holder was building (a dict popped from its free list a few instructions before
    /// its keys pointer is set): a paused dump takes another picture when they differ from the
    /// previous picture's, and keeps one whose unsizable objects are the same as before.
    #[serde(skip)]
    pub size_error_addrs: Vec<u64>,
    #[serde(skip)]
    pub warnings: Vec<String>,
}

/// Count and bytes by type object: `[count, bytes, tracked count, tracked bytes]`.
#[derive(Debug, Default)]
pub struct Histogram {
    by_type: FxHashMap<u64, [u64; 4]>,
    bytes: u64,
    tracked_bytes: u64,
}

impl Sink for Histogram {
    fn object(&mut self, _r: &Reader<'_>, o: &Found<'_>) {
        let e = self.by_type.entry(o.tp).or_insert([0; 4]);
        e[0] += 1;
        // Sizes of racing objects can be garbage up to MAX_OBJECT_SIZE: sums saturate.
        e[1] = e[1].saturating_add(o.size);
        self.bytes = self.bytes.saturating_add(o.size);
        if o.tracked {
            e[2] += 1;
            e[3] = e[3].saturating_add(o.size);
            self.tracked_bytes = self.tracked_bytes.saturating_add(o.size);
        }
    }
}

/// What the other consumers add to each type's entry, by type name.
#[derive(Debug, Default)]
pub struct PerType {
    /// Allocation sites (only when the target traces: then every type gets a list).
    pub sites: Option<HashMap<String, Vec<Site>>>,
    pub origins: FxHashMap<u64, Vec<Origin>>,
}

impl Histogram {
    /// Name the types (merging types of the same name), fold in the other consumers' results
    /// and the walk's own figures, and sort by bytes.
    pub fn finish(
        self,
        r: &Reader<'_>,
        types: &mut TypeCache,
        stats: WalkStats,
        mut extra: PerType,
    ) -> HeapHistogram {
        let mut out = HeapHistogram {
            walked: true,
            objects: stats.objects,
            bytes: self.bytes,
            tracked_objects: stats.tracked_objects,
            tracked_bytes: self.tracked_bytes,
            untracked_counted: stats.untracked_counted,
            outside_arenas_bytes: stats.outside_arenas_bytes,
            pymalloc: stats.pymalloc,
            generations: stats.generations,
            partial: stats.partial,
            torn: stats.torn,
            size_error_addrs: stats.size_error_addrs,
            warnings: stats.warnings,
            ..HeapHistogram::default()
        };
        let mut origins: HashMap<String, Vec<Origin>> = HashMap::new();
        let mut merged: HashMap<String, [u64; 4]> = HashMap::new();
        let mut inexact: HashMap<String, String> = HashMap::new();
        let mut unknown = 0u64;
        for (tp, acc) in self.by_type {
            let name = match types.get(r, tp) {
                Some(t) => {
                    if !t.size_exact {
                        let owner = t
                            .sizeof_owner
                            .as_ref()
                            .map_or_else(|| "?".into(), |(n, how)| format!("{n} ({how})"));
                        inexact.insert(t.name.clone(), owner);
                    }
                    t.name.clone()
                }
                None => {
                    unknown += acc[0];
                    format!("<unreadable type at {tp:#x}>")
                }
            };
            if let Some(o) = extra.origins.remove(&tp) {
                origins.entry(name.clone()).or_default().extend(o);
            }
            let e = merged.entry(name).or_insert([0; 4]);
            for (sum, v) in e.iter_mut().zip(acc) {
                *sum = sum.saturating_add(v);
            }
        }
        if unknown > 0 {
            out.partial = true;
            out.warnings
                .push(format!("{unknown} objects have an unreadable type"));
        }
        let mut list: Vec<TypeStat> = merged
            .into_iter()
            .map(
                |(type_name, [count, bytes, tracked, tracked_bytes])| TypeStat {
                    allocated_at: extra
                        .sites
                        .as_ref()
                        .map(|s| s.get(&type_name).cloned().unwrap_or_default()),
                    origins: origins.remove(&type_name),
                    size_exact: !inexact.contains_key(&type_name),
                    sizeof_owner: inexact.get(&type_name).cloned(),
                    type_name,
                    count,
                    bytes,
                    tracked,
                    tracked_bytes,
                },
            )
            .collect();
        list.sort_by(|a, b| {
            b.bytes
                .cmp(&a.bytes)
                .then_with(|| a.type_name.cmp(&b.type_name))
        });
        out.types = list;
        out
    }
}

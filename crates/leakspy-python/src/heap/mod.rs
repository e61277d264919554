//! The GC heap: every object on every generation list and the permanent generation, counted and
//! sized by type.
//!
//! The walker knows nothing about output: it produces a [`HeapHistogram`] (plain data). It is bounded
//! (an object budget, back-link checks that detect a list being rewritten under it) and reports races
//! as warnings with a partial result instead of failing.

pub mod arenas;
pub mod referents;
pub mod untracked;

use crate::analysis::tracemalloc::{self, SiteFrame, TracemallocInfo, Traces};
use crate::error::Result;
use crate::model::sizes::{getsizeof, getsizeof_untracked};
use crate::model::{Reader, TypeCache};
use leakspy_memory::MemoryExt;
use rustc_hash::FxHashMap;
use serde::Serialize;
use std::collections::HashMap;

/// Objects walked at most (per dump), whatever the lists say.
pub const MAX_OBJECTS: u64 = 200_000_000;

pub use crate::model::sizes::MAX_OBJECT_SIZE;

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
    pub origins: Option<Vec<crate::analysis::origins::Origin>>,
}

/// Every walked object, for identity-based analysis (snapshots, survivors). Only collected on request
/// ([`HeapWalker::collect_objects`]): it costs 24 bytes per object.
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
    /// The answer to a `leakspy refs` query, when one was asked.
    #[serde(skip)]
    pub refs: Option<crate::analysis::refs::RefsReport>,
    /// tracemalloc in the target: whether it traces, and how many objects have a site.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tracemalloc: Option<TracemallocInfo>,
    /// Something went wrong mid-walk; the numbers cover what was read.
    #[serde(skip)]
    pub partial: bool,
    /// The picture looked torn: a GC list (or, set by the dump, a thread list or stack) changed
    /// under the copy, as when a pause catches the GIL holder halfway through an update. A paused
    /// dump takes such a picture again; other partial results (unsizable objects) are not retaken.
    #[serde(skip)]
    pub torn: bool,
    #[serde(skip)]
    pub warnings: Vec<String>,
}

/// The reference graph being built during the walk.
#[derive(Debug, Default)]
pub(crate) struct GraphParts {
    pub(crate) start: Vec<u32>,
    pub(crate) to: Vec<u32>,
    pub(crate) frozen: Vec<u32>,
}

/// Every object found and who refers to whom: node `i` is `nodes[i]` (address, type), of
/// `sizes[i]` bytes.
#[derive(Debug, Default)]
pub struct HeapGraph {
    pub nodes: Vec<(u64, u64)>,
    pub index: FxHashMap<u64, u32>,
    pub succ: crate::analysis::dominators::Csr,
    pub sizes: Vec<u64>,
    /// Nodes on the permanent generation (`gc.freeze()`).
    pub frozen: Vec<u32>,
}

/// Walk the GC lists of interpreter `interp`, adding into `acc`.
pub struct HeapWalker<'r, 'a> {
    pub(crate) r: &'r Reader<'a>,
    pub(crate) types: TypeCache,
    /// type -> (count, bytes, tracked count, tracked bytes)
    by_type: FxHashMap<u64, [u64; 4]>,
    per_list: Vec<u64>,
    out: HeapHistogram,
    budget: u64,
    /// Objects whose size could not be computed (counted at their type's basic size).
    size_errors: u64,
    traces: Option<Traces>,
    /// (type, traceback) -> (count, bytes)
    by_site: FxHashMap<(u64, u64), (u64, u64)>,
    traced: u64,
    /// (address, type, bytes, traceback or 0) per object, when collecting.
    collected: Option<Vec<(u64, u64, u64, u64)>>,
    origins: crate::analysis::origins::Origins,
    /// Every object counted, and its type, when untracked objects are looked for (the reference
    /// walk starts from all of them and must not count one twice).
    pub(crate) all: Option<Vec<(u64, u64)>>,
    /// `sys.getsizeof` of each object of `all`, same index.
    pub(crate) all_sizes: Vec<u64>,
    /// Address -> index in `all`.
    pub(crate) seen: FxHashMap<u64, u32>,
    /// The reference graph, when kept (`leakspy refs`).
    pub(crate) graph: Option<GraphParts>,
    /// The list being walked is the permanent generation.
    in_permanent: bool,
    /// Type objects seen on the GC lists (heap types).
    pub(crate) type_objects: Vec<u64>,
}

impl<'r, 'a> HeapWalker<'r, 'a> {
    pub fn new(r: &'r Reader<'a>) -> Self {
        HeapWalker {
            r,
            types: TypeCache::default(),
            by_type: FxHashMap::default(),
            per_list: vec![0; r.l.gc.list_heads.len()],
            out: HeapHistogram::default(),
            budget: MAX_OBJECTS,
            size_errors: 0,
            traces: None,
            by_site: FxHashMap::default(),
            traced: 0,
            collected: None,
            origins: crate::analysis::origins::Origins::default(),
            all: None,
            all_sizes: Vec::new(),
            seen: FxHashMap::default(),
            graph: None,
            in_permanent: false,
            type_objects: Vec::new(),
        }
    }

    /// Also count objects the GC does not track ([`HeapWalker::walk_untracked`]).
    pub fn whole_heap(mut self) -> Self {
        self.all = Some(Vec::new());
        self
    }

    /// Also keep the reference graph (implies [`HeapWalker::whole_heap`]).
    pub fn keep_graph(mut self) -> Self {
        self.graph = Some(GraphParts::default());
        self.whole_heap()
    }

    /// The reference graph kept by [`HeapWalker::keep_graph`], once the walk is done.
    pub fn take_graph(&mut self) -> Option<HeapGraph> {
        let parts = self.graph.take()?;
        let nodes = self.all.clone().unwrap_or_default();
        let mut start = parts.start;
        // Objects found after the last one whose references were read have none recorded.
        start.resize(nodes.len() + 1, parts.to.len() as u32);
        Some(HeapGraph {
            index: std::mem::take(&mut self.seen),
            nodes,
            succ: crate::analysis::dominators::Csr {
                start,
                to: parts.to,
            },
            sizes: std::mem::take(&mut self.all_sizes),
            frozen: parts.frozen,
        })
    }

    /// Also keep every object's address, type, size and allocation site (for snapshots).
    pub fn collect_objects(mut self) -> Self {
        self.collected = Some(Vec::new());
        self
    }

    /// Record what is known about tracemalloc when there is no table to attribute from.
    pub fn note_tracemalloc(&mut self, info: TracemallocInfo) {
        self.out.tracemalloc = Some(info);
    }

    /// Attribute objects to allocation sites from this traces table.
    pub fn with_traces(mut self, traces: Traces) -> Self {
        self.traces = Some(traces);
        self
    }

    /// Walk every GC list of one interpreter. `progress` is called now and then with objects so far.
    pub fn walk_interpreter(&mut self, interp: u64, progress: &mut dyn FnMut(u64)) {
        let l = self.r.l;
        if self.types.is_empty() && self.types.numpy.is_none() {
            self.types.numpy =
                crate::model::sizes::numpy_layout(self.r, interp).map(std::sync::Arc::new);
        }
        let gc = interp + l.interp.gc;
        match self.r.mem.read_i32(gc + l.gc.collecting) {
            Ok(0) => {}
            Ok(_) => {
                self.out.partial = true;
                self.out.torn = true;
                self.out
                    .warnings
                    .push("a garbage collection was running: the GC lists may be torn".into());
            }
            Err(e) => self
                .out
                .warnings
                .push(format!("cannot read gc.collecting: {e}")),
        }
        for (i, &off) in l.gc.list_heads.clone().iter().enumerate() {
            let name = l.gc.list_names.get(i).cloned().unwrap_or_default();
            self.in_permanent = name == "permanent";
            if let Err(e) = self.walk_list(gc + off, i, progress) {
                self.out.partial = true;
                self.out.torn = true;
                self.out.warnings.push(format!("gc list {name}: {e}"));
            }
        }
        self.in_permanent = false;
    }

    /// Walk one GC list from its head, checking every back link.
    ///
    /// A pause stops the thread holding the GIL wherever it is, so two half-done updates are
    /// recognised by their exact shape and read as CPython will finish them, instead of ending the
    /// list (`_PyObject_GC_TRACK` / `gc_list_append`, and `_PyObject_GC_UNTRACK` /
    /// `gc_list_remove`, `Include/internal/pycore_object.h`, `Modules/gcmodule.c`):
    /// - appending N at the tail, after `last.next = N` but before N's links are complete: N is
    ///   reached from the node the head still names as its tail (`head.prev == last`) and has no
    ///   next link (`N.next == 0`): N is counted and the list ends there;
    /// - removing X, after `prev.next = next` but before `next.prev = prev`: `next.prev` is X, and X
    ///   still links `prev` and `next` exactly: X is gone and the walk goes on.
    ///
    /// Any other inconsistency ends the list with an error (the picture is torn).
    fn walk_list(
        &mut self,
        head: u64,
        list_index: usize,
        progress: &mut dyn FnMut(u64),
    ) -> Result<()> {
        let l = self.r.l;
        let mask = !l.gc.flag_mask;
        let link = |addr: u64| -> Result<(u64, u64)> {
            let hdr = self.r.mem.read_array::<16>(addr)?;
            let next = u64::from_le_bytes(hdr[0..8].try_into().unwrap_or_default()) & mask;
            let back = u64::from_le_bytes(hdr[8..16].try_into().unwrap_or_default()) & mask;
            Ok((next, back))
        };
        let (first, head_tail) = link(head)?;
        let mut prev = head;
        let mut node = first;
        while node != head {
            if self.budget == 0 {
                self.out.partial = true;
                self.out
                    .warnings
                    .push(format!("stopped after {MAX_OBJECTS} objects"));
                return Ok(());
            }
            self.budget -= 1;
            if node == 0 {
                return Err(crate::error::Error::Other(
                    "NULL link (list being modified)".into(),
                ));
            }
            let (next, back) = link(node)?;
            if next > leakspy_memory::MAX_USER_ADDRESS {
                return Err(crate::error::Error::Other(format!(
                    "garbage link {next:#x} at {node:#x} (list modified during the walk)"
                )));
            }
            let appending = next == 0 && prev == head_tail;
            if back != prev && !appending {
                let removing = back != 0 && link(back).is_ok_and(|x| x == (node, prev));
                if !removing {
                    return Err(crate::error::Error::Other(format!(
                        "broken back link at {node:#x} (list modified during the walk)"
                    )));
                }
            }
            let obj = node + l.gc.head_size;
            match self.r.type_of(obj) {
                Ok(tp) => self.count(obj, tp, true),
                Err(_) => {
                    self.out
                        .warnings
                        .push(format!("unreadable object at {obj:#x}"));
                    self.out.partial = true;
                }
            }
            self.per_list[list_index] += 1;
            if self.out.objects.is_multiple_of(65536) {
                progress(self.out.objects);
            }
            if appending {
                return Ok(());
            }
            prev = node;
            node = next;
        }
        Ok(())
    }

    /// Count one object of type `tp` (`tracked`: found on a GC list).
    pub(crate) fn count(&mut self, obj: u64, tp: u64, tracked: bool) {
        let r = self.r;
        if let Some(all) = self.all.as_mut() {
            if self.seen.contains_key(&obj) {
                return;
            }
            let index = all.len() as u32;
            self.seen.insert(obj, index);
            all.push((obj, tp));
            if let Some(g) = self.graph.as_mut() {
                if self.in_permanent && tracked {
                    g.frozen.push(index);
                }
            }
        }
        let (size, flags, origin) = match self.types.get(r, tp) {
            Some(info) => {
                if tracked && info.is_type {
                    self.type_objects.push(obj);
                }
                let size = if tracked {
                    getsizeof(r, obj, info)
                } else {
                    getsizeof_untracked(r, obj, info)
                };
                match size {
                    Ok(n) => (n, info.flags, info.origin),
                    Err(_) => {
                        self.size_errors += 1;
                        (info.basicsize, info.flags, info.origin)
                    }
                }
            }
            None => (0, 0, None),
        };
        if let Some(kind) = origin {
            self.origins.record(r, kind, tp, obj, size);
        }
        let mut site = 0;
        if let Some(traces) = &self.traces {
            if let Some(&tb) = traces.by_ptr.get(&tracemalloc::alloc_start(r, obj, flags)) {
                let e = self.by_site.entry((tp, tb)).or_insert((0, 0));
                e.0 += 1;
                e.1 = e.1.saturating_add(size);
                self.traced += 1;
                site = tb;
            }
        }
        if let Some(c) = self.collected.as_mut() {
            c.push((obj, tp, size, site));
        }
        if self.all.is_some() {
            self.all_sizes.push(size);
        }
        let e = self.by_type.entry(tp).or_insert([0; 4]);
        e[0] += 1;
        // Sizes of racing objects can be garbage up to MAX_OBJECT_SIZE: sums saturate.
        e[1] = e[1].saturating_add(size);
        self.out.objects += 1;
        self.out.bytes = self.out.bytes.saturating_add(size);
        if tracked {
            e[2] += 1;
            e[3] = e[3].saturating_add(size);
            self.out.tracked_objects += 1;
            self.out.tracked_bytes = self.out.tracked_bytes.saturating_add(size);
        }
    }

    pub(crate) fn out_mut(&mut self) -> &mut HeapHistogram {
        &mut self.out
    }

    /// Types seen so far (of every object counted).
    pub(crate) fn seen_types(&self) -> impl Iterator<Item = u64> + '_ {
        self.by_type.keys().copied()
    }

    /// Turn the collected objects into an [`ObjectTable`] (names and tracebacks interned).
    fn object_table(&mut self) -> Option<ObjectTable> {
        let collected = self.collected.take()?;
        let mut table = ObjectTable::default();
        let mut type_index: FxHashMap<u64, u64> = FxHashMap::default();
        let mut site_index: FxHashMap<u64, u64> = FxHashMap::default();
        let mut names = HashMap::new();
        let tm = self.r.l.tracemalloc.clone();
        table.objects.reserve(collected.len());
        for (addr, tp, size, tb) in collected {
            let t = match type_index.get(&tp) {
                Some(&i) => i,
                None => {
                    let name = self
                        .types
                        .get(self.r, tp)
                        .map_or_else(|| format!("<type at {tp:#x}>"), |t| t.name.clone());
                    table.types.push(name);
                    let i = table.types.len() as u64 - 1;
                    type_index.insert(tp, i);
                    i
                }
            };
            let s = match (tb, &tm) {
                (0, _) | (_, None) => 0,
                (tb, Some(tm)) => match site_index.get(&tb) {
                    Some(&i) => i,
                    None => {
                        let frames =
                            tracemalloc::traceback(self.r, tm, tb, &mut names).unwrap_or_default();
                        table.sites.push(frames);
                        let i = table.sites.len() as u64;
                        site_index.insert(tb, i);
                        i
                    }
                },
            };
            table.objects.push([addr, t, size, s]);
        }
        Some(table)
    }

    /// Allocation sites per type name, grouped and sorted by bytes.
    fn sites(&mut self, group_by: GroupBy) -> HashMap<String, Vec<Site>> {
        let mut out: HashMap<String, HashMap<Vec<SiteFrame>, (u64, u64)>> = HashMap::new();
        let Some(tm) = self.r.l.tracemalloc.as_ref() else {
            return HashMap::new();
        };
        let mut frames_of: HashMap<u64, Vec<SiteFrame>> = HashMap::new();
        let mut names = HashMap::new();
        let mut unreadable = 0u64;
        for (&(tp, tb), &(count, bytes)) in &self.by_site {
            let frames = match frames_of.get(&tb) {
                Some(f) => f.clone(),
                None => {
                    let f =
                        tracemalloc::traceback(self.r, tm, tb, &mut names).unwrap_or_else(|_| {
                            unreadable += 1;
                            Vec::new()
                        });
                    frames_of.insert(tb, f.clone());
                    f
                }
            };
            let key: Vec<SiteFrame> = match group_by {
                GroupBy::Traceback => frames,
                GroupBy::Line => frames.into_iter().take(1).collect(),
                GroupBy::File => frames
                    .into_iter()
                    .take(1)
                    .map(|f| SiteFrame { line: 0, ..f })
                    .collect(),
            };
            let Some(name) = self.types.get(self.r, tp).map(|t| t.name.clone()) else {
                continue;
            };
            let e = out.entry(name).or_default().entry(key).or_insert((0, 0));
            e.0 += count;
            e.1 = e.1.saturating_add(bytes);
        }
        if unreadable > 0 {
            self.out.warnings.push(format!(
                "{unreadable} tracemalloc tracebacks could not be read"
            ));
        }
        out.into_iter()
            .map(|(name, sites)| {
                let mut v: Vec<Site> = sites
                    .into_iter()
                    .map(|(frames, (count, bytes))| Site {
                        frames,
                        count,
                        bytes,
                    })
                    .collect();
                v.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.frames.cmp(&b.frames)));
                (name, v)
            })
            .collect()
    }

    /// Finish: name the types, group allocation sites and sort.
    pub fn finish(mut self, group_by: GroupBy) -> HeapHistogram {
        self.out.walked = true;
        let sites = self.sites(group_by);
        let mut origins_by_tp = std::mem::take(&mut self.origins).finish(self.r);
        let mut origins: HashMap<String, Vec<crate::analysis::origins::Origin>> = HashMap::new();
        let mut merged: HashMap<String, [u64; 4]> = HashMap::new();
        let mut inexact: HashMap<String, String> = HashMap::new();
        let mut unknown = 0u64;
        for (tp, acc) in std::mem::take(&mut self.by_type) {
            let count = acc[0];
            let name = match self.types.get(self.r, tp) {
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
                    unknown += count;
                    format!("<unreadable type at {tp:#x}>")
                }
            };
            if let Some(o) = origins_by_tp.remove(&tp) {
                origins.entry(name.clone()).or_default().extend(o);
            }
            let e = merged.entry(name).or_insert([0; 4]);
            for (sum, v) in e.iter_mut().zip(acc) {
                *sum = sum.saturating_add(v);
            }
        }
        if self.size_errors > 0 {
            self.out.partial = true;
            self.out.warnings.push(format!(
                "{} objects could not be sized (unreadable or racing fields); counted at their basic size",
                self.size_errors
            ));
        }
        if unknown > 0 {
            self.out.partial = true;
            self.out
                .warnings
                .push(format!("{unknown} objects have an unreadable type"));
        }
        let mut types: Vec<TypeStat> = merged
            .into_iter()
            .map(|(type_name, v)| {
                let allocated_at = self
                    .traces
                    .as_ref()
                    .map(|_| sites.get(&type_name).cloned().unwrap_or_default());
                (type_name, v, allocated_at)
            })
            .map(
                |(type_name, [count, bytes, tracked, tracked_bytes], allocated_at)| TypeStat {
                    origins: origins.remove(&type_name),
                    size_exact: !inexact.contains_key(&type_name),
                    sizeof_owner: inexact.get(&type_name).cloned(),
                    type_name,
                    count,
                    bytes,
                    tracked,
                    tracked_bytes,
                    allocated_at,
                },
            )
            .collect();
        types.sort_by(|a, b| {
            b.bytes
                .cmp(&a.bytes)
                .then_with(|| a.type_name.cmp(&b.type_name))
        });
        self.out.types = types;
        if let Some(t) = &self.traces {
            self.out.tracemalloc = Some(TracemallocInfo {
                tracing: true,
                source: Some(t.source.clone()),
                traces: t.by_ptr.len() as u64,
                traced_objects: self.traced,
                untraced_objects: self.out.objects - self.traced,
                hint: None,
            });
        }
        self.out.object_table = self.object_table();
        self.out.generations = self
            .r
            .l
            .gc
            .list_names
            .iter()
            .cloned()
            .zip(self.per_list.iter().copied())
            .collect();
        self.out
    }
}

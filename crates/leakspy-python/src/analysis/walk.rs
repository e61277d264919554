//! A whole heap walk, wired: the walkers of `heap` over one [`Census`], feeding the consumers of
//! this module through the [`Sink`] seam, finished into a [`HeapHistogram`] (and the refs graph).

use super::graph::{Graph, HeapGraph};
use super::histogram::{GroupBy, HeapHistogram, Histogram, PerType};
use super::origins::Origins;
use super::sites::Sites;
use super::tracemalloc::{TracemallocInfo, Traces};
use crate::attach::binaries::Image;
use crate::heap::{Census, Found, Sink};
use crate::model::Reader;

/// Every consumer of one walk; each object goes to all of them.
#[derive(Debug, Default)]
struct Consumers {
    histogram: Histogram,
    sites: Sites,
    origins: Origins,
    graph: Option<Graph>,
}

impl Sink for Consumers {
    fn object(&mut self, r: &Reader<'_>, o: &Found<'_>) {
        self.histogram.object(r, o);
        self.sites.object(r, o);
        self.origins.object(r, o);
        if let Some(g) = self.graph.as_mut() {
            g.object(r, o);
        }
    }

    fn wants_references(&self) -> bool {
        self.graph.is_some()
    }

    fn references(&mut self, from: u32, to: &[u32]) {
        if let Some(g) = self.graph.as_mut() {
            g.references(from, to);
        }
    }
}

/// Walk the heap of a target: GC lists ([`HeapWalker::walk_interpreter`]), then (whole-heap walks)
/// the untracked objects ([`HeapWalker::walk_untracked`]), then [`HeapWalker::finish`].
pub struct HeapWalker<'r, 'a> {
    census: Census<'r, 'a>,
    whole: bool,
    collect: bool,
    graph: bool,
    traces: Option<Traces>,
    tracemalloc: Option<TracemallocInfo>,
    consumers: Option<Consumers>,
}

impl<'r, 'a> HeapWalker<'r, 'a> {
    pub fn new(r: &'r Reader<'a>) -> Self {
        HeapWalker {
            census: Census::new(r, false),
            whole: false,
            collect: false,
            graph: false,
            traces: None,
            tracemalloc: None,
            consumers: None,
        }
    }

    /// Also count objects the GC does not track ([`HeapWalker::walk_untracked`]).
    pub fn whole_heap(mut self) -> Self {
        self.whole = true;
        self.census = Census::new(self.census.reader(), true);
        self
    }

    /// Also keep the reference graph (implies [`HeapWalker::whole_heap`]).
    pub fn keep_graph(mut self) -> Self {
        self.graph = true;
        let mut w = self.whole_heap();
        w.census.keep_index();
        w
    }

    /// Also keep every object's address, type, size and allocation site (for snapshots).
    pub fn collect_objects(mut self) -> Self {
        self.collect = true;
        self
    }

    /// Record what is known about tracemalloc when there is no table to attribute from.
    pub fn note_tracemalloc(&mut self, info: TracemallocInfo) {
        self.tracemalloc = Some(info);
    }

    /// Attribute objects to allocation sites from this traces table.
    pub fn with_traces(mut self, traces: Traces) -> Self {
        self.traces = Some(traces);
        self
    }

    /// The consumers, set up on the first walk (when every option is known).
    fn consumers(&mut self) -> &mut Consumers {
        let (traces, collect, graph) = (&mut self.traces, self.collect, self.graph);
        self.consumers.get_or_insert_with(|| Consumers {
            histogram: Histogram::default(),
            sites: Sites::new(traces.take(), collect),
            origins: Origins::default(),
            graph: graph.then(Graph::default),
        })
    }

    /// Walk every GC list of one interpreter, whose gc state is at `gc` ([`leakspy_layout::Layout::gc_state`]).
    /// `progress` is called now and then with objects so far.
    pub fn walk_interpreter(&mut self, interp: u64, gc: u64, progress: &mut dyn FnMut(u64)) {
        self.consumers();
        if let Some(c) = self.consumers.as_mut() {
            self.census.walk_interpreter(interp, gc, c, progress);
        }
    }

    /// After the GC lists: count the objects the GC does not track (whole-heap walks only).
    pub fn walk_untracked(
        &mut self,
        image: &Image,
        interps: &[u64],
        progress: &mut dyn FnMut(u64),
    ) {
        if !self.whole {
            return;
        }
        self.consumers();
        if let Some(c) = self.consumers.as_mut() {
            self.census.walk_untracked(image, interps, c, progress);
        }
    }

    /// The reference graph kept by [`HeapWalker::keep_graph`], once the walk is done.
    pub fn take_graph(&mut self) -> Option<HeapGraph> {
        let g = self.consumers.as_mut()?.graph.take()?;
        let (objects, index) = self.census.take_indexed();
        Some(g.finish(objects, index))
    }

    /// Finish: name the types, group allocation sites and sort.
    pub fn finish(mut self, group_by: GroupBy) -> HeapHistogram {
        self.consumers();
        let Some(Consumers {
            histogram,
            mut sites,
            origins,
            ..
        }) = self.consumers.take()
        else {
            return HeapHistogram::default();
        };
        let r = self.census.reader();
        let mut stats = self.census.finish_stats();
        let types = &mut self.census.types;
        let per_type = PerType {
            sites: sites
                .tracing()
                .then(|| sites.sites(r, types, group_by, &mut stats.warnings)),
            origins: origins.finish(r),
        };
        let tracemalloc = sites.info().or(self.tracemalloc.take());
        let object_table = sites.object_table(r, types);
        let mut out = histogram.finish(r, types, stats, per_type);
        out.tracemalloc = tracemalloc;
        out.object_table = object_table;
        out
    }
}

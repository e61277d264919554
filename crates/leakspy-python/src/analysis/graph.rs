//! Consumer: the reference graph of a whole-heap walk (`leakspy refs`): every object found, who
//! refers to whom, and which objects are frozen.
//!
//! The nodes are the census's own object list (address, type and size in 10 bytes per object,
//! handed over when the walk is done), not a second copy of it: at millions of objects the graph
//! is most of `leakspy refs`' memory next to the copy of the target.

use super::dominators::Csr;
use crate::heap::compact::IndexTable;
use crate::heap::{Found, Objects, Sink};
use crate::model::Reader;

/// Every object found and who refers to whom: node `i` is object `i` of the walk (address, type,
/// `sys.getsizeof`).
#[derive(Debug, Default)]
pub struct HeapGraph {
    objects: Objects,
    index: IndexTable,
    pub succ: Csr,
    /// Nodes on the permanent generation (`gc.freeze()`).
    pub frozen: Vec<u32>,
}

impl HeapGraph {
    /// A graph of the given nodes (`(address, type)`, and their sizes) and edges.
    pub fn new(nodes: &[(u64, u64)], sizes: &[u64], succ: Csr, frozen: Vec<u32>) -> Self {
        let mut objects = Objects::default();
        let mut index = IndexTable::default();
        for (i, &(addr, tp)) in nodes.iter().enumerate() {
            // A repeated address keeps its first node.
            index.insert(addr, i as u32, &objects);
            objects.push(addr, tp);
            objects.push_size(sizes.get(i).copied().unwrap_or(0));
        }
        HeapGraph {
            objects,
            index,
            succ,
            frozen,
        }
    }

    /// Nodes.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// Node `v`: `(address, type)` (`(0, 0)` past the end).
    pub fn node(&self, v: u32) -> (u64, u64) {
        self.objects.get(v as usize).unwrap_or_default()
    }

    /// `sys.getsizeof` of node `v` (0 past the end).
    pub fn size(&self, v: u32) -> u64 {
        self.objects.size(v as usize)
    }

    /// The node of the object at `addr`.
    pub fn node_of(&self, addr: u64) -> Option<u32> {
        self.index.get(addr, &self.objects)
    }

    /// Bytes the graph holds (nodes, the address index, edges), for the report's cost.
    pub fn bytes(&self) -> u64 {
        (self.objects.bytes()
            + self.index.bytes()
            + 4 * (self.succ.to.capacity() + self.succ.start.capacity())) as u64
    }
}

/// The graph being built: edges per node in index order (the nodes are the census's).
#[derive(Debug, Default)]
pub struct Graph {
    start: Vec<u32>,
    to: Vec<u32>,
    frozen: Vec<u32>,
}

impl Sink for Graph {
    fn object(&mut self, _r: &Reader<'_>, o: &Found<'_>) {
        let Some(i) = o.index else {
            return;
        };
        if o.frozen {
            self.frozen.push(i);
        }
    }

    fn wants_references(&self) -> bool {
        true
    }

    fn references(&mut self, from: u32, to: &[u32]) {
        // Nodes whose references were not reported (none before `from`) have none.
        if (from as usize) < self.start.len() {
            // Reported before (the walk reports each node once; should one ever come twice, the
            // first report stands and the starts stay ascending).
            return;
        }
        self.start.resize(from as usize, self.to.len() as u32);
        self.start.push(self.to.len() as u32);
        self.to.extend_from_slice(to);
    }
}

impl Graph {
    /// The finished graph, given the census's objects (in index order) and address -> index map.
    pub fn finish(self, mut objects: Objects, index: IndexTable) -> HeapGraph {
        objects.shrink_to_fit();
        let n = objects.len();
        let mut start = self.start;
        let mut to = self.to;
        if let Some(&cut) = start.get(n) {
            // References reported for nodes the census does not have (never by the walk).
            start.truncate(n);
            to.truncate(cut as usize);
        }
        // Objects found after the last one whose references were read have none recorded.
        start.resize(n + 1, to.len() as u32);
        to.shrink_to_fit();
        start.shrink_to_fit();
        HeapGraph {
            objects,
            index,
            succ: Csr { start, to },
            frozen: self.frozen,
        }
    }
}

//! Consumer: the reference graph of a whole-heap walk (`leakspy refs`): every object found, who
//! refers to whom, and which objects are frozen.

use super::dominators::Csr;
use crate::heap::{Found, Sink};
use crate::model::Reader;
use rustc_hash::FxHashMap;

/// Every object found and who refers to whom: node `i` is `nodes[i]` (address, type), of
/// `sizes[i]` bytes.
#[derive(Debug, Default)]
pub struct HeapGraph {
    pub nodes: Vec<(u64, u64)>,
    pub index: FxHashMap<u64, u32>,
    pub succ: Csr,
    pub sizes: Vec<u64>,
    /// Nodes on the permanent generation (`gc.freeze()`).
    pub frozen: Vec<u32>,
}

/// The graph being built: nodes in the order found, edges per node in index order.
#[derive(Debug, Default)]
pub struct Graph {
    nodes: Vec<(u64, u64)>,
    sizes: Vec<u64>,
    start: Vec<u32>,
    to: Vec<u32>,
    frozen: Vec<u32>,
}

impl Sink for Graph {
    fn object(&mut self, _r: &Reader<'_>, o: &Found<'_>) {
        let Some(i) = o.index else {
            return;
        };
        debug_assert_eq!(i as usize, self.nodes.len());
        self.nodes.push((o.addr, o.tp));
        self.sizes.push(o.size);
        if o.frozen {
            self.frozen.push(i);
        }
    }

    fn wants_references(&self) -> bool {
        true
    }

    fn references(&mut self, from: u32, to: &[u32]) {
        // Nodes whose references were not reported (none before `from`) have none.
        self.start.resize(from as usize, self.to.len() as u32);
        self.start.push(self.to.len() as u32);
        self.to.extend_from_slice(to);
    }
}

impl Graph {
    /// The finished graph, given the census's address -> index map.
    pub fn finish(self, index: FxHashMap<u64, u32>) -> HeapGraph {
        let mut start = self.start;
        // Objects found after the last one whose references were read have none recorded.
        start.resize(self.nodes.len() + 1, self.to.len() as u32);
        HeapGraph {
            index,
            nodes: self.nodes,
            succ: Csr { start, to: self.to },
            sizes: self.sizes,
            frozen: self.frozen,
        }
    }
}

//! What given objects keep alive (`record --retained`): per owner, the bytes of every object that
//! only it keeps reachable, untracked objects (str, int, bytes, dicts of atoms) included — the way
//! a recording charges what the GC lists never show to the tracked objects that hold it.
//!
//! Over the refs graph's dominator tree (roots as in [`super::refs`]): an object belongs to the
//! outermost owner of a group that dominates it, so a `Session` owns its attribute values, its
//! `history` list and that list's ints, and a group's owners nested in one another are not counted
//! twice. Groups are computed one after another: an object may be owned once per group (a type's
//! set of owners), as retained sizes of different types overlap.

use super::dominators::{self, NONE};
use super::refs::{dominated, rooted, super_root_top, Rooted};
use super::HeapGraph;
use crate::model::{Reader, TypeCache};
use crate::stacks::RawThread;
use rustc_hash::FxHashMap;

/// Most groups computed (each costs one pass over the graph).
pub const MAX_GROUPS: u32 = 16;

/// Per owner address (a key of `groups`, found in the graph): its own size plus the sizes of the
/// objects whose outermost dominating owner of its group it is.
pub fn retained_by_owner(
    r: &Reader<'_>,
    interps: &[u64],
    threads: &[RawThread],
    g: &HeapGraph,
    groups: &FxHashMap<u64, u32>,
) -> FxHashMap<u64, u64> {
    let n = g.len();
    let mut out = FxHashMap::default();
    if n == 0 || groups.is_empty() {
        return out;
    }
    let mut types = TypeCache::default();
    let Rooted { roots, root_of, .. } = rooted(r, interps, threads, g, &mut types);
    let top = super_root_top(g, &roots, &root_of);
    let (aug, idom) = dominated(g, &top);
    let order = dominators::reverse_postorder(&aug, aug.root());
    let mut group_of = vec![NONE; n];
    for (addr, &k) in groups {
        if let Some(i) = g.node_of(*addr) {
            if let Some(slot) = group_of.get_mut(i as usize) {
                *slot = k;
            }
        }
    }
    let count = groups
        .values()
        .copied()
        .max()
        .map_or(0, |m| m + 1)
        .min(MAX_GROUPS);
    let mut owner = vec![NONE; n];
    for k in 0..count {
        owner.fill(NONE);
        // Reverse postorder: a node's immediate dominator comes before it.
        for &v in &order {
            let vi = v as usize;
            if vi >= n {
                continue;
            }
            let up = idom.get(vi).copied().unwrap_or(NONE);
            let inherited = if (up as usize) < n {
                owner[up as usize]
            } else {
                NONE
            };
            let o = if inherited != NONE {
                inherited
            } else if group_of[vi] == k {
                v
            } else {
                NONE
            };
            owner[vi] = o;
            if o != NONE {
                let addr = g.node(o).0;
                *out.entry(addr).or_insert(0) += g.size(v);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::dominators::Csr;
    use crate::record::pages::tests::{layout, Flat};

    fn graph(n: usize, edges: &[(u32, u32)], sizes: &[u64]) -> HeapGraph {
        let nodes: Vec<(u64, u64)> = (0..n as u64).map(|i| (0x1000 + 16 * i, 0x77)).collect();
        HeapGraph::new(
            &nodes,
            sizes,
            Csr::from_edges(n, edges.iter().copied()),
            Vec::new(),
        )
    }

    #[test]
    fn an_owner_without_roots_keeps_only_itself() {
        // No interpreter in this memory: no roots, so every object hangs from the super-root and
        // nothing dominates anything else (0 -> 1 is not enough: 1 is reachable without 0).
        let l = layout();
        let m = Flat(vec![0u8; 0x100]);
        let r = Reader::new(&m, &l);
        let g = graph(3, &[(0, 1), (1, 2)], &[10, 20, 30]);
        let groups: FxHashMap<u64, u32> = [(0x1000, 0)].into_iter().collect();
        let out = retained_by_owner(&r, &[], &[], &g, &groups);
        assert_eq!(out.get(&0x1000), Some(&10));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]
        /// Any graph, any groups, garbage memory for the roots: no panic; every owner keeps at
        /// least itself.
        #[test]
        fn any_graph_any_groups(
            n in 1usize..40,
            edges in proptest::collection::vec((0u32..48, 0u32..48), 0..120),
            owners in proptest::collection::vec((0u64..48, 0u32..20), 0..20),
            mem in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..0x400),
        ) {
            let l = layout();
            let m = Flat(mem);
            let r = Reader::new(&m, &l);
            let sizes: Vec<u64> = (0..n as u64).map(|i| i + 1).collect();
            let g = graph(n, &edges, &sizes);
            let groups: FxHashMap<u64, u32> =
                owners.iter().map(|&(i, k)| (0x1000 + 16 * i, k)).collect();
            let out = retained_by_owner(&r, &[0x10, 0x20], &[], &g, &groups);
            for (addr, kept) in out {
                let i = ((addr - 0x1000) / 16) as usize;
                proptest::prop_assert!(kept >= sizes[i]);
            }
        }
    }
}

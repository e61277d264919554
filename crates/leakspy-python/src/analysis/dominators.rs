//! Immediate dominators of a directed graph from one root (Cooper, Harvey & Kennedy, "A Simple,
//! Fast Dominance Algorithm", 2001): iterate `idom(b) = intersect(processed preds)` in reverse
//! postorder until nothing changes. Pure: the graph is given as compressed adjacency arrays.
//!
//! Used for retained sizes: an object's retained size is what would be freed with it, i.e. the
//! total size of the objects it dominates.

/// A graph in compressed sparse row form: the successors of node `v` are
/// `to[start[v] as usize..start[v + 1] as usize]`.
#[derive(Debug, Clone, Default)]
pub struct Csr {
    pub start: Vec<u32>,
    pub to: Vec<u32>,
}

impl Csr {
    pub fn nodes(&self) -> usize {
        self.start.len().saturating_sub(1)
    }

    pub fn succ(&self, v: u32) -> &[u32] {
        let (a, b) = (
            self.start[v as usize] as usize,
            self.start[v as usize + 1] as usize,
        );
        &self.to[a..b]
    }

    /// A graph of `n` nodes from `(from, to)` edges (a counting sort: each node's successors
    /// keep the order the edges came in). Edges naming a node `>= n` are dropped.
    pub fn from_edges(n: usize, edges: impl Iterator<Item = (u32, u32)> + Clone) -> Csr {
        let ok = |&(a, b): &(u32, u32)| (a as usize) < n && (b as usize) < n;
        let mut start = vec![0u32; n + 1];
        for (a, _) in edges.clone().filter(ok) {
            start[a as usize + 1] += 1;
        }
        for i in 0..n {
            start[i + 1] += start[i];
        }
        let mut fill = start.clone();
        let mut to = vec![0u32; start[n] as usize];
        for (a, b) in edges.filter(ok) {
            to[fill[a as usize] as usize] = b;
            fill[a as usize] += 1;
        }
        Csr { start, to }
    }

    /// Every edge, as `(from, to)`.
    pub fn edges(&self) -> impl Iterator<Item = (u32, u32)> + Clone + '_ {
        (0..self.nodes() as u32).flat_map(move |v| self.succ(v).iter().map(move |&w| (v, w)))
    }

    /// The reversed graph (predecessors).
    pub fn reversed(&self) -> Csr {
        Csr::from_edges(self.nodes(), self.edges().map(|(a, b)| (b, a)))
    }
}

/// Not reachable from the root.
pub const NONE: u32 = u32::MAX;

/// Reverse postorder of the nodes reachable from `root` (iterative DFS).
pub fn reverse_postorder(g: &Csr, root: u32) -> Vec<u32> {
    let n = g.nodes();
    let mut seen = vec![false; n];
    let mut post = Vec::with_capacity(n);
    let mut stack: Vec<(u32, usize)> = vec![(root, 0)];
    seen[root as usize] = true;
    while let Some(&mut (v, ref mut i)) = stack.last_mut() {
        let s = g.succ(v);
        if *i < s.len() {
            let w = s[*i];
            *i += 1;
            if !seen[w as usize] {
                seen[w as usize] = true;
                stack.push((w, 0));
            }
        } else {
            post.push(v);
            stack.pop();
        }
    }
    post.reverse();
    post
}

/// Immediate dominator of every node (`NONE` for unreachable nodes; the root is its own).
pub fn immediate_dominators(g: &Csr, root: u32) -> Vec<u32> {
    let n = g.nodes();
    let rpo = reverse_postorder(g, root);
    let mut order = vec![NONE; n];
    for (i, &v) in rpo.iter().enumerate() {
        order[v as usize] = i as u32;
    }
    let preds = g.reversed();
    let mut idom = vec![NONE; n];
    idom[root as usize] = root;
    let intersect = |idom: &[u32], mut a: u32, mut b: u32| -> u32 {
        while a != b {
            while order[a as usize] > order[b as usize] {
                a = idom[a as usize];
            }
            while order[b as usize] > order[a as usize] {
                b = idom[b as usize];
            }
        }
        a
    };
    let mut changed = true;
    while changed {
        changed = false;
        for &b in rpo.iter().skip(1) {
            let mut new = NONE;
            for &p in preds.succ(b) {
                if idom[p as usize] == NONE {
                    continue;
                }
                new = if new == NONE {
                    p
                } else {
                    intersect(&idom, p, new)
                };
            }
            if new != NONE && idom[b as usize] != new {
                idom[b as usize] = new;
                changed = true;
            }
        }
    }
    idom
}

/// Retained size of every node: its own size plus that of every node it dominates.
pub fn retained_sizes(g: &Csr, root: u32, idom: &[u32], size: &[u64]) -> Vec<u64> {
    let mut retained: Vec<u64> = size.to_vec();
    let rpo = reverse_postorder(g, root);
    for &v in rpo.iter().rev() {
        let d = idom[v as usize];
        if d != NONE && d != v {
            retained[d as usize] = retained[d as usize].saturating_add(retained[v as usize]);
        }
    }
    retained
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csr(n: usize, edges: &[(u32, u32)]) -> Csr {
        Csr::from_edges(n, edges.iter().copied())
    }

    #[test]
    fn diamond_and_chain() {
        // 0 -> 1 -> 3, 0 -> 2 -> 3, 3 -> 4; 5 unreachable.
        let g = csr(6, &[(0, 1), (0, 2), (1, 3), (2, 3), (3, 4)]);
        let idom = immediate_dominators(&g, 0);
        assert_eq!(idom, vec![0, 0, 0, 0, 3, NONE]);
        let r = retained_sizes(&g, 0, &idom, &[1, 10, 20, 100, 1000, 7]);
        assert_eq!(r, vec![1131, 10, 20, 1100, 1000, 7]);
    }

    #[test]
    fn cycles_and_the_classic_example() {
        // Cooper/Harvey/Kennedy figure 4 (nodes renumbered): 5 is the root.
        // 5->4, 5->3, 4->1, 3->2, 2->1, 1->2
        let g = csr(6, &[(5, 4), (5, 3), (4, 1), (3, 2), (2, 1), (1, 2)]);
        let idom = immediate_dominators(&g, 5);
        assert_eq!(idom[1], 5);
        assert_eq!(idom[2], 5);
        assert_eq!(idom[3], 5);
        assert_eq!(idom[4], 5);
        assert_eq!(idom[0], NONE);
        // A self loop and a back edge do not change a chain's dominators.
        let g = csr(4, &[(0, 1), (1, 1), (1, 2), (2, 1), (2, 3)]);
        assert_eq!(immediate_dominators(&g, 0), vec![0, 0, 1, 2]);
    }

    #[test]
    fn reversed_graph() {
        let g = csr(3, &[(0, 1), (0, 2), (1, 2)]);
        let r = g.reversed();
        assert_eq!(r.succ(2), &[0, 1]);
        assert_eq!(r.succ(1), &[0]);
        assert!(r.succ(0).is_empty());
    }
}

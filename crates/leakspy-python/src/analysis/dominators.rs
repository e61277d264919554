//! Immediate dominators of a directed graph from one root (Cooper, Harvey & Kennedy, "A Simple,
//! Fast Dominance Algorithm", 2001): iterate `idom(b) = intersect(processed preds)` in reverse
//! postorder until nothing changes. Pure: the graph is given as compressed adjacency arrays.
//!
//! Used for retained sizes: an object's retained size is what would be freed with it, i.e. the
//! total size of the objects it dominates.
//!
//! The functions take any [`Adjacency`]: a [`Csr`], or one with a super-root added on top
//! ([`WithRoot`]) without copying the graph's edges (at millions of references, a copy is the
//! largest allocation of `leakspy refs`).

/// A directed graph as its successor lists, nodes `0..nodes()`.
pub trait Adjacency {
    fn nodes(&self) -> usize;
    /// The successors of `v` (`v < nodes()`).
    fn succ(&self, v: u32) -> &[u32];
}

/// A graph in compressed sparse row form: the successors of node `v` are
/// `to[start[v] as usize..start[v + 1] as usize]`.
#[derive(Debug, Clone, Default)]
pub struct Csr {
    pub start: Vec<u32>,
    pub to: Vec<u32>,
}

impl Adjacency for Csr {
    fn nodes(&self) -> usize {
        Csr::nodes(self)
    }

    fn succ(&self, v: u32) -> &[u32] {
        Csr::succ(self, v)
    }
}

/// `g` plus one more node, `g.nodes()`, whose successors are `top` (a super-root above roots).
#[derive(Debug, Clone, Copy)]
pub struct WithRoot<'g> {
    pub g: &'g Csr,
    pub top: &'g [u32],
}

impl WithRoot<'_> {
    /// The added node.
    pub fn root(&self) -> u32 {
        self.g.nodes() as u32
    }
}

impl Adjacency for WithRoot<'_> {
    fn nodes(&self) -> usize {
        self.g.nodes() + 1
    }

    fn succ(&self, v: u32) -> &[u32] {
        if v as usize == self.g.nodes() {
            self.top
        } else {
            self.g.succ(v)
        }
    }
}

/// Every edge of `g`, as `(from, to)`.
fn edges_of<G: Adjacency + ?Sized>(g: &G) -> impl Iterator<Item = (u32, u32)> + Clone + '_ {
    (0..g.nodes() as u32).flat_map(move |v| g.succ(v).iter().map(move |&w| (v, w)))
}

/// The reversed graph of `g` (predecessors).
pub fn reversed<G: Adjacency + ?Sized>(g: &G) -> Csr {
    Csr::from_edges(g.nodes(), edges_of(g).map(|(a, b)| (b, a)))
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
        // Counted one slot ahead (`start[a + 2]`), summed so that `start[a + 1]` is where node
        // `a`'s successors begin, then moved up by one while they are placed: no second array.
        let mut start = vec![0u32; n + 2];
        for (a, _) in edges.clone().filter(ok) {
            start[a as usize + 2] += 1;
        }
        for i in 2..n + 2 {
            start[i] += start[i - 1];
        }
        let mut to = vec![0u32; start[n + 1] as usize];
        for (a, b) in edges.filter(ok) {
            let at = &mut start[a as usize + 1];
            to[*at as usize] = b;
            *at += 1;
        }
        start.pop();
        Csr { start, to }
    }

    /// Every edge, as `(from, to)`.
    pub fn edges(&self) -> impl Iterator<Item = (u32, u32)> + Clone + '_ {
        edges_of(self)
    }

    /// The reversed graph (predecessors).
    pub fn reversed(&self) -> Csr {
        reversed(self)
    }
}

/// Not reachable from the root.
pub const NONE: u32 = u32::MAX;

/// Reverse postorder of the nodes reachable from `root` (iterative DFS).
pub fn reverse_postorder<G: Adjacency + ?Sized>(g: &G, root: u32) -> Vec<u32> {
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
pub fn immediate_dominators<G: Adjacency + ?Sized>(g: &G, root: u32) -> Vec<u32> {
    let n = g.nodes();
    let rpo = reverse_postorder(g, root);
    let mut order = vec![NONE; n];
    for (i, &v) in rpo.iter().enumerate() {
        order[v as usize] = i as u32;
    }
    let preds = reversed(g);
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

/// Retained size of every node: its own size (`size(v)`) plus that of every node it dominates.
pub fn retained_sizes<G: Adjacency + ?Sized>(
    g: &G,
    root: u32,
    idom: &[u32],
    size: impl Fn(u32) -> u64,
) -> Vec<u64> {
    let mut retained: Vec<u64> = (0..g.nodes() as u32).map(size).collect();
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
        let sizes = [1, 10, 20, 100, 1000, 7];
        let r = retained_sizes(&g, 0, &idom, |v| sizes[v as usize]);
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
    fn a_super_root_on_top() {
        // 0 -> 1, 2 -> 1; the super-root 3 above 0 and 2: 1 is dominated by neither.
        let g = csr(3, &[(0, 1), (2, 1)]);
        let top = [0, 2];
        let w = WithRoot { g: &g, top: &top };
        assert_eq!(w.root(), 3);
        assert_eq!(immediate_dominators(&w, 3), vec![3, 3, 3, 3]);
        let with_edges = csr(4, &[(0, 1), (2, 1), (3, 0), (3, 2)]);
        assert_eq!(reverse_postorder(&w, 3), reverse_postorder(&with_edges, 3));
        let sizes = [1, 10, 100, 0];
        assert_eq!(
            retained_sizes(&w, 3, &[3, 3, 3, 3], |v| sizes[v as usize]),
            vec![1, 10, 100, 111]
        );
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

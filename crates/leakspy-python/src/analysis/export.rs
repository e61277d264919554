//! The whole reference graph as plain data, for exporters (`--heapsnapshot`): every object with its
//! type name and size, every reference with how it is held (list index, attribute, dict key kind,
//! slot, field), and the roots `leakspy refs` searches from, grouped the way a viewer shows them.
//!
//! Built from the [`HeapGraph`] a whole-heap walk kept, through a narrow use of it (node count,
//! each node's address, type and size, the address -> node map, the frozen list, the out-edges).
//! Edge names come from re-reading each object's referents in the copy (the walk kept only the
//! targets); the references kept are exactly those the walk kept, in the same order.
//!
//! Secrets: attribute, global, slot and local-variable names are names in code and are given; the
//! keys of plain dicts are data, named only by their kind (`[<str>]`) unless `show_keys`.

use crate::analysis::dominators::NONE;
use crate::analysis::refs;
use crate::analysis::HeapGraph;
use crate::heap::referents::{self, Label, MANAGED_DICT_LABEL};
use crate::model::{Reader, TypeCache};
use crate::stacks::RawThread;
use leakspy_memory::MemoryExt;
use rustc_hash::FxHashMap;

/// What to export.
#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    /// Name plain dicts' keys by their value (they may be data), not only by their kind.
    pub show_keys: bool,
}

/// How a reference is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdgeKind {
    /// Item `name` (an index) of a list or tuple.
    Element,
    /// A named reference: an attribute, a namespace dict's entry, a `__slots__` member, a dict
    /// value (named by its key, or its key's kind).
    Property,
    /// A reference of the implementation: a dict's key, a set member, `__dict__`, a C field.
    Internal,
}

/// One reference out of an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportEdge {
    pub kind: EdgeKind,
    /// The index for [`EdgeKind::Element`], else an index into [`GraphExport::names`].
    pub name: u64,
    /// The node referred to.
    pub to: u32,
}

/// One object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportNode {
    pub addr: u64,
    /// Index into [`GraphExport::type_names`].
    pub type_id: u32,
    pub size: u64,
}

/// A named set of roots (one frame's locals, one module's globals, one class's attributes, the
/// frozen generation, the objects no root reaches).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootGroup {
    /// "frame_local", "module_global", "class_attribute", "frozen" or "unreached".
    pub kind: &'static str,
    /// `main()`, `__main__`, `__main__.Cache`, ...
    pub name: String,
    /// (how the root holds it: variable, global or attribute name; the node).
    pub members: Vec<(String, u32)>,
}

/// The whole graph.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GraphExport {
    pub type_names: Vec<String>,
    pub nodes: Vec<ExportNode>,
    /// Edges of node `i`: `edges[edge_start[i]..edge_start[i + 1]]` (`nodes.len() + 1` entries).
    pub edge_start: Vec<u32>,
    pub edges: Vec<ExportEdge>,
    /// Edge names (interned).
    pub names: Vec<String>,
    /// In the order `refs` prefers them: frame locals, module globals, class attributes, then the
    /// frozen generation and the unreached objects (only those no earlier group reaches).
    pub roots: Vec<RootGroup>,
}

impl GraphExport {
    /// The out-edges of node `i`.
    pub fn edges_of(&self, i: usize) -> &[ExportEdge] {
        let (Some(&a), Some(&b)) = (self.edge_start.get(i), self.edge_start.get(i + 1)) else {
            return &[];
        };
        self.edges.get(a as usize..b as usize).unwrap_or(&[])
    }
}

#[derive(Default)]
struct Interner {
    names: Vec<String>,
    index: FxHashMap<String, u64>,
}

impl Interner {
    fn id(&mut self, s: String) -> u64 {
        if let Some(&i) = self.index.get(&s) {
            return i;
        }
        let i = self.names.len() as u64;
        self.names.push(s.clone());
        self.index.insert(s, i);
        i
    }
}

/// Export `g` (read in the copy `r`; `threads` and `interps` give the roots).
pub fn build(
    r: &Reader<'_>,
    interps: &[u64],
    threads: &[RawThread],
    g: &HeapGraph,
    opts: &ExportOptions,
) -> GraphExport {
    let mut types = TypeCache::default();
    let n = g.len();
    let mut out = GraphExport::default();

    // Types, named as the histogram names them.
    let mut type_ids: FxHashMap<u64, u32> = FxHashMap::default();
    out.nodes.reserve(n);
    for i in 0..n as u32 {
        let (addr, tp) = g.node(i);
        let type_id = *type_ids.entry(tp).or_insert_with(|| {
            out.type_names.push(types.get(r, tp).map_or_else(
                || format!("<unreadable type at {tp:#x}>"),
                |t| t.name.clone(),
            ));
            (out.type_names.len() - 1) as u32
        });
        out.nodes.push(ExportNode {
            addr,
            type_id,
            size: g.size(i),
        });
    }

    // Namespace dicts (an instance's, module's or class's `__dict__`): their str keys are names.
    let mut namespace = vec![false; n];
    let mut refs_buf = Vec::new();
    let labelled = |types: &mut TypeCache, v: usize, buf: &mut Vec<(u64, Label)>| {
        buf.clear();
        let (addr, tp) = g.node(v as u32);
        if let Some(info) = types.get(r, tp) {
            referents::referents(r, addr, tp, info, buf);
        }
        buf.retain(|&(p, _)| g.node_of(p).is_some());
    };
    for v in 0..n {
        labelled(&mut types, v, &mut refs_buf);
        for &(p, lab) in &refs_buf {
            if let Label::Field(off) = lab {
                if is_dict_slot(r, &mut types, g.node(v as u32).1, off) {
                    if let Some(j) = g.node_of(p) {
                        namespace[j as usize] = true;
                    }
                }
            }
        }
    }

    // Edges: the walk's, in its order, each named by its label.
    let mut names = Interner::default();
    out.edge_start.reserve(n + 1);
    for (v, &is_namespace) in namespace.iter().enumerate() {
        out.edge_start.push(out.edges.len() as u32);
        let kept = g.succ.succ(v as u32);
        labelled(&mut types, v, &mut refs_buf);
        let matches = refs_buf.len() == kept.len()
            && refs_buf
                .iter()
                .zip(kept)
                .all(|(&(p, _), &k)| g.node_of(p) == Some(k));
        if !matches {
            // The copy read differently this time (it cannot, but never trust it): keep the
            // walk's edges, unnamed.
            let id = names.id("?".into());
            out.edges.extend(kept.iter().map(|&to| ExportEdge {
                kind: EdgeKind::Internal,
                name: id,
                to,
            }));
            continue;
        }
        for (&(_, lab), &to) in refs_buf.iter().zip(kept) {
            let (kind, name) = match lab {
                Label::Item(i) => (EdgeKind::Element, i),
                Label::Attr { name } => (
                    EdgeKind::Property,
                    names.id(r.str(name).unwrap_or_else(|_| "?".into())),
                ),
                Label::Value { key } if is_namespace && is_str(r, &mut types, key) => (
                    EdgeKind::Property,
                    names.id(r.str(key).unwrap_or_else(|_| "?".into())),
                ),
                Label::Value { key } => (
                    EdgeKind::Property,
                    names.id(format!(
                        "[{}]",
                        refs::key_text(r, &mut types, key, opts.show_keys).0
                    )),
                ),
                Label::Key(_) => (EdgeKind::Internal, names.id("(key)".into())),
                Label::Member => (EdgeKind::Internal, names.id("(member)".into())),
                Label::Field(off) => {
                    let tp = g.node(v as u32).1;
                    if is_dict_slot(r, &mut types, tp, off) {
                        (EdgeKind::Internal, names.id("__dict__".into()))
                    } else if let Some(s) = refs::slot_name(r, tp, off) {
                        (EdgeKind::Property, names.id(s))
                    } else {
                        (EdgeKind::Internal, names.id(format!("+{off:#x}")))
                    }
                }
            };
            out.edges.push(ExportEdge { kind, name, to });
        }
    }
    out.edge_start.push(out.edges.len() as u32);
    out.names = names.names;

    // Roots, grouped by owner, then the frozen generation and what no root reaches.
    let entries = refs::root_entries(r, interps, threads, g, &mut types);
    let mut reached = vec![false; n];
    let mut queue = std::collections::VecDeque::new();
    let mut group_of: FxHashMap<(&'static str, String), usize> = FxHashMap::default();
    for (node, label, kind) in entries {
        let (owner, member) = split_label(&label, kind);
        let k = *group_of.entry((kind, owner.clone())).or_insert_with(|| {
            out.roots.push(RootGroup {
                kind,
                name: owner,
                members: Vec::new(),
            });
            out.roots.len() - 1
        });
        out.roots[k].members.push((member, node));
        if let Some(seen) = reached.get_mut(node as usize) {
            if !*seen {
                *seen = true;
                queue.push_back(node);
            }
        }
    }
    let spread = |queue: &mut std::collections::VecDeque<u32>, reached: &mut [bool]| {
        while let Some(v) = queue.pop_front() {
            for &w in g.succ.succ(v) {
                if let Some(seen) = reached.get_mut(w as usize) {
                    if !*seen {
                        *seen = true;
                        queue.push_back(w);
                    }
                }
            }
        }
    };
    spread(&mut queue, &mut reached);
    let mut frozen = RootGroup {
        kind: "frozen",
        name: "<frozen generation>".into(),
        members: Vec::new(),
    };
    for &f in &g.frozen {
        if reached.get(f as usize) == Some(&false) {
            reached[f as usize] = true;
            queue.push_back(f);
            frozen.members.push((String::new(), f));
        }
    }
    spread(&mut queue, &mut reached);
    if !frozen.members.is_empty() {
        out.roots.push(frozen);
    }
    // What no root reaches: held from C, or garbage awaiting collection. Only the objects no other
    // unreached object refers to are listed (the rest hang under them), unless they form cycles.
    let unreached: Vec<u32> = (0..n as u32).filter(|&v| !reached[v as usize]).collect();
    if !unreached.is_empty() {
        let mut referred = vec![false; n];
        for &v in &unreached {
            for &w in g.succ.succ(v) {
                if w != v {
                    if let Some(x) = referred.get_mut(w as usize) {
                        *x = true;
                    }
                }
            }
        }
        let mut group = RootGroup {
            kind: "unreached",
            name: "<held from C, or garbage>".into(),
            members: Vec::new(),
        };
        for &v in &unreached {
            if !referred[v as usize] {
                reached[v as usize] = true;
                queue.push_back(v);
                group.members.push((String::new(), v));
            }
        }
        spread(&mut queue, &mut reached);
        // Cycles among the unreached: one member per cycle still unreached.
        for &v in &unreached {
            if !reached[v as usize] {
                reached[v as usize] = true;
                queue.push_back(v);
                group.members.push((String::new(), v));
                spread(&mut queue, &mut reached);
            }
        }
        out.roots.push(group);
    }
    debug_assert!(out
        .roots
        .iter()
        .all(|g| g.members.iter().all(|&(_, v)| v != NONE)));
    out
}

/// Whether the word at `off` of an object of type `tp` is its `__dict__` (managed, at
/// `tp_dictoffset`, or a class's `tp_dict`).
fn is_dict_slot(r: &Reader<'_>, types: &mut TypeCache, tp: u64, off: u64) -> bool {
    let is_type = types.get(r, tp).is_some_and(|t| t.is_type);
    off == MANAGED_DICT_LABEL
        || (is_type && off == r.l.type_.tp_dict)
        || r.mem
            .read_i64(tp + r.l.type_.tp_dictoffset)
            .is_ok_and(|d| d > 0 && d as u64 == off)
}

/// Whether `obj` is a str.
fn is_str(r: &Reader<'_>, types: &mut TypeCache, obj: u64) -> bool {
    r.type_of(obj)
        .ok()
        .and_then(|tp| types.get(r, tp))
        .is_some_and(|t| t.name == "builtins.str")
}

/// `main() local keep` -> (`main()`, `keep`); `os.path.sep` -> (`os.path`, `sep`).
fn split_label(label: &str, kind: &'static str) -> (String, String) {
    if kind == "frame_local" {
        if let Some((f, v)) = label.split_once(" local ") {
            return (f.to_string(), v.to_string());
        }
    } else if let Some((owner, name)) = label.rsplit_once('.') {
        return (owner.to_string(), name.to_string());
    }
    (label.to_string(), String::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_split_into_owner_and_name() {
        assert_eq!(
            split_label("main() local keep", "frame_local"),
            ("main()".into(), "keep".into())
        );
        assert_eq!(
            split_label("os.path.sep", "module_global"),
            ("os.path".into(), "sep".into())
        );
        assert_eq!(
            split_label("odd", "class_attribute"),
            ("odd".into(), String::new())
        );
    }

    #[test]
    fn edges_of_is_bounded() {
        let g = GraphExport {
            edge_start: vec![0, 1],
            edges: vec![ExportEdge {
                kind: EdgeKind::Element,
                name: 0,
                to: 0,
            }],
            ..GraphExport::default()
        };
        assert_eq!(g.edges_of(0).len(), 1);
        assert!(g.edges_of(1).is_empty());
        assert!(g.edges_of(7).is_empty());
    }
}

//! `leakspy refs`: what keeps the instances of a type alive.
//!
//! Works on the [`HeapGraph`] a whole-heap walk kept (every object, every reference leakspy can
//! decode). Roots, in the order they win a tie: the locals of every thread's frames, module globals
//! (`sys.modules`), class attributes (heap types' `__dict__`); objects no root reaches are then
//! tried from the frozen generation. A breadth-first search from the roots gives every object its
//! shortest path; the instances' paths are grouped by shape (list indices folded), referrer types
//! are counted over every reference into an instance, and a dominator tree over the whole graph
//! (a super-root above the roots, the frozen generation and whatever no root reaches) gives
//! retained sizes.
//!
//! Secrets: attribute and global names are printed (they are names in code); the keys of plain
//! dicts are data, printed only with `show_keys`.

use crate::analysis::dominators::{self, Csr, WithRoot, NONE};
use crate::analysis::HeapGraph;
use crate::heap::referents::{self, Label, MANAGED_DICT_LABEL};
use crate::model::{Reader, TypeCache};
use crate::stacks::RawThread;
use leakspy_memory::MemoryExt;
use rustc_hash::FxHashMap;
use serde::Serialize;
use std::collections::HashMap;
use std::time::Instant;

/// What to look for.
#[derive(Debug, Clone)]
pub struct RefsQuery {
    /// Type name as leakspy prints it (`module.Qualname`, `builtins.` optional for builtins).
    pub type_name: String,
    /// Path shapes to report.
    pub max_paths: usize,
    /// Print the keys of plain dicts in paths (they may be data).
    pub show_keys: bool,
}

/// The answer.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RefsReport {
    #[serde(rename = "type")]
    pub type_name: String,
    pub instances: u64,
    pub bytes: u64,
    /// Bytes freed if every instance went (dominator tree).
    pub retained_bytes: u64,
    /// References into the instances, by the referring object's type, most first.
    pub referrers: Vec<Referrer>,
    /// Shortest paths from a root to the instances, grouped by shape, most instances first.
    pub paths: Vec<PathGroup>,
    /// Instances no root reaches (held from C, or garbage awaiting collection).
    pub unreachable: u64,
    /// Reachable instances whose path was not worked out (more than 2,000,000 instances).
    pub paths_not_walked: u64,
    pub roots: RootCounts,
    /// Types by retained size (instances not dominated by another instance of the same type).
    pub retained_by_type: Vec<RetainedType>,
    pub cost: Cost,
}

#[derive(Debug, Clone, Serialize)]
pub struct Referrer {
    #[serde(rename = "type")]
    pub type_name: String,
    pub references: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct PathGroup {
    /// Instances whose shortest path has this shape.
    pub count: u64,
    /// "frame_local", "module_global", "class_attribute" or "frozen".
    pub root_kind: &'static str,
    /// One instance's path: the root, then each holder with how it holds the next.
    pub path: Vec<String>,
    /// The shape (list and tuple indices folded to `*`).
    pub shape: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct RootCounts {
    pub frame_locals: u64,
    pub module_globals: u64,
    pub class_attributes: u64,
    pub frozen: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct RetainedType {
    #[serde(rename = "type")]
    pub type_name: String,
    pub count: u64,
    pub bytes: u64,
    pub retained_bytes: u64,
}

/// What the analysis cost (the graph itself is built during the heap walk).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Cost {
    pub objects: u64,
    pub references: u64,
    /// Bytes the graph holds (node list with sizes, address table, edges and offsets), from the
    /// arrays' capacities.
    pub graph_bytes: u64,
    pub paths_ms: f64,
    pub dominators_ms: f64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum RootKind {
    FrameLocal,
    ModuleGlobal,
    ClassAttribute,
    Frozen,
}

impl RootKind {
    fn name(self) -> &'static str {
        match self {
            RootKind::FrameLocal => "frame_local",
            RootKind::ModuleGlobal => "module_global",
            RootKind::ClassAttribute => "class_attribute",
            RootKind::Frozen => "frozen",
        }
    }
}

pub(super) struct Root {
    node: u32,
    label: String,
    kind: RootKind,
}

/// Most instances whose path is worked out (the rest are counted in `paths_not_walked`).
const MAX_PATHS_WALKED: usize = 2_000_000;
/// Longest path followed.
const MAX_DEPTH: usize = 10_000;

/// Answer `q` over `g`.
pub fn analyse(
    r: &Reader<'_>,
    interps: &[u64],
    threads: &[RawThread],
    g: &HeapGraph,
    q: &RefsQuery,
) -> RefsReport {
    let t0 = Instant::now();
    let mut types = TypeCache::default();
    let n = g.len();
    let want = normalise(&q.type_name);
    let mut name_of_tp: FxHashMap<u64, String> = FxHashMap::default();
    let mut name = |types: &mut TypeCache, tp: u64| -> String {
        name_of_tp
            .entry(tp)
            .or_insert_with(|| {
                types
                    .get(r, tp)
                    .map_or_else(|| format!("<type at {tp:#x}>"), |t| t.name.clone())
            })
            .clone()
    };
    let is_target: Vec<bool> = (0..n as u32)
        .map(|v| name(&mut types, g.node(v).1) == want)
        .collect();
    let mut out = RefsReport {
        type_name: want.clone(),
        ..RefsReport::default()
    };
    for (i, _) in is_target.iter().enumerate().filter(|(_, &t)| t) {
        out.instances += 1;
        out.bytes += g.size(i as u32);
    }

    // Referrers: every reference into an instance.
    let mut referrers: HashMap<String, u64> = HashMap::new();
    for a in 0..n as u32 {
        for &b in g.succ.succ(a) {
            if is_target[b as usize] {
                *referrers.entry(name(&mut types, g.node(a).1)).or_default() += 1;
            }
        }
    }
    let mut referrers: Vec<Referrer> = referrers
        .into_iter()
        .map(|(type_name, references)| Referrer {
            type_name,
            references,
        })
        .collect();
    referrers.sort_by(|a, b| {
        b.references
            .cmp(&a.references)
            .then_with(|| a.type_name.cmp(&b.type_name))
    });
    out.referrers = referrers;

    // Roots and the breadth-first search.
    let Rooted {
        roots: all_roots,
        parent,
        root_of,
    } = rooted(r, interps, threads, g, &mut types);
    for root in &all_roots {
        match root.kind {
            RootKind::FrameLocal => out.roots.frame_locals += 1,
            RootKind::ModuleGlobal => out.roots.module_globals += 1,
            RootKind::ClassAttribute => out.roots.class_attributes += 1,
            RootKind::Frozen => out.roots.frozen += 1,
        }
    }

    // Paths of the instances, grouped by shape.
    let mut labels = LabelCache::default();
    let mut groups: HashMap<String, PathGroup> = HashMap::new();
    let mut walked = 0;
    for (i, _) in is_target.iter().enumerate().filter(|(_, &t)| t) {
        if root_of[i] == NONE {
            out.unreachable += 1;
            continue;
        }
        if walked >= MAX_PATHS_WALKED {
            out.paths_not_walked += 1;
            continue;
        }
        walked += 1;
        let mut chain = vec![i as u32];
        let mut v = i as u32;
        while parent[v as usize] != NONE && chain.len() < MAX_DEPTH {
            v = parent[v as usize];
            chain.push(v);
        }
        chain.reverse();
        let root = &all_roots[root_of[i] as usize];
        let (path, shape) = render(r, g, &mut types, &mut labels, root, &chain, q.show_keys);
        groups
            .entry(shape.clone())
            .or_insert_with(|| PathGroup {
                count: 0,
                root_kind: root.kind.name(),
                path,
                shape,
            })
            .count += 1;
    }
    let mut paths: Vec<PathGroup> = groups.into_values().collect();
    paths.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.shape.cmp(&b.shape)));
    paths.truncate(q.max_paths);
    out.paths = paths;
    out.cost.paths_ms = t0.elapsed().as_secs_f64() * 1e3;
    // Only the dominator tree's arrays from here on (at millions of nodes, each of these is tens
    // of MB).
    drop((parent, labels, is_target));

    // Retained sizes.
    let t1 = Instant::now();
    let top = super_root_top(g, &all_roots, &root_of);
    drop(root_of);
    let (idom, retained) = dominator_tree(g, &top);
    let per_type = retained_by_type(g, &idom, &retained, n as u32);
    let mut by_name: HashMap<String, RetainedType> = HashMap::new();
    for (tp, (count, bytes, kept)) in per_type {
        let nm = name(&mut types, tp);
        let e = by_name.entry(nm.clone()).or_insert(RetainedType {
            type_name: nm,
            count: 0,
            bytes: 0,
            retained_bytes: 0,
        });
        e.count += count;
        e.bytes += bytes;
        e.retained_bytes += kept;
    }
    out.retained_bytes = by_name.get(&want).map_or(0, |t| t.retained_bytes);
    let mut rt: Vec<RetainedType> = by_name.into_values().collect();
    rt.sort_by(|a, b| {
        b.retained_bytes
            .cmp(&a.retained_bytes)
            .then_with(|| a.type_name.cmp(&b.type_name))
    });
    rt.truncate(25);
    out.retained_by_type = rt;
    out.cost.dominators_ms = t1.elapsed().as_secs_f64() * 1e3;
    out.cost.objects = n as u64;
    out.cost.references = g.succ.to.len() as u64;
    out.cost.graph_bytes = g.bytes();
    out
}

/// `str` -> `builtins.str`: builtins may be named without their module.
fn normalise(name: &str) -> String {
    if name.contains('.') {
        name.to_string()
    } else {
        format!("builtins.{name}")
    }
}

/// Short spelling in paths: builtins without their module.
fn short(name: &str) -> &str {
    name.strip_prefix("builtins.").unwrap_or(name)
}

/// Multi-source BFS from `roots[from..]` over nodes not reached yet.
/// The roots (frame locals, module globals, class attributes, then the frozen objects no other
/// root reaches) and the breadth-first search from them: every object's parent on its shortest
/// path and the root it came from (`NONE`: unreachable).
pub(super) struct Rooted {
    pub roots: Vec<Root>,
    pub parent: Vec<u32>,
    pub root_of: Vec<u32>,
}

pub(super) fn rooted(
    r: &Reader<'_>,
    interps: &[u64],
    threads: &[RawThread],
    g: &HeapGraph,
    types: &mut TypeCache,
) -> Rooted {
    let n = g.len();
    let mut parent = vec![NONE; n];
    let mut root_of = vec![NONE; n];
    let mut all_roots: Vec<Root> = roots(r, interps, threads, g, types);
    bfs(g, &all_roots, 0, &mut parent, &mut root_of);
    let first_frozen = all_roots.len();
    for &f in &g.frozen {
        if root_of[f as usize] == NONE {
            all_roots.push(Root {
                node: f,
                label: "<frozen generation>".into(),
                kind: RootKind::Frozen,
            });
        }
    }
    bfs(g, &all_roots, first_frozen, &mut parent, &mut root_of);
    Rooted {
        roots: all_roots,
        parent,
        root_of,
    }
}

fn bfs(g: &HeapGraph, roots: &[Root], from: usize, parent: &mut [u32], root_of: &mut [u32]) {
    let mut queue = std::collections::VecDeque::new();
    for (k, root) in roots.iter().enumerate().skip(from) {
        let v = root.node as usize;
        if root_of[v] == NONE {
            root_of[v] = k as u32;
            queue.push_back(root.node);
        }
    }
    while let Some(v) = queue.pop_front() {
        for &w in g.succ.succ(v) {
            if root_of[w as usize] == NONE {
                root_of[w as usize] = root_of[v as usize];
                parent[w as usize] = v;
                queue.push_back(w);
            }
        }
    }
}

/// Every root leakspy knows, as graph nodes.
fn roots(
    r: &Reader<'_>,
    interps: &[u64],
    threads: &[RawThread],
    g: &HeapGraph,
    types: &mut TypeCache,
) -> Vec<Root> {
    let l = r.l;
    let node = |addr: u64| g.node_of(addr);
    let mut out = Vec::new();
    // Frame locals, innermost frames first.
    for t in threads {
        for (f, &(frame, code)) in t.frames.iter().zip(&t.frame_addrs) {
            let (slots, tag_mask) = match (&l.iframe, l.frame_object.f_localsplus) {
                (Some(fr), _) => (frame + fr.localsplus, fr.executable_tag_mask),
                (None, Some(off)) => (frame + off, 0),
                _ => continue,
            };
            let Ok(names) = r.ptr(code + l.code.local_names) else {
                continue;
            };
            let Ok(count) = r.ob_size(names) else {
                continue;
            };
            for i in 0..count.clamp(0, 4096) as u64 {
                let Ok(value) = r.mem.read_u64(slots + 8 * i) else {
                    break;
                };
                let Some(v) = node(value & !tag_mask) else {
                    continue;
                };
                let var = r
                    .ptr(names + l.tuple.ob_item + 8 * i)
                    .and_then(|p| r.str(p))
                    .unwrap_or_else(|_| format!("#{i}"));
                out.push(Root {
                    node: v,
                    label: format!("{}() local {var}", f.function),
                    kind: RootKind::FrameLocal,
                });
            }
        }
    }
    // Module globals.
    for &interp in interps {
        let Ok(modules) = r.ptr(interp + l.interp.modules) else {
            continue;
        };
        for (k, m) in r.dict_items(modules).unwrap_or_default() {
            let Ok(modname) = r.str(k) else { continue };
            if let Some(dict) = instance_dict(r, m) {
                namespace_roots(r, g, dict, &modname, RootKind::ModuleGlobal, &mut out);
            }
        }
    }
    // Class attributes of heap types.
    for v in 0..g.len() as u32 {
        let (addr, tp) = g.node(v);
        let is_heap_type = types.get(r, tp).is_some_and(|t| t.is_type)
            && r.mem
                .read_u64(addr + l.type_.tp_flags)
                .is_ok_and(|f| f & l.misc.tpflags_heaptype != 0);
        if !is_heap_type {
            continue;
        }
        let Ok(dict) = r.ptr(addr + l.type_.tp_dict) else {
            continue;
        };
        if let Some(tname) = types.get(r, addr).map(|t| t.name.clone()) {
            namespace_roots(r, g, dict, &tname, RootKind::ClassAttribute, &mut out);
        }
    }
    out
}

/// One root per entry of a namespace dict (a module's or a class's), labelled `owner.name`.
fn namespace_roots(
    r: &Reader<'_>,
    g: &HeapGraph,
    dict: u64,
    owner: &str,
    kind: RootKind,
    out: &mut Vec<Root>,
) {
    for (key, value) in r.dict_items(dict).unwrap_or_default() {
        let (Some(v), Ok(attr)) = (g.node_of(value), r.str(key)) else {
            continue;
        };
        out.push(Root {
            node: v,
            label: format!("{owner}.{attr}"),
            kind,
        });
    }
}

/// The `__dict__` of an object whose type has a `tp_dictoffset` (modules).
fn instance_dict(r: &Reader<'_>, obj: u64) -> Option<u64> {
    let tp = r.type_of(obj).ok()?;
    let off = r.mem.read_i64(tp + r.l.type_.tp_dictoffset).ok()?;
    if off <= 0 || off > 1 << 20 {
        return None;
    }
    let d = r.ptr(obj + off as u64).ok()?;
    (d != 0).then_some(d)
}

/// Labels of the references out of the nodes asked last, by target address: a few nodes' maps,
/// not one per node on any path (at hundreds of thousands of paths those were the largest
/// allocation of `refs`). Paths are rendered instance by instance, so the holders they share
/// (a big list, a module's dict) are asked in runs.
#[derive(Default)]
struct LabelCache {
    recent: Vec<(u32, FxHashMap<u64, Label>)>,
}

/// Nodes whose labels [`LabelCache`] keeps.
const LABEL_CACHE: usize = 16;

impl LabelCache {
    fn label(
        &mut self,
        r: &Reader<'_>,
        g: &HeapGraph,
        types: &mut TypeCache,
        from: u32,
        to: u32,
    ) -> Option<Label> {
        match self.recent.iter().position(|(v, _)| *v == from) {
            Some(k) => {
                let e = self.recent.remove(k);
                self.recent.push(e);
            }
            None => {
                let (addr, tp) = g.node(from);
                let mut refs = Vec::new();
                if let Some(info) = types.get(r, tp) {
                    referents::referents(r, addr, tp, info, &mut refs);
                }
                let mut m = FxHashMap::default();
                for (p, lab) in refs {
                    m.entry(p).or_insert(lab);
                }
                if self.recent.len() >= LABEL_CACHE {
                    self.recent.remove(0);
                }
                self.recent.push((from, m));
            }
        }
        let (_, map) = self.recent.last()?;
        map.get(&g.node(to).0).copied()
    }
}

/// A path as steps (`root`, then `holder[how]` per edge, then the instance's type) and its shape.
fn render(
    r: &Reader<'_>,
    g: &HeapGraph,
    types: &mut TypeCache,
    labels: &mut LabelCache,
    root: &Root,
    chain: &[u32],
    show_keys: bool,
) -> (Vec<String>, String) {
    let type_name = |types: &mut TypeCache, v: u32| -> String {
        let tp = g.node(v).1;
        types
            .get(r, tp)
            .map_or_else(|| "?".into(), |t| short(&t.name).to_string())
    };
    let mut steps = vec![root.label.clone()];
    let mut shape = vec![root.label.clone()];
    let mut k = 0;
    while k + 1 < chain.len() {
        let (from, to) = (chain[k], chain[k + 1]);
        let holder = type_name(types, from);
        let label = labels.label(r, g, types, from, to);
        let (step, step_shape) = match label {
            Some(Label::Item(i)) => (format!("{holder}[{i}]"), format!("{holder}[*]")),
            Some(Label::Attr { name }) => {
                let a = r.str(name).unwrap_or_else(|_| "?".into());
                (format!("{holder}.{a}"), format!("{holder}.{a}"))
            }
            Some(Label::Value { key }) => {
                let (text, int) = key_text(r, types, key, show_keys);
                let s = format!("{holder}[{text}]");
                // Int keys are data like list indices: one shape for `{0: a, 1: b, ...}`.
                let shape = if int && !show_keys {
                    format!("{holder}[<int>]")
                } else {
                    s.clone()
                };
                (s, shape)
            }
            Some(Label::Key(_)) => (format!("{holder} key"), format!("{holder} key")),
            Some(Label::Member) => (format!("{holder} member"), format!("{holder} member")),
            Some(Label::Field(off)) => {
                let from_tp = g.node(from).1;
                let is_type = types.get(r, from_tp).is_some_and(|t| t.is_type);
                // An instance's `__dict__` (managed or at tp_dictoffset), a class's tp_dict.
                let is_dict = off == MANAGED_DICT_LABEL
                    || (is_type && off == r.l.type_.tp_dict)
                    || r.mem
                        .read_i64(from_tp + r.l.type_.tp_dictoffset)
                        .is_ok_and(|d| d > 0 && d as u64 == off);
                let next = (is_dict && k + 2 < chain.len())
                    .then(|| labels.label(r, g, types, chain[k + 1], chain[k + 2]))
                    .flatten();
                if let Some(Label::Value { key }) = next {
                    // `obj.__dict__[name]` reads as `obj.name` (names are code, not data).
                    k += 1;
                    let attr = r.str(key).unwrap_or_else(|_| "?".into());
                    let s = format!("{holder}.{attr}");
                    (s.clone(), s)
                } else {
                    let s = slot_name(r, g.node(from).1, off)
                        .map_or_else(|| format!("{holder}+{off:#x}"), |n| format!("{holder}.{n}"));
                    (s.clone(), s)
                }
            }
            None => (format!("{holder}[?]"), format!("{holder}[?]")),
        };
        steps.push(step);
        shape.push(step_shape);
        k += 1;
    }
    let last = type_name(types, chain[chain.len() - 1]);
    steps.push(last.clone());
    shape.push(last);
    (steps, shape.join(" -> "))
}

/// A dict key in a path: attribute-like names and ints always; other str keys only when asked.
/// Also whether the key is an int (paths fold int keys into one shape, like list indices).
pub(crate) fn key_text(
    r: &Reader<'_>,
    types: &mut TypeCache,
    key: u64,
    show: bool,
) -> (String, bool) {
    let tname = r
        .type_of(key)
        .ok()
        .and_then(|tp| types.get(r, tp).map(|t| t.name.clone()))
        .unwrap_or_default();
    let text = match tname.as_str() {
        "builtins.str" if show => r.str(key).map_or_else(
            |_| "<str>".into(),
            |s| {
                let cut: String = s.chars().take(60).collect();
                let more = if cut.len() < s.len() { "…" } else { "" };
                if cut.contains(['\'', '\\']) || cut.chars().any(char::is_control) {
                    format!("{cut:?}{more}")
                } else {
                    format!("'{cut}'{more}")
                }
            },
        ),
        "builtins.str" => "<str>".into(),
        "builtins.int" => r
            .int(key)
            .ok()
            .flatten()
            .map_or_else(|| "<int>".into(), |v| v.to_string()),
        other => format!("<{}>", short(other)),
    };
    (text, tname == "builtins.int")
}

/// The `__slots__` member (`tp_members`) at `off` of instances of `tp` or its bases.
pub(crate) fn slot_name(r: &Reader<'_>, tp: u64, off: u64) -> Option<String> {
    let l = r.l;
    let mut cur = tp;
    for _ in 0..64 {
        if cur == 0 {
            return None;
        }
        let members = r.ptr(cur + l.type_.tp_members).ok()?;
        if members != 0 {
            // PyMemberDef {const char *name; int type; Py_ssize_t offset; int flags; const char *doc}
            for i in 0..256u64 {
                let m = members + i * 40;
                let name = r.ptr(m).ok()?;
                if name == 0 {
                    break;
                }
                if r.mem.read_i64(m + 16).ok()? as u64 == off {
                    let n = r.mem.read_cstr(name, 128).ok()?;
                    return Some(String::from_utf8_lossy(&n).into_owned());
                }
            }
        }
        cur = r.ptr(cur + l.type_.tp_base).ok()?;
    }
    None
}

/// The dominator tree over the graph plus a super-root (node `n`) above every root, the frozen
/// generation and every object no root reaches (the graph's edges are not copied for it: see
/// `super_rooted`). Returns idom and retained sizes, over `g.len() + 1` nodes.
fn dominator_tree(g: &HeapGraph, top: &[u32]) -> (Vec<u32>, Vec<u64>) {
    let (aug, idom) = dominated(g, top);
    let n = g.len() as u32;
    let retained =
        dominators::retained_sizes(
            &aug,
            aug.root(),
            &idom,
            |v| {
                if v < n {
                    g.size(v)
                } else {
                    0
                }
            },
        );
    (idom, retained)
}

/// The super-root's successors: every root, the frozen generation and every object no root
/// reaches, sorted.
pub(super) fn super_root_top(g: &HeapGraph, roots: &[Root], root_of: &[u32]) -> Vec<u32> {
    let n = g.len();
    let mut top: Vec<u32> = roots.iter().map(|r| r.node).collect();
    top.extend((0..n as u32).filter(|&v| root_of.get(v as usize) == Some(&NONE)));
    top.sort_unstable();
    top.dedup();
    top
}

/// The graph with the super-root (node `g.len()`) above `top`.
pub(super) fn super_rooted<'g>(g: &'g HeapGraph, top: &'g [u32]) -> WithRoot<'g> {
    WithRoot { g: &g.succ, top }
}

/// The graph under the super-root and its immediate dominators (over `g.len() + 1` nodes).
pub(super) fn dominated<'g>(g: &'g HeapGraph, top: &'g [u32]) -> (WithRoot<'g>, Vec<u32>) {
    let aug = super_rooted(g, top);
    let idom = dominators::immediate_dominators(&aug, aug.root());
    (aug, idom)
}

/// Per type: instances, bytes, and the retained size of the instances that no other instance of
/// the same type dominates (so nested instances are not counted twice).
fn retained_by_type(
    g: &HeapGraph,
    idom: &[u32],
    retained: &[u64],
    super_root: u32,
) -> FxHashMap<u64, (u64, u64, u64)> {
    // Children in the dominator tree.
    let children = Csr::from_edges(
        idom.len(),
        idom.iter()
            .enumerate()
            .filter(|&(v, &d)| d != NONE && d as usize != v)
            .map(|(v, &d)| (d, v as u32)),
    );
    let mut out: FxHashMap<u64, (u64, u64, u64)> = FxHashMap::default();
    let mut open: FxHashMap<u64, u32> = FxHashMap::default();
    // (node, entered)
    let mut stack = vec![(super_root, false)];
    while let Some((v, entered)) = stack.pop() {
        let tp = ((v as usize) < g.len()).then(|| g.node(v).1);
        if entered {
            if let Some(tp) = tp {
                if let Some(c) = open.get_mut(&tp) {
                    *c -= 1;
                }
            }
            continue;
        }
        if let Some(tp) = tp {
            let e = out.entry(tp).or_default();
            e.0 += 1;
            e.1 += g.size(v);
            let c = open.entry(tp).or_default();
            if *c == 0 {
                e.2 += retained[v as usize];
            }
            *c += 1;
        }
        stack.push((v, true));
        for &c in children.succ(v) {
            stack.push((c, false));
        }
    }
    out
}

/// Every root [`analyse`] searches from, in its order, as (node, label, root kind), for exporters
/// ([`crate::analysis::export`]). The frozen generation is not included (it is a fallback).
pub(crate) fn root_entries(
    r: &Reader<'_>,
    interps: &[u64],
    threads: &[RawThread],
    g: &HeapGraph,
    types: &mut TypeCache,
) -> Vec<(u32, String, &'static str)> {
    roots(r, interps, threads, g, types)
        .into_iter()
        .map(|root| (root.node, root.label, root.kind.name()))
        .collect()
}

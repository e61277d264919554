//! `--heapsnapshot FILE`: the reference graph in the Chrome DevTools / V8 `.heapsnapshot` format,
//! for DevTools' Memory tab (Summary, Containment, Retainers, Comparison) and memlab.
//!
//! The format is one JSON object: `snapshot.meta` names the fields of the flat `nodes` and `edges`
//! arrays (`node_fields`, `edge_fields`, their `types`), `strings` is the table every name points
//! into, and an edge's `to_node` is the index of the target node's first field. Each node's edges
//! follow each other, in node order (a node says how many it has).
//!
//! Mapping: every Python object is an `object` node named by its type (`builtins.dict`,
//! `app.Session`) with its size as self size and its address as id. Edges are `element` (list and
//! tuple items, by index), `property` (attributes, namespace entries, slots, dict values named by
//! their key or the key's kind) or `internal` (dict keys, set members, `__dict__`, C fields).
//! Synthetic nodes above them hold the roots: node 0 `(GC roots)` (id 1), then one node per kind of
//! root (`(frame locals)`, `(module globals)`, `(class attributes)`, `(frozen generation)`,
//! `(held from C, or garbage)`), then one per owner (`main()`, `module __main__`,
//! `class __main__.Cache`) whose property edges are the variables, globals and attributes.
//!
//! Written as it goes (no copy of the graph is made): a multi-million-object heap streams.

use leakspy_python::analysis::export::{EdgeKind, GraphExport};
use std::io::{self, Write};

const NODE_FIELDS: usize = 7;
/// Node types, as V8 lists them (indices are what `nodes` holds).
const NODE_TYPES: [&str; 14] = [
    "hidden",
    "array",
    "string",
    "object",
    "code",
    "closure",
    "regexp",
    "number",
    "native",
    "synthetic",
    "concatenated string",
    "sliced string",
    "symbol",
    "bigint",
];
const OBJECT: u32 = 3;
const SYNTHETIC: u32 = 9;
const EDGE_TYPES: [&str; 7] = [
    "context", "element", "property", "internal", "hidden", "shortcut", "weak",
];
const ELEMENT: u32 = 1;
const PROPERTY: u32 = 2;
const INTERNAL: u32 = 3;

/// The synthetic nodes above the objects: (name, edges as (type, name string or index, node)).
struct Synthetic {
    names: Vec<String>,
    edges: Vec<Vec<(u32, u64, u64)>>,
}

fn category(kind: &str) -> &'static str {
    match kind {
        "frame_local" => "(frame locals)",
        "module_global" => "(module globals)",
        "class_attribute" => "(class attributes)",
        "frozen" => "(frozen generation)",
        "unreached" => "(held from C, or garbage)",
        _ => "(other roots)",
    }
}

fn group_name(kind: &str, name: &str) -> String {
    match kind {
        "frame_local" => format!("{name} locals"),
        "module_global" => format!("module {name}"),
        "class_attribute" => format!("class {name}"),
        _ => name.to_string(),
    }
}

/// Write `g` as a `.heapsnapshot` to `out` (buffer it: many small writes).
pub fn write(g: &GraphExport, out: &mut dyn Write) -> io::Result<()> {
    // Strings: "" first, then the type names, the edge names, the synthetic names and root
    // member names (these last ones may repeat; the table need not be unique).
    let type_base = 1u64;
    let name_base = type_base + g.type_names.len() as u64;
    let mut extra: Vec<String> = Vec::new();
    let mut extra_id = |s: String| -> u64 {
        extra.push(s);
        name_base + g.names.len() as u64 + extra.len() as u64 - 1
    };

    // Synthetic nodes: the root, the categories (in the order of first appearance), the groups.
    let mut categories: Vec<&'static str> = Vec::new();
    for r in &g.roots {
        let c = category(r.kind);
        if !categories.contains(&c) {
            categories.push(c);
        }
    }
    let synth_count = 1 + categories.len() + g.roots.len();
    let object_node = |i: u32| ((synth_count + i as usize) * NODE_FIELDS) as u64;
    let mut syn = Synthetic {
        names: Vec::with_capacity(synth_count),
        edges: Vec::with_capacity(synth_count),
    };
    syn.names.push("(GC roots)".into());
    syn.edges.push(
        (0..categories.len())
            .map(|k| (ELEMENT, k as u64 + 1, ((1 + k) * NODE_FIELDS) as u64))
            .collect(),
    );
    for c in &categories {
        syn.names.push((*c).to_string());
        let mut e = Vec::new();
        for (k, r) in g.roots.iter().enumerate() {
            if category(r.kind) == *c {
                let to = ((1 + categories.len() + k) * NODE_FIELDS) as u64;
                e.push((ELEMENT, e.len() as u64 + 1, to));
            }
        }
        syn.edges.push(e);
    }
    for r in &g.roots {
        syn.names.push(group_name(r.kind, &r.name));
        let mut e = Vec::with_capacity(r.members.len());
        for (k, (member, node)) in r.members.iter().enumerate() {
            if member.is_empty() {
                e.push((ELEMENT, k as u64, object_node(*node)));
            } else {
                e.push((PROPERTY, extra_id(member.clone()), object_node(*node)));
            }
        }
        syn.edges.push(e);
    }
    let synth_name: Vec<u64> = syn.names.iter().map(|n| extra_id(n.clone())).collect();
    let edge_count: usize = syn.edges.iter().map(Vec::len).sum::<usize>() + g.edges.len();

    write!(
        out,
        "{{\"snapshot\":{{\"meta\":{{\"node_fields\":[\"type\",\"name\",\"id\",\"self_size\",\
         \"edge_count\",\"trace_node_id\",\"detachedness\"],\"node_types\":[{},\"string\",\
         \"number\",\"number\",\"number\",\"number\",\"number\"],\"edge_fields\":[\"type\",\
         \"name_or_index\",\"to_node\"],\"edge_types\":[{},\"string_or_number\",\"node\"],\
         \"trace_function_info_fields\":[\"function_id\",\"name\",\"script_name\",\"script_id\",\
         \"line\",\"column\"],\"trace_node_fields\":[\"id\",\"function_info_index\",\"count\",\
         \"size\",\"children\"],\"sample_fields\":[\"timestamp_us\",\"last_assigned_id\"],\
         \"location_fields\":[\"object_index\",\"script_id\",\"line\",\"column\"]}},\
         \"node_count\":{},\"edge_count\":{},\"trace_function_count\":0}},\n\"nodes\":[",
        serde_json::to_string(&NODE_TYPES)?,
        serde_json::to_string(&EDGE_TYPES)?,
        synth_count + g.nodes.len(),
        edge_count
    )?;
    let mut first = true;
    let mut sep = |out: &mut dyn Write| -> io::Result<()> {
        if first {
            first = false;
            Ok(())
        } else {
            out.write_all(b",\n")
        }
    };
    for (k, e) in syn.edges.iter().enumerate() {
        sep(out)?;
        // Synthetic ids are odd and small (1, 3, 5...); objects' ids are their (even) addresses.
        write!(
            out,
            "{SYNTHETIC},{},{},0,{},0,0",
            synth_name[k],
            2 * k + 1,
            e.len()
        )?;
    }
    for (i, n) in g.nodes.iter().enumerate() {
        sep(out)?;
        write!(
            out,
            "{OBJECT},{},{},{},{},0,0",
            type_base + u64::from(n.type_id),
            n.addr,
            n.size,
            g.edges_of(i).len()
        )?;
    }
    out.write_all(b"],\n\"edges\":[")?;
    let mut first = true;
    let mut sep = |out: &mut dyn Write| -> io::Result<()> {
        if first {
            first = false;
            Ok(())
        } else {
            out.write_all(b",\n")
        }
    };
    for e in syn.edges.iter().flatten() {
        sep(out)?;
        write!(out, "{},{},{}", e.0, e.1, e.2)?;
    }
    for e in &g.edges {
        sep(out)?;
        let (t, name) = match e.kind {
            EdgeKind::Element => (ELEMENT, e.name),
            EdgeKind::Property => (PROPERTY, name_base + e.name),
            EdgeKind::Internal => (INTERNAL, name_base + e.name),
        };
        write!(out, "{t},{name},{}", object_node(e.to))?;
    }
    out.write_all(
        b"],\n\"trace_function_infos\":[],\"trace_tree\":[],\"samples\":[],\"locations\":[],\n\"strings\":[\"\"",
    )?;
    for s in g.type_names.iter().chain(&g.names).chain(&extra) {
        out.write_all(b",\n")?;
        serde_json::to_writer(&mut *out, s)?;
    }
    out.write_all(b"]}\n")?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use leakspy_python::analysis::export::{ExportEdge, ExportNode, RootGroup};
    use serde_json::Value;

    /// `registry = {"k": [a]}` held by module `__main__`, plus one unreached object.
    fn sample() -> GraphExport {
        GraphExport {
            type_names: vec![
                "builtins.dict".into(),
                "builtins.list".into(),
                "app.A".into(),
            ],
            nodes: vec![
                ExportNode {
                    addr: 0x1000,
                    type_id: 0,
                    size: 184,
                },
                ExportNode {
                    addr: 0x2000,
                    type_id: 1,
                    size: 64,
                },
                ExportNode {
                    addr: 0x3000,
                    type_id: 2,
                    size: 48,
                },
                ExportNode {
                    addr: 0x4000,
                    type_id: 2,
                    size: 48,
                },
            ],
            edge_start: vec![0, 1, 2, 2, 2],
            edges: vec![
                ExportEdge {
                    kind: EdgeKind::Property,
                    name: 0,
                    to: 1,
                },
                ExportEdge {
                    kind: EdgeKind::Element,
                    name: 0,
                    to: 2,
                },
            ],
            names: vec!["[<str>]".into()],
            roots: vec![
                RootGroup {
                    kind: "module_global",
                    name: "__main__".into(),
                    members: vec![("registry".into(), 0)],
                },
                RootGroup {
                    kind: "unreached",
                    name: "<held from C, or garbage>".into(),
                    members: vec![(String::new(), 3)],
                },
            ],
        }
    }

    fn parse(g: &GraphExport) -> Value {
        let mut buf = Vec::new();
        write(g, &mut buf).unwrap();
        serde_json::from_slice(&buf).unwrap()
    }

    fn nums(v: &Value) -> Vec<u64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap())
            .collect()
    }

    #[test]
    fn counts_and_fields_agree() {
        let v = parse(&sample());
        let nodes = nums(&v["nodes"]);
        let edges = nums(&v["edges"]);
        let meta = &v["snapshot"]["meta"];
        assert_eq!(meta["node_fields"].as_array().unwrap().len(), NODE_FIELDS);
        // root + 2 categories + 2 groups + 4 objects.
        assert_eq!(v["snapshot"]["node_count"], 9);
        assert_eq!(nodes.len(), 9 * NODE_FIELDS);
        assert_eq!(edges.len() % 3, 0);
        assert_eq!(
            v["snapshot"]["edge_count"].as_u64().unwrap() as usize,
            edges.len() / 3
        );
        let edge_sum: u64 = nodes.chunks(NODE_FIELDS).map(|n| n[4]).sum();
        assert_eq!(edge_sum as usize, edges.len() / 3);
        for e in edges.chunks(3) {
            assert_eq!(e[2] % NODE_FIELDS as u64, 0);
            assert!((e[2] as usize) < nodes.len());
        }
        // Node 0 is the root, id 1; the objects' ids are their addresses.
        let strings = v["strings"].as_array().unwrap();
        assert_eq!(strings[nodes[1] as usize], "(GC roots)");
        assert_eq!(nodes[2], 1);
        let objects: Vec<&[u64]> = nodes.chunks(NODE_FIELDS).skip(5).collect();
        assert_eq!(objects[2][2], 0x3000);
        assert_eq!(strings[objects[2][1] as usize], "app.A");
        assert_eq!(objects[0][3], 184);
    }

    #[test]
    fn a_path_from_the_root_names_each_step() {
        let v = parse(&sample());
        let nodes = nums(&v["nodes"]);
        let edges = nums(&v["edges"]);
        let strings: Vec<String> = v["strings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect();
        // Edge ranges per node.
        let mut start = vec![0usize];
        for n in nodes.chunks(NODE_FIELDS) {
            start.push(start.last().unwrap() + n[4] as usize);
        }
        let out = |node: usize| -> Vec<(u64, String, usize)> {
            (start[node]..start[node + 1])
                .map(|k| {
                    let e = &edges[3 * k..3 * k + 3];
                    let name = if e[0] == u64::from(ELEMENT) {
                        format!("[{}]", e[1])
                    } else {
                        strings[e[1] as usize].clone()
                    };
                    (e[0], name, e[2] as usize / NODE_FIELDS)
                })
                .collect()
        };
        let name = |node: usize| strings[nodes[node * NODE_FIELDS + 1] as usize].clone();
        let cat = out(0)[0].2;
        assert_eq!(name(cat), "(module globals)");
        let group = out(cat)[0].2;
        assert_eq!(name(group), "module __main__");
        let (_, var, dict) = out(group)[0].clone();
        assert_eq!(
            (var.as_str(), name(dict).as_str()),
            ("registry", "builtins.dict")
        );
        let (_, key, list) = out(dict)[0].clone();
        assert_eq!(
            (key.as_str(), name(list).as_str()),
            ("[<str>]", "builtins.list")
        );
        let (t, idx, a) = out(list)[0].clone();
        assert_eq!((t, idx.as_str(), name(a).as_str()), (1, "[0]", "app.A"));
        let unreached = out(0)[1].2;
        assert_eq!(name(unreached), "(held from C, or garbage)");
    }

    #[test]
    fn an_empty_graph_is_still_a_snapshot() {
        let v = parse(&GraphExport::default());
        assert_eq!(v["snapshot"]["node_count"], 1);
        assert_eq!(nums(&v["edges"]).len(), 0);
    }
}

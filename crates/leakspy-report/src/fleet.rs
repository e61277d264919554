//! `--subprocesses` output: the processes of a service side by side, and the aggregate heap (the
//! sum over processes, with per type how it is spread: in how many processes, which pid holds
//! most, the most and the least one process holds). Schema: docs/json-schema.md#subprocesses.

use crate::{human_bytes, thousands};
use leakspy_python::dump::DumpReport;
use leakspy_python::fleet::{Fleet, Member};
use serde::Serialize;
use std::collections::HashMap;
use std::io::{self, Write};

/// The heap summed over the processes.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Aggregate {
    pub objects: u64,
    pub bytes: u64,
    /// By bytes, descending (ties by name).
    pub types: Vec<AggregateType>,
}

/// One type over all processes.
#[derive(Debug, Clone, Serialize)]
pub struct AggregateType {
    #[serde(rename = "type")]
    pub type_name: String,
    /// Instances in all processes together.
    pub count: u64,
    pub bytes: u64,
    /// How many processes hold at least one.
    pub processes: usize,
    /// The process holding the most instances (the lowest pid on a tie), and how many.
    pub max_pid: i32,
    pub max_count: u64,
    /// The fewest instances one process holds (0 when some process holds none).
    pub min_count: u64,
}

/// Sum the heaps of the processes read.
pub fn aggregate(reports: &[&DumpReport]) -> Aggregate {
    let mut by_type: HashMap<&str, AggregateType> = HashMap::new();
    let mut agg = Aggregate::default();
    for r in reports {
        agg.objects += r.heap.objects;
        agg.bytes += r.heap.bytes;
        for t in &r.heap.types {
            let e = by_type
                .entry(t.type_name.as_str())
                .or_insert_with(|| AggregateType {
                    type_name: t.type_name.clone(),
                    count: 0,
                    bytes: 0,
                    processes: 0,
                    max_pid: r.pid,
                    max_count: 0,
                    min_count: u64::MAX,
                });
            e.count += t.count;
            e.bytes += t.bytes;
            e.processes += 1;
            if t.count > e.max_count || (t.count == e.max_count && r.pid < e.max_pid) {
                e.max_count = t.count;
                e.max_pid = r.pid;
            }
            e.min_count = e.min_count.min(t.count);
        }
    }
    agg.types = by_type
        .into_values()
        .map(|mut t| {
            if t.processes < reports.len() {
                t.min_count = 0;
            }
            t
        })
        .collect();
    agg.types.sort_by(|a, b| {
        b.bytes
            .cmp(&a.bytes)
            .then_with(|| a.type_name.cmp(&b.type_name))
    });
    agg
}

fn reports(fleet: &Fleet) -> Vec<&DumpReport> {
    fleet.members.iter().map(|m| &m.report).collect()
}

/// A process's own document with what the fleet knows about it added: `role`, `ppid`,
/// `cmdline`, `server`.
fn member_json(m: &Member, own: serde_json::Value) -> serde_json::Value {
    let mut v = own;
    if let Some(obj) = v.as_object_mut() {
        obj.insert("role".into(), m.role.as_str().into());
        obj.insert("ppid".into(), m.ppid.into());
        obj.insert("cmdline".into(), m.cmdline.clone().into());
        obj.insert(
            "server".into(),
            m.server.map_or(serde_json::Value::Null, Into::into),
        );
    }
    v
}

fn fleet_json(
    fleet: &Fleet,
    processes: Vec<serde_json::Value>,
    extra: Option<(&str, serde_json::Value)>,
) -> io::Result<serde_json::Value> {
    let mut doc = serde_json::json!({
        "root": fleet.root,
        "jobs": fleet.jobs,
        "wall_ms": fleet.wall_ms,
        "partial": fleet.partial(),
        "processes": processes,
        "aggregate": aggregate(&reports(fleet)),
        "skipped": fleet.skipped,
    });
    if let (Some((k, v)), Some(obj)) = (extra, doc.as_object_mut()) {
        obj.insert(k.into(), v);
    }
    Ok(doc)
}

/// `dump --subprocesses --json`.
pub fn render_json(fleet: &Fleet, w: &mut dyn Write) -> io::Result<()> {
    let mut processes = Vec::new();
    for m in &fleet.members {
        processes.push(member_json(m, serde_json::to_value(&m.report)?));
    }
    let doc = fleet_json(fleet, processes, None)?;
    serde_json::to_writer(&mut *w, &doc)?;
    writeln!(w)
}

/// The header line and one line per process read, then the skipped ones.
fn render_processes(fleet: &Fleet, w: &mut dyn Write) -> io::Result<()> {
    let server = fleet
        .members
        .iter()
        .find_map(|m| m.server)
        .map_or(String::new(), |s| format!(" ({s})"));
    let gone = fleet.skipped.iter().filter(|s| s.gone()).count();
    writeln!(
        w,
        "Service of pid {}{server}: {} Python process{} read ({} at a time, each paused on its own) in {:.0} ms; {} skipped{}",
        fleet.root,
        fleet.members.len(),
        if fleet.members.len() == 1 { "" } else { "es" },
        fleet.jobs,
        fleet.wall_ms,
        fleet.skipped.len(),
        if gone > 0 { format!(", {gone} gone") } else { String::new() }
    )?;
    writeln!(
        w,
        "{:>8}  {:<7} {:>10} {:>11} {:>10} {:>8}  {:<32}  command",
        "pid", "role", "rss", "objects", "bytes", "paused", "top type (bytes)"
    )?;
    for m in &fleet.members {
        let r = &m.report;
        let top = r.heap.types.first().map_or_else(
            || "-".to_string(),
            |t| format!("{} ({})", t.type_name, human_bytes(t.bytes)),
        );
        writeln!(
            w,
            "{:>8}  {:<7} {:>10} {:>11} {:>10} {:>6.1}ms  {:<32}  {}{}",
            m.pid,
            m.role.as_str(),
            r.memory
                .as_ref()
                .map_or("-".into(), |mem| human_bytes(mem.rss)),
            thousands(r.heap.objects),
            human_bytes(r.heap.bytes),
            r.pause_ms,
            shorten(&top, 32),
            shorten(&display_cmdline(&m.cmdline), 60),
            if r.partial { "  (partial)" } else { "" }
        )?;
    }
    for s in &fleet.skipped {
        writeln!(
            w,
            "{:>8}  {:<7} {}: {}",
            s.pid,
            if s.gone() { "gone" } else { "skipped" },
            leakspy_python::attach::children::shorten(&s.cmdline, 50),
            s.why
        )?;
    }
    Ok(())
}

/// A command line for one text line: the program (and a script run by an interpreter) by its file
/// name, the arguments as they are.
fn display_cmdline(cmdline: &str) -> String {
    cmdline
        .split(' ')
        .enumerate()
        .map(|(i, w)| {
            if i < 2 && w.starts_with('/') {
                w.rsplit('/').next().unwrap_or(w)
            } else {
                w
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn shorten(s: &str, max: usize) -> String {
    leakspy_python::attach::children::shorten(s, max)
}

/// `dump --subprocesses`: the process table, then the aggregate histogram with each type's spread
/// over the processes; `per_process` adds every process's full report first.
pub fn render_text(
    fleet: &Fleet,
    top: usize,
    per_process: bool,
    w: &mut dyn Write,
) -> io::Result<()> {
    if per_process {
        for m in &fleet.members {
            writeln!(
                w,
                "=== pid {} ({}): {}",
                m.pid,
                m.role.as_str(),
                shorten(&m.cmdline, 100)
            )?;
            crate::render_text(&m.report, top, w)?;
            writeln!(w)?;
        }
        writeln!(w, "=== the service")?;
    }
    render_processes(fleet, w)?;
    let agg = aggregate(&reports(fleet));
    render_aggregate(&agg, fleet.members.len(), top, w)
}

fn render_aggregate(agg: &Aggregate, n: usize, top: usize, w: &mut dyn Write) -> io::Result<()> {
    writeln!(w)?;
    writeln!(
        w,
        "Heap over {n} process{}: {} objects, {}",
        if n == 1 { "" } else { "es" },
        thousands(agg.objects),
        human_bytes(agg.bytes)
    )?;
    writeln!(
        w,
        "{:>14} {:>11}  {:>5}  {:>11} {:>8}  {:>11}  type",
        "count", "bytes", "procs", "max", "(pid)", "min"
    )?;
    for t in agg.types.iter().take(top) {
        writeln!(
            w,
            "{:>14} {:>11}  {:>5}  {:>11} {:>8}  {:>11}  {}",
            thousands(t.count),
            human_bytes(t.bytes),
            t.processes,
            thousands(t.max_count),
            t.max_pid,
            thousands(t.min_count),
            t.type_name
        )?;
    }
    if agg.types.len() > top {
        let rest = &agg.types[top..];
        writeln!(
            w,
            "{:>14} {:>11}  ({} more types; --top N shows more)",
            thousands(rest.iter().map(|t| t.count).sum()),
            human_bytes(rest.iter().map(|t| t.bytes).sum()),
            rest.len()
        )?;
    }
    Ok(())
}

/// `refs --subprocesses` summed: instances and retained bytes over the processes, and the path
/// shapes with how they are spread.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RefsAggregate {
    #[serde(rename = "type")]
    pub type_name: String,
    pub instances: u64,
    pub bytes: u64,
    pub retained_bytes: u64,
    pub unreachable: u64,
    pub paths: Vec<AggregatePath>,
}

/// One path shape over all processes.
#[derive(Debug, Clone, Serialize)]
pub struct AggregatePath {
    pub shape: String,
    pub count: u64,
    pub processes: usize,
    pub max_pid: i32,
    pub max_count: u64,
}

pub fn refs_aggregate(fleet: &Fleet, type_name: &str) -> RefsAggregate {
    let mut agg = RefsAggregate {
        type_name: type_name.to_string(),
        ..RefsAggregate::default()
    };
    let mut shapes: HashMap<&str, AggregatePath> = HashMap::new();
    for m in &fleet.members {
        let Some(r) = m.report.heap.refs.as_ref() else {
            continue;
        };
        agg.type_name = r.type_name.clone();
        agg.instances += r.instances;
        agg.bytes += r.bytes;
        agg.retained_bytes += r.retained_bytes;
        agg.unreachable += r.unreachable;
        let mut own: HashMap<&str, u64> = HashMap::new();
        for p in &r.paths {
            *own.entry(p.shape.as_str()).or_default() += p.count;
        }
        for (shape, count) in own {
            let e = shapes.entry(shape).or_insert_with(|| AggregatePath {
                shape: shape.to_string(),
                count: 0,
                processes: 0,
                max_pid: m.pid,
                max_count: 0,
            });
            e.count += count;
            e.processes += 1;
            if count > e.max_count || (count == e.max_count && m.pid < e.max_pid) {
                e.max_count = count;
                e.max_pid = m.pid;
            }
        }
    }
    agg.paths = shapes.into_values().collect();
    agg.paths
        .sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.shape.cmp(&b.shape)));
    agg
}

/// `refs --subprocesses --json`: each process's usual `refs` document, the heap aggregate, and
/// `refs_aggregate`.
pub fn render_refs_json(fleet: &Fleet, type_name: &str, w: &mut dyn Write) -> io::Result<()> {
    let mut processes = Vec::new();
    for m in &fleet.members {
        let Some(refs) = m.report.heap.refs.as_ref() else {
            continue;
        };
        let mut buf = Vec::new();
        crate::refs::render_json(&m.report, refs, &mut buf)?;
        let own: serde_json::Value = serde_json::from_slice(&buf)?;
        processes.push(member_json(m, own));
    }
    let extra = serde_json::to_value(refs_aggregate(fleet, type_name))?;
    let doc = fleet_json(fleet, processes, Some(("refs_aggregate", extra)))?;
    serde_json::to_writer(&mut *w, &doc)?;
    writeln!(w)
}

/// `refs --subprocesses`: the process table, then per process the instances and where they are
/// held, then the path shapes over all processes; `per_process` adds every full `refs` report.
pub fn render_refs_text(
    fleet: &Fleet,
    type_name: &str,
    per_process: bool,
    w: &mut dyn Write,
) -> io::Result<()> {
    if per_process {
        for m in &fleet.members {
            if let Some(refs) = m.report.heap.refs.as_ref() {
                writeln!(w, "=== pid {} ({})", m.pid, m.role.as_str())?;
                crate::refs::render_text(&m.report, refs, w)?;
                writeln!(w)?;
            }
        }
        writeln!(w, "=== the service")?;
    }
    render_processes(fleet, w)?;
    let agg = refs_aggregate(fleet, type_name);
    writeln!(
        w,
        "\n{}: {} instances, {} over {} processes; retained {}",
        agg.type_name,
        thousands(agg.instances),
        human_bytes(agg.bytes),
        fleet.members.len(),
        human_bytes(agg.retained_bytes)
    )?;
    writeln!(
        w,
        "{:>8}  {:<7} {:>11} {:>10} {:>10}  most held by",
        "pid", "role", "instances", "bytes", "retained"
    )?;
    for m in &fleet.members {
        let Some(r) = m.report.heap.refs.as_ref() else {
            continue;
        };
        writeln!(
            w,
            "{:>8}  {:<7} {:>11} {:>10} {:>10}  {}",
            m.pid,
            m.role.as_str(),
            thousands(r.instances),
            human_bytes(r.bytes),
            human_bytes(r.retained_bytes),
            r.paths.first().map_or("-", |p| p.shape.as_str())
        )?;
    }
    if !agg.paths.is_empty() {
        writeln!(w, "\nShortest paths from the roots, over all processes:")?;
        writeln!(
            w,
            "{:>14}  {:>5}  {:>11} {:>8}  shape",
            "instances", "procs", "max", "(pid)"
        )?;
        for p in agg.paths.iter().take(10) {
            writeln!(
                w,
                "{:>14}  {:>5}  {:>11} {:>8}  {}",
                thousands(p.count),
                p.processes,
                thousands(p.max_count),
                p.max_pid,
                p.shape
            )?;
        }
    }
    if agg.unreachable > 0 {
        writeln!(
            w,
            "{} instances no root reaches",
            thousands(agg.unreachable)
        )?;
    }
    Ok(())
}

// Growth over time, per process and over the service: `watch --subprocesses` and
// `leaks --pid --subprocesses`. The caller follows the processes across readings (by pid and start
// time) and gives each one's growth; these sum it with its spread and print it.

/// How much one type grew in one process (negative: it shrank).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TypeGrowth {
    #[serde(rename = "type")]
    pub type_name: String,
    pub count: i64,
    pub bytes: i64,
}

/// Per-type growth from the deltas of `snapshot::diff_types`.
pub fn growth_of_deltas(deltas: &[crate::snapshot::Delta]) -> Vec<TypeGrowth> {
    deltas
        .iter()
        .map(|d| TypeGrowth {
            type_name: d.type_name.clone(),
            count: d.count_delta(),
            bytes: d.bytes_delta(),
        })
        .collect()
}

/// Per-type growth from `snapshot::survivors` (allocation sites merged).
pub fn growth_of_survivors(groups: &[crate::snapshot::SurvivorGroup]) -> Vec<TypeGrowth> {
    let mut by: HashMap<&str, TypeGrowth> = HashMap::new();
    for g in groups {
        let e = by.entry(&g.type_name).or_insert_with(|| TypeGrowth {
            type_name: g.type_name.clone(),
            count: 0,
            bytes: 0,
        });
        e.count += g.count as i64;
        e.bytes += g.bytes as i64;
    }
    let mut v: Vec<TypeGrowth> = by.into_values().collect();
    sort_growth(&mut v, |t| (t.bytes, t.count, t.type_name.as_str()));
    v
}

fn sort_growth<T>(v: &mut [T], key: impl Fn(&T) -> (i64, i64, &str)) {
    v.sort_by(|a, b| {
        let (ab, ac, an) = key(a);
        let (bb, bc, bn) = key(b);
        bb.cmp(&ab)
            .then_with(|| bc.cmp(&ac))
            .then_with(|| an.cmp(bn))
    });
}

/// One type's growth over the processes.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct GrowthSpread {
    #[serde(rename = "type")]
    pub type_name: String,
    /// Summed over the processes.
    pub count: i64,
    pub bytes: i64,
    /// In how many processes its count grew.
    pub processes: usize,
    /// The process where its count grew most (the lowest pid on a tie), and by how much.
    pub max_pid: i32,
    pub max_count: i64,
    /// The least it grew in one process (0 when it did not change in some process; negative when
    /// it shrank somewhere).
    pub min_count: i64,
}

/// Sum each process's growth, with per type how it is spread over the processes. By bytes grown,
/// descending (then count, then name).
pub fn growth_spread(per: &[(i32, &[TypeGrowth])]) -> Vec<GrowthSpread> {
    let mut by: HashMap<&str, (GrowthSpread, usize)> = HashMap::new();
    for &(pid, types) in per {
        for t in types {
            let (e, seen) = by.entry(&t.type_name).or_insert_with(|| {
                (
                    GrowthSpread {
                        type_name: t.type_name.clone(),
                        count: 0,
                        bytes: 0,
                        processes: 0,
                        max_pid: pid,
                        max_count: i64::MIN,
                        min_count: i64::MAX,
                    },
                    0,
                )
            });
            *seen += 1;
            e.count += t.count;
            e.bytes += t.bytes;
            if t.count > 0 {
                e.processes += 1;
            }
            if t.count > e.max_count || (t.count == e.max_count && pid < e.max_pid) {
                e.max_count = t.count;
                e.max_pid = pid;
            }
            e.min_count = e.min_count.min(t.count);
        }
    }
    let mut v: Vec<GrowthSpread> = by
        .into_values()
        .map(|(mut e, seen)| {
            if seen < per.len() {
                e.min_count = e.min_count.min(0);
            }
            e
        })
        .collect();
    sort_growth(&mut v, |t| (t.bytes, t.count, t.type_name.as_str()));
    v
}

/// `+1,234` / `-56` / `0`.
fn signed(n: i64) -> String {
    let s = thousands(n.unsigned_abs());
    match n.signum() {
        1 => format!("+{s}"),
        -1 => format!("-{s}"),
        _ => s,
    }
}

fn signed_bytes(n: i64) -> String {
    let s = human_bytes(n.unsigned_abs());
    match n.signum() {
        1 => format!("+{s}"),
        -1 => format!("-{s}"),
        _ => s,
    }
}

/// One process in a growth report.
#[derive(Debug, Clone, Serialize)]
pub struct ProcessGrowth {
    pub pid: i32,
    pub ppid: i32,
    pub role: &'static str,
    pub cmdline: String,
    /// `read`: read now and before, `growth` is against its first reading; `new`: first read now
    /// (no growth yet); `gone`: read before, not now (exited, or its pid is another process now).
    pub status: &'static str,
    /// At its last reading.
    pub objects: u64,
    pub bytes: u64,
    /// The sums of `growth` (every type, not only the ones listed).
    pub objects_growth: i64,
    pub bytes_growth: i64,
    /// Per type, biggest growth first (the `top` first).
    pub growth: Vec<TypeGrowth>,
}

/// The growth table of a service: one line per process with its growth, then the aggregate growth
/// with per type its spread over the processes.
pub fn render_growth_text(
    title: &str,
    processes: &[ProcessGrowth],
    spread: &[GrowthSpread],
    top: usize,
    w: &mut dyn Write,
) -> io::Result<()> {
    writeln!(w, "{title}")?;
    writeln!(
        w,
        "{:>8}  {:<7} {:<6} {:>11} {:>10} {:>12} {:>11}  {:<40}  command",
        "pid", "role", "status", "objects", "bytes", "Δ objects", "Δ bytes", "grew most (Δ count)"
    )?;
    for p in processes {
        let most = p
            .growth
            .iter()
            .find(|t| t.count > 0 || t.bytes > 0)
            .map_or_else(
                || "-".to_string(),
                |t| format!("{} ({})", t.type_name, signed(t.count)),
            );
        writeln!(
            w,
            "{:>8}  {:<7} {:<6} {:>11} {:>10} {:>12} {:>11}  {:<40}  {}",
            p.pid,
            p.role,
            p.status,
            thousands(p.objects),
            human_bytes(p.bytes),
            signed(p.objects_growth),
            signed_bytes(p.bytes_growth),
            shorten(&most, 40),
            shorten(&display_cmdline(&p.cmdline), 50)
        )?;
    }
    let n = processes.iter().filter(|p| p.status != "gone").count();
    writeln!(
        w,
        "\nGrowth over {n} process{}: {} objects, {}",
        if n == 1 { "" } else { "es" },
        signed(
            processes
                .iter()
                .filter(|p| p.status != "gone")
                .map(|p| p.objects_growth)
                .sum()
        ),
        signed_bytes(
            processes
                .iter()
                .filter(|p| p.status != "gone")
                .map(|p| p.bytes_growth)
                .sum()
        )
    )?;
    if spread.is_empty() {
        return writeln!(w, "  (no change)");
    }
    writeln!(
        w,
        "{:>14} {:>11}  {:>7}  {:>11} {:>8}  {:>11}  type",
        "Δ count", "Δ bytes", "grew in", "max", "(pid)", "min"
    )?;
    for t in spread.iter().take(top) {
        writeln!(
            w,
            "{:>14} {:>11}  {:>7}  {:>11} {:>8}  {:>11}  {}",
            signed(t.count),
            signed_bytes(t.bytes),
            t.processes,
            signed(t.max_count),
            t.max_pid,
            signed(t.min_count),
            t.type_name
        )?;
    }
    if spread.len() > top {
        writeln!(
            w,
            "  ({} more changes; --top N shows more)",
            spread.len() - top
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use leakspy_python::analysis::TypeStat;

    fn report(pid: i32, types: &[(&str, u64)]) -> DumpReport {
        let mut r = DumpReport {
            pid,
            ..DumpReport::default()
        };
        for &(name, count) in types {
            r.heap.types.push(TypeStat {
                type_name: name.into(),
                count,
                bytes: count * 10,
                tracked: 0,
                tracked_bytes: 0,
                size_exact: true,
                sizeof_owner: None,
                allocated_at: None,
                origins: None,
            });
            r.heap.objects += count;
            r.heap.bytes += count * 10;
        }
        r
    }

    #[test]
    fn sums_and_spread() {
        let a = report(10, &[("app.Leak", 5), ("builtins.str", 100)]);
        let b = report(11, &[("app.Leak", 9), ("builtins.str", 50)]);
        let c = report(12, &[("builtins.str", 70)]);
        let agg = aggregate(&[&a, &b, &c]);
        assert_eq!(agg.objects, 5 + 100 + 9 + 50 + 70);
        assert_eq!(agg.bytes, agg.objects * 10);
        let leak = agg
            .types
            .iter()
            .find(|t| t.type_name == "app.Leak")
            .unwrap();
        assert_eq!(
            (
                leak.count,
                leak.processes,
                leak.max_pid,
                leak.max_count,
                leak.min_count
            ),
            (14, 2, 11, 9, 0)
        );
        let s = &agg.types[0];
        assert_eq!(s.type_name, "builtins.str");
        assert_eq!(
            (s.count, s.processes, s.max_pid, s.max_count, s.min_count),
            (220, 3, 10, 100, 50)
        );
    }

    #[test]
    fn growth_sums_and_spread() {
        let g = |v: &[(&str, i64)]| -> Vec<TypeGrowth> {
            v.iter()
                .map(|&(n, c)| TypeGrowth {
                    type_name: n.into(),
                    count: c,
                    bytes: c * 8,
                })
                .collect()
        };
        let a = g(&[("app.Leak", 7), ("builtins.dict", -2)]);
        let b = g(&[("builtins.dict", 3)]);
        let c = g(&[("app.Leak", 7)]);
        let s = growth_spread(&[(30, &a), (20, &b), (10, &c)]);
        assert_eq!(s[0].type_name, "app.Leak");
        assert_eq!(
            (
                s[0].count,
                s[0].processes,
                s[0].max_pid,
                s[0].max_count,
                s[0].min_count
            ),
            (14, 2, 10, 7, 0)
        );
        assert_eq!(
            (
                s[1].count,
                s[1].processes,
                s[1].max_pid,
                s[1].max_count,
                s[1].min_count
            ),
            (1, 1, 20, 3, -2)
        );
        let groups = vec![
            crate::snapshot::SurvivorGroup {
                type_name: "a".into(),
                frames: vec![],
                count: 2,
                bytes: 20,
                born_at: None,
            },
            crate::snapshot::SurvivorGroup {
                type_name: "a".into(),
                frames: vec![leakspy_python::analysis::tracemalloc::SiteFrame {
                    filename: "x.py".into(),
                    line: 1,
                }],
                count: 3,
                bytes: 30,
                born_at: None,
            },
        ];
        assert_eq!(
            growth_of_survivors(&groups),
            vec![TypeGrowth {
                type_name: "a".into(),
                count: 5,
                bytes: 50
            }]
        );
    }
}

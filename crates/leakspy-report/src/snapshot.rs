//! Snapshot files and what is computed from them: growth between two (`leakspy diff`), survivors
//! across three (`leakspy leaks`), and the per-type deltas `leakspy watch` prints.
//!
//! A snapshot is one JSON document, versioned (`format`/`version`), holding the heap histogram (with
//! allocation sites when the target traced) and, optionally, every object's identity — address, type,
//! size, site — which is what tells a leak (objects that stay) from churn (objects that come and go).

use leakspy_python::analysis::tracemalloc::SiteFrame;
use leakspy_python::analysis::ObjectTable;
use leakspy_python::dump::DumpReport;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::io;
use std::path::Path;

pub const FORMAT: &str = "leakspy-snapshot";
pub const VERSION: u32 = 1;

/// One allocation site of a type in a snapshot.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SnapSite {
    pub frames: Vec<SiteFrame>,
    pub count: u64,
    pub bytes: u64,
}

/// One type in a snapshot.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SnapType {
    #[serde(rename = "type")]
    pub type_name: String,
    pub count: u64,
    pub bytes: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocated_at: Option<Vec<SnapSite>>,
}

/// A snapshot file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Snapshot {
    pub format: String,
    pub version: u32,
    /// Milliseconds since the Unix epoch.
    pub taken_at_ms: u64,
    pub pid: i32,
    pub python_version: String,
    pub objects: u64,
    pub bytes: u64,
    pub types: Vec<SnapType>,
    /// Every object's identity (absent when not collected).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identities: Option<ObjectTable>,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Snapshot {
    /// The snapshot of a dump (its heap part; identities when the dump collected them).
    pub fn from_report(r: &DumpReport) -> Snapshot {
        let types = r
            .heap
            .types
            .iter()
            .map(|t| SnapType {
                type_name: t.type_name.clone(),
                count: t.count,
                bytes: t.bytes,
                allocated_at: t.allocated_at.as_ref().map(|sites| {
                    sites
                        .iter()
                        .map(|s| SnapSite {
                            frames: s.frames.clone(),
                            count: s.count,
                            bytes: s.bytes,
                        })
                        .collect()
                }),
            })
            .collect();
        Snapshot {
            format: FORMAT.into(),
            version: VERSION,
            taken_at_ms: now_ms(),
            pid: r.pid,
            python_version: r.python_version.clone(),
            objects: r.heap.objects,
            bytes: r.heap.bytes,
            types,
            identities: r.heap.object_table.clone(),
        }
    }

    pub fn write(&self, path: &Path) -> io::Result<()> {
        let f = std::io::BufWriter::new(std::fs::File::create(path)?);
        serde_json::to_writer(f, self).map_err(io::Error::other)
    }

    /// Read a snapshot file, refusing other formats and newer versions with a clear message.
    pub fn read(path: &Path) -> io::Result<Snapshot> {
        let f = std::io::BufReader::new(std::fs::File::open(path)?);
        let v: serde_json::Value = serde_json::from_reader(f).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: not JSON: {e}", path.display()),
            )
        })?;
        if v.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{} is not a leakspy snapshot (make one with `leakspy snapshot`)",
                    path.display()
                ),
            ));
        }
        let version = v.get("version").and_then(|x| x.as_u64()).unwrap_or(0);
        if version != u64::from(VERSION) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{}: snapshot format version {version}, this leakspy reads version {VERSION}",
                    path.display()
                ),
            ));
        }
        serde_json::from_value(v).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        })
    }
}

/// How one type (or one site) changed between two snapshots.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Delta {
    #[serde(rename = "type")]
    pub type_name: String,
    /// Innermost first; empty for a whole-type delta.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub frames: Vec<SiteFrame>,
    pub count_before: u64,
    pub count_after: u64,
    pub bytes_before: u64,
    pub bytes_after: u64,
}

impl Delta {
    pub fn count_delta(&self) -> i64 {
        self.count_after as i64 - self.count_before as i64
    }
    pub fn bytes_delta(&self) -> i64 {
        self.bytes_after as i64 - self.bytes_before as i64
    }
}

fn sort_by_growth(v: &mut [Delta]) {
    v.sort_by(|a, b| {
        b.bytes_delta()
            .cmp(&a.bytes_delta())
            .then_with(|| b.count_delta().cmp(&a.count_delta()))
            .then_with(|| a.type_name.cmp(&b.type_name))
            .then_with(|| a.frames.cmp(&b.frames))
    });
}

/// Per-type change from `a` to `b`, largest byte growth first (unchanged types left out).
pub fn diff_types(a: &Snapshot, b: &Snapshot) -> Vec<Delta> {
    let mut by: HashMap<&str, Delta> = HashMap::new();
    for (t, after) in a
        .types
        .iter()
        .map(|t| (t, false))
        .chain(b.types.iter().map(|t| (t, true)))
    {
        let d = by.entry(&t.type_name).or_insert_with(|| Delta {
            type_name: t.type_name.clone(),
            frames: Vec::new(),
            count_before: 0,
            count_after: 0,
            bytes_before: 0,
            bytes_after: 0,
        });
        if after {
            d.count_after += t.count;
            d.bytes_after += t.bytes;
        } else {
            d.count_before += t.count;
            d.bytes_before += t.bytes;
        }
    }
    let mut v: Vec<Delta> = by
        .into_values()
        .filter(|d| d.count_delta() != 0 || d.bytes_delta() != 0)
        .collect();
    sort_by_growth(&mut v);
    v
}

/// Per-(type, allocation site) change from `a` to `b` (only where both snapshots have sites).
pub fn diff_sites(a: &Snapshot, b: &Snapshot) -> Vec<Delta> {
    let mut by: HashMap<(String, Vec<SiteFrame>), Delta> = HashMap::new();
    for (snap, after) in [(a, false), (b, true)] {
        for t in &snap.types {
            for s in t.allocated_at.iter().flatten() {
                let d = by
                    .entry((t.type_name.clone(), s.frames.clone()))
                    .or_insert_with(|| Delta {
                        type_name: t.type_name.clone(),
                        frames: s.frames.clone(),
                        count_before: 0,
                        count_after: 0,
                        bytes_before: 0,
                        bytes_after: 0,
                    });
                if after {
                    d.count_after += s.count;
                    d.bytes_after += s.bytes;
                } else {
                    d.count_before += s.count;
                    d.bytes_before += s.bytes;
                }
            }
        }
    }
    let mut v: Vec<Delta> = by
        .into_values()
        .filter(|d| d.count_delta() != 0 || d.bytes_delta() != 0)
        .collect();
    sort_by_growth(&mut v);
    v
}

/// Objects that appeared after the first snapshot and are still alive in the third, grouped by
/// type and allocation site.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SurvivorGroup {
    #[serde(rename = "type")]
    pub type_name: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub frames: Vec<SiteFrame>,
    pub count: u64,
    pub bytes: u64,
    /// Sampled birth stacks of these survivors (`leaks --pid` without tracemalloc sites).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub born_at: Option<crate::leak_births::BornAt>,
}

/// One object that survived (see [`survivor_objects`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Survivor<'a> {
    pub addr: u64,
    pub type_name: &'a str,
    pub site: &'a [SiteFrame],
    pub bytes: u64,
}

/// Identity of an object across snapshots: address and type, plus the allocation site when known
/// (an address reused by a new object of the same type from elsewhere is then told apart).
fn identities(s: &Snapshot) -> Option<HashSet<(u64, &str, &[SiteFrame])>> {
    let t = s.identities.as_ref()?;
    let empty: &[SiteFrame] = &[];
    Some(
        t.objects
            .iter()
            .filter_map(|o| {
                let ty = t.types.get(o[1] as usize)?;
                let site = if o[3] == 0 {
                    empty
                } else {
                    t.sites.get(o[3] as usize - 1)?.as_slice()
                };
                Some((o[0], ty.as_str(), site))
            })
            .collect(),
    )
}

/// The set algebra that separates a leak from churn: objects of `s2` that were not in `s1` and are
/// still in `s3`. None when a snapshot lacks identities.
pub fn survivor_objects<'a>(
    s1: &Snapshot,
    s2: &'a Snapshot,
    s3: &Snapshot,
) -> Option<Vec<Survivor<'a>>> {
    let first = identities(s1)?;
    let last = identities(s3)?;
    let t2 = s2.identities.as_ref()?;
    let empty: &[SiteFrame] = &[];
    let mut v = Vec::new();
    for o in &t2.objects {
        let Some(ty) = t2.types.get(o[1] as usize) else {
            continue;
        };
        let site = if o[3] == 0 {
            empty
        } else {
            t2.sites.get(o[3] as usize - 1).map_or(empty, Vec::as_slice)
        };
        let id = (o[0], ty.as_str(), site);
        if !first.contains(&id) && last.contains(&id) {
            v.push(Survivor {
                addr: o[0],
                type_name: ty,
                site,
                bytes: o[2],
            });
        }
    }
    Some(v)
}

/// The survivors ([`survivor_objects`]) grouped by type and allocation site, most bytes first.
pub fn survivors(s1: &Snapshot, s2: &Snapshot, s3: &Snapshot) -> Option<Vec<SurvivorGroup>> {
    Some(group_survivors(&survivor_objects(s1, s2, s3)?))
}

pub fn group_survivors(objects: &[Survivor<'_>]) -> Vec<SurvivorGroup> {
    let mut groups: HashMap<(&str, &[SiteFrame]), (u64, u64)> = HashMap::new();
    for o in objects {
        let e = groups.entry((o.type_name, o.site)).or_insert((0, 0));
        e.0 += 1;
        e.1 += o.bytes;
    }
    let mut v: Vec<SurvivorGroup> = groups
        .into_iter()
        .map(|((type_name, frames), (count, bytes))| SurvivorGroup {
            type_name: type_name.to_string(),
            frames: frames.to_vec(),
            count,
            bytes,
            born_at: None,
        })
        .collect();
    v.sort_by(|a, b| {
        b.bytes
            .cmp(&a.bytes)
            .then_with(|| a.type_name.cmp(&b.type_name))
            .then_with(|| a.frames.cmp(&b.frames))
    });
    v
}

/// `+1,234` / `-56` / `0`.
fn signed(n: i64) -> String {
    let s = crate::thousands(n.unsigned_abs());
    match n.signum() {
        1 => format!("+{s}"),
        -1 => format!("-{s}"),
        _ => s,
    }
}

/// `+1.5 MiB` / `-200 B`.
fn signed_bytes(n: i64) -> String {
    let s = crate::human_bytes(n.unsigned_abs());
    match n.signum() {
        1 => format!("+{s}"),
        -1 => format!("-{s}"),
        _ => s,
    }
}

fn site_label(frames: &[SiteFrame]) -> String {
    let mut it = frames.iter().map(|f| {
        if f.line == 0 {
            f.filename.clone()
        } else {
            format!("{}:{}", f.filename, f.line)
        }
    });
    let first = it.next().unwrap_or_default();
    let rest: Vec<String> = it.take(2).collect();
    if rest.is_empty() {
        first
    } else {
        format!("{first} <- {}", rest.join(" <- "))
    }
}

/// A growth table: the `top` largest changes, biggest growth first.
pub fn render_deltas(
    title: &str,
    deltas: &[Delta],
    top: usize,
    w: &mut dyn io::Write,
) -> io::Result<()> {
    writeln!(w, "{title}")?;
    if deltas.is_empty() {
        return writeln!(w, "  (no change)");
    }
    writeln!(
        w,
        "  {:>12} {:>12}  {:>11} {:>11}  type / allocation site",
        "count", "Δ count", "bytes", "Δ bytes"
    )?;
    for d in deltas.iter().take(top) {
        let what = if d.frames.is_empty() {
            d.type_name.clone()
        } else {
            format!("{}  at {}", d.type_name, site_label(&d.frames))
        };
        writeln!(
            w,
            "  {:>12} {:>12}  {:>11} {:>11}  {what}",
            crate::thousands(d.count_after),
            signed(d.count_delta()),
            crate::human_bytes(d.bytes_after),
            signed_bytes(d.bytes_delta()),
        )?;
    }
    if deltas.len() > top {
        writeln!(
            w,
            "  ({} more changes; --top N shows more)",
            deltas.len() - top
        )?;
    }
    Ok(())
}

/// The survivors table of `leakspy leaks`.
pub fn render_survivors(
    groups: &[SurvivorGroup],
    top: usize,
    w: &mut dyn io::Write,
) -> io::Result<()> {
    if groups.is_empty() {
        return writeln!(
            w,
            "No object created after the first snapshot survived to the last one: no leak seen."
        );
    }
    let (n, b) = groups
        .iter()
        .fold((0, 0), |(n, b), g| (n + g.count, b + g.bytes));
    writeln!(
        w,
        "{} objects ({}) created after the first snapshot are still alive in the last:",
        crate::thousands(n),
        crate::human_bytes(b)
    )?;
    writeln!(
        w,
        "  {:>12}  {:>11}  type / allocation site",
        "count", "bytes"
    )?;
    for g in groups.iter().take(top) {
        let what = if g.frames.is_empty() {
            g.type_name.clone()
        } else {
            format!("{}  at {}", g.type_name, site_label(&g.frames))
        };
        let note = g
            .born_at
            .as_ref()
            .map_or(String::new(), crate::leak_births::pairs_note);
        writeln!(
            w,
            "  {:>12}  {:>11}  {what}{note}",
            crate::thousands(g.count),
            crate::human_bytes(g.bytes)
        )?;
        if let Some(b) = &g.born_at {
            crate::leak_births::render(b, w)?;
        }
    }
    if groups.len() > top {
        writeln!(
            w,
            "  ({} more groups; --top N shows more)",
            groups.len() - top
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(types: &[(&str, u64, u64)], objects: &[(u64, &str)]) -> Snapshot {
        let mut table = ObjectTable::default();
        for (addr, ty) in objects {
            let i = match table.types.iter().position(|t| t == ty) {
                Some(i) => i,
                None => {
                    table.types.push(ty.to_string());
                    table.types.len() - 1
                }
            };
            table.objects.push([*addr, i as u64, 48, 0]);
        }
        Snapshot {
            format: FORMAT.into(),
            version: VERSION,
            taken_at_ms: 0,
            pid: 1,
            python_version: "3.12.1".into(),
            objects: 0,
            bytes: 0,
            types: types
                .iter()
                .map(|(n, c, b)| SnapType {
                    type_name: n.to_string(),
                    count: *c,
                    bytes: *b,
                    allocated_at: None,
                })
                .collect(),
            identities: Some(table),
        }
    }

    #[test]
    fn growth_is_sorted_and_unchanged_types_dropped() {
        let a = snap(&[("A", 10, 100), ("B", 5, 50), ("C", 1, 1)], &[]);
        let b = snap(&[("A", 30, 300), ("B", 5, 50), ("D", 2, 20)], &[]);
        let d = diff_types(&a, &b);
        let names: Vec<&str> = d.iter().map(|x| x.type_name.as_str()).collect();
        assert_eq!(names, vec!["A", "D", "C"]);
        assert_eq!(d[0].bytes_delta(), 200);
        assert_eq!(d[2].count_delta(), -1);
    }

    #[test]
    fn survivors_exclude_churn_and_old_objects() {
        let s1 = snap(&[], &[(1, "Old"), (2, "Leak")]);
        // 10,11: new leaks; 20: churn (gone by s3); 2: existed before.
        let s2 = snap(
            &[],
            &[
                (1, "Old"),
                (2, "Leak"),
                (10, "Leak"),
                (11, "Leak"),
                (20, "Tmp"),
            ],
        );
        let s3 = snap(
            &[],
            &[
                (1, "Old"),
                (2, "Leak"),
                (10, "Leak"),
                (11, "Leak"),
                (30, "Tmp"),
            ],
        );
        let v = survivors(&s1, &s2, &s3).unwrap();
        assert_eq!(v.len(), 1);
        assert_eq!(
            (v[0].type_name.as_str(), v[0].count, v[0].bytes),
            ("Leak", 2, 96)
        );
        // Same address, different type: not the same object.
        let s3b = snap(&[], &[(10, "Other"), (11, "Leak")]);
        assert_eq!(survivors(&s1, &s2, &s3b).unwrap()[0].count, 1);
    }

    #[test]
    fn files_round_trip_and_foreign_files_are_refused() {
        let dir = std::env::temp_dir().join(format!("leakspy-snap-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("a.json");
        let s = snap(&[("A", 1, 2)], &[(5, "A")]);
        s.write(&p).unwrap();
        let back = Snapshot::read(&p).unwrap();
        assert_eq!(back.types, s.types);
        assert_eq!(back.identities, s.identities);
        std::fs::write(&p, "{\"format\": \"other\"}").unwrap();
        assert!(Snapshot::read(&p)
            .unwrap_err()
            .to_string()
            .contains("not a leakspy snapshot"));
        std::fs::write(&p, format!("{{\"format\": \"{FORMAT}\", \"version\": 99}}")).unwrap();
        assert!(Snapshot::read(&p)
            .unwrap_err()
            .to_string()
            .contains("version 99"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}

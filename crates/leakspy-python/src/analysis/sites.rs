//! Consumer: allocation sites from the target's tracemalloc tables (when it traces), and every
//! object's identity (address, type, size, site) for snapshots.

use super::histogram::{GroupBy, ObjectTable, Site};
use super::tracemalloc::{self, SiteFrame, TracemallocInfo, Traces};
use crate::heap::{Found, Sink};
use crate::model::{Reader, TypeCache};
use rustc_hash::FxHashMap;
use std::collections::HashMap;

/// Objects by allocation traceback, and (when asked) every object's identity.
#[derive(Debug, Default)]
pub struct Sites {
    traces: Option<Traces>,
    /// (type, traceback) -> (count, bytes)
    by_site: FxHashMap<(u64, u64), (u64, u64)>,
    traced: u64,
    objects: u64,
    /// (address, type, bytes, traceback or 0) per object, when collecting.
    collected: Option<Vec<(u64, u64, u64, u64)>>,
}

impl Sites {
    /// Attribute objects to allocation sites from this traces table (`None`: no sites).
    pub fn new(traces: Option<Traces>, collect: bool) -> Self {
        Sites {
            traces,
            collected: collect.then(Vec::new),
            ..Sites::default()
        }
    }

    /// Whether there is a traces table to attribute from.
    pub fn tracing(&self) -> bool {
        self.traces.is_some()
    }

    /// What tracemalloc says, once the walk is done (`None` when not tracing).
    pub fn info(&self) -> Option<TracemallocInfo> {
        self.traces.as_ref().map(|t| TracemallocInfo {
            tracing: true,
            source: Some(t.source.clone()),
            traces: t.by_ptr.len() as u64,
            traced_objects: self.traced,
            untraced_objects: self.objects - self.traced,
            hint: None,
        })
    }

    /// Turn the collected objects into an [`ObjectTable`] (names and tracebacks interned).
    pub fn object_table(&mut self, r: &Reader<'_>, types: &mut TypeCache) -> Option<ObjectTable> {
        let collected = self.collected.take()?;
        let mut table = ObjectTable::default();
        let mut type_index: FxHashMap<u64, u64> = FxHashMap::default();
        let mut site_index: FxHashMap<u64, u64> = FxHashMap::default();
        let mut names = HashMap::new();
        let tm = r.l.tracemalloc.clone();
        table.objects.reserve(collected.len());
        for (addr, tp, size, tb) in collected {
            let t = match type_index.get(&tp) {
                Some(&i) => i,
                None => {
                    let name = types
                        .get(r, tp)
                        .map_or_else(|| format!("<type at {tp:#x}>"), |t| t.name.clone());
                    table.types.push(name);
                    let i = table.types.len() as u64 - 1;
                    type_index.insert(tp, i);
                    i
                }
            };
            let s = match (tb, &tm) {
                (0, _) | (_, None) => 0,
                (tb, Some(tm)) => match site_index.get(&tb) {
                    Some(&i) => i,
                    None => {
                        let frames =
                            tracemalloc::traceback(r, tm, tb, &mut names).unwrap_or_default();
                        table.sites.push(frames);
                        let i = table.sites.len() as u64;
                        site_index.insert(tb, i);
                        i
                    }
                },
            };
            table.objects.push([addr, t, size, s]);
        }
        Some(table)
    }

    /// Allocation sites per type name, grouped and sorted by bytes.
    pub fn sites(
        &mut self,
        r: &Reader<'_>,
        types: &mut TypeCache,
        group_by: GroupBy,
        warnings: &mut Vec<String>,
    ) -> HashMap<String, Vec<Site>> {
        let mut out: HashMap<String, HashMap<Vec<SiteFrame>, (u64, u64)>> = HashMap::new();
        let Some(tm) = r.l.tracemalloc.as_ref() else {
            return HashMap::new();
        };
        let mut frames_of: HashMap<u64, Vec<SiteFrame>> = HashMap::new();
        let mut names = HashMap::new();
        let mut unreadable = 0u64;
        for (&(tp, tb), &(count, bytes)) in &self.by_site {
            let frames = match frames_of.get(&tb) {
                Some(f) => f.clone(),
                None => {
                    let f = tracemalloc::traceback(r, tm, tb, &mut names).unwrap_or_else(|_| {
                        unreadable += 1;
                        Vec::new()
                    });
                    frames_of.insert(tb, f.clone());
                    f
                }
            };
            let key: Vec<SiteFrame> = match group_by {
                GroupBy::Traceback => frames,
                GroupBy::Line => frames.into_iter().take(1).collect(),
                GroupBy::File => frames
                    .into_iter()
                    .take(1)
                    .map(|f| SiteFrame { line: 0, ..f })
                    .collect(),
            };
            let Some(name) = types.get(r, tp).map(|t| t.name.clone()) else {
                continue;
            };
            let e = out.entry(name).or_default().entry(key).or_insert((0, 0));
            e.0 += count;
            e.1 = e.1.saturating_add(bytes);
        }
        if unreadable > 0 {
            warnings.push(format!(
                "{unreadable} tracemalloc tracebacks could not be read"
            ));
        }
        out.into_iter()
            .map(|(name, sites)| {
                let mut v: Vec<Site> = sites
                    .into_iter()
                    .map(|(frames, (count, bytes))| Site {
                        frames,
                        count,
                        bytes,
                    })
                    .collect();
                v.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.frames.cmp(&b.frames)));
                (name, v)
            })
            .collect()
    }
}

impl Sink for Sites {
    fn object(&mut self, r: &Reader<'_>, o: &Found<'_>) {
        self.objects += 1;
        let mut site = 0;
        if let Some(traces) = &self.traces {
            let flags = o.info.map_or(0, |t| t.flags);
            if let Some(tb) = traces
                .by_ptr
                .get(tracemalloc::alloc_start(r, o.addr, flags))
            {
                let e = self.by_site.entry((o.tp, tb)).or_insert((0, 0));
                e.0 += 1;
                e.1 = e.1.saturating_add(o.size);
                self.traced += 1;
                site = tb;
            }
        }
        if let Some(c) = self.collected.as_mut() {
            c.push((o.addr, o.tp, o.size, site));
        }
    }
}

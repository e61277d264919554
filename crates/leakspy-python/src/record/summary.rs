//! The end of a recording: born objects matched against the final census, per type and site.

use super::{SiteFrameOut, SiteRecord, State, TypeRecord};
use crate::analysis::tracemalloc::SiteFrame;
use crate::model::types::type_name_of;
use crate::model::Reader;
use crate::stacks::Frame;
use rustc_hash::FxHashMap;

pub(super) fn frames_out(stack: &[Frame]) -> Vec<SiteFrameOut> {
    stack
        .iter()
        .map(|f| SiteFrameOut {
            function: Some(f.function.clone()),
            filename: f.filename.clone(),
            line: f.line,
        })
        .collect()
}

/// A site's frames, its innermost line the allocating line most of its pairs saw (the call of a
/// running constructor), or none when no pair saw it: a frame holding a new object in a local has
/// moved on from the line that made it.
pub(super) fn site_frames(
    stack: &[Frame],
    lines: Option<&FxHashMap<i32, u64>>,
) -> Vec<SiteFrameOut> {
    let mut out = frames_out(stack);
    if let Some(first) = out.first_mut() {
        first.line = lines.and_then(|votes| {
            votes
                .iter()
                .max_by_key(|&(&line, &n)| (n, std::cmp::Reverse(line)))
                .map(|(&line, _)| line)
        });
    }
    out
}

fn tm_frames_out(stack: &[SiteFrame]) -> Vec<SiteFrameOut> {
    stack
        .iter()
        .map(|f| SiteFrameOut {
            function: None,
            filename: f.filename.clone(),
            line: i32::try_from(f.line).ok(),
        })
        .collect()
}

/// Per type: born, alive at the census, their bytes, and the sites.
pub(super) fn build_types(
    r: &Reader<'_>,
    st: &State,
    table: &crate::analysis::histogram::ObjectTable,
    retained: Option<&FxHashMap<u64, u64>>,
    exact: bool,
) -> Vec<TypeRecord> {
    // census: addr -> (type name index, bytes, site index + 1)
    let census: FxHashMap<u64, (u64, u64, u64)> = table
        .objects
        .iter()
        .map(|o| (o[0], (o[1], o[2], o[3])))
        .collect();
    let mut names: FxHashMap<u64, String> = FxHashMap::default();
    let mut name_of = |tp: u64| -> String {
        names
            .entry(tp)
            .or_insert_with(|| type_name_of(r, tp).unwrap_or_else(|_| format!("<type {tp:#x}>")))
            .clone()
    };
    #[derive(Default)]
    struct Acc {
        born: u64,
        alive: u64,
        alive_bytes: u64,
        /// site -> (attributed alive, attributed alive bytes, attributed retained bytes)
        site_alive: FxHashMap<u32, (u64, u64, u64)>,
        unattributed_alive: u64,
        unattributed_bytes: u64,
        unattributed_retained: u64,
        /// Retained bytes of the survivors (`--retained`, the type among those computed).
        retained: Option<u64>,
        /// tracemalloc site index + 1 -> retained bytes
        tm_retained: FxHashMap<u64, u64>,
        /// tracemalloc site index + 1 -> (alive, bytes)
        tm: FxHashMap<u64, (u64, u64)>,
        pairs: FxHashMap<u32, u64>,
        /// site -> allocating line -> pairs that saw it
        lines: FxHashMap<u32, FxHashMap<i32, u64>>,
    }
    let mut acc: FxHashMap<String, Acc> = FxHashMap::default();
    for (&addr, b) in &st.born {
        let name = name_of(b.tp);
        let a = acc.entry(name.clone()).or_default();
        let Some(&(ti, bytes, site)) = census.get(&addr) else {
            continue;
        };
        if table.types.get(ti as usize) != Some(&name) {
            continue;
        }
        a.alive += 1;
        a.alive_bytes += bytes;
        let kept = retained.and_then(|m| m.get(&addr)).copied();
        if let Some(k) = kept {
            *a.retained.get_or_insert(0) += k;
        }
        let kept = kept.unwrap_or(0);
        if site > 0 {
            let e = a.tm.entry(site).or_default();
            e.0 += 1;
            e.1 += bytes;
            *a.tm_retained.entry(site).or_default() += kept;
        }
        match b.site {
            Some(s) => {
                let e = a.site_alive.entry(s).or_default();
                e.0 += 1;
                e.1 += bytes;
                e.2 += kept;
            }
            None => {
                a.unattributed_alive += 1;
                a.unattributed_bytes += bytes;
                a.unattributed_retained += kept;
            }
        }
    }
    for (&tp, &n) in &st.born_by_tp {
        acc.entry(name_of(tp)).or_default().born += n;
    }
    for (&(tp, site), &n) in &st.pairs {
        let name = name_of(tp);
        *acc.entry(name.clone())
            .or_default()
            .pairs
            .entry(site)
            .or_insert(0) += n;
    }
    for (&(tp, site), votes) in &st.lines {
        let a = acc.entry(name_of(tp)).or_default();
        let e = a.lines.entry(site).or_default();
        for (&line, &n) in votes {
            *e.entry(line).or_insert(0) += n;
        }
    }
    let mut out: Vec<TypeRecord> = acc
        .into_iter()
        .map(|(name, a)| {
            let total_pairs: u64 = a.pairs.values().sum();
            let mut sites: Vec<SiteRecord> = if exact && !a.tm.is_empty() {
                a.tm.iter()
                    .map(|(&si, &(alive, bytes))| SiteRecord {
                        frames: table
                            .sites
                            .get((si - 1) as usize)
                            .map(|s| tm_frames_out(s))
                            .unwrap_or_default(),
                        born: alive,
                        alive,
                        alive_bytes: bytes,
                        retained_bytes: a
                            .retained
                            .map(|_| a.tm_retained.get(&si).copied().unwrap_or(0)),
                        pairs: 0,
                    })
                    .collect()
            } else {
                // Survivors never seen held are shared by the sites' shares of the survivors that
                // were: a site whose objects all died (a churned list seen in a local) says nothing
                // of where the kept ones of its type were born.
                let seen_alive: u64 = a.site_alive.values().map(|x| x.0).sum();
                a.pairs
                    .iter()
                    .map(|(&s, &n)| {
                        let share = n as f64 / total_pairs.max(1) as f64;
                        let (att_alive, att_bytes, att_retained) =
                            a.site_alive.get(&s).copied().unwrap_or_default();
                        let alive_share = if seen_alive > 0 {
                            att_alive as f64 / seen_alive as f64
                        } else {
                            0.0
                        };
                        SiteRecord {
                            frames: st
                                .sites
                                .get(s as usize)
                                .map(|f| site_frames(f, a.lines.get(&s)))
                                .unwrap_or_default(),
                            born: (a.born as f64 * share).round() as u64,
                            alive: att_alive
                                + (a.unattributed_alive as f64 * alive_share).round() as u64,
                            alive_bytes: att_bytes
                                + (a.unattributed_bytes as f64 * alive_share).round() as u64,
                            retained_bytes: a.retained.map(|_| {
                                att_retained
                                    + (a.unattributed_retained as f64 * alive_share).round() as u64
                            }),
                            pairs: n,
                        }
                    })
                    .collect()
            };
            sites.sort_by(|x, y| {
                (y.alive_bytes, y.born, y.pairs)
                    .cmp(&(x.alive_bytes, x.born, x.pairs))
                    .then_with(|| format!("{:?}", x.frames).cmp(&format!("{:?}", y.frames)))
            });
            TypeRecord {
                type_name: name,
                born: a.born,
                alive: a.alive,
                alive_bytes: a.alive_bytes,
                retained_bytes: a.retained,
                pairs: total_pairs,
                sites,
            }
        })
        .collect();
    out.sort_by(|x, y| {
        (y.alive_bytes, y.born)
            .cmp(&(x.alive_bytes, x.born))
            .then_with(|| x.type_name.cmp(&y.type_name))
    });
    out
}

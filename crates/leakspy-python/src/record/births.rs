//! A recording without its census: each born object a sample saw, by address, with the site a
//! sample charged it to. For a caller that tells survivors from churn itself (`leaks --pid`, whose
//! snapshots hold every object's address) and joins them to their sampled birth stacks.

use super::{Run, SiteFrameOut, State};
use crate::model::types::type_name_of;
use crate::model::Reader;
use rustc_hash::FxHashMap;

/// One born object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BornObject {
    /// Index into [`Births::types`].
    pub ty: u32,
    /// Index into [`Births::sites`] when a sample saw a frame holding the object (one sampled
    /// (type, stack) pair).
    pub site: Option<u32>,
}

#[derive(Debug, Clone, Default)]
pub struct Births {
    pub duration_s: f64,
    pub samples: u64,
    pub warnings: Vec<String>,
    /// Type names, as the heap walk names them.
    pub types: Vec<String>,
    /// Sampled allocation stacks, innermost frame first.
    pub sites: Vec<Vec<SiteFrameOut>>,
    /// Every born object a sample saw, by address (the last object born there).
    pub objects: FxHashMap<u64, BornObject>,
}

impl Births {
    pub(super) fn of(r: &Reader<'_>, st: State, run: &Run<'_>) -> Births {
        let mut types: Vec<String> = Vec::new();
        let mut type_ix: FxHashMap<u64, u32> = FxHashMap::default();
        let mut objects = FxHashMap::default();
        objects.reserve(st.born.len());
        for (&addr, b) in &st.born {
            let ty = *type_ix.entry(b.tp).or_insert_with(|| {
                types.push(type_name_of(r, b.tp).unwrap_or_else(|_| format!("<type {:#x}>", b.tp)));
                (types.len() - 1) as u32
            });
            objects.insert(addr, BornObject { ty, site: b.site });
        }
        // The allocating line's votes of every type born at a site.
        let mut votes: FxHashMap<u32, FxHashMap<i32, u64>> = FxHashMap::default();
        for (&(_, site), v) in &st.lines {
            let e = votes.entry(site).or_default();
            for (&line, &n) in v {
                *e.entry(line).or_insert(0) += n;
            }
        }
        Births {
            duration_s: run.duration_s,
            samples: run.samples,
            warnings: st.warnings,
            types,
            sites: st
                .sites
                .iter()
                .enumerate()
                .map(|(i, s)| super::summary::site_frames(s, votes.get(&(i as u32))))
                .collect(),
            objects,
        }
    }

    /// The type name and sampled site (an index into [`Births::sites`]) of the object born at
    /// `addr`, if a sample saw one born there.
    pub fn get(&self, addr: u64) -> Option<(&str, Option<u32>)> {
        let b = self.objects.get(&addr)?;
        let ty = self.types.get(b.ty as usize)?;
        Some((ty.as_str(), b.site))
    }
}

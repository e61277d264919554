//! Per-type series over the samples `leakspy watch` takes (for `watch --html`'s sparklines).
//!
//! Bounded both ways: at most [`MAX_POINTS`] points are kept (when full, every other point after the
//! first is dropped, so the series always spans the whole watch at half the resolution: each point
//! says which sample it is), and the page lists the [`TOP_TYPES`] types that grew most in bytes
//! from the first point to the last (ties: in count, then by name). While watching, every type seen
//! keeps its series (a heap's types are few; their number is not bounded by the time watched).

use crate::snapshot::Snapshot;
use serde::Serialize;
use std::collections::BTreeMap;

/// Most points kept per series.
pub const MAX_POINTS: usize = 256;
/// Types the page lists.
pub const TOP_TYPES: usize = 100;

/// One sample of the watch.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Point {
    /// 1-based sample number (as `watch --json`'s `sample`).
    pub sample: u64,
    pub elapsed_s: f64,
    pub objects: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, Default)]
struct TypeSeries {
    count: Vec<u64>,
    bytes: Vec<u64>,
}

/// The series of one watch.
#[derive(Debug, Clone, Default)]
pub struct Series {
    points: Vec<Point>,
    types: BTreeMap<String, TypeSeries>,
    /// Points dropped to stay within [`MAX_POINTS`].
    thinned: u64,
}

/// One type's series as the page gets it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TypeOut {
    #[serde(rename = "type")]
    pub type_name: String,
    pub count: Vec<u64>,
    pub bytes: Vec<u64>,
}

/// What `watch --html` embeds.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SeriesOut {
    pub pid: i32,
    pub python_version: String,
    pub points: Vec<Point>,
    /// Points dropped (every other one, each time `MAX_POINTS` was reached).
    pub thinned: u64,
    pub types_seen: usize,
    /// The `TOP_TYPES` that grew most in bytes, first point to last.
    pub types: Vec<TypeOut>,
}

impl Series {
    /// Add one sample (`sample` is its 1-based number).
    pub fn push(&mut self, sample: u64, elapsed_s: f64, snap: &Snapshot) {
        let n = self.points.len();
        self.points.push(Point {
            sample,
            elapsed_s,
            objects: snap.objects,
            bytes: snap.bytes,
        });
        for t in &snap.types {
            let s = self.types.entry(t.type_name.clone()).or_default();
            // A type first seen now had none before.
            s.count.resize(n, 0);
            s.bytes.resize(n, 0);
            s.count.push(t.count);
            s.bytes.push(t.bytes);
        }
        for s in self.types.values_mut() {
            // A type gone now has none.
            s.count.resize(n + 1, 0);
            s.bytes.resize(n + 1, 0);
        }
        if self.points.len() > MAX_POINTS {
            self.thin();
        }
    }

    /// Keep the first point and every other one after it, and the last.
    fn thin(&mut self) {
        let len = self.points.len();
        let keep = |i: usize| i.is_multiple_of(2) || i + 1 == len;
        fn filter<T: Clone>(v: &[T], keep: impl Fn(usize) -> bool) -> Vec<T> {
            v.iter()
                .enumerate()
                .filter(|(i, _)| keep(*i))
                .map(|(_, x)| x.clone())
                .collect()
        }
        let before = self.points.len();
        self.points = filter(&self.points, keep);
        self.thinned += (before - self.points.len()) as u64;
        for s in self.types.values_mut() {
            s.count = filter(&s.count, keep);
            s.bytes = filter(&s.bytes, keep);
        }
    }

    pub fn len(&self) -> usize {
        self.points.len()
    }

    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// The page's data: the `top` types by growth in bytes (then count, then name).
    pub fn out(&self, pid: i32, python_version: &str, top: usize) -> SeriesOut {
        let growth = |v: &[u64]| -> i128 {
            i128::from(*v.last().unwrap_or(&0)) - i128::from(*v.first().unwrap_or(&0))
        };
        let mut ranked: Vec<(&String, &TypeSeries)> = self.types.iter().collect();
        ranked.sort_by(|(an, a), (bn, b)| {
            growth(&b.bytes)
                .cmp(&growth(&a.bytes))
                .then_with(|| growth(&b.count).cmp(&growth(&a.count)))
                .then_with(|| an.cmp(bn))
        });
        SeriesOut {
            pid,
            python_version: python_version.into(),
            points: self.points.clone(),
            thinned: self.thinned,
            types_seen: self.types.len(),
            types: ranked
                .into_iter()
                .take(top)
                .map(|(name, s)| TypeOut {
                    type_name: name.clone(),
                    count: s.count.clone(),
                    bytes: s.bytes.clone(),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::SnapType;

    fn snap(types: &[(&str, u64)]) -> Snapshot {
        Snapshot {
            format: crate::snapshot::FORMAT.into(),
            version: crate::snapshot::VERSION,
            taken_at_ms: 0,
            pid: 1,
            python_version: "3.12.1".into(),
            objects: types.iter().map(|t| t.1).sum(),
            bytes: types.iter().map(|t| t.1 * 10).sum(),
            types: types
                .iter()
                .map(|&(n, c)| SnapType {
                    type_name: n.into(),
                    count: c,
                    bytes: c * 10,
                    allocated_at: None,
                })
                .collect(),
            identities: None,
        }
    }

    #[test]
    fn types_that_come_and_go_get_zeros() {
        let mut s = Series::default();
        s.push(1, 0.0, &snap(&[("a", 1)]));
        s.push(2, 1.0, &snap(&[("a", 2), ("b", 5)]));
        s.push(3, 2.0, &snap(&[("b", 7)]));
        let o = s.out(1, "3.12.1", 10);
        assert_eq!(o.types[0].type_name, "b");
        assert_eq!(o.types[0].count, vec![0, 5, 7]);
        assert_eq!(o.types[1].count, vec![1, 2, 0]);
        assert_eq!(o.types[1].bytes, vec![10, 20, 0]);
        assert_eq!(s.out(1, "", 1).types.len(), 1);
        assert_eq!(o.types_seen, 2);
    }

    #[test]
    fn thinning_keeps_the_span_and_the_bound() {
        let mut s = Series::default();
        for i in 1..=1000u64 {
            s.push(i, i as f64, &snap(&[("a", i)]));
            assert!(s.len() <= MAX_POINTS);
        }
        let o = s.out(1, "", 1);
        assert_eq!(o.points.first().map(|p| p.sample), Some(1));
        assert_eq!(o.points.last().map(|p| p.sample), Some(1000));
        assert_eq!(o.points.len() as u64 + o.thinned, 1000);
        // Each point's value is its own sample's.
        for (p, c) in o.points.iter().zip(&o.types[0].count) {
            assert_eq!(p.sample, *c);
        }
    }
}

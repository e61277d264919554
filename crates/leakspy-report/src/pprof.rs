//! `--pprof FILE`: live objects as a gzipped pprof profile (`profile.proto`), for `go tool pprof`,
//! Pyroscope, Parca and Grafana.
//!
//! Two sample types, `objects`/`count` and `space`/`bytes` (the default). One sample per type and
//! allocation traceback: its locations are the type as a pseudo-frame (the leaf, like the flame
//! graph's), then the traceback's frames innermost first (tracemalloc's, `file:line`), or a
//! pseudo-frame `<no allocation site>` / `<allocated before tracing>` for the objects that have
//! none; each sample carries the type as label `type`. For `diff` the values are the growth (they
//! may be negative), for `leaks` the survivors.
//!
//! The protobuf is written by hand: a handful of messages, varints and length-delimited fields.

use crate::snapshot::{Delta, Snapshot, SurvivorGroup};
use leakspy_python::analysis::tracemalloc::SiteFrame;
use std::collections::HashMap;
use std::io::{self, Write};

/// One sample: objects of a type allocated at one traceback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    pub type_name: String,
    /// Innermost first; empty when unknown (then `no_site` names why).
    pub frames: Vec<SiteFrame>,
    pub no_site: Option<&'static str>,
    pub count: i64,
    pub bytes: i64,
}

const NO_SITE: &str = "<no allocation site>";
const BEFORE_TRACING: &str = "<allocated before tracing>";

fn i(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The samples of a dump or snapshot: per type, one per allocation site and one for the rest.
pub fn samples_of_snapshot(s: &Snapshot) -> Vec<Sample> {
    let mut out = Vec::new();
    for t in &s.types {
        let (mut count, mut bytes) = (0u64, 0u64);
        for site in t.allocated_at.iter().flatten() {
            count += site.count;
            bytes += site.bytes;
            out.push(Sample {
                type_name: t.type_name.clone(),
                frames: site.frames.clone(),
                no_site: None,
                count: i(site.count),
                bytes: i(site.bytes),
            });
        }
        let (rc, rb) = (t.count.saturating_sub(count), t.bytes.saturating_sub(bytes));
        if rc > 0 || rb > 0 {
            out.push(Sample {
                type_name: t.type_name.clone(),
                frames: Vec::new(),
                no_site: Some(if t.allocated_at.is_some() {
                    BEFORE_TRACING
                } else {
                    NO_SITE
                }),
                count: i(rc),
                bytes: i(rb),
            });
        }
    }
    out
}

/// The growth between two snapshots: per type, its sites' growth and the rest of the type's.
pub fn samples_of_deltas(types: &[Delta], sites: &[Delta]) -> Vec<Sample> {
    let mut by_type: HashMap<&str, Vec<&Delta>> = HashMap::new();
    for s in sites {
        by_type.entry(s.type_name.as_str()).or_default().push(s);
    }
    let mut out = Vec::new();
    for t in types {
        let (mut count, mut bytes) = (0i64, 0i64);
        for s in by_type.get(t.type_name.as_str()).into_iter().flatten() {
            count += s.count_delta();
            bytes += s.bytes_delta();
            out.push(Sample {
                type_name: t.type_name.clone(),
                frames: s.frames.clone(),
                no_site: None,
                count: s.count_delta(),
                bytes: s.bytes_delta(),
            });
        }
        let (rc, rb) = (t.count_delta() - count, t.bytes_delta() - bytes);
        if rc != 0 || rb != 0 {
            out.push(Sample {
                type_name: t.type_name.clone(),
                frames: Vec::new(),
                no_site: Some(NO_SITE),
                count: rc,
                bytes: rb,
            });
        }
    }
    out
}

/// The survivors of `leaks`, by type and site.
pub fn samples_of_survivors(groups: &[SurvivorGroup]) -> Vec<Sample> {
    groups
        .iter()
        .map(|g| Sample {
            type_name: g.type_name.clone(),
            frames: g.frames.clone(),
            no_site: g.frames.is_empty().then_some(NO_SITE),
            count: i(g.count),
            bytes: i(g.bytes),
        })
        .collect()
}

/// A protobuf message being written.
#[derive(Default)]
struct Msg(Vec<u8>);

impl Msg {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }
    fn key(&mut self, field: u32, wire: u8) {
        self.varint(u64::from(field) << 3 | u64::from(wire));
    }
    /// A varint field (int64 as two's complement, as protobuf does); zero is left out.
    fn int(&mut self, field: u32, v: i64) {
        if v != 0 {
            self.key(field, 0);
            self.varint(v as u64);
        }
    }
    fn bytes(&mut self, field: u32, b: &[u8]) {
        self.key(field, 2);
        self.varint(b.len() as u64);
        self.0.extend_from_slice(b);
    }
    fn packed(&mut self, field: u32, vs: impl Iterator<Item = i64>) {
        let mut p = Msg::default();
        for v in vs {
            p.varint(v as u64);
        }
        if !p.0.is_empty() {
            self.bytes(field, &p.0);
        }
    }
}

#[derive(Default)]
struct Strings {
    table: Vec<String>,
    index: HashMap<String, i64>,
}

impl Strings {
    fn id(&mut self, s: &str) -> i64 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = self.table.len() as i64;
        self.table.push(s.to_string());
        self.index.insert(s.to_string(), i);
        i
    }
}

/// The profile, uncompressed. `time_nanos`: when the heap was read (0: unknown).
pub fn encode(samples: &[Sample], time_nanos: i64, comments: &[String]) -> Vec<u8> {
    let mut strings = Strings::default();
    strings.id("");
    let mut p = Msg::default();
    for (t, u) in [("objects", "count"), ("space", "bytes")] {
        let mut vt = Msg::default();
        vt.int(1, strings.id(t));
        vt.int(2, strings.id(u));
        p.bytes(1, &vt.0);
    }
    // One location (and function) per distinct frame: (name, file, line).
    let mut locations: HashMap<(String, String, i64), u64> = HashMap::new();
    let mut loc_msgs: Vec<Vec<u8>> = Vec::new();
    let mut fn_msgs: Vec<Vec<u8>> = Vec::new();
    let mut location = |name: String, file: String, line: i64, strings: &mut Strings| -> u64 {
        let key = (name, file, line);
        if let Some(&id) = locations.get(&key) {
            return id;
        }
        let id = loc_msgs.len() as u64 + 1;
        let mut f = Msg::default();
        f.int(1, id as i64);
        f.int(2, strings.id(&key.0));
        f.int(3, strings.id(&key.0));
        f.int(4, strings.id(&key.1));
        f.int(5, key.2);
        fn_msgs.push(f.0);
        let mut l = Msg::default();
        l.int(1, id as i64);
        let mut line = Msg::default();
        line.int(1, id as i64);
        line.int(2, key.2);
        l.bytes(4, &line.0);
        loc_msgs.push(l.0);
        locations.insert(key, id);
        id
    };
    let type_key = strings.id("type");
    for s in samples {
        let mut locs = vec![location(
            s.type_name.clone(),
            String::new(),
            0,
            &mut strings,
        )];
        for f in &s.frames {
            let line = i64::from(f.line);
            locs.push(location(
                format!("{}:{}", f.filename, f.line),
                f.filename.clone(),
                line,
                &mut strings,
            ));
        }
        if let Some(why) = s.no_site {
            locs.push(location(why.to_string(), String::new(), 0, &mut strings));
        }
        let mut m = Msg::default();
        m.packed(1, locs.iter().map(|&l| l as i64));
        m.packed(2, [s.count, s.bytes].into_iter());
        let mut label = Msg::default();
        label.int(1, type_key);
        label.int(2, strings.id(&s.type_name));
        m.bytes(3, &label.0);
        p.bytes(2, &m.0);
    }
    for l in &loc_msgs {
        p.bytes(4, l);
    }
    for f in &fn_msgs {
        p.bytes(5, f);
    }
    let comment_ids: Vec<i64> = comments.iter().map(|c| strings.id(c)).collect();
    let default_type = strings.id("space");
    for s in &strings.table {
        p.bytes(6, s.as_bytes());
    }
    p.int(9, time_nanos);
    for c in comment_ids {
        p.int(13, c);
    }
    p.int(14, default_type);
    p.0
}

/// Write the profile gzipped (what pprof tools read).
pub fn write(
    samples: &[Sample],
    time_nanos: i64,
    comments: &[String],
    out: &mut dyn Write,
) -> io::Result<()> {
    let raw = encode(samples, time_nanos, comments);
    let mut gz = flate2::write::GzEncoder::new(out, flate2::Compression::default());
    gz.write_all(&raw)?;
    gz.finish()?.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal protobuf reader for the test: (field, wire value) pairs of one message.
    fn fields(mut b: &[u8]) -> Vec<(u32, Result<u64, Vec<u8>>)> {
        fn varint(b: &mut &[u8]) -> u64 {
            let mut v = 0u64;
            let mut s = 0;
            loop {
                let x = b[0];
                *b = &b[1..];
                v |= u64::from(x & 0x7f) << s;
                s += 7;
                if x < 0x80 {
                    return v;
                }
            }
        }
        let mut out = Vec::new();
        while !b.is_empty() {
            let k = varint(&mut b);
            match k & 7 {
                0 => out.push(((k >> 3) as u32, Ok(varint(&mut b)))),
                2 => {
                    let n = varint(&mut b) as usize;
                    out.push(((k >> 3) as u32, Err(b[..n].to_vec())));
                    b = &b[n..];
                }
                w => panic!("wire type {w}"),
            }
        }
        out
    }

    fn sample(t: &str, frames: &[(&str, u32)], count: i64, bytes: i64) -> Sample {
        Sample {
            type_name: t.into(),
            frames: frames
                .iter()
                .map(|&(f, l)| SiteFrame {
                    filename: f.into(),
                    line: l,
                })
                .collect(),
            no_site: frames.is_empty().then_some(NO_SITE),
            count,
            bytes,
        }
    }

    #[test]
    fn samples_locations_and_strings_round_trip() {
        let s = [
            sample("app.A", &[("app.py", 3), ("main.py", 9)], 5, 240),
            sample("builtins.dict", &[], 2, -184),
        ];
        let raw = encode(&s, 7, &["leakspy".into()]);
        let f = fields(&raw);
        let strings: Vec<String> = f
            .iter()
            .filter(|(n, _)| *n == 6)
            .map(|(_, v)| String::from_utf8(v.clone().unwrap_err()).unwrap())
            .collect();
        assert_eq!(strings[0], "");
        let samples: Vec<Vec<u8>> = f
            .iter()
            .filter(|(n, _)| *n == 2)
            .map(|(_, v)| v.clone().unwrap_err())
            .collect();
        assert_eq!(samples.len(), 2);
        let first = fields(&samples[0]);
        // Packed location ids 1, 2, 3 (type, then frames innermost first).
        assert_eq!(first[0].1.clone().unwrap_err(), vec![1, 2, 3]);
        // Values 5 and 240 (240 = 0xf0 0x01 as a varint).
        assert_eq!(first[1].1.clone().unwrap_err(), vec![5, 0xf0, 0x01]);
        let second = fields(&samples[1]);
        let mut v = second[1].1.clone().unwrap_err();
        assert_eq!(v.remove(0), 2);
        assert_eq!(v.len(), 10, "a negative int64 is a 10-byte varint");
        assert!(strings.contains(&"app.py:3".to_string()));
        assert!(strings.contains(&"<no allocation site>".to_string()));
        assert_eq!(f.iter().filter(|(n, _)| *n == 4).count(), 5);
        assert!(f.iter().any(|(n, v)| *n == 9 && v == &Ok(7)));
    }

    #[test]
    fn gzip_wraps_the_same_bytes() {
        let s = [sample("x", &[], 1, 1)];
        let mut gz = Vec::new();
        write(&s, 0, &[], &mut gz).unwrap();
        let mut raw = Vec::new();
        io::Read::read_to_end(&mut flate2::read::GzDecoder::new(gz.as_slice()), &mut raw).unwrap();
        assert_eq!(raw, encode(&s, 0, &[]));
    }
}

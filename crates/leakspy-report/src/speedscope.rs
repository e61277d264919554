//! `--speedscope FILE`: profiles in speedscope's file format
//! (<https://www.speedscope.app/file-format-schema.json>), for speedscope.app (drag the file in) or
//! the `speedscope` command.
//!
//! [`write`] takes any list of sampled profiles: stacks (outermost frame first) with a weight, so
//! time profiles (`record`) and allocation profiles share it. [`allocation_profiles`] makes the two
//! of a dump: live bytes and live objects by allocation traceback, the type as the leaf frame
//! (objects without a site under `<no allocation site>` or `<allocated before tracing>`), as in the
//! flame graph and the pprof profile.

use crate::snapshot::Snapshot;
use leakspy_python::analysis::tracemalloc::SiteFrame;
use serde::Serialize;
use std::collections::HashMap;
use std::io::{self, Write};

const SCHEMA: &str = "https://www.speedscope.app/file-format-schema.json";

/// One frame of a stack.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Frame {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
}

impl Frame {
    /// A frame with only a name (a type, a pseudo-frame).
    pub fn named(name: &str) -> Frame {
        Frame {
            name: name.to_string(),
            file: None,
            line: None,
        }
    }

    /// A Python source line (`file:line`; tracemalloc records no function names).
    pub fn source(file: &str, line: u32) -> Frame {
        Frame {
            name: format!("{file}:{line}"),
            file: Some(file.to_string()),
            line: Some(line),
        }
    }

    /// A function at a line (what a stack sampler knows).
    pub fn function(function: &str, file: &str, line: u32) -> Frame {
        Frame {
            name: function.to_string(),
            file: Some(file.to_string()),
            line: Some(line),
        }
    }
}

/// One stack with its weight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackSample {
    /// Outermost frame first.
    pub stack: Vec<Frame>,
    pub weight: u64,
}

/// speedscope's units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    None,
    Nanoseconds,
    Microseconds,
    Milliseconds,
    Seconds,
    Bytes,
}

/// One sampled profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub name: String,
    pub unit: Unit,
    pub samples: Vec<StackSample>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FileJson<'a> {
    #[serde(rename = "$schema")]
    schema: &'static str,
    name: &'a str,
    exporter: String,
    active_profile_index: usize,
    shared: Shared<'a>,
    profiles: Vec<ProfileJson<'a>>,
}

#[derive(Serialize)]
struct Shared<'a> {
    frames: Vec<&'a Frame>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ProfileJson<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    name: &'a str,
    unit: Unit,
    start_value: u64,
    end_value: u64,
    samples: Vec<Vec<usize>>,
    weights: Vec<u64>,
}

/// Write `profiles` as one speedscope file named `name` (frames shared between the profiles).
pub fn write(name: &str, profiles: &[Profile], out: &mut dyn Write) -> io::Result<()> {
    let mut frames: Vec<&Frame> = Vec::new();
    let mut index: HashMap<&Frame, usize> = HashMap::new();
    let mut json = Vec::with_capacity(profiles.len());
    for p in profiles {
        let mut samples = Vec::with_capacity(p.samples.len());
        let mut weights = Vec::with_capacity(p.samples.len());
        for s in &p.samples {
            let stack = s
                .stack
                .iter()
                .map(|f| {
                    *index.entry(f).or_insert_with(|| {
                        frames.push(f);
                        frames.len() - 1
                    })
                })
                .collect();
            samples.push(stack);
            weights.push(s.weight);
        }
        json.push(ProfileJson {
            kind: "sampled",
            name: &p.name,
            unit: p.unit,
            start_value: 0,
            end_value: weights.iter().sum(),
            samples,
            weights,
        });
    }
    let file = FileJson {
        schema: SCHEMA,
        name,
        exporter: format!("leakspy {}", env!("CARGO_PKG_VERSION")),
        active_profile_index: 0,
        shared: Shared { frames },
        profiles: json,
    };
    serde_json::to_writer(&mut *out, &file)?;
    writeln!(out)?;
    out.flush()
}

fn stack(type_name: &str, frames: &[SiteFrame], no_site: Option<&str>) -> Vec<Frame> {
    let mut s: Vec<Frame> = no_site.map(Frame::named).into_iter().collect();
    s.extend(
        frames
            .iter()
            .rev()
            .map(|f| Frame::source(&f.filename, f.line)),
    );
    s.push(Frame::named(type_name));
    s
}

/// A dump's live bytes and live objects by allocation traceback (type as the leaf).
pub fn allocation_profiles(s: &Snapshot) -> Vec<Profile> {
    let mut bytes = Vec::new();
    let mut objects = Vec::new();
    for t in &s.types {
        let (mut count, mut size) = (0u64, 0u64);
        for site in t.allocated_at.iter().flatten() {
            count += site.count;
            size += site.bytes;
            let st = stack(&t.type_name, &site.frames, None);
            bytes.push(StackSample {
                stack: st.clone(),
                weight: site.bytes,
            });
            objects.push(StackSample {
                stack: st,
                weight: site.count,
            });
        }
        let (rc, rb) = (t.count.saturating_sub(count), t.bytes.saturating_sub(size));
        if rc > 0 || rb > 0 {
            let why = if t.allocated_at.is_some() {
                "<allocated before tracing>"
            } else {
                "<no allocation site>"
            };
            let st = stack(&t.type_name, &[], Some(why));
            bytes.push(StackSample {
                stack: st.clone(),
                weight: rb,
            });
            objects.push(StackSample {
                stack: st,
                weight: rc,
            });
        }
    }
    vec![
        Profile {
            name: format!("live bytes of pid {}", s.pid),
            unit: Unit::Bytes,
            samples: bytes,
        },
        Profile {
            name: format!("live objects of pid {}", s.pid),
            unit: Unit::None,
            samples: objects,
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn frames_are_shared_and_stacks_index_them() {
        let main = Frame::function("main", "app.py", 3);
        let work = Frame::function("work", "app.py", 9);
        let p = Profile {
            name: "cpu".into(),
            unit: Unit::Milliseconds,
            samples: vec![
                StackSample {
                    stack: vec![main.clone(), work.clone()],
                    weight: 10,
                },
                StackSample {
                    stack: vec![main.clone()],
                    weight: 5,
                },
            ],
        };
        let q = Profile {
            name: "again".into(),
            unit: Unit::Bytes,
            samples: vec![StackSample {
                stack: vec![work, Frame::named("builtins.dict")],
                weight: 7,
            }],
        };
        let mut out = Vec::new();
        write("t", &[p, q], &mut out).unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["$schema"], SCHEMA);
        assert_eq!(v["shared"]["frames"].as_array().unwrap().len(), 3);
        assert_eq!(v["shared"]["frames"][0]["name"], "main");
        assert!(v["shared"]["frames"][2].get("file").is_none());
        let p0 = &v["profiles"][0];
        assert_eq!(p0["type"], "sampled");
        assert_eq!(p0["unit"], "milliseconds");
        assert_eq!(p0["samples"], serde_json::json!([[0, 1], [0]]));
        assert_eq!(p0["weights"], serde_json::json!([10, 5]));
        assert_eq!(p0["endValue"], 15);
        assert_eq!(v["profiles"][1]["samples"], serde_json::json!([[1, 2]]));
        assert_eq!(v["activeProfileIndex"], 0);
    }
}

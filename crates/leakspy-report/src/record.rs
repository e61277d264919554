//! `leakspy record`'s outputs: the text report, JSON, and the two flame graphs (live-at-end bytes
//! by birth stack; stack samples over time).

use crate::{human_bytes, thousands};
use leakspy_python::record::{RecordReport, SiteFrameOut, SiteRecord};
use std::io::{self, Write};

/// Below this many sampled pairs a type's site shares are flagged as rough (one pair is 1/n).
const FEW_PAIRS: u64 = 20;
/// How many sites the text report shows per type.
const SITES_SHOWN: usize = 3;
/// How many frames of a site the text report shows.
const FRAMES_SHOWN: usize = 4;

fn frame_text(f: &SiteFrameOut) -> String {
    let place = match f.line {
        Some(l) => format!("{}:{l}", f.filename),
        None => f.filename.clone(),
    };
    match &f.function {
        Some(func) => format!("{func} ({place})"),
        None => place,
    }
}

/// `handle (app.py:31) <- worker (app.py:40)`.
pub fn site_text(s: &SiteRecord) -> String {
    frames_text(&s.frames)
}

/// A stack, innermost first, as `handle (app.py:31) <- worker (app.py:40)`.
pub fn frames_text(frames: &[SiteFrameOut]) -> String {
    let mut parts: Vec<String> = frames.iter().take(FRAMES_SHOWN).map(frame_text).collect();
    if frames.len() > FRAMES_SHOWN {
        parts.push("...".into());
    }
    if parts.is_empty() {
        return "(no Python frame)".into();
    }
    parts.join(" <- ")
}

/// Sampled shares are only as good as the pairs behind them: `  (N sampled pairs)`, flagged when
/// too few (empty for none).
pub fn pairs_note(pairs: u64) -> String {
    match pairs {
        0 => String::new(),
        1 => "  (1 sampled pair: too few for reliable shares)".into(),
        n if n < FEW_PAIRS => format!("  ({n} sampled pairs: too few for reliable shares)"),
        n => format!("  ({} sampled pairs)", thousands(n)),
    }
}

pub fn render_text(rep: &RecordReport, top: usize, w: &mut dyn Write) -> io::Result<()> {
    writeln!(
        w,
        "leakspy record: pid {} (Python {}), {:.1} s, {} samples{}",
        rep.pid,
        rep.python_version,
        rep.duration_s,
        thousands(rep.samples),
        if rep.paused_samples {
            " (paused for each)"
        } else {
            ""
        }
    )?;
    writeln!(
        w,
        "sites: {}",
        if rep.exact {
            "exact (the target traces with tracemalloc; its tracebacks of the survivors)"
        } else {
            "sampled: shares of the (type, stack) pairs the samples saw; per-site counts are estimates"
        }
    )?;
    writeln!(w, "note: {}", rep.untracked)?;
    if !rep.exact {
        writeln!(w, "note: {}", rep.born_note)?;
    }
    for warning in &rep.warnings {
        writeln!(w, "warning: {warning}")?;
    }
    writeln!(w)?;
    if rep.types.is_empty() {
        writeln!(w, "no GC-tracked object was born during the recording")?;
        return Ok(());
    }
    writeln!(
        w,
        "{:>12} {:>12} {:>10}  type / allocation sites",
        "born", "alive", "alive"
    )?;
    for t in rep.types.iter().take(top) {
        let support = if rep.exact {
            String::new()
        } else {
            pairs_note(t.pairs)
        };
        writeln!(
            w,
            "{:>12} {:>12} {:>10}  {}{support}",
            thousands(t.born),
            thousands(t.alive),
            human_bytes(t.alive_bytes),
            t.type_name
        )?;
        if let Some(kept) = t.retained_bytes {
            writeln!(
                w,
                "{:>37}  retained {}: what the {} survivors alone keep alive, the untracked objects they hold included",
                "",
                human_bytes(kept),
                thousands(t.alive)
            )?;
        }
        let base = if rep.exact {
            t.sites.iter().map(|s| s.alive).sum::<u64>()
        } else {
            t.pairs
        };
        if t.sites.is_empty() {
            writeln!(w, "{:>37}  (no sample saw a frame holding one)", "")?;
        }
        for s in t.sites.iter().take(SITES_SHOWN) {
            let weight = if rep.exact { s.alive } else { s.pairs };
            let pct = if base > 0 {
                100.0 * weight as f64 / base as f64
            } else {
                0.0
            };
            writeln!(w, "{:>37}  {pct:3.0}% at {}", "", site_text(s))?;
        }
        if t.sites.len() > SITES_SHOWN {
            writeln!(
                w,
                "{:>37}  ... {} more sites",
                "",
                t.sites.len() - SITES_SHOWN
            )?;
        }
        if !rep.exact && !t.sites.is_empty() && t.alive > 0 && sites_alive(t) == 0 {
            writeln!(
                w,
                "{:>37}  (none of those seen held survived: where the {} alive were born is unknown)",
                "",
                thousands(t.alive)
            )?;
        }
    }
    if rep.types.len() > top {
        writeln!(
            w,
            "... {} more types (--json lists all)",
            rep.types.len() - top
        )?;
    }
    // The summary sentence of the biggest survivor; when no sample saw where it was born (an
    // object only ever held by others, like a list inside an instance), also of the biggest
    // survivor whose birth a sample saw.
    let mut shown = 0;
    for t in rep.types.iter().filter(|t| t.alive > 0) {
        if shown == 0 {
            writeln!(w)?;
        }
        let at = t
            .sites
            .first()
            .filter(|s| s.alive > 0)
            .map(|s| {
                let base = if rep.exact {
                    t.sites.iter().map(|s| s.alive).sum::<u64>()
                } else {
                    t.pairs
                };
                let weight = if rep.exact { s.alive } else { s.pairs };
                format!(
                    "; {:.0}% at {}",
                    100.0 * weight as f64 / base.max(1) as f64,
                    site_text(s)
                )
            })
            .unwrap_or_else(|| "; no sample saw where a surviving one was born".to_string());
        writeln!(
            w,
            "{}: {} born, {} alive{at}",
            t.type_name,
            thousands(t.born),
            thousands(t.alive)
        )?;
        shown += 1;
        if sites_alive(t) > 0 || shown >= 2 {
            break;
        }
    }
    Ok(())
}

/// Survivors charged to a site.
fn sites_alive(t: &leakspy_python::record::TypeRecord) -> u64 {
    t.sites.iter().map(|s| s.alive).sum()
}

pub fn render_json(rep: &RecordReport, w: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *w, rep).map_err(io::Error::other)?;
    writeln!(w)
}

/// Folded lines of live-at-end bytes: outermost frame first, the type as the leaf.
pub fn folded_alive(rep: &RecordReport) -> Vec<String> {
    let mut out = Vec::new();
    for t in &rep.types {
        let mut charged = 0;
        for s in &t.sites {
            if s.alive_bytes == 0 {
                continue;
            }
            charged += s.alive_bytes;
            let mut parts: Vec<String> = s.frames.iter().rev().map(frame_text).collect();
            parts.push(t.type_name.clone());
            out.push(format!("{} {}", sanitize(&parts.join(";")), s.alive_bytes));
        }
        let rest = t.alive_bytes.saturating_sub(charged);
        if rest > 0 {
            out.push(format!(
                "(no sampled site);{} {rest}",
                sanitize(&t.type_name)
            ));
        }
    }
    out
}

/// Folded lines of the stack samples.
pub fn folded_time(rep: &RecordReport) -> Vec<String> {
    rep.time_profile
        .iter()
        .map(|(stack, n)| format!("{} {n}", sanitize(stack)))
        .collect()
}

/// Folded stacks end with ` COUNT`: no newline may hide in a name.
fn sanitize(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

/// Render folded lines as an SVG flame graph; `unit` names what the counts are.
pub fn svg(lines: &[String], title: &str, unit: &str, w: impl Write) -> io::Result<()> {
    let mut opt = inferno::flamegraph::Options::default();
    opt.title = title.to_string();
    opt.count_name = unit.into();
    opt.deterministic = true;
    let placeholder = ["(nothing recorded) 1".to_string()];
    let lines = if lines.is_empty() {
        &placeholder[..]
    } else {
        lines
    };
    inferno::flamegraph::from_lines(&mut opt, lines.iter().map(String::as_str), w)
        .map_err(io::Error::other)
}

/// `record --speedscope`: bytes alive at the end by birth stack (the type as the leaf; bytes no
/// sample located under `(no sampled site)`), and the stack samples as a time profile.
pub fn speedscope_profiles(rep: &RecordReport) -> Vec<crate::speedscope::Profile> {
    use crate::speedscope::{Frame, Profile, StackSample, Unit};
    let mut alive = Vec::new();
    for t in &rep.types {
        let mut charged = 0;
        for s in t.sites.iter().filter(|s| s.alive_bytes > 0) {
            charged += s.alive_bytes;
            let mut stack: Vec<Frame> = s
                .frames
                .iter()
                .rev()
                .map(
                    |f| match (&f.function, f.line.and_then(|l| u32::try_from(l).ok())) {
                        (Some(func), Some(line)) => Frame::function(func, &f.filename, line),
                        (None, Some(line)) => Frame::source(&f.filename, line),
                        _ => Frame::named(&frame_text(f)),
                    },
                )
                .collect();
            stack.push(Frame::named(&t.type_name));
            alive.push(StackSample {
                stack,
                weight: s.alive_bytes,
            });
        }
        let rest = t.alive_bytes.saturating_sub(charged);
        if rest > 0 {
            alive.push(StackSample {
                stack: vec![
                    Frame::named("(no sampled site)"),
                    Frame::named(&t.type_name),
                ],
                weight: rest,
            });
        }
    }
    let time = rep
        .time_profile
        .iter()
        .map(|(stack, n)| StackSample {
            stack: stack.split(';').map(Frame::named).collect(),
            weight: *n,
        })
        .collect();
    vec![
        Profile {
            name: "bytes alive at the end, by birth stack".into(),
            unit: Unit::Bytes,
            samples: alive,
        },
        Profile {
            name: "stack samples".into(),
            unit: Unit::None,
            samples: time,
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use leakspy_python::record::TypeRecord;

    fn report() -> RecordReport {
        let frame = |f: &str, l: i32| SiteFrameOut {
            function: Some(f.into()),
            filename: "app.py".into(),
            line: Some(l),
        };
        RecordReport {
            pid: 7,
            python_version: "3.12.1".into(),
            duration_s: 2.0,
            samples: 400,
            exact: false,
            paused_samples: false,
            baseline_objects: 10,
            torn_walks: 0,
            untracked: leakspy_python::record::UNTRACKED_NOTE,
            born_note: leakspy_python::record::BORN_NOTE,
            warnings: vec![],
            types: vec![TypeRecord {
                type_name: "__main__.Session".into(),
                born: 12_000,
                alive: 12_000,
                alive_bytes: 1 << 20,
                retained_bytes: None,
                pairs: 100,
                sites: vec![SiteRecord {
                    frames: vec![frame("handle", 31), frame("worker", 40)],
                    born: 11_760,
                    alive: 11_760,
                    alive_bytes: 1 << 20,
                    retained_bytes: None,
                    pairs: 98,
                }],
            }],
            time_profile: vec![("worker (app.py:40);handle (app.py:31)".into(), 3)],
        }
    }

    #[test]
    fn text_names_the_site_like_the_issue_says() {
        let mut out = Vec::new();
        render_text(&report(), 25, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("__main__.Session: 12,000 born, 12,000 alive; 98% at handle (app.py:31) <- worker (app.py:40)"),
            "{text}"
        );
        // The pairs behind the shares are stated (100 here: enough not to be flagged).
        assert!(
            text.contains("__main__.Session  (100 sampled pairs)\n"),
            "{text}"
        );
    }

    #[test]
    fn folded_lines_are_outermost_first() {
        let lines = folded_alive(&report());
        assert_eq!(
            lines,
            vec!["worker (app.py:40);handle (app.py:31);__main__.Session 1048576".to_string()]
        );
        assert_eq!(folded_time(&report()).len(), 1);
        let mut svg_out = Vec::new();
        svg(&lines, "t", "bytes", &mut svg_out).unwrap();
        assert!(!svg_out.is_empty());
    }
}

//! `dump --native`: a thread's merged native + Python stack, innermost first.

use leakspy_python::dump::ThreadReport;
use leakspy_python::stacks::native::MergedFrame;
use std::io::{self, Write};

pub(crate) fn render_merged(
    t: &ThreadReport,
    merged: &[MergedFrame],
    w: &mut dyn Write,
) -> io::Result<()> {
    for f in merged {
        match f {
            MergedFrame::Python(p) => {
                let line = p.line.map_or_else(|| "?".to_string(), |l| l.to_string());
                writeln!(w, "    {} ({}:{line})", p.function, p.filename)?;
            }
            MergedFrame::Native(n) => {
                let lib = n
                    .library
                    .as_deref()
                    .map(|l| l.rsplit('/').next().unwrap_or(l))
                    .unwrap_or("?");
                let mut s = format!(
                    "    [C] {} ({lib}+{:#x})",
                    n.function.as_deref().unwrap_or("??"),
                    n.offset
                );
                if let (Some(file), Some(line)) = (&n.filename, n.line) {
                    s.push_str(&format!(" {file}:{line}"));
                }
                if n.inlined {
                    s.push_str(" [inlined]");
                }
                if n.frame_pointer {
                    s.push_str(" [by frame pointer]");
                }
                writeln!(w, "{s}")?;
            }
        }
    }
    if let Some(why) = &t.native_truncated {
        writeln!(w, "    ... native stack truncated: {why}")?;
    }
    if let Some(why) = &t.truncated {
        writeln!(w, "    ... Python stack truncated: {why}")?;
    }
    writeln!(w)
}

//! Export flags (`--heapsnapshot`; docs/formats.md): which files to write besides the report, and
//! writing them. The formats themselves are in `leakspy_report`.

use anyhow::Result;
use clap::{Args, ValueHint};
use leakspy_python::dump::{DumpOptions, DumpReport};
use std::path::{Path, PathBuf};

/// Files `dump` can write besides its report.
#[derive(Debug, Args)]
pub struct DumpExports {
    /// Also write the reference graph as a Chrome DevTools / V8 heap snapshot (open it in
    /// DevTools' Memory tab or memlab; docs/formats.md). Object contents are never written; dict
    /// keys are named by their kind unless --show-keys.
    #[arg(long, value_name = "FILE.heapsnapshot", value_hint = ValueHint::FilePath)]
    pub heapsnapshot: Option<PathBuf>,

    /// With --heapsnapshot: name the keys of plain dicts by their value (they may be secrets).
    #[arg(long)]
    pub show_keys: bool,
}

/// Files `refs` can write besides its report.
#[derive(Debug, Args)]
pub struct RefsExports {
    /// Also write the whole reference graph as a Chrome DevTools / V8 heap snapshot
    /// (docs/formats.md); --show-keys names plain dicts' keys there too.
    #[arg(long, value_name = "FILE.heapsnapshot", value_hint = ValueHint::FilePath)]
    pub heapsnapshot: Option<PathBuf>,
}

impl DumpExports {
    /// Ask the dump for what the exports need.
    pub fn configure(&self, opts: &mut DumpOptions, subprocesses: bool) -> Result<()> {
        if subprocesses && self.heapsnapshot.is_some() {
            anyhow::bail!(crate::cli::UsageError(
                "--heapsnapshot writes one process: it does not go with --subprocesses".into()
            ));
        }
        if self.heapsnapshot.is_some() {
            if opts.gc_only {
                anyhow::bail!(crate::cli::UsageError(
                    "--heapsnapshot needs the whole heap: it does not go with --gc-only".into()
                ));
            }
            opts.export_graph = Some(leakspy_python::analysis::export::ExportOptions {
                show_keys: self.show_keys,
            });
        }
        Ok(())
    }

    /// Write the files asked for.
    pub fn write(&self, report: &DumpReport) -> Result<()> {
        write_heapsnapshot(report, self.heapsnapshot.as_deref())
    }
}

impl RefsExports {
    pub fn configure(
        &self,
        opts: &mut DumpOptions,
        show_keys: bool,
        subprocesses: bool,
    ) -> Result<()> {
        if subprocesses && self.heapsnapshot.is_some() {
            anyhow::bail!(crate::cli::UsageError(
                "--heapsnapshot writes one process: it does not go with --subprocesses".into()
            ));
        }
        if self.heapsnapshot.is_some() {
            opts.export_graph = Some(leakspy_python::analysis::export::ExportOptions { show_keys });
        }
        Ok(())
    }

    pub fn write(&self, report: &DumpReport) -> Result<()> {
        write_heapsnapshot(report, self.heapsnapshot.as_deref())
    }
}

/// Create `path` for writing, buffered; the error names the file.
pub fn create(path: &Path) -> Result<std::io::BufWriter<std::fs::File>> {
    let f = std::fs::File::create(path)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", path.display()))?;
    Ok(std::io::BufWriter::with_capacity(1 << 20, f))
}

fn write_heapsnapshot(report: &DumpReport, path: Option<&Path>) -> Result<()> {
    let Some(path) = path else { return Ok(()) };
    let Some(graph) = report.heap.graph.as_deref() else {
        anyhow::bail!(
            "--heapsnapshot: the heap could not be walked, so there is no reference graph to write"
        );
    };
    let mut out = create(path)?;
    leakspy_report::heapsnapshot::write(graph, &mut out)
        .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
    Ok(())
}

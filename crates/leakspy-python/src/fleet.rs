//! `--subprocesses`: one dump per Python process of a service (the given process and its
//! descendants), each with its own short pause, in parallel over the machine's cores but never all
//! paused at once.
//!
//! The process tree comes from [`children::tree`]; each process that maps an interpreter is dumped
//! with [`dump::dump`] exactly as `leakspy dump --pid` would (same identification, same pause, same
//! retries). A process that exits before or during its dump (gunicorn recycles workers, a pool
//! replaces a crashed one) is reported as gone, never as an error of the whole; a process the
//! dump refuses (not Python after all, an unsupported version, permission) is skipped with the
//! dump's reason. Only when no process at all could be read is the result an error.

use crate::attach::children::{self, ProcessInfo, Role};
use crate::dump::{self, DumpOptions, DumpReport};
use crate::error::{Error, Result};
use serde::Serialize;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// Options of a fleet dump.
#[derive(Debug, Default, Clone)]
pub struct FleetOptions {
    /// Applied to every process's dump.
    pub dump: DumpOptions,
    /// How many processes are read at once (default: the machine's cores, and always fewer than
    /// the processes, so that they are never all paused at the same time).
    pub jobs: Option<usize>,
}

/// One Python process of the service, read.
#[derive(Debug, Clone)]
pub struct Member {
    pub pid: i32,
    pub ppid: i32,
    pub cmdline: String,
    pub role: Role,
    /// "gunicorn", "uwsgi", "celery", "multiprocessing" when recognised from a command line of the
    /// tree.
    pub server: Option<&'static str>,
    /// The process's start time (clock ticks since boot): with the pid, tells a process from a
    /// later one that reused its pid (`watch --subprocesses` follows processes across samples).
    pub start: Option<u64>,
    pub report: DumpReport,
}

/// A process of the tree that is not in the report, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    pub pid: i32,
    pub why: String,
    pub kind: SkipKind,
    pub cmdline: String,
}

impl Skipped {
    pub fn gone(&self) -> bool {
        self.kind == SkipKind::Gone
    }
}

/// Why a process is not in the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipKind {
    /// Not a Python process (a shell, a helper binary): expected, not a failure.
    NotPython,
    /// It exited (or became a zombie) before or during its dump.
    Gone,
    /// A Python process the dump could not read (permission, unsupported version, ...).
    Failed,
}

/// The result of a fleet dump.
#[derive(Debug, Clone, Default)]
pub struct Fleet {
    /// The pid the user gave.
    pub root: i32,
    /// The processes read, in tree order (the root first, then breadth-first).
    pub members: Vec<Member>,
    /// Processes of the tree not read: not Python, refused by the dump, or gone.
    pub skipped: Vec<Skipped>,
    /// How many processes were read at once.
    pub jobs: usize,
    pub wall_ms: f64,
}

impl Fleet {
    /// Whether the picture is incomplete: a process's own report is partial, a process that looked
    /// like Python could not be read, or one went away during the dump.
    pub fn partial(&self) -> bool {
        self.members.iter().any(|m| m.report.partial)
            || self.skipped.iter().any(|s| s.kind != SkipKind::NotPython)
    }
}

/// Dump `root` and every Python descendant. `progress(done, total)` is called as each process is
/// finished (from the worker threads).
pub fn dump_fleet(
    root: i32,
    opts: &FleetOptions,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Fleet> {
    let t0 = Instant::now();
    if root <= 0 || !std::path::Path::new(&format!("/proc/{root}")).exists() {
        return Err(Error::NoSuchProcess(root));
    }
    let tree = children::tree(root);
    if tree.is_empty() {
        return Err(Error::NoSuchProcess(root));
    }
    let mut skipped = Vec::new();
    let mut candidates: Vec<(&ProcessInfo, Option<u64>)> = Vec::new();
    for p in &tree {
        // The start time tells a process that exited from one that reused its pid meanwhile.
        let start = children::start_time(p.pid);
        match children::python_candidate(p.pid) {
            Ok(()) => candidates.push((p, start)),
            Err(why) => skipped.push(Skipped {
                pid: p.pid,
                kind: if why.starts_with("gone") {
                    SkipKind::Gone
                } else if why.starts_with("not a Python") {
                    SkipKind::NotPython
                } else {
                    SkipKind::Failed
                },
                why,
                cmdline: p.cmdline.clone(),
            }),
        }
    }
    let python: BTreeSet<i32> = candidates.iter().map(|(p, _)| p.pid).collect();
    let roles = children::roles(&tree, &python);
    let server = tree.iter().find_map(|p| children::server_of(&p.cmdline));

    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let jobs = opts
        .jobs
        .unwrap_or(cores)
        .min(candidates.len().saturating_sub(1))
        .max(1);
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<DumpReport>>>> =
        Mutex::new((0..candidates.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some((p, _)) = candidates.get(i) else {
                    break;
                };
                let r = dump::dump(p.pid, &opts.dump, &mut |_| {});
                if let Ok(mut slot) = results.lock() {
                    slot[i] = Some(r);
                }
                progress(done.fetch_add(1, Ordering::SeqCst) + 1, candidates.len());
            });
        }
    });
    let results = results.into_inner().unwrap_or_default();

    let mut members = Vec::new();
    let mut first_error: Option<(i32, Error)> = None;
    for ((p, start), r) in candidates.iter().zip(results) {
        let gone_now = || {
            leakspy_memory::proc::is_zombie(p.pid)
                || children::start_time(p.pid).is_none()
                || children::start_time(p.pid) != *start
        };
        let skip = |why: String, kind: SkipKind| Skipped {
            pid: p.pid,
            why,
            kind,
            cmdline: p.cmdline.clone(),
        };
        match r {
            Some(Ok(report)) if !gone_now() => members.push(Member {
                pid: p.pid,
                ppid: p.ppid,
                cmdline: p.cmdline.clone(),
                role: roles.get(&p.pid).copied().unwrap_or(Role::Process),
                server,
                start: *start,
                report,
            }),
            // It exited while (or right after) it was copied: what was read may be torn.
            Some(Ok(_)) => skipped.push(skip(
                "gone: exited during its dump (its report was discarded)".into(),
                SkipKind::Gone,
            )),
            // A read that found it gone says so before /proc does (a SIGKILLed process is not a
            // zombie yet while it is being torn down).
            Some(Err(e))
                if gone_now()
                    || matches!(e, Error::Read(leakspy_memory::ReadError::ProcessGone)) =>
            {
                skipped.push(skip(
                    format!("gone: exited during its dump ({e})"),
                    SkipKind::Gone,
                ))
            }
            Some(Err(e)) => {
                let kind = if matches!(e, Error::NotPython { .. }) {
                    SkipKind::NotPython
                } else {
                    SkipKind::Failed
                };
                skipped.push(skip(e.to_string(), kind));
                if first_error.is_none() || p.depth == 0 {
                    first_error = Some((p.pid, e));
                }
            }
            None => skipped.push(skip("not read (no result)".into(), SkipKind::Failed)),
        }
    }
    skipped.sort_by_key(|s| s.pid);
    if members.is_empty() {
        // Nothing was read: the error of the root (or of the first process) is the answer, with
        // its own exit code; a tree with no Python process at all is "not Python".
        if let Some((_, e)) = first_error {
            return Err(e);
        }
        if skipped.iter().any(|s| s.gone()) && !python.is_empty() {
            return Err(Error::NoSuchProcess(root));
        }
        let detail = skipped.iter().find(|s| s.pid == root).map_or_else(
            || "no process to read".into(),
            |s| {
                s.why
                    .trim_start_matches("not a Python process: ")
                    .to_string()
            },
        );
        return Err(Error::NotPython {
            pid: root,
            detail: format!("{detail}; nor is any of its {} descendants", tree.len() - 1),
        });
    }
    Ok(Fleet {
        root,
        members,
        skipped,
        jobs,
        wall_ms: t0.elapsed().as_secs_f64() * 1e3,
    })
}

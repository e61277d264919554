//! `leakspy dump --core`: the same report as a live dump, read from an ELF core file.
//!
//! The core is a [`CoreFile`] (segments read on demand, holes filled from the mapped files) behind a
//! [`Snapshot`] block cache; its memory map comes from `NT_FILE` + `PT_LOAD`, its images are opened
//! through [`CoreFiles`] (a sysroot, an `--exe` override), and everything after that is
//! [`dump::analyse`], exactly as for a live process.
//!
//! Before reading anything the binaries are checked: the build-id in the core's copy of each Python
//! image's first page must equal the build-id of the file leakspy would read — a different build
//! would put every symbol and layout at the wrong place and give a plausible-looking wrong report,
//! so a mismatch (or a missing interpreter) is refused with [`Error::Binaries`].
//!
//! What a core cannot say: whether a thread was on a CPU (`idle` is null), and the kernel's thread
//! names (the Python names are read from memory as usual). Thread ids: `NT_PRSTATUS` gives each
//! thread's TID as the dumper saw it (`host_native_id`); the target's own view (`native_id`) is read
//! from glibc's `struct pthread` at the thread pointer, so a `gcore` taken from the host of a
//! process in a pid namespace still maps both ways.

use crate::attach::binaries::{looks_like_python, FileSource};
use crate::attach::process;
use crate::dump::{self, DumpOptions, DumpReport, LayoutInfo, OsThreads, ReadStats};
use crate::error::{Error, Result};
use crate::model::Reader;
use crate::stacks::CodeCache;
use leakspy_memory::{hex, Backing, CoreFile, CoreThread, Mapping, Memory, MemoryExt, Snapshot};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::Instant;

/// Offset of `tid` in glibc's x86_64 `struct pthread` (the thread pointer points at it). The same
/// offset `dump::native_ids` finds first on live targets.
const PTHREAD_TID: u64 = 0x2d0;

/// Where the core is and where its binaries are.
#[derive(Debug, Clone, Default)]
pub struct CoreOptions {
    pub core: PathBuf,
    /// The main executable, instead of the file the core names.
    pub exe: Option<PathBuf>,
    /// Root filesystem the core's file names are relative to (the target's container or chroot).
    pub sysroot: Option<PathBuf>,
}

/// The images of a core, opened where [`CoreFile::backing`] found them.
pub struct CoreFiles<'a> {
    pub core: &'a CoreFile,
}

impl FileSource for CoreFiles<'_> {
    fn read(&self, path: &str, _maps: &[Mapping]) -> std::io::Result<(Vec<u8>, String)> {
        use std::io::{Error as IoError, ErrorKind};
        match self.core.backing(path) {
            Backing::Verified { file, .. } | Backing::Unverified { file, .. } => {
                std::fs::read(&file).map(|b| (b, file.display().to_string()))
            }
            Backing::Mismatch { file, .. } => Err(IoError::new(
                ErrorKind::InvalidData,
                format!("{} is another build (build-id differs)", file.display()),
            )),
            Backing::Missing { tried } => Err(IoError::new(
                ErrorKind::NotFound,
                format!("not found (tried {})", show_paths(&tried)),
            )),
        }
    }
}

fn show_paths(p: &[PathBuf]) -> String {
    p.iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Dump the Python process captured in a core file.
pub fn dump_core(
    copts: &CoreOptions,
    opts: &DumpOptions,
    progress: &mut dyn FnMut(u64),
) -> Result<DumpReport> {
    let t0 = Instant::now();
    let mut core = CoreFile::open(&copts.core).map_err(|e| Error::BadCore(e.to_string()))?;
    if let Some(exe) = &copts.exe {
        if !exe.is_file() {
            return Err(Error::Binaries(format!(
                "--exe {}: no such file",
                exe.display()
            )));
        }
    }
    if let Some(root) = &copts.sysroot {
        if !root.is_dir() {
            return Err(Error::Binaries(format!(
                "--sysroot {}: no such directory",
                root.display()
            )));
        }
    }
    core.set_exe(copts.exe.clone());
    core.set_sysroot(copts.sysroot.clone());
    let pid = core.pid();
    let mut warnings = Vec::new();
    let truncated = core.truncation();
    if let Some((have, need)) = truncated {
        warnings.push(format!(
            "the core file is truncated ({have} of {need} bytes): memory past the cut cannot be read"
        ));
    }
    let explain = |e: Error| match truncated {
        Some((have, need)) => Error::BadCore(format!(
            "the core file {} is truncated ({have} of {need} bytes) and what is left is not \
             enough: {e}",
            copts.core.display()
        )),
        None => e,
    };

    let maps = core.maps();
    check_binaries(&core, copts, &mut warnings)?;
    let snap = Snapshot::new(&core, maps.clone());
    let exe = core.exe_path().unwrap_or("?").to_string();
    let target = process::identify_with(
        pid,
        &snap,
        &maps,
        &CoreFiles { core: &core },
        &exe,
        opts.layout.clone(),
    )
    .map_err(explain)?;
    crate::attach::free_threaded::refuse_heap(&target, !opts.no_heap)?;
    warnings.extend(target.warnings.iter().cloned());

    let os = os_threads(&core, &snap);
    let r = Reader::new(&snap, &target.layout);
    let (mut threads, heap, mut partial) = dump::analyse(
        &r,
        &target,
        opts,
        &os,
        CodeCache::default(),
        &mut warnings,
        progress,
    )
    .map_err(explain)?;

    // Threads whose control block (at the top of their C stack) the core does not hold: their C
    // stacks are missing, and from 3.14 on so are the interpreter's entry frames, which live there.
    let lost: Vec<&CoreThread> = core
        .threads()
        .iter()
        .filter(|t| t.fs_base != 0 && !tcb_present(&snap, t.fs_base))
        .collect();
    if !lost.is_empty() {
        partial = true;
        // 3.12+: each entry into the interpreter from C links its frames through an `entry_frame` on
        // the C stack (Python/ceval.c@v3.12.0:L668-696). A free-threaded 3.13 (no specialization)
        // enters from C for every generator a `for` loop resumes, so mid-stack entries are common.
        let entry_frames_on_c_stack = target.version.minor >= 12;
        warnings.push(format!(
            "the core does not hold the C stacks of {} of its {} threads (TIDs {}: their thread \
             control blocks are missing){}; gdb's gcore leaves out thread stacks whose guard page \
             lies inside the stack mapping (glibc 2.42+ on Linux 6.13+), kernel and systemd-coredump \
             cores hold them",
            lost.len(),
            core.threads().len(),
            lost.iter().map(|t| t.tid.to_string()).collect::<Vec<_>>().join(", "),
            if entry_frames_on_c_stack {
                ", and with them the frames below each thread's innermost entry from C"
            } else {
                ""
            }
        ));
        if entry_frames_on_c_stack {
            for t in threads.iter_mut() {
                if lost.iter().any(|l| l.fs_base == t.thread_id) && t.truncated.is_none() {
                    t.truncated = Some(
                        "the thread's C stack is not in the core (it holds the entry frames); the \
                         stack may end early"
                            .into(),
                    );
                }
            }
        }
    }

    let deadlocks = crate::stacks::blocked::deadlocks(
        &threads
            .iter()
            .map(|t| (t.thread_id, t.blocked.waits_for_thread))
            .collect::<Vec<_>>(),
    );
    if opts.native {
        // The stacks are in the core; the files are the ones the build-id check verified.
        let captures = crate::stacks::native::core_captures(&core, &snap, &maps);
        let open = |p: &str| match core.backing(p) {
            Backing::Verified { file, .. } | Backing::Unverified { file, .. } => Some(file),
            _ => None,
        };
        let root = copts.sysroot.clone().unwrap_or_else(|| PathBuf::from("/"));
        crate::stacks::native::attach(&open, &root, &maps, &mut threads, &captures, &mut warnings);
    }
    let s = snap.stats();
    Ok(DumpReport {
        pid,
        python_version: target.version.to_string(),
        executable: target.image.path.clone(),
        layout: LayoutInfo::of(&target),
        pause_ms: 0.0,
        total_ms: t0.elapsed().as_secs_f64() * 1e3,
        // A core is a stopped picture: as consistent as a paused dump.
        paused: true,
        partial: partial || truncated.is_some(),
        warnings,
        threads,
        heap,
        read_stats: ReadStats {
            bytes_copied: s.bytes_copied,
            copies: s.copies,
            copy_ms: s.copy_time.as_secs_f64() * 1e3,
            threads_paused: 0,
        },
        core: Some(copts.core.display().to_string()),
        deadlocks,
        ..Default::default()
    })
}

/// Whether the thread control block at `tp` (a thread pointer) is in the core: it points to itself
/// (glibc: `tcbhead_t.tcb` and `.self`; musl: `pthread.self`).
fn tcb_present(mem: &dyn Memory, tp: u64) -> bool {
    mem.read_u64(tp).ok() == Some(tp) || mem.read_u64(tp + 0x10).ok() == Some(tp)
}

/// Refuse the core when the interpreter's binaries are missing or are other builds; warn when a
/// check is impossible.
fn check_binaries(core: &CoreFile, copts: &CoreOptions, warnings: &mut Vec<String>) -> Result<()> {
    let exe = core.exe_path().map(str::to_string);
    let mut paths: Vec<String> = Vec::new();
    for f in core.files() {
        let is_exe = exe.as_deref() == Some(f.path.as_str());
        if (is_exe || looks_like_python(&f.path)) && !paths.contains(&f.path) {
            paths.push(f.path.clone());
        }
    }
    let hint = match (&copts.exe, &copts.sysroot) {
        (Some(_), _) => "check --exe",
        (None, Some(_)) => "check --sysroot, or name the executable with --exe",
        (None, None) => {
            "pass --sysroot DIR (the target's root filesystem, for containers and chroots) or --exe PATH"
        }
    };
    let mut found_python = false;
    let mut missing = Vec::new();
    for path in &paths {
        let python = looks_like_python(path);
        match core.backing(path) {
            Backing::Verified { .. } => found_python |= python,
            Backing::Unverified { file, why } => {
                found_python |= python;
                warnings.push(format!(
                    "cannot check that {} is the binary the core was made with ({why}); using it",
                    file.display()
                ));
            }
            Backing::Mismatch {
                file,
                in_core,
                on_disk,
            } => {
                return Err(Error::Binaries(format!(
                    "{} is not the binary the core was made with: its build-id is {}, the core's {path} \
                     has {}; {hint}",
                    file.display(),
                    on_disk.as_deref().map_or_else(|| "missing".into(), hex),
                    hex(&in_core),
                )));
            }
            Backing::Missing { tried } => {
                if python {
                    missing.push(format!("{path} (tried {})", show_paths(&tried)));
                } else {
                    warnings.push(format!(
                        "{path} not found (tried {}); pages the core left out of it are unreadable",
                        show_paths(&tried)
                    ));
                }
            }
        }
    }
    if !found_python && !missing.is_empty() {
        return Err(Error::Binaries(format!(
            "the interpreter's binaries are not on this machine: {}; {hint}",
            missing.join("; ")
        )));
    }
    for m in missing {
        warnings.push(format!(
            "{m} not found; pages the core left out of it are unreadable"
        ));
    }
    Ok(())
}

/// The thread facts a core has: TIDs as recorded, the target's own view of them, no scheduler
/// states, and the process name for the main thread.
fn os_threads(core: &CoreFile, mem: &dyn Memory) -> OsThreads {
    let threads = core.threads();
    // The target's view of each TID, from glibc's struct pthread (thread pointer = pthread_self()).
    let own: Vec<Option<i64>> = threads
        .iter()
        .map(|t| {
            (t.fs_base != 0)
                .then(|| mem.read_i32(t.fs_base + PTHREAD_TID).ok())
                .flatten()
                .filter(|&v| v > 0)
                .map(i64::from)
        })
        .collect();
    let distinct: HashSet<i64> = own.iter().flatten().copied().collect();
    let plausible = distinct.len() == threads.len()
        // Where the dumper shared the target's pid namespace the two views must agree everywhere.
        && (threads.iter().zip(&own).all(|(t, o)| *o != Some(i64::from(t.tid)))
            || threads.iter().zip(&own).all(|(t, o)| *o == Some(i64::from(t.tid))));
    let mut ns_to_host = HashMap::new();
    for (t, o) in threads.iter().zip(&own) {
        let key = if plausible {
            o.unwrap_or(i64::from(t.tid))
        } else {
            i64::from(t.tid)
        };
        ns_to_host.insert(key, t.tid);
    }
    let pid = core.pid();
    let name = core.command().split_whitespace().next().map(|c| {
        c.rsplit('/')
            .next()
            .unwrap_or(c)
            .chars()
            .take(15)
            .collect::<String>()
    });
    OsThreads {
        ns_to_host,
        states: HashMap::new(),
        comm: Box::new(move |host| if host == pid { name.clone() } else { None }),
        syscalls: threads
            .iter()
            .map(|t| {
                let w = crate::stacks::blocked::core_wait(t.regs.orig_rax, t.regs.syscall_args());
                (t.tid, w)
            })
            .collect(),
        // A core records no file table.
        fd_target: Box::new(|_| None),
    }
}

//! Attaching to a Python process: find the image, the version, the runtime and the layout.
//!
//! Nothing here pauses the target; everything read is either immutable (ELF files, version) or
//! validated (the layout probe re-reads the GC list heads).

use crate::attach::binaries::{self, FileSource, Image, ProcFiles};
use crate::attach::{free_threaded, globals, version};
use crate::error::{Error, Result};
use leakspy_layout::{DebugOffsets, Layout, LoadedLayout, PyVersion};
use leakspy_memory::{LiveProcess, Mapping, Memory, MemoryExt, ReadError};

/// Everything needed to read one interpreter's structures.
#[derive(Debug, Clone)]
pub struct Target {
    pub pid: i32,
    pub image: Image,
    pub version: PyVersion,
    pub version_source: &'static str,
    pub layout: Layout,
    /// e.g. "3.13-debian.toml"
    pub layout_file: String,
    /// Human-readable: which file, and whether `_Py_DebugOffsets` was applied.
    pub layout_source: String,
    /// Address of `_PyRuntime`.
    pub runtime: u64,
    /// Problems that did not stop the attach (layout mismatches, guessed version...).
    pub warnings: Vec<String>,
    /// The target's own `_Py_DebugOffsets` (3.13+), as decoded.
    pub debug_offsets: Option<DebugOffsets>,
}

/// Open `pid` for reading: existence and permission checks, nothing else.
pub fn open(pid: i32) -> Result<(LiveProcess, Vec<Mapping>)> {
    if pid <= 0 || !std::path::Path::new(&format!("/proc/{pid}")).exists() {
        return Err(Error::NoSuchProcess(pid));
    }
    if leakspy_memory::proc::is_zombie(pid) {
        return Err(Error::NotPython {
            pid,
            detail: "the process is a zombie (it has exited)".into(),
        });
    }
    let live = LiveProcess::open(pid).map_err(|_| Error::NoSuchProcess(pid))?;
    let maps = live.maps().map_err(|e| match e.kind() {
        std::io::ErrorKind::PermissionDenied => Error::PermissionDenied {
            pid,
            detail: "cannot read /proc/PID/maps".into(),
        },
        _ => Error::NoSuchProcess(pid),
    })?;
    if maps.is_empty() {
        return Err(Error::NotPython {
            pid,
            detail: "it has no memory mappings (kernel thread or exiting)".into(),
        });
    }
    Ok((live, maps))
}

/// Whether the live process `pid` is a Python whose interpreter can be read: the interpreter is
/// found and its first interpreter state has a thread. A program leakspy just started is not
/// ready for a few milliseconds (the dynamic loader, then `Py_Initialize`).
pub fn is_ready(pid: i32) -> bool {
    let Ok((live, maps)) = open(pid) else {
        return false;
    };
    let Ok(target) = identify(pid, &live, &maps, None) else {
        return false;
    };
    let r = crate::model::Reader::new(&live, &target.layout);
    crate::stacks::interpreters(&r, target.runtime)
        .ok()
        .and_then(|i| i.first().copied())
        .and_then(|interp| r.ptr(interp + r.l.interp.threads_head).ok())
        .is_some_and(|t| t != 0)
}

/// Identify the interpreter of the live process `pid`. `layout_override` replaces the shipped layout
/// selection.
pub fn identify(
    pid: i32,
    mem: &dyn Memory,
    maps: &[Mapping],
    layout_override: Option<LoadedLayout>,
) -> Result<Target> {
    let exe = std::fs::read_link(format!("/proc/{pid}/exe"))
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    identify_with(pid, mem, maps, &ProcFiles { pid }, &exe, layout_override)
}

/// Identify the interpreter in any memory (live process or core file): `files` opens the images
/// named in `maps`; `exe` names the executable in messages.
pub fn identify_with(
    pid: i32,
    mem: &dyn Memory,
    maps: &[Mapping],
    files: &dyn FileSource,
    exe: &str,
    layout_override: Option<LoadedLayout>,
) -> Result<Target> {
    let (mut images, notes) = binaries::find_images(files, maps);
    let old = images
        .iter()
        .find_map(|i| version::minor_from_name(i.file_name()))
        .filter(|&(major, minor)| major < 3 || (major == 3 && minor < 6));
    // 3.6 has no `_PyRuntime`: its globals are found by symbol (attach/globals.rs).
    let found = images
        .iter()
        .position(|i| i.runtime().is_some())
        .or_else(|| {
            old.is_none()
                .then(|| images.iter().position(globals::has_globals))
                .flatten()
        });
    let Some(image) = found.map(|i| images.swap_remove(i)) else {
        // A Python without `_PyRuntime` or 3.6's globals: 3.5 and older (2.7 included), named by
        // its binary.
        if let Some((major, minor)) = old {
            return Err(Error::Unsupported(unsupported_old(major, minor)));
        }
        let mut detail = format!(
            "no python executable or libpython with _PyRuntime is mapped (executable: {exe})"
        );
        if !notes.is_empty() {
            detail.push_str(&format!("; {}", notes.join("; ")));
        }
        return Err(Error::NotPython { pid, detail });
    };
    let runtime = image
        .runtime()
        .or_else(|| globals::first_address(&image))
        .ok_or_else(|| Error::NotPython {
            pid,
            detail: "no _PyRuntime".into(),
        })?;
    match mem.read_u64(runtime) {
        Err(ReadError::PermissionDenied) => {
            return Err(Error::PermissionDenied {
                pid,
                detail: "process_vm_readv was refused".into(),
            })
        }
        Err(ReadError::ProcessGone) => return Err(Error::NoSuchProcess(pid)),
        _ => {}
    }
    let mut warnings = Vec::new();
    let detected = version::detect(mem, &image).ok_or_else(|| Error::NotFound {
        pid,
        detail: format!("cannot tell which Python version {} is", image.path),
    })?;
    if detected.source.starts_with("file name") {
        warnings.push(format!(
            "Python patch version unknown; assuming {}",
            detected.version
        ));
    }
    let version = detected.version;
    if version.major != 3 {
        return Err(Error::Unsupported(format!(
            "Python {version} is not supported (Python 3 only)"
        )));
    }

    // 3.13+: the target's own offsets table.
    let debug = leakspy_layout::debug_offsets_blob_len(version.minor)
        .and_then(|len| mem.read_vec(runtime, len).ok())
        .and_then(|blob| DebugOffsets::decode(version.minor, &blob));
    if version.minor >= 13 && debug.is_none() {
        warnings
            .push("_Py_DebugOffsets not found at _PyRuntime; using the layout file alone".into());
    }
    // Free-threaded builds (attach/free_threaded.rs) have their own layouts, 3.Xt.toml.
    let ft = free_threaded::is_free_threaded(debug.as_ref());
    if ft {
        warnings.push(free_threaded::GIL_NOTE.into());
    }
    let candidates = match layout_override {
        Some(l) => vec![l],
        None => leakspy_layout::candidates_for(version, ft)
            .map_err(|e| Error::Unsupported(e.to_string()))?,
    };
    if let Some(d) = &debug {
        if !ft && version.minor == 14 && d.get("gc.size") == Some(240) {
            return Err(Error::Unsupported(format!(
                "Python {version} uses the 3.14.0-3.14.4 incremental garbage collector, which leakspy \
                 does not support (no interpreter to test against); upgrade the target to 3.14.5+"
            )));
        }
    }

    let mut tried = Vec::new();
    for cand in candidates {
        let mut layout = cand.layout.clone();
        let runtime = match globals::resolve(&image, &mut layout) {
            Ok(base) => base.unwrap_or(runtime),
            Err(why) => {
                tried.push(format!("{}: {why}", cand.file));
                continue;
            }
        };
        let mut source = format!("python-layouts/{}", cand.file);
        let mut mismatches = Vec::new();
        if let Some(d) = &debug {
            let (applied, mm) = d.apply(&mut layout);
            source.push_str(&format!(" + _Py_DebugOffsets ({applied} fields)"));
            mismatches = mm;
        }
        if let Some(w) = free_threaded::unverified_check(version, &cand, &mismatches)? {
            warnings.push(w);
        }
        match probe(mem, runtime, &layout) {
            Ok(()) => {
                for m in mismatches {
                    warnings.push(format!(
                        "layout field {} differs: {} says {}, the target's _Py_DebugOffsets says {} (using the target's)",
                        m.field, cand.file, m.layout, m.target
                    ));
                }
                return Ok(Target {
                    pid,
                    image,
                    version,
                    version_source: detected.source,
                    layout,
                    layout_file: cand.file,
                    layout_source: source,
                    runtime,
                    warnings,
                    debug_offsets: debug.clone(),
                });
            }
            Err(why) => tried.push(format!("{}: {why}", cand.file)),
        }
    }
    Err(Error::NotFound {
        pid,
        detail: format!(
            "Python {version} at {} — no layout validated against the target ({}); is the interpreter \
             still starting up or shutting down?",
            image.path,
            tried.join("; ")
        ),
    })
}

/// How long a GC list head may stay invalid (a collection in progress) before a layout is rejected.
const PROBE_WINDOW: std::time::Duration = std::time::Duration::from_millis(250);

/// A circular list head: its `next` node's `prev` points back at it.
fn list_head_ok(mem: &dyn Memory, head: u64, mask: u64) -> std::result::Result<bool, ReadError> {
    let next = mem.read_ptr(head)? & !mask;
    Ok(mem.read_ptr(next + 8)? & !mask == head)
}

/// Check a layout against the live structures: an interpreter exists, its thread list points back to
/// it, and the first GC list head is a well-formed circular list node.
fn probe(mem: &dyn Memory, runtime: u64, l: &Layout) -> std::result::Result<(), String> {
    let interp = mem
        .read_ptr(runtime + l.runtime.interpreters_head)
        .map_err(|e| e.to_string())?;
    if interp == 0 {
        return Err("no interpreter yet (interpreters.head is NULL)".into());
    }
    // Threads come and go while we look: the head we read may be freed and reused before we follow it.
    // A wrong offset never points back; the right one does once no thread is starting or ending, so
    // the thread check is retried inside the same window as the GC heads below.
    let thread_ok = || -> std::result::Result<(), String> {
        let tstate = mem
            .read_ptr(interp + l.interp.threads_head)
            .map_err(|e| e.to_string())?;
        if tstate != 0 {
            let back = mem
                .read_ptr(tstate + l.tstate.interp)
                .map_err(|e| e.to_string())?;
            if back != interp {
                return Err(format!(
                    "thread state {tstate:#x} does not point back to interpreter {interp:#x}"
                ));
            }
        }
        Ok(())
    };
    let mut threads_pending = true;
    let gc = l.gc_state(runtime, interp);
    // The target is running: a collection rearranges the lists (and `_gc_prev` holds reference counts
    // meanwhile), and busy threads rewrite generation 0 between our two reads. A head at the wrong
    // offset never validates; the right one does as soon as no collection is touching it. So each head
    // must validate at least once within a short window, re-read until then.
    let heads: Vec<(u64, &String)> =
        l.gc.list_heads
            .iter()
            .map(|&o| gc + o)
            .zip(&l.gc.list_names)
            .collect();
    let mut pending: Vec<usize> = (0..heads.len()).collect();
    let deadline = std::time::Instant::now() + PROBE_WINDOW;
    let mut last = String::new();
    loop {
        if threads_pending {
            match thread_ok() {
                Ok(()) => threads_pending = false,
                Err(e) => last = e,
            }
        }
        pending.retain(|&i| {
            let (head, name) = heads[i];
            match list_head_ok(mem, head, l.gc.flag_mask) {
                Ok(true) => false,
                Ok(false) => {
                    last = format!("gc list {name} at {head:#x} is not a valid list head");
                    true
                }
                Err(e) => {
                    last = format!("gc list {name}: {e}");
                    true
                }
            }
        });
        if pending.is_empty() && !threads_pending {
            break;
        }
        if std::time::Instant::now() > deadline {
            return Err(last);
        }
        std::thread::sleep(std::time::Duration::from_micros(200));
    }
    Ok(())
}

/// The message for a Python older than 3.6 (no `_PyRuntime`).
fn unsupported_old(major: u8, minor: u8) -> String {
    let supported = leakspy_layout::supported_list();
    if major < 3 {
        format!(
            "Python {major}.{minor} is not supported: leakspy reads CPython 3 ({supported}), and \
             Python 2 reached its end of life in 2020; py-spy reads Python 2.7 stacks"
        )
    } else {
        format!(
            "Python {major}.{minor} is not supported (supported: {supported}); see the \
             supported-versions table in docs/testing.md"
        )
    }
}

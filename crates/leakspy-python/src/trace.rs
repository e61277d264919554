//! `leakspy trace` (3.14+, explicit opt-in): start tracemalloc in a running target through PEP 768,
//! let it run, then dump with the allocation sites of everything allocated since.
//!
//! The only writes are the remote-execution request itself (see [`crate::attach::remote_exec`]); the script
//! is a file placed in the target's own filesystem (through `/proc/PID/root`) and removed as soon as
//! the target has run it (or the request is withdrawn).

use crate::attach::process::{self, Target};
use crate::attach::remote_exec::RemoteDebug;
use crate::dump::{self, DumpOptions, DumpReport};
use crate::error::{Error, Result};
use crate::model::Reader;
use leakspy_memory::{proc, LiveProcess, MemoryExt};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Options of `leakspy trace`.
#[derive(Debug, Clone)]
pub struct TraceOptions {
    /// Frames per traceback (`tracemalloc.start(frames)`).
    pub frames: u32,
    /// How long to let the target allocate before dumping.
    pub duration: Duration,
    /// Stop tracemalloc again after the dump.
    pub stop: bool,
    /// How long to wait for the target to run each script.
    pub timeout: Duration,
    pub dump: DumpOptions,
}

/// A script file in the target's filesystem, removed on drop; a request still pending then is
/// withdrawn first, so the target never tries to open a file that is gone.
struct Placed<'a> {
    host_path: PathBuf,
    live: &'a LiveProcess,
    rd: RemoteDebug,
    tstate: u64,
}

impl Drop for Placed<'_> {
    fn drop(&mut self) {
        if self.rd.pending(self.live, self.tstate).unwrap_or(false) {
            let _ = self.rd.withdraw(self.live, self.tstate);
        }
        let _ = std::fs::remove_file(&self.host_path);
    }
}

/// Run `source` in the target and wait until `done` says it took effect.
fn run_script(
    live: &LiveProcess,
    rd: RemoteDebug,
    tstate: u64,
    name: &str,
    source: &str,
    timeout: Duration,
    done: &dyn Fn() -> Result<bool>,
) -> Result<()> {
    let pid = live.pid();
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let inside = format!("/tmp/leakspy-{name}-{pid}-{nonce}.py");
    let host_path = PathBuf::from(proc::target_path(pid, &inside));
    std::fs::write(&host_path, source).map_err(|e| {
        Error::Other(format!(
            "cannot place the script at {}: {e}",
            host_path.display()
        ))
    })?;
    let placed = Placed {
        host_path,
        live,
        rd,
        tstate,
    };
    rd.request(live, tstate, &inside)?;
    let deadline = Instant::now() + timeout;
    while !done()? {
        if Instant::now() > deadline {
            drop(placed);
            return Err(Error::Other(format!(
                "the target did not run the script within {timeout:?} (its threads may all be blocked in C \
                 code; the request was withdrawn)"
            )));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

/// Start tracemalloc in `pid` (unless it already traces), wait `duration`, dump, optionally stop it.
pub fn trace(pid: i32, opts: &TraceOptions, progress: &mut dyn FnMut(u64)) -> Result<DumpReport> {
    let (live, maps) = process::open(pid)?;
    let target = process::identify(pid, &live, &maps, opts.dump.layout.clone())?;
    crate::attach::free_threaded::refuse_heap(&target, !opts.dump.no_heap)?;
    let rd = RemoteDebug::of(&target)?;
    let l = &target.layout;
    let r = Reader::new(&live, l);
    let interp = r.ptr(target.runtime + l.runtime.interpreters_head)?;
    if !rd.enabled(&live, interp)? {
        return Err(Error::Unsupported(format!(
            "pid {pid} disabled remote execution (-X disable-remote-debug or PYTHON_DISABLE_REMOTE_DEBUG); \
             restart it without that, or with PYTHONTRACEMALLOC=25"
        )));
    }
    let tracing_addr = match (
        l.runtime.tracemalloc,
        l.tracemalloc.as_ref().and_then(|t| t.state_tracing),
    ) {
        (Some(state), Some(off)) => target.runtime + state + off,
        _ => {
            return Err(Error::Unsupported(
                "no tracemalloc layout for this version".into(),
            ))
        }
    };
    let tracing = || -> Result<bool> { Ok(live.read_i32(tracing_addr)? != 0) };
    let mut notes = Vec::new();
    let tstate = pick_thread(&r, &target, interp)?;
    if tracing()? {
        notes.push(
            "tracemalloc was already tracing in the target; leakspy did not restart it".to_string(),
        );
    } else {
        let src = format!(
            "# leakspy trace: start tracemalloc (removed once run)\nimport tracemalloc\n\
             if not tracemalloc.is_tracing():\n    tracemalloc.start({})\n",
            opts.frames
        );
        run_script(&live, rd, tstate, "trace", &src, opts.timeout, &tracing)?;
        notes.push(format!(
            "tracemalloc started in the target by leakspy ({} frames); sites cover objects allocated in the \
             {:?} since",
            opts.frames, opts.duration
        ));
    }
    std::thread::sleep(opts.duration);
    let mut report = dump::dump(pid, &opts.dump, progress)?;
    if opts.stop {
        let src =
            "# leakspy trace --stop (removed once run)\nimport tracemalloc\ntracemalloc.stop()\n";
        match run_script(&live, rd, tstate, "trace-stop", src, opts.timeout, &|| {
            Ok(!tracing()?)
        }) {
            Ok(()) => notes.push("tracemalloc stopped again (--stop)".into()),
            Err(e) => report
                .warnings
                .push(format!("could not stop tracemalloc: {e}")),
        }
    }
    report.notes.extend(notes);
    Ok(report)
}

/// The thread most likely to reach an eval-breaker check soon: one running on a CPU and holding
/// the GIL, else any running thread, else the main thread.
fn pick_thread(r: &Reader<'_>, target: &Target, interp: u64) -> Result<u64> {
    let l = r.l;
    let ns_to_host = proc::ns_tids(target.pid);
    let mut best: Option<(u8, u64)> = None;
    let mut cur = r.ptr(interp + l.interp.threads_head)?;
    let mut n = 0;
    while cur != 0 && n < crate::stacks::MAX_THREADS {
        n += 1;
        let native = l
            .tstate
            .native_thread_id
            .map(|o| r.mem.read_i64(cur + o))
            .transpose()?;
        let running = native
            .and_then(|t| ns_to_host.get(&t))
            .and_then(|&h| proc::thread_state(target.pid, h))
            == Some('R');
        let gil = l
            .tstate
            .holds_gil
            .map(|o| r.mem.read_i32(cur + o))
            .transpose()?
            .unwrap_or(0)
            != 0;
        let score = u8::from(running) * 2 + u8::from(gil);
        if best.is_none_or(|(s, _)| score > s) {
            best = Some((score, cur));
        }
        cur = r.ptr(cur + l.tstate.next)?;
    }
    let main = match l.interp.threads_main {
        Some(off) => r.ptr(interp + off)?,
        None => 0,
    };
    match best {
        Some((score, t)) if score > 0 || main == 0 => Ok(t),
        _ if main != 0 => Ok(main),
        _ => Err(Error::NotFound {
            pid: target.pid,
            detail: "no Python thread to run the script".into(),
        }),
    }
}

//! Pausing a live target for a consistent walk.
//!
//! Every thread is attached with `PTRACE_SEIZE` and stopped with `PTRACE_INTERRUPT`. Unlike
//! `PTRACE_ATTACH` (what `remoteprocess`'s lock uses), this sends no `SIGSTOP`: if leakspy dies for any
//! reason — panic, SIGINT, SIGTERM, even SIGKILL — the kernel detaches the tracees and they simply run
//! on. A signal that arrives for a thread while it is paused is re-delivered on detach, never swallowed.

use log::{debug, warn};
use nix::errno::Errno;
use nix::sys::ptrace;
use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Why a pause failed.
#[derive(Debug, thiserror::Error)]
pub enum PauseError {
    #[error("permission denied attaching to pid {pid} with ptrace")]
    PermissionDenied { pid: i32 },
    /// Another process already traces a thread of the target (gdb, strace, py-spy, a debugger):
    /// a thread can have only one tracer, so the kernel refuses the attach.
    #[error("pid {pid} is already traced by pid {tracer} ({tracer_name})")]
    AlreadyTraced {
        pid: i32,
        tracer: i32,
        tracer_name: String,
    },
    #[error("process {pid} does not exist")]
    NoSuchProcess { pid: i32 },
    #[error("thread {tid} of pid {pid} did not stop within {timeout:?}")]
    Timeout {
        pid: i32,
        tid: i32,
        timeout: Duration,
    },
    #[error("ptrace failed on thread {tid}: {errno}")]
    Ptrace { tid: i32, errno: Errno },
    #[error("process {pid} exited while it was being paused")]
    Exited { pid: i32 },
}

/// While alive, every thread of the target is stopped. Dropping it resumes them.
#[derive(Debug)]
pub struct PauseGuard {
    pid: i32,
    /// Paused threads and the signal (if any) to re-deliver when resuming.
    threads: HashMap<i32, Option<Signal>>,
    paused_at: Instant,
}

const STOP_TIMEOUT: Duration = Duration::from_secs(2);
/// How long an EPERM from `PTRACE_SEIZE` is retried to tell "exiting" from "not allowed".
const EPERM_RETRY: Duration = Duration::from_millis(20);

impl PauseGuard {
    /// Stop every thread of `pid`, including threads created while attaching.
    pub fn pause(pid: i32) -> Result<PauseGuard, PauseError> {
        let mut guard = PauseGuard {
            pid,
            threads: HashMap::new(),
            paused_at: Instant::now(),
        };
        // Threads can be created while we attach: repeat until a pass finds no new thread (bounded).
        for _round in 0..64 {
            let tids = crate::proc::threads(pid).map_err(|_| PauseError::NoSuchProcess { pid })?;
            let new: Vec<i32> = tids
                .into_iter()
                .filter(|t| !guard.threads.contains_key(t))
                .collect();
            if new.is_empty() {
                break;
            }
            for tid in new {
                match guard.stop_thread(tid) {
                    Ok(sig) => {
                        guard.threads.insert(tid, sig);
                    }
                    // The thread exited between listing and attaching: nothing to pause.
                    Err(PauseError::Ptrace {
                        errno: Errno::ESRCH,
                        ..
                    }) => {}
                    Err(e) => return Err(e), // guard's Drop resumes the threads already stopped
                }
            }
        }
        // Every thread exited before it could be stopped: the process is gone (or a zombie).
        if guard.threads.is_empty() {
            return Err(PauseError::Exited { pid });
        }
        guard.paused_at = Instant::now();
        debug!("paused {} threads of pid {pid}", guard.threads.len());
        Ok(guard)
    }

    fn stop_thread(&self, tid: i32) -> Result<Option<Signal>, PauseError> {
        let t = Pid::from_raw(tid);
        self.seize(tid)?;
        if let Err(errno) = ptrace::interrupt(t) {
            let _ = ptrace::detach(t, None);
            return Err(PauseError::Ptrace { tid, errno });
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            match waitpid(t, Some(WaitPidFlag::__WALL | WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) => {
                    if Instant::now() > deadline {
                        let _ = ptrace::detach(t, None);
                        return Err(PauseError::Timeout {
                            pid: self.pid,
                            tid,
                            timeout: STOP_TIMEOUT,
                        });
                    }
                    std::thread::sleep(Duration::from_micros(50));
                }
                // Our interrupt (or a group-stop): nothing to re-deliver.
                Ok(WaitStatus::PtraceEvent(..)) => return Ok(None),
                // A signal arrived first: remember it so detach delivers it.
                Ok(WaitStatus::Stopped(_, sig)) => return Ok(Some(sig)),
                Ok(WaitStatus::Exited(..) | WaitStatus::Signaled(..)) => {
                    return Err(PauseError::Ptrace {
                        tid,
                        errno: Errno::ESRCH,
                    })
                }
                Ok(other) => {
                    debug!("unexpected wait status for {tid}: {other:?}");
                    return Ok(None);
                }
                Err(Errno::EINTR) => continue,
                Err(errno) => {
                    let _ = ptrace::detach(t, None);
                    return Err(PauseError::Ptrace { tid, errno });
                }
            }
        }
    }

    /// `PTRACE_SEIZE` one thread. The kernel also answers EPERM for a thread that is exiting, so
    /// EPERM is retried briefly: a thread that exits meanwhile (gone or a zombie) is reported as
    /// ESRCH ("exited, nothing to pause"), not as a permission problem.
    fn seize(&self, tid: i32) -> Result<(), PauseError> {
        let t = Pid::from_raw(tid);
        let deadline = Instant::now() + EPERM_RETRY;
        loop {
            match ptrace::seize(t, ptrace::Options::empty()) {
                Ok(()) => return Ok(()),
                Err(Errno::EPERM | Errno::EACCES) => {
                    if matches!(
                        crate::proc::thread_state(self.pid, tid),
                        None | Some('Z' | 'X')
                    ) {
                        return Err(PauseError::Ptrace {
                            tid,
                            errno: Errno::ESRCH,
                        });
                    }
                    if let Some(tracer) = crate::proc::tracer_of(self.pid, tid) {
                        if tracer != std::process::id() as i32 {
                            return Err(PauseError::AlreadyTraced {
                                pid: self.pid,
                                tracer,
                                tracer_name: crate::proc::comm(tracer)
                                    .unwrap_or_else(|| "?".into()),
                            });
                        }
                    }
                    if Instant::now() > deadline {
                        return Err(PauseError::PermissionDenied { pid: self.pid });
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(errno) => return Err(PauseError::Ptrace { tid, errno }),
            }
        }
    }

    /// How many threads are stopped.
    pub fn threads(&self) -> usize {
        self.threads.len()
    }

    /// Time since every thread was stopped.
    pub fn elapsed(&self) -> Duration {
        self.paused_at.elapsed()
    }

    /// TIDs of the stopped threads, sorted.
    pub fn thread_ids(&self) -> Vec<i32> {
        let mut t: Vec<i32> = self.threads.keys().copied().collect();
        t.sort_unstable();
        t
    }

    /// The registers of a stopped thread (`PTRACE_GETREGS`; the thread is seized and interrupted,
    /// so the kernel allows it).
    pub fn registers(&self, tid: i32) -> Result<crate::Registers, PauseError> {
        if !self.threads.contains_key(&tid) {
            return Err(PauseError::Ptrace {
                tid,
                errno: Errno::ESRCH,
            });
        }
        ptrace::getregs(Pid::from_raw(tid))
            .map(|r| crate::Registers::from_user_regs(&r))
            .map_err(|errno| PauseError::Ptrace { tid, errno })
    }

    /// Every stopped thread's registers and the bytes of its stack from its stack pointer up (at
    /// most [`crate::StackCopy::CAP`], never past the end of its mapping). Threads whose registers
    /// cannot be read are left out.
    pub fn capture(
        &self,
        mem: &dyn crate::Memory,
        maps: &[crate::Mapping],
    ) -> Vec<crate::ThreadCapture> {
        self.thread_ids()
            .into_iter()
            .filter_map(|tid| {
                let regs = self.registers(tid).ok()?;
                let stack = crate::StackCopy::take(mem, maps, regs.rsp);
                Some(crate::ThreadCapture { tid, regs, stack })
            })
            .collect()
    }

    /// Resume now (same as dropping the guard).
    pub fn resume(self) {}
}

impl Drop for PauseGuard {
    fn drop(&mut self) {
        for (&tid, &sig) in &self.threads {
            if let Err(e) = ptrace::detach(Pid::from_raw(tid), sig) {
                // ESRCH: the thread died while paused (e.g. killed); nothing left to resume.
                if e != Errno::ESRCH {
                    warn!("failed to resume thread {tid}: {e}");
                }
            }
        }
        debug!("resumed pid {}", self.pid);
    }
}

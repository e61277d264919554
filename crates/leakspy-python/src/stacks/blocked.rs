//! Why each thread is blocked: the system call it sits in (live: `/proc/PID/task/TID/syscall`
//! read before the pause; cores: `orig_rax` and the argument registers), the file descriptor it
//! waits on and what that is, and what the Python frames and the interpreter say it means (the GIL
//! and who holds it, a `threading` lock, condition or queue, a sleep). Where the owner is known (the
//! GIL holder, an `RLock`'s owner) the thread gets a waits-for edge; cycles are deadlocks.

use super::{Frame, RawThread};
use crate::attach::process::Target;
use crate::model::Reader;
use leakspy_memory::procwait::{self, KernelSyscall};
use leakspy_memory::MemoryExt;
use serde::Serialize;

/// `"blocked"` of one thread in the report.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Blocked {
    /// The system call's name (`read`, `futex`, ...); `None` when not in one or unknown.
    pub syscall: Option<String>,
    /// In words: `waiting for the GIL (held by thread 0x…)`, `recv on fd 7: socket ...`, `sleeping`.
    pub what: String,
    /// The file descriptor waited on, when there is exactly one.
    pub fd: Option<i64>,
    /// What that descriptor is (`socket tcp 127.0.0.1:5432 -> 127.0.0.1:40122`, `pipe`, a path);
    /// `None` when unknown (cores).
    pub target: Option<String>,
    /// `thread_id` of the thread this one waits for (GIL holder, RLock owner).
    pub waits_for_thread: Option<u64>,
}

/// How the system call's arguments name the descriptors it waits on.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fds {
    None,
    /// The first argument is the fd.
    Arg0,
    /// `poll`/`ppoll`: `struct pollfd *` in arg0, count in arg1.
    Poll,
    /// `select`/`pselect6`: nfds in arg0, fd_set pointers in arg1..arg3.
    Select,
}

/// x86_64 names of the system calls a thread may block in, and where their fds are.
fn syscall_info(nr: u64) -> Option<(&'static str, Fds)> {
    use Fds::*;
    Some(match nr {
        0 => ("read", Arg0),
        1 => ("write", Arg0),
        7 => ("poll", Poll),
        16 => ("ioctl", Arg0),
        17 => ("pread64", Arg0),
        18 => ("pwrite64", Arg0),
        19 => ("readv", Arg0),
        20 => ("writev", Arg0),
        23 => ("select", Select),
        24 => ("sched_yield", None),
        34 => ("pause", None),
        35 => ("nanosleep", None),
        40 => ("sendfile", Arg0),
        42 => ("connect", Arg0),
        43 => ("accept", Arg0),
        44 => ("sendto", Arg0),
        45 => ("recvfrom", Arg0),
        46 => ("sendmsg", Arg0),
        47 => ("recvmsg", Arg0),
        61 => ("wait4", None),
        72 => ("fcntl", Arg0),
        73 => ("flock", Arg0),
        74 => ("fsync", Arg0),
        128 => ("rt_sigtimedwait", None),
        130 => ("rt_sigsuspend", None),
        202 => ("futex", None),
        219 => ("restart_syscall", None),
        230 => ("clock_nanosleep", None),
        232 => ("epoll_wait", Arg0),
        247 => ("waitid", None),
        270 => ("pselect6", Select),
        271 => ("ppoll", Poll),
        281 => ("epoll_pwait", Arg0),
        288 => ("accept4", Arg0),
        299 => ("recvmmsg", Arg0),
        307 => ("sendmmsg", Arg0),
        441 => ("epoll_pwait2", Arg0),
        _ => return Option::None,
    })
}

/// The word a report uses for a socket call (`recvfrom` is what `recv()` becomes).
fn verb(name: &str) -> &str {
    match name {
        "recvfrom" => "recv",
        "sendto" => "send",
        "pselect6" => "select",
        "ppoll" => "poll",
        "epoll_pwait" | "epoll_pwait2" => "epoll_wait",
        "accept4" => "accept",
        other => other,
    }
}

/// What the rest of the process says about one thread.
pub struct Context<'a> {
    pub holds_gil: bool,
    /// `thread_id` of the GIL holder, if any.
    pub gil_holder: Option<u64>,
    /// Address ranges of the interpreters' `struct _gil_runtime_state`.
    pub gil_ranges: &'a [(u64, u64)],
    /// The RLock this thread tries to acquire and its owner, from its innermost frame.
    pub rlock_owner: Option<u64>,
    /// Descriptor -> what it is (live `/proc`; `None` for cores).
    pub fd_target: &'a dyn Fn(i64) -> Option<String>,
    /// The descriptors a `poll`/`select` waits on, read from the target's memory.
    pub wait_fds: Vec<i64>,
}

/// Size taken for `struct _gil_runtime_state` (two condition variables and two mutexes plus a few
/// words: 200 bytes on x86_64 glibc; more covers debug builds).
pub const GIL_STATE_SPAN: u64 = 256;

/// Size taken for 3.6's `gil_cond` / `gil_mutex` statics (a `pthread_cond_t` is 48 bytes, a
/// `pthread_mutex_t` 40 on x86_64 glibc).
const GIL_STATIC_SPAN: u64 = 48;

/// The `threading`/`queue` construct the innermost Python frames wait in. Function names are
/// qualified from 3.11 (`Condition.wait`), bare before (`wait`): the last component is compared.
fn python_wait(frames: &[Frame]) -> Option<&'static str> {
    let is = |f: &Frame, file: &str, func: &str| {
        f.function.rsplit('.').next() == Some(func)
            && (f.filename.ends_with(&format!("/{file}")) || f.filename == file)
    };
    if frames
        .iter()
        .take(4)
        .any(|f| is(f, "queue.py", "get") || is(f, "queue.py", "put"))
    {
        return Some("queue.Queue");
    }
    let f0 = frames.first()?;
    if is(f0, "threading.py", "wait") || is(f0, "threading.py", "wait_for") {
        let caller = frames.get(1);
        let called_from = |func: &str| caller.is_some_and(|f| is(f, "threading.py", func));
        return Some(
            if called_from("wait") && caller.is_some_and(|f| f.function != "Condition.wait") {
                "threading.Event"
            } else if called_from("_wait") {
                "threading.Barrier"
            } else if called_from("acquire") {
                "threading.Semaphore"
            } else {
                "threading.Condition"
            },
        );
    }
    if is(f0, "threading.py", "_wait_for_tstate_lock") {
        return Some("Thread.join");
    }
    None
}

/// Describe one thread's wait. `sc` is its system call (`None` when unknown), `wchan` the kernel
/// function it sleeps in (live only).
pub fn describe(
    sc: Option<KernelSyscall>,
    wchan: Option<&str>,
    frames: &[Frame],
    cx: &Context<'_>,
) -> Blocked {
    let mut b = Blocked::default();
    let (nr, args) = match sc {
        None => {
            b.what = "unknown".into();
            return b;
        }
        Some(KernelSyscall::Running) => {
            b.what = "running".into();
            return b;
        }
        Some(KernelSyscall::NotInSyscall) => {
            b.what = match wchan {
                Some(w) => format!("in the kernel ({w})"),
                None => "not in a system call".into(),
            };
            return b;
        }
        Some(KernelSyscall::In { nr, args }) => (nr, args),
    };
    let Some((name, fds)) = syscall_info(nr) else {
        b.syscall = Some(format!("syscall {nr}"));
        b.what = format!("in system call {nr}");
        return b;
    };
    b.syscall = Some(name.to_string());
    let held_by = |t: Option<u64>| t.map_or(String::new(), |t| format!(" (held by thread {t:#x})"));
    match name {
        "futex" => {
            let addr = args[0];
            let on_gil = cx.gil_ranges.iter().any(|&(a, z)| (a..z).contains(&addr));
            if on_gil && !cx.holds_gil {
                b.waits_for_thread = cx.gil_holder;
                b.what = format!("waiting for the GIL{}", held_by(cx.gil_holder));
            } else if let Some(kind) = python_wait(frames) {
                b.what = format!("waiting on {kind}");
            } else if let Some(owner) = cx.rlock_owner {
                b.waits_for_thread = Some(owner);
                b.what = format!("waiting on threading.RLock{}", held_by(Some(owner)));
            } else if on_gil {
                b.what = "handing the GIL over".into();
            } else if cx.gil_ranges.is_empty() && !cx.holds_gil && frames.is_empty() {
                b.what = "waiting on a futex".into();
            } else if !frames.is_empty() && !cx.holds_gil {
                b.what = "waiting on threading.Lock".into();
            } else {
                b.what = "waiting on a futex".into();
            }
        }
        "nanosleep" | "clock_nanosleep" | "pause" => b.what = "sleeping".into(),
        "restart_syscall" => {
            // A timed wait interrupted by a stop and resumed: the arguments are gone.
            b.what = match python_wait(frames) {
                Some(kind) => format!("waiting on {kind}"),
                None => "sleeping (restarted system call)".into(),
            };
        }
        "wait4" | "waitid" => {
            let pid = args[if name == "wait4" { 0 } else { 1 }] as i32;
            b.what = if pid <= 0 {
                "waiting for a child process".into()
            } else {
                format!("waiting for child process {pid}")
            };
        }
        _ => {
            let list: Vec<i64> = match fds {
                Fds::None => Vec::new(),
                Fds::Arg0 => vec![args[0] as i32 as i64],
                Fds::Poll | Fds::Select => cx.wait_fds.clone(),
            };
            if fds == Fds::Select && list.is_empty() {
                b.what = "sleeping".into();
                return b;
            }
            match list.as_slice() {
                [] => b.what = format!("in {name}"),
                [fd] => {
                    b.fd = Some(*fd);
                    b.target = (cx.fd_target)(*fd);
                    b.what = match &b.target {
                        Some(t) => format!("{} on fd {fd}: {t}", verb(name)),
                        None => format!("{} on fd {fd}", verb(name)),
                    };
                }
                many => {
                    let shown: Vec<String> = many
                        .iter()
                        .take(8)
                        .map(|&fd| match (cx.fd_target)(fd) {
                            Some(t) => format!("{fd} ({t})"),
                            None => fd.to_string(),
                        })
                        .collect();
                    let more = if many.len() > 8 { ", ..." } else { "" };
                    b.what = format!(
                        "{} on {} fds: {}{more}",
                        verb(name),
                        many.len(),
                        shown.join(", ")
                    );
                }
            }
        }
    }
    b
}

/// Most descriptors read from a `poll`/`select` argument.
const MAX_WAIT_FDS: u64 = 1024;

/// The descriptors a `poll`/`ppoll`/`select`/`pselect6` waits on, read from the target's memory
/// (the arrays are on the waiting thread's stack or heap, still in place while it waits).
pub fn wait_fds(r: &Reader<'_>, sc: Option<KernelSyscall>) -> Vec<i64> {
    let Some(KernelSyscall::In { nr, args }) = sc else {
        return Vec::new();
    };
    let Some((_, kind)) = syscall_info(nr) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    match kind {
        Fds::Poll => {
            for i in 0..args[1].min(MAX_WAIT_FDS) {
                // struct pollfd { int fd; short events; short revents; }
                match r.mem.read_i32(args[0].wrapping_add(8 * i)) {
                    Ok(fd) if fd >= 0 => out.push(i64::from(fd)),
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
        }
        Fds::Select => {
            let nfds = args[0].min(MAX_WAIT_FDS);
            for set in [args[1], args[2], args[3]] {
                if set == 0 {
                    continue;
                }
                for word in 0..nfds.div_ceil(64) {
                    let Ok(bits) = r.mem.read_u64(set.wrapping_add(8 * word)) else {
                        break;
                    };
                    for bit in 0..64 {
                        let fd = word * 64 + bit;
                        if fd < nfds && bits & (1 << bit) != 0 && !out.contains(&(fd as i64)) {
                            out.push(fd as i64);
                        }
                    }
                }
            }
            out.sort_unstable();
        }
        _ => {}
    }
    out
}

/// Slots past the named locals scanned for the lock being acquired (the evaluation stack).
const STACK_SLOTS: u64 = 32;
/// `rlockobject`: `rlock_owner` (≤3.12) / `lock.thread` (3.13+) and the count/level after it,
/// right after `PyObject_HEAD` and one pointer-sized field (`rlock_lock` / the `PyMutex`).
const RLOCK_OWNER: u64 = 8;
const RLOCK_COUNT: u64 = 16;
/// `PyCFunctionObject.m_self` / `PyMethodObject.im_self`: after `PyObject_HEAD` and one pointer.
const BOUND_SELF: u64 = 8;
/// End of x86_64 user space (47-bit addresses; 57-bit with 5-level paging).
const USER_SPACE_END: u64 = 1 << 57;

/// The owner (`thread_id`) of the `threading.RLock` thread `t` is blocked acquiring, when its
/// innermost Python frame shows one: the lock (or its bound `acquire`/`__exit__`) sits in that
/// frame's locals or evaluation stack. Of the RLocks found there, one held by another thread; for
/// ≤3.12, where the wait is on the RLock's own semaphore, only one whose semaphore is the futex
/// waited on (`futex_addr`).
pub fn rlock_owner(
    r: &Reader<'_>,
    t: &RawThread,
    futex_addr: Option<u64>,
    pymutex: bool,
    recursive_mutex: bool,
) -> Option<u64> {
    let l = r.l;
    let &(frame, code) = t.frame_addrs.first()?;
    let slots = match (&l.iframe, l.frame_object.f_localsplus) {
        (Some(fr), _) => frame.wrapping_add(fr.localsplus),
        (None, Some(off)) => frame.wrapping_add(off),
        _ => return None,
    };
    let names = r.ptr(code.wrapping_add(l.code.local_names)).ok()?;
    let count = r.ob_size(names).ok()?.clamp(0, 4096) as u64 + STACK_SLOTS;
    let head = l.object.size;
    for i in (0..count).rev() {
        let Ok(v) = r.mem.read_u64(slots.wrapping_add(8 * i)) else {
            continue;
        };
        let v = v & !7;
        // Not a user-space address: garbage or a tagged non-pointer.
        if v == 0 || v >= USER_SPACE_END {
            continue;
        }
        let lock = match type_name(r, v).as_deref() {
            Some("_thread.RLock") => v,
            Some("builtin_function_or_method") | Some("method") => {
                match r.ptr(v.wrapping_add(head + BOUND_SELF)) {
                    Ok(s)
                        if s != 0
                            && s < USER_SPACE_END
                            && type_name(r, s).as_deref() == Some("_thread.RLock") =>
                    {
                        s
                    }
                    _ => continue,
                }
            }
            _ => continue,
        };
        let (Ok(first), Ok(owner), Ok(count)) = (
            r.mem.read_u64(lock.wrapping_add(head)),
            r.mem.read_u64(lock.wrapping_add(head + RLOCK_OWNER)),
            r.mem.read_u64(lock.wrapping_add(head + RLOCK_COUNT)),
        ) else {
            continue;
        };
        // 3.14+ (`_PyRecursiveMutex`): held while the PyMutex's locked bit is set, `level` counts
        // only re-entries; before: `rlock_count` is the number of holds.
        let held = if recursive_mutex {
            first & 1 != 0
        } else {
            count != 0
        };
        if owner == 0 || !held || owner == t.thread_id {
            continue;
        }
        if !pymutex {
            // ≤3.12: rlock_lock is the semaphore the waiter sleeps on.
            match (futex_addr, first) {
                (Some(a), sem) if sem == a => {}
                (None, _) => {}
                _ => continue,
            }
        }
        return Some(owner);
    }
    None
}

/// `tp_name` of an object's type (short C string), `None` when unreadable.
fn type_name(r: &Reader<'_>, obj: u64) -> Option<String> {
    if obj >= USER_SPACE_END {
        return None;
    }
    let tp = r.type_of(obj).ok()?;
    if tp == 0 || tp >= USER_SPACE_END {
        return None;
    }
    let name = r.ptr(tp + r.l.type_.tp_name).ok()?;
    let raw = r.mem.read_cstr(name, 64).ok()?;
    String::from_utf8(raw).ok()
}

/// What the kernel showed of one thread.
#[derive(Debug, Clone, Default)]
pub struct OsWait {
    pub syscall: Option<KernelSyscall>,
    pub wchan: Option<String>,
}

/// System call and `wchan` of each of `pid`'s threads (host TIDs), read now: call this before
/// pausing, as a thread stopped by ptrace shows its stop.
pub fn live_syscalls(
    pid: i32,
    tids: impl Iterator<Item = i32>,
) -> std::collections::HashMap<i32, OsWait> {
    tids.map(|t| {
        (t, {
            let wchan = procwait::task_wchan(pid, t);
            let syscall = match procwait::task_syscall(pid, t) {
                // Outside a system call and asleep nowhere: runnable in user space.
                Some(KernelSyscall::NotInSyscall) if wchan.is_none() => {
                    Some(KernelSyscall::Running)
                }
                other => other,
            };
            OsWait { syscall, wchan }
        })
    })
    .collect()
}

/// fd -> what it is, through the target's own `/proc` (its sockets read once, on first use).
pub fn live_fd_target(pid: i32) -> Box<dyn Fn(i64) -> Option<String>> {
    let sockets = std::cell::OnceCell::new();
    Box::new(move |fd| {
        let link = procwait::fd_link(pid, fd)?;
        // Only a socket needs the socket tables: reading /proc/PID/net/tcp* walks the kernel's
        // whole connection hash (a tenth of a `dump --native` of 50 threads blocked on pipes).
        let none = std::collections::HashMap::new();
        let socks = if link.starts_with("socket:") {
            sockets.get_or_init(|| procwait::sockets(pid))
        } else {
            &none
        };
        Some(procwait::describe_link(&link, socks))
    })
}

/// Core threads' system calls from their registers (`orig_rax` is -1 outside one).
pub fn core_wait(nr: u64, args: [u64; 6]) -> OsWait {
    OsWait {
        syscall: Some(if nr == u64::MAX {
            KernelSyscall::NotInSyscall
        } else {
            KernelSyscall::In { nr, args }
        }),
        wchan: None,
    }
}

/// Everything [`describe`] needs that is the same for all threads of one picture.
pub struct BlockedFinder<'r, 'a> {
    r: &'r Reader<'a>,
    gil_ranges: Vec<(u64, u64)>,
    gil_holder: Option<u64>,
    pymutex: bool,
    recursive_mutex: bool,
}

impl<'r, 'a> BlockedFinder<'r, 'a> {
    pub fn new(
        r: &'r Reader<'a>,
        target: &Target,
        threads: &[RawThread],
        gil_holders: &[u64],
    ) -> Self {
        let mut gil_ranges = Vec::new();
        for interp in super::interpreters(r, target.runtime).unwrap_or_default() {
            let gil = match (r.l.runtime.ceval_gil, r.l.interp.ceval_gil_ptr) {
                (Some(off), _) => Some(target.runtime + off),
                (None, Some(off)) => r.ptr(interp + off).ok().filter(|&g| g != 0),
                _ => None,
            };
            if let Some(g) = gil {
                let range = (g, g.saturating_add(GIL_STATE_SPAN));
                if !gil_ranges.contains(&range) {
                    gil_ranges.push(range);
                }
            }
        }
        // 3.6 has no GIL struct: its condition variable and mutex are file statics of their own,
        // far from `gil_locked` (found by symbol in unstripped builds, like the other 3.6 globals).
        if r.l.globals.is_some() {
            for name in ["gil_cond", "gil_mutex"] {
                if let Some(&a) = target.image.symbols.get(name) {
                    let range = (a, a.saturating_add(GIL_STATIC_SPAN));
                    if !gil_ranges.contains(&range) {
                        gil_ranges.push(range);
                    }
                }
            }
        }
        let gil_holder = threads
            .iter()
            .find(|t| t.holds_gil_flag == Some(true) || gil_holders.contains(&t.tstate))
            .map(|t| t.thread_id);
        BlockedFinder {
            r,
            gil_ranges,
            gil_holder,
            pymutex: (target.version.major, target.version.minor) >= (3, 13),
            recursive_mutex: (target.version.major, target.version.minor) >= (3, 14),
        }
    }

    /// Why thread `t` is blocked.
    pub fn blocked(
        &self,
        t: &RawThread,
        holds_gil: bool,
        wait: Option<&OsWait>,
        fd_target: &dyn Fn(i64) -> Option<String>,
    ) -> Blocked {
        let sc = wait.and_then(|w| w.syscall);
        let futex = match sc {
            Some(KernelSyscall::In { nr: 202, args }) => Some(args[0]),
            _ => None,
        };
        let rlock_owner =
            futex.and_then(|a| rlock_owner(self.r, t, Some(a), self.pymutex, self.recursive_mutex));
        let cx = Context {
            holds_gil,
            gil_holder: self.gil_holder.filter(|&h| h != t.thread_id),
            gil_ranges: &self.gil_ranges,
            rlock_owner,
            fd_target,
            wait_fds: wait_fds(self.r, sc),
        };
        describe(sc, wait.and_then(|w| w.wchan.as_deref()), &t.frames, &cx)
    }
}

/// Cycles of the waits-for graph (`thread -> waits_for_thread`): each a list of thread ids,
/// starting from its smallest, in waiting order. Every thread has at most one outgoing edge, so
/// a cycle is found by following edges.
pub fn deadlocks(edges: &[(u64, Option<u64>)]) -> Vec<Vec<u64>> {
    let next: std::collections::HashMap<u64, u64> = edges
        .iter()
        .filter_map(|&(t, w)| w.map(|w| (t, w)))
        .collect();
    let mut out: Vec<Vec<u64>> = Vec::new();
    let mut starts: Vec<u64> = next.keys().copied().collect();
    starts.sort_unstable();
    for start in starts {
        let mut path = vec![start];
        let mut cur = start;
        while let Some(&n) = next.get(&cur) {
            if n == start {
                let min = path.iter().copied().min().unwrap_or(start);
                if min == start && !out.contains(&path) {
                    out.push(path);
                }
                break;
            }
            if path.contains(&n) || path.len() > next.len() {
                break;
            }
            path.push(n);
            cur = n;
        }
    }
    out
}

#[cfg(test)]
mod tests;

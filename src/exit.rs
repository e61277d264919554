//! Exit codes and the one-line error messages that name the fix.

use crate::cli::UsageError;
use leakspy_python::Error;

/// Finished, but some structures could not be read completely (the report says which).
pub const PARTIAL: i32 = 1;
pub const USAGE: i32 = 2;
pub const NO_SUCH_PROCESS: i32 = 3;
pub const PERMISSION: i32 = 4;
pub const NOT_PYTHON: i32 = 5;
pub const UNSUPPORTED: i32 = 6;
pub const NOT_FOUND: i32 = 7;
pub const OTHER: i32 = 8;
/// `--core`: the interpreter's binaries are missing, or other builds than the core was made with.
pub const BINARIES: i32 = 9;
/// `--core`: the file is not a usable core (not an ELF core, truncated, unreadable).
pub const BAD_CORE: i32 = 10;
/// The target is already traced by another process (gdb, strace, py-spy): it cannot be paused.
pub const ALREADY_TRACED: i32 = 11;
/// Even bounded mode does not fit in the memory leakspy may use (census or `refs` graph).
pub const MEMORY_LIMIT: i32 = 12;

/// Print `e` as one line on stderr and return its exit code.
pub fn report(e: &anyhow::Error) -> i32 {
    let (code, msg) = classify(e);
    eprintln!("leakspy: {msg}");
    code
}

fn classify(e: &anyhow::Error) -> (i32, String) {
    if let Some(u) = e.downcast_ref::<UsageError>() {
        return (USAGE, u.to_string());
    }
    if let Some(le) = e.downcast_ref::<leakspy_layout::LayoutError>() {
        return (USAGE, le.to_string());
    }
    match e.downcast_ref::<Error>() {
        Some(Error::NoSuchProcess(pid)) => {
            (NO_SUCH_PROCESS, format!("no process with pid {pid} (check the pid; from the host, use the host's pid)"))
        }
        Some(Error::PermissionDenied { pid, detail }) => (
            PERMISSION,
            format!(
                "permission denied for pid {pid} ({detail}): run as root or the same user with \
                 CAP_SYS_PTRACE, check /proc/sys/kernel/yama/ptrace_scope (0 or 1); in containers add \
                 --cap-add SYS_PTRACE (docker) or use `kubectl debug --profile=general --target=CONTAINER`"
            ),
        ),
        Some(Error::AlreadyTraced {
            pid,
            tracer,
            tracer_name,
        }) => (
            ALREADY_TRACED,
            format!(
                "pid {pid} is already traced by pid {tracer} ({tracer_name}), and a process can \
                 have only one tracer: detach that one first, or read without pausing with \
                 `leakspy dump --nonblocking --pid {pid}`"
            ),
        ),
        Some(Error::NotPython { .. }) => (NOT_PYTHON, format!("{e}; check the pid")),
        Some(Error::Unsupported(msg)) => (UNSUPPORTED, msg.clone()),
        Some(Error::NotFound { .. }) => (NOT_FOUND, format!("{e}")),
        Some(Error::Read(r)) => (OTHER, format!("reading the target failed: {r}; did it exit?")),
        Some(Error::BadCore(msg)) => (BAD_CORE, msg.clone()),
        Some(Error::Binaries(msg)) => (BINARIES, msg.clone()),
        Some(Error::MemoryLimit(msg)) => (MEMORY_LIMIT, msg.clone()),
        Some(Error::Other(msg)) => (OTHER, msg.clone()),
        None => (OTHER, format!("{e:#}")),
    }
}

//! Errors of the CPython model, by root cause (the binary maps each to an exit code and a fix).

use leakspy_memory::ReadError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no process with pid {0}")]
    NoSuchProcess(i32),
    #[error("permission denied reading pid {pid}: {detail}")]
    PermissionDenied { pid: i32, detail: String },
    /// Another tracer (gdb, strace, py-spy) is attached: the kernel allows one.
    #[error("pid {pid} is already traced by pid {tracer} ({tracer_name})")]
    AlreadyTraced {
        pid: i32,
        tracer: i32,
        tracer_name: String,
    },
    #[error("pid {pid} is not a Python process ({detail})")]
    NotPython { pid: i32, detail: String },
    #[error("{0}")]
    Unsupported(String),
    #[error("interpreter structures not found in pid {pid}: {detail}")]
    NotFound { pid: i32, detail: String },
    #[error("reading the target failed: {0}")]
    Read(#[from] ReadError),
    /// The core file cannot be used (not a core, truncated, unreadable).
    #[error("{0}")]
    BadCore(String),
    /// The binaries a core file needs are missing here, or are other builds (build-id) than the ones
    /// the process ran.
    #[error("{0}")]
    Binaries(String),
    /// Even bounded mode cannot fit in the memory leakspy may use (`--max-memory`, MemAvailable,
    /// the cgroup's limit).
    #[error("{0}")]
    MemoryLimit(String),
    #[error("{0}")]
    Other(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

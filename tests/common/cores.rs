//! Core files: scratch directories removed on drop, waiting for a target to block, and `gcore`.

use super::leakspy::{run_with_timeout, show_output};
use super::targets::{SCRATCH_COUNTER, TARGET_READY_TIMEOUT};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// A scratch directory on the host, removed on drop (cores are large).
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "leakspy-test-{tag}-{}-{}",
            std::process::id(),
            SCRATCH_COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A core taken by gcore.
pub struct Gcore {
    pub path: PathBuf,
    /// gdb's own warnings that it could not copy some memory (other than the kernel's vsyscall
    /// page): with glibc 2.42+ on Linux 6.13+ it cannot copy thread stacks (guard regions inside
    /// the stack mapping) and leaves them zero.
    pub unreadable: Vec<String>,
}

/// Wait until the main thread of `pid` is blocked in `read(0, ...)`: heap_target.py prints its
/// truth line a moment before it gets there, and a core (a picture of that instant) must not catch
/// it on the way.
pub fn wait_blocked_in_read(pid: u32) {
    let deadline = std::time::Instant::now() + TARGET_READY_TIMEOUT;
    loop {
        let sc = std::fs::read_to_string(format!("/proc/{pid}/syscall")).unwrap_or_default();
        let mut f = sc.split_whitespace();
        if (f.next(), f.next()) == (Some("0"), Some("0x0")) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "pid {pid} never blocked in read(0) (syscall: {sc:?})"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Take a core of the running process `pid` with gdb's `gcore` (as a user would), once its main
/// thread is blocked.
pub fn gcore(pid: u32, dir: &Path) -> Gcore {
    wait_blocked_in_read(pid);
    let prefix = dir.join("core");
    let out = run_with_timeout(
        Command::new("gcore")
            .arg("-o")
            .arg(&prefix)
            .arg(pid.to_string()),
    );
    let core = dir.join(format!("core.{pid}"));
    assert!(
        out.status.success() && core.is_file(),
        "gcore -o {} {pid} failed (is gdb installed? scripts/setup-pythons.sh installs it)\n{}",
        prefix.display(),
        show_output(&out)
    );
    let unreadable = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.contains("Memory read failed") && !l.contains("0xffffffffff600000"))
        .map(str::to_string)
        .collect();
    Gcore {
        path: core,
        unreadable,
    }
}

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

/// Whether the kernel writes a fatal signal's core as a plain `core` file into the process's
/// working directory (core_pattern `core`, as on this project's machines and CI). Otherwise the
/// cores go elsewhere (systemd-coredump, apport) and the caller skips, saying so; the tests never
/// change core_pattern.
pub fn kernel_cores_in_cwd() -> bool {
    let pattern = std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap_or_default();
    if pattern.trim() != "core" {
        eprintln!(
            "SKIPPED: kernel core_pattern is {:?}, not \"core\" (cores go elsewhere)",
            pattern.trim()
        );
        return false;
    }
    true
}

/// Kill a target started with `Launch::CoreDumping` by `signal` (e.g. "ABRT", "QUIT": default
/// action "core") so that the kernel writes its core into the target's scratch directory; move the
/// core into `dir` and return its path. The target is reaped.
pub fn kernel_core_of(guard: &mut super::targets::ChildGuard, dir: &Path, signal: &str) -> PathBuf {
    use std::os::unix::process::ExitStatusExt;
    let pid = guard.pid();
    let scratch = guard
        .scratch
        .clone()
        .expect("a Launch::CoreDumping target has a scratch dir");
    let status = Command::new("kill")
        .args([format!("-{signal}"), pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{signal} {pid}");
    let exit = guard.child.wait().expect("wait for the target");
    assert!(
        exit.core_dumped(),
        "pid {pid} did not dump core on SIG{signal} ({exit:?}); RLIMIT_CORE or core_pattern?"
    );
    let uses_pid = std::fs::read_to_string("/proc/sys/kernel/core_uses_pid").unwrap_or_default();
    let name = if uses_pid.trim() == "1" {
        format!("core.{pid}")
    } else {
        "core".into()
    };
    let src = scratch.join(&name);
    let core = dir.join(&name);
    std::fs::rename(&src, &core)
        .or_else(|_| std::fs::copy(&src, &core).map(|_| ()))
        .unwrap_or_else(|e| panic!("move {} to {}: {e}", src.display(), core.display()));
    core
}

/// Wait until thread `tid` of `pid` is inside read(`fd`, ...) according to the kernel
/// (/proc/PID/task/TID/syscall: number 0, first argument the fd). Such a thread released the GIL
/// before the call. Polls the kernel's state (not a guess at how long it takes), with a deadline.
pub fn wait_task_in_read(pid: u32, tid: i64, fd: i32) {
    let path = format!("/proc/{pid}/task/{tid}/syscall");
    let want = format!("{fd:#x}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let sc = std::fs::read_to_string(&path).unwrap_or_default();
        let mut f = sc.split_whitespace();
        if f.next() == Some("0") && f.next() == Some(want.as_str()) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "thread {tid} of pid {pid} never blocked in read({fd}) (syscall: {sc:?})"
        );
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

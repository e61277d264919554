//! Running the `leakspy` binary (or any command) with a timeout, and `show_output` for failure
//! messages.

use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long one `leakspy` invocation may take before we kill it.
const LEAKSPY_TIMEOUT: Duration = Duration::from_secs(120);

/// Run the leakspy binary with `args`, killing it after LEAKSPY_TIMEOUT.
pub fn run_leakspy<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    run_with_timeout(Command::new(env!("CARGO_BIN_EXE_leakspy")).args(args))
}

pub fn run_with_timeout(cmd: &mut Command) -> Output {
    try_run_with_timeout(cmd, LEAKSPY_TIMEOUT).unwrap_or_else(|e| panic!("{e}"))
}

/// Run the leakspy binary with `args`; `Err` (after killing it) if it takes longer than `timeout`.
pub fn try_run_leakspy<I, S>(args: I, timeout: Duration) -> Result<Output, String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    try_run_with_timeout(
        Command::new(env!("CARGO_BIN_EXE_leakspy")).args(args),
        timeout,
    )
}

/// Run `cmd` (stdin closed, output captured); `Err` with its stderr if it had to be killed after
/// `timeout`.
pub fn try_run_with_timeout(cmd: &mut Command, timeout: Duration) -> Result<Output, String> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(timeout) {
        Ok(out) => Ok(out.unwrap_or_else(|e| panic!("waiting for {cmd:?}: {e}"))),
        Err(_) => {
            // Our own child, killed by its pid; the waiting thread reaps it.
            let _ = Command::new("kill")
                .arg("-KILL")
                .arg(pid.to_string())
                .status();
            let out = rx.recv_timeout(Duration::from_secs(10));
            let stderr = out
                .ok()
                .and_then(|o| o.ok())
                .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
                .unwrap_or_default();
            Err(format!(
                "{cmd:?} did not finish within {timeout:?}; killed.\nstderr:\n{stderr}"
            ))
        }
    }
}

pub fn show_output(out: &Output) -> String {
    format!(
        "status: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        truncate(&String::from_utf8_lossy(&out.stdout), 20_000),
        truncate(&String::from_utf8_lossy(&out.stderr), 20_000)
    )
}

pub(super) fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... [{} bytes total]", &s[..end], s.len())
}

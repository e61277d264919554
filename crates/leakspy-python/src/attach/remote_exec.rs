//! PEP 768 (3.14+): asking a running interpreter to run a script file, the way `sys.remote_exec`
//! does. This is the only place leakspy writes into a target, and only for commands that say so
//! (`leakspy trace`).
//!
//! Protocol (CPython `Python/remote_debug.h`, `_PySysRemoteDebug_SendExec`; offsets from the target's
//! `_Py_DebugOffsets.debugger_support`): check `interp->config.remote_debug == 1`; write the script
//! path (NUL-terminated, < 512 bytes) into the chosen thread state's `remote_debugger_support`
//! buffer; set its `debugger_pending_call` to 1; set `_PY_EVAL_PLEASE_STOP_BIT` (1 << 5) in the
//! thread's `eval_breaker`. The thread runs the file at its next eval-breaker check, with a fresh
//! namespace, and clears the pending flag.

use crate::attach::process::Target;
use crate::error::{Error, Result};
use leakspy_memory::{LiveProcess, MemoryExt};

/// `_PY_EVAL_PLEASE_STOP_BIT` (Include/internal/pycore_ceval.h, 3.14).
const PLEASE_STOP_BIT: u64 = 1 << 5;

/// Offsets of the remote-debugging fields, from the target's own table.
#[derive(Debug, Clone, Copy)]
pub struct RemoteDebug {
    pub eval_breaker: u64,
    pub support: u64,
    pub enabled: u64,
    pub pending_call: u64,
    pub script_path: u64,
    pub script_path_size: u64,
}

impl RemoteDebug {
    pub fn of(target: &Target) -> Result<RemoteDebug> {
        let refuse = || {
            Error::Unsupported(format!(
                "Python {} has no remote-execution interface (PEP 768 needs 3.14+); start the target with \
                 PYTHONTRACEMALLOC=25 instead",
                target.version
            ))
        };
        let d = target.debug_offsets.as_ref().ok_or_else(refuse)?;
        let get = |k: &str| d.get(k).ok_or_else(refuse);
        Ok(RemoteDebug {
            eval_breaker: get("debugger_support.eval_breaker")?,
            support: get("debugger_support.remote_debugger_support")?,
            enabled: get("debugger_support.remote_debugging_enabled")?,
            pending_call: get("debugger_support.debugger_pending_call")?,
            script_path: get("debugger_support.debugger_script_path")?,
            script_path_size: get("debugger_support.debugger_script_path_size")?,
        })
    }

    /// Whether the interpreter accepts remote execution (`-X disable-remote-debug` /
    /// `PYTHON_DISABLE_REMOTE_DEBUG` turn it off).
    pub fn enabled(&self, live: &LiveProcess, interp: u64) -> Result<bool> {
        Ok(live.read_i32(interp + self.enabled)? == 1)
    }

    /// Ask thread state `tstate` to run the file at `path` (as the target sees it).
    pub fn request(&self, live: &LiveProcess, tstate: u64, path: &str) -> Result<()> {
        let mut bytes = path.as_bytes().to_vec();
        if bytes.len() as u64 >= self.script_path_size || bytes.contains(&0) {
            return Err(Error::Other(format!(
                "script path {path:?} is too long for the target ({} bytes max)",
                self.script_path_size.saturating_sub(1)
            )));
        }
        bytes.push(0);
        let base = tstate + self.support;
        live.write_opt_in(base + self.script_path, &bytes)?;
        live.write_opt_in(base + self.pending_call, &1i32.to_le_bytes())?;
        let breaker = live.read_u64(tstate + self.eval_breaker)?;
        live.write_opt_in(
            tstate + self.eval_breaker,
            &(breaker | PLEASE_STOP_BIT).to_le_bytes(),
        )?;
        Ok(())
    }

    /// Withdraw a request the thread has not picked up yet (clear the flag and the path).
    pub fn withdraw(&self, live: &LiveProcess, tstate: u64) -> Result<()> {
        let base = tstate + self.support;
        live.write_opt_in(base + self.pending_call, &0i32.to_le_bytes())?;
        live.write_opt_in(base + self.script_path, &[0])?;
        Ok(())
    }

    /// Whether the thread still has the request pending.
    pub fn pending(&self, live: &LiveProcess, tstate: u64) -> Result<bool> {
        Ok(live.read_i32(tstate + self.support + self.pending_call)? != 0)
    }
}

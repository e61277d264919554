//! Ctrl-C as a flag: `leakspy record` ends its recording early on SIGINT and still reports.
//!
//! The handler only stores into an atomic (async-signal-safe); the sampling loop polls
//! [`interrupted`]. A second Ctrl-C while the flag is set falls back to the default action, so a
//! stuck leakspy can still be killed from the keyboard (a paused target is released by the kernel
//! when leakspy dies, see `pause`).

#![allow(unsafe_code)]

use nix::sys::signal::{self, SigHandler, Signal};
use std::sync::atomic::{AtomicBool, Ordering};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigint(_: nix::libc::c_int) {
    if INTERRUPTED.swap(true, Ordering::SeqCst) {
        // Second Ctrl-C: restore the default action for the next one.
        // SAFETY: signal(2) is async-signal-safe; SIG_DFL is a valid disposition.
        let _ = unsafe { signal::signal(Signal::SIGINT, SigHandler::SigDfl) };
    }
}

/// Catch SIGINT from now on (idempotent). Errors (no signal support) leave the default action.
pub fn catch_sigint() {
    // SAFETY: the handler only touches an AtomicBool and calls signal(2), both async-signal-safe.
    let _ = unsafe { signal::signal(Signal::SIGINT, SigHandler::Handler(on_sigint)) };
}

/// Whether SIGINT arrived since [`catch_sigint`].
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

//! `leaks --pid` records births between its first two snapshots (the window its survivors are
//! born in), nonblocking like `leakspy record`'s default, so that survivors without a tracemalloc
//! site carry sampled birth stacks (`leakspy_report::leak_births`).

use leakspy_python::record::{self, births::Births, RecordOptions};
use std::time::{Duration, Instant};

/// Record `pid` for `window`; on failure a warning and a plain wait for what is left of it (the
/// survivors are still reported, without birth stacks).
pub fn record(pid: i32, window: Duration) -> Option<Births> {
    let start = Instant::now();
    let opts = RecordOptions {
        duration: window,
        ..RecordOptions::default()
    };
    match record::record_births(pid, &opts, &|| false, &mut |_| {}) {
        Ok(b) => {
            for w in &b.warnings {
                eprintln!("leakspy: warning: recording births: {w}");
            }
            Some(b)
        }
        Err(e) => {
            eprintln!(
                "leakspy: warning: recording births failed ({e}); survivors get no sampled birth stacks"
            );
            std::thread::sleep(window.saturating_sub(start.elapsed()));
            None
        }
    }
}

//! Shared harness for the live integration tests: the interpreter matrix,
//! spawning target scripts (directly or inside a chroot), reading their
//! in-process truth, running `leakspy`, and comparing the two.
//!
//! Every test file says `mod common; use common::*;`; this file only re-exports. What is where:
//! - [`interpreters`]: the interpreter matrix (`Interp`, `interpreter`, `venv`, `cache_dir`) and the
//!   missing-interpreter policy (`LEAKSPY_SKIP_MISSING_PYTHONS=1`, never with `CI=true`).
//! - [`targets`]: starting `tests/targets/*.py` (`start_target*`, `spawn_target*`, `Launch`,
//!   `Target`, `ChildGuard`, chroot scratch directories), pid-namespace helpers (`forked_child`,
//!   `ns_pid`, `host_to_ns_tids`), `unused_pid`, `repo_root`, `run_python_script`.
//! - [`truth`]: the truth structs a target prints about itself (`Truth`, `TruthThread`,
//!   `TruthFrame`, `CountBytes`).
//! - [`report`]: the structs of `leakspy dump --json` the checks read (`Report`, `Heap`,
//!   `HeapType`, `ReportThread`, `ReportFrame`, `Layout`).
//! - [`leakspy`]: running the binary and other commands with a timeout (`run_leakspy`,
//!   `try_run_leakspy`, `run_with_timeout`, `try_run_with_timeout`) and `show_output`.
//! - [`checks`]: the report-vs-truth assertions (`check_dump`, `check_report`, `Expect`,
//!   `check_layout`, `EXPECTED_LAYOUTS`, `assert_clean_error`) and the heap-total tolerances.
//! - [`browser`]: headless Chromium for the `--html` pages (`chromium`, `dom_of`, `rows`).
//! - [`cores`]: core files (`TempDir`, `Gcore`, `gcore`, `wait_blocked_in_read`).
//!
//! Each test binary uses only part of this, hence the `dead_code` allowance below (it covers the
//! sub-modules too), and `unused_imports` on each re-export (a test binary that uses nothing of a
//! sub-module would warn about its `pub use`); imports inside the sub-modules are still checked.
#![allow(dead_code)]

mod browser;
mod checks;
mod cores;
mod interpreters;
mod leakspy;
mod report;
mod targets;
mod truth;

#[allow(unused_imports)]
pub use browser::*;
#[allow(unused_imports)]
pub use checks::*;
#[allow(unused_imports)]
pub use cores::*;
#[allow(unused_imports)]
pub use interpreters::*;
#[allow(unused_imports)]
pub use leakspy::*;
#[allow(unused_imports)]
pub use report::*;
#[allow(unused_imports)]
pub use targets::*;
#[allow(unused_imports)]
pub use truth::*;

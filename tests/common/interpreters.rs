//! The interpreter matrix (`$LEAKSPY_CACHE/matrix.tsv`), the venvs (`venvs.tsv`) and the
//! missing-interpreter policy (fail, or skip locally with `LEAKSPY_SKIP_MISSING_PYTHONS=1`).

use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Interp {
    pub name: String,
    /// "/" = run directly; otherwise the root filesystem to chroot into.
    pub root: PathBuf,
    /// Path of the python binary inside `root`.
    pub python: String,
}

impl Interp {
    pub fn chrooted(&self) -> bool {
        self.root != Path::new("/")
    }
}

pub fn cache_dir() -> PathBuf {
    std::env::var_os("LEAKSPY_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/leakspy"))
}

fn env_is(var: &str, val: &str) -> bool {
    std::env::var(var).map(|v| v == val).unwrap_or(false)
}

/// A required interpreter is unavailable: fail, unless the local opt-out
/// `LEAKSPY_SKIP_MISSING_PYTHONS=1` is set (never honoured when `CI=true`).
/// Returns `None` when the test should be skipped.
fn missing(reason: String) -> Option<Interp> {
    let ci = env_is("CI", "true");
    if !ci && env_is("LEAKSPY_SKIP_MISSING_PYTHONS", "1") {
        eprintln!("SKIPPED (LEAKSPY_SKIP_MISSING_PYTHONS=1): {reason}");
        return None;
    }
    panic!(
        "{reason}\nRun scripts/setup-pythons.sh to install the interpreter matrix{}",
        if ci {
            " (CI=true: missing interpreters are always a failure)."
        } else {
            ", or set LEAKSPY_SKIP_MISSING_PYTHONS=1 to skip missing interpreters locally."
        }
    );
}

/// Look up `name` in `$LEAKSPY_CACHE/matrix.tsv`.
pub fn interpreter(name: &str) -> Option<Interp> {
    let matrix = cache_dir().join("matrix.tsv");
    let text = match std::fs::read_to_string(&matrix) {
        Ok(t) => t,
        Err(e) => {
            return missing(format!(
                "interpreter matrix {} not readable: {e}",
                matrix.display()
            ))
        }
    };
    let found = text.lines().find_map(|line| {
        let mut it = line.split('\t');
        match (it.next(), it.next(), it.next()) {
            (Some(n), Some(root), Some(py)) if n == name => Some(Interp {
                name: n.to_string(),
                root: PathBuf::from(root),
                python: py.trim().to_string(),
            }),
            _ => None,
        }
    });
    let Some(interp) = found else {
        return missing(format!(
            "interpreter {name} not listed in {}",
            matrix.display()
        ));
    };
    let on_host = interp.root.join(interp.python.trim_start_matches('/'));
    if !on_host.exists() {
        return missing(format!(
            "interpreter {name}: {} does not exist",
            on_host.display()
        ));
    }
    Some(interp)
}

/// A venv made by `scripts/setup-pythons.sh` (`$LEAKSPY_CACHE/venvs.tsv`: name, python path), as
/// an interpreter run directly. A missing one fails like a missing interpreter.
pub fn venv(name: &str) -> Option<Interp> {
    let list = cache_dir().join("venvs.tsv");
    let text = match std::fs::read_to_string(&list) {
        Ok(t) => t,
        Err(e) => return missing(format!("venv list {} not readable: {e}", list.display())),
    };
    let found = text.lines().find_map(|line| {
        let mut it = line.split('\t');
        match (it.next(), it.next()) {
            (Some(n), Some(py)) if n == name => Some(Interp {
                name: format!("venv-{n}"),
                root: PathBuf::from("/"),
                python: py.trim().to_string(),
            }),
            _ => None,
        }
    });
    match found {
        Some(i) => Some(i),
        None => missing(format!("venv {name} not listed in {}", list.display())),
    }
}

//! Exact sizes (issue 11): `sys.getsizeof` reproduced for every type with its own C `__sizeof__`.
//!
//! `tests/targets/sizes_target.py` holds instances of every type that `tools/sizeof/list_types.py`
//! lists for its interpreter (bytearray, array, BytesIO, Struct, OrderedDict, Decimal, itertools,
//! Element, Pickler/Unpickler, ctypes types, generators, coroutines, frames held by a stored
//! exception, ...; numpy arrays in the numpy venvs) in the shapes where the size rule branches, and
//! reports its own truth: `sys.getsizeof` of each object it made, by `id`; count and bytes per type
//! over `gc.get_objects()`; and for every type, the class whose `__sizeof__` applies (the first on
//! its MRO that defines one).
//!
//! What must hold, on every interpreter of the matrix (and in the numpy venvs):
//! - the dump is complete: exit 0, `partial` false;
//! - every object the target made is in leakspy's object table (`snapshot`), with exactly the
//!   target's `sys.getsizeof`, when its `__sizeof__` is modelled (`tools/sizeof/modelled.txt`), and
//!   its type flagged `size_exact: false` when it is not;
//! - every GC-tracked type: count exactly the target's, bytes exactly the target's for every type
//!   flagged `size_exact`, and `size_exact` is true exactly when the target's owner of
//!   `__sizeof__` is `object` or a modelled class;
//! - every class `list_types.py` finds in this interpreter's standard library is listed in
//!   `tools/sizeof/modelled.txt` or `tools/sizeof/unmodelled.txt`.

mod common;

use common::*;
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};

fn names_in(file: &str) -> BTreeSet<String> {
    let path = repo_root().join("tools/sizeof").join(file);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split('\t').next().unwrap_or("").trim().to_string())
        .collect()
}

/// `list_types.py`'s output in this interpreter: every stdlib class with its own `__sizeof__`.
fn listed_types(interp: &Interp) -> Vec<String> {
    let out = run_python_script(interp, &repo_root().join("tools/sizeof/list_types.py"));
    out.lines()
        .filter_map(|l| l.split('\t').next())
        .map(str::to_string)
        .collect()
}

fn check_sizes(interp: &Interp) {
    check_sizes_with(interp, &[]);
}

/// [`check_sizes`], with arguments for the target (`service`: also build a real service's heap).
fn check_sizes_with(interp: &Interp, args: &[&str]) {
    let name = &interp.name;
    let modelled = names_in("modelled.txt");
    let unmodelled = names_in("unmodelled.txt");

    // Every stdlib class with its own __sizeof__ is accounted for.
    let listed = listed_types(interp);
    assert!(
        listed.iter().any(|t| t == "builtins.bytearray"),
        "[{name}] list_types.py found nothing: {listed:?}"
    );
    let unknown: Vec<&String> = listed
        .iter()
        .filter(|t| !modelled.contains(*t) && !unmodelled.contains(*t))
        .collect();
    assert!(
        unknown.is_empty(),
        "[{name}] classes with their own __sizeof__ in neither tools/sizeof/modelled.txt nor \
         unmodelled.txt: {unknown:?}"
    );

    let (t, ready) = spawn_target_args(interp, "sizes_target.py", &[], args);
    let truth: Value = serde_json::from_str(&ready).expect("truth line");
    let pid = t.pid().to_string();
    let ctx = format!("[{name}] leakspy dump --pid {pid} --json");
    let out = run_leakspy(["dump", "--pid", &pid, "--json", "-q"]);
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{ctx}: {e}\n{}", String::from_utf8_lossy(&out.stderr)));
    // Checked last, so that a failure shows which objects were off first.
    let complete = (out.status.code(), report["partial"].as_bool());
    let snap_path = std::env::temp_dir().join(format!("leakspy-sizes-{name}-{pid}.json"));
    let snap_out = run_leakspy([
        "snapshot",
        "--pid",
        &pid,
        "-o",
        snap_path.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(
        snap_out.status.code(),
        Some(0),
        "[{name}] snapshot\n{}",
        show_output(&snap_out)
    );
    drop(t);
    let snap: Value =
        serde_json::from_str(&std::fs::read_to_string(&snap_path).expect("snapshot")).unwrap();
    let _ = std::fs::remove_file(&snap_path);

    let owners = truth["owners"].as_object().expect("owners");
    let is_modelled = |ty: &str| -> bool {
        let owner = owners[ty].as_str().unwrap();
        modelled.contains(owner)
    };

    // 1. Per object: exactly the target's sys.getsizeof.
    let ids = &snap["identities"];
    let type_names: Vec<&str> = ids["types"]
        .as_array()
        .expect("identities.types")
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let by_addr: HashMap<u64, (&str, u64)> = ids["objects"]
        .as_array()
        .expect("identities.objects")
        .iter()
        .map(|o| {
            let a = o.as_array().unwrap();
            (
                a[0].as_u64().unwrap(),
                (
                    type_names[a[1].as_u64().unwrap() as usize],
                    a[2].as_u64().unwrap(),
                ),
            )
        })
        .collect();
    let mut fails = Vec::new();
    let mut checked: HashMap<String, u64> = HashMap::new();
    for (id, v) in truth["objects"].as_object().unwrap() {
        let addr: u64 = id.parse().unwrap();
        let ty = v[0].as_str().unwrap();
        // -1: the target did not run a __sizeof__ written in Python (it would change the heap).
        let want = v[1].as_i64().unwrap();
        match by_addr.get(&addr) {
            None => fails.push(format!("{ty} at {addr:#x} ({want} B): not found")),
            Some(&(got_ty, got)) => {
                if got_ty != ty {
                    fails.push(format!("{ty} at {addr:#x}: named {got_ty}"));
                } else if is_modelled(ty) && got as i64 != want {
                    fails.push(format!(
                        "{ty} at {addr:#x}: {got} B, sys.getsizeof says {want} B"
                    ));
                }
                *checked.entry(ty.to_string()).or_default() += 1;
            }
        }
    }
    if !fails.is_empty() {
        fails.insert(0, "objects made by the target:".into());
    }
    eprintln!("[{name}] checked per object: {checked:?}");

    // 2. Per GC-tracked type, and the size_exact flags.
    let types = report["heap"]["types"].as_array().expect("types");
    let ours: HashMap<&str, &Value> = types
        .iter()
        .map(|t| (t["type"].as_str().unwrap(), t))
        .collect();
    for (ty, v) in truth["tracked"].as_object().unwrap() {
        let (count, bytes) = (v[0].as_u64().unwrap(), v[1].as_i64().unwrap());
        let Some(t) = ours.get(ty.as_str()) else {
            fails.push(format!("tracked type {ty} ({count} objects) missing"));
            continue;
        };
        let exact = t["size_exact"].as_bool().expect("size_exact");
        if exact != is_modelled(ty) {
            fails.push(format!(
                "{ty}: size_exact {exact}, but its __sizeof__ is {}'s",
                owners[ty.as_str()]
            ));
        }
        if t["tracked"].as_u64() != Some(count) {
            fails.push(format!("{ty}: tracked {} != {count}", t["tracked"]));
        }
        if exact && t["tracked_bytes"].as_i64() != Some(bytes) {
            fails.push(format!(
                "{ty}: tracked_bytes {} != {bytes}",
                t["tracked_bytes"]
            ));
        }
    }
    // Untracked types the target made are flagged the same way.
    for ty in checked.keys() {
        let exact = ours[ty.as_str()]["size_exact"].as_bool().unwrap();
        if exact != is_modelled(ty) {
            fails.push(format!("{ty}: size_exact {exact}, owner {}", owners[ty]));
        }
    }
    assert!(
        fails.is_empty(),
        "[{name}] per type:\n  {}",
        fails.join("\n  ")
    );
    assert_eq!(
        complete,
        (Some(0), Some(false)),
        "{ctx}: not a complete report: {:?}",
        report["warnings"]
    );
}

fn check_interp(name: &str) {
    if let Some(interp) = interpreter(name) {
        check_sizes(&interp);
    }
}

fn check_venv(name: &str) {
    if let Some(interp) = venv(name) {
        check_sizes(&interp);
    }
}

macro_rules! sizes_tests {
    ($($test:ident => $interp:literal,)*) => {
        $(
            #[test]
            fn $test() {
                check_interp($interp);
            }
        )*
    };
}

sizes_tests! {
    sizes_pyenv_3_6_15 => "pyenv-3.6.15",
    sizes_pyenv_3_7_16 => "pyenv-3.7.16",
    sizes_pyenv_3_8_18 => "pyenv-3.8.18",
    sizes_pyenv_3_9_18 => "pyenv-3.9.18",
    sizes_pyenv_3_10_13 => "pyenv-3.10.13",
    sizes_pyenv_3_11_7 => "pyenv-3.11.7",
    sizes_pyenv_3_12_1 => "pyenv-3.12.1",
    sizes_pyenv_3_13_0 => "pyenv-3.13.0",
    sizes_debian_3_11 => "debian-3.11",
    sizes_debian_bullseye_3_9 => "debian-bullseye-3.9",
    sizes_debian_sid_3_13 => "debian-sid-3.13",
    sizes_debian_sid_3_14 => "debian-sid-3.14",
    sizes_debian_sid_3_15 => "debian-sid-3.15",
    sizes_debian_sid_3_13_debug => "debian-sid-3.13d",
    sizes_debian_sid_3_14_debug => "debian-sid-3.14d",
    sizes_debian_sid_3_15_debug => "debian-sid-3.15d",
    sizes_debian_sid_3_13t => "debian-sid-3.13t",
}

macro_rules! venv_tests {
    ($($test:ident => $venv:literal,)*) => {
        $(
            #[test]
            fn $test() {
                check_venv($venv);
            }
        )*
    };
}

venv_tests! {
    sizes_numpy_3_9_18 => "numpy-3.9.18",
    sizes_numpy_3_10_13 => "numpy-3.10.13",
    sizes_numpy_3_11_7 => "numpy-3.11.7",
    sizes_numpy1_3_11_7 => "numpy1-3.11.7",
    sizes_numpy_3_12_1 => "numpy-3.12.1",
    sizes_numpy_3_13_0 => "numpy-3.13.0",
}

/// A real third-party heap: numpy, pandas, pydantic, SQLAlchemy, Jinja2, requests from PyPI
/// (`scripts/setup-pythons.sh` pins them), in the venvs of two interpreters.
fn check_service(name: &str) {
    if let Some(interp) = venv(name) {
        check_sizes_with(&interp, &["service"]);
    }
}

#[test]
fn sizes_service_3_11_7() {
    check_service("service-3.11.7");
}

#[test]
fn sizes_service_3_12_1() {
    check_service("service-3.12.1");
}

/// Objects can hold more than the RSS: a 256 MiB `numpy.zeros` buffer is never written, so the
/// kernel backs none of it. The report says so instead of a share above 100% with "the rest is
/// allocator slack".
#[test]
fn objects_beyond_the_rss_numpy_3_12_1() {
    let Some(interp) = venv("numpy-3.12.1") else {
        return;
    };
    let (t, ready) = spawn_target(&interp, "untouched_target.py", &[]);
    let truth: Value = serde_json::from_str(&ready).expect("truth line");
    let (sizeof, rss) = (
        truth["sizeof"].as_u64().unwrap(),
        truth["rss"].as_u64().unwrap(),
    );
    assert!(sizeof > 2 * rss, "the array's pages are resident: {truth}");
    let pid = t.pid().to_string();
    let out = run_leakspy(["dump", "--pid", &pid, "--json", "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", show_output(&out));
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let (bytes, ours) = (
        report["heap"]["bytes"].as_u64().unwrap(),
        report["memory"]["rss"].as_u64().unwrap(),
    );
    assert!(
        bytes >= sizeof && bytes > ours,
        "objects {bytes}, RSS {ours}"
    );
    let out = run_leakspy(["dump", "--pid", &pid, "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", show_output(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("Python objects hold"))
        .unwrap_or_else(|| panic!("no objects line:\n{text}"));
    assert!(
        line.contains("more than the RSS") && line.contains("not resident"),
        "{line}"
    );
    assert!(!line.contains("the rest is"), "{line}");
}

//! `leakspy refs` (issue 4): what keeps objects alive, on every interpreter of the matrix.
//!
//! `tests/targets/refs_target.py` holds instances of its own classes through one kind of root
//! each (a module global dict with a str key, a class attribute, an instance attribute, a frame
//! local, the frozen generation) and makes a garbage cycle no root reaches. Its truth names, per
//! type, the count, the root kind and the path leakspy must print (indices folded): each path must
//! name its true holder, the referrer type must be the holding container, and the dict key (data)
//! must only appear with --show-keys.

mod common;

use common::*;
use serde_json::Value;

fn refs(pid: &str, ty: &str, extra: &[&str], ctx: &str) -> Value {
    let mut args = vec!["refs", "--pid", pid, "--type", ty, "--json", "-q"];
    args.extend_from_slice(extra);
    let out = run_leakspy(args);
    assert_eq!(out.status.code(), Some(0), "{ctx}\n{}", show_output(&out));
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    v["refs"].clone()
}

fn check_refs(name: &str) {
    let Some(interp) = interpreter(name) else {
        return;
    };
    let (t, ready) = spawn_target(&interp, "refs_target.py", &[]);
    let truth: Value = serde_json::from_str(&ready).expect("truth line");
    let pid = t.pid().to_string();
    for (ty, want) in truth["types"].as_object().unwrap() {
        let ctx = format!("[{name}] leakspy refs --pid {pid} --type {ty}");
        let r = refs(&pid, ty, &[], &ctx);
        let count = want["count"].as_u64().unwrap();
        assert_eq!(r["instances"].as_u64(), Some(count), "{ctx}\n{r}");
        assert!(
            r["retained_bytes"].as_u64().unwrap() >= r["bytes"].as_u64().unwrap(),
            "{ctx}: retained at least their own bytes\n{r}"
        );
        if let Some(u) = want.get("unreachable") {
            assert_eq!(r["unreachable"], *u, "{ctx}\n{r}");
        }
        if let Some(kind) = want.get("root_kind") {
            let top = &r["paths"][0];
            assert_eq!(top["root_kind"], *kind, "{ctx}\n{r}");
            assert_eq!(
                top["count"].as_u64(),
                Some(count),
                "{ctx}: one path shape for all\n{r}"
            );
            if let Some(shape) = want.get("shape") {
                assert_eq!(top["shape"], *shape, "{ctx}\n{r}");
            }
        }
        if let Some(holder) = want.get("referrer") {
            let found = r["referrers"]
                .as_array()
                .unwrap()
                .iter()
                .find(|x| x["type"] == *holder)
                .unwrap_or_else(|| panic!("{ctx}: no referrer {holder}\n{r}"));
            assert!(found["references"].as_u64().unwrap() >= count, "{ctx}\n{r}");
        }
    }
    // The dict key is data: not in the text output without --show-keys, in the path with it.
    let ty = "__main__.Session";
    let out = run_leakspy(["refs", "--pid", &pid, "--type", ty, "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", show_output(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !text.contains("tenant-7"),
        "[{name}] key printed without --show-keys:\n{text}"
    );
    assert!(
        text.contains("__main__.registry -> dict[<str>] -> list["),
        "[{name}]\n{text}"
    );
    let r = refs(&pid, ty, &["--show-keys"], &format!("[{name}] --show-keys"));
    assert_eq!(
        r["paths"][0]["shape"], truth["types"][ty]["shape_keys"],
        "[{name}]\n{r}"
    );
    drop(t);
}

macro_rules! refs_tests {
    ($($test:ident => $interp:literal,)*) => {
        $(
            #[test]
            fn $test() {
                check_refs($interp);
            }
        )*
    };
}

refs_tests! {
    refs_pyenv_3_6_15 => "pyenv-3.6.15",
    refs_pyenv_3_7_16 => "pyenv-3.7.16",
    refs_pyenv_3_8_18 => "pyenv-3.8.18",
    refs_pyenv_3_9_18 => "pyenv-3.9.18",
    refs_pyenv_3_10_13 => "pyenv-3.10.13",
    refs_pyenv_3_11_7 => "pyenv-3.11.7",
    refs_pyenv_3_12_1 => "pyenv-3.12.1",
    refs_pyenv_3_13_0 => "pyenv-3.13.0",
    refs_debian_3_11 => "debian-3.11",
    refs_debian_bullseye_3_9 => "debian-bullseye-3.9",
    refs_debian_sid_3_13 => "debian-sid-3.13",
    refs_debian_sid_3_14 => "debian-sid-3.14",
    refs_debian_sid_3_15 => "debian-sid-3.15",
    refs_debian_sid_3_13_debug => "debian-sid-3.13d",
    refs_debian_sid_3_14_debug => "debian-sid-3.14d",
    refs_debian_sid_3_15_debug => "debian-sid-3.15d",
    refs_debian_sid_3_13t => "debian-sid-3.13t",
}

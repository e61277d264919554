//! From the host into a container (issue 6): the target runs in its own pid and mount namespaces
//! (`unshare --pid --fork --mount-proc`, plus `chroot` into a Debian sid root for the chroot
//! interpreter), as it would in a container; leakspy is given the host's pid.
//!
//! Checked: everything tests/live.rs checks, with the truth computed inside the namespace (so thread
//! ids are the container's, 1..N, and file names are as the container sees them); `host_native_id`
//! is each thread's host TID (from /proc/PID/task/*/status `NSpid`); the text report shows both;
//! `executable` is named as the container sees it; and a gcore of the containerised target, taken
//! from the host, reads back with both id views.

mod common;

use common::*;
use std::collections::BTreeMap;

fn check_container(name: &str) {
    let Some(interp) = interpreter(name) else {
        return;
    };
    let target = start_target_with(&interp, "heap_target.py", Launch::PidNamespace);
    let pid = target.pid();
    let truth = &target.truth;
    assert_eq!(
        truth.pid, 1,
        "[{name}] the target should be pid 1 of its namespace"
    );
    let host_to_ns = host_to_ns_tids(pid);
    let ns_to_host: BTreeMap<i64, i64> = host_to_ns.iter().map(|(h, n)| (*n, *h)).collect();
    assert!(
        host_to_ns.iter().all(|(h, n)| h != n),
        "[{name}] host and namespace TIDs should differ: {host_to_ns:?}"
    );

    wait_blocked_in_read(pid);
    // Live, JSON: the live test's checks, then the host ids.
    let out = run_leakspy(["dump", "--pid", &pid.to_string(), "--json"]);
    let ctx = format!("[{name}] in a pid namespace: leakspy dump --pid {pid} --json");
    let report = check_report(&ctx, &out, truth, i64::from(pid), Expect::LIVE);
    check_host_ids(&ctx, &report, &ns_to_host);
    if interp.chrooted() {
        assert_eq!(
            report.executable, interp.python,
            "{ctx}: the executable is named as the container sees it"
        );
    }

    // Live, text: "native N (host H)".
    let out = run_leakspy(["dump", "--pid", &pid.to_string(), "--no-heap"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", show_output(&out));
    for t in &report.threads {
        let (n, h) = (t.native_id.unwrap(), t.host_native_id.unwrap());
        assert!(
            text.contains(&format!("(native {n} (host {h}))")),
            "[{name}] text report does not show native {n} with host {h}\n{}",
            show_output(&out)
        );
    }

    // A core taken from the host (gdb sees host TIDs) still gives both views.
    let dir = TempDir::new(name);
    let taken = gcore(pid, &dir.0);
    let mut args = vec![
        "dump".to_string(),
        "--core".into(),
        taken.path.display().to_string(),
        "--json".into(),
    ];
    if interp.chrooted() {
        args.extend(["--sysroot".into(), interp.root.display().to_string()]);
    }
    let out = run_leakspy(&args);
    let ctx = format!("[{name}] in a pid namespace: leakspy {}", args.join(" "));
    let expect = Expect {
        stacks_missing: !taken.unreadable.is_empty(),
        ..Expect::CORE
    };
    let report = check_report(&ctx, &out, truth, i64::from(pid), expect);
    if taken.unreadable.is_empty() {
        // The target's view of the TIDs is read from glibc's thread control blocks, which a core
        // without the thread stacks does not have.
        check_host_ids(&ctx, &report, &ns_to_host);
    }
    drop(target);
}

fn check_host_ids(ctx: &str, report: &Report, ns_to_host: &BTreeMap<i64, i64>) {
    for t in &report.threads {
        let native = t
            .native_id
            .unwrap_or_else(|| panic!("{ctx}: thread {} has no native_id", t.thread_id));
        assert_eq!(
            t.host_native_id,
            ns_to_host.get(&native).copied(),
            "{ctx}: thread {} (native {native}): host_native_id is not its host TID ({ns_to_host:?})",
            t.thread_id
        );
    }
    let main = report
        .threads
        .iter()
        .find(|t| t.name.as_deref() == Some("MainThread"));
    assert_eq!(
        main.and_then(|t| t.native_id),
        Some(1),
        "{ctx}: the main thread is TID 1 inside"
    );
}

#[test]
fn container_debian_sid_3_14() {
    check_container("debian-sid-3.14");
}

#[test]
fn container_pyenv_3_12_1() {
    check_container("pyenv-3.12.1");
}

#[test]
fn container_pyenv_3_9_18() {
    // 3.9 has no native id in its thread states: read from glibc's struct pthread, which holds
    // the namespace's TIDs.
    check_container("pyenv-3.9.18");
}

//! Unit tests and proptest of the decoding in `stacks/blocked.rs` (moved out to keep it short).

use super::*;
use proptest::prelude::*;

fn frame(function: &str, filename: &str) -> Frame {
    Frame {
        function: function.into(),
        filename: filename.into(),
        line: Some(1),
    }
}

fn cx<'a>(gil: &'a [(u64, u64)], fdt: &'a dyn Fn(i64) -> Option<String>) -> Context<'a> {
    Context {
        holds_gil: false,
        gil_holder: Some(0x10),
        gil_ranges: gil,
        rlock_owner: None,
        fd_target: fdt,
        wait_fds: Vec::new(),
    }
}

fn sc(nr: u64, a0: u64) -> Option<KernelSyscall> {
    Some(KernelSyscall::In {
        nr,
        args: [a0, 0, 0, 0, 0, 0],
    })
}

#[test]
fn words_for_waits() {
    let gil = [(0x1000, 0x1100)];
    let fdt = |fd: i64| (fd == 7).then(|| "pipe".to_string());
    let c = cx(&gil, &fdt);
    let user = [frame("work", "/app/x.py")];
    let b = describe(sc(202, 0x1040), None, &user, &c);
    assert_eq!(b.what, "waiting for the GIL (held by thread 0x10)");
    assert_eq!(b.waits_for_thread, Some(0x10));
    assert_eq!(
        describe(sc(202, 0x9000), None, &user, &c).what,
        "waiting on threading.Lock"
    );
    let ev = [
        frame("wait", "/usr/lib/python3.11/threading.py"),
        frame("wait", "/usr/lib/python3.11/threading.py"),
    ];
    assert_eq!(
        describe(sc(202, 0x9000), None, &ev, &c).what,
        "waiting on threading.Event"
    );
    let ev311 = [
        frame("Condition.wait", "/usr/lib/python3.11/threading.py"),
        frame("Event.wait", "/usr/lib/python3.11/threading.py"),
    ];
    assert_eq!(
        describe(sc(202, 0x9000), None, &ev311, &c).what,
        "waiting on threading.Event"
    );
    let q = [
        frame("Condition.wait", "/usr/lib/python3.11/threading.py"),
        frame("Queue.get", "/usr/lib/python3.11/queue.py"),
    ];
    assert_eq!(
        describe(sc(202, 0x9000), None, &q, &c).what,
        "waiting on queue.Queue"
    );
    assert_eq!(
        describe(sc(202, 0x9000), None, &q[..1], &c).what,
        "waiting on threading.Condition"
    );
    let b = describe(sc(0, 7), None, &user, &c);
    assert_eq!((b.what.as_str(), b.fd), ("read on fd 7: pipe", Some(7)));
    assert_eq!(describe(sc(45, 3), None, &user, &c).what, "recv on fd 3");
    assert_eq!(describe(sc(230, 0), None, &user, &c).what, "sleeping");
    assert_eq!(describe(sc(23, 0), None, &user, &c).what, "sleeping");
    assert_eq!(
        describe(Some(KernelSyscall::Running), None, &user, &c).what,
        "running"
    );
    assert_eq!(
        describe(sc(9999, 0), None, &user, &c).what,
        "in system call 9999"
    );
}

#[test]
fn cycles() {
    let e = [(3, Some(5)), (5, Some(3)), (7, Some(3)), (9, None)];
    assert_eq!(deadlocks(&e), vec![vec![3, 5]]);
    assert!(deadlocks(&[(1, Some(2)), (2, None)]).is_empty());
    assert_eq!(deadlocks(&[(4, Some(4))]), vec![vec![4]]);
}

proptest! {
    #[test]
    fn decode_never_panics(nr in any::<u64>(), args in any::<[u64; 6]>(), holds in any::<bool>()) {
        let fdt = |_: i64| None;
        let mut c = cx(&[(0, 64)], &fdt);
        c.holds_gil = holds;
        c.wait_fds = args.iter().map(|&a| a as i64).collect();
        let _ = describe(Some(KernelSyscall::In { nr, args }), Some("x"), &[], &c);
    }

    #[test]
    fn cycles_terminate(edges in proptest::collection::vec((0u64..16, proptest::option::of(0u64..16)), 0..32)) {
        for cycle in deadlocks(&edges) {
            prop_assert!(!cycle.is_empty());
        }
    }
}

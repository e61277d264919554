//! Small readers of `/proc/PID/...` (threads, states, names, namespaces).

use std::collections::HashMap;
use std::io;

/// Kernel TIDs (host pid namespace) of every thread of `pid`.
pub fn threads(pid: i32) -> io::Result<Vec<i32>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        if let Some(t) = e?.file_name().to_str().and_then(|s| s.parse().ok()) {
            out.push(t);
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// Scheduler state letter of a thread (`R` running, `S` sleeping, `D`, `T`, `Z`, ...).
pub fn thread_state(pid: i32, tid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/stat")).ok()?;
    parse_stat_state(&stat)
}

/// State letter from the text of a `stat` file (the comm field may contain spaces and parentheses).
pub fn parse_stat_state(stat: &str) -> Option<char> {
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.trim_start().chars().next()
}

/// The kernel's name of a thread (`comm`, at most 15 bytes).
pub fn thread_comm(pid: i32, tid: i32) -> Option<String> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/comm")).ok()?;
    Some(s.trim_end_matches('\n').to_string())
}

/// The kernel's name of a process (`comm`).
pub fn comm(pid: i32) -> Option<String> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    Some(s.trim_end_matches('\n').to_string())
}

/// The pid tracing a thread (`TracerPid` of its `status`), if any.
pub fn tracer_of(pid: i32, tid: i32) -> Option<i32> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/status")).ok()?;
    parse_tracer_pid(&s)
}

/// `TracerPid` from the text of a `status` file; `None` when 0 (not traced) or absent.
pub fn parse_tracer_pid(status: &str) -> Option<i32> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("TracerPid:"))
        .and_then(|v| v.trim().parse().ok())
        .filter(|&t: &i32| t > 0)
}

/// For each thread: its TID in the target's own (innermost) pid namespace -> its host TID.
/// Identity when the target shares our pid namespace.
pub fn ns_tids(pid: i32) -> HashMap<i64, i32> {
    let mut out = HashMap::new();
    for tid in threads(pid).unwrap_or_default() {
        let status =
            std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/status")).unwrap_or_default();
        let ns = status
            .lines()
            .find_map(|l| l.strip_prefix("NSpid:"))
            .and_then(|v| v.split_whitespace().last())
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(i64::from(tid));
        out.insert(ns, tid);
    }
    out
}

/// Whether the target runs in another mount namespace than leakspy.
pub fn other_mount_namespace(pid: i32) -> bool {
    match (
        std::fs::read_link("/proc/self/ns/mnt"),
        std::fs::read_link(format!("/proc/{pid}/ns/mnt")),
    ) {
        (Ok(a), Ok(b)) => a != b,
        _ => false,
    }
}

/// Path under which leakspy can open a file the target sees at `path` (its root may differ: chroot,
/// containers).
pub fn target_path(pid: i32, path: &str) -> String {
    format!("/proc/{pid}/root{path}")
}

/// Whether the process is a zombie (exited, not yet reaped).
pub fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| parse_stat_state(&s))
        == Some('Z')
}

/// Memory leakspy itself may still use: `MemAvailable` of `/proc/meminfo`, and, when leakspy runs
/// in a memory-limited cgroup (a container sidecar), that cgroup's limit minus its usage (v2
/// `memory.max - memory.current`, v1 `memory.limit_in_bytes - memory.usage_in_bytes`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Headroom {
    pub mem_available: Option<u64>,
    pub cgroup: Option<u64>,
}

impl Headroom {
    /// The smaller of the two, with the name of where it came from.
    pub fn limit(&self) -> Option<(u64, &'static str)> {
        match (self.mem_available, self.cgroup) {
            (Some(a), Some(c)) if c < a => Some((c, "cgroup")),
            (Some(a), _) => Some((a, "MemAvailable")),
            (None, Some(c)) => Some((c, "cgroup")),
            (None, None) => None,
        }
    }
}

/// Read [`Headroom`] for the calling process.
pub fn headroom() -> Headroom {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let cgroups = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    Headroom {
        mem_available: parse_mem_available(&meminfo),
        cgroup: cgroup_headroom(&cgroups, |p| std::fs::read_to_string(p).ok()),
    }
}

/// `MemAvailable:` of a `/proc/meminfo` text, in bytes.
pub fn parse_mem_available(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))
        .and_then(|r| r.split_whitespace().next()?.parse::<u64>().ok())
        .map(|kb| kb.saturating_mul(1024))
}

/// The headroom of the cgroup named in a `/proc/self/cgroup` text (`read` reads a file of
/// `/sys/fs/cgroup`). `None` when no memory limit is set ("max", v1's huge default) or unreadable.
pub fn cgroup_headroom(self_cgroup: &str, read: impl Fn(&str) -> Option<String>) -> Option<u64> {
    let num = |p: String| read(&p).and_then(|t| t.trim().parse::<u64>().ok());
    // v1's "no limit" is PAGE_COUNTER_MAX pages, about 2^63: anything above 2^60 means none.
    let limited = |l: u64| (l < 1 << 60).then_some(l);
    for line in self_cgroup.lines() {
        let mut f = line.splitn(3, ':');
        let (Some(id), Some(ctrl), Some(path)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        let path = path.trim_end_matches('/');
        if id == "0" && ctrl.is_empty() {
            for root in ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"] {
                if let (Some(max), Some(cur)) = (
                    num(format!("{root}{path}/memory.max")).and_then(limited),
                    num(format!("{root}{path}/memory.current")),
                ) {
                    return Some(max.saturating_sub(cur));
                }
            }
        } else if ctrl.split(',').any(|c| c == "memory") {
            let root = "/sys/fs/cgroup/memory";
            if let (Some(max), Some(cur)) = (
                num(format!("{root}{path}/memory.limit_in_bytes")).and_then(limited),
                num(format!("{root}{path}/memory.usage_in_bytes")),
            ) {
                return Some(max.saturating_sub(cur));
            }
        }
    }
    None
}

/// leakspy's own peak resident memory so far (`VmHWM` of `/proc/self/status`), in bytes.
pub fn own_peak_rss() -> Option<u64> {
    std::fs::read_to_string("/proc/self/status")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|r| r.split_whitespace().next()?.parse::<u64>().ok())
        .map(|kb| kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_state_survives_odd_comm() {
        assert_eq!(parse_stat_state("123 (a) b) c) S 1 2 3"), Some('S'));
        assert_eq!(parse_stat_state("123 (python3) R 1"), Some('R'));
        assert_eq!(parse_stat_state("garbage"), None);
    }

    #[test]
    fn own_process_is_visible() {
        let me = std::process::id() as i32;
        assert!(threads(me).unwrap().contains(&me));
        assert!(thread_state(me, me).is_some());
        assert!(!other_mount_namespace(me));
        assert_eq!(ns_tids(me).get(&i64::from(me)), Some(&me));
    }
}

/// Resident bytes of each mapping (by start address), from `/proc/PID/smaps`.
pub fn rss_by_mapping(pid: i32) -> HashMap<u64, u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap_or_default();
    parse_smaps_rss(&text)
}

/// The kernel's resident-memory counters of a process (`/proc/PID/status`), in bytes.
///
/// They cost no page-table walk (smaps does: ~15 ms per GB of RSS), but they are approximate:
/// the kernel batches each counter per CPU (per thread before Linux 6.2), so every figure can be off
/// by a few hundred KiB per CPU or thread (proc(5): "inaccurate ... use smaps if accurate values are
/// required").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatusRss {
    /// `VmRSS`: the three below together.
    pub rss: u64,
    /// `RssAnon`: anonymous pages, copied-on-write pages of file mappings among them.
    pub anonymous: u64,
    /// `RssFile`: pages of file mappings still shared with the file.
    pub file: u64,
    /// `RssShmem`: shared memory (SysV, tmpfs, shared anonymous mappings).
    pub shmem: u64,
}

/// The resident-memory counters of `pid`'s `status`; `None` when it cannot be read.
pub fn status_rss(pid: i32) -> Option<StatusRss> {
    parse_status_rss(&std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?)
}

/// `VmRSS`, `RssAnon`, `RssFile` and `RssShmem` from the text of a `status` file; `None` unless
/// `VmRSS` is there (a kernel thread, a zombie).
pub fn parse_status_rss(text: &str) -> Option<StatusRss> {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .and_then(|r| r.split_whitespace().next()?.parse::<u64>().ok())
            .map(|kb| kb.saturating_mul(1024))
    };
    Some(StatusRss {
        rss: field("VmRSS")?,
        anonymous: field("RssAnon").unwrap_or(0),
        file: field("RssFile").unwrap_or(0),
        shmem: field("RssShmem").unwrap_or(0),
    })
}

/// Parse the `Rss:` line of every mapping in the text of an smaps file.
pub fn parse_smaps_rss(text: &str) -> HashMap<u64, u64> {
    let mut out = HashMap::new();
    let mut current = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("Rss:") {
            if let (Some(start), Some(kb)) = (
                current,
                rest.split_whitespace()
                    .next()
                    .and_then(|v| v.parse::<u64>().ok()),
            ) {
                out.insert(start, kb.saturating_mul(1024));
            }
        } else if let Some((range, _)) = line.split_once(' ') {
            if let Some((s, _)) = range.split_once('-') {
                if let Ok(start) = u64::from_str_radix(s, 16) {
                    current = Some(start);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod smaps_tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The /proc text parsers never panic, whatever the text (numbers that overflow, fields
        /// without values, lines cut anywhere), and the status totals are what the lines say.
        #[test]
        fn proc_text_parsers_never_panic(
            lines in proptest::collection::vec(
                "(VmRSS|RssAnon|RssFile|RssShmem|Rss|TracerPid|[0-9a-f]{1,12}-[0-9a-f]{1,12})?:?[ \t]{0,3}[0-9]{0,22}( kB)?.{0,20}",
                0..12,
            ),
        ) {
            let text = lines.join("\n");
            let _ = parse_smaps_rss(&text);
            let _ = parse_tracer_pid(&text);
            let _ = parse_stat_state(&text);
            if let Some(st) = parse_status_rss(&text) {
                prop_assert!(text.contains("VmRSS:"));
                prop_assert!(st.rss % 1024 == 0 || st.rss == u64::MAX);
            }
        }
    }

    #[test]
    fn smaps_rss() {
        let text = "00400000-00401000 r-xp 00000000 08:01 1 /bin/x\nSize: 4 kB\nRss: 4 kB\n\
                    7f0000000000-7f0000100000 rw-p 00000000 00:00 0 \nSize: 1024 kB\nRss: 12 kB\n";
        let m = parse_smaps_rss(text);
        assert_eq!(m.get(&0x400000), Some(&4096));
        assert_eq!(m.get(&0x7f0000000000), Some(&(12 * 1024)));
        let me = rss_by_mapping(std::process::id() as i32);
        assert!(!me.is_empty());
    }

    #[test]
    fn status_rss_fields() {
        let text =
            "Name:\tpython3\nVmHWM:\t  9000 kB\nVmRSS:\t    7000 kB\nRssAnon:\t    5000 kB\n\
                    RssFile:\t    1900 kB\nRssShmem:\t     100 kB\n";
        assert_eq!(
            parse_status_rss(text),
            Some(StatusRss {
                rss: 7000 << 10,
                anonymous: 5000 << 10,
                file: 1900 << 10,
                shmem: 100 << 10,
            })
        );
        // A kernel thread's status has no VmRSS; a name that starts like a field is not one.
        assert_eq!(parse_status_rss("Name:\tkthreadd\nVmRSSx: 5 kB\n"), None);
        let me = status_rss(std::process::id() as i32).unwrap();
        assert!(me.rss > 0 && me.anonymous + me.file + me.shmem <= me.rss + (1 << 20));
    }
    #[test]
    fn headroom_parses_meminfo_and_cgroups() {
        assert_eq!(
            parse_mem_available("MemTotal: 100 kB\nMemAvailable:   2048 kB\n"),
            Some(2 << 20)
        );
        let files = |p: &str| -> Option<String> {
            match p {
                "/sys/fs/cgroup/box/memory.max" => Some("104857600\n".into()),
                "/sys/fs/cgroup/box/memory.current" => Some("4857600\n".into()),
                "/sys/fs/cgroup/free/memory.max" => Some("max\n".into()),
                "/sys/fs/cgroup/free/memory.current" => Some("1\n".into()),
                "/sys/fs/cgroup/memory/v1/memory.limit_in_bytes" => Some("2000\n".into()),
                "/sys/fs/cgroup/memory/v1/memory.usage_in_bytes" => Some("500\n".into()),
                "/sys/fs/cgroup/memory/none/memory.limit_in_bytes" => {
                    Some("9223372036854771712\n".into())
                }
                "/sys/fs/cgroup/memory/none/memory.usage_in_bytes" => Some("5\n".into()),
                _ => None,
            }
        };
        assert_eq!(cgroup_headroom("0::/box\n", files), Some(100_000_000));
        assert_eq!(cgroup_headroom("0::/free\n", files), None);
        assert_eq!(cgroup_headroom("4:memory:/v1\n0::/\n", files), Some(1500));
        assert_eq!(cgroup_headroom("4:memory:/none\n0::/\n", files), None);
        let h = Headroom {
            mem_available: Some(10),
            cgroup: Some(5),
        };
        assert_eq!(h.limit(), Some((5, "cgroup")));
    }
}

//! A process's descendants, for `--subprocesses`: which processes a service is made of (gunicorn,
//! uWSGI, Celery prefork, `multiprocessing` pools), which of them may be Python, and what role each
//! plays (master or worker).
//!
//! Descendants are read from `/proc/PID/task/*/children` (every thread's children: a child forked
//! by a non-main thread is listed under that thread), falling back to a scan of every
//! `/proc/*/stat` parent pid on kernels without that file. Whether a descendant is Python is first
//! judged by the test [`binaries::find_images`] applies (a mapped executable or libpython named like
//! an interpreter); the dump itself then identifies it as `dump` always does, and a process it
//! refuses is skipped with the dump's reason.

use crate::attach::binaries;
use serde::Serialize;
use std::collections::{BTreeSet, HashMap};

/// One process of the tree under the given root.
#[derive(Debug, Clone, Serialize)]
pub struct ProcessInfo {
    pub pid: i32,
    pub ppid: i32,
    /// `/proc/PID/cmdline`, arguments joined by spaces (`[comm]` when empty: kernel threads,
    /// zombies).
    pub cmdline: String,
    /// Depth under the root (the root is 0).
    pub depth: u32,
}

/// The root and every descendant, root first, then breadth-first (children in pid order). Processes
/// that exit while the tree is read are left out; a root that does not exist gives an empty list.
pub fn tree(root: i32) -> Vec<ProcessInfo> {
    let Some(root_info) = info(root, 0, 0) else {
        return Vec::new();
    };
    let mut out = vec![root_info];
    let mut seen: BTreeSet<i32> = BTreeSet::from([root]);
    let mut fallback: Option<HashMap<i32, Vec<i32>>> = None;
    let mut i = 0;
    while i < out.len() {
        let (pid, depth) = (out[i].pid, out[i].depth);
        let kids = match children_from_task(pid) {
            Some(k) => k,
            None => fallback
                .get_or_insert_with(ppid_table)
                .get(&pid)
                .cloned()
                .unwrap_or_default(),
        };
        for c in kids {
            // A pid reused mid-read could make a loop; each pid is visited once.
            if seen.insert(c) {
                if let Some(p) = info(c, pid, depth + 1) {
                    out.push(p);
                }
            }
        }
        i += 1;
    }
    out
}

/// Children of `pid` from `/proc/PID/task/*/children` (sorted), `None` when the kernel lacks the
/// file (CONFIG_PROC_CHILDREN) or the process is gone.
fn children_from_task(pid: i32) -> Option<Vec<i32>> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut kids = BTreeSet::new();
    let mut any = false;
    for t in tasks.flatten() {
        let Ok(text) = std::fs::read_to_string(t.path().join("children")) else {
            continue;
        };
        any = true;
        kids.extend(
            text.split_whitespace()
                .filter_map(|c| c.parse::<i32>().ok()),
        );
    }
    any.then(|| kids.into_iter().collect())
}

/// Parent pid -> children (sorted), from every `/proc/*/stat`.
fn ppid_table() -> HashMap<i32, Vec<i32>> {
    let mut table: HashMap<i32, Vec<i32>> = HashMap::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if let Some(pp) = ppid(pid) {
            table.entry(pp).or_default().push(pid);
        }
    }
    for v in table.values_mut() {
        v.sort_unstable();
    }
    table
}

/// The parent pid of `pid` (`/proc/PID/stat` field 4; the command name may hold spaces and
/// parentheses, so fields are counted after the last `)`).
pub fn ppid(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..]
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// When `pid` started (`/proc/PID/stat` field 22, clock ticks since boot): with the pid, it names
/// one process (a pid may be reused once a process exits).
pub fn start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..]
        .split_whitespace()
        .nth(19)?
        .parse()
        .ok()
}

fn info(pid: i32, ppid_hint: i32, depth: u32) -> Option<ProcessInfo> {
    let pp = ppid(pid)?;
    if depth > 0 && pp != ppid_hint {
        // Re-parented (its parent exited) or a reused pid: not part of this tree any more.
        return None;
    }
    Some(ProcessInfo {
        pid,
        ppid: pp,
        cmdline: cmdline(pid),
        depth,
    })
}

/// `/proc/PID/cmdline` as one line (arguments joined by spaces), `[comm]` when it is empty.
pub fn cmdline(pid: i32) -> String {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let args: Vec<String> = raw
        .split(|&b| b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    if args.is_empty() {
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        return format!("[{}]", comm.trim());
    }
    args.join(" ")
}

/// Whether `pid` may be a Python process, by the test [`binaries::find_images`] starts from: a
/// mapped file named like a python executable or libpython. `Err` says why not (for the skipped
/// list). The dump identifies the candidates fully (and may still refuse one).
pub fn python_candidate(pid: i32) -> Result<(), String> {
    let maps = match std::fs::read_to_string(format!("/proc/{pid}/maps")) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            return Err("permission denied reading /proc/PID/maps".into())
        }
        Err(_) => return Err("gone: exited before it was read".into()),
    };
    if maps.trim().is_empty() {
        return Err("not a Python process: no memory mappings (a zombie or exiting)".into());
    }
    let python = maps
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .any(|path| path.starts_with('/') && binaries::looks_like_python(path));
    if python {
        Ok(())
    } else {
        let exe = std::fs::read_link(format!("/proc/{pid}/exe"))
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| "unknown".into());
        Err(format!(
            "not a Python process: no python executable or libpython is mapped (executable: {exe})"
        ))
    }
}

/// What a process is in its service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The topmost Python process of the tree, with Python processes under it (gunicorn's arbiter,
    /// uWSGI's master, Celery's MainProcess, the parent of a `multiprocessing` pool).
    Master,
    /// A Python process under a master (a direct child, or a child of a `multiprocessing`
    /// forkserver).
    Worker,
    /// `multiprocessing`'s resource tracker or forkserver: machinery, not a worker.
    Helper,
    /// A Python process deeper down (a worker's own child), or a root alone.
    Process,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Master => "master",
            Role::Worker => "worker",
            Role::Helper => "helper",
            Role::Process => "process",
        }
    }
}

/// Which server a command line belongs to: "gunicorn", "uwsgi", "celery" or "multiprocessing";
/// `None` when none is recognised.
pub fn server_of(cmdline: &str) -> Option<&'static str> {
    let lower = cmdline.to_ascii_lowercase();
    let words: Vec<&str> = lower.split_whitespace().collect();
    let base = |w: &str| w.rsplit('/').next().unwrap_or(w).to_string();
    let named = |name: &str| {
        // The program itself (`gunicorn`, `/venv/bin/uwsgi`), `python -m NAME`, or a process title
        // the server set (`gunicorn: worker [app]`, `uWSGI worker 1`, `[celeryd: ...]`).
        words.iter().take(3).any(|w| {
            let b = base(w);
            b == name || b.starts_with(&format!("{name}:")) || b.starts_with(&format!("[{name}"))
        }) || words.windows(2).any(|w| w[0] == "-m" && w[1] == name)
    };
    if named("gunicorn") {
        Some("gunicorn")
    } else if named("uwsgi") {
        Some("uwsgi")
    } else if named("celery") || lower.contains("[celeryd:") || lower.contains("celeryd") {
        Some("celery")
    } else if lower.contains("multiprocessing") {
        Some("multiprocessing")
    } else {
        None
    }
}

/// A role the process title or command line states outright (setproctitle: `gunicorn: master
/// [app]`, `gunicorn: worker [app]`; uWSGI's `uWSGI master`, `uWSGI worker 1`; Celery's
/// `...:MainProcess]`, `...:ForkPoolWorker-1]`; `multiprocessing`'s spawn, forkserver and resource
/// tracker command lines).
pub fn stated_role(cmdline: &str) -> Option<Role> {
    let lower = cmdline.to_ascii_lowercase();
    if lower.contains("multiprocessing.resource_tracker")
        || lower.contains("multiprocessing.forkserver")
    {
        return Some(Role::Helper);
    }
    if lower.contains("multiprocessing.spawn") || lower.contains("--multiprocessing-fork") {
        return Some(Role::Worker);
    }
    if lower.starts_with("gunicorn: master") || lower.starts_with("uwsgi master") {
        return Some(Role::Master);
    }
    if lower.starts_with("gunicorn: worker") || lower.starts_with("uwsgi worker") {
        return Some(Role::Worker);
    }
    if lower.contains(":mainprocess]") {
        return Some(Role::Master);
    }
    if lower.contains("forkpoolworker") {
        return Some(Role::Worker);
    }
    None
}

/// Roles of the Python processes `python` (pids) of `tree`: the topmost Python process of a
/// subtree with Python processes under it is the master; the Python processes right under it
/// (through non-Python processes and `multiprocessing` helpers too) are workers; deeper ones are
/// plain processes. A role the command line states wins over the tree's.
pub fn roles(tree: &[ProcessInfo], python: &BTreeSet<i32>) -> HashMap<i32, Role> {
    let by_pid: HashMap<i32, &ProcessInfo> = tree.iter().map(|p| (p.pid, p)).collect();
    // The nearest Python ancestor of each process, and whether a helper stands between.
    let python_parent = |p: &ProcessInfo| -> Option<(i32, bool)> {
        let mut through_helper = false;
        let mut cur = by_pid.get(&p.ppid).copied();
        while let Some(a) = cur {
            if a.pid == p.pid {
                break;
            }
            if python.contains(&a.pid) {
                if stated_role(&a.cmdline) == Some(Role::Helper) {
                    through_helper = true;
                } else {
                    return Some((a.pid, through_helper));
                }
            }
            if a.depth == 0 {
                break;
            }
            cur = by_pid.get(&a.ppid).copied();
        }
        None
    };
    let parents: HashMap<i32, Option<(i32, bool)>> = tree
        .iter()
        .filter(|p| python.contains(&p.pid))
        .map(|p| (p.pid, python_parent(p)))
        .collect();
    let has_python_children: BTreeSet<i32> = parents
        .values()
        .filter_map(|p| p.map(|(pp, _)| pp))
        .collect();
    let mut out = HashMap::new();
    for p in tree.iter().filter(|p| python.contains(&p.pid)) {
        let by_tree = match parents[&p.pid] {
            None if has_python_children.contains(&p.pid) => Role::Master,
            None => Role::Process,
            Some((pp, _)) if parents.get(&pp).is_some_and(|x| x.is_none()) => Role::Worker,
            Some(_) => Role::Process,
        };
        let role = match stated_role(&p.cmdline) {
            // A forkserver's forked children carry its command line: they are its workers.
            Some(Role::Helper)
                if by_pid
                    .get(&p.ppid)
                    .is_some_and(|pp| p.depth > 0 && pp.cmdline == p.cmdline) =>
            {
                Role::Worker
            }
            Some(r) => r,
            None => by_tree,
        };
        out.insert(p.pid, role);
    }
    out
}

/// Shorten a command line to `max` characters for one text line (the middle is cut: the program
/// and the last arguments both tell what a process is).
pub fn shorten(cmdline: &str, max: usize) -> String {
    let chars: Vec<char> = cmdline.chars().collect();
    if chars.len() <= max || max < 8 {
        return cmdline.to_string();
    }
    let head = (max - 3) * 2 / 3;
    let tail = max - 3 - head;
    let mut s: String = chars[..head].iter().collect();
    s.push_str("...");
    s.extend(&chars[chars.len() - tail..]);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pid: i32, ppid: i32, depth: u32, cmd: &str) -> ProcessInfo {
        ProcessInfo {
            pid,
            ppid,
            cmdline: cmd.into(),
            depth,
        }
    }

    #[test]
    fn servers_and_stated_roles() {
        let g = "/venv/bin/python3.12 /venv/bin/gunicorn -w 3 app:app";
        assert_eq!(server_of(g), Some("gunicorn"));
        assert_eq!(server_of("python -m gunicorn app:app"), Some("gunicorn"));
        assert_eq!(server_of("gunicorn: worker [app:app]"), Some("gunicorn"));
        assert_eq!(server_of("/venv/bin/uwsgi --http :9 -p 2"), Some("uwsgi"));
        assert_eq!(server_of("uWSGI worker 1"), Some("uwsgi"));
        assert_eq!(
            server_of("/usr/bin/python3 -m celery -A proj worker"),
            Some("celery")
        );
        assert_eq!(
            server_of(
                "python3 -c from multiprocessing.spawn import spawn_main; spawn_main(tracker_fd=5)"
            ),
            Some("multiprocessing")
        );
        assert_eq!(server_of("python3 app.py"), None);
        assert_eq!(
            stated_role("gunicorn: master [app:app]"),
            Some(Role::Master)
        );
        assert_eq!(stated_role("uWSGI worker 2"), Some(Role::Worker));
        assert_eq!(
            stated_role("[celeryd: celery@h:ForkPoolWorker-1]"),
            Some(Role::Worker)
        );
        assert_eq!(
            stated_role("python -c from multiprocessing.resource_tracker import main;main(5)"),
            Some(Role::Helper)
        );
        assert_eq!(stated_role("python3 app.py"), None);
    }

    #[test]
    fn tree_roles() {
        // gunicorn under a shell: sh (not Python) -> arbiter -> 3 workers.
        let tree = vec![
            p(10, 1, 0, "sh -c gunicorn app:app"),
            p(11, 10, 1, "gunicorn app:app"),
            p(12, 11, 2, "gunicorn app:app"),
            p(13, 11, 2, "gunicorn app:app"),
            p(14, 13, 3, "python3 sub.py"),
        ];
        let py: BTreeSet<i32> = [11, 12, 13, 14].into();
        let r = roles(&tree, &py);
        assert_eq!(r[&11], Role::Master);
        assert_eq!(r[&12], Role::Worker);
        assert_eq!(r[&13], Role::Worker);
        assert_eq!(r[&14], Role::Process);
        // multiprocessing forkserver: workers are children of the helper.
        let tree = vec![
            p(20, 1, 0, "python3 pool.py"),
            p(
                21,
                20,
                1,
                "python3 -c from multiprocessing.resource_tracker import main;main(5)",
            ),
            p(
                22,
                20,
                1,
                "python3 -c from multiprocessing.forkserver import main; main(8)",
            ),
            p(
                23,
                22,
                2,
                "python3 -c from multiprocessing.forkserver import main; main(8)",
            ),
        ];
        let py: BTreeSet<i32> = [20, 21, 22, 23].into();
        let r = roles(&tree, &py);
        assert_eq!(r[&20], Role::Master);
        assert_eq!(r[&21], Role::Helper);
        assert_eq!(r[&22], Role::Helper);
        // A forked child of the forkserver carries its command line; it is a worker.
        assert_eq!(r[&23], Role::Worker);
        // A root alone.
        let r = roles(&[p(30, 1, 0, "python3 app.py")], &[30].into());
        assert_eq!(r[&30], Role::Process);
    }

    #[test]
    fn shortens_in_the_middle() {
        assert_eq!(shorten("abc", 10), "abc");
        let s = shorten(
            "/very/long/path/to/python3.12 /venv/bin/gunicorn -w 3 app:app",
            30,
        );
        assert_eq!(s.chars().count(), 30);
        assert!(s.starts_with("/very/long/path"), "{s}");
        assert!(s.ends_with("app:app"), "{s}");
    }

    #[test]
    fn own_tree() {
        let me = std::process::id() as i32;
        let t = tree(me);
        assert_eq!(t[0].pid, me);
        assert_eq!(t[0].depth, 0);
        assert!(tree(-5).is_empty());
    }
}

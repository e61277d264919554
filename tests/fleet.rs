//! `--subprocesses` (issue 17) against real master/worker services: gunicorn (3 sync workers) and
//! uWSGI (2 workers, built from its PyPI sdist) serving tests/targets/fleet_app.py, a
//! `multiprocessing.Pool(3)` (tests/targets/fleet_pool.py), and a worker SIGKILLed while leakspy
//! has it paused. Every app process records its own count of leaked objects in a file after each
//! request or task; leakspy's per-process counts must equal them, the aggregate their sum, and the
//! master and workers must be recognised. Traffic goes to 127.0.0.1 only; every wait is bounded.

mod common;
use common::*;

use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const VENV: &str = "fleet-3.12.1";
const LEAK_TYPE: &str = "fleet_app.Leak";

/// A free port on 127.0.0.1 (bound, then released for the server).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A server's master process: stopped with SIGTERM (then SIGKILL), and every worker it had with
/// SIGKILL, on drop.
struct Service {
    child: Child,
    name: &'static str,
}

impl Service {
    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        use nix::sys::signal::{kill, Signal};
        use nix::unistd::Pid;
        let kids = children(self.pid());
        let _ = kill(Pid::from_raw(self.pid() as i32), Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        for k in kids {
            let _ = kill(Pid::from_raw(k as i32), Signal::SIGKILL);
        }
    }
}

/// The children of `pid` (every thread's), sorted.
fn children(pid: u32) -> Vec<u32> {
    let mut out: Vec<u32> = std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|s| {
            s.split_whitespace()
                .filter_map(|c| c.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect();
    out.sort_unstable();
    out
}

fn wait_until(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ok() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?}: {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One GET over a new connection to 127.0.0.1:port; the response body.
fn get(port: u16) -> Result<String, String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    s.set_write_timeout(Some(Duration::from_secs(10))).ok();
    s.write_all(b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).map_err(|e| e.to_string())?;
    if !resp.starts_with("HTTP/1.") || !resp.contains(" 200 ") {
        return Err(format!("unexpected response: {resp:?}"));
    }
    Ok(resp.split("\r\n\r\n").nth(1).unwrap_or("").to_string())
}

/// The count files: pid -> that process's own count.
fn counts(dir: &Path) -> BTreeMap<i64, u64> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let text = std::fs::read_to_string(e.path()).unwrap_or_default();
        let mut it = text.split_whitespace();
        if let (Some(p), Some(c)) = (it.next(), it.next()) {
            out.insert(p.parse().unwrap(), c.parse().unwrap());
        }
    }
    out
}

/// Send `n` requests (sequentially, bounded), then wait until the count files add up to `n`.
fn send_requests(port: u16, n: u64, dir: &Path) -> BTreeMap<i64, u64> {
    for i in 0..n {
        let mut tries = 0;
        while let Err(e) = get(port) {
            tries += 1;
            assert!(tries < 50, "request {i} to 127.0.0.1:{port} failed: {e}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    wait_until(
        "the count files add up to the requests",
        Duration::from_secs(30),
        || counts(dir).values().sum::<u64>() == n,
    );
    counts(dir)
}

fn count_of(process: &Value, type_name: &str) -> u64 {
    process["heap"]["types"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["type"] == type_name)
        .map_or(0, |t| t["count"].as_u64().unwrap())
}

/// Run `dump --subprocesses --json` on `master` and check it against the count files.
fn check_fleet(
    ctx: &str,
    master: u32,
    type_name: &str,
    truth: &BTreeMap<i64, u64>,
    workers: usize,
) -> Value {
    let out = run_leakspy([
        "dump",
        "--pid",
        &master.to_string(),
        "--subprocesses",
        "--json",
        "-q",
    ]);
    assert_eq!(out.status.code(), Some(0), "{ctx}: {}", show_output(&out));
    let doc: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{ctx}: not JSON ({e}): {}", show_output(&out)));
    let procs = doc["processes"].as_array().unwrap();
    let by_pid: BTreeMap<i64, &Value> = procs
        .iter()
        .map(|p| (p["pid"].as_i64().unwrap(), p))
        .collect();
    let m = by_pid
        .get(&(master as i64))
        .unwrap_or_else(|| panic!("{ctx}: master {master} not in the report: {doc}"));
    assert_eq!(m["role"], "master", "{ctx}: {}", m["role"]);
    assert_eq!(
        count_of(m, type_name),
        truth.get(&(master as i64)).copied().unwrap_or(0),
        "{ctx}: master"
    );
    let worker_pids: Vec<i64> = procs
        .iter()
        .filter(|p| p["role"] == "worker")
        .map(|p| p["pid"].as_i64().unwrap())
        .collect();
    assert_eq!(
        worker_pids.len(),
        workers,
        "{ctx}: workers {worker_pids:?} in {doc}"
    );
    for (&pid, &want) in truth {
        let p = by_pid
            .get(&pid)
            .unwrap_or_else(|| panic!("{ctx}: process {pid} (count {want}) not in the report"));
        assert_eq!(p["role"], "worker", "{ctx}: pid {pid}");
        assert_eq!(count_of(p, type_name), want, "{ctx}: pid {pid}'s own count");
        assert_eq!(p["ppid"].as_i64(), Some(master as i64), "{ctx}: pid {pid}");
    }
    for &w in &worker_pids {
        assert_eq!(
            count_of(by_pid[&w], type_name),
            truth.get(&w).copied().unwrap_or(0),
            "{ctx}: worker {w}"
        );
    }
    let agg = doc["aggregate"]["types"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["type"] == type_name)
        .unwrap_or_else(|| panic!("{ctx}: {type_name} not in the aggregate"));
    let sum: u64 = truth.values().sum();
    assert_eq!(agg["count"].as_u64(), Some(sum), "{ctx}: aggregate");
    let (max_pid, max_count) = truth.iter().max_by_key(|(p, c)| (**c, -**p)).unwrap();
    assert_eq!(agg["max_count"].as_u64(), Some(*max_count), "{ctx}");
    assert_eq!(agg["max_pid"].as_i64(), Some(*max_pid), "{ctx}");
    assert_eq!(
        agg["processes"].as_u64(),
        Some(truth.values().filter(|&&c| c > 0).count() as u64),
        "{ctx}"
    );
    let objects: u64 = procs
        .iter()
        .map(|p| p["heap"]["objects"].as_u64().unwrap())
        .sum();
    assert_eq!(doc["aggregate"]["objects"].as_u64(), Some(objects), "{ctx}");
    assert_eq!(doc["partial"], false, "{ctx}");
    doc
}

fn start_gunicorn(venv: &Interp, port: u16, dir: &Path, workers: usize, ballast: u64) -> Service {
    let bin = Path::new(&venv.python).parent().unwrap();
    let child = Command::new(bin.join("gunicorn"))
        .args([
            "-w",
            &workers.to_string(),
            "-b",
            &format!("127.0.0.1:{port}"),
            "--timeout",
            "120",
        ])
        .args([
            "--chdir",
            target_script("").to_str().unwrap(),
            "fleet_app:app",
        ])
        .env("FLEET_COUNT_DIR", dir)
        .env("FLEET_BALLAST", ballast.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start gunicorn");
    let s = Service {
        child,
        name: "gunicorn",
    };
    wait_until(
        &format!("{} listens and has {workers} workers", s.name),
        Duration::from_secs(60),
        || children(s.pid()).len() == workers && TcpStream::connect(("127.0.0.1", port)).is_ok(),
    );
    s
}

#[test]
fn gunicorn_workers() {
    let Some(venv) = venv(VENV) else { return };
    let dir = TempDir::new("fleet-gunicorn");
    let port = free_port();
    let g = start_gunicorn(&venv, port, &dir.0, 3, 0);
    let truth = send_requests(port, 30, &dir.0);
    let doc = check_fleet("gunicorn", g.pid(), LEAK_TYPE, &truth, 3);
    assert!(doc["processes"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["server"] == "gunicorn"));
    // The text report: one line per process with its role, then the aggregate.
    let out = run_leakspy([
        "dump",
        "--pid",
        &g.pid().to_string(),
        "--subprocesses",
        "-q",
        "--top",
        "400",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", show_output(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("(gunicorn): 4 Python processes read"),
        "{text}"
    );
    assert!(
        text.lines().any(|l| l
            .split_whitespace()
            .take(2)
            .eq([g.pid().to_string().as_str(), "master"])),
        "{text}"
    );
    assert_eq!(
        text.lines().filter(|l| l.contains(" worker ")).count(),
        3,
        "{text}"
    );
    assert!(text.contains(LEAK_TYPE), "{text}");
    // refs: the leaked objects are found in the workers, held by fleet_app.LEAKS.
    let out = run_leakspy([
        "refs",
        "--pid",
        &g.pid().to_string(),
        "--type",
        LEAK_TYPE,
        "--subprocesses",
        "--json",
        "-q",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", show_output(&out));
    let refs: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        refs["refs_aggregate"]["instances"].as_u64(),
        Some(truth.values().sum()),
        "{refs}"
    );
    for p in refs["processes"].as_array().unwrap() {
        let pid = p["pid"].as_i64().unwrap();
        let want = truth.get(&pid).copied().unwrap_or(0);
        assert_eq!(
            p["refs"]["instances"].as_u64(),
            Some(want),
            "refs of pid {pid}"
        );
        if want > 0 {
            assert!(
                p["refs"]["paths"][0]["shape"]
                    .as_str()
                    .unwrap()
                    .starts_with("fleet_app.LEAKS"),
                "{p}"
            );
        }
    }
    // snapshot: one file per process, readable by `diff`, and service.json.
    let snaps = dir.0.join("snaps");
    let out = run_leakspy([
        "snapshot",
        "--pid",
        &g.pid().to_string(),
        "--subprocesses",
        "-o",
        snaps.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", show_output(&out));
    let service: Value =
        serde_json::from_str(&std::fs::read_to_string(snaps.join("service.json")).unwrap())
            .unwrap();
    assert_eq!(service["processes"].as_array().unwrap().len(), 4);
    for (&pid, &want) in &truth {
        let snap: Value = serde_json::from_str(
            &std::fs::read_to_string(snaps.join(format!("{pid}.json"))).unwrap(),
        )
        .unwrap();
        let n = snap["types"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["type"] == LEAK_TYPE)
            .map_or(0, |t| t["count"].as_u64().unwrap());
        assert_eq!(n, want, "snapshot of {pid}");
    }
}

#[test]
fn uwsgi_workers() {
    let Some(venv) = venv(VENV) else { return };
    let bin = PathBuf::from(&venv.python).parent().unwrap().join("uwsgi");
    assert!(
        bin.exists(),
        "{} missing: scripts/setup-pythons.sh builds uWSGI from its sdist",
        bin.display()
    );
    let dir = TempDir::new("fleet-uwsgi");
    let port = free_port();
    let child = Command::new(&bin)
        .args([
            "--master",
            "--processes",
            "2",
            "--http-socket",
            &format!("127.0.0.1:{port}"),
        ])
        .args([
            "--chdir",
            target_script("").to_str().unwrap(),
            "--module",
            "fleet_app:app",
        ])
        .args(["--die-on-term", "--disable-logging", "--need-app"])
        .env("FLEET_COUNT_DIR", &dir.0)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start uwsgi");
    let s = Service {
        child,
        name: "uwsgi",
    };
    wait_until(
        "uwsgi listens and has 2 workers",
        Duration::from_secs(60),
        || children(s.pid()).len() == 2 && TcpStream::connect(("127.0.0.1", port)).is_ok(),
    );
    let truth = send_requests(port, 20, &dir.0);
    let doc = check_fleet("uwsgi", s.pid(), LEAK_TYPE, &truth, 2);
    assert!(
        doc["processes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["server"] == "uwsgi"),
        "{doc}"
    );
}

#[test]
fn multiprocessing_pool() {
    let Some(interp) = interpreter("pyenv-3.12.1") else {
        return;
    };
    let dir = TempDir::new("fleet-pool");
    let (guard, line) = spawn_target_args(
        &interp,
        "fleet_pool.py",
        &[],
        &[dir.0.to_str().unwrap(), "60"],
    );
    let ready: Value = serde_json::from_str(&line).unwrap();
    let workers: Vec<i64> = ready["workers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_i64().unwrap())
        .collect();
    assert_eq!(workers.len(), 3);
    wait_until(
        "the pool's count files add up to the tasks",
        Duration::from_secs(30),
        || counts(&dir.0).values().sum::<u64>() == 60,
    );
    let truth = counts(&dir.0);
    let doc = check_fleet("pool", guard.pid(), "__main__.PoolLeak", &truth, 3);
    let pids: Vec<i64> = doc["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["pid"].as_i64().unwrap())
        .collect();
    for w in workers {
        assert!(pids.contains(&w), "worker {w} not in {pids:?}");
    }
}

/// The process a thread belongs to (TracerPid names the tracing thread, which for leakspy's
/// parallel dumps is not its main thread).
fn tgid(tid: u32) -> Option<u32> {
    std::fs::read_to_string(format!("/proc/{tid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("Tgid:"))?
        .trim()
        .parse()
        .ok()
}

/// TracerPid of `pid` (non-zero while leakspy has it paused).
fn tracer(pid: u32) -> Option<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("TracerPid:"))?
        .trim()
        .parse()
        .ok()
}

#[test]
fn worker_killed_during_dump() {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    let Some(venv) = venv(VENV) else { return };
    let dir = TempDir::new("fleet-kill");
    let port = free_port();
    // Each worker holds 300k lists: its dump takes long enough to be caught paused.
    let g = start_gunicorn(&venv, port, &dir.0, 3, 300_000);
    let truth = send_requests(port, 12, &dir.0);
    for attempt in 0..5 {
        let workers = children(g.pid());
        assert_eq!(workers.len(), 3, "attempt {attempt}");
        let victim = *workers.last().unwrap();
        // stdout to a file: the report is larger than a pipe holds, and it is read at the end.
        let json = dir.0.join(format!("report-{attempt}.json"));
        let run = Command::new(env!("CARGO_BIN_EXE_leakspy"))
            .args([
                "dump",
                "--pid",
                &g.pid().to_string(),
                "--subprocesses",
                "--json",
                "-q",
            ])
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&json).unwrap())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let leakspy = run.id();
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut killed = false;
        let mut run = Some(run);
        let out = loop {
            if !killed && tracer(victim).is_some_and(|t| t != 0 && tgid(t) == Some(leakspy)) {
                kill(Pid::from_raw(victim as i32), Signal::SIGKILL).unwrap();
                killed = true;
            }
            let r = run.as_mut().unwrap();
            if r.try_wait().unwrap().is_some() {
                break run.take().unwrap().wait_with_output().unwrap();
            }
            if Instant::now() > deadline {
                let _ = r.kill();
                let out = run.take().unwrap().wait_with_output().unwrap();
                panic!("leakspy did not finish within 60 s: {}", show_output(&out));
            }
            std::thread::sleep(Duration::from_micros(300));
        };
        if !killed {
            eprintln!("attempt {attempt}: the victim's pause was not caught; again");
            continue;
        }
        // Exit 1: the report is printed but does not cover every process.
        assert_eq!(out.status.code(), Some(1), "{}", show_output(&out));
        let doc: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
        let skipped = doc["skipped"].as_array().unwrap();
        assert!(
            skipped
                .iter()
                .any(|s| s["pid"] == victim as i64 && s["kind"] == "gone"),
            "victim {victim} not reported as gone: {doc}"
        );
        assert_eq!(doc["partial"], true);
        let procs = doc["processes"].as_array().unwrap();
        assert!(procs.iter().all(|p| p["pid"] != victim as i64));
        assert_eq!(
            procs.len(),
            3,
            "the master and the two other workers: {doc}"
        );
        for p in procs {
            let pid = p["pid"].as_i64().unwrap();
            assert_eq!(
                count_of(p, LEAK_TYPE),
                truth.get(&pid).copied().unwrap_or(0),
                "pid {pid}"
            );
            assert_eq!(p["partial"], false, "pid {pid}");
        }
        return;
    }
    panic!("never caught the victim paused in 5 attempts");
}

/// The processes of one `--subprocesses` growth document (a `watch` sample or a `leaks` report),
/// by pid.
fn growth_rows(doc: &Value) -> BTreeMap<i64, &Value> {
    doc["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["pid"].as_i64().unwrap(), p))
        .collect()
}

fn grew(row: &Value, type_name: &str) -> i64 {
    row["growth"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["type"] == type_name)
        .map_or(0, |t| t["count"].as_i64().unwrap())
}

/// `watch --subprocesses --count 2`: requests are sent only between the two samples, and one
/// worker is killed (gunicorn replaces it) between them too. Each surviving worker's growth of the
/// leaked type must equal the growth of its own count file, the aggregate their sum; the killed
/// worker is `gone` and its replacement `new`, and the watch is not an error.
#[test]
fn gunicorn_watch_growth() {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    let Some(venv) = venv(VENV) else { return };
    let dir = TempDir::new("fleet-watch");
    let out_dir = TempDir::new("fleet-watch-out");
    let port = free_port();
    let g = start_gunicorn(&venv, port, &dir.0, 3, 0);
    let before = send_requests(port, 15, &dir.0);
    let lines = out_dir.0.join("watch.jsonl");
    let mut run = Command::new(env!("CARGO_BIN_EXE_leakspy"))
        .args(["watch", "--pid", &g.pid().to_string(), "--subprocesses"])
        .args(["--count", "2", "--interval", "10s", "--json", "-q"])
        .args(["--top", "100000"])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&lines).unwrap())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let read_lines = || -> Vec<Value> {
        std::fs::read_to_string(&lines)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    };
    wait_until("the first sample", Duration::from_secs(60), || {
        !read_lines().is_empty()
    });
    let first = read_lines().remove(0);
    let workers_before = children(g.pid());
    assert_eq!(growth_rows(&first).len(), 4, "{first}");
    const MORE: u64 = 30;
    for i in 0..MORE {
        let mut tries = 0;
        while let Err(e) = get(port) {
            tries += 1;
            assert!(tries < 50, "request {i}: {e}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    wait_until(
        "the count files add up to the requests",
        Duration::from_secs(30),
        || counts(&dir.0).values().sum::<u64>() == 15 + MORE,
    );
    let after = counts(&dir.0);
    let victim = *workers_before.last().unwrap();
    kill(Pid::from_raw(victim as i32), Signal::SIGKILL).unwrap();
    wait_until(
        "gunicorn replaces the killed worker",
        Duration::from_secs(30),
        || {
            let now = children(g.pid());
            now.len() == 3 && !now.contains(&victim)
        },
    );
    assert_eq!(
        read_lines().len(),
        1,
        "the requests and the kill took longer than the 10 s interval (loaded machine?)"
    );
    let deadline = Instant::now() + Duration::from_secs(90);
    while run.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "watch did not end");
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = run.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", show_output(&out));
    let samples = read_lines();
    assert_eq!(samples.len(), 2);
    let doc = &samples[1];
    let rows = growth_rows(doc);
    let replacement = *children(g.pid())
        .iter()
        .find(|p| !workers_before.contains(p))
        .unwrap();
    assert_eq!(rows[&(victim as i64)]["status"], "gone", "{doc}");
    assert_eq!(rows[&(replacement as i64)]["status"], "new", "{doc}");
    assert_eq!(rows[&(g.pid() as i64)]["status"], "read", "{doc}");
    assert_eq!(rows[&(g.pid() as i64)]["role"], "master", "{doc}");
    assert_eq!(grew(rows[&(g.pid() as i64)], LEAK_TYPE), 0, "the master");
    let mut sum = 0;
    let mut growths = BTreeMap::new();
    for &w in &workers_before {
        if w == victim {
            continue;
        }
        let want = after.get(&(w as i64)).copied().unwrap_or(0) as i64
            - before.get(&(w as i64)).copied().unwrap_or(0) as i64;
        let row = rows[&(w as i64)];
        assert_eq!(row["status"], "read", "worker {w}: {row}");
        assert_eq!(row["role"], "worker", "worker {w}: {row}");
        assert_eq!(grew(row, LEAK_TYPE), want, "worker {w}'s growth: {row}");
        sum += want;
        growths.insert(w as i64, want);
    }
    let agg = doc["aggregate"]["growth"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["type"] == LEAK_TYPE);
    if sum == 0 {
        assert!(agg.is_none(), "{doc}");
    } else {
        let agg = agg.unwrap_or_else(|| panic!("{LEAK_TYPE} not in the aggregate: {doc}"));
        assert_eq!(agg["count"].as_i64(), Some(sum), "aggregate: {doc}");
        let (max_pid, max) = growths.iter().max_by_key(|(p, c)| (**c, -**p)).unwrap();
        assert_eq!(agg["max_count"].as_i64(), Some(*max), "{agg}");
        assert_eq!(agg["max_pid"].as_i64(), Some(*max_pid), "{agg}");
        assert_eq!(
            agg["processes"].as_u64(),
            Some(growths.values().filter(|&&c| c > 0).count() as u64),
            "{agg}"
        );
    }

    // The text form: one line per process (the master and the three workers), then the aggregate.
    let out = run_leakspy([
        "watch",
        "--pid",
        &g.pid().to_string(),
        "--subprocesses",
        "--count",
        "1",
        "-q",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", show_output(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("4 Python processes"), "{text}");
    assert_eq!(
        text.lines().filter(|l| l.contains(" worker ")).count(),
        3,
        "{text}"
    );
    assert!(text.contains("Growth over 4 processes"), "{text}");

    // leaks --pid --subprocesses: no request during it, so no leaked object survives anywhere,
    // and every process is read all three times.
    let out = run_leakspy([
        "leaks",
        "--pid",
        &g.pid().to_string(),
        "--subprocesses",
        "--interval",
        "1s",
        "--json",
        "-q",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", show_output(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = growth_rows(&doc);
    assert_eq!(rows.len(), 4, "{doc}");
    for (pid, row) in &rows {
        assert_eq!(row["status"], "read", "pid {pid}: {row}");
        assert_eq!(grew(row, LEAK_TYPE), 0, "pid {pid}: {row}");
    }
}

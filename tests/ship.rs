//! Shipping (issue 16): the wheel, the static binary, completions and the man page, as a user
//! gets them.
//!
//! The wheel is built once per test run by `scripts/build-wheel.sh` (a release build with the
//! static link, into `target/ship/`, apart from the test build's own directory) and shared by every
//! test here; the binary the tests run is the one inside the wheel. Checked:
//! - the wheel installs with pip into a fresh venv of a pyenv interpreter; that venv's `leakspy
//!   --version` names the version, the commit, the CPython versions (derived from python-layouts/)
//!   and a static link; its `leakspy dump --pid` of a target run by the venv's Python matches the
//!   target's truth; the man page and completions land in the venv's share/ (and `man` finds the
//!   page from PATH); `pip uninstall` removes them all; `pip install .` from the checkout works too;
//! - `file` and `readelf` say static (static-pie, no interpreter, no NEEDED);
//! - the binary alone in an otherwise empty root (nothing but it and a mounted /proc) dumps a
//!   Debian bullseye (glibc 2.31, Python 3.9) chroot target and the report matches the target's
//!   truth, and so does the same binary run inside the bullseye chroot itself; the dynamically
//!   linked test build, as a control, cannot run in either place;
//! - the completions (bash, zsh, fish) and the man page mention every subcommand and, the man page,
//!   every long option of each.

mod common;

use common::*;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The release build of the wheel from a clean target directory took 4 min 48 s on this project's
/// 2-core machine (2 s when nothing changed); the margin is for a machine busy with other tests.
const BUILD_TIMEOUT: Duration = Duration::from_secs(40 * 60);
/// pip installing a local wheel; `pip install .` (which may fetch maturin into pip's build
/// environment, then reuses the release build above).
const PIP_TIMEOUT: Duration = Duration::from_secs(15 * 60);
const PYENV_PYTHON: &str = "pyenv-3.12.1";
const BULLSEYE: &str = "debian-bullseye-3.9";

struct Shipped {
    wheel: PathBuf,
    /// `leakspy` as extracted from the wheel (mode 0755).
    binary: PathBuf,
    /// The target directory of the shipping build (`target/ship`).
    target_dir: PathBuf,
}

static SHIPPED: OnceLock<Result<Shipped, String>> = OnceLock::new();

/// Build the wheel once (the first test to ask waits; the others wait for it).
fn shipped() -> &'static Shipped {
    match SHIPPED.get_or_init(build_wheel) {
        Ok(s) => s,
        Err(e) => panic!("building the wheel failed (an earlier test shows the output):\n{e}"),
    }
}

/// A command with the environment of a plain shell: no cargo variables of the test run
/// (`cargo test` sets some that must not steer the inner build).
fn clean_command(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut cmd = Command::new(program);
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().into_owned();
        if k.starts_with("CARGO") || k == "RUSTFLAGS" || k == "RUSTDOCFLAGS" || k == "RUSTC_WRAPPER"
        {
            cmd.env_remove(&k);
        }
    }
    cmd.env("PIP_DISABLE_PIP_VERSION_CHECK", "1");
    cmd
}

fn build_wheel() -> Result<Shipped, String> {
    let root = repo_root();
    let target_dir = root.join("target").join("ship");
    let dist = target_dir.join("dist");
    let _ = std::fs::remove_dir_all(&dist);
    std::fs::create_dir_all(&dist).map_err(|e| format!("create {}: {e}", dist.display()))?;
    let start = Instant::now();
    let mut cmd = clean_command("bash");
    cmd.arg(root.join("scripts/build-wheel.sh"))
        .arg(&dist)
        .current_dir(&root)
        .env("CARGO_TARGET_DIR", &target_dir);
    let out = try_run_with_timeout(&mut cmd, BUILD_TIMEOUT)?;
    if !out.status.success() {
        return Err(format!(
            "scripts/build-wheel.sh failed (is maturin installed? scripts/setup-pythons.sh installs it)\n{}",
            show_output(&out)
        ));
    }
    eprintln!(
        "ship: scripts/build-wheel.sh took {:.1} s",
        start.elapsed().as_secs_f64()
    );
    let wheels: Vec<PathBuf> = std::fs::read_dir(&dist)
        .map_err(|e| e.to_string())?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "whl"))
        .collect();
    let [wheel] = wheels.as_slice() else {
        return Err(format!(
            "expected one wheel in {}, found {wheels:?}",
            dist.display()
        ));
    };
    // The binary inside the wheel: what pip installs.
    let unpacked = target_dir.join("unpacked");
    let _ = std::fs::remove_dir_all(&unpacked);
    let out = run_with_timeout(
        Command::new("python3")
            .args(["-m", "zipfile", "-e"])
            .arg(wheel)
            .arg(&unpacked),
    );
    if !out.status.success() {
        return Err(format!("unzip {}\n{}", wheel.display(), show_output(&out)));
    }
    let version = env!("CARGO_PKG_VERSION");
    let binary = unpacked.join(format!("leakspy-{version}.data/scripts/leakspy"));
    set_executable(&binary);
    Ok(Shipped {
        wheel: wheel.clone(),
        binary,
        target_dir,
    })
}

fn set_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}

fn run(cmd: &mut Command) -> Output {
    run_with_timeout(cmd)
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn must(ctx: &str, out: Output) -> Output {
    assert!(out.status.success(), "{ctx}\n{}", show_output(&out));
    out
}

/// The commit build.rs should have embedded: this checkout's HEAD, or "unknown" outside git.
fn expected_commit() -> String {
    let root = repo_root();
    let git = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(&root)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let top = git(&["rev-parse", "--show-toplevel"]).map(PathBuf::from);
    match top {
        Some(t) if t.canonicalize().ok() == root.canonicalize().ok() => {
            git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into())
        }
        _ => "unknown".into(),
    }
}

/// "3.9-3.15": the lowest and highest CPython minor of the layout files in python-layouts/
/// (named 3.X.toml or 3.X-VARIANT.toml).
fn expected_cpython_span() -> String {
    let mut minors: Vec<u32> = std::fs::read_dir(repo_root().join("python-layouts"))
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let stem = name.strip_suffix(".toml")?;
            let minor = stem.strip_prefix("3.")?.split('-').next()?;
            minor.parse().ok()
        })
        .collect();
    minors.sort_unstable();
    format!("3.{}-3.{}", minors.first().unwrap(), minors.last().unwrap())
}

fn check_version_output(ctx: &str, out: &Output) {
    let text = stdout(out);
    assert!(out.status.success(), "{ctx}\n{}", show_output(out));
    let version = env!("CARGO_PKG_VERSION");
    let want = [
        format!("leakspy {version}\n"),
        format!("commit: {}", expected_commit()),
        format!("CPython: {} (default builds", expected_cpython_span()),
        "statically linked".to_string(),
    ];
    for w in &want {
        assert!(text.contains(w.as_str()), "{ctx}: no {w:?} in\n{text}");
    }
}

/// A fresh venv of the pyenv interpreter, in a scratch directory removed on drop.
struct Venv {
    _dir: TempDir,
    path: PathBuf,
}

impl Venv {
    fn new(tag: &str) -> Option<Venv> {
        let base = interpreter(PYENV_PYTHON)?;
        let dir = TempDir::new(tag);
        let path = dir.0.join("venv");
        must(
            &format!("{} -m venv {}", base.python, path.display()),
            run(clean_command(&base.python)
                .args(["-m", "venv"])
                .arg(&path)
                .stdin(Stdio::null())),
        );
        Some(Venv { _dir: dir, path })
    }

    fn bin(&self, name: &str) -> PathBuf {
        self.path.join("bin").join(name)
    }

    fn pip(&self, args: &[&std::ffi::OsStr]) -> Output {
        let mut cmd = clean_command(self.bin("python"));
        cmd.args(["-m", "pip"]).args(args);
        try_run_with_timeout(&mut cmd, PIP_TIMEOUT).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The venv's Python as an interpreter of the matrix (for `start_target`).
    fn interp(&self) -> Interp {
        Interp {
            name: format!("venv {}", self.path.display()),
            root: PathBuf::from("/"),
            python: self.bin("python").display().to_string(),
        }
    }
}

/// Dump `target` with `leakspy` (`cmd` runs it) and check the report against the target's truth.
fn dump_matches_truth(ctx: &str, cmd: &mut Command, target: &Target) {
    wait_blocked_in_read(target.pid());
    let out = run(cmd);
    let report = check_report(
        ctx,
        &out,
        &target.truth,
        i64::from(target.pid()),
        Expect::LIVE,
    );
    // The target's own count of its objects, named here too for the reader of a failure.
    for (ty, want) in &target.truth.own_types {
        let got = report.heap.types.iter().find(|t| &t.type_name == ty);
        assert_eq!(got.map(|t| t.count), Some(want.count), "{ctx}: {ty} count");
    }
}

#[test]
fn wheel_installs_with_pip_and_its_leakspy_dumps_a_target() {
    let s = shipped();
    let Some(venv) = Venv::new("ship-venv") else {
        return;
    };
    must(
        "pip install the wheel",
        venv.pip(&[
            "install".as_ref(),
            "--no-index".as_ref(),
            "--no-deps".as_ref(),
            s.wheel.as_os_str(),
        ]),
    );
    let leakspy = venv.bin("leakspy");
    assert!(
        leakspy.is_file(),
        "pip did not install {}",
        leakspy.display()
    );
    check_version_output(
        "venv leakspy --version",
        &run(Command::new(&leakspy).arg("--version")),
    );

    // A target run by the venv's own Python, dumped by the venv's leakspy.
    let interp = venv.interp();
    let target = start_target(&interp, "heap_target.py");
    let pid = target.pid().to_string();
    dump_matches_truth(
        "venv leakspy dump --pid --json",
        Command::new(&leakspy).args(["dump", "--pid", &pid, "--json", "-q"]),
        &target,
    );
    let text = must(
        "venv leakspy dump --pid (text)",
        run(Command::new(&leakspy).args(["dump", "--pid", &pid, "--top", "5"])),
    );
    assert!(
        stdout(&text).contains("\"MainThread\"") && stdout(&text).contains("\nHeap "),
        "text report\n{}",
        show_output(&text)
    );
    drop(target);

    // The data files: the man page and completions, as the binary prints them.
    let share = venv.path.join("share");
    let files: [(&str, &[&str]); 4] = [
        ("man/man1/leakspy.1", &["man"]),
        (
            "bash-completion/completions/leakspy",
            &["completions", "bash"],
        ),
        ("zsh/site-functions/_leakspy", &["completions", "zsh"]),
        (
            "fish/vendor_completions.d/leakspy.fish",
            &["completions", "fish"],
        ),
    ];
    for (file, args) in files {
        let path = share.join(file);
        let installed = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("the wheel did not install {}: {e}", path.display()));
        let printed = must(
            "leakspy man/completions",
            run(Command::new(&leakspy).args(args)),
        );
        assert!(
            installed == printed.stdout,
            "{} differs from `leakspy {}`",
            path.display(),
            args.join(" ")
        );
    }
    // man-db finds the page from the venv's bin/ on PATH (../share/man).
    if Command::new("man").arg("--version").output().is_ok() {
        let out = run(Command::new("man")
            .args(["-w", "leakspy"])
            .env(
                "PATH",
                format!("{}:/usr/bin:/bin", venv.path.join("bin").display()),
            )
            .env_remove("MANPATH"));
        assert!(
            stdout(&out).trim() == share.join("man/man1/leakspy.1").display().to_string(),
            "man -w leakspy with the venv on PATH\n{}",
            show_output(&out)
        );
    } else {
        eprintln!("ship: no `man` here; not checking that man finds the page");
    }

    must(
        "pip uninstall",
        venv.pip(&["uninstall".as_ref(), "-y".as_ref(), "leakspy".as_ref()]),
    );
    assert!(
        !leakspy.exists(),
        "pip uninstall left {}",
        leakspy.display()
    );
    for (file, _) in files {
        assert!(
            !share.join(file).exists(),
            "pip uninstall left {}",
            share.join(file).display()
        );
    }
}

#[test]
fn pip_install_from_the_checkout() {
    // After the shared build, so that pip's build (maturin in pip's own build environment, into
    // the same target directory) finds it made.
    let s = shipped();
    let Some(venv) = Venv::new("ship-pip-dot") else {
        return;
    };
    let mut cmd = clean_command(venv.bin("python"));
    cmd.args(["-m", "pip", "install"])
        .arg(repo_root())
        .env("CARGO_TARGET_DIR", &s.target_dir);
    let out = try_run_with_timeout(&mut cmd, PIP_TIMEOUT).unwrap_or_else(|e| panic!("{e}"));
    must("pip install . (from the checkout)", out);
    let leakspy = venv.bin("leakspy");
    check_version_output(
        "leakspy --version after pip install .",
        &run(Command::new(&leakspy).arg("--version")),
    );
    assert!(
        !repo_root().join("leakspy.data").exists(),
        "a build left leakspy.data/ in the checkout"
    );
}

#[test]
fn the_binary_is_static() {
    let bin = &shipped().binary;
    let file = run(Command::new("file").arg("-b").arg(bin));
    let file = stdout(&must("file", file));
    assert!(
        file.contains("static-pie linked") || file.contains("statically linked"),
        "file says: {file}"
    );
    assert!(file.contains("x86-64"), "file says: {file}");
    let dynamic = stdout(&must(
        "readelf -d",
        run(Command::new("readelf").arg("-dW").arg(bin)),
    ));
    assert!(
        !dynamic.contains("(NEEDED)"),
        "the binary needs shared libraries:\n{dynamic}"
    );
    let headers = stdout(&must(
        "readelf -l",
        run(Command::new("readelf").arg("-lW").arg(bin)),
    ));
    assert!(
        !headers.contains("INTERP") && !headers.contains("program interpreter"),
        "the binary names a program interpreter:\n{headers}"
    );
    check_version_output(
        "leakspy --version",
        &run(Command::new(bin).arg("--version")),
    );
    let short = stdout(&run(Command::new(bin).arg("-V")));
    assert_eq!(
        short.trim(),
        format!(
            "leakspy {} ({})",
            env!("CARGO_PKG_VERSION"),
            expected_commit()
        )
    );
}

/// Run `program ARGS` chrooted into `root`, with /proc mounted there in a private mount namespace
/// (gone when it exits).
fn in_root_with_proc(root: &Path, program: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "--", "sh", "-c"])
        .arg(r#"root=$1; shift; mount -t proc proc "$root/proc" && exec chroot "$root" "$@""#)
        .arg("sh")
        .arg(root)
        .arg(program)
        .args(args);
    cmd
}

#[test]
fn the_binary_alone_in_an_empty_root_dumps_a_bullseye_target() {
    let bin = &shipped().binary;
    let Some(interp) = interpreter(BULLSEYE) else {
        return;
    };
    let dir = TempDir::new("ship-empty-root");
    let root = dir.0.join("root");
    std::fs::create_dir_all(root.join("proc")).unwrap();
    std::fs::copy(bin, root.join("leakspy")).unwrap();
    set_executable(&root.join("leakspy"));
    let entries: BTreeSet<String> = std::fs::read_dir(&root)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        entries,
        BTreeSet::from(["leakspy".to_string(), "proc".to_string()]),
        "the root holds the binary and an empty /proc mount point, nothing else"
    );
    assert_eq!(std::fs::read_dir(root.join("proc")).unwrap().count(), 0);

    let target = start_target(&interp, "heap_target.py");
    let pid = target.pid().to_string();
    dump_matches_truth(
        &format!("[{BULLSEYE}] leakspy alone in an empty root: dump --pid {pid} --json"),
        &mut in_root_with_proc(&root, "/leakspy", &["dump", "--pid", &pid, "--json", "-q"]),
        &target,
    );
    drop(target);

    // Control: the dynamically linked test build cannot even start there (no ld.so, no libc).
    let dynamic = root.join("leakspy-dynamic");
    std::fs::copy(env!("CARGO_BIN_EXE_leakspy"), &dynamic).unwrap();
    set_executable(&dynamic);
    let out = run(&mut in_root_with_proc(
        &root,
        "/leakspy-dynamic",
        &["--version"],
    ));
    assert!(
        !out.status.success(),
        "control: the dynamically linked build ran in an empty root\n{}",
        show_output(&out)
    );
}

/// The newest GLIBC_2.N symbol version `bin` requires (None: it requires none).
fn newest_glibc_needed(bin: &str) -> Option<u32> {
    let out = run(Command::new("readelf").args(["-VW", bin]));
    let text = stdout(&out);
    text.split("GLIBC_2.")
        .skip(1)
        .filter_map(|rest| {
            let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
            digits.parse().ok()
        })
        .max()
}

#[test]
fn the_binary_runs_inside_the_bullseye_chroot() {
    let bin = &shipped().binary;
    let Some(interp) = interpreter(BULLSEYE) else {
        return;
    };
    let root = interp.root.clone();
    let glibc = stdout(&run(Command::new("chroot")
        .arg(&root)
        .args(["/usr/bin/ldd", "--version"])));
    assert!(
        glibc.contains("2.31"),
        "the bullseye chroot should have glibc 2.31:\n{glibc}"
    );
    // A scratch directory inside the chroot, removed on drop.
    let inside = format!("/tmp/leakspy-ship-{}", std::process::id());
    let scratch = TempDirAt(root.join(inside.trim_start_matches('/')));
    std::fs::create_dir_all(&scratch.0).unwrap();
    let copy = scratch.0.join("leakspy");
    std::fs::copy(bin, &copy).unwrap();
    set_executable(&copy);
    let leakspy = format!("{inside}/leakspy");

    let out = must(
        "leakspy --version inside bullseye",
        run(Command::new("chroot")
            .arg(&root)
            .args([&leakspy, "--version"])),
    );
    check_version_output("leakspy --version inside bullseye", &out);

    let target = start_target(&interp, "heap_target.py");
    let pid = target.pid().to_string();
    dump_matches_truth(
        &format!("[{BULLSEYE}] leakspy inside the bullseye chroot: dump --pid {pid} --json"),
        &mut in_root_with_proc(&root, &leakspy, &["dump", "--pid", &pid, "--json", "-q"]),
        &target,
    );
    drop(target);

    // Control: the dynamically linked test build needs a newer glibc than bullseye's 2.31 (when it
    // was linked against one), so it cannot run there.
    let dynamic_host = env!("CARGO_BIN_EXE_leakspy");
    if newest_glibc_needed(dynamic_host).is_some_and(|n| n > 31) {
        let dynamic = scratch.0.join("leakspy-dynamic");
        std::fs::copy(dynamic_host, &dynamic).unwrap();
        set_executable(&dynamic);
        let out = run(Command::new("chroot")
            .arg(&root)
            .args([&format!("{inside}/leakspy-dynamic"), "--version"]));
        assert!(
            !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("GLIBC_2."),
            "control: the dynamically linked build should fail on bullseye's glibc\n{}",
            show_output(&out)
        );
    }
}

/// A directory removed on drop (inside a chroot).
struct TempDirAt(PathBuf);

impl Drop for TempDirAt {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The subcommands `leakspy --help` lists (without `help`).
fn subcommands(bin: &Path) -> Vec<String> {
    let help = stdout(&must(
        "leakspy --help",
        run(Command::new(bin).arg("--help")),
    ));
    let mut lines = help.lines().skip_while(|l| l.trim() != "Commands:").skip(1);
    let mut out = Vec::new();
    for l in lines.by_ref() {
        if l.trim().is_empty() {
            break;
        }
        let name = l.split_whitespace().next().unwrap().to_string();
        if name != "help" {
            out.push(name);
        }
    }
    assert!(out.len() >= 9, "subcommands from --help: {out:?}\n{help}");
    out
}

/// The long options `leakspy SUB --help` lists.
fn long_options(bin: &Path, sub: &str) -> BTreeSet<String> {
    let help = stdout(&must(
        "leakspy SUB --help",
        run(Command::new(bin).args([sub, "--help"])),
    ));
    help.lines()
        .filter_map(|l| {
            let t = l.trim_start();
            let t = t.strip_prefix('-').and_then(|t| {
                // "-p, --pid <PID>" or "--json"
                t.split_once("--").map(|(_, r)| r).or(t.strip_prefix('-'))
            })?;
            let name: String = t
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            (!name.is_empty()).then(|| format!("--{name}"))
        })
        .collect()
}

#[test]
fn completions_and_man_page_cover_every_subcommand() {
    let bin = &shipped().binary;
    let subs = subcommands(bin);
    for want in ["dump", "refs", "completions", "man"] {
        assert!(subs.iter().any(|s| s == want), "{want} not in {subs:?}");
    }

    for shell in ["bash", "zsh", "fish"] {
        let out = must(
            &format!("leakspy completions {shell}"),
            run(Command::new(bin).args(["completions", shell])),
        );
        let script = stdout(&out);
        for sub in &subs {
            assert!(
                script.contains(sub.as_str()),
                "the {shell} completions do not mention {sub}"
            );
        }
        // Syntax check with the shell itself where it is installed (bash always is).
        if Command::new(shell).arg("--version").output().is_ok() {
            let dir = TempDir::new("ship-completions");
            let file = dir.0.join(format!("leakspy.{shell}"));
            std::fs::write(&file, &script).unwrap();
            must(
                &format!("{shell} -n on the completions"),
                run(Command::new(shell).arg("-n").arg(&file)),
            );
        } else {
            eprintln!("ship: no {shell} here; its completions are checked for content only");
        }
    }
    // bash: completing `leakspy d` offers dump and diff, and `leakspy dump --p` offers --pid.
    let out = must(
        "bash completion",
        run(Command::new("bash").arg("-c").arg(format!(
            r#"source <("{bin}" completions bash)
               COMP_WORDS=(leakspy d); COMP_CWORD=1; _leakspy leakspy d leakspy; echo "1: ${{COMPREPLY[*]}}"
               COMP_WORDS=(leakspy dump --p); COMP_CWORD=2; _leakspy leakspy --p dump; echo "2: ${{COMPREPLY[*]}}""#,
            bin = bin.display()
        ))),
    );
    let text = stdout(&out);
    let line = |n: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(n))
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_string)
            .collect::<BTreeSet<_>>()
    };
    assert!(
        line("1: ").contains("dump") && line("1: ").contains("diff"),
        "bash completion of `leakspy d`: {text}"
    );
    assert!(
        line("2: ").contains("--pid"),
        "bash completion of `leakspy dump --p`: {text}"
    );

    // The man page: valid roff, every subcommand and every long option of each.
    let page = stdout(&must("leakspy man", run(Command::new(bin).arg("man"))));
    assert!(
        page.lines().any(|l| l.starts_with(".TH LEAKSPY 1 ")),
        "no .TH line:\n{}",
        &page[..400.min(page.len())]
    );
    let source = page.replace("\\-", "-");
    for sub in &subs {
        assert!(
            source.contains(&format!(".SS \"leakspy {sub}\"")),
            "the man page has no section for leakspy {sub}"
        );
        for opt in long_options(bin, sub) {
            assert!(
                source.contains(&opt),
                "the man page does not mention {opt} of leakspy {sub}"
            );
        }
    }
    for section in [
        "NAME",
        "SYNOPSIS",
        "DESCRIPTION",
        "COMMANDS",
        "EXIT STATUS",
        "VERSION",
    ] {
        assert!(
            source.contains(&format!(".SH {section}"))
                || source.contains(&format!(".SH \"{section}\"")),
            "the man page has no {section} section"
        );
    }
    if Command::new("groff").arg("--version").output().is_ok() {
        let dir = TempDir::new("ship-man");
        let file = dir.0.join("leakspy.1");
        std::fs::write(&file, &page).unwrap();
        let out = must(
            "groff -man -ww on the man page",
            run(Command::new("groff")
                .args(["-man", "-Tutf8", "-ww", "-z"])
                .arg(&file)),
        );
        assert!(
            out.stderr.is_empty(),
            "groff warns about the man page:\n{}",
            show_output(&out)
        );
    } else {
        eprintln!("ship: no groff here; the man page is checked for content only");
    }
}

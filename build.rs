//! Build-time facts for `leakspy --version`: the git commit the binary was built from.
//!
//! Order: `LEAKSPY_BUILD_COMMIT` (a packager building from a tarball can name the commit), then
//! `git` run in this checkout, else "unknown". A missing `git`, a missing `.git` (a clean tarball,
//! an sdist) or a checkout git refuses to read never fails the build. The commit of an enclosing
//! repository (a tarball unpacked inside another checkout) is not taken for ours.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=LEAKSPY_BUILD_COMMIT");

    let (commit, date) = match std::env::var("LEAKSPY_BUILD_COMMIT") {
        Ok(c) if !c.trim().is_empty() => (c.trim().to_string(), String::new()),
        _ => from_git(&manifest).unwrap_or_else(|| ("unknown".into(), String::new())),
    };
    println!("cargo:rustc-env=LEAKSPY_GIT_COMMIT={commit}");
    println!("cargo:rustc-env=LEAKSPY_GIT_COMMIT_DATE={date}");
    let target = std::env::var("TARGET").unwrap_or_default();
    println!("cargo:rustc-env=LEAKSPY_BUILD_TARGET={target}");
}

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!s.is_empty()).then_some(s)
}

fn from_git(manifest: &Path) -> Option<(String, String)> {
    // Only this checkout's own repository: its top level must be the manifest's directory.
    let top = git(manifest, &["rev-parse", "--show-toplevel"])?;
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if !same(Path::new(&top), manifest) {
        return None;
    }
    // Rebuild when HEAD moves: HEAD itself, the branch it names, packed refs. Only existing files
    // are named (cargo reruns a build script on every build while a named file is missing).
    let mut watch = vec!["HEAD".to_string(), "packed-refs".to_string()];
    if let Some(branch) = git(manifest, &["symbolic-ref", "-q", "HEAD"]) {
        watch.push(branch);
    }
    for name in &watch {
        // --git-path: right for linked worktrees too (branches live in the common directory).
        if let Some(p) = git(manifest, &["rev-parse", "--git-path", name]) {
            let p = manifest.join(p);
            if p.is_file() {
                println!("cargo:rerun-if-changed={}", p.display());
            }
        }
    }
    let commit = git(manifest, &["rev-parse", "--short=12", "HEAD"])?;
    let date = git(manifest, &["log", "-1", "--format=%cs", "HEAD"]).unwrap_or_default();
    Some((commit, date))
}

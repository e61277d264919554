//! Debian's headless Chromium for the `--html` tests (tests/formats.rs, tests/html_time.rs): load a
//! page from disk with the network off, fail on any console message or error event, read the DOM.

use super::{run_with_timeout, show_output, TempDir};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// Debian's headless Chromium (installed by scripts/setup-formats.sh).
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// Chromium's flags: headless, no network (a proxy nobody listens on, no name resolves; the page's
/// own Content-Security-Policy forbids every load anyway), no sandbox (tests run as root).
pub fn chromium(extra: &[&str], page: &str) -> std::process::Output {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: run scripts/setup-formats.sh"
    );
    let profile = TempDir::new("chromium");
    let mut cmd = Command::new(CHROMIUM);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
        "--proxy-server=127.0.0.1:9",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--enable-logging=stderr",
        "--v=0",
        "--hide-scrollbars",
    ])
    .arg(format!("--user-data-dir={}", profile.0.display()))
    .args(extra)
    .arg(format!("file://{page}"));
    run_with_timeout(&mut cmd)
}

/// The page's DOM after its script ran; fails on any console message (errors, CSP refusals) and
/// unless the script finished (`data-rendered="ok"`) without an error event.
pub fn dom_of(page: &str, ctx: &str) -> String {
    let out = chromium(&["--dump-dom"], page);
    assert!(
        out.status.success(),
        "{ctx}: chromium\n{}",
        show_output(&out)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    let console: Vec<&str> = err.lines().filter(|l| l.contains(":CONSOLE")).collect();
    assert!(
        console.is_empty(),
        "{ctx}: console messages\n{}",
        console.join("\n")
    );
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        dom.contains("data-rendered=\"ok\""),
        "{ctx}: the page did not finish rendering"
    );
    assert!(!dom.contains("data-errors="), "{ctx}: error events\n{dom}");
    dom
}

pub fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// The rows of the table `id` in a DOM: each row's `data-*` attributes, in the order shown.
pub fn rows(dom: &str, id: &str) -> Vec<BTreeMap<String, String>> {
    let start = dom
        .find(&format!("<table id=\"{id}\""))
        .unwrap_or_else(|| panic!("no table {id}"));
    let end = start + dom[start..].find("</table>").expect("table end");
    let mut out = Vec::new();
    for tr in dom[start..end].split("<tr ").skip(1) {
        let head = &tr[..tr.find('>').unwrap_or(0)];
        let mut row = BTreeMap::new();
        for part in head.split("\" ") {
            if let Some((k, v)) = part.trim().split_once("=\"") {
                if let Some(k) = k.strip_prefix("data-") {
                    row.insert(k.to_string(), unescape(v.trim_end_matches('"')));
                }
            }
        }
        out.push(row);
    }
    out
}

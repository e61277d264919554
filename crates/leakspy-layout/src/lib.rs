//! CPython struct layouts as data.
//!
//! The source of truth is `python-layouts/*.toml` at the repository root (one file per CPython minor
//! version, plus variants where offsets move inside a minor). They are generated from real headers by
//! `tools/layoutgen` and embedded into the binary at build time. This crate is pure: it parses, selects
//! and cross-checks layouts, and never touches a process.
#![forbid(unsafe_code)]

mod debug_offsets;
mod numpy;
mod schema;

pub use debug_offsets::{DebugOffsets, Mismatch};
pub use numpy::{numpy_layouts, NumpyLayout, NumpyLayouts};
pub use schema::*;

use std::fmt;

/// A CPython version as `PY_VERSION_HEX` spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PyVersion {
    pub major: u8,
    pub minor: u8,
    pub patch: u8,
    /// 0xA alpha, 0xB beta, 0xC candidate, 0xF final
    pub level: u8,
    pub serial: u8,
}

impl PyVersion {
    pub fn from_hex(hex: u64) -> PyVersion {
        PyVersion {
            major: ((hex >> 24) & 0xff) as u8,
            minor: ((hex >> 16) & 0xff) as u8,
            patch: ((hex >> 8) & 0xff) as u8,
            level: ((hex >> 4) & 0xf) as u8,
            serial: (hex & 0xf) as u8,
        }
    }

    pub fn to_hex(self) -> u64 {
        (u64::from(self.major) << 24)
            | (u64::from(self.minor) << 16)
            | (u64::from(self.patch) << 8)
            | (u64::from(self.level) << 4)
            | u64::from(self.serial)
    }

    /// Parse "3.12.1", "3.13.0rc2", "3.14.0a1" (anything after the patch digits is the release level).
    pub fn parse(s: &str) -> Option<PyVersion> {
        let mut it = s.splitn(3, '.');
        let major = it.next()?.parse().ok()?;
        let minor = it.next()?.parse().ok()?;
        let rest = it.next()?;
        let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        let patch = digits.parse().ok()?;
        let tail = &rest[digits.len()..];
        let (level, serial) = if tail.is_empty() || tail.starts_with('+') {
            (0xF, 0)
        } else {
            let (lvl, num) = if let Some(n) = tail.strip_prefix("rc") {
                (0xC, n)
            } else if let Some(n) = tail.strip_prefix('a') {
                (0xA, n)
            } else if let Some(n) = tail.strip_prefix('b') {
                (0xB, n)
            } else {
                return None;
            };
            let n: String = num.chars().take_while(|c| c.is_ascii_digit()).collect();
            (lvl, n.parse().unwrap_or(0))
        };
        Some(PyVersion {
            major,
            minor,
            patch,
            level,
            serial,
        })
    }

    pub fn minor_str(self) -> String {
        format!("{}.{}", self.major, self.minor)
    }
}

impl fmt::Display for PyVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)?;
        match self.level {
            0xA => write!(f, "a{}", self.serial),
            0xB => write!(f, "b{}", self.serial),
            0xC => write!(f, "rc{}", self.serial),
            _ => Ok(()),
        }
    }
}

/// A layout file embedded at build time.
#[derive(Debug, Clone, Copy)]
pub struct Embedded {
    /// File name inside `python-layouts/`.
    pub file: &'static str,
    pub text: &'static str,
}

macro_rules! embed {
    ($($name:literal),* $(,)?) => {
        &[$(Embedded { file: $name, text: include_str!(concat!("../../../python-layouts/", $name)) }),*]
    };
}

/// Every layout shipped with leakspy.
pub const EMBEDDED: &[Embedded] = embed!(
    "3.6.toml",
    "3.7.toml",
    "3.8.toml",
    "3.9.toml",
    "3.10.toml",
    "3.11.toml",
    "3.12.toml",
    "3.13.toml",
    "3.13-debian.toml",
    "3.14.toml",
    "3.15.toml",
    "3.13t.toml",
    "3.14t.toml",
    "3.15t.toml",
);

/// Errors from loading or selecting a layout.
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    #[error("layout file {file} is invalid: {msg}")]
    Invalid { file: String, msg: String },
    #[error("Python {version} is not supported (supported: {supported}); {hint}")]
    Unsupported {
        version: String,
        supported: String,
        hint: String,
    },
}

/// A parsed layout plus the file it came from.
#[derive(Debug, Clone)]
pub struct LoadedLayout {
    pub file: String,
    pub layout: Layout,
}

/// Parse one layout file and check that it is self-consistent.
pub fn parse(file: &str, text: &str) -> Result<LoadedLayout, LayoutError> {
    let layout: Layout = toml::from_str(text).map_err(|e| LayoutError::Invalid {
        file: file.to_string(),
        msg: toml_error_line(text, &e),
    })?;
    validate(&layout).map_err(|msg| LayoutError::Invalid {
        file: file.to_string(),
        msg,
    })?;
    Ok(LoadedLayout {
        file: file.to_string(),
        layout,
    })
}

/// A TOML error as one line ("line L, column C: message"): toml's own Display is a multi-line
/// snippet, and errors are printed as one line.
fn toml_error_line(text: &str, e: &toml::de::Error) -> String {
    let msg = e.message().split_whitespace().collect::<Vec<_>>().join(" ");
    match e.span() {
        Some(span) if span.start <= text.len() && text.is_char_boundary(span.start) => {
            let before = &text[..span.start];
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            format!("line {line}, column {column}: {msg}")
        }
        _ => msg,
    }
}

fn validate(l: &Layout) -> Result<(), String> {
    if l.free_threaded.is_some() {
        // free-threaded: no GC lists to walk (objects are found in mimalloc's heaps)
        if !l.gc.list_heads.is_empty() || !l.gc.list_names.is_empty() {
            return Err("a free-threaded layout has no gc list heads".into());
        }
    } else if l.gc.list_heads.is_empty() || l.gc.list_heads.len() != l.gc.list_names.len() {
        return Err("gc.list_heads and gc.list_names must be non-empty and of equal length".into());
    }
    if l.interp.gc.is_some() == l.runtime.gc.is_some() {
        return Err("exactly one of interp.gc and runtime.gc must be set".into());
    }
    if let Some(p) = l.gc.permanent_generation {
        if l.gc.list_heads.last() != Some(&p) {
            return Err("the last gc list head must be permanent_generation".into());
        }
    }
    if l.gc
        .list_heads
        .iter()
        .any(|&o| o + l.gc.head_size > l.gc.size)
    {
        return Err("a gc list head lies outside the gc state".into());
    }
    let frames_ok = l.tstate.frame.is_some()
        || (l.tstate.cframe.is_some() && l.tstate.cframe_current_frame.is_some())
        || l.tstate.current_frame.is_some();
    if !frames_ok {
        return Err("tstate has no way to reach the current frame".into());
    }
    if l.tstate.frame.is_none() && l.iframe.is_none() {
        return Err("versions without tstate.frame need an [iframe] section".into());
    }
    match l.code.linetable_format.as_str() {
        "lnotab" | "pep626" | "pep657" => {}
        other => return Err(format!("unknown linetable_format {other:?}")),
    }
    match l.misc.getsizeof_rule.as_str() {
        "gc_only" | "preheader" | "preheader_not_static_type" => {}
        other => return Err(format!("unknown getsizeof_rule {other:?}")),
    }
    for (name, off) in [
        ("next", l.tstate.next),
        ("interp", l.tstate.interp),
        ("thread_id", l.tstate.thread_id),
    ] {
        if off + 8 > l.tstate.size {
            return Err(format!("tstate.{name} lies outside sizeof(PyThreadState)"));
        }
    }
    Ok(())
}

/// The `variant` of free-threaded layouts (`3.Xt.toml`, the ones with a `[free_threaded]` section).
pub const FREE_THREADED_VARIANT: &str = "freethreaded";

/// Just the `[python]` section of a layout file's text (its first section, as generated), parsed on
/// its own: enough to tell whether the file applies to a version.
fn meta(text: &str) -> Option<schema::Meta> {
    #[derive(serde::Deserialize)]
    struct Head {
        python: schema::Meta,
    }
    let start = text.find("[python]")?;
    let rest = &text[start..];
    let end = rest[1..].find("\n[").map_or(rest.len(), |i| i + 2);
    toml::from_str::<Head>(&rest[..end]).ok().map(|h| h.python)
}

/// What a shipped layout file covers, known from its `[python]` section alone (cheap: no full parse).
#[derive(Debug, Clone)]
pub struct Shipped {
    pub file: &'static str,
    pub python: schema::Meta,
    /// A free-threaded build's layout (`3.Xt.toml`).
    pub free_threaded: bool,
    /// It carries a `[mimalloc]` section: the heap of that free-threaded build is read.
    pub heap: bool,
}

/// Every embedded layout's coverage, without parsing the files whole.
pub fn shipped() -> Vec<Shipped> {
    EMBEDDED
        .iter()
        .filter_map(|e| {
            let python = meta(e.text)?;
            let free_threaded = python.variant == FREE_THREADED_VARIANT;
            Some(Shipped {
                file: e.file,
                heap: !free_threaded || e.text.contains("\n[mimalloc]\n"),
                python,
                free_threaded,
            })
        })
        .collect()
}

/// All embedded layouts, parsed. Panics only if a shipped file is broken (a unit test guards this).
pub fn all() -> Vec<LoadedLayout> {
    EMBEDDED
        .iter()
        .map(|e| parse(e.file, e.text).unwrap_or_else(|err| panic!("{err}")))
        .collect()
}

/// Supported versions, for messages: "3.9, 3.10, ...".
pub fn supported_list() -> String {
    let mut v: Vec<String> = Vec::new();
    // default (GIL) builds; free-threaded ones are named in their own message
    for l in shipped().into_iter().filter(|l| !l.free_threaded) {
        let m = &l.python;
        let s = match (m.min_patch, m.max_patch) {
            (0, None) => m.minor.clone(),
            (lo, None) => format!("{}.{}+", m.minor, lo),
            (lo, Some(hi)) => format!("{}.{}-{}.{}", m.minor, lo, m.minor, hi),
        };
        if !v.contains(&s) {
            v.push(s);
        }
    }
    v.join(", ")
}

/// Candidate layouts for a version, in the order they should be tried (default variant first).
/// Several candidates remain when the variant can only be told apart by probing the target.
/// Default (GIL) builds only: free-threaded ones are [`candidates_for`]`(version, true)`.
pub fn candidates(version: PyVersion) -> Result<Vec<LoadedLayout>, LayoutError> {
    candidates_for(version, false)
}

/// Candidate layouts for a version of a default (`free_threaded` false) or free-threaded build.
pub fn candidates_for(
    version: PyVersion,
    free_threaded: bool,
) -> Result<Vec<LoadedLayout>, LayoutError> {
    let minor = version.minor_str();
    // Only the matching files are parsed whole (a full parse of all of them is most of a
    // stacks-only dump's start-up); each file's `[python]` section says whether it matches.
    let mut out: Vec<LoadedLayout> = EMBEDDED
        .iter()
        .filter(|e| {
            meta(e.text).is_some_and(|m| {
                (m.variant == FREE_THREADED_VARIANT) == free_threaded
                    && m.minor == minor
                    && u32::from(version.patch) >= m.min_patch
                    && m.max_patch.is_none_or(|hi| u32::from(version.patch) <= hi)
            })
        })
        .map(|e| parse(e.file, e.text).unwrap_or_else(|err| panic!("{err}")))
        .collect();
    out.sort_by_key(|l| l.layout.python.variant != "default");
    if out.is_empty() {
        let hint = if free_threaded {
            "free-threaded builds are read from 3.13 on (3.13t, 3.14t, 3.15t); see the \
             supported-versions table in docs/testing.md"
                .to_string()
        } else if version.major == 3 && version.minor == 14 && version.patch < 5 {
            "3.14.0-3.14.4 use the incremental garbage collector, for which no interpreter was available to \
             test against; upgrade the target to 3.14.5 or later"
                .to_string()
        } else {
            "see the supported-versions table in docs/testing.md; --layout FILE loads a layout for another build"
                .to_string()
        };
        return Err(LayoutError::Unsupported {
            version: version.to_string(),
            supported: supported_list(),
            hint,
        });
    }
    Ok(out)
}

/// The 8-byte cookie that starts `_PyRuntime` from 3.13 on.
pub fn debug_offsets_cookie() -> &'static [u8; 8] {
    debug_offsets::COOKIE
}

/// Bytes of `_Py_DebugOffsets` to read for a minor version (None before 3.13 / unknown minors).
pub fn debug_offsets_blob_len(minor: u8) -> Option<usize> {
    debug_offsets::blob_len(minor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_layout_parses_and_validates() {
        let all = all();
        assert_eq!(all.len(), EMBEDDED.len());
    }

    /// Candidate selection reads only the `[python]` section: it must be the file's own, and the
    /// free-threaded variant name must mean exactly a `[free_threaded]` section.
    #[test]
    fn python_section_alone_matches_the_whole_file() {
        for (e, l) in EMBEDDED.iter().zip(all()) {
            assert_eq!(meta(e.text).as_ref(), Some(&l.layout.python), "{}", e.file);
            assert_eq!(
                l.layout.python.variant == FREE_THREADED_VARIANT,
                l.layout.free_threaded.is_some(),
                "{}",
                e.file
            );
        }
        for (sh, l) in shipped().iter().zip(all()) {
            assert_eq!(sh.file, l.file);
            assert_eq!(
                sh.heap,
                l.layout.free_threaded.is_none() || l.layout.mimalloc.is_some()
            );
        }
        assert!(meta("garbage [python").is_none());
        assert!(meta("").is_none());
    }

    #[test]
    fn version_parsing() {
        let v = PyVersion::parse("3.13.0rc2").unwrap();
        assert_eq!((v.minor, v.patch, v.level, v.serial), (13, 0, 0xC, 2));
        assert_eq!(PyVersion::from_hex(0x030d12f0).to_string(), "3.13.18");
        assert_eq!(PyVersion::parse("3.12.1").unwrap().to_hex(), 0x030c01f0);
    }

    #[test]
    fn free_threaded_layouts_are_chosen_only_for_free_threaded_builds() {
        for v in ["3.13.15", "3.14.10", "3.15.2"] {
            let v = PyVersion::parse(v).unwrap();
            let ft = candidates_for(v, true).unwrap();
            assert_eq!(ft.len(), 1, "{v}");
            assert!(ft[0].file.ends_with("t.toml"), "{}", ft[0].file);
            let ft_layout = ft[0].layout.free_threaded.as_ref().unwrap();
            // the split header: ob_tid first, ob_type after both counts (Include/object.h)
            assert_eq!(ft_layout.ob_tid, 0);
            assert!(ft_layout.ob_ref_shared > ft_layout.ob_ref_local);
            assert!(ft[0].layout.object.ob_type > ft_layout.ob_ref_shared);
            assert_eq!(ft_layout.live_verified, v.minor == 13);
            assert_eq!(ft_layout.tlbc_index.is_some(), v.minor >= 14);
            assert!(candidates(v)
                .unwrap()
                .iter()
                .all(|l| l.layout.free_threaded.is_none()));
        }
        let err = candidates_for(PyVersion::parse("3.12.1").unwrap(), true)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("free-threaded builds are read from 3.13"),
            "{err}"
        );
    }

    #[test]
    fn incremental_gc_314_is_refused_with_a_reason() {
        let err = candidates(PyVersion::parse("3.14.2").unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.contains("incremental"), "{err}");
    }
}

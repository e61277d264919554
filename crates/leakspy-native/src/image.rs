//! One loaded ELF image: its parsed tables, where it sits in the target, and its line information
//! (from the file itself or its separate debug file), read on first use.

use crate::elf::{demangle, read_shared, ElfFile};
use gimli::{EndianArcSlice, LittleEndian};
use std::cell::OnceCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;

type R = EndianArcSlice<LittleEndian>;

/// A parsed image, shared by every mapping and thread that uses it (cached per build-id).
pub struct Image {
    pub elf: ElfFile,
    /// Where the file was read from (leakspy's view).
    pub file: PathBuf,
    /// Candidate separate debug files (build-id path, then `.gnu_debuglink` places).
    debug_candidates: Vec<PathBuf>,
    lines: OnceCell<Option<Lines>>,
}

struct Lines {
    ctx: addr2line::Context<R>,
}

/// One source-level frame at an address: innermost (inlined) first, the function that holds the
/// code last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFrame {
    pub function: Option<String>,
    pub filename: Option<String>,
    pub line: Option<u32>,
}

impl Image {
    /// Read `file`; `debug_root` is the root separate debug files are looked up under
    /// (`/proc/PID/root` or a sysroot; `/` for the host).
    pub fn load(file: &Path, debug_root: &Path) -> Option<Image> {
        // Only ELF files are read whole (a map also holds data files such as locale archives).
        let mut magic = [0u8; 4];
        std::io::Read::read_exact(&mut std::fs::File::open(file).ok()?, &mut magic).ok()?;
        if magic != *b"\x7fELF" {
            return None;
        }
        let elf = ElfFile::parse_shared(read_shared(file)?)?;
        let mut debug_candidates = Vec::new();
        if !elf.has_lines() {
            let debug = debug_root.join("usr/lib/debug");
            if let Some(id) = elf.build_id.as_ref().filter(|id| id.len() > 1) {
                let h = leakspy_memory::hex(id);
                debug_candidates.push(debug.join(format!(
                    ".build-id/{}/{}.debug",
                    &h[..2],
                    &h[2..]
                )));
            }
            if let Some(link) = &elf.debuglink {
                if let Some(dir) = file.parent() {
                    debug_candidates.push(dir.join(link));
                    debug_candidates.push(dir.join(".debug").join(link));
                }
                if let Some(target_dir) =
                    file.strip_prefix(debug_root).ok().and_then(|p| p.parent())
                {
                    debug_candidates.push(debug.join(target_dir).join(link));
                }
            }
        }
        Some(Image {
            elf,
            file: file.to_path_buf(),
            debug_candidates,
            lines: OnceCell::new(),
        })
    }

    fn lines(&self) -> Option<&Lines> {
        self.lines
            .get_or_init(|| {
                if self.elf.has_lines() {
                    return lines_of(&self.elf);
                }
                for c in &self.debug_candidates {
                    let Some(bytes) = read_shared(c) else {
                        continue;
                    };
                    let Some(d) = ElfFile::parse_shared(bytes) else {
                        continue;
                    };
                    // A debug file of another build would give wrong lines: the build-ids must match.
                    if d.build_id.is_some() && d.build_id != self.elf.build_id {
                        continue;
                    }
                    if let Some(l) = lines_of(&d) {
                        return Some(l);
                    }
                }
                None
            })
            .as_ref()
    }

    /// Whether line information was found (own DWARF or a debug file).
    pub fn has_debug_info(&self) -> bool {
        self.lines().is_some()
    }

    /// Source frames at `svma` (a file-relative address): inlined ones first. Empty without DWARF.
    pub fn source_frames(&self, svma: u64) -> Vec<SourceFrame> {
        let Some(l) = self.lines() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        if let Ok(mut it) = l.ctx.find_frames(svma).skip_all_loads() {
            while let Ok(Some(f)) = it.next() {
                if out.len() >= 64 {
                    break;
                }
                let function = f
                    .function
                    .as_ref()
                    .and_then(|n| n.raw_name().ok())
                    .map(|n| demangle(&n));
                let (filename, line) = f
                    .location
                    .map(|l| (l.file.map(str::to_string), l.line))
                    .unwrap_or((None, None));
                out.push(SourceFrame {
                    function,
                    filename,
                    line,
                });
            }
        }
        out
    }

    /// The symbol-table name of the function at `svma`, demangled.
    pub fn symbol(&self, svma: u64) -> Option<(String, u64)> {
        self.elf
            .symbols_at(svma)
            .first()
            .map(|s| (demangle(&s.name), s.addr))
    }

    /// Every symbol-table name at the function that holds `svma` (aliases), demangled.
    pub fn aliases(&self, svma: u64) -> Vec<String> {
        self.elf
            .symbols_at(svma)
            .iter()
            .map(|s| demangle(&s.name))
            .collect()
    }
}

fn lines_of(elf: &ElfFile) -> Option<Lines> {
    let load = |id: gimli::SectionId| -> Result<R, gimli::Error> {
        let name = id.name().trim_start_matches('.');
        // addr2line never reads location lists or macros: not decompressing them saves time.
        let unused = matches!(
            name,
            "debug_loc" | "debug_loclists" | "debug_macinfo" | "debug_macro"
        );
        Ok(elf
            .dwarf
            .get(name)
            .filter(|_| !unused)
            .and_then(|d| d.bytes())
            .map(|b| b.reader())
            .unwrap_or_else(|| EndianArcSlice::new(Arc::from(&[][..]), LittleEndian)))
    };
    let dwarf = gimli::Dwarf::load(load).ok()?;
    let ctx = addr2line::Context::from_dwarf(dwarf).ok()?;
    Some(Lines { ctx })
}

/// Images parsed once per build-id (or per file when it has none) and kept across threads and
/// dumps.
#[derive(Default)]
pub struct ImageCache {
    by_key: std::collections::HashMap<String, Option<Rc<Image>>>,
}

impl ImageCache {
    pub fn get(&mut self, file: &Path, debug_root: &Path) -> Option<Rc<Image>> {
        let key = match leakspy_memory::file_build_id(file) {
            Some(id) => leakspy_memory::hex(&id),
            None => format!("path:{}", file.display()),
        };
        self.by_key
            .entry(key)
            .or_insert_with(|| Image::load(file, debug_root).map(Rc::new))
            .clone()
    }
}

//! Which image holds an address: the target's file mappings grouped per file, each with its load
//! bias (runtime address − the file's own address).

use crate::image::{Image, ImageCache};
use leakspy_memory::Mapping;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// One mapped file of the target.
pub struct Module {
    /// Path as the target sees it.
    pub path: String,
    pub start: u64,
    pub end: u64,
    /// Runtime address − SVMA.
    pub bias: u64,
    /// `None` when the file could not be read or parsed (frames in it get no symbols and can only be
    /// unwound by frame pointers).
    pub image: Option<Rc<Image>>,
}

/// Every module of a target, sorted by address.
#[derive(Default)]
pub struct ModuleMap {
    mods: Vec<Module>,
}

impl ModuleMap {
    /// `open` turns a target path into a file leakspy can read (`/proc/PID/root/...`, a sysroot, a
    /// core's verified backing file); `debug_root` is where `usr/lib/debug` is looked up.
    pub fn new(
        maps: &[Mapping],
        open: &dyn Fn(&str) -> Option<PathBuf>,
        debug_root: &Path,
        cache: &mut ImageCache,
    ) -> ModuleMap {
        let mut mods: Vec<Module> = Vec::new();
        let mut i = 0;
        while i < maps.len() {
            let m = &maps[i];
            let mut j = i + 1;
            while j < maps.len() && maps[j].path == m.path && maps[j].inode == m.inode {
                j += 1;
            }
            let group = &maps[i..j];
            i = j;
            if !m.is_file() {
                continue;
            }
            // A core's map has no permissions for what it did not dump (gcore leaves text out), so
            // any file that parses as ELF counts; other files only when mapped executable.
            let image = open(&m.path).and_then(|f| cache.get(&f, debug_root));
            if image.is_none() && !group.iter().any(|g| g.executable) {
                continue;
            }
            let bias = image
                .as_ref()
                .and_then(|img| bias_of(group, img))
                .unwrap_or(group[0].start.wrapping_sub(group[0].offset));
            mods.push(Module {
                path: m.path.clone(),
                start: group[0].start,
                end: group.last().map_or(m.end, |g| g.end),
                bias,
                image,
            });
        }
        mods.sort_by_key(|m| m.start);
        ModuleMap { mods }
    }

    /// The module whose mappings span `addr`.
    pub fn find(&self, addr: u64) -> Option<&Module> {
        let i = self.mods.partition_point(|m| m.start <= addr);
        let m = self.mods.get(i.checked_sub(1)?)?;
        (addr < m.end).then_some(m)
    }

    pub fn modules(&self) -> &[Module] {
        &self.mods
    }
}

/// The bias from a mapping whose file offset starts a `PT_LOAD` (page-aligned).
fn bias_of(group: &[Mapping], img: &Image) -> Option<u64> {
    for m in group {
        for l in &img.elf.loads {
            if l.offset & !0xfff == m.offset {
                return Some(m.start.wrapping_sub(l.vaddr & !0xfff));
            }
        }
    }
    None
}

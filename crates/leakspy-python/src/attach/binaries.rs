//! Finding the interpreter's ELF image(s) in a target and the few symbols leakspy needs.
//!
//! The runtime lives either in `libpython3.X*.so*` (shared builds, pyenv) or in the `python3.X`
//! executable itself (static distro builds such as Debian's, which are also non-PIE). Where the files
//! come from is a [`FileSource`]: for a live process [`ProcFiles`] opens them through `/proc/PID/root`
//! (chroots, containers) or `/proc/PID/map_files` (deleted or replaced files); a core file opens them
//! under a sysroot after a build-id check (`crate::coredump`).

use crate::error::{Error, Result};
use goblin::elf::{program_header::PT_LOAD, Elf};
use leakspy_memory::Mapping;
use std::collections::HashMap;

/// Symbols looked up in every candidate image.
const WANTED: &[&str] = &[
    "_PyRuntime",
    "Py_Version",
    "_Py_hashtable_hash_ptr",
    "_Py_hashtable_compare_direct",
    // 3.9-3.11 tracemalloc: the exported config, and the static table (only in unstripped builds).
    "_Py_tracemalloc_config",
    "tracemalloc_traces",
    // pymalloc's arena table: 3.9-3.11 file statics (unstripped builds only).
    "arenas",
    "maxarenas",
    // 3.6/3.7 tracemalloc: the config is a file static too.
    "tracemalloc_config",
    // 3.6 (no `_PyRuntime`): the globals a 3.6 layout's [globals] names (file statics).
    "interp_head",
    "_PyThreadState_Current",
    "gil_last_holder",
    "gil_locked",
    // 3.6: the GIL's condition variable and mutex (what a thread waiting for the GIL sleeps on).
    "gil_cond",
    "gil_mutex",
    "generations",
    "collecting",
];

/// One mapped ELF image that may hold the interpreter.
#[derive(Debug, Clone)]
pub struct Image {
    /// Path as the target sees it.
    pub path: String,
    /// Path leakspy opened it through.
    pub opened: String,
    /// Load bias: runtime address = bias + ELF virtual address.
    pub bias: u64,
    /// Wanted symbols found (runtime addresses).
    pub symbols: HashMap<String, u64>,
    /// Exported static type objects (`.dynsym` names `Py*_Type` / `_Py*_Type`), runtime addresses:
    /// the types of objects the GC does not track (str, int, float...) are among them.
    pub static_types: Vec<u64>,
    /// `.PyRuntime` section (runtime address, size), 3.10+.
    pub pyruntime_section: Option<(u64, u64)>,
    /// Writable data sections (`.data`, `.bss`) as runtime (address, size): where `sys.version` lives.
    pub data_sections: Vec<(u64, u64)>,
    /// ELF type is a shared object (libpython or PIE executable).
    pub is_shared: bool,
}

impl Image {
    pub fn runtime(&self) -> Option<u64> {
        self.symbols
            .get("_PyRuntime")
            .copied()
            .or(self.pyruntime_section.map(|s| s.0))
    }
    pub fn file_name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }
}

/// Whether a mapped file's name looks like a Python interpreter or libpython (`python3.12`,
/// `python3.13t`, `libpython3.12.so.1.0`, `libpython3.13t.so`, `python3.12d`...).
pub fn looks_like_python(path: &str) -> bool {
    let path = path.trim_end_matches(" (deleted)");
    let name = path.rsplit('/').next().unwrap_or(path);
    let rest = name.strip_prefix("lib").unwrap_or(name);
    let Some(rest) = rest.strip_prefix("python") else {
        return false;
    };
    // python, python3, python3.12, python3.13t, python3.12d, python3.12.so.1.0 ...
    rest.chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-')
}

/// Where the bytes of a mapped file come from.
pub trait FileSource {
    /// The whole file the target maps as `path` (the name in its maps, maybe ending in
    /// " (deleted)"), and a description of where it was read from.
    fn read(&self, path: &str, maps: &[Mapping]) -> std::io::Result<(Vec<u8>, String)>;

    /// Like [`FileSource::read`], but only the parts of the file symbol lookup reads need hold
    /// their bytes (the rest may be zeros: [`super::elf_sparse`]).
    fn read_for_symbols(&self, path: &str, maps: &[Mapping]) -> std::io::Result<(Vec<u8>, String)> {
        self.read(path, maps)
    }

    /// `path` as the target itself names it (what reports show).
    fn target_view(&self, path: &str) -> String {
        path.to_string()
    }
}

/// A live process's files, as the process sees them.
#[derive(Debug, Clone, Copy)]
pub struct ProcFiles {
    pub pid: i32,
}

impl FileSource for ProcFiles {
    fn read(&self, path: &str, maps: &[Mapping]) -> std::io::Result<(Vec<u8>, String)> {
        self.read_with(path, maps, &|p| std::fs::read(p))
    }

    fn read_for_symbols(&self, path: &str, maps: &[Mapping]) -> std::io::Result<(Vec<u8>, String)> {
        self.read_with(path, maps, &|p| super::elf_sparse::read_sparse(p))
    }

    /// The kernel shows a mapped file's path from the reader's root. For a target chrooted below
    /// that root (a chroot, `unshare` + `chroot`), strip the target's root so that the path is the
    /// one the target uses; a container in its own mount namespace is already shown from its root.
    fn target_view(&self, path: &str) -> String {
        let root = std::fs::read_link(format!("/proc/{}/root", self.pid))
            .map(|r| r.display().to_string())
            .unwrap_or_default();
        match path.strip_prefix(root.as_str()) {
            Some(rest) if root.len() > 1 && rest.starts_with('/') => rest.to_string(),
            _ => path.to_string(),
        }
    }
}

/// How a file's bytes are read (whole, or only what symbol lookup needs).
type ReadFn<'f> = &'f dyn Fn(&str) -> std::io::Result<Vec<u8>>;

impl ProcFiles {
    fn read_with(
        &self,
        path: &str,
        maps: &[Mapping],
        read: ReadFn<'_>,
    ) -> std::io::Result<(Vec<u8>, String)> {
        // A chrooted target's maps name files from leakspy's root; open them through its own root
        // first, which needs no more rights than reading its memory (map_files needs
        // CAP_SYS_ADMIN).
        let own = self.target_view(path);
        if own != path && !path.ends_with(" (deleted)") {
            let via_root = leakspy_memory::proc::target_path(self.pid, &own);
            if let Ok(b) = read(&via_root) {
                return Ok((b, via_root));
            }
        }
        read_file(self.pid, maps, path, read)
    }
}

/// Every python-looking image in `maps`, each parsed (unparseable ones are skipped and reported in
/// the returned notes).
pub fn find_images(files: &dyn FileSource, maps: &[Mapping]) -> (Vec<Image>, Vec<String>) {
    let mut seen: Vec<&str> = Vec::new();
    let mut images = Vec::new();
    let mut notes = Vec::new();
    for m in maps
        .iter()
        .filter(|m| m.is_file() && looks_like_python(&m.path))
    {
        if seen.contains(&m.path.as_str()) {
            continue;
        }
        seen.push(&m.path);
        let Some(base) = maps
            .iter()
            .filter(|x| x.path == m.path)
            .map(|x| x.start - x.offset)
            .min()
        else {
            continue;
        };
        match open_image(files, maps, &m.path, base) {
            Ok(mut img) => {
                img.path = files.target_view(&m.path);
                images.push(img)
            }
            Err(e) => notes.push(format!("{}: {e}", m.path)),
        }
    }
    // libpython first: in shared builds the executable is only a small stub.
    images.sort_by_key(|i| !i.file_name().starts_with("libpython"));
    (images, notes)
}

fn read_file(
    pid: i32,
    maps: &[Mapping],
    path: &str,
    read: ReadFn<'_>,
) -> std::io::Result<(Vec<u8>, String)> {
    let clean = path.trim_end_matches(" (deleted)");
    let via_root = leakspy_memory::proc::target_path(pid, clean);
    if !path.ends_with(" (deleted)") {
        if let Ok(b) = read(&via_root) {
            return Ok((b, via_root));
        }
    }
    // Deleted or unreachable through the root: the kernel still holds the mapped file.
    let m = maps
        .iter()
        .find(|m| m.path == path && m.offset == 0)
        .or_else(|| maps.iter().find(|m| m.path == path));
    match m {
        Some(m) => {
            let p = format!("/proc/{pid}/map_files/{:x}-{:x}", m.start, m.end);
            read(&p).map(|b| (b, p))
        }
        None => Err(std::io::Error::from(std::io::ErrorKind::NotFound)),
    }
}

fn open_image(files: &dyn FileSource, maps: &[Mapping], path: &str, base: u64) -> Result<Image> {
    let (bytes, opened) = files
        .read_for_symbols(path, maps)
        .map_err(|e| Error::Other(format!("cannot open: {e}")))?;
    parse_image(&bytes, path, opened, base)
}

/// Parse an ELF image loaded at `base` (start of its offset-0 mapping).
pub fn parse_image(bytes: &[u8], path: &str, opened: String, base: u64) -> Result<Image> {
    let elf =
        Elf::parse(bytes).map_err(|e| Error::Other(format!("not a readable ELF file: {e}")))?;
    let first_load = elf
        .program_headers
        .iter()
        .filter(|p| p.p_type == PT_LOAD)
        .map(|p| p.p_vaddr & !0xfff)
        .min()
        .unwrap_or(0);
    let bias = base.wrapping_sub(first_load);
    let mut symbols = HashMap::new();
    let mut static_types = Vec::new();
    for (dynamic, strtab, syms) in [
        (true, &elf.dynstrtab, &elf.dynsyms),
        (false, &elf.strtab, &elf.syms),
    ] {
        for s in syms.iter() {
            if s.st_value == 0 {
                continue;
            }
            if let Some(name) = strtab.get_at(s.st_name) {
                // Objects only: `PyObject_Type` is a function, and reading its code as a type
                // maps pages of text into the target.
                if dynamic
                    && !s.is_import()
                    && s.st_type() == goblin::elf::sym::STT_OBJECT
                    && (name.starts_with("Py") || name.starts_with("_Py"))
                    && name.ends_with("_Type")
                {
                    static_types.push(bias.wrapping_add(s.st_value));
                }
                if WANTED.contains(&name) && !symbols.contains_key(name) {
                    symbols.insert(name.to_string(), bias.wrapping_add(s.st_value));
                }
            }
        }
    }
    let mut pyruntime_section = None;
    let mut data_sections = Vec::new();
    for sh in &elf.section_headers {
        let name = elf.shdr_strtab.get_at(sh.sh_name).unwrap_or("");
        let addr = bias.wrapping_add(sh.sh_addr);
        match name {
            ".PyRuntime" => pyruntime_section = Some((addr, sh.sh_size)),
            ".data" | ".bss" => data_sections.push((addr, sh.sh_size)),
            _ => {}
        }
    }
    Ok(Image {
        path: path.to_string(),
        opened,
        bias,
        symbols,
        static_types,
        pyruntime_section,
        data_sections,
        is_shared: elf.header.e_type == goblin::elf::header::ET_DYN,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_names() {
        for yes in [
            "/usr/bin/python3.12",
            "/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0",
            "/opt/py/lib/libpython3.13t.so.1.0",
            "/usr/bin/python3.14 (deleted)",
            "/usr/local/bin/python3",
        ] {
            assert!(looks_like_python(yes), "{yes}");
        }
        for no in [
            "/usr/lib/python3.12/lib-dynload/_json.cpython-312-x86_64-linux-gnu.so",
            "/usr/lib/libc.so.6",
            "/usr/lib/libboost_python3.so",
            "/x/python3.12/site-packages/foo.so",
        ] {
            assert!(!looks_like_python(no), "{no}");
        }
    }
}

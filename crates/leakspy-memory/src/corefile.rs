//! ELF core files (`gcore`, kernel or systemd-coredump cores) as a [`Memory`].
//!
//! A core holds the target's memory as `PT_LOAD` segments and what the kernel (or gdb) knew about the
//! process as notes: one `NT_PRSTATUS` per thread (TID and registers), `NT_PRPSINFO` (pid, command),
//! `NT_AUXV`, and `NT_FILE` (which file is mapped where). Dumpers leave out what can be re-read from
//! disk: file-backed pages nobody wrote to (`.text`, `.rodata`: the strings CPython's static type
//! names live in), apart from each image's first page (the ELF header, with its build-id). Those
//! holes — a segment's `p_filesz < p_memsz`, or an `NT_FILE` mapping with no segment at all — are read
//! from the files named in `NT_FILE`, looked up under a sysroot first (a kernel core of a chrooted or
//! containerised process names files as *that* process saw them), and only after their build-id has
//! been checked against the copy of their first page in the core.
//!
//! Nothing is loaded whole: cores can be many GB. The headers and notes are read once; segment bytes
//! are read with `pread` when asked for (wrap the core in a [`crate::Snapshot`] to cache them in
//! blocks). Every length taken from the file is bounded before it is used.

use crate::{Mapping, Memory, ReadError};
use goblin::container::{Container, Ctx, Endian};
use goblin::elf::header::{Header, ELFCLASS64, ELFDATA2LSB, EM_X86_64, ET_CORE};
use goblin::elf::note::NoteDataIterator;
use goblin::elf::program_header::{ProgramHeader, PF_R, PF_W, PF_X, PT_LOAD, PT_NOTE};
use goblin::elf::Elf;
use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

const NT_PRSTATUS: u32 = 1;
const NT_PRPSINFO: u32 = 3;
const NT_AUXV: u32 = 6;
const NT_FILE: u32 = 0x4649_4c45;
const NT_GNU_BUILD_ID: u32 = 3;
const AT_ENTRY: u64 = 9;
/// x86_64 `struct elf_prstatus`: `pr_pid` offset, and `pr_reg` (`user_regs_struct`) offset.
const PRSTATUS_PID: usize = 32;
const PRSTATUS_REGS: usize = 112;
/// Index of `fs_base` in `user_regs_struct` (the thread pointer: glibc's `pthread_self()`).
const REG_FS_BASE: usize = 21;
/// x86_64 `struct elf_prpsinfo`: `pr_pid`, `pr_fname[16]`, `pr_psargs[80]`.
const PRPSINFO_PID: usize = 24;
const PRPSINFO_FNAME: usize = 40;
const PRPSINFO_PSARGS: usize = 56;
/// Most program headers / notes bytes / NT_FILE entries read from a core (garbage guards).
const MAX_PHNUM: usize = 4 << 20;
const MAX_NOTES: u64 = 256 << 20;
/// How much of a file's start is read to find its build-id note.
const BUILD_ID_PREFIX: usize = 64 << 10;

/// Why a core file cannot be used at all.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("cannot open {path}: {err}")]
    Open { path: String, err: std::io::Error },
    #[error("{path} is not an ELF core file ({why})")]
    NotCore { path: String, why: String },
    #[error("{path} is truncated: {why} (the file has {have} bytes, its headers describe {need})")]
    Truncated {
        path: String,
        why: String,
        have: u64,
        need: u64,
    },
}

/// One `PT_LOAD` segment.
#[derive(Debug, Clone, Copy)]
struct Load {
    vaddr: u64,
    memsz: u64,
    offset: u64,
    filesz: u64,
    flags: u32,
}

impl Load {
    fn end(&self) -> u64 {
        self.vaddr.saturating_add(self.memsz)
    }
}

/// One `NT_FILE` entry: `[start, end)` maps `path` from byte `offset`.
#[derive(Debug, Clone)]
pub struct FileEntry {
    pub start: u64,
    pub end: u64,
    pub offset: u64,
    /// As the dumper recorded it (the target's view for kernel cores, gdb's view for `gcore`).
    pub path: String,
}

/// One thread of the core (`NT_PRSTATUS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoreThread {
    /// TID as the dumper saw it (the target's pid namespace for kernel cores, gdb's for `gcore`).
    pub tid: i32,
    /// The thread pointer register (`pthread_self()` for glibc targets); 0 if not recorded.
    pub fs_base: u64,
    /// All of the thread's registers (`pr_reg`); zeros when the note is too short to hold them.
    pub regs: crate::Registers,
}

/// Where the on-disk copy of a mapped file was found, and whether it is the one the core was made
/// with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backing {
    /// Found, and its build-id equals the one in the core's copy of its first page.
    Verified { file: PathBuf, build_id: Vec<u8> },
    /// Found, but the core does not allow a check (first page not dumped, or no build-id note).
    Unverified { file: PathBuf, why: String },
    /// Found, but it is another build than the one the process had mapped.
    Mismatch {
        file: PathBuf,
        in_core: Vec<u8>,
        on_disk: Option<Vec<u8>>,
    },
    /// Not found on this machine.
    Missing { tried: Vec<PathBuf> },
}

impl Backing {
    /// The file to read, when it may be used.
    pub fn usable(&self) -> Option<&Path> {
        match self {
            Backing::Verified { file, .. } | Backing::Unverified { file, .. } => Some(file),
            _ => None,
        }
    }
}

/// Hex of a build-id, as `readelf -n` and `file` print it.
pub fn hex(id: &[u8]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

/// An opened core file.
#[derive(Debug)]
pub struct CoreFile {
    path: PathBuf,
    file: File,
    file_len: u64,
    /// Sorted by address.
    loads: Vec<Load>,
    /// Sorted by address.
    files: Vec<FileEntry>,
    threads: Vec<CoreThread>,
    pid: i32,
    command: String,
    auxv: Vec<(u64, u64)>,
    sysroot: Option<PathBuf>,
    exe: Option<PathBuf>,
    /// Recorded path -> where its on-disk copy is (resolved lazily, once).
    backing: Mutex<HashMap<String, Backing>>,
    opened: Mutex<HashMap<PathBuf, Option<File>>>,
    /// Bytes the headers describe beyond the end of the file.
    need: u64,
}

fn not_core(path: &Path, why: impl Into<String>) -> CoreError {
    CoreError::NotCore {
        path: path.display().to_string(),
        why: why.into(),
    }
}

fn read_at(file: &File, len: usize, offset: u64) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    file.read_exact_at(&mut buf, offset)?;
    Ok(buf)
}

fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(off..off + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], off: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(off..off + 8)?.try_into().ok()?))
}

fn cstr(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// The notes (owner, type, descriptor) in a note segment's bytes.
fn notes(data: &[u8]) -> Vec<(String, u32, Vec<u8>)> {
    let it = NoteDataIterator {
        data,
        size: data.len(),
        offset: 0,
        ctx: (4, Ctx::new(Container::Big, Endian::Little)),
    };
    it.map_while(|n| n.ok())
        .map(|n| (n.name.to_string(), n.n_type, n.desc.to_vec()))
        .collect()
}

/// The GNU build-id of an ELF image, given a way to read its bytes by file offset. Only the program
/// headers and `PT_NOTE` segments are read.
pub fn build_id_with(read: &dyn Fn(u64, usize) -> Option<Vec<u8>>) -> Option<Vec<u8>> {
    let head = read(0, 64)?;
    let h = Elf::parse_header(&head).ok()?;
    if h.e_ident[4] != ELFCLASS64 || h.e_ident[5] != ELFDATA2LSB {
        return None;
    }
    let phnum = usize::from(h.e_phnum).min(512);
    let phdrs = read(h.e_phoff, phnum * 56)?;
    let ctx = Ctx::new(Container::Big, Endian::Little);
    let phdrs = ProgramHeader::parse(&phdrs, 0, phnum, ctx).ok()?;
    for ph in phdrs.iter().filter(|p| p.p_type == PT_NOTE) {
        let len = usize::try_from(ph.p_filesz).ok()?.min(BUILD_ID_PREFIX);
        let Some(data) = read(ph.p_offset, len) else {
            continue;
        };
        if let Some((_, _, id)) = notes(&data)
            .into_iter()
            .find(|(owner, ty, _)| owner == "GNU" && *ty == NT_GNU_BUILD_ID)
        {
            return Some(id);
        }
    }
    None
}

/// The build-id of an ELF file on disk.
pub fn file_build_id(path: &Path) -> Option<Vec<u8>> {
    let f = File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    build_id_with(&|off, n| {
        let end = off.checked_add(n as u64)?;
        (end <= len).then(|| read_at(&f, n, off).ok()).flatten()
    })
}

impl CoreFile {
    /// Open and index a core file: headers, notes, segment table. Segment data is read later.
    pub fn open(path: &Path) -> Result<CoreFile, CoreError> {
        let file = File::open(path).map_err(|err| CoreError::Open {
            path: path.display().to_string(),
            err,
        })?;
        let file_len = file
            .metadata()
            .map_err(|err| CoreError::Open {
                path: path.display().to_string(),
                err,
            })?
            .len();
        if file_len < 64 {
            return Err(not_core(path, format!("only {file_len} bytes")));
        }
        let head = read_at(&file, 64, 0).map_err(|e| not_core(path, e.to_string()))?;
        if &head[..4] != b"\x7fELF" {
            return Err(not_core(path, "no ELF magic"));
        }
        let h: Header = Elf::parse_header(&head).map_err(|e| not_core(path, e.to_string()))?;
        if h.e_ident[4] != ELFCLASS64 || h.e_ident[5] != ELFDATA2LSB || h.e_machine != EM_X86_64 {
            return Err(not_core(path, "not a 64-bit little-endian x86_64 ELF file"));
        }
        if h.e_type != ET_CORE {
            return Err(not_core(
                path,
                format!(
                    "ELF type {} — an executable or library, not a core dump",
                    goblin::elf::header::et_to_str(h.e_type)
                ),
            ));
        }
        let mut need = 0u64;
        let truncated = |why: &str, need: u64| CoreError::Truncated {
            path: path.display().to_string(),
            why: why.into(),
            have: file_len,
            need,
        };
        // More than 0xfffe program headers: the real count is in section header 0's sh_info.
        let mut phnum = usize::from(h.e_phnum);
        if h.e_phnum == 0xffff {
            let sh0 = read_at(&file, 64, h.e_shoff).map_err(|_| {
                truncated(
                    "section header 0 (program header count) is missing",
                    h.e_shoff + 64,
                )
            })?;
            phnum = u32_at(&sh0, 44).unwrap_or(0) as usize;
        }
        if phnum == 0 || phnum > MAX_PHNUM || usize::from(h.e_phentsize) != 56 {
            return Err(not_core(
                path,
                format!("implausible program header table ({phnum} entries)"),
            ));
        }
        let ph_end = h.e_phoff.saturating_add(phnum as u64 * 56);
        let ph_bytes = read_at(&file, phnum * 56, h.e_phoff)
            .map_err(|_| truncated("the program header table is cut off", ph_end))?;
        let ctx = Ctx::new(Container::Big, Endian::Little);
        let phdrs = ProgramHeader::parse(&ph_bytes, 0, phnum, ctx)
            .map_err(|e| not_core(path, e.to_string()))?;

        let mut loads = Vec::new();
        let mut note_bytes = Vec::new();
        let mut notes_missing = false;
        for ph in &phdrs {
            let end = ph.p_offset.saturating_add(ph.p_filesz);
            need = need.max(end);
            match ph.p_type {
                PT_LOAD => loads.push(Load {
                    vaddr: ph.p_vaddr,
                    memsz: ph.p_memsz.max(ph.p_filesz),
                    offset: ph.p_offset,
                    filesz: ph.p_filesz,
                    flags: ph.p_flags,
                }),
                PT_NOTE => {
                    if (note_bytes.len() as u64).saturating_add(ph.p_filesz) > MAX_NOTES {
                        return Err(not_core(path, "implausibly large notes"));
                    }
                    match read_at(&file, ph.p_filesz as usize, ph.p_offset) {
                        Ok(b) => note_bytes.push(b),
                        Err(_) => notes_missing = true,
                    }
                }
                _ => {}
            }
        }
        if notes_missing {
            return Err(truncated(
                "its notes (threads, mapped files) are missing",
                need,
            ));
        }
        loads.sort_by_key(|l| l.vaddr);

        let mut threads = Vec::new();
        let mut files = Vec::new();
        let mut auxv = Vec::new();
        let mut pid = None;
        let mut command = String::new();
        for (owner, ty, desc) in note_bytes.iter().flat_map(|b| notes(b)) {
            if owner != "CORE" {
                continue;
            }
            match ty {
                NT_PRSTATUS => {
                    if let Some(tid) = u32_at(&desc, PRSTATUS_PID) {
                        threads.push(CoreThread {
                            tid: tid as i32,
                            fs_base: u64_at(&desc, PRSTATUS_REGS + 8 * REG_FS_BASE).unwrap_or(0),
                            regs: desc
                                .get(PRSTATUS_REGS..)
                                .and_then(crate::Registers::from_bytes)
                                .unwrap_or_default(),
                        });
                    }
                }
                NT_PRPSINFO => {
                    pid = u32_at(&desc, PRPSINFO_PID).map(|p| p as i32);
                    let fname = desc.get(PRPSINFO_FNAME..PRPSINFO_FNAME + 16).map(cstr);
                    let args = desc.get(PRPSINFO_PSARGS..PRPSINFO_PSARGS + 80).map(cstr);
                    command = args.filter(|a| !a.is_empty()).or(fname).unwrap_or_default();
                }
                NT_AUXV => {
                    auxv = desc
                        .chunks_exact(16)
                        .map(|c| (u64_at(c, 0).unwrap_or(0), u64_at(c, 8).unwrap_or(0)))
                        .take_while(|&(k, _)| k != 0)
                        .collect();
                }
                NT_FILE => files = parse_nt_file(&desc),
                _ => {}
            }
        }
        if threads.is_empty() {
            return Err(not_core(path, "no NT_PRSTATUS note (no threads)"));
        }
        files.sort_by_key(|f| f.start);
        let pid = pid.unwrap_or(threads[0].tid);
        Ok(CoreFile {
            path: path.to_path_buf(),
            file,
            file_len,
            loads,
            files,
            threads,
            pid,
            command,
            auxv,
            sysroot: None,
            exe: None,
            backing: Mutex::new(HashMap::new()),
            opened: Mutex::new(HashMap::new()),
            need,
        })
    }

    /// Look files up under `dir` first (the target's root filesystem: a container image, a chroot).
    pub fn set_sysroot(&mut self, dir: Option<PathBuf>) {
        self.sysroot = dir;
        locked(&self.backing).clear();
    }

    /// Use this file for the main executable instead of the one `NT_FILE` names.
    pub fn set_exe(&mut self, exe: Option<PathBuf>) {
        self.exe = exe;
        locked(&self.backing).clear();
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Process id as recorded (`NT_PRPSINFO`).
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Command line as recorded (at most 80 bytes), else the command name.
    pub fn command(&self) -> &str {
        &self.command
    }

    pub fn threads(&self) -> &[CoreThread] {
        &self.threads
    }

    pub fn files(&self) -> &[FileEntry] {
        &self.files
    }

    /// `(bytes present, bytes the headers describe)` when the file is shorter than its headers say.
    pub fn truncation(&self) -> Option<(u64, u64)> {
        (self.need > self.file_len).then_some((self.file_len, self.need))
    }

    /// The recorded path of the main executable: the file mapped at `AT_ENTRY`, else the first file.
    pub fn exe_path(&self) -> Option<&str> {
        let entry = self.auxv.iter().find(|(k, _)| *k == AT_ENTRY).map(|a| a.1);
        entry
            .and_then(|e| self.files.iter().find(|f| f.start <= e && e < f.end))
            .or(self.files.first())
            .map(|f| f.path.as_str())
    }

    /// The memory map, from the segments and `NT_FILE`: every address range the core either holds or
    /// can read from a mapped file, with the file's path and offset where there is one.
    pub fn maps(&self) -> Vec<Mapping> {
        let mut bounds: Vec<u64> = self
            .loads
            .iter()
            .flat_map(|l| [l.vaddr, l.end()])
            .chain(self.files.iter().flat_map(|f| [f.start, f.end]))
            .collect();
        bounds.sort_unstable();
        bounds.dedup();
        let mut out: Vec<Mapping> = Vec::new();
        for w in bounds.windows(2) {
            let (a, b) = (w[0], w[1]);
            let load = self.load_at(a);
            let file = self.file_at(a);
            if load.is_none() && file.is_none() {
                continue;
            }
            let m = Mapping {
                start: a,
                end: b,
                readable: load.is_none_or(|l| l.flags & PF_R != 0),
                writable: load.is_some_and(|l| l.flags & PF_W != 0),
                executable: load.is_some_and(|l| l.flags & PF_X != 0),
                offset: file.map_or(0, |f| f.offset + (a - f.start)),
                inode: 0,
                path: file.map_or_else(String::new, |f| f.path.clone()),
            };
            // Merge with the previous piece when it continues it exactly.
            if let Some(prev) = out.last_mut() {
                if prev.end == m.start
                    && prev.path == m.path
                    && (prev.readable, prev.writable, prev.executable)
                        == (m.readable, m.writable, m.executable)
                    && (m.path.is_empty() || prev.offset + prev.len() == m.offset)
                {
                    prev.end = m.end;
                    continue;
                }
            }
            out.push(m);
        }
        out
    }

    fn load_at(&self, addr: u64) -> Option<&Load> {
        let i = self.loads.partition_point(|l| l.vaddr <= addr);
        let l = self.loads.get(i.checked_sub(1)?)?;
        (addr < l.end()).then_some(l)
    }

    fn file_at(&self, addr: u64) -> Option<&FileEntry> {
        let i = self.files.partition_point(|f| f.start <= addr);
        let f = self.files.get(i.checked_sub(1)?)?;
        (addr < f.end).then_some(f)
    }

    /// Read only what the core itself holds (no file fallback). False if any byte is missing.
    pub fn read_dumped(&self, addr: u64, buf: &mut [u8]) -> bool {
        let mut done = 0;
        while done < buf.len() {
            let at = addr + done as u64;
            let Some(l) = self.load_at(at) else {
                return false;
            };
            let off = at - l.vaddr;
            if off >= l.filesz {
                return false;
            }
            let n = ((l.filesz - off) as usize).min(buf.len() - done);
            let pos = l.offset + off;
            if pos.saturating_add(n as u64) > self.file_len
                || self
                    .file
                    .read_exact_at(&mut buf[done..done + n], pos)
                    .is_err()
            {
                return false;
            }
            done += n;
        }
        true
    }

    /// The build-id in the core's copy of the first page of `recorded` (if that page was dumped).
    pub fn build_id_in_core(&self, recorded: &str) -> Option<Vec<u8>> {
        let base = self
            .files
            .iter()
            .find(|f| f.path == recorded && f.offset == 0)?
            .start;
        build_id_with(&|off, n| {
            let mut b = vec![0u8; n];
            self.read_dumped(base.checked_add(off)?, &mut b)
                .then_some(b)
        })
    }

    /// Where this machine has the file the target mapped as `recorded`, and whether it matches.
    /// The `--exe` override is used for the executable, and only it; otherwise `<sysroot>/<path>`
    /// then `<path>`, the first one whose build-id matches.
    pub fn backing(&self, recorded: &str) -> Backing {
        if let Some(b) = locked(&self.backing).get(recorded) {
            return b.clone();
        }
        let b = self.resolve(recorded);
        locked(&self.backing).insert(recorded.to_string(), b.clone());
        b
    }

    fn resolve(&self, recorded: &str) -> Backing {
        let clean = recorded.trim_end_matches(" (deleted)");
        let mut tried = Vec::new();
        match (&self.exe, self.exe_path()) {
            (Some(exe), Some(p)) if p == recorded => tried.push(exe.clone()),
            _ => {
                if let Some(root) = &self.sysroot {
                    tried.push(root.join(clean.trim_start_matches('/')));
                }
                tried.push(PathBuf::from(clean));
            }
        }
        let existing: Vec<&PathBuf> = tried.iter().filter(|p| p.is_file()).collect();
        let Some(first) = existing.first() else {
            return Backing::Missing { tried };
        };
        let Some(in_core) = self.build_id_in_core(recorded) else {
            return Backing::Unverified {
                file: (*first).clone(),
                why: "the core has no copy of its ELF header (or it has no build-id)".into(),
            };
        };
        for p in &existing {
            if file_build_id(p).as_deref() == Some(&in_core[..]) {
                return Backing::Verified {
                    file: (*p).clone(),
                    build_id: in_core,
                };
            }
        }
        Backing::Mismatch {
            file: (*first).clone(),
            on_disk: file_build_id(first),
            in_core,
        }
    }

    fn read_backing(&self, recorded: &str, offset: u64, buf: &mut [u8]) -> bool {
        let b = self.backing(recorded);
        let Some(path) = b.usable() else {
            return false;
        };
        let mut opened = locked(&self.opened);
        let f = opened
            .entry(path.to_path_buf())
            .or_insert_with(|| File::open(path).ok());
        let Some(f) = f else { return false };
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        // Bytes of a mapping past the end of its file read as zeros (the tail of the last page).
        buf.fill(0);
        if offset < len {
            let n = ((len - offset) as usize).min(buf.len());
            if f.read_exact_at(&mut buf[..n], offset).is_err() {
                return false;
            }
        }
        true
    }
}

/// `NT_FILE`: count, page size, `count` x (start, end, page offset), then `count` NUL-terminated
/// paths.
fn parse_nt_file(desc: &[u8]) -> Vec<FileEntry> {
    let (Some(count), Some(page)) = (u64_at(desc, 0), u64_at(desc, 8)) else {
        return Vec::new();
    };
    let count = count.min((desc.len() / 24) as u64) as usize;
    let names_at = 16 + 24 * count;
    let mut names = desc
        .get(names_at..)
        .unwrap_or_default()
        .split(|&c| c == 0)
        .map(|n| String::from_utf8_lossy(n).into_owned());
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let at = 16 + 24 * i;
        let (Some(start), Some(end), Some(pgoff)) = (
            u64_at(desc, at),
            u64_at(desc, at + 8),
            u64_at(desc, at + 16),
        ) else {
            break;
        };
        let Some(path) = names.next() else { break };
        if end <= start {
            continue;
        }
        out.push(FileEntry {
            start,
            end,
            offset: pgoff.saturating_mul(page),
            path,
        });
    }
    out
}

/// A lock that a panic elsewhere left poisoned still guards plain caches: use them.
fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Memory for CoreFile {
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), ReadError> {
        let unmapped = ReadError::Unmapped {
            addr,
            len: buf.len(),
        };
        let mut done = 0usize;
        while done < buf.len() {
            let at = addr.checked_add(done as u64).ok_or(unmapped)?;
            let left = buf.len() - done;
            let load = self.load_at(at);
            // 1. The core's own bytes.
            if let Some(l) = load {
                let off = at - l.vaddr;
                if off < l.filesz {
                    let n = ((l.filesz - off) as usize).min(left);
                    if !self.read_dumped(at, &mut buf[done..done + n]) {
                        return Err(unmapped);
                    }
                    done += n;
                    continue;
                }
            }
            // 2. Not dumped: the mapped file, if there is one and it is the right build.
            let file = self.file_at(at).ok_or(unmapped)?;
            let mut end = file.end;
            if let Some(l) = load {
                end = end.min(l.end());
            } else if let Some(next) = self
                .loads
                .get(self.loads.partition_point(|l| l.vaddr <= at))
            {
                end = end.min(next.vaddr);
            }
            let n = ((end - at) as usize).min(left);
            let path = file.path.clone();
            let offset = file.offset + (at - file.start);
            if !self.read_backing(&path, offset, &mut buf[done..done + n]) {
                return Err(unmapped);
            }
            done += n;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(out: &mut Vec<u8>, owner: &str, ty: u32, desc: &[u8]) {
        let name = format!("{owner}\0");
        out.extend_from_slice(&(name.len() as u32).to_le_bytes());
        out.extend_from_slice(&(desc.len() as u32).to_le_bytes());
        out.extend_from_slice(&ty.to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        while !out.len().is_multiple_of(4) {
            out.push(0);
        }
        out.extend_from_slice(desc);
        while !out.len().is_multiple_of(4) {
            out.push(0);
        }
    }

    fn phdr(out: &mut Vec<u8>, ty: u32, flags: u32, off: u64, vaddr: u64, filesz: u64, memsz: u64) {
        out.extend_from_slice(&ty.to_le_bytes());
        out.extend_from_slice(&flags.to_le_bytes());
        for v in [off, vaddr, 0, filesz, memsz, 1] {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }

    /// A tiny core: one thread (tid 42), one anonymous segment at 0x10000 (4 KiB of 0xab), and a
    /// file-backed mapping at 0x20000 whose second page was not dumped.
    fn tiny_core(dir: &Path, file: &Path) -> PathBuf {
        tiny_core_with(dir, file, &[0xcd; 4096])
    }

    /// [`tiny_core`] with the core's copy of the mapped file's first page given.
    fn tiny_core_with(dir: &Path, file: &Path, first_page: &[u8]) -> PathBuf {
        let mut notes_b = Vec::new();
        let mut prstatus = vec![0u8; 336];
        prstatus[PRSTATUS_PID..PRSTATUS_PID + 4].copy_from_slice(&42u32.to_le_bytes());
        let fs = PRSTATUS_REGS + 8 * REG_FS_BASE;
        prstatus[fs..fs + 8].copy_from_slice(&0x7777u64.to_le_bytes());
        // orig_rax (word 15) and rdi (word 14) of user_regs_struct.
        let nr = PRSTATUS_REGS + 8 * 15;
        prstatus[nr..nr + 8].copy_from_slice(&202u64.to_le_bytes());
        let rdi = PRSTATUS_REGS + 8 * 14;
        prstatus[rdi..rdi + 8].copy_from_slice(&0x1234u64.to_le_bytes());
        note(&mut notes_b, "CORE", NT_PRSTATUS, &prstatus);
        let mut nt_file = Vec::new();
        for v in [1u64, 4096, 0x20000, 0x22000, 0] {
            nt_file.extend_from_slice(&v.to_le_bytes());
        }
        nt_file.extend_from_slice(file.to_str().unwrap().as_bytes());
        nt_file.push(0);
        note(&mut notes_b, "CORE", NT_FILE, &nt_file);

        let data_off = 64 + 3 * 56;
        let notes_off = data_off + 2 * 4096;
        let mut out = vec![0u8; 64];
        out[..4].copy_from_slice(b"\x7fELF");
        out[4] = ELFCLASS64;
        out[5] = ELFDATA2LSB;
        out[6] = 1;
        out[16..18].copy_from_slice(&ET_CORE.to_le_bytes());
        out[18..20].copy_from_slice(&EM_X86_64.to_le_bytes());
        out[20..24].copy_from_slice(&1u32.to_le_bytes());
        out[32..40].copy_from_slice(&64u64.to_le_bytes()); // e_phoff
        out[52..54].copy_from_slice(&64u16.to_le_bytes()); // e_ehsize
        out[54..56].copy_from_slice(&56u16.to_le_bytes()); // e_phentsize
        out[56..58].copy_from_slice(&3u16.to_le_bytes()); // e_phnum
        phdr(
            &mut out,
            PT_NOTE,
            PF_R,
            notes_off as u64,
            0,
            notes_b.len() as u64,
            0,
        );
        phdr(
            &mut out,
            PT_LOAD,
            PF_R | PF_W,
            data_off as u64,
            0x10000,
            4096,
            4096,
        );
        phdr(
            &mut out,
            PT_LOAD,
            PF_R,
            data_off as u64 + 4096,
            0x20000,
            4096,
            8192,
        );
        out.resize(data_off, 0);
        out.extend(std::iter::repeat_n(0xab, 4096));
        out.extend_from_slice(&first_page[..4096]);
        out.extend_from_slice(&notes_b);
        let p = dir.join("core");
        std::fs::write(&p, out).unwrap();
        p
    }

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("leakspy-core-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn reads_segments_and_falls_back_to_files() {
        let dir = scratch("tiny");
        let mapped = dir.join("mapped.bin");
        // Page 0 differs from the core's copy (the core wins), page 1 is only on disk.
        let mut content = vec![0x11u8; 4096];
        content.extend(std::iter::repeat_n(0x22, 100)); // shorter than the page: rest reads as 0
        std::fs::write(&mapped, &content).unwrap();
        let core = CoreFile::open(&tiny_core(&dir, &mapped)).unwrap();
        assert_eq!(
            core.threads(),
            &[CoreThread {
                tid: 42,
                fs_base: 0x7777,
                regs: crate::Registers {
                    fs_base: 0x7777,
                    orig_rax: 202,
                    rdi: 0x1234,
                    ..Default::default()
                }
            }]
        );
        assert_eq!(core.pid(), 42);
        assert!(core.truncation().is_none());
        let maps = core.maps();
        assert_eq!(maps.len(), 2, "{maps:?}");
        assert_eq!((maps[1].start, maps[1].end), (0x20000, 0x22000));
        assert_eq!(maps[1].path, mapped.to_str().unwrap());

        let mut b = [0u8; 8];
        core.read(0x10ff8, &mut b).unwrap();
        assert_eq!(b, [0xab; 8]);
        // Straddles dumped page and file-backed page.
        core.read(0x20ffc, &mut b).unwrap();
        assert_eq!(b, [0xcd, 0xcd, 0xcd, 0xcd, 0x22, 0x22, 0x22, 0x22]);
        core.read(0x21000 + 98, &mut b).unwrap();
        assert_eq!(b, [0x22, 0x22, 0, 0, 0, 0, 0, 0]);
        assert!(core.read(0x30000, &mut b).is_err());
        assert!(!core.read_dumped(0x21000, &mut b));
        // No ELF header in the core's copy: usable, but unverified.
        assert!(matches!(
            core.backing(mapped.to_str().unwrap()),
            Backing::Unverified { .. }
        ));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn garbage_and_truncation_are_errors() {
        let dir = scratch("bad");
        let g = dir.join("garbage");
        std::fs::write(&g, vec![0x5a; 10000]).unwrap();
        assert!(matches!(CoreFile::open(&g), Err(CoreError::NotCore { .. })));
        std::fs::write(&g, b"").unwrap();
        assert!(matches!(CoreFile::open(&g), Err(CoreError::NotCore { .. })));
        let mapped = dir.join("mapped.bin");
        std::fs::write(&mapped, b"x").unwrap();
        let full = std::fs::read(tiny_core(&dir, &mapped)).unwrap();
        // Notes are at the end (as gdb writes them): cutting the file loses them.
        for cut in [full.len() - 10, 64 + 56, 70, 64] {
            std::fs::write(&g, &full[..cut]).unwrap();
            assert!(
                matches!(CoreFile::open(&g), Err(CoreError::Truncated { .. })),
                "cut at {cut}"
            );
        }
        assert!(matches!(
            CoreFile::open(&dir.join("nope")),
            Err(CoreError::Open { .. })
        ));
        let _ = std::fs::remove_dir_all(dir);
    }

    /// The build-id check: the core's copy of an image's first page against the files on disk.
    #[test]
    fn backing_files_are_checked_by_build_id() {
        let exe = std::env::current_exe().unwrap();
        let other = Path::new("/bin/true");
        let (Some(id), Some(other_id)) = (file_build_id(&exe), file_build_id(other)) else {
            eprintln!("SKIPPED: no build-ids to compare on this system");
            return;
        };
        assert_ne!(id, other_id);
        let dir = scratch("buildid");
        let mut first = vec![0u8; 4096];
        std::fs::File::open(&exe)
            .unwrap()
            .read_exact_at(&mut first, 0)
            .unwrap();
        let mut core = CoreFile::open(&tiny_core_with(&dir, &exe, &first)).unwrap();
        let recorded = exe.to_str().unwrap();
        assert_eq!(core.build_id_in_core(recorded), Some(id.clone()));
        assert_eq!(
            core.backing(recorded),
            Backing::Verified {
                file: exe.clone(),
                build_id: id.clone()
            }
        );
        // A sysroot holding another build at that path: skipped for the matching file.
        let root = dir.join("root");
        let in_root = root.join(recorded.trim_start_matches('/'));
        std::fs::create_dir_all(in_root.parent().unwrap()).unwrap();
        std::fs::copy(other, &in_root).unwrap();
        core.set_sysroot(Some(root.clone()));
        assert!(
            matches!(core.backing(recorded), Backing::Verified { ref file, .. } if *file == exe)
        );
        // Only another build available: refused, and its pages are not read.
        std::fs::copy(other, dir.join("exe-copy")).unwrap();
        core.set_sysroot(None);
        core.set_exe(Some(dir.join("exe-copy")));
        match core.backing(recorded) {
            Backing::Mismatch {
                in_core, on_disk, ..
            } => {
                assert_eq!(in_core, id);
                assert_eq!(on_disk, Some(other_id));
            }
            b => panic!("expected a mismatch, got {b:?}"),
        }
        let mut b = [0u8; 8];
        assert!(core.read(0x21000, &mut b).is_err());
        // Not there at all.
        let gone = dir.join("gone");
        core.set_exe(Some(gone.clone()));
        assert_eq!(
            core.backing(recorded),
            Backing::Missing { tried: vec![gone] }
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn build_id_of_own_executable() {
        let exe = std::env::current_exe().unwrap();
        // Rust test binaries are linked with a build-id by default on Linux toolchains; if not, None
        // is the right answer and there is nothing to compare.
        if let Some(id) = file_build_id(&exe) {
            assert!(id.len() >= 8, "{}", hex(&id));
        }
        assert_eq!(hex(&[0xde, 0xad, 0x01]), "dead01");
    }
}

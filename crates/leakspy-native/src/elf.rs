//! The parts of an ELF file that native stacks need: its load segments, the unwind sections
//! (`.eh_frame_hdr`, `.eh_frame`, `.debug_frame`), function symbols (`.symtab` + `.dynsym`), the
//! build-id and `.gnu_debuglink`, and (when present) the DWARF sections for lines. The file is read
//! once into a shared buffer and every section is a range of it ([`Bytes`]), not a copy: copying
//! (and zeroing the pages of) tens of MB of DWARF was most of `dump --native`'s time. Compressed
//! DWARF sections are decompressed only when line information is first asked for.

use goblin::elf::{section_header, Elf};
use std::collections::HashMap;
use std::io::Read;
use std::sync::Arc;

/// Most bytes one decompressed section may take (garbage guard).
const MAX_SECTION: u64 = 1 << 30;

/// A range of a shared buffer (a file's bytes, or a decompressed section).
#[derive(Clone)]
pub struct Bytes {
    buf: Arc<[u8]>,
    start: usize,
    end: usize,
}

impl Bytes {
    pub fn new(buf: Arc<[u8]>) -> Bytes {
        let end = buf.len();
        Bytes { buf, start: 0, end }
    }

    /// `size` bytes at `off` of this range; `None` when they are not all inside.
    fn sub(&self, off: u64, size: u64) -> Option<Bytes> {
        let start = self.start.checked_add(usize::try_from(off).ok()?)?;
        let end = start.checked_add(usize::try_from(size).ok()?)?;
        (end <= self.end).then(|| Bytes {
            buf: self.buf.clone(),
            start,
            end,
        })
    }

    /// A gimli reader over these bytes (shares the buffer).
    pub fn reader(&self) -> gimli::EndianArcSlice<gimli::LittleEndian> {
        gimli::EndianReader::new(self.buf.clone(), gimli::LittleEndian).range(self.start..self.end)
    }
}

impl Default for Bytes {
    fn default() -> Bytes {
        Bytes::new(Arc::from(&[][..]))
    }
}

impl std::ops::Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.buf.get(self.start..self.end).unwrap_or(&[])
    }
}

impl std::fmt::Debug for Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Bytes({} bytes)", self.end - self.start)
    }
}

/// A section's bytes and its address in the file's own address space (SVMA).
#[derive(Debug, Clone, Default)]
pub struct Section {
    pub addr: u64,
    pub data: Bytes,
}

/// A DWARF section as it is in the file: decompressed on use ([`DwarfSection::bytes`]).
#[derive(Debug, Clone)]
pub struct DwarfSection {
    raw: Bytes,
    compressed: bool,
}

impl DwarfSection {
    /// The section's bytes, decompressed when `SHF_COMPRESSED`; `None` when that fails.
    pub fn bytes(&self) -> Option<Bytes> {
        if self.compressed {
            decompress(&self.raw).map(|d| Bytes::new(Arc::from(d)))
        } else {
            Some(self.raw.clone())
        }
    }
}

/// A whole file in one shared buffer (read straight into it: no second copy).
pub fn read_shared(path: &std::path::Path) -> Option<Arc<[u8]>> {
    let mut f = std::fs::File::open(path).ok()?;
    let len = usize::try_from(f.metadata().ok()?.len()).ok()?;
    let mut buf: Arc<[u8]> = std::iter::repeat_n(0u8, len).collect();
    f.read_exact(Arc::get_mut(&mut buf)?).ok()?;
    Some(buf)
}

/// A `PT_LOAD` segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Load {
    pub vaddr: u64,
    pub offset: u64,
    pub filesz: u64,
    pub executable: bool,
}

/// A function symbol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Symbol {
    pub addr: u64,
    pub size: u64,
    pub name: String,
    pub global: bool,
}

/// What was read from one ELF file.
#[derive(Debug, Default)]
pub struct ElfFile {
    pub build_id: Option<Vec<u8>>,
    pub debuglink: Option<String>,
    pub loads: Vec<Load>,
    pub eh_frame_hdr: Option<Section>,
    pub eh_frame: Option<Section>,
    pub debug_frame: Option<Section>,
    pub text: Option<Section>,
    /// Function symbols sorted by address (aliases kept: same address, other names).
    pub symbols: Vec<Symbol>,
    /// `.debug_*` sections by name (without the leading dot, e.g. `debug_info`).
    pub dwarf: HashMap<String, DwarfSection>,
    /// The file's bytes for `PT_LOAD` contents (code reads such as the signal trampoline check).
    pub code: Vec<(u64, Bytes)>,
}

impl ElfFile {
    /// Parse an ELF file; `None` when it is not a 64-bit little-endian ELF goblin can read.
    pub fn parse(bytes: &[u8]) -> Option<ElfFile> {
        ElfFile::parse_shared(Arc::from(bytes))
    }

    /// [`ElfFile::parse`] of a file's bytes already in a shared buffer: sections are ranges of it.
    pub fn parse_shared(buf: Arc<[u8]>) -> Option<ElfFile> {
        let file = Bytes::new(buf);
        let bytes: &[u8] = &file;
        let elf = Elf::parse(bytes).ok()?;
        if !elf.is_64 || !elf.little_endian {
            return None;
        }
        let mut out = ElfFile::default();
        for ph in &elf.program_headers {
            if ph.p_type == goblin::elf::program_header::PT_LOAD {
                out.loads.push(Load {
                    vaddr: ph.p_vaddr,
                    offset: ph.p_offset,
                    filesz: ph.p_filesz,
                    executable: ph.p_flags & goblin::elf::program_header::PF_X != 0,
                });
            }
        }
        for sh in &elf.section_headers {
            let Some(name) = elf.shdr_strtab.get_at(sh.sh_name) else {
                continue;
            };
            let wanted = matches!(
                name,
                ".eh_frame_hdr" | ".eh_frame" | ".debug_frame" | ".text" | ".gnu_debuglink"
            ) || name.starts_with(".debug_")
                || name == ".note.gnu.build-id";
            if !wanted || sh.sh_type == section_header::SHT_NOBITS {
                continue;
            }
            let Some(raw) = file.sub(sh.sh_offset, sh.sh_size) else {
                continue;
            };
            let compressed = sh.sh_flags & u64::from(section_header::SHF_COMPRESSED) != 0;
            if name.starts_with(".debug_") && name != ".debug_frame" {
                out.dwarf
                    .insert(name[1..].to_string(), DwarfSection { raw, compressed });
                continue;
            }
            let data = if compressed {
                match decompress(&raw) {
                    Some(d) => Bytes::new(Arc::from(d)),
                    None => continue,
                }
            } else {
                raw
            };
            let sec = Section {
                addr: sh.sh_addr,
                data,
            };
            match name {
                ".eh_frame_hdr" => out.eh_frame_hdr = Some(sec),
                ".eh_frame" => out.eh_frame = Some(sec),
                ".debug_frame" => out.debug_frame = Some(sec),
                ".text" => {
                    out.text = Some(Section {
                        addr: sh.sh_addr,
                        data: Bytes::default(),
                    })
                }
                ".gnu_debuglink" => {
                    let end = sec.data.iter().position(|&b| b == 0).unwrap_or(0);
                    out.debuglink = std::str::from_utf8(&sec.data[..end])
                        .ok()
                        .filter(|s| !s.is_empty())
                        .map(str::to_string);
                }
                ".note.gnu.build-id" => out.build_id = build_id_note(&sec.data),
                _ => {}
            }
        }
        for ph in &elf.program_headers {
            if ph.p_type == goblin::elf::program_header::PT_LOAD
                && ph.p_flags & goblin::elf::program_header::PF_X != 0
            {
                if let Some(b) = file.sub(ph.p_offset, ph.p_filesz) {
                    out.code.push((ph.p_vaddr, b));
                }
            }
        }
        let mut syms = Vec::new();
        for (tab, strtab) in [(&elf.syms, &elf.strtab), (&elf.dynsyms, &elf.dynstrtab)] {
            for s in tab.iter() {
                let func = matches!(
                    s.st_type(),
                    goblin::elf::sym::STT_FUNC | goblin::elf::sym::STT_GNU_IFUNC
                );
                if !func || s.st_value == 0 || s.st_shndx == 0 {
                    continue;
                }
                if let Some(name) = strtab.get_at(s.st_name).filter(|n| !n.is_empty()) {
                    syms.push(Symbol {
                        addr: s.st_value,
                        size: s.st_size,
                        name: name.to_string(),
                        global: s.st_bind() != goblin::elf::sym::STB_LOCAL,
                    });
                }
            }
        }
        syms.sort_by(|a, b| a.addr.cmp(&b.addr).then(a.name.cmp(&b.name)));
        syms.dedup();
        out.symbols = syms;
        Some(out)
    }

    /// The symbols that cover `svma`, best first: the closest start at or below it, among its aliases
    /// the global ones (what gdb prints for a stripped library) before local ones.
    pub fn symbols_at(&self, svma: u64) -> Vec<&Symbol> {
        let i = self.symbols.partition_point(|s| s.addr <= svma);
        if i == 0 {
            return Vec::new();
        }
        let addr = self.symbols[i - 1].addr;
        let mut v: Vec<&Symbol> = self.symbols[..i]
            .iter()
            .rev()
            .take_while(|s| s.addr == addr)
            .filter(|s| s.size == 0 || svma < s.addr.saturating_add(s.size))
            .collect();
        v.sort_by_key(|s| (!s.global, s.name.starts_with('_'), s.name.len()));
        v
    }

    /// `n` code bytes at `svma`, when inside an executable segment of the file.
    pub fn code_at(&self, svma: u64, n: usize) -> Option<&[u8]> {
        self.code.iter().find_map(|(start, b)| {
            let off = usize::try_from(svma.checked_sub(*start)?).ok()?;
            b.get(off..off.checked_add(n)?)
        })
    }

    /// Whether this file has line information of its own.
    pub fn has_lines(&self) -> bool {
        self.dwarf.contains_key("debug_info") && self.dwarf.contains_key("debug_line")
    }
}

/// `Elf64_Chdr` + zlib stream. Inflated by zlib-rs straight into a buffer of the declared size
/// (about twice as fast as miniz through `Read`: a libc debug file is 10 MB of DWARF).
fn decompress(raw: &[u8]) -> Option<Vec<u8>> {
    let ch_type = u32::from_le_bytes(raw.get(0..4)?.try_into().ok()?);
    let size = u64::from_le_bytes(raw.get(8..16)?.try_into().ok()?);
    if ch_type != 1 || size > MAX_SECTION {
        return None; // 1 = ELFCOMPRESS_ZLIB; zstd (2) is not read
    }
    let input = raw.get(24..)?;
    // zlib cannot inflate by more than about 1032:1: a bigger declared size is garbage.
    if size > (input.len() as u64).saturating_mul(1100).saturating_add(64) {
        return None;
    }
    if size == 0 {
        // Nothing to inflate: zlib-rs reports an error for an empty output buffer when the
        // stream is not empty.
        return Some(Vec::new());
    }
    let mut out = vec![0u8; usize::try_from(size).ok()?];
    let (done, rc) = zlib_rs::decompress_slice(&mut out, input, zlib_rs::InflateConfig::default());
    // BufError: the stream goes on past the declared size, which is all that is kept.
    if !matches!(rc, zlib_rs::ReturnCode::Ok | zlib_rs::ReturnCode::BufError) {
        return None;
    }
    let n = done.len();
    out.truncate(n);
    Some(out)
}

/// The descriptor of an `NT_GNU_BUILD_ID` note.
fn build_id_note(d: &[u8]) -> Option<Vec<u8>> {
    let namesz = u32::from_le_bytes(d.get(0..4)?.try_into().ok()?) as usize;
    let descsz = u32::from_le_bytes(d.get(4..8)?.try_into().ok()?) as usize;
    let ty = u32::from_le_bytes(d.get(8..12)?.try_into().ok()?);
    if ty != 3 {
        return None;
    }
    let desc = 12usize.checked_add(namesz.checked_add(3)? & !3)?;
    Some(d.get(desc..desc.checked_add(descsz)?)?.to_vec())
}

/// A symbol name made readable: Rust (legacy and v0) and C++ (Itanium) manglings decoded, anything
/// else as it is.
pub fn demangle(name: &str) -> String {
    if let Ok(d) = rustc_demangle::try_demangle(name) {
        return format!("{d:#}");
    }
    if name.starts_with("_Z") {
        if let Ok(sym) = cpp_demangle::Symbol::new(name) {
            if let Ok(s) = sym.demangle(&cpp_demangle::DemangleOptions::default()) {
                return s;
            }
        }
    }
    name.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_its_own_test_binary() {
        let exe = std::env::current_exe().unwrap();
        let bytes = std::fs::read(exe).unwrap();
        let f = ElfFile::parse(&bytes).unwrap();
        assert!(f.eh_frame.is_some() && f.eh_frame_hdr.is_some());
        assert!(f.build_id.is_some());
        assert!(!f.symbols.is_empty());
        let s = f.symbols.iter().find(|s| s.size > 4).unwrap();
        assert!(f.symbols_at(s.addr + 1).iter().any(|x| x.name == s.name));
    }

    /// A compressed section declared empty is empty, whatever its stream holds (zlib-rs fails on
    /// an empty output buffer: proptest found it at `cut = 0` in CI).
    #[test]
    fn a_section_declared_empty_inflates_to_nothing() {
        let z = {
            use std::io::Write;
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(&[122u8, 9, 230, 116]).unwrap();
            e.finish().unwrap()
        };
        let mut b = 1u32.to_le_bytes().to_vec();
        b.extend([0u8; 4]);
        b.extend(0u64.to_le_bytes());
        b.extend(1u64.to_le_bytes());
        b.extend(&z);
        assert_eq!(decompress(&b), Some(Vec::new()));
    }

    #[test]
    fn demangles_rust_and_cpp() {
        assert_eq!(
            demangle("_ZN4core3fmt5write17h0123456789abcdefE"),
            "core::fmt::write"
        );
        assert_eq!(demangle("_Z3fooi"), "foo(int)");
        assert_eq!(demangle("take_gil"), "take_gil");
    }

    proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
            let _ = ElfFile::parse(&bytes);
            let _ = build_id_note(&bytes);
            let _ = decompress(&bytes);
        }

        #[test]
        fn parse_of_a_damaged_elf_never_panics(at in 0usize..8192, junk in proptest::collection::vec(any::<u8>(), 1..64)) {
            let exe = std::fs::read(std::env::current_exe().unwrap()).unwrap();
            let mut b = exe[..exe.len().min(64 << 10)].to_vec();
            let at = at % b.len();
            for (i, j) in junk.iter().enumerate() {
                if let Some(x) = b.get_mut(at + i) { *x = *j; }
            }
            let _ = ElfFile::parse(&b);
        }

        /// A compressed section inflates to exactly what was compressed (zlib-rs reads what
        /// another zlib wrote), and a shorter declared size keeps that many bytes.
        #[test]
        fn compressed_sections_round_trip(data in proptest::collection::vec(any::<u8>(), 0..8192), cut in 0usize..8192) {
            let z = {
                use std::io::Write;
                let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
                e.write_all(&data).unwrap();
                e.finish().unwrap()
            };
            let chdr = |size: usize| {
                let mut b = 1u32.to_le_bytes().to_vec();
                b.extend([0u8; 4]);
                b.extend((size as u64).to_le_bytes());
                b.extend(1u64.to_le_bytes());
                b.extend(&z);
                b
            };
            prop_assert_eq!(decompress(&chdr(data.len())), Some(data.clone()));
            let cut = cut.min(data.len());
            prop_assert_eq!(decompress(&chdr(cut)), Some(data[..cut].to_vec()));
        }

        #[test]
        fn sub_ranges_stay_inside(len in 0usize..64, off in any::<u64>(), size in any::<u64>(), off2 in 0u64..80, size2 in 0u64..80) {
            let b = Bytes::new(Arc::from(vec![7u8; len]));
            if let Some(s) = b.sub(off, size) {
                prop_assert_eq!(s.len() as u64, size);
                if let Some(t) = s.sub(off2, size2) {
                    prop_assert_eq!(t.len() as u64, size2);
                    prop_assert!(off2 + size2 <= size);
                }
            }
            prop_assert_eq!(b.reader().len(), len);
        }

        #[test]
        fn demangle_never_panics(s in "\\PC{0,64}") {
            let _ = demangle(&s);
            let _ = demangle(&format!("_Z{s}"));
            let _ = demangle(&format!("_ZN{s}E"));
        }
    }
}

//! The parts of an ELF file that native stacks need: its load segments, the unwind sections
//! (`.eh_frame_hdr`, `.eh_frame`, `.debug_frame`), function symbols (`.symtab` + `.dynsym`), the
//! build-id and `.gnu_debuglink`, and (when present) the DWARF sections for lines. Each section is
//! copied out of the file (decompressed when `SHF_COMPRESSED`), so nothing borrows the file bytes.

use goblin::elf::{section_header, Elf};
use std::collections::HashMap;
use std::io::Read;

/// Most bytes one decompressed section may take (garbage guard).
const MAX_SECTION: u64 = 1 << 30;

/// A section's bytes and its address in the file's own address space (SVMA).
#[derive(Debug, Clone, Default)]
pub struct Section {
    pub addr: u64,
    pub data: Vec<u8>,
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
    pub dwarf: HashMap<String, Vec<u8>>,
    /// The file's bytes for `PT_LOAD` contents (code reads such as the signal trampoline check).
    pub code: Vec<(u64, Vec<u8>)>,
}

impl ElfFile {
    /// Parse an ELF file; `None` when it is not a 64-bit little-endian ELF goblin can read.
    pub fn parse(bytes: &[u8]) -> Option<ElfFile> {
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
            let Some(raw) = section_bytes(bytes, sh.sh_offset, sh.sh_size) else {
                continue;
            };
            let data = if sh.sh_flags & u64::from(section_header::SHF_COMPRESSED) != 0 {
                match decompress(raw) {
                    Some(d) => d,
                    None => continue,
                }
            } else {
                raw.to_vec()
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
                        data: Vec::new(),
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
                _ => {
                    out.dwarf.insert(name[1..].to_string(), sec.data);
                }
            }
        }
        for ph in &elf.program_headers {
            if ph.p_type == goblin::elf::program_header::PT_LOAD
                && ph.p_flags & goblin::elf::program_header::PF_X != 0
            {
                if let Some(b) = section_bytes(bytes, ph.p_offset, ph.p_filesz) {
                    out.code.push((ph.p_vaddr, b.to_vec()));
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

fn section_bytes(bytes: &[u8], off: u64, size: u64) -> Option<&[u8]> {
    let start = usize::try_from(off).ok()?;
    let end = start.checked_add(usize::try_from(size).ok()?)?;
    bytes.get(start..end)
}

/// `Elf64_Chdr` + zlib stream.
fn decompress(raw: &[u8]) -> Option<Vec<u8>> {
    let ch_type = u32::from_le_bytes(raw.get(0..4)?.try_into().ok()?);
    let size = u64::from_le_bytes(raw.get(8..16)?.try_into().ok()?);
    if ch_type != 1 || size > MAX_SECTION {
        return None; // 1 = ELFCOMPRESS_ZLIB; zstd (2) is not read
    }
    let mut out = Vec::with_capacity(size.min(64 << 20) as usize);
    flate2::read::ZlibDecoder::new(raw.get(24..)?)
        .take(size)
        .read_to_end(&mut out)
        .ok()?;
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

        #[test]
        fn demangle_never_panics(s in "\\PC{0,64}") {
            let _ = demangle(&s);
            let _ = demangle(&format!("_Z{s}"));
            let _ = demangle(&format!("_ZN{s}E"));
        }
    }
}

//! Read only the parts of an ELF file that symbol lookup needs.
//!
//! An unstripped libpython is ~30 MB, almost all of it code, read-only data and DWARF that
//! [`super::binaries::parse_image`] never looks at; reading it whole is most of the time of a
//! stacks-only dump. [`read_sparse`] returns a buffer of the file's length in which only the ELF
//! header, the program and section headers, every section that is neither plain contents
//! (`SHT_PROGBITS` / `SHT_NOBITS`: code, data, debug info) nor relocations, and the segments that
//! are headers rather than contents (`PT_DYNAMIC`, `PT_INTERP`, `PT_NOTE`, ...) are read; the rest stays zero (the zeroed buffer is allocated lazily by the kernel, so the
//! unread parts cost no memory either). Parsing it gives the same headers, symbols and string
//! tables as parsing the whole file.

use goblin::container::Ctx;
use goblin::elf::program_header::{
    ProgramHeader, PT_GNU_EH_FRAME, PT_GNU_RELRO, PT_GNU_STACK, PT_LOAD, PT_TLS,
};
use goblin::elf::section_header::{
    SectionHeader, SHT_NOBITS, SHT_PROGBITS, SHT_REL, SHT_RELA, SHT_X86_64_UNWIND,
};

/// `SHT_RELR` (relative relocations, compact form): not named by goblin 0.8.
const SHT_RELR: u32 = 19;
use goblin::elf::Elf;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

/// Files larger than this are refused (no Python binary comes near).
const MAX_FILE: u64 = 4 << 30;

/// The file at `path`, with only what symbol lookup needs read (see the module docs).
pub fn read_sparse(path: &str) -> io::Result<Vec<u8>> {
    let f = File::open(path)?;
    let len = f.metadata()?.len();
    if len > MAX_FILE {
        return Err(io::Error::other("file too large"));
    }
    let len = usize::try_from(len).map_err(io::Error::other)?;
    let mut buf = vec![0u8; len];
    let read = |off: u64, n: u64, buf: &mut [u8]| -> io::Result<()> {
        let (Ok(s), Ok(n)) = (usize::try_from(off), usize::try_from(n)) else {
            return Ok(());
        };
        let Some(dst) = s.checked_add(n).and_then(|e| buf.get_mut(s..e)) else {
            return Ok(()); // out of the file: the parser reports what is missing
        };
        f.read_exact_at(dst, off)
    };
    read(0, 64.min(len as u64), &mut buf)?;
    let Ok(header) = Elf::parse_header(&buf) else {
        // Not an ELF file: the whole file, and let the parser say why.
        return std::fs::read(path);
    };
    let (Ok(container), Ok(endian)) = (header.container(), header.endianness()) else {
        return std::fs::read(path);
    };
    let ctx = Ctx::new(container, endian);
    let phsize = u64::from(header.e_phentsize) * u64::from(header.e_phnum);
    let shsize = u64::from(header.e_shentsize) * u64::from(header.e_shnum);
    read(header.e_phoff, phsize, &mut buf)?;
    read(header.e_shoff, shsize, &mut buf)?;
    let phdrs = ProgramHeader::parse(
        &buf,
        usize::try_from(header.e_phoff).unwrap_or(usize::MAX),
        usize::from(header.e_phnum),
        ctx,
    );
    let shdrs = SectionHeader::parse(
        &buf,
        usize::try_from(header.e_shoff).unwrap_or(usize::MAX),
        usize::from(header.e_shnum),
        ctx,
    );
    let (Ok(phdrs), Ok(shdrs)) = (phdrs, shdrs) else {
        return std::fs::read(path);
    };
    // Segments: the headers' own (dynamic section, interpreter name, notes), not contents that
    // other segments merely mark (RELRO data, the unwind table header, TLS templates).
    for p in phdrs.iter().filter(|p| {
        !matches!(
            p.p_type,
            PT_LOAD | PT_GNU_RELRO | PT_GNU_EH_FRAME | PT_TLS | PT_GNU_STACK
        )
    }) {
        read(p.p_offset, p.p_filesz, &mut buf)?;
    }
    // Sections: symbol and string tables, hashes, versions, notes; not contents, and not the
    // relocations (an unstripped libpython's .rela.dyn alone is ~1 MB), which nothing reads.
    for s in shdrs.iter().filter(|s| {
        !matches!(
            s.sh_type,
            SHT_PROGBITS | SHT_NOBITS | SHT_RELA | SHT_REL | SHT_RELR | SHT_X86_64_UNWIND
        )
    }) {
        read(s.sh_offset, s.sh_size, &mut buf)?;
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The symbols and sections of this test binary read sparsely are those of the whole file:
    /// every symbol with an address (what symbol lookup uses). goblin also sizes the dynamic symbol
    /// table by the highest symbol index of the relocations, which the sparse read leaves out; in
    /// the whole file of this binary that reads past `.dynsym` into entries with no address.
    #[test]
    fn same_symbols_as_the_whole_file() {
        let exe = std::env::current_exe().unwrap();
        let path = exe.to_str().unwrap();
        let whole = std::fs::read(path).unwrap();
        let sparse = read_sparse(path).unwrap();
        assert_eq!(whole.len(), sparse.len());
        let (a, b) = (Elf::parse(&whole).unwrap(), Elf::parse(&sparse).unwrap());
        let names = |e: &Elf<'_>| -> Vec<(String, u64)> {
            e.syms
                .iter()
                .chain(e.dynsyms.iter())
                .filter(|s| s.st_value != 0)
                .map(|s| {
                    let n = e
                        .strtab
                        .get_at(s.st_name)
                        .or_else(|| e.dynstrtab.get_at(s.st_name))
                        .unwrap_or("")
                        .to_string();
                    (n, s.st_value)
                })
                .collect()
        };
        assert_eq!(names(&a), names(&b));
        assert!(names(&a).len() > 100);
        let sections = |e: &Elf<'_>| -> Vec<(String, u64, u64)> {
            e.section_headers
                .iter()
                .map(|s| {
                    let n = e.shdr_strtab.get_at(s.sh_name).unwrap_or("").to_string();
                    (n, s.sh_addr, s.sh_size)
                })
                .collect()
        };
        assert_eq!(sections(&a), sections(&b));
    }

    proptest::proptest! {
        /// Any bytes, ELF-looking or not: no panic, and a non-ELF file comes back whole.
        #[test]
        fn arbitrary_files(mut bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..4096),
                           elf_magic in proptest::bool::ANY) {
            if elf_magic && bytes.len() >= 64 {
                bytes[..4].copy_from_slice(b"\x7fELF");
                bytes[4] = 2;
                bytes[5] = 1;
            }
            let dir = std::env::temp_dir().join(format!("leakspy-sparse-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join("f");
            std::fs::write(&path, &bytes).unwrap();
            let got = read_sparse(path.to_str().unwrap());
            if let Ok(got) = got {
                proptest::prop_assert_eq!(got.len(), bytes.len());
                let _ = Elf::parse(&got);
            }
        }
    }
}

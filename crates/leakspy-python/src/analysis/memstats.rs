//! Where the process's resident memory is, by mapping kind: the first answer of a leak hunt is
//! whether the growth is Python objects or native memory. Pure: built from the memory map and the
//! per-mapping `Rss` of `/proc/PID/smaps`, read before the pause.

use leakspy_memory::Mapping;
use serde::Serialize;
use std::collections::HashMap;

/// Resident bytes of the target by mapping kind.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct MemoryBreakdown {
    /// Sum of every mapping's `Rss`.
    pub rss: u64,
    /// `[heap]`: the brk heap (glibc's main malloc arena: objects > 512 bytes, native allocations).
    pub heap: u64,
    /// Anonymous mappings: pymalloc arenas (objects <= 512 bytes), large malloc blocks, other
    /// threads' malloc arenas, thread stacks, extension buffers.
    pub anonymous: u64,
    /// File-backed mappings: the interpreter, libraries, extension modules, mmapped files.
    pub file: u64,
    /// `[stack]`: the main thread's stack.
    pub stack: u64,
    /// Everything else (`[vdso]`, `[vvar]`, shared memory, ...).
    pub other: u64,
}

/// Classify every mapping of `maps` and add up its resident bytes from `rss` (keyed by start).
pub fn breakdown(maps: &[Mapping], rss: &HashMap<u64, u64>) -> MemoryBreakdown {
    let mut b = MemoryBreakdown::default();
    for m in maps {
        let Some(&n) = rss.get(&m.start) else {
            continue;
        };
        b.rss += n;
        let slot = match m.path.as_str() {
            "[heap]" => &mut b.heap,
            "[stack]" => &mut b.stack,
            "" => &mut b.anonymous,
            p if p.starts_with('/') && !p.starts_with("/dev/shm/") && !p.starts_with("/SYSV") => {
                &mut b.file
            }
            _ => &mut b.other,
        };
        *slot += n;
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(start: u64, path: &str) -> Mapping {
        Mapping {
            start,
            end: start + 0x1000,
            readable: true,
            writable: true,
            executable: false,
            offset: 0,
            inode: 0,
            path: path.into(),
        }
    }

    #[test]
    fn kinds_add_up() {
        let maps = vec![
            map(0x1000, "/usr/bin/python3.12"),
            map(0x2000, "[heap]"),
            map(0x3000, ""),
            map(0x4000, ""),
            map(0x5000, "[stack]"),
            map(0x6000, "[vdso]"),
            map(0x7000, "/dev/shm/x"),
            map(0x8000, "not resident"),
        ];
        let rss: HashMap<u64, u64> = [
            (0x1000, 10),
            (0x2000, 20),
            (0x3000, 30),
            (0x4000, 40),
            (0x5000, 50),
            (0x6000, 60),
            (0x7000, 70),
        ]
        .into();
        let b = breakdown(&maps, &rss);
        assert_eq!(
            b,
            MemoryBreakdown {
                rss: 280,
                heap: 20,
                anonymous: 70,
                file: 10,
                stack: 50,
                other: 130,
            }
        );
    }
}

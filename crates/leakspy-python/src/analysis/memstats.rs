//! Where the process's resident memory is, by mapping kind: the first answer of a leak hunt is
//! whether the growth is Python objects or native memory. Pure: built from the memory map and the
//! per-mapping `Rss` of `/proc/PID/smaps`, read inside the pause; or, for stacks only, from the
//! kernel's counters in `/proc/PID/status` (no page-table walk, approximate, no split by mapping).

use leakspy_memory::proc::StatusRss;
use leakspy_memory::Mapping;
use serde::Serialize;
use std::collections::HashMap;

/// Resident bytes of the target by mapping kind.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct MemoryBreakdown {
    /// `"smaps"` (exact, by mapping) or `"status"` (the kernel's counters: approximate).
    pub source: &'static str,
    /// True when the figures come from the kernel's batched counters (`source` "status").
    pub approximate: bool,
    /// Sum of every mapping's `Rss` (status: `VmRSS`).
    pub rss: u64,
    /// `[heap]`: the brk heap (glibc's main malloc arena: objects > 512 bytes, native allocations).
    /// `None` from status, which counts it in `anonymous`.
    pub heap: Option<u64>,
    /// Anonymous mappings: pymalloc arenas (objects <= 512 bytes), large malloc blocks, other
    /// threads' malloc arenas, thread stacks, extension buffers. Status: `RssAnon`, every
    /// anonymous page ([heap], [stack] and written pages of file mappings among them).
    pub anonymous: u64,
    /// File-backed mappings: the interpreter, libraries, extension modules, mmapped files.
    /// Status: `RssFile`, their pages still shared with the file.
    pub file: u64,
    /// `[stack]`: the main thread's stack. `None` from status.
    pub stack: Option<u64>,
    /// Everything else (`[vdso]`, `[vvar]`, shared memory, ...). Status: `RssShmem`.
    pub other: u64,
}

impl MemoryBreakdown {
    /// The kernel's counters, for stacks only: they cost no page-table walk.
    pub fn from_status(st: StatusRss) -> Self {
        MemoryBreakdown {
            source: "status",
            approximate: true,
            rss: st.rss,
            heap: None,
            anonymous: st.anonymous,
            file: st.file,
            stack: None,
            other: st.shmem,
        }
    }
}

/// Classify every mapping of `maps` and add up its resident bytes from `rss` (keyed by start).
pub fn breakdown(maps: &[Mapping], rss: &HashMap<u64, u64>) -> MemoryBreakdown {
    let (mut heap, mut stack) = (0, 0);
    let mut b = MemoryBreakdown {
        source: "smaps",
        approximate: false,
        rss: 0,
        heap: None,
        anonymous: 0,
        file: 0,
        stack: None,
        other: 0,
    };
    for m in maps {
        let Some(&n) = rss.get(&m.start) else {
            continue;
        };
        b.rss += n;
        let slot = match m.path.as_str() {
            "[heap]" => &mut heap,
            "[stack]" => &mut stack,
            "" => &mut b.anonymous,
            p if p.starts_with('/') && !p.starts_with("/dev/shm/") && !p.starts_with("/SYSV") => {
                &mut b.file
            }
            _ => &mut b.other,
        };
        *slot += n;
    }
    b.heap = Some(heap);
    b.stack = Some(stack);
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
                source: "smaps",
                approximate: false,
                rss: 280,
                heap: Some(20),
                anonymous: 70,
                file: 10,
                stack: Some(50),
                other: 130,
            }
        );
    }
}

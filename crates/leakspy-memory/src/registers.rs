//! A thread's x86_64 registers (`user_regs_struct`), live from `PTRACE_GETREGS` under the pause or
//! from a core's `NT_PRSTATUS`, and the bytes of its stack from the stack pointer up, copied while the
//! thread is stopped (thread stacks are sparse mappings that the snapshot does not copy whole).

use crate::{Mapping, Memory};

/// Every general register of one thread, in `user_regs_struct` order. `orig_rax` is the system call
/// number a thread stopped in a system call sits in; `rdi, rsi, rdx, r10, r8, r9` its arguments.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Registers {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub rbp: u64,
    pub rbx: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rax: u64,
    pub rcx: u64,
    pub rdx: u64,
    pub rsi: u64,
    pub rdi: u64,
    pub orig_rax: u64,
    pub rip: u64,
    pub cs: u64,
    pub eflags: u64,
    pub rsp: u64,
    pub ss: u64,
    pub fs_base: u64,
    pub gs_base: u64,
    pub ds: u64,
    pub es: u64,
    pub fs: u64,
    pub gs: u64,
}

impl Registers {
    /// The six system call argument registers in the kernel's order (rdi, rsi, rdx, r10, r8, r9).
    pub fn syscall_args(&self) -> [u64; 6] {
        [self.rdi, self.rsi, self.rdx, self.r10, self.r8, self.r9]
    }

    /// Size of `user_regs_struct` in bytes (27 words).
    pub const SIZE: usize = 27 * 8;

    /// Decode `user_regs_struct` bytes (little-endian); `None` when fewer than [`Self::SIZE`].
    pub fn from_bytes(b: &[u8]) -> Option<Registers> {
        let b = b.get(..Self::SIZE)?;
        let mut w = [0u64; 27];
        for (i, chunk) in b.chunks_exact(8).enumerate() {
            let mut a = [0u8; 8];
            a.copy_from_slice(chunk);
            w[i] = u64::from_le_bytes(a);
        }
        Some(Registers {
            r15: w[0],
            r14: w[1],
            r13: w[2],
            r12: w[3],
            rbp: w[4],
            rbx: w[5],
            r11: w[6],
            r10: w[7],
            r9: w[8],
            r8: w[9],
            rax: w[10],
            rcx: w[11],
            rdx: w[12],
            rsi: w[13],
            rdi: w[14],
            orig_rax: w[15],
            rip: w[16],
            cs: w[17],
            eflags: w[18],
            rsp: w[19],
            ss: w[20],
            fs_base: w[21],
            gs_base: w[22],
            ds: w[23],
            es: w[24],
            fs: w[25],
            gs: w[26],
        })
    }

    /// From the kernel's struct as `PTRACE_GETREGS` fills it.
    pub fn from_user_regs(r: &nix::libc::user_regs_struct) -> Registers {
        Registers {
            r15: r.r15,
            r14: r.r14,
            r13: r.r13,
            r12: r.r12,
            rbp: r.rbp,
            rbx: r.rbx,
            r11: r.r11,
            r10: r.r10,
            r9: r.r9,
            r8: r.r8,
            rax: r.rax,
            rcx: r.rcx,
            rdx: r.rdx,
            rsi: r.rsi,
            rdi: r.rdi,
            orig_rax: r.orig_rax,
            rip: r.rip,
            cs: r.cs,
            eflags: r.eflags,
            rsp: r.rsp,
            ss: r.ss,
            fs_base: r.fs_base,
            gs_base: r.gs_base,
            ds: r.ds,
            es: r.es,
            fs: r.fs,
            gs: r.gs,
        }
    }

    /// A DWARF register (x86_64 psABI numbering: 0 rax, 1 rdx, 2 rcx, 3 rbx, 4 rsi, 5 rdi, 6 rbp,
    /// 7 rsp, 8-15 r8-r15, 16 the return address = rip).
    pub fn dwarf(&self, reg: u16) -> Option<u64> {
        Some(match reg {
            0 => self.rax,
            1 => self.rdx,
            2 => self.rcx,
            3 => self.rbx,
            4 => self.rsi,
            5 => self.rdi,
            6 => self.rbp,
            7 => self.rsp,
            8 => self.r8,
            9 => self.r9,
            10 => self.r10,
            11 => self.r11,
            12 => self.r12,
            13 => self.r13,
            14 => self.r14,
            15 => self.r15,
            16 => self.rip,
            _ => return None,
        })
    }
}

/// The stack a thread runs on, copied while it was stopped: `bytes` are the target's memory from
/// `start` (its stack pointer) on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StackCopy {
    pub start: u64,
    pub bytes: Vec<u8>,
}

impl StackCopy {
    /// How much of a stack is copied at most: deep enough for thousands of C frames, small enough
    /// that 50 threads add a few ms of pause.
    pub const CAP: u64 = 512 << 10;

    /// Copy from `rsp` up to [`Self::CAP`] or the end of the mapping that holds it; whole pages are
    /// read so that an unreadable page only shortens the copy.
    pub fn take(mem: &dyn Memory, maps: &[Mapping], rsp: u64) -> StackCopy {
        let Some(m) = maps.iter().find(|m| m.contains(rsp)) else {
            return StackCopy {
                start: rsp,
                bytes: Vec::new(),
            };
        };
        let end = m.end.min(rsp.saturating_add(Self::CAP));
        let len = end.saturating_sub(rsp) as usize;
        let mut bytes = vec![0u8; len];
        if mem.read(rsp, &mut bytes).is_err() {
            // Page by page, stopping at the first that fails.
            let mut at = rsp;
            let mut ok = 0usize;
            while at < end {
                let next = ((at / 4096) + 1) * 4096;
                let n = (next.min(end) - at) as usize;
                if mem.read(at, &mut bytes[ok..ok + n]).is_err() {
                    break;
                }
                ok += n;
                at += n as u64;
            }
            bytes.truncate(ok);
        }
        StackCopy { start: rsp, bytes }
    }

    /// The 8 bytes at `addr`, if copied.
    pub fn read_u64(&self, addr: u64) -> Option<u64> {
        let off = usize::try_from(addr.checked_sub(self.start)?).ok()?;
        let b = self.bytes.get(off..off.checked_add(8)?)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Some(u64::from_le_bytes(a))
    }

    /// One past the last copied address.
    pub fn end(&self) -> u64 {
        self.start + self.bytes.len() as u64
    }
}

/// One stopped thread: its registers and its stack.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ThreadCapture {
    /// TID in leakspy's pid namespace (live) or as the dumper saw it (core).
    pub tid: i32,
    pub regs: Registers,
    pub stack: StackCopy,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_user_regs_in_order() {
        let mut b = Vec::new();
        for i in 0..27u64 {
            b.extend_from_slice(&(i * 0x10).to_le_bytes());
        }
        let r = Registers::from_bytes(&b).unwrap();
        assert_eq!(r.r15, 0);
        assert_eq!(r.orig_rax, 15 * 0x10);
        assert_eq!(r.rip, 16 * 0x10);
        assert_eq!(r.rsp, 19 * 0x10);
        assert_eq!(r.fs_base, 21 * 0x10);
        assert_eq!(r.gs, 26 * 0x10);
        assert_eq!(r.dwarf(7), Some(r.rsp));
        assert_eq!(r.dwarf(16), Some(r.rip));
        assert!(Registers::from_bytes(&b[..200]).is_none());
    }

    #[test]
    fn stack_copy_reads_inside_only() {
        let s = StackCopy {
            start: 0x1000,
            bytes: (0..16u8).collect(),
        };
        assert_eq!(s.read_u64(0x1000), Some(0x0706050403020100));
        assert_eq!(s.read_u64(0x1008), Some(0x0f0e0d0c0b0a0908));
        assert_eq!(s.read_u64(0x1009), None);
        assert_eq!(s.read_u64(0xfff), None);
        assert_eq!(s.read_u64(u64::MAX), None);
    }
}

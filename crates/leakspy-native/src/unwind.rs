//! Walking a stopped thread's stack: DWARF CFI (`.eh_frame` through the binary-search table of
//! `.eh_frame_hdr`, `.debug_frame` when `.eh_frame` has no entry), Linux signal frames
//! (`__restore_rt`), and frame pointers where no CFI covers the code (marked as such).
//!
//! Only the registers and the stack copied under the pause are read. Everything is bounded: a depth
//! cap, a stack that must grow towards its base, a (pc, sp) pair never seen twice; garbage gives a
//! truncated stack and the reason, never a panic.

use crate::image::Image;
use crate::modules::ModuleMap;
use gimli::{
    BaseAddresses, CfaRule, EhFrame, EhFrameHdr, EndianSlice, LittleEndian, RegisterRule,
    UnwindContext, UnwindSection,
};
use leakspy_memory::{Registers, StackCopy};
use std::collections::HashSet;

/// Most frames unwound per thread.
pub const MAX_DEPTH: usize = 512;
/// Most operations one DWARF expression may run.
const MAX_EXPR_STEPS: u32 = 1000;
const RA: usize = 16;
const SP: usize = 7;
const BP: usize = 6;

/// `mov $0xf, %rax; syscall`: glibc's `__restore_rt` (rt_sigreturn), where a signal handler returns.
const RESTORE_RT: [u8; 9] = [0x48, 0xc7, 0xc0, 0x0f, 0x00, 0x00, 0x00, 0x0f, 0x05];

/// How a frame's caller was found (what `how` of the caller frame says).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum How {
    /// The innermost frame: the thread's own registers.
    Registers,
    /// DWARF call frame information.
    Cfi,
    /// No CFI covers the callee: the caller was taken from the frame-pointer chain (may be wrong
    /// for code built without frame pointers).
    FramePointer,
    /// The callee is a signal trampoline: the registers were restored from the signal frame.
    Signal,
}

/// One physical frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhysFrame {
    /// The program counter as gdb prints it: the instruction pointer for the innermost frame (and
    /// a frame interrupted by a signal), the return address for callers.
    pub pc: u64,
    pub how: How,
    /// Whether `pc` is exact (innermost or interrupted): otherwise it is a return address, and the
    /// call instruction is just before it.
    pub exact: bool,
}

impl PhysFrame {
    /// The address to look up symbols, lines and CFI for.
    pub fn lookup(&self) -> u64 {
        if self.exact {
            self.pc
        } else {
            self.pc.saturating_sub(1)
        }
    }
}

type Regs = [Option<u64>; 17];

fn regs_of(r: &Registers) -> Regs {
    let mut out = [None; 17];
    for (i, slot) in out.iter_mut().enumerate() {
        *slot = r.dwarf(i as u16);
    }
    out
}

/// Unwind one thread. Returns its frames (innermost first) and, when the walk stopped before the
/// outermost frame, why.
pub fn unwind(
    modules: &ModuleMap,
    regs: &Registers,
    stack: &StackCopy,
) -> (Vec<PhysFrame>, Option<String>) {
    let mut ctx = Box::new(UnwindContext::new());
    let mut regs = regs_of(regs);
    let mut frames = Vec::new();
    let mut seen = HashSet::new();
    let mut how = How::Registers;
    let mut exact = true;
    loop {
        let (Some(pc), Some(sp)) = (regs[RA], regs[SP]) else {
            return (frames, Some("a register needed to go on is unknown".into()));
        };
        if pc == 0 {
            return (frames, None);
        }
        if frames.len() >= MAX_DEPTH {
            return (frames, Some(format!("more than {MAX_DEPTH} native frames")));
        }
        if !seen.insert((pc, sp)) {
            return (frames, Some(format!("unwinding looped at {pc:#x}")));
        }
        let frame = PhysFrame { pc, how, exact };
        frames.push(frame);
        let step = match step(modules, stack, &regs, frame, &mut ctx) {
            Ok(Some(s)) => s,
            Ok(None) => return (frames, None),
            Err(why) => return (frames, Some(why)),
        };
        let (next, next_how) = step;
        let new_sp = next[SP].unwrap_or(0);
        // The stack grows down: a caller's frame is above its callee's (signal frames may sit on
        // an alternate stack, so they are exempt).
        if next_how != How::Signal && new_sp <= sp && next[RA] != Some(0) {
            return (
                frames,
                Some(format!(
                    "the stack pointer did not grow from {sp:#x} (to {new_sp:#x}); garbage?"
                )),
            );
        }
        log::trace!(
            "{pc:#x} sp {sp:#x} -> {:#x?} sp {new_sp:#x} ({next_how:?})",
            next[RA]
        );
        exact = next_how == How::Signal;
        how = next_how;
        regs = next;
    }
}

/// The caller's registers, `None` at the outermost frame.
fn step(
    modules: &ModuleMap,
    stack: &StackCopy,
    regs: &Regs,
    frame: PhysFrame,
    ctx: &mut UnwindContext<usize>,
) -> Result<Option<(Regs, How)>, String> {
    let module = modules.find(frame.pc);
    let image = module.and_then(|m| m.image.as_deref().map(|i| (i, m.bias)));
    if let Some((img, bias)) = image {
        let svma = frame.pc.wrapping_sub(bias);
        if img.elf.code_at(svma, RESTORE_RT.len()) == Some(&RESTORE_RT[..]) {
            return signal_frame(stack, regs).map(|r| Some((r, How::Signal)));
        }
        if let Some(r) = cfi_step(img, frame.lookup().wrapping_sub(bias), stack, regs, ctx) {
            return r.map(|r| r.map(|r| (r, How::Cfi)));
        }
    }
    frame_pointer(stack, regs)
        .map(|r| Some((r, How::FramePointer)))
        .ok_or_else(|| match module {
            None => format!("{:#x} is outside every mapped file", frame.pc),
            Some(m) => format!(
                "no unwind information for {:#x} in {} and no frame pointer chain",
                frame.pc, m.path
            ),
        })
}

/// `None`: no CFI covers the address; else the caller's registers (`None` at the outermost frame).
type Cfi = Option<Result<Option<Regs>, String>>;

fn cfi_step(
    img: &Image,
    svma: u64,
    stack: &StackCopy,
    regs: &Regs,
    ctx: &mut UnwindContext<usize>,
) -> Cfi {
    let e = &img.elf;
    if let Some(eh) = &e.eh_frame {
        let mut bases = BaseAddresses::default().set_eh_frame(eh.addr);
        if let Some(t) = &e.text {
            bases = bases.set_text(t.addr);
        }
        let mut section = EhFrame::new(&eh.data[..], LittleEndian);
        section.set_address_size(8);
        let fde = match &e.eh_frame_hdr {
            Some(hdr) => {
                bases = bases.set_eh_frame_hdr(hdr.addr);
                EhFrameHdr::new(&hdr.data[..], LittleEndian)
                    .parse(&bases, 8)
                    .ok()
                    .and_then(|p| {
                        p.table()?
                            .fde_for_address(&section, &bases, svma, EhFrame::cie_from_offset)
                            .ok()
                    })
            }
            None => section
                .fde_for_address(&bases, svma, EhFrame::cie_from_offset)
                .ok(),
        };
        if let Some(fde) = fde {
            if let Ok(row) = fde.unwind_info_for_address(&section, &bases, ctx, svma) {
                let enc = fde.cie().encoding();
                return Some(apply(row, &section, enc, stack, regs));
            }
        }
    }
    if let Some(df) = &e.debug_frame {
        let mut section = gimli::DebugFrame::new(&df.data[..], LittleEndian);
        section.set_address_size(8);
        let bases = BaseAddresses::default();
        if let Ok(fde) = section.fde_for_address(&bases, svma, gimli::DebugFrame::cie_from_offset) {
            if let Ok(row) = fde.unwind_info_for_address(&section, &bases, ctx, svma) {
                let enc = fde.cie().encoding();
                return Some(apply(row, &section, enc, stack, regs));
            }
        }
    }
    None
}

type Slice<'a> = EndianSlice<'a, LittleEndian>;

fn apply<'a, S: UnwindSection<Slice<'a>>>(
    row: &gimli::UnwindTableRow<usize>,
    section: &S,
    enc: gimli::Encoding,
    stack: &StackCopy,
    regs: &Regs,
) -> Result<Option<Regs>, String> {
    let cfa = match row.cfa() {
        CfaRule::RegisterAndOffset { register, offset } => regs
            .get(register.0 as usize)
            .copied()
            .flatten()
            .ok_or("the CFA register is unknown")?
            .wrapping_add(*offset as u64),
        CfaRule::Expression(e) => {
            let expr = e
                .get(section)
                .map_err(|e| format!("bad CFA expression: {e}"))?;
            match evaluate(expr, enc, None, stack, regs)? {
                Loc::Address(a) | Loc::Value(a) => a,
            }
        }
    };
    let mut next: Regs = [None; 17];
    // Callee-saved registers survive a call unless the CFI says where they were saved.
    for r in [3usize, 6, 12, 13, 14, 15] {
        next[r] = regs[r];
    }
    next[SP] = Some(cfa);
    let mut ra_undefined = false;
    for r in 0..17u16 {
        let rule = row.register(gimli::Register(r));
        let v = match rule {
            RegisterRule::Undefined => {
                // gimli cannot tell "marked undefined" from "no rule"; every x86_64 CIE gives the
                // return address a rule, so an undefined one is the outermost frame (`_start`,
                // `clone3`: `.cfi_undefined rip`).
                if r as usize == RA {
                    ra_undefined = true;
                }
                if row.registers().any(|(reg, _)| reg.0 == r) {
                    None
                } else {
                    continue;
                }
            }
            RegisterRule::SameValue => regs[r as usize],
            RegisterRule::Offset(o) => Some(read(stack, cfa.wrapping_add(o as u64))?),
            RegisterRule::ValOffset(o) => Some(cfa.wrapping_add(o as u64)),
            RegisterRule::Register(from) => regs.get(from.0 as usize).copied().flatten(),
            RegisterRule::Expression(e) => {
                let expr = e.get(section).map_err(|e| format!("bad expression: {e}"))?;
                match evaluate(expr, enc, Some(cfa), stack, regs)? {
                    Loc::Address(a) => Some(read(stack, a)?),
                    Loc::Value(v) => Some(v),
                }
            }
            RegisterRule::ValExpression(e) => {
                let expr = e.get(section).map_err(|e| format!("bad expression: {e}"))?;
                match evaluate(expr, enc, Some(cfa), stack, regs)? {
                    Loc::Address(a) | Loc::Value(a) => Some(a),
                }
            }
            RegisterRule::Constant(c) => Some(c),
            _ => None,
        };
        next[r as usize] = v;
    }
    if ra_undefined {
        // The return address is marked undefined: the outermost frame (`_start`, `clone3`).
        return Ok(None);
    }
    if next[RA].is_none() {
        return Err("the unwind information gives no return address".into());
    }
    Ok(Some(next))
}

fn read(stack: &StackCopy, addr: u64) -> Result<u64, String> {
    stack
        .read_u64(addr)
        .ok_or_else(|| format!("{addr:#x} is outside the copied stack"))
}

enum Loc {
    Address(u64),
    Value(u64),
}

fn evaluate(
    expr: gimli::Expression<Slice<'_>>,
    enc: gimli::Encoding,
    initial: Option<u64>,
    stack: &StackCopy,
    regs: &Regs,
) -> Result<Loc, String> {
    use gimli::{EvaluationResult as E, Location, Value};
    let mut eval = expr.evaluation(enc);
    eval.set_max_iterations(MAX_EXPR_STEPS);
    if let Some(v) = initial {
        eval.set_initial_value(v);
    }
    let mut state = eval
        .evaluate()
        .map_err(|e| format!("CFI expression: {e}"))?;
    for _ in 0..MAX_EXPR_STEPS {
        state = match state {
            E::Complete => {
                let pieces = eval.result();
                return match pieces.first().map(|p| &p.location) {
                    Some(Location::Address { address }) => Ok(Loc::Address(*address)),
                    Some(Location::Value { value }) => value
                        .to_u64(u64::MAX)
                        .map(Loc::Value)
                        .map_err(|e| format!("CFI expression: {e}")),
                    _ => Err("CFI expression gives no address".into()),
                };
            }
            E::RequiresRegister { register, .. } => {
                let v = regs
                    .get(register.0 as usize)
                    .copied()
                    .flatten()
                    .ok_or("CFI expression needs an unknown register")?;
                eval.resume_with_register(Value::Generic(v))
            }
            E::RequiresMemory { address, .. } => {
                let v = read(stack, address)?;
                eval.resume_with_memory(Value::Generic(v))
            }
            _ => return Err("CFI expression needs what a stack walk cannot give".into()),
        }
        .map_err(|e| format!("CFI expression: {e}"))?;
    }
    Err("CFI expression too long".into())
}

/// Registers restored from the `ucontext_t` a signal handler returns through (`rsp` points at it
/// in `__restore_rt`): `uc_mcontext.gregs` starts at byte 40, in the order r8..r15, rdi, rsi, rbp,
/// rbx, rdx, rax, rcx, rsp, rip.
fn signal_frame(stack: &StackCopy, regs: &Regs) -> Result<Regs, String> {
    let sp = regs[SP].ok_or("unknown stack pointer")?;
    let g = |i: u64| read(stack, sp.wrapping_add(40 + 8 * i));
    let mut next: Regs = [None; 17];
    let order = [
        8usize, 9, 10, 11, 12, 13, 14, 15, 5, 4, 6, 3, 1, 0, 2, 7, 16,
    ];
    for (i, &r) in order.iter().enumerate() {
        next[r] = Some(g(i as u64)?);
    }
    Ok(next)
}

/// The caller by the frame-pointer chain: `[rbp]` is the caller's rbp, `[rbp+8]` the return address.
fn frame_pointer(stack: &StackCopy, regs: &Regs) -> Option<Regs> {
    let bp = regs[BP]?;
    let sp = regs[SP]?;
    if bp < sp || bp % 8 != 0 {
        return None;
    }
    let ra = stack.read_u64(bp.checked_add(8)?)?;
    let caller_bp = stack.read_u64(bp)?;
    let mut next = *regs;
    for r in [0usize, 1, 2, 4, 5, 8, 9, 10, 11] {
        next[r] = None;
    }
    next[BP] = Some(caller_bp);
    next[SP] = Some(bp + 16);
    next[RA] = Some(ra);
    Some(next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::ImageCache;
    use leakspy_memory::Mapping;
    use proptest::prelude::*;
    use std::path::{Path, PathBuf};

    /// The test binary itself as the one module, mapped where the kernel put it.
    fn own_modules(cache: &mut ImageCache) -> ModuleMap {
        let maps = leakspy_memory::parse_maps(
            &std::fs::read_to_string("/proc/self/maps").unwrap_or_default(),
        );
        let exe = std::env::current_exe().unwrap();
        let mine: Vec<Mapping> = maps
            .into_iter()
            .filter(|m| Path::new(&m.path) == exe)
            .collect();
        ModuleMap::new(
            &mine,
            &|p: &str| Some(PathBuf::from(p)),
            Path::new("/"),
            cache,
        )
    }

    #[test]
    fn garbage_registers_give_a_reason_not_a_panic() {
        let mut cache = ImageCache::default();
        let modules = own_modules(&mut cache);
        let regs = Registers {
            rip: 0xdead_beef,
            rsp: 0x1000,
            ..Default::default()
        };
        let (frames, why) = unwind(&modules, &regs, &StackCopy::default());
        assert_eq!(frames.len(), 1);
        assert!(why.is_some());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        /// Arbitrary registers over an arbitrary stack, with real unwind tables (this binary's):
        /// bounded, never a panic.
        #[test]
        fn unwinding_garbage_never_panics(
            words in proptest::collection::vec(any::<u64>(), 0..512),
            rip_off in any::<u64>(),
            rbp in any::<u64>(),
            sp_off in 0u64..4096,
        ) {
            thread_local! {
                // Parsed once: every case reuses this binary's tables.
                static MODS: ModuleMap = own_modules(&mut ImageCache::default());
            }
            MODS.with(|modules| {
            let base = modules.modules().first().map_or(0, |m| m.start);
            let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
            let start = 0x7ff0_0000_0000u64;
            // Half the stack words point into the module, so the walk goes on for a while.
            let bytes: Vec<u8> = bytes
                .chunks(8)
                .enumerate()
                .flat_map(|(i, c)| {
                    let mut a = [0u8; 8];
                    a[..c.len()].copy_from_slice(c);
                    let w = u64::from_le_bytes(a);
                    let w = if i % 2 == 0 { base.wrapping_add(w % (8 << 20)) } else { w };
                    w.to_le_bytes()
                })
                .collect();
            let regs = Registers {
                rip: base.wrapping_add(rip_off % (8 << 20)),
                rsp: start + sp_off,
                rbp,
                ..Default::default()
            };
            let stack = StackCopy { start, bytes };
            let (frames, _) = unwind(modules, &regs, &stack);
            prop_assert!(frames.len() <= MAX_DEPTH);
            let _ = crate::symbolize(modules, &frames);
            Ok(())
            })?;
        }
    }
}

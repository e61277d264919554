//! Native (C/C++/Rust) stacks of a stopped thread, from its registers and a copy of its stack.
//!
//! [`ModuleMap`] says which ELF image holds an address (parsed once per build-id by
//! [`ImageCache`]); [`unwind`] walks the stack by DWARF CFI (frame pointers where no CFI exists,
//! signal frames through `__restore_rt`); [`symbolize`] names each frame from DWARF (functions,
//! file:line, inlined frames; from the image or its separate debug file) or the symbol tables.
//!
//! No Python knowledge here. Every input — the target's registers and stack, the files it maps — is
//! untrusted: bounded walks, no panics, truncated stacks with a reason.

pub mod elf;
pub mod image;
pub mod modules;
pub mod unwind;

pub use image::{Image, ImageCache};
pub use modules::{Module, ModuleMap};
pub use unwind::{unwind, How, PhysFrame, MAX_DEPTH};

use serde::Serialize;

/// One native frame as reported (`native_frames` in the JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NativeFrame {
    /// Function name (DWARF, else the symbol table; demangled); `None` when unknown.
    pub function: Option<String>,
    /// The mapped file the address is in, as the target sees it.
    pub library: Option<String>,
    /// `address` relative to the library's own addresses (what `addr2line -e LIBRARY` takes).
    pub offset: u64,
    /// The program counter as gdb prints it (instruction pointer innermost, return addresses above).
    pub address: u64,
    pub filename: Option<String>,
    pub line: Option<u32>,
    /// Added by DWARF inline information at the same address as the next frame.
    pub inlined: bool,
    /// The frame was found through the frame-pointer chain, not unwind information: it may be
    /// wrong.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub frame_pointer: bool,
    /// Other symbol names at the same function start (aliases such as `__GI___poll` / `poll`).
    #[serde(skip)]
    pub aliases: Vec<String>,
}

/// Frames of one thread, innermost first, and why the walk stopped early (if it did).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NativeStack {
    pub frames: Vec<NativeFrame>,
    pub truncated: Option<String>,
}

/// Name every physical frame, expanding inlined functions (innermost first).
pub fn symbolize(modules: &ModuleMap, phys: &[PhysFrame]) -> Vec<NativeFrame> {
    let mut out = Vec::new();
    for (i, f) in phys.iter().enumerate() {
        let module = modules.find(f.pc);
        let library = module.map(|m| m.path.clone());
        let bias = module.map_or(0, |m| m.bias);
        let offset = f.pc.wrapping_sub(bias);
        let svma = f.lookup().wrapping_sub(bias);
        // The frame-pointer mark belongs to the frame that was found that way (the caller).
        let frame_pointer = phys.get(i).is_some_and(|p| p.how == How::FramePointer);
        let img = module.and_then(|m| m.image.as_deref());
        let symbol = img.and_then(|i| i.symbol(svma));
        let aliases = img.map(|i| i.aliases(svma)).unwrap_or_default();
        let sources = img.map(|i| i.source_frames(svma)).unwrap_or_default();
        let base = NativeFrame {
            function: symbol.as_ref().map(|s| s.0.clone()),
            library,
            offset,
            address: f.pc,
            filename: None,
            line: None,
            inlined: false,
            frame_pointer,
            aliases,
        };
        let n = sources.len();
        if n == 0 {
            out.push(base);
            continue;
        }
        for (k, s) in sources.into_iter().enumerate() {
            let outer = k + 1 == n;
            out.push(NativeFrame {
                function: s
                    .function
                    .or_else(|| outer.then(|| base.function.clone()).flatten()),
                filename: s.filename,
                line: s.line,
                inlined: !outer,
                aliases: if outer {
                    base.aliases.clone()
                } else {
                    Vec::new()
                },
                ..base.clone()
            });
        }
    }
    out
}

/// Unwind and name one thread.
pub fn native_stack(
    modules: &ModuleMap,
    regs: &leakspy_memory::Registers,
    stack: &leakspy_memory::StackCopy,
) -> NativeStack {
    let (phys, truncated) = unwind(modules, regs, stack);
    NativeStack {
        frames: symbolize(modules, &phys),
        truncated,
    }
}

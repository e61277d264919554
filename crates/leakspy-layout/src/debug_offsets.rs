//! `_Py_DebugOffsets` (3.13+): the offsets table CPython embeds at the start of `_PyRuntime` for
//! out-of-process tools.
//!
//! leakspy decodes it from the target, uses it for every field it covers, and cross-checks those
//! fields against the shipped layout file: a difference is reported as a [`Mismatch`] naming the field
//! (the target's value wins). Fields the table does not cover (GC list heads, dict internals, str
//! state bits...) keep the layout file's values.
//!
//! Field order per minor version: CPython `Include/internal/pycore_runtime.h` (3.13) and
//! `Include/internal/pycore_debug_offsets.h` (3.14, 3.15). All members after the 8-byte cookie are
//! `uint64_t`.

use crate::Layout;
use std::collections::HashMap;

/// The cookie at offset 0 of `_PyRuntime` from 3.13 on.
pub const COOKIE: &[u8; 8] = b"xdebugpy";

const V313: &[&str] = &[
    "version",
    "free_threaded",
    "runtime_state.size",
    "runtime_state.finalizing",
    "runtime_state.interpreters_head",
    "interpreter_state.size",
    "interpreter_state.id",
    "interpreter_state.next",
    "interpreter_state.threads_head",
    "interpreter_state.gc",
    "interpreter_state.imports_modules",
    "interpreter_state.sysdict",
    "interpreter_state.builtins",
    "interpreter_state.ceval_gil",
    "interpreter_state.gil_runtime_state",
    "interpreter_state.gil_runtime_state_enabled",
    "interpreter_state.gil_runtime_state_locked",
    "interpreter_state.gil_runtime_state_holder",
    "thread_state.size",
    "thread_state.prev",
    "thread_state.next",
    "thread_state.interp",
    "thread_state.current_frame",
    "thread_state.thread_id",
    "thread_state.native_thread_id",
    "thread_state.datastack_chunk",
    "thread_state.status",
    "interpreter_frame.size",
    "interpreter_frame.previous",
    "interpreter_frame.executable",
    "interpreter_frame.instr_ptr",
    "interpreter_frame.localsplus",
    "interpreter_frame.owner",
    "code_object.size",
    "code_object.filename",
    "code_object.name",
    "code_object.qualname",
    "code_object.linetable",
    "code_object.firstlineno",
    "code_object.argcount",
    "code_object.localsplusnames",
    "code_object.localspluskinds",
    "code_object.co_code_adaptive",
    "pyobject.size",
    "pyobject.ob_type",
    "type_object.size",
    "type_object.tp_name",
    "type_object.tp_repr",
    "type_object.tp_flags",
    "tuple_object.size",
    "tuple_object.ob_item",
    "tuple_object.ob_size",
    "list_object.size",
    "list_object.ob_item",
    "list_object.ob_size",
    "dict_object.size",
    "dict_object.ma_keys",
    "dict_object.ma_values",
    "float_object.size",
    "float_object.ob_fval",
    "long_object.size",
    "long_object.lv_tag",
    "long_object.ob_digit",
    "bytes_object.size",
    "bytes_object.ob_size",
    "bytes_object.ob_sval",
    "unicode_object.size",
    "unicode_object.state",
    "unicode_object.length",
    "unicode_object.asciiobject_size",
    "gc.size",
    "gc.collecting",
];

const V314: &[&str] = &[
    "version",
    "free_threaded",
    "runtime_state.size",
    "runtime_state.finalizing",
    "runtime_state.interpreters_head",
    "interpreter_state.size",
    "interpreter_state.id",
    "interpreter_state.next",
    "interpreter_state.threads_head",
    "interpreter_state.threads_main",
    "interpreter_state.gc",
    "interpreter_state.imports_modules",
    "interpreter_state.sysdict",
    "interpreter_state.builtins",
    "interpreter_state.ceval_gil",
    "interpreter_state.gil_runtime_state",
    "interpreter_state.gil_runtime_state_enabled",
    "interpreter_state.gil_runtime_state_locked",
    "interpreter_state.gil_runtime_state_holder",
    "interpreter_state.code_object_generation",
    "interpreter_state.tlbc_generation",
    "thread_state.size",
    "thread_state.prev",
    "thread_state.next",
    "thread_state.interp",
    "thread_state.current_frame",
    "thread_state.thread_id",
    "thread_state.native_thread_id",
    "thread_state.datastack_chunk",
    "thread_state.status",
    "interpreter_frame.size",
    "interpreter_frame.previous",
    "interpreter_frame.executable",
    "interpreter_frame.instr_ptr",
    "interpreter_frame.localsplus",
    "interpreter_frame.owner",
    "interpreter_frame.stackpointer",
    "interpreter_frame.tlbc_index",
    "code_object.size",
    "code_object.filename",
    "code_object.name",
    "code_object.qualname",
    "code_object.linetable",
    "code_object.firstlineno",
    "code_object.argcount",
    "code_object.localsplusnames",
    "code_object.localspluskinds",
    "code_object.co_code_adaptive",
    "code_object.co_tlbc",
    "pyobject.size",
    "pyobject.ob_type",
    "type_object.size",
    "type_object.tp_name",
    "type_object.tp_repr",
    "type_object.tp_flags",
    "tuple_object.size",
    "tuple_object.ob_item",
    "tuple_object.ob_size",
    "list_object.size",
    "list_object.ob_item",
    "list_object.ob_size",
    "set_object.size",
    "set_object.used",
    "set_object.table",
    "set_object.mask",
    "dict_object.size",
    "dict_object.ma_keys",
    "dict_object.ma_values",
    "float_object.size",
    "float_object.ob_fval",
    "long_object.size",
    "long_object.lv_tag",
    "long_object.ob_digit",
    "bytes_object.size",
    "bytes_object.ob_size",
    "bytes_object.ob_sval",
    "unicode_object.size",
    "unicode_object.state",
    "unicode_object.length",
    "unicode_object.asciiobject_size",
    "gc.size",
    "gc.collecting",
    "gen_object.size",
    "gen_object.gi_name",
    "gen_object.gi_iframe",
    "gen_object.gi_frame_state",
    "llist_node.next",
    "llist_node.prev",
    "debugger_support.eval_breaker",
    "debugger_support.remote_debugger_support",
    "debugger_support.remote_debugging_enabled",
    "debugger_support.debugger_pending_call",
    "debugger_support.debugger_script_path",
    "debugger_support.debugger_script_path_size",
];

const V315: &[&str] = &[
    "version",
    "free_threaded",
    "runtime_state.size",
    "runtime_state.finalizing",
    "runtime_state.interpreters_head",
    "interpreter_state.size",
    "interpreter_state.id",
    "interpreter_state.next",
    "interpreter_state.threads_head",
    "interpreter_state.threads_main",
    "interpreter_state.gc",
    "interpreter_state.imports_modules",
    "interpreter_state.sysdict",
    "interpreter_state.builtins",
    "interpreter_state.ceval_gil",
    "interpreter_state.gil_runtime_state",
    "interpreter_state.gil_runtime_state_enabled",
    "interpreter_state.gil_runtime_state_locked",
    "interpreter_state.gil_runtime_state_holder",
    "interpreter_state.code_object_generation",
    "interpreter_state.tlbc_generation",
    "thread_state.size",
    "thread_state.prev",
    "thread_state.next",
    "thread_state.interp",
    "thread_state.current_frame",
    "thread_state.base_frame",
    "thread_state.last_profiled_frame",
    "thread_state.last_profiled_frame_seq",
    "thread_state.thread_id",
    "thread_state.native_thread_id",
    "thread_state.datastack_chunk",
    "thread_state.status",
    "thread_state.holds_gil",
    "thread_state.gil_requested",
    "thread_state.current_exception",
    "thread_state.exc_state",
    "err_stackitem.exc_value",
    "interpreter_frame.size",
    "interpreter_frame.previous",
    "interpreter_frame.executable",
    "interpreter_frame.instr_ptr",
    "interpreter_frame.localsplus",
    "interpreter_frame.owner",
    "interpreter_frame.stackpointer",
    "interpreter_frame.tlbc_index",
    "code_object.size",
    "code_object.filename",
    "code_object.name",
    "code_object.qualname",
    "code_object.linetable",
    "code_object.firstlineno",
    "code_object.argcount",
    "code_object.localsplusnames",
    "code_object.localspluskinds",
    "code_object.co_code_adaptive",
    "code_object.co_tlbc",
    "pyobject.size",
    "pyobject.ob_type",
    "type_object.size",
    "type_object.tp_name",
    "type_object.tp_repr",
    "type_object.tp_flags",
    "type_object.tp_basicsize",
    "type_object.tp_dictoffset",
    "heap_type_object.size",
    "heap_type_object.ht_cached_keys",
    "tuple_object.size",
    "tuple_object.ob_item",
    "tuple_object.ob_size",
    "list_object.size",
    "list_object.ob_item",
    "list_object.ob_size",
    "set_object.size",
    "set_object.used",
    "set_object.table",
    "set_object.mask",
    "dict_object.size",
    "dict_object.ma_keys",
    "dict_object.ma_values",
    "float_object.size",
    "float_object.ob_fval",
    "long_object.size",
    "long_object.lv_tag",
    "long_object.ob_digit",
    "bytes_object.size",
    "bytes_object.ob_size",
    "bytes_object.ob_sval",
    "unicode_object.size",
    "unicode_object.state",
    "unicode_object.length",
    "unicode_object.asciiobject_size",
    "unicode_object.compactunicodeobject_size",
    "gc.size",
    "gc.collecting",
    "gc.frame",
    "gc.generation_stats_size",
    "gc.generation_stats",
    "gen_object.size",
    "gen_object.gi_name",
    "gen_object.gi_iframe",
    "gen_object.gi_frame_state",
    "llist_node.next",
    "llist_node.prev",
    "debugger_support.eval_breaker",
    "debugger_support.remote_debugger_support",
    "debugger_support.remote_debugging_enabled",
    "debugger_support.debugger_pending_call",
    "debugger_support.debugger_script_path",
    "debugger_support.debugger_script_path_size",
];

/// Field names, in order, of `_Py_DebugOffsets` for a minor version (None: the version has no table or
/// leakspy does not know its shape).
pub fn field_names(minor: u8) -> Option<&'static [&'static str]> {
    match minor {
        13 => Some(V313),
        14 => Some(V314),
        15 => Some(V315),
        _ => None,
    }
}

/// Bytes to read at `_PyRuntime` to decode the table of a minor version.
pub fn blob_len(minor: u8) -> Option<usize> {
    field_names(minor).map(|f| 8 + 8 * f.len())
}

/// Largest offset or size [`DebugOffsets::apply`] accepts (the largest real one, an offset inside
/// `PyInterpreterState`, is about 100 KiB).
pub const MAX_FIELD_VALUE: u64 = 1 << 20;

/// A decoded `_Py_DebugOffsets`.
#[derive(Debug, Clone)]
pub struct DebugOffsets {
    pub values: HashMap<&'static str, u64>,
}

/// A field where the target's table and the layout file disagree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub field: &'static str,
    pub layout: u64,
    pub target: u64,
}

impl DebugOffsets {
    /// Decode `blob` (starting with the cookie) for minor version `minor`. None if the cookie is wrong,
    /// the blob is short, or the minor is unknown.
    pub fn decode(minor: u8, blob: &[u8]) -> Option<DebugOffsets> {
        if blob.get(..8)? != COOKIE {
            return None;
        }
        let names = field_names(minor)?;
        let mut values = HashMap::new();
        for (i, name) in names.iter().enumerate() {
            let at = 8 + 8 * i;
            let b: [u8; 8] = blob.get(at..at + 8)?.try_into().ok()?;
            values.insert(*name, u64::from_le_bytes(b));
        }
        Some(DebugOffsets { values })
    }

    pub fn get(&self, name: &str) -> Option<u64> {
        self.values.get(name).copied()
    }

    /// Overwrite every layout field the table covers with the target's value and return the fields
    /// that differed. Returns the number of fields applied as well. Every field is an offset or a
    /// struct size; a value above [`MAX_FIELD_VALUE`] is garbage (a corrupt or hostile table) and is
    /// not applied.
    pub fn apply(&self, l: &mut Layout) -> (usize, Vec<Mismatch>) {
        let mut applied = 0;
        let mut mismatches = Vec::new();
        let mut set = |name: &'static str, field: &mut u64| {
            if let Some(v) = self.get(name).filter(|&v| v <= MAX_FIELD_VALUE) {
                applied += 1;
                if *field != v {
                    mismatches.push(Mismatch {
                        field: name,
                        layout: *field,
                        target: v,
                    });
                    *field = v;
                }
            }
        };
        set(
            "runtime_state.interpreters_head",
            &mut l.runtime.interpreters_head,
        );
        set("interpreter_state.next", &mut l.interp.next);
        set("interpreter_state.threads_head", &mut l.interp.threads_head);
        if let Some(f) = l.interp.gc.as_mut() {
            set("interpreter_state.gc", f);
        }
        set("interpreter_state.imports_modules", &mut l.interp.modules);
        if let Some(f) = l.interp.threads_main.as_mut() {
            set("interpreter_state.threads_main", f);
        }
        if let Some(f) = l.interp.ceval_gil_ptr.as_mut() {
            set("interpreter_state.ceval_gil", f);
        }
        set("thread_state.size", &mut l.tstate.size);
        set("thread_state.next", &mut l.tstate.next);
        set("thread_state.interp", &mut l.tstate.interp);
        set("thread_state.thread_id", &mut l.tstate.thread_id);
        for (name, field) in [
            (
                "thread_state.native_thread_id",
                l.tstate.native_thread_id.as_mut(),
            ),
            (
                "thread_state.current_frame",
                l.tstate.current_frame.as_mut(),
            ),
            (
                "thread_state.datastack_chunk",
                l.tstate.datastack_chunk.as_mut(),
            ),
            ("thread_state.base_frame", l.tstate.base_frame.as_mut()),
            ("thread_state.holds_gil", l.tstate.holds_gil.as_mut()),
        ] {
            if let Some(f) = field {
                set(name, f);
            }
        }
        if let Some(fr) = l.iframe.as_mut() {
            set("interpreter_frame.size", &mut fr.size);
            set("interpreter_frame.previous", &mut fr.previous);
            set("interpreter_frame.executable", &mut fr.executable);
            set("interpreter_frame.instr_ptr", &mut fr.instr_ptr);
            set("interpreter_frame.localsplus", &mut fr.localsplus);
            set("interpreter_frame.owner", &mut fr.owner);
            if let Some(f) = fr.stackpointer.as_mut() {
                set("interpreter_frame.stackpointer", f);
            }
        }
        set("code_object.filename", &mut l.code.co_filename);
        set("code_object.name", &mut l.code.co_name);
        if let Some(f) = l.code.co_qualname.as_mut() {
            set("code_object.qualname", f);
        }
        set("code_object.linetable", &mut l.code.co_linetable);
        set("code_object.firstlineno", &mut l.code.co_firstlineno);
        if let Some(f) = l.code.co_code_adaptive.as_mut() {
            set("code_object.co_code_adaptive", f);
        }
        set("pyobject.size", &mut l.object.size);
        set("pyobject.ob_type", &mut l.object.ob_type);
        set("type_object.size", &mut l.type_.size);
        set("type_object.tp_name", &mut l.type_.tp_name);
        set("type_object.tp_flags", &mut l.type_.tp_flags);
        set("type_object.tp_basicsize", &mut l.type_.tp_basicsize);
        set("type_object.tp_dictoffset", &mut l.type_.tp_dictoffset);
        set("heap_type_object.size", &mut l.type_.heap_size);
        set(
            "heap_type_object.ht_cached_keys",
            &mut l.type_.ht_cached_keys,
        );
        set("tuple_object.ob_item", &mut l.tuple.ob_item);
        set("list_object.ob_item", &mut l.list.ob_item);
        set("list_object.ob_size", &mut l.object.ob_size);
        set("set_object.used", &mut l.set.used);
        set("set_object.table", &mut l.set.table);
        set("set_object.mask", &mut l.set.mask);
        set("dict_object.ma_keys", &mut l.dict.ma_keys);
        set("dict_object.ma_values", &mut l.dict.ma_values);
        set("long_object.lv_tag", &mut l.long.size_or_tag);
        set("long_object.ob_digit", &mut l.long.ob_digit);
        set("bytes_object.ob_sval", &mut l.bytes.ob_sval);
        set("unicode_object.state", &mut l.unicode.state);
        set("unicode_object.length", &mut l.unicode.length);
        set("unicode_object.asciiobject_size", &mut l.unicode.ascii_size);
        set(
            "unicode_object.compactunicodeobject_size",
            &mut l.unicode.compact_size,
        );
        set("gc.size", &mut l.gc.size);
        set("gc.collecting", &mut l.gc.collecting);
        if let Some(g) = l.gen.as_mut() {
            if let Some(f) = g.iframe.as_mut() {
                set("gen_object.gi_iframe", f);
            }
            if let Some(f) = g.frame_state.as_mut() {
                set("gen_object.gi_frame_state", f);
            }
        }
        (applied, mismatches)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_checks_cookie_and_length() {
        let n = field_names(14).unwrap().len();
        let mut blob = COOKIE.to_vec();
        for i in 0..n as u64 {
            blob.extend_from_slice(&i.to_le_bytes());
        }
        let d = DebugOffsets::decode(14, &blob).unwrap();
        assert_eq!(d.get("version"), Some(0));
        assert_eq!(
            d.get("debugger_support.debugger_script_path_size"),
            Some(n as u64 - 1)
        );
        assert_eq!(blob_len(14), Some(760));
        assert_eq!(blob_len(13), Some(584));
        assert_eq!(blob_len(15), Some(888));
        assert!(DebugOffsets::decode(14, &blob[..100]).is_none());
        blob[0] = b'X';
        assert!(DebugOffsets::decode(14, &blob).is_none());
    }

    /// Regression (issue #7 fuzzing): a garbage table rewrote offsets to values near 2^64, and every
    /// `address + offset` in the walkers overflowed. Absurd values are not applied.
    #[test]
    fn absurd_values_are_not_applied() {
        let n = field_names(14).unwrap().len();
        let mut blob = COOKIE.to_vec();
        for _ in 0..n {
            blob.extend_from_slice(&u64::MAX.to_le_bytes());
        }
        let d = DebugOffsets::decode(14, &blob).unwrap();
        let layout = crate::all()
            .into_iter()
            .find(|l| l.file == "3.14.toml")
            .unwrap()
            .layout;
        let mut l = layout.clone();
        let (applied, mismatches) = d.apply(&mut l);
        assert_eq!((applied, mismatches.len()), (0, 0));
        assert_eq!(l, layout);
    }
}

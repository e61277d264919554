//! Walker: every object on every GC generation list and the permanent generation
//! (`gc.get_objects()` plus `gc.freeze()`'s), checking every back link.

use super::{Census, Sink, MAX_OBJECTS};
use crate::error::Result;
use leakspy_memory::MemoryExt;

impl Census<'_, '_> {
    /// Walk every GC list of one interpreter, whose gc state is at `gc`. `progress` is called now
    /// and then with objects so far.
    pub fn walk_interpreter(
        &mut self,
        interp: u64,
        gc: u64,
        sink: &mut dyn Sink,
        progress: &mut dyn FnMut(u64),
    ) {
        let l = self.r.l;
        if self.types.is_empty() && self.types.numpy.is_none() {
            self.types.numpy =
                crate::model::sizes::numpy_layout(self.r, interp).map(std::sync::Arc::new);
        }
        match self.r.mem.read_i32(gc + l.gc.collecting) {
            Ok(0) => {}
            Ok(_) => {
                self.stats.partial = true;
                self.stats.torn = true;
                // Free-threaded builds have no GC lists: the collector frees objects of the heaps.
                let what = if l.free_threaded.is_some() {
                    "objects in mimalloc's heaps may be half freed"
                } else {
                    "the GC lists may be torn"
                };
                self.stats
                    .warnings
                    .push(format!("a garbage collection was running: {what}"));
            }
            Err(e) => self
                .stats
                .warnings
                .push(format!("cannot read gc.collecting: {e}")),
        }
        if l.free_threaded.is_some() {
            // no GC lists: the objects are in mimalloc's heaps
            self.walk_mimalloc(interp, sink, progress);
            return;
        }
        for (i, &off) in l.gc.list_heads.clone().iter().enumerate() {
            let name = l.gc.list_names.get(i).cloned().unwrap_or_default();
            self.in_permanent = name == "permanent";
            if let Err(e) = self.walk_list(gc + off, i, sink, progress) {
                self.stats.partial = true;
                self.stats.torn = true;
                self.stats.warnings.push(format!("gc list {name}: {e}"));
            }
        }
        self.in_permanent = false;
    }

    /// Walk one GC list from its head, checking every back link.
    ///
    /// A pause stops the thread holding the GIL wherever it is, so two half-done updates are
    /// recognised by their exact shape and read as CPython will finish them, instead of ending the
    /// list (`_PyObject_GC_TRACK` / `gc_list_append`, and `_PyObject_GC_UNTRACK` /
    /// `gc_list_remove`, `Include/internal/pycore_object.h`, `Modules/gcmodule.c`):
    /// - appending N at the tail, after `last.next = N` but before N's links are complete: N is
    ///   reached from the node the head still names as its tail (`head.prev == last`) and has no
    ///   next link (`N.next == 0`): N is counted and the list ends there;
    /// - removing X, after `prev.next = next` but before `next.prev = prev`: `next.prev` is X, and X
    ///   still links `prev` and `next` exactly: X is gone and the walk goes on.
    ///
    /// Any other inconsistency ends the list with an error (the picture is torn).
    fn walk_list(
        &mut self,
        head: u64,
        list_index: usize,
        sink: &mut dyn Sink,
        progress: &mut dyn FnMut(u64),
    ) -> Result<()> {
        let l = self.r.l;
        let mask = !l.gc.flag_mask;
        let link = |addr: u64| -> Result<(u64, u64)> {
            let next = self.r.mem.read_word(addr)? & mask;
            let back = self.r.mem.read_word(addr.wrapping_add(8))? & mask;
            Ok((next, back))
        };
        let (first, head_tail) = link(head)?;
        let mut prev = head;
        let mut node = first;
        while node != head {
            if self.budget == 0 {
                self.stats.partial = true;
                self.stats
                    .warnings
                    .push(format!("stopped after {MAX_OBJECTS} objects"));
                return Ok(());
            }
            self.budget -= 1;
            if node == 0 {
                return Err(crate::error::Error::Other(
                    "NULL link (list being modified)".into(),
                ));
            }
            let (next, back) = link(node)?;
            if next > leakspy_memory::MAX_USER_ADDRESS {
                return Err(crate::error::Error::Other(format!(
                    "garbage link {next:#x} at {node:#x} (list modified during the walk)"
                )));
            }
            let appending = next == 0 && prev == head_tail;
            if back != prev && !appending {
                let removing = back != 0 && link(back).is_ok_and(|x| x == (node, prev));
                if !removing {
                    return Err(crate::error::Error::Other(format!(
                        "broken back link at {node:#x} (list modified during the walk)"
                    )));
                }
            }
            let obj = node + l.gc.head_size;
            match self.r.type_of(obj) {
                Ok(tp) => self.add(obj, tp, true, sink),
                Err(_) => {
                    self.stats
                        .warnings
                        .push(format!("unreadable object at {obj:#x}"));
                    self.stats.partial = true;
                }
            }
            self.per_list[list_index] += 1;
            if self.stats.objects.is_multiple_of(65536) {
                progress(self.stats.objects);
            }
            if appending {
                return Ok(());
            }
            prev = node;
            node = next;
        }
        Ok(())
    }
}

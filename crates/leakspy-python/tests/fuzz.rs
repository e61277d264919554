//! Robustness fuzzing (issue #7): every decoder and walker that reads target bytes, fed garbage.
//!
//! `cargo fuzz` needs a nightly toolchain, so this is `proptest` with a fixed number of cases and a
//! fixed seed in CI (the same cases every run, so main stays reproducible). Locally:
//! `LEAKSPY_FUZZ_CASES=100000 LEAKSPY_FUZZ_SEED=random cargo test -p leakspy-python --test fuzz -- --nocapture`.
//!
//! Properties, for every input:
//! - no panic (debug build: integer overflow panics too);
//! - bounded time (each case well under [`CASE_TIME_LIMIT`]);
//! - bounded memory: no single read asks for more than [`MAX_READ`] bytes, and no single allocation
//!   exceeds [`ALLOC_LIMIT`] (a counting global allocator watches this test binary).
//!
//! Inputs are seeded with real bytes: the line tables, `str` data and `int` digits that
//! `tests/data/decode/*.json` took from ten real interpreters, and every shipped layout (plus layouts
//! rewritten by a garbage `_Py_DebugOffsets`, as a hostile 3.13+ target could present).

use leakspy_layout::{DebugOffsets, Layout};
use leakspy_memory::{
    parse_maps, Mapping, Memory, ReadError, Snapshot, MAX_READ, MAX_USER_ADDRESS,
};
use leakspy_python::analysis::dominators::{self, Csr};
use leakspy_python::analysis::origins;
use leakspy_python::analysis::refs::{self, RefsQuery};
use leakspy_python::analysis::tracemalloc::{self, Traces};
use leakspy_python::analysis::{GroupBy, HeapWalker};
use leakspy_python::attach::binaries::Image;
use leakspy_python::attach::version;
use leakspy_python::heap::arenas::{self, ArenaTable};
use leakspy_python::heap::untracked::{self, TypeGate};
use leakspy_python::model::decode::linetable::{addr2line, LineTableFormat};
use leakspy_python::model::decode::{long, unicode};
use leakspy_python::model::sizes;
use leakspy_python::model::{self, Reader};
use leakspy_python::stacks::threadnames;
use leakspy_python::stacks::{self, CodeCache};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use serde_json::Value;
use std::alloc::{GlobalAlloc, Layout as AllocLayout, System};
use std::cell::Cell;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------------
// Limits and the allocation watch.

/// Largest single allocation any case may make. Readers cap lengths at `MAX_READ` (64 MiB); a bit of
/// slack for the vectors that hold what was read.
const ALLOC_LIMIT: usize = MAX_READ + (16 << 20);
/// Wall time one case may take (debug build, loaded 2-core CI machine; typical cases take < 50 ms).
const CASE_TIME_LIMIT: Duration = Duration::from_secs(20);

struct Watch;
static LARGEST_ALLOC: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only records the largest request.
unsafe impl GlobalAlloc for Watch {
    unsafe fn alloc(&self, l: AllocLayout) -> *mut u8 {
        LARGEST_ALLOC.fetch_max(l.size(), Ordering::Relaxed);
        System.alloc(l)
    }
    unsafe fn alloc_zeroed(&self, l: AllocLayout) -> *mut u8 {
        LARGEST_ALLOC.fetch_max(l.size(), Ordering::Relaxed);
        System.alloc_zeroed(l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: AllocLayout, new: usize) -> *mut u8 {
        LARGEST_ALLOC.fetch_max(new, Ordering::Relaxed);
        System.realloc(p, l, new)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: AllocLayout) {
        System.dealloc(p, l)
    }
}

#[global_allocator]
static GLOBAL: Watch = Watch;

fn cases(default: u32) -> u32 {
    std::env::var("LEAKSPY_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Fixed seed unless `LEAKSPY_FUZZ_SEED` says otherwise (a number, or `random`).
fn runner(name: &str, default_cases: u32) -> TestRunner {
    let n = cases(default_cases);
    let config = Config {
        cases: n,
        failure_persistence: None,
        max_shrink_iters: 2000,
        ..Config::default()
    };
    let seed: u64 = match std::env::var("LEAKSPY_FUZZ_SEED").ok().as_deref() {
        Some("random") => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64),
        Some(s) => s.parse().unwrap_or(7),
        None => 7,
    };
    eprintln!("fuzz {name}: {n} cases, seed {seed}");
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    bytes[8..16].copy_from_slice(&(name.len() as u64).to_le_bytes());
    TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &bytes))
}

/// Run `test` under `runner`, then check the time and allocation limits and report the numbers.
fn check<S: Strategy>(
    name: &str,
    default_cases: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) where
    S::Value: std::fmt::Debug,
{
    let mut runner = runner(name, default_cases);
    let slowest = Cell::new(Duration::ZERO);
    let ran = Cell::new(0u64);
    let result = runner.run(&strategy, |v| {
        let t0 = Instant::now();
        let r = test(v);
        let dt = t0.elapsed();
        ran.set(ran.get() + 1);
        if dt > slowest.get() {
            slowest.set(dt);
        }
        prop_assert!(dt < CASE_TIME_LIMIT, "case took {dt:?}");
        r
    });
    let largest = LARGEST_ALLOC.load(Ordering::Relaxed);
    eprintln!(
        "fuzz {name}: {} cases ran, slowest {:?}, largest allocation so far {} KiB",
        ran.get(),
        slowest.get(),
        largest >> 10
    );
    if let Err(e) = result {
        panic!("fuzz {name}: {e}");
    }
    assert!(
        largest <= ALLOC_LIMIT,
        "fuzz {name}: an allocation of {largest} bytes (limit {ALLOC_LIMIT})"
    );
}

// ---------------------------------------------------------------------------------------------------
// Real bytes from the decoder fixtures.

const LABELS: &[&str] = &[
    "pyenv-3.9.18",
    "bullseye-3.9",
    "pyenv-3.10.13",
    "pyenv-3.11.7",
    "debian-3.11",
    "pyenv-3.12.1",
    "pyenv-3.13.0",
    "sid-3.13",
    "sid-3.14",
    "sid-3.15",
];

fn hex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

/// (state word, layout bits: kind shift, kind bits, compact bit, ascii bit; ready bit, data)
type StrSeed = (u32, [u32; 4], Option<u32>, Vec<u8>);

struct Seeds {
    /// (format, table, firstlineno, ncode)
    tables: Vec<(LineTableFormat, Vec<u8>, i32, i64)>,
    strs: Vec<StrSeed>,
    /// (lv_tag scheme, header, shift, digits)
    ints: Vec<(bool, u64, u32, Vec<u32>)>,
}

fn seeds() -> &'static Seeds {
    static SEEDS: std::sync::OnceLock<Seeds> = std::sync::OnceLock::new();
    SEEDS.get_or_init(|| {
        let mut s = Seeds {
            tables: Vec::new(),
            strs: Vec::new(),
            ints: Vec::new(),
        };
        for label in LABELS {
            let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("tests/data/decode")
                .join(format!("{label}.json"));
            let doc: Value =
                serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            let format =
                LineTableFormat::from_layout_name(doc["linetable_format"].as_str().unwrap())
                    .unwrap();
            for rec in doc["code"].as_array().unwrap() {
                s.tables.push((
                    format,
                    hex(rec["table"].as_str().unwrap()),
                    rec["firstlineno"].as_i64().unwrap() as i32,
                    rec["ncode"].as_i64().unwrap(),
                ));
            }
            let u = &doc["unicode"];
            let bits = |k: &str| u[k].as_u64().unwrap() as u32;
            let b = [
                bits("kind_shift"),
                bits("kind_bits"),
                bits("compact_bit"),
                bits("ascii_bit"),
            ];
            let ready = u["ready_bit"].as_u64().map(|v| v as u32);
            for st in doc["str"].as_array().unwrap() {
                s.strs.push((
                    st["state"].as_u64().unwrap() as u32,
                    b,
                    ready,
                    hex(st["data"].as_str().unwrap()),
                ));
            }
            for i in doc["int"].as_array().unwrap() {
                let lv = i["scheme"].as_str() == Some("lv_tag");
                let header = if lv {
                    i["header"].as_u64().unwrap()
                } else {
                    i["header"].as_i64().unwrap() as u64
                };
                s.ints.push((
                    lv,
                    header,
                    i["shift"].as_u64().unwrap() as u32,
                    i["digits"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|d| d.as_u64().unwrap() as u32)
                        .collect(),
                ));
            }
        }
        assert!(s.tables.len() > 250 && s.strs.len() > 150 && s.ints.len() > 300);
        s
    })
}

/// Byte edits: (position, new byte) pairs, a truncation, and an optional random tail.
#[derive(Debug, Clone)]
struct Mutation {
    edits: Vec<(usize, u8)>,
    cut: Option<usize>,
    tail: Vec<u8>,
}

fn mutation() -> impl Strategy<Value = Mutation> {
    (
        prop::collection::vec((any::<usize>(), any::<u8>()), 0..6),
        prop::option::of(any::<usize>()),
        prop::collection::vec(any::<u8>(), 0..12),
    )
        .prop_map(|(edits, cut, tail)| Mutation { edits, cut, tail })
}

fn mutate(mut bytes: Vec<u8>, m: &Mutation) -> Vec<u8> {
    for &(pos, b) in &m.edits {
        if !bytes.is_empty() {
            let n = bytes.len();
            bytes[pos % n] = b;
        }
    }
    if let Some(c) = m.cut {
        bytes.truncate(c % (bytes.len() + 1));
    }
    bytes.extend_from_slice(&m.tail);
    bytes
}

// ---------------------------------------------------------------------------------------------------
// Pure decoders.

#[test]
fn fuzz_linetable() {
    let n = seeds().tables.len();
    let strategy = (
        0..n,
        mutation(),
        prop_oneof![Just(None), any::<i32>().prop_map(Some)],
        prop_oneof![
            4 => 0i64..4096,
            1 => any::<i64>(),
        ],
        0..3usize,
    );
    check("linetable", 3000, strategy, |(i, m, first, off, f)| {
        let (format, table, real_first, ncode) = &seeds().tables[i];
        let table = mutate(table.clone(), &m);
        let first = first.unwrap_or(*real_first);
        let off = if off < 4096 { off % (ncode + 8) } else { off };
        // The fixture's own format, and the two others (a layout naming the wrong format).
        let formats = [*format, LineTableFormat::Lnotab, LineTableFormat::Pep626];
        let fmt = if f == 0 { formats[0] } else { formats[f] };
        let _ = addr2line(fmt, &table, first, off);
        let _ = addr2line(LineTableFormat::Pep657, &table, first, off);
        Ok(())
    });
}

#[test]
fn fuzz_str_decoder() {
    let n = seeds().strs.len();
    let strategy = (
        0..n,
        mutation(),
        prop_oneof![Just(None), any::<u32>().prop_map(Some)],
        prop::option::of((0u32..40, 0u32..40, 0u32..40, 0u32..40)),
        0..5u8,
    );
    check("str", 3000, strategy, |(i, m, word, bits, kind)| {
        let (real_word, real_bits, ready, data) = &seeds().strs[i];
        let word = word.unwrap_or(*real_word);
        let [ks, kb, cb, ab] = bits.map_or(*real_bits, |(a, b, c, d)| [a, b, c, d]);
        let st = unicode::parse_state(word, ks, kb, cb, ab, *ready);
        let data = mutate(data.clone(), &m);
        if let Some(st) = st {
            prop_assert!(matches!(st.kind, 1 | 2 | 4));
            let _ = unicode::decode(st.kind, &data);
        }
        let _ = unicode::decode(kind, &data);
        Ok(())
    });
}

#[test]
fn fuzz_int_decoder() {
    let n = seeds().ints.len();
    let strategy = (
        0..n,
        prop::option::of(any::<u64>()),
        prop::option::of(any::<u32>()),
        prop::collection::vec(any::<u32>(), 0..8),
        prop_oneof![4 => Just(0usize), 1 => 0usize..6000],
    );
    check(
        "int",
        2000,
        strategy,
        |(i, header, shift, extra, repeat)| {
            let (lv, real_header, real_shift, digits) = &seeds().ints[i];
            let header = header.unwrap_or(*real_header);
            let (neg, nd) = if *lv {
                long::sign_and_ndigits_lv_tag(header).unwrap_or((false, 0))
            } else {
                long::sign_and_ndigits_ob_size(header as i64)
            };
            let _ = nd;
            let shift = shift.unwrap_or(*real_shift);
            let mut d = digits.clone();
            d.extend_from_slice(&extra);
            // Long digit arrays: the decimal path is quadratic up to MAX_DECIMAL_DIGITS, hex beyond.
            let base = d.clone();
            while d.len() < repeat && !base.is_empty() {
                d.extend_from_slice(&base);
            }
            let _ = long::to_decimal(neg, &d, shift);
            let _ = long::to_i128(neg, &d, shift);
            Ok(())
        },
    );
}

#[test]
fn fuzz_version_and_debug_offsets() {
    let strategy = (
        prop::collection::vec(any::<u8>(), 0..600),
        0..4usize,
        13u8..16,
        prop::option::of((any::<u8>(), any::<u8>())),
    );
    check(
        "version+debug_offsets",
        1500,
        strategy,
        |(bytes, plant, minor, hint)| {
            let mut b = bytes.clone();
            let planted: &[&[u8]] = &[b"", b"3.12.1 (main, ", b"3.9.99rc9+ (", b"3.1.2.3.4 ("];
            let at = b.len() / 2;
            b.splice(at..at, planted[plant].iter().copied());
            let _ = version::scan_version_string(&b, hint);
            let mut blob = leakspy_layout::debug_offsets_cookie().to_vec();
            blob.extend_from_slice(&bytes);
            if let Some(d) = DebugOffsets::decode(minor, &blob) {
                for mut l in leakspy_layout::all().into_iter().map(|l| l.layout) {
                    let _ = d.apply(&mut l);
                }
            }
            Ok(())
        },
    );
}

/// `/proc/PID/maps` lines: real ones (this process's), mutated, and token soup.
#[test]
fn fuzz_maps() {
    let real = std::fs::read_to_string("/proc/self/maps").unwrap();
    let lines: Vec<String> = real.lines().map(str::to_string).collect();
    let token = prop_oneof![
        Just("-".to_string()),
        Just(" ".to_string()),
        Just("\n".to_string()),
        Just("rw-p".to_string()),
        Just("ffffffffffffffff".to_string()),
        Just("0".to_string()),
        Just("(deleted)".to_string()),
        "[0-9a-f]{1,17}",
        "[ -~]{0,8}",
    ];
    let strategy = (
        prop::collection::vec(0..lines.len(), 0..20),
        mutation(),
        prop::collection::vec(token, 0..30),
        any::<u64>(),
    );
    check("maps", 2000, strategy, |(pick, m, tokens, addr)| {
        let mut text = String::new();
        for i in pick {
            text.push_str(&lines[i]);
            text.push('\n');
        }
        let text = String::from_utf8_lossy(&mutate(text.into_bytes(), &m)).into_owned();
        let text = text + &tokens.concat();
        let maps = parse_maps(&text);
        prop_assert!(maps.len() <= text.lines().count());
        for mm in &maps {
            let _ = (mm.len(), mm.is_empty(), mm.contains(addr), mm.is_file());
        }
        Ok(())
    });
}

// ---------------------------------------------------------------------------------------------------
// Walkers over garbage memory.

/// Where the garbage lives (a typical x86_64 heap address).
const BASE: u64 = 0x7f12_3400_0000;
const ARENA: u64 = 64 << 10;

/// A fake target: `ARENA` bytes of garbage at `BASE`, nothing else mapped. Records the largest read.
struct Arena {
    bytes: Vec<u8>,
    largest_read: std::sync::atomic::AtomicUsize,
}

impl Memory for Arena {
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), ReadError> {
        self.largest_read
            .fetch_max(buf.len(), std::sync::atomic::Ordering::Relaxed);
        let bad = ReadError::Unmapped {
            addr,
            len: buf.len(),
        };
        let off = addr.checked_sub(BASE).ok_or(bad)?;
        let off = usize::try_from(off).map_err(|_| bad)?;
        let src = self
            .bytes
            .get(off..off.checked_add(buf.len()).ok_or(bad)?)
            .ok_or(bad)?;
        buf.copy_from_slice(src);
        Ok(())
    }
}

fn xorshift(s: &mut u64) -> u64 {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    *s
}

/// A garbage world, expanded from a seed: words biased towards pointers into the arena (so walks go
/// deep and loop), small integers, zero, values near `u64::MAX` and tagged pointers.
#[derive(Debug, Clone)]
struct World {
    seed: u64,
    layout: usize,
    /// Apply a garbage `_Py_DebugOffsets` (3.13+ layouts): (seed, fraction of fields kept real in 1/8).
    debug_offsets: Option<(u64, u8)>,
    /// Overlay consistent structures: runtime -> interp -> tstate, and GC rings of this many nodes.
    structured: Option<u8>,
    /// Read through a `Snapshot` (the live path) instead of the arena directly.
    snapshot: bool,
    group_by: u8,
    probe: u64,
}

fn world() -> impl Strategy<Value = World> {
    (
        any::<u64>(),
        0..leakspy_layout::EMBEDDED.len(),
        prop::option::weighted(0.2, (any::<u64>(), 0u8..8)),
        prop::option::weighted(0.6, any::<u8>()),
        any::<bool>(),
        0u8..3,
        any::<u64>(),
    )
        .prop_map(
            |(seed, layout, debug_offsets, structured, snapshot, group_by, probe)| World {
                seed,
                layout,
                debug_offsets,
                structured,
                snapshot,
                group_by,
                probe,
            },
        )
}

fn garbage_word(s: &mut u64) -> u64 {
    let r = xorshift(s);
    match r % 100 {
        0..=39 => BASE + ((xorshift(s) % ARENA) & !7),
        40..=44 => BASE + xorshift(s) % ARENA,
        45..=59 => xorshift(s) % 64,
        60..=69 => 0,
        70..=74 => u64::MAX - xorshift(s) % 4096,
        75..=79 => (BASE + ((xorshift(s) % ARENA) & !7)) | (xorshift(s) % 4),
        80..=84 => 1 << (xorshift(s) % 64),
        _ => xorshift(s),
    }
}

fn put(bytes: &mut [u8], addr: u64, v: u64) {
    if let Some(off) = addr.checked_sub(BASE) {
        let off = off as usize;
        if let Some(dst) = bytes.get_mut(off..off + 8) {
            dst.copy_from_slice(&v.to_le_bytes());
        }
    }
}

fn put32(bytes: &mut [u8], addr: u64, v: u32) {
    if let Some(off) = addr.checked_sub(BASE) {
        let off = off as usize;
        if let Some(dst) = bytes.get_mut(off..off + 4) {
            dst.copy_from_slice(&v.to_le_bytes());
        }
    }
}

/// A compact ASCII `str` object at `at` (length and state word per the layout).
fn put_str(bytes: &mut [u8], l: &Layout, at: u64, text: &[u8]) {
    let u = &l.unicode;
    put(bytes, at.wrapping_add(u.length), text.len() as u64);
    let state = (1u32 << u.kind_shift)
        | (1 << u.compact_bit)
        | (1 << u.ascii_bit)
        | u.ready_bit.map_or(0, |b| 1 << b);
    put32(bytes, at.wrapping_add(u.state), state);
    for (i, b) in text.iter().enumerate() {
        if let Some(off) = at.wrapping_add(u.ascii_size + i as u64).checked_sub(BASE) {
            if let Some(dst) = bytes.get_mut(off as usize) {
                *dst = *b;
            }
        }
    }
}

/// A stack for the thread state at `tstate`: a chain of `1 + depth % 8` frames running one code
/// object whose name and file are real `str` objects and whose line table is a real one from the
/// fixtures (or garbage), at garbage instruction offsets. The rest of every struct stays garbage.
fn stack_overlay(bytes: &mut [u8], l: &Layout, tstate: u64, depth: u8, s: &mut u64) {
    let (code, name, file, table) = (BASE + 0x2000, BASE + 0x2800, BASE + 0x2900, BASE + 0x3000);
    let c = &l.code;
    put_str(bytes, l, name, b"handle.<locals>.work");
    put_str(bytes, l, file, b"/srv/app/worker.py");
    put(bytes, code.wrapping_add(c.co_name), name);
    if let Some(q) = c.co_qualname {
        put(bytes, code.wrapping_add(q), name);
    }
    put(bytes, code.wrapping_add(c.co_filename), file);
    put(bytes, code.wrapping_add(c.co_linetable), table);
    put32(
        bytes,
        code.wrapping_add(c.co_firstlineno),
        (xorshift(s) % 5000) as u32,
    );
    if let Some(ft) = c.co_firsttraceable {
        put32(bytes, code.wrapping_add(ft), (xorshift(s) % 4) as u32);
    }
    let sd = seeds();
    let real = &sd.tables[(xorshift(s) as usize) % sd.tables.len()].1;
    let n = real.len().min(0xf00);
    put(bytes, table.wrapping_add(l.object.ob_size), n as u64);
    let data = table.wrapping_add(l.bytes.ob_sval);
    if let Some(off) = data.checked_sub(BASE) {
        let off = off as usize;
        if let Some(dst) = bytes.get_mut(off..off + n) {
            dst.copy_from_slice(&real[..n]);
        }
    }
    let frames: Vec<u64> = (0..1 + u64::from(depth % 8))
        .map(|i| BASE + 0x1800 + i * 0x100)
        .collect();
    let first = frames[0];
    if let Some(off) = l.tstate.frame {
        put(bytes, tstate.wrapping_add(off), first);
    }
    if let Some(off) = l.tstate.current_frame {
        put(bytes, tstate.wrapping_add(off), first);
    }
    if let (Some(cf), Some(cur)) = (l.tstate.cframe, l.tstate.cframe_current_frame) {
        let cframe = BASE + 0x1600;
        put(bytes, tstate.wrapping_add(cf), cframe);
        put(bytes, cframe.wrapping_add(cur), first);
    }
    for (i, &f) in frames.iter().enumerate() {
        let next = frames.get(i + 1).copied().unwrap_or(0);
        let fo = &l.frame_object;
        if let (Some(back), Some(fc), Some(lasti)) = (fo.f_back, fo.f_code, fo.f_lasti) {
            put(bytes, f.wrapping_add(back), next);
            put(bytes, f.wrapping_add(fc), code);
            put32(bytes, f.wrapping_add(lasti), (xorshift(s) % 400) as u32);
            put(bytes, f.wrapping_add(fo.f_trace), 0);
        }
        if let Some(fr) = &l.iframe {
            put(bytes, f.wrapping_add(fr.previous), next);
            put(bytes, f.wrapping_add(fr.executable), code);
            let ip = code
                .wrapping_add(c.co_code_adaptive.unwrap_or(0))
                .wrapping_add(xorshift(s) % 400);
            put(bytes, f.wrapping_add(fr.instr_ptr), ip);
            if let Some(off) = f.wrapping_add(fr.owner).checked_sub(BASE) {
                if let Some(b) = bytes.get_mut(off as usize) {
                    *b = (xorshift(s) % 3) as u8;
                }
            }
        }
    }
}

/// Type names whose instances leakspy sizes by their own rule (`model::SizeKind`), plus plain ones.
const TYPE_NAMES: &[&[u8]] = &[
    b"list\0",
    b"dict\0",
    b"set\0",
    b"frozenset\0",
    b"int\0",
    b"str\0",
    b"type\0",
    b"frame\0",
    b"generator\0",
    b"collections.deque\0",
    b"_io.BufferedReader\0",
    b"bytearray\0",
    b"code\0",
    b"coroutine\0",
    b"array.array\0",
    b"_io.BytesIO\0",
    b"_struct.Struct\0",
    b"collections.OrderedDict\0",
    b"decimal.Decimal\0",
    b"itertools.combinations\0",
    b"itertools.permutations\0",
    b"itertools.product\0",
    b"xml.etree.ElementTree.Element\0",
    b"_pickle.Pickler\0",
    b"_pickle.Unpickler\0",
    b"StgDict\0",
    b"_ctypes.CType_Type\0",
    b"numpy.ndarray\0",
    b"_queue.SimpleQueue\0",
    b"mod.Thing\0",
    b"tuple\0",
];

/// Type objects at fixed places: a real name, static or heap flags, sane or garbage sizes, a base
/// chain (sometimes a cycle). Returns their addresses.
fn type_overlay(bytes: &mut [u8], l: &Layout, s: &mut u64) -> Vec<u64> {
    let t = &l.type_;
    let mut out = Vec::new();
    for (i, name) in TYPE_NAMES.iter().enumerate() {
        let tp = BASE + 0x10000 - 0x400 * (i as u64 + 1);
        let name_at = BASE + 0x7000 + (i as u64) * 0x40;
        if let Some(off) = name_at.checked_sub(BASE) {
            let off = off as usize;
            if let Some(dst) = bytes.get_mut(off..off + name.len()) {
                dst.copy_from_slice(name);
            }
        }
        put(bytes, tp.wrapping_add(t.tp_name), name_at);
        let flags = if xorshift(s).is_multiple_of(3) {
            l.misc.tpflags_heaptype
                | l.misc.tpflags_have_gc
                | (xorshift(s) & l.misc.tpflags_preheader)
        } else {
            l.misc.tpflags_have_gc
        };
        put(bytes, tp.wrapping_add(t.tp_flags), flags);
        let sane = !xorshift(s).is_multiple_of(4);
        put(
            bytes,
            tp.wrapping_add(t.tp_basicsize),
            if sane {
                16 + xorshift(s) % 200
            } else {
                garbage_word(s)
            },
        );
        put(
            bytes,
            tp.wrapping_add(t.tp_itemsize),
            if sane {
                xorshift(s) % 3 * 8
            } else {
                garbage_word(s)
            },
        );
        let base = match xorshift(s) % 3 {
            0 => 0,
            1 => tp,
            _ => BASE + 0x10000 - 0x400 * (1 + xorshift(s) % TYPE_NAMES.len() as u64),
        };
        put(bytes, tp.wrapping_add(t.tp_base), base);
        out.push(tp);
    }
    out
}

/// Build the arena and the (possibly garbage-rewritten) layout for `w`.
fn build(w: &World) -> (Vec<u8>, Layout) {
    let mut l = leakspy_layout::all()[w.layout].layout.clone();
    let mut s = w.seed | 1;
    if let Some((dseed, keep)) = w.debug_offsets {
        let minor: u8 = l.python.minor.trim_start_matches("3.").parse().unwrap_or(0);
        if let Some(len) = leakspy_layout::debug_offsets_blob_len(minor.max(13)) {
            let mut ds = dseed | 1;
            let mut blob = leakspy_layout::debug_offsets_cookie().to_vec();
            while blob.len() < len {
                let v = if xorshift(&mut ds) % 8 < u64::from(keep) {
                    xorshift(&mut ds) % 512
                } else {
                    garbage_word(&mut ds)
                };
                blob.extend_from_slice(&v.to_le_bytes());
            }
            if let Some(d) = DebugOffsets::decode(minor.max(13), &blob) {
                let _ = d.apply(&mut l);
            }
        }
    }
    let mut bytes = vec![0u8; ARENA as usize];
    for w8 in bytes.chunks_exact_mut(8) {
        w8.copy_from_slice(&garbage_word(&mut s).to_le_bytes());
    }
    // Some real bytes: fixture line tables and str data sprinkled over the arena.
    let sd = seeds();
    for _ in 0..16 {
        let at = (xorshift(&mut s) % ARENA) as usize;
        let chunk = if xorshift(&mut s).is_multiple_of(2) {
            &sd.tables[(xorshift(&mut s) as usize) % sd.tables.len()].1
        } else {
            &sd.strs[(xorshift(&mut s) as usize) % sd.strs.len()].3
        };
        let end = (at + chunk.len()).min(bytes.len());
        bytes[at..end].copy_from_slice(&chunk[..end - at]);
    }
    if let Some(ring) = w.structured {
        let interp = BASE + 0x4000;
        let tstate = BASE + 0x1000;
        stack_overlay(&mut bytes, &l, tstate, ring, &mut s);
        put(
            &mut bytes,
            BASE.wrapping_add(l.runtime.interpreters_head),
            interp,
        );
        put(&mut bytes, interp.wrapping_add(l.interp.next), 0);
        put(
            &mut bytes,
            interp.wrapping_add(l.interp.threads_head),
            tstate,
        );
        put(&mut bytes, tstate.wrapping_add(l.tstate.interp), interp);
        if ring % 2 == 0 {
            put(&mut bytes, tstate.wrapping_add(l.tstate.next), 0);
        }
        let types = type_overlay(&mut bytes, &l, &mut s);
        // GC rings: every list head starts a doubly linked ring of `ring` nodes at garbage places,
        // each object's type one of the planted types (so every `__sizeof__` rule runs on garbage).
        let gc = l.gc_state(BASE, interp);
        for &head_off in &l.gc.list_heads {
            let head = gc.wrapping_add(head_off);
            let mut prev = head;
            for _ in 0..(ring % 64) {
                let node = BASE + 0x8000 + ((xorshift(&mut s) % (0xCC00 - 0x8000 - 64)) & !7);
                if node == head {
                    continue;
                }
                put(&mut bytes, prev, node);
                put(&mut bytes, node.wrapping_add(8), prev);
                if !xorshift(&mut s).is_multiple_of(4) {
                    let tp = types[(xorshift(&mut s) as usize) % types.len()];
                    let obj = node.wrapping_add(l.gc.head_size);
                    put(&mut bytes, obj.wrapping_add(l.object.ob_type), tp);
                }
                prev = node;
            }
            put(&mut bytes, prev, head);
            put(&mut bytes, head.wrapping_add(8), prev);
        }
        put(
            &mut bytes,
            gc.wrapping_add(l.gc.collecting),
            xorshift(&mut s) % 2,
        );
    }
    (bytes, l)
}

/// How deep the walks got, summed over cases: threads, frames, heap objects, heap types, strs read,
/// objects of the whole-heap walk, references in its graph.
static DEPTH: [AtomicUsize; 7] = [const { AtomicUsize::new(0) }; 7];

/// Everything that reads target structures, over one memory.
fn walk_all(mem: &dyn Memory, l: &Layout, w: &World) {
    let r = Reader::new(mem, l);
    let runtime = BASE;
    let mut interps = stacks::interpreters(&r, runtime).unwrap_or_default();
    interps.push(BASE + w.probe % ARENA);
    let mut codes = CodeCache::default();
    for &interp in &interps {
        if let Ok(threads) = stacks::threads(&r, interp, &mut codes) {
            DEPTH[0].fetch_add(threads.len(), Ordering::Relaxed);
            let frames: usize = threads.iter().map(|t| t.frames.len()).sum();
            DEPTH[1].fetch_add(frames, Ordering::Relaxed);
        }
        let _ = stacks::gil_holder(&r, runtime, interp);
    }
    let mut walker = HeapWalker::new(&r);
    let mut s = w.seed ^ 0x9e37_79b9_7f4a_7c15;
    if w.group_by > 0 {
        let mut traces = Traces::default();
        for _ in 0..64 {
            traces
                .by_ptr
                .insert(garbage_word(&mut s), garbage_word(&mut s));
        }
        walker = walker.with_traces(traces);
    }
    for &interp in &interps {
        walker.walk_interpreter(interp, l.gc_state(runtime, interp), &mut |_| {});
    }
    let group_by = [GroupBy::Traceback, GroupBy::Line, GroupBy::File][w.group_by as usize % 3];
    let h = walker.finish(group_by);
    DEPTH[2].fetch_add(h.objects as usize, Ordering::Relaxed);
    DEPTH[3].fetch_add(h.types.len(), Ordering::Relaxed);
    // The whole heap: the arena table looked for in garbage "data sections", references out of
    // every object, the graph, and `refs` over it.
    let image = Image {
        path: String::new(),
        opened: String::new(),
        bias: 0,
        symbols: HashMap::new(),
        static_types: Vec::new(),
        pyruntime_section: None,
        data_sections: vec![(BASE, ARENA)],
        is_shared: true,
    };
    let mut whole = HeapWalker::new(&r).keep_graph();
    for &interp in &interps {
        whole.walk_interpreter(interp, l.gc_state(runtime, interp), &mut |_| {});
    }
    whole.walk_untracked(&image, &interps, &mut |_| {});
    if let Some(g) = whole.take_graph() {
        DEPTH[5].fetch_add(g.len(), Ordering::Relaxed);
        DEPTH[6].fetch_add(g.succ.to.len(), Ordering::Relaxed);
        let q = RefsQuery {
            type_name: ["list", "builtins.dict", "x.Y"][w.group_by as usize % 3].into(),
            max_paths: 5,
            show_keys: w.group_by.is_multiple_of(2),
        };
        let _ = refs::analyse(&r, &interps, &[], &g, &q);
        // The export for --heapsnapshot: whatever the bytes, a graph whose edges and roots all
        // point at nodes, with one edge range per node.
        let opts = leakspy_python::analysis::export::ExportOptions {
            show_keys: q.show_keys,
        };
        let e = leakspy_python::analysis::export::build(&r, &interps, &[], &g, &opts);
        assert_eq!(e.nodes.len(), g.len());
        assert_eq!(e.edge_start.len(), e.nodes.len() + 1);
        assert!(e.edge_start.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(e.edge_start.last().copied(), Some(e.edges.len() as u32));
        assert!(e.edges.iter().all(|x| (x.to as usize) < e.nodes.len()));
        assert!(e
            .roots
            .iter()
            .all(|g| g.members.iter().all(|&(_, v)| (v as usize) < e.nodes.len())));
    }
    // A garbage arena table: pools and blocks read from garbage, each block offered as an object.
    let table = ArenaTable {
        table: (BASE + garbage_word(&mut s) % ARENA) & !7,
        entries: garbage_word(&mut s) % 64,
        source: String::new(),
    };
    let (mut bad, mut gate, mut types) = (0, TypeGate::default(), model::TypeCache::default());
    let _ = arenas::for_each_block(&r, &table, &mut bad, &mut |b| {
        let _ = untracked::block_object(&r, &b, &mut gate, &mut types);
    });
    let _ = arenas::arena_ranges(&r, &table);
    // Single-object readers at garbage addresses.
    let mut names = HashMap::new();
    for _ in 0..32 {
        // What a caller can pass: a pointer read with `read_ptr`, so at most MAX_USER_ADDRESS.
        let obj = garbage_word(&mut s) & MAX_USER_ADDRESS;
        if r.str(obj).is_ok() {
            DEPTH[4].fetch_add(1, Ordering::Relaxed);
        }
        let _ = r.bytes(obj, 1 << 24);
        let _ = r.int(obj);
        let _ = r.dict_items(obj);
        let _ = r.dict_get_str(obj, "__module__");
        let _ = r.keys_table(obj);
        let _ = sizes::keys_size(&r, obj);
        if let Ok(mut t) = model::read_type(&r, obj) {
            let at = garbage_word(&mut s) & MAX_USER_ADDRESS;
            let _ = sizes::getsizeof(&r, at, &t);
            let mut parts = Vec::new();
            let _ = sizes::outside_arenas(&r, at, &t, Some(1 << 20), &mut parts, &|_| false);
            // Size not kept (a dump's reference walk): computed from the garbage.
            let _ = sizes::outside_arenas(&r, at, &t, None, &mut parts, &|a| a & 8 == 0);
            // numpy arrays with either ABI's layout.
            let numpy = leakspy_layout::numpy_layouts();
            for l in [numpy.numpy1, numpy.numpy2] {
                sizes::attach_numpy(&mut t, Some(&std::sync::Arc::new(l)));
                let _ = sizes::getsizeof(&r, at, &t);
            }
        }
        let _ = threadnames::instance_attr(&r, obj, "_name");
        if let Some(tm) = l.tracemalloc.as_ref() {
            let _ = tracemalloc::traceback(&r, tm, obj, &mut names);
        }
    }
}

#[test]
fn fuzz_walkers_over_garbage() {
    check("walkers", 400, world(), |w| {
        let (bytes, l) = build(&w);
        let arena = Arena {
            bytes,
            largest_read: std::sync::atomic::AtomicUsize::new(0),
        };
        if w.snapshot {
            let map = Mapping {
                start: BASE,
                end: BASE + ARENA,
                readable: true,
                writable: true,
                executable: false,
                offset: 0,
                inode: 0,
                path: String::new(),
            };
            let snap = Snapshot::new(&arena, vec![map]);
            walk_all(&snap, &l, &w);
        } else {
            walk_all(&arena, &l, &w);
        }
        let largest = arena
            .largest_read
            .load(std::sync::atomic::Ordering::Relaxed);
        prop_assert!(largest <= MAX_READ, "a read of {largest} bytes");
        Ok(())
    });
    let d: Vec<usize> = DEPTH.iter().map(|a| a.load(Ordering::Relaxed)).collect();
    eprintln!(
        "fuzz walkers reached: {} threads, {} frames, {} heap objects of {} types, {} strs decoded, \
         {} whole-heap objects with {} references",
        d[0], d[1], d[2], d[3], d[4], d[5], d[6]
    );
}

/// Dominators by the definition: dom(root) = {root}, dom(v) = {v} + the intersection of dom(p)
/// over v's reachable predecessors, iterated to a fixpoint; idom(v) = the strict dominator that
/// every other strict dominator dominates (the one with the largest dominator set).
fn naive_idom(n: usize, edges: &[(u32, u32)], root: u32) -> Vec<u32> {
    let mut reach = vec![false; n];
    let mut stack = vec![root];
    reach[root as usize] = true;
    while let Some(v) = stack.pop() {
        for &(a, b) in edges {
            if a == v && !reach[b as usize] {
                reach[b as usize] = true;
                stack.push(b);
            }
        }
    }
    let all: Vec<bool> = reach.clone();
    let mut dom: Vec<Vec<bool>> = (0..n)
        .map(|v| {
            if v == root as usize {
                (0..n).map(|u| u == v).collect()
            } else {
                all.clone()
            }
        })
        .collect();
    let mut changed = true;
    while changed {
        changed = false;
        for v in 0..n {
            if v == root as usize || !reach[v] {
                continue;
            }
            let mut new = all.clone();
            for &(a, b) in edges {
                if b as usize == v && reach[a as usize] {
                    for u in 0..n {
                        new[u] = new[u] && dom[a as usize][u];
                    }
                }
            }
            new[v] = true;
            if new != dom[v] {
                dom[v] = new;
                changed = true;
            }
        }
    }
    (0..n)
        .map(|v| {
            if !reach[v] {
                return dominators::NONE;
            }
            if v == root as usize {
                return root;
            }
            (0..n)
                .filter(|&u| u != v && dom[v][u])
                .max_by_key(|&u| dom[u].iter().filter(|&&x| x).count())
                .map_or(dominators::NONE, |u| u as u32)
        })
        .collect()
}

#[test]
fn fuzz_dominators_against_the_definition() {
    let strategy = (1usize..24).prop_flat_map(|n| {
        (
            Just(n),
            prop::collection::vec((0..n as u32, 0..n as u32), 0..n * 3),
            0..n as u32,
        )
    });
    check("dominators", 1000, strategy, |(n, edges, root)| {
        let g = Csr::from_edges(n, edges.iter().copied());
        let got = dominators::immediate_dominators(&g, root);
        prop_assert_eq!(got, naive_idom(n, &edges, root));
        Ok(())
    });
}

// ---------------------------------------------------------------------------------------------------
// Regressions: the inputs the fuzzing above found, as fixed cases (each panicked with an integer
// overflow in a debug build before its fix).

fn layout(file: &str) -> Layout {
    leakspy_layout::all()
        .into_iter()
        .find(|l| l.file == file)
        .unwrap_or_else(|| panic!("no layout {file}"))
        .layout
}

/// An arena of zeros with `words` (arena offset, value) written in.
fn arena_with(words: &[(u64, u64)]) -> Arena {
    let end = words.iter().map(|&(off, _)| off + 8).max().unwrap_or(0);
    let mut bytes = vec![0u8; ARENA.max(end.next_multiple_of(ARENA)) as usize];
    for &(off, v) in words {
        put(&mut bytes, BASE + off, v);
    }
    Arena {
        bytes,
        largest_read: std::sync::atomic::AtomicUsize::new(0),
    }
}

/// 3.9/3.10 `dk_size` is a plain word: garbage made `keys + dk_indices + size * ix` overflow.
#[test]
fn regression_dict_keys_garbage_size() {
    let l = layout("3.9.toml");
    let off = l.dictkeys.dk_size.unwrap();
    for size in [u64::MAX, 0xffff_ffff_ffff_fff0, 3, 1 << 41] {
        let mem = arena_with(&[(off, size)]);
        let r = Reader::new(&mem, &l);
        assert!(r.keys_table(BASE).is_err(), "size {size:#x}");
        assert!(sizes::keys_size(&r, BASE).is_err());
        assert!(r.dict_items(BASE).is_err() || r.dict_items(BASE).unwrap().is_empty());
    }
}

/// A GC link read from a torn list pointed near 2^64: `node + head_size` overflowed.
#[test]
fn regression_gc_list_garbage_link() {
    let l = layout("3.12.toml");
    let interp = BASE + 0x4000;
    let head = l.gc_state(BASE, interp) + l.gc.list_heads[0];
    let node = BASE + 0x8000;
    let mem = arena_with(&[
        (head - BASE, node),
        (head - BASE + 8, node),
        (node - BASE, u64::MAX - 3),
        (node - BASE + 8, head),
    ]);
    let r = Reader::new(&mem, &l);
    let mut w = HeapWalker::new(&r);
    w.walk_interpreter(interp, l.gc_state(BASE, interp), &mut |_| {});
    let h = w.finish(GroupBy::Traceback);
    assert!(h.partial);
    assert!(
        h.warnings.iter().any(|w| w.contains("garbage link")),
        "{:?}",
        h.warnings
    );
}

/// Instance attributes: a garbage `tp_basicsize` (3.13 inline values) or `tp_dictoffset` was added
/// to the object address.
#[test]
fn regression_instance_attr_garbage_type_fields() {
    let l = layout("3.13.toml");
    let obj = BASE + 0x1000;
    let tp = BASE + 0x2000;
    let flags = l.misc.tpflags_managed_dict | l.misc.tpflags_inline_values;
    let mem = arena_with(&[
        (obj - BASE + l.object.ob_type, tp),
        (tp - BASE + l.type_.tp_flags, flags),
        (tp - BASE + l.type_.tp_basicsize, u64::MAX - 8),
    ]);
    let r = Reader::new(&mem, &l);
    assert!(threadnames::instance_attr(&r, obj, "_name").is_err());
    let l = layout("3.9.toml");
    let mem = arena_with(&[
        (obj - BASE + l.object.ob_type, tp),
        (tp - BASE + l.type_.tp_dictoffset, i64::MAX as u64),
    ]);
    let r = Reader::new(&mem, &l);
    assert_eq!(threadnames::instance_attr(&r, obj, "_name").unwrap(), None);
}

/// A tracemalloc traceback frame's filename pointer is raw target bytes: near 2^64 it overflowed
/// `fname + offset` in the `str` reader.
#[test]
fn regression_traceback_garbage_filename() {
    let l = layout("3.12.toml");
    let tm = l.tracemalloc.clone().unwrap();
    let tb = BASE + 0x1000;
    let mem = arena_with(&[
        (0x1000 + tm.traceback_nframe, 1),
        (
            0x1000 + tm.traceback_frames + tm.frame_filename,
            u64::MAX - 2,
        ),
    ]);
    let r = Reader::new(&mem, &l);
    assert!(tracemalloc::traceback(&r, &tm, tb, &mut HashMap::new()).is_err());
}

/// `set.__sizeof__` and two-block `str.__sizeof__` with garbage sizes: saturating, then refused as
/// implausible (the object is counted at its basic size), never an overflow.
#[test]
fn regression_sizeof_garbage_lengths() {
    let l = layout("3.12.toml");
    let obj = BASE + 0x1000;
    let table = BASE + 0x3000;
    let mem = arena_with(&[
        (0x1000 + l.set.table, table),
        (0x1000 + l.set.mask, u64::MAX),
        (0x1000 + l.unicode.length, u64::MAX),
        (0x1000 + l.unicode.data_any, table),
    ]);
    let r = Reader::new(&mem, &l);
    let info = |size_kind| model::TypeInfo {
        name: "x".into(),
        basicsize: 200,
        itemsize: 0,
        flags: 0,
        size_kind,
        size_exact: true,
        sizeof_owner: None,
        numpy: None,
        origin: None,
        tuple_like: false,
        is_atom: false,
        is_type: false,
    };
    assert!(sizes::getsizeof(&r, obj, &info(model::SizeKind::Set)).is_err());
    // A split dict (values set) whose keys claim a garbage `dk_usable`.
    let keys = BASE + 0x2000;
    let dk = &l.dictkeys;
    let dict_mem = arena_with(&[
        (0x1000 + l.dict.ma_keys, keys),
        (0x1000 + l.dict.ma_values, table),
        (0x2000 + dk.dk_log2_size.unwrap(), 3),
        (0x2000 + dk.dk_usable, u64::MAX),
    ]);
    let r = Reader::new(&dict_mem, &l);
    assert!(sizes::getsizeof(&r, obj, &info(model::SizeKind::Dict)).is_err());
    // Not compact: state word 0 with kind 1 (the layout's kind bits), data in a separate block.
    let mut mem = mem;
    put32(
        &mut mem.bytes,
        obj + l.unicode.state,
        1 << l.unicode.kind_shift,
    );
    let r = Reader::new(&mem, &l);
    assert!(sizes::getsizeof(&r, obj, &info(model::SizeKind::Str)).is_err());
}

/// The minimal failing worlds the walker fuzzing reported (before the fixes above), replayed.
#[test]
fn regression_fuzz_worlds() {
    let worlds = [
        // tracemalloc traceback: garbage filename pointer.
        World {
            seed: 16648481889120848175,
            layout: 0,
            debug_offsets: Some((2374159433435395410, 4)),
            structured: None,
            snapshot: false,
            group_by: 0,
            probe: 0,
        },
        // dict.__sizeof__: garbage dk_usable of a split table.
        World {
            seed: 17162311595363634372,
            layout: 2,
            debug_offsets: None,
            structured: Some(220),
            snapshot: false,
            group_by: 0,
            probe: 0,
        },
    ];
    for w in worlds {
        let (bytes, l) = build(&w);
        let arena = Arena {
            bytes,
            largest_read: std::sync::atomic::AtomicUsize::new(0),
        };
        walk_all(&arena, &l, &w);
    }
}

// ---------------------------------------------------------------------------------------------------
// GC lists caught halfway through an update by the pause (see `HeapWalker::walk_list`).

/// Walk generation0 of a 3.12 interpreter laid out by `links` ((node, next, prev) per GC header,
/// the list head included); returns (objects counted in the list, torn).
fn walk_gen0(links: &[(u64, u64, u64)]) -> (u64, bool, Vec<String>) {
    let l = layout("3.12.toml");
    let interp = BASE + 0x4000;
    let mut words = Vec::new();
    // The other lists are empty: their heads link to themselves.
    for &off in &l.gc.list_heads[1..] {
        let h = l.gc_state(BASE, interp) + off;
        words.push((h - BASE, h));
        words.push((h - BASE + 8, h));
    }
    for &(node, next, prev) in links {
        let node = if node == HEAD { gen0(&l, interp) } else { node };
        let fix = |v: u64| if v == HEAD { gen0(&l, interp) } else { v };
        words.push((node - BASE, fix(next)));
        words.push((node - BASE + 8, fix(prev)));
    }
    let mem = arena_with(&words);
    let r = Reader::new(&mem, &l);
    let mut w = HeapWalker::new(&r);
    w.walk_interpreter(interp, l.gc_state(BASE, interp), &mut |_| {});
    let h = w.finish(GroupBy::Traceback);
    (h.generations[0].1, h.torn, h.warnings)
}

const HEAD: u64 = 1;

fn gen0(l: &Layout, interp: u64) -> u64 {
    l.gc_state(BASE, interp) + l.gc.list_heads[0]
}

#[test]
fn gc_list_consistent_and_half_updated() {
    let (a, x, b) = (BASE + 0x8000, BASE + 0x9000, BASE + 0xa000);
    // Consistent: head -> a -> x -> b -> head.
    let (n, torn, w) = walk_gen0(&[(HEAD, a, b), (a, x, HEAD), (x, b, a), (b, HEAD, x)]);
    assert_eq!((n, torn), (3, false), "{w:?}");
    // Removing x: a.next = b already, b.prev still x; x still links a and b.
    let (n, torn, w) = walk_gen0(&[(HEAD, a, b), (a, b, HEAD), (x, b, a), (b, HEAD, x)]);
    assert_eq!((n, torn), (2, false), "{w:?}");
    // Appending b: a.next = b, b's links not written yet (0), head still names a as its tail.
    let (n, torn, w) = walk_gen0(&[(HEAD, a, a), (a, b, HEAD), (b, 0, 0)]);
    assert_eq!((n, torn), (2, false), "{w:?}");
    // Appending b, one step further: b.prev = a written, b.next not yet.
    let (n, torn, w) = walk_gen0(&[(HEAD, a, a), (a, b, HEAD), (b, 0, a)]);
    assert_eq!((n, torn), (2, false), "{w:?}");
    // Not an update CPython makes: b.prev names x, but x does not link a and b.
    let (_, torn, w) = walk_gen0(&[(HEAD, a, b), (a, b, HEAD), (x, 0, 0), (b, HEAD, x)]);
    assert!(torn, "{w:?}");
    assert!(w.iter().any(|w| w.contains("broken back link")), "{w:?}");
    // A NULL next in the middle (the head's tail is elsewhere): torn, not the end of the list.
    let (_, torn, w) = walk_gen0(&[(HEAD, a, b), (a, x, HEAD), (x, 0, a), (b, HEAD, x)]);
    assert!(torn, "{w:?}");
}

/// A list of thousands of nodes with the shapes above near its head, in its middle and near its
/// tail: every count and verdict exact.
#[test]
fn gc_list_long_walked_from_both_ends() {
    const N: usize = 3 * 4096 + 123;
    let node = |i: usize| BASE + 0x10000 + 32 * i as u64;
    let list = |n: usize| -> Vec<(u64, u64, u64)> {
        let at = |i: usize| {
            if i == usize::MAX || i == n {
                HEAD
            } else {
                node(i)
            }
        };
        let mut links = vec![(HEAD, node(0), node(n - 1))];
        links.extend((0..n).map(|i| (node(i), at(i + 1), at(i.wrapping_sub(1)))));
        links
    };
    let set = |links: &mut Vec<(u64, u64, u64)>, i: usize, next: u64, prev: u64| {
        links[i + 1] = (node(i), next, prev);
    };
    let (n, torn, w) = walk_gen0(&list(N));
    assert_eq!((n, torn), (N as u64, false), "{w:?}");
    for i in [10, N / 2, N - 10] {
        // Removing node i: its neighbours link each other except for the next one's back link.
        let mut links = list(N);
        set(&mut links, i - 1, node(i + 1), node(i - 2));
        let (n, torn, w) = walk_gen0(&links);
        assert_eq!((n, torn), (N as u64 - 1, false), "removing {i}: {w:?}");
        // A back link to a node that does not link back: torn after the i nodes before it.
        let mut links = list(N);
        set(&mut links, i, node(i + 1), BASE + 0x8000);
        let (n, torn, w) = walk_gen0(&links);
        assert_eq!(
            (n, torn),
            (i as u64, true),
            "broken back link at {i}: {w:?}"
        );
        assert!(w.iter().any(|w| w.contains("broken back link")), "{w:?}");
        // A garbage next link.
        let mut links = list(N);
        set(&mut links, i, u64::MAX - 7, node(i - 1));
        let (n, torn, w) = walk_gen0(&links);
        assert_eq!((n, torn), (i as u64, true), "garbage link at {i}: {w:?}");
    }
    // Appending a node at the tail: its links not written yet, the head still names the old tail.
    let mut links = list(N);
    links[0] = (HEAD, node(0), node(N - 2));
    set(&mut links, N - 2, node(N - 1), node(N - 3));
    set(&mut links, N - 1, 0, 0);
    let (n, torn, w) = walk_gen0(&links);
    assert_eq!((n, torn), (N as u64, false), "{w:?}");
}

// ---------------------------------------------------------------------------------------------------
// asyncio creation sites (`_source_traceback`): a synthetic task read right, then every word of it
// replaced by garbage.

fn put_bytes(bytes: &mut [u8], addr: u64, data: &[u8]) {
    if let Some(off) = addr.checked_sub(BASE) {
        let off = off as usize;
        if let Some(dst) = bytes.get_mut(off..off + data.len()) {
            dst.copy_from_slice(data);
        }
    }
}

/// A `_asyncio.Task` at BASE+0x100 whose `_source_traceback` holds a user frame (/app/x.py:12 in
/// handler) and, innermost, an asyncio frame; returns the bytes and the (task, task type).
fn synthetic_task(l: &Layout) -> (Vec<u8>, u64, u64) {
    let a = l.asyncio.clone().unwrap();
    let t = &l.type_;
    let mut b = vec![0u8; ARENA as usize];
    let at = |off: u64| BASE + off;
    let (task, task_tp, list, list_tp, items) =
        (at(0x100), at(0x400), at(0x1000), at(0x1400), at(0x1800));
    let (fs_tp, members, str_tp, int_tp) = (at(0x2000), at(0x2800), at(0x3000), at(0x3400));
    let names = at(0x3800);
    // Types: names as C strings, static (no heap-type flag).
    put_bytes(
        &mut b,
        names,
        b"_asyncio.Task\0str\0int\0filename\0lineno\0name\0",
    );
    put(&mut b, task_tp + t.tp_name, names);
    put(&mut b, task_tp + t.tp_basicsize, a.task_size);
    put(&mut b, list_tp + t.tp_flags, a.tpflags_list_subclass);
    put(&mut b, str_tp + t.tp_name, names + 14);
    put(&mut b, int_tp + t.tp_name, names + 18);
    // FrameSummary's three __slots__ right after the object header (16 bytes, 32 free-threaded).
    let slot = l.object.size;
    put(&mut b, fs_tp + t.tp_basicsize, slot + 24);
    put(&mut b, fs_tp + t.tp_members, members);
    for (i, (name, off)) in [
        (names + 22, slot),
        (names + 31, slot + 8),
        (names + 38, slot + 16),
    ]
    .iter()
    .enumerate()
    {
        let m = members + i as u64 * a.member_def_size;
        put(&mut b, m + a.member_def_name, *name);
        put32(
            &mut b,
            m + a.member_def_type,
            a.member_type_object_ex as u32,
        );
        put(&mut b, m + a.member_def_offset, *off);
    }
    // The task and its StackSummary.
    put(&mut b, task + l.object.ob_type, task_tp);
    put(&mut b, task + a.future_source_tb, list);
    put(&mut b, list + l.object.ob_type, list_tp);
    put(&mut b, list + l.object.ob_size, 2);
    put(&mut b, list + l.list.ob_item, items);
    let frames = [
        (at(0x4000), "/app/x.py", 12u64, "handler"),
        (
            at(0x5000),
            "/usr/lib/python3.12/asyncio/tasks.py",
            400,
            "create_task",
        ),
    ];
    for (i, (f, file, line, func)) in frames.iter().enumerate() {
        put(&mut b, items + 8 * i as u64, *f);
        put(&mut b, f + l.object.ob_type, fs_tp);
        let (fname, lineno, fnname) = (f + 0x100, f + 0x400, f + 0x500);
        put(&mut b, f + slot, fname);
        put(&mut b, f + slot + 8, lineno);
        put(&mut b, f + slot + 16, fnname);
        for (s, text) in [(fname, *file), (fnname, *func)] {
            put(&mut b, s + l.object.ob_type, str_tp);
            put_str(&mut b, l, s, text.as_bytes());
        }
        put(&mut b, lineno + l.object.ob_type, int_tp);
        let lo = &l.long;
        put(
            &mut b,
            lineno + lo.size_or_tag,
            if lo.lv_tag { 1 << 3 } else { 1 },
        );
        put32(&mut b, lineno + lo.ob_digit, *line as u32);
    }
    (b, task, task_tp)
}

fn creation_origins(bytes: Vec<u8>, l: &Layout, task: u64, tp: u64) -> Vec<origins::Origin> {
    let mem = Arena {
        bytes,
        largest_read: std::sync::atomic::AtomicUsize::new(0),
    };
    let r = Reader::new(&mem, l);
    let mut o = origins::Origins::default();
    if let Some(kind) = origins::OriginKind::for_asyncio_type(&r, tp) {
        o.record(&r, kind, tp, task, 100);
    }
    o.finish(&r).remove(&tp).unwrap_or_default()
}

#[test]
fn asyncio_source_traceback_synthetic_and_mutated() {
    // (3.14t/3.15t have no [asyncio]: their heap is not walked; 3.13t has)
    for loaded in leakspy_layout::all()
        .into_iter()
        .filter(|l| l.layout.asyncio.is_some())
    {
        let l = loaded.layout;
        let (bytes, task, tp) = synthetic_task(&l);
        let got = creation_origins(bytes.clone(), &l, task, tp);
        assert_eq!(got.len(), 1, "{}: {got:?}", loaded.file);
        let o = &got[0];
        assert_eq!(
            (
                o.kind,
                o.function.as_str(),
                o.filename.as_str(),
                o.line,
                o.count
            ),
            ("created_at", "handler", "/app/x.py", Some(12), 1),
            "{}",
            loaded.file
        );
        // No source traceback: one "not_recorded" group.
        let mut none = bytes.clone();
        put(
            &mut none,
            task + l.asyncio.as_ref().unwrap().future_source_tb,
            0,
        );
        let got = creation_origins(none, &l, task, tp);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].kind, "not_recorded");
        // Garbage in any word: no panic, bounded.
        let mut s = 0x5eed_u64 ^ l.asyncio.as_ref().unwrap().task_size;
        for _ in 0..400 {
            let mut m = bytes.clone();
            for _ in 0..1 + xorshift(&mut s) % 3 {
                let off = (xorshift(&mut s) % 0x6000) & !7;
                put(&mut m, BASE + off, garbage_word(&mut s));
            }
            let _ = creation_origins(m, &l, task, tp);
        }
    }
}

/// A garbage object pointer near 2^64 (seen on 3.9 in a frame slot): `obj + ob_type` overflowed
/// in `Reader`, a panic under overflow checks. Every `Reader` accessor must give an error instead.
#[test]
fn regression_reader_object_near_u64_max() {
    for file in ["3.9.toml", "3.12.toml", "3.14.toml"] {
        let l = layout(file);
        let mem = arena_with(&[]);
        let r = Reader::new(&mem, &l);
        for obj in [u64::MAX, u64::MAX - 7, 0xffff_ffff_ffff_ff00] {
            assert!(r.type_of(obj).is_err(), "{file} {obj:#x}");
            assert!(r.ob_size(obj).is_err());
            assert!(!r.is_str(obj));
            assert!(r.str_state(obj).is_err());
            assert!(r.str(obj).is_err());
            assert!(r.bytes(obj, 16).is_err());
            assert!(r.int(obj).is_err());
            assert!(r.dict_items(obj).is_err());
            assert!(r.dict_get_str(obj, "x").is_err());
            assert!(r.keys_table(obj).is_err());
        }
    }
}

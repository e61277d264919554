//! The pure decoders against bytes taken from real interpreters
//! (`tests/data/decode/*.json`, written by
//! `tools/fixtures/extract_decoder_fixtures.py`).

use std::path::PathBuf;

use leakspy_python::model::decode::linetable::{addr2line, LineTableFormat};
use leakspy_python::model::decode::long;
use leakspy_python::model::decode::unicode::{self, StrState};
use serde_json::Value;

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

fn load(label: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/decode")
        .join(format!("{label}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn hex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2));
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn opt_line(v: &Value) -> Option<i32> {
    v.as_i64().map(|l| i32::try_from(l).unwrap())
}

#[test]
fn line_tables_match_pycode_addr2line() {
    let mut total = 0usize;
    for label in LABELS {
        let doc = load(label);
        let format =
            LineTableFormat::from_layout_name(doc["linetable_format"].as_str().unwrap()).unwrap();
        let mut checked = 0usize;
        let codes = doc["code"].as_array().unwrap();
        assert!(codes.len() >= 25, "{label}: {} code objects", codes.len());
        for rec in codes {
            let name = rec["name"].as_str().unwrap();
            let table = hex(rec["table"].as_str().unwrap());
            let first = i32::try_from(rec["firstlineno"].as_i64().unwrap()).unwrap();
            let ncode = rec["ncode"].as_i64().unwrap();
            let mut off: i64 = 0;
            for run in rec["lines"].as_array().unwrap() {
                let want = opt_line(&run[0]);
                let count = run[1].as_i64().unwrap();
                for _ in 0..count {
                    let got = addr2line(format, &table, first, off);
                    assert_eq!(got, want, "{label} {name} offset {off}");
                    off += 1;
                    checked += 1;
                }
            }
            assert_eq!(off, ncode, "{label} {name}: runs cover the bytecode");
            for pair in rec["past_end"].as_array().unwrap() {
                let off = pair[0].as_i64().unwrap();
                let want = opt_line(&pair[1]);
                assert_eq!(
                    addr2line(format, &table, first, off),
                    want,
                    "{label} {name} past end {off}"
                );
            }
            // CPython: a negative offset means co_firstlineno.
            assert_eq!(addr2line(format, &table, first, -1), Some(first));
            // co_lines() and the research decoders agreed with PyCode_Addr2Line.
            assert_eq!(rec["co_lines_mismatch"].as_i64(), Some(0), "{label} {name}");
            assert_eq!(rec["research_mismatch"].as_i64(), Some(0), "{label} {name}");
            // Every truncation of a real table is decoded without panicking.
            for cut in 0..table.len() {
                for off in [0, ncode / 2, ncode - 1] {
                    let _ = addr2line(format, &table[..cut], first, off);
                }
            }
        }
        assert!(checked > 3000, "{label}: {checked} offsets");
        total += checked;
    }
    eprintln!("checked {total} offsets");
}

#[test]
fn strings_match() {
    for label in LABELS {
        let doc = load(label);
        let u = &doc["unicode"];
        let bits = |k: &str| u32::try_from(u[k].as_u64().unwrap()).unwrap();
        let ready_bit = u["ready_bit"].as_u64().map(|b| u32::try_from(b).unwrap());
        let samples = doc["str"].as_array().unwrap();
        assert!(samples.len() >= 15);
        for s in samples {
            let word = u32::try_from(s["state"].as_u64().unwrap()).unwrap();
            let st = unicode::parse_state(
                word,
                bits("kind_shift"),
                bits("kind_bits"),
                bits("compact_bit"),
                bits("ascii_bit"),
                ready_bit,
            )
            .unwrap_or_else(|| panic!("{label}: state {word:#x}"));
            let want_state = StrState {
                kind: u8::try_from(s["kind"].as_u64().unwrap()).unwrap(),
                compact: s["compact"].as_bool().unwrap(),
                ascii: s["ascii"].as_bool().unwrap(),
                ready: s["ready"].as_bool().unwrap(),
            };
            assert_eq!(st, want_state, "{label}: state {word:#x}");
            let data = hex(s["data"].as_str().unwrap());
            let want: String = s["codepoints"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| {
                    char::from_u32(u32::try_from(c.as_u64().unwrap()).unwrap())
                        .unwrap_or(char::REPLACEMENT_CHARACTER)
                })
                .collect();
            assert_eq!(
                unicode::decode(st.kind, &data).as_deref(),
                Some(want.as_str()),
                "{label}"
            );
        }
    }
}

#[test]
fn ints_match() {
    for label in LABELS {
        let doc = load(label);
        let samples = doc["int"].as_array().unwrap();
        assert!(samples.len() >= 30);
        for s in samples {
            let (negative, ndigits) = match s["scheme"].as_str().unwrap() {
                "ob_size" => long::sign_and_ndigits_ob_size(s["header"].as_i64().unwrap()),
                "lv_tag" => long::sign_and_ndigits_lv_tag(s["header"].as_u64().unwrap())
                    .unwrap_or_else(|| panic!("{label}: tag {}", s["header"])),
                other => panic!("{label}: scheme {other}"),
            };
            let digits: Vec<u32> = s["digits"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| u32::try_from(d.as_u64().unwrap()).unwrap())
                .collect();
            assert_eq!(ndigits, digits.len() as u64, "{label}: {}", s["value"]);
            let shift = u32::try_from(s["shift"].as_u64().unwrap()).unwrap();
            let want = s["value"].as_str().unwrap();
            assert_eq!(long::to_decimal(negative, &digits, shift), want, "{label}");
            assert_eq!(
                long::to_i128(negative, &digits, shift),
                want.parse::<i128>().ok(),
                "{label}: {want}"
            );
        }
    }
}

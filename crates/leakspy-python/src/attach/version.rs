//! Which CPython a target runs: `Py_Version` (3.11+), the `_Py_DebugOffsets` header (3.13+), the
//! `sys.version` string in the image's data sections, or at worst the file name.

use crate::attach::binaries::Image;
use leakspy_layout::PyVersion;
use leakspy_memory::{Memory, MemoryExt};

/// A version and how it was found.
#[derive(Debug, Clone, Copy)]
pub struct Detected {
    pub version: PyVersion,
    pub source: &'static str,
}

/// Find the version of the interpreter in `image`.
pub fn detect(mem: &dyn Memory, image: &Image) -> Option<Detected> {
    if let Some(rt) = image.runtime() {
        if let Ok(head) = mem.read_array::<16>(rt) {
            if &head[..8] == leakspy_layout::debug_offsets_cookie() {
                let hex = u64::from_le_bytes(head[8..16].try_into().ok()?);
                let v = PyVersion::from_hex(hex);
                if v.major == 3 {
                    return Some(Detected {
                        version: v,
                        source: "_Py_DebugOffsets.version",
                    });
                }
            }
        }
    }
    if let Some(&addr) = image.symbols.get("Py_Version") {
        if let Ok(hex) = mem.read_u32(addr) {
            let v = PyVersion::from_hex(u64::from(hex));
            if v.major == 3 && v.minor >= 11 {
                return Some(Detected {
                    version: v,
                    source: "Py_Version",
                });
            }
        }
    }
    let minor_hint = minor_from_name(image.file_name());
    for &(addr, size) in &image.data_sections {
        let Ok(bytes) = mem.read_vec(addr, size.min(64 << 20) as usize) else {
            continue;
        };
        if let Some(v) = scan_version_string(&bytes, minor_hint) {
            return Some(Detected {
                version: v,
                source: "sys.version string",
            });
        }
    }
    minor_hint.map(|(major, minor)| Detected {
        version: PyVersion {
            major,
            minor,
            patch: 0,
            level: 0xF,
            serial: 0,
        },
        source: "file name (patch unknown)",
    })
}

/// "libpython3.12.so.1.0" / "python3.9" -> (3, 12) / (3, 9).
pub fn minor_from_name(name: &str) -> Option<(u8, u8)> {
    let rest = name
        .strip_prefix("lib")
        .unwrap_or(name)
        .strip_prefix("python")?;
    let mut it = rest.split('.');
    let major: u8 = it.next()?.parse().ok()?;
    let minor: String = it
        .next()?
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    Some((major, minor.parse().ok()?))
}

/// Find `"3.9.18 (main, ..."` (what `Py_GetVersion()` writes into a static buffer at start-up).
pub fn scan_version_string(bytes: &[u8], minor_hint: Option<(u8, u8)>) -> Option<PyVersion> {
    let re =
        regex::bytes::Regex::new(r"(?-u)(3\.\d{1,2}\.\d{1,2}(?:(?:a|b|rc)\d{1,2})?)\+? \(").ok()?;
    for cap in re.captures_iter(bytes) {
        let s = std::str::from_utf8(cap.get(1)?.as_bytes()).ok()?;
        if let Some(v) = PyVersion::parse(s) {
            if minor_hint.is_none_or(|(ma, mi)| ma == v.major && mi == v.minor) {
                return Some(v);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_strings() {
        assert_eq!(minor_from_name("libpython3.12.so.1.0"), Some((3, 12)));
        assert_eq!(minor_from_name("python3.9"), Some((3, 9)));
        assert_eq!(minor_from_name("python3.13t"), Some((3, 13)));
        assert_eq!(minor_from_name("python3"), None);
        let buf = b"\0\0junk 3.1.2 3.9.18 (main, Nov 24 2026, 10:00:00) \n[GCC 12.2.0]\0";
        assert_eq!(
            scan_version_string(buf, Some((3, 9))).unwrap().to_string(),
            "3.9.18"
        );
        assert!(scan_version_string(buf, Some((3, 10))).is_none());
        let buf = b"3.9.2 (default, Feb 28 2021, 17:03:44)";
        assert_eq!(scan_version_string(buf, None).unwrap().to_string(), "3.9.2");
    }
}

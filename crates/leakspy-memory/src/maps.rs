//! `/proc/PID/maps` parsing.

/// One line of `/proc/PID/maps`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    pub start: u64,
    pub end: u64,
    pub readable: bool,
    pub writable: bool,
    pub executable: bool,
    pub offset: u64,
    pub inode: u64,
    /// Path as the target sees it (may end in " (deleted)"), or pseudo names like "[heap]"; empty for
    /// anonymous mappings.
    pub path: String,
}

impl Mapping {
    pub fn contains(&self, addr: u64) -> bool {
        self.start <= addr && addr < self.end
    }
    pub fn len(&self) -> u64 {
        self.end - self.start
    }
    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }
    /// File-backed (a real path, not "[heap]", "[stack]", anonymous...).
    pub fn is_file(&self) -> bool {
        self.path.starts_with('/')
    }
}

/// Parse the text of `/proc/PID/maps`. Malformed lines are skipped.
pub fn parse_maps(text: &str) -> Vec<Mapping> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<Mapping> {
    let mut it = line.splitn(6, ' ');
    let range = it.next()?;
    let perms = it.next()?.as_bytes();
    let offset = u64::from_str_radix(it.next()?, 16).ok()?;
    let _dev = it.next()?;
    let inode = it.next()?.parse().ok()?;
    let path = it.next().unwrap_or("").trim_start().to_string();
    let (s, e) = range.split_once('-')?;
    let (start, end) = (
        u64::from_str_radix(s, 16).ok()?,
        u64::from_str_radix(e, 16).ok()?,
    );
    // A range that ends before it starts is malformed (and would underflow `len`).
    if end < start {
        return None;
    }
    Some(Mapping {
        start,
        end,
        readable: perms.first() == Some(&b'r'),
        writable: perms.get(1) == Some(&b'w'),
        executable: perms.get(2) == Some(&b'x'),
        offset,
        inode,
        path,
    })
}

/// The mapping containing `addr`, by binary search over maps sorted by start (as the kernel lists them).
pub fn find(maps: &[Mapping], addr: u64) -> Option<&Mapping> {
    let i = maps.partition_point(|m| m.start <= addr);
    let m = maps.get(i.checked_sub(1)?)?;
    m.contains(addr).then_some(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kernel_lines() {
        let text = "\
55d0c0a00000-55d0c0a01000 r--p 00000000 fd:01 1234                       /usr/bin/python3.12 (deleted)
7f0000000000-7f0000100000 rw-p 00000000 00:00 0 
7ffd10000000-7ffd10002000 rw-p 00000000 00:00 0                          [stack]
garbage line
";
        let m = parse_maps(text);
        assert_eq!(m.len(), 3);
        assert_eq!(m[0].path, "/usr/bin/python3.12 (deleted)");
        assert!(m[0].readable && !m[0].writable);
        assert_eq!(m[1].path, "");
        assert!(m[1].writable);
        assert_eq!(m[2].path, "[stack]");
        assert_eq!(
            find(&m, 0x7f0000000fff).map(|x| x.start),
            Some(0x7f0000000000)
        );
        assert!(find(&m, 0x10).is_none());
    }

    /// Regression (issue #7 fuzzing): a range ending before it starts was accepted and `len()`
    /// underflowed.
    #[test]
    fn inverted_range_is_skipped() {
        let m = parse_maps("2000-1000 r--p 00000000 00:00 0 \n1000-2000 r--p 00000000 00:00 0 \n");
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].len(), 0x1000);
    }
}

//! What a thread waits in, as the kernel shows it: `/proc/PID/task/TID/syscall` and `wchan`, and
//! what a file descriptor is (`/proc/PID/fd/N`, sockets resolved through `/proc/PID/net/*`).
//!
//! Read through the target's own `/proc/PID/...`: for a containerised target `/proc/PID/net` is its
//! network namespace's view, so socket addresses are the ones the target sees.

use std::collections::HashMap;

/// A thread's system call as `/proc/PID/task/TID/syscall` (or a core's registers) shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelSyscall {
    /// On a CPU in user space (`running`).
    Running,
    /// Blocked in the kernel but not in a system call (`-1 SP PC`), e.g. a page fault.
    NotInSyscall,
    /// Inside system call `nr` with its six arguments.
    In { nr: u64, args: [u64; 6] },
}

/// Parse the text of `/proc/PID/task/TID/syscall`: `running`, `-1 SP PC` or
/// `NR ARG0 .. ARG5 SP PC` (numbers in decimal, arguments in hex).
pub fn parse_syscall(text: &str) -> Option<KernelSyscall> {
    let text = text.trim();
    if text == "running" {
        return Some(KernelSyscall::Running);
    }
    let mut f = text.split_whitespace();
    let nr = f.next()?;
    if nr == "-1" {
        return Some(KernelSyscall::NotInSyscall);
    }
    let nr: u64 = nr.parse().ok()?;
    let mut args = [0u64; 6];
    for a in &mut args {
        let s = f.next()?;
        *a = u64::from_str_radix(s.strip_prefix("0x")?, 16).ok()?;
    }
    Some(KernelSyscall::In { nr, args })
}

/// The system call thread `tid` of `pid` is in; `None` when unreadable (permission, gone).
pub fn task_syscall(pid: i32, tid: i32) -> Option<KernelSyscall> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/syscall"))
        .ok()
        .and_then(|t| parse_syscall(&t))
}

/// The kernel function thread `tid` sleeps in (`wchan`); `None` when unknown or `0`.
pub fn task_wchan(pid: i32, tid: i32) -> Option<String> {
    let w = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/wchan")).ok()?;
    let w = w.trim();
    (!w.is_empty() && w != "0").then(|| w.to_string())
}

/// What the target's file descriptor `fd` points to (`socket:[123]`, `pipe:[45]`, a path).
pub fn fd_link(pid: i32, fd: i64) -> Option<String> {
    std::fs::read_link(format!("/proc/{pid}/fd/{fd}"))
        .ok()
        .map(|p| p.to_string_lossy().into_owned())
}

/// The inode of a `socket:[N]` or `pipe:[N]` link.
pub fn link_inode(link: &str, kind: &str) -> Option<u64> {
    link.strip_prefix(kind)?
        .strip_prefix(":[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// Socket descriptions by inode, from one `/proc/PID/net/{tcp,tcp6,udp,udp6}` table:
/// `"tcp 127.0.0.1:5432 -> 127.0.0.1:40122"`.
pub fn parse_inet_table(text: &str, proto: &str) -> HashMap<u64, String> {
    let mut out = HashMap::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        // sl local rem st tx:rx tr:when retrnsmt uid timeout inode ...
        let (Some(local), Some(remote), Some(inode)) = (f.get(1), f.get(2), f.get(9)) else {
            continue;
        };
        let (Some(local), Some(remote), Ok(inode)) =
            (hex_addr(local), hex_addr(remote), inode.parse::<u64>())
        else {
            continue;
        };
        if inode == 0 {
            continue;
        }
        let remote = if remote.ends_with(":0")
            && (remote.starts_with("0.0.0.0") || remote.starts_with("[::]"))
        {
            "(not connected)".to_string()
        } else {
            remote
        };
        out.insert(inode, format!("{proto} {local} -> {remote}"));
    }
    out
}

/// Unix socket descriptions by inode from `/proc/PID/net/unix`: `"unix /run/x.sock"`.
pub fn parse_unix_table(text: &str) -> HashMap<u64, String> {
    let mut out = HashMap::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        // Num RefCount Protocol Flags Type St Inode [Path]
        let Some(Ok(inode)) = f.get(6).map(|s| s.parse::<u64>()) else {
            continue;
        };
        let desc = match f.get(7) {
            Some(path) => format!("unix {path}"),
            None => "unix (unnamed)".to_string(),
        };
        out.insert(inode, desc);
    }
    out
}

/// `0100007F:1538` -> `127.0.0.1:5432`; 32 hex digits for IPv6 (`[::1]:5432`).
fn hex_addr(s: &str) -> Option<String> {
    let (ip, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    match ip.len() {
        8 => {
            let v = u32::from_str_radix(ip, 16).ok()?;
            // The kernel prints the address as a host-order (little-endian) word.
            let b = v.to_le_bytes();
            Some(format!("{}.{}.{}.{}:{port}", b[0], b[1], b[2], b[3]))
        }
        32 => {
            let mut bytes = [0u8; 16];
            for (i, chunk) in bytes.chunks_exact_mut(4).enumerate() {
                let w = u32::from_str_radix(ip.get(i * 8..i * 8 + 8)?, 16).ok()?;
                chunk.copy_from_slice(&w.to_le_bytes());
            }
            let a = std::net::Ipv6Addr::from(bytes);
            Some(match a.to_ipv4_mapped() {
                Some(v4) => format!("{v4}:{port}"),
                None => format!("[{a}]:{port}"),
            })
        }
        _ => None,
    }
}

/// The target's sockets by inode, its `/proc/PID/net/*` tables read one at a time and only until
/// the inode asked for is found: reading `/proc/net/tcp` walks the kernel's whole TCP hash table,
/// which on a big host costs tens of milliseconds per table (37% of a stacks-only dump's time when
/// all four inet tables were read up front).
pub struct Sockets {
    pid: i32,
    known: HashMap<u64, String>,
    /// Tables not read yet, in the order they are tried.
    left: Vec<&'static str>,
}

impl Sockets {
    pub fn new(pid: i32) -> Self {
        Sockets {
            pid,
            known: HashMap::new(),
            left: vec!["udp6", "udp", "unix", "tcp6", "tcp"],
        }
    }

    /// Read the next table; false when none is left.
    fn load_next(&mut self) -> bool {
        let Some(proto) = self.left.pop() else {
            return false;
        };
        if let Ok(t) = std::fs::read_to_string(format!("/proc/{}/net/{proto}", self.pid)) {
            if proto == "unix" {
                self.known.extend(parse_unix_table(&t));
            } else {
                self.known
                    .extend(parse_inet_table(&t, proto.trim_end_matches('6')));
            }
        }
        true
    }

    /// The socket with this inode, reading further tables until it is found.
    pub fn get(&mut self, inode: u64) -> Option<&String> {
        while !self.known.contains_key(&inode) {
            if !self.load_next() {
                return None;
            }
        }
        self.known.get(&inode)
    }
}

/// [`describe_link`], looking sockets up in `sockets` (read lazily).
pub fn describe_link_lazy(link: &str, sockets: &mut Sockets) -> String {
    match link_inode(link, "socket") {
        Some(inode) => match sockets.get(inode) {
            Some(s) => format!("socket {s}"),
            None => format!("socket (inode {inode})"),
        },
        None => describe_link(link, &HashMap::new()),
    }
}

/// A few words for what fd link `link` is: `socket tcp 127.0.0.1:5432 -> 127.0.0.1:40122`,
/// `pipe`, `epoll`, or the path.
pub fn describe_link(link: &str, sockets: &HashMap<u64, String>) -> String {
    if let Some(inode) = link_inode(link, "socket") {
        return match sockets.get(&inode) {
            Some(s) => format!("socket {s}"),
            None => format!("socket (inode {inode})"),
        };
    }
    if link.starts_with("pipe:") {
        return "pipe".into();
    }
    if let Some(anon) = link.strip_prefix("anon_inode:") {
        return anon.trim_matches(|c| c == '[' || c == ']').to_string();
    }
    link.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn syscall_lines() {
        assert_eq!(parse_syscall("running\n"), Some(KernelSyscall::Running));
        assert_eq!(
            parse_syscall("-1 0x7ffc 0x7f00\n"),
            Some(KernelSyscall::NotInSyscall)
        );
        assert_eq!(
            parse_syscall("0 0x3 0x7f1 0x1 0x0 0x0 0x0 0x7ffd 0x7f2\n"),
            Some(KernelSyscall::In {
                nr: 0,
                args: [3, 0x7f1, 1, 0, 0, 0]
            })
        );
        assert_eq!(parse_syscall("0 0x3"), None);
    }

    #[test]
    fn inet_and_unix_tables() {
        let tcp = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:1538 0100007F:9C9A 01 00000000:00000000 00:00000000 00000000  1000        0 4242 1 0000000000000000 20 4 30 10 -1\n   1: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 17 1\n";
        let t = parse_inet_table(tcp, "tcp");
        assert_eq!(
            t.get(&4242).map(String::as_str),
            Some("tcp 127.0.0.1:5432 -> 127.0.0.1:40090")
        );
        assert_eq!(
            t.get(&17).map(String::as_str),
            Some("tcp 0.0.0.0:22 -> (not connected)")
        );
        let tcp6 = "  sl  local_address remote_address st\n   0: 00000000000000000000000001000000:1538 0000000000000000FFFF00000100007F:9C9A 01 00000000:00000000 00:00000000 00000000 0 0 99 1\n";
        let t6 = parse_inet_table(tcp6, "tcp");
        assert_eq!(
            t6.get(&99).map(String::as_str),
            Some("tcp [::1]:5432 -> 127.0.0.1:40090")
        );
        let unix = "Num       RefCount Protocol Flags    Type St Inode Path\n0000: 00000002 00000000 00010000 0001 01 555 /run/a.sock\n0000: 00000003 00000000 00000000 0001 03 556\n";
        let u = parse_unix_table(unix);
        assert_eq!(u.get(&555).map(String::as_str), Some("unix /run/a.sock"));
        assert_eq!(u.get(&556).map(String::as_str), Some("unix (unnamed)"));
        let socks: HashMap<u64, String> = t;
        assert_eq!(
            describe_link("socket:[4242]", &socks),
            "socket tcp 127.0.0.1:5432 -> 127.0.0.1:40090"
        );
        assert_eq!(describe_link("pipe:[7]", &socks), "pipe");
        assert_eq!(describe_link("anon_inode:[eventpoll]", &socks), "eventpoll");
        assert_eq!(describe_link("/etc/hosts", &socks), "/etc/hosts");
    }

    #[test]
    fn own_thread_is_readable() {
        let me = std::process::id() as i32;
        // Reading our own syscall file while running: "running" (or a syscall when descheduled).
        assert!(task_syscall(me, me).is_some());
    }

    proptest! {
        #[test]
        fn parsers_never_panic(s in ".{0,400}") {
            let _ = parse_syscall(&s);
            let _ = parse_inet_table(&s, "tcp");
            let _ = parse_unix_table(&s);
            let _ = link_inode(&s, "socket");
            let _ = describe_link(&s, &HashMap::new());
        }

        #[test]
        fn table_lines_never_panic(rows in proptest::collection::vec("[0-9A-Fa-f:x ]{0,120}", 0..8)) {
            let text = format!("header\n{}", rows.join("\n"));
            let _ = parse_inet_table(&text, "tcp");
            let _ = parse_unix_table(&text);
            let _ = parse_syscall(rows.first().map_or("", String::as_str));
        }
    }
}

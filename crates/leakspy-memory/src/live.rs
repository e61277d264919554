//! Reading a live process: `process_vm_readv`, falling back to `/proc/PID/mem` where the syscall is
//! unavailable (ENOSYS, some seccomp profiles).

use crate::{maps, Mapping, Memory, ReadError};
use nix::errno::Errno;
use nix::sys::uio::{process_vm_readv, process_vm_writev, RemoteIoVec};
use nix::unistd::Pid;
use std::fs::File;
use std::io::{IoSlice, IoSliceMut};
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// A running process, read without stopping it (see [`crate::PauseGuard`] for that).
#[derive(Debug)]
pub struct LiveProcess {
    pid: i32,
    mem_file: Option<File>,
    use_mem_file: AtomicBool,
    syscalls: AtomicU64,
}

impl LiveProcess {
    /// Open a process for reading. Fails only if the process does not exist.
    pub fn open(pid: i32) -> std::io::Result<LiveProcess> {
        std::fs::metadata(format!("/proc/{pid}"))?;
        Ok(LiveProcess {
            pid,
            mem_file: File::open(format!("/proc/{pid}/mem")).ok(),
            use_mem_file: AtomicBool::new(false),
            syscalls: AtomicU64::new(0),
        })
    }

    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Current memory map of the process.
    pub fn maps(&self) -> std::io::Result<Vec<Mapping>> {
        Ok(maps::parse_maps(&std::fs::read_to_string(format!(
            "/proc/{}/maps",
            self.pid
        ))?))
    }

    /// Write `data` at `addr` in the target. leakspy never calls this unless the user asked for a
    /// command that changes the target (`leakspy trace`); every read path is read-only.
    pub fn write_opt_in(&self, addr: u64, data: &[u8]) -> Result<(), ReadError> {
        let remote = [RemoteIoVec {
            base: addr as usize,
            len: data.len(),
        }];
        let local = [IoSlice::new(data)];
        match process_vm_writev(Pid::from_raw(self.pid), &local, &remote) {
            Ok(n) if n == data.len() => Ok(()),
            Ok(_) | Err(Errno::EFAULT) | Err(Errno::EINVAL) => Err(ReadError::Unmapped {
                addr,
                len: data.len(),
            }),
            Err(Errno::EPERM) | Err(Errno::EACCES) => Err(ReadError::PermissionDenied),
            Err(Errno::ESRCH) => Err(ReadError::ProcessGone),
            Err(e) => Err(ReadError::Io { errno: e as i32 }),
        }
    }

    /// Number of read syscalls issued so far.
    pub fn syscalls(&self) -> u64 {
        self.syscalls.load(Ordering::Relaxed)
    }

    fn read_mem_file(&self, addr: u64, buf: &mut [u8]) -> Result<(), ReadError> {
        let f = self.mem_file.as_ref().ok_or(ReadError::PermissionDenied)?;
        f.read_exact_at(buf, addr)
            .map_err(|e| match e.raw_os_error() {
                Some(libc_eio) if libc_eio == Errno::EIO as i32 => ReadError::Unmapped {
                    addr,
                    len: buf.len(),
                },
                Some(e) if e == Errno::EPERM as i32 || e == Errno::EACCES as i32 => {
                    ReadError::PermissionDenied
                }
                Some(e) if e == Errno::ESRCH as i32 => ReadError::ProcessGone,
                Some(e) => ReadError::Io { errno: e },
                None => ReadError::Unmapped {
                    addr,
                    len: buf.len(),
                },
            })
    }
}

impl Memory for LiveProcess {
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), ReadError> {
        if buf.is_empty() {
            return Ok(());
        }
        self.syscalls.fetch_add(1, Ordering::Relaxed);
        if self.use_mem_file.load(Ordering::Relaxed) {
            return self.read_mem_file(addr, buf);
        }
        let len = buf.len();
        let remote = [RemoteIoVec {
            base: addr as usize,
            len,
        }];
        let mut local = [IoSliceMut::new(buf)];
        match process_vm_readv(Pid::from_raw(self.pid), &mut local, &remote) {
            Ok(n) if n == len => Ok(()),
            Ok(_) => Err(ReadError::Unmapped { addr, len }),
            Err(Errno::EFAULT) | Err(Errno::EINVAL) => Err(ReadError::Unmapped { addr, len }),
            Err(Errno::EPERM) | Err(Errno::EACCES) => Err(ReadError::PermissionDenied),
            Err(Errno::ESRCH) => Err(ReadError::ProcessGone),
            Err(Errno::ENOSYS) => {
                self.use_mem_file.store(true, Ordering::Relaxed);
                self.read_mem_file(addr, local[0].as_mut())
            }
            Err(e) => Err(ReadError::Io { errno: e as i32 }),
        }
    }
}

//! Per-stack locks.
//!
//! The lock itself is one the system releases when the holder dies. For a state file it
//! is an OS file lock (`flock`, through [`std::fs::File::try_lock`]) on a
//! file of its own beside the state file (`<state>.locks/<project>.<stack>.lock`), held
//! for the whole run: the kernel releases it when the holder's process ends, however it
//! ends, so a crashed run never blocks the next one and nobody has to clear anything.
//! Beside it, a row of the `locks` table names the holder (who, pid, host, since) for
//! the refusal message and for `state` inspection.
//!
//! For a PostgreSQL state it is a session advisory lock (`pg_try_advisory_lock` on a key
//! derived from the stack), held by a connection of its own for the lock's life: the
//! server releases it when that session ends, so a run killed on any host never blocks
//! the next one (`backend/postgres.rs`). The `locks` row names the holder the same way.
//!
//! Where the file system cannot lock files at all, the row alone is the lock, as it was
//! before: a row whose process is gone from this host is reported as stale, never taken
//! over silently, and `state force-unlock` removes it.

use std::fmt;
use std::fs::{File, TryLockError};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use time::OffsetDateTime;

use crate::StateError;
use crate::backend::HeldLock;
use crate::records::StackId;
use crate::store::Shared;

/// Who holds a stack's lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockInfo {
    /// Who (user and tool).
    pub holder: String,
    /// The holding process.
    pub pid: u32,
    /// The host it runs on.
    pub host: String,
    /// Since when.
    pub acquired_at: OffsetDateTime,
}

impl fmt::Display for LockInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (pid {} on host {}) since {}",
            self.holder,
            self.pid,
            self.host,
            self.acquired_at
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default()
        )
    }
}

impl LockInfo {
    /// Whether the holder is a process of this host that no longer runs.
    pub fn is_stale(&self) -> bool {
        self.host == host_name() && !process_alive(self.pid)
    }
}

/// A held stack lock. Dropping it releases the lock; [`StackLock::release`] does the same
/// and reports a failure. A process that dies holding it releases it too (the kernel
/// drops the file lock with the process; the database server ends the session and its
/// advisory lock).
pub struct StackLock {
    pub(crate) shared: Arc<Shared>,
    pub(crate) stack: StackId,
    pub(crate) released: bool,
    /// The system's lock; `None` where the file system cannot lock (the row is the lock).
    pub(crate) held: Option<HeldLock>,
}

impl fmt::Debug for StackLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StackLock")
            .field("stack", &self.stack)
            .field("os_lock", &self.held.is_some())
            .finish()
    }
}

impl StackLock {
    /// Releases the lock.
    pub fn release(mut self) -> Result<(), StateError> {
        self.released = true;
        // The row goes first: once the lock is released another run may write its own.
        let result = self.shared.unlock(&self.stack, std::process::id());
        self.held.take();
        result
    }

    /// The locked stack.
    pub fn stack(&self) -> &StackId {
        &self.stack
    }

    /// Whether the system holds this lock (the kernel's file lock or the database's
    /// advisory lock, released with the process), rather than only the row.
    pub fn is_os_lock(&self) -> bool {
        self.held.is_some()
    }
}

impl Drop for StackLock {
    fn drop(&mut self) {
        if !self.released {
            let _ = self.shared.unlock(&self.stack, std::process::id());
        }
    }
}

/// What trying the OS lock of a stack found.
pub(crate) enum OsLock {
    /// This process holds it now.
    Held(File),
    /// A live process holds it.
    Busy,
    /// The file system cannot lock files (the row alone is the lock).
    Unsupported,
}

/// The lock file of `stack` for the state file at `state`: in a folder beside it, named
/// by the project and stack with every character outside `[A-Za-z0-9_-]` escaped, so two
/// stacks never share a file.
pub(crate) fn lock_file_path(state: &Path, stack: &StackId) -> PathBuf {
    let mut dir = state.as_os_str().to_owned();
    dir.push(".locks");
    PathBuf::from(dir).join(format!(
        "{}.{}.lock",
        escape(&stack.project),
        escape(&stack.name)
    ))
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Tries to take the OS lock of `stack` without waiting.
pub(crate) fn try_os_lock(state: &Path, stack: &StackId) -> Result<OsLock, StateError> {
    let path = lock_file_path(state, stack);
    let io = |context: &str, source: std::io::Error| StateError::Io {
        path: path.clone(),
        context: context.to_string(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| io("creating the lock folder", e))?;
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(|e| io("opening the lock file", e))?;
    match file.try_lock() {
        Ok(()) => Ok(OsLock::Held(file)),
        Err(TryLockError::WouldBlock) => Ok(OsLock::Busy),
        Err(TryLockError::Error(e)) if unsupported(&e) => Ok(OsLock::Unsupported),
        Err(TryLockError::Error(e)) => Err(io("locking the lock file", e)),
    }
}

/// Whether a locking error says the file system has no locks (rather than a failure).
fn unsupported(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::Unsupported
        || matches!(e.raw_os_error(), Some(code) if code == libc::ENOLCK || code == libc::EOPNOTSUPP)
}

/// This host's name.
pub(crate) fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown-host".into())
}

/// Whether a process runs: on Linux, whether `/proc/<pid>` exists and is not a zombie.
/// Elsewhere every holder counts as alive (never stale).
fn process_alive(pid: u32) -> bool {
    let stat = format!("/proc/{pid}/stat");
    if !std::path::Path::new("/proc/self/stat").exists() {
        return true;
    }
    match std::fs::read_to_string(stat) {
        Ok(text) => {
            // The state letter follows the command name in parentheses.
            let state = text
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.trim_start().chars().next());
            state != Some('Z') && state != Some('X')
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_files_are_one_per_stack_and_escape_separators() {
        let state = Path::new("/tmp/x/state.db");
        let a = lock_file_path(state, &StackId::new("payment-dr", "prod/001"));
        let b = lock_file_path(state, &StackId::new("payment-dr.prod", "001"));
        assert_eq!(
            a,
            Path::new("/tmp/x/state.db.locks/payment-dr.prod%2F001.lock")
        );
        assert_eq!(
            b,
            Path::new("/tmp/x/state.db.locks/payment-dr%2Eprod.001.lock")
        );
        assert_ne!(a, b);
    }
}

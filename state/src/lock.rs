//! Per-stack locks: one row per locked stack naming the holder, its process id, its host
//! and when it took the lock. A lock whose process is gone from this host is reported as
//! stale; it is never taken over silently.

use std::fmt;
use std::sync::Arc;

use time::OffsetDateTime;

use crate::StateError;
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
/// and reports a failure.
pub struct StackLock {
    pub(crate) shared: Arc<Shared>,
    pub(crate) stack: StackId,
    pub(crate) released: bool,
}

impl fmt::Debug for StackLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StackLock")
            .field("stack", &self.stack)
            .finish()
    }
}

impl StackLock {
    /// Releases the lock.
    pub fn release(mut self) -> Result<(), StateError> {
        self.released = true;
        self.shared.unlock(&self.stack, std::process::id())
    }

    /// The locked stack.
    pub fn stack(&self) -> &StackId {
        &self.stack
    }
}

impl Drop for StackLock {
    fn drop(&mut self) {
        if !self.released {
            let _ = self.shared.unlock(&self.stack, std::process::id());
        }
    }
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

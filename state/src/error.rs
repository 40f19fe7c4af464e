//! Errors of the state store. Every message names the file and, where there is one, the
//! stack, resource and column concerned; none contains a secret.

use std::path::PathBuf;

use crate::lock::LockInfo;
use crate::records::StackId;

/// A failure of the state store.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The state file does not exist and creating it was not asked for.
    #[error("state file {path} does not exist")]
    NotFound {
        /// The file.
        path: PathBuf,
    },
    /// The path is a directory.
    #[error("state file {path} is a directory, not a file")]
    IsDirectory {
        /// The path.
        path: PathBuf,
    },
    /// The file exists but is not an SQLite database.
    #[error("state file {path} is not an SQLite database (it was left untouched)")]
    NotSqlite {
        /// The file.
        path: PathBuf,
    },
    /// The file was written by a newer version of the tool.
    #[error(
        "state file {path} was written by schema version {found}; this build understands up to {supported}: upgrade the tool (the file was left untouched)"
    )]
    NewerSchema {
        /// The file.
        path: PathBuf,
        /// Its schema version.
        found: i64,
        /// The newest version this build knows.
        supported: i64,
    },
    /// Reading or writing the file failed.
    #[error("state file {path}: {context}: {source}")]
    Sqlite {
        /// The file.
        path: PathBuf,
        /// What was being done.
        context: String,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// Reading or writing the PostgreSQL database failed (`path` is its URL without the
    /// password).
    #[error("state database {path}: {context}: {}", with_causes(source))]
    Postgres {
        /// The database's URL, password redacted.
        path: PathBuf,
        /// What was being done.
        context: String,
        /// The client's error.
        #[source]
        source: postgres::Error,
    },
    /// The PostgreSQL database holds tables that are not a state's.
    #[error(
        "state database {path}: {reason} (it was left untouched; use a database of its own for the state)"
    )]
    NotStateDatabase {
        /// The database's URL, password redacted.
        path: PathBuf,
        /// What was found.
        reason: String,
    },
    /// A file system operation failed.
    #[error("{path}: {context}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done.
        context: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The stack is locked by another run.
    #[error("{}", locked_message(stack, info, *stale, *os_lock))]
    Locked {
        /// The stack.
        stack: StackId,
        /// Who holds the lock.
        info: LockInfo,
        /// The holder is a process on this host that no longer runs (only where the
        /// file system has no file locks, so that the row alone is the lock).
        stale: bool,
        /// The holder holds the OS file lock: it is a live process.
        os_lock: bool,
    },
    /// `state force-unlock` of a stack whose lock a live run holds.
    #[error(
        "stack {stack} is locked by {info}, a run that is still going; force-unlock never takes a lock from a live run (two runs writing one stack is what the lock prevents): wait for it to finish, or stop that process"
    )]
    LockedByLiveRun {
        /// The stack.
        stack: StackId,
        /// Who holds the lock.
        info: LockInfo,
    },
    /// A JSON column does not parse.
    #[error(
        "state file {path}: stack {stack}: resource `{resource}` column `{column}` is not valid JSON: {message}"
    )]
    BadJson {
        /// The file.
        path: PathBuf,
        /// The stack.
        stack: StackId,
        /// The row (resource name, output name or intent).
        resource: String,
        /// The column.
        column: String,
        /// The parser's message.
        message: String,
    },
    /// The recorded state is inconsistent; nothing may be deployed on top of it.
    #[error("state file {path}: stack {stack} fails its integrity check: {}", problems.join("; "))]
    Integrity {
        /// The file.
        path: PathBuf,
        /// The stack.
        stack: StackId,
        /// Every problem found.
        problems: Vec<String>,
    },
    /// The passphrase or key file does not match the one the secrets were written with.
    #[error("wrong passphrase or key file for state file {path}: its secrets cannot be decrypted")]
    WrongKey {
        /// The file.
        path: PathBuf,
    },
    /// The key file the state's secrets were sealed with is gone. Never replaced by a new
    /// one: a new key would leave the recorded secrets unreadable for good.
    #[error(
        "state file {path}: its secrets were sealed with the key file {key}, which is missing: restore it (or set IAC_KEY_FILE to a copy, or IAC_PASSPHRASE if the state was made with one); nothing was written"
    )]
    MissingKeyFile {
        /// The state file (or URL).
        path: PathBuf,
        /// The key file looked for.
        key: PathBuf,
    },
    /// Secrets are involved but no key was given.
    #[error(
        "state file {path} holds secrets but no key was given: set IAC_PASSPHRASE, or use the key file the state was created with"
    )]
    NoKey {
        /// The file.
        path: PathBuf,
    },
    /// Encryption or key derivation failed.
    #[error("state file {path}: {message}")]
    Crypto {
        /// The file.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// An exported state document is unusable.
    #[error("state import into {path}: {message}")]
    Import {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A journal step was completed that was never recorded (or was already completed).
    #[error("state file {path}: no pending intent with id {id}")]
    UnknownIntent {
        /// The file.
        path: PathBuf,
        /// The intent id.
        id: i64,
    },
}

/// The client's error with its causes (the server's own message is a cause, which the
/// client's `Display` leaves out).
fn with_causes(e: &postgres::Error) -> String {
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

fn locked_message(stack: &StackId, info: &LockInfo, stale: bool, os_lock: bool) -> String {
    if os_lock {
        format!(
            "stack {stack} is locked by {info}, a run that is still going; wait for it to finish (a run that dies releases its lock by itself)"
        )
    } else if stale {
        format!(
            "stack {stack} is locked by {info}, a process that is no longer running on this host; if no run is in progress, remove the lock with `state force-unlock`"
        )
    } else {
        format!(
            "stack {stack} is locked by {info}; wait for that run to finish (if its process is gone, run `state force-unlock`)"
        )
    }
}

//! The storage under the store: row-level reads and writes, each write one transaction.
//!
//! [`crate::StateStore`] keeps everything above the rows in one place (secrets sealed and
//! opened, JSON parsed, the integrity check, what a journal step means, history records,
//! export and import); a [`Backend`] only moves rows in and out of its database, with the
//! same tables (`STATE.md`) in both implementations: [`sqlite`] (a file) and [`postgres`]
//! (a server shared by a team).

use time::OffsetDateTime;

use crate::StateError;
use crate::lock::LockInfo;
use crate::records::{JournalStep, StackId};

/// Why a deployment left unfinished by a run whose process died is recorded as
/// interrupted: the next run to take the stack's lock finds it so.
pub(crate) const INTERRUPTED_BY_DEATH: &str =
    "its process ended before the run did (found when the next run took the lock)";

pub(crate) mod postgres;
pub(crate) mod sqlite;

/// One resource row as stored, borrowed from the database's own buffer where it can be:
/// the JSON columns still sealed and unparsed.
pub(crate) struct RawResource<'a> {
    pub name: &'a str,
    pub type_token: &'a str,
    pub provider: &'a str,
    pub id: &'a str,
    pub inputs: &'a [u8],
    pub outputs: &'a [u8],
    pub dependencies: &'a [u8],
    pub options: &'a [u8],
    pub status: &'a str,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A resource row to write: the JSON columns already sealed and serialized.
#[derive(Clone)]
pub(crate) struct ResourceRow {
    pub name: String,
    pub type_token: String,
    pub provider: String,
    pub id: String,
    pub inputs: String,
    pub outputs: String,
    pub dependencies: String,
    pub options: String,
    pub status: String,
}

/// A deployment row: id, kind, started, finished, result, message, counts.
pub(crate) type RawDeployment = (
    i64,
    String,
    i64,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// A journal intent to insert (its inputs sealed).
pub(crate) struct IntentRow {
    pub stack: StackId,
    pub deployment: Option<i64>,
    pub resource: String,
    pub type_token: String,
    pub provider: String,
    pub operation: String,
    pub token: String,
    pub inputs: String,
}

/// A pending intent as stored: id, resource, type, provider, operation, token, sealed
/// inputs, started.
pub(crate) type RawIntent = (i64, String, String, String, String, String, String, i64);

/// What a finished step does to its resource row.
pub(crate) enum RowChange {
    /// Insert or replace the row (outcome `written`).
    Write(ResourceRow),
    /// Delete the intent's resource row (outcome `deleted`).
    Delete,
    /// Leave the rows alone (outcome `failed`, with this error).
    Fail(String),
}

/// One finished step: the intent it clears and its change.
pub(crate) struct StepRow {
    pub intent: i64,
    pub change: RowChange,
}

/// An export's rows: resources (name, type, provider, physical id, inputs, outputs,
/// dependencies, options, status; JSON still sealed) and outputs (name, sealed value).
pub(crate) type ExportRows = (Vec<[String; 9]>, Vec<(String, String)>);

/// What trying a stack's system-released lock found.
pub(crate) enum TryLock {
    /// This process holds it now, until the value is dropped.
    Held(HeldLock),
    /// A live process holds it.
    Busy,
    /// The storage has no such lock (a file system without file locks): the row alone is
    /// the lock.
    Unsupported,
}

/// A held system-released lock: an OS file lock, or a PostgreSQL session advisory lock
/// held by a connection of its own. Dropping it releases it; so does the holder's death.
pub(crate) enum HeldLock {
    /// `flock` on the stack's lock file (held until dropped).
    File {
        /// The locked file.
        _file: std::fs::File,
    },
    /// `pg_advisory_lock` on a dedicated session (held until dropped).
    Server {
        /// The session holding it.
        _lock: postgres::ServerLock,
    },
}

/// Row-level storage of the state: the two implementations share the tables of
/// `STATE.md`. Every method that writes is one transaction; every error names the
/// location (a URL without its password) and what was being done.
pub(crate) trait Backend: Send + Sync {
    /// What messages show: the file, or the URL without its password.
    fn location(&self) -> &std::path::Path;

    /// A `meta` value.
    fn meta_get(&self, key: &str) -> Result<Option<String>, StateError>;

    /// Writes `value` under `key` unless a value is there already; returns the stored one
    /// (two processes opening a new state at once agree on one salt).
    fn meta_init(&self, key: &str, value: &str) -> Result<String, StateError>;

    /// Every stack with its resource count, by project and name.
    fn stacks(&self) -> Result<Vec<(StackId, usize)>, StateError>;

    /// Calls `each` for every resource row of `stack` in name order, with the number of
    /// rows (the same in every call, so the first can reserve). An unknown stack has none.
    fn resources(
        &self,
        stack: &StackId,
        each: &mut dyn FnMut(usize, RawResource<'_>) -> Result<(), StateError>,
    ) -> Result<(), StateError>;

    /// The stack's outputs (name, sealed value) in name order.
    fn outputs(&self, stack: &StackId) -> Result<Vec<(String, String)>, StateError>;

    /// The stack's deployments, oldest first; or the `last` newest, newest first.
    fn deployments(
        &self,
        stack: &StackId,
        last: Option<usize>,
    ) -> Result<Vec<RawDeployment>, StateError>;

    /// Inserts a running deployment; returns its id.
    fn begin_deployment(&self, stack: &StackId, kind: &str, now: i64) -> Result<i64, StateError>;

    /// Records how a deployment ended.
    fn finish_deployment(
        &self,
        id: i64,
        now: i64,
        result: &str,
        message: Option<String>,
        counts: String,
    ) -> Result<(), StateError>;

    /// Keeps a report (JSON text) beside the deployment `id`.
    fn set_deployment_report(&self, id: i64, report: String) -> Result<(), StateError>;

    /// The `(deployment id, report)` of the stack's deployments that have one, oldest first.
    fn deployment_reports(&self, stack: &StackId) -> Result<Vec<(i64, String)>, StateError>;

    /// Inserts intents in one transaction, durably; returns their ids in order.
    fn record_intents(&self, intents: Vec<IntentRow>, now: i64) -> Result<Vec<i64>, StateError>;

    /// Applies each step's row change and marks its intent finished, all in one
    /// transaction. `Ok(Err(id))`: intent `id` is not pending, and nothing was written.
    fn complete_steps(&self, steps: Vec<StepRow>, now: i64) -> Result<Result<(), i64>, StateError>;

    /// The stack's intents without a result, oldest first.
    fn pending_intents(&self, stack: &StackId) -> Result<Vec<RawIntent>, StateError>;

    /// The journal rows of one deployment, in order.
    fn journal_steps(
        &self,
        stack: &StackId,
        deployment: i64,
    ) -> Result<Vec<JournalStep>, StateError>;

    /// In one transaction: removes every resource row of the stack when `replace_all`,
    /// writes `rows`, and replaces the outputs when `outputs` is given.
    fn write_rows(
        &self,
        stack: &StackId,
        replace_all: bool,
        rows: Vec<ResourceRow>,
        outputs: Option<Vec<(String, String)>>,
        now: i64,
    ) -> Result<(), StateError>;

    /// Removes one resource row; returns whether it existed.
    fn remove_resource(&self, stack: &StackId, name: &str) -> Result<bool, StateError>;

    /// The rows an export is made of.
    fn export_rows(&self, stack: &StackId) -> Result<ExportRows, StateError>;

    /// Tries the stack's system-released lock without waiting.
    fn try_lock(&self, stack: &StackId) -> Result<TryLock, StateError>;

    /// The lock row of the stack.
    fn lock_row(&self, stack: &StackId) -> Result<Option<LockInfo>, StateError>;

    /// Writes the lock row for `info`. With `replace`, a row already there is a dead
    /// holder's and is replaced, and the deployments that holder left unfinished are
    /// recorded as interrupted ([`INTERRUPTED_BY_DEATH`]); without, a row already there
    /// is returned and nothing is written (the row alone is the lock).
    fn write_lock_row(
        &self,
        stack: &StackId,
        info: &LockInfo,
        replace: bool,
    ) -> Result<Option<LockInfo>, StateError>;

    /// Deletes the lock row (only `holder`'s: pid and host, when given); returns it.
    fn delete_lock_row(
        &self,
        stack: &StackId,
        holder: Option<(u32, &str)>,
    ) -> Result<Option<LockInfo>, StateError>;

    /// Whether SQLite granted the WAL journal (a server: always durable, `true`).
    fn is_wal(&self) -> bool {
        true
    }
}

/// Unix milliseconds as a time (the epoch for a value out of range).
pub(crate) fn from_ms(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// A time as unix milliseconds.
pub(crate) fn to_ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

//! The store: opening (with the checks that leave a bad file untouched), reading a stack,
//! the journal, deployments, outputs, locks, export and import.

use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::lock::{LockInfo, OsLock, StackLock, host_name};
use crate::records::*;
use crate::schema::{self, SCHEMA_VERSION};
use crate::secrets::{Cipher, SecretsKey};
use crate::{CIPHERTEXT_KEY, StateError};

/// How to open a state file.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// The key for secrets.
    pub secrets: SecretsKey,
    /// Create the file when it does not exist (otherwise that is an error).
    pub create: bool,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            secrets: SecretsKey::None,
            create: true,
        }
    }
}

/// An open state file. Cheap to share (`Arc`); calls are serialized on one connection.
pub struct StateStore {
    shared: Arc<Shared>,
    wal: bool,
}

impl std::fmt::Debug for StateStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateStore")
            .field("path", &self.shared.path)
            .finish()
    }
}

pub(crate) struct Shared {
    path: PathBuf,
    conn: Mutex<Connection>,
    cipher: Cipher,
    key: SecretsKey,
    salt: Vec<u8>,
}

const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";
const EXPORT_FORMAT: &str = "iac-state-export";
const EXPORT_VERSION: i64 = 1;

fn now_ms() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

fn from_ms(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

impl StateStore {
    /// Opens (or creates) the state file at `path`, migrating an older schema forward.
    ///
    /// A directory, a file that is not SQLite, or a file from a newer schema is refused
    /// with an error naming the file, and the file is left as it was.
    pub fn open(path: &Path, options: OpenOptions) -> Result<StateStore, StateError> {
        let io = |context: &str, source: std::io::Error| StateError::Io {
            path: path.to_path_buf(),
            context: context.to_string(),
            source,
        };
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => {
                return Err(StateError::IsDirectory {
                    path: path.to_path_buf(),
                });
            }
            Ok(meta) => {
                if meta.len() > 0 {
                    let mut head = [0u8; 16];
                    let mut f = std::fs::File::open(path).map_err(|e| io("opening", e))?;
                    let ok = std::io::Read::read_exact(&mut f, &mut head).is_ok()
                        && &head == SQLITE_MAGIC;
                    if !ok {
                        return Err(StateError::NotSqlite {
                            path: path.to_path_buf(),
                        });
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if !options.create {
                    return Err(StateError::NotFound {
                        path: path.to_path_buf(),
                    });
                }
                // Create the file ourselves so that it (and the WAL and shared-memory files
                // SQLite derives from it) starts with mode 0600.
                match std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(path)
                {
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(io("creating the state file", e)),
                }
            }
            Err(e) => return Err(io("reading the state file's metadata", e)),
        }

        let sql = |context: &'static str| {
            let path = path.to_path_buf();
            move |source: rusqlite::Error| StateError::Sqlite {
                path: path.clone(),
                context: context.to_string(),
                source,
            }
        };
        let mut conn = Connection::open(path).map_err(sql("opening"))?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(sql("setting the busy timeout"))?;
        // Read the version before anything writes: a newer file must stay untouched.
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(|e| match e {
                rusqlite::Error::SqliteFailure(f, _)
                    if f.code == rusqlite::ErrorCode::NotADatabase =>
                {
                    StateError::NotSqlite {
                        path: path.to_path_buf(),
                    }
                }
                other => sql("reading the schema version")(other),
            })?;
        if version > SCHEMA_VERSION {
            return Err(StateError::NewerSchema {
                path: path.to_path_buf(),
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        let journal_mode = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get::<_, String>(0))
            .map_err(sql("enabling the WAL journal"))?
            .to_ascii_lowercase();
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(sql("setting synchronous=FULL"))?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(sql("enabling foreign keys"))?;
        schema::migrate(&mut conn, version).map_err(sql("migrating the schema"))?;
        for suffix in ["", "-wal", "-shm"] {
            let mut p = path.as_os_str().to_owned();
            p.push(suffix);
            let p = PathBuf::from(p);
            if p.exists() {
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600))
                    .map_err(|e| io("setting mode 0600", e))?;
            }
        }

        let salt = meta_get(&conn, "secrets.salt").map_err(sql("reading the secrets settings"))?;
        let has_key = !matches!(options.secrets, SecretsKey::None);
        let salt = match salt {
            Some(s) => hex_bytes(&s),
            None if has_key => {
                let mut salt = [0u8; 16];
                rand::RngCore::fill_bytes(&mut rand::rng(), &mut salt);
                let hex: String = salt.iter().map(|b| format!("{b:02x}")).collect();
                meta_set(&mut conn, "secrets.salt", &hex)
                    .map_err(sql("writing the secrets settings"))?;
                salt.to_vec()
            }
            None => Vec::new(),
        };
        let cipher = Cipher::new(&options.secrets, &salt, path)?;
        if cipher.has_key() {
            match meta_get(&conn, "secrets.verifier")
                .map_err(sql("reading the secrets settings"))?
            {
                Some(v) => cipher.check_verifier(&v)?,
                None => {
                    let v = cipher.verifier()?;
                    meta_set(&mut conn, "secrets.verifier", &v)
                        .map_err(sql("writing the secrets settings"))?;
                }
            }
        }
        Ok(StateStore {
            wal: journal_mode == "wal",
            shared: Arc::new(Shared {
                path: path.to_path_buf(),
                conn: Mutex::new(conn),
                cipher,
                key: options.secrets.clone(),
                salt,
            }),
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// Whether SQLite granted the WAL journal that was asked for. Some file systems
    /// (network shares without shared memory) refuse it; SQLite then keeps a rollback
    /// journal, which with `synchronous=FULL` is as durable but lets no reader in while
    /// a run writes. The CLI warns when it is not granted.
    pub fn is_wal(&self) -> bool {
        self.wal
    }

    /// Every stack in the file with its resource count and latest deployment.
    pub fn stacks(&self) -> Result<Vec<StackSummary>, StateError> {
        let s = &self.shared;
        let conn = s.conn();
        let mut stmt = conn
            .prepare("SELECT s.id, s.project, s.name, (SELECT count(*) FROM resources r WHERE r.stack_id = s.id) FROM stacks s ORDER BY s.project, s.name")
            .map_err(s.sql("listing stacks"))?;
        let rows: Vec<(i64, String, String, i64)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .and_then(|rows| rows.collect())
            .map_err(s.sql("listing stacks"))?;
        drop(stmt);
        let mut out = Vec::new();
        for (id, project, name, count) in rows {
            let last = s.deployments(&conn, id, Some(1))?.pop();
            out.push(StackSummary {
                stack: StackId { project, name },
                resources: count as usize,
                last_deployment: last,
            });
        }
        Ok(out)
    }

    /// Everything recorded for `stack` (empty for an unknown stack), secrets decrypted
    /// back to `{"$secret": v}`. Runs the integrity check first: a failing state is an error.
    pub fn load(&self, stack: &StackId) -> Result<StackState, StateError> {
        let s = &self.shared;
        let conn = s.conn();
        let Some(stack_id) = stack_id(&conn, stack).map_err(s.sql("reading the stack"))? else {
            return Ok(StackState {
                stack: stack.clone(),
                resources: Vec::new(),
                outputs: BTreeMap::new(),
            });
        };
        // Sized from the primary-key index first: growing a vector of 100,000 records by
        // doubling copies them into fresh memory again and again.
        let count: i64 = conn
            .prepare_cached("SELECT count(*) FROM resources WHERE stack_id = ?1")
            .and_then(|mut stmt| stmt.query_row([stack_id], |r| r.get(0)))
            .map_err(s.sql("reading resources"))?;
        let mut resources = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
        {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT name, type, provider, physical_id, inputs, outputs, dependencies, options, status, created_at, updated_at \
                     FROM resources WHERE stack_id = ?1 ORDER BY name",
                )
                .map_err(s.sql("reading resources"))?;
            let mut rows = stmt.query([stack_id]).map_err(s.sql("reading resources"))?;
            while let Some(row) = rows.next().map_err(s.sql("reading resources"))? {
                let name: String = row.get(0).map_err(s.sql("reading resources"))?;
                let text = |i: usize| -> Result<String, StateError> {
                    row.get(i).map_err(s.sql("reading resources"))
                };
                // JSON columns are parsed from SQLite's own buffer, straight into their
                // types: a large state is read without an owned copy of each column.
                let raw = |i: usize| -> Result<&[u8], StateError> {
                    row.get_ref(i)
                        .and_then(|v| v.as_bytes().map_err(Into::into))
                        .map_err(s.sql("reading resources"))
                };
                let json = |i: usize, column: &str| -> Result<Value, StateError> {
                    crate::json::from_slice(raw(i)?)
                        .map_err(|e| s.bad_json(stack, &name, column, e))
                };
                let mut inputs = json(4, "inputs")?;
                s.cipher.decrypt_in_place(&mut inputs)?;
                let mut outputs = json(5, "outputs")?;
                s.cipher.decrypt_in_place(&mut outputs)?;
                let dependencies: Vec<String> = serde_json::from_slice(raw(6)?)
                    .map_err(|e| s.bad_json(stack, &name, "dependencies", e))?;
                let options: ResourceOptionsRecord = serde_json::from_slice(raw(7)?)
                    .map_err(|e| s.bad_json(stack, &name, "options", e))?;
                let status_text = text(8)?;
                let status =
                    ResourceStatus::parse(&status_text).ok_or_else(|| StateError::Integrity {
                        path: s.path.clone(),
                        stack: stack.clone(),
                        problems: vec![format!(
                            "resource `{name}` has an unknown status `{status_text}`"
                        )],
                    })?;
                resources.push(ResourceRecord {
                    type_token: text(1)?,
                    provider: text(2)?,
                    id: text(3)?,
                    inputs,
                    outputs,
                    dependencies,
                    options,
                    status,
                    created_at: row.get(9).map_err(s.sql("reading resources"))?,
                    updated_at: row.get(10).map_err(s.sql("reading resources"))?,
                    name,
                });
            }
        }
        let mut outputs = BTreeMap::new();
        {
            let mut stmt = conn
                .prepare_cached("SELECT name, value FROM outputs WHERE stack_id = ?1 ORDER BY name")
                .map_err(s.sql("reading outputs"))?;
            let rows: Vec<(String, String)> = stmt
                .query_map([stack_id], |r| Ok((r.get(0)?, r.get(1)?)))
                .and_then(|rows| rows.collect())
                .map_err(s.sql("reading outputs"))?;
            for (name, text) in rows {
                let v: Value = serde_json::from_str(&text)
                    .map_err(|e| s.bad_json(stack, &format!("output {name}"), "value", e))?;
                outputs.insert(name, s.cipher.decrypt_value(&v)?);
            }
        }
        let problems = integrity_problems(&resources);
        if !problems.is_empty() {
            return Err(StateError::Integrity {
                path: s.path.clone(),
                stack: stack.clone(),
                problems,
            });
        }
        Ok(StackState {
            stack: stack.clone(),
            resources,
            outputs,
        })
    }

    /// Runs the integrity check on `stack` alone.
    pub fn check(&self, stack: &StackId) -> Result<(), StateError> {
        self.load(stack).map(|_| ())
    }

    /// Locks `stack` for `holder` for as long as the returned [`StackLock`] lives.
    ///
    /// The lock is an OS file lock beside the state file, which the kernel releases when
    /// this process ends, however it ends: a crashed run never blocks the next one. A
    /// second lock while a live process holds it is refused naming that holder. A lock
    /// row left by a dead holder is replaced. Where the file system cannot lock files,
    /// the row alone is the lock, and a row whose process is gone is reported as stale
    /// (never taken over; `state force-unlock` removes it).
    pub fn lock(&self, stack: &StackId, holder: &str) -> Result<StackLock, StateError> {
        let s = &self.shared;
        let file = match crate::lock::try_os_lock(&s.path, stack)? {
            OsLock::Held(file) => Some(file),
            OsLock::Busy => {
                return Err(StateError::Locked {
                    stack: stack.clone(),
                    info: self.live_holder(stack)?,
                    stale: false,
                    os_lock: true,
                });
            }
            OsLock::Unsupported => None,
        };
        let os_lock = file.is_some();
        s.write("locking the stack", |tx| {
            let id = ensure_stack(tx, stack)?;
            if let Some(info) = lock_row(tx, id)? {
                if !os_lock {
                    return Ok(Err(info));
                }
                // We hold the OS lock, so the row's holder has ended: its row is stale.
                tx.execute("DELETE FROM locks WHERE stack_id = ?1", [id])?;
            }
            tx.execute(
                "INSERT INTO locks (stack_id, holder, pid, host, acquired_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id, holder, std::process::id(), host_name(), now_ms()],
            )?;
            Ok(Ok(()))
        })?
        .map_err(|info| StateError::Locked {
            stack: stack.clone(),
            stale: info.is_stale(),
            info,
            os_lock: false,
        })?;
        Ok(StackLock {
            shared: self.shared.clone(),
            stack: stack.clone(),
            released: false,
            file,
        })
    }

    /// The holder named by the row of a stack whose OS lock is held. The holder writes
    /// its row right after taking the file lock: give it a moment before saying it is
    /// unnamed.
    fn live_holder(&self, stack: &StackId) -> Result<LockInfo, StateError> {
        for _ in 0..20 {
            if let Some(info) = self.lock_info(stack)? {
                return Ok(info);
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Ok(LockInfo {
            holder: "a process that has not named itself".to_string(),
            pid: 0,
            host: host_name(),
            acquired_at: OffsetDateTime::now_utc(),
        })
    }

    /// Removes the lock row of `stack` that no live process holds; returns who held it.
    ///
    /// A live run's lock is never removed: two runs writing one stack at once is what
    /// the lock exists to prevent, so that is refused naming the holder. With OS locks a
    /// dead run's row is replaced by the next run anyway; this is for file systems
    /// without file locks, and for rows left by older versions.
    pub fn force_unlock(&self, stack: &StackId) -> Result<Option<LockInfo>, StateError> {
        let held = match crate::lock::try_os_lock(&self.shared.path, stack)? {
            OsLock::Busy => {
                return Err(StateError::LockedByLiveRun {
                    stack: stack.clone(),
                    info: self.live_holder(stack)?,
                });
            }
            OsLock::Held(file) => Some(file),
            OsLock::Unsupported => None,
        };
        let removed = self.shared.write("removing the lock", |tx| {
            let Some(id) = stack_id(tx, stack)? else {
                return Ok(None);
            };
            let info = lock_row(tx, id)?;
            tx.execute("DELETE FROM locks WHERE stack_id = ?1", [id])?;
            Ok(info)
        });
        drop(held);
        removed
    }

    /// Who holds the lock of `stack`, if anyone.
    pub fn lock_info(&self, stack: &StackId) -> Result<Option<LockInfo>, StateError> {
        let s = &self.shared;
        let conn = s.conn();
        let Some(id) = stack_id(&conn, stack).map_err(s.sql("reading the lock"))? else {
            return Ok(None);
        };
        lock_row(&conn, id).map_err(s.sql("reading the lock"))
    }

    /// Records the start of a deployment.
    pub fn begin_deployment(
        &self,
        stack: &StackId,
        kind: DeploymentKind,
    ) -> Result<DeploymentId, StateError> {
        self.shared.write("recording a deployment", |tx| {
            let id = ensure_stack(tx, stack)?;
            tx.execute(
                "INSERT INTO deployments (stack_id, kind, started_at) VALUES (?1, ?2, ?3)",
                params![id, kind.as_str(), now_ms()],
            )?;
            Ok(DeploymentId(tx.last_insert_rowid()))
        })
    }

    /// Records how a deployment ended.
    pub fn finish_deployment(
        &self,
        id: DeploymentId,
        result: DeploymentResult,
        counts: &StepCounts,
    ) -> Result<(), StateError> {
        let (word, message) = match &result {
            DeploymentResult::Succeeded => ("succeeded", None),
            DeploymentResult::Failed(m) => ("failed", Some(m.clone())),
            DeploymentResult::Interrupted => ("interrupted", None),
        };
        let counts = serde_json::to_string(counts).unwrap_or_default();
        self.shared.write("recording a deployment's end", |tx| {
            tx.execute(
                "UPDATE deployments SET finished_at = ?2, result = ?3, message = ?4, counts = ?5 WHERE id = ?1",
                params![id.0, now_ms(), word, message, counts],
            )?;
            Ok(())
        })
    }

    /// Keeps `report` (JSON without secrets, e.g. a drill's measurements) beside the
    /// deployment `id` (schema version 4).
    pub fn set_deployment_report(
        &self,
        id: DeploymentId,
        report: &Value,
    ) -> Result<(), StateError> {
        let text = serde_json::to_string(report).unwrap_or_default();
        self.shared.write("recording a deployment's report", |tx| {
            tx.execute(
                "UPDATE deployments SET report = ?2 WHERE id = ?1",
                params![id.0, text],
            )?;
            Ok(())
        })
    }

    /// The reports kept beside `stack`'s deployments, oldest first.
    pub fn deployment_reports(
        &self,
        stack: &StackId,
    ) -> Result<Vec<(DeploymentId, Value)>, StateError> {
        let s = &self.shared;
        let conn = s.conn();
        let Some(id) = stack_id(&conn, stack).map_err(s.sql("reading reports"))? else {
            return Ok(Vec::new());
        };
        let mut stmt = conn
            .prepare("SELECT id, report FROM deployments WHERE stack_id = ?1 AND report IS NOT NULL ORDER BY id")
            .map_err(s.sql("reading reports"))?;
        let rows: Vec<(i64, String)> = stmt
            .query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))
            .and_then(|rows| rows.collect())
            .map_err(s.sql("reading reports"))?;
        Ok(rows
            .into_iter()
            .filter_map(|(d, text)| Some((DeploymentId(d), serde_json::from_str(&text).ok()?)))
            .collect())
    }

    /// Every deployment of `stack`, oldest first.
    pub fn history(&self, stack: &StackId) -> Result<Vec<DeploymentRecord>, StateError> {
        let s = &self.shared;
        let conn = s.conn();
        let Some(id) = stack_id(&conn, stack).map_err(s.sql("reading history"))? else {
            return Ok(Vec::new());
        };
        s.deployments(&conn, id, None)
    }

    /// Records intents, durably, in one transaction; returns their ids in order.
    pub fn record_intents(&self, intents: &[NewIntent]) -> Result<Vec<IntentId>, StateError> {
        let s = &self.shared;
        let sealed: Vec<String> = intents
            .iter()
            .map(|i| s.cipher.encrypt_value(&i.inputs).map(|v| v.to_string()))
            .collect::<Result<_, _>>()?;
        s.write("recording intents", |tx| {
            let mut ids = Vec::with_capacity(intents.len());
            let mut stacks: HashMap<&StackId, i64> = HashMap::new();
            let mut stmt = tx.prepare_cached(
                "INSERT INTO journal (stack_id, deployment_id, resource, type, provider, operation, token, inputs, started_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?;
            for (intent, inputs) in intents.iter().zip(&sealed) {
                let stack_id = match stacks.get(&intent.stack) {
                    Some(&id) => id,
                    None => {
                        let id = ensure_stack(tx, &intent.stack)?;
                        stacks.insert(&intent.stack, id);
                        id
                    }
                };
                stmt.execute(params![
                    stack_id,
                    intent.deployment.map(|d| d.0),
                    intent.resource,
                    intent.type_token,
                    intent.provider,
                    intent.operation.as_str(),
                    intent.token,
                    inputs,
                    now_ms()
                ])?;
                ids.push(IntentId(tx.last_insert_rowid()));
            }
            Ok(ids)
        })
    }

    /// Records the outcome of each step and clears its intent, all in one transaction.
    pub fn complete_steps(&self, results: &[(IntentId, StepOutcome)]) -> Result<(), StateError> {
        let s = &self.shared;
        let mut sealed = Vec::with_capacity(results.len());
        for (_, outcome) in results {
            sealed.push(match outcome {
                StepOutcome::Written(r) => Some(s.seal_record(r)?),
                _ => None,
            });
        }
        let path = s.path.clone();
        s.write_checked("recording step results", |tx| {
            let now = now_ms();
            for ((id, outcome), sealed) in results.iter().zip(&sealed) {
                let row: Option<(i64, String)> = tx
                    .prepare_cached("SELECT stack_id, resource FROM journal WHERE id = ?1 AND finished_at IS NULL")?
                    .query_row([id.0], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()?;
                let Some((stack_id, resource)) = row else {
                    return Ok(Err(StateError::UnknownIntent { path: path.clone(), id: id.0 }));
                };
                let (word, error) = match (outcome, sealed) {
                    (StepOutcome::Written(r), Some(sealed)) => {
                        upsert(tx, stack_id, r, sealed, now)?;
                        ("written", None)
                    }
                    (StepOutcome::Deleted, _) => {
                        tx.prepare_cached("DELETE FROM resources WHERE stack_id = ?1 AND name = ?2")?
                            .execute(params![stack_id, resource])?;
                        ("deleted", None)
                    }
                    (StepOutcome::Failed { error }, _) => ("failed", Some(error.clone())),
                    (StepOutcome::Written(_), None) => ("failed", Some("internal: unsealed record".to_string())),
                };
                tx.prepare_cached("UPDATE journal SET finished_at = ?2, outcome = ?3, error = ?4 WHERE id = ?1")?
                    .execute(params![id.0, now, word, error])?;
            }
            Ok(Ok(()))
        })
    }

    /// Intents of `stack` whose results were never recorded (an interrupted run).
    pub fn pending_intents(&self, stack: &StackId) -> Result<Vec<Intent>, StateError> {
        let s = &self.shared;
        let conn = s.conn();
        let Some(id) = stack_id(&conn, stack).map_err(s.sql("reading the journal"))? else {
            return Ok(Vec::new());
        };
        let mut stmt = conn
            .prepare_cached(
                "SELECT id, resource, type, provider, operation, token, inputs, started_at FROM journal \
                 WHERE stack_id = ?1 AND finished_at IS NULL ORDER BY id",
            )
            .map_err(s.sql("reading the journal"))?;
        let rows: Vec<(i64, String, String, String, String, String, String, i64)> = stmt
            .query_map([id], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                ))
            })
            .and_then(|rows| rows.collect())
            .map_err(s.sql("reading the journal"))?;
        rows.into_iter()
            .map(
                |(iid, resource, type_token, provider, op, token, inputs, started_at)| {
                    let inputs: Value = serde_json::from_str(&inputs).map_err(|e| {
                        s.bad_json(stack, &format!("journal entry {iid}"), "inputs", e)
                    })?;
                    Ok(Intent {
                        id: IntentId(iid),
                        stack: stack.clone(),
                        operation: Operation::parse(&op).ok_or_else(|| StateError::Integrity {
                            path: s.path.clone(),
                            stack: stack.clone(),
                            problems: vec![format!(
                                "journal entry {iid} has an unknown operation `{op}`"
                            )],
                        })?,
                        inputs: s.cipher.decrypt_value(&inputs)?,
                        resource,
                        type_token,
                        provider,
                        token,
                        started_at,
                    })
                },
            )
            .collect()
    }

    /// The journal's steps of one deployment, in the order they were recorded: what each
    /// did, when it started and ended (milliseconds since the epoch) and how it ended. The
    /// inputs are left out: this is what `history --timeline` draws.
    pub fn journal_steps(
        &self,
        stack: &StackId,
        deployment: DeploymentId,
    ) -> Result<Vec<JournalStep>, StateError> {
        let s = &self.shared;
        let conn = s.conn();
        let Some(id) = stack_id(&conn, stack).map_err(s.sql("reading the journal"))? else {
            return Ok(Vec::new());
        };
        let mut stmt = conn
            .prepare_cached(
                "SELECT resource, type, provider, operation, started_at, finished_at, outcome \
                 FROM journal WHERE stack_id = ?1 AND deployment_id = ?2 ORDER BY id",
            )
            .map_err(s.sql("reading the journal"))?;
        stmt.query_map(params![id, deployment.0], |r| {
            Ok(JournalStep {
                resource: r.get(0)?,
                type_token: r.get(1)?,
                provider: r.get(2)?,
                operation: r.get(3)?,
                started_at_ms: r.get(4)?,
                finished_at_ms: r.get(5)?,
                outcome: r.get(6)?,
            })
        })
        .and_then(|rows| rows.collect())
        .map_err(s.sql("reading the journal"))
    }

    /// Writes (inserts or replaces) one resource row.
    pub fn put_resource(&self, stack: &StackId, record: &ResourceRecord) -> Result<(), StateError> {
        let sealed = self.shared.seal_record(record)?;
        self.shared.write("writing a resource", |tx| {
            let id = ensure_stack(tx, stack)?;
            upsert(tx, id, record, &sealed, now_ms())
        })
    }

    /// Removes one resource row; returns whether it existed.
    pub fn remove_resource(&self, stack: &StackId, name: &str) -> Result<bool, StateError> {
        self.shared.write("removing a resource", |tx| {
            let Some(id) = stack_id(tx, stack)? else {
                return Ok(false);
            };
            Ok(tx.execute(
                "DELETE FROM resources WHERE stack_id = ?1 AND name = ?2",
                params![id, name],
            )? > 0)
        })
    }

    /// Replaces the stack outputs.
    pub fn set_outputs(
        &self,
        stack: &StackId,
        outputs: &BTreeMap<String, Value>,
    ) -> Result<(), StateError> {
        let sealed: Vec<(String, String)> = outputs
            .iter()
            .map(|(k, v)| Ok((k.clone(), self.shared.cipher.encrypt_value(v)?.to_string())))
            .collect::<Result<_, StateError>>()?;
        self.shared.write("writing outputs", |tx| {
            let id = ensure_stack(tx, stack)?;
            tx.execute("DELETE FROM outputs WHERE stack_id = ?1", [id])?;
            let mut stmt = tx.prepare_cached(
                "INSERT INTO outputs (stack_id, name, value) VALUES (?1, ?2, ?3)",
            )?;
            for (k, v) in &sealed {
                stmt.execute(params![id, k, v])?;
            }
            Ok(())
        })
    }

    /// The state of `stack` as a JSON document, for backup or moving to another file.
    /// Secrets stay encrypted: a backup never holds plain text.
    pub fn export(&self, stack: &StackId) -> Result<Value, StateError> {
        self.load(stack)?;
        let s = &self.shared;
        let conn = s.conn();
        let id = stack_id(&conn, stack).map_err(s.sql("exporting"))?;
        let mut resources = Vec::new();
        let mut outputs = serde_json::Map::new();
        if let Some(id) = id {
            let mut stmt = conn
                .prepare("SELECT name, type, provider, physical_id, inputs, outputs, dependencies, options, status FROM resources WHERE stack_id = ?1 ORDER BY name")
                .map_err(s.sql("exporting"))?;
            let rows: Vec<[String; 9]> = stmt
                .query_map([id], |r| {
                    Ok([
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                        r.get(7)?,
                        r.get(8)?,
                    ])
                })
                .and_then(|rows| rows.collect())
                .map_err(s.sql("exporting"))?;
            for [
                name,
                type_token,
                provider,
                physical,
                inputs,
                outs,
                deps,
                options,
                status,
            ] in rows
            {
                let parse = |t: &str| serde_json::from_str::<Value>(t).unwrap_or(Value::Null);
                resources.push(json!({
                    "name": name, "type": type_token, "provider": provider, "id": physical,
                    "inputs": parse(&inputs), "outputs": parse(&outs), "dependencies": parse(&deps),
                    "options": parse(&options), "status": status,
                }));
            }
            let mut stmt = conn
                .prepare("SELECT name, value FROM outputs WHERE stack_id = ?1 ORDER BY name")
                .map_err(s.sql("exporting"))?;
            let rows: Vec<(String, String)> = stmt
                .query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))
                .and_then(|rows| rows.collect())
                .map_err(s.sql("exporting"))?;
            for (k, v) in rows {
                outputs.insert(k, serde_json::from_str(&v).unwrap_or(Value::Null));
            }
        }
        let verifier = meta_get(&conn, "secrets.verifier").map_err(s.sql("exporting"))?;
        Ok(json!({
            "format": EXPORT_FORMAT,
            "version": EXPORT_VERSION,
            "stack": {"project": stack.project, "name": stack.name},
            "secrets": {
                "salt": s.salt.iter().map(|b| format!("{b:02x}")).collect::<String>(),
                "verifier": verifier,
            },
            "resources": resources,
            "outputs": outputs,
        }))
    }

    /// Loads an exported document into `stack`, which must have no resources yet. The
    /// document is checked whole (shape, integrity, and that its secrets decrypt with this
    /// file's key) before anything is written.
    pub fn import(&self, stack: &StackId, doc: &Value) -> Result<(), StateError> {
        let s = &self.shared;
        let bad = |message: String| StateError::Import {
            path: s.path.clone(),
            message,
        };
        if doc.get("format").and_then(Value::as_str) != Some(EXPORT_FORMAT) {
            return Err(bad(format!(
                "the document is not an `{EXPORT_FORMAT}` (field `format`)"
            )));
        }
        if doc.get("version").and_then(Value::as_i64) != Some(EXPORT_VERSION) {
            return Err(bad(format!(
                "unsupported export version (field `version`, expected {EXPORT_VERSION})"
            )));
        }
        let items = doc
            .get("resources")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("field `resources` must be a list".into()))?;
        // The export's secrets are sealed under the key of the file it came from. With a
        // passphrase that key depends on that file's salt: derive it, check it against the
        // export's verifier, and re-seal every secret under this file's key.
        let salt = doc
            .pointer("/secrets/salt")
            .and_then(Value::as_str)
            .map(hex_bytes)
            .unwrap_or_else(|| s.salt.clone());
        let source = Cipher::new(&s.key, &salt, &s.path)?;
        if let Some(v) = doc.pointer("/secrets/verifier").and_then(Value::as_str)
            && source.has_key()
        {
            source.check_verifier(v).map_err(|_| {
                bad("its secrets cannot be decrypted with this file's passphrase or key".into())
            })?;
        }
        let reseal = |v: &Value| -> Result<Value, StateError> {
            s.cipher.encrypt_value(&source.decrypt_value(v)?)
        };
        let mut records = Vec::new();
        let mut problems = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let field = |k: &str| item.get(k).and_then(Value::as_str).map(str::to_string);
            let (Some(name), Some(type_token), Some(provider), Some(id)) =
                (field("name"), field("type"), field("provider"), field("id"))
            else {
                problems.push(format!(
                    "resources[{i}] needs string fields name, type, provider and id"
                ));
                continue;
            };
            let dependencies: Result<Vec<String>, _> =
                serde_json::from_value(item.get("dependencies").cloned().unwrap_or(json!([])));
            let options: Result<ResourceOptionsRecord, _> =
                serde_json::from_value(item.get("options").cloned().unwrap_or(json!({})));
            let status = field("status")
                .as_deref()
                .map(ResourceStatus::parse)
                .unwrap_or(Some(ResourceStatus::Ok));
            let (Ok(dependencies), Ok(options), Some(status)) = (dependencies, options, status)
            else {
                problems.push(format!(
                    "resources[{i}] (`{name}`) has malformed dependencies, options or status"
                ));
                continue;
            };
            let sealed = |key: &str| {
                reseal(item.get(key).unwrap_or(&Value::Null))
                    .map_err(|e| bad(format!("resource `{name}`: its secrets cannot be decrypted with this file's key ({e})")))
            };
            let inputs = sealed("inputs")?;
            let outputs = sealed("outputs")?;
            records.push((
                ResourceRecord {
                    name,
                    type_token,
                    provider,
                    id,
                    inputs: Value::Null,
                    outputs: Value::Null,
                    dependencies,
                    options,
                    status,
                    created_at: 0,
                    updated_at: 0,
                },
                inputs,
                outputs,
            ));
        }
        let plain: Vec<ResourceRecord> = records.iter().map(|(r, _, _)| r.clone()).collect();
        problems.extend(integrity_problems(&plain));
        if !problems.is_empty() {
            return Err(bad(problems.join("; ")));
        }
        let outputs: Vec<(String, Value)> = match doc.get("outputs") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Object(m)) => m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            Some(_) => return Err(bad("field `outputs` must be an object".into())),
        };
        let outputs: Vec<(String, Value)> = outputs
            .into_iter()
            .map(|(k, v)| {
                let sealed = reseal(&v).map_err(|e| bad(format!("output `{k}`: {e}")))?;
                Ok((k, sealed))
            })
            .collect::<Result<_, StateError>>()?;
        let existing = self.load(stack)?;
        if !existing.resources.is_empty() {
            return Err(bad(format!(
                "stack {stack} already has {} resource(s); import only into an empty stack",
                existing.resources.len()
            )));
        }
        s.write("importing", |tx| {
            let id = ensure_stack(tx, stack)?;
            let now = now_ms();
            for (r, inputs, outs) in &records {
                let sealed = SealedRecord {
                    inputs: inputs.to_string(),
                    outputs: outs.to_string(),
                    dependencies: serde_json::to_string(&r.dependencies).unwrap_or_default(),
                    options: serde_json::to_string(&r.options).unwrap_or_default(),
                };
                upsert(tx, id, r, &sealed, now)?;
            }
            tx.execute("DELETE FROM outputs WHERE stack_id = ?1", [id])?;
            for (k, v) in &outputs {
                tx.execute(
                    "INSERT INTO outputs (stack_id, name, value) VALUES (?1, ?2, ?3)",
                    params![id, k, v.to_string()],
                )?;
            }
            Ok(())
        })
    }
}

pub(crate) struct SealedRecord {
    inputs: String,
    outputs: String,
    dependencies: String,
    options: String,
}

impl Shared {
    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave the connection half-written: every
        // write is a transaction that rolls back on drop.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn sql(&self, context: &'static str) -> impl Fn(rusqlite::Error) -> StateError + '_ {
        move |source| StateError::Sqlite {
            path: self.path.clone(),
            context: context.to_string(),
            source,
        }
    }

    fn bad_json(
        &self,
        stack: &StackId,
        resource: &str,
        column: &str,
        e: serde_json::Error,
    ) -> StateError {
        StateError::BadJson {
            path: self.path.clone(),
            stack: stack.clone(),
            resource: resource.to_string(),
            column: column.to_string(),
            message: e.to_string(),
        }
    }

    /// Runs `f` in a `BEGIN IMMEDIATE` transaction and commits.
    fn write<T>(
        &self,
        context: &'static str,
        f: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<T>,
    ) -> Result<T, StateError> {
        self.write_checked(context, |tx| f(tx).map(Ok))
    }

    /// Like [`Shared::write`] for a body that can refuse: an inner error rolls back.
    fn write_checked<T>(
        &self,
        context: &'static str,
        f: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<Result<T, StateError>>,
    ) -> Result<T, StateError> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(self.sql(context))?;
        match f(&tx).map_err(self.sql(context))? {
            Ok(value) => {
                tx.commit().map_err(self.sql(context))?;
                Ok(value)
            }
            Err(e) => Err(e),
        }
    }

    fn seal_record(&self, r: &ResourceRecord) -> Result<SealedRecord, StateError> {
        Ok(SealedRecord {
            inputs: self.cipher.encrypt_value(&r.inputs)?.to_string(),
            outputs: self.cipher.encrypt_value(&r.outputs)?.to_string(),
            dependencies: serde_json::to_string(&r.dependencies).unwrap_or_else(|_| "[]".into()),
            options: serde_json::to_string(&r.options).unwrap_or_else(|_| "{}".into()),
        })
    }

    pub(crate) fn unlock(&self, stack: &StackId, pid: u32) -> Result<(), StateError> {
        self.write("releasing the lock", |tx| {
            if let Some(id) = stack_id(tx, stack)? {
                tx.execute(
                    "DELETE FROM locks WHERE stack_id = ?1 AND pid = ?2",
                    params![id, pid],
                )?;
            }
            Ok(())
        })
    }

    fn deployments(
        &self,
        conn: &Connection,
        stack_id: i64,
        last: Option<usize>,
    ) -> Result<Vec<DeploymentRecord>, StateError> {
        let sql = match last {
            Some(n) => format!("SELECT id, kind, started_at, finished_at, result, message, counts FROM deployments WHERE stack_id = ?1 ORDER BY id DESC LIMIT {n}"),
            None => "SELECT id, kind, started_at, finished_at, result, message, counts FROM deployments WHERE stack_id = ?1 ORDER BY id".to_string(),
        };
        let mut stmt = conn.prepare(&sql).map_err(self.sql("reading history"))?;
        let rows: Vec<(
            i64,
            String,
            i64,
            Option<i64>,
            Option<String>,
            Option<String>,
            Option<String>,
        )> = stmt
            .query_map([stack_id], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ))
            })
            .and_then(|rows| rows.collect())
            .map_err(self.sql("reading history"))?;
        Ok(rows
            .into_iter()
            .map(
                |(id, kind, started, finished, result, message, counts)| DeploymentRecord {
                    id: DeploymentId(id),
                    kind: DeploymentKind::parse(&kind).unwrap_or(DeploymentKind::StateEdit),
                    started_at: from_ms(started),
                    finished_at: finished.map(from_ms),
                    result: result.map(|r| match r.as_str() {
                        "succeeded" => DeploymentResult::Succeeded,
                        "interrupted" => DeploymentResult::Interrupted,
                        _ => DeploymentResult::Failed(message.clone().unwrap_or_default()),
                    }),
                    counts: counts.and_then(|c| serde_json::from_str(&c).ok()),
                },
            )
            .collect())
    }
}

fn upsert(
    tx: &Transaction<'_>,
    stack_id: i64,
    r: &ResourceRecord,
    sealed: &SealedRecord,
    now: i64,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO resources (stack_id, name, type, provider, physical_id, inputs, outputs, dependencies, options, status, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11) \
         ON CONFLICT (stack_id, name) DO UPDATE SET type = excluded.type, provider = excluded.provider, \
         physical_id = excluded.physical_id, inputs = excluded.inputs, outputs = excluded.outputs, \
         dependencies = excluded.dependencies, options = excluded.options, status = excluded.status, \
         updated_at = excluded.updated_at",
    )?
    .execute(params![
        stack_id,
        r.name,
        r.type_token,
        r.provider,
        r.id,
        sealed.inputs,
        sealed.outputs,
        sealed.dependencies,
        sealed.options,
        r.status.as_str(),
        now
    ])?;
    Ok(())
}

fn stack_id(conn: &Connection, stack: &StackId) -> rusqlite::Result<Option<i64>> {
    conn.prepare_cached("SELECT id FROM stacks WHERE project = ?1 AND name = ?2")?
        .query_row(params![stack.project, stack.name], |r| r.get(0))
        .optional()
}

fn ensure_stack(tx: &Transaction<'_>, stack: &StackId) -> rusqlite::Result<i64> {
    if let Some(id) = stack_id(tx, stack)? {
        return Ok(id);
    }
    tx.execute(
        "INSERT INTO stacks (project, name, created_at) VALUES (?1, ?2, ?3)",
        params![stack.project, stack.name, now_ms()],
    )?;
    Ok(tx.last_insert_rowid())
}

fn lock_row(conn: &Connection, stack_id: i64) -> rusqlite::Result<Option<LockInfo>> {
    conn.prepare_cached("SELECT holder, pid, host, acquired_at FROM locks WHERE stack_id = ?1")?
        .query_row([stack_id], |r| {
            Ok(LockInfo {
                holder: r.get(0)?,
                pid: r.get(1)?,
                host: r.get(2)?,
                acquired_at: from_ms(r.get(3)?),
            })
        })
        .optional()
}

fn meta_get(conn: &Connection, key: &str) -> rusqlite::Result<Option<String>> {
    conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()
}

fn meta_set(conn: &mut Connection, key: &str, value: &str) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
        params![key, value],
    )?;
    tx.commit()
}

fn hex_bytes(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .filter_map(|i| u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok())
        .collect()
}

/// The state's own check: unique names, a physical id on every record, and secrets only
/// in marked form.
///
/// Nothing the engine itself writes fails it. A dependency that names no recorded
/// resource (a data source, which is read anew by every run; a row removed by `state
/// delete`) is no edge: the delete order only concerns recorded objects. Dependencies
/// that form a cycle (records written in different runs, e.g. with `--target`) are not
/// refused either: the delete order places them last, in name order.
fn integrity_problems(resources: &[ResourceRecord]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut names: foldhash::HashSet<&str> = foldhash::HashSet::default();
    names.reserve(resources.len());
    for r in resources {
        if !names.insert(r.name.as_str()) {
            problems.push(format!("resource `{}` is recorded twice", r.name));
        }
        if r.id.is_empty() {
            problems.push(format!("resource `{}` has no physical id", r.name));
        }
    }
    for r in resources {
        // A plain `$ciphertext` that failed to decrypt would have errored earlier; a marker
        // object with other keys is malformed.
        for (column, v) in [("inputs", &r.inputs), ("outputs", &r.outputs)] {
            if malformed_marker(v) {
                problems.push(format!(
                    "resource `{}` column `{column}` has a malformed secret marker",
                    r.name
                ));
            }
        }
    }
    problems
}

fn malformed_marker(v: &Value) -> bool {
    match v {
        Value::Object(m) => {
            (m.len() > 1 && (m.contains_key(crate::SECRET_KEY) || m.contains_key(CIPHERTEXT_KEY)))
                || m.values().any(malformed_marker)
        }
        Value::Array(items) => items.iter().any(malformed_marker),
        _ => false,
    }
}

//! The SQLite backend: one file, WAL, `synchronous=FULL`, every write a `BEGIN IMMEDIATE`
//! transaction on one connection; locks are OS file locks beside the file.

use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

use super::*;
use crate::lock::OsLock;
use crate::schema::{self, SCHEMA_VERSION};

const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// An open state file.
pub(crate) struct Sqlite {
    path: PathBuf,
    conn: Mutex<Connection>,
    wal: bool,
}

impl Sqlite {
    /// Opens (or creates, with `create`) the file at `path` and migrates it forward. A
    /// directory, a file that is not SQLite, or a file from a newer schema is refused and
    /// left as it was.
    pub(crate) fn open(path: &Path, create: bool) -> Result<Sqlite, StateError> {
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
                if !create {
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
        Ok(Sqlite {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
            wal: journal_mode == "wal",
        })
    }

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

    /// Runs `f` in a `BEGIN IMMEDIATE` transaction and commits.
    fn write<T>(
        &self,
        context: &'static str,
        f: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<T>,
    ) -> Result<T, StateError> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(self.sql(context))?;
        let value = f(&tx).map_err(self.sql(context))?;
        tx.commit().map_err(self.sql(context))?;
        Ok(value)
    }

    /// Runs `f` with the stack's row id (nothing, and `empty`, for an unknown stack).
    fn read<T>(
        &self,
        context: &'static str,
        stack: &StackId,
        empty: T,
        f: impl FnOnce(&Connection, i64) -> rusqlite::Result<T>,
    ) -> Result<T, StateError> {
        let conn = self.conn();
        match stack_id(&conn, stack).map_err(self.sql(context))? {
            Some(id) => f(&conn, id).map_err(self.sql(context)),
            None => Ok(empty),
        }
    }
}

impl Sqlite {
    /// The two columns of `sql` (one parameter: the stack's row id) for every row.
    fn pairs<A: rusqlite::types::FromSql, B: rusqlite::types::FromSql>(
        &self,
        context: &'static str,
        stack: &StackId,
        sql: &str,
    ) -> Result<Vec<(A, B)>, StateError> {
        self.read(context, stack, Vec::new(), |conn, id| {
            conn.prepare_cached(sql)?
                .query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect()
        })
    }
}

impl Backend for Sqlite {
    fn location(&self) -> &Path {
        &self.path
    }

    fn is_wal(&self) -> bool {
        self.wal
    }

    fn meta_get(&self, key: &str) -> Result<Option<String>, StateError> {
        self.conn()
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(self.sql("reading the secrets settings"))
    }

    fn meta_init(&self, key: &str, value: &str) -> Result<String, StateError> {
        self.write("writing the secrets settings", |tx| {
            tx.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES (?1, ?2)",
                params![key, value],
            )?;
            tx.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        })
    }

    fn stacks(&self) -> Result<Vec<(StackId, usize)>, StateError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT s.project, s.name, (SELECT count(*) FROM resources r WHERE r.stack_id = s.id) FROM stacks s ORDER BY s.project, s.name")
            .map_err(self.sql("listing stacks"))?;
        stmt.query_map([], |r| {
            Ok((
                StackId::new(r.get::<_, String>(0)?, r.get::<_, String>(1)?),
                r.get::<_, i64>(2)? as usize,
            ))
        })
        .and_then(|rows| rows.collect())
        .map_err(self.sql("listing stacks"))
    }

    fn resources(
        &self,
        stack: &StackId,
        each: &mut dyn FnMut(usize, RawResource<'_>) -> Result<(), StateError>,
    ) -> Result<(), StateError> {
        let conn = self.conn();
        let sql = self.sql("reading resources");
        let Some(stack_id) = stack_id(&conn, stack).map_err(&sql)? else {
            return Ok(());
        };
        // Sized from the primary-key index first: growing a vector of 100,000 records by
        // doubling copies them into fresh memory again and again.
        let count: i64 = conn
            .prepare_cached("SELECT count(*) FROM resources WHERE stack_id = ?1")
            .and_then(|mut stmt| stmt.query_row([stack_id], |r| r.get(0)))
            .map_err(&sql)?;
        let count = usize::try_from(count).unwrap_or(0);
        let mut stmt = conn
            .prepare_cached(
                "SELECT name, type, provider, physical_id, inputs, outputs, dependencies, options, status, created_at, updated_at \
                 FROM resources WHERE stack_id = ?1 ORDER BY name",
            )
            .map_err(&sql)?;
        let mut rows = stmt.query([stack_id]).map_err(&sql)?;
        while let Some(row) = rows.next().map_err(&sql)? {
            // JSON columns are handed over in SQLite's own buffer: a large state is read
            // without an owned copy of each column.
            let bytes = |i: usize| -> Result<&[u8], StateError> {
                row.get_ref(i)
                    .and_then(|v| v.as_bytes().map_err(Into::into))
                    .map_err(&sql)
            };
            let text = |i: usize| -> Result<&str, StateError> {
                row.get_ref(i)
                    .and_then(|v| v.as_str().map_err(Into::into))
                    .map_err(&sql)
            };
            each(
                count,
                RawResource {
                    name: text(0)?,
                    type_token: text(1)?,
                    provider: text(2)?,
                    id: text(3)?,
                    inputs: bytes(4)?,
                    outputs: bytes(5)?,
                    dependencies: bytes(6)?,
                    options: bytes(7)?,
                    status: text(8)?,
                    created_at: row.get(9).map_err(&sql)?,
                    updated_at: row.get(10).map_err(&sql)?,
                },
            )?;
        }
        Ok(())
    }

    fn outputs(&self, stack: &StackId) -> Result<Vec<(String, String)>, StateError> {
        self.pairs(
            "reading outputs",
            stack,
            "SELECT name, value FROM outputs WHERE stack_id = ?1 ORDER BY name",
        )
    }

    fn deployments(
        &self,
        stack: &StackId,
        last: Option<usize>,
    ) -> Result<Vec<RawDeployment>, StateError> {
        let sql = match last {
            Some(n) => format!("SELECT id, kind, started_at, finished_at, result, message, counts FROM deployments WHERE stack_id = ?1 ORDER BY id DESC LIMIT {n}"),
            None => "SELECT id, kind, started_at, finished_at, result, message, counts FROM deployments WHERE stack_id = ?1 ORDER BY id".to_string(),
        };
        self.read("reading history", stack, Vec::new(), |conn, id| {
            conn.prepare(&sql)?
                .query_map([id], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                    ))
                })?
                .collect()
        })
    }

    fn begin_deployment(&self, stack: &StackId, kind: &str, now: i64) -> Result<i64, StateError> {
        self.write("recording a deployment", |tx| {
            let id = ensure_stack(tx, stack)?;
            tx.execute(
                "INSERT INTO deployments (stack_id, kind, started_at) VALUES (?1, ?2, ?3)",
                params![id, kind, now],
            )?;
            Ok(tx.last_insert_rowid())
        })
    }

    fn finish_deployment(
        &self,
        id: i64,
        now: i64,
        result: &str,
        message: Option<String>,
        counts: String,
    ) -> Result<(), StateError> {
        self.write("recording a deployment's end", |tx| {
            tx.execute(
                "UPDATE deployments SET finished_at = ?2, result = ?3, message = ?4, counts = ?5 WHERE id = ?1",
                params![id, now, result, message, counts],
            )?;
            Ok(())
        })
    }

    fn set_deployment_report(&self, id: i64, report: String) -> Result<(), StateError> {
        self.write("recording a deployment's report", |tx| {
            tx.execute(
                "UPDATE deployments SET report = ?2 WHERE id = ?1",
                params![id, report],
            )?;
            Ok(())
        })
    }

    fn deployment_reports(&self, stack: &StackId) -> Result<Vec<(i64, String)>, StateError> {
        self.pairs(
            "reading reports",
            stack,
            "SELECT id, report FROM deployments WHERE stack_id = ?1 AND report IS NOT NULL ORDER BY id",
        )
    }

    fn record_intents(&self, intents: Vec<IntentRow>, now: i64) -> Result<Vec<i64>, StateError> {
        self.write("recording intents", |tx| {
            let mut ids = Vec::with_capacity(intents.len());
            let mut stacks: Vec<(&StackId, i64)> = Vec::new();
            let mut stmt = tx.prepare_cached(
                "INSERT INTO journal (stack_id, deployment_id, resource, type, provider, operation, token, inputs, started_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?;
            for intent in &intents {
                let stack_id = match stacks.iter().find(|(s, _)| *s == &intent.stack) {
                    Some(&(_, id)) => id,
                    None => {
                        let id = ensure_stack(tx, &intent.stack)?;
                        stacks.push((&intent.stack, id));
                        id
                    }
                };
                stmt.execute(params![
                    stack_id,
                    intent.deployment,
                    intent.resource,
                    intent.type_token,
                    intent.provider,
                    intent.operation,
                    intent.token,
                    intent.inputs,
                    now
                ])?;
                ids.push(tx.last_insert_rowid());
            }
            Ok(ids)
        })
    }

    fn complete_steps(&self, steps: Vec<StepRow>, now: i64) -> Result<Result<(), i64>, StateError> {
        let mut conn = self.conn();
        let sql = self.sql("recording step results");
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&sql)?;
        for step in &steps {
            let row: Option<(i64, String)> = tx
                .prepare_cached(
                    "SELECT stack_id, resource FROM journal WHERE id = ?1 AND finished_at IS NULL",
                )
                .and_then(|mut s| {
                    s.query_row([step.intent], |r| Ok((r.get(0)?, r.get(1)?)))
                        .optional()
                })
                .map_err(&sql)?;
            let Some((stack_id, resource)) = row else {
                // Dropping the transaction rolls back what this call wrote.
                return Ok(Err(step.intent));
            };
            let (word, error) = match &step.change {
                RowChange::Write(row) => {
                    upsert(&tx, stack_id, row, now).map_err(&sql)?;
                    ("written", None)
                }
                RowChange::Delete => {
                    tx.prepare_cached("DELETE FROM resources WHERE stack_id = ?1 AND name = ?2")
                        .and_then(|mut s| s.execute(params![stack_id, resource]))
                        .map_err(&sql)?;
                    ("deleted", None)
                }
                RowChange::Fail(e) => ("failed", Some(e.as_str())),
            };
            tx.prepare_cached(
                "UPDATE journal SET finished_at = ?2, outcome = ?3, error = ?4 WHERE id = ?1",
            )
            .and_then(|mut s| s.execute(params![step.intent, now, word, error]))
            .map_err(&sql)?;
        }
        tx.commit().map_err(&sql)?;
        Ok(Ok(()))
    }

    fn pending_intents(&self, stack: &StackId) -> Result<Vec<RawIntent>, StateError> {
        self.read("reading the journal", stack, Vec::new(), |conn, id| {
            conn.prepare_cached(
                "SELECT id, resource, type, provider, operation, token, inputs, started_at FROM journal \
                 WHERE stack_id = ?1 AND finished_at IS NULL ORDER BY id",
            )?
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
            })?
            .collect()
        })
    }

    fn journal_steps(
        &self,
        stack: &StackId,
        deployment: i64,
    ) -> Result<Vec<JournalStep>, StateError> {
        self.read("reading the journal", stack, Vec::new(), |conn, id| {
            conn.prepare_cached(
                "SELECT resource, type, provider, operation, started_at, finished_at, outcome \
                 FROM journal WHERE stack_id = ?1 AND deployment_id = ?2 ORDER BY id",
            )?
            .query_map(params![id, deployment], |r| {
                Ok(JournalStep {
                    resource: r.get(0)?,
                    type_token: r.get(1)?,
                    provider: r.get(2)?,
                    operation: r.get(3)?,
                    started_at_ms: r.get(4)?,
                    finished_at_ms: r.get(5)?,
                    outcome: r.get(6)?,
                })
            })?
            .collect()
        })
    }

    fn write_rows(
        &self,
        stack: &StackId,
        replace_all: bool,
        rows: Vec<ResourceRow>,
        outputs: Option<Vec<(String, String)>>,
        now: i64,
    ) -> Result<(), StateError> {
        self.write("writing resources", |tx| {
            let id = ensure_stack(tx, stack)?;
            if replace_all {
                tx.execute("DELETE FROM resources WHERE stack_id = ?1", [id])?;
            }
            for row in &rows {
                upsert(tx, id, row, now)?;
            }
            if let Some(outputs) = &outputs {
                tx.execute("DELETE FROM outputs WHERE stack_id = ?1", [id])?;
                let mut stmt = tx.prepare_cached(
                    "INSERT INTO outputs (stack_id, name, value) VALUES (?1, ?2, ?3)",
                )?;
                for (k, v) in outputs {
                    stmt.execute(params![id, k, v])?;
                }
            }
            Ok(())
        })
    }

    fn remove_resource(&self, stack: &StackId, name: &str) -> Result<bool, StateError> {
        self.write("removing a resource", |tx| {
            let Some(id) = stack_id(tx, stack)? else {
                return Ok(false);
            };
            Ok(tx.execute(
                "DELETE FROM resources WHERE stack_id = ?1 AND name = ?2",
                params![id, name],
            )? > 0)
        })
    }

    fn export_rows(&self, stack: &StackId) -> Result<ExportRows, StateError> {
        self.read("exporting", stack, (Vec::new(), Vec::new()), |conn, id| {
            let resources = conn
                .prepare("SELECT name, type, provider, physical_id, inputs, outputs, dependencies, options, status FROM resources WHERE stack_id = ?1 ORDER BY name")?
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
                })?
                .collect::<rusqlite::Result<_>>()?;
            let outputs = conn
                .prepare("SELECT name, value FROM outputs WHERE stack_id = ?1 ORDER BY name")?
                .query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            Ok((resources, outputs))
        })
    }

    fn try_lock(&self, stack: &StackId) -> Result<TryLock, StateError> {
        Ok(match crate::lock::try_os_lock(&self.path, stack)? {
            OsLock::Held(file) => TryLock::Held(HeldLock::File { _file: file }),
            OsLock::Busy => TryLock::Busy,
            OsLock::Unsupported => TryLock::Unsupported,
        })
    }

    fn lock_row(&self, stack: &StackId) -> Result<Option<LockInfo>, StateError> {
        self.read("reading the lock", stack, None, lock_row)
    }

    fn write_lock_row(
        &self,
        stack: &StackId,
        info: &LockInfo,
        replace: bool,
    ) -> Result<Option<LockInfo>, StateError> {
        self.write("locking the stack", |tx| {
            let id = ensure_stack(tx, stack)?;
            if let Some(existing) = lock_row(tx, id)? {
                if !replace {
                    return Ok(Some(existing));
                }
                tx.execute("DELETE FROM locks WHERE stack_id = ?1", [id])?;
                // The dead holder's deployments never finished: they were interrupted.
                tx.execute(
                    "UPDATE deployments SET result = 'interrupted', message = ?2 \
                     WHERE stack_id = ?1 AND finished_at IS NULL AND result IS NULL",
                    params![id, super::INTERRUPTED_BY_DEATH],
                )?;
            }
            tx.execute(
                "INSERT INTO locks (stack_id, holder, pid, host, acquired_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id, info.holder, info.pid, info.host, to_ms(info.acquired_at)],
            )?;
            Ok(None)
        })
    }

    fn delete_lock_row(
        &self,
        stack: &StackId,
        holder: Option<(u32, &str)>,
    ) -> Result<Option<LockInfo>, StateError> {
        self.write("releasing the lock", |tx| {
            let Some(id) = stack_id(tx, stack)? else {
                return Ok(None);
            };
            let info = lock_row(tx, id)?;
            match holder {
                // A row whose pid is ours was written by this process (the OS lock
                // already keeps other processes of this host out).
                Some((pid, _)) => tx.execute(
                    "DELETE FROM locks WHERE stack_id = ?1 AND pid = ?2",
                    params![id, pid],
                )?,
                None => tx.execute("DELETE FROM locks WHERE stack_id = ?1", [id])?,
            };
            Ok(info)
        })
    }
}

fn upsert(tx: &Transaction<'_>, stack_id: i64, r: &ResourceRow, now: i64) -> rusqlite::Result<()> {
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
        r.inputs,
        r.outputs,
        r.dependencies,
        r.options,
        r.status,
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
        params![stack.project, stack.name, crate::store::now_ms()],
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

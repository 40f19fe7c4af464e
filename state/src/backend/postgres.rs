//! The PostgreSQL backend: the tables of `STATE.md` in a database a team shares, and
//! per-stack locks that the server releases when the holder's session ends.
//!
//! The store's API is synchronous and is called from inside the engine's tokio runtime.
//! The `postgres` client blocks on a runtime of its own, which tokio refuses inside
//! another runtime (it panics), and dropping that runtime inside one panics too. So each
//! connection lives on a thread of its own ([`Session`]): a call sends that thread a job
//! (a closure over owned values) and waits for its answer on a channel, which is allowed
//! anywhere; the client is created, used and dropped on its thread only. The caller's
//! thread blocks for the round trips, exactly as it blocks on SQLite's `fsync`.
//!
//! Locks: `pg_try_advisory_lock` on a key derived from the stack, taken by a session of
//! its own that lives as long as the [`ServerLock`]. The server drops a session's
//! advisory locks when the session ends, however the client ends (a killed process's
//! socket is closed by its kernel), so a dead run never blocks the next one, on any host.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use ::postgres::{Client, GenericClient, NoTls, Statement};
use sha2::Digest;

use super::*;
use crate::location::PostgresUrl;
use crate::schema::{PG_MIGRATIONS, SCHEMA_VERSION};

/// The advisory-lock key that serializes schema migrations of one database.
const MIGRATION_KEY: i64 = 0x6961_635f_7363_6865; // "iac_sche"

/// A job for a session's thread.
type Job = Box<dyn FnOnce(&mut Conn) + Send>;

/// One connection, owned by its thread, with its prepared statements.
pub(crate) struct Conn {
    client: Client,
    statements: HashMap<&'static str, Statement>,
}

impl Conn {
    /// The prepared statement of `sql` (prepared once per connection).
    fn stmt(&mut self, sql: &'static str) -> Result<Statement, ::postgres::Error> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(sql)?;
        self.statements.insert(sql, s.clone());
        Ok(s)
    }
}

/// A connection on a thread of its own; calls from any thread (inside a tokio runtime
/// too) run on it one at a time.
struct Session {
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
    location: PathBuf,
}

impl Session {
    fn connect(config: &::postgres::Config, location: &Path) -> Result<Session, StateError> {
        let (ready_tx, ready_rx) = mpsc::sync_channel(1);
        let (jobs, queue) = mpsc::channel::<Job>();
        let config = config.clone();
        let thread = std::thread::Builder::new()
            .name("iac-state-pg".into())
            .spawn(move || match config.connect(NoTls) {
                Ok(client) => {
                    let _ = ready_tx.send(Ok(()));
                    let mut conn = Conn {
                        client,
                        statements: HashMap::new(),
                    };
                    for job in queue {
                        job(&mut conn);
                    }
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                }
            })
            .map_err(|source| StateError::Io {
                path: location.to_path_buf(),
                context: "starting the database connection's thread".into(),
                source,
            })?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(Session {
                jobs: Some(jobs),
                thread: Some(thread),
                location: location.to_path_buf(),
            }),
            Ok(Err(source)) => {
                let _ = thread.join();
                Err(StateError::Postgres {
                    path: location.to_path_buf(),
                    context: "connecting".into(),
                    source,
                })
            }
            Err(_) => Err(StateError::Io {
                path: location.to_path_buf(),
                context: "connecting".into(),
                source: std::io::Error::other("the database connection's thread ended"),
            }),
        }
    }

    /// Runs `f` on the connection's thread and waits for its result.
    fn run<T: Send + 'static>(
        &self,
        context: &'static str,
        f: impl FnOnce(&mut Conn) -> Result<T, ::postgres::Error> + Send + 'static,
    ) -> Result<T, StateError> {
        let (tx, rx) = mpsc::sync_channel(1);
        let job: Job = Box::new(move |conn| {
            let _ = tx.send(f(conn));
        });
        let gone = || StateError::Io {
            path: self.location.clone(),
            context: context.to_string(),
            source: std::io::Error::other("the database connection's thread has ended"),
        };
        self.jobs
            .as_ref()
            .ok_or_else(gone)?
            .send(job)
            .map_err(|_| gone())?;
        rx.recv()
            .map_err(|_| gone())?
            .map_err(|source| StateError::Postgres {
                path: self.location.clone(),
                context: context.to_string(),
                source,
            })
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // Ending the queue ends the thread, which closes the connection (and with it the
        // session's advisory locks) on that thread.
        self.jobs.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A state in a PostgreSQL database.
pub(crate) struct Postgres {
    location: PathBuf,
    config: ::postgres::Config,
    session: Session,
}

/// A held stack lock: the session holding `pg_advisory_lock` on the stack's key. Dropping
/// it ends the session, and the server releases the lock.
pub(crate) struct ServerLock {
    _session: Session,
}

impl Postgres {
    /// Connects and brings the schema to [`SCHEMA_VERSION`]. A database whose tables are
    /// not a state's, or whose schema is newer, is refused untouched.
    pub(crate) fn open(url: &PostgresUrl) -> Result<Postgres, StateError> {
        let location = PathBuf::from(url.redacted());
        let mut config: ::postgres::Config =
            url.secret_url()
                .parse()
                .map_err(|source| StateError::Postgres {
                    path: location.clone(),
                    context: "reading the URL".into(),
                    source,
                })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(15));
        }
        if config.get_application_name().is_none() {
            config.application_name("iac-state");
        }
        config.keepalives(true);
        config.keepalives_idle(Duration::from_secs(30));
        let session = Session::connect(&config, &location)?;
        let version = session.run("reading the schema version", read_version)?;
        if let Ok(found) = version
            && found > SCHEMA_VERSION
        {
            return Err(StateError::NewerSchema {
                path: location,
                found,
                supported: SCHEMA_VERSION,
            });
        }
        // Read outside the lock, "not a state's tables" may be a first opener's migration
        // committing between two catalog reads (no `meta` yet, then `stacks`): the verdict
        // is made again under the lock, in the migration's transaction.
        if !matches!(version, Ok(v) if v == SCHEMA_VERSION) {
            let newer = session.run("migrating the schema", |conn| {
                // Two runs opening a new database at once: one migrates, the other waits
                // here and then finds the work done. The lock is the session's, taken
                // before the transaction: a transaction begun after the wait reads the
                // catalog as the other run committed it (one that waited inside its
                // transaction could still see the tables missing).
                conn.client
                    .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_KEY])?;
                let result = migrate(&mut conn.client);
                let unlocked = conn
                    .client
                    .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_KEY]);
                let result = result?;
                unlocked?;
                Ok(result)
            })?;
            match newer {
                None => {}
                Some(Ok(found)) => {
                    return Err(StateError::NewerSchema {
                        path: location,
                        found,
                        supported: SCHEMA_VERSION,
                    });
                }
                Some(Err(reason)) => {
                    return Err(StateError::NotStateDatabase {
                        path: location,
                        reason,
                    });
                }
            }
        }
        Ok(Postgres {
            location,
            config,
            session,
        })
    }
}

/// Brings the schema to [`SCHEMA_VERSION`] in one transaction. What was found instead
/// when the database is not for this build: `Ok(version)`, newer; `Err(why)`, not a
/// state's tables.
fn migrate(client: &mut Client) -> Result<Option<Result<i64, String>>, ::postgres::Error> {
    let mut tx = client.transaction()?;
    let current = match read_version_in(&mut tx)? {
        Ok(v) => v,
        Err(why) => return Ok(Some(Err(why))),
    };
    if current > SCHEMA_VERSION {
        return Ok(Some(Ok(current)));
    }
    for (target, sql) in PG_MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        tx.batch_execute(sql)?;
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('schema.version', $1) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            &[&target.to_string()],
        )?;
    }
    tx.commit()?;
    Ok(None)
}

/// The schema version: 0 for a database without the state's tables, or why the tables
/// there are not a state's.
fn read_version(conn: &mut Conn) -> Result<Result<i64, String>, ::postgres::Error> {
    read_version_in(&mut conn.client)
}

fn read_version_in(c: &mut impl GenericClient) -> Result<Result<i64, String>, ::postgres::Error> {
    let has_meta: bool = c
        .query_one("SELECT to_regclass('meta') IS NOT NULL", &[])?
        .get(0);
    if !has_meta {
        let has_stacks: bool = c
            .query_one("SELECT to_regclass('stacks') IS NOT NULL", &[])?
            .get(0);
        return Ok(if has_stacks {
            Err("it has a table `stacks` but no `meta` table: not an iac state".into())
        } else {
            Ok(0)
        });
    }
    let row = c.query_opt("SELECT value FROM meta WHERE key = 'schema.version'", &[])?;
    Ok(match row {
        None => Err("its `meta` table has no `schema.version` row: not an iac state".into()),
        Some(row) => {
            let text: String = row.get(0);
            text.parse()
                .map_err(|_| format!("its `meta` row `schema.version` is `{text}`, not a number"))
        }
    })
}

/// The advisory-lock key of a stack: the first 8 bytes of a SHA-256 of its names.
pub(crate) fn lock_key(stack: &StackId) -> i64 {
    let digest = sha2::Sha256::new()
        .chain_update(b"iac-state lock\0")
        .chain_update(stack.project.as_bytes())
        .chain_update(b"\0")
        .chain_update(stack.name.as_bytes())
        .finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

/// Finds a stack's row id (`$1` project, `$2` name).
const FIND_STACK: &str = "SELECT id FROM stacks WHERE project = $1 AND name = $2";

/// The stack's row id, inserting the stack when it is new; `find` is [`FIND_STACK`]
/// prepared.
fn ensure_stack(
    c: &mut impl GenericClient,
    find: &Statement,
    stack: &StackId,
) -> Result<i64, ::postgres::Error> {
    if let Some(row) = c.query_opt(find, &[&stack.project, &stack.name])? {
        return Ok(row.get(0));
    }
    c.execute(
        "INSERT INTO stacks (project, name, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (project, name) DO NOTHING",
        &[&stack.project, &stack.name, &crate::store::now_ms()],
    )?;
    Ok(c.query_one(find, &[&stack.project, &stack.name])?.get(0))
}

/// Inserts or replaces resource rows, all in one statement: `$1` stack ids, `$2`..`$10`
/// the columns, `$11` now.
const UPSERT_ALL: &str = "INSERT INTO resources (stack_id, name, type, provider, physical_id, inputs, outputs, dependencies, options, status, created_at, updated_at) \
     SELECT s, n, t, p, i, ins, outs, deps, opts, st, $11, $11 FROM unnest($1::bigint[], $2::text[], $3::text[], \
     $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[]) \
     AS u(s, n, t, p, i, ins, outs, deps, opts, st) \
     ON CONFLICT (stack_id, name) DO UPDATE SET type = excluded.type, provider = excluded.provider, \
     physical_id = excluded.physical_id, inputs = excluded.inputs, outputs = excluded.outputs, \
     dependencies = excluded.dependencies, options = excluded.options, status = excluded.status, \
     updated_at = excluded.updated_at";

/// Writes `rows` (stack id, row) with [`UPSERT_ALL`] prepared; their names must differ.
fn upsert_rows(
    tx: &mut ::postgres::Transaction<'_>,
    statement: &Statement,
    rows: &[(i64, &ResourceRow)],
    now: i64,
) -> Result<(), ::postgres::Error> {
    let stacks: Vec<i64> = rows.iter().map(|(s, _)| *s).collect();
    let column = |f: fn(&ResourceRow) -> &String| -> Vec<&str> {
        rows.iter().map(|(_, r)| f(r).as_str()).collect()
    };
    tx.execute(
        statement,
        &[
            &stacks,
            &column(|r| &r.name),
            &column(|r| &r.type_token),
            &column(|r| &r.provider),
            &column(|r| &r.id),
            &column(|r| &r.inputs),
            &column(|r| &r.outputs),
            &column(|r| &r.dependencies),
            &column(|r| &r.options),
            &column(|r| &r.status),
            &now,
        ],
    )?;
    Ok(())
}

fn lock_row(
    c: &mut impl GenericClient,
    stack: &StackId,
) -> Result<Option<LockInfo>, ::postgres::Error> {
    Ok(c
        .query_opt(
            "SELECT l.holder, l.pid, l.host, l.acquired_at FROM locks l JOIN stacks s ON s.id = l.stack_id \
             WHERE s.project = $1 AND s.name = $2",
            &[&stack.project, &stack.name],
        )?
        .map(|r| LockInfo {
            holder: r.get(0),
            pid: u32::try_from(r.get::<_, i64>(1)).unwrap_or(0),
            host: r.get(2),
            acquired_at: from_ms(r.get(3)),
        }))
}

impl Backend for Postgres {
    fn location(&self) -> &Path {
        &self.location
    }

    fn meta_get(&self, key: &str) -> Result<Option<String>, StateError> {
        let key = key.to_string();
        self.session.run("reading the secrets settings", move |c| {
            Ok(c.client
                .query_opt("SELECT value FROM meta WHERE key = $1", &[&key])?
                .map(|r| r.get(0)))
        })
    }

    fn meta_init(&self, key: &str, value: &str) -> Result<String, StateError> {
        let (key, value) = (key.to_string(), value.to_string());
        self.session.run("writing the secrets settings", move |c| {
            let mut tx = c.client.transaction()?;
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
                &[&key, &value],
            )?;
            let stored: String = tx
                .query_one("SELECT value FROM meta WHERE key = $1", &[&key])?
                .get(0);
            tx.commit()?;
            Ok(stored)
        })
    }

    fn stacks(&self) -> Result<Vec<(StackId, usize)>, StateError> {
        self.session.run("listing stacks", |c| {
            Ok(c
                .client
                .query(
                    "SELECT s.project, s.name, (SELECT count(*) FROM resources r WHERE r.stack_id = s.id) \
                     FROM stacks s ORDER BY s.project, s.name",
                    &[],
                )?
                .into_iter()
                .map(|r| {
                    (
                        StackId::new(r.get::<_, String>(0), r.get::<_, String>(1)),
                        r.get::<_, i64>(2) as usize,
                    )
                })
                .collect())
        })
    }

    fn resources(
        &self,
        stack: &StackId,
        each: &mut dyn FnMut(usize, RawResource<'_>) -> Result<(), StateError>,
    ) -> Result<(), StateError> {
        let s = stack.clone();
        let rows = self.session.run("reading resources", move |c| {
            let statement = c.stmt(
                "SELECT r.name, r.type, r.provider, r.physical_id, r.inputs, r.outputs, r.dependencies, \
                 r.options, r.status, r.created_at, r.updated_at \
                 FROM resources r JOIN stacks s ON s.id = r.stack_id \
                 WHERE s.project = $1 AND s.name = $2 ORDER BY r.name COLLATE \"C\"",
            )?;
            c.client.query(&statement, &[&s.project, &s.name])
        })?;
        let count = rows.len();
        let bad = |source: ::postgres::Error| StateError::Postgres {
            path: self.location.clone(),
            context: "reading resources".into(),
            source,
        };
        for row in &rows {
            let text = |i: usize| row.try_get::<_, &str>(i).map_err(bad);
            each(
                count,
                RawResource {
                    name: text(0)?,
                    type_token: text(1)?,
                    provider: text(2)?,
                    id: text(3)?,
                    inputs: text(4)?.as_bytes(),
                    outputs: text(5)?.as_bytes(),
                    dependencies: text(6)?.as_bytes(),
                    options: text(7)?.as_bytes(),
                    status: text(8)?,
                    created_at: row.try_get(9).map_err(bad)?,
                    updated_at: row.try_get(10).map_err(bad)?,
                },
            )?;
        }
        Ok(())
    }

    fn outputs(&self, stack: &StackId) -> Result<Vec<(String, String)>, StateError> {
        let s = stack.clone();
        self.session.run("reading outputs", move |c| {
            Ok(c.client
                .query(
                    "SELECT o.name, o.value FROM outputs o JOIN stacks s ON s.id = o.stack_id \
                     WHERE s.project = $1 AND s.name = $2 ORDER BY o.name COLLATE \"C\"",
                    &[&s.project, &s.name],
                )?
                .into_iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect())
        })
    }

    fn deployments(
        &self,
        stack: &StackId,
        last: Option<usize>,
    ) -> Result<Vec<RawDeployment>, StateError> {
        let s = stack.clone();
        let sql = match last {
            Some(n) => format!(
                "SELECT d.id, d.kind, d.started_at, d.finished_at, d.result, d.message, d.counts \
                 FROM deployments d JOIN stacks s ON s.id = d.stack_id \
                 WHERE s.project = $1 AND s.name = $2 ORDER BY d.id DESC LIMIT {n}"
            ),
            None => {
                "SELECT d.id, d.kind, d.started_at, d.finished_at, d.result, d.message, d.counts \
                     FROM deployments d JOIN stacks s ON s.id = d.stack_id \
                     WHERE s.project = $1 AND s.name = $2 ORDER BY d.id"
                    .to_string()
            }
        };
        self.session.run("reading history", move |c| {
            Ok(c.client
                .query(&sql, &[&s.project, &s.name])?
                .into_iter()
                .map(|r| {
                    (
                        r.get(0),
                        r.get(1),
                        r.get(2),
                        r.get(3),
                        r.get(4),
                        r.get(5),
                        r.get(6),
                    )
                })
                .collect())
        })
    }

    fn begin_deployment(&self, stack: &StackId, kind: &str, now: i64) -> Result<i64, StateError> {
        let (s, kind) = (stack.clone(), kind.to_string());
        self.session.run("recording a deployment", move |c| {
            let find = c.stmt(FIND_STACK)?;
            let mut tx = c.client.transaction()?;
            let id = ensure_stack(&mut tx, &find, &s)?;
            let row = tx.query_one(
                "INSERT INTO deployments (stack_id, kind, started_at) VALUES ($1, $2, $3) RETURNING id",
                &[&id, &kind, &now],
            )?;
            tx.commit()?;
            Ok(row.get(0))
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
        let result = result.to_string();
        self.session.run("recording a deployment's end", move |c| {
            c.client.execute(
                "UPDATE deployments SET finished_at = $2, result = $3, message = $4, counts = $5 WHERE id = $1",
                &[&id, &now, &result, &message, &counts],
            )?;
            Ok(())
        })
    }

    fn set_deployment_report(&self, id: i64, report: String) -> Result<(), StateError> {
        self.session
            .run("recording a deployment's report", move |c| {
                c.client.execute(
                    "UPDATE deployments SET report = $2 WHERE id = $1",
                    &[&id, &report],
                )?;
                Ok(())
            })
    }

    fn deployment_reports(&self, stack: &StackId) -> Result<Vec<(i64, String)>, StateError> {
        let s = stack.clone();
        self.session.run("reading reports", move |c| {
            let rows = c.client.query(
                "SELECT d.id, d.report FROM deployments d JOIN stacks s ON s.id = d.stack_id \
                 WHERE s.project = $1 AND s.name = $2 AND d.report IS NOT NULL ORDER BY d.id",
                &[&s.project, &s.name],
            )?;
            Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
        })
    }

    fn record_intents(&self, intents: Vec<IntentRow>, now: i64) -> Result<Vec<i64>, StateError> {
        self.session.run("recording intents", move |c| {
            // One statement for the whole batch: a round trip per intent would cost more
            // than the commit.
            let insert = c.stmt(
                "INSERT INTO journal (stack_id, deployment_id, resource, type, provider, operation, token, inputs, started_at) \
                 SELECT s, d, r, t, p, o, k, i, $9 FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], \
                 $5::text[], $6::text[], $7::text[], $8::text[]) WITH ORDINALITY AS u(s, d, r, t, p, o, k, i, n) \
                 ORDER BY n RETURNING id",
            )?;
            let find = c.stmt(FIND_STACK)?;
            let mut tx = c.client.transaction()?;
            let mut stacks: Vec<(&StackId, i64)> = Vec::new();
            let mut stack_ids = Vec::with_capacity(intents.len());
            for intent in &intents {
                let id = match stacks.iter().find(|(s, _)| *s == &intent.stack) {
                    Some(&(_, id)) => id,
                    None => {
                        let id = ensure_stack(&mut tx, &find, &intent.stack)?;
                        stacks.push((&intent.stack, id));
                        id
                    }
                };
                stack_ids.push(id);
            }
            let column = |f: fn(&IntentRow) -> &String| -> Vec<&str> {
                intents.iter().map(|i| f(i).as_str()).collect()
            };
            let deployments: Vec<Option<i64>> = intents.iter().map(|i| i.deployment).collect();
            let rows = tx.query(
                &insert,
                &[
                    &stack_ids,
                    &deployments,
                    &column(|i| &i.resource),
                    &column(|i| &i.type_token),
                    &column(|i| &i.provider),
                    &column(|i| &i.operation),
                    &column(|i| &i.token),
                    &column(|i| &i.inputs),
                    &now,
                ],
            )?;
            tx.commit()?;
            // Identities are drawn in insertion order, which is the intents' order.
            let mut ids: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
            ids.sort_unstable();
            Ok(ids)
        })
    }

    fn complete_steps(&self, steps: Vec<StepRow>, now: i64) -> Result<Result<(), i64>, StateError> {
        self.session.run("recording step results", move |c| {
            // Pending is checked here, not in SQL: `finished_at IS NULL` would let the
            // planner walk the partial index `journal_pending`, which carries an entry for
            // every finished intent until vacuum, instead of the primary key.
            let find = c.stmt(
                "SELECT id, stack_id, resource, finished_at IS NULL FROM journal \
                 WHERE id = ANY($1) FOR UPDATE",
            )?;
            // The `= ANY` conditions let the planner find the rows by their primary keys,
            // whatever it guesses of the arrays' lengths: the journal only grows.
            let upsert_all = c.stmt(UPSERT_ALL)?;
            let delete_all = c.stmt(
                "DELETE FROM resources r USING unnest($1::bigint[], $2::text[]) AS u(s, n) \
                 WHERE r.stack_id = u.s AND r.name = u.n AND r.name = ANY($2)",
            )?;
            let finish_all = c.stmt(
                "UPDATE journal j SET finished_at = $1, outcome = u.o, error = u.e \
                 FROM unnest($2::bigint[], $3::text[], $4::text[]) AS u(id, o, e) \
                 WHERE j.id = u.id AND j.id = ANY($2)",
            )?;
            let mut tx = c.client.transaction()?;
            let ids: Vec<i64> = steps.iter().map(|s| s.intent).collect();
            let pending: HashMap<i64, (i64, String)> = tx
                .query(&find, &[&ids])?
                .into_iter()
                .filter(|r| r.get::<_, bool>(3))
                .map(|r| (r.get(0), (r.get(1), r.get(2))))
                .collect();
            let mut seen = std::collections::HashSet::new();
            let mut changes = Vec::with_capacity(steps.len());
            for step in &steps {
                // A step twice in one call completes once, as one after the other would.
                let target = pending
                    .get(&step.intent)
                    .filter(|_| seen.insert(step.intent));
                let Some((stack_id, resource)) = target else {
                    // Dropping the transaction rolls back what this call wrote.
                    return Ok(Err(step.intent));
                };
                changes.push((*stack_id, resource.as_str(), &step.change));
            }
            // The rows a batch writes and deletes are distinct (two steps of one resource
            // would need their order kept): each kind of change is then one statement.
            let mut names = std::collections::HashSet::new();
            let distinct = changes
                .iter()
                .all(|(stack, resource, change)| match change {
                    RowChange::Write(r) => names.insert((*stack, r.name.as_str())),
                    RowChange::Delete => names.insert((*stack, *resource)),
                    RowChange::Fail(_) => true,
                });
            if distinct {
                let written: Vec<(i64, &ResourceRow)> = changes
                    .iter()
                    .filter_map(|(stack, _, change)| match change {
                        RowChange::Write(r) => Some((*stack, r)),
                        _ => None,
                    })
                    .collect();
                if !written.is_empty() {
                    upsert_rows(&mut tx, &upsert_all, &written, now)?;
                }
                let (stacks, names): (Vec<i64>, Vec<&str>) = changes
                    .iter()
                    .filter(|(_, _, change)| matches!(change, RowChange::Delete))
                    .map(|(stack, resource, _)| (*stack, *resource))
                    .unzip();
                if !stacks.is_empty() {
                    tx.execute(&delete_all, &[&stacks, &names])?;
                }
            } else {
                for (stack, resource, change) in &changes {
                    match change {
                        RowChange::Write(r) => {
                            upsert_rows(&mut tx, &upsert_all, &[(*stack, r)], now)?
                        }
                        RowChange::Delete => {
                            tx.execute(&delete_all, &[&vec![*stack], &vec![*resource]])?;
                        }
                        RowChange::Fail(_) => {}
                    }
                }
            }
            let outcomes: Vec<(&str, Option<&str>)> = changes
                .iter()
                .map(|(_, _, change)| match change {
                    RowChange::Write(_) => ("written", None),
                    RowChange::Delete => ("deleted", None),
                    RowChange::Fail(e) => ("failed", Some(e.as_str())),
                })
                .collect();
            let (words, errors): (Vec<&str>, Vec<Option<&str>>) = outcomes.into_iter().unzip();
            tx.execute(&finish_all, &[&now, &ids, &words, &errors])?;
            tx.commit()?;
            Ok(Ok(()))
        })
    }

    fn pending_intents(&self, stack: &StackId) -> Result<Vec<RawIntent>, StateError> {
        let s = stack.clone();
        self.session.run("reading the journal", move |c| {
            Ok(c
                .client
                .query(
                    "SELECT j.id, j.resource, j.type, j.provider, j.operation, j.token, j.inputs, j.started_at \
                     FROM journal j JOIN stacks s ON s.id = j.stack_id \
                     WHERE s.project = $1 AND s.name = $2 AND j.finished_at IS NULL ORDER BY j.id",
                    &[&s.project, &s.name],
                )?
                .into_iter()
                .map(|r| {
                    (
                        r.get(0),
                        r.get(1),
                        r.get(2),
                        r.get(3),
                        r.get(4),
                        r.get(5),
                        r.get(6),
                        r.get(7),
                    )
                })
                .collect())
        })
    }

    fn journal_steps(
        &self,
        stack: &StackId,
        deployment: i64,
    ) -> Result<Vec<JournalStep>, StateError> {
        let s = stack.clone();
        self.session.run("reading the journal", move |c| {
            Ok(c
                .client
                .query(
                    "SELECT j.resource, j.type, j.provider, j.operation, j.started_at, j.finished_at, j.outcome \
                     FROM journal j JOIN stacks s ON s.id = j.stack_id \
                     WHERE s.project = $1 AND s.name = $2 AND j.deployment_id = $3 ORDER BY j.id",
                    &[&s.project, &s.name, &deployment],
                )?
                .into_iter()
                .map(|r| JournalStep {
                    resource: r.get(0),
                    type_token: r.get(1),
                    provider: r.get(2),
                    operation: r.get(3),
                    started_at_ms: r.get(4),
                    finished_at_ms: r.get(5),
                    outcome: r.get(6),
                })
                .collect())
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
        let s = stack.clone();
        self.session.run("writing resources", move |c| {
            let upsert_all = c.stmt(UPSERT_ALL)?;
            let find = c.stmt(FIND_STACK)?;
            let mut tx = c.client.transaction()?;
            let id = ensure_stack(&mut tx, &find, &s)?;
            if replace_all {
                tx.execute("DELETE FROM resources WHERE stack_id = $1", &[&id])?;
            }
            // Names are distinct: an import's were checked, a put is one row.
            let rows: Vec<(i64, &ResourceRow)> = rows.iter().map(|r| (id, r)).collect();
            if !rows.is_empty() {
                upsert_rows(&mut tx, &upsert_all, &rows, now)?;
            }
            if let Some(outputs) = &outputs {
                tx.execute("DELETE FROM outputs WHERE stack_id = $1", &[&id])?;
                for (k, v) in outputs {
                    tx.execute(
                        "INSERT INTO outputs (stack_id, name, value) VALUES ($1, $2, $3)",
                        &[&id, k, v],
                    )?;
                }
            }
            tx.commit()
        })
    }

    fn remove_resource(&self, stack: &StackId, name: &str) -> Result<bool, StateError> {
        let (s, name) = (stack.clone(), name.to_string());
        self.session.run("removing a resource", move |c| {
            Ok(c.client.execute(
                "DELETE FROM resources r USING stacks s \
                 WHERE s.id = r.stack_id AND s.project = $1 AND s.name = $2 AND r.name = $3",
                &[&s.project, &s.name, &name],
            )? > 0)
        })
    }

    fn export_rows(&self, stack: &StackId) -> Result<ExportRows, StateError> {
        let s = stack.clone();
        self.session.run("exporting", move |c| {
            let resources = c
                .client
                .query(
                    "SELECT r.name, r.type, r.provider, r.physical_id, r.inputs, r.outputs, r.dependencies, r.options, r.status \
                     FROM resources r JOIN stacks s ON s.id = r.stack_id \
                     WHERE s.project = $1 AND s.name = $2 ORDER BY r.name COLLATE \"C\"",
                    &[&s.project, &s.name],
                )?
                .into_iter()
                .map(|r| std::array::from_fn(|i| r.get(i)))
                .collect();
            let outputs = c
                .client
                .query(
                    "SELECT o.name, o.value FROM outputs o JOIN stacks s ON s.id = o.stack_id \
                     WHERE s.project = $1 AND s.name = $2 ORDER BY o.name COLLATE \"C\"",
                    &[&s.project, &s.name],
                )?
                .into_iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect();
            Ok((resources, outputs))
        })
    }

    fn try_lock(&self, stack: &StackId) -> Result<TryLock, StateError> {
        let session = Session::connect(&self.config, &self.location)?;
        let key = lock_key(stack);
        let held: bool = session.run("taking the stack's advisory lock", move |c| {
            Ok(c.client
                .query_one("SELECT pg_try_advisory_lock($1)", &[&key])?
                .get(0))
        })?;
        Ok(if held {
            TryLock::Held(HeldLock::Server {
                _lock: ServerLock { _session: session },
            })
        } else {
            TryLock::Busy
        })
    }

    fn lock_row(&self, stack: &StackId) -> Result<Option<LockInfo>, StateError> {
        let s = stack.clone();
        self.session
            .run("reading the lock", move |c| lock_row(&mut c.client, &s))
    }

    fn write_lock_row(
        &self,
        stack: &StackId,
        info: &LockInfo,
        replace: bool,
    ) -> Result<Option<LockInfo>, StateError> {
        let (s, info) = (stack.clone(), info.clone());
        self.session.run("locking the stack", move |c| {
            let find = c.stmt(FIND_STACK)?;
            let mut tx = c.client.transaction()?;
            let id = ensure_stack(&mut tx, &find, &s)?;
            if let Some(existing) = lock_row(&mut tx, &s)? {
                if !replace {
                    return Ok(Some(existing));
                }
                tx.execute("DELETE FROM locks WHERE stack_id = $1", &[&id])?;
                // The dead holder's deployments never finished: they were interrupted.
                tx.execute(
                    "UPDATE deployments SET result = 'interrupted', message = $2 \
                     WHERE stack_id = $1 AND finished_at IS NULL AND result IS NULL",
                    &[&id, &super::INTERRUPTED_BY_DEATH],
                )?;
            }
            tx.execute(
                "INSERT INTO locks (stack_id, holder, pid, host, acquired_at) VALUES ($1, $2, $3, $4, $5)",
                &[&id, &info.holder, &i64::from(info.pid), &info.host, &to_ms(info.acquired_at)],
            )?;
            tx.commit()?;
            Ok(None)
        })
    }

    fn delete_lock_row(
        &self,
        stack: &StackId,
        holder: Option<(u32, &str)>,
    ) -> Result<Option<LockInfo>, StateError> {
        let s = stack.clone();
        let holder = holder.map(|(pid, host)| (i64::from(pid), host.to_string()));
        self.session.run("releasing the lock", move |c| {
            let mut tx = c.client.transaction()?;
            let info = lock_row(&mut tx, &s)?;
            match &holder {
                // Processes of many hosts share the server: the row is ours when both the
                // pid and the host are.
                Some((pid, host)) => tx.execute(
                    "DELETE FROM locks l USING stacks s WHERE s.id = l.stack_id \
                     AND s.project = $1 AND s.name = $2 AND l.pid = $3 AND l.host = $4",
                    &[&s.project, &s.name, pid, host],
                )?,
                None => tx.execute(
                    "DELETE FROM locks l USING stacks s WHERE s.id = l.stack_id \
                     AND s.project = $1 AND s.name = $2",
                    &[&s.project, &s.name],
                )?,
            };
            tx.commit()?;
            Ok(info)
        })
    }
}

//! The payments database: the region's Aurora PostgreSQL cluster, through tokio-postgres.
//!
//! One connection is kept across invocations (a Lambda instance serves one request at a
//! time) and made again when it was closed, failed or timed out, so that a writer change
//! or a restarted server costs one reconnect, not a cold start. The credentials come from
//! the database secret on every (re)connect, which also picks up a rotated password.
//!
//! The connection is plain TCP: Aurora PostgreSQL 14 (the stack's engine) accepts it unless
//! the cluster's `rds.force_ssl` parameter is set, the cluster is reachable only from the
//! function's security group inside the VPC, and the password never crosses the wire
//! (SCRAM-SHA-256). Enforcing TLS would need a rustls connector trusting the RDS CA bundle.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::Deserialize;
use time::OffsetDateTime;
use tokio::sync::{Mutex, MutexGuard};
use tokio_postgres::{Client, NoTls, Row};

use crate::config::host_port;
use crate::deps::{PaymentLedger, Recorded, StoreError};
use crate::payment::TransactionRecord;

/// How long connecting (secret read included) or one database operation may take.
pub const DEFAULT_DB_TIMEOUT: Duration = Duration::from_secs(3);

/// The payments table, made by the function on first use (`create table if not exists`).
/// One row per idempotency key; amounts in minor units.
pub const SCHEMA: &str = "create table if not exists payments (
    idempotency_key text primary key,
    transaction_id uuid not null unique,
    amount bigint not null check (amount > 0),
    currency text not null check (length(currency) = 3),
    merchant_id text not null,
    region text not null,
    created_at timestamptz not null,
    card_fingerprint text not null
)";

/// The columns of a [`TransactionRecord`], in the order [`record_of`] reads them.
const COLUMNS: &str = "transaction_id, amount, currency, merchant_id, region, created_at, idempotency_key, card_fingerprint";

/// The advisory lock key serialising schema creation between concurrent functions
/// (concurrent `create table if not exists` can fail on the catalog's unique index).
const SCHEMA_LOCK: i64 = 0x7061_796d_656e_7473; // "payments"

/// The database credentials: from the secret, or its password with `DB_USER`.
#[derive(Clone)]
struct Credentials {
    user: String,
    password: String,
}

/// The payments database of one region: a [`PaymentLedger`] and the health check's query.
/// Cheap to clone; clones share the connection.
#[derive(Clone)]
pub struct PgLedger {
    inner: Arc<Inner>,
    timeout: Duration,
}

struct Inner {
    host: String,
    port: u16,
    dbname: String,
    secrets: aws_sdk_secretsmanager::Client,
    secret_id: String,
    user: Option<String>,
    conn: Mutex<Option<Connection>>,
    schema_ready: AtomicBool,
}

/// A live connection; dropping it stops the task that drives it.
struct Connection {
    client: Client,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl std::fmt::Debug for PgLedger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgLedger")
            .field("endpoint", &self.endpoint())
            .field("dbname", &self.inner.dbname)
            .field("secret_id", &self.inner.secret_id)
            .finish_non_exhaustive()
    }
}

impl PgLedger {
    /// The database `dbname` at `endpoint` (`host[:port]`), logging in with the secret
    /// `secret_id` read through `secrets`. The secret is either JSON with `password` (and
    /// `username`, else `user` is the login) or the bare password, with `user` the login.
    pub fn new(
        secrets: aws_sdk_secretsmanager::Client,
        secret_id: impl Into<String>,
        user: Option<String>,
        endpoint: &str,
        dbname: impl Into<String>,
    ) -> PgLedger {
        let (host, port) = host_port(endpoint);
        PgLedger {
            inner: Arc::new(Inner {
                host: host.to_string(),
                port,
                dbname: dbname.into(),
                secrets,
                secret_id: secret_id.into(),
                user,
                conn: Mutex::new(None),
                schema_ready: AtomicBool::new(false),
            }),
            timeout: DEFAULT_DB_TIMEOUT,
        }
    }

    /// The same database with another limit on connecting and on each operation
    /// ([`DEFAULT_DB_TIMEOUT`] by default).
    pub fn with_timeout(mut self, timeout: Duration) -> PgLedger {
        self.timeout = timeout;
        self
    }

    /// `host:port` of the database.
    pub fn endpoint(&self) -> String {
        format!("{}:{}", self.inner.host, self.inner.port)
    }

    /// Runs `select 1` (connecting first when needed): whether the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.run("select 1", async |client| {
            let row = client
                .query_one("select 1", &[])
                .await
                .map_err(Failure::Db)?;
            match row.try_get::<_, i32>(0) {
                Ok(1) => Ok(()),
                other => Err(Failure::Other(format!("select 1 answered {other:?}"))),
            }
        })
        .await
    }

    /// Runs `op` on the connection (made first when needed), all under the timeout. When a
    /// connection kept from an earlier invocation fails without an answer from the server
    /// (the server or the network closed it while the function was frozen), `op` runs once
    /// more on a new connection: every operation here is idempotent.
    async fn run<T>(
        &self,
        what: &str,
        mut op: impl AsyncFnMut(&mut Client) -> Result<T, Failure>,
    ) -> Result<T, StoreError> {
        let mut conn = self.inner.conn.lock().await;
        let outcome = tokio::time::timeout(self.timeout, async {
            let mut may_retry = true;
            loop {
                let reused = conn.as_ref().is_some_and(|c| !c.client.is_closed());
                let client = self.connected(&mut conn).await?;
                match op(client).await {
                    Err(Failure::Db(error)) if reused && may_retry && connection_lost(&error) => {
                        tracing::info!(%error, "the kept database connection failed; reconnecting");
                        *conn = None;
                        may_retry = false;
                    }
                    outcome => return outcome,
                }
            }
        })
        .await;
        self.settle(&mut conn, what, outcome)
    }

    /// The connection, made when there is none or the last one closed.
    async fn connected<'g>(
        &self,
        conn: &'g mut MutexGuard<'_, Option<Connection>>,
    ) -> Result<&'g mut Client, Failure> {
        if conn.as_ref().is_some_and(|c| c.client.is_closed()) {
            **conn = None;
        }
        if conn.is_none() {
            **conn = Some(self.connect().await?);
        }
        match conn.as_mut() {
            Some(connection) => Ok(&mut connection.client),
            None => Err(Failure::Other("no connection".into())),
        }
    }

    async fn connect(&self) -> Result<Connection, Failure> {
        let inner = &self.inner;
        let credentials = self.credentials().await.map_err(Failure::Other)?;
        let mut config = tokio_postgres::Config::new();
        config
            .host(&inner.host)
            .port(inner.port)
            .dbname(&inner.dbname)
            .user(&credentials.user)
            .password(&credentials.password)
            .application_name("payment-processor")
            .connect_timeout(self.timeout)
            .keepalives_idle(Duration::from_secs(30));
        let (client, connection) = config.connect(NoTls).await.map_err(Failure::Db)?;
        let endpoint = self.endpoint();
        let task = tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::warn!(%endpoint, %error, "database connection ended");
            }
        });
        tracing::info!(endpoint = %self.endpoint(), dbname = %inner.dbname, "database connected");
        Ok(Connection { client, task })
    }

    async fn credentials(&self) -> Result<Credentials, String> {
        let inner = &self.inner;
        let secret = inner
            .secrets
            .get_secret_value()
            .secret_id(&inner.secret_id)
            .send()
            .await
            .map_err(|err| {
                format!(
                    "reading the database secret {}: {}",
                    inner.secret_id,
                    crate::aws::describe(&err)
                )
            })?;
        let value = secret
            .secret_string()
            .ok_or_else(|| format!("the database secret {} has no text value", inner.secret_id))?;
        credentials_of(value, inner.user.as_deref())
            .map_err(|why| format!("the database secret {}: {why}", inner.secret_id))
    }

    /// Ends an operation: its result, with the connection forgotten when the failure was
    /// not an answer of the server (a broken or hung connection is made again next time).
    fn settle<T>(
        &self,
        conn: &mut MutexGuard<'_, Option<Connection>>,
        what: &str,
        outcome: Result<Result<T, Failure>, tokio::time::error::Elapsed>,
    ) -> Result<T, StoreError> {
        let endpoint = self.endpoint();
        let error = match outcome {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(Failure::Db(error))) => {
                if connection_lost(&error) {
                    **conn = None;
                }
                describe_pg(&error)
            }
            Ok(Err(Failure::Other(why))) => {
                **conn = None;
                why
            }
            Err(_) => {
                **conn = None;
                format!("timed out after {} ms", self.timeout.as_millis())
            }
        };
        Err(StoreError(format!(
            "database {}/{} ({what}): {error}",
            endpoint, self.inner.dbname
        )))
    }

    /// Creates the table unless this instance already did, under an advisory lock.
    async fn ensure_schema(&self, client: &mut Client) -> Result<(), Failure> {
        if self.inner.schema_ready.load(Ordering::Acquire) {
            return Ok(());
        }
        let tx = client.transaction().await.map_err(Failure::Db)?;
        tx.execute("select pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])
            .await
            .map_err(Failure::Db)?;
        tx.batch_execute(SCHEMA).await.map_err(Failure::Db)?;
        tx.commit().await.map_err(Failure::Db)?;
        self.inner.schema_ready.store(true, Ordering::Release);
        Ok(())
    }
}

impl PaymentLedger for PgLedger {
    async fn record(&self, record: &TransactionRecord) -> Result<Recorded, StoreError> {
        let amount = i64::try_from(record.amount).map_err(|_| {
            StoreError(format!(
                "amount {} does not fit the database's bigint",
                record.amount
            ))
        })?;
        let transaction_id = uuid::Uuid::parse_str(&record.transaction_id)
            .map_err(|e| StoreError(format!("transaction id is not a UUID: {e}")))?;
        // The closure owns what it uses: a borrowing one cannot be proven `Send` through
        // the generic `run` (a compiler limitation of async closures).
        let (ledger, record) = (self.clone(), record.clone());
        self.run("recording a payment", async move |client| {
            ledger.ensure_schema(client).await?;
            let tx = client.transaction().await.map_err(Failure::Db)?;
            let inserted = tx
                .query_opt(
                    &format!(
                        "insert into payments ({COLUMNS}) values ($1, $2, $3, $4, $5, $6, $7, $8) \
                         on conflict (idempotency_key) do nothing returning {COLUMNS}"
                    ),
                    &[
                        &transaction_id,
                        &amount,
                        &record.currency,
                        &record.merchant_id,
                        &record.region,
                        &record.created_at,
                        &record.idempotency_key,
                        &record.card_fingerprint,
                    ],
                )
                .await
                .map_err(Failure::Db)?;
            let recorded = match inserted {
                Some(row) => Recorded::New(record_of(&row)?),
                None => {
                    let row = tx
                        .query_one(
                            &format!("select {COLUMNS} from payments where idempotency_key = $1"),
                            &[&record.idempotency_key],
                        )
                        .await
                        .map_err(Failure::Db)?;
                    Recorded::Existing(record_of(&row)?)
                }
            };
            tx.commit().await.map_err(Failure::Db)?;
            Ok(recorded)
        })
        .await
    }
}

/// Why an operation failed: the client's error (a server answer or a broken connection),
/// or anything else (the secret, an unexpected answer).
enum Failure {
    Db(tokio_postgres::Error),
    Other(String),
}

/// The credentials in a secret's text: JSON with `password` (and `username`, else
/// `default_user`), or the bare password with `default_user`. Errors never quote the value.
fn credentials_of(value: &str, default_user: Option<&str>) -> Result<Credentials, String> {
    #[derive(Deserialize)]
    struct Json {
        username: Option<String>,
        password: String,
    }
    let (user, password) = match serde_json::from_str::<Json>(value) {
        Ok(json) => (json.username, json.password),
        Err(_) if value.trim_start().starts_with('{') => {
            return Err("its JSON has no string `password` field".into());
        }
        Err(_) => (None, value.to_string()),
    };
    let user = user
        .or_else(|| default_user.map(str::to_string))
        .filter(|u| !u.is_empty())
        .ok_or("it names no `username` and DB_USER is unset")?;
    if password.is_empty() {
        return Err("its password is empty".into());
    }
    Ok(Credentials { user, password })
}

fn record_of(row: &Row) -> Result<TransactionRecord, Failure> {
    let read = |e: tokio_postgres::Error| Failure::Other(format!("reading a payment row: {e}"));
    let amount: i64 = row.try_get(1).map_err(read)?;
    Ok(TransactionRecord {
        transaction_id: row.try_get::<_, uuid::Uuid>(0).map_err(read)?.to_string(),
        amount: u64::try_from(amount)
            .map_err(|_| Failure::Other(format!("stored amount {amount} is negative")))?,
        currency: row.try_get(2).map_err(read)?,
        merchant_id: row.try_get(3).map_err(read)?,
        region: row.try_get(4).map_err(read)?,
        created_at: row.try_get::<_, OffsetDateTime>(5).map_err(read)?,
        idempotency_key: row.try_get(6).map_err(read)?,
        card_fingerprint: row.try_get(7).map_err(read)?,
    })
}

/// Whether `error` ended the connection: no answer from the server (closed, reset, an I/O
/// error), or the server's `FATAL` or `PANIC` (it ended the session, e.g. a restart or
/// `pg_terminate_backend`). Other server answers (a constraint, a read-only replica) leave
/// the connection usable.
fn connection_lost(error: &tokio_postgres::Error) -> bool {
    match error.as_db_error() {
        None => true,
        Some(db) => matches!(db.severity(), "FATAL" | "PANIC"),
    }
}

/// A one-line description of a client error: the server's severity, code and message when
/// it answered, else the error and its cause (connection refused, closed ...).
fn describe_pg(error: &tokio_postgres::Error) -> String {
    if let Some(db) = error.as_db_error() {
        return format!("{} {}: {}", db.severity(), db.code().code(), db.message());
    }
    match std::error::Error::source(error) {
        Some(cause) => format!("{error}: {cause}"),
        None => error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_from_json_or_a_bare_password() {
        let json = credentials_of(r#"{"username":"app","password":"s3cret"}"#, None).unwrap();
        assert_eq!(
            (json.user.as_str(), json.password.as_str()),
            ("app", "s3cret")
        );
        let fallback = credentials_of(r#"{"password":"s3cret"}"#, Some("dbadmin")).unwrap();
        assert_eq!(fallback.user, "dbadmin");
        let bare = credentials_of("s3cret", Some("dbadmin")).unwrap();
        assert_eq!(
            (bare.user.as_str(), bare.password.as_str()),
            ("dbadmin", "s3cret")
        );
    }

    #[test]
    fn bad_secrets_are_named_without_their_value() {
        for (value, user, expected) in [
            ("s3cret", None, "DB_USER is unset"),
            (
                r#"{"user":"a","pass":"s3cret"}"#,
                Some("a"),
                "no string `password`",
            ),
            (
                r#"{"username":"a","password":""}"#,
                None,
                "password is empty",
            ),
        ] {
            let Err(why) = credentials_of(value, user) else {
                panic!("{value} was accepted");
            };
            assert!(why.contains(expected), "{why}");
            assert!(!why.contains("s3cret"), "{why}");
        }
    }
}
